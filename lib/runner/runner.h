/* lib/runner/runner: the loop of `kvbench run`, written once for every task suite.
 *
 * A task suite is a *source* of records: it numbers its items, and for item i gives the _id, the
 * prompt ids, its fields of the prediction line and a score. The runner does the rest the same
 * way for every source (DESIGN.md "Data flow of kvbench run"): the task's data fingerprint and
 * run.json entries, resume through the run directory (lib/results), --limit and --shard, the
 * memory guard, one cache per record, greedy generation with the model's stop tokens plus the
 * source's, the prediction and memory lines and their commit, the progress bar, and stopping
 * between records on a signal. LongBench and the needle test are two sources
 * (lib/longbench/source.h); a new suite is one more, the runner does not change. */
#ifndef KVB_RUNNER_RUNNER_H
#define KVB_RUNNER_RUNNER_H

#include <signal.h>

#include "core/core.h"
#include "kvcache/kvcache.h"
#include "model/model.h"
#include "runner/generate.h"
#include "results/results.h"

struct cJSON;

/* ---- the source interface ------------------------------------------------------------------ */
typedef struct kvb_source {
    const char *task;        /* task name: run.json, pred/<task>.jsonl, fingerprint "data.<task>" */
    const char *metric;      /* metric name written to run.json */
    const char *unit;        /* progress bar unit ("rec", "cell") */
    char data_sha256[65];    /* fingerprint of the data the items come from */
    long n;                  /* items, before --limit and --shard */
    long n_bad;              /* records skipped as bad input (counted in run.json) */
    int buckets;             /* LongBench-E length buckets */
    int max_new_tokens, min_new_tokens; /* stop ids are masked until min_new_tokens exist */
    int32_t stop_ids[4];     /* stop tokens beyond the model's */
    int n_stop;
    void *ctx;
    /* The _id of item i: a string that lives as long as the source, or written into buf. */
    const char *(*id)(void *ctx, long i, char *buf, size_t n);
    /* The final prompt ids of item i (ids is initialized and empty). */
    int (*prompt)(void *ctx, long i, kvb_ids *ids, kvb_error *e);
    /* The score of pred in [0, 1]. */
    int (*score)(void *ctx, long i, const char *pred, double *score, kvb_error *e);
    /* The source's fields of the prediction line, after "pred" and before "_id" (LongBench's
     * answers, all_classes, length), and rec's length and needle cell. */
    int (*fields)(void *ctx, long i, const char *pred, struct cJSON *line, kvb_run_record *rec,
                  kvb_error *e);
    void (*release)(void *ctx);
} kvb_source;

void kvb_source_release(kvb_source *s);

/* ---- the runner ---------------------------------------------------------------------------- */
typedef struct kvb_runner {
    kvb_model *m;
    const char *method;              /* cache method as given (kvb_cache_create) */
    const kvb_cache_param *params;
    int n_params;
    kvb_rundir *dir;
    kvb_run *run;
    long limit;                      /* first items of each task; < 0: all */
    long shard_i, shard_n;           /* items shard_i, shard_i + shard_n, ... */
    int trace_every;                 /* memory trace every k-th step (0: default) */
    int cleanup;                     /* HF clean_up_tokenization_spaces */
    size_t mem_limit;                /* bytes allowed for KV + activations of one record */
    int skip_oversized;              /* skip a record over mem_limit instead of failing */
    long n_oversized;                /* out: records skipped so */
    volatile sig_atomic_t *stop;     /* nonzero: finish the current record and return */
} kvb_runner;

/* Run (or resume) one task of a source into the runner's directory and run record. */
int kvb_run_source(kvb_runner *r, const kvb_source *s, kvb_error *e);

/* Bytes one record needs beyond the weights: a full f32 KV cache for prompt + generation (an
 * upper bound for every method) plus prefill activations. An estimate (docs/longbench.md). */
size_t kvb_run_estimate_bytes(const kvb_model_config *c, long n_prompt, long n_new);

/* Bytes a record may use beyond the weights: max_memory (--max-memory; 0: the available memory)
 * less the weights. */
size_t kvb_run_mem_limit(size_t max_memory, size_t weight_bytes);

#endif
