/* The session of `kvbench run`: a run spec over the suite table (suites.h). */
#include "suites/suites.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "longbench/prompt.h"
#include "results/results.h"

#define MAX_SUITES 16

struct kvb_session {
    const kvb_run_spec *spec;
    const kvb_suite *const *suites;
    int n_suites;
    int selected[MAX_SUITES];  /* --tasks names one of its tasks */
    void *plans[MAX_SUITES];
    kvb_model *m;
    const kvb_model_config *cfg;
    kvb_suite_env env;
    const char *method;        /* canonical name */
    char *params_json;         /* effective parameters */
    char weights[48];          /* "file", or "random seed N" (--random-weights) */
    size_t mem_limit;          /* bytes allowed for KV + activations of one record */
    char *out_dir;
    kvb_rundir *dir;
    kvb_run run;
    long n_oversized;
};

/* ---- --tasks over the table ---------------------------------------------------------------- */

/* The suite that claims item (the first in table order), or -1 with the error. */
static int owner(const kvb_session *s, const char *item, kvb_error *e)
{
    if (!*item)
        return kvb_errorf(e, KVB_EINVAL, "empty item in task list '%s'", s->spec->tasks), -1;
    for (int k = 0; k < s->n_suites; k++)
        if (s->suites[k]->claims(item))
            return k;
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    for (int k = 0; k < s->n_suites; k++) {
        kvb_strbuf_addf(&sb, "%s%s: ", k ? "; " : "", s->suites[k]->name);
        s->suites[k]->names(&sb);
    }
    kvb_errorf(e, KVB_EINVAL, "unknown task '%s' (%s)", item, sb.buf ? sb.buf : "");
    kvb_strbuf_release(&sb);
    return -1;
}

/* Each item of --tasks to its suite; every suite with items makes its plan from them. */
static int parse_tasks(kvb_session *s, kvb_error *e)
{
    char **items;
    int n, rc = 0;
    if (kvb_split_csv(s->spec->tasks ? s->spec->tasks : "", &items, &n))
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    int *own = kvb_calloc((size_t)n + 1, sizeof(*own));
    char **mine = kvb_calloc((size_t)n + 1, sizeof(*mine));
    if (!own || !mine)
        rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
    else if (n == 0)
        rc = kvb_errorf(e, KVB_EINVAL, "empty task set");
    for (int i = 0; i < n && !rc; i++)
        if ((own[i] = owner(s, items[i], e)) < 0)
            rc = KVB_EINVAL;
    for (int k = 0; k < s->n_suites && !rc; k++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (own[i] == k)
                mine[m++] = items[i];
        if (m && !(rc = s->suites[k]->plan(&s->plans[k], mine, m, s->spec, e)))
            s->selected[k] = 1;
    }
    free(own);
    free(mine);
    kvb_free_strv(items, n);
    return rc;
}

/* ---- the model and the method -------------------------------------------------------------- */

/* A dry run plans from the config alone (a model name or an HF directory): no weights are read
 * and no tokenizer is needed; a .gguf file holds its config inside, so it is opened. */
static int open_model(kvb_session *s, kvb_error *e)
{
    const kvb_run_spec *sp = s->spec;
    kvb_model_opts mo = sp->model_opts;
    size_t ml = strlen(sp->model);
    if (sp->dry_run && (kvb_is_dir(sp->model) ||
                        (!strchr(sp->model, '/') &&
                         !(ml > 5 && !strcmp(sp->model + ml - 5, ".gguf")))))
        mo.random_weights = mo.config_only = 1;
    snprintf(s->weights, sizeof(s->weights), sp->random_weights ? "random seed %ld" : "file",
             sp->seed);
    int rc = kvb_model_open(&s->m, sp->model, &mo, e);
    if (rc)
        return rc;
    s->cfg = kvb_model_get_config(s->m);
    s->env.tok = kvb_model_tokenizer(s->m);
    if (!s->env.tok && !sp->dry_run)
        return kvb_errorf(e, KVB_EINVAL, "%s: the model has no tokenizer (tokenizer.json beside "
                          "config.json, or a .gguf vocabulary)", sp->model);
    kvb_lb_prompt_opts po;
    if ((rc = kvb_lb_prompt_setup(s->cfg, s->env.tok, sp->chat_template, sp->max_length, &po, e)))
        return rc;
    s->env.spec = sp;
    s->env.cfg = s->cfg;
    s->env.chat_family = po.chat_family;
    s->env.add_bos = po.add_bos;
    s->env.cleanup_spaces = po.cleanup_spaces;
    s->env.max_length = po.max_length;
    return 0;
}

