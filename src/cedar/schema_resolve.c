/* schema_resolve.c - pass 2 of the schema reader: the raw tree into the
 * model (schema.h).  It collects every declared name, checks duplicates
 * and shadowing, resolves each type name by Cedar's rules, inlines common
 * types (detecting cycles), checks action groups (no cycles, all declared)
 * and writes the sorted arrays. */
#include "cedar/schema_int.h"
#include "cedar/srctext.h"
#include "util/alloc.h"
#include "util/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- resolver */

typedef struct cdef { /* a common type */
    const cv_string *name;
    const cv_string *ns;
    size_t off;
    rtype *def;
    int state; /* 0 new, 1 resolving, 2 done */
    const cs_type *t;
} cdef;

typedef struct edef {
    const cv_string *name;
    const cv_string *ns;
    size_t off;
    rdecl *d;
} edef;

typedef struct adef {
    const cv_uid *uid;
    const cv_string *ns;
    size_t off;
    rdecl *d;
    int color;
    size_t idx;
} adef;

typedef struct R {
    P *p;
    unsigned chain; /* common types being resolved, one inside another */
    size_t nc, ne, na;
    cdef *c;
    edef *e;
    adef *ac;
} R;

static const cv_string *qualify(P *p, const cv_string *ns, const char *name, size_t n)
{
    if (!ns->len)
        return cedar_schema_str(p, name, n);
    size_t tot = ns->len + 2 + n;
    char *buf = cedar_schema_alloc(p, tot + 1);
    memcpy(buf, ns->data, ns->len);
    memcpy(buf + ns->len, "::", 2);
    memcpy(buf + ns->len + 2, name, n);
    return cedar_schema_str(p, buf, tot);
}

static int cdef_cmp(const void *a, const void *b)
{
    return cv_string_cmp(((const cdef *)a)->name, ((const cdef *)b)->name);
}
static int edef_cmp(const void *a, const void *b)
{
    return cv_string_cmp(((const edef *)a)->name, ((const edef *)b)->name);
}
static int adef_cmp(const void *a, const void *b)
{
    const adef *x = a, *y = b;
    int c = cv_string_cmp(x->uid->type, y->uid->type);
    return c ? c : cv_string_cmp(x->uid->id, y->uid->id);
}

static cdef *find_common(R *r, const cv_string *name)
{
    cdef key = {.name = name};
    return r->nc ? bsearch(&key, r->c, r->nc, sizeof *r->c, cdef_cmp) : NULL;
}

static edef *find_entity(R *r, const cv_string *name)
{
    edef key = {.name = name};
    return r->ne ? bsearch(&key, r->e, r->ne, sizeof *r->e, edef_cmp) : NULL;
}

static adef *find_action(R *r, const cv_uid *uid)
{
    adef key = {.uid = uid};
    return r->na ? bsearch(&key, r->ac, r->na, sizeof *r->ac, adef_cmp) : NULL;
}

static const cs_type *builtin(P *p, const char *name, size_t n)
{
    static const struct {
        const char *name;
        cs_kind kind;
        cv_ext_kind ext;
    } tab[] = {
        {"Bool", CS_BOOL, 0},
        {"Long", CS_LONG, 0},
        {"String", CS_STRING, 0},
        {"ipaddr", CS_EXT, CVX_IPADDR},
        {"decimal", CS_EXT, CVX_DECIMAL},
        {"datetime", CS_EXT, CVX_DATETIME},
        {"duration", CS_EXT, CVX_DURATION},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strlen(tab[i].name) == n && !memcmp(tab[i].name, name, n)) {
            cs_type *t = cedar_schema_alloc(p, sizeof *t);
            t->kind = tab[i].kind;
            t->ext = tab[i].ext;
            return t;
        }
    return NULL;
}

static const cs_type *resolve_type(R *r, const rtype *rt, const cv_string *ns);

static const cs_type *resolve_common(R *r, cdef *c)
{
    if (c->state == 2)
        return c->t;
    if (c->state == 1)
        cedar_schema_fail(r->p, WRIT_ESCHEMA, c->off, "cycle in common type references containing `%s`",
                          c->name->data);
    if (r->chain >= CEDAR_SCHEMA_MAX_CHAIN)
        cedar_schema_fail(r->p, WRIT_ELIMIT, c->off, "common types naming one another deeper than %u, at `%s`",
                          CEDAR_SCHEMA_MAX_CHAIN, c->name->data);
    c->state = 1;
    r->chain++;
    c->t = resolve_type(r, c->def, c->ns);
    r->chain--;
    c->state = 2;
    return c->t;
}

