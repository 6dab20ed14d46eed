/* reqbuild.c - Cedar requests from parts in hand (reqbuild.h). */
#include "cedar/reqbuild.h"

#include "cedar/json.h"
#include "cedar/parser.h"
#include "cedar/request.h"
#include "util/alloc.h"
#include "util/arena.h"
#include "util/error.h"

#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

writ_request *cedar_request_reusable(void)
{
    writ_request *rq = wr_calloc(1, sizeof *rq);
    if (rq)
        rq->arena = wr_arena_new(0);
    if (!rq || !rq->arena) {
        wr_free(rq);
        return NULL;
    }
    rq->context = &cv_empty_record;
    return rq;
}

static void clear(writ_request *rq)
{
    wr_arena_reset(rq->arena);
    rq->principal = rq->action = rq->resource = NULL;
    rq->context = &cv_empty_record;
    rq->nover = 0;
    rq->over = NULL;
}

static writ_status make_uid(wr_arena *a, const cedar_uid_parts *p, const char *what, const cv_uid **out,
                            writ_error *err)
{
    if (!p || (p->prefix_len && !p->prefix) || (p->type_len && !p->type) || (p->id_len && !p->id))
        return wr_error(err, WRIT_EINVAL, "%s: missing (NULL prefix, type or id of non-zero length)", what);
    size_t n = p->prefix_len + p->type_len;
    if (n < p->type_len || n > SIZE_MAX / 2)
        return wr_error(err, WRIT_ELIMIT, "%s: entity type name too long", what);
    /* the type's string is built in place: prefix and type are copied once */
    cv_string *ts = wr_arena_alloc(a, sizeof *ts + n + 1);
    if (!ts)
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    if (p->prefix_len)
        memcpy(ts->data, p->prefix, p->prefix_len);
    if (p->type_len)
        memcpy(ts->data + p->prefix_len, p->type, p->type_len);
    ts->data[n] = '\0';
    ts->len = n;
    if (!cedar_valid_type_name(ts->data, n))
        return wr_error(err, WRIT_EJSON, "%s: `%.*s` is not a valid entity type name", what,
                        (int)(n > 80 ? 80 : n), ts->data);
    ts->hash = cv_hash_bytes(ts->data, n);
    const cv_string *is = cv_string_new(a, p->id, p->id_len);
    *out = is ? cv_uid_new(a, ts, is) : NULL;
    return *out ? WRIT_OK : wr_error(err, WRIT_ENOMEM, "out of memory");
}

static writ_status fill(writ_request *rq, const writ_schema *s, bool validate,
                        const cedar_uid_parts *principal, const cedar_uid_parts *action,
                        const cedar_uid_parts *resource, const json_t *context, bool direct, bool whole,
                        const cv_record *subst, const cedar_fact *facts, size_t nfacts, writ_error *err)
{
    if (!rq || !rq->arena || !principal || !action || !resource)
        return wr_error(err, WRIT_EINVAL, "cedar_request_fill: missing argument");
    clear(rq);
    static const char *const names[3] = {"principal", "action", "resource"};
    const cedar_uid_parts *parts[3] = {principal, action, resource};
    const cv_uid *u[3];
    writ_status st = WRIT_OK;
    for (int k = 0; k < 3 && !st; k++)
        st = make_uid(rq->arena, parts[k], names[k], &u[k], err);
    if (!st && s && validate)
        st = cedar_request_validate(s, u[0], u[1], u[2], err);
    const cv_record *ctx = &cv_empty_record;
    if (!st) {
        st = whole    ? cedar_json_context_whole(rq->arena, context, subst, facts, nfacts, &ctx, err)
             : direct ? cedar_json_context_facts(rq->arena, context, subst, facts, nfacts, &ctx, err)
                      : cedar_json_context(rq->arena, context, s, u[1], &ctx, err);
        if (st == WRIT_ESCHEMA && validate) {
            st = WRIT_EVALIDATE;
            if (err)
                err->code = st;
        }
    }
    if (st) {
        clear(rq);
        return st;
    }
    rq->principal = u[0];
    rq->action = u[1];
    rq->resource = u[2];
    rq->context = ctx;
    return WRIT_OK;
}

