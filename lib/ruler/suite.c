/* RULER as an entry of the suite table (lib/runner/suite.h): "ruler" and its task names in
 * --tasks, the lengths (--lengths), one source per (length, task) in the order of RULER's run.sh
 * (lengths outer, tasks inner), the qa data files, the model template. */
#include "ruler/source.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_LENGTH 64      /* below this no RULER template fits; the generator names the limit */
#define MAX_LENGTH (1 << 24)

typedef struct ruler_plan {
    const kvb_ruler_task **tasks;
    char **qa_paths;          /* per task: its --data file (qa_1 / qa_2), else NULL */
    int n_tasks;
    long *lengths;
    int n_lengths;
    const char *tmpl_name;    /* --ruler-template, or the default for the model (model_check) */
    char *tmpl;               /* the "{task_template}" string */
} ruler_plan;

/* synthetic.yaml's qa datasets, as RULER's scripts/data/synthetic/json/download_qa_dataset.sh
 * names their files */
static const char *qa_file(const kvb_ruler_task *t)
{
    return !strcmp(kvb_ruler_task_name(t), "qa_2") ? "hotpotqa.json" : "squad.json";
}

static int ruler_claims(const char *item)
{
    return !strcmp(item, "ruler") || kvb_ruler_task_find(item) != NULL;
}

static void ruler_names(kvb_strbuf *sb)
{
    kvb_strbuf_adds(sb, "set: ruler; tasks: ");
    for (int i = 0; i < kvb_ruler_task_count(); i++)
        kvb_strbuf_addf(sb, "%s%s", i ? ", " : "", kvb_ruler_task_name(kvb_ruler_task_at(i)));
}

static void ruler_release(void *plan)
{
    ruler_plan *p = plan;
    if (!p)
        return;
    for (int i = 0; i < p->n_tasks; i++)
        free(p->qa_paths[i]);
    free(p->qa_paths);
    free(p->tasks);
    free(p->lengths);
    free(p->tmpl);
    free(p);
}

/* --lengths (shared with the needle test): distinct token counts */
static int parse_lengths(ruler_plan *p, const char *spec, kvb_error *e)
{
    char **v;
    int n;
    if (kvb_split_csv(spec, &v, &n))
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    int rc = n ? 0 : kvb_errorf(e, KVB_EINVAL, "--lengths: no length given");
    if (!rc && !(p->lengths = kvb_calloc((size_t)n, sizeof(long))))
        rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
    for (int i = 0; i < n && !rc; i++) {
        long x;
        if (kvb_parse_long(v[i], MIN_LENGTH, MAX_LENGTH, &x))
            rc = kvb_errorf(e, KVB_EINVAL, "--lengths: '%s' is not a RULER length (tokens, %d to "
                            "%d)", v[i], MIN_LENGTH, MAX_LENGTH);
        for (int j = 0; j < p->n_lengths && !rc; j++)
            if (p->lengths[j] == x)
                rc = kvb_errorf(e, KVB_EINVAL, "--lengths: %ld given twice", x);
        if (!rc)
            p->lengths[p->n_lengths++] = x;
    }
    kvb_free_strv(v, n);
    return rc;
}

/* A qa task's file in --data; NULL when absent */
static char *qa_path(const kvb_ruler_task *t, const kvb_run_spec *spec)
{
    if (!spec->data)
        return NULL;
    char *path = kvb_path_join(spec->data, qa_file(t));
    if (path && !kvb_file_exists(path)) {
        free(path);
        path = NULL;
    }
    return path;
}

/* Task t to the plan, once; a qa task without its data file is an error when named, and left
 * out with a note when it came with "ruler" (RULER's qa tasks need SQuAD / HotpotQA). */
static int add_task(ruler_plan *p, const kvb_ruler_task *t, int named, const kvb_run_spec *spec,
                    kvb_error *e)
{
    for (int i = 0; i < p->n_tasks; i++)
        if (p->tasks[i] == t)
            return named ? kvb_errorf(e, KVB_EINVAL, "task %s given twice", kvb_ruler_task_name(t))
                         : 0;
    char *path = NULL;
    if (kvb_ruler_task_needs_data(t) && !(path = qa_path(t, spec))) {
        if (named)
            return kvb_errorf(e, KVB_EINVAL, "RULER %s needs %s (RULER's format) in --data DIR%s%s",
                              kvb_ruler_task_name(t), qa_file(t), spec->data ? "; not in " : "",
                              spec->data ? spec->data : "");
        fprintf(stderr, "kvbench: RULER %s not present (needs %s in --data DIR; docs/ruler.md)\n",
                kvb_ruler_task_name(t), qa_file(t));
        return 0;
    }
    p->tasks[p->n_tasks] = t;
    p->qa_paths[p->n_tasks++] = path;
    return 0;
}

