/* tests/cuda/test_attn_decode.c: decode attention over ragged per-head caches against the twin:
 * kv heads with different lengths (1, not multiples of the 256-token chunk, several chunks), GQA
 * ratios 1, 3, 4, 8, head_dim 48/64/128, the SimLayerKV sink-mass output.
 * Also the gather of kept tokens (per-head top-k of a score row) from the prefill layout into the
 * decode layout, bit-identical to the twin, followed by decode attention over the result.
 * Tolerance: o and sink mass |d| <= 1e-5 + 1e-3 |ref| (fp32 split-K softmax vs the twin's double
 * sums over <= 1500 keys; the error of an fp32 sum of m terms is ~m * 2^-24 relative). */
#include "check.h"

static void run(kvb_cuda *c, int H, int Hkv, int D, const int32_t *len)
{
    int max_len = 0;
    for (int g = 0; g < Hkv; g++) max_len = len[g] > max_len ? len[g] : max_len;
    size_t hs = (size_t)max_len * D + 7; /* a head stride that is not the packed one */
    kvb_bf16 *k = rand_bf16(hs * Hkv, 2.f), *v = rand_bf16(hs * Hkv, 1.f);
    float *q = rand_f32((size_t)H * D, 2.f);
    float *oref = xmalloc(sizeof(float) * H * D), *ogot = xmalloc(sizeof(float) * H * D);
    float *sref = xmalloc(sizeof(float) * H), *sgot = xmalloc(sizeof(float) * H);
    kvb_ref_attn_decode(oref, q, k, v, hs, len, max_len, H, Hkv, D, sref, 4, 64);
    void *dk = dev_put(c, k, hs * Hkv * 2), *dv = dev_put(c, v, hs * Hkv * 2);
    float *dq = dev_put(c, q, sizeof(float) * H * D), *dout = dev_put(c, NULL, sizeof(float) * H * D);
    float *ds = dev_put(c, NULL, sizeof(float) * H);
    int32_t *dlen = dev_put(c, len, sizeof(int32_t) * Hkv);
    size_t wf = kvb_cuda_decode_work_floats(H, D, max_len);
    float *dw = dev_put(c, NULL, sizeof(float) * wf);
    CU(kvb_cuda_attn_decode(c, dout, dq, dk, dv, hs, dlen, max_len, H, Hkv, D, ds, 4, 64, dw, E));
    dev_get(c, ogot, dout, sizeof(float) * H * D);
    dev_get(c, sgot, ds, sizeof(float) * H);
    char what[128];
    snprintf(what, sizeof what, "decode H=%d Hkv=%d D=%d len[0]=%d max=%d", H, Hkv, D, len[0], max_len);
    close_f32(what, ogot, oref, (size_t)H * D, 1e-5, 1e-3);
    close_f32("  sink mass (4 initial + 64 recent)", sgot, sref, (size_t)H, 1e-5, 1e-3);
    kvb_cuda_free(c, dk), kvb_cuda_free(c, dv), kvb_cuda_free(c, dq), kvb_cuda_free(c, dout);
    kvb_cuda_free(c, ds), kvb_cuda_free(c, dlen), kvb_cuda_free(c, dw);
    free(k), free(v), free(q), free(oref), free(ogot), free(sref), free(sgot);
}

/* SnapKV-like compression: per kv head, top-`keep` of random scores, gathered; heads keep
 * different counts (AdaKV-like) through `counts`. */
