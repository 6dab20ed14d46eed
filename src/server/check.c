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
#include "server/server_int.h"
#include "util/alloc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define CHK_MAX_PATH 4096
#define CHK_MAX_SEGS 64

/* ---- route table */

static void free_route(chk_route *r)
{
    for (size_t i = 0; i < r->nseg; i++)
        wr_free(r->seg[i]);
    wr_free(r->seg);
}

void check_free(srv *s)
{
    for (size_t i = 0; i < s->nroutes; i++)
        free_route(&s->routes[i]);
    wr_free(s->routes);
    s->routes = NULL;
    s->nroutes = 0;
}

static writ_status route_fail(writ_error *err, const srv_route *r, const char *why)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = WRIT_EINVAL;
        snprintf(err->msg, sizeof err->msg, "route %s %s: %s", r->method, r->pattern, why);
    }
    return WRIT_EINVAL;
}

writ_status check_compile(srv *s, writ_error *err)
{
    const srv_config *c = s->cfg;
    s->routes = wr_calloc(c->nroutes ? c->nroutes : 1, sizeof *s->routes);
    if (!s->routes)
        return route_fail(err, &c->routes[0], "out of memory");
    for (size_t i = 0; i < c->nroutes; i++) {
        const srv_route *src = &c->routes[i];
        chk_route *r = &s->routes[s->nroutes++];
        r->src = src;
        r->seg = wr_calloc(CHK_MAX_SEGS, sizeof *r->seg);
        if (!r->seg)
            return route_fail(err, src, "out of memory");
        const char *p = src->pattern;
        while (*p) {
            while (*p == '/')
                p++;
            if (!*p)
                break;
            const char *e = strchr(p, '/');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            if (r->nseg == CHK_MAX_SEGS)
                return route_fail(err, src, "too many segments");
            if (!(r->seg[r->nseg++] = wr_strndup(p, n)))
                return route_fail(err, src, "out of memory");
            p += n;
        }
        for (size_t k = 0; k < r->nseg; k++) {
            const char *g = r->seg[k];
            if (!strcmp(g, "*") && k + 1 != r->nseg)
                return route_fail(err, src, "'*' must be the last segment");
            if (g[0] == '{' && (strlen(g) < 3 || g[strlen(g) - 1] != '}'))
                return route_fail(err, src, "a capture is written {name}");
        }
        /* Every {name} in the resource id must be captured by the pattern. */
        for (const char *q = strchr(src->rid, '{'); q; q = strchr(q + 1, '{')) {
            const char *e = strchr(q, '}');
            if (!e)
                return route_fail(err, src, "unclosed '{' in the resource id");
            size_t n = (size_t)(e - q + 1);
            bool found = n == 3 && q[1] == '*' && r->nseg && !strcmp(r->seg[r->nseg - 1], "*");
            for (size_t k = 0; k < r->nseg && !found; k++)
                found = strlen(r->seg[k]) == n && !memcmp(r->seg[k], q, n);
            if (!found)
                return route_fail(err, src, "the resource id uses a capture the pattern does not have");
        }
    }
    return WRIT_OK;
}

/* Percent-decode in place; -1 on a bad escape or a decoded NUL or '/'. */
static int pct_decode(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r != '%') {
            *w++ = *r;
            continue;
        }
        int v = 0;
        for (int i = 1; i <= 2; i++) {
            char c = r[i];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0)
                return -1;
            v = v * 16 + d;
        }
        if (v == 0 || v == '/')
            return -1;
        *w++ = (char)v;
        r += 2;
    }
    *w = '\0';
    return 0;
}

typedef struct chk_match {
    const chk_route *route;
    size_t nseg;
    char *seg[CHK_MAX_SEGS];
    const char *rest;           /* what '*' matched ("" when none) */
} chk_match;

/* Split path (query dropped) into decoded segments in buf. */
static int split_path(char *buf, chk_match *m, const char **rest_of)
{
    char *q = strchr(buf, '?');
    if (q)
        *q = '\0';
    q = strchr(buf, '#');
    if (q)
        *q = '\0';
    m->nseg = 0;
    char *p = buf;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        if (m->nseg == CHK_MAX_SEGS)
            return -1;
        rest_of[m->nseg] = p;
        m->seg[m->nseg++] = p;
        char *e = strchr(p, '/');
        if (e) {
            *e = '\0';
            p = e + 1;
        } else {
            p += strlen(p);
        }
    }
    return 0;
}

