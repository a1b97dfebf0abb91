/* The suite table and the session of lib/suites (suites.h): a suite defined in this file joins
 * the table as one entry and runs through `kvbench run`'s whole path (--tasks claimed over the
 * table, preflight before the model loads, one source per task, run.json's settings), on the
 * real SmolLM2 (`make model`). */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "longbench/niah.h"
#include "longbench/source.h"
#include "numeric_paths.h"
#include "suites/suites.h"

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/kvb_suites_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(suites, .init = setup, .fini = teardown, .timeout = 300);

/* ---- the toy suite: tasks toy_a and toy_b, two items each, a fixed prompt, score 1 ---------- */
typedef struct toy_plan {
    char names[4][16];
    int n;
} toy_plan;

static int toy_fail_preflight, toy_claims_niah;

static int toy_claims(const char *item)
{
    return !strcmp(item, "toy_a") || !strcmp(item, "toy_b") ||
           (toy_claims_niah && !strcmp(item, "niah"));
}

static void toy_names(kvb_strbuf *sb)
{
    kvb_strbuf_addf(sb, "toy_a, toy_b");
}

static int toy_plan_make(void **plan, char *const *items, int n, const kvb_run_spec *spec,
                         kvb_error *e)
{
    (void)spec, (void)e;
    toy_plan *p = calloc(1, sizeof(*p));
    for (int i = 0; i < n && i < 4; i++)
        snprintf(p->names[p->n++], sizeof(p->names[0]), "%s", items[i]);
    *plan = p;
    return 0;
}

static int toy_preflight(void *plan, const kvb_run_spec *spec, kvb_error *e)
{
    (void)plan, (void)spec;
    return toy_fail_preflight ? kvb_errorf(e, KVB_EINVAL, "toy: data missing") : 0;
}

static int toy_n_tasks(const void *plan)
{
    return ((const toy_plan *)plan)->n;
}

static const char *toy_id(void *ctx, long i, char *buf, size_t n)
{
    snprintf(buf, n, "%s-%ld", (const char *)ctx, i);
    return buf;
}

static int toy_prompt(void *ctx, long i, kvb_ids *ids, kvb_error *e)
{
    (void)ctx, (void)e;
    const int32_t p[] = { 504, 3456, 314, 260 + (int32_t)i, 28 };
    for (size_t k = 0; k < sizeof(p) / sizeof(p[0]); k++)
        kvb_ids_push(ids, p[k]);
    return 0;
}

static int toy_score(void *ctx, long i, const char *pred, double *score, kvb_error *e)
{
    (void)ctx, (void)i, (void)pred, (void)e;
    *score = 1.0;
    return 0;
}

static int toy_fields(void *ctx, long i, const char *pred, cJSON *line, kvb_run_record *rec,
                      kvb_error *e)
{
    (void)ctx, (void)pred, (void)e;
    rec->length = 5 + i;
    cJSON_AddNumberToObject(line, "length", (double)rec->length);
    return 0;
}

static int toy_source(void *plan, int i, const kvb_suite_env *env, kvb_source *s, kvb_error *e)
{
    (void)e;
    cr_assert_not_null(env->tok, "a real run has the model's tokenizer");
    toy_plan *p = plan;
    *s = (kvb_source){ .task = p->names[i], .metric = "toy", .unit = "item", .n = 2,
                       .max_new_tokens = 2, .ctx = p->names[i], .id = toy_id,
                       .prompt = toy_prompt, .score = toy_score, .fields = toy_fields };
    snprintf(s->data_sha256, sizeof(s->data_sha256), "%064d", i);
    return 0;
}

static void toy_dry_run(const void *plan, const kvb_suite_env *env, kvb_strbuf *out)
{
    (void)env;
    const toy_plan *p = plan;
    for (int i = 0; i < p->n; i++)
        kvb_strbuf_addf(out, "task %s\n", p->names[i]);
}

static void toy_settings(const void *plan, const kvb_run_spec *spec, cJSON *s)
{
    (void)spec;
    cJSON_AddBoolToObject(s, "toy_ran", plan != NULL);
}

static void toy_release(void *plan)
{
    free(plan);
}

static const kvb_suite toy_suite = {
    .name = "toy", .claims = toy_claims, .names = toy_names, .plan = toy_plan_make,
    .preflight = toy_preflight, .n_tasks = toy_n_tasks, .source = toy_source,
    .dry_run = toy_dry_run, .settings = toy_settings, .release = toy_release,
};

/* the table of lib/suites plus the toy suite: one entry */
static const kvb_suite *const table[] = { &kvb_lb_suite, &kvb_niah_suite, &toy_suite, NULL };