/* The effective method name and parameters, validated once before any record runs. */
static int probe_method(kvb_session *s, kvb_error *e)
{
    const kvb_model_config *c = s->cfg;
    kvb_cache_shape shape = { c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim, 64, c->family };
    kvb_cache *cache;
    int rc = kvb_cache_create(&cache, s->spec->method, &shape, s->spec->params,
                              s->spec->n_params, kvb_model_pool(s->m), e);
    if (rc)
        return rc;
    s->method = kvb_cache_method_name(cache);
    s->params_json = kvb_cache_params_json(cache);
    kvb_cache_free(cache);
    if (!s->params_json)
        s->params_json = kvb_strdup("{}");
    return 0;
}

int kvb_session_open(kvb_session **out, const kvb_run_spec *spec, kvb_error *e)
{
    *out = NULL;
    kvb_session *s = kvb_calloc(1, sizeof(*s));
    if (!s)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    kvb_run_init(&s->run);
    s->spec = spec;
    s->suites = spec->suites ? spec->suites : kvb_suite_table;
    while (s->suites[s->n_suites] && s->n_suites < MAX_SUITES)
        s->n_suites++;
    int rc = s->suites[s->n_suites] ? kvb_errorf(e, KVB_EINVAL, "more than %d task suites",
                                                 MAX_SUITES) : 0;
    if (!rc)
        rc = parse_tasks(s, e);
    for (int k = 0; k < s->n_suites && !rc && !spec->dry_run; k++)
        if (s->selected[k] && s->suites[k]->preflight)
            rc = s->suites[k]->preflight(s->plans[k], spec, e);
    if (!rc && spec->out && !spec->dry_run) /* before the model loads */
        rc = kvb_rundir_check(spec->out, e);
    if (!rc)
        rc = open_model(s, e);
    if (!rc)
        rc = probe_method(s, e);
    for (int k = 0; k < s->n_suites && !rc; k++)
        if (s->selected[k] && s->suites[k]->model_check)
            rc = s->suites[k]->model_check(s->plans[k], &s->env, e);
    if (rc) {
        kvb_session_free(s);
        return rc;
    }
    s->mem_limit = kvb_run_mem_limit(spec->max_memory, kvb_model_weight_bytes(s->m));
    *out = s;
    return 0;
}

void kvb_session_free(kvb_session *s)
{
    if (!s)
        return;
    for (int k = 0; k < s->n_suites; k++)
        if (s->selected[k])
            s->suites[k]->release(s->plans[k]);
    free(s->params_json);
    free(s->out_dir);
    kvb_rundir_free(s->dir);
    kvb_run_release(&s->run);
    if (s->m)
        kvb_model_free(s->m);
    free(s);
}

const char *kvb_session_out_dir(const kvb_session *s)
{
    return s->out_dir;
}

/* ---- the dry run --------------------------------------------------------------------------- */

int kvb_session_dry_run(kvb_session *s, kvb_strbuf *out, kvb_error *e)
{
    const kvb_run_spec *sp = s->spec;
    const kvb_model_config *c = s->cfg;
    long n = sp->prompt_len > 0 ? sp->prompt_len : s->env.max_length;
    kvb_strbuf_addf(out, "model %s: %d layers, %d heads, %d kv heads, head_dim %d; weights %.1f "
                    "MiB\n", c->name, c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim,
                    kvb_model_weight_bytes(s->m) / 1048576.0);
    kvb_strbuf_addf(out, "method %s %s; chat template %s; prompt budget %d tokens; add BOS %s%s\n",
                    s->method, s->params_json, s->env.chat_family ? s->env.chat_family : "none",
                    s->env.max_length, s->env.add_bos ? "yes" : "no",
                    s->env.tok ? "" : " (family default: no tokenizer files here)");
    kvb_cache_shape shape = { c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim, 0, c->family };
    int rc = kvb_cache_plan_text(sp->method, &shape, sp->params, sp->n_params, (int)n, out, e);
    if (rc)
        return rc;
    kvb_strbuf_addf(out, "memory guard: a %ld-token record needs about %.1f MiB beyond the "
                    "weights (limit %.0f MiB)\n", n, kvb_run_estimate_bytes(c, n, 512) / 1048576.0,
                    s->mem_limit / 1048576.0);
    for (int k = 0; k < s->n_suites; k++)
        if (s->selected[k])
            s->suites[k]->dry_run(s->plans[k], &s->env, out);
    return 0;
}

