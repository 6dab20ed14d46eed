/* test_store_approvals.c - the SQLite approvals of the state store: the
 * take step (create, pending again, consume once, denied holds, expiry),
 * decide (found, not found, not pending), list by status, expiry reports
 * once, and threads and a second handle racing on one approved approval:
 * exactly one consumes; threads on their own handles racing at an agent's
 * approval_max_pending: exactly the cap's worth are created, and the count
 * reads an index; a page of the listing reads an index in its order (a
 * file of an older Writ gets it too). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/store.h"

static char dbpath[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dbpath, sizeof dbpath, "/tmp/writ-test-approvals-%d.db", (int)getpid());
    unlink(dbpath);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char p[300];
    unlink(dbpath);
    snprintf(p, sizeof p, "%s-wal", dbpath);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", dbpath);
    unlink(p);
    return 0;
}

static wr_store *open_store(void)
{
    wr_store *st = NULL;
    writ_error err;
    assert_int_equal(wr_store_open("sqlite", dbpath, &st, &err), WRIT_OK);
    assert_non_null(st);
    assert_string_equal(wr_store_backend(st), "sqlite");
    return st;
}

/* A request's approval: id and binding given, the rest fixed. */
static wr_approval want(const char *id, const char *binding, int64_t now, int64_t ttl)
{
    wr_approval a;
    memset(&a, 0, sizeof a);
    snprintf(a.id, sizeof a.id, "%s", id);
    snprintf(a.binding, sizeof a.binding, "%s", binding);
    a.agent = (char *)"Writ::Agent::\"spiffe://corp.example/agents/release-bot\"";
    a.action = (char *)"deploy";
    a.resource = (char *)"Writ::Service::\"payments\"";
    a.task_id = (char *)"task-1";
    a.task_purpose = (char *)"release";
    a.chain = (char *)"[\"spiffe://corp.example/agents/release-bot\"]";
    snprintf(a.input_sha256, sizeof a.input_sha256, "%064d", 0);
    a.input = (char *)"{}";
    a.created_ms = now;
    a.expires_ms = now + ttl;
    return a;
}

static wr_take take(wr_store *st, const char *id, const char *binding, int64_t now, wr_approval *out)
{
    wr_approval w = want(id, binding, now, 60000);
    wr_take res = (wr_take)-1;
    writ_error err;
    assert_int_equal(wr_store_approval_take(st, &w, 0, now, &res, out, &err), WRIT_OK);
    return res;
}

