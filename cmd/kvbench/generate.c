/* kvbench generate: greedy generation from a prompt, streamed to stdout; stops on the model's
 * stop tokens. Text goes through the model's tokenizer; --ids (or a model without a tokenizer, e.g.
 * --random-weights of an unnamed directory) takes and prints token ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner/generate.h"
#include "modelcli.h"
#include "tokenizer/tokenizer.h"
#include "options.h"
#include "verbs.h"


/* Prompt text -> ids with the model's tokenizer (chat template when asked). */
static int encode_prompt(kvb_model *m, const char *text, int chat, int32_t **ids, int *n,
                         kvb_error *e)
{
    const kvb_tokenizer *t = kvb_model_tokenizer(m);
    const kvb_model_config *c = kvb_model_get_config(m);
    if (!t)
        return kvb_errorf(e, KVB_EINVAL, "model %s has no tokenizer here: give token ids with --ids",
                          c->name);
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    int rc = 0;
    if (chat)
        rc = kvb_chat_template_apply(c->chat_template, text, &sb, e);
    else
        rc = kvb_strbuf_adds(&sb, text);
    kvb_ids v;
    kvb_ids_init(&v);
    /* BOS as `kvbench run` and HF's tokenizer(text) add it */
    int add_bos = kvb_tokenizer_default_add_bos(t, c->chat_template, c->name);
    if (!rc)
        rc = kvb_tokenizer_encode(t, sb.buf ? sb.buf : "", sb.len, add_bos, &v, e);
    kvb_strbuf_release(&sb);
    if (!rc) {
        *ids = kvb_calloc(v.n ? v.n : 1, sizeof(int32_t));
        memcpy(*ids, v.ids, v.n * sizeof(int32_t));
        *n = (int)v.n;
    }
    kvb_ids_release(&v);
    return rc;
}

/* Streaming: each generated token as text (through the detokenizer) or as an id. */
typedef struct stream {
    int text;
    kvb_detok_stream ds;
    kvb_strbuf out;
} stream;

static int on_token(void *arg, int32_t id, int step, kvb_error *e)
{
    stream *s = arg;
    if (s->text) {
        s->out.len = 0;
        int rc = kvb_detok_stream_push(&s->ds, id, &s->out, e);
        if (rc)
            return rc;
        fwrite(s->out.buf ? s->out.buf : "", 1, s->out.len, stdout);
    } else
        printf("%s%d", step ? " " : "", id);
    fflush(stdout);
    return 0;
}

/* {"method": M, "prompt_tokens": n, "layers": [[[positions of head 0], ...], ...]}: the prompt
 * positions each stored head kept (decode's own tokens left out), for comparing selections
 * across devices and methods (scripts/gpu_check.sh). */
static int write_kept(const kvb_cache *c, int L, int n, const char *path, kvb_error *e)
{
    const int S = kvb_cache_stored_heads(c);
    if (kvb_cache_kept_positions(c, 0, 0, NULL, 0) < 0)
        return kvb_errorf(e, KVB_EINVAL, "--kept: cache method %s keeps every token (no selection "
                          "to write)", kvb_cache_method_name(c));
    int *pos = malloc(sizeof(int) * (size_t)n);
    if (!pos)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    kvb_strbuf_addf(&sb, "{\"method\": \"%s\", \"prompt_tokens\": %d, \"layers\": [",
                    kvb_cache_method_name(c), n);
    for (int l = 0; l < L; l++) {
        kvb_strbuf_adds(&sb, l ? ", [" : "[");
        for (int h = 0; h < S; h++) {
            const int k = kvb_cache_kept_positions(c, l, h, pos, n);
            kvb_strbuf_adds(&sb, h ? ", [" : "[");
            for (int i = 0; i < k && pos[i] < n; i++)
                kvb_strbuf_addf(&sb, "%s%d", i ? ", " : "", pos[i]);
            kvb_strbuf_adds(&sb, "]");
        }
        kvb_strbuf_adds(&sb, "]");
    }
    kvb_strbuf_adds(&sb, "]}\n");
    free(pos);
    int rc = kvb_write_file_atomic(path, sb.buf, sb.len, e);
    kvb_strbuf_release(&sb);
    return rc;
}

