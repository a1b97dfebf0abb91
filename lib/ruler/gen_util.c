/* Python string semantics RULER's scripts rely on, for the bytes of a prompt to be RULER's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ruler/gen_internal.h"
#include "text/text.h"
#include "text/unitab.h"

/* ---- str.format ---------------------------------------------------------------------------- */
static const char *kv_find(const rg_kv *kv, int n, const char *name, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(kv[i].key) == len && !memcmp(kv[i].key, name, len))
            return kv[i].val;
    return NULL;
}

int rg_format(const char *tmpl, const rg_kv *kv, int n, kvb_strbuf *out, kvb_error *e)
{
    const char *p = tmpl;
    while (*p) {
        size_t lit = strcspn(p, "{}");
        if (kvb_strbuf_add(out, p, lit))
            return kvb_errorf(e, KVB_ENOMEM, "ruler: out of memory formatting a template");
        p += lit;
        if (!*p)
            break;
        if (p[0] == p[1]) { /* "{{" or "}}" */
            if (kvb_strbuf_add(out, p, 1))
                return kvb_errorf(e, KVB_ENOMEM, "ruler: out of memory formatting a template");
            p += 2;
            continue;
        }
        if (*p == '}')
            return kvb_errorf(e, KVB_EINVAL, "ruler: template: single '}' (Python's str.format "
                                             "raises here)");
        const char *end = strchr(p, '}');
        size_t len = end ? (size_t)(end - p - 1) : 0;
        const char *val = end ? kv_find(kv, n, p + 1, len) : NULL;
        if (!val)
            return kvb_errorf(e, KVB_EINVAL, "ruler: template: field '%.*s' is not one of the "
                              "task's fields (Python's str.format raises here)",
                              (int)(end ? len : strlen(p + 1)), p + 1);
        if (kvb_strbuf_adds(out, val))
            return kvb_errorf(e, KVB_ENOMEM, "ruler: out of memory formatting a template");
        p = end + 1;
    }
    if (!out->buf && kvb_strbuf_add(out, "", 0))
        return kvb_errorf(e, KVB_ENOMEM, "ruler: out of memory formatting a template");
    return 0;
}

/* ---- str.replace, split/join --------------------------------------------------------------- */
char *rg_replace(const char *s, const char *old, const char *new_)
{
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    size_t ol = strlen(old);
    int bad = 0;
    const char *hit;
    while (ol && (hit = strstr(s, old))) {
        bad |= kvb_strbuf_add(&sb, s, (size_t)(hit - s)) | kvb_strbuf_adds(&sb, new_);
        s = hit + ol;
    }
    bad |= kvb_strbuf_adds(&sb, s);
    if (bad) {
        kvb_strbuf_release(&sb);
        return NULL;
    }
    return kvb_strbuf_detach(&sb);
}

char *rg_remove_newline_tab(const char *s)
{
    kvb_sv *tok = NULL;
    size_t n = 0;
    kvb_sv sv = { s, strlen(s) };
    if (kvb_split_ws(sv, &tok, &n))
        return NULL;
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    int bad = kvb_strbuf_add(&sb, "", 0);
    for (size_t i = 0; i < n; i++)
        bad |= (i ? kvb_strbuf_add(&sb, " ", 1) : 0) | kvb_strbuf_add(&sb, tok[i].p, tok[i].n);
    free(tok);
    if (bad) {
        kvb_strbuf_release(&sb);
        return NULL;
    }
    return kvb_strbuf_detach(&sb);
}

void rg_strip(const char *s, size_t n, size_t *a, size_t *b)
{
    size_t i = 0, first = n, last = 0;
    while (i < n) {
        size_t at = i;
        if (!kvb_uni_is_space(kvb_utf8_next(s, n, &i))) {
            if (first == n)
                first = at;
            last = i;
        }
    }
    *a = first == n ? 0 : first;
    *b = first == n ? 0 : last;
}

int rg_join(kvb_strbuf *out, const char *sep, char *const *parts, size_t n)
{
    size_t sl = strlen(sep);
    int bad = kvb_strbuf_add(out, "", 0);
    for (size_t i = 0; i < n; i++)
        bad |= (i ? kvb_strbuf_add(out, sep, sl) : 0) | kvb_strbuf_adds(out, parts[i]);
    return bad ? KVB_ENOMEM : 0;
}

/* CPython's float_floor_div (Objects/floatobject.c, _float_div_mod) */
double rg_py_floordiv(double vx, double wx)
{
    double mod = fmod(vx, wx);
    double div = (vx - mod) / wx;
    if (mod != 0.0 && ((wx < 0) != (mod < 0)))
        div -= 1.0;
    if (div == 0.0)
        return copysign(0.0, vx / wx);
    double floordiv = floor(div);
    if (div - floordiv > 0.5)
        floordiv += 1.0;
    return floordiv;
}
