/* Growable strings and small parsing helpers. */
#include "core.h"
#include "core/utf8.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void kvb_strbuf_init(kvb_strbuf *sb)
{
    sb->buf = NULL;
    sb->len = sb->cap = 0;
}

static int strbuf_grow(kvb_strbuf *sb, size_t extra)
{
    if (sb->len + extra + 1 <= sb->cap)
        return 0;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < sb->len + extra + 1) {
        if (cap > KVB_ALLOC_LIMIT / 2)
            return KVB_ENOMEM;
        cap *= 2;
    }
    char *p = kvb_realloc(sb->buf, cap);
    if (!p)
        return KVB_ENOMEM;
    sb->buf = p;
    sb->cap = cap;
    return 0;
}

int kvb_strbuf_add(kvb_strbuf *sb, const char *s, size_t n)
{
    if (strbuf_grow(sb, n))
        return KVB_ENOMEM;
    if (n)
        memcpy(sb->buf + sb->len, s, n);
    sb->len += n;
    sb->buf[sb->len] = 0;
    return 0;
}

int kvb_strbuf_adds(kvb_strbuf *sb, const char *s) { return kvb_strbuf_add(sb, s, strlen(s)); }

int kvb_strbuf_addf(kvb_strbuf *sb, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || strbuf_grow(sb, (size_t)n)) {
        va_end(ap2);
        return KVB_ENOMEM;
    }
    vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    sb->len += (size_t)n;
    return 0;
}

char *kvb_strbuf_detach(kvb_strbuf *sb)
{
    char *p = sb->buf ? sb->buf : kvb_strdup("");
    kvb_strbuf_init(sb);
    return p;
}

void kvb_strbuf_release(kvb_strbuf *sb)
{
    free(sb->buf);
    kvb_strbuf_init(sb);
}

int kvb_parse_long(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s)
        return KVB_EINVAL;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return KVB_EINVAL;
    *out = v;
    return 0;
}

int kvb_parse_double(const char *s, double *out)
{
    if (!s || !*s)
        return KVB_EINVAL;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return KVB_EINVAL;
    *out = v;
    return 0;
}

int kvb_split_csv(const char *s, char ***items, int *n)
{
    *items = NULL;
    *n = 0;
    int cap = 0;
    const char *p = s;
    for (;;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            char **v = kvb_realloc(*items, (size_t)cap * sizeof(char *));
            if (!v)
                goto oom;
            *items = v;
        }
        char *item = kvb_malloc(len + 1);
        if (!item)
            goto oom;
        memcpy(item, p, len);
        item[len] = 0;
        (*items)[(*n)++] = item;
        if (!c)
            return 0;
        p = c + 1;
    }
oom:
    kvb_free_strv(*items, *n);
    *items = NULL;
    *n = 0;
    return KVB_ENOMEM;
}

void kvb_free_strv(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

size_t kvb_utf8_valid_prefix(const char *str, size_t n)
{
    /* lib/text's decoder: an invalid sequence is the first escaped byte */
    size_t i = 0;
    while (i < n) {
        if ((unsigned char)str[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t c;
        size_t len = kvb_text_utf8_decode(str + i, n - i, &c, KVB_TEXT_UTF8_ESCAPE);
        if (kvb_text_utf8_escaped(c))
            return i;
        i += len;
    }
    return n;
}

/* "8G", "512M", "1000000" -> bytes. */
int kvb_parse_bytes(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || v <= 0)
        return -1;
    double mul = 1;
    if (*end) {
        switch (*end) {
        case 'k': case 'K': mul = 1024.0; break;
        case 'm': case 'M': mul = 1024.0 * 1024; break;
        case 'g': case 'G': mul = 1024.0 * 1024 * 1024; break;
        case 't': case 'T': mul = 1024.0 * 1024 * 1024 * 1024; break;
        default: return -1;
        }
        if (end[1] && strcmp(end + 1, "B") && strcmp(end + 1, "iB"))
            return -1;
    }
    v *= mul;
    if (v > 1e18)
        return -1;
    *out = (size_t)v;
    return 0;
}

/* "i/N" with 0 <= i < N. */
int kvb_parse_shard(const char *s, long *i, long *n)
{
    char *slash = strchr(s, '/'), a[32];
    size_t la = slash ? (size_t)(slash - s) : 0;
    if (!slash || la == 0 || la >= sizeof(a))
        return -1;
    memcpy(a, s, la);
    a[la] = 0;
    if (kvb_parse_long(a, 0, 1000000, i) || kvb_parse_long(slash + 1, 1, 1000000, n) || *i >= *n)
        return -1;
    return 0;
}
