/* authzen.c - OpenID AuthZEN Authorization API 1.0 front end.
 *
 * Mapping to Cedar (namespace NS from the config, "" for none):
 *   subject  {type, id, properties?}  -> principal NS::type::"id"
 *   action   {name, properties?}      -> NS::Action::"name"
 *   resource {type, id, properties?}  -> resource  NS::type::"id"
 *   context  {...}                    -> Cedar context (schema-typed with a schema)
 * A type that already holds "::" is taken as written.  properties (Cedar
 * JSON values) become that entity's attributes for this request, over the
 * store's (writ_request_set_attrs); action properties are ignored.
 *
 * A request that is not JSON, or lacks subject/action/resource, is a 400.
 * Anything that goes wrong after that (unknown type for the schema, context
 * of the wrong shape, a Cedar failure) is a deny, HTTP 200, with the reason
 * in context.errors: fail closed.  The answer:
 *   {"decision": bool, "context": {"reasons": [policy ids], "errors": [...],
 *    "obligations"?: {"approval": "required", "policy": id}}}
 * Batches (evaluations) take defaults for the four parts from the top level
 * and options.evaluations_semantic execute_all (default),
 * deny_on_first_deny or permit_on_first_permit (stop after the first deny /
 * permit; the answer then holds the evaluations made so far).
 *
 * Who is asking.  Without an Authorization header the caller (the PEP)
 * vouches for the subject, which is taken as written.  PEPs that act for an
 * agent (nginx, Envoy, an MCP gateway) forward the agent's task token as
 * `Authorization: Bearer`, so the decision is bound to the token's holder,
 * scope, task and delegation chain rather than to what the body claims:
 *   - the token is verified as /authz/check verifies it (signature, issuer,
 *     audience, times, revocation, certificate binding to this connection;
 *     taskctx.c), once per HTTP request, batch or not.  A refused token, a
 *     Bearer header on a server without token verification, or any other
 *     scheme is a 401 with WWW-Authenticate: Bearer realm="writ" (counted
 *     in writ_tokens_rejected_total, audited as a deny);
 *   - the principal is the holder, of type check_principal_type (with the
 *     namespace).  subject may be left out; when given, its type and id
 *     must name the holder, else that evaluation is a deny ("subject does
 *     not match the task token's holder");
 *   - the action (name or uid), resource (id or uid) and destination must be
 *     in the token's scope and the resource's sensitivity under its
 *     ceiling, else a deny naming which;
 *   - the facts Writ establishes (task, chain, chain_depth, time,
 *     source_ip, destination, sensitivity, destinations: facts.c) replace
 *     whatever the body said; the body's other context keys (the call's
 *     arguments) are kept, and properties may only add attributes the
 *     entity store does not hold, never the resource's sensitivity (the
 *     ceiling reads the store's).  The audit record's task and chain are
 *     the token's.
 * Both ways go through srv_decide_ask (decide.c), the decision path every
 * front end shares. */
#include "cedar/reqbuild.h"
#include "server/azmap.h"
#include "server/server_int.h"
#include "util/alloc.h"

#include <stdio.h>
#include <string.h>

/* Byte i of an entity type held as prefix + type. */
static char type_at(const writ_uid_parts *u, size_t i)
{
    return i < u->prefix_len ? u->prefix[i] : u->type[i - u->prefix_len];
}

static bool same_entity(const writ_uid_parts *a, const writ_uid_parts *b)
{
    size_t n = a->prefix_len + a->type_len;
    if (n != b->prefix_len + b->type_len || a->id_len != b->id_len || memcmp(a->id, b->id, a->id_len))
        return false;
    for (size_t i = 0; i < n; i++)
        if (type_at(a, i) != type_at(b, i))
            return false;
    return true;
}

/* Decide one evaluation, mapped already (az_map), and write
 * {"decision":..,"context":{..}}.  tk is the request's verified task
 * token, NULL without one (the caller vouches for the body). */
