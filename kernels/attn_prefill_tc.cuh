/* kernels/attn_prefill_tc.cuh: tensor-core version of the prefill attention, head_dim 64 or 128,
 * in the FlashAttention-2 layout: one block per (64-query tile, head), 4 warps, each warp owns 16
 * query rows end to end with everything in registers: its Q fragments (loaded once), the scores of
 * a 64-key tile (mma.sync m16n8k16 bf16, fp32 accumulators), the online softmax (row maxima by quad
 * shuffles, exp2 of pre-scaled scores), P converted in registers to the A operand of P.V (rounded
 * to bf16, as FlashAttention-2 does; the row sums stay fp32) and the fp32 O accumulators. K/V tiles
 * stream through shared memory with cp.async, double-buffered, rows padded by 16 bytes so that
 * ldmatrix is free of bank conflicts. Same contract and numerics class as the CUDA-core kernel of
 * attn_prefill.cu (the reference implementation and the fallback for other head sizes). */
#ifndef KVB_CUDA_ATTN_PREFILL_TC_CUH
#define KVB_CUDA_ATTN_PREFILL_TC_CUH
#include "common.cuh"

#define KVB_TC_BQ 64
#define KVB_TC_BK 64
#define KVB_TC_THREADS 128

/* Shared memory: Q tile, then two K and two V tiles, bf16, rows of D + 8 elements. */
template <int D> struct tc_layout {
    static constexpr int LD = D + 8;
    static constexpr size_t TILE = (size_t)KVB_TC_BK * LD; /* elements; BQ == BK */
    static constexpr size_t SMEM = 5 * TILE * 2;
};

int kvb_cu_attn_prefill_tc(kvb_cuda *c, kvb_bf16 *o, float *lse, const kvb_bf16 *q,
                           const kvb_bf16 *k, const kvb_bf16 *v, int n, int n_heads,
                           int n_kv_heads, int head_dim, kvb_error *e);
#endif
