/* request.c - per-request entity attributes (writ_request_set_attrs). */
#include "cedar/json.h"
#include "cedar/reqbuild.h"
#include "cedar/request.h"
#include "util/alloc.h"
#include "util/error.h"

#include <stdio.h>
#include <string.h>

writ_status writ_request_set_attrs(writ_request *rq, const writ_entities *es, const char *type,
                                   const char *id, const char *attrs_json, size_t len, writ_error *err)
{
    if (!rq || !type || !id || !attrs_json)
        return wr_error(err, WRIT_EINVAL, "%s", "writ_request_set_attrs: missing argument");
    json_t *j = cedar_json_load(attrs_json, len, err);
    if (!j)
        return err ? err->code : WRIT_EJSON;
    writ_status st = cedar_request_set_attrs_tree(rq, es, type, id, j, false, err);
    json_decref(j);
    return st;
}

writ_status cedar_request_set_attrs_tree(writ_request *rq, const writ_entities *es, const char *type,
                                         const char *id, const json_t *j, bool store_wins, writ_error *err)
{
    if (!rq || !type || !id || !j)
        return wr_error(err, WRIT_EINVAL, "%s", "cedar_request_set_attrs_tree: missing argument");
    writ_status st = WRIT_OK;
    cv_value attrs;
    if (!json_is_object(j)) {
        st = wr_error(err, WRIT_EJSON, "%s", "entity attributes must be a JSON object");
        goto out;
    }
    if ((st = cedar_json_value(rq->arena, j, NULL, "attributes", &attrs, err)))
        goto out;
    if (attrs.type != CV_RECORD) {
        st = wr_error(err, WRIT_EJSON, "%s", "entity attributes must be a JSON object");
        goto out;
    }
    cv_value u = cv_entity_new(rq->arena, type, strlen(type), id, strlen(id));
    if (u.type == CV_NONE) {
        st = wr_error(err, WRIT_ENOMEM, "%s", "out of memory");
        goto out;
    }
    const cedar_entity *base = es ? cedar_entities_get(es->store, u.u.uid) : NULL;
    /* Merge: cv_record_new keeps the last of equal keys, so the side that
     * wins goes last: the request's attributes, or with store_wins the
     * store's (the request only adds attributes the store does not hold). */
    size_t nb = base ? base->attrs->n : 0, na = attrs.u.rec->n;
    cv_field *f = wr_arena_alloc(rq->arena, (nb + na + 1) * sizeof *f);
    if (!f) {
        st = wr_error(err, WRIT_ENOMEM, "%s", "out of memory");
        goto out;
    }
    if (store_wins) {
        memcpy(f, attrs.u.rec->f, na * sizeof *f);
        if (nb)
            memcpy(f + na, base->attrs->f, nb * sizeof *f);
    } else {
    if (nb)
        memcpy(f, base->attrs->f, nb * sizeof *f);
    memcpy(f + nb, attrs.u.rec->f, na * sizeof *f);
    }
    cv_value merged = cv_record_new(rq->arena, f, nb + na);
    /* one entity per uid: a second call for the same uid merges again */
    cedar_entity *slot = NULL;
    for (size_t i = 0; i < rq->nover; i++)
        if (cv_uid_eq(rq->over[i].uid, u.u.uid))
            slot = &rq->over[i];
    if (!slot) {
        cedar_entity *nover = wr_arena_alloc(rq->arena, (rq->nover + 1) * sizeof *nover);
        if (!nover) {
            st = wr_error(err, WRIT_ENOMEM, "%s", "out of memory");
            goto out;
        }
        if (rq->nover)
            memcpy(nover, rq->over, rq->nover * sizeof *nover);
        rq->over = nover;
        slot = &rq->over[rq->nover++];
        if (base) {
            *slot = *base;
        } else {
            memset(slot, 0, sizeof *slot);
            slot->tags = &cv_empty_record;
        }
        slot->uid = u.u.uid;
    } else {
        /* merge over the earlier override instead of the store */
        size_t np = slot->attrs->n;
        cv_field *g = wr_arena_alloc(rq->arena, (np + na + 1) * sizeof *g);
        if (!g) {
            st = wr_error(err, WRIT_ENOMEM, "%s", "out of memory");
            goto out;
        }
        if (store_wins) {
            memcpy(g, attrs.u.rec->f, na * sizeof *g);
            memcpy(g + na, slot->attrs->f, np * sizeof *g);
        } else {
        memcpy(g, slot->attrs->f, np * sizeof *g);
        memcpy(g + np, attrs.u.rec->f, na * sizeof *g);
        }
        merged = cv_record_new(rq->arena, g, np + na);
    }
    if (merged.type == CV_NONE) {
        st = wr_error(err, WRIT_ENOMEM, "%s", "out of memory");
        goto out;
    }
    slot->attrs = merged.u.rec;
out:
    return st;
}

const cv_value *cedar_request_resource_attr(const writ_request *rq, const writ_entities *es, const char *key)
{
    if (!rq || !rq->resource)
        return NULL;
    const cv_record *attrs = NULL;
    for (size_t i = 0; i < rq->nover; i++)
        if (cv_uid_eq(rq->over[i].uid, rq->resource))
            attrs = rq->over[i].attrs;
    if (!attrs && es) {
        const cedar_entity *e = cedar_entities_get(es->store, rq->resource);
        attrs = e ? e->attrs : NULL;
    }
    return attrs ? cv_record_get(attrs, key, strlen(key)) : NULL;
}
