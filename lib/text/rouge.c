/* rouge_score: ROUGE-L F as PyPI rouge 1.0.1 computes it (Rouge().get_scores([hyp], [ref],
 * avg=True)["rouge-l"]["f"]) behind metrics.py's bare `except: return 0.0`.
 *
 *  - sentences: text.split(".") keeping pieces with len > 0, each " ".join(piece.split());
 *    words: sentence.split(" "), so a whitespace-only piece is the single word "";
 *  - no sentence in the hypothesis or the reference: ValueError -> 0.0;
 *  - exclusive=True: m, n are the numbers of *distinct* words; the union LCS is a *set of words*;
 *  - per (reference sentence, hypothesis sentence) the LCS is rebuilt from the DP table by the
 *    library's recursive walk (match -> diagonal; T[i-1][j] > T[i][j-1] -> up; else left). A walk
 *    needing more nested calls than the interpreter allows raises RecursionError -> 0.0;
 *  - F = 2 * ((P * R) / (P + R + 1e-8)). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/text.h"
#include "text/unitab.h"

/* ---- word interning ------------------------------------------------------------------------ */
typedef struct word_tab {
    kvb_sv *word; /* by id */
    size_t n, cap;
    uint32_t *slot; /* open addressing: id + 1, 0 = empty */
    size_t nslot;
} word_tab;

static uint64_t hash_sv(kvb_sv s)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < s.n; i++)
        h = (h ^ (unsigned char)s.p[i]) * 1099511628211ULL;
    return h;
}

static int tab_grow(word_tab *t)
{
    size_t ns = t->nslot ? t->nslot * 2 : 256;
    uint32_t *slot = kvb_calloc(ns, sizeof(*slot));
    if (!slot)
        return KVB_ENOMEM;
    for (size_t id = 0; id < t->n; id++) {
        size_t h = hash_sv(t->word[id]) & (ns - 1);
        while (slot[h])
            h = (h + 1) & (ns - 1);
        slot[h] = (uint32_t)id + 1;
    }
    free(t->slot);
    t->slot = slot;
    t->nslot = ns;
    return 0;
}

static int tab_id(word_tab *t, kvb_sv w, uint32_t *id)
{
    if ((t->n + 1) * 2 > t->nslot && tab_grow(t))
        return KVB_ENOMEM;
    size_t h = hash_sv(w) & (t->nslot - 1);
    while (t->slot[h]) {
        kvb_sv o = t->word[t->slot[h] - 1];
        if (o.n == w.n && (w.n == 0 || memcmp(o.p, w.p, w.n) == 0)) {
            *id = t->slot[h] - 1;
            return 0;
        }
        h = (h + 1) & (t->nslot - 1);
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 128;
        kvb_sv *v = kvb_realloc(t->word, cap * sizeof(*v));
        if (!v)
            return KVB_ENOMEM;
        t->word = v;
        t->cap = cap;
    }
    t->word[t->n] = w;
    t->slot[h] = (uint32_t)t->n + 1;
    *id = (uint32_t)t->n++;
    return 0;
}

/* ---- sentences ------------------------------------------------------------------------------ */
typedef struct sents {
    uint32_t *w;   /* word ids of all sentences */
    size_t nw, capw;
    size_t *start; /* sentence s = w[start[s] .. start[s+1]) */
    size_t ns, caps;
} sents;

static int push_u32(uint32_t **v, size_t *n, size_t *cap, uint32_t x)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        uint32_t *nv = kvb_realloc(*v, c * sizeof(*nv));
        if (!nv)
            return KVB_ENOMEM;
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = x;
    return 0;
}

static int push_sz(size_t **v, size_t *n, size_t *cap, size_t x)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        size_t *nv = kvb_realloc(*v, c * sizeof(*nv));
        if (!nv)
            return KVB_ENOMEM;
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = x;
    return 0;
}

static void sents_release(sents *s)
{
    free(s->w);
    free(s->start);
    memset(s, 0, sizeof(*s));
}

/* Split text into sentences of word ids; start[] gets ns + 1 entries. */
static int split_sents(kvb_sv text, word_tab *tab, sents *out)
{
    size_t i = 0;
    while (i <= text.n) {
        const char *dot = memchr(text.p + i, '.', text.n - i);
        size_t end = dot ? (size_t)(dot - text.p) : text.n;
        if (end > i) { /* len(piece) > 0 */
            kvb_sv piece = { text.p + i, end - i }, *tok = NULL;
            size_t ntok = 0;
            if (push_sz(&out->start, &out->ns, &out->caps, out->nw) ||
                kvb_split_ws(piece, &tok, &ntok))
                return KVB_ENOMEM;
            kvb_sv empty = { "", 0 };
            for (size_t k = 0; k < (ntok ? ntok : 1); k++) {
                uint32_t id;
                if (tab_id(tab, ntok ? tok[k] : empty, &id) ||
                    push_u32(&out->w, &out->nw, &out->capw, id)) {
                    free(tok);
                    return KVB_ENOMEM;
                }
            }
            free(tok);
        }
        if (!dot)
            break;
        i = end + 1;
    }
    size_t ns = out->ns;
    if (push_sz(&out->start, &out->ns, &out->caps, out->nw))
        return KVB_ENOMEM;
    out->ns = ns;
    return 0;
}

