/* partial.c - evaluate a policy's conditions with some context attributes
 * unknown (writ_authorize_partial).
 *
 * The question is "could some value of the unknown attributes make the
 * request allowed?", and the answer must be SOUND: never "no" when some
 * concrete value allows, never "always" when some concrete value denies.
 * So the evaluation is an abstract one: each expression evaluates to
 *
 *   - a known value (exactly what cedar_eval gives: nothing it reads
 *     depends on an unknown);
 *   - a known error (every concrete value of the unknowns fails);
 *   - an unknown, described by the set of outcomes it MAY have: true,
 *     false, an error, or some other (non-boolean) value.  The set is an
 *     over-approximation: an outcome left out is one that no concrete
 *     evaluation can produce.
 *
 * An unknown attribute itself (`context.X`, X unknown) may be absent or
 * hold any value, so reading it may give anything or fail; `context has X`
 * may be true or false but never fails.  Every operator applied to an
 * unknown operand gives an unknown: booleans for the predicates (plus an
 * error when the operator or an operand can fail), anything for the
 * operators that return values.  Operands are evaluated left to right as
 * Cedar does, so an operand that certainly fails makes the whole certainly
 * fail even after an unknown one (each concrete run fails on one or the
 * other).  When every operand is known, the operator is applied by
 * cedar_eval itself on a copy of the node whose operands are literals: one
 * implementation of Cedar's semantics, not two.
 *
 * `&&` and `||` are where care is needed.  With a known left operand they
 * short-circuit as Cedar does (false && ? is false, true || ? is true).
 * With an unknown left operand the outcomes are collected: `? && e` may be
 * what `?` is when it is not true (false, or an error when it may fail or
 * not be a boolean) and, when `?` may be true, anything `e` may be.  So
 * `context.input.a < 1 && false` is "false or an error", NOT plain false:
 * under `!` the two differ (!(...) is "true or an error").  At the top of a
 * condition an error and a failed condition both leave the policy
 * unsatisfied, which is why such a permit still counts as "cannot hold".
 * `if` on an unknown guard may take either branch (or fail); on a known
 * guard it evaluates only the branch taken.
 *
 * The whole `context` record, when some attribute is unknown, is unknown
 * wherever it is used as a value (`context == {...}`, a record literal
 * holding it, ...); only `context.X` and `context has X` look inside.
 */
#include "cedar/eval.h"
#include "cedar/partial.h"

#include <stdio.h>
#include <string.h>

/* outcome bits of an unknown */
enum { PM_T = 1, PM_F = 2, PM_E = 4, PM_O = 8, PM_ALL = 15 };

typedef enum { PV_VAL, PV_ERR, PV_UNK, PV_CTX } pv_kind;

typedef struct pval {
    pv_kind k;
    unsigned m; /* PV_UNK: the outcomes it may have */
    cv_value v; /* PV_VAL */
} pval;

typedef struct penv {
    eval_env *env;
    const char *const *unknown;
    size_t n_unknown;
} penv;

static pval val(cv_value v)
{
    pval p = {PV_VAL, 0, v};
    return p;
}

/* An outcome set; a single outcome becomes a known boolean or a known error. */
static pval unk(penv *pe, unsigned m)
{
    if (m == 0) /* no outcome at all would be a bug here: assume any */
        m = PM_ALL;
    pval p = {PV_UNK, m, {0}};
    if (m == PM_T || m == PM_F)
        return val(cv_bool(m == PM_T));
    if (m == PM_E) {
        snprintf(pe->env->err, sizeof pe->env->err, "evaluation fails whatever the unknown attributes are");
        p.k = PV_ERR;
    }
    return p;
}

static pval err(void)
{
    pval p = {PV_ERR, 0, {0}};
    return p;
}

/* A known value where a boolean is required: cedar_eval's type error. */
static pval not_bool(eval_env *env, cv_value v)
{
    snprintf(env->err, sizeof env->err, "type error: expected bool, got %s",
             v.type == CV_EXT ? cv_ext_kind_name(v.u.ext->kind) : cv_type_name(v.type));
    return err();
}

