/* validate_check.c - the typechecker: the type of one expression in one
 * request environment, as the reference's strict-mode validator gives it.
 *
 * Two ideas carry most of the weight.
 *
 * Booleans know their value when the types alone decide it (`principal is
 * User` in an environment where the principal is a User is true; `1 == "a"`
 * on two literals is false).  `&&`, `||` and `if` use that knowledge the
 * way evaluation would: a right operand that can never be reached is not
 * typechecked at all, so its errors do not count.  A policy whose whole
 * condition is false in every environment is impossible (a warning).
 *
 * Capabilities: an expression that is true may prove that attributes exist.
 * `e has a` being true proves `e.a` exists; `e.hasTag(k)` proves
 * `e.getTag(k)`.  The typechecker returns, with each type, the set of
 * (expression, attribute-or-tag) pairs that hold when the expression is
 * true: `a && b` holds both sides' (and b is checked with a's), `a || b`
 * the ones both sides hold, `if c then t else e` those of (c and t) that e
 * also holds.  An optional attribute may be read only with its pair in the
 * set; pairs compare expressions structurally, so `principal.manager has
 * name && principal.manager.name == "x"` checks.
 */
#include "cedar/validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define no_caps NULL

/* Where an expression starts: its leftmost token (a node's own position
 * is its operator's for `a.b`, `a + b`, `a.m()` and the like). */
static uint32_t expr_start(const ast_node *x)
{
    for (;;) {
        const ast_node *first;
        switch (x->kind) {
        case A_LIT:
        case A_VAR:
        case A_SLOT:
        case A_NOT:
        case A_NEG:
        case A_IF:
        case A_SET:
        case A_RECORD:
            return x->pos;
        case A_AND:
        case A_OR:
            first = x->u.list.items[0];
            break;
        case A_HAS:
        case A_GETATTR:
            first = x->u.attr.a;
            break;
        case A_LIKE:
            first = x->u.like.a;
            break;
        case A_IS:
            first = x->u.is.a;
            break;
        case A_EXTCALL:
            if (!x->u.call.fn->is_method || !x->u.call.n)
                return x->pos;
            first = x->u.call.args[0];
            break;
        default:
            first = x->u.op.a;
            break;
        }
        if (!first || first->pos > x->pos)
            return x->pos;
        x = first;
    }
}

static const vt_type *fail(vt_ctx *cx, const ast_node *x, const char *fmt, ...)
{
    if (!cx->failed) {
        cx->failed = true;
        cx->err_pos = x ? expr_start(x) : 0;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cx->err_msg, sizeof cx->err_msg, fmt, ap);
        va_end(ap);
    }
    return NULL;
}

static const vt_type *oom(vt_ctx *cx, const ast_node *x) { return fail(cx, x, "out of memory"); }

static const vt_type *unexpected(vt_ctx *cx, const ast_node *x, const char *want, const vt_type *got)
{
    char g[96];
    cedar_vt_print(got, g, sizeof g);
    return fail(cx, x, "unexpected type: expected %s but saw %s", want, g);
}

static const vt_type *incompatible(vt_ctx *cx, const ast_node *x, const vt_type *t1, const vt_type *t2)
{
    char a[96], b[96];
    cedar_vt_print(t1, a, sizeof a);
    cedar_vt_print(t2, b, sizeof b);
    return fail(cx, x, "the types %s and %s are not compatible", a, b);
}

/* ---- capabilities */

static bool cap_eq(const vt_cap *c, const ast_node *e, const cv_string *attr, const ast_node *tag)
{
    if ((c->attr == NULL) != (attr == NULL) || (c->tag == NULL) != (tag == NULL))
        return false;
    if (attr && !cv_string_eq(c->attr, attr))
        return false;
    if (tag && !cedar_vt_expr_equal(c->tag, tag))
        return false;
    return cedar_vt_expr_equal(c->e, e);
}

static bool caps_has(vt_caps c, const ast_node *e, const cv_string *attr, const ast_node *tag)
{
    for (; c; c = c->next)
        if (cap_eq(c, e, attr, tag))
            return true;
    return false;
}

/* Is x shorter than y?  Walks only as far as the shorter one. */
static bool caps_shorter(vt_caps x, vt_caps y)
{
    while (x && y) {
        x = x->next;
        y = y->next;
    }
    return !x;
}

/* Copies of the cells of `front` ahead of `tail`. */
static vt_caps caps_prepend(vt_ctx *cx, vt_caps front, vt_caps tail)
{
    vt_caps head = tail;
    vt_cap **link = (vt_cap **)&head;
    for (; front; front = front->next) {
        vt_cap *c = wr_arena_alloc(cx->a, sizeof *c);
        if (!c) {
            oom(cx, NULL);
            return tail;
        }
        *c = *front;
        c->next = tail;
        *link = c;
        link = (vt_cap **)&c->next;
    }
    return head;
}

