/* lib/results: the run record (run.json), result.json, prediction-line fields, and everything
 * that reads runs: diff (paired bootstrap), gate, merge, report.
 *
 * run.json is schema-versioned (KVB_RUN_SCHEMA_VERSION); its contract is
 * results/schema/run.schema.json and docs/results.md. Readers validate every field they use
 * and refuse a file written by a newer schema.
 *
 * How `kvbench run` uses this module (one run directory, DESIGN.md "Outputs"):
 *
 *   kvb_run r;  kvb_run_init(&r);                      tool version, commit, time, cpu
 *   kvb_run_set_model(&r, name, repo, path, dtype, fingerprint, &e);
 *   kvb_run_set_method(&r, "SnapKV", params_json, &e);  params_json from kvb_cache_params_json
 *   kvb_run_set_machine(&r, threads, flags, gpu, &e);   (cpu is filled by init)
 *   kvb_run_set_str(&r.chat_template, "llama3", &e);  kvb_run_set_str(&r.data_dir, dir, &e);
 *   kvb_run_set_settings(&r, "{\"max_length\":7500,...}", &e);   optional
 *   kvb_run_set_shard(&r, i, N, &e);
 *   for each task:
 *       kvb_run_task *t = kvb_run_add_task(&r, "hotpotqa", "qa_f1", &e);
 *       kvb_run_add_data_file(&r, "hotpotqa", sha256_hex_of_the_data_file, &e);
 *       for each record, IN RECORD ORDER (index 0, 1, ...; a shard: its own records in order):
 *           kvb_run_record rec = {...};  the per-record score in [0, 1], bytes, timings
 *           kvb_pred_add_fields(line_obj, index, &rec, &e);   adds _index, score, ... to the
 *                                                           pred/<task>.jsonl line
 *           kvb_run_task_add_record(t, &rec, &e);
 *       t->n_bad = records skipped by --skip-bad-records;  t->wall_s = seconds for the task
 *   kvb_run_finish(&r, &e);                 task scores, buckets, derived numbers, summary
 *   kvb_result_json_write(&r, "DIR/result.json", &e);
 *   kvb_run_write(&r, "DIR/run.json", &e);
 *   kvb_run_release(&r);
 *
 * Task scores are computed here, from the per-record scores, exactly as LongBench's eval.py does
 * (sequential sum in record order, round(100 * sum / n, 2)), so that `kvbench merge` of shards,
 * which re-adds the records in their original order, writes a byte-identical result.json. */
#ifndef KVB_RESULTS_H
#define KVB_RESULTS_H

#include "core/pynum.h"
#include <stdint.h>

#include "core/core.h"

#define KVB_RUN_SCHEMA_VERSION 1
#define KVB_RUN_KIND "kvbench-run"
/* Largest run.json / pred line accepted by the readers. */
#define KVB_RUN_MAX_BYTES ((size_t)64 << 20)
#define KVB_PRED_MAX_BYTES ((size_t)1 << 30)

/* LongBench-E length buckets, keyed by the record's "length" field as eval.py does. */
enum { KVB_BUCKET_0_4K, KVB_BUCKET_4_8K, KVB_BUCKET_8K_PLUS, KVB_N_BUCKETS };
extern const char *const kvb_bucket_names[KVB_N_BUCKETS]; /* "0-4k", "4-8k", "8k+" */
/* The LongBench-E bucket of a record's "length" (eval.py's scorer_e: < 4000, < 8000, else) and a
 * bucket's score, round(100 * np.mean(scores), 2) on a numpy float64 (numpy's rounding, NaN for
 * an empty bucket): the one copy `run --e`, `eval --e` and merge use. */
int kvb_bucket_of(double length);
double kvb_bucket_score(const double *scores, size_t n);

