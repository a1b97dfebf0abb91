/* lib/kvcache/kivi_quant.c: KIVI quantization, packing and fused kernels (see kivi_quant.h). */
#include "kvcache/kivi_quant.h"

#include <math.h>
#include <string.h>

void kvb_f2h_row(kvb_half *dst, const float *src, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        dst[i] = kvb_f2h(src[i]);
}

void kvb_h2f_row(float *dst, const kvb_half *src, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++)
        dst[i] = kvb_h2f(src[i]);
}

/* ---- quantization ------------------------------------------------------------------------- */

void kvb_kivi_quant_group(const kvb_half *x, int n, int stride, int bits, uint8_t *codes,
                          kvb_half *scale, kvb_half *mn)
{
    float lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        const float v = kvb_h2f(x[(long)i * stride]);
        if (v < lo)
            lo = v;
        if (v > hi)
            hi = v;
    }
    const float max_int = (float)((1 << bits) - 1);
    const float s = kvb_round_h(kvb_round_h(hi - lo) / max_int);
    for (int i = 0; i < n; i++) {
        if (s == 0.0f) {
            codes[i] = 0;
            continue;
        }
        float d = kvb_round_h(kvb_round_h(kvb_h2f(x[(long)i * stride]) - lo) / s);
        d = d < 0.0f ? 0.0f : d > max_int ? max_int : d;
        codes[i] = (uint8_t)rintf(d); /* round half to even, as torch.round_ */
    }
    *scale = kvb_f2h(s);
    *mn = kvb_f2h(lo);
}

void kvb_kivi_pack(const uint8_t *codes, int n, int bits, uint32_t *words)
{
    const int per = 32 / bits;
    for (int w = 0; w < n / per; w++) {
        uint32_t acc = 0;
        for (int j = 0; j < per; j++)
            acc |= (uint32_t)codes[w * per + j] << (bits * j);
        words[w] = acc;
    }
}

void kvb_kivi_quant_keys(const kvb_half *k, int ld, int G, int D, int bits, uint32_t *words,
                         kvb_half *scale, kvb_half *mn)
{
    uint8_t codes[1024];
    const int wpc = G * bits / 32;
    for (int c = 0; c < D; c++) {
        kvb_kivi_quant_group(k + c, G, ld, bits, codes, &scale[c], &mn[c]);
        kvb_kivi_pack(codes, G, bits, words + (long)c * wpc);
    }
}

void kvb_kivi_quant_value(const kvb_half *v, int D, int G, int bits, uint32_t *words,
                          kvb_half *scale, kvb_half *mn)
{
    uint8_t codes[1024];
    for (int g = 0; g < D / G; g++)
        kvb_kivi_quant_group(v + g * G, G, 1, bits, codes + g * G, &scale[g], &mn[g]);
    kvb_kivi_pack(codes, D, bits, words);
}

/* ---- fused kernels ------------------------------------------------------------------------ */

/* Lane shifts that unpack 8 consecutive codes of `bits` bits from one 32-bit word: codes
 * [8*half, 8*half + 8) of the word. */
static inline __m256i lane_shifts(int bits, int half)
{
    const int b = bits, o = 8 * half * bits;
    return _mm256_setr_epi32(o, o + b, o + 2 * b, o + 3 * b, o + 4 * b, o + 5 * b, o + 6 * b,
                             o + 7 * b);
}

/* 8 codes of a word as floats */
static inline __m256 codes8(uint32_t w, __m256i sh, __m256i mask)
{
    return _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)w), sh), mask));
}