/* On failure the plan is released here (the session releases only the plans of suites it ran). */
static int ruler_plan_make(void **plan, char *const *items, int n, const kvb_run_spec *spec,
                           kvb_error *e)
{
    *plan = NULL;
    ruler_plan *p = kvb_calloc(1, sizeof(*p));
    if (!p)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    size_t cap = (size_t)kvb_ruler_task_count() * ((size_t)n + 1);
    p->tasks = kvb_calloc(cap, sizeof(*p->tasks));
    p->qa_paths = kvb_calloc(cap, sizeof(*p->qa_paths));
    int rc = p->tasks && p->qa_paths ? 0 : kvb_errorf(e, KVB_ENOMEM, "out of memory");
    for (int i = 0; i < n && !rc; i++) {
        if (strcmp(items[i], "ruler")) {
            rc = add_task(p, kvb_ruler_task_find(items[i]), 1, spec, e);
            continue;
        }
        for (int k = 0; k < kvb_ruler_task_count() && !rc; k++)
            rc = add_task(p, kvb_ruler_task_at(k), 0, spec, e);
    }
    if (!rc && !p->n_tasks)
        rc = kvb_errorf(e, KVB_EINVAL, "RULER: no task to run");
    if (!rc)
        rc = parse_lengths(p, spec->lengths ? spec->lengths : KVB_RULER_LENGTHS, e);
    if (rc)
        ruler_release(p);
    else
        *plan = p;
    return rc;
}

static long samples_of(const kvb_run_spec *sp);
static long seed_of(const kvb_run_spec *sp);

/* One sample of every task at the smallest length: the generator's own checks (its word lists,
 * essays and qa file present and readable, the length large enough for each task's template)
 * fail here, before the run directory is made and any record runs, not hours into a run. */
static int generate_probe(const ruler_plan *p, const kvb_suite_env *env, kvb_error *e)
{
    long len = p->lengths[0];
    for (int j = 1; j < p->n_lengths; j++)
        len = KVB_MIN(len, p->lengths[j]);
    for (int k = 0; k < p->n_tasks; k++) {
        kvb_ruler_gen_opts go = { .tok = env->tok, .max_seq_length = (int)len, .num_samples = 1,
                                  .random_seed = seed_of(env->spec), .model_template = p->tmpl,
                                  .qa_path = p->qa_paths[k] };
        kvb_ruler_samples smp;
        int rc = kvb_ruler_generate(p->tasks[k], &go, &smp, e);
        if (rc)
            return kvb_error_prefix(e, "RULER %s at %ld tokens", kvb_ruler_task_name(p->tasks[k]),
                                    len);
        kvb_ruler_samples_release(&smp);
    }
    return 0;
}

/* Once the model is open: every length within its context, the model template resolved, and
 * (not in a dry run) the generator's data checked. */
static int ruler_model_check(void *plan, const kvb_suite_env *env, kvb_error *e)
{
    ruler_plan *p = plan;
    const kvb_model_config *c = env->cfg;
    for (int j = 0; j < p->n_lengths; j++)
        if (c->max_position > 0 && p->lengths[j] > c->max_position)
            return kvb_errorf(e, KVB_EINVAL, "RULER length %ld is beyond %s's context (%d tokens)",
                              p->lengths[j], c->name, c->max_position);
    const char *name = env->spec->ruler_template;
    p->tmpl_name = name ? name : kvb_ruler_default_template(env->chat_family);
    free(p->tmpl);
    int rc = kvb_ruler_model_template(p->tmpl_name, env->chat_family, &p->tmpl, e);
    if (!rc && !env->spec->dry_run)
        rc = generate_probe(p, env, e);
    return rc;
}

static int ruler_n_tasks(const void *plan)
{
    const ruler_plan *p = plan;
    return p->n_tasks * p->n_lengths;
}

static long samples_of(const kvb_run_spec *sp)
{
    return sp->ruler_samples > 0 ? sp->ruler_samples : KVB_RULER_SAMPLES;
}

