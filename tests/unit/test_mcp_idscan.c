/* test_mcp_idscan.c - the scanner that finds the id of a line too long to
 * keep (mcp/idscan.h): only the top-level "id" is taken, whatever strings
 * and nested objects hold, and the answer is the same however the line is
 * cut into pieces; and the stdio upstream's line splitter, which hands it a
 * line past its limit (upstream_int.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mcp/idscan.h"
#include "mcp/upstream_int.h"

/* What the scan of s says: its answer id (-1: none) and its id's text
 * ("" when none), the line cut at `cut` (a piece each side). */
typedef struct seen {
    long long answer;
    char text[MCP_IDSCAN_MAX + 1];
    bool has_text;
} seen;

static seen scan_cut(const char *s, size_t n, size_t cut)
{
    mcp_idscan sc;
    mcp_idscan_init(&sc);
    mcp_idscan_feed(&sc, s, cut);
    mcp_idscan_feed(&sc, s + cut, n - cut);
    seen o = {.answer = -1};
    uint64_t id;
    if (mcp_idscan_answer(&sc, &id))
        o.answer = (long long)id;
    size_t len;
    const char *t = mcp_idscan_id(&sc, &len);
    if (t) {
        assert_true(len <= MCP_IDSCAN_MAX);
        memcpy(o.text, t, len);
        o.text[len] = 0;
        o.has_text = true;
    }
    return o;
}

/* The same answer and text at every cut, and byte by byte. */
static void expect(const char *s, long long answer, const char *text)
{
    size_t n = strlen(s);
    for (size_t cut = 0; cut <= n; cut++) {
        seen o = scan_cut(s, n, cut);
        if (o.answer != answer)
            fail_msg("%s cut at %zu: answer %lld, want %lld", s, cut, o.answer, answer);
        if (o.has_text != (text != NULL) || (text && strcmp(o.text, text)))
            fail_msg("%s cut at %zu: id <%s>, want <%s>", s, cut, o.has_text ? o.text : "(none)",
                     text ? text : "(none)");
    }
    mcp_idscan sc;
    mcp_idscan_init(&sc);
    for (size_t i = 0; i < n; i++)
        mcp_idscan_feed(&sc, s + i, 1);
    uint64_t id;
    assert_int_equal(mcp_idscan_answer(&sc, &id), answer >= 0);
    if (answer >= 0)
        assert_int_equal(id, (uint64_t)answer);
}

static void test_id_anywhere(void **state)
{
    (void)state;
    expect("{\"id\":5,\"jsonrpc\":\"2.0\",\"result\":{}}", 5, "5");
    expect("{\"jsonrpc\":\"2.0\",\"id\":17,\"result\":{\"x\":1}}", 17, "17");
    /* the order the TypeScript SDK writes: the id last */
    expect("{\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]},\"jsonrpc\":\"2.0\",\"id\":123}",
           123, "123");
    expect("{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32603,\"message\":\"m\"},\"id\":4}", 4, "4");
    /* whitespace anywhere JSON allows it, a CR before the line's end */
    expect(" \t{ \"id\" : 6 , \"result\" : [ 1 , 2 ] } \r", 6, "6");
    expect("{\"result\":true,\"id\":0}", 0, "0");
    expect("{\"result\":null,\"id\":9223372036854775807}", INT64_MAX, "9223372036854775807");
}

static void test_nested_ids_not_taken(void **state)
{
    (void)state;
    expect("{\"result\":{\"id\":99,\"items\":[{\"id\":98},[{\"id\":97}]]},\"jsonrpc\":\"2.0\",\"id\":7}", 7,
           "7");
    expect("{\"id\":7,\"result\":{\"id\":99,\"deeper\":{\"id\":{\"id\":1}}}}", 7, "7");
    /* nested ones only: no id */
    expect("{\"result\":{\"id\":99},\"jsonrpc\":\"2.0\"}", -1, NULL);
    expect("{\"result\":[{\"id\":1},{\"id\":2}]}", -1, NULL);
}

static void test_strings(void **state)
{
    (void)state;
    /* braces, brackets, quotes, escaped quotes, a backslash before the closing quote */
    expect("{\"result\":{\"text\":\"}}}{\\\"id\\\":1,\\\"x\\\":\\\"\\\\\",\"t\":\"]][[\"},\"id\":8}", 8, "8");
    expect("{\"a}{\":\"}\",\"b\\\\\":\"\\\\\",\"c\":\"\\\"}\",\"id\":9,\"result\":1}", -1,
           NULL); /* an escaped key */
    expect("{\"a}{\":\"}\",\"b\":\"\\\\\",\"c\":\"\\\"}\",\"id\":9,\"result\":1}", 9, "9");
    /* what looks like the id inside a string value at the top level */
    expect("{\"result\":\",\\\"id\\\":3,\",\"id\":10}", 10, "10");
    expect("{\"result\":\"\\\"id\\\":3\"}", -1, NULL);
    /* a raw control character in a string: not JSON */
    expect("{\"result\":\"a\tb\",\"id\":1}", -1, NULL);
    expect("{\"result\":{\"s\":\"a\x01"
           "b\"},\"id\":1}",
           -1, NULL);
}

