/* api.c - the approvals API (JSON):
 *
 *   GET  /approvals[?status=pending|approved|denied|consumed|expired]
 *                  [&limit=N][&cursor=C]
 *        -> {"approvals": [approval, ...], "next"?: C}   newest first, a
 *        page of limit (1..1,000, default 100; else 400) approvals of that
 *        status; "next" when more follow: the cursor of the next page (the
 *        place after the last one: approvals created meanwhile do not
 *        shift it).  A cursor this server did not write is a 400.
 *   GET  /approvals/ID  -> approval
 *   POST /approvals/ID  {"decision": "approve"|"deny", "reason"?: string}
 *        -> 200 and the approval as it is now
 *
 * Every call needs Authorization: Bearer with an approver's credential:
 * the admin secret (admin_token_file; decides anything, recorded as
 * "admin"), or an OIDC token of a trusted issuer (identity_oidc) carrying
 * identity_audience.  Anything else is a 401: no or another scheme, a token
 * that does not verify, and a valid credential that is not a person's (a
 * Writ task token, a workload's JWT-SVID).  Any such approver may list
 * and read approvals.
 *
 * Deciding (POST), in this order: the body (400: not a JSON object,
 * decision not "approve"/"deny", reason not a string or longer than 1,024
 * bytes); the id (404 unknown); the person is not the requester (403 when
 * sub is the agent's id or any id in its delegation chain); Cedar (403 when
 * no policy lets them): principal Writ::User::"<sub>" (the issuer's
 * principal type), action Writ::Action::"approve_request", resource
 * Writ::Approval::"<id>" with the attributes approval.h lists, the token's
 * claims as context.claims, through srv_decide_ask like every decision
 * (audited); then the store's atomic pending -> approved/denied (409 when
 * it is not pending any more: decided, consumed or expired).  The step is
 * an audit record of its own: agent = the approver, action
 * approve_request, resource the approval, errors
 * [{"approval":{"id","step":"approved"|"denied","reason"}}]. */
#include "approval/approval.h"
#include "approval/serve.h"
#include "jose/jose.h"
#include "util/alloc.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Approvals a page of GET /approvals holds when the call names no limit. */
#define APPROVALS_PAGE 100

typedef struct approver {
    bool admin;
    writ_identity *id; /* the person's verified OIDC identity (not admin) */
    json_t *claims;    /* the token's claims */
    char uid[700];     /* Writ::User::"sub", or "admin" */
} approver;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void approver_clear(approver *ap)
{
    writ_identity_free(ap->id);
    json_decref(ap->claims);
    memset(ap, 0, sizeof *ap);
}

/* The claims of a compact JWS already verified (NULL when they do not read). */
static json_t *token_claims(const char *tok)
{
    const char *d1 = strchr(tok, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d2)
        return NULL;
    unsigned char *payload = NULL;
    size_t plen = 0;
    if (!wr_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &payload, &plen))
        return NULL;
    json_t *claims = NULL;
    writ_error e;
    if (wr_json_object((const char *)payload, plen, &claims, NULL, &e, "payload") != WRIT_OK)
        claims = NULL;
    wr_free(payload);
    return claims;
}

