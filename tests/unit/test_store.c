/* test_store.c - the store interface (store.h), the same checks against
 * every backend: SQLite on a temporary file, Redis on a redis-server this
 * test starts on a free port with a temporary folder (approvals, counters,
 * revocations, MCP task bindings).
 *
 * BACKEND_CHECKS below says which areas are checked on which backend.  An
 * area not checked must answer with an error (a placeholder that refuses),
 * never with a made-up success. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "limits/limits.h"
#include "store/revfeed.h"
#include "store/store.h"
#include "util/clock.h"
#include "writ/token.h"
#include "free_port.h"

/* Which areas each backend is checked on (both hold all three now that the
 * approvals and limits work is merged). */
static const struct backend_checks {
    const char *name;
    bool approvals, counters, revocations;
} BACKEND_CHECKS[] = {
    {"sqlite", true, true, true},
    {"redis", true, true, true},
};

typedef struct fixture {
    const struct backend_checks *chk;
    wr_store *st;
} fixture;

static char tmpdir[256];
static char dbfile[300];
static pid_t redis_pid = -1;
static int redis_port;
static char redis_url[64];

static redisContext *raw(void)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    return c;
}

static int start_redis(void)
{
    redis_port = free_port();
    if (redis_port <= 0)
        return -1;
    char port[16];
    snprintf(port, sizeof port, "%d", redis_port);
    redis_pid = fork();
    if (redis_pid == 0) {
        /* dies with this process: a failed test must not leave it holding
         * ctest's output open (ctest then waits for its timeout) */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", tmpdir,
               "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
               (char *)NULL);
        _exit(127);
    }
    if (redis_pid < 0)
        return -1;
    for (int i = 0; i < 100; i++) { /* up to 5 s */
        redisContext *c = raw();
        if (c) {
            redisReply *r = redisCommand(c, "PING");
            bool ok = r && r->type == REDIS_REPLY_STATUS;
            freeReplyObject(r);
            redisFree(c);
            if (ok)
                return 0;
        }
        int stt;
        if (waitpid(redis_pid, &stt, WNOHANG) == redis_pid) {
            redis_pid = -1;
            return -1;
        }
        usleep(50000);
    }
    return -1;
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/writ-test-store-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(dbfile, sizeof dbfile, "%s/writ.db", tmpdir);
    if (start_redis() != 0) {
        fprintf(stderr, "test_store: cannot start redis-server (scripts/test.sh installs it)\n");
        return -1;
    }
    snprintf(redis_url, sizeof redis_url, "redis://127.0.0.1:%d/3", redis_port);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (redis_pid > 0) {
        kill(redis_pid, SIGTERM);
        waitpid(redis_pid, NULL, 0);
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A fresh store of one backend per test. */
static int open_backend(void **state, int which)
{
    fixture *f = calloc(1, sizeof *f);
    f->chk = &BACKEND_CHECKS[which];
    writ_error err;
    if (which == 0) {
        unlink(dbfile);
        char p[320];
        snprintf(p, sizeof p, "%s-wal", dbfile);
        unlink(p);
        snprintf(p, sizeof p, "%s-shm", dbfile);
        unlink(p);
    } else {
        redisContext *c = raw();
        if (!c)
            return -1;
        freeReplyObject(redisCommand(c, "SELECT 3"));
        freeReplyObject(redisCommand(c, "FLUSHDB"));
        redisFree(c);
    }
    if (wr_store_open(which == 0 ? "sqlite" : redis_url, dbfile, &f->st, &err) != WRIT_OK) {
        fprintf(stderr, "open %s: %s\n", f->chk->name, err.msg);
        free(f);
        return -1;
    }
    assert_string_equal(wr_store_backend(f->st), f->chk->name);
    *state = f;
    return 0;
}
static int sqlite_setup(void **state) { return open_backend(state, 0); }
static int redis_setup(void **state) { return open_backend(state, 1); }
static int close_backend(void **state)
{
    fixture *f = *state;
    wr_store_close(f->st);
    free(f);
    return 0;
}

/* ---- approvals */

static void want_init(wr_approval *w, const char *id, const char *binding, int64_t now, int64_t ttl)
{
    memset(w, 0, sizeof *w);
    snprintf(w->id, sizeof w->id, "%s", id);
    snprintf(w->binding, sizeof w->binding, "%s", binding);
    w->status = WR_APPROVAL_PENDING;
    w->agent = "Writ::Agent::\"bot\"";
    w->action = "deploy";
    w->resource = "Writ::Service::\"web\"";
    w->task_id = "t-1";
    w->task_purpose = "ship it";
    w->chain = "[\"bot\"]";
    memset(w->input_sha256, 'a', 64);
    w->input = "{\"x\":1}";
    w->created_ms = now;
    w->expires_ms = now + ttl;
}

static void test_approvals(void **state)
{
    fixture *f = *state;
    wr_store *st = f->st;
    writ_error err;
    wr_approval w, out;
    wr_take res;
    int64_t now = 1700000000000;
    const char *b1 = "b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1";
    want_init(&w, "ap-1", b1, now, 60000);
    writ_status s = wr_store_approval_take(st, &w, 0, now, &res, &out, &err);
    if (!f->chk->approvals) {
        assert_int_not_equal(s, WRIT_OK); /* the placeholder refuses */
        wr_approval_clear(&out);
        return;
    }
    assert_int_equal(s, WRIT_OK);
    assert_int_equal(res, WR_TAKE_CREATED);
    assert_string_equal(out.id, "ap-1");
    assert_int_equal(out.status, WR_APPROVAL_PENDING);
    assert_string_equal(out.agent, w.agent);
    assert_string_equal(out.action, "deploy");
    assert_string_equal(out.resource, w.resource);
    assert_string_equal(out.task_id, "t-1");
    assert_string_equal(out.task_purpose, "ship it");
    assert_string_equal(out.chain, w.chain);
    assert_string_equal(out.input_sha256, w.input_sha256);
    assert_string_equal(out.input, w.input);
    assert_int_equal(out.created_ms, now);
    assert_int_equal(out.expires_ms, now + 60000);
    assert_int_equal(out.decided_ms, 0);
    assert_null(out.decided_by);
    wr_approval_clear(&out);

    /* the same binding again: the pending one, not a second */
    want_init(&w, "ap-2", b1, now + 10, 60000);
    assert_int_equal(wr_store_approval_take(st, &w, 0, now + 10, &res, &out, &err), WRIT_OK);
    assert_int_equal(res, WR_TAKE_PENDING);
    assert_string_equal(out.id, "ap-1");
    wr_approval_clear(&out);

    bool found;
    assert_int_equal(wr_store_approval_get(st, "ap-1", now, &out, &found, &err), WRIT_OK);
    assert_true(found);
    assert_string_equal(out.binding, b1);
    wr_approval_clear(&out);
    assert_int_equal(wr_store_approval_get(st, "nope", now, &out, &found, &err), WRIT_OK);
    assert_false(found);

    wr_approval *list;
    size_t n;
    assert_int_equal(wr_store_approval_list(st, WR_APPROVAL_PENDING, now, &list, &n, &err), WRIT_OK);
    assert_int_equal(n, 1);
    wr_approvals_free(list, n);
    assert_int_equal(wr_store_approval_list(st, WR_APPROVAL_APPROVED, now, &list, &n, &err), WRIT_OK);
    assert_int_equal(n, 0);
    wr_approvals_free(list, n);

    /* approve; a second decision finds it decided */
    wr_decide_result dr;
    assert_int_equal(
        wr_store_approval_decide(st, "ap-1", true, "admin", "looks fine", now + 20, &dr, &out, &err),
        WRIT_OK);
    assert_int_equal(dr, WR_DECIDE_DONE);
    assert_int_equal(out.status, WR_APPROVAL_APPROVED);
    assert_string_equal(out.decided_by, "admin");
    assert_string_equal(out.reason, "looks fine");
    assert_int_equal(out.decided_ms, now + 20);
    wr_approval_clear(&out);
    assert_int_equal(wr_store_approval_decide(st, "ap-1", false, "admin", "no", now + 30, &dr, &out, &err),
                     WRIT_OK);
    assert_int_equal(dr, WR_DECIDE_NOT_PENDING);
    wr_approval_clear(&out);
    assert_int_equal(wr_store_approval_decide(st, "nope", true, "admin", NULL, now, &dr, &out, &err),
                     WRIT_OK);
    assert_int_equal(dr, WR_DECIDE_NOT_FOUND);
    wr_approval_clear(&out);

    /* consumed once; the next request starts a new approval */
    want_init(&w, "ap-3", b1, now + 40, 60000);
    assert_int_equal(wr_store_approval_take(st, &w, 0, now + 40, &res, &out, &err), WRIT_OK);
    assert_int_equal(res, WR_TAKE_CONSUMED);
    assert_string_equal(out.id, "ap-1");
    assert_int_equal(out.status, WR_APPROVAL_CONSUMED);
    wr_approval_clear(&out);
    want_init(&w, "ap-4", b1, now + 50, 60000);
    assert_int_equal(wr_store_approval_take(st, &w, 0, now + 50, &res, &out, &err), WRIT_OK);
    assert_int_equal(res, WR_TAKE_CREATED);
    assert_string_equal(out.id, "ap-4");
    wr_approval_clear(&out);

    /* denied: requests see the denial until it expires */
    assert_int_equal(wr_store_approval_decide(st, "ap-4", false, "Writ::User::\"amy\"", "not today", now + 60,
                                              &dr, &out, &err),
                     WRIT_OK);
    assert_int_equal(dr, WR_DECIDE_DONE);
    assert_int_equal(out.status, WR_APPROVAL_DENIED);
    wr_approval_clear(&out);
    want_init(&w, "ap-5", b1, now + 70, 60000);
    assert_int_equal(wr_store_approval_take(st, &w, 0, now + 70, &res, &out, &err), WRIT_OK);
    assert_int_equal(res, WR_TAKE_DENIED);
    assert_string_equal(out.id, "ap-4");
    assert_string_equal(out.reason, "not today");
    wr_approval_clear(&out);
    want_init(&w, "ap-6", b1, now + 70000, 60000);
    assert_int_equal(wr_store_approval_take(st, &w, 0, now + 70000, &res, &out, &err), WRIT_OK);
    assert_int_equal(res, WR_TAKE_CREATED);
    wr_approval_clear(&out);

    /* newest first */
    assert_int_equal(wr_store_approval_list(st, -1, now + 70000, &list, &n, &err), WRIT_OK);
    assert_int_equal(n, 3);
    assert_string_equal(list[0].id, "ap-6");
    assert_string_equal(list[1].id, "ap-4");
    assert_string_equal(list[2].id, "ap-1");
    assert_int_equal(list[2].status, WR_APPROVAL_CONSUMED);
    wr_approvals_free(list, n);

    /* expiry: reported once, shown as expired, cannot be decided, and the
     * binding starts over */
    const char *b2 = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";
    want_init(&w, "ap-7", b2, now, 1000);
    assert_int_equal(wr_store_approval_take(st, &w, 0, now, &res, &out, &err), WRIT_OK);
    assert_int_equal(res, WR_TAKE_CREATED);
    wr_approval_clear(&out);
    assert_int_equal(wr_store_approval_expired(st, now + 500, &list, &n, &err), WRIT_OK);
    assert_int_equal(n, 0);
    wr_approvals_free(list, n);
    int64_t later = now + 200000; /* ap-6 (b1) has expired by then too */
    assert_int_equal(wr_store_approval_expired(st, later, &list, &n, &err), WRIT_OK);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        assert_true(!strcmp(list[i].id, "ap-7") || !strcmp(list[i].id, "ap-6"));
        assert_int_equal(list[i].status, WR_APPROVAL_EXPIRED);
    }
    wr_approvals_free(list, n);
    assert_int_equal(wr_store_approval_expired(st, later + 1, &list, &n, &err), WRIT_OK);
    assert_int_equal(n, 0);
    wr_approvals_free(list, n);
    assert_int_equal(wr_store_approval_get(st, "ap-7", later, &out, &found, &err), WRIT_OK);
    assert_true(found);
    assert_int_equal(out.status, WR_APPROVAL_EXPIRED);
    wr_approval_clear(&out);
    assert_int_equal(wr_store_approval_list(st, WR_APPROVAL_EXPIRED, later, &list, &n, &err), WRIT_OK);
    assert_int_equal(n, 2);
    wr_approvals_free(list, n);
    assert_int_equal(wr_store_approval_decide(st, "ap-7", true, "admin", NULL, later, &dr, &out, &err),
                     WRIT_OK);
    assert_int_equal(dr, WR_DECIDE_NOT_PENDING);
    wr_approval_clear(&out);
    want_init(&w, "ap-8", b2, later, 1000);
    assert_int_equal(wr_store_approval_take(st, &w, 0, later, &res, &out, &err), WRIT_OK);
    assert_int_equal(res, WR_TAKE_CREATED);
    assert_string_equal(out.id, "ap-8");
    wr_approval_clear(&out);
}

