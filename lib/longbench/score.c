/* eval.py in C: prediction files -> per-task scores -> result.json (see score.h). */
#include "longbench/score.h"
#include "results/results.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KVB_PRED_FILE_MAX ((size_t)1 << 31) /* 2 GiB: far above any LongBench prediction file */


/* ---- reading a prediction file --------------------------------------------------------------- */
typedef struct str_ref {
    size_t off, n;
} str_ref;

typedef struct loader {
    kvb_strbuf pool;  /* every string's bytes */
    str_ref *refs;    /* per record: pred, then answers */
    size_t nrefs, caprefs;
    size_t *rec_first; /* index in refs of each record's pred */
    size_t *rec_nans;
    double *rec_len;
    size_t nrec, caprec;
    str_ref *cls;
    size_t ncls;
    int has_cls;
} loader;

static int add_ref(loader *L, const char *s, size_t n)
{
    if (L->nrefs == L->caprefs) {
        size_t c = L->caprefs ? L->caprefs * 2 : 256;
        str_ref *v = kvb_realloc(L->refs, c * sizeof(*v));
        if (!v)
            return KVB_ENOMEM;
        L->refs = v;
        L->caprefs = c;
    }
    L->refs[L->nrefs].off = L->pool.len;
    L->refs[L->nrefs].n = n;
    L->nrefs++;
    return kvb_strbuf_add(&L->pool, s, n);
}

/* A "\u0000" escape inside a JSON string: cJSON would cut the string there, Python would not. */
static int has_escaped_nul(const char *s, size_t n)
{
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        if (!in_str) {
            in_str = s[i] == '"';
        } else if (s[i] == '\\') {
            if (i + 5 < n && s[i + 1] == 'u' && !memcmp(s + i + 2, "0000", 4))
                return 1;
            i++;
        } else if (s[i] == '"')
            in_str = 0;
    }
    return 0;
}

/* The value of key in obj; a key given twice is refused (Python keeps the last, cJSON the first). */
static int get_field(const cJSON *obj, const char *key, const cJSON **out, const char *where,
                     kvb_error *e)
{
    *out = NULL;
    for (const cJSON *c = obj->child; c; c = c->next)
        if (c->string && !strcmp(c->string, key)) {
            if (*out)
                return kvb_errorf(e, KVB_EINVAL, "%s: field '%s' appears twice", where, key);
            *out = c;
        }
    return 0;
}