static void eval_one(srv *s, const srv_snapshot *snap, const srv_task *tk, const srv_peer *peer,
                     const az_mapped *m, bool ctx_owned, const writ_split *split, bool explain, sbuf *out)
{
    const char *ptype = srv_task_ptype(s, tk);
    srv_ask a = {
        .principal = tk ? srv_uid_parts(s, ptype, strlen(ptype), tk->agent, strlen(tk->agent)) : m->principal,
        .action = m->action,
        .resource = m->resource,
        .task = tk,
        .bound = tk != NULL,
        .vouched = tk == NULL,
        .context = m->context,
        .context_owned = ctx_owned,
        .context_split = split,
        .principal_props = m->principal_props,
        .resource_props = m->resource_props,
        .peer = peer,
        .explain = explain,
    };
    srv_outcome o;
    if (tk && m->has_subject && !same_entity(&m->principal, &a.principal))
        /* with a task token, a subject in the body must name the holder */
        srv_decide_failed(s, NULL, NULL, NULL, tk->task, "subject does not match the task token's holder",
                          &o);
    else
        srv_decide_ask(s, snap, &a, &o);
    sb_puts(out, o.allow ? "{\"decision\":true,\"context\":{" : "{\"decision\":false,\"context\":{");
    srv_outcome_json(snap, &o, out);
    if (o.explained && !o.allow && !o.failed) {
        char *xj = writ_explanation_json(&o.x);
        sb_puts(out, ",\"explain\":");
        sb_puts(out, xj ? xj : "null");
        writ_free_string(xj);
    }
    sb_puts(out, "}}");
}

static json_t *load_body(const char *body, size_t len, srv_reply *r)
{
    if (len == 0) {
        srv_error(r, 400, "bad_request", "the request body is empty: expected a JSON object");
        return NULL;
    }
    writ_error err;
    memset(&err, 0, sizeof err);
    json_t *j = writ_json_parse(body, len, &err);
    if (!j) {
        srv_error(r, 400, "bad_json", "malformed JSON at line %u, column %u: %s", err.line, err.col, err.msg);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        srv_error(r, 400, "bad_request", "expected a JSON object");
        return NULL;
    }
    return j;
}

/* The Authorization header.  None: 0 and *tk NULL (the caller vouches for
 * the subject; the common path costs this one lookup).  A task token that
 * verifies: 0 and *tk = buf.  Anything else (a refused token, no token
 * verification configured, another scheme): -1 with a 401 in r, counted
 * and audited as a deny, as /authz/check does. */
int srv_authzen_authenticate(srv *s, struct MHD_Connection *c, srv_task *buf, const srv_task **tk,
                             srv_reply *r)
{
    *tk = NULL;
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!auth)
        return 0;
    char why[256];
    if (srv_task_bearer(s, c, auth, buf, why, sizeof why)) {
        srv_outcome o;
        srv_decide_failed(s, NULL, NULL, NULL, NULL, why, &o);
        atomic_fetch_add_explicit(&s->met.token_rejected, 1, memory_order_relaxed);
        srv_error(r, 401, srv_is_bearer(auth) ? "invalid_token" : "unsupported_scheme", "%s", why);
        r->www_auth = "Bearer realm=\"writ\"";
        srv_task_clear(buf);
        return -1;
    }
    *tk = buf;
    return 0;
}

/* options.explain (both endpoints): 0 with *on, or -1 with the error in r.
 * Explanations quote policy text, so the server gives them only when its
 * configuration says so (explain = true; docs/EXPLAIN.md). */
static int explain_option(srv *s, const json_t *options, bool *on, srv_reply *r)
{
    *on = false;
    json_t *e = json_object_get(options, "explain");
    if (!e || json_is_false(e))
        return 0;
    if (!json_is_true(e)) {
        srv_error(r, 400, "bad_request", "options.explain must be true or false");
        return -1;
    }
    if (!s->cfg->explain) {
        srv_error(r, 403, "explain_disabled",
                  "explanations are off on this server (they quote policy text): set explain = true");
        return -1;
    }
    *on = true;
    return 0;
}

/* This thread's writ_split: the body's context read straight into Cedar
 * values (writ_json_parse_fields), without a JSON tree of it and its
 * conversion.  The members the decision path reads as JSON stay JSON: the
 * destination, the vouched task and chain (the audit record, facts.c) and
 * the input (approvals). */
