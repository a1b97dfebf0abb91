/* lib/tokenizer: the tokenizer stored in a GGUF file (tokenizer.ggml.*). Byte-level BPE
 * vocabularies ("gpt2" model) build the same object as a tokenizer.json would: tokens, merges,
 * control tokens as special added tokens, and the pre-tokenizer that `tokenizer.ggml.pre` names
 * (the regexes llama.cpp and the original tokenizer.json use for that model family). */
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"

static const char *GPT2_REGEX =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char *LLAMA3_REGEX =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* llama.cpp token types */
enum { GGUF_TOK_NORMAL = 1, GGUF_TOK_UNKNOWN = 2, GGUF_TOK_CONTROL = 3,
       GGUF_TOK_USER_DEFINED = 4, GGUF_TOK_UNUSED = 5, GGUF_TOK_BYTE = 6 };

static int add_split(kvb_tokenizer *t, const char *re, enum kvb_split_behavior b, kvb_error *e)
{
    kvb_pretok_step *st = &t->pre[t->n_pre];
    memset(st, 0, sizeof *st);
    st->kind = KVB_PRE_SPLIT;
    st->behavior = b;
    if (!(st->re = kvb_tok_regex(re, strlen(re), 0, e, t->src)))
        return e->code;
    t->n_pre++;
    return 0;
}

/* Pre-tokenizer by tokenizer.ggml.pre (the names llama.cpp's converter writes). */
static int set_pre(kvb_tokenizer *t, const char *pre, kvb_error *e)
{
    if (!pre || !strcmp(pre, "default") || !strcmp(pre, "gpt-2") || !strcmp(pre, "gpt2"))
        return add_split(t, GPT2_REGEX, KVB_SPLIT_ISOLATED, e);
    if (!strcmp(pre, "smollm")) /* SmolLM's tokenizer.json: Digits(individual) + ByteLevel */
        return add_split(t, "\\p{N}", KVB_SPLIT_ISOLATED, e) ||
               add_split(t, GPT2_REGEX, KVB_SPLIT_ISOLATED, e) ? e->code : 0;
    if (!strcmp(pre, "llama3") || !strcmp(pre, "llama-v3") || !strcmp(pre, "llama-bpe"))
        return add_split(t, LLAMA3_REGEX, KVB_SPLIT_ISOLATED, e);
    return kvb_errorf(e, KVB_EUNSUP, "%s: tokenizer.ggml.pre '%s' is not supported (kvbench "
                      "knows default, gpt2, smollm, llama3/llama-bpe)", t->src, pre);
}

static int get_id(const kvb_gguf *g, const char *key, int32_t n_vocab, int32_t *out,
                  kvb_error *e)
{
    const kvb_gguf_kv *kv = kvb_gguf_find(g, key);
    if (!kv)
        return 0;
    uint64_t v;
    if (kvb_gguf_get_u64(g, key, &v, e))
        return e->code;
    if (v >= (uint64_t)n_vocab)
        return kvb_errorf(e, KVB_EINVAL, "%s: %s = %llu is not a token id (vocabulary of %d)",
                          g->path, key, (unsigned long long)v, n_vocab);
    *out = (int32_t)v;
    return 0;
}

