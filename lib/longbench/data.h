/* lib/longbench/data: finding and reading LongBench record files.
 *
 * A task's records live in `<task>.jsonl` (LongBench-E: `<task>_e.jsonl`), optionally gzip
 * compressed (`.jsonl.gz`), or inside the release's `data.zip` (`data/<task>.jsonl`). Every line is
 * one JSON object in the schema of THUDM/LongBench (specs A.2). Records are validated strictly:
 * a bad line is an error naming the file and line, unless the caller asks to skip bad records. */
#ifndef KVB_LONGBENCH_DATA_H
#define KVB_LONGBENCH_DATA_H

#include "core/core.h"

/* Largest record file accepted, compressed or not (the biggest LongBench file is ~70 MB), and the
 * largest size a compressed file may inflate to (a zip bomb is refused, not expanded). */
#define KVB_LB_MAX_FILE_BYTES ((size_t)1 << 30)
#define KVB_LB_MAX_INFLATED_BYTES ((size_t)1 << 30)
/* ... and a stream that inflates past this at more than 100x its compressed size is a bomb. */
#define KVB_LB_BOMB_BYTES ((size_t)64 << 20)

typedef struct kvb_lb_record {
    char *id;          /* `_id`; "<task>-line<N>" when a hand-made file has none */
    char *input;       /* question / query (may be "") */
    char *context;     /* long context */
    /* byte lengths: real records contain "\u0000" escapes, so these strings may hold NUL bytes
     * (Python keeps them; the prompt must too) */
    size_t input_len, context_len;
    char **answers;    /* gold answers */
    int n_answers;
    char **all_classes; /* label set (trec, lsht) or NULL when null/missing */
    int n_classes;      /* -1 when all_classes is null */
    long long length;   /* words (en) / characters (zh), as shipped */
    char *dataset;      /* `dataset` field or NULL */
    char *language;     /* `language` field or NULL */
    long line;          /* 1-based line in the file */
} kvb_lb_record;

typedef struct kvb_lb_dataset {
    char *path;          /* file the records came from ("data.zip:data/x.jsonl" for a zip member) */
    kvb_lb_record *recs;
    size_t n;
    size_t n_bad;        /* lines skipped with skip_bad */
    char first_bad[256]; /* message of the first skipped line, for the run summary */
    char sha256[65];     /* hex digest of the record file's (decompressed) bytes */
} kvb_lb_dataset;

/* Find the record file of `task` (with `_e` appended when e_variant). Search order: `dir` when
 * given (only there), else $KVBENCH_DATA, the Hugging Face hub cache (datasets--THUDM--LongBench,
 * under $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub), ./datasets/longbench/, then
 * ../shared/datasets/longbench-sample. In each directory `<name>.jsonl`, `<name>.jsonl.gz`,
 * `data/<name>.jsonl`, then `data.zip` holding `data/<name>.jsonl` are tried.
 * *path_out (caller frees) names the file, or "<zip>:<member>". KVB_EIO when not found: the
 * message lists the places searched. */
int kvb_lb_data_find(const char *task, const char *dir, int e_variant, char **path_out,
                     kvb_error *e);

/* Read and validate every record of `path` (as returned by kvb_lb_data_find, or any .jsonl /
 * .jsonl.gz file). `task` is checked against each record's `dataset` field when present (the
 * `_e` suffix is ignored). skip_bad: bad lines are counted in n_bad instead of failing.
 * An empty file, or one with no valid record, is an error. */
int kvb_lb_data_load(const char *path, const char *task, int skip_bad, kvb_lb_dataset *ds,
                     kvb_error *e);
void kvb_lb_dataset_release(kvb_lb_dataset *ds);

/* Parse one line into a record (exposed for tests and fuzzing). file/line name it in errors. */
int kvb_lb_record_parse(const char *text, size_t len, const char *task, const char *file,
                        long line, kvb_lb_record *r, kvb_error *e);
void kvb_lb_record_release(kvb_lb_record *r);

/* The whole content of a file, transparently gunzipped when it starts with the gzip magic
 * (truncated or corrupt streams are errors; output limited to KVB_LB_MAX_INFLATED_BYTES). */
int kvb_lb_read_maybe_gz(const char *path, char **data, size_t *len, kvb_error *e);

/* One member of a zip archive (stored or deflated), e.g. data.zip + "data/trec.jsonl".
 * KVB_EIO when the member is absent. */
int kvb_lb_zip_read(const char *zip_path, const char *member, char **data, size_t *len,
                    kvb_error *e);

#endif
