/* http.c - the HTTP server: libmicrohttpd glue, routing, limits, lifecycle.
 *
 * libmicrohttpd calls the access handler several times per request: first
 * with the headers only (we route, check the method and Content-Length, and
 * set up a per-request context), then once per body chunk (appended up to
 * max_body; past it the rest is read and dropped, and past 4x the
 * connection is cut), then once with no data, when we answer.  The
 * completion callback records metrics and frees the context.
 *
 * Lifecycle (srv_run_ext): signals are blocked in every thread and taken by the
 * main thread with sigtimedwait: SIGHUP reloads the policy files (also
 * polled for changes every reload_poll seconds); SIGTERM/SIGINT stop
 * accepting, let requests in flight finish (drain_timeout), stop the
 * daemon, then commit and close the audit log. */
#include "console/console.h"
#include "server/framing.h"
#include "store/store.h"
#include "server/server.h"
#include "server/server_int.h"
#include "shadow/shadow.h"
#include "util/alloc.h"
#include "util/clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The request line and headers: at most SRV_MAX_HEADER_BYTES (as
 * libmicrohttpd counts them, from the method to the empty line), else 431.
 * 13 KiB holds the largest task token Writ verifies (8 KiB of JWS,
 * WRIT_DEFAULT_MAX_TOKEN, in `Authorization: Bearer`) together with the
 * longest path it checks (4 KiB, PATH_MAX_LEN, in X-Original-URI or the
 * target) and 1 KiB of other headers (a proxy's X-Real-IP, Host, ...).
 *
 * Why not more: libmicrohttpd keeps a connection's request in a pool of
 * SRV_CONN_POOL bytes and 0.9.75 zeroes the whole pool before every
 * keep-alive request, and half of it again when the answer starts (it
 * shrinks the unused read buffer): about 1.5 x the pool in memset per
 * request, whatever the request's size.  The pool holds the header block,
 * 64 bytes more per header field, and the answer's own header lines
 * (~300 bytes), so 16 KiB carries a full 13 KiB block with some 32 fields.
 * Past the 13 KiB Writ answers 431 itself; a block that overflows the pool
 * is libmicrohttpd's 431, or, within the last few hundred bytes where the
 * headers fit but the answer's do not, the connection is closed unanswered
 * (README, "Limits"; tests/server/headers.sh). */
#define SRV_MAX_HEADER_BYTES 13312
#define SRV_MAX_HEADER_TEXT "13312"
#define SRV_CONN_POOL 16384

typedef enum ep {
    EP_NONE,
    EP_EVALUATION,
    EP_EVALUATIONS,
    EP_METADATA,
    EP_CHECK,
    EP_HEALTH,
    EP_METRICS,
    EP_TOKEN,
    EP_REVOKE,
    EP_JWKS,
    EP_CONSOLE,
    EP_MODULE, /* a module's (server.h: srv_endpoint) */
} ep;

enum { B_NONE, B_JSON, B_FORM };

enum { M_GET = SRV_M_GET, M_POST = SRV_M_POST, M_HEAD = SRV_M_HEAD, M_ANY = SRV_M_ANY };

/* The server's own endpoints. */
static const struct {
    const char *path;
    bool prefix;                /* also matches path + "/..." */
    unsigned methods;
    const char *allow;
    ep ep;
    met_endpoint mep;
    int body;                   /* B_JSON, B_FORM: reads such a body */
} endpoints[] = {
    {"/access/v1/evaluation", false, M_POST, "POST", EP_EVALUATION, MET_EP_EVALUATION, B_JSON},
    {"/access/v1/evaluations", false, M_POST, "POST", EP_EVALUATIONS, MET_EP_EVALUATIONS, B_JSON},
    {"/.well-known/authzen-configuration", false, M_GET | M_HEAD, "GET, HEAD", EP_METADATA, MET_EP_OTHER, B_NONE},
    {"/authz/check", true, M_ANY, NULL, EP_CHECK, MET_EP_CHECK, B_NONE},
    {"/healthz", false, M_GET | M_HEAD, "GET, HEAD", EP_HEALTH, MET_EP_OTHER, B_NONE},
    {"/metrics", false, M_GET | M_HEAD, "GET, HEAD", EP_METRICS, MET_EP_OTHER, B_NONE},
    {"/oauth2/token", false, M_POST, "POST", EP_TOKEN, MET_EP_OTHER, B_FORM},
    {"/oauth2/revoke", false, M_POST, "POST", EP_REVOKE, MET_EP_OTHER, B_FORM},
    {"/.well-known/jwks.json", false, M_GET | M_HEAD, "GET, HEAD", EP_JWKS, MET_EP_OTHER, B_NONE},
    {"/console", true, M_GET | M_HEAD, "GET, HEAD", EP_CONSOLE, MET_EP_OTHER, B_NONE},
};
#define NENDPOINTS (sizeof endpoints / sizeof endpoints[0])

/* The table requests are routed by (s->eps): the server's endpoints, then
 * the modules', made when the server starts. */
typedef struct srv_http_ep {
    const char *path;
    bool prefix;
    unsigned methods;
    const char *allow;
    ep ep;
    met_endpoint mep;
    int body;
    const srv_endpoint *mod; /* EP_MODULE: the module's endpoint, called with arg */
    void *arg;
} srv_http_ep;

typedef struct hreq {
    int idx;                    /* into s->eps, -1 = none */
    const srv_ext_route *route; /* a module's route, NULL = none */
    void *ext_state;            /* the route's own, freed by its done */
    uint64_t t0;
    unsigned status;
    sbuf body;
    bool too_big;
    bool over;                  /* connection past max_connections: 503, close */
    bool close;                 /* answer with Connection: close (a malformed request) */
    uint64_t dropped;
    srv_durable durable;        /* the answer waits for its audit records (durable.c) */
    srv_reply reply;            /* held while they commit */
} hreq;

static enum MHD_Result send_reply(srv *s, struct MHD_Connection *c, hreq *h, srv_reply *r)
{
    static const char fallback[] = "{\"error\":{\"status\":500,\"code\":\"internal\",\"message\":\"out of memory\"}}";
    struct MHD_Response *resp;
    if (r->body)
        resp = MHD_create_response_from_buffer_with_free_callback(r->len, r->body, wr_free);
    else
        resp = MHD_create_response_from_buffer(sizeof fallback - 1, (void *)fallback, MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        wr_free(r->body);
        return MHD_NO;
    }
    r->body = NULL;
    unsigned status = r->status ? r->status : 500;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->content_type ? r->content_type : "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (r->allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->www_auth)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, r->www_auth);
    if (r->decision)
        MHD_add_response_header(resp, "X-Writ-Decision", r->decision);
    if (r->hdr_agent[0])
        MHD_add_response_header(resp, "X-Writ-Agent", r->hdr_agent);
    if (r->hdr_approval[0])
        MHD_add_response_header(resp, "X-Writ-Approval", r->hdr_approval);
    if (r->page) {
        MHD_add_response_header(resp, "Content-Security-Policy", WR_CONSOLE_CSP);
        MHD_add_response_header(resp, "X-Frame-Options", "DENY");
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    }
    if (atomic_load_explicit(&s->draining, memory_order_relaxed) || (h && (h->over || h->close)))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (h && h->over)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (h)
        h->status = status;
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_error(srv *s, struct MHD_Connection *c, hreq *h, unsigned status, const char *code,
                                  const char *msg, const char *allow)
{
    srv_reply r;
    memset(&r, 0, sizeof r);
    if (h && h->idx >= 0 && s->eps[h->idx].body == B_FORM) {
        /* RFC 6749 §5.2 shape on the OAuth endpoints */
        sbuf b;
        sb_init(&b);
        sb_puts(&b, "{\"error\":");
        sb_json_str(&b, status == 413 || status == 415 ? "invalid_request" : code);
        sb_puts(&b, ",\"error_description\":");
        sb_json_str(&b, msg);
        sb_putc(&b, '}');
        srv_reply_sbuf(&r, status, &b);
    } else {
        srv_error(&r, status, code, "%s", msg);
    }
    r.allow = allow;
    return send_reply(s, c, h, &r);
}

/* Send r, unless one of the request's audit records failed: then a 503
 * instead (the decision is not in the log, so it is not answered). */
static enum MHD_Result send_durable(srv *s, struct MHD_Connection *c, hreq *h, srv_reply *r)
{
    if (!srv_durable_failed(&h->durable))
        return send_reply(s, c, h, r);
    atomic_fetch_add_explicit(&s->met.audit_failed, 1, memory_order_relaxed);
    wr_free(r->body);
    const char *decision = r->decision ? "deny" : NULL;
    bool oauth = h->idx >= 0 && s->eps[h->idx].body == B_FORM;
    memset(r, 0, sizeof *r);
    r->decision = decision;
    if (oauth) {
        sbuf b;
        sb_init(&b);
        sb_puts(&b, "{\"error\":\"temporarily_unavailable\",\"error_description\":\"the audit log could not "
                    "record this request: refused\",\"writ_reason\":\"audit_unavailable\"}");
        srv_reply_sbuf(r, 503, &b);
    } else {
        srv_error(r, 503, "audit_unavailable", "the audit log could not record this decision: refused");
    }
    return send_reply(s, c, h, r);
}

static unsigned method_bit(const char *m)
{
    return !strcmp(m, "GET") ? M_GET : !strcmp(m, "POST") ? M_POST : !strcmp(m, "HEAD") ? M_HEAD : 8;
}

static const srv_ext_route *find_route(const srv *s, const char *url)
{
    for (size_t m = 0; m < s->next; m++)
        for (size_t i = 0; i < s->ext[m]->nroutes; i++)
            if (!strncmp(url, s->ext[m]->routes[i].prefix, strlen(s->ext[m]->routes[i].prefix)))
                return &s->ext[m]->routes[i];
    return NULL;
}

static bool ext_length_ok(const srv *s, const char *cl)
{
    if (!cl)
        return true;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(cl, &end, 10);
    return !errno && !*end && n <= s->cfg->max_body;
}

static int find_endpoint(const srv *s, const char *url)
{
    for (size_t i = 0; i < s->neps; i++) {
        size_t n = strlen(s->eps[i].path);
        if (!strncmp(url, s->eps[i].path, n) && (url[n] == '\0' || (s->eps[i].prefix && url[n] == '/')))
            return (int)i;
    }
    return -1;
}

static int eps_make(srv *s)
{
    size_t n = NENDPOINTS;
    for (size_t m = 0; m < s->next; m++)
        n += s->ext[m]->nendpoints;
    if (!(s->eps = wr_calloc(n, sizeof *s->eps)))
        return -1;
    for (size_t i = 0; i < NENDPOINTS; i++) {
        srv_http_ep *e = &s->eps[s->neps++];
        e->path = endpoints[i].path;
        e->prefix = endpoints[i].prefix;
        e->methods = endpoints[i].methods;
        e->allow = endpoints[i].allow;
        e->ep = endpoints[i].ep;
        e->mep = endpoints[i].mep;
        e->body = endpoints[i].body;
    }
    for (size_t m = 0; m < s->next; m++) {
        for (size_t i = 0; i < s->ext[m]->nendpoints; i++) {
            srv_http_ep *e = &s->eps[s->neps++];
            e->mod = &s->ext[m]->endpoints[i];
            e->arg = s->ext[m]->arg;
            e->path = e->mod->path;
            e->prefix = e->mod->prefix;
            e->methods = e->mod->methods;
            e->allow = e->mod->allow;
            e->ep = EP_MODULE;
            e->mep = MET_EP_OTHER;
            e->body = e->mod->json_body ? B_JSON : B_NONE;
        }
    }
    return 0;
}

/* /healthz: 200 {"status":"ok",...}, or, while the newest policy files are
 * refused (the previous set keeps deciding), 503 {"status":"degraded",
 * "reason":"FILE:LINE:COL: ..."} until a reload succeeds.  503 so that any
 * HTTP check sees it; a restart would not help (the same files would be
 * refused at start), so point alerts at it, not a restart. */
static void console_page(const char *url, srv_reply *r)
{
    wr_page pg;
    if (!wr_console_find(url, &pg)) {
        srv_error(r, 404, "not_found", "no such page");
        return;
    }
    if (!(r->body = wr_malloc(pg.len ? pg.len : 1))) {
        srv_error(r, 500, "internal", "out of memory");
        return;
    }
    memcpy(r->body, pg.body, pg.len);
    r->len = pg.len;
    r->status = 200;
    r->content_type = pg.content_type;
    r->page = true;
}

static void health(srv *s, srv_reply *r)
{
    char reason[sizeof(((writ_error *)0)->msg)];
    bool degraded = snap_degraded(s->store, reason, sizeof reason);
    sbuf b;
    sb_init(&b);
    char stale[sizeof(((writ_error *)0)->msg)];
    if (!degraded && srv_state_stale(s, stale, sizeof stale)) { /* every token is refused: take it out */
        degraded = true;
        memcpy(reason, stale, sizeof reason);
    }
    sb_printf(&b, "{\"status\":\"%s\",", degraded ? "degraded" : "ok");
    if (degraded) {
        sb_puts(&b, "\"reason\":");
        sb_json_str(&b, reason);
        sb_putc(&b, ',');
    }
    sb_printf(&b, "\"policy_generation\":%llu,\"audit\":%s}", (unsigned long long)snap_generation(s->store),
              !s->audit                     ? "\"off\""
              : wr_audit_failing(s->audit)  ? "\"failing\""
                                            : "\"ok\"");
    srv_reply_sbuf(r, degraded ? 503 : 200, &b);
}

static void metrics(srv *s, srv_reply *r)
{
    sbuf b;
    sb_init(&b);
    if (s->audit)
        atomic_store_explicit(&s->met.audit_written, wr_audit_written(s->audit), memory_order_relaxed);
    met_render(&s->met, &b, snap_generation(s->store), s->audit ? wr_audit_queued(s->audit) : 0,
               srv_loop_connections(s->loop));
    shd_metrics(&b);
    if (s->audit)
        sb_printf(&b,
                  "# HELP writ_audit_spooled Audit records on local disk waiting for PostgreSQL.\n"
                  "# TYPE writ_audit_spooled gauge\nwrit_audit_spooled %llu\n"
                  "# HELP writ_audit_dropped_total Audit records dropped: the spool was full.\n"
                  "# TYPE writ_audit_dropped_total counter\nwrit_audit_dropped_total %llu\n",
                  (unsigned long long)wr_audit_spooled(s->audit), (unsigned long long)wr_audit_dropped(s->audit));
    sb_printf(&b,
              "# HELP writ_connections_refused_total Connections opened past max_connections (answered 503).\n"
              "# TYPE writ_connections_refused_total counter\nwrit_connections_refused_total %llu\n",
              (unsigned long long)atomic_load_explicit(&s->conns_refused, memory_order_relaxed));
    sb_printf(&b,
              "# HELP writ_requests_malformed_total Requests refused (400, connection closed) for framing "
              "two parsers could read two ways.\n# TYPE writ_requests_malformed_total counter\n"
              "writ_requests_malformed_total %llu\n",
              (unsigned long long)atomic_load_explicit(&s->malformed, memory_order_relaxed));
    sb_printf(
        &b,
        "# HELP writ_header_timeouts_total Connections cut because a request's headers took longer than "
        "the timeout.\n# TYPE writ_header_timeouts_total counter\nwrit_header_timeouts_total %llu\n",
        (unsigned long long)atomic_load_explicit(&s->header_timeouts, memory_order_relaxed));
    sb_printf(
        &b,
        "# HELP writ_policy_reload_failing 1 while the newest policy files are refused (the previous set "
        "decides).\n# TYPE writ_policy_reload_failing gauge\nwrit_policy_reload_failing %d\n",
        snap_degraded(s->store, NULL, 0) ? 1 : 0);
    for (size_t m = 0; m < s->next; m++)
        if (s->ext[m]->metrics)
            s->ext[m]->metrics(s->ext[m]->arg, s, &b);
    srv_state_metrics(s, &b);
    srv_history_metrics(s, &b);
    srv_reply_sbuf(r, 200, &b);
    r->content_type = "text/plain; version=0.0.4";
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    srv *s = cls;
    hreq *h = *con_cls;
    if (!h) {
        h = wr_calloc(1, sizeof *h);
        if (!h)
            return MHD_NO;
        h->t0 = wr_mono_ns();
        sb_init(&h->body);
        *con_cls = h;
        atomic_fetch_add_explicit(&s->inflight, 1, memory_order_relaxed);
        h->idx = find_endpoint(s, url);
        h->route = h->idx < 0 ? find_route(s, url) : NULL;
        srv_conn_request_begun(c); /* the headers are in: no header deadline */
        /* Framing two parsers could read two ways: refuse it and close, as
         * nothing after it on the connection can be trusted either. */
        srv_framing fr;
        const char *bad = srv_framing_check(c, method, version, &fr);
        if (bad) {
            atomic_fetch_add_explicit(&s->malformed, 1, memory_order_relaxed);
            h->close = true;
            char msg[160];
            snprintf(msg, sizeof msg, "malformed request: %s", bad);
            return send_error(s, c, h, 400, "bad_request", msg, NULL);
        }
        if (fr.header_size > SRV_MAX_HEADER_BYTES) {
            h->close = true;
            return send_error(s, c, h, 431, "headers_too_large",
                              "request line and headers larger than " SRV_MAX_HEADER_TEXT " bytes", NULL);
        }
        if (srv_conn_over(c)) {
            h->over = true;
            return send_error(s, c, h, 503, "too_many_connections",
                              "too many open connections: retry later", NULL);
        }
        if (h->idx < 0 && !h->route)
            return send_error(s, c, h, 404, "not_found", "no such endpoint", NULL);
        if (h->route && atomic_load_explicit(&s->draining, memory_order_relaxed))
            return send_error(s, c, h, 503, "shutting_down", "the server is shutting down", NULL);
        if (h->route && !ext_length_ok(s, fr.content_length))
            return send_error(s, c, h, 413, "body_too_large", "request body larger than max_body", NULL);
        if (h->route)
            return MHD_YES;
        if (!(s->eps[h->idx].methods & method_bit(method)))
            return send_error(s, c, h, 405, "method_not_allowed", "method not allowed on this endpoint",
                              s->eps[h->idx].allow);
        if (atomic_load_explicit(&s->draining, memory_order_relaxed))
            return send_error(s, c, h, 503, "shutting_down", "the server is shutting down", NULL);
        const char *cl = fr.content_length;
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno || *end || n > s->cfg->max_body) {
                atomic_fetch_add_explicit(&s->met.body_too_large, 1, memory_order_relaxed);
                char msg[96];
                snprintf(msg, sizeof msg, "request body larger than %llu bytes",
                         (unsigned long long)s->cfg->max_body);
                return send_error(s, c, h, 413, "body_too_large", msg, NULL);
            }
            if (s->eps[h->idx].body && n)
                sb_reserve(&h->body, (size_t)n + 1);
        }
        if (s->eps[h->idx].body == B_JSON) {
            const char *ct = fr.content_type;
            if (ct && strncasecmp(ct, "application/json", 16) != 0)
                return send_error(s, c, h, 415, "unsupported_media_type", "expected Content-Type: application/json",
                                  NULL);
        } else if (s->eps[h->idx].body == B_FORM) {
            static const char form_ct[] = "application/x-www-form-urlencoded";
            const char *ct = fr.content_type;
            size_t n = sizeof form_ct - 1;
            if (!ct || strncasecmp(ct, form_ct, n) != 0 || (ct[n] && ct[n] != ';' && ct[n] != ' '))
                return send_error(s, c, h, 415, "unsupported_media_type",
                                  "expected Content-Type: application/x-www-form-urlencoded", NULL);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        /* A body dripped in slowly is cut once the whole request has taken
         * longer than the idle timeout (which alone would reset per byte). */
        if (wr_mono_ns() - h->t0 > (uint64_t)s->cfg->timeout * 1000000000u)
            return MHD_NO;
        bool reads = h->route || s->eps[h->idx].body;
        if (!h->too_big && h->body.len + n <= s->cfg->max_body && reads) {
            sb_putn(&h->body, upload, n);
            if (!sb_ok(&h->body))
                return MHD_NO;
        } else if (reads) {
            h->too_big = true;
            h->dropped += n;
            if (h->dropped > 4 * s->cfg->max_body)
                return MHD_NO; /* still sending: cut the connection */
        } else {
            h->dropped += n; /* checks ignore any body, within bounds */
            if (h->dropped > s->cfg->max_body)
                return MHD_NO;
        }
        return MHD_YES;
    }
    /* The whole request is in: answer. */
    if (h->too_big) {
        atomic_fetch_add_explicit(&s->met.body_too_large, 1, memory_order_relaxed);
        char msg[96];
        snprintf(msg, sizeof msg, "request body larger than %llu bytes", (unsigned long long)s->cfg->max_body);
        return send_error(s, c, h, 413, "body_too_large", msg, NULL);
    }
    if (h->route) {
        const srv_ext_route *er = h->route;
        return (enum MHD_Result)er->handle(er->arg, s, c, url, method, h->body.p ? h->body.p : "", h->body.len,
                                           &h->ext_state);
    }
    if (h->durable.suspended || h->durable.held) {
        /* resumed, or called again after the pass: every record of the
         * answer is committed, or failed (or, held, not yet: later) */
        if (h->durable.held && srv_durable_waiting(&h->durable))
            return MHD_YES;
        srv_durable_resumed(&h->durable);
        return send_durable(s, c, h, &h->reply);
    }
    srv_reply r;
    memset(&r, 0, sizeof r);
    const char *body = h->body.p ? h->body.p : "";
    srv_durable_begin(&h->durable, s, c);
    switch (s->eps[h->idx].ep) {
    case EP_EVALUATION:
        authzen_evaluation(s, c, body, h->body.len, &r);
        break;
    case EP_EVALUATIONS:
        authzen_evaluations(s, c, body, h->body.len, &r);
        break;
    case EP_METADATA:
        authzen_metadata(s, c, &r);
        break;
    case EP_CHECK:
        check_request(s, c, url, method, &r);
        break;
    case EP_HEALTH:
        health(s, &r);
        break;
    case EP_METRICS:
        metrics(s, &r);
        break;
    case EP_TOKEN:
        oauth_token(s, c, body, h->body.len, &r);
        break;
    case EP_REVOKE:
        oauth_revoke(s, c, body, h->body.len, &r);
        break;
    case EP_JWKS:
        oauth_jwks(s, &r);
        break;
    case EP_CONSOLE:
        console_page(url, &r);
        break;
    case EP_MODULE:
        s->eps[h->idx].mod->handle(s->eps[h->idx].arg, s, c, url, method, body, h->body.len, &r);
        break;
    case EP_NONE:
        srv_error(&r, 404, "not_found", "no such endpoint");
        break;
    }
    if (srv_durable_end(&h->durable)) {
        h->reply = r; /* sent once its records are committed */
        return MHD_YES;
    }
    return send_durable(s, c, h, &r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    srv *s = cls;
    hreq *h = *con_cls;
    if (!h)
        return;
    (void)toe;
    met_endpoint mep = h->idx >= 0 ? s->eps[h->idx].mep : MET_EP_OTHER;
    if (h->route) {
        if (h->route->done)
            h->route->done(h->route->arg, h->ext_state);
        /* an extension queues its own answers: ask libmicrohttpd which */
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
        if (!h->status && ci)
            h->status = ci->http_status;
        mep = MET_EP_EXT;
    }
    met_request(&s->met, mep, h->status, wr_mono_ns() - h->t0);
    srv_conn_request_done(s, c); /* the next request's headers are due within the timeout */
    srv_durable_resumed(&h->durable); /* completed while held: the client left */
    sb_free(&h->body);
    wr_free(h->reply.body);
    wr_free(h);
    *con_cls = NULL;
    atomic_fetch_sub_explicit(&s->inflight, 1, memory_order_relaxed);
}

static void free_authorizer(void *p) { writ_authorizer_free(p); }

/* libmicrohttpd's unescaping, turned off: the handlers get the request
 * target as the client sent it (libmicrohttpd still cuts the query off).
 * /authz/check decodes its path exactly once itself (path.h); every other
 * endpoint is matched literally, so an encoded spelling of its name is a
 * 404.  No handler reads query arguments (they stay encoded too). */
static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

static void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_msg(const char *fmt, ...)
{
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s writ serve: %s\n", ts, msg);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    log_msg("http: %s", msg);
}

static int mkdirs(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char keep = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST)
                return -1;
            buf[i] = keep;
        }
    }
    return 0;
}

