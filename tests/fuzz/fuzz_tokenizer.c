/* libFuzzer harness for lib/tokenizer: the input's first byte picks a tokenizer (the three
 * shared tokenizer.json files and a tiny one built from the input itself), the rest is text
 * to encode; the ids are decoded again (with and without special tokens) and stream-decoded.
 * Built by `make fuzz` (tests/fuzz/Makefile); the seeds in tests/fuzz/corpus/tokenizer/ are
 * replayed by `make test`. Runs from the repository root (reads ../shared/tokenizers). */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"

static kvb_tokenizer *toks[3];

static void load_once(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    const char *paths[3] = { "../shared/tokenizers/llama3-8b", "../shared/tokenizers/llama2-7b",
                             "../shared/tokenizers/mistral-7b" };
    for (int i = 0; i < 3; i++) {
        kvb_error e;
        if (kvb_tokenizer_load_path(&toks[i], paths[i], &e))
            fprintf(stderr, "fuzz_tokenizer: %s\n", e.msg);
    }
}

/* Bytes as a tokenizer.json: the loader must refuse or accept it without crashing. */
static void fuzz_loader(const uint8_t *data, size_t size)
{
    char path[64];
    int fd;
    if (!kvb_fuzz_as_file(data, size, path, sizeof(path), &fd))
        return;
    kvb_tokenizer *t = NULL;
    kvb_error e;
    if (!kvb_tokenizer_load_hf(&t, path, &e)) {
        kvb_ids ids;
        kvb_ids_init(&ids);
        kvb_tokenizer_encode(t, "Hello <s> world 123", 19, 1, &ids, &e);
        kvb_ids_release(&ids);
        kvb_tokenizer_free(t);
    }
    close(fd);
}

/* libFuzzer calls this once before the first input, outside the per-input timeout: loading the
 * three real tokenizers takes >10 s under ASan on a loaded machine (reported as a timeout). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    load_once();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    load_once();
    unsigned which = data[0] % 4;
    data++;
    size--;
    if (which == 3) {
        fuzz_loader(data, size);
        return 0;
    }
    kvb_tokenizer *t = toks[which];
    if (!t)
        return 0;
    kvb_ids ids;
    kvb_ids_init(&ids);
    kvb_error e;
    if (kvb_tokenizer_encode(t, (const char *)data, size, 1, &ids, &e))
        abort(); /* encoding never fails on any bytes (short of memory) */
    for (int skip = 0; skip < 2; skip++) {
        kvb_strbuf out;
        kvb_strbuf_init(&out);
        if (kvb_tokenizer_decode(t, ids.ids, ids.n, skip, &out, &e))
            abort();
        if (kvb_utf8_valid_prefix(out.buf ? out.buf : "", out.len) != out.len)
            abort(); /* decoded text is always valid UTF-8 */
        kvb_strbuf_release(&out);
    }
    kvb_detok_stream s;
    kvb_detok_stream_init(&s, t, 1);
    kvb_strbuf acc;
    kvb_strbuf_init(&acc);
    for (size_t i = 0; i < ids.n && i < 64; i++)
        kvb_detok_stream_push(&s, ids.ids[i], &acc, &e);
    kvb_detok_stream_flush(&s, &acc, &e);
    kvb_strbuf_release(&acc);
    kvb_detok_stream_release(&s);
    kvb_ids_release(&ids);
    return 0;
}