/* The outcomes p may have. */
static unsigned mask_of(pval p)
{
    switch (p.k) {
    case PV_VAL:
        return p.v.type == CV_BOOL ? (p.v.u.b ? PM_T : PM_F) : PM_O;
    case PV_ERR:
        return PM_E;
    case PV_UNK:
        return p.m;
    case PV_CTX:
        return PM_O;
    }
    return PM_ALL;
}

/* ... where a boolean is required: any other value is a type error. */
static unsigned bmask(pval p)
{
    unsigned m = mask_of(p);
    return (m & (PM_T | PM_F | PM_E)) | (m & PM_O ? PM_E : 0);
}

static int peval(penv *pe, const ast_node *n, pval *out);

/* The operands of a node that evaluates all of them (in this order) before
 * applying its operator. */
static size_t nkids(const ast_node *n)
{
    switch (n->kind) {
    case A_NEG:
    case A_ISEMPTY:
    case A_HAS:
    case A_GETATTR:
    case A_LIKE:
        return 1;
    case A_SET:
        return n->u.set.n;
    case A_RECORD:
        return n->u.rec.n;
    case A_EXTCALL:
        return n->u.call.n;
    default:
        return 2;
    }
}

static const ast_node *kid(const ast_node *n, size_t i)
{
    switch (n->kind) {
    case A_HAS:
    case A_GETATTR:
        return n->u.attr.a;
    case A_LIKE:
        return n->u.like.a;
    case A_SET:
        return n->u.set.items[i];
    case A_RECORD:
        return n->u.rec.vals[i];
    case A_EXTCALL:
        return n->u.call.args[i];
    default:
        return i ? n->u.op.b : n->u.op.a;
    }
}

/* Apply n's operator to known operand values: cedar_eval on a copy of n
 * whose operands are literals.  env->depth is n's own depth here, so the
 * depth guard sees what it would in a concrete evaluation. */
static pval apply(penv *pe, const ast_node *n, const cv_value *vals, size_t cnt)
{
    eval_env *env = pe->env;
    ast_node tmp = *n;
    ast_node *lit = wr_arena_alloc(env->arena, (cnt ? cnt : 1) * sizeof *lit);
    ast_node **ptr = wr_arena_alloc(env->arena, (cnt ? cnt : 1) * sizeof *ptr);
    if (!lit || !ptr) {
        snprintf(env->err, sizeof env->err, "out of memory");
        return err();
    }
    for (size_t i = 0; i < cnt; i++) {
        memset(&lit[i], 0, sizeof lit[i]);
        lit[i].kind = A_LIT;
        lit[i].pos = n->pos;
        lit[i].height = 1;
        lit[i].u.lit = vals[i];
        ptr[i] = &lit[i];
    }
    switch (n->kind) {
    case A_HAS:
    case A_GETATTR:
        tmp.u.attr.a = ptr[0];
        break;
    case A_LIKE:
        tmp.u.like.a = ptr[0];
        break;
    case A_SET:
        tmp.u.set.items = ptr;
        break;
    case A_RECORD:
        tmp.u.rec.vals = ptr;
        break;
    case A_EXTCALL:
        tmp.u.call.args = ptr;
        break;
    case A_IS:
        tmp.u.is.a = ptr[0];
        break;
    case A_NOT:
    case A_NEG:
    case A_ISEMPTY:
        tmp.u.op.a = ptr[0];
        break;
    default:
        tmp.u.op.a = ptr[0];
        tmp.u.op.b = ptr[1];
        break;
    }
    cv_value v;
    if (cedar_eval(env, &tmp, &v))
        return err();
    return val(v);
}

/* What an operator on unknown operands may give (errors from the operands
 * are added by the caller). */
