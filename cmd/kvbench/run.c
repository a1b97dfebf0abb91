/* kvbench run: LongBench tasks (and the needle-in-a-haystack task) with one cache method.
 *
 * This file turns flags into a run: the model, the method, the run directory (lib/results:
 * pred/, memory/, fingerprint.json, the commit point and --resume) and one task source per task
 * (lib/runner/runner.h), driven by the runner; then result.json and run.json. SIGINT/SIGTERM
 * finish the current record, flush, print how to resume and exit 130. */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvcache/kvcache.h"
#include "longbench/data.h"
#include "text/jieba.h"
#include "longbench/niah.h"
#include "longbench/source.h"
#include "modelcli.h"
#include "options.h"
#include "results/results.h"
#include "verbs.h"

/* ---- options ------------------------------------------------------------------------------- */

/* Method parameters, one `--<name> V` flag each, from the methods' parameter tables
 * (kvb_cache_param_name), passed through to kvb_cache_create (the method validates them). */
#define N_PARAMS ((size_t)kvb_cache_param_count())

struct run_opts {
    const char *model, *type, *tasks, *data, *out, *shard, *chat_template, *max_memory;
    const char *lengths, *depths, *needle, *question, *weights, *cache_param;
    const char *param_val[KVB_CACHE_MAX_PARAMS];
    long limit, max_length, threads, prompt_len;
    long trace_every; /* memory trace every k-th decode step; 0 = at most 64 points per record */
    int resume, skip_bad, skip_oversized, dry_run, e_variant;
    int random_weights;
    long seed; /* of --random-weights */
    int limit_seen, max_length_seen;
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

/* ---- the run context ----------------------------------------------------------------------- */

struct ctx {
    const struct run_opts *o;
    kvb_model *m;
    const kvb_model_config *cfg;
    const kvb_tokenizer *tok;
    kvb_cache_param params[KVB_CACHE_MAX_PARAMS + 16];
    int n_params;
    const char *method;   /* canonical name */
    char *params_json;    /* effective parameters */
    kvb_lb_prompt_opts po; /* budget, chat family (NULL: none), BOS, decode clean-up */
    char weights[48];     /* "file", or "random seed N" (--random-weights) */
    char *out_dir;
    kvb_rundir *dir;
    kvb_run run;
    size_t mem_limit;     /* bytes allowed for KV + activations of one record */
    kvb_jieba *jieba;     /* loaded when a Chinese task runs (its metrics segment words) */
    kvb_segmenter seg;
    long n_oversized;
};

/* jieba.cut for the Chinese metrics (kvb_segmenter's signature is jieba's). */
static int jieba_cut(const void *ctx, const char *text, size_t len, kvb_seg_tok_fn cb, void *arg,
                     kvb_error *e)
{
    return kvb_jieba_cut(ctx, text, len, cb, arg, e);
}

/* ---- setup --------------------------------------------------------------------------------- */

static char *settings_json(const struct ctx *cx)
{
    const struct run_opts *o = cx->o;
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "tasks", o->tasks);
    cJSON_AddNumberToObject(s, "max_length", cx->po.max_length);
    if (o->limit_seen)
        cJSON_AddNumberToObject(s, "limit", (double)o->limit);
    else
        cJSON_AddNullToObject(s, "limit");
    cJSON_AddBoolToObject(s, "e", o->e_variant);
    cJSON_AddBoolToObject(s, "add_bos", cx->po.add_bos);
    cJSON_AddBoolToObject(s, "clean_up_tokenization_spaces", cx->po.cleanup_spaces);
    cJSON_AddBoolToObject(s, "skip_bad_records", o->skip_bad);
    cJSON_AddStringToObject(s, "niah_lengths", o->lengths ? o->lengths : KVB_NIAH_LENGTHS);
    cJSON_AddStringToObject(s, "niah_depths", o->depths ? o->depths : KVB_NIAH_DEPTHS);
    cJSON_AddStringToObject(s, "niah_needle", o->needle ? o->needle : KVB_NIAH_NEEDLE);
    cJSON_AddStringToObject(s, "niah_question", o->question ? o->question : KVB_NIAH_QUESTION);
    cJSON_AddNumberToObject(s, "skipped_oversized", (double)cx->n_oversized);
    char *t = cJSON_PrintUnformatted(s);
    cJSON_Delete(s);
    return t;
}

