/* server_int.h - what the server's files share. */
#ifndef WRIT_SERVER_SERVER_INT_H
#define WRIT_SERVER_SERVER_INT_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "limits/limits.h"
#include "server/config.h"
#include "server/metrics.h"
#include "server/route.h"
#include "server/server.h"
#include "util/sbuf.h"
#include "server/snapshot.h"
#include "store/audit.h"
#include "store/store.h"
#include "writ/cedar.h"
#include "writ/token.h"

typedef struct srv {
    const srv_config *cfg;
    srv_policy_store *store;
    wr_audit *audit;
    srv_metrics met;
    struct MHD_Daemon *daemon;  /* the first worker's (its bound port) */
    struct srv_loop *loop;      /* the worker threads and their daemons (loop.c) */
    pthread_key_t az_key;       /* this thread's writ_authorizer */
    atomic_int inflight;        /* requests begun and not completed */
    atomic_int suspended;       /* answers held by durable.c, not yet resumed */
    atomic_bool draining;
    atomic_int conns;           /* open connections (conns.c) */
    atomic_ullong conns_refused; /* connections opened past max_connections */
    pthread_mutex_t conns_mu;    /* guards conn_list (conns.c) */
    struct srv_conn *conn_list;  /* open connections, for the header deadline */
    atomic_ullong header_timeouts; /* connections cut for slow headers */
    atomic_ullong malformed;       /* requests refused for ambiguous framing (framing.c) */
    char *type_prefix;          /* "Writ::" or "" */
    char *action_type;          /* "Writ::Action" or "Action" */
    int state_lock;             /* fd holding the state folder's writ.lock (startup.c), or -1 */
    route_table routes;         /* /authz/check (route.c) */
    writ_keyring *keyring;      /* NULL unless token_keys */
    writ_token_verifier *verifier;   /* NULL: no task tokens configured */
    writ_revocations *revocations;
    /* shared state (state.c) */
    wr_store *state;                   /* `state`: SQLite or Redis (store.h) */
    char replica[256];                 /* `replica`, or the host name */
    atomic_ullong state_stale_refused; /* tokens refused while the shared state was stale */
    /* token exchange (oauth.c) */
    writ_issuer_config issuer;  /* strings point into cfg */
    writ_bundle *bundle;        /* trusted identity issuers, NULL = none */
    char *jwks;                 /* the keyring's public JWKS, NULL without a keyring */
    size_t jwks_len;
    char *admin_secret;         /* NULL = no admin credential */
    size_t admin_len;
    /* TLS (tls.c): PEM texts handed to libmicrohttpd, NULL = plain HTTP */
    char *tls_cert_pem, *tls_key_pem, *tls_trust_pem;
    size_t tls_key_len;
    writ_bundle *client_roots;  /* tls_client_ca by trust domain, NULL = no client certificates */
    /* facts (facts.c) */
    struct srv_cidr *proxies; /* trusted_proxies */
    size_t nproxies;
    char dest_default[130]; /* destination_default, normalised */
    /* modules (server.h: srv_ext) and the endpoint table with theirs (http.c) */
    const struct srv_ext *const *ext;
    size_t next;
    const struct srv_ext *gate; /* the one module with a gate, NULL = none */
    struct srv_http_ep *eps;
    size_t neps;
    /* task-history limits (history.c) */
    struct wr_limits *limits;
} srv;
/* One trusted_proxies entry: an address range. */
typedef struct srv_cidr {
    int family;                 /* AF_INET or AF_INET6 */
    unsigned prefix;
    unsigned char addr[16];
} srv_cidr;

/* ---- TLS (tls.c) */
/* Read tls_cert / tls_key / tls_client_ca and check them (clear errors). */
WRIT_MUST_CHECK writ_status srv_tls_open(srv *s, writ_error *err);
void srv_tls_close(srv *s);
/* The caller's client certificate, verified as an X.509-SVID against
 * tls_client_ca (never the TLS layer's optional check alone).  Returns 0
 * when none was presented (or client certificates are off), 1 with *id
 * (the caller frees it) when it verifies, -1 with why/err when it does not. */
