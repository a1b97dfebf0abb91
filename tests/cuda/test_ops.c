/* tests/cuda/test_ops.c: every CUDA kernel against its CPU oracle, one table of
 * {op, inputs, gpu, cpu, tol} (check.h runs it; the pattern of ggml's test-backend-ops).
 *
 * The CPU side is the CPU path's own function wherever lib/ has the op (kernels/cpu_ref.c adapts
 * bf16 storage to it): GEMM = the prefill GEMM (OpenBLAS sgemm), RMSNorm, RoPE (and the
 * frequencies, which both sides take from kvb_rope_inv_freq), SwiGLU, KIVI quantization,
 * dequantization and attention (lib/kvcache/store.c kvb_kivi_attend), top-k, ZigZagKV mass counts
 * and ThinK's channel magnitudes (lib/kvcache/select.c), decode attention and the gather of kept
 * tokens (lib/kvcache/ops.h: the token store's f32 decode over an f16 cache, and its fill).
 * Prefill attention and its statistics have no lib function of these shapes; their oracle is the
 * double-precision twin of cpu_ref.c.
 *
 * Every tolerance says why in its row. Without a GPU every oracle still runs on every row's
 * inputs, then the test prints SKIP. */
#include "check.h"

#define BF16_ULP (1.0 / 128) /* one bf16 ulp relative to |ref| bounds a flipped last rounding */

static int32_t *alloc_i32(size_t n) { return xmalloc(n * sizeof(int32_t)); }

/* ---- GEMM: s = {n, in, out, accumulate, bf16 out} ------------------------------------------ */
static void gemm_in(op_io *io)
{
    int n = io->s[0], in = io->s[1], out = io->s[2];
    kvb_bf16 *x = rand_bf16((size_t)n * in, 1.f), *w = rand_bf16((size_t)out * in, 0.5f);
    float *y0 = rand_f32((size_t)n * out, 1.f);
    io_in(io, x, (size_t)n * in * 2), io_in(io, w, (size_t)out * in * 2);
    if (io->s[4]) {
        io_out(io, "y (bf16)", OUT_BF16, (size_t)n * out, 2, NULL);
    } else {
        int o = io_out(io, io->s[3] ? "y += x.W^T" : "y = x.W^T", OUT_F32, (size_t)n * out, 4,
                       io->s[3] ? y0 : NULL);
        io->absum[o] = xmalloc(sizeof(float) * n * out);
        for (int t = 0; t < n; t++)
            for (int r = 0; r < out; r++) {
                double a = io->s[3] ? fabs(y0[(size_t)t * out + r]) : 0;
                for (int i = 0; i < in; i++)
                    a += fabs(kvb_bf16_to_f32(x[(size_t)t * in + i]) * kvb_bf16_to_f32(w[(size_t)r * in + i]));
                io->absum[o][(size_t)t * out + r] = (float)a;
            }
        io->terms = in + 1;
    }
    free(y0);
}
static void gemm_cpu(op_io *io)
{
    kvb_ref_gemm(io->ref[0], io->s[4] ? KVB_DT_BF16 : KVB_DT_F32, io->in[0], io->in[1], io->s[0],
                 io->s[1], io->s[2], io->s[3]);
}
static void gemm_gpu(op_io *io)
{
    CU(kvb_cuda_gemm(io->c, io->dout[0], io->s[4] ? KVB_DT_BF16 : KVB_DT_F32, io->din[0], io->din[1],
                     io->s[0], io->s[1], io->s[2], io->s[3], E));
}

/* ---- RMSNorm: s = {n, d} -------------------------------------------------------------------- */
static void rmsnorm_in(op_io *io)
{
    int n = io->s[0], d = io->s[1];
    io_in(io, rand_f32((size_t)n * d, 4.f), sizeof(float) * n * d);
    io_in(io, rand_bf16(d, 1.5f), (size_t)d * 2);
    io_out(io, "o", OUT_BF16, (size_t)n * d, 2, NULL);
}
static void rmsnorm_cpu(op_io *io) { kvb_ref_rmsnorm(io->ref[0], io->in[0], io->in[1], io->s[0], io->s[1], 1e-5f); }
static void rmsnorm_gpu(op_io *io)
{
    CU(kvb_cuda_rmsnorm(io->c, io->dout[0], io->din[0], io->din[1], io->s[0], io->s[1], 1e-5f, E));
}

/* ---- RoPE out of a fused qkv row: s = {n, heads, head_dim, theta, llama3 factor} ----------- */
static int rope_xs(const int *s) { return s[1] * s[2] + 2 * s[2] + 3; }
static void rope_in(op_io *io)
{
    int n = io->s[0], hd = io->s[2], xs = rope_xs(io->s);
    io_in(io, rand_f32((size_t)n * xs, 2.f), sizeof(float) * n * xs);
    int32_t *pos = alloc_i32(n);
    for (int t = 0; t < n; t++) pos[t] = t == 0 ? 0 : (int32_t)(rng_u64() % 32768);
    io_in(io, pos, sizeof(int32_t) * n);
    float *inv = xmalloc(sizeof(float) * hd / 2);
    kvb_rope_inv_freq(inv, hd, io->s[3], io->s[4], 1.0, 4.0, 8192);
    io_in(io, inv, sizeof(float) * hd / 2);
    io_out(io, "o", OUT_BF16, (size_t)n * io->s[1] * hd, 2, NULL);
}
static void rope_cpu(op_io *io)
{
    int os = io->s[1] * io->s[2];
    kvb_ref_rope(io->ref[0], os, io->in[0], rope_xs(io->s), io->s[0], io->s[1], io->s[2], io->in[1], io->in[2]);
}
static void rope_gpu(op_io *io)
{
    int os = io->s[1] * io->s[2];
    CU(kvb_cuda_rope(io->c, io->dout[0], os, io->din[0], rope_xs(io->s), io->s[0], io->s[1], io->s[2],
                     io->din[1], io->din[2], E));
}

