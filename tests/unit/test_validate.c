/* test_validate.c - the policy validator, rule by rule, with its exact
 * messages and positions.  Whether each case is valid was confirmed with the
 * reference (cedar-wasm 4.13 `validate`, strict mode); the messages are
 * Writ's own, and the positions point where the reference's do (the start of
 * the offending expression). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cedar/validate.h"
#include "util/alloc.h"
#include "writ/cedar.h"

#include "alloc_count.h"

static const char schema_text[] = "entity Group;\n"
                                  "entity User in [Group] {\n"
                                  "  age?: Long,\n"
                                  "  name: String,\n"
                                  "  manager?: User,\n"
                                  "  info: { x: Long, y?: String },\n"
                                  "  tags: Set<String>,\n"
                                  "} tags String;\n"
                                  "entity Doc { owner: User, level: Long };\n"
                                  "entity Color enum [\"red\", \"blue\"];\n"
                                  "action grp;\n"
                                  "action view in [grp] appliesTo {\n"
                                  "  principal: [User],\n"
                                  "  resource: [Doc, Color],\n"
                                  "  context: { ip: ipaddr, n?: Long },\n"
                                  "};\n";

static writ_schema *schema;

static int setup(void **state)
{
    (void)state;
    writ_error err;
    return writ_schema_parse(schema_text, strlen(schema_text), &schema, &err) == WRIT_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    writ_schema_free(schema);
    return 0;
}

/* Validate `policies` and give every issue as "id: line:col: [warning: ]msg",
 * one a line, in *out (static buffer). */
static const char *run_opt(const char *policies, bool applies_to_error)
{
    static char out[4096];
    writ_policyset *ps = NULL;
    writ_error err;
    if (writ_policyset_parse(policies, strlen(policies), &ps, &err)) {
        /* the message starts with the line:column */
        snprintf(out, sizeof out, "parse error %s", err.msg);
        assert_int_not_equal(err.line, 0);
        return out;
    }
    writ_validation *v = NULL;
    writ_validate_options opt = {policies, strlen(policies), applies_to_error};
    assert_int_equal(writ_validate(schema, ps, &opt, &v, &err), WRIT_OK);
    size_t len = 0, errors = 0, warnings = 0;
    out[0] = 0;
    for (size_t i = 0; i < v->nissues; i++) {
        const writ_validation_issue *it = &v->issues[i];
        len +=
            (size_t)snprintf(out + len, sizeof out - len, "%s%s: %u:%u: %s%s", i ? "\n" : "", it->policy_id,
                             it->line, it->col, it->warning ? "warning: " : "", it->message);
        if (it->warning)
            warnings++;
        else
            errors++;
    }
    assert_int_equal(v->nerrors, errors);
    assert_int_equal(v->nwarnings, warnings);
    assert_int_equal(v->npolicies, writ_policyset_count(ps));
    writ_validation_free(v);
    writ_policyset_free(ps);
    return out;
}

static const char *run(const char *policies) { return run_opt(policies, false); }

#define ALL "permit(principal, action, resource) when { "

static void test_valid_sets(void **state)
{
    (void)state;
    assert_string_equal(
        run("permit(principal, action == Action::\"view\", resource) when { principal has age && "
            "principal.age > 18 };"),
        "");
    assert_string_equal(run("permit(principal, action in Action::\"grp\", resource is Doc) when { "
                            "resource.owner.name == \"x\" && resource.level > 2 };"),
                        "");
    assert_string_equal(run(ALL "context.ip.isInRange(ip(\"10.0.0.0/8\")) };"), "");
    assert_string_equal(
        run(ALL "datetime(\"2024-01-01\").offset(duration(\"1h\")) < datetime(\"2024-01-02\") };"), "");
    assert_string_equal(run(ALL "principal is User in Group::\"g\" && principal.name like \"a*\" };"), "");
    assert_string_equal(run("permit(principal, action, resource is Doc) when { resource.level > 1 };"), "");
}

