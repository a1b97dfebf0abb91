/* lib/longbench/score: LongBench's eval.py in C. Reads prediction files (`<task>.jsonl`, one
 * `{"pred", "answers", "all_classes", "length"}` object per line, as LongBench's pred.py and
 * `kvbench run` write them), scores them with lib/longbench/metrics, aggregates like eval.py
 * (round(100 * sum / n, 2); LongBench-E buckets with numpy's mean and round) and formats
 * result.json byte for byte as eval.py's json.dump(..., ensure_ascii=False, indent=4). */
#ifndef KVB_LONGBENCH_SCORE_H
#define KVB_LONGBENCH_SCORE_H

#include "core/pynum.h" /* round(), repr(): kvb_py_round, kvb_py_repr */
#include "longbench/metrics.h"
#include "longbench/tasks.h"
#include "results/results.h" /* LongBench-E buckets */

/* ---- one prediction file -------------------------------------------------------------------- */
typedef struct kvb_pred_rec {
    kvb_sv pred;
    kvb_sv *answers;
    size_t nanswers;
    double length; /* `length`, NaN when absent */
} kvb_pred_rec;

typedef struct kvb_pred_file {
    const kvb_task *task;
    kvb_pred_rec *rec;
    size_t n;
    kvb_sv *classes; /* all_classes of the LAST line (eval.py's quirk); NULL when null */
    size_t nclasses;
    char *text;      /* the file, strings point into it after unescaping */
    char *path;      /* for error messages: "<path>:<line>: ..." (record i is line i + 1) */
    void *priv;
} kvb_pred_file;

/* Load and check a prediction file. need_length: every line must carry a numeric `length`
 * (LongBench-E). Errors (KVB_EINVAL) name the file and line: not JSON, not an object, a missing
 * field or wrong type, invalid UTF-8, a NUL character, an empty file. */
int kvb_pred_file_load(const char *path, const kvb_task *t, int need_length, kvb_pred_file *f,
                       kvb_error *e);
void kvb_pred_file_release(kvb_pred_file *f);

/* ---- scores ---------------------------------------------------------------------------------- */
/* LongBench-E buckets: lib/results (kvb_bucket_of, kvb_bucket_score, kvb_bucket_names) */
enum { KVB_E_BUCKETS = KVB_N_BUCKETS };

typedef struct kvb_task_score {
    const kvb_task *task;
    char *key;          /* key in result.json: the file stem, e.g. "qasper" */
    size_t n;           /* records */
    double score;       /* eval.py: round(100 * sum / n, 2) */
    double e[KVB_E_BUCKETS];     /* LongBench-E bucket scores (NaN for an empty bucket) */
    size_t e_n[KVB_E_BUCKETS];
    double *per_record; /* n record scores in [0, 1] (for paired comparisons) */
} kvb_task_score;

/* Score a loaded file; e_mode also fills the buckets. seg: the jieba segmenter or NULL. */
int kvb_score_pred_file(const kvb_pred_file *f, const kvb_segmenter *seg, int e_mode,
                        kvb_task_score *out, kvb_error *e);
void kvb_task_score_release(kvb_task_score *s);

/* ---- a directory ----------------------------------------------------------------------------- */
typedef struct kvb_eval_result {
    char *pred_dir;   /* where the .jsonl files were read */
    char *result_path; /* where result.json goes */
    int e_mode;
    kvb_task_score *tasks; /* in directory order (eval.py iterates os.listdir) */
    size_t n;
} kvb_eval_result;

/* Score every `*jsonl` file of dir, or of dir/pred when dir is a kvbench run directory, in
 * readdir order as eval.py's os.listdir. The task is the file name up to its first '.'.
 * tasks: a task set (kvb_taskset_parse) to restrict scoring to, or NULL for every file.
 * An unknown task, two files of one task, or no prediction file at all is KVB_EINVAL. */
int kvb_eval_dir(const char *dir, int e_mode, const kvb_segmenter *seg, const char *tasks,
                 kvb_eval_result *r, kvb_error *e);
void kvb_eval_result_release(kvb_eval_result *r);
/* result.json text as eval.py writes it (no trailing newline), appended to out. */
int kvb_eval_result_json(const kvb_eval_result *r, kvb_strbuf *out);
/* Unweighted mean of the task scores of r that belong to `set` ("en16", "all", ...); returns the
 * number of such tasks found and stores the mean (NaN when none) in *avg. */
int kvb_eval_average(const kvb_eval_result *r, const char *set, double *avg);

#endif
