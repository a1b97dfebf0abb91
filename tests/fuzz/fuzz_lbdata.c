/* libFuzzer harness: a LongBench record file (.jsonl, or gzip-compressed: detected by magic) on
 * arbitrary bytes, strict and with bad lines skipped; the same bytes as a zip archive holding
 * data/<task>.jsonl. Accepted records must have the fields the pipeline dereferences. */
#include "fuzz.h"

#include "longbench/data.h"

#include <stdlib.h>

static void check(const kvb_lb_dataset *ds)
{
    if (ds->n == 0)
        abort(); /* an empty dataset is an error, never a success */
    for (size_t i = 0; i < ds->n; i++) {
        const kvb_lb_record *r = &ds->recs[i];
        if (!r->id || !r->input || !r->context || (r->n_answers && !r->answers))
            abort();
        for (int a = 0; a < r->n_answers; a++)
            if (!r->answers[a])
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd;
    if (!kvb_fuzz_as_file(data, size, path, sizeof(path), &fd))
        return 0;
    for (int skip = 0; skip < 2; skip++) {
        kvb_lb_dataset ds;
        kvb_error e;
        if (kvb_lb_data_load(path, "hotpotqa", skip, &ds, &e) == 0) {
            check(&ds);
            kvb_lb_dataset_release(&ds);
        }
    }
    char *out = NULL;
    size_t len = 0;
    kvb_error e;
    if (kvb_lb_zip_read(path, "data/hotpotqa.jsonl", &out, &len, &e) == 0)
        free(out);
    close(fd);
    return 0;
}
