/* sse.h - reading and writing the Server-Sent Events framing of a buffered
 * answer (MCP's Streamable HTTP answers in it when the upstream chooses
 * text/event-stream).
 *
 * Reading follows the WHATWG HTML standard, "Interpreting an event stream":
 *   - an optional UTF-8 byte order mark starts the stream;
 *   - a line ends with CR LF, LF or a lone CR;
 *   - a blank line ends an event;
 *   - "data" fields (`data: v`, `data:v`, or a bare `data`, whose value is
 *     empty) make the event's data: their values joined by "\n", one space
 *     after the colon removed;
 *   - every other line (a comment starting with ':', `id`, `event`,
 *     `retry`, unknown fields) is kept as it came, for passing on, except
 *     a line that starts with a byte order mark after the stream's start:
 *     a field no client knows, dropped because written back first in a
 *     stream it would lose the mark and read as another field
 *     ("\xEF\xBB\xBFdata: x" as data no check saw; fuzz_mcp_sse found it);
 *   - bytes after the last blank line are not an event (a client discards
 *     them): they are left to the caller as the stream's tail.
 * The gateway reads buffered answers whole, and streams event by event as
 * they arrive (mcp_sse_next_mid for what follows the first events).
 *
 * Writing puts an event back: its other lines, then its data as one data
 * field per line of it, then the blank line.  A stream written as its byte
 * order mark (mcp_sse_bom), its events and its tail reads as the same events
 * and tail (fuzz/fuzz_mcp_sse.c checks this). */
#ifndef WRIT_MCP_SSE_H
#define WRIT_MCP_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/sbuf.h"

typedef struct mcp_sse_event {
    sbuf data;     /* the data fields' values joined by "\n" (no CR in it) */
    bool has_data; /* at least one data field: data may be empty and still sent */
    sbuf other;    /* the other lines, each ended by "\n" (a CR LF or CR ending made "\n") */
} mcp_sse_event;

/* The byte order mark's length at the start of p[0..n): 3 or 0. */
size_t mcp_sse_bom(const char *p, size_t n);

void mcp_sse_event_init(mcp_sse_event *ev);
void mcp_sse_event_clear(mcp_sse_event *ev);

/* The next event of the stream p[0..n) from *at (0 at the start: a byte order
 * mark there is skipped).  Returns 1 with ev filled (its buffers emptied
 * first) and *at past the event's blank line; 0 when no blank line follows,
 * *at then being where the tail begins (n when there is none); -1 when out of
 * memory. */
int mcp_sse_next(const char *p, size_t n, size_t *at, mcp_sse_event *ev);

/* As mcp_sse_next, for p starting in the middle of a stream (the events
 * after those already read): no byte order mark is skipped.  Reading a
 * stream as it arrives, a buffer ending in CR must wait for its next byte
 * (CR LF is one line end): pass n - 1 then. */
int mcp_sse_next_mid(const char *p, size_t n, size_t *at, mcp_sse_event *ev);

/* Where the complete events of a stream arriving in pieces end: the bytes
 * are scanned once, the lines split as mcp_sse_next splits them (a CR last
 * waits for the next byte: CR LF is one line end).  Zeroed to begin. */
typedef struct mcp_sse_scan {
    size_t pos; /* scanned up to here */
    bool mid;   /* a line is under way at pos */
    bool begun; /* past the byte order mark's place */
} mcp_sse_scan;

/* The end of the last complete event in p[0..n) (the bytes so far, of which
 * p[0..sc->pos) were scanned before), 0 when none; last: the stream ends
 * with p[n - 1].  p[0..end) then reads with mcp_sse_next (mcp_sse_next_mid
 * after the first piece) as events and no tail.  Taking those bytes away,
 * subtract end from sc->pos. */
size_t mcp_sse_scan_end(mcp_sse_scan *sc, const char *p, size_t n, bool last);

/* Append ev to out as an event: other lines, data (when has_data) as
 * "data: LINE" lines, the blank line.  data replaces ev's own data when
 * not NULL (dn bytes, an event's data then, e.g. a rewritten message). */
void mcp_sse_put(sbuf *out, const mcp_sse_event *ev, const char *data, size_t dn);

#endif
