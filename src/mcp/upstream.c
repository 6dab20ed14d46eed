/* upstream.c - what the HTTP and stdio upstreams share: the request list,
 * cancellation (see upstream_int.h for the locking), the public entry
 * points, and the stdio message helpers (id rewriting, line splitting). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mcp/upstream_int.h"
#include "util/alloc.h"
#include "util/error.h"

mcp_up_limits up_limits(const mcp_up_limits *lim)
{
    mcp_up_limits l = lim ? *lim : (mcp_up_limits){0};
    if (!l.connect_ms)
        l.connect_ms = 5000;
    if (!l.idle_ms)
        l.idle_ms = 30000;
    if (!l.max_answer)
        l.max_answer = (size_t)16 << 20;
    if (!l.restart_ms)
        l.restart_ms = 200;
    return l;
}

static _Thread_local mcp_upstream *tl_upstream;

void up_thread_enter(mcp_upstream *u) { tl_upstream = u; }

uint64_t up_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

mcp_upstream *up_new(bool stdio, const char *name, const mcp_up_limits *lim)
{
    mcp_upstream *u = wr_calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->name = wr_strndup(name ? name : "", name ? strlen(name) : 0);
    if (!u->name) {
        wr_free(u);
        return NULL;
    }
    u->stdio = stdio;
    u->lim = up_limits(lim);
    u->next_ticket = 1;
    pthread_mutex_init(&u->qmu, NULL);
    pthread_mutex_init(&u->cbmu, NULL);
    return u;
}

void up_free(mcp_upstream *u)
{
    pthread_mutex_destroy(&u->qmu);
    pthread_mutex_destroy(&u->cbmu);
    wr_free(u->name);
    wr_free(u);
}

void up_link(mcp_upstream *u, up_req *r)
{
    r->ticket = u->next_ticket++;
    r->prev = u->tail;
    r->next = NULL;
    if (u->tail)
        u->tail->next = r;
    else
        u->head = r;
    u->tail = r;
}

void up_unlink(mcp_upstream *u, up_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        u->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        u->tail = r->prev;
    r->prev = r->next = NULL;
}

/* Callbacks run with cbmu held, so that cancel (which takes it) waits for a
 * running callback and then stops every later one. */
static bool cb_begin(mcp_upstream *u, up_req *r)
{
    pthread_mutex_lock(&u->cbmu);
    if (r->cancelled || r->done) {
        pthread_mutex_unlock(&u->cbmu);
        return false;
    }
    return true;
}

void up_head(mcp_upstream *u, up_req *r, unsigned status, const char *ct, const char *sid, const char *pv)
{
    if (r->head_sent || !cb_begin(u, r))
        return;
    r->head_sent = true;
    if (r->cb.on_head)
        r->cb.on_head(r->arg, status, ct, sid, pv);
    pthread_mutex_unlock(&u->cbmu);
}

void up_data(mcp_upstream *u, up_req *r, const char *p, size_t n)
{
    if (!n || !cb_begin(u, r))
        return;
    if (r->cb.on_data)
        r->cb.on_data(r->arg, p, n);
    pthread_mutex_unlock(&u->cbmu);
}

void up_done(mcp_upstream *u, up_req *r, writ_status st, const char *why)
{
    if (!cb_begin(u, r)) {
        r->done = true;
        return;
    }
    r->done = true;
    if (r->cb.on_done)
        r->cb.on_done(r->arg, st, st == WRIT_OK ? NULL : (why ? why : "upstream error"));
    pthread_mutex_unlock(&u->cbmu);
}

writ_status mcp_upstream_send(mcp_upstream *u, const mcp_up_request *rq, const mcp_up_callbacks *cb,
                              void *arg, uint64_t *ticket)
{
    if (ticket)
        *ticket = 0;
    if (!u || !rq || !cb || !ticket)
        return WRIT_EINVAL;
    return u->send_impl(u, rq, cb, arg, ticket);
}

void mcp_upstream_cancel(mcp_upstream *u, uint64_t ticket)
{
    if (!u || !ticket)
        return;
    /* On the upstream's own thread we are inside a callback: cbmu is ours. */
    bool own = tl_upstream == u;
    if (!own)
        pthread_mutex_lock(&u->cbmu);
    pthread_mutex_lock(&u->qmu);
    bool found = false;
    for (up_req *r = u->head; r; r = r->next)
        if (r->ticket == ticket) {
            r->cancelled = true;
            found = true;
            break;
        }
    pthread_mutex_unlock(&u->qmu);
    if (!own)
        pthread_mutex_unlock(&u->cbmu);
    if (found)
        u->wake(u);
}

