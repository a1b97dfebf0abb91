/* Kernels of the forward pass: bf16 <-> f32, RMSNorm, GEMV (decode: bandwidth-bound, one
 * implementation per ISA chosen at run time) and the blocked GEMM of prefill (OpenBLAS sgemm on
 * f32; bf16 weights are widened KVB_GEMM_NC rows at a time into a per-thread buffer). */
#include "model_impl.h"

#include "core/simd.h"

#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- conversions ---------------------------------------------------------------------------------- */
float kvb_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t kvb_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN stays NaN */
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

size_t kvb_wt_row_bytes(const kvb_wt *w)
{
    switch (w->type) {
    case KVB_WT_F32: return (size_t)w->cols * 4;
    case KVB_WT_BF16: return (size_t)w->cols * 2;
    case KVB_WT_Q4_1: return (size_t)w->cols / 32 * 20;
    case KVB_WT_Q8_0: return (size_t)w->cols / 32 * 34;
    }
    return 0;
}

static enum kvb_ggml_type ggml_of(enum kvb_wt_type t)
{
    return t == KVB_WT_Q4_1 ? KVB_GGML_Q4_1 : KVB_GGML_Q8_0;
}

void kvb_wt_row(const kvb_wt *w, int r, float *out)
{
    if (w->type == KVB_WT_Q4_1 || w->type == KVB_WT_Q8_0) {
        kvb_ggml_dequantize(ggml_of(w->type),
                            (const unsigned char *)w->data + (size_t)r * kvb_wt_row_bytes(w), out,
                            (uint64_t)w->cols);
        return;
    }
    if (w->type == KVB_WT_F32) {
        memcpy(out, (const float *)w->data + (size_t)r * w->cols, sizeof(float) * (size_t)w->cols);
        return;
    }
    const uint16_t *s = (const uint16_t *)w->data + (size_t)r * w->cols;
    int i = 0;
    for (; i + 8 <= w->cols; i += 8) {
        __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(s + i)));
        _mm256_storeu_ps(out + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
    }
    for (; i < w->cols; i++)
        out[i] = kvb_bf16_to_f32(s[i]);
}

void kvb_rmsnorm(float *o, const float *x, const float *w, int n, float eps)
{
    __m256 acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        acc = _mm256_fmadd_ps(v, v, acc);
    }
    float buf[8], ss = 0;
    _mm256_storeu_ps(buf, acc);
    for (int k = 0; k < 8; k++)
        ss += buf[k];
    for (; i < n; i++)
        ss += x[i] * x[i];
    float r = 1.0f / sqrtf(ss / (float)n + eps);
    for (i = 0; i < n; i++)
        o[i] = w[i] * (x[i] * r);
}

/* ---- GEMV ------------------------------------------------------------------------------------------ */
/* Reference: plain loops, double accumulation is not used on purpose (same f32 sums as kernels
 * up to order). */
void kvb_gemv_ref(const kvb_wt *w, const float *x, float *y, int r0, int r1)
{
    for (int r = r0; r < r1; r++) {
        float s = 0;
        if (w->type == KVB_WT_Q4_1 || w->type == KVB_WT_Q8_0) {
            const unsigned char *row = (const unsigned char *)w->data + (size_t)r * kvb_wt_row_bytes(w);
            size_t bb = w->type == KVB_WT_Q4_1 ? 20 : 34;
            float blk[32];
            for (int b = 0; b < w->cols / 32; b++) {
                kvb_ggml_dequantize(ggml_of(w->type), row + (size_t)b * bb, blk, 32);
                for (int i = 0; i < 32; i++)
                    s += blk[i] * x[b * 32 + i];
            }
        } else if (w->type == KVB_WT_F32) {
            const float *row = (const float *)w->data + (size_t)r * w->cols;
            for (int i = 0; i < w->cols; i++)
                s += row[i] * x[i];
        } else {
            const uint16_t *row = (const uint16_t *)w->data + (size_t)r * w->cols;
            for (int i = 0; i < w->cols; i++)
                s += kvb_bf16_to_f32(row[i]) * x[i];
        }
        y[r] = s;
    }
}