writ_status cedar_request_context_numbers(writ_request *rq, const char *key, const writ_number_field *f,
                                          size_t n, writ_error *err)
{
    if (!rq || !rq->arena || !rq->principal || !rq->context || !key || (n && !f))
        return wr_error(err, WRIT_EINVAL,
                        "writ_request_context_numbers: missing argument or request not filled");
    wr_arena *a = rq->arena;
    cv_field *fs = wr_arena_alloc(a, (n ? n : 1) * sizeof *fs);
    const cv_string *k = cv_string_new(a, key, strlen(key));
    if (!fs || !k)
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!f[i].name || !(fs[i].key = cv_string_new(a, f[i].name, strlen(f[i].name))))
            return wr_error(err, f[i].name ? WRIT_ENOMEM : WRIT_EINVAL,
                            "context.%.60s: a field without a name", key);
        if (!f[i].decimal) {
            fs[i].v = cv_long(f[i].value);
            continue;
        }
        cv_ext *x = wr_arena_alloc(a, sizeof *x);
        if (!x)
            return wr_error(err, WRIT_ENOMEM, "out of memory");
        memset(x, 0, sizeof *x);
        x->kind = CVX_DECIMAL;
        x->u.decimal = f[i].value;
        fs[i].v = cv_ext_value(x);
    }
    if (cv_fields_have_duplicate(fs, n))
        return wr_error(err, WRIT_EINVAL, "context.%.60s: two fields of one name", key);
    cv_value rec = cv_record_new(a, fs, n);
    /* the context with KEY replaced or added, kept sorted by key */
    const cv_record *old = rq->context;
    cv_record *r =
        rec.type == CV_RECORD ? wr_arena_alloc(a, sizeof *r + (old->n + 1) * sizeof(cv_field)) : NULL;
    if (!r)
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    size_t w = 0;
    bool put = false;
    for (size_t i = 0; i < old->n; i++) {
        int c = cv_string_cmp(old->f[i].key, k);
        if (c == 0)
            continue;
        if (c > 0 && !put) {
            r->f[w++] = (cv_field){k, rec};
            put = true;
        }
        r->f[w++] = old->f[i];
    }
    if (!put)
        r->f[w++] = (cv_field){k, rec};
    r->n = w;
    rq->context = r;
    return WRIT_OK;
}

