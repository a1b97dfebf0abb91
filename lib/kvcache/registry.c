/* The table of cache methods. Adding one: declare its struct here and add one line to the table
 * (canonical names, in the order `kvbench list` prints them). See kvcache_impl.h. */
#include "kvcache_impl.h"

extern const struct kvb_cache_method kvb_cache_method_full;
extern const struct kvb_cache_method kvb_cache_method_simlayerkv;
extern const struct kvb_cache_method kvb_cache_method_kivi;
extern const struct kvb_cache_method kvb_cache_method_simlayerkv_kivi;
extern const struct kvb_cache_method kvb_cache_method_pyramidkv;
extern const struct kvb_cache_method kvb_cache_method_zigzagkv;
extern const struct kvb_cache_method kvb_cache_method_snapkv;
extern const struct kvb_cache_method kvb_cache_method_streamingllm;
extern const struct kvb_cache_method kvb_cache_method_h2o;
extern const struct kvb_cache_method kvb_cache_method_think;

const struct kvb_cache_method *const kvb_cache_methods[] = {
    &kvb_cache_method_full,
    &kvb_cache_method_simlayerkv,
    &kvb_cache_method_kivi,
    &kvb_cache_method_simlayerkv_kivi,
    &kvb_cache_method_pyramidkv,
    &kvb_cache_method_zigzagkv,
    &kvb_cache_method_snapkv,
    &kvb_cache_method_streamingllm,
    &kvb_cache_method_h2o,
    &kvb_cache_method_think,
};

const int kvb_cache_n_methods = (int)(sizeof(kvb_cache_methods) / sizeof(kvb_cache_methods[0]));