static pthread_key_t split_key;
static pthread_once_t split_once = PTHREAD_ONCE_INIT;
static bool split_key_ok;
/* history is kept too, though no one reads it: the decision path deletes
 * it from the tree (history.c: Writ's alone), which must then take it
 * out of the context, and the tree is where a member is taken out (a lean
 * split's base is read whole). */
static const char *const split_keep[] = {"destination", "task", "chain", "input", "history", NULL};
/* A vouching caller's chain is read straight into a Cedar value as well
 * (split_keep_text), and its compact text, which is all the decision path
 * wants of it (the audit record, the approval gate), comes from the
 * reading (cedar_split_text): no tree of a dozen allocations per request.
 * A chain of names (strings) stays JSON: the task-history keys read its
 * root there (history.c).  With a task token the facts replace the chain
 * in the tree (facts.c), so it is kept as before. */
static const char *const split_keep_text[] = {"destination", "task", "input", "history", NULL};
/* Lean (below), the destination is read from the split's Cedar values
 * too (decide.c: cedar_split_string), so the bench's context has no
 * member left in the tree, which is then the split's own empty object. */
static const char *const split_keep_lean[] = {"task", "input", "history", NULL};

static void split_free(void *p) { writ_split_free(p); }
static void split_key_make(void) { split_key_ok = pthread_key_create(&split_key, split_free) == 0; }

static writ_split *thread_split(void)
{
    if (pthread_once(&split_once, split_key_make) != 0 || !split_key_ok)
        return NULL;
    writ_split *sp = pthread_getspecific(split_key);
    if (!sp) {
        sp = writ_split_new();
        cedar_split_want_text(sp, "chain");
        if (sp && pthread_setspecific(split_key, sp) != 0) {
            writ_split_free(sp);
            sp = NULL;
        }
    }
    return sp;
}

/* The single evaluation read as fields (writ_json_parse_fields): subject,
 * action and resource as slices of the body, their properties as trees
 * only when given, the context split as above.  Declined: -1, nothing
 * answered (the caller reads the body the usual way). */
static const char *const body_shallow[] = {"subject", "action", "resource", NULL};

static int evaluation_fields(srv *s, const srv_snapshot *snap, writ_split *sp, const srv_task *tk,
                             const srv_peer *peer, const char *body, size_t len, srv_reply *r)
{
    const writ_json_field *f;
    size_t n;
    /* Lean (no json null placeholder in the tree for each member read as
     * a Cedar value: the tree holds the kept members alone) where nothing
     * reads the context's other members from the tree: the decision path
     * without a task token puts the facts straight into the request
     * (decide.c), and only an approval gate would read the tree whole. */
    bool lean = !tk && snap->napprovals == 0;
    cedar_split_lean(sp, lean);
    if (writ_json_parse_fields(sp, body, len, "context",
                               tk     ? split_keep
                               : lean ? split_keep_lean
                                      : split_keep_text,
                               body_shallow, &f, &n))
        return -1;
    const writ_json_field *opts = az_field(f, n, "options");
    bool explain;
    if (!explain_option(s, opts && opts->kind == WRIT_FIELD_JSON ? opts->json : NULL, &explain, r)) {
        az_names names = {s->type_prefix, s->action_type};
        az_mapped m;
        char why[200];
        if (az_map_fields(&names, f, n, tk != NULL, &m, why, sizeof why)) {
            srv_error(r, 400, "bad_request", "%s", why);
        } else {
            sbuf b;
            sb_init(&b);
            /* the body's context is read by this one evaluation only: the facts go into it */
            eval_one(s, snap, tk, peer, &m, true, sp, explain, &b);
            srv_reply_sbuf(r, 200, &b);
            sb_free(&b);
        }
    }
    writ_split_release(sp);
    return 0;
}

