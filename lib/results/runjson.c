/* run.json: building a run record, writing it (and result.json), reading it back with the
 * validation rules of results/schema/run.schema.json. */
#include "results.h"
#include "results/tasks.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef KVB_VERSION
#define KVB_VERSION "0.1.0"
#endif
#ifndef KVB_GIT_COMMIT
#define KVB_GIT_COMMIT "unknown"
#endif
#ifndef KVB_BUILD_CFLAGS
#define KVB_BUILD_CFLAGS "unknown" /* built outside the Makefile */
#endif

/* ---- building ----------------------------------------------------------------------------- */
void kvb_run_init(kvb_run *r)
{
    memset(r, 0, sizeof(*r));
    r->schema_version = KVB_RUN_SCHEMA_VERSION;
    char buf[256];
    r->tool_version = kvb_strdup(KVB_VERSION);
    r->git_commit = kvb_strdup(KVB_GIT_COMMIT);
    kvb_timestamp(buf, sizeof(buf));
    r->created = kvb_strdup(buf);
    kvb_cpu_name(buf, sizeof(buf));
    r->cpu = kvb_strdup(buf);
    r->flags = kvb_strdup("");
    r->gpu = kvb_strdup("");
    r->device = kvb_strdup("cpu");
    r->cuda_driver = kvb_strdup("");
    r->cuda_runtime = kvb_strdup("");
    r->threads = kvb_cpu_count() > 0 ? kvb_cpu_count() : 1;
    r->method_params = kvb_strdup("{}");
    r->settings = kvb_strdup("{}");
    r->shard_index = 0;
    r->shard_count = 1;
}

static void task_release(kvb_run_task *t)
{
    free(t->name);
    free(t->metric);
    free(t->cells);
    free(t->recs_);
}

void kvb_run_release(kvb_run *r)
{
    char **strs[] = { &r->tool_version, &r->git_commit, &r->created, &r->cpu, &r->flags, &r->gpu,
                      &r->device, &r->cuda_driver, &r->cuda_runtime, &r->model_name,
                      &r->model_repo, &r->model_path, &r->model_dtype,
                      &r->model_fingerprint, &r->method_name, &r->method_params,
                      &r->chat_template, &r->data_dir, &r->settings };
    for (size_t i = 0; i < KVB_ARRAY_SIZE(strs); i++)
        free(*strs[i]);
    for (int i = 0; i < r->n_files; i++) {
        free(r->files[i].task);
        free(r->files[i].sha256);
    }
    free(r->files);
    for (int i = 0; i < r->n_tasks; i++)
        task_release(&r->tasks[i]);
    free(r->tasks);
    free(r->ruler);
    memset(r, 0, sizeof(*r));
}

int kvb_run_set_str(char **field, const char *s, kvb_error *e)
{
    char *c = kvb_strdup(s ? s : "");
    if (!c)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    free(*field);
    *field = c;
    return 0;
}

int kvb_run_set_model(kvb_run *r, const char *name, const char *repo, const char *path,
                      const char *dtype, const char *fingerprint, kvb_error *e)
{
    /* The fingerprint may be empty (not computed): runs then compare models by name only. */
    if (!name || !*name)
        return kvb_errorf(e, KVB_EINVAL, "run record: model name is required");
    int rc = kvb_run_set_str(&r->model_name, name, e);
    rc = rc ? rc : kvb_run_set_str(&r->model_repo, repo, e);
    rc = rc ? rc : kvb_run_set_str(&r->model_path, path, e);
    rc = rc ? rc : kvb_run_set_str(&r->model_dtype, dtype, e);
    return rc ? rc : kvb_run_set_str(&r->model_fingerprint, fingerprint, e);
}

/* A JSON object text, re-printed compactly so equal parameters compare equal as strings. */
static int canonical_object(const char *json, const char *what, char **out, kvb_error *e)
{
    const char *text = json ? json : "{}";
    cJSON *j = kvb_json_parse_limited(text, strlen(text));
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return kvb_errorf(e, KVB_EINVAL, "run record: %s is not a JSON object: %.80s", what, text);
    }
    char *p = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!p)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    free(*out);
    *out = p;
    return 0;
}

int kvb_run_set_method(kvb_run *r, const char *name, const char *params_json, kvb_error *e)
{
    if (!name || !*name)
        return kvb_errorf(e, KVB_EINVAL, "run record: method name is required");
    int rc = kvb_run_set_str(&r->method_name, name, e);
    return rc ? rc : canonical_object(params_json, "method parameters", &r->method_params, e);
}

int kvb_run_set_machine(kvb_run *r, long threads, const char *flags, const char *gpu, kvb_error *e)
{
    if (threads < 1 || threads > 65536)
        return kvb_errorf(e, KVB_EINVAL, "run record: threads = %ld out of range", threads);
    r->threads = threads;
    int rc = kvb_run_set_str(&r->flags, flags, e);
    return rc ? rc : kvb_run_set_str(&r->gpu, gpu, e);
}

int kvb_run_set_device(kvb_run *r, const char *device, const char *driver, const char *runtime,
                       double device_bytes, kvb_error *e)
{
    int cuda = !strcmp(device, "cuda");
    if (!cuda && strcmp(device, "cpu"))
        return kvb_errorf(e, KVB_EINVAL, "run record: device '%s' is not cpu or cuda", device);
    if (!(device_bytes >= 0))
        return kvb_errorf(e, KVB_EINVAL, "run record: device bytes %g out of range", device_bytes);
    int rc = kvb_run_set_str(&r->device, device, e);
    rc = rc ? rc : kvb_run_set_str(&r->cuda_driver, cuda ? driver : "", e);
    rc = rc ? rc : kvb_run_set_str(&r->cuda_runtime, cuda ? runtime : "", e);
    r->device_bytes = cuda ? device_bytes : 0;
    return rc;
}

void kvb_run_machine_flags(char *out, size_t n, const char *gemv, const char *prefill,
                           const char *weights)
{
    char arith[32]; /* the first word: "bf16 (avx512_bf16)" -> "bf16" */
    snprintf(arith, sizeof(arith), "%s", prefill && *prefill ? prefill : "?");
    arith[strcspn(arith, " ")] = 0;
    snprintf(out, n, "gemv=%s prefill=%s weights=%s cflags=%s", gemv && *gemv ? gemv : "?", arith,
             weights && *weights ? weights : "?", KVB_BUILD_CFLAGS);
}

int kvb_run_set_settings(kvb_run *r, const char *settings_json, kvb_error *e)
{
    return canonical_object(settings_json, "settings", &r->settings, e);
}

int kvb_run_set_shard(kvb_run *r, long index, long count, kvb_error *e)
{
    if (count < 1 || count > 100000 || index < 0 || index >= count)
        return kvb_errorf(e, KVB_EINVAL, "run record: shard %ld/%ld is not valid", index, count);
    r->shard_index = index;
    r->shard_count = count;
    return 0;
}

static int is_hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

static int valid_task_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 64)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '-'))
            return 0;
    return 1;
}

int kvb_run_add_data_file(kvb_run *r, const char *task, const char *sha256_hex, kvb_error *e)
{
    if (!valid_task_name(task) || !is_hex64(sha256_hex))
        return kvb_errorf(e, KVB_EINVAL, "run record: data file of '%s' needs a lowercase hex sha256",
                          task ? task : "?");
    for (int i = 0; i < r->n_files; i++)
        if (!strcmp(r->files[i].task, task))
            return kvb_errorf(e, KVB_EINVAL, "run record: data file of '%s' given twice", task);
    kvb_run_file *f = kvb_realloc(r->files, (size_t)(r->n_files + 1) * sizeof(*f));
    if (!f)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    r->files = f;
    f[r->n_files].task = kvb_strdup(task);
    f[r->n_files].sha256 = kvb_strdup(sha256_hex);
    r->n_files++;
    return 0;
}

