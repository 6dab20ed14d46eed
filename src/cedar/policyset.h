/* policyset.h - a parsed, indexed, immutable set of policies. */
#ifndef WRIT_CEDAR_POLICYSET_H
#define WRIT_CEDAR_POLICYSET_H

#include "cedar/ast.h"
#include "writ/cedar.h"

/* The scope index: policies filed under the one entity uid their scope is
 * most specific about (see policyset.c). */
typedef struct pidx_slot {
    const cv_uid *key;      /* NULL = empty slot */
    uint32_t n, cap;
    uint32_t *pol;          /* indices into writ_policyset.pol */
} pidx_slot;

typedef struct pidx {
    size_t cap;             /* power of two, or 0 */
    size_t used;
    pidx_slot *slot;
} pidx;

enum { DIM_PRINCIPAL, DIM_ACTION, DIM_RESOURCE };

struct writ_policyset {
    wr_arena *arena;        /* the AST and everything it points to */
    size_t n, cap;
    ast_policy **pol;       /* templates included (never evaluated) */
    pidx dim[3];            /* by principal, action, resource uid */
    uint32_t *unindexed;    /* policies that must always be considered */
    size_t nunindexed;
};

/* The policies whose scope could match: appended to out (deduplicated by
 * the caller's stamp array), see authorize.c. */
const pidx_slot *pidx_find(const pidx *ix, const cv_uid *key);

#endif
