/* test_parser.c - the Cedar policy parser: structure, errors and limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cedar/ast.h"
#include "cedar/parser.h"
#include "cedar/policyset.h"
#include "writ/cedar.h"

static writ_policyset *parse_ok(const char *src)
{
    writ_policyset *ps = NULL;
    writ_error err;
    writ_status st = writ_policyset_parse(src, strlen(src), &ps, &err);
    if (st != WRIT_OK)
        fail_msg("unexpected parse error for <%s>: %s", src, err.msg);
    return ps;
}

/* Parse must fail with the code, at line:col, with a message containing
 * the fragment. */
static void parse_err(const char *src, size_t len, writ_status code, uint32_t line, uint32_t col, const char *frag)
{
    writ_policyset *ps = NULL;
    writ_error err;
    memset(&err, 0, sizeof err);
    writ_status st = writ_policyset_parse(src, len, &ps, &err);
    assert_null(ps);
    if (st != code)
        fail_msg("<%.60s>: want status %d got %d (%s)", src, code, st, err.msg);
    if (line && (err.line != line || err.col != col))
        fail_msg("<%.60s>: want %u:%u got %u:%u (%s)", src, line, col, err.line, err.col, err.msg);
    if (frag && !strstr(err.msg, frag))
        fail_msg("<%.60s>: message <%s> lacks <%s>", src, err.msg, frag);
}

/* Lists checked member against member for duplicates are bounded: at the
 * limit they parse, one more is WRIT_ELIMIT (100,000 annotations took 43 s). */
static void test_member_limits(void **state)
{
    (void)state;
    size_t cap = 12 * (CEDAR_MAX_MEMBERS + 2) + 64;
    char *s = malloc(cap);
    for (int over = 0; over < 2; over++) {
        size_t n = CEDAR_MAX_MEMBERS + (size_t)over, o = 0;
        for (size_t i = 0; i < n; i++)
            o += (size_t)snprintf(s + o, cap - o, "@a%zu ", i);
        o += (size_t)snprintf(s + o, cap - o, "permit(principal, action, resource);");
        writ_policyset *ps = NULL;
        writ_error err;
        writ_status st = writ_policyset_parse(s, o, &ps, &err);
        if (over ? st != WRIT_ELIMIT || !strstr(err.msg, "more than 10000 annotations") : st != WRIT_OK)
            fail_msg("%zu annotations: %d %s", n, st, err.msg);
        writ_policyset_free(ps);
        o = (size_t)snprintf(s, cap, "permit(principal, action, resource) when { {");
        for (size_t i = 0; i < n; i++)
            o += (size_t)snprintf(s + o, cap - o, "%sk%zu: 1", i ? "," : "", i);
        o += (size_t)snprintf(s + o, cap - o, "} == {} };");
        ps = NULL;
        st = writ_policyset_parse(s, o, &ps, &err);
        if (over ? st != WRIT_ELIMIT || !strstr(err.msg, "more than 10000 keys") : st != WRIT_OK)
            fail_msg("%zu keys: %d %s", n, st, err.msg);
        writ_policyset_free(ps);
    }
    free(s);
}

