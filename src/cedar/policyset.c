/* policyset.c - parsing, template linking and the scope index.
 *
 * Why an index: an agent deployment has thousands of policies, and almost
 * all of them name a particular principal, group, action or resource in
 * their scope.  Evaluating every one for every request would make a
 * decision cost grow with the policy count.  The index has three parts,
 * rebuilt whole whenever the set changes (parse, link).
 *
 * Keys.  Every uid that some scope names (principal `== X`, `in X`,
 * `is T in X`; resource likewise; action `== X`, `in X`, `in [X, Y]`) is a
 * key in its dimension's hash table (pidx) and has a key id, dense over the
 * three dimensions.  Every type that an `is` names has a type id.
 *
 * Filing.  Each policy is filed under one of its keys: the one that the
 * fewest policies of the set could be filed under (pidx_slot.nopt), so that
 * a crowded key such as a common action does not collect policies that a
 * rarer key (an agent, a project) would single out.  `action in [A, B]`
 * counts as the sum of its keys and, if chosen, is filed under each.
 * Policies with no key (`principal, action, resource is T`) go on an
 * "always" list.
 *
 * Compact scopes.  Each policy's scope is also kept in key and type ids
 * (pscope, an array beside the AST), so that checking it compares a few
 * integers instead of walking uids and their strings; and each entry of a
 * key's list carries a digest of the scope (pentry): per dimension, one bit
 * per key it names, or for `is T` the type's bit, or all bits when the
 * dimension is unconstrained.
 *
 * A request (authorize.c) first looks up its principal and each of the
 * principal's ancestors (precomputed by the entity store) among the
 * principal keys, marks every key found (an epoch stamp per key id in the
 * authorizer), remembers the principal's own key id and ORs the keys' bits
 * into its own digest; likewise resource and action; and it looks up the
 * principal's and resource's types (adding their bits to the digest).  Then `in X` holds exactly when X's key
 * is marked, `== X` when X's key is the request's own, `is T` when T's type
 * id is the request's: a pscope decides a policy's scope exactly as the
 * evaluator would on the AST.  The candidates are the policies filed under
 * a marked key, plus the always list, whose digest meets the request's in
 * every dimension (a few ANDs, in the list itself) and whose pscope then
 * matches; only those have their conditions evaluated.  Nothing is missed:
 * when a policy's scope matches, in each dimension it is unconstrained, or
 * names a marked key, or the request's type (so its digest meets the
 * request's), and it is filed under a marked key (`in [A, B]` is filed
 * under each, and one of them is marked).
 *
 * What that costs: a hash probe per ancestor, a few ANDs per policy filed
 * under a marked key, and an exact check for the few that pass the digest
 * (a dozen integer compares without branches), whatever the size of the
 * set.  Most policies filed under a marked key do not match (one of the
 * agent's groups has policies for other actions and resources); the digest
 * rejects most of those, its action part alone 70 % of them on the agents
 * workload.  A key's bit is its insertion order mod 31, so a dimension of up
 * to 31 keys (the actions, usually) has a bit per key: there the digest is
 * exact and also settles `action in [A, B]`, which otherwise needs a loop.
 */
#include "cedar/policyset.h"
#include "cedar/parser.h"
#include "util/alloc.h"
#include "util/error.h"

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
        size_t j = o->hash & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = *o;
    }
    wr_free(ix->slot);
    ix->slot = ns;
    ix->cap = ncap;
    return 0;
}

const pidx_slot *cedar_pidx_find(const pidx *ix, const cv_uid *key)
{
    if (!ix->cap)
        return NULL;
    uint64_t h = key->hash;
    size_t j = h & (ix->cap - 1);
    while (ix->slot[j].key) {
        if (ix->slot[j].hash == h && cv_uid_eq(ix->slot[j].key, key))
            return &ix->slot[j];
        j = (j + 1) & (ix->cap - 1);
    }
    return NULL;
}

/* The key's slot, added (with the next key id) if new; NULL on OOM. */
static pidx_slot *pidx_intern(writ_policyset *ps, pidx *ix, const cv_uid *key)
{
    /* at most half full: a request probes mostly for uids that are absent */
    if ((ix->used + 1) * 2 > ix->cap && pidx_grow(ix))
        return NULL;
    size_t j = key->hash & (ix->cap - 1);
    while (ix->slot[j].key && !cv_uid_eq(ix->slot[j].key, key))
        j = (j + 1) & (ix->cap - 1);
    pidx_slot *s = &ix->slot[j];
    if (!s->key) {
        s->key = key;
        s->hash = key->hash;
        s->id = ps->nkeys++;
        s->ord = (uint32_t)ix->used;
        ix->used++;
    }
    return s;
}

