/* kvbench tokenize: text on stdin -> token ids as one JSON array (or, with --decode, a JSON
 * array of ids on stdin -> text). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "options.h"
#include "tokenizer/tokenizer.h"
#include "verbs.h"

#define STDIN_LIMIT ((size_t)1 << 30)

static int read_stdin(char **data, size_t *len, kvb_error *e)
{
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) {
        if (sb.len + n > STDIN_LIMIT) {
            kvb_strbuf_release(&sb);
            return kvb_errorf(e, KVB_EINVAL, "stdin: more than %zu bytes", STDIN_LIMIT);
        }
        if (kvb_strbuf_add(&sb, buf, n)) {
            kvb_strbuf_release(&sb);
            return kvb_errorf(e, KVB_ENOMEM, "stdin: out of memory");
        }
    }
    if (ferror(stdin)) {
        kvb_strbuf_release(&sb);
        return kvb_errorf(e, KVB_EIO, "stdin: read error");
    }
    *len = sb.len;
    *data = sb.buf ? kvb_strbuf_detach(&sb) : kvb_strdup("");
    return *data ? 0 : kvb_errorf(e, KVB_ENOMEM, "stdin: out of memory");
}

/* ---- model name resolution -----------------------------------------------------------------
 * A path or a model name resolved by lib/model (weights present). A known name whose weights are
 * absent still tokenizes when its tokenizer files lie in ../shared/tokenizers/<name> (the files
 * the oracle fixtures were made from), so tokenization needs no multi-GB download. */
static char *resolve_model_name(const char *name, kvb_error *e)
{
    char path[PATH_MAX];
    if (!kvb_model_locate(name, path, sizeof(path), e))
        return kvb_strdup(path);
    char *dir = kvb_path_join("../shared/tokenizers", name);
    if (dir && kvb_is_dir(dir))
        return dir;
    free(dir);
    return NULL; /* e says where it looked */
}

/* ---- output ------------------------------------------------------------------------------ */
static int print_ids(const kvb_ids *ids)
{
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    int rc = kvb_strbuf_add(&sb, "[", 1);
    for (size_t i = 0; i < ids->n && !rc; i++)
        rc = kvb_strbuf_addf(&sb, i ? ", %d" : "%d", ids->ids[i]);
    if (!rc)
        rc = kvb_strbuf_add(&sb, "]\n", 2);
    if (!rc)
        rc = fwrite(sb.buf, 1, sb.len, stdout) != sb.len;
    kvb_strbuf_release(&sb);
    return rc;
}

