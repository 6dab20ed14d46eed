/* test_eval.c - evaluator and authorizer semantics, through the public API
 * (and cedar_like directly).
 *
 * Each expectation below was checked against the reference engine
 * (@cedar-policy/cedar-wasm 4.13) when it was written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cedar/eval.h"
#include "writ/cedar.h"

static const char ENTITIES[] =
    "["
    "{\"uid\":{\"type\":\"User\",\"id\":\"alice\"},\"attrs\":{\"age\":30,\"name\":\"Alice\","
    "\"tags\":[\"a\",\"b\"],\"addr\":{\"city\":\"Paris\"},\"mgr\":{\"__entity\":{\"type\":\"User\",\"id\":\"bob\"}}},"
    "\"parents\":[{\"type\":\"Group\",\"id\":\"eng\"}],\"tags\":{\"env\":\"prod\"}},"
    "{\"uid\":{\"type\":\"User\",\"id\":\"bob\"},\"attrs\":{},\"parents\":[]},"
    "{\"uid\":{\"type\":\"Group\",\"id\":\"eng\"},\"attrs\":{},\"parents\":[{\"type\":\"Group\",\"id\":\"all\"}]},"
    "{\"uid\":{\"type\":\"Group\",\"id\":\"all\"},\"attrs\":{},\"parents\":[]},"
    "{\"uid\":{\"type\":\"Doc\",\"id\":\"d1\"},\"attrs\":{\"owner\":{\"__entity\":{\"type\":\"User\",\"id\":\"alice\"}},"
    "\"level\":2},\"parents\":[{\"type\":\"Folder\",\"id\":\"f\"}]},"
    "{\"uid\":{\"type\":\"Action\",\"id\":\"read\"},\"attrs\":{},\"parents\":[{\"type\":\"Action\",\"id\":\"any\"}]}"
    "]";

static const char REQUEST[] =
    "{\"principal\":{\"type\":\"User\",\"id\":\"alice\"},\"action\":{\"type\":\"Action\",\"id\":\"read\"},"
    "\"resource\":{\"type\":\"Doc\",\"id\":\"d1\"},\"context\":{\"n\":5,\"ip\":{\"__extn\":{\"fn\":\"ip\","
    "\"arg\":\"10.1.2.3\"}},\"flag\":true,\"s\":\"hello*world\"}}";

/* Decide and render as "allow [ids] errors [ids]". */
static void decide(const char *policies, const char *req, char *out, size_t cap)
{
    writ_policyset *ps = NULL;
    writ_entities *es = NULL;
    writ_request *rq = NULL;
    writ_error err;
    if (writ_policyset_parse(policies, strlen(policies), &ps, &err))
        fail_msg("policies: %s", err.msg);
    if (writ_entities_parse(ENTITIES, sizeof ENTITIES - 1, NULL, &es, &err))
        fail_msg("entities: %s", err.msg);
    if (writ_request_parse(req, strlen(req), NULL, false, &rq, &err))
        fail_msg("request: %s", err.msg);
    writ_authorizer *az = writ_authorizer_new();
    writ_decision d;
    assert_int_equal(writ_authorize(az, ps, es, rq, &d), WRIT_OK);
    size_t n = (size_t)snprintf(out, cap, "%s [", d.allow ? "allow" : "deny");
    for (size_t i = 0; i < d.nreasons; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? " " : "", d.reasons[i]);
    n += (size_t)snprintf(out + n, cap - n, "] errors [");
    for (size_t i = 0; i < d.nerrors; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? " " : "", d.errors[i].policy_id);
    snprintf(out + n, cap - n, "]");
    writ_authorizer_free(az);
    writ_request_free(rq);
    writ_entities_free(es);
    writ_policyset_free(ps);
}

/* One permit with the condition; expect "true", "false" or "error". */
static void check_cond(const char *cond, const char *want)
{
    char pol[1024], got[256];
    snprintf(pol, sizeof pol, "permit(principal, action, resource) when { %s };", cond);
    decide(pol, REQUEST, got, sizeof got);
    const char *exp = !strcmp(want, "true")    ? "allow [policy0] errors []"
                      : !strcmp(want, "false") ? "deny [] errors []"
                                               : "deny [] errors [policy0]";
    if (strcmp(got, exp))
        fail_msg("when { %s }: want %s, got %s", cond, want, got);
}

