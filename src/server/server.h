/* server.h - `writ serve`: the HTTP decision point.
 *
 * Endpoints (one file each for the front ends):
 *   POST /access/v1/evaluation, /access/v1/evaluations   AuthZEN 1.0 (authzen.c)
 *   GET  /.well-known/authzen-configuration              AuthZEN metadata
 *   ANY  /authz/check[/PATH]                             nginx auth_request, Envoy ext_authz (check.c)
 *   POST /oauth2/token, /oauth2/revoke                   RFC 8693 exchange, RFC 7009 revocation (oauth.c)
 *   GET  /.well-known/jwks.json                          the signing keys (oauth.c)
 *   GET  /healthz, /metrics                              operations (http.c, metrics.c)
 * Decisions go through decide.c (snapshot, Cedar, audit, metrics). */
#ifndef WRIT_SERVER_SERVER_H
#define WRIT_SERVER_SERVER_H

#include "server/config.h"

/* Run until SIGTERM/SIGINT; SIGHUP reloads the policy files.  Returns the
 * process exit status (0 after a clean shutdown). */
int srv_run(const srv_config *cfg);

#endif
