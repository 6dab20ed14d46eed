/* authorize.c - the decision: candidates from the index, evaluation, and
 * Cedar's combining rule.
 *
 *   - a satisfied forbid denies (reasons: every satisfied forbid);
 *   - otherwise a satisfied permit allows (reasons: every satisfied permit);
 *   - otherwise deny with no reasons (default deny);
 *   - a policy whose evaluation fails is skipped and reported in errors.
 */
#include "cedar/eval.h"
#include "cedar/explain.h"
#include "cedar/partial.h"
#include "cedar/policyset.h"
#include "cedar/request.h"
#include "util/alloc.h"
#include "util/error.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* The steps of a decision that writ_authorize_partial shares.  With one
 * caller the compiler inlined them into writ_authorize; with two it did
 * not, and writ_authorize took 1-6 % more instructions a decision
 * (callgrind on bench_cedar): they are inlined into both. */
#define INLINE static inline __attribute__((always_inline))

struct writ_authorizer {
    wr_arena *arena; /* reset at every decision */
    uint32_t epoch;  /* of the current decision */
    uint32_t *stamp; /* per policy: epoch it was last a candidate */
    uint32_t *cand;
    size_t npol_cap; /* of stamp and cand */
    uint32_t *mark;  /* per key id: epoch the request was last `in` it */
    size_t nkey_cap;
    /* the current request in key and type ids (see policyset.c) */
    uint32_t self[3];    /* key id of the request's principal, action, resource */
    uint32_t type[3];    /* type id of their types */
    uint32_t bits[3];    /* pentry.bits of the marked keys */
    writ_request *owned; /* writ_authorize_json's request, kept until the next */
    /* what the last writ_authorize found (cedar_authorize_last): its set,
     * and every satisfied permit and forbid, in policy order (in arena);
     * last_ps is NULL once anything else used the authorizer */
    const writ_policyset *last_ps;
    const uint32_t *last_permits, *last_forbids;
    size_t last_np, last_nf;
};

writ_authorizer *writ_authorizer_new(void)
{
    writ_authorizer *az = wr_calloc(1, sizeof *az);
    if (!az)
        return NULL;
    az->arena = wr_arena_new(16 * 1024);
    if (!az->arena) {
        wr_free(az);
        return NULL;
    }
    return az;
}

void writ_authorizer_free(writ_authorizer *az)
{
    if (!az)
        return;
    writ_request_free(az->owned);
    wr_arena_free(az->arena);
    wr_free(az->stamp);
    wr_free(az->cand);
    wr_free(az->mark);
    wr_free(az);
}

/* A zeroed stamp array of at least n entries. */
static int grow_stamps(uint32_t **arr, size_t *cap, size_t n)
{
    if (n <= *cap)
        return 0;
    uint32_t *s = wr_realloc(*arr, n * sizeof *s);
    if (!s)
        return -1;
    memset(s + *cap, 0, (n - *cap) * sizeof *s);
    *arr = s;
    *cap = n;
    return 0;
}

/* Scratch for ps, and a fresh epoch. */
INLINE int begin(writ_authorizer *az, const writ_policyset *ps)
{
    az->last_ps = NULL;
    if (ps->n > az->npol_cap) {
        uint32_t *c = wr_realloc(az->cand, ps->n * sizeof *c);
        if (!c)
            return -1;
        az->cand = c;
        size_t cap = az->npol_cap;
        if (grow_stamps(&az->stamp, &cap, ps->n))
            return -1;
        az->npol_cap = cap;
    }
    if (grow_stamps(&az->mark, &az->nkey_cap, ps->nkeys ? ps->nkeys : 1))
        return -1;
    if (++az->epoch == 0) { /* wrapped: forget old stamps */
        memset(az->stamp, 0, az->npol_cap * sizeof *az->stamp);
        memset(az->mark, 0, az->nkey_cap * sizeof *az->mark);
        az->epoch = 1;
    }
    az->mark[PKEY_ALWAYS] = az->epoch;
    return 0;
}

/* Mark the keys of dimension d that the request's uid is `in` (itself and
 * its ancestors) and append to hits the slots of those that have policies
 * filed under them. */
