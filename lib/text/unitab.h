/* lib/text/unitab: Unicode properties with Python 3.11 semantics (Unicode 14.0), for the
 * LongBench metrics, which run on Python str and re. Tables are generated (unitab.c) by
 * scripts/oracle/gen_unitab.py. Code points are decoded from UTF-8 by core/utf8.h (included). */
#ifndef KVB_TEXT_UNITAB_H
#define KVB_TEXT_UNITAB_H

#include <stddef.h>
#include <stdint.h>

#include "core/utf8.h"

extern const uint32_t kvb_uni_lower[][3];
extern const size_t kvb_uni_lower_n;
extern const uint32_t kvb_uni_space[][2], kvb_uni_word[][2], kvb_uni_decimal[][2],
    kvb_uni_cased[][2], kvb_uni_case_ignorable[][2];
extern const size_t kvb_uni_space_n, kvb_uni_word_n, kvb_uni_decimal_n, kvb_uni_cased_n,
    kvb_uni_case_ignorable_n;

/* Whether c lies in one of the n sorted, disjoint inclusive ranges r (binary search). */
int kvb_uni_in_ranges(const uint32_t (*r)[2], size_t n, uint32_t c);
int kvb_uni_is_space(uint32_t c);          /* str.isspace(): str.split() separators */
int kvb_uni_is_word(uint32_t c);           /* re \w: str.isalnum() or '_' */
int kvb_uni_is_decimal(uint32_t c);        /* re \d: str.isdecimal() */
int kvb_uni_is_cased(uint32_t c);
int kvb_uni_is_case_ignorable(uint32_t c);
/* Lowercase of c (not U+03A3): writes 1 or 2 code points to out, returns the count. */
int kvb_uni_lower_cp(uint32_t c, uint32_t out[2]);

#endif
