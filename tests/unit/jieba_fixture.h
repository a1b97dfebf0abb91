/* Helpers of test_jieba.c: SHA-256, gzip fixture reading, LEB128 varints, and JSONL string
 * fields with embedded NULs (cJSON stops a string at "\u0000"; four LongBench predictions have
 * one). Test-only code: static functions in a header included once. */
#ifndef KVB_TEST_JIEBA_FIXTURE_H
#define KVB_TEST_JIEBA_FIXTURE_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---- SHA-256 (FIPS 180-4) ---------------------------------------------------------------- */
static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
};

static uint32_t sha_ror(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha_block(uint32_t h[8], const unsigned char *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = sha_ror(w[i - 15], 7) ^ sha_ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = sha_ror(w[i - 2], 17) ^ sha_ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = k + (sha_ror(e, 6) ^ sha_ror(e, 11) ^ sha_ror(e, 25)) + ((e & f) ^ (~e & g)) +
                      sha_k[i] + w[i];
        uint32_t t2 = (sha_ror(a, 2) ^ sha_ror(a, 13) ^ sha_ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

static void sha256(const void *data, size_t n, unsigned char out[32])
{
    uint32_t h[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    const unsigned char *p = data;
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        sha_block(h, p + i);
    unsigned char tail[128] = { 0 };
    size_t r = n - i;
    memcpy(tail, p + i, r);
    tail[r] = 0x80;
    size_t tl = r + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)n * 8;
    for (int b = 0; b < 8; b++)
        tail[tl - 1 - b] = (unsigned char)(bits >> (8 * b));
    for (size_t o = 0; o < tl; o += 64)
        sha_block(h, tail + o);
    for (int b = 0; b < 8; b++) {
        out[4 * b] = (unsigned char)(h[b] >> 24);
        out[4 * b + 1] = (unsigned char)(h[b] >> 16);
        out[4 * b + 2] = (unsigned char)(h[b] >> 8);
        out[4 * b + 3] = (unsigned char)h[b];
    }
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
