/* The portable BLAS (lib/core/blas.h) against double-precision references: sgemm with both
 * micro-kernels (AVX2 and its scalar twin) on odd shapes that leave ragged edges in every blocking
 * level, padded leading dimensions, all transposes, both orders, alpha/beta special cases; sscal
 * and saxpy with positive and negative strides. Runs on every build; under BLAS=none it also checks
 * that the cblas_* calls lib makes are these functions. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "numeric_paths.h"
#ifdef KVB_BLAS_NONE
#include <cblas.h>
#endif

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *,
                         int, float, float *, int);

static float frand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 9) & 0xffff) / 32768.0f - 1.0f;
}

static float *rand_buf(size_t n, unsigned seed)
{
    float *v = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        v[i] = frand(&seed);
    return v;
}

/* element (i, j) of a stored matrix seen through the call's order and transpose */
static double at(const float *x, int ld, int order, int trans, int i, int j)
{
    int rowmajor = order == KVB_BLAS_ROW_MAJOR, t = trans != KVB_BLAS_NO_TRANS;
    return rowmajor != t ? x[(size_t)i * ld + j] : x[(size_t)j * ld + i];
}

typedef struct gemm_case {
    int order, ta, tb, m, n, k, pad; /* pad: extra elements of every leading dimension */
    float alpha, beta;
} gemm_case;

/* runs one case through f and checks every element of C within gamma_{k+2} * (|alpha| sum |a b| +
 * |beta c0|) of the exact result (blas.c: a product passes through at most k + 2 roundings: the
 * depth sums, alpha, the beta term and the adds of later depth blocks; Higham eq. 3.5), and that
 * the padding of C is untouched; returns the worst |error| / bound */
static double run_case(sgemm_fn f, const gemm_case *g, unsigned seed)
{
    int row = g->order == KVB_BLAS_ROW_MAJOR;
    int ar = (g->ta == KVB_BLAS_NO_TRANS) == row ? g->m : g->k, ac = g->m + g->k - ar;
    int br = (g->tb == KVB_BLAS_NO_TRANS) == row ? g->k : g->n, bc = g->k + g->n - br;
    int cr = row ? g->m : g->n, cc = g->m + g->n - cr;
    int lda = ac + g->pad, ldb = bc + g->pad, ldc = cc + g->pad;
    float *a = rand_buf((size_t)ar * lda, seed), *b = rand_buf((size_t)br * ldb, seed + 1);
    float *c = rand_buf((size_t)cr * ldc, seed + 2), *c0 = malloc(sizeof(float) * ((size_t)cr * ldc + 1));
    memcpy(c0, c, sizeof(float) * (size_t)cr * ldc);
    f(g->order, g->ta, g->tb, g->m, g->n, g->k, g->alpha, a, lda, b, ldb, g->beta, c, ldc);
    double worst = 0;
    for (int i = 0; i < g->m; i++)
        for (int j = 0; j < g->n; j++) {
            double s = 0, abs_s = 0;
            for (int p = 0; p < g->k; p++) {
                double t = at(a, lda, g->order, g->ta, i, p) * at(b, ldb, g->order, g->tb, p, j);
                s += t;
                abs_s += fabs(t);
            }
            size_t ci = row ? (size_t)i * ldc + j : (size_t)j * ldc + i;
            double c_old = g->beta == 0 ? 0 : c0[ci];
            double ref = g->alpha * s + g->beta * c_old;
            double bound = gamma_f32(g->k + 2) * (fabs(g->alpha) * abs_s + fabs(g->beta * c_old)) + 1e-30;
            double err = fabs(c[ci] - ref);
            cr_assert(err <= bound, "C(%d,%d) = %.9g, exact %.9g: |d| %.3g > bound %.3g (m %d n %d k %d)",
                      i, j, c[ci], ref, err, bound, g->m, g->n, g->k);
            worst = fmax(worst, err / bound);
        }
    for (int i = 0; i < cr; i++) /* the padding past each row of C */
        for (int j = cc; j < ldc; j++)
            cr_assert(c[(size_t)i * ldc + j] == c0[(size_t)i * ldc + j], "padding of C written");
    free(a);
    free(b);
    free(c);
    free(c0);
    return worst;
}

