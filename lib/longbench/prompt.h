/* lib/longbench/prompt: LongBench prompt templates (configs/longbench/dataset2prompt.json) and
 * their substitution with Python str.format semantics, as pred.py does `prompt_format.format(**json_obj)`. */
#ifndef KVB_LONGBENCH_PROMPT_H
#define KVB_LONGBENCH_PROMPT_H

#include "core/core.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

struct kvb_lb_record;

/* The template of `task` (a LongBench key; "_e" suffix ignored) from <dir>/dataset2prompt.json,
 * dir NULL = kvb_configs_dir("longbench"). *tmpl is newly allocated. */
int kvb_lb_template_load(const char *dir, const char *task, char **tmpl, kvb_error *e);

/* Python str.format over the record: `{context}`, `{input}`, `{_id}`, `{dataset}`, `{language}`,
 * `{length}` are replaced by the field (inserted text is never re-scanned), `{{` and `}}` are
 * literal braces; any other field, a format spec or a lone brace is an error, as in Python
 * (KeyError / ValueError). The result is appended to out. */
int kvb_lb_format(const char *tmpl, const struct kvb_lb_record *r, kvb_strbuf *out, kvb_error *e);

/* ---- prompt ids ---------------------------------------------------------------------------- */
typedef struct kvb_lb_prompt_opts {
    int max_length;          /* token budget (model2maxlen); <= 0: no truncation */
    const char *chat_family; /* kvb_chat_template_apply family, NULL or "none": raw text */
    int add_bos;             /* what tokenizer(prompt) adds by default (HF add_special_tokens) */
    int cleanup_spaces;      /* HF decode's clean_up_tokenization_spaces (tokenizer_config.json) */
} kvb_lb_prompt_opts;

/* Final input ids of a formatted prompt. *truncated is set to 1 when the middle was cut. */
int kvb_lb_prompt_ids(const kvb_tokenizer *t, const char *prompt, size_t len,
                      const kvb_lb_prompt_opts *o, kvb_ids *out, int *truncated, kvb_error *e);

/* The prompt settings of a run on a model: chat family `chat` (NULL: the model's; "none" or "":
 * raw text, chat_family NULL), BOS and decode clean-up as HF does with the tokenizer files (tok;
 * NULL: the family's defaults), budget max_length (<= 0: the model's LongBench budget). */
int kvb_lb_prompt_setup(const kvb_model_config *cfg, const kvb_tokenizer *tok, const char *chat,
                        int max_length, kvb_lb_prompt_opts *po, kvb_error *e);

/* The id pred.py adds for samsum: tokenizer.encode("\n", add_special_tokens=False)[-1]. */
int kvb_lb_newline_id(const kvb_tokenizer *t, int32_t *id, kvb_error *e);

#endif
