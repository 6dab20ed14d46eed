/* explain.c - why a request was denied (writ_explain; see cedar.h).
 *
 * The decision itself is writ_authorize's, made first and left untouched
 * in the authorizer's arena; the explanation is a second pass over the
 * same candidates (the policies whose scope matched), so the default path
 * never carries any of this.
 *
 * Which part of a permit to name.  A permit fails at its first clause that
 * does not hold (clauses are evaluated in order, like `&&`).  The whole
 * clause is often long (`a && b && c && d`), and what a reader needs is the
 * one test that stopped it, so the clause is narrowed while a single
 * operand explains the outcome:
 *   - `when {a && b && c}` false: the first operand that was false (the
 *     evaluator stopped there; the ones before held);
 *   - `unless {a || b}` true: the first operand that was true;
 *   - `!e`: e with the opposite expectation (`when {!(a || b)}` false
 *     narrows to the first of a, b that was true);
 *   - a parenthesised `&&` / `||` operand: narrowed in turn;
 *   - an error: the first operand whose evaluation failed, narrowed in
 *     turn, with the innermost error message.
 * Anything else (`||` in a `when`, `if`, a comparison) is named whole: no
 * single operand explains it.  Texts are quoted from the policy source
 * with the offsets the parser recorded (ast.h: ast_cond, list.span).
 *
 * A forbid that held is named with each of its clauses: every one of them
 * held, and together with the scope they are why it denied. */
#include "cedar/explain.h"
#include "cedar/policyset.h"
#include "util/alloc.h"

#include <stdio.h>
#include <string.h>

typedef struct span {
    uint32_t lo, hi;
} span;

static int quote(eval_env *env, const writ_policyset *ps, bool when, span s, writ_explain_part *out)
{
    const char *src = ps->src ? ps->src : "";
    size_t len = ps->src ? ps->srclen : 0;
    if (s.hi > len || s.lo > s.hi)
        s.lo = s.hi = 0;
    out->when = when;
    out->text = wr_arena_strndup(env->arena, src + s.lo, s.hi - s.lo);
    /* the last line starting at or before s.lo (line_start[0] is 0) */
    size_t lo = 0, hi = ps->nlines;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (ps->line_start[mid] <= s.lo)
            lo = mid;
        else
            hi = mid;
    }
    out->line = (uint32_t)lo + 1;
    out->column = s.lo - (ps->nlines ? ps->line_start[lo] : 0) + 1;
    return out->text ? 0 : -1;
}

/* n, the source bytes s, did not evaluate to want (it was !want, or it
 * failed: failed set).  Narrow to the operand that explains it (see the
 * top of the file); *err is the innermost failure's message. */
static span narrow(eval_env *env, const ast_node *n, span s, bool want, bool failed, const char **err)
{
    for (;;) {
        if (n->kind == A_NOT) {
            n = n->u.op.a;
            want = !want;
            continue;
        }
        if ((n->kind != A_AND && n->kind != A_OR) || !n->u.list.span)
            return s;
        /* the value that stops the chain; narrowing a value (not an
         * error) only helps when stopping is what made it !want */
        bool stop = n->kind == A_OR;
        if (!failed && stop == want)
            return s;
        const ast_node *next = NULL;
        for (size_t i = 0; i < n->u.list.n && !next; i++) {
            bool v;
            span is = {n->u.list.span[2 * i], n->u.list.span[2 * i + 1]};
            if (cedar_eval_bool(env, n->u.list.items[i], &v)) {
                *err = wr_arena_strndup(env->arena, env->err, strlen(env->err));
                next = n->u.list.items[i];
                s = is;
            } else if (v == stop && !failed) {
                next = n->u.list.items[i];
                s = is;
            }
        }
        if (!next)
            return s;
        n = next;
    }
}

static int explain_permit(eval_env *env, const writ_policyset *ps, const ast_policy *p,
                          writ_explain_policy *out)
{
    memset(out, 0, sizeof *out);
    out->policy_id = p->id;
    for (size_t i = 0; i < p->ncond; i++) {
        const ast_cond *c = &p->cond[i];
        bool v;
        bool failed = cedar_eval_bool(env, c->expr, &v) != 0;
        if (!failed && v == c->when)
            continue;
        const char *err = NULL;
        if (failed && !(err = wr_arena_strndup(env->arena, env->err, strlen(env->err))))
            return -1;
        span s = narrow(env, c->expr, (span){c->start, c->end}, c->when, failed, &err);
        writ_explain_part *part = wr_arena_alloc(env->arena, sizeof *part);
        if (!part || quote(env, ps, c->when, s, part))
            return -1;
        out->nparts = 1;
        out->parts = part;
        out->error = failed ? err : NULL;
        return 0;
    }
    out->held = true;
    return 0;
}