static void test_lifecycle(void **state)
{
    (void)state;
    wr_store *st = open_store();
    int64_t t = 1000000;
    wr_approval a;
    /* first ask: created, pending */
    assert_int_equal(take(st, "a1", "b1", t, &a), WR_TAKE_CREATED);
    assert_string_equal(a.id, "a1");
    assert_int_equal(a.status, WR_APPROVAL_PENDING);
    assert_string_equal(a.action, "deploy");
    assert_string_equal(a.task_purpose, "release");
    assert_null(a.decided_by);
    wr_approval_clear(&a);
    /* asking again: the same pending one, no new id */
    assert_int_equal(take(st, "a2", "b1", t + 10, &a), WR_TAKE_PENDING);
    assert_string_equal(a.id, "a1");
    wr_approval_clear(&a);
    /* approve */
    wr_decide_result dr;
    writ_error err;
    assert_int_equal(
        wr_store_approval_decide(st, "a1", true, "Writ::User::\"alice\"", "ok", t + 20, &dr, &a, &err),
        WRIT_OK);
    assert_int_equal(dr, WR_DECIDE_DONE);
    assert_int_equal(a.status, WR_APPROVAL_APPROVED);
    assert_string_equal(a.decided_by, "Writ::User::\"alice\"");
    assert_string_equal(a.reason, "ok");
    wr_approval_clear(&a);
    /* deciding again: not pending */
    assert_int_equal(wr_store_approval_decide(st, "a1", false, "admin", "no", t + 25, &dr, &a, &err),
                     WRIT_OK);
    assert_int_equal(dr, WR_DECIDE_NOT_PENDING);
    assert_int_equal(a.status, WR_APPROVAL_APPROVED);
    wr_approval_clear(&a);
    assert_int_equal(wr_store_approval_decide(st, "nope", true, "admin", "", t, &dr, &a, &err), WRIT_OK);
    assert_int_equal(dr, WR_DECIDE_NOT_FOUND);
    wr_approval_clear(&a);
    /* consumed once; the next ask creates a new pending one */
    assert_int_equal(take(st, "a3", "b1", t + 30, &a), WR_TAKE_CONSUMED);
    assert_string_equal(a.id, "a1");
    assert_int_equal(a.status, WR_APPROVAL_CONSUMED);
    wr_approval_clear(&a);
    assert_int_equal(take(st, "a4", "b1", t + 40, &a), WR_TAKE_CREATED);
    assert_string_equal(a.id, "a4");
    wr_approval_clear(&a);
    bool found = false;
    assert_int_equal(wr_store_approval_get(st, "a1", t + 50, &a, &found, &err), WRIT_OK);
    assert_true(found);
    assert_int_equal(a.status, WR_APPROVAL_CONSUMED);
    wr_approval_clear(&a);
    assert_int_equal(wr_store_approval_get(st, "zz", t + 50, &a, &found, &err), WRIT_OK);
    assert_false(found);
    /* another binding: its own approval */
    assert_int_equal(take(st, "b2-1", "b2", t + 50, &a), WR_TAKE_CREATED);
    wr_approval_clear(&a);
    /* a denial holds until it expires, and no new pending one is made */
    assert_int_equal(wr_store_approval_decide(st, "b2-1", false, "admin", "not today", t + 60, &dr, &a, &err),
                     WRIT_OK);
    assert_int_equal(dr, WR_DECIDE_DONE);
    wr_approval_clear(&a);
    assert_int_equal(take(st, "b2-2", "b2", t + 70, &a), WR_TAKE_DENIED);
    assert_string_equal(a.id, "b2-1");
    assert_string_equal(a.reason, "not today");
    wr_approval_clear(&a);
    /* past its expiry (created t+50, ttl 60 s) the binding starts over */
    assert_int_equal(take(st, "b2-3", "b2", t + 50 + 60000, &a), WR_TAKE_CREATED);
    wr_approval_clear(&a);
    wr_store_close(st);
}