static vt_caps caps_union(vt_ctx *cx, vt_caps x, vt_caps y)
{
    if (!y)
        return x;
    if (!x)
        return y;
    return caps_shorter(x, y) ? caps_prepend(cx, x, y) : caps_prepend(cx, y, x);
}

static vt_caps caps_inter(vt_ctx *cx, vt_caps x, vt_caps y)
{
    vt_caps out = NULL;
    for (; x && y; x = x->next) {
        if (!caps_has(y, x->e, x->attr, x->tag))
            continue;
        vt_cap *c = wr_arena_alloc(cx->a, sizeof *c);
        if (!c) {
            oom(cx, NULL);
            return NULL;
        }
        *c = *x;
        c->next = out;
        out = c;
    }
    return out;
}

static vt_caps caps_one(vt_ctx *cx, const ast_node *e, const cv_string *attr, const ast_node *tag)
{
    vt_cap *c = wr_arena_alloc(cx->a, sizeof *c);
    if (!c) {
        oom(cx, NULL);
        return NULL;
    }
    c->e = e;
    c->attr = attr;
    c->tag = tag;
    c->next = NULL;
    return c;
}

/* ---- structural equality */

bool cedar_vt_expr_equal(const ast_node *x, const ast_node *y)
{
    if (x == y)
        return true;
    if (!x || !y || x->kind != y->kind)
        return false;
    switch (x->kind) {
    case A_LIT:
        return cv_equal(x->u.lit, y->u.lit) && x->u.lit.type == y->u.lit.type;
    case A_VAR:
    case A_SLOT:
        return x->u.var == y->u.var;
    case A_AND:
    case A_OR:
    case A_SET:
        if (x->u.list.n != y->u.list.n)
            return false;
        for (size_t i = 0; i < x->u.list.n; i++)
            if (!cedar_vt_expr_equal(x->u.list.items[i], y->u.list.items[i]))
                return false;
        return true;
    case A_HAS:
    case A_GETATTR:
        return cv_string_eq(x->u.attr.attr, y->u.attr.attr) && cedar_vt_expr_equal(x->u.attr.a, y->u.attr.a);
    case A_LIKE:
        return x->u.like.pat.n == y->u.like.pat.n &&
               !memcmp(x->u.like.pat.elem, y->u.like.pat.elem,
                       x->u.like.pat.n * sizeof *x->u.like.pat.elem) &&
               cedar_vt_expr_equal(x->u.like.a, y->u.like.a);
    case A_IS:
        return cv_string_eq(x->u.is.type, y->u.is.type) && cedar_vt_expr_equal(x->u.is.a, y->u.is.a) &&
               cedar_vt_expr_equal(x->u.is.in, y->u.is.in);
    case A_RECORD:
        if (x->u.rec.n != y->u.rec.n)
            return false;
        for (size_t i = 0; i < x->u.rec.n; i++)
            if (!cv_string_eq(x->u.rec.keys[i], y->u.rec.keys[i]) ||
                !cedar_vt_expr_equal(x->u.rec.vals[i], y->u.rec.vals[i]))
                return false;
        return true;
    case A_EXTCALL:
        if (x->u.call.fn != y->u.call.fn || x->u.call.n != y->u.call.n)
            return false;
        for (size_t i = 0; i < x->u.call.n; i++)
            if (!cedar_vt_expr_equal(x->u.call.args[i], y->u.call.args[i]))
                return false;
        return true;
    default:
        return cedar_vt_expr_equal(x->u.op.a, y->u.op.a) && cedar_vt_expr_equal(x->u.op.b, y->u.op.b) &&
               cedar_vt_expr_equal(x->u.op.c, y->u.op.c);
    }
}

/* ---- literals */

static bool known_entity(vt_ctx *cx, const cv_uid *u)
{
    return cedar_schema_entity_type(cx->schema, u->type->data, u->type->len) ||
           cedar_schema_action(cx->schema, u);
}

