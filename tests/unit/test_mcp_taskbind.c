/* test_mcp_taskbind.c - MCP tasks bound to their agent (mcp/taskbind.h): a
 * task is its owner's alone, until it expires or is pushed out, and one
 * owner's many tasks push out only its own; shared through a state store,
 * a task bound through one table (one replica) is its owner's in another
 * and after a restart, and a store that fails refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mcp/taskbind.h"
#include "free_port.h"

static const char A[] = "spiffe://corp.example/agents/a", B[] = "spiffe://corp.example/agents/b";

static bool owns(mcp_taskbind *t, const char *id, const char *o, int64_t now)
{
    return mcp_taskbind_owns(t, id, strlen(id), o, now);
}

static bool add(mcp_taskbind *t, const char *id, const char *o, int64_t ttl, int64_t now)
{
    return mcp_taskbind_add(t, id, strlen(id), o, ttl, now, NULL, 0);
}

static void test_owner_only(void **state)
{
    (void)state;
    mcp_taskbind *t = mcp_taskbind_new(16, 4);
    assert_non_null(t);
    assert_true(add(t, "t1", A, 60000, 1000));
    assert_true(owns(t, "t1", A, 1000));
    assert_false(owns(t, "t1", B, 1000));
    assert_false(owns(t, "t2", A, 1000));
    assert_false(owns(t, "t1", "spiffe://corp.example/agents/", 1000)); /* a prefix of the owner */
    /* the same id again: it keeps its owner, another's claim fails */
    assert_true(add(t, "t1", A, 60000, 2000));
    assert_false(add(t, "t1", B, 60000, 2000));
    assert_false(owns(t, "t1", B, 2000));
    /* ids with NUL or empty are never remembered */
    assert_false(mcp_taskbind_add(t, "t\0x", 3, A, 60000, 1000, NULL, 0));
    assert_false(mcp_taskbind_owns(t, "t\0x", 3, A, 1000));
    assert_false(mcp_taskbind_owns(t, "t1\0", 3, A, 1000)); /* not "t1" */
    assert_false(add(t, "", A, 60000, 1000));
    assert_int_equal(mcp_taskbind_count(t), 1);
    mcp_taskbind_free(t);
}

static void test_expiry(void **state)
{
    (void)state;
    mcp_taskbind *t = mcp_taskbind_new(16, 4);
    assert_true(add(t, "t1", A, 500, 1000));
    assert_true(owns(t, "t1", A, 1499));
    assert_false(owns(t, "t1", A, 1500));
    /* expired: the id may be claimed again (an upstream reusing it) */
    assert_true(add(t, "t1", B, 500, 1600));
    assert_true(owns(t, "t1", B, 1600));
    assert_false(owns(t, "t1", A, 1600));
    /* no ttl, or past the bound: the bound */
    assert_true(add(t, "t2", A, 0, 0));
    assert_true(owns(t, "t2", A, TASKBIND_MAX_TTL_MS - 1));
    assert_false(owns(t, "t2", A, TASKBIND_MAX_TTL_MS));
    assert_true(add(t, "t3", A, TASKBIND_MAX_TTL_MS * 10, 0));
    assert_false(owns(t, "t3", A, TASKBIND_MAX_TTL_MS));
    mcp_taskbind_free(t);
}

/* One owner creating many tasks pushes out its own oldest, never
 * another's; the table's bound holds. */
static void test_bounds(void **state)
{
    (void)state;
    mcp_taskbind *t = mcp_taskbind_new(8, 3);
    assert_true(add(t, "b1", B, 60000, 0));
    char id[32];
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof id, "a%d", i);
        assert_true(add(t, id, A, 60000, i + 1));
    }
    assert_true(owns(t, "b1", B, 200));
    assert_true(owns(t, "a99", A, 200) && owns(t, "a98", A, 200) && owns(t, "a97", A, 200));
    assert_false(owns(t, "a96", A, 200));
    assert_int_equal(mcp_taskbind_count(t), 4);
    /* many owners: the table keeps at most cap, the first to expire goes */
    for (int i = 0; i < 20; i++) {
        char o[32];
        snprintf(o, sizeof o, "owner-%d", i);
        snprintf(id, sizeof id, "o%d", i);
        assert_true(add(t, id, o, 60000, 1000 + i));
        assert_true(mcp_taskbind_count(t) <= 8);
    }
    assert_true(owns(t, "o19", "owner-19", 2000));
    assert_false(owns(t, "b1", B, 2000)); /* expiring first: pushed out */
    mcp_taskbind_free(t);
}

/* Whose a task is, for the refusal's audit record: the owner's, another's
 * (named, cut to the room given), or none's (never seen, expired, with a
 * NUL); the answer to the agent never tells the last two apart. */
