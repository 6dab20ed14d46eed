/* parser.h - Cedar policy text -> AST (ast.h). */
#ifndef WRIT_CEDAR_PARSER_H
#define WRIT_CEDAR_PARSER_H

#include "cedar/ast.h"
#include "writ/writ.h"

/* Limits, each reported as WRIT_ELIMIT with the position where it hit. */
/* CEDAR_MAX_DEPTH (ast.h): nesting of expressions, both the parser's own
 * recursion and the height of the tree it builds. */
#define CEDAR_MAX_POLICY_BYTES (64u << 20)
/* Members one list may hold where each is checked against the others for
 * duplicates (a record literal's keys, a policy's annotations): past this
 * the check would cost the square of a long list (100,000 annotations on
 * one policy took 43 s). */
#define CEDAR_MAX_MEMBERS 10000

typedef struct cedar_parsed {
    size_t n;
    ast_policy **pol;   /* in source order; ids "policy0", "policy1", ... */
} cedar_parsed;

/* Parse a whole policy set into arena a.  On failure returns non-zero and
 * fills err (with line:column); the arena may hold garbage, free it. */
writ_status cedar_parse_policies(wr_arena *a, const char *src, size_t len, const char *id_prefix,
                                 size_t first_index, cedar_parsed *out, writ_error *err);

/* Parse one entity reference in Cedar syntax, e.g. `A::B::"id"`. */
writ_status cedar_parse_uid(wr_arena *a, const char *src, size_t len, const cv_uid **out, writ_error *err);

/* Is p[0..n) a valid entity type name: IDENT {'::' IDENT}, no reserved word
 * and no `__cedar` segment?  (What the reference accepts in JSON uids.) */
bool cedar_valid_type_name(const char *p, size_t n);

/* `Action` or `Namespace::Action`: the types of action entities. */
bool cedar_is_action_type(const cv_string *t);

/* Fill err with message and the line:column of offset pos in src. */
void cedar_error_at(writ_error *err, writ_status code, const char *src, size_t len, size_t pos,
                    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#endif