static void evaluation(srv *s, const srv_task *tk, const srv_peer *peer, const char *body, size_t len,
                       srv_reply *r)
{
    srv_snapshot *snap = snap_acquire(s->store);
    /* The quick way only where the context is read as plain values: no
     * schema (typing).  A task-history limit that sums a context member
     * reads it from the split's Cedar values (wr_history_begin).
     * With a task token the facts replace the caller's members in the
     * tree (facts.c), so they are read from JSON as before.  It declines
     * whatever it is unsure of, which is then read the usual way (and
     * gives every error as before). */
    writ_split *sp = !snap->schema && len ? thread_split() : NULL;
    if (sp && !evaluation_fields(s, snap, sp, tk, peer, body, len, r)) {
        snap_release(snap);
        return;
    }
    json_t *j = load_body(body, len, r);
    if (!j) {
        snap_release(snap);
        return;
    }
    bool explain;
    if (explain_option(s, json_object_get(j, "options"), &explain, r)) {
        snap_release(snap);
        json_decref(j);
        return;
    }
    az_parts p = {json_object_get(j, "subject"), json_object_get(j, "action"), json_object_get(j, "resource"),
                  json_object_get(j, "context")};
    az_names names = {s->type_prefix, s->action_type};
    az_mapped m;
    char why[200];
    if (az_map(&names, &p, tk != NULL, &m, why, sizeof why)) {
        srv_error(r, 400, "bad_request", "%s", why);
    } else {
        sbuf b;
        sb_init(&b);
        /* the body's context is read by this one evaluation only: the facts go into it */
        eval_one(s, snap, tk, peer, &m, true, NULL, explain, &b);
        srv_reply_sbuf(r, 200, &b);
        sb_free(&b);
    }
    snap_release(snap);
    json_decref(j);
}

void authzen_evaluation(srv *s, struct MHD_Connection *c, const char *body, size_t len, srv_reply *r)
{
    srv_task buf;
    const srv_task *tk;
    if (srv_authzen_authenticate(s, c, &buf, &tk, r))
        return;
    srv_peer peer;
    srv_peer_read(s, c, &peer);
    evaluation(s, tk, &peer, body, len, r);
    if (tk)
        srv_task_clear(&buf);
}

typedef enum { SEM_ALL, SEM_DENY_FIRST, SEM_PERMIT_FIRST } az_semantic;

