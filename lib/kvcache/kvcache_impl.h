/* lib/kvcache private header: the method descriptor. Only the files of lib/kvcache (and tests that
 * define a method of their own) include it.
 *
 * A method is one `const struct kvb_cache_method` in one file: its name and aliases, its
 * parameter table (names, types, ranges, defaults, help: parsing, validation, error messages,
 * `kvbench run --<param>` flags and run.json's params object all come from it), the statistics
 * the forward pass must compute for it (needs), its storage (ops) and its hooks. The dispatcher
 * (kvcache.c) and the shared store (engine.c) know no method by name.
 *
 * Adding a method (one file + one registry line):
 *   1. lib/kvcache/<method>.c: a params struct whose first member is `kvb_kv_params` (the GQA
 *      layout of the shared store), its table (kvb_method_param rows pointing at the shared
 *      definitions of params.h, or at a kvb_param_def of its own), optional `check`, the hooks
 *      it needs on the shared store (engine.h: at least prefill_layer; the store fills, keeps,
 *      quantizes, attends and counts bytes) and `plan`; then
 *      `const struct kvb_cache_method kvb_cache_method_<x> = { ..., .ops = &kvb_store_ops, ... };`
 *      (a method with a storage of its own, like full.c, sets its own kvb_cache_ops instead);
 *   2. one line in lib/kvcache/registry.c (extern + table entry);
 *   3. a test under tests/unit/ comparing kept indices/budgets with the reference
 *      (tests/unit/test_kvcache_extension.c registers a method defined in the test itself).
 * configs/methods/<name>.json must list the defaults of the table (a unit test checks it). */
#ifndef KVB_KVCACHE_IMPL_H
#define KVB_KVCACHE_IMPL_H

#include <stddef.h>

#include "kvcache/kvcache.h"

/* ---- parameters ---------------------------------------------------------------------------- */
enum { KVB_PARAM_INT, KVB_PARAM_DBL, KVB_PARAM_ENUM };

typedef struct kvb_param_choice {
    const char *name; /* NULL ends the list; the first name of a value is the one printed */
    int value;
} kvb_param_choice;

/* One parameter as the command line knows it; methods share these (params.h). */
typedef struct kvb_param_def {
    const char *name;
    int type;                         /* KVB_PARAM_* */
    double lo, hi;                    /* INT and DBL: inclusive range */
    const kvb_param_choice *choices;  /* ENUM */
    int icase;                        /* ENUM: names match case-insensitively */
    const char *expect;               /* a valid value, for "invalid X 'v' (expected ...)" */
    const char *help;                 /* the `kvbench run --<name>` help line */
} kvb_param_def;

/* One row of a method's table: which parameter, where it lives in the method's params struct
 * (an int for INT and ENUM, a double for DBL) and its default. */
typedef struct kvb_method_param {
    const kvb_param_def *def;
    size_t off;
    double dflt;
    double (*dflt_for)(const char *family); /* a default that depends on the model, or NULL */
} kvb_method_param;

/* ---- storage: what a kvb_cache calls ----------------------------------------------------- */
/* The shared store (engine.c: kvb_store_ops) serves every compressing method; full.c has its
 * own. The dispatcher (kvcache.c) copies the shape, parses the parameters into c->params and
 * checks arguments (layer range, head ranges, token capacity) before calling. */