static int parse_ids(const char *text, size_t len, kvb_ids *ids, kvb_error *e)
{
    cJSON *j = kvb_json_parse_limited(text, len);
    if (!j || !cJSON_IsArray(j)) {
        cJSON_Delete(j);
        return kvb_errorf(e, KVB_EINVAL, "stdin: expected a JSON array of token ids");
    }
    const cJSON *x;
    size_t i = 0;
    cJSON_ArrayForEach(x, j) {
        if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble > 2147483647.0 ||
            x->valuedouble != (double)(int32_t)x->valuedouble) {
            cJSON_Delete(j);
            return kvb_errorf(e, KVB_EINVAL, "stdin: element %zu of the array is not a token id",
                              i);
        }
        if (kvb_ids_push(ids, (int32_t)x->valuedouble)) {
            cJSON_Delete(j);
            return kvb_errorf(e, KVB_ENOMEM, "out of memory");
        }
        i++;
    }
    cJSON_Delete(j);
    return 0;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL, *tokpath = NULL;
    int no_bos = 0, decode = 0, json = 0, keep_special = 0;
    long bench = 0;
    const struct kvb_option opts[] = {
        KVB_OPT_STR_("model", &model, "M", "model name, HF model directory or .gguf file"),
        KVB_OPT_STR_("tokenizer", &tokpath, "PATH",
                     "tokenizer.json, a directory holding one, or a .gguf file"),
        KVB_OPT_FLAG_("no-bos", &no_bos, "encode: the text's ids alone, without the model's BOS"),
        KVB_OPT_FLAG_("decode", &decode,
                      "read a JSON array of ids on stdin and print the text (special tokens "
                      "dropped)"),
        KVB_OPT_FLAG_("keep-special", &keep_special, "decode: keep special tokens in the text"),
        KVB_OPT_FLAG_("json", &json,
                      "machine-readable output: the ids array (encode) or the text as a JSON "
                      "string (decode)"),
        KVB_OPT_INT_("bench", &bench, "N",
                     "encode stdin N times; print timing as JSON (best of N) instead of ids", 1,
                     1000),
        KVB_OPT_END_,
    };
    int rc = kvb_parse_options(argc, argv, opts,
                               "kvbench tokenize (--model M | --tokenizer PATH) [--no-bos] "
                               "[--decode] [--json]\n"
                               "  Encode UTF-8 text from stdin to a JSON array of token ids: the "
                               "model's BOS, then\n  the text's ids (special-token strings in the "
                               "text match as special tokens).\n  Invalid UTF-8 is replaced by "
                               "U+FFFD first, as Python's decode(errors='replace').",
                               NULL, NULL);
    if (rc)
        return rc > 0 ? 0 : 2;
    kvb_error e = { 0 };
    if (!!model == !!tokpath) {
        kvb_errorf(&e, KVB_EINVAL, "tokenize: give exactly one of --model and --tokenizer");
        return kvb_die(&e);
    }
    char *path = model ? resolve_model_name(model, &e) : kvb_strdup(tokpath);
    kvb_tokenizer *t = NULL;
    rc = path ? kvb_tokenizer_load_path(&t, path, &e) : (model ? e.code : kvb_errorf(&e, KVB_ENOMEM, "out of memory"));
    free(path);
    if (rc)
        return kvb_die(&e);
    char *in = NULL;
    size_t len = 0;
    kvb_ids ids;
    kvb_ids_init(&ids);
    rc = read_stdin(&in, &len, &e);
    if (!rc && !decode && bench > 0) {
        double best = 1e30, t0 = kvb_now();
        for (long r = 0; r < bench && !rc; r++) {
            double s = kvb_now();
            ids.n = 0;
            rc = kvb_tokenizer_encode(t, in, len, !no_bos, &ids, &e);
            best = KVB_MIN(best, kvb_now() - s);
        }
        if (!rc)
            printf("{\"bytes\": %zu, \"tokens\": %zu, \"repeats\": %ld, \"best_s\": %.6f, "
                   "\"mean_s\": %.6f, \"mb_per_s\": %.3f, \"threads\": 1}\n", len, ids.n, bench,
                   best, (kvb_now() - t0) / (double)bench, (double)len / 1e6 / best);
    } else if (!rc && !decode) {
        rc = kvb_tokenizer_encode(t, in, len, !no_bos, &ids, &e);
        if (!rc && print_ids(&ids))
            rc = kvb_errorf(&e, KVB_EIO, "stdout: write error");
    } else if (!rc) {
        kvb_strbuf text;
        kvb_strbuf_init(&text);
        rc = parse_ids(in, len, &ids, &e);
        if (!rc)
            rc = kvb_tokenizer_decode(t, ids.ids, ids.n, !keep_special, &text, &e);
        if (!rc) {
            int werr;
            if (json) {
                cJSON *s = cJSON_CreateString(text.buf ? text.buf : "");
                char *js = s ? cJSON_PrintUnformatted(s) : NULL;
                werr = !js || printf("%s\n", js) < 0;
                free(js);
                cJSON_Delete(s);
            } else {
                werr = fwrite(text.buf ? text.buf : "", 1, text.len, stdout) != text.len;
            }
            if (werr)
                rc = kvb_errorf(&e, KVB_EIO, "stdout: write error");
        }
        kvb_strbuf_release(&text);
    }
    free(in);
    kvb_ids_release(&ids);
    kvb_tokenizer_free(t);
    if (!rc && fflush(stdout))
        rc = kvb_errorf(&e, KVB_EIO, "stdout: write error");
    return rc ? kvb_die(&e) : 0;
}
