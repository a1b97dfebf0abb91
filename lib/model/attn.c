/* Prefill attention on bf16 inputs with f32 accumulation, tiled as flash attention: one work item
 * is one query block (KVB_FA_B queries) of the query heads that share a kv head (GQA), and it
 * reads each block of KVB_FA_B keys and values once for all of those rows. Scores, the online
 * softmax (running max and sum per row, output rescaled when the max grows) and the output stay
 * in f32; Q (with 1/sqrt(head_dim) folded in), K, V and the probabilities P enter the dot
 * products as bf16, whose products are exact in f32 (8 x 8 significand bits), so the only
 * roundings beyond an f32 attention are the four bf16 roundings. Error bound: attn_bound() in
 * tests/unit/test_model_attn.c, derived there.
 *
 * The AVX-512 BF16 kernel (vdpbf16ps: 16 lanes, each a pair of bf16 products added to an f32
 * accumulator) needs K packed 16 keys x 2 dims per vector and V 16 dims x 2 keys per vector
 * (kvb_fa_pack). kvb_fa_block_ref is its scalar twin: the same roundings, plain loops. */
#include "model_impl.h"
#include "simd512.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define KVB_FA_R 5 /* rows of one register tile: 5 x 4 accumulators + 4 loads of 32 registers
                   * (6 rows spill accumulators: the softmax's constants stay live; 10% slower) */

static inline uint16_t bf(float x) { return kvb_f32_to_bf16(x); }

int kvb_fa_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512bf16");
}

size_t kvb_fa_packed_elems(int n, int hd)
{
    return (size_t)((n + KVB_FA_B - 1) / KVB_FA_B * KVB_FA_B) * hd;
}

/* Keys [j0, j1) of one kv head into kp / vp (see kvb_fa_pack in model_impl.h); keys past n are
 * zeros, so a masked probability (0) never meets a NaN. j0, j1 multiples of KVB_FA_B or j1 = n. */
void kvb_fa_pack(uint16_t *kp, uint16_t *vp, const float *k, const float *v, int stride, int n,
                 int hd, int j0, int j1)
{
    int jend = (j1 + KVB_FA_B - 1) / KVB_FA_B * KVB_FA_B, half = hd / 2;
    for (int j = j0; j < jend; j++) {
        const float *kr = k + (size_t)j * stride, *vr = v + (size_t)j * stride;
        uint16_t *kd = kp + (size_t)(j / 16) * half * 32 + (j % 16) * 2;
        uint16_t *vd = vp + (size_t)(j / 2) * hd * 2 + (j % 2);
        for (int p = 0; p < half; p++) {
            kd[p * 32] = j < n ? bf(kr[2 * p]) : 0;
            kd[p * 32 + 1] = j < n ? bf(kr[2 * p + 1]) : 0;
        }
        for (int d = 0; d < hd; d++)
            vd[d * 2] = j < n ? bf(vr[d]) : 0;
    }
}

/* The rows of one work item as bf16, scaled: row g * rows + i is query r0 + i of head h0 + g. */
static void pack_q(const kvb_fa_item *t, uint16_t *qb)
{
    for (int g = 0; g < t->gn; g++)
        for (int i = 0; i < t->rows; i++) {
            const float *src = t->q + (size_t)i * t->q_stride + (size_t)g * t->hd;
            uint16_t *dst = qb + ((size_t)g * t->rows + i) * t->hd;
            for (int d = 0; d < t->hd; d++)
                dst[d] = bf(src[d] * t->scale);
        }
}

/* out = O / l per row, lse = m + log l (natural log of the scaled scores' sum of exp). */
static void finish(const kvb_fa_item *t, const float *O, const float *m, const float *l)
{
    for (int r = 0; r < t->gn * t->rows; r++) {
        int g = r / t->rows, i = r % t->rows;
        float inv = 1.0f / l[r], *dst = t->out + (size_t)i * t->out_stride + (size_t)g * t->hd;
        for (int d = 0; d < t->hd; d++)
            dst[d] = O[(size_t)r * t->hd + d] * inv;
        if (t->lse)
            t->lse[(size_t)g * t->lse_stride + i] = m[r] + logf(l[r]);
    }
}

