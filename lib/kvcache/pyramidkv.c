/* lib/kvcache/pyramidkv.c: PyramidKV (spec §1): SnapKV selection with a per-layer budget that
 * shrinks linearly from the first layer to the last (KVCache-Factory's schedule, integer floor
 * arithmetic reproduced exactly, select.c: kvb_sel_pyramid_caps). */
#include "kvcache/engine.h"
#include "kvcache/select.h"

int kvb_pyramidkv_cap(const kvb_kv *kv, int layer, int n)
{
    int caps[4096];
    const int mode = kvb_sel_pyramid_caps(kv->p.budget, kv->p.window, kv->L, kv->p.beta, n, caps);
    return mode == KVB_PYR_FULL ? -1 : caps[layer];
}

const struct kvb_cache_method kvb_cache_method_pyramidkv = KVB_KV_METHOD("PyramidKV", NULL, 0);
