/* validate_type.c - the validator's types and their least upper bound.
 *
 * Strict mode (the reference's default) gives two types a least upper bound
 * only when they are "the same shape": booleans join to Bool whatever their
 * known values, sets join element-wise, records join when they have exactly
 * the same attribute names, each required in both or optional in both (the
 * reference refuses to join `{y?: String}` with `{y: String}`), and
 * everything else only with itself.  So `if c then 1 else "a"`,
 * `[User::"a", Admin::"b"]` and `[1, "a"]` have no type.
 */
#include "cedar/validate.h"
#include "util/alloc.h"

#include <stdio.h>
#include <string.h>

static const vt_type t_long = {.kind = VT_LONG};
static const vt_type t_string = {.kind = VT_STRING};
static const vt_type t_bool[3] = {
    {.kind = VT_BOOL, .b = VB_ANY},
    {.kind = VT_BOOL, .b = VB_TRUE},
    {.kind = VT_BOOL, .b = VB_FALSE},
};

const vt_type *cedar_vt_prim(vt_kind k) { return k == VT_LONG ? &t_long : &t_string; }

const vt_type *cedar_vt_boolean(vt_bool b) { return &t_bool[b]; }

static vt_type *mk(wr_arena *a, vt_kind k)
{
    vt_type *t = wr_arena_calloc(a, 1, sizeof *t);
    if (t)
        t->kind = k;
    return t;
}

const vt_type *cedar_vt_entity(wr_arena *a, const cv_string *ety)
{
    vt_type *t = mk(a, VT_ENTITY);
    if (t)
        t->ety = ety;
    return t;
}

const vt_type *cedar_vt_set(wr_arena *a, const vt_type *elem)
{
    vt_type *t = elem ? mk(a, VT_SET) : NULL;
    if (t)
        t->elem = elem;
    return t;
}

const vt_type *cedar_vt_ext(wr_arena *a, cv_ext_kind k)
{
    vt_type *t = mk(a, VT_EXT);
    if (t)
        t->ext = k;
    return t;
}

const vt_type *cedar_vt_from_schema(wr_arena *a, const cs_type *t)
{
    switch (t->kind) {
    case CS_BOOL:
        return cedar_vt_boolean(VB_ANY);
    case CS_LONG:
        return &t_long;
    case CS_STRING:
        return &t_string;
    case CS_ENTITY:
        return cedar_vt_entity(a, t->name);
    case CS_SET:
        return cedar_vt_set(a, cedar_vt_from_schema(a, t->elem));
    case CS_EXT:
        return cedar_vt_ext(a, t->ext);
    case CS_RECORD: {
        vt_type *r = mk(a, VT_RECORD);
        vt_attr *at = t->nattrs ? wr_arena_calloc(a, t->nattrs, sizeof *at) : NULL;
        if (!r || (t->nattrs && !at))
            return NULL;
        for (size_t i = 0; i < t->nattrs; i++) {
            at[i].name = t->attrs[i].name;
            at[i].required = t->attrs[i].required;
            if (!(at[i].type = cedar_vt_from_schema(a, t->attrs[i].type)))
                return NULL;
        }
        r->nattrs = t->nattrs;
        r->attrs = at;
        return r;
    }
    }
    return NULL;
}

