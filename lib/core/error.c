/* Errors and checked allocation. */
#include "core.h"

#include <stdlib.h>
#include <string.h>

int kvb_errorf(kvb_error *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
        va_end(ap);
        e->code = code;
    }
    return code;
}

int kvb_error_prefix(kvb_error *e, const char *fmt, ...)
{
    if (!e)
        return KVB_EINVAL;
    char prefix[256], old[sizeof(e->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof(old));
    /* Truncation is fine: the message stays one readable line. */
    size_t n = strlen(prefix);
    memcpy(e->msg, prefix, n);
    snprintf(e->msg + n, sizeof(e->msg) - n, ": %.*s", (int)(sizeof(e->msg) - n - 3), old);
    return e->code;
}

int kvb_exit_status(int code)
{
    switch (code) {
    case KVB_OK: return 0;
    case KVB_EINTR: return 130;
    case KVB_EINVAL:
    case KVB_EUNSUP:
    case KVB_EIO:
    case KVB_ENOMEM: return 2;
    default: return 1;
    }
}

int kvb_mul_overflow(size_t a, size_t b, size_t *out)
{
    return __builtin_mul_overflow(a, b, out);
}

void *kvb_malloc(size_t n)
{
    if (n == 0)
        n = 1;
    if (n > KVB_ALLOC_LIMIT)
        return NULL;
    return malloc(n);
}

void *kvb_calloc(size_t count, size_t size)
{
    size_t n;
    if (kvb_mul_overflow(count, size, &n) || n > KVB_ALLOC_LIMIT)
        return NULL;
    return calloc(n ? count : 1, n ? size : 1);
}

void *kvb_realloc(void *p, size_t n)
{
    if (n > KVB_ALLOC_LIMIT)
        return NULL;
    return realloc(p, n ? n : 1);
}

char *kvb_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = kvb_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}