/* Who is calling: 0 with ap filled, or 401 with why. */
static unsigned authenticate(srv *s, struct MHD_Connection *c, approver *ap, char *why, size_t n)
{
    memset(ap, 0, sizeof *ap);
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!auth || !srv_is_bearer(auth)) {
        snprintf(why, n,
                 "approvals need Authorization: Bearer with an approver's OIDC token or the admin secret");
        return 401;
    }
    const char *tok = auth + 6;
    while (*tok == ' ')
        tok++;
    size_t tl = strlen(tok);
    if (s->admin_secret && tl == s->admin_len && CRYPTO_memcmp(tok, s->admin_secret, tl) == 0) {
        ap->admin = true;
        snprintf(ap->uid, sizeof ap->uid, "admin");
        return 0;
    }
    if (!s->bundle) {
        snprintf(why, n, "no approvers can sign in: no identity issuers are configured (identity_oidc)");
        return 401;
    }
    writ_verify_opts vo = {.audience = s->cfg->identity_audience,
                           .leeway = s->cfg->token_leeway,
                           .allow_high_s = s->cfg->identity_allow_high_s};
    writ_reason reason = WRIT_R_OK;
    writ_error err;
    memset(&err, 0, sizeof err);
    if (writ_identity_verify_jwt(s->bundle, &vo, tok, tl, &ap->id, &reason, &err)) {
        snprintf(why, n, "the credential is not an approver's: %.300s", err.msg);
        return 401;
    }
    if (writ_identity_get_kind(ap->id) != WRIT_ID_OIDC) {
        snprintf(why, n,
                 "a workload identity (%.200s) is not an approver's credential: approvers sign in with an "
                 "OIDC token of a trusted issuer",
                 writ_identity_subject(ap->id));
        approver_clear(ap);
        return 401;
    }
    ap->claims = token_claims(tok);
    const char *ptype = writ_identity_principal_type(ap->id), *sub = writ_identity_subject(ap->id);
    sbuf b;
    sb_init(&b);
    if (!strstr(ptype, "::"))
        sb_puts(&b, s->type_prefix);
    srv_uid_text(&b, ptype, sub, strlen(sub));
    snprintf(ap->uid, sizeof ap->uid, "%s", sb_ok(&b) ? b.p : "");
    sb_free(&b);
    if (!ap->claims || !ap->uid[0]) {
        snprintf(why, n, "the token's claims do not read");
        approver_clear(ap);
        return 401;
    }
    return 0;
}

/* One approval's JSON (base: PUBLIC_URL), with the agent's owner from the
 * entities in force. */
static void put_approval(const char *base, const srv_snapshot *snap, sbuf *b, const wr_approval *a)
{
    char *owner = snap ? wr_entity_string_attr(snap->es, a->agent, "owner") : NULL;
    wr_approval_json(b, a, base, owner);
    wr_free(owner);
}

static void reply_approval(srv *s, const char *base, srv_reply *r, unsigned status, const wr_approval *a)
{
    sbuf b;
    sb_init(&b);
    srv_snapshot *snap = snap_acquire(s->store);
    put_approval(base, snap, &b, a);
    snap_release(snap);
    srv_reply_sbuf(r, status, &b);
}

/* Does the chain's entry v name sub: its id, or a uid text with that id
 * (`Writ::Agent::"sub"`)?  Yes, too, for an entry that is no string. */
static bool names(const json_t *v, const char *sub)
{
    if (!json_is_string(v))
        return true;
    if (!strcmp(json_string_value(v), sub))
        return true;
    char *type = NULL, *id = NULL;
    bool same = wr_uid_split(json_string_value(v), &type, &id) == 0 && !strcmp(id, sub);
    wr_free(type);
    wr_free(id);
    return same;
}

/* Is sub the requesting agent, or any agent of its chain?  Yes, too, when
 * either cannot be read: an approval nobody can tell apart from its
 * requester's is not approved by that requester. */
static bool is_requester(const wr_approval *a, const char *sub)
{
    char *type = NULL, *id = NULL;
    bool self = true;
    if (wr_uid_split(a->agent, &type, &id) == 0)
        self = !strcmp(id, sub);
    wr_free(type);
    wr_free(id);
    json_t *chain = a->chain ? json_loads(a->chain, JSON_ALLOW_NUL, NULL) : json_array();
    if (!json_is_array(chain))
        self = true;
    size_t i;
    json_t *v;
    json_array_foreach(chain, i, v)
    {
        if (names(v, sub))
            self = true;
    }
    json_decref(chain);
    return self;
}

