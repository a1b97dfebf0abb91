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