static void test_booleans_and_short_circuit(void **state)
{
    (void)state;
    check_cond("true && true", "true");
    check_cond("false && (1 + \"a\" == 2)", "false");      /* right side never evaluated */
    check_cond("true || principal.nope", "true");
    check_cond("false || 1", "error");                     /* non-bool operand */
    check_cond("1 && true", "error");
    check_cond("!context.flag", "false");
    check_cond("if context.flag then true else 1", "true");
    check_cond("if 1 then true else false", "error");
    check_cond("if false then principal.nope else context.n == 5", "true");
}

/* Long `&&` / `||` chains (one node with many operands) keep the binary
 * operators' left-to-right, short-circuit semantics. */
static void test_boolean_chains(void **state)
{
    (void)state;
    check_cond("false || false || true", "true");
    check_cond("false || true || 1", "true"); /* stops at the first true */
    check_cond("false || 1 || true", "error");
    check_cond("true && true && false && 1", "false");
    check_cond("true && 1 && false", "error");
    check_cond("true && true && true", "true");
    check_cond("false || (true && false) || context.flag", "true");
    check_cond("principal has addr.city && principal.addr.city == \"Paris\"", "true");
    check_cond("principal has addr.zip", "false");
    /* 20,000 operands, decided by the last one */
    size_t k = 20000, unit = 9;
    const char *P = "permit(principal, action, resource) when { false";
    size_t pl = strlen(P);
    char *pol = malloc(pl + k * unit + 32);
    assert_non_null(pol);
    memcpy(pol, P, pl);
    for (size_t i = 0; i < k; i++)
        memcpy(pol + pl + i * unit, " || false", unit);
    char got[256];
    strcpy(pol + pl + k * unit, " || true };");
    decide(pol, REQUEST, got, sizeof got);
    assert_string_equal(got, "allow [policy0] errors []");
    strcpy(pol + pl + k * unit, " || 7 };");
    decide(pol, REQUEST, got, sizeof got);
    assert_string_equal(got, "deny [] errors [policy0]");
    free(pol);
}

/* The deepest tree the parser accepts evaluates: `1+1+... == k+1` with
 * k = CEDAR_MAX_DEPTH - 2 additions is CEDAR_MAX_DEPTH deep. */
static void test_depth_parser_limit_evaluates(void **state)
{
    (void)state;
    size_t k = CEDAR_MAX_DEPTH - 2;
    char *pol = malloc(128 + 2 * k);
    assert_non_null(pol);
    size_t n = (size_t)sprintf(pol, "permit(principal, action, resource) when { 1");
    for (size_t i = 0; i < k; i++)
        n += (size_t)sprintf(pol + n, "+1");
    sprintf(pol + n, " == %zu };", k + 1);
    char got[256];
    decide(pol, REQUEST, got, sizeof got);
    assert_string_equal(got, "allow [policy0] errors []");
    free(pol);
}

/* The evaluator's own guard, for a tree the parser did not build: depth
 * CEDAR_MAX_DEPTH evaluates, one more is an evaluation error (not a stack
 * overflow), and the guard's count is back at zero after either. */
