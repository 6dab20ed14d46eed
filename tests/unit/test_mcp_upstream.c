/* test_mcp_upstream.c - the MCP gateway's upstream transports against real
 * peers: a Python HTTP server (tests/mcp/http_upstream.py) for Streamable
 * HTTP (JSON, SSE in pieces, idle timeout, closed mid-answer, 404, too
 * large, refused, the headers it received) and a Python JSON-RPC process
 * (tests/mcp/stdio_upstream.py) for stdio (ids restored exactly, concurrent
 * callers, restart with the initialize replayed, a line too long failing
 * its request alone, one that never ends, the process's own messages
 * dropped, answer timeout).  Cancel: no callback
 * after it returns, from another thread or from inside a callback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mcp/upstream.h"

extern char **environ;

/* ---- what the callbacks saw ---- */

typedef struct rec {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int heads, datas, dones;
    unsigned status;
    char ct[128], sid[128], pv[64];
    char *body;
    size_t len;
    double piece_t[64]; /* seconds, when each piece arrived */
    double done_t;
    writ_status st;
    char why[512];
    bool cancel_returned;   /* set right after mcp_upstream_cancel returns */
    int after_cancel;       /* callbacks that ran after that: must stay 0 */
    int order_bad;          /* head after data, anything after done */
    mcp_upstream *cancel_u; /* on_data cancels itself when set */
    uint64_t ticket;
    pthread_t done_thread; /* the thread on_done ran on */
    bool pass;             /* what on_head returns: the answer is passed on (no total cap) */
    mcp_up_flow flow;      /* what on_data returns (MCP_UP_MORE when zeroed) */
    bool pause_first;      /* on_data returns MCP_UP_PAUSE for the first piece */
} rec;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void rec_init(rec *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
}

/* A field read under the lock (a callback may still be running). */
#define GET(r, f) rec_get(&(r)->mu, &(r)->f)
static int rec_get(pthread_mutex_t *mu, const int *f)
{
    pthread_mutex_lock(mu);
    int v = *f;
    pthread_mutex_unlock(mu);
    return v;
}

static void rec_free(rec *r)
{
    pthread_mutex_lock(&r->mu);
    free(r->body);
    r->body = NULL;
    pthread_mutex_unlock(&r->mu);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
}

static bool cb_head(void *arg, unsigned status, const char *ct, const char *sid, const char *pv)
{
    rec *r = arg;
    pthread_mutex_lock(&r->mu);
    if (r->cancel_returned)
        r->after_cancel++;
    if (r->datas || r->dones || r->heads)
        r->order_bad++;
    r->heads++;
    r->status = status;
    snprintf(r->ct, sizeof r->ct, "%s", ct ? ct : "");
    snprintf(r->sid, sizeof r->sid, "%s", sid ? sid : "");
    snprintf(r->pv, sizeof r->pv, "%s", pv ? pv : "");
    bool pass = r->pass;
    pthread_mutex_unlock(&r->mu);
    return pass;
}

static mcp_up_flow cb_data(void *arg, const char *p, size_t n)
{
    rec *r = arg;
    pthread_mutex_lock(&r->mu);
    if (r->cancel_returned)
        r->after_cancel++;
    if (!r->heads || r->dones)
        r->order_bad++;
    if (r->datas < 64)
        r->piece_t[r->datas] = now_s();
    r->datas++;
    r->body = realloc(r->body, r->len + n + 1);
    memcpy(r->body + r->len, p, n);
    r->len += n;
    r->body[r->len] = 0;
    mcp_upstream *cu = r->cancel_u;
    mcp_up_flow f = r->pause_first && r->datas == 1 ? MCP_UP_PAUSE : r->flow;
    pthread_mutex_unlock(&r->mu);
    if (cu) {
        /* Cancel from inside a callback, on the upstream's thread. */
        mcp_upstream_cancel(cu, r->ticket);
        pthread_mutex_lock(&r->mu);
        r->cancel_returned = true;
        pthread_mutex_unlock(&r->mu);
    }
    return f;
}

static void cb_done(void *arg, writ_status st, const char *why)
{
    rec *r = arg;
    pthread_mutex_lock(&r->mu);
    if (r->cancel_returned)
        r->after_cancel++;
    if (r->dones)
        r->order_bad++;
    r->dones++;
    r->st = st;
    r->done_t = now_s();
    r->done_thread = pthread_self();
    snprintf(r->why, sizeof r->why, "%s", why ? why : "");
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static const mcp_up_callbacks CB = {cb_head, cb_data, cb_done};

/* Wait for on_done; false after secs. */
static bool rec_wait(rec *r, double secs)
{
    double end = now_s() + secs;
    pthread_mutex_lock(&r->mu);
    while (!r->dones && now_s() < end) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    }
    bool ok = r->dones == 1;
    pthread_mutex_unlock(&r->mu);
    return ok;
}

static void sleep_ms(long ms) { nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL); }

/* ---- the HTTP peer ---- */

static pid_t http_pid;
static int http_port;
static char base_url[64];

static int http_start(void **state)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_addclose(&fa, p[0]);
    char *argv[] = {"python3", WRIT_SOURCE_DIR "/tests/mcp/http_upstream.py", NULL};
    int rc = posix_spawnp(&http_pid, "python3", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (rc != 0)
        return -1;
    char buf[32] = {0};
    size_t n = 0;
    while (n < sizeof buf - 1 && read(p[0], buf + n, 1) == 1 && buf[n] != '\n')
        n++;
    close(p[0]);
    http_port = atoi(buf);
    snprintf(base_url, sizeof base_url, "http://127.0.0.1:%d", http_port);
    return http_port > 0 ? 0 : -1;
}

static int http_stop(void **state)
{
    if (http_pid > 0) {
        kill(http_pid, SIGTERM);
        waitpid(http_pid, NULL, 0);
    }
    return 0;
}

static mcp_upstream *http_open(const char *path, const mcp_up_limits *lim)
{
    char url[128];
    snprintf(url, sizeof url, "%s%s", base_url, path);
    mcp_upstream *u = NULL;
    writ_error err;
    assert_int_equal(mcp_upstream_http_open("peer", url, lim, &u, &err), WRIT_OK);
    assert_false(mcp_upstream_is_stdio(u));
    assert_string_equal(mcp_upstream_name(u), "peer");
    return u;
}

