/* Shared by the model verbs (info, generate, bench): opening a model and a cache from flags. */
#ifndef KVB_MODELCLI_H
#define KVB_MODELCLI_H

#include "model/model.h"

typedef struct kvb_model_flags {
    const char *model;   /* --model */
    long threads;        /* --threads (0 = all cores) */
    int random_weights;  /* --random-weights */
    long seed;           /* --seed */
    const char *weights; /* --weights bf16|f32 */
    int config_only;     /* with random_weights: do not materialize weights (info) */
} kvb_model_flags;

int kvb_cli_open_model(const kvb_model_flags *f, kvb_model **m, kvb_error *e);
/* method: cache method name; params: "name=value,name=value" or NULL. */
int kvb_cli_open_cache(kvb_model *m, const char *method, const char *params, int max_tokens,
                       kvb_cache **c, kvb_error *e);
/* "1,2,3" -> ids (all in [0, vocab)). */
int kvb_cli_parse_ids(const char *s, int vocab, int32_t **ids, int *n, kvb_error *e);

#endif
