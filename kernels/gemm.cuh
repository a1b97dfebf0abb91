/* kernels/gemm.cuh: y = x . W^T (see kvb_cuda_gemm in kvb_cuda.h). Prompts go through cuBLAS
 * (tensor-core kernels for bf16 inputs, fp32 compute). A single token (decode) goes through our
 * own GEMV: cuBLAS' GEMM tiles for n = 1 leave most SMs idle on the narrow projections (o_proj,
 * down_proj: 32 tiles of 128 rows on 132 SMs), and decode is bound by reading the weights. */
#ifndef KVB_CUDA_GEMM_CUH
#define KVB_CUDA_GEMM_CUH
#include "common.cuh"
#endif
