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
        const char *ahead = (const char *)p0 + 8 * row; /* two passes ahead, see gemv_blocks_rows */
        for (int i = 0; i < nv; i += 16) {
            for (int off = 0; off < 4 * 16 * (bf16 ? 2 : 4); off += 64)
                _mm_prefetch(ahead + (size_t)i * 4 * (bf16 ? 2 : 4) + off, _MM_HINT_T0);
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
        const char *ahead = (const char *)(p[0] + 8 * (size_t)n); /* two passes ahead */
        for (int i = 0; i < nv; i += 32) {
            for (int off = 0; off < 4 * 64; off += 64)
                _mm_prefetch(ahead + (size_t)i * 8 + off, _MM_HINT_T0);
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

/* GGUF blocks x f32 activations (--weights gguf, the exact path): per block
 *   Q4_1: sum_j (q_j d + m) x_j = d sum_j q_j x_j + m X_b,   X_b = sum_j x_j (once per call)
 *   Q8_0: d sum_j q_j x_j
 * in f32 (codes widened exactly, products and sums rounded as any f32 dot). KVB_GEMV_ROWS rows
 * per pass share every x load and their scales are widened together; each row keeps its own
 * accumulators in the same operation order as a row done alone, so a row's value does not
 * depend on how the rows are split between threads. Why several rows: one row at a time was
 * bound by the latency of its single accumulator and redid the x loads and scale conversions
 * per row (3.2 -> 1.7 ns per Q4_1 block on Zen 4, weights in L2). */
#define KVB_GEMV_ROWS 4

/* sum_j q_j x_j of one block (unscaled) as 8 lanes: ((lo0 x0 + lo1 x1) + hi0 x2) + hi1 x3 */
static inline __m256 q4_1_codes_dot(const unsigned char *codes, const __m256 *xv)
{
    const __m256i m15 = _mm256_set1_epi32(15);
    __m256i v0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)codes));
    __m256i v1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(codes + 8)));
    __m256 s = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_and_si256(v0, m15)), xv[0]);
    s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_and_si256(v1, m15)), xv[1], s);
    s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(v0, 4)), xv[2], s);
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(v1, 4)), xv[3], s);
}

static inline __m256 q8_0_codes_dot(const unsigned char *codes, const __m256 *xv)
{
    __m256 s = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
                                 _mm_loadl_epi64((const __m128i *)(const void *)codes))), xv[0]);
    for (int k = 1; k < 4; k++)
        s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
                                _mm_loadl_epi64((const __m128i *)(const void *)(codes + 8 * k)))),
                            xv[k], s);
    return s;
}

/* X_b of every block, in the order ((x0 + x1) + (x2 + x3)) then a horizontal sum */
static void block_sums(const float *x, int nb, float *xs)
{
    for (int b = 0; b < nb; b++) {
        const float *xb = x + b * 32;
        xs[b] = kvb_hsum256(_mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(xb), _mm256_loadu_ps(xb + 8)),
                                          _mm256_add_ps(_mm256_loadu_ps(xb + 16), _mm256_loadu_ps(xb + 24))));
    }
}

/* Rows [r, r + R): R = KVB_GEMV_ROWS or 1 (a constant after inlining). The scales of the R rows'
 * blocks are widened by one F16C conversion: lane 2k is row k's d, lane 2k + 1 its m (Q4_1), so
 * one FMA per block updates every row's m X_b term (in the odd lanes of mterm). */
static inline __attribute__((always_inline)) void
gemv_blocks_rows(const kvb_wt *w, const float *x, const float *xs, float *y, int r, const int R,
                 const int q41)
{
    const int nb = w->cols / 32, bb = q41 ? 20 : 34;
    const size_t rb = (size_t)nb * bb;
    const unsigned char *p = (const unsigned char *)w->data + (size_t)r * rb;
    __m256 acc[KVB_GEMV_ROWS], mterm = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int k = 0; k < R; k++)
        acc[k] = _mm256_setzero_ps();
    /* Interleaved short rows (360-960 bytes) do not train the hardware prefetcher, so a pass
     * prefetches the pass two ahead, R * bb bytes per block, in step with its own reads. */
    const char *ahead = (const char *)p + 2 * (size_t)R * rb;
    for (int b = 0; b < nb; b++, p += bb) {
        const float *xb = x + b * 32;
        if (R > 1)
            for (int off = 0; off < R * bb + 64; off += 64)
                _mm_prefetch(ahead + (size_t)b * R * bb + off, _MM_HINT_T0);
        __m256 xv[4] = { _mm256_loadu_ps(xb), _mm256_loadu_ps(xb + 8), _mm256_loadu_ps(xb + 16),
                         _mm256_loadu_ps(xb + 24) };
        /* Q4_1: d and m; Q8_0: d (the high half is a code, unused). Built in registers: a
         * store of the four and a vector load would stall on store forwarding. */
        int32_t sc[KVB_GEMV_ROWS] = { 0 };
#pragma GCC unroll 4
        for (int k = 0; k < R; k++)
            memcpy(&sc[k], p + (size_t)k * rb, 4);
        __m256 dm = _mm256_cvtph_ps(_mm_setr_epi32(sc[0], sc[1], sc[2], sc[3]));
        if (q41)
            mterm = _mm256_fmadd_ps(dm, _mm256_set1_ps(xs[b]), mterm);
#pragma GCC unroll 4
        for (int k = 0; k < R; k++) {
            const unsigned char *blk = p + (size_t)k * rb;
            __m256 s = q41 ? q4_1_codes_dot(blk + 4, xv) : q8_0_codes_dot(blk + 2, xv);
            acc[k] = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(dm, _mm256_set1_epi32(2 * k)), s, acc[k]);
        }
    }
    float mt[8];
    _mm256_storeu_ps(mt, mterm);
    for (int k = 0; k < R; k++)
        y[r + k] = kvb_hsum256(acc[k]) + (q41 ? mt[2 * k + 1] : 0.0f);
}

static inline __attribute__((always_inline)) void gemv_blocks(const kvb_wt *w, const float *x,
                                                              float *y, int r0, int r1, const int q41)
{
    float xs[KVB_Q8_MAX_COLS / 32];
    if (q41)
        block_sums(x, w->cols / 32, xs);
    int r = r0;
    for (; r + KVB_GEMV_ROWS <= r1; r += KVB_GEMV_ROWS)
        gemv_blocks_rows(w, x, xs, y, r, KVB_GEMV_ROWS, q41);
    for (; r < r1; r++)
        gemv_blocks_rows(w, x, xs, y, r, 1, q41);
}

static void gemv_q4_1_avx2(const kvb_wt *w, const float *x, float *y, int r0, int r1)
{
    gemv_blocks(w, x, y, r0, r1, 1);
}

static void gemv_q8_0_avx2(const kvb_wt *w, const float *x, float *y, int r0, int r1)
{
    gemv_blocks(w, x, y, r0, r1, 0);
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
    else if (blocks && w->cols > KVB_Q8_MAX_COLS) /* beyond the kernels' block-sum buffer */
        f = kvb_gemv_ref, isa = KVB_ISA_SCALAR;
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
