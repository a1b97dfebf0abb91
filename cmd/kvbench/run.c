/* kvbench run: LongBench tasks (and the needle-in-a-haystack task) with one cache method.
 *
 * Writes the run directory of DESIGN.md "Outputs": pred/<task>.jsonl (appended and flushed per
 * record), memory/<task>.jsonl, result.json, run.json, and fingerprint.json (what the run was
 * made with, checked by --resume). Crash safety: a record is committed when its prediction line
 * is on disk; --resume drops a torn last line, skips the _ids already done and refuses a
 * directory made with another model, method, parameters or data. SIGINT/SIGTERM finish the
 * current record, flush, print how to resume and exit 130. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/sha256.h"
#include "kvcache/kvcache.h"
#include "longbench/data.h"
#include "text/jieba.h"
#include "longbench/metrics.h"
#include "longbench/niah.h"
#include "longbench/pipeline.h"
#include "longbench/prompt.h"
#include "longbench/tasks.h"
#include "model/model.h"
#include "options.h"
#include "results/results.h"
#include "verbs.h"

/* ---- options ------------------------------------------------------------------------------- */

/* Method parameters passed through to kvb_cache_create (the method validates them). */
static const char *const k_param_names[] = {
    "budget", "window", "kernel", "pool", "bits", "group", "residual", "threshold", "ratio", "gqa",
    "beta", "sink", "recent", "tau", "bmin_ratio", "lmba", "qwindow", "dtype" };
#define N_PARAMS (sizeof(k_param_names) / sizeof(k_param_names[0]))

struct run_opts {
    const char *model, *type, *tasks, *data, *out, *shard, *chat_template, *max_memory;
    const char *lengths, *depths, *needle, *question;
    const char *param_val[N_PARAMS];
    long limit, max_length, threads, prompt_len;
    long trace_every; /* memory trace every k-th decode step; 0 = at most 64 points per record */
    int resume, skip_bad, skip_oversized, dry_run, e_variant;
    int random_weights;
    long seed; /* of --random-weights */
    int limit_seen, max_length_seen;
    long shard_i, shard_n;
    size_t max_memory_bytes; /* 0: available memory */
    char **argv;
    int argc;
};

/* ---- signals ------------------------------------------------------------------------------- */

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    if (g_stop) /* a second signal: the user really wants out now */
        _exit(130);
    g_stop = sig;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static void print_resume_hint(const struct run_opts *o, const char *out_dir)
{
    fprintf(stderr, "kvbench: interrupted; finished records are saved in %s. Resume with:\n  kvbench",
            out_dir);
    int has_resume = 0, has_out = 0;
    for (int i = 0; i < o->argc; i++) {
        fprintf(stderr, " %s", o->argv[i]);
        has_resume |= !strcmp(o->argv[i], "--resume");
        has_out |= !strncmp(o->argv[i], "--out", 5);
    }
    if (!has_out)
        fprintf(stderr, " --out %s", out_dir);
    if (!has_resume)
        fprintf(stderr, " --resume");
    fputc('\n', stderr);
}

/* ---- small helpers ------------------------------------------------------------------------- */

/* "8G", "512M", "1000000" -> bytes. */
static int parse_bytes(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || v <= 0)
        return -1;
    double mul = 1;
    if (*end) {
        switch (*end) {
        case 'k': case 'K': mul = 1024.0; break;
        case 'm': case 'M': mul = 1024.0 * 1024; break;
        case 'g': case 'G': mul = 1024.0 * 1024 * 1024; break;
        case 't': case 'T': mul = 1024.0 * 1024 * 1024 * 1024; break;
        default: return -1;
        }
        if (end[1] && strcmp(end + 1, "B") && strcmp(end + 1, "iB"))
            return -1;
    }
    v *= mul;
    if (v > 1e18)
        return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_shard(const char *s, long *i, long *n)
{
    char *slash = strchr(s, '/'), a[32];
    size_t la = slash ? (size_t)(slash - s) : 0;
    if (!slash || la == 0 || la >= sizeof(a))
        return -1;
    memcpy(a, s, la);
    a[la] = 0;
    if (kvb_parse_long(a, 0, 1000000, i) || kvb_parse_long(slash + 1, 1, 1000000, n) || *i >= *n)
        return -1;
    return 0;
}