kvb_run_task *kvb_run_find_task(const kvb_run *r, const char *name)
{
    for (int i = 0; i < r->n_tasks; i++)
        if (!strcmp(r->tasks[i].name, name))
            return &r->tasks[i];
    return NULL;
}

kvb_run_task *kvb_run_add_task(kvb_run *r, const char *name, const char *metric, kvb_error *e)
{
    if (!valid_task_name(name)) {
        kvb_errorf(e, KVB_EINVAL, "run record: task name '%s' is not valid", name ? name : "");
        return NULL;
    }
    if (kvb_run_find_task(r, name)) {
        kvb_errorf(e, KVB_EINVAL, "run record: task '%s' added twice", name);
        return NULL;
    }
    kvb_run_task *t = kvb_realloc(r->tasks, (size_t)(r->n_tasks + 1) * sizeof(*t));
    if (!t) {
        kvb_errorf(e, KVB_ENOMEM, "out of memory");
        return NULL;
    }
    r->tasks = t;
    t = &r->tasks[r->n_tasks];
    memset(t, 0, sizeof(*t));
    t->name = kvb_strdup(name);
    t->metric = metric ? kvb_strdup(metric) : NULL;
    for (int b = 0; b < KVB_N_BUCKETS; b++)
        t->bucket[b] = NAN;
    if (!t->name) {
        kvb_errorf(e, KVB_ENOMEM, "out of memory");
        return NULL;
    }
    r->n_tasks++;
    return t;
}

void kvb_run_task_want_buckets(kvb_run_task *t) { t->buckets_wanted_ = 1; }

static int record_ok(const kvb_run_record *x)
{
    const double nums[] = { x->kv_bytes_prefill, x->kv_bytes_decode, x->kv_bytes_peak,
                            x->kv_full16_bytes, x->prefill_s, x->decode_s };
    for (size_t i = 0; i < KVB_ARRAY_SIZE(nums); i++)
        if (!isfinite(nums[i]) || nums[i] < 0)
            return 0;
    return isfinite(x->score) && x->score >= 0 && x->score <= 1 && isfinite(x->keep_ratio) &&
           x->keep_ratio >= 0 && x->keep_ratio <= 1 && x->prompt_tokens >= 0 &&
           x->gen_tokens >= 0 && (!x->has_cell || (x->cell_length >= 1 && x->cell_depth >= 0 &&
                                                   x->cell_depth <= 100));
}

int kvb_run_task_add_record(kvb_run_task *t, const kvb_run_record *rec, kvb_error *e)
{
    if (!record_ok(rec))
        return kvb_errorf(e, KVB_EINVAL,
                          "task %s: record %ld has a value out of range (score must be in [0, 1], "
                          "bytes and times >= 0, keep ratio in [0, 1])",
                          t->name, t->n_recs_);
    if (t->buckets_wanted_ && rec->length < 0)
        return kvb_errorf(e, KVB_EINVAL, "task %s: record %ld has no length for the -E buckets",
                          t->name, t->n_recs_);
    if (t->n_recs_ == t->cap_recs_) {
        long cap = t->cap_recs_ ? 2 * t->cap_recs_ : 64;
        kvb_run_record *p = kvb_realloc(t->recs_, (size_t)cap * sizeof(*p));
        if (!p)
            return kvb_errorf(e, KVB_ENOMEM, "out of memory");
        t->recs_ = p;
        t->cap_recs_ = cap;
    }
    t->recs_[t->n_recs_++] = *rec;
    return 0;
}

/* ---- deriving the numbers ----------------------------------------------------------------- */
static int cell_cmp(const void *x, const void *y)
{
    const kvb_run_cell *a = x, *b = y;
    if (a->length != b->length)
        return a->length < b->length ? -1 : 1;
    return (a->depth > b->depth) - (a->depth < b->depth);
}

static int task_cells(kvb_run_task *t, kvb_error *e)
{
    free(t->cells);
    t->cells = NULL;
    t->n_cells = 0;
    for (long i = 0; i < t->n_recs_; i++) {
        const kvb_run_record *x = &t->recs_[i];
        if (!x->has_cell)
            continue;
        int c = 0;
        while (c < t->n_cells &&
               !(t->cells[c].length == x->cell_length && t->cells[c].depth == x->cell_depth))
            c++;
        if (c == t->n_cells) {
            kvb_run_cell *p = kvb_realloc(t->cells, (size_t)(t->n_cells + 1) * sizeof(*p));
            if (!p)
                return kvb_errorf(e, KVB_ENOMEM, "out of memory");
            t->cells = p;
            memset(&p[c], 0, sizeof(p[c]));
            p[c].length = x->cell_length;
            p[c].depth = x->cell_depth;
            t->n_cells++;
        }
        t->cells[c].sum_ += x->score;
        t->cells[c].n++;
    }
    for (int c = 0; c < t->n_cells; c++)
        t->cells[c].score = kvb_py_round(100.0 * t->cells[c].sum_ / (double)t->cells[c].n, 2);
    if (t->n_cells)
        qsort(t->cells, (size_t)t->n_cells, sizeof(*t->cells), cell_cmp);
    return 0;
}

/* LongBench-E buckets (kvb_bucket_of, kvb_bucket_score: eval.py's scorer_e) */
static int task_buckets(kvb_run_task *t, kvb_error *e)
{
    t->has_buckets = t->buckets_wanted_;
    if (!t->has_buckets)
        return 0;
    double *v = kvb_malloc((size_t)t->n_recs_ * sizeof(double) + 1);
    if (!v)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    for (int b = 0; b < KVB_N_BUCKETS; b++) {
        long n = 0;
        for (long i = 0; i < t->n_recs_; i++) {
            if (kvb_bucket_of((double)t->recs_[i].length) == b)
                v[n++] = t->recs_[i].score;
        }
        t->bucket_n[b] = n;
        t->bucket[b] = kvb_bucket_score(v, (size_t)n);
    }
    free(v);
    return 0;
}

static int task_finish(kvb_run_task *t, kvb_error *e)
{
    if (t->n_recs_ == 0)
        return kvb_errorf(e, KVB_EINVAL, "task %s: no scored record (a task needs at least one)",
                          t->name);
    long n = t->n_recs_;
    double total = 0., pre = 0., dec = 0., full = 0., keep = 0., peak = 0.;
    t->prompt_tokens = t->gen_tokens = 0;
    t->prefill_s = t->decode_s = 0.;
    for (long i = 0; i < n; i++) {
        const kvb_run_record *x = &t->recs_[i];
        total += x->score; /* eval.py: total_score += score, in record order */
        pre += x->kv_bytes_prefill;
        dec += x->kv_bytes_decode;
        full += x->kv_full16_bytes;
        keep += x->keep_ratio;
        peak = KVB_MAX(peak, x->kv_bytes_peak);
        t->prompt_tokens += x->prompt_tokens;
        t->gen_tokens += x->gen_tokens;
        t->prefill_s += x->prefill_s;
        t->decode_s += x->decode_s;
    }
    t->n = n;
    t->score = kvb_task_score_of(t->metric, total, n);
    t->kv_bytes_prefill = pre / (double)n;
    t->kv_bytes_decode = dec / (double)n;
    t->kv_full16_bytes = full / (double)n;
    t->keep_ratio = keep / (double)n;
    t->peak_kv_bytes = peak;
    t->compression_ratio = dec > 0 ? full / dec : 0.;
    t->decode_ms_per_token = t->gen_tokens ? 1000.0 * t->decode_s / (double)t->gen_tokens : 0.;
    t->prefill_tokens_per_s = t->prefill_s > 0 ? (double)t->prompt_tokens / t->prefill_s : 0.;
    int rc = task_buckets(t, e);
    return rc ? rc : task_cells(t, e);
}

