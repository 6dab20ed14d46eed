/* policyset.h - a parsed, indexed, immutable set of policies. */
#ifndef WRIT_CEDAR_POLICYSET_H
#define WRIT_CEDAR_POLICYSET_H

#include "cedar/ast.h"
#include "writ/cedar.h"

/* The scope index (see policyset.c for the design). */

#define PKEY_NONE UINT32_MAX /* no key / type: matches nothing */

/* A policy filed under a key, with a digest of its scope: per dimension,
 * the pkey_bit of each key the scope names there (of the type id for
 * `is T`), or all bits if the dimension is unconstrained.  A request's
 * digest has the bits of the keys it marks and of its type id, plus
 * PBIT_REQUEST; a policy whose digest misses the request's in some
 * dimension cannot match. */
typedef struct pentry {
    uint32_t pol; /* index into writ_policyset.pol */
    uint32_t bits[3];
} pentry;

#define PBIT_REQUEST (1u << 31)
static inline uint32_t pkey_bit(uint32_t ord) { return 1u << (ord % 31); }

/* One uid named by some policy's scope in one dimension. */
typedef struct pidx_slot {
    const cv_uid *key; /* NULL = empty slot */
    uint64_t hash;     /* key->hash, compared before following key */
    uint32_t id;       /* key id: dense over the three dimensions */
    uint32_t ord;      /* order of insertion in its dimension */
    uint32_t nopt;     /* policies that could be filed here */
    uint32_t n, cap;
    pentry *pol; /* policies filed here, in policy order */
} pidx_slot;

typedef struct pidx {
    size_t cap; /* power of two, or 0 */
    size_t used;
    pidx_slot *slot;
} pidx;

/* An entity type named by some `is` in a principal or resource scope. */
typedef struct ptype_slot {
    const cv_string *type; /* NULL = empty slot */
    uint32_t id;
} ptype_slot;

enum { DIM_PRINCIPAL, DIM_ACTION, DIM_RESOURCE };

/* Key id 0 is marked for every request; type id 0 is no type. */
#define PKEY_ALWAYS 0u

/* A policy's scope in key and type ids, checked without touching the AST.
 * In each dimension d: key[d] must be marked (PKEY_ALWAYS if the scope
 * names no uid there), and be the request's own key if eq[d]; type[d], if
 * not 0, must be the request's type id.  What that cannot say goes by op
 * for the dimensions in `general` (bit d): `action in [A, B]` (any of
 * setkey[set .. set + nset) marked), and a scope that never matches (a uid
 * missing where one is needed, which only an unlinked template has). */
typedef struct pscope {
    uint32_t key[3];
    uint32_t type[3];
    uint8_t eq[3];
    uint8_t general;
    uint8_t op[3]; /* scope_op, or PSC_NEVER */
    uint32_t set, nset;
    uint32_t bits[3]; /* the digest, as in pentry */
} pscope;

enum { PSC_NEVER = SC_IS_IN + 1 };

struct writ_policyset {
    wr_arena *arena; /* the AST and everything it points to */
    const char *src; /* the policy text (in arena), for explanations */
    size_t srclen;
    uint32_t *line_start; /* offset of each line of src (in arena), nlines of them */
    size_t nlines;
    size_t n, cap;
    ast_policy **pol; /* templates included (never evaluated) */
    /* the index, rebuilt whole by each link (wr_malloc'd, freed with the set) */
    pidx dim[3];          /* by principal, action, resource uid */
    uint32_t nkeys;       /* key ids in use, over the three dimensions (and PKEY_ALWAYS) */
    bool has_is[3];       /* some scope of that dimension has an `is` */
    bool digest_exact[3]; /* at most 31 keys, no `is`: a key per digest bit */
    size_t ntypes, types_cap;
    ptype_slot *types; /* open addressing, types_cap a power of two or 0 */
    pscope *scope;     /* per policy (templates: unused) */
    uint32_t *setkey;  /* key ids of `action in [...]` lists */
    size_t nsetkey;
    pidx_slot always; /* policies with no key (key NULL) */
};

/* A set of the policies idx[0..n) of ps, indexed on its own; the policies
 * (their ASTs) and the text are ps's, so ps must outlive it.  NULL on OOM. */
writ_policyset *cedar_policyset_subset(const writ_policyset *ps, const uint32_t *idx, size_t n);
/* A set of every policy of a, then the policies idx[0..n) of b, indexed
 * on its own, for deciding only (no text: nothing to explain); a and b
 * must outlive it.  NULL on OOM. */
writ_policyset *cedar_policyset_join(const writ_policyset *a, const writ_policyset *b, const uint32_t *idx,
                                     size_t n);

const pidx_slot *cedar_pidx_find(const pidx *ix, const cv_uid *key);
/* The type id of an entity type, or PKEY_NONE if no scope names it. */
uint32_t cedar_ptype_find(const writ_policyset *ps, const cv_string *type);

#endif