/* The step as its own audit record. */
static void step_record(srv *s, const approver *ap, const wr_approval *a, bool approve, const char *reason)
{
    if (!s->audit)
        return;
    sbuf e, act, res;
    sb_init(&e);
    sb_init(&act);
    sb_init(&res);
    sb_puts(&e, "[{\"approval\":{\"id\":");
    sb_json_str(&e, a->id);
    sb_puts(&e, ",\"step\":");
    sb_json_str(&e, approve ? "approved" : "denied");
    sb_puts(&e, ",\"reason\":");
    sb_json_str(&e, reason ? reason : "");
    sb_puts(&e, ",\"request\":{\"agent\":");
    sb_json_str(&e, a->agent);
    sb_puts(&e, ",\"action\":");
    sb_json_str(&e, a->action);
    sb_puts(&e, ",\"resource\":");
    sb_json_str(&e, a->resource);
    sb_puts(&e, "}}}]");
    srv_uid_text(&act, s->action_type, "approve_request", 15);
    sb_puts(&res, s->type_prefix);
    srv_uid_text(&res, "Approval", a->id, strlen(a->id));
    wr_audit_entry en = {
        .agent = ap->uid,
        .chain = a->chain,
        .task = a->task_id,
        .action = sb_ok(&act) ? act.p : "",
        .resource = sb_ok(&res) ? res.p : "",
        .allow = approve,
        .policies = "[]",
        .errors = sb_ok(&e) ? e.p : "[]",
    };
    if (srv_durable_record(s, &en))
        atomic_fetch_add_explicit(&s->met.audit_failed, 1, memory_order_relaxed);
    sb_free(&e);
    sb_free(&act);
    sb_free(&res);
}

/* Cedar: may this person decide a?  0 allowed; 403 with why. */
static unsigned approver_allowed(srv *s, struct MHD_Connection *c, const approver *ap, const wr_approval *a,
                                 char *why, size_t n)
{
    json_t *attrs = wr_approval_attrs(a);
    json_t *ctx = json_object();
    json_t *claims = wr_claims_cedar(ap->claims);
    if (!attrs || !ctx || !claims || json_object_set_new(ctx, "claims", claims)) {
        json_decref(attrs);
        json_decref(ctx);
        snprintf(why, n, "out of memory");
        return 500;
    }
    const char *ptype = writ_identity_principal_type(ap->id), *sub = writ_identity_subject(ap->id);
    srv_peer peer;
    srv_peer_read(s, c, &peer);
    srv_ask q = {
        .principal = srv_uid_parts(s, ptype, strlen(ptype), sub, strlen(sub)),
        .action = srv_uid_parts(s, s->action_type, strlen(s->action_type), "approve_request", 15),
        .resource = srv_uid_parts(s, "Approval", 8, a->id, strlen(a->id)),
        .context = ctx,
        .resource_props = attrs,
        .peer = &peer,
    };
    srv_snapshot *snap = snap_acquire(s->store);
    if (snap->schema) { /* closed records: keep what the schema declares (fit.c) */
        sbuf t;
        sb_init(&t);
        sb_puts(&t, s->type_prefix);
        sb_puts(&t, "Approval");
        if (sb_ok(&t))
            wr_fit_entity_attrs(snap->schema, t.p, attrs);
        sb_free(&t);
        wr_fit_context(snap->schema, s->action_type, "approve_request", ctx);
    }
    srv_outcome o;
    srv_decide_ask(s, snap, &q, &o);
    snap_release(snap);
    json_decref(attrs);
    json_decref(ctx);
    if (o.allow)
        return 0;
    if (o.failed)
        snprintf(why, n, "policy does not let %.200s decide approval %s: %.250s", ap->uid, a->id, o.error);
    else if (o.d.nreasons)
        snprintf(why, n, "policy %.100s forbids %.200s to decide approval %s", o.d.reasons[0], ap->uid,
                 a->id);
    else
        snprintf(why, n, "no policy lets %.200s decide approval %s (action approve_request)", ap->uid, a->id);
    return 403;
}

/* The limit of a page: a whole number from 1 to WR_APPROVAL_PAGE_MAX
 * (digits only: no sign, no space); false for anything else. */
static bool page_limit(const char *v, size_t *limit)
{
    if (!*v || strspn(v, "0123456789") != strlen(v))
        return false;
    errno = 0;
    unsigned long n = strtoul(v, NULL, 10);
    if (errno || n < 1 || n > WR_APPROVAL_PAGE_MAX)
        return false;
    *limit = n;
    return true;
}

