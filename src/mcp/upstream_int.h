/* upstream_int.h - what the two upstream transports share (not for the gateway).
 *
 * Every request in flight is an up_req on its upstream's list (u->qmu).
 * Whoever calls a callback (the transport's thread; for HTTP also a sender,
 * see upstream_http.c) holds u->cbmu while it does; mcp_upstream_cancel
 * takes u->cbmu too, so once it has marked a request cancelled no callback
 * of that request is running, and the mark is checked (under u->cbmu)
 * before each callback: none will run.  A callback that cancels (already
 * holding u->cbmu) only marks.  Lock order: (HTTP: the multi mutex, then)
 * cbmu before qmu. */
#ifndef WRIT_MCP_UPSTREAM_INT_H
#define WRIT_MCP_UPSTREAM_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "mcp/idscan.h"
#include "mcp/upstream.h"

typedef struct up_req {
    struct up_req *prev, *next;
    uint64_t ticket;
    mcp_up_callbacks cb;
    void *arg;
    bool cancelled; /* set under cbmu and qmu */
    bool head_sent;
    bool done;
} up_req;

struct mcp_upstream {
    bool stdio;
    char *name;
    mcp_up_limits lim;    /* with the defaults filled in */
    pthread_mutex_t qmu;  /* the list, stop, the transport's queue */
    pthread_mutex_t cbmu; /* held while a callback runs */
    up_req *head, *tail;  /* every request not yet freed */
    uint64_t next_ticket;
    bool stop;
    pthread_t thread;
    bool thread_started;
    _Atomic uint64_t starts;
    _Atomic uint64_t tools_epoch; /* mcp_upstream_tools_epoch */
    void *impl;
    writ_status (*send_impl)(mcp_upstream *u, const mcp_up_request *rq, const mcp_up_callbacks *cb, void *arg,
                             uint64_t *ticket);
    void (*wake)(mcp_upstream *u);
    /* mcp_upstream_resume; NULL: nothing to resume (stdio) */
    void (*resume_impl)(mcp_upstream *u, uint64_t ticket);
    void (*close_impl)(mcp_upstream *u); /* after the thread has been joined */
};

/* Fill lim's zeros with the defaults. */
mcp_up_limits up_limits(const mcp_up_limits *lim);
/* A new upstream with its mutexes; NULL when out of memory. */
mcp_upstream *up_new(bool stdio, const char *name, const mcp_up_limits *lim);
/* Free what up_new made (the thread must be joined). */
void up_free(mcp_upstream *u);
/* Under qmu: give r a ticket and append it to the list. */
void up_link(mcp_upstream *u, up_req *r);
/* Under qmu: take r off the list. */
void up_unlink(mcp_upstream *u, up_req *r);
/* Called first by a transport's thread (nothing to do today: whether a
 * cancel comes from inside a callback is tracked per callback). */
void up_thread_enter(mcp_upstream *u);
/* Monotonic milliseconds. */
uint64_t up_now_ms(void);

/* Callbacks (cbmu taken here); each does nothing once r is
 * cancelled or done.  up_done marks r done (the caller then frees it). */
/* up_head: what on_head returned (false when it was not called); up_data:
 * what on_data returned (MCP_UP_MORE when it was not called: r is
 * cancelled or done). */
bool up_head(mcp_upstream *u, up_req *r, unsigned status, const char *ct, const char *sid, const char *pv);
mcp_up_flow up_data(mcp_upstream *u, up_req *r, const char *p, size_t n);
void up_done(mcp_upstream *u, up_req *r, writ_status st, const char *why);
/* up_done of an answer on_data cut (MCP_UP_CUT), with the one reason both transports give. */
void up_cut(mcp_upstream *u, up_req *r);
/* up_done of an answer longer than max_answer (an HTTP body read whole, a
 * stdio line), with the one reason both transports give. */
void up_too_big(mcp_upstream *u, up_req *r);

/* ---- stdio messages (pure functions, fuzzed by fuzz/fuzz_mcp_stdio.c) ---- */