static unsigned op_outcomes(ast_kind k)
{
    switch (k) {
    case A_EQ:
    case A_NE:
        return PM_T | PM_F;
    case A_SET:
    case A_RECORD:
        return PM_O;
    case A_NEG:
    case A_ADD:
    case A_SUB:
    case A_MUL:
        return PM_O | PM_E;
    case A_GETATTR:
    case A_GETTAG:
    case A_EXTCALL:
        return PM_ALL;
    default:
        return PM_T | PM_F | PM_E; /* predicates that can fail */
    }
}

/* A node that evaluates all its operands, then applies its operator. */
static int strict(penv *pe, const ast_node *n, pval *out)
{
    eval_env *env = pe->env;
    size_t cnt = nkids(n);
    cv_value small[4];
    cv_value *vals = cnt <= 4 ? small : wr_arena_alloc(env->arena, cnt * sizeof *vals);
    if (!vals) {
        snprintf(env->err, sizeof env->err, "out of memory");
        *out = err();
        return 0;
    }
    unsigned m = 0;
    bool known = true;
    env->depth++;
    for (size_t i = 0; i < cnt; i++) {
        pval p;
        if (peval(pe, kid(n, i), &p)) {
            env->depth--;
            return -1;
        }
        if (p.k == PV_ERR) { /* every run fails here or earlier */
            env->depth--;
            *out = p;
            return 0;
        }
        if (p.k == PV_VAL) {
            vals[i] = p.v;
        } else {
            known = false;
            m |= mask_of(p) & PM_E;
        }
    }
    env->depth--;
    *out = known ? apply(pe, n, vals, cnt) : unk(pe, op_outcomes(n->kind) | m);
    return 0;
}

/* Is e `context` or `context.a.b...`? */
static bool ctx_path_root(const ast_node *e)
{
    while (e->kind == A_GETATTR)
        e = e->u.attr.a;
    return e->kind == A_VAR && e->u.var == VAR_CONTEXT;
}

/* The dotted path of a `context.a.b...` operand ("" for `context` itself)
 * into buf; -1 when e is not such a path or the path does not fit. */
static int ctx_path(const ast_node *e, char *buf, size_t cap)
{
    const ast_node *chain[64];
    size_t k = 0;
    while (e->kind == A_GETATTR && k < 64) {
        chain[k++] = e;
        e = e->u.attr.a;
    }
    if (e->kind != A_VAR || e->u.var != VAR_CONTEXT)
        return -1;
    size_t len = 0;
    buf[0] = '\0';
    while (k--) {
        const cv_string *a = chain[k]->u.attr.attr;
        if (len + (len > 0) + a->len + 1 > cap)
            return -1;
        if (len)
            buf[len++] = '.';
        memcpy(buf + len, a->data, a->len);
        len += a->len;
        buf[len] = '\0';
    }
    return (int)len;
}

/* `context.P.X` and `context.P has X` with the context partly unknown.  An
 * unknown is a context attribute ("input") or a path into one
 * ("input.arguments": the rest of context.input is known).  Reading the
 * unknown or below it may give anything; `has` on it may be either; a
 * record with an unknown somewhere below is a known record only as far as
 * it is read further (used whole, it is some value). */
static pval context_attr(penv *pe, const ast_node *n)
{
    char full[512];
    int plen = ctx_path(n->u.attr.a, full, sizeof full);
    const cv_string *attr = n->u.attr.attr;
    bool has = n->kind == A_HAS;
    if (plen < 0 || (size_t)plen + 1 + attr->len + 1 > sizeof full)
        return unk(pe, has ? PM_T | PM_F | PM_E : PM_ALL); /* too deep to tell: anything */
    size_t len = (size_t)plen;
    if (len)
        full[len++] = '.';
    memcpy(full + len, attr->data, attr->len);
    len += attr->len;
    full[len] = '\0';
    bool below = false;
    for (size_t i = 0; i < pe->n_unknown; i++) {
        const char *u = pe->unknown[i];
        size_t ul = strlen(u);
        if (ul == len && !memcmp(u, full, len))
            return unk(pe, has ? PM_T | PM_F : PM_ALL);
        if (ul < len && !memcmp(u, full, ul) && full[ul] == '.') /* an ancestor is unknown */
            return unk(pe, has ? PM_T | PM_F | PM_E : PM_ALL);
        if (ul > len && !memcmp(u, full, len) && u[len] == '.')
            below = true;
    }
    /* known this far: the request's own value, or its absence */
    cv_value v;
    if (cedar_eval(pe->env, n, &v))
        return err();
    return below && !has ? unk(pe, PM_O) : val(v);
}

