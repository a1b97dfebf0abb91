/* lib/kvcache/half.h (private): IEEE fp16 storage for the cache. The cache holds K/V in 16 bits,
 * as the reference implementations (fp16 models) do, so "bytes held" and the full-16-bit reference
 * are measured on the same footing. Conversions round to nearest even (F16C). */
#ifndef KVB_KVCACHE_HALF_H
#define KVB_KVCACHE_HALF_H

#include <immintrin.h>
#include <stdint.h>

typedef uint16_t kvb_half;

static inline kvb_half kvb_f2h(float x)
{
    return (kvb_half)_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT);
}

static inline float kvb_h2f(kvb_half h)
{
    return _cvtsh_ss(h);
}

/* Round a float to the nearest fp16 value (what a torch fp16 elementwise op stores). */
static inline float kvb_round_h(float x)
{
    return kvb_h2f(kvb_f2h(x));
}

void kvb_f2h_row(kvb_half *dst, const float *src, int n);
void kvb_h2f_row(float *dst, const kvb_half *src, int n);

#endif
