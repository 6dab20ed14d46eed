/* search.c - AuthZEN search: which subjects, resources or actions are allowed.
 *
 * The question "which resources of type T may principal P take action A
 * on" has a brute-force answer: ask the decision path once for every
 * entity of type T.  This file gives the same answer while asking it only
 * about candidates that some permit could allow.  Exactness rests on one
 * rule: a candidate is skipped only when no permit can hold for it, and
 * then Cedar denies it (default deny); every candidate that is not
 * skipped gets the real decision, so nothing is a result unless the
 * decision path allows it.  The pruning, cheapest first:
 *
 *  1. Permits whose fixed parts cannot match (the principal and action
 *     scopes of a resource search, against P and A, with the hierarchy),
 *     or whose scope on the searched part names another type (`is U`,
 *     `== U::"x"`), are dropped once for the whole search.  No permit
 *     left: the answer is empty without looking at a single entity.
 *
 *  2. From each remaining permit, the `when` conditions' top-level
 *     conjuncts of the form  X.attr OP E  (X the searched variable, OP one
 *     of == < <= > >=, E an expression that reads neither X nor the
 *     context nor per-request attributes) become constraints: E is
 *     evaluated once, by the evaluator, and a candidate must have attr
 *     with a value that passes.  A permit is satisfied only if every
 *     conjunct is true (a false or failing conjunct makes the condition
 *     false or an error, and a permit whose condition fails is skipped),
 *     so a candidate that fails a constraint cannot be allowed by that
 *     permit.  E failing means the permit can never hold: it is dropped,
 *     and so is a permit with a conjunct that reads only fixed parts
 *     (`principal.trust_level >= 3` in a resource search) and is not true,
 *     or an `unless` condition of that kind that is not false.
 *     E does not depend on the candidate, so its value is the one the
 *     real evaluation computes; the context is excluded because the
 *     decision path fills facts (the clock) per decision.
 *
 *  3. Per candidate: some remaining permit's whole scope must match
 *     (cedar_scope_matches, the evaluator's own check, on the store's
 *     hierarchy) and its constraints hold against the store's attributes
 *     (never when the searched part carries per-request properties).
 *     Only then does the caller's final check run: in the server that is
 *     srv_decide_ask itself, with the task token's bounds and the facts.
 *
 * Forbids never prune: they can only turn an allow into a deny, and the
 * final check applies them.  Partial evaluation (writ_authorize_partial)
 * answers a different question here: it leaves context attributes
 * unknown, whereas a search knows the context and leaves an entity
 * unknown; constraint 2 is the part of it that pays for a search.
 *
 * Candidates, in a fixed order that page tokens point into: the store's
 * entities of type T in insertion order (position = index in the store),
 * then uids of type T that some policy scope names and the store lacks
 * (position = store size + their order).  The walk over the store is one
 * type compare per entity; what it saves is the decisions. */
#include "search/search.h"

#include "cedar/eval.h"
#include "cedar/policyset.h"
#include "cedar/request.h"
#include "cedar/schema.h"
#include "util/alloc.h"

#include <stdio.h>
#include <string.h>

/* One necessary condition on the searched entity: attr OP val. */
typedef struct sx_con {
    const cv_string *attr;
    ast_kind op; /* A_EQ, A_LT, A_LE, A_GT, A_GE: candidate.attr OP val */
    cv_value val;
} sx_con;

typedef struct sx_permit {
    const ast_policy *pol;
    size_t ncon;
    sx_con *con;
} sx_permit;

static int dim_var(int d)
{
    return d == DIM_PRINCIPAL ? VAR_PRINCIPAL : d == DIM_ACTION ? VAR_ACTION : VAR_RESOURCE;
}

static int searched_dim(wr_search_kind k)
{
    return k == WR_SEARCH_SUBJECT ? DIM_PRINCIPAL : k == WR_SEARCH_ACTION ? DIM_ACTION : DIM_RESOURCE;
}