static int push(pidx_slot *s, pentry e)
{
    if (s->n == s->cap) {
        uint32_t nc = s->cap ? s->cap * 2 : 4;
        pentry *na = wr_realloc(s->pol, nc * sizeof *na);
        if (!na)
            return -1;
        s->pol = na;
        s->cap = nc;
    }
    s->pol[s->n++] = e;
    return 0;
}

/* File policy pol under an existing key. */
static int pidx_file(writ_policyset *ps, int d, const cv_uid *key, uint32_t pol)
{
    pidx_slot *s = (pidx_slot *)cedar_pidx_find(&ps->dim[d], key);
    /* the same policy twice under one key (action in [A, A]) only once */
    if (s->n && s->pol[s->n - 1].pol == pol)
        return 0;
    const pscope *c = &ps->scope[pol];
    return push(s, (pentry){pol, {c->bits[0], c->bits[1], c->bits[2]}});
}

static void pidx_free(pidx *ix)
{
    for (size_t i = 0; i < ix->cap; i++)
        wr_free(ix->slot[i].pol);
    wr_free(ix->slot);
    memset(ix, 0, sizeof *ix);
}

uint32_t cedar_ptype_find(const writ_policyset *ps, const cv_string *type)
{
    if (!ps->types_cap)
        return PKEY_NONE;
    size_t mask = ps->types_cap - 1;
    for (size_t j = type->hash & mask; ps->types[j].type; j = (j + 1) & mask)
        if (cv_string_eq(ps->types[j].type, type))
            return ps->types[j].id;
    return PKEY_NONE;
}

/* The type's id, added if new; PKEY_NONE on OOM. */
static uint32_t ptype_intern(writ_policyset *ps, const cv_string *type)
{
    uint32_t id = cedar_ptype_find(ps, type);
    if (id != PKEY_NONE)
        return id;
    if ((ps->ntypes + 1) * 2 > ps->types_cap) {
        size_t ncap = ps->types_cap ? ps->types_cap * 2 : 8;
        ptype_slot *nt = wr_calloc(ncap, sizeof *nt);
        if (!nt)
            return PKEY_NONE;
        for (size_t i = 0; i < ps->types_cap; i++) {
            if (!ps->types[i].type)
                continue;
            size_t j = ps->types[i].type->hash & (ncap - 1);
            while (nt[j].type)
                j = (j + 1) & (ncap - 1);
            nt[j] = ps->types[i];
        }
        wr_free(ps->types);
        ps->types = nt;
        ps->types_cap = ncap;
    }
    size_t j = type->hash & (ps->types_cap - 1);
    while (ps->types[j].type)
        j = (j + 1) & (ps->types_cap - 1);
    ps->types[j].type = type;
    ps->types[j].id = (uint32_t)++ps->ntypes; /* from 1: 0 is no type */
    return ps->types[j].id;
}

/* Intern one scope's uids and type, count it as a filing option of its
 * key, and fill dimension d of the policy's pscope. */
