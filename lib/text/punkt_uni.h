/* lib/text/punkt_uni: the character classes of NLTK's Punkt that lib/text/unitab (Python's str
 * and re) does not give: the `regex` package's \w, \d and \s (NLTK 3.10 compiles Punkt's patterns
 * with it) and str.isupper / str.islower. Tables generated (punkt_uni.c) by
 * scripts/oracle/gen_punkt_uni.py. */
#ifndef KVB_TEXT_PUNKT_UNI_H
#define KVB_TEXT_PUNKT_UNI_H

#include <stddef.h>
#include <stdint.h>

extern const uint32_t kvb_punkt_uni_word[][2], kvb_punkt_uni_digit[][2], kvb_punkt_uni_space[][2],
    kvb_punkt_uni_upper[][2], kvb_punkt_uni_lower[][2];
extern const size_t kvb_punkt_uni_word_n, kvb_punkt_uni_digit_n, kvb_punkt_uni_space_n,
    kvb_punkt_uni_upper_n, kvb_punkt_uni_lower_n;

int kvb_punkt_is_word(uint32_t c);  /* regex \w */
int kvb_punkt_is_digit(uint32_t c); /* regex \d */
int kvb_punkt_is_space(uint32_t c); /* regex \s (not U+001C..U+001F, unlike str.isspace) */
int kvb_punkt_is_upper(uint32_t c); /* str.isupper() of one character */
int kvb_punkt_is_lower(uint32_t c); /* str.islower() of one character */

#endif
