/* jsonsplit_check.h - the differential check of cedar_json_fast_split
 * (jsonfast.c) against the usual reading, shared by tests/unit/test_jsonsplit.c
 * and fuzz/fuzz_jsonsplit.c.  split_check(text) returns 0 when the quick
 * reader declines the text, 1 when it accepts it and everything below
 * holds, and calls fail(why) otherwise:
 *   - cedar_json_load reads the text too, to the same tree but for the
 *     context's non-kept members (json null in the split tree), same key
 *     order;
 *   - the usual Cedar reading of the context (cedar_json_context without a
 *     schema) succeeds, and cedar_json_context_subst of the split tree with
 *     the split's values gives an equal record. */
#ifndef WRIT_FUZZ_JSONSPLIT_CHECK_H
#define WRIT_FUZZ_JSONSPLIT_CHECK_H

#include <stdlib.h>
#include <string.h>

#include "cedar/json.h"
#include "util/arena.h"

static const char *const split_keep_test[] = {"destination", "task", "chain", "input", NULL};

static int split_kept(const char *k)
{
    for (const char *const *q = split_keep_test; *q; q++)
        if (!strcmp(*q, k))
            return 1;
    return 0;
}

static int split_check(const char *t, size_t n, void (*bad)(const char *why))
{
    wr_arena *a1 = wr_arena_new(0), *a2 = wr_arena_new(0);
    if (!a1 || !a2) {
        wr_arena_free(a1);
        wr_arena_free(a2);
        return 0;
    }
    cedar_json_split sp = {.arena = a2, .key = "context", .keep = split_keep_test};
    json_t *q = cedar_json_fast_split(t, n, &sp);
    int accepted = q != NULL;
    json_t *u = NULL;
    if (!q)
        goto out;
    if (!sp.done || !sp.base)
        bad("accepted without the split member");
    writ_error err;
    memset(&err, 0, sizeof err);
    u = cedar_json_load(t, n, &err);
    if (!json_is_object(u) || !json_is_object(q))
        bad("accepted a text the usual reader refuses (or not an object)");
    json_t *cu = json_object_get(u, "context"), *cq = json_object_get(q, "context");
    if (!json_is_object(cu) || !json_is_object(cq) || json_object_size(cu) != json_object_size(cq))
        bad("the context member differs");
    /* the members outside the context: equal, in the same order */
    void *iu = json_object_iter(u), *iq = json_object_iter(q);
    for (; iu && iq; iu = json_object_iter_next(u, iu), iq = json_object_iter_next(q, iq)) {
        if (strcmp(json_object_iter_key(iu), json_object_iter_key(iq)))
            bad("top-level key order differs");
        if (strcmp(json_object_iter_key(iu), "context") &&
            !json_equal(json_object_iter_value(iu), json_object_iter_value(iq)))
            bad("a top-level member differs");
    }
    if (iu || iq)
        bad("top-level members differ");
    /* the context: kept members equal, the others null, same order */
    iu = json_object_iter(cu), iq = json_object_iter(cq);
    for (; iu && iq; iu = json_object_iter_next(cu, iu), iq = json_object_iter_next(cq, iq)) {
        const char *k = json_object_iter_key(iu);
        if (strcmp(k, json_object_iter_key(iq)))
            bad("context key order differs");
        if (split_kept(k) ? !json_equal(json_object_iter_value(iu), json_object_iter_value(iq))
                          : !json_is_null(json_object_iter_value(iq)))
            bad("a context member differs");
    }
    /* the Cedar values */
    const cv_record *r1 = NULL, *r2 = NULL;
    writ_error e1, e2;
    memset(&e1, 0, sizeof e1);
    memset(&e2, 0, sizeof e2);
    writ_status s1 = cedar_json_context(a1, cu, NULL, NULL, &r1, &e1);
    writ_status s2 = cedar_json_context_subst(a2, cq, sp.base, &r2, &e2);
    if (s1 != s2 || (s1 && strcmp(e1.msg, e2.msg)))
        bad("the Cedar reading succeeds or fails differently");
    if (!s1) {
        cv_value v1, v2;
        v1.type = v2.type = CV_RECORD;
        v1.u.rec = r1;
        v2.u.rec = r2;
        if (!cv_equal(v1, v2))
            bad("the Cedar context differs");
    }
out:
    json_decref(q);
    json_decref(u);
    wr_arena_free(a1);
    wr_arena_free(a2);
    return accepted;
}

#endif
