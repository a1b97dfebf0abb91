/* kvbench diff and gate on crafted runs (tests/fixtures/results/runs, scripts/oracle/results_fixtures.py). */
#include <criterion/criterion.h>
#include <string.h>

#include "results/results.h"

#define RUNS "tests/fixtures/results/runs"

static int gate(const char *run, kvb_gate_opts *o, kvb_strbuf *rep, int *failed)
{
    kvb_error e = { 0 };
    kvb_strbuf_init(rep);
    int rc = kvb_gate_check(run, RUNS "/full", o, failed, rep, &e);
    if (rc)
        kvb_strbuf_adds(rep, e.msg);
    return rc;
}

Test(results_gate, holds_on_a_small_change)
{
    kvb_gate_opts o;
    kvb_gate_opts_default(&o);
    o.max_task_drop = 1;
    kvb_strbuf rep;
    int failed = -1;
    cr_assert_eq(gate(RUNS "/pass.json", &o, &rep, &failed), 0, "%s", rep.buf);
    cr_expect_eq(failed, 0, "%s", rep.buf);
    cr_expect(strstr(rep.buf, "gate: HOLD: 4 checks passed"), "%s", rep.buf);
    kvb_strbuf_release(&rep);
    /* the baseline against itself holds with every check on */
    o.min_compression = 1;
    o.max_kv_bytes = 4e7;
    o.max_drop = 0;
    o.max_task_drop = 0;
    cr_assert_eq(gate(RUNS "/full", &o, &rep, &failed), 0);
    cr_expect_eq(failed, 0, "%s", rep.buf);
    kvb_strbuf_release(&rep);
}

Test(results_gate, task_drop_fails_with_the_amount)
{
    kvb_gate_opts o;
    kvb_gate_opts_default(&o);
    kvb_strbuf rep;
    int failed;
    cr_assert_eq(gate(RUNS "/task_drop.json", &o, &rep, &failed), 0);
    cr_expect_eq(failed, 0, "average alone must hold: %s", rep.buf);
    kvb_strbuf_release(&rep);
    o.max_task_drop = 2;
    cr_assert_eq(gate(RUNS "/task_drop.json", &o, &rep, &failed), 0);
    cr_expect_eq(failed, 1, "%s", rep.buf);
    cr_expect(strstr(rep.buf, "FAIL task hotpotqa: 42.23 vs baseline 45.23, drop 3.00 > 2.00 allowed"),
              "%s", rep.buf);
    cr_expect(strstr(rep.buf, "PASS average score"), "%s", rep.buf);
    kvb_strbuf_release(&rep);
}

Test(results_gate, average_drop_fails)
{
    kvb_gate_opts o;
    kvb_gate_opts_default(&o);
    o.max_task_drop = 2;
    kvb_strbuf rep;
    int failed;
    cr_assert_eq(gate(RUNS "/avg_drop.json", &o, &rep, &failed), 0);
    cr_expect_eq(failed, 1, "%s", rep.buf);
    cr_expect(strstr(rep.buf, "FAIL average score: 58.85 vs baseline 60.35, drop 1.50 > 1.00 allowed"),
              "%s", rep.buf);
    kvb_strbuf_release(&rep);
    /* exactly at the limit holds (scores have 2 decimals: no float noise) */
    o.max_drop = 1.5;
    cr_assert_eq(gate(RUNS "/avg_drop.json", &o, &rep, &failed), 0);
    cr_expect_eq(failed, 0, "%s", rep.buf);
    kvb_strbuf_release(&rep);
}

Test(results_gate, compression_and_memory_limits)
{
    kvb_gate_opts o;
    kvb_gate_opts_default(&o);
    o.min_compression = 2;
    kvb_strbuf rep;
    int failed;
    cr_assert_eq(gate(RUNS "/low_compr.json", &o, &rep, &failed), 0);
    cr_expect_eq(failed, 1, "%s", rep.buf);
    cr_expect(strstr(rep.buf, "FAIL compression ratio: 1.500x (baseline 1.000x), 0.500x below the 2.000x required"),
              "%s", rep.buf);
    kvb_strbuf_release(&rep);
    o.min_compression = -1;
    o.max_kv_bytes = 1e6;
    cr_assert_eq(gate(RUNS "/low_compr.json", &o, &rep, &failed), 0);
    cr_expect_eq(failed, 1, "%s", rep.buf);
    cr_expect(strstr(rep.buf, "FAIL peak KV bytes"), "%s", rep.buf);
    kvb_strbuf_release(&rep);
}

