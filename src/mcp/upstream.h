/* upstream.h - the MCP servers the gateway forwards to.
 *
 * Two kinds behind one interface:
 *   - Streamable HTTP (MCP 2025-11-25): a URL; one curl multi handle per
 *     upstream (kept-alive connections): a request is written by the
 *     sending thread, and answers are read by the upstream's own thread, so
 *     a slow upstream never holds an HTTP worker of Writ's.
 *   - stdio: a command Writ spawns (posix_spawn, no shell), one process per
 *     upstream, restarted when it dies; JSON-RPC messages are lines on its
 *     stdin/stdout; request ids are rewritten to ids unique to the process
 *     and restored in the answer, so answers are matched by id whoever sent
 *     the request.
 *
 * A request is one JSON-RPC message (the gateway has already decided it).
 * Its answer comes back through callbacks, on the upstream's thread, or
 * (HTTP) on the thread of a mcp_upstream_send in progress, this request's
 * own included: a caller of send must not hold a lock its callbacks take.
 *   on_head  once, with the HTTP status and the headers the gateway passes
 *            back (Content-Type, Mcp-Session-Id, MCP-Protocol-Version);
 *            it returns whether the receiver passes the answer on as it
 *            comes (a stream: no cap on its total) or keeps it whole
 *            (false: past max_answer the answer is cut);
 *   on_data  zero or more times, each piece of the body as it arrives (an
 *            SSE stream passes through piece by piece, not buffered); it
 *            returns whether the receiver takes more (mcp_up_flow: flow
 *            control of a stream whose reader is behind);
 *   on_done  exactly once, last: WRIT_OK, or an error and why (timeout,
 *            connection refused or closed mid-stream, answer too large, the
 *            stdio process died).  When on_done reports an error before
 *            on_head, on_head is not called.
 * For stdio the answer to a request is status 200, application/json, the
 * one JSON-RPC response line (id restored); to a notification, 202 and no
 * body.  Messages the process sends that answer nothing of ours (its own
 * requests and notifications) are dropped, and counted.
 *
 * Thread-safety: an mcp_upstream is shared by every HTTP worker;
 * mcp_upstream_send and mcp_upstream_cancel may be called from any thread.
 * Ownership: send copies everything in the request before it returns. */
#ifndef WRIT_MCP_UPSTREAM_H
#define WRIT_MCP_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "writ/writ.h"

typedef struct mcp_upstream mcp_upstream;

typedef struct mcp_up_limits {
    uint32_t connect_ms; /* 0 = 5000 */
    uint32_t idle_ms;    /* no byte for this long ends the answer (error; not while paused); 0 = 30000 */
    size_t max_answer;   /* bytes of an answer read whole (on_head false); 0 = 16 MiB (past it: cut) */
    uint32_t restart_ms; /* stdio: wait before restarting a process that died; 0 = 200 */
} mcp_up_limits;

typedef struct mcp_up_request {
    const char *method; /* "POST" (NULL = POST), "GET" (the server's stream), "DELETE" (end a session) */
    const char *body;   /* one JSON-RPC message (POST); NULL for GET/DELETE */
    size_t len;
    const char *session_id;       /* Mcp-Session-Id to send, NULL = none */
    const char *protocol_version; /* MCP-Protocol-Version to send, NULL = none */
    const char *accept;           /* NULL = "application/json, text/event-stream" */
    const char *last_event_id;    /* Last-Event-ID to send (a GET resuming an SSE stream), NULL = none */
    const char *const *headers;   /* extra "Name: value" lines (the injected credential), copied */
    size_t nheaders;
    /* who sends it (the agent), NULL = nobody in particular.  A stdio server
     * serves every agent in one process, with ids of Writ's own on the wire:
     * a notifications/cancelled is passed on naming the sender's own request
     * of that id, or none (never another agent's). */
    const char *owner;
    /* HTTP, a POST: the sender has nothing else to do until the answer (the
     * gateway's one call in flight, on its worker): mcp_upstream_send then
     * waits for the answer itself, a short bounded time, and runs the
     * callbacks on its own thread, so that the answer wakes this thread
     * only, not the upstream's and then this one.  It stops waiting (the
     * upstream's thread takes over) as soon as wait_fd is readable (the
     * sender's own work: its event loop's descriptor), or after 20 ms. */
    bool wait_here;
    int wait_fd;
    long spin_ns; /* wait_here: poll without sleeping this long first (mcp_spin_us) */
} mcp_up_request;