/* ---- one record's numbers (what `kvbench run` measured for it) ---------------------------- */
typedef struct kvb_run_record {
    double score;        /* the metric, max over answers, in [0, 1] (LongBench's per-record score) */
    long length;         /* LongBench's "length" field (for -E buckets); -1 when unknown */
    long prompt_tokens;  /* after truncation and chat template */
    long gen_tokens;     /* generated tokens */
    double kv_bytes_prefill; /* bytes really held at the end of prefill (all layers) */
    double kv_bytes_decode;  /* bytes held at the end of decode */
    double kv_bytes_peak;    /* largest bytes held at any time of this record */
    double kv_full16_bytes;  /* bytes a full 16-bit cache would hold at the end of decode */
    double keep_ratio;       /* kept tokens / tokens a full cache holds, at the end of prefill */
    double prefill_s, decode_s; /* seconds */
    int has_margin;          /* the greedy margin below is known (kvb_gen_result.margin) */
    double margin;           /* smallest logit gap chosen - runner-up over the steps */
    long margin_step;        /* the step it occurred at (0 = first generated token) */
    int has_cell;            /* needle-in-a-haystack: the (length, depth) cell of this record */
    long cell_length, cell_depth;
} kvb_run_record;

/* One needle-in-a-haystack cell: context length (tokens) x needle depth (percent). */
typedef struct kvb_run_cell {
    long length, depth;
    double score; /* 100 * mean record score of the cell */
    long n;
    double sum_;  /* accumulator while records are added */
} kvb_run_cell;

typedef struct kvb_run_task {
    char *name;
    char *metric;              /* optional (NULL): metric name, informative */
    double score;              /* round(100 * mean record score, 2) */
    long n;                    /* scored records */
    long n_bad;                /* records skipped as bad input */
    int has_buckets;           /* LongBench-E buckets present (settings "e") */
    double bucket[KVB_N_BUCKETS];   /* NAN where a bucket has no record (written as null) */
    long bucket_n[KVB_N_BUCKETS];
    /* memory, means over records except the peak */
    double kv_bytes_prefill, kv_bytes_decode, kv_full16_bytes, peak_kv_bytes, keep_ratio;
    double compression_ratio;  /* kv_full16_bytes / kv_bytes_decode (ratio of sums) */
    /* timing totals and derived speeds */
    long long prompt_tokens, gen_tokens;
    double prefill_s, decode_s, wall_s;
    double decode_ms_per_token;   /* 1000 * decode_s / gen_tokens (0 when no token) */
    double prefill_tokens_per_s;  /* prompt_tokens / prefill_s (0 when no time) */
    kvb_run_cell *cells;          /* needle cells, sorted by (length, depth); NULL when none */
    int n_cells;
    /* records added by kvb_run_task_add_record, in record order (eval.py's summation order);
     * kvb_run_finish derives every number above from them. Empty for a task read from a file. */
    kvb_run_record *recs_;
    long n_recs_, cap_recs_;
    int buckets_wanted_;
} kvb_run_task;

/* RULER's summary at one context length: the average of the RULER tasks ("<task>.<length>",
 * results/tasks.h) run at that length, as RULER's tables report it per length. */
typedef struct kvb_run_ruler_len {
    long length;
    int n_tasks;
    double average; /* mean of the task scores (run order), round(..., 2) */
} kvb_run_ruler_len;

typedef struct kvb_run_file {
    char *task;
    char *sha256; /* hex digest of the task's data file as read */
} kvb_run_file;