static void list(srv *s, const char *base, struct MHD_Connection *c, srv_reply *r)
{
    const char *sv = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "status");
    const char *lv = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    const char *cv = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "cursor");
    int status = -1;
    size_t limit = APPROVALS_PAGE;
    wr_approval_pos after;
    if (sv && *sv && (status = wr_approval_status_parse(sv)) < 0) {
        srv_error(r, 400, "bad_request", "status must be pending, approved, denied, consumed or expired");
        return;
    }
    if (lv && !page_limit(lv, &limit)) {
        srv_error(r, 400, "bad_request", "limit must be a whole number from 1 to %d", WR_APPROVAL_PAGE_MAX);
        return;
    }
    if (cv && !wr_approval_cursor_parse(cv, &after)) {
        srv_error(r, 400, "bad_request",
                  "cursor is not one this server gave: pass the \"next\" of the page before as it is");
        return;
    }
    wr_approval *v = NULL;
    size_t n = 0;
    bool more = false;
    writ_error err;
    if (wr_store_approval_page(s->state, status, cv ? &after : NULL, limit, now_ms(), &v, &n, &more, &err)) {
        srv_error(r, 503, "state_unavailable", "%s", err.msg);
        return;
    }
    sbuf b;
    sb_init(&b);
    sb_puts(&b, "{\"approvals\":[");
    srv_snapshot *snap = snap_acquire(s->store);
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_putc(&b, ',');
        put_approval(base, snap, &b, &v[i]);
    }
    snap_release(snap);
    sb_putc(&b, ']');
    if (more) { /* the place after the last one shown */
        wr_approval_pos last = {.created_ms = v[n - 1].created_ms};
        char next[WR_APPROVAL_CURSOR_MAX];
        memcpy(last.id, v[n - 1].id, sizeof last.id);
        wr_approval_cursor(&last, next);
        sb_puts(&b, ",\"next\":");
        sb_json_str(&b, next);
    }
    sb_putc(&b, '}');
    wr_approvals_free(v, n);
    srv_reply_sbuf(r, 200, &b);
}

