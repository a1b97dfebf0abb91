/* Decode GEMV for GGUF block weights (--weights gguf-q8): llama.cpp's integer arithmetic with a
 * finer activation scale. The activation vector is rounded to 8 bits with one scale per 4
 * elements (d_g = max|x_g| / 127, q = round(x / d_g), half to even), then each 32-weight block
 * meets it in integer multiply-adds (AVX2 vpmaddubsw + vpmaddwd leave one int32 lane per 4
 * elements, so each lane takes its own scale in the one f32 FMA per block).
 * Why 4 and not llama.cpp's 32 (Q8_0/Q8_1 blocks): a block's scale follows its largest element, so
 * one outlier coarsens 31 neighbours; with a scale per int32 lane the same instructions run and
 * SmolLM2's decode logits move 2.4-2.8x less from the exact path (RMS over the vocabulary;
 * tests/unit/test_model_forward.c holds it to llama.cpp's own error on the same steps).
 * Why integers at all: widening 4-bit codes to f32 costs more instructions per byte than the
 * memory system delivers, so the exact f32 kernel cannot reach the bandwidth floor.
 *   Q4_1 (f16 d, f16 m, 16 bytes of nibbles; low nibbles are elements 0..15):
 *     sum_j (q_j d + m) x_j  ~=  d sum_g d_g sum_{j in g} q_j qx_j  +  m sx,   sx = sum_g d_g sum qx
 *   Q8_0 (f16 d, 32 int8):  d sum_g d_g sum_{j in g} q_j qx_j
 * The scalar functions are the reference the AVX2 kernels must match (integer sums are exact, so
 * the two differ only by f32 summation order). */
#include "model_impl.h"

#include "core/simd.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define KVB_Q8_GROUP 4 /* activations per scale: one int32 lane of the integer dot */

/* one activation vector, quantized once per call into the calling thread's buffer */
typedef struct q8_act {
    int8_t q[KVB_Q8_MAX_COLS];
    float d[KVB_Q8_MAX_COLS / KVB_Q8_GROUP]; /* scale of each group of 4 */
    float s[KVB_Q8_MAX_COLS / 32];           /* sum of the rounded activations of each block of 32
                                                (sum_g d_g sum q), for Q4_1's offset term */
} q8_act;

static _Thread_local q8_act g_act;


/* ---- activation quantization -------------------------------------------------------------------- */
static void quantize_block_ref(const float *x, int8_t *q, float *d, float *s)
{
    float sum = 0;
    for (int g = 0; g < 32 / KVB_Q8_GROUP; g++) {
        const float *xg = x + g * KVB_Q8_GROUP;
        float amax = 0;
        for (int i = 0; i < KVB_Q8_GROUP; i++)
            amax = fmaxf(amax, fabsf(xg[i]));
        float dd = amax / 127.0f, id = dd != 0.0f ? 127.0f / amax : 0.0f;
        int gs = 0;
        for (int i = 0; i < KVB_Q8_GROUP; i++) {
            q[g * KVB_Q8_GROUP + i] = (int8_t)lrintf(xg[i] * id); /* half to even, as vcvtps2dq */
            gs += q[g * KVB_Q8_GROUP + i];
        }
        d[g] = dd;
        sum += dd * (float)gs;
    }
    *s = sum;
}

/* max |x| of each group of 4 (one 128-bit lane), broadcast over the group */
static inline __m256 group_amax(__m256 v)
{
    __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
    a = _mm256_max_ps(a, _mm256_permute_ps(a, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm256_max_ps(a, _mm256_permute_ps(a, _MM_SHUFFLE(1, 0, 3, 2)));
}

/* 8 elements: their codes (as int32) and, in *dg, the scale of their two groups (lanes 0 and 4) */
static inline __m256i quantize8(__m256 v, __m256 *dg, __m256 *xq)
{
    const __m256 zero = _mm256_setzero_ps();
    __m256 amax = group_amax(v);
    __m256 nz = _mm256_cmp_ps(amax, zero, _CMP_NEQ_OQ);
    __m256 id = _mm256_and_ps(nz, _mm256_div_ps(_mm256_set1_ps(127.0f), amax));
    *dg = _mm256_div_ps(amax, _mm256_set1_ps(127.0f));
    __m256i qi = _mm256_cvtps_epi32(_mm256_mul_ps(v, id));
    *xq = _mm256_mul_ps(_mm256_cvtepi32_ps(qi), *dg);
    return qi;
}

static void quantize_block_avx2(const float *x, int8_t *q, float *d, float *s)
{
    __m256 dg[4], xq[4];
    __m256i i0 = quantize8(_mm256_loadu_ps(x), &dg[0], &xq[0]);
    __m256i i1 = quantize8(_mm256_loadu_ps(x + 8), &dg[1], &xq[1]);
    __m256i i2 = quantize8(_mm256_loadu_ps(x + 16), &dg[2], &xq[2]);
    __m256i i3 = quantize8(_mm256_loadu_ps(x + 24), &dg[3], &xq[3]);
    for (int k = 0; k < 4; k++) { /* groups 2k and 2k + 1 */
        d[2 * k] = _mm256_cvtss_f32(dg[k]);
        d[2 * k + 1] = _mm_cvtss_f32(_mm256_extractf128_ps(dg[k], 1));
    }
    /* the scalar twin sums group by group: (((g0 + g1) + g2) + ...); the same order here keeps
     * the two bit-identical */
    float sum = 0;
    for (int k = 0; k < 4; k++) {
        float t[8];
        _mm256_storeu_ps(t, xq[k]);
        sum += ((t[0] + t[1]) + t[2]) + t[3];
        sum += ((t[4] + t[5]) + t[6]) + t[7];
    }
    *s = sum;
    /* packs interleave 128-bit lanes: the permute restores element order */
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)(void *)q, p);
}

