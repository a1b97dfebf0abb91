/* libFuzzer harness: the safetensors reader (8-byte header length, JSON header, data section) on
 * arbitrary bytes; every tensor's byte range must lie inside the mapped data section. */
#include "fuzz.h"

#include "model/model_impl.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd;
    if (!kvb_fuzz_as_file(data, size, path, sizeof(path), &fd))
        return 0;
    kvb_st_file f;
    kvb_error e;
    if (kvb_st_open(&f, path, &e) == 0) {
        for (int i = 0; i < f.n; i++) {
            const kvb_st_tensor *t = &f.t[i];
            if (t->begin > t->end || t->end > f.data_size)
                abort(); /* a range the reader accepted must be inside the file */
            if (t->end > t->begin) {
                volatile unsigned char a = f.data[t->begin], b = f.data[t->end - 1];
                (void)a;
                (void)b;
            }
            if (kvb_st_find(&f, t->name) == NULL)
                abort();
        }
        kvb_st_find(&f, "model.embed_tokens.weight");
    }
    kvb_st_close(&f);
    close(fd);
    return 0;
}
