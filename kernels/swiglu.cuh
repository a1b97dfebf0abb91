/* kernels/swiglu.cuh: SwiGLU activation and fp32 -> bf16 row copies (elementwise). */
#ifndef KVB_CUDA_SWIGLU_CUH
#define KVB_CUDA_SWIGLU_CUH
#include "common.cuh"
#define KVB_ELTWISE_THREADS 256
#endif