INLINE size_t mark_dim(writ_authorizer *az, const writ_policyset *ps, int d, const cv_uid *uid,
                       const cedar_entity *e, const pidx_slot **hits, size_t nh)
{
    const pidx *ix = &ps->dim[d];
    az->self[d] = PKEY_NONE;
    az->type[d] = ps->has_is[d] ? cedar_ptype_find(ps, uid->type) : PKEY_NONE;
    uint32_t bits = PBIT_REQUEST;
    if (az->type[d] != PKEY_NONE)
        bits |= pkey_bit(az->type[d]);
    az->bits[d] = bits;
    if (!ix->used)
        return nh;
    const pidx_slot *s = cedar_pidx_find(ix, uid);
    if (s) {
        az->self[d] = s->id;
        az->mark[s->id] = az->epoch;
        bits |= pkey_bit(s->ord);
        if (s->n)
            hits[nh++] = s;
    }
    if (e)
        for (size_t i = 0; i < e->nanc; i++)
            if ((s = cedar_pidx_find(ix, e->anc_list[i])) && az->mark[s->id] != az->epoch) {
                az->mark[s->id] = az->epoch;
                bits |= pkey_bit(s->ord);
                if (s->n)
                    hits[nh++] = s;
            }
    az->bits[d] = bits;
    return nh;
}

/* The dimensions of a pscope that go by op (see policyset.h). */
static bool general_ok(const writ_authorizer *az, const writ_policyset *ps, const pscope *c)
{
    for (int d = 0; d < 3; d++) {
        if (!(c->general & (1u << d)))
            continue;
        if (c->op[d] != SC_IN_SET)
            return false; /* PSC_NEVER */
        bool any = false;
        for (uint32_t i = 0; i < c->nset && !any; i++)
            any = az->mark[ps->setkey[c->set + i]] == az->epoch;
        if (!any)
            return false;
    }
    return true;
}

/* Does the scope of a policy whose digest met the request's match?
 * (Exactly what cedar_scope_matches says of its AST.)  Without branches
 * but for the rare general dimensions. */
INLINE bool scope_ok(const writ_authorizer *az, const writ_policyset *ps, uint32_t p)
{
    const pscope *c = &ps->scope[p];
    if (c->general && !general_ok(az, ps, c))
        return false;
    const uint32_t *mark = az->mark, epoch = az->epoch;
    bool ok = true;
    for (int d = 0; d < 3; d++)
        ok &= (mark[c->key[d]] == epoch) & (!c->eq[d] | (c->key[d] == az->self[d])) &
              (!c->type[d] | (c->type[d] == az->type[d]));
    return ok;
}

/* Append the policies of a slot that match and are not yet candidates. */
INLINE size_t add_slot(writ_authorizer *az, const writ_policyset *ps, const eval_env *env, const pidx_slot *s,
                       size_t nc)
{
    /* locals: the stores below could alias az->bits */
    const uint32_t ba = az->bits[DIM_ACTION], br = az->bits[DIM_RESOURCE], bp = az->bits[DIM_PRINCIPAL];
    /* indexed, not `s->pol + s->n`: an empty slot (ps->always when every
     * policy is filed under a key) has no array, and NULL + 0 is undefined */
    for (size_t i = 0; i < s->n; i++) {
        const pentry *e = &s->pol[i];
        /* the digest rejects most policies; the rest get the exact check */
        if (!(e->bits[DIM_ACTION] & ba) || !(e->bits[DIM_RESOURCE] & br) || !(e->bits[DIM_PRINCIPAL] & bp)) {
            assert(!cedar_scope_matches(env, ps->pol[e->pol]));
            continue;
        }
        uint32_t p = e->pol;
        bool ok = scope_ok(az, ps, p);
        assert(ok == cedar_scope_matches(env, ps->pol[p]));
        if (ok && az->stamp[p] != az->epoch) {
            az->stamp[p] = az->epoch;
            az->cand[nc++] = p;
        }
    }
    return nc;
}

