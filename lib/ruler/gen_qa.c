/* RULER's scripts/data/synthetic/qa.py: a question's gold paragraphs among distractor documents
 * ("Document i:\n..."), from SQuAD v2.0 (qa_1: the other paragraphs of the same article first)
 * or HotpotQA's distractor setting (qa_2), read from the user's file in RULER's format
 * (json/squad.json = SQuAD's dev-v2.0.json, json/hotpotqa.json = hotpot_dev_distractor_v1.json). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "ruler/gen_internal.h"

#define QA_MAX_BYTES ((size_t)1 << 30)

typedef struct qa_item {
    const char *query;
    const char **outputs;
    int n_outputs;
    size_t *docs, n_docs;   /* 'context' */
    size_t *more, n_more;   /* 'more_context' (SQuAD) */
} qa_item;

typedef struct qa {
    rg_gen *g;
    const char *path;
    cJSON *json;            /* owns the strings */
    rg_words docs;          /* sorted(set(total_docs)) */
    qa_item *items;
    size_t n_items;
    kvb_strbuf input;
    const qa_item *cur;
} qa;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t doc_index(const qa *c, const char *doc)
{
    char *const *hit = bsearch(&doc, c->docs.w, c->docs.n, sizeof *c->docs.w, cmp_str);
    return (size_t)(hit - c->docs.w);
}

static int bad(qa *c, const char *what, size_t i)
{
    return kvb_errorf(c->g->e, KVB_EINVAL, "%s: item %zu: %s (not in RULER's %s format)", c->path,
                      i, what, !strcmp(c->g->t->dataset, "squad") ? "SQuAD v2.0" : "HotpotQA");
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int add_doc(qa *c, char *doc, size_t *cap)
{
    if (!doc)
        return KVB_ENOMEM;
    if (c->docs.n == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        char **nw = kvb_realloc(c->docs.w, *cap * sizeof *nw);
        if (!nw) {
            free(doc);
            return KVB_ENOMEM;
        }
        c->docs.w = nw;
    }
    c->docs.w[c->docs.n++] = doc;
    return 0;
}

static qa_item *new_item(qa *c, size_t *cap)
{
    if (c->n_items == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        qa_item *ni = kvb_realloc(c->items, *cap * sizeof *ni);
        if (!ni)
            return NULL;
        c->items = ni;
    }
    qa_item *it = &c->items[c->n_items++];
    memset(it, 0, sizeof *it);
    return it;
}

/* ---- SQuAD (read_squad) -------------------------------------------------------------------- */
static int squad_docs(qa *c, const cJSON *data)
{
    size_t cap = 0, i = 0;
    for (const cJSON *d = data->child; d; d = d->next, i++) {
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(d, "paragraphs");
        if (!cJSON_IsArray(ps))
            return bad(c, "'paragraphs' is not a list", i);
        for (const cJSON *p = ps->child; p; p = p->next) {
            const char *ctx = str_of(p, "context");
            if (!ctx || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(p, "qas")))
                return bad(c, "a paragraph without 'context' or 'qas'", i);
            if (add_doc(c, kvb_strdup(ctx), &cap))
                return KVB_ENOMEM;
        }
    }
    return 0;
}

static int squad_item(qa *c, const cJSON *q, size_t own, const size_t *more, size_t n_more,
                      size_t *cap, size_t i)
{
    const cJSON *imp = cJSON_GetObjectItemCaseSensitive(q, "is_impossible");
    const cJSON *ans = cJSON_GetObjectItemCaseSensitive(q, "answers");
    const char *question = str_of(q, "question");
    if (!cJSON_IsBool(imp) || !question || !cJSON_IsArray(ans))
        return bad(c, "a question without 'question', 'answers' or 'is_impossible'", i);
    if (cJSON_IsTrue(imp))
        return 0;
    qa_item *it = new_item(c, cap);
    int na = cJSON_GetArraySize(ans);
    if (!it || !(it->outputs = kvb_calloc((size_t)na + 1, sizeof *it->outputs)) ||
        !(it->docs = kvb_calloc(1, sizeof *it->docs)) ||
        !(it->more = kvb_calloc(n_more + 1, sizeof *it->more)))
        return KVB_ENOMEM;
    it->query = question;
    for (const cJSON *a = ans->child; a; a = a->next)
        if (!(it->outputs[it->n_outputs++] = str_of(a, "text")))
            return bad(c, "an answer without 'text'", i);
    it->docs[it->n_docs++] = own;
    for (size_t k = 0; k < n_more; k++)
        if (more[k] != own)
            it->more[it->n_more++] = more[k];
    return 0;
}