static void test_expiry_and_list(void **state)
{
    (void)state;
    wr_store *st = open_store();
    int64_t t = 5000000;
    wr_approval a;
    assert_int_equal(take(st, "e1", "x1", t, &a), WR_TAKE_CREATED);
    wr_approval_clear(&a);
    assert_int_equal(take(st, "e2", "x2", t + 1, &a), WR_TAKE_CREATED);
    wr_approval_clear(&a);
    wr_decide_result dr;
    writ_error err;
    assert_int_equal(wr_store_approval_decide(st, "e2", true, "admin", "", t + 2, &dr, &a, &err), WRIT_OK);
    wr_approval_clear(&a);
    /* an approved approval not used in time is expired, never consumed */
    int64_t later = t + 60001;
    assert_int_equal(take(st, "e3", "x2", later, &a), WR_TAKE_CREATED);
    wr_approval_clear(&a);
    /* deciding an expired one: not pending */
    assert_int_equal(wr_store_approval_decide(st, "e1", true, "admin", "", later, &dr, &a, &err), WRIT_OK);
    assert_int_equal(dr, WR_DECIDE_NOT_PENDING);
    assert_int_equal(a.status, WR_APPROVAL_EXPIRED);
    wr_approval_clear(&a);
    wr_approval *v = NULL;
    size_t n = 0;
    assert_int_equal(wr_store_approval_list(st, WR_APPROVAL_EXPIRED, later, &v, &n, &err), WRIT_OK);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].id, "e2"); /* newest first */
    assert_string_equal(v[1].id, "e1");
    wr_approvals_free(v, n);
    assert_int_equal(wr_store_approval_list(st, WR_APPROVAL_PENDING, later, &v, &n, &err), WRIT_OK);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].id, "e3");
    wr_approvals_free(v, n);
    assert_int_equal(wr_store_approval_list(st, -1, later, &v, &n, &err), WRIT_OK);
    assert_int_equal(n, 3);
    wr_approvals_free(v, n);
    /* each expiry is reported once */
    assert_int_equal(wr_store_approval_expired(st, later, &v, &n, &err), WRIT_OK);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].status, WR_APPROVAL_EXPIRED);
    wr_approvals_free(v, n);
    assert_int_equal(wr_store_approval_expired(st, later + 5, &v, &n, &err), WRIT_OK);
    assert_int_equal(n, 0);
    wr_approvals_free(v, n);
    /* bad arguments */
    wr_approval w = want("", "x9", t, 1000);
    wr_take res;
    assert_int_not_equal(wr_store_approval_take(st, &w, 0, t, &res, &a, &err), WRIT_OK);
    assert_int_equal(wr_approval_status_parse("consumed"), WR_APPROVAL_CONSUMED);
    assert_int_equal(wr_approval_status_parse("bogus"), -1);
    assert_string_equal(wr_approval_status_name(WR_APPROVAL_EXPIRED), "expired");
    wr_store_close(st);
    /* persisted: a new handle sees them */
    st = open_store();
    bool found;
    assert_int_equal(wr_store_approval_get(st, "e3", later, &a, &found, &err), WRIT_OK);
    assert_true(found);
    assert_int_equal(a.status, WR_APPROVAL_PENDING);
    wr_approval_clear(&a);
    wr_store_close(st);
}

/* ---- racing: N threads (each with its own handle, like processes on one
 * file, or sharing one) take the same approved approval at once */

#define RACERS 16

typedef struct racer {
    wr_store *st;
    int idx;
    pthread_barrier_t *go;
    wr_take res;
    char got[40];
} racer;

static void *race(void *p)
{
    racer *r = p;
    char id[40];
    snprintf(id, sizeof id, "r-new-%d", r->idx);
    wr_approval w = want(id, "race", 9000000 + 100, 60000), out;
    writ_error err;
    pthread_barrier_wait(r->go);
    if (wr_store_approval_take(r->st, &w, 0, 9000000 + 100, &r->res, &out, &err) == WRIT_OK) {
        snprintf(r->got, sizeof r->got, "%s", out.id);
        wr_approval_clear(&out);
    } else {
        r->res = (wr_take)-1;
    }
    return NULL;
}

static void run_race(bool own_handles)
{
    wr_store *shared = open_store();
    wr_approval a;
    assert_int_equal(take(shared, "r-1", "race", 9000000, &a), WR_TAKE_CREATED);
    wr_approval_clear(&a);
    wr_decide_result dr;
    writ_error err;
    assert_int_equal(wr_store_approval_decide(shared, "r-1", true, "admin", "", 9000000 + 1, &dr, &a, &err),
                     WRIT_OK);
    wr_approval_clear(&a);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, RACERS);
    racer rs[RACERS];
    pthread_t th[RACERS];
    for (int i = 0; i < RACERS; i++) {
        rs[i] = (racer){.st = own_handles ? open_store() : shared, .idx = i, .go = &go};
        pthread_create(&th[i], NULL, race, &rs[i]);
    }
    int consumed = 0, created = 0, pending = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(th[i], NULL);
        if (rs[i].res == WR_TAKE_CONSUMED) {
            consumed++;
            assert_string_equal(rs[i].got, "r-1");
        } else if (rs[i].res == WR_TAKE_CREATED) {
            created++;
        } else if (rs[i].res == WR_TAKE_PENDING) {
            pending++;
        }
        if (own_handles)
            wr_store_close(rs[i].st);
    }
    pthread_barrier_destroy(&go);
    /* one consumes; the first after it creates a new pending approval and
     * the rest find that one */
    assert_int_equal(consumed, 1);
    assert_int_equal(created, 1);
    assert_int_equal(pending, RACERS - 2);
    wr_store_close(shared);
}