/* ---- SwiGLU and the bf16 copy out of fused gate|up rows: s = {n, f, copy} -------------------- */
static void swiglu_in(op_io *io)
{
    int n = io->s[0], f = io->s[1];
    io_in(io, rand_f32((size_t)n * 2 * f, 6.f), sizeof(float) * n * 2 * f);
    io_out(io, io->s[2] ? "up as bf16" : "silu(gate) * up", OUT_BF16, (size_t)n * f, 2, NULL);
}
static void swiglu_cpu(op_io *io)
{
    const float *g = io->in[0];
    int n = io->s[0], f = io->s[1];
    if (io->s[2]) kvb_ref_to_bf16(io->ref[0], f, g + f, 2 * f, n, f);
    else kvb_ref_swiglu(io->ref[0], g, g + f, 2 * f, n, f);
}
static void swiglu_gpu(op_io *io)
{
    const float *g = io->din[0];
    int n = io->s[0], f = io->s[1];
    if (io->s[2]) CU(kvb_cuda_to_bf16(io->c, io->dout[0], f, g + f, 2 * f, n, f, E));
    else CU(kvb_cuda_swiglu(io->c, io->dout[0], g, g + f, 2 * f, n, f, E));
}

/* ---- prefill attention: s = {n, H, Hkv, D, impl} ------------------------------------------- */
static void prefill_in(op_io *io)
{
    size_t nq = (size_t)io->s[0] * io->s[1] * io->s[3], nk = (size_t)io->s[0] * io->s[2] * io->s[3];
    io_in(io, rand_bf16(nq, 2.f), nq * 2), io_in(io, rand_bf16(nk, 2.f), nk * 2);
    io_in(io, rand_bf16(nk, 1.f), nk * 2);
    io_out(io, "o", OUT_BF16, nq, 2, NULL);
    io_out(io, "lse", OUT_F32, (size_t)io->s[1] * io->s[0], 4, NULL);
}
static void prefill_cpu(op_io *io)
{
    kvb_ref_attn_prefill(io->ref[0], io->ref[1], io->in[0], io->in[1], io->in[2], io->s[0], io->s[1],
                         io->s[2], io->s[3]);
}
static void prefill_gpu(op_io *io)
{
    CU(kvb_cuda_set_attn_impl(io->c, io->s[4], E));
    CU(kvb_cuda_attn_prefill(io->c, io->dout[0], io->dout[1], io->din[0], io->din[1], io->din[2],
                             io->s[0], io->s[1], io->s[2], io->s[3], E));
}

/* ---- method statistics: s = {n, H, Hkv, D, row0 (-w: n - w), colsum only} -------------------
 * Both sides get the oracle's lse, so the row measures the statistics kernel alone. */
static int stats_row0(const int *s) { return s[4] < 0 ? s[0] + s[4] : s[4]; }
static void stats_in(op_io *io)
{
    int n = io->s[0], H = io->s[1], nw = n - stats_row0(io->s);
    size_t nq = (size_t)n * H * io->s[3], nk = (size_t)n * io->s[2] * io->s[3];
    kvb_bf16 *q = rand_bf16(nq, 2.f), *k = rand_bf16(nk, 2.f), *v = rand_bf16(nk, 1.f);
    kvb_bf16 *o = xmalloc(nq * 2);
    float *lse = xmalloc(sizeof(float) * H * n);
    kvb_ref_attn_prefill(o, lse, q, k, v, n, H, io->s[2], io->s[3]);
    free(v), free(o);
    io_in(io, q, nq * 2), io_in(io, k, nk * 2), io_in(io, lse, sizeof(float) * H * n);
    io_out(io, "colsum", OUT_F32, (size_t)H * n, 4, NULL);
    if (!io->s[5]) {
        io_out(io, "window probabilities", OUT_F32, (size_t)H * nw * n, 4, NULL);
        io_out(io, "sink mass (4 initial + 16 recent)", OUT_F32, (size_t)H * nw, 4, NULL);
    }
}
static void stats_cpu(op_io *io)
{
    kvb_attn_stats st = {io->ref[0], io->s[5] ? NULL : io->ref[1], io->s[5] ? NULL : io->ref[2],
                         stats_row0(io->s), 4, 16};
    kvb_ref_attn_prefill_stats(&st, io->in[2], io->in[0], io->in[1], io->s[0], io->s[1], io->s[2], io->s[3]);
}
static void stats_gpu(op_io *io)
{
    kvb_attn_stats st = {io->dout[0], io->s[5] ? NULL : io->dout[1], io->s[5] ? NULL : io->dout[2],
                         stats_row0(io->s), 4, 16};
    CU(kvb_cuda_attn_prefill_stats(io->c, &st, io->din[2], io->din[0], io->din[1], io->s[0], io->s[1],
                                   io->s[2], io->s[3], E));
}

/* ---- ThinK channel magnitudes: s = {n, H, D, w} --------------------------------------------- */
static void sqmean_in(op_io *io)
{
    size_t nq = (size_t)io->s[0] * io->s[1] * io->s[2];
    io_in(io, rand_bf16(nq, 2.f), nq * 2);
    io_out(io, "mean of x^2 over the window", OUT_F32, (size_t)io->s[1] * io->s[2], 4, NULL);
}
static void sqmean_cpu(op_io *io)
{
    kvb_ref_channel_sqmean(io->ref[0], io->in[0], io->s[0], io->s[0] - io->s[3], io->s[1], io->s[2]);
}
static void sqmean_gpu(op_io *io)
{
    CU(kvb_cuda_channel_sqmean(io->c, io->dout[0], io->din[0], io->s[0], io->s[0] - io->s[3], io->s[1],
                               io->s[2], E));
}

