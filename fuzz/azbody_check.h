/* azbody_check.h - the differential check of the AuthZEN body read as
 * fields (cedar_json_fast_fields, jsonfast.c, and az_map_fields,
 * server/azmap.c) against the usual reading (cedar_json_load, az_map),
 * shared by tests/unit/test_azbody.c and fuzz/fuzz_jsonsplit.c.
 * body_check(text) returns 0 when the quick reader declines the text, 1
 * when it accepts it and everything below holds, and calls bad(why)
 * otherwise:
 *   - it accepts what cedar_json_fast_split accepts, but for an object of
 *     fields of more than WRIT_FIELDS_MAX members, and nothing else;
 *   - cedar_json_load reads the text to an object with the same members in
 *     the same order: string fields are its strings, byte for byte; the
 *     shallow members' fields its objects' members; the context the split
 *     tree (kept members equal, the others json null); anything else equal;
 *   - the Cedar context of the split equals cedar_json_context's reading;
 *   - az_map_fields and az_map (with and without a namespace, subject
 *     optional or not) fail with the same message, or map to the same
 *     entity references, context presence and properties;
 *   - read with the chain not kept and its text wanted (the server without
 *     task-history limits, authzen.c): accepted only where the reading
 *     above accepts, the same Cedar context, and the chain's text
 *     cedar_json_dump_compact's of the usual tree's chain byte for byte
 *     (none where that chain is not an array, or one whose first element
 *     is a string: kept);
 *   - read lean as well (the server without an approval gate, authzen.c:
 *     its keep list, without the destination, and the chain's text, no
 *     json null placeholder):
 *     accepted wherever the reading above accepts, the tree the usual
 *     context's kept members alone, in order, equal (and a chain of names),
 *     no base member in the tree, the chain's text the same, and with
 *     `history` deleted from both (decide.c), cedar_json_context_whole of
 *     the tree and base the usual reading's record or its error. */
#ifndef WRIT_FUZZ_AZBODY_CHECK_H
#define WRIT_FUZZ_AZBODY_CHECK_H

#include <stdlib.h>
#include <string.h>

#include "cedar/json.h"
#include "server/azmap.h"
#include "util/alloc.h"
#include "util/arena.h"

static const char *const body_keep[] = {"destination", "task", "chain", "input", "history", NULL};
static const char *const body_keep_text[] = {"destination", "task", "input", "history", NULL};
static const char *const body_keep_lean[] = {"task", "input", "history", NULL};
static const char *const body_shallow[] = {"subject", "action", "resource", NULL};

static int body_is(const char *const *list, const char *k, size_t kn)
{
    for (const char *const *q = list; *q; q++)
        if (strlen(*q) == kn && !memcmp(*q, k, kn))
            return 1;
    return 0;
}

/* The split context q against the usual tree u: same keys in the same
 * order, kept members equal, the others json null. */
static int body_split_equal(const json_t *q, const json_t *u)
{
    if (!json_is_object(q) || !json_is_object(u) || json_object_size(q) != json_object_size(u))
        return 0;
    void *iq = json_object_iter((json_t *)q), *iu = json_object_iter((json_t *)u);
    for (; iq && iu;
         iq = json_object_iter_next((json_t *)q, iq), iu = json_object_iter_next((json_t *)u, iu)) {
        const char *k = json_object_iter_key(iu);
        size_t kn = json_object_iter_key_len(iu);
        if (kn != json_object_iter_key_len(iq) || memcmp(k, json_object_iter_key(iq), kn))
            return 0;
        json_t *vq = json_object_iter_value(iq), *vu = json_object_iter_value(iu);
        if (body_is(body_keep, k, kn) ? !json_equal(vq, vu) : !json_is_null(vq))
            return 0;
    }
    return !iq && !iu;
}