static void test_eval_depth_guard(void **state)
{
    (void)state;
    enum { N = CEDAR_MAX_DEPTH + 1 };
    ast_node *nodes = calloc(N, sizeof *nodes);
    assert_non_null(nodes);
    nodes[0].kind = A_LIT;
    nodes[0].u.lit = cv_bool(true);
    for (size_t i = 1; i < N; i++) {
        nodes[i].kind = A_NOT;
        nodes[i].u.op.a = &nodes[i - 1];
    }
    eval_env env;
    memset(&env, 0, sizeof env);
    env.var[VAR_CONTEXT].type = CV_RECORD;
    env.var[VAR_CONTEXT].u.rec = &cv_empty_record;
    cv_value v;
    /* nodes[N - 2] heads a tree CEDAR_MAX_DEPTH deep: N - 2 negations */
    assert_int_equal(cedar_eval(&env, &nodes[N - 2], &v), 0);
    assert_int_equal(v.type, CV_BOOL);
    assert_int_equal(v.u.b, (N - 2) % 2 == 0);
    assert_int_equal(env.depth, 0);
    assert_int_equal(cedar_eval(&env, &nodes[N - 1], &v), -1);
    assert_non_null(strstr(env.err, "nested too deeply"));
    assert_int_equal(env.depth, 0);
    /* and a policy around it errors, so it is skipped, never a crash */
    ast_policy pol;
    memset(&pol, 0, sizeof pol);
    ast_cond cond = {.when = true, .expr = &nodes[N - 1]};
    pol.ncond = 1;
    pol.cond = &cond;
    bool sat = true;
    assert_int_equal(cedar_eval_conditions(&env, &pol, &sat), -1);
    assert_false(sat);
    assert_int_equal(env.depth, 0);
    free(nodes);
}

static void test_arithmetic(void **state)
{
    (void)state;
    check_cond("1 + 2 * 3 == 7", "true");
    check_cond("9223372036854775807 + 1 > 0", "error");
    check_cond("-9223372036854775808 - 1 < 0", "error");
    check_cond("-(-9223372036854775808) > 0", "error");
    check_cond("-9223372036854775808 * -1 > 0", "error");
    check_cond("--9223372036854775808 == 0", "error");
    check_cond("context.n * 2 == 10 && context.n - 6 == -1", "true");
    check_cond("\"a\" < \"b\"", "error");
    check_cond("1 == \"1\"", "false");                     /* == never fails */
    check_cond("[1, 2] == [2, 1, 1]", "true");
    check_cond("{a: 1, b: [true]} == {b: [true], a: 1}", "true");
}

static void test_entities_and_hierarchy(void **state)
{
    (void)state;
    check_cond("principal in Group::\"all\"", "true");      /* transitive */
    check_cond("principal in [Group::\"x\", Group::\"eng\"]", "true");
    check_cond("principal in [Group::\"x\", 1]", "error");
    check_cond("principal in principal", "true");           /* reflexive */
    check_cond("User::\"nobody\" in Group::\"all\"", "false");
    check_cond("action in Action::\"any\"", "true");
    check_cond("principal.age == 30 && principal[\"name\"] == \"Alice\"", "true");
    check_cond("principal.addr.city == \"Paris\"", "true");
    check_cond("principal has addr.city && !(principal has addr.zip)", "true");
    check_cond("principal.mgr.nope", "error");              /* bob has no such attribute */
    check_cond("User::\"ghost\".age > 1", "error");         /* entity not in the store */
    check_cond("User::\"ghost\" has age", "false");
    check_cond("resource.owner == principal", "true");
    check_cond("principal is User && !(principal is Group)", "true");
    check_cond("principal is User in Group::\"all\"", "true");
    check_cond("context has n && !(context has zz)", "true");
    check_cond("1 has a", "error");
}

static void test_strings_sets_tags(void **state)
{
    (void)state;
    check_cond("context.s like \"hello\\*world\"", "true");
    check_cond("context.s like \"h*d\"", "true");
    check_cond("\"hello world\" like \"hello\\*world\"", "false");
    check_cond("\"\" like \"*\"", "true");
    check_cond("\"aaa\" like \"a*a*a\"", "true");
    check_cond("\"ab\" like \"a*a*b\"", "false");
    check_cond("\"caf\\u{e9}\" like \"caf*\"", "true");
    check_cond("principal.tags.contains(\"a\")", "true");
    check_cond("principal.tags.containsAll([\"a\", \"b\"])", "true");
    check_cond("principal.tags.containsAny([\"z\", \"b\"])", "true");
    check_cond("principal.tags.containsAll(\"a\")", "error");
    check_cond("[].isEmpty() && ![1].isEmpty()", "true");
    check_cond("\"abc\".contains(\"a\")", "error");
    check_cond("principal.hasTag(\"env\") && principal.getTag(\"env\") == \"prod\"", "true");
    check_cond("principal.getTag(\"nope\") == 1", "error");
    check_cond("User::\"ghost\".hasTag(\"env\")", "false");
    check_cond("principal.hasTag(1)", "error");
}