static void post(mcp_upstream *u, rec *r, const char *body)
{
    mcp_up_request rq = {.body = body, .len = strlen(body)};
    assert_int_equal(mcp_upstream_send(u, &rq, &CB, r, &r->ticket), WRIT_OK);
    assert_true(r->ticket != 0);
}

static void test_http_json_and_headers(void **state)
{
    /* A proxy in the environment is not used. */
    setenv("http_proxy", "http://127.0.0.1:1", 1);
    setenv("HTTP_PROXY", "http://127.0.0.1:1", 1);
    mcp_upstream *u = http_open("/json", NULL);
    rec r;
    rec_init(&r);
    const char *extra[] = {"X-Upstream-Key: s3cret", "X-Second: two"};
    const char *body = "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\"}";
    mcp_up_request rq = {.body = body,
                         .len = strlen(body),
                         .session_id = "sess-1",
                         .protocol_version = "2025-11-25",
                         .headers = extra,
                         .nheaders = 2};
    assert_int_equal(mcp_upstream_send(u, &rq, &CB, &r, &r.ticket), WRIT_OK);
    assert_true(rec_wait(&r, 5));
    assert_int_equal(r.st, WRIT_OK);
    assert_int_equal(r.heads, 1);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ct, "application/json");
    assert_string_equal(r.sid, "s-123");
    assert_string_equal(r.pv, "2025-11-25");
    assert_int_equal(r.order_bad, 0);
    json_t *a = json_loadb(r.body, r.len, 0, NULL);
    assert_non_null(a);
    json_t *res = json_object_get(a, "result"), *h = json_object_get(res, "headers");
    assert_string_equal(json_string_value(json_object_get(res, "method")), "POST");
    assert_string_equal(json_string_value(json_object_get(res, "body")), body);
    assert_string_equal(json_string_value(json_object_get(h, "mcp-session-id")), "sess-1");
    assert_string_equal(json_string_value(json_object_get(h, "mcp-protocol-version")), "2025-11-25");
    assert_string_equal(json_string_value(json_object_get(h, "x-upstream-key")), "s3cret");
    assert_string_equal(json_string_value(json_object_get(h, "x-second")), "two");
    assert_string_equal(json_string_value(json_object_get(h, "content-type")), "application/json");
    assert_string_equal(json_string_value(json_object_get(h, "accept")),
                        "application/json, text/event-stream");
    char host[64];
    snprintf(host, sizeof host, "127.0.0.1:%d", http_port);
    assert_string_equal(json_string_value(json_object_get(h, "host")), host);
    assert_null(json_object_get(h, "expect"));
    assert_null(json_object_get(h, "accept-encoding"));
    json_decref(a);
    rec_free(&r);

    /* Without session headers none are sent; a header line with CR/LF is refused. */
    rec_init(&r);
    post(u, &r, "{}");
    assert_true(rec_wait(&r, 5));
    a = json_loadb(r.body, r.len, 0, NULL);
    h = json_object_get(json_object_get(a, "result"), "headers");
    assert_null(json_object_get(h, "mcp-session-id"));
    assert_null(json_object_get(h, "mcp-protocol-version"));
    json_decref(a);
    rec_free(&r);
    const char *bad[] = {"X-Evil: a\r\nHost: evil"};
    mcp_up_request rb = {.body = "{}", .len = 2, .headers = bad, .nheaders = 1};
    uint64_t t = 99;
    assert_int_equal(mcp_upstream_send(u, &rb, &CB, &r, &t), WRIT_EINVAL);
    assert_int_equal(t, 0);
    mcp_up_request rs = {.body = "{}", .len = 2, .session_id = "a\nb"};
    assert_int_equal(mcp_upstream_send(u, &rs, &CB, &r, &t), WRIT_EINVAL);
    mcp_up_request rl = {.method = "GET", .last_event_id = "1\r\nHost: evil"};
    assert_int_equal(mcp_upstream_send(u, &rl, &CB, &r, &t), WRIT_EINVAL);
    mcp_up_request rm = {.method = "PUT", .body = "{}", .len = 2};
    assert_int_equal(mcp_upstream_send(u, &rm, &CB, &r, &t), WRIT_EINVAL);
    mcp_upstream_close(u);
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
}

static void test_http_get_delete(void **state)
{
    mcp_upstream *u = http_open("/json", NULL);
    const char *methods[] = {"GET", "DELETE"};
    for (int i = 0; i < 2; i++) {
        rec r;
        rec_init(&r);
        /* a GET resuming a stream carries the client's Last-Event-ID */
        mcp_up_request rq = {.method = methods[i],
                             .session_id = "s-9",
                             .accept = "text/event-stream",
                             .last_event_id = i == 0 ? "stream-1_42" : NULL};
        assert_int_equal(mcp_upstream_send(u, &rq, &CB, &r, &r.ticket), WRIT_OK);
        assert_true(rec_wait(&r, 5));
        assert_int_equal(r.st, WRIT_OK);
        json_t *a = json_loadb(r.body, r.len, 0, NULL);
        json_t *res = json_object_get(a, "result"), *h = json_object_get(res, "headers");
        assert_string_equal(json_string_value(json_object_get(res, "method")), methods[i]);
        assert_string_equal(json_string_value(json_object_get(h, "accept")), "text/event-stream");
        assert_string_equal(json_string_value(json_object_get(h, "mcp-session-id")), "s-9");
        if (i == 0)
            assert_string_equal(json_string_value(json_object_get(h, "last-event-id")), "stream-1_42");
        else
            assert_null(json_object_get(h, "last-event-id"));
        assert_null(json_object_get(h, "content-type"));
        json_decref(a);
        rec_free(&r);
    }
    mcp_upstream_close(u);
}

static void test_http_sse_in_pieces(void **state)
{
    mcp_upstream *u = http_open("/sse", NULL);
    rec r;
    rec_init(&r);
    double t0 = now_s();
    post(u, &r, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\"}");
    assert_true(rec_wait(&r, 5));
    assert_int_equal(r.st, WRIT_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ct, "text/event-stream");
    assert_string_equal(r.sid, "s-sse");
    assert_string_equal(r.body, "id: p0\ndata:\n\n"
                                "event: message\ndata: {\"n\":0}\n\n"
                                "event: message\ndata: {\"n\":1}\n\n"
                                "event: message\ndata: {\"n\":2}\n\n");
    /* Four writes 300 ms apart: four pieces, the first long before the end. */
    assert_true(r.datas >= 4);
    assert_true(r.piece_t[0] - t0 < 0.25);
    assert_true(r.done_t - r.piece_t[0] > 0.7);
    assert_true(r.piece_t[1] - r.piece_t[0] > 0.2);
    assert_int_equal(r.order_bad, 0);
    rec_free(&r);
    mcp_upstream_close(u);
}

