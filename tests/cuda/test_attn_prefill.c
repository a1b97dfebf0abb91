/* tests/cuda/test_attn_prefill.c: tiled prefill attention and its statistics against the twins,
 * on lengths that are not multiples of the 64-query / 32-key / 64-column tiles, GQA ratios 1..8
 * and head_dim 48/64/128. Tolerances:
 *   o (bf16): one bf16 ulp (2^-7 relative) + 1e-4: fp32 online softmax vs the twin's double sums
 *     differ by ~1e-6 relative, so only rounding flips remain;
 *   lse: 1e-4 absolute (fp32 logf/expf over <= 300 terms);
 *   probabilities, column sums, sink mass: 1e-5 + 1e-3 relative (exp(s - lse) with fp32 s and
 *     lse: an error of 1e-4 in the exponent is 1e-4 relative, sums keep it). */
#include "check.h"

static void run(kvb_cuda *c, int n, int H, int Hkv, int D, int w, int impl)
{
    CU(kvb_cuda_set_attn_impl(c, impl, E));
    size_t nq = (size_t)n * H * D, nk = (size_t)n * Hkv * D;
    kvb_bf16 *q = rand_bf16(nq, 2.f), *k = rand_bf16(nk, 2.f), *v = rand_bf16(nk, 1.f);
    kvb_bf16 *oref = xmalloc(nq * 2), *ogot = xmalloc(nq * 2);
    float *lref = xmalloc(sizeof(float) * H * n), *lgot = xmalloc(sizeof(float) * H * n);
    kvb_ref_attn_prefill(oref, lref, q, k, v, n, H, Hkv, D);
    void *dq = dev_put(c, q, nq * 2), *dk = dev_put(c, k, nk * 2), *dv = dev_put(c, v, nk * 2);
    void *dout = dev_put(c, NULL, nq * 2);
    float *dl = dev_put(c, NULL, sizeof(float) * H * n);
    CU(kvb_cuda_attn_prefill(c, dout, dl, dq, dk, dv, n, H, Hkv, D, E));
    dev_get(c, ogot, dout, nq * 2);
    dev_get(c, lgot, dl, sizeof(float) * H * n);
    char what[128];
    snprintf(what, sizeof what, "prefill %s o n=%d H=%d Hkv=%d D=%d",
             impl == KVB_ATTN_TENSOR_CORES ? "tensor" : "fp32", n, H, Hkv, D);
    close_bf16(what, ogot, oref, nq, impl == KVB_ATTN_TENSOR_CORES ? 2e-3 : 1e-4, 1.0 / 128);
    close_f32("  lse", lgot, lref, (size_t)H * n, 1e-4, 0);

    /* statistics from the GPU's own lse (the twin gets its own) */
    for (int pass = 0; pass < 2; pass++) {
        int row0 = pass == 0 ? n - w : 0, nw = n - row0;
        size_t nrows = (size_t)H * nw * n;
        float *cr = xmalloc(sizeof(float) * H * n), *cg = xmalloc(sizeof(float) * H * n);
        float *rr = xmalloc(sizeof(float) * nrows), *rg = xmalloc(sizeof(float) * nrows);
        float *sr = xmalloc(sizeof(float) * H * nw), *sg = xmalloc(sizeof(float) * H * nw);
        kvb_attn_stats st = {cr, rr, sr, row0, 4, 16};
        kvb_ref_attn_prefill_stats(&st, lref, q, k, n, H, Hkv, D);
        float *dc = dev_put(c, NULL, sizeof(float) * H * n), *drow = dev_put(c, NULL, sizeof(float) * nrows);
        float *ds = dev_put(c, NULL, sizeof(float) * H * nw);
        kvb_attn_stats sd = {dc, drow, ds, row0, 4, 16};
        CU(kvb_cuda_attn_prefill_stats(c, &sd, dl, dq, dk, n, H, Hkv, D, E));
        dev_get(c, cg, dc, sizeof(float) * H * n);
        dev_get(c, rg, drow, sizeof(float) * nrows);
        dev_get(c, sg, ds, sizeof(float) * H * nw);
        snprintf(what, sizeof what, "  stats rows [%d, %d): colsum", row0, n);
        close_f32(what, cg, cr, (size_t)H * n, 1e-5, 1e-3);
        close_f32("  stats window probabilities", rg, rr, nrows, 1e-5, 1e-3);
        close_f32("  stats sink mass (4 initial + 16 recent)", sg, sr, (size_t)H * nw, 1e-5, 1e-3);
        /* colsum only (rows/sink NULL) must give the same column sums */
        kvb_attn_stats so = {dc, NULL, NULL, row0, 4, 16};
        CU(kvb_cuda_memset0(c, dc, sizeof(float) * H * n, E));
        CU(kvb_cuda_attn_prefill_stats(c, &so, dl, dq, dk, n, H, Hkv, D, E));
        dev_get(c, cg, dc, sizeof(float) * H * n);
        close_f32("  stats colsum alone", cg, cr, (size_t)H * n, 1e-5, 1e-3);
        kvb_cuda_free(c, dc), kvb_cuda_free(c, drow), kvb_cuda_free(c, ds);
        free(cr), free(cg), free(rr), free(rg), free(sr), free(sg);
    }
    /* ThinK channel magnitudes over the window queries */
    float *mr = xmalloc(sizeof(float) * H * D), *mg = xmalloc(sizeof(float) * H * D);
    float *dm = dev_put(c, NULL, sizeof(float) * H * D);
    kvb_ref_channel_sqmean(mr, q, n, n - w, H, D);
    CU(kvb_cuda_channel_sqmean(c, dm, dq, n, n - w, H, D, E));
    dev_get(c, mg, dm, sizeof(float) * H * D);
    close_f32("  channel sqmean (window queries)", mg, mr, (size_t)H * D, 1e-6, 1e-5);
    kvb_cuda_free(c, dm);
    kvb_cuda_free(c, dq), kvb_cuda_free(c, dk), kvb_cuda_free(c, dv);
    kvb_cuda_free(c, dout), kvb_cuda_free(c, dl);
    free(q), free(k), free(v), free(oref), free(ogot), free(lref), free(lgot), free(mr), free(mg);
}

