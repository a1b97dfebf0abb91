/* lib/kvcache/plan.c: `kvbench run --dry-run`: the per-layer kept tokens and bytes at the end of
 * prefill, from the prompt length alone, with the same budget arithmetic as the methods (a unit
 * test runs every plannable method and compares the plan with the bytes really held). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvcache/kvcache.h"
#include "kvcache/params.h"
#include "kvcache/select.h"

static void fp16_layer(kvb_cache_plan_layer *o, long kept_per_head, int S, int D)
{
    o->k_bytes = (size_t)kept_per_head * S * D * 2;
    o->v_bytes = (size_t)kept_per_head * S * D * 2;
}

/* Tokens an eviction method keeps per head: top-cap of the prefix + the window (cap < 0: all). */
static long evict_kept(int cap, int n, int w)
{
    if (cap < 0)
        return n;
    const int m = n - KVB_MIN(w, n);
    return KVB_MIN(cap, m) + (n - m);
}

/* Prompt tokens one stored head keeps at the end of prefill. */
static long kept_tokens(const kvb_kvparams *p, int l, int n, int mode, const int *caps)
{
    switch (p->kind) {
    case KVB_KIND_SNAPKV:
    case KVB_KIND_H2O:
    case KVB_KIND_THINK:
        return evict_kept(n < p->budget ? -1 : p->budget - p->window, n, p->window);
    case KVB_KIND_PYRAMIDKV:
        return evict_kept(mode == KVB_PYR_FULL ? -1 : caps[l], n, p->window);
    case KVB_KIND_STREAMINGLLM:
        return n <= p->budget ? n : p->budget;
    default:
        return n;
    }
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
    kvb_kvparams p;
    int kind;
    int rc = kvb_kvparams_parse(method, &s, params, n_params, &p, e);
    if (rc) {
        const char *canon = kvb_kvparams_canonical(method, &kind);
        if (canon)
            kvb_error_prefix(e, "cache method %s", canon);
        return rc;
    }
    if (prompt_len < 1 || prompt_len > (1 << 24))
        return kvb_errorf(e, KVB_EINVAL, "kvcache: invalid prompt length %d", prompt_len);
    const int L = s.n_layers, D = s.head_dim, n = prompt_len;
    const int S = p.gqa_query ? s.n_heads : s.n_kv_heads;
    switch (p.kind) {
    case KVB_KIND_SIMLAYERKV:
    case KVB_KIND_SIMLAYERKV_KIVI:
        snprintf(why, whylen, "%s decides which layers are lazy from the attention of the first "
                 "decode step; kept tokens per layer are known only after running the model",
                 p.name);
        return KVB_EUNSUP;
    case KVB_KIND_ZIGZAGKV:
        snprintf(why, whylen, "ZigZagKV sizes each layer's budget from its attention (LMBA); "
                 "kept tokens per layer are known only after prefill");
        return KVB_EUNSUP;
    default:
        break;
    }
    int caps[4096];
    int mode = KVB_PYR_FULL;
    if (p.kind == KVB_KIND_PYRAMIDKV)
        mode = kvb_sel_pyramid_caps(p.budget, p.window, L, p.beta, n, caps);
    for (int l = 0; l < L; l++) {
        kvb_cache_plan_layer *o = &out[l];
        memset(o, 0, sizeof(*o));
        o->tokens_full = (long)s.n_kv_heads * n;
        o->full16_bytes = (size_t)s.n_kv_heads * n * D * 4;
        switch (p.kind) {
        case KVB_KIND_FULL: /* full.c: f16 unless dtype=f32 */
            fp16_layer(o, n, s.n_kv_heads, D);
            if (!p.f16)
                o->k_bytes *= 2, o->v_bytes *= 2;
            break;
        case KVB_KIND_SNAPKV:
        case KVB_KIND_H2O:
            fp16_layer(o, evict_kept(n < p.budget ? -1 : p.budget - p.window, n, p.window), S, D);
            break;
        case KVB_KIND_PYRAMIDKV:
            fp16_layer(o, evict_kept(mode == KVB_PYR_FULL ? -1 : caps[l], n, p.window), S, D);
            break;
        case KVB_KIND_STREAMINGLLM:
            fp16_layer(o, n <= p.budget ? n : p.budget, S, D);
            break;
        case KVB_KIND_THINK: {
            const long kept = evict_kept(n < p.budget ? -1 : p.budget - p.window, n, p.window);
            const int n_prune = (int)floor(p.ratio * D);
            fp16_layer(o, kept, S, D);
            if (n_prune > 0) {
                const long n_full = KVB_MIN((long)p.recent, kept), n_thin = kept - n_full;
                o->k_bytes = (size_t)S * (n_thin * (D - n_prune) + n_full * D) * 2;
                o->meta_bytes = n_thin > 0 ? (size_t)S * (D - n_prune) * 2 : 0;
            }
            break;
        }
        case KVB_KIND_KIVI: {
            const long R = p.residual, G = p.group;
            const long kq = n < R ? 0 : n - n % R, vq = n <= R ? 0 : n - R;
            o->k_bytes = (size_t)S * kq * D * p.bits / 8;
            o->v_bytes = (size_t)S * vq * D * p.bits / 8;
            o->meta_bytes = (size_t)S * ((kq / G) * D + vq * (D / G)) * 4;
            o->residual_bytes = (size_t)S * ((n - kq) + (n - vq)) * D * 2;
            break;
        }
        default:
            break;
        }
        /* tokens per kv head, as kvb_cache_layer_stats (query_head copies show in the bytes) */
        o->tokens = (long)s.n_kv_heads * kept_tokens(&p, l, n, mode, caps);
    }
    return 0;
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