/* The settings every task shares, checked against (or recorded in) fingerprint.json. */
static int fingerprint_check(struct ctx *cx, kvb_error *e)
{
    char buf[64], shard[64], wb[64], tev[32];
    snprintf(buf, sizeof(buf), "%d", cx->po.max_length);
    snprintf(shard, sizeof(shard), "%ld/%ld", cx->o->shard_i, cx->o->shard_n);
    snprintf(wb, sizeof(wb), "%zu", kvb_model_weight_bytes(cx->m));
    snprintf(tev, sizeof(tev), "%ld", cx->o->trace_every); /* memory lines of one layout */
    const char *const kv[][2] = {
        { "model", cx->cfg->name }, { "model_weight_bytes", wb }, { "weights", cx->weights },
        { "weights_dtype", cx->o->weights }, { "method", cx->method },
        { "params", cx->params_json },
        { "chat_template", cx->po.chat_family ? cx->po.chat_family : "none" },
        { "max_length", buf }, { "add_bos", cx->po.add_bos ? "1" : "0" },
        { "decode_cleanup", cx->po.cleanup_spaces ? "1" : "0" },
        { "longbench_e", cx->o->e_variant ? "1" : "0" }, { "shard", shard },
        { "trace_every", tev } };
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
        int rc = kvb_rundir_fp_check(cx->dir, kv[i][0], kv[i][1], e);
        if (rc)
            return rc;
    }
    return kvb_rundir_fp_save(cx->dir, e);
}

/* The effective method name and parameters, validated once before any record runs. */
static int probe_method(struct ctx *cx, kvb_error *e)
{
    const kvb_model_config *c = cx->cfg;
    kvb_cache_shape shape = { c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim, 64, c->family };
    kvb_cache *cache;
    int rc = kvb_cache_create(&cache, cx->o->type, &shape, cx->params, cx->n_params,
                              kvb_model_pool(cx->m), e);
    if (rc)
        return rc;
    cx->method = kvb_cache_method_name(cache);
    cx->params_json = kvb_cache_params_json(cache);
    kvb_cache_free(cache);
    if (!cx->params_json)
        cx->params_json = kvb_strdup("{}");
    return 0;
}

static int dry_run(struct ctx *cx, int want_niah, const kvb_task **lb, int n_lb, kvb_error *e)
{
    const struct run_opts *o = cx->o;
    const kvb_model_config *c = cx->cfg;
    long n = o->prompt_len > 0 ? o->prompt_len : cx->po.max_length;
    printf("model %s: %d layers, %d heads, %d kv heads, head_dim %d; weights %.1f MiB\n", c->name,
           c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim,
           kvb_model_weight_bytes(cx->m) / 1048576.0);
    printf("method %s %s; chat template %s; prompt budget %d tokens; add BOS %s%s\n", cx->method,
           cx->params_json, cx->po.chat_family ? cx->po.chat_family : "none", cx->po.max_length,
           cx->po.add_bos ? "yes" : "no", cx->tok ? "" : " (family default: no tokenizer files here)");
    kvb_strbuf plan;
    kvb_strbuf_init(&plan);
    kvb_cache_shape shape = { c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim, 0, c->family };
    int rc = kvb_cache_plan_text(o->type, &shape, cx->params, cx->n_params, (int)n, &plan, e);
    fputs(plan.buf ? plan.buf : "", stdout);
    kvb_strbuf_release(&plan);
    if (rc)
        return rc;
    printf("memory guard: a %ld-token record needs about %.1f MiB beyond the weights (limit %.0f MiB)\n",
           n, kvb_run_estimate_bytes(c, n, 512) / 1048576.0, cx->mem_limit / 1048576.0);
    for (int i = 0; i < n_lb; i++) {
        char *path = NULL;
        kvb_error le = { 0 };
        if (kvb_lb_data_find(lb[i]->key, o->data, o->e_variant, &path, &le) == 0)
            printf("task %-22s max_new %3d chat %-3s data %s\n", lb[i]->key,
                   lb[i]->max_new_tokens, lb[i]->skip_chat ? "no" : "yes", path);
        else
            printf("task %-22s no data found (scripts/fetch_longbench.sh, or --data DIR)\n",
                   lb[i]->key);
        free(path);
    }
    if (want_niah)
        printf("task niah lengths %s depths %s essays %s\n", o->lengths ? o->lengths : KVB_NIAH_LENGTHS,
               o->depths ? o->depths : KVB_NIAH_DEPTHS,
               kvb_niah_essays_dir() ? kvb_niah_essays_dir() : "(missing: make data)");
    return 0;
}

