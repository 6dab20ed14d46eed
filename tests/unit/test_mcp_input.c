/* test_mcp_input.c - tool arguments as Cedar's context.input: each JSON kind,
 * the decimal-or-String rule for fractions, nulls, escape keys refused,
 * limits just under and over, the schema hint, and decisions made by the
 * real engine on the converted input (with and without a schema). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/input.h"
#include "mcp/jsonrpc.h"
#include "util/alloc.h"

#include "../../fuzz/mcpvalues_check.h"

static json_t *parse(const char *t)
{
    writ_error err;
    json_t *j = writ_json_parse(t, strlen(t), &err);
    if (!j)
        print_error("parse %s: %s\n", t, err.msg);
    assert_non_null(j);
    return j;
}

/* Convert args (JSON text) and compare with want (JSON text). */
static void expect_conv(const char *args, const char *want)
{
    json_t *a = parse(args), *w = parse(want), *out = NULL;
    writ_error err;
    writ_status st = mcp_input_to_cedar(a, NULL, NULL, &out, &err);
    if (st)
        print_error("%s: %s\n", args, err.msg);
    assert_int_equal(st, WRIT_OK);
    if (!json_equal(out, w)) {
        char *d = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        print_error("%s -> %s, want %s\n", args, d, want);
        free(d);
    }
    assert_true(json_equal(out, w));
    json_decref(a);
    json_decref(w);
    json_decref(out);
}

static void expect_refused(const char *args, const mcp_input_limits *lim, writ_status code, const char *frag)
{
    json_t *a = parse(args), *out = (json_t *)1;
    writ_error err;
    writ_status st = mcp_input_to_cedar(a, lim, NULL, &out, &err);
    if (st != code || !strstr(err.msg, frag))
        print_error("%s: st %d msg %s\n", args, st, err.msg);
    assert_int_equal(st, code);
    assert_null(out);
    assert_non_null(strstr(err.msg, frag));
    json_decref(a);
}

#define DEC(s) "{\"__extn\":{\"fn\":\"decimal\",\"arg\":\"" s "\"}}"

static void test_kinds(void **state)
{
    (void)state;
    expect_conv(
        "{\"s\":\"x\",\"i\":-5,\"t\":true,\"f\":false,\"o\":{\"p\":{\"q\":\"r\"}},\"a\":[1,\"b\",[2]]}",
        "{\"s\":\"x\",\"i\":-5,\"t\":true,\"f\":false,\"o\":{\"p\":{\"q\":\"r\"}},\"a\":[1,\"b\",[2]]}");
    /* integers as far as a double holds them exactly (2^53); past that a
     * JavaScript upstream would round them: refused */
    expect_conv("{\"max\":9007199254740992,\"min\":-9007199254740992}",
                "{\"max\":9007199254740992,\"min\":-9007199254740992}");
    expect_refused("{\"a\":{\"id\":9007199254740993}}", NULL, WRIT_EINVAL,
                   "the integer 9007199254740993 at input.a.id is beyond 2^53");
    expect_refused("{\"a\":[9223372036854775807]}", NULL, WRIT_EINVAL, "beyond 2^53");
    expect_refused("{\"min\":-9223372036854775808}", NULL, WRIT_EINVAL, "beyond 2^53");
    expect_conv("{}", "{}");
    /* A NUL inside a string survives. */
    expect_conv("{\"s\":\"a\\u0000b\"}", "{\"s\":\"a\\u0000b\"}");
    /* No arguments at all: an empty record. */
    json_t *out;
    writ_error err;
    assert_int_equal(mcp_input_to_cedar(NULL, NULL, NULL, &out, &err), WRIT_OK);
    assert_true(json_is_object(out) && json_object_size(out) == 0);
    json_decref(out);
    json_t *arr = json_array();
    out = (json_t *)1;
    assert_int_equal(mcp_input_to_cedar(arr, NULL, NULL, &out, &err), WRIT_EINVAL);
    assert_null(out);
    json_decref(arr);
}

static void test_nulls(void **state)
{
    (void)state;
    expect_conv("{\"a\":null,\"b\":1,\"c\":{\"d\":null}}", "{\"b\":1,\"c\":{}}");
    expect_conv("{\"a\":[1,null,2,null],\"b\":[null]}", "{\"a\":[1,2],\"b\":[]}");
}