void mcp_upstream_close(mcp_upstream *u)
{
    if (!u)
        return;
    pthread_mutex_lock(&u->cbmu);
    pthread_mutex_lock(&u->qmu);
    u->stop = true;
    for (up_req *r = u->head; r; r = r->next)
        r->cancelled = true;
    pthread_mutex_unlock(&u->qmu);
    pthread_mutex_unlock(&u->cbmu);
    if (u->thread_started) {
        u->wake(u);
        pthread_join(u->thread, NULL);
    }
    u->close_impl(u);
    up_free(u);
}

const char *mcp_upstream_name(const mcp_upstream *u) { return u ? u->name : NULL; }

bool mcp_upstream_is_stdio(const mcp_upstream *u) { return u && u->stdio; }

uint64_t mcp_upstream_starts(const mcp_upstream *u)
{
    return u ? atomic_load(&((mcp_upstream *)u)->starts) : 0;
}

/* ---- stdio messages ---- */

writ_status up_stdio_rewrite(const char *body, size_t len, uint64_t new_id, char **line, up_msg_kind *kind,
                             json_t **orig_id, bool *is_initialize, writ_error *err)
{
    *line = NULL;
    *orig_id = NULL;
    *is_initialize = false;
    *kind = UP_MSG_NOTIFICATION;
    json_error_t je;
    json_t *m = json_loadb(body, len, JSON_ALLOW_NUL, &je);
    if (!m)
        return wr_error(err, WRIT_EJSON, "stdio upstream: message is not JSON (%s, offset %d)", je.text,
                        je.position);
    if (!json_is_object(m)) {
        json_decref(m);
        return wr_error(err, WRIT_EJSON, "stdio upstream: message is not a JSON object");
    }
    json_t *method = json_object_get(m, "method");
    json_t *id = json_object_get(m, "id");
    if (json_is_string(method) && id && !json_is_null(id)) {
        if (!json_is_string(id) && !json_is_integer(id)) {
            json_decref(m);
            return wr_error(err, WRIT_EJSON, "stdio upstream: request id is neither a string nor an integer");
        }
        *kind = UP_MSG_REQUEST;
        *is_initialize = strcmp(json_string_value(method), "initialize") == 0;
        json_t *nid = json_integer((json_int_t)new_id);
        *orig_id = json_incref(id);
        if (!nid || json_object_set_new(m, "id", nid) != 0) {
            json_decref(*orig_id);
            *orig_id = NULL;
            json_decref(m);
            return wr_error(err, WRIT_ENOMEM, "out of memory");
        }
    }
    /* Compact output escapes control characters, so the line has no "\n". */
    *line = json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(m);
    if (!*line) {
        json_decref(*orig_id);
        *orig_id = NULL;
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    }
    return WRIT_OK;
}

bool up_stdio_answer_id(const char *line, size_t len, uint64_t *id, json_t **msg)
{
    *msg = NULL;
    json_t *m = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
    if (!m)
        return false;
    json_t *i = json_object_get(m, "id");
    bool answer = json_is_object(m) && !json_object_get(m, "method") &&
                  (json_object_get(m, "result") || json_object_get(m, "error")) && json_is_integer(i) &&
                  json_integer_value(i) >= 0;
    if (!answer) {
        json_decref(m);
        return false;
    }
    *id = (uint64_t)json_integer_value(i);
    *msg = m;
    return true;
}

char *up_stdio_restore(json_t *msg, json_t *orig_id)
{
    if (json_object_set(msg, "id", orig_id) != 0)
        return NULL;
    return json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY);
}

void up_lines_init(up_lines *l, size_t max)
{
    memset(l, 0, sizeof *l);
    l->max = max;
}

void up_lines_reset(up_lines *l)
{
    l->len = 0;
    l->overflow = false;
}

void up_lines_free(up_lines *l)
{
    wr_free(l->buf);
    memset(l, 0, sizeof *l);
}

bool up_lines_feed(up_lines *l, const char *p, size_t n,
                   void (*on_line)(void *ctx, const char *line, size_t len), void *ctx)
{
    if (l->overflow)
        return false;
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        /* A line may carry one "\r" more than max before its "\n". */
        if (l->len + take > l->max + 1) {
            l->overflow = true;
            l->len = 0;
            return false;
        }
        if (l->len + take > l->cap) {
            size_t cap = l->cap ? l->cap : 4096;
            while (cap < l->len + take)
                cap *= 2;
            char *b = wr_realloc(l->buf, cap);
            if (!b) {
                l->overflow = true;
                l->len = 0;
                return false;
            }
            l->buf = b;
            l->cap = cap;
        }
        if (take) /* an empty line before any byte: buf is still NULL */
            memcpy(l->buf + l->len, p, take);
        l->len += take;
        p += take;
        n -= take;
        if (!nl)
            break;
        p++;
        n--;
        size_t ll = l->len;
        if (ll && l->buf[ll - 1] == '\r')
            ll--;
        if (ll > l->max) {
            l->overflow = true;
            l->len = 0;
            return false;
        }
        l->len = 0;
        if (ll)
            on_line(ctx, l->buf, ll);
    }
    return true;
}
