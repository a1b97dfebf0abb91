/* One RULER task at one context length as a task source of the runner (source.h). */
#include "ruler/source.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sha256.h"
#include "results/tasks.h"

typedef struct ruler_src {
    const kvb_ruler_task *t;
    char name[96];            /* "<task>.<length>" */
    kvb_ruler_samples smp;
    const kvb_tokenizer *tok;
    int add_bos;
} ruler_src;

static const char *rs_id(void *ctx, long i, char *buf, size_t n)
{
    ruler_src *x = ctx;
    snprintf(buf, n, "%s-%ld", x->name, x->smp.s[i].index);
    return buf;
}

/* call_api.py: the model gets input + answer_prefix, tokenized as the tokenizer does by default
 * (HF's pipeline calls tokenizer(prompt): BOS by the tokenizer's own rule) */
static int rs_prompt(void *ctx, long i, kvb_ids *ids, kvb_error *e)
{
    ruler_src *x = ctx;
    const kvb_ruler_sample *s = &x->smp.s[i];
    kvb_strbuf p;
    kvb_strbuf_init(&p);
    int rc = kvb_strbuf_adds(&p, s->input) || kvb_strbuf_adds(&p, s->answer_prefix)
                 ? kvb_errorf(e, KVB_ENOMEM, "out of memory")
                 : kvb_tokenizer_encode(x->tok, p.buf ? p.buf : "", p.len, x->add_bos, ids, e);
    kvb_strbuf_release(&p);
    return rc;
}

static int rs_score(void *ctx, long i, const char *pred, double *score, kvb_error *e)
{
    ruler_src *x = ctx;
    const kvb_ruler_sample *s = &x->smp.s[i];
    char *post = kvb_ruler_postprocess(pred);
    if (!post)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    *score = kvb_ruler_score(x->t, post, s->outputs, s->n_outputs);
    free(post);
    if (isnan(*score))
        return kvb_errorf(e, KVB_EINVAL, "%s sample %ld: no reference answer to score against",
                          x->name, s->index);
    return 0;
}

static cJSON *str_list(char *const *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
    return a;
}

/* The fields of RULER's prediction line that evaluate.py reads (outputs, index) and the sample's
 * answer_prefix and length; "input" (the whole prompt) is left out: it is the generator's,
 * reproducible from the seed, and would make the file as large as the prompts. */
static int rs_fields(void *ctx, long i, const char *pred, cJSON *line, kvb_run_record *rec,
                     kvb_error *e)
{
    (void)pred, (void)e;
    ruler_src *x = ctx;
    const kvb_ruler_sample *s = &x->smp.s[i];
    rec->length = s->length;
    cJSON_AddItemToObject(line, "outputs", str_list(s->outputs, s->n_outputs));
    cJSON_AddNumberToObject(line, "index", (double)s->index);
    cJSON_AddStringToObject(line, "answer_prefix", s->answer_prefix);
    cJSON_AddNumberToObject(line, "length", (double)s->length);
    return 0;
}

static void rs_release(void *ctx)
{
    ruler_src *x = ctx;
    if (!x)
        return;
    kvb_ruler_samples_release(&x->smp);
    free(x);
}

/* sha256 of the samples as one JSON line each (index, input, answer_prefix, outputs, length):
 * a changed generator, seed, template or tokenizer changes it, and --resume refuses the run. */
static int samples_sha256(const kvb_ruler_samples *smp, char hex[65], kvb_error *e)
{
    kvb_sha256 c;
    kvb_sha256_init(&c);
    for (long i = 0; i < smp->n; i++) {
        const kvb_ruler_sample *s = &smp->s[i];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "index", (double)s->index);
        cJSON_AddStringToObject(j, "input", s->input);
        cJSON_AddStringToObject(j, "answer_prefix", s->answer_prefix);
        cJSON_AddItemToObject(j, "outputs", str_list(s->outputs, s->n_outputs));
        cJSON_AddNumberToObject(j, "length", (double)s->length);
        char *line = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        if (!line)
            return kvb_errorf(e, KVB_ENOMEM, "out of memory");
        kvb_sha256_update(&c, line, strlen(line));
        kvb_sha256_update(&c, "\n", 1);
        free(line);
    }
    unsigned char d[32];
    kvb_sha256_final(&c, d);
    for (int k = 0; k < 32; k++)
        snprintf(hex + 2 * k, 3, "%02x", d[k]);
    return 0;
}

int kvb_ruler_source_init(kvb_source *s, const kvb_ruler_task *t, int length,
                          const kvb_ruler_source_opts *o, kvb_error *e)
{
    memset(s, 0, sizeof(*s));
    ruler_src *x = kvb_calloc(1, sizeof(*x));
    if (!x)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    x->t = t;
    x->tok = o->tok;
    x->add_bos = o->add_bos;
    snprintf(x->name, sizeof(x->name), "%s%c%d", kvb_ruler_task_name(t), KVB_TASK_LENGTH_SEP,
             length);
    *s = (kvb_source){ .task = x->name, .metric = kvb_ruler_task_metric(t), .unit = "sample",
                       .max_new_tokens = kvb_ruler_task_tokens_to_generate(t), .ctx = x,
                       .id = rs_id, .prompt = rs_prompt, .score = rs_score, .fields = rs_fields,
                       .release = rs_release };
    kvb_ruler_gen_opts go = { .tok = o->tok, .max_seq_length = length,
                              .num_samples = o->num_samples, .random_seed = o->seed,
                              .model_template = o->model_template, .qa_path = o->qa_path };
    int rc = kvb_ruler_generate(t, &go, &x->smp, e);
    if (rc)
        kvb_error_prefix(e, "RULER %s", x->name);
    else
        rc = samples_sha256(&x->smp, s->data_sha256, e);
    if (!rc)
        s->n = x->smp.n;
    if (rc)
        kvb_source_release(s);
    return rc;
}