/* ---- scalar twin ------------------------------------------------------------------------------------- */
void kvb_fa_block_ref(const kvb_fa_item *t, float *scratch)
{
    const int hd = t->hd, M = t->gn * t->rows, nk = t->r0 + t->rows, half = hd / 2;
    uint16_t *qb = (uint16_t *)(void *)scratch;
    float *O = scratch + (size_t)M * hd, *m = O + (size_t)M * hd, *l = m + M;
    pack_q(t, qb);
    memset(O, 0, sizeof(float) * (size_t)M * hd);
    for (int r = 0; r < M; r++)
        m[r] = -INFINITY, l[r] = 0;
    for (int j0 = 0; j0 < nk; j0 += KVB_FA_B) {
        for (int r = 0; r < M; r++) {
            int qpos = t->r0 + r % t->rows, valid = KVB_MIN(KVB_FA_B, qpos + 1 - j0);
            const uint16_t *q = qb + (size_t)r * hd;
            float s[KVB_FA_B], mx = m[r];
            for (int c = 0; c < valid; c++) {
                int j = j0 + c;
                const uint16_t *kk = t->kp + (size_t)(j / 16) * half * 32 + (j % 16) * 2;
                float a = 0;
                for (int p = 0; p < half; p++)
                    a += kvb_bf16_to_f32(q[2 * p]) * kvb_bf16_to_f32(kk[p * 32]) +
                         kvb_bf16_to_f32(q[2 * p + 1]) * kvb_bf16_to_f32(kk[p * 32 + 1]);
                s[c] = a;
                mx = fmaxf(mx, a);
            }
            float alpha = expf(m[r] - mx), sum = 0;
            float *o = O + (size_t)r * hd;
            for (int d = 0; d < hd; d++)
                o[d] *= alpha;
            for (int c = 0; c < valid; c++) {
                float p = kvb_bf16_to_f32(bf(expf(s[c] - mx)));
                const uint16_t *vv = t->vp + (size_t)((j0 + c) / 2) * hd * 2 + ((j0 + c) % 2);
                sum += p;
                for (int d = 0; d < hd; d++)
                    o[d] += p * kvb_bf16_to_f32(vv[d * 2]);
            }
            m[r] = mx;
            l[r] = l[r] * alpha + sum;
        }
    }
    finish(t, O, m, l);
}

/* ---- AVX-512 BF16 ------------------------------------------------------------------------------------ */
#define FA_TARGET KVB_AVX512_TARGET

/* bf16 -> f32 of 16 values */
FA_TARGET static inline __m512 widen(__m256i h)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* One register tile: rows [r, r + R) of the item against keys [j0, j0 + 64): scores, online
 * softmax, O += P V. R is a constant after inlining. */