/* What on_data says of the answer after a piece (flow control). */
typedef enum mcp_up_flow {
    MCP_UP_MORE = 0, /* go on */
    /* the reader is behind: an HTTP transfer reads nothing more (the
     * upstream's sending waits on TCP) until mcp_upstream_resume, and is not
     * idle meanwhile; stdio: as MORE (an answer is one line, and the
     * process's pipe is every client's) */
    MCP_UP_PAUSE,
    /* the receiver holds too much of the answer unread (a stream whose
     * client does not read, one event that never ends): the answer is cut
     * here, on_done WRIT_ELIMIT; other requests go on */
    MCP_UP_CUT,
} mcp_up_flow;

typedef struct mcp_up_callbacks {
    bool (*on_head)(void *arg, unsigned status, const char *content_type, const char *session_id,
                    const char *protocol_version);
    mcp_up_flow (*on_data)(void *arg, const char *p, size_t n);
    void (*on_done)(void *arg, writ_status st, const char *why);
} mcp_up_callbacks;

/* Open an upstream.  name is for logs; url http:// or https://. */
WRIT_MUST_CHECK writ_status mcp_upstream_http_open(const char *name, const char *url,
                                                   const mcp_up_limits *lim, mcp_upstream **out,
                                                   writ_error *err);
/* argv[0] is the program (looked up on PATH), argv NULL-terminated.  The
 * first process is started before this returns (a program that cannot be
 * started is an error here).  Over stdio only POST is sent (GET and DELETE:
 * WRIT_EINVAL).  A process that dies fails the requests written to it
 * (on_done WRIT_EIO, "upstream NAME: process exited with status N (...)")
 * and is restarted after restart_ms; requests not yet written wait for it,
 * each at most connect_ms.  A request gets no answer within idle_ms: error.
 * An answer longer than max_answer fails its request alone (on_done
 * WRIT_ELIMIT, as an HTTP answer read whole would); the process goes on.
 * The new process is initialized again with the last "initialize" the
 * upstream forwarded (its answer swallowed, then notifications/initialized)
 * before anything queued is written, so the client's session survives a
 * crash of a server whose state is made by initialize alone. */
WRIT_MUST_CHECK writ_status mcp_upstream_stdio_open(const char *name, const char *const *argv,
                                                    const mcp_up_limits *lim, mcp_upstream **out,
                                                    writ_error *err);
/* Send one request.  WRIT_OK: the callbacks will be called (on_done exactly
 * once) and *ticket names the request for mcp_upstream_cancel.  Any other
 * status: no callback will be called. */
WRIT_MUST_CHECK writ_status mcp_upstream_send(mcp_upstream *u, const mcp_up_request *rq,
                                              const mcp_up_callbacks *cb, void *arg, uint64_t *ticket);
/* Stop a request (the client went away): after this returns, none of its
 * callbacks runs or will run (on_done included).  Unknown or finished
 * tickets are ignored. */
void mcp_upstream_cancel(mcp_upstream *u, uint64_t ticket);
/* A request paused by on_data (MCP_UP_PAUSE) reads on: its reader has
 * caught up.  Right away, on this thread, on_data may be called with what
 * the transport had kept.  Unknown, finished or unpaused tickets, and
 * stdio: ignored.  From any thread but never from inside a callback (the
 * caller must hold no lock a callback takes). */
void mcp_upstream_resume(mcp_upstream *u, uint64_t ticket);
/* Its max_answer (the default filled in); NULL: 0. */
size_t mcp_upstream_max_answer(const mcp_upstream *u);
/* Stop the thread (and the process), cancel what is in flight (no callback
 * runs after it returns).  Never from inside a callback.  NULL: no-op. */
void mcp_upstream_close(mcp_upstream *u);
const char *mcp_upstream_name(const mcp_upstream *u);
bool mcp_upstream_is_stdio(const mcp_upstream *u);
/* stdio: how many times the process was (re)started; HTTP: 0. */
uint64_t mcp_upstream_starts(const mcp_upstream *u);
/* stdio: how many lines of the process answered nothing of ours (its own
 * requests and notifications, late answers), dropped; HTTP: 0. */
uint64_t mcp_upstream_stdio_dropped(const mcp_upstream *u);
/* How many times the upstream has said its tools changed
 * (notifications/tools/list_changed): a stdio process's line, counted
 * here; over HTTP the notification arrives in a stream the gateway reads,
 * which counts it with mcp_upstream_tools_changed.  What the gateway knows
 * of the tools from before the last change is stale.  NULL: 0. */
uint64_t mcp_upstream_tools_epoch(const mcp_upstream *u);
void mcp_upstream_tools_changed(mcp_upstream *u);

#endif