/* shapes that leave ragged micro-tiles (MR 6, NR 16) and cross the MC (144), KC (256) and NC
 * (2048) block edges; lib's own calls: (M, cols, hd) NoTrans/Trans and (M, hd, cols) NoTrans/NoTrans
 * with strided K/V (pad), (n, nc, k) NoTrans/Trans for the prefill GEMM */
static const int shapes[][3] = {
    { 1, 1, 1 }, { 5, 7, 3 }, { 6, 16, 64 }, { 7, 17, 65 }, { 13, 33, 257 }, { 150, 37, 300 },
    { 37, 150, 513 }, { 3, 2100, 9 }, { 145, 19, 64 },
};

static void all_shapes(sgemm_fn f, const char *name)
{
    static const int trans[] = { KVB_BLAS_NO_TRANS, KVB_BLAS_TRANS };
    static const float ab[][2] = { { 1.0f, 0.0f }, { 0.125f, 1.0f }, { -1.5f, 0.5f } };
    double worst = 0;
    unsigned seed = 11;
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++)
        for (int o = 0; o < 2; o++)
            for (int ta = 0; ta < 2; ta++)
                for (int tb = 0; tb < 2; tb++) {
                    const float *x = ab[(s + (size_t)ta + 2 * (size_t)tb) % 3];
                    gemm_case g = { o ? KVB_BLAS_COL_MAJOR : KVB_BLAS_ROW_MAJOR, trans[ta], trans[tb],
                                    shapes[s][0], shapes[s][1], shapes[s][2], (int)s % 3 * 5, x[0], x[1] };
                    worst = fmax(worst, run_case(f, &g, seed += 7));
                }
    cr_log_info("%s: worst |error| / bound %.3g", name, worst);
}

Test(blas, sgemm_avx2_within_gamma_bound)
{
    all_shapes(kvb_sgemm, "avx2");
    test_isa_note("avx2", "sgemm (portable BLAS)", 1);
}

Test(blas, sgemm_scalar_within_gamma_bound)
{
    all_shapes(kvb_sgemm_scalar, "scalar");
}

/* ConjTrans is Trans for real matrices */
Test(blas, sgemm_conj_trans_is_trans)
{
    gemm_case g = { KVB_BLAS_ROW_MAJOR, KVB_BLAS_CONJ_TRANS, KVB_BLAS_CONJ_TRANS, 9, 20, 30, 2, 1.0f, 0.0f };
    run_case(kvb_sgemm, &g, 3);
}

/* beta == 0 never reads C (a NaN there vanishes); alpha == 0 or k == 0 scales C and reads neither
 * A nor B (NULL here), as BLAS defines */
Test(blas, sgemm_alpha_beta_zero)
{
    float a[6] = { 1, 2, 3, 4, 5, 6 }, b[6] = { 1, 0, 0, 1, 1, 1 }, c[4] = { NAN, NAN, NAN, NAN };
    kvb_sgemm(KVB_BLAS_ROW_MAJOR, KVB_BLAS_NO_TRANS, KVB_BLAS_NO_TRANS, 2, 2, 3, 1.0f, a, 3, b, 2, 0.0f, c, 2);
    cr_assert(c[0] == 4 && c[1] == 5 && c[2] == 10 && c[3] == 11, "%g %g %g %g", c[0], c[1], c[2], c[3]);
    kvb_sgemm(KVB_BLAS_ROW_MAJOR, KVB_BLAS_NO_TRANS, KVB_BLAS_TRANS, 2, 2, 3, 0.0f, NULL, 3, NULL, 3, 0.5f, c, 2);
    cr_assert(c[0] == 2 && c[1] == 2.5f && c[2] == 5 && c[3] == 5.5f);
    kvb_sgemm(KVB_BLAS_COL_MAJOR, KVB_BLAS_TRANS, KVB_BLAS_NO_TRANS, 2, 2, 0, 1.0f, NULL, 1, NULL, 1, 0.0f, c, 2);
    cr_assert(c[0] == 0 && c[3] == 0);
}

