/* lib/kvcache/params.h (private): the parameter definitions the methods share (name, type, range,
 * what a valid value is, the `kvbench run` help line). A method's table (kvcache_impl.h:
 * kvb_method_param) points at these and adds where the value lives and its default; parsing,
 * validation, errors and JSON are generic (params.c). */
#ifndef KVB_KVCACHE_PARAMS_H
#define KVB_KVCACHE_PARAMS_H

#include "kvcache/kvcache_impl.h"

extern const kvb_param_def kvb_param_budget, kvb_param_window, kvb_param_kernel, kvb_param_pool,
    kvb_param_bits, kvb_param_group, kvb_param_residual, kvb_param_threshold, kvb_param_ratio,
    kvb_param_gqa, kvb_param_beta, kvb_param_sink, kvb_param_recent, kvb_param_tau,
    kvb_param_bmin_ratio, kvb_param_lmba, kvb_param_qwindow, kvb_param_dtype;

/* One table row: parameter `def` stored in field `field` of params struct `type`. */
#define KVB_PARAM(type, def, field, dflt)                                                          \
    { &kvb_param_##def, offsetof(type, field), (dflt), NULL }

#endif
