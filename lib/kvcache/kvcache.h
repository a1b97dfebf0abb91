/* lib/kvcache: the cache-method interface.
 *
 * The forward pass never stores K/V itself: after RoPE it hands each layer's K/V to a kvb_cache,
 * and decode attention is computed by the cache (which knows how it stores what it kept:
 * full precision, a subset of tokens per head, KIVI-quantized codes + residual...).
 *
 * Call order for one record:
 *   kvb_cache_reset(c, n_prompt)                       forget the previous record
 *   for each layer l: kvb_cache_prefill_layer(c, &pl)   K/V/Q of the whole prompt (+ stats)
 *   kvb_cache_prefill_end(c)                            methods that need all layers decide here
 *   for each generated token, for each layer l:
 *       kvb_cache_append(c, l, k, v)                    the new token's K/V (after RoPE)
 *       kvb_cache_attend(c, l, q, out, ...)             attention of q over what is held
 * Prefill attention itself is always full (as in every reference implementation); methods
 * compress what is *kept* for decoding.
 *
 * RoPE positions are the caller's business: the model rotates with the true position, the
 * cache never re-rotates. */
#ifndef KVB_KVCACHE_H
#define KVB_KVCACHE_H

#include "core/core.h"

typedef struct kvb_cache kvb_cache;

typedef struct kvb_cache_shape {
    int n_layers;
    int n_heads;    /* query heads */
    int n_kv_heads; /* key/value heads (GQA: n_heads % n_kv_heads == 0) */
    int head_dim;
    int max_tokens; /* prompt + generated tokens the cache must be able to hold */
    const char *model_family; /* "llama2", "llama3", "mistral", "smollm2": method defaults per model */
} kvb_cache_shape;

/* What the forward pass must compute at prefill for this method (bit flags). */
enum {
    KVB_NEED_COLSUM = 1u << 0, /* H2O: per query head, sum over all queries of attention probs */
    KVB_NEED_WINDOW = 1u << 1, /* a device backend only (the CPU path computes it from q and k):
                                  per query head, sum over the observation window's queries */
    KVB_NEED_SINK = 1u << 2,   /* a device backend's decode step: per query head, the attention
                                  mass on the first `sink` and the last `recent` held tokens */
    KVB_NEED_QSQ = 1u << 3,    /* a device backend only (ThinK): per query head and channel, the
                                  mean of q^2 over the last `qwindow` prompt queries */
    KVB_NEED_KSQ = 1u << 4,    /* a device backend only (ThinK), after the prompt's keep: per
                                  layer, kv head and channel, the mean of k^2 over the kept rows */
};

/* One layer's prefill, all tensors row-major, token-major, after RoPE. */
typedef struct kvb_prefill_layer {
    int layer;
    int n_tokens;
    const float *q;      /* (n_tokens, n_heads, head_dim) */
    const float *k;      /* (n_tokens, n_kv_heads, head_dim) */
    const float *v;      /* (n_tokens, n_kv_heads, head_dim) */
    const float *colsum; /* (n_heads, n_tokens) when KVB_NEED_COLSUM, else NULL */
    /* (n_heads, n_tokens): sum over the last min(window, n_tokens) queries i of the causal
     * softmax P[h, i, j] (kvb_cache_device_stats' window), or NULL: the methods on the SnapKV
     * scorer then compute it from q and k */
    const float *window_attn;
    /* (n_heads, head_dim): per query head and channel, the mean of q^2 over the last
     * min(qwindow, n_tokens) queries (KVB_NEED_QSQ), or NULL: ThinK computes it from q */
    const double *q_sqmean;
} kvb_prefill_layer;

/* Method parameters as given on the command line: name -> value strings.
 * Each method validates the names it takes and their ranges (unknown name = error). */
typedef struct kvb_cache_param {
    const char *name;  /* "budget", "window", "kernel", "pool", "bits", "group", "residual",
                          "threshold", "ratio", "gqa", ... */
    const char *value;
} kvb_cache_param;

