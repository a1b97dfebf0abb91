/* Lookups into the generated Unicode tables (unitab.c) and a small UTF-8 codec. */
#include "text/unitab.h"

static int in_ranges(const uint32_t (*r)[2], size_t n, uint32_t c)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c < r[mid][0])
            hi = mid;
        else if (c > r[mid][1])
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

int kvb_uni_is_space(uint32_t c)
{
    if (c < 0x80)
        return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
    return in_ranges(kvb_uni_space, kvb_uni_space_n, c);
}

int kvb_uni_is_word(uint32_t c)
{
    if (c < 0x80)
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               c == '_';
    return in_ranges(kvb_uni_word, kvb_uni_word_n, c);
}

int kvb_uni_is_decimal(uint32_t c)
{
    if (c < 0x80)
        return c >= '0' && c <= '9';
    return in_ranges(kvb_uni_decimal, kvb_uni_decimal_n, c);
}

int kvb_uni_is_cased(uint32_t c) { return in_ranges(kvb_uni_cased, kvb_uni_cased_n, c); }

int kvb_uni_is_case_ignorable(uint32_t c)
{
    return in_ranges(kvb_uni_case_ignorable, kvb_uni_case_ignorable_n, c);
}

int kvb_uni_lower_cp(uint32_t c, uint32_t out[2])
{
    if (c < 0x80) {
        out[0] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
        return 1;
    }
    size_t lo = 0, hi = kvb_uni_lower_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c < kvb_uni_lower[mid][0])
            hi = mid;
        else if (c > kvb_uni_lower[mid][0])
            lo = mid + 1;
        else {
            out[0] = kvb_uni_lower[mid][1];
            out[1] = kvb_uni_lower[mid][2];
            return out[1] ? 2 : 1;
        }
    }
    out[0] = c;
    return 1;
}

uint32_t kvb_utf8_next(const char *s, size_t n, size_t *i)
{
    const unsigned char *p = (const unsigned char *)s + *i;
    size_t left = n - *i;
    unsigned b = p[0];
    uint32_t c;
    size_t len;
    if (b < 0x80) {
        *i += 1;
        return b;
    }
    if (b >= 0xC2 && b <= 0xDF) {
        len = 2;
        c = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
        len = 3;
        c = b & 0x0F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        len = 4;
        c = b & 0x07;
    } else
        goto bad;
    if (left < len)
        goto bad;
    for (size_t k = 1; k < len; k++) {
        if ((p[k] & 0xC0) != 0x80)
            goto bad;
        c = (c << 6) | (p[k] & 0x3F);
    }
    /* overlong forms, surrogates and values past U+10FFFF are invalid */
    if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
        (c >= 0xD800 && c <= 0xDFFF))
        goto bad;
    *i += len;
    return c;
bad:
    *i += 1;
    return 0xDC00 + b;
}

size_t kvb_utf8_put(char *buf, uint32_t c)
{
    unsigned char *o = (unsigned char *)buf;
    if (c < 0x80) {
        o[0] = (unsigned char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (unsigned char)(0xC0 | (c >> 6));
        o[1] = (unsigned char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c >= 0xDC80 && c <= 0xDCFF) { /* an escaped invalid byte goes back out as that byte */
        o[0] = (unsigned char)(c - 0xDC00);
        return 1;
    }
    if (c < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (c >> 12));
        o[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (c >> 18));
    o[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (c & 0x3F));
    return 4;
}