static int attr_cmp(const void *a, const void *b)
{
    return cv_string_cmp(((const cs_attr *)a)->name, ((const cs_attr *)b)->name);
}

static const cs_type *resolve_type(R *r, const rtype *rt, const cv_string *ns)
{
    P *p = r->p;
    cs_type *t;
    switch (rt->kind) {
    case RT_SET:
        t = cedar_schema_alloc(p, sizeof *t);
        t->kind = CS_SET;
        t->elem = resolve_type(r, rt->elem, ns);
        return t;
    case RT_REC: {
        if (rt->nattrs > CEDAR_SCHEMA_MAX_MEMBERS) /* each is compared with all after it */
            cedar_schema_fail(p, WRIT_ELIMIT, rt->off, "a record type with more than %u attributes",
                              CEDAR_SCHEMA_MAX_MEMBERS);
        t = cedar_schema_alloc(p, sizeof *t);
        t->kind = CS_RECORD;
        cs_attr *at = cedar_schema_alloc(p, (rt->nattrs ? rt->nattrs : 1) * sizeof *at);
        size_t o = 0;
        for (size_t i = 0; i < rt->nattrs; i++) {
            /* a repeated attribute: the last declaration wins (as the reference) */
            bool later = false;
            for (size_t k = i + 1; k < rt->nattrs && !later; k++)
                later = cv_string_eq(rt->attrs[i].name, rt->attrs[k].name);
            if (later)
                continue;
            at[o].name = rt->attrs[i].name;
            at[o].required = rt->attrs[i].required;
            at[o].type = resolve_type(r, rt->attrs[i].type, ns);
            o++;
        }
        if (o)
            qsort(at, o, sizeof *at, attr_cmp);
        t->nattrs = o;
        t->attrs = at;
        return t;
    }
    default:
        break;
    }
    const cv_string *name = rt->name;
    if (name->len > 9 && !memcmp(name->data, "__cedar::", 9)) {
        const cs_type *b = builtin(p, name->data + 9, name->len - 9);
        if (!b)
            cedar_schema_fail(p, WRIT_ESCHEMA, rt->off, "failed to resolve type: %s", name->data);
        return b;
    }
    const cv_string *cand[2];
    size_t nc = 0;
    if (!rt->qualified && ns->len)
        cand[nc++] = qualify(p, ns, name->data, name->len);
    cand[nc++] = name;
    for (size_t i = 0; i < nc; i++) {
        cdef *c = find_common(r, cand[i]);
        if (c)
            return resolve_common(r, c);
        edef *e = find_entity(r, cand[i]);
        if (e) {
            t = cedar_schema_alloc(p, sizeof *t);
            t->kind = CS_ENTITY;
            t->name = e->name;
            return t;
        }
    }
    if (!rt->qualified) {
        const cs_type *b = builtin(p, name->data, name->len);
        if (b)
            return b;
    }
    cedar_schema_fail(p, WRIT_ESCHEMA, rt->off, "failed to resolve type: %s", name->data);
}

static const cv_string *resolve_entity_name(R *r, const rpath *rp, const cv_string *ns)
{
    const cv_string *cand[2];
    size_t nc = 0;
    if (!rp->qualified && ns->len)
        cand[nc++] = qualify(r->p, ns, rp->name->data, rp->name->len);
    cand[nc++] = rp->name;
    for (size_t i = 0; i < nc; i++) {
        edef *e = find_entity(r, cand[i]);
        if (e)
            return e->name;
    }
    cedar_schema_fail(r->p, WRIT_ESCHEMA, rp->off, "failed to resolve type: %s", rp->name->data);
}

static const cv_uid *resolve_action_ref(R *r, const rref *rf, const cv_string *ns)
{
    P *p = r->p;
    const cv_string *cand[2];
    size_t nc = 0;
    const char *tn = rf->type ? rf->type->data : "Action";
    size_t tl = rf->type ? rf->type->len : 6;
    if (!rf->qualified && ns->len)
        cand[nc++] = qualify(p, ns, tn, tl);
    cand[nc++] = cedar_schema_str(p, tn, tl);
    for (size_t i = 0; i < nc; i++) {
        const cv_uid *u = cv_uid_new(p->a, cand[i], rf->id);
        if (!u)
            cedar_schema_fail(p, WRIT_ENOMEM, (size_t)-1, "out of memory");
        adef *a = find_action(r, u);
        if (a)
            return a->uid;
    }
    cedar_schema_fail(p, WRIT_ESCHEMA, rf->off, "undeclared action: %s::\"%s\"", cand[nc - 1]->data,
                      rf->id->data);
}