static const vt_type *type_of_value(vt_ctx *cx, const ast_node *x, cv_value v)
{
    switch (v.type) {
    case CV_BOOL:
        return cedar_vt_boolean(v.u.b ? VB_TRUE : VB_FALSE);
    case CV_LONG:
        return cedar_vt_prim(VT_LONG);
    case CV_STRING:
        return cedar_vt_prim(VT_STRING);
    case CV_ENTITY:
        /* worded as the name check words it, so the two come out as one */
        if (!known_entity(cx, v.u.uid) && cedar_schema_is_action_type(cx->schema, v.u.uid->type))
            return fail(cx, x, "unrecognized action `%s::\"%s\"`", v.u.uid->type->data, v.u.uid->id->data);
        if (!known_entity(cx, v.u.uid))
            return fail(cx, x, "unrecognized entity type `%s`", v.u.uid->type->data);
        return cedar_vt_entity(cx->a, v.u.uid->type) ? cedar_vt_entity(cx->a, v.u.uid->type) : oom(cx, x);
    case CV_EXT:
        return cedar_vt_ext(cx->a, v.u.ext->kind) ? cedar_vt_ext(cx->a, v.u.ext->kind) : oom(cx, x);
    case CV_SET: {
        if (!v.u.set->n)
            return fail(cx, x, "empty set literals are not allowed: their element type is unknown");
        const vt_type *t = type_of_value(cx, x, v.u.set->v[0]);
        for (size_t i = 1; t && i < v.u.set->n; i++) {
            const vt_type *u = type_of_value(cx, x, v.u.set->v[i]);
            if (!u)
                return NULL;
            const vt_type *l = cedar_vt_lub(cx->a, t, u);
            if (!l) {
                char a[96], b[96];
                cedar_vt_print(t, a, sizeof a);
                cedar_vt_print(u, b, sizeof b);
                return fail(cx, x, "set elements have incompatible types %s and %s", a, b);
            }
            t = l;
        }
        return t ? cedar_vt_set(cx->a, t) : NULL;
    }
    case CV_RECORD: {
        const cv_record *r = v.u.rec;
        vt_type *rt = wr_arena_calloc(cx->a, 1, sizeof *rt);
        vt_attr *at = r->n ? wr_arena_calloc(cx->a, r->n, sizeof *at) : NULL;
        if (!rt || (r->n && !at))
            return oom(cx, x);
        for (size_t i = 0; i < r->n; i++) {
            at[i].name = r->f[i].key;
            at[i].required = true;
            if (!(at[i].type = type_of_value(cx, x, r->f[i].v)))
                return NULL;
        }
        rt->kind = VT_RECORD;
        rt->nattrs = r->n;
        rt->attrs = at;
        return rt;
    }
    default:
        return fail(cx, x, "internal error: a literal with no type");
    }
}

/* A literal of a primitive value (Lean's `.lit`): true, 1, "a", E::"x".
 * The variable `action` counts as the environment's action literal. */
static bool prim_lit(vt_ctx *cx, const ast_node *x, cv_value *out)
{
    if (x->kind == A_VAR && x->u.var == VAR_ACTION) {
        *out = cv_entity(cx->env.action->uid);
        return true;
    }
    if (x->kind != A_LIT)
        return false;
    cv_type t = x->u.lit.type;
    if (t != CV_BOOL && t != CV_LONG && t != CV_STRING && t != CV_ENTITY)
        return false;
    *out = x->u.lit;
    return true;
}

/* An action of the schema written as a literal (or the action variable). */
static const cv_uid *action_uid(vt_ctx *cx, const ast_node *x)
{
    cv_value v;
    if (!prim_lit(cx, x, &v) || v.type != CV_ENTITY || !cedar_schema_action(cx->schema, v.u.uid))
        return NULL;
    return v.u.uid;
}

static const cv_uid *entity_uid(vt_ctx *cx, const ast_node *x)
{
    cv_value v;
    return prim_lit(cx, x, &v) && v.type == CV_ENTITY ? v.u.uid : NULL;
}

/* ---- operators */

static const vt_type *bool_of(vt_ctx *cx, const ast_node *x, const vt_type *t)
{
    return t && t->kind != VT_BOOL ? unexpected(cx, x, "Bool", t) : t;
}

static const vt_type *check_and(vt_ctx *cx, const ast_node *x, vt_caps in, vt_caps *out)
{
    /* c1: what the operands so far prove; inner: in and c1, what the next
     * operand is checked with.  Both grow by each operand's own cells. */
    vt_caps c1;
    const vt_type *t = bool_of(cx, x->u.list.items[0], cedar_vt_check(cx, x->u.list.items[0], in, &c1));
    if (!t)
        return NULL;
    vt_caps inner = caps_prepend(cx, c1, in);
    for (size_t i = 1; i < x->u.list.n; i++) {
        if (t->b == VB_FALSE) {
            *out = no_caps;
            return t;
        }
        vt_caps c2;
        const ast_node *r = x->u.list.items[i];
        const vt_type *t2 = bool_of(cx, r, cedar_vt_check(cx, r, inner, &c2));
        if (!t2)
            return NULL;
        if (t2->b == VB_FALSE) {
            t = t2;
            c1 = no_caps;
        } else {
            t = t2->b == VB_TRUE ? t : cedar_vt_boolean(VB_ANY);
            c1 = caps_prepend(cx, c2, c1);
            inner = caps_prepend(cx, c2, inner);
        }
    }
    *out = t->b == VB_FALSE ? no_caps : c1;
    return t;
}

