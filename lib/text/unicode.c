/* Lookups into the generated Unicode tables (unitab.c). */
#include "text/unitab.h"

int kvb_uni_in_ranges(const uint32_t (*r)[2], size_t n, uint32_t c)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c < r[mid][0])
            hi = mid;
        else if (c > r[mid][1])
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

int kvb_uni_is_space(uint32_t c)
{
    if (c < 0x80)
        return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
    return kvb_uni_in_ranges(kvb_uni_space, kvb_uni_space_n, c);
}

int kvb_uni_is_word(uint32_t c)
{
    if (c < 0x80)
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               c == '_';
    return kvb_uni_in_ranges(kvb_uni_word, kvb_uni_word_n, c);
}

int kvb_uni_is_decimal(uint32_t c)
{
    if (c < 0x80)
        return c >= '0' && c <= '9';
    return kvb_uni_in_ranges(kvb_uni_decimal, kvb_uni_decimal_n, c);
}

int kvb_uni_is_cased(uint32_t c)
{
    return kvb_uni_in_ranges(kvb_uni_cased, kvb_uni_cased_n, c);
}

int kvb_uni_is_case_ignorable(uint32_t c)
{
    return kvb_uni_in_ranges(kvb_uni_case_ignorable, kvb_uni_case_ignorable_n, c);
}

int kvb_uni_lower_cp(uint32_t c, uint32_t out[2])
{
    if (c < 0x80) {
        out[0] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
        return 1;
    }
    size_t lo = 0, hi = kvb_uni_lower_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c < kvb_uni_lower[mid][0])
            hi = mid;
        else if (c > kvb_uni_lower[mid][0])
            lo = mid + 1;
        else {
            out[0] = kvb_uni_lower[mid][1];
            out[1] = kvb_uni_lower[mid][2];
            return out[1] ? 2 : 1;
        }
    }
    out[0] = c;
    return 1;
}
