/* schema_int.h - the two passes of the schema reader (schema.c), shared
 * between them: the raw tree the text parser (schema_text.c) builds, the
 * parser state that both passes use for their arena and their errors, and
 * the resolver (schema_resolve.c) that turns the raw tree into the model.
 * Errors unwind with longjmp to cedar_schema_parse(). */
#ifndef WRIT_CEDAR_SCHEMA_INT_H
#define WRIT_CEDAR_SCHEMA_INT_H

#include "cedar/lexer.h"
#include "cedar/schema.h"
#include "util/arena.h"

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>

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

/* The schema parser's view of lexer.c's tokens: the punctuation it knows
 * is one kind, told apart by its character. */
enum { ST_EOF = 0, ST_IDENT, ST_STR, ST_DCOLON, ST_PUNCT };

typedef struct tok {
    int kind;
    char c; /* ST_PUNCT */
    size_t off, len;
} tok;

typedef struct P {
    const char *src;
    size_t len;
    lexer lx; /* lexer.c in its schema mode */
    tok t;
    wr_arena *a;
    writ_error *err;
    jmp_buf jb;
    int depth;
    size_t nns, nscap;
    rns **ns;
} P;

/* Record the error (code, message, position of byte off; (size_t)-1 for
 * none) and unwind to cedar_schema_parse(). */
_Noreturn void cedar_schema_fail(P *p, writ_status code, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Zeroed arena memory (n 0 gives 1 byte); out of memory unwinds. */
void *cedar_schema_alloc(P *p, size_t n);
/* arr with room for one more than n elements of elem bytes (the capacity
 * doubles; old copies stay in the arena). */
void *cedar_schema_grow(P *p, void *arr, size_t n, size_t *cap, size_t elem);
const cv_string *cedar_schema_str(P *p, const char *s, size_t n);

/* Pass 1: the text (p->src, p->len) into p->ns, p->nns. */
void cedar_schema_parse_text(P *p);
/* Pass 2: p's namespaces into s (arrays in p->a, sorted). */
void cedar_schema_resolve(P *p, writ_schema *s);

#endif
