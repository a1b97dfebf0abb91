/* lib/ruler: RULER (NVIDIA/RULER, Hsieh et al. 2024), the synthetic long-context suite, generated
 * locally as RULER's own scripts generate it (scripts/data/synthetic/<task>.py, constants.py,
 * synthetic.yaml, template.py) and scored as its scripts/eval/evaluate.py scores it.
 *
 * This header is the contract between the generator (gen*.c: the task table, the samples) and
 * the rest of kvbench (source.c: the task source of the runner; score.c: evaluate.py's metrics).
 * docs/ruler.md states what is byte-identical to RULER and what is not, and why. */
#ifndef KVB_RULER_RULER_H
#define KVB_RULER_RULER_H

#include "core/core.h"
#include "tokenizer/tokenizer.h"

/* ---- the task table (synthetic.yaml + constants.py) ---------------------------------------- */
typedef struct kvb_ruler_task kvb_ruler_task;

int kvb_ruler_task_count(void);
/* RULER's order: niah_single_1 ... qa_2 */
const kvb_ruler_task *kvb_ruler_task_at(int i);
const kvb_ruler_task *kvb_ruler_task_find(const char *name); /* NULL: unknown */
const char *kvb_ruler_task_name(const kvb_ruler_task *t);  /* "niah_single_1", "vt", "qa_1", ... */
const char *kvb_ruler_task_metric(const kvb_ruler_task *t); /* "string_match_all" / "_part" */
int kvb_ruler_task_tokens_to_generate(const kvb_ruler_task *t);
int kvb_ruler_task_needs_data(const kvb_ruler_task *t);    /* qa_1 / qa_2: a --data file */

/* ---- generation ---------------------------------------------------------------------------- */
typedef struct kvb_ruler_gen_opts {
    const kvb_tokenizer *tok;  /* the model's tokenizer: haystacks are sized with it */
    int max_seq_length;        /* prompt + tokens_to_generate fit in this many tokens */
    long num_samples;
    long random_seed;          /* RULER's --random_seed (default 42) */
    /* RULER's model template: a string with one "{task_template}" (NULL: "base", the template
     * alone). The prompt is model_template.format(task_template=template) + answer_prefix, and
     * the haystack is sized on it, as prepare.py does. */
    const char *model_template;
    int remove_newline_tab;    /* RULER's --remove_newline_tab */
    /* RULER's PaulGrahamEssays.json ({"text": ...}) or a directory of essay *.txt files, joined
     * in sorted order as RULER's download script joins them (NULL: $KVBENCH_ESSAYS,
     * datasets/paul-graham-essays, ../shared/datasets/paul-graham-essays) */
    const char *essays_path;
    /* the data directory: wonderwords' nounlist.txt, adjectivelist.txt, verblist.txt, NLTK's
     * punkt_tab/english, RULER's english_words.json when cwe needs it (NULL: $KVBENCH_RULER_DATA,
     * datasets/ruler, <kvbench home>/datasets/ruler; `make ruler-data` fills it) */
    const char *words_dir;
    const char *qa_path;       /* qa_1 / qa_2: SQuAD v2.0 / HotpotQA file in RULER's format */
} kvb_ruler_gen_opts;

/* One generated sample, the fields of RULER's validation.jsonl line (index is the sample's
 * number; niah.py writes the first answer's character offset there, see docs/ruler.md). */
typedef struct kvb_ruler_sample {
    long index;
    char *input;           /* the prompt without the answer prefix */
    char *answer_prefix;
    char **outputs;        /* the reference answers */
    int n_outputs;
    long length;           /* RULER's "length": prompt tokens + tokens_to_generate */
} kvb_ruler_sample;

typedef struct kvb_ruler_samples {
    kvb_ruler_sample *s;
    long n;
    /* 1 when an essay haystack (niah_single_2/3, multikey_1, multivalue, multiquery) needed more
     * words than the essays hold, so RULER's repeat-the-essays rule filled it: RULER's own
     * essay set (docs/ruler.md) is longer and would have given other words there. */
    int essays_wrapped;
    long n_tokenized;        /* texts the search and the samples tokenized (for speed notes) */
    size_t bytes_tokenized;
} kvb_ruler_samples;

/* All num_samples samples of task t (RULER draws them from one random stream, so they are made
 * together), byte-identical to RULER's prepare.py for the same seed, data and tokenizer
 * (docs/ruler.md). Errors (KVB_EINVAL / KVB_EIO, one line: an unknown task (t NULL), missing
 * word lists, punkt parameters or essays, a length too small for the template, a bad qa file)
 * name the file or the setting. */
int kvb_ruler_generate(const kvb_ruler_task *t, const kvb_ruler_gen_opts *o,
                       kvb_ruler_samples *out, kvb_error *e);
void kvb_ruler_samples_release(kvb_ruler_samples *s);

/* ---- scoring (evaluate.py) ----------------------------------------------------------------- */
/* evaluate.py's postprocess of one prediction (returns a new string). */
char *kvb_ruler_postprocess(const char *pred);
/* The score in [0, 1] of one postprocessed prediction against its references, by the task's
 * metric (string_match_all: the fraction of references found, case-insensitive;
 * string_match_part: 1 if any is found). The task score is 100 * mean, rounded as evaluate.py
 * rounds it. */
double kvb_ruler_score(const kvb_ruler_task *t, const char *pred, char *const *refs, int n_refs);

#endif
