/* oauth.c - the token endpoints: RFC 8693 token exchange, RFC 7009
 * revocation (plus Writ's revocation by task, agent and subtree) and the
 * signing keys' JWKS.
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
 *   context type declares).  Allowed: a task token with the scope.
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
 *   anything.  Bearer <task token>: a root token (depth 0, issued by
 *   start_task) may revoke its own task (task=) or any token of it (token=);
 *   a delegated token (depth > 0) only its own subtree: token= itself or a
 *   token delegated from it, never its parent, a sibling or the task (403
 *   unauthorized_client).  Otherwise 401 invalid_client.  A token that does
 *   not verify (expired, foreign, garbage) needs no revoking: 200, as RFC
 *   7009 asks.
 *   The in-memory set is updated before the answer, so the very next
 *   request in this process is refused; the entry is on disk for restarts
 *   and other processes.
 *
 *   GET /.well-known/jwks.json  the public keys of token_keys (or of the
 *   generated default key). */
#include "server/form.h"
#include "server/server_int.h"
#include "util/alloc.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define GT_EXCHANGE "urn:ietf:params:oauth:grant-type:token-exchange"
#define TT_JWT "urn:ietf:params:oauth:token-type:jwt"
#define TT_ID "urn:ietf:params:oauth:token-type:id_token"
#define TT_ACCESS "urn:ietf:params:oauth:token-type:access_token"
#define TT_TXN "urn:ietf:params:oauth:token-type:txn_token"
/* Writ's own: an X.509-SVID chain in PEM, leaf first (no IANA type names a
 * certificate) */
#define TT_X509 "urn:writ:params:oauth:token-type:x509-svid"

/* ---- answers ------------------------------------------------------------ */

static void oauth_error(srv_reply *r, unsigned status, const char *error, const char *reason, const char *fmt,
                        ...) __attribute__((format(printf, 5, 6)));
static void oauth_error(srv_reply *r, unsigned status, const char *error, const char *reason, const char *fmt,
                        ...)
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

