/* The runner of lib/runner/runner.h driving a source defined here, on the real SmolLM2
 * (`make model`): a third task suite needs only its five callbacks, no copy of the loop. The
 * runner writes the prediction and memory lines, honours --limit and --shard, records the task
 * in run.json's record and the data fingerprint, stops between records on a signal and resumes. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner/runner.h"
#include "numeric_paths.h"

static kvb_model *m;
static char dir[64];
static volatile sig_atomic_t stop_flag;

static void setup(void)
{
    kvb_error e = { 0 };
    kvb_model_opts o = { .threads = test_threads(2), .weights_bf16 = 1 };
    cr_assert_eq(kvb_model_open(&m, "smollm2-135m", &o, &e), 0, "%s (run `make model`)", e.msg);
    snprintf(dir, sizeof(dir), "/tmp/kvb_runner_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    stop_flag = 0;
}

static void teardown(void)
{
    kvb_model_free(m);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(runner, .init = setup, .fini = teardown, .timeout = 300);

/* ---- the fake source: "count" items, prompt = a few fixed ids, score = item parity ---------- */
typedef struct fake {
    int prompts, stop_at; /* stop_at: raise the stop flag while preparing this item (-1: never) */
} fake;

static const char *fake_id(void *ctx, long i, char *buf, size_t n)
{
    (void)ctx;
    snprintf(buf, n, "fake-%ld", i);
    return buf;
}

static int fake_prompt(void *ctx, long i, kvb_ids *ids, kvb_error *e)
{
    (void)e;
    fake *f = ctx;
    f->prompts++;
    if (i == f->stop_at)
        stop_flag = 1;
    const int32_t p[] = { 504, 3456, 314, 260 + (int32_t)i, 28 };
    for (size_t k = 0; k < sizeof(p) / sizeof(p[0]); k++)
        kvb_ids_push(ids, p[k]);
    return 0;
}

static int fake_score(void *ctx, long i, const char *pred, double *score, kvb_error *e)
{
    (void)ctx, (void)pred, (void)e;
    *score = i % 2 ? 1.0 : 0.0;
    return 0;
}

static int fake_fields(void *ctx, long i, const char *pred, cJSON *line, kvb_run_record *rec,
                       kvb_error *e)
{
    (void)ctx, (void)pred, (void)e;
    rec->length = 10 * i;
    cJSON_AddStringToObject(line, "fake_field", "x");
    cJSON_AddNumberToObject(line, "length", (double)rec->length);
    return 0;
}

static kvb_source fake_source(fake *f, long n)
{
    kvb_source s = { .task = "fake", .metric = "parity", .unit = "item", .n = n,
                        .max_new_tokens = 3, .ctx = f, .id = fake_id, .prompt = fake_prompt,
                        .score = fake_score, .fields = fake_fields };
    snprintf(s.data_sha256, sizeof(s.data_sha256), "%064d", 7);
    return s;
}

/* One run of the fake source into dir; returns the status and leaves the task in *run. */
static int run_fake(fake *f, long n, long limit, long shard_i, long shard_n, int resume,
                    kvb_run *run, kvb_error *e)
{
    kvb_rundir *d;
    int rc = kvb_rundir_open(&d, dir, resume, e);
    if (rc)
        return rc;
    kvb_runner r = { .m = m, .method = "full", .dir = d, .run = run, .limit = limit,
                        .shard_i = shard_i, .shard_n = shard_n, .mem_limit = (size_t)1 << 40,
                        .stop = &stop_flag };
    kvb_source s = fake_source(f, n);
    rc = kvb_run_source(&r, &s, e);
    kvb_source_release(&s);
    kvb_rundir_free(d);
    return rc;
}

static cJSON **read_lines(const char *sub, int *n)
{
    char *path = kvb_rundir_task_file(dir, sub, "fake"), *data;
    size_t len;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_read_file(path, 1 << 24, &data, &len, &e), 0, "%s", e.msg);
    free(path);
    cJSON **v = calloc(64, sizeof(*v));
    *n = 0;
    for (char *p = data, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
        *nl = 0;
        v[(*n)++] = cJSON_Parse(p);
        cr_assert_not_null(v[*n - 1], "line %d", *n);
    }
    free(data);
    return v;
}

static void free_lines(cJSON **v, int n)
{
    for (int i = 0; i < n; i++)
        cJSON_Delete(v[i]);
    free(v);
}

