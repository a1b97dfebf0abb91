/* The suite table of `kvbench run` (suites.h). Adding a suite: its const kvb_suite in its own
 * module (lib/<suite>/, see lib/longbench/suite.c for the two here) and one line below, at the
 * place in the run order its tasks should take; --tasks names it claims must be claimed by no
 * suite above it. */
#include "suites/suites.h"

#include "longbench/source.h"
#include "ruler/source.h"

const kvb_suite *const kvb_suite_table[] = {
    &kvb_lb_suite,   /* LongBench: en16, all, e, zh and the 21 task keys */
    &kvb_niah_suite, /* the needle test: niah */
    &kvb_ruler_suite, /* RULER: ruler and its 13 task names */
    NULL,
};
