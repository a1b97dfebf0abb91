/* Where kvbench finds things outside the binary: its home and configs/ directory, and the Hugging
 * Face hub cache. Each rule is written here once (see core.h); the loaders only call these. */
#include "core.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- kvbench home and configs/ ------------------------------------------------------------- */
static char g_home[PATH_MAX];

static int has_configs(const char *dir)
{
    char p[PATH_MAX + 32];
    snprintf(p, sizeof(p), "%s/configs/models", dir);
    return kvb_is_dir(p);
}

const char *kvb_config_home(void)
{
    if (g_home[0])
        return g_home;
    const char *env = getenv("KVBENCH_HOME");
    if (env && *env) {
        snprintf(g_home, sizeof(g_home), "%s", env);
        return g_home;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = 0;
        for (int up = 0; up < 3; up++) {
            char *slash = strrchr(exe, '/');
            if (!slash)
                break;
            *slash = 0;
            if (up > 0 && has_configs(exe)) {
                snprintf(g_home, sizeof(g_home), "%s", exe);
                return g_home;
            }
        }
    }
    if (has_configs("."))
        return snprintf(g_home, sizeof(g_home), "."), g_home;
    return NULL;
}

const char *kvb_configs_dir(const char *sub, char *buf, size_t n)
{
    const char *env = getenv("KVBENCH_CONFIGS");
    if (env && *env) {
        int k = snprintf(buf, n, "%s/%s", env, sub);
        if (k > 0 && (size_t)k < n && kvb_is_dir(buf))
            return buf;
    }
    const char *home = kvb_config_home();
    if (home) {
        int k = snprintf(buf, n, "%s/configs/%s", home, sub);
        if (k > 0 && (size_t)k < n && kvb_is_dir(buf))
            return buf;
    }
    return NULL;
}

/* ---- the Hugging Face hub cache ------------------------------------------------------------ */
int kvb_hf_hub_cache(int i, char *buf, size_t n)
{
    static const char *const var[] = { "HF_HUB_CACHE", "HF_HOME", "HOME" };
    static const char *const tail[] = { "", "/hub", "/.cache/huggingface/hub" };
    if (i < 0 || i >= 3)
        return -1;
    const char *v = getenv(var[i]);
    if (!v || !*v)
        return 0;
    int k = snprintf(buf, n, "%s%s", v, tail[i]);
    return k > 0 && (size_t)k < n;
}