/* In a pattern only the two characters `\*` are a literal star; a star
 * written any other way (`\u{2a}`, `\x2a`) is the wildcard, as in the
 * reference (checked with cedar-wasm for each line). */
static void test_like_escapes(void **state)
{
    (void)state;
    check_cond("\"x\" like \"\\u{2a}\"", "true");
    check_cond("\"\" like \"\\u{002a}\"", "true");
    check_cond("\"ab\" like \"\\x2a\"", "true");
    check_cond("\"x\" like \"\\*\"", "false");
    check_cond("\"*\" like \"\\*\"", "true");
    check_cond("\"axb\" like \"a\\u{2a}b\"", "true");
    check_cond("\"ab\" like \"a\\u{2a}b\"", "true");
    check_cond("\"axb\" like \"a\\*b\"", "false");
    check_cond("\"a*b\" like \"a\\*b\"", "true");
    check_cond("\"\\\\x\" like \"\\u{5c}*\"", "true");
    check_cond("\"x\" like \"\\u{5c}*\"", "false");
    check_cond("\"\\\\x\" like \"\\u{5c}\\u{2a}\"", "true");
    check_cond("\"\\\\*\" like \"\\u{5c}\\*\"", "true");
    check_cond("\"\\\\x\" like \"\\u{5c}\\*\"", "false");
    check_cond("\"\\\\\" like \"\\\\*\"", "true");
    check_cond("\"\\\\*\" like \"\\\\\\*\"", "true");
    check_cond("\"\\\\x\" like \"\\\\\\*\"", "false");
    check_cond("\"a\\\\b\" like \"a\\x5c\\x2ab\"", "true");
    check_cond("\"a\\\\*b\" like \"a\\x5c\\x2ab\"", "true");
    check_cond("\"axb\" like \"a\\x5c\\x2ab\"", "false");
}

/* The naive definition of `like`, to check cedar_like's shortcuts against. */
static bool like_ref(const char *s, size_t n, const int16_t *p, size_t m)
{
    if (m == 0)
        return n == 0;
    if (p[0] == PAT_STAR)
        return like_ref(s, n, p + 1, m - 1) || (n > 0 && like_ref(s + 1, n - 1, p, m));
    return n > 0 && p[0] == (unsigned char)s[0] && like_ref(s + 1, n - 1, p + 1, m - 1);
}

/* Every pattern over {a, b, *} up to 5 elements against every string over
 * {a, b} up to 5 bytes (cedar_like itself is internal: eval.h). */
static void test_like_exhaustive(void **state)
{
    (void)state;
    static const int16_t alpha[3] = {'a', 'b', PAT_STAR};
    int16_t p[5];
    char s[5];
    for (size_t m = 0; m <= 5; m++) {
        size_t np = 1;
        for (size_t k = 0; k < m; k++)
            np *= 3;
        for (size_t pi = 0; pi < np; pi++) {
            for (size_t k = 0, v = pi; k < m; k++, v /= 3)
                p[k] = alpha[v % 3];
            ast_pattern pat = {m, p};
            for (size_t n = 0; n <= 5; n++) {
                for (size_t si = 0; si < ((size_t)1 << n); si++) {
                    for (size_t k = 0; k < n; k++)
                        s[k] = (si >> k) & 1 ? 'b' : 'a';
                    assert_int_equal(cedar_like(s, n, &pat), like_ref(s, n, p, m));
                }
            }
        }
    }
}