/* The policies whose scope matches the request, in no particular order. */
INLINE int candidates(writ_authorizer *az, const writ_policyset *ps, const eval_env *env, size_t *nc)
{
    const cv_uid *uid[3] = {env->var[VAR_PRINCIPAL].u.uid, env->var[VAR_ACTION].u.uid,
                            env->var[VAR_RESOURCE].u.uid};
    const cedar_entity *ent[3] = {env->ent[VAR_PRINCIPAL], env->ent[VAR_ACTION], env->ent[VAR_RESOURCE]};
    size_t maxhits = 4;
    for (int d = 0; d < 3; d++)
        maxhits += ent[d] ? ent[d]->nanc : 0;
    const pidx_slot **hits = wr_arena_alloc(az->arena, maxhits * sizeof *hits);
    if (!hits)
        return -1;
    size_t nh = 0;
    for (int d = 0; d < 3; d++)
        nh = mark_dim(az, ps, d, uid[d], ent[d], hits, nh);
    hits[nh++] = &ps->always;
    *nc = 0;
    for (size_t i = 0; i < nh; i++)
        *nc = add_slot(az, ps, env, hits[i], *nc);
    return 0;
}

/* Results are few: insertion sort keeps their order stable (policy order)
 * without sorting the many candidates. */
static void sort_u32(uint32_t *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint32_t v = a[i];
        size_t j = i;
        while (j > 0 && a[j - 1] > v) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = v;
    }
}

static void deny(writ_decision *out) { memset(out, 0, sizeof *out); }

writ_status writ_authorize(writ_authorizer *az, const writ_policyset *ps, const writ_entities *es,
                           const writ_request *rq, writ_decision *out)
{
    if (!out)
        return WRIT_EINVAL;
    deny(out);
    if (az)
        az->last_ps = NULL;
    /* a request never filled, or whose fill failed, decides nothing */
    if (!az || !ps || !rq || !rq->principal || !rq->action || !rq->resource)
        return WRIT_EINVAL;
    wr_arena_reset(az->arena);
    if (begin(az, ps))
        return WRIT_ENOMEM;

    eval_env env;
    env.arena = az->arena;
    env.es = es ? es->store : NULL;
    env.over = rq->over;
    env.nover = rq->nover;
    env.var[VAR_PRINCIPAL] = cv_entity(rq->principal);
    env.var[VAR_ACTION] = cv_entity(rq->action);
    env.var[VAR_RESOURCE] = cv_entity(rq->resource);
    env.var[VAR_CONTEXT].type = CV_RECORD;
    env.var[VAR_CONTEXT].u.rec = rq->context ? rq->context : &cv_empty_record;
    env.depth = 0;
    env.err[0] = '\0';
    cedar_env_resolve(&env);

    size_t nc;
    if (candidates(az, ps, &env, &nc))
        return WRIT_ENOMEM;

    /* Results are collected as policy indices, in policy order. */
    uint32_t *permits = wr_arena_alloc(az->arena, (nc ? nc : 1) * sizeof *permits);
    uint32_t *forbids = wr_arena_alloc(az->arena, (nc ? nc : 1) * sizeof *forbids);
    writ_policy_error *errs = wr_arena_alloc(az->arena, (nc ? nc : 1) * sizeof *errs);
    uint32_t *erridx = wr_arena_alloc(az->arena, (nc ? nc : 1) * sizeof *erridx);
    if (!permits || !forbids || !errs || !erridx)
        return WRIT_ENOMEM;
    size_t np = 0, nf = 0, ne = 0;
    for (size_t i = 0; i < nc; i++) {
        const ast_policy *p = ps->pol[az->cand[i]];
        bool sat;
        if (cedar_eval_conditions(&env, p, &sat)) {
            errs[ne].policy_id = p->id;
            errs[ne].message = wr_arena_strndup(az->arena, env.err, strlen(env.err));
            if (!errs[ne].message)
                return WRIT_ENOMEM;
            erridx[ne++] = az->cand[i];
            continue;
        }
        if (!sat)
            continue;
        if (p->permit)
            permits[np++] = az->cand[i];
        else
            forbids[nf++] = az->cand[i];
    }
    /* report in policy order, whatever order the index gave */
    sort_u32(permits, np);
    sort_u32(forbids, nf);
    for (size_t i = 1; i < ne; i++) {
        writ_policy_error e = errs[i];
        uint32_t k = erridx[i];
        size_t j = i;
        while (j > 0 && erridx[j - 1] > k) {
            errs[j] = errs[j - 1];
            erridx[j] = erridx[j - 1];
            j--;
        }
        errs[j] = e;
        erridx[j] = k;
    }
    const uint32_t *why = nf ? forbids : permits;
    size_t nwhy = nf ? nf : np;
    const char **reasons = wr_arena_alloc(az->arena, (nwhy ? nwhy : 1) * sizeof *reasons);
    if (!reasons)
        return WRIT_ENOMEM;
    for (size_t i = 0; i < nwhy; i++)
        reasons[i] = ps->pol[why[i]]->id;
    out->allow = nf == 0 && np > 0;
    out->nreasons = nwhy;
    out->reasons = reasons;
    out->nerrors = ne;
    out->errors = errs;
    az->last_ps = ps;
    az->last_permits = permits;
    az->last_np = np;
    az->last_forbids = forbids;
    az->last_nf = nf;
    return WRIT_OK;
}

