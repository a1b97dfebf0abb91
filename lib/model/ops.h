/* lib/model/ops.h: the ops of the CPU forward pass, exported one by one with the shapes the CUDA
 * kernels (kernels/) share. They are the CPU path itself and the oracle of every kernel test
 * (tests/cuda/, through the bf16 adapters of kernels/cpu_ref.c): one definition per op.
 * f32 in and out; bf16 storage goes through the two conversions. */
#ifndef KVB_MODEL_OPS_H
#define KVB_MODEL_OPS_H

#include <math.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

float kvb_bf16_to_f32(uint16_t h);
uint16_t kvb_f32_to_bf16(float f); /* round to nearest even; NaN stays NaN */

/* As transformers' LlamaRMSNorm on one row of n: x * rsqrt(mean(x^2) + eps) * w, in f32. */
void kvb_rmsnorm(float *o, const float *x, const float *w, int n, float eps);

/* RoPE inverse frequencies (head_dim/2) as the CPU forward uses them: the default frequencies as
 * transformers computes them in f32 (1 / theta^(2i/d)); llama3 scaling (factor > 0; 0 = none)
 * applied in double and rounded once to f32. */
void kvb_rope_inv_freq(float *inv_freq, int head_dim, double theta, double factor,
                       double low_freq_factor, double high_freq_factor, int original_max_pos);
/* cos/sin of position pos: the angle is the f32 product pos * inv_freq[i], as transformers. */
void kvb_rope_cos_sin(float *cosv, float *sinv, const float *inv_freq, int half, int pos);
/* HF rotate_half on n_heads rows of head_dim: pairs (i, i + head_dim/2), in place. */
void kvb_rope_rotate(float *x, int n_heads, int head_dim, const float *cosv, const float *sinv);

/* SwiGLU's activation: silu(gate) * up is kvb_silu(g) * u, in f32 */
static inline float kvb_silu(float x) { return x / (1.0f + expf(-x)); }

/* y (n, out) = x (n, in) W^T with W bf16 (out, in) row-major: the prefill GEMM of the CPU path
 * (bf16 rows widened exactly to f32, OpenBLAS sgemm, f32 accumulation). 0 or KVB_ENOMEM. */
int kvb_matmul_bf16(float *y, const float *x, const uint16_t *w, int n, int in, int out);

/* Causal prefill attention (GQA) of n tokens, as the CPU prefill computes it: q (n, n_heads *
 * head_dim), k, v (n, n_kv_heads * head_dim), rows after RoPE; o like q; lse (n_heads, n): the
 * natural log of the sum of exp of each query's scaled scores, or NULL. bf16 = 0: f32 (sgemm per
 * block of 64 queries; --weights f32 / gguf); bf16 = 1: Q, K, V and the probabilities rounded to
 * bf16, f32 accumulation, flash-attention tiling (--weights bf16 / gguf-q8; AVX-512 BF16, or its
 * scalar twin with the same roundings on other CPUs), head_dim a multiple of 32. One thread.
 * 0, KVB_EINVAL (shape) or KVB_ENOMEM. */
int kvb_attn_prefill(float *o, float *lse, const float *q, const float *k, const float *v, int n,
                     int n_heads, int n_kv_heads, int head_dim, int bf16);

#ifdef __cplusplus
}
#endif

#endif
