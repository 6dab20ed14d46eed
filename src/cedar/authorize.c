/* authorize.c - the decision: candidates from the index, evaluation, and
 * Cedar's combining rule.
 *
 *   - a satisfied forbid denies (reasons: every satisfied forbid);
 *   - otherwise a satisfied permit allows (reasons: every satisfied permit);
 *   - otherwise deny with no reasons (default deny);
 *   - a policy whose evaluation fails is skipped and reported in errors.
 */
#include "cedar/eval.h"
#include "cedar/policyset.h"
#include "cedar/request.h"
#include "util/alloc.h"

#include <stdlib.h>
#include <string.h>

struct writ_authorizer {
    wr_arena *arena;            /* reset at every decision */
    uint32_t *stamp;            /* per policy: epoch it was last a candidate */
    size_t stamp_cap;
    uint32_t epoch;
    uint32_t *cand;
    size_t cand_cap;
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
    wr_arena_free(az->arena);
    wr_free(az->stamp);
    wr_free(az->cand);
    wr_free(az);
}

static int ensure(writ_authorizer *az, size_t n)
{
    if (n > az->stamp_cap) {
        uint32_t *s = wr_realloc(az->stamp, n * sizeof *s);
        uint32_t *c = s ? wr_realloc(az->cand, n * sizeof *c) : NULL;
        if (!s || !c) {
            if (s)
                az->stamp = s;
            return -1;
        }
        memset(s + az->stamp_cap, 0, (n - az->stamp_cap) * sizeof *s);
        az->stamp = s;
        az->cand = c;
        az->stamp_cap = az->cand_cap = n;
    }
    return 0;
}

static size_t add_slot(writ_authorizer *az, const pidx_slot *s, size_t nc)
{
    if (!s)
        return nc;
    for (uint32_t i = 0; i < s->n; i++) {
        uint32_t p = s->pol[i];
        if (az->stamp[p] != az->epoch) {
            az->stamp[p] = az->epoch;
            az->cand[nc++] = p;
        }
    }
    return nc;
}

/* Candidates filed under uid or any of its ancestors in one dimension. */
static size_t add_dim(writ_authorizer *az, const pidx *ix, const cedar_entities *es, const cv_uid *uid, size_t nc)
{
    if (!ix->used)
        return nc;
    nc = add_slot(az, pidx_find(ix, uid), nc);
    const cedar_entity *e = es ? cedar_entities_get(es, uid) : NULL;
    if (e)
        for (size_t i = 0; i < e->nanc_cap; i++)
            if (e->anc[i])
                nc = add_slot(az, pidx_find(ix, e->anc[i]), nc);
    return nc;
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

static void deny(writ_decision *out)
{
    memset(out, 0, sizeof *out);
}

writ_status writ_authorize(writ_authorizer *az, const writ_policyset *ps, const writ_entities *es,
                           const writ_request *rq, writ_decision *out)
{
    deny(out);
    if (!az || !ps || !rq)
        return WRIT_EINVAL;
    wr_arena_reset(az->arena);
    if (ensure(az, ps->n))
        return WRIT_ENOMEM;
    if (++az->epoch == 0) {             /* wrapped: forget old stamps */
        memset(az->stamp, 0, az->stamp_cap * sizeof *az->stamp);
        az->epoch = 1;
    }
    const cedar_entities *store = es ? es->store : NULL;
    size_t nc = 0;
    nc = add_dim(az, &ps->dim[DIM_PRINCIPAL], store, rq->principal, nc);
    nc = add_dim(az, &ps->dim[DIM_RESOURCE], store, rq->resource, nc);
    nc = add_dim(az, &ps->dim[DIM_ACTION], store, rq->action, nc);
    for (size_t i = 0; i < ps->nunindexed; i++) {
        uint32_t p = ps->unindexed[i];
        if (az->stamp[p] != az->epoch) {
            az->stamp[p] = az->epoch;
            az->cand[nc++] = p;
        }
    }

    eval_env env;
    env.arena = az->arena;
    env.es = store;
    env.over = rq->over;
    env.nover = rq->nover;
    env.var[VAR_PRINCIPAL] = cv_entity(rq->principal);
    env.var[VAR_ACTION] = cv_entity(rq->action);
    env.var[VAR_RESOURCE] = cv_entity(rq->resource);
    env.var[VAR_CONTEXT].type = CV_RECORD;
    env.var[VAR_CONTEXT].u.rec = rq->context ? rq->context : &cv_empty_record;
    env.err[0] = '\0';
    cedar_env_resolve(&env);

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
        if (cedar_eval_policy(&env, p, &sat)) {
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
    return WRIT_OK;
}
