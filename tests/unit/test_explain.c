/* test_explain.c - writ_explain: which part of each permit failed and which
 * forbids held, with the exact source text and line:column, on hand-written
 * policies; and that the decision is writ_authorize's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cedar/explain.h"
#include "util/alloc.h"
#include "writ/cedar.h"

static const char ENTITIES[] =
    "[{\"uid\":{\"type\":\"User\",\"id\":\"alice\"},\"attrs\":{\"level\":3,\"team\":\"eng\"},"
    "\"parents\":[{\"type\":\"Group\",\"id\":\"eng\"}]},"
    "{\"uid\":{\"type\":\"Group\",\"id\":\"eng\"},\"attrs\":{},\"parents\":[]},"
    "{\"uid\":{\"type\":\"Doc\",\"id\":\"d1\"},\"attrs\":{\"owner\":\"bob\"},\"parents\":[]}]";

/* alice does `action` on Doc::"d1" with context {"ok": false, "x": 2}:
 * the explanation as JSON, "allow" for an allow.  The decision must be
 * writ_authorize's. */
static char *explain(const char *policies, const char *action)
{
    writ_policyset *ps = NULL;
    writ_entities *es = NULL;
    writ_request *rq = NULL;
    writ_error err;
    if (writ_policyset_parse(policies, strlen(policies), &ps, &err))
        fail_msg("policies: %u:%u %s", err.line, err.col, err.msg);
    assert_int_equal(writ_entities_parse(ENTITIES, sizeof ENTITIES - 1, NULL, &es, &err), WRIT_OK);
    char req[512];
    snprintf(
        req, sizeof req,
        "{\"principal\":{\"type\":\"User\",\"id\":\"alice\"},\"action\":{\"type\":\"Action\",\"id\":\"%s\"},"
        "\"resource\":{\"type\":\"Doc\",\"id\":\"d1\"},\"context\":{\"ok\":false,\"x\":2}}",
        action);
    assert_int_equal(writ_request_parse(req, strlen(req), NULL, false, &rq, &err), WRIT_OK);
    writ_authorizer *az = writ_authorizer_new();
    assert_non_null(az);
    writ_decision plain, d;
    writ_explanation x;
    assert_int_equal(writ_authorize(az, ps, es, rq, &plain), WRIT_OK);
    bool allow = plain.allow;
    size_t nreasons = plain.nreasons, nerrors = plain.nerrors;
    char first_reason[64] = "";
    if (nreasons)
        snprintf(first_reason, sizeof first_reason, "%s", plain.reasons[0]);
    assert_int_equal(writ_explain(az, ps, es, rq, &d, &x), WRIT_OK);
    assert_int_equal(d.allow, allow);
    assert_int_equal(d.nreasons, nreasons);
    assert_int_equal(d.nerrors, nerrors);
    if (nreasons)
        assert_string_equal(d.reasons[0], first_reason);
    char *out;
    if (d.allow) {
        assert_int_equal(x.npermits + x.nforbids, 0);
        out = wr_malloc(6);
        memcpy(out, "allow", 6);
    } else {
        sbuf b;
        sb_init(&b);
        cedar_explain_json(&b, &x);
        assert_true(sb_ok(&b));
        out = sb_take(&b, NULL);
    }
    writ_authorizer_free(az);
    writ_request_free(rq);
    writ_entities_free(es);
    writ_policyset_free(ps);
    return out;
}

#define EXPECT(policies, action, want)                                                                       \
    do {                                                                                                     \
        char *got_ = explain(policies, action);                                                              \
        assert_string_equal(got_, want);                                                                     \
        wr_free(got_);                                                                                       \
    } while (0)

/* `when {a && b && c}`: the first operand that was false, with its place. */
static void test_when_and(void **state)
{
    (void)state;
    EXPECT("permit(principal, action, resource)\n"
           "when { principal.level >= 2 && principal.team == \"ops\" && context.ok };",
           "read",
           "\"permits\":[{\"policy\":\"policy0\",\"held\":false,\"condition\":{\"clause\":\"when\","
           "\"text\":\"principal.team == \\\"ops\\\"\",\"line\":2,\"column\":32}}],\"forbids\":[]");
}

