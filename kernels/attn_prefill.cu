/* kernels/attn_prefill.cu: causal GQA prefill attention (online softmax) + method statistics. */
#include "attn_prefill.cuh"
#include "attn_prefill_tc.cuh"

/* ---- forward ------------------------------------------------------------------------------- */
__global__ void __launch_bounds__(KVB_AP_THREADS)
attn_prefill_kernel(__nv_bfloat16 *o, float *lse, const __nv_bfloat16 *q, const __nv_bfloat16 *k,
                    const __nv_bfloat16 *v, int n, int H, int Hkv, int D, float scale)
{
    extern __shared__ float sm[];
    const int DP = KVB_AP_DP, BQ = KVB_AP_BQ, BK = KVB_AP_BK, PS = KVB_AP_BK + 1;
    float *sQ = sm, *sK = sQ + BQ * DP, *sV = sK + BK * DP, *sP = sV + BK * DP;
    const int h = blockIdx.y, g = h / (H / Hkv), q0 = blockIdx.x * BQ;
    const int tid = threadIdx.x, r = tid >> 2, sub = tid & 3, i = q0 + r;

    for (int idx = tid; idx < BQ * D; idx += blockDim.x) {
        int row = idx / D, d = idx % D, qi = q0 + row;
        sQ[row * DP + d] = qi < n ? kvb_bf2f(q[((size_t)qi * H + h) * D + d]) * scale : 0.f;
    }
    float acc[KVB_AP_DMAX / 4];
#pragma unroll
    for (int a = 0; a < KVB_AP_DMAX / 4; a++) acc[a] = 0.f;
    float m = -INFINITY, l = 0.f;
    const int kend = min(n, q0 + BQ); /* causal: no key beyond the tile's last query */

    for (int k0 = 0; k0 < kend; k0 += BK) {
        __syncthreads(); /* previous tile fully consumed (and sQ written, first time) */
        for (int idx = tid; idx < BK * D; idx += blockDim.x) {
            int jj = idx / D, d = idx % D, j = k0 + jj;
            bool ok = j < n;
            size_t at = ((size_t)j * Hkv + g) * D + d;
            sK[jj * DP + d] = ok ? kvb_bf2f(k[at]) : 0.f;
            sV[jj * DP + d] = ok ? kvb_bf2f(v[at]) : 0.f;
        }
        __syncthreads();
        float s[KVB_AP_BK / 4], mt = -INFINITY;
#pragma unroll
        for (int t = 0; t < BK / 4; t++) {
            int jj = sub + 4 * t, j = k0 + jj;
            float d = 0.f;
            for (int c = 0; c < D; c++) d += sQ[r * DP + c] * sK[jj * DP + c];
            s[t] = (j > i || j >= n) ? -INFINITY : d;
            mt = fmaxf(mt, s[t]);
        }
        mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, 1));
        mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, 2));
        float mnew = fmaxf(m, mt);
        /* A row with nothing visible yet (padding rows past n) keeps m = -inf: guard the exps. */
        float alpha = (m == -INFINITY) ? 0.f : expf(m - mnew), ls = 0.f;
#pragma unroll
        for (int t = 0; t < BK / 4; t++) {
            float p = (s[t] == -INFINITY) ? 0.f : expf(s[t] - mnew);
            ls += p;
            sP[r * PS + sub + 4 * t] = p;
        }
        ls += __shfl_xor_sync(0xffffffffu, ls, 1);
        ls += __shfl_xor_sync(0xffffffffu, ls, 2);
        l = l * alpha + ls;
        m = mnew;
        __syncwarp(); /* the 4 threads of a row are in one warp: their P is visible to each other */
#pragma unroll
        for (int a = 0; a < KVB_AP_DMAX / 4; a++) {
            int d = sub + 4 * a;
            if (d < D) {
                float sum = acc[a] * alpha;
                for (int jj = 0; jj < BK; jj++) sum += sP[r * PS + jj] * sV[jj * DP + d];
                acc[a] = sum;
            }
        }
    }
    if (i < n) {
        float inv = 1.f / l;
#pragma unroll
        for (int a = 0; a < KVB_AP_DMAX / 4; a++) {
            int d = sub + 4 * a;
            if (d < D) o[((size_t)i * H + h) * D + d] = kvb_f2bf(acc[a] * inv);
        }
        if (sub == 0) lse[(size_t)h * n + i] = m + logf(l);
    }
}

static int check_shape(int n, int H, int Hkv, int D, kvb_error *e, const char *what)
{
    KVB_CU_CHECK_ARG(n > 0 && H > 0 && Hkv > 0 && H % Hkv == 0 && D > 0 && D <= KVB_AP_DMAX, e,
                     "cuda: %s: unsupported shape n=%d heads=%d kv_heads=%d head_dim=%d "
                     "(need heads %% kv_heads == 0, head_dim <= %d)",
                     what, n, H, Hkv, D, KVB_AP_DMAX);
    KVB_CU_CHECK_ARG(H <= 65535, e, "cuda: %s: too many heads (%d)", what, H);
    return 0;
}