int srv_peer_identity(srv *s, struct MHD_Connection *c, writ_identity **id, writ_reason *why,
                      writ_error *err);
/* Verify a task token presented on connection c: signature, issuer,
 * audience, times, revocation, and for a certificate-bound token (cnf) the
 * connection's verified client certificate (cnf_missing / cnf_mismatch;
 * a certificate that does not verify: its own reason). */
WRIT_MUST_CHECK writ_status srv_verify_task_token(srv *s, struct MHD_Connection *c, const char *tok,
                                                  size_t len, writ_task_token **out, writ_reason *why,
                                                  writ_error *err);
/* Verify a task token whatever it is bound to (revocation by token=). */
WRIT_MUST_CHECK writ_status srv_verify_any_binding(srv *s, const char *tok, size_t len, writ_task_token **out,
                                                   writ_reason *why, writ_error *err);

/* ---- shared state (state.c) */
/* Open `state` (sqlite_path: the embedded store's file) and name the replica. */
WRIT_MUST_CHECK writ_status srv_state_open(srv *s, const char *sqlite_path, writ_error *err);
/* A shared state: the revocation set (in memory) follows it.  After srv_tokens_open. */
WRIT_MUST_CHECK writ_status srv_state_follow(srv *s, writ_error *err);
void srv_state_close(srv *s);
/* Is the shared state stale (every token refused)?  why: the reason. */
bool srv_state_stale(const srv *s, char *why, size_t n);
void srv_state_metrics(srv *s, sbuf *b);

/* Open the keyring, verifier and revocations the config names (tokens.c). */
WRIT_MUST_CHECK writ_status srv_tokens_open(srv *s, writ_error *err);
void srv_tokens_close(srv *s);

/* An HTTP answer built by a handler; body is wr_malloc'd (or NULL). */
typedef struct srv_reply {
    unsigned status;
    char *body;
    size_t len;
    const char *content_type;   /* default application/json */
    const char *allow;          /* Allow header for 405 */
    const char *www_auth;       /* WWW-Authenticate for 401 */
    char hdr_agent[256];        /* X-Writ-Agent for checks ("" = none) */
    const char *decision;       /* X-Writ-Decision ("allow"/"deny"), NULL = none */
    char hdr_approval[40];      /* X-Writ-Approval: the approval a check waits for ("" = none) */
    bool page;                  /* a console page: the browser security headers */
} srv_reply;

