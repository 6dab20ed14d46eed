/* gateway_int.h - the MCP gateway's request and upstream state, shared by
 * its files: gateway.c (the request's state machine: decide, forward,
 * stream), listfilter.c (what a listing shows this agent, and the same for
 * a stream's messages) and toolinfo.c (what a call knows of its tool:
 * context.tool, asked of the upstream when no listing has shown it). */
#ifndef WRIT_MCP_GATEWAY_INT_H
#define WRIT_MCP_GATEWAY_INT_H

#include "cedar/reqbuild.h"
#include "cedar/value.h"
#include "mcp/gateway.h"
#include "mcp/mask.h"
#include "mcp/session.h"
#include "mcp/sse.h"
#include "mcp/taskbind.h"
#include "mcp/upstream.h"
#include "server/server_int.h"
#include "util/sbuf.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define MCP_DENIED (-32001)
/* held for a person's approval (src/approval/): data is the approval */
#define MCP_APPROVAL_REQUIRED (-32002)

typedef struct gw_up {
    const srv_mcp_upstream *cfg;
    mcp_upstream *u;
    char *cred_line;       /* "Header: value", NULL = none */
    const char *cred_value; /* its value, masked in what reaches a client (NULL: none, or too short) */
    size_t cred_vlen;
    const char *token_aud; /* minted-token credential: its audience, NULL = none */
    pthread_mutex_t mu;    /* guards annotations and the ask's fields */
    json_t *annotations;   /* tool name -> annotations object, from the last tools/list */
    uint64_t tools_epoch;  /* the upstream's tools_epoch they were gathered in (gw_tools_fresh) */
    /* asking it for its tools (toolinfo.c: gw_tool_wait) */
    bool asking;                 /* an ask's thread is running */
    bool ask_closed;             /* shutting down: no new ask */
    bool ask_thread_live;        /* ask_thread is to be joined */
    pthread_t ask_thread;
    int64_t asked_ms;            /* when it was last asked (0: never) */
    struct gw_req *ask_waiters;  /* calls suspended until the ask ends (ask_next) */
    mcp_taskbind *tasks;         /* which agent each task was created for (taskbind.h) */
} gw_up;

typedef enum gw_phase { P_NEW, P_ASKING, P_DECIDED, P_WAIT_HEAD, P_BUFFER, P_STREAM, P_SENT } gw_phase;
typedef enum gw_list { L_NONE, L_TOOLS, L_RESOURCES, L_PROMPTS, L_TEMPLATES, L_TASKS } gw_list;

typedef struct gw_req {
    struct mcp_gw *g;
    gw_up *up;
    struct MHD_Connection *c;
    gw_phase phase;
    gw_list list;
    srv_durable durable;
    bool allow;
    int deny_code;    /* the JSON-RPC error of a deny (0: MCP_DENIED) */
    json_t *approval; /* a pending approval the deny waits for, NULL = none */
    json_t *id;       /* the request's id (for errors), NULL = none */
    char *owner;      /* gw_owner, while counted in the gateway's agents */
    char *body;       /* what is forwarded (a copy) */
    size_t len;
    char http_method[8];
    srv_task task; /* kept for list filtering */
    bool has_task;
    srv_peer peer;
    /* the upstream's answer, guarded by mu */
    pthread_mutex_t mu;
    bool waiting; /* c is suspended until a callback resumes it */
    bool head_in, finished;
    bool answered; /* cb_done ran (finished may also be set by quiesce) */
    bool counted;  /* in g->posts */
    bool lone;     /* the only POST in flight when it came (see forward) */
    bool started;  /* a ticket is live */
    bool ask_done; /* the ask it waited for (or it need not wait) is over (under mu) */
    bool ask_registered; /* it has been in its upstream's ask_waiters */
    bool task_call;      /* a task-augmented tools/call: its answer names the task it created */
    /* the credential line Writ minted for this request ("Authorization:
     * Bearer JWT", gw_minted_line), NULL: none; kept while mask, which
     * masks the upstream's credential and that JWT in the answer, uses it */
    char *minted;
    mcp_mask mask;
    struct gw_req *ask_next;
    uint64_t ticket;
    unsigned status;
    writ_status done_st;
    sbuf buf;
    size_t rd; /* a plain stream's bytes of buf handed out already (reader; under mu) */
    /* an SSE answer streamed event by event (sse_reader): what is ready for
     * the client, read by the client's thread alone */
    bool sse_filter, sse_begun;
    mcp_sse_scan sse_scan; /* where buf's events end (under mu, as buf) */
    size_t sse_ready;      /* buf's complete events end here, as far as scanned (0: none) */
    bool up_paused;        /* a streamed answer's upstream paused: the client is behind (under mu) */
    sbuf sse_out;
    struct gw_req *prev, *next; /* the gateway's live requests */
    /* Texts, last: a new request zeroes what is above `deny` and only the
     * first byte of each of these (req_new), not 3 KB per call. */
    char deny[700];
    char scope[600];   /* the minted upstream token's scope: the decided action, else the token's items on the upstream */
    char sid[512];     /* the client's Mcp-Session-Id (session.h: bound to its agent) */
    char fwd_sid[256]; /* the upstream's id inside it, the one forwarded */
    char pver[64], accept[256];
    char last_event[256]; /* Last-Event-ID: a client resuming an SSE stream (GET) */
    char ctype[128], up_sid[256], up_pver[64];
    char why[200];
} gw_req;

