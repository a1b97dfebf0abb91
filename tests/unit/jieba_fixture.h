/* Helpers of test_jieba.c: SHA-256 of a text, gzip fixture reading, LEB128 varints, and JSONL string
 * fields with embedded NULs (cJSON stops a string at "\u0000"; four LongBench predictions have
 * one). Test-only code: static functions in a header included once. */
#ifndef KVB_TEST_JIEBA_FIXTURE_H
#define KVB_TEST_JIEBA_FIXTURE_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/sha256.h"

/* ---- SHA-256: the library's (lib/core/sha256.c) ------------------------------------------ */
static void sha256(const void *data, size_t n, unsigned char out[32])
{
    kvb_sha256 s;
    kvb_sha256_init(&s);
    kvb_sha256_update(&s, data, n);
    kvb_sha256_final(&s, out);
}

/* ---- gzip files and varints -------------------------------------------------------------- */

/* Whole decompressed content of a gzip file, or NULL. */
static unsigned char *gz_slurp(const char *path, size_t *len)
{
    gzFile f = gzopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 20, n = 0;
    unsigned char *buf = malloc(cap);
    int r;
    while (buf && (r = gzread(f, buf + n, (unsigned)(cap - n))) > 0) {
        n += (size_t)r;
        if (n == cap) {
            unsigned char *b = realloc(buf, cap *= 2);
            if (!b) {
                free(buf);
                buf = NULL;
            }
            buf = b;
        }
    }
    gzclose(f);
    *len = n;
    return buf;
}

/* LEB128 at *p (< end); 0 on a truncated or overlong varint. */
static int varint_get(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        unsigned char b = *(*p)++;
        *v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80))
            return 1;
    }
    return 0;
}

/* ---- JSONL with NULs --------------------------------------------------------------------- */
/* "\u0000" is rewritten to the escaped noncharacter U+10FFFF before cJSON parses the line, and
 * back to a NUL byte in the strings taken out; lines already holding U+10FFFF are refused. */
#define NUL_SENTINEL "\xF4\x8F\xBF\xBF"

static char *json_hide_nuls(const char *line, size_t n)
{
    if (memmem(line, n, NUL_SENTINEL, 4) || strcasestr(line, "udbff"))
        return NULL;
    char *out = malloc(n * 3 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (line[i] == '\\' && i + 1 < n) {
            if (i + 5 < n && !memcmp(line + i + 1, "u0000", 5)) {
                memcpy(o, "\\udbff\\udfff", 12);
                o += 12;
                i += 5;
            } else {
                *o++ = line[i++];
                *o++ = line[i];
            }
        } else {
            *o++ = line[i];
        }
    }
    *o = 0;
    return out;
}

/* A copy of a cJSON string with the sentinels turned back into NULs. */
static char *json_text(const cJSON *s, size_t *len)
{
    const char *v = s->valuestring;
    size_t n = strlen(v), m = 0;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n;) {
        if (i + 4 <= n && !memcmp(v + i, NUL_SENTINEL, 4)) {
            out[m++] = 0;
            i += 4;
        } else {
            out[m++] = v[i++];
        }
    }
    out[m] = 0;
    *len = m;
    return out;
}

#endif
