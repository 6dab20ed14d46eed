/* policyset.c - parsing, template linking and the scope index.
 *
 * Why an index: an agent deployment has thousands of policies, and almost
 * all of them name a particular principal, group, action or resource in
 * their scope.  Evaluating every one for every request would make a
 * decision cost grow with the policy count.  Instead each policy is filed
 * under one uid of its scope: of the uids its scope names (principal
 * `== X` / `in X`, resource likewise, action `== X` / `in X` / `in [X, Y]`),
 * the one that the fewest policies of the set could be filed under, so that
 * a crowded key such as a common action does not collect policies that a
 * rarer key (an agent, a project) would single out.  The few policies with
 * no such uid go on an "always" list.  For a
 * request, the candidates are the policies filed under the request's
 * principal or any of its ancestors (likewise resource and action), plus
 * the "always" list.  `in X` matches exactly when X is the entity itself or
 * one of its ancestors, which the entity store has precomputed, so this
 * never misses a policy; each candidate's full scope is still checked by
 * the evaluator.  The cost is a few hash probes per ancestor, whatever the
 * size of the set.
 */
#include "cedar/policyset.h"
#include "cedar/parser.h"
#include "util/alloc.h"

#include <stdio.h>
#include <string.h>

static const cv_uid *scope_key(const ast_scope *s)
{
    if (s->op == SC_EQ || s->op == SC_IN || s->op == SC_IS_IN)
        return s->uid;
    return NULL;
}

static int pidx_grow(pidx *ix)
{
    size_t ncap = ix->cap ? ix->cap * 2 : 16;
    pidx_slot *ns = wr_calloc(ncap, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t i = 0; i < ix->cap; i++) {
        pidx_slot *o = &ix->slot[i];
        if (!o->key)
            continue;
        size_t j = o->key->hash & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = *o;
    }
    wr_free(ix->slot);
    ix->slot = ns;
    ix->cap = ncap;
    return 0;
}

const pidx_slot *pidx_find(const pidx *ix, const cv_uid *key)
{
    if (!ix->cap)
        return NULL;
    size_t j = key->hash & (ix->cap - 1);
    while (ix->slot[j].key) {
        if (cv_uid_eq(ix->slot[j].key, key))
            return &ix->slot[j];
        j = (j + 1) & (ix->cap - 1);
    }
    return NULL;
}

static int push(uint32_t **arr, uint32_t *n, uint32_t *cap, uint32_t v)
{
    if (*n == *cap) {
        uint32_t nc = *cap ? *cap * 2 : 4;
        uint32_t *na = wr_realloc(*arr, nc * sizeof *na);
        if (!na)
            return -1;
        *arr = na;
        *cap = nc;
    }
    (*arr)[(*n)++] = v;
    return 0;
}

static int pidx_add(pidx *ix, const cv_uid *key, uint32_t pol)
{
    if ((ix->used + 1) * 4 > ix->cap * 3 && pidx_grow(ix))
        return -1;
    size_t j = key->hash & (ix->cap - 1);
    while (ix->slot[j].key && !cv_uid_eq(ix->slot[j].key, key))
        j = (j + 1) & (ix->cap - 1);
    pidx_slot *s = &ix->slot[j];
    if (!s->key) {
        s->key = key;
        ix->used++;
    }
    /* the same policy twice under one key (action in [A, A]) only once */
    if (s->n && s->pol[s->n - 1] == pol)
        return 0;
    return push(&s->pol, &s->n, &s->cap, pol);
}

static void pidx_free(pidx *ix)
{
    for (size_t i = 0; i < ix->cap; i++)
        wr_free(ix->slot[i].pol);
    wr_free(ix->slot);
    memset(ix, 0, sizeof *ix);
}

/* How many policies could be filed under a key, for choosing where to file
 * each one (see index_build). */
static size_t key_count(const pidx *counts, const cv_uid *k)
{
    const pidx_slot *s = pidx_find(counts, k);
    return s ? s->n : 0;
}

/* Count every filing option of policy i. */
static int count_options(pidx counts[3], const ast_policy *p, uint32_t i)
{
    const cv_uid *k;
    if ((k = scope_key(&p->principal)) && pidx_add(&counts[DIM_PRINCIPAL], k, i))
        return -1;
    if ((k = scope_key(&p->resource)) && pidx_add(&counts[DIM_RESOURCE], k, i))
        return -1;
    if ((k = scope_key(&p->action)) && pidx_add(&counts[DIM_ACTION], k, i))
        return -1;
    if (p->action.op == SC_IN_SET)
        for (size_t j = 0; j < p->action.n; j++)
            if (pidx_add(&counts[DIM_ACTION], p->action.uids[j], i))
                return -1;
    return 0;
}

