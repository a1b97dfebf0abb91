/* kernels/attn_decode.cu: decode attention of one token over per-head ragged bf16 caches. */
#include "attn_decode.cuh"

/* 8 consecutive bf16 as floats: one 16-byte load when the caller knows the row is aligned */
template <bool VEC>
__device__ __forceinline__ void load8(float f[8], const __nv_bfloat16 *p)
{
    if (VEC) {
        uint4 u = *reinterpret_cast<const uint4 *>(p);
        const __nv_bfloat162 *h = reinterpret_cast<const __nv_bfloat162 *>(&u);
#pragma unroll
        for (int i = 0; i < 4; i++) {
            float2 x = __bfloat1622float2(h[i]);
            f[2 * i] = x.x, f[2 * i + 1] = x.y;
        }
    } else {
#pragma unroll
        for (int i = 0; i < 8; i++) f[i] = kvb_bf2f(p[i]);
    }
}

/* One block per (split, kv head); D % 8 == 0. A kv head's len[g] tokens are cut into n_splits
 * contiguous ranges read from the device (so one launch shape serves every length: the decode
 * graph), and a block walks its range in chunks of KVB_AD_CHUNK tokens with an online softmax.
 * Rows are read in 8-channel pieces: for the scores a half-warp takes a key row (16 lanes x 8
 * channels = D <= 128) and dots it with every query head of the group; for P.V each thread owns
 * one 8-channel piece of a strided subset of the chunk's value rows and accumulates it for every
 * query head in registers; the subsets are summed in shared memory at the end. Each K/V byte is
 * read once from memory. */