static const ast_scope *scope_of(const ast_policy *p, int d)
{
    return d == DIM_PRINCIPAL ? &p->principal : d == DIM_ACTION ? &p->action : &p->resource;
}

/* Can a scope match the fixed uid u (as Cedar's scope check says)? */
static bool fixed_ok(const cedar_entities *es, const ast_scope *s, const cv_uid *u)
{
    return cedar_scope_holds(s, u, es ? cedar_entities_get(es, u) : NULL);
}

/* Can a scope on the searched part match some entity of type t? */
static bool type_ok(const ast_scope *s, const cv_string *t)
{
    switch (s->op) {
    case SC_EQ:
        return s->uid && cv_string_eq(s->uid->type, t);
    case SC_IS:
    case SC_IS_IN:
        return cv_string_eq(s->type, t) && (s->op == SC_IS || s->uid);
    default:
        return true; /* in a group: an entity of any type may be in it */
    }
}

/* Does the expression read variable v (or a template slot)? */
static bool reads(const ast_node *n, int v)
{
    if (!n)
        return false;
    switch (n->kind) {
    case A_LIT:
        return false;
    case A_VAR:
        return n->u.var == v;
    case A_SLOT:
        return true;
    case A_AND:
    case A_OR:
        for (size_t i = 0; i < n->u.list.n; i++)
            if (reads(n->u.list.items[i], v))
                return true;
        return false;
    case A_HAS:
    case A_GETATTR:
        return reads(n->u.attr.a, v);
    case A_LIKE:
        return reads(n->u.like.a, v);
    case A_IS:
        return reads(n->u.is.a, v) || reads(n->u.is.in, v);
    case A_SET:
        for (size_t i = 0; i < n->u.set.n; i++)
            if (reads(n->u.set.items[i], v))
                return true;
        return false;
    case A_RECORD:
        for (size_t i = 0; i < n->u.rec.n; i++)
            if (reads(n->u.rec.vals[i], v))
                return true;
        return false;
    case A_EXTCALL:
        for (size_t i = 0; i < n->u.call.n; i++)
            if (reads(n->u.call.args[i], v))
                return true;
        return false;
    case A_NOT:
    case A_NEG:
    case A_ISEMPTY:
        return reads(n->u.op.a, v);
    case A_IF:
        return reads(n->u.op.a, v) || reads(n->u.op.b, v) || reads(n->u.op.c, v);
    default: /* the binary operators */
        return reads(n->u.op.a, v) || reads(n->u.op.b, v);
    }
}

static ast_kind flip(ast_kind k)
{
    return k == A_LT ? A_GT : k == A_GT ? A_LT : k == A_LE ? A_GE : k == A_GE ? A_LE : k;
}

typedef struct sx_ctx {
    const wr_search *q;
    int dim;      /* the searched dimension */
    int var;      /* its variable */
    eval_env env; /* fixed parts set; the searched var per candidate */
    wr_arena *arena;
    sx_permit *permits;
    size_t npermits;
    bool dead; /* an E failed: the permit being read can never hold */
} sx_ctx;

/* Does e read only what is the same for every candidate: not the
 * searched variable, not the context, no per-request attributes? */
static bool fixed_expr(const sx_ctx *x, const ast_node *e)
{
    if (reads(e, x->var) || reads(e, VAR_CONTEXT))
        return false;
    for (int d = 0; d < 3; d++)
        if (x->q->props[d] && reads(e, dim_var(d)))
            return false;
    return true;
}

/* A conjunct X.attr OP E (or E OP X.attr) as a constraint: 1 added, 0 not
 * that shape, -1 out of memory.  Sets x->dead when E fails. */
