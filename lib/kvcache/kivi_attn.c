/* lib/kvcache/kivi_attn.c: decode attention on KIVI's packed codes (see kivi_quant.h), one
 * implementation per ISA with the same arithmetic: the scalar twin (the definition), AVX2+FMA (the
 * baseline every build runs) and AVX-512F (chosen at run time, like the bf16 GEMV).
 *
 * Keys are quantized per channel, so a block's scales and zero points fold into the query once
 * per block: score_t = sum_c (q_c s_c) code_ct + sum_c q_c m_c, with the block's tokens in the SIMD
 * lanes so that each code is unpacked once for every query head of the GQA group. The codes are
 * turned into floats in registers (shift, then mask and convert or a 16-entry table) and
 * multiplied by the folded query; 2-bit keys on AVX-512 skip the floats: a 16-entry table per
 * pair of channels holds qs_c c1 + qs_{c+1} c2 for every code pair, and one vpermps + vaddps per
 * 16 tokens replaces two FMAs (keys_lut2_avx512).
 * Values are quantized per token: out_d = sum_t (p_t s_tg) code_td + sum_t p_t m_tg, the first
 * sum over the codes in registers, the second per group (G channels), added once at the end; no
 * row is ever dequantized in memory. The softmax between them scales and exponentiates in one
 * pass after the max and leaves the division by the sum to the caller's output.
 * Why float and not 8-bit integer dot products (llama.cpp's q8 activations): rounding the folded
 * query or the probabilities to 8 bits would move scores by ~2^-9 relative, far outside the
 * fused-vs-dequantized tolerance the KIVI tests hold (tests/unit/test_kvcache_kivi.c); the float
 * sums differ from the scalar twin only in order.
 * Where the time goes (SmolLM2 shape, 8k tokens, AVX-512, Zen 4 at 3.5 GHz, per decode token):
 * 283M multiply-adds (keys and values alike), at one 16-lane FMA per cycle 2.5 ms per pass; the
 * values pass is bound there (12 FMAs per token and kv head), the keys' tables reach ~24 vector
 * ops per channel pair and 32 tokens (~2.6 ms), the 2.2M exponentials ~0.6 ms (docs/kvcache.md). */
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "core/simd.h"
#include "kvcache/kivi_quant.h"

/* Every head_dim the cache accepts (kvcache.c: <= 1024); groups are >= 8 channels. */
#define MAX_D 1024
#define MAX_GROUPS (MAX_D / 8)
/* query heads per kernel call (the register tile); larger GQA groups are done 4 at a time */
#define TILE_Q 4

/* ---- scalar twin ----------------------------------------------------------------------------- */

static void keys_scalar_block(const float *q, int nq, size_t q_stride, const uint32_t *words,
                              const kvb_half *scale, const kvb_half *mn, int G, int D, int bits,
                              float *out, size_t o_stride)
{
    const int wpc = G * bits / 32;
    for (int i = 0; i < nq; i++) {
        const float *qi = q + (size_t)i * q_stride;
        float *o = out + (size_t)i * o_stride, bias = 0.0f;
        for (int t = 0; t < G; t++)
            o[t] = 0.0f;
        for (int c = 0; c < D; c++) {
            const float qs = qi[c] * kvb_h2f(scale[c]);
            bias += qi[c] * kvb_h2f(mn[c]);
            for (int t = 0; t < G; t++)
                o[t] += qs * (float)kvb_kivi_code(words + (size_t)c * wpc, t, bits);
        }
        for (int t = 0; t < G; t++)
            o[t] += bias;
    }
}

static void keys_scalar(const float *q, int nq, size_t q_stride, const uint32_t *words,
                        const kvb_half *scale, const kvb_half *mn, int nb, int G, int D, int bits,
                        float *out, size_t o_stride)
{
    const size_t wpb = (size_t)D * G * bits / 32;
    for (int b = 0; b < nb; b++)
        keys_scalar_block(q, nq, q_stride, words + b * wpb, scale + (size_t)b * D,
                          mn + (size_t)b * D, G, D, bits, out + (size_t)b * G, o_stride);
}

static void values_scalar(const float *p, size_t p_stride, int nq, const uint32_t *words,
                          const kvb_half *scale, const kvb_half *mn, int n, int D, int G, int bits,
                          float *out, size_t o_stride)
{
    const int ng = D / G, wpt = D * bits / 32;
    for (int i = 0; i < nq; i++) {
        float *o = out + (size_t)i * o_stride, bias[MAX_GROUPS] = { 0 };
        for (int d = 0; d < D; d++)
            o[d] = 0.0f;
        for (int t = 0; t < n; t++) {
            const float pt = p[(size_t)i * p_stride + t];
            for (int g = 0; g < ng; g++) {
                const float w = pt * kvb_h2f(scale[(size_t)t * ng + g]);
                bias[g] += pt * kvb_h2f(mn[(size_t)t * ng + g]);
                for (int d = g * G; d < (g + 1) * G; d++)
                    o[d] += w * (float)kvb_kivi_code(words + (size_t)t * wpt, d, bits);
            }
        }
        for (int d = 0; d < D; d++)
            o[d] += bias[d / G];
    }
}

/* ---- AVX2 ------------------------------------------------------------------------------------ */

