/* lib/kvcache/params.c: the shared parameter definitions and the generic parser, checker and JSON
 * writer that run over a method's table (kvcache_impl.h). */
#include "kvcache/params.h"
#include "kvcache/select.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- definitions -------------------------------------------------------------------------- */

static const kvb_param_choice pool_choices[] = {
    { "maxpool", KVB_POOL_MAX }, { "avgpool", KVB_POOL_AVG }, { "max", KVB_POOL_MAX },
    { "avg", KVB_POOL_AVG }, { NULL, 0 } };
static const kvb_param_choice gqa_choices[] = { { "kv_head", 0 }, { "query_head", 1 }, { NULL, 0 } };
static const kvb_param_choice lmba_choices[] = { { "pooled", 1 }, { "raw", 0 }, { NULL, 0 } };
static const kvb_param_choice dtype_choices[] = { { "f16", 1 }, { "f32", 0 }, { NULL, 0 } };

#define INT_DEF(NAME, LO, HI, EXPECT, HELP) { NAME, KVB_PARAM_INT, LO, HI, NULL, 0, EXPECT, HELP }
#define DBL_DEF(NAME, LO, HI, EXPECT, HELP) { NAME, KVB_PARAM_DBL, LO, HI, NULL, 0, EXPECT, HELP }
#define ENUM_DEF(NAME, CHOICES, ICASE, EXPECT, HELP)                                               \
    { NAME, KVB_PARAM_ENUM, 0, 0, CHOICES, ICASE, EXPECT, HELP }

const kvb_param_def kvb_param_budget = INT_DEF("budget", 1, 1 << 24,
    "an integer >= 1 (prompt tokens kept per head, window included)", "method: token budget");
const kvb_param_def kvb_param_window = INT_DEF("window", 1, 4096, "an integer in [1, 4096]",
    "method: observation window");
const kvb_param_def kvb_param_kernel = INT_DEF("kernel", 1, 255, "an odd integer in [1, 255]",
    "method: pooling kernel");
const kvb_param_def kvb_param_pool = ENUM_DEF("pool", pool_choices, 1, "maxpool or avgpool",
    "method: pooling type");
const kvb_param_def kvb_param_bits = INT_DEF("bits", 2, 4, "2 or 4", "method: quantization bits");
const kvb_param_def kvb_param_group = INT_DEF("group", 1, 4096,
    "an integer dividing head_dim and residual", "method: quantization group");
const kvb_param_def kvb_param_residual = INT_DEF("residual", 1, 1 << 20, "a multiple of group",
    "method: full-precision residual");
const kvb_param_def kvb_param_threshold = DBL_DEF("threshold", -1e9, 1e9, "a number",
    "method: threshold");
const kvb_param_def kvb_param_ratio = DBL_DEF("ratio", 0, 1, "a number in [0, 1]", "method: ratio");
const kvb_param_def kvb_param_gqa = ENUM_DEF("gqa", gqa_choices, 0, "kv_head or query_head",
    "method: GQA-aware selection");
const kvb_param_def kvb_param_beta = INT_DEF("beta", 1, 1 << 20, "an integer >= 1",
    "PyramidKV: budget slope");
const kvb_param_def kvb_param_sink = INT_DEF("sink", 0, 1 << 20, "an integer >= 0",
    "method: attention sinks kept");
const kvb_param_def kvb_param_recent = INT_DEF("recent", 1, 1 << 24, "an integer >= 1",
    "method: recent tokens kept");
const kvb_param_def kvb_param_tau = DBL_DEF("tau", 0, 1, "a number in (0, 1]", "ZigZagKV: tau");
const kvb_param_def kvb_param_bmin_ratio = DBL_DEF("bmin_ratio", 0, 1, "a number in [0, 1]",
    "ZigZagKV: minimum budget ratio");
const kvb_param_def kvb_param_lmba = ENUM_DEF("lmba", lmba_choices, 0, "pooled or raw",
    "ZigZagKV: layer statistic");
const kvb_param_def kvb_param_qwindow = INT_DEF("qwindow", 1, 4096, "an integer in [1, 4096]",
    "ThinK: query window");
const kvb_param_def kvb_param_dtype = ENUM_DEF("dtype", dtype_choices, 0, "f16 or f32",
    "full: K/V dtype f16 (default) | f32");

/* The order of `kvbench run`'s method flags and of the parameters in run directory names. */
static const kvb_param_def *const shared[] = {
    &kvb_param_budget, &kvb_param_window, &kvb_param_kernel, &kvb_param_pool, &kvb_param_bits,
    &kvb_param_group, &kvb_param_residual, &kvb_param_threshold, &kvb_param_ratio,
    &kvb_param_gqa, &kvb_param_beta, &kvb_param_sink, &kvb_param_recent, &kvb_param_tau,
    &kvb_param_bmin_ratio, &kvb_param_lmba, &kvb_param_qwindow, &kvb_param_dtype };

/* The i-th parameter any method takes: the shared ones, then those a registered method defines
 * itself (first use, registry order). */
static const kvb_param_def *param_at(int i)
{
    if (i < 0)
        return NULL;
    if (i < (int)KVB_ARRAY_SIZE(shared))
        return shared[i];
    int k = (int)KVB_ARRAY_SIZE(shared);
    const struct kvb_cache_method *m;
    for (int mi = 0; (m = kvb_cache_method_get(mi)); mi++)
        for (int j = 0; j < m->n_params; j++) {
            const kvb_param_def *d = m->params[j].def;
            int seen = 0;
            for (int t = 0; t < k && !seen; t++)
                seen = !strcmp(param_at(t)->name, d->name);
            if (!seen && k++ == i)
                return d;
        }
    return NULL;
}

