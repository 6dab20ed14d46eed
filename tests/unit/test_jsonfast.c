/* test_jsonfast.c - the quick JSON reader (cedar_json_fast) against jansson:
 * every input it accepts gives jansson's tree (types, values, key order);
 * every input outside its subset, and every malformed one, is declined, so
 * that cedar_json_load's answer (tree or error, with line and column) is
 * jansson's.  The differential fuzz target fuzz/fuzz_jsonfast.c covers the
 * rest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cedar/json.h"
#include "util/alloc.h"
#include "writ/cedar.h"

#define FLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY)

static char *dump(const json_t *j) { return json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY); }

/* accepted: the same tree as jansson's */
static void accepted(const char *t, size_t n)
{
    json_t *f = cedar_json_fast(t, n);
    if (!f)
        fail_msg("declined: %.*s", (int)n, t);
    json_error_t e;
    json_t *j = json_loadb(t, n, FLAGS, &e);
    assert_non_null(j);
    assert_true(json_equal(f, j));
    char *a = dump(f), *b = dump(j);
    assert_string_equal(a, b);
    free(a);
    free(b);
    json_decref(f);
    json_decref(j);
}

static void accepted_s(const char *t) { accepted(t, strlen(t)); }

/* declined; and cedar_json_load still answers as jansson does */
static void declined(const char *t, size_t n)
{
    json_t *f = cedar_json_fast(t, n);
    if (f)
        fail_msg("accepted: %.*s", (int)n, t);
    json_error_t je;
    json_t *j = json_loadb(t, n, FLAGS, &je);
    writ_error err;
    memset(&err, 0, sizeof err);
    json_t *l = cedar_json_load(t, n, &err);
    if (memchr(t, '\0', n)) {
        /* a raw NUL: refused before jansson, which takes one after a number */
        assert_null(l);
        assert_string_equal(err.msg, "a NUL byte, which JSON allows only escaped (\\u0000)");
        assert_int_equal(err.offset, (size_t)((const char *)memchr(t, '\0', n) - t));
    } else if (j) {
        /* outside the subset but valid: jansson's tree (keys with U+0000
         * are the one place cedar_json_load re-encodes; none here) */
        assert_non_null(l);
        assert_true(json_equal(l, j));
    } else {
        assert_null(l);
        assert_string_equal(err.msg, je.text);
        assert_int_equal(err.line, je.line > 0 ? je.line : 0);
        assert_int_equal(err.col, je.column > 0 ? je.column : 0);
    }
    json_decref(j);
    json_decref(l);
}

static void declined_s(const char *t) { declined(t, strlen(t)); }

static void test_authzen_bodies(void **state)
{
    (void)state;
    /* two of bench/server's bodies, as gen_bodies.mjs writes them */
    accepted_s(
        "{\"subject\":{\"type\":\"Agent\",\"id\":\"agent-4\"},\"action\":{\"name\":\"read\"},\"resource\":{"
        "\"type\":"
        "\"Tool\",\"id\":\"tool-10\"},\"context\":{\"purpose\":\"billing "
        "reconciliation\",\"destination\":\"db."
        "internal.example.com\",\"source_ip\":\"10.1.139.177\",\"amount\":{\"__extn\":{\"fn\":\"decimal\","
        "\"arg\":\"1032.50\"}},\"hour\":7,\"mfa\":true,\"session_tags\":[],\"time\":\"2025-07-25T13:00:00Z\","
        "\"justification\":\"see "
        "INC-891\",\"chain\":[{\"__entity\":{\"type\":\"Agent\",\"id\":\"agent-3\"}},{"
        "\"__entity\":{\"type\":\"Agent\",\"id\":\"agent-12\"}}],\"chain_depth\":2}}");
    accepted_s(
        "{\"subject\":{\"type\":\"Agent\",\"id\":\"agent-12\"},\"action\":{\"name\":\"admin\"},\"resource\":{"
        "\"type\":\"Tool\",\"id\":\"tool-6\"},\"context\":{\"purpose\":\"incident response\",\"destination\":"
        "\"s3.amazonaws.com\",\"source_ip\":\"127.0.0.1\",\"amount\":{\"__extn\":{\"fn\":\"decimal\",\"arg\":"
        "\"404.52\"}},\"hour\":7,\"mfa\":false,\"session_tags\":[],\"time\":\"2025-05-18T15:00:00Z\","
        "\"chain\":["
        "{\"__entity\":{\"type\":\"Agent\",\"id\":\"agent-21\"}}],\"chain_depth\":1}}");
    /* pretty-printed, with every kind of whitespace */
    accepted_s(
        " {\n\t\"subject\" : { \"type\" : \"User\" , \"id\" : \"alice\" } ,\r\n \"context\" : null } \n");
}