/* Fill r with {"error": {"status", "code", "message"}}. */
void srv_error(srv_reply *r, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Take the buffer as the reply body (sb failure -> 500). */
void srv_reply_sbuf(srv_reply *r, unsigned status, sbuf *b);

/* ---- the task behind a request (taskctx.c) */
/* Who is calling, for which task.  The strings point into the token, or
 * into the request's headers (test-only header mode of /authz/check). */
typedef struct srv_task {
    const char *agent;      /* the token's holder (act.sub, or sub) */
    const char *ptype;      /* the holder's principal type (an OIDC subject's), NULL = check_principal_type */
    const char *task;       /* txn ("" = none) */
    const char *purpose;    /* "" = none */
    unsigned depth;         /* delegation hops: 0 = the agent itself */
    json_t *chain;          /* array of agent ids, root first */
    char *chain_text;       /* chain as compact JSON, for the audit log */
    writ_task_token *token; /* the verified token; NULL in header mode */
} srv_task;

/* ---- facts (facts.c): where each fact of a decision comes from */
/* The connection as Writ can vouch for it: the socket's address, or what a
 * trusted proxy (trusted_proxies) forwarded. */
typedef struct srv_peer {
    char ip[64];           /* source_ip */
    char destination[130]; /* a trusted proxy's X-Writ-Destination, normalised; "" = none */
    bool via_proxy;        /* the socket's peer is a trusted proxy */
    char bad[128];         /* a forwarding header that could not be read: deny with this */
} srv_peer;
WRIT_MUST_CHECK writ_status srv_facts_open(srv *s, writ_error *err);
/* trusted_proxies: addresses or CIDR ranges separated by spaces, tabs or
 * commas (*out: wr_free).  A bad entry: WRIT_EINVAL naming it and its byte. */
WRIT_MUST_CHECK writ_status srv_proxies_parse(const char *list, srv_cidr **out, size_t *n, writ_error *err);
/* Is ip (text; an IPv4-mapped IPv6 address counts as its IPv4) in one of p? */
bool srv_proxies_has(const srv_cidr *p, size_t n, const char *ip);
/* The client of an X-Forwarded-For value (every copy joined by ','): read
 * from the right, the first address that is not a trusted proxy (all of
 * them trusted: the leftmost), spelt as srv_ip_canon does.  0 with out, or
 * -1 when an entry read is not an address (or the value is empty). */
int srv_xff_client(const srv_cidr *p, size_t n, const char *xff, char *out, size_t cap);
/* The one spelling of address text into out (n bytes): dotted IPv4 for an
 * IPv4 or IPv4-mapped IPv6 address (so that a policy on an IPv4 range
 * applies to both), inet_ntop's for other IPv6.  0, or -1 when text is not
 * an address (or out is too small). */
int srv_ip_canon(const char *text, char *out, size_t n);
/* A socket address as srv_ip_canon spells it; "0.0.0.0" when sa is NULL or
 * neither IPv4 nor IPv6. */
void srv_sockaddr_ip(const struct sockaddr *sa, char *out, size_t n);
void srv_facts_close(srv *s);
void srv_peer_read(const srv *s, struct MHD_Connection *c, srv_peer *p);
/* A destination normalised (lower case; letters, digits, . _ - : /): 0, or
 * -1 when v is not one. */
int srv_destination_norm(const char *v, char *out, size_t cap);
/* Does the schema's context type of action aid declare name (or no schema)? */
bool srv_ctx_wants(const srv *s, const srv_snapshot *snap, const char *aid, const char *name);
/* A JSON array of the n strings (NULL on OOM). */
json_t *srv_json_strings(const char *const *v, size_t n);
/* This thread's authorizer (made on first use; NULL on OOM). */
writ_authorizer *srv_thread_authorizer(srv *s);
/* Is name a fact Writ establishes (task, chain, time, destination, ...)? */
bool srv_fact_reserved(const char *name);
struct srv_ask;
/* Set the facts of the table in facts.c in ctx for the request a (whose
 * destination is already established): where the action's context type
 * declares them, from their sources; elsewhere removed unless the caller
 * vouches.  Then a->extra.  Non-zero on failure (out of memory). */
int srv_facts_context(srv *s, const srv_snapshot *snap, const struct srv_ask *a, const char *destination,
                      json_t *ctx);
/* The same facts as Cedar request parts (cedar/reqbuild.h), for a request
 * whose caller vouches, without a task, front-end facts or a schema: out
 * (8 entries) gets the values srv_facts_context would set, each only where
 * the context has no member of its name, but the destination always (it
 * replaces the caller's, as normalised).  one holds the chain's one item.
 * Returns the count. */
struct cedar_fact;
struct cedar_bytes;
size_t srv_facts_direct(const struct srv_ask *a, const char *destination, struct cedar_fact *out,
                        struct cedar_bytes *one);
/* The facts of an ask with a task token as Cedar parts (facts.c), for a
 * decision whose context members are given as Cedar values
 * (srv_ask.given): the values srv_facts_context would set, each replacing.
 * room: SRV_FACT_ROOM pieces of scratch.  0 when the task's facts cannot be
 * given so (srv_facts_given_ok is false then). */
#define SRV_FACT_LIST_MAX 16
#define SRV_FACT_ROOM (2 + 2 * SRV_FACT_LIST_MAX)
size_t srv_facts_task(const struct srv_ask *a, const char *destination, struct cedar_fact *out,
                      struct cedar_bytes *room);

/* ---- deciding (decide.c): the one decision path of every front end */
/* A request for a decision, as a front end hands it over.  Every front
 * end (AuthZEN, /authz/check, the token endpoints) fills one and calls
 * srv_decide_ask; nothing else builds Cedar requests. */
typedef struct srv_ask {
    writ_uid_parts principal, action, resource;
    const srv_task *task;  /* the task behind the request (its facts), NULL = none */
    bool bound;            /* task->token bounds the request: scope, destinations, sensitivity */
    bool vouched;          /* the caller vouches for context and properties (AuthZEN without a token) */
    const json_t *context; /* the caller's context object, NULL = none */
    bool context_owned;    /* the facts may be set in context itself, not in a copy: the caller
                              reads it no more and nobody else holds it */
    const writ_split *context_split; /* context came from writ_json_parse_split (no schema): its
                                        null members are the split's values */
    const json_t *principal_props, *resource_props; /* per-request attributes, NULL = none */
    const json_t *extra; /* the front end's own facts, set last (token requests), NULL = none */
    const char
        *destination;     /* from configuration (a route's), normalised; NULL = the peer's or the default */
    const srv_peer *peer; /* NULL = no connection */
    const char *audit_extra; /* a JSON object appended to the record's errors (the MCP gateway's
                                {"input_sha256":...}), NULL = none */
    const json_t *approval_input; /* what an approval binds as the input (the MCP call's arguments),
                                     NULL = context.input */
    bool explain;            /* decide with writ_explain (out->x): AuthZEN options.explain */
    bool quiet; /* one candidate of a search (src/search): decided the same way, but neither audited
                   nor counted; the search writes one record for itself */
    /* Context members given as Cedar values (the MCP gateway's input and
     * tool), put into the request with the task's facts (srv_facts_task):
     * no JSON context is built and read back.  Only when srv_facts_given_ok
     * (no schema or approvals; a task; no other context); else the
     * decision is refused.  given_record holds the same members as one
     * record: what a task-history limit sums from (`sum context.input.x`),
     * required with given. */
    const struct cedar_fact *given;
    size_t ngiven; /* at most SRV_GIVEN_MAX */
    const struct cv_record *given_record;
} srv_ask;
#define SRV_GIVEN_MAX 4
/* May a be decided with its context given as Cedar values (srv_ask.given)? */
bool srv_facts_given_ok(const srv_snapshot *snap, const srv_ask *a);

typedef struct srv_outcome {
    bool allow;
    bool failed;                /* no decision could be made: deny, reason in error */
    char error[320];
    writ_decision d;            /* valid when !failed; points into the thread's authorizer */
    /* The approval the decision rests on (the gate's, server.h), state 0 = none. */
    struct {
        int state;              /* SRV_APPR_NONE, _PENDING, _DENIED, _CONSUMED */
        char id[40];
        int64_t expires_ms;
        const char *base;       /* PUBLIC_URL */
        /* the gate's writer of `,"approval":{...}` (srv_outcome_json) */
        void (*json)(const struct srv_outcome *o, sbuf *b);
    } appr;
    bool explained;             /* x is d's explanation (asked for, and Cedar decided) */
    writ_explanation x;
} srv_outcome;
enum { SRV_APPR_NONE = 0, SRV_APPR_PENDING, SRV_APPR_DENIED, SRV_APPR_CONSUMED };

/* Decide a: check the task token's bounds, build the context from the
 * fact table (facts.c), ask Cedar, audit, count.  Always fills out (fail
 * closed: anything that goes wrong is a deny with the reason). */
void srv_decide_ask(srv *s, const srv_snapshot *snap, const srv_ask *a, srv_outcome *out);
/* A deny with why before Cedar was asked (outside the token's reach),
 * recorded as a's principal, action, resource, task and chain. */
void srv_decide_refused(srv *s, const srv_ask *a, const char *why, srv_outcome *out);
/* Record a decision that failed before Cedar was asked (bad request data). */
void srv_decide_failed(srv *s, const char *agent, const char *action, const char *resource, const char *task,
                       const char *why, srv_outcome *out);
/* Record an event that is not a Cedar decision (a revocation): allow says
 * whether it was carried out; note (may be NULL) goes into the errors. */
void srv_record(srv *s, const char *agent, const char *action, const char *resource, const char *task,
                bool allow, const char *note);
/* Write `"reasons":[...],"errors":[...]` (+ obligations) for an outcome. */
void srv_outcome_json(const srv_snapshot *snap, const srv_outcome *o, sbuf *b);
/* `Type::"id"` for logs. */
void srv_uid_text(sbuf *b, const char *type, const char *id, size_t idlen);
/* An entity reference of type (namespace added unless qualified) and id. */
writ_uid_parts srv_uid_parts(const srv *s, const char *type, size_t type_len, const char *id, size_t id_len);

/* ---- task-history limits (history.c, src/limits/) */
typedef struct srv_history {
    wr_history h;
    wr_history_keys k;
    bool direct; /* context.history goes into the request by srv_history_request */
    char agent_buf[1024];
} srv_history;
/* Open the counters on the state store (s->state) and put cfg's limits in force. */
WRIT_MUST_CHECK writ_status srv_history_open(srv *s, writ_error *err);
void srv_history_close(srv *s);
/* The limits' lines of /metrics. */
void srv_history_metrics(srv *s, sbuf *b);
/* The limit lines as they are now (SIGHUP): the config file read again
 * (unless the limits came from flags); errors name FILE:LINE. */
WRIT_MUST_CHECK writ_status srv_history_reread(srv *s, wr_limit_set **out, writ_error *err);
/* Put set in force (takes it). */
WRIT_MUST_CHECK writ_status srv_history_install(srv *s, wr_limit_set *set, writ_error *err);
/* Before Cedar: replace ctx's history with Writ's.  0, or -1 with why
 * (deny).  srv_history_end(h) in every case.  take: this request takes
 * its count now (limits.h), as a decision made again does; else the
 * values are only read, and an allow takes with srv_history_take. */
int srv_history_context(srv *s, const srv_snapshot *snap, const struct srv_ask *a, json_t *ctx,
                        srv_history *h, bool take, char *why, size_t n);
/* After an allow decided on values read without take: take the count.
 * 0: the allow stands; 1: a value changed meanwhile, the take was given
 * back (h ended): decide again with take; -1 with why: it could not be
 * taken (deny). */
int srv_history_take(srv *s, srv_history *h, char *why, size_t n);
/* After writ_request_fill: context.history as Cedar values, when
 * srv_history_context left it out of the JSON context (no schema). */
WRIT_MUST_CHECK writ_status srv_history_request(const srv_history *h, writ_request *rq, writ_error *err);
/* After an allow: count it. */
void srv_history_count(srv *s, srv_history *h);
void srv_history_end(srv_history *h);

/* ---- answers wait for their audit records (durable.c) */
typedef struct srv_durable {
    atomic_uint outstanding;    /* records not yet committed, +1 while the handler runs */
    atomic_bool failed;         /* a record could not be committed: do not answer, 503 */
    struct MHD_Connection *c;
    struct srv *s;
    bool suspended;             /* the reply waits for the records */
    bool held;                  /* the same, not suspended: its records are in a pass */
    void (*then)(void *arg);    /* see srv_durable_then */
    void *then_arg;
    struct srv_pass *pass;      /* held: the pass holding its records, [first, first + n) */
    size_t pass_first, pass_n;
    bool commit_here;           /* see srv_durable_commit_here */
} srv_durable;
/* Open d as this thread's barrier for the request on c (before the handler). */
void srv_durable_begin(srv_durable *d, struct srv *s, struct MHD_Connection *c);
/* Instead of resuming the held connection, the log's thread calls
 * fn(arg) once the last record is committed; fn must see that the
 * connection is resumed (at once or later).  Not called when
 * srv_durable_end returns false, nor when the handler's thread finds the
 * records committed after suspending (it resumes then). */
void srv_durable_then(srv_durable *d, void (*fn)(void *arg), void *arg);
/* The caller knows it is alone (no other request of its kind in flight):
 * its records may be committed on this thread when the log is idle too
 * (wr_audit_commit_here), saving the hand-off to the log's thread and back.
 * Under concurrency records stay submitted, to be grouped. */
void srv_durable_commit_here(srv_durable *d);
/* Write one audit record of the current request: submitted to the log's
 * group commit, counted in the barrier (no barrier: appended and waited
 * for).  An error here means it will never be committed (deny now). */
WRIT_MUST_CHECK writ_status srv_durable_record(srv *s, const wr_audit_entry *e);
/* Close the barrier after the handler: false when every record is
 * committed already (answer now); true when the connection was suspended
 * and will be resumed once they are (answer then). */
bool srv_durable_end(srv_durable *d);
/* The held answer's connection was resumed (or completed while held, the
 * client gone): it no longer counts as suspended.  No-op when not held. */
void srv_durable_resumed(srv_durable *d);
/* Did any of the request's records fail? */
bool srv_durable_failed(const srv_durable *d);
/* Still waiting for a record (a held answer whose handler is called again
 * before its pass committed): answer later. */
bool srv_durable_waiting(const srv_durable *d);

/* The records of one pass of an event loop (loop.c): the requests handled
 * on the thread that owns it gather their records in it instead of
 * submitting them to the log's thread, and are held without suspending
 * their connections; after the pass the thread commits them all in one
 * group (leading the transaction itself) and its next pass answers them. */
typedef struct srv_pass srv_pass;
srv_pass *srv_pass_new(void);
void srv_pass_free(srv_pass *p);
/* The calling thread's pass (NULL: none, requests submit their records). */
void srv_pass_bind(srv_pass *p);
/* No record waits in the calling thread's pass and no answer of its last
 * commit is still to be sent (or it has no pass): nothing this thread
 * holds would wait if it blocked now (the MCP gateway's hold). */
bool srv_pass_empty(void);
/* Commit the pass's records, mark their requests; true when there were any
 * (their answers are due: run the loop again without waiting).  Unless now,
 * a pass whose thread can be woken (srv_pass_set_wake) puts a commit off
 * once when the log is busy with another thread's transaction: false, the
 * records stay, and wake(arg) is called when the log is free
 * (srv_pass_deferred says so meanwhile). */
bool srv_pass_commit(struct srv *s, srv_pass *p, bool now);
void srv_pass_set_wake(srv_pass *p, void (*wake)(void *arg), void *arg);
bool srv_pass_deferred(const srv_pass *p);

/* ---- the worker threads (loop.c): n daemons in external mode, each run
 * by a thread of its own that commits its pass's records after each pass.
 * start(ctx, lfd) starts one daemon: the first binds (lfd invalid), the
 * others listen on lfd, a duplicate of the first one's socket. */
typedef struct srv_loop srv_loop;
srv_loop *srv_loop_start(struct srv *s, unsigned n, struct MHD_Daemon *(*start)(void *ctx, MHD_socket lfd),
                         void *ctx);
struct MHD_Daemon *srv_loop_daemon(const srv_loop *l);
unsigned srv_loop_connections(const srv_loop *l);
/* Stop accepting (each worker closes its listen socket); returns once all have. */
void srv_loop_quiesce(srv_loop *l);
/* Stop the threads, then the daemons; frees l.  NULL is a no-op. */
void srv_loop_stop(srv_loop *l);
/* On a worker thread in epoll mode: a descriptor readable when the worker
 * has work (its own wait set); -1 elsewhere.  A handler that waits for
 * something itself (the MCP gateway's lone call) stops when it is. */
int srv_loop_wait_fd(void);

/* On a worker thread: its next wait busy-polls its descriptors for up to
 * ns before it sleeps (once; the MCP gateway after a lone call, whose
 * client's next message is likely to come at once). */
void srv_loop_spin_next(long ns);

/* ---- the connection limit (conns.c) */
unsigned srv_conn_hard_limit(const srv_config *cfg);
void srv_conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                     enum MHD_ConnectionNotificationCode code);
/* Was c opened past max_connections (answer 503 and close)? */
bool srv_conn_over(struct MHD_Connection *c);
/* A request's headers are in (it is being answered) / it is answered (the
 * next request's headers are due within the timeout from now). */
