/* kernels/attn_prefill_tc.cuh: tensor-core version of the prefill attention (bf16 WMMA 16x16x16,
 * fp32 accumulation), head_dim 64 or 128. Same contract and numerics class as the CUDA-core kernel
 * of attn_prefill.cu (which stays as the reference implementation and the fallback for other head
 * sizes): one block per (64-query tile, head), 4 warps, each warp owns 16 query rows end to end.
 * Per 64-key tile: S = Q.K^T with WMMA into shared memory; the owning warp applies the scale, the
 * causal mask and the online softmax to its rows (P rounded to bf16 for the next product, the row
 * sums kept in fp32, as FlashAttention-2 does); O (fp32, shared memory) is rescaled and
 * accumulated with WMMA P.V. Only the K/V tile loads need block-wide barriers. */
#ifndef KVB_CUDA_ATTN_PREFILL_TC_CUH
#define KVB_CUDA_ATTN_PREFILL_TC_CUH
#include "common.cuh"

#define KVB_TC_BQ 64
#define KVB_TC_BK 64
#define KVB_TC_THREADS 128

/* Padded leading dimensions (elements): multiples of 8 (bf16) / 4 (fp32) as WMMA requires, and
 * 16-row fragment offsets stay 32-byte aligned. */
template <int D> struct tc_layout {
    static constexpr int LDH = D + 8;             /* Q, K, V tiles, bf16 */
    static constexpr int LDP = KVB_TC_BK + 8;     /* P, bf16 */
    static constexpr int LDS = KVB_TC_BK + 4;     /* S, fp32 */
    static constexpr int LDO = D + 4;             /* O, fp32 */
    static constexpr size_t OFF_K = (size_t)KVB_TC_BQ * LDH * 2;
    static constexpr size_t OFF_V = OFF_K + (size_t)KVB_TC_BK * LDH * 2;
    static constexpr size_t OFF_P = OFF_V + (size_t)KVB_TC_BK * LDH * 2;
    static constexpr size_t OFF_S = OFF_P + (size_t)KVB_TC_BQ * LDP * 2;
    static constexpr size_t OFF_O = OFF_S + (size_t)KVB_TC_BQ * LDS * 4;
    static constexpr size_t OFF_ROW = OFF_O + (size_t)KVB_TC_BQ * LDO * 4;
    static constexpr size_t SMEM = OFF_ROW + 3 * KVB_TC_BQ * 4;
};

int kvb_cu_attn_prefill_tc(kvb_cuda *c, kvb_bf16 *o, float *lse, const kvb_bf16 *q,
                           const kvb_bf16 *k, const kvb_bf16 *v, int n, int n_heads,
                           int n_kv_heads, int head_dim, kvb_error *e);
#endif