/* ---- decode attention over ragged per-head caches: s = {H, Hkv, D, len[0..4]}; kv head g holds
 * s[3 + g % 5] tokens; a head stride that is not the packed one --------------------------------- */
static int dec_len(const int *s, int g) { return s[3 + g % 5]; }
static int dec_max(const int *s)
{
    int m = 0;
    for (int g = 0; g < s[1]; g++) m = dec_len(s, g) > m ? dec_len(s, g) : m;
    return m;
}
/* pad 7: rows not 16-byte aligned (the kernel's scalar loads); pad 0: aligned (16-byte loads) */
static size_t dec_hs(const int *s, int pad) { return (size_t)dec_max(s) * s[2] + pad; }
static void decode_in_pad(op_io *io, int pad)
{
    int H = io->s[0], Hkv = io->s[1], D = io->s[2];
    size_t hs = dec_hs(io->s, pad);
    float *q = rand_f32((size_t)H * D, 2.f);
    kvb_bf16 *k = rand_bf16(hs * Hkv, 2.f), *v = rand_bf16(hs * Hkv, 1.f);
    io_in(io, q, sizeof(float) * H * D);
    io_in(io, k, hs * Hkv * 2), io_in(io, v, hs * Hkv * 2);
    int32_t *len = alloc_i32(Hkv);
    for (int g = 0; g < Hkv; g++) len[g] = dec_len(io->s, g);
    io_in(io, len, sizeof(int32_t) * Hkv);
    int o = io_out(io, "o", OUT_F32, (size_t)H * D, 4, NULL);
    int sk = io_out(io, "sink mass (4 initial + 64 recent)", OUT_F32, (size_t)H, 4, NULL);
    io->bound[o] = xmalloc(sizeof(float) * H * D), io->bound[sk] = xmalloc(sizeof(float) * H);
    /* the kernel against the twin, both f32: check.h decode_bound's (4, 6, 4) */
    decode_bound(io->bound[o], io->bound[sk], q, k, v, hs, len, H, Hkv, D, 4, 64, 4, 6, 4, NULL, NULL);
}
static void decode_cpu_pad(op_io *io, int pad)
{
    kvb_ref_attn_decode(io->ref[0], io->in[0], io->in[1], io->in[2], dec_hs(io->s, pad), io->in[3],
                        dec_max(io->s), io->s[0], io->s[1], io->s[2], io->ref[1], 4, 64);
}
static void decode_gpu_pad(op_io *io, int pad)
{
    int H = io->s[0], D = io->s[2], mx = dec_max(io->s);
    float *work = dev_put(io->c, NULL, sizeof(float) * kvb_cuda_decode_work_floats(H, D, mx));
    CU(kvb_cuda_attn_decode(io->c, io->dout[0], io->din[0], io->din[1], io->din[2], dec_hs(io->s, pad),
                            io->din[3], mx, H, io->s[1], D, io->dout[1], 4, 64, work, E));
    kvb_cuda_free(io->c, work);
}

static void decode_in(op_io *io) { decode_in_pad(io, 7); }
static void decode_cpu(op_io *io) { decode_cpu_pad(io, 7); }
static void decode_gpu(op_io *io) { decode_gpu_pad(io, 7); }
static void decode_a_in(op_io *io) { decode_in_pad(io, 0); }
static void decode_a_cpu(op_io *io) { decode_cpu_pad(io, 0); }
static void decode_a_gpu(op_io *io) { decode_gpu_pad(io, 0); }

/* ---- decode attention over ThinK's thin keys: s = {H, Hkv, D, n_thin, n_ch, len0, len1}; kv
 * head g has n_thin thin rows (n_ch random kept channels, cp = n_ch rounded up to 8) then
 * len0 or len1 (odd g) full-width rows -------------------------------------------------------- */
static void thin_in(op_io *io)
{
    thin_case t;
    thin_case_make(&t, io->s);
    const int D = t.D, Hkv = t.Hkv;
    io_in(io, t.q, sizeof(float) * t.H * D);
    io_in(io, t.kt, sizeof(kvb_bf16) * Hkv * t.n_thin * t.cp), io_in(io, t.ch, sizeof(int32_t) * Hkv * t.cp);
    io_in(io, t.k, sizeof(kvb_bf16) * Hkv * t.kcap * D), io_in(io, t.v, sizeof(kvb_bf16) * Hkv * t.vcap * D);
    io_in(io, t.len, sizeof(int32_t) * Hkv);
    int o = io_out(io, "o", OUT_F32, (size_t)t.H * D, 4, NULL);
    io->bound[o] = xmalloc(sizeof(float) * t.H * D);
    float *bs = xmalloc(sizeof(float) * t.H);
    /* a thin score is the full-width score of a key with its pruned channels zero: the bound of
     * the plain decode over those keys holds (fewer terms in each dot) */
    decode_bound(io->bound[o], bs, t.q, t.kz, t.v, (size_t)t.vcap * D, t.tot, t.H, Hkv, D, 0, 0, 4, 6,
                 4, NULL, NULL);
    free(bs), free(t.kz), free(t.tot); /* the rest belongs to io */
}
static void thin_cpu(op_io *io)
{
    const thin_case t = thin_dims_of(io->s);
    kvb_ref_attn_decode_thin(io->ref[0], io->in[0], io->in[1], io->in[2], t.n_ch, t.cp, t.n_thin,
                             io->in[3], (size_t)t.kcap * t.D, io->in[4],
                             (size_t)(t.n_thin + t.kcap) * t.D, io->in[5], t.H, t.Hkv, t.D);
}
static void thin_gpu(op_io *io)
{
    const thin_case t = thin_dims_of(io->s);
    const int vcap = t.vcap;
    float *work = dev_put(io->c, NULL, sizeof(float) * kvb_cuda_decode_work_floats(t.H, t.D, vcap));
    float *qt = dev_put(io->c, NULL, sizeof(float) * t.H * t.D);
    const kvb_thin_keys tk = {io->din[1], io->din[2], t.n_ch, t.cp, t.n_thin};
    CU(kvb_cuda_attn_decode_thin(io->c, io->dout[0], io->din[0], &tk, qt, io->din[3],
                                 (size_t)t.kcap * t.D, io->din[4], (size_t)vcap * t.D, io->din[5],
                                 vcap, t.H, t.Hkv, t.D, work, E));
    kvb_cuda_free(io->c, work), kvb_cuda_free(io->c, qt);
}

