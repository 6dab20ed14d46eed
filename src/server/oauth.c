/* oauth.c - the token endpoints: RFC 8693 token exchange (oauth_token.c),
 * RFC 7009 revocation plus Writ's revocation by task, agent and subtree
 * (oauth_revoke.c) and the signing keys' JWKS (here, with the answers the
 * endpoints share).
 *
 *   POST /oauth2/token    application/x-www-form-urlencoded
 *     grant_type=urn:ietf:params:oauth:grant-type:token-exchange (required)
 *     subject_token, subject_token_type (required)
 *     actor_token, actor_token_type     (delegation)
 *     audience                          (optional; must be token_audience)
 *     requested_token_type              (optional: access_token or txn_token)
 *     scope        space-separated actions the task may take
 *     purpose      the task's declared purpose
 *     resource     a resource or prefix pattern ending in '*' (repeatable)
 *     destination  a destination or pattern (repeatable)
 *     sensitivity  public | internal | confidential | restricted
 *     task         the id of a task in the entity store (start: optional)
 *     owner        the human a new task acts for (start: optional)
 *     ttl          lifetime in seconds (<= token_max_ttl)
 *
 *   Start a task: subject_token_type urn:ietf:params:oauth:token-type:jwt
 *   (or id_token), the agent's JWT-SVID or OIDC token, verified against
 *   identity_spiffe / identity_oidc with audience identity_audience.  Cedar
 *   decides Action::"start_task" with principal = the agent, resource =
 *   Task::"<task>" (a fresh id unless `task` names one in the store; a new
 *   task gets the attributes purpose and owner from the form for this
 *   decision), context = task {id, purpose}, chain [agent], chain_depth 0,
 *   scope, destination, time, source_ip (the attributes the schema's
 *   context type declares).  Allowed: a task token with the scope.  A
 *   task id revoked (task=) is started no more: 400 invalid_request,
 *   revoked, before Cedar is asked.
 *
 *   Delegate: subject_token = a task token (token type access_token or
 *   txn_token), actor_token = the receiving agent's identity token (jwt).
 *   The task token is verified in full (signature, times, revocation,
 *   binding); Cedar decides Action::"delegate" with principal = its holder,
 *   resource = Agent::"<actor>", context = the parent's task, chain and
 *   chain_depth; then writ_token_delegate narrows (scope, resource,
 *   destination, sensitivity, ttl given replace the parent's, and may only
 *   narrow it).
 *
 *   Answer (RFC 8693 §2.2.1): {"access_token", "issued_token_type",
 *   "token_type": "Bearer" ("N_A" for txn_token), "expires_in", "scope",
 *   "task_id"}.  Errors (RFC 6749 §5.2): {"error", "error_description":
 *   "<writ_reason>: <detail>", "writ_reason"}: invalid_request (400, form),
 *   unsupported_grant_type, invalid_grant (a presented token refused),
 *   invalid_scope (widening), invalid_target (audience), access_denied
 *   (403: Cedar said no).  Every decision and refusal is audited.
 *
 *   mTLS (tls_cert, tls_key, tls_client_ca; tls.c): the client certificate
 *   is verified as an X.509-SVID on each request that uses it (a presented
 *   certificate that does not verify is a 401 invalid_client).  To start a
 *   task, a client with a valid SVID may leave out subject_token and
 *   subject_token_type (the certificate is the subject), or send a subject
 *   token of the same SPIFFE ID (else invalid_grant, subject); either way the
 *   task token is bound to the certificate (cnf x5t#S256) and is accepted
 *   only with it.  With neither: 401 invalid_client.  To delegate, a
 *   certificate makes the caller the presenter: it must be the parent's
 *   holder, and a bound parent needs its certificate (cnf_cert_missing,
 *   cnf_cert_mismatch).  The delegated token is bound when the receiving
 *   agent is named by its X.509-SVID (actor_token_type
 *   urn:writ:params:oauth:token-type:x509-svid, actor_token its PEM chain,
 *   leaf first, verified against tls_client_ca); with a JWT actor token it
 *   is not bound.  Over plain HTTP no token is bound, and a bound one is
 *   refused (cnf_cert_missing): fail closed.
 *
 *   POST /oauth2/revoke   application/x-www-form-urlencoded, exactly one of
 *     token=T [token_type_hint=...]  T and every token delegated from it
 *     task=TXN                       every token of the task
 *     agent=ID                       every token held by or delegated through ID
 *     subtree=JTI, jti=JTI           by token id
 *   Authorization: Bearer <admin secret (admin_token_file)> may revoke
 *   anything.  Bearer <task token>, root or delegated: only its own
 *   subtree, token= itself or a token delegated from it (directly or
 *   further down), never its parent, a sibling, another root token of the
 *   same task id, or the whole task (403 unauthorized_client): a task id
 *   is not one agent's (several agents may start the same stored task), so
 *   task= is the admin's.  Otherwise 401 invalid_client.  A token that does
 *   not verify (expired, foreign, garbage) needs no revoking: 200, as RFC
 *   7009 asks.
 *   The in-memory set is updated before the answer, so the very next
 *   request in this process is refused; the entry is on disk for restarts
 *   and other processes.
 *
 *   GET /.well-known/jwks.json  the public keys of token_keys (or of the
 *   generated default key). */
#include "server/form.h"
#include "server/oauth_int.h"
#include "util/alloc.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- answers ------------------------------------------------------------ */

void oauth_error(srv_reply *r, unsigned status, const char *error, const char *reason, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sbuf b;
    sb_init(&b);
    sb_puts(&b, "{\"error\":");
    sb_json_str(&b, error);
    sb_puts(&b, ",\"error_description\":");
    sb_json_str(&b, msg);
    if (reason) {
        sb_puts(&b, ",\"writ_reason\":");
        sb_json_str(&b, reason);
    }
    sb_putc(&b, '}');
    srv_reply_sbuf(r, status, &b);
    if (status == 401)
        r->www_auth = "Bearer realm=\"writ\"";
}

void oauth_refused(srv *s, srv_reply *r, unsigned status, const char *error, const char *reason,
                   const char *agent, const char *action, const char *resource, const char *task,
                   const char *detail)
{
    char why[320];
    snprintf(why, sizeof why, "%s: %.290s", reason, detail);
    srv_outcome o;
    srv_decide_failed(s, agent, action, resource, task, why, &o);
    oauth_error(r, status, error, reason, "%s", why);
}

/* Refusal text of a writ call: err.msg already reads "<reason>: detail". */

void oauth_jwks(srv *s, srv_reply *r)
{
    if (!s->jwks) {
        srv_error(r, 404, "not_found", "this server has no signing key (token_jwks only verifies)");
        return;
    }
    char *p = wr_malloc(s->jwks_len + 1);
    if (!p) {
        r->status = 500;
        return;
    }
    memcpy(p, s->jwks, s->jwks_len);
    p[s->jwks_len] = '\0';
    r->status = 200;
    r->body = p;
    r->len = s->jwks_len;
    r->content_type = "application/jwk-set+json";
}
