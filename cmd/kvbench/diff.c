/* kvbench diff A B: two runs per task, with a paired bootstrap over the shared records. */
#include <stdio.h>
#include <stdlib.h>

#include "options.h"
#include "results/results.h"
#include "verbs.h"

int cmd_diff(int argc, char **argv)
{
    int json = 0, force = 0;
    long n_boot = 1000, seed = 1;
    const struct kvb_option opts[] = {
        KVB_OPT_FLAG_("json", &json, "print JSON instead of the text table"),
        KVB_OPT_INT_("bootstrap", &n_boot, "N", "bootstrap replicates (0: none; default 1000)", 0, 1000000),
        KVB_OPT_INT_("seed", &seed, "S", "bootstrap seed (default 1)", 0, 2147483647),
        KVB_OPT_FLAG_("force", &force, "compare runs of different models"),
        KVB_OPT_END_,
    };
    char **pos = NULL;
    int npos = 0;
    int rc = kvb_parse_options(argc, argv, opts, "kvbench diff A B [options]   (run directories or run.json files)",
                               &pos, &npos);
    if (rc) {
        free(pos);
        return rc > 0 ? 0 : 2;
    }
    if (npos != 2) {
        free(pos);
        fprintf(stderr, "kvbench diff: error: two runs expected, %d given (see --help)\n", npos);
        return 2;
    }
    kvb_diff_opts o = { n_boot, (uint64_t)seed, 0.95, force };
    kvb_diff d;
    kvb_error e = { 0 };
    rc = kvb_diff_compute(pos[0], pos[1], &o, &d, &e);
    free(pos);
    if (rc)
        return kvb_die(&e);
    char *text = json ? kvb_diff_json(&d, &o) : kvb_diff_text(&d, &o);
    kvb_diff_release(&d);
    if (!text) {
        kvb_errorf(&e, KVB_ENOMEM, "out of memory");
        return kvb_die(&e);
    }
    fputs(text, stdout);
    free(text);
    return 0;
}
