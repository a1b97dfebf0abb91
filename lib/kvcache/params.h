/* lib/kvcache/params.h (private): the table of method parameters, their defaults, ranges and
 * validation, shared by cache creation (kvb_cache_create) and the dry-run plan (kvb_cache_plan).
 * Defaults mirror configs/methods/<name>.json (a unit test keeps them equal). */
#ifndef KVB_KVCACHE_PARAMS_H
#define KVB_KVCACHE_PARAMS_H

#include "kvcache/kvcache.h"

enum kvb_kind {
    KVB_KIND_FULL,
    KVB_KIND_SNAPKV,
    KVB_KIND_PYRAMIDKV,
    KVB_KIND_H2O,
    KVB_KIND_STREAMINGLLM,
    KVB_KIND_ZIGZAGKV,
    KVB_KIND_THINK,
    KVB_KIND_SIMLAYERKV,
    KVB_KIND_KIVI,
    KVB_KIND_SIMLAYERKV_KIVI,
    KVB_KIND_COUNT
};

typedef struct kvb_kvparams {
    int kind;
    const char *name; /* canonical method name */
    /* eviction (SnapKV family) */
    int budget, window, kernel, pool, beta;
    /* StreamingLLM / SimLayerKV windows */
    int sink, recent;
    /* ZigZagKV */
    double tau, bmin_ratio;
    int lmba_pooled;
    /* ThinK */
    double ratio;
    int qwindow;
    /* SimLayerKV */
    double threshold;
    /* KIVI */
    int bits, group, residual;
    /* full: f16 storage (default) or f32 (dtype=f32) */
    int f16;
    /* GQA layout: 0 = one copy per kv head (kv_head), 1 = per query head (query_head) */
    int gqa_query;
} kvb_kvparams;

/* Canonical name of a method (case-insensitive, aliases accepted) or NULL. */
const char *kvb_kvparams_canonical(const char *method, int *kind);
/* Comma-separated list of the canonical method names, for error messages. */
const char *kvb_kvparams_method_list(void);
const char *kvb_kvparams_kind_name(int kind);

/* Defaults for the method and model family, then params applied and validated against shape
 * (group must divide head_dim...). Errors are one line naming the valid choices. */
int kvb_kvparams_parse(const char *method, const kvb_cache_shape *shape,
                       const kvb_cache_param *params, int n_params, kvb_kvparams *out,
                       kvb_error *e);

/* Effective parameters as JSON object text (caller frees). */
char *kvb_kvparams_json(const kvb_kvparams *p);

/* Default threshold of SimLayerKV for a model family (spec B.2; smollm2/unknown: see docs). */
double kvb_kvparams_default_threshold(const char *family);

#endif