/* The summary only uses task-level numbers, so it is the same for a run read from a file. */
static void run_summary(kvb_run *r)
{
    double sum = 0., sum16 = 0., sumall = 0., wfull = 0., wheld = 0., wkeep = 0., dec_s = 0.;
    long n16 = 0, nall = 0, nrec = 0;
    long long gen = 0;
    r->peak_kv_bytes = 0;
    r->n_bad = 0;
    for (int i = 0; i < r->n_tasks; i++) {
        const kvb_run_task *t = &r->tasks[i];
        sum += t->score;
        if (kvb_task_in_set("en16", t->name)) {
            sum16 += t->score;
            n16++;
        }
        if (kvb_task_in_set("all", t->name)) {
            sumall += t->score;
            nall++;
        }
        wfull += (double)t->n * t->kv_full16_bytes;
        wheld += (double)t->n * t->kv_bytes_decode;
        wkeep += (double)t->n * t->keep_ratio;
        nrec += t->n;
        dec_s += t->decode_s;
        gen += t->gen_tokens;
        r->peak_kv_bytes = KVB_MAX(r->peak_kv_bytes, t->peak_kv_bytes);
        r->n_bad += t->n_bad;
    }
    r->avg_tasks = r->n_tasks ? kvb_py_round(sum / r->n_tasks, 2) : 0.;
    r->has_en16 = n16 == 16;
    r->avg_en16 = r->has_en16 ? kvb_py_round(sum16 / 16, 2) : 0.;
    r->has_all = nall == 21;
    r->avg_all = r->has_all ? kvb_py_round(sumall / 21, 2) : 0.;
    r->compression_ratio = wheld > 0 ? wfull / wheld : 0.;
    r->keep_ratio = nrec ? wkeep / (double)nrec : 0.;
    r->decode_ms_per_token = gen ? 1000.0 * dec_s / (double)gen : 0.;
}

/* RULER's average per context length over the "<task>.<length>" tasks, in run order. */
static int ruler_summary(kvb_run *r, kvb_error *e)
{
    free(r->ruler);
    r->ruler = NULL;
    r->n_ruler = 0;
    for (int i = 0; i < r->n_tasks; i++) {
        long len;
        if (!kvb_metric_is_ruler(r->tasks[i].metric) ||
            !kvb_task_length_split(r->tasks[i].name, NULL, 0, &len))
            continue;
        int k = 0;
        while (k < r->n_ruler && r->ruler[k].length < len)
            k++;
        if (k == r->n_ruler || r->ruler[k].length != len) {
            kvb_run_ruler_len *p = kvb_realloc(r->ruler, (size_t)(r->n_ruler + 1) * sizeof(*p));
            if (!p)
                return kvb_errorf(e, KVB_ENOMEM, "out of memory");
            r->ruler = p;
            memmove(&p[k + 1], &p[k], (size_t)(r->n_ruler - k) * sizeof(*p));
            p[k] = (kvb_run_ruler_len){ len, 0, 0. };
            r->n_ruler++;
        }
        r->ruler[k].average += r->tasks[i].score; /* a running sum until the loop below */
        r->ruler[k].n_tasks++;
    }
    for (int k = 0; k < r->n_ruler; k++)
        r->ruler[k].average = kvb_py_round(r->ruler[k].average / r->ruler[k].n_tasks, 2);
    return 0;
}

int kvb_run_finish(kvb_run *r, kvb_error *e)
{
    if (!r->model_name)
        return kvb_errorf(e, KVB_EINVAL, "run record: model not set");
    if (!r->method_name)
        return kvb_errorf(e, KVB_EINVAL, "run record: method not set");
    if (r->n_tasks == 0)
        return kvb_errorf(e, KVB_EINVAL, "run record: no task");
    for (int i = 0; i < r->n_tasks; i++) {
        if (r->tasks[i].n_recs_ == 0 && r->tasks[i].n > 0)
            continue; /* read from a file: already final */
        int rc = task_finish(&r->tasks[i], e);
        if (rc)
            return rc;
    }
    run_summary(r);
    return ruler_summary(r, e);
}

/* ---- writing ------------------------------------------------------------------------------ */
static void put_str(kvb_strbuf *sb, const char *s)
{
    kvb_strbuf_adds(sb, "\"");
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"': kvb_strbuf_adds(sb, "\\\""); break;
        case '\\': kvb_strbuf_adds(sb, "\\\\"); break;
        case '\n': kvb_strbuf_adds(sb, "\\n"); break;
        case '\r': kvb_strbuf_adds(sb, "\\r"); break;
        case '\t': kvb_strbuf_adds(sb, "\\t"); break;
        case '\b': kvb_strbuf_adds(sb, "\\b"); break;
        case '\f': kvb_strbuf_adds(sb, "\\f"); break;
        default:
            if (*p < 0x20)
                kvb_strbuf_addf(sb, "\\u%04x", *p);
            else
                kvb_strbuf_add(sb, (const char *)p, 1);
        }
    }
    kvb_strbuf_adds(sb, "\"");
}

/* Numbers as Python's repr writes them (shortest round trip); non-finite as null. */
static void put_num(kvb_strbuf *sb, double x)
{
    if (!isfinite(x)) {
        kvb_strbuf_adds(sb, "null");
        return;
    }
    if (x == floor(x) && fabs(x) < 1e15) { /* bytes, counts: as integers */
        kvb_strbuf_addf(sb, "%.0f", x);
        return;
    }
    char buf[64];
    kvb_py_repr(x, 0, buf, sizeof(buf));
    kvb_strbuf_adds(sb, buf);
}

static void put_key(kvb_strbuf *sb, int indent, const char *key, int first)
{
    kvb_strbuf_addf(sb, "%s\n%*s", first ? "" : ",", indent, "");
    put_str(sb, key);
    kvb_strbuf_adds(sb, ": ");
}