int cmd_generate(int argc, char **argv)
{
    kvb_model_flags f = { .weights = "bf16" };
    const char *prompt = NULL, *prompt_file = NULL, *ids_s = NULL, *method = "full", *cparams = NULL;
    const char *kept = NULL;
    long max_new = 128;
    int chat = 0, ignore_eos = 0, quiet = 0;
    const struct kvb_option opts[] = {
        KVB_OPT_STR_("model", &f.model, "M", "model name, HF directory or .gguf file"),
        KVB_OPT_STR_("prompt", &prompt, "TEXT", "prompt text"),
        KVB_OPT_STR_("prompt-file", &prompt_file, "F", "read the prompt from a file"),
        KVB_OPT_STR_("ids", &ids_s, "LIST", "prompt as comma-separated token ids (no tokenizer needed)"),
        KVB_OPT_INT_("max-new", &max_new, "N", "tokens to generate at most (default 128)", 1, 1 << 20),
        KVB_OPT_FLAG_("chat", &chat, "wrap the prompt in the model's chat template"),
        KVB_OPT_FLAG_("ignore-eos", &ignore_eos, "do not stop on stop tokens"),
        KVB_OPT_STR_("type", &method, "METHOD", "cache method (default full)"),
        KVB_OPT_STR_("cache-param", &cparams, "LIST", "cache parameters name=value,..."),
        KVB_OPT_INT_("threads", &f.threads, "N", "threads (default: all cores)", 0, 1024),
        KVB_MODEL_WEIGHT_OPTS(&f.random_weights, &f.seed, &f.weights, &f.device),
        KVB_OPT_FLAG_("quiet", &quiet, "no timing summary on stderr"),
        KVB_OPT_STR_("kept", &kept, "FILE", "write the prompt positions the cache method kept, per "
                     "layer and stored head, as JSON (methods that select tokens)"),
        KVB_OPT_END_,
    };
    int rc = kvb_parse_options(argc, argv, opts,
                               "kvbench generate --model M (--prompt T | --prompt-file F | --ids LIST) "
                               "[--max-new N] [--chat]", NULL, NULL);
    if (rc)
        return rc > 0 ? 0 : 2;
    f.method = method;
    f.cache_params = cparams;
    kvb_error e = { 0 };
    if (!!prompt + !!prompt_file + !!ids_s != 1) {
        kvb_errorf(&e, KVB_EINVAL, "give exactly one of --prompt, --prompt-file, --ids");
        return kvb_die(&e);
    }
    kvb_model *m = NULL;
    kvb_cache *c = NULL;
    int32_t *ids = NULL;
    char *text = NULL;
    int n = 0;
    if ((rc = kvb_cli_open_model(&f, &m, &e)))
        return kvb_die(&e);
    const kvb_model_config *cf = kvb_model_get_config(m);
    if (ids_s)
        rc = kvb_cli_parse_ids(ids_s, cf->vocab, &ids, &n, &e);
    else {
        size_t len;
        if (prompt_file && !(rc = kvb_read_file(prompt_file, 64u << 20, &text, &len, &e)))
            prompt = text;
        if (!rc)
            rc = encode_prompt(m, prompt, chat, &ids, &n, &e);
    }
    if (!rc && n < 1)
        rc = kvb_errorf(&e, KVB_EINVAL, "the prompt has no tokens");
    if (!rc)
        rc = kvb_cli_open_cache(m, method, cparams, 0, n + (int)max_new, &c, &e);
    const kvb_tokenizer *tok = kvb_model_tokenizer(m);
    stream st = { .text = tok && !ids_s };
    kvb_strbuf_init(&st.out);
    if (st.text)
        kvb_detok_stream_init(&st.ds, tok, 1);
    kvb_gen_opts go = { .max_new_tokens = (int)max_new, .on_token = on_token, .arg = &st };
    for (int i = 0; i < cf->n_stop && i < 16 && !ignore_eos; i++)
        go.stop_ids[go.n_stop++] = cf->stop_ids[i];
    kvb_gen_result g;
    memset(&g, 0, sizeof(g));
    if (!rc)
        rc = kvb_generate(m, c, ids, n, &go, &g, &e);
    if (!rc && st.text) { /* text held back as a possibly incomplete character comes out now */
        st.out.len = 0;
        if (!(rc = kvb_detok_stream_flush(&st.ds, &st.out, &e)))
            fwrite(st.out.buf ? st.out.buf : "", 1, st.out.len, stdout);
    }
    if (!rc && kept)
        rc = write_kept(c, cf->n_layers, n, kept, &e);
    int produced = (int)g.out.n - g.stopped_by;
    printf("\n");
    fflush(stdout);
    if (st.text)
        kvb_detok_stream_release(&st.ds);
    kvb_strbuf_release(&st.out);
    if (!rc && !quiet)
        fprintf(stderr, "kvbench: %d prompt tokens in %.2f s (%.1f tok/s), %d generated in %.2f s "
                "(%.1f tok/s), cache %s %.1f MB, smallest top-2 logit gap %.4g at step %d\n", n,
                g.t_prefill, n / g.t_prefill, produced, g.t_decode,
                produced > 1 ? (produced - 1) / g.t_decode : 0.0, kvb_cache_method_name(c),
                (double)kvb_cache_bytes(c) / 1e6, g.margin, g.margin_step);
    kvb_gen_result_release(&g);
    free(ids);
    free(text);
    kvb_cache_free(c);
    kvb_model_free(m);
    return rc ? kvb_die(&e) : 0;
}
