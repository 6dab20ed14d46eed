/* test_shadow.c - the would-be answer of @mode("shadow") policies, computed
 * from the shadow policies alone (src/shadow/shadow.c), against the answer
 * of the whole file with every policy enforced, over every combination of
 * the conditions; and the candidate set's disagreements. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "shadow/shadow.h"
#include "util/alloc.h"
#include "util/sbuf.h"
#include "writ/cedar.h"

static const char file[] =
    "@id(\"p-a\") permit (principal, action, resource) when { context.a };\n"
    "@id(\"f-b\") forbid (principal, action, resource) when { context.b };\n"
    "@id(\"s-p-c\") @mode(\"shadow\") permit (principal, action, resource) when { context.c };\n"
    "@id(\"s-f-d\") @mode(\"shadow\") forbid (principal, action, resource) when { context.d };\n"
    "@mode(\"shadow\") forbid (principal, action, resource) when { context.a && context.c && !context.d };\n"
    "@id(\"s-err\") @mode(\"shadow\") permit (principal, action, resource) when { context.nope };\n"
    "@id(\"p-err\") permit (principal, action, resource) when { context.missing };\n"
    "@id(\"s-p-ac\") @mode(\"enforce\") permit (principal, action, resource) when { context.a && context.c "
    "};\n";

static writ_policyset *parse(const char *t, unsigned flags)
{
    writ_policyset *ps = NULL;
    writ_error err;
    if (writ_policyset_parse_flags(t, strlen(t), flags, &ps, &err))
        fail_msg("parse: %s", err.msg);
    return ps;
}

static writ_request *request(int bits)
{
    char j[400];
    snprintf(j, sizeof j,
             "{\"principal\":\"A::\\\"a\\\"\",\"action\":\"Action::\\\"r\\\"\",\"resource\":\"R::\\\"r\\\"\","
             "\"context\":{\"a\":%s,\"b\":%s,\"c\":%s,\"d\":%s}}",
             bits & 1 ? "true" : "false", bits & 2 ? "true" : "false", bits & 4 ? "true" : "false",
             bits & 8 ? "true" : "false");
    writ_request *rq = NULL;
    writ_error err;
    if (writ_request_parse(j, strlen(j), NULL, false, &rq, &err))
        fail_msg("request: %s", err.msg);
    return rq;
}

static void expected(sbuf *b, const writ_decision *d, const char *set)
{
    sb_printf(b, "{\"decision\":\"%s\",\"policies\":[", d->allow ? "allow" : "deny");
    for (size_t i = 0; i < d->nreasons; i++) {
        if (i)
            sb_putc(b, ',');
        sb_json_str(b, d->reasons[i]);
    }
    sb_printf(b, "]%s}", set);
}

static void test_would_be_exact(void **state)
{
    (void)state;
    writ_policyset *live = parse(file, WRIT_PS_ID_ANNOTATION | WRIT_PS_EXCLUDE_SHADOW);
    writ_policyset *all = parse(file, WRIT_PS_ID_ANNOTATION); /* every policy enforced */
    shd_set *sh = NULL;
    writ_error err;
    assert_int_equal(shd_load_live(file, strlen(file), &sh, &err), WRIT_OK);
    assert_non_null(sh);
    writ_entities *es = NULL;
    assert_int_equal(writ_entities_parse("[]", 2, NULL, &es, &err), WRIT_OK);
    writ_authorizer *az_live = writ_authorizer_new(), *az_all = writ_authorizer_new();
    int changes = 0;
    for (int bits = 0; bits < 16; bits++) {
        writ_request *rq = request(bits);
        writ_decision dl, da;
        assert_int_equal(writ_authorize(az_live, live, es, rq, &dl), WRIT_OK);
        assert_int_equal(writ_authorize(az_all, all, es, rq, &da), WRIT_OK);
        char *got = shd_decide(sh, es, rq, &dl);
        if (da.allow == dl.allow) {
            if (got)
                fail_msg("context %d: no change expected, got %s", bits, got);
        } else {
            sbuf want;
            sb_init(&want);
            expected(&want, &da, "");
            if (!got || strcmp(got, want.p))
                fail_msg("context %d: want %s got %s", bits, want.p, got ? got : "(none)");
            sb_free(&want);
            changes++;
        }
        wr_free(got);
        writ_request_free(rq);
    }
    assert_true(changes >= 4); /* both directions occur */
    writ_authorizer_free(az_live);
    writ_authorizer_free(az_all);
    writ_entities_free(es);
    writ_policyset_free(live);
    writ_policyset_free(all);
    shd_free(sh);
}

