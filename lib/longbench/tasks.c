/* LongBench task-set specs (see tasks.h); the table is lib/results/tasks.c. */
#include "longbench/tasks.h"

#include <stdlib.h>
#include <string.h>

/* ---- task sets ----------------------------------------------------------------------------- */
static int unknown_task(const char *name, kvb_error *e)
{
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    for (int i = 0; i < KVB_TASK_COUNT; i++)
        kvb_strbuf_addf(&sb, "%s%s", i ? ", " : "", kvb_task_at(i)->key);
    kvb_errorf(e, KVB_EINVAL, "unknown task '%s' (sets: en16, all, e, zh; tasks: %s)", name,
               sb.buf ? sb.buf : "");
    kvb_strbuf_release(&sb);
    return KVB_EINVAL;
}

int kvb_taskset_parse(const char *spec, const kvb_task ***out, int *n, kvb_error *e)
{
    *out = NULL;
    *n = 0;
    if (!spec || !*spec)
        return kvb_errorf(e, KVB_EINVAL, "empty task set");
    const kvb_task **v = kvb_calloc(KVB_TASK_COUNT, sizeof(*v));
    if (!v)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    int cnt = 0;
    if (kvb_task_set_has(spec, kvb_task_at(0)) >= 0) {
        for (int i = 0; i < KVB_TASK_COUNT; i++)
            if (kvb_task_set_has(spec, kvb_task_at(i)))
                v[cnt++] = kvb_task_at(i);
        *out = v;
        *n = cnt;
        return 0;
    }
    char **items = NULL;
    int ni = 0;
    if (kvb_split_csv(spec, &items, &ni) != 0) {
        free(v);
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    }
    int rc = 0;
    for (int i = 0; i < ni && rc == 0; i++) {
        const char *name = items[i];
        const kvb_task *t = NULL;
        if (!*name) {
            rc = kvb_errorf(e, KVB_EINVAL, "empty item in task list '%s'", spec);
            break;
        }
        if (kvb_task_set_has(name, kvb_task_at(0)) >= 0) { /* a set inside a list: "en16,lsht" */
            for (int k = 0; k < KVB_TASK_COUNT; k++) {
                int have = 0;
                for (int q = 0; q < cnt; q++)
                    have |= v[q] == kvb_task_at(k);
                if (!have && kvb_task_set_has(name, kvb_task_at(k)))
                    v[cnt++] = kvb_task_at(k);
            }
            continue;
        }
        for (int k = 0; k < KVB_TASK_COUNT; k++)
            if (!strcmp(kvb_task_at(k)->key, name))
                t = kvb_task_at(k);
        if (!t) {
            rc = unknown_task(name, e);
            break;
        }
        for (int k = 0; k < cnt; k++)
            if (v[k] == t)
                rc = kvb_errorf(e, KVB_EINVAL, "task '%s' listed twice in '%s'", name, spec);
        if (rc == 0)
            v[cnt++] = t; /* at most 21 distinct tasks: duplicates are refused above */
    }
    kvb_free_strv(items, ni);
    if (rc) {
        free(v);
        return rc;
    }
    *out = v;
    *n = cnt;
    return 0;
}
