/* kernels/attn_decode.cuh: split-K decode attention (flash-decoding) over ragged caches, and the
 * combine step shared with the KIVI kernel.
 *
 * One block per (chunk of KVB_AD_CHUNK tokens, kv head): it reads each K/V row once for all the
 * query heads of its GQA group (<= KVB_AD_GMAX), so the cache is streamed from memory once per
 * step. Partial results per (query head, chunk) go to `work` as [max, sum, sink, acc[head_dim]];
 * kvb_cu_decode_combine() merges them with the usual log-sum-exp rescaling. */
#ifndef KVB_CUDA_ATTN_DECODE_CUH
#define KVB_CUDA_ATTN_DECODE_CUH
#include "common.cuh"

#define KVB_AD_CHUNK 64 /* small chunks: many blocks and short serial work even at 2k tokens */
#define KVB_AD_THREADS 128
#define KVB_AD_GMAX 8     /* query heads per kv head handled by one block */
#define KVB_AD_DMAX 128

/* Floats per (query head, chunk) partial record. */
static inline int kvb_ad_rec(int head_dim) { return head_dim + 3; }
static inline int kvb_ad_splits(int max_len) { return (int)kvb_cdiv(max_len, KVB_AD_CHUNK); }

/* len (per kv head, device) or NULL: see decode_combine_kernel; chunk: tokens per record. */
int kvb_cu_decode_combine(kvb_cuda *c, float *o, float *sink_mass, const float *work, int n_heads,
                          int head_dim, int n_splits, const int32_t *len, int grp, int chunk,
                          kvb_error *e);
#endif
