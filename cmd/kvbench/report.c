/* kvbench report RUN... [--md FILE] [--plot DIR]: Markdown table and plots (scripts/plot.py). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "options.h"
#include "results/results.h"
#include "verbs.h"

/* Run argv, stdout/stderr inherited; returns the exit status, 127 when it cannot start. With
 * quiet, the child's output goes to /dev/null. */
static int spawn(char *const *args, int quiet)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return 127;
    if (pid == 0) {
        if (quiet && !freopen("/dev/null", "w", stderr))
            _exit(127);
        if (quiet && !freopen("/dev/null", "w", stdout))
            _exit(127);
        execvp(args[0], args);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 127;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* scripts/plot.py: $KVBENCH_PLOT, next to the binary (bin/../scripts), or under the cwd. */
static char *find_plot_script(void)
{
    const char *env = getenv("KVBENCH_PLOT");
    if (env && *env)
        return strdup(env);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = 0;
        for (int up = 0; up < 2; up++) {
            char *slash = strrchr(exe, '/');
            if (!slash)
                break;
            *slash = 0;
            char cand[PATH_MAX + 32];
            snprintf(cand, sizeof(cand), "%s/scripts/plot.py", exe);
            if (kvb_file_exists(cand))
                return strdup(cand);
        }
    }
    return kvb_file_exists("scripts/plot.py") ? strdup("scripts/plot.py") : NULL;
}

static int plot(char **runs, int n, const char *dir, kvb_error *e)
{
    const char *env = getenv("KVBENCH_PYTHON");
    const char *py = env && *env ? env : "python3";
    char *script = find_plot_script();
    if (!script)
        return kvb_errorf(e, KVB_EUNSUP, "scripts/plot.py not found (set KVBENCH_PLOT to its path)");
    char *check[] = { (char *)py, "-c", "import matplotlib", NULL };
    int st = spawn(check, 1);
    if (st && py != env) {
        /* python3 on PATH may be a pyenv/venv one; `make deps` installs Debian's
         * python3-matplotlib for the system interpreter */
        char *sys_check[] = { "/usr/bin/python3", "-c", "import matplotlib", NULL };
        if (strcmp(py, sys_check[0]) && spawn(sys_check, 1) == 0) {
            py = sys_check[0];
            st = 0;
        }
    }
    if (st) {
        free(script);
        return kvb_errorf(e, KVB_EUNSUP,
                          st == 127 ? "plots need Python 3 (%s not found) with matplotlib; set "
                                      "KVBENCH_PYTHON, or leave out --plot"
                                    : "plots need matplotlib, which %s cannot import: pip install "
                                      "matplotlib (or set KVBENCH_PYTHON to a Python that has it)",
                          py);
    }
    if (kvb_mkdir_p(dir, e)) {
        free(script);
        return e->code;
    }
    char **args = calloc((size_t)n + 6, sizeof(char *));
    if (!args) {
        free(script);
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    }
    int k = 0;
    args[k++] = (char *)py;
    args[k++] = script;
    args[k++] = "--out";
    args[k++] = (char *)dir;
    for (int i = 0; i < n; i++)
        args[k++] = runs[i];
    st = spawn(args, 0);
    free(args);
    free(script);
    if (st)
        return kvb_errorf(e, KVB_EINVAL, "scripts/plot.py failed (exit %d)", st);
    return 0;
}

int cmd_report(int argc, char **argv)
{
    const char *md = NULL, *plot_dir = NULL;
    const struct kvb_option opts[] = {
        KVB_OPT_STR_("md", &md, "FILE", "write the Markdown table to FILE (default: stdout)"),
        KVB_OPT_STR_("plot", &plot_dir, "DIR", "write PNG plots to DIR (scripts/plot.py, matplotlib)"),
        KVB_OPT_END_,
    };
    char **pos = NULL;
    int npos = 0;
    int rc = kvb_parse_options(argc, argv, opts, "kvbench report RUN... [--md FILE] [--plot DIR]",
                               &pos, &npos);
    if (rc) {
        free(pos);
        return rc > 0 ? 0 : 2;
    }
    if (npos < 1) {
        free(pos);
        fprintf(stderr, "kvbench report: error: at least one run expected (see --help)\n");
        return 2;
    }
    kvb_error e = { 0 };
    kvb_run *runs = calloc((size_t)npos, sizeof(*runs));
    kvb_strbuf out;
    kvb_strbuf_init(&out);
    rc = runs ? 0 : kvb_errorf(&e, KVB_ENOMEM, "out of memory");
    for (int i = 0; i < npos && !rc; i++)
        rc = kvb_run_load(pos[i], &runs[i], &e);
    rc = rc ? rc : kvb_report_markdown(runs, (const char *const *)pos, npos, &out, &e);
    if (!rc && md)
        rc = kvb_write_file_atomic(md, out.buf, out.len, &e);
    else if (!rc)
        fputs(out.buf, stdout);
    if (!rc && plot_dir)
        rc = plot(pos, npos, plot_dir, &e);
    for (int i = 0; runs && i < npos; i++)
        kvb_run_release(&runs[i]);
    free(runs);
    free(pos);
    kvb_strbuf_release(&out);
    return rc ? kvb_die(&e) : 0;
}