static void put_task(kvb_strbuf *sb, const kvb_run_task *t)
{
    kvb_strbuf_adds(sb, "{");
    put_key(sb, 6, "score", 1);
    put_num(sb, t->score);
    if (t->metric) {
        put_key(sb, 6, "metric", 0);
        put_str(sb, t->metric);
    }
    put_key(sb, 6, "n", 0);
    kvb_strbuf_addf(sb, "%ld", t->n);
    put_key(sb, 6, "n_bad", 0);
    kvb_strbuf_addf(sb, "%ld", t->n_bad);
    if (t->has_buckets) {
        put_key(sb, 6, "buckets", 0);
        kvb_strbuf_adds(sb, "{");
        for (int b = 0; b < KVB_N_BUCKETS; b++) {
            kvb_strbuf_adds(sb, b ? ", " : "");
            put_str(sb, kvb_bucket_names[b]);
            kvb_strbuf_adds(sb, ": ");
            put_num(sb, t->bucket[b]);
        }
        kvb_strbuf_adds(sb, "}");
    }
    put_key(sb, 6, "memory", 0);
    kvb_strbuf_adds(sb, "{");
    const char *mk[] = { "kv_bytes_prefill", "kv_bytes_decode", "kv_full16_bytes",
                         "peak_kv_bytes", "compression_ratio", "keep_ratio" };
    const double mv[] = { t->kv_bytes_prefill, t->kv_bytes_decode, t->kv_full16_bytes,
                          t->peak_kv_bytes, t->compression_ratio, t->keep_ratio };
    for (size_t i = 0; i < KVB_ARRAY_SIZE(mk); i++) {
        put_key(sb, 8, mk[i], i == 0);
        put_num(sb, mv[i]);
    }
    kvb_strbuf_adds(sb, "\n      }");
    put_key(sb, 6, "timing", 0);
    kvb_strbuf_adds(sb, "{");
    put_key(sb, 8, "prompt_tokens", 1);
    kvb_strbuf_addf(sb, "%lld", t->prompt_tokens);
    put_key(sb, 8, "gen_tokens", 0);
    kvb_strbuf_addf(sb, "%lld", t->gen_tokens);
    const char *tk[] = { "prefill_s", "decode_s", "wall_s", "decode_ms_per_token",
                         "prefill_tokens_per_s" };
    const double tv[] = { t->prefill_s, t->decode_s, t->wall_s, t->decode_ms_per_token,
                          t->prefill_tokens_per_s };
    for (size_t i = 0; i < KVB_ARRAY_SIZE(tk); i++) {
        put_key(sb, 8, tk[i], 0);
        put_num(sb, tv[i]);
    }
    kvb_strbuf_adds(sb, "\n      }");
    if (t->n_cells) {
        put_key(sb, 6, "cells", 0);
        kvb_strbuf_adds(sb, "[");
        for (int c = 0; c < t->n_cells; c++) {
            kvb_strbuf_addf(sb, "%s\n        {\"length\": %ld, \"depth\": %ld, \"score\": ",
                            c ? "," : "", t->cells[c].length, t->cells[c].depth);
            put_num(sb, t->cells[c].score);
            kvb_strbuf_addf(sb, ", \"n\": %ld}", t->cells[c].n);
        }
        kvb_strbuf_adds(sb, "\n      ]");
    }
    kvb_strbuf_adds(sb, "\n    }");
}

char *kvb_run_to_json(const kvb_run *r)
{
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    kvb_strbuf_addf(&sb, "{\n  \"schema_version\": %d,\n  \"kind\": \"%s\",\n  \"tool\": {\"name\": "
                         "\"kvbench\", \"version\": ",
                    KVB_RUN_SCHEMA_VERSION, KVB_RUN_KIND);
    put_str(&sb, r->tool_version);
    kvb_strbuf_adds(&sb, ", \"git_commit\": ");
    put_str(&sb, r->git_commit);
    kvb_strbuf_adds(&sb, "},\n  \"created\": ");
    put_str(&sb, r->created);
    kvb_strbuf_adds(&sb, ",\n  \"machine\": {\"cpu\": ");
    put_str(&sb, r->cpu);
    kvb_strbuf_addf(&sb, ", \"threads\": %ld, \"flags\": ", r->threads);
    put_str(&sb, r->flags);
    kvb_strbuf_adds(&sb, ", \"gpu\": ");
    put_str(&sb, r->gpu);
    kvb_strbuf_adds(&sb, ", \"device\": ");
    put_str(&sb, r->device ? r->device : "cpu"); /* a record never given one ran on the CPU */
    if (r->device && !strcmp(r->device, "cuda")) {
        kvb_strbuf_adds(&sb, ", \"cuda_driver\": ");
        put_str(&sb, r->cuda_driver);
        kvb_strbuf_adds(&sb, ", \"cuda_runtime\": ");
        put_str(&sb, r->cuda_runtime);
        kvb_strbuf_adds(&sb, ", \"device_bytes\": ");
        put_num(&sb, r->device_bytes);
    }
    kvb_strbuf_adds(&sb, ", \"peak_rss_bytes\": ");
    put_num(&sb, r->peak_rss_bytes);
    kvb_strbuf_adds(&sb, "},\n  \"model\": {\"name\": ");
    put_str(&sb, r->model_name);
    kvb_strbuf_adds(&sb, ", \"repo\": ");
    put_str(&sb, r->model_repo);
    kvb_strbuf_adds(&sb, ", \"path\": ");
    put_str(&sb, r->model_path);
    kvb_strbuf_adds(&sb, ", \"dtype\": ");
    put_str(&sb, r->model_dtype);
    kvb_strbuf_adds(&sb, ", \"fingerprint\": ");
    put_str(&sb, r->model_fingerprint);
    kvb_strbuf_adds(&sb, "},\n  \"method\": {\"name\": ");
    put_str(&sb, r->method_name);
    kvb_strbuf_addf(&sb, ", \"params\": %s},\n  \"chat_template\": ",
                    r->method_params ? r->method_params : "{}");
    put_str(&sb, r->chat_template);
    kvb_strbuf_adds(&sb, ",\n  \"data\": {\"dir\": ");
    put_str(&sb, r->data_dir);
    kvb_strbuf_adds(&sb, ", \"files\": {");
    for (int i = 0; i < r->n_files; i++) {
        put_key(&sb, 4, r->files[i].task, i == 0);
        put_str(&sb, r->files[i].sha256);
    }
    kvb_strbuf_addf(&sb, "%s}},\n  \"settings\": %s,\n  \"shard\": {\"index\": %ld, \"count\": %ld},"
                         "\n  \"tasks\": {",
                    r->n_files ? "\n  " : "", r->settings ? r->settings : "{}", r->shard_index,
                    r->shard_count);
    for (int i = 0; i < r->n_tasks; i++) {
        put_key(&sb, 4, r->tasks[i].name, i == 0);
        put_task(&sb, &r->tasks[i]);
    }
    kvb_strbuf_adds(&sb, "\n  },\n  \"summary\": {");
    put_key(&sb, 4, "avg_tasks", 1);
    put_num(&sb, r->avg_tasks);
    if (r->has_en16) {
        put_key(&sb, 4, "avg_en16", 0);
        put_num(&sb, r->avg_en16);
    }
    if (r->has_all) {
        put_key(&sb, 4, "avg_all", 0);
        put_num(&sb, r->avg_all);
    }
    const char *sk[] = { "compression_ratio", "peak_kv_bytes", "decode_ms_per_token", "keep_ratio" };
    const double sv[] = { r->compression_ratio, r->peak_kv_bytes, r->decode_ms_per_token,
                          r->keep_ratio };
    for (size_t i = 0; i < KVB_ARRAY_SIZE(sk); i++) {
        put_key(&sb, 4, sk[i], 0);
        put_num(&sb, sv[i]);
    }
    put_key(&sb, 4, "n_bad", 0);
    kvb_strbuf_addf(&sb, "%ld", r->n_bad);
    if (r->n_ruler) {
        put_key(&sb, 4, "ruler", 0);
        kvb_strbuf_adds(&sb, "[");
        for (int k = 0; k < r->n_ruler; k++) {
            kvb_strbuf_addf(&sb, "%s\n      {\"length\": %ld, \"n_tasks\": %d, \"average\": ",
                            k ? "," : "", r->ruler[k].length, r->ruler[k].n_tasks);
            put_num(&sb, r->ruler[k].average);
            kvb_strbuf_adds(&sb, "}");
        }
        kvb_strbuf_adds(&sb, "\n    ]");
    }
    kvb_strbuf_adds(&sb, "\n  }\n}\n");
    return kvb_strbuf_detach(&sb);
}

static int write_text(char *text, const char *path, kvb_error *e)
{
    if (!text)
        return kvb_errorf(e, KVB_ENOMEM, "%s: out of memory", path);
    int rc = kvb_write_file_atomic(path, text, strlen(text), e);
    free(text);
    return rc;
}

