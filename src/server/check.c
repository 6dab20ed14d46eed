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
#include "server/route.h"
#include "server/server_int.h"
#include "util/alloc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- route table (route.c) */

writ_status check_compile(srv *s, writ_error *err)
{
    return route_compile(&s->routes, s->cfg->routes, s->cfg->nroutes, err);
}

void check_free(srv *s) { route_free(&s->routes); }

/* ---- identity: the token step */

typedef struct chk_ident {
    char agent[512];
    char task[256];
    char purpose[256];
    unsigned depth;
    json_t *chain;              /* array of agent ids, root first */
    writ_task_token *token;     /* NULL in the test-only header mode */
} chk_ident;

/* Who is calling, for which task: the token step.  Returns 0, or 401 with
 * why.  With token_keys / token_jwks configured, the task token
 * (Authorization: Bearer) is verified offline: signature, issuer,
 * audience, times, revocation, and the client certificate of a bound
 * token (tls.c); its holder is the agent, its txn and purpose
 * the task, its act chain the delegation chain.  Without, only the
 * test-only trusted header (check_principal_header, with X-Writ-Task and
 * X-Writ-Purpose) identifies a caller. */
static unsigned identify(srv *s, struct MHD_Connection *c, chk_ident *id, char *why, size_t n)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    bool bearer = auth && strncasecmp(auth, "Bearer ", 7) == 0;
    if (s->verifier && bearer) {
        const char *tok = auth + 7;
        while (*tok == ' ')
            tok++;
        writ_reason reason = WRIT_R_OK;
        writ_error err;
        memset(&err, 0, sizeof err);
        /* a certificate-bound token needs this connection's verified client
         * certificate (cnf_missing / cnf_mismatch) */
        if (srv_verify_task_token(s, c, tok, strlen(tok), &id->token, &reason, &err)) {
            snprintf(why, n, "task token refused: %s: %.160s", writ_reason_name(reason), err.msg);
            return 401;
        }
        const writ_task_token *t = id->token;
        snprintf(id->agent, sizeof id->agent, "%s", writ_task_token_holder(t));
        snprintf(id->task, sizeof id->task, "%s", writ_task_token_txn(t) ? writ_task_token_txn(t) : "");
        snprintf(id->purpose, sizeof id->purpose, "%s",
                 writ_task_token_purpose(t) ? writ_task_token_purpose(t) : "");
        id->depth = writ_task_token_depth(t);
        id->chain = json_array();
        for (size_t i = 0; id->chain && i <= id->depth; i++) {
            const char *a = writ_task_token_chain(t, i);
            if (a)
                json_array_append_new(id->chain, json_string(a));
        }
        return id->chain ? 0 : 401;
    }
    const char *hdr = s->cfg->check_principal_header;
    if (*hdr) {
        const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, hdr);
        if (!a || !*a) {
            snprintf(why, n, "no %s header", hdr);
            return 401;
        }
        const char *t = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Writ-Task");
        const char *p = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Writ-Purpose");
        snprintf(id->agent, sizeof id->agent, "%s", a);
        snprintf(id->task, sizeof id->task, "%s", t ? t : "");
        snprintf(id->purpose, sizeof id->purpose, "%s", p ? p : "");
        id->depth = 0;
        id->chain = json_pack("[s]", id->agent);
        return id->chain ? 0 : 401;
    }
    if (!bearer) {
        snprintf(why, n, "a task token is required (Authorization: Bearer)");
        return 401;
    }
    snprintf(why, n, "task tokens are not configured on this server (token_keys or token_jwks)");
    return 401;
}

/* Does a scope item (exact, or a prefix ending in '*') cover v? */
static bool covers(const char *item, const char *v)
{
    size_t n = strlen(item);
    if (n && item[n - 1] == '*')
        return strncmp(item, v, n - 1) == 0;
    return strcmp(item, v) == 0;
}

/* The token's scope bounds what Cedar may allow: the action (by name or as
 * a uid) must be in its actions, the resource (by id or as a uid) in its
 * resources when it lists any.  0 inside, -1 outside with why. */
