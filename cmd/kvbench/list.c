/* kvbench list: models (configs/models), cache methods (the kvcache registry), LongBench and
 * RULER tasks and task sets. `kvbench list [models|methods|tasks|sets]`, all four without an argument. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvcache/kvcache.h"
#include "longbench/niah.h"
#include "longbench/tasks.h"
#include "ruler/source.h"
#include "options.h"
#include "verbs.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_models(void)
{
    printf("models (configs/models; also any HF model directory or .gguf path):\n");
    char buf[4096];
    const char *dir = kvb_configs_dir("models", buf, sizeof(buf));
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d) {
        printf("    (configs/models not found)\n");
        return;
    }
    char *names[256];
    int n = 0;
    for (struct dirent *de; (de = readdir(d)) && n < 256;) {
        size_t l = strlen(de->d_name);
        if (l > 5 && !strcmp(de->d_name + l - 5, ".json") && de->d_name[0] != '.')
            names[n++] = kvb_strdup(de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(char *), cmp_str);
    for (int i = 0; i < n; i++) {
        char *path = kvb_path_join(dir, names[i]);
        cJSON *j = NULL;
        kvb_error e = { 0 };
        names[i][strlen(names[i]) - 5] = 0;
        if (kvb_json_load(path, 1 << 20, &j, &e) == 0) {
            const cJSON *repo = cJSON_GetObjectItemCaseSensitive(j, "repo_id");
            const cJSON *ml = cJSON_GetObjectItemCaseSensitive(j, "longbench_max_length");
            const cJSON *ct = cJSON_GetObjectItemCaseSensitive(j, "chat_template");
            printf("    %-16s %-40s", names[i], cJSON_IsString(repo) ? repo->valuestring : "");
            if (cJSON_IsNumber(ml))
                printf(" budget %-6d", (int)ml->valuedouble);
            if (cJSON_IsString(ct))
                printf(" chat %s", ct->valuestring);
            printf("%s\n", !strcmp(names[i], "smollm2-135m") ? "  (default)" : "");
        } else {
            printf("    %-16s (unreadable: %s)\n", names[i], e.msg);
        }
        cJSON_Delete(j);
        free(path);
        free(names[i]);
    }
}

static void list_methods(void)
{
    printf("cache methods (--type):\n");
    for (int i = 0; i < kvb_cache_method_count(); i++)
        printf("    %s%s\n", kvb_cache_method_at(i),
               !strcmp(kvb_cache_method_at(i), "full") ? "  (default)" : "");
}

static void list_tasks(void)
{
    printf("tasks (--tasks; LongBench v1 in pred.py order, then kvbench's own):\n");
    printf("    %-22s %-15s %-4s %-22s %7s %5s\n", "task", "category", "lang", "metric", "max_new",
           "chat");
    for (int i = 0; i < kvb_task_count(); i++) {
        const kvb_task *t = kvb_task_at(i);
        printf("    %-22s %-15s %-4s %-22s %7d %5s\n", t->key, t->category,
               kvb_task_lang_name(t->lang), kvb_metric_name(t->metric), t->max_new_tokens,
               t->skip_chat ? "no" : "yes");
    }
    printf("    %-22s %-15s %-4s %-22s %7d %5s\n", "niah", "Needle", "en", "niah_keyword_recall", 64,
           "yes");
    for (int i = 0; i < kvb_ruler_task_count(); i++) {
        const kvb_ruler_task *t = kvb_ruler_task_at(i);
        printf("    %-22s %-15s %-4s %-22s %7d %5s%s\n", kvb_ruler_task_name(t), "RULER", "en",
               kvb_ruler_task_metric(t), kvb_ruler_task_tokens_to_generate(t), "yes",
               kvb_ruler_task_needs_data(t) ? "  (--data)" : "");
    }
    printf("    (RULER: one task <task>.<length> per --lengths; chat = its model template, "
           "--ruler-template)\n");
}

static void list_sets(void)
{
    printf("task sets (--tasks):\n");
    static const char *const sets[] = { "en16", "all", "e", "zh" };
    for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
        const kvb_task **v;
        int n;
        kvb_error e = { 0 };
        if (kvb_taskset_parse(sets[s], &v, &n, &e))
            continue;
        printf("    %-5s %2d tasks:", sets[s], n);
        for (int i = 0; i < n; i++)
            printf(" %s", v[i]->key);
        printf("%s\n", !strcmp(sets[s], "en16") ? "  (default)" : "");
        free(v);
    }
    printf("    niah  needle in a haystack, lengths %s, depths %s\n", KVB_NIAH_LENGTHS,
           KVB_NIAH_DEPTHS);
    printf("    ruler %2d tasks:", kvb_ruler_task_count());
    for (int i = 0; i < kvb_ruler_task_count(); i++)
        printf(" %s", kvb_ruler_task_name(kvb_ruler_task_at(i)));
    printf("  (qa_1/qa_2 with --data; lengths %s, %d samples by default)\n", KVB_RULER_LENGTHS,
           KVB_RULER_SAMPLES);
}

int cmd_list(int argc, char **argv)
{
    const struct kvb_option opts[] = { KVB_OPT_END_ };
    char **pos = NULL;
    int npos = 0;
    int rc = kvb_parse_options(argc, argv, opts, "kvbench list [models|methods|tasks|sets]", &pos,
                               &npos);
    if (rc) {
        free(pos);
        return rc > 0 ? 0 : 2;
    }
    const char *what = npos ? pos[0] : NULL;
    int ok = npos <= 1;
    if (ok && (!what || !strcmp(what, "models")))
        list_models();
    if (ok && (!what || !strcmp(what, "methods")))
        list_methods();
    if (ok && (!what || !strcmp(what, "tasks")))
        list_tasks();
    if (ok && (!what || !strcmp(what, "sets")))
        list_sets();
    if (!ok || (what && strcmp(what, "models") && strcmp(what, "methods") && strcmp(what, "tasks") &&
                strcmp(what, "sets"))) {
        fprintf(stderr, "kvbench: error: list what? models, methods, tasks or sets\n");
        free(pos);
        return 2;
    }
    free(pos);
    return 0;
}
