/* test_ctxfacts.c - the decision path's context built straight into Cedar
 * values (cedar_request_fill_facts, json.c's cedar_json_context_facts; the
 * server's facts from srv_facts_direct) against the way it was built
 * before: the facts set into the JSON context, which is then read as
 * usual.  Every context, every mix of facts and every edit of the split
 * tree must give an equal record, and every failure the same error. */
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
#include "server/server_int.h"
#include "util/alloc.h"
#include "util/arena.h"
#include "writ/cedar.h"

#include "alloc_count.h"

/* the members authzen.c keeps as JSON */
static const char *const split_keep_test[] = {"destination", "task", "chain", "input", NULL};
/* ... and in a lean split (history: the decision path deletes it from the tree) */
static const char *const lean_keep_test[] = {"task", "input", "history", NULL};

#define BODY(ctx)                                                                                            \
    "{\"subject\":{\"type\":\"Agent\",\"id\":\"a\"},\"action\":{\"name\":\"read\"},\"resource\":{\"type\":"  \
    "\"Tool\",\"id\":\"t\"},\"context\":" ctx "}"

static const writ_uid_parts P = {"", 0, "Agent", 5, "a", 1}, A = {"", 0, "Action", 6, "read", 4},
                            R = {"", 0, "Tool", 4, "t", 1};

/* A fact as the JSON value its kind reads from (reqbuild.h). */
static json_t *fact_json(const cedar_fact *f)
{
    switch (f->kind) {
    case CEDAR_FACT_STRING:
        return json_stringn(f->s.p, f->s.n);
    case CEDAR_FACT_LONG:
        return json_integer(f->l);
    case CEDAR_FACT_EXT:
        return json_pack("{s:{s:s,s:s%}}", "__extn", "fn", f->fn, "arg", f->s.p, f->s.n);
    case CEDAR_FACT_STRINGS: {
        json_t *a = json_array();
        for (size_t i = 0; i < f->n; i++)
            json_array_append_new(a, json_stringn(f->items[i].p, f->items[i].n));
        return a;
    }
    case CEDAR_FACT_RECORD: {
        json_t *o = json_object();
        for (size_t i = 0; i < f->n; i++)
            json_object_set_new(o, f->keys[i], json_stringn(f->items[i].p, f->items[i].n));
        return o;
    }
    }
    return NULL;
}

/* The context the old way: the facts set into a copy of the JSON context
 * (if_absent only where it has no such member), then read by the usual
 * reader (cedar_json_context: ref is a whole tree, never a split one). */
static writ_status old_way(writ_request *rq, const json_t *ref, const cedar_fact *f, size_t n,
                           writ_error *err)
{
    json_t *c = !ref                  ? json_object()
                : json_is_object(ref) ? json_copy((json_t *)ref)
                                      : json_incref((json_t *)ref);
    for (size_t i = 0; i < n && json_is_object(c); i++) {
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)f[i].name.n, f[i].name.p);
        if (f[i].if_absent && json_object_get(c, name))
            continue;
        assert_int_equal(json_object_set_new(c, name, fact_json(&f[i])), 0);
    }
    writ_status st = cedar_request_fill(rq, NULL, false, &P, &A, &R, c, err);
    json_decref(c);
    return st;
}

static void same_record(const writ_request *q1, const writ_request *q2, const char *what)
{
    cv_value v1 = {.type = CV_RECORD}, v2 = {.type = CV_RECORD};
    v1.u.rec = q1->context;
    v2.u.rec = q2->context;
    if (!cv_equal(v1, v2)) {
        char b1[2048], b2[2048];
        cv_format(v1, b1, sizeof b1);
        cv_format(v2, b2, sizeof b2);
        fail_msg("%s: the records differ:\n  new %s\n  old %s", what, b1, b2);
    }
    /* sorted, unique keys: what every record reader relies on */
    for (size_t i = 1; i < q1->context->n; i++)
        if (cv_string_cmp(q1->context->f[i - 1].key, q1->context->f[i].key) >= 0)
            fail_msg("%s: the record is not sorted at %zu", what, i);
}

/* The new way on ctx (with the split's subst, or NULL) and the old way on
 * ref (the same context read whole by jansson, edited alike): the same
 * outcome, equal records or the same status and message. */
