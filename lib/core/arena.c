/* Arena: one block per request, bump allocation, one reset frees it all. */
#include "core.h"

#include <stdlib.h>

int kvb_arena_init(kvb_arena *a, size_t size, kvb_error *e)
{
    a->used = a->peak = 0;
    a->size = size;
    a->base = NULL;
    if (size > KVB_ALLOC_LIMIT || posix_memalign((void **)&a->base, 64, size ? size : 64))
        return kvb_errorf(e, KVB_ENOMEM, "cannot allocate a %zu-byte arena", size);
    return 0;
}

void *kvb_arena_alloc(kvb_arena *a, size_t n)
{
    size_t start = (a->used + 63) & ~(size_t)63;
    if (start > a->size || n > a->size - start)
        return NULL;
    a->used = start + n;
    if (a->used > a->peak)
        a->peak = a->used;
    return a->base + start;
}

void kvb_arena_reset(kvb_arena *a) { a->used = 0; }

void kvb_arena_release(kvb_arena *a)
{
    free(a->base);
    a->base = NULL;
    a->size = a->used = 0;
}
