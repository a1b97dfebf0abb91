/* lib/kvcache/streamingllm.c: StreamingLLM as KVCache-Factory's StreamingLLMKVCluster (spec §2.3):
 * at prefill keep the first `sink` tokens and the last budget - sink; prefill only, no rolling
 * window while decoding, no re-rotation. Position-based, so identical in both GQA layouts. */
#include "kvcache/engine.h"
#include "kvcache/select.h"

int kvb_streaming_keep(const kvb_kv *kv, int n, int *idx)
{
    return kvb_sel_streaming(n, kv->p.budget, kv->p.sink, idx);
}

const struct kvb_cache_method kvb_cache_method_streamingllm = KVB_KV_METHOD("StreamingLLM", NULL, 0);