static int body_field_equal(const writ_json_field *f, const json_t *u, int top)
{
    switch (f->kind) {
    case WRIT_FIELD_STRING:
        return json_is_string(u) && json_string_length(u) == f->len &&
               !memcmp(json_string_value(u), f->str, f->len);
    case WRIT_FIELD_FIELDS: {
        if (!top || !body_is(body_shallow, f->key, f->key_len) || !json_is_object(u) ||
            json_object_size(u) != f->n_fields)
            return 0;
        void *iu = json_object_iter((json_t *)u);
        for (size_t i = 0; i < f->n_fields; i++, iu = json_object_iter_next((json_t *)u, iu)) {
            const writ_json_field *x = &f->fields[i];
            if (!iu || x->key_len != json_object_iter_key_len(iu) ||
                memcmp(x->key, json_object_iter_key(iu), x->key_len) ||
                !body_field_equal(x, json_object_iter_value(iu), 0))
                return 0;
        }
        return 1;
    }
    case WRIT_FIELD_JSON:
        if (top && f->key_len == 7 && !memcmp(f->key, "context", 7))
            return body_split_equal(f->json, u);
        return f->json && json_equal(f->json, (json_t *)u);
    default:
        return 0;
    }
}

static int body_uid_equal(const writ_uid_parts *a, const writ_uid_parts *b)
{
    return a->prefix_len == b->prefix_len && !memcmp(a->prefix, b->prefix, a->prefix_len) &&
           a->type_len == b->type_len && !memcmp(a->type, b->type, a->type_len) && a->id_len == b->id_len &&
           !memcmp(a->id, b->id, a->id_len);
}

static int body_props_equal(const json_t *a, const json_t *b)
{
    return (!a && !b) || (a && b && json_equal((json_t *)a, (json_t *)b));
}

/* Does the usual tree hold an object of fields too large for the quick
 * reader (the one decline cedar_json_fast_split does not share)? */
static int body_too_wide(const json_t *u)
{
    if (!json_is_object(u))
        return 0;
    if (json_object_size(u) > WRIT_FIELDS_MAX)
        return 1;
    for (const char *const *q = body_shallow; *q; q++) {
        json_t *v = json_object_get(u, *q);
        if (json_is_object(v) && json_object_size(v) > WRIT_FIELDS_MAX)
            return 1;
    }
    return 0;
}

static void body_map_check(const writ_json_field *f, size_t nf, const json_t *u, void (*bad)(const char *why))
{
    static const az_names names[2] = {{"", "Action"}, {"Ns::", "Ns::Action"}};
    az_parts p = {json_object_get(u, "subject"), json_object_get(u, "action"), json_object_get(u, "resource"),
                  json_object_get(u, "context")};
    for (int k = 0; k < 4; k++) {
        const az_names *nm = &names[k & 1];
        bool optional = k >= 2;
        az_mapped m1, m2;
        char w1[200] = "", w2[200] = "";
        int r1 = az_map(nm, &p, optional, &m1, w1, sizeof w1);
        int r2 = az_map_fields(nm, f, nf, optional, &m2, w2, sizeof w2);
        if (r1 != r2 || strcmp(w1, w2))
            bad("az_map_fields fails otherwise than az_map");
        if (r1)
            continue;
        if (m1.has_subject != m2.has_subject ||
            (m1.has_subject && !body_uid_equal(&m1.principal, &m2.principal)) ||
            !body_uid_equal(&m1.action, &m2.action) || !body_uid_equal(&m1.resource, &m2.resource))
            bad("az_map_fields maps other entities than az_map");
        if (!m1.context != !m2.context)
            bad("az_map_fields finds the context otherwise than az_map");
        if (!body_props_equal(m1.principal_props, m2.principal_props) ||
            !body_props_equal(m1.resource_props, m2.resource_props))
            bad("az_map_fields finds other properties than az_map");
    }
}

