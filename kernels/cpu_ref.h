/* kernels/cpu_ref.h: the CPU side of the CUDA kernel tests (plain C11, host pointers).
 *
 * Each kvb_ref_<op> takes the arguments of kvb_cuda_<op> minus the context and the error, and
 * defines what the kernel must compute: tests/cuda/ compares the two on seeded random inputs.
 * One oracle per op: where lib/ computes the op on the CPU path (GEMM, RMSNorm, RoPE and its
 * frequencies, SwiGLU, bf16/fp16 conversions, prefill attention, KIVI quantization, dequantization
 * and attention, top-k, ZigZagKV mass counts, ThinK's channel magnitudes, decode attention and the
 * gather of kept tokens), kvb_ref_<op> is a bf16 adapter around that lib function
 * (lib/model/ops.h, lib/kvcache/ops.h, kivi_quant.h, store.h, select.h, half.h); the prefill
 * statistics twin has no lib function of its shape and defines the op in double. They return 0 or a negative KVB_E* code. */
#ifndef KVB_CPU_REF_H
#define KVB_CPU_REF_H

#include "kvb_cuda.h"
#include "kvcache/half.h" /* kvb_f2h / kvb_h2f: fp16 as the CPU cache rounds it (F16C, RNE) */
#include "model/ops.h"    /* kvb_bf16_to_f32 / kvb_f32_to_bf16 and the dense ops */

#ifdef __cplusplus
extern "C" {
#endif

int kvb_ref_gemm(void *y, int y_dtype, const kvb_bf16 *x, const kvb_bf16 *w, int n, int in, int out,
                 int accumulate);
int kvb_ref_rmsnorm(kvb_bf16 *o, const float *x, const kvb_bf16 *w, int n, int d, float eps);
int kvb_ref_rope(kvb_bf16 *o, int o_stride, const float *x, int x_stride, int n, int n_heads,
                 int head_dim, const int32_t *pos, const float *inv_freq);
int kvb_ref_swiglu(kvb_bf16 *o, const float *gate, const float *up, int stride, int n, int f);
int kvb_ref_to_bf16(kvb_bf16 *o, int o_stride, const float *x, int x_stride, int n, int d);

int kvb_ref_attn_prefill(kvb_bf16 *o, float *lse, const kvb_bf16 *q, const kvb_bf16 *k,
                         const kvb_bf16 *v, int n, int n_heads, int n_kv_heads, int head_dim);
int kvb_ref_attn_prefill_stats(const kvb_attn_stats *s, const float *lse, const kvb_bf16 *q,
                               const kvb_bf16 *k, int n, int n_heads, int n_kv_heads,
                               int head_dim);
int kvb_ref_channel_sqmean(float *out, const kvb_bf16 *x, int n, int row0, int n_heads,
                           int head_dim);
/* len is a host array here. The token store's f32 decode over an f16 cache (kvb_kv_attn_decode_f16):
 * K/V values beyond the f16 range are refused (KVB_EINVAL). */
int kvb_ref_attn_decode(float *o, const float *q, const kvb_bf16 *k, const kvb_bf16 *v,
                        size_t head_stride, const int32_t *len, int max_len, int n_heads,
                        int n_kv_heads, int head_dim, float *sink_mass, int n_init, int n_recent);

/* The same with ThinK's thin keys (kvb_cuda_attn_decode_thin's layout, host arrays):
 * kvb_kv_attn_decode_thin_f16. */
int kvb_ref_attn_decode_thin(float *o, const float *q, const kvb_bf16 *kt, const int32_t *ch,
                             int n_ch, int cp, int n_thin, const kvb_bf16 *k, size_t k_head_stride,
                             const kvb_bf16 *v, size_t v_head_stride, const int32_t *len,
                             int n_heads, int n_kv_heads, int head_dim);

/* idx and counts are host arrays here. */
int kvb_ref_gather_kv(kvb_bf16 *dst, size_t dst_head_stride, const kvb_bf16 *src, int n,
                      int n_kv_heads, int head_dim, const int32_t *idx, int idx_stride, int count,
                      const int32_t *counts);

int kvb_ref_kivi_quant_k(uint32_t *kq, kvb_f16 *ks, kvb_f16 *km, size_t kq_head_stride,
                         size_t ks_head_stride, const kvb_bf16 *x, size_t x_head_stride,
                         int x_tok_stride, int n_tokens, const kvb_kivi_fmt *f);
int kvb_ref_kivi_quant_v(uint32_t *vq, kvb_f16 *vs, kvb_f16 *vm, size_t vq_head_stride,
                         size_t vs_head_stride, const kvb_bf16 *x, size_t x_head_stride,
                         int x_tok_stride, int n_tokens, const kvb_kivi_fmt *f);
int kvb_ref_kivi_attn_decode(float *o, const float *q, const kvb_kivi_view *v,
                             const kvb_kivi_fmt *f, int n_heads);
/* Dequantized key / value of logical token j, head g, into out (head_dim floats). */
void kvb_ref_kivi_key(float *out, const kvb_kivi_view *v, const kvb_kivi_fmt *f, int g, int j);
void kvb_ref_kivi_value(float *out, const kvb_kivi_view *v, const kvb_kivi_fmt *f, int g, int j);
/* Shape rules shared by the kernel and the twin; 0 or KVB_EINVAL with the reason in msg. */
int kvb_kivi_fmt_check(const kvb_kivi_fmt *f, char *msg, size_t n);

/* Prefill of ids[0..n) from scratch with the driver's pipeline; logits of the last position. */
int kvb_ref_model_forward(const kvb_cuda_model_desc *d, const int32_t *ids, int n, float *logits);

int kvb_ref_topk(int32_t *idx, const float *x, int rows, int n, int ld, int k);
int kvb_ref_mass_count(int32_t *count, const float *x, int rows, int n, int ld, float tau);

#ifdef __cplusplus
}
#endif

#endif
