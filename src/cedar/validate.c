/* validate.c - Cedar's policy validator (strict mode), the driver.
 *
 * For each policy, as the reference does:
 *   1. names: every entity type the policy writes (in uids and `is`) is
 *      declared, every action uid is an action of the schema, and a uid of
 *      an enumerated type is one of its members;
 *   2. the scope against appliesTo: some action the action scope allows
 *      applies to some principal type and some resource type the principal
 *      and resource scopes allow, or the policy can never apply (error);
 *   3. types: the policy's condition (scope && when && !unless ...) is
 *      typechecked in every request environment (principal type, action,
 *      resource type) the schema declares, with the action known exactly;
 *      any error is an error of the policy, and a policy whose condition
 *      is false in every environment is impossible (a warning).
 * Errors and warnings carry the policy id and the position of the
 * offending expression; the same message at the same place is reported
 * once however many environments give it.
 */
#include "cedar/validate.h"
#include "cedar/policyset.h"
#include "cedar/srctext.h"
#include "util/alloc.h"
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct issue_list {
    wr_arena *a;
    size_t n, cap;
    writ_validation_issue *v;
    bool oom;
    const char *text;
    size_t len;
    bool applies_to_error;
    size_t first; /* the current policy's first issue: duplicates are looked for from here */
} issue_list;

static void add(issue_list *l, const char *pid, bool warning, uint32_t pos, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (size_t i = l->first; i < l->n; i++)
        if (l->v[i].policy_id == pid && l->v[i].offset == pos && !strcmp(l->v[i].message, msg))
            return;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        writ_validation_issue *nv = wr_realloc(l->v, nc * sizeof *nv);
        if (!nv) {
            l->oom = true;
            return;
        }
        l->v = nv;
        l->cap = nc;
    }
    char *m = wr_arena_strndup(l->a, msg, strlen(msg));
    if (!m) {
        l->oom = true;
        return;
    }
    writ_validation_issue *it = &l->v[l->n++];
    it->policy_id = pid;
    it->warning = warning;
    it->offset = pos;
    it->line = it->col = 0;
    if (l->text && pos <= l->len)
        cedar_text_position(l->text, l->len, pos, &it->line, &it->col);
    it->message = m;
}

/* ---- 1. names */

static bool is_action_type_name(const cv_string *t)
{
    return (t->len == 6 && !memcmp(t->data, "Action", 6)) ||
           (t->len > 8 && !memcmp(t->data + t->len - 8, "::Action", 8));
}

static void check_uid(issue_list *l, const writ_schema *s, const char *pid, uint32_t pos, const cv_uid *u)
{
    if (is_action_type_name(u->type) || cedar_schema_is_action_type(s, u->type)) {
        if (!cedar_schema_action(s, u))
            add(l, pid, false, pos, "unrecognized action `%s::\"%s\"`", u->type->data, u->id->data);
        return;
    }
    const cs_entity_type *et = cedar_schema_entity_type(s, u->type->data, u->type->len);
    if (!et) {
        add(l, pid, false, pos, "unrecognized entity type `%s`", u->type->data);
        return;
    }
    if (et->is_enum) {
        for (size_t i = 0; i < et->nenum; i++)
            if (cv_string_eq(et->enum_ids[i], u->id))
                return;
        add(l, pid, false, pos, "entity `%s::\"%s\"` is not a member of the enumerated type `%s`",
            u->type->data, u->id->data, u->type->data);
    }
}

static void check_type_name(issue_list *l, const writ_schema *s, const char *pid, uint32_t pos,
                            const cv_string *t)
{
    if (!cedar_schema_entity_type(s, t->data, t->len) && !cedar_schema_is_action_type(s, t))
        add(l, pid, false, pos, "unrecognized entity type `%s`", t->data);
}

static void check_value_names(issue_list *l, const writ_schema *s, const char *pid, uint32_t pos, cv_value v)
{
    if (v.type == CV_ENTITY)
        check_uid(l, s, pid, pos, v.u.uid);
    else if (v.type == CV_SET)
        for (size_t i = 0; i < v.u.set->n; i++)
            check_value_names(l, s, pid, pos, v.u.set->v[i]);
    else if (v.type == CV_RECORD)
        for (size_t i = 0; i < v.u.rec->n; i++)
            check_value_names(l, s, pid, pos, v.u.rec->f[i].v);
}

