/* test_mcp_uri.c - the uri of a resources/read (mcp/uri.h): every spelling
 * an upstream could resolve to another resource is refused, at its byte;
 * ordinary uris pass as they are. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mcp/uri.h"

static void ok(const char *u)
{
    char why[200] = "";
    if (mcp_uri_check(u, strlen(u), why, sizeof why) != 0)
        fail_msg("%s refused: %s", u, why);
}

static void no(const char *u, size_t n, const char *what, size_t at)
{
    char why[200] = "", want[64];
    if (mcp_uri_check(u, n, why, sizeof why) == 0)
        fail_msg("%s passed", u);
    snprintf(want, sizeof want, "at byte %zu ", at);
    if (!strstr(why, what) || !strstr(why, want))
        fail_msg("%s: %s (want %s %s)", u, why, what, want);
}
#define NO(u, what, at) no(u, sizeof(u) - 1, what, at)

static void test_passes(void **state)
{
    (void)state;
    ok("demo://resource/static/document/1");
    ok("file:///home/user/notes.txt");
    ok("file:///a/b/");
    ok("https://example.com/a.b/..c/c..d/...?q=../x"); /* "..." and dotted names are names; a query
                                                        is no path */
    ok("file:///home/u/%7Ebak/x%20y.txt"); /* Node's pathToFileURL writes ~ as %7E */
    ok("s3://My-Bucket/x");                /* another scheme's host is kept as written */
    ok("jdbc:mysql://h/db");              /* and its path's "//" too */
    ok("demo://h/a//b");
    ok("urn:isbn:0451450523");
    ok("mailto:a@b.example");
    ok("file:///caf%C3%A9/A");
    ok("https://host.example:8443/a/b%25c?x=%41"); /* a query is not the path */
    ok("http://127.0.0.1:3001/mcp");
    ok("file:///");
    ok("file://server/share/x");
    ok("demo://host");
    ok("https://host.example:8443/a?b=c\\d"); /* a '\\' after '?' is no separator */
    ok("file:///public/%EF%BC%8E%EF%BC%8E%EF%BC%8E/x"); /* three dots are a name, as "..." is */
    ok("file:///public/%EF%BC%8Ea/x");
    ok("file:///public/%E2%80%A5%E2%80%A5/x"); /* four */
    ok("file:///public/%EF%BC/x");             /* a partial sequence: not a dot */
    ok("file:///public/%E2%80%A6/x");          /* U+2026: three dots, a name */
}

