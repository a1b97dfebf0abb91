/* lib/runner/generate: the one generation loop of kvbench (run, generate, bench): prefill into a
 * cache, greedy decode with stop tokens, decode without special tokens (pred.py's steps A.7-A.8),
 * a memory trace along the way, and a streaming hook for `kvbench generate`. */
#ifndef KVB_RUNNER_GENERATE_H
#define KVB_RUNNER_GENERATE_H

#include "core/core.h"
#include "kvcache/kvcache.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

/* ---- generation ---------------------------------------------------------------------------- */
typedef struct kvb_gen_opts {
    int max_new_tokens;
    int min_new_tokens;  /* stop ids are masked until this many tokens exist (samsum: 1) */
    int32_t stop_ids[16];
    int n_stop;
    int cleanup_spaces;  /* HF decode's clean_up_tokenization_spaces */
    int trace_every;     /* memory trace: every k-th decode step; 0 = kvb_trace_every's default */
    /* Streaming (NULL: none): called with each generated token that is not a stop token, before
     * it is fed back; step = tokens generated before it. A nonzero return ends the generation
     * with that status. */
    int (*on_token)(void *arg, int32_t id, int step, kvb_error *e);
    void *arg;
} kvb_gen_opts;

/* Memory trace points: step s = the cache after s decode steps (0 = end of prefill). The trace
 * holds every step that is a multiple of k, plus the last. Default k (requested 0): the smallest
 * that keeps the series of a record generating max_new_tokens tokens within
 * KVB_TRACE_MAX_POINTS points. */
#define KVB_TRACE_MAX_POINTS 64
int kvb_trace_every(int max_new_tokens, int requested);
/* Points of the trace of a record whose last step is last_step (generated tokens - 1). */
int kvb_trace_points(int last_step, int every);

/* Cache state of one sample at a point of the generation. */
typedef struct kvb_mem_point {
    size_t bytes;        /* kvb_cache_bytes */
    size_t full16_bytes; /* kvb_cache_full16_bytes */
    long tokens, tokens_full; /* summed over layers and kv heads */
} kvb_mem_point;

typedef struct kvb_gen_result {
    kvb_ids out;               /* generated ids, stop token included */
    char *text;                /* decoded without special tokens, post-processed */
    int n_prompt;
    double t_prefill, t_decode; /* seconds */
    kvb_mem_point prefill, end;
    size_t peak_bytes;
    size_t prefill_peak_bytes; /* kvb_cache_prefill_peak_bytes: the peak inside prefill */
    /* memory trace: n_trace points at steps trace_step[i], with their per-layer stats
     * trace_layers[i * n_layers + l]; the first is the end of prefill, the last the end */
    int trace_every, n_trace;
    int *trace_step;
    kvb_mem_point *trace;
    kvb_cache_layer_stats *trace_layers;
    /* per layer at the end of prefill and at the end of decode (n_layers each): the first and
     * the last point of trace_layers, not separately owned */
    kvb_cache_layer_stats *layers_prefill, *layers_end;
    int n_layers;
    int stopped_by;            /* 1: stop token, 0: max_new_tokens */
    /* How close greedy decoding came to another choice: the smallest gap between the chosen
     * token's logit and the runner-up's over all steps, and that step (0 = the token after the
     * prompt). A flip between two arithmetic paths (CPU and GPU, bf16 and f32) can only happen
     * at a step whose gap is within their logit difference. */
    float margin;
    int margin_step;
} kvb_gen_result;
void kvb_gen_result_release(kvb_gen_result *r);

/* The one generation loop of kvbench (run, generate, bench): prefill `ids` into the (already
 * created) cache `c`, then greedy decode until a stop id or max_new_tokens, tracing memory.
 * r->text is the decoded text (empty when the model has no tokenizer). */
int kvb_generate(kvb_model *m, kvb_cache *c, const int32_t *ids, int n,
                    const kvb_gen_opts *o, kvb_gen_result *r, kvb_error *e);

/* pred.py post_process: identity for Llama/Mistral/SmolLM (A.8); xgen and internlm rules kept
 * for completeness. Returns a new string. */
char *kvb_post_process(const char *model_name, const char *text);

/* Memory trace line (JSON object text, caller frees) of one sample for memory/<task>.jsonl;
 * index = the record's index in the data file ("_index", the order kvbench merge restores). */
char *kvb_mem_trace_json(const char *id, long index, const kvb_gen_result *r);

#endif