Test(runner, a_third_source_runs_through_the_one_loop)
{
    fake f = { 0, -1 };
    kvb_run run;
    kvb_run_init(&run);
    kvb_error e = { 0 };
    cr_assert_eq(run_fake(&f, 5, 4, 0, 1, 0, &run, &e), 0, "%s", e.msg);
    cr_assert_eq(f.prompts, 4, "--limit 4 of 5 items");
    kvb_run_task *t = kvb_run_find_task(&run, "fake");
    cr_assert_not_null(t);
    cr_assert_str_eq(t->metric, "parity");
    cr_assert_eq(t->n_recs_, 4);
    cr_assert_eq(run.n_files, 1);
    cr_assert_str_eq(run.files[0].sha256, "0000000000000000000000000000000000000000000000000000000000000007");
    int np, nm;
    cJSON **p = read_lines(KVB_RUNDIR_PRED, &np), **mm = read_lines(KVB_RUNDIR_MEMORY, &nm);
    cr_assert_eq(np, 4);
    cr_assert_eq(nm, 4);
    for (int i = 0; i < np; i++) {
        /* "pred" first, then the source's fields, then "_id" and kvbench's */
        cr_assert_str_eq(p[i]->child->string, "pred");
        cr_assert_str_eq(p[i]->child->next->string, "fake_field");
        char id[32];
        snprintf(id, sizeof(id), "fake-%d", i);
        cr_assert_str_eq(cJSON_GetObjectItem(p[i], "_id")->valuestring, id);
        cr_assert_eq(cJSON_GetObjectItem(p[i], "_index")->valueint, i);
        cr_assert_float_eq(cJSON_GetObjectItem(p[i], "score")->valuedouble, i % 2, 0);
        cr_assert_eq(cJSON_GetObjectItem(p[i], "length")->valueint, 10 * i);
        cr_assert_leq(cJSON_GetObjectItem(p[i], "gen_tokens")->valueint, 3);
        cr_assert_str_eq(cJSON_GetObjectItem(mm[i], "_id")->valuestring, id);
    }
    free_lines(p, np);
    free_lines(mm, nm);
    cr_assert_eq(kvb_run_set_model(&run, "smollm2-135m", "", "", "", "", &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_run_set_method(&run, "full", NULL, &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_run_finish(&run, &e), 0, "%s", e.msg);
    cr_assert_float_eq(kvb_run_find_task(&run, "fake")->score, 50.0, 1e-9);
    kvb_run_release(&run);
}

Test(runner, shard_stop_and_resume)
{
    /* shard 1/2: items 1 and 3 of 5 */
    fake f = { 0, -1 };
    kvb_run run;
    kvb_run_init(&run);
    kvb_error e = { 0 };
    cr_assert_eq(run_fake(&f, 5, -1, 1, 2, 0, &run, &e), 0, "%s", e.msg);
    cr_assert_eq(f.prompts, 2);
    int np;
    cJSON **p = read_lines(KVB_RUNDIR_PRED, &np);
    cr_assert_eq(np, 2);
    cr_assert_str_eq(cJSON_GetObjectItem(p[0], "_id")->valuestring, "fake-1");
    cr_assert_str_eq(cJSON_GetObjectItem(p[1], "_id")->valuestring, "fake-3");
    free_lines(p, np);
    kvb_run_release(&run);

    /* the whole task in another directory: a signal while item 2 is prepared finishes item 2 */
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'/*", dir);
    cr_assert_eq(system(cmd), 0);
    f = (fake){ 0, 2 };
    kvb_run_init(&run);
    cr_assert_eq(run_fake(&f, 5, -1, 0, 1, 0, &run, &e), 0, "%s", e.msg);
    cr_assert_eq(f.prompts, 3);
    cr_assert_eq(kvb_run_find_task(&run, "fake")->n_recs_, 3);
    kvb_run_release(&run);
    /* resuming runs only the rest, and the task holds all five records in order */
    stop_flag = 0;
    f = (fake){ 0, -1 };
    kvb_run_init(&run);
    cr_assert_eq(run_fake(&f, 5, -1, 0, 1, 0, &run, &e), KVB_EINVAL, "needs --resume");
    kvb_run_release(&run);
    kvb_run_init(&run);
    cr_assert_eq(run_fake(&f, 5, -1, 0, 1, 1, &run, &e), 0, "%s", e.msg);
    cr_assert_eq(f.prompts, 2);
    kvb_run_task *t = kvb_run_find_task(&run, "fake");
    cr_assert_eq(t->n_recs_, 5);
    for (int i = 0; i < 5; i++)
        cr_assert_float_eq(t->recs_[i].score, i % 2, 0);
    kvb_run_release(&run);
    p = read_lines(KVB_RUNDIR_PRED, &np);
    cr_assert_eq(np, 5);
    for (int i = 0; i < np; i++)
        cr_assert_eq(cJSON_GetObjectItem(p[i], "_index")->valueint, i);
    free_lines(p, np);
}