static void both_ways_as(bool whole, const json_t *ctx, const cv_record *subst, const json_t *ref,
                         const cedar_fact *f, size_t n, const char *what)
{
    writ_request *q1 = writ_request_reusable(), *q2 = writ_request_reusable();
    assert_non_null(q1);
    assert_non_null(q2);
    writ_error e1, e2;
    memset(&e1, 0, sizeof e1);
    memset(&e2, 0, sizeof e2);
    writ_status s1 = whole ? cedar_request_fill_whole(q1, &P, &A, &R, ctx, subst, f, n, &e1)
                           : cedar_request_fill_facts(q1, &P, &A, &R, ctx, subst, f, n, &e1);
    writ_status s2 = old_way(q2, ref, f, n, &e2);
    if (s1 != s2 || (s1 && strcmp(e1.msg, e2.msg)))
        fail_msg("%s: new %s '%s', old %s '%s'", what, writ_status_name(s1), e1.msg, writ_status_name(s2),
                 e2.msg);
    if (!s1)
        same_record(q1, q2, what);
    writ_request_free(q1);
    writ_request_free(q2);
}

static void both_ways(const json_t *ctx, const cv_record *subst, const json_t *ref, const cedar_fact *f,
                      size_t n, const char *what)
{
    both_ways_as(false, ctx, subst, ref, f, n, what);
}

/* A lean split of body (lean_keep_test, the chain's text wanted, as
 * authzen.c reads it): its tree holds the kept members alone, and the
 * record from it and its base (cedar_request_fill_whole) is the usual
 * one, facts or not.  NULL where the split declines. */
static json_t *lean_split(const char *body, wr_arena *a, cedar_json_split *sp)
{
    *sp = (cedar_json_split){
        .arena = a, .key = "context", .keep = lean_keep_test, .text_key = "chain", .lean = true};
    json_t *j = cedar_json_fast_split(body, strlen(body), sp);
    json_t *c = json_object_get(j, "context");
    if (j) {
        assert_true(sp->done && sp->base);
        /* no placeholder: every member of the tree is a kept one, or a
         * chain of names (kept for its root, history.c) */
        const char *k;
        json_t *v;
        json_object_foreach(c, k, v)
        {
            bool keep = false;
            for (const char *const *q = lean_keep_test; *q; q++)
                keep = keep || !strcmp(*q, k);
            assert_true(keep || (!strcmp(k, "chain") && json_is_string(json_array_get(v, 0))));
            assert_null(cv_record_get(sp->base, k, strlen(k)));
        }
    }
    return j;
}

static const char *const task_keys[2] = {"id", "purpose"};
static const cedar_bytes task_vals[2] = {{"t-1", 3}, {"", 0}};
static const cedar_bytes two[2] = {{"b", 1}, {"a\0z", 3}};

/* facts of every kind; odd ones replace, even ones only fill in */
static size_t some_facts(cedar_fact *f, bool replace_all)
{
    size_t n = 0;
#define NAME(lit) {lit, sizeof lit - 1}
    f[n++] = (cedar_fact){.name = NAME("task"),
                          .if_absent = !replace_all,
                          .kind = CEDAR_FACT_RECORD,
                          .keys = task_keys,
                          .items = task_vals,
                          .n = 2};
    f[n++] = (cedar_fact){
        .name = NAME("chain"), .if_absent = false, .kind = CEDAR_FACT_STRINGS, .items = two, .n = 2};
    f[n++] = (cedar_fact){
        .name = NAME("chain_depth"), .if_absent = !replace_all, .kind = CEDAR_FACT_LONG, .l = 2147483647};
    f[n++] = (cedar_fact){.name = NAME("time"),
                          .if_absent = false,
                          .kind = CEDAR_FACT_EXT,
                          .fn = "datetime",
                          .s = {"2026-12-03T14:00:00Z", 20}};
    f[n++] = (cedar_fact){.name = NAME("source_ip"),
                          .if_absent = !replace_all,
                          .kind = CEDAR_FACT_EXT,
                          .fn = "ip",
                          .s = {"10.1.2.3", 8}};
    f[n++] = (cedar_fact){
        .name = NAME("destination"), .if_absent = false, .kind = CEDAR_FACT_STRING, .s = {"external", 8}};
    f[n++] = (cedar_fact){
        .name = NAME("destinations"), .if_absent = !replace_all, .kind = CEDAR_FACT_STRINGS, .n = 0};
#undef NAME
    return n;
}