/* Optional attributes need `has`; the capability flows through && || if. */
static void test_capabilities(void **state)
{
    (void)state;
    assert_string_equal(
        run(ALL "principal.age > 18 };"),
        "policy0: 1:44: attribute `age` of User is optional: test it with `has` before reading it");
    /* a || b proves what both prove; `|| false` keeps a's */
    assert_string_equal(run(ALL "(principal has age || false) && principal.age > 1 };"), "");
    assert_string_equal(
        run(ALL "(principal has age || principal.name == \"a\") && principal.age > 1 };"),
        "policy0: 1:92: attribute `age` of User is optional: test it with `has` before reading it");
    assert_string_equal(run(ALL "if principal has age then principal.age > 1 else false };"), "");
    assert_string_equal(
        run(ALL "if principal has age then true else principal.age > 1 };"),
        "policy0: 1:80: attribute `age` of User is optional: test it with `has` before reading it");
    /* nested access: the capability is on the expression `principal.manager` */
    assert_string_equal(
        run(ALL "principal has manager && principal.manager has age && principal.manager.age > 1 };"), "");
    assert_string_equal(run(ALL "principal.info has y && principal.info.y == \"a\" };"), "");
    assert_string_equal(run(ALL "principal.info.y == \"a\" };"),
                        "policy0: 1:44: attribute `y` of {x: Long, y?: String} is optional: test it with "
                        "`has` before reading it");
    assert_string_equal(run(ALL "context has n && context.n > 1 || context.n > 2 };"),
                        "policy0: 1:78: attribute `n` of {ip: ipaddr, n?: Long} is optional: test it with "
                        "`has` before reading it");
    /* `has` on a nested path is a chain of `has` */
    assert_string_equal(run(ALL "principal has manager.age && principal.manager.age > 1 };"), "");
}

static void test_tags(void **state)
{
    (void)state;
    assert_string_equal(
        run(ALL "principal.getTag(\"k\") == \"v\" };"),
        "policy0: 1:44: the tag may be missing on User: test it with `hasTag` before reading it");
    assert_string_equal(run(ALL "principal.hasTag(\"k\") && principal.getTag(\"k\") == \"v\" };"), "");
    assert_string_equal(
        run("permit(principal, action, resource is Doc) when { resource.getTag(\"k\") == \"v\" };"),
        "policy0: 1:51: entity type Doc has no tags");
    assert_string_equal(run(ALL "principal.getTag(1) == \"v\" };"),
                        "policy0: 1:61: unexpected type: expected String but saw Long");
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(
        run("permit(principal == Usr::\"a\", action, resource);"),
        "policy0: 1:21: unrecognized entity type `Usr`\n"
        "policy0: 1:1: warning: no action of the schema applies to the principals and resources "
        "this scope allows");
    assert_string_equal(
        run("permit(principal, action == Action::\"nope\", resource);"),
        "policy0: 1:29: unrecognized action `Action::\"nope\"`\n"
        "policy0: 1:1: warning: no action of the schema applies to the principals and resources "
        "this scope allows");
    assert_string_equal(run(ALL "principal.nosuch == 1 };"),
                        "policy0: 1:44: attribute `nosuch` not found on User");
    assert_string_equal(
        run(ALL "resource == Color::\"green\" };"),
        "policy0: 1:56: entity `Color::\"green\"` is not a member of the enumerated type `Color`");
    assert_string_equal(run(ALL "resource is Colour };"), "policy0: 1:53: unrecognized entity type `Colour`");
    assert_string_equal(run(ALL "action.foo == 1 };"),
                        "policy0: 1:44: action entities have no attributes (`foo` on Action)");
    /* names are checked even where the typechecker does not go */
    assert_string_equal(run(ALL "false && Nope::\"x\" == principal };"),
                        "policy0: 1:53: unrecognized entity type `Nope`");
}

static void test_operators(void **state)
{
    (void)state;
    assert_string_equal(run(ALL "1 + \"a\" > 0 };"),
                        "policy0: 1:48: unexpected type: expected Long but saw String");
    assert_string_equal(run(ALL "\"a\" < \"b\" };"),
                        "policy0: 1:44: unexpected type: expected Long, datetime or duration but saw String");
    assert_string_equal(run(ALL "!1 };"), "policy0: 1:45: unexpected type: expected Bool but saw Long");
    assert_string_equal(run(ALL "1 in Group::\"g\" };"),
                        "policy0: 1:44: unexpected type: expected an entity but saw Long");
    assert_string_equal(run("permit(principal, action, resource) unless { principal.name };"),
                        "policy0: 1:46: unexpected type: expected Bool but saw String");
    assert_string_equal(run(ALL "principal.tags.contains(1) };"),
                        "policy0: 1:44: the types Long and String are not compatible");
    assert_string_equal(run(ALL "principal.name like 1 };"),
                        "parse error 1:64: unexpected `1`, expected string literal");
    assert_string_equal(run(ALL "datetime(\"2024-01-01\") < decimal(\"1.0\") };"),
                        "policy0: 1:69: unexpected type: expected datetime but saw decimal");
}