/* A lone request whose sender waits for the answer itself (wait_here):
 * the answer's callbacks run on the sender's thread, inside the send, when
 * the answer comes within the wait; a slower one (an SSE stream) is left to
 * the upstream's thread after at most a few milliseconds, piece by piece as
 * before; a hanging one too, and a cancel then stops it. */
static void test_http_wait_here(void **state)
{
    mcp_upstream *u = http_open("/json", NULL);
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_true(efd >= 0);
    const char *body = "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\"}";
    int here = 0;
    for (int i = 0; i < 20; i++) {
        rec r;
        rec_init(&r);
        mcp_up_request rq = {.body = body, .len = strlen(body), .wait_here = true, .wait_fd = efd};
        assert_int_equal(mcp_upstream_send(u, &rq, &CB, &r, &r.ticket), WRIT_OK);
        assert_true(rec_wait(&r, 5));
        assert_int_equal(r.st, WRIT_OK);
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(r.body, "\"method\": \"POST\""));
        assert_int_equal(r.order_bad, 0);
        here += pthread_equal(r.done_thread, pthread_self()) != 0;
        rec_free(&r);
    }
    /* a local answer comes well within the wait: most are read here (a
     * loaded machine may be slower for some) */
    assert_true(here >= 1);
    mcp_upstream_close(u);

    u = http_open("/sse", NULL);
    rec r;
    rec_init(&r);
    mcp_up_request rq = {.body = body, .len = strlen(body), .wait_here = true, .wait_fd = efd};
    double t0 = now_s();
    assert_int_equal(mcp_upstream_send(u, &rq, &CB, &r, &r.ticket), WRIT_OK);
    assert_true(now_s() - t0 < 0.25); /* not held until the end (0.9 s) */
    assert_int_equal(GET(&r, dones), 0);
    assert_true(rec_wait(&r, 5));
    assert_int_equal(r.st, WRIT_OK);
    assert_true(r.datas >= 4);
    assert_true(r.piece_t[1] - r.piece_t[0] > 0.2); /* still streamed */
    assert_false(pthread_equal(r.done_thread, pthread_self()));
    assert_int_equal(r.order_bad, 0);
    rec_free(&r);
    mcp_upstream_close(u);

    /* the sender's own work ends the wait at once: a hanging upstream */
    uint64_t one = 1;
    assert_int_equal(write(efd, &one, sizeof one), (ssize_t)sizeof one);
    u = http_open("/hang", NULL);
    rec_init(&r);
    t0 = now_s();
    assert_int_equal(mcp_upstream_send(u, &rq, &CB, &r, &r.ticket), WRIT_OK);
    assert_true(now_s() - t0 < 0.25);
    mcp_upstream_cancel(u, r.ticket);
    pthread_mutex_lock(&r.mu);
    r.cancel_returned = true;
    pthread_mutex_unlock(&r.mu);
    sleep_ms(50);
    assert_int_equal(GET(&r, after_cancel), 0);
    assert_int_equal(GET(&r, dones), 0);
    rec_free(&r);
    mcp_upstream_close(u);
    close(efd);
}