static void test_whose(void **state)
{
    (void)state;
    mcp_taskbind *t = mcp_taskbind_new(16, 4);
    assert_true(add(t, "t1", A, 500, 1000));
    char other[64] = "x";
    assert_int_equal(mcp_taskbind_whose(t, "t1", 2, A, 1000, NULL, other, sizeof other), TASKBIND_MINE);
    assert_string_equal(other, "");
    assert_int_equal(mcp_taskbind_whose(t, "t1", 2, B, 1000, NULL, other, sizeof other), TASKBIND_OTHERS);
    assert_string_equal(other, A);
    char small[8];
    assert_int_equal(mcp_taskbind_whose(t, "t1", 2, B, 1000, NULL, small, sizeof small), TASKBIND_OTHERS);
    assert_string_equal(small, "spiffe:");
    assert_int_equal(mcp_taskbind_whose(t, "t1", 2, B, 1000, NULL, NULL, 0), TASKBIND_OTHERS);
    assert_int_equal(mcp_taskbind_whose(t, "t2", 2, B, 1000, NULL, other, sizeof other), TASKBIND_UNKNOWN);
    assert_string_equal(other, "");
    assert_int_equal(mcp_taskbind_whose(t, "t1\0", 3, B, 1000, NULL, other, sizeof other), TASKBIND_UNKNOWN);
    /* expired: nobody's, not another's */
    assert_int_equal(mcp_taskbind_whose(t, "t1", 2, B, 1500, NULL, other, sizeof other), TASKBIND_UNKNOWN);
    assert_int_equal(mcp_taskbind_whose(t, "t1", 2, A, 1500, NULL, other, sizeof other), TASKBIND_UNKNOWN);
    assert_int_equal(mcp_taskbind_whose(NULL, "t1", 2, A, 1000, NULL, other, sizeof other), TASKBIND_UNKNOWN);
    mcp_taskbind_free(t);
}

/* ---- shared through a state store (SQLite on a temporary file: two
 * tables on one store are two replicas, a new table a restart) */

static char dir[64], dbfile[96];

static int store_setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/writ-test-taskbind-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(dbfile, sizeof dbfile, "%s/writ.db", dir);
    wr_store *st;
    writ_error err;
    if (wr_store_open("sqlite", dbfile, &st, &err))
        return -1;
    *state = st;
    return 0;
}

