/* lib/longbench/source: LongBench's tasks and the needle-in-a-haystack grid as task sources of the
 * runner (lib/runner/runner.h). */
#ifndef KVB_LONGBENCH_SOURCE_H
#define KVB_LONGBENCH_SOURCE_H

#include "longbench/metrics.h"
#include "longbench/prompt.h"
#include "longbench/tasks.h"
#include "runner/runner.h"

typedef struct kvb_lb_source_opts {
    /* LongBench */
    const char *data_dir;      /* --data (NULL: search) */
    int e_variant;             /* LongBench-E */
    int skip_bad;              /* --skip-bad-records */
    const kvb_segmenter *seg;  /* jieba for the Chinese metrics (NULL: none loaded) */
    /* both */
    const kvb_tokenizer *tok;
    kvb_lb_prompt_opts prompt; /* budget, chat family (NULL: none), BOS, clean-up */
    /* the needle test (NULL: defaults) */
    const char *lengths, *depths, *needle, *question;
} kvb_lb_source_opts;

/* A --tasks list: "niah" is kvbench's own task (*want_niah); everything else goes to the
 * LongBench task table (kvb_taskset_parse; *lb is freed by the caller). */
int kvb_lb_sources_parse(const char *spec, int *want_niah, const kvb_task ***lb, int *n_lb,
                         kvb_error *e);
/* Read and validate every task's records (data_dir, e_variant, skip_bad of o) before the model
 * loads: a bad file fails in a second, not hours into a run. */
int kvb_lb_sources_preflight(const kvb_task *const *lb, int n_lb, const kvb_lb_source_opts *o,
                             kvb_error *e);
/* One LongBench task: reads and validates its records (bad records reported on stderr). */
int kvb_lb_source_longbench_init(kvb_source *s, const kvb_task *task,
                                 const kvb_lb_source_opts *o, kvb_error *e);
/* The needle-in-a-haystack grid: item i = (lengths[i / n_depths], depths[i % n_depths]). */
int kvb_lb_source_niah_init(kvb_source *s, const kvb_lb_source_opts *o, kvb_error *e);

#endif
