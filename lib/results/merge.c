/* kvbench merge: join the run directories of `kvbench run --shard i/N`.
 *
 * Shard i holds the records whose index % N == i. The merged prediction files list every line in
 * the original record order ("_index"), and the task scores are recomputed from the per-record
 * scores in that order by the same code `kvbench run` uses, so result.json is byte-identical to an
 * unsharded run's. */
#include "results.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* ---- checking that the shards belong together --------------------------------------------- */
static int differ(const char *what, const char *a, const char *b, const char *pa, const char *pb,
                  kvb_error *e)
{
    if (!strcmp(a ? a : "", b ? b : ""))
        return 0;
    return kvb_errorf(e, KVB_EINVAL, "%s: %s differs from %s's (%.60s vs %.60s): not shards of one run",
                      pb, what, pa, b ? b : "", a ? a : "");
}

static int files_differ(const kvb_run *a, const kvb_run *b, const char *pa, const char *pb,
                        kvb_error *e)
{
    if (a->n_files != b->n_files)
        return kvb_errorf(e, KVB_EINVAL, "%s: data files differ from %s's: not shards of one run", pb,
                          pa);
    for (int i = 0; i < a->n_files; i++) {
        int found = 0;
        for (int k = 0; k < b->n_files; k++)
            if (!strcmp(a->files[i].task, b->files[k].task)) {
                found = 1;
                if (strcmp(a->files[i].sha256, b->files[k].sha256))
                    return kvb_errorf(e, KVB_EINVAL,
                                      "%s: data file of task %s differs from %s's (sha256): not "
                                      "shards of one run",
                                      pb, a->files[i].task, pa);
            }
        if (!found)
            return kvb_errorf(e, KVB_EINVAL, "%s: no data file for task %s, unlike %s", pb,
                              a->files[i].task, pa);
    }
    return 0;
}

static int tasks_differ(const kvb_run *a, const kvb_run *b, const char *pa, const char *pb,
                        kvb_error *e)
{
    if (a->n_tasks != b->n_tasks)
        return kvb_errorf(e, KVB_EINVAL, "%s: %d tasks, %s has %d: not shards of one run", pb,
                          b->n_tasks, pa, a->n_tasks);
    for (int i = 0; i < a->n_tasks; i++)
        if (strcmp(a->tasks[i].name, b->tasks[i].name))
            return kvb_errorf(e, KVB_EINVAL, "%s: task %d is %s, %s has %s: not shards of one run",
                              pb, i, b->tasks[i].name, pa, a->tasks[i].name);
    return 0;
}

static int check_shards(const kvb_run *s, const char *const *paths, int n, kvb_error *e)
{
    const kvb_run *a = &s[0];
    for (int i = 1; i < n; i++) {
        const kvb_run *b = &s[i];
        int rc = differ("model", a->model_name, b->model_name, paths[0], paths[i], e);
        rc = rc ? rc : differ("model fingerprint", a->model_fingerprint, b->model_fingerprint, paths[0], paths[i], e);
        /* a GPU shard's bf16 activations can pick other near-tied tokens than a CPU shard's */
        rc = rc ? rc : differ("device", a->device, b->device, paths[0], paths[i], e);
        rc = rc ? rc : differ("method", a->method_name, b->method_name, paths[0], paths[i], e);
        rc = rc ? rc : differ("method parameters", a->method_params, b->method_params, paths[0], paths[i], e);
        rc = rc ? rc : differ("settings", a->settings, b->settings, paths[0], paths[i], e);
        rc = rc ? rc : differ("chat template", a->chat_template, b->chat_template, paths[0], paths[i], e);
        rc = rc ? rc : differ("tool commit", a->git_commit, b->git_commit, paths[0], paths[i], e);
        rc = rc ? rc : differ("tool version", a->tool_version, b->tool_version, paths[0], paths[i], e);
        rc = rc ? rc : files_differ(a, b, paths[0], paths[i], e);
        rc = rc ? rc : tasks_differ(a, b, paths[0], paths[i], e);
        if (rc)
            return rc;
        if (b->shard_count != a->shard_count)
            return kvb_errorf(e, KVB_EINVAL, "%s: shard %ld/%ld, but %s is shard %ld/%ld", paths[i],
                              b->shard_index, b->shard_count, paths[0], a->shard_index,
                              a->shard_count);
        for (int k = 0; k < i; k++)
            if (s[k].shard_index == b->shard_index)
                return kvb_errorf(e, KVB_EINVAL, "%s and %s are both shard %ld/%ld (overlap)",
                                  paths[k], paths[i], b->shard_index, b->shard_count);
    }
    if (a->shard_count != n) {
        kvb_strbuf sb;
        kvb_strbuf_init(&sb);
        for (long k = 0; k < a->shard_count; k++) {
            int have = 0;
            for (int i = 0; i < n; i++)
                have |= s[i].shard_index == k;
            if (!have)
                kvb_strbuf_addf(&sb, "%s%ld", sb.len ? ", " : "", k);
        }
        int rc = kvb_errorf(e, KVB_EINVAL, "%ld shards expected (%s is shard %ld/%ld), %d given: "
                                           "missing shard %s",
                            a->shard_count, paths[0], a->shard_index, a->shard_count, n,
                            sb.buf ? sb.buf : "?");
        kvb_strbuf_release(&sb);
        return rc;
    }
    return 0;
}

