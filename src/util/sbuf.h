/* sbuf.h - a growable byte buffer for building bodies, JSON and log lines.
 *
 * Appends never fail visibly: on allocation failure (or past SBUF_MAX) the
 * buffer is marked failed, later appends do nothing, and sb_ok() says so.
 * The caller checks once at the end.  The bytes are wr_malloc'd; take them
 * with sb_take() (caller frees with wr_free) or drop them with sb_free(). */
#ifndef WRIT_UTIL_SBUF_H
#define WRIT_UTIL_SBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define SBUF_MAX ((size_t)64 << 20)

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool failed;
} sbuf;

void sb_init(sbuf *b);
void sb_free(sbuf *b);
bool sb_ok(const sbuf *b);
/* Make room for n more bytes now (one allocation instead of doublings). */
void sb_reserve(sbuf *b, size_t n);
/* Appends.  Most fit in the room the buffer has: those are inline (a copy,
 * no call); the others grow it (sb_putn_grow). */
void sb_putn_grow(sbuf *b, const char *s, size_t n);
static inline void sb_putn(sbuf *b, const char *s, size_t n)
{
    if (n < b->cap - b->len && !b->failed) { /* cap > len whenever cap is set */
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
    } else {
        sb_putn_grow(b, s, n);
    }
}
static inline void sb_puts(sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }
static inline void sb_putc(sbuf *b, char c)
{
    if (b->cap - b->len > 1 && !b->failed) {
        b->p[b->len++] = c;
        b->p[b->len] = '\0';
    } else {
        sb_putn_grow(b, &c, 1);
    }
}
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string literal, quotes included (n bytes of s, any bytes; invalid
 * UTF-8 is written as U+FFFD so the output stays valid JSON). */
void sb_json_strn(sbuf *b, const char *s, size_t n);
void sb_json_str(sbuf *b, const char *s);
/* NUL-terminated contents (NULL if failed); ownership moves to the caller. */
char *sb_take(sbuf *b, size_t *len);

#endif