static void test_race_shared_handle(void **state)
{
    (void)state;
    run_race(false);
}

static void test_race_own_handles(void **state)
{
    (void)state;
    run_race(true);
}

/* Processes on one file: forked children each open the store and take. */
static void test_race_processes(void **state)
{
    (void)state;
    wr_store *st = open_store();
    wr_approval a;
    assert_int_equal(take(st, "p-1", "proc", 9000000, &a), WR_TAKE_CREATED);
    wr_approval_clear(&a);
    wr_decide_result dr;
    writ_error err;
    assert_int_equal(wr_store_approval_decide(st, "p-1", true, "admin", "", 9000001, &dr, &a, &err), WRIT_OK);
    wr_approval_clear(&a);
    wr_store_close(st);
    enum { KIDS = 8 };
    pid_t kids[KIDS];
    for (int i = 0; i < KIDS; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            wr_store *cs = NULL;
            if (wr_store_open("sqlite", dbpath, &cs, &err))
                _exit(10);
            char id[40];
            snprintf(id, sizeof id, "p-new-%d", i);
            wr_approval w = want(id, "proc", 9000100, 60000), out;
            wr_take res;
            if (wr_store_approval_take(cs, &w, 0, 9000100, &res, &out, &err))
                _exit(11);
            wr_approval_clear(&out);
            wr_store_close(cs);
            _exit(res == WR_TAKE_CONSUMED ? 0 : 1);
        }
    }
    int consumed = 0;
    for (int i = 0; i < KIDS; i++) {
        int ws = 0;
        waitpid(kids[i], &ws, 0);
        assert_true(WIFEXITED(ws));
        assert_true(WEXITSTATUS(ws) <= 1);
        consumed += WEXITSTATUS(ws) == 0;
    }
    assert_int_equal(consumed, 1);
}

/* ---- approval_max_pending on one file: each thread its own connection
 * (as processes are), all for one agent, each with another input */

/* Does a line of the plan of sql (EXPLAIN QUERY PLAN) hold needle? */
static bool plan_has(sqlite3 *db, const char *sql, const char *needle)
{
    char explain[600];
    snprintf(explain, sizeof explain, "EXPLAIN QUERY PLAN %s", sql);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, explain, -1, &q, NULL), SQLITE_OK);
    bool found = false;
    while (sqlite3_step(q) == SQLITE_ROW)
        found |= strstr((const char *)sqlite3_column_text(q, 3), needle) != NULL;
    sqlite3_finalize(q);
    return found;
}

typedef struct cap_racer {
    int idx;
    pthread_barrier_t *go;
    writ_status s;
    wr_take res;
} cap_racer;

static void *cap_race(void *p)
{
    cap_racer *r = p;
    wr_store *st = NULL;
    writ_error err;
    r->s = wr_store_open("sqlite", dbpath, &st, &err);
    char id[40], binding[65];
    snprintf(id, sizeof id, "cap-%d", r->idx);
    snprintf(binding, sizeof binding, "cap-%d", r->idx);
    wr_approval w = want(id, binding, 9000000, 60000), out;
    pthread_barrier_wait(r->go);
    if (r->s == WRIT_OK) {
        r->s = wr_store_approval_take(st, &w, 3, 9000000, &r->res, &out, &err);
        wr_approval_clear(&out);
    }
    wr_store_close(st);
    return NULL;
}

