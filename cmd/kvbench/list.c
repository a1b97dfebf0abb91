/* kvbench list: models (configs/models), cache methods (the kvcache registry), the tasks and task
 * sets of every suite of the run's suite table (lib/suites). `kvbench list [models|methods|tasks|sets]`, all four without an argument. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvcache/kvcache.h"
#include "options.h"
#include "suites/suites.h"
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

/* Each suite of the run's table lists its own tasks and sets. */
static void list_suites(int sets)
{
    kvb_strbuf out;
    kvb_strbuf_init(&out);
    for (int k = 0; kvb_suite_table[k]; k++) {
        void (*list)(kvb_strbuf *) = sets ? kvb_suite_table[k]->list_sets
                                          : kvb_suite_table[k]->list_tasks;
        if (list)
            list(&out);
    }
    fputs(out.buf ? out.buf : "", stdout);
    kvb_strbuf_release(&out);
}

static void list_tasks(void)
{
    printf("tasks (--tasks; LongBench v1 in pred.py order, then kvbench's own):\n");
    printf("    %-22s %-15s %-4s %-22s %7s %5s\n", "task", "category", "lang", "metric", "max_new",
           "chat");
    list_suites(0);
}

static void list_sets(void)
{
    printf("task sets (--tasks):\n");
    list_suites(1);
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
