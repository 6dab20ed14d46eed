/* oauth_token.c - POST /oauth2/token: start a task (token exchange of an
 * identity) and delegate (a task token for another agent); see oauth.c. */
#include "server/form.h"
#include "server/oauth_int.h"
#include "util/alloc.h"
#include "util/text.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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
 * destinations (lower case, oauth_token) and sensitivity as asked, and `destination` the one
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
    wr_json_free(chain_txt);
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
    unsigned char b[12];
    if (RAND_bytes(b, sizeof b) != 1)
        return -1;
    memcpy(out, "task-", 5);
    wr_hex(out + 5, b, sizeof b);
    return 0;
}

/* An agent's identity token: as the subject of start_task (audience
 * identity_audience) or as the actor of a delegation (actor_audience).  The
 * two never overlap: the delegator holds the receiver's actor token, and
 * were it good for start_task too, the delegator could start tasks as the
 * receiver (a root token, wider than what it delegated, recorded as the
 * receiver's).  So each refuses a token that also carries the other's. */
static writ_status verify_identity(srv *s, const char *tok, bool actor, writ_identity **id, writ_reason *why,
                                   writ_error *err)
{
    if (!s->bundle) {
        *why = WRIT_R_UNTRUSTED;
        snprintf(err->msg, sizeof err->msg,
                 "untrusted: no identity issuers are configured (identity_spiffe, identity_oidc)");
        return WRIT_EINVAL;
    }
    const char *mine = actor ? s->cfg->actor_audience : s->cfg->identity_audience,
               *other = actor ? s->cfg->identity_audience : s->cfg->actor_audience;
    writ_verify_opts vo = {.audience = mine,
                           .leeway = s->cfg->token_leeway,
                           .allow_high_s = s->cfg->identity_allow_high_s,
                           .refuse_audience = other};
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
        oauth_refused(s, r, 401, "invalid_client", writ_reason_name(reason), NULL, NULL, NULL, NULL, d);
        goto out;
    }
    if (!subject && !have_peer) {
        oauth_refused(s, r, 401, "invalid_client", writ_reason_name(WRIT_R_CERT), NULL, NULL, NULL, NULL,
                      "no client certificate: present an X.509-SVID (mTLS) or a subject_token");
        goto out;
    }
    if (subject && verify_identity(s, subject, false, &id, &reason, &err)) {
        char d[320];
        snprintf(d, sizeof d, "subject token: %s", detail_of(&err, reason));
        oauth_refused(s, r, 400, "invalid_grant", writ_reason_name(reason), NULL, NULL, NULL, NULL, d);
        writ_identity_free(peer);
        goto out;
    }
    if (peer) {
        if (id && strcmp(writ_identity_subject(id), writ_identity_subject(peer))) {
            char d[320];
            snprintf(d, sizeof d, "the subject token is for %.120s, the client certificate for %.120s",
                     writ_identity_subject(id), writ_identity_subject(peer));
            oauth_refused(s, r, 400, "invalid_grant", writ_reason_name(WRIT_R_SUB), NULL, NULL, NULL, NULL,
                          d);
            writ_identity_free(peer);
            goto out;
        }
        writ_identity_free(id);
        id = peer;
    }
    const char *agent = writ_identity_subject(id);
    /* a revoked agent starts nothing (writ_token_mint checks it again) */
    if (s->revocations &&
        writ_revocations_contains(s->revocations, WRIT_REVOKE_AGENT, agent, strlen(agent))) {
        char d[320];
        snprintf(d, sizeof d, "agent '%.200s' is revoked", agent);
        oauth_refused(s, r, 400, "invalid_grant", writ_reason_name(WRIT_R_REVOKED), NULL, NULL, NULL, NULL,
                      d);
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
    /* a revoked task starts no more (its tokens would be dead on arrival) */
    if (s->revocations && writ_revocations_contains(s->revocations, WRIT_REVOKE_TASK, task, strlen(task))) {
        char d[320];
        snprintf(d, sizeof d, "task '%.200s' is revoked: start another task", task);
        oauth_refused(s, r, 400, "invalid_request", writ_reason_name(WRIT_R_REVOKED), NULL, NULL, NULL, task,
                      d);
        goto out;
    }
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
    token_decide(s, c, act, writ_identity_principal_type(id), agent, "Task", task, task, &rs->sc, chain, 0,
                 attrs, d);
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
        oauth_refused(s, r, 400, grant_error(reason), writ_reason_name(reason), d->agent, d->action,
                      d->resource, task, dt);
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
        oauth_refused(s, r, 401, "invalid_client", writ_reason_name(reason), NULL, NULL, NULL, NULL, dt);
        goto out;
    }
    writ_token_check chk = {.audience = s->cfg->token_audience,
                            .leeway = s->cfg->token_leeway,
                            .cert_thumbprint = presenter ? writ_identity_cert_thumbprint(presenter) : NULL,
                            .revocations = s->revocations};
    if (writ_token_verify(s->verifier, &chk, subject, strlen(subject), &parent, &reason, &err)) {
        char dt[320];
        snprintf(dt, sizeof dt, "subject token: %s", detail_of(&err, reason));
        oauth_refused(s, r, 400, "invalid_grant", writ_reason_name(reason), NULL, NULL, NULL, NULL, dt);
        goto out;
    }
    const char *holder = writ_task_token_holder(parent), *task = writ_task_token_txn(parent);
    if (!task)
        task = "";
    if (x509 ? verify_x509_actor(s, actor, &target, &reason, &err)
             : verify_identity(s, actor, true, &target, &reason, &err)) {
        char dt[320];
        snprintf(dt, sizeof dt, "actor token: %s", detail_of(&err, reason));
        oauth_refused(s, r, 400, "invalid_grant", writ_reason_name(reason), NULL, NULL, NULL, task, dt);
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
        oauth_refused(s, r, 400, "invalid_grant", writ_reason_name(WRIT_R_REVOKED), NULL, NULL, NULL, task,
                      dt);
        goto out;
    }
    token_decide(s, c, act, writ_task_token_holder_type(parent), holder, "Agent", to, task, &rs->sc, chain,
                 depth, NULL, d);
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
        oauth_refused(s, r, 400, grant_error(reason), writ_reason_name(reason), d->agent, d->action,
                      d->resource, task, dt);
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
    char why[300];
    if (form_parse(body, len, &f, why, sizeof why)) {
        form_free(&f);
        oauth_error(r, 400, "invalid_request", NULL, "%s", why);
        atomic_fetch_add_explicit(&s->met.token_refused, 1, memory_order_relaxed);
        return;
    }
    /* destinations as the token holds them, so that Cedar decides on
     * exactly those (start_task and delegate alike) */
    form_lower(&f, "destination");
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
    else if (srv_state_stale(s, why, sizeof why))
        /* the revocation set cannot say what other replicas revoked, and
         * answers "revoked" for everything: refuse once, with the reason */
        oauth_refused(s, r, 503, "temporarily_unavailable", "state_stale", NULL, NULL, NULL, NULL, why);
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
