/* lib/tokenizer: Hugging Face tokenizer.json (+ tokenizer_config.json) loader. Every field is
 * checked before use; anything outside what kvbench implements (Unigram, WordPiece, NFC, ...)
 * is refused by name instead of being silently misread. */
#include "tok_internal.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

typedef struct ld {
    kvb_tokenizer *t;
    const char *file;
    kvb_error *e;
} ld;

static const char *GPT2_REGEX =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static int bad(ld *l, const char *what)
{
    return kvb_errorf(l->e, KVB_EINVAL, "%s: %s", l->file, what);
}

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

static int get_bool(const cJSON *o, const char *k, int def)
{
    const cJSON *v = get(o, k);
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v);
    return def;
}

static const char *get_type(const cJSON *o)
{
    const cJSON *v = get(o, "type");
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int dupstr(ld *l, const char *s, char **out, size_t *n)
{
    *n = strlen(s);
    *out = kvb_strdup(s);
    return *out ? 0 : kvb_errorf(l->e, KVB_ENOMEM, "%s: out of memory", l->file);
}

/* {"String": s} or {"Regex": r}: a compiled regex (a String compiles as a literal). */
static int pattern(ld *l, const cJSON *p, const char *where, pcre2_code **re, const char **str)
{
    const cJSON *s = get(p, "String"), *r = get(p, "Regex");
    if (str)
        *str = NULL;
    if (cJSON_IsString(s)) {
        if (str)
            *str = s->valuestring;
        *re = kvb_tok_regex(s->valuestring, strlen(s->valuestring), 1, l->e, l->file);
    } else if (cJSON_IsString(r)) {
        *re = kvb_tok_regex(r->valuestring, strlen(r->valuestring), 0, l->e, l->file);
    } else {
        return kvb_errorf(l->e, KVB_EINVAL, "%s: %s: 'pattern' must be {\"String\": ...} or "
                          "{\"Regex\": ...}", l->file, where);
    }
    return *re ? 0 : l->e->code;
}

/* ---- normalizer ------------------------------------------------------------------------- */
static int add_normalizer(ld *l, const cJSON *n)
{
    kvb_tokenizer *t = l->t;
    if (!n || cJSON_IsNull(n))
        return 0;
    const char *ty = get_type(n);
    if (!ty)
        return bad(l, "normalizer without a 'type'");
    if (!strcmp(ty, "Sequence")) {
        const cJSON *list = get(n, "normalizers"), *x;
        if (!cJSON_IsArray(list))
            return bad(l, "normalizer Sequence: 'normalizers' is not an array");
        cJSON_ArrayForEach(x, list) {
            int rc = add_normalizer(l, x);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (t->n_norm >= KVB_TOK_MAX_STEPS)
        return bad(l, "too many normalizers");
    kvb_norm_step *st = &t->norm[t->n_norm];
    memset(st, 0, sizeof *st);
    if (!strcmp(ty, "Prepend")) {
        const cJSON *p = get(n, "prepend");
        if (!cJSON_IsString(p))
            return bad(l, "normalizer Prepend: 'prepend' is not a string");
        st->kind = KVB_NORM_PREPEND;
        if (dupstr(l, p->valuestring, &st->a, &st->alen))
            return l->e->code;
    } else if (!strcmp(ty, "Replace")) {
        const cJSON *c = get(n, "content");
        const char *lit;
        if (!cJSON_IsString(c))
            return bad(l, "normalizer Replace: 'content' is not a string");
        st->kind = KVB_NORM_REPLACE;
        if (pattern(l, get(n, "pattern"), "normalizer Replace", &st->re, &lit))
            return l->e->code;
        if (lit) { /* plain strings go through memmem, not the regex engine */
            pcre2_code_free(st->re);
            st->re = NULL;
            if (dupstr(l, lit, &st->a, &st->alen))
                return l->e->code;
        }
        if (dupstr(l, c->valuestring, &st->b, &st->blen))
            return l->e->code;
    } else {
        return kvb_errorf(l->e, KVB_EUNSUP, "%s: normalizer '%s' is not supported (kvbench "
                          "implements Sequence, Prepend, Replace)", l->file, ty);
    }
    t->n_norm++;
    return 0;
}

/* ---- pre-tokenizer ---------------------------------------------------------------------- */
static int behavior(ld *l, const cJSON *b, enum kvb_split_behavior *out)
{
    static const char *names[] = { "Removed", "Isolated", "MergedWithPrevious",
                                   "MergedWithNext", "Contiguous" };
    if (!cJSON_IsString(b))
        return bad(l, "pre_tokenizer Split: 'behavior' is not a string");
    for (int i = 0; i < 5; i++)
        if (!strcmp(b->valuestring, names[i])) {
            *out = (enum kvb_split_behavior)i;
            return 0;
        }
    return kvb_errorf(l->e, KVB_EINVAL, "%s: pre_tokenizer Split: unknown behavior '%s'",
                      l->file, b->valuestring);
}

static int prepend_scheme(ld *l, const cJSON *o)
{
    const cJSON *ps = get(o, "prepend_scheme");
    if (cJSON_IsString(ps)) {
        if (!strcmp(ps->valuestring, "always")) return 2;
        if (!strcmp(ps->valuestring, "first")) return 1;
        if (!strcmp(ps->valuestring, "never")) return 0;
        kvb_errorf(l->e, KVB_EINVAL, "%s: Metaspace: unknown prepend_scheme '%s'", l->file,
                   ps->valuestring);
        return -1;
    }
    return get_bool(o, "add_prefix_space", 1) ? 2 : 0; /* files older than prepend_scheme */
}

static int add_pretok(ld *l, const cJSON *p)
{
    kvb_tokenizer *t = l->t;
    if (!p || cJSON_IsNull(p))
        return 0;
    const char *ty = get_type(p);
    if (!ty)
        return bad(l, "pre_tokenizer without a 'type'");
    if (!strcmp(ty, "Sequence")) {
        const cJSON *list = get(p, "pretokenizers"), *x;
        if (!cJSON_IsArray(list))
            return bad(l, "pre_tokenizer Sequence: 'pretokenizers' is not an array");
        cJSON_ArrayForEach(x, list) {
            int rc = add_pretok(l, x);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (t->n_pre >= KVB_TOK_MAX_STEPS)
        return bad(l, "too many pre_tokenizers");
    kvb_pretok_step *st = &t->pre[t->n_pre];
    memset(st, 0, sizeof *st);
    if (!strcmp(ty, "Split")) {
        st->kind = KVB_PRE_SPLIT;
        if (behavior(l, get(p, "behavior"), &st->behavior) ||
            pattern(l, get(p, "pattern"), "pre_tokenizer Split", &st->re, NULL))
            return l->e->code;
        st->invert = get_bool(p, "invert", 0);
    } else if (!strcmp(ty, "ByteLevel")) {
        st->kind = KVB_PRE_BYTELEVEL;
        st->add_prefix_space = get_bool(p, "add_prefix_space", 1);
        st->behavior = KVB_SPLIT_ISOLATED;
        if (get_bool(p, "use_regex", 1) &&
            !(st->re = kvb_tok_regex(GPT2_REGEX, strlen(GPT2_REGEX), 0, l->e, l->file)))
            return l->e->code;
        t->byte_level = 1;
    } else if (!strcmp(ty, "Digits")) {
        st->kind = KVB_PRE_DIGITS;
        int ind = get_bool(p, "individual_digits", 0);
        st->behavior = ind ? KVB_SPLIT_ISOLATED : KVB_SPLIT_CONTIGUOUS;
        /* HF tests char::is_numeric, i.e. general category N */
        if (!(st->re = kvb_tok_regex("\\p{N}", 5, 0, l->e, l->file)))
            return l->e->code;
    } else if (!strcmp(ty, "Metaspace")) {
        const cJSON *r = get(p, "replacement");
        st->kind = KVB_PRE_METASPACE;
        if (!cJSON_IsString(r) || !r->valuestring[0])
            return bad(l, "pre_tokenizer Metaspace: 'replacement' is not a string");
        if (dupstr(l, r->valuestring, &st->replacement, &st->rlen))
            return l->e->code;
        if ((st->prepend = prepend_scheme(l, p)) < 0)
            return l->e->code;
        st->split = get_bool(p, "split", 1);
        st->behavior = KVB_SPLIT_MERGED_NEXT;
        if (!(st->re = kvb_tok_regex(st->replacement, st->rlen, 1, l->e, l->file)))
            return l->e->code;
    } else {
        return kvb_errorf(l->e, KVB_EUNSUP, "%s: pre_tokenizer '%s' is not supported (kvbench "
                          "implements Sequence, Split, ByteLevel, Digits, Metaspace)", l->file, ty);
    }
    t->n_pre++;
    return 0;
}

/* ---- decoder ---------------------------------------------------------------------------- */
static int add_decoder(ld *l, const cJSON *d)
{
    kvb_tokenizer *t = l->t;
    if (!d || cJSON_IsNull(d))
        return 0;
    const char *ty = get_type(d);
    if (!ty)
        return bad(l, "decoder without a 'type'");
    if (!strcmp(ty, "Sequence")) {
        const cJSON *list = get(d, "decoders"), *x;
        if (!cJSON_IsArray(list))
            return bad(l, "decoder Sequence: 'decoders' is not an array");
        cJSON_ArrayForEach(x, list) {
            int rc = add_decoder(l, x);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (t->n_dec >= KVB_TOK_MAX_STEPS)
        return bad(l, "too many decoders");
    kvb_dec_step *st = &t->dec[t->n_dec];
    memset(st, 0, sizeof *st);
    if (!strcmp(ty, "Replace")) {
        const cJSON *p = get(get(d, "pattern"), "String"), *c = get(d, "content");
        if (!cJSON_IsString(p) || !cJSON_IsString(c))
            return kvb_errorf(l->e, KVB_EUNSUP, "%s: decoder Replace: only a String pattern and "
                              "string content are supported", l->file);
        st->kind = KVB_DEC_REPLACE;
        if (dupstr(l, p->valuestring, &st->a, &st->alen) ||
            dupstr(l, c->valuestring, &st->b, &st->blen))
            return l->e->code;
    } else if (!strcmp(ty, "ByteFallback")) {
        st->kind = KVB_DEC_BYTEFALLBACK;
    } else if (!strcmp(ty, "Fuse")) {
        st->kind = KVB_DEC_FUSE;
    } else if (!strcmp(ty, "Strip")) {
        const cJSON *c = get(d, "content"), *a = get(d, "start"), *b = get(d, "stop");
        if (!cJSON_IsString(c) || !cJSON_IsNumber(a) || !cJSON_IsNumber(b) ||
            a->valuedouble < 0 || a->valuedouble > 1e6 || b->valuedouble < 0 ||
            b->valuedouble > 1e6)
            return bad(l, "decoder Strip: needs a string 'content' and counts 'start', 'stop'");
        st->kind = KVB_DEC_STRIP;
        uint32_t cp = 0;
        size_t cl = strlen(c->valuestring);
        if (cl == 0 ||
            kvb_text_utf8_decode(c->valuestring, cl, &cp, KVB_TEXT_UTF8_REPLACE) != cl)
            return bad(l, "decoder Strip: 'content' must be one character");
        st->strip_char = cp;
        st->start = (int)a->valuedouble;
        st->stop = (int)b->valuedouble;
    } else if (!strcmp(ty, "ByteLevel")) {
        st->kind = KVB_DEC_BYTELEVEL;
    } else if (!strcmp(ty, "Metaspace")) {
        const cJSON *r = get(d, "replacement");
        if (!cJSON_IsString(r) || !r->valuestring[0])
            return bad(l, "decoder Metaspace: 'replacement' is not a string");
        st->kind = KVB_DEC_METASPACE;
        if (dupstr(l, r->valuestring, &st->a, &st->alen))
            return l->e->code;
        int ps = prepend_scheme(l, d);
        if (ps < 0)
            return l->e->code;
        st->start = ps != 0;
    } else {
        return kvb_errorf(l->e, KVB_EUNSUP, "%s: decoder '%s' is not supported (kvbench "
                          "implements Sequence, Replace, ByteFallback, Fuse, Strip, ByteLevel, "
                          "Metaspace)", l->file, ty);
    }
    t->n_dec++;
    return 0;
}

/* ---- model ------------------------------------------------------------------------------ */
static int load_vocab(ld *l, const cJSON *model)
{
    const cJSON *vocab = get(model, "vocab"), *x;
    if (!cJSON_IsObject(vocab))
        return bad(l, "model.vocab is missing or not an object");
    int n = cJSON_GetArraySize(vocab);
    if (n <= 0 || n > KVB_TOK_MAX_VOCAB)
        return kvb_errorf(l->e, KVB_EINVAL, "%s: model.vocab has %d entries (expected 1..%d)",
                          l->file, n, KVB_TOK_MAX_VOCAB);
    cJSON_ArrayForEach(x, vocab) {
        if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble >= KVB_TOK_MAX_VOCAB ||
            x->valuedouble != (double)(int32_t)x->valuedouble)
            return kvb_errorf(l->e, KVB_EINVAL, "%s: model.vocab['%.60s'] is not a token id in "
                              "[0, %d)", l->file, x->string, KVB_TOK_MAX_VOCAB);
        int32_t id = (int32_t)x->valuedouble;
        if (id < l->t->n_vocab && l->t->tok_len[id] != UINT32_MAX)
            return kvb_errorf(l->e, KVB_EINVAL, "%s: model.vocab: id %d given twice", l->file,
                              id);
        int rc = kvb_tok_add_token(l->t, id, x->string, strlen(x->string), l->e);
        if (rc)
            return rc;
    }
    return 0;
}

/* Merges as "left right" strings or ["left", "right"] pairs; rank = position. */
static int load_merges(ld *l, const cJSON *model)
{
    kvb_tokenizer *t = l->t;
    const cJSON *merges = get(model, "merges"), *x;
    if (!merges || cJSON_IsNull(merges))
        merges = NULL;
    else if (!cJSON_IsArray(merges))
        return bad(l, "model.merges is not an array");
    int n = merges ? cJSON_GetArraySize(merges) : 0;
    int rc = kvb_tok_merges_alloc(t, (size_t)n, l->e);
    if (rc)
        return kvb_error_prefix(l->e, "%s", l->file);
    kvb_strbuf cat;
    kvb_strbuf_init(&cat);
    int rank = 0;
    if (merges) {
        cJSON_ArrayForEach(x, merges) {
            const char *a, *b;
            size_t al, bl;
            char *sp = NULL;
            if (cJSON_IsString(x)) {
                a = x->valuestring;
                sp = strchr(a, ' ');
                if (!sp || strchr(sp + 1, ' ')) {
                    rc = kvb_errorf(l->e, KVB_EINVAL, "%s: model.merges[%d] '%.60s' is not "
                                    "two tokens separated by one space", l->file, rank, a);
                    break;
                }
                al = (size_t)(sp - a);
                b = sp + 1;
                bl = strlen(b);
            } else if (cJSON_IsArray(x) && cJSON_GetArraySize(x) == 2 &&
                       cJSON_IsString(cJSON_GetArrayItem(x, 0)) &&
                       cJSON_IsString(cJSON_GetArrayItem(x, 1))) {
                a = cJSON_GetArrayItem(x, 0)->valuestring;
                b = cJSON_GetArrayItem(x, 1)->valuestring;
                al = strlen(a);
                bl = strlen(b);
            } else {
                rc = kvb_errorf(l->e, KVB_EINVAL, "%s: model.merges[%d] is neither a string nor "
                                "a pair of strings", l->file, rank);
                break;
            }
            int32_t li = kvb_tok_lookup(t, a, al), ri = kvb_tok_lookup(t, b, bl);
            cat.len = 0;
            if (kvb_strbuf_add(&cat, a, al) || kvb_strbuf_add(&cat, b, bl)) {
                rc = kvb_errorf(l->e, KVB_ENOMEM, "%s: out of memory", l->file);
                break;
            }
            int32_t mi = kvb_tok_lookup(t, cat.buf, cat.len);
            if (li < 0 || ri < 0 || mi < 0) {
                const char *which = li < 0 ? a : ri < 0 ? b : cat.buf;
                int wl = (int)(li < 0 ? al : ri < 0 ? bl : cat.len);
                rc = kvb_errorf(l->e, KVB_EINVAL, "%s: model.merges[%d] names token '%.*s' "
                                "that is not in model.vocab", l->file, rank, KVB_MIN(wl, 60),
                                which);
                break;
            }
            kvb_tok_merge_add(t, li, ri, rank, mi);
            rank++;
        }
    }
    kvb_strbuf_release(&cat);
    return rc;
}

static int load_model(ld *l, const cJSON *root)
{
    kvb_tokenizer *t = l->t;
    const cJSON *model = get(root, "model");
    if (!cJSON_IsObject(model))
        return bad(l, "'model' is missing or not an object");
    const char *ty = get_type(model);
    if (ty && strcmp(ty, "BPE"))
        return kvb_errorf(l->e, KVB_EUNSUP, "%s: model type '%s' is not supported (kvbench "
                          "implements BPE only)", l->file, ty);
    if (!ty && !get(model, "merges"))
        return bad(l, "model has no 'type' and no 'merges': not a BPE model");
    const cJSON *cp = get(model, "continuing_subword_prefix"), *ew = get(model,
                                                                        "end_of_word_suffix");
    const cJSON *dr = get(model, "dropout");
    if ((cp && !cJSON_IsNull(cp) && !(cJSON_IsString(cp) && !cp->valuestring[0])) ||
        (ew && !cJSON_IsNull(ew) && !(cJSON_IsString(ew) && !ew->valuestring[0])))
        return kvb_errorf(l->e, KVB_EUNSUP, "%s: BPE with continuing_subword_prefix or "
                          "end_of_word_suffix is not supported", l->file);
    if (dr && !cJSON_IsNull(dr) && !(cJSON_IsNumber(dr) && dr->valuedouble == 0))
        return kvb_errorf(l->e, KVB_EUNSUP, "%s: BPE dropout is not supported", l->file);
    t->byte_fallback = get_bool(model, "byte_fallback", 0);
    t->fuse_unk = get_bool(model, "fuse_unk", 0);
    t->ignore_merges = get_bool(model, "ignore_merges", 0);
    int rc = load_vocab(l, model);
    if (!rc)
        rc = kvb_tok_hash_build(t, l->e); /* file-form lookups for the merges */
    if (!rc)
        rc = load_merges(l, model);
    if (rc)
        return rc;
    const cJSON *unk = get(model, "unk_token");
    if (cJSON_IsString(unk)) {
        t->unk_id = kvb_tok_lookup(t, unk->valuestring, strlen(unk->valuestring));
        if (t->unk_id < 0)
            return kvb_errorf(l->e, KVB_EINVAL, "%s: model.unk_token '%.60s' is not in "
                              "model.vocab", l->file, unk->valuestring);
    }
    return 0;
}

static int load_added(ld *l, const cJSON *root)
{
    kvb_tokenizer *t = l->t;
    const cJSON *list = get(root, "added_tokens"), *x;
    if (!list || cJSON_IsNull(list))
        return 0;
    if (!cJSON_IsArray(list))
        return bad(l, "'added_tokens' is not an array");
    int n = cJSON_GetArraySize(list);
    if (n > KVB_TOK_MAX_VOCAB)
        return bad(l, "too many added_tokens");
    t->added = kvb_calloc((size_t)n + 1, sizeof *t->added);
    if (!t->added)
        return kvb_errorf(l->e, KVB_ENOMEM, "%s: out of memory", l->file);
    int i = 0;
    cJSON_ArrayForEach(x, list) {
        const cJSON *id = get(x, "id"), *c = get(x, "content");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= KVB_TOK_MAX_VOCAB ||
            id->valuedouble != (double)(int32_t)id->valuedouble || !cJSON_IsString(c) ||
            !c->valuestring[0])
            return kvb_errorf(l->e, KVB_EINVAL, "%s: added_tokens[%d] needs an integer 'id' in "
                              "[0, %d) and a non-empty string 'content'", l->file, i,
                              KVB_TOK_MAX_VOCAB);
        kvb_tok_added *a = &t->added[t->n_added];
        a->id = (int32_t)id->valuedouble;
        if (dupstr(l, c->valuestring, &a->content, &a->len))
            return l->e->code;
        if (a->len > KVB_TOK_MAX_TOKEN_BYTES)
            return kvb_errorf(l->e, KVB_EINVAL, "%s: added_tokens[%d] is too long", l->file, i);
        a->lstrip = (unsigned char)get_bool(x, "lstrip", 0);
        a->rstrip = (unsigned char)get_bool(x, "rstrip", 0);
        a->single_word = (unsigned char)get_bool(x, "single_word", 0);
        a->normalized = (unsigned char)get_bool(x, "normalized", 0);
        a->special = (unsigned char)get_bool(x, "special", 0);
        t->n_added++;
        i++;
    }
    return 0;
}

/* The added tokens' own strings (HF decodes an added id to its content) and attributes. */
static int register_added(ld *l)
{
    kvb_tokenizer *t = l->t;
    for (int k = 0; k < t->n_added; k++) {
        kvb_tok_added *a = &t->added[k];
        char raw[KVB_TOK_MAX_TOKEN_BYTES + 1];
        size_t m;
        int rc, mapped = t->byte_level && kvb_tok_unmap_bytelevel(a->content, a->len, raw, &m);
        if (mapped)
            rc = kvb_tok_add_token(t, a->id, raw, m, l->e);
        else
            rc = kvb_tok_add_token(t, a->id, a->content, a->len, l->e);
        if (rc)
            return rc;
        t->attr[a->id] = (uint8_t)((t->attr[a->id] & ~KVB_TOKA_MAPPED) |
                                   KVB_TOKA_ADDED | (a->special ? KVB_TOKA_SPECIAL : 0) |
                                   (mapped ? KVB_TOKA_MAPPED : 0));
    }
    return 0;
}

/* Byte-level vocabularies: token strings become the raw bytes they stand for, so the BPE model
 * and the decoder work on bytes (a token with a character outside the map stays as is, which
 * is what HF's ByteLevel decoder does with it). */
static int unmap_vocab(ld *l)
{
    kvb_tokenizer *t = l->t;
    char *old = t->pool;
    uint32_t *offs = kvb_malloc((size_t)t->n_vocab * sizeof *offs);
    char *raw = kvb_malloc(KVB_TOK_MAX_TOKEN_BYTES + 1);
    if (!offs || !raw) {
        free(offs);
        free(raw);
        return kvb_errorf(l->e, KVB_ENOMEM, "%s: out of memory", l->file);
    }
    memcpy(offs, t->tok_off, (size_t)t->n_vocab * sizeof *offs);
    t->pool = NULL;
    t->pool_len = t->pool_cap = 0;
    int rc = 0;
    for (int32_t id = 0; id < t->n_vocab && !rc; id++) {
        if (t->tok_len[id] == UINT32_MAX)
            continue;
        const char *s = old + offs[id];
        size_t n = t->tok_len[id], m;
        uint8_t attr = t->attr[id];
        int mapped = kvb_tok_unmap_bytelevel(s, n, raw, &m);
        rc = mapped ? kvb_tok_add_token(t, id, raw, m, l->e) : kvb_tok_add_token(t, id, s, n, l->e);
        t->attr[id] = (uint8_t)(attr | (mapped ? KVB_TOKA_MAPPED : 0));
    }
    free(old);
    free(offs);
    free(raw);
    return rc;
}

/* BOS/EOS: tokenizer_config.json names them (string or AddedToken object); else the first
 * special token of a TemplateProcessing post-processor is taken as BOS. */
static int32_t config_token(kvb_tokenizer *t, const cJSON *cfg, const char *key)
{
    const cJSON *v = get(cfg, key);
    if (cJSON_IsObject(v))
        v = get(v, "content");
    if (!cJSON_IsString(v))
        return -1;
    return kvb_tokenizer_token_id(t, v->valuestring);
}

static void load_post(kvb_tokenizer *t, const cJSON *root)
{
    const cJSON *pp = get(root, "post_processor");
    const char *ty = get_type(pp);
    if (!ty || strcmp(ty, "TemplateProcessing"))
        return;
    const cJSON *first = cJSON_GetArrayItem(get(pp, "single"), 0);
    const cJSON *sp = get(get(first, "SpecialToken"), "id");
    if (!cJSON_IsString(sp))
        return;
    const cJSON *ids = get(get(get(pp, "special_tokens"), sp->valuestring), "ids");
    const cJSON *id0 = cJSON_GetArrayItem(ids, 0);
    if (cJSON_IsNumber(id0) && id0->valuedouble >= 0 && id0->valuedouble < t->n_vocab) {
        t->file_adds_bos = 1;
        if (t->bos_id < 0)
            t->bos_id = (int32_t)id0->valuedouble;
    }
}

int kvb_tokenizer_load_hf(kvb_tokenizer **out, const char *path, kvb_error *e)
{
    *out = NULL;
    char *file = kvb_is_dir(path) ? kvb_path_join(path, "tokenizer.json") : kvb_strdup(path);
    if (!file)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    cJSON *root = NULL, *cfg = NULL;
    int rc = kvb_json_load(file, KVB_TOK_MAX_FILE, &root, e);
    kvb_tokenizer *t = rc ? NULL : kvb_tok_new(file);
    if (!rc && !t)
        rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
    ld l = { t, file, e };
    if (!rc && !cJSON_IsObject(root))
        rc = bad(&l, "not a JSON object");
    if (!rc)
        rc = load_model(&l, root);
    if (!rc)
        rc = load_added(&l, root);
    if (!rc)
        rc = add_normalizer(&l, get(root, "normalizer"));
    if (!rc)
        rc = add_pretok(&l, get(root, "pre_tokenizer"));
    if (!rc)
        rc = add_decoder(&l, get(root, "decoder"));
    if (!rc && t->byte_level)
        rc = unmap_vocab(&l);
    if (!rc)
        rc = register_added(&l);
    if (!rc)
        rc = kvb_tok_finalize(t, e);
    if (!rc) {
        /* tokenizer_config.json beside tokenizer.json: BOS/EOS names and decode cleanup */
        char *dir = kvb_strdup(file);
        char *slash = dir ? strrchr(dir, '/') : NULL;
        char *cf = NULL;
        if (slash) {
            *slash = 0;
            cf = kvb_path_join(dir, "tokenizer_config.json");
        } else if (dir) {
            cf = kvb_strdup("tokenizer_config.json");
        }
        if (cf && kvb_file_exists(cf)) {
            rc = kvb_json_load(cf, 64 << 20, &cfg, e);
            if (!rc && !cJSON_IsObject(cfg))
                rc = kvb_errorf(e, KVB_EINVAL, "%s: not a JSON object", cf);
        }
        if (!rc && cfg) {
            t->bos_id = config_token(t, cfg, "bos_token");
            t->eos_id = config_token(t, cfg, "eos_token");
            t->clean_up_spaces = get_bool(cfg, "clean_up_tokenization_spaces", 0);
        }
        free(cf);
        free(dir);
        if (!rc)
            load_post(t, root);
    }
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    free(file);
    if (rc) {
        kvb_tokenizer_free(t);
        return rc;
    }
    *out = t;
    return 0;
}
