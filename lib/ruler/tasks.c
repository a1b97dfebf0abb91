/* RULER's task table: scripts/synthetic.yaml (the 13 tasks and their args) over
 * scripts/data/synthetic/constants.py (each generator's template, answer prefix and
 * tokens_to_generate) and scripts/eval/synthetic/constants.py (its metric). */
#include <string.h>

#include "ruler/gen_internal.h"

/* ---- constants.py: TASKS ------------------------------------------------------------------- */
static const rg_base BASES[] = {
    [RG_NIAH] = { "niah", 128,
        "Some special magic {type_needle_v} are hidden within the following text. Make sure to "
        "memorize it. I will quiz you about the {type_needle_v} afterwards.\n{context}\nWhat are "
        "all the special magic {type_needle_v} for {query} mentioned in the provided text?",
        " The special magic {type_needle_v} for {query} mentioned in the provided text are",
        "string_match_all" },
    [RG_VT] = { "variable_tracking", 30,
        "Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n"
        "{context}\nQuestion: Find all variables that are assigned the value {query} in the text "
        "above.",
        " Answer: According to the chain(s) of variable assignment in the text above, {num_v} "
        "variables are assigned the value {query}, they are: ",
        "string_match_all" },
    [RG_CWE] = { "common_words_extraction", 120,
        "Below is a numbered list of words. In these words, some appear more often than others. "
        "Memorize the ones that appear most often.\n{context}\nQuestion: What are the 10 most "
        "common words in the above list?",
        " Answer: The top 10 words that appear most often in the list are:",
        "string_match_all" },
    [RG_FWE] = { "freq_words_extraction", 50,
        "Read the following coded text and track the frequency of each coded word. Find the three "
        "most frequently appeared coded words. {context}\nQuestion: Do not provide any "
        "explanation. Please ignore the dots '....'. What are the three most frequently appeared "
        "words in the above coded text?",
        " Answer: According to the coded text above, the three most frequently appeared words "
        "are:",
        "string_match_all" },
    [RG_QA] = { "qa", 32,
        "Answer the question based on the given documents. Only give me the answer and do not "
        "output any other words.\n\nThe following are given documents.\n\n{context}\n\nAnswer the "
        "question based on the given documents. Only give me the answer and do not output any "
        "other words.\n\nQuestion: {query}",
        " Answer:",
        "string_match_part" },
};

const rg_base *rg_base_of(const kvb_ruler_task *t) { return &BASES[t->kind]; }

/* ---- synthetic.yaml ------------------------------------------------------------------------ */
#define NIAH(nm, hay, k, v, nk, nv, nq) \
    { .name = nm, .kind = RG_NIAH, .haystack = hay, .needle_k = k, .needle_v = v, \
      .num_k = nk, .num_v = nv, .num_q = nq }

static const kvb_ruler_task TASKS[] = {
    NIAH("niah_single_1", RG_HAY_NOISE, RG_NEEDLE_WORDS, RG_NEEDLE_NUMBERS, 1, 1, 1),
    NIAH("niah_single_2", RG_HAY_ESSAY, RG_NEEDLE_WORDS, RG_NEEDLE_NUMBERS, 1, 1, 1),
    NIAH("niah_single_3", RG_HAY_ESSAY, RG_NEEDLE_WORDS, RG_NEEDLE_UUIDS, 1, 1, 1),
    NIAH("niah_multikey_1", RG_HAY_ESSAY, RG_NEEDLE_WORDS, RG_NEEDLE_NUMBERS, 4, 1, 1),
    NIAH("niah_multikey_2", RG_HAY_NEEDLE, RG_NEEDLE_WORDS, RG_NEEDLE_NUMBERS, 1, 1, 1),
    NIAH("niah_multikey_3", RG_HAY_NEEDLE, RG_NEEDLE_UUIDS, RG_NEEDLE_UUIDS, 1, 1, 1),
    NIAH("niah_multivalue", RG_HAY_ESSAY, RG_NEEDLE_WORDS, RG_NEEDLE_NUMBERS, 1, 4, 1),
    NIAH("niah_multiquery", RG_HAY_ESSAY, RG_NEEDLE_WORDS, RG_NEEDLE_NUMBERS, 1, 1, 4),
    { .name = "vt", .kind = RG_VT, .haystack = RG_HAY_NOISE, .num_chains = 1, .num_hops = 4 },
    { .name = "cwe", .kind = RG_CWE, .freq_cw = 30, .freq_ucw = 3, .num_cw = 10 },
    { .name = "fwe", .kind = RG_FWE, .alpha = 2.0 },
    { .name = "qa_1", .kind = RG_QA, .dataset = "squad" },
    { .name = "qa_2", .kind = RG_QA, .dataset = "hotpotqa" },
};

int kvb_ruler_task_count(void) { return (int)KVB_ARRAY_SIZE(TASKS); }

const kvb_ruler_task *kvb_ruler_task_at(int i)
{
    return i >= 0 && i < kvb_ruler_task_count() ? &TASKS[i] : NULL;
}

const kvb_ruler_task *kvb_ruler_task_find(const char *name)
{
    for (int i = 0; name && i < kvb_ruler_task_count(); i++)
        if (!strcmp(TASKS[i].name, name))
            return &TASKS[i];
    return NULL;
}

const char *kvb_ruler_task_name(const kvb_ruler_task *t) { return t->name; }
const char *kvb_ruler_task_metric(const kvb_ruler_task *t) { return rg_base_of(t)->metric; }
int kvb_ruler_task_tokens_to_generate(const kvb_ruler_task *t)
{
    return rg_base_of(t)->tokens_to_generate;
}
int kvb_ruler_task_needs_data(const kvb_ruler_task *t) { return t->kind == RG_QA; }
