/* LongBench prompt templates: loading and str.format-style substitution. */
#include "longbench/prompt.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "longbench/data.h"

/* ---- config directory -------------------------------------------------------------------- */

const char *kvb_lb_config_dir(void)
{
    static char found[PATH_MAX];
    char buf[PATH_MAX];
    const char *env = getenv("KVBENCH_CONFIGS");
    if (env && *env) {
        int k = snprintf(buf, sizeof(buf), "%s/longbench", env);
        if (k > 0 && (size_t)k < sizeof(buf) && kvb_is_dir(buf))
            goto ok;
    }
    if (kvb_is_dir("configs/longbench")) {
        snprintf(buf, sizeof(buf), "configs/longbench");
        goto ok;
    }
    /* an installed or out-of-tree binary: <root>/bin/kvbench or <root>/build/kvbench */
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 32);
    if (n > 0) {
        buf[n] = 0;
        for (int up = 0; up < 2; up++) {
            char *slash = strrchr(buf, '/');
            if (!slash)
                break;
            *slash = 0;
        }
        size_t l = strlen(buf);
        memcpy(buf + l, "/configs/longbench", 19);
        if (kvb_is_dir(buf))
            goto ok;
    }
    return NULL;
ok:
    memcpy(found, buf, sizeof(found));
    return found;
}

int kvb_lb_template_load(const char *dir, const char *task, char **tmpl, kvb_error *e)
{
    *tmpl = NULL;
    if (!dir)
        dir = kvb_lb_config_dir();
    if (!dir)
        return kvb_errorf(e, KVB_EIO, "configs/longbench not found (set KVBENCH_CONFIGS to the "
                                      "configs directory)");
    char *path = kvb_path_join(dir, "dataset2prompt.json");
    cJSON *j;
    int rc = kvb_json_load(path, 1 << 20, &j, e);
    if (rc) {
        free(path);
        return rc;
    }
    char key[128];
    size_t tl = strlen(task);
    if (tl > 2 && !strcmp(task + tl - 2, "_e"))
        tl -= 2;
    if (tl >= sizeof(key))
        tl = sizeof(key) - 1;
    memcpy(key, task, tl);
    key[tl] = 0;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!t || !cJSON_IsString(t))
        rc = kvb_errorf(e, KVB_EINVAL, "%s: no prompt template for task '%s'", path, key);
    else
        *tmpl = kvb_strdup(t->valuestring);
    cJSON_Delete(j);
    free(path);
    return rc;
}

/* ---- str.format -------------------------------------------------------------------------- */

int kvb_lb_format(const char *tmpl, const kvb_lb_record *r, kvb_strbuf *out, kvb_error *e)
{
    for (const char *p = tmpl; *p;) {
        if (*p == '{' && p[1] == '{') {
            kvb_strbuf_add(out, "{", 1);
            p += 2;
        } else if (*p == '}' && p[1] == '}') {
            kvb_strbuf_add(out, "}", 1);
            p += 2;
        } else if (*p == '}') {
            return kvb_errorf(e, KVB_EINVAL, "prompt template: single '}' encountered");
        } else if (*p == '{') {
            const char *end = strchr(p + 1, '}');
            if (!end)
                return kvb_errorf(e, KVB_EINVAL, "prompt template: single '{' encountered");
            size_t n = (size_t)(end - p - 1);
            char num[32];
            const char *val = NULL;
#define FIELD(name) (n == strlen(name) && !strncmp(p + 1, name, n))
            if (FIELD("context"))
                val = r->context;
            else if (FIELD("input"))
                val = r->input;
            else if (FIELD("_id"))
                val = r->id;
            else if (FIELD("dataset"))
                val = r->dataset;
            else if (FIELD("language"))
                val = r->language;
            else if (FIELD("length")) {
                snprintf(num, sizeof(num), "%lld", r->length);
                val = num;
            }
#undef FIELD
            if (!val)
                return kvb_errorf(e, KVB_EINVAL, "prompt template: unknown field {%.*s}",
                                  (int)KVB_MIN(n, 64), p + 1);
            kvb_strbuf_adds(out, val);
            p = end + 1;
        } else {
            const char *q = p;
            while (*q && *q != '{' && *q != '}')
                q++;
            kvb_strbuf_add(out, p, (size_t)(q - p));
            p = q;
        }
    }
    return 0;
}
