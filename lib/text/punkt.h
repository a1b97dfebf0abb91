/* lib/text/punkt: NLTK's sent_tokenize(text) for English (nltk.tokenize.punkt, NLTK 3.10: the
 * PunktSentenceTokenizer with NLTK's pretrained English parameters), which RULER uses to cut its
 * essay haystacks into sentences before it inserts the needles.
 *
 * What is reproduced: the candidate ends (., ?, ! before punctuation or before whitespace and a
 * token), the word before each candidate and the overlap rule between candidates, Punkt's word
 * tokenizer on the context of each candidate, the first pass (sentence-end characters,
 * ellipses, known abbreviations, also after the last hyphen), the second pass (collocations, the
 * orthographic heuristic, frequent sentence starters, initials and ordinal numbers), the span of
 * the last sentence (trailing whitespace dropped) and the realignment of closing quotes and
 * brackets. Character classes are those of the `regex` package NLTK 3.10 compiles its patterns
 * with (lib/text/punkt_uni.h), case and lowercase those of Python's str.
 *
 * The parameters are data (NLTK's punkt_tab/english: abbrev_types.txt, collocations.tab,
 * sent_starters.txt, ortho_context.tab), read at run time from a directory that `make ruler-data`
 * fills (datasets/ruler/punkt_tab/english). Checked against NLTK by tests/unit/test_punkt.c on
 * tests/fixtures/ruler/punkt.json (scripts/oracle/punkt.py). */
#ifndef KVB_TEXT_PUNKT_H
#define KVB_TEXT_PUNKT_H

#include <stddef.h>

#include "core/core.h"

typedef struct kvb_punkt kvb_punkt;

/* One sentence: bytes [start, end) of the text (sent_tokenize's string is text[start:end]). */
typedef struct kvb_punkt_span {
    size_t start, end;
} kvb_punkt_span;

/* Where `make ruler-data` puts the English parameters: datasets/ruler/punkt_tab/english under the
 * working directory, else under the kvbench home (kvb_config_home). Written into buf (n bytes);
 * returns buf, or NULL when neither is a directory. */
const char *kvb_punkt_default_dir(char *buf, size_t n);

/* Read the four parameter files of dir. A missing or unreadable file (KVB_EIO) or a bad line
 * (KVB_EINVAL: invalid UTF-8, an orthographic context that is not an integer) is reported in one
 * line naming the file (and the line). */
int kvb_punkt_load(const char *dir, kvb_punkt **out, kvb_error *e);
void kvb_punkt_free(kvb_punkt *p);

/* sent_tokenize(text): the sentences of text[0..len) (UTF-8; an invalid byte is a character of
 * no class), as *n spans in *spans (allocated, caller frees; *n may be 0). KVB_ENOMEM only. */
int kvb_punkt_sentences(const kvb_punkt *p, const char *text, size_t len, kvb_punkt_span **spans,
                        size_t *n, kvb_error *e);

#endif