static int load_tokens(kvb_tokenizer *t, const kvb_gguf *g, const kvb_gguf_kv *toks,
                       const kvb_gguf_kv *types, kvb_error *e)
{
    char *raw = kvb_malloc(KVB_TOK_MAX_TOKEN_BYTES + 1);
    if (!raw)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    int rc = 0;
    for (uint64_t i = 0; i < toks->arr_n && !rc; i++) {
        const kvb_gguf_str *s = &toks->arr_strs[i];
        int type = GGUF_TOK_NORMAL;
        if (types) {
            int32_t v;
            memcpy(&v, types->arr_data + 4 * i, 4);
            type = v;
        }
        size_t m;
        if (s->len > KVB_TOK_MAX_TOKEN_BYTES) {
            rc = kvb_errorf(e, KVB_EINVAL, "%s: token %llu is %llu bytes long", g->path,
                            (unsigned long long)i, (unsigned long long)s->len);
            break;
        }
        if (kvb_utf8_valid_prefix(s->ptr, s->len) != s->len) {
            rc = kvb_errorf(e, KVB_EINVAL, "%s: token %llu is not valid UTF-8", g->path,
                            (unsigned long long)i);
            break;
        }
        int is_added = type == GGUF_TOK_CONTROL || type == GGUF_TOK_USER_DEFINED;
        /* normal tokens are byte-mapped; control/user-defined tokens are literal text */
        if (!is_added && kvb_tok_unmap_bytelevel(s->ptr, s->len, raw, &m)) {
            rc = kvb_tok_add_token(t, (int32_t)i, raw, m, e);
            if (!rc)
                t->attr[i] |= KVB_TOKA_MAPPED;
        } else
            rc = kvb_tok_add_token(t, (int32_t)i, s->ptr, s->len, e);
        if (!rc && is_added && s->len > 0) {
            kvb_tok_added *a = &t->added[t->n_added++];
            a->id = (int32_t)i;
            a->len = s->len;
            a->content = kvb_malloc(s->len + 1);
            if (!a->content) {
                rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
                break;
            }
            memcpy(a->content, s->ptr, s->len);
            a->content[s->len] = 0;
            a->special = type == GGUF_TOK_CONTROL;
            t->attr[i] |= KVB_TOKA_ADDED | (a->special ? KVB_TOKA_SPECIAL : 0);
        }
    }
    free(raw);
    return rc;
}

static int load_merges(kvb_tokenizer *t, const kvb_gguf *g, const kvb_gguf_kv *mk, kvb_error *e)
{
    /* merges name tokens in their byte-mapped form: map both halves back to bytes */
    int rc = kvb_tok_merges_alloc(t, mk ? mk->arr_n : 0, e);
    if (rc || !mk)
        return rc;
    char *a = kvb_malloc(2 * KVB_TOK_MAX_TOKEN_BYTES + 2);
    if (!a)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    char *b = a + KVB_TOK_MAX_TOKEN_BYTES + 1;
    for (uint64_t r = 0; r < mk->arr_n && !rc; r++) {
        const kvb_gguf_str *s = &mk->arr_strs[r];
        const char *sp = s->len ? memchr(s->ptr, ' ', s->len) : NULL;
        size_t al, bl;
        if (!sp || memchr(sp + 1, ' ', s->len - (size_t)(sp + 1 - s->ptr)) ||
            s->len > KVB_TOK_MAX_TOKEN_BYTES ||
            !kvb_tok_unmap_bytelevel(s->ptr, (size_t)(sp - s->ptr), a, &al) ||
            !kvb_tok_unmap_bytelevel(sp + 1, s->len - (size_t)(sp + 1 - s->ptr), b, &bl)) {
            rc = kvb_errorf(e, KVB_EINVAL, "%s: tokenizer.ggml.merges[%llu] is not two "
                            "byte-level tokens separated by one space", g->path,
                            (unsigned long long)r);
            break;
        }
        int32_t li = kvb_tok_lookup(t, a, al), ri = kvb_tok_lookup(t, b, bl);
        memcpy(a + al, b, bl);
        int32_t mi = kvb_tok_lookup(t, a, al + bl);
        if (li < 0 || ri < 0 || mi < 0) {
            rc = kvb_errorf(e, KVB_EINVAL, "%s: tokenizer.ggml.merges[%llu] '%.*s' names a token "
                            "that is not in the vocabulary", g->path, (unsigned long long)r,
                            (int)KVB_MIN(s->len, 60), s->ptr);
            break;
        }
        kvb_tok_merge_add(t, li, ri, (int32_t)r, mi);
    }
    free(a);
    return rc;
}