static void test_structure(void **state)
{
    (void)state;
    writ_policyset *ps = parse_ok(
        "@id(\"first\") @advice\n"
        "permit(principal == User::\"alice\", action in [Action::\"read\", Action::\"list\"], resource in Folder::\"f\")\n"
        "when { resource.owner == principal } unless { context.blocked };\n"
        "forbid(principal is NS::Agent in Team::\"t\", action == NS::Action::\"deploy\", resource is Repo,);\n");
    assert_int_equal(writ_policyset_count(ps), 2);
    assert_string_equal(writ_policyset_id(ps, 0), "policy0");
    assert_string_equal(writ_policyset_id(ps, 1), "policy1");
    assert_string_equal(writ_policyset_annotation(ps, 0, "id"), "first");
    assert_string_equal(writ_policyset_annotation(ps, 0, "advice"), "");
    assert_null(writ_policyset_annotation(ps, 1, "id"));
    const ast_policy *p0 = ps->pol[0], *p1 = ps->pol[1];
    assert_true(p0->permit);
    assert_int_equal(p0->principal.op, SC_EQ);
    assert_string_equal(p0->principal.uid->id->data, "alice");
    assert_int_equal(p0->action.op, SC_IN_SET);
    assert_int_equal(p0->action.n, 2);
    assert_int_equal(p0->resource.op, SC_IN);
    assert_int_equal(p0->ncond, 2);
    assert_true(p0->cond[0].when);
    assert_false(p0->cond[1].when);
    assert_false(p1->permit);
    assert_int_equal(p1->principal.op, SC_IS_IN);
    assert_string_equal(p1->principal.type->data, "NS::Agent");
    assert_string_equal(p1->action.uid->type->data, "NS::Action");
    assert_int_equal(p1->resource.op, SC_IS);
    writ_policyset_free(ps);
}

static void test_precedence(void **state)
{
    (void)state;
    writ_policyset *ps = parse_ok("permit(principal, action, resource) when { 1 + 2 * 3 == 7 && !false || -2 < 1 };");
    const ast_node *e = ps->pol[0]->cond[0].expr;
    assert_int_equal(e->kind, A_OR);
    assert_int_equal(e->u.list.n, 2);
    const ast_node *and = e->u.list.items[0], *lt = e->u.list.items[1];
    assert_int_equal(and->kind, A_AND);
    assert_int_equal(and->u.list.n, 2);
    assert_int_equal(and->u.list.items[0]->kind, A_EQ);
    assert_int_equal(and->u.list.items[1]->kind, A_NOT);
    assert_int_equal(and->u.list.items[0]->u.op.a->kind, A_ADD);
    assert_int_equal(and->u.list.items[0]->u.op.a->u.op.b->kind, A_MUL);
    assert_int_equal(lt->kind, A_LT);
    /* -2 is a literal, not a negation */
    assert_int_equal(lt->u.op.a->kind, A_LIT);
    assert_int_equal(lt->u.op.a->u.lit.u.l, -2);
    writ_policyset_free(ps);
}

static void test_literals(void **state)
{
    (void)state;
    writ_policyset *ps = parse_ok(
        "permit(principal, action, resource) when { -9223372036854775808 < 9223372036854775807 && "
        "\"a\\n\\u{1F600}\\x41\\'\" like \"a*\\*\" && principal has a.b.c && [1,2,] == [2,1] && {\"k\": 1, j: 2,} has k };");
    writ_policyset_free(ps);
    /* only the exact name __cedar is reserved */
    ps = parse_ok("permit(principal, action, resource) when { principal.__cedarx && principal has __cedarx "
                  "&& __cedarx::\"a\" == principal };");
    writ_policyset_free(ps);
}

