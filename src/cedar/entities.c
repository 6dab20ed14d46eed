/* entities.c - the entity store (see entities.h).
 *
 * Entities live in one growing array (insertion order) and are found through
 * an open-addressing index of array positions keyed by the uid hash.  Values
 * (uids, records) are built by the readers in the store's arena; the arrays
 * and tables here are plain heap memory owned by the store.
 *
 * Ancestors.  finish() walks, for each entity, the graph of parents
 * breadth-first with a visited table, so cycles end the walk instead of
 * looping.  A parent that is not an entity of the store is an ancestor but
 * has no parents of its own.  The result is stored per entity as a
 * power-of-two open-addressing table of uid pointers (load factor <= 1/2),
 * which makes `a in b` one lookup of a and one probe sequence for b.  After
 * finish() nothing is written, so concurrent readers need no locks.
 */
#include "cedar/entities.h"
#include "util/alloc.h"

#include <stdint.h>
#include <string.h>

struct cedar_entities {
    wr_arena *arena;
    cedar_entity *ents;     /* insertion order */
    size_t n, cap;
    size_t *index;          /* slots hold position + 1; 0 = empty */
    size_t index_cap;       /* power of two */
};

cedar_entities *cedar_entities_new(void)
{
    cedar_entities *es = wr_calloc(1, sizeof *es);
    if (!es)
        return NULL;
    es->arena = wr_arena_new(0);
    if (!es->arena) {
        wr_free(es);
        return NULL;
    }
    return es;
}

void cedar_entities_free(cedar_entities *es)
{
    if (!es)
        return;
    for (size_t i = 0; i < es->n; i++) {
        wr_free((void *)es->ents[i].anc);
        wr_free((void *)es->ents[i].anc_list);
    }
    wr_free(es->ents);
    wr_free(es->index);
    wr_arena_free(es->arena);
    wr_free(es);
}

wr_arena *cedar_entities_arena(cedar_entities *es) { return es->arena; }

size_t cedar_entities_count(const cedar_entities *es) { return es ? es->n : 0; }

const cedar_entity *cedar_entities_at(const cedar_entities *es, size_t i)
{
    return (es && i < es->n) ? &es->ents[i] : NULL;
}

/* Slot of uid in the index: the slot holding it, or the empty slot where it
 * would go. */
static size_t index_slot(const cedar_entities *es, const cv_uid *uid)
{
    size_t mask = es->index_cap - 1;
    size_t i = (size_t)uid->hash & mask;
    while (es->index[i] && !cv_uid_eq(es->ents[es->index[i] - 1].uid, uid))
        i = (i + 1) & mask;
    return i;
}

static int index_grow(cedar_entities *es)
{
    size_t ncap = es->index_cap ? es->index_cap * 2 : 64;
    if (ncap == 0 || ncap > SIZE_MAX / sizeof(size_t))
        return -1;
    size_t *old = es->index;
    size_t ocap = es->index_cap;
    es->index = wr_calloc(ncap, sizeof(size_t));
    if (!es->index) {
        es->index = old;
        return -1;
    }
    es->index_cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i])
            es->index[index_slot(es, es->ents[old[i] - 1].uid)] = old[i];
    wr_free(old);
    return 0;
}

const cedar_entity *cedar_entities_get(const cedar_entities *es, const cv_uid *uid)
{
    if (!es || !es->index_cap)
        return NULL;
    size_t s = es->index[index_slot(es, uid)];
    return s ? &es->ents[s - 1] : NULL;
}

int cedar_entities_add(cedar_entities *es, const cv_uid *uid, const cv_record *attrs,
                       const cv_record *tags, const cv_uid **parents, size_t nparents, bool *oom)
{
    if (oom)
        *oom = false;
    if (cedar_entities_get(es, uid))
        return -1;
    if ((es->n + 1) * 2 > es->index_cap && index_grow(es) < 0)
        goto nomem;
    if (es->n == es->cap) {
        size_t ncap = es->cap ? es->cap * 2 : 16;
        if (ncap > SIZE_MAX / sizeof(cedar_entity))
            goto nomem;
        cedar_entity *ne = wr_realloc(es->ents, ncap * sizeof *ne);
        if (!ne)
            goto nomem;
        es->ents = ne;
        es->cap = ncap;
    }
    cedar_entity *e = &es->ents[es->n];
    memset(e, 0, sizeof *e);
    e->uid = uid;
    e->attrs = attrs ? attrs : &cv_empty_record;
    e->tags = tags ? tags : &cv_empty_record;
    e->parents = parents;
    e->nparents = nparents;
    es->index[index_slot(es, uid)] = ++es->n;
    return 0;
nomem:
    if (oom)
        *oom = true;
    return -1;
}

/* ---- uid pointer sets (open addressing, power-of-two capacity) */

