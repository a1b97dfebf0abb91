/* lib/kvcache/kivi.c: KIVI (spec C): keys quantized per channel in groups of `group` tokens,
 * values per token in groups of `group` channels, `bits` 2 or 4, codes packed 32/bits per 32-bit
 * word with fp16 scale and zero point per group; the newest tokens stay in fp16 (keys: T mod R
 * after prefill, flushed R at a time; values: a sliding window of R). Decode attention runs on
 * the packed codes (store.c: fused dequantization); the shared store quantizes (engine.c). */
#include "kvcache/engine.h"

typedef struct kivi_params {
    kvb_kv_params kv;
    kvb_quant_params quant;
} kivi_params;

static const kvb_method_param kivi_table[] = {
    KVB_QUANT_PARAMS(kivi_params, quant, 2),
    KVB_PARAM(kivi_params, gqa, kv.gqa_query, 0),
};

static int kivi_check(const void *params, const kvb_cache_shape *s, kvb_error *e)
{
    return kvb_quant_check(&((const kivi_params *)params)->quant, s, e);
}

static int kivi_prefill(kvb_kv *kv, const kvb_prefill_layer *pl, kvb_error *e)
{
    return kvb_kv_quantize_prefill(kv, pl, &((const kivi_params *)kv->params)->quant, e);
}

static const kvb_quant_params *kivi_quant(const void *params)
{
    return &((const kivi_params *)params)->quant;
}

static int kivi_plan(const void *params, const kvb_cache_shape *s, int n,
                     kvb_cache_plan_layer *out, char *why, size_t whylen)
{
    (void)why, (void)whylen;
    for (int l = 0; l < s->n_layers; l++)
        kvb_quant_plan(&out[l], &((const kivi_params *)params)->quant, n,
                       kvb_kv_plan_heads(params, s), s);
    return 0;
}

const struct kvb_cache_method kvb_cache_method_kivi = {
    .name = "KIVI",
    .params = kivi_table,
    .n_params = KVB_ARRAY_SIZE(kivi_table),
    .params_size = sizeof(kivi_params),
    .check = kivi_check,
    .ops = &kvb_store_ops,
    .plan = kivi_plan,
    .prefill_layer = kivi_prefill,
    .on_device = KVB_DEVICE_HOLDS_KIVI,
    .device_quant = kivi_quant,
};
