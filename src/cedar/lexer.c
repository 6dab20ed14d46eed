/* lexer.c - Cedar tokens: identifiers, integers, strings, slots, symbols.
 * Whitespace and `//` comments are skipped.  String literals are returned
 * raw (with quotes); the parser unescapes them, since the rules differ for
 * `like` patterns. */
#include "cedar/lexer.h"

#include <string.h>

void cedar_lex_init(lexer *lx, const char *src, size_t len)
{
    lx->src = src;
    lx->len = len;
    lx->pos = 0;
    lx->err = NULL;
    lx->err_pos = 0;
    lx->schema = false;
}

static int is_ident_start(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_ident_char(int c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }

static token mk(lexer *lx, tok_kind k, size_t start)
{
    token t;
    t.kind = k;
    t.pos = (uint32_t)start;
    t.len = (uint32_t)(lx->pos - start);
    t.text = lx->src + start;
    return t;
}

static token fail(lexer *lx, const char *msg, size_t at)
{
    lx->err = msg;
    lx->err_pos = at;
    token t = {T_ERROR, (uint32_t)at, 0, lx->src + at};
    return t;
}

token cedar_lex_next(lexer *lx)
{
    const char *s = lx->src;
    size_t n = lx->len;
    for (;;) {
        while (lx->pos < n &&
               (s[lx->pos] == ' ' || s[lx->pos] == '\t' || s[lx->pos] == '\n' || s[lx->pos] == '\r' ||
                (!lx->schema && (s[lx->pos] == '\f' || s[lx->pos] == '\v'))))
            lx->pos++;
        if (lx->pos + 1 < n && s[lx->pos] == '/' && s[lx->pos + 1] == '/') {
            while (lx->pos < n && s[lx->pos] != '\n')
                lx->pos++;
            continue;
        }
        break;
    }
    size_t start = lx->pos;
    if (start >= n)
        return mk(lx, T_EOF, start);
    int c = (unsigned char)s[start];
    if (is_ident_start(c)) {
        while (lx->pos < n && is_ident_char((unsigned char)s[lx->pos]))
            lx->pos++;
        return mk(lx, T_IDENT, start);
    }
    if (c >= '0' && c <= '9') {
        while (lx->pos < n && s[lx->pos] >= '0' && s[lx->pos] <= '9')
            lx->pos++;
        return mk(lx, T_INT, start);
    }
    if (c == '"') {
        lx->pos++;
        while (lx->pos < n && s[lx->pos] != '"') {
            if (s[lx->pos] == '\\' && lx->pos + 1 < n)
                lx->pos++;
            lx->pos++;
        }
        if (lx->pos >= n)
            return fail(lx, "unterminated string literal", start);
        lx->pos++;
        return mk(lx, T_STR, start);
    }
    if (c == '?' && lx->schema) {
        lx->pos++;
        return mk(lx, T_QUESTION, start);
    }
    if (c == '?') {
        lx->pos++;
        while (lx->pos < n && is_ident_char((unsigned char)s[lx->pos]))
            lx->pos++;
        return mk(lx, T_SLOT, start);
    }
    lx->pos++;
    int d = lx->pos < n ? (unsigned char)s[lx->pos] : 0;
    switch (c) {
    case '(':
        return mk(lx, T_LPAREN, start);
    case ')':
        return mk(lx, T_RPAREN, start);
    case '[':
        return mk(lx, T_LBRACK, start);
    case ']':
        return mk(lx, T_RBRACK, start);
    case '{':
        return mk(lx, T_LBRACE, start);
    case '}':
        return mk(lx, T_RBRACE, start);
    case ',':
        return mk(lx, T_COMMA, start);
    case ';':
        return mk(lx, T_SEMI, start);
    case '.':
        return mk(lx, T_DOT, start);
    case '@':
        return mk(lx, T_AT, start);
    case '+':
        return mk(lx, T_PLUS, start);
    case '-':
        return mk(lx, T_MINUS, start);
    case '*':
        return mk(lx, T_STAR, start);
    case ':':
        if (d == ':') {
            lx->pos++;
            return mk(lx, T_COLONCOLON, start);
        }
        return mk(lx, T_COLON, start);
    case '=':
        if (lx->schema)
            return mk(lx, T_ASSIGN, start);
        if (d == '=') {
            lx->pos++;
            return mk(lx, T_EQ, start);
        }
        return fail(lx, "unexpected '=' (did you mean '=='?)", start);
    case '!':
        if (d == '=') {
            lx->pos++;
            return mk(lx, T_NE, start);
        }
        return mk(lx, T_NOT, start);
    case '<':
        if (d == '=' && !lx->schema) {
            lx->pos++;
            return mk(lx, T_LE, start);
        }
        return mk(lx, T_LT, start);
    case '>':
        if (d == '=' && !lx->schema) {
            lx->pos++;
            return mk(lx, T_GE, start);
        }
        return mk(lx, T_GT, start);
    case '&':
        if (d == '&') {
            lx->pos++;
            return mk(lx, T_AND, start);
        }
        return fail(lx, "unexpected '&' (did you mean '&&'?)", start);
    case '|':
        if (d == '|') {
            lx->pos++;
            return mk(lx, T_OR, start);
        }
        return fail(lx, "unexpected '|' (did you mean '||'?)", start);
    default:
        return fail(lx, "unexpected character", start);
    }
}

const char *cedar_tok_name(tok_kind k)
{
    static const char *names[] = {
        "end of input", "identifier", "integer", "string", "template slot", "'('", "')'",  "'['",
        "']'",          "'{'",        "'}'",     "','",    "';'",           "'.'", "'::'", "':'",
        "'@'",          "'=='",       "'!='",    "'<'",    "'<='",          "'>'", "'>='", "'&&'",
        "'||'",         "'!'",        "'+'",     "'-'",    "'*'",           "'='", "'?'",  "invalid token",
    };
    return (size_t)k < sizeof names / sizeof names[0] ? names[k] : "?";
}
