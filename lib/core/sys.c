/* Time, memory and machine facts, and the terminal progress bar. */
#include "core.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

double kvb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

size_t kvb_peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru))
        return 0;
    return (size_t)ru.ru_maxrss * 1024;
}

static size_t meminfo_field(const char *name)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    char line[256];
    size_t kb = 0, nlen = strlen(name);
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, name, nlen) && line[nlen] == ':') {
            kb = (size_t)strtoull(line + nlen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb * 1024;
}

size_t kvb_available_memory(void) { return meminfo_field("MemAvailable"); }

void kvb_cpu_name(char *buf, size_t n)
{
    snprintf(buf, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "model name", 10)) {
            char *p = strchr(line, ':');
            if (p) {
                p++;
                while (*p == ' ')
                    p++;
                p[strcspn(p, "\n")] = 0;
                snprintf(buf, n, "%s", p);
            }
            break;
        }
    }
    fclose(f);
}

void kvb_timestamp(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- progress bar ------------------------------------------------------------------------ */

void kvb_progress_begin(kvb_progress *p, const char *label, long total, const char *unit)
{
    memset(p, 0, sizeof(*p));
    p->label = label;
    p->total = total;
    p->t0 = kvb_now();
    p->enabled = isatty(STDERR_FILENO) && !getenv("KVBENCH_NO_PROGRESS");
    snprintf(p->unit, sizeof(p->unit), "%s", unit ? unit : "it");
}

static void format_eta(double s, char *buf, size_t n)
{
    if (s < 0 || s > 1e7) {
        snprintf(buf, n, "--:--");
        return;
    }
    long t = (long)s;
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(buf, n, "%02ld:%02ld", t / 60, t % 60);
}

void kvb_progress_update(kvb_progress *p, long done, const char *extra)
{
    p->done = done;
    if (!p->enabled)
        return;
    double now = kvb_now();
    if (now - p->last_draw < 0.1 && done < p->total)
        return;
    p->last_draw = now;
    double el = now - p->t0, rate = el > 0 ? done / el : 0;
    char eta[32];
    format_eta(rate > 0 ? (p->total - done) / rate : -1, eta, sizeof(eta));
    int width = 24, fill = p->total > 0 ? (int)(width * done / p->total) : 0;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r\033[K%s [%s] %ld/%ld %.2f %s/s ETA %s %s", p->label ? p->label : "", bar,
            done, p->total, rate, p->unit, eta, extra ? extra : "");
    fflush(stderr);
}

void kvb_progress_end(kvb_progress *p)
{
    if (p->enabled) {
        p->last_draw = 0;
        kvb_progress_update(p, p->done, NULL);
        fputc('\n', stderr);
    }
}