void srv_conn_request_begun(struct MHD_Connection *c);
void srv_conn_request_done(const srv *s, struct MHD_Connection *c);
/* Cut connections whose headers are overdue (the main thread, each tick). */
void srv_conn_sweep(srv *s);

/* ---- front ends */
void oauth_token(srv *s, struct MHD_Connection *c, const char *body, size_t len, srv_reply *r);
void oauth_revoke(srv *s, struct MHD_Connection *c, const char *body, size_t len, srv_reply *r);
void oauth_jwks(srv *s, srv_reply *r);
void authzen_evaluation(srv *s, struct MHD_Connection *c, const char *body, size_t len, srv_reply *r);
void authzen_evaluations(srv *s, struct MHD_Connection *c, const char *body, size_t len, srv_reply *r);
void authzen_metadata(srv *s, struct MHD_Connection *c, srv_reply *r);
/* AuthZEN's Authorization header rule (authzen.c): none, 0 and *tk NULL;
 * a task token that verifies, 0 and *tk = buf; else -1 with a 401 in r. */
int srv_authzen_authenticate(srv *s, struct MHD_Connection *c, srv_task *buf, const srv_task **tk,
                             srv_reply *r);
void check_request(srv *s, struct MHD_Connection *c, const char *url, const char *method, srv_reply *r);
WRIT_MUST_CHECK writ_status check_compile(srv *s, writ_error *err);
void check_free(srv *s);
/* ---- the task behind a request (taskctx.c) */
void srv_task_clear(srv_task *t);
/* The Cedar type of t's holder: its own (an OIDC subject's), else
 * check_principal_type. */
