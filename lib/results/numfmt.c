/* Python- and numpy-compatible number handling, so that kvbench's result.json and scores are
 * byte-identical to what LongBench's eval.py (Python + numpy) writes. */
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
