/* The run directory (DESIGN.md "Outputs"): pred/<task>.jsonl, memory/<task>.jsonl and
 * fingerprint.json, the commit point of a record and --resume.
 *
 * A record is committed when its prediction line is on disk: the memory line is appended first,
 * then the prediction line, each with one write() and fdatasync. Resuming drops a torn last line
 * (the writer was killed mid-line), reloads the committed records in file order and keeps only
 * the memory lines of committed records. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "results/results.h"

struct kvb_rundir {
    char *dir;
    int resume;
    cJSON *fp; /* fingerprint.json */
    int fp_dirty;
    int fp_on_disk; /* fp was read from an existing fingerprint.json (a resumed directory) */
    char *pred_path, *mem_path; /* of the current task */
    char **ids;                 /* _ids committed in the current task */
    long n_ids, cap_ids;
};

/* ---- files --------------------------------------------------------------------------------- */

char *kvb_rundir_task_file(const char *dir, const char *sub, const char *task)
{
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    kvb_strbuf_addf(&sb, "%s/%s/%s.jsonl", dir, sub, task);
    return kvb_strbuf_detach(&sb);
}

char *kvb_rundir_default_path(const char *model, const char *method, const char *const *names,
                              const char *const *values, int n, long shard_i, long shard_n)
{
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    kvb_strbuf_addf(&sb, "results/%s/%s", model, method);
    for (int i = 0; i < n; i++)
        if (values[i])
            kvb_strbuf_addf(&sb, "-%s%s", names[i], values[i]);
    if (shard_n > 1)
        kvb_strbuf_addf(&sb, "/shard-%ld-of-%ld", shard_i, shard_n);
    /* keep names filesystem-safe: parameters come from the command line */
    for (size_t i = 8; i < sb.len; i++)
        if (!(sb.buf[i] == '/' || sb.buf[i] == '-' || sb.buf[i] == '.' || sb.buf[i] == '_' ||
              (sb.buf[i] >= '0' && sb.buf[i] <= '9') || (sb.buf[i] >= 'a' && sb.buf[i] <= 'z') ||
              (sb.buf[i] >= 'A' && sb.buf[i] <= 'Z') || sb.buf[i] == '+'))
            sb.buf[i] = '_';
    return kvb_strbuf_detach(&sb);
}

static int refuse_symlink(const char *path, kvb_error *e)
{
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
        return kvb_errorf(e, KVB_EINVAL, "%s: is a symbolic link (kvbench never writes through one)",
                          path);
    return 0;
}

int kvb_rundir_check(const char *dir, kvb_error *e)
{
    /* --out itself may be a symlink (the user's choice); pred/ and memory/ may not */
    char *pd = kvb_path_join(dir, KVB_RUNDIR_PRED), *md = kvb_path_join(dir, KVB_RUNDIR_MEMORY);
    int rc = refuse_symlink(pd, e);
    if (!rc)
        rc = refuse_symlink(md, e);
    free(pd);
    free(md);
    return rc;
}

/* Append one line and make it durable. */
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

/* ---- committed _ids ------------------------------------------------------------------------ */

int kvb_rundir_is_done(const kvb_rundir *d, const char *id)
{
    for (long i = 0; i < d->n_ids; i++)
        if (!strcmp(d->ids[i], id))
            return 1;
    return 0;
}

static void ids_clear(kvb_rundir *d)
{
    for (long i = 0; i < d->n_ids; i++)
        free(d->ids[i]);
    d->n_ids = 0;
}

static int ids_add(kvb_rundir *d, const char *id, kvb_error *e)
{
    if (d->n_ids == d->cap_ids) {
        long nc = d->cap_ids ? d->cap_ids * 2 : 64;
        char **v = kvb_realloc(d->ids, (size_t)nc * sizeof(char *));
        if (!v)
            return kvb_errorf(e, KVB_ENOMEM, "out of memory");
        d->ids = v, d->cap_ids = nc;
    }
    if (!(d->ids[d->n_ids] = kvb_strdup(id)))
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    d->n_ids++;
    return 0;
}

/* Each complete line of `data` (lines end in '\n'), parsed, with its "_id" (NULL when absent). */
typedef int (*line_fn)(kvb_rundir *d, const char *line, size_t n, cJSON *o, const char *id,
                       long line_no, void *arg, kvb_error *e);