static int in_scope(const chk_ident *id, const char *action, const char *action_uid, const char *rid,
                    const char *resource_uid, char *why, size_t n)
{
    if (!id->token)
        return 0;
    writ_task_scope sc;
    writ_task_token_scope(id->token, &sc);
    bool ok = false;
    for (size_t i = 0; i < sc.n_actions && !ok; i++)
        ok = covers(sc.actions[i], action) || covers(sc.actions[i], action_uid);
    if (!ok) {
        snprintf(why, n, "action %s is outside the task token's scope", action);
        return -1;
    }
    if (sc.n_resources == 0)
        return 0;
    ok = false;
    for (size_t i = 0; i < sc.n_resources && !ok; i++)
        ok = covers(sc.resources[i], rid) || covers(sc.resources[i], resource_uid);
    if (!ok) {
        snprintf(why, n, "resource %s is outside the task token's scope", rid);
        return -1;
    }
    return 0;
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

static json_t *build_context(srv *s, const srv_snapshot *snap, struct MHD_Connection *c, const chk_ident *id,
                             const char *aid)
{
    json_t *ctx = json_object();
    if (!ctx)
        return NULL;
    int bad = 0;
    if (srv_ctx_wants(s, snap, aid, "task"))
        bad |= json_object_set_new(ctx, "task", json_pack("{s:s,s:s}", "id", id->task, "purpose", id->purpose));
    if (srv_ctx_wants(s, snap, aid, "chain_depth"))
        bad |= json_object_set_new(ctx, "chain_depth", json_integer(id->depth));
    if (srv_ctx_wants(s, snap, aid, "chain"))
        bad |= json_object_set(ctx, "chain", id->chain);
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
    chk_ident id;
    memset(&id, 0, sizeof id);
    char why[256] = "";
    unsigned st = identify(s, c, &id, why, sizeof why);
    if (st) {
        srv_outcome o;
        srv_decide_failed(s, NULL, NULL, NULL, NULL, why, &o);
        atomic_fetch_add_explicit(&s->met.token_rejected, 1, memory_order_relaxed);
        reply(r, 401, "deny", NULL, why, NULL, NULL);
        json_decref(id.chain);
        writ_task_token_free(id.token);
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
    sbuf agent, action, resource, rid;
    sb_init(&agent);
    sb_init(&action);
    sb_init(&resource);
    sb_init(&rid);
    srv_snapshot *snap = NULL;
    json_t *req = NULL;
    writ_request *rq = NULL;
    srv_outcome o;
    srv_uid_text(&agent, s->cfg->check_principal_type, id.agent, strlen(id.agent));
    const char *agent_txt = sb_ok(&agent) ? agent.p : "";
    const chk_route *route = route_resolve(&s->routes, meth, path, &rid, why, sizeof why);
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
    sbuf ptype;
    sb_init(&ptype);
    if (!strstr(s->cfg->check_principal_type, "::"))
        sb_puts(&ptype, s->type_prefix);
    sb_puts(&ptype, s->cfg->check_principal_type);
    const char *rid_txt = sb_ok(&rid) ? rid.p : "";
    srv_uid_text(&resource, sb_ok(&rtype) ? rtype.p : "", rid_txt, strlen(rid_txt));
    json_t *ctx = build_context(s, snap, c, &id, rt->action);
    req = json_pack("{s:{s:s,s:s},s:{s:s,s:s},s:{s:s,s:s},s:o*}", "principal", "type",
                    sb_ok(&ptype) ? ptype.p : "", "id", id.agent, "action", "type", s->action_type, "id",
                    rt->action, "resource", "type", sb_ok(&rtype) ? rtype.p : "", "id", rid_txt, "context", ctx);
    sb_free(&rtype);
    sb_free(&ptype);
    const char *act_txt = sb_ok(&action) ? action.p : "", *res_txt = sb_ok(&resource) ? resource.p : "";
    writ_error err;
    memset(&err, 0, sizeof err);
    if (!req || !ctx) {
        srv_decide_failed(s, agent_txt, act_txt, res_txt, id.task, "out of memory", &o);
    } else if (in_scope(&id, rt->action, act_txt, rid_txt, res_txt, why, sizeof why)) {
        srv_decide_failed(s, agent_txt, act_txt, res_txt, id.task, why, &o);
    } else if (cedar_request_from_json(req, snap->schema, s->cfg->validate, &rq, &err)) {
        char msg[300];
        snprintf(msg, sizeof msg, "request: %s", err.msg);
        srv_decide_failed(s, agent_txt, act_txt, res_txt, id.task, msg, &o);
    } else {
        char *chain = json_dumps(id.chain, JSON_COMPACT);
        srv_decide(s, snap, rq, agent_txt, act_txt, res_txt, id.task, chain, &o);
        free(chain);
    }
    reply(r, o.allow ? 200 : 403, o.allow ? "allow" : "deny", id.agent, NULL, snap, &o);
out:
    writ_request_free(rq);
    json_decref(req);
    json_decref(id.chain);
    writ_task_token_free(id.token);
    snap_release(snap);
    sb_free(&agent);
    sb_free(&action);
    sb_free(&resource);
    sb_free(&rid);
}
