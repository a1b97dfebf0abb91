/* LongBench-E bucket scores on ties: `run --e` (run.json, lib/results) and `eval --e`
 * (result.json, lib/longbench) give the value eval.py gives, round(100 * np.mean(bucket), 2) with
 * numpy's rounding, where Python's round would differ (tests/fixtures/results/ebucket_ties.json,
 * from scripts/oracle/ebucket_fixtures.py). Both paths score the same 0/1 records: passage_count
 * predictions that are right or wrong. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "longbench/score.h"
#include "results/results.h"

static cJSON *cases(void)
{
    cJSON *j = NULL;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_json_load("tests/fixtures/results/ebucket_ties.json", 1 << 20, &j, &e), 0,
                 "%s", e.msg);
    cr_assert(cJSON_GetObjectItem(j, "cases"), "no cases");
    return j;
}

/* eval --e: a pred dir with one passage_count file of n records (the first `ones` right), all of
 * length 1000 (bucket 0-4k) */
static double eval_bucket(int n, int ones)
{
    char dir[] = "/tmp/kvb_buckets_XXXXXX", path[96];
    cr_assert(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/passage_count.jsonl", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    for (int i = 0; i < n; i++)
        fprintf(f, "{\"pred\": \"%d\", \"answers\": [\"1\"], \"all_classes\": null, \"length\": 1000}\n",
                i < ones ? 1 : 2);
    fclose(f);
    kvb_eval_result r;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_eval_dir(dir, 1, NULL, NULL, &r, &e), 0, "%s", e.msg);
    cr_assert_eq(r.n, 1);
    cr_assert_eq(r.tasks[0].e_n[KVB_BUCKET_0_4K], (size_t)n);
    double v = r.tasks[0].e[KVB_BUCKET_0_4K];
    cr_assert(isnan(r.tasks[0].e[KVB_BUCKET_4_8K]));
    kvb_eval_result_release(&r);
    remove(path);
    rmdir(dir);
    return v;
}

/* run --e: the same records through run.json's task scoring */
static double run_bucket(int n, int ones)
{
    kvb_run r;
    kvb_error e = { 0 };
    kvb_run_init(&r);
    cr_assert_eq(kvb_run_set_model(&r, "smollm2-135m", "", "", "q4_1", "fp", &e), 0, "%s", e.msg);
    cr_assert_eq(kvb_run_set_method(&r, "full", NULL, &e), 0, "%s", e.msg);
    kvb_run_task *t = kvb_run_add_task(&r, "passage_count", "count_score", &e);
    cr_assert(t, "%s", e.msg);
    kvb_run_task_want_buckets(t);
    for (int i = 0; i < n; i++) {
        kvb_run_record rec = { .score = i < ones ? 1.0 : 0.0, .length = 1000 };
        cr_assert_eq(kvb_run_task_add_record(t, &rec, &e), 0, "%s", e.msg);
    }
    cr_assert_eq(kvb_run_finish(&r, &e), 0, "%s", e.msg);
    cr_assert(t->has_buckets);
    double v = t->bucket[KVB_BUCKET_0_4K];
    cr_assert(isnan(t->bucket[KVB_BUCKET_8K_PLUS]));
    kvb_run_release(&r);
    return v;
}

Test(results_buckets, ties_round_as_numpy_in_run_and_eval)
{
    cJSON *j = cases();
    int differ = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "cases"))
    {
        int n = cJSON_GetObjectItem(c, "n")->valueint, ones = cJSON_GetObjectItem(c, "ones")->valueint;
        double want = cJSON_GetObjectItem(c, "numpy")->valuedouble;
        double py = cJSON_GetObjectItem(c, "python")->valuedouble;
        differ += want != py;
        double *s = malloc(sizeof(double) * (size_t)n);
        for (int i = 0; i < n; i++)
            s[i] = i < ones ? 1.0 : 0.0;
        cr_expect_eq(kvb_bucket_score(s, (size_t)n), want, "%d/%d: %.17g, numpy %.17g", ones, n,
                     kvb_bucket_score(s, (size_t)n), want);
        free(s);
        cr_expect_eq(eval_bucket(n, ones), want, "eval --e, %d of %d", ones, n);
        cr_expect_eq(run_bucket(n, ones), want, "run --e (run.json), %d of %d", ones, n);
    }
    cr_assert_geq(differ, 1, "the fixture has no case where Python's round differs");
    cJSON_Delete(j);
}

Test(results_buckets, bucket_edges)
{
    cr_assert_eq(kvb_bucket_of(0), KVB_BUCKET_0_4K);
    cr_assert_eq(kvb_bucket_of(3999), KVB_BUCKET_0_4K);
    cr_assert_eq(kvb_bucket_of(4000), KVB_BUCKET_4_8K);
    cr_assert_eq(kvb_bucket_of(7999), KVB_BUCKET_4_8K);
    cr_assert_eq(kvb_bucket_of(8000), KVB_BUCKET_8K_PLUS);
    cr_assert(isnan(kvb_bucket_score(NULL, 0)));
}
