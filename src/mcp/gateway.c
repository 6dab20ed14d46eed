/* gateway.c - the MCP gateway (see gateway.h).
 *
 * One request on /mcp/NAME is a small state machine kept in a gw_req (the
 * extension route's state, freed by the server's completion callback):
 *
 *   decide      parse, authenticate, srv_decide_ask.  The decision's audit
 *               record must be committed before anything happens because
 *               of it.  With one call in flight and the log idle it is
 *               committed on this thread and the call forwarded at once
 *               (srv_durable_commit_here); on a worker thread of the
 *               server (loop.c) the record joins the thread's pass and
 *               the request is held, not suspended, until the pass has
 *               committed, and the handler, called again, forwards it;
 *               elsewhere the connection is suspended here (durable.c)
 *               and, once the record is committed, an allowed call is
 *               forwarded from the log's thread (decided_then) and the
 *               connection stays held until the answer; anything else
 *               calls the handler again.  Either way the thread that
 *               committed writes the request upstream (upstream_http.c):
 *               no further hand-off.  A lone call's worker also waits for
 *               the answer itself (bounded, while it has nothing else to
 *               do, its pass empty: wait_here), so that the answer wakes
 *               that worker only and is sent at once.
 *   deny        HTTP 200 + JSON-RPC error -32001; the upstream sees nothing.
 *   wait_head   forwarded; the connection is suspended until the
 *               upstream's on_head (or on_done with an error) resumes it.
 *   stream      the answer is a callback response: its reader hands out
 *               what on_data delivered and, when nothing is there yet,
 *               suspends the connection and returns 0; on_data / on_done
 *               resume it.  An SSE answer thus reaches the client piece by
 *               piece, as the upstream sent it.  Flow control: a stream
 *               is held here only as far as its client is behind.  Past
 *               FLOW_HIGH bytes unread (with something the client can
 *               read: an SSE stream is handed out in whole events) on_data
 *               pauses the upstream (an HTTP one: its transfer, see
 *               upstream_http.c), and the reader resumes it once below
 *               FLOW_LOW (an SSE stream: once it has taken the events out
 *               to filter them).  So a stream has no total cap (a session's
 *               GET stream may run for days), a client that stops reading
 *               costs at most about FLOW_HIGH here, and it is ended by the
 *               server's timeout (no byte it takes for that long: MHD
 *               closes the connection, and the upstream's transfer is
 *               cancelled with it).  What cannot be handed out at all (one
 *               SSE event that never ends) is held up to the upstream's
 *               max_answer, then the stream is cut.
 *   buffer      a tools/list (resources/list, prompts/list) answer is
 *               read whole (on_done resumes), filtered per agent, then sent.
 *
 * Suspend and resume are paired under the request's mutex: whoever finds
 * nothing to do marks `waiting` and suspends while holding it, and a
 * callback claims the resume of a request marked waiting (clearing the
 * mark) under it and makes it after unlocking, so a resume can never come
 * before its suspend, nor twice.  The upstream's callbacks run on its own
 * thread or inside a send; mcp_upstream_cancel (client gone, shutdown)
 * guarantees none runs afterwards, so the state is freed only after it. */
#define _GNU_SOURCE /* memmem */
#include "mcp/gateway_int.h"

