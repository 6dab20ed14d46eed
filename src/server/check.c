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
 * X-Original-* headers (believed only from a trusted proxy) or this
 * request's own (raw) target: 0, or -1 with why. */
static int original_request(struct MHD_Connection *c, const srv_peer *peer, const char *url, const char *method,
                            path_request *out, char *why, size_t n)
{
    path_inputs in = {
        .target = url + strlen("/authz/check"),
        .method = method,
        .orig_uri = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Original-URI"),
        .orig_method = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Original-Method"),
    };
    if (in.orig_uri || in.orig_method) {
        if (!peer->via_proxy) {
            memset(out, 0, sizeof *out);
            snprintf(why, n, "X-Original-URI / X-Original-Method from a peer that is not in trusted_proxies");
            return -1;
        }
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
    srv_peer peer;
    srv_peer_read(s, c, &peer);
    /* The original request: its method and canonical path (path.h). */
    path_request orig;
    int orig_bad = original_request(c, &peer, url, method, &orig, why, sizeof why);
    const char *path = orig.path, *meth = orig.method;
    sbuf agent, rid;
    sb_init(&agent);
    sb_init(&rid);
    srv_snapshot *snap = NULL;
    srv_outcome o;
    const char *ptype = srv_task_ptype(s, &id);
    writ_uid_parts pr = srv_uid_parts(s, ptype, strlen(ptype), id.agent, strlen(id.agent));
    {
        sbuf pt;
        sb_init(&pt);
        sb_putn(&pt, pr.prefix, pr.prefix_len);
        sb_puts(&pt, ptype);
        srv_uid_text(&agent, sb_ok(&pt) ? pt.p : "", id.agent, strlen(id.agent));
        sb_free(&pt);
    }
    const char *agent_txt = sb_ok(&agent) ? agent.p : "";
    const chk_route *route = orig_bad ? NULL : route_resolve(&s->routes, meth, path, &rid, why, sizeof why);
    if (!route) {
        srv_decide_failed(s, agent_txt, NULL, NULL, id.task, why, &o);
        reply(r, 403, "deny", id.agent, why, NULL, &o);
        goto out;
    }
    const srv_route *rt = route->src;
    snap = snap_acquire(s->store);
    const char *rid_txt = sb_ok(&rid) ? rid.p : "";
    srv_ask a = {
        .principal = pr,
        .action = srv_uid_parts(s, s->action_type, strlen(s->action_type), rt->action, strlen(rt->action)),
        .resource = srv_uid_parts(s, rt->rtype, strlen(rt->rtype), rid_txt, strlen(rid_txt)),
        .task = &id,
        .bound = id.token != NULL,
        .destination = rt->destination,
        .peer = &peer,
    };
    srv_decide_ask(s, snap, &a, &o);
    reply(r, o.allow ? 200 : 403, o.allow ? "allow" : "deny", id.agent, NULL, snap, &o);
    if (!o.allow && o.appr.state != SRV_APPR_NONE) /* held or denied by a person: which approval */
        snprintf(r->hdr_approval, sizeof r->hdr_approval, "%s", o.appr.id);
out:
    srv_task_clear(&id);
    snap_release(snap);
    sb_free(&agent);
    sb_free(&rid);
}