/* ---- gather of kept tokens (SnapKV-like): s = {n, Hkv, D, keep}; indices from the CPU top-k of
 * random scores, heads keep keep - (g % 3) * keep / 4 rows (AdaKV-like counts) ------------------ */
static void gather_in(op_io *io)
{
    int n = io->s[0], Hkv = io->s[1], D = io->s[2], keep = io->s[3];
    size_t nk = (size_t)n * Hkv * D;
    io_in(io, rand_bf16(nk, 2.f), nk * 2);
    float *score = rand_f32((size_t)Hkv * n, 1.f);
    int32_t *idx = alloc_i32((size_t)Hkv * keep), *cnt = alloc_i32(Hkv);
    kvb_ref_topk(idx, score, Hkv, n, n, keep);
    free(score);
    for (int g = 0; g < Hkv; g++) cnt[g] = keep - (g % 3) * (keep / 4);
    io_in(io, idx, sizeof(int32_t) * Hkv * keep), io_in(io, cnt, sizeof(int32_t) * Hkv);
    io_out(io, "kept rows (decode layout)", OUT_BYTES, (size_t)keep * D * Hkv, 2, NULL);
}
static void gather_cpu(op_io *io)
{
    int keep = io->s[3];
    kvb_ref_gather_kv(io->ref[0], (size_t)keep * io->s[2], io->in[0], io->s[0], io->s[1], io->s[2],
                      io->in[1], keep, keep, io->in[2]);
}
static void gather_gpu(op_io *io)
{
    int keep = io->s[3];
    CU(kvb_cuda_gather_kv(io->c, io->dout[0], (size_t)keep * io->s[2], io->din[0], io->s[0], io->s[1],
                          io->s[2], io->din[1], keep, keep, io->din[2], E));
}

/* ---- KIVI: s = {bits, G, D, H, Hkv, nk_q, nk_r, nv_q}; KIVI's prefill rule with R = 32 (keys
 * T - T%R quantized, values T - R), GQA 1..8. Head strides +3/+5 are not the packed ones. -------- */
typedef struct kivi_dims {
    kvb_kivi_fmt f;
    int S, nv_r, rk, rv;
    size_t kq_hs, ks_hs, vq_hs, vs_hs;
} kivi_dims;
static kivi_dims kivi_of(const int *s)
{
    kivi_dims d = {{s[0], s[1], s[2], s[4]}, s[5] + s[6], 0, 0, 0, 0, 0, 0, 0};
    d.nv_r = d.S - s[7];
    d.rk = s[6] > 0 ? s[6] : 1, d.rv = d.nv_r > 0 ? d.nv_r : 1;
    d.kq_hs = (size_t)(s[5] / s[1]) * s[2] * (s[1] * s[0] / 32) + 3;
    d.ks_hs = (size_t)(s[5] / s[1]) * s[2] + 5;
    d.vq_hs = (size_t)s[7] * (s[2] * s[0] / 32) + 3;
    d.vs_hs = (size_t)s[7] * (s[2] / s[1]) + 5;
    return d;
}
/* quantization: x (S, Hkv, D) bf16 in the prefill layout, quantized in place of it */
static void kquant_in(op_io *io)
{
    kivi_dims d = kivi_of(io->s);
    size_t nx = (size_t)d.S * d.f.n_kv_heads * d.f.head_dim, H = (size_t)d.f.n_kv_heads;
    io_in(io, rand_bf16(nx, 3.f), nx * 2), io_in(io, rand_bf16(nx, 1.f), nx * 2);
    io_out(io, "key codes", OUT_BYTES, d.kq_hs * H, 4, NULL);
    io_out(io, "key scales", OUT_BYTES, d.ks_hs * H, 2, NULL);
    io_out(io, "key minimums", OUT_BYTES, d.ks_hs * H, 2, NULL);
    io_out(io, "value codes", OUT_BYTES, d.vq_hs * H, 4, NULL);
    io_out(io, "value scales", OUT_BYTES, d.vs_hs * H, 2, NULL);
    io_out(io, "value minimums", OUT_BYTES, d.vs_hs * H, 2, NULL);
}
static void kquant_cpu(op_io *io)
{
    kivi_dims d = kivi_of(io->s);
    int D = d.f.head_dim, ts = d.f.n_kv_heads * D;
    kvb_ref_kivi_quant_k(io->ref[0], io->ref[1], io->ref[2], d.kq_hs, d.ks_hs, io->in[0], D, ts, io->s[5], &d.f);
    kvb_ref_kivi_quant_v(io->ref[3], io->ref[4], io->ref[5], d.vq_hs, d.vs_hs, io->in[1], D, ts, io->s[7], &d.f);
}
static void kquant_gpu(op_io *io)
{
    kivi_dims d = kivi_of(io->s);
    int D = d.f.head_dim, ts = d.f.n_kv_heads * D;
    CU(kvb_cuda_kivi_quant_k(io->c, io->dout[0], io->dout[1], io->dout[2], d.kq_hs, d.ks_hs, io->din[0],
                             D, ts, io->s[5], &d.f, E));
    CU(kvb_cuda_kivi_quant_v(io->c, io->dout[3], io->dout[4], io->dout[5], d.vq_hs, d.vs_hs, io->din[1],
                             D, ts, io->s[7], &d.f, E));
}
/* fused dequantize-attention over a cache quantized by the CPU (inputs 0..5), bf16 residuals
 * (6, 7) in logical order after the quantized part, q (8) */
