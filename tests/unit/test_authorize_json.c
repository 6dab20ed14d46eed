/* test_authorize_json.c - writ_authorize_json: parse and decide in one
 * call, the same answer as writ_request_parse + writ_authorize, a deny and
 * a positioned error for a request that does not parse, and the decision
 * valid until the authorizer's next use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "writ/cedar.h"

static const char POL[] = "@id(\"reader\")\n"
                          "permit(principal == User::\"alice\", action == Action::\"read\", resource)\n"
                          "when { context.level > 2 };\n"
                          "forbid(principal, action, resource) when { context.level > 9 };\n"
                          "permit(principal, action, resource) when { context.oops.x };\n";

static void decide(const char *rq, bool *allow, size_t *nreasons, size_t *nerrors)
{
    writ_policyset *ps;
    writ_error err;
    assert_int_equal(writ_policyset_parse(POL, strlen(POL), &ps, &err), WRIT_OK);
    writ_authorizer *a = writ_authorizer_new(), *b = writ_authorizer_new();
    assert_non_null(a);
    assert_non_null(b);
    writ_decision d1, d2;
    assert_int_equal(writ_authorize_json(a, ps, NULL, NULL, false, rq, strlen(rq), &d1, &err), WRIT_OK);
    writ_request *r;
    assert_int_equal(writ_request_parse(rq, strlen(rq), NULL, false, &r, &err), WRIT_OK);
    assert_int_equal(writ_authorize(b, ps, NULL, r, &d2), WRIT_OK);
    assert_int_equal(d1.allow, d2.allow);
    assert_int_equal(d1.nreasons, d2.nreasons);
    assert_int_equal(d1.nerrors, d2.nerrors);
    for (size_t i = 0; i < d1.nreasons; i++)
        assert_string_equal(d1.reasons[i], d2.reasons[i]);
    for (size_t i = 0; i < d1.nerrors; i++) {
        assert_string_equal(d1.errors[i].policy_id, d2.errors[i].policy_id);
        assert_string_equal(d1.errors[i].message, d2.errors[i].message);
    }
    *allow = d1.allow;
    *nreasons = d1.nreasons;
    *nerrors = d1.nerrors;
    writ_request_free(r);
    writ_authorizer_free(a);
    writ_authorizer_free(b);
    writ_policyset_free(ps);
}

#define RQ(who, level)                                                                                       \
    "{\"principal\": \"User::\\\"" who "\\\"\", \"action\": \"Action::\\\"read\\\"\", "                      \
    "\"resource\": \"Doc::\\\"d\\\"\", \"context\": {\"level\": " #level "}}"

static void test_same_as_two_calls(void **state)
{
    (void)state;
    bool allow;
    size_t nr, ne;
    decide(RQ("alice", 5), &allow, &nr, &ne);
    assert_true(allow);
    assert_int_equal(nr, 1);
    assert_int_equal(ne, 1); /* context.oops errors: reported, skipped */
    decide(RQ("alice", 10), &allow, &nr, &ne);
    assert_false(allow);
    decide(RQ("bob", 5), &allow, &nr, &ne);
    assert_false(allow);
    assert_int_equal(nr, 0);
}

static void test_bad_request(void **state)
{
    (void)state;
    writ_policyset *ps;
    writ_error err;
    assert_int_equal(writ_policyset_parse(POL, strlen(POL), &ps, &err), WRIT_OK);
    writ_authorizer *az = writ_authorizer_new();
    writ_decision d = {.allow = true};
    const char *bad = "{\"principal\": \"User::\\\"alice\\\"\",\n  \"action\": }";
    writ_status st = writ_authorize_json(az, ps, NULL, NULL, false, bad, strlen(bad), &d, &err);
    assert_int_not_equal(st, WRIT_OK);
    assert_false(d.allow);
    assert_int_equal(err.line, 2);
    assert_true(err.col > 0);
    /* the authorizer is still usable, and an earlier decision's request is
     * released by the next call (ASan/Valgrind see no leak) */
    const char *ok = RQ("alice", 5);
    assert_int_equal(writ_authorize_json(az, ps, NULL, NULL, false, ok, strlen(ok), &d, &err), WRIT_OK);
    assert_true(d.allow);
    assert_string_equal(d.reasons[0], writ_policyset_id(ps, 0));
    assert_int_equal(writ_authorize_json(az, ps, NULL, NULL, false, ok, strlen(ok), &d, &err), WRIT_OK);
    assert_int_equal(writ_authorize_json(NULL, ps, NULL, NULL, false, ok, strlen(ok), &d, &err), WRIT_EINVAL);
    assert_false(d.allow);
    writ_authorizer_free(az);
    writ_policyset_free(ps);
}

/* writ_policyset_forbid_error: the first forbid whose evaluation failed;
 * a permit's failure is not one, nor is a forbid that held or did not. */
