/* upstream.c - what the HTTP and stdio upstreams share: the request list,
 * cancellation (see upstream_int.h for the locking), the public entry
 * points, and the stdio message helpers (id rewriting, line splitting). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mcp/upstream_int.h"
#include "util/alloc.h"
#include "util/clock.h"
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

/* The upstream whose callback this thread is running (cbmu held), NULL
 * outside callbacks: a cancel from inside a callback must not take cbmu
 * again.  HTTP callbacks may run on a sender's thread too (upstream_http.c
 * drives libcurl from whoever sends), so this is per callback, not per
 * transport thread. */
static _Thread_local mcp_upstream *tl_in_cb;

void up_thread_enter(mcp_upstream *u) { (void)u; }

uint64_t up_now_ms(void) { return wr_mono_ns() / 1000000u; }

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
    tl_in_cb = u;
    return true;
}

static void cb_end(mcp_upstream *u)
{
    tl_in_cb = NULL;
    pthread_mutex_unlock(&u->cbmu);
}

bool up_head(mcp_upstream *u, up_req *r, unsigned status, const char *ct, const char *sid, const char *pv)
{
    if (r->head_sent || !cb_begin(u, r))
        return false;
    r->head_sent = true;
    bool pass = r->cb.on_head && r->cb.on_head(r->arg, status, ct, sid, pv);
    cb_end(u);
    return pass;
}

mcp_up_flow up_data(mcp_upstream *u, up_req *r, const char *p, size_t n)
{
    if (!n || !cb_begin(u, r))
        return MCP_UP_MORE;
    mcp_up_flow f = r->cb.on_data ? r->cb.on_data(r->arg, p, n) : MCP_UP_MORE;
    cb_end(u);
    return f;
}

void up_cut(mcp_upstream *u, up_req *r)
{
    char why[200];
    snprintf(why, sizeof why, "upstream %s: more of its answer unread than the reader may hold (cut)", u->name);
    up_done(u, r, WRIT_ELIMIT, why);
}

void up_too_big(mcp_upstream *u, up_req *r)
{
    char why[200];
    snprintf(why, sizeof why, "upstream %s: answer larger than %zu bytes (cut)", u->name, u->lim.max_answer);
    up_done(u, r, WRIT_ELIMIT, why);
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
    cb_end(u);
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
    /* Inside one of u's callbacks: cbmu is ours already. */
    bool own = tl_in_cb == u;
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

void mcp_upstream_resume(mcp_upstream *u, uint64_t ticket)
{
    if (u && ticket && u->resume_impl)
        u->resume_impl(u, ticket);
}

size_t mcp_upstream_max_answer(const mcp_upstream *u) { return u ? u->lim.max_answer : 0; }

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

uint64_t mcp_upstream_tools_epoch(const mcp_upstream *u)
{
    return u ? atomic_load(&((mcp_upstream *)u)->tools_epoch) : 0;
}

void mcp_upstream_tools_changed(mcp_upstream *u)
{
    if (u)
        atomic_fetch_add(&u->tools_epoch, 1);
}

/* ---- stdio messages ----
 *
 * jansson decides what a message is, but the text passed on is the text
 * received with only the id changed: re-encoding would respell numbers
 * (jansson writes 1.1 as 1.1000000000000001) in arguments and results.  A
 * small scanner finds the span of the top-level "id" value in the (already
 * validated) text; when it cannot say for sure (the key spelled with
 * escapes, or twice) the message is re-encoded instead. */

static size_t sc_ws(const char *p, size_t n, size_t i)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    return i;
}

static size_t sc_str(const char *p, size_t n, size_t i)
{
    for (i++; i < n; i++) {
        if (p[i] == '\\')
            i++;
        else if (p[i] == '"')
            return i + 1;
    }
    return SIZE_MAX;
}

static size_t sc_val(const char *p, size_t n, size_t i)
{
    if (i >= n)
        return SIZE_MAX;
    if (p[i] == '"')
        return sc_str(p, n, i);
    if (p[i] == '{' || p[i] == '[') {
        size_t depth = 0;
        while (i < n) {
            char c = p[i];
            if (c == '"') {
                i = sc_str(p, n, i);
                if (i == SIZE_MAX)
                    return i;
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0)
                return i + 1;
            i++;
        }
        return SIZE_MAX;
    }
    size_t s = i;
    while (i < n && p[i] != ',' && p[i] != '}' && p[i] != ']' && p[i] != ' ' && p[i] != '\t' &&
           p[i] != '\n' && p[i] != '\r')
        i++;
    return i > s ? i : SIZE_MAX;
}