/* Codes [i0, i0 + 8) of a packed row (i0 % 8 == 0) as floats: one word holds 32/bits codes. */
static inline __attribute__((always_inline)) __m256 codes8(const uint32_t *row, int i0,
                                                           const int bits)
{
    const __m256i mask = _mm256_set1_epi32((1 << bits) - 1);
    __m256i sh;
    uint32_t w;
    if (bits == 2) {
        w = row[i0 >> 4];
        sh = (i0 & 8) ? _mm256_setr_epi32(16, 18, 20, 22, 24, 26, 28, 30)
                      : _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    } else {
        w = row[i0 >> 3];
        sh = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
    }
    return _mm256_cvtepi32_ps(
        _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)w), sh), mask));
}

/* The folded query of NQ heads for one key block: qs[i*D + c] = q_i[c] * s_c, bias[i] =
 * sum_c q_i[c] m_c (8 partial sums, then their sum). */
static inline __attribute__((always_inline)) void
fold_avx2(const float *q, size_t q_stride, const kvb_half *scale, const kvb_half *mn, int D,
          const int NQ, float *qs, float *bias)
{
    __m256 b[TILE_Q];
#pragma GCC unroll 4
    for (int i = 0; i < NQ; i++)
        b[i] = _mm256_setzero_ps();
    for (int c = 0; c < D; c += 8) {
        const __m256 s = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(scale + c)));
        const __m256 m = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(mn + c)));
#pragma GCC unroll 4
        for (int i = 0; i < NQ; i++) {
            const __m256 qv = _mm256_loadu_ps(q + (size_t)i * q_stride + c);
            _mm256_storeu_ps(qs + (size_t)i * D + c, _mm256_mul_ps(qv, s));
            b[i] = _mm256_fmadd_ps(qv, m, b[i]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < NQ; i++)
        bias[i] = kvb_hsum256_pairwise(b[i]);
}

/* Tokens [t0, t0 + 8 TV) of the block for NQ heads: TV x NQ accumulators in registers, one pass
 * over the channels. */
static inline __attribute__((always_inline)) void
keys_pass_avx2(const float *qs, const float *bias, const uint32_t *words, int wpc, int t0, int D,
               const int bits, const int NQ, const int TV, float *out, size_t o_stride)
{
    __m256 acc[TILE_Q][4];
#pragma GCC unroll 4
    for (int i = 0; i < NQ; i++)
#pragma GCC unroll 4
        for (int v = 0; v < TV; v++)
            acc[i][v] = _mm256_setzero_ps();
    for (int c = 0; c < D; c++) {
        const uint32_t *wc = words + (size_t)c * wpc;
        __m256 cv[4];
#pragma GCC unroll 4
        for (int v = 0; v < TV; v++)
            cv[v] = codes8(wc, t0 + 8 * v, bits);
#pragma GCC unroll 4
        for (int i = 0; i < NQ; i++) {
            const __m256 qb = _mm256_broadcast_ss(qs + (size_t)i * D + c);
#pragma GCC unroll 4
            for (int v = 0; v < TV; v++)
                acc[i][v] = _mm256_fmadd_ps(qb, cv[v], acc[i][v]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < NQ; i++)
#pragma GCC unroll 4
        for (int v = 0; v < TV; v++)
            _mm256_storeu_ps(out + (size_t)i * o_stride + t0 + 8 * v,
                             _mm256_add_ps(acc[i][v], _mm256_set1_ps(bias[i])));
}

static inline __attribute__((always_inline)) void
keys_avx2_t(const float *q, size_t q_stride, const uint32_t *words, const kvb_half *scale,
            const kvb_half *mn, int nb, int G, int D, const int bits, const int NQ, float *out,
            size_t o_stride)
{
    const size_t wpb = (size_t)D * G * bits / 32;
    for (int b = 0; b < nb; b++, words += wpb, scale += D, mn += D, out += G) {
        float qs[TILE_Q * MAX_D], bias[TILE_Q];
        fold_avx2(q, q_stride, scale, mn, D, NQ, qs, bias);
        const int wpc = G * bits / 32;
        /* 32 tokens per pass for 1-2 heads, 16 for 3-4: enough independent FMA chains, <= 12 acc */
        int t0 = 0;
        if (NQ <= 2)
            for (; t0 + 32 <= G; t0 += 32)
                keys_pass_avx2(qs, bias, words, wpc, t0, D, bits, NQ, 4, out, o_stride);
        for (; t0 + 16 <= G; t0 += 16)
            keys_pass_avx2(qs, bias, words, wpc, t0, D, bits, NQ, 2, out, o_stride);
        for (; t0 < G; t0 += 8)
            keys_pass_avx2(qs, bias, words, wpc, t0, D, bits, NQ, 1, out, o_stride);
    }
}

#define KEYS_CASES(fn, bits)                                                                       \
    switch (n) {                                                                                   \
    case 1: fn(q, q_stride, words, scale, mn, nb, G, D, bits, 1, out, o_stride); break;           \
    case 2: fn(q, q_stride, words, scale, mn, nb, G, D, bits, 2, out, o_stride); break;           \
    case 3: fn(q, q_stride, words, scale, mn, nb, G, D, bits, 3, out, o_stride); break;           \
    default: fn(q, q_stride, words, scale, mn, nb, G, D, bits, 4, out, o_stride); break;          \
    }

static void keys_avx2(const float *q, int nq, size_t q_stride, const uint32_t *words,
                      const kvb_half *scale, const kvb_half *mn, int nb, int G, int D, int bits,
                      float *out, size_t o_stride)
{
    for (int h = 0; h < nq; h += TILE_Q, q += TILE_Q * q_stride, out += TILE_Q * o_stride) {
        const int n = nq - h < TILE_Q ? nq - h : TILE_Q;
        if (bits == 2)
            KEYS_CASES(keys_avx2_t, 2)
        else
            KEYS_CASES(keys_avx2_t, 4)
    }
}

/* Values: tokens are taken VT at a time; their per-group weights w = p s are computed once and
 * used by every channel pass. */
#define VT 32

/* The weights of tokens [t0, t0 + nt) for NQ heads: w[(i VT + tt) ng + g] = p_i s, and the
 * zero-point sums bias[i ng + g] += p_i m (in token order). Any ng. */
static inline __attribute__((always_inline)) void
value_weights_any(const float *p, size_t p_stride, const kvb_half *scale, const kvb_half *mn,
                  int t0, int nt, int ng, const int NQ, float *w, float *bias)
{
    for (int tt = 0; tt < nt; tt++)
        for (int g = 0; g < ng; g++) {
            const size_t k = (size_t)(t0 + tt) * ng + g;
            const float s = kvb_h2f(scale[k]), m = kvb_h2f(mn[k]);
            for (int i = 0; i < NQ; i++) {
                const float pt = p[(size_t)i * p_stride + t0 + tt];
                w[((size_t)i * VT + tt) * ng + g] = pt * s;
                bias[i * ng + g] += pt * m;
            }
        }
}

/* The same for ng in {1, 2, 4, 8}, 8 (token, group) pairs at a time: the weights of a chunk are
 * laid out flat (token-major, as scale and mn), so a vector of 8 flat entries holds 8/ng tokens
 * and lane l always belongs to group l % ng; the zero-point sums are 8 partial sums per head
 * (bacc, lane l -> group l % ng), reduced by the caller. Tail chunks come zero-padded. */
static inline __attribute__((always_inline)) void
value_weights_pow2(const float *p, size_t p_stride, const kvb_half *scale, const kvb_half *mn,
                   int t0, int nt, int ng, const int NQ, float *w, __m256 *bacc)
{
    float pp[TILE_Q][VT];
    kvb_half sp[VT * 8], mp[VT * 8];
    const kvb_half *sc = scale + (size_t)t0 * ng, *mc = mn + (size_t)t0 * ng;
    if (nt < VT) { /* the last chunk: zero weights past n */
        memset(pp, 0, sizeof(pp));
        memset(sp, 0, sizeof(sp));
        memset(mp, 0, sizeof(mp));
#pragma GCC unroll 4
        for (int i = 0; i < NQ; i++)
            memcpy(pp[i], p + (size_t)i * p_stride + t0, sizeof(float) * (size_t)nt);
        memcpy(sp, sc, sizeof(kvb_half) * (size_t)nt * ng);
        memcpy(mp, mc, sizeof(kvb_half) * (size_t)nt * ng);
        sc = sp, mc = mp;
    } else
#pragma GCC unroll 4
        for (int i = 0; i < NQ; i++)
            memcpy(pp[i], p + (size_t)i * p_stride + t0, sizeof(float) * VT);
    const int sh = ng == 1 ? 0 : ng == 2 ? 1 : ng == 4 ? 2 : 3;
    const __m256i lane_tok = _mm256_srli_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), sh);
    for (int e = 0; e < VT * ng; e += 8) {
        const int tb = e >> sh; /* first token of these 8 entries */
        const __m256i idx = _mm256_add_epi32(lane_tok, _mm256_set1_epi32(tb & 7));
        const __m256 s = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(sc + e)));
        const __m256 m = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(mc + e)));
