/* kernels/kivi.cu: KIVI 2/4-bit quantization and fused dequantize-attention. */
#include "kivi.cuh"

/* ---- quantize + pack ----------------------------------------------------------------------- */
/* One group of m values at stride `stride`, op for op as kvb_kivi_quant_group() of
 * lib/kvcache/kivi_quant.c (the CPU path and the oracle): the bf16 input is first rounded to fp16
 * (the cache the reference quantizes is fp16), then each fp16 tensor op of the reference is an
 * fp32 op rounded to fp16: scale = h(h(mx - mn) / qmax), code = rint(clamp(h(h(x - mn) / scale))).
 * Every rounding is explicit (__fsub_rn, __fdiv_rn, __float2half_rn: no FMA contraction), so the
 * codes, scales and minimums are bit-identical to the CPU's. */
__device__ __forceinline__ float kivi_h(float x) { return __half2float(__float2half_rn(x)); }

__device__ void kivi_quant_group(uint32_t *words, __half *sc, __half *mn_out,
                                 const __nv_bfloat16 *x, size_t stride, int m, int bits)
{
    float mn = INFINITY, mx = -INFINITY;
    for (int i = 0; i < m; i++) {
        float a = kivi_h(kvb_bf2f(x[i * stride]));
        mn = a < mn ? a : mn;
        mx = a > mx ? a : mx;
    }
    const int qmax = (1 << bits) - 1, per = 32 / bits;
    const float s = kivi_h(__fdiv_rn(kivi_h(__fsub_rn(mx, mn)), (float)qmax));
    *sc = __float2half_rn(s);
    *mn_out = __float2half_rn(mn); /* exact: mn is an fp16 value */
    for (int w = 0; w < m / per; w++) {
        uint32_t word = 0;
        for (int j = 0; j < per; j++) {
            float a = kivi_h(kvb_bf2f(x[(w * per + j) * stride]));
            float d = s == 0.f ? 0.f : kivi_h(__fdiv_rn(kivi_h(__fsub_rn(a, mn)), s));
            d = fminf(fmaxf(d, 0.f), (float)qmax);
            word |= (uint32_t)rintf(d) << (bits * j);
        }
        words[w] = word;
    }
}

/* Thread = (head, token group, channel): channels are adjacent in memory, so reads coalesce. */
__global__ void kivi_quant_k_kernel(uint32_t *kq, __half *ks, __half *km, size_t kq_hs,
                                    size_t ks_hs, const __nv_bfloat16 *x, size_t x_hs, int x_ts,
                                    int n_groups, int G, int D, int bits)
{
    int idx = blockIdx.x * blockDim.x + threadIdx.x, h = blockIdx.y;
    if (idx >= n_groups * D) return;
    int g = idx / D, ch = idx % D, wpg = G * bits / 32;
    kivi_quant_group(kq + h * kq_hs + ((size_t)g * D + ch) * wpg, ks + h * ks_hs + idx,
                     km + h * ks_hs + idx, x + h * x_hs + (size_t)g * G * x_ts + ch, (size_t)x_ts,
                     G, bits);
}

/* Thread = (head, token, channel group). */
__global__ void kivi_quant_v_kernel(uint32_t *vq, __half *vs, __half *vm, size_t vq_hs,
                                    size_t vs_hs, const __nv_bfloat16 *x, size_t x_hs, int x_ts,
                                    int n_tokens, int G, int D, int bits)
{
    int idx = blockIdx.x * blockDim.x + threadIdx.x, h = blockIdx.y, gpt = D / G;
    if (idx >= n_tokens * gpt) return;
    int t = idx / gpt, gi = idx % gpt, wpt = D * bits / 32, wpg = G * bits / 32;
    kivi_quant_group(vq + h * vq_hs + (size_t)t * wpt + gi * wpg, vs + h * vs_hs + idx,
                     vm + h * vs_hs + idx, x + h * x_hs + (size_t)t * x_ts + gi * G, 1, G, bits);
}

static int fmt_ok(const kvb_kivi_fmt *f, kvb_error *e)
{
    char msg[160];
    if (kvb_kivi_fmt_check(f, msg, sizeof msg)) return kvb_cu_err(e, KVB_EINVAL, "cuda: %s", msg);
    KVB_CU_CHECK_ARG(f->n_kv_heads <= 65535, e, "cuda: kivi: too many kv heads");
    return 0;
}

