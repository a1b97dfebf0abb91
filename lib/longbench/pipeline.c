/* One LongBench record: prompt ids (truncation + chat template), greedy generation, accounting. */
#include "longbench/pipeline.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* ---- generation ---------------------------------------------------------------------------- */

void kvb_lb_gen_result_release(kvb_lb_gen_result *r)
{
    kvb_ids_release(&r->out);
    free(r->text);
    free(r->layers_prefill);
    free(r->layers_end);
    memset(r, 0, sizeof(*r));
}

static void mem_point(const kvb_cache *c, int n_layers, kvb_cache_layer_stats *layers,
                      kvb_lb_mem_point *p)
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

static int is_stop(const kvb_lb_gen_opts *o, int32_t id)
{
    for (int i = 0; i < o->n_stop; i++)
        if (o->stop_ids[i] == id)
            return 1;
    return 0;
}

/* Greedy choice; before min_new_tokens exist the stop ids are masked to -inf, as HF's
 * MinLengthLogitsProcessor does with every eos id passed to generate(). */
static int32_t pick(float *logits, int vocab, const kvb_lb_gen_opts *o, int n_gen)
{
    if (n_gen < o->min_new_tokens)
        for (int i = 0; i < o->n_stop; i++)
            if (o->stop_ids[i] >= 0 && o->stop_ids[i] < vocab)
                logits[o->stop_ids[i]] = -__builtin_inff();
    return kvb_argmax(logits, vocab);
}

int kvb_lb_generate(kvb_model *m, kvb_cache *c, const int32_t *ids, int n,
                    const kvb_lb_gen_opts *o, kvb_lb_gen_result *r, kvb_error *e)
{
    memset(r, 0, sizeof(*r));
    kvb_ids_init(&r->out);
    const kvb_model_config *cfg = kvb_model_get_config(m);
    int vocab = cfg->vocab, L = cfg->n_layers;
    r->n_prompt = n;
    r->n_layers = L;
    float *logits = kvb_malloc((size_t)vocab * sizeof(float));
    r->layers_prefill = kvb_calloc((size_t)L, sizeof(kvb_cache_layer_stats));
    r->layers_end = kvb_calloc((size_t)L, sizeof(kvb_cache_layer_stats));
    int rc = 0;
    if (!logits || !r->layers_prefill || !r->layers_end) {
        rc = kvb_errorf(e, KVB_ENOMEM, "out of memory for generation buffers");
        goto out;
    }
    if ((rc = kvb_cache_reset(c, n, e)))
        goto out;
    double t0 = kvb_now();
    if ((rc = kvb_model_prefill(m, c, ids, n, logits, e)))
        goto out;
    r->t_prefill = kvb_now() - t0;
    mem_point(c, L, r->layers_prefill, &r->prefill);
    r->peak_bytes = r->prefill.bytes;
    double t1 = kvb_now();
    for (;;) {
        int32_t next = pick(logits, vocab, o, (int)r->out.n);
        if ((rc = kvb_ids_push(&r->out, next)))
            break;
        if (is_stop(o, next)) {
            r->stopped_by = 1;
            break;
        }
        if ((int)r->out.n >= o->max_new_tokens)
            break;
        /* the token just chosen sits at position n + (generated - 1) */
        if ((rc = kvb_model_decode(m, c, next, n + (int)r->out.n - 1, logits, e)))
            break;
        size_t b = kvb_cache_bytes(c);
        if (b > r->peak_bytes)
            r->peak_bytes = b;
    }
    r->t_decode = kvb_now() - t1;
    if (rc)
        goto out;
    mem_point(c, L, r->layers_end, &r->end);
    /* the cache's own peak also sees inside prefill (e.g. ZigZagKV before it trims) */
    r->peak_bytes = KVB_MAX(r->peak_bytes, kvb_cache_peak_bytes(c));
    kvb_strbuf text;
    kvb_strbuf_init(&text);
    rc = kvb_lb_decode(kvb_model_tokenizer(m), r->out.ids, r->out.n, o->cleanup_spaces, &text, e);
    if (rc == 0)
        r->text = kvb_lb_post_process(cfg->name, text.buf ? text.buf : "");
    kvb_strbuf_release(&text);
    if (rc == 0 && !r->text)
        rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
out:
    free(logits);
    return rc;
}

char *kvb_lb_post_process(const char *model_name, const char *text)
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

static cJSON *point_json(const kvb_lb_mem_point *p)
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

char *kvb_lb_mem_trace_json(const char *id, long index, const kvb_lb_gen_result *r)
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
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}
