/* test_path.c - the canonical path of /authz/check (src/server/path.c):
 * each refusal and each accepted form, the limits, and how the two forms of
 * a check (nginx's X-Original-* headers, Envoy's path after the prefix)
 * name the original request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "server/path.h"

/* The canonical path of raw (len bytes; -1: strlen), or "! why". */
static const char *canon_n(const char *raw, size_t len)
{
    static char out[PATH_MAX_LEN + 3];
    char buf[PATH_MAX_LEN + 1], why[128];
    memset(buf, 'x', sizeof buf);
    if (path_canon(raw, len, buf, sizeof buf, why, sizeof why)) {
        if (buf[0])
            fail_msg("%s: a refusal leaves out empty", raw);
        snprintf(out, sizeof out, "! %s", why);
    } else {
        snprintf(out, sizeof out, "%s", buf);
    }
    return out;
}
static const char *canon(const char *raw) { return canon_n(raw, strlen(raw)); }

static void accepted(void **state)
{
    (void)state;
    static const struct {
        const char *raw, *want;
    } cases[] = {
        {"/", "/"},
        {"/a", "/a"},
        {"/a/b/c", "/a/b/c"},
        {"/a/b/", "/a/b/"}, /* one trailing '/' is kept */
        {"/a?x=1", "/a"},
        {"/a?", "/a"},
        {"/?q=/../..", "/"},
        {"/a?%zz&b=%00#x", "/a"}, /* the query is dropped before decoding */
        {"/a%20b", "/a b"},
        {"/%41%62%7e", "/Ab~"},
        {"/%7Bid%7D", "/{id}"},
        {"/%252e%252e", "/%2e%2e"}, /* decoded exactly once */
        {"/%25", "/%"},
        {"/a+b", "/a+b"}, /* '+' is not a space in a path */
        {"/...", "/..."},
        {"/..a/.b/a.", "/..a/.b/a."},
        {"/a/.../b", "/a/.../b"},
        {"/caf%C3%A9", "/caf\xc3\xa9"},
        {"/caf\xc3\xa9", "/caf\xc3\xa9"},
        {"/%E2%82%AC", "/\xe2\x82\xac"},        /* U+20AC */
        {"/%F0%9F%98%80", "/\xf0\x9f\x98\x80"}, /* U+1F600 */
        {"/%F4%8F%BF%BF", "/\xf4\x8f\xbf\xbf"}, /* U+10FFFF */
        {"/%ED%9F%BF", "/\xed\x9f\xbf"},        /* U+D7FF, just below the surrogates */
        {"/%EE%80%80", "/\xee\x80\x80"},        /* U+E000, just above */
        {"/%0A%09", "/\n\t"},                   /* decoded controls are id bytes */
        {"/a,b=c/d,e", "/a,b=c/d,e"},
        {"/a?x;y/..;", "/a"}, /* a ';' in the query is no segment parameter */
        {"/a/%EF%BC%8E%EF%BC%8E%EF%BC%8E", "/a/\xef\xbc\x8e\xef\xbc\x8e\xef\xbc\x8e"}, /* three: an id */
        {"/a/x%EF%BC%8E", "/a/x\xef\xbc\x8e"},
        {"/a/%E2%80%A6", "/a/\xe2\x80\xa6"},                      /* U+2026: three dots, a name */
        {"/a/%EF%BC%8E%EF%BC%BB", "/a/\xef\xbc\x8e\xef\xbc\xbb"}, /* U+FF3B '[': not a slash */
        {"/a/%E2%80%A5.", "/a/\xe2\x80\xa5."},                    /* reads as '...' */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = canon(cases[i].raw);
        if (strcmp(got, cases[i].want))
            fail_msg("%s: got <%s>, want <%s>", cases[i].raw, got, cases[i].want);
    }
}

