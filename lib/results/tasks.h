/* lib/results/tasks: the 21 LongBench v1 tasks, and which of them each task set holds.
 *
 * One static table, in the order of LongBench's pred.py. Each row carries what the harness and the
 * scorer need: category, language, metric, max new tokens (config/dataset2maxlen.json), whether the
 * chat template is skipped (pred.py's list), whether eval.py keeps only the first line of the
 * prediction, and set membership. Source of every value: specs/longbench-simlayerkv-kivi.md A.1.
 *
 * Why here: the table is data that two modules read. lib/longbench runs and scores the tasks and
 * parses task-set specs over it (longbench/tasks.h); lib/results needs the sets for the run
 * summary (the en16 and 21-task averages). lib/results sits below lib/longbench, so the table lives
 * in the lower of the two, once, and lib/longbench/tasks.h includes this header. */
#ifndef KVB_RESULTS_TASKS_H
#define KVB_RESULTS_TASKS_H

#include "core/core.h"

/* The metric functions of LongBench's metrics.py (eval.py's dataset2metric). */
enum kvb_metric {
    KVB_METRIC_QA_F1 = 0,    /* qa_f1_score */
    KVB_METRIC_QA_F1_ZH,     /* qa_f1_zh_score (jieba) */
    KVB_METRIC_ROUGE,        /* rouge_score (rouge 1.0.1 rouge-l f) */
    KVB_METRIC_ROUGE_ZH,     /* rouge_zh_score (jieba, then rouge) */
    KVB_METRIC_CLASSIFICATION, /* classification_score */
    KVB_METRIC_RETRIEVAL,    /* retrieval_score ("Paragraph N") */
    KVB_METRIC_RETRIEVAL_ZH, /* retrieval_zh_score ("段落N") */
    KVB_METRIC_COUNT,        /* count_score */
    KVB_METRIC_CODE_SIM,     /* code_sim_score (fuzzywuzzy ratio on difflib) */
    KVB_METRIC__N
};

enum kvb_task_lang { KVB_LANG_EN = 0, KVB_LANG_ZH, KVB_LANG_CODE };

typedef struct kvb_task {
    const char *key;      /* dataset key, e.g. "2wikimqa" */
    const char *category; /* LongBench README category, e.g. "Multi-Doc QA" */
    enum kvb_task_lang lang;
    enum kvb_metric metric;
    int max_new_tokens;   /* dataset2maxlen */
    int skip_chat;        /* pred.py applies no chat template (trec, triviaqa, samsum, lsht, lcc, repobench-p) */
    int first_line;       /* eval.py scores only the first line (trec, triviaqa, samsum, lsht) */
    int en16;             /* in the 16-task English+code set of the SimLayerKV/PyramidKV averages */
    int longbench_e;      /* has a LongBench-E variant (<key>_e) */
} kvb_task;

#define KVB_TASK_COUNT 21

int kvb_task_count(void);
/* Row i of the table (pred.py order), NULL when i is out of range. */
const kvb_task *kvb_task_at(int i);
/* The task named `name`; a LongBench-E file stem "<key>_e" finds <key> too. NULL when unknown. */
const kvb_task *kvb_task_find(const char *name);

const char *kvb_metric_name(enum kvb_metric m);  /* "qa_f1_score", ... as in metrics.py */
const char *kvb_task_lang_name(enum kvb_task_lang l); /* "en", "zh", "code" */

/* Membership of t in a named set: "all" (21 tasks), "en16" (the 16 English+code tasks), "e" (the
 * 13 LongBench-E tasks), "zh" (the 5 Chinese tasks). 1 or 0; -1 when `set` names no set. */
int kvb_task_set_has(const char *set, const kvb_task *t);
/* The same by task key (exact, no "_e" stem): 0 for a name that is no task or no set. */
int kvb_task_in_set(const char *set, const char *task);

/* ---- RULER tasks in a run (lib/ruler runs them) -------------------------------------------
 * A RULER task runs once per context length; in a run (pred/<name>.jsonl, run.json) each run is
 * a task named "<task>.<length>", e.g. "niah_single_1.4096", scored by one of the metrics of
 * RULER's scripts/eval/synthetic/constants.py. They are named here because lib/results, below
 * lib/ruler, computes their task scores and the per-length averages. Not "-<length>": RULER's
 * evaluate.py takes "<name>-<digits>.jsonl" for a chunk of <name> and merges (and deletes) the
 * chunks when pointed at such a directory. */
#define KVB_TASK_LENGTH_SEP '.'
/* "string_match_all" or "string_match_part" */
int kvb_metric_is_ruler(const char *metric);
/* name = "<task>.<length>" with a length in [1, 2^31): 1, the task part (NUL-terminated, cut
 * to n - 1 bytes) and the length; 0 otherwise. */
int kvb_task_length_split(const char *name, char *task, size_t n, long *length);
/* A task's score from total, the sum of its n >= 1 per-record scores added in record order:
 * RULER's evaluate.py round(sum / n * 100, 2) for its metrics, LongBench's eval.py
 * round(100 * total / n, 2) for every other. The two differ in the last bit of some sums, and
 * then in the second decimal (tests/fixtures/ruler/score.json holds such a task). */
double kvb_task_score_of(const char *metric, double total, long n);

#endif
