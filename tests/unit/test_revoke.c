/* test_revoke.c - the revocation set: lookups, persistence across restarts,
 * sharing a file between handles, pruning, growth, bad arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "writ/token.h"

static char dbpath[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dbpath, sizeof dbpath, "/tmp/writ-test-revoke-%d.db", (int)getpid());
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

static void test_memory(void **state)
{
    (void)state;
    writ_revocations *r;
    writ_error err;
    assert_int_equal(writ_revocations_open(NULL, &r, &err), WRIT_OK);
    assert_false(writ_revocations_contains(r, WRIT_REVOKE_JTI, "a", 1));
    assert_int_equal(writ_revocations_add(r, WRIT_REVOKE_JTI, "a", 1, 0, "test", &err), WRIT_OK);
    assert_true(writ_revocations_contains(r, WRIT_REVOKE_JTI, "a", 1));
    /* kinds are separate namespaces */
    assert_false(writ_revocations_contains(r, WRIT_REVOKE_TASK, "a", 1));
    assert_false(writ_revocations_contains(r, WRIT_REVOKE_JTI, "ab", 2));
    /* adding twice is one entry */
    assert_int_equal(writ_revocations_add(r, WRIT_REVOKE_JTI, "a", 1, 0, NULL, &err), WRIT_OK);
    assert_int_equal(writ_revocations_count(r), 1);
    /* growth: 20000 entries, all found, none invented */
    char buf[32];
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(buf, sizeof buf, "jti-%d", i);
        assert_int_equal(writ_revocations_add(r, WRIT_REVOKE_SUBTREE, buf, (size_t)n, 0, NULL, &err), WRIT_OK);
    }
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(buf, sizeof buf, "jti-%d", i);
        assert_true(writ_revocations_contains(r, WRIT_REVOKE_SUBTREE, buf, (size_t)n));
        n = snprintf(buf, sizeof buf, "jti-x%d", i);
        assert_false(writ_revocations_contains(r, WRIT_REVOKE_SUBTREE, buf, (size_t)n));
    }
    assert_int_equal(writ_revocations_count(r), 20001);
    /* bad arguments */
    assert_int_not_equal(writ_revocations_add(r, WRIT_REVOKE_JTI, "", 0, 0, NULL, &err), WRIT_OK);
    assert_int_not_equal(writ_revocations_add(r, (writ_revoke_kind)9, "a", 1, 0, NULL, &err), WRIT_OK);
    assert_int_not_equal(writ_revocations_add(r, WRIT_REVOKE_JTI, "a\0b", 3, 0, NULL, &err), WRIT_OK);
    assert_int_not_equal(writ_revocations_add(r, WRIT_REVOKE_JTI, "a", 1, -5, NULL, &err), WRIT_OK);
    assert_false(writ_revocations_contains(NULL, WRIT_REVOKE_JTI, "a", 1));
    writ_revocations_close(r);
    writ_revocations_close(NULL);
}

static void test_persistence(void **state)
{
    (void)state;
    writ_revocations *r, *r2;
    writ_error err;
    assert_int_equal(writ_revocations_open(dbpath, &r, &err), WRIT_OK);
    assert_int_equal(writ_revocations_add(r, WRIT_REVOKE_AGENT, "spiffe://td/a", 13, 0, "compromised", &err),
                     WRIT_OK);
    assert_int_equal(writ_revocations_add(r, WRIT_REVOKE_JTI, "old", 3, 1000, NULL, &err), WRIT_OK);
    assert_int_equal(writ_revocations_add(r, WRIT_REVOKE_TASK, "t1", 2, 5000, NULL, &err), WRIT_OK);
    /* a second handle on the same file (another process, the CLI) */
    assert_int_equal(writ_revocations_open(dbpath, &r2, &err), WRIT_OK);
    assert_true(writ_revocations_contains(r2, WRIT_REVOKE_AGENT, "spiffe://td/a", 13));
    assert_int_equal(writ_revocations_add(r2, WRIT_REVOKE_SUBTREE, "root", 4, 0, NULL, &err), WRIT_OK);
    assert_false(writ_revocations_contains(r, WRIT_REVOKE_SUBTREE, "root", 4));
    assert_int_equal(writ_revocations_refresh(r, &err), WRIT_OK);
    assert_true(writ_revocations_contains(r, WRIT_REVOKE_SUBTREE, "root", 4));
    writ_revocations_close(r2);
    writ_revocations_close(r);
    /* restart */
    assert_int_equal(writ_revocations_open(dbpath, &r, &err), WRIT_OK);
    assert_int_equal(writ_revocations_count(r), 4);
    assert_true(writ_revocations_contains(r, WRIT_REVOKE_JTI, "old", 3));
    /* prune drops entries whose tokens have all expired, on disk too */
    assert_int_equal(writ_revocations_prune(r, 2000, &err), WRIT_OK);
    assert_false(writ_revocations_contains(r, WRIT_REVOKE_JTI, "old", 3));
    assert_true(writ_revocations_contains(r, WRIT_REVOKE_TASK, "t1", 2));
    assert_int_equal(writ_revocations_count(r), 3);
    writ_revocations_close(r);
    assert_int_equal(writ_revocations_open(dbpath, &r, &err), WRIT_OK);
    assert_int_equal(writ_revocations_count(r), 3);
    writ_revocations_close(r);
}

static void test_bad_file(void **state)
{
    (void)state;
    writ_revocations *r = (writ_revocations *)0x1;
    writ_error err;
    assert_int_equal(writ_revocations_open("/nonexistent-dir/x.db", &r, &err), WRIT_EIO);
    assert_null(r);
    assert_non_null(strstr(err.msg, "revocations: cannot open"));
    /* a file that is not a database */
    FILE *f = fopen(dbpath, "w");
    fputs("this is not sqlite, but long enough to have a header.............................................", f);
    fclose(f);
    assert_int_equal(writ_revocations_open(dbpath, &r, &err), WRIT_EIO);
    assert_null(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory),
        cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
