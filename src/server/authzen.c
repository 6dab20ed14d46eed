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
 * permit; the answer then holds the evaluations made so far). */
#include "cedar/json.h"
#include "cedar/reqbuild.h"
#include "server/server_int.h"
#include "util/alloc.h"

#include <stdio.h>
#include <string.h>

typedef struct az_parts {
    json_t *subject, *action, *resource, *context;
} az_parts;

static const char *need_string(json_t *o, const char *key, const char *part, char *why, size_t whylen)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v)) {
        snprintf(why, whylen, "%s.%s must be a string", part, key);
        return NULL;
    }
    if (json_string_length(v) == 0) {
        snprintf(why, whylen, "%s.%s must not be empty", part, key);
        return NULL;
    }
    return json_string_value(v);
}

/* Check the shape of the four parts; 0 or -1 with why. */
static int check_parts(const az_parts *p, char *why, size_t n)
{
    static const char *const names[3] = {"subject", "action", "resource"};
    json_t *parts[3] = {p->subject, p->action, p->resource};
    for (int i = 0; i < 3; i++) {
        if (!parts[i]) {
            snprintf(why, n, "%s is required", names[i]);
            return -1;
        }
        if (!json_is_object(parts[i])) {
            snprintf(why, n, "%s must be an object", names[i]);
            return -1;
        }
    }
    if (!need_string(p->subject, "type", "subject", why, n) || !need_string(p->subject, "id", "subject", why, n) ||
        !need_string(p->resource, "type", "resource", why, n) ||
        !need_string(p->resource, "id", "resource", why, n) || !need_string(p->action, "name", "action", why, n))
        return -1;
    json_t *sp = json_object_get(p->subject, "properties"), *rp = json_object_get(p->resource, "properties");
    if ((sp && !json_is_object(sp) && !json_is_null(sp)) || (rp && !json_is_object(rp) && !json_is_null(rp))) {
        snprintf(why, n, "properties must be an object");
        return -1;
    }
    if (p->context && !json_is_object(p->context) && !json_is_null(p->context)) {
        snprintf(why, n, "context must be an object");
        return -1;
    }
    return 0;
}

/* This thread's request, refilled for each evaluation (cedar/reqbuild.h):
 * no JSON request object is assembled and re-read, and the request's arena
 * is rewound rather than made anew. */
static pthread_key_t rq_key;
static pthread_once_t rq_once = PTHREAD_ONCE_INIT;
static bool rq_key_ok;

static void rq_free(void *p) { writ_request_free(p); }
static void rq_key_make(void) { rq_key_ok = pthread_key_create(&rq_key, rq_free) == 0; }

static writ_request *thread_request(void)
{
    if (pthread_once(&rq_once, rq_key_make) != 0 || !rq_key_ok)
        return NULL;
    writ_request *rq = pthread_getspecific(rq_key);
    if (!rq) {
        rq = cedar_request_reusable();
        if (rq && pthread_setspecific(rq_key, rq) != 0) {
            writ_request_free(rq);
            rq = NULL;
        }
    }
    return rq;
}

/* The parts of an entity reference: prefix + type (unless qualified), id. */
static cedar_uid_parts uid_parts(srv *s, json_t *part, const char *type_key, json_t *id)
{
    cedar_uid_parts u = {"", 0, NULL, 0, json_string_value(id), json_string_length(id)};
    if (!type_key) {
        u.type = s->action_type;
        u.type_len = strlen(s->action_type);
        return u;
    }
    json_t *tj = json_object_get(part, type_key);
    u.type = json_string_value(tj);
    u.type_len = json_string_length(tj);
    bool qualified = false;
    for (size_t i = 0; i + 1 < u.type_len && !qualified; i++)
        qualified = u.type[i] == ':' && u.type[i + 1] == ':';
    if (!qualified) {
        u.prefix = s->type_prefix;
        u.prefix_len = strlen(s->type_prefix);
    }
    return u;
}

/* "Type::\"id\"" for the log, at b's end; returns its offset. */
static size_t put_uid_text(sbuf *b, const cedar_uid_parts *u)
{
    size_t at = b->len;
    sb_putn(b, u->prefix, u->prefix_len);
    sb_putn(b, u->type, u->type_len);
    sb_puts(b, "::");
    sb_json_strn(b, u->id, u->id_len);
    sb_putc(b, '\0');
    return at;
}

static writ_status apply_properties(const srv_snapshot *snap, writ_request *rq, json_t *part,
                                    const cedar_uid_parts *u, sbuf *tmp, writ_error *err)
{
    json_t *props = json_object_get(part, "properties");
    if (!json_is_object(props) || json_object_size(props) == 0)
        return WRIT_OK;
    tmp->len = 0;
    sb_putn(tmp, u->prefix, u->prefix_len);
    sb_putn(tmp, u->type, u->type_len);
    sb_putc(tmp, '\0');
    if (!sb_ok(tmp)) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return WRIT_ENOMEM;
    }
    return cedar_request_set_attrs_tree(rq, snap->es, tmp->p, u->id, props, err);
}

/* Decide one evaluation and write {"decision":..,"context":{..}}.  Returns
 * 0, or -1 with why when the parts are malformed (nothing written). */
