/* test_mcp_jsonrpc.c - one JSON-RPC 2.0 message: classification, every
 * refusal with its code and position, limits just under and just over,
 * tools/call params, and the error answers (ids echoed exactly). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/jsonrpc.h"
#include "util/alloc.h"

static mcp_rpc_msg m;
static mcp_rpc_fail f;

static writ_status parse_lim(const char *t, size_t max_size, unsigned max_depth)
{
    mcp_rpc_msg_clear(&m);
    mcp_rpc_fail_clear(&f);
    mcp_rpc_limits l = {max_size, max_depth};
    return mcp_rpc_parse(t, strlen(t), &l, &m, &f);
}

static writ_status parse(const char *t) { return parse_lim(t, 0, 0); }

/* t is refused with code and why; the message contains frag. */
static void refused(const char *t, int code, mcp_rpc_why why, const char *frag)
{
    writ_status st = parse(t);
    if (st == WRIT_OK || f.code != code || f.why != why || !strstr(f.err.msg, frag))
        print_error("%s -> st %d code %d why %d msg %s\n", t, st, f.code, f.why, f.err.msg);
    assert_int_not_equal(st, WRIT_OK);
    assert_int_equal(f.code, code);
    assert_int_equal(f.why, why);
    assert_non_null(strstr(f.err.msg, frag));
    assert_null(m.root);
    assert_int_equal(m.kind, 0);
}

static int teardown(void **state)
{
    (void)state;
    mcp_rpc_msg_clear(&m);
    mcp_rpc_fail_clear(&f);
    return 0;
}

static void test_classify(void **state)
{
    (void)state;
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}"), WRIT_OK);
    assert_int_equal(m.kind, MCP_RPC_REQUEST);
    assert_int_equal(json_integer_value(m.id), 1);
    assert_true(mcp_rpc_is_method(&m, "tools/list"));
    assert_false(mcp_rpc_is_method(&m, "tools/lis"));
    assert_null(m.params);

    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":\"a-1\",\"method\":\"tools/call\",\"params\":{}}"),
                     WRIT_OK);
    assert_int_equal(m.kind, MCP_RPC_REQUEST);
    assert_string_equal(json_string_value(m.id), "a-1");
    assert_true(json_is_object(m.params));

    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"), WRIT_OK);
    assert_int_equal(m.kind, MCP_RPC_NOTIFICATION);
    assert_null(m.id);

    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"tools\":[]}}"), WRIT_OK);
    assert_int_equal(m.kind, MCP_RPC_RESPONSE);
    assert_true(json_is_object(m.result));
    assert_null(m.method);

    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"x\"}}"),
                     WRIT_OK);
    assert_int_equal(m.kind, MCP_RPC_ERROR_RESPONSE);
    assert_true(json_is_null(m.id));
    assert_int_equal(json_integer_value(json_object_get(m.error, "code")), -32700);

    /* A result may be any value, even null; other members are ignored. */
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"result\":null,\"extra\":1}"), WRIT_OK);
    assert_int_equal(m.kind, MCP_RPC_RESPONSE);
    /* Ids: exact 64-bit integers, strings with NUL. */
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":-9223372036854775808,\"method\":\"ping\"}"), WRIT_OK);
    assert_true(json_integer_value(m.id) == INT64_MIN);
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":\"a\\u0000b\",\"method\":\"ping\"}"), WRIT_OK);
    assert_int_equal(json_string_length(m.id), 3);
}

static void test_not_json(void **state)
{
    (void)state;
    refused("", MCP_RPC_PARSE_ERROR, MCP_RPC_EJSON, "empty");
    refused(" \n\t ", MCP_RPC_PARSE_ERROR, MCP_RPC_EJSON, "empty");
    refused("{\"jsonrpc\":\"2.0\",\n \"id\":1,,}", MCP_RPC_PARSE_ERROR, MCP_RPC_EJSON, "parse error");
    assert_int_equal(f.err.line, 2);
    assert_true(f.err.col > 1);
    refused("{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"x\"}", MCP_RPC_PARSE_ERROR, MCP_RPC_EDUPKEY,
            "duplicate");
    refused("{\"a\":\"\xff\"}", MCP_RPC_PARSE_ERROR, MCP_RPC_EJSON, "parse error");
    refused("{\"jsonrpc\":\"2.0\"} trailing", MCP_RPC_PARSE_ERROR, MCP_RPC_EJSON, "parse error");
    /* An integer outside int64 is refused whole, with its position. */
    refused("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"arguments\":{\"n\":"
            "99999999999999999999}}}",
            MCP_RPC_INVALID_REQUEST, MCP_RPC_ENUMBER, "64 bits");
    assert_true(f.err.col > 60);
    refused("[1e400]", MCP_RPC_INVALID_REQUEST, MCP_RPC_ENUMBER, "out of range");
}

