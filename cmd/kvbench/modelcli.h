/* Shared by the model verbs (info, generate, bench): opening a model and a cache from flags. */
#ifndef KVB_MODELCLI_H
#define KVB_MODELCLI_H

#include "kvcache/kvcache.h"
#include "model/model.h"

/* --help of --weights, for every verb that opens a model */
#define KVB_WEIGHTS_HELP                                                                          \
    "hold weights as bf16 (default), f32, gguf (keep a GGUF's Q4_1/Q8_0 blocks) or gguf-q8 "     \
    "(the same blocks; decode on 8-bit activations in integers, as llama.cpp, one scale per 4)"

#define KVB_DEVICE_HELP                                                                           \
    "where prefill and decode run: cpu, cuda[:N] (bin/kvbench-cuda only; bf16 weights; every "  \
    "method) or auto (default: cuda where this binary has it and a GPU is usable, else cpu)"

/* --random-weights, --seed, --weights, --device: the same options on every verb that opens a
 * model */
#define KVB_MODEL_WEIGHT_OPTS(random_weights, seed, weights, device)                              \
    KVB_OPT_FLAG_("random-weights", random_weights,                                               \
                  "seeded random weights from the config (run: tokenizer files too)"),            \
    KVB_OPT_INT_("seed", seed, "N", "seed of --random-weights (default 0)", 0, 2147483647L),     \
    KVB_OPT_STR_("weights", weights, "T", KVB_WEIGHTS_HELP),                                      \
    KVB_OPT_STR_("device", device, "D", KVB_DEVICE_HELP)

typedef struct kvb_model_flags {
    const char *model;   /* --model */
    long threads;        /* --threads (0 = all cores) */
    int random_weights;  /* --random-weights */
    long seed;           /* --seed */
    const char *weights; /* --weights bf16|f32|gguf|gguf-q8 */
    int config_only;     /* with random_weights: do not materialize weights (info) */
    const char *device;  /* --device cpu|cuda[:N]|auto (NULL = auto) */
    const char *method;  /* --type of generate (one method) or bench (a comma list): checked
                            against the device before loading */
    const char *cache_params; /* their --cache-param */
    int device_tokens;   /* tokens the GPU cache must hold (0 = the model's context) */
} kvb_model_flags;

/* Flags -> model options (config_only only with random_weights); a bad --weights is refused.
 * --device is resolved here (auto -> cuda or cpu) and probed: `--device cuda` without the
 * backend or a usable GPU, or with weights the GPU does not hold, is one line (KVB_EUNSUP). */
int kvb_cli_model_opts(const kvb_model_flags *f, kvb_model_opts *o, kvb_error *e);
int kvb_cli_open_model(const kvb_model_flags *f, kvb_model **m, kvb_error *e);
/* --cache-param "name=value,..." -> params[n] pointing into items (the caller frees both, also on
 * error: kvb_free_strv(items, n), free(params)). */
int kvb_cli_parse_cache_params(const char *params, char ***items, int *n, kvb_cache_param **p,
                               kvb_error *e);
/* method: cache method name; params: "name=value,name=value" or NULL, all for this method, or
 * with `shared` (bench --type A,B): shared by several methods, each taking those it knows. */
int kvb_cli_open_cache(kvb_model *m, const char *method, const char *params, int shared,
                       int max_tokens, kvb_cache **c, kvb_error *e);
/* "1,2,3" -> ids (all in [0, vocab)). */
int kvb_cli_parse_ids(const char *s, int vocab, int32_t **ids, int *n, kvb_error *e);

#endif