static void test_http_errors(void **state)
{
    mcp_up_limits lim = {.idle_ms = 400, .max_answer = 1000};
    struct {
        const char *path;
        int heads;
        writ_status st;
        const char *why;
    } cases[] = {
        {"/hang", 1, WRIT_EIO, "idle timeout"},
        {"/hang_head", 0, WRIT_EIO, "idle timeout"},
        {"/close", 1, WRIT_EIO, "closed mid-answer"},
        {"/big", 1, WRIT_ELIMIT, "answer larger than 1000 bytes"},
        {"/404", 1, WRIT_OK, ""},
        {"/redirect", 1, WRIT_OK, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mcp_upstream *u = http_open(cases[i].path, &lim);
        rec r;
        rec_init(&r);
        double t0 = now_s();
        post(u, &r, "{}");
        assert_true(rec_wait(&r, 5));
        if (r.st != cases[i].st || r.heads != cases[i].heads || !strstr(r.why, cases[i].why))
            fail_msg("%s: st %d heads %d why '%s'", cases[i].path, r.st, r.heads, r.why);
        assert_int_equal(r.order_bad, 0);
        if (!strcmp(cases[i].path, "/404")) {
            assert_int_equal(r.status, 404);
            assert_string_equal(r.body, "{\"error\":\"no such endpoint\"}");
        }
        if (!strcmp(cases[i].path, "/redirect")) {
            assert_int_equal(r.status, 302);
            assert_string_equal(r.body, "moved");
        }
        if (!strcmp(cases[i].path, "/big"))
            assert_true(r.len <= 1000);
        if (strstr(cases[i].path, "hang"))
            assert_true(now_s() - t0 < 2.0);
        rec_free(&r);
        mcp_upstream_close(u);
    }
}

/* Flow control: a reader that is behind pauses the transfer (nothing more
 * reaches it, and the upstream waiting for us is no idle upstream, however
 * long); resumed, it gets the rest.  An answer passed on (on_head true: a
 * stream) has no total cap; a reader that holds too much cuts it. */
static void test_http_pause(void **state)
{
    mcp_up_limits lim = {.idle_ms = 400, .max_answer = 1000};
    mcp_upstream *u = http_open("/sse", &lim);
    rec r;
    rec_init(&r);
    r.pause_first = true;
    r.pass = true;
    post(u, &r, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\"}");
    sleep_ms(1500); /* the other three events are written meanwhile */
    assert_int_equal(GET(&r, datas), 1);
    assert_int_equal(GET(&r, dones), 0);
    pthread_mutex_lock(&r.mu);
    assert_string_equal(r.body, "id: p0\ndata:\n\n");
    pthread_mutex_unlock(&r.mu);
    mcp_upstream_resume(u, r.ticket);
    assert_true(rec_wait(&r, 5));
    assert_int_equal(r.st, WRIT_OK);
    assert_string_equal(r.body, "id: p0\ndata:\n\n"
                                "event: message\ndata: {\"n\":0}\n\n"
                                "event: message\ndata: {\"n\":1}\n\n"
                                "event: message\ndata: {\"n\":2}\n\n");
    assert_int_equal(r.order_bad, 0);
    mcp_upstream_resume(u, r.ticket); /* finished: ignored */
    rec_free(&r);
    mcp_upstream_close(u);

    u = http_open("/big", &lim); /* 100001 bytes, max_answer 1000 */
    rec_init(&r);
    r.pass = true;
    post(u, &r, "{}");
    assert_true(rec_wait(&r, 5));
    assert_int_equal(r.st, WRIT_OK);
    assert_int_equal(r.len, 100001);
    rec_free(&r);
    rec_init(&r);
    r.pass = true;
    r.flow = MCP_UP_CUT;
    post(u, &r, "{}");
    assert_true(rec_wait(&r, 5));
    assert_int_equal(r.st, WRIT_ELIMIT);
    assert_non_null(strstr(r.why, "unread"));
    assert_int_equal(r.datas, 1);
    rec_free(&r);
    mcp_upstream_close(u);
}

static void test_http_refused_and_bad_urls(void **state)
{
    /* A port nothing listens on: bind one, note it, close it. */
    mcp_upstream *u = NULL;
    writ_error err;
    assert_int_not_equal(mcp_upstream_http_open("x", "ftp://127.0.0.1/", NULL, &u, &err), WRIT_OK);
    assert_null(u);
    assert_int_not_equal(mcp_upstream_http_open("x", "file:///etc/passwd", NULL, &u, &err), WRIT_OK);
    assert_int_not_equal(mcp_upstream_http_open("x", "http://a b/", NULL, &u, &err), WRIT_OK);
    assert_int_not_equal(mcp_upstream_http_open("x", NULL, NULL, &u, &err), WRIT_OK);
    assert_int_equal(mcp_upstream_http_open("x", "http://127.0.0.1:1/mcp", NULL, &u, &err), WRIT_OK);
    rec r;
    rec_init(&r);
    post(u, &r, "{}");
    assert_true(rec_wait(&r, 5));
    assert_int_equal(r.st, WRIT_EIO);
    assert_int_equal(r.heads, 0);
    assert_non_null(strstr(r.why, "upstream x:"));
    rec_free(&r);
    mcp_upstream_close(u);
    mcp_upstream_close(NULL);
}

/* A listening socket that never accepts, its queue filled: a connection
 * to it is never completed, so libcurl's connect timeout ends the request. */
static void test_http_connect_timeout(void **state)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(ls, 0), 0);
    socklen_t al = sizeof a;
    getsockname(ls, (struct sockaddr *)&a, &al);
    int fill[4];
    for (int i = 0; i < 4; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (connect(fill[i], (struct sockaddr *)&a, sizeof a) != 0) {
            /* EINPROGRESS: the queue is full already */
        }
    }
    sleep_ms(100);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/mcp", ntohs(a.sin_port));
    mcp_up_limits lim = {.connect_ms = 300, .idle_ms = 5000};
    mcp_upstream *u = NULL;
    writ_error err;
    assert_int_equal(mcp_upstream_http_open("slow", url, &lim, &u, &err), WRIT_OK);
    rec r;
    rec_init(&r);
    double t0 = now_s();
    post(u, &r, "{}");
    assert_true(rec_wait(&r, 5));
    assert_int_equal(r.st, WRIT_EIO);
    assert_int_equal(r.heads, 0);
    if (!strstr(r.why, "connect timeout"))
        fail_msg("why: %s", r.why);
    assert_true(now_s() - t0 < 2.0);
    rec_free(&r);
    mcp_upstream_close(u);
    for (int i = 0; i < 4; i++)
        close(fill[i]);
    close(ls);
}

static void test_http_cancel(void **state)
{
    mcp_upstream *u = http_open("/sse", NULL);
    /* From another thread, mid-stream. */
    rec r;
    rec_init(&r);
    post(u, &r, "{}");
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&r.mu);
        int d = r.datas;
        pthread_mutex_unlock(&r.mu);
        if (d >= 2)
            break;
        sleep_ms(5);
    }
    mcp_upstream_cancel(u, r.ticket);
    pthread_mutex_lock(&r.mu);
    r.cancel_returned = true;
    int datas = r.datas;
    pthread_mutex_unlock(&r.mu);
    assert_true(datas >= 2);
    sleep_ms(1200);
    assert_int_equal(r.after_cancel, 0);
    assert_int_equal(r.dones, 0);
    mcp_upstream_cancel(u, r.ticket);  /* finished ticket: ignored */
    mcp_upstream_cancel(u, 123456789); /* unknown ticket: ignored */
    rec_free(&r);

    /* From inside on_data, on the upstream's thread. */
    rec_init(&r);
    r.cancel_u = u;
    post(u, &r, "{}");
    sleep_ms(1200);
    assert_int_equal(GET(&r, datas), 1);
    assert_int_equal(GET(&r, after_cancel), 0);
    assert_int_equal(GET(&r, dones), 0);
    rec_free(&r);

    /* Many cancelled at random moments, then the upstream still works. */
    rec rs[16];
    for (int i = 0; i < 16; i++) {
        rec_init(&rs[i]);
        post(u, &rs[i], "{}");
    }
    for (int i = 0; i < 16; i++) {
        sleep_ms(i * 7);
        mcp_upstream_cancel(u, rs[i].ticket);
        pthread_mutex_lock(&rs[i].mu);
        rs[i].cancel_returned = true;
        pthread_mutex_unlock(&rs[i].mu);
    }
    sleep_ms(300);
    for (int i = 0; i < 16; i++) {
        assert_int_equal(GET(&rs[i], after_cancel), 0);
        rec_free(&rs[i]);
    }
    rec_init(&r);
    post(u, &r, "{}");
    assert_true(rec_wait(&r, 5));
    assert_int_equal(r.st, WRIT_OK);
    rec_free(&r);

    /* Closed with requests in flight: no callback after close returns. */
    rec_init(&r);
    post(u, &r, "{}");
    sleep_ms(100);
    mcp_upstream_close(u);
    pthread_mutex_lock(&r.mu);
    r.cancel_returned = true;
    pthread_mutex_unlock(&r.mu);
    assert_int_equal(r.dones, 0);
    rec_free(&r);
}

typedef struct worker {
    mcp_upstream *u;
    int n, id, bad;
    bool stdio;
} worker;