/* ---- joining line files ------------------------------------------------------------------- */
typedef struct mline {
    long index;
    const char *text;
    size_t len;
    char *id; /* pred lines: "_id" (NULL when absent), to place memory lines without "_index" */
    kvb_run_record rec;
} mline;

typedef struct mfile {
    char **bufs; /* the files' texts: lines point into them */
    int n_bufs;
    mline *lines;
    long n, cap;
} mfile;

static int line_cmp(const void *x, const void *y)
{
    long a = ((const mline *)x)->index, b = ((const mline *)y)->index;
    return (a > b) - (a < b);
}

/* (id, index) of the pred lines, sorted by id: memory lines that carry only "_id" are placed by
 * their record's index. */
typedef struct id_index {
    const char *id;
    long index;
} id_index;

static int idx_cmp(const void *x, const void *y)
{
    return strcmp(((const id_index *)x)->id, ((const id_index *)y)->id);
}

static int line_index(const cJSON *j, const char *where, const id_index *ids, long n_ids,
                      long *index, kvb_error *e)
{
    if (cJSON_GetObjectItemCaseSensitive(j, "_index")) {
        long long ix;
        int rc = kvb_json_get_int(j, "_index", 0, (long long)1 << 50, &ix, where, e);
        *index = (long)ix;
        return rc;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "_id");
    if (!cJSON_IsString(id))
        return kvb_errorf(e, KVB_EINVAL, "%s: neither '_index' nor '_id' to place this line", where);
    id_index key = { id->valuestring, 0 };
    const id_index *hit = ids ? bsearch(&key, ids, (size_t)n_ids, sizeof(*ids), idx_cmp) : NULL;
    if (!hit)
        return kvb_errorf(e, KVB_EINVAL, "%s: _id '%.80s' has no prediction line", where,
                          id->valuestring);
    *index = hit->index;
    return 0;
}

/* Read one shard's file and append its lines. pred files carry the record fields; memory traces
 * "_index", or "_id" looked up in ids. */
static int read_lines(mfile *m, const char *path, long shard, long count, int is_pred,
                      const id_index *ids, long n_ids, kvb_error *e)
{
    size_t len;
    char *text;
    int rc = kvb_read_file(path, KVB_PRED_MAX_BYTES, &text, &len, e);
    if (rc)
        return e ? (e->code = KVB_EINVAL) : KVB_EINVAL;
    long lineno = 0;
    char where[600];
    for (char *p = text; !rc && p < text + len;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        char *end = nl ? nl : text + len;
        lineno++;
        snprintf(where, sizeof(where), "%s:%ld", path, lineno);
        if (end == p) {
            p = end + 1;
            continue;
        }
        if (m->n == m->cap) {
            long cap = m->cap ? 2 * m->cap : 256;
            mline *v = kvb_realloc(m->lines, (size_t)cap * sizeof(*v));
            if (!v) {
                rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
                break;
            }
            m->lines = v;
            m->cap = cap;
        }
        mline *l = &m->lines[m->n];
        memset(l, 0, sizeof(*l));
        l->text = p;
        l->len = (size_t)(end - p);
        cJSON *j = kvb_json_parse_limited(p, l->len);
        if (!j) {
            rc = kvb_errorf(e, KVB_EINVAL, "%s: not valid JSON%s", where, nl ? "" : " (truncated?)");
        } else if (is_pred) {
            rc = kvb_pred_get_record(j, where, &l->index, &l->rec, e);
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "_id");
            if (!rc && cJSON_IsString(id) && !(l->id = kvb_strdup(id->valuestring)))
                rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
        } else {
            rc = line_index(j, where, ids, n_ids, &l->index, e);
        }
        cJSON_Delete(j);
        if (!rc && l->index % count != shard)
            rc = kvb_errorf(e, KVB_EINVAL, "%s: record %ld does not belong to shard %ld/%ld", where,
                            l->index, shard, count);
        if (rc)
            free(l->id);
        m->n += !rc;
        p = end + 1;
    }
    char **b = rc ? NULL : kvb_realloc(m->bufs, (size_t)(m->n_bufs + 1) * sizeof(char *));
    if (!b) {
        free(text);
        return rc ? rc : kvb_errorf(e, KVB_ENOMEM, "out of memory");
    }
    b[m->n_bufs++] = text;
    m->bufs = b;
    return 0;
}