static void kattn_in(op_io *io)
{
    kivi_dims d = kivi_of(io->s);
    int D = d.f.head_dim, Hkv = d.f.n_kv_heads, H = io->s[3], nk_q = io->s[5], nv_q = io->s[7];
    size_t nx = (size_t)d.S * Hkv * D;
    kvb_bf16 *k = rand_bf16(nx, 3.f), *v = rand_bf16(nx, 1.f);
    uint32_t *kq = xmalloc(d.kq_hs * Hkv * 4), *vq = xmalloc(d.vq_hs * Hkv * 4);
    kvb_f16 *ks = xmalloc(d.ks_hs * Hkv * 2), *km = xmalloc(d.ks_hs * Hkv * 2);
    kvb_f16 *vs = xmalloc(d.vs_hs * Hkv * 2), *vm = xmalloc(d.vs_hs * Hkv * 2);
    kvb_ref_kivi_quant_k(kq, ks, km, d.kq_hs, d.ks_hs, k, D, Hkv * D, nk_q, &d.f);
    kvb_ref_kivi_quant_v(vq, vs, vm, d.vq_hs, d.vs_hs, v, D, Hkv * D, nv_q, &d.f);
    kvb_bf16 *kr = xmalloc((size_t)Hkv * d.rk * D * 2), *vr = xmalloc((size_t)Hkv * d.rv * D * 2);
    for (int h = 0; h < Hkv; h++)
        for (int c = 0; c < D; c++) {
            for (int t = 0; t < io->s[6]; t++)
                kr[((size_t)h * d.rk + t) * D + c] = k[((size_t)(nk_q + t) * Hkv + h) * D + c];
            for (int t = 0; t < d.nv_r; t++)
                vr[((size_t)h * d.rv + t) * D + c] = v[((size_t)(nv_q + t) * Hkv + h) * D + c];
        }
    free(k), free(v);
    io_in(io, kq, d.kq_hs * Hkv * 4), io_in(io, ks, d.ks_hs * Hkv * 2), io_in(io, km, d.ks_hs * Hkv * 2);
    io_in(io, vq, d.vq_hs * Hkv * 4), io_in(io, vs, d.vs_hs * Hkv * 2), io_in(io, vm, d.vs_hs * Hkv * 2);
    io_in(io, kr, (size_t)Hkv * d.rk * D * 2), io_in(io, vr, (size_t)Hkv * d.rv * D * 2);
    io_in(io, rand_f32((size_t)H * D, 2.f), sizeof(float) * H * D);
    io_out(io, "o", OUT_F32, (size_t)H * D, 4, NULL);
}
static kvb_kivi_view kivi_view(const int *s, void *const *p)
{
    kivi_dims d = kivi_of(s);
    kvb_kivi_view v = {p[0], p[1], p[2], d.kq_hs, d.ks_hs, s[5], p[6], (size_t)d.rk * s[2], s[6],
                       p[3], p[4], p[5], d.vq_hs, d.vs_hs, s[7], p[7], (size_t)d.rv * s[2], d.nv_r};
    return v;
}
static void kattn_cpu(op_io *io)
{
    kvb_kivi_view v = kivi_view(io->s, io->in);
    kivi_dims d = kivi_of(io->s);
    kvb_ref_kivi_attn_decode(io->ref[0], io->in[8], &v, &d.f, io->s[3]);
}
static void kattn_gpu(op_io *io)
{
    kvb_kivi_view v = kivi_view(io->s, io->din);
    kivi_dims d = kivi_of(io->s);
    int H = io->s[3], D = io->s[2];
    float *work = dev_put(io->c, NULL, sizeof(float) * kvb_cuda_decode_work_floats(H, D, d.S));
    CU(kvb_cuda_kivi_attn_decode(io->c, io->dout[0], io->din[8], &v, &d.f, H, work, E));
    kvb_cuda_free(io->c, work);
}