bool cedar_authorize_last(const writ_authorizer *az, const writ_policyset *ps, const uint32_t **permits,
                          size_t *np, const uint32_t **forbids, size_t *nf)
{
    if (!az || !ps || az->last_ps != ps)
        return false;
    *permits = az->last_permits;
    *np = az->last_np;
    *forbids = az->last_forbids;
    *nf = az->last_nf;
    return true;
}

void *cedar_authorizer_scratch(writ_authorizer *az, size_t n) { return wr_arena_alloc(az->arena, n ? n : 1); }

/* writ_authorize's first steps, for the partial decision and explain.c:
 * the environment of rq and the candidates in az->cand.  The arena is not
 * rewound (the caller does, or keeps what it holds). */
static int prepare(writ_authorizer *az, const writ_policyset *ps, const writ_entities *es,
                   const writ_request *rq, eval_env *env, size_t *nc)
{
    if (begin(az, ps))
        return -1;
    env->arena = az->arena;
    env->es = es ? es->store : NULL;
    env->over = rq->over;
    env->nover = rq->nover;
    env->var[VAR_PRINCIPAL] = cv_entity(rq->principal);
    env->var[VAR_ACTION] = cv_entity(rq->action);
    env->var[VAR_RESOURCE] = cv_entity(rq->resource);
    env->var[VAR_CONTEXT].type = CV_RECORD;
    env->var[VAR_CONTEXT].u.rec = rq->context ? rq->context : &cv_empty_record;
    env->depth = 0;
    env->err[0] = '\0';
    cedar_env_resolve(env);
    return candidates(az, ps, env, nc);
}

static int start(writ_authorizer *az, const writ_policyset *ps, const writ_entities *es,
                 const writ_request *rq, eval_env *env, size_t *nc)
{
    wr_arena_reset(az->arena);
    return prepare(az, ps, es, rq, env, nc);
}

int cedar_candidates_again(writ_authorizer *az, const writ_policyset *ps, const writ_entities *es,
                           const writ_request *rq, eval_env *env, const uint32_t **cand, size_t *nc)
{
    if (prepare(az, ps, es, rq, env, nc))
        return -1;
    *cand = az->cand;
    return 0;
}

/* The partial decision (see cedar.h and partial.c): the same candidates,
 * each policy's conditions evaluated once with the unknowns unknown.
 *   - a forbid that certainly holds: NO, whatever the permits say;
 *   - no permit that may hold: NO;
 *   - a permit that certainly holds and no forbid that may hold: ALWAYS;
 *   - otherwise YES.
 * A policy that certainly fails is skipped, as writ_authorize skips it. */