static int for_each_line(kvb_rundir *d, const char *data, size_t len, line_fn fn, void *arg,
                         kvb_error *e)
{
    long line_no = 0;
    int rc = 0;
    for (const char *p = data; p < data + len && !rc;) {
        const char *nl = memchr(p, '\n', (size_t)(data + len - p));
        size_t n = (size_t)(nl - p);
        cJSON *o = kvb_json_parse_limited(p, n);
        const cJSON *id = o ? cJSON_GetObjectItemCaseSensitive(o, "_id") : NULL;
        rc = fn(d, p, n, o, cJSON_IsString(id) ? id->valuestring : NULL, ++line_no, arg, e);
        cJSON_Delete(o);
        p = nl + 1;
    }
    return rc;
}

/* A prediction line: every complete line must parse; its record goes back into the run task in
 * file order (= record order), so the final scores are those of an uninterrupted run. */
static int load_pred_line(kvb_rundir *d, const char *line, size_t n, cJSON *o, const char *id,
                          long line_no, void *arg, kvb_error *e)
{
    (void)line, (void)n;
    char where[4200];
    snprintf(where, sizeof(where), "%.4000s:%ld", d->pred_path, line_no);
    if (!id)
        return kvb_errorf(e, KVB_EINVAL, "%s: not a prediction line of kvbench", where);
    if (kvb_rundir_is_done(d, id))
        return kvb_errorf(e, KVB_EINVAL, "%s: _id %.100s appears twice", where, id);
    long index;
    kvb_run_record rec;
    memset(&rec, 0, sizeof(rec));
    int rc = kvb_pred_get_record(o, where, &index, &rec, e);
    if (!rc)
        rc = kvb_run_task_add_record(arg, &rec, e);
    return rc ? rc : ids_add(d, id, e);
}

/* A memory line: kept only when its record is committed (a kill between the memory line and the
 * prediction line leaves one extra). */
static int keep_mem_line(kvb_rundir *d, const char *line, size_t n, cJSON *o, const char *id,
                         long line_no, void *arg, kvb_error *e)
{
    (void)o, (void)line_no, (void)e;
    kvb_strbuf *out = arg;
    if (id && kvb_rundir_is_done(d, id))
        kvb_strbuf_add(out, line, n + 1);
    return 0;
}

static int load_pred(kvb_rundir *d, kvb_run_task *t, kvb_error *e)
{
    char *data;
    size_t len;
    int rc = repair_torn(d->pred_path, &data, &len, e);
    if (!rc && data)
        rc = for_each_line(d, data, len, load_pred_line, t, e);
    free(data);
    return rc;
}

static int repair_memory(kvb_rundir *d, kvb_error *e)
{
    char *data;
    size_t len;
    int rc = repair_torn(d->mem_path, &data, &len, e);
    if (rc || !data)
        return rc;
    kvb_strbuf out;
    kvb_strbuf_init(&out);
    rc = for_each_line(d, data, len, keep_mem_line, &out, e);
    if (!rc && out.len != len)
        rc = kvb_write_file_atomic(d->mem_path, out.buf ? out.buf : "", out.len, e);
    kvb_strbuf_release(&out);
    free(data);
    return rc;
}

/* ---- the directory ------------------------------------------------------------------------- */

int kvb_rundir_open(kvb_rundir **out, const char *dir, int resume, kvb_error *e)
{
    *out = NULL;
    kvb_rundir *d = kvb_calloc(1, sizeof(*d));
    if (!d || !(d->dir = kvb_strdup(dir))) {
        free(d);
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    }
    d->resume = resume;
    char *pd = kvb_path_join(dir, KVB_RUNDIR_PRED), *md = kvb_path_join(dir, KVB_RUNDIR_MEMORY);
    char *path = kvb_path_join(dir, "fingerprint.json");
    int rc = kvb_rundir_check(dir, e);
    if (!rc)
        rc = kvb_mkdir_p(pd, e);
    if (!rc)
        rc = kvb_mkdir_p(md, e);
    if (rc)
        goto out;
    if (kvb_file_exists(path)) {
        if (!resume) {
            rc = kvb_errorf(e, KVB_EINVAL,
                            "%s already holds a run; pass --resume to continue it, or choose "
                            "another --out",
                            dir);
            goto out;
        }
        if ((rc = kvb_json_load(path, 1 << 20, &d->fp, e)))
            goto out;
        if (!cJSON_IsObject(d->fp))
            rc = kvb_errorf(e, KVB_EINVAL, "%s: not a JSON object", path);
        d->fp_on_disk = 1;
    } else {
        d->fp = cJSON_CreateObject();
        cJSON_AddStringToObject(d->fp, "kind", "kvbench-run-fingerprint");
        d->fp_dirty = 1;
    }
out:
    free(pd);
    free(md);
    free(path);
    if (rc)
        kvb_rundir_free(d);
    else
        *out = d;
    return rc;
}