template <bool VEC>
__global__ void __launch_bounds__(KVB_AD_THREADS)
attn_decode_kernel(float *work, const float *q, const __nv_bfloat16 *k, const __nv_bfloat16 *v,
                   size_t k_hs, size_t v_hs, const int32_t *len, int len_fixed, int H, int Hkv,
                   int D, int Dk, int n_splits, int split0, int n_rec, int n_init, int n_recent,
                   float scale)
{
    __shared__ float sq[KVB_AD_GMAX * KVB_AD_DMAX];
    __shared__ float ss[KVB_AD_GMAX * KVB_AD_CHUNK];
    __shared__ float sacc[KVB_AD_THREADS * 8 * KVB_AD_GMAX]; /* nsub * grp * D <= this */
    __shared__ float srow[3 * KVB_AD_GMAX], salpha[KVB_AD_GMAX]; /* per head: m, l, sink; rescale */
    const int split = blockIdx.x, g = blockIdx.y, grp = H / Hkv, tid = threadIdx.x;
    const int lane = tid & 31, warp = tid >> 5, nwarp = blockDim.x >> 5, CH = D / 8, CHK = Dk / 8;
    const int L = len ? len[g] : len_fixed, per = (L + n_splits - 1) / n_splits;
    const int t_begin = split * per, t_end = min(L, t_begin + per);
    const __nv_bfloat16 *kg = k + (size_t)g * k_hs, *vg = v + (size_t)g * v_hs;
    float *rec0 = work + (size_t)split0 * (D + 3); /* this launch's records: n_rec per head */
    if (t_begin >= t_end) { /* nothing here: a record the combine skips */
        if (tid < grp) rec0[((size_t)(g * grp + tid) * n_rec + split) * (D + 3)] = -INFINITY;
        return;
    }
    for (int idx = tid; idx < grp * Dk; idx += blockDim.x) sq[idx] = q[(size_t)g * grp * Dk + idx] * scale;
    if (tid < grp) srow[3 * tid] = -INFINITY, srow[3 * tid + 1] = 0.f, srow[3 * tid + 2] = 0.f;
    const int half = lane >> 4, l16 = lane & 15;
    const int nsub = blockDim.x / CH, sub = tid / CH, c = tid % CH;
    float acc[KVB_AD_GMAX][8];
#pragma unroll
    for (int a = 0; a < KVB_AD_GMAX; a++)
#pragma unroll
        for (int i = 0; i < 8; i++) acc[a][i] = 0.f;

    for (int t0 = t_begin; t0 < t_end; t0 += KVB_AD_CHUNK) {
        const int cnt = min(KVB_AD_CHUNK, t_end - t0);
        __syncthreads(); /* q and the row state are set; the previous chunk's ss is consumed */
        /* scores: the loop runs alike for both halves of a warp (the shuffles need all 32 lanes) */
        for (int j0 = 2 * warp; j0 < cnt; j0 += 2 * nwarp) {
            const int jj = j0 + half;
            float part[KVB_AD_GMAX];
#pragma unroll
            for (int a = 0; a < KVB_AD_GMAX; a++) part[a] = 0.f;
            for (int cc = l16; cc < CHK && jj < cnt; cc += 16) {
                float kf[8];
                load8<VEC>(kf, kg + (size_t)(t0 + jj) * Dk + cc * 8);
#pragma unroll
                for (int a = 0; a < KVB_AD_GMAX; a++)
                    if (a < grp)
#pragma unroll
                        for (int i = 0; i < 8; i++)
                            part[a] = fmaf(sq[a * Dk + cc * 8 + i], kf[i], part[a]);
            }
#pragma unroll
            for (int a = 0; a < KVB_AD_GMAX; a++)
                if (a < grp) {
                    float sc = part[a];
                    for (int o = 8; o > 0; o >>= 1) sc += __shfl_xor_sync(0xffffffffu, sc, o);
                    if (l16 == 0 && jj < cnt) ss[a * KVB_AD_CHUNK + jj] = sc;
                }
        }
        __syncthreads();
        /* online softmax, one warp per query head; ss becomes the probabilities */
        for (int a = warp; a < grp; a += nwarp) {
            float *sa = ss + a * KVB_AD_CHUNK;
            float mc = -INFINITY;
            for (int jj = lane; jj < cnt; jj += 32) mc = fmaxf(mc, sa[jj]);
            mc = warp_max(mc);
            const float m_old = srow[3 * a], m = fmaxf(m_old, mc);
            float l = 0.f, sk = 0.f;
            for (int jj = lane; jj < cnt; jj += 32) {
                float p = expf(sa[jj] - m);
                sa[jj] = p;
                l += p;
                int j = t0 + jj;
                if (j < n_init) sk += p;
                if (j >= L - n_recent) sk += p;
            }
            l = warp_sum(l);
            sk = warp_sum(sk);
            if (lane == 0) {
                const float alpha = m_old == -INFINITY ? 0.f : expf(m_old - m);
                srow[3 * a] = m;
                srow[3 * a + 1] = srow[3 * a + 1] * alpha + l;
                srow[3 * a + 2] = srow[3 * a + 2] * alpha + sk;
                salpha[a] = alpha;
            }
        }
        __syncthreads();
        /* P.V into the registers, rescaled to the new maxima */
        if (sub < nsub) {
#pragma unroll
            for (int a = 0; a < KVB_AD_GMAX; a++)
                if (a < grp) {
                    const float al = salpha[a];
#pragma unroll
                    for (int i = 0; i < 8; i++) acc[a][i] *= al;
                }
            for (int jj = sub; jj < cnt; jj += nsub) {
                float vf[8];
                load8<VEC>(vf, vg + (size_t)(t0 + jj) * D + c * 8);
#pragma unroll
                for (int a = 0; a < KVB_AD_GMAX; a++)
                    if (a < grp) {
                        const float p = ss[a * KVB_AD_CHUNK + jj];
#pragma unroll
                        for (int i = 0; i < 8; i++) acc[a][i] = fmaf(p, vf[i], acc[a][i]);
                    }
            }
        }
    }
    if (sub < nsub)
#pragma unroll
        for (int a = 0; a < KVB_AD_GMAX; a++)
            if (a < grp)
#pragma unroll
                for (int i = 0; i < 8; i++) sacc[((size_t)sub * grp + a) * D + c * 8 + i] = acc[a][i];
    __syncthreads();
    for (int idx = tid; idx < grp * D; idx += blockDim.x) {
        const int a = idx / D, d = idx % D;
        float sum = 0.f;
        for (int u = 0; u < nsub; u++) sum += sacc[((size_t)u * grp + a) * D + d];
        float *rec = rec0 + ((size_t)(g * grp + a) * n_rec + split) * (D + 3);
        rec[3 + d] = sum;
        if (d < 3) rec[d] = srow[3 * a + d];
    }
}

/* Merge the split records of query head blockIdx.x (empty splits have max -inf). */
__global__ void decode_combine_kernel(float *o, float *sink, const float *work, int D, int n_splits)
{
    const int h = blockIdx.x, d = threadIdx.x;
    const float *base = work + (size_t)h * n_splits * (D + 3);
    float M = -INFINITY;
    for (int s = 0; s < n_splits; s++) M = fmaxf(M, base[(size_t)s * (D + 3)]);
    float L = 0.f, acc = 0.f, sk = 0.f;
    for (int s = 0; s < n_splits; s++) {
        const float *rec = base + (size_t)s * (D + 3);
        if (rec[0] == -INFINITY) continue;
        float w = expf(rec[0] - M);
        L += rec[1] * w;
        sk += rec[2] * w;
        if (d < D) acc += rec[3 + d] * w;
    }
    if (d < D) o[(size_t)h * D + d] = acc / L;
    if (d == 0 && sink) sink[h] = sk / L;
}

