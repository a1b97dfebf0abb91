/* kernels/rope.cuh: rotary embedding (HF rotate_half layout), one block per token. */
#ifndef KVB_CUDA_ROPE_CUH
#define KVB_CUDA_ROPE_CUH
#include "common.cuh"
#define KVB_ROPE_THREADS 128

/* Channels i and i + D/2 of one head rotated by angle p * f, rounded to bf16 (the CPU twin's order
 * of f32 operations: one copy of the arithmetic for the prompt and the decode kernels). */
__device__ __forceinline__ void kvb_rope_pair(float a, float b, float p, float f, __nv_bfloat16 *oa,
                                              __nv_bfloat16 *ob)
{
    float s, co;
    sincosf(__fmul_rn(p, f), &s, &co); /* full-precision sincosf: the CPU twin uses sinf/cosf */
    *oa = kvb_f2bf(__fsub_rn(__fmul_rn(a, co), __fmul_rn(b, s)));
    *ob = kvb_f2bf(__fadd_rn(__fmul_rn(b, co), __fmul_rn(a, s)));
}
#endif
