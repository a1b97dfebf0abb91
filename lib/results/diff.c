/* kvbench diff: two runs side by side, per task and on the average, with a paired bootstrap over
 * the records both runs scored (matched by _id), so that a small change on few records is not
 * called a regression. */
#include "results.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- matching records by _id -------------------------------------------------------------- */
typedef struct id_ix {
    const char *id;
    long i;
} id_ix;

static int id_cmp(const void *x, const void *y)
{
    return strcmp(((const id_ix *)x)->id, ((const id_ix *)y)->id);
}

/* Sorted (id, position) of a run's records; duplicate _id is refused (pairs would be ambiguous). */
static int index_ids(const kvb_pred_scores *p, const char *dir, const char *task, id_ix **out,
                     kvb_error *e)
{
    id_ix *v = kvb_malloc((size_t)p->n * sizeof(*v) + 1);
    if (!v)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    for (long i = 0; i < p->n; i++)
        v[i] = (id_ix){ p->ids[i], i };
    qsort(v, (size_t)p->n, sizeof(*v), id_cmp);
    for (long i = 1; i < p->n; i++)
        if (!strcmp(v[i - 1].id, v[i].id)) {
            int rc = kvb_errorf(e, KVB_EINVAL, "%s/pred/%s.jsonl: _id '%.80s' appears twice", dir,
                                task, v[i].id);
            free(v);
            return rc;
        }
    *out = v;
    return 0;
}

/* Pairs (a, b) of the records in both runs, in A's record order. */
static int pair_task(const char *dir_a, const char *dir_b, const char *task, double **pa,
                     double **pb, long *n, int *available, kvb_error *e)
{
    *pa = *pb = NULL;
    *n = 0;
    *available = 0;
    char *fa = kvb_rundir_task_file(dir_a, KVB_RUNDIR_PRED, task);
    char *fb = kvb_rundir_task_file(dir_b, KVB_RUNDIR_PRED, task);
    int have = kvb_file_exists(fa) && kvb_file_exists(fb);
    free(fa);
    free(fb);
    if (!have)
        return 0; /* a run.json without predictions (e.g. a committed baseline): no interval */
    kvb_pred_scores A, B;
    int rc = kvb_pred_scores_load(dir_a, task, &A, e);
    if (rc)
        return rc;
    if ((rc = kvb_pred_scores_load(dir_b, task, &B, e))) {
        kvb_pred_scores_release(&A);
        return rc;
    }
    id_ix *ia = NULL, *ib = NULL;
    rc = index_ids(&A, dir_a, task, &ia, e);
    rc = rc ? rc : index_ids(&B, dir_b, task, &ib, e);
    if (!rc) {
        *pa = kvb_malloc((size_t)A.n * sizeof(double) + 1);
        *pb = kvb_malloc((size_t)A.n * sizeof(double) + 1);
        if (!*pa || !*pb)
            rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
    }
    for (long i = 0; !rc && i < A.n; i++) {
        id_ix key = { A.ids[i], 0 };
        const id_ix *hit = bsearch(&key, ib, (size_t)B.n, sizeof(*ib), id_cmp);
        if (hit) {
            (*pa)[*n] = A.scores[i];
            (*pb)[*n] = B.scores[hit->i];
            (*n)++;
        }
    }
    *available = !rc;
    free(ia);
    free(ib);
    kvb_pred_scores_release(&A);
    kvb_pred_scores_release(&B);
    if (rc) {
        free(*pa);
        free(*pb);
        *pa = *pb = NULL;
    }
    return rc;
}

/* ---- the comparison ----------------------------------------------------------------------- */
static void fill_row(kvb_diff_row *row, const kvb_run_task *ta, const kvb_run_task *tb)
{
    memset(row, 0, sizeof(*row));
    row->task = ta->name;
    row->a = ta->score;
    row->b = tb->score;
    row->delta = tb->score - ta->score;
    row->cr_a = ta->compression_ratio;
    row->cr_b = tb->compression_ratio;
    row->peak_a = ta->peak_kv_bytes;
    row->peak_b = tb->peak_kv_bytes;
    row->ms_a = ta->decode_ms_per_token;
    row->ms_b = tb->decode_ms_per_token;
}

static int same_model(const kvb_run *a, const kvb_run *b)
{
    return !strcmp(a->model_name, b->model_name) &&
           !strcmp(a->model_fingerprint, b->model_fingerprint);
}

