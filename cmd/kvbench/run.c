/* kvbench run: the tasks of the suite table (LongBench, the needle test, ...) with one cache method.
 *
 * This file turns flags into a run spec (lib/runner/suite.h) and hands it to a session
 * (lib/suites/suites.h: --tasks over the suite table, the model, the method, the run directory
 * and its fingerprint, the runner, result.json and run.json); it keeps the signals, the resume
 * hint and the printing. SIGINT/SIGTERM finish the current record, flush, print how to resume
 * and exit 130. A suite's own flags are fields of the spec and lines of the option table. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvcache/kvcache.h"
#include "longbench/niah.h"
#include "modelcli.h"
#include "options.h"
#include "results/results.h"
#include "ruler/source.h"
#include "suites/suites.h"
#include "verbs.h"

/* ---- options ------------------------------------------------------------------------------- */

/* Method parameters, one `--<name> V` flag each, from the methods' parameter tables
 * (kvb_cache_param_name), passed through to kvb_cache_create (the method validates them). */
#define N_PARAMS ((size_t)kvb_cache_param_count())

struct run_opts {
    const char *model, *type, *tasks, *data, *out, *shard, *chat_template, *max_memory;
    const char *lengths, *depths, *needle, *question, *weights, *cache_param, *device;
    const char *param_val[KVB_CACHE_MAX_PARAMS];
    long limit, max_length, threads, prompt_len;
    long trace_every; /* memory trace every k-th decode step; 0 = at most 64 points per record */
    int resume, skip_bad, skip_oversized, dry_run, e_variant;
    int random_weights;
    long seed; /* of --random-weights, and RULER's when given */
    long ruler_samples;
    const char *ruler_template;
    int limit_seen, max_length_seen, seed_seen;
    long shard_i, shard_n;
    size_t max_memory_bytes; /* 0: available memory */
    kvb_cache_param extra[16]; /* --cache-param names without a flag (the method refuses them) */
    int n_extra;
    char **argv;
    int argc;
};

/* ---- signals ------------------------------------------------------------------------------- */

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    if (g_stop) /* a second signal: the user really wants out now */
        _exit(130);
    g_stop = sig;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static void print_resume_hint(const struct run_opts *o, const char *out_dir)
{
    fprintf(stderr, "kvbench: interrupted; finished records are saved in %s. Resume with:\n  kvbench",
            out_dir);
    int has_resume = 0, has_out = 0;
    for (int i = 0; i < o->argc; i++) {
        fprintf(stderr, " %s", o->argv[i]);
        has_resume |= !strcmp(o->argv[i], "--resume");
        has_out |= !strncmp(o->argv[i], "--out", 5);
    }
    if (!has_out)
        fprintf(stderr, " --out %s", out_dir);
    if (!has_resume)
        fprintf(stderr, " --resume");
    fputc('\n', stderr);
}

/* --cache-param name=value,...: one source with the per-parameter flags (--budget ...): a known
 * name fills its flag's slot, a conflicting duplicate is refused; other names go to the method,
 * which refuses what it does not take. */
static int merge_cache_params(struct run_opts *o, const kvb_cache_param *cp, int n, kvb_error *e)
{
    for (int i = 0; i < n; i++) {
        size_t k = 0;
        while (k < N_PARAMS && strcmp(kvb_cache_param_name((int)k), cp[i].name))
            k++;
        if (k == N_PARAMS && o->n_extra == (int)(sizeof(o->extra) / sizeof(o->extra[0])))
            return kvb_errorf(e, KVB_EINVAL, "--cache-param: too many parameters");
        else if (k == N_PARAMS)
            o->extra[o->n_extra++] = cp[i];
        else if (o->param_val[k] && strcmp(o->param_val[k], cp[i].value))
            return kvb_errorf(e, KVB_EINVAL, "--cache-param %s=%s conflicts with --%s %s",
                              cp[i].name, cp[i].value, cp[i].name, o->param_val[k]);
        else
            o->param_val[k] = cp[i].value;
    }
    return 0;
}

/* ---- flags -> spec ------------------------------------------------------------------------ */

