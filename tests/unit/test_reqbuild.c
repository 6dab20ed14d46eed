/* test_reqbuild.c - requests built from parts (cedar/reqbuild.h) decide as
 * the same request read from JSON text does; a reusable request refills
 * cleanly after successes, failures and allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cedar/json.h"
#include "cedar/reqbuild.h"
#include "cedar/request.h"
#include "util/arena.h"
#include "util/alloc.h"
#include "writ/cedar.h"

#include "alloc_count.h"

static const char schema_text[] =
    "namespace N { entity Team; entity User in [Team] { level: Long }; entity Doc { owner: User };"
    " action read appliesTo { principal: User, resource: Doc, context: { ip: ipaddr, n: Long } }; }";
static const char policies[] =
    "permit (principal in N::Team::\"eng\", action == N::Action::\"read\", resource)"
    "  when { context.ip.isInRange(ip(\"10.0.0.0/8\")) && principal.level >= context.n };"
    "forbid (principal, action, resource) when { resource.owner == principal && context.n > 5 };";
static const char entities[] =
    "[{\"uid\":{\"type\":\"N::Team\",\"id\":\"eng\"},\"attrs\":{},\"parents\":[]},"
    " {\"uid\":{\"type\":\"N::User\",\"id\":\"al\"},\"attrs\":{\"level\":3},"
    "  \"parents\":[{\"type\":\"N::Team\",\"id\":\"eng\"}]},"
    " {\"uid\":{\"type\":\"N::Doc\",\"id\":\"d\"},\"attrs\":{\"owner\":{\"type\":\"N::User\",\"id\":\"al\"}},"
    "  \"parents\":[]}]";

typedef struct fx {
    writ_schema *s;
    writ_policyset *ps;
    writ_entities *es;
    writ_authorizer *az;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    writ_error err;
    assert_int_equal(writ_schema_parse(schema_text, strlen(schema_text), &f->s, &err), WRIT_OK);
    assert_int_equal(writ_policyset_parse(policies, strlen(policies), &f->ps, &err), WRIT_OK);
    assert_int_equal(writ_entities_parse(entities, strlen(entities), f->s, &f->es, &err), WRIT_OK);
    f->az = writ_authorizer_new();
    assert_non_null(f->az);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    writ_authorizer_free(f->az);
    writ_entities_free(f->es);
    writ_policyset_free(f->ps);
    writ_schema_free(f->s);
    free(f);
    return 0;
}

static cedar_uid_parts parts(const char *prefix, const char *type, const char *id)
{
    cedar_uid_parts u = {prefix, strlen(prefix), type, strlen(type), id, strlen(id)};
    return u;
}

/* Decide with a built request and with writ_request_parse on the same
 * request as text; both must agree (status, decision, reasons). */
static void same(fx *f, writ_request *rq, const char *user, const char *doc, const char *ctx,
                 writ_status want_st, int want_allow)
{
    cedar_uid_parts p = parts("N::", "User", user), a = parts("", "N::Action", "read"),
                    r = parts("N::", "Doc", doc);
    writ_error err;
    json_t *cj = ctx ? cedar_json_load(ctx, strlen(ctx), &err) : NULL;
    writ_status st = cedar_request_fill(rq, f->s, true, &p, &a, &r, cj, &err);
    assert_int_equal(st, want_st);

    char text[512];
    snprintf(text, sizeof text,
             "{\"principal\":{\"type\":\"N::User\",\"id\":\"%s\"},\"action\":{\"type\":\"N::Action\",\"id\":"
             "\"read\"},"
             "\"resource\":{\"type\":\"N::Doc\",\"id\":\"%s\"}%s%s}",
             user, doc, ctx ? ",\"context\":" : "", ctx ? ctx : "");
    writ_request *rq2 = NULL;
    writ_error err2;
    assert_int_equal(writ_request_parse(text, strlen(text), f->s, true, &rq2, &err2), want_st);
    if (want_st) {
        assert_string_equal(err.msg, err2.msg);
        json_decref(cj);
        return;
    }
    writ_decision d1, d2;
    assert_int_equal(writ_authorize(f->az, f->ps, f->es, rq, &d1), WRIT_OK);
    bool allow1 = d1.allow;
    size_t n1 = d1.nreasons;
    char r1[64] = "";
    if (n1)
        snprintf(r1, sizeof r1, "%s", d1.reasons[0]);
    assert_int_equal(writ_authorize(f->az, f->ps, f->es, rq2, &d2), WRIT_OK);
    assert_int_equal(allow1, d2.allow);
    assert_int_equal(allow1, want_allow);
    assert_int_equal(n1, d2.nreasons);
    if (n1)
        assert_string_equal(r1, d2.reasons[0]);
    writ_request_free(rq2);
    json_decref(cj);
}

