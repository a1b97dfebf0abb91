/* libFuzzer harness: the run.json reader and validator on arbitrary bytes. */
#include "fuzz.h"

#include "results/results.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd;
    if (!kvb_fuzz_as_file(data, size, path, sizeof(path), &fd))
        return 0;
    kvb_run r;
    kvb_error e;
    kvb_run_load(path, &r, &e); /* initialises r itself */
    kvb_run_release(&r);
    close(fd);
    return 0;
}
