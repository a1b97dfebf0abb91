/* libFuzzer harness: run.json and prediction lines from arbitrary bytes. Invariant: a document the
 * validator accepts is written back (kvb_run_to_json) into a document it accepts again, identical
 * when written a second time; result.json text is produced for it. Pred-line parsing must not
 * crash on anything. */
#include "fuzz.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "results/results.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *doc = kvb_json_parse_limited((const char *)data, size);
    if (!doc)
        return 0;
    long index;
    kvb_run_record rec;
    kvb_error e;
    kvb_pred_get_record(doc, "fuzz", &index, &rec, &e);
    kvb_run r;
    if (kvb_run_from_json(doc, "fuzz", &r, &e) == 0) {
        char *t1 = kvb_run_to_json(&r);
        cJSON *again = kvb_json_parse_limited(t1, strlen(t1));
        kvb_run r2;
        if (!again || kvb_run_from_json(again, "again", &r2, &e) != 0)
            abort(); /* the writer produced something the reader refuses */
        char *t2 = kvb_run_to_json(&r2);
        if (strcmp(t1, t2))
            abort(); /* not a fixed point */
        free(kvb_result_json_text(&r2));
        free(t2);
        kvb_run_release(&r2);
        cJSON_Delete(again);
        free(t1);
        kvb_run_release(&r);
    }
    cJSON_Delete(doc);
    return 0;
}