static void test_refused(void **state)
{
    (void)state;
    /* a '\\' ends the authority for a WHATWG parser: the path is then
     * /etc/shadow or /admin/keys, or the host evil.com */
    NO("file://\\etc\\shadow", "'\\' in the authority", 7);
    NO("https://docs.example.com\\admin\\keys", "'\\' in the authority", 24);
    NO("https://evil.com\\.example.com/public/x", "'\\' in the authority", 16);
    NO("https://evil.com%5C.example.com/public/x", "encoded '/' or '\\' in the authority", 16);
    NO("https://evil.com%2f.example.com/public/x", "encoded '/' or '\\' in the authority", 16);
    NO("https://evil.com\xef\xbc\x8f.example.com/public/x", "U+FF0F", 16);
    NO("https://evil.com%EF%BC%BC.example.com/public/x", "U+FF3C", 16);
    /* spellings a URL parser or a file server writes otherwise: the policy
     * would read one resource and the upstream another (found attacking
     * the gateway with Node's URL and fileURLToPath) */
    NO("file://localhost/srv/secret/key", "localhost file host", 7);
    NO("file:////srv/secret/key", "empty segment", 8);
    NO("file:///srv//secret/key", "empty segment", 12);
    NO("file:///srv/%73ecret/key", "escaped character that needs none", 12);
    NO("file:///srv/secret%2Ekey", "escaped character that needs none", 18);
    NO("file:///srv/%c3%a9", "lower case", 12);
    NO("file:///srv/caf\xc3\xa9", "non-ASCII character", 15);
    NO("file:///srv/{x}", "a URL parser escapes", 12);
    NO("https://docs.example.com:443/admin/keys", "default port", 24);
    NO("https://docs.example.com:/admin/keys", "default port", 24);
    NO("https://docs.example.com:0443/admin/keys", "zero-padded", 24);
    NO("http://docs.example.com:80/x", "default port", 23);
    NO("https://DOCS.example.com/admin/keys", "upper-case host", 8);
    NO("https://docs.example.co%6D/admin/keys", "percent-escape in the authority", 23);
    NO("https://@docs.example.com/admin/keys", "userinfo", 8);
    NO("https://user:pw@docs.example.com/x", "userinfo", 15);
    NO("https://docs.example.\xef\xbd\x83om/x", "non-ASCII host", 21);
    NO("https://docs.example.com./admin", "ending in '.'", 24);
    NO("http://0x7f.1/x", "IPv4 host not in its dotted form", 7);
    NO("http://2130706433/x", "IPv4 host not in its dotted form", 7);
    NO("http://127.000.0.1/x", "IPv4 host not in its dotted form", 7);
    NO("http://[::1]/x", "IP-literal", 7);
    NO("https:///x", "no host", 7);
    NO("https://", "no host", 7);
    NO("https:docs.example.com/admin/keys", "special scheme without '//'", 5);
    NO("file:/etc/passwd", "special scheme without '//'", 4);
    NO("FILE:///etc/passwd", "upper-case scheme", 0);
    /* any escape a file server decodes: %40 is "@", %2B "+" */
    NO("file:///srv/%40corp-secrets/token", "escaped character that needs none", 12);
    NO("file:///srv/a%2Bb", "escaped character that needs none", 13);
    /* what a server drops: "x.pem#" and "x.pem?.txt" are x.pem to it */
    NO("file:///srv/server.pem#", "fragment", 22);
    NO("file:///srv/server.pem?x=.txt", "query in a file uri", 22);
    NO("https://h.example/x.pem#frag", "fragment", 23);
    NO("https://h.example/x?a=1#frag", "fragment", 23);
    /* a URL parser reads C| as the drive C: */
    NO("file:///C|/secret/key.txt", "'|' in a file path", 9);
    /* every character whose NFKC form holds a delimiter */
    NO("file:///srv/metrics-dat%E2%84%80", "'a/c' (U+2100)", 23);
    NO("file:///srv/key%EF%BC%9F.txt", "'?' (U+FF1F)", 15);
    NO("file:///srv/%CD%BEx", "';' (U+037E)", 12);
    NO("https://h%EF%BC%85.example/x", "'%' (U+FF05)", 9);
    NO("demo://h%EF%BC%85x/y", "'%' (U+FF05)", 8);
    NO("demo://resource/static/document/../../dynamic/1", "'..' segment", 32);
    NO("file:///public/./x", "'.' segment", 15);
    NO("file:///public/%2e%2E/secret", "'..' segment", 15);
    NO("file:///public/.%2e/secret", "'..' segment", 15);
    NO("file:///public/..", "'..' segment", 15);
    NO("file:..", "'..' segment", 5);
    /* dots that Unicode compatibility normalisation makes '.' (as paths) */
    NO("file:///public/%EF%BC%8E%EF%BC%8E/secret", "segment that reads as '..'", 15);
    NO("file:///public/\xEF\xBC\x8E\xEF\xBC\x8E/secret", "segment that reads as '..'", 15);
    NO("file:///public/.%EF%B9%92/secret", "segment that reads as '..'", 15);
    NO("file:///public/%E2%80%A5/secret", "segment that reads as '..'", 15);
    NO("file:///public/%E2%80%A4", "segment that reads as '.'", 15);
    NO("file:///public/%ef%bc%8e/x", "segment that reads as '.'", 15);
    NO("file:///public/%EF%B8%B0/x", "segment that reads as '..'", 15);
    /* characters that NFKC makes '/' or '\\' */
    NO("file:///public/..%EF%BC%8Fsecret", "reads as '/' (U+FF0F)", 17);
    NO("file:///public/..\xEF\xBC\x8Fsecret", "reads as '/' (U+FF0F)", 17);
    NO("file:///public/%EF%BC%BC..", "reads as '\\' (U+FF3C)", 15);
    NO("file:///public/a%EF\xB9%A8", "reads as '\\' (U+FE68)", 16);
    NO("file:///public/..%2Fsecret", "encoded '/'", 17);
    NO("file:///public/a%5c..", "encoded '/' or '\\'", 16);
    NO("file:///public\\..\\secret", "'\\'", 14);
    NO("file:///a%00b", "encoded NUL", 9);
    NO("file:///a%zzb", "bad percent-escape", 9);
    NO("file:///a%4", "bad percent-escape", 9);
    NO("//no/scheme", "no scheme", 0);
    NO("relative/path", "no scheme", 0);
    NO(":x", "no scheme", 0);
    no("file:///a\0b", 11, "a NUL", 9);
    /* a URL parser drops tab, LF and CR: ".\t." resolves as ".." */
    NO("demo://resource/static/document/.\t./.\t./dynamic/text/1", "control character or space", 33);
    NO("file:///public/.\n./secret", "control character or space", 16);
    NO("file:///public/.\r./secret", "control character or space", 16);
    NO(" file:///public/x", "control character or space", 0);
    NO("file:///public/x\x1f", "control character or space", 16);
    NO("file:///public/a b", "control character or space", 16);
    NO("file:///public/a\x7f", "control character or space", 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_passes),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