#pragma GCC unroll 4
        for (int i = 0; i < NQ; i++) {
            const __m256 pd = _mm256_permutevar8x32_ps(_mm256_loadu_ps(pp[i] + (tb & ~7)), idx);
            _mm256_storeu_ps(w + (size_t)i * VT * ng + e, _mm256_mul_ps(pd, s));
            bacc[i] = _mm256_fmadd_ps(pd, m, bacc[i]);
        }
    }
}

static inline int pow2_groups(int ng)
{
    return ng == 1 || ng == 2 || ng == 4 || ng == 8;
}

/* The zero-point sums of value_weights_pow2, per group. */
static inline void bias_reduce(const __m256 *bacc, int NQ, int ng, float *bias)
{
    for (int i = 0; i < NQ; i++) {
        float l[8];
        _mm256_storeu_ps(l, bacc[i]);
        for (int g = 0; g < ng; g++) {
            float b = 0.0f;
            for (int k = g; k < 8; k += ng)
                b += l[k];
            bias[i * ng + g] = b;
        }
    }
}

/* Channels [d0, d0 + 8 CW) of NQ heads over tokens [t0, t0 + nt), accumulated into out. */
static inline __attribute__((always_inline)) void
values_pass_avx2(const float *w, const uint32_t *words, int wpt, int t0, int nt, int d0, int ng,
                 int G, const int bits, const int NQ, const int CW, float *out, size_t o_stride)
{
    __m256 acc[TILE_Q][4];
    int gv[4];
#pragma GCC unroll 4
    for (int v = 0; v < CW; v++) {
        gv[v] = (d0 + 8 * v) / G;
#pragma GCC unroll 4
        for (int i = 0; i < NQ; i++)
            acc[i][v] = _mm256_loadu_ps(out + (size_t)i * o_stride + d0 + 8 * v);
    }
    for (int tt = 0; tt < nt; tt++) {
        const uint32_t *row = words + (size_t)(t0 + tt) * wpt;
        __m256 cv[4];
#pragma GCC unroll 4
        for (int v = 0; v < CW; v++)
            cv[v] = codes8(row, d0 + 8 * v, bits);
#pragma GCC unroll 4
        for (int i = 0; i < NQ; i++) {
            const float *wi = w + ((size_t)i * VT + tt) * ng;
#pragma GCC unroll 4
            for (int v = 0; v < CW; v++)
                acc[i][v] = _mm256_fmadd_ps(_mm256_broadcast_ss(wi + gv[v]), cv[v], acc[i][v]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < NQ; i++)
#pragma GCC unroll 4
        for (int v = 0; v < CW; v++)
            _mm256_storeu_ps(out + (size_t)i * o_stride + d0 + 8 * v, acc[i][v]);
}

static inline __attribute__((always_inline)) void
values_avx2_t(const float *p, size_t p_stride, const uint32_t *words, const kvb_half *scale,
              const kvb_half *mn, int n, int D, int G, const int bits, const int NQ, float *out,
              size_t o_stride)
{
    /* NQ x CW accumulators + CW codes + a broadcast + constants within 16 ymm registers */
    const int ng = D / G, wpt = D * bits / 32, CW = NQ <= 2 ? 4 : 2, vec = pow2_groups(ng);
    float w[TILE_Q * VT * MAX_GROUPS], bias[TILE_Q * MAX_GROUPS];
    __m256 bacc[TILE_Q];
    for (int i = 0; i < NQ; i++)
        bacc[i] = _mm256_setzero_ps();
    memset(bias, 0, sizeof(float) * (size_t)NQ * ng);
    for (int i = 0; i < NQ; i++)
        memset(out + (size_t)i * o_stride, 0, sizeof(float) * (size_t)D);
    for (int t0 = 0; t0 < n; t0 += VT) {
        const int nt = n - t0 < VT ? n - t0 : VT;
        if (vec)
            value_weights_pow2(p, p_stride, scale, mn, t0, nt, ng, NQ, w, bacc);
        else
            value_weights_any(p, p_stride, scale, mn, t0, nt, ng, NQ, w, bias);
        int d0 = 0;
        for (; d0 + 8 * CW <= D; d0 += 8 * CW)
            values_pass_avx2(w, words, wpt, t0, nt, d0, ng, G, bits, NQ, CW, out, o_stride);
        for (; d0 < D; d0 += 8)
            values_pass_avx2(w, words, wpt, t0, nt, d0, ng, G, bits, NQ, 1, out, o_stride);
    }
    if (vec)
        bias_reduce(bacc, NQ, ng, bias);
    for (int i = 0; i < NQ; i++)
        for (int d = 0; d < D; d++)
            out[(size_t)i * o_stride + d] += bias[i * ng + d / G];
}

#define VALUES_CASES(fn, bits)                                                                     \
    switch (n) {                                                                                   \
    case 1: fn(p, p_stride, words, scale, mn, nt, D, G, bits, 1, out, o_stride); break;           \
    case 2: fn(p, p_stride, words, scale, mn, nt, D, G, bits, 2, out, o_stride); break;           \
    case 3: fn(p, p_stride, words, scale, mn, nt, D, G, bits, 3, out, o_stride); break;           \
    default: fn(p, p_stride, words, scale, mn, nt, D, G, bits, 4, out, o_stride); break;          \
    }

static void values_avx2(const float *p, size_t p_stride, int nq, const uint32_t *words,
                        const kvb_half *scale, const kvb_half *mn, int nt, int D, int G, int bits,
                        float *out, size_t o_stride)
{
    for (int h = 0; h < nq; h += TILE_Q, p += TILE_Q * p_stride, out += TILE_Q * o_stride) {
        const int n = nq - h < TILE_Q ? nq - h : TILE_Q;
        if (bits == 2)
            VALUES_CASES(values_avx2_t, 2)
        else
            VALUES_CASES(values_avx2_t, 4)
    }
}

/* ---- AVX-512 ---------------------------------------------------------------------------------- */
/* The AVX2 kernels' loops with 16 lanes and 32 registers: more independent accumulators per
 * code unpacked (one 64-channel pass of values holds 4 heads x 4 vectors). Needs 16 | G (else
 * the AVX2 kernels run). */
#define AVX512 __attribute__((target("avx512f")))

/* Prefetch of the codes and metadata the AVX-512 passes read next: the streams change at every
 * kv head and the hardware prefetcher starts late on each (2-3% of the decode time measured). */
static inline void prefetch3(const void *codes, size_t code_bytes, const kvb_half *scale,
                             const kvb_half *mn, size_t meta_bytes)
{
    for (size_t o = 0; o < code_bytes; o += 64)
        _mm_prefetch((const char *)codes + o, _MM_HINT_T0);
    for (size_t o = 0; o < meta_bytes; o += 64) {
        _mm_prefetch((const char *)scale + o, _MM_HINT_T0);
        _mm_prefetch((const char *)mn + o, _MM_HINT_T0);
    }
}

/* Codes [i0, i0 + 16) of a packed row (i0 % 16 == 0) as floats: each lane shifted so that its
 * code is in its low bits, then a 16-entry table (vpermps reads the low 4 bits) gives the float.
 * 4 bits: the two words are broadcast as one 64-bit value, so lanes alternate between them: lane
 * 2k holds code i0 + k, lane 2k + 1 code i0 + 8 + k ("interleaved" order, undone by unweave16
 * once per pass instead of a permute per code vector). */
static inline AVX512 __attribute__((always_inline)) __m512 codes16(const uint32_t *row, int i0,
                                                                   const int bits)
{
    __m512i x, sh;
    __m512 lut;
    if (bits == 2) {
        x = _mm512_set1_epi32((int)row[i0 >> 4]);
        sh = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        lut = _mm512_setr_ps(0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3);
    } else {
        long long two;
        memcpy(&two, row + (i0 >> 3), sizeof(two));
        x = _mm512_set1_epi64(two);
        sh = _mm512_setr_epi32(0, 0, 4, 4, 8, 8, 12, 12, 16, 16, 20, 20, 24, 24, 28, 28);
        lut = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    }
    return _mm512_permutexvar_ps(_mm512_srlv_epi32(x, sh), lut);
}

/* The interleaved order of 4-bit codes16 back to natural order (2 bits: unchanged). */
static inline AVX512 __attribute__((always_inline)) __m512 unweave16(__m512 v, const int bits)
{
    if (bits == 2)
        return v;
    return _mm512_permutexvar_ps(
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15), v);
}

static inline AVX512 __attribute__((always_inline)) void
keys_pass_avx512(const float *qs, const float *bias, const uint32_t *words, int wpc, int t0, int D,
                 const int bits, const int NQ, const int TV, float *out, size_t o_stride)
{
    __m512 acc[TILE_Q][2];
#pragma GCC unroll 4
    for (int i = 0; i < NQ; i++)
#pragma GCC unroll 2
        for (int v = 0; v < TV; v++)
            acc[i][v] = _mm512_setzero_ps();
    for (int c = 0; c < D; c++) {
        const uint32_t *wc = words + (size_t)c * wpc;
        __m512 cv[2];
#pragma GCC unroll 2
        for (int v = 0; v < TV; v++)
            cv[v] = codes16(wc, t0 + 16 * v, bits);
#pragma GCC unroll 4
        for (int i = 0; i < NQ; i++) {
            const __m512 qb = _mm512_set1_ps(qs[(size_t)i * D + c]);
#pragma GCC unroll 2
            for (int v = 0; v < TV; v++)
                acc[i][v] = _mm512_fmadd_ps(qb, cv[v], acc[i][v]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < NQ; i++)
#pragma GCC unroll 2
        for (int v = 0; v < TV; v++)
            _mm512_storeu_ps(out + (size_t)i * o_stride + t0 + 16 * v,
                             _mm512_add_ps(unweave16(acc[i][v], bits), _mm512_set1_ps(bias[i])));
}

/* 16 fp16 values as floats. */
static inline AVX512 __attribute__((always_inline)) __m512 load_h16(const kvb_half *p)
{
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)p));
}