static const chk_route *match(const srv *s, const char *method, chk_match *m, char *const *raw)
{
    for (size_t i = 0; i < s->nroutes; i++) {
        const chk_route *r = &s->routes[i];
        if (strcmp(r->src->method, "*") && strcmp(r->src->method, method))
            continue;
        bool star = r->nseg && !strcmp(r->seg[r->nseg - 1], "*");
        size_t fixed = star ? r->nseg - 1 : r->nseg;
        if (star ? m->nseg < fixed : m->nseg != fixed)
            continue;
        size_t k = 0;
        for (; k < fixed; k++) {
            const char *g = r->seg[k];
            if (g[0] == '{')
                continue;
            if (strcmp(g, m->seg[k]))
                break;
        }
        if (k < fixed)
            continue;
        m->route = r;
        m->rest = star && m->nseg > fixed ? raw[fixed] : "";
        return r;
    }
    return NULL;
}

/* Resource id from the template and the captures. */
static void expand_rid(const chk_match *m, sbuf *b)
{
    const chk_route *r = m->route;
    const char *t = r->src->rid;
    while (*t) {
        if (*t != '{') {
            sb_putc(b, *t++);
            continue;
        }
        const char *e = strchr(t, '}');
        size_t n = (size_t)(e - t + 1);
        if (n == 3 && t[1] == '*') {
            sb_puts(b, m->rest);
        } else {
            for (size_t k = 0; k < r->nseg; k++)
                if (strlen(r->seg[k]) == n && !memcmp(r->seg[k], t, n)) {
                    sb_puts(b, m->seg[k]);
                    break;
                }
        }
        t = e + 1;
    }
}

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
    /* The original request: nginx's headers, else our own method and the
     * path after /authz/check (Envoy). */
    const char *ouri = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Original-URI");
    const char *ometh = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Original-Method");
    const char *path = ouri && *ouri ? ouri : url + strlen("/authz/check");
    if (!*path)
        path = "/";
    const char *meth = ometh && *ometh ? ometh : method;
    char buf[CHK_MAX_PATH + 1];
    chk_match m;
    const char *raw[CHK_MAX_SEGS];
    char rawbuf[CHK_MAX_PATH + 1];
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
    size_t plen = strlen(path);
    if (plen > CHK_MAX_PATH) {
        srv_decide_failed(s, agent_txt, NULL, NULL, id.task, "path too long", &o);
        reply(r, 403, "deny", id.agent, "path too long", NULL, &o);
        goto out;
    }
    memcpy(buf, path, plen + 1);
    memcpy(rawbuf, path, plen + 1);
    {
        /* raw (undecoded) rest for '*': split a copy the same way */
        chk_match rm;
        const char *rraw[CHK_MAX_SEGS];
        if (split_path(rawbuf, &rm, rraw) || split_path(buf, &m, raw)) {
            srv_decide_failed(s, agent_txt, NULL, NULL, id.task, "path has too many segments", &o);
            reply(r, 403, "deny", id.agent, "path has too many segments", NULL, &o);
            goto out;
        }
        for (size_t k = 0; k < m.nseg; k++)
            if (pct_decode(m.seg[k])) {
                srv_decide_failed(s, agent_txt, NULL, NULL, id.task, "bad percent-encoding in the path", &o);
                reply(r, 403, "deny", id.agent, "bad percent-encoding in the path", NULL, &o);
                goto out;
            }
        /* '*' captures the rest of the original path, undecoded, from
         * where its first segment starts. */
        char *rest_ptr[CHK_MAX_SEGS];
        for (size_t k = 0; k < rm.nseg; k++)
            rest_ptr[k] = (char *)path + (rraw[k] - rawbuf);
        if (!match(s, meth, &m, rest_ptr)) {
            char msg[64];
            snprintf(msg, sizeof msg, "no route for this method and path");
            srv_decide_failed(s, agent_txt, NULL, NULL, id.task, msg, &o);
            reply(r, 403, "deny", id.agent, msg, NULL, &o);
            goto out;
        }
        /* rest is the raw tail up to any query */
        if (*m.rest) {
            size_t n = strcspn(m.rest, "?#");
            char *t = wr_strndup(m.rest, n);
            if (t) {
                memcpy(rawbuf, t, n + 1);
                wr_free(t);
                m.rest = rawbuf;
            }
        }
    }
    expand_rid(&m, &rid);
    const srv_route *rt = m.route->src;
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
