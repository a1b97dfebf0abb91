/* tests/cuda/test_topk.c: per-row top-k and mass counts against the twins. Both are exact:
 * top-k indices identical (ties to the lower index, rows built with many ties, -0 and +0, negative
 * values, k = 1 and k = n); mass counts identical: both sides sum in double, and the rows here are
 * 0 or exp(4u) floats in [0.135, 55) (u in [-0.5, 1)), i.e. multiples of 2^-26, and any sum of
 * up to 30000 of them stays below 2^21 < 2^27, so it is exact in double whatever the order (GPU
 * atomics included) — tau = 1 included. */
#include "check.h"

static void run_topk(kvb_cuda *c, int rows, int n, int k, int ties)
{
    int ld = n + 3;
    float *x = rand_f32((size_t)rows * ld, 10.f);
    if (ties)
        for (size_t i = 0; i < (size_t)rows * ld; i++) x[i] = (float)(int)x[i] * 0.5f;
    x[0] = -0.f;
    if (n > 1) x[1] = 0.f;
    int32_t *ir = xmalloc(sizeof(int32_t) * rows * k), *ig = xmalloc(sizeof(int32_t) * rows * k);
    kvb_ref_topk(ir, x, rows, n, ld, k);
    float *dx = dev_put(c, x, sizeof(float) * rows * ld);
    int32_t *di = dev_put(c, NULL, sizeof(int32_t) * rows * k);
    CU(kvb_cuda_topk(c, di, dx, rows, n, ld, k, E));
    dev_get(c, ig, di, sizeof(int32_t) * rows * k);
    char what[96];
    snprintf(what, sizeof what, "topk rows=%d n=%d k=%d%s", rows, n, k, ties ? " (ties)" : "");
    equal_bytes(what, ig, ir, sizeof(int32_t) * rows * k);
    kvb_cuda_free(c, dx), kvb_cuda_free(c, di);
    free(x), free(ir), free(ig);
}

static void run_mass(kvb_cuda *c, int rows, int n, float tau)
{
    float *x = rand_f32((size_t)rows * n, 1.f);
    for (size_t i = 0; i < (size_t)rows * n; i++) x[i] = x[i] < -0.5f ? 0.f : expf(4 * x[i]);
    int32_t *cr = xmalloc(sizeof(int32_t) * rows), *cg = xmalloc(sizeof(int32_t) * rows);
    kvb_ref_mass_count(cr, x, rows, n, n, tau);
    float *dx = dev_put(c, x, sizeof(float) * rows * n);
    int32_t *dc = dev_put(c, NULL, sizeof(int32_t) * rows);
    CU(kvb_cuda_mass_count(c, dc, dx, rows, n, n, tau, E));
    dev_get(c, cg, dc, sizeof(int32_t) * rows);
    char what[96];
    snprintf(what, sizeof what, "mass count rows=%d n=%d tau=%g", rows, n, (double)tau);
    equal_bytes(what, cg, cr, sizeof(int32_t) * rows);
    kvb_cuda_free(c, dx), kvb_cuda_free(c, dc);
    free(x), free(cr), free(cg);
}

int main(void)
{
    kvb_cuda *c = open_or_skip("test_topk");
    rng_seed(6);
    run_topk(c, 3, 1, 1, 0);
    run_topk(c, 9, 1000, 1, 0);   /* argmax */
    run_topk(c, 8, 4093, 1000, 0);
    run_topk(c, 8, 4093, 1000, 1);
    run_topk(c, 32, 333, 333, 1); /* k = n */
    run_topk(c, 4, 40000, 2016, 1);
    run_mass(c, 32, 1, 0.9f);
    run_mass(c, 32, 4093, 0.9f);
    run_mass(c, 8, 30000, 0.5f);
    run_mass(c, 8, 257, 1.f);
    run_mass(c, 8, 257, 0.f);
    kvb_cuda_close(c);
    return finish("test_topk");
}