static const char *const contexts[] = {
    "{}",
    "{\"x\":1}",
    ("{\"purpose\":\"billing\",\"destination\":\"db.internal\",\"source_ip\":\"10.1.139.177\",\"amount\":{"
     "\"__extn\":{\"fn\":\"decimal\",\"arg\":\"1032.50\"}},\"hour\":7,\"mfa\":true,\"session_tags\":[],"
     "\"time\":"
     "\"2025-07-25T13:00:00Z\",\"chain\":[{\"__entity\":{\"type\":\"Agent\",\"id\":\"agent-3\"}}],"
     "\"chain_depth\":2}"),
    ("{\"task\":{\"id\":\"mine\",\"purpose\":\"p\"},\"chain_depth\":0,\"destinations\":[\"x\"],\"zz\":[1,2],"
     "\"aa\":{\"b\":{\"c\":\"d\"}},\"source_ip\":{\"__extn\":{\"fn\":\"ip\",\"arg\":\"192.168.0.1\"}}}"),
    /* a kept member Cedar refuses, replaced by a fact: never read */
    "{\"chain\":[\"a\",null],\"k\":\"v\"}",
    /* many members: more than the insertion sort's 16 */
    ("{\"k01\":1,\"k02\":2,\"k03\":3,\"k04\":4,\"k05\":5,\"k06\":6,\"k07\":7,\"k08\":8,\"k09\":9,\"k10\":10,"
     "\"k11\":11,\"k12\":12,\"k13\":13,\"k14\":14,\"k15\":15,\"k16\":16,\"k17\":17,\"k18\":18,\"k19\":19,"
     "\"a\":\"first\",\"zzz\":\"last\",\"task\":{\"id\":\"x\"},\"destination\":\"d\"}"),
};

/* Each context read by the split (subst) and by jansson alone (no subst),
 * with no facts, some that fill in, and all replacing. */
static void test_same_as_json_facts(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof contexts / sizeof contexts[0]; c++) {
        char body[4096];
        snprintf(body, sizeof body, BODY("%s"), contexts[c]);
        wr_arena *a = wr_arena_new(0);
        cedar_json_split sp = {.arena = a, .key = "context", .keep = split_keep_test};
        json_t *j = cedar_json_fast_split(body, strlen(body), &sp);
        writ_error err;
        json_t *u = cedar_json_load(body, strlen(body), &err);
        assert_non_null(u);
        cedar_fact f[8];
        for (int mode = 0; mode < 3; mode++) {
            size_t n = mode == 0 ? 0 : some_facts(f, mode == 2);
            char what[64];
            snprintf(what, sizeof what, "context %zu, facts mode %d", c, mode);
            both_ways(json_object_get(u, "context"), NULL, json_object_get(u, "context"), f, n, what);
            if (j) {
                strcat(what, ", split");
                both_ways(json_object_get(j, "context"), sp.base, json_object_get(u, "context"), f, n, what);
            }
            wr_arena *al = wr_arena_new(0);
            cedar_json_split spl;
            json_t *jl = lean_split(body, al, &spl);
            if (j)
                assert_non_null(jl); /* (lean declines no more than the split) */
            if (jl) {
                strcat(what, ", lean");
                both_ways_as(true, json_object_get(jl, "context"), spl.base, json_object_get(u, "context"), f,
                             n, what);
            }
            json_decref(jl);
            wr_arena_free(al);
        }
        if (c == 2)
            assert_non_null(j); /* the bench's shape is read by the split */
        json_decref(j);
        json_decref(u);
        wr_arena_free(a);
    }
    /* no context at all, and a JSON null: the facts alone */
    cedar_fact f[8];
    size_t n = some_facts(f, false);
    both_ways(NULL, NULL, NULL, f, n, "no context");
}

/* Facts made once (cedar_fact_freeze): the same records as made anew. */
static void test_frozen(void **state)
{
    (void)state;
    cedar_fact f[8];
    size_t n = some_facts(f, false);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(cedar_fact_freeze(&f[i], i % 2 == 0), 0);
        assert_non_null(f[i].key);
        assert_true(i % 2 ? f[i].value == NULL : f[i].value != NULL);
    }
    for (size_t c = 0; c < sizeof contexts / sizeof contexts[0]; c++) {
        writ_error err;
        json_t *u = cedar_json_load(contexts[c], strlen(contexts[c]), &err);
        assert_non_null(u);
        both_ways(u, NULL, u, f, n, contexts[c]);
        json_decref(u);
    }
}

