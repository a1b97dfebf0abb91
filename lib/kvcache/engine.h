/* lib/kvcache/engine.h (private): the compressing cache methods behind the kvb_cache interface.
 *
 * One engine object runs any method but full (which lib/kvcache/full.c implements): it owns the
 * per-layer, per-stored-head stores (store.h), calls the method's policy at prefill (the policy
 * files snapkv.c, pyramidkv.c, h2o.c, streamingllm.c, zigzagkv.c, think.c, simlayerkv.c, kivi.c
 * decide what is kept and in which form) and runs decode attention over what is held.
 * The registry wires each method name to these functions. */
#ifndef KVB_KVCACHE_ENGINE_H
#define KVB_KVCACHE_ENGINE_H

#include "kvcache/kvcache.h"
#include "kvcache/kvcache_impl.h"
#include "kvcache/params.h"
#include "kvcache/store.h"

typedef struct kvb_kv {
    kvb_kvparams p;
    kvb_cache_shape shape;
    char family[32];
    kvb_pool *pool;
    int L, S;         /* layers, stored heads per layer (kv heads or query heads) */
    int group;        /* query heads per kv head */
    int n_prompt;     /* prompt length of the current record */
    int room;         /* decode tokens the stores must still accept */
    long generated;   /* tokens appended since prefill (per layer 0) */
    int prefilled;    /* layers seen at prefill in this record */
    kvb_seq *seq;     /* (L, S) fp16 stores */
    kvb_qseq *qseq;   /* (L, S) KIVI stores */
    int *layer_quant; /* (L) 1 when the layer's data lives in qseq */
    /* SimLayerKV */
    double *head_score; /* (L, n_heads) mass of the first decode step on the two windows */
    int *appended;      /* (L) tokens appended since prefill, per layer */
    int *decided, *lazy; /* (L) SimLayerKV decision made / layer lazy */
    /* ZigZagKV: score vectors kept until every layer's LMBA is known */
    float *zz_scores; /* (L, S, n_prompt) */
    double *lmba;     /* (L) */
    int *budgets;     /* (L) selected-prefix tokens per layer (PyramidKV, ZigZagKV) */
    size_t peak_bytes;
    /* per-record scratch for prefill (sized at reset) */
    float *sc_attn, *sc_red, *sc_pool, *sc_row;
    int *sc_idx, *sc_work;
    kvb_half *sc_h;
    float *sc_thread; /* (threads, n_prompt) for the colsum */
} kvb_kv;

int kvb_kv_create(kvb_kv **kv, const char *method, const kvb_cache_shape *shape,
                  const kvb_cache_param *params, int n_params, kvb_pool *pool, kvb_error *e);
void kvb_kv_free(kvb_kv *kv);
int kvb_kv_reset(kvb_kv *kv, int n_prompt, kvb_error *e);
unsigned kvb_kv_needs(const kvb_kv *kv);
int kvb_kv_prefill_layer(kvb_kv *kv, const kvb_prefill_layer *pl, kvb_error *e);
int kvb_kv_prefill_end(kvb_kv *kv, kvb_error *e);
int kvb_kv_append(kvb_kv *kv, int layer, const float *k, const float *v, kvb_error *e);
void kvb_kv_attend(kvb_kv *kv, int layer, const float *q, float *out, int h0, int h1,
                   float *scratch);
size_t kvb_kv_scratch_floats(const kvb_kv *kv);
void kvb_kv_layer_stats(const kvb_kv *kv, int layer, kvb_cache_layer_stats *out);
size_t kvb_kv_bytes(const kvb_kv *kv);
size_t kvb_kv_peak_bytes(const kvb_kv *kv);
size_t kvb_kv_full16_bytes(const kvb_kv *kv);
char *kvb_kv_params_json(const kvb_kv *kv);
/* Tokens held by each stored head of a layer (out: S longs); returns S. */
int kvb_kv_head_tokens(const kvb_kv *kv, int layer, long *out);
/* Original positions held by one stored head (ascending), for tests; returns the count. */
int kvb_kv_kept_positions(const kvb_kv *kv, int layer, int head, int *pos, int max);

