/* ask.c - a request to an MCP upstream, waited for: see ask.h. */
#include "mcp/ask.h"

#include "mcp/sse.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/sbuf.h"

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
    char why[200];
    unsigned status;
    char ctype[128], sid[256];
    sbuf body;
} call;

static bool on_head(void *arg, unsigned status, const char *ct, const char *sid, const char *pver)
{
    (void)pver;
    call *c = arg;
    pthread_mutex_lock(&c->mu);
    c->status = status;
    snprintf(c->ctype, sizeof c->ctype, "%s", ct ? ct : "");
    snprintf(c->sid, sizeof c->sid, "%s", sid ? sid : "");
    pthread_mutex_unlock(&c->mu);
    return false; /* read whole: max_answer caps it */
}

static mcp_up_flow on_data(void *arg, const char *p, size_t n)
{
    call *c = arg;
    pthread_mutex_lock(&c->mu);
    sb_putn(&c->body, p, n);
    pthread_mutex_unlock(&c->mu);
    return MCP_UP_MORE;
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

static bool has_id(const json_t *m, const char *id)
{
    const json_t *v = json_object_get(m, "id");
    return json_is_string(v) && !strcmp(json_string_value(v), id) && !json_object_get(m, "method");
}

/* The response with this id in a JSON or SSE body (new reference). */
static json_t *answer_of(const call *c, const char *id)
{
    const char *p = c->body.p ? c->body.p : "";
    if (strncasecmp(c->ctype, "text/event-stream", 17) != 0) {
        json_t *m = json_loadb(p, c->body.len, JSON_REJECT_DUPLICATES, NULL);
        if (has_id(m, id))
            return m;
        json_decref(m);
        return NULL;
    }
    mcp_sse_event ev;
    mcp_sse_event_init(&ev);
    size_t at = 0;
    json_t *found = NULL;
    while (!found && mcp_sse_next(p, c->body.len, &at, &ev) == 1) {
        json_t *m = ev.data.len ? json_loadb(ev.data.p, ev.data.len, JSON_REJECT_DUPLICATES, NULL) : NULL;
        if (has_id(m, id))
            found = m;
        else
            json_decref(m);
    }
    mcp_sse_event_clear(&ev);
    return found;
}

json_t *mcp_ask(mcp_upstream *u, const char *body, const char *id, const mcp_ask_opts *o, char *sid_out,
                char *why, size_t wn)
{
    call c;
    memset(&c, 0, sizeof c);
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    sb_init(&c.body);
    mcp_up_request rq = {.body = body,
                         .len = strlen(body),
                         .session_id = o->session_id,
                         .protocol_version = o->protocol_version,
                         .headers = o->headers,
                         .nheaders = o->nheaders};
    mcp_up_callbacks cb = {on_head, on_data, on_done};
    uint64_t ticket;
    json_t *a = NULL;
    if (mcp_upstream_send(u, &rq, &cb, &c, &ticket)) {
        snprintf(why, wn, "could not send");
        goto out;
    }
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    unsigned ms = o->timeout_ms ? o->timeout_ms : 60000;
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (long)(ms % 1000) * 1000000;
    if (dl.tv_nsec >= 1000000000) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&c.mu);
    while (!c.done)
        if (pthread_cond_timedwait(&c.cv, &c.mu, &dl))
            break;
    bool done = c.done;
    pthread_mutex_unlock(&c.mu);
    if (!done) {
        mcp_upstream_cancel(u, ticket); /* no callback after it */
        snprintf(why, wn, "no answer within %u ms", ms);
        goto out;
    }
    if (c.st || !sb_ok(&c.body)) {
        snprintf(why, wn, "%s", c.st ? c.why : "out of memory");
        goto out;
    }
    if (sid_out)
        snprintf(sid_out, 256, "%s", c.sid);
    a = answer_of(&c, id);
    if (!a)
        snprintf(why, wn, "no JSON-RPC answer with id %s (HTTP %u)", id, c.status);
out:
    sb_free(&c.body);
    pthread_mutex_destroy(&c.mu);
    pthread_cond_destroy(&c.cv);
    return a;
}

json_t *mcp_ask_tools(mcp_upstream *u, const mcp_ask_opts *o, size_t max_pages, char *why, size_t wn)
{
    json_t *all = json_array(), *cursor = NULL;
    unsigned total = o->timeout_ms ? o->timeout_ms : 60000;
    int64_t end = wr_mono_ms() + total;
    mcp_ask_opts po = *o;
    for (size_t page = 0; all && page < max_pages; page++) {
        int64_t now = wr_mono_ms();
        if (now >= end) {
            snprintf(why, wn, "tools/list: not every page within %u ms", total);
            break;
        }
        po.timeout_ms = (unsigned)(end - now);
        char id[32];
        snprintf(id, sizeof id, "writ-tools-%zu", page);
        json_t *params = cursor ? json_pack("{s:O}", "cursor", cursor) : json_object();
        json_t *rq = params ? json_pack("{s:s,s:s,s:s,s:o}", "jsonrpc", "2.0", "id", id, "method",
                                        "tools/list", "params", params)
                            : NULL;
        char *body = rq ? json_dumps(rq, JSON_COMPACT) : NULL;
        json_decref(rq);
        json_decref(cursor);
        cursor = NULL;
        if (!body) {
            snprintf(why, wn, "out of memory");
            break;
        }
        json_t *a = mcp_ask(u, body, id, &po, NULL, why, wn);
        free(body);
        json_t *tools = json_object_get(json_object_get(a, "result"), "tools");
        if (!json_is_array(tools)) {
            if (a)
                snprintf(why, wn, "tools/list: %s",
                         json_object_get(a, "error") ? "an error answer" : "no tools array");
            json_decref(a);
            break;
        }
        json_array_extend(all, tools);
        json_t *next = json_object_get(json_object_get(a, "result"), "nextCursor");
        if (!json_is_string(next)) {
            json_decref(a);
            json_t *res = json_pack("{s:o}", "tools", all);
            if (!res)
                snprintf(why, wn, "out of memory");
            return res;
        }
        cursor = json_incref(next);
        json_decref(a);
        if (page + 1 == max_pages)
            snprintf(why, wn, "tools/list: more than %zu pages", max_pages);
    }
    json_decref(cursor);
    json_decref(all);
    return NULL;
}