static void refused(srv *s, srv_reply *r, unsigned status, const char *error, const char *reason,
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
static const char *detail_of(const writ_error *err, writ_reason why)
{
    const char *name = writ_reason_name(why);
    size_t n = strlen(name);
    if (!strncmp(err->msg, name, n) && err->msg[n] == ':' && err->msg[n + 1] == ' ')
        return err->msg + n + 2;
    return err->msg;
}

static const char *grant_error(writ_reason why)
{
    switch (why) {
    case WRIT_R_SCOPE:
    case WRIT_R_EXPIRY:
        return "invalid_scope";
    case WRIT_R_TTL:
        return "invalid_request";
    default:
        return "invalid_grant";
    }
}


/* What a token request asks for, as facts for Cedar: scope, resources,
 * destinations and sensitivity as asked, and `destination` the one
 * destination asked for when exactly one exact destination is (else the
 * unknown value, destination_default: a task that may reach several places
 * is judged by the most restrictive). */
static json_t *asked_facts(srv *s, const writ_task_scope *sc)
{
    const char *dest = s->dest_default;
    char one[130];
    if (sc->n_destinations == 1 && !strchr(sc->destinations[0], '*') &&
        !srv_destination_norm(sc->destinations[0], one, sizeof one))
        dest = one;
    json_t *x = json_object();
    if (!x || json_object_set_new(x, "scope", srv_json_strings(sc->actions, sc->n_actions)) ||
        json_object_set_new(x, "resources", srv_json_strings(sc->resources, sc->n_resources)) ||
        json_object_set_new(x, "destinations", srv_json_strings(sc->destinations, sc->n_destinations)) ||
        json_object_set_new(x, "sensitivity", json_string(sc->sensitivity ? sc->sensitivity : "public")) ||
        json_object_set_new(x, "destination", json_string(dest))) {
        json_decref(x);
        return NULL;
    }
    return x;
}

/* A Cedar decision on a token request.  task_attrs (may be NULL) are the
 * task entity's attributes for this request (they only add to what the
 * entity store holds).  Returns the outcome (always filled: fail closed);
 * the caller owns nothing. */
typedef struct tok_decision {
    char agent[600], action[128], resource[600];
    srv_outcome o;
} tok_decision;

/* ptype_name: the principal's type (an OIDC subject's, identity isolation),
 * NULL = the agent type check_principal_type. */
static void token_decide(srv *s, struct MHD_Connection *c, const char *aid, const char *ptype_name,
                         const char *principal, const char *rtype, const char *rid, const char *task,
                         const writ_task_scope *sc, json_t *chain, unsigned depth, json_t *task_attrs,
                         tok_decision *d)
{
    srv_snapshot *snap = snap_acquire(s->store);
    const char *ptype = ptype_name ? ptype_name : s->cfg->check_principal_type;
    char *chain_txt = chain ? json_dumps(chain, JSON_COMPACT) : NULL;
    srv_task t = {.agent = principal,
                  .task = task ? task : "",
                  .purpose = sc->purpose ? sc->purpose : "",
                  .depth = depth,
                  .chain = chain,
                  .chain_text = chain_txt};
    srv_peer peer;
    srv_peer_read(s, c, &peer);
    json_t *extra = asked_facts(s, sc);
    srv_ask a = {
        .principal = srv_uid_parts(s, ptype, strlen(ptype), principal, strlen(principal)),
        .action = srv_uid_parts(s, s->action_type, strlen(s->action_type), aid, strlen(aid)),
        .resource = srv_uid_parts(s, rtype, strlen(rtype), rid, strlen(rid)),
        .task = &t,
        .resource_props = task_attrs,
        .extra = extra,
        .peer = &peer,
    };
    sbuf tx;
    sb_init(&tx);
    writ_uid_parts *u[3] = {&a.principal, &a.action, &a.resource};
    char *dst[3] = {d->agent, d->action, d->resource};
    size_t cap[3] = {sizeof d->agent, sizeof d->action, sizeof d->resource};
    for (int i = 0; i < 3; i++) {
    tx.len = 0;
        sb_putn(&tx, u[i]->prefix, u[i]->prefix_len);
        sb_putn(&tx, u[i]->type, u[i]->type_len);
        sb_puts(&tx, "::");
        sb_json_strn(&tx, u[i]->id, u[i]->id_len);
        snprintf(dst[i], cap[i], "%.*s", sb_ok(&tx) ? (int)tx.len : 0, sb_ok(&tx) ? tx.p : "");
    }
    sb_free(&tx);
    if (!chain_txt || !extra)
        srv_decide_failed(s, d->agent, d->action, d->resource, task, "out of memory", &d->o);
    else
        srv_decide_ask(s, snap, &a, &d->o);
    free(chain_txt); /* jansson's allocator */
    json_decref(extra);
    snap_release(snap);
}

/* The reasons of a deny, for error_description. */
static void deny_text(const tok_decision *d, char *out, size_t n)
{
    if (d->o.failed) {
        snprintf(out, n, "%s", d->o.error);
        return;
    }
    size_t k = (size_t)snprintf(out, n, "no policy permits %s on %s", d->action, d->resource);
    if (d->o.d.nreasons && k < n)
        k += (size_t)snprintf(out + k, n - k, " (forbidden by %s)", d->o.d.reasons[0]);
    if (d->o.d.nerrors && k < n)
        snprintf(out + k, n - k, "; error in %s: %s", d->o.d.errors[0].policy_id, d->o.d.errors[0].message);
}

static void issued(srv *s, srv_reply *r, char *tok, size_t len, bool txn, int64_t exp,
                   const writ_task_scope *sc, const char *task)
{
    sbuf b;
    sb_init(&b);
    sb_puts(&b, "{\"access_token\":");
    sb_json_strn(&b, tok, len);
    sb_puts(&b, ",\"issued_token_type\":");
    sb_json_str(&b, txn ? TT_TXN : TT_ACCESS);
    sb_puts(&b, txn ? ",\"token_type\":\"N_A\"" : ",\"token_type\":\"Bearer\"");
    int64_t left = exp - (int64_t)time(NULL);
    sb_printf(&b, ",\"expires_in\":%lld,\"scope\":", (long long)(left > 0 ? left : 0));
    sbuf sc_txt;
    sb_init(&sc_txt);
    for (size_t i = 0; i < sc->n_actions; i++) {
        if (i)
            sb_putc(&sc_txt, ' ');
        sb_puts(&sc_txt, sc->actions[i]);
    }
    sb_json_strn(&b, sb_ok(&sc_txt) ? sc_txt.p : "", sb_ok(&sc_txt) ? sc_txt.len : 0);
    sb_free(&sc_txt);
    sb_puts(&b, ",\"task_id\":");
    sb_json_str(&b, task);
    sb_putc(&b, '}');
    memset(tok, 0, len);
    writ_free_string(tok);
    srv_reply_sbuf(r, 200, &b);
    atomic_fetch_add_explicit(&s->met.token_issued, 1, memory_order_relaxed);
}

static int random_task(char out[40])
{
    static const char d[] = "0123456789abcdef";
    unsigned char b[12];
    if (RAND_bytes(b, sizeof b) != 1)
        return -1;
    memcpy(out, "task-", 5);
    for (size_t i = 0; i < sizeof b; i++) {
        out[5 + 2 * i] = d[b[i] >> 4];
        out[6 + 2 * i] = d[b[i] & 15];
    }
    out[5 + 2 * sizeof b] = '\0';
    return 0;
}

static writ_status verify_identity(srv *s, const char *tok, writ_identity **id, writ_reason *why,
                                   writ_error *err)
{
    if (!s->bundle) {
        *why = WRIT_R_UNTRUSTED;
        snprintf(err->msg, sizeof err->msg,
                 "untrusted: no identity issuers are configured (identity_spiffe, identity_oidc)");
        return WRIT_EINVAL;
    }
    writ_verify_opts vo = {.audience = s->cfg->identity_audience,
                           .leeway = s->cfg->token_leeway,
                           .allow_high_s = s->cfg->identity_allow_high_s};
    return writ_identity_verify_jwt(s->bundle, &vo, tok, strlen(tok), id, why, err);
}

/* The receiving agent named by its X.509-SVID (PEM chain, leaf first),
 * verified against the client roots (tls_client_ca).  A certificate is
 * public, so this proves nothing about the caller: it only names the
 * agent, and the delegated token bound to it is usable only by the holder
 * of its private key. */
static writ_status verify_x509_actor(srv *s, const char *pem, writ_identity **id, writ_reason *why,
                                     writ_error *err)
{
    writ_verify_opts vo;
    memset(&vo, 0, sizeof vo);
    return writ_identity_verify_x509(s->client_roots, &vo, pem, strlen(pem), id, why, err);
}

/* Identity token -> task token (Action::"start_task"). */
static void start_task(srv *s, struct MHD_Connection *c, const form *f, bool txn, srv_reply *r)
{
    const char *act = "start_task";
    char why[400];
    if (form_get(f, "actor_token")) {
        oauth_error(r, 400, "invalid_request", NULL, "actor_token is for delegation (subject_token_type %s)",
                    TT_ACCESS);
        return;
    }
    req_scope *rs = wr_calloc(1, sizeof *rs);
    if (!rs) {
        oauth_error(r, 500, "server_error", NULL, "out of memory");
        return;
    }
    uint32_t ttl;
    writ_identity *id = NULL;
    if (form_scope(f, NULL, rs, why, sizeof why) ||
        form_ttl(f, s->cfg->token_max_ttl, &ttl, why, sizeof why)) {
        oauth_error(r, 400, "invalid_request", NULL, "%s", why);
        goto out;
    }
    if (!rs->sc.n_actions || !rs->sc.purpose || !*rs->sc.purpose) {
        oauth_error(r, 400, "invalid_request", NULL, "scope and purpose are required to start a task");
        goto out;
    }
    writ_reason reason = WRIT_R_OK;
    writ_error err;
    memset(&err, 0, sizeof err);
    /* The agent: its client certificate (mTLS, verified here), its
     * subject token, or both (then they must name the same agent).  With a
     * certificate the task token is bound to it (cnf x5t#S256). */
    writ_identity *peer = NULL;
    int have_peer = srv_peer_identity(s, c, &peer, &reason, &err);
    const char *subject = form_get(f, "subject_token");
    if (have_peer < 0) {
        char d[320];
        snprintf(d, sizeof d, "client certificate: %s", detail_of(&err, reason));
        refused(s, r, 401, "invalid_client", writ_reason_name(reason), NULL, NULL, NULL, NULL, d);
        goto out;
    }
    if (!subject && !have_peer) {
        refused(s, r, 401, "invalid_client", writ_reason_name(WRIT_R_CERT), NULL, NULL, NULL, NULL,
                "no client certificate: present an X.509-SVID (mTLS) or a subject_token");
        goto out;
    }
    if (subject && verify_identity(s, subject, &id, &reason, &err)) {
        char d[320];
        snprintf(d, sizeof d, "subject token: %s", detail_of(&err, reason));
        refused(s, r, 400, "invalid_grant", writ_reason_name(reason), NULL, NULL, NULL, NULL, d);
        writ_identity_free(peer);
        goto out;
    }
    if (peer) {
        if (id && strcmp(writ_identity_subject(id), writ_identity_subject(peer))) {
            char d[320];
            snprintf(d, sizeof d, "the subject token is for %.120s, the client certificate for %.120s",
                     writ_identity_subject(id), writ_identity_subject(peer));
            refused(s, r, 400, "invalid_grant", writ_reason_name(WRIT_R_SUB), NULL, NULL, NULL, NULL, d);
            writ_identity_free(peer);
            goto out;
        }
        writ_identity_free(id);
        id = peer;
    }
    const char *agent = writ_identity_subject(id);
    /* a revoked agent starts nothing (writ_token_mint checks it again) */
    if (s->revocations && writ_revocations_contains(s->revocations, WRIT_REVOKE_AGENT, agent, strlen(agent))) {
        char d[320];
        snprintf(d, sizeof d, "agent '%.200s' is revoked", agent);
        refused(s, r, 400, "invalid_grant", writ_reason_name(WRIT_R_REVOKED), NULL, NULL, NULL, NULL, d);
        goto out;
    }
    const char *given = form_get(f, "task");
    char fresh[40];
    if (given && (!*given || strlen(given) > 256)) {
        oauth_error(r, 400, "invalid_request", NULL, "task must be 1 to 256 bytes");
        goto out;
    }
    if (!given && random_task(fresh)) {
        oauth_error(r, 500, "server_error", NULL, "no randomness");
        goto out;
    }
    const char *task = given ? given : fresh;
    json_t *attrs = NULL;
    if (!given) {
        const char *owner = form_get(f, "owner");
        attrs = owner ? json_pack("{s:s,s:s}", "purpose", rs->sc.purpose, "owner", owner)
                          : json_pack("{s:s}", "purpose", rs->sc.purpose);
        if (!attrs) {
            oauth_error(r, 500, "server_error", NULL, "out of memory");
            goto out;
        }
    }
    json_t *chain = json_pack("[s]", agent);
    tok_decision *d = wr_calloc(1, sizeof *d);
    if (!chain || !d) {
        json_decref(attrs);
        json_decref(chain);
        wr_free(d);
        oauth_error(r, 500, "server_error", NULL, "out of memory");
        goto out;
    }
    token_decide(s, c, act, writ_identity_principal_type(id), agent, "Task", task, task, &rs->sc, chain, 0, attrs,
                 d);
    json_decref(attrs);
    json_decref(chain);
    if (!d->o.allow) {
        deny_text(d, why, sizeof why);
        oauth_error(r, 403, "access_denied", "policy_denied", "policy_denied: %s", why);
        wr_free(d);
        goto out;
    }
    int64_t exp = 0;
    writ_mint_request mr = {
        .scope = &rs->sc, .txn = task, .ttl = ttl, .expires = &exp, .revocations = s->revocations};
    char *tok = NULL;
    size_t len = 0;
    if (writ_token_mint(s->keyring, &s->issuer, id, &mr, &tok, &len, &reason, &err)) {
        char dt[320];
        snprintf(dt, sizeof dt, "issuing refused: %s", detail_of(&err, reason));
        refused(s, r, 400, grant_error(reason), writ_reason_name(reason), d->agent, d->action, d->resource,
                task, dt);
        wr_free(d);
        goto out;
    }
    wr_free(d);
    issued(s, r, tok, len, txn, exp, &rs->sc, task);
out:
    writ_identity_free(id);
    wr_free(rs);
}

/* Task token + the receiving agent's identity -> a narrower task token
 * (Action::"delegate"). */
static void delegate(srv *s, struct MHD_Connection *c, const form *f, bool txn, srv_reply *r)
{
    const char *act = "delegate";
    char why[400];
    const char *actor = form_get(f, "actor_token"), *att = form_get(f, "actor_token_type");
    if (!actor || !att) {
        oauth_error(
            r, 400, "invalid_request", NULL,
                    "delegation needs actor_token (the receiving agent's identity token) and actor_token_type");
        return;
    }
    bool x509 = !strcmp(att, TT_X509);
    if (!x509 && strcmp(att, TT_JWT) && strcmp(att, TT_ID)) {
        oauth_error(r, 400, "invalid_request", NULL, "actor_token_type must be %s or %s", TT_JWT, TT_X509);
        return;
    }
    if (x509 && !s->client_roots) {
        oauth_error(r, 400, "invalid_grant", "untrusted",
                    "untrusted: an X.509-SVID actor token needs tls_client_ca (the trust domain's roots)");
        return;
    }
    if (!s->verifier) {
        oauth_error(r, 400, "invalid_grant", "untrusted", "untrusted: task tokens are not configured");
        return;
    }
    req_scope *rs = wr_calloc(1, sizeof *rs);
    tok_decision *d = wr_calloc(1, sizeof *d);
    writ_task_token *parent = NULL;
    writ_identity *target = NULL, *presenter = NULL;
    json_t *chain = NULL;
    uint32_t ttl;
    if (!rs || !d) {
        oauth_error(r, 500, "server_error", NULL, "out of memory");
        goto out;
    }
    if (form_ttl(f, s->cfg->token_max_ttl, &ttl, why, sizeof why)) {
        oauth_error(r, 400, "invalid_request", NULL, "%s", why);
        goto out;
    }
    const char *subject = form_get(f, "subject_token");
    writ_reason reason = WRIT_R_OK;
    writ_error err;
    memset(&err, 0, sizeof err);
    /* A client certificate makes the caller the presenter: it must be the
     * parent's holder, and hold the certificate a bound parent names. */
    if (srv_peer_identity(s, c, &presenter, &reason, &err) < 0) {
        char dt[320];
        snprintf(dt, sizeof dt, "client certificate: %s", detail_of(&err, reason));
        refused(s, r, 401, "invalid_client", writ_reason_name(reason), NULL, NULL, NULL, NULL, dt);
        goto out;
    }
    writ_token_check chk = {.audience = s->cfg->token_audience,
                            .leeway = s->cfg->token_leeway,
                            .cert_thumbprint = presenter ? writ_identity_cert_thumbprint(presenter) : NULL,
                            .revocations = s->revocations};
    if (writ_token_verify(s->verifier, &chk, subject, strlen(subject), &parent, &reason, &err)) {
        char dt[320];
        snprintf(dt, sizeof dt, "subject token: %s", detail_of(&err, reason));
        refused(s, r, 400, "invalid_grant", writ_reason_name(reason), NULL, NULL, NULL, NULL, dt);
        goto out;
    }
    const char *holder = writ_task_token_holder(parent), *task = writ_task_token_txn(parent);
    if (!task)
        task = "";
    if (x509 ? verify_x509_actor(s, actor, &target, &reason, &err)
             : verify_identity(s, actor, &target, &reason, &err)) {
        char dt[320];
        snprintf(dt, sizeof dt, "actor token: %s", detail_of(&err, reason));
        refused(s, r, 400, "invalid_grant", writ_reason_name(reason), NULL, NULL, NULL, task, dt);
        goto out;
    }
    writ_task_scope base;
    writ_task_token_scope(parent, &base);
    if (form_scope(f, &base, rs, why, sizeof why)) {
        oauth_error(r, 400, "invalid_request", NULL, "%s", why);
        goto out;
    }
    unsigned depth = writ_task_token_depth(parent);
    chain = json_array();
    for (size_t i = 0; chain && i <= depth; i++) {
        const char *a = writ_task_token_chain(parent, i);
        if (a && json_array_append_new(chain, json_string(a))) {
            json_decref(chain);
            chain = NULL;
        }
    }
    if (!chain) {
        oauth_error(r, 500, "server_error", NULL, "out of memory");
        goto out;
    }
    const char *to = writ_identity_subject(target);
    /* a revoked agent is no delegation target (writ_token_delegate checks it again) */
    if (s->revocations && writ_revocations_contains(s->revocations, WRIT_REVOKE_AGENT, to, strlen(to))) {
        char dt[320];
        snprintf(dt, sizeof dt, "actor token: agent '%.200s' is revoked", to);
        refused(s, r, 400, "invalid_grant", writ_reason_name(WRIT_R_REVOKED), NULL, NULL, NULL, task, dt);
        goto out;
    }
    token_decide(s, c, act, writ_task_token_holder_type(parent), holder, "Agent", to, task, &rs->sc, chain, depth,
                 NULL, d);
    if (!d->o.allow) {
        deny_text(d, why, sizeof why);
        oauth_error(r, 403, "access_denied", "policy_denied", "policy_denied: %s", why);
        goto out;
    }
    int64_t exp = 0;
    /* an X.509-SVID actor: the new token is bound to its certificate */
    writ_delegate_request dr = {.target = to,
                                .target_cert_thumbprint = x509 ? writ_identity_cert_thumbprint(target) : NULL,
                                .scope = rs->given ? &rs->sc : NULL,
                                .ttl = ttl,
                                .expires = &exp};
    char *tok = NULL;
    size_t len = 0;
    if (writ_token_delegate(s->keyring, &s->issuer, s->verifier, s->revocations, subject, strlen(subject),
                            presenter, &dr, &tok, &len, &reason, &err)) {
        char dt[320];
        snprintf(dt, sizeof dt, "delegation refused: %s", detail_of(&err, reason));
        refused(s, r, 400, grant_error(reason), writ_reason_name(reason), d->agent, d->action, d->resource,
                task, dt);
        goto out;
    }
    issued(s, r, tok, len, txn, exp, &rs->sc, task);
out:
    json_decref(chain);
    writ_identity_free(target);
    writ_identity_free(presenter);
    writ_task_token_free(parent);
    wr_free(rs);
    wr_free(d);
}

void oauth_token(srv *s, struct MHD_Connection *c, const char *body, size_t len, srv_reply *r)
{
    form f;
    char why[200];
    if (form_parse(body, len, &f, why, sizeof why)) {
        form_free(&f);
        oauth_error(r, 400, "invalid_request", NULL, "%s", why);
        atomic_fetch_add_explicit(&s->met.token_refused, 1, memory_order_relaxed);
        return;
    }
    const char *gt = form_get(&f, "grant_type"), *st = form_get(&f, "subject_token"),
               *stt = form_get(&f, "subject_token_type"), *aud = form_get(&f, "audience"),
               *rtt = form_get(&f, "requested_token_type");
    if (!gt)
        oauth_error(r, 400, "invalid_request", NULL, "grant_type is required");
    else if (strcmp(gt, GT_EXCHANGE))
        oauth_error(r, 400, "unsupported_grant_type", NULL, "only %s is supported", GT_EXCHANGE);
    else if (!s->keyring)
        oauth_error(r, 400, "invalid_request", NULL,
                    "this server has no signing key (token_jwks only verifies): it cannot issue tokens");
    else if (!st && !stt && s->client_roots)
        start_task(s, c, &f, rtt && !strcmp(rtt, TT_TXN), r); /* the client certificate is the subject */
    else if (!st || !*st || !stt)
        oauth_error(r, 400, "invalid_request", NULL, "subject_token and subject_token_type are required%s",
                    s->client_roots ? " (or neither, with a client certificate)" : "");
    else if (aud && strcmp(aud, s->cfg->token_audience))
        oauth_error(r, 400, "invalid_target", NULL, "audience must be %s", s->cfg->token_audience);
    else if (rtt && strcmp(rtt, TT_ACCESS) && strcmp(rtt, TT_TXN))
        oauth_error(r, 400, "invalid_request", NULL, "requested_token_type must be %s or %s", TT_ACCESS,
                    TT_TXN);
    else if (!strcmp(stt, TT_JWT) || !strcmp(stt, TT_ID))
        start_task(s, c, &f, rtt && !strcmp(rtt, TT_TXN), r);
    else if (!strcmp(stt, TT_ACCESS) || !strcmp(stt, TT_TXN))
        delegate(s, c, &f, rtt && !strcmp(rtt, TT_TXN), r);
    else
        oauth_error(r, 400, "invalid_request", NULL, "unsupported subject_token_type (%s, %s or %s)", TT_JWT,
                    TT_ACCESS, TT_TXN);
    form_free(&f);
    if (r->status != 200)
        atomic_fetch_add_explicit(&s->met.token_refused, 1, memory_order_relaxed);
}

/* ---- revocation --------------------------------------------------------- */

typedef struct revoker {
    bool admin;
    writ_task_token *token;     /* the caller's own task token (not admin) */
    char who[600];              /* for the audit record */
} revoker;

/* 0, or fills r with 401. */
static int authenticate(srv *s, struct MHD_Connection *c, revoker *who, srv_reply *r)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    char action[128];
    snprintf(action, sizeof action, "%s::\"revoke\"", s->action_type);
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) {
        srv_outcome o;
        srv_decide_failed(s, NULL, action, "", NULL, "revoke refused: no credentials", &o);
        oauth_error(
            r, 401, "invalid_client", NULL,
                    "revocation needs Authorization: Bearer with a task token of the same task or the admin secret");
        return -1;
    }
    const char *cred = auth + 7;
    while (*cred == ' ')
        cred++;
    size_t n = strlen(cred);
    if (s->admin_secret && n == s->admin_len && CRYPTO_memcmp(cred, s->admin_secret, n) == 0) {
        who->admin = true;
        snprintf(who->who, sizeof who->who, "admin");
        return 0;
    }
    writ_reason reason = WRIT_R_OK;
    writ_error err;
    memset(&err, 0, sizeof err);
    if (!s->verifier || srv_verify_task_token(s, c, cred, n, &who->token, &reason, &err)) {
        atomic_fetch_add_explicit(&s->met.token_rejected, 1, memory_order_relaxed);
        char m[320];
        snprintf(m, sizeof m, "revoke refused: bad credentials: %.200s", s->verifier ? err.msg : "");
        srv_outcome o;
        srv_decide_failed(s, NULL, action, "", NULL, m, &o);
        oauth_error(r, 401, "invalid_client", s->verifier ? writ_reason_name(reason) : NULL,
                    "the credential is neither the admin secret nor a valid task token%s%s",
                    s->verifier ? ": " : "", s->verifier ? err.msg : "");
        return -1;
    }
    sbuf b;
    sb_init(&b);
    const char *h = writ_task_token_holder(who->token), *ht = writ_task_token_holder_type(who->token);
    srv_uid_text(&b, ht ? ht : s->cfg->check_principal_type, h, strlen(h));
    snprintf(who->who, sizeof who->who, "%s", sb_ok(&b) ? b.p : "");
    sb_free(&b);
    return 0;
}