bool up_json_id_span(const char *p, size_t n, size_t *vs, size_t *ve)
{
    size_t i = sc_ws(p, n, 0), found = 0;
    if (i >= n || p[i] != '{')
        return false;
    i = sc_ws(p, n, i + 1);
    if (i < n && p[i] == '}')
        return false;
    for (;;) {
        if (i >= n || p[i] != '"')
            return false;
        size_t ks = i;
        i = sc_str(p, n, i);
        if (i == SIZE_MAX)
            return false;
        bool is_id = i - ks == 4 && memcmp(p + ks, "\"id\"", 4) == 0;
        i = sc_ws(p, n, i);
        if (i >= n || p[i] != ':')
            return false;
        size_t s = sc_ws(p, n, i + 1), e = sc_val(p, n, s);
        if (e == SIZE_MAX)
            return false;
        if (is_id) {
            found++;
            *vs = s;
            *ve = e;
        }
        i = sc_ws(p, n, e);
        if (i < n && p[i] == ',') {
            i = sc_ws(p, n, i + 1);
            continue;
        }
        if (i < n && p[i] == '}')
            break;
        return false;
    }
    return found == 1;
}

/* p[0..vs) + mid + p[ve..n), NUL-terminated, every "\n" and "\r" (only
 * whitespace in valid JSON) made a space: one line. */
static char *splice(const char *p, size_t n, size_t vs, size_t ve, const char *mid, size_t midlen)
{
    size_t len = vs + midlen + (n - ve);
    char *o = wr_malloc(len + 1);
    if (!o)
        return NULL;
    memcpy(o, p, vs);
    memcpy(o + vs, mid, midlen);
    memcpy(o + vs + midlen, p + ve, n - ve);
    o[len] = 0;
    for (size_t i = 0; i < len; i++)
        if (o[i] == '\n' || o[i] == '\r')
            o[i] = ' ';
    return o;
}

/* jansson's text in our allocator. */
static char *dump(json_t *v)
{
    char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    char *o = t ? wr_strndup(t, strlen(t)) : NULL;
    free(t);
    return o;
}

writ_status up_stdio_rewrite(const char *body, size_t len, uint64_t new_id, char **line, up_msg_kind *kind,
                             json_t **orig_id, char **orig_text, bool *is_initialize, writ_error *err)
{
    *line = NULL;
    *orig_id = NULL;
    *orig_text = NULL;
    *is_initialize = false;
    *kind = UP_MSG_NOTIFICATION;
    /* jansson lets a raw NUL byte through after some tokens; JSON has none. */
    const char *nul = memchr(body, 0, len);
    if (nul)
        return wr_error(err, WRIT_EJSON, "stdio upstream: message has a NUL byte (offset %zu)",
                        (size_t)(nul - body));
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
    if (!json_is_string(method)) {
        /* an answer: the process's own requests are never passed to a
         * client (they are dropped), so no client has one to answer, and
         * the one process serves every agent (a forged roots/list answer
         * would widen its roots for all) */
        json_decref(m);
        return wr_error(err, WRIT_EINVAL,
                        "stdio upstream: a client's answer is not passed on (the process's "
                        "requests never reach a client)");
    }
    if (!id || json_is_null(id)) {
        json_decref(m);
        *line = splice(body, len, len, len, "", 0);
        return *line ? WRIT_OK : wr_error(err, WRIT_ENOMEM, "out of memory");
    }
    if (!json_is_string(id) && !json_is_integer(id)) {
        json_decref(m);
        return wr_error(err, WRIT_EJSON, "stdio upstream: request id is neither a string nor an integer");
    }
    *kind = UP_MSG_REQUEST;
    *is_initialize = strcmp(json_string_value(method), "initialize") == 0;
    *orig_id = json_incref(id);
    char num[24];
    int k = snprintf(num, sizeof num, "%" PRIu64, new_id);
    size_t vs, ve;
    if (up_json_id_span(body, len, &vs, &ve)) {
        *line = splice(body, len, vs, ve, num, (size_t)k);
        *orig_text = wr_strndup(body + vs, ve - vs);
    } else {
        json_t *nid = json_integer((json_int_t)new_id);
        if (nid && json_object_set_new(m, "id", nid) == 0)
            *line = dump(m);
        *orig_text = dump(id);
    }
    json_decref(m);
    if (!*line || !*orig_text) {
        wr_free(*line);
        wr_free(*orig_text);
        json_decref(*orig_id);
        *line = *orig_text = NULL;
        *orig_id = NULL;
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    }
    return WRIT_OK;
}

bool up_stdio_answer_id(const char *line, size_t len, uint64_t *id, json_t **msg)
{
    *msg = NULL;
    if (memchr(line, 0, len))
        return false;
    json_t *m = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
    if (!m)
        return false;
    json_t *i = json_object_get(m, "id");
    bool answer = json_is_object(m) && !json_object_get(m, "method") &&
                  (json_object_get(m, "result") || json_object_get(m, "error")) && json_is_integer(i) &&
                  json_integer_value(i) >= 0;
    *msg = m;
    if (answer)
        *id = (uint64_t)json_integer_value(i);
    return answer;
}