int main(void)
{
    kvb_cuda *c = open_or_skip("test_attn_prefill");
    rng_seed(3);
    for (int impl = KVB_ATTN_CUDA_CORES; impl <= KVB_ATTN_TENSOR_CORES; impl++) {
        run(c, 1, 2, 1, 64, 1, impl);
        run(c, 31, 4, 4, 64, 8, impl);      /* shorter than one tile */
        run(c, 65, 9, 3, 64, 8, impl);      /* SmolLM2 heads, one row past a query tile */
        run(c, 130, 8, 1, 128, 32, impl);   /* GQA 8 */
        run(c, 300, 32, 8, 128, 32, impl);  /* Llama-3 heads */
        run(c, 1000, 4, 2, 64, 32, impl);   /* many key tiles */
    }
    run(c, 197, 4, 2, 48, 32, KVB_ATTN_CUDA_CORES); /* odd head_dim: CUDA cores only */
    run(c, 77, 4, 2, 48, 8, KVB_ATTN_AUTO);         /* AUTO falls back for it */
    kvb_error e = {0};
    int rc = kvb_cuda_set_attn_impl(c, KVB_ATTN_TENSOR_CORES, &e);
    kvb_bf16 dummy[1];
    float dl[1];
    if (!rc) rc = kvb_cuda_attn_prefill(c, dummy, dl, dummy, dummy, dummy, 1, 1, 1, 48, &e);
    printf("%-4s %-48s %s\n", rc == KVB_EUNSUP ? "ok" : "FAIL", "tensor cores refuse head_dim 48", e.msg);
    if (rc != KVB_EUNSUP) g_fail = 1;
    kvb_cuda_close(c);
    return finish("test_attn_prefill");
}
