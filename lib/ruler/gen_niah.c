/* RULER's scripts/data/synthetic/niah.py: needles "One of the special magic {type_needle_v} for
 * {key} is: {value}." in a haystack of repeated noise sentences, of Paul Graham essays (needles
 * between sentences at RULER's 40 depths) or of other needles. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/pynum.h"
#include "ruler/gen_internal.h"
#include "ruler/gen_words.h"

#define NEEDLE_MAX 160 /* a key or a value: a number, an adjective-noun, a uuid */
#define NDEPTHS 40

static const char NOISE[] = "The grass is green. The sky is blue. The sun is yellow. Here we go. "
                            "There and back again.";
static const char NEEDLE[] = "One of the special magic {type_needle_v} for {key} is: {value}.";
static const char *const TYPE_NAME[] = { [RG_NEEDLE_NUMBERS] = "numbers",
                                         [RG_NEEDLE_WORDS] = "words",
                                         [RG_NEEDLE_UUIDS] = "uuids" };

typedef struct niah {
    rg_gen *g;
    const kvb_ruler_task *t;
    int num_k;                 /* max(num_needle_k, num_needle_q) */
    rg_words essay, adjs, nouns;
    rg_pairs pairs;
    char *tmpl;                /* after the singular rewrite */
    char type_v[16];           /* type_needle_v as the template gets it */
    long incremental;
    int depths[NDEPTHS];
    int wrapped;               /* the last essay haystack repeated the essays */
    /* one generate_input_output */
    char (*keys)[NEEDLE_MAX];  /* [num_k] */
    char (*values)[NEEDLE_MAX];/* [num_k * num_v] */
    char **needles;            /* [num_k * num_v] */
    char **answers;            /* [num_q * num_v], into values */
    kvb_strbuf input;
} niah;

/* DEPTHS = list(np.round(np.linspace(0, 100, num=40, endpoint=True)).astype(int)) */
static void depths(int *out)
{
    double v[NDEPTHS];
    kvb_np_linspace(0, 100, NDEPTHS, 1, v);
    for (int i = 0; i < NDEPTHS; i++)
        out[i] = (int)kvb_np_round(v[i], 0);
}

/* ---- generate_random ----------------------------------------------------------------------- */
static int gen_random(niah *c, rg_needle type, char *buf)
{
    kvb_pyrandom *r = &c->g->rnd;
    if (type == RG_NEEDLE_NUMBERS) {
        int64_t v;
        int rc = kvb_pyrandom_randint(r, 1000000, 9999999, &v, c->g->e);
        snprintf(buf, NEEDLE_MAX, "%" PRId64, v);
        return rc;
    }
    if (type == RG_NEEDLE_WORDS) {
        size_t i = kvb_pyrandom_choice(r, c->pairs.total);
        if (rg_pairs_get(&c->pairs, i, buf, NEEDLE_MAX))
            return kvb_errorf(c->g->e, KVB_EINVAL, "ruler: a word needle is too long");
        return 0;
    }
    /* str(uuid.UUID(int=random.getrandbits(128), version=4)) */
    uint32_t w[4];
    kvb_pyrandom_getrandbits(r, 128, w);
    uint64_t lo = (uint64_t)w[1] << 32 | w[0], hi = (uint64_t)w[3] << 32 | w[2];
    lo = (lo & ~(0xC000ull << 48)) | 0x8000ull << 48; /* variant RFC 4122 */
    hi = (hi & ~0xF000ull) | 4ull << 12;             /* version 4 */
    snprintf(buf, NEEDLE_MAX, "%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64,
             hi >> 32, (hi >> 16) & 0xFFFF, hi & 0xFFFF, lo >> 48, lo & (((uint64_t)1 << 48) - 1));
    return 0;
}

static char *format_needle(niah *c, const char *key, const char *value)
{
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    rg_kv kv[] = { { "type_needle_v", TYPE_NAME[c->t->needle_v] }, { "key", key },
                   { "value", value } };
    if (rg_format(NEEDLE, kv, 3, &sb, c->g->e)) {
        kvb_strbuf_release(&sb);
        return NULL;
    }
    return kvb_strbuf_detach(&sb);
}

