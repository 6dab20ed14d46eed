/* test_policy_ids.c - policies named by @id (WRIT_PS_ID_ANNOTATION), and the
 * default naming the conformance corpus expects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "writ/cedar.h"

static const char set[] = "@id(\"read-own\")\n"
                          "permit (principal, action, resource);\n"
                          "forbid (principal, action, resource) when { context.x };\n"
                          "@id(\"no-x\") @mode(\"shadow\")\n"
                          "forbid (principal, action, resource);\n";

static void test_default_is_positional(void **state)
{
    (void)state;
    writ_policyset *ps = NULL;
    writ_error err;
    assert_int_equal(writ_policyset_parse(set, strlen(set), &ps, &err), WRIT_OK);
    assert_string_equal(writ_policyset_id(ps, 0), "policy0");
    assert_string_equal(writ_policyset_id(ps, 1), "policy1");
    assert_string_equal(writ_policyset_id(ps, 2), "policy2");
    writ_policyset_free(ps);
}

static void test_annotated_ids(void **state)
{
    (void)state;
    writ_policyset *ps = NULL;
    writ_error err;
    assert_int_equal(writ_policyset_parse_flags(set, strlen(set), WRIT_PS_ID_ANNOTATION, &ps, &err), WRIT_OK);
    assert_string_equal(writ_policyset_id(ps, 0), "read-own");
    assert_string_equal(writ_policyset_id(ps, 1), "policy1");
    assert_string_equal(writ_policyset_id(ps, 2), "no-x");
    assert_string_equal(writ_policyset_annotation(ps, 2, "mode"), "shadow");

    /* the decision names them so */
    writ_entities *es = NULL;
    writ_request *rq = NULL;
    const char *rj =
        "{\"principal\":\"A::\\\"a\\\"\",\"action\":\"Action::\\\"r\\\"\",\"resource\":\"R::\\\"r\\\"\","
        "\"context\":{\"x\":false}}";
    assert_int_equal(writ_entities_parse("[]", 2, NULL, &es, &err), WRIT_OK);
    assert_int_equal(writ_request_parse(rj, strlen(rj), NULL, false, &rq, &err), WRIT_OK);
    writ_authorizer *az = writ_authorizer_new();
    writ_decision d;
    assert_int_equal(writ_authorize(az, ps, es, rq, &d), WRIT_OK);
    assert_false(d.allow);
    assert_int_equal(d.nreasons, 1);
    assert_string_equal(d.reasons[0], "no-x");
    writ_authorizer_free(az);
    writ_request_free(rq);
    writ_entities_free(es);
    writ_policyset_free(ps);
}

static void bad(const char *src, writ_status code, unsigned line, unsigned col, const char *frag)
{
    writ_policyset *ps = NULL;
    writ_error err;
    memset(&err, 0, sizeof err);
    writ_status st = writ_policyset_parse_flags(src, strlen(src), WRIT_PS_ID_ANNOTATION, &ps, &err);
    assert_null(ps);
    if (st != code || err.line != line || err.col != col || !strstr(err.msg, frag))
        fail_msg("<%s>: got %d at %u:%u <%s>, want %d at %u:%u <%s>", src, st, err.line, err.col, err.msg,
                 code, line, col, frag);
}

static void test_refused(void **state)
{
    (void)state;
    bad("@id(\"a\") permit (principal, action, resource);\n@id(\"a\") forbid (principal, action, resource);",
        WRIT_EDUP, 2, 1, "duplicate @id(\"a\"): the policy at 1:1 has it too");
    bad("permit (principal, action, resource);\n@id(\"policy0\") forbid (principal, action, resource);",
        WRIT_EDUP, 2, 1, "@id(\"policy0\") is the id of the unannotated policy at 1:1");
    bad("@id(\"policy1\") permit (principal, action, resource);\nforbid (principal, action, resource);",
        WRIT_EDUP, 2, 1, "the id policy1 of this unannotated policy is the @id of the policy at 1:1");
    bad("permit (principal, action, resource);\n  @id(\"\") forbid (principal, action, resource);",
        WRIT_EPARSE, 2, 3, "@id is empty");
    bad("@id(\"a\\0b\") permit (principal, action, resource);", WRIT_EPARSE, 1, 1, "@id holds a NUL");
    /* the same texts are fine without the flag (positional ids) */
    writ_policyset *ps = NULL;
    writ_error err;
    const char *dup =
        "@id(\"a\") permit (principal, action, resource);\n@id(\"a\") forbid (principal, action, resource);";
    assert_int_equal(writ_policyset_parse(dup, strlen(dup), &ps, &err), WRIT_OK);
    writ_policyset_free(ps);
}

static void test_exclude_shadow(void **state)
{
    (void)state;
    writ_policyset *ps = NULL;
    writ_error err;
    assert_int_equal(writ_policyset_parse_flags(set, strlen(set),
                                                WRIT_PS_ID_ANNOTATION | WRIT_PS_EXCLUDE_SHADOW, &ps, &err),
                     WRIT_OK);
    assert_int_equal(writ_policyset_count(ps), 2);
    assert_string_equal(writ_policyset_id(ps, 0), "read-own");
    assert_string_equal(writ_policyset_id(ps, 1), "policy1");
    writ_policyset_free(ps);
    /* positional ids stay those of the whole text */
    const char *t = "@mode(\"shadow\") permit (principal, action, resource);\n"
                    "@mode(\"enforce\") forbid (principal, action, resource);";
    assert_int_equal(writ_policyset_parse_flags(t, strlen(t), WRIT_PS_EXCLUDE_SHADOW, &ps, &err), WRIT_OK);
    assert_int_equal(writ_policyset_count(ps), 1);
    assert_string_equal(writ_policyset_id(ps, 0), "policy1");
    writ_policyset_free(ps);
    const char *typo =
        "permit (principal, action, resource);\n@mode(\"shdow\") forbid (principal, action, resource);";
    memset(&err, 0, sizeof err);
    assert_int_equal(writ_policyset_parse_flags(typo, strlen(typo), WRIT_PS_EXCLUDE_SHADOW, &ps, &err),
                     WRIT_EPARSE);
    assert_null(ps);
    assert_int_equal(err.line, 2);
    assert_non_null(strstr(err.msg, "not \"shdow\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_is_positional),
        cmocka_unit_test(test_annotated_ids),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_exclude_shadow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
