/* lexer.h - tokens of Cedar policy text. */
#ifndef WRIT_CEDAR_LEXER_H
#define WRIT_CEDAR_LEXER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cedar/srctext.h"

typedef enum tok_kind {
    T_EOF,
    T_IDENT,
    T_INT,
    T_STR,
    T_SLOT,
    T_LPAREN,
    T_RPAREN,
    T_LBRACK,
    T_RBRACK,
    T_LBRACE,
    T_RBRACE,
    T_COMMA,
    T_SEMI,
    T_DOT,
    T_COLONCOLON,
    T_COLON,
    T_AT,
    T_EQ,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
    T_AND,
    T_OR,
    T_NOT,
    T_PLUS,
    T_MINUS,
    T_STAR,
    T_ASSIGN,   /* '=', schema text only */
    T_QUESTION, /* '?', schema text only */
    T_ERROR,
} tok_kind;

typedef struct token {
    tok_kind kind;
    uint32_t pos;     /* byte offset of the first character */
    uint32_t len;     /* bytes, quotes included for strings */
    const char *text; /* points into the source */
} token;

typedef struct lexer {
    const char *src;
    size_t len;
    size_t pos;
    const char *err; /* message for T_ERROR */
    size_t err_pos;
    /* Schema text (schema_text.c) rather than policies: '=' and '?' are
     * tokens of their own, '<' and '>' never join a following '=', and only
     * space, tab, CR and LF are white space. */
    bool schema;
} lexer;

void cedar_lex_init(lexer *lx, const char *src, size_t len);
/* Next token; T_ERROR with lx->err / lx->err_pos set on a bad character or
 * an unterminated string or comment. */
token cedar_lex_next(lexer *lx);
const char *cedar_tok_name(tok_kind k);

#endif