/* Append one line and make it durable: the prediction line is the commit point of a record. */
static int append_line(const char *path, const char *line, kvb_error *e)
{
    /* O_NOFOLLOW: a symlink planted in the run directory must not redirect the writes */
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 && errno == ELOOP)
        return kvb_errorf(e, KVB_EINVAL, "%s: is a symbolic link; refusing to write through it",
                          path);
    if (fd < 0)
        return kvb_errorf(e, KVB_EIO, "%s: cannot open for appending: %s", path, strerror(errno));
    size_t n = strlen(line);
    char *buf = kvb_malloc(n + 1);
    if (!buf) {
        close(fd);
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    }
    memcpy(buf, line, n);
    buf[n] = '\n';
    /* one write() of the whole line: a kill leaves either nothing or a prefix (a torn line) */
    size_t off = 0;
    while (off < n + 1) {
        ssize_t w = write(fd, buf + off, n + 1 - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    free(buf);
    int bad = off != n + 1 || fdatasync(fd) != 0;
    close(fd);
    return bad ? kvb_errorf(e, KVB_EIO, "%s: write failed: %s", path, strerror(errno)) : 0;
}

static int refuse_symlink(const char *path, kvb_error *e)
{
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
        return kvb_errorf(e, KVB_EINVAL, "%s: is a symbolic link (kvbench never writes through one)",
                          path);
    return 0;
}

/* ---- resume: existing prediction lines ----------------------------------------------------- */

typedef struct done_set {
    char **ids;
    long n, cap;
} done_set;

static int done_has(const done_set *d, const char *id)
{
    for (long i = 0; i < d->n; i++)
        if (!strcmp(d->ids[i], id))
            return 1;
    return 0;
}

static void done_release(done_set *d)
{
    for (long i = 0; i < d->n; i++)
        free(d->ids[i]);
    free(d->ids);
    memset(d, 0, sizeof(*d));
}

static int done_add(done_set *d, const char *id)
{
    if (d->n == d->cap) {
        long nc = d->cap ? d->cap * 2 : 64;
        char **v = kvb_realloc(d->ids, (size_t)nc * sizeof(char *));
        if (!v)
            return KVB_ENOMEM;
        d->ids = v, d->cap = nc;
    }
    d->ids[d->n++] = kvb_strdup(id);
    return 0;
}

/* Drop a torn last line (no newline at the end: the writer was killed mid-line). */
static int repair_torn(const char *path, char **data, size_t *len, kvb_error *e)
{
    *data = NULL;
    *len = 0;
    int rc = refuse_symlink(path, e);
    if (rc || !kvb_file_exists(path))
        return rc;
    rc = kvb_read_file(path, KVB_PRED_MAX_BYTES, data, len, e);
    if (rc)
        return rc;
    size_t keep = *len;
    while (keep && (*data)[keep - 1] != '\n')
        keep--;
    if (keep != *len) {
        fprintf(stderr, "kvbench: %s: dropping a torn last line (%zu bytes)\n", path, *len - keep);
        if (truncate(path, (off_t)keep) != 0)
            return kvb_errorf(e, KVB_EIO, "%s: cannot truncate: %s", path, strerror(errno));
        *len = keep;
        (*data)[keep] = 0;
    }
    return 0;
}

/* Read pred/<task>.jsonl: every complete line must parse; its records go back into the run
 * task in file order (= record order), so the final scores are those of an uninterrupted run. */
static int load_done(const char *pred_path, kvb_run_task *t, done_set *done, kvb_error *e)
{
    char *data;
    size_t len;
    int rc = repair_torn(pred_path, &data, &len, e);
    if (rc || !data)
        return rc;
    long line = 0;
    for (char *p = data; p < data + len && !rc;) {
        char *nl = memchr(p, '\n', (size_t)(data + len - p));
        size_t n = (size_t)(nl - p);
        line++;
        char where[4200];
        snprintf(where, sizeof(where), "%.4000s:%ld", pred_path, line);
        cJSON *o = kvb_json_parse_limited(p, n);
        const cJSON *id = o ? cJSON_GetObjectItemCaseSensitive(o, "_id") : NULL;
        if (!o || !cJSON_IsString(id)) {
            rc = kvb_errorf(e, KVB_EINVAL, "%s: not a prediction line of kvbench", where);
        } else if (done_has(done, id->valuestring)) {
            rc = kvb_errorf(e, KVB_EINVAL, "%s: _id %.100s appears twice", where, id->valuestring);
        } else {
            long index;
            kvb_run_record rec;
            memset(&rec, 0, sizeof(rec));
            rc = kvb_pred_get_record(o, where, &index, &rec, e);
            if (!rc)
                rc = kvb_run_task_add_record(t, &rec, e);
            if (!rc)
                rc = done_add(done, id->valuestring);
        }
        cJSON_Delete(o);
        p = nl + 1;
    }
    free(data);
    return rc;
}

/* memory/<task>.jsonl: keep only the lines of committed records (a kill between the memory line
 * and the prediction line leaves one extra). */
static int repair_memory(const char *path, const done_set *done, kvb_error *e)
{
    char *data;
    size_t len;
    int rc = repair_torn(path, &data, &len, e);
    if (rc || !data)
        return rc;
    kvb_strbuf out;
    kvb_strbuf_init(&out);
    int changed = 0;
    for (char *p = data; p < data + len;) {
        char *nl = memchr(p, '\n', (size_t)(data + len - p));
        size_t n = (size_t)(nl - p);
        cJSON *o = kvb_json_parse_limited(p, n);
        const cJSON *id = o ? cJSON_GetObjectItemCaseSensitive(o, "_id") : NULL;
        if (o && cJSON_IsString(id) && done_has(done, id->valuestring))
            kvb_strbuf_add(&out, p, n + 1);
        else
            changed = 1;
        cJSON_Delete(o);
        p = nl + 1;
    }
    if (changed)
        rc = kvb_write_file_atomic(path, out.buf ? out.buf : "", out.len, e);
    kvb_strbuf_release(&out);
    free(data);
    return rc;
}

/* ---- the run context ----------------------------------------------------------------------- */

struct ctx {
    const struct run_opts *o;
    kvb_model *m;
    const kvb_model_config *cfg;
    const kvb_tokenizer *tok;
    kvb_cache_param params[N_PARAMS];
    int n_params;
    const char *method;   /* canonical name */
    char *params_json;    /* effective parameters */
    const char *chat;     /* chat template family used for LongBench prompts */
    char weights[48];     /* "file", or "random seed N" (--random-weights) */
    int add_bos;
    int cleanup;          /* HF clean_up_tokenization_spaces */
    int max_length;
    char *out_dir;
    cJSON *fp;            /* fingerprint (model, method, params, prompt settings, data) */
    int fp_dirty;
    kvb_run run;
    size_t mem_limit;     /* bytes allowed for KV + activations of one record */
    kvb_jieba *jieba;     /* loaded when a Chinese task runs (its metrics segment words) */
    kvb_segmenter seg;
    long n_oversized;
};

/* Bytes one record needs beyond the weights: a full f32 KV cache for prompt + generation (an
 * upper bound for every method) plus prefill activations (hidden states, MLP, logits, one row of
 * attention scores per head). An estimate documented in docs/longbench.md. */
static size_t estimate_bytes(const kvb_model_config *c, long n_prompt, long n_new)
{
    double t = (double)(n_prompt + n_new);
    double kv = 2.0 * c->n_layers * c->n_kv_heads * c->head_dim * t * 4;
    double act = 4.0 * n_prompt * (4.0 * c->hidden + 2.0 * c->intermediate) +
                 4.0 * c->vocab + 4.0 * c->n_heads * (double)n_prompt * 8;
    double s = kv + act;
    return s > 1e18 ? (size_t)1e18 : (size_t)s;
}

static int fp_check(struct ctx *cx, const char *key, const char *value, kvb_error *e)
{
    const cJSON *have = cJSON_GetObjectItemCaseSensitive(cx->fp, key);
    if (have) {
        if (!cJSON_IsString(have) || strcmp(have->valuestring, value))
            return kvb_errorf(e, KVB_EINVAL,
                              "%s: made with %s = %.200s, this run has %.200s; refusing to mix "
                              "them (use another --out)",
                              cx->out_dir, key, cJSON_IsString(have) ? have->valuestring : "?",
                              value);
        return 0;
    }
    cJSON_AddStringToObject(cx->fp, key, value);
    cx->fp_dirty = 1;
    return 0;
}

static int fp_save(struct ctx *cx, kvb_error *e)
{
    if (!cx->fp_dirty)
        return 0;
    char *s = cJSON_Print(cx->fp), *path = kvb_path_join(cx->out_dir, "fingerprint.json");
    int rc = kvb_write_file_atomic(path, s, strlen(s), e);
    free(s);
    free(path);
    cx->fp_dirty = 0;
    return rc;
}

/* ---- one record ---------------------------------------------------------------------------- */

struct item {
    const char *task, *id;
    long index;               /* record index in the data file (before sharding) */
    const kvb_ids *ids;       /* final prompt ids */
    const kvb_lb_gen_opts *gen;
    const kvb_lb_record *rec; /* LongBench record, or NULL for a needle cell */
    const kvb_task *lb;
    long cell_length, cell_depth;
    const char *needle, *question;
    const kvb_segmenter *seg;
};

static int score_item(const struct item *it, const char *pred, double *score, kvb_error *e)
{
    if (!it->rec) {
        *score = kvb_niah_score_recall(it->needle, it->question, pred);
        return 0;
    }
    const kvb_lb_record *r = it->rec;
    kvb_sv *sv = kvb_calloc((size_t)r->n_answers + (size_t)KVB_MAX(r->n_classes, 0) + 1, sizeof(kvb_sv));
    if (!sv)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    for (int i = 0; i < r->n_answers; i++)
        sv[i] = (kvb_sv){ r->answers[i], strlen(r->answers[i]) };
    kvb_sv *cls = sv + r->n_answers;
    for (int i = 0; i < r->n_classes; i++)
        cls[i] = (kvb_sv){ r->all_classes[i], strlen(r->all_classes[i]) };
    int rc = kvb_metric_record(it->lb, it->seg, (kvb_sv){ pred, strlen(pred) }, sv,
                               (size_t)r->n_answers, cls, (size_t)KVB_MAX(r->n_classes, 0), score, e);
    free(sv);
    if (rc)
        kvb_error_prefix(e, "%s %s: scoring", it->task, it->id);
    return rc;
}

static cJSON *str_list(char **v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
    return a;
}

static int run_item(struct ctx *cx, const struct item *it, kvb_run_task *t, kvb_error *e)
{
    const kvb_model_config *c = cx->cfg;
    int n = (int)it->ids->n, rc;
    size_t need = estimate_bytes(c, n, it->gen->max_new_tokens);
    if (need > cx->mem_limit) {
        if (!cx->o->skip_oversized)
            return kvb_errorf(e, KVB_ENOMEM,
                              "%s %s: %d prompt tokens need about %.2f GiB for the cache and "
                              "activations, more than the %.2f GiB allowed (--max-memory); pass "
                              "--skip-oversized to skip such records",
                              it->task, it->id, n, need / 1073741824.0, cx->mem_limit / 1073741824.0);
        cx->n_oversized++;
        t->n_bad++;
        fprintf(stderr, "kvbench: %s %s: skipped, needs %.2f GiB (--max-memory)\n", it->task, it->id,
                need / 1073741824.0);
        return 0;
    }
    kvb_cache_shape shape = { c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim,
                              n + it->gen->max_new_tokens + 1, c->family };
    kvb_cache *cache = NULL;
    if ((rc = kvb_cache_create(&cache, cx->o->type, &shape, cx->params, cx->n_params,
                               kvb_model_pool(cx->m), e)))
        return rc;
    kvb_lb_gen_result g;
    rc = kvb_lb_generate(cx->m, cache, it->ids->ids, n, it->gen, &g, e);
    kvb_cache_free(cache);
    if (rc) {
        kvb_lb_gen_result_release(&g);
        return kvb_error_prefix(e, "%s %s", it->task, it->id);
    }
    double score = 0;
    if ((rc = score_item(it, g.text, &score, e))) {
        kvb_lb_gen_result_release(&g);
        return rc;
    }
    kvb_run_record rec;
    memset(&rec, 0, sizeof(rec));
    rec.score = score;
    rec.length = it->rec ? (long)it->rec->length : it->cell_length;
    rec.prompt_tokens = n;
    rec.gen_tokens = (long)g.out.n;
    rec.kv_bytes_prefill = (double)g.prefill.bytes;
    rec.kv_bytes_decode = (double)g.end.bytes;
    rec.kv_bytes_peak = (double)g.peak_bytes;
    rec.kv_full16_bytes = (double)g.end.full16_bytes;
    rec.keep_ratio = g.prefill.tokens_full ? (double)g.prefill.tokens / g.prefill.tokens_full : 1;
    rec.prefill_s = g.t_prefill;
    rec.decode_s = g.t_decode;
    if (!it->rec) {
        rec.has_cell = 1;
        rec.cell_length = it->cell_length;
        rec.cell_depth = it->cell_depth;
    }
    /* LongBench's fields first (eval.py reads pred/answers/all_classes), then kvbench's */
    cJSON *line = cJSON_CreateObject();
    cJSON_AddStringToObject(line, "pred", g.text);
    if (it->rec) {
        cJSON_AddItemToObject(line, "answers", str_list(it->rec->answers, it->rec->n_answers));
        cJSON_AddItemToObject(line, "all_classes", it->rec->n_classes >= 0
                                                       ? str_list(it->rec->all_classes,
                                                                  it->rec->n_classes)
                                                       : cJSON_CreateNull());
        cJSON_AddNumberToObject(line, "length", (double)it->rec->length);
    } else {
        char *ans[1] = { (char *)it->needle };
        cJSON_AddItemToObject(line, "answers", str_list(ans, 1));
        cJSON_AddItemToObject(line, "all_classes", cJSON_CreateNull());
        cJSON_AddNumberToObject(line, "length", (double)it->cell_length);
        cJSON_AddNumberToObject(line, "niah_exact",
                                kvb_niah_score_exact(it->needle, it->question, g.text));
    }
    cJSON_AddStringToObject(line, "_id", it->id);
    rc = kvb_pred_add_fields(line, it->index, &rec, e);
    char *text = rc ? NULL : cJSON_PrintUnformatted(line);
    cJSON_Delete(line);
    char *mem = rc ? NULL : kvb_lb_mem_trace_json(it->id, it->index, &g);
    kvb_lb_gen_result_release(&g);
    if (rc)
        goto out;
    /* memory line first: the prediction line commits the record */
    char rel[512];
    snprintf(rel, sizeof(rel), "memory/%s.jsonl", it->task);
    char *mpath = kvb_path_join(cx->out_dir, rel);
    rc = append_line(mpath, mem, e);
    free(mpath);
    if (rc)
        goto out;
    snprintf(rel, sizeof(rel), "pred/%s.jsonl", it->task);
    char *ppath = kvb_path_join(cx->out_dir, rel);
    rc = append_line(ppath, text, e);
    free(ppath);
    if (!rc)
        rc = kvb_run_task_add_record(t, &rec, e);
out:
    free(text);
    free(mem);
    return rc;
}

/* jieba.cut for the Chinese metrics (kvb_segmenter's signature is jieba's). */
static int jieba_cut(const void *ctx, const char *text, size_t len, kvb_seg_tok_fn cb, void *arg,
                     kvb_error *e)
{
    return kvb_jieba_cut(ctx, text, len, cb, arg, e);
}

/* ---- tasks --------------------------------------------------------------------------------- */

/* Open a task's pred/memory files for resuming (or refuse to overwrite). */
static int task_begin(struct ctx *cx, const char *task, kvb_run_task *t, done_set *done,
                      kvb_error *e)
{
    char rel[512];
    snprintf(rel, sizeof(rel), "pred/%s.jsonl", task);
    char *ppath = kvb_path_join(cx->out_dir, rel);
    snprintf(rel, sizeof(rel), "memory/%s.jsonl", task);
    char *mpath = kvb_path_join(cx->out_dir, rel);
    int rc = 0;
    if (kvb_file_exists(ppath) || kvb_file_exists(mpath)) {
        if (!cx->o->resume)
            rc = kvb_errorf(e, KVB_EINVAL,
                            "%s already has predictions for %s; pass --resume to continue that "
                            "run, or choose another --out",
                            cx->out_dir, task);
        else if (!(rc = load_done(ppath, t, done, e)))
            rc = repair_memory(mpath, done, e);
    }
    free(ppath);
    free(mpath);
    return rc;
}

static void progress_extra(char *buf, size_t n, const kvb_run_task *t)
{
    double s = t->prefill_s + t->decode_s;
    snprintf(buf, n, "%s %.1f tok/s", t->name, s > 0 ? (t->prompt_tokens + t->gen_tokens) / s : 0);
}

/* One record done: advance the bar with the task's running token rate. */
static void progress_step(kvb_progress *pg, long done, const kvb_run_task *t)
{
    char extra[128];
    progress_extra(extra, sizeof(extra), t);
    kvb_progress_update(pg, done, extra);
}

static int run_longbench_task(struct ctx *cx, const kvb_task *task, kvb_error *e)
{
    const struct run_opts *o = cx->o;
    char *path = NULL, *tmpl = NULL;
    kvb_lb_dataset ds;
    memset(&ds, 0, sizeof(ds));
    done_set done;
    memset(&done, 0, sizeof(done));
    int rc;
    if ((rc = kvb_lb_data_find(task->key, o->data, o->e_variant, &path, e)) ||
        (rc = kvb_lb_data_load(path, task->key, o->skip_bad, &ds, e)) ||
        (rc = kvb_lb_template_load(NULL, task->key, &tmpl, e)))
        goto out;
    if (ds.n_bad)
        fprintf(stderr, "kvbench: %s: skipped %zu bad records (first: %s)\n", path, ds.n_bad,
                ds.first_bad);
    char key[300];
    snprintf(key, sizeof(key), "data.%s", task->key);
    if ((rc = fp_check(cx, key, ds.sha256, e)) || (rc = fp_save(cx, e)))
        goto out;
    const char *name = task->key;
    kvb_run_task *t = kvb_run_add_task(&cx->run, name, kvb_metric_name(task->metric), e);
    if (!t) {
        rc = e ? e->code : KVB_EINVAL;
        goto out;
    }
    if (o->e_variant)
        kvb_run_task_want_buckets(t);
    t->n_bad = (long)ds.n_bad;
    if ((rc = kvb_run_add_data_file(&cx->run, name, ds.sha256, e)) ||
        (rc = task_begin(cx, name, t, &done, e)))
        goto out;
    kvb_lb_gen_opts gen;
    memset(&gen, 0, sizeof(gen));
    gen.max_new_tokens = task->max_new_tokens;
    gen.trace_every = (int)o->trace_every;
    for (int i = 0; i < cx->cfg->n_stop && gen.n_stop < 15; i++)
        gen.stop_ids[gen.n_stop++] = cx->cfg->stop_ids[i];
    if (!strcmp(task->key, "samsum")) {
        /* pred.py: eos or the newline token, and at least one new token */
        int32_t nl;
        if ((rc = kvb_lb_newline_id(cx->tok, &nl, e)))
            goto out;
        gen.stop_ids[gen.n_stop++] = nl;
        gen.min_new_tokens = 1;
    }
    gen.cleanup_spaces = cx->cleanup;
    kvb_lb_prompt_opts po = { cx->max_length, task->skip_chat ? NULL : cx->chat, cx->add_bos,
                              cx->cleanup };
    long n_use = o->limit_seen ? KVB_MIN((long)ds.n, o->limit) : (long)ds.n;
    long todo = 0;
    for (long i = o->shard_i; i < n_use; i += o->shard_n)
        todo++;
    kvb_progress pg;
    kvb_progress_begin(&pg, name, todo, "rec");
    double t0 = kvb_now();
    long k = 0;
    for (long i = o->shard_i; i < n_use && !rc; i += o->shard_n, k++) {
        const kvb_lb_record *r = &ds.recs[i];
        if (done_has(&done, r->id))
            continue;
        if (g_stop)
            break;
        kvb_strbuf prompt;
        kvb_strbuf_init(&prompt);
        kvb_ids ids;
        kvb_ids_init(&ids);
        int truncated;
        rc = kvb_lb_format(tmpl, r, &prompt, e);
        if (rc)
            kvb_error_prefix(e, "%s:%ld", ds.path, r->line);
        else
            rc = kvb_lb_prompt_ids(cx->tok, prompt.buf ? prompt.buf : "", prompt.len, &po, &ids,
                                   &truncated, e);
        kvb_strbuf_release(&prompt);
        if (!rc) {
            struct item it = { name, r->id, i, &ids, &gen, r, task, 0, 0, NULL, NULL,
                               cx->jieba ? &cx->seg : NULL };
            rc = run_item(cx, &it, t, e);
        }
        kvb_ids_release(&ids);
        progress_step(&pg, k + 1, t);
    }
    kvb_progress_end(&pg);
    t->wall_s += kvb_now() - t0;
out:
    free(path);
    free(tmpl);
    kvb_lb_dataset_release(&ds);
    done_release(&done);
    return rc;
}

static int run_niah_task(struct ctx *cx, kvb_error *e)
{
    const struct run_opts *o = cx->o;
    int *lens = NULL, *deps = NULL, nl = 0, nd = 0, rc;
    kvb_niah *nh = NULL;
    done_set done;
    memset(&done, 0, sizeof(done));
    if ((rc = kvb_niah_parse_grid(o->lengths ? o->lengths : KVB_NIAH_LENGTHS, 16, 1 << 22, &lens,
                                  &nl, "lengths", e)) ||
        (rc = kvb_niah_parse_grid(o->depths ? o->depths : KVB_NIAH_DEPTHS, 0, 100, &deps, &nd,
                                  "depths", e)))
        goto out;
    int max_len = 0;
    for (int i = 0; i < nl; i++)
        max_len = KVB_MAX(max_len, lens[i]);
    kvb_niah_opts no = { NULL, o->needle, o->question, cx->chat, cx->add_bos, max_len };
    if ((rc = kvb_niah_open(&nh, cx->tok, &no, e)))
        goto out;
    char hash[32];
    snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)kvb_niah_essays_hash(nh));
    const char *needle = o->needle ? o->needle : KVB_NIAH_NEEDLE;
    const char *question = o->question ? o->question : KVB_NIAH_QUESTION;
    char sha[65];
    kvb_strbuf fpv;
    kvb_strbuf_init(&fpv);
    kvb_strbuf_addf(&fpv, "essays=%s\nneedle=%s\nquestion=%s", hash, needle, question);
    kvb_sha256_hex(fpv.buf, fpv.len, sha);
    kvb_strbuf_release(&fpv);
    if ((rc = fp_check(cx, "data.niah", sha, e)) || (rc = fp_save(cx, e)))
        goto out;
    kvb_run_task *t = kvb_run_add_task(&cx->run, "niah", "niah_keyword_recall", e);
    if (!t) {
        rc = e ? e->code : KVB_EINVAL;
        goto out;
    }
    if ((rc = kvb_run_add_data_file(&cx->run, "niah", sha, e)) ||
        (rc = task_begin(cx, "niah", t, &done, e)))
        goto out;
    kvb_lb_gen_opts gen;
    memset(&gen, 0, sizeof(gen));
    gen.max_new_tokens = 64;
    gen.trace_every = (int)cx->o->trace_every;
    gen.cleanup_spaces = cx->cleanup;
    for (int i = 0; i < cx->cfg->n_stop && gen.n_stop < 15; i++)
        gen.stop_ids[gen.n_stop++] = cx->cfg->stop_ids[i];
    long n_cells = (long)nl * nd, todo = 0;
    if (o->limit_seen)
        n_cells = KVB_MIN(n_cells, o->limit);
    for (long i = o->shard_i; i < n_cells; i += o->shard_n)
        todo++;
    kvb_progress pg;
    kvb_progress_begin(&pg, "niah", todo, "cell");
    double t0 = kvb_now();
    long k = 0;
    for (long i = o->shard_i; i < n_cells && !rc; i += o->shard_n, k++) {
        int L = lens[i / nd], D = deps[i % nd];
        char id[64];
        snprintf(id, sizeof(id), "niah-%d-%d", L, D);
        if (done_has(&done, id))
            continue;
        if (g_stop)
            break;
        kvb_ids ids;
        kvb_ids_init(&ids);
        int at;
        rc = kvb_niah_build(nh, L, D, &ids, &at, e);
        if (!rc) {
            struct item it = { "niah", id, i, &ids, &gen, NULL, NULL, L, D, needle, question, NULL };
            rc = run_item(cx, &it, t, e);
        }
        kvb_ids_release(&ids);
        progress_step(&pg, k + 1, t);
    }
    kvb_progress_end(&pg);
    t->wall_s += kvb_now() - t0;
