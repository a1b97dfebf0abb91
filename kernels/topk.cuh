/* kernels/topk.cuh: per-row top-k and cumulative-mass counts by radix selection.
 *
 * One block per row. Floats map to order-preserving uint32 keys; four passes of 8-bit digit
 * histograms (shared-memory atomics) find the k-th largest key (top-k) or the key where the
 * descending cumulative mass crosses tau * total (mass count) without sorting the row. Top-k then
 * compacts the selected indices in index order with ballot/popc scans, so the output is ascending
 * and ties at the threshold go to the lower indices, exactly as a stable sort would choose.
 * k = 1 takes a one-pass argmax (same tie rule). */
#ifndef KVB_CUDA_TOPK_CUH
#define KVB_CUDA_TOPK_CUH
#include "common.cuh"
#define KVB_TOPK_THREADS 256
#define KVB_ARGMAX_THREADS 1024

__device__ __forceinline__ uint32_t kvb_fkey(float f)
{
    if (f == 0.f) f = 0.f; /* -0 and +0 compare equal: give them one key */
    uint32_t u = __float_as_uint(f);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ float kvb_fkey_inv(uint32_t k)
{
    return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}
#endif