int kvb_tokenizer_load_gguf(kvb_tokenizer **out, const struct kvb_gguf *g, kvb_error *e)
{
    *out = NULL;
    const kvb_gguf_kv *toks = kvb_gguf_find(g, "tokenizer.ggml.tokens");
    char *model = kvb_gguf_get_str(g, "tokenizer.ggml.model");
    if (!toks || !model) {
        free(model);
        return kvb_errorf(e, KVB_EINVAL, "%s: no tokenizer (tokenizer.ggml.model/tokens missing)",
                          g->path);
    }
    if (strcmp(model, "gpt2")) {
        int rc = kvb_errorf(e, KVB_EUNSUP, "%s: GGUF tokenizer model '%s' is not supported "
                            "(kvbench reads byte-level BPE 'gpt2' vocabularies; use the HF "
                            "tokenizer.json for sentencepiece models)", g->path, model);
        free(model);
        return rc;
    }
    free(model);
    if (toks->type != KVB_GGUF_ARRAY || toks->arr_type != KVB_GGUF_STRING || toks->arr_n == 0 ||
        toks->arr_n > KVB_TOK_MAX_VOCAB)
        return kvb_errorf(e, KVB_EINVAL, "%s: tokenizer.ggml.tokens is not an array of 1..%d "
                          "strings", g->path, KVB_TOK_MAX_VOCAB);
    const kvb_gguf_kv *types = kvb_gguf_find(g, "tokenizer.ggml.token_type");
    if (types && (types->type != KVB_GGUF_ARRAY || types->arr_type != KVB_GGUF_INT32 ||
                  types->arr_n != toks->arr_n))
        return kvb_errorf(e, KVB_EINVAL, "%s: tokenizer.ggml.token_type is not an int32 array "
                          "as long as the tokens", g->path);
    const kvb_gguf_kv *mk = kvb_gguf_find(g, "tokenizer.ggml.merges");
    if (mk && (mk->type != KVB_GGUF_ARRAY || mk->arr_type != KVB_GGUF_STRING ||
               mk->arr_n > KVB_TOK_MAX_MERGES))
        return kvb_errorf(e, KVB_EINVAL, "%s: tokenizer.ggml.merges is not an array of strings",
                          g->path);
    kvb_tokenizer *t = kvb_tok_new(g->path);
    if (!t)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    int rc = 0;
    t->byte_level = 1;
    /* SmolLM2's vocabulary lacks a few control bytes (0x04, 0x13, 0x14, ...): like transformers'
     * GGUF tokenizer, a run of such bytes becomes one unknown token */
    t->fuse_unk = 1;
    t->added = kvb_calloc(toks->arr_n, sizeof *t->added);
    if (!t->added)
        rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
    if (!rc)
        rc = load_tokens(t, g, toks, types, e);
    if (!rc)
        rc = kvb_tok_hash_build(t, e);
    if (!rc)
        rc = load_merges(t, g, mk, e);
    char *pre = kvb_gguf_get_str(g, "tokenizer.ggml.pre");
    if (!rc)
        rc = set_pre(t, pre, e);
    free(pre);
    if (!rc) {
        t->dec[t->n_dec++].kind = KVB_DEC_BYTELEVEL;
        rc = get_id(g, "tokenizer.ggml.bos_token_id", t->n_vocab, &t->bos_id, e);
    }
    if (!rc)
        rc = get_id(g, "tokenizer.ggml.eos_token_id", t->n_vocab, &t->eos_id, e);
    if (!rc)
        rc = get_id(g, "tokenizer.ggml.unknown_token_id", t->n_vocab, &t->unk_id, e);
    const kvb_gguf_kv *ab = kvb_gguf_find(g, "tokenizer.ggml.add_bos_token");
    t->file_adds_bos = ab && ab->type == KVB_GGUF_BOOL && ab->v.u;
    if (!rc)
        rc = kvb_tok_finalize(t, e);
    if (rc) {
        kvb_tokenizer_free(t);
        return rc;
    }
    *out = t;
    return 0;
}
