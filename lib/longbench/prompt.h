/* lib/longbench/prompt: LongBench prompt templates (configs/longbench/dataset2prompt.json) and
 * their substitution with Python str.format semantics, as pred.py does `prompt_format.format(**json_obj)`. */
#ifndef KVB_LONGBENCH_PROMPT_H
#define KVB_LONGBENCH_PROMPT_H

#include "core/core.h"

struct kvb_lb_record;

/* Directory holding the LongBench configs: $KVBENCH_CONFIGS/longbench, ./configs/longbench, or
 * configs/longbench next to the executable's parent directory (bin/../configs). NULL if none. */
const char *kvb_lb_config_dir(void);

/* The template of `task` (a LongBench key; "_e" suffix ignored) from <dir>/dataset2prompt.json,
 * dir NULL = kvb_lb_config_dir(). *tmpl is newly allocated. */
int kvb_lb_template_load(const char *dir, const char *task, char **tmpl, kvb_error *e);

/* Python str.format over the record: `{context}`, `{input}`, `{_id}`, `{dataset}`, `{language}`,
 * `{length}` are replaced by the field (inserted text is never re-scanned), `{{` and `}}` are
 * literal braces; any other field, a format spec or a lone brace is an error, as in Python
 * (KeyError / ValueError). The result is appended to out. */
int kvb_lb_format(const char *tmpl, const struct kvb_lb_record *r, kvb_strbuf *out, kvb_error *e);

#endif