static inline __m256 bf16x8(const uint16_t *p)
{
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

/* 8 weights of a bf16 or f32 row as f32 */
static inline __m256 wload8(const void *row, int i, int bf16)
{
    return bf16 ? bf16x8((const uint16_t *)row + i) : _mm256_loadu_ps((const float *)row + i);
}

static inline float wload1(const void *row, int i, int bf16)
{
    return bf16 ? kvb_bf16_to_f32(((const uint16_t *)row)[i]) : ((const float *)row)[i];
}

/* AVX2: 4 rows at a time share each x load; two accumulators per row hide FMA latency. One body
 * for bf16 and f32 rows (bf16 is a constant after inlining). */
static inline __attribute__((always_inline)) void gemv_avx2(const kvb_wt *w, const float *x,
                                                            float *y, int r0, int r1, const int bf16)
{
    const int n = w->cols, nv = n & ~15;
    const size_t row = (size_t)n * (bf16 ? 2 : 4);
    const unsigned char *base = w->data;
    int r = r0;
    for (; r + 4 <= r1; r += 4) {
        const unsigned char *p0 = base + (size_t)r * row, *p1 = p0 + row, *p2 = p1 + row, *p3 = p2 + row;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (int i = 0; i < nv; i += 16) {
            __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + 8);
            a0 = _mm256_fmadd_ps(wload8(p0, i, bf16), x0, a0);
            b0 = _mm256_fmadd_ps(wload8(p0, i + 8, bf16), x1, b0);
            a1 = _mm256_fmadd_ps(wload8(p1, i, bf16), x0, a1);
            b1 = _mm256_fmadd_ps(wload8(p1, i + 8, bf16), x1, b1);
            a2 = _mm256_fmadd_ps(wload8(p2, i, bf16), x0, a2);
            b2 = _mm256_fmadd_ps(wload8(p2, i + 8, bf16), x1, b2);
            a3 = _mm256_fmadd_ps(wload8(p3, i, bf16), x0, a3);
            b3 = _mm256_fmadd_ps(wload8(p3, i + 8, bf16), x1, b3);
        }
        float s0 = kvb_hsum256(_mm256_add_ps(a0, b0)), s1 = kvb_hsum256(_mm256_add_ps(a1, b1));
        float s2 = kvb_hsum256(_mm256_add_ps(a2, b2)), s3 = kvb_hsum256(_mm256_add_ps(a3, b3));
        for (int i = nv; i < n; i++) {
            s0 += wload1(p0, i, bf16) * x[i];
            s1 += wload1(p1, i, bf16) * x[i];
            s2 += wload1(p2, i, bf16) * x[i];
            s3 += wload1(p3, i, bf16) * x[i];
        }
        y[r] = s0, y[r + 1] = s1, y[r + 2] = s2, y[r + 3] = s3;
    }
    if (r < r1)
        kvb_gemv_ref(w, x, y, r, r1);
}

static void gemv_bf16_avx2(const kvb_wt *w, const float *x, float *y, int r0, int r1)
{
    gemv_avx2(w, x, y, r0, r1, 1);
}

static void gemv_f32_avx2(const kvb_wt *w, const float *x, float *y, int r0, int r1)
{
    gemv_avx2(w, x, y, r0, r1, 0);
}

/* AVX-512F: 16 bf16 widened per load; compiled for the target, used only when the CPU has it. */
__attribute__((target("avx512f,avx512bw")))
static void gemv_bf16_avx512(const kvb_wt *w, const float *x, float *y, int r0, int r1)
{
    const int n = w->cols, nv = n & ~31;
    const uint16_t *base = w->data;
    int r = r0;
    for (; r + 4 <= r1; r += 4) {
        const uint16_t *p[4] = { base + (size_t)r * n, base + (size_t)(r + 1) * n,
                                 base + (size_t)(r + 2) * n, base + (size_t)(r + 3) * n };
        __m512 a[4], b[4];
        for (int k = 0; k < 4; k++)
            a[k] = b[k] = _mm512_setzero_ps();
        for (int i = 0; i < nv; i += 32) {
            __m512 x0 = _mm512_loadu_ps(x + i), x1 = _mm512_loadu_ps(x + i + 16);
            for (int k = 0; k < 4; k++) {
                __m512i w0 = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(p[k] + i)));
                __m512i w1 = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(p[k] + i + 16)));
                a[k] = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(w0, 16)), x0, a[k]);
                b[k] = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(w1, 16)), x1, b[k]);
            }
        }
        for (int k = 0; k < 4; k++) {
            float s = _mm512_reduce_add_ps(_mm512_add_ps(a[k], b[k]));
            for (int i = nv; i < n; i++)
                s += kvb_bf16_to_f32(p[k][i]) * x[i];
            y[r + k] = s;
        }
    }
    if (r < r1)
        kvb_gemv_ref(w, x, y, r, r1);
}

/* GGUF blocks, one row at a time: sum_j (q_j d + m) x_j = d sum_j q_j x_j + m sum_j x_j per block.
 * The f16 scales are widened with F16C; the products are f32 like the dequantize-then-GEMV path. */
static void gemv_q4_1_avx2(const kvb_wt *w, const float *x, float *y, int r0, int r1)
{
    const int nb = w->cols / 32;
    const size_t rb = (size_t)nb * 20;
    const __m128i mask = _mm_set1_epi8(0x0f);
    for (int r = r0; r < r1; r++) {
        const unsigned char *p = (const unsigned char *)w->data + (size_t)r * rb;
        __m256 acc = _mm256_setzero_ps();
        float msum = 0;
        for (int b = 0; b < nb; b++, p += 20) {
            const float *xb = x + b * 32;
            __m128i raw = _mm_loadu_si128((const __m128i *)(const void *)(p + 4));
            __m128i lo = _mm_and_si128(raw, mask), hi = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);
            __m256 s = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo)), _mm256_loadu_ps(xb));
            s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8))),
                                _mm256_loadu_ps(xb + 8), s);
            s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi)), _mm256_loadu_ps(xb + 16), s);
            s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8))),
                                _mm256_loadu_ps(xb + 24), s);
            __m256 xs = _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(xb), _mm256_loadu_ps(xb + 8)),
                                      _mm256_add_ps(_mm256_loadu_ps(xb + 16), _mm256_loadu_ps(xb + 24)));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(kvb_f16_at(p)), s, acc);
            msum += kvb_f16_at(p + 2) * kvb_hsum256(xs);
        }
        y[r] = kvb_hsum256(acc) + msum;
    }
}