static int write_ready(const srv_config *cfg, unsigned port)
{
    if (!*cfg->ready_file)
        return 0;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", cfg->ready_file);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, strchr(cfg->listen_host, ':') ? "[%s]:%u\n" : "%s:%u\n", cfg->listen_host, port);
    if (fclose(f) != 0 || rename(tmp, cfg->ready_file) != 0)
        return -1;
    return 0;
}

static void reload(srv *s, const char *why, bool limits)
{
    writ_error err;
    memset(&err, 0, sizeof err);
    /* SIGHUP: the limit lines too; one that does not parse refuses the
     * whole reload (history.c) */
    wr_limit_set *ls = NULL;
    if (limits && srv_history_reread(s, &ls, &err)) {
        snap_refuse(s->store, err.msg);
        atomic_fetch_add_explicit(&s->met.reloads_failed, 1, memory_order_relaxed);
        log_msg("reload (%s) refused, the previous policies and limits stay in force: %s", why, err.msg);
        return;
    }
    if (snap_reload(s->store, &err)) {
        wr_limit_set_release(ls);
        atomic_fetch_add_explicit(&s->met.reloads_failed, 1, memory_order_relaxed);
        log_msg("reload (%s) refused, the previous policies stay in force: %s", why, err.msg);
    } else {
        atomic_fetch_add_explicit(&s->met.reloads_ok, 1, memory_order_relaxed);
        log_msg("reloaded (%s): policy generation %llu", why, (unsigned long long)snap_generation(s->store));
        if (ls && srv_history_install(s, ls, &err)) {
            snap_refuse(s->store, err.msg);
            log_msg("reload (%s): the previous limits stay in force: %s", why, err.msg);
        }
    }
}