/* n requests one after the other, each id the thread's own, each answer
 * checked against what this thread sent. */
static void *worker_run(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < w->n; i++) {
        char body[160];
        if (w->stdio)
            snprintf(body, sizeof body,
                     "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"echo\",\"params\":{\"who\":%d,\"i\":%d}}",
                     i, w->id, i);
        else
            snprintf(body, sizeof body, "{\"who\":%d,\"i\":%d}", w->id, i);
        rec r;
        rec_init(&r);
        mcp_up_request rq = {.body = body, .len = strlen(body)};
        if (mcp_upstream_send(w->u, &rq, &CB, &r, &r.ticket) != WRIT_OK || !rec_wait(&r, 10) ||
            r.st != WRIT_OK) {
            w->bad++;
            rec_free(&r);
            continue;
        }
        json_t *a = json_loadb(r.body ? r.body : "", r.len, 0, NULL);
        json_t *res = json_object_get(a, "result");
        if (w->stdio) {
            json_t *p = json_object_get(res, "params");
            if (json_integer_value(json_object_get(a, "id")) != i ||
                !json_is_integer(json_object_get(a, "id")) ||
                json_integer_value(json_object_get(p, "who")) != w->id ||
                json_integer_value(json_object_get(p, "i")) != i)
                w->bad++;
        } else if (strcmp(json_string_value(json_object_get(res, "body"))
                              ? json_string_value(json_object_get(res, "body"))
                              : "",
                          body)) {
            w->bad++;
        }
        json_decref(a);
        rec_free(&r);
    }
    return NULL;
}

static void run_workers(mcp_upstream *u, bool stdio, int threads, int n)
{
    pthread_t t[8];
    worker w[8];
    for (int i = 0; i < threads; i++) {
        w[i] = (worker){.u = u, .n = n, .id = i, .stdio = stdio};
        pthread_create(&t[i], NULL, worker_run, &w[i]);
    }
    int bad = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        bad += w[i].bad;
    }
    assert_int_equal(bad, 0);
}

static void test_http_concurrent(void **state)
{
    mcp_upstream *u = http_open("/json", NULL);
    run_workers(u, false, 8, 25);
    mcp_upstream_close(u);
}

/* Rounds of 16 requests at once: the connections of the first round are
 * kept and used again.  (libcurl's default keeps four idle connections per
 * transfer in flight when one ends, so as a round's last transfers ended it
 * closed connections that the next round opened again.) */
static void test_http_keeps_connections(void **state)
{
    enum { N = 16, ROUNDS = 4 };
    mcp_upstream *u = http_open("/json", NULL);
    int ports[N * ROUNDS], nports = 0;
    for (int round = 0; round < ROUNDS; round++) {
        rec r[N];
        for (int i = 0; i < N; i++) {
            rec_init(&r[i]);
            mcp_up_request rq = {.body = "{}", .len = 2};
            assert_int_equal(mcp_upstream_send(u, &rq, &CB, &r[i], &r[i].ticket), WRIT_OK);
        }
        for (int i = 0; i < N; i++) {
            assert_true(rec_wait(&r[i], 10));
            assert_int_equal(r[i].st, WRIT_OK);
            json_t *a = json_loadb(r[i].body ? r[i].body : "", r[i].len, 0, NULL);
            int port = (int)json_integer_value(json_object_get(json_object_get(a, "result"), "peer_port"));
            json_decref(a);
            assert_true(port > 0);
            bool seen = false;
            for (int k = 0; k < nports; k++)
                seen |= ports[k] == port;
            if (!seen)
                ports[nports++] = port;
            rec_free(&r[i]);
        }
    }
    if (nports > N)
        fail_msg("%d connections for %d rounds of %d requests at once: closed and opened again", nports, ROUNDS,
                 N);
    mcp_upstream_close(u);
}

/* ---- the stdio peer ---- */

static char stdio_log[64];
static void log_find(const char *word, const char *start, char *out, size_t n);

static mcp_upstream *stdio_open(const mcp_up_limits *lim)
{
    snprintf(stdio_log, sizeof stdio_log, "/tmp/writ_mcp_stdio_%d.log", (int)getpid());
    unlink(stdio_log);
    const char *argv[] = {"python3", WRIT_SOURCE_DIR "/tests/mcp/stdio_upstream.py", stdio_log, NULL};
    mcp_upstream *u = NULL;
    writ_error err;
    if (mcp_upstream_stdio_open("local", argv, lim, &u, &err) != WRIT_OK)
        fail_msg("stdio open: %s", err.msg);
    assert_true(mcp_upstream_is_stdio(u));
    assert_int_equal(mcp_upstream_starts(u), 1);
    return u;
}

/* The answer's text to body (which must succeed). */
static json_t *call(mcp_upstream *u, const char *body, rec *r)
{
    rec_init(r);
    post(u, r, body);
    assert_true(rec_wait(r, 10));
    if (r->st != WRIT_OK)
        fail_msg("call %s: %s", body, r->why);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->ct, "application/json");
    json_t *a = json_loadb(r->body, r->len, 0, NULL);
    assert_non_null(a);
    return a;
}

static int log_count(const char *method)
{
    FILE *f = fopen(stdio_log, "r");
    if (!f)
        return 0;
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char *sp = strchr(line, ' ');
        line[strcspn(line, "\n")] = 0;
        if (sp && !strcmp(sp + 1, method))
            n++;
    }
    fclose(f);
    return n;
}

