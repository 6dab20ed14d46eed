/* server.h - `writ serve`: the HTTP decision point.
 *
 * Endpoints (one file each for the front ends):
 *   POST /access/v1/evaluation, /access/v1/evaluations   AuthZEN 1.0 (authzen.c)
 *   GET  /.well-known/authzen-configuration              AuthZEN metadata
 *   ANY  /authz/check[/PATH]                             nginx auth_request, Envoy ext_authz (check.c)
 *   POST /oauth2/token, /oauth2/revoke                   RFC 8693 exchange, RFC 7009 revocation (oauth.c)
 *   GET  /.well-known/jwks.json                          the signing keys (oauth.c)
 *   GET  /healthz, /metrics                              operations (http.c, metrics.c)
 * Decisions go through decide.c (snapshot, Cedar, audit, metrics).  The
 * modules below add their own endpoints (approvals, search, MCP). */
#ifndef WRIT_SERVER_SERVER_H
#define WRIT_SERVER_SERVER_H

#include "server/config.h"

#include <stdbool.h>
#include <stddef.h>

/* Modules: what lives above the server (approvals in src/approval, AuthZEN
 * search in src/search, the MCP gateway in src/mcp) plugs into it through a
 * srv_ext each, so the server includes and calls none of them; the command
 * (cli/cmd_serve.c) hands srv_run_ext the list (layering: cli -> modules ->
 * server).  Every hook is optional (NULL) and gets the module's arg.
 *
 * An endpoint is answered like the server's own: its method checked (405
 * with allow), a JSON body's Content-Type checked (415), the body read up to
 * max_body (413), handle called once the whole request is in, and its reply
 * held until the audit records the handler wrote commit (durable.c).
 *
 * A route is the raw form for what answers on its own time: its handle is
 * called once the whole request is in (its body read up to max_body;
 * larger: 413 before it is called), with any method.  It queues the answer
 * on c itself (MHD_queue_response), possibly later: it may suspend c
 * (MHD_suspend_connection) and is called again, with the same *state, each
 * time c is resumed, until it queues an answer.  It returns an MHD_Result
 * (MHD_YES / MHD_NO).  done is called once when the request ends
 * (answered, client gone, or shutting down) with *state, which it frees.
 * The server's own endpoints are matched first, then the modules'
 * endpoints, then their routes (by URL prefix), each in list order.
 *
 * Lifecycle: start runs once the server's stores and keys are open, before
 * it listens (non-zero: the server does not start; why in err); listening
 * once it listens on port (the same); tick from the main loop (about every
 * 250 ms); metrics adds lines to /metrics; quiesce before the daemon stops
 * (resume every connection the routes suspended); stop after it has
 * stopped, in the reverse order, for every module whose start ran.
 *
 * gate: the approval step of the one decision path (decide.c).  Called
 * when Cedar allowed a request (context ctx) and every determining permit
 * carries @approval("required"); it may turn the allow into a deny (fail
 * closed), fill out->appr and append its audit items to *extra.  At most
 * one module gates; without one such an allow is a deny, "approval
 * required, but approvals are not available on this server". */
struct srv;
struct srv_reply;
struct srv_snapshot;
struct srv_ask;
struct srv_outcome;
struct sbuf;
struct json_t;
struct MHD_Connection;

enum { SRV_M_GET = 1, SRV_M_POST = 2, SRV_M_HEAD = 4, SRV_M_ANY = 0xff };

/* MHD_resume_connection for a connection a module holds suspended, from
 * any thread: also tells the worker loops (loop.c) that a connection is
 * due, so that none sleeps before serving it.  Use it, never
 * MHD_resume_connection itself. */
void srv_resume(struct MHD_Connection *c);

typedef struct srv_endpoint {
    const char *path;
    bool prefix;       /* also matches path + "/..." */
    unsigned methods;  /* SRV_M_* */
    const char *allow; /* the Allow header of a 405 */
    bool json_body;    /* reads a JSON body */
    void (*handle)(void *arg, struct srv *s, struct MHD_Connection *c, const char *url, const char *method,
                   const char *body, size_t len, struct srv_reply *r);
} srv_endpoint;

typedef struct srv_ext_route {
    const char *prefix; /* the URL begins with it */
    int (*handle)(void *arg, struct srv *s, struct MHD_Connection *c, const char *url, const char *method,
                  const char *body, size_t len, void **state);
    void (*done)(void *arg, void *state);
    void *arg;
} srv_ext_route;

typedef struct srv_ext {
    const srv_endpoint *endpoints;
    size_t nendpoints;
    const srv_ext_route *routes;
    size_t nroutes;
    int (*start)(void *arg, struct srv *s, char *err, size_t n);
    int (*listening)(void *arg, struct srv *s, unsigned port, char *err, size_t n);
    void (*tick)(void *arg, struct srv *s);
    void (*reload)(void *arg, struct srv *s); /* on SIGHUP, after the policies */
    void (*metrics)(void *arg, struct srv *s, struct sbuf *b);
    void (*gate)(void *arg, struct srv *s, const struct srv_snapshot *snap, const struct srv_ask *a,
                 const struct json_t *ctx, const char *agent, const char *resource, const char *task,
                 const char *chain, struct srv_outcome *out, struct sbuf *extra);
    void (*quiesce)(void *arg);
    void (*stop)(void *arg);
    void *arg;
} srv_ext;

/* Run with the n modules of ext (in this order) until SIGTERM/SIGINT;
 * SIGHUP reloads the policy files.  Returns the process exit status (0
 * after a clean shutdown). */
int srv_run_ext(const srv_config *cfg, const srv_ext *const *ext, size_t n);

#endif