typedef struct uidset {
    const cv_uid **slot;
    size_t cap, n;
} uidset;

static bool uidset_has(const uidset *s, const cv_uid *u)
{
    if (!s->cap)
        return false;
    size_t mask = s->cap - 1;
    for (size_t i = (size_t)u->hash & mask; s->slot[i]; i = (i + 1) & mask)
        if (s->slot[i] == u || cv_uid_eq(s->slot[i], u))
            return true;
    return false;
}

static void uidset_put_nogrow(uidset *s, const cv_uid *u)
{
    size_t mask = s->cap - 1;
    size_t i = (size_t)u->hash & mask;
    while (s->slot[i])
        i = (i + 1) & mask;
    s->slot[i] = u;
    s->n++;
}

/* Insert u if absent; 1 if inserted, 0 if present, -1 on OOM. */
static int uidset_add(uidset *s, const cv_uid *u)
{
    if (uidset_has(s, u))
        return 0;
    if ((s->n + 1) * 2 > s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 8;
        if (ncap > SIZE_MAX / sizeof(void *))
            return -1;
        uidset old = *s;
        s->slot = wr_calloc(ncap, sizeof(void *));
        if (!s->slot) {
            *s = old;
            return -1;
        }
        s->cap = ncap;
        s->n = 0;
        for (size_t i = 0; i < old.cap; i++)
            if (old.slot[i])
                uidset_put_nogrow(s, old.slot[i]);
        wr_free(old.slot);
    }
    uidset_put_nogrow(s, u);
    return 1;
}

/* Breadth-first walk from e's parents.  The visited set becomes e's
 * ancestor table (it is exactly the set of reachable uids). */
static int compute_ancestors(cedar_entities *es, cedar_entity *e, const cv_uid ***queue, size_t *qcap)
{
    uidset seen = {0};
    size_t qh = 0, qt = 0;
    const cedar_entity *cur = e;
    for (;;) {
        for (size_t i = 0; cur && i < cur->nparents; i++) {
            int r = uidset_add(&seen, cur->parents[i]);
            if (r < 0)
                goto nomem;
            if (r == 0)
                continue;
            if (qt == *qcap) {
                size_t ncap = *qcap ? *qcap * 2 : 64;
                if (ncap > SIZE_MAX / sizeof(void *))
                    goto nomem;
                const cv_uid **nq = wr_realloc(*queue, ncap * sizeof *nq);
                if (!nq)
                    goto nomem;
                *queue = nq;
                *qcap = ncap;
            }
            (*queue)[qt++] = cur->parents[i];
        }
        if (qh == qt)
            break;
        cur = cedar_entities_get(es, (*queue)[qh++]);
    }
    /* the queue holds each ancestor once, in the order found */
    const cv_uid **list = NULL;
    if (qt) {
        if (!(list = wr_malloc(qt * sizeof *list)))
            goto nomem;
        memcpy(list, *queue, qt * sizeof *list);
    }
    e->anc = seen.slot;
    e->nanc_cap = seen.cap;
    e->anc_list = list;
    e->nanc = qt;
    return 0;
nomem:
    wr_free(seen.slot);
    return -1;
}

int cedar_entities_finish(cedar_entities *es)
{
    const cv_uid **queue = NULL;
    size_t qcap = 0, pairs = 0;
    for (size_t i = 0; i < es->n; i++) {
        wr_free((void *)es->ents[i].anc);
        wr_free((void *)es->ents[i].anc_list);
        es->ents[i].anc = NULL;
        es->ents[i].nanc_cap = 0;
        es->ents[i].anc_list = NULL;
        es->ents[i].nanc = 0;
    }
    for (size_t i = 0; i < es->n; i++) {
        if (compute_ancestors(es, &es->ents[i], &queue, &qcap) < 0) {
            wr_free(queue);
            return -1;
        }
        pairs += es->ents[i].nanc;
        if (pairs > CEDAR_MAX_ANCESTOR_PAIRS) {
            wr_free(queue);
            return -2; /* what was computed is freed with the store */
        }
    }
    wr_free(queue);
    return 0;
}

bool cedar_entity_has_ancestor(const cedar_entity *e, const cv_uid *b)
{
    if (!e->nanc_cap)
        return false;
    uidset s = {(const cv_uid **)e->anc, e->nanc_cap, 0};
    return uidset_has(&s, b);
}

bool cedar_entities_in(const cedar_entities *es, const cv_uid *a, const cv_uid *b)
{
    if (cv_uid_eq(a, b))
        return true;
    const cedar_entity *e = cedar_entities_get(es, a);
    if (!e || !e->nanc_cap)
        return false;
    uidset s = {(const cv_uid **)e->anc, e->nanc_cap, 0};
    return uidset_has(&s, b);
}