/* The first clause that fails, not the first clause. */
static void test_second_clause(void **state)
{
    (void)state;
    EXPECT("// a comment\n"
           "permit(principal, action == Action::\"read\", resource)\n"
           "  when { principal.level > 1 }\n"
           "  when {\n"
           "    context.ok\n"
           "  };",
           "read",
           "\"permits\":[{\"policy\":\"policy0\",\"held\":false,\"condition\":{\"clause\":\"when\","
           "\"text\":\"context.ok\",\"line\":5,\"column\":5}}],\"forbids\":[]");
}

/* `unless {a || b}` true: the first operand that was true. */
static void test_unless_or(void **state)
{
    (void)state;
    EXPECT(
        "permit(principal, action, resource) unless { context.x == 1 || principal.level > 2 || context.ok };",
        "read",
        "\"permits\":[{\"policy\":\"policy0\",\"held\":false,\"condition\":{\"clause\":\"unless\","
        "\"text\":\"principal.level > 2\",\"line\":1,\"column\":64}}],\"forbids\":[]");
}

/* `!` flips what is wanted; parentheses are narrowed into. */
static void test_not_and_parens(void **state)
{
    (void)state;
    EXPECT("permit(principal, action, resource) when { !(context.x == 1 || principal.level > 2) };", "read",
           "\"permits\":[{\"policy\":\"policy0\",\"held\":false,\"condition\":{\"clause\":\"when\","
           "\"text\":\"principal.level > 2\",\"line\":1,\"column\":64}}],\"forbids\":[]");
    EXPECT("permit(principal, action, resource) when { (principal.level > 1 && context.ok) && true };",
           "read",
           "\"permits\":[{\"policy\":\"policy0\",\"held\":false,\"condition\":{\"clause\":\"when\","
           "\"text\":\"context.ok\",\"line\":1,\"column\":68}}],\"forbids\":[]");
    /* !(a && b) false means a && b held: no single operand explains it */
    EXPECT(
        "permit(principal, action, resource) when { !(principal.level > 1 && context.x == 2) };", "read",
        "\"permits\":[{\"policy\":\"policy0\",\"held\":false,\"condition\":{\"clause\":\"when\","
        "\"text\":\"!(principal.level > 1 && context.x == 2)\",\"line\":1,\"column\":44}}],\"forbids\":[]");
}

/* `||` in a `when`, `has a.b` and other expressions are named whole. */
static void test_whole(void **state)
{
    (void)state;
    EXPECT("permit(principal, action, resource) when { context.ok || principal.level > 5 };", "read",
           "\"permits\":[{\"policy\":\"policy0\",\"held\":false,\"condition\":{\"clause\":\"when\","
           "\"text\":\"context.ok || principal.level > 5\",\"line\":1,\"column\":44}}],\"forbids\":[]");
    EXPECT("permit(principal, action, resource) when { principal has nope.name };", "read",
           "\"permits\":[{\"policy\":\"policy0\",\"held\":false,\"condition\":{\"clause\":\"when\","
           "\"text\":\"principal has nope.name\",\"line\":1,\"column\":44}}],\"forbids\":[]");
}

/* A failing evaluation: the operand that failed and the evaluator's message. */
static void test_error(void **state)
{
    (void)state;
    char *got = explain("permit(principal, action, resource) when { principal.level > 1 && (true && "
                        "resource.nope == 1) };",
                        "read");
    const char *want =
        "\"permits\":[{\"policy\":\"policy0\",\"held\":false,\"condition\":{\"clause\":\"when\","
        "\"text\":\"resource.nope == 1\",\"line\":1,\"column\":76},\"error\":\"";
    if (strncmp(got, want, strlen(want)))
        fail_msg("got %s", got);
    assert_non_null(strstr(got, "nope"));
    wr_free(got);
    /* a non-boolean operand is a type error, named at the operand */
    got = explain("permit(principal, action, resource) when { true && context.x };", "read");
    want = "\"permits\":[{\"policy\":\"policy0\",\"held\":false,\"condition\":{\"clause\":\"when\","
           "\"text\":\"context.x\",\"line\":1,\"column\":52},\"error\":\"";
    if (strncmp(got, want, strlen(want)))
        fail_msg("got %s", got);
    wr_free(got);
}