static void evaluations(srv *s, const srv_task *tk, const srv_peer *peer, const char *body, size_t len,
                        srv_reply *r)
{
    json_t *j = load_body(body, len, r);
    if (!j)
        return;
    az_parts def = {json_object_get(j, "subject"), json_object_get(j, "action"),
                    json_object_get(j, "resource"), json_object_get(j, "context")};
    json_t *evs = json_object_get(j, "evaluations");
    json_t *opts = json_object_get(j, "options");
    az_semantic sem = SEM_ALL;
    if (opts && !json_is_object(opts)) {
        srv_error(r, 400, "bad_request", "options must be an object");
        goto out_json;
    }
    bool explain;
    if (explain_option(s, opts, &explain, r))
        goto out_json;
    json_t *sj = json_object_get(opts, "evaluations_semantic");
    if (sj) {
        const char *v = json_string_value(sj);
        if (v && !strcmp(v, "execute_all"))
            sem = SEM_ALL;
        else if (v && !strcmp(v, "deny_on_first_deny"))
            sem = SEM_DENY_FIRST;
        else if (v && !strcmp(v, "permit_on_first_permit"))
            sem = SEM_PERMIT_FIRST;
        else {
            srv_error(r, 400, "bad_request",
                      "options.evaluations_semantic must be execute_all, deny_on_first_deny or "
                      "permit_on_first_permit");
            goto out_json;
        }
    }
    if (evs && !json_is_array(evs) && !json_is_null(evs)) {
        srv_error(r, 400, "bad_request", "evaluations must be an array");
        goto out_json;
    }
    size_t n = json_array_size(evs);
    if (n > s->cfg->max_batch) {
        srv_error(r, 400, "too_many_evaluations", "%zu evaluations; at most %u in one request", n,
                  (unsigned)s->cfg->max_batch);
        goto out_json;
    }
    /* No evaluations: the request is one evaluation (AuthZEN 1.0). */
    if (n == 0) {
        json_decref(j);
        evaluation(s, tk, peer, body, len, r);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (!json_is_object(json_array_get(evs, i))) {
            srv_error(r, 400, "bad_request", "evaluations[%zu] must be an object", i);
            goto out_json;
        }
    srv_snapshot *snap = snap_acquire(s->store);
    az_names names = {s->type_prefix, s->action_type};
    sbuf b;
    sb_init(&b);
    sb_puts(&b, "{\"evaluations\":[");
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(evs, i), *v;
        az_parts p = def;
        if ((v = json_object_get(e, "subject")))
            p.subject = v;
        if ((v = json_object_get(e, "action")))
            p.action = v;
        if ((v = json_object_get(e, "resource")))
            p.resource = v;
        bool own = false; /* an item's own context is read once; the default one by every item */
        if ((v = json_object_get(e, "context")))
            p.context = v, own = true;
        if (i)
            sb_putc(&b, ',');
        size_t mark = b.len;
        char why[200];
        az_mapped mp;
        if (!az_map(&names, &p, tk != NULL, &mp, why, sizeof why)) {
            eval_one(s, snap, tk, peer, &mp, own, NULL, explain, &b);
        } else {
            /* A malformed item is a deny of that item with its reason. */
            sb_puts(&b, "{\"decision\":false,\"context\":{\"reasons\":[],\"errors\":[{\"policy\":null,"
                        "\"message\":");
            char m[240];
            snprintf(m, sizeof m, "evaluations[%zu]: %s", i, why);
            sb_json_str(&b, m);
            sb_puts(&b, "}]}}");
            srv_outcome o;
            srv_decide_failed(s, NULL, NULL, NULL, tk ? tk->task : NULL, m, &o);
        }
        bool allowed = b.len > mark + 12 && !memcmp(b.p + mark, "{\"decision\":true", 16);
        if ((sem == SEM_DENY_FIRST && !allowed) || (sem == SEM_PERMIT_FIRST && allowed))
            break;
    }
    sb_puts(&b, "]}");
    srv_reply_sbuf(r, 200, &b);
    sb_free(&b);
    snap_release(snap);
out_json:
    json_decref(j);
}

void authzen_evaluations(srv *s, struct MHD_Connection *c, const char *body, size_t len, srv_reply *r)
{
    srv_task buf;
    const srv_task *tk;
    if (srv_authzen_authenticate(s, c, &buf, &tk, r))
        return;
    srv_peer peer;
    srv_peer_read(s, c, &peer);
    evaluations(s, tk, &peer, body, len, r);
    if (tk)
        srv_task_clear(&buf);
}

void authzen_metadata(srv *s, struct MHD_Connection *c, srv_reply *r)
{
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    sbuf base, b;
    sb_init(&base);
    sb_init(&b);
    sb_puts(&base, "http://");
    if (host && *host)
        sb_puts(&base, host);
    else
        sb_printf(&base, "%s:%u", s->cfg->listen_host, (unsigned)s->cfg->listen_port);
    const char *u = sb_ok(&base) ? base.p : "";
    sb_puts(&b, "{\"policy_decision_point\":");
    sb_json_str(&b, u);
    static const char *const eps[][2] = {
        {"access_evaluation_endpoint", "/access/v1/evaluation"},
        {"access_evaluations_endpoint", "/access/v1/evaluations"},
        {"search_subject_endpoint", "/access/v1/search/subject"},
        {"search_resource_endpoint", "/access/v1/search/resource"},
        {"search_action_endpoint", "/access/v1/search/action"},
    };
    for (size_t i = 0; i < sizeof eps / sizeof eps[0]; i++) {
        sb_printf(&b, ",\"%s\":", eps[i][0]);
        sbuf t;
        sb_init(&t);
        sb_puts(&t, u);
        sb_puts(&t, eps[i][1]);
        sb_json_str(&b, sb_ok(&t) ? t.p : "");
        sb_free(&t);
    }
    sb_putc(&b, '}');
    srv_reply_sbuf(r, 200, &b);
    sb_free(&b);
    sb_free(&base);
}
