/* test_pdiff.c - a candidate set's decision from the live one's
 * (src/cedar/pdiff.c): over generated live sets, candidates changed from
 * them (policies dropped, edited, added, moved, renamed, erroring) and
 * every context, the answer equals writ_authorize of the whole candidate:
 * the same allow and the same reasons in the same order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cedar/pdiff.h"
#include "shadow/shadow.h"
#include "util/alloc.h"
#include "util/sbuf.h"
#include "writ/cedar.h"

static uint64_t rng = 88172645463325252ull;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

#define NBITS 5

/* One policy's text: effect, an optional action scope, a condition over
 * the context's bits (sometimes one that errors). */
static void policy(sbuf *b, int named, int k)
{
    if (named)
        sb_printf(b, "@id(\"p%d\") ", k);
    sb_puts(b, rnd(3) ? "permit" : "forbid");
    const char *scope = rnd(3) == 0 ? "action == Action::\"w\""
                        : rnd(2)    ? "action"
                                    : "action in [Action::\"r\"]";
    sb_printf(b, " (principal, %s, resource)", scope);
    switch (rnd(6)) {
    case 0:
        break;
    case 1:
        sb_puts(b, " when { context.missing }"); /* errors */
        break;
    default:
        sb_printf(b, " when { context.b%u %s context.b%u }", rnd(NBITS), rnd(2) ? "&&" : "||", rnd(NBITS));
        if (rnd(3) == 0)
            sb_printf(b, " unless { context.b%u }", rnd(NBITS));
    }
    sb_puts(b, ";\n");
}

static writ_policyset *parse(const char *t)
{
    writ_policyset *ps = NULL;
    writ_error err;
    if (writ_policyset_parse_flags(t, strlen(t), WRIT_PS_ID_ANNOTATION | WRIT_PS_EXCLUDE_SHADOW, &ps, &err))
        fail_msg("parse: %s\n%s", err.msg, t);
    return ps;
}

static writ_request *request(int bits, const char *action)
{
    sbuf j;
    sb_init(&j);
    sb_printf(
        &j,
        "{\"principal\":\"A::\\\"a\\\"\",\"action\":\"Action::\\\"%s\\\"\",\"resource\":\"R::\\\"r\\\"\","
        "\"context\":{",
        action);
    for (int i = 0; i < NBITS; i++)
        sb_printf(&j, "%s\"b%d\":%s", i ? "," : "", i, bits & (1 << i) ? "true" : "false");
    sb_puts(&j, "}}");
    writ_request *rq = NULL;
    writ_error err;
    if (writ_request_parse(j.p, j.len, NULL, false, &rq, &err))
        fail_msg("request: %s", err.msg);
    sb_free(&j);
    return rq;
}

static void same_decision(const writ_decision *want, const writ_decision *got, const char *what)
{
    bool ok = want->allow == got->allow && want->nreasons == got->nreasons;
    for (size_t i = 0; ok && i < want->nreasons; i++)
        ok = !strcmp(want->reasons[i], got->reasons[i]);
    if (!ok)
        fail_msg("%s: want %s (%zu reasons, first %s), got %s (%zu, first %s)", what,
                 want->allow ? "allow" : "deny", want->nreasons, want->nreasons ? want->reasons[0] : "-",
                 got->allow ? "allow" : "deny", got->nreasons, got->nreasons ? got->reasons[0] : "-");
}

