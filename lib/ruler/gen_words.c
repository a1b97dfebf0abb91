/* niah.py's word needles: sorted(set(f"{adj}-{noun}" for adj in adjs for noun in nouns)), 6.2
 * million strings with wonderwords 3.0.1, of which random.choice needs only the i-th. The list
 * is not built: each adjective's strings form one sorted run (adj + "-" + the sorted nouns), and
 * runs are laid end to end in the order of their first strings; only runs whose ranges overlap
 * (an adjective that is a prefix of another, as "blue" and "blue-eyed") are merged into a
 * cluster that is built, sorted and deduplicated. */
#include <stdlib.h>
#include <string.h>

#include "ruler/gen_words.h"

typedef struct run {
    size_t adj;   /* index into adjs */
    char *lo, *hi; /* its first and last strings */
} run;

typedef struct cluster {
    size_t start, count; /* index of its first string in the whole list, strings in it */
    size_t adj;          /* a cluster of one run: its adjective */
    char **built;        /* a merged cluster: its strings, sorted and unique */
} cluster;

static char *pair(const char *a, const char *n)
{
    size_t la = strlen(a), ln = strlen(n);
    char *s = kvb_malloc(la + ln + 2);
    if (s) {
        memcpy(s, a, la);
        s[la] = '-';
        memcpy(s + la + 1, n, ln + 1);
    }
    return s;
}

static int cmp_run(const void *a, const void *b)
{
    return strcmp(((const run *)a)->lo, ((const run *)b)->lo);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void rg_pairs_release(rg_pairs *p)
{
    for (size_t i = 0; i < p->n_clusters; i++) {
        for (size_t k = 0; p->clusters[i].built && k < p->clusters[i].count; k++)
            free(p->clusters[i].built[k]);
        free(p->clusters[i].built);
    }
    free(p->clusters);
    memset(p, 0, sizeof *p);
}

/* the strings of runs r[0..n), sorted and unique, into c */
static int build_cluster(const rg_pairs *p, const run *r, size_t n, cluster *c)
{
    size_t total = n * p->nouns->n, k = 0;
    c->built = kvb_calloc(total, sizeof *c->built);
    if (!c->built)
        return KVB_ENOMEM;
    c->count = total; /* until deduplicated: what release frees */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p->nouns->n; j++)
            if (!(c->built[k++] = pair(p->adjs->w[r[i].adj], p->nouns->w[j])))
                return KVB_ENOMEM;
    qsort(c->built, total, sizeof *c->built, cmp_str);
    size_t u = 1;
    for (size_t i = 1; i < total; i++) {
        if (strcmp(c->built[i], c->built[u - 1]))
            c->built[u++] = c->built[i];
        else
            free(c->built[i]);
    }
    c->count = u;
    return 0;
}

static int add_clusters(rg_pairs *p, run *r, size_t n)
{
    int rc = 0;
    size_t i = 0, cap = n;
    p->clusters = kvb_calloc(cap, sizeof *p->clusters);
    if (!p->clusters)
        return KVB_ENOMEM;
    while (i < n && !rc) {
        size_t j = i + 1;
        const char *hi = r[i].hi;
        for (; j < n && strcmp(r[j].lo, hi) <= 0; j++)
            if (strcmp(r[j].hi, hi) > 0)
                hi = r[j].hi;
        cluster *c = &p->clusters[p->n_clusters++];
        c->start = p->total;
        c->adj = r[i].adj;
        c->count = p->nouns->n;
        if (j - i > 1)
            rc = build_cluster(p, r + i, j - i, c);
        p->total += c->count;
        i = j;
    }
    return rc;
}

int rg_pairs_init(rg_pairs *p, const rg_words *adjs, const rg_words *nouns)
{
    memset(p, 0, sizeof *p);
    p->adjs = adjs;
    p->nouns = nouns;
    if (!adjs->n || !nouns->n)
        return 0;
    run *r = kvb_calloc(adjs->n, sizeof *r);
    int rc = r ? 0 : KVB_ENOMEM;
    for (size_t i = 0; i < adjs->n && !rc; i++) {
        r[i].adj = i;
        r[i].lo = pair(adjs->w[i], nouns->w[0]);
        r[i].hi = pair(adjs->w[i], nouns->w[nouns->n - 1]);
        if (!r[i].lo || !r[i].hi)
            rc = KVB_ENOMEM;
    }
    if (!rc) {
        qsort(r, adjs->n, sizeof *r, cmp_run);
        rc = add_clusters(p, r, adjs->n);
    }
    for (size_t i = 0; r && i < adjs->n; i++) {
        free(r[i].lo);
        free(r[i].hi);
    }
    free(r);
    if (rc)
        rg_pairs_release(p);
    return rc;
}

int rg_pairs_get(const rg_pairs *p, size_t i, char *buf, size_t size)
{
    size_t lo = 0, hi = p->n_clusters;
    while (hi - lo > 1) { /* the last cluster starting at or before i */
        size_t mid = (lo + hi) / 2;
        if (p->clusters[mid].start <= i)
            lo = mid;
        else
            hi = mid;
    }
    const cluster *c = &p->clusters[lo];
    size_t k = i - c->start;
    int n = c->built ? snprintf(buf, size, "%s", c->built[k])
                     : snprintf(buf, size, "%s-%s", p->adjs->w[c->adj], p->nouns->w[k]);
    return n < 0 || (size_t)n >= size ? KVB_EINVAL : 0;
}
