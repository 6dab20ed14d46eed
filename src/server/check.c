/* check.c - authorization checks for proxies: nginx auth_request and
 * Envoy's HTTP ext_authz.
 *
 *   nginx:  auth_request to /authz/check with X-Original-Method and
 *           X-Original-URI (and X-Real-IP) set by the proxy.
 *   Envoy:  ext_authz http_service with path_prefix /authz/check: the
 *           original method and path arrive as this request's own
 *           (/authz/check/<original path>).
 *
 * Pipeline: identify the caller (the token step) -> map method + path to a
 * Cedar action and resource through the route table -> build the context
 * (task, chain, destination, time, source address) -> decide -> 200 allow,
 * 401 no or bad credentials, 403 deny.  No route is a deny. */
#include "cedar/json.h"
#include "cedar/schema.h"
#include "server/path.h"
#include "server/route.h"
#include "server/server_int.h"
#include "util/alloc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- route table (route.c) */

writ_status check_compile(srv *s, writ_error *err)
{
    return route_compile(&s->routes, s->cfg->routes, s->cfg->nroutes, err);
}

void check_free(srv *s) { route_free(&s->routes); }

/* ---- context */

/* Does the schema's context type for the action declare attribute name
 * (or is there no schema)? */
bool srv_ctx_wants(const srv *s, const srv_snapshot *snap, const char *aid, const char *name)
{
    const char *atype = s->action_type;
    if (!snap->schema)
        return true;
    const writ_schema *sc = snap->schema;
    for (size_t i = 0; i < sc->nactions; i++) {
        const cs_action *a = &sc->actions[i];
        if (strcmp(a->uid->type->data, atype) || strcmp(a->uid->id->data, aid))
            continue;
        for (size_t k = 0; k < a->context->nattrs; k++)
            if (!strcmp(a->context->attrs[k].name->data, name))
                return true;
        return false;
    }
    return false;
}

void srv_source_ip(struct MHD_Connection *c, char *out, size_t n)
{
    const char *x = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Real-IP");
    const char *f = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-For");
    if (x && *x) {
        snprintf(out, n, "%s", x);
    } else if (f && *f) {
        size_t k = strcspn(f, ", ");
        snprintf(out, n, "%.*s", (int)(k < n - 1 ? k : n - 1), f);
    } else {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        out[0] = '\0';
        if (ci && ci->client_addr) {
            const struct sockaddr *sa = ci->client_addr;
            if (sa->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, (socklen_t)n);
            else if (sa->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                          (socklen_t)n);
        }
    }
    if (!out[0])
        snprintf(out, n, "0.0.0.0");
}

static json_t *extn(const char *fn, const char *arg)
{
    return json_pack("{s:{s:s,s:s}}", "__extn", "fn", fn, "arg", arg);
}

/* The request's environment for the Cedar context: `time` (now, as a
 * datetime) and `source_ip` (the peer, as an ip), each only where the
 * schema's context for the action declares it.  Non-zero on failure. */
int srv_ctx_add_environment(srv *s, const srv_snapshot *snap, const char *aid, struct MHD_Connection *c,
                            json_t *ctx)
{
    int bad = 0;
    if (srv_ctx_wants(s, snap, aid, "time")) {
        char ts[32];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
        bad |= json_object_set_new(ctx, "time", extn("datetime", ts));
    }
    if (srv_ctx_wants(s, snap, aid, "source_ip")) {
        char ip[64];
        srv_source_ip(c, ip, sizeof ip);
        bad |= json_object_set_new(ctx, "source_ip", extn("ip", ip));
    }
    return bad;
}

static json_t *build_context(srv *s, const srv_snapshot *snap, struct MHD_Connection *c, const srv_task *id,
                             const char *aid)
{
    json_t *ctx = json_object();
    if (!ctx)
        return NULL;
    int bad = srv_task_context(s, snap, aid, id, ctx);
    if (srv_ctx_wants(s, snap, aid, "destination")) {
        const char *d = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Writ-Destination");
        bad |= json_object_set_new(ctx, "destination", json_string(d && *d ? d : "internal"));
    }
    bad |= srv_ctx_add_environment(s, snap, aid, c, ctx);
    if (bad) {
        json_decref(ctx);
        return NULL;
    }
    return ctx;
}

/* ---- the original request */

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    (void)value;
    struct {
        const char *name;
        unsigned n;
    } *h = cls;
    if (key && !strcasecmp(key, h->name))
        h->n++;
    return MHD_YES;
}

static unsigned header_count(struct MHD_Connection *c, const char *name)
{
    struct {
        const char *name;
        unsigned n;
    } h = {name, 0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, &h);
    return h.n;
}

/* The method and canonical path the check is about, from nginx's
 * X-Original-* headers or this request's own (raw) target: 0, or -1 with
 * why. */
static int original_request(struct MHD_Connection *c, const char *url, const char *method, path_request *out,
                            char *why, size_t n)
{
    path_inputs in = {
        .target = url + strlen("/authz/check"),
        .method = method,
        .orig_uri = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Original-URI"),
        .orig_method = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Original-Method"),
    };
    if (in.orig_uri || in.orig_method) {
        in.n_orig_uri = header_count(c, "X-Original-URI");
        in.n_orig_method = header_count(c, "X-Original-Method");
    }
    return path_check_request(&in, out, why, n);
}

/* ---- the check */

