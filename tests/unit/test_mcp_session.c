/* test_mcp_session.c - Mcp-Session-Id bound to an agent (mcp/session.h):
 * an id unwraps only for the agent and upstream it was made for, under the
 * same key; anything changed in it, or made under another key, does not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mcp/session.h"

static const char A[] = "spiffe://corp.example/agents/a", B[] = "spiffe://corp.example/agents/b";

static void test_round_trip(void **state)
{
    (void)state;
    mcp_sessions *k = mcp_sessions_new("secret", 6);
    assert_non_null(k);
    char id[512], up[256];
    assert_true(mcp_session_wrap(k, "everything", A, "3f1c-uuid", id, sizeof id));
    assert_memory_equal(id, "w1.", 3);
    assert_null(strstr(id, "3f1c-uuid")); /* the upstream's id is not shown as it is */
    assert_true(mcp_session_unwrap(k, "everything", A, id, up, sizeof up));
    assert_string_equal(up, "3f1c-uuid");
    /* the same inputs, the same id (a client's id echoed back stays the same) */
    char id2[512];
    assert_true(mcp_session_wrap(k, "everything", A, "3f1c-uuid", id2, sizeof id2));
    assert_string_equal(id, id2);
    /* another agent, another upstream, a prefix of the agent: no */
    assert_false(mcp_session_unwrap(k, "everything", B, id, up, sizeof up));
    assert_false(mcp_session_unwrap(k, "echo", A, id, up, sizeof up));
    assert_false(mcp_session_unwrap(k, "everything", "spiffe://corp.example/agents/", id, up, sizeof up));
    mcp_sessions_free(k);
}

static void test_changed(void **state)
{
    (void)state;
    mcp_sessions *k = mcp_sessions_new("secret", 6);
    char id[512], up[256], bad[512];
    assert_true(mcp_session_wrap(k, "everything", A, "abc", id, sizeof id));
    size_t n = strlen(id);
    for (size_t i = 0; i < n; i++) { /* every byte changed: refused */
        memcpy(bad, id, n + 1);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        assert_false(mcp_session_unwrap(k, "everything", A, bad, up, sizeof up));
    }
    memcpy(bad, id, n + 1);
    bad[n - 1] = '\0'; /* cut short */
    assert_false(mcp_session_unwrap(k, "everything", A, bad, up, sizeof up));
    assert_false(mcp_session_unwrap(k, "everything", A, "abc", up, sizeof up)); /* a raw upstream id */
    assert_false(mcp_session_unwrap(k, "everything", A, "w1.", up, sizeof up));
    assert_false(mcp_session_unwrap(k, "everything", A, "w1..", up, sizeof up));
    assert_false(mcp_session_unwrap(k, "everything", A, "", up, sizeof up));
    /* the output must hold the upstream id */
    assert_false(mcp_session_unwrap(k, "everything", A, id, up, 3));
    assert_true(mcp_session_unwrap(k, "everything", A, id, up, 4));
    mcp_sessions_free(k);
}

static void test_keys(void **state)
{
    (void)state;
    mcp_sessions *k1 = mcp_sessions_new("secret", 6), *k2 = mcp_sessions_new("secret", 6),
                 *k3 = mcp_sessions_new("secreT", 6), *r1 = mcp_sessions_new(NULL, 0),
                 *r2 = mcp_sessions_new(NULL, 0);
    char id[512], up[256];
    assert_true(mcp_session_wrap(k1, "e", A, "s1", id, sizeof id));
    assert_true(mcp_session_unwrap(k2, "e", A, id, up, sizeof up)); /* replicas sharing the signing key */
    assert_false(mcp_session_unwrap(k3, "e", A, id, up, sizeof up));
    assert_false(mcp_session_unwrap(r1, "e", A, id, up, sizeof up));
    assert_true(mcp_session_wrap(r1, "e", A, "s1", id, sizeof id));
    assert_true(mcp_session_unwrap(r1, "e", A, id, up, sizeof up));
    assert_false(mcp_session_unwrap(r2, "e", A, id, up, sizeof up)); /* random keys differ */
    mcp_sessions_free(k1);
    mcp_sessions_free(k2);
    mcp_sessions_free(k3);
    mcp_sessions_free(r1);
    mcp_sessions_free(r2);
}

static void test_upstream_ids(void **state)
{
    (void)state;
    mcp_sessions *k = mcp_sessions_new(NULL, 0);
    char id[512], up[256];
    /* an id that is not visible ASCII cannot be passed on */
    assert_false(mcp_session_wrap(k, "e", A, "", id, sizeof id));
    assert_false(mcp_session_wrap(k, "e", A, "a b", id, sizeof id));
    assert_false(mcp_session_wrap(k, "e", A, "a\x7f", id, sizeof id));
    assert_false(mcp_session_wrap(k, "e", A, "caf\xc3\xa9", id, sizeof id));
    /* the longest an upstream sends through (255 bytes) fits a client's 512 */
    char longest[256];
    memset(longest, '~', 255);
    longest[255] = '\0';
    assert_true(mcp_session_wrap(k, "e", A, longest, id, sizeof id));
    assert_true(mcp_session_unwrap(k, "e", A, id, up, sizeof up));
    assert_string_equal(up, longest);
    assert_false(mcp_session_wrap(k, "e", A, longest, id, 100)); /* does not fit: refused, not cut */
    mcp_sessions_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_changed),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_upstream_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