static int explain_forbid(eval_env *env, const writ_policyset *ps, const ast_policy *p,
                          writ_explain_policy *out)
{
    memset(out, 0, sizeof *out);
    out->policy_id = p->id;
    out->held = true;
    writ_explain_part *parts = wr_arena_alloc(env->arena, (p->ncond ? p->ncond : 1) * sizeof *parts);
    if (!parts)
        return -1;
    for (size_t i = 0; i < p->ncond; i++)
        if (quote(env, ps, p->cond[i].when, (span){p->cond[i].start, p->cond[i].end}, &parts[i]))
            return -1;
    out->nparts = p->ncond;
    out->parts = parts;
    return 0;
}

static void sort_u32(uint32_t *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint32_t v = a[i];
        size_t j = i;
        for (; j > 0 && a[j - 1] > v; j--)
            a[j] = a[j - 1];
        a[j] = v;
    }
}

static bool is_reason(const writ_decision *d, const char *id)
{
    for (size_t i = 0; i < d->nreasons; i++)
        if (d->reasons[i] == id)
            return true;
    return false;
}

writ_status writ_explain(writ_authorizer *az, const writ_policyset *ps, const writ_entities *es,
                         const writ_request *rq, writ_decision *d, writ_explanation *x)
{
    if (x)
        memset(x, 0, sizeof *x);
    if (!d || !x) {
        if (d)
            memset(d, 0, sizeof *d);
        return WRIT_EINVAL;
    }
    writ_status st = writ_authorize(az, ps, es, rq, d);
    if (st || d->allow)
        return st;
    eval_env env;
    const uint32_t *cand;
    size_t nc;
    if (cedar_candidates_again(az, ps, es, rq, &env, &cand, &nc))
        goto oom;
    uint32_t *order = wr_arena_alloc(env.arena, (nc ? nc : 1) * sizeof *order);
    writ_explain_policy *permits = wr_arena_alloc(env.arena, (nc ? nc : 1) * sizeof *permits);
    writ_explain_policy *forbids = wr_arena_alloc(env.arena, (nc ? nc : 1) * sizeof *forbids);
    if (!order || !permits || !forbids)
        goto oom;
    memcpy(order, cand, nc * sizeof *order);
    sort_u32(order, nc);
    size_t np = 0, nf = 0;
    for (size_t i = 0; i < nc; i++) {
        const ast_policy *p = ps->pol[order[i]];
        if (p->permit) {
            if (explain_permit(&env, ps, p, &permits[np++]))
                goto oom;
        } else if (is_reason(d, p->id)) {
            /* the decision's reasons are exactly the forbids that held
             * (a deny with a forbid among its candidates that held) */
            if (explain_forbid(&env, ps, p, &forbids[nf++]))
                goto oom;
        }
    }
    x->npermits = np;
    x->permits = permits;
    x->nforbids = nf;
    x->forbids = forbids;
    return WRIT_OK;
oom:
    memset(d, 0, sizeof *d);
    memset(x, 0, sizeof *x);
    return WRIT_ENOMEM;
}

static void json_part(sbuf *b, const writ_explain_part *p)
{
    sb_puts(b, p->when ? "{\"clause\":\"when\",\"text\":" : "{\"clause\":\"unless\",\"text\":");
    sb_json_str(b, p->text);
    sb_printf(b, ",\"line\":%u,\"column\":%u}", (unsigned)p->line, (unsigned)p->column);
}

void cedar_explain_json(sbuf *b, const writ_explanation *x)
{
    sb_puts(b, "\"permits\":[");
    for (size_t i = 0; i < x->npermits; i++) {
        const writ_explain_policy *p = &x->permits[i];
        sb_puts(b, i ? ",{\"policy\":" : "{\"policy\":");
        sb_json_str(b, p->policy_id);
        sb_puts(b, p->held ? ",\"held\":true" : ",\"held\":false");
        if (p->nparts) {
            sb_puts(b, ",\"condition\":");
            json_part(b, &p->parts[0]);
        }
        if (p->error) {
            sb_puts(b, ",\"error\":");
            sb_json_str(b, p->error);
        }
        sb_putc(b, '}');
    }
    sb_puts(b, "],\"forbids\":[");
    for (size_t i = 0; i < x->nforbids; i++) {
        const writ_explain_policy *p = &x->forbids[i];
        sb_puts(b, i ? ",{\"policy\":" : "{\"policy\":");
        sb_json_str(b, p->policy_id);
        sb_puts(b, ",\"conditions\":[");
        for (size_t k = 0; k < p->nparts; k++) {
            if (k)
                sb_putc(b, ',');
            json_part(b, &p->parts[k]);
        }
        sb_puts(b, "]}");
    }
    sb_putc(b, ']');
}

char *writ_explanation_json(const writ_explanation *x)
{
    if (!x)
        return NULL;
    sbuf b;
    sb_init(&b);
    sb_putc(&b, '{');
    cedar_explain_json(&b, x);
    sb_putc(&b, '}');
    if (!sb_ok(&b)) {
        sb_free(&b);
        return NULL;
    }
    return sb_take(&b, NULL);
}
