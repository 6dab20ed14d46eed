/* sse.c - Server-Sent Events framing: see sse.h. */
#include "mcp/sse.h"

#include <string.h>

size_t mcp_sse_bom(const char *p, size_t n) { return n >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3) ? 3 : 0; }

void mcp_sse_event_init(mcp_sse_event *ev)
{
    sb_init(&ev->data);
    sb_init(&ev->other);
    ev->has_data = false;
}

void mcp_sse_event_clear(mcp_sse_event *ev)
{
    sb_free(&ev->data);
    sb_free(&ev->other);
    ev->has_data = false;
}

/* The line at *i: its length without the ending; *i moves past the ending.
 * False when the rest has no line ending (it is the tail). */
static bool line(const char *p, size_t n, size_t *i, size_t *len)
{
    size_t s = *i, e = s;
    while (e < n && p[e] != '\n' && p[e] != '\r')
        e++;
    if (e == n)
        return false;
    *len = e - s;
    *i = e + 1 + (p[e] == '\r' && e + 1 < n && p[e + 1] == '\n');
    return true;
}

static int next(const char *p, size_t n, size_t *at, mcp_sse_event *ev, bool first)
{
    size_t i = *at;
    if (i == 0 && first)
        i = mcp_sse_bom(p, n);
    ev->data.len = 0;
    ev->other.len = 0;
    if (ev->data.p)
        ev->data.p[0] = '\0';
    if (ev->other.p)
        ev->other.p[0] = '\0';
    ev->has_data = false;
    size_t start = i, ll;
    for (;;) {
        size_t s = i;
        if (!line(p, n, &i, &ll)) {
            *at = start; /* no blank line: all of it is the tail */
            return 0;
        }
        if (ll == 0)
            break;
        const char *l = p + s;
        if (ll >= 4 && !memcmp(l, "data", 4) && (ll == 4 || l[4] == ':')) {
            size_t o = ll == 4 ? 4 : 5 + (ll > 5 && l[5] == ' ');
            if (ev->has_data)
                sb_putc(&ev->data, '\n');
            sb_putn(&ev->data, l + o, ll - o);
            ev->has_data = true;
        } else if (!mcp_sse_bom(l, ll)) {
            sb_putn(&ev->other, l, ll);
            sb_putc(&ev->other, '\n');
        }
    }
    *at = i;
    return sb_ok(&ev->data) && sb_ok(&ev->other) ? 1 : -1;
}

int mcp_sse_next(const char *p, size_t n, size_t *at, mcp_sse_event *ev) { return next(p, n, at, ev, true); }

int mcp_sse_next_mid(const char *p, size_t n, size_t *at, mcp_sse_event *ev)
{
    return next(p, n, at, ev, false);
}

size_t mcp_sse_scan_end(mcp_sse_scan *sc, const char *p, size_t n, bool last)
{
    size_t end = 0, i = sc->pos;
    if (!n)
        return 0;
    if (!sc->begun) { /* the stream's byte order mark, once its 3 bytes are in */
        if (n < 3 && !last && !memcmp(p, "\xEF\xBB\xBF", n))
            return 0;
        sc->begun = true;
        i = mcp_sse_bom(p, n);
    }
    while (i < n) {
        char c = p[i];
        if (c != '\r' && c != '\n') {
            sc->mid = true;
            i++;
            continue;
        }
        if (c == '\r' && i + 1 == n && !last)
            break;
        size_t e = i + 1 + (c == '\r' && i + 1 < n && p[i + 1] == '\n');
        if (!sc->mid)
            end = e; /* an empty line ends an event */
        sc->mid = false;
        i = e;
    }
    sc->pos = i;
    return end;
}

void mcp_sse_put(sbuf *out, const mcp_sse_event *ev, const char *data, size_t dn)
{
    if (ev->other.len)
        sb_putn(out, ev->other.p, ev->other.len);
    if (data || ev->has_data) {
        const char *d = data ? data : ev->data.p ? ev->data.p : "";
        size_t n = data ? dn : ev->data.len, i = 0;
        for (;;) { /* one field per line; a CR, CR LF or LF in it is a line break */
            size_t e = i;
            while (e < n && d[e] != '\n' && d[e] != '\r')
                e++;
            sb_putn(out, "data: ", 6);
            sb_putn(out, d + i, e - i);
            sb_putc(out, '\n');
            if (e == n)
                break;
            i = e + 1 + (d[e] == '\r' && e + 1 < n && d[e + 1] == '\n');
        }
    }
    sb_putc(out, '\n');
}
