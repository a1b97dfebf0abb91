/* tests/cuda/check.h: shared helpers of the CUDA kernel tests (plain C, header-only).
 *
 * Each test binary compares kvb_cuda_<op> with its CPU twin kvb_ref_<op> on seeded random inputs
 * and prints one line per case with the worst error and the tolerance; it exits 1 on a failure.
 * Without a usable GPU it prints "SKIP: <reason>" and exits 0 (CI machines have nvcc, no GPU). */
#ifndef KVB_TEST_CUDA_CHECK_H
#define KVB_TEST_CUDA_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_ref.h"
#include "kvb_cuda.h"

static int g_fail;

/* ---- random inputs ------------------------------------------------------------------------- */
static uint64_t g_rng = 0x6b76626e6368ULL;
static inline void rng_seed(uint64_t s) { g_rng = s * 0x9e3779b97f4a7c15ULL + 1; }
static inline uint64_t rng_u64(void)
{
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static inline float rng_unif(void) { return (float)((rng_u64() >> 40) * (2.0 / 16777216.0) - 1.0); }

static inline void *xmalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}
static inline float *rand_f32(size_t n, float scale)
{
    float *p = xmalloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = scale * rng_unif();
    return p;
}
static inline kvb_bf16 *rand_bf16(size_t n, float scale)
{
    kvb_bf16 *p = xmalloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = kvb_ref_f2bf(scale * rng_unif());
    return p;
}

/* ---- device ------------------------------------------------------------------------------- */
static inline void die_err(const kvb_error *e)
{
    fprintf(stderr, "error: %s\n", e->msg);
    exit(1);
}
/* The context, or SKIP + exit 0 when no GPU can be used. */
static inline kvb_cuda *open_or_skip(const char *test)
{
    kvb_error e = {0};
    kvb_cuda *c = NULL;
    if (kvb_cuda_open(&c, 0, &e)) {
        printf("SKIP: %s: %s\n", test, e.msg);
        exit(0);
    }
    kvb_cuda_info info;
    if (kvb_cuda_info_get(c, &info, &e) == 0)
        printf("%s on %s (sm_%d%d, %d SMs)\n", test, info.name, info.cc_major, info.cc_minor,
               info.sm_count);
    return c;
}
static inline void *dev_put(kvb_cuda *c, const void *host, size_t bytes)
{
    kvb_error e = {0};
    void *d = NULL;
    if (kvb_cuda_alloc(c, &d, bytes, &e)) die_err(&e);
    if (host && kvb_cuda_upload(c, d, host, bytes, &e)) die_err(&e);
    if (!host && kvb_cuda_memset0(c, d, bytes, &e)) die_err(&e);
    return d;
}
static inline void dev_get(kvb_cuda *c, void *host, const void *d, size_t bytes)
{
    kvb_error e = {0};
    if (kvb_cuda_sync(c, &e) || kvb_cuda_download(c, host, d, bytes, &e)) die_err(&e);
}
/* CU(kvb_cuda_op(..., E)): run a backend call, die with its message on failure. */
#define CU(expr)                                                                                   \
    do {                                                                                           \
        kvb_error err_ = {0};                                                                      \
        kvb_error *E = &err_;                                                                      \
        if ((expr)) die_err(E);                                                                    \
    } while (0)

/* ---- comparisons --------------------------------------------------------------------------- */
/* |got - ref| <= atol + rtol * |ref| elementwise (llm.c's rule); reports the worst excess. */
static inline int close_f32(const char *what, const float *got, const float *ref, size_t n, double atol,
                     double rtol)
{
    size_t bad = 0, worst_i = 0;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]), tol = atol + rtol * fabs(ref[i]);
        if (!(d <= tol)) bad++;
        if (!(d <= worst) ) {
            worst = d;
            worst_i = i;
        }
    }
    printf("%-4s %-48s n=%zu max|d|=%.3g at %zu (got %.6g ref %.6g) tol %.1e+%.1e*|ref|\n",
           bad ? "FAIL" : "ok", what, n, worst, worst_i, n ? got[worst_i] : 0.0,
           n ? ref[worst_i] : 0.0, atol, rtol);
    if (bad) g_fail = 1;
    return bad == 0;
}
static inline int close_bf16(const char *what, const kvb_bf16 *got, const kvb_bf16 *ref, size_t n,
                      double atol, double rtol)
{
    float *a = xmalloc(n * sizeof *a), *b = xmalloc(n * sizeof *b);
    for (size_t i = 0; i < n; i++) {
        a[i] = kvb_ref_bf2f(got[i]);
        b[i] = kvb_ref_bf2f(ref[i]);
    }
    int ok = close_f32(what, a, b, n, atol, rtol);
    free(a);
    free(b);
    return ok;
}
static inline int equal_bytes(const char *what, const void *got, const void *ref, size_t bytes)
{
    const unsigned char *a = got, *b = ref;
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < bytes; i++)
        if (a[i] != b[i] && bad++ == 0) first = i;
    printf("%-4s %-48s %zu bytes identical%s", bad ? "FAIL" : "ok", what, bytes - bad,
           bad ? "" : "\n");
    if (bad) printf(", %zu differ (first at byte %zu)\n", bad, first);
    if (bad) g_fail = 1;
    return bad == 0;
}
static inline int finish(const char *test)
{
    printf("%s: %s\n", test, g_fail ? "FAILED" : "passed");
    return g_fail;
}
#endif