/* Depth-first search for a cycle in the action hierarchy. */
static void action_dfs(R *r, adef *a, const cs_action *acts, unsigned depth)
{
    if (depth >= CEDAR_SCHEMA_MAX_CHAIN) {
        char b[200];
        cv_format(cv_entity(a->uid), b, sizeof b);
        cedar_schema_fail(r->p, WRIT_ELIMIT, a->off, "action hierarchy deeper than %u, at `%s`",
                          CEDAR_SCHEMA_MAX_CHAIN, b);
    }
    a->color = 1;
    const cs_action *ca = &acts[a->idx];
    for (size_t i = 0; i < ca->nparents; i++) {
        adef *pa = find_action(r, ca->parents[i]);
        if (pa->color == 1) {
            char b[200];
            cv_format(cv_entity(pa->uid), b, sizeof b);
            cedar_schema_fail(r->p, WRIT_ESCHEMA, pa->off, "cycle in action hierarchy containing `%s`", b);
        }
        if (pa->color == 0)
            action_dfs(r, pa, acts, depth + 1);
    }
    a->color = 2;
}

static void collect(R *r, writ_schema *s)
{
    P *p = r->p;
    size_t cc = 0, ec = 0, ac = 0;
    const cv_string *action_s = cedar_schema_str(p, "Action", 6);
    for (size_t i = 0; i < p->nns; i++) {
        rns *n = p->ns[i];
        for (size_t k = 0; k < n->ndecls; k++) {
            rdecl *d = n->decls[k];
            for (size_t m = 0; m < d->nnames; m++) {
                if (d->kind == D_TYPE) {
                    r->c = cedar_schema_grow(p, r->c, r->nc, &cc, sizeof *r->c);
                    r->c[r->nc++] = (cdef){qualify(p, n->name, d->names[m]->data, d->names[m]->len),
                                           n->name,
                                           d->name_off[m],
                                           d->def,
                                           0,
                                           NULL};
                } else if (d->kind == D_ENTITY) {
                    r->e = cedar_schema_grow(p, r->e, r->ne, &ec, sizeof *r->e);
                    r->e[r->ne++] = (edef){qualify(p, n->name, d->names[m]->data, d->names[m]->len), n->name,
                                           d->name_off[m], d};
                } else {
                    r->ac = cedar_schema_grow(p, r->ac, r->na, &ac, sizeof *r->ac);
                    const cv_uid *u = cv_uid_new(p->a, qualify(p, n->name, action_s->data, 6), d->names[m]);
                    if (!u)
                        cedar_schema_fail(p, WRIT_ENOMEM, (size_t)-1, "out of memory");
                    r->ac[r->na++] = (adef){u, n->name, d->name_off[m], d, 0, 0};
                }
            }
        }
    }
    if (r->nc)
        qsort(r->c, r->nc, sizeof *r->c, cdef_cmp);
    if (r->ne)
        qsort(r->e, r->ne, sizeof *r->e, edef_cmp);
    if (r->na)
        qsort(r->ac, r->na, sizeof *r->ac, adef_cmp);
    /* duplicates (report the later declaration) */
    for (size_t i = 1; i < r->nc; i++)
        if (cv_string_eq(r->c[i].name, r->c[i - 1].name))
            cedar_schema_fail(p, WRIT_ESCHEMA, r->c[i].off > r->c[i - 1].off ? r->c[i].off : r->c[i - 1].off,
                              "`%s` is declared twice", r->c[i].name->data);
    for (size_t i = 1; i < r->ne; i++)
        if (cv_string_eq(r->e[i].name, r->e[i - 1].name))
            cedar_schema_fail(p, WRIT_ESCHEMA, r->e[i].off > r->e[i - 1].off ? r->e[i].off : r->e[i - 1].off,
                              "`%s` is declared twice", r->e[i].name->data);
    for (size_t i = 1; i < r->na; i++)
        if (cv_uid_eq(r->ac[i].uid, r->ac[i - 1].uid))
            cedar_schema_fail(p, WRIT_ESCHEMA,
                              r->ac[i].off > r->ac[i - 1].off ? r->ac[i].off : r->ac[i - 1].off,
                              "`%s` is declared twice", r->ac[i].uid->id->data);
    /* a namespaced name may not shadow a name of the empty namespace */
    for (size_t i = 0; i < r->nc + r->ne; i++) {
        const cv_string *name = i < r->nc ? r->c[i].name : r->e[i - r->nc].name;
        const cv_string *ns = i < r->nc ? r->c[i].ns : r->e[i - r->nc].ns;
        size_t off = i < r->nc ? r->c[i].off : r->e[i - r->nc].off;
        if (!ns->len)
            continue;
        const cv_string *base = cedar_schema_str(p, name->data + ns->len + 2, name->len - ns->len - 2);
        if (find_common(r, base) || find_entity(r, base))
            cedar_schema_fail(p, WRIT_ESCHEMA, off,
                              "definition of `%s` illegally shadows the existing definition of `%s`",
                              name->data, base->data);
    }
    for (size_t i = 0; i < r->na; i++) {
        if (!r->ac[i].ns->len)
            continue;
        const cv_uid *u = cv_uid_new(p->a, action_s, r->ac[i].uid->id);
        if (!u)
            cedar_schema_fail(p, WRIT_ENOMEM, (size_t)-1, "out of memory");
        if (find_action(r, u))
            cedar_schema_fail(
                p, WRIT_ESCHEMA, r->ac[i].off,
                "definition of `%s::\"%s\"` illegally shadows the existing definition of `Action::\"%s\"`",
                r->ac[i].uid->type->data, u->id->data, u->id->data);
    }
    (void)s;
}