int kvb_run_write(const kvb_run *r, const char *path, kvb_error *e)
{
    return write_text(kvb_run_to_json(r), path, e);
}

/* json.dump(scores, f, ensure_ascii=False, indent=4): ", " is replaced by "," + newline when
 * indenting, key separator ": ", floats by repr, NaN as NaN (an empty -E bucket). */
char *kvb_result_json_text(const kvb_run *r)
{
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    kvb_strbuf_adds(&sb, r->n_tasks ? "{" : "{}");
    for (int i = 0; i < r->n_tasks; i++) {
        const kvb_run_task *t = &r->tasks[i];
        kvb_strbuf_adds(&sb, i ? ",\n    " : "\n    ");
        put_str(&sb, t->name);
        kvb_strbuf_adds(&sb, ": ");
        char buf[64];
        if (!t->has_buckets) {
            kvb_py_repr(t->score, 0, buf, sizeof(buf));
            kvb_strbuf_adds(&sb, buf);
            continue;
        }
        kvb_strbuf_adds(&sb, "{");
        for (int b = 0; b < KVB_N_BUCKETS; b++) {
            kvb_strbuf_adds(&sb, b ? ",\n        " : "\n        ");
            put_str(&sb, kvb_bucket_names[b]);
            kvb_py_repr(t->bucket[b], 0, buf, sizeof(buf));
            kvb_strbuf_addf(&sb, ": %s", isnan(t->bucket[b]) ? "NaN" : buf);
        }
        kvb_strbuf_adds(&sb, "\n    }");
    }
    if (r->n_tasks)
        kvb_strbuf_adds(&sb, "\n}");
    return kvb_strbuf_detach(&sb);
}

int kvb_result_json_write(const kvb_run *r, const char *path, kvb_error *e)
{
    return write_text(kvb_result_json_text(r), path, e);
}

/* ---- reading and validation --------------------------------------------------------------- */
/* Each getter names the file and the dotted field path in its message. */
typedef struct vctx {
    const char *file;
    kvb_error *e;
} vctx;

static const cJSON *field(const vctx *v, const cJSON *obj, const char *path, const char *key)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!x)
        kvb_errorf(v->e, KVB_EINVAL, "%s: field '%s%s' is missing", v->file, path, key);
    return x;
}

static int bad_type(const vctx *v, const char *path, const char *key, const char *want)
{
    return kvb_errorf(v->e, KVB_EINVAL, "%s: field '%s%s' is not %s", v->file, path, key, want);
}

static int get_obj(const vctx *v, const cJSON *obj, const char *path, const char *key,
                   const cJSON **out)
{
    const cJSON *x = field(v, obj, path, key);
    if (!x)
        return KVB_EINVAL;
    if (!cJSON_IsObject(x))
        return bad_type(v, path, key, "an object");
    *out = x;
    return 0;
}

static int get_str(const vctx *v, const cJSON *obj, const char *path, const char *key, int nonempty,
                   char **out)
{
    const cJSON *x = field(v, obj, path, key);
    if (!x)
        return KVB_EINVAL;
    if (!cJSON_IsString(x))
        return bad_type(v, path, key, "a string");
    if (nonempty && !*x->valuestring)
        return kvb_errorf(v->e, KVB_EINVAL, "%s: field '%s%s' is empty", v->file, path, key);
    if (out)
        return kvb_run_set_str(out, x->valuestring, v->e);
    return 0;
}

static int get_num(const vctx *v, const cJSON *obj, const char *path, const char *key, double lo,
                   double hi, int integer, double *out)
{
    const cJSON *x = field(v, obj, path, key);
    if (!x)
        return KVB_EINVAL;
    if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble))
        return bad_type(v, path, key, "a number");
    double d = x->valuedouble;
    if (integer && floor(d) != d)
        return bad_type(v, path, key, "an integer");
    if (d < lo || d > hi)
        return kvb_errorf(v->e, KVB_EINVAL, "%s: field '%s%s' = %g is out of range [%g, %g]",
                          v->file, path, key, d, lo, hi);
    *out = d;
    return 0;
}

static int get_long(const vctx *v, const cJSON *obj, const char *path, const char *key, double lo,
                    double hi, long *out)
{
    double d;
    int rc = get_num(v, obj, path, key, lo, hi, 1, &d);
    if (!rc)
        *out = (long)d;
    return rc;
}

static int print_obj(const vctx *v, const cJSON *x, char **out)
{
    char *p = cJSON_PrintUnformatted(x);
    if (!p)
        return kvb_errorf(v->e, KVB_ENOMEM, "%s: out of memory", v->file);
    free(*out);
    *out = p;
    return 0;
}

static int no_duplicate_keys(const vctx *v, const cJSON *obj, const char *path)
{
    for (const cJSON *a = obj->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
            if (!strcmp(a->string, b->string))
                return kvb_errorf(v->e, KVB_EINVAL, "%s: key '%s' appears twice in '%s'", v->file,
                                  a->string, path);
    return 0;
}

#define BIG 1e18 /* bytes, tokens: anything larger is damage */

static int read_cells(const vctx *v, const cJSON *arr, const char *path, kvb_run_task *t)
{
    if (!cJSON_IsArray(arr))
        return bad_type(v, path, "cells", "an array");
    int n = cJSON_GetArraySize(arr);
    if (n == 0)
        return 0;
    t->cells = kvb_calloc((size_t)n, sizeof(*t->cells));
    if (!t->cells)
        return kvb_errorf(v->e, KVB_ENOMEM, "out of memory");
    int i = 0, rc = 0;
    char p[200];
    for (const cJSON *c = arr->child; c && !rc; c = c->next, i++) {
        snprintf(p, sizeof(p), "%scells[%d].", path, i);
        if (!cJSON_IsObject(c))
            return kvb_errorf(v->e, KVB_EINVAL, "%s: field '%scells[%d]' is not an object", v->file,
                              path, i);
        kvb_run_cell *x = &t->cells[i];
        rc = get_long(v, c, p, "length", 1, BIG, &x->length);
        rc = rc ? rc : get_long(v, c, p, "depth", 0, 100, &x->depth);
        rc = rc ? rc : get_num(v, c, p, "score", 0, 100, 0, &x->score);
        rc = rc ? rc : get_long(v, c, p, "n", 1, BIG, &x->n);
        t->n_cells = i + 1;
    }
    return rc;
}

static int read_task(const vctx *v, const cJSON *o, kvb_run_task *t)
{
    char path[160], sub[200];
    snprintf(path, sizeof(path), "tasks.%s.", t->name);
    if (!cJSON_IsObject(o))
        return kvb_errorf(v->e, KVB_EINVAL, "%s: field 'tasks.%s' is not an object", v->file, t->name);
    int rc = get_num(v, o, path, "score", 0, 100, 0, &t->score);
    rc = rc ? rc : get_long(v, o, path, "n", 1, BIG, &t->n);
    rc = rc ? rc : get_long(v, o, path, "n_bad", 0, BIG, &t->n_bad);
    if (rc)
        return rc;
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, "metric");
    if (x) {
        if (!cJSON_IsString(x))
            return bad_type(v, path, "metric", "a string");
        if ((rc = kvb_run_set_str(&t->metric, x->valuestring, v->e)))
            return rc;
    }
    x = cJSON_GetObjectItemCaseSensitive(o, "buckets");
    if (x) {
        if (!cJSON_IsObject(x))
            return bad_type(v, path, "buckets", "an object");
        snprintf(sub, sizeof(sub), "%sbuckets.", path);
        t->has_buckets = 1;
        for (int b = 0; b < KVB_N_BUCKETS; b++) {
            const cJSON *y = field(v, x, sub, kvb_bucket_names[b]);
            if (!y)
                return KVB_EINVAL;
            if (cJSON_IsNull(y))
                t->bucket[b] = NAN;
            else if ((rc = get_num(v, x, sub, kvb_bucket_names[b], 0, 100, 0, &t->bucket[b])))
                return rc;
        }
    }
    const cJSON *m, *tm;
    if ((rc = get_obj(v, o, path, "memory", &m)) || (rc = get_obj(v, o, path, "timing", &tm)))
        return rc;
    snprintf(sub, sizeof(sub), "%smemory.", path);
    rc = get_num(v, m, sub, "kv_bytes_prefill", 0, BIG, 0, &t->kv_bytes_prefill);
    rc = rc ? rc : get_num(v, m, sub, "kv_bytes_decode", 0, BIG, 0, &t->kv_bytes_decode);
    rc = rc ? rc : get_num(v, m, sub, "kv_full16_bytes", 0, BIG, 0, &t->kv_full16_bytes);
    rc = rc ? rc : get_num(v, m, sub, "peak_kv_bytes", 0, BIG, 0, &t->peak_kv_bytes);
    rc = rc ? rc : get_num(v, m, sub, "compression_ratio", 0, BIG, 0, &t->compression_ratio);
    rc = rc ? rc : get_num(v, m, sub, "keep_ratio", 0, 1, 0, &t->keep_ratio);
    snprintf(sub, sizeof(sub), "%stiming.", path);
    double pt = 0, gt = 0;
    rc = rc ? rc : get_num(v, tm, sub, "prompt_tokens", 0, BIG, 1, &pt);
    rc = rc ? rc : get_num(v, tm, sub, "gen_tokens", 0, BIG, 1, &gt);
    rc = rc ? rc : get_num(v, tm, sub, "prefill_s", 0, BIG, 0, &t->prefill_s);
    rc = rc ? rc : get_num(v, tm, sub, "decode_s", 0, BIG, 0, &t->decode_s);
    rc = rc ? rc : get_num(v, tm, sub, "wall_s", 0, BIG, 0, &t->wall_s);
    rc = rc ? rc : get_num(v, tm, sub, "decode_ms_per_token", 0, BIG, 0, &t->decode_ms_per_token);
    rc = rc ? rc : get_num(v, tm, sub, "prefill_tokens_per_s", 0, BIG, 0, &t->prefill_tokens_per_s);
    if (rc)
        return rc;
    t->prompt_tokens = (long long)pt;
    t->gen_tokens = (long long)gt;
    x = cJSON_GetObjectItemCaseSensitive(o, "cells");
    return x ? read_cells(v, x, path, t) : 0;
}