/* File policy i under its least crowded option. */
static int file_policy(writ_policyset *ps, const pidx counts[3], uint32_t i)
{
    const ast_policy *p = ps->pol[i];
    if (p->is_template)
        return 0;
    if (p->action.op == SC_IN_SET && p->action.n == 0)
        return 0;   /* `action in []` matches nothing and is filed nowhere */
    int best = -1;
    size_t best_cost = SIZE_MAX;
    const cv_uid *k;
    if ((k = scope_key(&p->principal)) && key_count(&counts[DIM_PRINCIPAL], k) < best_cost) {
        best = DIM_PRINCIPAL;
        best_cost = key_count(&counts[DIM_PRINCIPAL], k);
    }
    if ((k = scope_key(&p->resource)) && key_count(&counts[DIM_RESOURCE], k) < best_cost) {
        best = DIM_RESOURCE;
        best_cost = key_count(&counts[DIM_RESOURCE], k);
    }
    if ((k = scope_key(&p->action)) && key_count(&counts[DIM_ACTION], k) < best_cost) {
        best = DIM_ACTION;
        best_cost = key_count(&counts[DIM_ACTION], k);
    }
    if (p->action.op == SC_IN_SET) {
        size_t cost = 0;
        for (size_t j = 0; j < p->action.n; j++)
            cost += key_count(&counts[DIM_ACTION], p->action.uids[j]);
        if (cost < best_cost) {
            for (size_t j = 0; j < p->action.n; j++)
                if (pidx_add(&ps->dim[DIM_ACTION], p->action.uids[j], i))
                    return -1;
            return 0;
        }
    }
    switch (best) {
    case DIM_PRINCIPAL: return pidx_add(&ps->dim[DIM_PRINCIPAL], scope_key(&p->principal), i);
    case DIM_RESOURCE: return pidx_add(&ps->dim[DIM_RESOURCE], scope_key(&p->resource), i);
    case DIM_ACTION: return pidx_add(&ps->dim[DIM_ACTION], scope_key(&p->action), i);
    default: break;
    }
    uint32_t *na = wr_realloc(ps->unindexed, (ps->nunindexed + 1) * sizeof *na);
    if (!na)
        return -1;
    na[ps->nunindexed++] = i;
    ps->unindexed = na;
    return 0;
}

/* (Re)build the whole index: count, then file. */
static int index_build(writ_policyset *ps)
{
    for (int d = 0; d < 3; d++)
        pidx_free(&ps->dim[d]);
    wr_free(ps->unindexed);
    ps->unindexed = NULL;
    ps->nunindexed = 0;
    pidx counts[3];
    memset(counts, 0, sizeof counts);
    int rc = 0;
    for (uint32_t i = 0; i < ps->n && !rc; i++)
        if (!ps->pol[i]->is_template)
            rc = count_options(counts, ps->pol[i], i);
    for (uint32_t i = 0; i < ps->n && !rc; i++)
        rc = file_policy(ps, counts, i);
    for (int d = 0; d < 3; d++)
        pidx_free(&counts[d]);
    return rc;
}

static int add_policy(writ_policyset *ps, ast_policy *p)
{
    if (ps->n == ps->cap) {
        size_t nc = ps->cap ? ps->cap * 2 : 16;
        ast_policy **np = wr_realloc(ps->pol, nc * sizeof *np);
        if (!np)
            return -1;
        ps->pol = np;
        ps->cap = nc;
    }
    ps->pol[ps->n++] = p;
    return 0;
}