static int store_teardown(void **state)
{
    wr_store_close(*state);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static mcp_taskbind *shared(wr_store *st, const char *up, size_t cap, size_t per_owner)
{
    mcp_taskbind *t = mcp_taskbind_new(cap, per_owner);
    assert_non_null(t);
    assert_true(mcp_taskbind_share(t, st, up));
    return t;
}

static mcp_task_whose whose(mcp_taskbind *t, const char *id, const char *o, int64_t now, unsigned *asks,
                            char *detail, size_t n)
{
    return mcp_taskbind_whose(t, id, strlen(id), o, now, asks, detail, n);
}

/* A task bound through one replica is its owner's on another, another's
 * there for anyone else, and its owner's after a restart. */
static void test_shared(void **state)
{
    wr_store *st = *state;
    int64_t now = (int64_t)time(NULL) * 1000;
    mcp_taskbind *r1 = shared(st, "ev", 16, 4), *r2 = shared(st, "ev", 16, 4),
                 *other_up = shared(st, "evh", 16, 4);
    char why[200] = "x", detail[200];
    assert_true(mcp_taskbind_add(r1, "t1", 2, A, 60000, now, why, sizeof why));
    assert_string_equal(why, ""); /* written through */
    assert_int_equal(mcp_taskbind_count(r2), 0);
    assert_int_equal(whose(r2, "t1", A, now, NULL, detail, sizeof detail), TASKBIND_MINE);
    assert_int_equal(mcp_taskbind_count(r2), 1); /* remembered there now */
    assert_int_equal(whose(r2, "t1", B, now, NULL, detail, sizeof detail), TASKBIND_OTHERS);
    assert_string_equal(detail, A);
    assert_int_equal(whose(r2, "t2", A, now, NULL, detail, sizeof detail), TASKBIND_UNKNOWN);
    assert_int_equal(whose(other_up, "t1", A, now, NULL, detail, sizeof detail), TASKBIND_UNKNOWN);
    /* the same id on another upstream is another task */
    assert_true(mcp_taskbind_add(other_up, "t1", 2, B, 60000, now, NULL, 0));
    assert_int_equal(whose(r1, "t1", B, now, NULL, NULL, 0), TASKBIND_OTHERS);
    /* another replica cannot give the id to someone else */
    mcp_taskbind *r3 = shared(st, "ev", 16, 4);
    assert_false(mcp_taskbind_add(r3, "t1", 2, B, 60000, now, why, sizeof why));
    assert_int_equal(whose(r3, "t1", B, now, NULL, NULL, 0), TASKBIND_OTHERS);
    /* expiry holds on the replica that learned it */
    assert_true(mcp_taskbind_add(r1, "t3", 2, A, 1000, now, NULL, 0));
    assert_int_equal(whose(r2, "t3", A, now + 999, NULL, NULL, 0), TASKBIND_MINE);
    assert_int_equal(whose(r2, "t3", A, now + 1000, NULL, NULL, 0), TASKBIND_UNKNOWN);
    mcp_taskbind_free(r1);
    mcp_taskbind_free(r2);
    mcp_taskbind_free(r3);
    mcp_taskbind_free(other_up);
    /* a restart: a new process, the same state file */
    wr_store *again;
    writ_error err;
    assert_int_equal(wr_store_open("sqlite", dbfile, &again, &err), WRIT_OK);
    mcp_taskbind *after = shared(again, "ev", 16, 4);
    assert_int_equal(whose(after, "t1", A, now + 10, NULL, NULL, 0), TASKBIND_MINE);
    assert_int_equal(whose(after, "t1", B, now + 10, NULL, detail, sizeof detail), TASKBIND_OTHERS);
    assert_string_equal(detail, A);
    mcp_taskbind_free(after);
    wr_store_close(again);
    /* unshared (NULL store): memory only */
    mcp_taskbind *mem = mcp_taskbind_new(16, 4);
    assert_true(mcp_taskbind_share(mem, NULL, "ev"));
    assert_int_equal(whose(mem, "t1", A, now, NULL, NULL, 0), TASKBIND_UNKNOWN);
    char longname[WR_MCP_TASK_NAME_MAX + 2];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_false(mcp_taskbind_share(mem, st, longname));
    mcp_taskbind_free(mem);
}

/* A listing asks the store for at most its budget of ids; a task pushed
 * out of a replica's table is still its owner's (the store holds it). */
static void test_shared_asks(void **state)
{
    wr_store *st = *state;
    int64_t now = (int64_t)time(NULL) * 1000;
    mcp_taskbind *r1 = shared(st, "ev", 64, 16), *r2 = shared(st, "ev", 64, 16);
    char id[16];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "l%d", i);
        assert_true(add(r1, id, A, 60000, now));
    }
    unsigned asks = 3;
    int mine = 0;
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "l%d", i);
        mine += whose(r2, id, A, now, &asks, NULL, 0) == TASKBIND_MINE;
    }
    assert_int_equal(mine, 3);
    assert_int_equal(asks, 0);
    /* learned ones cost no ask */
    asks = 0;
    assert_int_equal(whose(r2, "l0", A, now, &asks, NULL, 0), TASKBIND_MINE);
    mcp_taskbind_free(r1);
    mcp_taskbind_free(r2);
    /* per_owner 2 here, but the store keeps as many (the same bound): the
     * table's own pushing out does not lose a task */
    mcp_taskbind *small = shared(st, "evh", 2, 2);
    for (int i = 0; i < 2; i++) {
        snprintf(id, sizeof id, "s%d", i);
        assert_true(add(small, id, A, 60000 + i, now));
    }
    mcp_taskbind *tiny = shared(st, "evh", 1, 1);
    assert_int_equal(whose(tiny, "s0", A, now, NULL, NULL, 0), TASKBIND_MINE);
    assert_int_equal(whose(tiny, "s1", A, now, NULL, NULL, 0), TASKBIND_MINE); /* s0 pushed out of tiny */
    assert_int_equal(mcp_taskbind_count(tiny), 1);
    assert_int_equal(whose(tiny, "s0", A, now, NULL, NULL, 0), TASKBIND_MINE); /* asked again */
    mcp_taskbind_free(small);
    mcp_taskbind_free(tiny);
}

/* A store that cannot be reached: a task not held here is unavailable (the
 * gateway refuses), one held here is answered from memory, and a new
 * binding is kept here, the failure said. */