/* The split tree edited as the decision path edits it (history deleted, a
 * placeholder replaced, members added) reads as the edited tree says. */
static void test_split_edits(void **state)
{
    (void)state;
    const char *t = BODY("{\"history\":{\"n\":1},\"source_ip\":\"1.2.3.4\",\"hour\":7,\"time\":\"x\","
                         "\"chain\":[\"a\"],\"mfa\":false}");
    wr_arena *a = wr_arena_new(0);
    cedar_json_split sp = {.arena = a, .key = "context", .keep = split_keep_test};
    json_t *j = cedar_json_fast_split(t, strlen(t), &sp);
    assert_non_null(j);
    writ_error err;
    json_t *u = cedar_json_load(t, strlen(t), &err);
    assert_non_null(u);
    json_t *ctx = json_object_get(j, "context"), *ref = json_object_get(u, "context");
    json_t *both[2] = {ctx, ref};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(json_object_del(both[k], "history"), 0);
        assert_int_equal(json_object_set_new(both[k], "hour", json_integer(5)), 0);
        assert_int_equal(json_object_set_new(both[k], "added", json_string("now")), 0);
    }
    cedar_fact f[8];
    for (int mode = 0; mode < 3; mode++)
        both_ways(ctx, sp.base, ref, f, mode ? some_facts(f, mode == 2) : 0, "edited split");
    const cv_record *r;
    assert_int_equal(cedar_json_context_facts(a, ctx, sp.base, NULL, 0, &r, &err), WRIT_OK);
    assert_null(cv_record_get(r, "history", 7));
    const cv_value *v = cv_record_get(r, "hour", 4);
    assert_true(v && v->type == CV_LONG && v->u.l == 5);
    v = cv_record_get(r, "mfa", 3);
    assert_true(v && v->type == CV_BOOL && !v->u.b);
    /* a placeholder no longer in the split is a null: the usual error */
    for (int k = 0; k < 2; k++)
        assert_int_equal(json_object_set_new(both[k], "ghost", json_null()), 0);
    both_ways(ctx, sp.base, ref, f, some_facts(f, false), "a null not in the split");
    json_decref(j);
    json_decref(u);
    wr_arena_free(a);
}

/* A lean split edited as the decision path may edit it (history deleted,
 * members the base does not hold added): the record is the edited one;
 * a json null in its tree is a null, never a placeholder. */
static void test_lean_edits(void **state)
{
    (void)state;
    const char *t = BODY("{\"history\":{\"n\":1},\"source_ip\":\"1.2.3.4\",\"hour\":7,\"time\":\"x\","
                         "\"chain\":[{\"__entity\":{\"type\":\"A\",\"id\":\"r\"}}],\"mfa\":false,"
                         "\"destination\":\"d\"}");
    wr_arena *a = wr_arena_new(0);
    cedar_json_split sp;
    json_t *j = lean_split(t, a, &sp);
    assert_non_null(j);
    assert_int_equal(json_object_size(json_object_get(j, "context")), 1); /* history */
    assert_int_equal(sp.base->n, 6);
    assert_string_equal(sp.text, "[{\"__entity\":{\"type\":\"A\",\"id\":\"r\"}}]");
    writ_error err;
    json_t *u = cedar_json_load(t, strlen(t), &err);
    assert_non_null(u);
    json_t *ctx = json_object_get(j, "context"), *ref = json_object_get(u, "context");
    json_t *both[2] = {ctx, ref};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(json_object_del(both[k], "history"), 0);
        assert_int_equal(json_object_set_new(both[k], "added", json_string("now")), 0);
    }
    cedar_fact f[8];
    for (int mode = 0; mode < 3; mode++)
        both_ways_as(true, ctx, sp.base, ref, f, mode ? some_facts(f, mode == 2) : 0, "edited lean split");
    const cv_record *r;
    assert_int_equal(cedar_json_context_whole(a, ctx, sp.base, NULL, 0, &r, &err), WRIT_OK);
    assert_int_equal(r->n, 7);
    assert_null(cv_record_get(r, "history", 7));
    const cv_value *v = cv_record_get(r, "hour", 4);
    assert_true(v && v->type == CV_LONG && v->u.l == 7);
    /* a replacing fact takes the base's member out, one that fills in
     * leaves it */
    cedar_fact g[2] = {
        {.name = {"hour", 4}, .if_absent = false, .kind = CEDAR_FACT_LONG, .l = 9},
        {.name = {"mfa", 3}, .if_absent = true, .kind = CEDAR_FACT_STRING, .s = {"no", 2}},
    };
    assert_int_equal(cedar_json_context_whole(a, ctx, sp.base, g, 2, &r, &err), WRIT_OK);
    assert_int_equal(r->n, 7);
    v = cv_record_get(r, "hour", 4);
    assert_true(v && v->type == CV_LONG && v->u.l == 9);
    v = cv_record_get(r, "mfa", 3);
    assert_true(v && v->type == CV_BOOL && !v->u.b);
    both_ways_as(true, ctx, sp.base, ref, g, 2, "lean, a fact over the base");
    /* a null in the lean tree is the usual error */
    for (int k = 0; k < 2; k++)
        assert_int_equal(json_object_set_new(both[k], "ghost", json_null()), 0);
    both_ways_as(true, ctx, sp.base, ref, f, some_facts(f, false), "a null in the lean tree");
    assert_int_equal(cedar_json_context_whole(a, ctx, sp.base, NULL, 0, &r, &err), WRIT_EJSON);
    json_decref(j);
    json_decref(u);
    wr_arena_free(a);
}

