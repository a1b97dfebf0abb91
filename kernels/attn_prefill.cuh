/* kernels/attn_prefill.cuh: tiled causal prefill attention and its statistics pass.
 *
 * Forward: one block per (64-query tile, query head), 256 threads; 4 threads own one query row
 * (scores of every 4th key of a 32-key tile, and every 4th output channel), so the online-softmax
 * row state lives in registers and the row reductions are 2 shuffles. K/V tiles go through shared
 * memory in fp32 (rows padded by one float to avoid bank conflicts). fp32 CUDA-core math: this is
 * the correctness-first version; a tensor-core (mma.sync bf16) version would replace the two inner
 * loops with the same tiling.
 *
 * Statistics: one block per (64-key tile, query head) walks the query rows that can see its keys,
 * recomputes exp(s - lse) and accumulates column sums in registers: O(n^2 d) work, O(n) memory. */
#ifndef KVB_CUDA_ATTN_PREFILL_CUH
#define KVB_CUDA_ATTN_PREFILL_CUH
#include "common.cuh"

#define KVB_AP_DMAX 128   /* largest head_dim */
#define KVB_AP_BQ 64      /* query rows per block */
#define KVB_AP_BK 32      /* keys per tile */
#define KVB_AP_THREADS 256
#define KVB_AP_DP (KVB_AP_DMAX + 1)
#define KVB_AP_SMEM ((KVB_AP_BQ * KVB_AP_DP + 2 * KVB_AP_BK * KVB_AP_DP + KVB_AP_BQ * (KVB_AP_BK + 1)) * 4)

#define KVB_AS_BK 64      /* key columns per statistics block */
#define KVB_AS_BQ 32      /* query rows per step */
#define KVB_AS_THREADS 256
#define KVB_AS_SMEM ((KVB_AS_BK * KVB_AP_DP + KVB_AS_BQ * KVB_AP_DP + KVB_AS_BQ) * 4)
#endif