static int peval_node(penv *pe, const ast_node *n, pval *out)
{
    eval_env *env = pe->env;
    switch (n->kind) {
    case A_VAR:
        *out = n->u.var == VAR_CONTEXT ? (pval){PV_CTX, 0, {0}} : val(env->var[n->u.var]);
        return 0;
    case A_LIT:
    case A_SLOT: {
        cv_value v;
        *out = cedar_eval(env, n, &v) ? err() : val(v);
        return 0;
    }
    case A_NOT: {
        pval a;
        env->depth++;
        int r = peval(pe, n->u.op.a, &a);
        env->depth--;
        if (r)
            return -1;
        if (a.k == PV_VAL || a.k == PV_ERR) {
            *out = a.k == PV_ERR ? a : apply(pe, n, &a.v, 1);
            return 0;
        }
        unsigned m = bmask(a);
        *out = unk(pe, (m & PM_E) | (m & PM_T ? PM_F : 0) | (m & PM_F ? PM_T : 0));
        return 0;
    }
    case A_AND:
    case A_OR: {
        /* the outcomes collected so far, and whether a run may go on to
         * the next operand (it does while no operand equals `stop`) */
        unsigned stop = n->kind == A_OR ? PM_T : PM_F, go = n->kind == A_OR ? PM_F : PM_T, acc = 0;
        bool cont = true;
        env->depth++;
        for (size_t i = 0; i < n->u.list.n && cont; i++) {
            pval a;
            if (peval(pe, n->u.list.items[i], &a)) {
                env->depth--;
                return -1;
            }
            if (acc == 0 && (a.k == PV_ERR || (a.k == PV_VAL && a.v.type != CV_BOOL))) {
                /* every run gets here and fails */
                env->depth--;
                *out = a.k == PV_ERR ? a : not_bool(env, a.v);
                return 0;
            }
            unsigned m = bmask(a);
            acc |= m & (PM_E | stop);
            cont = (m & go) != 0;
        }
        env->depth--;
        if (cont)
            acc |= go;
        *out = unk(pe, acc);
        return 0;
    }
    case A_IF: {
        pval g, b;
        env->depth++;
        if (peval(pe, n->u.op.a, &g)) {
            env->depth--;
            return -1;
        }
        unsigned m = bmask(g), acc = m & PM_E;
        int r = 0;
        if (g.k == PV_ERR) {
            *out = g;
        } else if (g.k == PV_VAL && g.v.type != CV_BOOL) {
            *out = not_bool(env, g.v);
        } else if (m == PM_T || m == PM_F) { /* a known guard: the branch taken, as is */
            r = peval(pe, m == PM_T ? n->u.op.b : n->u.op.c, out);
        } else {
            if (!r && (m & PM_T) && !(r = peval(pe, n->u.op.b, &b)))
                acc |= mask_of(b);
            if (!r && (m & PM_F) && !(r = peval(pe, n->u.op.c, &b)))
                acc |= mask_of(b);
            if (!r)
                *out = unk(pe, acc);
        }
        env->depth--;
        return r;
    }
    case A_IS: {
        pval a, b;
        env->depth++;
        if (peval(pe, n->u.is.a, &a)) {
            env->depth--;
            return -1;
        }
        int r = 0;
        if (a.k == PV_ERR) {
            *out = a;
        } else if (a.k != PV_VAL) {
            *out = unk(pe, PM_T | PM_F | PM_E);
        } else if (a.v.type != CV_ENTITY || !cv_string_eq(a.v.u.uid->type, n->u.is.type) || !n->u.is.in) {
            ast_node tmp = *n;
            tmp.u.is.in = NULL; /* not evaluated on these paths */
            env->depth--;
            *out = apply(pe, &tmp, &a.v, 1);
            return 0;
        } else if (!(r = peval(pe, n->u.is.in, &b))) {
            if (b.k == PV_ERR) {
                *out = b;
            } else if (b.k != PV_VAL) {
                *out = unk(pe, PM_T | PM_F | PM_E);
            } else {
                ast_node lit = {0};
                lit.kind = A_LIT;
                lit.height = 1;
                lit.u.lit = b.v;
                ast_node tmp = *n;
                tmp.u.is.in = &lit;
                env->depth--;
                *out = apply(pe, &tmp, &a.v, 1);
                return 0;
            }
        }
        env->depth--;
        return r;
    }
    case A_HAS:
    case A_GETATTR:
        if (pe->n_unknown && ctx_path_root(n->u.attr.a)) {
            /* cedar_eval's check of the operand's level, kept */
            if (env->depth + 1 >= CEDAR_MAX_DEPTH) {
                snprintf(env->err, sizeof env->err, "expression nested too deeply to evaluate (limit %d)",
                         CEDAR_MAX_DEPTH);
                *out = err();
                return 0;
            }
            *out = context_attr(pe, n);
            return 0;
        }
        return strict(pe, n, out);
    case A_EXTCALL:
        if (n->u.call.n != n->u.call.fn->nargs) { /* fails before its arguments */
            cv_value v;
            *out = cedar_eval(env, n, &v) ? err() : val(v);
            return 0;
        }
        return strict(pe, n, out);
    default:
        return strict(pe, n, out);
    }
}

