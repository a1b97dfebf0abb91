/* LongBench and the needle test as entries of the suite table (lib/runner/suite.h): which
 * --tasks names each claims, the preflight, one source per task (source.c), the dry-run rows. */
#include "longbench/source.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "longbench/data.h"
#include "longbench/niah.h"
#include "text/jieba.h"

/* The source options of a task from the run's spec and the model's prompt settings. */
static kvb_lb_source_opts source_opts(const kvb_suite_env *env, const kvb_segmenter *seg)
{
    const kvb_run_spec *sp = env->spec;
    return (kvb_lb_source_opts){
        .data_dir = sp->data, .e_variant = sp->e_variant, .skip_bad = sp->skip_bad, .seg = seg,
        .tok = env->tok,
        .prompt = { .max_length = env->max_length, .chat_family = env->chat_family,
                    .add_bos = env->add_bos, .cleanup_spaces = env->cleanup_spaces },
        .lengths = sp->lengths, .depths = sp->depths, .needle = sp->needle,
        .question = sp->question };
}

/* ---- LongBench ----------------------------------------------------------------------------- */

typedef struct lb_plan {
    const kvb_task **lb;
    int n;
    kvb_jieba *jieba;  /* loaded when a Chinese task runs (its metrics segment words) */
    kvb_segmenter seg;
} lb_plan;

static int lb_claims(const char *item)
{
    if (kvb_task_set_has(item, kvb_task_at(0)) >= 0)
        return 1;
    for (int i = 0; i < kvb_task_count(); i++)
        if (!strcmp(kvb_task_at(i)->key, item))
            return 1;
    return 0;
}

static void lb_names(kvb_strbuf *sb)
{
    kvb_strbuf_addf(sb, "sets: en16, all, e, zh; tasks: ");
    for (int i = 0; i < kvb_task_count(); i++)
        kvb_strbuf_addf(sb, "%s%s", i ? ", " : "", kvb_task_at(i)->key);
}

/* The items as one task-set spec: kvb_taskset_parse orders sets and refuses duplicates. */
static int lb_plan_make(void **plan, char *const *items, int n, const kvb_run_spec *spec,
                        kvb_error *e)
{
    (void)spec;
    lb_plan *p = kvb_calloc(1, sizeof(*p));
    if (!p)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    for (int i = 0; i < n; i++)
        kvb_strbuf_addf(&sb, "%s%s", i ? "," : "", items[i]);
    int rc = kvb_taskset_parse(sb.buf ? sb.buf : "", &p->lb, &p->n, e);
    kvb_strbuf_release(&sb);
    *plan = p;
    return rc;
}

/* jieba.cut for the Chinese metrics (kvb_segmenter's signature is jieba's). */
static int jieba_cut(const void *ctx, const char *text, size_t len, kvb_seg_tok_fn cb, void *arg,
                     kvb_error *e)
{
    return kvb_jieba_cut(ctx, text, len, cb, arg, e);
}

/* Every task's records read and validated, and jieba loaded when a Chinese task runs. */
static int lb_preflight(void *plan, const kvb_run_spec *spec, kvb_error *e)
{
    lb_plan *p = plan;
    for (int i = 0; i < p->n; i++) {
        char *path = NULL;
        kvb_lb_dataset ds;
        int rc = kvb_lb_data_find(p->lb[i]->key, spec->data, spec->e_variant, &path, e);
        if (!rc)
            rc = kvb_lb_data_load(path, p->lb[i]->key, spec->skip_bad, &ds, e);
        if (!rc)
            kvb_lb_dataset_release(&ds);
        free(path);
        if (rc)
            return rc;
    }
    for (int i = 0; i < p->n && !p->jieba; i++)
        if (p->lb[i]->lang == KVB_LANG_ZH) {
            if (kvb_jieba_load(&p->jieba, NULL, e))
                return kvb_error_prefix(e, "task %s needs the jieba dictionary (make deps installs "
                                           "python3-jieba; or set KVBENCH_JIEBA_DIR)", p->lb[i]->key);
            p->seg = (kvb_segmenter){ .cut = jieba_cut, .ctx = p->jieba };
        }
    return 0;
}

static int lb_n_tasks(const void *plan)
{
    return ((const lb_plan *)plan)->n;
}

static int lb_source(void *plan, int i, const kvb_suite_env *env, kvb_source *s, kvb_error *e)
{
    lb_plan *p = plan;
    kvb_lb_source_opts so = source_opts(env, p->jieba ? &p->seg : NULL);
    return kvb_lb_source_longbench_init(s, p->lb[i], &so, e);
}

static void lb_dry_run(const void *plan, const kvb_suite_env *env, kvb_strbuf *out)
{
    const lb_plan *p = plan;
    for (int i = 0; i < p->n; i++) {
        const kvb_task *t = p->lb[i];
        char *path = NULL;
        kvb_error le = { 0 };
        if (kvb_lb_data_find(t->key, env->spec->data, env->spec->e_variant, &path, &le) == 0)
            kvb_strbuf_addf(out, "task %-22s max_new %3d chat %-3s data %s\n", t->key,
                            t->max_new_tokens, t->skip_chat ? "no" : "yes", path);
        else
            kvb_strbuf_addf(out, "task %-22s no data found (scripts/fetch_longbench.sh, or --data "
                                 "DIR)\n", t->key);
        free(path);
    }
}