static void test_values(void **state)
{
    (void)state;
    const char *ok[] = {
        "{}",
        "[]",
        "[[]]",
        "{\"\":1}",
        "true",
        "false",
        "null",
        "0",
        "-0",
        "7",
        "-7",
        "\"\"",
        "\"x\"",
        "123456789012345678",
        "-123456789012345678",
        "[1,2,3]",
        "[true,false,null]",
        "{\"b\":1,\"a\":2,\"c\":{\"z\":[],\"y\":{}}}", /* key order kept */
        "\"tab\\tnl\\nq\\\"bs\\\\sl\\/b\\bf\\fr\\r\"",
        "{\"k\\\"ey\":\"v\",\"k\\\\\":1}",
        "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf\"", /* 2-4 byte forms,
                                                                                          edges */
        "{\"a\":[{\"b\":[{\"c\":\"d\"}]}]}",
        "\"\x7f\"",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        accepted_s(ok[i]);
    /* a decoded key longer than the key buffer, and a long escaped string
     * (the scratch buffer grows past its first 256 bytes) */
    char big[4000];
    size_t n = 0;
    n += (size_t)sprintf(big + n, "{\"");
    for (int i = 0; i < 300; i++)
        n += (size_t)sprintf(big + n, i % 10 ? "k" : "\\n");
    n += (size_t)sprintf(big + n, "\":\"");
    for (int i = 0; i < 500; i++)
        n += (size_t)sprintf(big + n, i % 7 ? "v" : "\\t");
    sprintf(big + n, "\"}");
    accepted_s(big);
}

static void test_outside_subset(void **state)
{
    (void)state;
    /* valid JSON that jansson reads: declined, and the answer is jansson's */
    const char *valid[] = {
        "1.5",
        "1e3",
        "-0.0",
        "[1E-2]",
        "1234567890123456789",
        "-9223372036854775808",
        "\"\\u0041\"",
        "{\"\\u00e9\":1}",
        "\"\\ud83d\\ude00\"",
    };
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++)
        declined_s(valid[i]);
    /* deeper than the quick reader goes, within jansson's limit */
    char deep[2 * 100 + 1];
    for (int i = 0; i < 100; i++)
        deep[i] = '[', deep[199 - i] = ']';
    deep[200] = 0;
    declined_s(deep);
}

static void test_malformed(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        " ",
        "{",
        "}",
        "[",
        "[1,]",
        "[,1]",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{a:1}",
        "{\"a\":1 \"b\":2}",
        "{\"a\":1,\"a\":2}",
        "{\"x\":{\"a\":1,\"a\":2}}",
        "01",
        "-",
        "-a",
        "+1",
        "1.",
        ".5",
        "1e",
        "tru",
        "truex",
        "nul",
        "nulll",
        "[true false]",
        "12a",
        "1 2",
        "\"abc",
        "\"a\\\"",
        "\"\\x\"",
        "\"\\u12\"",
        "\"\\ud800\"",
        "\"a\x01b\"",
        "'a'",
        "[1]]",
        "{}{}",
        "\xef\xbb\xbf{}",
        "{\"a\":1}x",
        "99999999999999999999",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        declined_s(bad[i]);
    /* bad UTF-8: stray continuation, overlong, surrogate, past U+10FFFF,
     * truncated, C0/C1/F5 leads */
    const char *utf[] = {
        "\"\x80\"",
        "\"\xc0\xaf\"",
        "\"\xc1\xbf\"",
        "\"\xe0\x80\xaf\"",
        "\"\xed\xa0\x80\"",
        "\"\xf4\x90\x80\x80\"",
        "\"\xf0\x8f\xbf\xbf\"",
        "\"\xe2\x82\"",
        "\"\xf5\x80\x80\x80\"",
        "\"\xff\"",
        "{\"\xc3\":1}",
    };
    for (size_t i = 0; i < sizeof utf / sizeof utf[0]; i++)
        declined_s(utf[i]);
    /* a NUL byte in the text, inside and outside a string */
    declined("\"a\0b\"", 5);
    declined("[1,\0]", 5);
    declined("{}\0", 3);
}

static void test_errors_positions(void **state)
{
    (void)state;
    /* through cedar_json_load: jansson's codes, messages and positions */
    writ_error err;
    memset(&err, 0, sizeof err);
    assert_null(cedar_json_load("{\"a\":1,\"a\":2}", 13, &err));
    assert_int_equal(err.code, WRIT_EDUP);
    memset(&err, 0, sizeof err);
    assert_null(cedar_json_load("{\n  \"a\": tru\n}", 14, &err));
    assert_int_equal(err.code, WRIT_EJSON);
    assert_int_equal(err.line, 2);
    assert_true(err.col > 0);
}

/* the compact writer against json_dumps(JSON_COMPACT), on trees from both
 * readers (jansson's may hold reals: those are json_dumps' own text) */
static void dump_same(const char *t)
{
    json_error_t e;
    json_t *j = json_loadb(t, strlen(t), FLAGS, &e);
    assert_non_null(j);
    char *a = cedar_json_dump_compact(j), *b = json_dumps(j, JSON_COMPACT);
    if ((a == NULL) != (b == NULL) || (a && strcmp(a, b)))
        fail_msg("%s: ours %s, jansson's %s", t, a ? a : "NULL", b ? b : "NULL");
    writ_free_string(a);
    wr_json_free(b);
    json_decref(j);
}

static void test_dump_compact(void **state)
{
    (void)state;
    const char *in[] = {
        "[]",
        "{}",
        ("[{\"__entity\":{\"type\":\"Agent\",\"id\":\"agent-3\"}},{\"__entity\":{\"type\":\"Agent\","
         "\"id\":\"agent-12\"}}]"),
        "{\"b\":1,\"a\":[true,false,null,-9223372036854775808,9223372036854775807]}",
        "[\"q\\\"b\\\\s\\/\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\\u0000x\"]",
        "[\"caf\xc3\xa9 \xf0\x9f\x98\x80\"]",
        "{\"k\\n\\u0002\":{\"\":[[]]}}",
        "[1.5, 2e10, -0.0]", /* reals: json_dumps' text */
        "1",
        "\"s\"",
        "null", /* not a container: NULL from both */
    };
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
        dump_same(in[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_authzen_bodies),   cmocka_unit_test(test_values),
        cmocka_unit_test(test_outside_subset),   cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_errors_positions), cmocka_unit_test(test_dump_compact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