static long seed_of(const kvb_run_spec *sp)
{
    return sp->ruler_seed >= 0 ? sp->ruler_seed : KVB_RULER_SEED;
}

static int ruler_source(void *plan, int i, const kvb_suite_env *env, kvb_source *s, kvb_error *e)
{
    ruler_plan *p = plan;
    int k = i % p->n_tasks;
    kvb_ruler_source_opts o = { .tok = env->tok, .add_bos = env->add_bos,
                                .model_template = p->tmpl,
                                .num_samples = samples_of(env->spec), .seed = seed_of(env->spec),
                                .qa_path = p->qa_paths[k] };
    return kvb_ruler_source_init(s, p->tasks[k], (int)p->lengths[i / p->n_tasks], &o, e);
}

static void ruler_dry_run(const void *plan, const kvb_suite_env *env, kvb_strbuf *out)
{
    const ruler_plan *p = plan;
    for (int j = 0; j < p->n_lengths; j++)
        for (int k = 0; k < p->n_tasks; k++)
            kvb_strbuf_addf(out, "task %s.%-*ld max_new %3d samples %ld seed %ld template %s%s%s\n",
                            kvb_ruler_task_name(p->tasks[k]),
                            (int)(21 - strlen(kvb_ruler_task_name(p->tasks[k]))), p->lengths[j],
                            kvb_ruler_task_tokens_to_generate(p->tasks[k]), samples_of(env->spec),
                            seed_of(env->spec), p->tmpl_name ? p->tmpl_name : "?",
                            p->qa_paths[k] ? " data " : "", p->qa_paths[k] ? p->qa_paths[k] : "");
}

/* RULER's settings in every run.json (null when no RULER task ran) */
static void ruler_settings(const void *plan, const kvb_run_spec *sp, cJSON *s)
{
    const ruler_plan *p = plan;
    if (!p) {
        cJSON_AddNullToObject(s, "ruler");
        return;
    }
    cJSON *r = cJSON_AddObjectToObject(s, "ruler");
    cJSON *l = cJSON_AddArrayToObject(r, "lengths");
    for (int j = 0; j < p->n_lengths; j++)
        cJSON_AddItemToArray(l, cJSON_CreateNumber((double)p->lengths[j]));
    cJSON_AddNumberToObject(r, "samples", (double)samples_of(sp));
    cJSON_AddNumberToObject(r, "seed", (double)seed_of(sp));
    cJSON_AddStringToObject(r, "template", p->tmpl_name ? p->tmpl_name : "");
}

/* `kvbench list tasks` and `list sets` rows */
static void ruler_list_tasks(kvb_strbuf *out)
{
    for (int i = 0; i < kvb_ruler_task_count(); i++) {
        const kvb_ruler_task *t = kvb_ruler_task_at(i);
        kvb_strbuf_addf(out, KVB_SUITE_TASK_ROW, kvb_ruler_task_name(t),
                        kvb_ruler_task_needs_data(t) ? "RULER (--data)" : "RULER", "en",
                        kvb_ruler_task_metric(t), kvb_ruler_task_tokens_to_generate(t), "yes");
    }
    kvb_strbuf_adds(out, "    (RULER: one task <task>.<length> per --lengths; chat = its model "
                         "template, --ruler-template)\n");
}

static void ruler_list_sets(kvb_strbuf *out)
{
    kvb_strbuf_addf(out, "    ruler %2d tasks:", kvb_ruler_task_count());
    for (int i = 0; i < kvb_ruler_task_count(); i++)
        kvb_strbuf_addf(out, " %s", kvb_ruler_task_name(kvb_ruler_task_at(i)));
    kvb_strbuf_addf(out, "  (qa_1/qa_2 with --data; lengths %s, %d samples by default)\n",
                    KVB_RULER_LENGTHS, KVB_RULER_SAMPLES);
}

const kvb_suite kvb_ruler_suite = {
    .name = "RULER", .claims = ruler_claims, .names = ruler_names, .plan = ruler_plan_make,
    .model_check = ruler_model_check, .n_tasks = ruler_n_tasks, .source = ruler_source,
    .dry_run = ruler_dry_run, .settings = ruler_settings, .release = ruler_release,
    .list_tasks = ruler_list_tasks, .list_sets = ruler_list_sets,
};
