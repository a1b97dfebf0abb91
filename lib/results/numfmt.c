/* Python- and numpy-compatible number handling, so that kvbench's result.json and scores are
 * byte-identical to what LongBench's eval.py (Python + numpy) writes. Also the task sets. */
#include "results.h"

#include "core/pynum.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const kvb_bucket_names[KVB_N_BUCKETS] = { "0-4k", "4-8k", "8k+" };

int kvb_bucket_of(double length)
{
    return length < 4000 ? KVB_BUCKET_0_4K : length < 8000 ? KVB_BUCKET_4_8K : KVB_BUCKET_8K_PLUS;
}

double kvb_bucket_score(const double *scores, size_t n)
{
    return n ? kvb_np_round(100 * kvb_np_mean(scores, n), 2) : NAN;
}

static const char *const en16[] = {
    "narrativeqa", "qasper", "multifieldqa_en", "hotpotqa", "2wikimqa", "musique",
    "gov_report", "qmsum", "multi_news", "trec", "triviaqa", "samsum",
    "passage_count", "passage_retrieval_en", "lcc", "repobench-p",
};
static const char *const zh5[] = {
    "multifieldqa_zh", "dureader", "vcsum", "lsht", "passage_retrieval_zh",
};

int kvb_task_in_set(const char *set, const char *task)
{
    int all = !strcmp(set, "all");
    if (!all && strcmp(set, "en16"))
        return 0;
    for (size_t i = 0; i < KVB_ARRAY_SIZE(en16); i++)
        if (!strcmp(en16[i], task))
            return 1;
    if (all)
        for (size_t i = 0; i < KVB_ARRAY_SIZE(zh5); i++)
            if (!strcmp(zh5[i], task))
                return 1;
    return 0;
}
