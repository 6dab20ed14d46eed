/* server.h - `writ serve`: the HTTP decision point.
 *
 * Endpoints (one file each for the front ends):
 *   POST /access/v1/evaluation, /access/v1/evaluations   AuthZEN 1.0 (authzen.c)
 *   GET  /.well-known/authzen-configuration              AuthZEN metadata
 *   POST /access/v1/search/{subject,resource,action}     AuthZEN search (src/search/search_http.c)
 *   ANY  /authz/check[/PATH]                             nginx auth_request, Envoy ext_authz (check.c)
 *   POST /oauth2/token, /oauth2/revoke                   RFC 8693 exchange, RFC 7009 revocation (oauth.c)
 *   GET  /.well-known/jwks.json                          the signing keys (oauth.c)
 *   GET  /healthz, /metrics                              operations (http.c, metrics.c)
 * Decisions go through decide.c (snapshot, Cedar, audit, metrics). */
#ifndef WRIT_SERVER_SERVER_H
#define WRIT_SERVER_SERVER_H

#include "server/config.h"

#include <stddef.h>

/* Run until SIGTERM/SIGINT; SIGHUP reloads the policy files.  Returns the
 * process exit status (0 after a clean shutdown). */
int srv_run(const srv_config *cfg);

/* Extension point: front ends that live outside src/server (the MCP
 * gateway, src/mcp) are routed by URL prefix without the server knowing
 * them; cli/cmd_serve.c fills the table (layering: cli -> mcp -> server).
 *
 * A route's handle is called once the whole request is in (its body read
 * up to max_body; larger: 413 before it is called), with any method.  It
 * queues the answer on c itself (MHD_queue_response), possibly later: it
 * may suspend c (MHD_suspend_connection) and is called again, with the
 * same *state, each time c is resumed, until it queues an answer.  It
 * returns an MHD_Result (MHD_YES / MHD_NO).  done is called once when the
 * request ends (answered, client gone, or shutting down) with *state, which
 * it frees.  start runs once the server's stores and keys are open, before
 * it listens (non-zero: the server does not start; why in err); stop after
 * the daemon has stopped. */
struct srv;
struct MHD_Connection;
typedef struct srv_ext_route {
    const char *prefix; /* the URL begins with it */
    int (*handle)(void *arg, struct srv *s, struct MHD_Connection *c, const char *url, const char *method,
                  const char *body, size_t len, void **state);
    void (*done)(void *arg, void *state);
    void *arg;
} srv_ext_route;

typedef struct srv_ext {
    const srv_ext_route *routes;
    size_t nroutes;
    int (*start)(void *arg, struct srv *s, char *err, size_t n);
    void (*quiesce)(void *arg); /* before the daemon stops: resume every connection the routes suspended */
    void (*stop)(void *arg);
    void *arg;
} srv_ext;

/* srv_run with extension routes (ext may be NULL). */
int srv_run_ext(const srv_config *cfg, const srv_ext *ext);

#endif
