/* lib/suites: the suite table of `kvbench run` and the session that runs a run spec over it.
 *
 * The table (suites.c) lists the task suites --tasks is parsed over, in the order they run. The
 * session does, for a kvb_run_spec (lib/runner/suite.h), what `kvbench run` does between its
 * flags and its printing:
 *
 *   kvb_session_open     --tasks over the table (each item to the first suite that claims it),
 *                        each suite's preflight, the run directory's symlink check, the model, the
 *                        prompt settings, the method and its parameters, the memory limit
 *   kvb_session_dry_run  or the plan: model, method, memory guard, one row per task
 *   kvb_session_run      the run directory (--resume) and its fingerprint, run.json's head, then
 *                        every task of every suite through the runner; stops between records
 *                        when *stop is set
 *   kvb_session_finish   run.json's settings, result.json and run.json; the scores' summary
 *
 * Why a module of its own: the session needs the LongBench prompt settings and every suite's
 * entry, so it sits above lib/longbench and lib/ruler, while the runner and the suite interface
 * below them stay suite-neutral.
 *
 * Adding a suite: its entry (a const kvb_suite) in its own module, one line in the table in
 * suites.c, and its flags, if any, as fields of kvb_run_spec and lines of run's option table. */
#ifndef KVB_SUITES_SUITES_H
#define KVB_SUITES_SUITES_H

#include <signal.h>

#include "runner/suite.h"

/* The suites of `kvbench run`, NULL-terminated, in run order. */
extern const kvb_suite *const kvb_suite_table[];

typedef struct kvb_session kvb_session;

int kvb_session_open(kvb_session **s, const kvb_run_spec *spec, kvb_error *e);
/* The plan of a dry run, appended to out. */
int kvb_session_dry_run(kvb_session *s, kvb_strbuf *out, kvb_error *e);
/* Run (or resume) every task; returns 0 with *stop set when a signal ended it between records. */
int kvb_session_run(kvb_session *s, volatile sig_atomic_t *stop, kvb_error *e);
/* Write result.json and run.json; *summary (newly allocated) is result.json's text. */
int kvb_session_finish(kvb_session *s, char **summary, kvb_error *e);
/* The run directory (set by kvb_session_run). */
const char *kvb_session_out_dir(const kvb_session *s);
void kvb_session_free(kvb_session *s);

#endif