/* A lean tree with no member (the bench's context: merge_flat, json.c):
 * every mix of facts, and a fact that fails, as the JSON way. */
static void test_lean_flat(void **state)
{
    (void)state;
    static const char *const ctxs[] = {
        "{}",
        "{\"hour\":7,\"source_ip\":\"1.2.3.4\",\"zz\":[1]}",
        "{\"hour\":7,\"a\":true}",
        "{\"chain\":[{\"__entity\":{\"type\":\"A\",\"id\":\"r\"}}],\"time\":\"t\",\"destination\":\"D\"}",
        "{\"chain_depth\":3,\"destinations\":[],\"sensitivity\":\"x\",\"task\":5,\"time\":1,\"~\":0}",
    };
    cedar_fact bad = {.name = {"source_ip", 9},
                      .if_absent = true,
                      .kind = CEDAR_FACT_EXT,
                      .fn = "ip",
                      .s = {"not an address", 14}};
    for (size_t c = 0; c < sizeof ctxs / sizeof ctxs[0]; c++) {
        char body[1024];
        snprintf(body, sizeof body, BODY("%s"), ctxs[c]);
        wr_arena *a = wr_arena_new(0);
        cedar_json_split sp;
        json_t *j = lean_split(body, a, &sp);
        assert_non_null(j);
        json_t *ctx = json_object_get(j, "context");
        assert_int_equal(json_object_size(ctx), c == 4 ? 1 : 0); /* (task is kept) */
        writ_error err;
        json_t *u = cedar_json_load(body, strlen(body), &err);
        assert_non_null(u);
        json_t *ref = json_object_get(u, "context");
        cedar_fact f[9];
        for (int mode = 0; mode < 4; mode++) {
            size_t n = mode == 0 ? 0 : some_facts(f, mode == 2);
            if (mode == 3) { /* task, chain, chain_depth, time, then one that fails without source_ip */
                f[4] = bad;
                n = 5;
            }
            char what[80];
            snprintf(what, sizeof what, "flat lean context %zu, facts mode %d", c, mode);
            both_ways_as(true, ctx, sp.base, ref, f, n, what);
        }
        json_decref(j);
        json_decref(u);
        wr_arena_free(a);
    }
}