static void mfile_release(mfile *m)
{
    for (int i = 0; i < m->n_bufs; i++)
        free(m->bufs[i]);
    for (long i = 0; i < m->n; i++)
        free(m->lines[i].id);
    free(m->bufs);
    free(m->lines);
    memset(m, 0, sizeof(*m));
}

/* Sort by record index, refuse duplicates, write the joined file atomically. */
static int write_sorted(mfile *m, const char *out_path, kvb_error *e)
{
    qsort(m->lines, (size_t)m->n, sizeof(*m->lines), line_cmp);
    for (long i = 1; i < m->n; i++)
        if (m->lines[i].index == m->lines[i - 1].index)
            return kvb_errorf(e, KVB_EINVAL, "%s: record %ld appears in two shards (overlap)",
                              out_path, m->lines[i].index);
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    int rc = 0;
    for (long i = 0; i < m->n && !rc; i++)
        rc = kvb_strbuf_add(&sb, m->lines[i].text, m->lines[i].len) || kvb_strbuf_adds(&sb, "\n");
    if (rc) {
        kvb_strbuf_release(&sb);
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    }
    rc = kvb_write_file_atomic(out_path, sb.buf ? sb.buf : "", sb.len, e);
    kvb_strbuf_release(&sb);
    return rc;
}

/* ---- merging ------------------------------------------------------------------------------ */
static int merge_task(const kvb_run *s, const char *const *paths, int n, int t, const char *out_dir,
                      kvb_run *out, kvb_error *e)
{
    const kvb_run_task *t0 = &s[0].tasks[t];
    kvb_run_task *mt = kvb_run_add_task(out, t0->name, t0->metric, e);
    if (!mt)
        return e ? e->code : KVB_ENOMEM;
    if (t0->has_buckets)
        kvb_run_task_want_buckets(mt);
    mfile pred = { 0 }, mem = { 0 };
    int rc = 0, n_mem = 0;
    for (int i = 0; i < n && !rc; i++) {
        const kvb_run_task *ti = &s[i].tasks[t];
        char *f = kvb_rundir_task_file(paths[i], KVB_RUNDIR_PRED, t0->name);
        long before = pred.n;
        rc = f ? read_lines(&pred, f, s[i].shard_index, s[i].shard_count, 1, NULL, 0, e)
               : kvb_errorf(e, KVB_ENOMEM, "out of memory");
        if (!rc && pred.n - before != ti->n)
            rc = kvb_errorf(e, KVB_EINVAL, "%s: %ld records, but run.json says %ld", f,
                            pred.n - before, ti->n);
        free(f);
        mt->n_bad += ti->n_bad;
        mt->wall_s += ti->wall_s;
    }
    id_index *ids = rc ? NULL : kvb_calloc((size_t)pred.n + 1, sizeof(*ids));
    long n_ids = 0;
    if (!rc && !ids)
        rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
    for (long i = 0; !rc && i < pred.n; i++)
        if (pred.lines[i].id)
            ids[n_ids++] = (id_index){ pred.lines[i].id, pred.lines[i].index };
    if (!rc)
        qsort(ids, (size_t)n_ids, sizeof(*ids), idx_cmp);
    for (int i = 0; i < n && !rc; i++) {
        char *f = kvb_rundir_task_file(paths[i], KVB_RUNDIR_MEMORY, t0->name);
        if (f && kvb_file_exists(f)) {
            n_mem++;
            rc = read_lines(&mem, f, s[i].shard_index, s[i].shard_count, 0, ids, n_ids, e);
        }
        free(f);
    }
    free(ids);
    if (!rc && n_mem && n_mem != n)
        rc = kvb_errorf(e, KVB_EINVAL, "task %s: memory traces in %d of %d shards", t0->name, n_mem, n);
    char *pf = kvb_rundir_task_file(out_dir, KVB_RUNDIR_PRED, t0->name);
    char *mf = kvb_rundir_task_file(out_dir, KVB_RUNDIR_MEMORY, t0->name);
    if (!rc)
        rc = write_sorted(&pred, pf, e);
    /* Records are added in the original order: the same sums as the unsharded run. */
    for (long i = 0; !rc && i < pred.n; i++)
        rc = kvb_run_task_add_record(mt, &pred.lines[i].rec, e);
    if (!rc && n_mem)
        rc = write_sorted(&mem, mf, e);
    free(pf);
    free(mf);
    mfile_release(&pred);
    mfile_release(&mem);
    return rc;
}