static void test_bad_shape(void **state)
{
    (void)state;
    refused("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]", MCP_RPC_INVALID_REQUEST, MCP_RPC_EBATCH,
            "batches");
    refused("[]", MCP_RPC_INVALID_REQUEST, MCP_RPC_EBATCH, "batches");
    refused("\"hello\"", MCP_RPC_INVALID_REQUEST, MCP_RPC_ESHAPE, "a string");
    refused("{\"id\":1,\"method\":\"ping\"}", MCP_RPC_INVALID_REQUEST, MCP_RPC_ESHAPE, "\"jsonrpc\"");
    refused("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", MCP_RPC_INVALID_REQUEST, MCP_RPC_ESHAPE,
            "\"jsonrpc\"");
    refused("{\"jsonrpc\":2.0,\"id\":1,\"method\":\"ping\"}", MCP_RPC_INVALID_REQUEST, MCP_RPC_ESHAPE,
            "\"jsonrpc\"");
    refused("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}", MCP_RPC_INVALID_REQUEST, MCP_RPC_ESHAPE,
            "\"method\"");
    refused("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", MCP_RPC_INVALID_REQUEST, MCP_RPC_ESHAPE,
            "\"id\"");
    refused("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}", MCP_RPC_INVALID_REQUEST, MCP_RPC_ESHAPE,
            "\"id\"");
    refused("{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"ping\"}", MCP_RPC_INVALID_REQUEST, MCP_RPC_ESHAPE,
            "\"id\"");
    refused("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}", MCP_RPC_INVALID_REQUEST, MCP_RPC_ESHAPE,
            "\"id\"");
    refused("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"result\":1}", MCP_RPC_INVALID_REQUEST,
            MCP_RPC_ESHAPE, "\"result\"");
    refused("{\"jsonrpc\":\"2.0\",\"id\":1}", MCP_RPC_INVALID_REQUEST, MCP_RPC_ESHAPE, "needs \"method\"");
    refused("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1,\"error\":{\"code\":1,\"message\":\"m\"}}",
            MCP_RPC_INVALID_REQUEST, MCP_RPC_ESHAPE, "both");
    refused("{\"jsonrpc\":\"2.0\",\"result\":1}", MCP_RPC_INVALID_REQUEST, MCP_RPC_ESHAPE, "missing");
    refused("{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":1}", MCP_RPC_INVALID_REQUEST, MCP_RPC_ESHAPE,
            "null");
    refused("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":\"x\",\"message\":\"m\"}}",
            MCP_RPC_INVALID_REQUEST, MCP_RPC_ESHAPE, "\"code\"");
    refused("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":\"boom\"}", MCP_RPC_INVALID_REQUEST, MCP_RPC_ESHAPE,
            "\"error\"");
    /* params: an array is invalid params, another value an invalid request. */
    refused("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":[1]}", MCP_RPC_INVALID_PARAMS,
            MCP_RPC_EPARAMS, "\"params\"");
    refused("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":null}", MCP_RPC_INVALID_REQUEST,
            MCP_RPC_ESHAPE, "\"params\"");
    refused("{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":\"s\"}", MCP_RPC_INVALID_REQUEST,
            MCP_RPC_ESHAPE, "\"params\"");
}

