/* The two task sources of `kvbench run`: LongBench tasks and the needle-in-a-haystack grid. */
#include "longbench/source.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sha256.h"
#include "longbench/data.h"
#include "longbench/niah.h"
#include "longbench/prompt.h"

static cJSON *str_list(char *const *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
    return a;
}

/* ---- LongBench ----------------------------------------------------------------------------- */

typedef struct lb_src {
    const kvb_task *task;
    kvb_lb_dataset ds;
    char *tmpl;
    const kvb_tokenizer *tok;
    kvb_lb_prompt_opts po;
    const kvb_segmenter *seg;
} lb_src;

static const char *lb_id(void *ctx, long i, char *buf, size_t n)
{
    (void)buf, (void)n;
    return ((lb_src *)ctx)->ds.recs[i].id;
}

static int lb_prompt(void *ctx, long i, kvb_ids *ids, kvb_error *e)
{
    lb_src *x = ctx;
    const kvb_lb_record *r = &x->ds.recs[i];
    kvb_strbuf prompt;
    kvb_strbuf_init(&prompt);
    int truncated, rc = kvb_lb_format(x->tmpl, r, &prompt, e);
    if (rc)
        kvb_error_prefix(e, "%s:%ld", x->ds.path, r->line);
    else
        rc = kvb_lb_prompt_ids(x->tok, prompt.buf ? prompt.buf : "", prompt.len, &x->po, ids,
                               &truncated, e);
    kvb_strbuf_release(&prompt);
    return rc;
}

static int lb_score(void *ctx, long i, const char *pred, double *score, kvb_error *e)
{
    lb_src *x = ctx;
    const kvb_lb_record *r = &x->ds.recs[i];
    size_t n_cls = (size_t)KVB_MAX(r->n_classes, 0);
    kvb_sv *sv = kvb_calloc((size_t)r->n_answers + n_cls + 1, sizeof(kvb_sv));
    if (!sv)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    for (int k = 0; k < r->n_answers; k++)
        sv[k] = (kvb_sv){ r->answers[k], strlen(r->answers[k]) };
    kvb_sv *cls = sv + r->n_answers;
    for (int k = 0; k < r->n_classes; k++)
        cls[k] = (kvb_sv){ r->all_classes[k], strlen(r->all_classes[k]) };
    int rc = kvb_metric_record(x->task, x->seg, (kvb_sv){ pred, strlen(pred) }, sv,
                               (size_t)r->n_answers, cls, n_cls, score, e);
    free(sv);
    if (rc)
        kvb_error_prefix(e, "%s %s: scoring", x->task->key, r->id);
    return rc;
}

static int lb_fields(void *ctx, long i, const char *pred, cJSON *line, kvb_run_record *rec,
                     kvb_error *e)
{
    (void)pred, (void)e;
    const kvb_lb_record *r = &((lb_src *)ctx)->ds.recs[i];
    rec->length = (long)r->length;
    cJSON_AddItemToObject(line, "answers", str_list(r->answers, r->n_answers));
    cJSON_AddItemToObject(line, "all_classes", r->n_classes >= 0
                                                   ? str_list(r->all_classes, r->n_classes)
                                                   : cJSON_CreateNull());
    cJSON_AddNumberToObject(line, "length", (double)r->length);
    return 0;
}

static void lb_release(void *ctx)
{
    lb_src *x = ctx;
    if (!x)
        return;
    kvb_lb_dataset_release(&x->ds);
    free(x->tmpl);
    free(x);
}

int kvb_lb_source_longbench_init(kvb_source *s, const kvb_task *task,
                                 const kvb_lb_source_opts *o, kvb_error *e)
{
    memset(s, 0, sizeof(*s));
    lb_src *x = kvb_calloc(1, sizeof(*x));
    if (!x)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    *s = (kvb_source){ .task = task->key, .metric = kvb_metric_name(task->metric),
                          .unit = "rec", .buckets = o->e_variant,
                          .max_new_tokens = task->max_new_tokens, .ctx = x, .id = lb_id,
                          .prompt = lb_prompt, .score = lb_score, .fields = lb_fields,
                          .release = lb_release };
    x->task = task;
    x->tok = o->tok;
    x->po = o->prompt;
    if (task->skip_chat)
        x->po.chat_family = NULL;
    x->seg = o->seg;
    char *path = NULL;
    int rc;
    if ((rc = kvb_lb_data_find(task->key, o->data_dir, o->e_variant, &path, e)) ||
        (rc = kvb_lb_data_load(path, task->key, o->skip_bad, &x->ds, e)) ||
        (rc = kvb_lb_template_load(NULL, task->key, &x->tmpl, e)))
        goto out;
    if (x->ds.n_bad)
        fprintf(stderr, "kvbench: %s: skipped %zu bad records (first: %s)\n", path, x->ds.n_bad,
                x->ds.first_bad);
    snprintf(s->data_sha256, sizeof(s->data_sha256), "%s", x->ds.sha256);
    s->n = (long)x->ds.n;
    s->n_bad = (long)x->ds.n_bad;
    if (!strcmp(task->key, "samsum")) {
        /* pred.py: eos or the newline token, and at least one new token */
        rc = kvb_lb_newline_id(o->tok, &s->stop_ids[s->n_stop++], e);
        s->min_new_tokens = 1;
    }
out:
    free(path);
    if (rc)
        kvb_source_release(s);
    return rc;
}

