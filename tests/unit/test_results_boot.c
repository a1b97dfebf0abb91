/* Paired bootstrap and number rules against fixtures from scripts/oracle/bootstrap_fixtures.py
 * (numpy). Tolerance 0: the C code performs the same IEEE operations in the same order. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/pynum.h"
#include "results/results.h"

static cJSON *load(const char *path)
{
    cJSON *j = NULL;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_json_load(path, 1 << 26, &j, &e), 0, "%s", e.msg);
    return j;
}

static double *numbers(const cJSON *arr, long *n)
{
    *n = cJSON_GetArraySize(arr);
    double *v = calloc((size_t)*n + 1, sizeof(double));
    long i = 0;
    for (const cJSON *x = arr->child; x; x = x->next)
        v[i++] = x->valuedouble;
    return v;
}

Test(results_boot, splitmix64_sequence)
{
    cJSON *j = load("tests/fixtures/results/bootstrap.json");
    uint64_t s = 1234567;
    const cJSON *seq = cJSON_GetObjectItem(j, "splitmix64_seed_1234567");
    for (const cJSON *x = seq->child; x; x = x->next)
        cr_expect_eq(kvb_rng_next(&s), strtoull(x->valuestring, NULL, 10));
    s = 99;
    const cJSON *want = cJSON_GetObjectItem(j, "below_seed_99")->child;
    for (const cJSON *n = cJSON_GetObjectItem(j, "below_n")->child; n; n = n->next, want = want->next)
        cr_expect_eq(kvb_rng_below(&s, strtoull(n->valuestring, NULL, 10)),
                     strtoull(want->valuestring, NULL, 10), "n=%s", n->valuestring);
    cJSON_Delete(j);
}

static void expect_ci(const kvb_boot_ci *got, const cJSON *want, const char *what)
{
    cr_expect_eq(got->delta, cJSON_GetObjectItem(want, "delta")->valuedouble, "%s delta %.17g", what,
                 got->delta);
    cr_expect_eq(got->lo, cJSON_GetObjectItem(want, "lo")->valuedouble, "%s lo %.17g", what, got->lo);
    cr_expect_eq(got->hi, cJSON_GetObjectItem(want, "hi")->valuedouble, "%s hi %.17g", what, got->hi);
    cr_expect_eq(got->significant, cJSON_IsTrue(cJSON_GetObjectItem(want, "significant")), "%s sig",
                 what);
}

Test(results_boot, intervals_match_numpy)
{
    cJSON *j = load("tests/fixtures/results/bootstrap.json");
    int ncase = 0;
    for (const cJSON *c = cJSON_GetObjectItem(j, "cases")->child; c; c = c->next, ncase++) {
        const cJSON *gs = cJSON_GetObjectItem(c, "groups");
        int ng = cJSON_GetArraySize(gs);
        kvb_boot_group g[8];
        kvb_boot_ci per[8], avg;
        double *bufs[16];
        int i = 0;
        for (const cJSON *x = gs->child; x; x = x->next, i++) {
            long na, nb;
            bufs[2 * i] = numbers(cJSON_GetObjectItem(x, "a"), &na);
            bufs[2 * i + 1] = numbers(cJSON_GetObjectItem(x, "b"), &nb);
            cr_assert_eq(na, nb);
            g[i] = (kvb_boot_group){ bufs[2 * i], bufs[2 * i + 1], na };
        }
        kvb_error e = { 0 };
        uint64_t seed = strtoull(cJSON_GetObjectItem(c, "seed")->valuestring, NULL, 10);
        cr_assert_eq(kvb_bootstrap_paired(g, ng, cJSON_GetObjectItem(c, "n_rep")->valueint, seed,
                                          cJSON_GetObjectItem(c, "level")->valuedouble, per, &avg, &e),
                     0, "%s", e.msg);
        i = 0;
        for (const cJSON *w = cJSON_GetObjectItem(c, "per")->child; w; w = w->next, i++) {
            char what[64];
            snprintf(what, sizeof(what), "case %d group %d", ncase, i);
            expect_ci(&per[i], w, what);
        }
        expect_ci(&avg, cJSON_GetObjectItem(c, "avg"), "average");
        for (int k = 0; k < 2 * ng; k++)
            free(bufs[k]);
    }
    cr_expect_eq(ncase, 4);
    cJSON_Delete(j);
}

Test(results_boot, same_seed_same_interval_other_seed_differs)
{
    double a[40], b[40];
    for (int i = 0; i < 40; i++) {
        a[i] = (i % 3) / 2.0;
        b[i] = (i % 5) / 4.0;
    }
    kvb_boot_group g = { a, b, 40 };
    kvb_boot_ci x, y, z;
    cr_assert_eq(kvb_bootstrap_paired(&g, 1, 300, 5, 0.95, &x, NULL, NULL), 0);
    cr_assert_eq(kvb_bootstrap_paired(&g, 1, 300, 5, 0.95, &y, NULL, NULL), 0);
    cr_assert_eq(kvb_bootstrap_paired(&g, 1, 300, 6, 0.95, &z, NULL, NULL), 0);
    cr_expect(x.lo == y.lo && x.hi == y.hi);
    cr_expect(x.lo != z.lo || x.hi != z.hi);
    cr_expect(x.lo <= x.delta && x.delta <= x.hi);
}

Test(results_boot, refuses_bad_arguments)
{
    double a[1] = { 0 };
    kvb_boot_group g = { a, a, 0 };
    kvb_boot_ci x;
    kvb_error e = { 0 };
    cr_expect_neq(kvb_bootstrap_paired(&g, 1, 100, 1, 0.95, &x, NULL, &e), 0);
    g.n = 1;
    cr_expect_neq(kvb_bootstrap_paired(&g, 1, 0, 1, 0.95, &x, NULL, &e), 0);
    cr_expect_neq(kvb_bootstrap_paired(&g, 1, 10, 1, 1.0, &x, NULL, &e), 0);
    /* identical runs: zero-width interval at 0, not significant */
    cr_assert_eq(kvb_bootstrap_paired(&g, 1, 10, 1, 0.95, &x, NULL, &e), 0);
    cr_expect(x.lo == 0 && x.hi == 0 && !x.significant);
}