static void check_names(issue_list *l, const writ_schema *s, const char *pid, const ast_node *x)
{
    if (!x)
        return;
    switch (x->kind) {
    case A_LIT:
        check_value_names(l, s, pid, x->pos, x->u.lit);
        return;
    case A_VAR:
    case A_SLOT:
        return;
    case A_AND:
    case A_OR:
    case A_SET:
        for (size_t i = 0; i < x->u.list.n; i++)
            check_names(l, s, pid, x->u.list.items[i]);
        return;
    case A_HAS:
    case A_GETATTR:
        check_names(l, s, pid, x->u.attr.a);
        return;
    case A_LIKE:
        check_names(l, s, pid, x->u.like.a);
        return;
    case A_IS:
        check_names(l, s, pid, x->u.is.a);
        check_type_name(l, s, pid, x->pos, x->u.is.type);
        check_names(l, s, pid, x->u.is.in);
        return;
    case A_RECORD:
        for (size_t i = 0; i < x->u.rec.n; i++)
            check_names(l, s, pid, x->u.rec.vals[i]);
        return;
    case A_EXTCALL:
        for (size_t i = 0; i < x->u.call.n; i++)
            check_names(l, s, pid, x->u.call.args[i]);
        return;
    default:
        check_names(l, s, pid, x->u.op.a);
        check_names(l, s, pid, x->u.op.b);
        check_names(l, s, pid, x->u.op.c);
        return;
    }
}

static void check_scope_names(issue_list *l, const writ_schema *s, const ast_policy *p, const ast_scope *sc)
{
    if (sc->uid)
        check_uid(l, s, p->id, sc->pos, sc->uid);
    for (size_t i = 0; i < sc->n; i++)
        check_uid(l, s, p->id, sc->uids_pos ? sc->uids_pos[i] : sc->pos, sc->uids[i]);
    if (sc->op == SC_IS || sc->op == SC_IS_IN)
        check_type_name(l, s, p->id, sc->type_pos, sc->type);
}

/* ---- 2. the scope against appliesTo */

/* Does entity type t satisfy a principal or resource scope, by type? */
static bool type_in_scope(const writ_schema *s, const ast_scope *sc, const cv_string *t)
{
    switch (sc->op) {
    case SC_ANY:
        return true;
    case SC_EQ:
        return !sc->uid || cv_string_eq(sc->uid->type, t);
    case SC_IN:
        return !sc->uid || cedar_vt_type_descends(s, t, sc->uid->type);
    case SC_IS:
        return cv_string_eq(sc->type, t);
    case SC_IS_IN:
        return cv_string_eq(sc->type, t) && (!sc->uid || cedar_vt_type_descends(s, t, sc->uid->type));
    default:
        return false;
    }
}

static bool action_in_scope(const writ_schema *s, const ast_scope *sc, const cs_action *ac)
{
    switch (sc->op) {
    case SC_ANY:
        return true;
    case SC_EQ:
        return sc->uid && cv_uid_eq(sc->uid, ac->uid);
    case SC_IN:
        return sc->uid && cedar_vt_action_descends(s, ac->uid, sc->uid);
    case SC_IN_SET: {
        /* the reference takes no action from a list naming an unknown one */
        for (size_t i = 0; i < sc->n; i++)
            if (!cedar_schema_action(s, sc->uids[i]))
                return false;
        for (size_t i = 0; i < sc->n; i++)
            if (cedar_vt_action_descends(s, ac->uid, sc->uids[i]))
                return true;
        return false;
    }
    default:
        return false;
    }
}

static bool applicable(const writ_schema *s, const ast_policy *p)
{
    for (size_t i = 0; i < s->nactions; i++) {
        const cs_action *ac = &s->actions[i];
        if (!action_in_scope(s, &p->action, ac))
            continue;
        bool pr = false, rs = false;
        for (size_t k = 0; k < ac->nprincipals && !pr; k++)
            pr = type_in_scope(s, &p->principal, ac->principals[k]);
        for (size_t k = 0; k < ac->nresources && !rs; k++)
            rs = type_in_scope(s, &p->resource, ac->resources[k]);
        if (pr && rs)
            return true;
    }
    return false;
}

