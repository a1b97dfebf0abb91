/* lib/kvcache/snapkv.c: SnapKV as KVCache-Factory's SnapKVCluster (spec §0.1, §2.1): at prefill,
 * score each prefix token by the attention the last `window` prompt queries pay it, pool the
 * scores (max or avg, kernel `kernel`), keep the top budget - window plus the window itself.
 * Prompts shorter than the budget are not compressed. The scorer (scores.c) is also PyramidKV's,
 * ZigZagKV's and ThinK's. */
#include "kvcache/engine.h"

typedef kvb_snap_method_params snapkv_params;

static const kvb_method_param snapkv_table[] = {
    KVB_SNAP_PARAMS(snapkv_params, snap),
    KVB_PARAM(snapkv_params, gqa, kv.gqa_query, 0),
};

static int snapkv_prefill(kvb_kv *kv, const kvb_prefill_layer *pl, kvb_error *e)
{
    const kvb_snap_params *sp = &((const snapkv_params *)kv->params)->snap;
    return kvb_kv_snap_layer(kv, pl, sp, kvb_snap_cap(sp, pl->n_tokens), NULL, e);
}

static int snapkv_plan(const void *params, const kvb_cache_shape *s, int n,
                       kvb_cache_plan_layer *out, char *why, size_t whylen)
{
    (void)why, (void)whylen;
    const kvb_snap_params *sp = &((const snapkv_params *)params)->snap;
    return kvb_kv_plan_fp16(params, s, kvb_plan_evict_kept(kvb_snap_cap(sp, n), n, sp->window),
                            out);
}

const struct kvb_cache_method kvb_cache_method_snapkv = {
    .name = "SnapKV",
    .params = snapkv_table,
    .n_params = KVB_ARRAY_SIZE(snapkv_table),
    .params_size = sizeof(snapkv_params),
    .check = kvb_snap_check,
    .ops = &kvb_store_ops,
    .on_device = KVB_DEVICE_HOLDS_SELECTED,
    .device_needs = KVB_NEED_WINDOW,
    .device_window = kvb_snap_window,
    .plan = snapkv_plan,
    .prefill_layer = snapkv_prefill,
};