static int read_squad(qa *c)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(c->json, "data");
    if (!cJSON_IsArray(data))
        return kvb_errorf(c->g->e, KVB_EINVAL, "%s: no 'data' list (not SQuAD's format)", c->path);
    int rc = squad_docs(c, data);
    if (rc)
        return rc;
    rg_words_sort_unique(&c->docs);
    size_t cap = 0, i = 0;
    for (const cJSON *d = data->child; d && !rc; d = d->next, i++) {
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(d, "paragraphs");
        size_t np = (size_t)cJSON_GetArraySize(ps), k = 0;
        size_t *more = kvb_calloc(np + 1, sizeof *more);
        if (!more)
            return KVB_ENOMEM;
        for (const cJSON *p = ps->child; p; p = p->next)
            more[k++] = doc_index(c, str_of(p, "context"));
        k = 0;
        for (const cJSON *p = ps->child; p && !rc; p = p->next, k++) {
            const cJSON *qs = cJSON_GetObjectItemCaseSensitive(p, "qas");
            for (const cJSON *q = qs->child; q && !rc; q = q->next)
                rc = squad_item(c, q, more[k], more, np, &cap, i);
        }
        free(more);
    }
    return rc;
}

/* ---- HotpotQA (read_hotpotqa) -------------------------------------------------------------- */
/* f"{t}\n{''.join(p)}" of one [title, sentences] pair */
static char *hotpot_doc(const cJSON *pair)
{
    const cJSON *t = cJSON_GetArrayItem(pair, 0), *p = cJSON_GetArrayItem(pair, 1);
    if (cJSON_GetArraySize(pair) != 2 || !cJSON_IsString(t) || !cJSON_IsArray(p))
        return NULL;
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    int rc = kvb_strbuf_adds(&sb, t->valuestring) | kvb_strbuf_add(&sb, "\n", 1);
    for (const cJSON *s = p->child; s && !rc; s = s->next)
        rc = cJSON_IsString(s) ? kvb_strbuf_adds(&sb, s->valuestring) : KVB_EINVAL;
    if (rc) {
        kvb_strbuf_release(&sb);
        return NULL;
    }
    return kvb_strbuf_detach(&sb);
}

static int read_hotpotqa(qa *c)
{
    if (!cJSON_IsArray(c->json))
        return kvb_errorf(c->g->e, KVB_EINVAL, "%s: not a list (not HotpotQA's format)", c->path);
    size_t cap = 0, i = 0;
    int rc = 0;
    for (const cJSON *d = c->json->child; d && !rc; d = d->next, i++) {
        const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(d, "context");
        if (!str_of(d, "question") || !str_of(d, "answer") || !cJSON_IsArray(ctx))
            return bad(c, "no 'question', 'answer' or 'context'", i);
        for (const cJSON *pair = ctx->child; pair && !rc; pair = pair->next) {
            char *doc = hotpot_doc(pair);
            if (!doc)
                return bad(c, "a 'context' entry is not [title, [sentences]]", i);
            rc = add_doc(c, doc, &cap);
        }
    }
    if (rc)
        return rc;
    rg_words_sort_unique(&c->docs);
    cap = 0;
    i = 0;
    for (const cJSON *d = c->json->child; d && !rc; d = d->next, i++) {
        const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(d, "context");
        qa_item *it = new_item(c, &cap);
        size_t n = (size_t)cJSON_GetArraySize(ctx);
        if (!it || !(it->outputs = kvb_calloc(1, sizeof *it->outputs)) ||
            !(it->docs = kvb_calloc(n + 1, sizeof *it->docs)))
            return KVB_ENOMEM;
        it->query = str_of(d, "question");
        it->outputs[it->n_outputs++] = str_of(d, "answer");
        for (const cJSON *pair = ctx->child; pair && !rc; pair = pair->next) {
            char *doc = hotpot_doc(pair);
            if (!doc)
                return KVB_ENOMEM;
            it->docs[it->n_docs++] = doc_index(c, doc);
            free(doc);
        }
    }
    return rc;
}

/* ---- generate_input_output ----------------------------------------------------------------- */
static int contains(const size_t *v, size_t n, size_t x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x)
            return 1;
    return 0;
}

/* the documents' indices (all_docs before the shuffle); RG_RAISED where random.sample raises */
static int pick_docs(qa *c, const qa_item *it, long num_docs, size_t *all)
{
    rg_gen *g = c->g;
    size_t n = 0, k;
    long extra = num_docs - (long)it->n_docs;
    for (size_t i = 0; i < it->n_docs; i++)
        all[n++] = it->docs[i];
    if (extra > (long)it->n_more) {
        size_t *add = kvb_calloc(c->docs.n + 1, sizeof *add), n_add = 0;
        if (!add)
            return KVB_ENOMEM;
        for (size_t i = 0; i < c->docs.n; i++)
            if (!contains(it->docs, it->n_docs, i) && !contains(it->more, it->n_more, i))
                add[n_add++] = i;
        for (size_t i = 0; i < it->n_more; i++)
            all[n++] = it->more[i];
        k = (size_t)(extra - (long)it->n_more);
        int rc = k > n_add ? RG_RAISED : kvb_pyrandom_sample(&g->rnd, n_add, k, all + n, g->e);
        for (size_t i = 0; i < k && !rc; i++)
            all[n + i] = add[all[n + i]];
        free(add);
        return rc;
    }
    if (extra < 0)
        return RG_RAISED; /* "Sample larger than population or is negative" */
    k = (size_t)extra;
    int rc = kvb_pyrandom_sample(&g->rnd, it->n_more, k, all + n, g->e);
    for (size_t i = 0; i < k && !rc; i++)
        all[n + i] = it->more[all[n + i]];
    return rc;
}

