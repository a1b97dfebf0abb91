/* Cache dispatch: create by name, argument checks, token counting, accounting common to every
 * method. The methods themselves live in lib/kvcache/<method>.c, listed in registry.c. */
#include "kvcache_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- lifecycle ----------------------------------------------------------------------------- */
static int check_shape(const kvb_cache_shape *s, kvb_error *e)
{
    if (s->n_layers < 1 || s->n_layers > 1024 || s->n_heads < 1 || s->n_heads > KVB_CACHE_MAX_HEADS ||
        s->n_kv_heads < 1 || s->n_kv_heads > s->n_heads || s->n_heads % s->n_kv_heads ||
        s->head_dim < 1 || s->head_dim > 1024 || s->max_tokens < 1 || s->max_tokens > (1 << 24))
        return kvb_errorf(e, KVB_EINVAL,
                          "cache shape invalid: layers %d, heads %d, kv heads %d, head_dim %d, "
                          "max_tokens %d", s->n_layers, s->n_heads, s->n_kv_heads, s->head_dim,
                          s->max_tokens);
    return 0;
}

int kvb_cache_create(kvb_cache **out, const char *method, const kvb_cache_shape *shape,
                     const kvb_cache_param *params, int n_params, kvb_pool *pool, kvb_error *e)
{
    *out = NULL;
    const struct kvb_cache_method *m = kvb_cache_method_find(method ? method : "");
    if (!m) {
        kvb_strbuf sb;
        kvb_strbuf_init(&sb);
        for (int i = 0; i < kvb_cache_method_count(); i++)
            kvb_strbuf_addf(&sb, "%s%s", i ? ", " : "", kvb_cache_method_at(i));
        kvb_errorf(e, KVB_EINVAL, "unknown cache method '%s' (known: %s)", method ? method : "",
                   sb.buf ? sb.buf : "");
        kvb_strbuf_release(&sb);
        return KVB_EINVAL;
    }
    int rc = check_shape(shape, e);
    if (rc)
        return rc;
    if (n_params < 0 || (n_params > 0 && !params))
        return kvb_errorf(e, KVB_EINVAL, "cache method %s: bad parameter list", m->name);
    kvb_cache *c = kvb_calloc(1, sizeof(*c));
    if (c)
        c->params = kvb_calloc(1, m->params_size ? m->params_size : 1);
    if (!c || !c->params) {
        free(c);
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    }
    c->m = m;
    c->ops = m->ops;
    c->shape = *shape;
    snprintf(c->family, sizeof(c->family), "%s", shape->model_family ? shape->model_family : "");
    c->shape.model_family = c->family;
    c->pool = pool;
    c->needs = m->needs;
    rc = kvb_params_parse(m, &c->shape, params, n_params, c->params, e);
    if (!rc)
        rc = c->ops->init(c, e);
    if (rc) {
        kvb_error_prefix(e, "cache method %s", m->name);
        if (c->ops->release)
            c->ops->release(c);
        free(c->params);
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void kvb_cache_free(kvb_cache *c)
{
    if (!c)
        return;
    c->ops->release(c);
    free(c->params);
    free(c);
}

int kvb_cache_reset(kvb_cache *c, int n_prompt, kvb_error *e)
{
    if (n_prompt < 1 || n_prompt > c->shape.max_tokens)
        return kvb_errorf(e, KVB_EINVAL, "cache %s: prompt of %d tokens does not fit (capacity %d)",
                          c->m->name, n_prompt, c->shape.max_tokens);
    c->n_prompt = n_prompt;
    c->n_tokens = 0;
    c->prefill_peak = 0;
    return c->ops->reset(c, n_prompt, e);
}

unsigned kvb_cache_needs(const kvb_cache *c) { return c->needs; }
const char *kvb_cache_method_name(const kvb_cache *c) { return c->m->name; }

/* ---- prefill and decode ---------------------------------------------------------------------- */
/* The cache changes only inside the prefill calls, so the bytes after each of them are every
 * state prefill goes through (a method that holds a layer in full and trims it within the same
 * call holds both only inside that call, never between layers). */
static void note_prefill(kvb_cache *c)
{
    const size_t b = c->ops->bytes(c);
    if (b > c->prefill_peak)
        c->prefill_peak = b;
}

/* The inputs a prefill call must carry: the tensors, or on a device that holds the selection
 * only the statistics the method decides with. */
static int prefill_inputs_ok(const kvb_cache *c, const kvb_prefill_layer *pl)
{
    if (c->device_mode == KVB_DEVICE_HOLDS_SELECTED || c->device_mode == KVB_DEVICE_HOLDS_KIVI) {
        int w, qw;
        const unsigned need = kvb_cache_device_stats(c, &w, &qw);
        return (!(need & KVB_NEED_COLSUM) || pl->colsum) &&
               (!(need & KVB_NEED_WINDOW) || pl->window_attn) &&
               (!(need & KVB_NEED_QSQ) || pl->q_sqmean);
    }
    return pl->q && pl->k && pl->v && (!(c->needs & KVB_NEED_COLSUM) || pl->colsum);
}

int kvb_cache_prefill_layer(kvb_cache *c, const kvb_prefill_layer *pl, kvb_error *e)
{
    if (pl->layer < 0 || pl->layer >= c->shape.n_layers || pl->n_tokens != c->n_prompt ||
        !prefill_inputs_ok(c, pl))
        return kvb_errorf(e, KVB_EINVAL, "cache %s: bad prefill call (layer %d, %d tokens, prompt %d)",
                          c->m->name, pl->layer, pl->n_tokens, c->n_prompt);
    int rc = c->ops->prefill_layer(c, pl, e);
    if (!rc && pl->layer == 0)
        c->n_tokens = c->n_prompt;
    if (!rc)
        note_prefill(c);
    return rc;
}

int kvb_cache_prefill_end(kvb_cache *c, kvb_error *e)
{
    int rc = c->ops->prefill_end ? c->ops->prefill_end(c, e) : 0;
    if (!rc)
        note_prefill(c);
    return rc;
}

int kvb_cache_device_mode(kvb_cache *c, kvb_error *e)
{
    if (c->device_mode)
        return c->device_mode;
    int rc;
    if (c->ops->hold_external) {
        if ((rc = c->ops->hold_external(c, 0, e)))
            return rc;
        return c->device_mode = KVB_DEVICE_HOLDS_ALL;
    }
    if (!c->ops->hold_device)
        return kvb_errorf(e, KVB_EUNSUP, "cache method %s is not on the GPU yet (use --device "
                          "cpu)", c->m->name);
    if ((rc = c->ops->hold_device(c, e)) < 0)
        return rc;
    return c->device_mode = rc;
}

int kvb_cache_device_check(const char *method, const kvb_cache_param *params, int n_params,
                           kvb_error *e)
{
    /* a small Llama-like shape: the methods' parameter checks pass for what a real model takes */
    const kvb_cache_shape probe = { 2, 8, 2, 128, 64, "llama3" };
    kvb_cache *c;
    int rc = kvb_cache_create(&c, method, &probe, params, n_params, NULL, e);
    if (rc)
        return rc;
    rc = kvb_cache_device_mode(c, e);
    kvb_cache_free(c);
    return rc < 0 ? rc : 0;
}

unsigned kvb_cache_device_stats(const kvb_cache *c, int *window, int *qwindow)
{
    *window = *qwindow = 0;
    return c->device_mode == KVB_DEVICE_HOLDS_SELECTED ? c->ops->device_stats(c, window, qwindow)
                                                       : 0;
}

int kvb_cache_channel_stats(kvb_cache *c, int layer, const double *k_sqmean, kvb_error *e)
{
    int w, qw;
    if (!(kvb_cache_device_stats(c, &w, &qw) & KVB_NEED_KSQ) || layer < 0 ||
        layer >= c->shape.n_layers || !k_sqmean)
        return kvb_errorf(e, KVB_EINVAL, "cache %s: channel statistics not expected (layer %d)",
                          c->m->name, layer);
    return c->ops->channel_stats(c, layer, k_sqmean, e);
}

int kvb_cache_thin_keys(const kvb_cache *c, int layer, int head, int *ch, int *n_thin)
{
    *n_thin = 0;
    if (!c->ops->thin_keys || layer < 0 || layer >= c->shape.n_layers || head < 0 ||
        head >= kvb_cache_stored_heads(c))
        return c->shape.head_dim;
    return c->ops->thin_keys(c, layer, head, ch, n_thin);
}

int kvb_cache_device_kivi(const kvb_cache *c, int *bits, int *group, int *residual)
{
    if (c->device_mode < KVB_DEVICE_HOLDS_SELECTED)
        return -1;
    return c->ops->device_kivi(c, bits, group, residual);
}

int kvb_cache_kivi_counts(const kvb_cache *c, int layer, int counts[4])
{
    if (c->device_mode < KVB_DEVICE_HOLDS_SELECTED || !c->ops->kivi_counts)
        return -1;
    return c->ops->kivi_counts(c, layer, counts);
}

unsigned kvb_cache_device_decode_stats(const kvb_cache *c, int *sink, int *recent)
{
    *sink = *recent = 0;
    return c->device_mode == KVB_DEVICE_HOLDS_SELECTED && c->ops->device_decode_stats
               ? c->ops->device_decode_stats(c, sink, recent) : 0;
}

int kvb_cache_decode_stats(kvb_cache *c, int layer, const float *sink_mass, kvb_error *e)
{
    if (c->device_mode != KVB_DEVICE_HOLDS_SELECTED || !c->ops->decode_stats || layer < 0 ||
        layer >= c->shape.n_layers || !sink_mass)
        return kvb_errorf(e, KVB_EINVAL, "cache %s: decode statistics not expected (layer %d)",
                          c->m->name, layer);
    c->ops->decode_stats(c, layer, sink_mass);
    return 0;
}

int kvb_cache_kept_positions(const kvb_cache *c, int layer, int head, int *pos, int max)
{
    if (!c->ops->kept_positions)
        return -1;
    if (layer < 0 || layer >= c->shape.n_layers || max < 0)
        return 0;
    return c->ops->kept_positions(c, layer, head, pos, max);
}

int kvb_cache_hold_external(kvb_cache *c, int n_tokens, kvb_error *e)
{
    if (!c->ops->hold_external)
        return kvb_errorf(e, KVB_EUNSUP, "cache method %s is not on the GPU yet (only full runs "
                          "there)", c->m->name);
    if (n_tokens == 0)
        return c->ops->hold_external(c, 0, e);
    if (n_tokens < c->n_prompt || n_tokens > c->shape.max_tokens)
        return kvb_errorf(e, KVB_EINVAL, "cache %s: %d tokens held outside [%d, %d]", c->m->name,
                          n_tokens, c->n_prompt, c->shape.max_tokens);
    int rc = c->ops->hold_external(c, n_tokens, e);
    if (rc)
        return rc;
    int prefill = c->n_tokens == 0; /* the first report after a reset is the prompt */
    c->n_tokens = n_tokens;
    if (prefill)
        note_prefill(c);
    return 0;
}

int kvb_cache_append(kvb_cache *c, int layer, const float *k, const float *v, kvb_error *e)
{
    /* a device holding the selection appends K/V itself: only the count changes here */
    const int external = c->device_mode == KVB_DEVICE_HOLDS_SELECTED ||
                         c->device_mode == KVB_DEVICE_HOLDS_KIVI;
    if (layer < 0 || layer >= c->shape.n_layers || (external ? k || v : !k || !v))
        return kvb_errorf(e, KVB_EINVAL, "cache %s: bad append (layer %d)", c->m->name, layer);
    if (layer == 0) {
        if (c->n_tokens >= c->shape.max_tokens)
            return kvb_errorf(e, KVB_EINVAL, "cache %s: full (%d tokens)", c->m->name,
                              c->shape.max_tokens);
        c->n_tokens++;
    }
    return c->ops->append(c, layer, k, v, e);
}

void kvb_cache_attend(kvb_cache *c, int layer, const float *q, float *out, int h0, int h1,
                      float *scratch)
{
    if (h0 < 0)
        h0 = 0;
    if (h1 > c->shape.n_heads)
        h1 = c->shape.n_heads;
    if (layer < 0 || layer >= c->shape.n_layers || h0 >= h1)
        return;
    c->ops->attend(c, layer, q, out, h0, h1, scratch);
}

size_t kvb_cache_scratch_floats(const kvb_cache *c) { return c->ops->scratch_floats(c); }

int kvb_cache_can_split(const kvb_cache *c) { return c->ops->attend_part != NULL; }

void kvb_cache_attend_part(kvb_cache *c, int layer, const float *q, int part, int n_parts,
                           float *out, float *mx, float *sum, float *scratch)
{
    if (layer < 0 || layer >= c->shape.n_layers || n_parts < 1 || part < 0 || part >= n_parts ||
        !c->ops->attend_part)
        return;
    c->ops->attend_part(c, layer, q, part, n_parts, out, mx, sum, scratch);
}

void kvb_attend_merge(const float *out, const float *mx, const float *sum, int n_parts, int n_heads,
                      int head_dim, float *merged)
{
    for (int h = 0; h < n_heads; h++) {
        float m = -INFINITY, total = 0;
        for (int p = 0; p < n_parts; p++)
            m = fmaxf(m, mx[(size_t)p * n_heads + h]);
        float *o = merged + (size_t)h * head_dim;
        memset(o, 0, sizeof(float) * (size_t)head_dim);
        for (int p = 0; p < n_parts; p++) {
            float w = sum[(size_t)p * n_heads + h] > 0 ? expf(mx[(size_t)p * n_heads + h] - m) : 0;
            const float *src = out + ((size_t)p * n_heads + h) * head_dim;
            total += w * sum[(size_t)p * n_heads + h];
            for (int d = 0; d < head_dim && w > 0; d++)
                o[d] += w * src[d];
        }
        float inv = total > 0 ? 1.0f / total : 0;
        for (int d = 0; d < head_dim; d++)
            o[d] *= inv;
    }
}

/* ---- accounting ------------------------------------------------------------------------------ */
size_t kvb_cache_bytes(const kvb_cache *c) { return c->ops->bytes(c); }
size_t kvb_cache_prefill_peak_bytes(const kvb_cache *c) { return c->prefill_peak; }

void kvb_cache_layer_stats_get(const kvb_cache *c, int layer, kvb_cache_layer_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (layer < 0 || layer >= c->shape.n_layers)
        return;
    c->ops->layer_stats(c, layer, out);
    out->tokens_full = (long)c->n_tokens * c->shape.n_kv_heads;
}

size_t kvb_cache_full16_bytes(const kvb_cache *c)
{
    /* K and V, 2 bytes per element, every token of every kv head of every layer */
    return (size_t)c->n_tokens * c->shape.n_kv_heads * c->shape.head_dim * 2 * 2 *
           c->shape.n_layers;
}

size_t kvb_cache_peak_bytes(const kvb_cache *c)
{
    /* a storage without a peak only grows, so its peak is what it holds now */
    return c->ops->peak_bytes ? c->ops->peak_bytes(c) : kvb_cache_bytes(c);
}

int kvb_cache_stored_heads(const kvb_cache *c)
{
    return c->ops->stored_heads ? c->ops->stored_heads(c) : c->shape.n_kv_heads;
}

void kvb_cache_head_tokens(const kvb_cache *c, int layer, long *out)
{
    if (layer < 0 || layer >= c->shape.n_layers)
        return;
    if (c->ops->head_tokens) {
        c->ops->head_tokens(c, layer, out);
        return;
    }
    kvb_cache_layer_stats st;
    kvb_cache_layer_stats_get(c, layer, &st);
    for (int h = 0; h < c->shape.n_kv_heads; h++)
        out[h] = st.tokens / c->shape.n_kv_heads;
}

char *kvb_cache_params_json(const kvb_cache *c)
{
    char *s = c->ops->params_json ? c->ops->params_json(c) : NULL;
    return s ? s : kvb_strdup("{}");
}
