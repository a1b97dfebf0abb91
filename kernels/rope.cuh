/* kernels/rope.cuh: rotary embedding (HF rotate_half layout), one block per token. */
#ifndef KVB_CUDA_ROPE_CUH
#define KVB_CUDA_ROPE_CUH
#include "common.cuh"
#define KVB_ROPE_THREADS 128
#endif