int kvb_cache_param_count(void)
{
    int n = 0;
    while (param_at(n) && n < KVB_CACHE_MAX_PARAMS)
        n++;
    return n;
}

const char *kvb_cache_param_name(int i)
{
    const kvb_param_def *d = param_at(i);
    return d ? d->name : NULL;
}

const char *kvb_cache_param_help(int i)
{
    const kvb_param_def *d = param_at(i);
    return d ? d->help : NULL;
}

int kvb_cache_method_takes(const char *method, const char *param)
{
    const struct kvb_cache_method *m = kvb_cache_method_find(method);
    if (!m)
        return -1;
    for (int i = 0; i < m->n_params; i++)
        if (!strcmp(m->params[i].def->name, param))
            return 1;
    return 0;
}

static int param_known(const char *name)
{
    const kvb_param_def *d;
    for (int i = 0; (d = param_at(i)); i++)
        if (!strcmp(d->name, name))
            return 1;
    return 0;
}

/* ---- parsing ------------------------------------------------------------------------------ */

static void set_value(const kvb_method_param *mp, void *params, double v)
{
    char *field = (char *)params + mp->off;
    if (mp->def->type == KVB_PARAM_DBL)
        *(double *)(void *)field = v;
    else
        *(int *)(void *)field = (int)v;
}

static double get_value(const kvb_method_param *mp, const void *params)
{
    const char *field = (const char *)params + mp->off;
    return mp->def->type == KVB_PARAM_DBL ? *(const double *)(const void *)field
                                          : *(const int *)(const void *)field;
}

static int parse_one(const kvb_method_param *mp, void *params, const char *value, kvb_error *e)
{
    const kvb_param_def *d = mp->def;
    if (!value)
        goto bad;
    switch (d->type) {
    case KVB_PARAM_INT: {
        long v;
        if (kvb_parse_long(value, (long)d->lo, (long)d->hi, &v))
            goto bad;
        set_value(mp, params, (double)v);
        return 0;
    }
    case KVB_PARAM_DBL: {
        double v;
        if (kvb_parse_double(value, &v) || v < d->lo || v > d->hi)
            goto bad;
        set_value(mp, params, v);
        return 0;
    }
    case KVB_PARAM_ENUM:
        for (const kvb_param_choice *c = d->choices; c->name; c++)
            if (d->icase ? !strcasecmp(value, c->name) : !strcmp(value, c->name)) {
                set_value(mp, params, c->value);
                return 0;
            }
        goto bad;
    }
bad:
    return kvb_errorf(e, KVB_EINVAL, "invalid %s '%s' (expected %s)", d->name, value ? value : "",
                      d->expect);
}

static void list_takes(const struct kvb_cache_method *m, char *buf, size_t n)
{
    buf[0] = 0;
    size_t len = 0;
    for (int i = 0; i < m->n_params; i++)
        len += (size_t)snprintf(buf + len, len < n ? n - len : 0, "%s%s", i ? ", " : "",
                                m->params[i].def->name);
    if (!buf[0])
        snprintf(buf, n, "none");
}

int kvb_params_parse(const struct kvb_cache_method *m, const kvb_cache_shape *shape,
                     const kvb_cache_param *params, int n_params, void *out, kvb_error *e)
{
    memset(out, 0, m->params_size);
    for (int i = 0; i < m->n_params; i++) {
        const kvb_method_param *mp = &m->params[i];
        set_value(mp, out, mp->dflt_for ? mp->dflt_for(shape->model_family) : mp->dflt);
    }
    char valid[256];
    for (int i = 0; i < n_params; i++) {
        const char *name = params[i].name ? params[i].name : "";
        const kvb_method_param *mp = NULL;
        for (int j = 0; j < m->n_params && !mp; j++)
            if (!strcmp(m->params[j].def->name, name))
                mp = &m->params[j];
        if (!mp) {
            list_takes(m, valid, sizeof(valid));
            if (param_known(name))
                return kvb_errorf(e, KVB_EINVAL, "%s does not take parameter '%s' (takes: %s)",
                                  m->name, name, valid);
            return kvb_errorf(e, KVB_EINVAL, "unknown parameter '%s' for %s (takes: %s)", name,
                              m->name, valid);
        }
        int rc = parse_one(mp, out, params[i].value, e);
        if (rc)
            return rc;
    }
    return m->check ? m->check(out, shape, e) : 0;
}

/* ---- JSON --------------------------------------------------------------------------------- */

char *kvb_params_json(const struct kvb_cache_method *m, const void *params, int with_method)
{
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    kvb_strbuf_adds(&sb, "{");
    if (with_method)
        kvb_strbuf_addf(&sb, "\"method\": \"%s\"", m->name);
    for (int i = 0; i < m->n_params; i++) {
        const kvb_method_param *mp = &m->params[i];
        const double v = get_value(mp, params);
        kvb_strbuf_addf(&sb, "%s\"%s\": ", with_method || i ? ", " : "", mp->def->name);
        switch (mp->def->type) {
        case KVB_PARAM_INT:
            kvb_strbuf_addf(&sb, "%d", (int)v);
            break;
        case KVB_PARAM_DBL:
            kvb_strbuf_addf(&sb, "%.17g", v);
            break;
        case KVB_PARAM_ENUM:
            for (const kvb_param_choice *c = mp->def->choices; c->name; c++)
                if (c->value == (int)v) {
                    kvb_strbuf_addf(&sb, "\"%s\"", c->name);
                    break;
                }
            break;
        }
    }
    kvb_strbuf_adds(&sb, "}");
    return kvb_strbuf_detach(&sb);
}
