/* kvb_ruler_generate: prepare.py's part (the model template around the task template and the
 * answer prefix, the seeds), then the task's generator; and what every generator shares: the
 * token count, the haystack-size search, the final split at the answer prefix. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ruler/gen_internal.h"
#include "text/punkt.h"

/* ---- tokens -------------------------------------------------------------------------------- */
int rg_tokens(rg_gen *g, const char *text, long *n)
{
    size_t len = strlen(text);
    if (g->last.buf && g->last.len == len && !memcmp(g->last.buf, text, len)) {
        *n = g->last_count;
        return 0;
    }
    g->ids.n = 0;
    int rc = kvb_tokenizer_encode(g->o->tok, text, len, 0, &g->ids, g->e);
    if (rc)
        return rc;
    *n = (long)g->ids.n;
    g->n_tokenized++;
    g->bytes_tokenized += len;
    g->last.len = 0;
    if (kvb_strbuf_add(&g->last, text, len))
        return kvb_errorf(g->e, KVB_ENOMEM, "ruler: out of memory");
    g->last_count = *n;
    return 0;
}

void rg_shuffle_fresh(rg_gen *g, void *base, size_t n, size_t size)
{
    kvb_pyrandom r;
    kvb_pyrandom_seed(&r, g->o->random_seed);
    kvb_pyrandom_shuffle(&r, base, n, size);
}

/* ---- the haystack-size search -------------------------------------------------------------- */
int rg_search(rg_gen *g, rg_probe_fn probe, void *ctx, long lower, long upper, long incremental,
              long *best)
{
    long optimal = -1;
    while (lower <= upper) {
        long mid = (lower + upper) / 2, total;
        int rc = probe(g, ctx, mid, &total);
        if (rc == RG_RAISED)
            return kvb_errorf(g->e, KVB_EINVAL, "ruler: %s: RULER's generator raises at haystack "
                              "size %ld during its search (RULER stops here too)", g->t->name, mid);
        if (rc)
            return rc;
        if (total <= g->max_seq_length) {
            optimal = mid;
            lower = mid + 1;
        } else {
            upper = mid - 1;
        }
    }
    *best = optimal >= 0 ? optimal : incremental;
    return 0;
}

/* ---- the end of every script --------------------------------------------------------------- */
/* Python's rfind(needle) and then s[i:] / s[:i]; -1 (not found) splits off the last character,
 * as s[-1:] does. */
static size_t split_at(const char *s, const char *needle)
{
    size_t n = strlen(s), m = strlen(needle);
    for (size_t i = n >= m ? n - m + 1 : 0; i-- > 0;)
        if (!memcmp(s + i, needle, m))
            return i;
    if (!n)
        return 0;
    size_t i = n - 1; /* the last code point */
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
        i--;
    return i;
}

int rg_emit(rg_gen *g, kvb_ruler_sample *s, const char *input, int apply_rnt,
            char *const *outputs, int n_outputs, long length)
{
    char *text = apply_rnt && g->o->remove_newline_tab ? rg_remove_newline_tab(input)
                                                       : kvb_strdup(input);
    char key[64] = { 0 };
    /* answer_prefix[:10]: ten code points; RULER's prefixes are ASCII */
    strncpy(key, g->base->answer_prefix, 10);
    if (!text)
        return kvb_errorf(g->e, KVB_ENOMEM, "ruler: out of memory");
    size_t at = split_at(text, key);
    s->answer_prefix = kvb_strdup(text + at);
    text[at] = '\0';
    s->input = text;
    s->length = length;
    s->outputs = kvb_calloc((size_t)(n_outputs ? n_outputs : 1), sizeof *s->outputs);
    if (!s->answer_prefix || !s->outputs)
        return kvb_errorf(g->e, KVB_ENOMEM, "ruler: out of memory");
    for (int i = 0; i < n_outputs; i++) {
        if (!(s->outputs[i] = kvb_strdup(outputs[i])))
            return kvb_errorf(g->e, KVB_ENOMEM, "ruler: out of memory");
        s->n_outputs = i + 1;
    }
    return 0;
}

/* ---- prepare.py ---------------------------------------------------------------------------- */
static int build_template(rg_gen *g)
{
    const char *mt = g->o->model_template ? g->o->model_template : "{task_template}";
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    rg_kv kv = { "task_template", g->base->template };
    int rc = rg_format(mt, &kv, 1, &sb, g->e);
    if (rc) {
        kvb_strbuf_release(&sb);
        return kvb_error_prefix(g->e, "model template");
    }
    if (kvb_strbuf_adds(&sb, g->base->answer_prefix)) {
        kvb_strbuf_release(&sb);
        return kvb_errorf(g->e, KVB_ENOMEM, "ruler: out of memory");
    }
    g->tmpl = kvb_strbuf_detach(&sb);
    return 0;
}

