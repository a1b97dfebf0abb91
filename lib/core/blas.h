/* A portable single-precision BLAS: exactly the cblas calls lib makes (sgemm, sscal, saxpy), with a
 * cache-blocked AVX2/FMA sgemm. Always compiled under these kvb_ names (so its test runs on every
 * build); `make BLAS=none` links no OpenBLAS and serves the cblas_* calls from here instead
 * (lib/core/blas_none/cblas.h declares them, blas.c defines them only under KVB_BLAS_NONE).
 * Single-threaded per call: lib's callers split their GEMMs over their own thread pools. */
#ifndef KVB_BLAS_H
#define KVB_BLAS_H

/* the cblas enumeration values, so the cblas_* wrappers pass their arguments through unchanged */
enum { KVB_BLAS_ROW_MAJOR = 101, KVB_BLAS_COL_MAJOR = 102 };
enum { KVB_BLAS_NO_TRANS = 111, KVB_BLAS_TRANS = 112, KVB_BLAS_CONJ_TRANS = 113 };

/* C = alpha * op(A) op(B) + beta * C as cblas_sgemm defines it (order, op = transposed or not; a
 * real ConjTrans is Trans); C is (m, n), op(A) (m, k), op(B) (k, n). beta == 0 ignores C's
 * old contents (NaN included), as BLAS does. Invalid arguments (a leading dimension too small, an
 * unknown enum) are programmer errors: reported on stderr like xerbla, C left unchanged. */
void kvb_sgemm(int order, int transa, int transb, int m, int n, int k, float alpha, const float *a,
               int lda, const float *b, int ldb, float beta, float *c, int ldc);
/* the same blocking with the scalar micro-kernel: the AVX2 kernel's twin in the tests */
void kvb_sgemm_scalar(int order, int transa, int transb, int m, int n, int k, float alpha,
                      const float *a, int lda, const float *b, int ldb, float beta, float *c,
                      int ldc);
/* x = alpha * x (n elements, stride incx; incx <= 0 does nothing, as in BLAS) */
void kvb_sscal(int n, float alpha, float *x, int incx);
/* y = alpha * x + y (strides may be negative: the vectors then start from their far end) */
void kvb_saxpy(int n, float alpha, const float *x, int incx, float *y, int incy);

#endif
