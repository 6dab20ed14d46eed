/* cmd_mcp.c - `writ mcp schema NAME|URL`: ask an MCP upstream for its tools
 * (initialize, notifications/initialized, tools/list through the gateway's
 * own transports, upstream.h) and print the Cedar schema fragment
 * (toolschema.h) that declares its McpServer and one action per tool. */
#include "cli/cli.h"
#include "mcp/sse.h"
#include "mcp/toolschema.h"
#include "mcp/upstream.h"
#include "server/config.h"
#include "util/alloc.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

typedef struct call {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    writ_status st;
    char why[256];
    unsigned status;
    char ctype[128], sid[256];
    char *body;
    size_t len, cap;
    bool oom;
} call;

static void on_head(void *arg, unsigned status, const char *ct, const char *sid, const char *pver)
{
    (void)pver;
    call *c = arg;
    pthread_mutex_lock(&c->mu);
    c->status = status;
    snprintf(c->ctype, sizeof c->ctype, "%s", ct ? ct : "");
    snprintf(c->sid, sizeof c->sid, "%s", sid ? sid : "");
    pthread_mutex_unlock(&c->mu);
}

static void on_data(void *arg, const char *p, size_t n)
{
    call *c = arg;
    pthread_mutex_lock(&c->mu);
    if (c->len + n + 1 > c->cap) {
        size_t cap = (c->len + n + 1) * 2;
        char *b = wr_realloc(c->body, cap);
        if (!b)
            c->oom = true;
        else {
            c->body = b;
            c->cap = cap;
        }
    }
    if (!c->oom) {
        memcpy(c->body + c->len, p, n);
        c->len += n;
        c->body[c->len] = '\0';
    }
    pthread_mutex_unlock(&c->mu);
}

