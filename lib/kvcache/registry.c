/* The table of cache methods. Adding one: declare its struct here and add one line to the table
 * (canonical names, in the order `kvbench list` prints them). See kvcache_impl.h. */
#include "kvcache_impl.h"

extern const struct kvb_cache_method kvb_cache_method_full;

const struct kvb_cache_method *const kvb_cache_methods[] = {
    &kvb_cache_method_full,
};

const int kvb_cache_n_methods = (int)(sizeof(kvb_cache_methods) / sizeof(kvb_cache_methods[0]));