static int list_only(const kvb_run *x, const kvb_run *y, const char ***out, int *n, kvb_error *e)
{
    *out = kvb_calloc((size_t)x->n_tasks + 1, sizeof(char *));
    if (!*out)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    for (int i = 0; i < x->n_tasks; i++)
        if (!kvb_run_find_task(y, x->tasks[i].name))
            (*out)[(*n)++] = x->tasks[i].name;
    return 0;
}

static int bootstrap_rows(kvb_diff *d, const kvb_diff_opts *o, kvb_error *e)
{
    char *dir_a = kvb_run_dir_of(d->path_a), *dir_b = kvb_run_dir_of(d->path_b);
    kvb_boot_group *g = kvb_calloc((size_t)d->n_rows + 1, sizeof(*g));
    int *gi = kvb_calloc((size_t)d->n_rows + 1, sizeof(int));
    double **bufs = kvb_calloc(2 * (size_t)d->n_rows + 1, sizeof(double *));
    int ng = 0, all = 1, rc = 0;
    if (!dir_a || !dir_b || !g || !gi || !bufs)
        rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
    for (int i = 0; !rc && i < d->n_rows; i++) {
        long n;
        int avail;
        rc = pair_task(dir_a, dir_b, d->rows[i].task, &bufs[2 * i], &bufs[2 * i + 1], &n, &avail, e);
        d->rows[i].n_shared = n;
        if (!rc && avail && n > 0) {
            g[ng] = (kvb_boot_group){ bufs[2 * i], bufs[2 * i + 1], n };
            gi[ng++] = i;
        } else {
            all = 0;
        }
    }
    kvb_boot_ci *per = rc ? NULL : kvb_calloc((size_t)ng + 1, sizeof(*per));
    kvb_boot_ci avg;
    if (!rc && !per)
        rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
    if (!rc && ng > 0)
        rc = kvb_bootstrap_paired(g, ng, o->n_boot, o->seed, o->level, per, &avg, e);
    for (int k = 0; !rc && k < ng; k++) {
        d->rows[gi[k]].has_ci = 1;
        d->rows[gi[k]].ci = per[k];
        d->avg.n_shared += g[k].n;
    }
    /* The average's interval only when every shared task contributed, else it would describe
     * another average than the one printed. */
    if (!rc && ng > 0 && all) {
        d->avg.has_ci = 1;
        d->avg.ci = avg;
    }
    for (int i = 0; bufs && i < 2 * d->n_rows; i++)
        free(bufs[i]);
    free(bufs);
    free(per);
    free(g);
    free(gi);
    free(dir_a);
    free(dir_b);
    return rc;
}

int kvb_diff_compute(const char *path_a, const char *path_b, const kvb_diff_opts *o, kvb_diff *d,
                     kvb_error *e)
{
    memset(d, 0, sizeof(*d));
    int rc = kvb_run_load(path_a, &d->a, e);
    if (rc)
        return rc;
    if ((rc = kvb_run_load(path_b, &d->b, e))) {
        kvb_run_release(&d->a);
        return rc;
    }
    d->path_a = kvb_strdup(path_a);
    d->path_b = kvb_strdup(path_b);
    if (!o->force && !same_model(&d->a, &d->b)) {
        rc = kvb_errorf(e, KVB_EINVAL,
                        "%s and %s are runs of different models (%s %.16s, %s %.16s): "
                        "pass --force to compare them anyway",
                        path_a, path_b, d->a.model_name, d->a.model_fingerprint, d->b.model_name,
                        d->b.model_fingerprint);
        kvb_diff_release(d);
        return rc;
    }
    d->rows = kvb_calloc((size_t)d->a.n_tasks + 1, sizeof(*d->rows));
    if (!d->rows || !d->path_a || !d->path_b) {
        kvb_diff_release(d);
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    }
    double sa = 0, sb = 0;
    double cra = 0, crb = 0;
    for (int i = 0; i < d->a.n_tasks; i++) {
        const kvb_run_task *tb = kvb_run_find_task(&d->b, d->a.tasks[i].name);
        if (!tb)
            continue;
        fill_row(&d->rows[d->n_rows], &d->a.tasks[i], tb);
        sa += d->a.tasks[i].score;
        sb += tb->score;
        cra += d->a.tasks[i].compression_ratio;
        crb += tb->compression_ratio;
        d->n_rows++;
    }
    d->avg.task = "average";
    if (d->n_rows) {
        /* The average over the tasks both runs have, so that a missing task does not move it. */
        d->avg.a = kvb_py_round(sa / d->n_rows, 2);
        d->avg.b = kvb_py_round(sb / d->n_rows, 2);
        d->avg.delta = d->avg.b - d->avg.a;
    }
    d->avg.cr_a = d->a.compression_ratio;
    d->avg.cr_b = d->b.compression_ratio;
    d->avg.peak_a = d->a.peak_kv_bytes;
    d->avg.peak_b = d->b.peak_kv_bytes;
    d->avg.ms_a = d->a.decode_ms_per_token;
    d->avg.ms_b = d->b.decode_ms_per_token;
    rc = list_only(&d->a, &d->b, &d->only_a, &d->n_only_a, e);
    rc = rc ? rc : list_only(&d->b, &d->a, &d->only_b, &d->n_only_b, e);
    if (!rc && o->n_boot > 0 && d->n_rows)
        rc = bootstrap_rows(d, o, e);
    if (rc)
        kvb_diff_release(d);
    return rc;
}