static int scope_intern(writ_policyset *ps, const ast_scope *s, int d, pscope *out)
{
    out->op[d] = (uint8_t)s->op;
    out->key[d] = PKEY_ALWAYS;
    out->type[d] = 0;
    out->eq[d] = s->op == SC_EQ;
    /* the digest: all bits for no constraint, the type's for `is T`, the
     * keys' (below) for the rest (`is T in X` has X's only) */
    out->bits[d] = s->op == SC_ANY ? UINT32_MAX : 0;
    if (s->op == SC_IS || s->op == SC_IS_IN) {
        if ((out->type[d] = ptype_intern(ps, s->type)) == PKEY_NONE)
            return -1;
        ps->has_is[d] = true;
        if (s->op == SC_IS)
            out->bits[d] = pkey_bit(out->type[d]);
    }
    if (s->op == SC_EQ || s->op == SC_IN || s->op == SC_IS_IN) {
        if (!s->uid) {
            out->op[d] = PSC_NEVER;
            out->general |= (uint8_t)(1u << d);
            return 0;
        }
        pidx_slot *slot = pidx_intern(ps, &ps->dim[d], s->uid);
        if (!slot)
            return -1;
        slot->nopt++;
        out->key[d] = slot->id;
        out->bits[d] = pkey_bit(slot->ord);
    } else if (s->op == SC_IN_SET) {
        uint32_t *nk = wr_realloc(ps->setkey, (ps->nsetkey + s->n + 1) * sizeof *nk);
        if (!nk)
            return -1;
        ps->setkey = nk;
        out->general |= (uint8_t)(1u << d);
        out->set = (uint32_t)ps->nsetkey;
        out->nset = (uint32_t)s->n;
        for (size_t j = 0; j < s->n; j++) {
            pidx_slot *slot = pidx_intern(ps, &ps->dim[d], s->uids[j]);
            if (!slot)
                return -1;
            slot->nopt++;
            ps->setkey[ps->nsetkey++] = slot->id;
            out->bits[d] |= pkey_bit(slot->ord);
        }
    }
    return 0;
}

/* Where a dimension's digest has a bit per key, `in [A, B]` is exactly
 * "the digest meets the request's", which the scan checks before the
 * pscope: it needs no general check. */
static void scope_settle(writ_policyset *ps, pscope *c)
{
    for (int d = 0; d < 3; d++)
        if (c->op[d] == SC_IN_SET && c->nset && ps->digest_exact[d])
            c->general &= (uint8_t) ~(1u << d);
}

/* How many policies could be filed under a key. */
static size_t key_count(const pidx *ix, const cv_uid *k)
{
    const pidx_slot *s = cedar_pidx_find(ix, k);
    return s ? s->nopt : 0;
}

/* File policy i under its least crowded option. */
static int file_policy(writ_policyset *ps, uint32_t i)
{
    const ast_policy *p = ps->pol[i];
    if (p->is_template)
        return 0;
    if (p->action.op == SC_IN_SET && p->action.n == 0)
        return 0; /* `action in []` matches nothing and is filed nowhere */
    const ast_scope *sc[3] = {&p->principal, &p->action, &p->resource};
    /* ties go to the principal, then the resource, then the action */
    static const int order[3] = {DIM_PRINCIPAL, DIM_RESOURCE, DIM_ACTION};
    int best = -1;
    size_t best_cost = SIZE_MAX;
    for (int o = 0; o < 3; o++) {
        int d = order[o];
        const cv_uid *k = scope_key(sc[d]);
        if (k && key_count(&ps->dim[d], k) < best_cost) {
            best = d;
            best_cost = key_count(&ps->dim[d], k);
        }
    }
    if (p->action.op == SC_IN_SET) {
        size_t cost = 0;
        for (size_t j = 0; j < p->action.n; j++)
            cost += key_count(&ps->dim[DIM_ACTION], p->action.uids[j]);
        if (cost < best_cost) {
            for (size_t j = 0; j < p->action.n; j++)
                if (pidx_file(ps, DIM_ACTION, p->action.uids[j], i))
                    return -1;
            return 0;
        }
    }
    if (best >= 0)
        return pidx_file(ps, best, scope_key(sc[best]), i);
    const pscope *c = &ps->scope[i];
    return push(&ps->always, (pentry){i, {c->bits[0], c->bits[1], c->bits[2]}});
}

static void index_free(writ_policyset *ps)
{
    for (int d = 0; d < 3; d++)
        pidx_free(&ps->dim[d]);
    ps->nkeys = 1; /* PKEY_ALWAYS */
    memset(ps->digest_exact, 0, sizeof ps->digest_exact);
    wr_free(ps->types);
    ps->types = NULL;
    ps->ntypes = ps->types_cap = 0;
    memset(ps->has_is, 0, sizeof ps->has_is);
    wr_free(ps->scope);
    ps->scope = NULL;
    wr_free(ps->setkey);
    ps->setkey = NULL;
    ps->nsetkey = 0;
    wr_free(ps->always.pol);
    memset(&ps->always, 0, sizeof ps->always);
}

