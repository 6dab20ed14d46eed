/* test_jsonsplit.c - the AuthZEN body read with its context straight into
 * Cedar values (cedar_json_fast_split, jsonfast.c), against the usual
 * reading (cedar_json_load, then cedar_json_context): every text it accepts
 * reads to the same tree (the context's plain members as json null) and
 * the same Cedar context; every text whose Cedar reading could fail, or
 * that is outside its subset, is declined, so the server reads it the
 * usual way with the usual errors.  fuzz/fuzz_jsonsplit.c runs the same
 * check (fuzz/jsonsplit_check.h) on any input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../fuzz/jsonsplit_check.h"
#include "cedar/reqbuild.h"
#include "writ/cedar.h"

static void failed(const char *why) { fail_msg("%s", why); }

static void accepted(const char *t)
{
    if (!split_check(t, strlen(t), failed))
        fail_msg("declined: %s", t);
}

static void declined(const char *t)
{
    if (split_check(t, strlen(t), failed))
        fail_msg("accepted: %s", t);
}

#define BODY(ctx)                                                                                            \
    "{\"subject\":{\"type\":\"Agent\",\"id\":\"a\"},\"action\":{\"name\":\"read\"},\"resource\":{\"type\":"  \
    "\"Tool\",\"id\":\"t\"},\"context\":" ctx "}"

static void test_bench_bodies(void **state)
{
    (void)state;
    /* bench/server's bodies, as gen_bodies.mjs writes them */
    accepted(
        "{\"subject\":{\"type\":\"Agent\",\"id\":\"agent-4\"},\"action\":{\"name\":\"read\"},\"resource\":{"
        "\"type\":\"Tool\",\"id\":\"tool-10\"},\"context\":{\"purpose\":\"billing reconciliation\","
        "\"destination\":\"db.internal.example.com\",\"source_ip\":\"10.1.139.177\",\"amount\":{\"__extn\":{"
        "\"fn\":\"decimal\",\"arg\":\"1032.50\"}},\"hour\":7,\"mfa\":true,\"session_tags\":[],\"time\":"
        "\"2025-"
        "07-25T13:00:00Z\",\"justification\":\"see INC-891\",\"chain\":[{\"__entity\":{\"type\":\"Agent\","
        "\"id\":\"agent-3\"}},{\"__entity\":{\"type\":\"Agent\",\"id\":\"agent-12\"}}],\"chain_depth\":2}}");
    /* pretty-printed, members in another order, options outside the context */
    accepted(
        " {\n\t\"context\" : { \"a\" : [ 1 , -2 , \"x\" ] ,\r\n \"b\" : { } } , \"options\" : {\"explain\""
        ":true}, \"subject\":{\"type\":\"User\",\"id\":\"alice\"}} \n");
}

static void test_values(void **state)
{
    (void)state;
    accepted(BODY("{}"));
    accepted(BODY("{\"n\":0,\"m\":-123456789012345678,\"t\":true,\"f\":false,\"s\":\"\"}"));
    accepted(BODY("{\"s\":\"caf\xc3\xa9 \\\"q\\\" \\\\ \\/ \\n\\t\"}"));
    accepted(BODY("{\"set\":[1,1,2,[3,[4]],{\"r\":{\"deep\":[true]}}],\"empty\":[]}"));
    accepted(BODY(
        "{\"e\":{\"__entity\":{\"id\":\"x\",\"type\":\"Ns::Agent\"}},\"x\":{\"__extn\":{\"arg\":"
        "\"10.0.0.0/8\",\"fn\":\"ip\"}},\"d\":{\"__extn\":{\"fn\":\"datetime\",\"arg\":\"2025-01-01\"}}}"));
    /* the kept members stay JSON (even values Cedar refuses; a real is outside the
     * quick reader's subset: declined, as in cedar_json_fast) */
    accepted(BODY("{\"destination\":null,\"task\":{\"id\":\"t1\",\"purpose\":7},\"chain\":[\"a\",null],"
                  "\"input\":{\"k\":[1,null]},\"x\":1}"));
    accepted(BODY("{\"rec\":{\"__entityx\":1,\"a__extn\":2}}"));
}

