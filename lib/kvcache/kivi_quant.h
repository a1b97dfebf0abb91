/* lib/kvcache/kivi_quant.h (private): KIVI asymmetric min-max quantization, bit packing and the
 * fused dequantize-and-multiply kernels used by decode attention.
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

/* Fused key scores over one key block: out[t] = sum_c q[c] * (code[c][t] * scale[c] + mn[c]),
 * computed as sum_c (q[c]*scale[c]) * code + sum_c q[c]*mn[c] without materialising keys. */
void kvb_kivi_key_scores(const float *q, const uint32_t *words, const kvb_half *scale,
                         const kvb_half *mn, int G, int D, int bits, float *out);
/* The key scores above, and the fused value accumulation out[d] += p * (code[d] * scale[d/G] +
 * mn[d/G]), for nq <= KVB_KIVI_MAX_MULTI query heads sharing the kv head (GQA): codes are
 * unpacked once. Head i reads q + i*q_stride, p[i*p_stride]; writes out + i*o_stride. */
#define KVB_KIVI_MAX_MULTI 16
void kvb_kivi_key_scores_multi(const float *q, int nq, int q_stride, const uint32_t *words,
                               const kvb_half *scale, const kvb_half *mn, int G, int D, int bits,
                               float *out, size_t o_stride);
void kvb_kivi_value_axpy_multi(const float *p, size_t p_stride, int nq, const uint32_t *words,
                               const kvb_half *scale, const kvb_half *mn, int D, int G, int bits,
                               float *out, int o_stride);

/* Dequantize (for tests and the dequantize-then-attend oracle). */
void kvb_kivi_dequant_keys(const uint32_t *words, const kvb_half *scale, const kvb_half *mn, int G,
                           int D, int bits, float *k /* (G, D) */);
void kvb_kivi_dequant_value(const uint32_t *words, const kvb_half *scale, const kvb_half *mn,
                            int D, int G, int bits, float *v /* (D) */);

#endif