/* Failures: the same status and message as the JSON way. */
static void test_errors(void **state)
{
    (void)state;
    cedar_fact f[8];
    size_t n = some_facts(f, false);
    static const char *const bad[] = {
        "{\"a\":null}",
        "{\"a\":1.5}",
        "{\"a\":1,\"__entity\":{\"type\":\"A\",\"id\":\"x\"}}",
        "{\"b\":null,\"__extn\":{\"fn\":\"ip\",\"arg\":\"1.2.3.4\"}}",
        "{\"r\":{\"s\":{\"t\":[null]}}}",
        "[1,2]",
        "\"text\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        writ_error err;
        json_t *c = cedar_json_load(bad[i], strlen(bad[i]), &err);
        assert_non_null(c);
        both_ways(c, NULL, c, f, n, bad[i]);
        both_ways(c, NULL, c, NULL, 0, bad[i]);
        json_decref(c);
    }
    /* a fact whose extension value does not construct */
    cedar_fact g = {.name = {"source_ip", 9},
                    .if_absent = true,
                    .kind = CEDAR_FACT_EXT,
                    .fn = "ip",
                    .s = {"not an address", 14}};
    json_t *e = json_object();
    both_ways(e, NULL, e, &g, 1, "a bad ip fact");
    writ_request *rq = writ_request_reusable();
    writ_error err;
    assert_int_equal(cedar_request_fill_facts(rq, &P, &A, &R, e, NULL, &g, 1, &err), WRIT_EJSON);
    assert_non_null(strstr(err.msg, "context, attribute `source_ip`: ip(\"not an address\")"));
    /* ... but not when the caller's member stays */
    json_object_set_new(e, "source_ip", json_string("mine"));
    assert_int_equal(cedar_request_fill_facts(rq, &P, &A, &R, e, NULL, &g, 1, &err), WRIT_OK);
    both_ways(e, NULL, e, &g, 1, "a bad ip fact not used");
    writ_request_free(rq);
    json_decref(e);
}

/* Every allocation failing in turn: ENOMEM and nothing kept, the request
 * refills cleanly afterwards. */
static void test_oom(void **state)
{
    (void)state;
    const char *t = BODY("{\"purpose\":\"p\",\"destination\":\"d\",\"n\":[1,2],\"chain\":[\"x\"]}");
    for (int lean = 0; lean < 2; lean++) {
        writ_split *sp = writ_split_new();
        static const char *const keep[] = {"destination", "task", "chain", "input", NULL};
        cedar_split_lean(sp, lean);
        json_t *j = writ_json_parse_split(sp, t, strlen(t), "context", lean ? lean_keep_test : keep);
        assert_non_null(j);
        assert_true(cedar_split_is_lean(sp) == (lean == 1));
        /* (the lean tree: nothing; no text wanted, the chain is in the base) */
        assert_int_equal(json_object_size(json_object_get(j, "context")), lean ? 0 : 4);
        cedar_fact f[8];
        size_t nf = some_facts(f, false);
        writ_request *rq = writ_request_reusable();
        assert_non_null(rq);
        bool done = false;
        long failures = 0;
        for (long n = 0; n < 1000 && !done; n++) {
            writ_error err;
            memset(&err, 0, sizeof err);
            wr_alloc_set_fail_after(n);
            const json_t *c = json_object_get(j, "context");
            writ_status st =
                lean ? cedar_request_fill_whole(rq, &P, &A, &R, c, cedar_split_base(sp), f, nf, &err)
                     : cedar_request_fill_facts(rq, &P, &A, &R, c, cedar_split_base(sp), f, nf, &err);
            wr_alloc_set_fail_after(-1);
            if (st) {
                assert_int_equal(st, WRIT_ENOMEM);
                failures++;
            } else {
                done = true;
            }
        }
        assert_true(done);
        assert_true(failures > 0);
        writ_error err;
        json_t *u = cedar_json_load(t, strlen(t), &err);
        both_ways_as(lean, json_object_get(j, "context"), cedar_split_base(sp), json_object_get(u, "context"),
                     f, nf, "after the failures");
        /* writ_request_fill_split reads either split */
        writ_request *q1 = writ_request_reusable(), *q2 = writ_request_reusable();
        assert_int_equal(writ_request_fill_split(q1, &P, &A, &R, json_object_get(j, "context"), sp, &err),
                         WRIT_OK);
        assert_int_equal(cedar_request_fill(q2, NULL, false, &P, &A, &R, json_object_get(u, "context"), &err),
                         WRIT_OK);
        same_record(q1, q2, lean ? "fill_split, lean" : "fill_split");
        writ_request_free(q1);
        writ_request_free(q2);
        json_decref(u);
        long before = live_heap();
        writ_request_free(rq);
        json_decref(j);
        writ_split_free(sp);
        assert_true(live_heap() <= before);
    }
}

/* The server's facts (facts.c): srv_facts_direct gives what
 * srv_facts_context sets into the JSON context of a vouching caller
 * without a task token, the destination replacing the caller's. */
