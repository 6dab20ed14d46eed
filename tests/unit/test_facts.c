/* test_facts.c - the sources of a decision's facts that are parsers
 * (src/server/facts.c): the trusted_proxies list and X-Forwarded-For. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server/server_int.h"
#include "util/alloc.h"

static void proxies_list(void **state)
{
    (void)state;
    srv_cidr *p;
    size_t n;
    writ_error err;
    assert_int_equal(srv_proxies_parse("", &p, &n, &err), WRIT_OK);
    assert_int_equal(n, 0);
    assert_int_equal(srv_proxies_parse(" 10.0.0.0/8, 127.0.0.1\t::1 2001:db8::/32,", &p, &n, &err), WRIT_OK);
    assert_int_equal(n, 4);
    assert_true(srv_proxies_has(p, n, "10.200.3.4"));
    assert_true(srv_proxies_has(p, n, "127.0.0.1"));
    assert_false(srv_proxies_has(p, n, "127.0.0.2"));
    assert_true(srv_proxies_has(p, n, "::1"));
    assert_true(srv_proxies_has(p, n, "2001:db8:1::5"));
    assert_false(srv_proxies_has(p, n, "2001:db9::5"));
    assert_true(srv_proxies_has(p, n, "::ffff:10.1.2.3")); /* IPv4-mapped counts as IPv4 */
    assert_false(srv_proxies_has(p, n, "11.0.0.1"));
    assert_false(srv_proxies_has(p, n, "not an address"));
    assert_false(srv_proxies_has(p, n, ""));
    wr_free(p);
    /* /0 trusts everything of its family; odd prefixes compare bits */
    assert_int_equal(srv_proxies_parse("0.0.0.0/0 192.168.1.128/25", &p, &n, &err), WRIT_OK);
    assert_true(srv_proxies_has(p, n, "8.8.8.8"));
    assert_false(srv_proxies_has(p, n, "::8"));
    wr_free(p);
    assert_int_equal(srv_proxies_parse("192.168.1.128/25", &p, &n, &err), WRIT_OK);
    assert_true(srv_proxies_has(p, n, "192.168.1.200"));
    assert_false(srv_proxies_has(p, n, "192.168.1.127"));
    wr_free(p);
    static const char *const bad[] = {"10.0.0.0/33", "::/129",       "10.0.0.0/",
                                      "10.0.0.0/-1", "10.0.0.0/+8",  "10.0.0.0/8x",
                                      "10.0.0",      "host.example", "1.2.3.4 300.1.1.1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        p = (srv_cidr *)1;
        if (srv_proxies_parse(bad[i], &p, &n, &err) != WRIT_EINVAL || p || n ||
            !strstr(err.msg, "trusted_proxies"))
            fail_msg("'%s' accepted or unclear: %s", bad[i], err.msg);
    }
    memset(&err, 0, sizeof err);
    assert_int_equal(srv_proxies_parse("1.2.3.4 300.1.1.1", &p, &n, &err), WRIT_EINVAL);
    assert_non_null(strstr(err.msg, "'300.1.1.1'"));
    assert_non_null(strstr(err.msg, "at byte 9"));
}

static void xff(void **state)
{
    (void)state;
    srv_cidr *p;
    size_t n;
    writ_error err;
    assert_int_equal(srv_proxies_parse("127.0.0.1 10.0.0.0/8", &p, &n, &err), WRIT_OK);
    static const struct {
        const char *xff, *client; /* NULL: refused */
    } cases[] = {
        {"203.0.113.7", "203.0.113.7"},
        {"203.0.113.7, 10.1.1.1", "203.0.113.7"}, /* a trusted hop skipped */
        {"6.6.6.6, 203.0.113.7", "203.0.113.7"},  /* the client's own entry is not believed */
        {"6.6.6.6, 203.0.113.7, 10.0.0.2, 127.0.0.1", "203.0.113.7"},
        {"10.0.0.5, 127.0.0.1", "10.0.0.5"},          /* all trusted: the leftmost */
        {"  203.0.113.7  ,10.0.0.1 ", "203.0.113.7"}, /* spaces around entries */
        {"2001:db8::1, 10.0.0.1", "2001:db8::1"},
        {"garbage, 203.0.113.7", "203.0.113.7"}, /* left of the client: never read */
        {"203.0.113.7, garbage", NULL},          /* the proxy's own entry is not an address */
        {"203.0.113.7,", NULL},                  /* an empty entry */
        {"", NULL},
        {",", NULL},
        {"203.0.113.7:8080", NULL}, /* a port is not an address */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[64] = "";
        int rc = srv_xff_client(p, n, cases[i].xff, out, sizeof out);
        if (cases[i].client ? (rc != 0 || strcmp(out, cases[i].client)) : rc == 0)
            fail_msg("X-Forwarded-For '%s': rc %d, client '%s', want %s", cases[i].xff, rc, out,
                     cases[i].client ? cases[i].client : "refused");
    }
    /* one entry longer than an address */
    char longv[300];
    memset(longv, '1', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    char out[64];
    assert_int_equal(srv_xff_client(p, n, longv, out, sizeof out), -1);
    wr_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(proxies_list),
        cmocka_unit_test(xff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
