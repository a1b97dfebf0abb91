/* kvbench merge SHARD... --out DIR: join the run directories of `kvbench run --shard i/N`. */
#include <stdio.h>
#include <stdlib.h>

#include "options.h"
#include "results/results.h"
#include "verbs.h"

int cmd_merge(int argc, char **argv)
{
    const char *out = NULL;
    const struct kvb_option opts[] = {
        KVB_OPT_STR_("out", &out, "DIR", "directory of the merged run (required)"),
        KVB_OPT_END_,
    };
    char **pos = NULL;
    int npos = 0;
    int rc = kvb_parse_options(argc, argv, opts, "kvbench merge SHARD_DIR... --out DIR", &pos, &npos);
    if (rc) {
        free(pos);
        return rc > 0 ? 0 : 2;
    }
    if (npos < 1 || !out) {
        free(pos);
        fprintf(stderr, "kvbench merge: error: shard directories and --out DIR expected (see --help)\n");
        return 2;
    }
    kvb_error e = { 0 };
    rc = kvb_merge_runs((const char *const *)pos, npos, out, &e);
    free(pos);
    if (rc)
        return kvb_die(&e);
    printf("merged %d shards into %s\n", npos, out);
    return 0;
}
