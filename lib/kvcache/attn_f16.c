/* lib/kvcache/attn_f16.c: f16 decode-attention kernels (see attn_f16.h). */
#include "kvcache/attn_f16.h"

#include <immintrin.h>
#include <stddef.h>

#include "core/simd.h"

/* Scores of query heads [0, G) against 8 consecutive K rows (f16), scaled: sc[g*n + t0 + j].
 * One accumulator per token, reduced together by a transpose-add, so no horizontal sum per token. */
static inline __m256 hsum8x8(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 a4, __m256 a5,
                             __m256 a6, __m256 a7)
{
    __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(a4, a5), _mm256_hadd_ps(a6, a7));
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

static void scores8(const uint16_t *k, int hd, const float *q, int G, float scale, float *sc,
                        int n)
{
    for (int g = 0; g < G; g++) {
        const float *qg = q + (size_t)g * hd;
        __m256 a[8];
        for (int j = 0; j < 8; j++)
            a[j] = _mm256_setzero_ps();
        for (int d = 0; d < hd; d += 8) {
            __m256 qv = _mm256_loadu_ps(qg + d);
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++)
                a[j] = _mm256_fmadd_ps(
                    qv, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(k + (size_t)j * hd + d))),
                    a[j]);
        }
        _mm256_storeu_ps(sc + (size_t)g * n,
                         _mm256_mul_ps(hsum8x8(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]),
                                       _mm256_set1_ps(scale)));
    }
}

/* out[g] += sum_t p[g*n + t] v_t over f16 V rows, `CW` vectors of head_dim at a time so that the
 * G x CW accumulators stay in registers (G and CW are constants after inlining). */
static inline __attribute__((always_inline)) void
values_f16(const uint16_t *v, int n, int hd, const float *p, const int G, const int CW, float *out)
{
    for (int d0 = 0; d0 < hd; d0 += 8 * CW) {
        __m256 acc[4][4];
#pragma GCC unroll 4
        for (int g = 0; g < G; g++)
#pragma GCC unroll 4
            for (int c = 0; c < CW; c++)
                acc[g][c] = _mm256_setzero_ps();
        for (int t = 0; t < n; t++) {
            const uint16_t *row = v + (size_t)t * hd + d0;
            __m256 w[4];
#pragma GCC unroll 4
            for (int g = 0; g < G; g++)
                w[g] = _mm256_broadcast_ss(p + (size_t)g * n + t);
#pragma GCC unroll 4
            for (int c = 0; c < CW; c++) {
                __m256 x = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(row + 8 * c)));
#pragma GCC unroll 4
                for (int g = 0; g < G; g++)
                    acc[g][c] = _mm256_fmadd_ps(w[g], x, acc[g][c]);
            }
        }
#pragma GCC unroll 4
        for (int g = 0; g < G; g++)
#pragma GCC unroll 4
            for (int c = 0; c < CW; c++)
                _mm256_storeu_ps(out + (size_t)g * hd + d0 + 8 * c, acc[g][c]);
    }
}

void kvb_f16_values(const uint16_t *v, int n, int hd, const float *p, int G, float *out)
{
    switch (G) {
    case 1: values_f16(v, n, hd, p, 1, 4, out); break;
    case 2: values_f16(v, n, hd, p, 2, 4, out); break;
    case 3: values_f16(v, n, hd, p, 3, 4, out); break;
    default: values_f16(v, n, hd, p, 4, 2, out); break;
    }
}

void kvb_f16_scores(const uint16_t *k, int n, int hd, const float *q, int G, float scale, float *sc)
{
    int t = 0;
    for (; t + 8 <= n; t += 8)
        scores8(k + (size_t)t * hd, hd, q, G, scale, sc + t, n);
    for (; t < n; t++) /* the last n % 8 rows: one at a time, same sum order */
        for (int g = 0; g < G; g++) {
            __m256 acc = _mm256_setzero_ps();
            for (int d = 0; d < hd; d += 8)
                acc = _mm256_fmadd_ps(
                    _mm256_loadu_ps(q + (size_t)g * hd + d),
                    _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(k + (size_t)t * hd + d))),
                    acc);
            sc[(size_t)g * n + t] = kvb_hsum256_pairwise(acc) * scale;
        }
}