#include "mcp/input.h"
#include "jcs/jcs.h"
#include "mcp/jsonrpc.h"
#include "mcp/session.h"
#include "mcp/uri.h"
#include "mcp/sse.h"
#include "mcp/upstream.h"
#include "cedar/json.h"
#include "cedar/reqbuild.h"
#include "server/server_int.h"
#include "util/alloc.h"
#include "util/asan.h"
#include "util/error.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stddef.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* A request's state is ~4 KB, past glibc's per-thread caches: allocated
 * and freed for every call (on different threads), it made malloc merge its
 * small free chunks at each call (malloc_consolidate, ~1.5% of the
 * gateway's CPU at 32 clients).  So up to GW_SPARE of them are kept, under
 * live_mu, for the next requests.  Not under AddressSanitizer, which would
 * then not see a use after free of one. */
#if WR_ASAN
#define GW_SPARE 0
#else
#define GW_SPARE 64
#endif

static gw_req *req_new(mcp_gw *g)
{
    pthread_mutex_lock(&g->live_mu);
    gw_req *r = g->spare;
    if (r) {
        g->spare = r->next;
        g->nspare--;
    }
    pthread_mutex_unlock(&g->live_mu);
    if (!r && !(r = wr_malloc(sizeof *r)))
        return NULL;
    memset(r, 0, offsetof(gw_req, deny));
    r->deny[0] = r->scope[0] = r->sid[0] = r->fwd_sid[0] = r->pver[0] = r->accept[0] = r->last_event[0] =
        '\0';
    r->ctype[0] = r->up_sid[0] = r->up_pver[0] = r->why[0] = '\0';
    return r;
}

/* out = s when it fits in n (with its NUL), else "" (as copy_header did
 * with snprintf, without its cost per call). */
static void copy_text(char *out, size_t n, const char *s)
{
    size_t l = s ? strlen(s) : n;
    if (l >= n)
        l = 0;
    memcpy(out, s ? s : "", l);
    out[l] = '\0';
}

/* ---- small answers */


/* Every answer of the gateway: not cached, and never a page on Writ's own
 * origin (the one that serves the approvals console, whose tab holds an
 * approver's token): whatever Content-Type an upstream sends, a browser
 * neither sniffs it into HTML nor runs it other than sandboxed. */
static void inert(struct MHD_Response *resp)
{
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Content-Security-Policy", "sandbox; default-src 'none'; frame-ancestors 'none'");
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *ctype,
                                 const char *body, size_t len, const char *www_auth, const gw_req *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    inert(resp);
    if (www_auth)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, www_auth);
    if (r && r->sid[0])
        MHD_add_response_header(resp, "Mcp-Session-Id", r->sid);
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_http_error(struct MHD_Connection *c, unsigned status, const char *code,
                                       const char *msg, const char *www_auth)
{
    sbuf b;
    sb_init(&b);
    sb_printf(&b, "{\"error\":{\"status\":%u,\"code\":", status);
    sb_json_str(&b, code);
    sb_puts(&b, ",\"message\":");
    sb_json_str(&b, msg);
    sb_puts(&b, "}}");
    enum MHD_Result ret =
        sb_ok(&b) ? send_text(c, status, "application/json", b.p, b.len, www_auth, NULL) : MHD_NO;
    sb_free(&b);
    return ret;
}

/* A JSON-RPC error answer to the request's id with HTTP status. */
static enum MHD_Result send_rpc_error(gw_req *r, struct MHD_Connection *c, unsigned status, const json_t *id,
                                      int code, const char *msg)
{
    char *t = mcp_rpc_error_text(id, code, msg, NULL);
    if (!t)
        return MHD_NO;
    enum MHD_Result ret = send_text(c, status, "application/json", t, strlen(t), NULL, r);
    wr_free(t);
    if (r)
        r->phase = P_SENT;
    return ret;
}

/* ---- URLs */

static void public_url(const mcp_gw *g, sbuf *b)
{
    const char *p = g->cfg->public_url;
    if (p && *p) {
        size_t n = strlen(p);
        while (n && p[n - 1] == '/')
            n--;
        sb_putn(b, p, n);
        return;
    }
    const union MHD_DaemonInfo *di =
        g->s && g->s->daemon ? MHD_get_daemon_info(g->s->daemon, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    unsigned port = di ? di->port : g->cfg->listen_port;
    const char *h = g->cfg->listen_host;
    sb_printf(b, strchr(h, ':') ? "http://[%s]:%u" : "http://%s:%u", h, port);
}

static enum MHD_Result unauthorized(mcp_gw *g, struct MHD_Connection *c, const char *name, const char *why)
{
    sbuf w;
    sb_init(&w);
    sb_puts(&w, "Bearer resource_metadata=\"");
    public_url(g, &w);
    sb_puts(&w, "/.well-known/oauth-protected-resource/mcp/");
    sb_puts(&w, name);
    sb_puts(&w, "\"");
    enum MHD_Result ret = sb_ok(&w) ? send_http_error(c, 401, "unauthorized", why, w.p) : MHD_NO;
    sb_free(&w);
    return ret;
}

/* Everything sent to an upstream needs a token that reaches it: some scope
 * item could cover an action NAME/..., and the token's resources, when it
 * lists any, cover the upstream.  Without that nothing reaches the upstream,
 * not even initialize, ping, a notification or a GET of its stream (each of
 * which carries the upstream's credential): 403 insufficient_scope (RFC
 * 6750), recorded as a deny of NAME/ *.  Each call is still decided on its
 * own. */
static bool reaches(mcp_gw *g, gw_req *r, char *why, size_t n)
{
    /* upstream names are [A-Za-z0-9_.-], so they need no escaping */
    const char *name = r->up->cfg->name;
    char p[80], pu[1100], ru[1100];
    snprintf(p, sizeof p, "%s/", name);
    int a = snprintf(pu, sizeof pu, "%s::\"%s/", g->s->action_type, name),
        b = snprintf(ru, sizeof ru, "%sMcpServer::\"%s\"", g->s->type_prefix, name);
    if (a < 0 || (size_t)a >= sizeof pu || b < 0 || (size_t)b >= sizeof ru) {
        snprintf(why, n, "the namespace is too long for an MCP upstream's action ids");
        return false;
    }
    /* a minted token for what is not one decided action (initialize, ping,
     * a stream) carries what this token may do there, not the upstream */
    return !srv_task_reaches(&r->task, p, pu, name, ru, r->scope, sizeof r->scope, why, n);
}

static enum MHD_Result out_of_reach(mcp_gw *g, gw_req *r, struct MHD_Connection *c, const char *why)
{
    char aid[300];
    snprintf(aid, sizeof aid, "%s/*", r->up->cfg->name);
    srv_ask a = gw_ask(g, r, aid);
    srv_outcome o;
    srv_decide_refused(g->s, &a, why, &o); /* recorded: a rare path may wait for the log */
    sbuf w;
    sb_init(&w);
    sb_puts(&w, "Bearer error=\"insufficient_scope\", resource_metadata=\"");
    public_url(g, &w);
    sb_puts(&w, "/.well-known/oauth-protected-resource/mcp/");
    sb_puts(&w, r->up->cfg->name);
    sb_puts(&w, "\"");
    enum MHD_Result ret = sb_ok(&w) ? send_http_error(c, 403, "insufficient_scope", why, w.p) : MHD_NO;
    sb_free(&w);
    return ret;
}

/* ---- one agent's share: at most mcp_agent_requests of its requests open
 * at once (calls in flight, streams), by default a quarter of
 * max_connections.  Without it one agent holding streams open (or calls to
 * a slow tool) took every connection, and every other agent got 503. */
static uint32_t agent_cap(const mcp_gw *g)
{
    uint32_t m = g->cfg->mcp_agent_requests, q = g->cfg->max_connections / 4;
    return m ? m : q ? q : 1;
}

static bool agent_take(mcp_gw *g, gw_req *r)
{
    char *o = gw_owner(g, r);
    if (!o)
        return false;
    pthread_mutex_lock(&g->agents_mu);
    json_int_t n = json_integer_value(json_object_get(g->agents, o));
    bool ok = (uint64_t)n < agent_cap(g) && !json_object_set_new_nocheck(g->agents, o, json_integer(n + 1));
    pthread_mutex_unlock(&g->agents_mu);
    if (ok)
        r->owner = o;
    else
        wr_free(o);
    return ok;
}

static void agent_give(mcp_gw *g, gw_req *r)
{
    if (!r->owner)
        return;
    pthread_mutex_lock(&g->agents_mu);
    json_int_t n = json_integer_value(json_object_get(g->agents, r->owner));
    if (n > 1)
        json_object_set_new_nocheck(g->agents, r->owner, json_integer(n - 1));
    else
        json_object_del(g->agents, r->owner);
    pthread_mutex_unlock(&g->agents_mu);
    wr_free(r->owner);
    r->owner = NULL;
}

static enum MHD_Result too_many(mcp_gw *g, struct MHD_Connection *c)
{
    char msg[200];
    snprintf(msg, sizeof msg,
             "this agent has %u MCP requests open already (mcp_agent_requests): wait for one to end",
             agent_cap(g));
    sbuf b;
    sb_init(&b);
    sb_puts(&b, "{\"error\":{\"status\":429,\"code\":\"too_many_requests\",\"message\":");
    sb_json_str(&b, msg);
    sb_puts(&b, "}}");
    struct MHD_Response *resp =
        sb_ok(&b) ? MHD_create_response_from_buffer(b.len, b.p, MHD_RESPMEM_MUST_COPY) : NULL;
    sb_free(&b);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    inert(resp);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    enum MHD_Result ret = MHD_queue_response(c, 429, resp);
    MHD_destroy_response(resp);
    return ret;
}

static gw_up *find_up(mcp_gw *g, const char *name, size_t n)
{
    for (size_t i = 0; i < g->nups; i++)
        if (strlen(g->ups[i].cfg->name) == n && !memcmp(g->ups[i].cfg->name, name, n))
            return &g->ups[i];
    return NULL;
}

/* RFC 9728 and RFC 8414 metadata. */
static int meta_handle(void *arg, srv *s, struct MHD_Connection *c, const char *url, const char *method,
                       const char *body, size_t len, void **state)
{
    (void)body;
    (void)len;
    (void)state;
    mcp_gw *g = arg;
    g->s = s;
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return send_http_error(c, 405, "method_not_allowed", "method not allowed on this endpoint", NULL);
    static const char prm[] = "/.well-known/oauth-protected-resource/mcp/";
    sbuf b;
    sb_init(&b);
    if (!strncmp(url, prm, sizeof prm - 1)) {
        const char *name = url + sizeof prm - 1;
        if (!find_up(g, name, strlen(name))) {
            sb_free(&b);
            return send_http_error(c, 404, "not_found", "no such MCP upstream", NULL);
        }
        sb_puts(&b, "{\"resource\":\"");
        public_url(g, &b);
        sb_puts(&b, "/mcp/");
        sb_puts(&b, name);
        sb_puts(&b, "\",\"authorization_servers\":[");
        sb_json_str(&b, g->cfg->token_issuer);
        sb_puts(&b, "],\"bearer_methods_supported\":[\"header\"],\"resource_name\":");
        sb_json_str(&b, name);
        sb_putc(&b, '}');
    } else if (!strcmp(url, "/.well-known/oauth-authorization-server")) {
        sb_puts(&b, "{\"issuer\":");
        sb_json_str(&b, g->cfg->token_issuer);
        sb_puts(&b, ",\"token_endpoint\":\"");
        public_url(g, &b);
        sb_puts(&b, "/oauth2/token\",\"revocation_endpoint\":\"");
        public_url(g, &b);
        sb_puts(&b, "/oauth2/revoke\",\"jwks_uri\":\"");
        public_url(g, &b);
        sb_puts(&b, "/.well-known/jwks.json\",\"grant_types_supported\":[\"urn:ietf:params:oauth:grant-type:"
                    "token-exchange\"],\"token_endpoint_auth_methods_supported\":[\"none\"],"
                    "\"response_types_supported\":[]}");
    } else {
        sb_free(&b);
        return send_http_error(c, 404, "not_found", "no such endpoint", NULL);
    }
    enum MHD_Result ret = sb_ok(&b) ? send_text(c, 200, "application/json", b.p, b.len, NULL, NULL) : MHD_NO;
    sb_free(&b);
    return ret;
}

/* ---- Origin (DNS rebinding): none, public_url's origin, or a loopback
 * origin while listening on loopback. */
static bool origin_of(const char *url, char *out, size_t n)
{
    const char *p = strstr(url, "://");
    if (!p)
        return false;
    p += 3;
    size_t e = strcspn(p, "/?#");
    int k = snprintf(out, n, "%.*s%.*s", (int)(p - url), url, (int)e, p);
    for (char *q = out; *q; q++)
        if (*q >= 'A' && *q <= 'Z')
            *q = (char)(*q - 'A' + 'a');
    return k > 0 && (size_t)k < n;
}

/* A loopback address written as one (127.0.0.0/8 in dotted form, ::1), or
 * "localhost": never a name that merely starts "127." (127.evil.example
 * is whatever its DNS says, the rebinding this check is for). */
static bool loopback_host(const char *h)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, h, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    return (inet_pton(AF_INET6, h, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6)) || !strcmp(h, "localhost");
}

/* The host name of an authority "host[:port]" or "[v6]:port", lowercased
 * (false when malformed or too long). */
static bool authority_host(const char *a, char *out, size_t n)
{
    size_t hn;
    if (*a == '[') {
        const char *e = strchr(a, ']');
        if (!e)
            return false;
        hn = (size_t)(e - a - 1);
        a++;
    } else {
        hn = strcspn(a, ":/?#");
    }
    if (hn == 0 || hn >= n)
        return false;
    for (size_t i = 0; i < hn; i++)
        out[i] = (char)(a[i] >= 'A' && a[i] <= 'Z' ? a[i] - 'A' + 'a' : a[i]);
    out[hn] = '\0';
    return true;
}

static bool origin_ok(mcp_gw *g, const char *origin)
{
    if (!origin)
        return true;
    char want[512], got[512];
    if (!origin_of(origin, got, sizeof got))
        return false;
    sbuf b;
    sb_init(&b);
    public_url(g, &b);
    bool ok = sb_ok(&b) && origin_of(b.p, want, sizeof want) && !strcmp(want, got);
    sb_free(&b);
    if (ok)
        return true;
    if (!loopback_host(g->cfg->listen_host))
        return false;
    /* a loopback origin: http(s)://127.x / localhost / [::1], any port */
    char host[256];
    return authority_host(strstr(got, "://") + 3, host, sizeof host) && loopback_host(host);
}

/* Host, the other half of DNS-rebinding protection.  A page on the
 * attacker's domain that resolves to 127.0.0.1 sends Origin with a POST (see
 * origin_ok) but not with a same-origin GET; its Host, though, always names
 * the attacker's domain.  So a gateway listening on loopback serves only a
 * loopback Host or public_url's host (a local reverse proxy passing the
 * public name).  On other addresses the Host is not checked: the gateway is
 * then reached by names this process cannot know. */
static bool host_ok(mcp_gw *g, const char *host)
{
    if (!host || !loopback_host(g->cfg->listen_host))
        return true;
    char got[256], want[256];
    if (!authority_host(host, got, sizeof got))
        return false;
    if (loopback_host(got))
        return true;
    sbuf b;
    sb_init(&b);
    public_url(g, &b);
    const char *p = sb_ok(&b) ? strstr(b.p, "://") : NULL;
    bool ok = p && authority_host(p + 3, want, sizeof want) && !strcmp(want, got);
    sb_free(&b);
    return ok;
}

/* ---- the upstream's callbacks (its thread) */

static void resume_locked(gw_req *r)
{
    if (r->waiting) {
        r->waiting = false;
        srv_resume(r->c);
    }
}

/* The callbacks' form: claim the resume under mu (NULL: nothing to resume)
 * and make it after unlocking, so that the woken client thread does not
 * find mu still held and sleep on it.  r stays alive in between: its
 * connection is suspended and this caller is the only one to resume it. */
static struct MHD_Connection *claim_resume(gw_req *r)
{
    if (!r->waiting)
        return NULL;
    r->waiting = false;
    return r->c;
}

static void resume_claimed(struct MHD_Connection *c)
{
    if (c)
        srv_resume(c);
}

/* Is the answer read whole before the client gets it (mu held, head in)?
 * A JSON answer to a request is one message: read whole (bounded by the
 * upstream's max_answer) and checked to be a JSON-RPC response first.  SSE
 * streams through as it comes; lists are read whole either way, to be
 * filtered. */
static bool buffered(const gw_req *r)
{
    bool json = !strncasecmp(r->ctype, "application/json", 16);
    /* a list whatever the status: a 203 (or a 4xx) can hold a result too */
    return r->list != L_NONE || (r->status == 200 && json && r->id);
}

/* snprintf(out, n, "%s", s ? s : "") without its cost: s cut to n - 1 bytes. */
static void copy_cut(char *out, size_t n, const char *s)
{
    size_t l = s ? strnlen(s, n - 1) : 0;
    memcpy(out, s ? s : "", l);
    out[l] = '\0';
}

static bool cb_head(void *arg, unsigned status, const char *ct, const char *sid, const char *pver)
{
    gw_req *r = arg;
    struct MHD_Connection *c = NULL;
    pthread_mutex_lock(&r->mu);
    r->head_in = true;
    r->status = status;
    copy_cut(r->ctype, sizeof r->ctype, ct);
    copy_cut(r->up_sid, sizeof r->up_sid, sid);
    copy_cut(r->up_pver, sizeof r->up_pver, pver);
    if (r->phase == P_WAIT_HEAD) {
        /* An answer read whole needs the client's thread only once it is
         * all in (cb_done resumes): waking it now for the head would cost
         * a resume, a suspend and a thread switch more per call. */
        if (buffered(r))
            r->phase = P_BUFFER;
        else
            c = claim_resume(r);
    }
    bool stream = !buffered(r); /* streamed: no total cap, flow control instead (cb_data) */
    pthread_mutex_unlock(&r->mu);
    resume_claimed(c);
    return stream;
}

static const char minted_pre[] = "Authorization: Bearer "; /* gw_minted_line's */

/* Flow control of a streamed answer (see the top): bytes its client has
 * not read past which the upstream is paused, and below which it reads on. */
#define FLOW_HIGH ((size_t)1 << 20)
#define FLOW_LOW ((size_t)256 << 10)

static mcp_up_flow cb_data(void *arg, const char *p, size_t n)
{
    gw_req *r = arg;
    struct MHD_Connection *c = NULL;
    mcp_up_flow f = MCP_UP_MORE; /* read whole: the upstream's max_answer caps it */
    pthread_mutex_lock(&r->mu);
    bool stream = r->head_in && !buffered(r);
    size_t max = mcp_upstream_max_answer(r->up->u);
    size_t unread = r->buf.len - r->rd;
    if (stream && (unread > max || n > max - unread)) {
        pthread_mutex_unlock(&r->mu); /* nothing it can hand out, and too much: cb_done ends it */
        return MCP_UP_CUT;
    }
    size_t from = r->buf.len;
    sb_putn(&r->buf, p, n);
    if (sb_ok(&r->buf) && !mcp_mask_add(&r->mask, r->buf.p, r->buf.len, from)) /* mask.h */
        r->buf.failed = true; /* unmasked: it must not go out, as when it cannot be kept */
    if (stream) {
        bool sse = !strncasecmp(r->ctype, "text/event-stream", 17);
        if (sse && sb_ok(&r->buf)) {
            size_t e = mcp_sse_scan_end(&r->sse_scan, r->buf.p, r->buf.len, false);
            if (e)
                r->sse_ready = e;
        }
        if (r->buf.len - r->rd > FLOW_HIGH && (!sse || r->sse_ready)) {
            r->up_paused = true;
            f = MCP_UP_PAUSE;
        }
    }
    if (r->phase == P_STREAM)
        c = claim_resume(r);
    pthread_mutex_unlock(&r->mu);
    resume_claimed(c);
    return f;
}

/* The reader has caught up (mu held): whether to resume the upstream, once
 * mu is released (its callbacks take mu). */
static bool flow_catch_up(gw_req *r)
{
    if (!r->up_paused || !r->started)
        return false;
    r->up_paused = false;
    return true;
}

static void cb_done(void *arg, writ_status st, const char *why)
{
    gw_req *r = arg;
    pthread_mutex_lock(&r->mu);
    r->finished = true;
    r->answered = true;
    r->started = false;
    r->done_st = st;
    snprintf(r->why, sizeof r->why, "%s", why ? why : "");
    struct MHD_Connection *c = claim_resume(r);
    pthread_mutex_unlock(&r->mu);
    resume_claimed(c);
}

static const mcp_up_callbacks callbacks = {cb_head, cb_data, cb_done};

/* ---- streaming the answer */

static ssize_t sse_reader(gw_req *r, char *out, size_t max);

/* Nothing more for the client now (mu held; released): the end of the
 * answer once the upstream's is done, else suspended until a callback
 * resumes it. */
static ssize_t end_or_wait(gw_req *r)
{
    if (r->finished) {
        bool ok = r->done_st == WRIT_OK;
        pthread_mutex_unlock(&r->mu);
        return ok ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
    }
    r->waiting = true;
    MHD_suspend_connection(r->c);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

/* Every message is decided with the token it comes with, but a stream (the
 * session's GET stream, or a call's SSE answer) goes on after its request:
 * an agent whose token was revoked went on reading whatever the upstream
 * pushed to its session.  So before each piece of a stream is handed out,
 * the token that opened it is looked at again: revoked (any stream) or,
 * for the GET stream, expired (past token_leeway), the stream ends there,
 * cut (the client sees an error and must come back with a valid token).  A
 * call's own answer is not cut when the token merely expires during it: the
 * call was decided while the token was valid. */
static bool stream_may_go_on(gw_req *r)
{
    const writ_task_token *t = r->has_task ? r->task.token : NULL;
    if (!t)
        return true;
    const srv *s = r->g->s;
    writ_revoke_kind k;
    const char *why = NULL;
    if (s->revocations && writ_task_token_revoked(t, s->revocations, &k))
        why = "revoked";
    else if (!strcmp(r->http_method, "GET") &&
             writ_task_token_expiry(t) + (int64_t)s->cfg->token_leeway <= (int64_t)time(NULL))
        why = "expired";
    if (why)
        fprintf(stderr, "writ: mcp: upstream %s: a stream cut: the task token that opened it has %s\n",
                r->up->cfg->name, why);
    return !why;
}

static ssize_t reader(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    gw_req *r = cls;
    if (r->sse_filter)
        return sse_reader(r, out, max);
    if (!stream_may_go_on(r))
        return MHD_CONTENT_READER_END_WITH_ERROR;
    pthread_mutex_lock(&r->mu);
    if (!sb_ok(&r->buf)) {
        pthread_mutex_unlock(&r->mu);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    /* a credential cut in two: its first part stays until the rest is in.
     * What is handed out is passed over (rd), and the buffer moved down
     * only once FLOW_LOW of it has gone: a move per read would copy up to
     * FLOW_HIGH bytes for every few KiB a slow client takes. */
    size_t hold = r->finished ? 0 : mcp_mask_hold(&r->mask), unread = r->buf.len - r->rd;
    if (unread > hold) {
        size_t n = unread - hold < max ? unread - hold : max;
        memcpy(out, r->buf.p + r->rd, n);
        r->rd += n;
        unread -= n;
        if (!unread) {
            r->buf.len = r->rd = 0;
        } else if (r->rd >= FLOW_LOW) {
            memmove(r->buf.p, r->buf.p + r->rd, unread);
            r->buf.len = unread;
            r->rd = 0;
        }
        bool resume = unread < FLOW_LOW && flow_catch_up(r);
        uint64_t t = r->ticket;
        pthread_mutex_unlock(&r->mu);
        if (resume)
            mcp_upstream_resume(r->up->u, t);
        return (ssize_t)n;
    }
    return end_or_wait(r);
}

static void add_session_headers(struct MHD_Response *resp, const gw_req *r)
{
    if (r->up_sid[0] && r->sid[0] && !strcmp(r->up_sid, r->fwd_sid)) {
        MHD_add_response_header(resp, "Mcp-Session-Id", r->sid); /* the client's own, checked */
    } else if (r->up_sid[0]) {
        /* a new session: the client gets it bound to its agent, or none
         * (an id that is not visible ASCII cannot be a header's value) */
        char id[sizeof r->sid];
        if (r->has_task &&
            mcp_session_wrap(r->g->sessions, r->up->cfg->name, r->task.agent, r->up_sid, id, sizeof id))
            MHD_add_response_header(resp, "Mcp-Session-Id", id);
        else
            fprintf(stderr,
                    "writ: mcp: upstream %s: a session id Writ cannot pass on (%zu bytes): left out\n",
                    r->up->cfg->name, strlen(r->up_sid));
    }
    if (r->up_pver[0])
        MHD_add_response_header(resp, "MCP-Protocol-Version", r->up_pver);
}

static enum MHD_Result start_stream(gw_req *r)
{
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, reader, r, NULL);
    if (!resp)
        return MHD_NO;
    if (r->ctype[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->ctype);
    inert(resp);
    add_session_headers(resp, r);
    enum MHD_Result ret = MHD_queue_response(r->c, r->status ? r->status : 502, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* An SSE answer to the client event by event, each filtered
 * (sse_filter_events) on this, the client's, thread.  The upstream's bytes
 * arrive in r->buf (cb_data, under mu); complete events are taken out under
 * mu and filtered outside it.  A tail that never ends its event is dropped
 * at the end, as a client drops it. */
static ssize_t sse_reader(gw_req *r, char *out, size_t max)
{
    for (;;) {
        if (r->sse_out.len) {
            if (!stream_may_go_on(r))
                return MHD_CONTENT_READER_END_WITH_ERROR;
            size_t n = r->sse_out.len < max ? r->sse_out.len : max;
            memcpy(out, r->sse_out.p, n);
            memmove(r->sse_out.p, r->sse_out.p + n, r->sse_out.len - n);
            r->sse_out.len -= n;
            return (ssize_t)n;
        }
        if (!sb_ok(&r->sse_out))
            return MHD_CONTENT_READER_END_WITH_ERROR;
        pthread_mutex_lock(&r->mu);
        if (!sb_ok(&r->buf)) {
            pthread_mutex_unlock(&r->mu);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        /* cb_data may have scanned the events already (flow control) */
        size_t end = mcp_sse_scan_end(&r->sse_scan, r->buf.p, r->buf.len, r->finished);
        if (end < r->sse_ready)
            end = r->sse_ready;
        if (!end)
            return end_or_wait(r);
        /* the events leave with the buffer; the tail after them (usually
         * nothing) is all that is copied */
        sbuf in = r->buf;
        sb_init(&r->buf);
        sb_putn(&r->buf, in.p + end, in.len - end);
        in.len = end;
        r->sse_scan.pos -= end;
        r->sse_ready = 0;
        /* no complete event is left: the upstream reads on (what it sends
         * meanwhile waits while these are filtered and handed out) */
        bool resume = flow_catch_up(r);
        uint64_t t = r->ticket;
        pthread_mutex_unlock(&r->mu);
        if (resume)
            mcp_upstream_resume(r->up->u, t);
        gw_sse_filter_events(r->g, r, in.p, in.len);
        sb_free(&in);
    }
}

/* The buffered answer of a list: JSON, or SSE whose events' data lines
 * hold the messages. */
static enum MHD_Result upstream_failed(gw_req *r);

static enum MHD_Result send_filtered(mcp_gw *g, gw_req *r)
{
    sbuf out;
    sb_init(&out);
    const char *p = r->buf.p ? r->buf.p : "";
    size_t n = r->buf.len;
    if (!strncasecmp(r->ctype, "text/event-stream", 17)) {
        /* each event's message filtered, the rest passed on as it came */
        mcp_sse_event ev;
        mcp_sse_event_init(&ev);
        size_t at = 0;
        int got = 0;
        bool unread = false;
        sb_putn(&out, p, mcp_sse_bom(p, n));
        while (!unread && (got = mcp_sse_next(p, n, &at, &ev)) == 1) {
            char *f = NULL;
            unread = ev.data.len && gw_filter_message(g, r, r->list, ev.data.p, ev.data.len, &f) < 0;
            mcp_sse_put(&out, &ev, f, f ? strlen(f) : 0);
            wr_free(f);
        }
        mcp_sse_event_clear(&ev);
        if (unread) {
            sb_free(&out);
            return upstream_failed(r);
        }
        if (got < 0)
            out.failed = true;
        /* the tail is no event: dropped, as a client drops it (one that
         * did not might read a list the filter never saw) */
    } else {
        mcp_rpc_limits lim = {.max_size = n + 1, .max_depth = 256};
        mcp_rpc_msg m;
        mcp_rpc_fail fl;
        /* the usual answer is checked without a tree of it */
        bool answer = mcp_rpc_answer_fast(p, n) == 1;
        if (!answer && mcp_rpc_parse(p, n, &lim, &m, &fl) == WRIT_OK) {
            answer = m.kind == MCP_RPC_RESPONSE || m.kind == MCP_RPC_ERROR_RESPONSE;
            mcp_rpc_msg_clear(&m);
        } else if (!answer) {
            mcp_rpc_fail_clear(&fl);
        }
        if (!answer) {
            sb_free(&out);
            snprintf(r->why, sizeof r->why, "answered with something that is not a JSON-RPC response");
            return upstream_failed(r);
        }
        if (r->task_call)
            gw_task_note(g, r, p, n);
        /* Another request's answer holding a list is filtered too: an
         * upstream that matches answers to requests by id alone (the SDK's
         * transport does, per session) gives the answer to a slow list
         * request to a later request with the same id, a call's. */
        char *f = NULL;
        bool filter = r->list != L_NONE || gw_maybe_list(p, n); /* L_NONE: any list */
        if (filter && gw_filter_message(g, r, r->list, p, n, &f) < 0) {
            sb_free(&out);
            return upstream_failed(r);
        }
        if (f) {
            sb_puts(&out, f);
        } else {
            /* passed on as it came: the answer's own buffer, not a copy */
            sb_free(&out);
            out = r->buf;
            sb_init(&r->buf);
        }
        wr_free(f);
    }
    r->phase = P_SENT;
    if (!sb_ok(&out)) {
        sb_free(&out);
        return send_rpc_error(r, r->c, 200, r->id, MCP_RPC_INTERNAL_ERROR, "out of memory");
    }
    size_t olen = out.len;
    char *op = sb_take(&out, NULL); /* owned by the response from here */
    struct MHD_Response *resp =
        op ? MHD_create_response_from_buffer_with_free_callback(olen, op, wr_free) : NULL;
    if (!resp) {
        wr_free(op);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->ctype[0] ? r->ctype : "application/json");
    inert(resp);
    add_session_headers(resp, r);
    enum MHD_Result ret = MHD_queue_response(r->c, r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- forwarding */

static enum MHD_Result upstream_failed(gw_req *r)
{
    char msg[300];
    snprintf(msg, sizeof msg, "upstream %s: %s", r->up->cfg->name, r->why[0] ? r->why : "failed");
    if (r->id)
        return send_rpc_error(r, r->c, 200, r->id, MCP_RPC_INTERNAL_ERROR, msg);
    r->phase = P_SENT;
    return send_http_error(r->c, 502, "bad_gateway", msg, NULL);
}

/* Wait (suspended) until the upstream's head is in, then answer. */
static enum MHD_Result after_head(mcp_gw *g, gw_req *r)
{
    pthread_mutex_lock(&r->mu);
    if (r->phase == P_WAIT_HEAD && r->head_in) {
        if (!buffered(r)) {
            r->phase = P_STREAM; /* under mu: cb_data reads it */
            r->sse_filter = !strncasecmp(r->ctype, "text/event-stream", 17);
            pthread_mutex_unlock(&r->mu);
            return start_stream(r);
        }
        r->phase = P_BUFFER;
    }
    if (r->phase == P_BUFFER && r->finished) {
        pthread_mutex_unlock(&r->mu);
        if (r->done_st)
            return upstream_failed(r);
        return send_filtered(g, r);
    }
    if (r->phase == P_WAIT_HEAD && r->finished) { /* an error before any head */
        pthread_mutex_unlock(&r->mu);
        return upstream_failed(r);
    }
    r->waiting = true;
    MHD_suspend_connection(r->c);
    pthread_mutex_unlock(&r->mu);
    return MHD_YES;
}

static mcp_up_request up_request(const gw_req *r, const char **hdrs, size_t nh)
{
    return (mcp_up_request){
        .method = r->http_method,
        .body = r->body,
        .len = r->len,
        .session_id = r->fwd_sid[0] ? r->fwd_sid : NULL,
        .protocol_version = r->pver[0] ? r->pver : NULL,
        .accept = r->accept[0] ? r->accept : NULL,
        /* resuming is a GET's (the transport's rule): a POST's is not passed on */
        .last_event_id = r->last_event[0] && !strcmp(r->http_method, "GET") ? r->last_event : NULL,
        .headers = hdrs,
        .nheaders = nh,
        .owner = r->has_task ? r->task.agent : NULL,
    };
}

/* The audit log's thread, once the decision's record is committed (the
 * connection is held, see durable.c).  An allowed call is sent to the
 * upstream from here (libcurl writes it on this thread, upstream_http.c),
 * so the client's thread is woken once per call (for the answer) rather
 * than twice.  Anything else (a deny, a failed record, a token to mint)
 * resumes the connection and is done there as before.
 *
 * r stays alive while its connection is suspended and not resumed.  The
 * answer's callbacks may run before mcp_upstream_send returns (on this
 * thread, or the upstream's), and r->mu cannot be held across the send
 * (the callbacks take it under the upstream's locks), so the connection is
 * marked not waiting meanwhile: a callback then records what happened
 * without resuming, and the resume it would have made is made here after
 * the send, the last touch of r. */
static void decided_then(void *arg)
{
    gw_req *r = arg;
    if (srv_durable_failed(&r->durable) || !r->allow || r->up->token_aud) {
        srv_resume(r->c);
        return;
    }
    const char *hdrs[1];
    size_t nh = 0;
    if (r->up->cred_line)
        hdrs[nh++] = r->up->cred_line;
    mcp_up_request rq = up_request(r, hdrs, nh);
    pthread_mutex_lock(&r->mu);
    if (r->finished) { /* quiesced meanwhile */
        srv_resume(r->c);
        pthread_mutex_unlock(&r->mu);
        return;
    }
    r->phase = P_WAIT_HEAD;
    r->waiting = false; /* held since the decision; resumed below, not by a callback */
    pthread_mutex_unlock(&r->mu);
    uint64_t ticket = 0;
    writ_status sst = mcp_upstream_send(r->up->u, &rq, &callbacks, r, &ticket);
    pthread_mutex_lock(&r->mu);
    if (sst) {
        if (!r->finished) {
            r->finished = true;
            r->done_st = WRIT_EIO;
            snprintf(r->why, sizeof r->why, "could not send the request");
        }
    } else if (!r->finished) {
        r->started = true;
        r->ticket = ticket;
    } else if (!r->answered) {
        /* quiesced during the send: stop it (no callback after cancel) */
        pthread_mutex_unlock(&r->mu);
        mcp_upstream_cancel(r->up->u, ticket);
        pthread_mutex_lock(&r->mu);
    }
    /* what cb_head / cb_done would have resumed for */
    if (r->finished || (r->phase == P_WAIT_HEAD && r->head_in))
        srv_resume(r->c);
    else
        r->waiting = true;
    pthread_mutex_unlock(&r->mu);
}

char *gw_minted_line(mcp_gw *g, gw_req *r, const char *scope, writ_error *err)
{
    char *jwt = NULL, *line = NULL;
    size_t jl = 0;
    if (writ_upstream_token_mint(g->s->keyring, g->cfg->token_issuer, r->up->token_aud, r->task.token, scope,
                                 60, &jwt, &jl, err))
        return NULL;
    line = wr_malloc(sizeof minted_pre + jl);
    if (line)
        snprintf(line, sizeof minted_pre + jl, "%s%s", minted_pre, jwt);
    else
        wr_error(err, WRIT_ENOMEM, "out of memory");
    writ_free_string(jwt);
    return line;
}

static enum MHD_Result forward(mcp_gw *g, gw_req *r)
{
    const char *hdrs[2];
    size_t nh = 0;
    char *minted = NULL;
    if (r->up->cred_line)
        hdrs[nh++] = r->up->cred_line;
    if (r->up->token_aud) {
        writ_error err;
        memset(&err, 0, sizeof err);
        if (!(minted = gw_minted_line(g, r, r->scope, &err))) {
            snprintf(r->why, sizeof r->why, "minting the upstream's token: %.150s", err.msg);
            return upstream_failed(r);
        }
        hdrs[nh++] = minted;
        /* kept until the request ends: its answer is masked for it */
        const char *jwt = minted + sizeof minted_pre - 1;
        mcp_mask_token(&r->mask, jwt, strlen(jwt));
        wr_free(r->minted);
        r->minted = minted;
    }
    mcp_up_request rq = up_request(r, hdrs, nh);
    /* The only call in flight, sent from its worker: the worker waits for
     * the answer itself (bounded, and only while it has nothing else to
     * do: its loop's descriptor), so that the answer wakes this thread
     * alone, rather than the upstream's thread and then this one; the
     * callbacks then run inside the send and after_head answers at once. */
    int wfd = r->lone && srv_pass_empty() ? srv_loop_wait_fd() : -1; /* no held answer would wait */
    if (wfd >= 0) {
        rq.wait_here = true;
        rq.wait_fd = wfd;
        rq.spin_ns = (long)g->cfg->mcp_spin_us * 1000;
    }
    r->phase = P_WAIT_HEAD;
    uint64_t ticket = 0;
    writ_status sst = mcp_upstream_send(r->up->u, &rq, &callbacks, r, &ticket);
    if (wfd >= 0) /* a lone client's next message tends to follow its answer at once */
        srv_loop_spin_next((long)g->cfg->mcp_spin_us * 1000);
    if (sst) {
        snprintf(r->why, sizeof r->why, "could not send the request");
        return upstream_failed(r);
    }
    pthread_mutex_lock(&r->mu);
    bool orphan = r->finished && !r->answered; /* quiesced during the send */
    if (!r->finished) {
        r->started = true;
        r->ticket = ticket;
    }
    pthread_mutex_unlock(&r->mu);
    if (orphan)
        mcp_upstream_cancel(r->up->u, ticket);
    return after_head(g, r);
}

/* The Cedar request of action aid on this request's upstream by the task
 * token's holder: what a call's decision and a listing's both ask. */
srv_ask gw_ask(mcp_gw *g, gw_req *r, const char *aid)
{
    srv *s = g->s;
    const srv_task *t = &r->task;
    const char *ptype = srv_task_ptype(s, t);
    return (srv_ask){
        .principal = srv_uid_parts(s, ptype, strlen(ptype), t->agent, strlen(t->agent)),
        .action = srv_uid_parts(s, "Action", 6, aid, strlen(aid)),
        .resource = srv_uid_parts(s, "McpServer", 9, r->up->cfg->name, strlen(r->up->cfg->name)),
        .task = t,
        .bound = true,
        .peer = &r->peer,
    };
}

/* ---- deciding */

/* The deny message: the determining forbid by its @id (policyN without
 * one), or that no policy allows it. */
static void deny_message(const srv_snapshot *snap, const srv_outcome *o, const char *act, const char *res,
                         char *out, size_t n)
{
    if (o->failed) {
        snprintf(out, n, "denied: %s", o->error);
        return;
    }
    if (o->d.nreasons == 0) {
        snprintf(out, n, "denied: no policy allows %s on %s", act, res);
        return;
    }
    const char *pid = o->d.reasons[0], *name = pid;
    if (!strncmp(pid, "policy", 6)) {
        char *end;
        errno = 0;
        unsigned long k = strtoul(pid + 6, &end, 10);
        if (!errno && !*end && k < writ_policyset_count(snap->ps)) {
            const char *at = writ_policyset_annotation(snap->ps, k, "id");
            if (at)
                name = at;
        }
    }
    snprintf(out, n, "denied by policy %s", name);
}

/* params without MCP's _meta (a progress token, new on every retry): what
 * a method's decision and approval bind.  A new object (NULL: out of
 * memory); {} for params that are no object. */
static json_t *sans_meta(const json_t *params)
{
    json_t *o = json_is_object(params) ? json_copy((json_t *)params) : json_object();
    if (o)
        json_object_del(o, "_meta");
    return o;
}

/* A method's params hold what Cedar sees of it (a tool's name and
 * arguments, a uri, a prompt's name and arguments) and MCP's _meta (and, for
 * a tool, task); any other member would reach the upstream without a
 * decision (or an approval) covering it: -1 naming it.  `known` lists the
 * members, NUL-separated, ending with an empty one. */
static int odd_param(const json_t *params, const char *meth, const char *known, char *why, size_t n)
{
    const char *k;
    json_t *v;
    json_object_foreach ((json_t *)params, k, v) {
        const char *q = known;
        while (*q && strcmp(q, k))
            q += strlen(q) + 1;
        if (!*q) {
            snprintf(why, n, "%s params member \"%.100s\" is not MCP's: it would reach the upstream undecided", meth,
                     k);
            return -1;
        }
    }
    return 0;
}

/* Decide msg; fills r->allow / r->deny.  The audit record is submitted
 * under the request's barrier (the caller ends it). */
static void decide(mcp_gw *g, gw_req *r, srv_snapshot *held, const char *what, const json_t *input,
                   const json_t *tool, const cedar_fact *given, size_t ngiven, const cv_record *given_record,
                   const json_t *hashed)
{
    srv *s = g->s;
    char aid[600];
    snprintf(aid, sizeof aid, "%s/%s", r->up->cfg->name, what);
    copy_cut(r->scope, sizeof r->scope, aid);
    char hex[65] = "", extra[120] = "";
    writ_error err;
    memset(&err, 0, sizeof err);
    json_t *empty = json_object();
    if (!wr_jcs_sha256(hashed ? hashed : empty, false, hex, &err)) {
        /* {"input_sha256":"HEX"} (hex is 64 digits) */
        static const char pre[] = "{\"input_sha256\":\"";
        size_t hl = strlen(hex);
        memcpy(extra, pre, sizeof pre - 1);
        memcpy(extra + sizeof pre - 1, hex, hl);
        memcpy(extra + sizeof pre - 1 + hl, "\"}", 3);
    }
    json_t *ctx = given ? NULL : json_object();
    if (ctx && input)
        json_object_set(ctx, "input", (json_t *)input);
    if (ctx && tool)
        json_object_set(ctx, "tool", (json_t *)tool);
    srv_ask a = gw_ask(g, r, aid);
    a.context = ctx;
    a.audit_extra = extra[0] ? extra : NULL;
    a.approval_input = hashed ? hashed : empty;
    a.given = given;
    a.ngiven = ngiven;
    a.given_record = given_record;
    srv_snapshot *snap = held ? held : snap_acquire(s->store);
    srv_outcome o;
    srv_decide_ask(s, snap, &a, &o);
    r->allow = o.allow;
    if (!o.allow && o.appr.state == SRV_APPR_PENDING && o.appr.json) {
        sbuf ab;
        sb_init(&ab);
        o.appr.json(&o, &ab); /* ,"approval":{...} (the gate's) */
        json_decref(r->approval);
        r->approval = sb_ok(&ab) && ab.len > 12 ? json_loads(ab.p + 12, 0, NULL) : NULL;
        sb_free(&ab);
    }
    if (!o.allow) {
        sbuf au, ru;
        sb_init(&au);
        sb_init(&ru);
        srv_uid_text(&au, s->action_type, aid, strlen(aid));
        sb_puts(&ru, s->type_prefix);
        srv_uid_text(&ru, "McpServer", r->up->cfg->name, strlen(r->up->cfg->name));
        deny_message(snap, &o, sb_ok(&au) ? au.p : aid, sb_ok(&ru) ? ru.p : r->up->cfg->name, r->deny,
                     sizeof r->deny);
        sb_free(&au);
        sb_free(&ru);
    }
    if (!held)
        snap_release(snap);
    json_decref(ctx);
    json_decref(empty);
}

static void copy_header(struct MHD_Connection *c, const char *name, char *out, size_t n)
{
    copy_text(out, n, MHD_lookup_connection_value(c, MHD_HEADER_KIND, name));
}

static void live_add(mcp_gw *g, gw_req *r)
{
    pthread_mutex_lock(&g->live_mu);
    r->next = g->live;
    if (g->live)
        g->live->prev = r;
    g->live = r;
    pthread_mutex_unlock(&g->live_mu);
}

/* A method naming one task by params.taskId: only its creator's (taskbind.h). */
static bool task_method(const char *meth)
{
    return !strcmp(meth, "tasks/get") || !strcmp(meth, "tasks/result") || !strcmp(meth, "tasks/cancel");
}

/* params._meta may name a task the request belongs to (MCP's related-task
 * metadata): an upstream then queues its answer for that task's result,
 * and marks the task as waiting for input.  Only the task's creator may:
 * whose the task it names is (TASKBIND_MINE when it names none). */
static mcp_task_whose related_task(mcp_gw *g, gw_req *r, const json_t *params, char *other, size_t n)
{
    const json_t *rel = json_object_get(json_object_get(params, "_meta"), "io.modelcontextprotocol/related-task");
    return rel ? gw_task_whose(g, r, json_object_get(rel, "taskId"), NULL, other, n) : TASKBIND_MINE;
}

/* A request naming a task that is not this agent's (w: another agent's,
 * whose name is other, or one no call through the gateway created) is
 * refused: -32602 with answer, which says only that the agent has no such
 * task, as the transport answers an unknown one.  One whose owner cannot
 * be known now (TASKBIND_UNAVAILABLE: not in this replica's memory, and
 * the state store failed; other is its error) is refused too, -32603
 * saying to try again (the same for any id this replica does not hold).
 * The refusal is a deny like a policy's, so it is recorded like one,
 * through the decision path's record writer (srv_decide_refused: agent,
 * task, chain, action NAME/what, upstream, and why: whose task it was),
 * and its answer waits for the record as a deny's does (mcp_handle,
 * decided). */
static void refuse_task(mcp_gw *g, gw_req *r, const char *what, const char *named, mcp_task_whose w,
                        const char *other, const char *answer)
{
    char aid[600], why[360];
    snprintf(aid, sizeof aid, "%s/%s", r->up->cfg->name, what);
    if (w == TASKBIND_OTHERS)
        snprintf(why, sizeof why, "task binding: %s is another agent's task (%.150s's): refused", named, other);
    else if (w == TASKBIND_UNAVAILABLE)
        snprintf(why, sizeof why,
                 "task binding: %s cannot be checked: the state store is unavailable (%.150s): refused",
                 named, other);
    else
        snprintf(why, sizeof why,
                 "task binding: %s is a task no call through the gateway created (or one expired or "
                 "forgotten): refused",
                 named);
    srv_ask a = gw_ask(g, r, aid);
    srv_outcome o;
    srv_decide_refused(g->s, &a, why, &o);
    r->allow = false;
    r->deny_code = w == TASKBIND_UNAVAILABLE ? MCP_RPC_INTERNAL_ERROR : MCP_RPC_INVALID_PARAMS;
    copy_cut(r->deny, sizeof r->deny,
             w == TASKBIND_UNAVAILABLE ? "the gateway cannot tell whose task this is now (its state store is "
                                         "unavailable): try again later"
                                       : answer);
}

/* The action id (after NAME/) of a request refused before it is read
 * further: a tools/call's tool when its name could be one, else the method. */
static const char *refused_what(const char *meth, const json_t *params, char *buf, size_t n)
{
    const json_t *nm = json_object_get(params, "name");
    size_t l = json_string_length(nm);
    if (strcmp(meth, "tools/call") || !json_is_string(nm) || !l || l > 256 || l >= n ||
        memchr(json_string_value(nm), '\0', l) || memchr(json_string_value(nm), '/', l))
        return meth;
    memcpy(buf, json_string_value(nm), l);
    buf[l] = '\0';
    return buf;
}

/* Decide a POSTed message: 0 when decided (r->allow, r->deny) or passing,
 * 2 when it waits for the upstream's tools (gw_tool_wait: nothing decided,
 * nothing sent; called again after), else an answer was queued (*ret). */
static int decide_post(mcp_gw *g, gw_req *r, struct MHD_Connection *c, const char *body, size_t len,
                       enum MHD_Result *ret)
{
    mcp_rpc_limits lim = {.max_size = g->cfg->max_body};
    mcp_rpc_msg m;
    mcp_rpc_fail f;
    if (mcp_rpc_parse(body, len, &lim, &m, &f)) {
        char *t = mcp_rpc_fail_text(&f);
        *ret = t ? send_text(c, 400, "application/json", t, strlen(t), NULL, NULL) : MHD_NO;
        wr_free(t);
        mcp_rpc_fail_clear(&f);
        return -1;
    }
    r->allow = true;
    r->deny_code = 0;
    json_decref(r->id); /* (set by the first call of one that waited) */
    r->id = NULL;
    if (m.kind == MCP_RPC_REQUEST)
        r->id = json_incref((json_t *)m.id);
    if (m.kind == MCP_RPC_NOTIFICATION && (m.method_len < 14 || memcmp(m.method, "notifications/", 14) ||
                                           memchr(m.method, '\0', m.method_len))) {
        /* A notification passes undecided: one named like a request (a
         * "tools/call" without an id) is a call some servers would run. */
        *ret = send_rpc_error(
            r, c, 400, NULL, MCP_RPC_INVALID_REQUEST,
            "a notification's method must start with \"notifications/\" (a request needs an id)");
        mcp_rpc_msg_clear(&m);
        return -1;
    }
    if ((m.kind == MCP_RPC_RESPONSE || m.kind == MCP_RPC_ERROR_RESPONSE) && !r->up->cfg->url) {
        /* stdio: see up_stdio_rewrite */
        *ret = send_rpc_error(r, c, 400, NULL, MCP_RPC_INVALID_REQUEST,
                              "an answer to a stdio upstream: its requests never reach a client, so there is "
                              "none to answer");
        mcp_rpc_msg_clear(&m);
        return -1;
    }
    int rc = 0;
    char err_at[300], other[200];
    mcp_task_whose tw;
    if (m.kind == MCP_RPC_REQUEST) {
        char meth[128];
        size_t ml = m.method_len < sizeof meth - 1 ? m.method_len : sizeof meth - 1;
        memcpy(meth, m.method, ml);
        meth[ml] = '\0';
        bool nul = memchr(m.method, '\0', m.method_len) != NULL || m.method_len >= sizeof meth - 1;
        if (nul) {
            *ret = send_rpc_error(r, c, 200, m.id, MCP_RPC_INVALID_REQUEST,
                                  "method name too long or holding NUL");
            rc = -1;
        } else if ((tw = related_task(g, r, m.params, other, sizeof other)) != TASKBIND_MINE) {
            /* an upstream files this request's answer (and what it asks
             * meanwhile) under that task, for whoever fetches its result */
            char tool[300], named[160];
            snprintf(named, sizeof named, "%s's related task (params._meta)", meth);
            refuse_task(g, r, refused_what(meth, m.params, tool, sizeof tool), named, tw, other,
                        "params._meta: the related task is no task of this agent on this upstream");
        } else if (!strcmp(meth, "tools/call")) {
            mcp_tool_call tc;
            if (mcp_rpc_tool_call(&m, &tc, &f)) {
                char *t = mcp_rpc_fail_text(&f);
                *ret = t ? send_text(c, 200, "application/json", t, strlen(t), NULL, r) : MHD_NO;
                wr_free(t);
                mcp_rpc_fail_clear(&f);
                rc = -1;
            } else if (memchr(tc.name, '\0', tc.name_len) || tc.name_len > 256) {
                *ret = send_rpc_error(r, c, 200, m.id, MCP_RPC_INVALID_PARAMS,
                                      "tool name too long or holding NUL");
                rc = -1;
            } else if (memchr(tc.name, '/', tc.name_len)) {
                /* NAME/a/b is a method's action (resources/read ...) */
                *ret = send_rpc_error(r, c, 200, m.id, MCP_RPC_INVALID_PARAMS,
                                      "tool name holding '/': its action would be a method's");
                rc = -1;
            } else if ((rc = odd_param(m.params, meth, "name\0arguments\0_meta\0task\0", err_at, sizeof err_at))) {
                /* anything else in params reaches the upstream undecided */
                *ret = send_rpc_error(r, c, 200, m.id, MCP_RPC_INVALID_PARAMS, err_at);
            } else {
                char aid[600], name[300];
                r->task_call = json_object_get(m.params, "task") != NULL;
                snprintf(aid, sizeof aid, "%s/%.*s", r->up->cfg->name, (int)tc.name_len, tc.name);
                snprintf(name, sizeof name, "%.*s", (int)tc.name_len, tc.name);
                json_t *ann = NULL;
                if (gw_tool_wait(g, r, name, &ann)) {
                    mcp_rpc_msg_clear(&m);
                    return 2; /* decided once the upstream has listed its tools */
                }
                mcp_input_hint hint = {NULL, g->s->action_type, aid};
                srv_snapshot *snap = snap_acquire(g->s->store);
                hint.schema = snap->schema;
                json_t *input = NULL;
                writ_error err;
                memset(&err, 0, sizeof err);
                /* No schema or approvals: input and tool go into the
                 * Cedar request as values (call_values), not as JSON read back */
                srv_ask probe = {.task = &r->task};
                cedar_fact given[2];
                const cv_record *grec = NULL;
                bool values = g->cfg->mcp_context_values && srv_facts_given_ok(snap, &probe);
                writ_status st = values ? gw_call_values(name, tc.arguments, ann, given, &grec, &err)
                                        : mcp_input_to_cedar(tc.arguments, NULL, &hint, &input, &err);
                if (!st && values)
                    decide(g, r, snap, name, NULL, NULL, given, 2, grec, tc.arguments);
                snap_release(snap);
                if (st) {
                    char msg[400];
                    snprintf(msg, sizeof msg, "arguments: %s", err.msg);
                    *ret = send_rpc_error(r, c, 200, m.id,
                                          st == WRIT_ENOMEM ? MCP_RPC_INTERNAL_ERROR : MCP_RPC_INVALID_PARAMS,
                                          msg);
                    rc = -1;
                } else if (!values) {
                    json_t *tool = gw_tool_record(name, ann);
                    decide(g, r, NULL, name, input, tool, NULL, 0, NULL, tc.arguments);
                    json_decref(tool);
                    json_decref(input);
                }
                json_decref(ann);
            }
        } else if (!strcmp(meth, "resources/read") || !strcmp(meth, "prompts/get")) {
            bool rr = meth[0] == 'r';
            json_t *in = json_object();
            json_t *p = (json_t *)m.params;
            if (in && rr && json_is_string(json_object_get(p, "uri")))
                json_object_set(in, "uri", json_object_get(p, "uri"));
            if (in && !rr && json_is_string(json_object_get(p, "name")))
                json_object_set(in, "name", json_object_get(p, "name"));
            json_t *args = rr ? NULL : json_object_get(p, "arguments");
            json_t *cargs = NULL;
            writ_error err;
            memset(&err, 0, sizeof err);
            const json_t *uri = rr ? json_object_get(p, "uri") : NULL;
            if (odd_param(p, meth, rr ? "uri\0_meta\0" : "name\0arguments\0_meta\0", err.msg, sizeof err.msg) ||
                (json_is_string(uri) &&
                 mcp_uri_check(json_string_value(uri), json_string_length(uri), err.msg, sizeof err.msg))) {
                *ret = send_rpc_error(r, c, 200, m.id, MCP_RPC_INVALID_PARAMS, err.msg);
                rc = -1;
            } else if (json_is_object(args) && mcp_input_to_cedar(args, NULL, NULL, &cargs, &err)) {
                char msg[400];
                snprintf(msg, sizeof msg, "arguments: %s", err.msg);
                *ret = send_rpc_error(r, c, 200, m.id, MCP_RPC_INVALID_PARAMS, msg);
                rc = -1;
            } else {
                if (cargs)
                    json_object_set_new(in, "arguments", cargs);
                json_t *bound = sans_meta(p);
                decide(g, r, NULL, meth, in, NULL, NULL, 0, NULL, bound);
                json_decref(bound);
            }
            json_decref(in);
        } else if (!strcmp(meth, "initialize") || !strcmp(meth, "ping")) {
            /* pass */
        } else if (!strcmp(meth, "resources/templates/list")) {
            r->list = L_TEMPLATES;
        } else if (!strcmp(meth, "tools/list")) {
            r->list = L_TOOLS;
        } else if (!strcmp(meth, "resources/list")) {
            r->list = L_RESOURCES;
        } else if (!strcmp(meth, "prompts/list")) {
            r->list = L_PROMPTS;
        } else if (task_method(meth) && (tw = gw_task_whose(g, r, json_object_get(m.params, "taskId"), NULL,
                                                            other, sizeof other)) != TASKBIND_MINE) {
            /* another agent's task, or one no call through the gateway made */
            char named[160];
            snprintf(named, sizeof named, "%s's params.taskId", meth);
            refuse_task(g, r, meth, named, tw, other,
                        "params.taskId: no task of this agent on this upstream has that id (a task belongs to the "
                        "agent whose call created it)");
        } else if (!strchr(meth, '/')) {
            /* NAME/METHOD would be the action of the tool METHOD, decided
             * here without that tool's input: every MCP method but the two
             * above has a '/', so such a method is not forwarded */
            *ret = send_rpc_error(r, c, 200, m.id, MCP_RPC_METHOD_NOT_FOUND,
                                  "method without '/': its action would be a tool's");
            rc = -1;
        } else {
            /* the params are its input, as a prompt's arguments are */
            json_t *bound = sans_meta(m.params), *in = NULL;
            if (!strcmp(meth, "tasks/list"))
                r->list = L_TASKS; /* this agent's tasks only */
            writ_error err;
            memset(&err, 0, sizeof err);
            /* a resource named by uri, as resources/read names it: checked alike */
            const json_t *uri = !strncmp(meth, "resources/", 10) ? json_object_get(m.params, "uri") : NULL;
            writ_status st = !bound ? WRIT_ENOMEM
                             : json_is_string(uri) && mcp_uri_check(json_string_value(uri), json_string_length(uri),
                                                                    err.msg, sizeof err.msg)
                                 ? WRIT_EINVAL
                                 : mcp_input_to_cedar(bound, NULL, NULL, &in, &err);
            if (st) {
                char msg[400];
                snprintf(msg, sizeof msg, "params: %s", bound ? err.msg : "out of memory");
                *ret = send_rpc_error(r, c, 200, m.id, st == WRIT_ENOMEM ? MCP_RPC_INTERNAL_ERROR : MCP_RPC_INVALID_PARAMS,
                                      msg);
                rc = -1;
            } else {
                decide(g, r, NULL, meth, in, NULL, NULL, 0, NULL, bound);
            }
            json_decref(in);
            json_decref(bound);
        }
    }
    /* notifications and the client's answers to the upstream's requests pass */
    mcp_rpc_msg_clear(&m);
    return rc;
}

static int mcp_handle(void *arg, srv *s, struct MHD_Connection *c, const char *url, const char *method,
                      const char *body, size_t len, void **state)
{
    mcp_gw *g = arg;
    g->s = s;
    gw_req *r = *state;
    if (r) {
        /* resumed, or called again after its thread's pass (durable.c) */
        if (r->durable.held && srv_durable_waiting(&r->durable))
            return MHD_YES;               /* the pass holding its record has not committed yet */
        srv_durable_resumed(&r->durable); /* no-op unless held for the record */
        if (r->phase == P_ASKING)
            goto post;
        if (r->phase == P_DECIDED)
            goto decided;
        if (r->phase == P_WAIT_HEAD || r->phase == P_BUFFER)
            return after_head(g, r);
        return MHD_YES;
    }
    const char *name = url + 5; /* "/mcp/" */
    gw_up *up = find_up(g, name, strlen(name));
    if (!up)
        return send_http_error(c, 404, "not_found", "no such MCP upstream", NULL);
    if (!origin_ok(g, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin")))
        return send_http_error(c, 403, "forbidden_origin", "Origin not allowed (DNS rebinding protection)",
                               NULL);
    if (!host_ok(g, MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST)))
        return send_http_error(c, 403, "forbidden_host", "Host not allowed (DNS rebinding protection)", NULL);
    bool post = !strcmp(method, "POST"), get = !strcmp(method, "GET"), del = !strcmp(method, "DELETE");
    if (!post && !get && !del) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!resp)
            return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "POST, GET, DELETE");
        enum MHD_Result ret = MHD_queue_response(c, 405, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    r = req_new(g);
    if (!r)
        return MHD_NO;
    r->g = g;
    r->up = up;
    mcp_mask_init(&r->mask, up->cred_value, up->cred_vlen);
    r->c = c;
    pthread_mutex_init(&r->mu, NULL);
    sb_init(&r->buf);
    *state = r;
    live_add(g, r);
    char why[400];
    if (!auth)
        return unauthorized(g, c, up->cfg->name, "a task token is required (Authorization: Bearer)");
    if (srv_task_bearer(s, c, auth, &r->task, why, sizeof why)) {
        srv_task_clear(&r->task);
        return unauthorized(g, c, up->cfg->name, why);
    }
    r->has_task = true;
    srv_peer_read(s, c, &r->peer);
    if (!reaches(g, r, why, sizeof why))
        return out_of_reach(g, r, c, why);
    if (!agent_take(g, r))
        return too_many(g, c);
    snprintf(r->http_method, sizeof r->http_method, "%s", method); /* POST, GET or DELETE */
    const char *sid = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Mcp-Session-Id");
    copy_header(c, "Mcp-Session-Id", r->sid, sizeof r->sid);
    if (sid && (!r->sid[0] || !mcp_session_unwrap(g->sessions, up->cfg->name, r->task.agent, r->sid,
                                                  r->fwd_sid, sizeof r->fwd_sid))) {
        r->sid[0] = '\0'; /* not echoed */
        return send_http_error(
            c, 404, "session_not_found",
            "no session of this agent on this upstream has that Mcp-Session-Id: start a new "
            "one (initialize)",
            NULL);
    }
    copy_header(c, "MCP-Protocol-Version", r->pver, sizeof r->pver);
    copy_header(c, "Accept", r->accept, sizeof r->accept);
    copy_header(c, "Last-Event-ID", r->last_event, sizeof r->last_event);
    if (!post)
        return forward(g, r); /* the server's stream, or the end of a session */
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ct || strncasecmp(ct, "application/json", 16) != 0)
        return send_http_error(c, 415, "unsupported_media_type", "expected Content-Type: application/json",
                               NULL);
    r->body = wr_malloc(len + 1);
    if (!r->body)
        return MHD_NO;
    memcpy(r->body, body, len);
    r->body[len] = '\0';
    r->len = len;
    r->counted = true;
    r->lone = atomic_fetch_add(&g->posts, 1) == 0;
post:;
    enum MHD_Result ret = MHD_NO;
    if (r->phase == P_ASKING) { /* resumed: the upstream has been asked for its tools */
        r->lone = false;
        if (r->finished) { /* by quiesce */
            r->phase = P_SENT;
            return send_http_error(c, 503, "shutting_down", "the gateway is shutting down", NULL);
        }
    }
    srv_durable_begin(&r->durable, g->s, c);
    srv_durable_then(&r->durable, decided_then, r);
    if (r->lone)
        srv_durable_commit_here(&r->durable);
    int rc = decide_post(g, r, c, r->body, r->len, &ret);
    if (!rc)
        r->phase = P_DECIDED; /* before the end: decided_then may run at once */
    bool susp = srv_durable_end(&r->durable);
    if (rc == 2) {
        /* nothing decided: suspended until the ask's thread resumes it,
         * unless the ask ended already */
        r->phase = P_ASKING;
        pthread_mutex_lock(&r->mu);
        bool wait = !r->ask_done && !r->finished;
        if (wait) {
            r->waiting = true;
            MHD_suspend_connection(c);
        }
        pthread_mutex_unlock(&r->mu);
        if (wait)
            return MHD_YES;
        goto post;
    }
    if (rc) {
        /* answered already; a record is never written on this path */
        return ret;
    }
    if (susp)
        return MHD_YES; /* resumed once the decision's record is committed */
decided:
    if (srv_durable_failed(&r->durable)) {
        r->phase = P_SENT;
        return send_http_error(c, 503, "audit_unavailable",
                               "the audit log could not record this decision: refused", NULL);
    }
    if (!r->allow && r->approval) {
        char *t = mcp_rpc_error_text(r->id, MCP_APPROVAL_REQUIRED, r->deny, r->approval);
        if (!t)
            return MHD_NO;
        enum MHD_Result sent = send_text(c, 200, "application/json", t, strlen(t), NULL, r);
        wr_free(t);
        r->phase = P_SENT;
        return sent;
    }
    if (!r->allow)
        return send_rpc_error(r, c, 200, r->id, r->deny_code ? r->deny_code : MCP_DENIED, r->deny);
    return forward(g, r);
}

static void req_free(void *arg, void *state)
{
    mcp_gw *g = arg;
    gw_req *r = state;
    if (!r)
        return;
    if (r->durable.s)
        srv_durable_resumed(&r->durable); /* completed while held: the client left */
    if (r->counted)
        atomic_fetch_sub(&g->posts, 1);
    gw_tool_unwait(r);
    json_decref(r->approval);
    pthread_mutex_lock(&g->live_mu);
    if (r->prev)
        r->prev->next = r->next;
    else if (g->live == r)
        g->live = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    pthread_mutex_unlock(&g->live_mu);
    pthread_mutex_lock(&r->mu);
    bool live = r->started;
    uint64_t t = r->ticket;
    pthread_mutex_unlock(&r->mu);
    if (live && !g->quiesced)
        mcp_upstream_cancel(r->up->u, t); /* the client went away: no callback after this */
    agent_give(g, r);
    if (r->has_task)
        srv_task_clear(&r->task);
    json_decref(r->id);
    wr_free(r->body);
    wr_free(r->minted);
    sb_free(&r->buf);
    mcp_mask_free(&r->mask);
    sb_free(&r->sse_out);
    pthread_mutex_destroy(&r->mu);
    pthread_mutex_lock(&g->live_mu);
    bool keep = g->nspare < GW_SPARE;
    if (keep) {
        r->next = g->spare;
        g->spare = r;
        g->nspare++;
    }
    pthread_mutex_unlock(&g->live_mu);
    if (!keep)
        wr_free(r);
}

/* Shutdown: stop every request in flight and resume its connection, so the
 * daemon can stop (it refuses to with suspended connections). */
static void quiesce(void *arg)
{
    mcp_gw *g = arg;
    for (size_t i = 0; i < g->nups; i++)
        gw_tool_asks_end(&g->ups[i]); /* its waiters resumed by it, before the ones below */
    pthread_mutex_lock(&g->live_mu);
    for (gw_req *r = g->live; r; r = r->next) {
        pthread_mutex_lock(&r->mu);
        bool live = r->started;
        uint64_t t = r->ticket;
        pthread_mutex_unlock(&r->mu);
        /* also when done: cancel waits for a callback still running (one
         * that claimed the resume and has not yet made it) */
        if (live || t)
            mcp_upstream_cancel(r->up->u, t);
        pthread_mutex_lock(&r->mu);
        r->started = false;
        if (!r->finished) {
            r->finished = true;
            r->done_st = WRIT_EIO;
            snprintf(r->why, sizeof r->why, "the gateway is shutting down");
        }
        resume_locked(r);
        pthread_mutex_unlock(&r->mu);
    }
    g->quiesced = true;
    pthread_mutex_unlock(&g->live_mu);
}

static int start(void *arg, srv *s, char *err, size_t n)
{
    mcp_gw *g = arg;
    g->s = s;
    if (!s->verifier) {
        snprintf(err, n, "mcp_upstream needs task tokens: set token_keys or token_jwks");
        return -1;
    }
    /* session ids bound under a key from the signing key (replicas that
     * share it accept each other's), else a random one (session.h) */
    char *pem = NULL;
    size_t plen = 0;
    writ_error kerr;
    if (s->keyring && writ_keyring_private_pem(s->keyring, NULL, &pem, &plen, &kerr) != WRIT_OK)
        pem = NULL, plen = 0;
    mcp_sessions_free(g->sessions);
    g->sessions = mcp_sessions_new(pem, pem ? plen : 0);
    if (pem) {
        OPENSSL_cleanse(pem, plen);
        writ_free_string(pem);
    }
    if (!g->sessions) {
        snprintf(err, n, "mcp: cannot make the session key (OpenSSL)");
        return -1;
    }
    for (size_t i = 0; i < g->nups; i++)
        if (g->ups[i].token_aud && !s->keyring) {
            snprintf(err, n, "mcp_credential %s token: minting needs a signing key (token_keys)",
                     g->ups[i].cfg->name);
            return -1;
        }
    /* tasks bound in the state store too (taskbind.h): on a shared one,
     * a task is its owner's through every replica; on the embedded one,
     * after a restart */
    for (size_t i = 0; i < g->nups; i++)
        if (!mcp_taskbind_share(g->ups[i].tasks, s->state, g->ups[i].cfg->name)) {
            snprintf(err, n, "mcp_upstream %s: its tasks cannot be kept in the state store",
                     g->ups[i].cfg->name);
            return -1;
        }
    return 0;
}

/* The first line of a credential file, without its line end. */
static char *read_first_line(const char *path, writ_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        wr_error(err, WRIT_EIO, "mcp_credential: cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char line[8192];
    char *p = fgets(line, sizeof line, f);
    fclose(f);
    if (!p) {
        wr_error(err, WRIT_EINVAL, "mcp_credential: %s is empty", path);
        return NULL;
    }
    size_t n = strcspn(line, "\r\n");
    line[n] = '\0';
    if (n == 0) {
        wr_error(err, WRIT_EINVAL, "mcp_credential: the first line of %s is empty", path);
        return NULL;
    }
    return wr_strndup(line, n);
}

writ_status mcp_gateway_open(const srv_config *cfg, mcp_gw **out, writ_error *err)
{
    *out = NULL;
    mcp_gw *g = wr_calloc(1, sizeof *g);
    if (!g)
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    g->cfg = cfg;
    pthread_mutex_init(&g->live_mu, NULL);
    pthread_mutex_init(&g->agents_mu, NULL);
    if (!(g->agents = json_object())) {
        mcp_gateway_close(g);
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    }
    g->ups = wr_calloc(cfg->nmcp_up ? cfg->nmcp_up : 1, sizeof *g->ups);
    if (!g->ups) {
        mcp_gateway_close(g);
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < cfg->nmcp_cred; i++) {
        bool known = false;
        for (size_t k = 0; k < cfg->nmcp_up; k++)
            known |= !strcmp(cfg->mcp_cred[i].name, cfg->mcp_up[k].name);
        if (!known) {
            mcp_gateway_close(g);
            return wr_error(err, WRIT_EINVAL, "mcp_credential %s: no mcp_upstream of that name",
                            cfg->mcp_cred[i].name);
        }
    }
    for (size_t i = 0; i < cfg->nmcp_up; i++) {
        gw_up *u = &g->ups[g->nups++];
        u->cfg = &cfg->mcp_up[i];
        pthread_mutex_init(&u->mu, NULL);
        u->annotations = json_object();
        u->tasks = mcp_taskbind_new(65536, 1024);
        writ_status st = WRIT_OK;
        for (size_t k = 0; k < cfg->nmcp_cred && !st; k++) {
            const srv_mcp_cred *cr = &cfg->mcp_cred[k];
            if (strcmp(cr->name, u->cfg->name))
                continue;
            if (cr->token) {
                u->token_aud = cr->audience;
                continue;
            }
            char *v = read_first_line(cr->path, err);
            if (!v) {
                st = err->code ? (writ_status)err->code : WRIT_EIO;
                break;
            }
            size_t n = strlen(cr->header) + 2 + strlen(v) + 1;
            u->cred_line = wr_malloc(n);
            if (u->cred_line) {
                snprintf(u->cred_line, n, "%s: %s", cr->header, v);
                u->cred_vlen = strlen(v);
                u->cred_value = u->cred_vlen >= MCP_MASK_MIN ? u->cred_line + strlen(cr->header) + 2 : NULL;
            }
            wr_free(v);
            if (!u->cred_line)
                st = wr_error(err, WRIT_ENOMEM, "out of memory");
        }
        if (!st && (!u->annotations || !u->tasks))
            st = wr_error(err, WRIT_ENOMEM, "out of memory");
        mcp_up_limits lim = {.connect_ms = cfg->mcp_connect_timeout * 1000u,
                             .idle_ms = cfg->mcp_idle_timeout * 1000u,
                             .max_answer = (size_t)cfg->mcp_max_answer};
        if (!st)
            st = u->cfg->url ? mcp_upstream_http_open(u->cfg->name, u->cfg->url, &lim, &u->u, err)
                             : mcp_upstream_stdio_open(u->cfg->name, (const char *const *)u->cfg->argv, &lim,
                                                       &u->u, err);
        if (st) {
            mcp_gateway_close(g);
            return st;
        }
    }
    g->routes[0] = (srv_ext_route){"/mcp/", mcp_handle, req_free, g};
    g->routes[1] = (srv_ext_route){"/.well-known/oauth-protected-resource/mcp/", meta_handle, NULL, g};
    g->routes[2] = (srv_ext_route){"/.well-known/oauth-authorization-server", meta_handle, NULL, g};
    g->ext = (srv_ext){.routes = g->routes, .nroutes = 3, .start = start, .quiesce = quiesce, .arg = g};
    *out = g;
    return WRIT_OK;
}

const srv_ext *mcp_gateway_ext(mcp_gw *g) { return &g->ext; }

void mcp_gateway_close(mcp_gw *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->nups; i++) {
        gw_tool_asks_end(&g->ups[i]);
        mcp_upstream_close(g->ups[i].u);
        wr_free(g->ups[i].cred_line);
        json_decref(g->ups[i].annotations);
        mcp_taskbind_free(g->ups[i].tasks);
        pthread_mutex_destroy(&g->ups[i].mu);
    }
    wr_free(g->ups);
    mcp_sessions_free(g->sessions);
    json_decref(g->agents);
    pthread_mutex_destroy(&g->agents_mu);
    for (gw_req *r = g->spare, *next; r; r = next) {
        next = r->next;
        wr_free(r);
    }
    pthread_mutex_destroy(&g->live_mu);
    wr_free(g);
}
