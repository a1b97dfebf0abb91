/* The portable BLAS of blas.h: a BLIS-style blocked sgemm (pack a KC x NC block of op(B) in NR-wide
 * micro-panels and an MC x KC block of op(A) in MR-tall ones, then an MR x NR register tile per
 * pair), sscal and saxpy, and under KVB_BLAS_NONE the cblas_* entry points lib calls. */
#include "core/blas.h"

#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- blocking ------------------------------------------------------------------------------ */
/* MR x NR = 6 x 16: 12 ymm accumulators + 2 B vectors + 1 broadcast of the 16 AVX2 registers.
 * KC: a B micro-panel (KC * NR floats, 16 KiB) stays in L1 across the MR-row tiles; MC: the
 * packed A block (MC * KC floats, 144 KiB) stays in L2 across the NR-column tiles; NC: the packed
 * B block (KC * NC floats, 2 MiB) is reused by every MC block of A. */
#define MR 6
#define NR 16
#define MC 144
#define KC 256
#define NC 2048

/* one MR x NR tile of sum_p ap[p][i] * bp[p][j] over kc steps, written to t (row-major, NR wide) */
typedef void (*micro_fn)(int kc, const float *ap, const float *bp, float *t);

typedef struct gemm_args { /* a row-major problem (column-major calls are transposed into one) */
    int m, n, k, transa, transb, lda, ldb, ldc;
    float alpha, beta;
    const float *a, *b;
    float *c;
} gemm_args;

/* ---- micro-kernels ------------------------------------------------------------------------- */
static void micro_scalar(int kc, const float *ap, const float *bp, float *t)
{
    float acc[MR][NR] = { { 0 } };
    for (int p = 0; p < kc; p++, ap += MR, bp += NR)
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++)
                acc[i][j] += ap[i] * bp[j];
    memcpy(t, acc, sizeof(acc));
}

#define ROW_FMA(i)                                                  \
    do {                                                            \
        __m256 a_ = _mm256_broadcast_ss(ap + (i));                  \
        c##i##0 = _mm256_fmadd_ps(a_, b0, c##i##0);                 \
        c##i##1 = _mm256_fmadd_ps(a_, b1, c##i##1);                 \
    } while (0)
#define ROW_STORE(i)                                                \
    do {                                                            \
        _mm256_storeu_ps(t + (i) * NR, c##i##0);                    \
        _mm256_storeu_ps(t + (i) * NR + 8, c##i##1);                \
    } while (0)

static void micro_avx2(int kc, const float *ap, const float *bp, float *t)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int p = 0; p < kc; p++, ap += MR, bp += NR) {
        __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
        ROW_FMA(0);
        ROW_FMA(1);
        ROW_FMA(2);
        ROW_FMA(3);
        ROW_FMA(4);
        ROW_FMA(5);
    }
    ROW_STORE(0);
    ROW_STORE(1);
    ROW_STORE(2);
    ROW_STORE(3);
    ROW_STORE(4);
    ROW_STORE(5);
}

/* ---- packing (zero-padded to whole micro-panels, so the kernels never see a ragged edge) ----- */
static inline float op_a(const gemm_args *g, int i, int p)
{
    return g->transa == KVB_BLAS_NO_TRANS ? g->a[(size_t)i * g->lda + p] : g->a[(size_t)p * g->lda + i];
}

/* rows [i0, i0 + mc) x depth [p0, p0 + kc) of op(A) -> panels of MR rows, [panel][p][MR] */
static void pack_a(const gemm_args *g, int i0, int p0, int mc, int kc, float *pa)
{
    for (int ir = 0; ir < mc; ir += MR, pa += (size_t)MR * kc)
        for (int p = 0; p < kc; p++)
            for (int i = 0; i < MR; i++)
                pa[(size_t)p * MR + i] = ir + i < mc ? op_a(g, i0 + ir + i, p0 + p) : 0.0f;
}

/* depth [p0, p0 + kc) x columns [j0, j0 + nc) of op(B) -> panels of NR columns, [panel][p][NR] */
static void pack_b(const gemm_args *g, int p0, int j0, int kc, int nc, float *pb)
{
    for (int jr = 0; jr < nc; jr += NR, pb += (size_t)NR * kc) {
        int w = nc - jr < NR ? nc - jr : NR;
        for (int p = 0; p < kc; p++) {
            float *d = pb + (size_t)p * NR;
            if (g->transb == KVB_BLAS_NO_TRANS)
                memcpy(d, g->b + (size_t)(p0 + p) * g->ldb + j0 + jr, sizeof(float) * (size_t)w);
            else
                for (int j = 0; j < w; j++)
                    d[j] = g->b[(size_t)(j0 + jr + j) * g->ldb + p0 + p];
            for (int j = w; j < NR; j++)
                d[j] = 0.0f;
        }
    }
}

