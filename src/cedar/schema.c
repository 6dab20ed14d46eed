/* schema.c - the human-readable Cedar schema format (see schema.h).
 *
 * Two passes.  The parser turns the text into a raw tree (namespaces of
 * declarations, type names still as written).  The resolver then collects
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
#include "cedar/schema.h"
#include "cedar/srctext.h"
#include "util/alloc.h"
#include "util/text.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- raw tree */

enum { RT_NAME = 1, RT_SET, RT_REC };

typedef struct rtype rtype;
typedef struct rattr {
    const cv_string *name;
    bool required;
    rtype *type;
} rattr;

struct rtype {
    int kind;
    size_t off;
    const cv_string *name; /* RT_NAME: as written, "A::B" */
    bool qualified;
    rtype *elem;
    size_t nattrs;
    rattr *attrs;
};

typedef struct rpath {
    const cv_string *name;
    bool qualified;
    size_t off;
} rpath;

typedef struct rref {
    const cv_string *type; /* NULL: bare name */
    bool qualified;
    const cv_string *id;
    size_t off;
} rref;

enum { D_ENTITY = 1, D_ACTION, D_TYPE };

typedef struct rdecl {
    int kind;
    size_t off;
    size_t nnames;
    const cv_string **names;
    size_t *name_off;
    /* entity */
    size_t nin;
    rpath *in;
    rtype *shape, *tags;
    bool is_enum;
    size_t nenum;
    const cv_string **enum_ids;
    /* action */
    size_t nrefs;
    rref *refs;
    bool has_applies;
    size_t nprinc, nres;
    rpath *princ, *res;
    rtype *ctx;
    /* type */
    rtype *def;
} rdecl;

typedef struct rns {
    const cv_string *name; /* "" for the empty namespace */
    size_t off;
    size_t ndecls, cap;
    rdecl **decls;
} rns;

/* ---- parser state */

enum { T_EOF = 0, T_IDENT, T_STR, T_DCOLON, T_PUNCT };

typedef struct tok {
    int kind;
    char c; /* T_PUNCT */
    size_t off, len;
} tok;

typedef struct P {
    const char *src;
    size_t len, pos;
    tok t;
    wr_arena *a;
    writ_error *err;
    jmp_buf jb;
    int depth;
    size_t nns, nscap;
    rns **ns;
} P;

