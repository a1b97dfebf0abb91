/* lib/kvcache/streamingllm.c: StreamingLLM as KVCache-Factory's StreamingLLMKVCluster (spec §2.3):
 * at prefill keep the first `sink` tokens and the last budget - sink; prefill only, no rolling
 * window while decoding, no re-rotation. Position-based, so identical in both GQA layouts. */
#include "kvcache/engine.h"
#include "kvcache/select.h"

typedef struct streamingllm_params {
    kvb_kv_params kv;
    int budget, sink;
} streamingllm_params;

static const kvb_method_param streamingllm_table[] = {
    KVB_PARAM(streamingllm_params, budget, budget, 512),
    KVB_PARAM(streamingllm_params, sink, sink, 4),
    KVB_PARAM(streamingllm_params, gqa, kv.gqa_query, 0),
};

static int streamingllm_check(const void *params, const kvb_cache_shape *s, kvb_error *e)
{
    (void)s;
    const streamingllm_params *p = params;
    if (p->budget <= p->sink)
        return kvb_errorf(e, KVB_EINVAL, "budget %d must exceed sink %d", p->budget, p->sink);
    return 0;
}

static int streamingllm_prefill(kvb_kv *kv, const kvb_prefill_layer *pl, kvb_error *e)
{
    const streamingllm_params *p = kv->params;
    const int m = kvb_sel_streaming(pl->n_tokens, p->budget, p->sink, kv->sc_idx);
    return kvb_kv_fill_all(kv, pl, kv->sc_idx, m, e);
}

static int streamingllm_plan(const void *params, const kvb_cache_shape *s, int n,
                             kvb_cache_plan_layer *out, char *why, size_t whylen)
{
    (void)why, (void)whylen;
    const streamingllm_params *p = params;
    return kvb_kv_plan_fp16(params, s, n <= p->budget ? n : p->budget, out);
}

const struct kvb_cache_method kvb_cache_method_streamingllm = {
    .name = "StreamingLLM",
    .params = streamingllm_table,
    .n_params = KVB_ARRAY_SIZE(streamingllm_table),
    .params_size = sizeof(streamingllm_params),
    .check = streamingllm_check,
    .ops = &kvb_store_ops,
    .on_device = KVB_DEVICE_HOLDS_SELECTED,
    .plan = streamingllm_plan,
    .prefill_layer = streamingllm_prefill,
};