static char *join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *p = wr_malloc(na + nb + 1);
    if (p) {
        memcpy(p, a, na);
        memcpy(p + na, b, nb + 1);
    }
    return p;
}

/* One worker's daemon (loop.c runs it): external mode, epoll when there
 * is one; the first binds the address, the others listen on lfd. */
typedef struct daemon_args {
    srv *s;
    unsigned flags;
    uint16_t port;
    struct sockaddr *addr;
    unsigned limit; /* this daemon's share of the hard connection limit */
    struct MHD_OptionItem *tls;
} daemon_args;

static struct MHD_Daemon *start_daemon(void *ctx, MHD_socket lfd)
{
    daemon_args *a = ctx;
    struct MHD_OptionItem where[2] = {{MHD_OPTION_SOCK_ADDR, 0, a->addr}, {MHD_OPTION_END, 0, NULL}};
    if (lfd != MHD_INVALID_SOCKET)
        where[0] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, (intptr_t)lfd, NULL};
    return MHD_start_daemon(
        a->flags, a->port, NULL, NULL, on_request, a->s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_ARRAY, where, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)a->s->cfg->timeout,
        MHD_OPTION_CONNECTION_LIMIT, a->limit, MHD_OPTION_NOTIFY_CONNECTION, srv_conn_notify, a->s,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
        /* HTTP/1.1 without Host, spaces in the
         * target: 400 (the rest: framing.c) */
        MHD_OPTION_STRICT_FOR_CLIENT, 1,
        /* bodies stream into our own buffer: the pool
         * holds the headers (SRV_MAX_HEADER_BYTES) */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SRV_CONN_POOL, MHD_OPTION_NOTIFY_COMPLETED, on_completed, a->s,
        MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL, MHD_OPTION_ARRAY, a->tls, MHD_OPTION_END);
}