/* ---- needle in a haystack ------------------------------------------------------------------ */

typedef struct niah_src {
    int *lens, *deps, nl, nd;
    kvb_niah *nh;
    const char *needle, *question;
} niah_src;

static const char *niah_id(void *ctx, long i, char *buf, size_t n)
{
    niah_src *x = ctx;
    snprintf(buf, n, "niah-%d-%d", x->lens[i / x->nd], x->deps[i % x->nd]);
    return buf;
}

static int niah_prompt(void *ctx, long i, kvb_ids *ids, kvb_error *e)
{
    niah_src *x = ctx;
    int at;
    return kvb_niah_build(x->nh, x->lens[i / x->nd], x->deps[i % x->nd], ids, &at, e);
}

static int niah_score(void *ctx, long i, const char *pred, double *score, kvb_error *e)
{
    (void)i, (void)e;
    niah_src *x = ctx;
    *score = kvb_niah_score_recall(x->needle, x->question, pred);
    return 0;
}

static int niah_fields(void *ctx, long i, const char *pred, cJSON *line, kvb_run_record *rec,
                       kvb_error *e)
{
    (void)e;
    niah_src *x = ctx;
    rec->length = rec->cell_length = x->lens[i / x->nd];
    rec->cell_depth = x->deps[i % x->nd];
    rec->has_cell = 1;
    char *ans[1] = { (char *)x->needle };
    cJSON_AddItemToObject(line, "answers", str_list(ans, 1));
    cJSON_AddItemToObject(line, "all_classes", cJSON_CreateNull());
    cJSON_AddNumberToObject(line, "length", (double)rec->cell_length);
    cJSON_AddNumberToObject(line, "niah_exact", kvb_niah_score_exact(x->needle, x->question, pred));
    return 0;
}

static void niah_release(void *ctx)
{
    niah_src *x = ctx;
    if (!x)
        return;
    free(x->lens);
    free(x->deps);
    kvb_niah_free(x->nh);
    free(x);
}

int kvb_lb_niah_grid(const char *lengths, const char *depths, int **lens, int *nl, int **deps,
                     int *nd, kvb_error *e)
{
    *lens = *deps = NULL;
    int rc = kvb_niah_parse_grid(lengths ? lengths : KVB_NIAH_LENGTHS, 16, 1 << 22, lens, nl,
                                 "lengths", e);
    if (!rc)
        rc = kvb_niah_parse_grid(depths ? depths : KVB_NIAH_DEPTHS, 0, 100, deps, nd, "depths", e);
    return rc;
}

int kvb_lb_source_niah_init(kvb_source *s, const kvb_lb_source_opts *o, kvb_error *e)
{
    memset(s, 0, sizeof(*s));
    niah_src *x = kvb_calloc(1, sizeof(*x));
    if (!x)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    *s = (kvb_source){ .task = "niah", .metric = KVB_NIAH_METRIC, .unit = "cell",
                          .max_new_tokens = KVB_NIAH_MAX_NEW, .ctx = x, .id = niah_id, .prompt = niah_prompt,
                          .score = niah_score, .fields = niah_fields, .release = niah_release };
    x->needle = o->needle ? o->needle : KVB_NIAH_NEEDLE;
    x->question = o->question ? o->question : KVB_NIAH_QUESTION;
    int rc;
    if ((rc = kvb_lb_niah_grid(o->lengths, o->depths, &x->lens, &x->nl, &x->deps, &x->nd, e)))
        goto out;
    int max_len = 0;
    for (int i = 0; i < x->nl; i++)
        max_len = KVB_MAX(max_len, x->lens[i]);
    kvb_niah_opts no = { NULL, o->needle, o->question, o->prompt.chat_family, o->prompt.add_bos,
                         max_len };
    if ((rc = kvb_niah_open(&x->nh, o->tok, &no, e)))
        goto out;
    kvb_strbuf fpv;
    kvb_strbuf_init(&fpv);
    kvb_strbuf_addf(&fpv, "essays=%016llx\nneedle=%s\nquestion=%s",
                    (unsigned long long)kvb_niah_essays_hash(x->nh), x->needle, x->question);
    kvb_sha256_hex(fpv.buf, fpv.len, s->data_sha256);
    kvb_strbuf_release(&fpv);
    s->n = (long)x->nl * x->nd;
out:
    if (rc)
        kvb_source_release(s);
    return rc;
}
