/* test_facts.c - the sources of a decision's facts that are parsers
 * (src/server/facts.c): the trusted_proxies list, X-Forwarded-For, and the
 * one spelling of an address that source_ip holds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>

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
        /* an IPv4-mapped IPv6 client is its IPv4 address */
        {"::ffff:203.0.113.7", "203.0.113.7"},
        {"::ffff:cb00:7107, 10.0.0.1", "203.0.113.7"},
        {"::ffff:203.0.113.7, ::ffff:127.0.0.1", "203.0.113.7"}, /* a mapped trusted hop skipped */
        {"0:0:0:0:0:FFFF:cb00:7107", "203.0.113.7"},
        {"2001:DB8:0:0::1", "2001:db8::1"},
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

/* source_ip: one address, one spelling; IPv4-mapped IPv6 is dotted IPv4 so
 * that a policy on an IPv4 range applies to it. */
static void ip_canon(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want; /* NULL: not an address */
    } cases[] = {
        {"203.0.113.5", "203.0.113.5"},
        {"::ffff:203.0.113.5", "203.0.113.5"},
        {"::FFFF:203.0.113.5", "203.0.113.5"},
        {"::ffff:cb00:7105", "203.0.113.5"},
        {"0:0:0:0:0:ffff:cb00:7105", "203.0.113.5"},
        {"::ffff:0.0.0.0", "0.0.0.0"},
        {"2001:DB8::1", "2001:db8::1"},
        {"2001:db8:0:0:0:0:0:1", "2001:db8::1"},
        {"64:ff9b::203.0.113.5", "64:ff9b::cb00:7105"}, /* NAT64: another address */
        {"::1", "::1"},
        {"::", "::"},
        {"::ffff:1:203.0.113.5", "::ffff:1:cb00:7105"}, /* not mapped */
        {"203.0.113.5 ", NULL},
        {"203.0.113", NULL},
        {"203.000.113.5", NULL},
        {"::ffff:203.0.113.5/24", NULL},
        {"", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[64] = "";
        int rc = srv_ip_canon(cases[i].in, out, sizeof out);
        if (cases[i].want ? (rc != 0 || strcmp(out, cases[i].want)) : rc == 0)
            fail_msg("'%s': rc %d, '%s', want %s", cases[i].in, rc, out,
                     cases[i].want ? cases[i].want : "refused");
    }
    char small[8];
    assert_int_equal(srv_ip_canon("203.0.113.5", small, sizeof small), -1);
}

/* the socket's address: an IPv4 client on a dual-stack listener arrives
 * IPv4-mapped, and is its IPv4 address */
static void sockaddr_ip(void **state)
{
    (void)state;
    char out[64];
    struct sockaddr_in v4 = {.sin_family = AF_INET};
    assert_int_equal(inet_pton(AF_INET, "203.0.113.5", &v4.sin_addr), 1);
    srv_sockaddr_ip((const struct sockaddr *)&v4, out, sizeof out);
    assert_string_equal(out, "203.0.113.5");
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
    assert_int_equal(inet_pton(AF_INET6, "::ffff:203.0.113.5", &v6.sin6_addr), 1);
    srv_sockaddr_ip((const struct sockaddr *)&v6, out, sizeof out);
    assert_string_equal(out, "203.0.113.5");
    assert_int_equal(inet_pton(AF_INET6, "2001:db8::7", &v6.sin6_addr), 1);
    srv_sockaddr_ip((const struct sockaddr *)&v6, out, sizeof out);
    assert_string_equal(out, "2001:db8::7");
    struct sockaddr other = {.sa_family = AF_UNIX};
    srv_sockaddr_ip(&other, out, sizeof out);
    assert_string_equal(out, "0.0.0.0");
    srv_sockaddr_ip(NULL, out, sizeof out);
    assert_string_equal(out, "0.0.0.0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(proxies_list),
        cmocka_unit_test(xff),
        cmocka_unit_test(ip_canon),
        cmocka_unit_test(sockaddr_ip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