/* Pruning removes ended approvals past their expiry and nothing else. */
static void test_approval_prune(void **state)
{
    fixture *f = *state;
    if (!f->chk->approvals)
        return;
    wr_store *st = f->st;
    writ_error err;
    wr_approval w, out, *list = NULL;
    wr_take res;
    wr_decide_result dr;
    size_t n = 0, removed = 99;
    bool found = true;
    int64_t now = 1700000000000;
    const char *bind[] = {"a1", "b1", "c1", "d1", "e1"};
    char b[5][65];
    for (int i = 0; i < 5; i++) {
        memset(b[i], bind[i][0], 64);
        b[i][64] = 0;
    }
    want_init(&w, "pa", b[0], now, 1000); /* pending, expires */
    assert_int_equal(wr_store_approval_take(st, &w, 0, now, &res, &out, &err), WRIT_OK);
    wr_approval_clear(&out);
    want_init(&w, "pb", b[1], now, 1000); /* denied */
    assert_int_equal(wr_store_approval_take(st, &w, 0, now, &res, &out, &err), WRIT_OK);
    wr_approval_clear(&out);
    assert_int_equal(wr_store_approval_decide(st, "pb", false, "admin", "no", now + 1, &dr, &out, &err),
                     WRIT_OK);
    wr_approval_clear(&out);
    want_init(&w, "pc", b[2], now, 1000); /* approved, then consumed */
    assert_int_equal(wr_store_approval_take(st, &w, 0, now, &res, &out, &err), WRIT_OK);
    wr_approval_clear(&out);
    assert_int_equal(wr_store_approval_decide(st, "pc", true, "admin", NULL, now + 1, &dr, &out, &err),
                     WRIT_OK);
    wr_approval_clear(&out);
    want_init(&w, "pc2", b[2], now + 2, 1000);
    assert_int_equal(wr_store_approval_take(st, &w, 0, now + 2, &res, &out, &err), WRIT_OK);
    assert_int_equal(res, WR_TAKE_CONSUMED);
    wr_approval_clear(&out);
    want_init(&w, "pd", b[3], now, 1000000); /* pending for long */
    assert_int_equal(wr_store_approval_take(st, &w, 0, now, &res, &out, &err), WRIT_OK);
    wr_approval_clear(&out);
    want_init(&w, "pe", b[4], now, 1000); /* pending, expires */
    assert_int_equal(wr_store_approval_take(st, &w, 0, now, &res, &out, &err), WRIT_OK);
    wr_approval_clear(&out);

    /* nothing has ended before its own expiry */
    assert_int_equal(wr_store_approval_prune(st, now + 500, &removed, &err), WRIT_OK);
    assert_int_equal(removed, 0);
    /* the denied and the consumed one go; expired ones wait for their report */
    assert_int_equal(wr_store_approval_prune(st, now + 5000, &removed, &err), WRIT_OK);
    assert_int_equal(removed, 2);
    assert_int_equal(wr_store_approval_get(st, "pb", now + 5000, &out, &found, &err), WRIT_OK);
    assert_false(found);
    assert_int_equal(wr_store_approval_get(st, "pc", now + 5000, &out, &found, &err), WRIT_OK);
    assert_false(found);
    assert_int_equal(wr_store_approval_get(st, "pa", now + 5000, &out, &found, &err), WRIT_OK);
    assert_true(found);
    assert_int_equal(out.status, WR_APPROVAL_EXPIRED);
    wr_approval_clear(&out);
    assert_int_equal(wr_store_approval_expired(st, now + 5000, &list, &n, &err), WRIT_OK);
    assert_int_equal(n, 2);
    wr_approvals_free(list, n);
    assert_int_equal(wr_store_approval_prune(st, now + 5000, &removed, &err), WRIT_OK);
    assert_int_equal(removed, 2);
    assert_int_equal(wr_store_approval_list(st, -1, now + 5000, &list, &n, &err), WRIT_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].id, "pd");
    assert_int_equal(list[0].status, WR_APPROVAL_PENDING);
    wr_approvals_free(list, n);
    /* a pruned binding starts over */
    want_init(&w, "pa2", b[0], now + 6000, 1000);
    assert_int_equal(wr_store_approval_take(st, &w, 0, now + 6000, &res, &out, &err), WRIT_OK);
    assert_int_equal(res, WR_TAKE_CREATED);
    assert_string_equal(out.id, "pa2");
    wr_approval_clear(&out);
    /* the long one is still pending: kept whatever the cut-off */
    assert_int_equal(wr_store_approval_prune(st, now + 900000, &removed, &err), WRIT_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(wr_store_approval_get(st, "pd", now + 900000, &out, &found, &err), WRIT_OK);
    assert_true(found);
    wr_approval_clear(&out);
}

/* Many takers of one approved approval at once: exactly one consumes it. */
typedef struct racer {
    wr_store *st;
    int i;
    wr_take res;
    writ_status s;
} racer;

static const char *race_binding = "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0";

static void *race(void *arg)
{
    racer *r = arg;
    wr_approval w, out;
    char id[32];
    snprintf(id, sizeof id, "race-%d", r->i);
    want_init(&w, id, race_binding, 1700000001000, 60000);
    writ_error err;
    r->s = wr_store_approval_take(r->st, &w, 0, 1700000001000, &r->res, &out, &err);
    wr_approval_clear(&out);
    return NULL;
}

static void test_approval_race(void **state)
{
    fixture *f = *state;
    if (!f->chk->approvals)
        return; /* test_approvals checked that the placeholder refuses */
    wr_approval w, out;
    wr_take res;
    writ_error err;
    wr_decide_result dr;
    want_init(&w, "race-0", race_binding, 1700000000000, 60000);
    assert_int_equal(wr_store_approval_take(f->st, &w, 0, 1700000000000, &res, &out, &err), WRIT_OK);
    wr_approval_clear(&out);
    assert_int_equal(
        wr_store_approval_decide(f->st, "race-0", true, "admin", NULL, 1700000000500, &dr, &out, &err),
        WRIT_OK);
    wr_approval_clear(&out);
    enum { N = 32 };
    pthread_t t[N];
    racer r[N];
    for (int i = 0; i < N; i++) {
        r[i] = (racer){.st = f->st, .i = i + 1};
        pthread_create(&t[i], NULL, race, &r[i]);
    }
    int consumed = 0, created = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(r[i].s, WRIT_OK);
        consumed += r[i].res == WR_TAKE_CONSUMED;
        created += r[i].res == WR_TAKE_CREATED;
    }
    assert_int_equal(consumed, 1);
    assert_true(created <= 1);
}

/* ---- approval_max_pending: the cap on creating pending approvals */

static const char *agent_a = "Writ::Agent::\"bot\"", *agent_b = "Writ::Agent::\"other\"";

/* Take binding k (its own input) for agent at now with the cap max: the
 * outcome, and the id of the approval answered ("" for none) in got. */
static wr_take take_cap(wr_store *st, int k, const char *agent, uint32_t max, int64_t now, int64_t ttl,
                        char got[40])
{
    static int seq;
    wr_approval w, out;
    char id[40], b[65];
    snprintf(id, sizeof id, "cap-%d-%d", k, ++seq);
    snprintf(b, sizeof b, "%064d", k);
    want_init(&w, id, b, now, ttl);
    w.agent = (char *)agent;
    wr_take res = (wr_take)-1;
    writ_error err;
    assert_int_equal(wr_store_approval_take(st, &w, max, now, &res, &out, &err), WRIT_OK);
    snprintf(got, 40, "%s", out.id);
    wr_approval_clear(&out);
    return res;
}

static size_t count_status(wr_store *st, int status, int64_t now)
{
    wr_approval *list;
    size_t n;
    writ_error err;
    assert_int_equal(wr_store_approval_list(st, status, now, &list, &n, &err), WRIT_OK);
    wr_approvals_free(list, n);
    return n;
}

static void decide_ok(wr_store *st, const char *id, bool approve, int64_t now)
{
    wr_approval out;
    wr_decide_result dr;
    writ_error err;
    assert_int_equal(wr_store_approval_decide(st, id, approve, "admin", "r", now, &dr, &out, &err), WRIT_OK);
    assert_int_equal(dr, WR_DECIDE_DONE);
    wr_approval_clear(&out);
}

