/* The generation loop (generate.h): prefill, greedy decode with stop rules, memory trace. */
#include "runner/generate.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* ---- generation ---------------------------------------------------------------------------- */

void kvb_gen_result_release(kvb_gen_result *r)
{
    kvb_ids_release(&r->out);
    free(r->text);
    free(r->trace_step);
    free(r->trace);
    free(r->trace_layers); /* layers_prefill and layers_end point into it */
    memset(r, 0, sizeof(*r));
}

int kvb_trace_every(int max_new_tokens, int requested)
{
    if (requested > 0)
        return requested;
    /* the smallest k that fits: below last / (MAX - 1) the multiples of k alone are too many */
    const int last = KVB_MAX(max_new_tokens, 1) - 1;
    int k = KVB_MAX(1, last / (KVB_TRACE_MAX_POINTS - 1));
    while (kvb_trace_points(last, k) > KVB_TRACE_MAX_POINTS)
        k++;
    return k;
}

int kvb_trace_points(int last_step, int every)
{
    return last_step / every + 1 + (last_step % every ? 1 : 0);
}

static void mem_point(const kvb_cache *c, int n_layers, kvb_cache_layer_stats *layers,
                      kvb_mem_point *p)
{
    p->bytes = kvb_cache_bytes(c);
    p->full16_bytes = kvb_cache_full16_bytes(c);
    p->tokens = p->tokens_full = 0;
    for (int l = 0; l < n_layers; l++) {
        kvb_cache_layer_stats s;
        memset(&s, 0, sizeof(s));
        kvb_cache_layer_stats_get(c, l, &s);
        if (layers)
            layers[l] = s;
        p->tokens += s.tokens;
        p->tokens_full += s.tokens_full;
    }
}

/* Append a trace point (the buffers hold kvb_trace_points of max_new_tokens). */
static void trace_point(const kvb_cache *c, kvb_gen_result *r, int step)
{
    const int i = r->n_trace++;
    r->trace_step[i] = step;
    mem_point(c, r->n_layers, r->trace_layers + (size_t)i * r->n_layers, &r->trace[i]);
}

static int is_stop(const kvb_gen_opts *o, int32_t id)
{
    for (int i = 0; i < o->n_stop; i++)
        if (o->stop_ids[i] == id)
            return 1;
    return 0;
}

/* Greedy choice; before min_new_tokens exist the stop ids are masked to -inf, as HF's
 * MinLengthLogitsProcessor does with every eos id passed to generate(). The gap to the
 * runner-up updates r's smallest margin. */
static int32_t pick(float *logits, int vocab, const kvb_gen_opts *o, kvb_gen_result *r)
{
    const int n_gen = (int)r->out.n;
    if (n_gen < o->min_new_tokens)
        for (int i = 0; i < o->n_stop; i++)
            if (o->stop_ids[i] >= 0 && o->stop_ids[i] < vocab)
                logits[o->stop_ids[i]] = -__builtin_inff();
    float second;
    const int32_t best = kvb_argmax2(logits, vocab, &second);
    const float gap = logits[best] - second;
    if (n_gen == 0 || gap < r->margin) {
        r->margin = gap;
        r->margin_step = n_gen;
    }
    return best;
}