/* Run every task through the runner: LongBench tasks, then the needle test. */
static int run_tasks(struct ctx *cx, const kvb_task **lb, int n_lb, int want_niah, kvb_error *e)
{
    const struct run_opts *o = cx->o;
    kvb_runner rn = { .m = cx->m, .method = o->type, .params = cx->params,
                         .n_params = cx->n_params, .dir = cx->dir, .run = &cx->run,
                         .limit = o->limit_seen ? o->limit : -1, .shard_i = o->shard_i,
                         .shard_n = o->shard_n, .trace_every = (int)o->trace_every,
                         .cleanup = cx->po.cleanup_spaces, .mem_limit = cx->mem_limit,
                         .skip_oversized = o->skip_oversized, .stop = &g_stop };
    kvb_lb_source_opts so = { .data_dir = o->data, .e_variant = o->e_variant,
                              .skip_bad = o->skip_bad, .seg = cx->jieba ? &cx->seg : NULL,
                              .tok = cx->tok,
                              .prompt = cx->po,
                              .lengths = o->lengths, .depths = o->depths, .needle = o->needle,
                              .question = o->question };
    int rc = 0;
    for (int i = 0; i <= n_lb && !rc && !g_stop; i++) {
        if (i == n_lb && !want_niah)
            break;
        kvb_source s;
        rc = i < n_lb ? kvb_lb_source_longbench_init(&s, lb[i], &so, e)
                      : kvb_lb_source_niah_init(&s, &so, e);
        if (!rc) {
            rc = kvb_run_source(&rn, &s, e);
            kvb_source_release(&s);
        }
    }
    cx->n_oversized = rn.n_oversized;
    return rc;
}