static int check_opts(const kvb_ruler_task *t, const kvb_ruler_gen_opts *o, kvb_error *e)
{
    if (!t)
        return kvb_errorf(e, KVB_EINVAL, "ruler: unknown task");
    if (!o->tok)
        return kvb_errorf(e, KVB_EINVAL, "ruler: no tokenizer");
    if (o->num_samples < 1 || o->num_samples > 1000000)
        return kvb_errorf(e, KVB_EINVAL, "ruler: %ld samples: need 1 to 1000000", o->num_samples);
    if (o->random_seed < 0 || o->random_seed > 0xFFFFFFFFL)
        return kvb_errorf(e, KVB_EINVAL, "ruler: seed %ld: need 0 to 4294967295 (numpy's seed "
                          "range)", o->random_seed);
    if (o->max_seq_length < 1 || o->max_seq_length > (1 << 24))
        return kvb_errorf(e, KVB_EINVAL, "ruler: length %d: need 1 to %d", o->max_seq_length,
                          1 << 24);
    if (t->kind == RG_QA && !o->qa_path)
        return kvb_errorf(e, KVB_EINVAL, "ruler: %s needs a %s file in RULER's format (--data)",
                          t->name, !strcmp(t->dataset, "squad") ? "SQuAD v2.0" : "HotpotQA");
    return 0;
}

/* The prompt with an empty context must leave room, else RULER's search ends at its smallest
 * size and the per-sample loop never ends. */
static int check_fits(rg_gen *g)
{
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    rg_kv kv[] = { { "context", "" }, { "query", "" }, { "type_needle_v", "" }, { "num_v", "" },
                   { "num_cw", "" } };
    long n = 0;
    int rc = rg_format(g->tmpl, kv, (int)KVB_ARRAY_SIZE(kv), &sb, g->e);
    if (!rc)
        rc = rg_tokens(g, sb.buf, &n);
    kvb_strbuf_release(&sb);
    if (!rc && n + g->base->tokens_to_generate >= g->max_seq_length)
        rc = kvb_errorf(g->e, KVB_EINVAL, "ruler: %s: length %ld is too small: the template alone "
                        "takes %ld tokens and %d are generated", g->t->name, g->max_seq_length, n,
                        g->base->tokens_to_generate);
    return rc;
}

int kvb_ruler_generate(const kvb_ruler_task *t, const kvb_ruler_gen_opts *o,
                       kvb_ruler_samples *out, kvb_error *e)
{
    memset(out, 0, sizeof *out);
    int rc = check_opts(t, o, e);
    if (rc)
        return rc;
    rg_gen g = { .t = t, .base = rg_base_of(t), .o = o, .max_seq_length = o->max_seq_length,
                 .e = e };
    kvb_ids_init(&g.ids);
    kvb_strbuf_init(&g.last);
    kvb_pyrandom_seed(&g.rnd, o->random_seed);
    rc = kvb_nprandom_seed(&g.np, o->random_seed, e);
    if (!rc)
        rc = build_template(&g);
    if (!rc)
        rc = check_fits(&g);
    if (!rc && !(out->s = kvb_calloc((size_t)o->num_samples, sizeof *out->s)))
        rc = kvb_errorf(e, KVB_ENOMEM, "ruler: out of memory");
    if (!rc) {
        static int (*const gen[])(rg_gen *, kvb_ruler_samples *) = {
            [RG_NIAH] = rg_gen_niah, [RG_VT] = rg_gen_vt, [RG_CWE] = rg_gen_cwe,
            [RG_FWE] = rg_gen_fwe, [RG_QA] = rg_gen_qa,
        };
        rc = gen[t->kind](&g, out);
        if (rc > 0) /* RG_RAISED escaping a generator */
            rc = kvb_errorf(e, KVB_EINVAL, "ruler: %s: RULER's generator raises here", t->name);
    }
    out->essays_wrapped = g.essays_wrapped;
    out->n_tokenized = g.n_tokenized;
    out->bytes_tokenized = g.bytes_tokenized;
    free(g.tmpl);
    kvb_punkt_free(g.punkt);
    kvb_ids_release(&g.ids);
    kvb_strbuf_release(&g.last);
    if (rc)
        kvb_ruler_samples_release(out);
    return rc;
}

void kvb_ruler_samples_release(kvb_ruler_samples *s)
{
    for (long i = 0; s->s && i < s->n; i++) {
        free(s->s[i].input);
        free(s->s[i].answer_prefix);
        for (int k = 0; k < s->s[i].n_outputs; k++)
            free(s->s[i].outputs[k]);
        free(s->s[i].outputs);
    }
    free(s->s);
    memset(s, 0, sizeof *s);
}