static void revoke_done(srv *s, srv_reply *r, const revoker *who, writ_revoke_kind kind, const char *value,
                        int64_t until, const char *task)
{
    writ_error err;
    memset(&err, 0, sizeof err);
    char note[700];
    snprintf(note, sizeof note, "/oauth2/revoke by %s", who->who);
    sbuf res;
    sb_init(&res);
    sb_puts(&res, "Revocation::");
    sbuf v;
    sb_init(&v);
    sb_puts(&v, writ_revoke_kind_name(kind));
    sb_putc(&v, ':');
    sb_puts(&v, value);
    sb_json_strn(&res, sb_ok(&v) ? v.p : "", sb_ok(&v) ? v.len : 0);
    sb_free(&v);
    const char *rtxt = sb_ok(&res) ? res.p : "";
    char action[128];
    snprintf(action, sizeof action, "%s::\"revoke\"", s->action_type);
    if (writ_revocations_add(s->revocations, kind, value, strlen(value), until, note, &err)) {
        srv_outcome o;
        srv_decide_failed(s, who->who, action, rtxt, task, err.msg, &o);
        oauth_error(r, 503, "temporarily_unavailable", NULL, "the revocation could not be recorded: %s",
                    err.msg);
        sb_free(&res);
        return;
    }
    char on[300]; /* which replica took it (docs/REPLICAS.md) */
    snprintf(on, sizeof on, "shared by replica %s", s->replica);
    srv_record(s, who->who, action, rtxt, task, true, s->state && wr_store_shared(s->state) ? on : NULL);
    atomic_fetch_add_explicit(&s->met.token_revoked, 1, memory_order_relaxed);
    sbuf b;
    sb_init(&b);
    sb_puts(&b, "{\"revoked\":");
    sb_json_str(&b, writ_revoke_kind_name(kind));
    sb_puts(&b, ",\"value\":");
    sb_json_str(&b, value);
    sb_putc(&b, '}');
    srv_reply_sbuf(r, 200, &b);
    sb_free(&res);
}

