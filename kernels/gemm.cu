/* kernels/gemm.cu: y = x . W^T via cublasGemmEx, bf16 in, fp32 accumulate. */
#include "gemm.cuh"

int kvb_cuda_gemm(kvb_cuda *c, void *y, int y_dtype, const kvb_bf16 *x, const kvb_bf16 *w, int n,
                  int in, int out, int accumulate, kvb_error *e)
{
    KVB_CU_CHECK_ARG(n > 0 && in > 0 && out > 0, e, "cuda: gemm: bad shape n=%d in=%d out=%d", n, in,
                     out);
    KVB_CU_CHECK_ARG(y_dtype == KVB_DT_F32 || y_dtype == KVB_DT_BF16, e,
                     "cuda: gemm: output dtype %d unsupported", y_dtype);
    KVB_CU_CHECK_ARG(!accumulate || y_dtype == KVB_DT_F32, e,
                     "cuda: gemm: accumulate needs an fp32 output");
    /* Row-major W (out, in) is column-major W^T (in x out); row-major x (n, in) is column-major
     * x^T (in x n). Column-major y^T (out x n) = op(W^T)=W (out x in) . x^T. */
    const float alpha = 1.f, beta = accumulate ? 1.f : 0.f;
    cublasStatus_t st = cublasGemmEx(
        c->blas, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &alpha, w, CUDA_R_16BF, in, x, CUDA_R_16BF,
        in, &beta, y, y_dtype == KVB_DT_F32 ? CUDA_R_32F : CUDA_R_16BF, out, CUBLAS_COMPUTE_32F,
        CUBLAS_GEMM_DEFAULT);
    if (st != CUBLAS_STATUS_SUCCESS)
        return kvb_cu_err(e, KVB_EIO, "cuda: cublasGemmEx (n=%d in=%d out=%d) failed: %s", n, in,
                          out, cublasGetStatusString(st));
    return 0;
}