int kvb_generate(kvb_model *m, kvb_cache *c, const int32_t *ids, int n,
                    const kvb_gen_opts *o, kvb_gen_result *r, kvb_error *e)
{
    memset(r, 0, sizeof(*r));
    kvb_ids_init(&r->out);
    const kvb_model_config *cfg = kvb_model_get_config(m);
    int vocab = cfg->vocab, L = cfg->n_layers;
    r->n_prompt = n;
    r->n_layers = L;
    r->trace_every = kvb_trace_every(o->max_new_tokens, o->trace_every);
    /* sized for the longest generation, so the decode loop allocates nothing */
    const int cap = kvb_trace_points(KVB_MAX(o->max_new_tokens, 1) - 1, r->trace_every);
    float *logits = kvb_malloc((size_t)vocab * sizeof(float));
    r->trace_step = kvb_calloc((size_t)cap, sizeof(int));
    r->trace = kvb_calloc((size_t)cap, sizeof(kvb_mem_point));
    r->trace_layers = kvb_calloc((size_t)cap * L, sizeof(kvb_cache_layer_stats));
    int rc = 0;
    if (!logits || !r->trace_step || !r->trace || !r->trace_layers) {
        rc = kvb_errorf(e, KVB_ENOMEM, "out of memory for generation buffers");
        goto out;
    }
    if ((rc = kvb_cache_reset(c, n, e)))
        goto out;
    double t0 = kvb_now();
    if ((rc = kvb_model_prefill(m, c, ids, n, logits, e)))
        goto out;
    r->t_prefill = kvb_now() - t0;
    r->prefill_peak_bytes = kvb_cache_prefill_peak_bytes(c);
    trace_point(c, r, 0);
    r->prefill = r->trace[0];
    r->layers_prefill = r->trace_layers;
    r->peak_bytes = r->prefill.bytes;
    double t1 = kvb_now();
    for (;;) {
        int32_t next = pick(logits, vocab, o, r);
        if ((rc = kvb_ids_push(&r->out, next)))
            break;
        if (is_stop(o, next)) {
            r->stopped_by = 1;
            break;
        }
        if (o->on_token && (rc = o->on_token(o->arg, next, (int)r->out.n - 1, e)))
            break;
        if ((int)r->out.n >= o->max_new_tokens)
            break;
        /* the token just chosen sits at position n + (generated - 1) */
        if ((rc = kvb_model_decode(m, c, next, n + (int)r->out.n - 1, logits, e)))
            break;
        size_t b = kvb_cache_bytes(c);
        if (b > r->peak_bytes)
            r->peak_bytes = b;
        /* decode steps so far = generated tokens fed back = out.n */
        if ((int)r->out.n % r->trace_every == 0)
            trace_point(c, r, (int)r->out.n);
    }
    r->t_decode = kvb_now() - t1;
    if (rc)
        goto out;
    const int last = (int)r->out.n - 1;
    if (r->trace_step[r->n_trace - 1] != last)
        trace_point(c, r, last);
    r->end = r->trace[r->n_trace - 1];
    r->layers_end = r->trace_layers + (size_t)(r->n_trace - 1) * L;
    /* the cache's own peak also sees inside prefill (e.g. ZigZagKV before it trims) */
    r->peak_bytes = KVB_MAX(r->peak_bytes, kvb_cache_peak_bytes(c));
    r->peak_bytes = KVB_MAX(r->peak_bytes, r->prefill_peak_bytes);
    kvb_strbuf text;
    kvb_strbuf_init(&text);
    const kvb_tokenizer *tok = kvb_model_tokenizer(m);
    if (tok)
        rc = kvb_tokenizer_decode_clean(tok, r->out.ids, r->out.n, 1, o->cleanup_spaces, &text, e);
    if (rc == 0)
        r->text = kvb_post_process(cfg->name, text.buf ? text.buf : "");
    kvb_strbuf_release(&text);
    if (rc == 0 && !r->text)
        rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
out:
    free(logits);
    return rc;
}

char *kvb_post_process(const char *model_name, const char *text)
{
    if (strstr(model_name, "xgen")) {
        /* response.strip().replace("Assistant:", "") */
        const char *s = text, *end = text + strlen(text);
        while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
            s++;
        while (end > s && (end[-1] == ' ' || end[-1] == '\n' || end[-1] == '\t' || end[-1] == '\r'))
            end--;
        kvb_strbuf sb;
        kvb_strbuf_init(&sb);
        for (const char *p = s; p < end;) {
            if ((size_t)(end - p) >= 10 && !memcmp(p, "Assistant:", 10))
                p += 10;
            else
                kvb_strbuf_add(&sb, p++, 1);
        }
        return kvb_strbuf_detach(&sb);
    }
    if (strstr(model_name, "internlm")) {
        const char *cut = strstr(text, "<eoa>");
        size_t n = cut ? (size_t)(cut - text) : strlen(text);
        char *o = kvb_malloc(n + 1);
        if (o) {
            memcpy(o, text, n);
            o[n] = 0;
        }
        return o;
    }
    return kvb_strdup(text);
}