static int parse_line(loader *L, const char *line, size_t len, const kvb_task *t, int need_length,
                      const char *where, kvb_error *e)
{
    if (has_escaped_nul(line, len))
        return kvb_errorf(e, KVB_EINVAL, "%s: a string holds \\u0000, which is not supported", where);
    if (!kvb_json_depth_ok(line, len))
        return kvb_errorf(e, KVB_EINVAL, "%s: JSON nested deeper than %d levels", where,
                          KVB_JSON_MAX_DEPTH);
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    if (!j)
        return kvb_errorf(e, KVB_EINVAL, "%s: not valid JSON", where);
    int rc = 0;
    for (const char *p = end; p && p < line + len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            rc = kvb_errorf(e, KVB_EINVAL, "%s: extra data after the JSON object", where);
            goto done;
        }
    if (!cJSON_IsObject(j)) {
        rc = kvb_errorf(e, KVB_EINVAL, "%s: not a JSON object", where);
        goto done;
    }
    const cJSON *pred, *ans, *cls, *length;
    if ((rc = get_field(j, "pred", &pred, where, e)) || (rc = get_field(j, "answers", &ans, where, e)) ||
        (rc = get_field(j, "all_classes", &cls, where, e)) ||
        (rc = get_field(j, "length", &length, where, e)))
        goto done;
    if (!pred || !ans || !cls) {
        rc = kvb_errorf(e, KVB_EINVAL, "%s: field '%s' is missing", where,
                        !pred ? "pred" : !ans ? "answers" : "all_classes");
        goto done;
    }
    if (!cJSON_IsString(pred)) {
        rc = kvb_errorf(e, KVB_EINVAL, "%s: field 'pred' is not a string", where);
        goto done;
    }
    if (!cJSON_IsArray(ans)) {
        rc = kvb_errorf(e, KVB_EINVAL, "%s: field 'answers' is not a list", where);
        goto done;
    }
    if (!cJSON_IsNull(cls) && !cJSON_IsArray(cls)) {
        rc = kvb_errorf(e, KVB_EINVAL, "%s: field 'all_classes' is neither null nor a list", where);
        goto done;
    }
    double lenv = NAN;
    if (length) {
        if (!cJSON_IsNumber(length)) {
            rc = kvb_errorf(e, KVB_EINVAL, "%s: field 'length' is not a number", where);
            goto done;
        }
        lenv = length->valuedouble;
    } else if (need_length) {
        rc = kvb_errorf(e, KVB_EINVAL, "%s: field 'length' is missing (needed by --e)", where);
        goto done;
    }
    if (L->nrec == L->caprec) {
        size_t c = L->caprec ? L->caprec * 2 : 256;
        size_t *a = kvb_realloc(L->rec_first, c * sizeof(*a));
        if (a)
            L->rec_first = a;
        size_t *b = kvb_realloc(L->rec_nans, c * sizeof(*b));
        if (b)
            L->rec_nans = b;
        double *d = kvb_realloc(L->rec_len, c * sizeof(*d));
        if (d)
            L->rec_len = d;
        if (!a || !b || !d) {
            rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
            goto done;
        }
        L->caprec = c;
    }
    L->rec_first[L->nrec] = L->nrefs;
    L->rec_len[L->nrec] = lenv;
    if (add_ref(L, pred->valuestring, strlen(pred->valuestring))) {
        rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
        goto done;
    }
    size_t na = 0;
    for (const cJSON *a = ans->child; a; a = a->next, na++) {
        if (!cJSON_IsString(a)) {
            rc = kvb_errorf(e, KVB_EINVAL, "%s: answers[%zu] is not a string", where, na);
            goto done;
        }
        if (add_ref(L, a->valuestring, strlen(a->valuestring))) {
            rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
            goto done;
        }
    }
    L->rec_nans[L->nrec++] = na;
    /* eval.py keeps the all_classes of the last line read */
    L->has_cls = !cJSON_IsNull(cls);
    free(L->cls);
    L->cls = NULL;
    L->ncls = 0;
    if (L->has_cls) {
        size_t nc = (size_t)cJSON_GetArraySize(cls), k = 0;
        L->cls = kvb_calloc(nc + 1, sizeof(*L->cls));
        if (!L->cls) {
            rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
            goto done;
        }
        for (const cJSON *c = cls->child; c; c = c->next, k++) {
            if (!cJSON_IsString(c)) {
                rc = kvb_errorf(e, KVB_EINVAL, "%s: all_classes[%zu] is not a string", where, k);
                goto done;
            }
            /* class strings go into the pool too: offsets stay valid across reallocations */
            L->cls[k].off = L->pool.len;
            L->cls[k].n = strlen(c->valuestring);
            if (kvb_strbuf_add(&L->pool, c->valuestring, L->cls[k].n)) {
                rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
                goto done;
            }
        }
        L->ncls = nc;
    }
    (void)t;
done:
    cJSON_Delete(j);
    return rc;
}

static void loader_release(loader *L)
{
    kvb_strbuf_release(&L->pool);
    free(L->refs);
    free(L->rec_first);
    free(L->rec_nans);
    free(L->rec_len);
    free(L->cls);
}

typedef struct file_priv {
    kvb_sv *all_sv; /* every string view (records' answers point into it) */
} file_priv;

