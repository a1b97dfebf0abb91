/* kernels/attn_prefill_tc.cu: causal GQA prefill attention on tensor cores (see the .cuh). */
#include <mma.h>

#include "attn_prefill_tc.cuh"

using namespace nvcuda;

template <int D>
__global__ void __launch_bounds__(KVB_TC_THREADS)
attn_prefill_tc_kernel(__nv_bfloat16 *o, float *lse, const __nv_bfloat16 *q,
                       const __nv_bfloat16 *k, const __nv_bfloat16 *v, int n, int H, int Hkv,
                       float scale)
{
    typedef tc_layout<D> Lo;
    extern __shared__ __align__(128) unsigned char smraw[];
    __nv_bfloat16 *sQ = (__nv_bfloat16 *)smraw, *sK = (__nv_bfloat16 *)(smraw + Lo::OFF_K);
    __nv_bfloat16 *sV = (__nv_bfloat16 *)(smraw + Lo::OFF_V), *sP = (__nv_bfloat16 *)(smraw + Lo::OFF_P);
    float *sS = (float *)(smraw + Lo::OFF_S), *sO = (float *)(smraw + Lo::OFF_O);
    float *sM = (float *)(smraw + Lo::OFF_ROW), *sL = sM + KVB_TC_BQ, *sA = sL + KVB_TC_BQ;
    const int h = blockIdx.y, g = h / (H / Hkv), q0 = blockIdx.x * KVB_TC_BQ;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, r0 = warp * 16;

    for (int idx = tid; idx < KVB_TC_BQ * D; idx += blockDim.x) {
        int row = idx / D, d = idx % D, qi = q0 + row;
        sQ[row * Lo::LDH + d] = qi < n ? q[((size_t)qi * H + h) * D + d] : __float2bfloat16_rn(0.f);
        sO[row * Lo::LDO + d] = 0.f;
    }
    if (tid < KVB_TC_BQ) {
        sM[tid] = -INFINITY;
        sL[tid] = 0.f;
    }
    const int kend = min(n, q0 + KVB_TC_BQ);
    for (int k0 = 0; k0 < kend; k0 += KVB_TC_BK) {
        __syncthreads(); /* previous K/V tile consumed by every warp; Q/O/rows initialised */
        for (int idx = tid; idx < KVB_TC_BK * D; idx += blockDim.x) {
            int jj = idx / D, d = idx % D, j = k0 + jj;
            bool ok = j < n;
            size_t at = ((size_t)j * Hkv + g) * D + d;
            sK[jj * Lo::LDH + d] = ok ? k[at] : __float2bfloat16_rn(0.f);
            sV[jj * Lo::LDH + d] = ok ? v[at] : __float2bfloat16_rn(0.f);
        }
        __syncthreads();
        /* S(rows r0..r0+15, 64 keys) = Q.K^T */
        {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[KVB_TC_BK / 16];
#pragma unroll
            for (int j = 0; j < KVB_TC_BK / 16; j++) wmma::fill_fragment(acc[j], 0.f);
#pragma unroll
            for (int kk = 0; kk < D / 16; kk++) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
                wmma::load_matrix_sync(a, sQ + r0 * Lo::LDH + kk * 16, Lo::LDH);
#pragma unroll
                for (int j = 0; j < KVB_TC_BK / 16; j++) {
                    wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> b;
                    wmma::load_matrix_sync(b, sK + (j * 16) * Lo::LDH + kk * 16, Lo::LDH);
                    wmma::mma_sync(acc[j], a, b, acc[j]);
                }
            }
#pragma unroll
            for (int j = 0; j < KVB_TC_BK / 16; j++)
                wmma::store_matrix_sync(sS + r0 * Lo::LDS + j * 16, acc[j], Lo::LDS, wmma::mem_row_major);
        }
        __syncwarp();
        /* online softmax of the warp's 16 rows: each lane holds keys lane and lane + 32 */
        for (int rr = 0; rr < 16; rr++) {
            const int row = r0 + rr, i = q0 + row;
            float s0 = sS[row * Lo::LDS + lane] * scale, s1 = sS[row * Lo::LDS + lane + 32] * scale;
            const int j0 = k0 + lane, j1 = k0 + lane + 32;
            if (j0 > i || j0 >= n) s0 = -INFINITY;
            if (j1 > i || j1 >= n) s1 = -INFINITY;
            const float m = sM[row], mnew = fmaxf(m, warp_max(fmaxf(s0, s1)));
            const float alpha = (m == -INFINITY) ? 0.f : expf(m - mnew);
            const float p0 = s0 == -INFINITY ? 0.f : expf(s0 - mnew);
            const float p1 = s1 == -INFINITY ? 0.f : expf(s1 - mnew);
            const float ls = warp_sum(p0 + p1);
            sP[row * Lo::LDP + lane] = __float2bfloat16_rn(p0);
            sP[row * Lo::LDP + lane + 32] = __float2bfloat16_rn(p1);
            __syncwarp(); /* every lane has read sM[row] before lane 0 updates it */
            if (lane == 0) {
                sM[row] = mnew;
                sL[row] = sL[row] * alpha + ls;
                sA[row] = alpha;
            }
        }
        __syncwarp();
        for (int idx = lane; idx < 16 * D; idx += 32) {
            int row = r0 + idx / D, d = idx % D;
            sO[row * Lo::LDO + d] *= sA[row];
        }
        __syncwarp();
        /* O(rows) += P.V */
#pragma unroll
        for (int cc = 0; cc < D / 16; cc++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::load_matrix_sync(acc, sO + r0 * Lo::LDO + cc * 16, Lo::LDO, wmma::mem_row_major);
#pragma unroll
            for (int kk = 0; kk < KVB_TC_BK / 16; kk++) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> b;
                wmma::load_matrix_sync(a, sP + r0 * Lo::LDP + kk * 16, Lo::LDP);
                wmma::load_matrix_sync(b, sV + (kk * 16) * Lo::LDH + cc * 16, Lo::LDH);
                wmma::mma_sync(acc, a, b, acc);
            }
            wmma::store_matrix_sync(sO + r0 * Lo::LDO + cc * 16, acc, Lo::LDO, wmma::mem_row_major);
        }
        __syncwarp();
    }
    for (int idx = lane; idx < 16 * D; idx += 32) {
        int row = r0 + idx / D, d = idx % D, i = q0 + row;
        if (i < n) o[((size_t)i * H + h) * D + d] = kvb_f2bf(sO[row * Lo::LDO + d] / sL[row]);
    }
    if (lane < 16 && q0 + r0 + lane < n)
        lse[(size_t)h * n + q0 + r0 + lane] = sM[r0 + lane] + logf(sL[r0 + lane]);
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
        as_bf(o), lse, as_bf(q), as_bf(k), as_bf(v), n, H, Hkv, 1.f / sqrtf((float)D));
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