out:
    free(lens);
    free(deps);
    kvb_niah_free(nh);
    done_release(&done);
    return rc;
}

/* ---- setup --------------------------------------------------------------------------------- */

/* "niah" is kvbench's own task; everything else goes to the LongBench task table. */
static int split_tasks(const char *spec, int *want_niah, const kvb_task ***lb, int *n_lb,
                       kvb_error *e)
{
    char **items;
    int n;
    *want_niah = 0;
    *lb = NULL;
    *n_lb = 0;
    if (kvb_split_csv(spec, &items, &n))
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    kvb_strbuf rest;
    kvb_strbuf_init(&rest);
    for (int i = 0; i < n; i++) {
        if (!strcmp(items[i], "niah")) {
            *want_niah = 1;
            continue;
        }
        kvb_strbuf_addf(&rest, "%s%s", rest.len ? "," : "", items[i]);
    }
    kvb_free_strv(items, n);
    int rc = 0;
    if (rest.len)
        rc = kvb_taskset_parse(rest.buf, lb, n_lb, e);
    kvb_strbuf_release(&rest);
    return rc;
}

static char *default_out_dir(const struct run_opts *o, const char *model_name, const char *method)
{
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    kvb_strbuf_addf(&sb, "results/%s/%s", model_name, method);
    for (size_t i = 0; i < N_PARAMS; i++)
        if (o->param_val[i])
            kvb_strbuf_addf(&sb, "-%s%s", k_param_names[i], o->param_val[i]);
    if (o->shard_n > 1)
        kvb_strbuf_addf(&sb, "/shard-%ld-of-%ld", o->shard_i, o->shard_n);
    /* keep names filesystem-safe: parameters come from the command line */
    for (size_t i = 8; i < sb.len; i++)
        if (!(sb.buf[i] == '/' || sb.buf[i] == '-' || sb.buf[i] == '.' || sb.buf[i] == '_' ||
              (sb.buf[i] >= '0' && sb.buf[i] <= '9') || (sb.buf[i] >= 'a' && sb.buf[i] <= 'z') ||
              (sb.buf[i] >= 'A' && sb.buf[i] <= 'Z') || sb.buf[i] == '+'))
            sb.buf[i] = '_';
    return kvb_strbuf_detach(&sb);
}