static void test_fractions(void **state)
{
    (void)state;
    expect_conv("{\"a\":1.5,\"b\":-0.25,\"c\":0.1,\"g\":0.0001,\"h\":12.3456}",
                "{\"a\":" DEC("1.5") ",\"b\":" DEC("-0.25") ",\"c\":" DEC("0.1") ",\"g\":" DEC(
                    "0.0001") ",\"h\":" DEC("12.3456") "}");
    /* No fraction, whatever the spelling: the Long the upstream reads (2.0
     * as a decimal would equal no Long, and `contains` would say no). */
    expect_conv("{\"d\":1e2,\"e\":2.0,\"f\":-0.0,\"g\":20e-1,\"h\":1e15,\"i\":-9007199254740991.0}",
                "{\"d\":100,\"e\":2,\"f\":0,\"g\":2,\"h\":1000000000000000,\"i\":-9007199254740991}");
    /* from 2^53 on a double is whole but may not be the text's number, and
     * as a String it would equal no Long: refused, as integers there are */
    expect_refused("{\"i\":-9.2e18}", NULL, WRIT_EINVAL, "the number -9.2e+18 at input.i is beyond 2^53");
    expect_refused("{\"j\":9007199254740992.0}", NULL, WRIT_EINVAL, "beyond 2^53");
    expect_refused("{\"k\":[1e16]}", NULL, WRIT_EINVAL, "beyond 2^53");
    expect_refused("{\"l\":1e300}", NULL, WRIT_EINVAL, "beyond 2^53");
    /* More than 4 digits after the point, or outside decimal's range (and
     * int64's, for a whole number): a String in ECMAScript's spelling. */
    expect_conv("{\"a\":1.00001,\"b\":1e-7,\"e\":0.00005,\"f\":-1.5e-10,\"g\":4503599627370495.5}",
                "{\"a\":\"1.00001\",\"b\":\"1e-7\",\"e\":\"0.00005\",\"f\":\"-1.5e-10\","
                "\"g\":\"4503599627370495.5\"}");
    /* The edge of decimal's range (doubles near 9.2e14 are 0.125 apart). */
    expect_conv("{\"a\":922337203685477.5,\"b\":-922337203685477.5,\"c\":922337203685478.0,"
                "\"d\":922337203685477.625}",
                "{\"a\":" DEC("922337203685477.5") ",\"b\":" DEC(
                    "-922337203685477.5") ",\"c\":922337203685478,"
                                          "\"d\":\"922337203685477.6\"}");
    char buf[40];
    assert_int_equal(mcp_input_decimal_text(3.14159, buf, sizeof buf), 0);
    assert_int_equal(mcp_input_decimal_text(3.1415, buf, sizeof buf), 1);
    assert_string_equal(buf, "3.1415");
    assert_int_equal(mcp_input_decimal_text(0.5, buf, 8), 0); /* cap too small */
}

static void test_escape_keys_refused(void **state)
{
    (void)state;
    expect_refused("{\"__extn\":{\"fn\":\"decimal\",\"arg\":\"1.0\"}}", NULL, WRIT_EINVAL,
                   "\"__extn\" at input");
    expect_refused("{\"a\":{\"b\":[{\"__entity\":{\"type\":\"Agent\",\"id\":\"root\"}}]}}", NULL, WRIT_EINVAL,
                   "\"__entity\" at input.a.b");
    /* Only the exact keys: near misses are plain attributes. */
    expect_conv("{\"__extnx\":1,\"_entity\":2,\"__EXTN\":3}", "{\"__extnx\":1,\"_entity\":2,\"__EXTN\":3}");
    /* A null value does not excuse the key. */
    expect_refused("{\"__entity\":null}", NULL, WRIT_EINVAL, "reserved");
}

static void test_limits(void **state)
{
    (void)state;
    /* Depth: {"a":[[...]]} with n arrays has n + 1 levels. */
    char buf[256];
    for (unsigned lim = 2; lim < 10; lim++) {
        char *p = buf;
        p += snprintf(p, 8, "{\"a\":");
        for (unsigned i = 0; i + 1 < lim; i++)
            *p++ = '[';
        for (unsigned i = 0; i + 1 < lim; i++)
            *p++ = ']';
        snprintf(p, 4, "}");
        mcp_input_limits l = {lim, 0, 0};
        json_t *a = parse(buf), *out;
        writ_error err;
        assert_int_equal(mcp_input_to_cedar(a, &l, NULL, &out, &err), WRIT_OK);
        json_decref(out);
        json_decref(a);
        l.max_depth = lim - 1;
        expect_refused(buf, &l, WRIT_ELIMIT, "nested deeper");
    }
    mcp_input_limits v = {0, 4, 0}; /* the object + 3 members */
    json_t *a = parse("{\"a\":1,\"b\":2,\"c\":3}"), *out;
    writ_error err;
    assert_int_equal(mcp_input_to_cedar(a, &v, NULL, &out, &err), WRIT_OK);
    json_decref(out);
    json_decref(a);
    v.max_values = 3;
    expect_refused("{\"a\":1,\"b\":2,\"c\":3}", &v, WRIT_ELIMIT, "more than 3 values");
    mcp_input_limits b = {0, 0, 6}; /* keys and strings: "k" + "abcde" */
    a = parse("{\"k\":\"abcde\"}");
    assert_int_equal(mcp_input_to_cedar(a, &b, NULL, &out, &err), WRIT_OK);
    json_decref(out);
    json_decref(a);
    b.max_bytes = 5;
    expect_refused("{\"k\":\"abcde\"}", &b, WRIT_ELIMIT, "exceed 5 bytes");
}