static const vt_type *check_or(vt_ctx *cx, const ast_node *x, vt_caps in, vt_caps *out)
{
    vt_caps c1;
    const vt_type *t = bool_of(cx, x->u.list.items[0], cedar_vt_check(cx, x->u.list.items[0], in, &c1));
    if (!t)
        return NULL;
    for (size_t i = 1; i < x->u.list.n; i++) {
        if (t->b == VB_TRUE) {
            *out = no_caps;
            return t;
        }
        vt_caps c2;
        const ast_node *r = x->u.list.items[i];
        const vt_type *t2 = bool_of(cx, r, cedar_vt_check(cx, r, in, &c2));
        if (!t2)
            return NULL;
        if (t->b == VB_FALSE) {
            t = t2;
            c1 = c2;
        } else if (t2->b == VB_TRUE) {
            t = t2;
            c1 = no_caps;
        } else if (t2->b == VB_FALSE) {
            t = cedar_vt_boolean(VB_ANY);
        } else {
            t = cedar_vt_boolean(VB_ANY);
            c1 = caps_inter(cx, c1, c2);
        }
    }
    *out = t->b == VB_TRUE ? no_caps : c1;
    return t;
}

static const vt_type *check_if(vt_ctx *cx, const ast_node *x, vt_caps in, vt_caps *out)
{
    vt_caps c1, c2, c3;
    const vt_type *t1 = bool_of(cx, x->u.op.a, cedar_vt_check(cx, x->u.op.a, in, &c1));
    if (!t1)
        return NULL;
    if (t1->b == VB_FALSE)
        return cedar_vt_check(cx, x->u.op.c, in, out);
    const vt_type *t2 = cedar_vt_check(cx, x->u.op.b, caps_union(cx, in, c1), &c2);
    if (!t2)
        return NULL;
    if (t1->b == VB_TRUE) {
        *out = caps_union(cx, c1, c2);
        return t2;
    }
    const vt_type *t3 = cedar_vt_check(cx, x->u.op.c, in, &c3);
    if (!t3)
        return NULL;
    const vt_type *l = cedar_vt_lub(cx->a, t2, t3);
    if (!l)
        return incompatible(cx, x, t2, t3);
    *out = caps_inter(cx, caps_union(cx, c1, c2), c3);
    return l;
}

static const vt_type *check_eq(vt_ctx *cx, const ast_node *x, const vt_type *t1, const vt_type *t2)
{
    cv_value v1, v2;
    if (prim_lit(cx, x->u.op.a, &v1) && prim_lit(cx, x->u.op.b, &v2))
        return cedar_vt_boolean(v1.type == v2.type && cv_equal(v1, v2) ? VB_TRUE : VB_FALSE);
    if (cedar_vt_lub(cx->a, t1, t2))
        return cedar_vt_boolean(VB_ANY);
    if (t1->kind == VT_ENTITY && t2->kind == VT_ENTITY)
        return cedar_vt_boolean(VB_FALSE);
    return incompatible(cx, x, t1, t2);
}

static vt_bool not_b(vt_bool b) { return b == VB_TRUE ? VB_FALSE : b == VB_FALSE ? VB_TRUE : VB_ANY; }

static const vt_type *check_in(vt_ctx *cx, const ast_node *x, const vt_type *t1, const vt_type *t2)
{
    const ast_node *l = x->u.op.a, *r = x->u.op.b;
    if (t1->kind != VT_ENTITY)
        return unexpected(cx, l, "an entity", t1);
    const cv_uid *a1 = action_uid(cx, l);
    if (t2->kind == VT_ENTITY) {
        const cv_uid *u2 = entity_uid(cx, r);
        if (a1 && u2)
            return cedar_vt_boolean(cedar_vt_action_descends(cx->schema, a1, u2) ? VB_TRUE : VB_FALSE);
        return cedar_vt_boolean(cedar_vt_type_descends(cx->schema, t1->ety, t2->ety) ? VB_ANY : VB_FALSE);
    }
    if (t2->kind == VT_SET && t2->elem->kind == VT_ENTITY) {
        if (a1 && r->kind == A_LIT && r->u.lit.type == CV_SET) {
            const cv_set *s = r->u.lit.u.set;
            bool all_uids = true, any = false;
            for (size_t i = 0; i < s->n; i++) {
                if (s->v[i].type != CV_ENTITY)
                    all_uids = false;
                else if (cedar_vt_action_descends(cx->schema, a1, s->v[i].u.uid))
                    any = true;
            }
            if (all_uids)
                return cedar_vt_boolean(any ? VB_TRUE : VB_FALSE);
        }
        if (a1 && r->kind == A_SET) { /* a set written with `action` in it */
            bool all_uids = true, any = false;
            for (size_t i = 0; i < r->u.set.n && all_uids; i++) {
                const cv_uid *u = entity_uid(cx, r->u.set.items[i]);
                if (!u)
                    all_uids = false;
                else if (cedar_vt_action_descends(cx->schema, a1, u))
                    any = true;
            }
            if (all_uids)
                return cedar_vt_boolean(any ? VB_TRUE : VB_FALSE);
        }
        return cedar_vt_boolean(cedar_vt_type_descends(cx->schema, t1->ety, t2->elem->ety) ? VB_ANY
                                                                                           : VB_FALSE);
    }
    return unexpected(cx, r, "an entity or a set of entities", t2);
}