/* an invalid leading dimension is reported (stderr, as xerbla) and leaves C as it was */
Test(blas, sgemm_bad_argument_leaves_c, .init = cr_redirect_stderr)
{
    float a[4] = { 1, 1, 1, 1 }, b[4] = { 1, 1, 1, 1 }, c[4] = { 7, 7, 7, 7 };
    kvb_sgemm(KVB_BLAS_ROW_MAJOR, KVB_BLAS_NO_TRANS, KVB_BLAS_NO_TRANS, 2, 2, 2, 1.0f, a, 1, b, 2, 0.0f, c, 2);
    cr_assert(c[0] == 7 && c[3] == 7);
    kvb_sgemm(KVB_BLAS_ROW_MAJOR, 99, KVB_BLAS_NO_TRANS, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    cr_assert(c[0] == 7 && c[3] == 7);
    fflush(stderr);
    cr_assert_stderr_eq_str("kvb_sgemm: parameter 9 had an illegal value\n"
                            "kvb_sgemm: parameter 2 had an illegal value\n");
}

/* one rounding each: |y - (y0 + alpha x)| <= gamma_2 * (|y0| + |alpha x|) */
Test(blas, sscal_saxpy_strides)
{
    float x[40], y[40], y0[40];
    unsigned s = 5;
    for (int i = 0; i < 40; i++)
        x[i] = frand(&s), y[i] = y0[i] = frand(&s);
    kvb_saxpy(13, -0.7f, x, 3, y, -2); /* y[24 - 2i] += alpha * x[3i] */
    for (int i = 0; i < 40; i++) {
        int hit = i % 2 == 0 && i <= 24;
        double ref = y0[i] + (hit ? -0.7 * (double)x[3 * ((24 - i) / 2)] : 0.0);
        cr_assert(fabs(y[i] - ref) <= gamma_f32(2) * (fabs(y0[i]) + fabs(ref - y0[i])), "y[%d]", i);
    }
    memcpy(y0, y, sizeof(y));
    kvb_sscal(20, 0.25f, y, 2); /* exact: a power of two */
    for (int i = 0; i < 40; i++)
        cr_assert(y[i] == (i % 2 == 0 ? y0[i] * 0.25f : y0[i]), "y[%d]", i);
    kvb_sscal(20, 3.0f, y, -1); /* incx <= 0: nothing, as in BLAS */
    kvb_saxpy(20, 0.0f, x, 1, y, 1);
    for (int i = 0; i < 40; i++)
        cr_assert(y[i] == (i % 2 == 0 ? y0[i] * 0.25f : y0[i]));
}

#ifdef KVB_BLAS_NONE
/* BLAS=none: lib's cblas_* calls are the functions tested above, bit for bit */
Test(blas, cblas_is_portable)
{
    float *a = rand_buf(40 * 70, 1), *b = rand_buf(50 * 70, 2), *c1 = calloc(40 * 50, 4), *c2 = calloc(40 * 50, 4);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 40, 50, 70, 0.5f, a, 70, b, 70, 0.0f, c1, 50);
    kvb_sgemm(KVB_BLAS_ROW_MAJOR, KVB_BLAS_NO_TRANS, KVB_BLAS_TRANS, 40, 50, 70, 0.5f, a, 70, b, 70, 0.0f, c2, 50);
    cr_assert(memcmp(c1, c2, 40 * 50 * 4) == 0);
    openblas_set_num_threads(1);
    free(a);
    free(b);
    free(c1);
    free(c2);
}
#endif
