/* test_mcp_taskbind.c - MCP tasks bound to their agent (mcp/taskbind.h): a
 * task is its owner's alone, until it expires or is pushed out, and one
 * owner's many tasks push out only its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mcp/taskbind.h"

static const char A[] = "spiffe://corp.example/agents/a", B[] = "spiffe://corp.example/agents/b";

static bool owns(mcp_taskbind *t, const char *id, const char *o, int64_t now)
{
    return mcp_taskbind_owns(t, id, strlen(id), o, now);
}

static bool add(mcp_taskbind *t, const char *id, const char *o, int64_t ttl, int64_t now)
{
    return mcp_taskbind_add(t, id, strlen(id), o, ttl, now);
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
    assert_false(mcp_taskbind_add(t, "t\0x", 3, A, 60000, 1000));
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
    assert_int_equal(mcp_taskbind_whose(t, "t1", 2, A, 1000, other, sizeof other), TASKBIND_MINE);
    assert_string_equal(other, "");
    assert_int_equal(mcp_taskbind_whose(t, "t1", 2, B, 1000, other, sizeof other), TASKBIND_OTHERS);
    assert_string_equal(other, A);
    char small[8];
    assert_int_equal(mcp_taskbind_whose(t, "t1", 2, B, 1000, small, sizeof small), TASKBIND_OTHERS);
    assert_string_equal(small, "spiffe:");
    assert_int_equal(mcp_taskbind_whose(t, "t1", 2, B, 1000, NULL, 0), TASKBIND_OTHERS);
    assert_int_equal(mcp_taskbind_whose(t, "t2", 2, B, 1000, other, sizeof other), TASKBIND_UNKNOWN);
    assert_string_equal(other, "");
    assert_int_equal(mcp_taskbind_whose(t, "t1\0", 3, B, 1000, other, sizeof other), TASKBIND_UNKNOWN);
    /* expired: nobody's, not another's */
    assert_int_equal(mcp_taskbind_whose(t, "t1", 2, B, 1500, other, sizeof other), TASKBIND_UNKNOWN);
    assert_int_equal(mcp_taskbind_whose(t, "t1", 2, A, 1500, other, sizeof other), TASKBIND_UNKNOWN);
    assert_int_equal(mcp_taskbind_whose(NULL, "t1", 2, A, 1000, other, sizeof other), TASKBIND_UNKNOWN);
    mcp_taskbind_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_owner_only),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_whose),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