static void refused(void **state)
{
    (void)state;
    static const struct {
        const char *raw, *want;
    } cases[] = {
        /* dot segments, raw and encoded, anywhere */
        {"/.", "! path: '.' segment at byte 1"},
        {"/..", "! path: '..' segment at byte 1"},
        {"/a/./b", "! path: '.' segment at byte 3"},
        {"/a/../b", "! path: '..' segment at byte 3"},
        {"/a/b/..", "! path: '..' segment at byte 5"},
        {"/a/b/../", "! path: '..' segment at byte 5"},
        {"/a/%2e", "! path: '.' segment at byte 3"},
        {"/a/%2e%2e/b", "! path: '..' segment at byte 3"},
        {"/a/%2E%2E/b", "! path: '..' segment at byte 3"},
        {"/a/.%2e/b", "! path: '..' segment at byte 3"},
        {"/a/%2E./b", "! path: '..' segment at byte 3"},
        {"/a/b/..?x", "! path: '..' segment at byte 5"},
        /* dot segments with parameters: a servlet container strips ';...'
         * from each segment before it removes dot segments */
        {"/a/..;/b", "! path: '..' segment at byte 3"},
        {"/a/..;x/b", "! path: '..' segment at byte 3"},
        {"/a/.;/b", "! path: '.' segment at byte 3"},
        {"/a/..;", "! path: '..' segment at byte 3"},
        {"/a/%2e%2e;/b", "! path: '..' segment at byte 3"},
        {"/a/.%2E;x=1/b", "! path: '..' segment at byte 3"},
        {"/a/..%3B/b", "! path: '..' segment at byte 3"},
        {"/a/..%3b/b", "! path: '..' segment at byte 3"},
        {"/a/%2e%2e%3B/b", "! path: '..' segment at byte 3"},
        {"/a/..;/..;/b", "! path: '..' segment at byte 3"},
        /* any other segment parameter: `a;x` is `a` to such a reader */
        {"/a;b=c/d", "! path: ';' at byte 2"},
        {"/repos/writ;x/pulls", "! path: ';' at byte 11"},
        {"/a/;/b", "! path: ';' at byte 3"},
        {"/a/...;/b", "! path: ';' at byte 6"},
        {"/a/b;", "! path: ';' at byte 4"},
        {"/a%3Bb", "! path: encoded ';' at byte 2"},
        {"/a/x%3b..", "! path: encoded ';' at byte 4"},
        /* empty segments, but for one trailing '/' */
        {"//", "! path: empty segment at byte 1"},
        {"//a", "! path: empty segment at byte 1"},
        {"/a//b", "! path: empty segment at byte 3"},
        {"/a/b//", "! path: empty segment at byte 5"},
        /* encoded '/', NUL, '?', '#'; raw '#' */
        {"/a%2Fb", "! path: encoded '/' at byte 2"},
        {"/a%2fb", "! path: encoded '/' at byte 2"},
        {"/a%00", "! path: encoded NUL at byte 2"},
        {"/a%3Fb", "! path: encoded '?' at byte 2"},
        {"/a%3fb", "! path: encoded '?' at byte 2"},
        {"/a%23b", "! path: encoded '#' at byte 2"},
        {"/a#b", "! path: '#' at byte 2"},
        {"/a#b?c", "! path: '#' at byte 2"},
        /* dots that NFKC makes '.': FULLWIDTH FULL STOP, SMALL FULL STOP,
         * ONE DOT LEADER, TWO DOT LEADER (two) */
        {"/a/%EF%BC%8E%EF%BC%8E/b", "! path: segment that reads as '..' at byte 3"},
        {"/a/.%EF%BC%8E/b", "! path: segment that reads as '..' at byte 3"},
        {"/a/%EF%B9%92", "! path: segment that reads as '.' at byte 3"},
        {"/a/%E2%80%A4%E2%80%A4/b", "! path: segment that reads as '..' at byte 3"},
        {"/a/%E2%80%A5/b", "! path: segment that reads as '..' at byte 3"},
        {"/a/\xef\xbc\x8e\xef\xbc\x8e/b", "! path: segment that reads as '..' at byte 3"},
        {"/a/%EF%BC%8E%EF%BC%8E;x/b", "! path: segment that reads as '..' at byte 3"},
        {"/a/%EF%B8%B0/b", "! path: segment that reads as '..' at byte 3"}, /* U+FE30, two */
        /* characters that NFKC makes '/' or '\\': `..／x` is `../x` there */
        {"/a/..%EF%BC%8Fsecret", "! path: a character that reads as '/' (U+FF0F) at byte 5"},
        {"/a/x\xef\xbc\x8f..", "! path: a character that reads as '/' (U+FF0F) at byte 4"},
        /* every character whose NFKC form holds a delimiter, not only slashes */
        {"/datasets/metrics-dat%E2%84%80", "! path: a character that reads as 'a/c' (U+2100) at byte 21"},
        {"/datasets/customer-pii%EF%BC%9F", "! path: a character that reads as '?' (U+FF1F) at byte 22"},
        {"/a/%EF%BC%852e%EF%BC%852e/x", "! path: a character that reads as '%' (U+FF05) at byte 3"},
        {"/a/%CD%BEx", "! path: a character that reads as ';' (U+037E) at byte 3"},
        {"/a/x%EF%B9%9F", "! path: a character that reads as '#' (U+FE5F) at byte 4"},
        {"/a/%EF%BC%BC", "! path: a character that reads as '\\' (U+FF3C) at byte 3"},
        {"/a/b\xef\xb9\xa8", "! path: a character that reads as '\\' (U+FE68) at byte 4"},
        /* a backslash, raw or encoded: a '/' to WHATWG URL parsers, IIS */
        {"/repos/writ/..\\..\\services", "! path: '\\' at byte 14"},
        {"/a\\b", "! path: '\\' at byte 2"},
        {"/a%5Cb", "! path: encoded '\\' at byte 2"},
        {"/a/%5c..%5c..%5cb", "! path: encoded '\\' at byte 3"},
        {"/a?x=\\y", "/a"}, /* in the query: dropped with it */
        /* bad escapes */
        {"/%", "! path: bad percent-escape at byte 1"},
        {"/%4", "! path: bad percent-escape at byte 1"},
        {"/%4?1", "! path: bad percent-escape at byte 1"},
        {"/%zz", "! path: bad percent-escape at byte 1"},
        {"/%g0", "! path: bad percent-escape at byte 1"},
        {"/a/%+1", "! path: bad percent-escape at byte 3"},
        {"/a/% 1", "! path: bad percent-escape at byte 3"},
        /* not UTF-8 once decoded (raw or encoded), at the sequence's start */
        {"/%FF", "! path: invalid UTF-8 at byte 1"},
        {"/\xff", "! path: invalid UTF-8 at byte 1"},
        {"/%80", "! path: invalid UTF-8 at byte 1"},
        {"/%C0%AE", "! path: invalid UTF-8 at byte 1"},    /* overlong '.' */
        {"/%C1%BF", "! path: invalid UTF-8 at byte 1"},    /* overlong */
        {"/%E0%80%AE", "! path: invalid UTF-8 at byte 1"}, /* overlong '.' */
        {"/%F0%80%80%AE", "! path: invalid UTF-8 at byte 1"},
        {"/%ED%A0%80", "! path: invalid UTF-8 at byte 1"},    /* surrogate */
        {"/%F4%90%80%80", "! path: invalid UTF-8 at byte 1"}, /* past U+10FFFF */
        {"/%F5%80%80%80", "! path: invalid UTF-8 at byte 1"},
        {"/ab%C3", "! path: invalid UTF-8 at byte 3"},   /* cut at the end */
        {"/ab%C3/x", "! path: invalid UTF-8 at byte 3"}, /* cut by a '/' */
        {"/ab%C3?x", "! path: invalid UTF-8 at byte 3"}, /* cut by the query */
        {"/a%C3%A9%C3", "! path: invalid UTF-8 at byte 8"},
        {"/%E2%82x", "! path: invalid UTF-8 at byte 1"},
        {"/\xc3"
         "a",
         "! path: invalid UTF-8 at byte 1"},
        /* raw bytes no request target holds */
        {"/a b", "! path: control character or space at byte 2"},
        {"/a\tb", "! path: control character or space at byte 2"},
        {"/a\x7f", "! path: control character or space at byte 2"},
        {"/a\r\n", "! path: control character or space at byte 2"},
        /* not a path */
        {"", "! path: does not start with '/'"},
        {"a/b", "! path: does not start with '/'"},
        {"?/a", "! path: does not start with '/'"},
        {"*", "! path: does not start with '/'"},
        {"http://h/a", "! path: does not start with '/'"},
        {"%2Fa", "! path: does not start with '/'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = canon(cases[i].raw);
        if (strcmp(got, cases[i].want))
            fail_msg("%s: got <%s>, want <%s>", cases[i].raw, got, cases[i].want);
    }
}

static void limits(void **state)
{
    (void)state;
    static char raw[PATH_MAX_LEN + 64];
    /* PATH_MAX_LEN bytes are fine, one more is not; the query is not counted */
    memset(raw, 'a', sizeof raw);
    raw[0] = '/';
    raw[PATH_MAX_LEN] = '\0';
    assert_int_equal(strlen(canon(raw)), PATH_MAX_LEN);
    raw[PATH_MAX_LEN] = '?';
    raw[PATH_MAX_LEN + 10] = '\0';
    assert_int_equal(strlen(canon(raw)), PATH_MAX_LEN);
    raw[PATH_MAX_LEN] = 'a';
    assert_string_equal(canon(raw), "! path: longer than 4096 bytes");
    /* (pointer, length): nothing past len is read, a NUL inside is refused */
    assert_string_equal(canon_n("/ab/../c", 3), "/ab");
    assert_string_equal(canon_n("/a\0b", 4), "! path: control character or space at byte 2");
    /* out too small for the raw path: refused, nothing written past it */
    char small[4] = "zzz", why[64];
    assert_int_equal(path_canon("/abcd", 5, small, sizeof small, why, sizeof why), -1);
    assert_string_equal(small, "");
    assert_string_equal(why, "path: no room to decode it");
}

/* path_check_request: "METHOD PATH" or "! why" */
static const char *check(const char *target, const char *method, const char *uri, const char *ometh,
                         unsigned nu, unsigned nm)
{
    static char out[PATH_MAX_LEN + 64];
    path_inputs in = {target, method, uri, ometh, nu, nm};
    static path_request pr;
    char why[128];
    if (path_check_request(&in, &pr, why, sizeof why)) {
        if (pr.method || pr.path[0])
            fail_msg("a refusal leaves no request");
        snprintf(out, sizeof out, "! %s", why);
    } else {
        snprintf(out, sizeof out, "%s %s", pr.method, pr.path);
    }
    return out;
}

static void check_forms(void **state)
{
    (void)state;
    /* Envoy: this request's own method and target */
    assert_string_equal(check("/datasets/x", "GET", NULL, NULL, 0, 0), "GET /datasets/x");
    assert_string_equal(check("", "POST", NULL, NULL, 0, 0), "POST /");
    assert_string_equal(check("/", "DELETE", NULL, NULL, 0, 0), "DELETE /");
    assert_string_equal(check("/a/%2e%2e/b", "GET", NULL, NULL, 0, 0), "! path: '..' segment at byte 3");
    assert_string_equal(check("/a%2Fb", "GET", NULL, NULL, 0, 0), "! path: encoded '/' at byte 2");
    assert_string_equal(check("/x", "G ET", NULL, NULL, 0, 0), "! the method is not an HTTP method");
    /* nginx: both headers, the query dropped before decoding */
    assert_string_equal(check("", "GET", "/repos/w?a=%zz", "POST", 1, 1), "POST /repos/w");
    assert_string_equal(check("", "GET", "/a/../b", "POST", 1, 1), "! path: '..' segment at byte 3");
    assert_string_equal(check("", "GET", "/a#f", "GET", 1, 1), "! path: '#' at byte 2");
    assert_string_equal(check("", "GET", "", "GET", 1, 1), "! path: does not start with '/'");
    /* ... together, once each, a real method, nothing after /authz/check */
    assert_string_equal(check("", "GET", "/a", NULL, 1, 0), "! X-Original-URI without X-Original-Method");
    assert_string_equal(check("", "GET", NULL, "POST", 0, 1), "! X-Original-Method without X-Original-URI");
    assert_string_equal(check("", "GET", "/a", "", 1, 1), "! X-Original-Method is not an HTTP method");
    assert_string_equal(check("", "GET", "/a", "PO ST", 1, 1), "! X-Original-Method is not an HTTP method");
    assert_string_equal(check("", "GET", "/a", "GET", 2, 1),
                        "! X-Original-URI or X-Original-Method given twice");
    assert_string_equal(check("", "GET", "/a", "GET", 1, 2),
                        "! X-Original-URI or X-Original-Method given twice");
    assert_string_equal(check("/a", "GET", "/a", "GET", 1, 1),
                        "! X-Original-URI and a path after /authz/check: which one is checked?");
    assert_string_equal(check("/", "GET", "/a", "GET", 1, 1),
                        "! X-Original-URI and a path after /authz/check: which one is checked?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepted),
        cmocka_unit_test(refused),
        cmocka_unit_test(limits),
        cmocka_unit_test(check_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