/* A forbid that held: each of its clauses; the permit it overrode is
 * named as held; policies whose scope did not match are not named. */
static void test_forbid(void **state)
{
    (void)state;
    EXPECT("permit(principal, action, resource);\n"
           "permit(principal, action == Action::\"write\", resource) when { false };\n"
           "forbid(principal in Group::\"eng\", action, resource)\n"
           "  when { context.x > 1 }\n"
           "  unless { resource.owner == \"alice\" };\n"
           "forbid(principal, action, resource is User);\n"
           "forbid(principal, action == Action::\"read\", resource);\n",
           "read",
           "\"permits\":[{\"policy\":\"policy0\",\"held\":true}],"
           "\"forbids\":[{\"policy\":\"policy2\",\"conditions\":["
           "{\"clause\":\"when\",\"text\":\"context.x > 1\",\"line\":4,\"column\":10},"
           "{\"clause\":\"unless\",\"text\":\"resource.owner == \\\"alice\\\"\",\"line\":5,\"column\":12}]},"
           "{\"policy\":\"policy4\",\"conditions\":[]}]");
}

/* An allow explains nothing; a default deny with no permit in scope is empty. */
static void test_allow_and_empty(void **state)
{
    (void)state;
    EXPECT("permit(principal, action, resource) when { principal.level == 3 };", "read", "allow");
    EXPECT("permit(principal, action == Action::\"write\", resource);", "read",
           "\"permits\":[],\"forbids\":[]");
}

/* A linked template is quoted from its template's text. */
static void test_template(void **state)
{
    (void)state;
    writ_policyset *ps = NULL;
    writ_error err;
    const char *t = "permit(principal == ?principal, action, resource) when { context.ok };";
    assert_int_equal(writ_policyset_parse(t, strlen(t), &ps, &err), WRIT_OK);
    assert_int_equal(writ_policyset_link(ps, "policy0", "alice-ok", "User::\"alice\"", NULL, &err), WRIT_OK);
    writ_entities *es = NULL;
    assert_int_equal(writ_entities_parse(ENTITIES, sizeof ENTITIES - 1, NULL, &es, &err), WRIT_OK);
    const char *req = "{\"principal\":\"User::\\\"alice\\\"\",\"action\":\"Action::\\\"read\\\"\","
                      "\"resource\":\"Doc::\\\"d1\\\"\",\"context\":{\"ok\":false}}";
    writ_request *rq = NULL;
    assert_int_equal(writ_request_parse(req, strlen(req), NULL, false, &rq, &err), WRIT_OK);
    writ_authorizer *az = writ_authorizer_new();
    writ_decision d;
    writ_explanation x;
    assert_int_equal(writ_explain(az, ps, es, rq, &d, &x), WRIT_OK);
    assert_false(d.allow);
    assert_int_equal(x.npermits, 1);
    assert_string_equal(x.permits[0].policy_id, "alice-ok");
    assert_string_equal(x.permits[0].parts[0].text, "context.ok");
    assert_int_equal(x.permits[0].parts[0].column, 58);
    writ_authorizer_free(az);
    writ_request_free(rq);
    writ_entities_free(es);
    writ_policyset_free(ps);
}

/* Bad arguments fail closed. */
static void test_einval(void **state)
{
    (void)state;
    writ_decision d;
    writ_explanation x;
    assert_int_equal(writ_explain(NULL, NULL, NULL, NULL, &d, &x), WRIT_EINVAL);
    assert_false(d.allow);
    assert_int_equal(x.npermits + x.nforbids, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_when_and),  cmocka_unit_test(test_second_clause),
        cmocka_unit_test(test_unless_or), cmocka_unit_test(test_not_and_parens),
        cmocka_unit_test(test_whole),     cmocka_unit_test(test_error),
        cmocka_unit_test(test_forbid),    cmocka_unit_test(test_allow_and_empty),
        cmocka_unit_test(test_template),  cmocka_unit_test(test_einval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