static void test_extensions(void **state)
{
    (void)state;
    check_cond("context.ip.isInRange(ip(\"10.0.0.0/8\"))", "true");
    check_cond("ip(\"10.0.0.1\").isLoopback()", "false");
    check_cond("ip(\"nonsense\").isIpv4()", "error");
    check_cond("decimal(\"1.5\").lessThan(decimal(\"2.25\"))", "true");
    check_cond("decimal(\"1.5\") < decimal(\"2.25\")", "error");   /* decimals are not ordered by < */
    check_cond("decimal(\"1.0\") == decimal(\"1.0000\")", "true");
    check_cond("datetime(\"2024-01-01\") < datetime(\"2024-01-01T00:00:01Z\")", "true");
    check_cond("datetime(\"2024-01-01\").offset(duration(\"1d\")) == datetime(\"2024-01-02\")", "true");
    check_cond("duration(\"1h30m\").toMinutes() == 90", "true");
    check_cond("ip(\"1.2.3.4\", \"x\").isIpv4()", "error");         /* arity checked at evaluation */
}

static void test_combining(void **state)
{
    (void)state;
    char got[256];
    /* forbid overrides permit; both permits are reasons when no forbid holds */
    decide("permit(principal, action, resource);\n"
           "permit(principal in Group::\"eng\", action, resource);\n"
           "forbid(principal, action, resource) when { context.n > 10 };",
           REQUEST, got, sizeof got);
    assert_string_equal(got, "allow [policy0 policy1] errors []");
    decide("permit(principal, action, resource);\n"
           "forbid(principal, action == Action::\"read\", resource) when { context.n == 5 };\n"
           "forbid(principal, action, resource in Folder::\"f\");",
           REQUEST, got, sizeof got);
    assert_string_equal(got, "deny [policy1 policy2] errors []");
    /* an erroring forbid is skipped (and reported): the permit still allows */
    decide("permit(principal, action, resource);\n"
           "forbid(principal, action, resource) when { principal.nope };",
           REQUEST, got, sizeof got);
    assert_string_equal(got, "allow [policy0] errors [policy1]");
    /* default deny */
    decide("permit(principal == User::\"bob\", action, resource);", REQUEST, got, sizeof got);
    assert_string_equal(got, "deny [] errors []");
    decide("", REQUEST, got, sizeof got);
    assert_string_equal(got, "deny [] errors []");
    /* action in [] matches nothing */
    decide("permit(principal, action in [], resource);", REQUEST, got, sizeof got);
    assert_string_equal(got, "deny [] errors []");
    /* unless */
    decide("permit(principal, action, resource) unless { context.flag };", REQUEST, got, sizeof got);
    assert_string_equal(got, "deny [] errors []");
}

/* The scope index must find a policy filed under any ancestor of the
 * request's entities, in every dimension, among many that do not apply. */
static void test_index(void **state)
{
    (void)state;
    size_t cap = 1 << 20, n = 0;
    char *pol = malloc(cap);
    for (int i = 0; i < 2000; i++)
        n += (size_t)snprintf(pol + n, cap - n,
                              "permit(principal == User::\"u%d\", action, resource);\n"
                              "permit(principal, action, resource in Folder::\"f%d\");\n",
                              i, i);
    n += (size_t)snprintf(pol + n, cap - n, "permit(principal in Group::\"all\", action, resource) when { false };\n");
    n += (size_t)snprintf(pol + n, cap - n, "forbid(principal, action in [Action::\"x\", Action::\"any\"], resource in Folder::\"f\");\n");
    n += (size_t)snprintf(pol + n, cap - n, "permit(principal is User in Group::\"eng\", action, resource);\n");
    n += (size_t)snprintf(pol + n, cap - n, "permit(principal, action == Action::\"read\", resource);\n");
    char got[256];
    decide(pol, REQUEST, got, sizeof got);
    /* policy4001 (forbid, filed under resource Folder::"f") must be found */
    assert_string_equal(got, "deny [policy4001] errors []");
    /* without the forbid (now a comment, so later ids shift down by one), the
     * two permits filed under Group::"eng" and Action::"read" */
    char *cut = strstr(pol, "forbid(");
    memcpy(cut, "//", 2);
    decide(pol, REQUEST, got, sizeof got);
    assert_string_equal(got, "allow [policy4001 policy4002] errors []");
    free(pol);
}