static void test_errors(void **state)
{
    (void)state;
    const char *P = "permit(principal, action, resource) when { ";
    char buf[512];
    snprintf(buf, sizeof buf, "%s\"abc };", P);
    parse_err(buf, strlen(buf), WRIT_EPARSE, 1, 44, "unterminated string");
    snprintf(buf, sizeof buf, "%s9223372036854775808 };", P);
    parse_err(buf, strlen(buf), WRIT_EPARSE, 1, 44, "too large");
    snprintf(buf, sizeof buf, "%s99999999999999999999999999999 };", P);
    parse_err(buf, strlen(buf), WRIT_EPARSE, 1, 44, "too large");
    snprintf(buf, sizeof buf, "%sfoo(1) };", P);
    parse_err(buf, strlen(buf), WRIT_EPARSE, 1, 44, "not a valid function");
    snprintf(buf, sizeof buf, "%sprincipal.frobnicate() };", P);
    parse_err(buf, strlen(buf), WRIT_EPARSE, 1, 54, "not a valid method");
    snprintf(buf, sizeof buf, "%s1 < 2 < 3 };", P);
    parse_err(buf, strlen(buf), WRIT_EPARSE, 1, 50, "multiple relational operators");
    snprintf(buf, sizeof buf, "%s!!!!!true };", P);
    parse_err(buf, strlen(buf), WRIT_EPARSE, 1, 44, "too many occurrences");
    snprintf(buf, sizeof buf, "%sprincipal.if };", P);
    parse_err(buf, strlen(buf), WRIT_EPARSE, 1, 54, "reserved");
    snprintf(buf, sizeof buf, "%s{a: 1, a: 2} };", P);
    parse_err(buf, strlen(buf), WRIT_EPARSE, 1, 51, "duplicate key");
    snprintf(buf, sizeof buf, "%s\"\\q\" };", P);
    parse_err(buf, strlen(buf), WRIT_EPARSE, 1, 45, "not a valid escape");
    snprintf(buf, sizeof buf, "%s[].contains() };", P);
    parse_err(buf, strlen(buf), WRIT_EPARSE, 1, 47, "requires exactly 1 argument");
    parse_err("permit(principal, action == User::\"x\", resource);", 49, WRIT_EPARSE, 1, 29, "type `Action`");
    parse_err("permit(action, principal, resource);", 36, WRIT_EPARSE, 1, 8, "variable `principal`");
    parse_err("@a @a permit(principal, action, resource);", 42, WRIT_EPARSE, 1, 5, "duplicate annotation");
    parse_err("permit(principal, action, resource) when {};", 44, WRIT_EPARSE, 1, 43, "cannot be empty");
    parse_err("permit(principal, action, resource)", 35, WRIT_EPARSE, 1, 36, "end of input");
    parse_err("permit(principal == ?resource, action, resource);", 49, WRIT_EPARSE, 1, 21, "?principal");
    parse_err("allow(principal, action, resource);", 35, WRIT_EPARSE, 1, 1, "`permit` or `forbid`");
    parse_err("permit(principal,\n  action,\n  resource) when { x };", 48, WRIT_EPARSE, 3, 20, "invalid variable");
    /* invalid UTF-8 at byte 45 */
    snprintf(buf, sizeof buf, "%s\"\xff\" };", P);
    parse_err(buf, strlen(buf), WRIT_EPARSE, 1, 45, "UTF-8");
    snprintf(buf, sizeof buf, "%s{__cedar: 1} };", P);
    parse_err(buf, strlen(buf), WRIT_EPARSE, 1, 45, "reserved");
    snprintf(buf, sizeof buf, "%sA::__cedar::\"a\" };", P);
    parse_err(buf, strlen(buf), WRIT_EPARSE, 1, 47, "reserved");
    parse_err("permit(principal, action, resource) when { 1 = 1 };", 51, WRIT_EPARSE, 1, 46, "'='");
}

static void test_deep_nesting(void **state)
{
    (void)state;
    /* 10,000 nested parentheses: a limit error, no stack overflow */
    size_t n = 10000;
    const char *P = "permit(principal, action, resource) when { ";
    size_t plen = strlen(P);
    char *buf = malloc(plen + 2 * n + 16);
    memcpy(buf, P, plen);
    memset(buf + plen, '(', n);
    memcpy(buf + plen + n, "true", 4);
    memset(buf + plen + n + 4, ')', n);
    memcpy(buf + plen + 2 * n + 4, " };", 4);
    parse_err(buf, strlen(buf), WRIT_ELIMIT, 0, 0, "nested too deeply");
    /* also deep sets, records, negations and if-chains */
    for (int kind = 0; kind < 3; kind++) {
        char open = kind == 0 ? '[' : kind == 1 ? '(' : '!';
        memset(buf + plen, open, n);
        buf[plen + n] = '\0';
        parse_err(buf, plen + n, kind == 2 ? WRIT_EPARSE : WRIT_ELIMIT, 0, 0, NULL);
    }
    free(buf);
    /* just under the limit works */
    char ok[2048];
    memcpy(ok, P, plen);
    size_t depth = 90;
    memset(ok + plen, '(', depth);
    memcpy(ok + plen + depth, "true", 4);
    memset(ok + plen + depth + 4, ')', depth);
    memcpy(ok + plen + 2 * depth + 4, " };", 4);
    writ_policyset_free(parse_ok(ok));
}

