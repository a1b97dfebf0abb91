/* Declarative option tables for the verbs; --help is generated from the table. */
#ifndef KVB_OPTIONS_H
#define KVB_OPTIONS_H

#include "core/core.h"

enum kvb_opt_type {
    KVB_OPT_END = 0,
    KVB_OPT_FLAG,   /* int *, set to 1 */
    KVB_OPT_STR,    /* const char **, points into argv */
    KVB_OPT_INT,    /* long *, range [lo, hi] */
    KVB_OPT_DOUBLE, /* double *, range [lo, hi] */
};

struct kvb_option {
    const char *name; /* long name without dashes */
    enum kvb_opt_type type;
    void *value;
    const char *argname; /* shown in help, e.g. "N" */
    const char *help;
    double lo, hi;       /* for INT and DOUBLE; lo == hi == 0 means unbounded */
    int *seen;           /* optional: set to 1 when the flag was given */
};

#define KVB_OPT_FLAG_(n, v, h) { n, KVB_OPT_FLAG, v, NULL, h, 0, 0, NULL }
#define KVB_OPT_STR_(n, v, a, h) { n, KVB_OPT_STR, v, a, h, 0, 0, NULL }
#define KVB_OPT_INT_(n, v, a, h, lo, hi) { n, KVB_OPT_INT, v, a, h, lo, hi, NULL }
#define KVB_OPT_DOUBLE_(n, v, a, h, lo, hi) { n, KVB_OPT_DOUBLE, v, a, h, lo, hi, NULL }
#define KVB_OPT_END_ { NULL, KVB_OPT_END, NULL, NULL, NULL, 0, 0, NULL }

/* Parse argv[1..] (argv[0] is the verb). Positional arguments are collected into *pos (a
 * pointer array into argv, caller frees the array) when pos != NULL, else refused.
 * Returns 0 to go on, 1 when --help was printed (exit 0), -1 on a usage error (printed, exit 2). */
int kvb_parse_options(int argc, char **argv, const struct kvb_option *opts, const char *usage,
                      char ***pos, int *npos);
void kvb_print_usage(FILE *f, const struct kvb_option *opts, const char *usage);

/* Print "kvbench: error: <msg>" on stderr and return the exit status for the code. */
int kvb_die(const kvb_error *e);

#endif
