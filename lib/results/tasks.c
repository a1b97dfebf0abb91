/* The LongBench v1 task table and its sets (see tasks.h). */
#include "results/tasks.h"

#include "core/pynum.h"

#include <string.h>

/* ---- the table ----------------------------------------------------------------------------- */
#define SD "Single-Doc QA"
#define MD "Multi-Doc QA"
#define SU "Summarization"
#define FS "Few-shot"
#define SY "Synthetic"
#define CO "Code"

/*  key                     category lang           metric                      max  skip first en16 e */
static const kvb_task k_tasks[KVB_TASK_COUNT] = {
    { "narrativeqa",          SD, KVB_LANG_EN,   KVB_METRIC_QA_F1,          128, 0, 0, 1, 0 },
    { "qasper",               SD, KVB_LANG_EN,   KVB_METRIC_QA_F1,          128, 0, 0, 1, 1 },
    { "multifieldqa_en",      SD, KVB_LANG_EN,   KVB_METRIC_QA_F1,           64, 0, 0, 1, 1 },
    { "multifieldqa_zh",      SD, KVB_LANG_ZH,   KVB_METRIC_QA_F1_ZH,        64, 0, 0, 0, 0 },
    { "hotpotqa",             MD, KVB_LANG_EN,   KVB_METRIC_QA_F1,           32, 0, 0, 1, 1 },
    { "2wikimqa",             MD, KVB_LANG_EN,   KVB_METRIC_QA_F1,           32, 0, 0, 1, 1 },
    { "musique",              MD, KVB_LANG_EN,   KVB_METRIC_QA_F1,           32, 0, 0, 1, 0 },
    { "dureader",             MD, KVB_LANG_ZH,   KVB_METRIC_ROUGE_ZH,       128, 0, 0, 0, 0 },
    { "gov_report",           SU, KVB_LANG_EN,   KVB_METRIC_ROUGE,          512, 0, 0, 1, 1 },
    { "qmsum",                SU, KVB_LANG_EN,   KVB_METRIC_ROUGE,          512, 0, 0, 1, 0 },
    { "multi_news",           SU, KVB_LANG_EN,   KVB_METRIC_ROUGE,          512, 0, 0, 1, 1 },
    { "vcsum",                SU, KVB_LANG_ZH,   KVB_METRIC_ROUGE_ZH,       512, 0, 0, 0, 0 },
    { "trec",                 FS, KVB_LANG_EN,   KVB_METRIC_CLASSIFICATION,  64, 1, 1, 1, 1 },
    { "triviaqa",             FS, KVB_LANG_EN,   KVB_METRIC_QA_F1,           32, 1, 1, 1, 1 },
    { "samsum",               FS, KVB_LANG_EN,   KVB_METRIC_ROUGE,          128, 1, 1, 1, 1 },
    { "lsht",                 FS, KVB_LANG_ZH,   KVB_METRIC_CLASSIFICATION,  64, 1, 1, 0, 0 },
    { "passage_count",        SY, KVB_LANG_EN,   KVB_METRIC_COUNT,           32, 0, 0, 1, 1 },
    { "passage_retrieval_en", SY, KVB_LANG_EN,   KVB_METRIC_RETRIEVAL,       32, 0, 0, 1, 1 },
    { "passage_retrieval_zh", SY, KVB_LANG_ZH,   KVB_METRIC_RETRIEVAL_ZH,    32, 0, 0, 0, 0 },
    { "lcc",                  CO, KVB_LANG_CODE, KVB_METRIC_CODE_SIM,        64, 1, 0, 1, 1 },
    { "repobench-p",          CO, KVB_LANG_CODE, KVB_METRIC_CODE_SIM,        64, 1, 0, 1, 1 },
};

static const char *const k_metric_names[KVB_METRIC__N] = {
    "qa_f1_score", "qa_f1_zh_score", "rouge_score", "rouge_zh_score", "classification_score",
    "retrieval_score", "retrieval_zh_score", "count_score", "code_sim_score",
};

int kvb_task_count(void) { return KVB_TASK_COUNT; }

const kvb_task *kvb_task_at(int i)
{
    return (i >= 0 && i < KVB_TASK_COUNT) ? &k_tasks[i] : NULL;
}

const kvb_task *kvb_task_find(const char *name)
{
    if (!name)
        return NULL;
    size_t n = strlen(name);
    for (int i = 0; i < KVB_TASK_COUNT; i++) {
        const char *k = k_tasks[i].key;
        size_t kn = strlen(k);
        if (n == kn && memcmp(name, k, n) == 0)
            return &k_tasks[i];
        /* LongBench-E file stems carry an "_e" suffix: "qasper_e" */
        if (n == kn + 2 && memcmp(name, k, kn) == 0 && memcmp(name + kn, "_e", 2) == 0)
            return &k_tasks[i];
    }
    return NULL;
}

const char *kvb_metric_name(enum kvb_metric m)
{
    return (m >= 0 && m < KVB_METRIC__N) ? k_metric_names[m] : "?";
}

const char *kvb_task_lang_name(enum kvb_task_lang l)
{
    switch (l) {
    case KVB_LANG_EN: return "en";
    case KVB_LANG_ZH: return "zh";
    case KVB_LANG_CODE: return "code";
    }
    return "?";
}

/* ---- task sets ----------------------------------------------------------------------------- */
int kvb_task_set_has(const char *set, const kvb_task *t)
{
    if (!strcmp(set, "all"))
        return 1;
    if (!strcmp(set, "en16"))
        return t->en16;
    if (!strcmp(set, "e"))
        return t->longbench_e;
    if (!strcmp(set, "zh"))
        return t->lang == KVB_LANG_ZH;
    return -1;
}

int kvb_task_in_set(const char *set, const char *task)
{
    for (int i = 0; i < KVB_TASK_COUNT; i++)
        if (!strcmp(k_tasks[i].key, task))
            return kvb_task_set_has(set, &k_tasks[i]) == 1;
    return 0;
}

/* ---- RULER tasks in a run ------------------------------------------------------------------ */
int kvb_metric_is_ruler(const char *metric)
{
    return metric && (!strcmp(metric, "string_match_all") || !strcmp(metric, "string_match_part"));
}

int kvb_task_length_split(const char *name, char *task, size_t n, long *length)
{
    const char *at = strrchr(name, KVB_TASK_LENGTH_SEP);
    if (!at || at == name || !at[1] || at[1] == '0' || strlen(at + 1) > 10)
        return 0;
    long v = 0;
    for (const char *p = at + 1; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        v = v * 10 + (*p - '0');
    }
    if (v >= 2147483648L)
        return 0;
    if (task && n) {
        size_t k = KVB_MIN((size_t)(at - name), n - 1);
        memcpy(task, name, k);
        task[k] = 0;
    }
    if (length)
        *length = v;
    return 1;
}

double kvb_task_score_of(const char *metric, double total, long n)
{
    if (kvb_metric_is_ruler(metric)) /* constants.py: sum([...]) / len(preds) * 100 */
        return kvb_py_round(total / (double)n * 100, 2);
    return kvb_py_round(100.0 * total / (double)n, 2); /* eval.py: 100 * total_score / len */
}
