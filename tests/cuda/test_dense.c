/* tests/cuda/test_dense.c: GEMM (cuBLAS), RMSNorm, RoPE, SwiGLU and the bf16 copy against their
 * CPU twins. Tolerances:
 *   gemm fp32 out: |d| <= 1e-5 * sum_i |x_i w_i| + 1e-6 (fp32 accumulation in cuBLAS' order vs
 *     the twin's double sum: relative error ~ k * 2^-24 of the absolute sum; 1e-5 covers k <= 160
 *     terms per partial sum with margin for split-K);
 *   anything with a bf16 output: one bf16 ulp (2^-7 relative, a rounding flip when fp32 results
 *     differ by a few ulp: rsqrtf, expf, sincosf, summation order) + 1e-6. */
#include "check.h"

static void test_gemm(kvb_cuda *c, int n, int in, int out)
{
    kvb_bf16 *x = rand_bf16((size_t)n * in, 1.f), *w = rand_bf16((size_t)out * in, 0.5f);
    float *y0 = rand_f32((size_t)n * out, 1.f); /* accumulate target */
    float *ref = xmalloc(sizeof(float) * n * out), *got = xmalloc(sizeof(float) * n * out);
    float *bound = xmalloc(sizeof(float) * n * out);
    for (int t = 0; t < n; t++)
        for (int o = 0; o < out; o++) {
            double s = 0;
            for (int i = 0; i < in; i++)
                s += fabs(kvb_ref_bf2f(x[(size_t)t * in + i]) * kvb_ref_bf2f(w[(size_t)o * in + i]));
            bound[(size_t)t * out + o] = (float)s;
        }
    void *dx = dev_put(c, x, (size_t)n * in * 2), *dw = dev_put(c, w, (size_t)out * in * 2);
    float *dy = dev_put(c, y0, sizeof(float) * n * out);
    char what[96];
    for (int acc = 0; acc <= 1; acc++) {
        memcpy(ref, y0, sizeof(float) * n * out);
        kvb_ref_gemm(ref, KVB_DT_F32, x, w, n, in, out, acc);
        CU(kvb_cuda_upload(c, dy, y0, sizeof(float) * n * out, E));
        CU(kvb_cuda_gemm(c, dy, KVB_DT_F32, dx, dw, n, in, out, acc, E));
        dev_get(c, got, dy, sizeof(float) * n * out);
        size_t bad = 0;
        double worst = 0;
        for (size_t i = 0; i < (size_t)n * out; i++) {
            double d = fabs(got[i] - ref[i]), tol = 1e-5 * bound[i] + 1e-6;
            bad += !(d <= tol);
            worst = d / tol > worst ? d / tol : worst;
        }
        snprintf(what, sizeof what, "gemm f32%s n=%d in=%d out=%d", acc ? " +=" : "", n, in, out);
        printf("%-4s %-48s worst |d|/tol %.3f\n", bad ? "FAIL" : "ok", what, worst);
        if (bad) g_fail = 1;
    }
    kvb_bf16 *rb = xmalloc((size_t)n * out * 2), *gb = xmalloc((size_t)n * out * 2);
    void *dyb = dev_put(c, NULL, (size_t)n * out * 2);
    kvb_ref_gemm(rb, KVB_DT_BF16, x, w, n, in, out, 0);
    CU(kvb_cuda_gemm(c, dyb, KVB_DT_BF16, dx, dw, n, in, out, 0, E));
    dev_get(c, gb, dyb, (size_t)n * out * 2);
    snprintf(what, sizeof what, "gemm bf16 n=%d in=%d out=%d", n, in, out);
    close_bf16(what, gb, rb, (size_t)n * out, 1e-3, 1.0 / 128);
    kvb_cuda_free(c, dx), kvb_cuda_free(c, dw);
    kvb_cuda_free(c, dy), kvb_cuda_free(c, dyb);
    free(x), free(w), free(y0), free(ref), free(got), free(bound), free(rb), free(gb);
}

static void test_rmsnorm(kvb_cuda *c, int n, int d)
{
    float *x = rand_f32((size_t)n * d, 4.f);
    kvb_bf16 *w = rand_bf16(d, 1.5f), *ref = xmalloc((size_t)n * d * 2), *got = xmalloc((size_t)n * d * 2);
    kvb_ref_rmsnorm(ref, x, w, n, d, 1e-5f);
    float *dx = dev_put(c, x, sizeof(float) * n * d);
    void *dw = dev_put(c, w, (size_t)d * 2), *dout = dev_put(c, NULL, (size_t)n * d * 2);
    CU(kvb_cuda_rmsnorm(c, dout, dx, dw, n, d, 1e-5f, E));
    dev_get(c, got, dout, (size_t)n * d * 2);
    char what[96];
    snprintf(what, sizeof what, "rmsnorm n=%d d=%d", n, d);
    close_bf16(what, got, ref, (size_t)n * d, 1e-6, 1.0 / 128);
    kvb_cuda_free(c, dx), kvb_cuda_free(c, dw), kvb_cuda_free(c, dout);
    free(x), free(w), free(ref), free(got);
}

