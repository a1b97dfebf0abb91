/* Unit tests of lib/core/utf8: the one UTF-8 decoder and its two invalid-byte policies. The
 * expected values are Python's: bytes.decode('utf-8', 'surrogateescape') for ESCAPE and
 * bytes.decode('utf-8', 'replace') for REPLACE. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/utf8.h"

/* Decode all of s[0..n) with policy p into out; returns the number of code points. */
static size_t decode_all(const char *s, size_t n, kvb_text_utf8_policy p, uint32_t *out)
{
    size_t i = 0, k = 0;
    while (i < n) {
        size_t l = kvb_text_utf8_decode(s + i, n - i, &out[k++], p);
        cr_assert(l >= 1 && l <= 4 && i + l <= n);
        i += l;
    }
    return k;
}

static void expect(const char *s, size_t n, kvb_text_utf8_policy p, const uint32_t *want,
                   size_t nwant)
{
    uint32_t got[16];
    size_t k = decode_all(s, n, p, got);
    cr_assert_eq(k, nwant, "%zu code points, want %zu", k, nwant);
    for (size_t i = 0; i < k; i++)
        cr_assert_eq(got[i], want[i], "code point %zu: U+%04X, want U+%04X", i, got[i], want[i]);
}

#define EXPECT(s, p, ...)                                                                      \
    do {                                                                                       \
        const uint32_t w_[] = { __VA_ARGS__ };                                                 \
        expect(s, sizeof(s) - 1, p, w_, sizeof w_ / sizeof w_[0]);                             \
    } while (0)

Test(text_utf8, valid_text_is_the_same_under_both_policies)
{
    static const char s[] = "a\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\xef\xbf\xbd";
    EXPECT(s, KVB_TEXT_UTF8_ESCAPE, 'a', 0xE9, 0x4E2D, 0x1F600, 0xFFFD);
    EXPECT(s, KVB_TEXT_UTF8_REPLACE, 'a', 0xE9, 0x4E2D, 0x1F600, 0xFFFD);
}

Test(text_utf8, escape_is_one_byte_each)
{
    EXPECT("\xc0\x80", KVB_TEXT_UTF8_ESCAPE, 0xDCC0, 0xDC80);            /* overlong */
    EXPECT("\xed\xa0\x80", KVB_TEXT_UTF8_ESCAPE, 0xDCED, 0xDCA0, 0xDC80); /* surrogate */
    EXPECT("\xe2\x82", KVB_TEXT_UTF8_ESCAPE, 0xDCE2, 0xDC82);            /* truncated */
    EXPECT("\xf4\x90\x80\x80", KVB_TEXT_UTF8_ESCAPE, 0xDCF4, 0xDC90, 0xDC80, 0xDC80);
    EXPECT("\xff" "a", KVB_TEXT_UTF8_ESCAPE, 0xDCFF, 'a');
}

Test(text_utf8, replace_is_one_fffd_per_maximal_subpart)
{
    EXPECT("\xc0\x80", KVB_TEXT_UTF8_REPLACE, 0xFFFD, 0xFFFD);
    EXPECT("\xed\xa0\x80", KVB_TEXT_UTF8_REPLACE, 0xFFFD, 0xFFFD, 0xFFFD);
    EXPECT("\xe2\x82", KVB_TEXT_UTF8_REPLACE, 0xFFFD);
    EXPECT("\xe2\x82" "a", KVB_TEXT_UTF8_REPLACE, 0xFFFD, 'a');
    EXPECT("\xf0\x9f\x98", KVB_TEXT_UTF8_REPLACE, 0xFFFD);
    EXPECT("\xf4\x90\x80\x80", KVB_TEXT_UTF8_REPLACE, 0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD);
}

Test(text_utf8, escaped_bytes_round_trip_through_put)
{
    static const char s[] = "x\xff\xe2\x82\xe4\xb8\xad";
    uint32_t cp[16];
    size_t k = decode_all(s, sizeof s - 1, KVB_TEXT_UTF8_ESCAPE, cp);
    char out[64];
    size_t n = 0;
    for (size_t i = 0; i < k; i++)
        n += kvb_utf8_put(out + n, cp[i]);
    cr_assert_eq(n, sizeof s - 1);
    cr_assert(!memcmp(out, s, n));
}

/* The validity rules written out independently (core's loop before lib/core/utf8 existed):
 * length of the valid prefix. */
static size_t ref_valid_prefix(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i], min;
        size_t len;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, min = 0x80, c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, min = 0x800, c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, min = 0x10000, c &= 0x07;
        } else {
            return i;
        }
        if (i + len > n)
            return i;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            c = (c << 6) | (s[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return i;
        i += len;
    }
    return n;
}

/* Both policies accept exactly the valid set (the first escaped byte / first replacement is
 * where the reference stops), and kvb_utf8_valid_prefix (core, over the decoder) agrees. */
Test(text_utf8, the_valid_set_is_the_reference_one)
{
    uint64_t x = 0x9E3779B97F4A7C15ull;
    unsigned char buf[12];
    for (int r = 0; r < 200000; r++) {
        size_t n = 1 + (size_t)(r % 11);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            /* mostly lead and continuation bytes, where the edge cases are */
            buf[i] = (unsigned char)((x >> 8) & 1 ? 0x80 | (x & 0x7F) : (x & 0xFF));
        }
        size_t want = ref_valid_prefix(buf, n), i = 0;
        while (i < n) {
            uint32_t c;
            size_t l = kvb_text_utf8_decode(buf + i, n - i, &c, KVB_TEXT_UTF8_ESCAPE);
            if (kvb_text_utf8_escaped(c))
                break;
            i += l;
        }
        cr_assert_eq(i, want);
        for (i = 0; i < n;) {
            uint32_t c;
            size_t l = kvb_text_utf8_decode(buf + i, n - i, &c, KVB_TEXT_UTF8_REPLACE);
            int genuine = l == 3 && !memcmp(buf + i, "\xef\xbf\xbd", 3);
            if (c == 0xFFFD && !genuine)
                break;
            i += l;
        }
        cr_assert_eq(i, want);
        cr_assert_eq(kvb_utf8_valid_prefix((const char *)buf, n), want);
    }
}
