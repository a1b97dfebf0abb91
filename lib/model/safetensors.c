/* safetensors reader: 8-byte little-endian header length, a JSON header {name: {dtype, shape,
 * data_offsets}}, then the data. Everything is checked before a pointer into the mmap is made:
 * header length within the file, offsets within the data section, sizes equal to the shape,
 * no two tensors overlapping. */
#include "model_impl.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define ST_MAX_HEADER ((size_t)100 << 20)

static int dtype_of(const char *s, size_t *elt)
{
    static const struct { const char *name; int id; size_t size; } t[] = {
        { "F32", KVB_ST_F32, 4 }, { "F16", KVB_ST_F16, 2 }, { "BF16", KVB_ST_BF16, 2 },
        { "F64", KVB_ST_OTHER, 8 }, { "I64", KVB_ST_OTHER, 8 }, { "I32", KVB_ST_OTHER, 4 },
        { "I16", KVB_ST_OTHER, 2 }, { "I8", KVB_ST_OTHER, 1 }, { "U8", KVB_ST_OTHER, 1 },
        { "U16", KVB_ST_OTHER, 2 }, { "U32", KVB_ST_OTHER, 4 }, { "U64", KVB_ST_OTHER, 8 },
        { "BOOL", KVB_ST_OTHER, 1 }, { "F8_E4M3", KVB_ST_OTHER, 1 }, { "F8_E5M2", KVB_ST_OTHER, 1 },
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (!strcmp(s, t[i].name)) {
            *elt = t[i].size;
            return t[i].id;
        }
    return -1;
}

static int cmp_begin(const void *a, const void *b)
{
    const kvb_st_tensor *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static int parse_tensor(kvb_st_tensor *t, const cJSON *it, size_t data_size, const char *path,
                        kvb_error *e)
{
    if (strlen(it->string) >= sizeof(t->name))
        return kvb_errorf(e, KVB_EINVAL, "%s: tensor name too long", path);
    snprintf(t->name, sizeof(t->name), "%s", it->string);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(it, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
    if (!cJSON_IsObject(it) || !cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(of) ||
        cJSON_GetArraySize(of) != 2)
        return kvb_errorf(e, KVB_EINVAL, "%s: tensor '%s': header entry needs dtype, shape and "
                          "data_offsets", path, t->name);
    size_t elt;
    t->dtype = dtype_of(dt->valuestring, &elt);
    if (t->dtype < 0)
        return kvb_errorf(e, KVB_EINVAL, "%s: tensor '%s': unknown dtype '%.20s'", path, t->name,
                          dt->valuestring);
    t->n_dims = cJSON_GetArraySize(sh);
    if (t->n_dims > 8)
        return kvb_errorf(e, KVB_EINVAL, "%s: tensor '%s': %d dimensions", path, t->name, t->n_dims);
    double count = 1;
    for (int d = 0; d < t->n_dims; d++) {
        const cJSON *x = cJSON_GetArrayItem(sh, d);
        if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble > 1e12 ||
            x->valuedouble != (double)(int64_t)x->valuedouble)
            return kvb_errorf(e, KVB_EINVAL, "%s: tensor '%s': bad shape", path, t->name);
        t->shape[d] = (int64_t)x->valuedouble;
        count *= (double)t->shape[d];
    }
    double off[2];
    for (int k = 0; k < 2; k++) {
        const cJSON *x = cJSON_GetArrayItem(of, k);
        if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble > 1e15 ||
            x->valuedouble != (double)(int64_t)x->valuedouble)
            return kvb_errorf(e, KVB_EINVAL, "%s: tensor '%s': bad data_offsets", path, t->name);
        off[k] = x->valuedouble;
    }
    if (off[0] > off[1] || off[1] > (double)data_size)
        return kvb_errorf(e, KVB_EINVAL, "%s: tensor '%s': data_offsets [%.0f, %.0f] out of the "
                          "%zu-byte data section", path, t->name, off[0], off[1], data_size);
    t->begin = (size_t)off[0];
    t->end = (size_t)off[1];
    if ((double)(t->end - t->begin) != count * (double)elt)
        return kvb_errorf(e, KVB_EINVAL, "%s: tensor '%s': %zu bytes do not hold its shape of %.0f "
                          "%s elements", path, t->name, t->end - t->begin, count, dt->valuestring);
    return 0;
}

int kvb_st_open(kvb_st_file *f, const char *path, kvb_error *e)
{
    memset(f, 0, sizeof(*f));
    f->path = kvb_strdup(path);
    int rc = kvb_mmap_open(&f->map, path, e);
    if (rc)
        return rc;
    const unsigned char *p = f->map.data;
    if (f->map.size < 8)
        return kvb_errorf(e, KVB_EINVAL, "%s: truncated safetensors file (%zu bytes)", path,
                          f->map.size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | p[i];
    if (hlen > f->map.size - 8 || hlen > ST_MAX_HEADER || hlen < 2)
        return kvb_errorf(e, KVB_EINVAL, "%s: header length %llu is past the end of the %zu-byte "
                          "file (truncated or not safetensors)", path, (unsigned long long)hlen,
                          f->map.size);
    f->data = p + 8 + hlen;
    f->data_size = f->map.size - 8 - hlen;
    cJSON *j = kvb_json_parse_limited((const char *)p + 8, hlen);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return kvb_errorf(e, KVB_EINVAL, "%s: header is not a JSON object", path);
    }
    int n = cJSON_GetArraySize(j);
    f->t = kvb_calloc((size_t)(n ? n : 1), sizeof(kvb_st_tensor));
    if (!f->t) {
        cJSON_Delete(j);
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, j)
    {
        if (!strcmp(it->string, "__metadata__"))
            continue;
        if ((rc = parse_tensor(&f->t[f->n], it, f->data_size, path, e)))
            break;
        f->n++;
    }
    cJSON_Delete(j);
    if (rc)
        return rc;
    /* overlap check on a sorted copy (the table keeps header order for lookups) */
    kvb_st_tensor *s = kvb_calloc((size_t)(f->n ? f->n : 1), sizeof(*s));
    if (!s)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    memcpy(s, f->t, sizeof(*s) * (size_t)f->n);
    qsort(s, (size_t)f->n, sizeof(*s), cmp_begin);
    for (int i = 1; i < f->n && !rc; i++)
        if (s[i].begin < s[i - 1].end && s[i].end > s[i].begin)
            rc = kvb_errorf(e, KVB_EINVAL, "%s: tensors '%s' and '%s' overlap", path, s[i - 1].name,
                            s[i].name);
    free(s);
    return rc;
}

void kvb_st_close(kvb_st_file *f)
{
    kvb_mmap_close(&f->map);
    free(f->t);
    free(f->path);
    memset(f, 0, sizeof(*f));
}

const kvb_st_tensor *kvb_st_find(const kvb_st_file *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name))
            return &f->t[i];
    return NULL;
}
