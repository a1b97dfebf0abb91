/* libFuzzer harness: the LongBench prediction-file reader and scorer on arbitrary bytes, as every
 * task (the file name decides the task in eval; here each task in turn). */
#include "fuzz.h"

#include "longbench/score.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd;
    if (!kvb_fuzz_as_file(data, size, path, sizeof(path), &fd))
        return 0;
    for (int i = 0; i < kvb_task_count(); i++) {
        const kvb_task *t = kvb_task_at(i);
        kvb_pred_file f;
        kvb_error e;
        if (kvb_pred_file_load(path, t, i & 1, &f, &e) == 0) {
            kvb_task_score s;
            if (kvb_score_pred_file(&f, NULL, 1, &s, &e) == 0)
                kvb_task_score_release(&s);
            kvb_pred_file_release(&f);
        }
    }
    close(fd);
    return 0;
}