int srv_run_ext(const srv_config *cfg, const srv_ext *const *ext, size_t next)
{
    srv s;
    memset(&s, 0, sizeof s);
    s.cfg = cfg;
    s.ext = ext;
    s.next = next;
    size_t started = 0; /* modules whose start ran (their stop is due) */
    met_init(&s.met);
    atomic_init(&s.inflight, 0);
    atomic_init(&s.suspended, 0);
    atomic_init(&s.draining, false);
    atomic_init(&s.conns, 0);
    atomic_init(&s.conns_refused, 0);
    atomic_init(&s.header_timeouts, 0);
    atomic_init(&s.malformed, 0);
    pthread_mutex_init(&s.conns_mu, NULL);
    s.state_lock = -1;
    int rc = 1;
    bool key_made = false;
    writ_error err;
    memset(&err, 0, sizeof err);

    /* Signals: blocked here, so every thread started below inherits the mask
     * and only sigtimedwait in this thread sees them. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    s.type_prefix = *cfg->ns ? join(cfg->ns, "::") : join("", "");
    s.action_type = *cfg->ns ? join(cfg->ns, "::Action") : join("", "Action");
    if (!s.type_prefix || !s.action_type) {
        log_msg("out of memory");
        goto out;
    }
    for (size_t m = 0; m < next; m++) {
        if (ext[m]->gate && s.gate) {
            log_msg("two modules gate decisions: at most one may");
            goto out;
        }
        if (ext[m]->gate)
            s.gate = ext[m];
    }
    if (eps_make(&s)) {
        log_msg("out of memory");
        goto out;
    }
    if (check_compile(&s, &err) || srv_facts_open(&s, &err)) {
        log_msg("%s", err.msg);
        goto out;
    }
    if (snap_store_open(cfg->policies, cfg->entities, cfg->schema, cfg->shadow_policies, &s.store, &err)) {
        log_msg("%s", err.msg);
        goto out;
    }
    {
        char why[768];
        if (srv_listen_probe(cfg->listen_host, cfg->listen_port, why, sizeof why)) {
            log_msg("%s", why);
            goto out;
        }
    }
    if (mkdirs(cfg->state_dir) != 0) {
        log_msg("cannot create the state folder %s: %s", cfg->state_dir, strerror(errno));
        goto out;
    }
    {
        char why[768];
        if ((s.state_lock = srv_state_lock(cfg->state_dir, why, sizeof why)) < 0) {
            log_msg("%s", why);
            goto out;
        }
    }
    {
        char *db = join(cfg->state_dir, "/writ.db");
        writ_status st = db ? srv_state_open(&s, db, &err) : WRIT_ENOMEM;
        if (st)
            log_msg("%s", db ? err.msg : "out of memory");
        wr_free(db);
        if (st)
            goto out;
    }
    if (srv_tokens_open(&s, &err) || srv_tls_open(&s, &err)) {
        log_msg("%s", err.msg);
        goto out;
    }
    if (srv_history_open(&s, &err)) {
        log_msg("%s", err.msg);
        goto out;
    }
    if (cfg->audit) { /* checkpoints signed with the token key (the log's own key without one) */
        bool pg = strcmp(cfg->audit_sink, "sqlite") != 0; /* audit_sink: store/audit_pg.c */
        char *db = pg ? NULL : join(cfg->state_dir, "/writ.db");
        char *spool = pg ? join(cfg->state_dir, "/audit-spool.bin") : NULL;
        /* PostgreSQL: the last checkpoint kept on local disk too, so that
         * rows deleted in the database while this replica was stopped show
         * when it starts (SQLite: the log is in this folder already) */
        char *anchor = pg ? join(cfg->state_dir, "/audit-anchor.json") : NULL;
        wr_audit_opts ao = {.batch = cfg->audit_batch, .queue_max = cfg->audit_queue,
                            .checkpoint_every = cfg->audit_checkpoint_every, .fsync = cfg->audit_fsync,
                            .commit_delay_us = cfg->audit_commit_delay_us,
                            .signer = s.keyring, .replica = s.replica, .key_dir = cfg->state_dir,
                            .spool = spool, .spool_max = cfg->audit_spool_max,
                            .spool_drop = !strcmp(cfg->audit_spool_full, "drop"), .anchor = anchor};
        writ_status st = WRIT_ENOMEM;
        if (pg && strncmp(cfg->audit_sink, "postgresql://", 13) && strncmp(cfg->audit_sink, "postgres://", 11))
            st = WRIT_EINVAL, snprintf(err.msg, sizeof err.msg, "audit_sink: expected sqlite or postgresql://...");
        else if (strcmp(cfg->audit_spool_full, "refuse") && strcmp(cfg->audit_spool_full, "drop"))
            st = WRIT_EINVAL, snprintf(err.msg, sizeof err.msg, "audit_spool_full: expected refuse or drop");
        else if (pg ? spool != NULL && anchor != NULL : db != NULL)
            st = wr_audit_open(pg ? cfg->audit_sink : db, &ao, &s.audit, &err);
        if (st) {
            log_msg("%s", st == WRIT_ENOMEM ? "out of memory" : err.msg);
            wr_free(db);
            wr_free(spool);
            wr_free(anchor);
            goto out;
        }
        log_msg("audit log %s (replica %s)", pg ? "in PostgreSQL" : db, s.replica);
        wr_free(db);
        wr_free(spool);
        wr_free(anchor);
    }
    if (pthread_key_create(&s.az_key, free_authorizer) != 0) {
        log_msg("cannot create a thread key");
        goto out;
    }
    key_made = true;
    for (; started < next; started++) {
        char why[512] = "";
        if (ext[started]->start && ext[started]->start(ext[started]->arg, &s, why, sizeof why)) {
            log_msg("%s", why);
            goto out;
        }
    }

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME; /* external: loop.c */
    if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES)
        flags |= MHD_USE_EPOLL;
    else
        flags |= MHD_USE_POLL;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, cfg->listen_host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(cfg->listen_port);
    } else if (inet_pton(AF_INET6, cfg->listen_host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(cfg->listen_port);
        flags |= MHD_USE_IPv6;
    } else {
        log_msg("listen: '%s' is not a numeric IPv4 or IPv6 address", cfg->listen_host);
        goto out;
    }
    /* HTTPS: libmicrohttpd copies the PEM texts into GnuTLS when it starts;
     * they stay allocated until the daemon is stopped all the same. */
    struct MHD_OptionItem tls_opts[6];
    size_t ntls = 0;
    if (s.tls_cert_pem) {
        flags |= MHD_USE_TLS;
        tls_opts[ntls++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, s.tls_cert_pem};
        tls_opts[ntls++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, s.tls_key_pem};
        tls_opts[ntls++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                                   (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"};
        if (s.tls_trust_pem) /* only requests a client certificate: see tls.c */
            tls_opts[ntls++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, s.tls_trust_pem};
    }
    tls_opts[ntls] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = cfg->threads ? cfg->threads : (unsigned)(ncpu > 0 ? ncpu : 1);
    unsigned hard = srv_conn_hard_limit(cfg);
    daemon_args da = {.s = &s, .flags = flags, .port = cfg->listen_port, .addr = (struct sockaddr *)&ss,
                      .limit = (hard + threads - 1) / threads, .tls = tls_opts};
    s.loop = srv_loop_start(&s, threads, start_daemon, &da);
    s.daemon = srv_loop_daemon(s.loop);
    if (!s.daemon) {
        log_msg("cannot listen on %s:%u%s: %s", cfg->listen_host, (unsigned)cfg->listen_port,
                s.tls_cert_pem ? " with TLS (see the messages above)" : "", strerror(errno));
        goto out;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s.daemon, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = di ? di->port : cfg->listen_port;
    for (size_t m = 0; m < next; m++) {
        char why[512] = "";
        if (ext[m]->listening && ext[m]->listening(ext[m]->arg, &s, port, why, sizeof why)) {
            log_msg("%s", why);
            goto out;
        }
    }
    log_msg("serving %s on %s:%u (%u threads, policies %s, generation %llu)",
            !s.tls_cert_pem ? "HTTP" : s.client_roots ? "HTTPS (client certificates requested)" : "HTTPS",
            cfg->listen_host, port, threads, cfg->policies, (unsigned long long)snap_generation(s.store));
    if (!srv_framing_line_checks())
        log_msg("libmicrohttpd %s: requests with bare LF line ends or continuation lines are not refused "
                "(the check knows 0.9.75 only)",
                MHD_get_version());
    if (write_ready(cfg, port) != 0)
        log_msg("cannot write the ready file %s: %s", cfg->ready_file, strerror(errno));

    /* Wait for signals; poll the policy files between them.  A change is
     * looked at again on the next tick and loaded once it holds still
     * (snapshot.h). */
    uint64_t last_poll = wr_mono_ns();
    bool settling = false;
    for (;;) {
        struct timespec tick = {0, 250000000};
        siginfo_t si;
        int sig = sigtimedwait(&sigs, &si, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            log_msg("%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            break;
        }
        srv_conn_sweep(&s);
        for (size_t m = 0; m < next; m++)
            if (ext[m]->tick)
                ext[m]->tick(ext[m]->arg, &s);
        if (sig == SIGHUP) {
            reload(&s, "SIGHUP", true);
            for (size_t m = 0; m < next; m++)
                if (ext[m]->reload)
                    ext[m]->reload(ext[m]->arg, &s);
            continue;
        }
        if (s.revocations) {
            /* revocations written by other processes (writ revoke) */
            writ_error rerr;
            if (writ_revocations_refresh(s.revocations, &rerr))
                log_msg("revocations: %s", rerr.msg);
        }
        if (cfg->reload_poll &&
            (settling || wr_mono_ns() - last_poll >= (uint64_t)cfg->reload_poll * 1000000000u)) {
            last_poll = wr_mono_ns();
            int changed = snap_files_changed(s.store);
            settling = changed == SNAP_SETTLING;
            if (changed == SNAP_CHANGED)
                reload(&s, "files changed", false);
        }
    }

    /* Drain: stop accepting, finish requests in flight, then stop. */
    atomic_store(&s.draining, true);
    /* each worker takes its listen socket out of its own daemon and
     * closes it (loop.c) */
    srv_loop_quiesce(s.loop);
    uint64_t deadline = wr_mono_ns() + (uint64_t)cfg->drain_timeout * 1000000000u;
    while (atomic_load(&s.inflight) > 0 && wr_mono_ns() < deadline)
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    if (atomic_load(&s.inflight) > 0)
        log_msg("drain timeout: %d requests still in flight are cut", atomic_load(&s.inflight));
    rc = 0;
out:
    /* every submitted record called back, so no connection stays suspended
     * (libmicrohttpd refuses to stop with suspended connections) */
    if (s.audit)
        wr_audit_flush(s.audit);
    bool quiesced = false;
    for (size_t m = 0; m < started; m++) {
        if (ext[m]->quiesce) {
            ext[m]->quiesce(ext[m]->arg);
            quiesced = true;
        }
    }
    /* libmicrohttpd aborts when stopped with a suspended connection, and a
     * resume takes effect only when the connection's worker next runs: wait
     * (bounded) until every held answer has been resumed and sent, plus a
     * moment for the modules' own resumes. */
    if (s.daemon) {
        uint64_t until = wr_mono_ns() + 2000000000u;
        while (atomic_load(&s.suspended) > 0 && wr_mono_ns() < until)
            nanosleep(&(struct timespec){0, 1000000}, NULL);
        if (quiesced)
            nanosleep(&(struct timespec){0, 50000000}, NULL);
    }
    srv_loop_stop(s.loop); /* the threads, then the daemons */
    s.loop = NULL;
    s.daemon = NULL;
    for (size_t m = started; m-- > 0;)
        if (ext[m]->stop)
            ext[m]->stop(ext[m]->arg);
    if (s.audit) {
        wr_audit_close(s.audit); /* commits everything queued */
        log_msg("audit log closed");
    }
    if (key_made)
        pthread_key_delete(s.az_key);
    srv_history_close(&s); /* after the daemon: writes the pending counts */
    snap_store_close(s.store);
    srv_tokens_close(&s);
    srv_state_close(&s);
    srv_tls_close(&s);
    check_free(&s);
    srv_facts_close(&s);
    pthread_mutex_destroy(&s.conns_mu);
    wr_free(s.eps);
    wr_free(s.type_prefix);
    wr_free(s.action_type);
    if (rc == 0 && *cfg->ready_file)
        unlink(cfg->ready_file);
    if (s.state_lock >= 0)
        close(s.state_lock); /* last: everything in the folder is closed */
    return rc;
}