void oauth_revoke(srv *s, struct MHD_Connection *c, const char *body, size_t len, srv_reply *r)
{
    form f;
    char why[200];
    revoker who;
    memset(&who, 0, sizeof who);
    if (form_parse(body, len, &f, why, sizeof why)) {
        oauth_error(r, 400, "invalid_request", NULL, "%s", why);
        goto out;
    }
    if (!s->revocations) {
        oauth_error(r, 400, "invalid_request", NULL, "task tokens are not configured on this server");
        goto out;
    }
    static const char *const names[] = {"token", "task", "agent", "subtree", "jti"};
    const char *which = NULL, *value = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = form_get(&f, names[i]);
        if (!v)
            continue;
        if (which) {
            oauth_error(r, 400, "invalid_request", NULL,
                        "give exactly one of token, task, agent, subtree, jti");
            goto out;
        }
        which = names[i];
        value = v;
    }
    if (!which || !*value || strlen(value) > 2048) {
        oauth_error(r, 400, "invalid_request", NULL,
                    "give exactly one of token, task, agent, subtree, jti (1 to 2048 bytes)");
        goto out;
    }
    const char *hint = form_get(&f, "token_type_hint");
    if (hint && strcmp(hint, "access_token") && strcmp(hint, "refresh_token") && strcmp(hint, TT_ACCESS) &&
        strcmp(hint, TT_TXN)) {
        oauth_error(r, 400, "unsupported_token_type", NULL, "token_type_hint must be access_token or %s",
                    TT_TXN);
        goto out;
    }
    if (authenticate(s, c, &who, r))
        goto out;
    const char *mytask = who.token ? writ_task_token_txn(who.token) : NULL;
    int64_t horizon = (int64_t)time(NULL) + WRIT_HARD_MAX_TTL + s->cfg->token_leeway;
    char action[128];
    snprintf(action, sizeof action, "%s::\"revoke\"", s->action_type);
    if (!strcmp(which, "token")) {
        /* RFC 7009: verify to learn what it is; one that does not verify is
         * unusable already and needs nothing. */
        writ_task_token *t = NULL;
        writ_reason reason;
        writ_error err;
        memset(&err, 0, sizeof err);
        if (srv_verify_any_binding(s, value, strlen(value), &t, &reason, &err)) {
            sbuf b;
            sb_init(&b);
            sb_puts(&b, "{\"revoked\":null,\"writ_reason\":");
            sb_json_str(&b, writ_reason_name(reason));
            sb_putc(&b, '}');
            srv_reply_sbuf(r, 200, &b);
            goto out;
        }
        const char *txn = writ_task_token_txn(t);
        if (!who.admin && (!txn || !mytask || strcmp(txn, mytask))) {
            srv_outcome o;
            srv_decide_failed(s, who.who, action, "", mytask,
                              "revoke refused: the token belongs to another task", &o);
            oauth_error(r, 403, "unauthorized_client", NULL,
                        "a task token may only revoke tokens of its own task");
            writ_task_token_free(t);
            goto out;
        }
        /* a delegate revokes only its own subtree: itself and what was
         * delegated from it, never its parent, a sibling or the task */
        if (!who.admin && writ_task_token_depth(who.token) > 0 &&
            !writ_task_token_in_subtree(t, writ_task_token_jti(who.token))) {
            srv_outcome o;
            srv_decide_failed(s, who.who, action, "", mytask,
                              "revoke refused: the token is not in the delegate's own subtree", &o);
            oauth_error(r, 403, "unauthorized_client", NULL,
                        "a delegated task token may only revoke itself and tokens delegated from it");
            writ_task_token_free(t);
            goto out;
        }
        revoke_done(s, r, &who, WRIT_REVOKE_SUBTREE, writ_task_token_jti(t),
                    writ_task_token_expiry(t) + s->cfg->token_leeway, txn);
        writ_task_token_free(t);
    } else if (!strcmp(which, "task")) {
        if (!who.admin && (!mytask || strcmp(value, mytask))) {
            srv_outcome o;
            srv_decide_failed(s, who.who, action, "", mytask, "revoke refused: another task", &o);
            oauth_error(r, 403, "unauthorized_client", NULL, "a task token may only revoke its own task");
            goto out;
        }
        if (!who.admin && writ_task_token_depth(who.token) > 0) {
            srv_outcome o;
            srv_decide_failed(s, who.who, action, "", mytask, "revoke refused: a delegate may not revoke the task",
                              &o);
            oauth_error(r, 403, "unauthorized_client", NULL,
                        "only the task's root token (depth 0) or the admin may revoke the whole task");
            goto out;
        }
        revoke_done(s, r, &who, WRIT_REVOKE_TASK, value, horizon, value);
    } else {
        if (!who.admin) {
            srv_outcome o;
            srv_decide_failed(s, who.who, action, "", mytask, "revoke refused: admin only", &o);
            oauth_error(r, 403, "unauthorized_client", NULL, "revoking by %s needs the admin credential",
                        which);
            goto out;
        }
        if (!strcmp(which, "agent"))
            revoke_done(s, r, &who, WRIT_REVOKE_AGENT, value, 0, NULL);
        else
            revoke_done(s, r, &who, !strcmp(which, "jti") ? WRIT_REVOKE_JTI : WRIT_REVOKE_SUBTREE, value,
                        horizon, NULL);
    }
out:
    writ_task_token_free(who.token);
    form_free(&f);
}

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
