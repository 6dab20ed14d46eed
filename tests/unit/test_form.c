/* test_form.c - form bodies of /oauth2/token and /oauth2/revoke: decoding,
 * limits, errors with their offset, and the scope and ttl fields. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "server/form.h"

static void parses(void **state)
{
    (void)state;
    const char *body = "grant_type=urn%3Aietf&scope=read+write&resource=a&resource=b%2A&empty=";
    form f;
    char why[200];
    assert_int_equal(form_parse(body, strlen(body), &f, why, sizeof why), 0);
    assert_int_equal(f.n, 5);
    assert_string_equal(form_get(&f, "grant_type"), "urn:ietf");
    assert_string_equal(form_get(&f, "scope"), "read write");
    assert_string_equal(form_get(&f, "empty"), "");
    assert_null(form_get(&f, "nope"));
    const char *list[4];
    size_t n;
    assert_int_equal(form_list(&f, "resource", list, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[1], "b*");
    assert_int_equal(form_list(&f, "resource", list, 1, &n), -1);
    form_free(&f);
}

static void errors(void **state)
{
    (void)state;
    static const struct {
        const char *body, *want;
    } cases[] = {
        {"", "the request body is empty"},
        {"a=1&&b=2", "empty parameter in the form at offset 4"},
        {"&a=1", "empty parameter in the form at offset 0"},
        {"a=1&", "empty parameter in the form at offset 4"},
        {"a=1&b", "form parameter without '=' at offset 4"},
        {"a=1&b=%zz", "malformed form encoding at offset 6 "},
        {"a=1&b=x%4", "malformed form encoding at offset 7 "},
        {"a=1&b=x%00", "malformed form encoding at offset 7 "},
        {"a=1&b%=x", "malformed form encoding at offset 5 "},
        {"a=1&b=x y", "malformed form encoding at offset 7 "},
        {"a=1&b=\x80", "malformed form encoding at offset 6 "},
        {"a=1&=x", "form parameter name empty or longer than 64 bytes at offset 4"},
        {"grant_type=a&grant_type=b", "parameter grant_type given more than once (offset 13)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        form f;
        char why[200] = "";
        int rc = form_parse(cases[i].body, strlen(cases[i].body), &f, why, sizeof why);
        form_free(&f);
        if (rc != -1 || strncmp(why, cases[i].want, strlen(cases[i].want)))
            fail_msg("<%s>: rc %d why <%s>, want <%s>", cases[i].body, rc, why, cases[i].want);
    }
}

static void limits(void **state)
{
    (void)state;
    char body[8192];
    size_t n = 0;
    for (int i = 0; i < FORM_MAX_PARAMS; i++)
        n += (size_t)snprintf(body + n, sizeof body - n, "%sresource=%d", i ? "&" : "", i);
    form f;
    char why[200];
    assert_int_equal(form_parse(body, n, &f, why, sizeof why), 0);
    form_free(&f);
    n += (size_t)snprintf(body + n, sizeof body - n, "&x=1");
    assert_int_equal(form_parse(body, n, &f, why, sizeof why), -1);
    assert_non_null(strstr(why, "more than 64 form parameters"));
    form_free(&f);
    /* names: 64 bytes, not 65 */
    memset(body, 'n', 65);
    body[65] = '=';
    assert_int_equal(form_parse(body + 1, 65, &f, why, sizeof why), 0);
    form_free(&f);
    assert_int_equal(form_parse(body, 66, &f, why, sizeof why), -1);
    form_free(&f);
}

static void scope_and_ttl(void **state)
{
    (void)state;
    static req_scope rs;
    char why[200];
    form f;
    const char *body = "scope=+read++write+&resource=r1&destination=d&sensitivity=internal&purpose=p&ttl=60";
    assert_int_equal(form_parse(body, strlen(body), &f, why, sizeof why), 0);
    assert_int_equal(form_scope(&f, NULL, &rs, why, sizeof why), 0);
    assert_true(rs.given);
    assert_int_equal(rs.sc.n_actions, 2);
    assert_string_equal(rs.sc.actions[1], "write");
    assert_int_equal(rs.sc.n_resources, 1);
    assert_int_equal(rs.sc.n_destinations, 1);
    assert_string_equal(rs.sc.sensitivity, "internal");
    assert_string_equal(rs.sc.purpose, "p");
    uint32_t ttl;
    assert_int_equal(form_ttl(&f, 900, &ttl, why, sizeof why), 0);
    assert_int_equal(ttl, 60);
    assert_int_equal(form_ttl(&f, 59, &ttl, why, sizeof why), -1);
    form_free(&f);

    /* the base is kept where the form says nothing */
    const char *acts[] = {"a"};
    writ_task_scope base = {.purpose = "bp", .actions = acts, .n_actions = 1};
    body = "x=1";
    assert_int_equal(form_parse(body, strlen(body), &f, why, sizeof why), 0);
    assert_int_equal(form_scope(&f, &base, &rs, why, sizeof why), 0);
    assert_false(rs.given);
    assert_string_equal(rs.sc.purpose, "bp");
    assert_int_equal(form_ttl(&f, 900, &ttl, why, sizeof why), 0);
    assert_int_equal(ttl, 0);
    form_free(&f);

    static const char *const bad[] = {"scope=+", "sensitivity=secret", "ttl=0", "ttl=1x", "ttl=1234567890",
                                      "ttl="};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(form_parse(bad[i], strlen(bad[i]), &f, why, sizeof why), 0);
        if (!form_scope(&f, NULL, &rs, why, sizeof why) && !form_ttl(&f, 900, &ttl, why, sizeof why))
            fail_msg("<%s> accepted", bad[i]);
        form_free(&f);
    }
}

/* form_lower: every value of that name, nothing else */
static void lower(void **state)
{
    (void)state;
    char why[200];
    form f;
    const char *body = "destination=Ext.Example&scope=READ&destination=%41b-C%2Fd";
    assert_int_equal(form_parse(body, strlen(body), &f, why, sizeof why), 0);
    form_lower(&f, "destination");
    const char *d[2];
    size_t n;
    assert_int_equal(form_list(&f, "destination", d, 2, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(d[0], "ext.example");
    assert_string_equal(d[1], "ab-c/d");
    assert_string_equal(form_get(&f, "scope"), "READ");
    form_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses),
        cmocka_unit_test(errors),
        cmocka_unit_test(limits),
        cmocka_unit_test(scope_and_ttl),
        cmocka_unit_test(lower),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
