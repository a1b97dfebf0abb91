/* kernels/swiglu.cu: o = bf16(silu(g) * u), silu(g) = g / (1 + exp(-g)) in fp32. */
#include "swiglu.cuh"

__global__ void swiglu_kernel(__nv_bfloat16 *o, const float *g, const float *u, int stride, int f)
{
    int t = blockIdx.y;
    const float *gr = g + (size_t)t * stride, *ur = u + (size_t)t * stride;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < f; i += gridDim.x * blockDim.x) {
        float a = gr[i];
        float s = __fdiv_rn(a, 1.f + expf(-a));
        o[(size_t)t * f + i] = kvb_f2bf(__fmul_rn(s, ur[i]));
    }
}

__global__ void to_bf16_kernel(__nv_bfloat16 *o, int o_stride, const float *x, int x_stride, int d)
{
    int t = blockIdx.y;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < d; i += gridDim.x * blockDim.x)
        o[(size_t)t * o_stride + i] = kvb_f2bf(x[(size_t)t * x_stride + i]);
}

int kvb_cuda_swiglu(kvb_cuda *c, kvb_bf16 *o, const float *gate, const float *up, int stride, int n,
                    int f, kvb_error *e)
{
    KVB_CU_CHECK_ARG(n > 0 && f > 0 && stride >= f && n <= 65535, e,
                     "cuda: swiglu: bad shape n=%d f=%d stride=%d", n, f, stride);
    dim3 grid(kvb_cdiv(f, KVB_ELTWISE_THREADS) < 64 ? kvb_cdiv(f, KVB_ELTWISE_THREADS) : 64, n);
    swiglu_kernel<<<grid, KVB_ELTWISE_THREADS, 0, c->stream>>>(as_bf(o), gate, up, stride, f);
    return kvb_cu_launch(e, "swiglu");
}

int kvb_cuda_to_bf16(kvb_cuda *c, kvb_bf16 *o, int o_stride, const float *x, int x_stride, int n,
                     int d, kvb_error *e)
{
    KVB_CU_CHECK_ARG(n > 0 && d > 0 && n <= 65535 && o_stride >= d && x_stride >= d, e,
                     "cuda: to_bf16: bad shape n=%d d=%d", n, d);
    dim3 grid(kvb_cdiv(d, KVB_ELTWISE_THREADS) < 64 ? kvb_cdiv(d, KVB_ELTWISE_THREADS) : 64, n);
    to_bf16_kernel<<<grid, KVB_ELTWISE_THREADS, 0, c->stream>>>(as_bf(o), o_stride, x, x_stride, d);
    return kvb_cu_launch(e, "to_bf16");
}