static bool orderable(const vt_type *t1, const vt_type *t2)
{
    if (t1->kind == VT_LONG && t2->kind == VT_LONG)
        return true;
    return t1->kind == VT_EXT && t2->kind == VT_EXT && t1->ext == t2->ext &&
           (t1->ext == CVX_DATETIME || t1->ext == CVX_DURATION);
}

static const vt_type *check_binary(vt_ctx *cx, const ast_node *x, vt_caps in)
{
    vt_caps ign;
    const vt_type *t1 = cedar_vt_check(cx, x->u.op.a, in, &ign);
    if (!t1)
        return NULL;
    const vt_type *t2 = cedar_vt_check(cx, x->u.op.b, in, &ign);
    if (!t2)
        return NULL;
    switch (x->kind) {
    case A_EQ:
        return check_eq(cx, x, t1, t2);
    case A_NE: {
        const vt_type *t = check_eq(cx, x, t1, t2);
        return t ? cedar_vt_boolean(not_b(t->b)) : NULL;
    }
    case A_LT:
    case A_LE:
    case A_GT:
    case A_GE:
        if (orderable(t1, t2))
            return cedar_vt_boolean(VB_ANY);
        if (t1->kind != VT_LONG && t1->kind != VT_EXT)
            return unexpected(cx, x->u.op.a, "Long, datetime or duration", t1);
        return unexpected(cx, x->u.op.b, t1->kind == VT_LONG ? "Long" : cv_ext_kind_name(t1->ext), t2);
    case A_ADD:
    case A_SUB:
    case A_MUL:
        if (t1->kind != VT_LONG)
            return unexpected(cx, x->u.op.a, "Long", t1);
        if (t2->kind != VT_LONG)
            return unexpected(cx, x->u.op.b, "Long", t2);
        return cedar_vt_prim(VT_LONG);
    case A_IN:
        return check_in(cx, x, t1, t2);
    case A_CONTAINS:
        if (t1->kind != VT_SET)
            return unexpected(cx, x->u.op.a, "a set", t1);
        return cedar_vt_lub(cx->a, t2, t1->elem) ? cedar_vt_boolean(VB_ANY)
                                                 : incompatible(cx, x, t2, t1->elem);
    case A_CONTAINSALL:
    case A_CONTAINSANY:
        if (t1->kind != VT_SET)
            return unexpected(cx, x->u.op.a, "a set", t1);
        if (t2->kind != VT_SET)
            return unexpected(cx, x->u.op.b, "a set", t2);
        return cedar_vt_lub(cx->a, t1->elem, t2->elem) ? cedar_vt_boolean(VB_ANY)
                                                       : incompatible(cx, x, t1->elem, t2->elem);
    default:
        return fail(cx, x, "internal error: not a binary operator");
    }
}

/* ---- attributes and tags */

static const vt_type *entity_shape(vt_ctx *cx, const ast_node *x, const vt_type *t, bool *is_action)
{
    *is_action = false;
    const cs_entity_type *et = cedar_schema_entity_type(cx->schema, t->ety->data, t->ety->len);
    if (et) {
        const vt_type *s = cedar_vt_from_schema(cx->a, et->shape);
        return s ? s : oom(cx, x);
    }
    if (cedar_schema_is_action_type(cx->schema, t->ety)) {
        *is_action = true;
        return NULL;
    }
    return fail(cx, x, "unrecognized entity type `%s`", t->ety->data);
}