static void test_extensions(void **state)
{
    (void)state;
    assert_string_equal(run(ALL "ip(\"nope\").isIpv4() };"),
                        "policy0: 1:44: invalid argument to `ip`: \"nope\" is not a valid ipaddr literal");
    assert_string_equal(run(ALL "decimal(principal.name).lessThan(decimal(\"1.0\")) };"),
                        "policy0: 1:44: `decimal` must be called on one string literal");
    assert_string_equal(run(ALL "decimal(\"1.0\").lessThan(context.ip) };"),
                        "policy0: 1:68: unexpected type: expected decimal but saw ipaddr");
    /* an unknown function never gets here: the parser refuses it */
    assert_string_equal(run(ALL "nosuch(\"1\") };"), "parse error 1:44: `nosuch` is not a valid function");
}

/* Strict mode: no least upper bound of unrelated types. */
static void test_strict(void **state)
{
    (void)state;
    assert_string_equal(run(ALL "(if context has n then 1 else \"a\") == 1 };"),
                        "policy0: 1:45: the types Long and String are not compatible");
    assert_string_equal(run(ALL "[1, \"a\"].contains(1) };"),
                        "policy0: 1:44: set elements have incompatible types Long and String");
    assert_string_equal(run(ALL "[principal, resource].contains(principal) };"),
                        "policy0: 1:44: set elements have incompatible types User and Doc\n"
                        "policy0: 1:44: set elements have incompatible types User and Color");
    assert_string_equal(run(ALL "{a: 1} == {a: \"x\"} };"),
                        "policy0: 1:44: the types {a: Long} and {a: String} are not compatible");
    /* records join only with the same attributes, each as optional in both */
    assert_string_equal(
        run(ALL "principal.info == {x: 1, y: \"a\"} };"),
        "policy0: 1:44: the types {x: Long, y?: String} and {x: Long, y: String} are not compatible");
    assert_string_equal(run(ALL "(if context has n then {a: 1} else {a: 2, b: \"y\"}).a > 1 };"),
                        "policy0: 1:45: the types {a: Long} and {a: Long, b: String} are not compatible");
    assert_string_equal(run(ALL "(if context has n then {a: 1, b: \"x\"} else {a: 2, b: \"y\"}).a > 1 };"),
                        "");
    assert_string_equal(run(ALL "[].isEmpty() };"),
                        "policy0: 1:44: empty set literals are not allowed: their element type is unknown");
    /* equality across entity types is false, not an error */
    assert_string_equal(
        run(ALL "principal == resource };"),
        "policy0: 1:1: warning: policy is impossible: its condition is false for every request the "
        "schema allows");
}

/* `in` and `is` on impossible types, and scopes no action applies to. */
static void test_impossible(void **state)
{
    (void)state;
    const char *both =
        "policy0: 1:1: warning: no action of the schema applies to the principals and resources this "
        "scope allows\n"
        "policy0: 1:1: warning: policy is impossible: its condition is false for every request the "
        "schema allows";
    assert_string_equal(run("permit(principal in Doc::\"d\", action, resource);"), both);
    assert_string_equal(run("permit(principal is Doc, action, resource);"), both);
    assert_string_equal(run("permit(principal is Doc, action == Action::\"view\", resource);"), both);
    /* as an error, as Cedar 4.10 (the conformance corpus) gives it */
    assert_string_equal(
        run_opt("permit(principal is Doc, action, resource);", true),
        "policy0: 1:1: no action of the schema applies to the principals and resources this scope "
        "allows");
    /* short-circuit: a false left side hides the right side's errors */
    assert_string_equal(
        run(ALL "false && principal.nosuch == 1 };"),
        "policy0: 1:1: warning: policy is impossible: its condition is false for every request the "
        "schema allows");
    assert_string_equal(run(ALL "true || principal.nosuch == 1 };"), "");
    assert_string_equal(run(ALL "resource.level > 1 };"),
                        "policy0: 1:44: attribute `level` not found on Color");
}

static void test_positions_and_ids(void **state)
{
    (void)state;
    assert_string_equal(
        run("permit(principal, action, resource);\n"
            "@id(\"second\")\n"
            "forbid(principal, action, resource)\n"
            "when {\n"
            "  principal.age > 1\n"
            "};\n"),
        "policy1: 5:3: attribute `age` of User is optional: test it with `has` before reading it");
    /* a template: the slot may hold anything */
    assert_string_equal(
        run("permit(principal in ?principal, action, resource) when { principal.name == \"a\" };"), "");
}