/* ---- 3. the condition as one expression */

static ast_node *mk(wr_arena *a, ast_kind k, uint32_t pos)
{
    ast_node *n = wr_arena_calloc(a, 1, sizeof *n);
    if (n) {
        n->kind = k;
        n->pos = pos;
    }
    return n;
}

static ast_node *uid_lit(wr_arena *a, const cv_uid *u, uint32_t pos)
{
    ast_node *n = mk(a, A_LIT, pos);
    if (n)
        n->u.lit = cv_entity(u);
    return n;
}

/* The scope constraint on variable `var` as an expression. */
static ast_node *scope_expr(wr_arena *a, const ast_scope *sc, int var, uint32_t pos)
{
    if (sc->op == SC_ANY) {
        ast_node *t = mk(a, A_LIT, pos);
        if (t)
            t->u.lit = cv_bool(true);
        return t;
    }
    ast_node *v = mk(a, A_VAR, pos);
    if (!v)
        return NULL;
    v->u.var = var;
    bool slot = sc->slot >= 0 || (!sc->uid && sc->op != SC_IS && sc->op != SC_IN_SET);
    ast_node *n = NULL;
    switch (sc->op) {
    case SC_EQ:
    case SC_IN:
        if (slot)
            return mk(a, A_SLOT, pos);
        if (!(n = mk(a, sc->op == SC_EQ ? A_EQ : A_IN, pos)))
            return NULL;
        n->u.op.a = v;
        n->u.op.b = uid_lit(a, sc->uid, sc->pos);
        return n->u.op.b ? n : NULL;
    case SC_IN_SET: {
        cv_value *items = sc->n ? wr_arena_alloc(a, sc->n * sizeof *items) : NULL;
        if (sc->n && !items)
            return NULL;
        for (size_t i = 0; i < sc->n; i++)
            items[i] = cv_entity(sc->uids[i]);
        ast_node *set = mk(a, A_LIT, sc->pos);
        if (!set || !(n = mk(a, A_IN, pos)))
            return NULL;
        set->u.lit = cv_set_new(a, items, sc->n);
        if (set->u.lit.type == CV_NONE)
            return NULL;
        n->u.op.a = v;
        n->u.op.b = set;
        return n;
    }
    case SC_IS:
    case SC_IS_IN: {
        if (!(n = mk(a, A_IS, pos)))
            return NULL;
        n->u.is.a = v;
        n->u.is.type = sc->type;
        if (sc->op == SC_IS)
            return n;
        if (slot) {
            /* `is T in ?slot`: the type test, then a constraint that may hold */
            ast_node *both = mk(a, A_AND, pos);
            ast_node **it = wr_arena_alloc(a, 2 * sizeof *it);
            if (!both || !it || !(it[1] = mk(a, A_SLOT, pos)))
                return NULL;
            it[0] = n;
            both->u.list.n = 2;
            both->u.list.items = it;
            return both;
        }
        n->u.is.in = uid_lit(a, sc->uid, sc->pos);
        return n->u.is.in ? n : NULL;
    }
    default:
        return NULL;
    }
}

static ast_node *policy_expr(wr_arena *a, const ast_policy *p)
{
    size_t n = 3 + p->ncond;
    ast_node *all = mk(a, A_AND, p->pos);
    ast_node **it = wr_arena_alloc(a, n * sizeof *it);
    if (!all || !it)
        return NULL;
    if (!(it[0] = scope_expr(a, &p->principal, VAR_PRINCIPAL, p->pos)) ||
        !(it[1] = scope_expr(a, &p->action, VAR_ACTION, p->pos)) ||
        !(it[2] = scope_expr(a, &p->resource, VAR_RESOURCE, p->pos)))
        return NULL;
    for (size_t i = 0; i < p->ncond; i++) {
        ast_node *e = p->cond[i].expr;
        if (!p->cond[i].when) {
            ast_node *not = mk(a, A_NOT, e->pos);
            if (!not )
                return NULL;
            not ->u.op.a = e;
            e = not ;
        }
        it[3 + i] = e;
    }
    all->u.list.n = n;
    all->u.list.items = it;
    return all;
}

/* ---- one policy */