struct kvb_cache_ops {
    /* Allocate the state for shape.max_tokens tokens into c->priv (c->params is parsed). */
    int (*init)(kvb_cache *c, kvb_error *e);
    /* Forget the previous record; the next one has n_prompt prompt tokens. */
    int (*reset)(kvb_cache *c, int n_prompt, kvb_error *e);
    /* One layer's full prompt K/V/Q after RoPE (+ colsum when needed); copy what is kept. */
    int (*prefill_layer)(kvb_cache *c, const kvb_prefill_layer *pl, kvb_error *e);
    /* Optional: all layers seen. */
    int (*prefill_end)(kvb_cache *c, kvb_error *e);
    int (*append)(kvb_cache *c, int layer, const float *k, const float *v, kvb_error *e);
    /* Decode attention of query heads [h0, h1), unscaled q; thread-safe for disjoint ranges,
     * no allocation. */
    void (*attend)(kvb_cache *c, int layer, const float *q, float *out, int h0, int h1,
                   float *scratch);
    /* Optional (NULL = decode splits by heads only): partial attention over part `part` of
     * `n_parts` token ranges (see kvb_cache_attend_part). */
    void (*attend_part)(kvb_cache *c, int layer, const float *q, int part, int n_parts,
                        float *out, float *mx, float *sum, float *scratch);
    size_t (*scratch_floats)(const kvb_cache *c);
    size_t (*bytes)(const kvb_cache *c);
    /* tokens_full is set by the dispatcher after the call. */
    void (*layer_stats)(const kvb_cache *c, int layer, kvb_cache_layer_stats *out);
    /* Effective parameters as JSON object text, malloc'ed (NULL = "{}"). Optional. */
    char *(*params_json)(const kvb_cache *c);
    void (*release)(kvb_cache *c);
    /* Optional (NULL: bytes now; n_kv_heads; tokens split evenly over the kv heads). */
    size_t (*peak_bytes)(const kvb_cache *c);
    int (*stored_heads)(const kvb_cache *c);
    void (*head_tokens)(const kvb_cache *c, int layer, long *out);
    /* Optional (NULL: the method cannot be held by a device): every layer now holds n_tokens
     * tokens whose K/V a device backend keeps (kvb_cache_hold_external); count them as if they
     * had been stored here. Returns KVB_EUNSUP with the reason for parameters it cannot honour. */
    int (*hold_external)(kvb_cache *c, int n_tokens, kvb_error *e);
    /* Optional (NULL: not on a device): switch to the bookkeeping of a device that holds the
     * method's selection (positions only) or its KIVI codes (counts only) and return
     * KVB_DEVICE_HOLDS_SELECTED / _KIVI, or KVB_EUNSUP with the reason. */
    int (*hold_device)(kvb_cache *c, kvb_error *e);
    /* With hold_device: statistics, positions and KIVI's parameters (kvb_cache_device_*). */
    int (*device_kivi)(const kvb_cache *c, int *bits, int *group, int *residual);
    int (*kivi_counts)(const kvb_cache *c, int layer, int counts[4]);
    unsigned (*device_stats)(const kvb_cache *c, int *window, int *qwindow);
    int (*channel_stats)(kvb_cache *c, int layer, const double *k_sqmean, kvb_error *e);
    int (*thin_keys)(const kvb_cache *c, int layer, int head, int *ch, int *n_thin);
    unsigned (*device_decode_stats)(const kvb_cache *c, int *sink, int *recent);
    void (*decode_stats)(kvb_cache *c, int layer, const float *sink_mass);
    int (*kept_positions)(const kvb_cache *c, int layer, int head, int *pos, int max);
};

/* ---- the method descriptor --------------------------------------------------------------- */
typedef struct kvb_kv kvb_kv; /* the shared store (engine.h) */
typedef struct kvb_quant_params kvb_quant_params; /* KIVI's bits, group, residual (engine.h) */

struct kvb_cache_method {
    const char *name;           /* canonical command-line name ("full", "SimLayerKV") */
    const char *const *aliases; /* NULL-terminated list, or NULL; matched case-insensitively */
    const kvb_method_param *params; /* table, in the order errors and run.json list them */
    int n_params;
    size_t params_size;         /* sizeof the method's params struct */
    /* Optional: cross-parameter and shape checks once every parameter is known (shape is
     * always given). */
    int (*check)(const void *params, const kvb_cache_shape *shape, kvb_error *e);
    unsigned needs;             /* KVB_NEED_* the forward pass must compute at prefill */
    const struct kvb_cache_ops *ops; /* &kvb_store_ops, or the method's own storage */
    /* Dry run (kvb_cache_plan): fill out[l] k/v/meta/residual bytes and tokens (per kv head,
     * as kvb_cache_layer_stats) for a prompt of n tokens; tokens_full and full16_bytes are
     * set. Methods that cannot plan return KVB_EUNSUP with the reason in why. */
    int (*plan)(const void *params, const kvb_cache_shape *shape, int n,
                kvb_cache_plan_layer *out, char *why, size_t whylen);
    /* A device can hold it (kvb_cache_device_mode): KVB_DEVICE_HOLDS_SELECTED: the method
     * selects tokens from the statistics device_needs (KVB_NEED_*; window from device_window,
     * NULL = none) or a decode step's (below); KVB_DEVICE_HOLDS_KIVI: every layer quantized by
     * KIVI's rules with the parameters device_quant gives. 0: not on a device. */
    int on_device;
    const kvb_quant_params *(*device_quant)(const void *params);
    unsigned device_needs;
    int (*device_window)(const void *params);
    int (*device_qwindow)(const void *params); /* KVB_NEED_QSQ's window */
    /* KVB_NEED_KSQ: after the prompt's keep, a layer's per-head mean of k^2 over the kept rows,
     * (S, head_dim); the method decides from it what kvb_cache_thin_keys reports. */
    int (*device_channels)(kvb_kv *kv, int layer, const double *k_sqmean, kvb_error *e);
    /* Optional: KVB_NEED_SINK while a decode step's statistic is still wanted (windows in sink,
     * recent), and the hook that receives it (n_heads floats for a layer). */
    unsigned (*device_decode_needs)(const kvb_kv *kv, int *sink, int *recent);
    void (*decode_stats)(kvb_kv *kv, int layer, const float *sink_mass);