const vt_attr *cedar_vt_record_find(const vt_type *rec, const cv_string *name)
{
    size_t lo = 0, hi = rec->nattrs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cv_string_cmp(rec->attrs[mid].name, name);
        if (!c)
            return &rec->attrs[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static bool same(const vt_type *x, const vt_type *y);

static bool same_attrs(const vt_type *x, const vt_type *y)
{
    if (x->nattrs != y->nattrs)
        return false;
    for (size_t i = 0; i < x->nattrs; i++)
        if (!cv_string_eq(x->attrs[i].name, y->attrs[i].name) ||
            x->attrs[i].required != y->attrs[i].required || !same(x->attrs[i].type, y->attrs[i].type))
            return false;
    return true;
}

static bool same(const vt_type *x, const vt_type *y)
{
    if (x->kind != y->kind)
        return false;
    switch (x->kind) {
    case VT_BOOL:
        return x->b == y->b;
    case VT_ENTITY:
        return cv_string_eq(x->ety, y->ety);
    case VT_SET:
        return same(x->elem, y->elem);
    case VT_RECORD:
        return same_attrs(x, y);
    case VT_EXT:
        return x->ext == y->ext;
    default:
        return true;
    }
}

const vt_type *cedar_vt_lub(wr_arena *a, const vt_type *x, const vt_type *y)
{
    if (x->kind != y->kind)
        return NULL;
    switch (x->kind) {
    case VT_BOOL:
        return cedar_vt_boolean(x->b == y->b ? x->b : VB_ANY);
    case VT_SET: {
        const vt_type *e = cedar_vt_lub(a, x->elem, y->elem);
        return e ? cedar_vt_set(a, e) : NULL;
    }
    case VT_RECORD: {
        if (x->nattrs != y->nattrs)
            return NULL;
        vt_type *r = mk(a, VT_RECORD);
        vt_attr *at = x->nattrs ? wr_arena_calloc(a, x->nattrs, sizeof *at) : NULL;
        if (!r || (x->nattrs && !at))
            return NULL;
        for (size_t i = 0; i < x->nattrs; i++) {
            if (!cv_string_eq(x->attrs[i].name, y->attrs[i].name) ||
                x->attrs[i].required != y->attrs[i].required)
                return NULL;
            at[i].name = x->attrs[i].name;
            at[i].required = x->attrs[i].required;
            if (!(at[i].type = cedar_vt_lub(a, x->attrs[i].type, y->attrs[i].type)))
                return NULL;
        }
        r->nattrs = x->nattrs;
        r->attrs = at;
        return r;
    }
    default:
        return same(x, y) ? x : NULL;
    }
}

/* ---- printing */

typedef struct pbuf {
    char *p;
    size_t cap, len;
} pbuf;

static void put(pbuf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n && b->len + 1 < b->cap; i++)
        b->p[b->len++] = s[i];
    if (b->cap)
        b->p[b->len < b->cap ? b->len : b->cap - 1] = 0;
}

static void puts_(pbuf *b, const char *s) { put(b, s, strlen(s)); }

static void print(pbuf *b, const vt_type *t, int depth)
{
    if (depth > 8) {
        puts_(b, "...");
        return;
    }
    switch (t->kind) {
    case VT_BOOL:
        puts_(b, t->b == VB_TRUE ? "__cedar::true" : t->b == VB_FALSE ? "__cedar::false" : "Bool");
        break;
    case VT_LONG:
        puts_(b, "Long");
        break;
    case VT_STRING:
        puts_(b, "String");
        break;
    case VT_ENTITY:
        put(b, t->ety->data, t->ety->len);
        break;
    case VT_EXT:
        puts_(b, cv_ext_kind_name(t->ext));
        break;
    case VT_SET:
        puts_(b, "Set<");
        print(b, t->elem, depth + 1);
        puts_(b, ">");
        break;
    case VT_RECORD:
        puts_(b, "{");
        for (size_t i = 0; i < t->nattrs; i++) {
            if (i)
                puts_(b, ", ");
            put(b, t->attrs[i].name->data, t->attrs[i].name->len);
            puts_(b, t->attrs[i].required ? ": " : "?: ");
            print(b, t->attrs[i].type, depth + 1);
        }
        puts_(b, "}");
        break;
    }
}

void cedar_vt_print(const vt_type *t, char *buf, size_t cap)
{
    pbuf b = {buf, cap, 0};
    if (cap)
        buf[0] = 0;
    print(&b, t, 0);
}

/* ---- hierarchy: a depth-first walk over the schema's direct `in`
 * declarations, each type (action) visited once, so cycles and diamonds
 * cost no more than the schema's size. */

bool cedar_vt_type_descends(const writ_schema *s, const cv_string *ety1, const cv_string *ety2)
{
    if (cv_string_eq(ety1, ety2))
        return true;
    size_t n = s->nentity_types;
    const cs_entity_type *start = cedar_schema_entity_type(s, ety1->data, ety1->len);
    if (!start || !n)
        return false;
    bool *seen = wr_calloc(n, sizeof *seen);
    const cs_entity_type **stack = wr_malloc(n * sizeof *stack);
    bool found = false;
    if (!seen || !stack)
        goto done;
    size_t top = 0;
    stack[top++] = start;
    seen[start - s->entity_types] = true;
    while (top && !found) {
        const cs_entity_type *et = stack[--top];
        for (size_t i = 0; i < et->nparents && !found; i++) {
            if (cv_string_eq(et->parents[i], ety2)) {
                found = true;
                break;
            }
            const cs_entity_type *p = cedar_schema_entity_type(s, et->parents[i]->data, et->parents[i]->len);
            if (p && !seen[p - s->entity_types]) {
                seen[p - s->entity_types] = true;
                stack[top++] = p;
            }
        }
    }
done:
    wr_free(seen);
    wr_free(stack);
    return found;
}

bool cedar_vt_action_descends(const writ_schema *s, const cv_uid *a1, const cv_uid *a2)
{
    if (cv_uid_eq(a1, a2))
        return true;
    size_t n = s->nactions;
    const cs_action *start = cedar_schema_action(s, a1);
    if (!start || !n)
        return false;
    bool *seen = wr_calloc(n, sizeof *seen);
    const cs_action **stack = wr_malloc(n * sizeof *stack);
    bool found = false;
    if (!seen || !stack)
        goto done;
    size_t top = 0;
    stack[top++] = start;
    seen[start - s->actions] = true;
    while (top && !found) {
        const cs_action *ac = stack[--top];
        for (size_t i = 0; i < ac->nparents && !found; i++) {
            if (cv_uid_eq(ac->parents[i], a2)) {
                found = true;
                break;
            }
            const cs_action *p = cedar_schema_action(s, ac->parents[i]);
            if (p && !seen[p - s->actions]) {
                seen[p - s->actions] = true;
                stack[top++] = p;
            }
        }
    }
done:
    wr_free(seen);
    wr_free(stack);
    return found;
}