static writ_status validate_policy(issue_list *l, const writ_schema *s, const ast_policy *p)
{
    size_t before = l->first = l->n;
    check_scope_names(l, s, p, &p->principal);
    check_scope_names(l, s, p, &p->action);
    check_scope_names(l, s, p, &p->resource);
    for (size_t i = 0; i < p->ncond; i++)
        check_names(l, s, p->id, p->cond[i].expr);
    if (!applicable(s, p))
        add(l, p->id, !l->applies_to_error, p->pos,
            "no action of the schema applies to the principals and resources this scope allows");

    wr_arena *a = wr_arena_new(0);
    if (!a)
        return WRIT_ENOMEM;
    ast_node *cond = policy_expr(a, p);
    if (!cond) {
        wr_arena_free(a);
        return WRIT_ENOMEM;
    }
    bool typed_ok = true, all_false = true;
    for (size_t i = 0; i < s->nactions; i++) {
        const cs_action *ac = &s->actions[i];
        for (size_t pi = 0; pi < ac->nprincipals; pi++) {
            for (size_t ri = 0; ri < ac->nresources; ri++) {
                vt_ctx cx = {.a = a, .schema = s};
                cx.env.action = ac;
                cx.env.principal =
                    cedar_schema_entity_type(s, ac->principals[pi]->data, ac->principals[pi]->len);
                cx.env.resource =
                    cedar_schema_entity_type(s, ac->resources[ri]->data, ac->resources[ri]->len);
                if (!cx.env.principal || !cx.env.resource)
                    continue;
                vt_caps caps;
                const vt_type *t = cedar_vt_check(&cx, cond, NULL, &caps);
                if (!t) {
                    typed_ok = false;
                    add(l, p->id, false, cx.err_pos, "%s", cx.failed ? cx.err_msg : "out of memory");
                } else if (t->b != VB_FALSE) {
                    all_false = false;
                }
                wr_arena_reset(a);
                if (!(cond = policy_expr(a, p))) {
                    wr_arena_free(a);
                    return WRIT_ENOMEM;
                }
            }
        }
    }
    wr_arena_free(a);
    bool name_errors = false;
    for (size_t i = before; i < l->n; i++)
        name_errors |= !l->v[i].warning;
    if (typed_ok && all_false && !name_errors)
        add(l, p->id, true, p->pos,
            "policy is impossible: its condition is false for every request the schema allows");
    return l->oom ? WRIT_ENOMEM : WRIT_OK;
}

writ_status writ_validate(const writ_schema *schema, const writ_policyset *ps,
                          const writ_validate_options *opt, writ_validation **out, writ_error *err)
{
    if (!out)
        return wr_error(err, WRIT_EINVAL, "writ_validate: out is NULL");
    *out = NULL;
    if (!schema || !ps) {
        if (err) {
            memset(err, 0, sizeof *err);
            err->code = WRIT_EINVAL;
            snprintf(err->msg, sizeof err->msg, "validate: a schema and a policy set are required");
        }
        return WRIT_EINVAL;
    }
    issue_list l = {0};
    if (opt) {
        l.text = opt->policy_text;
        l.len = opt->policy_len;
        l.applies_to_error = opt->applies_to_error;
    }
    writ_validation *v = wr_calloc(1, sizeof *v);
    if (!v || !(l.a = wr_arena_new(0))) {
        wr_free(v);
        goto oom;
    }
    v->internal_ = l.a;
    for (size_t i = 0; i < ps->n; i++) {
        if (validate_policy(&l, schema, ps->pol[i])) {
            wr_free(l.v);
            writ_validation_free(v);
            goto oom;
        }
    }
    for (size_t i = 0; i < l.n; i++) {
        if (l.v[i].warning)
            v->nwarnings++;
        else
            v->nerrors++;
    }
    v->npolicies = ps->n;
    v->nissues = l.n;
    v->issues = l.v;
    *out = v;
    return WRIT_OK;
oom:
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = WRIT_ENOMEM;
        snprintf(err->msg, sizeof err->msg, "validate: out of memory");
    }
    return WRIT_ENOMEM;
}

void writ_validation_free(writ_validation *v)
{
    if (!v)
        return;
    wr_arena_free(v->internal_);
    wr_free((void *)v->issues);
    wr_free(v);
}