/* ---- the haystacks ------------------------------------------------------------------------- */
static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* needles between the sentences of the first n essay words (repeated when too few) */
static int essay_context(niah *c, long n, int nn, kvb_strbuf *ctx)
{
    rg_gen *g = c->g;
    kvb_strbuf text;
    kvb_strbuf_init(&text);
    int rc = kvb_strbuf_add(&text, "", 0);
    for (long i = 0; i < n && !rc; i++)
        rc = (i ? kvb_strbuf_add(&text, " ", 1) : 0) |
             kvb_strbuf_adds(&text, c->essay.w[(size_t)i % c->essay.n]);
    c->wrapped = (size_t)n > c->essay.n;
    size_t a, b;
    rg_strip(text.buf, text.len, &a, &b);
    rg_words sents = { 0 };
    if (rc || (rc = rg_sent_tokenize(g, text.buf + a, b - a, &sents))) {
        kvb_strbuf_release(&text);
        return rc ? rc : KVB_ENOMEM;
    }
    kvb_strbuf_release(&text);
    size_t idx[NDEPTHS], pos[NDEPTHS + 2];
    if ((rc = kvb_pyrandom_sample(&g->rnd, NDEPTHS, (size_t)nn, idx, g->e))) {
        rg_words_release(&sents);
        return rc;
    }
    for (int i = 0; i < nn; i++) /* int(len(document_sents) * (depth / 100)) */
        pos[i + 1] = (size_t)((double)sents.n * ((double)c->depths[idx[i]] / 100.0));
    pos[0] = 0;
    qsort(pos + 1, (size_t)nn, sizeof *pos, cmp_size);
    pos[nn + 1] = sents.n;
    for (int i = 1; i <= nn + 1 && !rc; i++) {
        rc |= (i > 1 ? kvb_strbuf_add(ctx, " ", 1) : 0) |
              rg_join(ctx, " ", sents.w + pos[i - 1], pos[i] - pos[i - 1]);
        if (i - 1 < nn)
            rc |= kvb_strbuf_add(ctx, " ", 1) | kvb_strbuf_adds(ctx, c->needles[i - 1]);
    }
    rg_words_release(&sents);
    return rc;
}

/* noise sentences or other needles, one a line, the needles inserted at sampled lines */
static int line_context(niah *c, long n, int nn, kvb_strbuf *ctx)
{
    rg_gen *g = c->g;
    rg_words own = { 0 }; /* the haystack's own needles */
    const char **lines = kvb_calloc((size_t)n + (size_t)nn, sizeof *lines);
    size_t *idx = kvb_calloc((size_t)nn, sizeof *idx);
    int rc = lines && idx ? 0 : KVB_ENOMEM;
    if (!rc && c->t->haystack == RG_HAY_NEEDLE)
        rc = (own.w = kvb_calloc((size_t)n, sizeof *own.w)) ? 0 : KVB_ENOMEM;
    for (long i = 0; i < n && !rc; i++) {
        char key[NEEDLE_MAX], value[NEEDLE_MAX];
        if (c->t->haystack == RG_HAY_NOISE) {
            lines[i] = NOISE;
            continue;
        }
        rc = gen_random(c, c->t->needle_k, key);
        if (!rc)
            rc = gen_random(c, c->t->needle_v, value);
        if (!rc)
            rc = (own.w[own.n++] = format_needle(c, key, value)) ? 0 : KVB_ENOMEM;
        lines[i] = own.w[i];
    }
    if (!rc && nn > n)
        rc = RG_RAISED; /* random.sample: ValueError, sample larger than population */
    if (!rc)
        rc = kvb_pyrandom_sample(&g->rnd, (size_t)n, (size_t)nn, idx, g->e);
    if (!rc) {
        qsort(idx, (size_t)nn, sizeof *idx, cmp_size);
        size_t len = (size_t)n;
        for (int j = 0; j < nn; j++) { /* zip(sorted(..., reverse=True), needles): insert */
            size_t at = idx[nn - 1 - j];
            memmove(lines + at + 1, lines + at, (len - at) * sizeof *lines);
            lines[at] = c->needles[j];
            len++;
        }
        rc = rg_join(ctx, "\n", (char *const *)lines, len);
    }
    rg_words_release(&own);
    free(lines);
    free(idx);
    return rc;
}