/* Forget ps's index without freeing it (a copy of ps owns it). */
static void index_detach(writ_policyset *ps)
{
    memset(ps->dim, 0, sizeof ps->dim);
    ps->types = NULL;
    ps->scope = NULL;
    ps->setkey = NULL;
    memset(&ps->always, 0, sizeof ps->always);
    index_free(ps); /* (frees nothing now: resets the counts) */
}

/* Give ps the index built in from (a copy of ps). */
static void index_take(writ_policyset *ps, const writ_policyset *from)
{
    memcpy(ps->dim, from->dim, sizeof ps->dim);
    ps->nkeys = from->nkeys;
    memcpy(ps->has_is, from->has_is, sizeof ps->has_is);
    memcpy(ps->digest_exact, from->digest_exact, sizeof ps->digest_exact);
    ps->ntypes = from->ntypes;
    ps->types_cap = from->types_cap;
    ps->types = from->types;
    ps->scope = from->scope;
    ps->setkey = from->setkey;
    ps->nsetkey = from->nsetkey;
    ps->always = from->always;
}

/* (Re)build the whole index: keys, types and compact scopes, then filing. */
static int index_build(writ_policyset *ps)
{
    index_free(ps);
    ps->scope = wr_calloc(ps->n ? ps->n : 1, sizeof *ps->scope);
    if (!ps->scope)
        return -1;
    for (uint32_t i = 0; i < ps->n; i++) {
        const ast_policy *p = ps->pol[i];
        if (p->is_template)
            continue;
        pscope *c = &ps->scope[i];
        if (scope_intern(ps, &p->principal, DIM_PRINCIPAL, c) ||
            scope_intern(ps, &p->action, DIM_ACTION, c) || scope_intern(ps, &p->resource, DIM_RESOURCE, c))
            return -1;
    }
    for (int d = 0; d < 3; d++)
        ps->digest_exact[d] = ps->dim[d].used <= 31 && !ps->has_is[d];
    for (uint32_t i = 0; i < ps->n; i++)
        if (!ps->pol[i]->is_template)
            scope_settle(ps, &ps->scope[i]);
    for (uint32_t i = 0; i < ps->n; i++)
        if (file_policy(ps, i))
            return -1;
    return 0;
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

/* Where each line of ps->src starts, so that an explanation finds the
 * line:column of a quoted condition without scanning the whole text. */
static int index_lines(writ_policyset *ps)
{
    size_t n = 1;
    for (size_t i = 0; i < ps->srclen; i++)
        n += ps->src[i] == '\n';
    ps->line_start = wr_arena_alloc(ps->arena, n * sizeof *ps->line_start);
    if (!ps->line_start)
        return -1;
    ps->nlines = 0;
    ps->line_start[ps->nlines++] = 0;
    for (size_t i = 0; i < ps->srclen; i++)
        if (ps->src[i] == '\n')
            ps->line_start[ps->nlines++] = (uint32_t)(i + 1);
    return 0;
}

static const cv_string *annotation_str(const ast_policy *p, const char *key)
{
    size_t kl = strlen(key);
    for (size_t j = 0; j < p->nannot; j++)
        if (p->annot[j].key->len == kl && !memcmp(p->annot[j].key->data, key, kl))
            return p->annot[j].value;
    return NULL;
}

static const char *annotation_of(const ast_policy *p, const char *key)
{
    const cv_string *v = annotation_str(p, key);
    return v ? v->data : NULL;
}

static uint64_t id_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Name each policy by its @id annotation, if it has one.  Every final id
 * goes into an open-addressing table of policy indexes, so a duplicate is
 * found in one pass; the message names both policies' positions. */
static writ_status ids_from_annotations(wr_arena *arena, cedar_parsed *ps, const char *text, size_t len,
                                        writ_error *err)
{
    size_t cap = 16;
    while (cap < ps->n * 2)
        cap *= 2;
    size_t *slot = wr_malloc(cap * sizeof *slot);
    if (!slot)
        return WRIT_ENOMEM;
    for (size_t i = 0; i < cap; i++)
        slot[i] = SIZE_MAX;
    writ_status st = WRIT_OK;
    for (size_t i = 0; i < ps->n && !st; i++) {
        ast_policy *p = ps->pol[i];
        const cv_string *idv = annotation_str(p, "id");
        const char *id = idv ? idv->data : NULL;
        if (id && (!*id || strlen(id) != idv->len)) {
            cedar_error_at(err, WRIT_EPARSE, text, len, p->pos,
                           *id ? "@id holds a NUL character" : "@id is empty: a policy's id names it");
            st = WRIT_EPARSE;
            break;
        }
        if (id && !(p->id = wr_arena_strndup(arena, id, strlen(id)))) {
            st = WRIT_ENOMEM;
            break;
        }
    }
    for (size_t i = 0; i < ps->n && !st; i++) {
        const ast_policy *p = ps->pol[i];
        size_t k = (size_t)id_hash(p->id) & (cap - 1);
        for (; slot[k] != SIZE_MAX; k = (k + 1) & (cap - 1)) {
            const ast_policy *q = ps->pol[slot[k]];
            if (strcmp(q->id, p->id) != 0)
                continue;
            unsigned ql = 0, qc = 0;
            writ_error qe;
            cedar_error_at(&qe, WRIT_EDUP, text, len, q->pos, "-");
            ql = qe.line;
            qc = qe.col;
            bool p_named = annotation_of(p, "id") != NULL, q_named = annotation_of(q, "id") != NULL;
            cedar_error_at(err, WRIT_EDUP, text, len, p->pos,
                           p_named && q_named ? "duplicate @id(\"%s\"): the policy at %u:%u has it too"
                           : p_named          ? "@id(\"%s\") is the id of the unannotated policy at %u:%u"
                                     : "the id %s of this unannotated policy is the @id of the policy "
                                       "at %u:%u",
                           p->id, ql, qc);
            st = WRIT_EDUP;
            break;
        }
        slot[k] = i;
    }
    wr_free(slot);
    if (st == WRIT_ENOMEM && err) {
        memset(err, 0, sizeof *err);
        err->code = WRIT_ENOMEM;
        snprintf(err->msg, sizeof err->msg, "out of memory");
    }
    return st;
}

writ_status writ_policyset_parse(const char *text, size_t len, writ_policyset **out, writ_error *err)
{
    return writ_policyset_parse_flags(text, len, 0, out, err);
}

writ_status writ_policyset_parse_flags(const char *text, size_t len, unsigned flags, writ_policyset **out,
                                       writ_error *err)
{
    if (!out)
        return wr_error(err, WRIT_EINVAL, "writ_policyset_parse: out is NULL");
    *out = NULL;
    if (!text && len)
        return wr_error(err, WRIT_EINVAL, "writ_policyset_parse: text is NULL");
    if (!text)
        text = "";
    writ_policyset *ps = wr_calloc(1, sizeof *ps);
    if (!ps)
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    ps->arena = wr_arena_new(64 * 1024);
    if (!ps->arena) {
        wr_free(ps);
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    }
    cedar_parsed parsed;
    writ_status st = cedar_parse_policies(ps->arena, text, len, "policy", 0, &parsed, err);
    if (!st) {
        /* kept for writ_explain, which quotes conditions (positions are
         * offsets into this text) */
        ps->srclen = len;
        if (!(ps->src = wr_arena_strndup(ps->arena, text, len)) || index_lines(ps))
            st = WRIT_ENOMEM;
        if (st && err) {
            memset(err, 0, sizeof *err);
            err->code = st;
            snprintf(err->msg, sizeof err->msg, "out of memory");
        }
    }
    if (!st && (flags & WRIT_PS_ID_ANNOTATION))
        st = ids_from_annotations(ps->arena, &parsed, text, len, err);
    unsigned by_mode = flags & (WRIT_PS_EXCLUDE_SHADOW | WRIT_PS_ONLY_SHADOW);
    for (size_t i = 0; i < parsed.n && !st && by_mode; i++) {
        const char *mode = annotation_of(parsed.pol[i], "mode");
        if (mode && strcmp(mode, "shadow") && strcmp(mode, "enforce")) {
            cedar_error_at(err, WRIT_EPARSE, text, len, parsed.pol[i]->pos,
                           "@mode is \"shadow\" or \"enforce\", not \"%.60s\"", mode);
            st = WRIT_EPARSE;
        }
    }
    if (st) {
        writ_policyset_free(ps);
        return st;
    }
    for (size_t i = 0; i <= parsed.n; i++) {
        if (i < parsed.n && by_mode) {
            const char *mode = annotation_of(parsed.pol[i], "mode");
            if ((mode && !strcmp(mode, "shadow")) != !(flags & WRIT_PS_EXCLUDE_SHADOW))
                continue;
        }
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

writ_policyset *cedar_policyset_subset(const writ_policyset *ps, const uint32_t *idx, size_t n)
{
    writ_policyset *sub = wr_calloc(1, sizeof *sub);
    if (!sub || !(sub->arena = wr_arena_new(0))) {
        wr_free(sub);
        return NULL;
    }
    sub->src = ps->src;
    sub->srclen = ps->srclen;
    sub->line_start = ps->line_start;
    sub->nlines = ps->nlines;
    for (size_t i = 0; i < n; i++)
        if (add_policy(sub, ps->pol[idx[i]])) {
            writ_policyset_free(sub);
            return NULL;
        }
    if (index_build(sub)) {
        writ_policyset_free(sub);
        return NULL;
    }
    return sub;
}

writ_policyset *cedar_policyset_join(const writ_policyset *a, const writ_policyset *b, const uint32_t *ib,
                                     size_t nb)
{
    writ_policyset *j = wr_calloc(1, sizeof *j);
    if (!j || !(j->arena = wr_arena_new(0))) {
        wr_free(j);
        return NULL;
    }
    for (size_t i = 0; i < a->n; i++)
        if (add_policy(j, a->pol[i])) {
            writ_policyset_free(j);
            return NULL;
        }
    for (size_t i = 0; i < nb; i++)
        if (add_policy(j, b->pol[ib[i]])) {
            writ_policyset_free(j);
            return NULL;
        }
    if (index_build(j)) {
        writ_policyset_free(j);
        return NULL;
    }
    return j;
}

void writ_policyset_free(writ_policyset *ps)
{
    if (!ps)
        return;
    index_free(ps);
    wr_free(ps->pol);
    wr_arena_free(ps->arena);
    wr_free(ps);
}

size_t writ_policyset_count(const writ_policyset *ps) { return ps ? ps->n : 0; }

const char *writ_policyset_id(const writ_policyset *ps, size_t i)
{
    return ps && i < ps->n ? ps->pol[i]->id : NULL;
}

bool writ_policyset_is_forbid(const writ_policyset *ps, size_t i)
{
    return ps && i < ps->n && !ps->pol[i]->permit;
}

const char *writ_policyset_forbid_error(const writ_policyset *ps, const writ_decision *d,
                                        const char **message)
{
    for (size_t e = 0; ps && d && e < d->nerrors; e++)
        for (size_t i = 0; i < ps->n; i++)
            if (!ps->pol[i]->permit && (ps->pol[i]->id == d->errors[e].policy_id ||
                                        !strcmp(ps->pol[i]->id, d->errors[e].policy_id))) {
                if (message)
                    *message = d->errors[e].message;
                return ps->pol[i]->id;
            }
    return NULL;
}

bool writ_decision_deny_failed_forbid(const writ_policyset *ps, writ_decision *d, const char **fid,
                                      const char **message)
{
    if (!d || !d->allow || !(*fid = writ_policyset_forbid_error(ps, d, message)))
        return false;
    d->allow = false;
    d->nreasons = 1;
    d->reasons = fid;
    return true;
}

const char *writ_policyset_annotation(const writ_policyset *ps, size_t i, const char *key)
{
    if (!ps || i >= ps->n || !key)
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
        return link_error(err, WRIT_ELINK,
                          wants_p ? "template `%s` needs a value for ?principal"
                                  : "template `%s` has no ?principal slot",
                          template_id);
    if (wants_r != (resource != NULL))
        return link_error(err, WRIT_ELINK,
                          wants_r ? "template `%s` needs a value for ?resource"
                                  : "template `%s` has no ?resource slot",
                          template_id);
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
    /* The new index is built beside the old one, which stays in force
     * until the new one is whole: a link that runs out of memory leaves
     * the set as it was (its policies filed as before, the new one not
     * there), so it still decides and the link can be made again. */
    if (add_policy(ps, p))
        return link_error(err, WRIT_ENOMEM, "%s", "out of memory");
    writ_policyset fresh = *ps;
    index_detach(&fresh);
    if (index_build(&fresh)) {
        index_free(&fresh);
        ps->n--;
        return link_error(err, WRIT_ENOMEM, "%s", "out of memory");
    }
    index_free(ps);
    index_take(ps, &fresh);
    return WRIT_OK;
}
