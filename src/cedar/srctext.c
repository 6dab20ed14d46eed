/* srctext.c - Cedar source text: UTF-8, positions, string-literal escapes;
 * shared by the policy parser and the schema parser. */
#include "cedar/srctext.h"
#include "util/text.h"

size_t cedar_utf8_check(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned min;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            min = 0x10000;
        } else
            return i;
        if (n - i <= need)
            return i;
        unsigned cp = c & (0x3F >> need);
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += need + 1;
    }
    return n;
}

void cedar_text_position(const char *src, size_t len, size_t off, uint32_t *line, uint32_t *col)
{
    uint32_t l = 1, c = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (src[i] == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    *line = l;
    *col = c;
}

int cedar_lex_escape(const char *s, size_t n, size_t *i, uint32_t *cp)
{
    size_t k = *i + 1;
    int e = k < n ? (unsigned char)s[k] : 0;
    k++;
    switch (e) {
    case 'n':
        *cp = '\n';
        break;
    case 'r':
        *cp = '\r';
        break;
    case 't':
        *cp = '\t';
        break;
    case '\\':
        *cp = '\\';
        break;
    case '0':
        *cp = 0;
        break;
    case '\'':
        *cp = '\'';
        break;
    case '"':
        *cp = '"';
        break;
    case 'x': {
        int h1 = k < n ? wr_hexval((unsigned char)s[k]) : -1;
        int h2 = k + 1 < n ? wr_hexval((unsigned char)s[k + 1]) : -1;
        if (h1 < 0 || h2 < 0 || h1 * 16 + h2 > 0x7F) {
            *i = k + 2 <= n ? k + 2 : n;
            return -1;
        }
        *cp = (uint32_t)(h1 * 16 + h2);
        k += 2;
        break;
    }
    case 'u': {
        if (k >= n || s[k] != '{') {
            *i = k;
            return -1;
        }
        k++;
        uint32_t v = 0;
        size_t digits = 0;
        while (k < n && s[k] != '}' && wr_hexval((unsigned char)s[k]) >= 0 && digits < 7) {
            v = v * 16 + (uint32_t)wr_hexval((unsigned char)s[k]);
            k++;
            digits++;
        }
        if (k >= n || s[k] != '}') {
            while (k < n && s[k] != '}')
                k++;
            *i = k < n ? k + 1 : k;
            return -1;
        }
        k++;
        if (digits == 0 || digits > 6 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
            *i = k;
            return -1;
        }
        *cp = v;
        break;
    }
    default:
        if (e >= 0x80) /* quote the whole character */
            while (k < n && ((unsigned char)s[k] & 0xC0) == 0x80)
                k++;
        *i = k;
        return -1;
    }
    *i = k;
    return 0;
}

size_t cedar_utf8_put(unsigned char out[4], uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

long cedar_lex_unescape(const char *s, size_t n, char *out, size_t *bad)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] != '\\') {
            out[o++] = s[i++];
            continue;
        }
        size_t at = i;
        uint32_t cp;
        if (cedar_lex_escape(s, n, &i, &cp) < 0) {
            *bad = at;
            return -1;
        }
        o += cedar_utf8_put((unsigned char *)out + o, cp);
    }
    return (long)o;
}
