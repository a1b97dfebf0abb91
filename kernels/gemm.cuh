/* kernels/gemm.cuh: y = x . W^T (see kvb_cuda_gemm in kvb_cuda.h). Prompts go through cuBLAS
 * (tensor-core kernels for bf16 inputs, fp32 compute). A single token (decode) goes through our
 * own GEMV: cuBLAS' GEMM tiles for n = 1 leave most SMs idle on the narrow projections (o_proj,
 * down_proj: 32 tiles of 128 rows on 132 SMs), and decode is bound by reading the weights. */
#ifndef KVB_CUDA_GEMM_CUH
#define KVB_CUDA_GEMM_CUH
#include "common.cuh"

/* Decode's RMSNorm fused into the GEMV that consumes it: y (out) (+)= bf16(RMSNorm(x) * norm_w) .
 * W^T for one fp32 row x, bit-identical to kvb_cuda_rmsnorm then kvb_cuda_gemm with n = 1.
 * KVB_EUNSUP (nothing launched) where the GEMV does not take the shape: the caller falls back. */
int kvb_cu_gemv_rmsnorm(kvb_cuda *c, float *y, const float *x, const kvb_bf16 *norm_w, float eps,
                        const kvb_bf16 *w, int in, int out, int accumulate, kvb_error *e);
#endif