static int eval_one(srv *s, const srv_snapshot *snap, const az_parts *p, sbuf *out, char *why, size_t whylen)
{
    if (check_parts(p, why, whylen))
        return -1;
    cedar_uid_parts pr = uid_parts(s, p->subject, "type", json_object_get(p->subject, "id"));
    cedar_uid_parts ac = uid_parts(s, p->action, NULL, json_object_get(p->action, "name"));
    cedar_uid_parts rs = uid_parts(s, p->resource, "type", json_object_get(p->resource, "id"));
    /* the three uids as text for the audit log, NUL-separated in one buffer */
    sbuf txt;
    sb_init(&txt);
    sb_reserve(&txt, 64 + pr.prefix_len + pr.type_len + pr.id_len + ac.type_len + ac.id_len + rs.prefix_len +
                         rs.type_len + rs.id_len);
    size_t oa = put_uid_text(&txt, &pr), oc = put_uid_text(&txt, &ac), orr = put_uid_text(&txt, &rs);
    const char *at = sb_ok(&txt) ? txt.p + oa : "", *act = sb_ok(&txt) ? txt.p + oc : "",
               *rt = sb_ok(&txt) ? txt.p + orr : "";
    const char *task = NULL;
    char *chain = NULL;
    json_t *ctx = json_is_object(p->context) ? p->context : NULL;
    if (ctx) {
        json_t *t = json_object_get(json_object_get(ctx, "task"), "id");
        task = json_is_string(t) ? json_string_value(t) : NULL;
        json_t *c = json_object_get(ctx, "chain");
        chain = json_is_array(c) ? json_dumps(c, JSON_COMPACT) : NULL;
    }
    srv_outcome o;
    writ_error err;
    memset(&err, 0, sizeof err);
    writ_request *rq = thread_request();
    writ_status st = rq ? cedar_request_fill(rq, snap->schema, s->cfg->validate, &pr, &ac, &rs, ctx, &err)
                        : WRIT_ENOMEM;
    if (!rq)
        snprintf(err.msg, sizeof err.msg, "out of memory");
    if (!st) {
        /* properties: with the entity type as a C string */
        sbuf tmp;
        sb_init(&tmp);
        if (!st)
            st = apply_properties(snap, rq, p->subject, &pr, &tmp, &err);
        if (!st)
            st = apply_properties(snap, rq, p->resource, &rs, &tmp, &err);
        sb_free(&tmp);
    }
    if (st) {
        char m[300];
        snprintf(m, sizeof m, "request: %s", err.msg);
        srv_decide_failed(s, at, act, rt, task, m, &o);
    } else {
        srv_decide(s, snap, rq, at, act, rt, task, chain, &o);
    }
    sb_puts(out, o.allow ? "{\"decision\":true,\"context\":{" : "{\"decision\":false,\"context\":{");
    srv_outcome_json(snap, &o, out);
    sb_puts(out, "}}");
    free(chain); /* jansson's allocator */
    sb_free(&txt);
    return 0;
}

static json_t *load_body(const char *body, size_t len, srv_reply *r)
{
    if (len == 0) {
        srv_error(r, 400, "bad_request", "the request body is empty: expected a JSON object");
        return NULL;
    }
    writ_error err;
    memset(&err, 0, sizeof err);
    json_t *j = cedar_json_load(body, len, &err);
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

void authzen_evaluation(srv *s, const char *body, size_t len, srv_reply *r)
{
    json_t *j = load_body(body, len, r);
    if (!j)
        return;
    az_parts p = {json_object_get(j, "subject"), json_object_get(j, "action"), json_object_get(j, "resource"),
                  json_object_get(j, "context")};
    srv_snapshot *snap = snap_acquire(s->store);
    sbuf b;
    sb_init(&b);
    char why[200];
    if (eval_one(s, snap, &p, &b, why, sizeof why))
        srv_error(r, 400, "bad_request", "%s", why);
    else
        srv_reply_sbuf(r, 200, &b);
    sb_free(&b);
    snap_release(snap);
    json_decref(j);
}

typedef enum { SEM_ALL, SEM_DENY_FIRST, SEM_PERMIT_FIRST } az_semantic;

void authzen_evaluations(srv *s, const char *body, size_t len, srv_reply *r)
{
    json_t *j = load_body(body, len, r);
    if (!j)
        return;
    az_parts def = {json_object_get(j, "subject"), json_object_get(j, "action"), json_object_get(j, "resource"),
                    json_object_get(j, "context")};
    json_t *evs = json_object_get(j, "evaluations");
    json_t *opts = json_object_get(j, "options");
    az_semantic sem = SEM_ALL;
    if (opts && !json_is_object(opts)) {
        srv_error(r, 400, "bad_request", "options must be an object");
        goto out_json;
    }
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
        authzen_evaluation(s, body, len, r);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (!json_is_object(json_array_get(evs, i))) {
            srv_error(r, 400, "bad_request", "evaluations[%zu] must be an object", i);
            goto out_json;
        }
    srv_snapshot *snap = snap_acquire(s->store);
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
        if ((v = json_object_get(e, "context")))
            p.context = v;
        if (i)
            sb_putc(&b, ',');
        size_t mark = b.len;
        char why[200];
        if (eval_one(s, snap, &p, &b, why, sizeof why)) {
            /* A malformed item is a deny of that item with its reason. */
            sb_puts(&b, "{\"decision\":false,\"context\":{\"reasons\":[],\"errors\":[{\"policy\":null,"
                        "\"message\":");
            char m[240];
            snprintf(m, sizeof m, "evaluations[%zu]: %s", i, why);
            sb_json_str(&b, m);
            sb_puts(&b, "}]}}");
            srv_outcome o;
            srv_decide_failed(s, NULL, NULL, NULL, NULL, m, &o);
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
