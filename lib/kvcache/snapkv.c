/* lib/kvcache/snapkv.c: SnapKV as KVCache-Factory's SnapKVCluster (spec §0.1, §2.1): at prefill,
 * score each prefix token by the attention the last `window` prompt queries pay it, pool the
 * scores (max or avg, kernel `kernel`), keep the top budget - window plus the window itself.
 * Prompts shorter than the budget are not compressed. Also the scorer of PyramidKV, ZigZagKV and
 * ThinK. */
#include "kvcache/engine.h"
#include "kvcache/select.h"

#include <string.h>

void kvb_snapkv_scores(kvb_kv *kv, const kvb_prefill_layer *pl, float *out, float *raw)
{
    const int n = pl->n_tokens, H = kv->shape.n_heads, D = kv->shape.head_dim;
    const int w = KVB_MIN(kv->p.window, n), m = n - w;
    kvb_sel_window_attn(pl->q, pl->k, n, H, kv->shape.n_kv_heads, D, w, 0, kv->sc_attn, kv->sc_row);
    /* Prefix columns only; kv_head layout averages the group's query heads before pooling (the
     * Factory's kv_head mode; kvpress averages after avg-pooling, the same up to rounding). */
    for (int s = 0; s < kv->S; s++) {
        float *r = kv->sc_red + (size_t)s * m;
        if (kv->p.gqa_query) {
            memcpy(r, kv->sc_attn + (size_t)s * n, (size_t)m * sizeof(float));
            continue;
        }
        for (int j = 0; j < m; j++) {
            float acc = 0.0f;
            for (int g = 0; g < kv->group; g++)
                acc += kv->sc_attn[(size_t)(s * kv->group + g) * n + j];
            r[j] = acc / (float)kv->group;
        }
    }
    for (int s = 0; s < kv->S; s++) {
        if (raw)
            memcpy(raw + (size_t)s * m, kv->sc_red + (size_t)s * m, (size_t)m * sizeof(float));
        kvb_sel_pool1d(kv->sc_red + (size_t)s * m, m, kv->p.kernel, kv->p.pool, out + (size_t)s * m);
    }
}

int kvb_snapkv_cap(const kvb_kv *kv, int n)
{
    return n < kv->p.budget ? -1 : kv->p.budget - kv->p.window;
}

const struct kvb_cache_method kvb_cache_method_snapkv = KVB_KV_METHOD("SnapKV", NULL, 0);
