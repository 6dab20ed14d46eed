/* sbuf.c - growable byte buffer (see sbuf.h). */
#include "util/sbuf.h"
#include "util/alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void sb_init(sbuf *b) { memset(b, 0, sizeof *b); }

void sb_free(sbuf *b)
{
    wr_free(b->p);
    sb_init(b);
}

bool sb_ok(const sbuf *b) { return !b->failed; }

static bool grow(sbuf *b, size_t extra)
{
    if (b->failed)
        return false;
    if (extra > SBUF_MAX || b->len + extra + 1 > SBUF_MAX) {
        b->failed = true;
        return false;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = wr_realloc(b->p, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void sb_reserve(sbuf *b, size_t n) { (void)grow(b, n); }

void sb_putn_grow(sbuf *b, const char *s, size_t n)
{
    if (!grow(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void sb_printf(sbuf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        sb_putn(b, small, (size_t)n);
        return;
    }
    if (!grow(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    unsigned cp = c & (0x3F >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* plain[c]: byte c goes into a JSON string as it is (0x20 to 0x7f but
 * '"' and '\\'); one look-up a byte instead of four compares.  Bytes from
 * 0x80 are 0 (UTF-8, checked below). */
static const unsigned char plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

void sb_json_strn(sbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    sb_putc(b, '"');
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && plain[u[run]])
            run++;
        if (run > i) {
            sb_putn(b, s + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = u[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sb_putn(b, e, 2);
            i++;
        } else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            if (c == '\n')
                sb_putn(b, "\\n", 2);
            else if (c == '\t')
                sb_putn(b, "\\t", 2);
            else if (c == '\r')
                sb_putn(b, "\\r", 2);
            else
                sb_putn(b, e, 6);
            i++;
        } else {
            size_t l = utf8_len(u + i, n - i);
            if (l == 0) {
                sb_puts(b, "\\ufffd");
                i++;
            } else {
                sb_putn(b, s + i, l);
                i += l;
            }
        }
    }
    sb_putc(b, '"');
}

void sb_json_str(sbuf *b, const char *s) { sb_json_strn(b, s ? s : "", s ? strlen(s) : 0); }

char *sb_take(sbuf *b, size_t *len)
{
    if (b->failed) {
        sb_free(b);
        return NULL;
    }
    if (!b->p) {
        if (!grow(b, 0))
            return NULL;
        b->p[0] = '\0';
    }
    char *p = b->p;
    if (len)
        *len = b->len;
    sb_init(b);
    return p;
}
