/* kernels/attn_decode.cuh: split-K decode attention (flash-decoding) over ragged caches, and the
 * combine step shared with the KIVI kernel.
 *
 * One block per (split, kv head): a split is a contiguous range of the head's tokens (its length is
 * read on the device), walked in chunks of KVB_AD_CHUNK with an online softmax; the block reads
 * each K/V row once for all the query heads of its GQA group (<= KVB_AD_GMAX), so the cache is
 * streamed from memory once per step. Partial results per (query head, split) go to `work` as
 * [max, sum, sink, acc[head_dim]]; kvb_cu_decode_combine() merges them with the usual log-sum-exp
 * rescaling. The fused KIVI kernel (kivi.cu) uses the same records, one per KVB_KIVI_CHUNK tokens. */
#ifndef KVB_CUDA_ATTN_DECODE_CUH
#define KVB_CUDA_ATTN_DECODE_CUH
#include "common.cuh"

#define KVB_AD_CHUNK 64   /* tokens per step of a block's online softmax */
#define KVB_AD_SPLITS 64  /* at most this many blocks per kv head (x 8 kv heads: one wave) */
#define KVB_AD_THREADS 128
#define KVB_AD_GMAX 8     /* query heads per kv head handled by one block */
#define KVB_AD_DMAX 128
#define KVB_KIVI_CHUNK 256 /* tokens per block of the fused KIVI decode attention */

/* Floats per (query head, chunk) partial record. */
static inline int kvb_ad_rec(int head_dim) { return head_dim + 3; }
/* Splits (blocks per kv head) of a cache of up to max_len tokens: one per chunk up to
 * KVB_AD_SPLITS, then longer ranges per block. */
static inline int kvb_ad_splits(int max_len)
{
    int n = (int)kvb_cdiv(max_len, KVB_AD_CHUNK);
    return n < KVB_AD_SPLITS ? n : KVB_AD_SPLITS;
}
/* Records per query head the work buffer holds: enough for either kernel. */
static inline int kvb_ad_records(int max_len)
{
    int kivi = (int)kvb_cdiv(max_len, KVB_KIVI_CHUNK), ad = kvb_ad_splits(max_len);
    return kivi > ad ? kivi : ad;
}

int kvb_cu_decode_combine(kvb_cuda *c, float *o, float *sink_mass, const float *work, int n_heads,
                          int head_dim, int n_splits, kvb_error *e);
#endif