typedef struct kvb_run {
    int schema_version;
    char *tool_version, *git_commit, *created;
    char *cpu, *flags, *gpu; /* gpu: "" on CPU runs */
    char *device;            /* where the model ran: "cpu" (also for files without the field) or
                                "cuda" */
    char *cuda_driver, *cuda_runtime; /* "12.8"; "" on cpu */
    double device_bytes;     /* cuda: peak device bytes of the model (kvb_cuda_peak_bytes) */
    long threads;
    double peak_rss_bytes;
    char *model_name, *model_repo, *model_path, *model_dtype, *model_fingerprint;
    char *method_name;
    char *method_params; /* compact JSON object text ("{}" when none) */
    char *chat_template;
    char *data_dir;
    kvb_run_file *files;
    int n_files;
    char *settings;      /* compact JSON object text ("{}" when none): max_length, limit, e, ... */
    long shard_index, shard_count; /* 0 and 1 for an unsharded run */
    kvb_run_task *tasks; /* in the order they were run */
    int n_tasks;
    /* summary (kvb_run_finish) */
    double avg_tasks;    /* mean of all task scores, rounded to 2 decimals */
    int has_en16, has_all;
    double avg_en16, avg_all; /* present only when every task of the set is in the run */
    double compression_ratio; /* sum_t n*full16 / sum_t n*held over all records */
    double peak_kv_bytes;     /* max over tasks */
    double decode_ms_per_token, keep_ratio;
    long n_bad;               /* sum of task n_bad */
    kvb_run_ruler_len *ruler; /* RULER per context length, ascending; NULL when no RULER task */
    int n_ruler;
} kvb_run;

/* ---- building and writing a run (kvbench run, merge) -------------------------------------- */
void kvb_run_init(kvb_run *r); /* version, commit, created timestamp, cpu, threads = cpu count */
void kvb_run_release(kvb_run *r);
/* Replace *field with a copy of s (NULL -> ""). */
int kvb_run_set_str(char **field, const char *s, kvb_error *e);
/* name is required; fingerprint (a hash of the weights) should be given: "" means unknown, and
 * diff/gate/merge then tell models apart by name only. */
int kvb_run_set_model(kvb_run *r, const char *name, const char *repo, const char *path,
                      const char *dtype, const char *fingerprint, kvb_error *e);
/* params_json: a JSON object (as kvb_cache_params_json returns), NULL for "{}". */
int kvb_run_set_method(kvb_run *r, const char *name, const char *params_json, kvb_error *e);
int kvb_run_set_machine(kvb_run *r, long threads, const char *flags, const char *gpu, kvb_error *e);
/* device "cpu" or "cuda"; driver/runtime versions and device bytes (cuda only, else "" and 0) */
int kvb_run_set_device(kvb_run *r, const char *device, const char *driver, const char *runtime,
                       double device_bytes, kvb_error *e);
/* machine.flags of a CPU run: "gemv=<ISA of the GEMV kernels> prefill=<arithmetic of the prefill>
 * weights=<held dtype> cflags=<compile flags of this build>", e.g. "gemv=avx512 prefill=bf16
 * weights=bf16 cflags=-std=c11 -O2 -mavx2 -mfma -mf16c -fno-math-errno". The prefill arithmetic
 * (bf16 where the CPU has AVX-512 BF16, else f32) changes results within bf16 rounding, so two
 * runs that differ in it are not expected to agree record for record. */
void kvb_run_machine_flags(char *out, size_t n, const char *gemv, const char *prefill,
                           const char *weights);
int kvb_run_set_settings(kvb_run *r, const char *settings_json, kvb_error *e);
int kvb_run_set_shard(kvb_run *r, long index, long count, kvb_error *e);
int kvb_run_add_data_file(kvb_run *r, const char *task, const char *sha256_hex, kvb_error *e);
/* Appends a task (name unique in the run); the pointer stays valid until the next add_task. */
kvb_run_task *kvb_run_add_task(kvb_run *r, const char *name, const char *metric, kvb_error *e);
kvb_run_task *kvb_run_find_task(const kvb_run *r, const char *name);
/* Ask for LongBench-E buckets for this task (records must carry length >= 0). */
void kvb_run_task_want_buckets(kvb_run_task *t);
int kvb_run_task_add_record(kvb_run_task *t, const kvb_run_record *rec, kvb_error *e);
/* Compute scores, buckets, cells, derived speeds and the summary. Refuses a task with no record. */
int kvb_run_finish(kvb_run *r, kvb_error *e);
/* run.json text (caller frees) and its atomic write. */
char *kvb_run_to_json(const kvb_run *r);
int kvb_run_write(const kvb_run *r, const char *path, kvb_error *e);
/* result.json as LongBench's eval.py writes it: json.dump(scores, indent=4), task -> score, or
 * task -> {"0-4k": s, "4-8k": s, "8k+": s} for a LongBench-E task. */
