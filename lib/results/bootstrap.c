/* Paired, stratified bootstrap of score differences between two runs.
 *
 * Determinism matters more than speed: the generator (splitmix64), the way an index is drawn
 * (rejection, no modulo bias), the order of the draws (replicate, then task, then record) and the
 * percentile rule (numpy's 'linear') are reproduced step by step in
 * scripts/oracle/bootstrap_fixtures.py, and tests compare the intervals bit for bit. */
#include "results.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

uint64_t kvb_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t kvb_rng_below(uint64_t *state, uint64_t n)
{
    /* Values below 2^64 mod n would make the low residues more likely: draw again. */
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t x = kvb_rng_next(state);
        if (x >= threshold)
            return x % n;
    }
}

/* numpy.percentile(..., method='linear'): virtual index (n-1)*q, and numpy's two-sided lerp. */
double kvb_percentile_sorted(const double *x, long n, double q)
{
    if (n <= 0)
        return NAN;
    double vi = (double)(n - 1) * (q / 100.0);
    if (vi >= (double)(n - 1))
        return x[n - 1];
    if (vi < 0)
        return x[0];
    double lo = floor(vi);
    double t = vi - lo;
    double a = x[(long)lo], b = x[(long)lo + 1];
    double diff = b - a;
    return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

static int dcmp(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static void interval(double *rep, long n_rep, double level, double delta, kvb_boot_ci *ci)
{
    qsort(rep, (size_t)n_rep, sizeof(double), dcmp);
    double tail = (1.0 - level) / 2.0 * 100.0;
    ci->delta = delta;
    ci->lo = kvb_percentile_sorted(rep, n_rep, tail);
    ci->hi = kvb_percentile_sorted(rep, n_rep, 100.0 - tail);
    ci->significant = ci->lo > 0 || ci->hi < 0;
}

int kvb_bootstrap_paired(const kvb_boot_group *groups, int n_groups, long n_rep, uint64_t seed,
                         double level, kvb_boot_ci *per, kvb_boot_ci *avg, kvb_error *e)
{
    if (n_groups < 1 || n_rep < 1 || n_rep > 10000000 || !(level > 0 && level < 1))
        return kvb_errorf(e, KVB_EINVAL, "bootstrap: need >= 1 task, 1..1e7 replicates, level in (0, 1)");
    long total = 0;
    for (int g = 0; g < n_groups; g++) {
        if (groups[g].n < 1)
            return kvb_errorf(e, KVB_EINVAL, "bootstrap: task %d has no shared record", g);
        total += groups[g].n;
    }
    size_t cells;
    if (kvb_mul_overflow((size_t)n_rep, (size_t)n_groups + 1, &cells) || total <= 0)
        return kvb_errorf(e, KVB_ENOMEM, "bootstrap: too many replicates");
    double *rep = kvb_malloc(cells * sizeof(double));
    double *d = kvb_malloc((size_t)total * sizeof(double));
    if (!rep || !d) {
        free(rep);
        free(d);
        return kvb_errorf(e, KVB_ENOMEM, "bootstrap: out of memory for %ld replicates", n_rep);
    }
    /* per-record differences, and the point estimates (sequential sums, as the oracle) */
    double *dg = d, point_sum = 0;
    double *points = rep + (size_t)n_rep * (size_t)n_groups; /* reused below for the average */
    for (int g = 0; g < n_groups; g++) {
        double s = 0;
        for (long i = 0; i < groups[g].n; i++) {
            dg[i] = groups[g].b[i] - groups[g].a[i];
            s += dg[i];
        }
        per[g].delta = 100.0 * s / (double)groups[g].n;
        point_sum += per[g].delta;
        dg += groups[g].n;
    }
    uint64_t state = seed;
    for (long r = 0; r < n_rep; r++) {
        double tot = 0;
        dg = d;
        for (int g = 0; g < n_groups; g++) {
            long n = groups[g].n;
            double s = 0;
            for (long k = 0; k < n; k++)
                s += dg[kvb_rng_below(&state, (uint64_t)n)];
            double v = 100.0 * s / (double)n;
            rep[(size_t)g * (size_t)n_rep + (size_t)r] = v;
            tot += v;
            dg += n;
        }
        points[r] = tot / n_groups;
    }
    for (int g = 0; g < n_groups; g++)
        interval(rep + (size_t)g * (size_t)n_rep, n_rep, level, per[g].delta, &per[g]);
    if (avg)
        interval(points, n_rep, level, point_sum / n_groups, avg);
    free(rep);
    free(d);
    return 0;
}
