/* lib/kvcache/plan.c: `kvbench run --dry-run`: the per-layer kept tokens and bytes at the end of
 * prefill, from the prompt length alone. Each method plans with the same budget arithmetic it
 * runs (its descriptor's plan hook; a unit test runs every plannable method and compares the
 * plan with the bytes really held); this file parses, checks and fills what is common. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvcache/kvcache_impl.h"

void kvb_plan_fp16(kvb_cache_plan_layer *o, long kept_per_head, int S, const kvb_cache_shape *s)
{
    o->k_bytes = (size_t)kept_per_head * S * s->head_dim * 2;
    o->v_bytes = (size_t)kept_per_head * S * s->head_dim * 2;
    /* tokens per kv head, as kvb_cache_layer_stats (query_head copies show in the bytes) */
    o->tokens = (long)s->n_kv_heads * kept_per_head;
}

long kvb_plan_evict_kept(int cap, int n, int w)
{
    if (cap < 0)
        return n;
    const int m = n - KVB_MIN(w, n);
    return KVB_MIN(cap, m) + (n - m);
}

static int shape_ok(const kvb_cache_shape *s, kvb_error *e)
{
    if (s->n_layers <= 0 || s->n_heads <= 0 || s->n_kv_heads <= 0 || s->head_dim <= 0 ||
        s->n_heads % s->n_kv_heads || s->max_tokens <= 0 || s->head_dim > 1024 ||
        s->n_layers > 4096 || s->n_heads > 4096)
        return kvb_errorf(e, KVB_EINVAL, "kvcache: invalid shape (layers %d, heads %d, kv heads "
                          "%d, head_dim %d, max_tokens %d)", s->n_layers, s->n_heads,
                          s->n_kv_heads, s->head_dim, s->max_tokens);
    return 0;
}

/* "full, SimLayerKV, ..., SimLayerKV+KIVI (alias kivi_SimLayerKV), ..." */
static int unknown_method(const char *method, kvb_error *e)
{
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    for (int i = 0; i < kvb_cache_method_count(); i++) {
        const struct kvb_cache_method *m = kvb_cache_method_get(i);
        kvb_strbuf_addf(&sb, "%s%s", i ? ", " : "", m->name);
        for (const char *const *a = m->aliases; a && *a; a++)
            kvb_strbuf_addf(&sb, "%s%s%s", a == m->aliases ? " (alias " : ", ", *a,
                            a[1] ? "" : ")");
    }
    kvb_errorf(e, KVB_EINVAL, "unknown cache method '%s' (valid: %s)", method ? method : "",
               sb.buf ? sb.buf : "");
    kvb_strbuf_release(&sb);
    return KVB_EINVAL;
}

int kvb_cache_plan(const char *method, const kvb_cache_shape *shape,
                   const kvb_cache_param *params, int n_params, int prompt_len,
                   kvb_cache_plan_layer *out, char *why, size_t whylen, kvb_error *e)
{
    if (why && whylen)
        why[0] = 0;
    if (!shape)
        return kvb_errorf(e, KVB_EINVAL, "kvcache: plan needs a model shape");
    kvb_cache_shape s = *shape;
    if (s.max_tokens <= 0)
        s.max_tokens = prompt_len;
    const struct kvb_cache_method *m = kvb_cache_method_find(method);
    if (!m)
        return unknown_method(method, e);
    void *p = kvb_calloc(1, m->params_size ? m->params_size : 1);
    if (!p)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    int rc = shape_ok(&s, e);
    if (!rc)
        rc = kvb_params_parse(m, &s, params, n_params, p, e);
    if (rc) {
        kvb_error_prefix(e, "cache method %s", m->name);
    } else if (prompt_len < 1 || prompt_len > (1 << 24)) {
        rc = kvb_errorf(e, KVB_EINVAL, "kvcache: invalid prompt length %d", prompt_len);
    } else {
        const int n = prompt_len;
        for (int l = 0; l < s.n_layers; l++) {
            memset(&out[l], 0, sizeof(out[l]));
            out[l].tokens_full = (long)s.n_kv_heads * n;
            out[l].full16_bytes = (size_t)s.n_kv_heads * n * s.head_dim * 4;
        }
        if (m->plan) {
            rc = m->plan(p, &s, n, out, why, whylen);
        } else {
            snprintf(why, whylen, "%s has no dry-run plan", m->name);
            rc = KVB_EUNSUP;
        }
    }
    free(p);
    return rc;
}

/* ---- the plan as text (kvbench run --dry-run) ---------------------------------------------- */

int kvb_cache_plan_text(const char *method, const kvb_cache_shape *shape,
                        const kvb_cache_param *params, int n_params, int prompt_len,
                        kvb_strbuf *out, kvb_error *e)
{
    const long n = prompt_len;
    const int L = shape->n_layers;
    kvb_cache_plan_layer *pl = kvb_calloc((size_t)L, sizeof(*pl));
    char why[256] = "";
    if (!pl)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    int rc = kvb_cache_plan(method, shape, params, n_params, prompt_len, pl, why, sizeof(why), e);
    if (rc == KVB_EUNSUP) {
        kvb_strbuf_addf(out, "plan for a %ld-token prompt: decided from the attention at run time "
                             "(%s)\n", n, why);
        rc = 0;
    } else if (rc == 0) {
        double held = 0, full = 0;
        long kept = 0, all = 0;
        kvb_strbuf_addf(out, "plan for a %ld-token prompt (end of prefill):\n"
                             "  layer  kept/full tokens   bytes held\n", n);
        for (int l = 0; l < L; l++) {
            double b = (double)(pl[l].k_bytes + pl[l].v_bytes + pl[l].meta_bytes +
                                pl[l].residual_bytes);
            held += b;
            full += (double)pl[l].full16_bytes;
            kept += pl[l].tokens;
            all += pl[l].tokens_full;
            kvb_strbuf_addf(out, "  %5d  %8ld/%-8ld %12.0f\n", l, pl[l].tokens, pl[l].tokens_full, b);
        }
        kvb_strbuf_addf(out, "  total: keeps %.1f%% of the tokens, %.2f MiB held, full 16-bit cache "
                             "%.2f MiB, compression %.2fx\n",
                        all ? 100.0 * kept / all : 0, held / 1048576.0, full / 1048576.0,
                        held > 0 ? full / held : 0);
    }
    free(pl);
    return rc;
}