/* "permit(...)\nwhen { HEAD UNIT...UNIT };" with k copies of unit; *at is
 * the offset of the first byte of copy i. */
static const char CHAIN_PREFIX[] = "permit(principal, action, resource)\nwhen { ";

static char *chain(const char *head, const char *unit, size_t k, size_t *len)
{
    size_t pl = strlen(CHAIN_PREFIX), hl = strlen(head), ul = strlen(unit);
    char *buf = malloc(pl + hl + k * ul + 8);
    assert_non_null(buf);
    memcpy(buf, CHAIN_PREFIX, pl);
    memcpy(buf + pl, head, hl);
    for (size_t i = 0; i < k; i++)
        memcpy(buf + pl + hl + i * ul, unit, ul);
    memcpy(buf + pl + hl + k * ul, " };", 4);
    *len = pl + hl + k * ul + 3;
    return buf;
}

/* A chain of binary operators or accesses is as deep as it is long: each
 * link adds a level to the tree the evaluator walks.  CEDAR_MAX_DEPTH
 * levels are accepted (a leaf counts as one), one more is a limit error at
 * the line:column of the link that went over; 100 KB of links too. */
static void test_operator_chains(void **state)
{
    (void)state;
    static const struct {
        const char *head, *unit;
        uint32_t delta; /* where in the failing unit the error points */
    } cases[] = {
        {"1", "+1", 0},
        {"1", "-1", 0},
        {"1", "*1", 0},
        {"1", " + -1", 1},
        {"context", ".a", 1},
        {"context", "[\"a\"]", 0},
        {"[1]", ".contains(1)", 1},
        {"context", ".isEmpty()", 1},
        {"context", ".getTag(\"t\")", 1},
        {"ip(\"10.0.0.1\")", ".isIpv4()", 1},
        {"context", ".lessThan(context)", 1},
    };
    size_t col0 = strlen(CHAIN_PREFIX) - (size_t)(strchr(CHAIN_PREFIX, '\n') - CHAIN_PREFIX) - 1;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t len, hl = strlen(cases[c].head), ul = strlen(cases[c].unit);
        /* just under: CEDAR_MAX_DEPTH - 1 links over a leaf */
        char *src = chain(cases[c].head, cases[c].unit, CEDAR_MAX_DEPTH - 1, &len);
        writ_policyset *ps = NULL;
        writ_error err;
        if (writ_policyset_parse(src, len, &ps, &err) != WRIT_OK)
            fail_msg("%s%s x%d: %s", cases[c].head, cases[c].unit, CEDAR_MAX_DEPTH - 1, err.msg);
        writ_policyset_free(ps);
        free(src);
        /* just over, and far over: the link number CEDAR_MAX_DEPTH is the
         * first too deep */
        size_t overs[] = {CEDAR_MAX_DEPTH, 100000 / ul};
        for (size_t o = 0; o < 2; o++) {
            src = chain(cases[c].head, cases[c].unit, overs[o], &len);
            uint32_t col = (uint32_t)(col0 + hl + (CEDAR_MAX_DEPTH - 1) * ul + cases[c].delta + 1);
            parse_err(src, len, WRIT_ELIMIT, 2, col, "nested too deeply");
            free(src);
        }
    }
    /* nested ifs: each is a level */
    size_t len;
    char *src = chain("", "if true then ", 150, &len);
    parse_err(src, len, WRIT_EPARSE, 0, 0, NULL); /* incomplete, but not a limit */
    free(src);
    src = chain("", "if true then ", 1000, &len);
    parse_err(src, len, WRIT_ELIMIT, 0, 0, "nested too deeply");
    free(src);
}

/* `&&` and `||` chains are one node with many operands, so any length
 * parses (100 KB here) and keeps its structure and order. */
