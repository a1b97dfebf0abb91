/* libFuzzer harness: the depth-limited JSON loader and typed getters (every config file). */
#include "fuzz.h"

#include <cjson/cJSON.h>

#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd;
    if (!kvb_fuzz_as_file(data, size, path, sizeof(path), &fd))
        return 0;
    cJSON *j;
    kvb_error e;
    if (kvb_json_load(path, 1 << 20, &j, &e) == 0) {
        long long i;
        double d;
        const char *s;
        kvb_json_get_int(j, "num_hidden_layers", 1, 1000, &i, path, &e);
        kvb_json_get_num(j, "rope_theta", &d, path, &e);
        kvb_json_get_str(j, "model_type", &s, path, &e);
        cJSON_Delete(j);
    }
    close(fd);
    return 0;
}
