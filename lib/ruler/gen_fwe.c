/* RULER's scripts/data/synthetic/freq_words_extraction.py: coded six-letter words drawn with
 * Zipf frequencies (word k appears int(n * k^-alpha / zeta(alpha)) times; the most frequent is
 * replaced by "..." as noise), the answer the next three. Its length fit is its own: grow the
 * word count by max_len // 32 until the text reaches max_len, then step back once. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ruler/gen_internal.h"

#define CODED_WORDLEN 6

typedef struct fwe {
    rg_gen *g;
    long vocab_size, max_len, incremental;
    double zeta;         /* scipy.special.zeta(alpha) */
    char **vocab;        /* [vocab_size], vocab[0] = "..." */
    size_t n_vocab;
    char *store;         /* the coded words' bytes */
    kvb_strbuf text;
} fwe;

/* the vocabulary: random.choices(string.ascii_lowercase, k=6) until vocab_size distinct ones,
 * sorted(set(...)), shuffled by a fresh Random(seed), the first replaced by '...' */
static int make_vocab(fwe *c)
{
    rg_gen *g = c->g;
    size_t want = (size_t)c->vocab_size, n = 0, cap = want ? want : 1;
    char *store = kvb_malloc(cap * (CODED_WORDLEN + 1));
    size_t idx[CODED_WORDLEN];
    size_t distinct = 0;
    for (; store && (n < want || distinct < want);) {
        if (n == cap) {
            char *ns = kvb_realloc(store, 2 * cap * (CODED_WORDLEN + 1));
            if (!ns)
                break;
            store = ns;
            cap *= 2;
        }
        char *w = store + n * (CODED_WORDLEN + 1);
        kvb_pyrandom_choices(&g->rnd, 26, CODED_WORDLEN, idx);
        for (int i = 0; i < CODED_WORDLEN; i++)
            w[i] = (char)('a' + idx[i]);
        w[CODED_WORDLEN] = '\0';
        size_t j = 0;
        while (j < n && strcmp(store + j * (CODED_WORDLEN + 1), w))
            j++;
        distinct += j == n;
        n++;
    }
    free(c->vocab);
    free(c->store);
    c->store = store;
    c->vocab = store ? kvb_calloc(n ? n : 1, sizeof *c->vocab) : NULL;
    if (!c->vocab)
        return kvb_errorf(g->e, KVB_ENOMEM, "ruler: out of memory");
    rg_words w = { .w = c->vocab, .n = n, .buf = store };
    for (size_t i = 0; i < n; i++)
        w.w[i] = store + i * (CODED_WORDLEN + 1);
    rg_words_sort_unique(&w);
    c->n_vocab = w.n;
    rg_shuffle_fresh(g, c->vocab, c->n_vocab, sizeof *c->vocab);
    if (c->n_vocab)
        c->vocab[0] = "...";
    return 0;
}

/* gen_text(num_words) into c->text */
static int gen_text(fwe *c, long num_words)
{
    rg_gen *g = c->g;
    size_t total = 0;
    long *cnt = kvb_calloc(c->n_vocab ? c->n_vocab : 1, sizeof *cnt);
    if (!cnt)
        return kvb_errorf(g->e, KVB_ENOMEM, "ruler: out of memory");
    for (size_t k = 0; k < c->n_vocab; k++) { /* (num_words * k**-alpha / zeta).astype(int) */
        double v = (double)num_words * pow((double)(k + 1), -g->t->alpha) / c->zeta;
        cnt[k] = (long)v;
        total += cnt[k] > 0 ? (size_t)cnt[k] : 0;
    }
    char **list = kvb_calloc(total ? total : 1, sizeof *list);
    int rc = list ? 0 : KVB_ENOMEM;
    for (size_t k = 0, at = 0; k < c->n_vocab && !rc; k++)
        for (long r = 0; r < cnt[k]; r++)
            list[at++] = c->vocab[k];
    free(cnt);
    kvb_strbuf ctx;
    kvb_strbuf_init(&ctx);
    if (!rc) {
        rg_shuffle_fresh(g, list, total, sizeof *list);
        rc = rg_join(&ctx, " ", list, total);
    }
    free(list);
    if (rc) {
        kvb_strbuf_release(&ctx);
        return kvb_errorf(g->e, KVB_ENOMEM, "ruler: out of memory");
    }
    rg_kv kv[] = { { "context", ctx.buf }, { "query", "" } };
    c->text.len = 0;
    rc = rg_format(g->tmpl, kv, 2, &c->text, g->e);
    kvb_strbuf_release(&ctx);
    return rc;
}