struct mcp_gw {
    const srv_config *cfg;
    srv *s;
    gw_up *ups;
    size_t nups;
    srv_ext ext;
    srv_ext_route routes[3];
    pthread_mutex_t live_mu;
    gw_req *live;
    gw_req *spare; /* freed requests kept for the next (req_new), linked by next; under live_mu */
    int nspare;
    bool quiesced;
    /* POSTs between their start and their end: one alone may have its
     * record committed on its own thread (srv_durable_commit_here) */
    atomic_uint posts;
    mcp_sessions *sessions; /* Mcp-Session-Id bound to agents (made at start) */
    pthread_mutex_t agents_mu;
    json_t *agents; /* gw_owner -> its requests open now (mcp_agent_requests) */
};

/* gateway.c: the Cedar request of action aid (NAME/...) on r's upstream by
 * its task token's holder (principal, action, resource, task, peer). */
srv_ask gw_ask(mcp_gw *g, gw_req *r, const char *aid);
/* "Authorization: Bearer <JWT>": a token for r's upstream (its audience),
 * for r's task token's holder, scope as given, 60 s (wr_malloc'd); NULL
 * with err. */
char *gw_minted_line(mcp_gw *g, gw_req *r, const char *scope, writ_error *err);

/* listfilter.c */

/* The annotations a listed tool declares: the four hints, each when it is
 * a boolean (new reference); NULL when out of memory or it has no name. */
json_t *gw_declared(const json_t *it);
/* Remember the annotations a listed tool declares (its answer to a
 * tools/list); returns them (new reference), NULL when out of memory or
 * the item has no name. */
json_t *gw_remember_tool(gw_up *up, const json_t *it);
/* Filter one JSON-RPC message of a list's answer (list) or of a stream
 * (L_NONE: any list a response's result holds): 1 with *out its filtered
 * text (wr_malloc'd), 0 when it holds no list result, -1 (r->why) when it
 * cannot be read or its list is no array. */
int gw_filter_message(mcp_gw *g, gw_req *r, gw_list list, const char *text, size_t len, char **out);
/* Could the message p[0..n) hold a list result, or say the tools changed?
 * (false: surely not; a key spelled with \u escapes counts as maybe) */
bool gw_maybe_list(const char *p, size_t n);
/* The complete events in[0..n) of a streamed SSE answer into r->sse_out,
 * each message holding a list filtered, one that cannot be read dropped. */
void gw_sse_filter_events(mcp_gw *g, gw_req *r, const char *in, size_t n);

/* r's principal as "PTYPE AGENT" (a type has no space), wr_malloc'd; NULL
 * without a token or memory.  What tasks and an agent's share are kept by. */
char *gw_owner(mcp_gw *g, const gw_req *r);
/* Tasks (taskbind.h): remember the task a task-augmented call's answer
 * (one JSON-RPC message, text[0..len)) created as this agent's (shared:
 * written to the state store before this returns); is task id (a JSON
 * value, may be NULL) this agent's on r's upstream?  Shared, a task not
 * held in memory is asked of the store (asks: as mcp_taskbind_whose). */
void gw_task_note(mcp_gw *g, gw_req *r, const char *text, size_t len);
bool gw_task_owned(mcp_gw *g, gw_req *r, const json_t *id, unsigned *asks);
/* Whose task id is (mcp_taskbind_whose; a non-string id is nobody's):
 * detail names the other owner, or why the store could not answer. */
mcp_task_whose gw_task_whose(mcp_gw *g, gw_req *r, const json_t *id, unsigned *asks, char *detail, size_t n);

/* toolinfo.c */

/* Before a tools/call of tool name is decided: 0 when it can be decided
 * now, with *ann the annotations the tool declares (a new reference; NULL
 * when no listing shows it: the upstream was asked less than 10 s ago, or
 * this call waited for an ask already); 1 when r must wait for the
 * upstream's tools/list, asked on a thread of its own: r is then among the
 * upstream's ask_waiters, and when the ask ends r->ask_done is set and r,
 * if marked waiting, resumed (the caller suspends it).  One lock and one
 * lookup when the tool is known. */
int gw_tool_wait(mcp_gw *g, gw_req *r, const char *name, json_t **ann);
/* r leaves its upstream's ask_waiters (it is being freed). */
void gw_tool_unwait(gw_req *r);
/* Shutting down: no more asks, and the one running (bounded) is waited for. */
void gw_tool_asks_end(gw_up *up);
/* up->mu held: when the upstream has said its tools changed since up's
 * annotations were gathered, forget them (and let the next call that needs
 * them ask at once, not 10 s after the last ask). */
void gw_tools_fresh(gw_up *up);

/* context.tool of a call as JSON: {name, annotations} (new reference),
 * ann as gw_tool_wait gave it (NULL: MCP's default hints). */
json_t *gw_tool_record(const char *name, const json_t *ann);
/* context.input and context.tool of a tools/call as Cedar values (this
 * thread's arena, until its next call), and both as one record; the tool
 * as gw_tool_record has it. */
writ_status gw_call_values(const char *name, const json_t *args, const json_t *ann, cedar_fact out[2],
                           const cv_record **rec, writ_error *err);

#endif