char *kvb_result_json_text(const kvb_run *r);
int kvb_result_json_write(const kvb_run *r, const char *path, kvb_error *e);

/* ---- reading ------------------------------------------------------------------------------ */
/* Load and validate a run: `path` is a run directory (its run.json) or a run.json file.
 * Every damage (missing field, wrong type, value out of range, newer schema_version, truncated
 * file) is refused with KVB_EINVAL and one message naming the file and the field. */
int kvb_run_load(const char *path, kvb_run *r, kvb_error *e);
/* Validate a parsed run.json document; fills r when r != NULL. `file` names it in messages. */
int kvb_run_from_json(const struct cJSON *doc, const char *file, kvb_run *r, kvb_error *e);
/* The run directory of `path` (a directory, or the directory holding a run.json); caller frees. */
char *kvb_run_dir_of(const char *path);

/* ---- the run directory (rundir.c) ---------------------------------------------------------
 * DIR/pred/<task>.jsonl, DIR/memory/<task>.jsonl, DIR/fingerprint.json. `kvbench run` writes it:
 *
 *   kvb_rundir *d;  kvb_rundir_open(&d, dir, resume, &e);   pred/ and memory/ made
 *   kvb_rundir_fp_check(d, "model", name, &e) ...;  kvb_rundir_fp_save(d, &e);
 *   for each task:  kvb_rundir_task_begin(d, task, run_task, &e);   committed records reloaded
 *       for each record not kvb_rundir_is_done(d, id):  kvb_rundir_commit(d, id, pred, mem, &e);
 *   kvb_rundir_free(d);
 *
 * and merge, diff and eval find the task files with kvb_rundir_task_file. */
#define KVB_RUNDIR_PRED "pred"
#define KVB_RUNDIR_MEMORY "memory"
typedef struct kvb_rundir kvb_rundir;
/* "DIR/<sub>/<task>.jsonl" (sub: KVB_RUNDIR_PRED or KVB_RUNDIR_MEMORY); caller frees. */
char *kvb_rundir_task_file(const char *dir, const char *sub, const char *task);
/* The default run directory: results/<model>/<method>[-<name><value>...][/shard-i-of-N], with
 * the parameters whose value is not NULL, characters unsafe in a path replaced by '_'. */
char *kvb_rundir_default_path(const char *model, const char *method, const char *const *names,
                              const char *const *values, int n, long shard_i, long shard_n);
/* Refuse DIR/pred or DIR/memory being a symbolic link (DIR itself may be one). */
int kvb_rundir_check(const char *dir, kvb_error *e);
/* Create pred/ and memory/ and load fingerprint.json, or start one ("kind" only, unsaved). A
 * directory that already holds a fingerprint is refused unless resume. */
int kvb_rundir_open(kvb_rundir **d, const char *dir, int resume, kvb_error *e);
void kvb_rundir_free(kvb_rundir *d);
const char *kvb_rundir_path(const kvb_rundir *d);
/* The fingerprint's key must hold value (a mismatch is refused, naming both), or gets it. */
int kvb_rundir_fp_check(kvb_rundir *d, const char *key, const char *value, kvb_error *e);
/* The same for a key added after run directories existed (e.g. "device"): a fingerprint.json on
 * disk without this key was made when every run had the value `before` ("cpu"), so resuming it
 * with another value is refused too; a new directory records `value`. */
