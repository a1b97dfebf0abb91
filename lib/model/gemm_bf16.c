/* The prefill GEMM on bf16 products with f32 accumulation (vdpbf16ps), for --weights bf16 and
 * gguf-q8 where the CPU has AVX-512 BF16: C (n, W.rows) = A (n, k) W^T.
 *
 * Orientation: a vector lane is a row of A, so W is read as it lies (row-major, k contiguous):
 * one 32-bit broadcast gives the pair W[j][2p], W[j][2p+1] for 16 rows of A at once, and only A,
 * the small operand, is packed (per 16 rows, per k pair, 16 x 2 bf16: kvb_gemm_pack_a_bf16).
 * A register tile is 48 rows of A x 8 rows of W (24 accumulators). bf16 products are exact in
 * f32, so beyond an f32 GEMM the only roundings are A's (and W's, when W is not bf16 already) to
 * bf16: |C - C_f32| <= (2^-8 + gamma_k) sum_k |a w| for f32 W, 2^-9 for bf16 W (u_bf16 = 2^-9
 * per rounding; tests/unit/test_model_gemm_bf16.c). */
#include "model_impl.h"
#include "simd512.h"

#include <immintrin.h>
#include <string.h>

#define GB_IV 3 /* vectors of 16 A rows per tile */
#define GB_R 8  /* W rows per tile */

size_t kvb_gemm_packed_a_elems(int n, int k) { return (size_t)((n + 15) / 16 * 16) * k; }

void kvb_gemm_pack_a_bf16(uint16_t *ap, const float *a, int n, int k, int b0, int b1)
{
    for (int b = b0; b < b1; b++) /* blocks of 16 rows */
        for (int ii = 0; ii < 16; ii++) {
            int i = b * 16 + ii;
            uint16_t *dst = ap + (size_t)b * 16 * k + ii * 2;
            const float *src = a + (size_t)i * k;
            for (int p = 0; p < k / 2; p++) {
                dst[p * 32] = i < n ? kvb_f32_to_bf16(src[2 * p]) : 0;
                dst[p * 32 + 1] = i < n ? kvb_f32_to_bf16(src[2 * p + 1]) : 0;
            }
        }
}

#define GB_TARGET KVB_AVX512_TARGET

/* f32 -> bf16, round to nearest even: vcvtneps2bf16 (which also flushes subnormals to zero;
 * kvb_f32_to_bf16 keeps them: weights this small do not occur, and both twins share it). */
GB_TARGET static void round_row(uint16_t *dst, const float *src, int n)
{
    int i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(void *)(dst + i),
                            (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(src + i)));
    for (; i < n; i++)
        dst[i] = kvb_f32_to_bf16(src[i]);
}

/* Rows [j, j + nr) of W as bf16 row-major: the weights themselves when bf16, else widened
 * (GGUF blocks, f32) and rounded into buf. */
static const uint16_t *w_rows(const kvb_wt *w, int j, int nr, uint16_t *buf, float *row, int vec)
{
    if (w->type == KVB_WT_BF16)
        return (const uint16_t *)w->data + (size_t)j * w->cols;
    for (int r = 0; r < nr; r++) {
        uint16_t *dst = buf + (size_t)r * w->cols;
        kvb_wt_row(w, j + r, row);
        if (vec)
            round_row(dst, row, w->cols);
        else
            for (int i = 0; i < w->cols; i++)
                dst[i] = kvb_f32_to_bf16(row[i]);
    }
    return buf;
}

/* ---- scalar twin ------------------------------------------------------------------------------------- */
void kvb_gemm_rows_bf16_ref(const kvb_wt *w, const uint16_t *ap, int n, float *c, int ldc, int c0,
                            int c1, uint16_t *wbuf)
{
    const int k = w->cols;
    float *row = (float *)(void *)(wbuf + (size_t)KVB_GEMM_NC * k);
    for (int j0 = c0; j0 < c1; j0 += KVB_GEMM_NC) {
        int nr = KVB_MIN(KVB_GEMM_NC, c1 - j0);
        const uint16_t *wr = w_rows(w, j0, nr, wbuf, row, 0);
        for (int r = 0; r < nr; r++)
            for (int i = 0; i < n; i++) {
                const uint16_t *ar = ap + (size_t)(i / 16) * 16 * k + (i % 16) * 2;
                float s = 0;
                for (int p = 0; p < k / 2; p++)
                    s += kvb_bf16_to_f32(ar[p * 32]) * kvb_bf16_to_f32(wr[(size_t)r * k + 2 * p]) +
                         kvb_bf16_to_f32(ar[p * 32 + 1]) * kvb_bf16_to_f32(wr[(size_t)r * k + 2 * p + 1]);
                c[(size_t)i * ldc + j0 + r] = s;
            }
    }
}

