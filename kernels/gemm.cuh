/* kernels/gemm.cuh: bf16 GEMM through cuBLAS (see kvb_cuda_gemm in kvb_cuda.h). No custom kernel:
 * cuBLAS picks tensor-core kernels for bf16 inputs with fp32 compute on sm_80/sm_90. */
#ifndef KVB_CUDA_GEMM_CUH
#define KVB_CUDA_GEMM_CUH
#include "common.cuh"
#endif
