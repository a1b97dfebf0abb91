/* lib/kvcache/kivi_quant.h (private): KIVI asymmetric min-max quantization, bit packing and the
 * packed-code kernels of decode attention (kivi_attn.c).
 * Spec: ../shared/specs/longbench-simlayerkv-kivi.md C.1 (formulas), C.2 (layouts).
 *
 * Arithmetic emulates the reference's fp16 tensor ops step by step (each op computed in fp32 and
 * rounded to fp16, as torch does for half tensors): scale = h(h(mx - mn) / (2^b - 1)),
 * code = rint(clamp(h(h(x - mn) / scale), 0, 2^b - 1)) (clamp, then round half-to-even), so the
 * codes, scales and zero points are bit-identical to numpy float16 running the same formula
 * (scripts/oracle/kvcache_fixtures.py). A constant group (scale 0) gets code 0 (the reference
 * divides by zero there). Dequantization: code * scale + mn in fp32.
 * Packing: 32/b codes per uint32, code j of a word at bits [b*j, b*j + b) (little end first).
 * Keys are quantized per channel over groups of G tokens, values per token over groups of G
 * channels. */
#ifndef KVB_KVCACHE_KIVI_QUANT_H
#define KVB_KVCACHE_KIVI_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "kvcache/half.h"

/* One group of n values x[i * stride]. codes[i] in [0, 2^bits). */
void kvb_kivi_quant_group(const kvb_half *x, int n, int stride, int bits, uint8_t *codes,
                          kvb_half *scale, kvb_half *mn);
/* n % (32 / bits) == 0 */
void kvb_kivi_pack(const uint8_t *codes, int n, int bits, uint32_t *words);
static inline unsigned kvb_kivi_code(const uint32_t *words, int i, int bits)
{
    const int per = 32 / bits;
    return (words[i / per] >> (bits * (i % per))) & ((1u << bits) - 1u);
}

/* Key block: G tokens (rows of D fp16, ld apart). Output per channel c: words[c*(G*bits/32) ...],
 * scale[c], mn[c]. */
void kvb_kivi_quant_keys(const kvb_half *k, int ld, int G, int D, int bits, uint32_t *words,
                         kvb_half *scale, kvb_half *mn);
/* One value token of D channels, groups of G channels: words[D*bits/32], scale[D/G], mn[D/G]. */
void kvb_kivi_quant_value(const kvb_half *v, int D, int G, int bits, uint32_t *words,
                          kvb_half *scale, kvb_half *mn);

/* ---- decode attention on the packed codes (kivi_attn.c) ------------------------------------ */
/* Key scores of nq query heads (head i at q + i*q_stride) over nb consecutive key blocks of G
 * tokens (block b: words + b*D*G*bits/32, scale/mn + b*D; token t of the blocks is b*G + t'):
 *   out[i*o_stride + t] = sum_c (q_i[c] * scale_b[c]) * code_b(c, t') + sum_c q_i[c] * mn_b[c],
 * i.e. q_i . dequantized key t, without materialising keys (scales folded into the query once
 * per block). */
typedef void kvb_kivi_keys_fn(const float *q, int nq, size_t q_stride, const uint32_t *words,
                              const kvb_half *scale, const kvb_half *mn, int nb, int G, int D,
                              int bits, float *out, size_t o_stride);
/* Values of nq heads over n quantized value tokens (rows of D*bits/32 words, scale/mn (n, D/G)):
 *   out[i*o_stride + d] = sum_t (p_i[t] * scale[t, d/G]) * code(t, d) + sum_t p_i[t] * mn[t, d/G]
 * with p_i[t] = p[i*p_stride + t]; out is overwritten. */
typedef void kvb_kivi_values_fn(const float *p, size_t p_stride, int nq, const uint32_t *words,
                                const kvb_half *scale, const kvb_half *mn, int n, int D, int G,
                                int bits, float *out, size_t o_stride);
/* The softmax of one head's raw scores x[0..n) (n > 0) at scale: x[t] = exp(x[t] scale - mx) with
 * mx = max_t x[t] scale (= max_t x[t] times scale: rounding is monotonic), the exp of core/simd.h
 * lane by lane; returns sum_t x[t], the normalization the caller applies to the output. */
typedef float kvb_kivi_softmax_fn(float *x, int n, float scale);
/* query heads a store attends in one call (scratch sizing); the kernels take any nq */
#define KVB_KIVI_MAX_MULTI 16
/* One implementation per ISA; all compute the formulas above in f32 and differ only in the order
 * of the sums (a test holds each SIMD one to its scalar twin within Higham's bound; the softmax's
 * exponentials are the same bits on every path). */
typedef struct kvb_kivi_kernels {
    const char *isa; /* "scalar", "avx2", "avx512" */
    kvb_kivi_keys_fn *keys;
    kvb_kivi_values_fn *values;
    kvb_kivi_softmax_fn *softmax; /* scalar and avx2: the same AVX2 code (the baseline) */
} kvb_kivi_kernels;
extern const kvb_kivi_kernels kvb_kivi_scalar, kvb_kivi_avx2, kvb_kivi_avx512;
/* The fastest this CPU runs, capped by isa ("scalar", "avx2"; NULL or another name: the best);
 * kvb_cache_create passes $KVBENCH_ISA (read once, never written). */
const kvb_kivi_kernels *kvb_kivi_kernels_pick(const char *isa);
/* Whether this CPU runs the AVX-512 kernels (AVX-512F). */
int kvb_kivi_has_avx512(void);

/* Dequantize (for tests and the dequantize-then-attend oracle). */
void kvb_kivi_dequant_keys(const uint32_t *words, const kvb_half *scale, const kvb_half *mn, int G,
                           int D, int bits, float *k /* (G, D) */);
void kvb_kivi_dequant_value(const uint32_t *words, const kvb_half *scale, const kvb_half *mn,
                            int D, int G, int bits, float *v /* (D) */);

#endif