static int read_tasks(const vctx *v, const cJSON *tasks, kvb_run *r)
{
    if (!tasks->child)
        return kvb_errorf(v->e, KVB_EINVAL, "%s: field 'tasks' has no task", v->file);
    int rc = no_duplicate_keys(v, tasks, "tasks");
    for (const cJSON *o = tasks->child; o && !rc; o = o->next) {
        if (!valid_task_name(o->string))
            return kvb_errorf(v->e, KVB_EINVAL, "%s: task name '%.64s' is not valid", v->file,
                              o->string);
        kvb_run_task *t = kvb_run_add_task(r, o->string, NULL, v->e);
        if (!t)
            return v->e ? v->e->code : KVB_ENOMEM;
        rc = read_task(v, o, t);
    }
    return rc;
}

/* machine.device (optional: files written before devices existed ran on the CPU) */
static int read_device(const vctx *v, const cJSON *o, kvb_run *r)
{
    int rc = kvb_run_set_str(&r->cuda_driver, "", v->e);
    rc = rc ? rc : kvb_run_set_str(&r->cuda_runtime, "", v->e);
    if (!rc && !cJSON_GetObjectItemCaseSensitive(o, "device"))
        return kvb_run_set_str(&r->device, "cpu", v->e);
    rc = rc ? rc : get_str(v, o, "machine.", "device", 1, &r->device);
    if (rc)
        return rc;
    if (!strcmp(r->device, "cpu"))
        return 0;
    if (strcmp(r->device, "cuda"))
        return kvb_errorf(v->e, KVB_EINVAL, "%s: field 'machine.device' = '%.32s' is not cpu or "
                          "cuda", v->file, r->device);
    rc = get_str(v, o, "machine.", "cuda_driver", 1, &r->cuda_driver);
    rc = rc ? rc : get_str(v, o, "machine.", "cuda_runtime", 1, &r->cuda_runtime);
    return rc ? rc : get_num(v, o, "machine.", "device_bytes", 0, BIG, 1, &r->device_bytes);
}

static int read_head(const vctx *v, const cJSON *doc, kvb_run *r)
{
    const cJSON *o;
    int rc;
    if ((rc = get_obj(v, doc, "", "tool", &o)))
        return rc;
    const cJSON *tn = field(v, o, "tool.", "name");
    if (!tn)
        return KVB_EINVAL;
    if (!cJSON_IsString(tn) || strcmp(tn->valuestring, "kvbench"))
        return kvb_errorf(v->e, KVB_EINVAL, "%s: field 'tool.name' is not \"kvbench\"", v->file);
    rc = get_str(v, o, "tool.", "version", 1, &r->tool_version);
    rc = rc ? rc : get_str(v, o, "tool.", "git_commit", 1, &r->git_commit);
    rc = rc ? rc : get_str(v, doc, "", "created", 1, &r->created);
    rc = rc ? rc : get_obj(v, doc, "", "machine", &o);
    if (rc)
        return rc;
    rc = get_str(v, o, "machine.", "cpu", 0, &r->cpu);
    rc = rc ? rc : get_long(v, o, "machine.", "threads", 1, 65536, &r->threads);
    rc = rc ? rc : get_str(v, o, "machine.", "flags", 0, &r->flags);
    rc = rc ? rc : get_str(v, o, "machine.", "gpu", 0, &r->gpu);
    rc = rc ? rc : get_num(v, o, "machine.", "peak_rss_bytes", 0, BIG, 0, &r->peak_rss_bytes);
    rc = rc ? rc : read_device(v, o, r);
    rc = rc ? rc : get_obj(v, doc, "", "model", &o);
    if (rc)
        return rc;
    rc = get_str(v, o, "model.", "name", 1, &r->model_name);
    rc = rc ? rc : get_str(v, o, "model.", "repo", 0, &r->model_repo);
    rc = rc ? rc : get_str(v, o, "model.", "path", 0, &r->model_path);
    rc = rc ? rc : get_str(v, o, "model.", "dtype", 0, &r->model_dtype);
    rc = rc ? rc : get_str(v, o, "model.", "fingerprint", 0, &r->model_fingerprint);
    rc = rc ? rc : get_obj(v, doc, "", "method", &o);
    if (rc)
        return rc;
    const cJSON *p;
    rc = get_str(v, o, "method.", "name", 1, &r->method_name);
    rc = rc ? rc : get_obj(v, o, "method.", "params", &p);
    rc = rc ? rc : print_obj(v, p, &r->method_params);
    rc = rc ? rc : get_str(v, doc, "", "chat_template", 0, &r->chat_template);
    return rc;
}