writ_status writ_policyset_parse(const char *text, size_t len, writ_policyset **out, writ_error *err)
{
    *out = NULL;
    writ_policyset *ps = wr_calloc(1, sizeof *ps);
    if (!ps)
        return WRIT_ENOMEM;
    ps->arena = wr_arena_new(64 * 1024);
    if (!ps->arena) {
        wr_free(ps);
        return WRIT_ENOMEM;
    }
    cedar_parsed parsed;
    writ_status st = cedar_parse_policies(ps->arena, text, len, "policy", 0, &parsed, err);
    if (st) {
        writ_policyset_free(ps);
        return st;
    }
    for (size_t i = 0; i <= parsed.n; i++) {
        if (i == parsed.n ? index_build(ps) : add_policy(ps, parsed.pol[i])) {
            writ_policyset_free(ps);
            if (err) {
                memset(err, 0, sizeof *err);
                err->code = WRIT_ENOMEM;
                snprintf(err->msg, sizeof err->msg, "out of memory");
            }
            return WRIT_ENOMEM;
        }
    }
    *out = ps;
    return WRIT_OK;
}

void writ_policyset_free(writ_policyset *ps)
{
    if (!ps)
        return;
    for (int d = 0; d < 3; d++)
        pidx_free(&ps->dim[d]);
    wr_free(ps->unindexed);
    wr_free(ps->pol);
    wr_arena_free(ps->arena);
    wr_free(ps);
}

size_t writ_policyset_count(const writ_policyset *ps) { return ps ? ps->n : 0; }

const char *writ_policyset_id(const writ_policyset *ps, size_t i)
{
    return ps && i < ps->n ? ps->pol[i]->id : NULL;
}

const char *writ_policyset_annotation(const writ_policyset *ps, size_t i, const char *key)
{
    if (!ps || i >= ps->n)
        return NULL;
    const ast_policy *p = ps->pol[i];
    size_t kl = strlen(key);
    for (size_t j = 0; j < p->nannot; j++)
        if (p->annot[j].key->len == kl && !memcmp(p->annot[j].key->data, key, kl))
            return p->annot[j].value->data;
    return NULL;
}

static writ_status link_error(writ_error *err, writ_status code, const char *fmt, const char *arg)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = code;
        snprintf(err->msg, sizeof err->msg, fmt, arg);
    }
    return code;
}

static const cv_uid *fill_slot(const ast_scope *s, int slot, const cv_uid *value)
{
    return s->slot == slot ? value : s->uid;
}

writ_status writ_policyset_link(writ_policyset *ps, const char *template_id, const char *new_id,
                                const char *principal, const char *resource, writ_error *err)
{
    if (!ps || !template_id || !new_id)
        return link_error(err, WRIT_EINVAL, "%s", "missing argument");
    const ast_policy *t = NULL;
    for (size_t i = 0; i < ps->n; i++) {
        if (!strcmp(ps->pol[i]->id, new_id))
            return link_error(err, WRIT_EDUP, "a policy with id `%s` already exists", new_id);
        if (!strcmp(ps->pol[i]->id, template_id))
            t = ps->pol[i];
    }
    if (!t || !t->is_template)
        return link_error(err, WRIT_ELINK, "no template with id `%s`", template_id);
    bool wants_p = t->principal.slot == SLOT_PRINCIPAL, wants_r = t->resource.slot == SLOT_RESOURCE;
    if (wants_p != (principal != NULL))
        return link_error(err, WRIT_ELINK, wants_p ? "template `%s` needs a value for ?principal"
                                                   : "template `%s` has no ?principal slot", template_id);
    if (wants_r != (resource != NULL))
        return link_error(err, WRIT_ELINK, wants_r ? "template `%s` needs a value for ?resource"
                                                   : "template `%s` has no ?resource slot", template_id);
    const cv_uid *pu = NULL, *ru = NULL;
    writ_status st;
    if (principal && (st = cedar_parse_uid(ps->arena, principal, strlen(principal), &pu, err)))
        return st;
    if (resource && (st = cedar_parse_uid(ps->arena, resource, strlen(resource), &ru, err)))
        return st;
    ast_policy *p = wr_arena_alloc(ps->arena, sizeof *p);
    char *id = wr_arena_strndup(ps->arena, new_id, strlen(new_id));
    if (!p || !id)
        return link_error(err, WRIT_ENOMEM, "%s", "out of memory");
    *p = *t;
    p->id = id;
    p->template_id = t->id;
    p->is_template = false;
    p->principal.uid = fill_slot(&t->principal, SLOT_PRINCIPAL, pu);
    p->principal.slot = -1;
    p->resource.uid = fill_slot(&t->resource, SLOT_RESOURCE, ru);
    p->resource.slot = -1;
    if (add_policy(ps, p) || index_build(ps))
        return link_error(err, WRIT_ENOMEM, "%s", "out of memory");
    return WRIT_OK;
}
