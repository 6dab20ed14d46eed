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

/* s, a message snprintf may have cut to fit its buffer, made to end on a
 * whole UTF-8 character: the bytes of a character the cut left incomplete
 * are dropped (messages quote ids and names, which are UTF-8, and callers
 * hand messages on as UTF-8 text). */
static inline void wr_utf8_cut(char *s, size_t len)
{
    size_t i = len, cont = 0;
    while (i > 0 && cont < 3 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--, cont++;
    if (i == 0)
        return;
    unsigned char c = (unsigned char)s[i - 1];
    size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    if (c >= 0xC0 && cont + 1 < need)
        s[i - 1] = '\0';
}

/* p[0..n) as lower-case hex into out: 2 * n characters and a NUL. */
static inline void wr_hex(char *out, const void *p, size_t n)
{
    static const char d[] = "0123456789abcdef";
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
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

/* The character ending at s[2] (s[0..3) for one of three bytes, s[1..3)
 * for one of two): one whose NFKC form holds a delimiter of paths and uris?
 * Then the description to refuse it by (and its length in *len), else NULL.  A server that applies
 * NFKC to a path splits "..", U+FF0F, "x" into ".." and "x", ends it at
 * U+FF1F, reads U+FF05 "2e" as the escape "%2e", or U+FF1B as a ';'
 * parameter.  The whole list (every code point whose NFKC form holds one
 * of / \\ ? # % ;):
 *   '/'  U+FF0F; "a/c" U+2100, "a/s" U+2101, "c/o" U+2105, "c/u" U+2106
 *   '\\' U+FF3C, U+FE68
 *   '?'  U+FF1F, U+FE56, U+FE16; "??" U+2047, "?!" U+2048, "!?" U+2049
 *   '#'  U+FF03, U+FE5F
 *   '%'  U+FF05, U+FE6A
 *   ';'  U+FF1B, U+FE54, U+FE14, U+037E
 * (Dots are wr_compat_dots': they matter as whole segments only.) */
static inline const char *wr_compat_delim(const unsigned char *s, int *len)
{
    *len = 3;
    static const struct {
        unsigned char b[3];
        const char *what;
    } three[] = {
        {{0xEF, 0xBC, 0x8F}, "a character that reads as '/' (U+FF0F)"},
        {{0xE2, 0x84, 0x80}, "a character that reads as 'a/c' (U+2100)"},
        {{0xE2, 0x84, 0x81}, "a character that reads as 'a/s' (U+2101)"},
        {{0xE2, 0x84, 0x85}, "a character that reads as 'c/o' (U+2105)"},
        {{0xE2, 0x84, 0x86}, "a character that reads as 'c/u' (U+2106)"},
        {{0xEF, 0xBC, 0xBC}, "a character that reads as '\\' (U+FF3C)"},
        {{0xEF, 0xB9, 0xA8}, "a character that reads as '\\' (U+FE68)"},
        {{0xEF, 0xBC, 0x9F}, "a character that reads as '?' (U+FF1F)"},
        {{0xEF, 0xB9, 0x96}, "a character that reads as '?' (U+FE56)"},
        {{0xEF, 0xB8, 0x96}, "a character that reads as '?' (U+FE16)"},
        {{0xE2, 0x81, 0x87}, "a character that reads as '?" "?' (U+2047)"},
        {{0xE2, 0x81, 0x88}, "a character that reads as '?!' (U+2048)"},
        {{0xE2, 0x81, 0x89}, "a character that reads as '!?' (U+2049)"},
        {{0xEF, 0xBC, 0x83}, "a character that reads as '#' (U+FF03)"},
        {{0xEF, 0xB9, 0x9F}, "a character that reads as '#' (U+FE5F)"},
        {{0xEF, 0xBC, 0x85}, "a character that reads as '%' (U+FF05)"},
        {{0xEF, 0xB9, 0xAA}, "a character that reads as '%' (U+FE6A)"},
        {{0xEF, 0xBC, 0x9B}, "a character that reads as ';' (U+FF1B)"},
        {{0xEF, 0xB9, 0x94}, "a character that reads as ';' (U+FE54)"},
        {{0xEF, 0xB8, 0x94}, "a character that reads as ';' (U+FE14)"},
    };
    if (s[1] == 0xCD && s[2] == 0xBE) { /* 0xCD leads a two-byte character */
        *len = 2;
        return "a character that reads as ';' (U+037E)";
    }
    for (size_t i = 0; i < sizeof three / sizeof *three; i++)
        if (s[0] == three[i].b[0] && s[1] == three[i].b[1] && s[2] == three[i].b[2])
            return three[i].what;
    return NULL;
}

#endif