static int read_data(const vctx *v, const cJSON *doc, kvb_run *r)
{
    const cJSON *o, *f;
    int rc = get_obj(v, doc, "", "data", &o);
    rc = rc ? rc : get_str(v, o, "data.", "dir", 0, &r->data_dir);
    rc = rc ? rc : get_obj(v, o, "data.", "files", &f);
    rc = rc ? rc : no_duplicate_keys(v, f, "data.files");
    for (const cJSON *x = rc ? NULL : f->child; x && !rc; x = x->next) {
        if (!cJSON_IsString(x) || !is_hex64(x->valuestring))
            return kvb_errorf(v->e, KVB_EINVAL, "%s: field 'data.files.%.64s' is not a sha256 hex digest",
                              v->file, x->string);
        rc = kvb_run_add_data_file(r, x->string, x->valuestring, v->e);
    }
    if (rc)
        return rc;
    rc = get_obj(v, doc, "", "settings", &o);
    rc = rc ? rc : print_obj(v, o, &r->settings);
    rc = rc ? rc : get_obj(v, doc, "", "shard", &o);
    rc = rc ? rc : get_long(v, o, "shard.", "count", 1, 100000, &r->shard_count);
    rc = rc ? rc : get_long(v, o, "shard.", "index", 0, (double)r->shard_count - 1, &r->shard_index);
    return rc;
}

/* summary.ruler (optional): [{length, n_tasks, average}], lengths ascending */
static int read_ruler(const vctx *v, const cJSON *a, kvb_run *r)
{
    if (!a)
        return 0;
    if (!cJSON_IsArray(a) || !cJSON_GetArraySize(a))
        return bad_type(v, "summary.", "ruler", "a non-empty array");
    int n = cJSON_GetArraySize(a), rc = 0;
    r->ruler = kvb_calloc((size_t)n, sizeof(*r->ruler));
    if (!r->ruler)
        return kvb_errorf(v->e, KVB_ENOMEM, "out of memory");
    for (int k = 0; k < n && !rc; k++) {
        const cJSON *x = cJSON_GetArrayItem(a, k);
        char path[48];
        snprintf(path, sizeof(path), "summary.ruler[%d].", k);
        double len = 0, nt = 0;
        if (!cJSON_IsObject(x))
            return bad_type(v, "summary.ruler", "[]", "an array of objects");
        rc = get_num(v, x, path, "length", 1, 2147483647., 1, &len);
        rc = rc ? rc : get_num(v, x, path, "n_tasks", 1, 1e6, 1, &nt);
        rc = rc ? rc : get_num(v, x, path, "average", 0, 100, 0, &r->ruler[k].average);
        if (!rc && k && len <= r->ruler[k - 1].length)
            rc = kvb_errorf(v->e, KVB_EINVAL, "%s: field 'summary.ruler' is not sorted by length",
                            v->file);
        r->ruler[k].length = (long)len;
        r->ruler[k].n_tasks = (int)nt;
        r->n_ruler = k + 1;
    }
    return rc;
}

static int read_summary(const vctx *v, const cJSON *doc, kvb_run *r)
{
    const cJSON *o;
    int rc = get_obj(v, doc, "", "summary", &o);
    rc = rc ? rc : get_num(v, o, "summary.", "avg_tasks", 0, 100, 0, &r->avg_tasks);
    rc = rc ? rc : get_num(v, o, "summary.", "compression_ratio", 0, BIG, 0, &r->compression_ratio);
    rc = rc ? rc : get_num(v, o, "summary.", "peak_kv_bytes", 0, BIG, 0, &r->peak_kv_bytes);
    rc = rc ? rc : get_num(v, o, "summary.", "decode_ms_per_token", 0, BIG, 0, &r->decode_ms_per_token);
    rc = rc ? rc : get_num(v, o, "summary.", "keep_ratio", 0, 1, 0, &r->keep_ratio);
    rc = rc ? rc : get_long(v, o, "summary.", "n_bad", 0, BIG, &r->n_bad);
    if (rc)
        return rc;
    if (cJSON_GetObjectItemCaseSensitive(o, "avg_en16")) {
        r->has_en16 = 1;
        rc = get_num(v, o, "summary.", "avg_en16", 0, 100, 0, &r->avg_en16);
    }
    if (!rc && cJSON_GetObjectItemCaseSensitive(o, "avg_all")) {
        r->has_all = 1;
        rc = get_num(v, o, "summary.", "avg_all", 0, 100, 0, &r->avg_all);
    }
    return rc ? rc : read_ruler(v, cJSON_GetObjectItemCaseSensitive(o, "ruler"), r);
}

int kvb_run_from_json(const cJSON *doc, const char *file, kvb_run *out, kvb_error *e)
{
    vctx v = { file, e };
    if (!cJSON_IsObject(doc))
        return kvb_errorf(e, KVB_EINVAL, "%s: not a JSON object (not a kvbench run.json)", file);
    /* The version first: a newer file may differ in any other field. */
    double ver;
    int rc = get_num(&v, doc, "", "schema_version", 1, 1e9, 1, &ver);
    if (rc)
        return rc;
    if (ver > KVB_RUN_SCHEMA_VERSION)
        return kvb_errorf(e, KVB_EINVAL,
                          "%s: schema_version %.0f is newer than this kvbench reads (%d): "
                          "upgrade kvbench to read it",
                          file, ver, KVB_RUN_SCHEMA_VERSION);
    const cJSON *kind = field(&v, doc, "", "kind");
    if (!kind)
        return KVB_EINVAL;
    if (!cJSON_IsString(kind) || strcmp(kind->valuestring, KVB_RUN_KIND))
        return kvb_errorf(e, KVB_EINVAL, "%s: field 'kind' is not \"%s\"", file, KVB_RUN_KIND);
    kvb_run tmp;
    memset(&tmp, 0, sizeof(tmp));
    tmp.schema_version = (int)ver;
    const cJSON *tasks;
    rc = no_duplicate_keys(&v, doc, "(top level)");
    rc = rc ? rc : read_head(&v, doc, &tmp);
    rc = rc ? rc : read_data(&v, doc, &tmp);
    rc = rc ? rc : get_obj(&v, doc, "", "tasks", &tasks);
    rc = rc ? rc : read_tasks(&v, tasks, &tmp);
    rc = rc ? rc : read_summary(&v, doc, &tmp);
    if (rc || !out) {
        kvb_run_release(&tmp);
        return rc;
    }
    *out = tmp;
    return 0;
}

char *kvb_run_dir_of(const char *path)
{
    if (kvb_is_dir(path))
        return kvb_strdup(path);
    const char *slash = strrchr(path, '/');
    if (!slash)
        return kvb_strdup(".");
    if (slash == path)
        return kvb_strdup("/");
    char *d = kvb_strdup(path);
    if (d)
        d[slash - path] = 0;
    return d;
}

int kvb_run_load(const char *path, kvb_run *r, kvb_error *e)
{
    memset(r, 0, sizeof(*r));
    char *file = kvb_is_dir(path) ? kvb_path_join(path, "run.json") : kvb_strdup(path);
    if (!file)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    if (!kvb_file_exists(file)) {
        int rc = kvb_errorf(e, KVB_EINVAL, "%s: no such run.json (a run directory or its run.json is "
                                           "expected)",
                            file);
        free(file);
        return rc;
    }
    cJSON *doc;
    int rc = kvb_json_load(file, KVB_RUN_MAX_BYTES, &doc, e);
    if (rc == KVB_EIO)
        rc = e ? (e->code = KVB_EINVAL) : KVB_EINVAL; /* unreadable input is bad input (exit 2) */
    if (!rc) {
        rc = kvb_run_from_json(doc, file, r, e);
        cJSON_Delete(doc);
    }
    free(file);
    return rc;
}