void kvb_rundir_free(kvb_rundir *d)
{
    if (!d)
        return;
    ids_clear(d);
    free(d->ids);
    free(d->pred_path);
    free(d->mem_path);
    cJSON_Delete(d->fp);
    free(d->dir);
    free(d);
}

const char *kvb_rundir_path(const kvb_rundir *d)
{
    return d->dir;
}

int kvb_rundir_fp_check(kvb_rundir *d, const char *key, const char *value, kvb_error *e)
{
    const cJSON *have = cJSON_GetObjectItemCaseSensitive(d->fp, key);
    if (have) {
        if (!cJSON_IsString(have) || strcmp(have->valuestring, value))
            return kvb_errorf(e, KVB_EINVAL,
                              "%s: made with %s = %.200s, this run has %.200s; refusing to mix "
                              "them (use another --out)",
                              d->dir, key, cJSON_IsString(have) ? have->valuestring : "?", value);
        return 0;
    }
    cJSON_AddStringToObject(d->fp, key, value);
    d->fp_dirty = 1;
    return 0;
}

int kvb_rundir_fp_check_since(kvb_rundir *d, const char *key, const char *value,
                              const char *before, kvb_error *e)
{
    /* written to disk without this key: the directory predates the key */
    if (d->fp_on_disk && !cJSON_GetObjectItemCaseSensitive(d->fp, key)) {
        int rc = kvb_rundir_fp_check(d, key, before, e);
        if (rc)
            return rc;
    }
    return kvb_rundir_fp_check(d, key, value, e);
}

int kvb_rundir_fp_save(kvb_rundir *d, kvb_error *e)
{
    if (!d->fp_dirty)
        return 0;
    char *s = cJSON_Print(d->fp), *path = kvb_path_join(d->dir, "fingerprint.json");
    int rc = kvb_write_file_atomic(path, s, strlen(s), e);
    free(s);
    free(path);
    d->fp_dirty = 0;
    return rc;
}

int kvb_rundir_task_begin(kvb_rundir *d, const char *task, kvb_run_task *t, kvb_error *e)
{
    ids_clear(d);
    free(d->pred_path);
    free(d->mem_path);
    d->pred_path = kvb_rundir_task_file(d->dir, KVB_RUNDIR_PRED, task);
    d->mem_path = kvb_rundir_task_file(d->dir, KVB_RUNDIR_MEMORY, task);
    if (!d->pred_path || !d->mem_path)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    if (!kvb_file_exists(d->pred_path) && !kvb_file_exists(d->mem_path))
        return 0;
    if (!d->resume)
        return kvb_errorf(e, KVB_EINVAL,
                          "%s already has predictions for %s; pass --resume to continue that "
                          "run, or choose another --out",
                          d->dir, task);
    int rc = load_pred(d, t, e);
    return rc ? rc : repair_memory(d, e);
}

int kvb_rundir_commit(kvb_rundir *d, const char *id, const char *pred_line, const char *mem_line,
                      kvb_error *e)
{
    if (!d->pred_path)
        return kvb_errorf(e, KVB_EINVAL, "%s: commit before kvb_rundir_task_begin", d->dir);
    /* memory line first: the prediction line commits the record */
    int rc = mem_line ? append_line(d->mem_path, mem_line, e) : 0;
    if (!rc)
        rc = append_line(d->pred_path, pred_line, e);
    return rc ? rc : ids_add(d, id, e);
}
