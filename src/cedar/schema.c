/* schema.c - the human-readable Cedar schema format (see schema.h).
 *
 * Two passes.  The parser (schema_text.c) turns the text into a raw tree (namespaces of
 * declarations, type names still as written).  The resolver (schema_resolve.c) then collects
 * every declared name, checks duplicates and shadowing, resolves each type
 * name by Cedar's rules (schema.h), inlines common types (detecting cycles),
 * checks action groups (no cycles, all declared) and writes the sorted
 * model.  Errors unwind with longjmp to cedar_schema_parse(), the one
 * boundary; everything made until then lives in the schema's arena, which
 * is freed there on failure.
 *
 * Grammar (Cedar 4.x):
 *   Schema    -> {Namespace}
 *   Namespace -> Annotations 'namespace' Path '{' {Decl} '}' | Decl
 *   Decl      -> Annotations (Entity | Action | TypeDecl)
 *   Entity    -> 'entity' Idents ['in' EntOrTyps] [['='] RecType] ['tags' Type] ';'
 *              | 'entity' Idents 'enum' '[' STR {',' STR} ']' ';'
 *   Action    -> 'action' Names ['in' RefOrRefs] [AppliesTo] ';'
 *   TypeDecl  -> 'type' IDENT '=' Type ';'
 *   Type      -> Path | 'Set' '<' Type '>' | RecType
 *   RecType   -> '{' [AttrDecl {',' AttrDecl} [',']] '}'
 *   AttrDecl  -> Annotations Name ['?'] ':' Type
 *   AppliesTo -> 'appliesTo' '{' AppDecl {',' AppDecl} [','] '}'
 *   AppDecl   -> ('principal' | 'resource') ':' EntOrTyps | 'context' ':' (Path | RecType)
 *   EntOrTyps -> Path | '[' Path {',' Path} ']'
 *   RefOrRefs -> Ref | '[' [Ref {',' Ref}] ']'
 *   Ref       -> Path '::' STR | Name
 *   Name      -> IDENT | STR;   Names -> Name {',' Name};   Idents -> IDENT {',' IDENT}
 *   Annotation-> '@' IDENT ['(' STR ')']
 *   Path      -> IDENT {'::' IDENT}
 * Comments run from // to the end of the line.
 */
#include "cedar/schema_int.h"
#include "cedar/srctext.h"
#include "util/alloc.h"
#include "util/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

writ_status cedar_schema_parse(const char *text, size_t len, writ_schema **out, writ_error *err)
{
    *out = NULL;
    if (err)
        memset(err, 0, sizeof *err);
    if (len > CEDAR_SCHEMA_MAX_SIZE) {
        if (err) {
            err->code = WRIT_ELIMIT;
            snprintf(err->msg, sizeof err->msg, "schema of %zu bytes exceeds the limit of %u", len,
                     (unsigned)CEDAR_SCHEMA_MAX_SIZE);
        }
        return WRIT_ELIMIT;
    }
    writ_schema *s = wr_calloc(1, sizeof *s);
    wr_arena *a = s ? wr_arena_new(0) : NULL;
    if (!a) {
        wr_free(s);
        if (err) {
            err->code = WRIT_ENOMEM;
            snprintf(err->msg, sizeof err->msg, "out of memory");
        }
        return WRIT_ENOMEM;
    }
    s->arena = a;
    /* volatile: survives the longjmp */
    P *volatile pp = wr_calloc(1, sizeof(P));
    if (!pp) {
        wr_arena_free(a);
        wr_free(s);
        if (err) {
            err->code = WRIT_ENOMEM;
            snprintf(err->msg, sizeof err->msg, "out of memory");
        }
        return WRIT_ENOMEM;
    }
    P *p = pp;
    p->src = text;
    p->len = len;
    p->a = a;
    writ_error local;
    p->err = err ? err : &local;
    if (setjmp(p->jb)) {
        writ_status st = pp->err->code;
        wr_free(pp);
        wr_arena_free(a);
        wr_free(s);
        return st;
    }
    size_t bad = cedar_utf8_check(text, len);
    if (bad < len)
        cedar_schema_fail(p, WRIT_EPARSE, bad, "invalid UTF-8 in schema text");
    cedar_schema_parse_text(p);
    cedar_schema_resolve(p, s);
    wr_free(p);
    *out = s;
    return WRIT_OK;
}

/* ---- lookups */

const cs_entity_type *cedar_schema_entity_type(const writ_schema *s, const char *name, size_t len)
{
    size_t lo = 0, hi = s->nentity_types;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const cv_string *m = s->entity_types[mid].name;
        size_t k = m->len < len ? m->len : len;
        int c = memcmp(m->data, name, k);
        if (!c)
            c = m->len < len ? -1 : m->len > len;
        if (!c)
            return &s->entity_types[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const cs_action *cedar_schema_action(const writ_schema *s, const cv_uid *uid)
{
    size_t lo = 0, hi = s->nactions;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const cv_uid *m = s->actions[mid].uid;
        int c = cv_string_cmp(m->type, uid->type);
        if (!c)
            c = cv_string_cmp(m->id, uid->id);
        if (!c)
            return &s->actions[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool cedar_schema_is_action_type(const writ_schema *s, const cv_string *type)
{
    for (size_t i = 0; i < s->nactions; i++)
        if (cv_string_eq(s->actions[i].uid->type, type))
            return true;
    return type->len >= 6 && !memcmp(type->data + type->len - 6, "Action", 6) &&
           (type->len == 6 || (type->len > 8 && !memcmp(type->data + type->len - 8, "::", 2)));
}