/* Model, chat template, prompt defaults, method and memory limit: everything a task needs. */
static int setup(struct ctx *cx, const kvb_task **lb, int n_lb, kvb_error *e)
{
    const struct run_opts *o = cx->o;
    for (size_t i = 0; i < N_PARAMS; i++)
        if (o->param_val[i])
            cx->params[cx->n_params++] = (kvb_cache_param){ kvb_cache_param_name((int)i), o->param_val[i] };
    for (int i = 0; i < o->n_extra; i++)
        cx->params[cx->n_params++] = o->extra[i];
    kvb_model_flags f = { .model = o->model, .threads = o->threads,
                          .random_weights = o->random_weights, .seed = o->seed,
                          .weights = o->weights };
    kvb_model_opts mo;
    int rc = kvb_cli_model_opts(&f, &mo, e);
    if (rc)
        return rc;
    /* a dry run plans from the config alone (a model name or an HF directory): no weights are
     * read, and no tokenizer is needed; a .gguf file holds its config inside, so it is opened */
    size_t ml = strlen(o->model);
    if (o->dry_run && (kvb_is_dir(o->model) ||
                       (!strchr(o->model, '/') && !(ml > 5 && !strcmp(o->model + ml - 5, ".gguf")))))
        mo.random_weights = mo.config_only = 1;
    snprintf(cx->weights, sizeof(cx->weights), o->random_weights ? "random seed %ld" : "file",
             o->seed);
    if ((rc = kvb_model_open(&cx->m, o->model, &mo, e)))
        return rc;
    cx->cfg = kvb_model_get_config(cx->m);
    cx->tok = kvb_model_tokenizer(cx->m);
    if (!cx->tok && !o->dry_run)
        return kvb_errorf(e, KVB_EINVAL, "%s: the model has no tokenizer (tokenizer.json beside "
                          "config.json, or a .gguf vocabulary)", o->model);
    if ((rc = kvb_lb_prompt_setup(cx->cfg, cx->tok, o->chat_template,
                                  o->max_length_seen ? (int)o->max_length : 0, &cx->po, e)))
        return rc;
    if ((rc = probe_method(cx, e)))
        return rc;
    for (int i = 0; i < n_lb && !cx->jieba && !o->dry_run; i++)
        if (lb[i]->lang == KVB_LANG_ZH) {
            if ((rc = kvb_jieba_load(&cx->jieba, NULL, e)))
                return kvb_error_prefix(e, "task %s needs the jieba dictionary (make deps installs "
                                           "python3-jieba; or set KVBENCH_JIEBA_DIR)", lb[i]->key);
            cx->seg.cut = jieba_cut;
            cx->seg.ctx = cx->jieba;
        }
    cx->mem_limit = kvb_run_mem_limit(o->max_memory_bytes, kvb_model_weight_bytes(cx->m));
    return 0;
}

/* run.json's head: model, method, machine, prompt settings. */
static int describe_run(struct ctx *cx, kvb_error *e)
{
    char mfp[65];
    kvb_model_fingerprint(cx->cfg, kvb_model_weight_bytes(cx->m), cx->weights, mfp);
    kvb_model_info mi;
    memset(&mi, 0, sizeof(mi));
    kvb_model_get_info(cx->m, &mi);
    char mflags[512];
    kvb_run_machine_flags(mflags, sizeof(mflags), mi.isa, mi.held_dtype);
    int rc;
    if ((rc = kvb_run_set_model(&cx->run, cx->cfg->name, cx->cfg->repo_id,
                                mi.source ? mi.source : cx->o->model,
                                mi.held_dtype ? mi.held_dtype : "", mfp, e)) ||
        (rc = kvb_run_set_method(&cx->run, cx->method, cx->params_json, e)) ||
        (rc = kvb_run_set_machine(&cx->run, kvb_pool_size(kvb_model_pool(cx->m)), mflags, "", e)) ||
        (rc = kvb_run_set_str(&cx->run.chat_template, cx->po.chat_family ? cx->po.chat_family : "none", e)) ||
        (rc = kvb_run_set_str(&cx->run.data_dir, cx->o->data ? cx->o->data : "", e)))
        return rc;
    return kvb_run_set_shard(&cx->run, cx->o->shard_i, cx->o->shard_n, e);
}

/* result.json and run.json, and the scores on stdout. */
static int finish_run(struct ctx *cx, kvb_error *e)
{
    char *settings = settings_json(cx);
    int rc = kvb_run_set_settings(&cx->run, settings, e);
    free(settings);
    cx->run.peak_rss_bytes = (double)kvb_peak_rss();
    char *res = kvb_path_join(cx->out_dir, "result.json"), *rj = kvb_path_join(cx->out_dir, "run.json");
    if (!rc)
        rc = kvb_run_finish(&cx->run, e);
    if (!rc)
        rc = kvb_result_json_write(&cx->run, res, e);
    if (!rc)
        rc = kvb_run_write(&cx->run, rj, e);
    if (!rc) {
        char *txt = kvb_result_json_text(&cx->run);
        printf("%s\n", txt ? txt : "");
        free(txt);
        fprintf(stderr, "kvbench: wrote %s and %s\n", res, rj);
    }
    free(res);
    free(rj);
    return rc;
}