int kvb_cu_decode_combine(kvb_cuda *c, float *o, float *sink_mass, const float *work, int n_heads,
                          int head_dim, int n_splits, kvb_error *e)
{
    int threads = (head_dim + 31) / 32 * 32;
    decode_combine_kernel<<<n_heads, threads, 0, c->stream>>>(o, sink_mass, work, head_dim, n_splits);
    return kvb_cu_launch(e, "attn_decode combine");
}

size_t kvb_cuda_decode_work_floats(int n_heads, int head_dim, int max_len)
{
    if (n_heads <= 0 || head_dim <= 0 || max_len <= 0) return 0;
    /* two launches' records (thin keys: kvb_cuda_attn_decode_thin) */
    return (size_t)n_heads * 2 * kvb_ad_records(max_len) * kvb_ad_rec(head_dim);
}

static int decode_shape_ok(int n_heads, int n_kv_heads, int head_dim, int max_len, kvb_error *e)
{
    KVB_CU_CHECK_ARG(n_heads > 0 && n_kv_heads > 0 && n_heads % n_kv_heads == 0 && head_dim > 0 &&
                         head_dim <= KVB_AD_DMAX && head_dim % 8 == 0 && max_len > 0,
                     e, "cuda: attn_decode: unsupported shape heads=%d kv_heads=%d head_dim=%d "
                        "max_len=%d (head_dim a multiple of 8, <= %d)",
                     n_heads, n_kv_heads, head_dim, max_len, KVB_AD_DMAX);
    KVB_CU_CHECK_ARG(n_heads / n_kv_heads <= KVB_AD_GMAX && n_kv_heads <= 65535, e,
                     "cuda: attn_decode: %d query heads per kv head (at most %d), %d kv heads",
                     n_heads / n_kv_heads, KVB_AD_GMAX, n_kv_heads);
    return 0;
}

/* One launch of the split kernel: `splits` records per query head at record split0 of n_rec.
 * Keys (and q) Dk wide, values D wide; len (device) or len_fixed tokens per kv head. */
typedef struct decode_seg {
    const float *q;
    const kvb_bf16 *k, *v;
    size_t k_hs, v_hs;
    const int32_t *len;
    int len_fixed, Dk;
} decode_seg;

static int launch_seg(kvb_cuda *c, float *work, const decode_seg *s, int H, int Hkv, int D,
                      int splits, int split0, int n_rec, int n_init, int n_recent, kvb_error *e)
{
    dim3 grid(splits, Hkv);
    /* 16-byte loads where every row starts 16-byte aligned */
    bool vec = s->k_hs % 8 == 0 && s->v_hs % 8 == 0 && s->Dk % 8 == 0 &&
               ((uintptr_t)s->k | (uintptr_t)s->v) % 16 == 0;
    (vec ? attn_decode_kernel<true> : attn_decode_kernel<false>)<<<grid, KVB_AD_THREADS, 0,
                                                                     c->stream>>>(
        work, s->q, as_bf(s->k), as_bf(s->v), s->k_hs, s->v_hs, s->len, s->len_fixed, H, Hkv, D,
        s->Dk, splits, split0, n_rec, n_init, n_recent, 1.f / sqrtf((float)D));
    return kvb_cu_launch(e, "attn_decode");
}

int kvb_cuda_attn_decode(kvb_cuda *c, float *o, const float *q, const kvb_bf16 *k,
                         const kvb_bf16 *v, size_t head_stride, const int32_t *len, int max_len,
                         int n_heads, int n_kv_heads, int head_dim, float *sink_mass, int n_init,
                         int n_recent, float *work, kvb_error *e)
{
    TRY(decode_shape_ok(n_heads, n_kv_heads, head_dim, max_len, e));
    KVB_CU_CHECK_ARG(n_init >= 0 && n_recent >= 0, e, "cuda: attn_decode: bad sink windows");
    const int splits = kvb_ad_splits(max_len);
    const decode_seg s = {q, k, v, head_stride, head_stride, len, 0, head_dim};
    TRY(launch_seg(c, work, &s, n_heads, n_kv_heads, head_dim, splits, 0, splits, n_init,
                   n_recent, e));
    return kvb_cu_decode_combine(c, o, sink_mass, work, n_heads, head_dim, splits, e);
}