/* ---- the run ------------------------------------------------------------------------------- */

/* The settings every task shares, checked against (or recorded in) fingerprint.json. */
static int fingerprint_check(kvb_session *s, kvb_error *e)
{
    const kvb_run_spec *sp = s->spec;
    char buf[64], shard[64], wb[64], tev[32];
    snprintf(buf, sizeof(buf), "%d", s->env.max_length);
    snprintf(shard, sizeof(shard), "%ld/%ld", sp->shard_i, sp->shard_n);
    snprintf(wb, sizeof(wb), "%zu", kvb_model_weight_bytes(s->m));
    snprintf(tev, sizeof(tev), "%ld", sp->trace_every); /* memory lines of one layout */
    const char *const kv[][2] = {
        { "model", s->cfg->name }, { "model_weight_bytes", wb }, { "weights", s->weights },
        { "weights_dtype", sp->weights }, { "method", s->method },
        { "params", s->params_json },
        { "chat_template", s->env.chat_family ? s->env.chat_family : "none" },
        { "max_length", buf }, { "add_bos", s->env.add_bos ? "1" : "0" },
        { "decode_cleanup", s->env.cleanup_spaces ? "1" : "0" },
        { "longbench_e", sp->e_variant ? "1" : "0" }, { "shard", shard },
        { "trace_every", tev } };
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
        int rc = kvb_rundir_fp_check(s->dir, kv[i][0], kv[i][1], e);
        if (rc)
            return rc;
    }
    /* a CPU run's predictions are not resumed by a GPU run (bf16 activations pick other
     * near-tied tokens); directories made before devices existed ran on the CPU */
    kvb_device_info di;
    kvb_model_device_info(s->m, &di);
    int rc = kvb_rundir_fp_check_since(s->dir, "device", kvb_device_name(di.device), "cpu", e);
    return rc ? rc : kvb_rundir_fp_save(s->dir, e);
}

/* run.json's head: model, method, machine, prompt settings. */
static int describe_run(kvb_session *s, kvb_error *e)
{
    const kvb_run_spec *sp = s->spec;
    char mfp[65];
    kvb_model_fingerprint(s->cfg, kvb_model_weight_bytes(s->m), s->weights, mfp);
    kvb_model_info mi;
    memset(&mi, 0, sizeof(mi));
    kvb_model_get_info(s->m, &mi);
    char mflags[512];
    kvb_run_machine_flags(mflags, sizeof(mflags), mi.isa, mi.prefill, mi.held_dtype);
    const char *chat = s->env.chat_family ? s->env.chat_family : "none";
    /* the device model allocates everything at open, so its peak is known here */
    kvb_device_info di;
    kvb_model_device_info(s->m, &di);
    int rc;
    if ((rc = kvb_run_set_model(&s->run, s->cfg->name, s->cfg->repo_id,
                                mi.source ? mi.source : sp->model,
                                mi.held_dtype ? mi.held_dtype : "", mfp, e)) ||
        (rc = kvb_run_set_method(&s->run, s->method, s->params_json, e)) ||
        (rc = kvb_run_set_machine(&s->run, kvb_pool_size(kvb_model_pool(s->m)), mflags, di.gpu,
                                  e)) ||
        (rc = kvb_run_set_device(&s->run, kvb_device_name(di.device), di.driver, di.runtime,
                                 (double)di.peak_bytes, e)) ||
        (rc = kvb_run_set_str(&s->run.chat_template, chat, e)) ||
        (rc = kvb_run_set_str(&s->run.data_dir, sp->data ? sp->data : "", e)))
        return rc;
    return kvb_run_set_shard(&s->run, sp->shard_i, sp->shard_n, e);
}