int kvb_pred_file_load(const char *path, const kvb_task *t, int need_length, kvb_pred_file *f,
                       kvb_error *e)
{
    memset(f, 0, sizeof(*f));
    f->task = t;
    char *text;
    size_t len;
    int rc = kvb_read_file(path, KVB_PRED_FILE_MAX, &text, &len, e);
    if (rc)
        return rc;
    size_t valid = kvb_utf8_valid_prefix(text, len);
    if (valid < len) {
        long line = 1;
        for (size_t i = 0; i < valid; i++)
            line += text[i] == '\n';
        free(text);
        return kvb_errorf(e, KVB_EINVAL, "%s:%ld: invalid UTF-8", path, line);
    }
    if (memchr(text, 0, len)) {
        free(text);
        return kvb_errorf(e, KVB_EINVAL, "%s: contains a NUL byte", path);
    }
    loader L = { 0 };
    kvb_strbuf_init(&L.pool);
    char where[4200];
    long lineno = 0;
    for (size_t i = 0; i < len && rc == 0;) {
        /* universal newlines, as Python's text mode: \n, \r\n and \r end a line */
        size_t s = i;
        while (i < len && text[i] != '\n' && text[i] != '\r')
            i++;
        size_t eol = i;
        if (i < len && text[i] == '\r' && i + 1 < len && text[i + 1] == '\n')
            i += 2;
        else if (i < len)
            i++;
        lineno++;
        snprintf(where, sizeof(where), "%s:%ld", path, lineno);
        rc = parse_line(&L, text + s, eol - s, t, need_length, where, e);
    }
    free(text);
    if (rc == 0 && L.nrec == 0)
        rc = kvb_errorf(e, KVB_EINVAL, "%s: no predictions (empty file)", path);
    if (rc == 0 && t->metric == KVB_METRIC_CLASSIFICATION && !L.has_cls)
        rc = kvb_errorf(e, KVB_EINVAL, "%s:%ld: all_classes is null, but %s is a classification task",
                        path, lineno, t->key);
    if (rc) {
        loader_release(&L);
        return rc;
    }
    /* fix the views now that the pool no longer moves */
    file_priv *fp = kvb_calloc(1, sizeof(*fp));
    f->rec = kvb_calloc(L.nrec, sizeof(*f->rec));
    kvb_sv *sv = kvb_calloc(L.nrefs + L.ncls + 1, sizeof(*sv));
    if (!fp || !f->rec || !sv) {
        free(fp);
        free(f->rec);
        free(sv);
        f->rec = NULL;
        loader_release(&L);
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    }
    const char *base = L.pool.buf ? L.pool.buf : "";
    for (size_t k = 0; k < L.nrefs; k++) {
        sv[k].p = base + L.refs[k].off;
        sv[k].n = L.refs[k].n;
    }
    for (size_t r = 0; r < L.nrec; r++) {
        f->rec[r].pred = sv[L.rec_first[r]];
        f->rec[r].answers = sv + L.rec_first[r] + 1;
        f->rec[r].nanswers = L.rec_nans[r];
        f->rec[r].length = L.rec_len[r];
    }
    if (L.has_cls) {
        f->classes = sv + L.nrefs;
        for (size_t k = 0; k < L.ncls; k++) {
            f->classes[k].p = base + L.cls[k].off;
            f->classes[k].n = L.cls[k].n;
        }
        f->nclasses = L.ncls;
    }
    f->n = L.nrec;
    f->path = kvb_strdup(path);
    f->text = kvb_strbuf_detach(&L.pool);
    fp->all_sv = sv;
    f->priv = fp;
    L.pool.buf = NULL;
    loader_release(&L);
    return 0;
}

void kvb_pred_file_release(kvb_pred_file *f)
{
    if (f->priv) {
        free(((file_priv *)f->priv)->all_sv);
        free(f->priv);
    }
    free(f->rec);
    free(f->text);
    free(f->path);
    memset(f, 0, sizeof(*f));
}

/* ---- scoring ----------------------------------------------------------------------------------- */
int kvb_score_pred_file(const kvb_pred_file *f, const kvb_segmenter *seg, int e_mode,
                        kvb_task_score *out, kvb_error *e)
{
    memset(out, 0, sizeof(*out));
    out->task = f->task;
    out->n = f->n;
    out->per_record = kvb_calloc(f->n + 1, sizeof(double));
    double *bucket = kvb_calloc(f->n + 1, sizeof(double));
    if (!out->per_record || !bucket) {
        free(bucket);
        kvb_task_score_release(out);
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    }
    double total = 0.;
    for (size_t r = 0; r < f->n; r++) {
        const kvb_pred_rec *rec = &f->rec[r];
        int rc = kvb_metric_record(f->task, seg, rec->pred, rec->answers, rec->nanswers,
                                   f->classes, f->nclasses, &out->per_record[r], e);
        if (rc) {
            kvb_error_prefix(e, "%s:%zu", f->path ? f->path : "?", r + 1);
            free(bucket);
            kvb_task_score_release(out);
            return rc;
        }
        total += out->per_record[r];
    }
    out->score = kvb_py_round(100 * total / (double)f->n, 2);
    for (int b = 0; b < KVB_E_BUCKETS; b++) {
        size_t m = 0;
        for (size_t r = 0; e_mode && r < f->n; r++)
            if (kvb_bucket_of(f->rec[r].length) == b)
                bucket[m++] = out->per_record[r];
        out->e_n[b] = m;
        out->e[b] = kvb_bucket_score(bucket, m);
    }
    free(bucket);
    return 0;
}