/* Create a cache for a method by its command-line name (aliases accepted). */
int kvb_cache_create(kvb_cache **c, const char *method, const kvb_cache_shape *shape,
                     const kvb_cache_param *params, int n_params, kvb_pool *pool, kvb_error *e);
void kvb_cache_free(kvb_cache *c);
/* Start a new record whose prompt has n_prompt tokens; all state of the previous one is dropped. */
int kvb_cache_reset(kvb_cache *c, int n_prompt, kvb_error *e);
unsigned kvb_cache_needs(const kvb_cache *c);
const char *kvb_cache_method_name(const kvb_cache *c);

int kvb_cache_prefill_layer(kvb_cache *c, const kvb_prefill_layer *pl, kvb_error *e);
int kvb_cache_prefill_end(kvb_cache *c, kvb_error *e);
/* k, v: (n_kv_heads, head_dim) for one new token at layer `layer`. */
int kvb_cache_append(kvb_cache *c, int layer, const float *k, const float *v, kvb_error *e);
/* Decode attention for query heads [h0, h1) of one token: q (n_heads, head_dim) already scaled
 * or not (the cache applies 1/sqrt(head_dim)), out (n_heads, head_dim). scratch holds at least
 * kvb_cache_scratch_floats(c) floats and is private to the calling thread. Thread-safe for
 * disjoint head ranges. */
void kvb_cache_attend(kvb_cache *c, int layer, const float *q, float *out, int h0, int h1,
                      float *scratch);
size_t kvb_cache_scratch_floats(const kvb_cache *c);
/* Decode attention split over tokens instead of heads (flash-decoding), for methods that offer
 * it (kvb_cache_can_split): part `part` of `n_parts` writes, for every query head, its partial
 * result into out (n_heads, head_dim) and mx, sum (n_heads); kvb_attend_merge combines the
 * parts into the same output kvb_cache_attend gives. Used when heads split unevenly across
 * threads (9 heads on 2 threads) or several threads would read one kv block. */
#define KVB_CACHE_MAX_HEADS 1024
int kvb_cache_can_split(const kvb_cache *c);
void kvb_cache_attend_part(kvb_cache *c, int layer, const float *q, int part, int n_parts,
                           float *out, float *mx, float *sum, float *scratch);
/* parts laid out part-major: out + p*n_heads*head_dim, mx + p*n_heads, sum + p*n_heads */
void kvb_attend_merge(const float *out, const float *mx, const float *sum, int n_parts, int n_heads,
                      int head_dim, float *merged);

/* ---- K/V held by a device backend ------------------------------------------------------------ */
/* The CUDA backend keeps a full bf16 K/V cache on the device (kernels/kvb_cuda.h) and never
 * hands K/V to the cache; it reports instead that every layer now holds n_tokens tokens (after
 * prefill: the prompt; after each decode step: one more), so bytes, layer stats, traces and
 * peaks stay the cache's own accounting. Only a method that keeps every token in 16 bits can be
 * held that way (full with its default dtype); any other: KVB_EUNSUP naming the method.
 * kvb_cache_hold_external(c, 0, e) is the check alone (nothing changes). */
int kvb_cache_hold_external(kvb_cache *c, int n_tokens, kvb_error *e);

/* The methods that select tokens from attention statistics and keep them in 16 bits (SnapKV,
 * PyramidKV, H2O, StreamingLLM, ZigZagKV, ThinK, SimLayerKV with gqa=kv_head) can be held by a device
 * too: the device computes the statistics they decide with, the decisions stay here. Protocol:
 *   kvb_cache_device_mode(c)           KVB_DEVICE_HOLDS_ALL (full: kvb_cache_hold_external as
 *                                      above) or KVB_DEVICE_HOLDS_SELECTED; from then on (every
 *                                      record) the cache keeps positions and counts, no K/V
 *   kvb_cache_device_stats(c, ...)     what to compute per layer (below)
 *   kvb_cache_reset, then per layer kvb_cache_prefill_layer with q = k = v = NULL and the
 *   statistics, kvb_cache_prefill_end; kvb_cache_kept_positions per layer and stored head: the
 *   prompt positions the device must keep (ascending); per decode token and layer
 *   kvb_cache_append(c, layer, NULL, NULL) (the device appended the K/V).
 * Any other method: KVB_EUNSUP naming it. */