/* ---- LCS with the recursion limit ---------------------------------------------------------- */
/* Rebuild the LCS of x (reference words) and y (hypothesis words) along rouge's walk, marking
 * the words of x it takes in `in_union`. Returns 1 when the walk needs more than max_calls
 * nested calls (RecursionError), 0 on success, KVB_ENOMEM.
 *
 * The walk starts at (a, b) and makes one call per cell until i == 0 or j == 0, so it needs at
 * least min(a, b) + 1 calls and only ever visits cells within max_calls steps of (a, b): the DP
 * is computed in full (two rolling rows) but only that corner window is kept. */
static int recon_lcs(const uint32_t *x, size_t a, const uint32_t *y, size_t b, size_t max_calls,
                     unsigned char *in_union, uint16_t *rows, uint16_t *win)
{
    if ((a < b ? a : b) + 1 > max_calls)
        return 1;
    size_t K = max_calls;
    size_t i0 = a > K ? a - K : 0, j0 = b > K ? b - K : 0; /* window origin */
    size_t ww = b - j0 + 1;                                 /* window width */
    uint16_t *prev = rows, *cur = rows + (b + 1);
    memset(prev, 0, (b + 1) * sizeof(*prev));
    if (i0 == 0)
        memcpy(win, prev + j0, ww * sizeof(*win));
    for (size_t i = 1; i <= a; i++) {
        cur[0] = 0;
        for (size_t j = 1; j <= b; j++) {
            if (x[i - 1] == y[j - 1])
                cur[j] = (uint16_t)(prev[j - 1] + 1);
            else
                cur[j] = prev[j] > cur[j - 1] ? prev[j] : cur[j - 1];
        }
        if (i >= i0)
            memcpy(win + (i - i0) * ww, cur + j0, ww * sizeof(*win));
        uint16_t *t = prev;
        prev = cur;
        cur = t;
    }
#define T(i, j) win[((i) - i0) * ww + ((j) - j0)]
    size_t i = a, j = b, calls = 1;
    while (i > 0 && j > 0) {
        if (++calls > max_calls || i - 1 < i0 || j - 1 < j0)
            return 1;
        if (x[i - 1] == y[j - 1]) {
            in_union[x[i - 1]] = 1;
            i--;
            j--;
        } else if (T(i - 1, j) > T(i, j - 1))
            i--;
        else
            j--;
    }
#undef T
    return 0;
}

/* ---- rouge_score ---------------------------------------------------------------------------- */
static size_t count_distinct(const sents *s, unsigned char *mark, size_t nid)
{
    memset(mark, 0, nid);
    size_t n = 0;
    for (size_t k = 0; k < s->nw; k++)
        if (!mark[s->w[k]]) {
            mark[s->w[k]] = 1;
            n++;
        }
    return n;
}

int kvb_rouge_score(kvb_sv pred, kvb_sv gt, int recon_frames, double *score)
{
    word_tab tab = { 0 };
    sents hyp = { 0 }, ref = { 0 };
    unsigned char *mark = NULL, *in_union = NULL;
    uint16_t *rows = NULL, *win = NULL;
    int rc = KVB_ENOMEM;
    *score = 0.0;
    if (split_sents(pred, &tab, &hyp) || split_sents(gt, &tab, &ref))
        goto done;
    if (hyp.ns == 0 || ref.ns == 0) { /* "Hypothesis is empty." / "Reference is empty." */
        rc = 0;
        goto done;
    }
    /* rouge-1 and rouge-2 run first but cannot fail once both sides have a sentence */
    mark = kvb_calloc(tab.n, 1);
    in_union = kvb_calloc(tab.n, 1);
    if (!mark || !in_union)
        goto done;
    size_t m = count_distinct(&ref, mark, tab.n);
    size_t n = count_distinct(&hyp, mark, tab.n);
    size_t maxb = 0;
    for (size_t s = 0; s < hyp.ns; s++)
        maxb = KVB_MAX(maxb, hyp.start[s + 1] - hyp.start[s]);
    size_t K = recon_frames > 0 ? (size_t)recon_frames : 1;
    rows = kvb_calloc(2 * (maxb + 1), sizeof(*rows));
    win = kvb_calloc((K + 1) * (KVB_MIN(maxb, K) + 1), sizeof(*win));
    if (!rows || !win)
        goto done;
    for (size_t r = 0; r < ref.ns; r++) {
        const uint32_t *x = ref.w + ref.start[r];
        size_t a = ref.start[r + 1] - ref.start[r];
        for (size_t h = 0; h < hyp.ns; h++) {
            const uint32_t *y = hyp.w + hyp.start[h];
            size_t b = hyp.start[h + 1] - hyp.start[h];
            int st = recon_lcs(x, a, y, b, K, in_union, rows, win);
            if (st == 1) { /* RecursionError */
                rc = 0;
                goto done;
            }
        }
    }
    size_t llcs = 0;
    for (size_t id = 0; id < tab.n; id++)
        llcs += in_union[id];
    double r_lcs = (double)llcs / (double)m, p_lcs = (double)llcs / (double)n;
    *score = 2.0 * ((p_lcs * r_lcs) / (p_lcs + r_lcs + 1e-8));
    rc = 0;
done:
    free(tab.word);
    free(tab.slot);
    sents_release(&hyp);
    sents_release(&ref);
    free(mark);
    free(in_union);
    free(rows);
    free(win);
    return rc;
}
