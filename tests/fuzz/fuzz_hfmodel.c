/* libFuzzer harness: an HF model directory built from the input, then opened by kvb_model_open.
 * The input is split at the marker "\n@@\n" into config.json, model.safetensors.index.json and one
 * safetensors shard: with an index the shard is written under every file name the index names
 * (names with '/' are the loader's to refuse), without one as model.safetensors. */
#include "fuzz.h"

#include "model/model.h"

#include <cjson/cJSON.h>

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

static char dir[64];

static void clear_dir(void)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char p[512];
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
            unlink(p);
        }
    closedir(d);
}

static void put(const char *name, const uint8_t *data, size_t n)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f)
        return;
    fwrite(data, 1, n, f);
    fclose(f);
}

/* next part of the input up to the marker; returns its length, advances *at */
static size_t part(const uint8_t *data, size_t size, size_t *at, const uint8_t **out)
{
    static const char mark[] = "\n@@\n";
    *out = data + *at;
    size_t start = *at;
    for (size_t i = start; i + 4 <= size; i++)
        if (!memcmp(data + i, mark, 4)) {
            *at = i + 4;
            return i - start;
        }
    *at = size;
    return size - start;
}

/* shard file names the index maps tensors to (plain names only, as the loader accepts) */
static void put_shards(const uint8_t *idx, size_t n, const uint8_t *shard, size_t sn)
{
    cJSON *j = kvb_json_parse_limited((const char *)idx, n);
    const cJSON *wm = j ? cJSON_GetObjectItemCaseSensitive(j, "weight_map") : NULL, *x;
    int k = 0;
    cJSON_ArrayForEach(x, wm)
    {
        if (k++ > 8)
            break;
        if (cJSON_IsString(x) && x->valuestring[0] && !strchr(x->valuestring, '/') &&
            strlen(x->valuestring) < 200 && strcmp(x->valuestring, ".."))
            put(x->valuestring, shard, sn);
    }
    cJSON_Delete(j);
}

static void remove_dir(void)
{
    clear_dir();
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "/tmp/kvb_fuzz_hf_XXXXXX");
        if (!mkdtemp(dir))
            abort();
        atexit(remove_dir);
    }
    clear_dir();
    size_t at = 0;
    const uint8_t *cfg, *idx, *shard;
    size_t cn = part(data, size, &at, &cfg);
    size_t in = part(data, size, &at, &idx);
    size_t sn = part(data, size, &at, &shard);
    put("config.json", cfg, cn);
    if (in) {
        put("model.safetensors.index.json", idx, in);
        put_shards(idx, in, shard, sn);
    } else
        put("model.safetensors", shard, sn);
    kvb_model *m = NULL;
    kvb_error e;
    kvb_model_opts o = { .threads = 1, .weights_bf16 = 1 };
    if (kvb_model_open(&m, dir, &o, &e) == 0) {
        kvb_model_info info;
        kvb_model_get_info(m, &info);
        kvb_model_free(m);
    }
    return 0;
}