static void test_boolean_chains(void **state)
{
    (void)state;
    size_t len, k = 100000 / 9;
    char *src = chain("false", " || false", k, &len);
    writ_policyset *ps = NULL;
    writ_error err;
    if (writ_policyset_parse(src, len, &ps, &err) != WRIT_OK)
        fail_msg("long || chain: %s", err.msg);
    const ast_node *e = ps->pol[0]->cond[0].expr;
    assert_int_equal(e->kind, A_OR);
    assert_int_equal(e->u.list.n, k + 1);
    writ_policyset_free(ps);
    free(src);
    src = chain("true", " && 1 == 1", 100000 / 10, &len);
    ps = NULL;
    if (writ_policyset_parse(src, len, &ps, &err) != WRIT_OK)
        fail_msg("long && chain: %s", err.msg);
    e = ps->pol[0]->cond[0].expr;
    assert_int_equal(e->kind, A_AND);
    assert_int_equal(e->u.list.n, 100000 / 10 + 1);
    assert_int_equal(e->u.list.items[0]->kind, A_LIT);
    assert_int_equal(e->u.list.items[1]->kind, A_EQ);
    writ_policyset_free(ps);
    free(src);
    /* `has` paths are `&&` chains too */
    ps = parse_ok("permit(principal, action, resource) when { principal has a.b.c };");
    e = ps->pol[0]->cond[0].expr;
    assert_int_equal(e->kind, A_AND);
    assert_int_equal(e->u.list.n, 3);
    assert_int_equal(e->u.list.items[2]->kind, A_HAS);
    assert_string_equal(e->u.list.items[2]->u.attr.attr->data, "c");
    assert_int_equal(e->u.list.items[2]->u.attr.a->kind, A_GETATTR);
    writ_policyset_free(ps);
}

static void test_templates(void **state)
{
    (void)state;
    writ_policyset *ps = parse_ok("permit(principal == ?principal, action, resource in ?resource);\n"
                                  "permit(principal, action, resource);");
    assert_true(ps->pol[0]->is_template);
    assert_false(ps->pol[1]->is_template);
    writ_error err;
    assert_int_equal(writ_policyset_link(ps, "policy0", "link1", "User::\"alice\"", "Folder::\"f\"", &err), WRIT_OK);
    assert_int_equal(writ_policyset_count(ps), 3);
    assert_string_equal(writ_policyset_id(ps, 2), "link1");
    assert_string_equal(ps->pol[2]->principal.uid->id->data, "alice");
    assert_string_equal(ps->pol[2]->resource.uid->id->data, "f");
    assert_int_equal(writ_policyset_link(ps, "policy0", "link1", "User::\"a\"", "F::\"b\"", &err), WRIT_EDUP);
    assert_int_equal(writ_policyset_link(ps, "policy1", "link2", "User::\"a\"", NULL, &err), WRIT_ELINK);
    assert_int_equal(writ_policyset_link(ps, "policy0", "link3", "User::\"a\"", NULL, &err), WRIT_ELINK);
    assert_non_null(strstr(err.msg, "?resource"));
    assert_int_equal(writ_policyset_link(ps, "policy0", "link4", "User::", "F::\"b\"", &err), WRIT_EPARSE);
    writ_policyset_free(ps);
}

static void test_null_and_empty(void **state)
{
    (void)state;
    writ_policyset *ps = parse_ok("");
    assert_int_equal(writ_policyset_count(ps), 0);
    writ_policyset_free(ps);
    ps = parse_ok("// only a comment\n");
    writ_policyset_free(ps);
    writ_policyset_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_structure),      cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_literals),       cmocka_unit_test(test_errors),
        cmocka_unit_test(test_deep_nesting),   cmocka_unit_test(test_templates),
        cmocka_unit_test(test_null_and_empty), cmocka_unit_test(test_operator_chains),
        cmocka_unit_test(test_boolean_chains), cmocka_unit_test(test_member_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