static void test_stdio_ids_restored(void **state)
{
    mcp_upstream *u = stdio_open(NULL);
    const char *ids[] = {"\"abc\"", "42", "0", "-5", "9007199254740993", "\"1\"", "\"\\u00e9\\n\""};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char body[200], want[64];
        snprintf(body, sizeof body,
                 "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"echo\",\"params\":{\"k\":%zu}}", ids[i], i);
        rec r;
        json_t *a = call(u, body, &r);
        json_t *id = json_loadb(ids[i], strlen(ids[i]), JSON_DECODE_ANY, NULL);
        assert_true(json_equal(json_object_get(a, "id"), id));
        assert_int_equal(
            json_integer_value(json_object_get(json_object_get(json_object_get(a, "result"), "params"), "k")),
            (json_int_t)i);
        /* The id in the answer is the caller's text byte for byte (escapes
         * kept), in the process's own layout ("id": with a space). */
        snprintf(want, sizeof want, "\"id\": %s,", ids[i]);
        assert_non_null(strstr(r.body, want));
        json_decref(id);
        json_decref(a);
        assert_int_equal(r.heads, 1);
        assert_int_equal(r.datas, 1);
        rec_free(&r);
    }
    /* Nothing but the id is re-encoded: numbers keep their spelling both
     * ways (jansson would write 1.1 as 1.1000000000000001), and a request
     * spread over several lines is sent as one. */
    {
        rec r;
        json_t *a = call(
            u, "{\"jsonrpc\":\"2.0\",\n \"id\":\"n\",\r\n \"method\":\"echo\",\"params\":{\"x\":1.1}}", &r);
        assert_non_null(strstr(r.body, "{\"x\": 1.1}"));
        assert_null(strstr(r.body, "1.10"));
        assert_string_equal(json_string_value(json_object_get(a, "id")), "n");
        json_decref(a);
        rec_free(&r);
    }
    /* A notification: 202, no body, done right after it is written. */
    rec r;
    rec_init(&r);
    post(u, &r, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{}}");
    assert_true(rec_wait(&r, 5));
    assert_int_equal(r.st, WRIT_OK);
    assert_int_equal(r.status, 202);
    assert_int_equal(r.datas, 0);
    rec_free(&r);
    /* Refused before anything is sent: not JSON, an array, a bad id, GET, DELETE. */
    uint64_t t;
    /* ... and answers: the process's requests never reach a client */
    const char *bad[] = {"{",
                         "[1]",
                         "{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"x\"}",
                         "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"x\"}",
                         "{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{\"roots\":[{\"uri\":\"file:///\"}]}}",
                         "{\"jsonrpc\":\"2.0\",\"id\":0,\"error\":{\"code\":1,\"message\":\"m\"}}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mcp_up_request rq = {.body = bad[i], .len = strlen(bad[i])};
        assert_int_not_equal(mcp_upstream_send(u, &rq, &CB, &r, &t), WRIT_OK);
    }
    mcp_up_request g = {.method = "GET"}, d = {.method = "DELETE"};
    assert_int_equal(mcp_upstream_send(u, &g, &CB, &r, &t), WRIT_EINVAL);
    assert_int_equal(mcp_upstream_send(u, &d, &CB, &r, &t), WRIT_EINVAL);
    /* The process's own messages (a notification, a request reusing our
     * wire id, a ping) are not taken for answers, and the answer still
     * matched; its requests are answered: the ping with a result, the other
     * with -32601 (no client can be asked on behalf of a shared process). */
    json_t *a = call(u, "{\"jsonrpc\":\"2.0\",\"id\":\"c\",\"method\":\"chatty\"}", &r);
    assert_string_equal(json_string_value(json_object_get(a, "id")), "c");
    assert_non_null(json_object_get(a, "result"));
    json_decref(a);
    rec_free(&r);
    assert_true(mcp_upstream_stdio_dropped(u) >= 3);
    assert_int_equal(mcp_upstream_tools_epoch(u), 0); /* a notification, not that its tools changed */
    /* notifications/tools/list_changed counts as the upstream's tools_epoch
     * (the gateway's cue to forget what it knew of the tools); a request of
     * that name or a longer name does not */
    a = call(u, "{\"jsonrpc\":\"2.0\",\"id\":\"t\",\"method\":\"changed\"}", &r);
    assert_non_null(json_object_get(a, "result"));
    json_decref(a);
    rec_free(&r);
    assert_int_equal(mcp_upstream_tools_epoch(u), 1);
    /* the answers are written before anything sent after: once this call is
     * answered, the process has read them */
    a = call(u, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\"}", &r);
    assert_non_null(json_object_get(a, "result"));
    json_decref(a);
    rec_free(&r);
    char wire[32], got[32];
    log_find("wire", "chatty", wire, sizeof wire);
    assert_true(wire[0] != '\0');
    log_find("answer", wire, got, sizeof got);
    assert_string_equal(got, "-32601");
    log_find("answer", "\"p1\"", got, sizeof got);
    assert_string_equal(got, "result");
    assert_int_equal(mcp_upstream_starts(u), 1);
    mcp_upstream_close(u);
    unlink(stdio_log);
}

/* The log's line "PID WORD REST" whose WORD and start of REST match, its
 * REST's last token (or "" when none). */
static void log_find(const char *word, const char *start, char *out, size_t n)
{
    out[0] = '\0';
    FILE *f = fopen(stdio_log, "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *w = strchr(line, ' ');
        if (!w || strncmp(w + 1, word, strlen(word)) || w[1 + strlen(word)] != ' ')
            continue;
        char *rest = w + 2 + strlen(word);
        if (strncmp(rest, start, strlen(start)))
            continue;
        char *last = strrchr(rest, ' ');
        snprintf(out, n, "%s", last ? last + 1 : rest);
    }
    if (f)
        fclose(f);
}

/* A cancel names the sender's own request, or nothing: one owner never
 * cancels another's call, though the process sees both (and Writ's ids). */
static void test_stdio_cancel_owned(void **state)
{
    (void)state;
    mcp_upstream *u = stdio_open(NULL);
    rec slow;
    rec_init(&slow);
    const char *sb = "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"slow\",\"params\":{\"ms\":400}}";
    mcp_up_request rq = {.body = sb, .len = strlen(sb), .owner = "agent-a"};
    assert_int_equal(mcp_upstream_send(u, &rq, &CB, &slow, &slow.ticket), WRIT_OK);
    const char *cancel =
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":7}}";
    const char *owners[] = {"agent-b", NULL, "agent-a"};
    for (size_t i = 0; i < 3; i++) {
        rec r;
        rec_init(&r);
        mcp_up_request c = {.body = cancel, .len = strlen(cancel), .owner = owners[i]};
        assert_int_equal(mcp_upstream_send(u, &c, &CB, &r, &r.ticket), WRIT_OK);
        assert_true(rec_wait(&r, 10));
        assert_int_equal(r.status, 202);
        rec_free(&r);
    }
    assert_true(rec_wait(&slow, 10));
    assert_int_equal(slow.st, WRIT_OK);
    assert_non_null(strstr(slow.body, "\"id\": 7"));
    rec_free(&slow);
    /* The process reads one message at a time: once a later request is
     * answered, it has logged every cancel sent before it. */
    rec e;
    json_decref(call(u, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"echo\"}", &e));
    rec_free(&e);
    char wire[64], got[128];
    log_find("wire", "slow ", wire, sizeof wire);
    assert_true(wire[0] >= '1' && wire[0] <= '9'); /* Writ's id for it, not 7 */
    int n = 0;
    FILE *f = fopen(stdio_log, "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *w = strchr(line, ' ');
        if (!w || strncmp(w + 1, "cancel ", 7))
            continue;
        snprintf(got, sizeof got, "%s", w + 8);
        if (n < 2) /* agent-b's and the ownerless one: no request of theirs */
            assert_non_null(strstr(got, "no request of this client"));
        else /* agent-a's: its request, by Writ's id */
            assert_string_equal(got, wire);
        n++;
    }
    if (f)
        fclose(f);
    assert_int_equal(n, 3);
    mcp_upstream_close(u);
    unlink(stdio_log);
}