/* fold_avx2 on 16 lanes (D % 16 == 0). */
static inline AVX512 __attribute__((always_inline)) void
fold_avx512(const float *q, size_t q_stride, const kvb_half *scale, const kvb_half *mn, int D,
            const int NQ, float *qs, float *bias)
{
    __m512 b[TILE_Q];
#pragma GCC unroll 4
    for (int i = 0; i < NQ; i++)
        b[i] = _mm512_setzero_ps();
    for (int c = 0; c < D; c += 16) {
        const __m512 s = load_h16(scale + c), m = load_h16(mn + c);
#pragma GCC unroll 4
        for (int i = 0; i < NQ; i++) {
            const __m512 qv = _mm512_loadu_ps(q + (size_t)i * q_stride + c);
            _mm512_storeu_ps(qs + (size_t)i * D + c, _mm512_mul_ps(qv, s));
            b[i] = _mm512_fmadd_ps(qv, m, b[i]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < NQ; i++)
        bias[i] = _mm512_reduce_add_ps(b[i]);
}

/* 2-bit keys by table: for a pair of channels (c, c+1) a token's two codes (c1, c2) take 16
 * values, so qs_c c1 + qs_{c+1} c2 is a 16-entry table per head and pair (built once per pass of
 * up to 64 tokens) and one vpermps + vaddps per 16 tokens replaces two FMAs (they run beside the
 * FMA pipes on Zen 4). The index of token j has the code of c (bits 2j of its word, shifted down)
 * in bits 0-1 and that of c+1 (rotated right by 2j - 2) in bits 2-3, merged by one ternary-logic
 * select, or comes from x, the block's index words (lut2_index_words_g32); vpermps reads only
 * those 4 bits. Tokens [t0, t0 + 16 TV) of the block. */
static inline AVX512 __attribute__((always_inline)) void
keys_lut2_avx512(const float *qs, const float *bias, const uint32_t *words, int wpc, int t0, int D,
                 const int NQ, const int TV, const uint64_t *x, float *out, size_t o_stride)
{
    const __m512i sh64 = _mm512_setr_epi64(0, 4, 8, 12, 16, 20, 24, 28);
    const __m512 lo = _mm512_setr_ps(0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3);
    const __m512 hi = _mm512_setr_ps(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    const __m512i sh = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i rot = _mm512_setr_epi32(30, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                          28);
    const __m512i low2 = _mm512_set1_epi32(3);
    __m512 acc[TILE_Q][4];
#pragma GCC unroll 4
    for (int i = 0; i < NQ; i++)
#pragma GCC unroll 4
        for (int v = 0; v < TV; v++)
            acc[i][v] = _mm512_setzero_ps();
    for (int c = 0; c < D; c += 2) {
        const uint32_t *w0 = words + (size_t)c * wpc + (t0 >> 4), *w1 = w0 + wpc;
        __m512 tab[TILE_Q];
#pragma GCC unroll 4
        for (int i = 0; i < NQ; i++)
            tab[i] = _mm512_fmadd_ps(_mm512_set1_ps(qs[(size_t)i * D + c + 1]), hi,
                                     _mm512_mul_ps(_mm512_set1_ps(qs[(size_t)i * D + c]), lo));
#pragma GCC unroll 4
        for (int v = 0; v < TV; v++) {
            const __m512i idx =
                x ? _mm512_srlv_epi64(_mm512_set1_epi64((long long)x[c + v]), sh64)
                  : _mm512_ternarylogic_epi32(_mm512_srlv_epi32(_mm512_set1_epi32((int)w0[v]), sh),
                                              _mm512_rorv_epi32(_mm512_set1_epi32((int)w1[v]), rot),
                                              low2, 0xE4);
#pragma GCC unroll 4
            for (int i = 0; i < NQ; i++)
                acc[i][v] = _mm512_add_ps(acc[i][v], _mm512_permutexvar_ps(idx, tab[i]));
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < NQ; i++)
#pragma GCC unroll 4
        for (int v = 0; v < TV; v++)
            _mm512_storeu_ps(out + (size_t)i * o_stride + t0 + 16 * v,
                             _mm512_add_ps(acc[i][v], _mm512_set1_ps(bias[i])));
}

/* The token indices of keys_lut2_avx512 for a whole block of G = 32 (two words per channel), 8
 * (pair, half) words per 512-bit load of 8 channels, instead of three vector operations per pair
 * and half: x[c + h] (c even) holds in nibble m of its low half token 2m's index c1 + 4 c2 of
 * half h, in its high half token 2m + 1's; a 64-bit shift by 4m then leaves in dword lane j its
 * token's index in bits 0-3, the only bits vpermps reads. */
static inline AVX512 __attribute__((always_inline)) void
lut2_index_words_g32(const uint32_t *words, int D, uint64_t *x)
{
    const __m512i odd = _mm512_setr_epi64(1, 1, 3, 3, 5, 5, 7, 7);
    const __m512i low2 = _mm512_set1_epi32(0x33333333); /* bits 0-1 of every nibble */
    for (int c = 0; c < D; c += 8) {
        const __m512i a = _mm512_loadu_si512(words + 2 * c); /* qword k: channel c + k's 2 words */
        const __m512i b = _mm512_permutexvar_epi64(odd, a);   /* qword 2m: channel c + 2m + 1 */
        const __m512i ev = _mm512_ternarylogic_epi32(a, _mm512_slli_epi32(b, 2), low2, 0xE4);
        const __m512i od = _mm512_ternarylogic_epi32(_mm512_srli_epi32(a, 2), b, low2, 0xE4);
        _mm512_storeu_si512(x + c, _mm512_unpacklo_epi32(ev, od));
    }
}

static inline AVX512 __attribute__((always_inline)) void
keys_avx512_t(const float *q, size_t q_stride, const uint32_t *words, const kvb_half *scale,
              const kvb_half *mn, int nb, int G, int D, const int bits, const int NQ, float *out,
              size_t o_stride)
{
    const size_t wpb = (size_t)D * G * bits / 32;
    for (int b = 0; b < nb; b++, words += wpb, scale += D, mn += D, out += G) {
        float qs[TILE_Q * MAX_D], bias[TILE_Q];
        if (b + 4 < nb) /* 4 blocks ahead */
            prefetch3(words + 4 * wpb, wpb * sizeof(uint32_t), scale + 4 * D, mn + 4 * D,
                      (size_t)D * sizeof(kvb_half));
        if (D % 16)
            fold_avx2(q, q_stride, scale, mn, D, NQ, qs, bias);
        else
            fold_avx512(q, q_stride, scale, mn, D, NQ, qs, bias);
        const int wpc = G * bits / 32;
        int t0 = 0;
        if (bits == 2) { /* G % 16 == 0 */
            if (G == 32) {
                uint64_t x[MAX_D];
                lut2_index_words_g32(words, D, x);
                keys_lut2_avx512(qs, bias, words, wpc, 0, D, NQ, 2, x, out, o_stride);
                continue;
            }
            for (; t0 + 64 <= G; t0 += 64)
                keys_lut2_avx512(qs, bias, words, wpc, t0, D, NQ, 4, NULL, out, o_stride);
            for (; t0 + 32 <= G; t0 += 32)
                keys_lut2_avx512(qs, bias, words, wpc, t0, D, NQ, 2, NULL, out, o_stride);
            for (; t0 < G; t0 += 16)
                keys_lut2_avx512(qs, bias, words, wpc, t0, D, NQ, 1, NULL, out, o_stride);
            continue;
        }
        for (; t0 + 32 <= G; t0 += 32)
            keys_pass_avx512(qs, bias, words, wpc, t0, D, bits, NQ, 2, out, o_stride);
        for (; t0 + 16 <= G; t0 += 16)
            keys_pass_avx512(qs, bias, words, wpc, t0, D, bits, NQ, 1, out, o_stride);
        for (; t0 < G; t0 += 8) /* 4 bits, G % 16 == 8 */
            keys_pass_avx2(qs, bias, words, wpc, t0, D, bits, NQ, 1, out, o_stride);
    }
}

static AVX512 void keys_avx512(const float *q, int nq, size_t q_stride, const uint32_t *words,
                               const kvb_half *scale, const kvb_half *mn, int nb, int G, int D,
                               int bits, float *out, size_t o_stride)
{
    for (int h = 0; h < nq; h += TILE_Q, q += TILE_Q * q_stride, out += TILE_Q * o_stride) {
        const int n = nq - h < TILE_Q ? nq - h : TILE_Q;
        if (bits == 2)
            KEYS_CASES(keys_avx512_t, 2)
        else
            KEYS_CASES(keys_avx512_t, 4)
    }
}

/* Channels [d0, d0 + 16 CW) (inside groups: 16 | G) of NQ heads over tokens [t0, t0 + nt). */
static inline AVX512 __attribute__((always_inline)) void
values_pass_avx512(const float *w, const uint32_t *words, int wpt, int t0, int nt, int d0, int ng,
                   int G, const int bits, const int NQ, const int CW, float *out, size_t o_stride)
{
    __m512 acc[TILE_Q][4];
    int gv[4];
#pragma GCC unroll 4
    for (int v = 0; v < CW; v++) {
        gv[v] = (d0 + 16 * v) / G;
#pragma GCC unroll 4
        for (int i = 0; i < NQ; i++)
            acc[i][v] = _mm512_loadu_ps(out + (size_t)i * o_stride + d0 + 16 * v);
    }
    for (int tt = 0; tt < nt; tt++) {
        const uint32_t *row = words + (size_t)(t0 + tt) * wpt;
        __m512 cv[4];
#pragma GCC unroll 4
        for (int v = 0; v < CW; v++)
            cv[v] = codes16(row, d0 + 16 * v, bits);
#pragma GCC unroll 4
        for (int i = 0; i < NQ; i++) {
            const float *wi = w + ((size_t)i * VT + tt) * ng;
#pragma GCC unroll 4
            for (int v = 0; v < CW; v++)
                acc[i][v] = _mm512_fmadd_ps(_mm512_set1_ps(wi[gv[v]]), cv[v], acc[i][v]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < NQ; i++)
#pragma GCC unroll 4
        for (int v = 0; v < CW; v++)
            _mm512_storeu_ps(out + (size_t)i * o_stride + d0 + 16 * v, acc[i][v]);
}

/* value_weights_pow2 on 16 lanes for a whole chunk (nt = VT): the probabilities are read in place
 * (16 at a time, lane l taking token l >> log2(ng) of the vector's tokens), the zero-point sums
 * go to 16 partial sums per head (lane l -> group l % ng). */
static inline AVX512 __attribute__((always_inline)) void
value_weights_pow2_avx512(const float *p, size_t p_stride, const kvb_half *scale,
                          const kvb_half *mn, int t0, int ng, const int NQ, float *w, __m512 *bacc)
{
    const kvb_half *sc = scale + (size_t)t0 * ng, *mc = mn + (size_t)t0 * ng;
    const int sh = ng == 1 ? 0 : ng == 2 ? 1 : ng == 4 ? 2 : 3;
    const __m512i lane_tok = _mm512_srli_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), sh);
    for (int e = 0; e < VT * ng; e += 16) {
        const int tb = e >> sh; /* first token of these 16 entries */
        const __m512i idx = _mm512_add_epi32(lane_tok, _mm512_set1_epi32(tb & 15));
        const __m512 s = load_h16(sc + e), m = load_h16(mc + e);
#pragma GCC unroll 4
        for (int i = 0; i < NQ; i++) {
            const __m512 pd = _mm512_permutexvar_ps(
                idx, _mm512_loadu_ps(p + (size_t)i * p_stride + t0 + (tb & ~15)));
            _mm512_storeu_ps(w + (size_t)i * VT * ng + e, _mm512_mul_ps(pd, s));
            bacc[i] = _mm512_fmadd_ps(pd, m, bacc[i]);
        }
    }
}

static inline AVX512 __attribute__((always_inline)) void
values_avx512_t(const float *p, size_t p_stride, const uint32_t *words, const kvb_half *scale,
                const kvb_half *mn, int n, int D, int G, const int bits, const int NQ, float *out,
                size_t o_stride)
{
    const int ng = D / G, wpt = D * bits / 32, vec = pow2_groups(ng);
    float w[TILE_Q * VT * MAX_GROUPS], bias[TILE_Q * MAX_GROUPS];
    __m256 bacc[TILE_Q];
    __m512 bacc16[TILE_Q];
#pragma GCC unroll 4
    for (int i = 0; i < NQ; i++)
        bacc[i] = _mm256_setzero_ps(), bacc16[i] = _mm512_setzero_ps();
    memset(bias, 0, sizeof(float) * (size_t)NQ * ng);
    for (int i = 0; i < NQ; i++)
        memset(out + (size_t)i * o_stride, 0, sizeof(float) * (size_t)D);
    for (int t0 = 0; t0 < n; t0 += VT) {
        const int nt = n - t0 < VT ? n - t0 : VT;
        if (t0 + 3 * VT < n) /* 2 chunks ahead */
            prefetch3(words + (size_t)(t0 + 2 * VT) * wpt, (size_t)VT * wpt * sizeof(uint32_t),
                      scale + (size_t)(t0 + 2 * VT) * ng, mn + (size_t)(t0 + 2 * VT) * ng,
                      (size_t)VT * ng * sizeof(kvb_half));
        if (vec && nt == VT)
            value_weights_pow2_avx512(p, p_stride, scale, mn, t0, ng, NQ, w, bacc16);
        else if (vec)
            value_weights_pow2(p, p_stride, scale, mn, t0, nt, ng, NQ, w, bacc);
        else
            value_weights_any(p, p_stride, scale, mn, t0, nt, ng, NQ, w, bias);
        int d0 = 0;
        for (; d0 + 64 <= D; d0 += 64)
            values_pass_avx512(w, words, wpt, t0, nt, d0, ng, G, bits, NQ, 4, out, o_stride);
        for (; d0 < D; d0 += 16)
            values_pass_avx512(w, words, wpt, t0, nt, d0, ng, G, bits, NQ, 1, out, o_stride);
    }
    if (bits == 4) /* the passes accumulated in codes16's interleaved order */
        for (int i = 0; i < NQ; i++)
            for (int d0 = 0; d0 < D; d0 += 16) {
                float *o = out + (size_t)i * o_stride + d0;
                _mm512_storeu_ps(o, unweave16(_mm512_loadu_ps(o), bits));
            }
    if (vec) { /* lanes l and l + 8 of the 16-lane sums hold the same group (ng | 8) */
#pragma GCC unroll 4
        for (int i = 0; i < NQ; i++) {
            const __m512d b = _mm512_castps_pd(bacc16[i]);
            const __m256 lower = _mm256_castpd_ps(_mm512_castpd512_pd256(b));
            const __m256 upper = _mm256_castpd_ps(_mm512_extractf64x4_pd(b, 1));
            bacc[i] = _mm256_add_ps(bacc[i], _mm256_add_ps(lower, upper));
        }
        bias_reduce(bacc, NQ, ng, bias);
    }
    for (int i = 0; i < NQ; i++)
        for (int d = 0; d < D; d++)
            out[(size_t)i * o_stride + d] += bias[i * ng + d / G];
}

static AVX512 void values_avx512(const float *p, size_t p_stride, int nq, const uint32_t *words,
                                 const kvb_half *scale, const kvb_half *mn, int nt, int D, int G,
                                 int bits, float *out, size_t o_stride)
{
    if (G % 16) {
        values_avx2(p, p_stride, nq, words, scale, mn, nt, D, G, bits, out, o_stride);
        return;
    }
    for (int h = 0; h < nq; h += TILE_Q, p += TILE_Q * p_stride, out += TILE_Q * o_stride) {
        const int n = nq - h < TILE_Q ? nq - h : TILE_Q;
        if (bits == 2)
            VALUES_CASES(values_avx512_t, 2)
        else
            VALUES_CASES(values_avx512_t, 4)
    }
}

/* ---- softmax -------------------------------------------------------------------------------- */
/* One pass for the max, one for scale, exp and sum (the scale applied here, not by a pass of its
 * own; the normalization is left to the caller's output). Needs scale > 0. */

static float softmax_avx2(float *x, int n, float scale)
{
    const __m256 s = _mm256_set1_ps(scale), mx = _mm256_set1_ps(kvb_max_f32(x, n) * scale);
    __m256 acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 e = kvb_exp256(_mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), s), mx));
        _mm256_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    float sum = kvb_hsum256(acc);
    if (i < n) {
        float tail[8] = { 0 };
        memcpy(tail, x + i, sizeof(float) * (size_t)(n - i));
        const __m256 t = _mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(tail), s), mx);
        _mm256_storeu_ps(tail, kvb_exp256(t));
        for (int k = 0; k < n - i; k++)
            x[i + k] = tail[k], sum += tail[k];
    }
    return sum;
}