static int run_main(struct run_opts *o, kvb_error *e)
{
    kvb_cache_param params[KVB_CACHE_MAX_PARAMS + 16];
    int n_params = 0;
    for (size_t i = 0; i < N_PARAMS; i++)
        if (o->param_val[i])
            params[n_params++] = (kvb_cache_param){ kvb_cache_param_name((int)i), o->param_val[i] };
    for (int i = 0; i < o->n_extra; i++)
        params[n_params++] = o->extra[i];
    kvb_run_spec sp = {
        .model = o->model, .weights = o->weights, .random_weights = o->random_weights,
        .seed = o->seed, .method = o->type, .params = params, .n_params = n_params,
        .tasks = o->tasks, .data = o->data, .e_variant = o->e_variant, .skip_bad = o->skip_bad,
        .limit = o->limit_seen ? o->limit : -1, .shard_i = o->shard_i, .shard_n = o->shard_n,
        .chat_template = o->chat_template, .max_length = o->max_length_seen ? (int)o->max_length : 0,
        .out = o->out, .resume = o->resume, .max_memory = o->max_memory_bytes,
        .skip_oversized = o->skip_oversized, .trace_every = o->trace_every,
        .dry_run = o->dry_run, .prompt_len = o->prompt_len, .lengths = o->lengths,
        .depths = o->depths, .needle = o->needle, .question = o->question,
        .ruler_samples = o->ruler_samples, .ruler_seed = o->seed_seen ? o->seed : -1,
        .ruler_template = o->ruler_template };
    kvb_model_flags f = { .model = o->model, .threads = o->threads,
                          .random_weights = o->random_weights, .seed = o->seed,
                          .weights = o->weights, .device = o->device };
    int rc = kvb_cli_model_opts(&f, &sp.model_opts, e);
    if (!rc) /* before any data or weights are read */
        rc = kvb_device_check_method(sp.model_opts.device, o->type, params, n_params, e);
    kvb_session *s = NULL;
    if (!rc)
        rc = kvb_session_open(&s, &sp, e);
    if (!rc && o->dry_run) {
        kvb_strbuf plan;
        kvb_strbuf_init(&plan);
        rc = kvb_session_dry_run(s, &plan, e);
        fputs(plan.buf ? plan.buf : "", stdout);
        kvb_strbuf_release(&plan);
        kvb_session_free(s);
        return rc;
    }
    if (!rc) {
        install_signals();
        rc = kvb_session_run(s, &g_stop, e);
    }
    if (!rc && g_stop) {
        print_resume_hint(o, kvb_session_out_dir(s));
        rc = kvb_errorf(e, KVB_EINTR, "interrupted by signal %d", (int)g_stop);
    }
    char *summary = NULL;
    if (!rc && !(rc = kvb_session_finish(s, &summary, e))) {
        char *res = kvb_path_join(kvb_session_out_dir(s), "result.json");
        char *rj = kvb_path_join(kvb_session_out_dir(s), "run.json");
        printf("%s\n", summary);
        fprintf(stderr, "kvbench: wrote %s and %s\n", res ? res : "", rj ? rj : "");
        free(res);
        free(rj);
    }
    free(summary);
    kvb_session_free(s);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    struct run_opts o;
    memset(&o, 0, sizeof(o));
    o.model = "smollm2-135m";
    o.type = "full";
    o.tasks = "en16";
    o.weights = "bf16";
    o.argc = argc;
    o.argv = argv;
    struct kvb_option opts[64] = {
        KVB_OPT_STR_("model", &o.model, "M", "model name, HF directory or .gguf (default smollm2-135m)"),
        KVB_OPT_STR_("type", &o.type, "METHOD", "cache method (kvbench list; default full)"),
        KVB_OPT_STR_("tasks", &o.tasks, "SET", "en16 (default), all, e, zh, or a comma list; niah = needle-in-a-haystack; ruler = RULER (or its task names)"),
        { "limit", KVB_OPT_INT, &o.limit, "N", "first N records of each task", 1, 1e9, &o.limit_seen },
        { "max-length", KVB_OPT_INT, &o.max_length, "N", "prompt budget in tokens (default: the model's)", 16, 1 << 24, &o.max_length_seen },
        KVB_OPT_STR_("data", &o.data, "DIR", "LongBench data directory (default: search, see docs/longbench.md); RULER qa_1/qa_2 read squad.json/hotpotqa.json there"),
        KVB_OPT_FLAG_("e", &o.e_variant, "LongBench-E: read <task>_e.jsonl, score length buckets"),
        KVB_OPT_STR_("out", &o.out, "DIR", "run directory (default results/<model>/<method>[-<params>])"),
        KVB_OPT_INT_("threads", &o.threads, "N", "threads (default: all cores)", 0, 4096),
        KVB_OPT_FLAG_("resume", &o.resume, "continue the run in --out, skipping finished records"),
        KVB_OPT_STR_("shard", &o.shard, "i/N", "run every N-th record starting at i (join with kvbench merge)"),
        KVB_OPT_STR_("chat-template", &o.chat_template, "F", "chat template family: llama2, llama3, mistral, chatml, none"),
        KVB_OPT_FLAG_("skip-bad-records", &o.skip_bad, "skip malformed records (counted in run.json) instead of failing"),
        KVB_OPT_STR_("max-memory", &o.max_memory, "B", "memory limit for weights + cache + activations (e.g. 8G; default: available memory)"),
        KVB_OPT_FLAG_("skip-oversized", &o.skip_oversized, "skip records over --max-memory instead of failing"),
        KVB_OPT_INT_("trace-every", &o.trace_every, "K", "memory trace: KV bytes every K-th decode step (default: at most 64 points per record)", 1, 1 << 24),
        KVB_OPT_FLAG_("dry-run", &o.dry_run, "print the plan (model, method, memory, data) from the config alone and exit"),
        KVB_MODEL_WEIGHT_OPTS(&o.random_weights, &o.seed, &o.weights, &o.device),
        KVB_OPT_STR_("cache-param", &o.cache_param, "LIST", "cache parameters name=value,... (one source with --budget etc.; a conflict is an error)"),
        KVB_OPT_INT_("prompt-len", &o.prompt_len, "N", "prompt length for --dry-run", 1, 1 << 24),
        KVB_OPT_STR_("lengths", &o.lengths, "L,..", "niah and RULER context lengths in tokens (default niah " KVB_NIAH_LENGTHS ", RULER " KVB_RULER_LENGTHS ")"),
        KVB_OPT_STR_("depths", &o.depths, "D,..", "niah needle depths in percent (default 0,10,...,100)"),
        KVB_OPT_STR_("needle", &o.needle, "TEXT", "niah needle sentence"),
        KVB_OPT_STR_("question", &o.question, "TEXT", "niah question"),
        KVB_OPT_INT_("samples", &o.ruler_samples, "N", "RULER samples generated per task and length (default 500, RULER's)", 1, 1e7),
        KVB_OPT_STR_("ruler-template", &o.ruler_template, "NAME", "RULER model template: base, meta-chat, meta-llama3, ... (RULER's template.py) or chat = the model's chat template (default: chat when the model has one, else base)"),
    };
    int k = 0;
    for (; opts[k].name; k++)
        if (!strcmp(opts[k].name, "seed")) { /* one --seed: random weights and RULER's samples */
            opts[k].seen = &o.seed_seen;
            opts[k].help = "seed of --random-weights (default 0) and of RULER's generator (default 42)";
        }
    for (size_t i = 0; i < N_PARAMS && k < 63; i++)
        opts[k++] = (struct kvb_option)KVB_OPT_STR_(kvb_cache_param_name((int)i), &o.param_val[i],
                                                    "V", kvb_cache_param_help((int)i));
    opts[k] = (struct kvb_option)KVB_OPT_END_;
    int prc = kvb_parse_options(argc, argv, opts, "kvbench run [options]", NULL, NULL);
    if (prc)
        return prc > 0 ? 0 : 2;
    kvb_error e = { 0 };
    o.shard_n = 1;
    if (o.shard && kvb_parse_shard(o.shard, &o.shard_i, &o.shard_n)) {
        kvb_errorf(&e, KVB_EINVAL, "--shard %s: expected i/N with 0 <= i < N", o.shard);
        return kvb_die(&e);
    }
    if (o.max_memory && kvb_parse_bytes(o.max_memory, &o.max_memory_bytes)) {
        kvb_errorf(&e, KVB_EINVAL, "--max-memory %s: expected bytes (e.g. 8G, 512M)", o.max_memory);
        return kvb_die(&e);
    }
    char **items;
    int n_items;
    kvb_cache_param *cp;
    int rc = kvb_cli_parse_cache_params(o.cache_param, &items, &n_items, &cp, &e);
    if (!rc)
        rc = merge_cache_params(&o, cp, n_items, &e);
    if (!rc)
        rc = run_main(&o, &e);
    free(cp);
    kvb_free_strv(items, n_items);
    return rc ? kvb_die(&e) : 0;
}
