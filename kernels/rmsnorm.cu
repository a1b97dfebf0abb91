/* kernels/rmsnorm.cu: o = bf16(w * x * rsqrt(mean(x^2) + eps)), fp32 statistics as HF's
 * LlamaRMSNorm (which upcasts to fp32 for the variance). */
#include "rmsnorm.cuh"

__global__ void rmsnorm_kernel(__nv_bfloat16 *o, const float *x, const __nv_bfloat16 *w, int d,
                               float eps)
{
    __shared__ float red[32];
    const float *xr = x + (size_t)blockIdx.x * d;
    float ss = 0.f;
    for (int i = threadIdx.x; i < d; i += blockDim.x) ss += xr[i] * xr[i];
    ss = block_sum(ss, red);
    float r = rsqrtf(ss / (float)d + eps);
    __nv_bfloat16 *orow = o + (size_t)blockIdx.x * d;
    for (int i = threadIdx.x; i < d; i += blockDim.x)
        orow[i] = kvb_f2bf(kvb_bf2f(w[i]) * (xr[i] * r));
}

int kvb_cuda_rmsnorm(kvb_cuda *c, kvb_bf16 *o, const float *x, const kvb_bf16 *w, int n, int d,
                     float eps, kvb_error *e)
{
    KVB_CU_CHECK_ARG(n > 0 && d > 0, e, "cuda: rmsnorm: bad shape n=%d d=%d", n, d);
    rmsnorm_kernel<<<n, KVB_RMSNORM_THREADS, 0, c->stream>>>(as_bf(o), x, as_bf(w), d, eps);
    return kvb_cu_launch(e, "rmsnorm");
}
