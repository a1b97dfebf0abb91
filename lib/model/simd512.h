/* AVX-512 helpers of the bf16 prefill (attn.c, gemm_bf16.c): compiled for the target by function
 * attribute, called only where the CPU has AVX-512 (the build's baseline stays AVX2). */
#ifndef KVB_MODEL_SIMD512_H
#define KVB_MODEL_SIMD512_H

#include <immintrin.h>

#include "core/simd.h"

#define KVB_AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512bf16")))

/* exp(x) for 16 floats: kvb_exp512 (core/simd.h), the 16-lane twin of the AVX2 exp. */

#endif