static kvb_run_spec spec_for(const char *tasks)
{
    toy_fail_preflight = toy_claims_niah = 0;
    return (kvb_run_spec){ .model = "smollm2-135m",
                           .model_opts = { .threads = test_threads(2), .weights_bf16 = 1 },
                           .weights = "bf16", .method = "full", .tasks = tasks, .limit = -1,
                           .shard_n = 1, .out = dir, .suites = table };
}

static cJSON *read_json(const char *name)
{
    char path[128], *data;
    size_t len;
    kvb_error e = { 0 };
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    cr_assert_eq(kvb_read_file(path, 1 << 24, &data, &len, &e), 0, "%s", e.msg);
    cJSON *j = cJSON_Parse(data);
    free(data);
    cr_assert_not_null(j, "%s", path);
    return j;
}

Test(suites, a_new_suite_is_one_entry_of_the_table)
{
    kvb_run_spec sp = spec_for("toy_b,toy_a");
    kvb_error e = { 0 };
    kvb_session *s;
    volatile sig_atomic_t stop = 0;
    char *summary;
    cr_assert_eq(kvb_session_open(&s, &sp, &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_session_run(s, &stop, &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_session_finish(s, &summary, &e), 0, "%s", e.msg);
    cr_assert_str_eq(kvb_session_out_dir(s), dir);
    free(summary);
    kvb_session_free(s);

    cJSON *run = read_json("run.json");
    cJSON *settings = cJSON_GetObjectItem(run, "settings");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(settings, "toy_ran")), "the suite's settings");
    cr_assert_str_eq(cJSON_GetObjectItem(settings, "niah_lengths")->valuestring, KVB_NIAH_LENGTHS,
                     "every suite's settings, also of suites that did not run");
    cr_assert_str_eq(cJSON_GetObjectItem(settings, "tasks")->valuestring, "toy_b,toy_a");
    cJSON_Delete(run);
    cJSON *res = read_json("result.json");
    cr_assert_eq(cJSON_GetArraySize(res), 2, "two tasks");
    /* tasks in --tasks order within a suite, each with its two records scored 1 */
    cr_assert_str_eq(res->child->string, "toy_b");
    cr_assert_str_eq(res->child->next->string, "toy_a");
    cr_assert_float_eq(res->child->valuedouble, 100.0, 0);
    cJSON_Delete(res);
}

Test(suites, unknown_task_names_every_suite_of_the_table)
{
    kvb_run_spec sp = spec_for("toy_a,nosuch");
    kvb_error e = { 0 };
    kvb_session *s;
    cr_assert_eq(kvb_session_open(&s, &sp, &e), KVB_EINVAL);
    cr_assert_null(s);
    cr_assert(strstr(e.msg, "unknown task 'nosuch'"), "%s", e.msg);
    cr_assert(strstr(e.msg, "LongBench: sets: en16, all, e, zh; tasks: narrativeqa"), "%s", e.msg);
    cr_assert(strstr(e.msg, "needle: niah; toy: toy_a, toy_b"), "%s", e.msg);
    sp = spec_for("toy_a,,niah");
    cr_assert_eq(kvb_session_open(&s, &sp, &e), KVB_EINVAL);
    cr_assert(strstr(e.msg, "empty item in task list 'toy_a,,niah'"), "%s", e.msg);
}

Test(suites, preflight_runs_before_the_model_loads)
{
    kvb_run_spec sp = spec_for("toy_a");
    sp.model = "no-such-model";
    toy_fail_preflight = 1;
    kvb_error e = { 0 };
    kvb_session *s;
    cr_assert_eq(kvb_session_open(&s, &sp, &e), KVB_EINVAL);
    cr_assert_str_eq(e.msg, "toy: data missing");
}

Test(suites, first_claim_wins_and_suites_run_in_table_order)
{
    /* niah is the needle suite's (above toy in the table) even though toy claims it too; the
     * dry run lists LongBench, then the needle, then toy, whatever the --tasks order */
    kvb_run_spec sp = spec_for("toy_a,niah,trec");
    toy_claims_niah = 1;
    sp.dry_run = 1;
    kvb_error e = { 0 };
    kvb_session *s;
    cr_assert_eq(kvb_session_open(&s, &sp, &e), 0, "%s", e.msg);
    kvb_strbuf out;
    kvb_strbuf_init(&out);
    cr_assert_eq(kvb_session_dry_run(s, &out, &e), 0, "%s", e.msg);
    kvb_session_free(s);
    const char *trec = strstr(out.buf, "task trec"), *niah = strstr(out.buf, "task niah lengths"),
               *toy = strstr(out.buf, "task toy_a\n");
    cr_assert(trec && niah && toy && trec < niah && niah < toy, "%s", out.buf);
    cr_assert_null(strstr(out.buf, "task niah\n"), "toy did not get niah");
    kvb_strbuf_release(&out);
}