static void test_server_facts(void **state)
{
    (void)state;
    srv s;
    memset(&s, 0, sizeof s);
    srv_snapshot snap;
    memset(&snap, 0, sizeof snap);
    srv_peer peer;
    memset(&peer, 0, sizeof peer);
    snprintf(peer.ip, sizeof peer.ip, "10.9.8.7");
    static const char *const ctxs[] = {
        "{}",
        "{\"destination\":\"Mixed.Case\",\"time\":{\"__extn\":{\"fn\":\"datetime\",\"arg\":\"2020-01-01\"}}}",
        ("{\"task\":{\"id\":\"pep\"},\"chain\":[\"x\",\"y\"],\"chain_depth\":1,\"source_ip\":\"text\","
         "\"sensitivity\":\"internal\",\"destinations\":[\"a\"],\"other\":true}"),
    };
    for (size_t c = 0; c < sizeof ctxs / sizeof ctxs[0]; c++)
        for (int with_peer = 0; with_peer < 2; with_peer++) {
            srv_ask a;
            memset(&a, 0, sizeof a);
            a.principal = (writ_uid_parts){"", 0, "Agent", 5, "agent\0-7", 8};
            a.action = A;
            a.resource = R;
            a.vouched = true;
            a.peer = with_peer ? &peer : NULL;
            const char *dest = "internal";
            writ_error err;
            json_t *ctx = cedar_json_load(ctxs[c], strlen(ctxs[c]), &err);
            assert_non_null(ctx);
            /* the clock may tick between the two: then once more */
            bool same = false;
            for (int tries = 0; tries < 3 && !same; tries++) {
                cedar_fact f[8];
                cedar_bytes one;
                size_t n = srv_facts_direct(&a, dest, f, &one);
                assert_int_equal(n, 8);
                writ_request *q1 = writ_request_reusable(), *q2 = writ_request_reusable();
                assert_int_equal(cedar_request_fill_facts(q1, &a.principal, &A, &R, ctx, NULL, f, n, &err),
                                 0);
                json_t *old = json_copy(ctx);
                if (json_object_get(old, "destination"))
                    json_object_set_new(old, "destination", json_string(dest));
                assert_int_equal(srv_facts_context(&s, &snap, &a, dest, old), 0);
                assert_int_equal(cedar_request_fill(q2, NULL, false, &a.principal, &A, &R, old, &err), 0);
                cv_value v1 = {.type = CV_RECORD}, v2 = {.type = CV_RECORD};
                v1.u.rec = q1->context;
                v2.u.rec = q2->context;
                same = cv_equal(v1, v2);
                if (!same && tries == 2) {
                    char b1[2048], b2[2048];
                    cv_format(v1, b1, sizeof b1);
                    cv_format(v2, b2, sizeof b2);
                    fail_msg("context %zu: direct %s\n  json %s", c, b1, b2);
                }
                const cv_value *d = cv_record_get(q1->context, "destination", 11);
                assert_true(d && d->type == CV_STRING && !strcmp(d->u.s->data, "internal"));
                json_decref(old);
                writ_request_free(q1);
                writ_request_free(q2);
            }
            json_decref(ctx);
        }
}

/* The MCP gateway's decision (srv_ask.given): the task's facts from
 * srv_facts_task plus input and tool given as Cedar values make the
 * record srv_facts_context makes of the JSON context {input, tool} of an
 * ask with that task (not vouched), read by the usual reader. */
