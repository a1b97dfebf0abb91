/* The table of cache methods, in the order `kvbench list` prints them.
 *
 * A method is a descriptor (kvcache_impl.h: struct kvb_cache_method) in its own file. Adding one:
 *   1. write lib/kvcache/<method>.c: params struct (first member kvb_kv_params), parameter
 *      table, hooks on the shared store (engine.h), plan, and
 *      `const struct kvb_cache_method kvb_cache_method_<x> = { ... .ops = &kvb_store_ops ... }`;
 *   2. add its extern and one line to the table below.
 * Parameter parsing, validation, error messages, `kvbench run` flags, run.json's params and
 * the dry-run plan all come from the descriptor; nothing else names the method.
 * kvb_cache_method_register adds a method at run time (tests define one in the test file). */
#include "kvcache_impl.h"

#include <strings.h>

extern const struct kvb_cache_method kvb_cache_method_full;
extern const struct kvb_cache_method kvb_cache_method_simlayerkv;
extern const struct kvb_cache_method kvb_cache_method_kivi;
extern const struct kvb_cache_method kvb_cache_method_simlayerkv_kivi;
extern const struct kvb_cache_method kvb_cache_method_pyramidkv;
extern const struct kvb_cache_method kvb_cache_method_zigzagkv;
extern const struct kvb_cache_method kvb_cache_method_snapkv;
extern const struct kvb_cache_method kvb_cache_method_streamingllm;
extern const struct kvb_cache_method kvb_cache_method_h2o;
extern const struct kvb_cache_method kvb_cache_method_think;

static const struct kvb_cache_method *const builtin[] = {
    &kvb_cache_method_full,
    &kvb_cache_method_simlayerkv,
    &kvb_cache_method_kivi,
    &kvb_cache_method_simlayerkv_kivi,
    &kvb_cache_method_pyramidkv,
    &kvb_cache_method_zigzagkv,
    &kvb_cache_method_snapkv,
    &kvb_cache_method_streamingllm,
    &kvb_cache_method_h2o,
    &kvb_cache_method_think,
};
#define N_BUILTIN ((int)(sizeof(builtin) / sizeof(builtin[0])))

enum { MAX_EXTRA = 8 };
static const struct kvb_cache_method *extra[MAX_EXTRA];
static int n_extra;

int kvb_cache_method_register(const struct kvb_cache_method *m)
{
    if (!m || !m->name || !m->ops || kvb_cache_method_find(m->name) || n_extra == MAX_EXTRA)
        return KVB_EINVAL;
    extra[n_extra++] = m;
    return 0;
}

const struct kvb_cache_method *kvb_cache_method_get(int i)
{
    if (i >= 0 && i < N_BUILTIN)
        return builtin[i];
    if (i >= N_BUILTIN && i < N_BUILTIN + n_extra)
        return extra[i - N_BUILTIN];
    return NULL;
}

const struct kvb_cache_method *kvb_cache_method_find(const char *name)
{
    const struct kvb_cache_method *m;
    for (int i = 0; name && (m = kvb_cache_method_get(i)); i++) {
        if (!strcasecmp(m->name, name))
            return m;
        for (const char *const *a = m->aliases; a && *a; a++)
            if (!strcasecmp(*a, name))
                return m;
    }
    return NULL;
}

int kvb_cache_method_count(void) { return N_BUILTIN + n_extra; }

const char *kvb_cache_method_at(int i)
{
    const struct kvb_cache_method *m = kvb_cache_method_get(i);
    return m ? m->name : NULL;
}