static void test_bad_input(void **state)
{
    (void)state;
    writ_error err;
    writ_schema *s = NULL;
    const char *bad = "entity User {\n  age: Lng,\n};";
    assert_int_not_equal(writ_schema_parse(bad, strlen(bad), &s, &err), WRIT_OK);
    assert_null(s);
    assert_int_equal(err.line, 2);
    assert_true(err.col > 0);
    bad = "entity User { age: Long ";
    assert_int_equal(writ_schema_parse(bad, strlen(bad), &s, &err), WRIT_EPARSE);
    assert_int_equal(err.line, 1);
    assert_string_equal(run("permit(principal, action, resource) when { principal.age > };"),
                        "parse error 1:60: unexpected `}`");
    writ_validation *v = (writ_validation *)1;
    assert_int_equal(writ_validate(NULL, NULL, NULL, &v, &err), WRIT_EINVAL);
    assert_null(v);
    writ_validation_free(NULL);
}

/* Without the text, issues have offsets but no line:column. */
static void test_no_text(void **state)
{
    (void)state;
    const char *p = ALL "principal.age > 1 };";
    writ_policyset *ps;
    writ_error err;
    assert_int_equal(writ_policyset_parse(p, strlen(p), &ps, &err), WRIT_OK);
    writ_validation *v;
    assert_int_equal(writ_validate(schema, ps, NULL, &v, &err), WRIT_OK);
    assert_int_equal(v->nerrors, 1);
    assert_int_equal(v->issues[0].offset, 43);
    assert_int_equal(v->issues[0].line, 0);
    writ_validation_free(v);
    writ_policyset_free(ps);
}

static void test_lub(void **state)
{
    (void)state;
    wr_arena *a = wr_arena_new(0);
    const vt_type *t = cedar_vt_boolean(VB_TRUE), *f = cedar_vt_boolean(VB_FALSE);
    assert_int_equal(cedar_vt_lub(a, t, f)->b, VB_ANY);
    assert_int_equal(cedar_vt_lub(a, t, t)->b, VB_TRUE);
    assert_null(cedar_vt_lub(a, cedar_vt_prim(VT_LONG), cedar_vt_prim(VT_STRING)));
    cv_value u = cv_str_new(a, "User", 4), d = cv_str_new(a, "Doc", 3);
    assert_null(cedar_vt_lub(a, cedar_vt_entity(a, u.u.s), cedar_vt_entity(a, d.u.s)));
    assert_non_null(cedar_vt_lub(a, cedar_vt_set(a, cedar_vt_entity(a, u.u.s)),
                                 cedar_vt_set(a, cedar_vt_entity(a, u.u.s))));
    assert_null(cedar_vt_lub(a, cedar_vt_ext(a, CVX_IPADDR), cedar_vt_ext(a, CVX_DECIMAL)));
    char buf[64];
    cedar_vt_print(cedar_vt_set(a, cedar_vt_ext(a, CVX_DECIMAL)), buf, sizeof buf);
    assert_string_equal(buf, "Set<decimal>");
    wr_arena_free(a);
}

/* Every allocation failure: an error status or a result, nothing leaked. */
static void test_alloc_failures(void **state)
{
    (void)state;
    const char *p = ALL "principal has age && principal.age > 1 && [1, 2].contains(principal.age) };\n"
                        "permit(principal, action, resource) when { principal.getTag(\"k\") == \"v\" };";
    writ_policyset *ps;
    writ_error err;
    assert_int_equal(writ_policyset_parse(p, strlen(p), &ps, &err), WRIT_OK);
    long before = live_heap();
    bool done = false;
    for (long n = 0; n < 2000 && !done; n++) {
        writ_validation *v = NULL;
        wr_alloc_set_fail_after(n);
        writ_status st = writ_validate(schema, ps, NULL, &v, &err);
        wr_alloc_set_fail_after(-1);
        if (st == WRIT_OK) {
            assert_non_null(v);
            done = v->nerrors == 1;
        } else {
            assert_int_equal(st, WRIT_ENOMEM);
            assert_null(v);
        }
        writ_validation_free(v);
        assert_int_equal(live_heap(), before);
    }
    assert_true(done);
    writ_policyset_free(ps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_sets),
        cmocka_unit_test(test_capabilities),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_operators),
        cmocka_unit_test(test_extensions),
        cmocka_unit_test(test_strict),
        cmocka_unit_test(test_impossible),
        cmocka_unit_test(test_positions_and_ids),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_no_text),
        cmocka_unit_test(test_lub),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