static char *settings_json(const struct ctx *cx)
{
    const struct run_opts *o = cx->o;
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "tasks", o->tasks);
    cJSON_AddNumberToObject(s, "max_length", cx->max_length);
    if (o->limit_seen)
        cJSON_AddNumberToObject(s, "limit", (double)o->limit);
    else
        cJSON_AddNullToObject(s, "limit");
    cJSON_AddBoolToObject(s, "e", o->e_variant);
    cJSON_AddBoolToObject(s, "add_bos", cx->add_bos);
    cJSON_AddBoolToObject(s, "clean_up_tokenization_spaces", cx->cleanup);
    cJSON_AddBoolToObject(s, "skip_bad_records", o->skip_bad);
    cJSON_AddStringToObject(s, "niah_lengths", o->lengths ? o->lengths : KVB_NIAH_LENGTHS);
    cJSON_AddStringToObject(s, "niah_depths", o->depths ? o->depths : KVB_NIAH_DEPTHS);
    cJSON_AddStringToObject(s, "niah_needle", o->needle ? o->needle : KVB_NIAH_NEEDLE);
    cJSON_AddStringToObject(s, "niah_question", o->question ? o->question : KVB_NIAH_QUESTION);
    cJSON_AddNumberToObject(s, "skipped_oversized", (double)cx->n_oversized);
    char *t = cJSON_PrintUnformatted(s);
    cJSON_Delete(s);
    return t;
}