/* ---- generate_input_output ----------------------------------------------------------------- */
static int query_of(niah *c, kvb_strbuf *q)
{
    const kvb_ruler_task *t = c->t;
    size_t idx[8];
    int rc = kvb_pyrandom_sample(&c->g->rnd, (size_t)c->num_k, (size_t)t->num_q, idx, c->g->e);
    for (int i = 0; i < t->num_q && !rc; i++) {
        for (int v = 0; v < t->num_v; v++)
            c->answers[i * t->num_v + v] = c->values[idx[i] * (size_t)t->num_v + (size_t)v];
        const char *sep = i == 0 ? "" : i < t->num_q - 1 ? ", " : ", and ";
        rc = kvb_strbuf_adds(q, sep) | kvb_strbuf_adds(q, c->keys[idx[i]]);
    }
    return rc;
}

static int generate_input_output(niah *c, long n)
{
    const kvb_ruler_task *t = c->t;
    int nn = c->num_k * t->num_v, rc = 0;
    for (int i = 0; i < nn; i++) {
        free(c->needles[i]);
        c->needles[i] = NULL;
    }
    for (int k = 0; k < c->num_k && !rc; k++) {
        rc = gen_random(c, t->needle_k, c->keys[k]);
        for (int v = 0; v < t->num_v && !rc; v++) {
            int i = k * t->num_v + v;
            rc = gen_random(c, t->needle_v, c->values[i]);
            if (!rc && !(c->needles[i] = format_needle(c, c->keys[k], c->values[i])))
                rc = KVB_ENOMEM;
        }
    }
    if (rc)
        return rc;
    rg_shuffle_fresh(c->g, c->needles, (size_t)nn, sizeof *c->needles);
    kvb_strbuf ctx, q;
    kvb_strbuf_init(&ctx);
    kvb_strbuf_init(&q);
    rc = t->haystack == RG_HAY_ESSAY ? essay_context(c, n, nn, &ctx) : line_context(c, n, nn, &ctx);
    if (!rc)
        rc = query_of(c, &q);
    if (!rc) {
        rg_kv kv[] = { { "type_needle_v", c->type_v }, { "context", ctx.buf }, { "query", q.buf } };
        c->input.len = 0;
        rc = rg_format(c->tmpl, kv, 3, &c->input, c->g->e);
    }
    kvb_strbuf_release(&ctx);
    kvb_strbuf_release(&q);
    return rc == KVB_ENOMEM ? kvb_errorf(c->g->e, rc, "ruler: out of memory") : rc;
}

/* ---- generate_samples ---------------------------------------------------------------------- */
static int probe(rg_gen *g, void *ctx, long n, long *total)
{
    niah *c = ctx;
    int rc = generate_input_output(c, n);
    if (!rc && !(rc = rg_tokens(g, c->input.buf, total)))
        *total += g->base->tokens_to_generate;
    return rc;
}

static int one_sample(niah *c, long num_haystack, kvb_ruler_sample *s)
{
    rg_gen *g = c->g;
    long used = num_haystack, length = 0;
    for (int tries = 0;; tries++) {
        int rc = probe(g, c, used, &length);
        if (rc == 0 && length <= g->max_seq_length)
            break;
        if (rc && rc != RG_RAISED)
            return rc;
        if (used > c->incremental)
            used -= c->incremental;
        else if (tries > 1000) /* RULER retries this size for ever */
            return kvb_errorf(g->e, KVB_EINVAL, "ruler: %s: length %ld is too small: no sample "
                              "of %ld haystack items fits", c->t->name, g->max_seq_length, used);
    }
    g->essays_wrapped |= c->wrapped;
    return rg_emit(g, s, c->input.buf, 1, c->answers, c->t->num_q * c->t->num_v, length);
}