static void reply(srv_reply *r, unsigned status, const char *decision, const char *agent, const char *why,
                  const srv_snapshot *snap, const srv_outcome *o)
{
    sbuf b;
    sb_init(&b);
    sb_puts(&b, "{\"decision\":");
    sb_puts(&b, decision && !strcmp(decision, "allow") ? "true" : "false");
    if (o) {
        sb_puts(&b, ",\"context\":{");
        srv_outcome_json(snap, o, &b);
        sb_putc(&b, '}');
    } else if (why) {
        sb_puts(&b, ",\"context\":{\"reasons\":[],\"errors\":[{\"policy\":null,\"message\":");
        sb_json_str(&b, why);
        sb_puts(&b, "}]}");
    }
    sb_putc(&b, '}');
    srv_reply_sbuf(r, status, &b);
    sb_free(&b);
    r->decision = decision;
    if (agent)
        snprintf(r->hdr_agent, sizeof r->hdr_agent, "%s", agent);
    if (status == 401)
        r->www_auth = "Bearer realm=\"writ\"";
}

void check_request(srv *s, struct MHD_Connection *c, const char *url, const char *method, srv_reply *r)
{
    srv_task id;
    char why[256] = "";
    unsigned st = srv_task_identify(s, c, &id, why, sizeof why);
    if (st) {
        srv_outcome o;
        srv_decide_failed(s, NULL, NULL, NULL, NULL, why, &o);
        atomic_fetch_add_explicit(&s->met.token_rejected, 1, memory_order_relaxed);
        reply(r, 401, "deny", NULL, why, NULL, NULL);
        srv_task_clear(&id);
        return;
    }
    /* The original request: its method and canonical path (path.h). */
    path_request orig;
    int orig_bad = original_request(c, url, method, &orig, why, sizeof why);
    const char *path = orig.path, *meth = orig.method;
    sbuf agent, action, resource, rid;
    sb_init(&agent);
    sb_init(&action);
    sb_init(&resource);
    sb_init(&rid);
    srv_snapshot *snap = NULL;
    json_t *req = NULL;
    writ_request *rq = NULL;
    srv_outcome o;
    /* the principal's type, with the namespace unless qualified */
    sbuf ptype;
    sb_init(&ptype);
    if (!strstr(s->cfg->check_principal_type, "::"))
        sb_puts(&ptype, s->type_prefix);
    sb_puts(&ptype, s->cfg->check_principal_type);
    srv_uid_text(&agent, sb_ok(&ptype) ? ptype.p : "", id.agent, strlen(id.agent));
    const char *agent_txt = sb_ok(&agent) ? agent.p : "";
    const chk_route *route = orig_bad ? NULL : route_resolve(&s->routes, meth, path, &rid, why, sizeof why);
    if (!route) {
        srv_decide_failed(s, agent_txt, NULL, NULL, id.task, why, &o);
        reply(r, 403, "deny", id.agent, why, NULL, &o);
        goto out;
    }
    const srv_route *rt = route->src;
    snap = snap_acquire(s->store);
    srv_uid_text(&action, s->action_type, rt->action, strlen(rt->action));
    sbuf rtype;
    sb_init(&rtype);
    if (!strstr(rt->rtype, "::"))
        sb_puts(&rtype, s->type_prefix);
    sb_puts(&rtype, rt->rtype);
    const char *rid_txt = sb_ok(&rid) ? rid.p : "";
    srv_uid_text(&resource, sb_ok(&rtype) ? rtype.p : "", rid_txt, strlen(rid_txt));
    json_t *ctx = build_context(s, snap, c, &id, rt->action);
    req = json_pack("{s:{s:s,s:s},s:{s:s,s:s},s:{s:s,s:s},s:o*}", "principal", "type",
                    sb_ok(&ptype) ? ptype.p : "", "id", id.agent, "action", "type", s->action_type, "id",
                    rt->action, "resource", "type", sb_ok(&rtype) ? rtype.p : "", "id", rid_txt, "context", ctx);
    sb_free(&rtype);
    const char *act_txt = sb_ok(&action) ? action.p : "", *res_txt = sb_ok(&resource) ? resource.p : "";
    writ_error err;
    memset(&err, 0, sizeof err);
    if (!req || !ctx) {
        srv_decide_failed(s, agent_txt, act_txt, res_txt, id.task, "out of memory", &o);
    } else if (srv_task_in_scope(&id, rt->action, act_txt, rid_txt, res_txt, why, sizeof why)) {
        srv_decide_failed(s, agent_txt, act_txt, res_txt, id.task, why, &o);
    } else if (cedar_request_from_json(req, snap->schema, s->cfg->validate, &rq, &err)) {
        char msg[300];
        snprintf(msg, sizeof msg, "request: %s", err.msg);
        srv_decide_failed(s, agent_txt, act_txt, res_txt, id.task, msg, &o);
    } else {
        srv_decide(s, snap, rq, agent_txt, act_txt, res_txt, id.task, id.chain_text, &o);
    }
    reply(r, o.allow ? 200 : 403, o.allow ? "allow" : "deny", id.agent, NULL, snap, &o);
out:
    writ_request_free(rq);
    json_decref(req);
    srv_task_clear(&id);
    snap_release(snap);
    sb_free(&agent);
    sb_free(&ptype);
    sb_free(&action);
    sb_free(&resource);
    sb_free(&rid);
}