static int add_con(sx_ctx *x, sx_permit *p, const ast_node *n, size_t *cap)
{
    if (n->kind != A_EQ && n->kind != A_LT && n->kind != A_LE && n->kind != A_GT && n->kind != A_GE)
        return 0;
    const ast_node *a = n->u.op.a, *b = n->u.op.b;
    ast_kind op = n->kind;
    bool left = a->kind == A_GETATTR && a->u.attr.a->kind == A_VAR && a->u.attr.a->u.var == x->var;
    bool right = b->kind == A_GETATTR && b->u.attr.a->kind == A_VAR && b->u.attr.a->u.var == x->var;
    if (left == right)
        return 0;
    const ast_node *side = left ? a : b, *e = left ? b : a;
    if (!left)
        op = flip(op);
    if (!fixed_expr(x, e))
        return 0; /* per-request attributes: the store's would be the wrong ones */
    cv_value v;
    x->env.depth = 0;
    if (cedar_eval(&x->env, e, &v)) {
        x->dead = true; /* E fails whatever the candidate: so does the permit */
        return 0;
    }
    if (op != A_EQ && v.type != CV_LONG)
        return 0; /* orderings of extension values are left to the evaluator */
    if (p->ncon == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        sx_con *c = wr_arena_alloc(x->arena, nc * sizeof *c);
        if (!c)
            return -1;
        if (p->ncon)
            memcpy(c, p->con, p->ncon * sizeof *c);
        p->con = c;
        *cap = nc;
    }
    p->con[p->ncon++] = (sx_con){side->u.attr.attr, op, v};
    return 1;
}

/* A condition (or conjunct) that reads only fixed parts has one value for
 * the whole search: unless it is `want`, the permit never holds (a false
 * conjunct falsifies the condition; a failing one fails the policy). */
static void settle(sx_ctx *x, const ast_node *e, bool want)
{
    cv_value v;
    x->env.depth = 0;
    if (cedar_eval(&x->env, e, &v) || v.type != CV_BOOL || v.u.b != want)
        x->dead = true;
}

/* The constraints of a permit's conditions (see the top). */
static int read_constraints(sx_ctx *x, sx_permit *p)
{
    size_t cap = 0;
    x->dead = false;
    for (size_t i = 0; i < p->pol->ncond && !x->dead; i++) {
        const ast_node *c = p->pol->cond[i].expr;
        if (!p->pol->cond[i].when) {
            if (fixed_expr(x, c))
                settle(x, c, false);
            continue;
        }
        size_t n = c->kind == A_AND ? c->u.list.n : 1;
        for (size_t k = 0; k < n && !x->dead; k++) {
            const ast_node *e = c->kind == A_AND ? c->u.list.items[k] : c;
            if (fixed_expr(x, e))
                settle(x, e, true);
            else if (add_con(x, p, e, &cap) < 0)
                return -1;
        }
    }
    return 0;
}

static bool con_holds(const sx_con *c, const cedar_entity *e)
{
    if (!e)
        return false; /* X.attr of an entity the store lacks fails */
    const cv_value *v = cv_record_find(e->attrs, c->attr);
    if (!v)
        return false;
    if (c->op == A_EQ)
        return cv_equal(*v, c->val);
    if (v->type != CV_LONG)
        return false; /* Long vs anything else: a type error */
    int64_t l = v->u.l, r = c->val.u.l;
    return c->op == A_LT ? l < r : c->op == A_LE ? l <= r : c->op == A_GT ? l > r : l >= r;
}

/* Could some permit allow candidate u (the store's entity e, or NULL)?
 * (Step 3 of the top.)  The fixed parts' entities stay resolved. */
static bool plausible(sx_ctx *x, const cv_uid *u, const cedar_entity *e)
{
    x->env.var[x->var] = cv_entity(u);
    x->env.ent[x->var] = e;
    for (size_t i = 0; i < x->npermits; i++) {
        const sx_permit *p = &x->permits[i];
        if (!cedar_scope_matches(&x->env, p->pol))
            continue;
        size_t k = 0;
        if (!x->q->props[x->dim])
            while (k < p->ncon && con_holds(&p->con[k], e))
                k++;
        if (x->q->props[x->dim] || k == p->ncon)
            return true;
    }
    return false;
}