static void test_failure_keeps_id(void **state)
{
    (void)state;
    refused("{\"jsonrpc\":\"2.0\",\"id\":\"req-9\",\"method\":\"x\",\"params\":[1]}", MCP_RPC_INVALID_PARAMS,
            MCP_RPC_EPARAMS, "params");
    assert_string_equal(json_string_value(f.id), "req-9");
    char *t = mcp_rpc_fail_text(&f);
    assert_non_null(t);
    assert_string_equal(
        t, "{\"jsonrpc\":\"2.0\",\"id\":\"req-9\",\"error\":{\"code\":-32602,\"message\":\"invalid "
           "params: \\\"params\\\" must be an object, not an array\"}}");
    wr_free(t);
    /* A bad id is not echoed. */
    refused("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}", MCP_RPC_INVALID_REQUEST, MCP_RPC_ESHAPE,
            "id");
    assert_null(f.id);
    /* A parse error answers id null, with the position as data. */
    refused("{\n\"jsonrpc\": }", MCP_RPC_PARSE_ERROR, MCP_RPC_EJSON, "parse error");
    t = mcp_rpc_fail_text(&f);
    assert_non_null(t);
    assert_non_null(strstr(t, "\"id\":null"));
    assert_non_null(strstr(t, "\"code\":-32700"));
    assert_non_null(strstr(t, "\"data\":{\"line\":2,\"column\":"));
    wr_free(t);
}

static void test_limits(void **state)
{
    (void)state;
    const char *msg = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}";
    size_t n = strlen(msg);
    assert_int_equal(parse_lim(msg, n, 0), WRIT_OK);
    assert_int_equal(parse_lim(msg, n - 1, 0), WRIT_ELIMIT);
    assert_int_equal(f.why, MCP_RPC_ELIMIT_SIZE);
    assert_int_equal(f.code, MCP_RPC_INVALID_REQUEST);
    assert_non_null(strstr(f.err.msg, "exceeds the limit"));

    /* Depth: the message object is level 1, so params.a at depth d has
     * d + 2 levels.  Brackets inside strings do not count. */
    char buf[512];
    for (unsigned lim = 3; lim <= 8; lim++) {
        int levels = (int)lim - 2; /* arrays inside params: total = lim */
        char *p = buf;
        p += snprintf(p, 64, "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":{\"a\":\"[[[{{\",\"b\":");
        for (int i = 0; i < levels; i++)
            *p++ = '[';
        for (int i = 0; i < levels; i++)
            *p++ = ']';
        snprintf(p, 8, "}}");
        assert_int_equal(parse_lim(buf, 0, lim), WRIT_OK);
        assert_int_equal(parse_lim(buf, 0, lim - 1), WRIT_ELIMIT);
        assert_int_equal(f.why, MCP_RPC_ELIMIT_DEPTH);
        assert_int_equal(f.err.line, 1);
        /* the first bracket past the limit */
        assert_int_equal(f.err.offset, strchr(buf, ']') - buf - 1);
    }
    /* The default depth limit (64) against a deep text: no tree is built. */
    size_t deep = 100000;
    char *big = malloc(deep * 2 + 1);
    memset(big, '[', deep);
    memset(big + deep, ']', deep);
    big[2 * deep] = 0;
    assert_int_equal(parse(big), WRIT_ELIMIT);
    assert_int_equal(f.why, MCP_RPC_ELIMIT_DEPTH);
    assert_int_equal(f.err.offset, MCP_RPC_DEFAULT_MAX_DEPTH);
    free(big);
    /* The default size limit: 4 MiB + 1 is refused before parsing. */
    size_t sz = MCP_RPC_DEFAULT_MAX_SIZE + 1;
    big = malloc(sz + 1);
    memset(big, ' ', sz);
    big[sz] = 0;
    assert_int_equal(parse(big), WRIT_ELIMIT);
    assert_int_equal(f.why, MCP_RPC_ELIMIT_SIZE);
    free(big);
}