/* ---- selection: s = {rows, n, k, ties} (top-k) / {rows, n, tau * 10} (mass counts) ----------- */
static void topk_in(op_io *io)
{
    int rows = io->s[0], n = io->s[1], ld = n + 3;
    float *x = rand_f32((size_t)rows * ld, 10.f);
    if (io->s[3])
        for (size_t i = 0; i < (size_t)rows * ld; i++) x[i] = (float)(int)x[i] * 0.5f; /* ties */
    x[0] = -0.f;
    if (n > 1) x[1] = 0.f;
    io_in(io, x, sizeof(float) * rows * ld);
    io_out(io, "indices", OUT_BYTES, (size_t)rows * io->s[2], 4, NULL);
}
static void topk_cpu(op_io *io) { kvb_ref_topk(io->ref[0], io->in[0], io->s[0], io->s[1], io->s[1] + 3, io->s[2]); }
static void topk_gpu(op_io *io)
{
    CU(kvb_cuda_topk(io->c, io->dout[0], io->din[0], io->s[0], io->s[1], io->s[1] + 3, io->s[2], E));
}
static void mass_in(op_io *io)
{
    size_t m = (size_t)io->s[0] * io->s[1];
    float *x = rand_f32(m, 1.f);
    for (size_t i = 0; i < m; i++) x[i] = x[i] < -0.5f ? 0.f : expf(4 * x[i]);
    io_in(io, x, sizeof(float) * m);
    io_out(io, "counts", OUT_BYTES, (size_t)io->s[0], 4, NULL);
}
static void mass_cpu(op_io *io)
{
    kvb_ref_mass_count(io->ref[0], io->in[0], io->s[0], io->s[1], io->s[1], (float)io->s[2] / 10);
}
static void mass_gpu(op_io *io)
{
    CU(kvb_cuda_mass_count(io->c, io->dout[0], io->din[0], io->s[0], io->s[1], io->s[1],
                           (float)io->s[2] / 10, E));
}

/* ---- the table ---------------------------------------------------------------------------------- */
/* OpenBLAS sums in f32 with round-to-nearest: within gamma_n sum|x w| of the exact sum (products
 * of bf16 are exact in f32); tensor cores may align/truncate instead of rounding (unit roundoff
 * 2^-23, i.e. 2 gamma_n): 3 gamma_n together, 4 stated */
#define T_GEMM {0, 0, 4, "f32 sums in any order: OpenBLAS within gamma_n sum|x w|, tensor cores within 2 gamma_n (truncating adds)"}
#define T_BF16(atol) {atol, BF16_ULP, 0, "f32 results a few ulp apart (order, rsqrtf, expf, sincosf) flip at most one bf16 rounding"}
#define T_EXACT {0, 0, 0, "bit-identical"}
#define T_ATT {1e-5, 1e-3, 0, "f32 online/split-K softmax vs the twin's double sums over <= 1500 keys: ~m 2^-24 relative"}
#define T_DEC {0x1p-25, 0, 0, "two f32 decode attentions: check.h decode_bound (scores, exp, sums; f16 cache of the twin)"}
#define T_LSE {1e-4, 0, 0, "f32 logf/expf over <= 1000 terms"}
#define T_P {1e-5, 1e-3, 0, "exp(s - lse) with f32 s: 1e-4 in the exponent is 1e-4 relative; sums keep it"}
#define T_EXACT_KIVI {0, 0, 0, "bit-identical: the kernel does the lib's fp16-rounded ops with explicit roundings"}
#define T_KIVI_ATT {1e-5, 1e-3, 0, "f32 kernel vs the CPU cache's f32 attention (kvb_kivi_attend), sums in other orders over <= 1055 keys: ~m 2^-24 relative each"}

