/* eval.c - the Cedar evaluator: a direct walk over the AST.
 *
 * Semantics follow the Cedar reference exactly:
 *   - `&&`, `||` and `if` short-circuit; operands must be booleans;
 *   - `==` compares any two values and never fails; `<` `<=` `>` `>=` take
 *     two longs (or two datetimes, two durations: see cedar_ext_orderable);
 *   - `+ - *` and unary `-` are checked 64-bit arithmetic: overflow is an
 *     error, not a wrap;
 *   - reading an attribute of an entity that is not in the store, or a
 *     missing attribute or tag, is an error; `has` / `hasTag` on a missing
 *     entity is false;
 *   - `in` is reflexive and transitive over the entity hierarchy; its right
 *     side is an entity or a set of entities (any other element is an error).
 * An error aborts the expression; the authorizer skips that policy and
 * reports it.  Computed values are allocated in env->arena.
 */
#include "cedar/eval.h"

#include "util/text.h"

#include <stdio.h>
#include <string.h>

static int fail(eval_env *env, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#include <stdarg.h>
static int fail(eval_env *env, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(env->err, sizeof env->err, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof env->err) /* cut: on a character, not inside one */
        wr_utf8_cut(env->err, sizeof env->err - 1);
    return -1;
}

static int oom(eval_env *env) { return fail(env, "out of memory"); }

static const char *tname(cv_value v)
{
    return v.type == CV_EXT ? cv_ext_kind_name(v.u.ext->kind) : cv_type_name(v.type);
}

static int type_error(eval_env *env, const char *want, cv_value got)
{
    return fail(env, "type error: expected %s, got %s", want, tname(got));
}

static int eval_as(eval_env *env, const ast_node *n, cv_type t, cv_value *out)
{
    if (cedar_eval(env, n, out))
        return -1;
    if (out->type != t)
        return type_error(env, cv_type_name(t), *out);
    return 0;
}

int cedar_eval_bool(eval_env *env, const ast_node *n, bool *out)
{
    cv_value v;
    if (eval_as(env, n, CV_BOOL, &v))
        return -1;
    *out = v.u.b;
    return 0;
}

/* Do the m literal pattern elements p match the bytes s? */
static bool like_lit(const unsigned char *s, const int16_t *p, size_t m)
{
    for (size_t j = 0; j < m; j++)
        if (p[j] != s[j])
            return false;
    return true;
}

bool cedar_like(const char *str, size_t n, const ast_pattern *pat)
{
    const unsigned char *s = (const unsigned char *)str;
    const int16_t *p = pat->elem;
    size_t m = pat->n, i = 0, j = 0, star = SIZE_MAX, mark = 0;
    /* The usual shapes without backtracking: "lit", "lit*", "*lit". */
    size_t nstar = 0;
    for (size_t k = 0; k < m; k++)
        if (p[k] == PAT_STAR && ++nstar == 1)
            star = k;
    if (nstar == 0)
        return n == m && like_lit(s, p, m);
    if (nstar == 1 && star == m - 1)
        return n >= m - 1 && like_lit(s, p, m - 1);
    if (nstar == 1 && star == 0)
        return n >= m - 1 && like_lit(s + n - (m - 1), p + 1, m - 1);
    star = SIZE_MAX;
    while (i < n) {
        if (j < m && p[j] != PAT_STAR && p[j] == s[i]) {
            i++;
            j++;
        } else if (j < m && p[j] == PAT_STAR) {
            star = j++;
            mark = i;
        } else if (star != SIZE_MAX) {
            j = star + 1;
            i = ++mark;
        } else {
            return false;
        }
    }
    while (j < m && p[j] == PAT_STAR)
        j++;
    return j == m;
}

static const cedar_entity *lookup_uncached(const eval_env *env, const cv_uid *u)
{
    for (size_t i = 0; i < env->nover; i++)
        if (cv_uid_eq(env->over[i].uid, u))
            return &env->over[i];
    return env->es ? cedar_entities_get(env->es, u) : NULL;
}

void cedar_env_resolve(eval_env *env)
{
    for (int i = 0; i < 3; i++)
        env->ent[i] = lookup_uncached(env, env->var[i].u.uid);
}

/* The request's own entities are looked up once per request. */
static const cedar_entity *lookup(const eval_env *env, const cv_uid *u)
{
    for (int i = 0; i < 3; i++)
        if (u == env->var[i].u.uid)
            return env->ent[i];
    return lookup_uncached(env, u);
}

static bool uid_in(const eval_env *env, const cv_uid *a, const cv_uid *b)
{
    if (cv_uid_eq(a, b))
        return true;
    const cedar_entity *e = lookup(env, a);
    return e && cedar_entity_has_ancestor(e, b);
}

/* lhs in rhs, rhs an entity or a set of entities. */
static int eval_in(eval_env *env, cv_value lhs, cv_value rhs, cv_value *out)
{
    if (lhs.type != CV_ENTITY)
        return type_error(env, "entity", lhs);
    if (rhs.type == CV_ENTITY) {
        *out = cv_bool(uid_in(env, lhs.u.uid, rhs.u.uid));
        return 0;
    }
    if (rhs.type != CV_SET)
        return fail(env, "type error: expected entity or set of entities, got %s", tname(rhs));
    for (size_t i = 0; i < rhs.u.set->n; i++)
        if (rhs.u.set->v[i].type != CV_ENTITY)
            return type_error(env, "entity", rhs.u.set->v[i]);
    for (size_t i = 0; i < rhs.u.set->n; i++) {
        if (uid_in(env, lhs.u.uid, rhs.u.set->v[i].u.uid)) {
            *out = cv_bool(true);
            return 0;
        }
    }
    *out = cv_bool(false);
    return 0;
}

static int compare(eval_env *env, ast_kind k, cv_value a, cv_value b, cv_value *out)
{
    int64_t x, y;
    if (a.type == CV_LONG && b.type == CV_LONG) {
        x = a.u.l;
        y = b.u.l;
    } else if (a.type == CV_EXT && b.type == CV_EXT && a.u.ext->kind == b.u.ext->kind &&
               cedar_ext_orderable(a.u.ext->kind)) {
        switch (a.u.ext->kind) {
        case CVX_DATETIME: x = a.u.ext->u.datetime; y = b.u.ext->u.datetime; break;
        case CVX_DURATION: x = a.u.ext->u.duration; y = b.u.ext->u.duration; break;
        case CVX_DECIMAL: x = a.u.ext->u.decimal; y = b.u.ext->u.decimal; break;
        default: return fail(env, "type error: %s values are not ordered", tname(a));
        }
    } else if (a.type != CV_LONG && a.type != CV_EXT) {
        return type_error(env, "long", a);
    } else if (a.type == CV_LONG) {
        return type_error(env, "long", b);
    } else {
        return fail(env, "type error: cannot compare %s with %s", tname(a), tname(b));
    }
    bool r;
    switch (k) {
    case A_LT: r = x < y; break;
    case A_LE: r = x <= y; break;
    case A_GT: r = x > y; break;
    default: r = x >= y; break;
    }
    *out = cv_bool(r);
    return 0;
}

static int arith(eval_env *env, ast_kind k, cv_value a, cv_value b, cv_value *out)
{
    if (a.type != CV_LONG)
        return type_error(env, "long", a);
    if (b.type != CV_LONG)
        return type_error(env, "long", b);
    int64_t r;
    bool over;
    const char *op;
    switch (k) {
    case A_ADD: over = __builtin_add_overflow(a.u.l, b.u.l, &r); op = "+"; break;
    case A_SUB: over = __builtin_sub_overflow(a.u.l, b.u.l, &r); op = "-"; break;
    default: over = __builtin_mul_overflow(a.u.l, b.u.l, &r); op = "*"; break;
    }
    if (over)
        return fail(env, "integer overflow: %lld %s %lld", (long long)a.u.l, op, (long long)b.u.l);
    *out = cv_long(r);
    return 0;
}

static int attr_of(eval_env *env, cv_value v, const cv_string *attr, cv_value *out)
{
    const cv_record *r;
    if (v.type == CV_ENTITY) {
        const cedar_entity *e = lookup(env, v.u.uid);
        if (!e)
            return fail(env, "entity `%s::\"%s\"` does not exist", v.u.uid->type->data, v.u.uid->id->data);
        r = e->attrs;
    } else if (v.type == CV_RECORD) {
        r = v.u.rec;
    } else {
        return fail(env, "type error: expected entity or record, got %s", tname(v));
    }
    const cv_value *x = cv_record_find(r, attr);
    if (!x)
        return fail(env, "attribute `%s` does not exist", attr->data);
    *out = *x;
    return 0;
}

static int eval_node(eval_env *env, const ast_node *n, cv_value *out);

/* Every level of the walk comes through here.  The parser builds no tree
 * deeper than CEDAR_MAX_DEPTH, but the evaluator does not take that on
 * trust: a deeper tree is an evaluation error (the policy is skipped and
 * reported), never a stack overflow. */
int cedar_eval(eval_env *env, const ast_node *n, cv_value *out)
{
    if (env->depth >= CEDAR_MAX_DEPTH)
        return fail(env, "expression nested too deeply to evaluate (limit %d)", CEDAR_MAX_DEPTH);
    env->depth++;
    int r = eval_node(env, n, out);
    env->depth--;
    return r;
}

static int eval_node(eval_env *env, const ast_node *n, cv_value *out)
{
    cv_value a, b;
    switch (n->kind) {
    case A_LIT:
        *out = n->u.lit;
        return 0;
    case A_VAR:
        *out = env->var[n->u.var];
        return 0;
    case A_SLOT:
        return fail(env, "unlinked template slot");
    case A_NOT:
        if (eval_as(env, n->u.op.a, CV_BOOL, &a))
            return -1;
        *out = cv_bool(!a.u.b);
        return 0;
    case A_NEG:
        if (eval_as(env, n->u.op.a, CV_LONG, &a))
            return -1;
        if (a.u.l == INT64_MIN)
            return fail(env, "integer overflow: -(%lld)", (long long)a.u.l);
        *out = cv_long(-a.u.l);
        return 0;
    case A_AND:
    case A_OR: {
        /* left to right; the first operand equal to `stop` decides */
        bool stop = n->kind == A_OR;
        for (size_t i = 0; i < n->u.list.n; i++) {
            if (eval_as(env, n->u.list.items[i], CV_BOOL, &a))
                return -1;
            if (a.u.b == stop) {
                *out = a;
                return 0;
            }
        }
        *out = cv_bool(!stop);
        return 0;
    }
    case A_IF:
        if (eval_as(env, n->u.op.a, CV_BOOL, &a))
            return -1;
        return cedar_eval(env, a.u.b ? n->u.op.b : n->u.op.c, out);
    case A_EQ:
    case A_NE:
        if (cedar_eval(env, n->u.op.a, &a) || cedar_eval(env, n->u.op.b, &b))
            return -1;
        *out = cv_bool(cv_equal(a, b) == (n->kind == A_EQ));
        return 0;
    case A_LT:
    case A_LE:
    case A_GT:
    case A_GE:
        if (cedar_eval(env, n->u.op.a, &a) || cedar_eval(env, n->u.op.b, &b))
            return -1;
        return compare(env, n->kind, a, b, out);
    case A_ADD:
    case A_SUB:
    case A_MUL:
        if (cedar_eval(env, n->u.op.a, &a) || cedar_eval(env, n->u.op.b, &b))
            return -1;
        return arith(env, n->kind, a, b, out);
    case A_IN:
        if (cedar_eval(env, n->u.op.a, &a) || cedar_eval(env, n->u.op.b, &b))
            return -1;
        return eval_in(env, a, b, out);
    case A_HAS: {
        if (cedar_eval(env, n->u.attr.a, &a))
            return -1;
        const cv_record *r;
        if (a.type == CV_ENTITY) {
            const cedar_entity *e = lookup(env, a.u.uid);
            if (!e) {
                *out = cv_bool(false);
                return 0;
            }
            r = e->attrs;
        } else if (a.type == CV_RECORD) {
            r = a.u.rec;
        } else {
            return fail(env, "type error: expected entity or record, got %s", tname(a));
        }
        *out = cv_bool(cv_record_find(r, n->u.attr.attr) != NULL);
        return 0;
    }
    case A_GETATTR:
        if (cedar_eval(env, n->u.attr.a, &a))
            return -1;
        return attr_of(env, a, n->u.attr.attr, out);
    case A_LIKE:
        if (eval_as(env, n->u.like.a, CV_STRING, &a))
            return -1;
        *out = cv_bool(cedar_like(a.u.s->data, a.u.s->len, &n->u.like.pat));
        return 0;
    case A_IS:
        if (eval_as(env, n->u.is.a, CV_ENTITY, &a))
            return -1;
        if (!cv_string_eq(a.u.uid->type, n->u.is.type)) {
            *out = cv_bool(false);
            return 0;
        }
        if (!n->u.is.in) {
            *out = cv_bool(true);
            return 0;
        }
        if (cedar_eval(env, n->u.is.in, &b))
            return -1;
        return eval_in(env, a, b, out);
    case A_SET: {
        size_t cnt = n->u.set.n;
        cv_value *items = cnt ? wr_arena_alloc(env->arena, cnt * sizeof *items) : NULL;
        if (cnt && !items)
            return oom(env);
        for (size_t i = 0; i < cnt; i++)
            if (cedar_eval(env, n->u.set.items[i], &items[i]))
                return -1;
        *out = cv_set_new(env->arena, items, cnt);
        return out->type == CV_NONE ? oom(env) : 0;
    }
    case A_RECORD: {
        size_t cnt = n->u.rec.n;
        cv_field *f = cnt ? wr_arena_alloc(env->arena, cnt * sizeof *f) : NULL;
        if (cnt && !f)
            return oom(env);
        for (size_t i = 0; i < cnt; i++) {
            f[i].key = n->u.rec.keys[i];
            if (cedar_eval(env, n->u.rec.vals[i], &f[i].v))
                return -1;
        }
        *out = cv_record_new(env->arena, f, cnt);
        return out->type == CV_NONE ? oom(env) : 0;
    }
    case A_CONTAINS:
        if (cedar_eval(env, n->u.op.a, &a) || cedar_eval(env, n->u.op.b, &b))
            return -1;
        if (a.type != CV_SET)
            return type_error(env, "set", a);
        *out = cv_bool(cv_set_contains(a.u.set, b));
        return 0;
    case A_CONTAINSALL:
    case A_CONTAINSANY: {
        if (cedar_eval(env, n->u.op.a, &a) || cedar_eval(env, n->u.op.b, &b))
            return -1;
        if (a.type != CV_SET)
            return type_error(env, "set", a);
        if (b.type != CV_SET)
            return type_error(env, "set", b);
        bool all = n->kind == A_CONTAINSALL, r = all;
        for (size_t i = 0; i < b.u.set->n; i++) {
            bool has = cv_set_contains(a.u.set, b.u.set->v[i]);
            if (all && !has) {
                r = false;
                break;
            }
            if (!all && has) {
                r = true;
                break;
            }
        }
        *out = cv_bool(r);
        return 0;
    }
    case A_ISEMPTY:
        if (eval_as(env, n->u.op.a, CV_SET, &a))
            return -1;
        *out = cv_bool(a.u.set->n == 0);
        return 0;
    case A_GETTAG:
    case A_HASTAG: {
        if (cedar_eval(env, n->u.op.a, &a) || cedar_eval(env, n->u.op.b, &b))
            return -1;
        if (a.type != CV_ENTITY)
            return type_error(env, "entity", a);
        if (b.type != CV_STRING)
            return type_error(env, "string", b);
        const cedar_entity *e = lookup(env, a.u.uid);
        const cv_value *t = e ? cv_record_find(e->tags, b.u.s) : NULL;
        if (n->kind == A_HASTAG) {
            *out = cv_bool(t != NULL);
            return 0;
        }
        if (!e)
            return fail(env, "entity `%s::\"%s\"` does not exist", a.u.uid->type->data, a.u.uid->id->data);
        if (!t)
            return fail(env, "tag `%s` does not exist", b.u.s->data);
        *out = *t;
        return 0;
    }
    case A_EXTCALL: {
        const cedar_extfn *fn = n->u.call.fn;
        size_t cnt = n->u.call.n;
        cv_value args[8];
        if (cnt != fn->nargs)
            return fail(env, "wrong number of arguments to `%s`: expected %u, got %zu", fn->name,
                        (unsigned)fn->nargs, cnt);
        for (size_t i = 0; i < cnt; i++)
            if (cedar_eval(env, n->u.call.args[i], &args[i]))
                return -1;
        const char *msg = NULL;
        if (fn->fn(env->arena, args, out, &msg))
            return fail(env, "%s: %s", fn->name, msg ? msg : "error");
        return 0;
    }
    }
    return fail(env, "internal error: unknown node");
}

static bool in_ent(const cv_uid *u, const cedar_entity *e, const cv_uid *b)
{
    return cv_uid_eq(u, b) || (e && cedar_entity_has_ancestor(e, b));
}

bool cedar_scope_holds(const ast_scope *s, const cv_uid *u, const cedar_entity *e)
{
    switch (s->op) {
    case SC_ANY:
        return true;
    case SC_EQ:
        return s->uid && cv_uid_eq(u, s->uid);
    case SC_IN:
        return s->uid && in_ent(u, e, s->uid);
    case SC_IN_SET:
        for (size_t i = 0; i < s->n; i++)
            if (in_ent(u, e, s->uids[i]))
                return true;
        return false;
    case SC_IS:
        return cv_string_eq(u->type, s->type);
    case SC_IS_IN:
        return s->uid && cv_string_eq(u->type, s->type) && in_ent(u, e, s->uid);
    }
    return false;
}

static bool scope_ok(const eval_env *env, const ast_scope *s, int var)
{
    return cedar_scope_holds(s, env->var[var].u.uid, env->ent[var]);
}

bool cedar_scope_matches(const eval_env *env, const ast_policy *pol)
{
    return scope_ok(env, &pol->principal, VAR_PRINCIPAL) && scope_ok(env, &pol->action, VAR_ACTION) &&
           scope_ok(env, &pol->resource, VAR_RESOURCE);
}

int cedar_eval_policy(eval_env *env, const ast_policy *pol, bool *satisfied)
{
    *satisfied = false;
    if (!cedar_scope_matches(env, pol))
        return 0;
    return cedar_eval_conditions(env, pol, satisfied);
}

int cedar_eval_conditions(eval_env *env, const ast_policy *pol, bool *satisfied)
{
    *satisfied = false;
    for (size_t i = 0; i < pol->ncond; i++) {
        cv_value v;
        if (eval_as(env, pol->cond[i].expr, CV_BOOL, &v))
            return -1;
        if (v.u.b != pol->cond[i].when)
            return 0;
    }
    *satisfied = true;
    return 0;
}