static void quantize_act(const float *x, int n, int avx2)
{
    for (int b = 0; b < n / 32; b++)
        (avx2 ? quantize_block_avx2 : quantize_block_ref)(
            x + b * 32, g_act.q + b * 32, g_act.d + b * (32 / KVB_Q8_GROUP), g_act.s + b);
}

/* ---- scalar reference ----------------------------------------------------------------------------- */
/* sum over the 8 groups of one block: d_g * (exact integer dot of the group) */
static float groups_dot(const int8_t *w, const int8_t *q, const float *d)
{
    float acc = 0;
    for (int g = 0; g < 32 / KVB_Q8_GROUP; g++) {
        int sum = 0;
        for (int j = g * KVB_Q8_GROUP; j < (g + 1) * KVB_Q8_GROUP; j++)
            sum += w[j] * q[j];
        acc += d[g] * (float)sum;
    }
    return acc;
}

static float dot_q4_1_ref(const unsigned char *p, int nb)
{
    float acc = 0;
    for (int b = 0; b < nb; b++, p += 20) {
        int8_t w[32];
        for (int j = 0; j < 16; j++) {
            w[j] = (int8_t)(p[4 + j] & 0x0f);
            w[16 + j] = (int8_t)(p[4 + j] >> 4);
        }
        float gd = groups_dot(w, g_act.q + b * 32, g_act.d + b * (32 / KVB_Q8_GROUP));
        acc += kvb_f16_at(p) * gd + kvb_f16_at(p + 2) * g_act.s[b];
    }
    return acc;
}

static float dot_q8_0_ref(const unsigned char *p, int nb)
{
    float acc = 0;
    for (int b = 0; b < nb; b++, p += 34)
        acc += kvb_f16_at(p) * groups_dot((const int8_t *)(p + 2), g_act.q + b * 32,
                                          g_act.d + b * (32 / KVB_Q8_GROUP));
    return acc;
}

/* ---- AVX2 ------------------------------------------------------------------------------------------ */

/* 8 int32 lanes of sum(u8 a * s8 b) over 32 byte pairs; lane k holds bytes 4k..4k+3, i.e. the
 * activation group k of the block */
static inline __m256 dot_u8s8(__m256i a, __m256i b)
{
    __m256i p16 = _mm256_maddubs_epi16(a, b);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

static inline __m256i nibbles32(const unsigned char *p)
{
    __m128i raw = _mm_loadu_si128((const __m128i *)(const void *)p);
    return _mm256_and_si256(
        _mm256_inserti128_si256(_mm256_castsi128_si256(raw), _mm_srli_epi16(raw, 4), 1),
        _mm256_set1_epi8(0x0f));
}

static float dot_q4_1_avx2(const unsigned char *p, int nb)
{
    __m256 acc = _mm256_setzero_ps();
    float off = 0;
    for (int b = 0; b < nb; b++, p += 20) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)(g_act.q + b * 32));
        __m256 sc = _mm256_mul_ps(_mm256_set1_ps(kvb_f16_at(p)), _mm256_loadu_ps(g_act.d + b * 8));
        acc = _mm256_fmadd_ps(sc, dot_u8s8(nibbles32(p + 4), x), acc);
        off += kvb_f16_at(p + 2) * g_act.s[b];
    }
    return kvb_hsum256(acc) + off;
}

static float dot_q8_0_avx2(const unsigned char *p, int nb)
{
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++, p += 34) {
        __m256i w = _mm256_loadu_si256((const __m256i *)(const void *)(p + 2));
        __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)(g_act.q + b * 32));
        /* vpmaddubsw wants one unsigned operand: |w| and x with w's sign moved onto it */
        __m256 sc = _mm256_mul_ps(_mm256_set1_ps(kvb_f16_at(p)), _mm256_loadu_ps(g_act.d + b * 8));
        acc = _mm256_fmadd_ps(sc, dot_u8s8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w)), acc);
    }
    return kvb_hsum256(acc);
}

/* ---- entry ----------------------------------------------------------------------------------------- */
int kvb_gemv_q8_supported(const kvb_wt *w)
{
    return (w->type == KVB_WT_Q4_1 || w->type == KVB_WT_Q8_0) && w->cols % 32 == 0 &&
           w->cols <= KVB_Q8_MAX_COLS;
}

static void gemv_q8(const kvb_wt *w, const float *x, float *y, int r0, int r1, int avx2)
{
    const int nb = w->cols / 32;
    const size_t rb = kvb_wt_row_bytes(w);
    quantize_act(x, w->cols, avx2);
    float (*dot)(const unsigned char *, int) =
        w->type == KVB_WT_Q4_1 ? (avx2 ? dot_q4_1_avx2 : dot_q4_1_ref)
                               : (avx2 ? dot_q8_0_avx2 : dot_q8_0_ref);
    const unsigned char *base = w->data;
    for (int r = r0; r < r1; r++)
        y[r] = dot(base + (size_t)r * rb, nb);
}

void kvb_gemv_q8_avx2(const kvb_wt *w, const float *x, float *y, int r0, int r1)
{
    gemv_q8(w, x, y, r0, r1, 1);
}

void kvb_gemv_q8_ref(const kvb_wt *w, const float *x, float *y, int r0, int r1)
{
    gemv_q8(w, x, y, r0, r1, 0);
}
