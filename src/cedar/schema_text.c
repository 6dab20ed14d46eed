/* schema_text.c - pass 1 of the schema reader: the human-readable text
 * into the raw tree (schema_int.h), declarations as written, names not yet
 * resolved.  The grammar is in schema.c. */
#include "cedar/schema_int.h"
#include "cedar/srctext.h"
#include "util/alloc.h"
#include "util/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void cedar_schema_fail(P *p, writ_status code, size_t off, const char *fmt, ...)
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

void *cedar_schema_alloc(P *p, size_t n)
{
    void *x = wr_arena_calloc(p->a, 1, n ? n : 1);
    if (!x)
        cedar_schema_fail(p, WRIT_ENOMEM, (size_t)-1, "out of memory");
    return x;
}

/* Append to an arena array that doubles (old copies stay in the arena). */
void *cedar_schema_grow(P *p, void *arr, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return arr;
    size_t ncap = *cap ? *cap * 2 : 4;
    void *na = cedar_schema_alloc(p, ncap * elem);
    if (n)
        memcpy(na, arr, n * elem);
    *cap = ncap;
    return na;
}

const cv_string *cedar_schema_str(P *p, const char *s, size_t n)
{
    const cv_string *r = cv_string_new(p->a, s, n);
    if (!r)
        cedar_schema_fail(p, WRIT_ENOMEM, (size_t)-1, "out of memory");
    return r;
}

/* ---- tokens: lexer.c's, in its schema mode */

static void next(P *p)
{
    token k = cedar_lex_next(&p->lx);
    tok *t = &p->t;
    t->off = k.pos;
    t->len = k.len;
    t->c = 0;
    switch (k.kind) {
    case T_EOF:
        t->kind = ST_EOF;
        return;
    case T_IDENT:
        t->kind = ST_IDENT;
        return;
    case T_STR:
        t->kind = ST_STR;
        return;
    case T_COLONCOLON:
        t->kind = ST_DCOLON;
        return;
    case T_LBRACE:
    case T_RBRACE:
    case T_LBRACK:
    case T_RBRACK:
    case T_LPAREN:
    case T_RPAREN:
    case T_LT:
    case T_GT:
    case T_COMMA:
    case T_SEMI:
    case T_COLON:
    case T_ASSIGN:
    case T_QUESTION:
    case T_AT:
        t->kind = ST_PUNCT;
        t->c = k.text[0];
        return;
    case T_ERROR:
        if (!strcmp(p->lx.err, "unterminated string literal"))
            cedar_schema_fail(p, WRIT_EPARSE, p->lx.err_pos, "unterminated string literal");
        cedar_schema_fail(p, WRIT_EPARSE, k.pos, "invalid token");
    default: /* numbers, operators: nothing a schema has */
        cedar_schema_fail(p, WRIT_EPARSE, k.pos, "invalid token");
    }
}

static void describe(P *p, char *buf, size_t cap)
{
    if (p->t.kind == ST_EOF)
        snprintf(buf, cap, "end of input");
    else
        snprintf(buf, cap, "`%.*s`", (int)(p->t.len > 40 ? 40 : p->t.len), p->src + p->t.off);
}

static _Noreturn void unexpected(P *p, const char *wanted)
{
    char b[64];
    describe(p, b, sizeof b);
    cedar_schema_fail(p, WRIT_EPARSE, p->t.off, "unexpected token %s, expected %s", b, wanted);
}

static bool is_punct(P *p, char c) { return p->t.kind == ST_PUNCT && p->t.c == c; }

static bool is_kw(P *p, const char *kw)
{
    size_t n = strlen(kw);
    return p->t.kind == ST_IDENT && p->t.len == n && !memcmp(p->src + p->t.off, kw, n);
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
    lexer save = p->lx;
    tok cur = p->t;
    next(p);
    tok r = p->t;
    p->lx = save;
    p->t = cur;
    return r;
}

static const char *const reserved[] = {"true", "false", "if",   "then", "else",
                                       "in",   "is",    "like", "has",  NULL};

/* IDENT that names something (not a reserved word). */
static const cv_string *ident(P *p, const char *what)
{
    if (p->t.kind != ST_IDENT)
        unexpected(p, what);
    for (int i = 0; reserved[i]; i++)
        if (is_kw(p, reserved[i]))
            cedar_schema_fail(p, WRIT_EPARSE, p->t.off, "`%s` is a reserved identifier", reserved[i]);
    if (is_kw(p, "__cedar"))
        cedar_schema_fail(p, WRIT_EPARSE, p->t.off, "use of the reserved `__cedar` namespace");
    const cv_string *s = cedar_schema_str(p, p->src + p->t.off, p->t.len);
    next(p);
    return s;
}

