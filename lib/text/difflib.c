/* fuzz.ratio behind code_sim_score: fuzzywuzzy 0.18 on Python's difflib.SequenceMatcher (the
 * backend fuzzywuzzy falls back to when python-Levenshtein is absent, as in LongBench's
 * requirements).
 *
 * SequenceMatcher(None, a, b).ratio() = 2 * M / (len(a) + len(b)), M = the total size of the
 * matching blocks found by recursively taking the longest matching block (find_longest_match,
 * with its exact tie-breaking and "autojunk": when len(b) >= 200, characters occurring more than
 * len(b) // 100 + 1 times in b are never used to seed a match, only to extend one). Strings are
 * compared as code points, like Python str. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "text/text.h"

typedef struct matcher {
    const uint32_t *a, *b;
    size_t la, lb;
    /* b2j: positions of each code point of b, ascending; popular code points have none */
    size_t *pos;      /* lb entries: b positions sorted by (code point, position) */
    uint32_t *key;    /* code point of pos[k] */
    size_t nkey;      /* number of entries kept (popular ones dropped) */
    size_t *len_prev, *len_cur; /* j2len rows, indexed by j + 1 */
    size_t *touched_prev, *touched_cur;
    size_t ntp, ntc;
} matcher;

typedef struct cp_pos {
    uint32_t c;
    size_t pos;
} cp_pos;

static int cp_pos_cmp(const void *x, const void *y)
{
    const cp_pos *p = x, *q = y;
    if (p->c != q->c)
        return p->c < q->c ? -1 : 1;
    return (p->pos > q->pos) - (p->pos < q->pos);
}

static int build_b2j(matcher *m)
{
    size_t lb = m->lb;
    cp_pos *v = kvb_malloc((lb ? lb : 1) * sizeof(*v));
    m->key = kvb_malloc((lb ? lb : 1) * sizeof(*m->key));
    m->pos = kvb_malloc((lb ? lb : 1) * sizeof(*m->pos));
    if (!v || !m->key || !m->pos) {
        free(v);
        return KVB_ENOMEM;
    }
    for (size_t i = 0; i < lb; i++)
        v[i] = (cp_pos){ m->b[i], i };
    qsort(v, lb, sizeof(*v), cp_pos_cmp);
    size_t ntest = lb / 100 + 1, k = 0;
    for (size_t s = 0; s < lb;) {
        size_t e = s;
        while (e < lb && v[e].c == v[s].c)
            e++;
        int popular = lb >= 200 && e - s > ntest;
        if (!popular)
            for (size_t t = s; t < e; t++) {
                m->pos[k] = v[t].pos;
                m->key[k] = v[t].c;
                k++;
            }
        s = e;
    }
    m->nkey = k;
    free(v);
    return 0;
}

/* First index in key[] of code point c, and the end of its run. */
static void b2j_range(const matcher *m, uint32_t c, size_t *lo, size_t *hi)
{
    size_t l = 0, h = m->nkey;
    while (l < h) {
        size_t mid = l + (h - l) / 2;
        if (m->key[mid] < c)
            l = mid + 1;
        else
            h = mid;
    }
    *lo = l;
    h = l;
    while (h < m->nkey && m->key[h] == c)
        h++;
    *hi = h;
}

typedef struct match {
    size_t i, j, k;
} match;

static match find_longest(matcher *m, size_t alo, size_t ahi, size_t blo, size_t bhi)
{
    size_t besti = alo, bestj = blo, bestsize = 0;
    /* j2len as sparse rows: len_prev[j + 1] is valid for the j listed in touched_prev */
    m->ntp = 0;
    for (size_t i = alo; i < ahi; i++) {
        size_t lo, hi;
        m->ntc = 0;
        b2j_range(m, m->a[i], &lo, &hi);
        for (size_t q = lo; q < hi; q++) {
            size_t j = m->pos[q];
            if (j < blo)
                continue;
            if (j >= bhi)
                break;
            size_t k = m->len_prev[j] + 1; /* j2len.get(j - 1, 0) + 1: index j holds j - 1 */
            m->len_cur[j + 1] = k;
            m->touched_cur[m->ntc++] = j + 1;
            if (k > bestsize) {
                besti = i - k + 1;
                bestj = j - k + 1;
                bestsize = k;
            }
        }
        /* j2len = newj2len */
        for (size_t t = 0; t < m->ntp; t++)
            m->len_prev[m->touched_prev[t]] = 0;
        for (size_t t = 0; t < m->ntc; t++)
            m->len_prev[m->touched_cur[t]] = m->len_cur[m->touched_cur[t]];
        size_t *tp = m->touched_prev;
        m->touched_prev = m->touched_cur;
        m->touched_cur = tp;
        m->ntp = m->ntc;
    }
    for (size_t t = 0; t < m->ntp; t++)
        m->len_prev[m->touched_prev[t]] = 0;
    m->ntp = 0;
    /* no junk function: extend over equal elements (popular ones included) on both sides */
    while (besti > alo && bestj > blo && m->a[besti - 1] == m->b[bestj - 1]) {
        besti--;
        bestj--;
        bestsize++;
    }
    while (besti + bestsize < ahi && bestj + bestsize < bhi &&
           m->a[besti + bestsize] == m->b[bestj + bestsize])
        bestsize++;
    match r = { besti, bestj, bestsize };
    return r;
}