/* ---- memory trace -------------------------------------------------------------------------- */

static cJSON *point_json(const kvb_mem_point *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "kv_bytes", (double)p->bytes);
    cJSON_AddNumberToObject(o, "full16_bytes", (double)p->full16_bytes);
    cJSON_AddNumberToObject(o, "kept_tokens", (double)p->tokens);
    cJSON_AddNumberToObject(o, "full_tokens", (double)p->tokens_full);
    cJSON_AddNumberToObject(o, "compression", p->bytes ? (double)p->full16_bytes / (double)p->bytes : 0);
    return o;
}

static cJSON *layers_json(const kvb_cache_layer_stats *s, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int l = 0; l < n; l++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "k", (double)s[l].k_bytes);
        cJSON_AddNumberToObject(o, "v", (double)s[l].v_bytes);
        cJSON_AddNumberToObject(o, "meta", (double)s[l].meta_bytes);
        cJSON_AddNumberToObject(o, "residual", (double)s[l].residual_bytes);
        cJSON_AddNumberToObject(o, "tokens", (double)s[l].tokens);
        cJSON_AddNumberToObject(o, "tokens_full", (double)s[l].tokens_full);
        cJSON_AddBoolToObject(o, "lazy", s[l].lazy);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

/* Column arrays, one entry per point; layer_bytes[i][l] = K + V + metadata + residual bytes of
 * layer l at point i (they sum to kv_bytes[i]). */
static cJSON *trace_json(const kvb_gen_result *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "every", r->trace_every);
    cJSON *step = cJSON_AddArrayToObject(o, "step"), *bytes = cJSON_AddArrayToObject(o, "kv_bytes"),
          *kept = cJSON_AddArrayToObject(o, "kept_tokens"),
          *layers = cJSON_AddArrayToObject(o, "layer_bytes");
    for (int i = 0; i < r->n_trace; i++) {
        cJSON_AddItemToArray(step, cJSON_CreateNumber(r->trace_step[i]));
        cJSON_AddItemToArray(bytes, cJSON_CreateNumber((double)r->trace[i].bytes));
        cJSON_AddItemToArray(kept, cJSON_CreateNumber((double)r->trace[i].tokens));
        cJSON *row = cJSON_CreateArray();
        for (int l = 0; l < r->n_layers; l++) {
            const kvb_cache_layer_stats *s = &r->trace_layers[(size_t)i * r->n_layers + l];
            cJSON_AddItemToArray(row, cJSON_CreateNumber((double)(s->k_bytes + s->v_bytes +
                                                                  s->meta_bytes + s->residual_bytes)));
        }
        cJSON_AddItemToArray(layers, row);
    }
    return o;
}

char *kvb_mem_trace_json(const char *id, long index, const kvb_gen_result *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "_id", id);
    cJSON_AddNumberToObject(o, "_index", (double)index);
    cJSON_AddNumberToObject(o, "prompt_tokens", r->n_prompt);
    cJSON_AddNumberToObject(o, "generated_tokens", (double)r->out.n);
    cJSON_AddItemToObject(o, "prefill", point_json(&r->prefill));
    cJSON_AddItemToObject(o, "end", point_json(&r->end));
    cJSON_AddNumberToObject(o, "peak_kv_bytes", (double)r->peak_bytes);
    cJSON_AddItemToObject(o, "layers_prefill", layers_json(r->layers_prefill, r->n_layers));
    cJSON_AddItemToObject(o, "layers_end", layers_json(r->layers_end, r->n_layers));
    cJSON_AddNumberToObject(o, "prefill_peak_kv_bytes", (double)r->prefill_peak_bytes);
    cJSON_AddItemToObject(o, "trace", trace_json(r));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}