/* Redis: the agent's set of pending ids (0 when the key is gone). */
static long long redis_pending_set(const char *agent)
{
    redisContext *c = raw();
    assert_non_null(c);
    freeReplyObject(redisCommand(c, "SELECT 3"));
    redisReply *r = redisCommand(c, "ZCARD writ:app:%s", agent);
    assert_non_null(r);
    long long n = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

static void test_approval_cap(void **state)
{
    fixture *f = *state;
    if (!f->chk->approvals)
        return;
    wr_store *st = f->st;
    int64_t now = 1700000000000;
    char a1[40], a2[40], a3[40], got[40];
    /* two pending for agent a: the third is refused and nothing is stored */
    assert_int_equal(take_cap(st, 1, agent_a, 2, now, 60000, a1), WR_TAKE_CREATED);
    assert_int_equal(take_cap(st, 2, agent_a, 2, now + 1, 60000, a2), WR_TAKE_CREATED);
    assert_int_equal(take_cap(st, 3, agent_a, 2, now + 2, 60000, got), WR_TAKE_FULL);
    assert_string_equal(got, "");
    assert_int_equal(count_status(st, -1, now + 2), 2);
    /* at the cap the same binding still finds its pending approval */
    assert_int_equal(take_cap(st, 1, agent_a, 2, now + 3, 60000, got), WR_TAKE_PENDING);
    assert_string_equal(got, a1);
    /* another agent is not held back */
    assert_int_equal(take_cap(st, 4, agent_b, 2, now + 4, 60000, got), WR_TAKE_CREATED);
    /* approving one frees a slot; the approved one is still used at the cap */
    decide_ok(st, a1, true, now + 5);
    assert_int_equal(take_cap(st, 3, agent_a, 2, now + 6, 60000, a3), WR_TAKE_CREATED);
    assert_int_equal(take_cap(st, 5, agent_a, 2, now + 7, 60000, got), WR_TAKE_FULL);
    assert_int_equal(take_cap(st, 1, agent_a, 2, now + 8, 60000, got), WR_TAKE_CONSUMED);
    assert_string_equal(got, a1);
    assert_int_equal(take_cap(st, 5, agent_a, 2, now + 9, 60000, got), WR_TAKE_FULL);
    /* denying one frees a slot; its denial still holds at the cap */
    decide_ok(st, a2, false, now + 10);
    char a5[40];
    assert_int_equal(take_cap(st, 5, agent_a, 2, now + 11, 1000, a5), WR_TAKE_CREATED); /* expires soon */
    assert_int_equal(take_cap(st, 2, agent_a, 2, now + 12, 60000, got), WR_TAKE_DENIED);
    assert_string_equal(got, a2);
    assert_int_equal(take_cap(st, 6, agent_a, 2, now + 13, 60000, got), WR_TAKE_FULL);
    /* one expiring frees one slot (a3 is still pending) */
    int64_t t = now + 2000;
    assert_int_equal(take_cap(st, 6, agent_a, 2, t, 60000, got), WR_TAKE_CREATED);
    assert_int_equal(take_cap(st, 7, agent_a, 2, t + 1, 60000, got), WR_TAKE_FULL);
    assert_int_equal(count_status(st, WR_APPROVAL_PENDING, t + 1), 3); /* a3, 6 and agent b's */
    /* cap 0 is no cap, nor is the plain take */
    assert_int_equal(take_cap(st, 7, agent_a, 0, t + 2, 60000, got), WR_TAKE_CREATED);
    assert_int_equal(take_cap(st, 8, agent_a, 0, t + 3, 60000, got), WR_TAKE_CREATED);
    wr_approval w, out;
    wr_take res;
    writ_error err;
    want_init(&w, "cap-plain", "9999999999999999999999999999999999999999999999999999999999999999", t + 4,
              60000);
    assert_int_equal(wr_store_approval_take(st, &w, 0, t + 4, &res, &out, &err), WRIT_OK);
    assert_int_equal(res, WR_TAKE_CREATED);
    wr_approval_clear(&out);
    /* the count is exact: agent a has 5 pending now */
    assert_int_equal(take_cap(st, 10, agent_a, 5, t + 5, 60000, got), WR_TAKE_FULL);
    assert_int_equal(take_cap(st, 10, agent_a, 6, t + 6, 60000, got), WR_TAKE_CREATED);
    assert_int_equal(count_status(st, WR_APPROVAL_PENDING, t + 6), 7);
    if (strcmp(f->chk->name, "redis") != 0)
        return;
    /* Redis keeps a set of pending ids per agent: decided and expired
     * ones leave it (once reported), so an idle agent leaves no key */
    assert_int_equal(redis_pending_set(agent_a), 6);
    wr_approval *list;
    size_t n;
    int64_t later = t + 100000;
    assert_int_equal(wr_store_approval_expired(st, later, &list, &n, &err), WRIT_OK);
    wr_approvals_free(list, n);
    assert_int_equal(redis_pending_set(agent_a), 0);
    assert_int_equal(redis_pending_set(agent_b), 0);
}

/* Many requests of one agent with different inputs at once: exactly the
 * cap's worth are created. */
typedef struct cap_racer {
    wr_store *st;
    int i;
    wr_take res;
    writ_status s;
} cap_racer;

static void *cap_race(void *arg)
{
    cap_racer *r = arg;
    wr_approval w, out;
    char id[40], b[65];
    snprintf(id, sizeof id, "cap-race-%d", r->i);
    snprintf(b, sizeof b, "%064d", 100 + r->i);
    want_init(&w, id, b, 1700000000000, 60000);
    writ_error err;
    r->s = wr_store_approval_take(r->st, &w, 5, 1700000000000, &r->res, &out, &err);
    wr_approval_clear(&out);
    return NULL;
}

static void test_approval_cap_race(void **state)
{
    fixture *f = *state;
    if (!f->chk->approvals)
        return;
    enum { N = 24 };
    pthread_t t[N];
    cap_racer r[N];
    for (int i = 0; i < N; i++) {
        r[i] = (cap_racer){.st = f->st, .i = i};
        pthread_create(&t[i], NULL, cap_race, &r[i]);
    }
    int created = 0, full = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(r[i].s, WRIT_OK);
        created += r[i].res == WR_TAKE_CREATED;
        full += r[i].res == WR_TAKE_FULL;
    }
    assert_int_equal(created, 5);
    assert_int_equal(full, N - 5);
    assert_int_equal(count_status(f->st, WR_APPROVAL_PENDING, 1700000000000), 5);
}

/* ---- pages of the listing (wr_store_approval_page) */

enum { PG_N = 23 };

/* A new pending approval: id, created at created (ttl 60 s), a binding of
 * its own (k). */
static void pg_take(wr_store *st, const char *id, int k, int64_t created)
{
    wr_approval w, out;
    wr_take res;
    writ_error err;
    char b[65];
    snprintf(b, sizeof b, "%064d", k);
    want_init(&w, id, b, created, 60000);
    assert_int_equal(wr_store_approval_take(st, &w, 0, created, &res, &out, &err), WRIT_OK);
    assert_int_equal(res, WR_TAKE_CREATED);
    wr_approval_clear(&out);
}

/* The listing's order: newest first, then the greater id. */
static int pos_order(const void *a, const void *b)
{
    const wr_approval_pos *x = a, *y = b;
    if (x->created_ms != y->created_ms)
        return x->created_ms > y->created_ms ? -1 : 1;
    return -strcmp(x->id, y->id);
}

/* Page through the approvals of status from *start (NULL: the newest) with
 * limit: they must be want[0..nwant) in order, each exactly once, every
 * page full but the last.  The number of pages. */
static size_t walk_pages(wr_store *st, int status, const wr_approval_pos *start, size_t limit, int64_t now,
                         const wr_approval_pos *want, size_t nwant)
{
    wr_approval_pos pos;
    const wr_approval_pos *after = start;
    size_t seen = 0, pages = 0;
    bool more = true;
    while (more) {
        wr_approval *v;
        size_t n;
        writ_error err;
        assert_int_equal(wr_store_approval_page(st, status, after, limit, now, &v, &n, &more, &err), WRIT_OK);
        pages++;
        assert_true(more ? n == limit : n <= limit); /* short only at the end */
        for (size_t i = 0; i < n; i++, seen++) {
            assert_true(seen < nwant);
            assert_string_equal(v[i].id, want[seen].id);
            assert_int_equal(v[i].created_ms, want[seen].created_ms);
            if (status >= 0)
                assert_int_equal(v[i].status, status);
        }
        if (n) {
            pos.created_ms = v[n - 1].created_ms;
            memcpy(pos.id, v[n - 1].id, sizeof pos.id);
            after = &pos;
        }
        wr_approvals_free(v, n);
        assert_true(pages <= nwant + 1);
    }
    assert_int_equal(seen, nwant);
    assert_int_equal(pages, nwant ? (nwant + limit - 1) / limit : 1);
    return pages;
}

/* The first approval of one page of limit 1 after *after ("" for none). */
static void first_after(wr_store *st, const wr_approval_pos *after, int64_t now, char id[40], bool *more)
{
    wr_approval *v;
    size_t n;
    writ_error err;
    assert_int_equal(wr_store_approval_page(st, -1, after, 1, now, &v, &n, more, &err), WRIT_OK);
    snprintf(id, 40, "%s", n ? v[0].id : "");
    wr_approvals_free(v, n);
}

/* Pages cover the listing exactly once, in order, whatever the limit;
 * ties on created_ms go by id; a status filter fills every page; limits
 * out of 1..1000 are refused; a place past the end gives an empty last
 * page; approvals created between pages do not show up in or shift the
 * later pages. */
static void test_approval_pages(void **state)
{
    fixture *f = *state;
    if (!f->chk->approvals)
        return;
    wr_store *st = f->st;
    int64_t now = 1700000000000;
    wr_approval_pos all[PG_N];
    /* three to a millisecond; ids in an order of their own (7 and 23 are
     * coprime: k * 7 % 23 runs through 0..22) */
    for (int k = 0; k < PG_N; k++) {
        all[k].created_ms = now + k / 3;
        snprintf(all[k].id, sizeof all[k].id, "pg-%02d", k * 7 % PG_N);
        pg_take(st, all[k].id, k, all[k].created_ms);
    }
    qsort(all, PG_N, sizeof all[0], pos_order);
    assert_int_equal(all[2].created_ms, all[3].created_ms); /* ties across page bounds below */

    /* the whole listing, once, in order */
    const size_t limits[] = {1, 2, 3, 5, 22, 23, 24, WR_APPROVAL_PAGE_MAX};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
        walk_pages(st, -1, NULL, limits[i], now + 10, all, PG_N);

    /* a place inside a millisecond: the rest of that millisecond, then on */
    char id[40];
    bool more;
    size_t j = 0;
    while (all[j].created_ms != all[4].created_ms)
        j++;
    wr_approval_pos at = {all[4].created_ms, "pg-zz"}; /* above every id of that ms */
    first_after(st, &at, now + 10, id, &more);
    assert_string_equal(id, all[j].id);
    snprintf(at.id, sizeof at.id, "pg-"); /* below every id of that ms */
    while (all[j].created_ms == all[4].created_ms)
        j++;
    first_after(st, &at, now + 10, id, &more);
    assert_string_equal(id, all[j].id);
    walk_pages(st, -1, &all[4], 3, now + 10, all + 5, PG_N - 5);

    /* past the end, before the start */
    first_after(st, &all[PG_N - 1], now + 10, id, &more);
    assert_string_equal(id, "");
    assert_false(more);
    wr_approval_pos old = {now - 1, "zzz"}, future = {now + 100000, ""};
    first_after(st, &old, now + 10, id, &more);
    assert_string_equal(id, "");
    assert_false(more);
    walk_pages(st, -1, &future, 4, now + 10, all, PG_N);

    /* limits */
    wr_approval *v = (wr_approval *)1;
    size_t n = 7;
    writ_error err;
    assert_int_equal(wr_store_approval_page(st, -1, NULL, 0, now, &v, &n, &more, &err), WRIT_EINVAL);
    assert_null(v);
    assert_int_equal(n, 0);
    assert_int_equal(wr_store_approval_page(st, -1, NULL, WR_APPROVAL_PAGE_MAX + 1, now, &v, &n, &more, &err),
                     WRIT_EINVAL);

    /* a status filter: pages full of that status, others skipped */
    wr_approval_pos pend[PG_N], den[PG_N], appr[PG_N], gone[PG_N];
    size_t np = 0, nd = 0, na = 0, ng = 0;
    for (int i = 0; i < PG_N; i++) {
        if (i % 3 == 0) {
            decide_ok(st, all[i].id, false, now + 20);
            den[nd++] = all[i];
        } else if (i % 4 == 1) {
            decide_ok(st, all[i].id, true, now + 20);
            appr[na++] = all[i];
            gone[ng++] = all[i];
        } else {
            pend[np++] = all[i];
            gone[ng++] = all[i];
        }
    }
    walk_pages(st, WR_APPROVAL_PENDING, NULL, 2, now + 30, pend, np);
    walk_pages(st, WR_APPROVAL_PENDING, NULL, 1, now + 30, pend, np);
    walk_pages(st, WR_APPROVAL_DENIED, NULL, 3, now + 30, den, nd);
    walk_pages(st, WR_APPROVAL_APPROVED, NULL, 2, now + 30, appr, na);
    walk_pages(st, WR_APPROVAL_CONSUMED, NULL, 5, now + 30, NULL, 0);
    walk_pages(st, WR_APPROVAL_EXPIRED, NULL, 4, now + 30, NULL, 0);
    int64_t later = now + 100000; /* past every expiry */
    walk_pages(st, WR_APPROVAL_EXPIRED, NULL, 4, later, gone, ng);
    walk_pages(st, WR_APPROVAL_PENDING, NULL, 4, later, NULL, 0);
    walk_pages(st, WR_APPROVAL_DENIED, &den[1], 2, later, den + 2, nd - 2);

    /* new approvals between pages: neither in the later pages nor shifting them */
    wr_approval *p1;
    size_t n1;
    assert_int_equal(wr_store_approval_page(st, -1, NULL, 5, now + 30, &p1, &n1, &more, &err), WRIT_OK);
    assert_int_equal(n1, 5);
    assert_true(more);
    wr_approval_pos last = {p1[4].created_ms, ""};
    memcpy(last.id, p1[4].id, sizeof last.id);
    wr_approvals_free(p1, n1);
    pg_take(st, "new-1", 100, now + 40);
    pg_take(st, "new-2", 101, now + 40);
    pg_take(st, "new-3", 102, now + 50);
    walk_pages(st, -1, &last, 5, now + 60, all + 5, PG_N - 5);
    first_after(st, NULL, now + 60, id, &more);
    assert_string_equal(id, "new-3");

    /* the whole list (wr_store_approval_list) is every page */
    assert_int_equal(count_status(st, -1, now + 60), PG_N + 3);
}

