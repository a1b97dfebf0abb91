/* libFuzzer harness: bytes as a tokenizer.json (HF tokenizers format) through the loader; an
 * accepted tokenizer then encodes and decodes a fixed nasty text, and must round-trip its ids
 * through decode without error and with valid UTF-8 output. */
#include "fuzz.h"

#include "tokenizer/tokenizer.h"

#include <stdlib.h>
#include <string.h>

static const char text[] = "Hello <s> world 123 \xc3\xa9t\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87  \t\n"
                           "<|eot_id|>[INST] x\xf0\x9f\x98\x80y \xff\xfe end";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd;
    if (!kvb_fuzz_as_file(data, size, path, sizeof(path), &fd))
        return 0;
    kvb_tokenizer *t = NULL;
    kvb_error e;
    if (kvb_tokenizer_load_hf(&t, path, &e) == 0) {
        kvb_ids ids;
        kvb_ids_init(&ids);
        if (kvb_tokenizer_encode(t, text, sizeof(text) - 1, 1, &ids, &e))
            abort(); /* a loaded tokenizer encodes any bytes */
        for (size_t i = 0; i < ids.n; i++)
            if (ids.ids[i] < 0 || ids.ids[i] >= kvb_tokenizer_vocab_size(t))
                abort();
        kvb_strbuf out;
        kvb_strbuf_init(&out);
        if (kvb_tokenizer_decode(t, ids.ids, ids.n, 0, &out, &e) == 0 &&
            kvb_utf8_valid_prefix(out.buf ? out.buf : "", out.len) != out.len)
            abort();
        kvb_strbuf_release(&out);
        kvb_tokenizer_token_id(t, "<s>");
        kvb_tokenizer_bos(t);
        kvb_tokenizer_eos(t);
        kvb_ids_release(&ids);
        kvb_tokenizer_free(t);
    }
    close(fd);
    return 0;
}
