/* test_mcp_jcs.c - RFC 8785 canonical JSON: ECMAScript number spelling (the
 * RFC's appendix B table, by bit pattern), key order by UTF-16 code units,
 * string escapes, the RFC's section 3.2 example, and the SHA-256. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "jcs/jcs.h"
#include "util/alloc.h"
#include "writ/cedar.h"

static double bits(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void check_num(uint64_t u, const char *want)
{
    char buf[WR_NUM_ES_MAX];
    size_t n = wr_num_es(bits(u), buf, sizeof buf);
    if (strcmp(buf, want))
        print_error("0x%016llx: got %s want %s\n", (unsigned long long)u, buf, want);
    assert_string_equal(buf, want);
    assert_int_equal(n, strlen(want));
}

static void test_numbers_rfc_table(void **state)
{
    (void)state;
    check_num(0x0000000000000000ull, "0");
    check_num(0x8000000000000000ull, "0"); /* -0 */
    check_num(0x0000000000000001ull, "5e-324");
    check_num(0x8000000000000001ull, "-5e-324");
    check_num(0x7fefffffffffffffull, "1.7976931348623157e+308");
    check_num(0xffefffffffffffffull, "-1.7976931348623157e+308");
    check_num(0x4340000000000000ull, "9007199254740992");
    check_num(0xc340000000000000ull, "-9007199254740992");
    check_num(0x4430000000000000ull, "295147905179352830000");
    check_num(0x44b52d02c7e14af5ull, "9.999999999999997e+22");
    check_num(0x44b52d02c7e14af6ull, "1e+23");
    check_num(0x44b52d02c7e14af7ull, "1.0000000000000001e+23");
    check_num(0x444b1ae4d6e2ef4eull, "999999999999999700000");
    check_num(0x444b1ae4d6e2ef4full, "999999999999999900000");
    check_num(0x444b1ae4d6e2ef50ull, "1e+21");
    check_num(0x3eb0c6f7a0b5ed8cull, "9.999999999999997e-7");
    check_num(0x3eb0c6f7a0b5ed8dull, "0.000001");
    check_num(0x41b3de4355555553ull, "333333333.3333332");
    check_num(0x41b3de4355555554ull, "333333333.33333325");
    check_num(0x41b3de4355555555ull, "333333333.3333333");
    check_num(0x41b3de4355555556ull, "333333333.3333334");
    check_num(0x41b3de4355555557ull, "333333333.33333343");
    check_num(0xbecbf647612f3696ull, "-0.0000033333333333333333");
    check_num(0x43143ff3c1cb0959ull, "1424953923781206.2");
}