static void test_task_facts(void **state)
{
    (void)state;
    srv s;
    memset(&s, 0, sizeof s);
    srv_snapshot snap;
    memset(&snap, 0, sizeof snap);
    srv_peer peer;
    memset(&peer, 0, sizeof peer);
    snprintf(peer.ip, sizeof peer.ip, "10.9.8.7");
    static const char *const chains[] = {NULL, "[]", "[\"root\"]",
                                         "[\"root\",\"mid\\u0000x\",\"agent\",\"root\"]"};
    static const char *const inputs[] = {
        "{}", "{\"a\":1,\"b\":[\"x\",\"x\"],\"c\":{\"__extn\":{\"fn\":\"decimal\",\"arg\":\"1.5\"}}}"};
    for (size_t c = 0; c < sizeof chains / sizeof chains[0]; c++)
        for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++)
            for (int with_peer = 0; with_peer < 2; with_peer++) {
                writ_error err;
                srv_task t;
                memset(&t, 0, sizeof t);
                t.agent = "agent";
                t.task = c ? "txn-1" : "";
                t.purpose = c == 2 ? "billing" : "";
                t.depth = (unsigned)c;
                t.chain = chains[c] ? cedar_json_load(chains[c], strlen(chains[c]), &err) : NULL;
                srv_ask a;
                memset(&a, 0, sizeof a);
                a.principal = (writ_uid_parts){"", 0, "Agent", 5, "agent", 5};
                a.action = A;
                a.resource = R;
                a.task = &t;
                a.bound = true;
                a.peer = with_peer ? &peer : NULL;
                assert_true(srv_facts_given_ok(&snap, &a));
                const char *dest = "external";
                json_t *in = cedar_json_load(inputs[i], strlen(inputs[i]), &err);
                json_t *tool = json_pack("{s:s,s:{s:b}}", "name", "echo", "annotations", "readOnlyHint", 1);
                assert_non_null(in);
                assert_non_null(tool);
                wr_arena *ar = wr_arena_new(0);
                cv_value vin, vtool;
                assert_int_equal(cedar_json_value(ar, in, NULL, "context", &vin, &err), 0);
                assert_int_equal(cedar_json_value(ar, tool, NULL, "context", &vtool, &err), 0);
                bool same = false;
                for (int tries = 0; tries < 3 && !same; tries++) {
                    cedar_fact f[8 + SRV_GIVEN_MAX];
                    cedar_bytes room[SRV_FACT_ROOM];
                    size_t n = srv_facts_task(&a, dest, f, room);
                    assert_int_equal(n, 8);
                    f[n++] = (cedar_fact){.name = {"input", 5}, .value = &vin};
                    f[n++] = (cedar_fact){.name = {"tool", 4}, .value = &vtool};
                    writ_request *q1 = writ_request_reusable(), *q2 = writ_request_reusable();
                    json_t *empty = json_object();
                    assert_int_equal(
                        cedar_request_fill_facts(q1, &a.principal, &A, &R, empty, NULL, f, n, &err), 0);
                    json_t *old = json_object();
                    json_object_set(old, "input", in);
                    json_object_set(old, "tool", tool);
                    assert_int_equal(srv_facts_context(&s, &snap, &a, dest, old), 0);
                    assert_int_equal(cedar_request_fill(q2, NULL, false, &a.principal, &A, &R, old, &err), 0);
                    cv_value v1 = {.type = CV_RECORD}, v2 = {.type = CV_RECORD};
                    v1.u.rec = q1->context;
                    v2.u.rec = q2->context;
                    char b1[2048], b2[2048];
                    cv_format(v1, b1, sizeof b1);
                    cv_format(v2, b2, sizeof b2);
                    same = cv_equal(v1, v2) && !strcmp(b1, b2);
                    if (!same && tries == 2)
                        fail_msg("chain %zu input %zu: given %s\n  json %s", c, i, b1, b2);
                    json_decref(old);
                    json_decref(empty);
                    writ_request_free(q1);
                    writ_request_free(q2);
                }
                wr_arena_free(ar);
                json_decref(in);
                json_decref(tool);
                json_decref(t.chain);
            }
    /* a chain that is not all strings (or too long) is not given so */
    srv_task t;
    memset(&t, 0, sizeof t);
    t.task = t.purpose = "";
    writ_error err;
    t.chain = cedar_json_load("[\"a\",1]", 7, &err);
    srv_ask a;
    memset(&a, 0, sizeof a);
    a.task = &t;
    assert_false(srv_facts_given_ok(&snap, &a));
    json_decref(t.chain);
}

/* An arena rewound per call (the gateway's call_values, the reusable
 * request) gives back the big blocks of each call: the heap after many
 * calls with a big block each is the heap after one. */
static void test_arena_rewind(void **state)
{
    (void)state;
    wr_arena *a = wr_arena_new(0);
    assert_non_null(a);
    long after_one = 0;
    for (int i = 0; i < 50; i++) {
        assert_non_null(wr_arena_alloc(a, 32));     /* the first chunk */
        assert_non_null(wr_arena_alloc(a, 100000)); /* a big block behind it */
        assert_non_null(wr_arena_alloc(a, 9000));
        wr_arena_reset(a);
        if (i == 0)
            after_one = live_heap();
    }
    assert_int_equal(live_heap(), after_one);
    wr_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_json_facts),
        cmocka_unit_test(test_split_edits),
        cmocka_unit_test(test_lean_edits),
        cmocka_unit_test(test_lean_flat),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_oom),
        cmocka_unit_test(test_server_facts),
        cmocka_unit_test(test_frozen),
        cmocka_unit_test(test_task_facts),
        cmocka_unit_test(test_arena_rewind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