/* RoPE reading q out of a fused qkv row (stride > heads*head_dim), positions up to 32k. */
static void test_rope(kvb_cuda *c, int n, int heads, int hd, double theta, double factor)
{
    int xs = heads * hd + 2 * hd + 3, os = heads * hd;
    float *x = rand_f32((size_t)n * xs, 2.f), inv[128];
    int32_t *pos = xmalloc(sizeof(int32_t) * n);
    for (int t = 0; t < n; t++) pos[t] = t == 0 ? 0 : (int32_t)(rng_u64() % 32768);
    kvb_rope_inv_freq(inv, hd, theta, factor, 1.0, 4.0, 8192);
    kvb_bf16 *ref = xmalloc((size_t)n * os * 2), *got = xmalloc((size_t)n * os * 2);
    kvb_ref_rope(ref, os, x, xs, n, heads, hd, pos, inv);
    float *dx = dev_put(c, x, sizeof(float) * n * xs), *dinv = dev_put(c, inv, sizeof(float) * hd / 2);
    int32_t *dpos = dev_put(c, pos, sizeof(int32_t) * n);
    void *dout = dev_put(c, NULL, (size_t)n * os * 2);
    CU(kvb_cuda_rope(c, dout, os, dx, xs, n, heads, hd, dpos, dinv, E));
    dev_get(c, got, dout, (size_t)n * os * 2);
    char what[96];
    snprintf(what, sizeof what, "rope n=%d heads=%d hd=%d theta=%g llama3=%g", n, heads, hd, theta, factor);
    /* the angle is the same fp32 product on both sides; sincosf vs sinf/cosf differ by <= 2 ulp,
     * which after a bf16 rounding is at most one bf16 ulp; atol covers values near zero */
    close_bf16(what, got, ref, (size_t)n * os, 1e-5, 1.0 / 128);
    kvb_cuda_free(c, dx), kvb_cuda_free(c, dinv), kvb_cuda_free(c, dpos), kvb_cuda_free(c, dout);
    free(x), free(pos), free(ref), free(got);
}

static void test_swiglu(kvb_cuda *c, int n, int f)
{
    float *gu = rand_f32((size_t)n * 2 * f, 6.f);
    kvb_bf16 *ref = xmalloc((size_t)n * f * 2), *got = xmalloc((size_t)n * f * 2);
    kvb_ref_swiglu(ref, gu, gu + f, 2 * f, n, f);
    float *d = dev_put(c, gu, sizeof(float) * n * 2 * f);
    void *dout = dev_put(c, NULL, (size_t)n * f * 2);
    CU(kvb_cuda_swiglu(c, dout, d, d + f, 2 * f, n, f, E));
    dev_get(c, got, dout, (size_t)n * f * 2);
    char what[96];
    snprintf(what, sizeof what, "swiglu n=%d f=%d (fused gate|up rows)", n, f);
    close_bf16(what, got, ref, (size_t)n * f, 1e-6, 1.0 / 128);
    /* bf16 copy out of the same strided buffer: exact (one RNE rounding on both sides) */
    kvb_bf16 *r2 = xmalloc((size_t)n * f * 2);
    kvb_ref_to_bf16(r2, f, gu + f, 2 * f, n, f);
    CU(kvb_cuda_to_bf16(c, dout, f, d + f, 2 * f, n, f, E));
    dev_get(c, got, dout, (size_t)n * f * 2);
    equal_bytes("to_bf16 (strided rows)", got, r2, (size_t)n * f * 2);
    kvb_cuda_free(c, d), kvb_cuda_free(c, dout);
    free(gu), free(ref), free(got), free(r2);
}

int main(void)
{
    kvb_cuda *c = open_or_skip("test_dense");
    rng_seed(2);
    test_gemm(c, 1, 576, 1536);  /* SmolLM2 decode shape */
    test_gemm(c, 7, 129, 33);    /* odd everything */
    test_gemm(c, 300, 256, 192); /* prefill-like */
    test_rmsnorm(c, 1, 576);
    test_rmsnorm(c, 33, 4096);
    test_rmsnorm(c, 5, 97);
    test_rope(c, 17, 9, 64, 100000.0, 0);
    test_rope(c, 40, 8, 128, 500000.0, 8.0);
    test_rope(c, 3, 5, 48, 10000.0, 0);
    test_swiglu(c, 1, 1536);
    test_swiglu(c, 13, 1001);
    kvb_cuda_close(c);
    return finish("test_dense");
}