static const cv_uid *make_uid(wr_arena *a, const char *type, const char *id, size_t idlen)
{
    const cv_string *t = cv_string_new(a, type, strlen(type));
    const cv_string *i = t ? cv_string_new(a, id, idlen) : NULL;
    return i ? cv_uid_new(a, t, i) : NULL;
}

/* Uids of type t that policy scopes name, as candidates after the store's. */
static int scope_uid(wr_arena *a, const cedar_entities *es, const cv_string *t, const cv_uid *u,
                     const cv_uid ***out, size_t *n, size_t *cap)
{
    if (!u || !cv_string_eq(u->type, t) || (es && cedar_entities_get(es, u)))
        return 0;
    for (size_t i = 0; i < *n; i++)
        if (cv_uid_eq((*out)[i], u))
            return 0;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        const cv_uid **v = wr_arena_alloc(a, nc * sizeof *v);
        if (!v)
            return -1;
        if (*n)
            memcpy(v, *out, *n * sizeof *v);
        *out = v;
        *cap = nc;
    }
    (*out)[(*n)++] = u;
    return 0;
}

static int named_uids(wr_arena *a, const writ_policyset *ps, const cedar_entities *es, int dim,
                      const cv_string *t, const cv_uid ***out, size_t *n)
{
    size_t cap = 0;
    *n = 0;
    *out = NULL;
    for (size_t i = 0; i < ps->n; i++) {
        const ast_policy *p = ps->pol[i];
        if (p->is_template)
            continue;
        const ast_scope *s = scope_of(p, dim);
        if (scope_uid(a, es, t, s->uid, out, n, &cap))
            return -1;
        for (size_t k = 0; s->op == SC_IN_SET && k < s->n; k++)
            if (scope_uid(a, es, t, s->uids[k], out, n, &cap))
                return -1;
    }
    return 0;
}

/* Does anything declare type t: the schema, an entity, a policy scope? */
static bool type_known(const wr_search *q, const cedar_entities *es, const cv_string *t, int dim)
{
    if (dim == DIM_ACTION)
        return true;
    if (q->schema)
        return cedar_schema_entity_type(q->schema, t->data, t->len) != NULL;
    for (size_t i = 0, n = es ? cedar_entities_count(es) : 0; i < n; i++)
        if (cv_string_eq(cedar_entities_at(es, i)->uid->type, t))
            return true;
    for (size_t i = 0; i < q->ps->n; i++) {
        const ast_policy *p = q->ps->pol[i];
        for (int d = 0; d < 3; d++) {
            const ast_scope *s = scope_of(p, d);
            if ((s->type && cv_string_eq(s->type, t)) || (s->uid && cv_string_eq(s->uid->type, t)))
                return true;
            for (size_t k = 0; s->op == SC_IN_SET && k < s->n; k++)
                if (cv_string_eq(s->uids[k]->type, t))
                    return true;
        }
    }
    return false;
}