static const op_row rows[] = {
    /* op, inputs, shape, gpu, cpu, tolerances */
    {"gemm f32 (SmolLM2 decode shape)", gemm_in, {1, 576, 1536, 0, 0}, gemm_gpu, gemm_cpu, {T_GEMM}},
    {"gemm f32 (odd sizes)", gemm_in, {7, 129, 33, 0, 0}, gemm_gpu, gemm_cpu, {T_GEMM}},
    /* n = 1 runs the decode GEMV (in % 8 == 0), else cuBLAS */
    {"gemv (Llama-3 q|k|v)", gemm_in, {1, 4096, 6144, 0, 0}, gemm_gpu, gemm_cpu, {T_GEMM}},
    {"gemv += (Llama-3 down_proj)", gemm_in, {1, 14336, 4096, 1, 0}, gemm_gpu, gemm_cpu, {T_GEMM}},
    {"gemv (SmolLM2 lm_head)", gemm_in, {1, 576, 49152, 0, 0}, gemm_gpu, gemm_cpu, {T_GEMM}},
    {"gemm n=1, in % 8 != 0 (cuBLAS)", gemm_in, {1, 20, 7, 1, 0}, gemm_gpu, gemm_cpu, {T_GEMM}},
    {"gemm f32 (prefill-like)", gemm_in, {300, 256, 192, 0, 0}, gemm_gpu, gemm_cpu, {T_GEMM}},
    {"gemm f32 += (residual add)", gemm_in, {7, 129, 33, 1, 0}, gemm_gpu, gemm_cpu, {T_GEMM}},
    {"gemm f32 += (prefill-like)", gemm_in, {300, 256, 192, 1, 0}, gemm_gpu, gemm_cpu, {T_GEMM}},
    {"gemm bf16 out", gemm_in, {7, 129, 33, 0, 1}, gemm_gpu, gemm_cpu,
     {{1e-3, BF16_ULP, 0, "one bf16 rounding flip; 1e-3 covers f32 sums that cancel to near 0"}}},
    {"gemm bf16 out (prefill-like)", gemm_in, {300, 256, 192, 0, 1}, gemm_gpu, gemm_cpu,
     {{1e-3, BF16_ULP, 0, "one bf16 rounding flip; 1e-3 covers f32 sums that cancel to near 0"}}},
    {"rmsnorm d=576", rmsnorm_in, {1, 576}, rmsnorm_gpu, rmsnorm_cpu, {T_BF16(1e-6)}},
    {"rmsnorm d=4096", rmsnorm_in, {33, 4096}, rmsnorm_gpu, rmsnorm_cpu, {T_BF16(1e-6)}},
    {"rmsnorm d=97", rmsnorm_in, {5, 97}, rmsnorm_gpu, rmsnorm_cpu, {T_BF16(1e-6)}},
    {"rope 9 heads hd=64", rope_in, {17, 9, 64, 100000, 0}, rope_gpu, rope_cpu, {T_BF16(1e-5)}},
    {"rope 8 heads hd=128 llama3 x8", rope_in, {40, 8, 128, 500000, 8}, rope_gpu, rope_cpu, {T_BF16(1e-5)}},
    {"rope 5 heads hd=48", rope_in, {3, 5, 48, 10000, 0}, rope_gpu, rope_cpu, {T_BF16(1e-5)}},
    {"swiglu f=1536", swiglu_in, {1, 1536, 0}, swiglu_gpu, swiglu_cpu, {T_BF16(1e-6)}},
    {"swiglu f=1001", swiglu_in, {13, 1001, 0}, swiglu_gpu, swiglu_cpu, {T_BF16(1e-6)}},
    {"to_bf16 (strided rows)", swiglu_in, {13, 1001, 1}, swiglu_gpu, swiglu_cpu,
     {{0, 0, 0, "one RNE rounding on both sides: bit-identical"}}},
#define PREFILL(name, n, H, Hk, D, impl, tol_o)                                                   \
    {"prefill " name " n=" #n " H=" #H " Hkv=" #Hk " D=" #D, prefill_in, {n, H, Hk, D, impl},     \
     prefill_gpu, prefill_cpu, {tol_o, T_LSE}}
#define CC(n, H, Hk, D) PREFILL("fp32", n, H, Hk, D, KVB_ATTN_CUDA_CORES, T_BF16(1e-4))
#define T_TC {2e-3, BF16_ULP, 0, "P rounded to bf16 before P.V on tensor cores (2^-9 per term, |v| <= 1)"}
#define TC(n, H, Hk, D) PREFILL("tensor", n, H, Hk, D, KVB_ATTN_TENSOR_CORES, T_TC)
    CC(1, 2, 1, 64), CC(31, 4, 4, 64), CC(65, 9, 3, 64), CC(130, 8, 1, 128), CC(300, 32, 8, 128),
    CC(1000, 4, 2, 64), CC(197, 4, 2, 48),
    TC(1, 2, 1, 64), TC(31, 4, 4, 64), TC(65, 9, 3, 64), TC(130, 8, 1, 128), TC(300, 32, 8, 128),
    TC(1000, 4, 2, 64), TC(2053, 4, 1, 128), TC(777, 8, 2, 64),
    PREFILL("auto (falls back)", 77, 4, 2, 48, KVB_ATTN_AUTO, T_BF16(1e-4)),
    {"stats window of 8, n=65", stats_in, {65, 9, 3, 64, -8, 0}, stats_gpu, stats_cpu, {T_P, T_P, T_P}},
    {"stats all rows (H2O), n=65", stats_in, {65, 9, 3, 64, 0, 0}, stats_gpu, stats_cpu, {T_P, T_P, T_P}},
    {"stats window of 32, n=300", stats_in, {300, 32, 8, 128, -32, 0}, stats_gpu, stats_cpu, {T_P, T_P, T_P}},
    {"stats colsum alone, n=1000", stats_in, {1000, 4, 2, 64, -32, 1}, stats_gpu, stats_cpu, {T_P}},
    {"stats window of 8, D=48", stats_in, {197, 4, 2, 48, -8, 0}, stats_gpu, stats_cpu, {T_P, T_P, T_P}},
    {"channel sqmean (window queries)", sqmean_in, {65, 9, 64, 8}, sqmean_gpu, sqmean_cpu,
     {{1e-6, 1e-5, 0, "f32 sum of <= 1000 squares (positive terms) vs double"}}},
    {"channel sqmean D=128", sqmean_in, {300, 32, 128, 32}, sqmean_gpu, sqmean_cpu,
     {{1e-6, 1e-5, 0, "f32 sum of <= 1000 squares (positive terms) vs double"}}},
    {"decode H=1 len 1", decode_in, {1, 1, 64, 1, 1, 1, 1, 1}, decode_gpu, decode_cpu, {T_DEC, T_DEC}},
    {"decode GQA 3 ragged", decode_in, {9, 3, 64, 1, 300, 77, 1, 1}, decode_gpu, decode_cpu, {T_DEC, T_DEC}},
    {"decode GQA 1 ragged chunks", decode_in, {8, 8, 128, 256, 257, 5, 1028, 1500}, decode_gpu, decode_cpu, {T_DEC, T_DEC}},
    {"decode GQA 4 equal", decode_in, {32, 8, 128, 700, 700, 700, 700, 700}, decode_gpu, decode_cpu, {T_DEC, T_DEC}},
    {"decode GQA 8 D=48", decode_in, {16, 2, 48, 333, 1, 1, 1, 1}, decode_gpu, decode_cpu, {T_DEC, T_DEC}},
    {"decode GQA 4 long", decode_in, {12, 3, 64, 1029, 4, 900, 1, 1}, decode_gpu, decode_cpu, {T_DEC, T_DEC}},
    {"decode aligned GQA 4 D=128", decode_a_in, {32, 8, 128, 700, 1029, 3, 256, 257}, decode_a_gpu, decode_a_cpu, {T_DEC, T_DEC}},
    {"decode aligned GQA 3 D=64", decode_a_in, {9, 3, 64, 1, 300, 513, 1, 1}, decode_a_gpu, decode_a_cpu, {T_DEC, T_DEC}},
    {"decode aligned GQA 8 D=48", decode_a_in, {16, 2, 48, 333, 1, 1, 1, 1}, decode_a_gpu, decode_a_cpu, {T_DEC, T_DEC}},
    {"decode aligned GQA 4 D=128 long", decode_a_in, {32, 8, 128, 4099, 64, 65, 2048, 1}, decode_a_gpu, decode_a_cpu, {T_DEC, T_DEC}},
    /* ThinK: 40% of the channels pruned (77 of 128 kept, padded to 80), and an odd count */
    {"decode thin keys GQA 4 D=128", thin_in, {32, 8, 128, 600, 77, 32, 100}, thin_gpu, thin_cpu, {T_DEC}},
    {"decode thin keys GQA 3 D=64 short", thin_in, {9, 3, 64, 5, 39, 1, 70}, thin_gpu, thin_cpu, {T_DEC}},
    {"gather top-264 of 1000, Hkv=8", gather_in, {1000, 8, 128, 264}, gather_gpu, gather_cpu, {T_EXACT}},
    {"gather top-40 of 77, Hkv=3", gather_in, {77, 3, 64, 40}, gather_gpu, gather_cpu, {T_EXACT}},
#define KIVI(b, G, D, H, Hk, kq, kr, vq)                                                           \
    {"kivi quant " #b "-bit G=" #G " D=" #D " Hkv=" #Hk, kquant_in, {b, G, D, H, Hk, kq, kr, vq},  \
     kquant_gpu, kquant_cpu, {T_EXACT_KIVI}},                                                      \
    {"kivi attention " #b "-bit keys " #kq "+" #kr " values " #vq, kattn_in,                      \
     {b, G, D, H, Hk, kq, kr, vq}, kattn_gpu, kattn_cpu, {T_KIVI_ATT}}
    KIVI(2, 32, 64, 9, 3, 64, 13, 45), KIVI(4, 32, 64, 9, 3, 64, 13, 45),
    KIVI(2, 32, 128, 32, 8, 992, 31, 991), KIVI(4, 32, 128, 32, 8, 1024, 0, 992),
    KIVI(2, 16, 128, 8, 1, 272, 17, 257), KIVI(4, 8, 48, 4, 4, 40, 3, 11),
    KIVI(4, 32, 64, 2, 2, 0, 20, 0), /* everything still in the residual */
#define T_TOPK {0, 0, 0, "integer results; ties to the lower index on both sides"}
    {"topk n=1 k=1", topk_in, {3, 1, 1, 0}, topk_gpu, topk_cpu, {T_TOPK}},
    {"topk argmax", topk_in, {9, 1000, 1, 0}, topk_gpu, topk_cpu, {T_TOPK}},
    {"topk argmax (Llama-3 vocabulary, ties)", topk_in, {2, 128256, 1, 1}, topk_gpu, topk_cpu, {T_TOPK}},
    {"topk k=1000 of 4093", topk_in, {8, 4093, 1000, 0}, topk_gpu, topk_cpu, {T_TOPK}},
    {"topk k=1000 of 4093 (ties)", topk_in, {8, 4093, 1000, 1}, topk_gpu, topk_cpu, {T_TOPK}},
    {"topk k=n (ties)", topk_in, {32, 333, 333, 1}, topk_gpu, topk_cpu, {T_TOPK}},
    {"topk k=2016 of 40000 (ties)", topk_in, {4, 40000, 2016, 1}, topk_gpu, topk_cpu, {T_TOPK}},
    /* the rows are 0 or exp(4u) floats in [0.135, 55), multiples of 2^-26: any sum of <= 30000
     * of them stays below 2^21 < 2^27, so both sides' double sums are exact in any order */
#define T_MASS {0, 0, 0, "integer results; the double sums are exact (multiples of 2^-26 below 2^21)"}
    {"mass count n=1", mass_in, {32, 1, 9}, mass_gpu, mass_cpu, {T_MASS}},
    {"mass count n=4093 tau=0.9", mass_in, {32, 4093, 9}, mass_gpu, mass_cpu, {T_MASS}},
    {"mass count n=30000 tau=0.5", mass_in, {8, 30000, 5}, mass_gpu, mass_cpu, {T_MASS}},
    {"mass count tau=1", mass_in, {8, 257, 10}, mass_gpu, mass_cpu, {T_MASS}},
    {"mass count tau=0", mass_in, {8, 257, 0}, mass_gpu, mass_cpu, {T_MASS}},
};

