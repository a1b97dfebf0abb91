/* kernels/kivi.cuh: KIVI quantize+pack (keys per channel, values per token) and the fused
 * dequantize-attention for decode. Layouts: kvb_cuda.h. The attention kernel uses the split-K
 * structure and the combine step of attn_decode.cuh; codes are unpacked and dequantized in
 * registers (q * scale + min), never written back as floats. */
#ifndef KVB_CUDA_KIVI_CUH
#define KVB_CUDA_KIVI_CUH
#include "attn_decode.cuh"
#include "cpu_ref.h"

#define KVB_KQ_THREADS 128

/* Dequantization with the twin's exact rounding (no FMA contraction). */
__device__ __forceinline__ float kivi_deq(uint32_t code, float s, float z)
{
    return __fadd_rn(__fmul_rn((float)code, s), z);
}
#endif
