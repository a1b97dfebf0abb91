/* kernels/rmsnorm.cuh: RMSNorm, one block per row. */
#ifndef KVB_CUDA_RMSNORM_CUH
#define KVB_CUDA_RMSNORM_CUH
#include "common.cuh"
#define KVB_RMSNORM_THREADS 256
#endif