int kvb_cuda_kivi_quant_k(kvb_cuda *c, uint32_t *kq, kvb_f16 *ks, kvb_f16 *km,
                          size_t kq_head_stride, size_t ks_head_stride, const kvb_bf16 *x,
                          size_t x_head_stride, int x_tok_stride, int n_tokens,
                          const kvb_kivi_fmt *f, kvb_error *e)
{
    int rc = fmt_ok(f, e);
    if (rc) return rc;
    KVB_CU_CHECK_ARG(n_tokens >= 0 && n_tokens % f->group == 0, e,
                     "cuda: kivi: %d key tokens is not a multiple of the group %d", n_tokens,
                     f->group);
    if (n_tokens == 0) return 0;
    int n_groups = n_tokens / f->group;
    dim3 grid(kvb_cdiv((long)n_groups * f->head_dim, KVB_KQ_THREADS), f->n_kv_heads);
    kivi_quant_k_kernel<<<grid, KVB_KQ_THREADS, 0, c->stream>>>(
        kq, as_h(ks), as_h(km), kq_head_stride, ks_head_stride, as_bf(x), x_head_stride,
        x_tok_stride, n_groups, f->group, f->head_dim, f->bits);
    return kvb_cu_launch(e, "kivi_quant_k");
}

int kvb_cuda_kivi_quant_v(kvb_cuda *c, uint32_t *vq, kvb_f16 *vs, kvb_f16 *vm,
                          size_t vq_head_stride, size_t vs_head_stride, const kvb_bf16 *x,
                          size_t x_head_stride, int x_tok_stride, int n_tokens,
                          const kvb_kivi_fmt *f, kvb_error *e)
{
    int rc = fmt_ok(f, e);
    if (rc) return rc;
    KVB_CU_CHECK_ARG(n_tokens >= 0, e, "cuda: kivi: negative token count");
    if (n_tokens == 0) return 0;
    dim3 grid(kvb_cdiv((long)n_tokens * (f->head_dim / f->group), KVB_KQ_THREADS), f->n_kv_heads);
    kivi_quant_v_kernel<<<grid, KVB_KQ_THREADS, 0, c->stream>>>(
        vq, as_h(vs), as_h(vm), vq_head_stride, vs_head_stride, as_bf(x), x_head_stride,
        x_tok_stride, n_tokens, f->group, f->head_dim, f->bits);
    return kvb_cu_launch(e, "kivi_quant_v");
}

