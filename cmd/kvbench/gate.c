/* kvbench gate RUN --baseline BASE: exit 0 when the run holds, 1 when it regresses, 2 on bad input. */
#include <stdio.h>
#include <stdlib.h>

#include "options.h"
#include "results/results.h"
#include "verbs.h"

int cmd_gate(int argc, char **argv)
{
    kvb_gate_opts g;
    kvb_gate_opts_default(&g);
    const char *base = NULL;
    long n_boot = g.n_boot, seed = (long)g.seed;
    const struct kvb_option opts[] = {
        KVB_OPT_STR_("baseline", &base, "BASE", "baseline run directory or run.json (required)"),
        KVB_OPT_DOUBLE_("max-drop", &g.max_drop, "P", "largest allowed drop of the average score, points (default 1.0)", 0, 100),
        KVB_OPT_DOUBLE_("max-task-drop", &g.max_task_drop, "P", "largest allowed drop of any task score, points (default: not checked)", 0, 100),
        KVB_OPT_DOUBLE_("min-compression", &g.min_compression, "R", "smallest allowed compression ratio of the run", 0, 1e9),
        KVB_OPT_DOUBLE_("max-kv-bytes", &g.max_kv_bytes, "B", "largest allowed peak KV bytes of the run", 0, 1e18),
        KVB_OPT_FLAG_("require-significance", &g.require_significance, "a drop fails only when the paired bootstrap calls it significant"),
        KVB_OPT_INT_("bootstrap", &n_boot, "N", "replicates for --require-significance (default 1000)", 1, 1000000),
        KVB_OPT_INT_("seed", &seed, "S", "bootstrap seed (default 1)", 0, 2147483647),
        KVB_OPT_FLAG_("force", &g.force, "gate against a baseline of another model"),
        KVB_OPT_END_,
    };
    char **pos = NULL;
    int npos = 0;
    int rc = kvb_parse_options(argc, argv, opts, "kvbench gate RUN --baseline BASE [options]", &pos, &npos);
    if (rc) {
        free(pos);
        return rc > 0 ? 0 : 2;
    }
    if (npos != 1 || !base) {
        free(pos);
        fprintf(stderr, "kvbench gate: error: one RUN and --baseline BASE expected (see --help)\n");
        return 2;
    }
    g.n_boot = n_boot;
    g.seed = (uint64_t)seed;
    kvb_error e = { 0 };
    kvb_strbuf report;
    kvb_strbuf_init(&report);
    int failed = 0;
    rc = kvb_gate_check(pos[0], base, &g, &failed, &report, &e);
    free(pos);
    if (rc) {
        kvb_strbuf_release(&report);
        return kvb_die(&e);
    }
    fputs(report.buf ? report.buf : "", stdout);
    kvb_strbuf_release(&report);
    return failed ? 1 : 0;
}
