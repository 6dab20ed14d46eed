/* fuzz_mcp_sse.c - libFuzzer target for the Server-Sent Events framing of
 * the MCP gateway (src/mcp/sse.c).
 *
 * Input: the stream (any bytes).  Besides "no crash", it aborts when a
 * property fails:
 *   - every event's data holds no CR, and is empty when it has no data field;
 *     its other lines are non-empty, each ended by one "\n", hold no CR, and
 *     none is a data field or starts with a byte order mark;
 *   - the events and the tail cover the stream: the tail is its end, and
 *     holds no blank line;
 *   - the stream written back (its byte order mark, each event with
 *     mcp_sse_put, the tail) reads as the same events and the same tail;
 *   - with each event's data replaced by a text of its own (as the gateway
 *     replaces a filtered message), that text is what is read back;
 *   - read as it would arrive, in pieces (their sizes from the stream's own
 *     bytes), with mcp_sse_scan_end taking the complete events out as the
 *     gateway's streaming reader does: the same events, and the same tail
 *     left over at the end. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_EVENTS 4096

typedef struct ev_copy {
    char *data, *other;
    size_t dn, on;
    bool has;
} ev_copy;

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_mcp_sse: %s\n", what);
    abort();
}

static bool is_data_field(const char *l, size_t n)
{
    return n >= 4 && !memcmp(l, "data", 4) && (n == 4 || l[4] == ':');
}

static void check_event(const mcp_sse_event *ev)
{
    if (!ev->has_data && ev->data.len)
        fail("data without a data field");
    if (ev->data.len && memchr(ev->data.p, '\r', ev->data.len))
        fail("CR in data");
    size_t i = 0, n = ev->other.len;
    const char *o = ev->other.p;
    while (i < n) {
        const char *e = memchr(o + i, '\n', n - i);
        if (!e)
            fail("an other line without its \\n");
        size_t ll = (size_t)(e - (o + i));
        if (ll == 0)
            fail("an empty other line");
        if (memchr(o + i, '\r', ll))
            fail("CR in an other line");
        if (is_data_field(o + i, ll))
            fail("a data field among the other lines");
        if (mcp_sse_bom(o + i, ll))
            fail("an other line starting with a byte order mark"); /* written first, it would lose it */
        i += ll + 1;
    }
}

/* All events of s[0..n) (copies, at most MAX_EVENTS) and the tail's start. */
static size_t read_all(const char *s, size_t n, ev_copy *out, size_t *nout)
{
    mcp_sse_event ev;
    mcp_sse_event_init(&ev);
    size_t at = 0, k = 0;
    int got = 0;
    while (k < MAX_EVENTS && (got = mcp_sse_next(s, n, &at, &ev)) == 1) {
        check_event(&ev);
        out[k].has = ev.has_data;
        out[k].dn = ev.data.len;
        out[k].on = ev.other.len;
        out[k].data = malloc(ev.data.len + 1);
        out[k].other = malloc(ev.other.len + 1);
        if (!out[k].data || !out[k].other)
            abort();
        memcpy(out[k].data, ev.data.p ? ev.data.p : "", ev.data.len);
        memcpy(out[k].other, ev.other.p ? ev.other.p : "", ev.other.len);
        k++;
    }
    if (k < MAX_EVENTS && got < 0)
        abort(); /* out of memory: not a finding */
    mcp_sse_event_clear(&ev);
    *nout = k;
    return at;
}

static void free_all(ev_copy *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].data);
        free(e[i].other);
    }
}

/* The stream written back: its BOM, the events (data replaced by a tag when
 * tagged), the tail. */
static sbuf write_all(const char *s, size_t n, const ev_copy *e, size_t ne, size_t tail, bool tagged)
{
    sbuf out;
    sb_init(&out);
    sb_putn(&out, s, mcp_sse_bom(s, n));
    for (size_t i = 0; i < ne; i++) {
        mcp_sse_event ev;
        mcp_sse_event_init(&ev);
        ev.has_data = e[i].has;
        sb_putn(&ev.data, e[i].data, e[i].dn);
        sb_putn(&ev.other, e[i].other, e[i].on);
        char tag[32];
        int tn = snprintf(tag, sizeof tag, "{\"n\":%zu}", i);
        mcp_sse_put(&out, &ev, tagged ? tag : NULL, tagged ? (size_t)tn : 0);
        mcp_sse_event_clear(&ev);
    }
    sb_putn(&out, s + tail, n - tail);
    if (!sb_ok(&out))
        abort();
    return out;
}

