/* text.h - tiny character helpers shared by the readers. */
#ifndef WRIT_UTIL_TEXT_H
#define WRIT_UTIL_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <strings.h>

/* Does s begin with the URI scheme "spiffe:" (scheme compared
 * case-insensitively, as URI schemes are)? */
static inline bool wr_looks_spiffe(const char *s, size_t len)
{
    return len >= 7 && !strncasecmp(s, "spiffe:", 7);
}

/* Value of a hex digit, or -1. */
static inline int wr_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* How many dots the text s[0..k) reads as under Unicode compatibility
 * normalisation (NFKC), when it holds nothing but dots: '.', U+FF0E
 * FULLWIDTH FULL STOP, U+FE52 SMALL FULL STOP, U+2024 ONE DOT LEADER (one
 * each), U+2025 TWO DOT LEADER and U+FE30 PRESENTATION FORM FOR VERTICAL TWO
 * DOT LEADER (two); 0 when it holds anything else.  (Every code point whose
 * NFKC form is only dots, but U+2026 and U+FE19, three dots: a name.)  A
 * server that applies NFKC to paths reads the segment `．．` as `..`, so
 * the path and uri checks refuse a segment this counts as 1 or 2. */
static inline size_t wr_compat_dots(const unsigned char *s, size_t k)
{
    size_t dots = 0;
    for (size_t i = 0; i < k;) {
        if (s[i] == '.') {
            dots++, i++;
        } else if (k - i >= 3 && ((s[i] == 0xEF && s[i + 1] == 0xBC && s[i + 2] == 0x8E) ||
                                  (s[i] == 0xEF && s[i + 1] == 0xB9 && s[i + 2] == 0x92) ||
                                  (s[i] == 0xE2 && s[i + 1] == 0x80 && s[i + 2] == 0xA4))) {
            dots++, i += 3;
        } else if (k - i >= 3 && ((s[i] == 0xE2 && s[i + 1] == 0x80 && s[i + 2] == 0xA5) ||
                                  (s[i] == 0xEF && s[i + 1] == 0xB8 && s[i + 2] == 0xB0))) {
            dots += 2, i += 3;
        } else {
            return 0;
        }
    }
    return dots;
}

/* The three bytes s[0..3): a code point that NFKC makes '/' (U+FF0F
 * FULLWIDTH SOLIDUS) or '\\' (U+FF3C FULLWIDTH REVERSE SOLIDUS, U+FE68 SMALL
 * REVERSE SOLIDUS)?  Then the description to refuse it by, else NULL.  A
 * server that applies NFKC to paths splits `..／x` into `..` and `x`. */
static inline const char *wr_compat_slash(const unsigned char *s)
{
    if (s[0] == 0xEF && s[1] == 0xBC && s[2] == 0x8F)
        return "a character that reads as '/' (U+FF0F)";
    if (s[0] == 0xEF && s[1] == 0xBC && s[2] == 0xBC)
        return "a character that reads as '\\' (U+FF3C)";
    if (s[0] == 0xEF && s[1] == 0xB9 && s[2] == 0xA8)
        return "a character that reads as '\\' (U+FE68)";
    return NULL;
}

#endif
