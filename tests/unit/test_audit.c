/* test_audit.c - the hash-chained audit log: append, reopen, verify,
 * tampering (edit, delete, truncate, reorder), queries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/audit.h"

static char dir[64];
static char db[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/writ-audit-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(db, sizeof db, "%s/writ.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char p[160];
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", db, sfx[i]);
        unlink(p);
    }
    rmdir(dir);
    return 0;
}

static void append_n(int from, int n)
{
    wr_audit *a;
    writ_error err;
    if (wr_audit_open(db, 7, 16, &a, &err) != WRIT_OK)
        fail_msg("open: %s", err.msg);
    for (int i = from; i < from + n; i++) {
        char agent[64], res[64];
        snprintf(agent, sizeof agent, "Writ::Agent::\"a%d\"", i % 3);
        snprintf(res, sizeof res, "Writ::Dataset::\"d%d\"", i);
        wr_audit_entry e = {
            .time_ms = 1700000000000 + i, .agent = agent, .chain = "[\"x\"]", .task = i % 2 ? "t1" : NULL,
            .action = "Writ::Action::\"read\"", .resource = res, .allow = i % 2, .policies = "[\"policy0\"]",
            .errors = "[]",
        };
        assert_int_equal(wr_audit_append(a, &e), WRIT_OK);
    }
    wr_audit_close(a);
}

static writ_status verify(wr_audit_verify_result *r)
{
    writ_error err;
    writ_status st = wr_audit_verify(db, r, &err);
    if (st != WRIT_OK && st != WRIT_EVALIDATE)
        fail_msg("verify: %s", err.msg);
    return st;
}

static void sql(const char *q)
{
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(h, q, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", q, msg);
    sqlite3_close(h);
}

static void chain_whole_and_continued(void **state)
{
    (void)state;
    wr_audit_verify_result r;
    append_n(0, 100);
    assert_int_equal(verify(&r), WRIT_OK);
    assert_int_equal(r.records, 100);
    char head[65];
    memcpy(head, r.head, sizeof head);
    append_n(100, 50);  /* reopening continues the chain */
    assert_int_equal(verify(&r), WRIT_OK);
    assert_int_equal(r.records, 150);
    assert_int_equal(r.last_seq, 150);
    assert_string_not_equal(r.head, head);
}

static void tampering_detected(void **state)
{
    (void)state;
    wr_audit_verify_result r;
    append_n(0, 30);
    sql("UPDATE audit SET decision = 'allow' WHERE seq = 11");
    assert_int_equal(verify(&r), WRIT_EVALIDATE);
    assert_int_equal(r.bad_seq, 11);
    assert_non_null(strstr(r.msg, "edited"));
    sql("UPDATE audit SET decision = 'deny' WHERE seq = 11");
    assert_int_equal(verify(&r), WRIT_OK);

    sql("UPDATE audit SET agent = 'Writ::Agent::\"evil\"' WHERE seq = 3");
    assert_int_equal(verify(&r), WRIT_EVALIDATE);
    assert_int_equal(r.bad_seq, 3);
}

static void deletion_detected(void **state)
{
    (void)state;
    wr_audit_verify_result r;
    append_n(0, 30);
    sql("DELETE FROM audit WHERE seq = 12");
    assert_int_equal(verify(&r), WRIT_EVALIDATE);
    assert_int_equal(r.bad_seq, 13);
    assert_non_null(strstr(r.msg, "missing"));
}

static void truncation_detected(void **state)
{
    (void)state;
    wr_audit_verify_result r;
    append_n(0, 30);
    sql("DELETE FROM audit WHERE seq > 25");
    assert_int_equal(verify(&r), WRIT_EVALIDATE);
    assert_non_null(strstr(r.msg, "head"));
}

static void rehash_without_prev_detected(void **state)
{
    (void)state;
    /* Swap two records' contents: seq order stays, hashes no longer chain. */
    wr_audit_verify_result r;
    append_n(0, 10);
    sql("UPDATE audit SET seq = -1 WHERE seq = 4; UPDATE audit SET seq = 4 WHERE seq = 5;"
        " UPDATE audit SET seq = 5 WHERE seq = -1");
    assert_int_equal(verify(&r), WRIT_EVALIDATE);
    assert_int_equal(r.bad_seq, 4);
}

typedef struct qctx {
    int n;
    uint64_t seqs[64];
} qctx;

static int collect(void *ctx, const wr_audit_row *row)
{
    qctx *q = ctx;
    if (q->n < 64)
        q->seqs[q->n] = row->seq;
    q->n++;
    return 0;
}

static void queries(void **state)
{
    (void)state;
    append_n(0, 30);
    writ_error err;
    qctx q = {0};
    wr_audit_filter f = {.decision = -1, .limit = 5, .last = true};
    assert_int_equal(wr_audit_query(db, &f, collect, &q, &err), WRIT_OK);
    assert_int_equal(q.n, 5);
    assert_int_equal(q.seqs[0], 26);
    assert_int_equal(q.seqs[4], 30);

    memset(&q, 0, sizeof q);
    wr_audit_filter g = {.decision = 1, .agent = "Writ::Agent::\"a1\""};
    assert_int_equal(wr_audit_query(db, &g, collect, &q, &err), WRIT_OK);
    /* i odd (allow) and i % 3 == 1: 1, 7, 13, 19, 25 */
    assert_int_equal(q.n, 5);
    assert_int_equal(q.seqs[0], 2);

    memset(&q, 0, sizeof q);
    wr_audit_filter h = {.decision = -1, .since_ms = 1700000000010, .until_ms = 1700000000012};
    assert_int_equal(wr_audit_query(db, &h, collect, &q, &err), WRIT_OK);
    assert_int_equal(q.n, 2);
}

static void concurrent_appenders(void **state)
{
    (void)state;
    /* Many records through a small queue: appenders wait, nothing is lost. */
    wr_audit *a;
    writ_error err;
    assert_int_equal(wr_audit_open(db, 3, 16, &a, &err), WRIT_OK);
    for (int i = 0; i < 2000; i++) {
        wr_audit_entry e = {.agent = "x", .action = "y", .resource = "z", .allow = true, .policies = "[]",
                            .errors = "[]"};
        assert_int_equal(wr_audit_append(a, &e), WRIT_OK);
    }
    wr_audit_flush(a);
    assert_int_equal(wr_audit_written(a), 2000);
    assert_int_equal(wr_audit_queued(a), 0);
    wr_audit_close(a);
    wr_audit_verify_result r;
    assert_int_equal(verify(&r), WRIT_OK);
    assert_int_equal(r.records, 2000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(chain_whole_and_continued, setup, teardown),
        cmocka_unit_test_setup_teardown(tampering_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(deletion_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(truncation_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(rehash_without_prev_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(queries, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_appenders, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