/* Many approvals: wr_store_approval_list goes past one page, and a rare
 * status is paged through many reads of the backend (Redis reads the
 * listing in chunks and filters). */
static void test_approval_many(void **state)
{
    fixture *f = *state;
    if (!f->chk->approvals)
        return;
    int64_t now = 1700000000000;
    enum { N = WR_APPROVAL_PAGE_MAX + 5 };
    wr_approval_pos den[N];
    size_t nd = 0;
    for (int k = 0; k < N; k++) { /* two to a millisecond */
        char id[40];
        snprintf(id, sizeof id, "all-%04d", k);
        pg_take(f->st, id, k, now + k / 2);
    }
    for (int k = N - 1; k >= 0; k--) {
        if (k % 50 == 7) {
            den[nd] = (wr_approval_pos){now + k / 2, ""};
            snprintf(den[nd++].id, sizeof den[0].id, "all-%04d", k);
            decide_ok(f->st, den[nd - 1].id, false, now + 600);
        }
    }
    walk_pages(f->st, WR_APPROVAL_DENIED, NULL, 3, now + 600, den, nd);
    wr_approval *list;
    size_t n;
    writ_error err;
    assert_int_equal(wr_store_approval_list(f->st, -1, now + 600, &list, &n, &err), WRIT_OK);
    assert_int_equal(n, N);
    for (size_t i = 0; i < n; i++) {
        char id[40];
        snprintf(id, sizeof id, "all-%04d", (int)(N - 1 - i));
        assert_string_equal(list[i].id, id);
    }
    wr_approvals_free(list, n);
}

/* ---- counters */

typedef struct seen {
    int n;
    int64_t total;
    bool other;
} seen;

static bool on_bucket(void *ud, const char *key, int64_t bucket, int64_t value, int64_t expires_ms)
{
    seen *s = ud;
    if (strcmp(key, "k:1") != 0 || bucket < 10 || bucket > 12 || expires_ms <= 0)
        s->other = true;
    s->n++;
    s->total += value;
    return true;
}

static void test_counters(void **state)
{
    fixture *f = *state;
    writ_error err;
    int64_t far = (int64_t)time(NULL) * 1000 + 3600000; /* Redis expires keys by its own clock */
    writ_status s = wr_store_counter_add(f->st, "calls", "k:1", 10, 5, far, &err);
    if (!f->chk->counters) {
        assert_int_not_equal(s, WRIT_OK);
        int64_t sum = 0;
        assert_int_not_equal(wr_store_counter_sum(f->st, "calls", "k:1", 10, 12, &sum, &err), WRIT_OK);
        return;
    }
    assert_int_equal(s, WRIT_OK);
    assert_int_equal(wr_store_counter_add(f->st, "calls", "k:1", 11, 7, far, &err), WRIT_OK);
    assert_int_equal(wr_store_counter_add(f->st, "calls", "k:1", 12, 1, far, &err), WRIT_OK);
    assert_int_equal(wr_store_counter_add(f->st, "calls", "k:1", 12, -3, far, &err), WRIT_OK);
    /* names that would collide if joined with ':' */
    assert_int_equal(wr_store_counter_add(f->st, "calls:k", "1", 11, 1000, far, &err), WRIT_OK);
    assert_int_equal(wr_store_counter_add(f->st, "spend", "k:1", 11, 250000, far, &err), WRIT_OK);
    int64_t sum = -1;
    assert_int_equal(wr_store_counter_sum(f->st, "calls", "k:1", 10, 12, &sum, &err), WRIT_OK);
    assert_int_equal(sum, 10);
    assert_int_equal(wr_store_counter_sum(f->st, "calls", "k:1", 11, 11, &sum, &err), WRIT_OK);
    assert_int_equal(sum, 7);
    assert_int_equal(wr_store_counter_sum(f->st, "calls", "k:1", 0, 9, &sum, &err), WRIT_OK);
    assert_int_equal(sum, 0);
    assert_int_equal(wr_store_counter_sum(f->st, "calls", "other", 10, 12, &sum, &err), WRIT_OK);
    assert_int_equal(sum, 0);
    assert_int_equal(wr_store_counter_sum(f->st, "spend", "k:1", 0, 100, &sum, &err), WRIT_OK);
    assert_int_equal(sum, 250000);
    seen sn = {0};
    assert_int_equal(wr_store_counter_scan(f->st, "calls", (int64_t)time(NULL) * 1000, on_bucket, &sn, &err),
                     WRIT_OK);
    assert_int_equal(sn.n, 3);
    assert_int_equal(sn.total, 10);
    assert_false(sn.other);
}

/* The take: the range's sum as it was, and the delta added to its last
 * bucket, in one step; 8 threads taking 1 at once each read a different
 * sum (0 .. 199 once each): no two takes read without the other's delta. */
typedef struct taker {
    wr_store *st;
    int64_t far;
    int64_t got[25];
    writ_status s;
} taker;

static void *take_many(void *arg)
{
    taker *t = arg;
    writ_error err;
    for (int i = 0; i < 25 && !t->s; i++)
        t->s = wr_store_counter_take(t->st, "race", "k", 30, 32, 32, 1, t->far, &t->got[i], &err);
    return NULL;
}

/* Two replicas on one Redis whose clocks read either side of a bucket edge:
 * what the one ahead counts in the next bucket, the one behind reads. 5
 * allowed there then read as 0 here would let 5 more through against a
 * limit of 5. */
static void test_limits_clocks_apart(void **state)
{
    fixture *f = *state;
    writ_error err;
    wr_store *st2;
    assert_int_equal(wr_store_open(redis_url, dbfile, &st2, &err), WRIT_OK);
    wr_limits *ahead, *behind;
    assert_int_equal(wr_limits_open(f->st, NULL, &ahead, &err), WRIT_OK);
    assert_int_equal(wr_limits_open(st2, NULL, &behind, &err), WRIT_OK);
    wr_limits *both[2] = {ahead, behind};
    for (int i = 0; i < 2; i++) {
        wr_limit_set *set = wr_limit_set_new();
        assert_int_equal(wr_limit_set_add(set, "n 60 x per task", 0, &err), WRIT_OK); /* 2 s buckets */
        assert_int_equal(wr_limits_install(both[i], set, 0, &err), WRIT_OK);
    }
    int64_t edge = ((int64_t)time(NULL) * 1000 / 2000 + 1) * 2000; /* the next bucket's start */
    wr_history_keys k = {"t", "a", "a"};
    for (int i = 0; i < 6; i++) {
        bool behind_now = i == 5;
        wr_history h;
        json_t *obj = NULL;
        assert_int_equal(wr_history_begin(behind_now ? behind : ahead, "x", &k, NULL, NULL, NULL, NULL,
                                          behind_now ? edge - 1 : edge, !behind_now, &obj, &h, &err),
                         WRIT_OK);
        assert_int_equal(json_integer_value(json_object_get(obj, "n")), i);
        if (!behind_now)
            assert_int_equal(wr_history_commit(ahead, &h, &err), WRIT_OK);
        assert_int_equal(wr_history_end(&h, &err), WRIT_OK);
        json_decref(obj);
    }
    wr_limits_close(ahead);
    wr_limits_close(behind);
    wr_store_close(st2);
}

/* A take given back (an add of -delta) that brings its bucket back to 0
 * leaves nothing behind: on Redis takes given back over ever new keys
 * would otherwise keep a key each at 0 until the window passes. */
static void test_counter_give_back(void **state)
{
    fixture *f = *state;
    writ_error err;
    int64_t far = (int64_t)time(NULL) * 1000 + 3600000, sum = -1;
    assert_int_equal(wr_store_counter_take(f->st, "gb", "k", 10, 12, 12, 3, far, &sum, &err), WRIT_OK);
    assert_int_equal(sum, 0);
    assert_int_equal(wr_store_counter_add(f->st, "gb", "k", 12, -3, far, &err), WRIT_OK);
    assert_int_equal(wr_store_counter_sum(f->st, "gb", "k", 10, 12, &sum, &err), WRIT_OK);
    assert_int_equal(sum, 0);
    redisContext *c = strcmp(f->chk->name, "redis") ? NULL : raw();
    if (c) {
        freeReplyObject(redisCommand(c, "SELECT 3"));
        redisReply *r = redisCommand(c, "EXISTS writ:c:2:gb:k:12");
        assert_non_null(r);
        assert_int_equal(r->integer, 0); /* deleted, not kept at 0 until its expiry */
        freeReplyObject(r);
    }
    /* a bucket a give-back leaves above 0 stays, with its expiry */
    assert_int_equal(wr_store_counter_add(f->st, "gb", "k", 12, 2, far, &err), WRIT_OK);
    assert_int_equal(wr_store_counter_add(f->st, "gb", "k", 12, -1, far, &err), WRIT_OK);
    assert_int_equal(wr_store_counter_sum(f->st, "gb", "k", 10, 12, &sum, &err), WRIT_OK);
    assert_int_equal(sum, 1);
    if (c) {
        redisReply *r = redisCommand(c, "PEXPIRETIME writ:c:2:gb:k:12");
        assert_non_null(r);
        assert_int_equal(r->integer, far);
        freeReplyObject(r);
        redisFree(c);
    }
}