static inline const char *srv_task_ptype(const srv *s, const srv_task *t)
{
    return t && t->ptype ? t->ptype : s->cfg->check_principal_type;
}
/* Is an Authorization header value the Bearer scheme? */
bool srv_is_bearer(const char *auth);
/* Verify the task token of an Authorization header value ("Bearer TOKEN")
 * exactly as /authz/check does (srv_verify_task_token: signature, issuer,
 * audience, times, revocation, certificate binding to connection c).
 * Returns 0 with t filled, or 401 with why: another scheme, no token
 * verification configured, or the token refused (its reason named).
 * srv_task_clear(t) in every case. */
unsigned srv_task_bearer(srv *s, struct MHD_Connection *c, const char *auth, srv_task *t, char *why,
                         size_t n);
/* /authz/check's token step: the Bearer task token when tokens are
 * configured, else the test-only check_principal_header.  0, or 401 with
 * why; srv_task_clear(t) in every case. */
unsigned srv_task_identify(srv *s, struct MHD_Connection *c, srv_task *t, char *why, size_t n);
/* The token's scope bounds what Cedar may allow: the action (by name or as
 * a uid text) must be in its actions, the resource (by id or as a uid
 * text) in its resources when it lists any.  0 inside (or no token), -1
 * outside with why. */
