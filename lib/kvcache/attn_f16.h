/* lib/kvcache private: the f16 decode-attention kernels shared by the `full` cache and the token
 * stores of the compressed methods (store.c). Sharing them is what keeps a method that holds every
 * token bit-identical to `full dtype=f16`: every output element is summed in the same order. */
#ifndef KVB_ATTN_F16_H
#define KVB_ATTN_F16_H

#include <stdint.h>

/* Scaled scores of G query heads (q: G rows of hd floats) against n f16 K rows (hd apart):
 * sc[g*n + t] = scale * q_g . k_t. hd must be a multiple of 8. Each dot is an 8-wide FMA over hd
 * followed by the pairwise horizontal sum of core/simd.h, 8 keys at a time (8x8 transpose-add). */
void kvb_f16_scores(const uint16_t *k, int n, int hd, const float *q, int G, float scale, float *sc);
/* out[g*hd + d] = sum_t p[g*n + t] v_t[d] over n f16 V rows, t ascending, starting from 0.
 * hd must be a multiple of 32 and 1 <= G <= 4 (KVB_F16_MAX_GROUP). */
#define KVB_F16_MAX_GROUP 4
void kvb_f16_values(const uint16_t *v, int n, int hd, const float *p, int G, float *out);

#endif