Test(results_gate, missing_task_fails_other_model_is_bad_input)
{
    kvb_gate_opts o;
    kvb_gate_opts_default(&o);
    kvb_strbuf rep;
    int failed;
    cr_assert_eq(gate(RUNS "/fewer.json", &o, &rep, &failed), 0);
    cr_expect_eq(failed, 1, "%s", rep.buf);
    cr_expect(strstr(rep.buf, "FAIL task niah: in the baseline, missing from the run"), "%s", rep.buf);
    kvb_strbuf_release(&rep);
    cr_expect_eq(gate(RUNS "/other_model.json", &o, &rep, &failed), KVB_EINVAL);
    cr_expect(strstr(rep.buf, "different models"), "%s", rep.buf);
    kvb_strbuf_release(&rep);
    o.force = 1;
    cr_expect_eq(gate(RUNS "/other_model.json", &o, &rep, &failed), 0);
    kvb_strbuf_release(&rep);
    cr_expect_eq(gate(RUNS "/newer.json", &o, &rep, &failed), KVB_EINVAL);
    kvb_strbuf_release(&rep);
}

Test(results_gate, significance)
{
    kvb_gate_opts o;
    kvb_gate_opts_default(&o);
    o.max_task_drop = 2;
    o.require_significance = 1;
    kvb_strbuf rep;
    int failed;
    cr_assert_eq(gate(RUNS "/snapkv", &o, &rep, &failed), 0, "%s", rep.buf);
    cr_expect_eq(failed, 2, "%s", rep.buf); /* hotpotqa and the average: significant drops */
    cr_expect(strstr(rep.buf, "FAIL task hotpotqa"), "%s", rep.buf);
    kvb_strbuf_release(&rep);
    /* a run.json without predictions cannot be tested for significance: bad input */
    cr_expect_eq(gate(RUNS "/avg_drop.json", &o, &rep, &failed), KVB_EINVAL);
    cr_expect(strstr(rep.buf, "per-record predictions"), "%s", rep.buf);
    kvb_strbuf_release(&rep);
}

Test(results_diff, per_task_bootstrap_and_only_lists)
{
    kvb_diff_opts o = { 1000, 1, 0.95, 0 };
    kvb_diff d;
    kvb_error e = { 0 };
    cr_assert_eq(kvb_diff_compute(RUNS "/full", RUNS "/snapkv", &o, &d, &e), 0, "%s", e.msg);
    cr_assert_eq(d.n_rows, 3);
    cr_expect_str_eq(d.rows[0].task, "hotpotqa");
    cr_expect_eq(d.rows[0].n_shared, 30);
    cr_expect(d.rows[0].has_ci && d.rows[0].ci.significant && d.rows[0].ci.hi < 0);
    cr_expect_float_eq(d.rows[0].delta, 23.52 - 45.23, 1e-9);
    cr_expect(d.rows[1].has_ci && !d.rows[1].ci.significant);
    cr_expect(d.avg.has_ci);
    cr_expect_float_eq(d.rows[0].cr_b, 4.0, 1e-12);
    cr_expect_eq(d.n_only_a, 0);
    char *t = kvb_diff_text(&d, &o), *j = kvb_diff_json(&d, &o);
    cr_expect(strstr(t, "hotpotqa") && strstr(t, "*-"), "%s", t);
    cr_expect(strstr(j, "\"significant\":\ttrue"), "%s", j);
    free(t);
    free(j);
    kvb_diff_release(&d);
    cr_assert_eq(kvb_diff_compute(RUNS "/full", RUNS "/fewer.json", &o, &d, &e), 0, "%s", e.msg);
    cr_expect_eq(d.n_rows, 2);
    cr_expect_eq(d.n_only_a, 1);
    cr_expect_str_eq(d.only_a[0], "niah");
    cr_expect(!d.rows[0].has_ci); /* no pred files beside fewer.json */
    t = kvb_diff_text(&d, &o);
    cr_expect(strstr(t, "only in A: niah"), "%s", t);
    free(t);
    kvb_diff_release(&d);
    cr_expect_eq(kvb_diff_compute(RUNS "/full", RUNS "/other_model.json", &o, &d, &e), KVB_EINVAL);
    cr_expect(strstr(e.msg, "--force"), "%s", e.msg);
}
