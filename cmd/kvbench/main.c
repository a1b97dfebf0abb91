/* kvbench: one binary, git-style verbs.
 *
 * Adding a verb (four steps):
 *   1. write cmd/kvbench/<verb>.c with `int cmd_<verb>(int argc, char **argv)`, argv[0] = verb;
 *   2. give it a `struct kvb_option` table and parse with kvb_parse_options (generates --help);
 *   3. declare it in verbs.h and add one line to the sorted table below;
 *   4. add an end-to-end test under tests/e2e/ and a README section.
 * Verbs are weak symbols, so a build that leaves one out still links; it is then not listed. */
#include <stdio.h>
#include <string.h>

#include "verbs.h"

struct verb {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct verb verbs[] = {
    { "bench", cmd_bench, "prefill/decode speed, memory and floors for a model and method" },
    { "diff", cmd_diff, "compare two runs per task with a paired bootstrap" },
    { "eval", cmd_eval, "score LongBench prediction files, write result.json" },
    { "gate", cmd_gate, "exit non-zero when a run falls below a baseline (CI)" },
    { "generate", cmd_generate, "greedy generation from a prompt" },
    { "info", cmd_info, "architecture, parameters, files, KV bytes per token" },
    { "list", cmd_list, "models, cache methods, tasks and task sets" },
    { "merge", cmd_merge, "join the run directories of shards" },
    { "report", cmd_report, "Markdown table and plots of one or more runs" },
    { "run", cmd_run, "run LongBench tasks with a cache method" },
    { "tokenize", cmd_tokenize, "text to token ids, or ids to text" },
};

static void usage(FILE *f)
{
    fprintf(f, "usage: kvbench <verb> [options]   (kvbench <verb> --help for each)\n\nverbs:\n");
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (verbs[i].fn)
            fprintf(f, "    %-10s %s\n", verbs[i].name, verbs[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("kvbench %s (%s)\n", KVB_VERSION, KVB_GIT_COMMIT);
        return 0;
    }
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (verbs[i].fn && !strcmp(verbs[i].name, argv[1]))
            return verbs[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "kvbench: error: '%s' is not a kvbench verb\n", argv[1]);
    usage(stderr);
    return 2;
}
