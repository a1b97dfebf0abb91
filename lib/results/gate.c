/* kvbench gate: does a run hold against a baseline? One line per check, for CI logs. */
#include "results.h"

#include <math.h>
#include <string.h>

/* Scores carry 2 decimals; differences of such numbers are off by ~1e-14, which must not turn
 * "dropped exactly the allowed 1.00" into a failure. */
#define GATE_EPS 1e-9

void kvb_gate_opts_default(kvb_gate_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->max_drop = 1.0;
    o->max_task_drop = -1;
    o->min_compression = -1;
    o->max_kv_bytes = -1;
    o->n_boot = 1000;
    o->seed = 1;
}

typedef struct gate_ctx {
    kvb_strbuf *out;
    int checks, failed;
} gate_ctx;

static void verdict(gate_ctx *g, int fail, const char *fmt, const char *what, double got,
                    double ref, double amount, double limit)
{
    g->checks++;
    g->failed += fail;
    kvb_strbuf_addf(g->out, "%s ", fail ? "FAIL" : "PASS");
    kvb_strbuf_addf(g->out, fmt, what, got, ref, amount, limit);
    kvb_strbuf_adds(g->out, "\n");
}

/* A score drop fails when it is larger than allowed and, under --require-significance, when the
 * paired bootstrap interval lies entirely below zero too. */
static void score_check(gate_ctx *g, const kvb_gate_opts *o, const char *what,
                        const kvb_diff_row *r, double limit)
{
    double drop = r->a - r->b;
    int over = drop > limit + GATE_EPS;
    int fail = over && (!o->require_significance || (r->has_ci && r->ci.hi < 0));
    verdict(g, fail,
            over ? "%s: %.2f vs baseline %.2f, drop %.2f > %.2f allowed"
            : drop > 0 ? "%s: %.2f vs baseline %.2f, drop %.2f <= %.2f allowed"
                       : "%s: %.2f vs baseline %.2f, no drop (%+.2f), %.2f allowed",
            what, r->b, r->a, drop > 0 ? drop : (r->b - r->a) + 0.0, limit);
    if (over && o->require_significance)
        kvb_strbuf_addf(g->out, "     paired bootstrap: B-A in [%+.2f, %+.2f] over %ld records: %s\n",
                        r->ci.lo, r->ci.hi, r->n_shared,
                        fail ? "significant" : "not significant, so not a regression");
}

int kvb_gate_check(const char *run_path, const char *base_path, const kvb_gate_opts *o,
                   int *failed, kvb_strbuf *report, kvb_error *e)
{
    kvb_diff d;
    kvb_diff_opts dopt = { o->require_significance ? o->n_boot : 0, o->seed, 0.95, o->force };
    if (o->require_significance && o->n_boot < 1)
        return kvb_errorf(e, KVB_EINVAL, "--require-significance needs --bootstrap >= 1");
    /* The baseline is A, the run under test B: deltas read "run minus baseline". */
    int rc = kvb_diff_compute(base_path, run_path, &dopt, &d, e);
    if (rc)
        return rc;
    if (o->require_significance) {
        for (int i = 0; i < d.n_rows; i++)
            if (!d.rows[i].has_ci) {
                rc = kvb_errorf(e, KVB_EINVAL,
                                "--require-significance needs per-record predictions of task %s "
                                "(pred/%s.jsonl with \"score\") in both %s and %s",
                                d.rows[i].task, d.rows[i].task, base_path, run_path);
                kvb_diff_release(&d);
                return rc;
            }
    }
    gate_ctx g = { report, 0, 0 };
    kvb_strbuf_addf(report, "gate: run %s (%s) against baseline %s (%s)\n", run_path,
                    d.b.method_name, base_path, d.a.method_name);
    for (int i = 0; i < d.n_only_a; i++) {
        g.checks++;
        g.failed++;
        kvb_strbuf_addf(report, "FAIL task %s: in the baseline, missing from the run\n", d.only_a[i]);
    }
    if (d.n_rows)
        score_check(&g, o, "average score", &d.avg, o->max_drop);
    if (o->max_task_drop >= 0)
        for (int i = 0; i < d.n_rows; i++) {
            char what[128];
            snprintf(what, sizeof(what), "task %s", d.rows[i].task);
            score_check(&g, o, what, &d.rows[i], o->max_task_drop);
        }
    if (o->min_compression >= 0) {
        int fail = d.b.compression_ratio + GATE_EPS < o->min_compression;
        verdict(&g, fail, fail ? "%s: %.3fx (baseline %.3fx), %.3fx below the %.3fx required"
                               : "%s: %.3fx (baseline %.3fx), %.3fx above the %.3fx required",
                "compression ratio", d.b.compression_ratio, d.a.compression_ratio,
                fabs(d.b.compression_ratio - o->min_compression), o->min_compression);
    }
    if (o->max_kv_bytes >= 0) {
        int fail = d.b.peak_kv_bytes > o->max_kv_bytes;
        verdict(&g, fail, fail ? "%s: %.0f bytes (baseline %.0f), %.0f over the %.0f allowed"
                               : "%s: %.0f bytes (baseline %.0f), %.0f under the %.0f allowed",
                "peak KV bytes", d.b.peak_kv_bytes, d.a.peak_kv_bytes,
                fabs(d.b.peak_kv_bytes - o->max_kv_bytes), o->max_kv_bytes);
    }
    for (int i = 0; i < d.n_only_b; i++)
        kvb_strbuf_addf(report, "note task %s: in the run, not in the baseline (not gated)\n",
                        d.only_b[i]);
    if (g.failed)
        kvb_strbuf_addf(report, "gate: REGRESSION: %d of %d checks failed\n", g.failed, g.checks);
    else
        kvb_strbuf_addf(report, "gate: HOLD: %d checks passed\n", g.checks);
    *failed = g.failed;
    kvb_diff_release(&d);
    return 0;
}