/* What identifies the model in run.json: its architecture numbers and the size of its weights
 * (hashing gigabytes of weights per run would cost more than it tells). */
static void model_fingerprint(const kvb_model_config *c, size_t weight_bytes, const char *weights,
                              char hex[65])
{
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    kvb_strbuf_addf(&sb, "%s|%s|%s|%d|%d|%d|%d|%d|%d|%d|%.17g|%.17g|%zu", c->name, c->repo_id,
                    c->arch, c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim, c->hidden,
                    c->intermediate, c->vocab, c->rms_eps, c->rope_theta, weight_bytes);
    if (strcmp(weights, "file")) /* random weights: another model (file weights keep their print) */
        kvb_strbuf_addf(&sb, "|%s", weights);
    kvb_sha256_hex(sb.buf, sb.len, hex);
    kvb_strbuf_release(&sb);
}

/* Load or create fingerprint.json and check the settings every task shares. */
static int fingerprint_open(struct ctx *cx, kvb_error *e)
{
    char *path = kvb_path_join(cx->out_dir, "fingerprint.json");
    int rc = 0;
    if (kvb_file_exists(path)) {
        if (!cx->o->resume) {
            rc = kvb_errorf(e, KVB_EINVAL,
                            "%s already holds a run; pass --resume to continue it, or choose "
                            "another --out",
                            cx->out_dir);
            goto out;
        }
        if ((rc = kvb_json_load(path, 1 << 20, &cx->fp, e)))
            goto out;
        if (!cJSON_IsObject(cx->fp)) {
            rc = kvb_errorf(e, KVB_EINVAL, "%s: not a JSON object", path);
            goto out;
        }
    } else {
        cx->fp = cJSON_CreateObject();
        cJSON_AddStringToObject(cx->fp, "kind", "kvbench-run-fingerprint");
        cx->fp_dirty = 1;
    }
    char buf[64];
    snprintf(buf, sizeof(buf), "%d", cx->max_length);
    char shard[64];
    snprintf(shard, sizeof(shard), "%ld/%ld", cx->o->shard_i, cx->o->shard_n);
    char wb[64];
    snprintf(wb, sizeof(wb), "%zu", kvb_model_weight_bytes(cx->m));
    char tev[32];
    snprintf(tev, sizeof(tev), "%ld", cx->o->trace_every); /* memory lines of one layout */
    if ((rc = fp_check(cx, "model", cx->cfg->name, e)) ||
        (rc = fp_check(cx, "model_weight_bytes", wb, e)) ||
        (rc = fp_check(cx, "weights", cx->weights, e)) ||
        (rc = fp_check(cx, "method", cx->method, e)) ||
        (rc = fp_check(cx, "params", cx->params_json, e)) ||
        (rc = fp_check(cx, "chat_template", cx->chat ? cx->chat : "none", e)) ||
        (rc = fp_check(cx, "max_length", buf, e)) ||
        (rc = fp_check(cx, "add_bos", cx->add_bos ? "1" : "0", e)) ||
        (rc = fp_check(cx, "decode_cleanup", cx->cleanup ? "1" : "0", e)) ||
        (rc = fp_check(cx, "longbench_e", cx->o->e_variant ? "1" : "0", e)) ||
        (rc = fp_check(cx, "shard", shard, e)) ||
        (rc = fp_check(cx, "trace_every", tev, e)))
        goto out;
    rc = fp_save(cx, e);
out:
    free(path);
    return rc;
}