writ_status wr_search_run(const wr_search *q, uint64_t from, size_t limit, wr_search_check_fn check,
                          wr_search_emit_fn emit, void *arg, uint64_t *next, wr_search_stats *st,
                          writ_error *err)
{
    *next = WR_SEARCH_END;
    memset(st, 0, sizeof *st);
    if (!q || !q->ps || !check || !emit)
        return WRIT_EINVAL;
    sx_ctx x;
    memset(&x, 0, sizeof x);
    x.q = q;
    x.dim = searched_dim(q->kind);
    x.var = dim_var(x.dim);
    x.arena = wr_arena_new(8 * 1024);
    if (!x.arena)
        return WRIT_ENOMEM;
    writ_status rc = WRIT_ENOMEM;
    const cedar_entities *es = q->es ? q->es->store : NULL;
    const cv_string *t = cv_string_new(x.arena, q->type[x.dim], strlen(q->type[x.dim]));
    if (!t)
        goto out;
    if (!type_known(q, es, t, x.dim)) {
        rc = WRIT_EINVAL;
        if (err)
            snprintf(err->msg, sizeof err->msg, "unknown entity type %.120s: %s", q->type[x.dim],
                     q->schema ? "the schema does not declare it"
                               : "no entity of that type is loaded and no policy names it");
        goto out;
    }
    /* the environment: fixed parts as given, the searched one per candidate */
    x.env.arena = x.arena;
    x.env.es = es;
    x.env.var[VAR_CONTEXT].type = CV_RECORD;
    x.env.var[VAR_CONTEXT].u.rec = &cv_empty_record;
    const cv_uid *fixed[3] = {NULL, NULL, NULL};
    for (int d = 0; d < 3; d++) {
        if (d == x.dim)
            continue;
        if (!(fixed[d] = make_uid(x.arena, q->type[d], q->id[d], q->id_len[d])))
            goto out;
        x.env.var[dim_var(d)] = cv_entity(fixed[d]);
    }
    const cv_uid *placeholder = make_uid(x.arena, q->type[x.dim], "", 0);
    if (!placeholder)
        goto out;
    x.env.var[x.var] = cv_entity(placeholder);
    cedar_env_resolve(&x.env);

    /* 1. the permits that can matter */
    x.permits = wr_arena_alloc(x.arena, (q->ps->n ? q->ps->n : 1) * sizeof *x.permits);
    if (!x.permits)
        goto out;
    for (size_t i = 0; i < q->ps->n; i++) {
        const ast_policy *p = q->ps->pol[i];
        if (p->is_template || !p->permit)
            continue;
        bool ok = type_ok(scope_of(p, x.dim), t);
        for (int d = 0; d < 3 && ok; d++)
            if (d != x.dim)
                ok = fixed_ok(es, scope_of(p, d), fixed[d]);
        if (!ok)
            continue;
        sx_permit *sp = &x.permits[x.npermits];
        memset(sp, 0, sizeof *sp);
        sp->pol = p;
        /* 2. its constraints (none in an exhaustive search) */
        if (!q->exhaustive && read_constraints(&x, sp))
            goto out;
        if (!x.dead)
            x.npermits++;
    }
    st->permits = x.npermits;
    rc = WRIT_OK;
    if (x.npermits == 0 && !q->exhaustive)
        goto out;

    /* 3. the candidates, in order */
    size_t nstore = es ? cedar_entities_count(es) : 0;
    const cv_uid **extra;
    size_t nextra;
    if (named_uids(x.arena, q->ps, es, x.dim, t, &extra, &nextra)) {
        rc = WRIT_ENOMEM;
        goto out;
    }
    size_t found = 0;
    for (uint64_t pos = from; pos < (uint64_t)nstore + nextra; pos++) {
        const cedar_entity *e = pos < nstore ? cedar_entities_at(es, (size_t)pos) : NULL;
        const cv_uid *u = e ? e->uid : extra[pos - nstore];
        if (!cv_string_eq(u->type, t))
            continue;
        st->candidates++;
        if (!q->exhaustive && !plausible(&x, u, e))
            continue;
        if (q->max_checked && st->checked == q->max_checked) {
            *next = pos; /* the work of one request is bounded: go on from here */
            goto out;
        }
        st->checked++;
        int r = check(arg, u);
        if (r < 0) {
            rc = WRIT_EEVAL;
            if (err)
                snprintf(err->msg, sizeof err->msg, "the decision failed");
            goto out;
        }
        if (r == 0)
            continue;
        if (found == limit) {
            *next = pos;
            goto out;
        }
        if (emit(arg, u)) {
            rc = WRIT_ENOMEM;
            goto out;
        }
        found++;
        st->allowed++;
    }
out:
    wr_arena_free(x.arena);
    return rc;
}
