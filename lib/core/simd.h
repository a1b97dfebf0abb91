/* Small AVX2 helpers shared by the model and cache kernels (header-only, inline). */
#ifndef KVB_SIMD_H
#define KVB_SIMD_H

#include <immintrin.h>

/* The constants of kvb_exp256, also used by wider copies of it (lib/kvcache/kivi_attn.c's 16-lane
 * softmax): input clamp, log2(e), ln 2 split in two (Cephes), degree-5 polynomial. */
#define KVB_EXP_CLAMP 88.3762626647949f
#define KVB_EXP_LOG2E 1.44269504088896341f
#define KVB_EXP_LN2_HI 0.693359375f
#define KVB_EXP_LN2_LO -2.12194440e-4f
#define KVB_EXP_P0 1.9875691500E-4f
#define KVB_EXP_P1 1.3981999507E-3f
#define KVB_EXP_P2 8.3334519073E-3f
#define KVB_EXP_P3 4.1665795894E-2f
#define KVB_EXP_P4 1.6666665459E-1f
#define KVB_EXP_P5 5.0000001201E-1f

/* exp(x) for 8 floats: Cephes-style range reduction + degree-5 polynomial, ~2 ulp; inputs are
 * clamped to [-88.37, 88.37] (softmax arguments are <= 0, so large negatives just go to ~0). */
static inline __m256 kvb_exp256(__m256 x)
{
    x = _mm256_min_ps(x, _mm256_set1_ps(KVB_EXP_CLAMP));
    x = _mm256_max_ps(x, _mm256_set1_ps(-KVB_EXP_CLAMP));
    __m256 fx = _mm256_fmadd_ps(x, _mm256_set1_ps(KVB_EXP_LOG2E), _mm256_set1_ps(0.5f));
    fx = _mm256_floor_ps(fx);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(KVB_EXP_LN2_HI), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(KVB_EXP_LN2_LO), x);
    __m256 y = _mm256_set1_ps(KVB_EXP_P0);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(KVB_EXP_P1));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(KVB_EXP_P2));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(KVB_EXP_P3));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(KVB_EXP_P4));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(KVB_EXP_P5));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

/* kvb_exp256 on 16 lanes: the same operations lane by lane, so the same bits. AVX-512F, compiled
 * by function attribute: only callers compiled for AVX-512F (a superset) call it. */
__attribute__((target("avx512f"), always_inline)) static inline __m512 kvb_exp512(__m512 x)
{
    x = _mm512_min_ps(x, _mm512_set1_ps(KVB_EXP_CLAMP));
    x = _mm512_max_ps(x, _mm512_set1_ps(-KVB_EXP_CLAMP));
    __m512 fx = _mm512_fmadd_ps(x, _mm512_set1_ps(KVB_EXP_LOG2E), _mm512_set1_ps(0.5f));
    fx = _mm512_roundscale_ps(fx, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(KVB_EXP_LN2_HI), x);
    x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(KVB_EXP_LN2_LO), x);
    __m512 y = _mm512_set1_ps(KVB_EXP_P0);
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(KVB_EXP_P1));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(KVB_EXP_P2));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(KVB_EXP_P3));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(KVB_EXP_P4));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(KVB_EXP_P5));
    y = _mm512_fmadd_ps(y, _mm512_mul_ps(x, x), _mm512_add_ps(x, _mm512_set1_ps(1.0f)));
    const __m512i e = _mm512_slli_epi32(
        _mm512_add_epi32(_mm512_cvttps_epi32(fx), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(y, _mm512_castsi512_ps(e));
}

static inline float kvb_hsum256(__m256 v)
{
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_shuffle_ps(a, a, 1));
    return _mm_cvtss_f32(a);
}

/* Horizontal sum in the order ((x0+x1)+(x2+x3)) + ((x4+x5)+(x6+x7)): the order of an 8x8
 * transpose-reduce (hadd tree), so one-row and eight-row attention kernels agree bit for bit. */
/* An f16 value at any (unaligned) address, as f32: the scales of GGUF blocks. */
static inline float kvb_f16_at(const void *p)
{
    unsigned short h;
    __builtin_memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

static inline float kvb_hsum256_pairwise(__m256 v)
{
    __m256 h = _mm256_hadd_ps(v, v);
    h = _mm256_hadd_ps(h, h);
    return _mm_cvtss_f32(_mm_add_ss(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
}

static inline float kvb_hmax256(__m256 v)
{
    __m128 a = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_max_ps(a, _mm_movehl_ps(a, a));
    a = _mm_max_ss(a, _mm_shuffle_ps(a, a, 1));
    return _mm_cvtss_f32(a);
}

/* In place: x[i] = exp(x[i] - mx) for i < n; returns the sum. */
static inline float kvb_exp_sub_sum(float *x, int n, float mx)
{
    __m256 m = _mm256_set1_ps(mx), acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = kvb_exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
        _mm256_storeu_ps(x + i, v);
        acc = _mm256_add_ps(acc, v);
    }
    float s = kvb_hsum256(acc);
    if (i < n) {
        float tail[8] = { 0 };
        int r = n - i;
        for (int k = 0; k < r; k++)
            tail[k] = x[i + k];
        __m256 v = kvb_exp256(_mm256_sub_ps(_mm256_loadu_ps(tail), m));
        _mm256_storeu_ps(tail, v);
        for (int k = 0; k < r; k++) {
            x[i + k] = tail[k];
            s += tail[k];
        }
    }
    return s;
}

/* In place: x[i] *= a for i < n. */
static inline void kvb_scale_f32(float *x, int n, float a)
{
    __m256 m = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), m));
    for (; i < n; i++)
        x[i] *= a;
}

static inline float kvb_max_f32(const float *x, int n)
{
    __m256 m = _mm256_set1_ps(-__builtin_inff());
    int i = 0;
    for (; i + 8 <= n; i += 8)
        m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
    float r = kvb_hmax256(m);
    for (; i < n; i++)
        r = x[i] > r ? x[i] : r;
    return r;
}

#endif