static void test_tool_call(void **state)
{
    (void)state;
    mcp_tool_call tc;
    assert_int_equal(
        parse("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\","
              "\"arguments\":{\"message\":\"hi\"}}}"),
        WRIT_OK);
    assert_int_equal(mcp_rpc_tool_call(&m, &tc, &f), WRIT_OK);
    assert_int_equal(tc.name_len, 4);
    assert_memory_equal(tc.name, "echo", 4);
    assert_string_equal(json_string_value(json_object_get(tc.arguments, "message")), "hi");

    assert_int_equal(
        parse("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"e\"}}"),
        WRIT_OK);
    assert_int_equal(mcp_rpc_tool_call(&m, &tc, &f), WRIT_OK);
    assert_null(tc.arguments);
    assert_int_equal(
        parse("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"e\","
              "\"arguments\":null}}"),
        WRIT_OK);
    assert_int_equal(mcp_rpc_tool_call(&m, &tc, &f), WRIT_OK);
    assert_null(tc.arguments);

    const char *bad[][2] = {
        {"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\"}", "needs params.name"},
        {"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{}}", "needs params.name"},
        {"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":5}}",
         "must be a string"},
        {"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"\"}}",
         "not be empty"},
        {"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"a\\u0000\"}}",
         "U+0000"},
        {"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/"
         "call\",\"params\":{\"name\":\"a\",\"arguments\":[1]}}",
         "arguments must be an object"},
        {"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/"
         "call\",\"params\":{\"name\":\"a\",\"arguments\":\"x\"}}",
         "arguments must be an object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(bad[i][0]), WRIT_OK);
        assert_int_equal(mcp_rpc_tool_call(&m, &tc, &f), WRIT_EINVAL);
        assert_int_equal(f.code, MCP_RPC_INVALID_PARAMS);
        assert_int_equal(f.why, MCP_RPC_EPARAMS);
        assert_non_null(strstr(f.err.msg, bad[i][1]));
        assert_int_equal(json_integer_value(f.id), 3);
        assert_null(tc.name);
        mcp_rpc_fail_clear(&f);
    }
}

static void test_error_text(void **state)
{
    (void)state;
    json_t *id = json_integer(INT64_MAX);
    char *t = mcp_rpc_error_text(id, -32001, "denied by \"no-prod\"", NULL);
    assert_string_equal(
        t, "{\"jsonrpc\":\"2.0\",\"id\":9223372036854775807,\"error\":{\"code\":-32001,\"message\":"
           "\"denied by \\\"no-prod\\\"\"}}");
    wr_free(t);
    json_decref(id);
    id = json_stringn("a\0\xc3\xa9", 4);
    json_t *data = json_pack("{ss}", "policy", "p1");
    t = mcp_rpc_error_text(id, -32001, "bad \xff byte", data);
    assert_string_equal(
        t, "{\"jsonrpc\":\"2.0\",\"id\":\"a\\u0000\xc3\xa9\",\"error\":{\"code\":-32001,\"message\":"
           "\"bad \xef\xbf\xbd byte\",\"data\":{\"policy\":\"p1\"}}}");
    wr_free(t);
    json_decref(id);
    json_decref(data);
    /* No id, a null id or one that may not be echoed: null. */
    t = mcp_rpc_error_text(NULL, -32700, NULL, NULL);
    assert_string_equal(t, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"\"}}");
    wr_free(t);
    json_t *r = json_real(1.5);
    t = mcp_rpc_error_text(r, -32600, "m", NULL);
    assert_non_null(strstr(t, "\"id\":null"));
    wr_free(t);
    json_decref(r);
    /* The text parses back as an error response with the same id. */
    id = json_string("x\"y");
    t = mcp_rpc_error_text(id, -32602, "m", NULL);
    assert_int_equal(parse(t), WRIT_OK);
    assert_int_equal(m.kind, MCP_RPC_ERROR_RESPONSE);
    assert_true(json_equal((json_t *)m.id, id));
    wr_free(t);
    json_decref(id);
}

static void test_oom(void **state)
{
    (void)state;
    const char *msg = "{\"jsonrpc\":\"2.0\",\"id\":\"k\",\"method\":\"x\",\"params\":[1]}";
    assert_int_equal(parse(msg), WRIT_EINVAL);
    for (long n = 0; n < 4; n++) {
        wr_alloc_set_fail_after(n);
        char *t = mcp_rpc_fail_text(&f);
        wr_alloc_set_fail_after(-1);
        if (t) {
            assert_non_null(strstr(t, "-32602"));
            wr_free(t);
        }
    }
}

