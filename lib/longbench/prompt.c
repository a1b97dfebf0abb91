/* LongBench prompt templates: loading and str.format-style substitution. */
#include "longbench/prompt.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "longbench/data.h"

int kvb_lb_template_load(const char *dir, const char *task, char **tmpl, kvb_error *e)
{
    *tmpl = NULL;
    char found[PATH_MAX];
    if (!dir)
        dir = kvb_configs_dir("longbench", found, sizeof(found));
    if (!dir)
        return kvb_errorf(e, KVB_EIO, "configs/longbench not found (set KVBENCH_CONFIGS to the "
                                      "configs directory)");
    char *path = kvb_path_join(dir, "dataset2prompt.json");
    cJSON *j;
    int rc = kvb_json_load(path, 1 << 20, &j, e);
    if (rc) {
        free(path);
        return rc;
    }
    char key[128];
    size_t tl = strlen(task);
    if (tl > 2 && !strcmp(task + tl - 2, "_e"))
        tl -= 2;
    if (tl >= sizeof(key))
        tl = sizeof(key) - 1;
    memcpy(key, task, tl);
    key[tl] = 0;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!t || !cJSON_IsString(t))
        rc = kvb_errorf(e, KVB_EINVAL, "%s: no prompt template for task '%s'", path, key);
    else
        *tmpl = kvb_strdup(t->valuestring);
    cJSON_Delete(j);
    free(path);
    return rc;
}

/* ---- str.format -------------------------------------------------------------------------- */

int kvb_lb_format(const char *tmpl, const kvb_lb_record *r, kvb_strbuf *out, kvb_error *e)
{
    for (const char *p = tmpl; *p;) {
        if (*p == '{' && p[1] == '{') {
            kvb_strbuf_add(out, "{", 1);
            p += 2;
        } else if (*p == '}' && p[1] == '}') {
            kvb_strbuf_add(out, "}", 1);
            p += 2;
        } else if (*p == '}') {
            return kvb_errorf(e, KVB_EINVAL, "prompt template: single '}' encountered");
        } else if (*p == '{') {
            const char *end = strchr(p + 1, '}');
            if (!end)
                return kvb_errorf(e, KVB_EINVAL, "prompt template: single '{' encountered");
            size_t n = (size_t)(end - p - 1);
            char num[32];
            const char *val = NULL;
            size_t vlen = (size_t)-1;
#define FIELD(name) (n == strlen(name) && !strncmp(p + 1, name, n))
            if (FIELD("context"))
                val = r->context, vlen = r->context_len;
            else if (FIELD("input"))
                val = r->input, vlen = r->input_len;
            else if (FIELD("_id"))
                val = r->id;
            else if (FIELD("dataset"))
                val = r->dataset;
            else if (FIELD("language"))
                val = r->language;
            else if (FIELD("length")) {
                snprintf(num, sizeof(num), "%lld", r->length);
                val = num;
            }
#undef FIELD
            if (!val)
                return kvb_errorf(e, KVB_EINVAL, "prompt template: unknown field {%.*s}",
                                  (int)KVB_MIN(n, 64), p + 1);
            kvb_strbuf_add(out, val, vlen == (size_t)-1 ? strlen(val) : vlen);
            p = end + 1;
        } else {
            const char *q = p;
            while (*q && *q != '{' && *q != '}')
                q++;
            kvb_strbuf_add(out, p, (size_t)(q - p));
            p = q;
        }
    }
    return 0;
}

/* ---- prompt ids ---------------------------------------------------------------------------- */

/* The chat template around `body` (which may hold NUL bytes): the template is applied to a marker
 * and the body spliced in at the marker, so the family's wrapping applies verbatim. */
#define CHAT_MARK "\x01kvbench-prompt\x01"
static int chat_wrap(const char *family, const char *body, size_t n, kvb_strbuf *out, kvb_error *e)
{
    kvb_strbuf t;
    kvb_strbuf_init(&t);
    int rc = kvb_chat_template_apply(family, CHAT_MARK, &t, e);
    const char *m = rc ? NULL : strstr(t.buf ? t.buf : "", CHAT_MARK);
    if (!rc && !m)
        rc = kvb_errorf(e, KVB_EINVAL, "chat template %s dropped the prompt", family);
    if (!rc) {
        kvb_strbuf_add(out, t.buf, (size_t)(m - t.buf));
        kvb_strbuf_add(out, body, n);
        kvb_strbuf_adds(out, m + strlen(CHAT_MARK));
    }
    kvb_strbuf_release(&t);
    return rc;
}

