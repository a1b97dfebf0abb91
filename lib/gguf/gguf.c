/* GGUF reader. Every count, length and offset is checked against the file size before use. */
#include "gguf/gguf.h"

#include <stdlib.h>
#include <string.h>

/* ---- cursor over the mapped file --------------------------------------------------------- */
typedef struct cursor {
    const unsigned char *p, *end;
    const char *path;
    kvb_error *e;
} cursor;

static int need(cursor *c, uint64_t n, const char *what)
{
    if ((uint64_t)(c->end - c->p) < n)
        return kvb_errorf(c->e, KVB_EINVAL, "%s: truncated GGUF file while reading %s", c->path, what);
    return 0;
}

#define READ_SCALAR(name, type)                                  \
    static int name(cursor *c, type *out, const char *what)      \
    {                                                            \
        if (need(c, sizeof(type), what))                         \
            return KVB_EINVAL;                                   \
        memcpy(out, c->p, sizeof(type));                         \
        c->p += sizeof(type);                                    \
        return 0;                                                \
    }
READ_SCALAR(read_u32, uint32_t)
READ_SCALAR(read_u64, uint64_t)

static int read_str(cursor *c, kvb_gguf_str *s, const char *what)
{
    if (read_u64(c, &s->len, what) || need(c, s->len, what))
        return KVB_EINVAL;
    s->ptr = (const char *)c->p;
    c->p += s->len;
    return 0;
}