static void test_counter_take(void **state)
{
    fixture *f = *state;
    writ_error err;
    int64_t far = (int64_t)time(NULL) * 1000 + 3600000, sum = -1;
    if (!f->chk->counters) {
        assert_int_not_equal(wr_store_counter_take(f->st, "calls", "k", 10, 12, 12, 1, far, &sum, &err),
                             WRIT_OK);
        return;
    }
    assert_int_equal(wr_store_counter_add(f->st, "calls", "k", 10, 5, far, &err), WRIT_OK);
    assert_int_equal(wr_store_counter_take(f->st, "calls", "k", 10, 12, 12, 4, far, &sum, &err), WRIT_OK);
    assert_int_equal(sum, 5); /* without its own 4 */
    assert_int_equal(wr_store_counter_sum(f->st, "calls", "k", 12, 12, &sum, &err), WRIT_OK);
    assert_int_equal(sum, 4); /* added to the last bucket */
    assert_int_equal(wr_store_counter_take(f->st, "calls", "k", 10, 12, 12, 0, far, &sum, &err), WRIT_OK);
    assert_int_equal(sum, 9); /* delta 0 only reads */
    assert_int_equal(wr_store_counter_take(f->st, "calls", "k", 11, 12, 12, -4, far, &sum, &err), WRIT_OK);
    assert_int_equal(sum, 4); /* a give-back is an add of -delta; a take of -4 is one too */
    assert_int_equal(wr_store_counter_sum(f->st, "calls", "k", 10, 12, &sum, &err), WRIT_OK);
    assert_int_equal(sum, 5);
    enum { N = 8 };
    pthread_t t[N];
    static taker tk[N];
    for (int i = 0; i < N; i++) {
        tk[i] = (taker){.st = f->st, .far = far};
        pthread_create(&t[i], NULL, take_many, &tk[i]);
    }
    bool read[N * 25] = {false};
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(tk[i].s, WRIT_OK);
        for (int j = 0; j < 25; j++) {
            assert_in_range(tk[i].got[j], 0, N * 25 - 1);
            if (read[tk[i].got[j]])
                fail_msg("two takes read the same sum %lld", (long long)tk[i].got[j]);
            read[tk[i].got[j]] = true;
        }
    }
    assert_int_equal(wr_store_counter_sum(f->st, "race", "k", 0, 40, &sum, &err), WRIT_OK);
    assert_int_equal(sum, N * 25);
}

/* One batch of many adds (the write-behind flush): past the SQLite
 * backend's rows per statement (64), with a (limit, key, bucket) given
 * twice in the batch, both of which count. */
static void test_counter_batch(void **state)
{
    fixture *f = *state;
    if (!f->chk->counters)
        return;
    writ_error err;
    int64_t far = (int64_t)time(NULL) * 1000 + 3600000;
    enum { N = 150 };
    static char keys[N][16];
    wr_counter_delta d[N + 2];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "b:%d", i);
        d[i] = (wr_counter_delta){"batch", keys[i], 20 + i % 3, i + 1, far};
    }
    d[N] = (wr_counter_delta){"batch", keys[0], 20, 1000, far};     /* the same row as d[0], later */
    d[N + 1] = (wr_counter_delta){"batch", keys[129], 20, -7, far}; /* d[129], in another chunk */
    assert_int_equal(wr_store_counter_add_many(f->st, d, N + 2, &err), WRIT_OK);
    for (int i = 0; i < N; i++) {
        int64_t sum = -1, want = i + 1 + (i == 0 ? 1000 : 0) + (i == 129 ? -7 : 0);
        assert_int_equal(wr_store_counter_sum(f->st, "batch", keys[i], 20, 22, &sum, &err), WRIT_OK);
        assert_int_equal(sum, want);
        assert_int_equal(wr_store_counter_sum(f->st, "batch", keys[i], 20 + i % 3, 20 + i % 3, &sum, &err),
                         WRIT_OK);
        assert_int_equal(sum, want);
    }
    /* an empty batch is fine too */
    assert_int_equal(wr_store_counter_add_many(f->st, d, 0, &err), WRIT_OK);
}

/* ---- revocations */

typedef struct revs {
    int n;
    char last[64];
    int64_t last_until;
    int stop_after; /* 0 = never */
} revs;

static bool on_rev(void *ud, int kind, const char *value, size_t len, int64_t until)
{
    revs *r = ud;
    if (r->stop_after && r->n >= r->stop_after)
        return false;
    assert_true(kind >= 1 && kind <= 4);
    r->n++;
    snprintf(r->last, sizeof r->last, "%d:%.*s", kind, (int)len, value);
    r->last_until = until;
    return true;
}

static void test_revocations(void **state)
{
    fixture *f = *state;
    if (!f->chk->revocations)
        return;
    writ_error err;
    char cur[WR_REV_CURSOR_MAX] = "";
    revs r = {0};
    assert_int_equal(wr_store_revocation_follow(f->st, cur, 0, on_rev, &r, NULL, &err), WRIT_OK);
    assert_int_equal(r.n, 0);
    assert_true(cur[0] != '\0');
    assert_int_equal(wr_store_revocation_publish(f->st, 1, "jti-1", 5, 100, &err), WRIT_OK);
    assert_int_equal(wr_store_revocation_publish(f->st, 3, "task-9", 6, 0, &err), WRIT_OK);
    assert_int_equal(wr_store_revocation_publish(f->st, 4, "spiffe://x/a b", 14, 50, &err), WRIT_OK);
    assert_int_equal(wr_store_revocation_follow(f->st, cur, 0, on_rev, &r, NULL, &err), WRIT_OK);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.last, "4:spiffe://x/a b");
    assert_int_equal(r.last_until, 50);
    r.n = 0;
    assert_int_equal(wr_store_revocation_follow(f->st, cur, 0, on_rev, &r, NULL, &err), WRIT_OK);
    assert_int_equal(r.n, 0);
    /* republished: until merges (later wins, 0 = forever wins) */
    assert_int_equal(wr_store_revocation_publish(f->st, 4, "spiffe://x/a b", 14, 40, &err), WRIT_OK);
    /* a new follower gets every revocation once */
    char cur2[WR_REV_CURSOR_MAX] = "";
    revs r2 = {0};
    assert_int_equal(wr_store_revocation_follow(f->st, cur2, 0, on_rev, &r2, NULL, &err), WRIT_OK);
    assert_int_equal(r2.n, 3);
    /* a follower that stops keeps its place */
    assert_int_equal(wr_store_revocation_publish(f->st, 2, "jti-2", 5, 0, &err), WRIT_OK);
    assert_int_equal(wr_store_revocation_publish(f->st, 2, "jti-3", 5, 0, &err), WRIT_OK);
    char saved[WR_REV_CURSOR_MAX];
    memcpy(saved, cur2, sizeof saved);
    revs r3 = {.stop_after = 1};
    assert_int_equal(wr_store_revocation_follow(f->st, cur2, 0, on_rev, &r3, NULL, &err), WRIT_OK);
    assert_int_equal(r3.n, 1);
    revs r4 = {0};
    assert_int_equal(wr_store_revocation_follow(f->st, cur2, 0, on_rev, &r4, NULL, &err), WRIT_OK);
    assert_true(r4.n >= 1 && r4.n <= 2);
    assert_string_equal(r4.last, "2:jti-3");
    /* a cursor from elsewhere (past the log's end): everything again */
    char bogus[WR_REV_CURSOR_MAX];
    snprintf(bogus, sizeof bogus, "%s", f->chk->name[0] == 's' ? "999999" : "99999999999999-0/5");
    revs r5 = {0};
    assert_int_equal(wr_store_revocation_follow(f->st, bogus, 0, on_rev, &r5, NULL, &err), WRIT_OK);
    assert_int_equal(r5.n, 5);
    /* bad input */
    assert_int_not_equal(wr_store_revocation_publish(f->st, 5, "x", 1, 0, &err), WRIT_OK);
    assert_int_not_equal(wr_store_revocation_publish(f->st, 1, "", 0, 0, &err), WRIT_OK);
    assert_int_not_equal(wr_store_revocation_publish(f->st, 1, "a\0b", 3, 0, &err), WRIT_OK);
    assert_int_not_equal(wr_store_revocation_publish(f->st, 1, "x", 1, -1, &err), WRIT_OK);
}

/* Redis only: a trimmed log makes a follower reload; a blocked follower
 * wakes as soon as another connection publishes. */
typedef struct waiter {
    wr_store *st;
    char cur[WR_REV_CURSOR_MAX];
    revs r;
    writ_status s;
    struct timespec done;
} waiter;

static void *wait_one(void *arg)
{
    waiter *w = arg;
    writ_error err;
    w->s = wr_store_revocation_follow(w->st, w->cur, 3000, on_rev, &w->r, NULL, &err);
    clock_gettime(CLOCK_MONOTONIC, &w->done);
    return NULL;
}

static void test_redis_feed(void **state)
{
    fixture *f = *state;
    writ_error err;
    char cur[WR_REV_CURSOR_MAX] = "";
    revs r = {0};
    assert_int_equal(wr_store_revocation_publish(f->st, 1, "a", 1, 0, &err), WRIT_OK);
    assert_int_equal(wr_store_revocation_follow(f->st, cur, 0, on_rev, &r, NULL, &err), WRIT_OK);
    assert_int_equal(r.n, 1);
    assert_int_equal(wr_store_revocation_publish(f->st, 1, "b", 1, 0, &err), WRIT_OK);
    assert_int_equal(wr_store_revocation_publish(f->st, 1, "c", 1, 0, &err), WRIT_OK);
    /* trim "b" and "c" out of the log: the follower must still get them */
    redisContext *c = raw();
    assert_non_null(c);
    freeReplyObject(redisCommand(c, "SELECT 3"));
    redisReply *x = redisCommand(c, "XTRIM writ:rev:log MAXLEN 0");
    assert_non_null(x);
    assert_int_equal(x->type, REDIS_REPLY_INTEGER);
    freeReplyObject(x);
    r.n = 0;
    bool lost = true;
    assert_int_equal(wr_store_revocation_follow(f->st, cur, 0, on_rev, &r, &lost, &err), WRIT_OK);
    assert_int_equal(r.n, 3); /* a reload: a, b and c */
    assert_false(lost);       /* trimmed, not lost */
    /* a new log (Redis lost its data): the follower starts over, and hears
     * that what it followed is gone */
    freeReplyObject(redisCommand(c, "FLUSHDB"));
    assert_int_equal(wr_store_revocation_publish(f->st, 1, "d", 1, 0, &err), WRIT_OK);
    r.n = 0;
    assert_int_equal(wr_store_revocation_follow(f->st, cur, 0, on_rev, &r, &lost, &err), WRIT_OK);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.last, "1:d");
    assert_true(lost);
    assert_int_equal(wr_store_revocation_follow(f->st, cur, 0, on_rev, &r, &lost, &err), WRIT_OK);
    assert_false(lost);
    /* lost again, and written to more since than the follower had seen:
     * ids above its cursor and as many entries, so only the epoch tells */
    freeReplyObject(redisCommand(c, "FLUSHDB"));
    const char *more[] = {"f", "g", "h", "i", "j", "k"};
    for (size_t i = 0; i < sizeof more / sizeof *more; i++)
        assert_int_equal(wr_store_revocation_publish(f->st, 1, more[i], 1, 0, &err), WRIT_OK);
    r.n = 0;
    assert_int_equal(wr_store_revocation_follow(f->st, cur, 0, on_rev, &r, &lost, &err), WRIT_OK);
    assert_int_equal(r.n, 6);
    assert_true(lost);
    /* publishing what is known as it is adds nothing to follow */
    r.n = 0;
    assert_int_equal(wr_store_revocation_publish(f->st, 1, "f", 1, 0, &err), WRIT_OK);
    assert_int_equal(wr_store_revocation_follow(f->st, cur, 0, on_rev, &r, &lost, &err), WRIT_OK);
    assert_int_equal(r.n, 0);
    assert_false(lost);
    redisFree(c);

    waiter w = {.st = f->st};
    memcpy(w.cur, cur, sizeof cur);
    pthread_t t;
    pthread_create(&t, NULL, wait_one, &w);
    usleep(200000);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(wr_store_revocation_publish(f->st, 2, "e", 1, 0, &err), WRIT_OK);
    pthread_join(t, NULL);
    assert_int_equal(w.s, WRIT_OK);
    assert_int_equal(w.r.n, 1);
    double ms = (double)(w.done.tv_sec - t0.tv_sec) * 1e3 + (double)(w.done.tv_nsec - t0.tv_nsec) / 1e6;
    assert_true(ms < 500); /* woken by the publication, not by the 3 s timeout */

    /* unreachable: an error, the cursor unchanged */
    wr_store *dead;
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", free_port());
    assert_int_equal(wr_store_open(url, NULL, &dead, &err), WRIT_OK);
    char dc[WR_REV_CURSOR_MAX] = "1-0";
    assert_int_not_equal(wr_store_revocation_follow(dead, dc, 0, on_rev, &r, NULL, &err), WRIT_OK);
    assert_string_equal(dc, "1-0");
    assert_non_null(strstr(err.msg, "state: redis"));
    wr_approval w2, out;
    wr_take res;
    want_init(&w2, "x", race_binding, 1, 1);
    assert_int_not_equal(wr_store_approval_take(dead, &w2, 0, 1, &res, &out, &err), WRIT_OK);
    wr_store_close(dead);
}