static void gemv_q8_0_avx2(const kvb_wt *w, const float *x, float *y, int r0, int r1)
{
    const int nb = w->cols / 32;
    const size_t rb = (size_t)nb * 34;
    for (int r = r0; r < r1; r++) {
        const unsigned char *p = (const unsigned char *)w->data + (size_t)r * rb;
        __m256 acc = _mm256_setzero_ps();
        for (int b = 0; b < nb; b++, p += 34) {
            const float *xb = x + b * 32;
            __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)(p + 2));
            __m128i q0 = _mm256_castsi256_si128(q), q1 = _mm256_extracti128_si256(q, 1);
            __m256 s = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q0)), _mm256_loadu_ps(xb));
            s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q0, 8))),
                                _mm256_loadu_ps(xb + 8), s);
            s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q1)), _mm256_loadu_ps(xb + 16), s);
            s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q1, 8))),
                                _mm256_loadu_ps(xb + 24), s);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(kvb_f16_at(p)), s, acc);
        }
        y[r] = kvb_hsum256(acc);
    }
}

/* ---- kernel choice ---------------------------------------------------------------------------------- */
/* No state: each weight carries its kernel (kvb_wt_bind, at load), so pool threads only read. */
enum kvb_isa kvb_isa_best(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") ? KVB_ISA_AVX512
           : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")    ? KVB_ISA_AVX2
                                                                                 : KVB_ISA_SCALAR;
}

enum kvb_isa kvb_isa_parse(const char *name)
{
    enum kvb_isa want = name && !strcmp(name, "scalar") ? KVB_ISA_SCALAR
                        : name && !strcmp(name, "avx2") ? KVB_ISA_AVX2
                                                        : KVB_ISA_AVX512;
    enum kvb_isa best = kvb_isa_best();
    return want < best ? want : best;
}

const char *kvb_isa_name(enum kvb_isa isa)
{
    return isa == KVB_ISA_AVX512 ? "avx512" : isa == KVB_ISA_AVX2 ? "avx2" : "scalar";
}

enum kvb_isa kvb_wt_bind(kvb_wt *w, enum kvb_isa isa)
{
    int blocks = w->type == KVB_WT_Q4_1 || w->type == KVB_WT_Q8_0;
    kvb_gemv_fn f;
    if (isa == KVB_ISA_SCALAR)
        f = blocks && w->act_q8 && kvb_gemv_q8_supported(w) ? kvb_gemv_q8_ref : kvb_gemv_ref;
    else if (blocks && w->act_q8 && kvb_gemv_q8_supported(w))
        f = kvb_gemv_q8_avx2, isa = KVB_ISA_AVX2;
    else if (w->type == KVB_WT_Q4_1)
        f = gemv_q4_1_avx2, isa = KVB_ISA_AVX2;
    else if (w->type == KVB_WT_Q8_0)
        f = gemv_q8_0_avx2, isa = KVB_ISA_AVX2;
    else if (w->type == KVB_WT_F32)
        f = gemv_f32_avx2, isa = KVB_ISA_AVX2;
    else
        f = isa == KVB_ISA_AVX512 ? gemv_bf16_avx512 : gemv_bf16_avx2;
    w->gemv = f;
    w->isa = isa;
    return isa;
}

/* ---- GEMM (prefill) -------------------------------------------------------------------------------- */
void kvb_gemm_rows(const kvb_wt *w, const float *a, int n, float *c, int ldc, int c0, int c1,
                   float *wbuf)
{
    const int k = w->cols;
    for (int j = c0; j < c1; j += KVB_GEMM_NC) {
        int nc = KVB_MIN(KVB_GEMM_NC, c1 - j);
        const float *b;
        if (w->type == KVB_WT_F32)
            b = (const float *)w->data + (size_t)j * k;
        else {
            for (int r = 0; r < nc; r++)
                kvb_wt_row(w, j + r, wbuf + (size_t)r * k);
            b = wbuf;
        }
        /* C[:, j:j+nc] = A (n, k) * B^T, B (nc, k) row-major */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, nc, k, 1.0f, a, k, b, k, 0.0f,
                    c + j, ldc);
    }
}

int kvb_matmul_bf16(float *y, const float *x, const uint16_t *w, int n, int in, int out)
{
    kvb_wt wt = { .type = KVB_WT_BF16, .rows = out, .cols = in, .data = w };
    float *wbuf = malloc(sizeof(float) * KVB_GEMM_NC * (size_t)in);
    if (!wbuf)
        return KVB_ENOMEM;
    kvb_gemm_rows(&wt, x, n, y, out, 0, out, wbuf);
    free(wbuf);
    return 0;
}
