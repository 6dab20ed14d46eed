/* validate.h - the policy validator's types, shared by its three files:
 *
 *   validate_type.c   the types a Cedar expression can have (vt_*), their
 *                     least upper bound in strict mode, schema types read
 *                     as validator types, and printing for messages;
 *   validate_check.c  the typechecker: one expression, one request
 *                     environment, with the capabilities `has` gives;
 *   validate.c        the driver: entity and action names, the scope
 *                     against appliesTo, every (principal, action, resource)
 *                     environment, the result the public API hands out.
 *
 * Everything the validator builds lives in one arena per writ_validate()
 * call and goes with the result.
 */
#ifndef WRIT_CEDAR_VALIDATE_H
#define WRIT_CEDAR_VALIDATE_H

#include "cedar/ast.h"
#include "cedar/schema.h"

/* Booleans carry what the typechecker knows of their value: a condition
 * known false makes `&&` skip its right side, as the reference does. */
typedef enum vt_bool { VB_ANY = 0, VB_TRUE, VB_FALSE } vt_bool;

typedef enum vt_kind {
    VT_BOOL = 1,
    VT_LONG,
    VT_STRING,
    VT_ENTITY, /* .ety: one entity type (strict mode has no unions) */
    VT_SET,    /* .elem */
    VT_RECORD, /* .attrs, sorted by name, closed */
    VT_EXT,    /* .ext */
} vt_kind;

typedef struct vt_type vt_type;

typedef struct vt_attr {
    const cv_string *name;
    bool required;
    const vt_type *type;
} vt_attr;

struct vt_type {
    vt_kind kind;
    vt_bool b;
    cv_ext_kind ext;
    const cv_string *ety;
    const vt_type *elem;
    size_t nattrs;
    const vt_attr *attrs;
};

/* A capability: `e has a` (tag NULL) or `e.hasTag(tag)` held true.  A set
 * of them is a list sharing its tail: a union prepends copies of the
 * smaller side's cells, so a chain `a && b && ...` costs its length. */
typedef struct vt_cap vt_cap;
struct vt_cap {
    const ast_node *e;
    const cv_string *attr;
    const ast_node *tag;
    const vt_cap *next;
};

typedef const vt_cap *vt_caps; /* NULL: no capabilities */

/* One request environment: the action is known exactly. */
typedef struct vt_env {
    const cs_entity_type *principal;
    const cs_action *action;
    const cs_entity_type *resource;
} vt_env;

/* The typechecker's state for one policy in one environment. */
typedef struct vt_ctx {
    wr_arena *a;
    const writ_schema *schema;
    vt_env env;
    /* the first error: message and byte offset (0 when none yet) */
    bool failed;
    uint32_t err_pos;
    char err_msg[256];
} vt_ctx;

/* ---- validate_type.c */
const vt_type *cedar_vt_prim(vt_kind k); /* Long, String */
const vt_type *cedar_vt_boolean(vt_bool b);
const vt_type *cedar_vt_entity(wr_arena *a, const cv_string *ety);
const vt_type *cedar_vt_set(wr_arena *a, const vt_type *elem);
const vt_type *cedar_vt_ext(wr_arena *a, cv_ext_kind k);
/* A schema type as a validator type (NULL on OOM). */
const vt_type *cedar_vt_from_schema(wr_arena *a, const cs_type *t);
/* Least upper bound in strict mode, or NULL when there is none. */
const vt_type *cedar_vt_lub(wr_arena *a, const vt_type *x, const vt_type *y);
const vt_attr *cedar_vt_record_find(const vt_type *rec, const cv_string *name);
/* Print a type as Cedar's messages write it ("Long", "Set<User>",
 * "{a: Long, b?: String}"), cut to fit. */
void cedar_vt_print(const vt_type *t, char *buf, size_t cap);

/* Is ety1 the same as, or a possible descendant of, ety2 (by the schema's
 * `in` declarations, transitively)?  Is action a1 the same as, or in, a2? */
bool cedar_vt_type_descends(const writ_schema *s, const cv_string *ety1, const cv_string *ety2);
bool cedar_vt_action_descends(const writ_schema *s, const cv_uid *a1, const cv_uid *a2);

/* ---- validate_check.c */
/* The type of x under capabilities `in`; *out_caps gets what x being true
 * adds.  NULL when x does not typecheck (the error is in ctx). */
const vt_type *cedar_vt_check(vt_ctx *cx, const ast_node *x, vt_caps in, vt_caps *out_caps);
/* Structural equality of expressions (positions ignored). */
bool cedar_vt_expr_equal(const ast_node *x, const ast_node *y);

#endif