/* The lean reading of t against the usual tree u (see the top). */
static void body_lean_check(const char *t, size_t n, const json_t *u, void (*bad)(const char *why))
{
    wr_arena *al = wr_arena_new(0), *at = wr_arena_new(0), *ar = wr_arena_new(0);
    if (!al || !at || !ar)
        abort(); /* out of memory */
    cedar_json_split spl = {
        .arena = al, .key = "context", .keep = body_keep_lean, .text_key = "chain", .lean = true};
    cedar_json_split spt = {.arena = at, .key = "context", .keep = body_keep_text, .text_key = "chain"};
    const writ_json_field *fl = NULL, *ft = NULL;
    size_t nl = 0, nt = 0;
    int lean = !cedar_json_fast_fields(t, n, &spl, body_shallow, &fl, &nl);
    int text = !cedar_json_fast_fields(t, n, &spt, body_shallow, &ft, &nt);
    /* (the destination is read as a Cedar value in the lean reading only,
     * which may decline it: a null, say) */
    const json_t *uc0 = json_object_get(u, "context");
    if (text && !lean && !json_object_get(uc0, "destination"))
        bad("the lean reading declines a text the placeholder reading accepts");
    if (text && ((spl.text == NULL) != (spt.text == NULL) || (spl.text && strcmp(spl.text, spt.text))))
        bad("the lean reading's chain text differs");
    if (lean) {
        const writ_json_field *cf = az_field(fl, nl, "context");
        const json_t *uc = json_object_get(u, "context");
        if (!cf || cf->kind != WRIT_FIELD_JSON || !json_is_object(cf->json) || !json_is_object(uc) ||
            !spl.done || !spl.base)
            bad("the lean reading has no context tree or base");
        /* the tree: the usual context's kept members, in its order */
        void *iq = json_object_iter(cf->json);
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)uc, k, v)
        {
            size_t kn = strlen(k);
            int keep = body_is(body_keep_lean, k, kn) ||
                       (!strcmp(k, "chain") && json_is_string(json_array_get(v, 0)));
            if (!keep) {
                if (!cv_record_get(spl.base, k, kn))
                    bad("a member the lean reading left out of the tree is not in its base");
                continue;
            }
            if (!iq || strcmp(json_object_iter_key(iq), k) || !json_equal(json_object_iter_value(iq), v))
                bad("the lean tree is not the usual context's kept members");
            if (cv_record_get(spl.base, k, kn))
                bad("a kept member is in the lean base");
            iq = json_object_iter_next(cf->json, iq);
        }
        if (iq)
            bad("the lean tree has more members than the usual context keeps");
        /* the Cedar record (history deleted, as the decision path does) */
        json_t *uc2 = json_copy((json_t *)uc);
        if (!uc2)
            abort();
        json_object_del(uc2, "history");
        json_object_del(cf->json, "history");
        const cv_record *r1 = NULL, *r2 = NULL;
        writ_error e1, e2;
        memset(&e1, 0, sizeof e1);
        memset(&e2, 0, sizeof e2);
        writ_status s1 = cedar_json_context(ar, uc2, NULL, NULL, &r1, &e1);
        writ_status s2 = cedar_json_context_whole(al, cf->json, spl.base, NULL, 0, &r2, &e2);
        if (s1 != s2 || (s1 && strcmp(e1.msg, e2.msg)))
            bad("the lean Cedar reading succeeds or fails differently");
        if (!s1) {
            cv_value v1, v2;
            v1.type = v2.type = CV_RECORD;
            v1.u.rec = r1;
            v2.u.rec = r2;
            if (!cv_equal(v1, v2))
                bad("the lean Cedar context differs");
        }
        json_decref(uc2);
    }
    cedar_json_fields_release(fl, nl);
    cedar_json_fields_release(ft, nt);
    wr_arena_free(al);
    wr_arena_free(at);
    wr_arena_free(ar);
}