static void test_templates_evaluate(void **state)
{
    (void)state;
    writ_policyset *ps = NULL;
    writ_entities *es = NULL;
    writ_request *rq = NULL;
    writ_error err;
    const char *text = "permit(principal in ?principal, action, resource == ?resource);";
    assert_int_equal(writ_policyset_parse(text, strlen(text), &ps, &err), WRIT_OK);
    assert_int_equal(writ_entities_parse(ENTITIES, sizeof ENTITIES - 1, NULL, &es, &err), WRIT_OK);
    assert_int_equal(writ_request_parse(REQUEST, sizeof REQUEST - 1, NULL, false, &rq, &err), WRIT_OK);
    writ_authorizer *az = writ_authorizer_new();
    writ_decision d;
    assert_int_equal(writ_authorize(az, ps, es, rq, &d), WRIT_OK);
    assert_false(d.allow);          /* an unlinked template decides nothing */
    assert_int_equal(writ_policyset_link(ps, "policy0", "eng-d1", "Group::\"eng\"", "Doc::\"d1\"", &err), WRIT_OK);
    assert_int_equal(writ_authorize(az, ps, es, rq, &d), WRIT_OK);
    assert_true(d.allow);
    assert_int_equal(d.nreasons, 1);
    assert_string_equal(d.reasons[0], "eng-d1");
    writ_authorizer_free(az);
    writ_request_free(rq);
    writ_entities_free(es);
    writ_policyset_free(ps);
}

static void test_request_attrs(void **state)
{
    (void)state;
    writ_policyset *ps = NULL;
    writ_entities *es = NULL;
    writ_request *rq = NULL;
    writ_error err;
    const char *text = "permit(principal, action, resource) when { principal.age == 31 && principal.name == \"Alice\" "
                       "&& principal in Group::\"all\" && resource.clearance == \"high\" };";
    assert_int_equal(writ_policyset_parse(text, strlen(text), &ps, &err), WRIT_OK);
    assert_int_equal(writ_entities_parse(ENTITIES, sizeof ENTITIES - 1, NULL, &es, &err), WRIT_OK);
    assert_int_equal(writ_request_parse(REQUEST, sizeof REQUEST - 1, NULL, false, &rq, &err), WRIT_OK);
    writ_authorizer *az = writ_authorizer_new();
    writ_decision d;
    assert_int_equal(writ_authorize(az, ps, es, rq, &d), WRIT_OK);
    assert_false(d.allow);
    assert_int_equal(d.nerrors, 0 + 0);   /* age is 30: false, no error */
    assert_int_equal(writ_request_set_attrs(rq, es, "User", "alice", "{\"age\": 31}", 11, &err), WRIT_OK);
    assert_int_equal(writ_authorize(az, ps, es, rq, &d), WRIT_OK);
    assert_false(d.allow);
    assert_int_equal(d.nerrors, 1);       /* Doc has no clearance yet */
    assert_int_equal(writ_request_set_attrs(rq, es, "Doc", "d1", "{\"clearance\": \"high\"}", 21, &err), WRIT_OK);
    assert_int_equal(writ_authorize(az, ps, es, rq, &d), WRIT_OK);
    assert_true(d.allow);
    assert_int_equal(writ_request_set_attrs(rq, es, "Doc", "d1", "[1]", 3, &err), WRIT_EJSON);
    assert_int_equal(writ_request_set_attrs(rq, es, "Doc", "d1", "{", 1, &err), WRIT_EJSON);
    writ_authorizer_free(az);
    writ_request_free(rq);
    writ_entities_free(es);
    writ_policyset_free(ps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_booleans_and_short_circuit),
        cmocka_unit_test(test_boolean_chains),
        cmocka_unit_test(test_depth_parser_limit_evaluates),
        cmocka_unit_test(test_eval_depth_guard),
        cmocka_unit_test(test_arithmetic),
        cmocka_unit_test(test_entities_and_hierarchy),
        cmocka_unit_test(test_strings_sets_tags),
        cmocka_unit_test(test_like_exhaustive),
        cmocka_unit_test(test_like_escapes),
        cmocka_unit_test(test_extensions),
        cmocka_unit_test(test_combining),
        cmocka_unit_test(test_index),
        cmocka_unit_test(test_templates_evaluate),
        cmocka_unit_test(test_request_attrs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