static void test_candidate(void **state)
{
    (void)state;
    const char *live_text = "@id(\"p-a\") permit (principal, action, resource) when { context.a };\n";
    const char *cand = "@id(\"c-b\") permit (principal, action, resource) when { context.b };\n"
                       "@id(\"c-s\") @mode(\"shadow\") forbid (principal, action, resource);\n";
    writ_policyset *live = parse(live_text, WRIT_PS_ID_ANNOTATION | WRIT_PS_EXCLUDE_SHADOW);
    shd_set *sh = NULL;
    writ_error err;
    assert_int_equal(shd_load_live(live_text, strlen(live_text), &sh, &err), WRIT_OK);
    assert_null(sh); /* nothing to shadow yet */
    assert_int_equal(shd_load_candidate(&sh, cand, strlen(cand), &err), WRIT_OK);
    assert_non_null(sh);
    writ_entities *es = NULL;
    assert_int_equal(writ_entities_parse("[]", 2, NULL, &es, &err), WRIT_OK);
    writ_authorizer *az = writ_authorizer_new();
    static const char *const want[4] = {
        NULL,                                                                    /* neither: both deny */
        "{\"decision\":\"deny\",\"policies\":[],\"set\":\"candidate\"}",         /* a: live allows */
        "{\"decision\":\"allow\",\"policies\":[\"c-b\"],\"set\":\"candidate\"}", /* b: the candidate allows */
        NULL,                                                                    /* both allow */
    };
    for (int bits = 0; bits < 4; bits++) {
        writ_request *rq = request(bits);
        writ_decision dl;
        assert_int_equal(writ_authorize(az, live, es, rq, &dl), WRIT_OK);
        char *got = shd_decide(sh, es, rq, &dl);
        if (!want[bits] ? got != NULL : (!got || strcmp(got, want[bits])))
            fail_msg("context %d: want %s got %s", bits, want[bits] ? want[bits] : "(none)",
                     got ? got : "(none)");
        wr_free(got);
        writ_request_free(rq);
    }
    /* a candidate that does not parse: an error with its position */
    const char *bad =
        "permit (principal, action, resource);\n@id(\"\") forbid (principal, action, resource);";
    memset(&err, 0, sizeof err);
    assert_int_equal(shd_load_candidate(&sh, bad, strlen(bad), &err), WRIT_EPARSE);
    assert_int_equal(err.line, 2);
    writ_authorizer_free(az);
    writ_entities_free(es);
    writ_policyset_free(live);
    shd_free(sh);
}

/* denies (forbid_error_denies): a forbid that fails to evaluate counts as
 * one that holds, among the shadow policies and in the candidate; without
 * it (Cedar's rule) such a forbid changes nothing. */
static void test_forbid_error_denies(void **state)
{
    (void)state;
    const char *live_text =
        "@id(\"p-a\") permit (principal, action, resource) when { context.a };\n"
        "@id(\"s-f\") @mode(\"shadow\") forbid (principal, action, resource) when { context.nope };\n";
    const char *cand =
        "@id(\"p-a\") permit (principal, action, resource) when { context.a };\n"
        "@id(\"c-f\") forbid (principal, action, resource) when { context.b && context.nope };\n";
    writ_policyset *live = parse(live_text, WRIT_PS_ID_ANNOTATION | WRIT_PS_EXCLUDE_SHADOW);
    shd_set *sh = NULL;
    writ_error err;
    assert_int_equal(shd_load_live(live_text, strlen(live_text), &sh, &err), WRIT_OK);
    assert_int_equal(shd_load_candidate(&sh, cand, strlen(cand), &err), WRIT_OK);
    writ_entities *es = NULL;
    assert_int_equal(writ_entities_parse("[]", 2, NULL, &es, &err), WRIT_OK);
    writ_authorizer *az = writ_authorizer_new();
    /* a and b: live allows; the shadow forbid fails (so would deny), and so
     * does the candidate's (so it denies) */
    writ_request *rq = request(3);
    writ_decision dl;
    assert_int_equal(writ_authorize(az, live, es, rq, &dl), WRIT_OK);
    assert_true(dl.allow);
    char *got = shd_decide_after(sh, NULL, es, rq, &dl, true);
    assert_non_null(got);
    assert_string_equal(got, "{\"decision\":\"deny\",\"policies\":[\"s-f\"],\"candidate\":"
                             "{\"decision\":\"deny\",\"policies\":[\"c-f\"],\"set\":\"candidate\"}}");
    wr_free(got);
    assert_null(shd_decide_after(sh, NULL, es, rq, &dl, false)); /* Cedar's rule: both skipped */
    writ_request_free(rq);
    /* a alone: the candidate's forbid is false before it reads nope (&&
     * short-circuits): no failure, it agrees; the shadow forbid still fails */
    rq = request(1);
    assert_int_equal(writ_authorize(az, live, es, rq, &dl), WRIT_OK);
    got = shd_decide_after(sh, NULL, es, rq, &dl, true);
    assert_non_null(got);
    assert_string_equal(got, "{\"decision\":\"deny\",\"policies\":[\"s-f\"]}");
    wr_free(got);
    writ_request_free(rq);
    writ_authorizer_free(az);
    writ_entities_free(es);
    writ_policyset_free(live);
    shd_free(sh);
}

static void test_metrics(void **state)
{
    (void)state;
    sbuf o;
    sb_init(&o);
    shd_metrics(&o);
    assert_true(sb_ok(&o));
    /* the policies of the sets loaded above are listed, the unnamed one by policyN */
    assert_non_null(strstr(o.p, "writ_shadow_changes_total{policy=\"s-f-d\"}"));
    assert_non_null(strstr(o.p, "writ_shadow_changes_total{policy=\"policy4\"}"));
    assert_non_null(strstr(o.p, "writ_shadow_set_disagreements_total 2\n"));
    sb_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_would_be_exact),
        cmocka_unit_test(test_candidate),
        cmocka_unit_test(test_metrics), /* counts what the tests before it did */
        cmocka_unit_test(test_forbid_error_denies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
