/* The CUDA device model's description from a kvb_model_config: plain data, no CUDA symbol, so
 * it lives in the CPU library and its unit test (tests/unit/test_model_device.c) runs on every
 * machine. The weight pointers are the backend's business (backend_cuda.c). */
#include "model/backend.h"

#include <string.h>

#include "../../kernels/kvb_cuda.h" /* the struct alone; kernels/ is not on the CPU include path */

int kvb_cuda_max_tokens(const kvb_model_config *c)
{
    return c->max_position < KVB_CUDA_MAX_TOKENS ? c->max_position : KVB_CUDA_MAX_TOKENS;
}

void kvb_cuda_desc_from_config(const kvb_model_config *c, int max_tokens,
                               struct kvb_cuda_model_desc *d)
{
    memset(d, 0, sizeof(*d));
    d->n_layers = c->n_layers;
    d->n_heads = c->n_heads;
    d->n_kv_heads = c->n_kv_heads;
    d->head_dim = c->head_dim;
    d->hidden = c->hidden;
    d->intermediate = c->intermediate;
    d->vocab = c->vocab;
    d->max_tokens = max_tokens;
    d->rms_eps = (float)c->rms_eps;
    d->rope_theta = c->rope_theta;
    /* llama3 scaling as the CPU forward applies it (factor 0 = none: same inv_freq both sides) */
    d->rope_factor = c->rope_factor;
    d->rope_low_freq_factor = c->rope_low_freq_factor;
    d->rope_high_freq_factor = c->rope_high_freq_factor;
    d->rope_original_max_position = c->rope_original_max_position;
    d->tie_embeddings = c->tie_embeddings;
}