static void test_cap_own_handles(void **state)
{
    (void)state;
    wr_store_close(open_store()); /* the schema, before the racers */
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, RACERS);
    cap_racer rs[RACERS];
    pthread_t th[RACERS];
    for (int i = 0; i < RACERS; i++) {
        rs[i] = (cap_racer){.idx = i, .go = &go};
        pthread_create(&th[i], NULL, cap_race, &rs[i]);
    }
    int created = 0, full = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(rs[i].s, WRIT_OK);
        created += rs[i].res == WR_TAKE_CREATED;
        full += rs[i].res == WR_TAKE_FULL;
    }
    pthread_barrier_destroy(&go);
    assert_int_equal(created, 3);
    assert_int_equal(full, RACERS - 3);
    /* the count is a range of an index, not a scan of the table */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_true(plan_has(db,
                         "SELECT count(*) FROM (SELECT 1 FROM approvals WHERE agent = ?1 AND status = 0 AND "
                         "expires_ms > ?2 LIMIT ?3)",
                         "USING COVERING INDEX approvals_by_agent"));
    sqlite3_close(db);
}

/* ---- pages of the listing: an index in the listing's order, no sort */

/* Does plan (EXPLAIN QUERY PLAN of sql) read approvals_by_created_id and
 * sort nothing? */
static bool page_plan_ok(sqlite3 *db, const char *sql)
{
    return plan_has(db, sql, "INDEX approvals_by_created_id") && !plan_has(db, sql, "TEMP B-TREE");
}

static void test_page_plan(void **state)
{
    (void)state;
    /* a file of an older Writ: its index of created_ms alone is replaced */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TABLE approvals (id TEXT PRIMARY KEY, binding TEXT NOT NULL, status "
                     "INTEGER NOT NULL, agent TEXT NOT NULL, action TEXT NOT NULL, resource TEXT NOT "
                     "NULL, task_id TEXT, task_purpose TEXT, chain TEXT NOT NULL, input_sha256 TEXT "
                     "NOT NULL, input TEXT NOT NULL, created_ms INTEGER NOT NULL, expires_ms INTEGER "
                     "NOT NULL, decided_ms INTEGER NOT NULL DEFAULT 0, decided_by TEXT, reason TEXT, "
                     "expiry_reported INTEGER NOT NULL DEFAULT 0);"
                     "CREATE INDEX approvals_by_created ON approvals(created_ms);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    wr_store *st = open_store();
    for (int i = 0; i < 40; i++) {
        char id[40];
        snprintf(id, sizeof id, "pl-%02d", i);
        wr_approval w = want(id, id, 9000000 + i / 4, 60000), out;
        wr_take res;
        writ_error err;
        assert_int_equal(wr_store_approval_take(st, &w, 0, 9000000, &res, &out, &err), WRIT_OK);
        wr_approval_clear(&out);
    }
    wr_store_close(st);
    assert_int_equal(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE "
                                        "'approvals_by_created%'",
                                        -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "approvals_by_created_id");
    assert_int_equal(sqlite3_step(q), SQLITE_DONE);
    sqlite3_finalize(q);
    /* the page queries of sqlite_approvals.c: every status, first page and after a place */
    const char *conds[] = {"?1 = ?1", "status = 0 AND expires_ms > ?1", "status = 2 AND ?1 = ?1",
                           "status IN (0, 1) AND expires_ms <= ?1"};
    for (size_t i = 0; i < sizeof conds / sizeof conds[0]; i++) {
        for (int after = 0; after < 2; after++) {
            char sql[400];
            snprintf(sql, sizeof sql,
                     "SELECT * FROM approvals WHERE %s%s ORDER BY created_ms DESC, id DESC LIMIT ?4",
                     conds[i], after ? " AND (created_ms, id) < (?2, ?3)" : "");
            assert_true(page_plan_ok(db, sql));
        }
    }
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry_and_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_race_shared_handle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_race_own_handles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_race_processes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cap_own_handles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_page_plan, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