writ_status cedar_request_context_sorted(writ_request *rq, const cv_string *key, const cedar_number_field *f,
                                         size_t n, writ_error *err)
{
    if (!rq || !rq->arena || !rq->principal || !rq->context || !key || (n && !f))
        return wr_error(err, WRIT_EINVAL,
                        "writ_request_context_numbers: missing argument or request not filled");
    const cv_record *old = rq->context;
    size_t nd = 0;
    for (size_t i = 0; i < n; i++)
        nd += f[i].decimal;
    /* one allocation: the record, the context around it, the decimals */
    size_t rsz = sizeof(cv_record) + n * sizeof(cv_field),
           csz = sizeof(cv_record) + (old->n + 1) * sizeof(cv_field);
    rsz = (rsz + 15) & ~(size_t)15;
    csz = (csz + 15) & ~(size_t)15;
    char *mem = wr_arena_alloc(rq->arena, rsz + csz + nd * sizeof(cv_ext));
    if (!mem)
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    cv_record *rec = (cv_record *)mem, *r = (cv_record *)(mem + rsz);
    cv_ext *x = (cv_ext *)(mem + rsz + csz);
    for (size_t i = 0; i < n; i++) {
        assert(i == 0 || cv_string_cmp(f[i - 1].name, f[i].name) < 0);
        rec->f[i].key = f[i].name;
        if (!f[i].decimal) {
            rec->f[i].v = cv_long(f[i].value);
            continue;
        }
        memset(x, 0, sizeof *x);
        x->kind = CVX_DECIMAL;
        x->u.decimal = f[i].value;
        rec->f[i].v = cv_ext_value(x++);
    }
    rec->n = n;
    cv_value rv;
    rv.type = CV_RECORD;
    rv.u.rec = rec;
    /* the context with KEY replaced or added, kept sorted by key: the
     * fields before it, KEY, the fields after it */
    size_t lo = 0, hi = old->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cv_string_cmp(old->f[mid].key, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t after = lo < old->n && cv_string_cmp(old->f[lo].key, key) == 0 ? lo + 1 : lo;
    memcpy(r->f, old->f, lo * sizeof(cv_field));
    r->f[lo] = (cv_field){key, rv};
    memcpy(r->f + lo + 1, old->f + after, (old->n - after) * sizeof(cv_field));
    r->n = lo + 1 + old->n - after;
    rq->context = r;
    return WRIT_OK;
}

writ_status cedar_request_fill(writ_request *rq, const writ_schema *s, bool validate,
                               const cedar_uid_parts *principal, const cedar_uid_parts *action,
                               const cedar_uid_parts *resource, const json_t *context, writ_error *err)
{
    return fill(rq, s, validate, principal, action, resource, context, false, false, NULL, NULL, 0, err);
}

writ_status cedar_request_fill_subst(writ_request *rq, const cedar_uid_parts *principal,
                                     const cedar_uid_parts *action, const cedar_uid_parts *resource,
                                     const json_t *context, const struct cv_record *subst, writ_error *err)
{
    if (!subst)
        return wr_error(err, WRIT_EINVAL, "cedar_request_fill_subst: missing argument");
    return fill(rq, NULL, false, principal, action, resource, context, true, false, subst, NULL, 0, err);
}

writ_status cedar_request_fill_whole(writ_request *rq, const cedar_uid_parts *principal,
                                     const cedar_uid_parts *action, const cedar_uid_parts *resource,
                                     const json_t *context, const struct cv_record *base,
                                     const cedar_fact *facts, size_t nfacts, writ_error *err)
{
    if (!base || (nfacts && !facts))
        return wr_error(err, WRIT_EINVAL, "cedar_request_fill_whole: missing argument");
    return fill(rq, NULL, false, principal, action, resource, context, true, true, base, facts, nfacts, err);
}

writ_status cedar_request_fill_facts(writ_request *rq, const cedar_uid_parts *principal,
                                     const cedar_uid_parts *action, const cedar_uid_parts *resource,
                                     const json_t *context, const struct cv_record *subst,
                                     const cedar_fact *facts, size_t nfacts, writ_error *err)
{
    if (nfacts && !facts)
        return wr_error(err, WRIT_EINVAL, "cedar_request_fill_facts: missing argument");
    return fill(rq, NULL, false, principal, action, resource, context, true, false, subst, facts, nfacts,
                err);
}

/* cedar_fact_freeze's memory: one arena for the process, never freed. */
static pthread_mutex_t frozen_mu = PTHREAD_MUTEX_INITIALIZER;
static wr_arena *frozen;

int cedar_fact_freeze(cedar_fact *f, bool value)
{
    int rc = -1;
    pthread_mutex_lock(&frozen_mu);
    if (!frozen)
        frozen = wr_arena_new(1024);
    const cv_string *k = frozen ? cv_string_new(frozen, f->name.p, f->name.n) : NULL;
    cv_value *v = k && value ? wr_arena_alloc(frozen, sizeof *v) : NULL;
    if (k && (!value || v)) {
        cedar_fact g = *f;
        g.key = NULL;
        g.value = NULL;
        writ_error err;
        const cv_record *r = NULL;
        /* the value as a request would make it: a context of this fact alone */
        if (!value ||
            (cedar_json_context_facts(frozen, NULL, NULL, &g, 1, &r, &err) == WRIT_OK && r->n == 1)) {
            if (value)
                *v = r->f[0].v;
            f->key = k;
            f->value = v;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&frozen_mu);
    return rc;
}