int kvb_rundir_fp_check_since(kvb_rundir *d, const char *key, const char *value,
                              const char *before, kvb_error *e);
/* Write fingerprint.json atomically when a check added a key. */
int kvb_rundir_fp_save(kvb_rundir *d, kvb_error *e);
/* Start a task. Existing pred/memory files are refused without resume; with resume a torn last
 * line is dropped from each, every committed prediction line is added to t (file order) and its
 * _id marked done, and memory lines of uncommitted records are removed. */
int kvb_rundir_task_begin(kvb_rundir *d, const char *task, kvb_run_task *t, kvb_error *e);
/* The record _id of the current task is committed. */
int kvb_rundir_is_done(const kvb_rundir *d, const char *id);
/* Commit a record of the current task: its memory line (NULL: none), then its prediction line,
 * each appended with one write() and fdatasync; the prediction line is the commit point. */
int kvb_rundir_commit(kvb_rundir *d, const char *id, const char *pred_line, const char *mem_line,
                      kvb_error *e);

/* ---- prediction lines (pred/<task>.jsonl) ------------------------------------------------- */
/* kvbench's fields on a LongBench prediction line (DESIGN.md "Outputs"):
 *   "_index"  record index in the task's data file (0-based, before sharding): merge order
 *   "score"   the record's metric in [0, 1] (diff's paired bootstrap, merge's rescoring)
 *   "prompt_tokens", "gen_tokens", "kv_bytes_prefill", "kv_bytes_decode", "kv_bytes_peak",
 *   "kv_full16_bytes", "keep_ratio", "prefill_s", "decode_s", "margin" and "margin_step" (the
 *   smallest logit gap of greedy decoding and its step; optional: older lines lack them), and
 *   "niah_length", "niah_depth" for needle records.  LongBench's own fields (pred, answers, all_classes,
 *   length, _id) are the harness's. */
int kvb_pred_add_fields(struct cJSON *line, long index, const kvb_run_record *rec, kvb_error *e);
/* Parse kvbench's fields back (merge). where = "file:line" for messages. */
int kvb_pred_get_record(const struct cJSON *line, const char *where, long *index,
                        kvb_run_record *rec, kvb_error *e);

/* Per-record scores of one task of a run, for the paired bootstrap. */
typedef struct kvb_pred_scores {
    char **ids;     /* _id of each record */
    double *scores; /* "score" of each record */
    long n;
} kvb_pred_scores;
int kvb_pred_scores_load(const char *run_dir, const char *task, kvb_pred_scores *out, kvb_error *e);
void kvb_pred_scores_release(kvb_pred_scores *p);

/* ---- helpers shared with the metrics side ------------------------------------------------- */
/* Python's round() and repr(float): kvb_py_round, kvb_py_repr in core/pynum.h. */
/* numpy's pairwise summation (np.sum / np.mean of a float64 array): kvb_np_sum in core/pynum.h. */
/* Task-set membership: kvb_task_in_set in results/tasks.h. */

/* ---- paired bootstrap (bootstrap.c) ------------------------------------------------------- */
/* splitmix64: the generator of every bootstrap, reproduced in scripts/oracle/bootstrap_fixtures.py. */
uint64_t kvb_rng_next(uint64_t *state);
/* Uniform integer in [0, n), n >= 1, by rejection (no modulo bias): same in the Python twin. */
uint64_t kvb_rng_below(uint64_t *state, uint64_t n);

/* One stratum (a task): per-record scores of the shared records, paired, in a fixed order. */
typedef struct kvb_boot_group {
    const double *a, *b; /* scores in [0, 1] */
    long n;              /* >= 1 */
} kvb_boot_group;

typedef struct kvb_boot_ci {
    double delta; /* 100 * (mean b - mean a) on the shared records */
    double lo, hi; /* percentile interval (numpy 'linear' interpolation) */
    int significant; /* the interval excludes 0 */
} kvb_boot_ci;