void kvb_kivi_key_scores_multi(const float *q, int nq, int q_stride, const uint32_t *words,
                               const kvb_half *scale, const kvb_half *mn, int G, int D, int bits,
                               float *out, size_t o_stride)
{
    const int wpc = G * bits / 32, per = 32 / bits;
    float bias[KVB_KIVI_MAX_MULTI] = { 0 };
    __m256 qs[KVB_KIVI_MAX_MULTI];
    for (int i = 0; i < nq; i++)
        for (int t = 0; t < G; t++)
            out[i * o_stride + t] = 0.0f;
    const __m256i vmask = _mm256_set1_epi32((int)((1u << bits) - 1u)), sh0 = lane_shifts(bits, 0),
                  sh1 = lane_shifts(bits, 1);
    for (int c = 0; c < D; c++) {
        const float sc = kvb_h2f(scale[c]), m = kvb_h2f(mn[c]);
        for (int i = 0; i < nq; i++) {
            const float qc = q[(size_t)i * q_stride + c];
            qs[i] = _mm256_set1_ps(qc * sc);
            bias[i] += qc * m;
        }
        const uint32_t *wc = words + (long)c * wpc;
        for (int w = 0; w < wpc; w++) {
            /* unpack once, use for every query head of the group (GQA) */
            const __m256 c0 = codes8(wc[w], sh0, vmask);
            const __m256 c1 = per == 16 ? codes8(wc[w], sh1, vmask) : c0;
            for (int i = 0; i < nq; i++) {
                float *o = out + i * o_stride + w * per;
                _mm256_storeu_ps(o, _mm256_fmadd_ps(qs[i], c0, _mm256_loadu_ps(o)));
                if (per == 16)
                    _mm256_storeu_ps(o + 8, _mm256_fmadd_ps(qs[i], c1, _mm256_loadu_ps(o + 8)));
            }
        }
    }
    for (int i = 0; i < nq; i++)
        for (int t = 0; t < G; t++)
            out[i * o_stride + t] += bias[i];
}

void kvb_kivi_key_scores(const float *q, const uint32_t *words, const kvb_half *scale,
                         const kvb_half *mn, int G, int D, int bits, float *out)
{
    kvb_kivi_key_scores_multi(q, 1, D, words, scale, mn, G, D, bits, out, (size_t)G);
}

void kvb_kivi_value_axpy_multi(const float *p, size_t p_stride, int nq, const uint32_t *words,
                               const kvb_half *scale, const kvb_half *mn, int D, int G, int bits,
                               float *out, int o_stride)
{
    const int per = 32 / bits;
    const __m256i vmask = _mm256_set1_epi32((int)((1u << bits) - 1u)), sh0 = lane_shifts(bits, 0),
                  sh1 = lane_shifts(bits, 1);
    __m256 ps[KVB_KIVI_MAX_MULTI], pm[KVB_KIVI_MAX_MULTI];
    /* groups of G >= 8 channels (G is a multiple of 32 / bits >= 8) */
    for (int g = 0; g < D / G; g++) {
        const float sc = kvb_h2f(scale[g]), m = kvb_h2f(mn[g]);
        for (int i = 0; i < nq; i++) {
            const float pi = p[i * p_stride];
            ps[i] = _mm256_set1_ps(pi * sc);
            pm[i] = _mm256_set1_ps(pi * m);
        }
        for (int d = g * G; d < (g + 1) * G; d += per) {
            const uint32_t x = words[d / per];
            const __m256 c0 = codes8(x, sh0, vmask);
            const __m256 c1 = per == 16 ? codes8(x, sh1, vmask) : c0;
            for (int i = 0; i < nq; i++) {
                float *o = out + (size_t)i * o_stride + d;
                _mm256_storeu_ps(o, _mm256_add_ps(_mm256_fmadd_ps(ps[i], c0, pm[i]),
                                                  _mm256_loadu_ps(o)));
                if (per == 16)
                    _mm256_storeu_ps(o + 8, _mm256_add_ps(_mm256_fmadd_ps(ps[i], c1, pm[i]),
                                                          _mm256_loadu_ps(o + 8)));
            }
        }
    }
}

void kvb_kivi_dequant_keys(const uint32_t *words, const kvb_half *scale, const kvb_half *mn, int G,
                           int D, int bits, float *k)
{
    const int wpc = G * bits / 32;
    for (int c = 0; c < D; c++)
        for (int t = 0; t < G; t++)
            k[(long)t * D + c] = (float)kvb_kivi_code(words + (long)c * wpc, t, bits) *
                                     kvb_h2f(scale[c]) + kvb_h2f(mn[c]);
}

void kvb_kivi_dequant_value(const uint32_t *words, const kvb_half *scale, const kvb_half *mn,
                            int D, int G, int bits, float *v)
{
    for (int d = 0; d < D; d++)
        v[d] = (float)kvb_kivi_code(words, d, bits) * kvb_h2f(scale[d / G]) + kvb_h2f(mn[d / G]);
}