enum { KVB_DEVICE_HOLDS_ALL = 1, KVB_DEVICE_HOLDS_SELECTED = 2, KVB_DEVICE_HOLDS_KIVI = 3 };
int kvb_cache_device_mode(kvb_cache *c, kvb_error *e);
/* The same answer for a method and its parameters before any model is loaded (0 or the error of
 * kvb_cache_device_mode; parameter errors as kvb_cache_create gives them). */
int kvb_cache_device_check(const char *method, const kvb_cache_param *params, int n_params,
                           kvb_error *e);
/* What the device computes per layer at prefill: KVB_NEED_COLSUM (all queries), KVB_NEED_WINDOW
 * (the last *window queries), KVB_NEED_QSQ (the last *qwindow queries' q^2), and whether the
 * keep is followed by the key magnitudes round (KVB_NEED_KSQ, below). */
unsigned kvb_cache_device_stats(const kvb_cache *c, int *window, int *qwindow);
/* ThinK on a device (KVB_NEED_KSQ): after the prompt's keep (kvb_cache_kept_positions), per
 * layer the mean of k^2 over each kv head's kept rows, k_sqmean (n_kv_heads, head_dim); the cache
 * chooses each head's key channels. kvb_cache_thin_keys then gives, per layer and kv head, the
 * channels the oldest *n_thin kept rows keep (ascending; returns their count; *n_thin 0: every
 * row keeps every channel). Rows appended later keep every channel. */
int kvb_cache_channel_stats(kvb_cache *c, int layer, const double *k_sqmean, kvb_error *e);
int kvb_cache_thin_keys(const kvb_cache *c, int layer, int head, int *ch, int *n_thin);
/* KIVI on the device (KIVI: every layer from prefill on; SimLayerKV+KIVI: from its second
 * decode step): the quantization parameters (0, or -1 for a method that does not quantize), and
 * per layer the counts KIVI's rules reached in this cache (0; -1 while the layer is not
 * quantized): key tokens quantized / in the 16-bit residual, value tokens quantized / in the
 * 16-bit window, counts[0..3], after the latest append. The rules run here only; the device
 * brings each layer to these counts (quantizing the rows the counts say left the residuals) before
 * its step writes the new token as the residuals' last row. */
int kvb_cache_device_kivi(const kvb_cache *c, int *bits, int *group, int *residual);
int kvb_cache_kivi_counts(const kvb_cache *c, int layer, int counts[4]);
/* Decode on the device, per step: first kvb_cache_append(c, l, NULL, NULL) for every layer (the
 * method's decisions of this step, e.g. SimLayerKV's trim, and the new token's position); the
 * device then keeps what kvb_cache_kept_positions says (when it changed) and runs the step. When
 * kvb_cache_device_decode_stats says KVB_NEED_SINK, the step's attention must also report each
 * layer's per-query-head mass on the first *sink and last *recent held tokens, handed back with
 * kvb_cache_decode_stats (SimLayerKV decides its lazy layers from the first step's). */
unsigned kvb_cache_device_decode_stats(const kvb_cache *c, int *sink, int *recent);
int kvb_cache_decode_stats(kvb_cache *c, int layer, const float *sink_mass, kvb_error *e);
/* Positions held by stored head `head` of a layer, ascending (at most max); returns the count
 * (0 for KIVI's quantized layers), or -1 for a method that keeps no positions (full). Methods on
 * the shared store, on either device. */
int kvb_cache_kept_positions(const kvb_cache *c, int layer, int head, int *pos, int max);

