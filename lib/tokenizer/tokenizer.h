/* lib/tokenizer: Hugging Face tokenizer.json BPE (byte-level and sentencepiece-style) and GGUF
 * vocabularies, producing ids identical to HF tokenizers; chat templates per family. */
#ifndef KVB_TOKENIZER_H
#define KVB_TOKENIZER_H

#include "core/core.h"

struct kvb_gguf;
typedef struct kvb_tokenizer kvb_tokenizer;

typedef struct kvb_ids {
    int32_t *ids;
    size_t n, cap;
} kvb_ids;
void kvb_ids_init(kvb_ids *v);
int kvb_ids_push(kvb_ids *v, int32_t id);
void kvb_ids_release(kvb_ids *v);

/* path: a directory holding tokenizer.json (+ tokenizer_config.json), or a tokenizer.json file. */
int kvb_tokenizer_load_hf(kvb_tokenizer **t, const char *path, kvb_error *e);
int kvb_tokenizer_load_gguf(kvb_tokenizer **t, const struct kvb_gguf *g, kvb_error *e);
/* path: a .gguf file, a tokenizer.json file, or a directory holding tokenizer.json (or else
 * exactly one .gguf file). A directory with neither fails with "<dir>: no tokenizer ..."
 * (KVB_EINVAL). */
int kvb_tokenizer_load_path(kvb_tokenizer **t, const char *path, kvb_error *e);
void kvb_tokenizer_free(kvb_tokenizer *t);
const char *kvb_tokenizer_source(const kvb_tokenizer *t); /* the file it was loaded from */

/* Encode UTF-8 text (any bytes accepted: invalid UTF-8 is first replaced by U+FFFD exactly as
 * Python's bytes.decode('utf-8', errors='replace'); special-token strings match as special
 * tokens, as HF does by default).
 * add_bos: prepend the model's BOS (1) or not (0). Appends to out. */
int kvb_tokenizer_encode(const kvb_tokenizer *t, const char *text, size_t len, int add_bos,
                         kvb_ids *out, kvb_error *e);
/* Decode ids to text; skip_special drops special/control tokens. Appends to out. */
int kvb_tokenizer_decode(const kvb_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                         kvb_strbuf *out, kvb_error *e);

/* Decode as transformers' tokenizer.decode(ids, skip_special_tokens=...) does, which is how
 * LongBench's pred.py turns output ids into a prediction: kvb_tokenizer_decode, then
 * transformers' clean_up_tokenization (" ." -> ".", " 's" -> "'s", ...) when the
 * tokenizer_config.json sets clean_up_tokenization_spaces (Llama-3's does; Llama-2's, Mistral's
 * and GGUF files do not). Appends to out. */
/* decode, then clean_up_tokenization when `cleanup` (" ." -> ".", " ?" -> "?", " !" -> "!",
 * " ," -> ",", " ' " -> "'", " n't" -> "n't", " 'm", " 's", " 've", " 're" likewise, in that order as
 * str.replace does) whatever the tokenizer's config says. Appends to out. */
int kvb_tokenizer_decode_clean(const kvb_tokenizer *t, const int32_t *ids, size_t n,
                               int skip_special, int cleanup, kvb_strbuf *out, kvb_error *e);
int kvb_tokenizer_decode_hf(const kvb_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                            kvb_strbuf *out, kvb_error *e);
int kvb_tokenizer_cleans_up_spaces(const kvb_tokenizer *t);
/* transformers' clean_up_tokenization on s[from..] in place. */
int kvb_tokenizer_clean_up_spaces(kvb_strbuf *s, size_t from);

int kvb_tokenizer_vocab_size(const kvb_tokenizer *t);
int32_t kvb_tokenizer_bos(const kvb_tokenizer *t); /* -1 if none */
int32_t kvb_tokenizer_eos(const kvb_tokenizer *t);
/* Whether the file itself asks for BOS: HF tokenizer.json whose post-processor prepends it
 * (Llama-2, Mistral: 1; the early Llama-3 file: 0), GGUF tokenizer.ggml.add_bos_token (SmolLM2: 0).
 * kvb_tokenizer_encode's add_bos decides; this only reports the file's default. */
int kvb_tokenizer_file_adds_bos(const kvb_tokenizer *t);
/* The one BOS rule: whether text encoded for a model gets BOS prepended, as HF's tokenizer(text)
 * does (add_special_tokens=True), for every verb (run's prompts, the needle test, generate).
 * t loaded from a tokenizer.json (NULL: none): the file decides, kvb_tokenizer_file_adds_bos.
 * Otherwise (a GGUF vocabulary, or no tokenizer) the model family's HF tokenizer does: chat
 * template llama2, llama3 or mistral, or a model name with llama/Llama/mistral/Mistral and without
 * smol/Smol: 1; chatml byte-level BPE tokenizers (SmolLM2, Qwen): 0. */
int kvb_tokenizer_default_add_bos(const kvb_tokenizer *t, const char *chat_template,
                                  const char *model_name);
int32_t kvb_tokenizer_token_id(const kvb_tokenizer *t, const char *token); /* -1 if absent */
int kvb_tokenizer_is_special(const kvb_tokenizer *t, int32_t id);

/* Streaming decode: feed ids one by one; emits only complete UTF-8 characters. */
typedef struct kvb_detok_stream {
    const kvb_tokenizer *t;
    int skip_special;
    kvb_ids ids;       /* all ids so far */
    size_t emitted;    /* bytes of decoded text already emitted */
} kvb_detok_stream;
void kvb_detok_stream_init(kvb_detok_stream *s, const kvb_tokenizer *t, int skip_special);
/* Appends the newly completed text to out. */
int kvb_detok_stream_push(kvb_detok_stream *s, int32_t id, kvb_strbuf *out, kvb_error *e);
/* At the end of the stream: emits whatever was held back (a trailing U+FFFD). */
int kvb_detok_stream_flush(kvb_detok_stream *s, kvb_strbuf *out, kvb_error *e);
void kvb_detok_stream_release(kvb_detok_stream *s);

/* Chat templates: "llama2", "llama3", "mistral", "chatml", "none". Wraps a user prompt the way
 * the family does (see specs A.6); the result is text to encode (with add_bos as the family
 * wants: kvb_chat_template_adds_bos). */
int kvb_chat_template_apply(const char *family, const char *prompt, kvb_strbuf *out, kvb_error *e);
int kvb_chat_template_valid(const char *family);
/* 1 when text from this template is encoded with BOS prepended (all but chatml, whose text
 * starts with <|im_start|>, SmolLM2's BOS). */
int kvb_chat_template_adds_bos(const char *family);

#endif
