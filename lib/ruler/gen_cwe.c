/* RULER's scripts/data/synthetic/common_words_extraction.py: a numbered list of words where ten
 * appear freq_cw times and the rest freq_ucw times, after one worked example. Words come from
 * wonderwords' nouns, adjectives and verbs, or from RULER's english_words.json when a list longer
 * than those is asked for (long lengths: not below 131072 tokens with SmolLM2's tokenizer; the
 * file is read only then). */
#include <stdlib.h>
#include <string.h>

#include "ruler/gen_internal.h"

typedef struct cwe {
    rg_gen *g;
    rg_words words;      /* sorted(set(nouns + adjs + verbs)), then shuffled */
    rg_words randle;     /* english_words.json, loaded when first needed */
    int randle_loaded;
    kvb_strbuf input;
    char **answer;       /* the common words of the last example */
    size_t n_answer;
} cwe;

/* get_example: the context and the common words (pointers into the word lists) */
static int get_example(cwe *c, long num_words, int common_repeats, int uncommon_repeats,
                       int common_nums, kvb_strbuf *ctx, char ***common, size_t *n_common)
{
    rg_gen *g = c->g;
    const rg_words *src = &c->words;
    int rc = 0;
    if ((size_t)num_words > c->words.n) {
        if (!c->randle_loaded && (rc = rg_english_words_load(g->o, &c->randle, g->e)))
            return kvb_error_prefix(g->e, "cwe at length %ld samples %ld words, more than the "
                                    "%zu of wonderwords", g->max_seq_length, num_words,
                                    c->words.n);
        c->randle_loaded = 1;
        src = &c->randle;
    }
    if ((size_t)num_words > src->n)
        return RG_RAISED; /* random.sample: ValueError */
    size_t k = (size_t)num_words, nc = KVB_MIN((size_t)common_nums, k);
    size_t *idx = kvb_calloc(k ? k : 1, sizeof *idx);
    size_t total = nc * (size_t)common_repeats + (k - nc) * (size_t)uncommon_repeats;
    char **list = kvb_calloc(total ? total : 1, sizeof *list);
    rc = idx && list ? kvb_pyrandom_sample(&g->rnd, src->n, k, idx, g->e) : KVB_ENOMEM;
    size_t at = 0;
    for (int r = 0; r < common_repeats && !rc; r++) /* common * freq + uncommon * freq */
        for (size_t i = 0; i < nc; i++)
            list[at++] = src->w[idx[i]];
    for (int r = 0; r < uncommon_repeats && !rc; r++)
        for (size_t i = nc; i < k; i++)
            list[at++] = src->w[idx[i]];
    if (!rc) {
        rg_shuffle_fresh(g, list, total, sizeof *list);
        for (size_t i = 0; i < total && !rc; i++) /* "1. word1 2. word2 ..." */
            rc = kvb_strbuf_addf(ctx, "%s%zu. %s", i ? " " : "", i + 1, list[i]);
        rc |= kvb_strbuf_add(ctx, "", 0);
    }
    if (!rc && !(*common = kvb_calloc(nc ? nc : 1, sizeof **common)))
        rc = KVB_ENOMEM;
    for (size_t i = 0; i < nc && !rc; i++)
        (*common)[i] = src->w[idx[i]];
    *n_common = nc;
    free(idx);
    free(list);
    return rc;
}

static int format_task(cwe *c, const char *context, kvb_strbuf *out)
{
    char num_cw[16];
    snprintf(num_cw, sizeof num_cw, "%d", c->g->t->num_cw);
    rg_kv kv[] = { { "num_cw", num_cw }, { "context", context }, { "query", "" } };
    return rg_format(c->g->tmpl, kv, 3, out, c->g->e);
}

static int generate_input_output(cwe *c, long num_words)
{
    rg_gen *g = c->g;
    const kvb_ruler_task *t = g->t;
    int small = g->o->max_seq_length < 4096;
    kvb_strbuf ex, ctx;
    kvb_strbuf_init(&ex);
    kvb_strbuf_init(&ctx);
    char **ex_answer = NULL;
    size_t n_ex = 0;
    free(c->answer);
    c->answer = NULL;
    /* one few-shot example (num_fewshot = 1), then the task */
    int rc = small ? get_example(c, 20, 3, 1, t->num_cw, &ex, &ex_answer, &n_ex)
                   : get_example(c, 40, 10, 3, t->num_cw, &ex, &ex_answer, &n_ex);
    if (!rc)
        rc = small ? get_example(c, num_words, 6, 1, t->num_cw, &ctx, &c->answer, &c->n_answer)
                   : get_example(c, num_words, t->freq_cw, t->freq_ucw, t->num_cw, &ctx,
                                 &c->answer, &c->n_answer);
    c->input.len = 0;
    if (!rc)
        rc = format_task(c, ex.buf, &c->input);
    for (size_t i = 0; i < n_ex && !rc; i++)
        rc = kvb_strbuf_addf(&c->input, " %zu. %s", i + 1, ex_answer[i]);
    if (!rc && n_ex == 0)
        rc = kvb_strbuf_add(&c->input, " ", 1);
    if (!rc)
        rc = kvb_strbuf_add(&c->input, "\n", 1);
    if (!rc)
        rc = format_task(c, ctx.buf, &c->input);
    free(ex_answer);
    kvb_strbuf_release(&ex);
    kvb_strbuf_release(&ctx);
    return rc == KVB_ENOMEM ? kvb_errorf(g->e, rc, "ruler: out of memory") : rc;
}