static const cv_string *string_lit(P *p)
{
    if (p->t.kind != ST_STR)
        unexpected(p, "a string literal");
    size_t n = p->t.len - 2;
    char *buf = cedar_schema_alloc(p, n + 1);
    size_t bad = 0;
    long o = cedar_lex_unescape(p->src + p->t.off + 1, n, buf, &bad);
    if (o < 0)
        cedar_schema_fail(p, WRIT_EPARSE, p->t.off + 1 + bad, "invalid escape in string literal");
    const cv_string *s = cedar_schema_str(p, buf, (size_t)o);
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
        if (p->t.kind != ST_IDENT)
            unexpected(p, first ? "a name" : "an identifier");
        size_t off = p->t.off, n = p->t.len;
        if (first && allow_cedar && is_kw(p, "__cedar"))
            next(p);
        else
            ident(p, "an identifier");
        if (o + n + 2 > sizeof buf)
            cedar_schema_fail(p, WRIT_ELIMIT, r.off, "name longer than %zu bytes", sizeof buf - 2);
        memcpy(buf + o, p->src + off, n);
        o += n;
        first = false;
        if (p->t.kind != ST_DCOLON)
            break;
        tok nt = peek(p);
        if (nt.kind == ST_STR && allow_ref)
            break;
        next(p);
        memcpy(buf + o, "::", 2);
        o += 2;
        r.qualified = true;
    }
    r.name = cedar_schema_str(p, buf, o);
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
        if (p->t.kind != ST_IDENT)
            unexpected(p, "an annotation name");
        anno a = {p->t.off, p->src + p->t.off, p->t.len};
        for (size_t i = 0; i < n; i++)
            if (seen[i].len == a.len && !memcmp(seen[i].name, a.name, a.len))
                cedar_schema_fail(p, WRIT_EPARSE, a.off, "duplicate annotations: `%.*s`", (int)a.len, a.name);
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
    rtype *t = cedar_schema_alloc(p, sizeof *t);
    t->kind = RT_REC;
    t->off = p->t.off;
    expect(p, '{');
    size_t cap = 0;
    while (!is_punct(p, '}')) {
        annotations(p);
        t->attrs = cedar_schema_grow(p, t->attrs, t->nattrs, &cap, sizeof *t->attrs);
        rattr *at = &t->attrs[t->nattrs];
        if (p->t.kind == ST_STR)
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
        cedar_schema_fail(p, WRIT_ELIMIT, p->t.off, "types nest deeper than %d levels",
                          CEDAR_SCHEMA_MAX_DEPTH);
    rtype *t;
    if (is_punct(p, '{')) {
        t = rec_type(p);
    } else if (is_kw(p, "Set") && peek(p).kind == ST_PUNCT && peek(p).c == '<') {
        t = cedar_schema_alloc(p, sizeof *t);
        t->kind = RT_SET;
        t->off = p->t.off;
        next(p);
        next(p);
        t->elem = type_expr(p);
        expect(p, '>');
    } else if (p->t.kind == ST_IDENT) {
        rpath r = path(p, true, false);
        t = cedar_schema_alloc(p, sizeof *t);
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
        v = cedar_schema_alloc(p, sizeof *v);
        v[0] = path(p, false, false);
        *n = 1;
        return v;
    }
    next(p);
    for (;;) {
        v = cedar_schema_grow(p, v, *n, &cap, sizeof *v);
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
    if (p->t.kind == ST_STR) {
        r.id = string_lit(p);
        return r;
    }
    if (p->t.kind != ST_IDENT)
        unexpected(p, "an action name");
    if (peek(p).kind != ST_DCOLON) {
        r.id = ident(p, "an action name");
        return r;
    }
    rpath pa = path(p, false, true);
    r.type = pa.name;
    r.qualified = pa.qualified;
    if (p->t.kind != ST_DCOLON)
        unexpected(p, "`::`");
    next(p);
    r.id = string_lit(p);
    return r;
}

static void add_name(P *p, rdecl *d, size_t *cap, const cv_string *s, size_t off)
{
    size_t c2 = *cap;
    d->names = cedar_schema_grow(p, d->names, d->nnames, cap, sizeof *d->names);
    d->name_off = cedar_schema_grow(p, d->name_off, d->nnames, &c2, sizeof *d->name_off);
    d->names[d->nnames] = s;
    d->name_off[d->nnames++] = off;
}

static rdecl *entity_decl(P *p)
{
    rdecl *d = cedar_schema_alloc(p, sizeof *d);
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
            d->enum_ids = cedar_schema_grow(p, d->enum_ids, d->nenum, &ecap, sizeof *d->enum_ids);
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
    rdecl *d = cedar_schema_alloc(p, sizeof *d);
    d->kind = D_ACTION;
    d->off = p->t.off;
    next(p); /* 'action' */
    size_t cap = 0;
    for (;;) {
        size_t off = p->t.off;
        const cv_string *s = p->t.kind == ST_STR ? string_lit(p) : ident(p, "an action name");
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
                d->refs = cedar_schema_grow(p, d->refs, d->nrefs, &rcap, sizeof *d->refs);
                d->refs[d->nrefs++] = ref(p);
                if (!is_punct(p, ','))
                    break;
                next(p);
            }
            expect(p, ']');
        } else {
            d->refs = cedar_schema_alloc(p, sizeof *d->refs);
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
                    cedar_schema_fail(p, WRIT_EPARSE, off, "duplicate `%s` declaration in action `%s`",
                                      isp ? "principal" : "resource", d->names[0]->data);
                next(p);
                expect(p, ':');
                size_t lo = p->t.off;
                bool empty = is_punct(p, '[') && peek(p).kind == ST_PUNCT && peek(p).c == ']';
                if (empty)
                    cedar_schema_fail(p, WRIT_EPARSE, lo, "for action `%s`, `%s` is `[]`, which is invalid",
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
                    cedar_schema_fail(p, WRIT_EPARSE, off, "duplicate context declaration in action `%s`",
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
            cedar_schema_fail(p, WRIT_EPARSE, at, "missing `%s` declaration for `%s`",
                              hp ? "resource" : "principal", d->names[0]->data);
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
    rdecl *d = cedar_schema_alloc(p, sizeof *d);
    d->kind = D_TYPE;
    d->off = p->t.off;
    next(p); /* 'type' */
    size_t off = p->t.off, cap = 0;
    for (int i = 0; reserved_types[i]; i++)
        if (is_kw(p, reserved_types[i]))
            cedar_schema_fail(p, WRIT_EPARSE, off, "this uses a reserved schema keyword: `%s`",
                              reserved_types[i]);
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
    if (p->nns >= CEDAR_SCHEMA_MAX_MEMBERS) /* each new one is compared with all before it */
        cedar_schema_fail(p, WRIT_ELIMIT, off, "more than %u namespaces", CEDAR_SCHEMA_MAX_MEMBERS);
    for (size_t i = 0; i < p->nns; i++)
        if (cv_string_eq(p->ns[i]->name, name)) {
            if (explicit_ns)
                cedar_schema_fail(p, WRIT_EPARSE, off, "duplicate namespace id: `%s`", name->data);
            return p->ns[i];
        }
    p->ns = cedar_schema_grow(p, p->ns, p->nns, &p->nscap, sizeof *p->ns);
    rns *n = cedar_schema_alloc(p, sizeof *n);
    n->name = name;
    n->off = off;
    p->ns[p->nns++] = n;
    return n;
}

static void ns_add(P *p, rns *n, rdecl *d)
{
    n->decls = cedar_schema_grow(p, n->decls, n->ndecls, &n->cap, sizeof *n->decls);
    n->decls[n->ndecls++] = d;
}

/* Schema -> {Namespace} */
void cedar_schema_parse_text(P *p)
{
    cedar_lex_init(&p->lx, p->src, p->len);
    p->lx.schema = true;
    rns *empty = NULL;
    next(p);
    while (p->t.kind != ST_EOF) {
        annotations(p);
        if (is_kw(p, "namespace")) {
            next(p);
            rpath np = path(p, false, false);
            rns *n = namespace_get(p, np.name, np.off, true);
            expect(p, '{');
            while (!is_punct(p, '}')) {
                if (p->t.kind == ST_EOF)
                    unexpected(p, "`}`");
                annotations(p);
                ns_add(p, n, decl(p));
            }
            next(p);
        } else {
            if (!empty)
                empty = namespace_get(p, cedar_schema_str(p, "", 0), 0, false);
            ns_add(p, empty, decl(p));
        }
    }
}