/* The events of s[0..n) read piece by piece, compared with a[0..na) and
 * the tail s[tail..n). */
static void check_pieces(const char *s, size_t n, const ev_copy *a, size_t na, size_t tail)
{
    sbuf buf;
    sb_init(&buf);
    mcp_sse_scan sc = {0, false, false};
    mcp_sse_event ev;
    mcp_sse_event_init(&ev);
    size_t k = 0, off = 0;
    bool begun = false;
    while (off < n || !begun) {
        size_t piece = 1 + (size_t)(unsigned char)s[off % (n ? n : 1)] % 7;
        if (!n)
            piece = 0;
        if (piece > n - off)
            piece = n - off;
        sb_putn(&buf, s + off, piece);
        off += piece;
        if (!sb_ok(&buf))
            abort();
        size_t end = mcp_sse_scan_end(&sc, buf.p ? buf.p : "", buf.len, off == n);
        if (end) {
            size_t at = 0;
            int got;
            while ((got = begun ? mcp_sse_next_mid(buf.p, end, &at, &ev)
                                : mcp_sse_next(buf.p, end, &at, &ev)) == 1) {
                begun = true;
                if (k >= na || ev.has_data != a[k].has || ev.data.len != a[k].dn || ev.other.len != a[k].on ||
                    memcmp(ev.data.p ? ev.data.p : "", a[k].data, a[k].dn) ||
                    memcmp(ev.other.p ? ev.other.p : "", a[k].other, a[k].on))
                    fail("in pieces: another event");
                k++;
            }
            if (got < 0)
                abort();
            if (at != end)
                fail("in pieces: a complete part left a tail");
            memmove(buf.p, buf.p + end, buf.len - end);
            buf.len -= end;
            sc.pos -= end;
        }
        if (off == n)
            break;
    }
    if (k != na)
        fail("in pieces: another number of events");
    size_t bom = begun ? 0 : mcp_sse_bom(buf.p ? buf.p : "", buf.len); /* no event: the tail follows it */
    if (buf.len - bom != n - tail || memcmp(buf.p ? buf.p + bom : "", s + tail, n - tail))
        fail("in pieces: another tail");
    mcp_sse_event_clear(&ev);
    sb_free(&buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    static ev_copy a[MAX_EVENTS], b[MAX_EVENTS];
    size_t na, nb;
    size_t tail = read_all(s, size, a, &na);
    if (tail > size)
        fail("the tail starts past the end");
    if (na < MAX_EVENTS) {
        /* the tail has no blank line: every line in it that ends is not empty */
        size_t i = tail;
        while (i < size) {
            if (s[i] == '\n' || s[i] == '\r')
                fail("a blank line in the tail");
            while (i < size && s[i] != '\n' && s[i] != '\r')
                i++;
            if (i < size)
                i += 1 + (s[i] == '\r' && i + 1 < size && s[i + 1] == '\n');
        }
    }

    if (na < MAX_EVENTS)
        check_pieces(s, size, a, na, tail);

    sbuf w = write_all(s, size, a, na, tail, false);
    size_t tail2 = read_all(w.p ? w.p : "", w.len, b, &nb);
    if (nb != na)
        fail("written back: another number of events");
    for (size_t i = 0; i < na; i++)
        if (a[i].has != b[i].has || a[i].dn != b[i].dn || a[i].on != b[i].on ||
            memcmp(a[i].data, b[i].data, a[i].dn) || memcmp(a[i].other, b[i].other, a[i].on))
            fail("written back: another event");
    if (na < MAX_EVENTS && (w.len - tail2 != size - tail || memcmp(w.p + tail2, s + tail, size - tail)))
        fail("written back: another tail");
    free_all(b, nb);
    sb_free(&w);

    w = write_all(s, size, a, na, tail, true);
    read_all(w.p ? w.p : "", w.len, b, &nb);
    if (nb != na)
        fail("data replaced: another number of events");
    for (size_t i = 0; i < na; i++) {
        char tag[32];
        int tn = snprintf(tag, sizeof tag, "{\"n\":%zu}", i);
        if (!b[i].has || b[i].dn != (size_t)tn || memcmp(b[i].data, tag, (size_t)tn) || b[i].on != a[i].on ||
            memcmp(b[i].other, a[i].other, a[i].on))
            fail("data replaced: not read back");
    }
    free_all(b, nb);
    sb_free(&w);
    free_all(a, na);
    return 0;
}
