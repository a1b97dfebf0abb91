/* RULER's model templates (scripts/data/template.py), byte for byte, and the model's own chat
 * template as one more: prepare.py formats the task template into one of these and sizes the
 * haystack on the result. */
#include "ruler/source.h"

#include <string.h>

static const struct {
    const char *name, *tmpl;
} k_templates[] = {
    { "base", "{task_template}" },
    { "meta-chat", "[INST] {task_template} [/INST]" },
    { "vicuna-chat", "A chat between a curious user and an artificial intelligence assistant. The "
                     "assistant gives helpful, detailed, and polite answers to the user's "
                     "questions. USER: {task_template} ASSISTANT:" },
    { "lwm-chat", "You are a helpful assistant. USER: {task_template} ASSISTANT: " },
    { "command-r-chat", "<BOS_TOKEN><|START_OF_TURN_TOKEN|><|USER_TOKEN|>{task_template}"
                        "<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>" },
    { "chatglm-chat", "[gMASK]sop<|user|> \n {task_template}<|assistant|> \n " },
    { "RWKV", "User: hi\n\nAssistant: Hi. I am your assistant and I will provide expert full "
              "response in full details. Please feel free to ask any question and I will always "
              "answer it\n\nUser: {task_template}\n\nAssistant:" },
    { "Phi3", "<|user|>\n{task_template}<|end|>\n<|assistant|>\n" },
    { "meta-llama3", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
                     "{task_template}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n" },
    { "jamba", "<|startoftext|><|bom|><|system|> <|eom|><|bom|><|user|> {task_template}<|eom|>"
               "<|bom|><|assistant|>" },
    { "nemotron5-instruct", "<SPECIAL_10>System\n\n<SPECIAL_11>User\n{task_template}\n"
                            "<SPECIAL_11>Assistant\n" },
};

#define CHAT "chat"
#define SLOT "{task_template}"

void kvb_ruler_template_names(kvb_strbuf *sb)
{
    for (size_t i = 0; i < KVB_ARRAY_SIZE(k_templates); i++)
        kvb_strbuf_addf(sb, "%s, ", k_templates[i].name);
    kvb_strbuf_adds(sb, CHAT);
}

const char *kvb_ruler_default_template(const char *chat_family)
{
    return chat_family && strcmp(chat_family, "none") ? CHAT : "base";
}

int kvb_ruler_model_template(const char *name, const char *chat_family, char **out, kvb_error *e)
{
    *out = NULL;
    if (!strcmp(name, CHAT)) {
        if (!chat_family || !strcmp(chat_family, "none"))
            return kvb_errorf(e, KVB_EINVAL, "--ruler-template chat: the model has no chat "
                              "template (--chat-template names one)");
        kvb_strbuf sb;
        kvb_strbuf_init(&sb);
        int rc = kvb_chat_template_apply(chat_family, SLOT, &sb, e);
        if (!rc && !strstr(sb.buf ? sb.buf : "", SLOT)) /* a template that drops the message */
            rc = kvb_errorf(e, KVB_EINVAL, "chat template %s: no place for the prompt",
                            chat_family);
        if (!rc && !(*out = kvb_strbuf_detach(&sb)))
            rc = kvb_errorf(e, KVB_ENOMEM, "out of memory");
        kvb_strbuf_release(&sb);
        return rc;
    }
    for (size_t i = 0; i < KVB_ARRAY_SIZE(k_templates); i++)
        if (!strcmp(name, k_templates[i].name)) {
            *out = kvb_strdup(k_templates[i].tmpl);
            return *out ? 0 : kvb_errorf(e, KVB_ENOMEM, "out of memory");
        }
    kvb_strbuf sb;
    kvb_strbuf_init(&sb);
    kvb_ruler_template_names(&sb);
    kvb_errorf(e, KVB_EINVAL, "unknown RULER model template '%s' (%s)", name, sb.buf);
    kvb_strbuf_release(&sb);
    return KVB_EINVAL;
}