static void test_string_and_other_ids(void **state)
{
    (void)state;
    /* string ids: the text as written, never ours */
    expect("{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"result\":{}}", -1, "\"abc\"");
    expect("{\"id\":\"a\\\"}{\",\"result\":{}}", -1, "\"a\\\"}{\"");
    expect("{\"id\":\"7\",\"result\":{}}", -1, "\"7\"");
    expect("{\"id\":null,\"error\":{}}", -1, "null");
    expect("{\"id\":-1,\"result\":1}", -1, "-1");
    expect("{\"id\":-0,\"result\":1}", -1, "-0");
    expect("{\"id\":1.5,\"result\":1}", -1, "1.5");
    expect("{\"id\":1e2,\"result\":1}", -1, "1e2");
    expect("{\"id\":01,\"result\":1}", -1, "01");
    expect("{\"id\":9223372036854775808,\"result\":1}", -1, "9223372036854775808");
    /* objects and arrays are no ids; nor is one longer than MCP_IDSCAN_MAX */
    expect("{\"id\":{\"id\":1},\"result\":1}", -1, NULL);
    expect("{\"id\":[1],\"result\":1}", -1, NULL);
    char s[256];
    char longid[MCP_IDSCAN_MAX + 1];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = 0;
    longid[0] = longid[MCP_IDSCAN_MAX - 1] = '"'; /* exactly MCP_IDSCAN_MAX bytes */
    snprintf(s, sizeof s, "{\"id\":%s,\"result\":1}", longid);
    expect(s, -1, longid);
    snprintf(s, sizeof s, "{\"id\":\"a%s,\"result\":1}", longid + 1);
    expect(s, -1, NULL);
}

/* A request of the process's own: its id, for the refusal. */
static void test_request(void **state)
{
    (void)state;
    const char *reqs[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":\"q1\",\"method\":\"sampling/createMessage\",\"params\":{}}",
        "{\"method\":\"roots/list\",\"id\":12}"};
    const char *want[] = {"\"q1\"", "12"};
    for (size_t i = 0; i < 2; i++) {
        mcp_idscan sc;
        mcp_idscan_init(&sc);
        mcp_idscan_feed(&sc, reqs[i], strlen(reqs[i]));
        size_t n;
        const char *t = mcp_idscan_request(&sc, &n);
        assert_non_null(t);
        assert_int_equal(n, strlen(want[i]));
        assert_memory_equal(t, want[i], n);
    }
    const char * not [] = {"{\"id\":1,\"result\":{}}", "{\"method\":\"notifications/message\"}",
                           "{\"method\":\"x\",\"id\":1,\"id\":2}", "{\"method\":\"x\",\"id\":1"};
    for (size_t i = 0; i < 4; i++) {
        mcp_idscan sc;
        mcp_idscan_init(&sc);
        mcp_idscan_feed(&sc, not [i], strlen(not [i]));
        size_t n = 99;
        assert_null(mcp_idscan_request(&sc, &n));
        assert_int_equal(n, 0);
    }
}

static void test_no_answer(void **state)
{
    (void)state;
    /* notifications, requests and ids without result or error */
    expect("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"id\":3}}", -1, NULL);
    expect("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"sampling/createMessage\",\"params\":{}}", -1, "3");
    expect("{\"id\":3,\"result\":{},\"method\":\"x\"}", -1, "3");
    expect("{\"id\":3}", -1, "3");
    expect("{\"id\":3,\"results\":1}", -1, "3");
    /* id twice, or a key spelled with an escape (it may be "id"): no id */
    expect("{\"id\":1,\"result\":1,\"id\":2}", -1, NULL);
    expect("{\"\\u0069d\":1,\"id\":2,\"result\":1}", -1, NULL);
    expect("{\"id\":2,\"r\\u0065sult\":1}", -1, NULL);
    /* not one JSON object */
    expect("", -1, NULL);
    expect("   ", -1, NULL);
    expect("xxxxxxxxxx", -1, NULL);
    expect("[{\"id\":1,\"result\":1}]", -1, NULL);
    expect("{\"id\":1,\"result\":1", -1, NULL);
    expect("{\"id\":1,\"result\":{\"a\":1}", -1, NULL);
    expect("{\"id\":1,\"result\":\"abc", -1, NULL);
    expect("x{\"id\":1,\"result\":1}", -1, NULL);
    expect("{\"id\":1,\"result\":1}x", -1, NULL);
    expect("{\"id\":1,\"result\":1}{}", -1, NULL);
    expect("{\"id\" 1,\"result\":1}", -1, NULL);
    expect("{id:1,\"result\":1}", -1, NULL);
    expect("{\"id\":1,,\"result\":1}", -1, NULL);
    expect("{\"id\":1,}", -1, NULL);
    expect("{\"id\":,\"result\":1}", -1, NULL);
    expect("{\"id\":1 2,\"result\":1}", -1, NULL);
    expect("{\"id\":1\"x\",\"result\":1}", -1, NULL);
    expect("{}", -1, NULL);
}