void kvb_diff_release(kvb_diff *d)
{
    kvb_run_release(&d->a);
    kvb_run_release(&d->b);
    free(d->path_a);
    free(d->path_b);
    free(d->rows);
    free(d->only_a);
    free(d->only_b);
    memset(d, 0, sizeof(*d));
}

/* ---- output ------------------------------------------------------------------------------- */
/* Bytes in a short human form: 1.5 MiB. */
static void human_bytes(double b, char *buf, size_t n)
{
    const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    int k = 0;
    while (b >= 1024 && k < 4) {
        b /= 1024;
        k++;
    }
    snprintf(buf, n, k ? "%.1f%s" : "%.0f%s", b, u[k]);
}

static void text_row(kvb_strbuf *sb, const kvb_diff_row *r)
{
    char ci[48] = "n/a", pa[16], pb[16], cr[48], pk[48], ms[48];
    if (r->has_ci)
        snprintf(ci, sizeof(ci), "[%+.2f, %+.2f]", r->ci.lo, r->ci.hi);
    human_bytes(r->peak_a, pa, sizeof(pa));
    human_bytes(r->peak_b, pb, sizeof(pb));
    snprintf(cr, sizeof(cr), "%.2fx -> %.2fx", r->cr_a, r->cr_b);
    snprintf(pk, sizeof(pk), "%s -> %s", pa, pb);
    snprintf(ms, sizeof(ms), "%.2f -> %.2f", r->ms_a, r->ms_b);
    kvb_strbuf_addf(sb, "%-22s %7.2f %7.2f %+7.2f  %-18s %6ld %-3s %-17s %-22s %s\n", r->task, r->a,
                    r->b, r->delta, ci, r->n_shared,
                    r->has_ci && r->ci.significant ? (r->ci.delta < 0 ? "*-" : "*+") : "", cr, pk, ms);
}

static void describe(kvb_strbuf *sb, const char *label, const char *path, const kvb_run *r)
{
    kvb_strbuf_addf(sb, "%s = %s: %s, %s %s, commit %s\n", label, path, r->model_name,
                    r->method_name, r->method_params, r->git_commit);
}

char *kvb_diff_text(const kvb_diff *d, const kvb_diff_opts *o)
{
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    describe(&sb, "A", d->path_a, &d->a);
    describe(&sb, "B", d->path_b, &d->b);
    kvb_strbuf_addf(&sb, "\n%-22s %7s %7s %7s  %-18s %6s %-3s %-17s %-22s %s\n", "task", "A", "B",
                    "B-A", "95% CI of B-A", "paired", "sig", "compression A->B", "peak KV A->B",
                    "ms/token A->B");
    for (int i = 0; i < d->n_rows; i++)
        text_row(&sb, &d->rows[i]);
    if (d->n_rows)
        text_row(&sb, &d->avg);
    else
        kvb_strbuf_adds(&sb, "(no task in common)\n");
    for (int k = 0; k < 2; k++) {
        const char **v = k ? d->only_b : d->only_a;
        int n = k ? d->n_only_b : d->n_only_a;
        if (!n)
            continue;
        kvb_strbuf_addf(&sb, "only in %s:", k ? "B" : "A");
        for (int i = 0; i < n; i++)
            kvb_strbuf_addf(&sb, " %s", v[i]);
        kvb_strbuf_adds(&sb, "\n");
    }
    if (o->n_boot > 0)
        kvb_strbuf_addf(&sb,
                        "sig: *- / *+ = B is significantly lower / higher: the %.0f%% paired "
                        "bootstrap interval (%ld replicates, seed %llu, records matched by _id) "
                        "excludes 0; n/a = no per-record predictions\n",
                        100 * o->level, o->n_boot, (unsigned long long)o->seed);
    else
        kvb_strbuf_adds(&sb, "no bootstrap (--bootstrap 0)\n");
    return kvb_strbuf_detach(&sb);
}

