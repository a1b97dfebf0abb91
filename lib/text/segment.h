/* lib/text/segment: the jieba segmenter behind the Chinese metrics, loaded on first use, so
 * that scoring English tasks never needs jieba's dictionary (and never pays for loading it). */
#ifndef KVB_TEXT_SEGMENT_H
#define KVB_TEXT_SEGMENT_H

#include <pthread.h>

#include "text/jieba.h"
#include "text/text.h" /* kvb_segmenter */

typedef struct kvb_lazy_jieba {
    pthread_mutex_t mu;
    int tried;
    kvb_jieba *j;
    kvb_error err; /* why loading failed */
    char *dir;     /* NULL: $KVBENCH_JIEBA_DIR, else jieba.h's default */
} kvb_lazy_jieba;

/* dir_or_NULL is copied. Loading happens inside the first cut; a failed load fails every cut
 * with KVB_EUNSUP "zh tasks need the jieba segmenter: <why>". Safe to share between threads. */
int kvb_lazy_jieba_init(kvb_lazy_jieba *lj, const char *dir_or_NULL);
void kvb_lazy_jieba_release(kvb_lazy_jieba *lj);
kvb_segmenter kvb_lazy_jieba_segmenter(kvb_lazy_jieba *lj);

#endif