/* ---- decisions by the engine on the converted input */

static const char policies[] = "permit(principal, action == Action::\"srv/pay\", resource) when {\n"
                               "  context.input.amount.lessThan(decimal(\"100.0\")) &&\n"
                               "  context.input.count < 10 && context.input.tags.contains(\"ok\") &&\n"
                               "  !(context.input has note)\n"
                               "};\n";

static bool decide(const char *args_text, const writ_schema *schema, writ_status *fill_st)
{
    writ_error err;
    writ_policyset *ps = NULL;
    assert_int_equal(writ_policyset_parse(policies, strlen(policies), &ps, &err), WRIT_OK);
    json_t *args = parse(args_text), *input = NULL;
    mcp_input_hint hint = {schema, "Action", "srv/pay"};
    assert_int_equal(mcp_input_to_cedar(args, NULL, &hint, &input, &err), WRIT_OK);
    json_t *ctx = json_object();
    json_object_set_new(ctx, "input", input);
    writ_request *rq = writ_request_reusable();
    writ_uid_parts pr = {"", 0, "Agent", 5, "a", 1};
    writ_uid_parts ac = {"", 0, "Action", 6, "srv/pay", 7};
    writ_uid_parts rs = {"", 0, "McpServer", 9, "srv", 3};
    *fill_st = writ_request_fill(rq, schema, schema != NULL, &pr, &ac, &rs, ctx, &err);
    bool allow = false;
    if (*fill_st == WRIT_OK) {
        writ_authorizer *az = writ_authorizer_new();
        writ_decision d;
        assert_int_equal(writ_authorize(az, ps, NULL, rq, &d), WRIT_OK);
        allow = d.allow;
        writ_authorizer_free(az);
    }
    writ_request_free(rq);
    json_decref(ctx);
    json_decref(args);
    writ_policyset_free(ps);
    return allow;
}

static void test_decisions(void **state)
{
    (void)state;
    writ_status st;
    assert_true(
        decide("{\"amount\":99.5,\"count\":3,\"tags\":[\"ok\",\"ok\",null],\"note\":null}", NULL, &st));
    assert_false(decide("{\"amount\":100.5,\"count\":3,\"tags\":[\"ok\"]}", NULL, &st));
    assert_int_equal(st, WRIT_OK);
    assert_false(decide("{\"amount\":1.5,\"count\":10,\"tags\":[\"ok\"]}", NULL, &st));
    assert_false(decide("{\"amount\":1.5,\"count\":1,\"tags\":[\"ok\"],\"note\":\"x\"}", NULL, &st));
    /* 99.99999 is no decimal: a String, and a String has no lessThan, so
     * the permit errors and nothing allows. */
    assert_false(decide("{\"amount\":99.99999,\"count\":1,\"tags\":[\"ok\"]}", NULL, &st));
    /* Without a schema the integer 50 is a Long: no lessThan either. */
    assert_false(decide("{\"amount\":50,\"count\":1,\"tags\":[\"ok\"]}", NULL, &st));

    /* With a schema typing amount as decimal, the integer 50 is read as
     * decimal 50.0 (the hint), and the call is allowed. */
    static const char sch[] =
        "entity Agent; entity McpServer;\n"
        "action \"srv/pay\" appliesTo { principal: [Agent], resource: [McpServer],\n"
        "  context: { \"input\": { \"amount\": decimal, \"count\": Long, \"tags\": Set<String>,\n"
        "  \"note\"?: String } } };\n";
    writ_schema *s = NULL;
    writ_error err;
    assert_int_equal(writ_schema_parse(sch, strlen(sch), &s, &err), WRIT_OK);
    assert_true(decide("{\"amount\":50,\"count\":1,\"tags\":[\"ok\"]}", s, &st));
    assert_true(decide("{\"amount\":50.25,\"count\":1,\"tags\":[\"ok\"]}", s, &st));
    assert_false(decide("{\"amount\":500,\"count\":1,\"tags\":[\"ok\"]}", s, &st));
    /* count typed Long: 3.0 reads as 3, 3.5 stays a decimal and fails. */
    assert_true(decide("{\"amount\":5,\"count\":3.0,\"tags\":[\"ok\"]}", s, &st));
    assert_false(decide("{\"amount\":5,\"count\":3.5,\"tags\":[\"ok\"]}", s, &st));
    assert_int_not_equal(st, WRIT_OK);
    /* Without the schema 3.0 is the decimal 3.0, and `< 10` errors. */
    assert_false(decide("{\"amount\":5.0,\"count\":3.0,\"tags\":[\"ok\"]}", NULL, &st));
    assert_int_equal(st, WRIT_OK);
    /* An undeclared attribute fails validation (closed records): no allow. */
    assert_false(decide("{\"amount\":5,\"count\":1,\"tags\":[\"ok\"],\"extra\":1}", s, &st));
    assert_int_not_equal(st, WRIT_OK);
    writ_schema_free(s);
}