/* q's kept channels per query head (zero-padded to cp), for the thin keys' scores. */
__global__ void thin_query_kernel(float *qt, const float *q, int D, int grp, int cp, int n_ch,
                                  const int32_t *ch)
{
    const int h = blockIdx.x, g = h / grp;
    for (int c = threadIdx.x; c < cp; c += blockDim.x)
        qt[(size_t)h * cp + c] = c < n_ch ? q[(size_t)h * D + ch[g * cp + c]] : 0.f;
}

int kvb_cuda_attn_decode_thin(kvb_cuda *c, float *o, const float *q, const kvb_thin_keys *t,
                              float *qt, const kvb_bf16 *k, size_t k_head_stride,
                              const kvb_bf16 *v, size_t v_head_stride, const int32_t *len,
                              int max_len, int n_heads, int n_kv_heads, int head_dim, float *work,
                              kvb_error *e)
{
    TRY(decode_shape_ok(n_heads, n_kv_heads, head_dim, max_len, e));
    const int cp = t->cp, n_thin = t->n_thin;
    KVB_CU_CHECK_ARG(cp > 0 && cp <= head_dim && cp % 8 == 0 && t->n_ch > cp - 8 &&
                         t->n_ch <= cp && n_thin > 0 && n_thin <= max_len,
                     e, "cuda: attn_decode: thin keys of %d channels in %d (a multiple of 8, <= "
                        "%d), %d rows", t->n_ch, cp, head_dim, n_thin);
    thin_query_kernel<<<n_heads, 64, 0, c->stream>>>(qt, q, head_dim, n_heads / n_kv_heads, cp,
                                                     t->n_ch, t->ch);
    TRY(kvb_cu_launch(e, "attn_decode: thin query"));
    const int S = kvb_ad_splits(max_len);
    const decode_seg thin = {qt, t->k, v, (size_t)n_thin * cp, v_head_stride, NULL, n_thin, cp};
    const decode_seg full = {q, k, v + (size_t)n_thin * head_dim, k_head_stride, v_head_stride,
                             len, 0, head_dim};
    TRY(launch_seg(c, work, &thin, n_heads, n_kv_heads, head_dim, S, 0, 2 * S, 0, 0, e));
    TRY(launch_seg(c, work, &full, n_heads, n_kv_heads, head_dim, S, S, 2 * S, 0, 0, e));
    return kvb_cu_decode_combine(c, o, NULL, work, n_heads, head_dim, 2 * S, e);
}

/* ---- gather of kept tokens ----------------------------------------------------------------- */
__global__ void gather_kv_kernel(__nv_bfloat16 *dst, size_t dhs, const __nv_bfloat16 *src, int n,
                                 int Hkv, int D, const int32_t *idx, int idx_stride,
                                 const int32_t *counts)
{
    const int t = blockIdx.x, g = blockIdx.y;
    if (counts && t >= counts[g]) return;
    const int j = idx[(size_t)g * idx_stride + t];
    if (j < 0 || j >= n) return;
    for (int d = threadIdx.x; d < D; d += blockDim.x)
        dst[g * dhs + (size_t)t * D + d] = src[((size_t)j * Hkv + g) * D + d];
}

int kvb_cuda_gather_kv(kvb_cuda *c, kvb_bf16 *dst, size_t dst_head_stride, const kvb_bf16 *src,
                       int n, int n_kv_heads, int head_dim, const int32_t *idx, int idx_stride,
                       int count, const int32_t *counts, kvb_error *e)
{
    KVB_CU_CHECK_ARG(n > 0 && n_kv_heads > 0 && n_kv_heads <= 65535 && head_dim > 0 && count >= 0 &&
                         idx_stride >= count && dst_head_stride >= (size_t)count * head_dim,
                     e, "cuda: gather_kv: bad shape n=%d kv_heads=%d head_dim=%d count=%d", n,
                     n_kv_heads, head_dim, count);
    if (count == 0) return 0;
    dim3 grid(count, n_kv_heads);
    gather_kv_kernel<<<grid, 128, 0, c->stream>>>(as_bf(dst), dst_head_stride, as_bf(src), n,
                                                  n_kv_heads, head_dim, idx, idx_stride, counts);
    return kvb_cu_launch(e, "gather_kv");
}
