/* RULER's scoring against RULER's own evaluate.py (tests/fixtures/ruler/score.json, written by
 * scripts/oracle/ruler_score.py from a RULER checkout): the postprocessed prediction byte for
 * byte, the score of every prediction and every task's score identical as doubles, the task score
 * both from kvb_task_score_of and through run.json's task scoring (kvb_run_finish) under the
 * "<task>.<length>" name a run gives it. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "results/results.h"
#include "results/tasks.h"
#include "ruler/ruler.h"

static cJSON *fixture(void)
{
    cJSON *j = NULL;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_json_load("tests/fixtures/ruler/score.json", 1 << 22, &j, &e), 0, "%s", e.msg);
    cr_assert(cJSON_IsArray(cJSON_GetObjectItem(j, "predictions")), "no predictions");
    cr_assert(cJSON_IsObject(cJSON_GetObjectItem(j, "tasks")), "no tasks");
    return j;
}

/* The prediction's references as a char * array (views into the JSON). */
static char **refs_of(const cJSON *p, int *n)
{
    const cJSON *o = cJSON_GetObjectItem(p, "outputs");
    *n = cJSON_GetArraySize(o);
    char **v = calloc((size_t)*n + 1, sizeof(char *));
    cr_assert(v);
    for (int i = 0; i < *n; i++)
        v[i] = cJSON_GetArrayItem(o, i)->valuestring;
    return v;
}

/* kvb_ruler_score of one fixture prediction, checking its postprocessed text on the way. */
static double score_of(const cJSON *p, const kvb_ruler_task **task)
{
    const char *name = cJSON_GetObjectItem(p, "task")->valuestring;
    const char *pred = cJSON_GetObjectItem(p, "pred")->valuestring;
    *task = kvb_ruler_task_find(name);
    cr_assert(*task, "unknown RULER task %s", name);
    char *post = kvb_ruler_postprocess(pred);
    cr_assert(post);
    cr_assert_str_eq(post, cJSON_GetObjectItem(p, "post")->valuestring, "postprocess_pred(%s)",
                     pred);
    int n;
    char **refs = refs_of(p, &n);
    double s = kvb_ruler_score(*task, post, refs, n);
    free(refs);
    free(post);
    cr_assert(s >= 0 && s <= 1, "%s: score %g", pred, s);
    return s;
}

Test(ruler_score, every_prediction_as_evaluate_py)
{
    cJSON *j = fixture();
    const cJSON *p;
    int k = 0;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(j, "predictions"))
    {
        const kvb_ruler_task *t;
        double s = score_of(p, &t);
        double want = cJSON_GetObjectItem(p, "score")->valuedouble;
        double got = kvb_task_score_of(kvb_ruler_task_metric(t), s, 1);
        cr_assert(got == want, "prediction %d (%s): %.17g, evaluate.py %.17g", k,
                  cJSON_GetObjectItem(p, "pred")->valuestring, got, want);
        k++;
    }
    cr_assert_gt(k, 100);
    cJSON_Delete(j);
}

/* One task of the fixture: its per-sample scores in file order. */
static double *task_scores(const cJSON *j, const char *task, long *n, const kvb_ruler_task **t)
{
    const cJSON *preds = cJSON_GetObjectItem(j, "predictions"), *p;
    double *v = calloc((size_t)cJSON_GetArraySize(preds), sizeof(double));
    cr_assert(v);
    *n = 0;
    cJSON_ArrayForEach(p, preds)
    {
        if (!strcmp(cJSON_GetObjectItem(p, "task")->valuestring, task))
            v[(*n)++] = score_of(p, t);
    }
    cr_assert_gt(*n, 0);
    return v;
}

/* run.json's score of a task "<task>.4096" made of these records */
static double run_task_score(const char *task, const char *metric, const double *s, long n)
{
    kvb_run r;
    kvb_error e = { 0 };
    kvb_run_init(&r);
    cr_assert_eq(kvb_run_set_model(&r, "smollm2-135m", "", "", "bf16", "fp", &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_run_set_method(&r, "full", NULL, &e), 0, "%s", e.msg);
    char name[96];
    snprintf(name, sizeof(name), "%s%c4096", task, KVB_TASK_LENGTH_SEP);
    kvb_run_task *t = kvb_run_add_task(&r, name, metric, &e);
    cr_assert(t, "%s", e.msg);
    for (long i = 0; i < n; i++) {
        kvb_run_record rec = { .score = s[i], .length = 4096 };
        cr_assert_eq(kvb_run_task_add_record(t, &rec, &e), 0, "%s", e.msg);
    }
    cr_assert_eq(kvb_run_finish(&r, &e), 0, "%s", e.msg);
    double v = r.tasks[0].score;
    cr_assert_eq(r.n_ruler, 1);
    cr_assert_eq(r.ruler[0].length, 4096);
    cr_assert(r.ruler[0].average == v, "one task: the length's average is its score");
    kvb_run_release(&r);
    return v;
}

Test(ruler_score, every_task_as_evaluate_py)
{
    cJSON *j = fixture();
    const cJSON *x;
    int n_tasks = 0, formula_matters = 0;
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(j, "tasks"))
    {
        const kvb_ruler_task *t = NULL;
        long n;
        double *s = task_scores(j, x->string, &n, &t);
        const char *metric = kvb_ruler_task_metric(t);
        cr_assert_str_eq(metric, cJSON_GetObjectItem(x, "metric")->valuestring, "%s", x->string);
        double total = 0; /* Python's sum() of floats: left to right (CPython <= 3.11) */
        for (long i = 0; i < n; i++)
            total += s[i];
        double want = cJSON_GetObjectItem(x, "score")->valuedouble;
        double got = kvb_task_score_of(metric, total, n);
        cr_assert(got == want, "%s: %.17g, evaluate.py %.17g", x->string, got, want);
        got = run_task_score(x->string, metric, s, n);
        cr_assert(got == want, "%s via run.json: %.17g, evaluate.py %.17g", x->string, got, want);
        /* LongBench's formula, round(100 * total / n, 2), must differ on some task, else the
         * fixture could not tell the two apart */
        formula_matters |= kvb_py_round(100.0 * total / (double)n, 2) != want;
        free(s);
        n_tasks++;
    }
    cr_assert_eq(n_tasks, 13);
    cr_assert(formula_matters, "no task of the fixture separates RULER's rounding from LongBench's");
    cJSON_Delete(j);
}

Test(ruler_score, no_reference_is_refused)
{
    const kvb_ruler_task *t = kvb_ruler_task_find("niah_single_1");
    cr_assert(t);
    cr_assert(isnan(kvb_ruler_score(t, "x", NULL, 0)), "evaluate.py raises on an empty reference list");
}

Test(ruler_score, task_length_names)
{
    char task[32];
    long len = 0;
    cr_assert(kvb_task_length_split("niah_single_1.4096", task, sizeof(task), &len));
    cr_assert_str_eq(task, "niah_single_1");
    cr_assert_eq(len, 4096);
    cr_assert(kvb_task_length_split("qa_2.131072", task, 3, &len));
    cr_assert_str_eq(task, "qa");
    const char *bad[] = { "niah", "niah_single_1.", ".4096", "vt.04096", "vt.4k", "vt.2147483648",
                          "vt.-1", "hotpotqa" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert(!kvb_task_length_split(bad[i], task, sizeof(task), &len), "%s", bad[i]);
    cr_assert(kvb_metric_is_ruler("string_match_all") && kvb_metric_is_ruler("string_match_part"));
    cr_assert(!kvb_metric_is_ruler("qa_f1_score") && !kvb_metric_is_ruler(NULL));
}