/* ---- fused dequantize-attention ------------------------------------------------------------ */
__global__ void __launch_bounds__(KVB_AD_THREADS)
kivi_attn_kernel(float *work, const float *q, kvb_kivi_view vw, int H, int Hkv, int D, int G,
                 int bits, int n_splits, float scale)
{
    __shared__ float sq[KVB_AD_GMAX * KVB_AD_DMAX];
    __shared__ float ss[KVB_AD_GMAX * KVB_KIVI_CHUNK];
    __shared__ float sacc[KVB_AD_THREADS];
    __shared__ float red[32];
    const int split = blockIdx.x, g = blockIdx.y, grp = H / Hkv, tid = threadIdx.x;
    const int lane = tid & 31, warp = tid >> 5, nwarp = blockDim.x >> 5;
    const int S = vw.nk_q + vw.nk_r, t0 = split * KVB_KIVI_CHUNK;
    const int cnt = max(0, min(S - t0, KVB_KIVI_CHUNK));
    const int per = 32 / bits, wpg = G * bits / 32, wpt = D * bits / 32;
    const uint32_t mask = (1u << bits) - 1;
    const uint32_t *kq = vw.kq + g * vw.kq_head_stride, *vq = vw.vq + g * vw.vq_head_stride;
    const __half *ks = as_h(vw.ks) + g * vw.ks_head_stride, *km = as_h(vw.km) + g * vw.ks_head_stride;
    const __half *vs = as_h(vw.vs) + g * vw.vs_head_stride, *vm = as_h(vw.vm) + g * vw.vs_head_stride;
    const __nv_bfloat16 *kr = as_bf(vw.kr) + g * vw.kr_head_stride;
    const __nv_bfloat16 *vr = as_bf(vw.vr) + g * vw.vr_head_stride;

    for (int idx = tid; idx < grp * D; idx += blockDim.x) sq[idx] = q[(size_t)g * grp * D + idx] * scale;
    __syncthreads();
    for (int jj = warp; jj < cnt; jj += nwarp) {
        const int j = t0 + jj;
        float part[KVB_AD_GMAX];
#pragma unroll
        for (int a = 0; a < KVB_AD_GMAX; a++) part[a] = 0.f;
        const bool quant = j < vw.nk_q;
        const int gi = j / G, w = (j % G) / per, sh = bits * ((j % G) % per);
        for (int c = lane; c < D; c += 32) {
            float kv;
            if (quant) {
                size_t si = (size_t)gi * D + c;
                uint32_t code = (kq[si * wpg + w] >> sh) & mask;
                kv = kivi_deq(code, __half2float(ks[si]), __half2float(km[si]));
            } else {
                kv = kvb_bf2f(kr[(size_t)(j - vw.nk_q) * D + c]);
            }
#pragma unroll
            for (int a = 0; a < KVB_AD_GMAX; a++)
                if (a < grp) part[a] += sq[a * D + c] * kv;
        }
#pragma unroll
        for (int a = 0; a < KVB_AD_GMAX; a++)
            if (a < grp) {
                float s = warp_sum(part[a]);
                if (lane == 0) ss[a * KVB_KIVI_CHUNK + jj] = s;
            }
    }
    __syncthreads();
    const int nsub = blockDim.x / D, d = tid % D, sub = tid / D;
    for (int a = 0; a < grp; a++) {
        float *sa = ss + a * KVB_KIVI_CHUNK;
        float m = -INFINITY;
        for (int jj = tid; jj < cnt; jj += blockDim.x) m = fmaxf(m, sa[jj]);
        m = block_max(m, red);
        float l = 0.f;
        __syncthreads();
        for (int jj = tid; jj < cnt; jj += blockDim.x) {
            float p = expf(sa[jj] - m);
            sa[jj] = p;
            l += p;
        }
        l = block_sum(l, red);
        __syncthreads();
        float acc = 0.f;
        if (sub < nsub)
            for (int jj = sub; jj < cnt; jj += nsub) {
                int j = t0 + jj;
                float vv;
                if (j < vw.nv_q) {
                    uint32_t code = (vq[(size_t)j * wpt + d / per] >> (bits * (d % per))) & mask;
                    size_t si = (size_t)j * (D / G) + d / G;
                    vv = kivi_deq(code, __half2float(vs[si]), __half2float(vm[si]));
                } else {
                    vv = kvb_bf2f(vr[(size_t)(j - vw.nv_q) * D + d]);
                }
                acc += sa[jj] * vv;
            }
        sacc[tid] = acc;
        __syncthreads();
        const int h = g * grp + a;
        float *rec = work + ((size_t)h * n_splits + split) * (D + 3);
        if (tid < D) {
            float s = 0.f;
            for (int u = 0; u < nsub; u++) s += sacc[u * D + tid];
            rec[3 + tid] = s;
        }
        if (tid == 0) {
            rec[0] = cnt > 0 ? m : -INFINITY;
            rec[1] = l;
            rec[2] = 0.f;
        }
        __syncthreads();
    }
}

int kvb_cuda_kivi_attn_decode(kvb_cuda *c, float *o, const float *q, const kvb_kivi_view *v,
                              const kvb_kivi_fmt *f, int n_heads, float *work, kvb_error *e)
{
    int rc = fmt_ok(f, e);
    if (rc) return rc;
    int S = v->nk_q + v->nk_r, Hkv = f->n_kv_heads;
    KVB_CU_CHECK_ARG(S > 0 && S == v->nv_q + v->nv_r && v->nk_q >= 0 && v->nk_r >= 0 &&
                         v->nv_q >= 0 && v->nv_r >= 0 && v->nk_q % f->group == 0,
                     e, "cuda: kivi_attn: inconsistent cache (keys %d+%d, values %d+%d, group %d)",
                     v->nk_q, v->nk_r, v->nv_q, v->nv_r, f->group);
    KVB_CU_CHECK_ARG(n_heads > 0 && n_heads % Hkv == 0 && n_heads / Hkv <= KVB_AD_GMAX &&
                         f->head_dim <= KVB_AD_DMAX,
                     e, "cuda: kivi_attn: unsupported heads=%d kv_heads=%d head_dim=%d", n_heads,
                     Hkv, f->head_dim);
    int splits = (int)kvb_cdiv(S, KVB_KIVI_CHUNK);
    dim3 grid(splits, Hkv);
    kivi_attn_kernel<<<grid, KVB_AD_THREADS, 0, c->stream>>>(work, q, *v, n_heads, Hkv,
                                                              f->head_dim, f->group, f->bits,
                                                              splits, 1.f / sqrtf((float)f->head_dim));
    rc = kvb_cu_launch(e, "kivi_attn");
    return rc ? rc : kvb_cu_decode_combine(c, o, NULL, work, n_heads, f->head_dim, splits, e);
}
