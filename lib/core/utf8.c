/* The UTF-8 decoder and encoder of lib/core/utf8.h. */
#include "core/utf8.h"

size_t kvb_text_utf8_decode(const void *str, size_t n, uint32_t *cp, kvb_text_utf8_policy policy)
{
    const unsigned char *s = str;
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    /* Table 3-7: the lead byte fixes the length and the range of the second byte */
    size_t need, bad;
    unsigned lo = 0x80, hi = 0xBF;
    uint32_t v;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        v = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0; /* overlong below U+0800 */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        v = c & 0x07;
        if (c == 0xF0)
            lo = 0x90; /* overlong below U+10000 */
        else if (c == 0xF4)
            hi = 0x8F; /* past U+10FFFF */
    } else {
        bad = 1;
        goto invalid;
    }
    for (size_t i = 1; i <= need; i++) {
        if (i >= n || s[i] < lo || s[i] > hi) {
            bad = i; /* the maximal invalid subpart: the bytes before the offending one */
            goto invalid;
        }
        v = (v << 6) | (s[i] & 0x3F);
        lo = 0x80;
        hi = 0xBF;
    }
    *cp = v;
    return need + 1;
invalid:
    if (policy == KVB_TEXT_UTF8_REPLACE) {
        *cp = 0xFFFD;
        return bad;
    }
    *cp = 0xDC00 + c;
    return 1;
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