static void test_generated(void **state)
{
    (void)state;
    writ_error err;
    writ_entities *es = NULL;
    assert_int_equal(writ_entities_parse("[]", 2, NULL, &es, &err), WRIT_OK);
    writ_authorizer *az_live = writ_authorizer_new(), *az_cand = writ_authorizer_new(),
                    *az_diff = writ_authorizer_new(), *az_pre = writ_authorizer_new();
    size_t shared_total = 0, delta_total = 0, disagree = 0;
    for (int round = 0; round < 60; round++) {
        int n = 3 + (int)rnd(12);
        /* the live file: policy k is text[k] */
        sbuf text[16];
        for (int k = 0; k < n; k++) {
            sb_init(&text[k]);
            policy(&text[k], rnd(4) != 0, k);
        }
        sbuf live, cand;
        sb_init(&live);
        sb_init(&cand);
        for (int k = 0; k < n; k++)
            sb_puts(&live, text[k].p);
        /* the candidate: each policy kept, dropped, edited or renamed, some
         * moved to the end, new ones added */
        sbuf tail;
        sb_init(&tail);
        for (int k = 0; k < n; k++) {
            switch (rnd(8)) {
            case 0: /* dropped */
                break;
            case 1: /* edited */
                policy(&cand, 1, k);
                break;
            case 2: /* renamed: same text, another @id */
                sb_printf(&cand, "@id(\"renamed%d\") %s", k,
                          text[k].p[0] == '@' ? strchr(text[k].p, ' ') + 1 : text[k].p);
                break;
            case 3: /* moved */
                sb_puts(&tail, text[k].p);
                break;
            default:
                sb_puts(&cand, text[k].p);
            }
            if (rnd(6) == 0)
                policy(&cand, rnd(2), 100 + k);
        }
        sb_puts(&cand, tail.p ? tail.p : "");
        if (rnd(3) == 0) /* a shadow policy of the candidate's own: left out of both */
            sb_puts(&cand, "@mode(\"shadow\") forbid (principal, action, resource);\n");
        assert_true(sb_ok(&live) && sb_ok(&cand));
        writ_policyset *pl = parse(live.p ? live.p : ""), *pc = parse(cand.p ? cand.p : "");
        cedar_pdiff *d = cedar_pdiff_new(pl, pc);
        assert_non_null(d);
        /* a few other policies (the live file's shadow ones) evaluated in
         * one go with the candidate's own */
        sbuf pre_text;
        sb_init(&pre_text);
        for (int k = 0, np = 1 + (int)rnd(4); k < np; k++)
            policy(&pre_text, 1, 200 + k);
        writ_policyset *pre = parse(pre_text.p);
        assert_true(cedar_pdiff_join(d, pre));
        delta_total += cedar_pdiff_delta(d);
        shared_total += writ_policyset_count(pc) - cedar_pdiff_delta(d);
        for (int bits = 0; bits < (1 << NBITS); bits++)
            for (int a = 0; a < 2; a++) {
                writ_request *rq = request(bits, a ? "w" : "r");
                writ_decision dl, dc, dd;
                assert_int_equal(writ_authorize(az_live, pl, es, rq, &dl), WRIT_OK);
                assert_int_equal(writ_authorize(az_cand, pc, es, rq, &dc), WRIT_OK);
                assert_int_equal(cedar_pdiff_authorize(d, az_live, az_diff, es, rq, &dd), WRIT_OK);
                char what[64];
                snprintf(what, sizeof what, "round %d context %d action %d", round, bits, a);
                same_decision(&dc, &dd, what);
                disagree += dc.allow != dl.allow;
                writ_decision dp, dj, dpre;
                assert_int_equal(cedar_pdiff_authorize_joined(d, az_live, az_diff, es, rq, &dp, &dj),
                                 WRIT_OK);
                same_decision(&dc, &dj, what);
                assert_int_equal(writ_authorize(az_pre, pre, es, rq, &dpre), WRIT_OK);
                same_decision(&dpre, &dp, what);
                /* the live authorizer used for something else since: the
                 * whole candidate is evaluated, same answer */
                assert_int_equal(writ_authorize(az_live, pc, es, rq, &dl), WRIT_OK);
                assert_int_equal(cedar_pdiff_authorize(d, az_live, az_diff, es, rq, &dd), WRIT_OK);
                same_decision(&dc, &dd, what);
                assert_int_equal(cedar_pdiff_authorize_joined(d, az_live, az_diff, es, rq, &dp, &dj),
                                 WRIT_EINVAL);
                writ_request_free(rq);
            }
        cedar_pdiff_free(d);
        writ_policyset_free(pre);
        sb_free(&pre_text);
        writ_policyset_free(pl);
        writ_policyset_free(pc);
        for (int k = 0; k < n; k++)
            sb_free(&text[k]);
        sb_free(&live);
        sb_free(&cand);
        sb_free(&tail);
    }
    /* the rounds exercised both halves and both answers */
    assert_true(shared_total > 100 && delta_total > 50 && disagree > 50);
    writ_authorizer_free(az_live);
    writ_authorizer_free(az_cand);
    writ_authorizer_free(az_diff);
    writ_authorizer_free(az_pre);
    writ_entities_free(es);
}