/* Stratified paired bootstrap: n_rep replicates; in each, every group is resampled (n draws with
 * replacement, in group order) and its mean difference taken; the average row is the mean of the
 * group differences of the replicate. level: e.g. 0.95. Fills per[g] and *avg (avg may be NULL). */
int kvb_bootstrap_paired(const kvb_boot_group *groups, int n_groups, long n_rep, uint64_t seed,
                         double level, kvb_boot_ci *per, kvb_boot_ci *avg, kvb_error *e);
/* numpy.percentile(x, q, method='linear') of sorted x (q in [0, 100]). */
double kvb_percentile_sorted(const double *x, long n, double q);

/* ---- diff (diff.c) ------------------------------------------------------------------------ */
typedef struct kvb_diff_opts {
    long n_boot;   /* bootstrap replicates; 0 = no bootstrap */
    uint64_t seed;
    double level;  /* 0.95 */
    int force;     /* compare runs of different models */
} kvb_diff_opts;

typedef struct kvb_diff_row {
    const char *task;   /* points into run A or B (or "average") */
    double a, b, delta; /* scores as in run.json */
    long n_shared;      /* records matched by _id */
    int has_ci;
    kvb_boot_ci ci;     /* over the shared records */
    double cr_a, cr_b, peak_a, peak_b, ms_a, ms_b; /* compression, peak KV bytes, ms/token */
} kvb_diff_row;

typedef struct kvb_diff {
    kvb_run a, b;
    char *path_a, *path_b;
    kvb_diff_row *rows; /* shared tasks in A's order */
    int n_rows;
    kvb_diff_row avg;   /* over the shared tasks */
    const char **only_a, **only_b;
    int n_only_a, n_only_b;
} kvb_diff;

int kvb_diff_compute(const char *path_a, const char *path_b, const kvb_diff_opts *o, kvb_diff *d,
                     kvb_error *e);
void kvb_diff_release(kvb_diff *d);
char *kvb_diff_text(const kvb_diff *d, const kvb_diff_opts *o);
char *kvb_diff_json(const kvb_diff *d, const kvb_diff_opts *o);

/* ---- gate (gate.c) ------------------------------------------------------------------------ */
typedef struct kvb_gate_opts {
    double max_drop;       /* average score may fall at most this many points (default 1.0) */
    double max_task_drop;  /* per task; < 0 = not checked */
    double min_compression;/* < 0 = not checked */
    double max_kv_bytes;   /* < 0 = not checked */
    int require_significance; /* a drop fails only when the bootstrap says it is significant */
    long n_boot;
    uint64_t seed;
    int force;             /* gate against a baseline of another model */
} kvb_gate_opts;
void kvb_gate_opts_default(kvb_gate_opts *o);
/* Returns 0 and sets *failed to the number of failed checks; report gets one line per check
 * ("PASS ..." / "FAIL ..."), written for CI logs. Bad input: a negative status. */
int kvb_gate_check(const char *run_path, const char *base_path, const kvb_gate_opts *o,
                   int *failed, kvb_strbuf *report, kvb_error *e);

/* ---- merge (merge.c) ---------------------------------------------------------------------- */
/* Join shard run directories into out_dir: pred/<task>.jsonl in the original record order,
 * memory/<task>.jsonl likewise when present, result.json and run.json recomputed. Refuses shards
 * of different model/method/params/data/tool commit, overlapping or missing shards. */
int kvb_merge_runs(const char *const *shards, int n, const char *out_dir, kvb_error *e);

/* ---- report (report.c) -------------------------------------------------------------------- */
/* Markdown: one row per run (method), one column per task, then average, compression ratio,
 * peak KV bytes, ms/token. names[i] labels run i (e.g. its directory); names may be NULL. */
int kvb_report_markdown(const kvb_run *runs, const char *const *names, int n, kvb_strbuf *out,
                        kvb_error *e);

#endif
