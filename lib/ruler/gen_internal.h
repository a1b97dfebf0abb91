/* lib/ruler: what the generators (gen_*.c) share; private to lib/ruler.
 *
 * Each generator is a port of one of RULER's scripts/data/synthetic/<task>.py and keeps its
 * shape: a generate_input_output(n) that draws from the script's random streams, a haystack-size
 * search that calls it (and so draws too), then the per-sample loop. Python's semantics that decide
 * bytes live here once: str.format on named fields, str.replace, str.split/join, the answer
 * prefix split, the token count with the model's tokenizer. */
#ifndef KVB_RULER_GEN_INTERNAL_H
#define KVB_RULER_GEN_INTERNAL_H

#include "core/pyrandom.h"
#include "ruler/ruler.h"

/* ---- the task table ------------------------------------------------------------------------ */
typedef enum rg_kind { RG_NIAH, RG_VT, RG_CWE, RG_FWE, RG_QA } rg_kind;
typedef enum rg_haystack { RG_HAY_NOISE, RG_HAY_ESSAY, RG_HAY_NEEDLE } rg_haystack;
typedef enum rg_needle { RG_NEEDLE_NUMBERS, RG_NEEDLE_WORDS, RG_NEEDLE_UUIDS } rg_needle;

struct kvb_ruler_task {
    const char *name;
    rg_kind kind;
    /* synthetic.yaml's args */
    rg_haystack haystack;              /* niah, vt */
    rg_needle needle_k, needle_v;      /* niah */
    int num_k, num_v, num_q;           /* niah */
    int num_chains, num_hops;          /* vt */
    int freq_cw, freq_ucw, num_cw;     /* cwe */
    double alpha;                      /* fwe */
    const char *dataset;               /* qa: "squad" / "hotpotqa" */
};

/* constants.py's entry of the task's generator (TASKS[config['task']]) */
typedef struct rg_base {
    const char *script;       /* "niah", "variable_tracking", ... */
    int tokens_to_generate;
    const char *template;
    const char *answer_prefix;
    const char *metric;       /* scripts/eval/synthetic/constants.py */
} rg_base;
const rg_base *rg_base_of(const kvb_ruler_task *t);

/* ---- data (gen_data.c) --------------------------------------------------------------------- */
typedef struct rg_words {
    char **w;
    size_t n;
    char *buf; /* non-NULL: every w[i] points into it (else each is its own allocation) */
} rg_words;
void rg_words_release(rg_words *w);
/* wonderwords' _get_words_from_text_file(name): the lines, each rstrip()ed, of <dir>/<name> */
int rg_words_load(const kvb_ruler_gen_opts *o, const char *name, rg_words *out, kvb_error *e);
/* sorted(set(w)) in place (code point order = UTF-8 byte order) */
void rg_words_sort_unique(rg_words *w);
/* RULER's json/english_words.json: list(json.load(f).values()) */
int rg_english_words_load(const kvb_ruler_gen_opts *o, rg_words *out, kvb_error *e);
/* The essay haystack: re.sub(r'\s+', " ", essay).split(" ") of PaulGrahamEssays.json's text
 * (or of the sorted *.txt of an essays directory, concatenated as RULER's download script
 * concatenates them). */
int rg_essay_words_load(const kvb_ruler_gen_opts *o, rg_words *out, kvb_error *e);
/* The path of data file `name` (a new string): in opts->words_dir, else $KVBENCH_RULER_DATA,
 * else ./datasets/ruler, else <kvbench home>/datasets/ruler (`make ruler-data` fills it). A
 * missing file is an error naming it. */
char *rg_data_file(const kvb_ruler_gen_opts *o, const char *name, kvb_error *e);


/* ---- Python string semantics (gen_util.c) --------------------------------------------------- */
typedef struct rg_kv {
    const char *key;
    const char *val;
} rg_kv;
/* str.format(**kv) for templates with named fields only ("{name}", "{{", "}}"); a field not in
 * kv, or a conversion / format spec, is an error (Python would raise or format differently). */