/* The effective method name and parameters, validated once before any record runs. */
static int probe_method(struct ctx *cx, kvb_error *e)
{
    const kvb_model_config *c = cx->cfg;
    kvb_cache_shape shape = { c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim, 64, c->family };
    kvb_cache *cache;
    int rc = kvb_cache_create(&cache, cx->o->type, &shape, cx->params, cx->n_params,
                              kvb_model_pool(cx->m), e);
    if (rc)
        return rc;
    cx->method = kvb_cache_method_name(cache);
    cx->params_json = kvb_cache_params_json(cache);
    kvb_cache_free(cache);
    if (!cx->params_json)
        cx->params_json = kvb_strdup("{}");
    return 0;
}

static int dry_run(struct ctx *cx, int want_niah, const kvb_task **lb, int n_lb, kvb_error *e)
{
    const struct run_opts *o = cx->o;
    const kvb_model_config *c = cx->cfg;
    long n = o->prompt_len > 0 ? o->prompt_len : cx->max_length;
    printf("model %s: %d layers, %d heads, %d kv heads, head_dim %d; weights %.1f MiB\n", c->name,
           c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim,
           kvb_model_weight_bytes(cx->m) / 1048576.0);
    printf("method %s %s; chat template %s; prompt budget %d tokens; add BOS %s%s\n", cx->method,
           cx->params_json, cx->chat ? cx->chat : "none", cx->max_length, cx->add_bos ? "yes" : "no",
           cx->tok ? "" : " (family default: no tokenizer files here)");
    /* what the method keeps of an n-token prompt at the end of prefill */
    kvb_cache_shape shape = { c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim, 0, c->family };
    kvb_cache_plan_layer *pl = kvb_calloc((size_t)c->n_layers, sizeof(*pl));
    char why[256] = "";
    if (!pl)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    int rc = kvb_cache_plan(o->type, &shape, cx->params, cx->n_params, (int)n, pl, why,
                            sizeof(why), e);
    if (rc == KVB_EUNSUP) {
        printf("plan for a %ld-token prompt: decided from the attention at run time (%s)\n", n, why);
        rc = 0;
    } else if (rc == 0) {
        double held = 0, full = 0;
        long kept = 0, all = 0;
        printf("plan for a %ld-token prompt (end of prefill):\n  layer  kept/full tokens   bytes held\n", n);
        for (int l = 0; l < c->n_layers; l++) {
            double b = (double)(pl[l].k_bytes + pl[l].v_bytes + pl[l].meta_bytes + pl[l].residual_bytes);
            held += b;
            full += (double)pl[l].full16_bytes;
            kept += pl[l].tokens;
            all += pl[l].tokens_full;
            printf("  %5d  %8ld/%-8ld %12.0f\n", l, pl[l].tokens, pl[l].tokens_full, b);
        }
        printf("  total: keeps %.1f%% of the tokens, %.2f MiB held, full 16-bit cache %.2f MiB, "
               "compression %.2fx\n",
               all ? 100.0 * kept / all : 0, held / 1048576.0, full / 1048576.0,
               held > 0 ? full / held : 0);
    }
    free(pl);
    if (rc)
        return rc;
    printf("memory guard: a %ld-token record needs about %.1f MiB beyond the weights (limit %.0f MiB)\n",
           n, estimate_bytes(c, n, 512) / 1048576.0, cx->mem_limit / 1048576.0);
    for (int i = 0; i < n_lb; i++) {
        char *path = NULL;
        kvb_error le = { 0 };
        if (kvb_lb_data_find(lb[i]->key, o->data, o->e_variant, &path, &le) == 0)
            printf("task %-22s max_new %3d chat %-3s data %s\n", lb[i]->key,
                   lb[i]->max_new_tokens, lb[i]->skip_chat ? "no" : "yes", path);
        else
            printf("task %-22s no data found (scripts/fetch_longbench.sh, or --data DIR)\n",
                   lb[i]->key);
        free(path);
    }
    if (want_niah)
        printf("task niah lengths %s depths %s essays %s\n", o->lengths ? o->lengths : KVB_NIAH_LENGTHS,
               o->depths ? o->depths : KVB_NIAH_DEPTHS,
               kvb_niah_essays_dir() ? kvb_niah_essays_dir() : "(missing: make data)");
    return 0;
}

/* Read and validate every task's records before the model loads: a bad file fails in a second,
 * not hours into a run. */
