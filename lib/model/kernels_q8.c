/* Decode GEMV for GGUF block weights (--weights gguf) with llama.cpp's arithmetic: the activation
 * vector is quantized to 8 bits per block of 32 (scale d = max|x|/127, q = round(x/d)), then each
 * weight block meets it in integer multiply-adds (AVX2 vpmaddubsw) and one f32 FMA per block.
 * Why: widening 4-bit codes to f32 costs more instructions per byte than the memory system
 * delivers, so the f32 kernel could not reach the bandwidth floor; the integer path can.
 *   Q4_1 (f16 d, f16 m, 16 bytes of nibbles; low nibbles are elements 0..15):
 *     sum_j (q_j d + m) x_j  ~=  d dx sum_j q_j qx_j  +  m sx,   sx = dx sum_j qx_j
 *   Q8_0 (f16 d, 32 int8):  d dx sum_j q_j qx_j
 * The scalar functions are the reference the AVX2 kernels must match (integer sums are exact, so
 * the two differ only by f32 summation order across blocks). */
#include "model_impl.h"

#include "core/simd.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

/* one activation vector, quantized once per call into the calling thread's buffer */
typedef struct q8_act {
    int8_t q[KVB_Q8_MAX_COLS];
    float d[KVB_Q8_MAX_COLS / 32];
    float s[KVB_Q8_MAX_COLS / 32]; /* d * sum(q) per block, for Q4_1's offset term */
} q8_act;

static _Thread_local q8_act g_act;


/* ---- activation quantization -------------------------------------------------------------------- */
static void quantize_block_ref(const float *x, int8_t *q, float *d, float *s)
{
    float amax = 0;
    for (int i = 0; i < 32; i++)
        amax = fmaxf(amax, fabsf(x[i]));
    float dd = amax / 127.0f, id = dd != 0.0f ? 127.0f / amax : 0.0f;
    int sum = 0;
    for (int i = 0; i < 32; i++) {
        q[i] = (int8_t)lrintf(x[i] * id); /* round half to even, as vcvtps2dq */
        sum += q[i];
    }
    *d = dd;
    *s = dd * (float)sum;
}

static void quantize_block_avx2(const float *x, int8_t *q, float *d, float *s)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
    __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
    __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                             _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
    float amax = _mm_cvtss_f32(h);
    float dd = amax / 127.0f, id = dd != 0.0f ? 127.0f / amax : 0.0f;
    __m256 mul = _mm256_set1_ps(id);
    __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, mul)), i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, mul));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, mul)), i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, mul));
    __m256i sum = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
    t = _mm_hadd_epi32(t, t);
    t = _mm_hadd_epi32(t, t);
    /* packs interleave 128-bit lanes: the permute restores element order */
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)(void *)q, p);
    *d = dd;
    *s = dd * (float)_mm_cvtsi128_si32(t);
}

static void quantize_act(const float *x, int n, int avx2)
{
    for (int b = 0; b < n / 32; b++)
        (avx2 ? quantize_block_avx2 : quantize_block_ref)(x + b * 32, g_act.q + b * 32, g_act.d + b,
                                                          g_act.s + b);
}

/* ---- scalar reference ----------------------------------------------------------------------------- */
static float dot_q4_1_ref(const unsigned char *p, int nb)
{
    float acc = 0;
    for (int b = 0; b < nb; b++, p += 20) {
        const int8_t *q = g_act.q + b * 32;
        int sum = 0;
        for (int j = 0; j < 16; j++)
            sum += (p[4 + j] & 0x0f) * q[j] + (p[4 + j] >> 4) * q[16 + j];
        acc += kvb_f16_at(p) * g_act.d[b] * (float)sum + kvb_f16_at(p + 2) * g_act.s[b];
    }
    return acc;
}

static float dot_q8_0_ref(const unsigned char *p, int nb)
{
    float acc = 0;
    for (int b = 0; b < nb; b++, p += 34) {
        const int8_t *q = g_act.q + b * 32;
        int sum = 0;
        for (int j = 0; j < 32; j++)
            sum += (int8_t)p[2 + j] * q[j];
        acc += kvb_f16_at(p) * g_act.d[b] * (float)sum;
    }
    return acc;
}

/* ---- AVX2 ------------------------------------------------------------------------------------------ */

/* 8 int32 lanes of sum(u8 a * s8 b) over 32 byte pairs */
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
        acc = _mm256_fmadd_ps(_mm256_set1_ps(kvb_f16_at(p) * g_act.d[b]), dot_u8s8(nibbles32(p + 4), x), acc);
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
        acc = _mm256_fmadd_ps(_mm256_set1_ps(kvb_f16_at(p) * g_act.d[b]),
                              dot_u8s8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w)), acc);
    }
    return kvb_hsum256(acc);
}

/* ---- entry ----------------------------------------------------------------------------------------- */
int kvb_gemv_q8_supported(const kvb_wt *w)
{
    return (w->type == KVB_WT_Q4_1 || w->type == KVB_WT_Q8_0) && w->cols % 32 == 0 &&
           w->cols <= KVB_Q8_MAX_COLS;
}

void kvb_gemv_q8(const kvb_wt *w, const float *x, float *y, int r0, int r1, int avx2)
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