/* A line of any length: the scanner's memory is its struct; pieces of any size. */
static void test_long_line(void **state)
{
    (void)state;
    assert_true(sizeof(mcp_idscan) <= 128);
    size_t big = (size_t)4 << 20;
    const char head[] = "{\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"";
    const char tail[] = "\"}]},\"jsonrpc\":\"2.0\",\"id\":4242}";
    size_t n = sizeof head - 1 + big + sizeof tail - 1;
    char *s = malloc(n);
    assert_non_null(s);
    memcpy(s, head, sizeof head - 1);
    for (size_t i = 0; i < big; i++) /* braces, quotes and backslashes, escaped */
        s[sizeof head - 1 + i] = "ab{}[]\\\"\\\\"[i % 10];
    /* "\\\"" and "\\\\" are whole escapes at i % 10 == 6 and 8 */
    memcpy(s + sizeof head - 1 + big, tail, sizeof tail - 1);
    mcp_idscan sc;
    mcp_idscan_init(&sc);
    for (size_t off = 0, k = 1; off < n; off += k, k = k * 7 % 65521 + 1)
        mcp_idscan_feed(&sc, s + off, k < n - off ? k : n - off);
    uint64_t id = 0;
    assert_true(mcp_idscan_answer(&sc, &id));
    assert_int_equal(id, 4242);
    free(s);
    /* deep nesting */
    size_t d = 100000;
    n = 8 + 2 * d + 8;
    s = malloc(n + 32);
    assert_non_null(s);
    size_t k = 0;
    memcpy(s, "{\"result\":", 10);
    k = 10;
    memset(s + k, '[', d);
    k += d;
    memset(s + k, ']', d);
    k += d;
    memcpy(s + k, ",\"id\":3}", 8);
    k += 8;
    mcp_idscan_init(&sc);
    mcp_idscan_feed(&sc, s, k);
    assert_true(mcp_idscan_answer(&sc, &id));
    assert_int_equal(id, 3);
    free(s);
}

/* What the splitter gave: lines "L:text", long ones "X:len:answer", joined by " ". */
typedef struct split {
    char out[512];
} split;

static void put(split *sp, const char *s)
{
    size_t k = strlen(sp->out);
    snprintf(sp->out + k, sizeof sp->out - k, "%s%s", k ? " " : "", s);
}

static void on_line(void *ctx, const char *line, size_t len)
{
    char b[300];
    snprintf(b, sizeof b, "L:%.*s", (int)len, line);
    put(ctx, b);
}

static void on_long(void *ctx, const mcp_idscan *sc, uint64_t len)
{
    uint64_t id;
    char b[64];
    if (mcp_idscan_answer(sc, &id))
        snprintf(b, sizeof b, "X:%llu:%llu", (unsigned long long)len, (unsigned long long)id);
    else
        snprintf(b, sizeof b, "X:%llu:-", (unsigned long long)len);
    put(ctx, b);
}

/* The stream s through a splitter of limit max, in pieces of every size from 1 to its length. */
static void expect_split(size_t max, const char *s, const char *want)
{
    size_t n = strlen(s);
    for (size_t k = 1; k <= n; k++) {
        up_lines l;
        up_lines_init(&l, max);
        split sp = {{0}};
        for (size_t off = 0; off < n; off += k)
            assert_true(up_lines_feed(&l, s + off, k < n - off ? k : n - off, on_line, on_long, &sp));
        if (strcmp(sp.out, want))
            fail_msg("pieces of %zu: <%s>, want <%s>", k, sp.out, want);
        up_lines_free(&l);
    }
}

/* The limit: max bytes kept (one "\r" more before the "\n"); one more and
 * the line goes through the scanner; the lines after it are read as ever. */
static void test_splitter(void **state)
{
    (void)state;
    expect_split(10, "0123456789\n", "L:0123456789");
    expect_split(10, "0123456789\r\n", "L:0123456789");
    expect_split(10, "0123456789a\n", "X:11:-");
    expect_split(10, "0123456789\r\r\n", "X:12:-");
    expect_split(10, "{\"id\":7,\"result\":\"0123456789\"}\n{\"id\":8}\n\nab\n", "X:30:7 L:{\"id\":8} L:ab");
    expect_split(10, "a\n{\"result\":{\"id\":1},\"id\":12}\r\n{\"id\":9,\"method\":\"x\"}\nb\n",
                 "L:a X:28:12 X:21:- L:b");
    /* the line under way at the end is no line yet */
    expect_split(10, "ab\n{\"id\":7,\"result\":1}", "L:ab");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_anywhere), cmocka_unit_test(test_nested_ids_not_taken),
        cmocka_unit_test(test_strings),     cmocka_unit_test(test_string_and_other_ids),
        cmocka_unit_test(test_no_answer),   cmocka_unit_test(test_long_line),
        cmocka_unit_test(test_splitter),    cmocka_unit_test(test_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