/* ---- kvb_cache_method callbacks (kvcache_impl.h) shared by every engine method ------------- */
int kvb_kv_m_init(kvb_cache *c, const kvb_cache_param *p, int n, kvb_error *e);
int kvb_kv_m_reset(kvb_cache *c, int n_prompt, kvb_error *e);
int kvb_kv_m_prefill_layer(kvb_cache *c, const kvb_prefill_layer *pl, kvb_error *e);
int kvb_kv_m_prefill_end(kvb_cache *c, kvb_error *e);
int kvb_kv_m_append(kvb_cache *c, int layer, const float *k, const float *v, kvb_error *e);
void kvb_kv_m_attend(kvb_cache *c, int layer, const float *q, float *out, int h0, int h1,
                     float *scratch);
size_t kvb_kv_m_scratch(const kvb_cache *c);
size_t kvb_kv_m_bytes(const kvb_cache *c);
void kvb_kv_m_layer_stats(const kvb_cache *c, int layer, kvb_cache_layer_stats *o);
char *kvb_kv_m_params_json(const kvb_cache *c);
void kvb_kv_m_release(kvb_cache *c);

/* The method table entry of an engine method (each policy file defines its own). */
#define KVB_KV_METHOD(NAME, ALIASES, NEEDS)                                                        \
    {                                                                                              \
        .name = (NAME), .aliases = (ALIASES), .needs = (NEEDS), .init = kvb_kv_m_init,             \
        .reset = kvb_kv_m_reset, .prefill_layer = kvb_kv_m_prefill_layer,                          \
        .prefill_end = kvb_kv_m_prefill_end, .append = kvb_kv_m_append,                           \
        .attend = kvb_kv_m_attend, .scratch_floats = kvb_kv_m_scratch, .bytes = kvb_kv_m_bytes,    \
        .layer_stats = kvb_kv_m_layer_stats, .params_json = kvb_kv_m_params_json,                 \
        .release = kvb_kv_m_release,                                                               \
    }

/* ---- policies (one file per method) -------------------------------------------------------- */
/* Score vectors of the SnapKV kernel for every stored head: out (S, n - w) = window-attention
 * column sums over the prefix, reduced to kv heads (kv_head mode, mean before pooling as
 * KVCache-Factory's kv_head mode), pooled. raw (S, n - w), when not NULL, receives the unpooled
 * vector. */
void kvb_snapkv_scores(kvb_kv *kv, const kvb_prefill_layer *pl, float *out, float *raw);
/* Prompt tokens each layer selects from the prefix (window excluded), or -1 = keep everything. */
int kvb_snapkv_cap(const kvb_kv *kv, int n);
int kvb_pyramidkv_cap(const kvb_kv *kv, int layer, int n);
void kvb_h2o_scores(kvb_kv *kv, const kvb_prefill_layer *pl, float *out);
int kvb_streaming_keep(const kvb_kv *kv, int n, int *idx);
int kvb_zigzag_prefill(kvb_kv *kv, const kvb_prefill_layer *pl, kvb_error *e);
int kvb_zigzag_end(kvb_kv *kv, kvb_error *e);
int kvb_think_prune(kvb_kv *kv, const kvb_prefill_layer *pl, int head, const int *idx, int m,
                    kvb_error *e);
void kvb_simlayer_decide(kvb_kv *kv, int layer);
int kvb_simlayer_would_be_lazy(const kvb_kv *kv, int layer);
int kvb_kivi_prefill(kvb_kv *kv, const kvb_prefill_layer *pl, kvb_error *e);
int kvb_kivi_from_seq(kvb_kv *kv, int layer, int n_prompt_kept, kvb_error *e);

/* Shared by the policies: build stored head `head` of a layer from the prefill K/V, keeping the
 * ascending positions idx[0..m) (all n when idx is NULL). */
int kvb_kv_fill(kvb_kv *kv, const kvb_prefill_layer *pl, int head, const int *idx, int m,
                kvb_error *e);
/* Row of stored head `head` of token t in a (n, n_kv_heads, D) tensor. */
const float *kvb_kv_row(const kvb_kv *kv, const float *x, int t, int head);

#endif