/* ---- prediction lines --------------------------------------------------------------------- */
int kvb_pred_add_fields(cJSON *line, long index, const kvb_run_record *x, kvb_error *e)
{
    if (!cJSON_IsObject(line) || index < 0 || !record_ok(x))
        return kvb_errorf(e, KVB_EINVAL, "prediction line %ld: bad record values", index);
    const char *keys[] = { "_index", "score", "prompt_tokens", "gen_tokens", "kv_bytes_prefill",
                           "kv_bytes_decode", "kv_bytes_peak", "kv_full16_bytes", "keep_ratio",
                           "prefill_s", "decode_s" };
    const double vals[] = { (double)index, x->score, (double)x->prompt_tokens,
                            (double)x->gen_tokens, x->kv_bytes_prefill, x->kv_bytes_decode,
                            x->kv_bytes_peak, x->kv_full16_bytes, x->keep_ratio, x->prefill_s,
                            x->decode_s };
    for (size_t i = 0; i < KVB_ARRAY_SIZE(keys); i++) {
        cJSON_DeleteItemFromObjectCaseSensitive(line, keys[i]);
        if (!cJSON_AddNumberToObject(line, keys[i], vals[i]))
            return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    }
    if (x->has_margin) {
        cJSON_DeleteItemFromObjectCaseSensitive(line, "margin");
        cJSON_DeleteItemFromObjectCaseSensitive(line, "margin_step");
        if (!cJSON_AddNumberToObject(line, "margin", x->margin) ||
            !cJSON_AddNumberToObject(line, "margin_step", (double)x->margin_step))
            return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    }
    if (x->has_cell) {
        cJSON_DeleteItemFromObjectCaseSensitive(line, "niah_length");
        cJSON_DeleteItemFromObjectCaseSensitive(line, "niah_depth");
        if (!cJSON_AddNumberToObject(line, "niah_length", (double)x->cell_length) ||
            !cJSON_AddNumberToObject(line, "niah_depth", (double)x->cell_depth))
            return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    }
    return 0;
}

int kvb_pred_get_record(const cJSON *line, const char *where, long *index, kvb_run_record *x,
                        kvb_error *e)
{
    vctx v = { where, e };
    memset(x, 0, sizeof(*x));
    if (!cJSON_IsObject(line))
        return kvb_errorf(e, KVB_EINVAL, "%s: not a JSON object", where);
    double d;
    int rc = get_num(&v, line, "", "_index", 0, BIG, 1, &d);
    if (rc)
        return kvb_error_prefix(e, "kvbench's record index is needed (written by kvbench run)");
    *index = (long)d;
    if ((rc = get_num(&v, line, "", "score", 0, 1, 0, &x->score)))
        return rc;
    struct {
        const char *key;
        double *dst;
        long *ldst;
        double hi;
    } opt[] = {
        { "prompt_tokens", NULL, &x->prompt_tokens, BIG },
        { "gen_tokens", NULL, &x->gen_tokens, BIG },
        { "kv_bytes_prefill", &x->kv_bytes_prefill, NULL, BIG },
        { "kv_bytes_decode", &x->kv_bytes_decode, NULL, BIG },
        { "kv_bytes_peak", &x->kv_bytes_peak, NULL, BIG },
        { "kv_full16_bytes", &x->kv_full16_bytes, NULL, BIG },
        { "keep_ratio", &x->keep_ratio, NULL, 1 },
        { "prefill_s", &x->prefill_s, NULL, BIG },
        { "decode_s", &x->decode_s, NULL, BIG },
    };
    /* kvbench's own fields are required: a line without them was not written by kvbench run. */
    for (size_t i = 0; i < KVB_ARRAY_SIZE(opt); i++) {
        if ((rc = get_num(&v, line, "", opt[i].key, 0, opt[i].hi, opt[i].ldst != NULL, &d)))
            return rc;
        if (opt[i].dst)
            *opt[i].dst = d;
        else
            *opt[i].ldst = (long)d;
    }
    x->length = -1;
    const cJSON *len = cJSON_GetObjectItemCaseSensitive(line, "length");
    if (cJSON_IsNumber(len) && len->valuedouble >= 0 && len->valuedouble < BIG)
        x->length = (long)len->valuedouble;
    if (cJSON_GetObjectItemCaseSensitive(line, "margin")) {
        x->has_margin = 1;
        rc = get_num(&v, line, "", "margin", 0, BIG, 0, &x->margin);
        rc = rc ? rc : get_num(&v, line, "", "margin_step", 0, BIG, 1, &d);
        x->margin_step = (long)d;
        if (rc)
            return rc;
    }
    if (cJSON_GetObjectItemCaseSensitive(line, "niah_length")) {
        x->has_cell = 1;
        rc = get_num(&v, line, "", "niah_length", 1, BIG, 1, &d);
        x->cell_length = (long)d;
        rc = rc ? rc : get_num(&v, line, "", "niah_depth", 0, 100, 1, &d);
        x->cell_depth = (long)d;
    }
    return rc;
}

void kvb_pred_scores_release(kvb_pred_scores *p)
{
    for (long i = 0; i < p->n; i++)
        free(p->ids[i]);
    free(p->ids);
    free(p->scores);
    memset(p, 0, sizeof(*p));
}

int kvb_pred_scores_load(const char *run_dir, const char *task, kvb_pred_scores *out, kvb_error *e)
{
    memset(out, 0, sizeof(*out));
    kvb_strbuf path;
    kvb_strbuf_init(&path);
    if (kvb_strbuf_addf(&path, "%s/%s/%s.jsonl", run_dir, KVB_RUNDIR_PRED, task))
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    char *text;
    size_t len;
    int rc = kvb_read_file(path.buf, KVB_PRED_MAX_BYTES, &text, &len, e);
    if (rc) {
        kvb_strbuf_release(&path);
        return e ? (e->code = KVB_EINVAL) : KVB_EINVAL;
    }
    long cap = 0, lineno = 0;
    for (char *p = text; !rc && p < text + len;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        char *end = nl ? nl : text + len;
        lineno++;
        if (end == p) { /* an empty line */
            p = end + 1;
            continue;
        }
        cJSON *j = kvb_json_parse_limited(p, (size_t)(end - p));
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "_id");
        const cJSON *sc = cJSON_GetObjectItemCaseSensitive(j, "score");
        if (!j)
            rc = kvb_errorf(e, KVB_EINVAL, "%s:%ld: not valid JSON%s", path.buf, lineno,
                            nl ? "" : " (truncated last line?)");
        else if (!cJSON_IsString(id))
            rc = kvb_errorf(e, KVB_EINVAL, "%s:%ld: no string field '_id'", path.buf, lineno);
        else if (!cJSON_IsNumber(sc) || !(sc->valuedouble >= 0 && sc->valuedouble <= 1))
            rc = kvb_errorf(e, KVB_EINVAL,
                            "%s:%ld: no per-record 'score' in [0, 1] (written by kvbench run; a "
                            "run without it cannot be bootstrapped: use --bootstrap 0)",
                            path.buf, lineno);
        else if (out->n == cap) {
            cap = cap ? 2 * cap : 256;
            char **ids = kvb_realloc(out->ids, (size_t)cap * sizeof(char *));
            if (ids)
                out->ids = ids;
            double *s = kvb_realloc(out->scores, (size_t)cap * sizeof(double));
            if (s)
                out->scores = s;
            if (!ids || !s)
                rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
        }
        if (!rc) {
            out->ids[out->n] = kvb_strdup(id->valuestring);
            out->scores[out->n] = sc->valuedouble;
            if (!out->ids[out->n++])
                rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
        }
        cJSON_Delete(j);
        p = end + 1;
    }
    free(text);
    kvb_strbuf_release(&path);
    if (rc)
        kvb_pred_scores_release(out);
    return rc;
}
