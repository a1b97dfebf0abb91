/* lib/longbench/pipeline: one LongBench record end to end, as THUDM's pred.py does it:
 * prompt text -> ids (tokenizer defaults) -> middle truncation to the model's budget (decode both
 * halves without special tokens, concatenate) -> chat template unless the task skips it ->
 * re-tokenize -> prefill -> greedy decode with stop tokens -> decode without special tokens ->
 * post-process. Specs A.5-A.8. */
#ifndef KVB_LONGBENCH_PIPELINE_H
#define KVB_LONGBENCH_PIPELINE_H

#include "core/core.h"
#include "kvcache/kvcache.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "longbench/prompt.h"

/* ---- generation ---------------------------------------------------------------------------- */
typedef struct kvb_lb_gen_opts {
    int max_new_tokens;
    int min_new_tokens;  /* stop ids are masked until this many tokens exist (samsum: 1) */
    int32_t stop_ids[16];
    int n_stop;
    int cleanup_spaces;  /* HF decode's clean_up_tokenization_spaces */
} kvb_lb_gen_opts;

/* Cache state of one sample at a point of the generation. */
typedef struct kvb_lb_mem_point {
    size_t bytes;        /* kvb_cache_bytes */
    size_t full16_bytes; /* kvb_cache_full16_bytes */
    long tokens, tokens_full; /* summed over layers and kv heads */
} kvb_lb_mem_point;

typedef struct kvb_lb_gen_result {
    kvb_ids out;               /* generated ids, stop token included */
    char *text;                /* decoded without special tokens, post-processed */
    int n_prompt;
    double t_prefill, t_decode; /* seconds */
    kvb_lb_mem_point prefill, end;
    size_t peak_bytes;
    /* per layer at the end of prefill and at the end of decode (n_layers each) */
    kvb_cache_layer_stats *layers_prefill, *layers_end;
    int n_layers;
    int stopped_by;            /* 1: stop token, 0: max_new_tokens */
} kvb_lb_gen_result;
void kvb_lb_gen_result_release(kvb_lb_gen_result *r);

/* Prefill `ids` into the (already created) cache `c`, then greedy decode. */
int kvb_lb_generate(kvb_model *m, kvb_cache *c, const int32_t *ids, int n,
                    const kvb_lb_gen_opts *o, kvb_lb_gen_result *r, kvb_error *e);

/* pred.py post_process: identity for Llama/Mistral/SmolLM (A.8); xgen and internlm rules kept
 * for completeness. Returns a new string. */
char *kvb_lb_post_process(const char *model_name, const char *text);

/* Memory trace line (JSON object text, caller frees) of one sample for memory/<task>.jsonl;
 * index = the record's index in the data file ("_index", the order kvbench merge restores). */
char *kvb_lb_mem_trace_json(const char *id, long index, const kvb_lb_gen_result *r);

#endif
