/* lib/kvcache/ops.h: the token store's ops exported with the shapes the CUDA kernels share
 * (kernels/kvb_cuda.h: kvb_cuda_attn_decode, kvb_cuda_gather_kv): per-head lengths, head strides,
 * per-head index lists. They are what the CPU path of the compressing methods runs, and the oracle
 * of the kernel tests (tests/cuda/, through the bf16 adapters of kernels/cpu_ref.c): one
 * definition per op, as lib/model/ops.h for the forward pass. */
#ifndef KVB_KVCACHE_OPS_H
#define KVB_KVCACHE_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "kvcache/half.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Decode attention of one token over per-kv-head f16 caches. kv head g holds len[g] >= 1 tokens
 * at k + g * head_stride (rows of head_dim), v alike; query head h (q, o: n_heads rows of
 * head_dim, f32) reads kv head h / (n_heads / n_kv_heads). Every head is computed as the token
 * store computes it at decode (kvb_seq_attend: f32 scores of the f16 keys, 8 at a time, the
 * vectorized softmax, f32 sums of the f16 values in token order). sink_mass (n_heads, or NULL)
 * is SimLayerKV's decode score of each head, kvb_sel_simlayer_head of its probabilities: the mass
 * on the first n_init and the last n_recent tokens, overlap counted twice. work: max(len) +
 * head_dim floats. */
void kvb_kv_attn_decode_f16(float *o, const float *q, const kvb_half *k, const kvb_half *v,
                            size_t head_stride, const int32_t *len, int n_heads, int n_kv_heads,
                            int head_dim, float *sink_mass, int n_init, int n_recent, float *work);

/* The same with ThinK's thin keys first: kv head g's n_thin oldest tokens have keys of n_ch
 * channels (ch + g * n_ch, ascending) at kthin + g * n_thin * n_ch, its next len[g] full-width
 * keys at k + g * k_head_stride; values of all n_thin + len[g] tokens at v + g * v_head_stride.
 * As the token store attends (kvb_seq_attend: thin scores with q's kept channels, the full
 * head_dim's scale). work: n_thin + max(len) + head_dim floats. */
void kvb_kv_attn_decode_thin_f16(float *o, const float *q, const kvb_half *kthin, const int *ch,
                                 int n_ch, int n_thin, const kvb_half *k, size_t k_head_stride,
                                 const kvb_half *v, size_t v_head_stride, const int32_t *len,
                                 int n_heads, int n_kv_heads, int head_dim, float *work);

/* Converts (or copies) one row of n elements from src to dst. */
typedef void (*kvb_row_copy_fn)(void *dst, const void *src, int n);

/* The gather of kept tokens, one kv head: rows idx[0..m) of kv head g of a token-major K or V
 * (n, n_kv_heads, head_dim; src_size bytes per element) into dst rows 0..m-1 (head_dim elements
 * of dst_size bytes each), through copy. idx NULL: rows 0..m-1. An index outside [0, n) is
 * skipped and leaves its dst row untouched (the kernel's rule; the CPU path never passes one).
 * The fill of the token store after prefill (f32 -> f16, kvb_kv_fill) is this op. */
void kvb_kv_gather_rows(void *dst, size_t dst_size, const void *src, size_t src_size, int n,
                        int n_kv_heads, int head_dim, int g, const int32_t *idx, int m,
                        kvb_row_copy_fn copy);

#ifdef __cplusplus
}
#endif

#endif
