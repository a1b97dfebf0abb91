/* lib/kvcache/h2o.c: H2O as KVCache-Factory's H2OKVCluster (spec §2.2), the one-shot prefill
 * variant: score each prefix token by the attention all prompt queries pay it (column sums of
 * the causal attention), no pooling, keep the top budget - window plus the window. The forward
 * pass provides the column sums (KVB_NEED_COLSUM); when it does not, they are computed
 * (scores.c) without materialising the n x n matrix. */
#include "kvcache/engine.h"

typedef struct h2o_params {
    kvb_kv_params kv;
    int budget, window;
} h2o_params;

static const kvb_method_param h2o_table[] = {
    KVB_PARAM(h2o_params, budget, budget, 512),
    KVB_PARAM(h2o_params, window, window, 8),
    KVB_PARAM(h2o_params, gqa, kv.gqa_query, 0),
};

static int h2o_check(const void *params, const kvb_cache_shape *s, kvb_error *e)
{
    (void)s;
    const h2o_params *p = params;
    return kvb_window_check(p->budget, p->window, e);
}

static int h2o_cap(const h2o_params *p, int n)
{
    return n < p->budget ? -1 : p->budget - p->window;
}

static int h2o_prefill(kvb_kv *kv, const kvb_prefill_layer *pl, kvb_error *e)
{
    const h2o_params *p = kv->params;
    const int cap = h2o_cap(p, pl->n_tokens);
    if (cap >= 0)
        kvb_kv_colsum_scores(kv, pl, p->window, kv->sc_pool);
    return kvb_kv_keep_topk(kv, pl, kv->sc_pool, cap, p->window, NULL, e);
}

static int h2o_plan(const void *params, const kvb_cache_shape *s, int n,
                    kvb_cache_plan_layer *out, char *why, size_t whylen)
{
    (void)why, (void)whylen;
    const h2o_params *p = params;
    return kvb_kv_plan_fp16(params, s, kvb_plan_evict_kept(h2o_cap(p, n), n, p->window), out);
}

const struct kvb_cache_method kvb_cache_method_h2o = {
    .name = "H2O",
    .params = h2o_table,
    .n_params = KVB_ARRAY_SIZE(h2o_table),
    .params_size = sizeof(h2o_params),
    .check = h2o_check,
    .needs = KVB_NEED_COLSUM,
    .ops = &kvb_store_ops,
    .on_device = KVB_DEVICE_HOLDS_SELECTED,
    .device_needs = KVB_NEED_COLSUM,
    .plan = h2o_plan,
    .prefill_layer = h2o_prefill,
};