static cJSON *triple(double a, double b)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "a", a);
    cJSON_AddNumberToObject(o, "b", b);
    cJSON_AddNumberToObject(o, "delta", b - a);
    return o;
}

static cJSON *json_row(const kvb_diff_row *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "task", r->task);
    cJSON_AddNumberToObject(o, "a", r->a);
    cJSON_AddNumberToObject(o, "b", r->b);
    cJSON_AddNumberToObject(o, "delta", kvb_py_round(r->delta, 2));
    cJSON_AddNumberToObject(o, "n_shared", (double)r->n_shared);
    if (r->has_ci) {
        cJSON *ci = cJSON_AddObjectToObject(o, "ci");
        cJSON_AddNumberToObject(ci, "delta", r->ci.delta);
        cJSON_AddNumberToObject(ci, "lo", r->ci.lo);
        cJSON_AddNumberToObject(ci, "hi", r->ci.hi);
        cJSON_AddBoolToObject(ci, "significant", r->ci.significant);
    } else {
        cJSON_AddNullToObject(o, "ci");
    }
    cJSON_AddItemToObject(o, "compression_ratio", triple(r->cr_a, r->cr_b));
    cJSON_AddItemToObject(o, "peak_kv_bytes", triple(r->peak_a, r->peak_b));
    cJSON_AddItemToObject(o, "decode_ms_per_token", triple(r->ms_a, r->ms_b));
    return o;
}

static cJSON *json_run(const char *path, const kvb_run *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", path);
    cJSON_AddStringToObject(o, "model", r->model_name);
    cJSON_AddStringToObject(o, "method", r->method_name);
    cJSON_AddItemToObject(o, "params", cJSON_Parse(r->method_params));
    cJSON_AddStringToObject(o, "git_commit", r->git_commit);
    return o;
}

char *kvb_diff_json(const kvb_diff *d, const kvb_diff_opts *o)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "a", json_run(d->path_a, &d->a));
    cJSON_AddItemToObject(j, "b", json_run(d->path_b, &d->b));
    cJSON *bs = cJSON_AddObjectToObject(j, "bootstrap");
    cJSON_AddNumberToObject(bs, "replicates", (double)o->n_boot);
    char seed[32];
    snprintf(seed, sizeof(seed), "%llu", (unsigned long long)o->seed);
    cJSON_AddStringToObject(bs, "seed", seed);
    cJSON_AddNumberToObject(bs, "level", o->level);
    cJSON *tasks = cJSON_AddArrayToObject(j, "tasks");
    for (int i = 0; i < d->n_rows; i++)
        cJSON_AddItemToArray(tasks, json_row(&d->rows[i]));
    if (d->n_rows)
        cJSON_AddItemToObject(j, "average", json_row(&d->avg));
    else
        cJSON_AddNullToObject(j, "average");
    cJSON *oa = cJSON_AddArrayToObject(j, "only_a"), *ob = cJSON_AddArrayToObject(j, "only_b");
    for (int i = 0; i < d->n_only_a; i++)
        cJSON_AddItemToArray(oa, cJSON_CreateString(d->only_a[i]));
    for (int i = 0; i < d->n_only_b; i++)
        cJSON_AddItemToArray(ob, cJSON_CreateString(d->only_b[i]));
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text)
        return NULL;
    size_t n = strlen(text);
    char *withnl = kvb_realloc(text, n + 2);
    if (!withnl)
        return text;
    withnl[n] = '\n';
    withnl[n + 1] = 0;
    return withnl;
}
