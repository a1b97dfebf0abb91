/* kernels/gemm.cu: y = x . W^T, bf16 in, fp32 accumulate: cuBLAS, or the decode GEMV (gemm.cuh). */
#include "gemm.cuh"

#define GEMV_THREADS 256
#define GEMV_MAX_IN 16384 /* x staged in shared memory as bf16: 32 KiB */
#define GEMV_BATCH 4

/* One warp per output row at a time: 16-byte weight loads that bypass L1 (each weight byte is
 * read once per token), x from shared memory, fp32 sums, one warp reduction per row. */
__global__ void __launch_bounds__(GEMV_THREADS)
gemv_kernel(float *y, const __nv_bfloat16 *x, const __nv_bfloat16 *w, int in, int out, int accumulate)
{
    __shared__ __align__(16) __nv_bfloat16 sx[GEMV_MAX_IN];
    const int chunks = in / 8, lane = threadIdx.x & 31, warps = GEMV_THREADS / 32;
    for (int c = threadIdx.x; c < chunks; c += GEMV_THREADS)
        reinterpret_cast<uint4 *>(sx)[c] = reinterpret_cast<const uint4 *>(x)[c];
    __syncthreads();
    for (int row = blockIdx.x * warps + (threadIdx.x >> 5); row < out; row += gridDim.x * warps) {
        const uint4 *wr = reinterpret_cast<const uint4 *>(w + (size_t)row * in);
        float acc = 0.f;
        /* four 16-byte loads in flight per lane before their multiply-adds */
        for (int c0 = lane; c0 < chunks; c0 += 32 * GEMV_BATCH) {
            uint4 wv[GEMV_BATCH];
#pragma unroll
            for (int u = 0; u < GEMV_BATCH; u++)
                wv[u] = c0 + 32 * u < chunks ? __ldcs(wr + c0 + 32 * u) : make_uint4(0, 0, 0, 0);
#pragma unroll
            for (int u = 0; u < GEMV_BATCH; u++) {
                if (c0 + 32 * u >= chunks) break;
                uint4 xv = reinterpret_cast<const uint4 *>(sx)[c0 + 32 * u];
                const __nv_bfloat162 *wp = reinterpret_cast<const __nv_bfloat162 *>(&wv[u]);
                const __nv_bfloat162 *xp = reinterpret_cast<const __nv_bfloat162 *>(&xv);
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    float2 a = __bfloat1622float2(wp[i]), b = __bfloat1622float2(xp[i]);
                    acc = fmaf(a.x, b.x, acc);
                    acc = fmaf(a.y, b.y, acc);
                }
            }
        }
        acc = warp_sum(acc);
        if (lane == 0) y[row] = accumulate ? y[row] + acc : acc;
    }
}

static int gemv(kvb_cuda *c, float *y, const kvb_bf16 *x, const kvb_bf16 *w, int in, int out,
                int accumulate, kvb_error *e)
{
    const int warps = GEMV_THREADS / 32;
    unsigned blocks = kvb_cdiv(out, warps);
    if (blocks > 65535u) blocks = 65535u; /* grid-stride over the rest */
    gemv_kernel<<<blocks, GEMV_THREADS, 0, c->stream>>>(y, as_bf(x), as_bf(w), in, out, accumulate);
    return kvb_cu_launch(e, "gemv");
}

int kvb_cuda_gemm(kvb_cuda *c, void *y, int y_dtype, const kvb_bf16 *x, const kvb_bf16 *w, int n,
                  int in, int out, int accumulate, kvb_error *e)
{
    KVB_CU_CHECK_ARG(n > 0 && in > 0 && out > 0, e, "cuda: gemm: bad shape n=%d in=%d out=%d", n, in,
                     out);
    KVB_CU_CHECK_ARG(y_dtype == KVB_DT_F32 || y_dtype == KVB_DT_BF16, e,
                     "cuda: gemm: output dtype %d unsupported", y_dtype);
    KVB_CU_CHECK_ARG(!accumulate || y_dtype == KVB_DT_F32, e,
                     "cuda: gemm: accumulate needs an fp32 output");
    /* the GEMV reads whole 16-byte chunks: rows of a multiple of 8 elements, aligned pointers */
    if (n == 1 && y_dtype == KVB_DT_F32 && in % 8 == 0 && in <= GEMV_MAX_IN &&
        ((uintptr_t)x | (uintptr_t)w) % 16 == 0)
        return gemv(c, (float *)y, x, w, in, out, accumulate, e);
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