/* A revocation set following a store (revfeed.h): what one replica
 * publishes, another's set holds within a second; a set whose store does
 * not answer refuses everything once stale, and still enforces what it
 * is given. */
static void test_follow(void **state)
{
    fixture *f = *state;
    writ_error err;
    wr_store *other;
    assert_int_equal(wr_store_open(redis_url, NULL, &other, &err), WRIT_OK);
    writ_revocations *a, *b;
    assert_int_equal(writ_revocations_open(NULL, &a, &err), WRIT_OK);
    assert_int_equal(writ_revocations_open(NULL, &b, &err), WRIT_OK);
    assert_int_equal(wr_store_revocation_publish(f->st, WRIT_REVOKE_TASK, "before", 6, 0, &err), WRIT_OK);
    assert_int_equal(wr_revocations_follow(a, f->st, 1, NULL, &err), WRIT_OK);
    assert_int_equal(wr_revocations_follow(b, other, 1, NULL, &err), WRIT_OK);
    assert_true(writ_revocations_contains(b, WRIT_REVOKE_TASK, "before", 6)); /* loaded at start */
    assert_false(writ_revocations_contains(b, WRIT_REVOKE_JTI, "j1", 2));
    assert_int_equal(wr_revocations_stale_ms(b), 0);
    assert_int_equal(writ_revocations_add(a, WRIT_REVOKE_JTI, "j1", 2, 0, NULL, &err), WRIT_OK);
    assert_true(writ_revocations_contains(a, WRIT_REVOKE_JTI, "j1", 2));
    bool got = false;
    for (int i = 0; i < 100 && !got; i++) { /* 1 s */
        got = writ_revocations_contains(b, WRIT_REVOKE_JTI, "j1", 2);
        if (!got)
            usleep(10000);
    }
    assert_true(got);
    assert_false(writ_revocations_contains(b, WRIT_REVOKE_JTI, "j2", 2));
    /* following already: it cannot follow a second store */
    assert_int_not_equal(wr_revocations_follow(a, other, 1, NULL, &err), WRIT_OK);
    writ_revocations_close(a);
    writ_revocations_close(b);
    wr_store_close(other);

    wr_store *dead;
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", free_port());
    assert_int_equal(wr_store_open(url, NULL, &dead, &err), WRIT_OK);
    writ_revocations *c;
    assert_int_equal(writ_revocations_open(NULL, &c, &err), WRIT_OK);
    assert_int_equal(wr_revocations_follow(c, dead, 1, NULL, &err), WRIT_OK);
    assert_true(wr_revocations_stale_ms(c) > 0);
    assert_true(writ_revocations_contains(c, WRIT_REVOKE_JTI, "anything", 8)); /* fail closed */
    assert_int_not_equal(writ_revocations_add(c, WRIT_REVOKE_JTI, "x", 1, 0, NULL, &err), WRIT_OK);
    assert_non_null(strstr(err.msg, "this replica only"));
    writ_revocations_close(c);
    wr_store_close(dead);
}

/* A set opened on a file and following keeps the file as its local copy:
 * what it learns and what it takes is written there, and a set started on
 * that copy after the store lost everything (every replica stopped at the
 * time) puts it back, so that a replica with no copy learns it too. */
static bool wait_contains(writ_revocations *r, writ_revoke_kind k, const char *v)
{
    for (int i = 0; i < 200; i++) { /* 2 s */
        if (writ_revocations_contains(r, k, v, strlen(v)))
            return true;
        usleep(10000);
    }
    return false;
}

static void test_follow_copy(void **state)
{
    fixture *f = *state;
    writ_error err;
    char copy[320];
    snprintf(copy, sizeof copy, "%s/copy.db", tmpdir);
    unlink(copy);
    int64_t past = (int64_t)time(NULL) - 10;
    assert_int_equal(wr_store_revocation_publish(f->st, WRIT_REVOKE_TASK, "learned", 7, 0, &err), WRIT_OK);
    assert_int_equal(wr_store_revocation_publish(f->st, WRIT_REVOKE_JTI, "gone", 4, past, &err), WRIT_OK);
    writ_revocations *a, *b;
    assert_int_equal(writ_revocations_open(copy, &a, &err), WRIT_OK);
    assert_int_equal(wr_revocations_follow(a, f->st, 1, NULL, &err), WRIT_OK);
    assert_true(writ_revocations_contains(a, WRIT_REVOKE_TASK, "learned", 7));
    assert_int_equal(writ_revocations_add(a, WRIT_REVOKE_AGENT, "taken", 5, 0, NULL, &err), WRIT_OK);
    assert_int_equal(wr_store_revocation_publish(f->st, WRIT_REVOKE_JTI, "later", 5, 0, &err), WRIT_OK);
    assert_true(wait_contains(a, WRIT_REVOKE_JTI, "later"));
    usleep(100000); /* the step's copy is written after it applied */
    writ_revocations_close(a);
    /* the copy, read as a plain file: all four rows */
    assert_int_equal(writ_revocations_open(copy, &b, &err), WRIT_OK);
    assert_true(writ_revocations_contains(b, WRIT_REVOKE_TASK, "learned", 7));
    assert_true(writ_revocations_contains(b, WRIT_REVOKE_AGENT, "taken", 5));
    assert_true(writ_revocations_contains(b, WRIT_REVOKE_JTI, "later", 5));
    writ_revocations_close(b);

    /* every replica stopped, the store loses everything */
    redisContext *c = raw();
    assert_non_null(c);
    freeReplyObject(redisCommand(c, "SELECT 3"));
    freeReplyObject(redisCommand(c, "FLUSHDB"));
    redisFree(c);
    /* a replica with no copy knows nothing now */
    assert_int_equal(writ_revocations_open(NULL, &b, &err), WRIT_OK);
    assert_int_equal(wr_revocations_follow(b, f->st, 1, NULL, &err), WRIT_OK);
    assert_false(writ_revocations_contains(b, WRIT_REVOKE_TASK, "learned", 7));
    /* the replica with the copy starts: it puts the live ones back */
    assert_int_equal(writ_revocations_open(copy, &a, &err), WRIT_OK);
    assert_int_equal(wr_revocations_follow(a, f->st, 1, NULL, &err), WRIT_OK);
    assert_true(wait_contains(b, WRIT_REVOKE_TASK, "learned"));
    assert_true(wait_contains(b, WRIT_REVOKE_AGENT, "taken"));
    assert_true(wait_contains(b, WRIT_REVOKE_JTI, "later"));
    assert_false(writ_revocations_contains(b, WRIT_REVOKE_JTI, "gone", 4)); /* expired: not put back */
    writ_revocations_close(a);
    writ_revocations_close(b);
    unlink(copy);
}

/* A local copy that cannot be written (a full disk; here its table renamed
 * away by another connection, so every write fails at once) is tried again
 * with a back-off (1 s, 2 s, 4 s, ...), not at every step of the feed, and
 * is written whole once it can be. */
static atomic_int copy_fails, copy_whole_ok;
static void count_copy_log(const char *msg)
{
    if (strstr(msg, "cannot write this replica's local copy of the revocations"))
        atomic_fetch_add(&copy_fails, 1);
    if (strstr(msg, "local copy of the revocations written whole again"))
        atomic_fetch_add(&copy_whole_ok, 1);
}

