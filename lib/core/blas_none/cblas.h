/* cblas.h for `make BLAS=none` (this folder is on the include path only then): the cblas calls lib
 * makes, served by lib/core/blas.c, so a host without OpenBLAS or its headers builds kvbench.
 * The enumeration values are the reference CBLAS ones (blas.h's KVB_BLAS_* equal them). */
#ifndef KVB_CBLAS_NONE_H
#define KVB_CBLAS_NONE_H

enum CBLAS_ORDER { CblasRowMajor = 101, CblasColMajor = 102 };
enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112, CblasConjTrans = 113 };

void cblas_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE transa, enum CBLAS_TRANSPOSE transb,
                 int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
                 float beta, float *c, int ldc);
void cblas_sscal(int n, float alpha, float *x, int incx);
void cblas_saxpy(int n, float alpha, const float *x, int incx, float *y, int incy);
void openblas_set_num_threads(int num_threads); /* a no-op: every call is single-threaded */

#endif