int kvb_lb_prompt_ids(const kvb_tokenizer *t, const char *prompt, size_t len,
                      const kvb_lb_prompt_opts *o, kvb_ids *out, int *truncated, kvb_error *e)
{
    kvb_ids ids;
    kvb_strbuf text, chat;
    kvb_ids_init(&ids);
    kvb_strbuf_init(&text);
    kvb_strbuf_init(&chat);
    *truncated = 0;
    /* 1. tokenizer(prompt, truncation=False) with its default special tokens */
    int rc = kvb_tokenizer_encode(t, prompt, len, o->add_bos, &ids, e);
    if (rc)
        goto out;
    const char *body = prompt;
    size_t blen = len;
    /* 2. middle truncation: half = int(max_length/2); both halves decoded without special
     *    tokens (the BOS inside the first half disappears) and concatenated as text */
    if (o->max_length > 0 && ids.n > (size_t)o->max_length) {
        size_t half = (size_t)(o->max_length / 2);
        if ((rc = kvb_tokenizer_decode_clean(t, ids.ids, half, 1, o->cleanup_spaces, &text, e)))
            goto out;
        kvb_strbuf second;
        kvb_strbuf_init(&second);
        rc = kvb_tokenizer_decode_clean(t, ids.ids + ids.n - half, half, 1, o->cleanup_spaces, &second, e);
        if (!rc)
            kvb_strbuf_add(&text, second.buf ? second.buf : "", second.len);
        kvb_strbuf_release(&second);
        if (rc)
            goto out;
        body = text.buf ? text.buf : "";
        blen = text.len;
        *truncated = 1;
    }
    /* 3. chat template on the (possibly truncated) text, then re-tokenize */
    if (o->chat_family && strcmp(o->chat_family, "none") != 0) {
        if ((rc = chat_wrap(o->chat_family, body, blen, &chat, e)))
            goto out;
        body = chat.buf ? chat.buf : "";
        blen = chat.len;
    }
    rc = kvb_tokenizer_encode(t, body, blen, o->add_bos, out, e);
out:
    kvb_ids_release(&ids);
    kvb_strbuf_release(&text);
    kvb_strbuf_release(&chat);
    return rc;
}

int kvb_lb_newline_id(const kvb_tokenizer *t, int32_t *id, kvb_error *e)
{
    kvb_ids v;
    kvb_ids_init(&v);
    int rc = kvb_tokenizer_encode(t, "\n", 1, 0, &v, e);
    if (rc == 0 && v.n == 0)
        rc = kvb_errorf(e, KVB_EINVAL, "tokenizer encodes \"\\n\" to no token");
    if (rc == 0)
        *id = v.ids[v.n - 1];
    kvb_ids_release(&v);
    return rc;
}

int kvb_lb_prompt_setup(const kvb_model_config *cfg, const kvb_tokenizer *tok, const char *chat,
                        int max_length, kvb_lb_prompt_opts *po, kvb_error *e)
{
    po->chat_family = chat ? chat : cfg->chat_template;
    if (!strcmp(po->chat_family, "none") || !*po->chat_family)
        po->chat_family = NULL;
    else if (!kvb_chat_template_valid(po->chat_family))
        return kvb_errorf(e, KVB_EINVAL, "--chat-template %s: unknown family (llama2, llama3, "
                                         "mistral, chatml, none)", po->chat_family);
    /* BOS and decode clean-up as HF does with the model's tokenizer files; from the model family
     * when it came from a GGUF */
    po->add_bos = kvb_tokenizer_default_add_bos(tok, cfg->chat_template, cfg->name);
    po->cleanup_spaces = tok ? kvb_tokenizer_cleans_up_spaces(tok) : 0;
    po->max_length = max_length > 0 ? max_length : cfg->longbench_max_length;
    if (po->max_length <= 0)
        return kvb_errorf(e, KVB_EINVAL, "%s: no LongBench prompt budget in its config; pass "
                                         "--max-length N", cfg->name);
    return 0;
}