static void on_done(void *arg, writ_status st, const char *why)
{
    call *c = arg;
    pthread_mutex_lock(&c->mu);
    c->done = true;
    c->st = st;
    snprintf(c->why, sizeof c->why, "%s", why ? why : "");
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* The JSON-RPC answer with this id in a JSON or SSE body (new reference). */
static json_t *answer_of(const call *c, json_int_t id)
{
    if (!c->body)
        return NULL;
    if (strncasecmp(c->ctype, "text/event-stream", 17) != 0) {
        json_t *m = json_loadb(c->body, c->len, 0, NULL);
        return m;
    }
    /* SSE: the event whose data is the answer (a tail without its blank line is no event) */
    mcp_sse_event ev;
    mcp_sse_event_init(&ev);
    size_t at = 0;
    json_t *found = NULL;
    while (!found && mcp_sse_next(c->body, c->len, &at, &ev) == 1) {
        json_t *m = ev.data.len ? json_loadb(ev.data.p, ev.data.len, 0, NULL) : NULL;
        json_t *mid = json_object_get(m, "id");
        if (json_is_integer(mid) && json_integer_value(mid) == id)
            found = m;
        else
            json_decref(m);
    }
    mcp_sse_event_clear(&ev);
    return found;
}

/* One request, waited for (60 s at most). */
static int rpc(mcp_upstream *u, const char *body, const char *sid, const char *const *hdrs, size_t nh,
               call *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    mcp_up_request rq = {.body = body,
                         .len = strlen(body),
                         .session_id = sid && *sid ? sid : NULL,
                         .protocol_version = sid && *sid ? "2025-06-18" : NULL,
                         .headers = hdrs,
                         .nheaders = nh};
    mcp_up_callbacks cb = {on_head, on_data, on_done};
    uint64_t ticket;
    if (mcp_upstream_send(u, &rq, &cb, c, &ticket)) {
        snprintf(c->why, sizeof c->why, "could not send");
        return -1;
    }
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 60;
    pthread_mutex_lock(&c->mu);
    while (!c->done)
        if (pthread_cond_timedwait(&c->cv, &c->mu, &dl))
            break;
    bool done = c->done;
    pthread_mutex_unlock(&c->mu);
    if (!done) {
        mcp_upstream_cancel(u, ticket);
        snprintf(c->why, sizeof c->why, "no answer within 60 s");
        return -1;
    }
    return c->st || c->oom ? -1 : 0;
}

static void call_free(call *c)
{
    wr_free(c->body);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
}

static void usage(FILE *f)
{
    fputs("usage: writ mcp schema NAME|URL [--config FILE] [--namespace NS] [--name NAME] [--standalone]\n"
          "                 [--header 'Name: value']...\n"
          "  Asks the MCP upstream (an mcp_upstream NAME of the config file, or a Streamable HTTP URL)\n"
          "  for its tools and prints a Cedar schema fragment: an McpServer entity and one action\n"
          "  \"NAME/TOOL\" per tool whose context.input is typed from the tool's inputSchema.\n"
          "  --namespace (default Writ; empty: none), --standalone also declares Agent.\n",
          f);
}

static int schema(int argc, char **argv)
{
    const char *target = NULL, *ns = "Writ", *name = NULL, *conf = NULL;
    bool standalone = false;
    const char *hdrs[16];
    size_t nh = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp(a, "--config") && more)
            conf = argv[++i];
        else if (!strcmp(a, "--namespace") && more)
            ns = argv[++i];
        else if (!strcmp(a, "--name") && more)
            name = argv[++i];
        else if (!strcmp(a, "--header") && more && nh < 16)
            hdrs[nh++] = argv[++i];
        else if (!strcmp(a, "--standalone"))
            standalone = true;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (a[0] != '-' && !target)
            target = a;
        else {
            fprintf(stderr, "writ mcp schema: unexpected argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!target) {
        usage(stderr);
        return 2;
    }
    srv_config cfg;
    srv_config_defaults(&cfg);
    writ_error err;
    memset(&err, 0, sizeof err);
    int rc = 1;
    mcp_upstream *u = NULL;
    bool url = !strncmp(target, "http://", 7) || !strncmp(target, "https://", 8);
    if (conf && srv_config_load(&cfg, conf, &err)) {
        fprintf(stderr, "writ mcp schema: %s\n", err.msg);
        srv_config_free(&cfg);
        return 2;
    }
    writ_status st;
    if (url) {
        st = mcp_upstream_http_open(name ? name : "upstream", target, NULL, &u, &err);
        if (!name)
            name = "upstream";
    } else {
        const srv_mcp_upstream *m = NULL;
        for (size_t i = 0; i < cfg.nmcp_up; i++)
            if (!strcmp(cfg.mcp_up[i].name, target))
                m = &cfg.mcp_up[i];
        if (!m) {
            fprintf(stderr, "writ mcp schema: no mcp_upstream named '%s'%s\n", target,
                    conf ? " in the config file" : " (give --config FILE, or a URL)");
            srv_config_free(&cfg);
            return 2;
        }
        name = m->name;
        st = m->url ? mcp_upstream_http_open(m->name, m->url, NULL, &u, &err)
                    : mcp_upstream_stdio_open(m->name, (const char *const *)m->argv, NULL, &u, &err);
    }
    if (st) {
        fprintf(stderr, "writ mcp schema: %s\n", err.msg);
        srv_config_free(&cfg);
        return 1;
    }
    call c1, c2, c3;
    int r1 =
        rpc(u,
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
            "\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"writ-mcp-schema\",\"version\":"
            "\"1\"}}}",
            NULL, hdrs, nh, &c1);
    json_t *init = r1 ? NULL : answer_of(&c1, 1);
    if (!init || !json_object_get(init, "result")) {
        fprintf(stderr, "writ mcp schema: initialize failed: %s (HTTP %u)\n",
                c1.why[0] ? c1.why : "no result", c1.status);
        json_decref(init);
        call_free(&c1);
        goto out;
    }
    json_decref(init);
    (void)rpc(u, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", c1.sid, hdrs, nh, &c2);
    call_free(&c2);
    int r3 = rpc(u, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}", c1.sid, hdrs, nh, &c3);
    call_free(&c1);
    json_t *list = r3 ? NULL : answer_of(&c3, 2);
    json_t *res = json_object_get(list, "result");
    if (!res) {
        fprintf(stderr, "writ mcp schema: tools/list failed: %s (HTTP %u)\n",
                c3.why[0] ? c3.why : "no result", c3.status);
    } else {
        mcp_toolschema_opts o = {ns, standalone};
        char *text = NULL;
        size_t len = 0;
        if (mcp_toolschema(res, name, &o, &text, &len, &err))
            fprintf(stderr, "writ mcp schema: %s\n", err.msg);
        else {
            fwrite(text, 1, len, stdout);
            rc = 0;
        }
        wr_free(text);
    }
    json_decref(list);
    call_free(&c3);
out:
    mcp_upstream_close(u);
    srv_config_free(&cfg);
    return rc;
}

int cmd_mcp(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "schema"))
        return schema(argc - 1, argv + 1);
    usage(argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? stdout : stderr);
    return argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? 0 : 2;
}
