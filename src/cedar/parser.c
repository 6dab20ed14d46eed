/* parser.c - recursive descent parser for Cedar policies (Cedar 4.x).
 *
 * The grammar, as in the Cedar language reference, with each production
 * written above the function that parses it.  Errors unwind with longjmp to
 * the single entry point (cedar_parse_policies / cedar_parse_uid): all memory
 * is in the caller's arena, so nothing leaks on the way out.
 *
 * A few rules of the reference that the grammar alone does not say:
 *   - at most 4 repeated unary `!` or `-`, and `!`/`-` do not mix;
 *   - `-` directly before an integer literal folds into it, which is how
 *     -9223372036854775808 is written;
 *   - relational operators do not chain (`a < b < c` is an error);
 *   - trailing commas are allowed in sets, records, argument lists and after
 *     the resource in the scope;
 *   - reserved words (true false if then else in is like has __cedar) are not
 *     attribute names, except in string form (`e["if"]`);
 *   - built-in methods check their arity here; extension functions check
 *     theirs at evaluation (the reference does the same);
 *   - an unknown function or method is a parse error.
 */
#include "cedar/parser.h"
#include "cedar/lexer.h"
#include "util/text.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct parser {
    lexer lx;
    token tok; /* current, not yet consumed */
    wr_arena *a;
    writ_error *err;
    jmp_buf jb;
    int depth;
    bool in_scope_slots; /* slots seen: this policy is a template */
    uint32_t prev_end;   /* offset just past the last token consumed */
} parser;

void cedar_error_at(writ_error *err, writ_status code, const char *src, size_t len, size_t pos,
                    const char *fmt, ...)
{
    if (!err)
        return;
    err->code = code;
    err->offset = pos;
    cedar_text_position(src, len, pos, &err->line, &err->col);
    va_list ap;
    va_start(ap, fmt);
    char msg[200];
    if (vsnprintf(msg, sizeof msg, fmt, ap) >= (int)sizeof msg)
        wr_utf8_cut(msg, sizeof msg - 1);
    va_end(ap);
    snprintf(err->msg, sizeof err->msg, "%u:%u: %s", err->line, err->col, msg);
}

static void fail_code(parser *p, writ_status code, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), noreturn));
static void fail_code(parser *p, writ_status code, size_t pos, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(msg, sizeof msg, fmt, ap) >= (int)sizeof msg)
        wr_utf8_cut(msg, sizeof msg - 1);
    va_end(ap);
    cedar_error_at(p->err, code, p->lx.src, p->lx.len, pos, "%s", msg);
    longjmp(p->jb, 1);
}

#define fail(p, pos, ...) fail_code((p), WRIT_EPARSE, (pos), __VA_ARGS__)

static void *alloc(parser *p, size_t n)
{
    void *m = wr_arena_calloc(p->a, 1, n);
    if (!m)
        fail_code(p, WRIT_ENOMEM, p->tok.pos, "out of memory");
    return m;
}

static void next(parser *p)
{
    p->prev_end = p->tok.pos + p->tok.len;
    p->tok = cedar_lex_next(&p->lx);
    if (p->tok.kind == T_ERROR)
        fail(p, p->lx.err_pos, "%s", p->lx.err);
}

/* Describe the current token for messages: `foo`, or "end of input". */
static const char *describe(parser *p, char *buf, size_t cap)
{
    if (p->tok.kind == T_EOF)
        return "end of input";
    size_t n = p->tok.len > 40 ? 40 : p->tok.len;
    snprintf(buf, cap, "`%.*s`%s", (int)n, p->tok.text, p->tok.len > 40 ? "..." : "");
    return buf;
}

static void __attribute__((noreturn)) unexpected(parser *p, const char *wanted)
{
    char b[64];
    if (wanted)
        fail(p, p->tok.pos, "unexpected %s, expected %s", describe(p, b, sizeof b), wanted);
    fail(p, p->tok.pos, "unexpected %s", describe(p, b, sizeof b));
}

static void expect(parser *p, tok_kind k)
{
    if (p->tok.kind != k)
        unexpected(p, cedar_tok_name(k));
    next(p);
}

static bool is_word(const token *t, const char *w)
{
    size_t n = strlen(w);
    return t->kind == T_IDENT && t->len == n && !memcmp(t->text, w, n);
}

