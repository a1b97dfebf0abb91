/* lib/kvcache/pyramidkv.c: PyramidKV (spec §1): SnapKV selection with a per-layer budget that
 * shrinks linearly from the first layer to the last (KVCache-Factory's schedule, integer floor
 * arithmetic reproduced exactly, select.c: kvb_sel_pyramid_caps). */
#include "kvcache/engine.h"
#include "kvcache/select.h"

typedef struct pyramidkv_params {
    kvb_snap_method_params base;
    int beta;
} pyramidkv_params;

static const kvb_method_param pyramidkv_table[] = {
    KVB_SNAP_PARAMS(pyramidkv_params, base.snap),
    KVB_PARAM(pyramidkv_params, beta, beta, 20),
    KVB_PARAM(pyramidkv_params, gqa, base.kv.gqa_query, 0),
};

/* Selected prefix tokens of every layer (caps, n_layers ints); returns the mode. */
static int caps_of(const pyramidkv_params *p, int L, int n, int *caps)
{
    return kvb_sel_pyramid_caps(p->base.snap.budget, p->base.snap.window, L, p->beta, n, caps);
}

static int pyramidkv_prefill(kvb_kv *kv, const kvb_prefill_layer *pl, kvb_error *e)
{
    const pyramidkv_params *p = kv->params;
    const int n = pl->n_tokens, l = pl->layer;
    int caps[4096];
    const int cap = caps_of(p, kv->L, n, caps) == KVB_PYR_FULL ? -1 : caps[l];
    kv->budgets[l] = cap < 0 ? n : cap;
    return kvb_kv_snap_layer(kv, pl, &p->base.snap, cap, NULL, e);
}

static int pyramidkv_plan(const void *params, const kvb_cache_shape *s, int n,
                          kvb_cache_plan_layer *out, char *why, size_t whylen)
{
    (void)why, (void)whylen;
    const pyramidkv_params *p = params;
    int caps[4096];
    const int mode = caps_of(p, s->n_layers, n, caps);
    const int w = p->base.snap.window;
    for (int l = 0; l < s->n_layers; l++)
        kvb_plan_fp16(&out[l], kvb_plan_evict_kept(mode == KVB_PYR_FULL ? -1 : caps[l], n, w),
                      kvb_kv_plan_heads(params, s), s);
    return 0;
}

const struct kvb_cache_method kvb_cache_method_pyramidkv = {
    .name = "PyramidKV",
    .params = pyramidkv_table,
    .n_params = KVB_ARRAY_SIZE(pyramidkv_table),
    .params_size = sizeof(pyramidkv_params),
    .check = kvb_snap_check,
    .ops = &kvb_store_ops,
    .on_device = KVB_DEVICE_HOLDS_SELECTED,
    .device_needs = KVB_NEED_WINDOW,
    .device_window = kvb_snap_window,
    .plan = pyramidkv_plan,
    .prefill_layer = pyramidkv_prefill,
};