static _Noreturn void perr(P *p, writ_status code, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static _Noreturn void perr(P *p, writ_status code, size_t off, const char *fmt, ...)
{
    if (p->err) {
        memset(p->err, 0, sizeof *p->err);
        p->err->code = code;
        char msg[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (off != (size_t)-1) {
            cedar_text_position(p->src, p->len, off, &p->err->line, &p->err->col);
            p->err->offset = off;
            snprintf(p->err->msg, sizeof p->err->msg, "%u:%u: %s", p->err->line, p->err->col, msg);
        } else {
            snprintf(p->err->msg, sizeof p->err->msg, "%s", msg);
        }
    }
    longjmp(p->jb, 1);
}

static void *palloc(P *p, size_t n)
{
    void *x = wr_arena_calloc(p->a, 1, n ? n : 1);
    if (!x)
        perr(p, WRIT_ENOMEM, (size_t)-1, "out of memory");
    return x;
}

/* Append to an arena array that doubles (old copies stay in the arena). */
static void *grow(P *p, void *arr, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return arr;
    size_t ncap = *cap ? *cap * 2 : 4;
    void *na = palloc(p, ncap * elem);
    if (n)
        memcpy(na, arr, n * elem);
    *cap = ncap;
    return na;
}

static const cv_string *pstr(P *p, const char *s, size_t n)
{
    const cv_string *r = cv_string_new(p->a, s, n);
    if (!r)
        perr(p, WRIT_ENOMEM, (size_t)-1, "out of memory");
    return r;
}

/* ---- lexer */

static bool is_id0(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_id(char c) { return is_id0(c) || (c >= '0' && c <= '9'); }

static void next(P *p)
{
    const char *s = p->src;
    for (;;) {
        while (p->pos < p->len &&
               (s[p->pos] == ' ' || s[p->pos] == '\t' || s[p->pos] == '\n' || s[p->pos] == '\r'))
            p->pos++;
        if (p->pos + 1 < p->len && s[p->pos] == '/' && s[p->pos + 1] == '/') {
            while (p->pos < p->len && s[p->pos] != '\n')
                p->pos++;
            continue;
        }
        break;
    }
    tok *t = &p->t;
    t->off = p->pos;
    t->c = 0;
    if (p->pos >= p->len) {
        t->kind = T_EOF;
        t->len = 0;
        return;
    }
    char c = s[p->pos];
    if (is_id0(c)) {
        size_t e = p->pos + 1;
        while (e < p->len && is_id(s[e]))
            e++;
        t->kind = T_IDENT;
        t->len = e - p->pos;
        p->pos = e;
        return;
    }
    if (c == '"') {
        size_t e = p->pos + 1;
        while (e < p->len && s[e] != '"') {
            if (s[e] == '\\')
                e++;
            e++;
        }
        if (e >= p->len)
            perr(p, WRIT_EPARSE, p->pos, "unterminated string literal");
        t->kind = T_STR;
        t->len = e + 1 - p->pos;
        p->pos = e + 1;
        return;
    }
    if (c == ':' && p->pos + 1 < p->len && s[p->pos + 1] == ':') {
        t->kind = T_DCOLON;
        t->len = 2;
        p->pos += 2;
        return;
    }
    if (strchr("{}[]()<>,;:=?@", c) && c) {
        t->kind = T_PUNCT;
        t->c = c;
        t->len = 1;
        p->pos++;
        return;
    }
    perr(p, WRIT_EPARSE, p->pos, "invalid token");
}

static void describe(P *p, char *buf, size_t cap)
{
    if (p->t.kind == T_EOF)
        snprintf(buf, cap, "end of input");
    else
        snprintf(buf, cap, "`%.*s`", (int)(p->t.len > 40 ? 40 : p->t.len), p->src + p->t.off);
}

static _Noreturn void unexpected(P *p, const char *wanted)
{
    char b[64];
    describe(p, b, sizeof b);
    perr(p, WRIT_EPARSE, p->t.off, "unexpected token %s, expected %s", b, wanted);
}

static bool is_punct(P *p, char c) { return p->t.kind == T_PUNCT && p->t.c == c; }

static bool is_kw(P *p, const char *kw)
{
    size_t n = strlen(kw);
    return p->t.kind == T_IDENT && p->t.len == n && !memcmp(p->src + p->t.off, kw, n);
}

static void expect(P *p, char c)
{
    if (!is_punct(p, c)) {
        char w[8] = {'`', c, '`', 0};
        unexpected(p, w);
    }
    next(p);
}

/* Peek at the token after the current one. */
static tok peek(P *p)
{
    size_t save = p->pos;
    tok cur = p->t;
    next(p);
    tok r = p->t;
    p->pos = save;
    p->t = cur;
    return r;
}

static const char *const reserved[] = {"true", "false", "if",   "then", "else",
                                       "in",   "is",    "like", "has",  NULL};

/* IDENT that names something (not a reserved word). */
static const cv_string *ident(P *p, const char *what)
{
    if (p->t.kind != T_IDENT)
        unexpected(p, what);
    for (int i = 0; reserved[i]; i++)
        if (is_kw(p, reserved[i]))
            perr(p, WRIT_EPARSE, p->t.off, "`%s` is a reserved identifier", reserved[i]);
    if (is_kw(p, "__cedar"))
        perr(p, WRIT_EPARSE, p->t.off, "use of the reserved `__cedar` namespace");
    const cv_string *s = pstr(p, p->src + p->t.off, p->t.len);
    next(p);
    return s;
}

static const cv_string *string_lit(P *p)
{
    if (p->t.kind != T_STR)
        unexpected(p, "a string literal");
    size_t n = p->t.len - 2;
    char *buf = palloc(p, n + 1);
    size_t bad = 0;
    long o = cedar_lex_unescape(p->src + p->t.off + 1, n, buf, &bad);
    if (o < 0)
        perr(p, WRIT_EPARSE, p->t.off + 1 + bad, "invalid escape in string literal");
    const cv_string *s = pstr(p, buf, (size_t)o);
    next(p);
    return s;
}

/* Path -> IDENT {'::' IDENT}, stopped before '::' STR when allow_ref.
 * `__cedar` is allowed as the first component only in type positions. */
static rpath path(P *p, bool allow_cedar, bool allow_ref)
{
    rpath r = {0};
    r.off = p->t.off;
    char buf[1024];
    size_t o = 0;
    bool first = true;
    for (;;) {
        if (p->t.kind != T_IDENT)
            unexpected(p, first ? "a name" : "an identifier");
        size_t off = p->t.off, n = p->t.len;
        if (first && allow_cedar && is_kw(p, "__cedar"))
            next(p);
        else
            ident(p, "an identifier");
        if (o + n + 2 > sizeof buf)
            perr(p, WRIT_ELIMIT, r.off, "name longer than %zu bytes", sizeof buf - 2);
        memcpy(buf + o, p->src + off, n);
        o += n;
        first = false;
        if (p->t.kind != T_DCOLON)
            break;
        tok nt = peek(p);
        if (nt.kind == T_STR && allow_ref)
            break;
        next(p);
        memcpy(buf + o, "::", 2);
        o += 2;
        r.qualified = true;
    }
    r.name = pstr(p, buf, o);
    return r;
}

typedef struct anno {
    size_t off;
    const char *name;
    size_t len;
} anno;

/* Annotations -> {'@' IDENT ['(' STR ')']}; duplicates are errors. */
static size_t annotations(P *p)
{
    anno seen[64];
    size_t n = 0, count = 0;
    size_t first = (size_t)-1;
    while (is_punct(p, '@')) {
        if (first == (size_t)-1)
            first = p->t.off;
        next(p);
        if (p->t.kind != T_IDENT)
            unexpected(p, "an annotation name");
        anno a = {p->t.off, p->src + p->t.off, p->t.len};
        for (size_t i = 0; i < n; i++)
            if (seen[i].len == a.len && !memcmp(seen[i].name, a.name, a.len))
                perr(p, WRIT_EPARSE, a.off, "duplicate annotations: `%.*s`", (int)a.len, a.name);
        if (n < sizeof seen / sizeof seen[0])
            seen[n++] = a;
        next(p);
        if (is_punct(p, '(')) {
            next(p);
            string_lit(p);
            expect(p, ')');
        }
        count++;
    }
    return count;
}

static rtype *type_expr(P *p);

/* RecType -> '{' [AttrDecl {',' AttrDecl} [',']] '}' */
static rtype *rec_type(P *p)
{
    rtype *t = palloc(p, sizeof *t);
    t->kind = RT_REC;
    t->off = p->t.off;
    expect(p, '{');
    size_t cap = 0;
    while (!is_punct(p, '}')) {
        annotations(p);
        t->attrs = grow(p, t->attrs, t->nattrs, &cap, sizeof *t->attrs);
        rattr *at = &t->attrs[t->nattrs];
        if (p->t.kind == T_STR)
            at->name = string_lit(p);
        else
            at->name = ident(p, "an attribute name");
        at->required = true;
        if (is_punct(p, '?')) {
            at->required = false;
            next(p);
        }
        expect(p, ':');
        at->type = type_expr(p);
        t->nattrs++;
        if (!is_punct(p, ','))
            break;
        next(p);
    }
    expect(p, '}');
    return t;
}

/* Type -> Path | 'Set' '<' Type '>' | RecType */
static rtype *type_expr(P *p)
{
    if (++p->depth > CEDAR_SCHEMA_MAX_DEPTH)
        perr(p, WRIT_ELIMIT, p->t.off, "types nest deeper than %d levels", CEDAR_SCHEMA_MAX_DEPTH);
    rtype *t;
    if (is_punct(p, '{')) {
        t = rec_type(p);
    } else if (is_kw(p, "Set") && peek(p).kind == T_PUNCT && peek(p).c == '<') {
        t = palloc(p, sizeof *t);
        t->kind = RT_SET;
        t->off = p->t.off;
        next(p);
        next(p);
        t->elem = type_expr(p);
        expect(p, '>');
    } else if (p->t.kind == T_IDENT) {
        rpath r = path(p, true, false);
        t = palloc(p, sizeof *t);
        t->kind = RT_NAME;
        t->off = r.off;
        t->name = r.name;
        t->qualified = r.qualified;
    } else {
        unexpected(p, "a type");
    }
    p->depth--;
    return t;
}

/* EntOrTyps -> Path | '[' Path {',' Path} ']' */
static rpath *ent_types(P *p, size_t *n)
{
    size_t cap = 0;
    rpath *v = NULL;
    *n = 0;
    if (!is_punct(p, '[')) {
        v = palloc(p, sizeof *v);
        v[0] = path(p, false, false);
        *n = 1;
        return v;
    }
    next(p);
    for (;;) {
        v = grow(p, v, *n, &cap, sizeof *v);
        v[(*n)++] = path(p, false, false);
        if (!is_punct(p, ','))
            break;
        next(p);
    }
    expect(p, ']');
    return v;
}

/* Ref -> Path '::' STR | Name */
static rref ref(P *p)
{
    rref r = {0};
    r.off = p->t.off;
    if (p->t.kind == T_STR) {
        r.id = string_lit(p);
        return r;
    }
    if (p->t.kind != T_IDENT)
        unexpected(p, "an action name");
    if (peek(p).kind != T_DCOLON) {
        r.id = ident(p, "an action name");
        return r;
    }
    rpath pa = path(p, false, true);
    r.type = pa.name;
    r.qualified = pa.qualified;
    if (p->t.kind != T_DCOLON)
        unexpected(p, "`::`");
    next(p);
    r.id = string_lit(p);
    return r;
}

static void add_name(P *p, rdecl *d, size_t *cap, const cv_string *s, size_t off)
{
    size_t c2 = *cap;
    d->names = grow(p, d->names, d->nnames, cap, sizeof *d->names);
    d->name_off = grow(p, d->name_off, d->nnames, &c2, sizeof *d->name_off);
    d->names[d->nnames] = s;
    d->name_off[d->nnames++] = off;
}

static rdecl *entity_decl(P *p)
{
    rdecl *d = palloc(p, sizeof *d);
    d->kind = D_ENTITY;
    d->off = p->t.off;
    next(p); /* 'entity' */
    size_t cap = 0;
    for (;;) {
        size_t off = p->t.off;
        add_name(p, d, &cap, ident(p, "an entity type name"), off);
        if (!is_punct(p, ','))
            break;
        next(p);
    }
    if (is_kw(p, "enum")) {
        next(p);
        expect(p, '[');
        size_t ecap = 0;
        for (;;) {
            d->enum_ids = grow(p, d->enum_ids, d->nenum, &ecap, sizeof *d->enum_ids);
            d->enum_ids[d->nenum++] = string_lit(p);
            if (!is_punct(p, ','))
                break;
            next(p);
        }
        expect(p, ']');
        d->is_enum = true;
        expect(p, ';');
        return d;
    }
    if (is_kw(p, "in")) {
        next(p);
        d->in = ent_types(p, &d->nin);
    }
    if (is_punct(p, '=')) {
        next(p);
        if (!is_punct(p, '{'))
            unexpected(p, "`{`");
    }
    if (is_punct(p, '{'))
        d->shape = rec_type(p);
    if (is_kw(p, "tags")) {
        next(p);
        d->tags = type_expr(p);
    }
    expect(p, ';');
    return d;
}

static rdecl *action_decl(P *p)
{
    rdecl *d = palloc(p, sizeof *d);
    d->kind = D_ACTION;
    d->off = p->t.off;
    next(p); /* 'action' */
    size_t cap = 0;
    for (;;) {
        size_t off = p->t.off;
        const cv_string *s = p->t.kind == T_STR ? string_lit(p) : ident(p, "an action name");
        add_name(p, d, &cap, s, off);
        if (!is_punct(p, ','))
            break;
        next(p);
    }
    if (is_kw(p, "in")) {
        next(p);
        size_t rcap = 0;
        if (is_punct(p, '[')) {
            next(p);
            while (!is_punct(p, ']')) {
                d->refs = grow(p, d->refs, d->nrefs, &rcap, sizeof *d->refs);
                d->refs[d->nrefs++] = ref(p);
                if (!is_punct(p, ','))
                    break;
                next(p);
            }
            expect(p, ']');
        } else {
            d->refs = palloc(p, sizeof *d->refs);
            d->refs[0] = ref(p);
            d->nrefs = 1;
        }
    }
    if (is_kw(p, "appliesTo")) {
        size_t at = p->t.off;
        next(p);
        expect(p, '{');
        bool hp = false, hr = false, hc = false;
        do {
            size_t off = p->t.off;
            if (is_kw(p, "principal") || is_kw(p, "resource")) {
                bool isp = is_kw(p, "principal");
                if (isp ? hp : hr)
                    perr(p, WRIT_EPARSE, off, "duplicate `%s` declaration in action `%s`",
                         isp ? "principal" : "resource", d->names[0]->data);
                next(p);
                expect(p, ':');
                size_t lo = p->t.off;
                bool empty = is_punct(p, '[') && peek(p).kind == T_PUNCT && peek(p).c == ']';
                if (empty)
                    perr(p, WRIT_EPARSE, lo, "for action `%s`, `%s` is `[]`, which is invalid",
                         d->names[0]->data, isp ? "principal" : "resource");
                if (isp) {
                    d->princ = ent_types(p, &d->nprinc);
                    hp = true;
                } else {
                    d->res = ent_types(p, &d->nres);
                    hr = true;
                }
            } else if (is_kw(p, "context")) {
                if (hc)
                    perr(p, WRIT_EPARSE, off, "duplicate context declaration in action `%s`",
                         d->names[0]->data);
                next(p);
                expect(p, ':');
                if (is_punct(p, '{'))
                    d->ctx = rec_type(p);
                else
                    d->ctx = type_expr(p);
                hc = true;
            } else {
                unexpected(p, "`principal`, `resource` or `context`");
            }
            if (!is_punct(p, ','))
                break;
            next(p);
        } while (!is_punct(p, '}'));
        expect(p, '}');
        if (!hp || !hr)
            perr(p, WRIT_EPARSE, at, "missing `%s` declaration for `%s`", hp ? "resource" : "principal",
                 d->names[0]->data);
        d->has_applies = true;
    }
    if (is_kw(p, "attributes")) {
        /* deprecated action attributes: accepted and ignored */
        next(p);
        rec_type(p);
    }
    expect(p, ';');
    return d;
}

static const char *const reserved_types[] = {"Bool",   "Boolean", "Long",      "String", "Set",
                                             "Record", "Entity",  "Extension", NULL};

static rdecl *type_decl(P *p)
{
    rdecl *d = palloc(p, sizeof *d);
    d->kind = D_TYPE;
    d->off = p->t.off;
    next(p); /* 'type' */
    size_t off = p->t.off, cap = 0;
    for (int i = 0; reserved_types[i]; i++)
        if (is_kw(p, reserved_types[i]))
            perr(p, WRIT_EPARSE, off, "this uses a reserved schema keyword: `%s`", reserved_types[i]);
    add_name(p, d, &cap, ident(p, "a type name"), off);
    expect(p, '=');
    d->def = type_expr(p);
    expect(p, ';');
    return d;
}

static rdecl *decl(P *p)
{
    if (is_kw(p, "entity"))
        return entity_decl(p);
    if (is_kw(p, "action"))
        return action_decl(p);
    if (is_kw(p, "type"))
        return type_decl(p);
    unexpected(p, "`entity`, `action`, `type` or `namespace`");
}

static rns *namespace_get(P *p, const cv_string *name, size_t off, bool explicit_ns)
{
    for (size_t i = 0; i < p->nns; i++)
        if (cv_string_eq(p->ns[i]->name, name)) {
            if (explicit_ns)
                perr(p, WRIT_EPARSE, off, "duplicate namespace id: `%s`", name->data);
            return p->ns[i];
        }
    p->ns = grow(p, p->ns, p->nns, &p->nscap, sizeof *p->ns);
    rns *n = palloc(p, sizeof *n);
    n->name = name;
    n->off = off;
    p->ns[p->nns++] = n;
    return n;
}

static void ns_add(P *p, rns *n, rdecl *d)
{
    n->decls = grow(p, n->decls, n->ndecls, &n->cap, sizeof *n->decls);
    n->decls[n->ndecls++] = d;
}

/* Schema -> {Namespace} */
static void parse_schema(P *p)
{
    rns *empty = NULL;
    next(p);
    while (p->t.kind != T_EOF) {
        annotations(p);
        if (is_kw(p, "namespace")) {
            next(p);
            rpath np = path(p, false, false);
            rns *n = namespace_get(p, np.name, np.off, true);
            expect(p, '{');
            while (!is_punct(p, '}')) {
                if (p->t.kind == T_EOF)
                    unexpected(p, "`}`");
                annotations(p);
                ns_add(p, n, decl(p));
            }
            next(p);
        } else {
            if (!empty)
                empty = namespace_get(p, pstr(p, "", 0), 0, false);
            ns_add(p, empty, decl(p));
        }
    }
}

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
    size_t nc, ne, na;
    cdef *c;
    edef *e;
    adef *ac;
} R;

static const cv_string *qualify(P *p, const cv_string *ns, const char *name, size_t n)
{
    if (!ns->len)
        return pstr(p, name, n);
    size_t tot = ns->len + 2 + n;
    char *buf = palloc(p, tot + 1);
    memcpy(buf, ns->data, ns->len);
    memcpy(buf + ns->len, "::", 2);
    memcpy(buf + ns->len + 2, name, n);
    return pstr(p, buf, tot);
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
            cs_type *t = palloc(p, sizeof *t);
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
        perr(r->p, WRIT_ESCHEMA, c->off, "cycle in common type references containing `%s`", c->name->data);
    c->state = 1;
    c->t = resolve_type(r, c->def, c->ns);
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
        t = palloc(p, sizeof *t);
        t->kind = CS_SET;
        t->elem = resolve_type(r, rt->elem, ns);
        return t;
    case RT_REC: {
        t = palloc(p, sizeof *t);
        t->kind = CS_RECORD;
        cs_attr *at = palloc(p, (rt->nattrs ? rt->nattrs : 1) * sizeof *at);
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
            perr(p, WRIT_ESCHEMA, rt->off, "failed to resolve type: %s", name->data);
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
            t = palloc(p, sizeof *t);
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
    perr(p, WRIT_ESCHEMA, rt->off, "failed to resolve type: %s", name->data);
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
    perr(r->p, WRIT_ESCHEMA, rp->off, "failed to resolve type: %s", rp->name->data);
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
    cand[nc++] = pstr(p, tn, tl);
    for (size_t i = 0; i < nc; i++) {
        const cv_uid *u = cv_uid_new(p->a, cand[i], rf->id);
        if (!u)
            perr(p, WRIT_ENOMEM, (size_t)-1, "out of memory");
        adef *a = find_action(r, u);
        if (a)
            return a->uid;
    }
    perr(p, WRIT_ESCHEMA, rf->off, "undeclared action: %s::\"%s\"", cand[nc - 1]->data, rf->id->data);
}

/* Depth-first search for a cycle in the action hierarchy. */
static void action_dfs(R *r, adef *a, const cs_action *acts)
{
    a->color = 1;
    const cs_action *ca = &acts[a->idx];
    for (size_t i = 0; i < ca->nparents; i++) {
        adef *pa = find_action(r, ca->parents[i]);
        if (pa->color == 1) {
            char b[200];
            cv_format(cv_entity(pa->uid), b, sizeof b);
            perr(r->p, WRIT_ESCHEMA, pa->off, "cycle in action hierarchy containing `%s`", b);
        }
        if (pa->color == 0)
            action_dfs(r, pa, acts);
    }
    a->color = 2;
}

static void collect(R *r, writ_schema *s)
{
    P *p = r->p;
    size_t cc = 0, ec = 0, ac = 0;
    const cv_string *action_s = pstr(p, "Action", 6);
    for (size_t i = 0; i < p->nns; i++) {
        rns *n = p->ns[i];
        for (size_t k = 0; k < n->ndecls; k++) {
            rdecl *d = n->decls[k];
            for (size_t m = 0; m < d->nnames; m++) {
                if (d->kind == D_TYPE) {
                    r->c = grow(p, r->c, r->nc, &cc, sizeof *r->c);
                    r->c[r->nc++] = (cdef){qualify(p, n->name, d->names[m]->data, d->names[m]->len),
                                           n->name,
                                           d->name_off[m],
                                           d->def,
                                           0,
                                           NULL};
                } else if (d->kind == D_ENTITY) {
                    r->e = grow(p, r->e, r->ne, &ec, sizeof *r->e);
                    r->e[r->ne++] = (edef){qualify(p, n->name, d->names[m]->data, d->names[m]->len), n->name,
                                           d->name_off[m], d};
                } else {
                    r->ac = grow(p, r->ac, r->na, &ac, sizeof *r->ac);
                    const cv_uid *u = cv_uid_new(p->a, qualify(p, n->name, action_s->data, 6), d->names[m]);
                    if (!u)
                        perr(p, WRIT_ENOMEM, (size_t)-1, "out of memory");
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
            perr(p, WRIT_ESCHEMA, r->c[i].off > r->c[i - 1].off ? r->c[i].off : r->c[i - 1].off,
                 "`%s` is declared twice", r->c[i].name->data);
    for (size_t i = 1; i < r->ne; i++)
        if (cv_string_eq(r->e[i].name, r->e[i - 1].name))
            perr(p, WRIT_ESCHEMA, r->e[i].off > r->e[i - 1].off ? r->e[i].off : r->e[i - 1].off,
                 "`%s` is declared twice", r->e[i].name->data);
    for (size_t i = 1; i < r->na; i++)
        if (cv_uid_eq(r->ac[i].uid, r->ac[i - 1].uid))
            perr(p, WRIT_ESCHEMA, r->ac[i].off > r->ac[i - 1].off ? r->ac[i].off : r->ac[i - 1].off,
                 "`%s` is declared twice", r->ac[i].uid->id->data);
    /* a namespaced name may not shadow a name of the empty namespace */
    for (size_t i = 0; i < r->nc + r->ne; i++) {
        const cv_string *name = i < r->nc ? r->c[i].name : r->e[i - r->nc].name;
        const cv_string *ns = i < r->nc ? r->c[i].ns : r->e[i - r->nc].ns;
        size_t off = i < r->nc ? r->c[i].off : r->e[i - r->nc].off;
        if (!ns->len)
            continue;
        const cv_string *base = pstr(p, name->data + ns->len + 2, name->len - ns->len - 2);
        if (find_common(r, base) || find_entity(r, base))
            perr(p, WRIT_ESCHEMA, off, "definition of `%s` illegally shadows the existing definition of `%s`",
                 name->data, base->data);
    }
    for (size_t i = 0; i < r->na; i++) {
        if (!r->ac[i].ns->len)
            continue;
        const cv_uid *u = cv_uid_new(p->a, action_s, r->ac[i].uid->id);
        if (!u)
            perr(p, WRIT_ENOMEM, (size_t)-1, "out of memory");
        if (find_action(r, u))
            perr(p, WRIT_ESCHEMA, r->ac[i].off,
                 "definition of `%s::\"%s\"` illegally shadows the existing definition of `Action::\"%s\"`",
                 r->ac[i].uid->type->data, u->id->data, u->id->data);
    }
    (void)s;
}

static const cs_type *empty_record(P *p)
{
    cs_type *t = palloc(p, sizeof *t);
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
    s->entity_types = palloc(p, (r->ne ? r->ne : 1) * sizeof *s->entity_types);
    for (size_t i = 0; i < r->ne; i++) {
        edef *e = &r->e[i];
        rdecl *d = e->d;
        cs_entity_type *et = &s->entity_types[i];
        et->name = e->name;
        et->shape = d->shape ? resolve_type(r, d->shape, e->ns) : empty_record(p);
        et->tags = d->tags ? resolve_type(r, d->tags, e->ns) : NULL;
        et->nparents = d->nin;
        et->parents = palloc(p, (d->nin ? d->nin : 1) * sizeof *et->parents);
        for (size_t k = 0; k < d->nin; k++)
            et->parents[k] = resolve_entity_name(r, &d->in[k], e->ns);
        et->is_enum = d->is_enum;
        et->nenum = d->nenum;
        et->enum_ids = d->enum_ids;
    }
    s->nactions = r->na;
    s->actions = palloc(p, (r->na ? r->na : 1) * sizeof *s->actions);
    for (size_t i = 0; i < r->na; i++) {
        adef *a = &r->ac[i];
        rdecl *d = a->d;
        cs_action *ca = &s->actions[i];
        a->idx = i;
        ca->uid = a->uid;
        ca->nparents = d->nrefs;
        ca->parents = palloc(p, (d->nrefs ? d->nrefs : 1) * sizeof *ca->parents);
        for (size_t k = 0; k < d->nrefs; k++)
            ca->parents[k] = resolve_action_ref(r, &d->refs[k], a->ns);
        ca->has_applies = d->has_applies;
        ca->nprincipals = d->nprinc;
        ca->principals = palloc(p, (d->nprinc ? d->nprinc : 1) * sizeof *ca->principals);
        for (size_t k = 0; k < d->nprinc; k++)
            ca->principals[k] = resolve_entity_name(r, &d->princ[k], a->ns);
        ca->nresources = d->nres;
        ca->resources = palloc(p, (d->nres ? d->nres : 1) * sizeof *ca->resources);
        for (size_t k = 0; k < d->nres; k++)
            ca->resources[k] = resolve_entity_name(r, &d->res[k], a->ns);
        if (d->ctx) {
            ca->context = resolve_type(r, d->ctx, a->ns);
            if (ca->context->kind != CS_RECORD) {
                char b[200];
                cv_format(cv_entity(a->uid), b, sizeof b);
                perr(p, WRIT_ESCHEMA, d->ctx->off,
                     "context for action %s is declared with a type other than `Record`", b);
            }
        } else {
            ca->context = empty_record(p);
        }
    }
    for (size_t i = 0; i < r->na; i++)
        if (r->ac[i].color == 0)
            action_dfs(r, &r->ac[i], s->actions);
}

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
        perr(p, WRIT_EPARSE, bad, "invalid UTF-8 in schema text");
    parse_schema(p);
    R r = {0};
    r.p = p;
    resolve(&r, s);
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