    /* Hooks on the shared store (engine.h), all but prefill_layer optional. */
    int (*init)(kvb_kv *kv, kvb_error *e);  /* allocate kv->state (once) */
    int (*reset)(kvb_kv *kv, kvb_error *e); /* new record of kv->n_prompt tokens */
    /* Keep what the method keeps of one layer (kvb_kv_fill / keep / quantize). */
    int (*prefill_layer)(kvb_kv *kv, const kvb_prefill_layer *pl, kvb_error *e);
    int (*prefill_end)(kvb_kv *kv, kvb_error *e);  /* every layer seen */
    void (*decode)(kvb_kv *kv, int layer);         /* before a decode token is appended */
    /* After decode attention of query head `head` over an fp16 layer: probs, the softmax over
     * its n held tokens. Runs on the attending thread (disjoint heads). */
    void (*attended)(kvb_kv *kv, int layer, int head, const float *probs, int n);
    /* Tokens per stored head the reference holds at this layer when it differs from what is
     * physically held (a trim decided but not yet done), else -1. */
    long (*reference_tokens)(const kvb_kv *kv, int layer);
    int (*lazy)(const kvb_kv *kv, int layer);      /* kvb_cache_layer_stats.lazy */
    /* The per-layer statistic the method decides with (ZigZagKV: LMBA; SimLayerKV: the lazy
     * score), for tests and diagnostics. */
    double (*layer_score)(const kvb_kv *kv, int layer);
    void (*release)(kvb_kv *kv);                   /* free kv->state */
};

struct kvb_cache {
    const struct kvb_cache_method *m;
    const struct kvb_cache_ops *ops; /* m->ops */
    void *params;              /* the method's parsed params struct (m->params_size bytes) */
    kvb_cache_shape shape;     /* copied; shape.model_family points at family[] */
    char family[32];
    kvb_pool *pool;            /* may be NULL (single-threaded) */
    unsigned needs;            /* starts as m->needs */
    int n_prompt;              /* prompt tokens of the current record */
    int device_mode;           /* 0, or KVB_DEVICE_HOLDS_* once kvb_cache_device_mode said so */
    int n_tokens;              /* true sequence length so far: n_prompt + appended tokens (after
                                  every layer of a step got its append: counted on layer 0) */
    size_t prefill_peak;       /* largest ops->bytes() seen from the reset to the end of prefill */
    void *priv;                /* storage state */
};

/* ---- registry (registry.c) ----------------------------------------------------------------- */
int kvb_cache_method_register(const struct kvb_cache_method *m); /* an extra method (tests) */
const struct kvb_cache_method *kvb_cache_method_get(int i);
/* By canonical name or alias, case-insensitively; NULL when unknown. */
const struct kvb_cache_method *kvb_cache_method_find(const char *name);

/* ---- parameters (params.c) ----------------------------------------------------------------- */
/* Defaults of m's table for the model family, then params applied and checked (m->check).
 * out: m->params_size bytes. Errors are one line naming the valid choices. */
int kvb_params_parse(const struct kvb_cache_method *m, const kvb_cache_shape *shape,
                     const kvb_cache_param *params, int n_params, void *out, kvb_error *e);
/* Effective parameters as JSON object text (caller frees); with_method puts
 * "method": "<name>" first. */
char *kvb_params_json(const struct kvb_cache_method *m, const void *params, int with_method);

/* ---- plan helpers (plan.c) ------------------------------------------------------------------- */
/* fp16 K and V of kept_per_head tokens on S stored heads; tokens = n_kv_heads * kept_per_head. */
void kvb_plan_fp16(kvb_cache_plan_layer *o, long kept_per_head, int S, const kvb_cache_shape *s);
/* Tokens an eviction method keeps per head: top-cap of the prefix + the window (cap < 0: all). */
long kvb_plan_evict_kept(int cap, int n, int window);

#endif
