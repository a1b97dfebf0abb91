/* kernels/model.cuh: the forward-pass driver (kvb_cuda_model_*): weights, cache and activations
 * on the device, and the per-layer loop written with the public kernels of this directory.
 * Prefill runs the projections and the MLP in chunks of KVB_MODEL_CHUNK tokens so the fp32
 * activation buffers stay small at 32k tokens; attention always sees the whole prompt. */
#ifndef KVB_CUDA_MODEL_CUH
#define KVB_CUDA_MODEL_CUH
#include "attn_decode.cuh"
#define KVB_MODEL_CHUNK 2048
#endif
