/* lib/core: errors, strings, files, JSON helpers, arena, threads, timing, progress.
 *
 * Conventions (see STYLE.md): library functions return 0 or a negative KVB_E* code and fill a
 * caller-owned kvb_error naming the file and the problem. Only cmd/ prints and exits. */
#ifndef KVB_CORE_H
#define KVB_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- status codes and error messages ---------------------------------------------------- */
enum {
    KVB_OK = 0,
    KVB_EINVAL = -1,  /* malformed or hostile input, bad flag: exit 2 */
    KVB_EIO = -2,     /* file missing, unreadable, write failed */
    KVB_ENOMEM = -3,  /* allocation failed or refused as absurd */
    KVB_EUNSUP = -4,  /* valid input we do not support */
    KVB_EINTR = -5,   /* interrupted by a signal; work so far is saved */
};

typedef struct kvb_error {
    int code;
    char msg[1024];
} kvb_error;

/* Fill e (may be NULL) and return code, so callers can `return kvb_errorf(e, KVB_EINVAL, ...)`. */
int kvb_errorf(kvb_error *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prefix an existing message: "context: old message". Returns e->code. */
int kvb_error_prefix(kvb_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Process exit status for a library status code (0 ok, 2 bad input/usage, 130 interrupted, 1 other). */
int kvb_exit_status(int code);

/* ---- checked allocation ------------------------------------------------------------------ */
/* Allocation helpers that refuse absurd sizes (overflow, > KVB_ALLOC_LIMIT) instead of trying. */
#define KVB_ALLOC_LIMIT ((size_t)1 << 40)
void *kvb_malloc(size_t n);                  /* NULL on failure or absurd size */
void *kvb_calloc(size_t count, size_t size); /* overflow-checked */
void *kvb_realloc(void *p, size_t n);
char *kvb_strdup(const char *s);
int kvb_mul_overflow(size_t a, size_t b, size_t *out); /* 1 on overflow */

/* ---- growable string -------------------------------------------------------------------- */
typedef struct kvb_strbuf {
    char *buf; /* always NUL-terminated when len > 0 or after init */
    size_t len, cap;
} kvb_strbuf;
void kvb_strbuf_init(kvb_strbuf *sb);
int kvb_strbuf_add(kvb_strbuf *sb, const char *s, size_t n);
int kvb_strbuf_adds(kvb_strbuf *sb, const char *s);
int kvb_strbuf_addf(kvb_strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *kvb_strbuf_detach(kvb_strbuf *sb); /* caller frees; sb is reset */
void kvb_strbuf_release(kvb_strbuf *sb);

/* ---- files ------------------------------------------------------------------------------- */
/* Read a whole file (at most max_bytes, else KVB_EINVAL "too large"). Adds a NUL after the data. */
int kvb_read_file(const char *path, size_t max_bytes, char **data, size_t *len, kvb_error *e);
/* Write atomically: temp file in the same directory, fsync, rename, fsync the directory. */
int kvb_write_file_atomic(const char *path, const void *data, size_t len, kvb_error *e);
int kvb_mkdir_p(const char *path, kvb_error *e);
int kvb_file_exists(const char *path);
int kvb_is_dir(const char *path);
/* Join two path parts into a newly allocated string. */
char *kvb_path_join(const char *a, const char *b);

/* ---- where things are (paths.c) ----------------------------------------------------------- */
/* The one rule for kvbench's own files (documented in docs/model.md, "Where configs/ is"):
 * the kvbench home is $KVBENCH_HOME if set, else the repository holding the binary (the first
 * directory one or two levels above the directory of /proc/self/exe that has configs/models:
 * bin/kvbench, build/kvbench, build/tests/x), else "." when ./configs/models exists; NULL when
 * none. Found once per process. Models fetched by `make model` lie in <home>/models. */
const char *kvb_config_home(void);
/* configs/<sub> ("models", "longbench", ...): $KVBENCH_CONFIGS/<sub> when that is a directory
 * (a configs tree outside any checkout), else <home>/configs/<sub>. Written into buf (n bytes);
 * returns buf, or NULL when neither is a directory. */
const char *kvb_configs_dir(const char *sub, char *buf, size_t n);
/* The Hugging Face hub caches in the order HF's libraries consult them: candidate 0 is
 * $HF_HUB_CACHE, 1 $HF_HOME/hub, 2 $HOME/.cache/huggingface/hub. Writes candidate i into buf and
 * returns 1, 0 when its variable is unset or empty (or the path does not fit), -1 past the last.
 * HF itself uses the first candidate present; the model resolver tries each in turn. */
int kvb_hf_hub_cache(int i, char *buf, size_t n);

/* Read-only memory map of a whole file. */
typedef struct kvb_mmap {
    void *data;
    size_t size;
} kvb_mmap;
int kvb_mmap_open(kvb_mmap *m, const char *path, kvb_error *e);
void kvb_mmap_close(kvb_mmap *m);

/* ---- JSON (cJSON) helpers ---------------------------------------------------------------- */
struct cJSON;
/* Parse a JSON file (size-limited, nesting-limited); error names the file. */
int kvb_json_load(const char *path, size_t max_bytes, struct cJSON **out, kvb_error *e);
/* Typed getters: fail with "<file>: field 'x' missing/not a ..." */
int kvb_json_get_int(const struct cJSON *obj, const char *key, long long lo, long long hi,
                     long long *out, const char *file, kvb_error *e);
int kvb_json_get_num(const struct cJSON *obj, const char *key, double *out, const char *file,
                     kvb_error *e);
int kvb_json_get_str(const struct cJSON *obj, const char *key, const char **out, const char *file,
                     kvb_error *e);
/* Max nesting depth accepted by kvb_json_parse_limited (cJSON recurses). */
#define KVB_JSON_MAX_DEPTH 64
int kvb_json_depth_ok(const char *text, size_t len);
struct cJSON *kvb_json_parse_limited(const char *text, size_t len);

/* ---- arena ------------------------------------------------------------------------------- */
/* One block sized before a request starts; allocations are bumped; reset frees everything. */
typedef struct kvb_arena {
    unsigned char *base;
    size_t size, used, peak;
} kvb_arena;
int kvb_arena_init(kvb_arena *a, size_t size, kvb_error *e);
void *kvb_arena_alloc(kvb_arena *a, size_t n); /* 64-byte aligned; NULL when exhausted */
void kvb_arena_reset(kvb_arena *a);
void kvb_arena_release(kvb_arena *a);

/* ---- threads ----------------------------------------------------------------------------- */
/* A fixed pool: kvb_pool_run(fn, arg, n) calls fn(arg, i, n) for i in [0, n) on n threads
 * (the caller is thread 0) and returns when all are done. */
typedef struct kvb_pool kvb_pool;
typedef void (*kvb_pool_fn)(void *arg, int ith, int nth);
int kvb_pool_create(kvb_pool **p, int n_threads, kvb_error *e);
int kvb_pool_size(const kvb_pool *p);
void kvb_pool_run(kvb_pool *p, kvb_pool_fn fn, void *arg);
void kvb_pool_free(kvb_pool *p);
int kvb_cpu_count(void);

/* ---- time, memory, machine --------------------------------------------------------------- */
double kvb_now(void);               /* monotonic seconds */
size_t kvb_peak_rss(void);          /* bytes, from getrusage */
size_t kvb_available_memory(void);  /* bytes, MemAvailable from /proc/meminfo (0 if unknown) */
void kvb_cpu_name(char *buf, size_t n);
/* ISO-8601 UTC timestamp. */
void kvb_timestamp(char *buf, size_t n);

/* ---- progress bar ------------------------------------------------------------------------ */
/* Drawn on stderr only when stderr is a terminal; silent otherwise. */
typedef struct kvb_progress {
    const char *label;
    long total, done;
    double t0, last_draw;
    int enabled;
    char unit[16];
} kvb_progress;
void kvb_progress_begin(kvb_progress *p, const char *label, long total, const char *unit);
void kvb_progress_update(kvb_progress *p, long done, const char *extra);
void kvb_progress_end(kvb_progress *p);

/* ---- misc -------------------------------------------------------------------------------- */
#define KVB_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define KVB_MIN(a, b) ((a) < (b) ? (a) : (b))
#define KVB_MAX(a, b) ((a) > (b) ? (a) : (b))
/* Parse helpers for flags: whole string must be a number in [lo, hi]. */
int kvb_parse_long(const char *s, long lo, long hi, long *out);
int kvb_parse_double(const char *s, double *out);
/* "8G", "512M", "1000000" (k/M/G/T, optional B or iB: powers of 1024) -> bytes > 0. */
int kvb_parse_bytes(const char *s, size_t *out);
/* "i/N" (a shard) with 0 <= i < N <= 1000000. */
int kvb_parse_shard(const char *s, long *i, long *n);
/* Split "a,b,c" into a newly allocated array of strings (caller frees each and the array). */
int kvb_split_csv(const char *s, char ***items, int *n);
void kvb_free_strv(char **v, int n);

/* UTF-8 validity of a buffer (lib/core/utf8.h's definition): length of the valid prefix. */
size_t kvb_utf8_valid_prefix(const char *s, size_t n);

#endif
