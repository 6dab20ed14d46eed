/* api.c - the approvals API (JSON):
 *
 *   GET  /approvals[?status=pending|approved|denied|consumed|expired]
 *                  [&limit=N][&cursor=C]
 *        -> {"approvals": [approval, ...], "next"?: C}   newest first, a
 *        page of limit (1..1,000, default 100; else 400) approvals of that
 *        status that the caller may decide; "next" when more may follow:
 *        the cursor of the next page (the place after the last approval
 *        weighed: approvals created meanwhile do not shift it).  A cursor
 *        this server did not write is a 400.
 *   GET  /approvals/ID  -> approval
 *   POST /approvals/ID  {"decision": "approve"|"deny", "reason"?: string}
 *        -> 200 and the approval as it is now
 *
 * Every call needs Authorization: Bearer with an approver's credential:
 * the admin secret (admin_token_file; decides anything, recorded as
 * "admin"), or an OIDC token of a trusted issuer (identity_oidc) carrying
 * identity_audience.  Anything else is a 401: no or another scheme, a token
 * that does not verify, and a valid credential that is not a person's (a
 * Writ task token, a workload's JWT-SVID).
 *
 * An approver sees only what they may decide (judge_may: not the requester,
 * and Cedar's approve_request allows): the list leaves the others out, and
 * reading or deciding one of them is the 404 of an id that does not exist.
 *
 * Deciding (POST), in this order: the body (400: not a JSON object,
 * decision not "approve"/"deny", reason not a string or longer than 1,024
 * bytes); the id (404 unknown); who may decide (404 as unknown when the
 * person is the requester (sub is the agent's id or any id in its
 * delegation chain) or no policy lets them, the refusal audited); then the
 * store's atomic pending -> approved/denied (409 when it is not pending any
 * more: decided, consumed or expired).  The step is an audit record of its
 * own: agent = the approver, action approve_request, resource the
 * approval, errors [{"approval":{"id","step":"approved"|"denied","reason"}}]. */
#include "approval/approval.h"
#include "approval/serve.h"
#include "jose/jose.h"
#include "util/alloc.h"
#include "util/clock.h"

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

/* Who may decide an approval is who may see it: one answer, made here, for
 * the list, a read and a decision (POST).  The admin secret may anything.
 * A person may when they are not the requester (is_requester) and Cedar
 * allows: principal Writ::User::"<sub>" (the issuer's principal type),
 * action approve_request, resource Writ::Approval::"<id>" with the
 * attributes approval.h lists, the token's claims as context.claims,
 * through srv_decide_ask like every decision.
 *
 * A decision (POST) is audited, a refusal too (Writ's own rule or Cedar's).
 * Looking (GET) is not: a list is no approval decision, and a record per
 * approval weighed would bury the log; those asks are quiet, as a search's
 * candidates are (decided the same way, neither recorded nor counted).
 * Anything that goes wrong is a refusal: the approval is not shown. */
typedef struct judge {
    srv *s;
    const approver *ap;
    bool audited;
    srv_snapshot *snap; /* one snapshot for every approval of the request */
    json_t *ctx;        /* {"claims"}, cut to the schema; NULL: out of memory (refuse) */
    srv_peer peer;
    char type[160]; /* the Approval entity type: "Writ::Approval" */
} judge;

static void judge_open(judge *j, srv *s, struct MHD_Connection *c, const approver *ap, bool audited)
{
    memset(j, 0, sizeof *j);
    j->s = s;
    j->ap = ap;
    j->audited = audited;
    j->snap = snap_acquire(s->store);
    if (ap->admin)
        return;
    srv_peer_read(s, c, &j->peer);
    int tn = snprintf(j->type, sizeof j->type, "%sApproval", s->type_prefix);
    json_t *claims = wr_claims_cedar(ap->claims);
    j->ctx = json_object();
    if (tn < 0 || (size_t)tn >= sizeof j->type || !claims || !j->ctx ||
        json_object_set_new(j->ctx, "claims", claims)) {
        json_decref(j->ctx);
        j->ctx = NULL;
        return;
    }
    if (j->snap->schema) /* closed records: keep what the schema declares (fit.c) */
        wr_fit_context(j->snap->schema, s->action_type, "approve_request", j->ctx);
}