/* ---- the blocked product --------------------------------------------------------------------- */
/* the mr x nr corner of tile t into C: the first depth block applies beta (beta == 0: C's old
 * values are not read), later blocks accumulate */
static void store_tile(const gemm_args *g, float *c, int mr, int nr, const float *t, int first)
{
    float a = g->alpha, b = first ? g->beta : 1.0f; /* later blocks: c + alpha t (c * 1 is exact) */
    int overwrite = first && g->beta == 0.0f;
    if (nr == NR) { /* whole rows: two vectors each, the branch hoisted out of the loop */
        __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
        for (int i = 0; i < mr; i++, c += g->ldc, t += NR)
            for (int h = 0; h < NR; h += 8) {
                __m256 v = _mm256_mul_ps(va, _mm256_loadu_ps(t + h));
                if (!overwrite)
                    v = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + h), v);
                _mm256_storeu_ps(c + h, v);
            }
        return;
    }
    for (int i = 0; i < mr; i++, c += g->ldc, t += NR)
        for (int j = 0; j < nr; j++)
            c[j] = overwrite ? a * t[j] : a * t[j] + b * c[j];
}

/* C = beta * C: alpha == 0 or k == 0 (BLAS reads neither A nor B then) */
static void scale_c(const gemm_args *g)
{
    for (int i = 0; i < g->m; i++)
        for (int j = 0; j < g->n; j++) {
            float *c = g->c + (size_t)i * g->ldc + j;
            *c = g->beta == 0.0f ? 0.0f : g->beta * *c;
        }
}

/* the loops over blocks of sizes mcb x kcb x ncb (multiples of MR and NR), packing into pa / pb */
static void gemm_blocks(const gemm_args *g, micro_fn micro, int mcb, int kcb, int ncb, float *pa,
                        float *pb)
{
    float t[MR * NR];
    for (int jc = 0; jc < g->n; jc += ncb) {
        int nc = g->n - jc < ncb ? g->n - jc : ncb;
        for (int pc = 0; pc < g->k; pc += kcb) {
            int kc = g->k - pc < kcb ? g->k - pc : kcb;
            pack_b(g, pc, jc, kc, nc, pb);
            for (int ic = 0; ic < g->m; ic += mcb) {
                int mc = g->m - ic < mcb ? g->m - ic : mcb;
                pack_a(g, ic, pc, mc, kc, pa);
                for (int jr = 0; jr < nc; jr += NR)
                    for (int ir = 0; ir < mc; ir += MR) {
                        micro(kc, pa + (size_t)ir * kc, pb + (size_t)jr * kc, t);
                        store_tile(g, g->c + (size_t)(ic + ir) * g->ldc + jc + jr,
                                   mc - ir < MR ? mc - ir : MR, nc - jr < NR ? nc - jr : NR, t,
                                   pc == 0);
                    }
            }
        }
    }
}

static int round_up(int x, int to)
{
    return (x + to - 1) / to * to;
}

static void gemm_run(const gemm_args *g, micro_fn micro)
{
    if (g->m == 0 || g->n == 0)
        return;
    if (g->k == 0 || g->alpha == 0.0f) {
        scale_c(g);
        return;
    }
    int mcb = round_up(g->m < MC ? g->m : MC, MR), kcb = g->k < KC ? g->k : KC;
    int ncb = round_up(g->n < NC ? g->n : NC, NR);
    /* aligned_alloc wants a multiple of the alignment: ncb is one of 16 floats already */
    float *pa = aligned_alloc(64, sizeof(float) * (size_t)round_up(mcb * kcb, 16));
    float *pb = aligned_alloc(64, sizeof(float) * (size_t)kcb * ncb);
    if (pa && pb)
        gemm_blocks(g, micro, mcb, kcb, ncb, pa, pb);
    else { /* out of memory: the same loops over one micro-panel at a time, packed on the stack */
        _Alignas(64) float sa[MR * KC], sb[NR * KC];
        gemm_blocks(g, micro, MR, KC, NR, sa, sb);
    }
    free(pa);
    free(pb);
}

