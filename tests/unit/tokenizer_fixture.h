/* Helpers for the tokenizer tests: read the gzip fixtures written by
 * scripts/oracle/tokenizer_fixtures.py and rebuild the corpus from its recipe (the third-party
 * text is read from ../shared/datasets, never committed). Header-only, static functions. */
#ifndef KVB_TOKENIZER_FIXTURE_H
#define KVB_TOKENIZER_FIXTURE_H

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/core.h"

#define FIX_DIR "tests/fixtures/tokenizer/"
#define SHARED_DATA "../shared/datasets/"
#define SHARED_TOK "../shared/tokenizers/"
#define SMOL_GGUF "models/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf"

/* Whole gzip file into memory (NUL-terminated); NULL on failure. */
static inline char * fix_read_gz(const char *path, size_t *len)
{
    gzFile f = gzopen(path, "rb");
    if (!f)
        return NULL;
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    char buf[1 << 16];
    int n;
    while ((n = gzread(f, buf, sizeof buf)) > 0)
        kvb_strbuf_add(&sb, buf, (size_t)n);
    gzclose(f);
    if (n < 0) {
        kvb_strbuf_release(&sb);
        return NULL;
    }
    *len = sb.len;
    return sb.buf ? kvb_strbuf_detach(&sb) : kvb_strdup("");
}

typedef struct fix_piece {
    char name[160];
    char *data;
    size_t len;
} fix_piece;

typedef struct fix_corpus {
    fix_piece *p;
    size_t n;
} fix_corpus;

static inline int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* One recipe -> bytes (see resolve() in the oracle script). Returns 0 or fills msg. */
static inline int fix_resolve(const cJSON *r, kvb_strbuf *out, char *msg, size_t msgn)
{
    const cJSON *text = cJSON_GetObjectItem(r, "text"), *hex = cJSON_GetObjectItem(r, "hex");
    if (cJSON_IsString(text))
        return kvb_strbuf_adds(out, text->valuestring);
    if (cJSON_IsString(hex)) {
        const char *h = hex->valuestring;
        for (size_t i = 0; h[i] && h[i + 1]; i += 2) {
            char c = (char)(hexval(h[i]) * 16 + hexval(h[i + 1]));
            kvb_strbuf_add(out, &c, 1);
        }
        return 0;
    }
    const char *file = cJSON_GetObjectItem(r, "file")->valuestring;
    char path[512];
    snprintf(path, sizeof path, "%s%s", SHARED_DATA, file);
    char *data;
    size_t len;
    kvb_error e;
    if (kvb_read_file(path, (size_t)1 << 30, &data, &len, &e)) {
        snprintf(msg, msgn, "%s", e.msg);
        return -1;
    }
    const cJSON *field = cJSON_GetObjectItem(r, "field");
    if (!field) {
        kvb_strbuf_add(out, data, len);
        free(data);
        return 0;
    }
    const cJSON *lines = cJSON_GetObjectItem(r, "lines");
    int a = cJSON_GetArrayItem(lines, 0)->valueint, b = cJSON_GetArrayItem(lines, 1)->valueint;
    const char *sep = cJSON_GetObjectItem(r, "sep")->valuestring;
    char *p = data, *end = data + len;
    int first = 1;
    for (int ln = 0; ln < b && p <= end; ln++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        if (ln >= a) {
            cJSON *j = cJSON_ParseWithLength(p, (size_t)(le - p));
            const cJSON *v = cJSON_GetObjectItem(j, field->valuestring);
            if (!first)
                kvb_strbuf_adds(out, sep);
            first = 0;
            if (cJSON_IsString(v)) {
                kvb_strbuf_adds(out, v->valuestring);
            } else if (cJSON_IsArray(v)) {
                const cJSON *x;
                int f2 = 1;
                cJSON_ArrayForEach(x, v) {
                    if (!f2)
                        kvb_strbuf_adds(out, sep);
                    f2 = 0;
                    kvb_strbuf_adds(out, x->valuestring);
                }
            }
            cJSON_Delete(j);
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    free(data);
    return 0;
}

/* Loads the corpus and checks every piece's length and CRC-32 against the recipe. */
static inline int fix_corpus_load(fix_corpus *c, char *msg, size_t msgn)
{
    size_t len;
    char *js = fix_read_gz(FIX_DIR "corpus.json.gz", &len);
    if (!js) {
        snprintf(msg, msgn, "cannot read " FIX_DIR "corpus.json.gz");
        return -1;
    }
    cJSON *root = cJSON_ParseWithLength(js, len);
    free(js);
    const cJSON *pieces = cJSON_GetObjectItem(root, "pieces"), *r;
    c->n = (size_t)cJSON_GetArraySize(pieces);
    c->p = calloc(c->n, sizeof *c->p);
    size_t i = 0;
    int rc = 0;
    cJSON_ArrayForEach(r, pieces) {
        fix_piece *fp = &c->p[i++];
        snprintf(fp->name, sizeof fp->name, "%s", cJSON_GetObjectItem(r, "name")->valuestring);
        kvb_strbuf sb;
        kvb_strbuf_init(&sb);
        kvb_strbuf_add(&sb, "", 0);
        if (fix_resolve(r, &sb, msg, msgn)) {
            rc = -1;
            kvb_strbuf_release(&sb);
            break;
        }
        fp->len = sb.len;
        fp->data = kvb_strbuf_detach(&sb);
        double want_len = cJSON_GetObjectItem(r, "len")->valuedouble;
        double want_crc = cJSON_GetObjectItem(r, "crc32")->valuedouble;
        uLong crc = crc32(0L, (const Bytef *)fp->data, (uInt)fp->len);
        if ((double)fp->len != want_len || (double)crc != want_crc) {
            snprintf(msg, msgn, "corpus piece %s rebuilt with %zu bytes, crc %lu; recipe says %.0f "
                     "bytes, crc %.0f", fp->name, fp->len, crc, want_len, want_crc);
            rc = -1;
            break;
        }
    }
    cJSON_Delete(root);
    return rc;
}

static inline void fix_corpus_free(fix_corpus *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->p[i].data);
    free(c->p);
}

/* <tok>.ids.gz: per piece a varint count then varint ids. */
typedef struct fix_ids {
    unsigned char *buf;
    size_t len, pos;
} fix_ids;

static inline int fix_varint(fix_ids *f, uint32_t *v)
{
    uint32_t x = 0;
    for (int sh = 0; sh < 35; sh += 7) {
        if (f->pos >= f->len)
            return -1;
        unsigned b = f->buf[f->pos++];
        x |= (uint32_t)(b & 0x7F) << sh;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

static inline uint32_t fix_crc(const char *s, size_t n)
{
    return (uint32_t)crc32(0L, (const Bytef *)s, (uInt)n);
}

#endif