static void judge_close(judge *j)
{
    snap_release(j->snap);
    json_decref(j->ctx);
}

/* May the person decide (and so see) a? */
static bool judge_may(judge *j, const wr_approval *a)
{
    if (j->ap->admin)
        return true;
    srv *s = j->s;
    const char *ptype = writ_identity_principal_type(j->ap->id), *sub = writ_identity_subject(j->ap->id);
    if (is_requester(a, sub)) {
        if (j->audited) {
            char why[400];
            snprintf(why, sizeof why,
                     "%.200s is the requester (the agent or in its delegation chain): nobody "
                     "approves a request of their own identity",
                     sub);
            srv_outcome o;
            sbuf act;
            sb_init(&act);
            srv_uid_text(&act, s->action_type, "approve_request", 15);
            srv_decide_failed(s, j->ap->uid, sb_ok(&act) ? act.p : "", "", a->task_id, why, &o);
            sb_free(&act);
        }
        return false;
    }
    json_t *attrs = j->ctx ? wr_approval_attrs(a) : NULL;
    if (!attrs)
        return false;
    if (j->snap->schema)
        wr_fit_entity_attrs(j->snap->schema, j->type, attrs);
    srv_ask q = {
        .principal = srv_uid_parts(s, ptype, strlen(ptype), sub, strlen(sub)),
        .action = srv_uid_parts(s, s->action_type, strlen(s->action_type), "approve_request", 15),
        .resource = srv_uid_parts(s, "Approval", 8, a->id, strlen(a->id)),
        .context = j->ctx,
        .resource_props = attrs,
        .peer = &j->peer,
        .quiet = !j->audited,
    };
    srv_outcome o;
    srv_decide_ask(s, j->snap, &q, &o);
    json_decref(attrs);
    return o.allow;
}

/* The answer to an id the person may not decide is the answer to an id
 * that does not exist: neither confirms that it does. */