static void test_stdio_concurrent(void **state)
{
    mcp_upstream *u = stdio_open(NULL);
    run_workers(u, true, 6, 40);
    assert_int_equal(mcp_upstream_starts(u), 1);
    mcp_upstream_close(u);
    unlink(stdio_log);
}

static void test_stdio_restart(void **state)
{
    mcp_up_limits lim = {.restart_ms = 100};
    mcp_upstream *u = stdio_open(&lim);
    rec r;
    json_t *a =
        call(u, "{\"jsonrpc\":\"2.0\",\"id\":\"init-1\",\"method\":\"initialize\",\"params\":{\"c\":1}}", &r);
    json_int_t pid1 = json_integer_value(json_object_get(json_object_get(a, "result"), "pid"));
    json_decref(a);
    rec_free(&r);
    rec_init(&r);
    post(u, &r, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    assert_true(rec_wait(&r, 5));
    rec_free(&r);
    /* The process exits: the request in flight fails, saying why. */
    rec_init(&r);
    post(u, &r, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"exit\"}");
    assert_true(rec_wait(&r, 5));
    assert_int_equal(r.st, WRIT_EIO);
    assert_int_equal(r.heads, 0);
    assert_non_null(strstr(r.why, "exited with status 3"));
    rec_free(&r);
    sleep_ms(1000);
    assert_int_equal(mcp_upstream_starts(u), 2);
    a = call(u, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"echo\",\"params\":{}}", &r);
    json_int_t pid2 = json_integer_value(json_object_get(json_object_get(a, "result"), "pid"));
    assert_int_equal(json_integer_value(json_object_get(a, "id")), 6);
    assert_true(pid2 != pid1 && pid2 > 0);
    json_decref(a);
    rec_free(&r);
    /* The new process was initialized again, before the echo. */
    assert_int_equal(log_count("initialize"), 2);
    assert_int_equal(log_count("notifications/initialized"), 2);
    /* A request sent right after a crash waits for the restart. */
    rec_init(&r);
    post(u, &r, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"exit\"}");
    rec r2;
    rec_init(&r2);
    assert_true(rec_wait(&r, 5));
    post(u, &r2, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"echo\"}");
    assert_true(rec_wait(&r2, 5));
    assert_int_equal(r2.st, WRIT_OK);
    assert_int_equal(mcp_upstream_starts(u), 3);
    assert_int_equal(log_count("initialize"), 3);
    rec_free(&r);
    rec_free(&r2);
    mcp_upstream_close(u);
    unlink(stdio_log);
}

static void test_stdio_long_line_and_timeouts(void **state)
{
    /* idle_ms also bounds a restarted upstream's first answer (python's
     * start on a loaded machine: seen over 1 s while other tests ran) */
    mcp_up_limits lim = {.max_answer = 1000, .restart_ms = 50, .idle_ms = 2500};
    mcp_upstream *u = stdio_open(&lim);
    rec r;
    /* 900 bytes: under the limit; the noise line is dropped. */
    json_t *a = call(u, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"long\",\"params\":{\"n\":900}}", &r);
    json_decref(a);
    rec_free(&r);
    assert_int_equal(mcp_upstream_starts(u), 1);
    /* 5000 bytes of noise (no id): dropped and counted, not kept; the
     * process goes on and the answer after it arrives. */
    uint64_t dropped = mcp_upstream_stdio_dropped(u);
    a = call(u, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"long\",\"params\":{\"n\":5000}}", &r);
    assert_int_equal(json_integer_value(json_object_get(a, "id")), 2);
    json_decref(a);
    rec_free(&r);
    assert_int_equal(mcp_upstream_stdio_dropped(u), dropped + 1);
    /* An answer of 5000 bytes: that request alone fails, naming the limit
     * as an HTTP upstream does; the one written after it (in flight while
     * the long line passes) is answered, by the same process. */
    rec big, next;
    rec_init(&big);
    rec_init(&next);
    post(u, &big, "{\"jsonrpc\":\"2.0\",\"id\":\"b\",\"method\":\"big\",\"params\":{\"n\":5000,\"ms\":300}}");
    post(u, &next, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\"}");
    assert_true(rec_wait(&big, 5));
    assert_true(rec_wait(&next, 5));
    assert_int_equal(big.st, WRIT_ELIMIT);
    assert_int_equal(big.heads, 0);
    if (!strstr(big.why, "upstream local: answer larger than 1000 bytes (cut)"))
        fail_msg("why: %s", big.why);
    assert_int_equal(next.st, WRIT_OK);
    assert_non_null(strstr(next.body, "\"id\": 3"));
    assert_true(next.done_t > big.done_t);
    rec_free(&big);
    rec_free(&next);
    /* just under the limit: answered whole */
    a = call(u, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"big\",\"params\":{\"n\":900}}", &r);
    assert_int_equal(strlen(json_string_value(json_object_get(json_object_get(a, "result"), "pad"))), 900);
    json_decref(a);
    rec_free(&r);
    assert_int_equal(mcp_upstream_starts(u), 1);
    assert_int_equal(mcp_upstream_stdio_dropped(u), dropped + 1);
    /* A request of the process's own past the limit: refused (-32601) as a
     * short one is, so that it does not wait; once the next call is
     * answered, the process has read the refusal. */
    a = call(u, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"bigask\",\"params\":{\"n\":5000}}", &r);
    json_decref(a);
    rec_free(&r);
    a = call(u, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"echo\"}", &r);
    json_decref(a);
    rec_free(&r);
    char got[32];
    log_find("answer", "\"q1\"", got, sizeof got);
    assert_string_equal(got, "-32601");
    assert_int_equal(mcp_upstream_stdio_dropped(u), dropped + 2);
    /* A line that never ends: its request times out, and once the line has
     * gone on past the limit for idle_ms the process is restarted. */
    rec_init(&r);
    post(u, &r, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"endless\"}");
    assert_true(rec_wait(&r, 6));
    assert_int_equal(r.st, WRIT_EIO);
    rec_free(&r);
    for (int i = 0; i < 250 && mcp_upstream_starts(u) < 2; i++)
        sleep_ms(20);
    assert_int_equal(mcp_upstream_starts(u), 2);
    a = call(u, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\"}", &r);
    json_decref(a);
    rec_free(&r);
    /* No answer within idle_ms: an error; its late answer is dropped and the next call works. */
    rec_init(&r);
    post(u, &r, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"slow\",\"params\":{\"ms\":3200}}");
    assert_true(rec_wait(&r, 5));
    assert_int_equal(r.st, WRIT_EIO);
    assert_non_null(strstr(r.why, "no answer within 2500 ms"));
    rec_free(&r);
    a = call(u, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"echo\",\"params\":{\"after\":true}}", &r);
    assert_true(
        json_is_true(json_object_get(json_object_get(json_object_get(a, "result"), "params"), "after")));
    json_decref(a);
    rec_free(&r);
    /* Cancel: no callback after it returns, and the next call works. */
    rec_init(&r);
    post(u, &r, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"slow\",\"params\":{\"ms\":200}}");
    mcp_upstream_cancel(u, r.ticket);
    pthread_mutex_lock(&r.mu);
    r.cancel_returned = true;
    pthread_mutex_unlock(&r.mu);
    sleep_ms(400);
    assert_int_equal(r.after_cancel, 0);
    assert_int_equal(r.dones, 0);
    rec_free(&r);
    a = call(u, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"echo\"}", &r);
    json_decref(a);
    rec_free(&r);
    mcp_upstream_close(u);
    unlink(stdio_log);
}

static void test_stdio_not_reading(void **state)
{
    /* idle_ms also bounds the restarted upstream's first answer (python's
     * start on a loaded machine): generous */
    mcp_up_limits lim = {.idle_ms = 3000, .restart_ms = 50};
    mcp_upstream *u = stdio_open(&lim);
    rec r, r2;
    rec_init(&r);
    post(u, &r, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"deaf\"}");
    /* 300 KB: more than a pipe holds, so the write stalls half done. */
    size_t n = 300000;
    char *big = malloc(n + 100);
    int k = snprintf(big, n + 100, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\",\"params\":{\"s\":\"");
    memset(big + k, 'a', n);
    memcpy(big + k + n, "\"}}", 4);
    rec_init(&r2);
    post(u, &r2, big);
    assert_true(rec_wait(&r, 5));
    assert_true(rec_wait(&r2, 5));
    assert_int_equal(r.st, WRIT_EIO);
    assert_int_equal(r2.st, WRIT_EIO);
    if (!strstr(r2.why, "has not read its stdin for 3000 ms"))
        fail_msg("why: %s", r2.why);
    rec_free(&r);
    rec_free(&r2);
    free(big);
    json_t *a = call(u, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\"}", &r);
    json_decref(a);
    rec_free(&r);
    assert_int_equal(mcp_upstream_starts(u), 2);
    mcp_upstream_close(u);
    unlink(stdio_log);
}

static void test_stdio_spawn_fails(void **state)
{
    const char *argv[] = {"writ-no-such-program-here", NULL};
    mcp_upstream *u = NULL;
    writ_error err;
    assert_int_equal(mcp_upstream_stdio_open("gone", argv, NULL, &u, &err), WRIT_EIO);
    assert_null(u);
    assert_non_null(strstr(err.msg, "cannot start writ-no-such-program-here"));
    /* A program that always exits at once: the request fails (written to a
     * dying process, or never written within connect_ms), and the process
     * keeps being restarted. */
    const char *dies[] = {"false", NULL};
    mcp_up_limits lim = {.restart_ms = 20, .connect_ms = 300};
    assert_int_equal(mcp_upstream_stdio_open("dies", dies, &lim, &u, &err), WRIT_OK);
    rec r;
    rec_init(&r);
    post(u, &r, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\"}");
    assert_true(rec_wait(&r, 5));
    assert_int_equal(r.st, WRIT_EIO);
    assert_int_equal(r.heads, 0);
    if (!strstr(r.why, "exited with status 1") && !strstr(r.why, "not running"))
        fail_msg("why: %s", r.why);
    rec_free(&r);
    /* restarted every 20 ms: a few times within 200 ms on an idle machine;
     * under a loaded one's fork and exec, allow it 5 s */
    for (int i = 0; i < 250 && mcp_upstream_starts(u) <= 2; i++)
        sleep_ms(20);
    assert_true(mcp_upstream_starts(u) > 2);
    mcp_upstream_close(u);
    const char *none[] = {NULL};
    assert_int_equal(mcp_upstream_stdio_open("gone", none, NULL, &u, &err), WRIT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest http[] = {
        cmocka_unit_test(test_http_json_and_headers), cmocka_unit_test(test_http_get_delete),
        cmocka_unit_test(test_http_sse_in_pieces),    cmocka_unit_test(test_http_errors),
        cmocka_unit_test(test_http_wait_here),        cmocka_unit_test(test_http_refused_and_bad_urls),
        cmocka_unit_test(test_http_cancel),           cmocka_unit_test(test_http_concurrent), cmocka_unit_test(test_http_keeps_connections),
        cmocka_unit_test(test_http_connect_timeout), cmocka_unit_test(test_http_pause),
    };
    const struct CMUnitTest stdio[] = {
        cmocka_unit_test(test_stdio_ids_restored),
        cmocka_unit_test(test_stdio_cancel_owned),
        cmocka_unit_test(test_stdio_concurrent),
        cmocka_unit_test(test_stdio_restart),
        cmocka_unit_test(test_stdio_long_line_and_timeouts),
        cmocka_unit_test(test_stdio_spawn_fails),
        cmocka_unit_test(test_stdio_not_reading),
    };
    int rc = cmocka_run_group_tests_name("mcp_upstream_http", http, http_start, http_stop);
    return rc + cmocka_run_group_tests_name("mcp_upstream_stdio", stdio, NULL, NULL);
}
