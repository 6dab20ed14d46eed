/* jsonpos.c - find a path again in JSON text (see jsonpos.h).  A small
 * scanner over text that jansson has already accepted: it only needs to
 * tell strings, containers and scalars apart and skip them. */
#include "util/jsonpos.h"

#include <string.h>

#define JPOS_MAX_DEPTH 256

typedef struct scan {
    const char *s;
    size_t n, i;
} scan;

static void ws(scan *c)
{
    while (c->i < c->n &&
           (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\n' || c->s[c->i] == '\r'))
        c->i++;
}

/* Past a string whose opening quote is at c->i; *body, *blen: its raw body. */
static void string(scan *c, const char **body, size_t *blen)
{
    size_t start = ++c->i;
    while (c->i < c->n && c->s[c->i] != '"')
        c->i += c->s[c->i] == '\\' ? 2 : 1;
    if (c->i > c->n)
        c->i = c->n;
    *body = c->s + start;
    *blen = c->i - start;
    if (c->i < c->n)
        c->i++;
}

static void skip(scan *c, int depth)
{
    ws(c);
    if (c->i >= c->n)
        return;
    char ch = c->s[c->i];
    if (ch == '"') {
        const char *b;
        size_t l;
        string(c, &b, &l);
        return;
    }
    if (ch == '{' || ch == '[') {
        char close = ch == '{' ? '}' : ']';
        c->i++;
        for (;;) {
            ws(c);
            if (c->i >= c->n)
                return;
            if (c->s[c->i] == close) {
                c->i++;
                return;
            }
            if (c->s[c->i] == ',' || c->s[c->i] == ':') {
                c->i++;
                continue;
            }
            if (depth >= JPOS_MAX_DEPTH) { /* give up: the end of the text */
                c->i = c->n;
                return;
            }
            skip(c, depth + 1);
        }
    }
    /* a number, true, false, null; anything else (text jansson took that
     * this scanner does not expect) moves on by one, so every call moves */
    size_t at = c->i;
    while (c->i < c->n && c->s[c->i] && !strchr(",]} \t\r\n", c->s[c->i]))
        c->i++;
    if (c->i == at)
        c->i++;
}

size_t wr_jpos_find(const char *text, size_t len, const wr_jpos_step *path, size_t n, int at_key)
{
    scan c = {text, len, 0};
    ws(&c);
    size_t found = c.i;
    for (size_t k = 0; k < n && k < JPOS_MAX_DEPTH; k++) {
        ws(&c);
        if (c.i >= c.n)
            break;
        int hit = 0;
        if (path[k].key && c.s[c.i] == '{') {
            c.i++;
            for (;;) {
                ws(&c);
                if (c.i >= c.n || c.s[c.i] != '"')
                    break;
                size_t at = c.i;
                const char *b;
                size_t l;
                string(&c, &b, &l);
                ws(&c);
                if (c.i < c.n && c.s[c.i] == ':')
                    c.i++;
                ws(&c);
                if (l == strlen(path[k].key) && !memcmp(b, path[k].key, l)) {
                    found = at_key && k + 1 == n ? at : c.i;
                    hit = 1;
                    break;
                }
                skip(&c, k + 1);
                ws(&c);
                if (c.i < c.n && c.s[c.i] == ',')
                    c.i++;
            }
        } else if (!path[k].key && c.s[c.i] == '[') {
            c.i++;
            for (size_t item = 0;; item++) {
                ws(&c);
                if (c.i >= c.n || c.s[c.i] == ']')
                    break;
                if (item == path[k].index) {
                    found = c.i;
                    hit = 1;
                    break;
                }
                skip(&c, k + 1);
                ws(&c);
                if (c.i < c.n && c.s[c.i] == ',')
                    c.i++;
            }
        }
        if (!hit)
            break;
    }
    return found;
}