static AVX512 float softmax_avx512(float *x, int n, float scale)
{
    const __mmask16 tail = (__mmask16)((1u << (n % 16)) - 1u);
    const int full = n & ~15;
    __m512 m = _mm512_set1_ps(-__builtin_inff());
    for (int i = 0; i < full; i += 16)
        m = _mm512_max_ps(m, _mm512_loadu_ps(x + i));
    m = _mm512_max_ps(m, _mm512_mask_loadu_ps(m, tail, x + full));
    const __m512 s = _mm512_set1_ps(scale), mx = _mm512_set1_ps(_mm512_reduce_max_ps(m) * scale);
    __m512 acc = _mm512_setzero_ps();
    for (int i = 0; i < full; i += 16) {
        const __m512 e = kvb_exp512(_mm512_sub_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), s), mx));
        _mm512_storeu_ps(x + i, e);
        acc = _mm512_add_ps(acc, e);
    }
    if (tail) {
        const __m512 t = _mm512_sub_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(tail, x + full), s), mx);
        const __m512 e = kvb_exp512(t);
        _mm512_mask_storeu_ps(x + full, tail, e);
        acc = _mm512_mask_add_ps(acc, tail, acc, e);
    }
    return _mm512_reduce_add_ps(acc);
}

/* ---- the kernel tables ------------------------------------------------------------------------ */

const kvb_kivi_kernels kvb_kivi_scalar = { "scalar", keys_scalar, values_scalar, softmax_avx2 };
const kvb_kivi_kernels kvb_kivi_avx2 = { "avx2", keys_avx2, values_avx2, softmax_avx2 };
const kvb_kivi_kernels kvb_kivi_avx512 = { "avx512", keys_avx512, values_avx512, softmax_avx512 };

int kvb_kivi_has_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

const kvb_kivi_kernels *kvb_kivi_kernels_pick(const char *isa)
{
    if (isa && !strcmp(isa, "scalar"))
        return &kvb_kivi_scalar;
    if ((isa && !strcmp(isa, "avx2")) || !kvb_kivi_has_avx512())
        return &kvb_kivi_avx2;
    return &kvb_kivi_avx512;
}