static void test_declined(void **state)
{
    (void)state;
    /* Cedar refuses, or might refuse, the value: the usual reading says why */
    declined(BODY("{\"n\":null}"));
    declined(BODY("{\"r\":1.5}"));
    declined(BODY("{\"r\":1e3}"));
    declined(BODY("{\"big\":1234567890123456789}"));
    declined(BODY("{\"e\":{\"__entity\":{\"type\":\"not a type\",\"id\":\"x\"}}}"));
    declined(BODY("{\"e\":{\"__entity\":{\"type\":\"A\",\"id\":\"x\",\"more\":1}}}"));
    declined(BODY("{\"e\":{\"__entity\":{\"type\":\"A\"}}}"));
    declined(BODY("{\"e\":{\"__entity\":\"A::\\\"x\\\"\"}}"));
    declined(BODY("{\"e\":{\"__entity\":{\"type\":\"A\",\"id\":\"x\"},\"other\":1}}"));
    declined(BODY("{\"e\":{\"other\":1,\"__entity\":{\"type\":\"A\",\"id\":\"x\"}}}"));
    declined(BODY("{\"x\":{\"__extn\":{\"fn\":\"ip\",\"arg\":\"not an address\"}}}"));
    declined(BODY("{\"x\":{\"__extn\":{\"fn\":\"nofn\",\"arg\":\"1\"}}}"));
    declined(BODY("{\"x\":{\"__extn\":{\"fn\":\"decimal\",\"args\":[\"1.0\"]}}}"));
    declined(BODY("{\"__entity\":{\"type\":\"A\",\"id\":\"x\"}}"));
    declined(BODY("{\"__extn\":{\"fn\":\"ip\",\"arg\":\"1.2.3.4\"}}"));
    declined(BODY("{\"d\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}"));
    /* outside the subset, or not the shape */
    declined(BODY("{\"u\":\"\\u0000\"}"));
    declined(BODY("{\"a\":1,\"a\":2}"));
    declined(BODY("null"));
    declined(BODY("[1]"));
    declined("{\"subject\":{\"type\":\"A\",\"id\":\"x\"}}");
    declined("{\"context\":{},\"context\":{}}");
    declined("[{\"context\":{}}]");
    declined("{\"context\":{\"a\":1}");
    declined("{\"context\":{\"a\":1}} x");
    declined("");
    /* 64 members at one level are read; 65 are the usual reader's */
    char big[2048];
    size_t at = (size_t)snprintf(big, sizeof big, "{\"context\":{");
    for (int i = 0; i < 65; i++)
        at += (size_t)snprintf(big + at, sizeof big - at, "%s\"k%d\":%d", i ? "," : "", i, i);
    snprintf(big + at, sizeof big - at, "}}");
    declined(big);
    at = (size_t)snprintf(big, sizeof big, "{\"context\":{");
    for (int i = 0; i < 64; i++)
        at += (size_t)snprintf(big + at, sizeof big - at, "%s\"k%d\":%d", i ? "," : "", i, i);
    snprintf(big + at, sizeof big - at, "}}");
    accepted(big);
}

/* The context after the decision path's edits: a member deleted (history),
 * a placeholder replaced (a fact), a member added: read as the edited tree
 * says, the untouched placeholders from the split. */
static void test_subst_edits(void **state)
{
    (void)state;
    const char *t = BODY("{\"history\":{\"n\":1},\"source_ip\":\"1.2.3.4\",\"hour\":7,\"chain\":[\"a\"]}");
    wr_arena *a = wr_arena_new(0);
    cedar_json_split sp = {.arena = a, .key = "context", .keep = split_keep_test};
    json_t *j = cedar_json_fast_split(t, strlen(t), &sp);
    assert_non_null(j);
    json_t *ctx = json_object_get(j, "context");
    assert_int_equal(json_object_del(ctx, "history"), 0);
    assert_int_equal(json_object_set_new(ctx, "source_ip", json_integer(5)), 0);
    assert_int_equal(json_object_set_new(ctx, "time", json_string("now")), 0);
    const cv_record *r;
    writ_error err;
    assert_int_equal(cedar_json_context_subst(a, ctx, sp.base, &r, &err), WRIT_OK);
    assert_null(cv_record_get(r, "history", 7));
    const cv_value *v = cv_record_get(r, "source_ip", 9);
    assert_true(v && v->type == CV_LONG && v->u.l == 5);
    v = cv_record_get(r, "hour", 4);
    assert_true(v && v->type == CV_LONG && v->u.l == 7);
    v = cv_record_get(r, "time", 4);
    assert_true(v && v->type == CV_STRING && v->u.s->len == 3);
    v = cv_record_get(r, "chain", 5);
    assert_true(v && v->type == CV_SET);
    /* a kept member Cedar refuses is the usual error */
    assert_int_equal(json_object_set_new(ctx, "destination", json_null()), 0);
    assert_int_not_equal(cedar_json_context_subst(a, ctx, sp.base, &r, &err), WRIT_OK);
    assert_non_null(strstr(err.msg, "attribute `destination`"));
    json_decref(j);
    wr_arena_free(a);
}

/* The public pair the server uses: a reusable writ_split and
 * writ_request_fill_split, against writ_request_fill. */
static void test_public_api(void **state)
{
    (void)state;
    const char *t =
        BODY("{\"a\":{\"__extn\":{\"fn\":\"decimal\",\"arg\":\"1.5\"}},\"b\":[\"x\"],\"task\":{\"id\":"
             "\"t\"}}");
    writ_split *sp = writ_split_new();
    assert_non_null(sp);
    static const char *const keep[] = {"task", NULL};
    for (int round = 0; round < 3; round++) {
        json_t *j = writ_json_parse_split(sp, t, strlen(t), "context", keep);
        assert_non_null(j);
        writ_error err;
        json_t *u = writ_json_parse(t, strlen(t), &err);
        assert_non_null(u);
        writ_uid_parts p = {"", 0, "Agent", 5, "a", 1}, ac = {"", 0, "Action", 6, "read", 4},
                       r = {"", 0, "Tool", 4, "t", 1};
        writ_request *q1 = writ_request_reusable(), *q2 = writ_request_reusable();
        assert_int_equal(writ_request_fill_split(q1, &p, &ac, &r, json_object_get(j, "context"), sp, &err),
                         0);
        assert_int_equal(writ_request_fill(q2, NULL, false, &p, &ac, &r, json_object_get(u, "context"), &err),
                         0);
        cv_value v1 = {.type = CV_RECORD}, v2 = {.type = CV_RECORD};
        v1.u.rec = q1->context;
        v2.u.rec = q2->context;
        assert_true(cv_equal(v1, v2));
        writ_request_free(q1);
        writ_request_free(q2);
        json_decref(j);
        json_decref(u);
    }
    assert_null(writ_json_parse_split(sp, "{\"context\":{\"n\":null}}", 22, "context", keep));
    writ_split_free(sp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bench_bodies), cmocka_unit_test(test_values),
        cmocka_unit_test(test_declined),     cmocka_unit_test(test_subst_edits),
        cmocka_unit_test(test_public_api),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
