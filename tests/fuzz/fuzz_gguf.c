/* libFuzzer harness: the GGUF reader on arbitrary bytes, then every metadata/tensor accessor. */
#include "fuzz.h"

#include "gguf/gguf.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd;
    if (!kvb_fuzz_as_file(data, size, path, sizeof(path), &fd))
        return 0;
    kvb_gguf g;
    kvb_error e;
    if (kvb_gguf_open(&g, path, &e) == 0) {
        for (uint64_t i = 0; i < g.n_tensors; i++) {
            const kvb_gguf_tensor *t = &g.tensors[i];
            /* touch the first and last byte of every tensor: must be inside the map */
            if (t->nbytes) {
                volatile unsigned char a = ((const unsigned char *)t->data)[0];
                volatile unsigned char b = ((const unsigned char *)t->data)[t->nbytes - 1];
                (void)a;
                (void)b;
            }
        }
        uint64_t u;
        double f;
        kvb_gguf_get_u64(&g, "llama.block_count", &u, &e);
        kvb_gguf_get_f64(&g, "llama.rope.freq_base", &f, &e);
        free(kvb_gguf_get_str(&g, "general.architecture"));
        kvb_gguf_close(&g);
    }
    close(fd);
    return 0;
}