/* Total size of get_matching_blocks(): the order of the queue does not change the sum. */
static int matching_total(matcher *m, size_t *total)
{
    typedef struct { size_t alo, ahi, blo, bhi; } span;
    size_t cap = 64, n = 0;
    span *q = kvb_malloc(cap * sizeof(*q));
    if (!q)
        return KVB_ENOMEM;
    q[n++] = (span){ 0, m->la, 0, m->lb };
    *total = 0;
    while (n) {
        span s = q[--n];
        match x = find_longest(m, s.alo, s.ahi, s.blo, s.bhi);
        if (!x.k)
            continue;
        *total += x.k;
        if (n + 2 > cap) {
            cap *= 2;
            span *nq = kvb_realloc(q, cap * sizeof(*nq));
            if (!nq) {
                free(q);
                return KVB_ENOMEM;
            }
            q = nq;
        }
        if (s.alo < x.i && s.blo < x.j)
            q[n++] = (span){ s.alo, x.i, s.blo, x.j };
        if (x.i + x.k < s.ahi && x.j + x.k < s.bhi)
            q[n++] = (span){ x.i + x.k, s.ahi, x.j + x.k, s.bhi };
    }
    free(q);
    return 0;
}

static int ratio_cps(const kvb_cps *a, const kvb_cps *b, double *ratio)
{
    matcher m = { 0 };
    m.a = a->v;
    m.b = b->v;
    m.la = a->n;
    m.lb = b->n;
    int rc = KVB_ENOMEM;
    size_t total = 0;
    if (build_b2j(&m))
        goto done;
    m.len_prev = kvb_calloc(m.lb + 2, sizeof(size_t));
    m.len_cur = kvb_calloc(m.lb + 2, sizeof(size_t));
    m.touched_prev = kvb_calloc(m.lb + 1, sizeof(size_t));
    m.touched_cur = kvb_calloc(m.lb + 1, sizeof(size_t));
    if (!m.len_prev || !m.len_cur || !m.touched_prev || !m.touched_cur)
        goto done;
    if (matching_total(&m, &total))
        goto done;
    size_t length = m.la + m.lb;
    *ratio = length ? 2.0 * (double)total / (double)length : 1.0;
    rc = 0;
done:
    free(m.pos);
    free(m.key);
    free(m.len_prev);
    free(m.len_cur);
    free(m.touched_prev);
    free(m.touched_cur);
    return rc;
}

int kvb_difflib_ratio(kvb_sv a, kvb_sv b, double *ratio)
{
    kvb_cps ca = { 0 }, cb = { 0 };
    int rc = KVB_ENOMEM;
    if (!kvb_cps_decode(a, &ca) && !kvb_cps_decode(b, &cb))
        rc = ratio_cps(&ca, &cb, ratio);
    kvb_cps_release(&ca);
    kvb_cps_release(&cb);
    return rc;
}

int kvb_fuzz_ratio(kvb_sv a, kvb_sv b, int *ratio)
{
    /* decorators, outermost first: check_for_none, check_for_equivalence, check_empty_string */
    if (a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0)) {
        *ratio = 100;
        return 0;
    }
    if (a.n == 0 || b.n == 0) {
        *ratio = 0;
        return 0;
    }
    double r;
    int rc = kvb_difflib_ratio(a, b, &r);
    if (rc)
        return rc;
    *ratio = (int)rint(100 * r); /* utils.intr: int(round(x)), round half to even */
    return 0;
}
