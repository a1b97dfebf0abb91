/* lib/kvcache/snapkv.c: SnapKV as KVCache-Factory's SnapKVCluster (spec §0.1, §2.1): at prefill,
 * score each prefix token by the attention the last `window` prompt queries pay it, pool the
 * scores (max or avg, kernel `kernel`), keep the top budget - window plus the window itself.
 * Prompts shorter than the budget are not compressed. Also the scorer of PyramidKV, ZigZagKV and
 * ThinK. */
#include "kvcache/engine.h"
#include "kvcache/select.h"

#include <string.h>

typedef struct window_job {
    kvb_kv *kv;
    const kvb_prefill_layer *pl;
    int w;
} window_job;

/* query heads split over the pool's threads, each with its own n-float scratch row */
static void window_worker(void *arg, int ith, int nth)
{
    window_job *j = arg;
    kvb_kv *kv = j->kv;
    const int n = j->pl->n_tokens, H = kv->shape.n_heads, D = kv->shape.head_dim;
    const int KV = kv->shape.n_kv_heads;
    for (int h = ith; h < H; h += nth)
        kvb_sel_window_attn_head(j->pl->q + (size_t)h * D, (size_t)H * D,
                                 j->pl->k + (size_t)(h / kv->group) * D, (size_t)KV * D, n, D,
                                 j->w, 0, kv->sc_attn + (size_t)h * n,
                                 kv->sc_thread + (size_t)ith * n);
}

void kvb_snapkv_scores(kvb_kv *kv, const kvb_prefill_layer *pl, float *out, float *raw)
{
    const int n = pl->n_tokens;
    const int w = KVB_MIN(kv->p.window, n), m = n - w;
    window_job job = { kv, pl, w };
    if (kv->pool)
        kvb_pool_run(kv->pool, window_worker, &job);
    else
        window_worker(&job, 0, 1);
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