/* The run directory: --out, or results/<model>/<method>[-<name><value>...][/shard-i-of-N]. */
static int open_dir(kvb_session *s, kvb_error *e)
{
    const kvb_run_spec *sp = s->spec;
    if (sp->out) {
        s->out_dir = kvb_strdup(sp->out);
    } else {
        const char **nv = kvb_calloc(2 * (size_t)sp->n_params + 1, sizeof(*nv));
        if (!nv)
            return kvb_errorf(e, KVB_ENOMEM, "out of memory");
        for (int i = 0; i < sp->n_params; i++) {
            nv[i] = sp->params[i].name;
            nv[sp->n_params + i] = sp->params[i].value;
        }
        s->out_dir = kvb_rundir_default_path(s->cfg->name, s->method, nv, nv + sp->n_params,
                                             sp->n_params, sp->shard_i, sp->shard_n);
        free(nv);
    }
    if (!s->out_dir)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    return kvb_rundir_open(&s->dir, s->out_dir, sp->resume, e);
}

int kvb_session_run(kvb_session *s, volatile sig_atomic_t *stop, kvb_error *e)
{
    const kvb_run_spec *sp = s->spec;
    int rc;
    if ((rc = open_dir(s, e)) || (rc = fingerprint_check(s, e)) || (rc = describe_run(s, e)))
        return rc;
    kvb_runner rn = { .m = s->m, .method = sp->method, .params = sp->params,
                      .n_params = sp->n_params, .dir = s->dir, .run = &s->run,
                      .limit = sp->limit, .shard_i = sp->shard_i, .shard_n = sp->shard_n,
                      .trace_every = (int)sp->trace_every, .cleanup = s->env.cleanup_spaces,
                      .mem_limit = s->mem_limit, .skip_oversized = sp->skip_oversized,
                      .stop = stop };
    for (int k = 0; k < s->n_suites && !rc && !*stop; k++) {
        if (!s->selected[k])
            continue;
        const kvb_suite *su = s->suites[k];
        for (int i = 0; i < su->n_tasks(s->plans[k]) && !rc && !*stop; i++) {
            kvb_source src;
            rc = su->source(s->plans[k], i, &s->env, &src, e);
            if (!rc) {
                rc = kvb_run_source(&rn, &src, e);
                kvb_source_release(&src);
            }
        }
    }
    s->n_oversized = rn.n_oversized;
    return rc;
}

/* ---- result.json and run.json -------------------------------------------------------------- */

static char *settings_json(const kvb_session *s)
{
    const kvb_run_spec *sp = s->spec;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "tasks", sp->tasks);
    cJSON_AddNumberToObject(j, "max_length", s->env.max_length);
    if (sp->limit >= 0)
        cJSON_AddNumberToObject(j, "limit", (double)sp->limit);
    else
        cJSON_AddNullToObject(j, "limit");
    cJSON_AddBoolToObject(j, "e", sp->e_variant);
    cJSON_AddBoolToObject(j, "add_bos", s->env.add_bos);
    cJSON_AddBoolToObject(j, "clean_up_tokenization_spaces", s->env.cleanup_spaces);
    cJSON_AddBoolToObject(j, "skip_bad_records", sp->skip_bad);
    for (int k = 0; k < s->n_suites; k++)
        if (s->suites[k]->settings)
            s->suites[k]->settings(s->selected[k] ? s->plans[k] : NULL, sp, j);
    cJSON_AddNumberToObject(j, "skipped_oversized", (double)s->n_oversized);
    char *t = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return t;
}

int kvb_session_finish(kvb_session *s, char **summary, kvb_error *e)
{
    *summary = NULL;
    char *settings = settings_json(s);
    int rc = settings ? kvb_run_set_settings(&s->run, settings, e)
                      : kvb_errorf(e, KVB_ENOMEM, "out of memory");
    free(settings);
    s->run.peak_rss_bytes = (double)kvb_peak_rss();
    char *res = kvb_path_join(s->out_dir, "result.json");
    char *rj = kvb_path_join(s->out_dir, "run.json");
    if (!rc && (!res || !rj))
        rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
    if (!rc)
        rc = kvb_run_finish(&s->run, e);
    if (!rc)
        rc = kvb_result_json_write(&s->run, res, e);
    if (!rc)
        rc = kvb_run_write(&s->run, rj, e);
    if (!rc && !(*summary = kvb_result_json_text(&s->run)))
        rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
    free(res);
    free(rj);
    return rc;
}