int rg_format(const char *tmpl, const rg_kv *kv, int n, kvb_strbuf *out, kvb_error *e);
/* s.replace(old, new) into a new string */
char *rg_replace(const char *s, const char *old, const char *new_);
/* ' '.join(s.replace('\n', ' ').replace('\t', ' ').strip().split()): RULER's
 * --remove_newline_tab (str.split() splits on Python's whitespace) */
char *rg_remove_newline_tab(const char *s);
/* s[*a..*b) is s[0..n).strip() (Python's whitespace) */
void rg_strip(const char *s, size_t n, size_t *a, size_t *b);
/* Python's float // (float_floor_div) for finite positive operands */
double rg_py_floordiv(double a, double b);
/* Python's `sep.join(parts)` appended to out */
int rg_join(kvb_strbuf *out, const char *sep, char *const *parts, size_t n);

/* ---- one generation (gen.c) ---------------------------------------------------------------- */
typedef struct rg_gen {
    const kvb_ruler_task *t;
    const rg_base *base;
    const kvb_ruler_gen_opts *o;
    char *tmpl;              /* model_template.format(task_template=...) + answer_prefix */
    long max_seq_length;
    kvb_pyrandom rnd;        /* random.seed(args.random_seed) */
    kvb_nprandom np;         /* np.random.seed(args.random_seed) */
    kvb_ids ids;             /* scratch for token counts */
    kvb_strbuf last;         /* the last text counted, and its count: RULER tokenizes some */
    long last_count;         /* texts twice in a row (fwe), the count is reused */
    long n_tokenized;        /* statistics: texts tokenized, bytes tokenized */
    size_t bytes_tokenized;
    int essays_wrapped;      /* an essay haystack longer than the essays (see ruler.h) */
    struct kvb_punkt *punkt; /* sent_tokenize's parameters, loaded on first use */
    kvb_error *e;
} rg_gen;

/* len(TOKENIZER.text_to_tokens(text)): HF tokenize(), no special tokens added */
int rg_tokens(rg_gen *g, const char *text, long *n);
/* nltk.tokenize.sent_tokenize(text) (NLTK's English punkt, lib/text/punkt.h, its parameters
 * loaded on first use from <data dir>/punkt_tab/english): the sentences, pointing into one
 * buffer (gen_sent.c) */
int rg_sent_tokenize(rg_gen *g, const char *text, size_t len, rg_words *out);
/* random.Random(args.random_seed).shuffle(x) on n elements of size bytes */
void rg_shuffle_fresh(rg_gen *g, void *base, size_t n, size_t size);

/* RULER's binary search for the haystack size: probe(n) generates with n and returns the
 * total tokens it compares with max_seq_length; returns optimal or incremental. */
typedef int (*rg_probe_fn)(rg_gen *g, void *ctx, long n, long *total);
int rg_search(rg_gen *g, rg_probe_fn probe, void *ctx, long lower, long upper, long incremental,
              long *best);

/* One finished sample: remove_newline_tab when asked (apply_rnt), then the split at
 * input_text.rfind(answer_prefix[:10]), as every script ends. outputs are copied. */
int rg_emit(rg_gen *g, kvb_ruler_sample *s, const char *input, int apply_rnt,
            char *const *outputs, int n_outputs, long length);

/* Raised by a generator where RULER's Python raises (IndexError, ValueError): the per-sample
 * loops retry as RULER's bare `except:` does; elsewhere it is an error. */
#define RG_RAISED 1

int rg_gen_niah(rg_gen *g, kvb_ruler_samples *out);
int rg_gen_vt(rg_gen *g, kvb_ruler_samples *out);
int rg_gen_cwe(rg_gen *g, kvb_ruler_samples *out);
int rg_gen_fwe(rg_gen *g, kvb_ruler_samples *out);
int rg_gen_qa(rg_gen *g, kvb_ruler_samples *out);

#endif
