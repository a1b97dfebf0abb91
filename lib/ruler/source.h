/* lib/ruler/source: RULER as a task suite of `kvbench run` (lib/runner/suite.h): one task source
 * per (task, context length), whose items are the generated samples, fed to the model as RULER's
 * scripts/pred/call_api.py feeds them (input + answer_prefix, the tokenizer's own BOS rule) and
 * scored as scripts/eval/evaluate.py scores them (score.c). docs/ruler.md. */
#ifndef KVB_RULER_SOURCE_H
#define KVB_RULER_SOURCE_H

#include "ruler/ruler.h"
#include "runner/runner.h"
#include "runner/suite.h"

/* RULER's defaults: scripts/config_tasks.sh's NUM_SAMPLES, prepare.py's --random_seed. */
#define KVB_RULER_SAMPLES 500
#define KVB_RULER_SEED 42
/* kvbench's default context lengths (RULER's run.sh loops over 4k ... 128k; on a CPU the
 * smallest is the one to start with; --lengths gives others). */
#define KVB_RULER_LENGTHS "4096"

/* ---- model templates (RULER's scripts/data/template.py) ------------------------------------ */
/* The template named `name` ("base", "meta-chat", "meta-llama3", ... as template.py names them),
 * or "chat": the model's own chat template (chat_family, kvb_chat_template_apply) wrapped
 * around "{task_template}". *out is a new string with one "{task_template}". */
int kvb_ruler_model_template(const char *name, const char *chat_family, char **out, kvb_error *e);
/* The template a run uses when none is named: "chat" when the model has a chat template (an
 * instruct model is prompted as its chat template wants, as RULER's config_models.sh does for
 * its chat models), else "base". */
const char *kvb_ruler_default_template(const char *chat_family);
/* Appends template.py's names, ", "-separated, then "chat". */
void kvb_ruler_template_names(kvb_strbuf *sb);

/* ---- one task at one length ---------------------------------------------------------------- */
typedef struct kvb_ruler_source_opts {
    const kvb_tokenizer *tok;
    int add_bos;                  /* kvb_tokenizer_default_add_bos, as HF's tokenizer(prompt) */
    const char *model_template;   /* a "{task_template}" string (kvb_ruler_model_template) */
    long num_samples, seed;
    const char *qa_path;          /* qa_1 / qa_2: the SQuAD / HotpotQA file (RULER's format) */
} kvb_ruler_source_opts;

/* Generates the samples of task t at length (kvb_ruler_generate) and makes the source: task
 * "<task>.<length>" (results/tasks.h), _id "<task>.<length>-<index>", the data fingerprint the
 * sha256 of the samples. */
int kvb_ruler_source_init(kvb_source *s, const kvb_ruler_task *t, int length,
                          const kvb_ruler_source_opts *o, kvb_error *e);

/* The suite table's entry: "ruler" (every task, qa_1 / qa_2 only with their --data files) and
 * the task names. */
extern const kvb_suite kvb_ruler_suite;

#endif