static uint64_t scalar_size(enum kvb_gguf_type t)
{
    switch (t) {
    case KVB_GGUF_UINT8: case KVB_GGUF_INT8: case KVB_GGUF_BOOL: return 1;
    case KVB_GGUF_UINT16: case KVB_GGUF_INT16: return 2;
    case KVB_GGUF_UINT32: case KVB_GGUF_INT32: case KVB_GGUF_FLOAT32: return 4;
    case KVB_GGUF_UINT64: case KVB_GGUF_INT64: case KVB_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static void decode_scalar(enum kvb_gguf_type t, const unsigned char *p, kvb_gguf_kv *kv)
{
    switch (t) {
    case KVB_GGUF_UINT8: case KVB_GGUF_BOOL: kv->v.u = p[0]; break;
    case KVB_GGUF_INT8: kv->v.i = (int8_t)p[0]; break;
    case KVB_GGUF_UINT16: { uint16_t x; memcpy(&x, p, 2); kv->v.u = x; break; }
    case KVB_GGUF_INT16: { int16_t x; memcpy(&x, p, 2); kv->v.i = x; break; }
    case KVB_GGUF_UINT32: { uint32_t x; memcpy(&x, p, 4); kv->v.u = x; break; }
    case KVB_GGUF_INT32: { int32_t x; memcpy(&x, p, 4); kv->v.i = x; break; }
    case KVB_GGUF_FLOAT32: { float x; memcpy(&x, p, 4); kv->v.f = x; break; }
    case KVB_GGUF_UINT64: memcpy(&kv->v.u, p, 8); break;
    case KVB_GGUF_INT64: memcpy(&kv->v.i, p, 8); break;
    case KVB_GGUF_FLOAT64: memcpy(&kv->v.f, p, 8); break;
    default: break;
    }
}

static int read_kv(cursor *c, kvb_gguf_kv *kv)
{
    uint32_t t;
    if (read_str(c, &kv->key, "metadata key") || read_u32(c, &t, "metadata type"))
        return KVB_EINVAL;
    kv->type = (enum kvb_gguf_type)t;
    if (t == KVB_GGUF_STRING)
        return read_str(c, &kv->v.s, "metadata string");
    if (t == KVB_GGUF_ARRAY) {
        uint32_t at;
        if (read_u32(c, &at, "array type") || read_u64(c, &kv->arr_n, "array length"))
            return KVB_EINVAL;
        kv->arr_type = (enum kvb_gguf_type)at;
        kv->arr_data = c->p;
        if (at == KVB_GGUF_STRING) {
            /* each string needs at least 8 bytes: bound the count before allocating */
            if (kv->arr_n > (uint64_t)(c->end - c->p) / 8)
                return kvb_errorf(c->e, KVB_EINVAL, "%s: array '%.*s' claims %llu strings, more than the file holds",
                                  c->path, (int)KVB_MIN(kv->key.len, 64), kv->key.ptr,
                                  (unsigned long long)kv->arr_n);
            kv->arr_strs = kvb_calloc(kv->arr_n ? kv->arr_n : 1, sizeof(kvb_gguf_str));
            if (!kv->arr_strs)
                return kvb_errorf(c->e, KVB_ENOMEM, "%s: out of memory", c->path);
            for (uint64_t i = 0; i < kv->arr_n; i++)
                if (read_str(c, &kv->arr_strs[i], "array string"))
                    return KVB_EINVAL;
            return 0;
        }
        uint64_t es = scalar_size(kv->arr_type), total;
        if (!es)
            return kvb_errorf(c->e, KVB_EINVAL, "%s: array '%.*s' has unsupported element type %u",
                              c->path, (int)KVB_MIN(kv->key.len, 64), kv->key.ptr, at);
        /* found by tests/hostile (gguf_array_overflow): the overflow returned without a message */
        if (kvb_mul_overflow(es, kv->arr_n, &total))
            return kvb_errorf(c->e, KVB_EINVAL, "%s: array '%.*s' claims %llu elements, more than "
                              "the file holds", c->path, (int)KVB_MIN(kv->key.len, 64), kv->key.ptr,
                              (unsigned long long)kv->arr_n);
        if (need(c, total, "array data"))
            return KVB_EINVAL;
        c->p += total;
        return 0;
    }
    uint64_t es = scalar_size(kv->type);
    if (!es)
        return kvb_errorf(c->e, KVB_EINVAL, "%s: metadata '%.*s' has unknown value type %u", c->path,
                          (int)KVB_MIN(kv->key.len, 64), kv->key.ptr, t);
    if (need(c, es, "metadata value"))
        return KVB_EINVAL;
    decode_scalar(kv->type, c->p, kv);
    c->p += es;
    return 0;
}

/* ---- ggml types --------------------------------------------------------------------------- */
static int block_info(int t, uint64_t *blk, uint64_t *bytes)
{
    switch (t) {
    case KVB_GGML_F32: *blk = 1; *bytes = 4; return 0;
    case KVB_GGML_F16: case KVB_GGML_BF16: *blk = 1; *bytes = 2; return 0;
    case KVB_GGML_Q4_0: *blk = 32; *bytes = 18; return 0;
    case KVB_GGML_Q4_1: *blk = 32; *bytes = 20; return 0;
    case KVB_GGML_Q8_0: *blk = 32; *bytes = 34; return 0;
    default: return -1;
    }
}

const char *kvb_ggml_type_name(int t)
{
    switch (t) {
    case KVB_GGML_F32: return "F32";
    case KVB_GGML_F16: return "F16";
    case KVB_GGML_BF16: return "BF16";
    case KVB_GGML_Q4_0: return "Q4_0";
    case KVB_GGML_Q4_1: return "Q4_1";
    case KVB_GGML_Q8_0: return "Q8_0";
    default: return "unsupported";
    }
}

uint64_t kvb_ggml_row_bytes(enum kvb_ggml_type t, uint64_t n)
{
    uint64_t blk, bytes;
    if (block_info(t, &blk, &bytes) || n % blk)
        return 0;
    return n / blk * bytes;
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            bits = sign | (exp << 23) | ((man & 0x3FF) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000 | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

int kvb_ggml_dequantize(enum kvb_ggml_type t, const void *src, float *dst, uint64_t n)
{
    const unsigned char *p = src;
    switch (t) {
    case KVB_GGML_F32: memcpy(dst, p, n * 4); return 0;
    case KVB_GGML_F16:
        for (uint64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = half_to_float(h);
        }
        return 0;
    case KVB_GGML_BF16:
        for (uint64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            uint32_t b = (uint32_t)h << 16;
            memcpy(&dst[i], &b, 4);
        }
        return 0;
    case KVB_GGML_Q8_0:
        for (uint64_t b = 0; b < n / 32; b++, p += 34) {
            uint16_t h;
            memcpy(&h, p, 2);
            float d = half_to_float(h);
            for (int j = 0; j < 32; j++)
                dst[b * 32 + j] = d * (float)(int8_t)p[2 + j];
        }
        return 0;
    case KVB_GGML_Q4_0:
        for (uint64_t b = 0; b < n / 32; b++, p += 18) {
            uint16_t h;
            memcpy(&h, p, 2);
            float d = half_to_float(h);
            for (int j = 0; j < 16; j++) {
                dst[b * 32 + j] = d * (float)((p[2 + j] & 0x0F) - 8);
                dst[b * 32 + j + 16] = d * (float)((p[2 + j] >> 4) - 8);
            }
        }
        return 0;
    case KVB_GGML_Q4_1:
        for (uint64_t b = 0; b < n / 32; b++, p += 20) {
            uint16_t hd, hm;
            memcpy(&hd, p, 2);
            memcpy(&hm, p + 2, 2);
            float d = half_to_float(hd), m = half_to_float(hm);
            for (int j = 0; j < 16; j++) {
                dst[b * 32 + j] = d * (float)(p[4 + j] & 0x0F) + m;
                dst[b * 32 + j + 16] = d * (float)(p[4 + j] >> 4) + m;
            }
        }
        return 0;
    default: return KVB_EUNSUP;
    }
}

/* ---- open/close --------------------------------------------------------------------------- */
static int read_tensor_info(cursor *c, kvb_gguf_tensor *t)
{
    kvb_gguf_str name;
    uint32_t nd, type;
    if (read_str(c, &name, "tensor name") || read_u32(c, &nd, "tensor dims"))
        return KVB_EINVAL;
    if (name.len >= sizeof(t->name))
        return kvb_errorf(c->e, KVB_EINVAL, "%s: tensor name of %llu bytes is too long", c->path,
                          (unsigned long long)name.len);
    memcpy(t->name, name.ptr, name.len);
    t->name[name.len] = 0;
    if (nd < 1 || nd > 4)
        return kvb_errorf(c->e, KVB_EINVAL, "%s: tensor '%s' has %u dimensions (1..4 allowed)",
                          c->path, t->name, nd);
    t->n_dims = (int)nd;
    uint64_t count = 1;
    for (int i = 0; i < 4; i++)
        t->ne[i] = 1;
    for (uint32_t i = 0; i < nd; i++) {
        if (read_u64(c, &t->ne[i], "tensor shape"))
            return KVB_EINVAL;
        if (t->ne[i] == 0 || kvb_mul_overflow(count, t->ne[i], &count) || count > ((uint64_t)1 << 40))
            return kvb_errorf(c->e, KVB_EINVAL, "%s: tensor '%s' has an absurd shape", c->path, t->name);
    }
    if (read_u32(c, &type, "tensor type") || read_u64(c, &t->offset, "tensor offset"))
        return KVB_EINVAL;
    t->type = (enum kvb_ggml_type)type;
    uint64_t rb = kvb_ggml_row_bytes(t->type, t->ne[0]);
    if (!rb)
        return kvb_errorf(c->e, KVB_EUNSUP, "%s: tensor '%s' has type %u (%s) or a row length %llu that does not fit its blocks",
                          c->path, t->name, type, kvb_ggml_type_name((int)type), (unsigned long long)t->ne[0]);
    t->nbytes = rb * (count / t->ne[0]);
    return 0;
}

static int check_tensor_ranges(kvb_gguf *g, uint64_t data_start, kvb_error *e)
{
    uint64_t data_size = g->map.size - data_start;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        kvb_gguf_tensor *t = &g->tensors[i];
        if (t->offset % g->alignment)
            return kvb_errorf(e, KVB_EINVAL, "%s: tensor '%s' offset %llu is not aligned to %llu",
                              g->path, t->name, (unsigned long long)t->offset, (unsigned long long)g->alignment);
        if (t->offset > data_size || t->nbytes > data_size - t->offset)
            return kvb_errorf(e, KVB_EINVAL, "%s: tensor '%s' (offset %llu, %llu bytes) runs past the end of the file",
                              g->path, t->name, (unsigned long long)t->offset, (unsigned long long)t->nbytes);
        t->data = (const unsigned char *)g->map.data + data_start + t->offset;
        for (uint64_t j = 0; j < i; j++)
            if (!strcmp(g->tensors[j].name, t->name))
                return kvb_errorf(e, KVB_EINVAL, "%s: tensor '%s' appears twice", g->path, t->name);
    }
    return 0;
}

int kvb_gguf_open(kvb_gguf *g, const char *path, kvb_error *e)
{
    memset(g, 0, sizeof(*g));
    g->path = kvb_strdup(path);
    int rc = kvb_mmap_open(&g->map, path, e);
    if (rc) {
        kvb_gguf_close(g);
        return rc;
    }
    cursor c = { g->map.data, (const unsigned char *)g->map.data + g->map.size, path, e };
    uint32_t magic;
    if (read_u32(&c, &magic, "magic"))
        goto bad;
    if (magic != 0x46554747u) { /* "GGUF" little-endian */
        rc = kvb_errorf(e, KVB_EINVAL, "%s: not a GGUF file (bad magic)", path);
        goto fail;
    }
    if (read_u32(&c, &g->version, "version"))
        goto bad;
    if (g->version != 2 && g->version != 3) {
        rc = kvb_errorf(e, KVB_EUNSUP, "%s: GGUF version %u is not supported (2 or 3)", path, g->version);
        goto fail;
    }
    if (read_u64(&c, &g->n_tensors, "tensor count") || read_u64(&c, &g->n_kv, "metadata count"))
        goto bad;
    /* every kv needs >= 12 bytes and every tensor info >= 24: bound the counts by the file size */
    if (g->n_kv > g->map.size / 12 || g->n_tensors > g->map.size / 24) {
        rc = kvb_errorf(e, KVB_EINVAL, "%s: header claims %llu tensors and %llu metadata entries, more than the file can hold",
                        path, (unsigned long long)g->n_tensors, (unsigned long long)g->n_kv);
        goto fail;
    }
    g->kv = kvb_calloc(g->n_kv ? g->n_kv : 1, sizeof(kvb_gguf_kv));
    g->tensors = kvb_calloc(g->n_tensors ? g->n_tensors : 1, sizeof(kvb_gguf_tensor));
    if (!g->kv || !g->tensors) {
        rc = kvb_errorf(e, KVB_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (uint64_t i = 0; i < g->n_kv; i++)
        if ((rc = read_kv(&c, &g->kv[i])))
            goto fail;
    g->alignment = 32;
    const kvb_gguf_kv *al = kvb_gguf_find(g, "general.alignment");
    if (al) {
        if (al->type != KVB_GGUF_UINT32 || al->v.u == 0 || (al->v.u & (al->v.u - 1)) || al->v.u > 65536) {
            rc = kvb_errorf(e, KVB_EINVAL, "%s: general.alignment is not a power of two up to 65536", path);
            goto fail;
        }
        g->alignment = al->v.u;
    }
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if ((rc = read_tensor_info(&c, &g->tensors[i])))
            goto fail;
    uint64_t pos = (uint64_t)(c.p - (const unsigned char *)g->map.data);
    uint64_t data_start = (pos + g->alignment - 1) / g->alignment * g->alignment;
    if (data_start > g->map.size) {
        rc = kvb_errorf(e, KVB_EINVAL, "%s: truncated GGUF file (no tensor data)", path);
        goto fail;
    }
    if ((rc = check_tensor_ranges(g, data_start, e)))
        goto fail;
    return 0;
bad:
    rc = KVB_EINVAL;
fail:
    kvb_gguf_close(g);
    return rc;
}

void kvb_gguf_close(kvb_gguf *g)
{
    if (g->kv)
        for (uint64_t i = 0; i < g->n_kv; i++)
            free(g->kv[i].arr_strs);
    free(g->kv);
    free(g->tensors);
    free(g->path);
    kvb_mmap_close(&g->map);
    memset(g, 0, sizeof(*g));
}

static int key_eq(const kvb_gguf_str *s, const char *key)
{
    size_t n = strlen(key);
    return s->len == n && !memcmp(s->ptr, key, n);
}

const kvb_gguf_kv *kvb_gguf_find(const kvb_gguf *g, const char *key)
{
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (key_eq(&g->kv[i].key, key))
            return &g->kv[i];
    return NULL;
}

const kvb_gguf_tensor *kvb_gguf_find_tensor(const kvb_gguf *g, const char *name)
{
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (!strcmp(g->tensors[i].name, name))
            return &g->tensors[i];
    return NULL;
}

int kvb_gguf_get_u64(const kvb_gguf *g, const char *key, uint64_t *out, kvb_error *e)
{
    const kvb_gguf_kv *kv = kvb_gguf_find(g, key);
    if (!kv)
        return kvb_errorf(e, KVB_EINVAL, "%s: metadata '%s' is missing", g->path, key);
    switch (kv->type) {
    case KVB_GGUF_UINT8: case KVB_GGUF_UINT16: case KVB_GGUF_UINT32: case KVB_GGUF_UINT64: case KVB_GGUF_BOOL:
        *out = kv->v.u;
        return 0;
    case KVB_GGUF_INT8: case KVB_GGUF_INT16: case KVB_GGUF_INT32: case KVB_GGUF_INT64:
        if (kv->v.i < 0)
            break;
        *out = (uint64_t)kv->v.i;
        return 0;
    default: break;
    }
    return kvb_errorf(e, KVB_EINVAL, "%s: metadata '%s' is not a non-negative integer", g->path, key);
}

int kvb_gguf_get_f64(const kvb_gguf *g, const char *key, double *out, kvb_error *e)
{
    const kvb_gguf_kv *kv = kvb_gguf_find(g, key);
    if (kv && (kv->type == KVB_GGUF_FLOAT32 || kv->type == KVB_GGUF_FLOAT64)) {
        *out = kv->v.f;
        return 0;
    }
    uint64_t u;
    if (kv && !kvb_gguf_get_u64(g, key, &u, NULL)) {
        *out = (double)u;
        return 0;
    }
    return kvb_errorf(e, KVB_EINVAL, "%s: metadata '%s' is %s", g->path, key, kv ? "not a number" : "missing");
}

char *kvb_gguf_get_str(const kvb_gguf *g, const char *key)
{
    const kvb_gguf_kv *kv = kvb_gguf_find(g, key);
    if (!kv || kv->type != KVB_GGUF_STRING || kv->v.s.len > ((uint64_t)1 << 30))
        return NULL;
    char *s = kvb_malloc(kv->v.s.len + 1);
    if (s) {
        memcpy(s, kv->v.s.ptr, kv->v.s.len);
        s[kv->v.s.len] = 0;
    }
    return s;
}