/* ---- accounting --------------------------------------------------------------------------- */
typedef struct kvb_cache_layer_stats {
    size_t k_bytes, v_bytes, meta_bytes, residual_bytes; /* bytes really held */
    long tokens;      /* kept tokens summed over kv heads */
    long tokens_full; /* tokens a full cache would hold, summed over kv heads */
    int lazy;         /* SimLayerKV: 1 when the layer was judged lazy */
} kvb_cache_layer_stats;

size_t kvb_cache_bytes(const kvb_cache *c); /* all layers, everything held */
void kvb_cache_layer_stats_get(const kvb_cache *c, int layer, kvb_cache_layer_stats *out);
/* Bytes a full 16-bit (bf16/fp16) cache would hold for the same tokens: the compression reference. */
size_t kvb_cache_full16_bytes(const kvb_cache *c);
/* Effective parameters as a JSON object text (caller frees), for run.json. */
char *kvb_cache_params_json(const kvb_cache *c);

/* Peak of kvb_cache_bytes since the last reset (ZigZagKV holds every layer in full until prefill
 * ends; SimLayerKV trims after the first decode step). */
size_t kvb_cache_peak_bytes(const kvb_cache *c);
/* Peak of kvb_cache_bytes inside prefill: the largest value after any kvb_cache_prefill_layer or
 * kvb_cache_prefill_end call since the last reset, measured for every method (>= the bytes at the
 * end of prefill; ZigZagKV, which holds every layer in full until prefill_end, holds more). */
size_t kvb_cache_prefill_peak_bytes(const kvb_cache *c);
/* Number of stored heads per layer: n_kv_heads, or n_heads with gqa=query_head. */
int kvb_cache_stored_heads(const kvb_cache *c);
/* Tokens held by each stored head of a layer (out: kvb_cache_stored_heads longs). */
void kvb_cache_head_tokens(const kvb_cache *c, int layer, long *out);

/* ---- dry-run plan ------------------------------------------------------------------------- */
/* What a method keeps at the end of prefill, from the prompt length alone. */
typedef struct kvb_cache_plan_layer {
    long tokens;        /* prompt tokens kept, summed over stored heads */
    long tokens_full;   /* prompt tokens, summed over stored heads */
    size_t k_bytes, v_bytes, meta_bytes, residual_bytes; /* as kvb_cache_layer_stats */
    size_t full16_bytes; /* a full 16-bit cache of the same tokens (kv heads) */
} kvb_cache_plan_layer;
/* Fills out[0 .. shape->n_layers). Methods whose plan depends on the attention (SimLayerKV,
 * SimLayerKV+KIVI, ZigZagKV) return KVB_EUNSUP with the reason in why (no error in e); bad
 * method/parameters return KVB_EINVAL in e, as kvb_cache_create. shape->max_tokens may be 0 (the
 * prompt length is used). */
int kvb_cache_plan(const char *method, const kvb_cache_shape *shape,
                   const kvb_cache_param *params, int n_params, int prompt_len,
                   kvb_cache_plan_layer *out, char *why, size_t whylen, kvb_error *e);
/* The plan of a prompt_len-token prompt as text (kvbench run --dry-run): one line per layer (kept
 * and full tokens, bytes held) and the totals, or one line saying the method decides at run time. */
int kvb_cache_plan_text(const char *method, const kvb_cache_shape *shape,
                        const kvb_cache_param *params, int n_params, int prompt_len,
                        kvb_strbuf *out, kvb_error *e);

/* ---- registry ----------------------------------------------------------------------------- */
int kvb_cache_method_count(void);
const char *kvb_cache_method_at(int i); /* canonical names, for `kvbench list` and errors */
/* 1 when method (any alias) takes the parameter `param`, 0 when not, -1 for an unknown method. */
int kvb_cache_method_takes(const char *method, const char *param);

/* The parameters the methods take, from their tables (`kvbench run --<name> V` flags and run
 * directory names): the shared ones in a fixed order, then any a registered method adds. */
#define KVB_CACHE_MAX_PARAMS 64
int kvb_cache_param_count(void);
const char *kvb_cache_param_name(int i);
const char *kvb_cache_param_help(int i); /* one line for --help */

#endif
