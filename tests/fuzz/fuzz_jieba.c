/* libFuzzer harness: the jieba segmenter on arbitrary bytes (invalid UTF-8 included); the
 * tokens it reports must tile the input. */
#include "fuzz.h"

#include <stdlib.h>

#include "text/jieba.h"

static kvb_jieba *seg;

static void count_bytes(const char *tok, size_t len, void *arg)
{
    (void)tok;
    *(size_t *)arg += len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!seg && kvb_jieba_load(&seg, NULL, NULL))
        abort(); /* the dictionary must be installed (make deps) */
    size_t covered = 0;
    kvb_error e;
    if (kvb_jieba_cut(seg, (const char *)data, size, count_bytes, &covered, &e) == 0 &&
        covered != size)
        abort();
    return 0;
}