/* not a comparison: the tensor-core kernel refuses head sizes it has no tiles for */
static void tensor_cores_refuse_48(kvb_cuda *c)
{
    kvb_error e = {0};
    int rc = kvb_cuda_set_attn_impl(c, KVB_ATTN_TENSOR_CORES, &e);
    kvb_bf16 dummy[1];
    float dl[1];
    if (!rc) rc = kvb_cuda_attn_prefill(c, dummy, dl, dummy, dummy, dummy, 1, 1, 1, 48, &e);
    printf("%-4s %-56s %s\n", rc == KVB_EUNSUP ? "ok" : "FAIL", "tensor cores refuse head_dim 48", e.msg);
    if (rc != KVB_EUNSUP) g_fail = 1;
}

int main(void)
{
    kvb_error e = {0};
    kvb_cuda *c = NULL;
    rng_seed(2);
    if (kvb_cuda_open(&c, 0, &e)) {
        op_run(NULL, rows, KVB_ARRAY_SIZE(rows)); /* the oracles still run on every row */
        printf("ran the CPU oracles of %zu rows\nSKIP: test_ops: %s\n", KVB_ARRAY_SIZE(rows), e.msg);
        return 0;
    }
    kvb_cuda_info info;
    if (kvb_cuda_info_get(c, &info, &e) == 0)
        printf("test_ops on %s (sm_%d%d, %d SMs)\n", info.name, info.cc_major, info.cc_minor, info.sm_count);
    op_run(c, rows, KVB_ARRAY_SIZE(rows));
    tensor_cores_refuse_48(c);
    kvb_cuda_close(c);
    return finish("test_ops");
}
