/* lib/core/utf8: kvbench's one UTF-8 decoder (and its encoder), at the bottom of the layers so
 * that lib/core (JSON validation), lib/tokenizer and lib/text share it.
 *
 * Valid UTF-8 is Unicode's Table 3-7 (RFC 3629): no overlong forms, no surrogates, nothing past
 * U+10FFFF; kvb_utf8_valid_prefix (core) accepts exactly this set. What happens to a sequence
 * that is not valid is the caller's policy, because the two kinds of caller need different ones:
 *
 *   KVB_TEXT_UTF8_ESCAPE   one invalid byte b decodes as the lone surrogate U+DC00 + b and is
 *                          consumed alone (Python's surrogateescape). No valid text decodes to
 *                          U+DC80..U+DCFF, so kvb_text_utf8_escaped() tells an invalid byte apart
 *                          and kvb_utf8_put() writes it back as that byte. The metrics (Python
 *                          str semantics), jieba (an invalid byte is a character outside every
 *                          class, a token of its own) and jieba's table reader (refuses it).
 *   KVB_TEXT_UTF8_REPLACE  the maximal invalid subpart (Unicode 3.9's "best practice") decodes
 *                          as U+FFFD and is consumed whole, as Python's decode('utf-8',
 *                          'replace') and Rust's from_utf8_lossy do. The tokenizer, which
 *                          replaces invalid input exactly as Hugging Face tokenizers does.
 *
 * This header depends on nothing else in kvbench. */
#ifndef KVB_CORE_UTF8_H
#define KVB_CORE_UTF8_H

#include <stddef.h>
#include <stdint.h>

typedef enum kvb_text_utf8_policy {
    KVB_TEXT_UTF8_ESCAPE,
    KVB_TEXT_UTF8_REPLACE,
} kvb_text_utf8_policy;

/* Decode the character at s[0..n) (n >= 1) into *cp; returns the bytes it takes (1..4). An
 * invalid sequence decodes as the policy says (above). */
size_t kvb_text_utf8_decode(const void *s, size_t n, uint32_t *cp, kvb_text_utf8_policy policy);

/* Whether cp is an invalid byte decoded by KVB_TEXT_UTF8_ESCAPE. */
static inline int kvb_text_utf8_escaped(uint32_t cp)
{
    return cp >= 0xDC80 && cp <= 0xDCFF;
}

/* Decode one code point of s[*i..n) with KVB_TEXT_UTF8_ESCAPE and advance *i (the metrics'
 * iterator: the scorer checks its input is valid UTF-8, as Python could not read it otherwise). */
static inline uint32_t kvb_utf8_next(const char *s, size_t n, size_t *i)
{
    uint32_t c;
    *i += kvb_text_utf8_decode(s + *i, n - *i, &c, KVB_TEXT_UTF8_ESCAPE);
    return c;
}

/* Append the UTF-8 encoding of c to buf (at least 4 bytes free); returns bytes written. An
 * escaped invalid byte (U+DC80..U+DCFF) goes back out as that byte. */
size_t kvb_utf8_put(char *buf, uint32_t c);

#endif
