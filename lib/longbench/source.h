/* lib/longbench/source: LongBench's tasks and the needle-in-a-haystack grid as task sources of the
 * runner (lib/runner/runner.h), and the two entries of the suite table (lib/runner/suite.h) that
 * make them from a run spec (suite.c). */
#ifndef KVB_LONGBENCH_SOURCE_H
#define KVB_LONGBENCH_SOURCE_H

#include "longbench/metrics.h"
#include "longbench/prompt.h"
#include "longbench/tasks.h"
#include "runner/runner.h"
#include "runner/suite.h"

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

/* One LongBench task: reads and validates its records (bad records reported on stderr). */
int kvb_lb_source_longbench_init(kvb_source *s, const kvb_task *task,
                                 const kvb_lb_source_opts *o, kvb_error *e);
/* The needle grid of --lengths / --depths (NULL: the defaults), validated (*lens and *deps are
 * freed by the caller, also on error). */
int kvb_lb_niah_grid(const char *lengths, const char *depths, int **lens, int *nl, int **deps,
                     int *nd, kvb_error *e);
/* The needle-in-a-haystack grid: item i = (lengths[i / n_depths], depths[i % n_depths]). */
int kvb_lb_source_niah_init(kvb_source *s, const kvb_lb_source_opts *o, kvb_error *e);

/* The suite entries: LongBench claims its task and set names (en16, all, e, zh), the needle test
 * claims "niah". */
extern const kvb_suite kvb_lb_suite;
extern const kvb_suite kvb_niah_suite;

#endif
