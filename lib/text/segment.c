/* Lazily loaded jieba behind the kvb_segmenter interface of the metrics. */
#include "text/segment.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int kvb_lazy_jieba_init(kvb_lazy_jieba *lj, const char *dir_or_NULL)
{
    memset(lj, 0, sizeof(*lj));
    if (dir_or_NULL && !(lj->dir = kvb_strdup(dir_or_NULL)))
        return KVB_ENOMEM;
    pthread_mutex_init(&lj->mu, NULL);
    return 0;
}

void kvb_lazy_jieba_release(kvb_lazy_jieba *lj)
{
    kvb_jieba_free(lj->j);
    free(lj->dir);
    pthread_mutex_destroy(&lj->mu);
    memset(lj, 0, sizeof(*lj));
}

static int lazy_cut(const void *ctx, const char *text, size_t len, kvb_seg_tok_fn cb, void *arg,
                    kvb_error *e)
{
    /* the segmenter interface passes a const context; loading is this object's private state */
    kvb_lazy_jieba *lj = (kvb_lazy_jieba *)(uintptr_t)ctx;
    pthread_mutex_lock(&lj->mu);
    if (!lj->tried) {
        lj->tried = 1;
        if (kvb_jieba_load(&lj->j, lj->dir, &lj->err))
            lj->j = NULL;
    }
    pthread_mutex_unlock(&lj->mu);
    if (!lj->j)
        return kvb_errorf(e, KVB_EUNSUP, "zh tasks need the jieba segmenter: %s (install python3-jieba or set KVBENCH_JIEBA_DIR)",
                          lj->err.msg);
    return kvb_jieba_cut(lj->j, text, len, cb, arg, e);
}

kvb_segmenter kvb_lazy_jieba_segmenter(kvb_lazy_jieba *lj)
{
    kvb_segmenter s = { lazy_cut, lj };
    return s;
}