static void test_same_as_json(void **state)
{
    fx *f = *state;
    writ_request *rq = cedar_request_reusable();
    assert_non_null(rq);
    same(f, rq, "al", "d", "{\"ip\":\"10.1.2.3\",\"n\":2}", WRIT_OK, 1);
    same(f, rq, "al", "d", "{\"ip\":\"192.168.0.1\",\"n\":2}", WRIT_OK, 0);
    same(f, rq, "al", "d", "{\"ip\":\"10.1.2.3\",\"n\":7}", WRIT_OK, 0);  /* forbid */
    same(f, rq, "bob", "d", "{\"ip\":\"10.1.2.3\",\"n\":0}", WRIT_OK, 0); /* not in the store */
    /* failures leave the request empty and the next fill works */
    same(f, rq, "al", "d", "{\"ip\":\"nope\",\"n\":2}", WRIT_EVALIDATE, 0);
    same(f, rq, "al", "d", "{\"ip\":\"10.1.2.3\"}", WRIT_EVALIDATE, 0);
    same(f, rq, "al", "d", NULL, WRIT_EVALIDATE, 0);
    same(f, rq, "al", "d", "{\"ip\":\"10.1.2.3\",\"n\":2}", WRIT_OK, 1);
    writ_request_free(rq);
}

static void test_bad_parts(void **state)
{
    fx *f = *state;
    writ_request *rq = cedar_request_reusable();
    writ_error err;
    cedar_uid_parts p = parts("N::", "Us er", "al"), a = parts("", "N::Action", "read"),
                    r = parts("N::", "Doc", "d");
    assert_int_equal(cedar_request_fill(rq, f->s, false, &p, &a, &r, NULL, &err), WRIT_EJSON);
    assert_non_null(strstr(err.msg, "principal: `N::Us er` is not a valid entity type name"));
    p = parts("N::", "Robot", "r");
    assert_int_equal(cedar_request_fill(rq, f->s, true, &p, &a, &r, NULL, &err), WRIT_EVALIDATE);
    /* ids may hold any bytes, NUL included */
    cedar_uid_parts q = {"N::", 3, "User", 4, "a\0b", 3};
    json_t *cj = cedar_json_load("{\"ip\":\"10.0.0.1\",\"n\":0}", 23, &err);
    assert_int_equal(cedar_request_fill(rq, f->s, true, &q, &a, &r, cj, &err), WRIT_OK);
    writ_decision d;
    assert_int_equal(writ_authorize(f->az, f->ps, f->es, rq, &d), WRIT_OK);
    assert_false(d.allow);
    json_decref(cj);
    writ_request_free(rq);
}

static void test_properties(void **state)
{
    fx *f = *state;
    writ_request *rq = cedar_request_reusable();
    writ_error err;
    cedar_uid_parts p = parts("N::", "User", "al"), a = parts("", "N::Action", "read"),
                    r = parts("N::", "Doc", "d");
    json_t *cj = cedar_json_load("{\"ip\":\"10.0.0.1\",\"n\":4}", 23, &err);
    json_t *props = cedar_json_load("{\"level\":9}", 11, &err);
    writ_decision d;
    for (int round = 0; round < 3; round++) {
        assert_int_equal(cedar_request_fill(rq, f->s, true, &p, &a, &r, cj, &err), WRIT_OK);
        assert_int_equal(writ_authorize(f->az, f->ps, f->es, rq, &d), WRIT_OK);
        assert_false(d.allow); /* level 3 < 4 */
        assert_int_equal(cedar_request_set_attrs_tree(rq, f->es, "N::User", "al", props, false, &err),
                         WRIT_OK);
        assert_int_equal(writ_authorize(f->az, f->ps, f->es, rq, &d), WRIT_OK);
        assert_true(d.allow); /* level 9 for this request only */
    }
    /* the refill forgot the override */
    assert_int_equal(cedar_request_fill(rq, f->s, true, &p, &a, &r, cj, &err), WRIT_OK);
    assert_int_equal(writ_authorize(f->az, f->ps, f->es, rq, &d), WRIT_OK);
    assert_false(d.allow);
    /* store_wins: the store's level stays; a new attribute is added */
    json_t *more = cedar_json_load("{\"level\":9,\"extra\":true}", 24, &err);
    assert_non_null(more);
    assert_int_equal(cedar_request_set_attrs_tree(rq, f->es, "N::User", "al", more, true, &err), WRIT_OK);
    assert_int_equal(writ_authorize(f->az, f->ps, f->es, rq, &d), WRIT_OK);
    assert_false(d.allow); /* still level 3 */
    json_decref(more);
    json_decref(props);
    json_decref(cj);
    writ_request_free(rq);
}