writ_status writ_authorize_partial(writ_authorizer *az, const writ_policyset *ps, const writ_entities *es,
                                   const writ_request *rq, const char *const *unknown, size_t n_unknown,
                                   writ_partial_decision *out)
{
    if (!out)
        return WRIT_EINVAL;
    memset(out, 0, sizeof *out);
    if (!az || !ps || !rq || (n_unknown && !unknown))
        return WRIT_EINVAL;
    for (size_t i = 0; i < n_unknown; i++)
        if (!unknown[i])
            return WRIT_EINVAL;
    eval_env env;
    size_t nc;
    if (start(az, ps, es, rq, &env, &nc))
        return WRIT_ENOMEM;
    size_t cap = nc ? nc : 1;
    uint32_t *maybe_permit = wr_arena_alloc(az->arena, cap * sizeof(uint32_t));
    uint32_t *sure_forbid = wr_arena_alloc(az->arena, cap * sizeof(uint32_t));
    uint32_t *erridx = wr_arena_alloc(az->arena, cap * sizeof(uint32_t));
    if (!maybe_permit || !sure_forbid || !erridx)
        return WRIT_ENOMEM;
    size_t np = 0, nf = 0, ne = 0;
    bool sure_permit = false, maybe_forbid = false;
    for (size_t i = 0; i < nc; i++) {
        uint32_t k = az->cand[i];
        const ast_policy *p = ps->pol[k];
        unsigned o = cedar_peval_conditions(&env, p, unknown, n_unknown);
        if (o == CEDAR_P_ERROR) {
            erridx[ne++] = k;
            continue;
        }
        if (!(o & CEDAR_P_SAT))
            continue;
        if (p->permit) {
            maybe_permit[np++] = k;
            sure_permit |= o == CEDAR_P_SAT;
        } else {
            maybe_forbid = true;
            if (o == CEDAR_P_SAT)
                sure_forbid[nf++] = k;
        }
    }
    sort_u32(maybe_permit, np);
    sort_u32(sure_forbid, nf);
    sort_u32(erridx, ne);
    /* the failing policies again, in order, for their messages */
    writ_policy_error *errs = wr_arena_alloc(az->arena, (ne ? ne : 1) * sizeof *errs);
    if (!errs)
        return WRIT_ENOMEM;
    for (size_t i = 0; i < ne; i++) {
        (void)cedar_peval_conditions(&env, ps->pol[erridx[i]], unknown, n_unknown);
        errs[i].policy_id = ps->pol[erridx[i]]->id;
        errs[i].message = wr_arena_strndup(az->arena, env.err, strlen(env.err));
        if (!errs[i].message)
            return WRIT_ENOMEM;
    }
    writ_maybe m = nf || !np                      ? WRIT_MAYBE_NO
                   : sure_permit && !maybe_forbid ? WRIT_MAYBE_ALWAYS
                                                  : WRIT_MAYBE_YES;
    const uint32_t *why = m == WRIT_MAYBE_NO ? sure_forbid : maybe_permit;
    size_t nwhy = m == WRIT_MAYBE_NO ? nf : np;
    const char **reasons = wr_arena_alloc(az->arena, (nwhy ? nwhy : 1) * sizeof *reasons);
    if (!reasons)
        return WRIT_ENOMEM;
    for (size_t i = 0; i < nwhy; i++)
        reasons[i] = ps->pol[why[i]]->id;
    out->maybe = m;
    out->nreasons = nwhy;
    out->reasons = reasons;
    out->nerrors = ne;
    out->errors = errs;
    return WRIT_OK;
}

writ_status writ_authorize_json(writ_authorizer *az, const writ_policyset *ps, const writ_entities *es,
                                const writ_schema *schema, bool validate, const char *json, size_t len,
                                writ_decision *out, writ_error *err)
{
    static const writ_decision deny;
    if (out)
        *out = deny;
    if (!az || !out)
        return wr_error(err, WRIT_EINVAL, "writ_authorize_json: authorizer or out is NULL");
    writ_request_free(az->owned);
    az->owned = NULL;
    writ_status st = writ_request_parse(json, len, schema, validate, &az->owned, err);
    if (st)
        return st;
    st = writ_authorize(az, ps, es, az->owned, out);
    if (st)
        wr_error(err, st, "could not decide: %s", writ_status_name(st));
    return st;
}