static int probe(rg_gen *g, void *ctx, long n, long *total)
{
    cwe *c = ctx;
    int rc = generate_input_output(c, n);
    if (!rc && !(rc = rg_tokens(g, c->input.buf, total)))
        *total += g->base->tokens_to_generate;
    return rc;
}

static int one_sample(cwe *c, long num_words, kvb_ruler_sample *s)
{
    rg_gen *g = c->g;
    const long inc = 10;
    long used = num_words, length = 0;
    for (int tries = 0;; tries++) {
        int rc = probe(g, c, used, &length);
        if (!rc && length <= g->max_seq_length)
            break;
        if (rc && rc != RG_RAISED)
            return rc;
        if (used > inc)
            used -= inc;
        else if (tries > 1000)
            return kvb_errorf(g->e, KVB_EINVAL, "ruler: cwe: length %ld is too small: no sample "
                              "of %ld words fits", g->max_seq_length, used);
    }
    return rg_emit(g, s, c->input.buf, 1, c->answer, (int)c->n_answer, length);
}

static int load_words(cwe *c)
{
    static const char *const LISTS[] = { "nounlist.txt", "adjectivelist.txt", "verblist.txt" };
    rg_gen *g = c->g;
    size_t cap = 0;
    for (size_t l = 0; l < KVB_ARRAY_SIZE(LISTS); l++) {
        rg_words w;
        int rc = rg_words_load(g->o, LISTS[l], &w, g->e);
        if (rc)
            return rc;
        for (size_t i = 0; i < w.n && !rc; i++) { /* nouns + adjs + verbs */
            char *s = kvb_strdup(w.w[i]);
            if (c->words.n == cap) {
                cap = cap ? cap * 2 : 8192;
                char **nw = kvb_realloc(c->words.w, cap * sizeof *nw);
                if (!nw) {
                    free(s);
                    rc = KVB_ENOMEM;
                    break;
                }
                c->words.w = nw;
            }
            if (!s)
                rc = KVB_ENOMEM;
            else
                c->words.w[c->words.n++] = s;
        }
        rg_words_release(&w);
        if (rc)
            return kvb_errorf(g->e, KVB_ENOMEM, "ruler: out of memory");
    }
    rg_words_sort_unique(&c->words);
    rg_shuffle_fresh(g, c->words.w, c->words.n, sizeof *c->words.w);
    return 0;
}

static int run(cwe *c, kvb_ruler_samples *out)
{
    rg_gen *g = c->g;
    int rc = load_words(c);
    long st, best;
    if (!rc && (rc = probe(g, c, 4096, &st)) == RG_RAISED)
        rc = kvb_errorf(g->e, KVB_EINVAL, "ruler: cwe: RULER's generator raises on its first "
                        "sample");
    if (rc)
        return rc;
    st -= g->base->tokens_to_generate;
    /* tokens_per_words = sample_tokens / 4096;
     * estimated_max_words = int(max_seq_length // tokens_per_words) * 2 */
    double per = (double)st / 4096.0;
    long est = (long)rg_py_floordiv((double)g->max_seq_length, per) * 2;
    if ((rc = rg_search(g, probe, c, 10, KVB_MAX(est, 20), 10, &best)))
        return rc;
    for (long i = 0; i < g->o->num_samples && !rc; i++) {
        out->n = i + 1;
        out->s[i].index = i;
        rc = one_sample(c, best, &out->s[i]);
    }
    return rc;
}

int rg_gen_cwe(rg_gen *g, kvb_ruler_samples *out)
{
    cwe c = { .g = g };
    kvb_strbuf_init(&c.input);
    int rc = run(&c, out);
    free(c.answer);
    kvb_strbuf_release(&c.input);
    rg_words_release(&c.words);
    rg_words_release(&c.randle);
    return rc;
}