/* mcp_rpc_answer_fast (the gateway's check of an upstream's answer, no
 * tree) against mcp_rpc_parse at the gateway's limits: where it says "a
 * response" the parse agrees, and the usual answers are read quickly. */
static void test_answer_fast(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool quick; /* the quick reader must say "a response" */
    } cases[] = {
        {"{\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"3\"}]},\"jsonrpc\":\"2.0\",\"id\":1}",
         true},
        {"{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"result\":null}", true},
        {" {\"jsonrpc\":\"2.0\",\"id\":-7,\"error\":{\"code\":-32601,\"message\":\"no\",\"data\":[1,{}]}}\n",
         true},
        {"{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":1,\"message\":\"\"}}", true},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"x\":\"\\u00e9\"}}", false}, /* \u: jansson's */
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1.5}", false},                 /* a real */
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},\"result\":{}}", false},    /* duplicate */
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"a\":1,\"a\":2}}", false},   /* duplicate inside */
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"re\\u0073ult\":{}}", false},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"res\\/ult\":{}}", false}, /* escaped key */
        {"{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":{}}", false}, /* id null, result */
        {"{\"jsonrpc\":\"2.0\",\"id\":1.0,\"result\":{}}", false},
        {"{\"jsonrpc\":\"2.0\",\"id\":true,\"result\":{}}", false},
        {"{\"jsonrpc\":\"2.0\",\"result\":{}}", false}, /* no id */
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},\"error\":{\"code\":1,\"message\":\"m\"}}", false},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"result\":{}}", false},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", false}, /* a request */
        {"{\"jsonrpc\":\"2.0\",\"id\":1}", false},
        {"{\"jsonrpc\":\"2.1\",\"id\":1,\"result\":{}}", false},
        {"{\"jsonrpc\":2,\"id\":1,\"result\":{}}", false},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":\"1\",\"message\":\"m\"}}", false},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1}}", false},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":[]}", false},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":null}", false},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}} x", false},
        {"{\"jsonrpc\":\"2.0\",\"id\":12345678901234567890,\"result\":{}}", false},
        {"[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}]", false},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"\xff\"}", false}, /* bad UTF-8 */
        {"", false},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"error\":{\"code\":\"x\"}}}", true},
        {"{\"jsonrpc\":\"2\\u002e0\",\"id\":1,\"result\":{}}", false},
        {"{\"jsonrpc\":\"2\\/0\",\"id\":1,\"result\":{}}", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *t = cases[i].text;
        size_t n = strlen(t);
        mcp_rpc_limits lim = {.max_size = n + 1, .max_depth = 256};
        mcp_rpc_msg pm;
        mcp_rpc_fail pf;
        bool parsed = mcp_rpc_parse(t, n, &lim, &pm, &pf) == WRIT_OK;
        bool answer = parsed && (pm.kind == MCP_RPC_RESPONSE || pm.kind == MCP_RPC_ERROR_RESPONSE);
        if (parsed)
            mcp_rpc_msg_clear(&pm);
        else
            mcp_rpc_fail_clear(&pf);
        int q = mcp_rpc_answer_fast(t, n);
        if (q == 1 && !answer)
            fail_msg("case %zu: quick says a response, the parse does not: %s", i, t);
        if ((q == 1) != cases[i].quick)
            fail_msg("case %zu: quick %d, expected %d: %s", i, q, cases[i].quick, t);
    }
    /* an object with more members than the quick reader counts: the parse decides */
    char big[2048] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{";
    for (int i = 0; i < 40; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), "%s\"k%d\":%d", i ? "," : "", i, i);
    strcat(big, "}}");
    assert_int_equal(mcp_rpc_answer_fast(big, strlen(big)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_classify, teardown),
        cmocka_unit_test_teardown(test_not_json, teardown),
        cmocka_unit_test_teardown(test_bad_shape, teardown),
        cmocka_unit_test_teardown(test_failure_keeps_id, teardown),
        cmocka_unit_test_teardown(test_limits, teardown),
        cmocka_unit_test_teardown(test_tool_call, teardown),
        cmocka_unit_test_teardown(test_error_text, teardown),
        cmocka_unit_test_teardown(test_oom, teardown),
        cmocka_unit_test_teardown(test_answer_fast, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