int kvb_cuda_attn_prefill(kvb_cuda *c, kvb_bf16 *o, float *lse, const kvb_bf16 *q,
                          const kvb_bf16 *k, const kvb_bf16 *v, int n, int n_heads, int n_kv_heads,
                          int head_dim, kvb_error *e)
{
    int rc = check_shape(n, n_heads, n_kv_heads, head_dim, e, "attn_prefill");
    if (rc) return rc;
    bool tc_shape = head_dim == 64 || head_dim == 128;
    if (c->attn_impl == KVB_ATTN_TENSOR_CORES || (c->attn_impl == KVB_ATTN_AUTO && tc_shape))
        return kvb_cu_attn_prefill_tc(c, o, lse, q, k, v, n, n_heads, n_kv_heads, head_dim, e);
    cudaError_t st = cudaFuncSetAttribute(attn_prefill_kernel,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize, KVB_AP_SMEM);
    if (st != cudaSuccess)
        return kvb_cu_err(e, KVB_EUNSUP, "cuda: attn_prefill: %d bytes of shared memory: %s",
                          (int)KVB_AP_SMEM, cudaGetErrorString(st));
    dim3 grid(kvb_cdiv(n, KVB_AP_BQ), n_heads);
    attn_prefill_kernel<<<grid, KVB_AP_THREADS, KVB_AP_SMEM, c->stream>>>(
        as_bf(o), lse, as_bf(q), as_bf(k), as_bf(v), n, n_heads, n_kv_heads, head_dim,
        1.f / sqrtf((float)head_dim));
    return kvb_cu_launch(e, "attn_prefill");
}

int kvb_cuda_set_attn_impl(kvb_cuda *c, int impl, kvb_error *e)
{
    KVB_CU_CHECK_ARG(impl == KVB_ATTN_AUTO || impl == KVB_ATTN_CUDA_CORES ||
                         impl == KVB_ATTN_TENSOR_CORES,
                     e, "cuda: unknown attention implementation %d", impl);
    c->attn_impl = impl;
    return 0;
}

/* ---- statistics ---------------------------------------------------------------------------- */
/* Thread (rr = tid / 8, cc = tid % 8) scores query row rr of each 32-row step against key columns
 * cc + 8t (t < 8) of the block's 64 keys; its 8 column partial sums stay in registers over the
 * whole walk and are reduced over the 32 row-threads at the end. */
__global__ void __launch_bounds__(KVB_AS_THREADS)
attn_stats_kernel(float *colsum, float *rows, float *sink, int row0, int n_init, int n_recent,
                  const float *lse, const __nv_bfloat16 *q, const __nv_bfloat16 *k, int n, int H,
                  int Hkv, int D, float scale)
{
    extern __shared__ float sm[];
    const int DP = KVB_AP_DP, BK = KVB_AS_BK, BQ = KVB_AS_BQ;
    float *sK = sm, *sQ = sK + BK * DP, *sL = sQ + BQ * DP;
    const int h = blockIdx.y, g = h / (H / Hkv), j0 = blockIdx.x * BK, nw = n - row0;
    const int tid = threadIdx.x, rr = tid >> 3, cc = tid & 7;

    for (int idx = tid; idx < BK * D; idx += blockDim.x) {
        int jj = idx / D, d = idx % D, j = j0 + jj;
        sK[jj * DP + d] = j < n ? kvb_bf2f(k[((size_t)j * Hkv + g) * D + d]) : 0.f;
    }
    float col[KVB_AS_BK / 8];
#pragma unroll
    for (int t = 0; t < BK / 8; t++) col[t] = 0.f;

    for (int i0 = max(row0, j0); i0 < n; i0 += BQ) { /* rows before j0 see none of these keys */
        __syncthreads();
        for (int idx = tid; idx < BQ * D; idx += blockDim.x) {
            int row = idx / D, d = idx % D, qi = i0 + row;
            sQ[row * DP + d] = qi < n ? kvb_bf2f(q[((size_t)qi * H + h) * D + d]) * scale : 0.f;
        }
        if (tid < BQ) sL[tid] = i0 + tid < n ? lse[(size_t)h * n + i0 + tid] : 0.f;
        __syncthreads();
        const int i = i0 + rr;
        float sk = 0.f;
#pragma unroll
        for (int t = 0; t < BK / 8; t++) {
            int jj = cc + 8 * t, j = j0 + jj;
            float p = 0.f;
            if (i < n && j <= i) {
                float d = 0.f;
                for (int c2 = 0; c2 < D; c2++) d += sQ[rr * DP + c2] * sK[jj * DP + c2];
                p = expf(d - sL[rr]);
                if (rows) rows[((size_t)h * nw + (i - row0)) * n + j] = p;
                if (j < n_init || (i - j > 0 && i - j <= n_recent)) sk += p;
            }
            col[t] += p;
        }
        if (sink) { /* the 8 threads of row rr are 8 consecutive lanes */
            sk += __shfl_xor_sync(0xffffffffu, sk, 1);
            sk += __shfl_xor_sync(0xffffffffu, sk, 2);
            sk += __shfl_xor_sync(0xffffffffu, sk, 4);
            if (cc == 0 && i < n && sk != 0.f) atomicAdd(&sink[(size_t)h * nw + (i - row0)], sk);
        }
    }
    if (!colsum) return;
    /* Reduce the column partials over the 32 row-threads: reuse sQ as a 32 x 64 table. */
    __syncthreads();
#pragma unroll
    for (int t = 0; t < BK / 8; t++) sQ[rr * BK + cc + 8 * t] = col[t];
    __syncthreads();
    if (tid < BK && j0 + tid < n) {
        float s = 0.f;
        for (int r2 = 0; r2 < BQ; r2++) s += sQ[r2 * BK + tid];
        colsum[(size_t)h * n + j0 + tid] = s;
    }
}

