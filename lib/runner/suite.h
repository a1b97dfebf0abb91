/* lib/runner/suite: what `kvbench run` is asked to do (the run spec) and the interface of a task
 * suite (LongBench, the needle test, RULER) that turns its part of --tasks into task sources.
 *
 * The verb fills a kvb_run_spec from its flags; lib/suites runs it (suites.h: the suite table and
 * the session: parse --tasks over the table, preflight, open the model, the run directory and
 * its fingerprint, one runner pass per source, run.json). A suite is one kvb_suite entry in its
 * own module plus one line in lib/suites/suites.c (`kvbench run` and `kvbench list` walk that
 * table); its flags, if it has any, are fields of the spec and lines of run's option table, and
 * nothing else in cmd/ changes. */
#ifndef KVB_RUNNER_SUITE_H
#define KVB_RUNNER_SUITE_H

#include "core/core.h"
#include "kvcache/kvcache.h"
#include "model/model.h"
#include "runner/runner.h"
#include "tokenizer/tokenizer.h"

struct cJSON;
typedef struct kvb_suite kvb_suite;

/* ---- the run spec -------------------------------------------------------------------------- */
typedef struct kvb_run_spec {
    /* the model */
    const char *model;            /* model name, HF directory or .gguf */
    kvb_model_opts model_opts;    /* threads, weights, random weights (the verb's flags) */
    const char *weights;          /* --weights as given (fingerprinted) */
    int random_weights;           /* --random-weights: recorded as "random seed N" */
    long seed;
    /* the method */
    const char *method;           /* as given (kvb_cache_create canonicalizes it) */
    const kvb_cache_param *params; /* effective parameters (the run directory's default name) */
    int n_params;
    /* the tasks */
    const char *tasks;            /* --tasks: items claimed by the suites of the table */
    const char *data;             /* --data (NULL: each suite searches) */
    int e_variant;                /* LongBench-E */
    int skip_bad;                 /* skip malformed records instead of failing */
    long limit;                   /* first items of each task; < 0: all */
    long shard_i, shard_n;
    /* prompts */
    const char *chat_template;    /* NULL: the model's */
    int max_length;               /* prompt budget; 0: the model's */
    /* the run */
    const char *out;              /* run directory (NULL: results/<model>/<method>[-<params>]) */
    int resume;
    size_t max_memory;            /* bytes for weights + cache + activations; 0: available */
    int skip_oversized;
    long trace_every;             /* memory trace every k-th decode step; 0: default */
    int dry_run;                  /* plan from the config alone, run nothing */
    long prompt_len;              /* prompt length of the dry-run plan (0: the budget) */
    /* the needle test (NULL: its defaults); lengths is RULER's too */
    const char *lengths, *depths, *needle, *question;
    /* RULER (lib/ruler/source.h): samples per task (<= 0: RULER's 500), the generator's seed
     * (< 0: RULER's 42), the model template (NULL: the model's chat template, else "base") */
    long ruler_samples, ruler_seed;
    const char *ruler_template;
    /* the suites --tasks is parsed over (NULL: kvb_suite_table of lib/suites) */
    const kvb_suite *const *suites;
} kvb_run_spec;

/* What a suite gets once the model is open. */
typedef struct kvb_suite_env {
    const kvb_run_spec *spec;
    const kvb_model_config *cfg;
    const kvb_tokenizer *tok;     /* NULL only in a dry run from a config */
    const char *chat_family;      /* NULL: raw text */
    int add_bos;                  /* the model's BOS rule (kvb_tokenizer_default_add_bos) */
    int cleanup_spaces;           /* HF decode's clean_up_tokenization_spaces */
    int max_length;               /* prompt budget in tokens */
} kvb_suite_env;

/* ---- a suite ------------------------------------------------------------------------------- */
/* The session offers every item of --tasks to the suites in table order; the first that claims it
 * gets it. A suite with items gets a plan (its parsed selection), a preflight before the model
 * loads (not in a dry run), and then one source per task, run in order; suites run in table
 * order. Callbacks marked optional may be NULL. */
struct kvb_suite {
    const char *name;             /* "LongBench", "needle", ... (error messages) */
    /* 1 when the --tasks item is this suite's (a task or set name) */
    int (*claims)(const char *item);
    /* Append the names it claims, for the error on an unknown item ("sets: ...; tasks: ..."). */
    void (*names)(kvb_strbuf *sb);
    /* Parse this suite's items (in --tasks order) into *plan (released by release). */
    int (*plan)(void **plan, char *const *items, int n, const kvb_run_spec *spec, kvb_error *e);
    /* optional: validate the data (and load what scoring needs) before the model loads, so a
     * bad file fails in a second, not hours into a run */
    int (*preflight)(void *plan, const kvb_run_spec *spec, kvb_error *e);
    /* optional: checks that need the model (a length beyond its context) and settings that
     * depend on it, once it is open and before any task runs (in a dry run too) */
    int (*model_check)(void *plan, const kvb_suite_env *env, kvb_error *e);
    int (*n_tasks)(const void *plan);
    /* Task i's source (released with kvb_source_release). */
    int (*source)(void *plan, int i, const kvb_suite_env *env, kvb_source *s, kvb_error *e);
    /* The dry-run rows: one line per task (its data, or where to get it). */
    void (*dry_run)(const void *plan, const kvb_suite_env *env, kvb_strbuf *out);
    /* optional: its settings in run.json, called for every suite of the table (plan NULL when
     * --tasks names none of its tasks) so that run.json has one layout */
    void (*settings)(const void *plan, const kvb_run_spec *spec, struct cJSON *settings);
    void (*release)(void *plan);
    /* optional: its rows of `kvbench list tasks` (KVB_SUITE_TASK_ROW) and `kvbench list sets` */
    void (*list_tasks)(kvb_strbuf *out);
    void (*list_sets)(kvb_strbuf *out);
};

/* One row of `kvbench list tasks`: task, category, language, metric, max new tokens, chat. */
#define KVB_SUITE_TASK_ROW "    %-22s %-15s %-4s %-22s %7d %5s\n"

#endif