void kvb_task_score_release(kvb_task_score *s)
{
    free(s->per_record);
    free(s->key);
    memset(s, 0, sizeof(*s));
}

/* ---- directories ----------------------------------------------------------------------------- */
static int kvb_eval_dir_set(const char *dir, const kvb_segmenter *seg, const kvb_task **set,
                            int nset, kvb_eval_result *r, kvb_error *e);

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

static int in_set(const kvb_task *t, const kvb_task **set, int nset)
{
    if (!set)
        return 1;
    for (int i = 0; i < nset; i++)
        if (set[i] == t)
            return 1;
    return 0;
}

int kvb_eval_dir(const char *dir, int e_mode, const kvb_segmenter *seg, const char *tasks,
                 kvb_eval_result *r, kvb_error *e)
{
    memset(r, 0, sizeof(*r));
    r->e_mode = e_mode;
    const kvb_task **set = NULL;
    int nset = 0;
    if (tasks && kvb_taskset_parse(tasks, &set, &nset, e))
        return KVB_EINVAL;
    int rc = kvb_eval_dir_set(dir, seg, set, nset, r, e);
    free(set);
    return rc;
}

static int kvb_eval_dir_set(const char *dir, const kvb_segmenter *seg, const kvb_task **set,
                            int nset, kvb_eval_result *r, kvb_error *e)
{
    int e_mode = r->e_mode, rc = 0;
    if (!kvb_is_dir(dir))
        return kvb_errorf(e, KVB_EINVAL, "%s: not a directory", dir);
    char *pred_sub = kvb_path_join(dir, KVB_RUNDIR_PRED);
    if (!pred_sub)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    int run_dir = kvb_is_dir(pred_sub);
    r->pred_dir = run_dir ? pred_sub : kvb_strdup(dir);
    if (!run_dir)
        free(pred_sub);
    r->result_path = kvb_path_join(dir, "result.json");
    if (!r->pred_dir || !r->result_path) {
        kvb_eval_result_release(r);
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    }
    DIR *d = opendir(r->pred_dir);
    if (!d) {
        rc = kvb_errorf(e, KVB_EIO, "%s: cannot open directory", r->pred_dir);
        kvb_eval_result_release(r);
        return rc;
    }
    size_t cap = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (!ends_with(name, "jsonl")) /* eval.py: `if not filename.endswith("jsonl")` */
            continue;
        char *path = kvb_path_join(r->pred_dir, name);
        char *key = kvb_strdup(name);
        if (!path || !key) {
            free(path);
            free(key);
            rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
            break;
        }
        char *dot = strchr(key, '.'); /* dataset = filename.split('.')[0] */
        if (dot)
            *dot = 0;
        const kvb_task *t = kvb_task_find(key);
        if (!t) {
            rc = kvb_errorf(e, KVB_EINVAL, "%s: unknown task '%s' (not a LongBench dataset)", path, key);
        } else if (!in_set(t, set, nset)) {
            free(path);
            free(key);
            continue;
        }
        for (size_t k = 0; rc == 0 && k < r->n; k++)
            if (!strcmp(r->tasks[k].key, key))
                rc = kvb_errorf(e, KVB_EINVAL, "%s: a second prediction file for task '%s'", path, key);
        if (rc == 0 && r->n == cap) {
            cap = cap ? cap * 2 : 32;
            kvb_task_score *v = kvb_realloc(r->tasks, cap * sizeof(*v));
            if (!v)
                rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
            else
                r->tasks = v;
        }
        kvb_pred_file f;
        if (rc == 0)
            rc = kvb_pred_file_load(path, t, e_mode, &f, e);
        if (rc == 0) {
            rc = kvb_score_pred_file(&f, seg, e_mode, &r->tasks[r->n], e);
            kvb_pred_file_release(&f);
        }
        if (rc == 0) {
            r->tasks[r->n++].key = key;
            key = NULL;
        }
        free(key);
        free(path);
    }
    closedir(d);
    if (rc == 0 && r->n == 0)
        rc = kvb_errorf(e, KVB_EINVAL, "%s: no prediction files (<task>.jsonl)", r->pred_dir);
    if (rc)
        kvb_eval_result_release(r);
    return rc;
}

