/* kernels/attn_prefill_tc.cu: causal GQA prefill attention on tensor cores (see the .cuh).
 * Fragment layouts are PTX's for mma.m16n8k16 (bf16): lane l holds rows l/4 and l/4 + 8 of the
 * accumulator, columns 2(l%4) and 2(l%4) + 1 of each 8-column tile. */
#include "attn_prefill_tc.cuh"

__device__ __forceinline__ unsigned smem_addr(const void *p)
{
    return (unsigned)__cvta_generic_to_shared(p);
}

/* 16 bytes global -> shared; zero-filled when !ok (rows past the prompt). */
__device__ __forceinline__ void cp_async16(void *dst, const void *src, bool ok)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
                 "r"(ok ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait()
{
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void ldsm_x4(unsigned r[4], const void *p)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldsm_x4_t(unsigned r[4], const void *p)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}
/* c += a . b, 16x8x16, bf16 inputs, fp32 accumulators */
__device__ __forceinline__ void mma_bf16(float c[4], const unsigned a[4], unsigned b0, unsigned b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
                 "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ unsigned pack_bf16(float lo, float hi)
{
    __nv_bfloat162 p = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<unsigned *>(&p);
}

/* Rows [r0, r0 + 64) of one head of x (rows of `stride` elements) into a shared tile. */
template <int D>
__device__ __forceinline__ void load_tile(__nv_bfloat16 *dst, const __nv_bfloat16 *x, int r0, int n,
                                          size_t stride)
{
    constexpr int CH = D / 8; /* 16-byte chunks per row */
    for (int idx = threadIdx.x; idx < KVB_TC_BK * CH; idx += KVB_TC_THREADS) {
        int row = idx / CH, ch = idx % CH, r = r0 + row;
        bool ok = r < n;
        cp_async16(dst + row * tc_layout<D>::LD + ch * 8, x + (ok ? (size_t)r * stride : 0) + ch * 8,
                   ok);
    }
}

template <int D>
__global__ void __launch_bounds__(KVB_TC_THREADS)
attn_prefill_tc_kernel(__nv_bfloat16 *o, float *lse, const __nv_bfloat16 *q,
                       const __nv_bfloat16 *k, const __nv_bfloat16 *v, int n, int H, int Hkv,
                       float scale_log2)
{
    typedef tc_layout<D> Lo;
    constexpr int LD = Lo::LD, NT = KVB_TC_BK / 8, DT = D / 8;
    extern __shared__ __align__(128) unsigned char smraw[];
    __nv_bfloat16 *sQ = (__nv_bfloat16 *)smraw;
    __nv_bfloat16 *sK = sQ + Lo::TILE, *sV = sQ + 3 * Lo::TILE; /* two buffers each */
    /* the longest (last) query tiles first: causal work grows with the tile index */
    const int qt = gridDim.x - 1 - blockIdx.x, h = blockIdx.y, g = h / (H / Hkv);
    const int q0 = qt * KVB_TC_BQ, lane = threadIdx.x & 31, r0 = (threadIdx.x >> 5) * 16;
    const size_t qs = (size_t)H * D, ks = (size_t)Hkv * D;
    const __nv_bfloat16 *kh = k + (size_t)g * D, *vh = v + (size_t)g * D;

    load_tile<D>(sQ, q + (size_t)h * D, q0, n, qs);
    load_tile<D>(sK, kh, 0, n, ks);
    load_tile<D>(sV, vh, 0, n, ks);
    cp_async_commit();

    unsigned qf[D / 16][4];
    float acc[DT][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
#pragma unroll
    for (int j = 0; j < DT; j++) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;
    const int rowA = q0 + r0 + lane / 4, ntiles = (KVB_MIN(n, q0 + KVB_TC_BQ) + KVB_TC_BK - 1) / KVB_TC_BK;

    for (int t = 0; t < ntiles; t++) {
        const int k0 = t * KVB_TC_BK, buf = t & 1;
        if (t + 1 < ntiles) {
            load_tile<D>(sK + (buf ^ 1) * Lo::TILE, kh, k0 + KVB_TC_BK, n, ks);
            load_tile<D>(sV + (buf ^ 1) * Lo::TILE, vh, k0 + KVB_TC_BK, n, ks);
            cp_async_commit();
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        if (t == 0) {
#pragma unroll
            for (int kk = 0; kk < D / 16; kk++)
                ldsm_x4(qf[kk], sQ + (r0 + (lane & 7) + 8 * ((lane >> 3) & 1)) * LD + kk * 16 +
                                    8 * (lane >> 4));
        }
        const __nv_bfloat16 *tK = sK + buf * Lo::TILE, *tV = sV + buf * Lo::TILE;
        /* S = Q . K^T: 16 rows x 64 keys per warp */
        float s[NT][4];
#pragma unroll
        for (int j = 0; j < NT; j++) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) {
#pragma unroll
            for (int j = 0; j < NT; j += 2) {
                unsigned b[4];
                ldsm_x4(b, tK + (j * 8 + (lane & 7) + 8 * (lane >> 4)) * LD + kk * 16 +
                               8 * ((lane >> 3) & 1));
                mma_bf16(s[j], qf[kk], b[0], b[1]);
                mma_bf16(s[j + 1], qf[kk], b[2], b[3]);
            }
        }
        /* scale (log2 units), causal and length mask, online softmax of rows rowA, rowA + 8 */
        const bool edge = k0 + KVB_TC_BK > q0 || k0 + KVB_TC_BK > n;
        float mx[2] = {m[0], m[1]};
#pragma unroll
        for (int j = 0; j < NT; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int key = k0 + j * 8 + 2 * (lane & 3) + (e & 1), row = rowA + 8 * (e >> 1);
                float x = s[j][e] * scale_log2;
                if (edge && (key > row || key >= n)) x = -INFINITY;
                s[j][e] = x;
                mx[e >> 1] = fmaxf(mx[e >> 1], x);
            }
        float alpha[2];
#pragma unroll
        for (int r = 0; r < 2; r++) {
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
            alpha[r] = mx[r] == -INFINITY ? 1.f : exp2f(m[r] - mx[r]);
            m[r] = mx[r];
            l[r] *= alpha[r];
        }
#pragma unroll
        for (int j = 0; j < NT; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int r = e >> 1;
                float p = s[j][e] == -INFINITY ? 0.f : exp2f(s[j][e] - m[r]);
                s[j][e] = p;
                l[r] += p;
            }
#pragma unroll
        for (int j = 0; j < DT; j++) {
            acc[j][0] *= alpha[0], acc[j][1] *= alpha[0];
            acc[j][2] *= alpha[1], acc[j][3] *= alpha[1];
        }
        /* O += P . V: P's accumulator layout is the A operand's, two key tiles per k step */
#pragma unroll
        for (int kk = 0; kk < KVB_TC_BK / 16; kk++) {
            unsigned a[4] = {pack_bf16(s[2 * kk][0], s[2 * kk][1]), pack_bf16(s[2 * kk][2], s[2 * kk][3]),
                             pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                             pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
            for (int j = 0; j < DT; j += 2) {
                unsigned b[4];
                ldsm_x4_t(b, tV + (kk * 16 + (lane & 7) + 8 * ((lane >> 3) & 1)) * LD + j * 8 +
                                 8 * (lane >> 4));
                mma_bf16(acc[j], a, b[0], b[1]);
                mma_bf16(acc[j + 1], a, b[2], b[3]);
            }
        }
        __syncthreads(); /* every warp is done with this buffer before it is refilled */
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int row = rowA + 8 * r;
        if (row >= n) continue;
        const float inv = 1.f / l[r];
        __nv_bfloat16 *orow = o + ((size_t)row * H + h) * D + 2 * (lane & 3);
#pragma unroll
        for (int j = 0; j < DT; j++)
            *reinterpret_cast<__nv_bfloat162 *>(orow + j * 8) =
                __floats2bfloat162_rn(acc[j][2 * r] * inv, acc[j][2 * r + 1] * inv);
        if ((lane & 3) == 0) lse[(size_t)h * n + row] = m[r] * 0.69314718055994531f + logf(l[r]);
    }
}

template <int D>
static int launch(kvb_cuda *c, kvb_bf16 *o, float *lse, const kvb_bf16 *q, const kvb_bf16 *k,
                  const kvb_bf16 *v, int n, int H, int Hkv, kvb_error *e)
{
    const size_t smem = tc_layout<D>::SMEM;
    cudaError_t st = cudaFuncSetAttribute(attn_prefill_tc_kernel<D>,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (st != cudaSuccess)
        return kvb_cu_err(e, KVB_EUNSUP, "cuda: attn_prefill (tensor cores): %zu bytes of shared "
                          "memory: %s", smem, cudaGetErrorString(st));
    dim3 grid(kvb_cdiv(n, KVB_TC_BQ), H);
    attn_prefill_tc_kernel<D><<<grid, KVB_TC_THREADS, smem, c->stream>>>(
        as_bf(o), lse, as_bf(q), as_bf(k), as_bf(v), n, H, Hkv,
        1.4426950408889634f / sqrtf((float)D));
    return kvb_cu_launch(e, "attn_prefill (tensor cores)");
}

int kvb_cu_attn_prefill_tc(kvb_cuda *c, kvb_bf16 *o, float *lse, const kvb_bf16 *q,
                           const kvb_bf16 *k, const kvb_bf16 *v, int n, int n_heads,
                           int n_kv_heads, int head_dim, kvb_error *e)
{
    if (head_dim == 64) return launch<64>(c, o, lse, q, k, v, n, n_heads, n_kv_heads, e);
    if (head_dim == 128) return launch<128>(c, o, lse, q, k, v, n, n_heads, n_kv_heads, e);
    return kvb_cu_err(e, KVB_EUNSUP, "cuda: attn_prefill (tensor cores): head_dim %d (64 or 128)",
                      head_dim);
}