static void test_follow_copy_backoff(void **state)
{
    fixture *f = *state;
    writ_error err;
    char copy[320], name[32];
    snprintf(copy, sizeof copy, "%s/copy-backoff.db", tmpdir);
    unlink(copy);
    atomic_store(&copy_fails, 0);
    atomic_store(&copy_whole_ok, 0);
    writ_revocations *a, *b;
    assert_int_equal(writ_revocations_open(copy, &a, &err), WRIT_OK);
    assert_int_equal(wr_revocations_follow(a, f->st, 5, count_copy_log, &err), WRIT_OK);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(copy, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db, "ALTER TABLE revocations RENAME TO broken", NULL, NULL, NULL), SQLITE_OK);
    /* 3.5 s of feed steps, a new revocation every 50 ms: the old code
     * rewrote the copy (and logged) at each of them */
    for (int i = 0; i < 70; i++) {
        snprintf(name, sizeof name, "b%d", i);
        assert_int_equal(wr_store_revocation_publish(f->st, WRIT_REVOKE_JTI, name, strlen(name), 0, &err), WRIT_OK);
        usleep(50000);
    }
    assert_true(wait_contains(a, WRIT_REVOKE_JTI, "b69"));
    int fails = atomic_load(&copy_fails);
    if (fails < 2 || fails > 3) /* at once, after 1 s, after 3 s */
        fail_msg("%d attempts to write the copy whole in 3.5 s (expected 2 or 3)", fails);
    assert_int_equal(atomic_load(&copy_whole_ok), 0);
    /* the copy can be written again: the next try (4 s after the last
     * failure at most) writes it whole */
    assert_int_equal(sqlite3_exec(db, "ALTER TABLE broken RENAME TO revocations", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    for (int i = 0; i < 60 && !atomic_load(&copy_whole_ok); i++) {
        snprintf(name, sizeof name, "c%d", i);
        assert_int_equal(wr_store_revocation_publish(f->st, WRIT_REVOKE_JTI, name, strlen(name), 0, &err), WRIT_OK);
        usleep(100000);
    }
    assert_int_equal(atomic_load(&copy_whole_ok), 1);
    assert_true(atomic_load(&copy_fails) <= 4);
    usleep(200000);
    writ_revocations_close(a);
    assert_int_equal(writ_revocations_open(copy, &b, &err), WRIT_OK);
    assert_true(writ_revocations_contains(b, WRIT_REVOKE_JTI, "b0", 2));
    assert_true(writ_revocations_contains(b, WRIT_REVOKE_JTI, "b69", 3));
    assert_true(writ_revocations_contains(b, WRIT_REVOKE_JTI, "c0", 2));
    writ_revocations_close(b);
    unlink(copy);
}

/* ---- MCP task bindings */

static bool bind_task(wr_store *st, const char *up, const char *id, const char *owner, int64_t exp,
                      uint32_t max, int64_t now)
{
    bool mine = true;
    writ_error err;
    writ_status rc = wr_store_mcp_task_bind(st, up, id, strlen(id), owner, exp, max, now, &mine, &err);
    if (rc)
        fail_msg("bind %s: %s", id, err.msg);
    return mine;
}

/* The owner of a live binding, "" for none. */
static const char *task_owner(wr_store *st, const char *up, const char *id, int64_t now, int64_t *exp)
{
    static char owner[WR_MCP_TASK_OWNER_MAX + 1];
    bool found;
    int64_t e;
    writ_error err;
    writ_status rc =
        wr_store_mcp_task_owner(st, up, id, strlen(id), now, owner, exp ? exp : &e, &found, &err);
    if (rc)
        fail_msg("owner %s: %s", id, err.msg);
    assert_true(found == (owner[0] != '\0'));
    return owner;
}

static const char *TA = "Agent spiffe://corp.example/agents/a", *TB = "Agent spiffe://corp.example/agents/b";

/* A task is its first owner's until it expires, on one upstream; lookups
 * honour the expiry; the arguments are bounded. */
static void test_mcp_tasks(void **state)
{
    fixture *f = *state;
    wr_store *st = f->st;
    int64_t now = (int64_t)time(NULL) * 1000, exp; /* Redis expires keys by its own clock */
    assert_true(bind_task(st, "ev", "t1", TA, now + 60000, 0, now));
    assert_string_equal(task_owner(st, "ev", "t1", now, &exp), TA);
    assert_int_equal(exp, now + 60000);
    /* the first writer wins: another's claim fails, the owner's again is kept as it was */
    assert_false(bind_task(st, "ev", "t1", TB, now + 90000, 0, now + 10));
    assert_true(bind_task(st, "ev", "t1", TA, now + 90000, 0, now + 10));
    assert_string_equal(task_owner(st, "ev", "t1", now + 10, &exp), TA);
    assert_int_equal(exp, now + 60000);
    /* unknown ids, another upstream, a prefix of the id: nobody's */
    assert_string_equal(task_owner(st, "ev", "t2", now, NULL), "");
    assert_string_equal(task_owner(st, "evh", "t1", now, NULL), "");
    assert_string_equal(task_owner(st, "ev", "t", now, NULL), "");
    assert_true(bind_task(st, "evh", "t1", TB, now + 60000, 0, now));
    assert_string_equal(task_owner(st, "evh", "t1", now, NULL), TB);
    assert_string_equal(task_owner(st, "ev", "t1", now, NULL), TA);
    /* names that run together differently are different bindings */
    assert_true(bind_task(st, "e", "vt1", TB, now + 60000, 0, now));
    assert_string_equal(task_owner(st, "ev", "t1", now, NULL), TA);
    /* expiry: by the caller's clock; then the id may be bound again */
    assert_true(bind_task(st, "ev", "short", TA, now + 5000, 0, now));
    assert_string_equal(task_owner(st, "ev", "short", now + 4999, NULL), TA);
    assert_string_equal(task_owner(st, "ev", "short", now + 5000, NULL), "");
    assert_true(bind_task(st, "ev", "short", TB, now + 60000, 0, now + 5100));
    assert_string_equal(task_owner(st, "ev", "short", now + 5100, NULL), TB);
    /* an id of 8 KiB is kept whole; past it, with a NUL or empty: refused */
    char *big = malloc(WR_MCP_TASK_ID_MAX + 2);
    memset(big, 'x', WR_MCP_TASK_ID_MAX + 1);
    big[WR_MCP_TASK_ID_MAX] = '\0';
    assert_true(bind_task(st, "ev", big, TA, now + 60000, 0, now));
    assert_string_equal(task_owner(st, "ev", big, now, NULL), TA);
    big[WR_MCP_TASK_ID_MAX - 1] = 'y'; /* differs in its last byte only */
    assert_string_equal(task_owner(st, "ev", big, now, NULL), "");
    big[WR_MCP_TASK_ID_MAX] = 'x';
    big[WR_MCP_TASK_ID_MAX + 1] = '\0';
    bool mine = true, found = true;
    char owner[WR_MCP_TASK_OWNER_MAX + 1];
    writ_error err;
    assert_int_equal(wr_store_mcp_task_bind(st, "ev", big, strlen(big), TA, now + 1, 0, now, &mine, &err),
                     WRIT_EINVAL);
    assert_false(mine);
    assert_int_equal(wr_store_mcp_task_owner(st, "ev", big, strlen(big), now, owner, &exp, &found, &err),
                     WRIT_EINVAL);
    assert_false(found);
    assert_int_equal(wr_store_mcp_task_bind(st, "ev", "t\0x", 3, TA, now + 1, 0, now, &mine, &err),
                     WRIT_EINVAL);
    assert_int_equal(wr_store_mcp_task_owner(st, "ev", "t1\0", 3, now, owner, &exp, &found, &err),
                     WRIT_EINVAL);
    assert_int_equal(wr_store_mcp_task_bind(st, "ev", "", 0, TA, now + 1, 0, now, &mine, &err), WRIT_EINVAL);
    assert_int_equal(wr_store_mcp_task_bind(st, "", "t9", 2, TA, now + 1, 0, now, &mine, &err), WRIT_EINVAL);
    assert_int_equal(wr_store_mcp_task_bind(st, "ev", "t9", 2, "", now + 1, 0, now, &mine, &err),
                     WRIT_EINVAL);
    memset(big, 'o', WR_MCP_TASK_OWNER_MAX + 1);
    big[WR_MCP_TASK_OWNER_MAX + 1] = '\0';
    assert_int_equal(wr_store_mcp_task_bind(st, "ev", "t9", 2, big, now + 1, 0, now, &mine, &err),
                     WRIT_EINVAL);
    assert_non_null(strstr(err.msg, "owner"));
    big[WR_MCP_TASK_OWNER_MAX] = '\0'; /* at the bound: kept whole */
    assert_true(bind_task(st, "ev", "t9", big, now + 60000, 0, now));
    assert_string_equal(task_owner(st, "ev", "t9", now, NULL), big);
    free(big);
    if (!strcmp(f->chk->name, "redis")) {
        /* every key is short and expires */
        redisContext *c = raw();
        assert_non_null(c);
        freeReplyObject(redisCommand(c, "SELECT 3"));
        redisReply *r = redisCommand(c, "KEYS writ:mt*");
        assert_true(r && r->type == REDIS_REPLY_ARRAY && r->elements >= 8);
        for (size_t i = 0; i < r->elements; i++) {
            assert_true(r->element[i]->len <= 73);
            redisReply *t = redisCommand(c, "PTTL %s", r->element[i]->str);
            assert_true(t && t->type == REDIS_REPLY_INTEGER && t->integer != -1);
            freeReplyObject(t);
        }
        freeReplyObject(r);
        redisFree(c);
    }
}

/* An owner keeps at most max_per_owner live bindings on an upstream: its
 * bindings expiring first go, the new one never, nobody else's ever. */
static void test_mcp_task_cap(void **state)
{
    fixture *f = *state;
    wr_store *st = f->st;
    int64_t now = (int64_t)time(NULL) * 1000;
    assert_true(bind_task(st, "ev", "b1", TB, now + 60000, 3, now));
    char id[32];
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "a%d", i);
        assert_true(bind_task(st, "ev", id, TA, now + 60000 + i, 3, now + i));
    }
    assert_string_equal(task_owner(st, "ev", "a9", now + 20, NULL), TA);
    assert_string_equal(task_owner(st, "ev", "a8", now + 20, NULL), TA);
    assert_string_equal(task_owner(st, "ev", "a7", now + 20, NULL), TA);
    assert_string_equal(task_owner(st, "ev", "a6", now + 20, NULL), "");
    assert_string_equal(task_owner(st, "ev", "a0", now + 20, NULL), "");
    assert_string_equal(task_owner(st, "ev", "b1", now + 20, NULL), TB);
    /* the new one stays even when it expires before the others */
    assert_true(bind_task(st, "ev", "soon", TA, now + 1000, 3, now + 30));
    assert_string_equal(task_owner(st, "ev", "soon", now + 30, NULL), TA);
    assert_string_equal(task_owner(st, "ev", "a9", now + 30, NULL), TA);
    assert_string_equal(task_owner(st, "ev", "a8", now + 30, NULL), TA);
    assert_string_equal(task_owner(st, "ev", "a7", now + 30, NULL), "");
    /* the same owner on another upstream has its own count */
    assert_true(bind_task(st, "evh", "a0", TA, now + 60000, 3, now + 40));
    assert_string_equal(task_owner(st, "ev", "a9", now + 40, NULL), TA);
    /* expired ones do not count */
    assert_true(bind_task(st, "evh", "x1", TA, now + 100, 2, now + 40));
    assert_true(bind_task(st, "evh", "x2", TA, now + 60000, 2, now + 200));
    assert_string_equal(task_owner(st, "evh", "a0", now + 200, NULL), TA);
    assert_string_equal(task_owner(st, "evh", "x2", now + 200, NULL), TA);
    /* 0: no cap */
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof id, "n%d", i);
        assert_true(bind_task(st, "nc", id, TA, now + 60000, 0, now));
    }
    assert_string_equal(task_owner(st, "nc", "n0", now, NULL), TA);
}

/* SQLite: expired rows are deleted by later binds, at most 64 a bind. */
static void test_mcp_task_cleanup(void **state)
{
    fixture *f = *state;
    int64_t now = (int64_t)time(NULL) * 1000;
    char id[32];
    for (int i = 0; i < 150; i++) {
        snprintf(id, sizeof id, "old%d", i);
        assert_true(bind_task(f->st, "ev", id, TA, now + 10, 0, now));
    }
    sqlite3 *h;
    assert_int_equal(sqlite3_open(dbfile, &h), SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    long long n[4];
    for (int k = 0; k < 4; k++) {
        if (k) {
            snprintf(id, sizeof id, "new%d", k);
            assert_true(bind_task(f->st, "ev", id, TA, now + 60000, 0, now + 100));
        }
        sqlite3_stmt *q;
        assert_int_equal(
            sqlite3_prepare_v2(h, "SELECT count(*) FROM mcp_tasks WHERE expires_ms <= ?", -1, &q, NULL),
            SQLITE_OK);
        sqlite3_bind_int64(q, 1, now + 100);
        assert_int_equal(sqlite3_step(q), SQLITE_ROW);
        n[k] = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
    }
    sqlite3_close(h);
    assert_int_equal(n[0], 150);
    assert_int_equal(n[1], 150 - 64);
    assert_int_equal(n[2], 150 - 128);
    assert_int_equal(n[3], 0);
}

typedef struct task_racer {
    wr_store *st;
    char owner[32];
    int64_t now;
    bool mine;
    writ_status s;
} task_racer;

static void *task_race(void *arg)
{
    task_racer *r = arg;
    writ_error err;
    r->s =
        wr_store_mcp_task_bind(r->st, "ev", "raced", 5, r->owner, r->now + 60000, 8, r->now, &r->mine, &err);
    return NULL;
}

/* Owners binding one id at once: exactly one has it. */
static void test_mcp_task_race(void **state)
{
    fixture *f = *state;
    enum { N = 16 };
    int64_t now = (int64_t)time(NULL) * 1000;
    pthread_t t[N];
    task_racer r[N];
    for (int i = 0; i < N; i++) {
        r[i] = (task_racer){.st = f->st, .now = now};
        snprintf(r[i].owner, sizeof r[i].owner, "Agent racer-%d", i);
        pthread_create(&t[i], NULL, task_race, &r[i]);
    }
    int mine = 0, who = -1;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(r[i].s, WRIT_OK);
        if (r[i].mine) {
            mine++;
            who = i;
        }
    }
    assert_int_equal(mine, 1);
    assert_string_equal(task_owner(f->st, "ev", "raced", now, NULL), r[who].owner);
}

