/* lib/gguf: GGUF v2/v3 reader, shared by lib/model (weights) and lib/tokenizer (vocabularies), so
 * neither includes the other for it: metadata of every value type (arrays included) and tensor
 * infos, validated before anything is trusted. The file is mmap'ed; strings and arrays point
 * into it. */
#ifndef KVB_GGUF_H
#define KVB_GGUF_H

#include "core/core.h"

enum kvb_gguf_type {
    KVB_GGUF_UINT8 = 0, KVB_GGUF_INT8 = 1, KVB_GGUF_UINT16 = 2, KVB_GGUF_INT16 = 3,
    KVB_GGUF_UINT32 = 4, KVB_GGUF_INT32 = 5, KVB_GGUF_FLOAT32 = 6, KVB_GGUF_BOOL = 7,
    KVB_GGUF_STRING = 8, KVB_GGUF_ARRAY = 9, KVB_GGUF_UINT64 = 10, KVB_GGUF_INT64 = 11,
    KVB_GGUF_FLOAT64 = 12,
};

/* ggml tensor types kvbench reads (others are refused with their number). */
enum kvb_ggml_type {
    KVB_GGML_F32 = 0, KVB_GGML_F16 = 1, KVB_GGML_Q4_0 = 2, KVB_GGML_Q4_1 = 3,
    KVB_GGML_Q8_0 = 8, KVB_GGML_BF16 = 30,
};

typedef struct kvb_gguf_str {
    const char *ptr; /* not NUL-terminated */
    uint64_t len;
} kvb_gguf_str;

typedef struct kvb_gguf_kv {
    kvb_gguf_str key;
    enum kvb_gguf_type type;
    /* scalar value (for ARRAY: the element type and count, data points at the first element) */
    union {
        uint64_t u;
        int64_t i;
        double f;
        kvb_gguf_str s;
    } v;
    enum kvb_gguf_type arr_type;
    uint64_t arr_n;
    const unsigned char *arr_data; /* for string arrays: use kvb_gguf_arr_str */
    kvb_gguf_str *arr_strs;        /* string arrays are indexed once at open */
} kvb_gguf_kv;

typedef struct kvb_gguf_tensor {
    char name[128];
    int n_dims;
    uint64_t ne[4];      /* ggml order: ne[0] is the fastest-varying (row length) */
    enum kvb_ggml_type type;
    uint64_t offset;     /* relative to the data section */
    uint64_t nbytes;
    const void *data;    /* into the mmap */
} kvb_gguf_tensor;

typedef struct kvb_gguf {
    char *path;
    kvb_mmap map;
    uint32_t version;
    uint64_t n_kv, n_tensors;
    kvb_gguf_kv *kv;
    kvb_gguf_tensor *tensors;
    uint64_t alignment;
} kvb_gguf;

int kvb_gguf_open(kvb_gguf *g, const char *path, kvb_error *e);
void kvb_gguf_close(kvb_gguf *g);
const kvb_gguf_kv *kvb_gguf_find(const kvb_gguf *g, const char *key);
const kvb_gguf_tensor *kvb_gguf_find_tensor(const kvb_gguf *g, const char *name);
/* Scalar getters: 0 if found with a compatible type, KVB_EINVAL otherwise (message names file). */
int kvb_gguf_get_u64(const kvb_gguf *g, const char *key, uint64_t *out, kvb_error *e);
int kvb_gguf_get_f64(const kvb_gguf *g, const char *key, double *out, kvb_error *e);
/* Returns a newly allocated NUL-terminated copy (caller frees), or NULL when absent/wrong type. */
char *kvb_gguf_get_str(const kvb_gguf *g, const char *key);
/* Bytes per row of n elements of a ggml type (0 if unsupported or n not a multiple of the block). */
uint64_t kvb_ggml_row_bytes(enum kvb_ggml_type t, uint64_t n);
const char *kvb_ggml_type_name(int t);
/* Dequantize n elements (n multiple of the block size) to f32. */
int kvb_ggml_dequantize(enum kvb_ggml_type t, const void *src, float *dst, uint64_t n);

#endif