static const vt_type *check_has(vt_ctx *cx, const ast_node *x, vt_caps in, vt_caps *out)
{
    vt_caps ign;
    const ast_node *e = x->u.attr.a;
    const vt_type *t = cedar_vt_check(cx, e, in, &ign);
    if (!t)
        return NULL;
    const vt_type *rec = t;
    bool known_to_exist = true;
    if (t->kind == VT_ENTITY) {
        bool act;
        known_to_exist = false;
        if (!(rec = entity_shape(cx, e, t, &act)))
            return act ? cedar_vt_boolean(VB_FALSE) : NULL; /* actions have no attributes */
    } else if (t->kind != VT_RECORD) {
        return unexpected(cx, e, "an entity or a record", t);
    }
    const vt_attr *at = cedar_vt_record_find(rec, x->u.attr.attr);
    if (!at)
        return cedar_vt_boolean(VB_FALSE);
    if (caps_has(in, e, x->u.attr.attr, NULL) || (at->required && known_to_exist))
        return cedar_vt_boolean(VB_TRUE);
    *out = caps_one(cx, e, x->u.attr.attr, NULL);
    return cedar_vt_boolean(VB_ANY);
}

static const vt_type *check_getattr(vt_ctx *cx, const ast_node *x, vt_caps in)
{
    vt_caps ign;
    const ast_node *e = x->u.attr.a;
    const vt_type *t = cedar_vt_check(cx, e, in, &ign);
    if (!t)
        return NULL;
    const vt_type *rec = t;
    if (t->kind == VT_ENTITY) {
        bool act;
        if (!(rec = entity_shape(cx, e, t, &act)))
            return act ? fail(cx, x, "action entities have no attributes (`%s` on %s)", x->u.attr.attr->data,
                              t->ety->data)
                       : NULL;
    } else if (t->kind != VT_RECORD) {
        return unexpected(cx, e, "an entity or a record", t);
    }
    char tn[96];
    const vt_attr *at = cedar_vt_record_find(rec, x->u.attr.attr);
    if (!at) {
        cedar_vt_print(t, tn, sizeof tn);
        return fail(cx, x, "attribute `%s` not found on %s", x->u.attr.attr->data, tn);
    }
    if (!at->required && !caps_has(in, e, x->u.attr.attr, NULL)) {
        cedar_vt_print(t, tn, sizeof tn);
        return fail(cx, x, "attribute `%s` of %s is optional: test it with `has` before reading it",
                    x->u.attr.attr->data, tn);
    }
    return at->type;
}

static const vt_type *check_tag(vt_ctx *cx, const ast_node *x, vt_caps in, vt_caps *out)
{
    vt_caps ign;
    const vt_type *t1 = cedar_vt_check(cx, x->u.op.a, in, &ign);
    if (!t1)
        return NULL;
    const vt_type *t2 = cedar_vt_check(cx, x->u.op.b, in, &ign);
    if (!t2)
        return NULL;
    if (t1->kind != VT_ENTITY)
        return unexpected(cx, x->u.op.a, "an entity", t1);
    if (t2->kind != VT_STRING)
        return unexpected(cx, x->u.op.b, "String", t2);
    bool get = x->kind == A_GETTAG;
    const cs_entity_type *et = cedar_schema_entity_type(cx->schema, t1->ety->data, t1->ety->len);
    if (!et) {
        if (!get && cedar_schema_is_action_type(cx->schema, t1->ety))
            return cedar_vt_boolean(VB_FALSE);
        return fail(cx, x, "unrecognized entity type `%s`", t1->ety->data);
    }
    if (!et->tags)
        return get ? fail(cx, x, "entity type %s has no tags", t1->ety->data) : cedar_vt_boolean(VB_FALSE);
    bool held = caps_has(in, x->u.op.a, NULL, x->u.op.b);
    if (get) {
        if (!held)
            return fail(cx, x, "the tag may be missing on %s: test it with `hasTag` before reading it",
                        t1->ety->data);
        const vt_type *tt = cedar_vt_from_schema(cx->a, et->tags);
        return tt ? tt : oom(cx, x);
    }
    if (held)
        return cedar_vt_boolean(VB_TRUE);
    *out = caps_one(cx, x->u.op.a, NULL, x->u.op.b);
    return cedar_vt_boolean(VB_ANY);
}

/* ---- extension functions */

typedef struct ext_sig {
    const char *name;
    uint8_t n;
    cv_ext_kind args[2];
    vt_kind ret; /* VT_BOOL, VT_LONG or VT_EXT */
    cv_ext_kind ret_ext;
} ext_sig;