/* The shadow step with the live set attached gives the same audit field as
 * without (the candidate evaluated whole). */
static void test_shadow_field_same(void **state)
{
    (void)state;
    const char *live_text =
        "@id(\"p-a\") permit (principal, action, resource) when { context.b0 };\n"
        "@id(\"f-b\") forbid (principal, action, resource) when { context.b1 };\n"
        "@id(\"p-c\") permit (principal, action, resource) when { context.b2 };\n"
        "@id(\"s-d\") @mode(\"shadow\") forbid (principal, action, resource) when { context.b3 };\n";
    const char *cand_text =
        "@id(\"p-a\") permit (principal, action, resource) when { context.b0 };\n"
        "@id(\"f-b\") forbid (principal, action, resource) when { context.b1 && context.b4 };\n"
        "@id(\"new\") forbid (principal, action, resource) when { context.b3 };\n"
        "@id(\"p-c\") permit (principal, action, resource) when { context.b2 };\n";
    writ_error err;
    writ_policyset *live = parse(live_text);
    shd_set *sh = NULL;
    assert_int_equal(shd_load_live(live_text, strlen(live_text), &sh, &err), WRIT_OK);
    assert_int_equal(shd_load_candidate(&sh, cand_text, strlen(cand_text), &err), WRIT_OK);
    shd_attach_live(sh, live);
    writ_entities *es = NULL;
    assert_int_equal(writ_entities_parse("[]", 2, NULL, &es, &err), WRIT_OK);
    writ_authorizer *az = writ_authorizer_new();
    int fields = 0;
    for (int bits = 0; bits < (1 << NBITS); bits++) {
        writ_request *rq = request(bits, "r");
        writ_decision dl;
        assert_int_equal(writ_authorize(az, live, es, rq, &dl), WRIT_OK);
        char *fast = shd_decide_after(sh, az, es, rq, &dl, false);
        char *whole = shd_decide(sh, es, rq, &dl);
        if (!fast != !whole || (fast && strcmp(fast, whole)))
            fail_msg("context %d: %s against %s", bits, fast ? fast : "(none)", whole ? whole : "(none)");
        fields += fast != NULL;
        wr_free(fast);
        wr_free(whole);
        /* the same with forbid_error_denies: the live decision is reused
         * (az is untouched since), the slow way evaluates everything */
        assert_int_equal(writ_authorize(az, live, es, rq, &dl), WRIT_OK);
        fast = shd_decide_after(sh, az, es, rq, &dl, true);
        whole = shd_decide_after(sh, NULL, es, rq, &dl, true);
        if (!fast != !whole || (fast && strcmp(fast, whole)))
            fail_msg("context %d (failures deny): %s against %s", bits, fast ? fast : "(none)",
                     whole ? whole : "(none)");
        wr_free(fast);
        wr_free(whole);
        writ_request_free(rq);
    }
    assert_true(fields >= 8);
    writ_authorizer_free(az);
    writ_entities_free(es);
    writ_policyset_free(live);
    shd_free(sh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generated),
        cmocka_unit_test(test_shadow_field_same),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
