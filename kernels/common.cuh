/* kernels/common.cuh: what every .cu file shares: the context struct, error filling, bf16/fp16
 * helpers and warp reductions. Private to kernels/. */
#ifndef KVB_CUDA_COMMON_CUH
#define KVB_CUDA_COMMON_CUH

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdarg.h>
#include <stdio.h>

#include "kvb_cuda.h"

struct kvb_cuda {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    size_t bytes, peak; /* own accounting of kvb_cuda_alloc */
    void **live;        /* live allocations and their sizes (few: weights, caches, buffers) */
    size_t *live_size;
    int n_live, cap_live;
    int attn_impl;      /* KVB_ATTN_* */
};

/* Fill e like kvb_errorf (lib/core), without linking lib/core into the CUDA library. */
static inline int kvb_cu_err(kvb_error *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int kvb_cu_err(kvb_error *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->code = code;
    }
    return code;
}

/* Status of the last launch, named after the kernel. */
static inline int kvb_cu_launch(kvb_error *e, const char *what)
{
    cudaError_t st = cudaGetLastError();
    if (st != cudaSuccess)
        return kvb_cu_err(e, KVB_EIO, "cuda: %s: launch failed: %s", what, cudaGetErrorString(st));
    return 0;
}

#define KVB_CU_CHECK_ARG(cond, e, ...)                                                              \
    do {                                                                                           \
        if (!(cond)) return kvb_cu_err((e), KVB_EINVAL, __VA_ARGS__);                             \
    } while (0)

__device__ __forceinline__ float kvb_bf2f(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ __nv_bfloat16 kvb_f2bf(float x) { return __float2bfloat16_rn(x); }

static inline __host__ __device__ const __nv_bfloat16 *as_bf(const kvb_bf16 *p)
{
    return reinterpret_cast<const __nv_bfloat16 *>(p);
}
static inline __host__ __device__ __nv_bfloat16 *as_bf(kvb_bf16 *p) { return reinterpret_cast<__nv_bfloat16 *>(p); }
static inline __host__ __device__ const __half *as_h(const kvb_f16 *p) { return reinterpret_cast<const __half *>(p); }
static inline __host__ __device__ __half *as_h(kvb_f16 *p) { return reinterpret_cast<__half *>(p); }

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Block-wide sum for blockDim.x a multiple of 32 (<= 1024); every thread gets the result.
 * `red` is shared scratch of 32 floats. */
__device__ __forceinline__ float block_sum(float v, float *red)
{
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) red[wid] = v;
    __syncthreads();
    v = lane < nw ? red[lane] : 0.f;
    return warp_sum(v);
}
__device__ __forceinline__ float block_max(float v, float *red)
{
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) red[wid] = v;
    __syncthreads();
    v = lane < nw ? red[lane] : -INFINITY;
    return warp_max(v);
}

/* return a non-zero status at once */
#define TRY(x)                                                                                     \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_) return rc_;                                                                       \
    } while (0)

static inline unsigned kvb_cdiv(long a, long b) { return (unsigned)((a + b - 1) / b); }

#endif