static int generate_input_output(qa *c, size_t index, long num_docs)
{
    rg_gen *g = c->g;
    if (index >= c->n_items)
        return RG_RAISED; /* QAS[index]: IndexError */
    const qa_item *it = c->cur = &c->items[index];
    size_t *all = kvb_calloc((size_t)num_docs + it->n_docs + it->n_more + 1, sizeof *all);
    if (!all)
        return kvb_errorf(g->e, KVB_ENOMEM, "ruler: out of memory");
    int rc = 0;
    if ((size_t)num_docs < c->docs.n)
        rc = pick_docs(c, it, num_docs, all);
    else /* (DOCS * repeats)[:num_docs] */
        for (long i = 0; i < num_docs; i++)
            all[i] = (size_t)i % c->docs.n;
    kvb_strbuf ctx;
    kvb_strbuf_init(&ctx);
    if (!rc) {
        rg_shuffle_fresh(g, all, (size_t)num_docs, sizeof *all);
        for (long i = 0; i < num_docs && !rc; i++)
            rc = kvb_strbuf_addf(&ctx, "%sDocument %ld:\n%s", i ? "\n\n" : "", i + 1,
                                 c->docs.w[all[i]]);
        rc |= kvb_strbuf_add(&ctx, "", 0);
    }
    free(all);
    if (!rc) {
        rg_kv kv[] = { { "context", ctx.buf }, { "query", it->query } };
        c->input.len = 0;
        rc = rg_format(g->tmpl, kv, 2, &c->input, g->e);
    }
    kvb_strbuf_release(&ctx);
    return rc == KVB_ENOMEM ? kvb_errorf(g->e, rc, "ruler: out of memory") : rc;
}

static int probe(rg_gen *g, void *ctx, long n, long *total)
{
    qa *c = ctx;
    int rc = generate_input_output(c, 0, n);
    if (!rc && !(rc = rg_tokens(g, c->input.buf, total)))
        *total += g->base->tokens_to_generate;
    return rc;
}

static int one_sample(qa *c, size_t index, long num_docs, kvb_ruler_sample *s)
{
    rg_gen *g = c->g;
    const long inc = 10;
    long used = num_docs, length = 0;
    for (int tries = 0;; tries++) {
        int rc = generate_input_output(c, index, used);
        if (!rc && !(rc = rg_tokens(g, c->input.buf, &length)))
            length += g->base->tokens_to_generate;
        if (!rc && length <= g->max_seq_length)
            break;
        if (rc && rc != RG_RAISED)
            return rc;
        if (used > inc)
            used -= inc;
        else if (tries > 1000)
            return kvb_errorf(g->e, KVB_EINVAL, "ruler: %s: length %ld is too small: no sample "
                              "of %ld documents fits", g->t->name, g->max_seq_length, used);
    }
    return rg_emit(g, s, c->input.buf, 1, (char *const *)c->cur->outputs, c->cur->n_outputs,
                   length);
}

static int run(qa *c, kvb_ruler_samples *out)
{
    rg_gen *g = c->g;
    int rc = kvb_json_load(c->path, QA_MAX_BYTES, &c->json, g->e);
    if (!rc)
        rc = !strcmp(g->t->dataset, "squad") ? read_squad(c) : read_hotpotqa(c);
    if (rc == KVB_ENOMEM)
        return kvb_errorf(g->e, rc, "%s: out of memory", c->path);
    if (!rc && (c->docs.n == 0 || c->n_items < (size_t)g->o->num_samples))
        rc = kvb_errorf(g->e, KVB_EINVAL, "%s: %zu answerable questions, %ld samples asked for",
                        c->path, c->n_items, g->o->num_samples);
    long st, best;
    if (!rc && (rc = generate_input_output(c, 0, 10)) == 0)
        rc = rg_tokens(g, c->input.buf, &st);
    if (rc)
        return rc == RG_RAISED ? kvb_errorf(g->e, KVB_EINVAL, "ruler: %s: RULER's generator "
                                            "raises on its first sample", g->t->name) : rc;
    double per = (double)st / 10.0;
    long est = (long)(((double)g->max_seq_length / per) * 3);
    if ((rc = rg_search(g, probe, c, 10, KVB_MAX(est, 20), 10, &best)))
        return rc;
    for (long i = 0; i < g->o->num_samples && !rc; i++) {
        out->n = i + 1;
        out->s[i].index = i;
        rc = one_sample(c, (size_t)i, best, &out->s[i]);
    }
    return rc;
}

int rg_gen_qa(rg_gen *g, kvb_ruler_samples *out)
{
    qa c = { .g = g, .path = g->o->qa_path };
    kvb_strbuf_init(&c.input);
    int rc = run(&c, out);
    for (size_t i = 0; i < c.n_items; i++) {
        free(c.items[i].outputs);
        free(c.items[i].docs);
        free(c.items[i].more);
    }
    free(c.items);
    rg_words_release(&c.docs);
    cJSON_Delete(c.json);
    kvb_strbuf_release(&c.input);
    return rc;
}