static void test_numbers_more(void **state)
{
    (void)state;
    char buf[WR_NUM_ES_MAX];
    struct {
        double v;
        const char *s;
    } t[] = {
        {1.0, "1"},
        {-1.5, "-1.5"},
        {0.1, "0.1"},
        {100, "100"},
        {1e21, "1e+21"},
        {1e20, "100000000000000000000"},
        {1e-6, "0.000001"},
        {1e-7, "1e-7"},
        {123e-9, "1.23e-7"},
        {0.5e-6, "5e-7"},
        {2.2250738585072014e-308, "2.2250738585072014e-308"},
        {4.35, "4.35"},
        {0.3, "0.3"},
        {5e-324, "5e-324"},
        {1.25e+30, "1.25e+30"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        wr_num_es(t[i].v, buf, sizeof buf);
        assert_string_equal(buf, t[i].s);
    }
    /* Powers of two, where the round-trip interval is lopsided: the
     * shortest spelling must still read back exactly. */
    for (int e = -1074; e <= 1023; e++) {
        double v = ldexp(1.0, e);
        wr_num_es(v, buf, sizeof buf);
        assert_true(strtod(buf, NULL) == v);
        char d[18];
        int n;
        int k = wr_num_shortest(v, d, &n);
        assert_true(k >= 1 && k <= 17);
        assert_true(d[k - 1] != '0' || k == 1);
    }
    assert_int_equal(wr_num_es(NAN, buf, sizeof buf), 0);
    assert_int_equal(wr_num_es(INFINITY, buf, sizeof buf), 0);
    assert_int_equal(wr_num_es(1.0, buf, 8), 0); /* cap too small */
}

static char *canon(const char *json, bool cedar_keys)
{
    writ_error err;
    json_t *j = writ_json_parse(json, strlen(json), &err);
    assert_non_null(j);
    char *out = NULL;
    size_t n = 0;
    assert_int_equal(wr_jcs(j, cedar_keys, &out, &n, &err), WRIT_OK);
    assert_int_equal(n, strlen(out));
    json_decref(j);
    return out;
}

static void expect_canon(const char *json, const char *want)
{
    char *c = canon(json, true);
    assert_string_equal(c, want);
    wr_free(c);
}

static void test_rfc_example(void **state)
{
    (void)state;
    /* RFC 8785 section 3.2.3's input, written here by hand. */
    expect_canon("{\n  \"numbers\": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],\n"
                 "  \"string\": \"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\",\n"
                 "  \"literals\": [null, true, false]\n}",
                 "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],"
                 "\"string\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}");
}

static void test_sorting_utf16(void **state)
{
    (void)state;
    /* RFC 8785 section 3.2.3's sorting example: \r, 1, U+0080, U+00F6,
     * U+20AC, U+1F600 (surrogates D83D DE00), U+FB33. */
    expect_canon(
        "{\"\\u20ac\":\"Euro Sign\",\"\\r\":\"Carriage Return\",\"\\ufb33\":\"Hebrew Letter Dalet With "
        "Dagesh\",\"1\":\"One\",\"\\ud83d\\ude00\":\"Emoji: Grinning Face\",\"\\u0080\":\"Control\","
        "\"\\u00f6\":\"Latin Small Letter O With Diaeresis\"}",
        "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":\"Control\",\"\xc3\xb6\":\"Latin Small "
        "Letter O With Diaeresis\",\"\xe2\x82\xac\":\"Euro Sign\",\"\xf0\x9f\x98\x80\":\"Emoji: Grinning "
        "Face\",\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}");
    /* By UTF-8 bytes U+E000 (EE 80 80) < U+10000 (F0 90 80 80); by UTF-16
     * units D800 < E000, so U+10000 comes first. */
    expect_canon("{\"\\ue000\":1,\"\\ud800\\udc00\":2}", "{\"\xf0\x90\x80\x80\":2,\"\xee\x80\x80\":1}");
    /* A prefix sorts first; nested objects are sorted too. */
    expect_canon("{\"ab\":{\"z\":1,\"a\":[{\"y\":0,\"x\":0}]},\"a\":2}",
                 "{\"a\":2,\"ab\":{\"a\":[{\"x\":0,\"y\":0}],\"z\":1}}");
}

static void test_strings_and_literals(void **state)
{
    (void)state;
    /* Controls: named escapes where JSON has one, else \u00xx lower case;
     * DEL, '/', U+2028 unescaped. */
    expect_canon("[\"\\b\\t\\n\\f\\r\\u0001\\u001F\\u007f/\\u2028\"]",
                 "[\"\\b\\t\\n\\f\\r\\u0001\\u001f\x7f/\xe2\x80\xa8\"]");
    /* NUL in a value and in a key (cedar_keys decodes the key encoding). */
    expect_canon("{\"a\\u0000b\":\"x\\u0000y\",\"\\u0001\":1}",
                 "{\"\\u0001\":1,\"a\\u0000b\":\"x\\u0000y\"}");
    expect_canon("[1.0, -0.0, 1e0, 10, -7, 9223372036854775807, -9223372036854775808]",
                 "[1,0,1,10,-7,9223372036854775807,-9223372036854775808]");
    expect_canon("{}", "{}");
    expect_canon("[]", "[]");
    expect_canon("\"\"", "\"\"");
    expect_canon(" null ", "null");
}

static void test_sha256(void **state)
{
    (void)state;
    writ_error err;
    const char *a = "{\"b\": [1, 2.50], \"a\": \"x\"}";
    const char *b = "{\"a\":\"x\",\"b\":[1.0,25e-1]}";
    json_t *ja = writ_json_parse(a, strlen(a), &err);
    json_t *jb = writ_json_parse(b, strlen(b), &err);
    char ha[65], hb[65];
    assert_int_equal(wr_jcs_sha256(ja, true, ha, &err), WRIT_OK);
    assert_int_equal(wr_jcs_sha256(jb, true, hb, &err), WRIT_OK);
    assert_string_equal(ha, hb);
    /* sha256sum of the 21 bytes {"a":"x","b":[1,2.5]} */
    assert_string_equal(ha, "66efddae6a97500318e4c6cdc4bc04149f340a165a7ef2d830393048b67b7a31");
    json_decref(ja);
    json_decref(jb);
    /* A different value hashes differently. */
    json_t *jc = json_pack("{ss}", "a", "y");
    assert_int_equal(wr_jcs_sha256(jc, false, hb, &err), WRIT_OK);
    assert_string_not_equal(ha, hb);
    json_decref(jc);
}

static void test_limits_and_errors(void **state)
{
    (void)state;
    writ_error err;
    char *out = (char *)1;
    assert_int_equal(wr_jcs(NULL, false, &out, NULL, &err), WRIT_EINVAL);
    assert_null(out);
    /* Nesting beyond WR_JCS_MAX_DEPTH (built directly: the message parser
     * would refuse it earlier). */
    json_t *root = json_array(), *cur = root;
    for (int i = 0; i < WR_JCS_MAX_DEPTH + 5; i++) {
        json_t *n = json_array();
        json_array_append_new(cur, n);
        cur = n;
    }
    assert_int_equal(wr_jcs(root, false, &out, NULL, &err), WRIT_ELIMIT);
    assert_null(out);
    char hex[65];
    assert_int_equal(wr_jcs_sha256(root, false, hex, &err), WRIT_ELIMIT);
    assert_string_equal(hex, "");
    json_decref(root);
    json_t *nan = json_real(0.0);
    /* jansson refuses to store NaN, so a non-finite real cannot reach us;
     * out-of-memory is exercised with the allocator hook. */
    json_t *big = json_pack("{s[iiii]s{ss}}", "k", 1, 2, 3, 4, "m", "n", "o");
    for (long n = 0; n < 8; n++) {
        wr_alloc_set_fail_after(n);
        writ_status st = wr_jcs(big, false, &out, NULL, &err);
        wr_alloc_set_fail_after(-1);
        if (st == WRIT_OK) {
            wr_free(out);
            break;
        }
        assert_int_equal(st, WRIT_ENOMEM);
        assert_null(out);
    }
    json_decref(big);
    json_decref(nan);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers_rfc_table),    cmocka_unit_test(test_numbers_more),
        cmocka_unit_test(test_rfc_example),          cmocka_unit_test(test_sorting_utf16),
        cmocka_unit_test(test_strings_and_literals), cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_limits_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