/* Redis unreachable: both operations fail (the gateway then refuses),
 * nothing is found. */
static void test_mcp_task_unreachable(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/3", free_port());
    wr_store *st;
    writ_error err;
    wr_store_opts o = {.timeout_ms = 500};
    assert_int_equal(wr_store_open_opts(url, NULL, &o, &st, &err), WRIT_OK);
    bool mine = true, found = true;
    char owner[WR_MCP_TASK_OWNER_MAX + 1] = "x";
    int64_t exp = 1;
    assert_int_equal(
        wr_store_mcp_task_bind(st, "ev", "t1", 2, TA, 1700000060000, 0, 1700000000000, &mine, &err),
        WRIT_EIO);
    assert_false(mine);
    assert_non_null(strstr(err.msg, "redis"));
    assert_int_equal(wr_store_mcp_task_owner(st, "ev", "t1", 2, 1700000000000, owner, &exp, &found, &err),
                     WRIT_EIO);
    assert_false(found);
    assert_string_equal(owner, "");
    assert_int_equal(exp, 0);
    wr_store_close(st);
}

/* One task lookup; its status, its time in *ms, its error in err. */
static writ_status lookup(wr_store *st, int64_t *ms, writ_error *err)
{
    char owner[WR_MCP_TASK_OWNER_MAX + 1];
    int64_t exp, t0 = wr_mono_ms();
    bool found;
    writ_status s = wr_store_mcp_task_owner(st, "ev", "b1", 2, 1700000000000, owner, &exp, &found, err);
    *ms = wr_mono_ms() - t0;
    return s;
}

static void client_pause(int ms)
{
    redisContext *c = raw();
    assert_non_null(c);
    redisReply *r = redisCommand(c, "CLIENT PAUSE %d", ms);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    redisFree(c);
}

/* A Redis that does not answer (CLIENT PAUSE: the real server, silent)
 * holds a caller for the timeout once; the calls after it fail at once,
 * saying why, instead of each holding its thread (an HTTP worker) for the
 * timeout too; a call after the hold tries again, and the revocation
 * feed's follow tries at any time and closes the breaker when Redis
 * answers. */
static void test_redis_silent(void **state)
{
    (void)state;
    wr_store *st;
    writ_error err;
    wr_store_opts o = {.timeout_ms = 400};
    assert_int_equal(wr_store_open_opts(redis_url, NULL, &o, &st, &err), WRIT_OK);
    int64_t ms;
    assert_int_equal(lookup(st, &ms, &err), WRIT_OK);
    int64_t paused = wr_mono_ms();
    client_pause(1500);
    assert_int_equal(lookup(st, &ms, &err), WRIT_EIO);
    assert_true(ms >= 350); /* waited for the timeout */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(lookup(st, &ms, &err), WRIT_EIO);
        assert_true(ms < 100); /* at once, not another 400 ms each */
        assert_non_null(strstr(err.msg, "not asked"));
        assert_non_null(strstr(err.msg, "did not answer within 400 ms"));
    }
    /* Redis answers again and the hold (1 s from the first failure) is
     * over: the next call tries, and it works for everyone after it */
    while (wr_mono_ms() - paused < 1700)
        usleep(20000);
    assert_int_equal(lookup(st, &ms, &err), WRIT_OK);
    assert_int_equal(lookup(st, &ms, &err), WRIT_OK);
    /* again; this time the feed's follow closes it before the hold ends */
    paused = wr_mono_ms();
    client_pause(700);
    assert_int_equal(lookup(st, &ms, &err), WRIT_EIO);
    assert_int_equal(lookup(st, &ms, &err), WRIT_EIO);
    assert_true(ms < 100);
    while (wr_mono_ms() - paused < 800)
        usleep(20000);
    char cur[WR_REV_CURSOR_MAX] = "";
    revs r = {0};
    assert_int_equal(wr_store_revocation_follow(st, cur, 0, on_rev, &r, NULL, &err), WRIT_OK);
    assert_true(wr_mono_ms() - paused < 1300); /* before the hold (from ~400 ms) would end */
    assert_int_equal(lookup(st, &ms, &err), WRIT_OK);
    /* a refused connection costs no wait and opens nothing: every call
     * tries (and fails at once) */
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/3", free_port());
    wr_store *gone;
    assert_int_equal(wr_store_open_opts(url, NULL, &o, &gone, &err), WRIT_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(lookup(gone, &ms, &err), WRIT_EIO);
        assert_null(strstr(err.msg, "not asked"));
    }
    wr_store_close(gone);
    wr_store_close(st);
}

static void test_open_errors(void **state)
{
    (void)state;
    wr_store *st;
    writ_error err;
    /* rediss:// (TLS, redis_tls.c): parsed like redis://, no network at open */
    assert_int_equal(wr_store_open("rediss://127.0.0.1:6379", NULL, &st, &err), WRIT_OK);
    assert_string_equal(wr_store_backend(st), "redis");
    assert_true(wr_store_shared(st));
    wr_store_close(st);
    assert_int_equal(wr_store_open("rediss://writ@redis.example:6380/4", NULL, &st, &err), WRIT_OK);
    wr_store_close(st);
    assert_int_equal(wr_store_open("rediss://[::1]", NULL, &st, &err), WRIT_OK);
    wr_store_close(st);
    /* malformed rediss URLs: refused, the byte named */
    static const struct {
        const char *url, *pos, *what;
    } bad[] = {
        {"rediss://", "byte 10", "host name"},
        {"rediss://:6379", "byte 10", "host name"},
        {"rediss://h:0", "byte 12", "port"},
        {"rediss://h:65536", "byte 12", "port"},
        {"rediss://h:63a", "byte 12", "port"},
        {"rediss://h:6379/x", "byte 17", "database"},
        {"rediss://h:6379/1/2", "byte 17", "database"},
        {"rediss://u:pw@h", "byte 10", "state_password_file"},
        {"rediss://h o", "byte 11", "unexpected character"},
        {"rediss://[::1", "byte 10", "unclosed"},
        {"rediss://[::1]x", "byte 15", "unexpected text"},
        {"rediss:/h", NULL, "unsupported"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_not_equal(wr_store_open(bad[i].url, NULL, &st, &err), WRIT_OK);
        assert_null(st);
        if (!strstr(err.msg, bad[i].what) || (bad[i].pos && !strstr(err.msg, bad[i].pos)))
            fail_msg("%s: %s", bad[i].url, err.msg);
        if (bad[i].pos && !strstr(err.msg, "rediss://"))
            fail_msg("%s: the expected form is not named: %s", bad[i].url, err.msg);
    }
    /* TLS settings belong to rediss:// only; files are read at open */
    wr_store_opts to = {.tls_ca = "/nonexistent/ca.pem"};
    assert_int_not_equal(wr_store_open_opts("redis://127.0.0.1:6379", NULL, &to, &st, &err), WRIT_OK);
    assert_non_null(strstr(err.msg, "rediss://"));
    assert_int_not_equal(wr_store_open_opts("sqlite", NULL, &to, &st, &err), WRIT_OK);
    assert_non_null(strstr(err.msg, "rediss://"));
    assert_int_not_equal(wr_store_open_opts("rediss://127.0.0.1:6379", NULL, &to, &st, &err), WRIT_OK);
    assert_non_null(strstr(err.msg, "state_tls_ca"));
    assert_non_null(strstr(err.msg, "/nonexistent/ca.pem"));
    to = (wr_store_opts){.tls_cert = "/nonexistent/c.pem"};
    assert_int_not_equal(wr_store_open_opts("rediss://127.0.0.1:6379", NULL, &to, &st, &err), WRIT_OK);
    assert_non_null(strstr(err.msg, "state_tls_key"));
    assert_int_not_equal(wr_store_open("redis://u:secret@127.0.0.1:6379", NULL, &st, &err), WRIT_OK);
    assert_non_null(strstr(err.msg, "state_password_file"));
    assert_null(strstr(err.msg, "secret"));
    assert_int_not_equal(wr_store_open("redis://127.0.0.1:99999", NULL, &st, &err), WRIT_OK);
    assert_non_null(strstr(err.msg, "port"));
    assert_int_not_equal(wr_store_open("redis://127.0.0.1:6379/x", NULL, &st, &err), WRIT_OK);
    assert_non_null(strstr(err.msg, "database"));
    assert_int_not_equal(wr_store_open("memcached://x", NULL, &st, &err), WRIT_OK);
    assert_non_null(strstr(err.msg, "unsupported"));
    assert_int_equal(wr_store_open("redis://[::1]:6380/2", NULL, &st, &err), WRIT_OK);
    assert_true(wr_store_shared(st));
    wr_store_close(st);
    /* a password file: the wrong password is refused by Redis, clearly */
    char pf[320];
    snprintf(pf, sizeof pf, "%s/pw", tmpdir);
    FILE *fp = fopen(pf, "w");
    fputs("wrong\n", fp);
    fclose(fp);
    wr_store_opts o = {.password_file = pf};
    assert_int_equal(wr_store_open_opts(redis_url, NULL, &o, &st, &err), WRIT_OK);
    int64_t sum;
    assert_int_not_equal(wr_store_counter_sum(st, "l", "k", 0, 1, &sum, &err), WRIT_OK);
    assert_non_null(strstr(err.msg, "AUTH"));
    wr_store_close(st);
    o.password_file = "/nonexistent/pw";
    assert_int_not_equal(wr_store_open_opts(redis_url, NULL, &o, &st, &err), WRIT_OK);
    assert_non_null(strstr(err.msg, "state_password_file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_approvals, sqlite_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_approvals, redis_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_approval_prune, sqlite_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_approval_prune, redis_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_approval_race, sqlite_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_approval_race, redis_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_approval_cap, sqlite_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_approval_cap, redis_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_approval_cap_race, sqlite_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_approval_cap_race, redis_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_approval_pages, sqlite_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_approval_pages, redis_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_approval_many, sqlite_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_approval_many, redis_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_counters, sqlite_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_counters, redis_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_counter_take, sqlite_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_counter_take, redis_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_limits_clocks_apart, redis_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_counter_give_back, sqlite_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_counter_give_back, redis_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_counter_batch, sqlite_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_counter_batch, redis_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_revocations, sqlite_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_revocations, redis_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_redis_feed, redis_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_follow, redis_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_follow_copy, redis_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_follow_copy_backoff, redis_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_mcp_tasks, sqlite_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_mcp_tasks, redis_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_mcp_task_cap, sqlite_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_mcp_task_cap, redis_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_mcp_task_cleanup, sqlite_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_mcp_task_race, sqlite_setup, close_backend),
        cmocka_unit_test_setup_teardown(test_mcp_task_race, redis_setup, close_backend),
        cmocka_unit_test(test_mcp_task_unreachable),
        cmocka_unit_test(test_redis_silent),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