static void decide(srv *s, const char *base, struct MHD_Connection *c, const approver *ap, const char *id,
                   const char *body, size_t len, srv_reply *r)
{
    /* the body */
    writ_error err;
    memset(&err, 0, sizeof err);
    json_t *j = len ? writ_json_parse(body, len, &err) : NULL;
    if (!json_is_object(j)) {
        if (!len)
            srv_error(r, 400, "bad_request",
                      "expected a JSON object {\"decision\": \"approve\"|\"deny\", \"reason\"}");
        else if (!j)
            srv_error(r, 400, "bad_json", "malformed JSON at line %u, column %u: %s", err.line, err.col,
                      err.msg);
        else
            srv_error(r, 400, "bad_request", "expected a JSON object");
        json_decref(j);
        return;
    }
    json_t *dj = json_object_get(j, "decision"), *rj = json_object_get(j, "reason");
    const char *dv = json_string_value(dj);
    /* the whole string: "approve\u0000, no" is no approval */
    if (!dv || strlen(dv) != json_string_length(dj) || (strcmp(dv, "approve") && strcmp(dv, "deny"))) {
        srv_error(r, 400, "bad_request", "decision must be \"approve\" or \"deny\"");
        json_decref(j);
        return;
    }
    if (rj && !json_is_null(rj) && !json_is_string(rj)) {
        srv_error(r, 400, "bad_request", "reason must be a string");
        json_decref(j);
        return;
    }
    if (json_is_string(rj) && json_string_length(rj) > WR_APPROVAL_REASON_MAX) {
        srv_error(r, 400, "reason_too_long", "reason is %zu bytes; at most %d", json_string_length(rj),
                  WR_APPROVAL_REASON_MAX);
        json_decref(j);
        return;
    }
    if (json_is_string(rj) && memchr(json_string_value(rj), '\0', json_string_length(rj))) {
        srv_error(r, 400, "bad_request", "reason must not hold U+0000");
        json_decref(j);
        return;
    }
    bool approve = !strcmp(dv, "approve");
    const char *reason = json_is_string(rj) ? json_string_value(rj) : "";
    /* the approval */
    wr_approval a;
    bool found = false;
    if (wr_store_approval_get(s->state, id, now_ms(), &a, &found, &err)) {
        srv_error(r, 503, "state_unavailable", "%s", err.msg);
        json_decref(j);
        return;
    }
    if (!found) {
        srv_error(r, 404, "not_found", "no approval %s", id);
        json_decref(j);
        return;
    }
    /* who may decide */
    char why[600];
    unsigned st = 0;
    if (!ap->admin) {
        const char *sub = writ_identity_subject(ap->id);
        if (is_requester(&a, sub)) {
            snprintf(why, sizeof why,
                     "%.200s is the requester (the agent or in its delegation chain): nobody "
                     "approves a request of their own identity",
                     sub);
            srv_outcome o;
            sbuf act;
            sb_init(&act);
            srv_uid_text(&act, s->action_type, "approve_request", 15);
            srv_decide_failed(s, ap->uid, sb_ok(&act) ? act.p : "", "", a.task_id, why, &o);
            sb_free(&act);
            st = 403;
        } else {
            st = approver_allowed(s, c, ap, &a, why, sizeof why);
        }
    }
    if (st) {
        srv_error(r, st, st == 403 ? "forbidden" : "internal", "%s", why);
        wr_approval_clear(&a);
        json_decref(j);
        return;
    }
    wr_approval_clear(&a);
    /* the atomic step */
    wr_decide_result dr = WR_DECIDE_NOT_FOUND;
    if (wr_store_approval_decide(s->state, id, approve, ap->uid, reason, now_ms(), &dr, &a, &err)) {
        srv_error(r, 503, "state_unavailable", "%s", err.msg);
        json_decref(j);
        return;
    }
    if (dr == WR_DECIDE_NOT_FOUND) {
        srv_error(r, 404, "not_found", "no approval %s", id);
    } else if (dr == WR_DECIDE_NOT_PENDING) {
        srv_error(r, 409, "not_pending", "approval %s is %s, not pending", id,
                  wr_approval_status_name(a.status));
    } else {
        step_record(s, ap, &a, approve, reason);
        reply_approval(s, base, r, 200, &a);
    }
    wr_approval_clear(&a);
    json_decref(j);
}

void wr_approvals_http(void *arg, srv *s, struct MHD_Connection *c, const char *url, const char *method,
                       const char *body, size_t len, srv_reply *r)
{
    const char *base = wr_approvals_srv_base(arg);
    if (!base || !s->state) {
        srv_error(r, 503, "unavailable", "approvals are not available on this server");
        return;
    }
    const char *rest = url + strlen("/approvals");
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if (!*rest && !get) {
        srv_error(r, 405, "method_not_allowed", "GET /approvals; POST /approvals/ID decides one");
        r->allow = "GET, HEAD";
        return;
    }
    approver ap;
    char why[600];
    if (authenticate(s, c, &ap, why, sizeof why)) {
        srv_outcome o;
        srv_decide_failed(s, NULL, NULL, NULL, NULL, why, &o);
        atomic_fetch_add_explicit(&s->met.token_rejected, 1, memory_order_relaxed);
        srv_error(r, 401, "invalid_token", "%s", why);
        r->www_auth = "Bearer realm=\"writ\"";
        return;
    }
    if (!*rest) {
        list(s, base, c, r);
    } else if (rest[0] != '/' || !wr_approval_id_ok(rest + 1)) {
        srv_error(r, 404, "not_found", "no such approval");
    } else if (get) {
        wr_approval a;
        bool found = false;
        writ_error err;
        if (wr_store_approval_get(s->state, rest + 1, now_ms(), &a, &found, &err))
            srv_error(r, 503, "state_unavailable", "%s", err.msg);
        else if (!found)
            srv_error(r, 404, "not_found", "no approval %s", rest + 1);
        else
            reply_approval(s, base, r, 200, &a);
        if (found)
            wr_approval_clear(&a);
    } else {
        decide(s, base, c, &ap, rest + 1, body, len, r);
    }
    approver_clear(&ap);
}