Test(results_boot, numpy_mean_python_round_and_repr)
{
    cJSON *j = load("tests/fixtures/results/numfmt.json");
    for (const cJSON *m = cJSON_GetObjectItem(j, "means")->child; m; m = m->next) {
        long n;
        double *x = numbers(cJSON_GetObjectItem(m, "x"), &n);
        double mean = kvb_np_sum(x, (size_t)n) / (double)n;
        cr_expect_eq(mean, cJSON_GetObjectItem(m, "mean")->valuedouble, "n=%ld %.17g", n, mean);
        cr_expect_eq(kvb_py_round(100 * mean, 2), cJSON_GetObjectItem(m, "round")->valuedouble);
        free(x);
    }
    int count = 0;
    for (const cJSON *v = cJSON_GetObjectItem(j, "numbers")->child; v; v = v->next, count++) {
        double x = strtod(cJSON_GetObjectItem(v, "x")->valuestring, NULL);
        double r2 = strtod(cJSON_GetObjectItem(v, "round2")->valuestring, NULL);
        char buf[64];
        kvb_py_repr(x, 0, buf, sizeof(buf));
        cr_expect_str_eq(buf, cJSON_GetObjectItem(v, "repr")->valuestring);
        cr_expect_eq(kvb_py_round(x, 2), r2, "round(%s, 2)", buf);
        kvb_py_repr(kvb_py_round(x, 2), 0, buf, sizeof(buf));
        cr_expect_str_eq(buf, cJSON_GetObjectItem(v, "round2_repr")->valuestring);
    }
    cr_expect_gt(count, 600);
    cJSON_Delete(j);
}

Test(results_boot, percentile_linear)
{
    double x[5] = { 1, 2, 3, 4, 10 };
    cr_expect_eq(kvb_percentile_sorted(x, 5, 0), 1);
    cr_expect_eq(kvb_percentile_sorted(x, 5, 100), 10);
    cr_expect_eq(kvb_percentile_sorted(x, 5, 50), 3);
    cr_expect_eq(kvb_percentile_sorted(x, 5, 87.5), 7);
    cr_expect_eq(kvb_percentile_sorted(x, 1, 30), 1);
}