static void not_found(srv_reply *r, const char *id)
{
    srv_error(r, 404, "not_found", "no approval %s among those you may decide", id);
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

/* One page of GET /approvals.  A page for a person holds what they may
 * decide (judge_may), so the store is read in chunks past those they may
 * not, up to VIEW_WEIGH x limit approvals weighed: one who may see none of
 * 100,000 costs that, not a scan of them all.
 * Then the page is answered as it stands, short or empty, with "next" after
 * the last approval weighed.  Otherwise the page is full unless it is the
 * last: with limit approvals found, the page looks on for one more it may
 * show, and says "next" (after the last weighed before that one) only when
 * there is one; a page that ran out of weighing on that look says "next"
 * too, so a full page may be followed by an empty last one. */
#define VIEW_WEIGH 10
/* Fewest approvals a chunk reads while it looks for the last few of a page
 * (the one past a full page: a store's read for each would be slow) */
#define VIEW_CHUNK_MIN 64

static void list(srv *s, const char *base, struct MHD_Connection *c, const approver *ap, srv_reply *r)
{
    const char *sv = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "status");
    const char *lv = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    const char *cv = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "cursor");
    int status = -1;
    size_t limit = APPROVALS_PAGE;
    wr_approval_pos at; /* the place after the last approval weighed */
    if (sv && *sv && (status = wr_approval_status_parse(sv)) < 0) {
        srv_error(r, 400, "bad_request", "status must be pending, approved, denied, consumed or expired");
        return;
    }
    if (lv && !page_limit(lv, &limit)) {
        srv_error(r, 400, "bad_request", "limit must be a whole number from 1 to %d", WR_APPROVAL_PAGE_MAX);
        return;
    }
    if (cv && !wr_approval_cursor_parse(cv, &at)) {
        srv_error(r, 400, "bad_request",
                  "cursor is not one this server gave: pass the \"next\" of the page before as it is");
        return;
    }
    wr_approval *page = wr_calloc(limit, sizeof *page);
    if (!page) {
        srv_error(r, 500, "internal", "out of memory");
        return;
    }
    judge j;
    judge_open(&j, s, c, ap, false);
    bool placed = cv != NULL; /* at holds a place */
    bool more = true;         /* approvals of the status follow `at` */
    size_t got = 0, weighed = 0, budget = VIEW_WEIGH * limit;
    int64_t now = wr_wall_ms();
    writ_error err;
    while (more && weighed < budget) {
        wr_approval *v = NULL;
        size_t n = 0, i = 0;
        bool after = false, found = false; /* found: one more to show, past a full page */
        /* what the page still needs (and the one after it), not less than
         * VIEW_CHUNK_MIN, not more than limit + 1, the weighing left or a
         * store's page */
        size_t chunk = limit + 1 - got;
        if (chunk < VIEW_CHUNK_MIN)
            chunk = VIEW_CHUNK_MIN;
        if (chunk > limit + 1)
            chunk = limit + 1;
        if (chunk > budget - weighed)
            chunk = budget - weighed;
        if (chunk > WR_APPROVAL_PAGE_MAX)
            chunk = WR_APPROVAL_PAGE_MAX;
        if (wr_store_approval_page(s->state, status, placed ? &at : NULL, chunk, now, &v, &n, &after, &err)) {
            srv_error(r, 503, "state_unavailable", "%s", err.msg);
            judge_close(&j);
            wr_approvals_free(page, got);
            return;
        }
        for (; i < n && weighed < budget; i++) {
            bool see = judge_may(&j, &v[i]);
            if (see && got == limit) {
                found = true;
                break;
            }
            weighed++;
            at.created_ms = v[i].created_ms;
            memcpy(at.id, v[i].id, sizeof at.id);
            placed = true;
            if (see) {
                page[got++] = v[i];
                memset(&v[i], 0, sizeof v[i]);
            }
        }
        more = after || i < n;
        wr_approvals_free(v, n);
        if (found)
            break;
    }
    sbuf b;
    sb_init(&b);
    sb_puts(&b, "{\"approvals\":[");
    for (size_t i = 0; i < got; i++) {
        if (i)
            sb_putc(&b, ',');
        put_approval(base, j.snap, &b, &page[i]);
    }
    judge_close(&j);
    sb_putc(&b, ']');
    if (more && placed) {
        char next[WR_APPROVAL_CURSOR_MAX];
        wr_approval_cursor(&at, next);
        sb_puts(&b, ",\"next\":");
        sb_json_str(&b, next);
    }
    sb_putc(&b, '}');
    wr_approvals_free(page, got);
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
    if (wr_store_approval_get(s->state, id, wr_wall_ms(), &a, &found, &err)) {
        srv_error(r, 503, "state_unavailable", "%s", err.msg);
        json_decref(j);
        return;
    }
    if (!found) {
        not_found(r, id);
        json_decref(j);
        return;
    }
    /* who may decide: refused, it is as if there were no such approval */
    judge jd;
    judge_open(&jd, s, c, ap, true);
    bool may = judge_may(&jd, &a);
    judge_close(&jd);
    if (!may) {
        not_found(r, id);
        wr_approval_clear(&a);
        json_decref(j);
        return;
    }
    wr_approval_clear(&a);
    /* the atomic step */
    wr_decide_result dr = WR_DECIDE_NOT_FOUND;
    if (wr_store_approval_decide(s->state, id, approve, ap->uid, reason, wr_wall_ms(), &dr, &a, &err)) {
        srv_error(r, 503, "state_unavailable", "%s", err.msg);
        json_decref(j);
        return;
    }
    if (dr == WR_DECIDE_NOT_FOUND) {
        not_found(r, id);
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
        list(s, base, c, &ap, r);
    } else if (rest[0] != '/' || !wr_approval_id_ok(rest + 1)) {
        srv_error(r, 404, "not_found", "no such approval");
    } else if (get) {
        wr_approval a;
        bool found = false;
        writ_error err;
        if (wr_store_approval_get(s->state, rest + 1, wr_wall_ms(), &a, &found, &err)) {
            srv_error(r, 503, "state_unavailable", "%s", err.msg);
        } else {
            judge j;
            judge_open(&j, s, c, &ap, false);
            if (found && judge_may(&j, &a)) {
                sbuf b;
                sb_init(&b);
                put_approval(base, j.snap, &b, &a);
                srv_reply_sbuf(r, 200, &b);
            } else {
                not_found(r, rest + 1);
            }
            judge_close(&j);
        }
        if (found)
            wr_approval_clear(&a);
    } else {
        decide(s, base, c, &ap, rest + 1, body, len, r);
    }
    approver_clear(&ap);
}