/* ---- argument checks and the column-major case ----------------------------------------------- */
static int bad_trans(int t)
{
    return t != KVB_BLAS_NO_TRANS && t != KVB_BLAS_TRANS && t != KVB_BLAS_CONJ_TRANS;
}

/* 0, or the 1-based position of the first invalid cblas argument (xerbla's convention) */
static int check_args(int order, int ta, int tb, int m, int n, int k, int lda, int ldb, int ldc)
{
    int row = order == KVB_BLAS_ROW_MAJOR;
    int acols = (ta == KVB_BLAS_NO_TRANS) == row ? k : m; /* the stored matrix's row length */
    int bcols = (tb == KVB_BLAS_NO_TRANS) == row ? n : k;
    int ccols = row ? n : m;
    if (order != KVB_BLAS_ROW_MAJOR && order != KVB_BLAS_COL_MAJOR)
        return 1;
    if (bad_trans(ta))
        return 2;
    if (bad_trans(tb))
        return 3;
    if (m < 0 || n < 0 || k < 0)
        return m < 0 ? 4 : n < 0 ? 5 : 6;
    if (lda < (acols > 1 ? acols : 1))
        return 9;
    if (ldb < (bcols > 1 ? bcols : 1))
        return 11;
    return ldc < (ccols > 1 ? ccols : 1) ? 14 : 0;
}

static void sgemm_any(micro_fn micro, int order, int ta, int tb, int m, int n, int k, float alpha,
                      const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    int bad = check_args(order, ta, tb, m, n, k, lda, ldb, ldc);
    if (bad) { /* a programmer error in lib: reported as cblas's xerbla does, C untouched */
        fprintf(stderr, "kvb_sgemm: parameter %d had an illegal value\n", bad);
        return;
    }
    ta = ta == KVB_BLAS_NO_TRANS ? ta : KVB_BLAS_TRANS; /* real: ConjTrans is Trans */
    tb = tb == KVB_BLAS_NO_TRANS ? tb : KVB_BLAS_TRANS;
    gemm_args g = { m, n, k, ta, tb, lda, ldb, ldc, alpha, beta, a, b, c };
    if (order == KVB_BLAS_COL_MAJOR) /* column-major C is row-major C^T = op(B)^T op(A)^T */
        g = (gemm_args){ n, m, k, tb, ta, ldb, lda, ldc, alpha, beta, b, a, c };
    gemm_run(&g, micro);
}

/* ---- public functions ------------------------------------------------------------------------ */
void kvb_sgemm(int order, int transa, int transb, int m, int n, int k, float alpha, const float *a,
               int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    sgemm_any(micro_avx2, order, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void kvb_sgemm_scalar(int order, int transa, int transb, int m, int n, int k, float alpha,
                      const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    sgemm_any(micro_scalar, order, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void kvb_sscal(int n, float alpha, float *x, int incx)
{
    if (n <= 0 || incx <= 0)
        return;
    for (int i = 0; i < n; i++)
        x[(size_t)i * incx] *= alpha;
}

void kvb_saxpy(int n, float alpha, const float *x, int incx, float *y, int incy)
{
    if (n <= 0 || alpha == 0.0f)
        return;
    long ix = incx < 0 ? (long)(1 - n) * incx : 0, iy = incy < 0 ? (long)(1 - n) * incy : 0;
    for (int i = 0; i < n; i++, ix += incx, iy += incy)
        y[iy] += alpha * x[ix];
}

/* ---- BLAS=none: the cblas entry points (lib/core/blas_none/cblas.h) ------------------------- */
#ifdef KVB_BLAS_NONE
#include <cblas.h>

void cblas_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE transa, enum CBLAS_TRANSPOSE transb,
                 int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
                 float beta, float *c, int ldc)
{
    kvb_sgemm((int)order, (int)transa, (int)transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void cblas_sscal(int n, float alpha, float *x, int incx)
{
    kvb_sscal(n, alpha, x, incx);
}

void cblas_saxpy(int n, float alpha, const float *x, int incx, float *y, int incy)
{
    kvb_saxpy(n, alpha, x, incx, y, incy);
}

/* lib's callers run one BLAS call per pool thread; the portable sgemm is single-threaded anyway */
void openblas_set_num_threads(int num_threads)
{
    (void)num_threads;
}
#endif