static void test_oom(void **state)
{
    (void)state;
    json_t *a = parse("{\"a\":[1.5,{\"b\":\"c\"}],\"d\":2.25}"), *out;
    writ_error err;
    /* jansson allocates with malloc, so only the paths through our own
     * allocator can fail here; the conversion must never half-succeed. */
    for (long n = 0; n < 16; n++) {
        wr_alloc_set_fail_after(n);
        writ_status st = mcp_input_to_cedar(a, NULL, NULL, &out, &err);
        wr_alloc_set_fail_after(-1);
        if (st == WRIT_OK)
            json_decref(out);
        else
            assert_null(out);
    }
    json_decref(a);
}

/* Straight into Cedar values (the gateway's context without a schema):
 * the same value or the same refusal as the JSON way, for every kind,
 * nulls, fractions, escape keys, U+0000 in keys and the limits. */
static void test_values_same_as_json(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "{}",
        "{\"a\":1,\"b\":2}",
        "{\"z\":\"s\",\"a\":true,\"m\":false,\"n\":null,\"i\":-9223372036854775808}",
        "{\"x\":[1,1,2,null,\"a\",[],{}],\"y\":{\"k\":{\"k\":{\"k\":[{\"q\":0.5}]}}}}",
        "{\"f\":[0.1,2.0,-0.0,1.00001,1e-7,1e300,1e20,123456789012345.5,922337203685477.5807,0.12345]}",
        "{\"k\\u0000ey\":1,\"k\\u0001\":\"v\\u0000w\",\"\\u0000\":[\"\\u0000\"]}",
        "{\"u\":\"\\u00e9\\ud83d\\ude00\",\"\":\"\"}",
        "{\"d\":{\"__extn\":{\"fn\":\"decimal\",\"arg\":\"1.0\"}}}",
        "{\"a\":{\"b\":[{\"__entity\":{\"type\":\"User\",\"id\":\"x\"}}]}}",
        "{\"a\":[[[[[[[[1]]]]]]]]}",
        "{\"long\":\""
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "\"}",
        "{\"b\":2,\"a\":1,\"c\":{\"b\":[3,2,1],\"a\":null}}",
    };
    static const mcp_input_limits lims[] = {{0, 0, 0}, {3, 0, 0}, {0, 4, 0}, {0, 0, 5}, {1, 2, 3}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (size_t l = 0; l < sizeof lims / sizeof lims[0]; l++) {
            json_t *a = parse(cases[c]);
            char why[600];
            const char *d = mcp_values_differ(a, &lims[l], why, sizeof why);
            if (d)
                fail_msg("%s (limits %zu): %s", cases[c], l, d);
            json_decref(a);
        }
    /* no arguments: an empty record both ways */
    char why[600];
    assert_null(mcp_values_differ(NULL, NULL, why, sizeof why));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),     cmocka_unit_test(test_nulls),
        cmocka_unit_test(test_fractions), cmocka_unit_test(test_escape_keys_refused),
        cmocka_unit_test(test_limits),    cmocka_unit_test(test_decisions),
        cmocka_unit_test(test_oom),       cmocka_unit_test(test_values_same_as_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