int srv_task_in_scope(const srv_task *t, const char *action, const char *action_uid, const char *rid,
                      const char *resource_uid, char *why, size_t n);
/* Does the token reach anything under an action prefix at all (some scope
 * item could cover an action starting with prefix or prefix_uid), and its
 * resources, when it lists any, cover rid or resource_uid?  0, or -1 with
 * why (no token: 0).  What a session on an MCP upstream needs.  items (in
 * bytes, >= 1) gets the reaching items, space-separated (those that do not
 * fit left out): what it may do there, as the scope of a minted token for
 * a message that is not one decided action. */
int srv_task_reaches(const srv_task *t, const char *prefix, const char *prefix_uid, const char *rid,
                     const char *resource_uid, char *items, size_t in, char *why, size_t n);

/* startup.c: checks before anything is written.  srv_listen_probe: -1 (why
 * says so) when HOST:PORT cannot be bound, e.g. another process listens
 * there; port 0 always passes.  srv_state_lock: an fd holding an exclusive
 * lock on DIR/writ.lock for the server's life, or -1 (why names the
 * folder, the holder's pid and what to do) when another writ serve holds it. */
int srv_listen_probe(const char *host, unsigned port, char *why, size_t n);
int srv_state_lock(const char *dir, char *why, size_t n);

#endif