/* generate_input_output(max_len, num_words, ...): the word count it settled on */
static int generate_input_output(fwe *c, long num_words, long *used)
{
    rg_gen *g = c->g;
    long n;
    int rc = make_vocab(c);
    if (rc)
        return rc;
    if (num_words > 0) {
        for (;;) {
            if ((rc = gen_text(c, num_words)) || (rc = rg_tokens(g, c->text.buf, &n)))
                return rc;
            if (n <= c->max_len)
                break;
            if (num_words <= 0) /* RULER would count down for ever */
                return kvb_errorf(g->e, KVB_EINVAL, "ruler: fwe: length %ld is too small",
                                  g->max_seq_length);
            num_words -= c->incremental;
        }
    } else {
        num_words = c->max_len / CODED_WORDLEN;
        for (;;) {
            if ((rc = gen_text(c, num_words)) || (rc = rg_tokens(g, c->text.buf, &n)))
                return rc;
            if (n >= c->max_len)
                break;
            if (c->incremental < 1)
                return kvb_errorf(g->e, KVB_EINVAL, "ruler: fwe: length %ld is too small",
                                  g->max_seq_length);
            num_words += c->incremental;
        }
        num_words -= c->incremental;
    }
    *used = num_words;
    return gen_text(c, num_words);
}

static int run(fwe *c, kvb_ruler_samples *out)
{
    rg_gen *g = c->g;
    const char *answer[3];
    long ttg = g->base->tokens_to_generate, words, n;
    if (g->t->alpha != 2.0) /* the one alpha of synthetic.yaml */
        return kvb_errorf(g->e, KVB_EUNSUP, "ruler: fwe: alpha %g: only 2 is supported",
                          g->t->alpha);
    c->zeta = M_PI * M_PI / 6; /* scipy.special.zeta(2.0), the same double */
    c->max_len = g->max_seq_length - ttg;
    c->vocab_size = c->max_len / 50;
    c->incremental = c->max_len / 32;
    if (c->vocab_size < 1) /* vocab[0] = '...': IndexError */
        return kvb_errorf(g->e, KVB_EINVAL, "ruler: fwe: length %ld is too small: need %ld for "
                          "one coded word", g->max_seq_length, 50 + ttg);
    int rc = generate_input_output(c, -1, &words);
    for (long i = 0; i < g->o->num_samples && !rc; i++) {
        long used;
        out->n = i + 1;
        out->s[i].index = i;
        if ((rc = generate_input_output(c, words, &used)) || (rc = rg_tokens(g, c->text.buf, &n)))
            break;
        int na = 0;
        for (size_t k = 1; k < 4 && k < c->n_vocab; k++) /* vocab[1:4] */
            answer[na++] = c->vocab[k];
        rc = rg_emit(g, &out->s[i], c->text.buf, 1, (char *const *)answer, na, n + ttg);
    }
    return rc;
}

int rg_gen_fwe(rg_gen *g, kvb_ruler_samples *out)
{
    fwe c = { .g = g };
    kvb_strbuf_init(&c.text);
    int rc = run(&c, out);
    free(c.vocab);
    free(c.store);
    kvb_strbuf_release(&c.text);
    return rc;
}