typedef enum up_msg_kind {
    UP_MSG_REQUEST,      /* has a method and an id: answered by a response */
    UP_MSG_NOTIFICATION, /* no id (or a response of the client's): nothing comes back */
} up_msg_kind;

/* Parse one JSON-RPC message from the gateway.  A request has its id
 * replaced by the integer new_id; *orig_id receives the original id (a new
 * reference), *orig_text its text as the message spelled it (wr_free), and
 * *is_initialize whether its method is "initialize".  *line (wr_free) is
 * the message as received with only the id changed, its line breaks (JSON
 * whitespace) made spaces: one line, no newline at the end. */
writ_status up_stdio_rewrite(const char *body, size_t len, uint64_t new_id, char **line, up_msg_kind *kind,
                             json_t **orig_id, char **orig_text, bool *is_initialize, writ_error *err);

/* Read one line from the process: *msg the parsed message (a new
 * reference; NULL when it is not JSON).  True when it is a response (result
 * or error) whose id is a non-negative integer, *id that id; else it answers
 * nothing of ours. */
bool up_stdio_answer_id(const char *line, size_t len, uint64_t *id, json_t **msg);

/* When the line (msg: as up_stdio_answer_id parsed it, may be NULL) is a
 * request of the process's own (a method and an id), the line to write
 * back to it (wr_free, ending in "\n"): to "ping" an empty result, to
 * anything else error -32601, since the process serves every client at
 * once and none of them can be asked on its behalf.  NULL for anything
 * else (answers, notifications, text that is not JSON). */
char *up_stdio_refusal(const char *line, size_t len, const json_t *msg);

/* As up_stdio_refusal, for a line too long to keep, from its scan: when it
 * is a request (a "method" and a string or integer id), error -32601 (a
 * ping is never that long).  NULL for anything else, or out of memory. */
char *up_stdio_refusal_long(const mcp_idscan *scan);

/* The answer line with its id replaced by id_text (the caller's id as it
 * spelled it), the rest byte for byte (wr_free); msg is the parsed line,
 * used when the id cannot be found in the text.  NULL: out of memory. */
char *up_stdio_restore(const char *line, size_t len, json_t *msg, const char *id_text);

/* The span [*vs, *ve) of the value of the one top-level "id" member of the
 * JSON object text p (valid JSON); false when there is none, or more than
 * one, or the key is spelled with escapes. */
bool up_json_id_span(const char *p, size_t n, size_t *vs, size_t *ve);

/* The line splitter: bytes in, whole lines out (without "\n", a trailing
 * "\r" removed), each at most max bytes.  A longer line is not kept: from
 * the byte that takes it past max (the bytes kept so far first) to its
 * "\n", it goes through an id scanner (mcp/idscan.h) instead, and at its
 * end on_long is given the scan, which tells which request, if any, the
 * line answered.  Memory: the buffer of a line kept (less than 2 * max + 2
 * bytes) and the scanner's struct, whatever the length of a longer line. */
typedef struct up_lines {
    char *buf;
    size_t len, cap, max;
    bool skipping;   /* in a line past max: its bytes go through scan */
    uint64_t longsz; /* bytes of that line so far */
    bool broken;     /* out of memory: everything after is refused */
    mcp_idscan scan;
} up_lines;
void up_lines_init(up_lines *l, size_t max);
/* Forget the line under way (the process is gone). */
void up_lines_reset(up_lines *l);
void up_lines_free(up_lines *l);
/* Feed n bytes; on_line is called for each complete line of at most max
 * bytes (empty lines skipped), on_long at the end of each longer one with
 * its scan and its length (a trailing "\r" counted).  Returns false when
 * out of memory (then, and from then on, nothing more is read). */
bool up_lines_feed(up_lines *l, const char *p, size_t n,
                   void (*on_line)(void *ctx, const char *line, size_t len),
                   void (*on_long)(void *ctx, const mcp_idscan *scan, uint64_t len), void *ctx);

#endif
