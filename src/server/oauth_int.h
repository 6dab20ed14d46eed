/* oauth_int.h - shared by the token endpoints: oauth.c (answers, JWKS),
 * oauth_token.c (POST /oauth2/token: start a task, delegate) and
 * oauth_revoke.c (POST /oauth2/revoke).  The endpoints are described in
 * oauth.c. */
#ifndef WRIT_SERVER_OAUTH_INT_H
#define WRIT_SERVER_OAUTH_INT_H

#include "server/server_int.h"

#define GT_EXCHANGE "urn:ietf:params:oauth:grant-type:token-exchange"
#define TT_JWT "urn:ietf:params:oauth:token-type:jwt"
#define TT_ID "urn:ietf:params:oauth:token-type:id_token"
#define TT_ACCESS "urn:ietf:params:oauth:token-type:access_token"
#define TT_TXN "urn:ietf:params:oauth:token-type:txn_token"
/* Writ's own: an X.509-SVID chain in PEM, leaf first (no IANA type names a
 * certificate) */
#define TT_X509 "urn:writ:params:oauth:token-type:x509-svid"

/* An RFC 6749 §5.2 error answer: {"error", "error_description",
 * "writ_reason"} (401 also asks for Bearer auth). */
void oauth_error(srv_reply *r, unsigned status, const char *error, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* A refusal: audited as a failed decision, then answered as oauth_error. */
void oauth_refused(srv *s, srv_reply *r, unsigned status, const char *error, const char *reason,
                   const char *agent, const char *action, const char *resource, const char *task,
                   const char *detail);

#endif
