/* JSON helpers over cJSON: bounded file loads, nesting limits, typed getters with messages. */
#include "core.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>

/* cJSON recurses per nesting level; refuse deep documents before handing them over. */
int kvb_json_depth_ok(const char *text, size_t len)
{
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > KVB_JSON_MAX_DEPTH)
                return 0;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return 1;
}

struct cJSON *kvb_json_parse_limited(const char *text, size_t len)
{
    if (!kvb_json_depth_ok(text, len))
        return NULL;
    return cJSON_ParseWithLength(text, len);
}

int kvb_json_load(const char *path, size_t max_bytes, struct cJSON **out, kvb_error *e)
{
    char *text;
    size_t len;
    *out = NULL;
    int rc = kvb_read_file(path, max_bytes, &text, &len, e);
    if (rc)
        return rc;
    /* JSON text is UTF-8 (RFC 8259); Python's json and Rust's serde refuse anything else, and
     * invalid bytes would flow into tokens and predictions (found by fuzz_tokjson) */
    size_t ok = kvb_utf8_valid_prefix(text, len);
    if (ok != len) {
        free(text);
        return kvb_errorf(e, KVB_EINVAL, "%s: not valid UTF-8 (byte %zu)", path, ok);
    }
    if (!kvb_json_depth_ok(text, len)) {
        free(text);
        return kvb_errorf(e, KVB_EINVAL, "%s: JSON nested deeper than %d levels", path,
                          KVB_JSON_MAX_DEPTH);
    }
    cJSON *j = cJSON_ParseWithLength(text, len);
    if (!j) {
        const char *where = cJSON_GetErrorPtr();
        long off = where ? (long)(where - text) : -1;
        free(text);
        return kvb_errorf(e, KVB_EINVAL, "%s: not valid JSON (near byte %ld)", path, off);
    }
    free(text);
    *out = j;
    return 0;
}

int kvb_json_get_int(const struct cJSON *obj, const char *key, long long lo, long long hi,
                     long long *out, const char *file, kvb_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v)
        return kvb_errorf(e, KVB_EINVAL, "%s: field '%s' is missing", file, key);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || floor(v->valuedouble) != v->valuedouble)
        return kvb_errorf(e, KVB_EINVAL, "%s: field '%s' is not an integer", file, key);
    if (v->valuedouble < (double)lo || v->valuedouble > (double)hi)
        return kvb_errorf(e, KVB_EINVAL, "%s: field '%s' = %.0f is out of range [%lld, %lld]", file,
                          key, v->valuedouble, lo, hi);
    *out = (long long)v->valuedouble;
    return 0;
}

int kvb_json_get_num(const struct cJSON *obj, const char *key, double *out, const char *file,
                     kvb_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v)
        return kvb_errorf(e, KVB_EINVAL, "%s: field '%s' is missing", file, key);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return kvb_errorf(e, KVB_EINVAL, "%s: field '%s' is not a finite number", file, key);
    *out = v->valuedouble;
    return 0;
}

int kvb_json_get_str(const struct cJSON *obj, const char *key, const char **out, const char *file,
                     kvb_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v)
        return kvb_errorf(e, KVB_EINVAL, "%s: field '%s' is missing", file, key);
    if (!cJSON_IsString(v))
        return kvb_errorf(e, KVB_EINVAL, "%s: field '%s' is not a string", file, key);
    *out = v->valuestring;
    return 0;
}