static const ext_sig ext_sigs[] = {
    {"lessThan", 2, {CVX_DECIMAL, CVX_DECIMAL}, VT_BOOL, 0},
    {"lessThanOrEqual", 2, {CVX_DECIMAL, CVX_DECIMAL}, VT_BOOL, 0},
    {"greaterThan", 2, {CVX_DECIMAL, CVX_DECIMAL}, VT_BOOL, 0},
    {"greaterThanOrEqual", 2, {CVX_DECIMAL, CVX_DECIMAL}, VT_BOOL, 0},
    {"isIpv4", 1, {CVX_IPADDR, 0}, VT_BOOL, 0},
    {"isIpv6", 1, {CVX_IPADDR, 0}, VT_BOOL, 0},
    {"isLoopback", 1, {CVX_IPADDR, 0}, VT_BOOL, 0},
    {"isMulticast", 1, {CVX_IPADDR, 0}, VT_BOOL, 0},
    {"isInRange", 2, {CVX_IPADDR, CVX_IPADDR}, VT_BOOL, 0},
    {"offset", 2, {CVX_DATETIME, CVX_DURATION}, VT_EXT, CVX_DATETIME},
    {"durationSince", 2, {CVX_DATETIME, CVX_DATETIME}, VT_EXT, CVX_DURATION},
    {"toDate", 1, {CVX_DATETIME, 0}, VT_EXT, CVX_DATETIME},
    {"toTime", 1, {CVX_DATETIME, 0}, VT_EXT, CVX_DURATION},
    {"toMilliseconds", 1, {CVX_DURATION, 0}, VT_LONG, 0},
    {"toSeconds", 1, {CVX_DURATION, 0}, VT_LONG, 0},
    {"toMinutes", 1, {CVX_DURATION, 0}, VT_LONG, 0},
    {"toHours", 1, {CVX_DURATION, 0}, VT_LONG, 0},
    {"toDays", 1, {CVX_DURATION, 0}, VT_LONG, 0},
};

static const vt_type *check_call(vt_ctx *cx, const ast_node *x, vt_caps in)
{
    const char *name = x->u.call.fn->name;
    const vt_type *tys[8];
    size_t n = x->u.call.n;
    for (size_t i = 0; i < n; i++) {
        vt_caps ign;
        const vt_type *t = cedar_vt_check(cx, x->u.call.args[i], in, &ign);
        if (!t)
            return NULL;
        if (i < 8)
            tys[i] = t;
    }
    /* A constructor the parser did not fold had no string literal, or an
     * invalid one: the reference refuses both. */
    if (!x->u.call.fn->is_method && (!strcmp(name, "ip") || !strcmp(name, "decimal") ||
                                     !strcmp(name, "datetime") || !strcmp(name, "duration"))) {
        if (n == 1 && x->u.call.args[0]->kind == A_LIT && x->u.call.args[0]->u.lit.type == CV_STRING)
            return fail(cx, x, "invalid argument to `%s`: \"%s\" is not a valid %s literal", name,
                        x->u.call.args[0]->u.lit.u.s->data, !strcmp(name, "ip") ? "ipaddr" : name);
        return fail(cx, x, "`%s` must be called on one string literal", name);
    }
    for (size_t k = 0; k < sizeof ext_sigs / sizeof ext_sigs[0]; k++) {
        const ext_sig *s = &ext_sigs[k];
        if (strcmp(s->name, name))
            continue;
        if (n != s->n)
            return fail(cx, x, "`%s` takes %u argument%s, got %zu", name, s->n, s->n == 1 ? "" : "s", n);
        for (size_t i = 0; i < n; i++)
            if (tys[i]->kind != VT_EXT || tys[i]->ext != s->args[i])
                return unexpected(cx, x->u.call.args[i], cv_ext_kind_name(s->args[i]), tys[i]);
        if (s->ret == VT_BOOL)
            return cedar_vt_boolean(VB_ANY);
        if (s->ret == VT_LONG)
            return cedar_vt_prim(VT_LONG);
        return cedar_vt_ext(cx->a, s->ret_ext) ? cedar_vt_ext(cx->a, s->ret_ext) : oom(cx, x);
    }
    return fail(cx, x, "unknown extension function `%s`", name);
}

/* ---- sets and records */

static const vt_type *check_set(vt_ctx *cx, const ast_node *x, vt_caps in)
{
    if (!x->u.set.n)
        return fail(cx, x, "empty set literals are not allowed: their element type is unknown");
    const vt_type *t = NULL;
    for (size_t i = 0; i < x->u.set.n; i++) {
        vt_caps ign;
        const vt_type *u = cedar_vt_check(cx, x->u.set.items[i], in, &ign);
        if (!u)
            return NULL;
        if (!t) {
            t = u;
            continue;
        }
        const vt_type *l = cedar_vt_lub(cx->a, t, u);
        if (!l) {
            char a[96], b[96];
            cedar_vt_print(t, a, sizeof a);
            cedar_vt_print(u, b, sizeof b);
            return fail(cx, x, "set elements have incompatible types %s and %s", a, b);
        }
        t = l;
    }
    return cedar_vt_set(cx->a, t) ? cedar_vt_set(cx->a, t) : oom(cx, x);
}