static int load_data(niah *c)
{
    rg_gen *g = c->g;
    int rc = 0;
    if (c->t->haystack == RG_HAY_ESSAY)
        rc = rg_essay_words_load(g->o, &c->essay, g->e);
    if (!rc && (c->t->needle_k == RG_NEEDLE_WORDS || c->t->needle_v == RG_NEEDLE_WORDS)) {
        rc = rg_words_load(g->o, "nounlist.txt", &c->nouns, g->e);
        if (!rc)
            rc = rg_words_load(g->o, "adjectivelist.txt", &c->adjs, g->e);
        if (!rc) {
            rg_words_sort_unique(&c->nouns);
            rg_words_sort_unique(&c->adjs);
            if (!c->nouns.n || !c->adjs.n)
                rc = kvb_errorf(g->e, KVB_EINVAL, "ruler: the word lists are empty");
        }
        if (!rc && rg_pairs_init(&c->pairs, &c->adjs, &c->nouns))
            rc = kvb_errorf(g->e, KVB_ENOMEM, "ruler: out of memory");
    }
    return rc;
}

/* the template, with niah.py's rewrite to the singular when one value is asked for */
static int prepare_template(niah *c)
{
    const char *type = TYPE_NAME[c->t->needle_v];
    snprintf(c->type_v, sizeof c->type_v, "%s", type);
    if (c->t->num_q * c->t->num_v != 1)
        return (c->tmpl = kvb_strdup(c->g->tmpl)) ? 0 : KVB_ENOMEM;
    static const char *const REWRITE[][2] = {
        { "Some", "A" }, { "are all", "is" }, { "are", "is" }, { "answers", "answer" } };
    char *s = kvb_strdup(c->g->tmpl);
    for (size_t i = 0; s && i < KVB_ARRAY_SIZE(REWRITE); i++) {
        char *n = rg_replace(s, REWRITE[i][0], REWRITE[i][1]);
        free(s);
        s = n;
    }
    c->type_v[strlen(type) - 1] = '\0'; /* type_needle_v[:-1] */
    c->tmpl = s;
    return s ? 0 : KVB_ENOMEM;
}

static int run(niah *c, kvb_ruler_samples *out)
{
    rg_gen *g = c->g;
    int rc = load_data(c);
    if (rc)
        return rc;
    int nn = c->num_k * c->t->num_v;
    c->keys = kvb_calloc((size_t)c->num_k, sizeof *c->keys);
    c->values = kvb_calloc((size_t)nn, sizeof *c->values);
    c->needles = kvb_calloc((size_t)nn, sizeof *c->needles);
    c->answers = kvb_calloc((size_t)nn, sizeof *c->answers);
    if (!c->keys || !c->values || !c->needles || !c->answers || prepare_template(c))
        return kvb_errorf(g->e, KVB_ENOMEM, "ruler: out of memory");
    depths(c->depths);
    c->incremental = c->t->haystack == RG_HAY_ESSAY ? 500 : g->o->max_seq_length < 4096 ? 5 : 25;
    long inc = c->incremental, sample_tokens, best;
    if ((rc = generate_input_output(c, inc)) || (rc = rg_tokens(g, c->input.buf, &sample_tokens)))
        return rc == RG_RAISED ? kvb_errorf(g->e, KVB_EINVAL, "ruler: %s: RULER's generator "
                                            "raises on its first sample", c->t->name) : rc;
    double per = (double)sample_tokens / (double)inc;
    long est = (long)(((double)g->max_seq_length / per) * 3);
    if ((rc = rg_search(g, probe, c, inc, KVB_MAX(est, inc * 2), inc, &best)))
        return rc;
    for (long i = 0; i < g->o->num_samples && !rc; i++) {
        out->n = i + 1;
        out->s[i].index = i;
        rc = one_sample(c, best, &out->s[i]);
    }
    return rc;
}

int rg_gen_niah(rg_gen *g, kvb_ruler_samples *out)
{
    niah c = { .g = g, .t = g->t, .num_k = KVB_MAX(g->t->num_k, g->t->num_q) };
    kvb_strbuf_init(&c.input);
    int rc = run(&c, out);
    for (int i = 0; c.needles && i < c.num_k * g->t->num_v; i++)
        free(c.needles[i]);
    free(c.needles);
    free(c.keys);
    free(c.values);
    free(c.answers);
    free(c.tmpl);
    kvb_strbuf_release(&c.input);
    rg_pairs_release(&c.pairs);
    rg_words_release(&c.essay);
    rg_words_release(&c.adjs);
    rg_words_release(&c.nouns);
    return rc;
}