static void test_shared_unreachable(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", free_port());
    wr_store *st;
    writ_error err;
    wr_store_opts o = {.timeout_ms = 500};
    assert_int_equal(wr_store_open_opts(url, NULL, &o, &st, &err), WRIT_OK);
    mcp_taskbind *t = shared(st, "ev", 16, 4);
    int64_t now = (int64_t)time(NULL) * 1000;
    char why[200], detail[200];
    assert_true(mcp_taskbind_add(t, "t1", 2, A, 60000, now, why, sizeof why));
    assert_non_null(strstr(why, "redis"));
    assert_int_equal(whose(t, "t1", A, now, NULL, detail, sizeof detail), TASKBIND_MINE);
    assert_int_equal(whose(t, "t1", B, now, NULL, detail, sizeof detail), TASKBIND_OTHERS);
    assert_int_equal(whose(t, "t2", A, now, NULL, detail, sizeof detail), TASKBIND_UNAVAILABLE);
    assert_non_null(strstr(detail, "redis"));
    unsigned asks = 5; /* a listing: the first failure ends its asking */
    assert_int_equal(whose(t, "t2", A, now, &asks, detail, sizeof detail), TASKBIND_UNAVAILABLE);
    assert_int_equal(asks, 0);
    assert_int_equal(whose(t, "t3", A, now, &asks, detail, sizeof detail), TASKBIND_UNKNOWN); /* not asked */
    assert_int_equal(whose(t, "t1", A, now, &asks, detail, sizeof detail), TASKBIND_MINE);
    assert_false(mcp_taskbind_owns(t, "t2", 2, A, now));
    mcp_taskbind_free(t);
    wr_store_close(st);
}

/* A binding made while the store failed is written to it once the store
 * answers again (at the next call that reaches it), so that the other
 * replicas learn it; the store here fails for a while because its table is
 * gone (another connection dropped it; a new open makes it again). */
static void test_shared_resync(void **state)
{
    wr_store *st = *state;
    int64_t now = (int64_t)time(NULL) * 1000;
    mcp_taskbind *r1 = shared(st, "ev", 16, 4);
    sqlite3 *raw;
    assert_int_equal(sqlite3_open(dbfile, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "DROP TABLE mcp_tasks", NULL, NULL, NULL), SQLITE_OK);
    char why[200];
    assert_true(mcp_taskbind_add(r1, "u1", 2, A, 60000, now, why, sizeof why));
    assert_string_not_equal(why, ""); /* kept here alone, the failure said */
    assert_true(mcp_taskbind_add(r1, "u2", 2, B, 60000, now, why, sizeof why));
    assert_string_not_equal(why, "");
    assert_int_equal(whose(r1, "u1", A, now, NULL, NULL, 0), TASKBIND_MINE); /* honoured here */
    /* the store comes back (the table made again) */
    wr_store *again;
    writ_error err;
    assert_int_equal(wr_store_open("sqlite", dbfile, &again, &err), WRIT_OK);
    mcp_taskbind *r2 = shared(again, "ev", 16, 4);
    assert_int_equal(whose(r2, "u1", A, now, NULL, NULL, 0), TASKBIND_UNKNOWN); /* not written yet */
    /* r1's next call that reaches the store writes what it kept */
    assert_true(mcp_taskbind_add(r1, "u3", 2, A, 60000, now, why, sizeof why));
    assert_string_equal(why, "");
    mcp_taskbind *r3 = shared(again, "ev", 16, 4);
    assert_int_equal(whose(r3, "u1", A, now, NULL, NULL, 0), TASKBIND_MINE);
    assert_int_equal(whose(r3, "u2", B, now, NULL, NULL, 0), TASKBIND_MINE);
    assert_int_equal(whose(r3, "u2", A, now, NULL, NULL, 0), TASKBIND_OTHERS);
    /* and the store now refuses the ids to anyone else */
    assert_false(mcp_taskbind_add(r2, "u1", 2, B, 60000, now, NULL, 0));
    /* a lookup that reaches the store writes them too (another outage) */
    assert_int_equal(sqlite3_exec(raw, "DROP TABLE mcp_tasks", NULL, NULL, NULL), SQLITE_OK);
    assert_true(mcp_taskbind_add(r1, "u4", 2, A, 60000, now, why, sizeof why));
    assert_string_not_equal(why, "");
    wr_store *third;
    assert_int_equal(wr_store_open("sqlite", dbfile, &third, &err), WRIT_OK);
    assert_int_equal(whose(r1, "zz", A, now, NULL, NULL, 0), TASKBIND_UNKNOWN); /* asked: the store answers */
    mcp_taskbind *r4 = shared(third, "ev", 16, 4);
    assert_int_equal(whose(r4, "u4", A, now, NULL, NULL, 0), TASKBIND_MINE);
    sqlite3_close(raw);
    mcp_taskbind_free(r1);
    mcp_taskbind_free(r2);
    mcp_taskbind_free(r3);
    mcp_taskbind_free(r4);
    wr_store_close(again);
    wr_store_close(third);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_owner_only),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_whose),
        cmocka_unit_test_setup_teardown(test_shared, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_shared_asks, store_setup, store_teardown),
        cmocka_unit_test(test_shared_unreachable),
        cmocka_unit_test_setup_teardown(test_shared_resync, store_setup, store_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