/* ---- AVX-512 BF16 ------------------------------------------------------------------------------------ */

/* C rows [16 b, 16 b + 16 IV) x cols [j, j + R): IV, R constants after inlining. */
GB_TARGET static inline __attribute__((always_inline)) void
gb_tile(const uint16_t *ap, const uint16_t *wr, int k, int n, float *c, int ldc, int b, int j,
        const int IV, const int R)
{
    __m512 acc[GB_R][GB_IV];
    _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)
        _Pragma("GCC unroll 8") for (int v = 0; v < IV; v++)
            acc[r][v] = _mm512_setzero_ps();
    const uint16_t *a0 = ap + (size_t)b * 16 * k;
    for (int p = 0; p < k / 2; p++) {
        __m512i av[GB_IV];
        _Pragma("GCC unroll 8") for (int v = 0; v < IV; v++)
            av[v] = _mm512_loadu_si512(a0 + (size_t)v * 16 * k + (size_t)p * 32);
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {
            uint32_t pair;
            memcpy(&pair, wr + (size_t)r * k + 2 * p, 4);
            __m512i wb = _mm512_set1_epi32((int)pair);
            _Pragma("GCC unroll 8") for (int v = 0; v < IV; v++)
                acc[r][v] = _mm512_dpbf16_ps(acc[r][v], (__m512bh)av[v], (__m512bh)wb);
        }
    }
    float tmp[16];
    for (int v = 0; v < IV; v++) {
        int i0 = (b + v) * 16, ni = KVB_MIN(16, n - i0);
        for (int r = 0; r < R; r++) {
            _mm512_storeu_ps(tmp, acc[r][v]);
            for (int ii = 0; ii < ni; ii++)
                c[(size_t)(i0 + ii) * ldc + j + r] = tmp[ii];
        }
    }
}

/* All of A against W rows [j, j + R) */
GB_TARGET static inline __attribute__((always_inline)) void
gb_cols(const uint16_t *ap, const uint16_t *wr, int k, int n, float *c, int ldc, int j, const int R)
{
    int nb = (n + 15) / 16, b = 0;
    for (; b + GB_IV <= nb; b += GB_IV)
        gb_tile(ap, wr, k, n, c, ldc, b, j, GB_IV, R);
    if (nb - b == 2)
        gb_tile(ap, wr, k, n, c, ldc, b, j, 2, R);
    else if (nb - b == 1)
        gb_tile(ap, wr, k, n, c, ldc, b, j, 1, R);
}

GB_TARGET void kvb_gemm_rows_bf16(const kvb_wt *w, const uint16_t *ap, int n, float *c, int ldc,
                                  int c0, int c1, uint16_t *wbuf)
{
    const int k = w->cols;
    float *row = (float *)(void *)(wbuf + (size_t)KVB_GEMM_NC * k);
    for (int j0 = c0; j0 < c1; j0 += KVB_GEMM_NC) {
        int nr = KVB_MIN(KVB_GEMM_NC, c1 - j0), r = 0;
        const uint16_t *wr = w_rows(w, j0, nr, wbuf, row, 1);
        for (; r + GB_R <= nr; r += GB_R)
            gb_cols(ap, wr + (size_t)r * k, k, n, c, ldc, j0 + r, GB_R);
        for (; r < nr; r++)
            gb_cols(ap, wr + (size_t)r * k, k, n, c, ldc, j0 + r, 1);
    }
}

/* g = silu(g) * u over n floats, exp by kvb_exp512 (~2 ulp; the result is rounded to bf16 by the
 * down projection's packing next, 2^16 times coarser) */
GB_TARGET void kvb_swiglu_avx512(float *g, const float *u, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 x = _mm512_loadu_ps(g + i);
        __m512 e = kvb_exp512(_mm512_sub_ps(_mm512_setzero_ps(), x));
        __m512 s = _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
        _mm512_storeu_ps(g + i, _mm512_mul_ps(s, _mm512_loadu_ps(u + i)));
    }
    for (; i < n; i++)
        g[i] = kvb_silu(g[i]) * u[i];
}
