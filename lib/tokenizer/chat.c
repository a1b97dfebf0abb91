/* lib/tokenizer: chat templates as native code, one per family. The text they produce is
 * encoded with special tokens matched (so "<|eot_id|>" becomes its id) and with BOS prepended
 * when kvb_chat_template_adds_bos says so; BOS is never written as text. */
#include "tok_internal.h"

#include <string.h>

static const char *FAMILIES[] = { "llama2", "llama3", "mistral", "chatml", "none" };

int kvb_chat_template_valid(const char *family)
{
    for (size_t i = 0; i < KVB_ARRAY_SIZE(FAMILIES); i++)
        if (family && !strcmp(family, FAMILIES[i]))
            return 1;
    return 0;
}

/* chatml (SmolLM2's template) starts with <|im_start|>, which is the GGUF's BOS token: no BOS
 * is added in front of it (the GGUF sets add_bos_token false). The others want BOS. */
int kvb_chat_template_adds_bos(const char *family)
{
    return !(family && !strcmp(family, "chatml"));
}

/* Jinja's `trim` (Python str.strip()): Unicode whitespace at both ends. */
static void trim(const char *s, size_t n, size_t *a, size_t *b)
{
    size_t i = 0, j = n;
    while (i < j) {
        uint32_t cp;
        int l = kvb_text_utf8_decode(s + i, j - i, &cp, KVB_TEXT_UTF8_REPLACE);
        if (!kvb_tok_is_whitespace(cp))
            break;
        i += (size_t)l;
    }
    while (j > i) {
        size_t k = j - 1;
        while (k > i && ((unsigned char)s[k] & 0xC0) == 0x80)
            k--;
        uint32_t cp;
        kvb_text_utf8_decode(s + k, j - k, &cp, KVB_TEXT_UTF8_REPLACE);
        if (!kvb_tok_is_whitespace(cp))
            break;
        j = k;
    }
    *a = i;
    *b = j;
}

int kvb_chat_template_apply(const char *family, const char *prompt, kvb_strbuf *out, kvb_error *e)
{
    if (!kvb_chat_template_valid(family))
        return kvb_errorf(e, KVB_EINVAL, "unknown chat template '%s' (llama2, llama3, mistral, "
                          "chatml, none)", family ? family : "(null)");
    size_t n = strlen(prompt);
    int rc = 0;
    if (!strcmp(family, "llama2")) {
        /* LongBench's build_chat: no spaces, no system block; BOS from the tokenizer */
        rc = kvb_strbuf_adds(out, "[INST]") || kvb_strbuf_add(out, prompt, n) ||
             kvb_strbuf_adds(out, "[/INST]");
    } else if (!strcmp(family, "llama3")) {
        /* Meta-Llama-3-Instruct's template for one user message + generation prompt; the
         * template trims the message */
        size_t a, b;
        trim(prompt, n, &a, &b);
        rc = kvb_strbuf_adds(out, "<|start_header_id|>user<|end_header_id|>\n\n") ||
             kvb_strbuf_add(out, prompt + a, b - a) ||
             kvb_strbuf_adds(out, "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
    } else if (!strcmp(family, "mistral")) {
        /* Mistral-7B-Instruct v0.1/v0.2: "[INST] {user} [/INST]" after BOS */
        rc = kvb_strbuf_adds(out, "[INST] ") || kvb_strbuf_add(out, prompt, n) ||
             kvb_strbuf_adds(out, " [/INST]");
    } else if (!strcmp(family, "chatml")) {
        /* SmolLM2-Instruct's template (tokenizer.chat_template in its GGUF): a default system
         * message when none is given, then the user turn and the assistant header */
        rc = kvb_strbuf_adds(out, "<|im_start|>system\nYou are a helpful AI assistant named "
                                  "SmolLM, trained by Hugging Face<|im_end|>\n") ||
             kvb_strbuf_adds(out, "<|im_start|>user\n") || kvb_strbuf_add(out, prompt, n) ||
             kvb_strbuf_adds(out, "<|im_end|>\n<|im_start|>assistant\n");
    } else {
        rc = kvb_strbuf_add(out, prompt, n);
    }
    return rc ? kvb_errorf(e, KVB_ENOMEM, "out of memory") : 0;
}