/* Fail the Nth allocation, for every N up to the first that does not fail,
 * (a) while a new request is made and filled and (b) while a request that was
 * filled before is refilled.  Each failure is WRIT_ENOMEM with a message and
 * leaves the request refillable: the same request then refills and decides
 * as normal, and once freed the heap is as before (no leak).  Both loops must
 * end in a success, so every allocation made on the way was failed once. */
static void check_failed_fill(fx *f, writ_request *rq, long n, writ_status st, const writ_error *err,
                              const cedar_uid_parts *p, const cedar_uid_parts *a, const cedar_uid_parts *r,
                              const json_t *cj)
{
    writ_decision d;
    writ_error e2;
    if (st != WRIT_ENOMEM || err->msg[0] == 0)
        fail_msg("allocation %ld failed: status %s, message \"%s\"", n, writ_status_name(st), err->msg);
    /* the emptied request decides nothing: refused, never an allow */
    assert_int_equal(writ_authorize(f->az, f->ps, f->es, rq, &d), WRIT_EINVAL);
    assert_false(d.allow);
    assert_int_equal(cedar_request_fill(rq, f->s, true, p, a, r, cj, &e2), WRIT_OK);
    assert_int_equal(writ_authorize(f->az, f->ps, f->es, rq, &d), WRIT_OK);
    assert_true(d.allow);
}

static void test_oom(void **state)
{
    fx *f = *state;
    writ_error err;
    writ_decision d;
    json_t *cj = cedar_json_load("{\"ip\":\"10.0.0.1\",\"n\":1}", 23, &err);
    assert_non_null(cj);
    cedar_uid_parts p = parts("N::", "User", "al"), a = parts("", "N::Action", "read"),
                    r = parts("N::", "Doc", "d");
    /* once unhindered first: lazily made statics are not leaks */
    writ_request *rq = cedar_request_reusable();
    assert_non_null(rq);
    /* a request never filled decides nothing */
    assert_int_equal(writ_authorize(f->az, f->ps, f->es, rq, &d), WRIT_EINVAL);
    assert_false(d.allow);
    assert_int_equal(cedar_request_fill(rq, f->s, true, &p, &a, &r, cj, &err), WRIT_OK);
    assert_int_equal(writ_authorize(f->az, f->ps, f->es, rq, &d), WRIT_OK);
    assert_true(d.allow);
    writ_request_free(rq);

    /* (a) a new request, made and filled */
    long failures = 0;
    bool done = false;
    for (long n = 0; n < 1000 && !done; n++) {
        long before = live_heap();
        memset(&err, 0, sizeof err);
        wr_alloc_set_fail_after(n);
        rq = cedar_request_reusable();
        writ_status st = rq ? cedar_request_fill(rq, f->s, true, &p, &a, &r, cj, &err) : WRIT_ENOMEM;
        wr_alloc_set_fail_after(-1);
        if (!rq) {
            failures++;
        } else if (st != WRIT_OK) {
            failures++;
            check_failed_fill(f, rq, n, st, &err, &p, &a, &r, cj);
        } else {
            assert_int_equal(writ_authorize(f->az, f->ps, f->es, rq, &d), WRIT_OK);
            assert_true(d.allow);
            done = true;
        }
        writ_request_free(rq);
        if (live_heap() != before)
            fail_msg("(a) allocation %ld failed: %ld heap units not given back", n, live_heap() - before);
    }
    assert_true(done);
    assert_true(failures > 1);

    /* (b) a request filled once (with another principal), refilled */
    cedar_uid_parts other = parts("N::", "User", "bo");
    failures = 0;
    done = false;
    for (long n = 0; n < 1000 && !done; n++) {
        long before = live_heap();
        rq = cedar_request_reusable();
        assert_non_null(rq);
        assert_int_equal(cedar_request_fill(rq, f->s, true, &other, &a, &r, cj, &err), WRIT_OK);
        memset(&err, 0, sizeof err);
        wr_alloc_set_fail_after(n);
        writ_status st = cedar_request_fill(rq, f->s, true, &p, &a, &r, cj, &err);
        wr_alloc_set_fail_after(-1);
        if (st != WRIT_OK) {
            failures++;
            check_failed_fill(f, rq, n, st, &err, &p, &a, &r, cj);
        } else {
            assert_int_equal(writ_authorize(f->az, f->ps, f->es, rq, &d), WRIT_OK);
            assert_true(d.allow);
            done = true;
        }
        writ_request_free(rq);
        if (live_heap() != before)
            fail_msg("(b) allocation %ld failed: %ld heap units not given back", n, live_heap() - before);
    }
    assert_true(done);
    json_decref(cj);
}

