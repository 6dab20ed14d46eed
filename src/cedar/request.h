/* request.h - what the public opaque Cedar handles hold. */
#ifndef WRIT_CEDAR_REQUEST_H
#define WRIT_CEDAR_REQUEST_H

#include "cedar/entities.h"
#include "cedar/value.h"
#include "writ/cedar.h"

struct writ_entities {
    cedar_entities *store;
};

struct writ_request {
    wr_arena *arena;            /* owns everything below */
    const cv_uid *principal;
    const cv_uid *action;
    const cv_uid *resource;
    const cv_record *context;   /* &cv_empty_record when absent */
    /* Entities seen differently by this request only (writ_request_set_attrs):
     * same uid and hierarchy as in the store, attributes merged over. */
    size_t nover;
    cedar_entity *over;
};

#endif