FA_TARGET static inline __attribute__((always_inline)) void
tile(const kvb_fa_item *t, const uint16_t *qb, float *O, float *m, float *l, int r, int j0,
     const int R)
{
    const int hd = t->hd, half = hd / 2;
    const uint32_t *q32 = (const uint32_t *)(const void *)(qb + (size_t)r * hd);
    const uint16_t *kb = t->kp + (size_t)(j0 / 16) * half * 32;
    __m512 acc[KVB_FA_R][4];
    _Pragma("GCC unroll 8")
    for (int i = 0; i < R; i++)
        _Pragma("GCC unroll 8")
        for (int c = 0; c < 4; c++)
            acc[i][c] = _mm512_setzero_ps();
    for (int p = 0; p < half; p++) {
        __m512i k[4];
        _Pragma("GCC unroll 8")
        for (int c = 0; c < 4; c++)
            k[c] = _mm512_loadu_si512(kb + ((size_t)c * half + p) * 32);
        _Pragma("GCC unroll 8")
        for (int i = 0; i < R; i++) {
            __m512i qq = _mm512_set1_epi32((int)q32[(size_t)i * half + p]);
            _Pragma("GCC unroll 8")
            for (int c = 0; c < 4; c++)
                acc[i][c] = _mm512_dpbf16_ps(acc[i][c], (__m512bh)qq, (__m512bh)k[c]);
        }
    }
    /* online softmax; P of the tile as bf16 pairs (key 2k, 2k + 1) per 32-bit word */
    uint32_t P[KVB_FA_R][KVB_FA_B / 2];
    float alpha[KVB_FA_R];
    _Pragma("GCC unroll 8")
    for (int i = 0; i < R; i++) {
        int qpos = t->r0 + (r + i) % t->rows, valid = qpos + 1 - j0; /* >= 1 */
        __mmask16 mk[4];
        __m512 mx = _mm512_set1_ps(m[r + i]);
        _Pragma("GCC unroll 8")
        for (int c = 0; c < 4; c++) {
            int v = KVB_MIN(16, KVB_MAX(0, valid - 16 * c));
            mk[c] = (__mmask16)((1u << v) - 1);
            mx = _mm512_mask_max_ps(mx, mk[c], mx, acc[i][c]);
        }
        float mnew = _mm512_reduce_max_ps(mx);
        alpha[i] = expf(m[r + i] - mnew);
        m[r + i] = mnew;
        __m512 sum = _mm512_setzero_ps(), mm = _mm512_set1_ps(mnew);
        _Pragma("GCC unroll 8")
        for (int c = 0; c < 4; c += 2) {
            __m512 p0 = _mm512_maskz_mov_ps(mk[c], kvb_exp512(_mm512_sub_ps(acc[i][c], mm)));
            __m512 p1 = _mm512_maskz_mov_ps(mk[c + 1], kvb_exp512(_mm512_sub_ps(acc[i][c + 1], mm)));
            __m512i pb = (__m512i)_mm512_cvtne2ps_pbh(p1, p0); /* keys 32c/2 .. +31 in order */
            _mm512_storeu_si512(&P[i][c * 8], pb);
            sum = _mm512_add_ps(sum, widen(_mm512_castsi512_si256(pb)));
            sum = _mm512_add_ps(sum, widen(_mm512_extracti64x4_epi64(pb, 1)));
        }
        l[r + i] = l[r + i] * alpha[i] + _mm512_reduce_add_ps(sum);
    }
    /* O = alpha O + P V, 64 (or 32) dims at a time */
    const uint16_t *vb = t->vp + (size_t)(j0 / 2) * hd * 2;
    for (int d0 = 0; d0 < hd; d0 += 64) {
        const int ng = hd - d0 >= 64 ? 4 : 2;
        _Pragma("GCC unroll 8")
        for (int i = 0; i < R; i++) {
            __m512 a = _mm512_set1_ps(alpha[i]);
            _Pragma("GCC unroll 8")
            for (int g = 0; g < ng; g++)
                acc[i][g] = _mm512_mul_ps(a, _mm512_loadu_ps(O + (size_t)(r + i) * hd + d0 + 16 * g));
        }
        for (int kp = 0; kp < KVB_FA_B / 2; kp++) {
            __m512i v[4];
            _Pragma("GCC unroll 8")
            for (int g = 0; g < ng; g++)
                v[g] = _mm512_loadu_si512(vb + ((size_t)kp * hd + d0 + 16 * g) * 2);
            _Pragma("GCC unroll 8")
            for (int i = 0; i < R; i++) {
                __m512i pp = _mm512_set1_epi32((int)P[i][kp]);
                _Pragma("GCC unroll 8")
                for (int g = 0; g < ng; g++)
                    acc[i][g] = _mm512_dpbf16_ps(acc[i][g], (__m512bh)pp, (__m512bh)v[g]);
            }
        }
        _Pragma("GCC unroll 8")
        for (int i = 0; i < R; i++)
            _Pragma("GCC unroll 8")
            for (int g = 0; g < ng; g++)
                _mm512_storeu_ps(O + (size_t)(r + i) * hd + d0 + 16 * g, acc[i][g]);
    }
}

FA_TARGET void kvb_fa_block_avx512(const kvb_fa_item *t, float *scratch)
{
    const int hd = t->hd, M = t->gn * t->rows, nk = t->r0 + t->rows;
    uint16_t *qb = (uint16_t *)(void *)scratch;
    float *O = scratch + (size_t)M * hd, *m = O + (size_t)M * hd, *l = m + M;
    pack_q(t, qb);
    memset(O, 0, sizeof(float) * (size_t)M * hd);
    for (int r = 0; r < M; r++)
        m[r] = -INFINITY, l[r] = 0;
    /* every key block once for all rows: K and V of a block stay in L1 across the tiles */
    for (int j0 = 0; j0 < nk; j0 += KVB_FA_B) {
        int r = 0;
        for (; r + KVB_FA_R <= M; r += KVB_FA_R)
            tile(t, qb, O, m, l, r, j0, KVB_FA_R);
        switch (M - r) {
        case 4: tile(t, qb, O, m, l, r, j0, 4); break;
        case 3: tile(t, qb, O, m, l, r, j0, 3); break;
        case 2: tile(t, qb, O, m, l, r, j0, 2); break;
        case 1: tile(t, qb, O, m, l, r, j0, 1); break;
        default: break;
        }
    }
    finish(t, O, m, l);
}