static void run_gather(kvb_cuda *c, int n, int H, int Hkv, int D, int keep)
{
    size_t nk = (size_t)n * Hkv * D, hs = (size_t)keep * D;
    kvb_bf16 *k = rand_bf16(nk, 2.f), *v = rand_bf16(nk, 1.f);
    float *score = rand_f32((size_t)Hkv * n, 1.f);
    int32_t *idx = xmalloc(sizeof(int32_t) * Hkv * keep), *cnt = xmalloc(sizeof(int32_t) * Hkv);
    kvb_ref_topk(idx, score, Hkv, n, n, keep);
    for (int g = 0; g < Hkv; g++) cnt[g] = keep - (g % 3) * (keep / 4);
    kvb_bf16 *kr = xmalloc(hs * Hkv * 2), *vr = xmalloc(hs * Hkv * 2);
    kvb_bf16 *kg = xmalloc(hs * Hkv * 2), *vg = xmalloc(hs * Hkv * 2);
    kvb_ref_gather_kv(kr, hs, k, n, Hkv, D, idx, keep, keep, cnt);
    kvb_ref_gather_kv(vr, hs, v, n, Hkv, D, idx, keep, keep, cnt);
    void *dk = dev_put(c, k, nk * 2), *dv = dev_put(c, v, nk * 2);
    float *dscore = dev_put(c, score, sizeof(float) * Hkv * n);
    int32_t *didx = dev_put(c, NULL, sizeof(int32_t) * Hkv * keep), *dcnt = dev_put(c, cnt, sizeof(int32_t) * Hkv);
    void *dkc = dev_put(c, NULL, hs * Hkv * 2), *dvc = dev_put(c, NULL, hs * Hkv * 2);
    CU(kvb_cuda_topk(c, didx, dscore, Hkv, n, n, keep, E));
    CU(kvb_cuda_gather_kv(c, dkc, hs, dk, n, Hkv, D, didx, keep, keep, dcnt, E));
    CU(kvb_cuda_gather_kv(c, dvc, hs, dv, n, Hkv, D, didx, keep, keep, dcnt, E));
    dev_get(c, kg, dkc, hs * Hkv * 2);
    dev_get(c, vg, dvc, hs * Hkv * 2);
    /* compare only the rows each head keeps (the rest is untouched device memory = 0) */
    for (int g = 0; g < Hkv; g++)
        for (size_t i = (size_t)cnt[g] * D; i < hs; i++) kr[g * hs + i] = vr[g * hs + i] = 0;
    char what[128];
    snprintf(what, sizeof what, "gather top-%d of %d, Hkv=%d D=%d: keys", keep, n, Hkv, D);
    equal_bytes(what, kg, kr, hs * Hkv * 2);
    equal_bytes("  values", vg, vr, hs * Hkv * 2);
    float *q = rand_f32((size_t)H * D, 2.f);
    float *oref = xmalloc(sizeof(float) * H * D), *ogot = xmalloc(sizeof(float) * H * D);
    kvb_ref_attn_decode(oref, q, kr, vr, hs, cnt, keep, H, Hkv, D, NULL, 0, 0);
    float *dq = dev_put(c, q, sizeof(float) * H * D), *dout = dev_put(c, NULL, sizeof(float) * H * D);
    float *dw = dev_put(c, NULL, sizeof(float) * kvb_cuda_decode_work_floats(H, D, keep));
    CU(kvb_cuda_attn_decode(c, dout, dq, dkc, dvc, hs, dcnt, keep, H, Hkv, D, NULL, 0, 0, dw, E));
    dev_get(c, ogot, dout, sizeof(float) * H * D);
    close_f32("  decode over the compressed cache", ogot, oref, (size_t)H * D, 1e-5, 1e-3);
    void *ptrs[] = {dk, dv, dscore, didx, dcnt, dkc, dvc, dq, dout, dw};
    for (size_t i = 0; i < KVB_ARRAY_SIZE(ptrs); i++) kvb_cuda_free(c, ptrs[i]);
    free(k), free(v), free(score), free(idx), free(cnt), free(kr), free(vr), free(kg), free(vg);
    free(q), free(oref), free(ogot);
}

int main(void)
{
    kvb_cuda *c = open_or_skip("test_attn_decode");
    rng_seed(4);
    run(c, 1, 1, 64, (const int32_t[]){1});
    run(c, 9, 3, 64, (const int32_t[]){1, 300, 77});
    run(c, 8, 8, 128, (const int32_t[]){256, 257, 5, 1028, 1500, 2, 511, 64});
    run(c, 32, 8, 128, (const int32_t[]){700, 700, 700, 700, 700, 700, 700, 700});
    run(c, 16, 2, 48, (const int32_t[]){333, 1});
    run(c, 12, 3, 64, (const int32_t[]){1029, 4, 900});
    run_gather(c, 1000, 32, 8, 128, 264);
    run_gather(c, 77, 9, 3, 64, 40);
    kvb_cuda_close(c);
    return finish("test_attn_decode");
}
