/* tests/cuda/test_kivi.c: KIVI quantize+pack (2 and 4 bits, keys per channel, values per token)
 * and the fused dequantize-attention against the twins.
 * Tolerances: codes, scales and minimums bit-identical (the kernel does the twin's fp32 ops in
 * the same order with explicitly rounded intrinsics: no FMA contraction, IEEE division, rintf);
 * attention output |d| <= 1e-5 + 1e-3 |ref| (as plain decode attention: fp32 split-K vs double). */
#include "check.h"

typedef struct {
    uint32_t *kq, *vq;
    kvb_f16 *ks, *km, *vs, *vm;
    size_t kq_hs, ks_hs, vq_hs, vs_hs, kq_n, ks_n, vq_n, vs_n;
} kivi_buf;

static void buf_init(kivi_buf *b, const kvb_kivi_fmt *f, int nk, int nv)
{
    int D = f->head_dim, G = f->group, bits = f->bits, Hk = f->n_kv_heads;
    b->kq_hs = (size_t)(nk / G) * D * (G * bits / 32) + 3; /* +3/+5: strides that are not packed */
    b->ks_hs = (size_t)(nk / G) * D + 5;
    b->vq_hs = (size_t)nv * (D * bits / 32) + 3;
    b->vs_hs = (size_t)nv * (D / G) + 5;
    b->kq_n = b->kq_hs * Hk, b->ks_n = b->ks_hs * Hk, b->vq_n = b->vq_hs * Hk, b->vs_n = b->vs_hs * Hk;
    b->kq = xmalloc(b->kq_n * 4), b->vq = xmalloc(b->vq_n * 4);
    b->ks = xmalloc(b->ks_n * 2), b->km = xmalloc(b->ks_n * 2);
    b->vs = xmalloc(b->vs_n * 2), b->vm = xmalloc(b->vs_n * 2);
}

