/* libFuzzer harness: the command-line parser of every verb (cmd/kvbench/options.c, compiled in)
 * on an argv made from the input split at NUL bytes, against a table with every option type. */
#include "fuzz.h"

#include "../../cmd/kvbench/options.c"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    char *argv[257];
    int argc = 0;
    argv[argc++] = "run";
    for (size_t i = 0; i <= size && argc < 256;) {
        argv[argc++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    argv[argc] = NULL;
    const char *model = NULL, *type = NULL, *out = NULL;
    long limit = -1, threads = 0, seed = 0;
    double budget = 0, anything = 0;
    int resume = 0, dry = 0, seen_budget = 0;
    const struct kvb_option opts[] = {
        KVB_OPT_STR_("model", &model, "NAME", "model"),
        KVB_OPT_STR_("type", &type, "METHOD", "method"),
        KVB_OPT_STR_("out", &out, "DIR", "output"),
        KVB_OPT_INT_("limit", &limit, "N", "records", 0, 1000000),
        KVB_OPT_INT_("threads", &threads, "N", "threads", 0, 1024),
        KVB_OPT_INT_("seed", &seed, "N", "seed", 0, 0),
        { "budget", KVB_OPT_DOUBLE, &budget, "X", "budget", 0, 1, &seen_budget },
        KVB_OPT_DOUBLE_("any", &anything, "X", "unbounded", 0, 0),
        KVB_OPT_FLAG_("resume", &resume, "resume"),
        KVB_OPT_FLAG_("dry-run", &dry, "plan only"),
        KVB_OPT_END_,
    };
    char **pos = NULL;
    int npos = 0;
    int rc = kvb_parse_options(argc, argv, opts, "kvbench run [options]", (data[0] & 1) ? &pos : NULL,
                               &npos);
    if (rc == 0) {
        if (limit < -1 || limit > 1000000 || threads < 0 || threads > 1024 || budget < 0 ||
            budget > 1 || budget != budget)
            abort(); /* ranges are enforced */
        for (int i = 0; i < npos; i++)
            if (pos[i] < buf || pos[i] > buf + size)
                abort();
    }
    free(pos);
    free(buf);
    return 0;
}