static int run_main(struct run_opts *o, kvb_error *e)
{
    struct ctx cx;
    memset(&cx, 0, sizeof(cx));
    cx.o = o;
    kvb_run_init(&cx.run);
    int want_niah = 0, n_lb = 0, rc;
    const kvb_task **lb = NULL;
    if ((rc = kvb_lb_sources_parse(o->tasks, &want_niah, &lb, &n_lb, e)))
        goto out;
    kvb_lb_source_opts so = { .data_dir = o->data, .e_variant = o->e_variant, .skip_bad = o->skip_bad };
    if (!o->dry_run && (rc = kvb_lb_sources_preflight(lb, n_lb, &so, e)))
        goto out;
    if (o->out && !o->dry_run && (rc = kvb_rundir_check(o->out, e))) /* before the model loads */
        goto out;
    if ((rc = setup(&cx, lb, n_lb, e)))
        goto out;
    if (o->dry_run) {
        rc = dry_run(&cx, want_niah, lb, n_lb, e);
        goto out;
    }
    const char *names[KVB_CACHE_MAX_PARAMS];
    for (size_t i = 0; i < N_PARAMS; i++)
        names[i] = kvb_cache_param_name((int)i);
    cx.out_dir = o->out ? kvb_strdup(o->out)
                        : kvb_rundir_default_path(cx.cfg->name, cx.method, names, o->param_val,
                                                  (int)N_PARAMS, o->shard_i, o->shard_n);
    if ((rc = kvb_rundir_open(&cx.dir, cx.out_dir, o->resume, e)) ||
        (rc = fingerprint_check(&cx, e)) || (rc = describe_run(&cx, e)))
        goto out;
    install_signals();
    if ((rc = run_tasks(&cx, lb, n_lb, want_niah, e)))
        goto out;
    if (g_stop) {
        print_resume_hint(o, cx.out_dir);
        rc = kvb_errorf(e, KVB_EINTR, "interrupted by signal %d", (int)g_stop);
        goto out;
    }
    rc = finish_run(&cx, e);
out:
    free(lb);
    free(cx.params_json);
    free(cx.out_dir);
    kvb_rundir_free(cx.dir);
    kvb_run_release(&cx.run);
    if (cx.m)
        kvb_model_free(cx.m);
    kvb_jieba_free(cx.jieba);
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
        KVB_OPT_STR_("tasks", &o.tasks, "SET", "en16 (default), all, e, zh, or a comma list; niah = needle-in-a-haystack"),
        { "limit", KVB_OPT_INT, &o.limit, "N", "first N records of each task", 1, 1e9, &o.limit_seen },
        { "max-length", KVB_OPT_INT, &o.max_length, "N", "prompt budget in tokens (default: the model's)", 16, 1 << 24, &o.max_length_seen },
        KVB_OPT_STR_("data", &o.data, "DIR", "LongBench data directory (default: search, see docs/longbench.md)"),
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
        KVB_MODEL_WEIGHT_OPTS(&o.random_weights, &o.seed, &o.weights),
        KVB_OPT_STR_("cache-param", &o.cache_param, "LIST", "cache parameters name=value,... (one source with --budget etc.; a conflict is an error)"),
        KVB_OPT_INT_("prompt-len", &o.prompt_len, "N", "prompt length for --dry-run", 1, 1 << 24),
        KVB_OPT_STR_("lengths", &o.lengths, "L,..", "niah context lengths in tokens (default " KVB_NIAH_LENGTHS ")"),
        KVB_OPT_STR_("depths", &o.depths, "D,..", "niah needle depths in percent (default 0,10,...,100)"),
        KVB_OPT_STR_("needle", &o.needle, "TEXT", "niah needle sentence"),
        KVB_OPT_STR_("question", &o.question, "TEXT", "niah question"),
    };
    int k = 0;
    while (opts[k].name)
        k++;
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
