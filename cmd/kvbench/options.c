/* Option parsing shared by every verb. */
#include "options.h"

#include <stdlib.h>
#include <string.h>

void kvb_print_usage(FILE *f, const struct kvb_option *opts, const char *usage)
{
    fprintf(f, "usage: %s\n\n", usage);
    for (const struct kvb_option *o = opts; o && o->name; o++) {
        char left[64];
        if (o->type == KVB_OPT_FLAG)
            snprintf(left, sizeof(left), "--%s", o->name);
        else
            snprintf(left, sizeof(left), "--%s %s", o->name, o->argname ? o->argname : "X");
        fprintf(f, "    %-26s %s\n", left, o->help ? o->help : "");
    }
    fprintf(f, "    %-26s %s\n", "--help", "show this help");
}

static const struct kvb_option *find_option(const struct kvb_option *opts, const char *name,
                                            size_t len)
{
    for (const struct kvb_option *o = opts; o && o->name; o++)
        if (strlen(o->name) == len && !strncmp(o->name, name, len))
            return o;
    return NULL;
}

static int set_value(const struct kvb_option *o, const char *val, const char *verb)
{
    switch (o->type) {
    case KVB_OPT_STR:
        *(const char **)o->value = val;
        return 0;
    case KVB_OPT_INT: {
        long lo = o->lo == o->hi ? -2147483647L : (long)o->lo;
        long hi = o->lo == o->hi ? 2147483647L : (long)o->hi;
        long v;
        if (kvb_parse_long(val, lo, hi, &v)) {
            fprintf(stderr, "kvbench %s: error: --%s wants an integer in [%ld, %ld], got '%s'\n",
                    verb, o->name, lo, hi, val);
            return -1;
        }
        *(long *)o->value = v;
        return 0;
    }
    case KVB_OPT_DOUBLE: {
        double v;
        if (kvb_parse_double(val, &v) || (o->lo != o->hi && (v < o->lo || v > o->hi))) {
            fprintf(stderr, "kvbench %s: error: --%s wants a number in [%g, %g], got '%s'\n", verb,
                    o->name, o->lo, o->hi, val);
            return -1;
        }
        *(double *)o->value = v;
        return 0;
    }
    default:
        return -1;
    }
}

int kvb_parse_options(int argc, char **argv, const struct kvb_option *opts, const char *usage,
                      char ***pos, int *npos)
{
    const char *verb = argv[0];
    if (pos) {
        *pos = kvb_calloc((size_t)argc + 1, sizeof(char *));
        *npos = 0;
    }
    int only_positional = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_positional || a[0] != '-' || a[1] == 0) {
            if (!pos) {
                fprintf(stderr, "kvbench %s: error: unexpected argument '%s' (see --help)\n", verb, a);
                return -1;
            }
            (*pos)[(*npos)++] = argv[i];
            continue;
        }
        if (!strcmp(a, "--")) {
            only_positional = 1;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            kvb_print_usage(stdout, opts, usage);
            return 1;
        }
        if (a[1] != '-') {
            fprintf(stderr, "kvbench %s: error: unknown option '%s' (see --help)\n", verb, a);
            return -1;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct kvb_option *o = find_option(opts, name, len);
        if (!o) {
            fprintf(stderr, "kvbench %s: error: unknown option '--%.*s' (see --help)\n", verb,
                    (int)len, name);
            return -1;
        }
        if (o->seen)
            *o->seen = 1;
        if (o->type == KVB_OPT_FLAG) {
            if (eq) {
                fprintf(stderr, "kvbench %s: error: --%s takes no value\n", verb, o->name);
                return -1;
            }
            *(int *)o->value = 1;
            continue;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val) {
            fprintf(stderr, "kvbench %s: error: --%s needs a value (%s)\n", verb, o->name,
                    o->argname ? o->argname : "X");
            return -1;
        }
        if (set_value(o, val, verb))
            return -1;
    }
    return 0;
}

int kvb_die(const kvb_error *e)
{
    fprintf(stderr, "kvbench: error: %s\n", e->msg);
    return kvb_exit_status(e->code);
}