/* Every level comes through here, as in cedar_eval.  Returns -1 only when
 * the walk itself cannot go on (never, today: failures are outcomes). */
static int peval(penv *pe, const ast_node *n, pval *out)
{
    if (pe->env->depth >= CEDAR_MAX_DEPTH) {
        snprintf(pe->env->err, sizeof pe->env->err, "expression nested too deeply to evaluate (limit %d)",
                 CEDAR_MAX_DEPTH);
        *out = err();
        return 0;
    }
    int r = peval_node(pe, n, out);
    /* the whole context, partly unknown, used as a value */
    if (!r && out->k == PV_CTX && pe->n_unknown == 0)
        *out = val(pe->env->var[VAR_CONTEXT]);
    else if (!r && out->k == PV_CTX && n->kind != A_VAR)
        *out = unk(pe, PM_O);
    return r;
}

/* The conditions of a policy whose scope matches: CEDAR_P_* bits of the
 * outcomes it may have (see partial.h). */
unsigned cedar_peval_conditions(eval_env *env, const ast_policy *pol, const char *const *unknown,
                                size_t n_unknown)
{
    penv pe = {env, unknown, n_unknown};
    unsigned acc = 0;
    env->err[0] = '\0';
    for (size_t i = 0; i < pol->ncond; i++) {
        pval p;
        if (peval(&pe, pol->cond[i].expr, &p) || p.k == PV_ERR) {
            acc |= CEDAR_P_ERROR;
            return acc;
        }
        unsigned m = bmask(p), pass = pol->cond[i].when ? PM_T : PM_F, fail = pass ^ (PM_T | PM_F);
        if (m == PM_E && p.k == PV_UNK) /* not a boolean, whatever it is */
            (void)unk(&pe, PM_E);
        if (m & PM_E) {
            acc |= CEDAR_P_ERROR;
            if (p.k == PV_VAL) /* a known non-boolean condition */
                (void)not_bool(env, p.v);
        }
        if (m & fail)
            acc |= CEDAR_P_UNSAT;
        if (!(m & pass))
            return acc;
    }
    return acc | CEDAR_P_SAT;
}