static const cs_type *empty_record(P *p)
{
    cs_type *t = cedar_schema_alloc(p, sizeof *t);
    t->kind = CS_RECORD;
    return t;
}

static void resolve(R *r, writ_schema *s)
{
    P *p = r->p;
    collect(r, s);
    for (size_t i = 0; i < r->nc; i++)
        resolve_common(r, &r->c[i]);
    s->nentity_types = r->ne;
    s->entity_types = cedar_schema_alloc(p, (r->ne ? r->ne : 1) * sizeof *s->entity_types);
    for (size_t i = 0; i < r->ne; i++) {
        edef *e = &r->e[i];
        rdecl *d = e->d;
        cs_entity_type *et = &s->entity_types[i];
        et->name = e->name;
        et->shape = d->shape ? resolve_type(r, d->shape, e->ns) : empty_record(p);
        et->tags = d->tags ? resolve_type(r, d->tags, e->ns) : NULL;
        et->nparents = d->nin;
        et->parents = cedar_schema_alloc(p, (d->nin ? d->nin : 1) * sizeof *et->parents);
        for (size_t k = 0; k < d->nin; k++)
            et->parents[k] = resolve_entity_name(r, &d->in[k], e->ns);
        et->is_enum = d->is_enum;
        et->nenum = d->nenum;
        et->enum_ids = d->enum_ids;
    }
    s->nactions = r->na;
    s->actions = cedar_schema_alloc(p, (r->na ? r->na : 1) * sizeof *s->actions);
    for (size_t i = 0; i < r->na; i++) {
        adef *a = &r->ac[i];
        rdecl *d = a->d;
        cs_action *ca = &s->actions[i];
        a->idx = i;
        ca->uid = a->uid;
        ca->nparents = d->nrefs;
        ca->parents = cedar_schema_alloc(p, (d->nrefs ? d->nrefs : 1) * sizeof *ca->parents);
        for (size_t k = 0; k < d->nrefs; k++)
            ca->parents[k] = resolve_action_ref(r, &d->refs[k], a->ns);
        ca->has_applies = d->has_applies;
        ca->nprincipals = d->nprinc;
        ca->principals = cedar_schema_alloc(p, (d->nprinc ? d->nprinc : 1) * sizeof *ca->principals);
        for (size_t k = 0; k < d->nprinc; k++)
            ca->principals[k] = resolve_entity_name(r, &d->princ[k], a->ns);
        ca->nresources = d->nres;
        ca->resources = cedar_schema_alloc(p, (d->nres ? d->nres : 1) * sizeof *ca->resources);
        for (size_t k = 0; k < d->nres; k++)
            ca->resources[k] = resolve_entity_name(r, &d->res[k], a->ns);
        if (d->ctx) {
            ca->context = resolve_type(r, d->ctx, a->ns);
            if (ca->context->kind != CS_RECORD) {
                char b[200];
                cv_format(cv_entity(a->uid), b, sizeof b);
                cedar_schema_fail(p, WRIT_ESCHEMA, d->ctx->off,
                                  "context for action %s is declared with a type other than `Record`", b);
            }
        } else {
            ca->context = empty_record(p);
        }
    }
    for (size_t i = 0; i < r->na; i++)
        if (r->ac[i].color == 0)
            action_dfs(r, &r->ac[i], s->actions, 0);
}

void cedar_schema_resolve(P *p, writ_schema *s)
{
    R r = {0};
    r.p = p;
    resolve(&r, s);
}