/* The answer to the process's request whose id is the text id[0..idn):
 * an empty result (a ping) or error -32601; NULL when out of memory. */
static char *refusal(const char *id, size_t idn, bool ping)
{
    static const char no[] = "\"error\":{\"code\":-32601,\"message\":\"Writ's MCP gateway takes no requests "
                             "from a stdio server: its one process serves every client\"}}\n";
    static const char pong[] = "\"result\":{}}\n";
    const char *tail = ping ? pong : no;
    size_t tn = strlen(tail), n = 22 + idn + 1 + tn;
    char *o = wr_malloc(n + 1);
    if (o) {
        memcpy(o, "{\"jsonrpc\":\"2.0\",\"id\":", 22);
        memcpy(o + 22, id, idn);
        o[22 + idn] = ',';
        memcpy(o + 23 + idn, tail, tn + 1);
    }
    return o;
}

char *up_stdio_refusal(const char *line, size_t len, const json_t *m)
{
    json_t *id = json_object_get(m, "id");
    const char *method = json_string_value(json_object_get(m, "method"));
    size_t vs, ve;
    if (method && (json_is_string(id) || json_is_integer(id)) && up_json_id_span(line, len, &vs, &ve))
        return refusal(line + vs, ve - vs, !strcmp(method, "ping"));
    return NULL;
}

char *up_stdio_refusal_long(const mcp_idscan *scan)
{
    size_t n;
    const char *t = mcp_idscan_request(scan, &n);
    json_t *id = t ? json_loadb(t, n, JSON_DECODE_ANY, NULL) : NULL;
    bool fit = json_is_string(id) || json_is_integer(id);
    json_decref(id);
    return fit ? refusal(t, n, false) : NULL;
}

char *up_stdio_restore(const char *line, size_t len, json_t *msg, const char *id_text)
{
    size_t vs, ve;
    if (up_json_id_span(line, len, &vs, &ve))
        return splice(line, len, vs, ve, id_text, strlen(id_text));
    json_t *id = json_loadb(id_text, strlen(id_text), JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    char *o = id && json_object_set(msg, "id", id) == 0 ? dump(msg) : NULL;
    json_decref(id);
    return o;
}

void up_lines_init(up_lines *l, size_t max)
{
    memset(l, 0, sizeof *l);
    l->max = max;
}

void up_lines_reset(up_lines *l)
{
    l->len = 0;
    l->skipping = false;
    l->longsz = 0;
    l->broken = false;
}

void up_lines_free(up_lines *l)
{
    wr_free(l->buf);
    memset(l, 0, sizeof *l);
}

/* The line is past max: what was kept of it, then p[0..n), goes through
 * the scanner instead. */
static void lines_skip(up_lines *l, const char *p, size_t n)
{
    if (!l->skipping) {
        l->skipping = true;
        mcp_idscan_init(&l->scan);
        mcp_idscan_feed(&l->scan, l->buf, l->len);
        l->longsz = l->len;
        l->len = 0;
    }
    mcp_idscan_feed(&l->scan, p, n);
    l->longsz += n;
}

bool up_lines_feed(up_lines *l, const char *p, size_t n,
                   void (*on_line)(void *ctx, const char *line, size_t len),
                   void (*on_long)(void *ctx, const mcp_idscan *scan, uint64_t len), void *ctx)
{
    if (l->broken)
        return false;
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        /* A line may carry one "\r" more than max before its "\n". */
        if (l->skipping || l->len + take > l->max + 1) {
            lines_skip(l, p, take);
        } else {
            if (l->len + take > l->cap) {
                size_t cap = l->cap ? l->cap : 4096;
                while (cap < l->len + take)
                    cap *= 2;
                char *b = wr_realloc(l->buf, cap);
                if (!b) {
                    l->broken = true;
                    l->len = 0;
                    return false;
                }
                l->buf = b;
                l->cap = cap;
            }
            if (take) /* an empty line before any byte: buf is still NULL */
                memcpy(l->buf + l->len, p, take);
            l->len += take;
        }
        p += take;
        n -= take;
        if (!nl)
            break;
        p++;
        n--;
        size_t ll = l->len;
        if (ll && l->buf[ll - 1] == '\r')
            ll--;
        if (!l->skipping && ll > l->max)
            lines_skip(l, NULL, 0); /* max + 1 bytes, the last no "\r" */
        if (l->skipping) {
            l->skipping = false;
            on_long(ctx, &l->scan, l->longsz);
            l->longsz = 0;
            continue;
        }
        l->len = 0;
        if (ll)
            on_line(ctx, l->buf, ll);
    }
    return true;
}