static bool is_reserved(const token *t)
{
    static const char *const words[] = {"true", "false", "if", "then", "else", "in", "is", "like", "has"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (is_word(t, words[i]))
            return true;
    return is_word(t, "__cedar");
}

bool cedar_valid_type_name(const char *p, size_t n)
{
    size_t i = 0;
    for (;;) {
        size_t start = i;
        if (i >= n || !((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') || p[i] == '_'))
            return false;
        while (i < n && ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') || p[i] == '_' ||
                         (p[i] >= '0' && p[i] <= '9')))
            i++;
        token t = {T_IDENT, 0, (uint32_t)(i - start), p + start};
        if (is_reserved(&t))
            return false;
        if (i == n)
            return true;
        if (n - i < 3 || p[i] != ':' || p[i + 1] != ':')
            return false;
        i += 2;
    }
}

/* Identifiers used as names (attributes, record keys, path segments) may
 * not be reserved words. */
static void check_name(parser *p, const token *t)
{
    if (is_word(t, "__cedar"))
        fail(p, t->pos, "The name `__cedar` contains `__cedar`, which is reserved");
    if (is_reserved(t))
        fail(p, t->pos, "this identifier is reserved and cannot be used: %.*s", (int)t->len, t->text);
}

static void enter(parser *p)
{
    if (++p->depth > CEDAR_MAX_DEPTH)
        fail_code(p, WRIT_ELIMIT, p->tok.pos, "expression nested too deeply (limit %d)", CEDAR_MAX_DEPTH);
}

static void leave(parser *p) { p->depth--; }

static ast_node *node(parser *p, ast_kind k, uint32_t pos)
{
    ast_node *n = alloc(p, sizeof *n);
    n->kind = k;
    n->pos = pos;
    n->height = 1;
    return n;
}

static uint32_t max_height(uint32_t h, const ast_node *n) { return n && n->height > h ? n->height : h; }

static uint32_t max_height_of(uint32_t h, ast_node *const *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = max_height(h, items[i]);
    return h;
}

/* Give n, whose children are in place, its height, and refuse a tree deeper
 * than the evaluator walks.  The parser's own nesting (enter) does not see
 * chains like `1+1+...` or `a.b.c...`, which it reads in loops but which
 * build a tree as deep as they are long: this does.  Every node with
 * children goes through here. */
static ast_node *seal(parser *p, ast_node *n)
{
    uint32_t h = 0;
    switch (n->kind) {
    case A_LIT:
    case A_VAR:
    case A_SLOT:
        break;
    case A_AND:
    case A_OR:
        h = max_height_of(h, n->u.list.items, n->u.list.n);
        break;
    case A_SET:
        h = max_height_of(h, n->u.set.items, n->u.set.n);
        break;
    case A_RECORD:
        h = max_height_of(h, n->u.rec.vals, n->u.rec.n);
        break;
    case A_EXTCALL:
        h = max_height_of(h, n->u.call.args, n->u.call.n);
        break;
    case A_HAS:
    case A_GETATTR:
        h = max_height(h, n->u.attr.a);
        break;
    case A_LIKE:
        h = max_height(h, n->u.like.a);
        break;
    case A_IS:
        h = max_height(max_height(h, n->u.is.a), n->u.is.in);
        break;
    default: /* u.op: unary, binary, if, the built-in methods */
        h = max_height(max_height(max_height(h, n->u.op.a), n->u.op.b), n->u.op.c);
        break;
    }
    n->height = h + 1;
    if (n->height > CEDAR_MAX_DEPTH)
        fail_code(p, WRIT_ELIMIT, n->pos, "expression nested too deeply (limit %d)", CEDAR_MAX_DEPTH);
    return n;
}

static const cv_string *mkstr(parser *p, const char *s, size_t n)
{
    const cv_string *r = cv_string_new(p->a, s, n);
    if (!r)
        fail_code(p, WRIT_ENOMEM, p->tok.pos, "out of memory");
    return r;
}

/* ---- string literals --------------------------------------------------
 * escape ::= \n \r \t \\ \0 \' \" \xHH (HH <= 7f) \u{H..H} (1-6 digits)
 * and, in patterns only, \* for a literal star (a star escaped any other
 * way is still the wildcard).
 * Output goes to buf as int16 elements (bytes, or PAT_STAR for an unescaped
 * star when pattern is set). */

/* Unescape the current T_STR token into elements; returns the count. */
static size_t unescape(parser *p, const token *t, bool pattern, int16_t **out)
{
    const char *s = t->text + 1;
    size_t n = t->len - 2;
    int16_t *buf = alloc(p, (n + 1) * sizeof(int16_t));
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c == '*' && pattern) {
            buf[w++] = PAT_STAR;
            i++;
            continue;
        }
        if (c != '\\') {
            buf[w++] = c;
            i++;
            continue;
        }
        if (pattern && i + 1 < n && s[i + 1] == '*') {
            buf[w++] = '*';
            i += 2;
            continue;
        }
        size_t start = i;
        uint32_t cp;
        if (cedar_lex_escape(s, n, &i, &cp) < 0)
            fail(p, t->pos + 1 + start, "the input `%.*s` is not a valid escape", (int)(i - start),
                 s + start);
        /* Only the two characters `\*` make a literal star: the reference
         * unescapes first and takes any other star, `\u{2a}` or `\x2a`,
         * as the wildcard. */
        if (pattern && cp == '*') {
            buf[w++] = PAT_STAR;
            continue;
        }
        unsigned char u[4];
        size_t k = cedar_utf8_put(u, cp);
        for (size_t m = 0; m < k; m++)
            buf[w++] = u[m];
    }
    *out = buf;
    return w;
}

static const cv_string *string_lit(parser *p, const token *t)
{
    int16_t *el;
    size_t n = unescape(p, t, false, &el);
    char *bytes = alloc(p, n + 1);
    for (size_t i = 0; i < n; i++)
        bytes[i] = (char)(unsigned char)el[i];
    return mkstr(p, bytes, n);
}

/* ---- names and entity literals -----------------------------------------
 * Path ::= IDENT {'::' IDENT}
 * Entity ::= Path '::' STR
 * Parses a path whose first IDENT is the current token.  Stops before a
 * '::' that is followed by a string (then *entity_id is set) or at the
 * first token that is not '::'. */
static const cv_string *path(parser *p, const token **entity_id_tok, token *idtok)
{
    char buf[1024];
    size_t len = 0;
    uint32_t start = p->tok.pos;
    *entity_id_tok = NULL;
    for (;;) {
        if (p->tok.kind != T_IDENT)
            unexpected(p, "identifier");
        check_name(p, &p->tok);
        if (len + p->tok.len + 2 >= sizeof buf)
            fail_code(p, WRIT_ELIMIT, start, "name too long");
        memcpy(buf + len, p->tok.text, p->tok.len);
        len += p->tok.len;
        next(p);
        if (p->tok.kind != T_COLONCOLON)
            break;
        next(p);
        if (p->tok.kind == T_STR) {
            *idtok = p->tok;
            *entity_id_tok = idtok;
            next(p);
            break;
        }
        memcpy(buf + len, "::", 2);
        len += 2;
    }
    return mkstr(p, buf, len);
}

/* Entity ::= Path '::' STR   (the current token starts the path) */
static const cv_uid *entity_ref(parser *p)
{
    token idtok;
    const token *id;
    uint32_t pos = p->tok.pos;
    const cv_string *type = path(p, &id, &idtok);
    if (!id)
        fail(p, pos, "expected an entity uid, found `%s`", type->data);
    const cv_uid *u = cv_uid_new(p->a, type, string_lit(p, id));
    if (!u)
        fail_code(p, WRIT_ENOMEM, pos, "out of memory");
    return u;
}

/* The type after `is`: a path that must not end in an entity id. */
static const cv_string *is_type(parser *p)
{
    token idtok;
    const token *id;
    uint32_t tpos = p->tok.pos;
    const cv_string *type = path(p, &id, &idtok);
    if (id)
        fail(p, tpos, "expected an entity type after `is`, found an entity uid");
    return type;
}

/* ---- expressions ------------------------------------------------------- */
static ast_node *expr(parser *p);
static ast_node *add_expr(parser *p);

static size_t expr_list(parser *p, tok_kind close, ast_node ***out)
{
    ast_node *tmp[64];
    ast_node **items = tmp;
    size_t n = 0, cap = 64;
    while (p->tok.kind != close) {
        if (n == cap) {
            ast_node **bigger = alloc(p, 2 * cap * sizeof *bigger);
            memcpy(bigger, items, n * sizeof *items);
            items = bigger;
            cap *= 2;
        }
        items[n++] = expr(p);
        if (p->tok.kind != T_COMMA)
            break;
        next(p);
    }
    if (p->tok.kind != close)
        unexpected(p, cedar_tok_name(close));
    next(p);
    *out = alloc(p, (n ? n : 1) * sizeof **out);
    memcpy(*out, items, n * sizeof *items);
    return n;
}

/* Record ::= '{' [ (IDENT | STR) ':' Expr {',' ...} [','] ] '}' */
static ast_node *record(parser *p, uint32_t pos)
{
    size_t cap = 8, n = 0;
    const cv_string **keys = alloc(p, cap * sizeof *keys);
    ast_node **vals = alloc(p, cap * sizeof *vals);
    while (p->tok.kind != T_RBRACE) {
        const cv_string *k;
        uint32_t kpos = p->tok.pos;
        if (p->tok.kind == T_STR) {
            k = string_lit(p, &p->tok);
        } else if (p->tok.kind == T_IDENT) {
            check_name(p, &p->tok);
            k = mkstr(p, p->tok.text, p->tok.len);
        } else {
            unexpected(p, "record key");
        }
        next(p);
        expect(p, T_COLON);
        if (n >= CEDAR_MAX_MEMBERS)
            fail_code(p, WRIT_ELIMIT, kpos, "record literal with more than %d keys", CEDAR_MAX_MEMBERS);
        for (size_t i = 0; i < n; i++)
            if (cv_string_eq(keys[i], k))
                fail(p, kpos, "duplicate key `%s` in record literal", k->data);
        if (n == cap) {
            const cv_string **k2 = alloc(p, 2 * cap * sizeof *k2);
            ast_node **v2 = alloc(p, 2 * cap * sizeof *v2);
            memcpy(k2, keys, n * sizeof *keys);
            memcpy(v2, vals, n * sizeof *vals);
            keys = k2;
            vals = v2;
            cap *= 2;
        }
        keys[n] = k;
        vals[n] = expr(p);
        n++;
        if (p->tok.kind != T_COMMA)
            break;
        next(p);
    }
    expect(p, T_RBRACE);
    ast_node *r = node(p, A_RECORD, pos);
    r->u.rec.n = n;
    r->u.rec.keys = keys;
    r->u.rec.vals = vals;
    return seal(p, r);
}

/* An integer literal token as a value; `negate` folds a leading minus. */
static ast_node *int_lit(parser *p, const token *t, bool negate)
{
    uint64_t v = 0;
    for (uint32_t i = 0; i < t->len; i++) {
        unsigned d = (unsigned)(t->text[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            v = UINT64_MAX;
            break;
        }
        v = v * 10 + d;
    }
    uint64_t limit = negate ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (v > limit)
        fail(p, t->pos, "integer literal `%.*s` is too large", (int)t->len, t->text);
    ast_node *n = node(p, A_LIT, t->pos);
    if (negate)
        n->u.lit = cv_long(v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v);
    else
        n->u.lit = cv_long((int64_t)v);
    return n;
}

/* A constructor on a string literal (`ip("10.0.0.0/8")`, `decimal("1.5")`)
 * is computed once here instead of at every evaluation.  Extension
 * functions are pure, so this changes no answer; an invalid literal is left
 * as a call, to fail at evaluation as the reference does. */
static ast_node *fold_constructor(parser *p, ast_node *n)
{
    const cedar_extfn *fn = n->u.call.fn;
    if (fn->is_method || n->u.call.n != 1 || fn->nargs != 1 || n->u.call.args[0]->kind != A_LIT ||
        n->u.call.args[0]->u.lit.type != CV_STRING)
        return n;
    cv_value v;
    const char *msg = NULL;
    if (fn->fn(p->a, &n->u.call.args[0]->u.lit, &v, &msg) != 0)
        return n;
    ast_node *lit = node(p, A_LIT, n->pos);
    lit->u.lit = v;
    return lit;
}

/* A set of literals (`["us", "eu"]`) is likewise built once here: it cannot
 * fail, and building it at every evaluation (a sort) would be wasted. */
static ast_node *fold_set(parser *p, ast_node *n)
{
    size_t cnt = n->u.set.n;
    for (size_t i = 0; i < cnt; i++)
        if (n->u.set.items[i]->kind != A_LIT)
            return n;
    cv_value *items = cnt ? alloc(p, cnt * sizeof *items) : NULL;
    for (size_t i = 0; i < cnt; i++)
        items[i] = n->u.set.items[i]->u.lit;
    cv_value v = cv_set_new(p->a, items, cnt);
    if (v.type == CV_NONE)
        fail_code(p, WRIT_ENOMEM, n->pos, "out of memory");
    ast_node *lit = node(p, A_LIT, n->pos);
    lit->u.lit = v;
    return lit;
}

/* Primary ::= LITERAL | VAR | Entity | ExtFun '(' [ExprList] ')' | '(' Expr ')'
 *           | '[' [ExprList] ']' | '{' [RecInits] '}' */
static ast_node *primary(parser *p)
{
    token t = p->tok;
    switch (t.kind) {
    case T_INT:
        next(p);
        return int_lit(p, &t, false);
    case T_STR: {
        ast_node *n = node(p, A_LIT, t.pos);
        n->u.lit = cv_str(string_lit(p, &t));
        next(p);
        return n;
    }
    case T_SLOT:
        fail(p, t.pos, "found template slot %.*s in a condition clause", (int)t.len, t.text);
    case T_LPAREN: {
        next(p);
        ast_node *e = expr(p);
        expect(p, T_RPAREN);
        return e;
    }
    case T_LBRACK: {
        next(p);
        ast_node *n = node(p, A_SET, t.pos);
        n->u.set.n = expr_list(p, T_RBRACK, &n->u.set.items);
        return fold_set(p, seal(p, n));
    }
    case T_LBRACE:
        next(p);
        return record(p, t.pos);
    case T_IDENT:
        break;
    default:
        unexpected(p, NULL);
    }
    if (is_word(&t, "true") || is_word(&t, "false")) {
        next(p);
        ast_node *n = node(p, A_LIT, t.pos);
        n->u.lit = cv_bool(t.text[0] == 't');
        return n;
    }
    static const char *const vars[] = {"principal", "action", "resource", "context"};
    for (int i = 0; i < 4; i++) {
        if (is_word(&t, vars[i])) {
            next(p);
            if (p->tok.kind == T_COLONCOLON)
                fail(p, t.pos, "`%s` cannot be used as an entity type name", vars[i]);
            ast_node *n = node(p, A_VAR, t.pos);
            n->u.var = i;
            return n;
        }
    }
    token idtok;
    const token *id;
    const cv_string *name = path(p, &id, &idtok);
    if (id) {
        ast_node *n = node(p, A_LIT, t.pos);
        const cv_uid *u = cv_uid_new(p->a, name, string_lit(p, id));
        if (!u)
            fail_code(p, WRIT_ENOMEM, t.pos, "out of memory");
        n->u.lit = cv_entity(u);
        return n;
    }
    if (p->tok.kind == T_LPAREN) {
        const cedar_extfn *fn = cedar_ext_lookup(name->data, name->len, false);
        if (!fn)
            fail(p, t.pos, "`%s` is not a valid function", name->data);
        next(p);
        ast_node *n = node(p, A_EXTCALL, t.pos);
        n->u.call.fn = fn;
        n->u.call.n = expr_list(p, T_RPAREN, &n->u.call.args);
        return fold_constructor(p, seal(p, n));
    }
    if (strchr(name->data, ':'))
        fail(p, t.pos, "unexpected name `%s`: expected an entity uid or a function call", name->data);
    fail(p, t.pos, "invalid variable: %s", name->data);
}

static ast_node *unop(parser *p, ast_kind k, ast_node *a, uint32_t pos)
{
    ast_node *n = node(p, k, pos);
    n->u.op.a = a;
    return seal(p, n);
}

static ast_node *binop(parser *p, ast_kind k, ast_node *a, ast_node *b, uint32_t pos)
{
    ast_node *n = node(p, k, pos);
    n->u.op.a = a;
    n->u.op.b = b;
    return seal(p, n);
}

static ast_node *getattr(parser *p, ast_node *a, const cv_string *attr, uint32_t pos)
{
    ast_node *n = node(p, A_GETATTR, pos);
    n->u.attr.a = a;
    n->u.attr.attr = attr;
    return seal(p, n);
}

/* A method call: built-in (fixed arity, checked here) or extension. */
static ast_node *method(parser *p, ast_node *recv, const token *name)
{
    static const struct {
        const char *name;
        ast_kind kind;
        size_t nargs;
    } builtins[] = {
        {"contains", A_CONTAINS, 1}, {"containsAll", A_CONTAINSALL, 1}, {"containsAny", A_CONTAINSANY, 1},
        {"isEmpty", A_ISEMPTY, 0},   {"getTag", A_GETTAG, 1},           {"hasTag", A_HASTAG, 1},
    };
    ast_node **args;
    size_t n = expr_list(p, T_RPAREN, &args);
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
        if (!is_word(name, builtins[i].name))
            continue;
        if (n != builtins[i].nargs)
            fail(p, name->pos, "call to `%s` requires exactly %zu argument%s, but got %zu argument%s",
                 builtins[i].name, builtins[i].nargs, builtins[i].nargs == 1 ? "" : "s", n,
                 n == 1 ? "" : "s");
        ast_node *m = node(p, builtins[i].kind, name->pos);
        m->u.op.a = recv;
        m->u.op.b = n ? args[0] : NULL;
        return seal(p, m);
    }
    const cedar_extfn *fn = cedar_ext_lookup(name->text, name->len, true);
    if (!fn)
        fail(p, name->pos, "`%.*s` is not a valid method", (int)name->len, name->text);
    ast_node *m = node(p, A_EXTCALL, name->pos);
    m->u.call.fn = fn;
    m->u.call.n = n + 1;
    m->u.call.args = alloc(p, (n + 1) * sizeof *m->u.call.args);
    m->u.call.args[0] = recv;
    memcpy(m->u.call.args + 1, args, n * sizeof *args);
    return seal(p, m);
}

/* Member ::= Primary { Access }
 * Access ::= '.' IDENT ['(' [ExprList] ')'] | '[' STR ']' */
static ast_node *member(parser *p, bool *bare_int, token *int_tok)
{
    ast_node *e;
    *bare_int = false;
    if (p->tok.kind == T_INT) {
        token t = p->tok;
        next(p);
        if (p->tok.kind != T_DOT && p->tok.kind != T_LBRACK) {
            *bare_int = true;
            *int_tok = t;
            return NULL;
        }
        e = int_lit(p, &t, false); /* an access follows: no folding */
    } else {
        e = primary(p);
    }
    for (;;) {
        if (p->tok.kind == T_DOT) {
            next(p);
            if (p->tok.kind != T_IDENT)
                unexpected(p, "identifier");
            token name = p->tok;
            next(p);
            if (p->tok.kind == T_LPAREN) {
                next(p);
                e = method(p, e, &name);
                continue;
            }
            check_name(p, &name);
            e = getattr(p, e, mkstr(p, name.text, name.len), name.pos);
        } else if (p->tok.kind == T_LBRACK) {
            uint32_t pos = p->tok.pos;
            next(p);
            if (p->tok.kind != T_STR)
                unexpected(p, "string literal");
            const cv_string *k = string_lit(p, &p->tok);
            next(p);
            expect(p, T_RBRACK);
            e = getattr(p, e, k, pos);
        } else {
            return e;
        }
    }
}

/* Unary ::= ['!'{0,4} | '-'{0,4}] Member */
static ast_node *unary(parser *p)
{
    enter(p);
    tok_kind op = p->tok.kind;
    uint32_t pos = p->tok.pos;
    int count = 0;
    if (op == T_NOT || op == T_MINUS) {
        while (p->tok.kind == op) {
            count++;
            next(p);
        }
        if (count > 4)
            fail(p, pos, "too many occurrences of `%s`", op == T_NOT ? "!" : "-");
    }
    bool bare_int;
    token it;
    ast_node *e = member(p, &bare_int, &it);
    if (bare_int) {
        if (op == T_MINUS && count > 0) {
            e = int_lit(p, &it, true);
            count--;
        } else {
            e = int_lit(p, &it, false);
        }
    }
    while (count-- > 0)
        e = unop(p, op == T_NOT ? A_NOT : A_NEG, e, pos);
    leave(p);
    return e;
}

/* Mult ::= Unary { '*' Unary } */
static ast_node *mult(parser *p)
{
    ast_node *e = unary(p);
    while (p->tok.kind == T_STAR) {
        uint32_t pos = p->tok.pos;
        next(p);
        e = binop(p, A_MUL, e, unary(p), pos);
    }
    return e;
}

/* Add ::= Mult { ('+' | '-') Mult } */
static ast_node *add_expr(parser *p)
{
    ast_node *e = mult(p);
    while (p->tok.kind == T_PLUS || p->tok.kind == T_MINUS) {
        ast_kind k = p->tok.kind == T_PLUS ? A_ADD : A_SUB;
        uint32_t pos = p->tok.pos;
        next(p);
        e = binop(p, k, e, mult(p), pos);
    }
    return e;
}

static bool is_relop(parser *p, ast_kind *k)
{
    switch (p->tok.kind) {
    case T_EQ:
        *k = A_EQ;
        return true;
    case T_NE:
        *k = A_NE;
        return true;
    case T_LT:
        *k = A_LT;
        return true;
    case T_LE:
        *k = A_LE;
        return true;
    case T_GT:
        *k = A_GT;
        return true;
    case T_GE:
        *k = A_GE;
        return true;
    default:
        if (is_word(&p->tok, "in")) {
            *k = A_IN;
            return true;
        }
        return false;
    }
}

static bool at_relation_op(parser *p)
{
    ast_kind k;
    return is_relop(p, &k) || is_word(&p->tok, "has") || is_word(&p->tok, "like") || is_word(&p->tok, "is");
}

/* `e has a.b.c` means `e has a && e.a has b && e.a.b has c`. */
static ast_node *has_path(parser *p, ast_node *e, uint32_t pos)
{
    const cv_string *attrs[64];
    size_t n = 0;
    if (p->tok.kind == T_STR) {
        attrs[n++] = string_lit(p, &p->tok);
        next(p);
        if (p->tok.kind == T_DOT)
            fail(p, pos, "invalid RHS of a `has` operation: a string cannot start an attribute path");
    } else if (p->tok.kind == T_IDENT) {
        for (;;) {
            if (p->tok.kind != T_IDENT)
                unexpected(p, "identifier");
            check_name(p, &p->tok);
            if (n == 64)
                fail_code(p, WRIT_ELIMIT, p->tok.pos, "attribute path too long");
            attrs[n++] = mkstr(p, p->tok.text, p->tok.len);
            next(p);
            if (p->tok.kind != T_DOT)
                break;
            next(p);
        }
    } else {
        unexpected(p, "attribute name");
    }
    ast_node **tests = alloc(p, n * sizeof *tests), *base = e;
    for (size_t i = 0; i < n; i++) {
        ast_node *h = node(p, A_HAS, pos);
        h->u.attr.a = base;
        h->u.attr.attr = attrs[i];
        tests[i] = seal(p, h);
        if (i + 1 < n)
            base = getattr(p, base, attrs[i], pos);
    }
    if (n == 1)
        return tests[0];
    ast_node *all = node(p, A_AND, pos);
    all->u.list.n = n;
    all->u.list.items = tests;
    return seal(p, all);
}

/* Relation ::= Add [RELOP Add] | Add 'has' (IDENT{.IDENT} | STR) | Add 'like' PAT
 *            | Add 'is' Path ['in' Add] */
static ast_node *relation(parser *p)
{
    ast_node *e = add_expr(p);
    ast_kind k;
    uint32_t pos = p->tok.pos;
    if (is_relop(p, &k)) {
        next(p);
        e = binop(p, k, e, add_expr(p), pos);
    } else if (is_word(&p->tok, "has")) {
        next(p);
        e = has_path(p, e, pos);
    } else if (is_word(&p->tok, "like")) {
        next(p);
        if (p->tok.kind != T_STR)
            unexpected(p, "string literal");
        int16_t *el;
        size_t n = unescape(p, &p->tok, true, &el);
        next(p);
        ast_node *l = node(p, A_LIKE, pos);
        l->u.like.a = e;
        l->u.like.pat.n = n;
        l->u.like.pat.elem = el;
        e = seal(p, l);
    } else if (is_word(&p->tok, "is")) {
        next(p);
        ast_node *n = node(p, A_IS, pos);
        n->u.is.a = e;
        n->u.is.type = is_type(p);
        if (is_word(&p->tok, "in")) {
            next(p);
            n->u.is.in = add_expr(p);
        }
        e = seal(p, n);
    } else {
        return e;
    }
    if (at_relation_op(p))
        fail(p, p->tok.pos,
             "multiple relational operators (>, ==, in, etc.) must be used with parentheses to make ordering "
             "explicit");
    return e;
}

/* sub { op sub }: one node of kind k over all the operands, so that a
 * chain of any length is one level deep (a left-nested tree would be as
 * deep as the chain is long).  The evaluator goes through the operands in
 * order with the binary operator's short circuit, which is the same
 * answer and the same first error as the left-nested form. */
static ast_node *bool_chain(parser *p, tok_kind op, ast_kind k, ast_node *(*sub)(parser *))
{
    uint32_t first_at = p->tok.pos;
    ast_node *first = sub(p);
    if (p->tok.kind != op)
        return first;
    uint32_t pos = p->tok.pos;
    ast_node *tmp[64];
    uint32_t tmp_span[2 * 64];
    ast_node **items = tmp;
    uint32_t *span = tmp_span;
    size_t n = 0, cap = sizeof tmp / sizeof tmp[0];
    span[0] = first_at;
    span[1] = p->prev_end;
    items[n++] = first;
    while (p->tok.kind == op) {
        next(p);
        if (n == cap) {
            ast_node **bigger = alloc(p, 2 * cap * sizeof *bigger);
            uint32_t *bigger_span = alloc(p, 4 * cap * sizeof *bigger_span);
            memcpy(bigger, items, n * sizeof *items);
            memcpy(bigger_span, span, 2 * n * sizeof *span);
            items = bigger;
            span = bigger_span;
            cap *= 2;
        }
        span[2 * n] = p->tok.pos;
        items[n++] = sub(p);
        span[2 * n - 1] = p->prev_end;
    }
    ast_node *e = node(p, k, pos);
    e->u.list.n = n;
    e->u.list.items = alloc(p, n * sizeof *items);
    memcpy(e->u.list.items, items, n * sizeof *items);
    e->u.list.span = alloc(p, 2 * n * sizeof *span);
    memcpy(e->u.list.span, span, 2 * n * sizeof *span);
    return seal(p, e);
}

/* And ::= Relation { '&&' Relation } */
static ast_node *and_expr(parser *p) { return bool_chain(p, T_AND, A_AND, relation); }

/* Or ::= And { '||' And } */
static ast_node *or_expr(parser *p) { return bool_chain(p, T_OR, A_OR, and_expr); }

/* Expr ::= Or | 'if' Expr 'then' Expr 'else' Expr */
static ast_node *expr(parser *p)
{
    enter(p);
    ast_node *e;
    if (is_word(&p->tok, "if")) {
        uint32_t pos = p->tok.pos;
        next(p);
        e = node(p, A_IF, pos);
        e->u.op.a = expr(p);
        if (!is_word(&p->tok, "then"))
            unexpected(p, "`then`");
        next(p);
        e->u.op.b = expr(p);
        if (!is_word(&p->tok, "else"))
            unexpected(p, "`else`");
        next(p);
        e->u.op.c = expr(p);
        seal(p, e);
    } else {
        e = or_expr(p);
    }
    leave(p);
    return e;
}

/* ---- policies ----------------------------------------------------------
 * Policy ::= {Annotation} Effect '(' Scope ')' {Condition} ';'
 * Annotation ::= '@' IDENT ['(' STR ')']
 * Effect ::= 'permit' | 'forbid'
 * Scope ::= Principal ',' Action ',' Resource [',']
 * Principal ::= 'principal' [('==' | 'in') (Entity | '?principal')
 *                           | 'is' Path ['in' (Entity | '?principal')]]
 * Action ::= 'action' [ '==' Entity | 'in' ('[' EntList ']' | Entity) ]
 * Resource ::= like Principal, with '?resource'
 * Condition ::= ('when' | 'unless') '{' Expr '}' */

static void scope_target(parser *p, ast_scope *s, int slot)
{
    if (p->tok.kind == T_SLOT) {
        static const char *const names[] = {"?principal", "?resource"};
        const char *want = names[slot];
        if (p->tok.len != strlen(want) || memcmp(p->tok.text, want, p->tok.len))
            fail(p, p->tok.pos, "expected an entity uid or matching template slot, found %.*s instead of %s",
                 (int)p->tok.len, p->tok.text, want);
        s->slot = slot;
        s->uid = NULL;
        p->in_scope_slots = true;
        next(p);
        return;
    }
    if (p->tok.kind == T_LBRACK)
        fail(p, p->tok.pos, "expected single entity uid or template slot, found set of entity uids");
    if (p->tok.kind != T_IDENT)
        unexpected(p, "entity uid");
    s->uid = entity_ref(p);
}

static void scope_var(parser *p, const char *var)
{
    if (!is_word(&p->tok, var)) {
        if (p->tok.kind == T_IDENT)
            fail(p, p->tok.pos, "found the variable `%.*s` where the variable `%s` must be used",
                 (int)p->tok.len, p->tok.text, var);
        unexpected(p, var);
    }
    next(p);
}

static void principal_or_resource(parser *p, ast_scope *s, const char *var, int slot)
{
    s->slot = -1;
    scope_var(p, var);
    if (p->tok.kind == T_EQ) {
        next(p);
        s->op = SC_EQ;
        s->pos = p->tok.pos;
        scope_target(p, s, slot);
    } else if (is_word(&p->tok, "in")) {
        next(p);
        s->op = SC_IN;
        s->pos = p->tok.pos;
        scope_target(p, s, slot);
    } else if (is_word(&p->tok, "is")) {
        next(p);
        s->type_pos = p->tok.pos;
        s->type = is_type(p);
        s->op = SC_IS;
        if (is_word(&p->tok, "in")) {
            next(p);
            s->op = SC_IS_IN;
            s->pos = p->tok.pos;
            scope_target(p, s, slot);
        }
    } else {
        s->op = SC_ANY;
    }
}

bool cedar_is_action_type(const cv_string *t)
{
    return (t->len == 6 && !memcmp(t->data, "Action", 6)) ||
           (t->len > 8 && !memcmp(t->data + t->len - 8, "::Action", 8));
}

static const cv_uid *action_ref(parser *p)
{
    uint32_t pos = p->tok.pos;
    if (p->tok.kind != T_IDENT)
        unexpected(p, "entity uid");
    const cv_uid *u = entity_ref(p);
    if (!cedar_is_action_type(u->type)) {
        char b[128];
        cv_format(cv_entity(u), b, sizeof b);
        fail(p, pos, "expected an entity uid with type `Action` but got `%s`", b);
    }
    return u;
}

static void action_scope(parser *p, ast_scope *s)
{
    s->slot = -1;
    scope_var(p, "action");
    if (p->tok.kind == T_EQ) {
        next(p);
        s->op = SC_EQ;
        s->pos = p->tok.pos;
        s->uid = action_ref(p);
    } else if (is_word(&p->tok, "in")) {
        next(p);
        s->pos = p->tok.pos;
        if (p->tok.kind == T_LBRACK) {
            next(p);
            size_t cap = 4, n = 0;
            const cv_uid **u = alloc(p, cap * sizeof *u);
            uint32_t *up = alloc(p, cap * sizeof *up);
            while (p->tok.kind != T_RBRACK) {
                if (n == cap) {
                    const cv_uid **u2 = alloc(p, 2 * cap * sizeof *u2);
                    uint32_t *up2 = alloc(p, 2 * cap * sizeof *up2);
                    memcpy(u2, u, n * sizeof *u);
                    memcpy(up2, up, n * sizeof *up);
                    u = u2;
                    up = up2;
                    cap *= 2;
                }
                up[n] = p->tok.pos;
                u[n++] = action_ref(p);
                if (p->tok.kind != T_COMMA)
                    break;
                next(p);
            }
            expect(p, T_RBRACK);
            s->op = SC_IN_SET;
            s->n = n;
            s->uids = u;
            s->uids_pos = up;
        } else {
            s->op = SC_IN;
            s->uid = action_ref(p);
        }
    } else if (is_word(&p->tok, "is")) {
        fail(p, p->tok.pos, "`is` cannot appear in the action scope");
    } else {
        s->op = SC_ANY;
    }
}

static ast_policy *policy(parser *p)
{
    ast_policy *pol = alloc(p, sizeof *pol);
    pol->pos = p->tok.pos;
    p->in_scope_slots = false;
    size_t cap = 0;
    while (p->tok.kind == T_AT) {
        next(p);
        if (p->tok.kind != T_IDENT)
            unexpected(p, "annotation name");
        token key = p->tok;
        next(p);
        const cv_string *val = NULL;
        if (p->tok.kind == T_LPAREN) {
            next(p);
            if (p->tok.kind != T_STR)
                unexpected(p, "string literal");
            val = string_lit(p, &p->tok);
            next(p);
            expect(p, T_RPAREN);
        } else {
            val = mkstr(p, "", 0);
        }
        if (pol->nannot >= CEDAR_MAX_MEMBERS)
            fail_code(p, WRIT_ELIMIT, key.pos, "policy with more than %d annotations", CEDAR_MAX_MEMBERS);
        for (size_t i = 0; i < pol->nannot; i++)
            if (pol->annot[i].key->len == key.len && !memcmp(pol->annot[i].key->data, key.text, key.len))
                fail(p, key.pos, "duplicate annotation: @%.*s", (int)key.len, key.text);
        if (pol->nannot == cap) {
            cap = cap ? 2 * cap : 4;
            ast_annotation *a2 = alloc(p, cap * sizeof *a2);
            if (pol->nannot)
                memcpy(a2, pol->annot, pol->nannot * sizeof *a2);
            pol->annot = a2;
        }
        pol->annot[pol->nannot].key = mkstr(p, key.text, key.len);
        pol->annot[pol->nannot].value = val;
        pol->nannot++;
    }
    if (is_word(&p->tok, "permit"))
        pol->permit = true;
    else if (is_word(&p->tok, "forbid"))
        pol->permit = false;
    else
        unexpected(p, "`permit` or `forbid`");
    next(p);
    expect(p, T_LPAREN);
    principal_or_resource(p, &pol->principal, "principal", SLOT_PRINCIPAL);
    expect(p, T_COMMA);
    action_scope(p, &pol->action);
    expect(p, T_COMMA);
    principal_or_resource(p, &pol->resource, "resource", SLOT_RESOURCE);
    if (p->tok.kind == T_COMMA)
        next(p);
    expect(p, T_RPAREN);
    size_t ccap = 0;
    while (is_word(&p->tok, "when") || is_word(&p->tok, "unless")) {
        bool when = p->tok.text[0] == 'w';
        uint32_t kw = p->tok.pos;
        next(p);
        expect(p, T_LBRACE);
        if (p->tok.kind == T_RBRACE)
            fail(p, p->tok.pos, "`%s` condition clause cannot be empty", when ? "when" : "unless");
        uint32_t start = p->tok.pos;
        ast_node *e = expr(p);
        uint32_t end = p->prev_end;
        expect(p, T_RBRACE);
        if (pol->ncond == ccap) {
            ccap = ccap ? 2 * ccap : 2;
            ast_cond *c2 = alloc(p, ccap * sizeof *c2);
            if (pol->ncond)
                memcpy(c2, pol->cond, pol->ncond * sizeof *c2);
            pol->cond = c2;
        }
        pol->cond[pol->ncond].when = when;
        pol->cond[pol->ncond].expr = e;
        pol->cond[pol->ncond].pos = kw;
        pol->cond[pol->ncond].start = start;
        pol->cond[pol->ncond].end = end;
        pol->ncond++;
    }
    expect(p, T_SEMI);
    pol->end = p->prev_end;
    pol->is_template = p->in_scope_slots;
    return pol;
}

static writ_status begin(parser *p, wr_arena *a, const char *src, size_t len, writ_error *err)
{
    memset(p, 0, sizeof *p);
    p->a = a;
    p->err = err;
    cedar_lex_init(&p->lx, src, len);
    if (len > CEDAR_MAX_POLICY_BYTES) {
        cedar_error_at(err, WRIT_ELIMIT, src, len, 0, "policy text too large (%zu bytes, limit %u)", len,
                       CEDAR_MAX_POLICY_BYTES);
        return WRIT_ELIMIT;
    }
    size_t bad = cedar_utf8_check(src, len);
    if (bad != len) {
        cedar_error_at(err, WRIT_EPARSE, src, len, bad, "invalid UTF-8");
        return WRIT_EPARSE;
    }
    return WRIT_OK;
}

/* The one place that catches a parse error: everything the parse built is
 * in the arena, so unwinding needs no cleanup. */
static writ_status protected_call(parser *p, void (*fn)(parser *, void *), void *arg)
{
    if (setjmp(p->jb))
        return p->err->code;
    fn(p, arg);
    return WRIT_OK;
}

typedef struct policies_job {
    const char *id_prefix;
    size_t first_index;
    cedar_parsed *out;
} policies_job;

static void parse_all(parser *p, void *arg)
{
    policies_job *job = arg;
    next(p);
    size_t cap = 16, n = 0;
    ast_policy **pol = alloc(p, cap * sizeof *pol);
    while (p->tok.kind != T_EOF) {
        if (n == cap) {
            ast_policy **p2 = alloc(p, 2 * cap * sizeof *p2);
            memcpy(p2, pol, n * sizeof *pol);
            pol = p2;
            cap *= 2;
        }
        ast_policy *x = policy(p);
        char id[64];
        snprintf(id, sizeof id, "%s%zu", job->id_prefix ? job->id_prefix : "policy", job->first_index + n);
        x->id = wr_arena_strndup(p->a, id, strlen(id));
        if (!x->id)
            fail_code(p, WRIT_ENOMEM, x->pos, "out of memory");
        pol[n++] = x;
    }
    job->out->n = n;
    job->out->pol = pol;
}

writ_status cedar_parse_policies(wr_arena *a, const char *src, size_t len, const char *id_prefix,
                                 size_t first_index, cedar_parsed *out, writ_error *err)
{
    parser p;
    writ_error local;
    out->n = 0;
    out->pol = NULL;
    writ_status st = begin(&p, a, src, len, err ? err : &local);
    if (st)
        return st;
    policies_job job = {id_prefix, first_index, out};
    st = protected_call(&p, parse_all, &job);
    if (st) {
        out->n = 0;
        out->pol = NULL;
    }
    return st;
}

static void parse_one_uid(parser *p, void *arg)
{
    next(p);
    if (p->tok.kind != T_IDENT)
        unexpected(p, "entity uid");
    const cv_uid *u = entity_ref(p);
    if (p->tok.kind != T_EOF)
        unexpected(p, "end of input");
    *(const cv_uid **)arg = u;
}

writ_status cedar_parse_uid(wr_arena *a, const char *src, size_t len, const cv_uid **out, writ_error *err)
{
    parser p;
    writ_error local;
    *out = NULL;
    writ_status st = begin(&p, a, src, len, err ? err : &local);
    if (st)
        return st;
    const cv_uid *u = NULL;
    st = protected_call(&p, parse_one_uid, &u);
    if (!st)
        *out = u;
    return st;
}