static void lb_release(void *plan)
{
    lb_plan *p = plan;
    if (!p)
        return;
    free(p->lb);
    kvb_jieba_free(p->jieba);
    free(p);
}

static void lb_list_tasks(kvb_strbuf *out)
{
    for (int i = 0; i < kvb_task_count(); i++) {
        const kvb_task *t = kvb_task_at(i);
        kvb_strbuf_addf(out, KVB_SUITE_TASK_ROW, t->key, t->category, kvb_task_lang_name(t->lang),
                        kvb_metric_name(t->metric), t->max_new_tokens, t->skip_chat ? "no" : "yes");
    }
}

static void lb_list_sets(kvb_strbuf *out)
{
    static const char *const sets[] = { "en16", "all", "e", "zh" };
    for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
        const kvb_task **v;
        int n;
        kvb_error e = { 0 };
        if (kvb_taskset_parse(sets[s], &v, &n, &e))
            continue;
        kvb_strbuf_addf(out, "    %-5s %2d tasks:", sets[s], n);
        for (int i = 0; i < n; i++)
            kvb_strbuf_addf(out, " %s", v[i]->key);
        kvb_strbuf_addf(out, "%s\n", !strcmp(sets[s], "en16") ? "  (default)" : "");
        free(v);
    }
}

const kvb_suite kvb_lb_suite = {
    .name = "LongBench", .claims = lb_claims, .names = lb_names, .plan = lb_plan_make,
    .preflight = lb_preflight, .n_tasks = lb_n_tasks, .source = lb_source,
    .dry_run = lb_dry_run, .release = lb_release, .list_tasks = lb_list_tasks,
    .list_sets = lb_list_sets,
};

/* ---- the needle test ----------------------------------------------------------------------- */
/* One task, "niah", whose grid comes from the spec (--lengths, --depths, --needle, --question);
 * it has no plan of its own. */

static int niah_claims(const char *item)
{
    return !strcmp(item, "niah");
}

static void niah_names(kvb_strbuf *sb)
{
    kvb_strbuf_addf(sb, "niah");
}

static int niah_plan_make(void **plan, char *const *items, int n, const kvb_run_spec *spec,
                          kvb_error *e)
{
    (void)items, (void)n, (void)spec, (void)e;
    *plan = NULL;
    return 0;
}

/* The grid, the needle and the essays, before the model loads. */
static int niah_preflight(void *plan, const kvb_run_spec *sp, kvb_error *e)
{
    (void)plan;
    int *lens, *deps, nl, nd;
    int rc = kvb_lb_niah_grid(sp->lengths, sp->depths, &lens, &nl, &deps, &nd, e);
    free(lens);
    free(deps);
    if (rc)
        return rc;
    kvb_niah_opts no = { .needle = sp->needle, .question = sp->question };
    return kvb_niah_check(&no, e);
}

static int niah_n_tasks(const void *plan)
{
    (void)plan;
    return 1;
}

static int niah_source(void *plan, int i, const kvb_suite_env *env, kvb_source *s, kvb_error *e)
{
    (void)plan, (void)i;
    kvb_lb_source_opts so = source_opts(env, NULL);
    return kvb_lb_source_niah_init(s, &so, e);
}

static void niah_dry_run(const void *plan, const kvb_suite_env *env, kvb_strbuf *out)
{
    (void)plan;
    const kvb_run_spec *sp = env->spec;
    kvb_strbuf_addf(out, "task niah lengths %s depths %s essays %s\n",
                    sp->lengths ? sp->lengths : KVB_NIAH_LENGTHS,
                    sp->depths ? sp->depths : KVB_NIAH_DEPTHS,
                    kvb_niah_essays_dir() ? kvb_niah_essays_dir() : "(missing: make data)");
}

/* The grid settings, in every run.json (defaults when the needle test did not run). */
static void niah_settings(const void *plan, const kvb_run_spec *sp, cJSON *s)
{
    (void)plan;
    cJSON_AddStringToObject(s, "niah_lengths", sp->lengths ? sp->lengths : KVB_NIAH_LENGTHS);
    cJSON_AddStringToObject(s, "niah_depths", sp->depths ? sp->depths : KVB_NIAH_DEPTHS);
    cJSON_AddStringToObject(s, "niah_needle", sp->needle ? sp->needle : KVB_NIAH_NEEDLE);
    cJSON_AddStringToObject(s, "niah_question", sp->question ? sp->question : KVB_NIAH_QUESTION);
}

static void niah_release(void *plan)
{
    (void)plan;
}

static void niah_list_tasks(kvb_strbuf *out)
{
    kvb_strbuf_addf(out, KVB_SUITE_TASK_ROW, "niah", "Needle", "en", KVB_NIAH_METRIC,
                    KVB_NIAH_MAX_NEW, "yes");
}

static void niah_list_sets(kvb_strbuf *out)
{
    kvb_strbuf_addf(out, "    niah  needle in a haystack, lengths %s, depths %s\n", KVB_NIAH_LENGTHS,
                    KVB_NIAH_DEPTHS);
}

const kvb_suite kvb_niah_suite = {
    .name = "needle", .claims = niah_claims, .names = niah_names, .plan = niah_plan_make,
    .preflight = niah_preflight, .n_tasks = niah_n_tasks, .source = niah_source,
    .dry_run = niah_dry_run, .settings = niah_settings, .release = niah_release,
    .list_tasks = niah_list_tasks, .list_sets = niah_list_sets,
};
