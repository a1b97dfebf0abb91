/* kernels/gemm.cu: y = x . W^T, bf16 in, fp32 accumulate: cuBLAS, or the decode GEMV (gemm.cuh). */
#include "gemm.cuh"

#define GEMV_THREADS 256
#define GEMV_MAX_IN 16384 /* x staged in shared memory as bf16: 32 KiB */
#define GEMV_BATCH 4

/* How the GEMV stages x: as given (bf16), or as RMSNorm(x) of an fp32 x with its weight, computed
 * by every block exactly as rmsnorm_kernel does (same block size, same order of the sums, same
 * roundings: bit-identical to rmsnorm then GEMV) to save the norm's launch in decode. */
enum { GEMV_X_BF16, GEMV_X_RMSNORM };

/* One warp per output row at a time: 16-byte weight loads that bypass L1 (each weight byte is
 * read once per token), x from shared memory, fp32 sums, one warp reduction per row. */
template <int MODE>
__global__ void __launch_bounds__(GEMV_THREADS)
gemv_kernel(float *y, const __nv_bfloat16 *x, const float *xf, const __nv_bfloat16 *norm_w,
            float eps, const __nv_bfloat16 *w, int in, int out, int accumulate)
{
    __shared__ __align__(16) __nv_bfloat16 sx[GEMV_MAX_IN];
    const int chunks = in / 8, lane = threadIdx.x & 31, warps = GEMV_THREADS / 32;
    if (MODE == GEMV_X_BF16) {
        for (int c = threadIdx.x; c < chunks; c += GEMV_THREADS)
            reinterpret_cast<uint4 *>(sx)[c] = reinterpret_cast<const uint4 *>(x)[c];
    } else {
        __shared__ float red[32];
        float ss = 0.f;
        for (int i = threadIdx.x; i < in; i += GEMV_THREADS) ss += xf[i] * xf[i];
        ss = block_sum(ss, red);
        const float r = rsqrtf(ss / (float)in + eps);
        for (int i = threadIdx.x; i < in; i += GEMV_THREADS)
            sx[i] = kvb_f2bf(kvb_bf2f(norm_w[i]) * (xf[i] * r));
    }
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

static int gemv_ok(const void *x, const kvb_bf16 *w, int in)
{
    return in % 8 == 0 && in <= GEMV_MAX_IN && ((uintptr_t)x | (uintptr_t)w) % 16 == 0;
}

static unsigned gemv_blocks(int out)
{
    unsigned blocks = kvb_cdiv(out, GEMV_THREADS / 32);
    return blocks > 65535u ? 65535u : blocks; /* grid-stride over the rest */
}

int kvb_cu_gemv_rmsnorm(kvb_cuda *c, float *y, const float *x, const kvb_bf16 *norm_w, float eps,
                        const kvb_bf16 *w, int in, int out, int accumulate, kvb_error *e)
{
    if (!gemv_ok(x, w, in) || out <= 0)
        return kvb_cu_err(e, KVB_EUNSUP, "cuda: gemv_rmsnorm: shape in=%d out=%d", in, out);
    gemv_kernel<GEMV_X_RMSNORM><<<gemv_blocks(out), GEMV_THREADS, 0, c->stream>>>(
        y, NULL, x, as_bf(norm_w), eps, as_bf(w), in, out, accumulate);
    return kvb_cu_launch(e, "gemv (rmsnorm staged)");
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
    if (n == 1 && y_dtype == KVB_DT_F32 && gemv_ok(x, w, in)) {
        gemv_kernel<GEMV_X_BF16><<<gemv_blocks(out), GEMV_THREADS, 0, c->stream>>>(
            (float *)y, as_bf(x), NULL, NULL, 0.f, as_bf(w), in, out, accumulate);
        return kvb_cu_launch(e, "gemv");
    }
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