static int body_check(const char *t, size_t n, void (*bad)(const char *why))
{
    wr_arena *a1 = wr_arena_new(0), *a2 = wr_arena_new(0), *a3 = wr_arena_new(0);
    json_t *q = NULL, *u = NULL;
    const writ_json_field *f = NULL;
    size_t nf = 0;
    int accepted = 0;
    if (!a1 || !a2 || !a3)
        goto out;
    cedar_json_split sp = {.arena = a2, .key = "context", .keep = body_keep};
    cedar_json_split sp3 = {.arena = a3, .key = "context", .keep = body_keep};
    accepted = !cedar_json_fast_fields(t, n, &sp, body_shallow, &f, &nf);
    q = cedar_json_fast_split(t, n, &sp3);
    writ_error err;
    memset(&err, 0, sizeof err);
    u = cedar_json_load(t, n, &err);
    if (accepted && !q)
        bad("the fields reader accepts a text cedar_json_fast_split declines");
    if (!accepted) {
        if (q && !body_too_wide(u))
            bad("the fields reader declines a text cedar_json_fast_split accepts");
        goto out;
    }
    if (!sp.done || !sp.base)
        bad("accepted without the split member");
    if (!json_is_object(u) || json_object_size(u) != nf)
        bad("accepted a text the usual reader refuses, or other members");
    void *iu = json_object_iter(u);
    for (size_t i = 0; i < nf; i++, iu = json_object_iter_next(u, iu)) {
        if (!iu || f[i].key_len != json_object_iter_key_len(iu) ||
            memcmp(f[i].key, json_object_iter_key(iu), f[i].key_len))
            bad("a member's key or place differs");
        if (!body_field_equal(&f[i], json_object_iter_value(iu), 1))
            bad("a member's value differs");
    }
    /* the Cedar context */
    const writ_json_field *cf = az_field(f, nf, "context");
    if (!cf || cf->kind != WRIT_FIELD_JSON)
        bad("the context is not the split tree");
    const cv_record *r1 = NULL, *r2 = NULL;
    writ_error e1, e2;
    memset(&e1, 0, sizeof e1);
    memset(&e2, 0, sizeof e2);
    writ_status s1 = cedar_json_context(a1, json_object_get(u, "context"), NULL, NULL, &r1, &e1);
    writ_status s2 = cedar_json_context_subst(a2, cf->json, sp.base, &r2, &e2);
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
    body_map_check(f, nf, u, bad);
    if (!s1) {
        /* the chain read as a Cedar value, its text from the reading */
        wr_arena *a4 = wr_arena_new(0);
        if (!a4)
            goto out;
        cedar_json_split sp4 = {.arena = a4, .key = "context", .keep = body_keep_text, .text_key = "chain"};
        const writ_json_field *f4 = NULL;
        size_t nf4 = 0;
        if (!cedar_json_fast_fields(t, n, &sp4, body_shallow, &f4, &nf4)) {
            const writ_json_field *cf4 = az_field(f4, nf4, "context");
            const cv_record *r4 = NULL;
            writ_error e4;
            memset(&e4, 0, sizeof e4);
            if (!cf4 || cf4->kind != WRIT_FIELD_JSON ||
                cedar_json_context_subst(a4, cf4->json, sp4.base, &r4, &e4))
                bad("the reading with the chain's text fails where the usual one does not");
            cv_value v1, v4;
            v1.type = v4.type = CV_RECORD;
            v1.u.rec = r1;
            v4.u.rec = r4;
            if (!cv_equal(v1, v4))
                bad("the Cedar context with the chain's text differs");
            const json_t *uc = json_object_get(json_object_get(u, "context"), "chain");
            /* (an array of names stays JSON: no text) */
            int has = json_is_array(uc) && !json_is_string(json_array_get(uc, 0));
            char *want = has ? cedar_json_dump_compact(uc) : NULL;
            if (has && !want)
                abort(); /* out of memory */
            if ((want == NULL) != (sp4.text == NULL) || (want && strcmp(want, sp4.text)))
                bad("the chain's text differs from its compact dump");
            wr_free(want);
            cedar_json_fields_release(f4, nf4);
        }
        wr_arena_free(a4);
    }
    body_lean_check(t, n, u, bad);
out:
    cedar_json_fields_release(f, nf);
    json_decref(q);
    json_decref(u);
    wr_arena_free(a1);
    wr_arena_free(a2);
    wr_arena_free(a3);
    return accepted;
}

#endif