static const vt_type *check_record(vt_ctx *cx, const ast_node *x, vt_caps in)
{
    size_t n = x->u.rec.n;
    vt_type *rt = wr_arena_calloc(cx->a, 1, sizeof *rt);
    vt_attr *at = n ? wr_arena_calloc(cx->a, n, sizeof *at) : NULL;
    if (!rt || (n && !at))
        return oom(cx, x);
    for (size_t i = 0; i < n; i++) {
        vt_caps ign;
        const vt_type *t = cedar_vt_check(cx, x->u.rec.vals[i], in, &ign);
        if (!t)
            return NULL;
        /* insertion sort by name: records are small */
        size_t j = i;
        while (j && cv_string_cmp(at[j - 1].name, x->u.rec.keys[i]) > 0) {
            at[j] = at[j - 1];
            j--;
        }
        at[j].name = x->u.rec.keys[i];
        at[j].required = true;
        at[j].type = t;
    }
    rt->kind = VT_RECORD;
    rt->nattrs = n;
    rt->attrs = at;
    return rt;
}

/* ---- the dispatcher */

const vt_type *cedar_vt_check(vt_ctx *cx, const ast_node *x, vt_caps in, vt_caps *out)
{
    *out = no_caps;
    if (cx->failed)
        return NULL;
    vt_caps ign;
    const vt_type *t;
    switch (x->kind) {
    case A_LIT:
        return type_of_value(cx, x, x->u.lit);
    case A_VAR:
        switch (x->u.var) {
        case VAR_PRINCIPAL:
            return cedar_vt_entity(cx->a, cx->env.principal->name);
        case VAR_ACTION:
            return cedar_vt_entity(cx->a, cx->env.action->uid->type);
        case VAR_RESOURCE:
            return cedar_vt_entity(cx->a, cx->env.resource->name);
        default:
            t = cedar_vt_from_schema(cx->a, cx->env.action->context);
            return t ? t : oom(cx, x);
        }
    case A_SLOT: /* a template's scope constraint on a slot: could be either */
        return cedar_vt_boolean(VB_ANY);
    case A_NOT:
        if (!(t = cedar_vt_check(cx, x->u.op.a, in, &ign)))
            return NULL;
        return t->kind == VT_BOOL ? cedar_vt_boolean(not_b(t->b)) : unexpected(cx, x->u.op.a, "Bool", t);
    case A_NEG:
        if (!(t = cedar_vt_check(cx, x->u.op.a, in, &ign)))
            return NULL;
        return t->kind == VT_LONG ? t : unexpected(cx, x->u.op.a, "Long", t);
    case A_AND:
        return check_and(cx, x, in, out);
    case A_OR:
        return check_or(cx, x, in, out);
    case A_IF:
        return check_if(cx, x, in, out);
    case A_HAS:
        return check_has(cx, x, in, out);
    case A_GETATTR:
        return check_getattr(cx, x, in);
    case A_LIKE:
        if (!(t = cedar_vt_check(cx, x->u.like.a, in, &ign)))
            return NULL;
        return t->kind == VT_STRING ? cedar_vt_boolean(VB_ANY) : unexpected(cx, x->u.like.a, "String", t);
    case A_IS: {
        if (!(t = cedar_vt_check(cx, x->u.is.a, in, &ign)))
            return NULL;
        if (t->kind != VT_ENTITY)
            return unexpected(cx, x->u.is.a, "an entity", t);
        if (!cv_string_eq(t->ety, x->u.is.type))
            return cedar_vt_boolean(VB_FALSE);
        if (!x->u.is.in)
            return cedar_vt_boolean(VB_TRUE);
        /* `e is T in f` is `e is T && e in f`; the first is true here */
        const vt_type *t2 = cedar_vt_check(cx, x->u.is.in, in, &ign);
        if (!t2)
            return NULL;
        ast_node tmp = *x;
        tmp.kind = A_IN;
        tmp.u.op.a = x->u.is.a;
        tmp.u.op.b = x->u.is.in;
        tmp.u.op.c = NULL;
        return check_in(cx, &tmp, t, t2);
    }
    case A_SET:
        return check_set(cx, x, in);
    case A_RECORD:
        return check_record(cx, x, in);
    case A_ISEMPTY:
        if (!(t = cedar_vt_check(cx, x->u.op.a, in, &ign)))
            return NULL;
        return t->kind == VT_SET ? cedar_vt_boolean(VB_ANY) : unexpected(cx, x->u.op.a, "a set", t);
    case A_GETTAG:
    case A_HASTAG:
        return check_tag(cx, x, in, out);
    case A_EXTCALL:
        return check_call(cx, x, in);
    default:
        return check_binary(cx, x, in);
    }
}