static int copy_head(const kvb_run *a, kvb_run *out, kvb_error *e)
{
    int rc = kvb_run_set_str(&out->tool_version, a->tool_version, e);
    rc = rc ? rc : kvb_run_set_str(&out->git_commit, a->git_commit, e);
    rc = rc ? rc : kvb_run_set_str(&out->cpu, a->cpu, e);
    rc = rc ? rc : kvb_run_set_machine(out, a->threads, a->flags, a->gpu, e);
    rc = rc ? rc : kvb_run_set_device(out, a->device, a->cuda_driver, a->cuda_runtime,
                                      a->device_bytes, e);
    rc = rc ? rc : kvb_run_set_model(out, a->model_name, a->model_repo, a->model_path,
                                     a->model_dtype, a->model_fingerprint, e);
    rc = rc ? rc : kvb_run_set_method(out, a->method_name, a->method_params, e);
    rc = rc ? rc : kvb_run_set_settings(out, a->settings, e);
    rc = rc ? rc : kvb_run_set_str(&out->chat_template, a->chat_template, e);
    rc = rc ? rc : kvb_run_set_str(&out->data_dir, a->data_dir, e);
    for (int i = 0; !rc && i < a->n_files; i++)
        rc = kvb_run_add_data_file(out, a->files[i].task, a->files[i].sha256, e);
    return rc;
}

int kvb_merge_runs(const char *const *shards, int n, const char *out_dir, kvb_error *e)
{
    if (n < 1)
        return kvb_errorf(e, KVB_EINVAL, "merge: no shard given");
    char *out_real = realpath(out_dir, NULL); /* NULL when it does not exist yet */
    for (int i = 0; i < n; i++) {
        char *r = realpath(shards[i], NULL);
        int same = r && out_real && !strcmp(r, out_real);
        free(r);
        if (same) {
            free(out_real);
            return kvb_errorf(e, KVB_EINVAL, "%s: --out is one of the shards; merge into another "
                                             "directory",
                              out_dir);
        }
        if (!kvb_is_dir(shards[i])) {
            free(out_real);
            return kvb_errorf(e, KVB_EINVAL, "%s: not a run directory (merge needs the shards' "
                                             "directories, with pred/)",
                              shards[i]);
        }
    }
    free(out_real);
    kvb_run *s = kvb_calloc((size_t)n, sizeof(*s));
    if (!s)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    int rc = 0, loaded = 0;
    for (; loaded < n && !rc; loaded++)
        rc = kvb_run_load(shards[loaded], &s[loaded], e);
    rc = rc ? rc : check_shards(s, shards, n, e);
    kvb_run out;
    kvb_run_init(&out);
    char *pd = kvb_path_join(out_dir, KVB_RUNDIR_PRED);
    char *md = kvb_path_join(out_dir, KVB_RUNDIR_MEMORY);
    rc = rc ? rc : kvb_mkdir_p(pd, e);
    rc = rc ? rc : copy_head(&s[0], &out, e);
    for (int t = 0; !rc && t < s[0].n_tasks; t++) {
        char *f = kvb_rundir_task_file(shards[0], KVB_RUNDIR_MEMORY, s[0].tasks[t].name);
        if (f && kvb_file_exists(f))
            rc = kvb_mkdir_p(md, e);
        free(f);
        rc = rc ? rc : merge_task(s, shards, n, t, out_dir, &out, e);
    }
    for (int i = 0; !rc && i < n; i++)
        out.peak_rss_bytes = KVB_MAX(out.peak_rss_bytes, s[i].peak_rss_bytes);
    rc = rc ? rc : kvb_run_finish(&out, e);
    char *rj = kvb_path_join(out_dir, "result.json"), *runj = kvb_path_join(out_dir, "run.json");
    rc = rc ? rc : kvb_result_json_write(&out, rj, e);
    rc = rc ? rc : kvb_run_write(&out, runj, e);
    free(rj);
    free(runj);
    free(pd);
    free(md);
    kvb_run_release(&out);
    for (int i = 0; i < n; i++)
        kvb_run_release(&s[i]);
    free(s);
    return rc;
}