int kvb_cuda_attn_prefill_stats(kvb_cuda *c, const kvb_attn_stats *s, const float *lse,
                                const kvb_bf16 *q, const kvb_bf16 *k, int n, int n_heads,
                                int n_kv_heads, int head_dim, kvb_error *e)
{
    int rc = check_shape(n, n_heads, n_kv_heads, head_dim, e, "attn_prefill_stats");
    if (rc) return rc;
    KVB_CU_CHECK_ARG(s->row0 >= 0 && s->row0 < n, e,
                     "cuda: attn_prefill_stats: window start %d outside [0, %d)", s->row0, n);
    KVB_CU_CHECK_ARG(s->n_init >= 0 && s->n_recent >= 0, e,
                     "cuda: attn_prefill_stats: negative sink/recent window");
    if (!s->colsum && !s->rows && !s->sink_mass) return 0;
    size_t nw = (size_t)(n - s->row0);
    /* rows: entries above the diagonal are never visited, so zero them first; sink: atomics. */
    if (s->rows && (rc = kvb_cuda_memset0(c, s->rows, sizeof(float) * n_heads * nw * n, e)))
        return rc;
    if (s->sink_mass && (rc = kvb_cuda_memset0(c, s->sink_mass, sizeof(float) * n_heads * nw, e)))
        return rc;
    cudaError_t st = cudaFuncSetAttribute(attn_stats_kernel,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize, KVB_AS_SMEM);
    if (st != cudaSuccess)
        return kvb_cu_err(e, KVB_EUNSUP, "cuda: attn_prefill_stats: shared memory: %s",
                          cudaGetErrorString(st));
    dim3 grid(kvb_cdiv(n, KVB_AS_BK), n_heads);
    attn_stats_kernel<<<grid, KVB_AS_THREADS, KVB_AS_SMEM, c->stream>>>(
        s->colsum, s->rows, s->sink_mass, s->row0, s->n_init, s->n_recent, lse, as_bf(q),
        as_bf(k), n, n_heads, n_kv_heads, head_dim, 1.f / sqrtf((float)head_dim));
    return kvb_cu_launch(e, "attn_prefill_stats");
}

/* ---- channel magnitudes (ThinK) ------------------------------------------------------------ */
__global__ void channel_sqmean_kernel(float *out, const __nv_bfloat16 *x, int n, int row0, int H,
                                      int D)
{
    int idx = blockIdx.x * blockDim.x + threadIdx.x; /* (head, channel) */
    if (idx >= H * D) return;
    float s = 0.f;
    for (int t = row0; t < n; t++) {
        float a = kvb_bf2f(x[(size_t)t * H * D + idx]);
        s += a * a;
    }
    out[idx] = s / (float)(n - row0);
}

int kvb_cuda_channel_sqmean(kvb_cuda *c, float *out, const kvb_bf16 *x, int n, int row0,
                            int n_heads, int head_dim, kvb_error *e)
{
    KVB_CU_CHECK_ARG(n > 0 && row0 >= 0 && row0 < n && n_heads > 0 && head_dim > 0, e,
                     "cuda: channel_sqmean: bad shape n=%d row0=%d heads=%d head_dim=%d", n, row0,
                     n_heads, head_dim);
    channel_sqmean_kernel<<<kvb_cdiv((long)n_heads * head_dim, 128), 128, 0, c->stream>>>(
        out, as_bf(x), n, row0, n_heads, head_dim);
    return kvb_cu_launch(e, "channel_sqmean");
}
