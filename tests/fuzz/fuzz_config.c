/* libFuzzer harness: an HF config.json (bytes as JSON) through the config parser and validator. */
#include "fuzz.h"

#include "model/model_impl.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *j = kvb_json_parse_limited((const char *)data, size);
    if (!j)
        return 0;
    kvb_model_config c;
    memset(&c, 0, sizeof(c));
    kvb_error e;
    if (kvb_config_from_json(&c, j, "config.json", &e) == 0 &&
        kvb_config_validate(&c, "config.json", &e) == 0) {
        kvb_config_adopt_known(&c, "fuzz");
        /* a validated config must give finite, positive sizes */
        if (kvb_model_kv_bytes_per_token(&c) == 0)
            abort();
    }
    cJSON_Delete(j);
    return 0;
}