/* cedar_request_context_sorted (names already Cedar strings, in order)
 * gives the context writ_request_context_numbers gives: KEY added before,
 * between or after the context's fields, or replacing one of that name. */
static void test_context_sorted(void **state)
{
    (void)state;
    static const char *const ctxs[] = {
        "{}",
        "{\"a\":1}",
        "{\"z\":1}",
        "{\"a\":1,\"z\":\"x\"}",
        "{\"history\":{\"q\":1},\"a\":2,\"zz\":3}",
        "{\"histor\":1,\"historyy\":2,\"b\":[1],\"c\":{\"d\":true}}",
        "{\"history\":5}",
    };
    static const char *const names[] = {"l1", "l10", "l2", "paid", "zeta"};
    wr_arena *a = wr_arena_new(0);
    assert_non_null(a);
    const cv_string *key = cv_string_new(a, "history", 7);
    writ_number_field nf[5];
    cedar_number_field cf[5];
    for (size_t i = 0; i < 5; i++) {
        nf[i] = (writ_number_field){names[i], (int64_t)i * 7 - 3, i % 2 == 1};
        cf[i] =
            (cedar_number_field){cv_string_new(a, names[i], strlen(names[i])), nf[i].value, nf[i].decimal};
    }
    writ_request *r1 = cedar_request_reusable(), *r2 = cedar_request_reusable();
    assert_non_null(r1);
    assert_non_null(r2);
    cedar_uid_parts p = parts("", "User", "u"), act = parts("", "Action", "x"), res = parts("", "Doc", "d");
    for (size_t c = 0; c < sizeof ctxs / sizeof *ctxs; c++)
        for (size_t n = 0; n <= 5; n++) {
            writ_error err;
            json_t *cj = cedar_json_load(ctxs[c], strlen(ctxs[c]), &err);
            assert_non_null(cj);
            assert_int_equal(cedar_request_fill(r1, NULL, false, &p, &act, &res, cj, &err), WRIT_OK);
            assert_int_equal(cedar_request_fill(r2, NULL, false, &p, &act, &res, cj, &err), WRIT_OK);
            assert_int_equal(writ_request_context_numbers(r1, "history", nf, n, &err), WRIT_OK);
            assert_int_equal(cedar_request_context_sorted(r2, key, cf, n, &err), WRIT_OK);
            cv_value v1 = {.type = CV_RECORD, .u.rec = r1->context},
                     v2 = {.type = CV_RECORD, .u.rec = r2->context};
            if (!cv_equal(v1, v2))
                fail_msg("context %s with %zu fields differs", ctxs[c], n);
            assert_int_equal(r1->context->n, r2->context->n);
            json_decref(cj);
        }
    writ_request_free(r1);
    writ_request_free(r2);
    wr_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_same_as_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_parts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_properties, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oom, setup, teardown),
        cmocka_unit_test(test_context_sorted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