static void test_forbid_error(void **state)
{
    (void)state;
    static const char pol[] = "permit(principal, action, resource);\n"
                              "permit(principal, action, resource) when { context.nope.x };\n"
                              "@id(\"big\")\n"
                              "forbid(principal, action, resource) when { context.amount > 1000 };\n"
                              "forbid(principal, action, resource) when { context.other.y };\n";
    writ_policyset *ps;
    writ_error err;
    assert_int_equal(writ_policyset_parse_flags(pol, strlen(pol), WRIT_PS_ID_ANNOTATION, &ps, &err), WRIT_OK);
    assert_false(writ_policyset_is_forbid(ps, 0));
    assert_true(writ_policyset_is_forbid(ps, 2));
    assert_false(writ_policyset_is_forbid(ps, 9));
    writ_authorizer *az = writ_authorizer_new();
    writ_decision d;
    const char *msg = NULL;
    /* amount a String: `>` fails, and so does the last forbid (no other) */
    const char *rq = "{\"principal\":\"User::\\\"a\\\"\",\"action\":\"Action::\\\"x\\\"\","
                     "\"resource\":\"R::\\\"r\\\"\",\"context\":{\"amount\":\"5000\"}}";
    assert_int_equal(writ_authorize_json(az, ps, NULL, NULL, false, rq, strlen(rq), &d, &err), WRIT_OK);
    assert_true(d.allow); /* Cedar skips both forbids */
    assert_int_equal(d.nerrors, 3);
    assert_string_equal(writ_policyset_forbid_error(ps, &d, &msg), "big");
    assert_non_null(msg);
    assert_true(msg[0] != '\0');
    /* as enforced: a deny whose one reason is the failed forbid, errors kept */
    writ_decision e = d;
    const char *fid = NULL;
    assert_true(writ_decision_deny_failed_forbid(ps, &e, &fid, NULL));
    assert_false(e.allow);
    assert_int_equal(e.nreasons, 1);
    assert_string_equal(e.reasons[0], "big");
    assert_int_equal(e.nerrors, 3);
    assert_false(writ_decision_deny_failed_forbid(ps, &e, &fid, NULL)); /* a deny stays as it is */
    /* amount a Long under the limit, other present: no forbid fails (the
     * permit's failure does not count) */
    const char *ok = "{\"principal\":\"User::\\\"a\\\"\",\"action\":\"Action::\\\"x\\\"\","
                     "\"resource\":\"R::\\\"r\\\"\",\"context\":{\"amount\":5,\"other\":{\"y\":false}}}";
    assert_int_equal(writ_authorize_json(az, ps, NULL, NULL, false, ok, strlen(ok), &d, &err), WRIT_OK);
    assert_true(d.allow);
    assert_int_equal(d.nerrors, 1);
    assert_null(writ_policyset_forbid_error(ps, &d, NULL));
    assert_null(writ_policyset_forbid_error(NULL, &d, NULL));
    const char *none = NULL;
    assert_false(writ_decision_deny_failed_forbid(ps, &d, &none, NULL));
    assert_true(d.allow);
    writ_authorizer_free(az);
    writ_policyset_free(ps);
}

/* Is s[0..n) well-formed UTF-8 (no cut character)? */
static bool utf8_ok(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    while (*u) {
        size_t k = *u < 0x80             ? 1
                   : (*u & 0xE0) == 0xC0 ? 2
                   : (*u & 0xF0) == 0xE0 ? 3
                   : (*u & 0xF8) == 0xF0 ? 4
                                         : 0;
        if (!k)
            return false;
        for (size_t i = 1; i < k; i++)
            if ((u[i] & 0xC0) != 0x80)
                return false;
        u += k;
    }
    return true;
}

/* An error message quoting a long id of two-byte characters (the caller's
 * input) is cut to its buffer on a whole character, at every offset. */
static void test_long_messages_stay_utf8(void **state)
{
    (void)state;
    const char *pol = "permit(principal, action, resource) when { principal.x == 1 };";
    writ_policyset *ps;
    writ_error err;
    assert_int_equal(writ_policyset_parse(pol, strlen(pol), &ps, &err), WRIT_OK);
    writ_authorizer *az = writ_authorizer_new();
    assert_non_null(az);
    for (int n = 80; n < 120; n++) {
        char rq[1024];
        int o = snprintf(rq, sizeof rq, "{\"principal\": {\"type\": \"A\", \"id\": \"");
        for (int i = 0; i < n; i++)
            o += snprintf(rq + o, sizeof rq - (size_t)o, "\xc3\xa9");
        snprintf(rq + o, sizeof rq - (size_t)o,
                 "\"}, \"action\": \"Action::\\\"a\\\"\", \"resource\": \"R::\\\"r\\\"\", \"context\": {}}");
        writ_decision d;
        assert_int_equal(writ_authorize_json(az, ps, NULL, NULL, false, rq, strlen(rq), &d, &err), WRIT_OK);
        assert_false(d.allow);
        assert_int_equal(d.nerrors, 1);
        if (!utf8_ok(d.errors[0].message))
            fail_msg("n=%d: message is not UTF-8: %s", n, d.errors[0].message);
        /* a parse error quoting the same id: the writ_error message too */
        char bad[1100];
        snprintf(bad, sizeof bad, "%.*s, \"extra\": }", (int)strlen(rq) - 1, rq);
        assert_int_not_equal(writ_authorize_json(az, ps, NULL, NULL, false, bad, strlen(bad), &d, &err),
                             WRIT_OK);
        if (!utf8_ok(err.msg))
            fail_msg("n=%d: error is not UTF-8: %s", n, err.msg);
    }
    writ_authorizer_free(az);
    writ_policyset_free(ps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forbid_error),
        cmocka_unit_test(test_same_as_two_calls),
        cmocka_unit_test(test_bad_request),
        cmocka_unit_test(test_long_messages_stay_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
