/* entities.h - the entity store: uid -> attributes, tags, ancestors.
 *
 * Loaded once (from Cedar's JSON entity format, see json.h), then read by
 * many evaluations at the same time: after cedar_entities_finish() a store is
 * immutable and safe to share between threads.
 *
 * `in` is transitive.  finish() computes each entity's full ancestor set once
 * (parents, their parents, ...; cycles are tolerated), so `a in b` is one
 * lookup of a plus one hash probe, whatever the depth.  Parents that are not
 * themselves entities of the store are still ancestors.
 */
#ifndef WRIT_CEDAR_ENTITIES_H
#define WRIT_CEDAR_ENTITIES_H

#include "cedar/value.h"

typedef struct cedar_entity {
    const cv_uid *uid;
    const cv_record *attrs;     /* never NULL; &cv_empty_record if none */
    const cv_record *tags;      /* never NULL; &cv_empty_record if none */
    size_t nparents;
    const cv_uid **parents;     /* direct parents, as given */
    /* Transitive ancestors (excluding self unless in a cycle), an open
     * addressing table of nanc_cap slots (power of two, NULL = empty),
     * filled by cedar_entities_finish(). */
    size_t nanc_cap;
    const cv_uid **anc;
    /* The same ancestors as a list (nearest first), for walking them. */
    size_t nanc;
    const cv_uid **anc_list;
} cedar_entity;

typedef struct cedar_entities cedar_entities;

cedar_entities *cedar_entities_new(void);
void cedar_entities_free(cedar_entities *es);     /* NULL is a no-op */
/* The arena the store's values live in; readers build values here. */
wr_arena *cedar_entities_arena(cedar_entities *es);

/* Add an entity (the store keeps the pointers; build them in its arena).
 * Returns 0, or -1 if the uid is already present (the caller reports a
 * duplicate entity) or on OOM (*oom set). */
int cedar_entities_add(cedar_entities *es, const cv_uid *uid, const cv_record *attrs,
                       const cv_record *tags, const cv_uid **parents, size_t nparents, bool *oom);
/* Every entity keeps the set of all its ancestors, so a deep hierarchy
 * costs the square of its depth (a chain of 20,000 entities: 2e8 pairs, 6
 * GB).  More pairs than this in one store are refused. */
#define CEDAR_MAX_ANCESTOR_PAIRS ((size_t)8 << 20)
/* Compute ancestor sets.  Call once after the last add; 0, -1 on OOM, or
 * -2 past CEDAR_MAX_ANCESTOR_PAIRS. */
int cedar_entities_finish(cedar_entities *es);

size_t cedar_entities_count(const cedar_entities *es);
const cedar_entity *cedar_entities_at(const cedar_entities *es, size_t i);  /* insertion order */
const cedar_entity *cedar_entities_get(const cedar_entities *es, const cv_uid *uid);
/* Is b an ancestor of the entity?  (One probe; for callers that already
 * hold the entity.) */
bool cedar_entity_has_ancestor(const cedar_entity *e, const cv_uid *b);
/* a == b, or b is an ancestor of a. */
bool cedar_entities_in(const cedar_entities *es, const cv_uid *a, const cv_uid *b);

#endif