static void run(kvb_cuda *c, int bits, int G, int D, int H, int Hkv, int nk_q, int nk_r, int nv_q)
{
    kvb_kivi_fmt f = {bits, G, D, Hkv};
    int S = nk_q + nk_r, nv_r = S - nv_q;
    /* prefill-layout K/V (S, Hkv, D): quantize straight out of it */
    kvb_bf16 *k = rand_bf16((size_t)S * Hkv * D, 3.f), *v = rand_bf16((size_t)S * Hkv * D, 1.f);
    kivi_buf r, g;
    buf_init(&r, &f, nk_q, nv_q);
    buf_init(&g, &f, nk_q, nv_q);
    kvb_ref_kivi_quant_k(r.kq, r.ks, r.km, r.kq_hs, r.ks_hs, k, D, Hkv * D, nk_q, &f);
    kvb_ref_kivi_quant_v(r.vq, r.vs, r.vm, r.vq_hs, r.vs_hs, v, D, Hkv * D, nv_q, &f);
    void *dk = dev_put(c, k, (size_t)S * Hkv * D * 2), *dv = dev_put(c, v, (size_t)S * Hkv * D * 2);
    uint32_t *dkq = dev_put(c, NULL, r.kq_n * 4), *dvq = dev_put(c, NULL, r.vq_n * 4);
    kvb_f16 *dks = dev_put(c, NULL, r.ks_n * 2), *dkm = dev_put(c, NULL, r.ks_n * 2);
    kvb_f16 *dvs = dev_put(c, NULL, r.vs_n * 2), *dvm = dev_put(c, NULL, r.vs_n * 2);
    CU(kvb_cuda_kivi_quant_k(c, dkq, dks, dkm, r.kq_hs, r.ks_hs, dk, D, Hkv * D, nk_q, &f, E));
    CU(kvb_cuda_kivi_quant_v(c, dvq, dvs, dvm, r.vq_hs, r.vs_hs, dv, D, Hkv * D, nv_q, &f, E));
    dev_get(c, g.kq, dkq, r.kq_n * 4), dev_get(c, g.ks, dks, r.ks_n * 2), dev_get(c, g.km, dkm, r.ks_n * 2);
    dev_get(c, g.vq, dvq, r.vq_n * 4), dev_get(c, g.vs, dvs, r.vs_n * 2), dev_get(c, g.vm, dvm, r.vs_n * 2);
    char what[128];
    snprintf(what, sizeof what, "kivi %d-bit G=%d D=%d Hkv=%d: key codes (%d tok)", bits, G, D, Hkv, nk_q);
    equal_bytes(what, g.kq, r.kq, r.kq_n * 4);
    equal_bytes("  key scales", g.ks, r.ks, r.ks_n * 2);
    equal_bytes("  key minimums", g.km, r.km, r.ks_n * 2);
    snprintf(what, sizeof what, "  value codes (%d tok)", nv_q);
    equal_bytes(what, g.vq, r.vq, r.vq_n * 4);
    equal_bytes("  value scales", g.vs, r.vs, r.vs_n * 2);
    equal_bytes("  value minimums", g.vm, r.vm, r.vs_n * 2);

    /* residuals in the cache layout (Hkv, n, D), in logical order after the quantized part */
    int rk = nk_r > 0 ? nk_r : 1, rv = nv_r > 0 ? nv_r : 1;
    kvb_bf16 *kr = xmalloc((size_t)Hkv * rk * D * 2), *vr = xmalloc((size_t)Hkv * rv * D * 2);
    for (int h = 0; h < Hkv; h++)
        for (int c2 = 0; c2 < D; c2++) {
            for (int t = 0; t < nk_r; t++)
                kr[((size_t)h * rk + t) * D + c2] = k[((size_t)(nk_q + t) * Hkv + h) * D + c2];
            for (int t = 0; t < nv_r; t++)
                vr[((size_t)h * rv + t) * D + c2] = v[((size_t)(nv_q + t) * Hkv + h) * D + c2];
        }
    kvb_kivi_view hv = {r.kq, r.ks, r.km, r.kq_hs, r.ks_hs, nk_q, kr, (size_t)rk * D, nk_r,
                        r.vq, r.vs, r.vm, r.vq_hs, r.vs_hs, nv_q, vr, (size_t)rv * D, nv_r};
    float *q = rand_f32((size_t)H * D, 2.f);
    float *oref = xmalloc(sizeof(float) * H * D), *ogot = xmalloc(sizeof(float) * H * D);
    kvb_ref_kivi_attn_decode(oref, q, &hv, &f, H);
    void *dkr = dev_put(c, kr, (size_t)Hkv * rk * D * 2), *dvr = dev_put(c, vr, (size_t)Hkv * rv * D * 2);
    float *dq = dev_put(c, q, sizeof(float) * H * D), *dout = dev_put(c, NULL, sizeof(float) * H * D);
    float *dw = dev_put(c, NULL, sizeof(float) * kvb_cuda_decode_work_floats(H, D, S));
    kvb_kivi_view dvw = {dkq, dks, dkm, r.kq_hs, r.ks_hs, nk_q, dkr, (size_t)rk * D, nk_r,
                         dvq, dvs, dvm, r.vq_hs, r.vs_hs, nv_q, dvr, (size_t)rv * D, nv_r};
    CU(kvb_cuda_kivi_attn_decode(c, dout, dq, &dvw, &f, H, dw, E));
    dev_get(c, ogot, dout, sizeof(float) * H * D);
    snprintf(what, sizeof what, "  fused attention H=%d keys %d+%d values %d+%d", H, nk_q, nk_r, nv_q, nv_r);
    close_f32(what, ogot, oref, (size_t)H * D, 1e-5, 1e-3);

    void *ptrs[] = {dk, dv, dkq, dvq, dks, dkm, dvs, dvm, dkr, dvr, dq, dout, dw};
    for (size_t i = 0; i < KVB_ARRAY_SIZE(ptrs); i++) kvb_cuda_free(c, ptrs[i]);
    kivi_buf *bs[] = {&r, &g};
    for (int i = 0; i < 2; i++)
        free(bs[i]->kq), free(bs[i]->vq), free(bs[i]->ks), free(bs[i]->km), free(bs[i]->vs), free(bs[i]->vm);
    free(k), free(v), free(kr), free(vr), free(q), free(oref), free(ogot);
}

int main(void)
{
    kvb_cuda *c = open_or_skip("test_kivi");
    rng_seed(5);
    /* bits, G, D, H, Hkv, nk_q, nk_r, nv_q: KIVI prefill rule with R = 32 (keys: T - T%R
     * quantized; values: T - R), decode states between flushes, GQA 1..8 */
    run(c, 2, 32, 64, 9, 3, 64, 13, 45);
    run(c, 4, 32, 64, 9, 3, 64, 13, 45);
    run(c, 2, 32, 128, 32, 8, 992, 31, 991);
    run(c, 4, 32, 128, 32, 8, 1024, 0, 992);
    run(c, 2, 16, 128, 8, 1, 272, 17, 257);
    run(c, 4, 8, 48, 4, 4, 40, 3, 11);
    run(c, 4, 32, 64, 2, 2, 0, 20, 0); /* everything still in the residual */
    kvb_cuda_close(c);
    return finish("test_kivi");
}