void kvb_eval_result_release(kvb_eval_result *r)
{
    for (size_t k = 0; k < r->n; k++)
        kvb_task_score_release(&r->tasks[k]);
    free(r->tasks);
    free(r->pred_dir);
    free(r->result_path);
    memset(r, 0, sizeof(*r));
}

/* json.dumps of a str key with ensure_ascii=False */
static int json_str(kvb_strbuf *o, const char *s)
{
    int rc = kvb_strbuf_add(o, "\"", 1);
    for (; *s && rc == 0; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"')
            rc = kvb_strbuf_adds(o, "\\\"");
        else if (c == '\\')
            rc = kvb_strbuf_adds(o, "\\\\");
        else if (c == '\n')
            rc = kvb_strbuf_adds(o, "\\n");
        else if (c == '\r')
            rc = kvb_strbuf_adds(o, "\\r");
        else if (c == '\t')
            rc = kvb_strbuf_adds(o, "\\t");
        else if (c == '\b')
            rc = kvb_strbuf_adds(o, "\\b");
        else if (c == '\f')
            rc = kvb_strbuf_adds(o, "\\f");
        else if (c < 0x20)
            rc = kvb_strbuf_addf(o, "\\u%04x", c);
        else
            rc = kvb_strbuf_add(o, (const char *)&c, 1);
    }
    return rc ? rc : kvb_strbuf_add(o, "\"", 1);
}

int kvb_eval_result_json(const kvb_eval_result *r, kvb_strbuf *o)
{
    char num[64];
    int rc = 0;
    if (r->n == 0)
        return kvb_strbuf_adds(o, "{}");
    rc |= kvb_strbuf_adds(o, "{\n");
    for (size_t k = 0; k < r->n; k++) {
        const kvb_task_score *t = &r->tasks[k];
        rc |= kvb_strbuf_adds(o, "    ");
        rc |= json_str(o, t->key);
        rc |= kvb_strbuf_adds(o, ": ");
        if (r->e_mode) {
            rc |= kvb_strbuf_adds(o, "{\n");
            for (int b = 0; b < KVB_E_BUCKETS; b++) {
                kvb_py_repr(t->e[b], 1, num, sizeof(num));
                rc |= kvb_strbuf_addf(o, "        \"%s\": %s%s\n", kvb_bucket_names[b], num,
                                      b + 1 < KVB_E_BUCKETS ? "," : "");
            }
            rc |= kvb_strbuf_adds(o, "    }");
        } else {
            kvb_py_repr(t->score, 1, num, sizeof(num));
            rc |= kvb_strbuf_adds(o, num);
        }
        rc |= kvb_strbuf_adds(o, k + 1 < r->n ? ",\n" : "\n");
    }
    rc |= kvb_strbuf_adds(o, "}");
    return rc ? KVB_ENOMEM : 0;
}

int kvb_eval_average(const kvb_eval_result *r, const char *set, double *avg)
{
    const kvb_task **v;
    int nv;
    *avg = NAN;
    if (kvb_taskset_parse(set, &v, &nv, NULL))
        return 0;
    double sum = 0;
    int found = 0;
    for (size_t k = 0; k < r->n; k++)
        for (int i = 0; i < nv; i++)
            if (r->tasks[k].task == v[i]) {
                sum += r->tasks[k].score;
                found++;
            }
    free(v);
    if (found)
        *avg = sum / found;
    return found;
}
