/* lib/longbench/tasks: task-set specs (en16, all, e, zh, comma lists) over the LongBench v1 task
 * table, which lives in lib/results/tasks.h (the run summary needs the sets too, and lib/results
 * is the lower module). */
#ifndef KVB_LONGBENCH_TASKS_H
#define KVB_LONGBENCH_TASKS_H

#include "core/core.h"
#include "results/tasks.h"

/* Parse a task-set spec: "en16" (default set, 16 tasks), "all" (21), "e" (the 13 LongBench-E
 * tasks), "zh" (the 5 Chinese tasks) or a comma list of task keys and set names ("trec,lcc",
 * "en16,lsht"; a set adds the members not listed yet). On success *out
 * is a newly allocated array of *n table pointers (caller frees the array only); named sets come
 * in table order, comma lists in the order given. Unknown names, empty items and duplicates fail
 * with KVB_EINVAL and a message listing the valid names. */
int kvb_taskset_parse(const char *spec, const kvb_task ***out, int *n, kvb_error *e);

#endif