static int preflight_data(const struct run_opts *o, const kvb_task **lb, int n_lb, kvb_error *e)
{
    for (int i = 0; i < n_lb; i++) {
        char *path = NULL;
        kvb_lb_dataset ds;
        int rc = kvb_lb_data_find(lb[i]->key, o->data, o->e_variant, &path, e);
        if (!rc)
            rc = kvb_lb_data_load(path, lb[i]->key, o->skip_bad, &ds, e);
        if (!rc)
            kvb_lb_dataset_release(&ds);
        free(path);
        if (rc)
            return rc;
    }
    return 0;
}

static int run_main(struct run_opts *o, kvb_error *e)
{
    struct ctx cx;
    memset(&cx, 0, sizeof(cx));
    cx.o = o;
    kvb_run_init(&cx.run);
    int want_niah = 0, n_lb = 0, rc;
    const kvb_task **lb = NULL;
    if ((rc = split_tasks(o->tasks, &want_niah, &lb, &n_lb, e)))
        goto out;
    if (!o->dry_run && (rc = preflight_data(o, lb, n_lb, e)))
        goto out;
    if (o->out && !o->dry_run) { /* cheap output checks before the model loads */
        char *pd = kvb_path_join(o->out, "pred"), *md = kvb_path_join(o->out, "memory");
        rc = refuse_symlink(pd, e);
        if (!rc)
            rc = refuse_symlink(md, e);
        free(pd);
        free(md);
        if (rc)
            goto out;
    }
    for (size_t i = 0; i < N_PARAMS; i++)
        if (o->param_val[i])
            cx.params[cx.n_params++] = (kvb_cache_param){ k_param_names[i], o->param_val[i] };
    kvb_model_opts mo = { .threads = (int)o->threads, .weights_bf16 = 1,
                          .random_weights = o->random_weights, .seed = (uint64_t)o->seed };
    /* a dry run plans from the config alone (a model name or an HF directory): no weights are
     * read, and no tokenizer is needed; a .gguf file holds its config inside, so it is opened */
    size_t ml = strlen(o->model);
    if (o->dry_run && (kvb_is_dir(o->model) ||
                       (!strchr(o->model, '/') && !(ml > 5 && !strcmp(o->model + ml - 5, ".gguf")))))
        mo.random_weights = mo.config_only = 1;
    snprintf(cx.weights, sizeof(cx.weights), o->random_weights ? "random seed %ld" : "file",
             o->seed);
    if ((rc = kvb_model_open(&cx.m, o->model, &mo, e)))
        goto out;
    cx.cfg = kvb_model_get_config(cx.m);
    cx.tok = kvb_model_tokenizer(cx.m);
    if (!cx.tok && !o->dry_run) {
        rc = kvb_errorf(e, KVB_EINVAL, "%s: the model has no tokenizer (tokenizer.json beside "
                        "config.json, or a .gguf vocabulary)", o->model);
        goto out;
    }
    cx.chat = o->chat_template ? o->chat_template : cx.cfg->chat_template;
    if (!strcmp(cx.chat, "none") || !*cx.chat)
        cx.chat = NULL;
    else if (!kvb_chat_template_valid(cx.chat)) {
        rc = kvb_errorf(e, KVB_EINVAL, "--chat-template %s: unknown family (llama2, llama3, "
                                       "mistral, chatml, none)", cx.chat);
        goto out;
    }
    /* BOS and decode clean-up as HF does with the model's tokenizer files; from the model family
     * when it came from a GGUF */
    cx.add_bos = kvb_lb_default_add_bos(cx.cfg);
    cx.cleanup = 0;
    if (cx.tok)
        kvb_lb_tokenizer_hf_defaults(cx.tok, &cx.add_bos, &cx.cleanup);
    cx.max_length = o->max_length_seen ? (int)o->max_length : cx.cfg->longbench_max_length;
    if (cx.max_length <= 0) {
        rc = kvb_errorf(e, KVB_EINVAL, "%s: no LongBench prompt budget in its config; pass "
                                       "--max-length N", cx.cfg->name);
        goto out;
    }
    if ((rc = probe_method(&cx, e)))
        goto out;
    for (int i = 0; i < n_lb && !cx.jieba && !o->dry_run; i++)
        if (lb[i]->lang == KVB_LANG_ZH) {
            if ((rc = kvb_jieba_load(&cx.jieba, NULL, e))) {
                kvb_error_prefix(e, "task %s needs the jieba dictionary (make deps installs "
                                    "python3-jieba; or set KVBENCH_JIEBA_DIR)", lb[i]->key);
                goto out;
            }
            cx.seg.cut = jieba_cut;
            cx.seg.ctx = cx.jieba;
        }
    if (o->max_memory_bytes) {
        size_t w = kvb_model_weight_bytes(cx.m);
        cx.mem_limit = o->max_memory_bytes > w ? o->max_memory_bytes - w : 0;
    } else {
        cx.mem_limit = kvb_available_memory();
        if (!cx.mem_limit)
            cx.mem_limit = (size_t)1 << 62; /* unknown: do not guess */
    }
    if (o->dry_run) {
        rc = dry_run(&cx, want_niah, lb, n_lb, e);
        goto out;
    }
    cx.out_dir = o->out ? kvb_strdup(o->out) : default_out_dir(o, cx.cfg->name, cx.method);
    char *pd = kvb_path_join(cx.out_dir, "pred"), *md = kvb_path_join(cx.out_dir, "memory");
    /* --out itself may be a symlink (the user's choice); pred/ and memory/ may not */
    rc = refuse_symlink(pd, e);
    if (!rc)
        rc = refuse_symlink(md, e);
    if (!rc)
        rc = kvb_mkdir_p(pd, e);
    if (!rc)
        rc = kvb_mkdir_p(md, e);
    free(pd);
    free(md);
    if (rc || (rc = fingerprint_open(&cx, e)))
        goto out;
    char mfp[65];
    model_fingerprint(cx.cfg, kvb_model_weight_bytes(cx.m), cx.weights, mfp);
    kvb_model_info mi;
    memset(&mi, 0, sizeof(mi));
    kvb_model_get_info(cx.m, &mi);
    if ((rc = kvb_run_set_model(&cx.run, cx.cfg->name, cx.cfg->repo_id,
                                mi.source ? mi.source : o->model,
                                mi.held_dtype ? mi.held_dtype : "", mfp, e)) ||
        (rc = kvb_run_set_method(&cx.run, cx.method, cx.params_json, e)) ||
        (rc = kvb_run_set_machine(&cx.run, kvb_pool_size(kvb_model_pool(cx.m)), "", "", e)) ||
        (rc = kvb_run_set_str(&cx.run.chat_template, cx.chat ? cx.chat : "none", e)) ||
        (rc = kvb_run_set_str(&cx.run.data_dir, o->data ? o->data : "", e)) ||
        (rc = kvb_run_set_shard(&cx.run, o->shard_i, o->shard_n, e)))
        goto out;
    install_signals();
    for (int i = 0; i < n_lb && !rc && !g_stop; i++)
        rc = run_longbench_task(&cx, lb[i], e);
    if (!rc && want_niah && !g_stop)
        rc = run_niah_task(&cx, e);
    if (rc)
        goto out;
    if (g_stop) {
        print_resume_hint(o, cx.out_dir);
        rc = kvb_errorf(e, KVB_EINTR, "interrupted by signal %d", (int)g_stop);
        goto out;
    }
    char *settings = settings_json(&cx);
    rc = kvb_run_set_settings(&cx.run, settings, e);
    free(settings);
    cx.run.peak_rss_bytes = (double)kvb_peak_rss();
    char *res = kvb_path_join(cx.out_dir, "result.json"), *rj = kvb_path_join(cx.out_dir, "run.json");
    if (!rc)
        rc = kvb_run_finish(&cx.run, e);
    if (!rc)
        rc = kvb_result_json_write(&cx.run, res, e);
    if (!rc)
        rc = kvb_run_write(&cx.run, rj, e);
    if (!rc) {
        char *txt = kvb_result_json_text(&cx.run);
        printf("%s\n", txt ? txt : "");
        free(txt);
        fprintf(stderr, "kvbench: wrote %s and %s\n", res, rj);
    }
    free(res);
    free(rj);
out:
    free(lb);
    free(cx.params_json);
    free(cx.out_dir);
    cJSON_Delete(cx.fp);
    kvb_run_release(&cx.run);
    if (cx.m)
        kvb_model_free(cx.m);
    kvb_jieba_free(cx.jieba);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    struct run_opts o;
    memset(&o, 0, sizeof(o));
    o.model = "smollm2-135m";
    o.type = "full";
    o.tasks = "en16";
    o.argc = argc;
    o.argv = argv;
    struct kvb_option opts[64] = {
        KVB_OPT_STR_("model", &o.model, "M", "model name, HF directory or .gguf (default smollm2-135m)"),
        KVB_OPT_STR_("type", &o.type, "METHOD", "cache method (kvbench list; default full)"),
        KVB_OPT_STR_("tasks", &o.tasks, "SET", "en16 (default), all, e, zh, or a comma list; niah = needle-in-a-haystack"),
        { "limit", KVB_OPT_INT, &o.limit, "N", "first N records of each task", 1, 1e9, &o.limit_seen },
        { "max-length", KVB_OPT_INT, &o.max_length, "N", "prompt budget in tokens (default: the model's)", 16, 1 << 24, &o.max_length_seen },
        KVB_OPT_STR_("data", &o.data, "DIR", "LongBench data directory (default: search, see docs/longbench.md)"),
        KVB_OPT_FLAG_("e", &o.e_variant, "LongBench-E: read <task>_e.jsonl, score length buckets"),
        KVB_OPT_STR_("out", &o.out, "DIR", "run directory (default results/<model>/<method>[-<params>])"),
        KVB_OPT_INT_("threads", &o.threads, "N", "threads (default: all cores)", 0, 4096),
        KVB_OPT_FLAG_("resume", &o.resume, "continue the run in --out, skipping finished records"),
        KVB_OPT_STR_("shard", &o.shard, "i/N", "run every N-th record starting at i (join with kvbench merge)"),
        KVB_OPT_STR_("chat-template", &o.chat_template, "F", "chat template family: llama2, llama3, mistral, chatml, none"),
        KVB_OPT_FLAG_("skip-bad-records", &o.skip_bad, "skip malformed records (counted in run.json) instead of failing"),
        KVB_OPT_STR_("max-memory", &o.max_memory, "B", "memory limit for weights + cache + activations (e.g. 8G; default: available memory)"),
        KVB_OPT_FLAG_("skip-oversized", &o.skip_oversized, "skip records over --max-memory instead of failing"),
        KVB_OPT_INT_("trace-every", &o.trace_every, "K", "memory trace: KV bytes every K-th decode step (default: at most 64 points per record)", 1, 1 << 24),
        KVB_OPT_FLAG_("dry-run", &o.dry_run, "print the plan (model, method, memory, data) from the config alone and exit"),
        KVB_OPT_FLAG_("random-weights", &o.random_weights, "seeded random weights from the config (needs tokenizer files)"),
        KVB_OPT_INT_("seed", &o.seed, "N", "seed of --random-weights (default 0)", 0, 2147483647L),
        KVB_OPT_INT_("prompt-len", &o.prompt_len, "N", "prompt length for --dry-run", 1, 1 << 24),
        KVB_OPT_STR_("lengths", &o.lengths, "L,..", "niah context lengths in tokens (default " KVB_NIAH_LENGTHS ")"),
        KVB_OPT_STR_("depths", &o.depths, "D,..", "niah needle depths in percent (default 0,10,...,100)"),
        KVB_OPT_STR_("needle", &o.needle, "TEXT", "niah needle sentence"),
        KVB_OPT_STR_("question", &o.question, "TEXT", "niah question"),
    };
    int k = 0;
    while (opts[k].name)
        k++;
    static const char *const param_help[N_PARAMS] = {
        "method: token budget", "method: observation window", "method: pooling kernel",
        "method: pooling type", "method: quantization bits", "method: quantization group",
        "method: full-precision residual", "method: threshold", "method: ratio",
        "method: GQA-aware selection", "PyramidKV: budget slope", "method: attention sinks kept",
        "method: recent tokens kept", "ZigZagKV: tau", "ZigZagKV: minimum budget ratio",
        "ZigZagKV: layer statistic", "ThinK: query window", "full: K/V dtype f16 (default) | f32" };
    for (size_t i = 0; i < N_PARAMS; i++)
        opts[k++] = (struct kvb_option)KVB_OPT_STR_(k_param_names[i], &o.param_val[i], "V", param_help[i]);
    opts[k] = (struct kvb_option)KVB_OPT_END_;
    int prc = kvb_parse_options(argc, argv, opts, "kvbench run [options]", NULL, NULL);
    if (prc)
        return prc > 0 ? 0 : 2;
    kvb_error e = { 0 };
    o.shard_n = 1;
    if (o.shard && parse_shard(o.shard, &o.shard_i, &o.shard_n)) {
        kvb_errorf(&e, KVB_EINVAL, "--shard %s: expected i/N with 0 <= i < N", o.shard);
        return kvb_die(&e);
    }
    if (o.max_memory && parse_bytes(o.max_memory, &o.max_memory_bytes)) {
        kvb_errorf(&e, KVB_EINVAL, "--max-memory %s: expected bytes (e.g. 8G, 512M)", o.max_memory);
        return kvb_die(&e);
    }
    int rc = run_main(&o, &e);
    return rc ? kvb_die(&e) : 0;
}
