/* azmap.h - the AuthZEN-to-Cedar mapping, pure: the parts of an AuthZEN
 * evaluation (subject, action, resource, context) to the Cedar request's
 * entity references, context and per-request attributes.  The server's
 * AuthZEN front end (authzen.c) and `writ test` (cli/cmd_test.c) both read
 * requests through it, so a test case can be pasted from a real call. */
#ifndef WRIT_SERVER_AZMAP_H
#define WRIT_SERVER_AZMAP_H

#include <jansson.h>
#include <stdbool.h>

#include "writ/cedar.h"

typedef struct az_parts {
    json_t *subject, *action, *resource, *context;
} az_parts;

/* What the mapping puts in front of names: "NS::" and "NS::Action" for a
 * namespace NS, "" and "Action" without one. */
typedef struct az_names {
    const char *type_prefix;
    const char *action_type;
} az_names;

typedef struct az_mapped {
    bool has_subject; /* principal is filled (subject given) */
    writ_uid_parts principal, action, resource;
    const json_t *context;                          /* an object, or NULL for none */
    const json_t *principal_props, *resource_props; /* as given (may be null or absent) */
} az_mapped;

/* An entity reference of type (the prefix added unless the type already
 * holds "::") and id.  The parts point into type and id. */
writ_uid_parts az_uid(const char *type_prefix, const char *type, size_t type_len, const char *id,
                      size_t id_len);

/* Check the shape of p and map it:
 *   subject  {type, id, properties?} -> principal PREFIX type::"id"
 *   action   {name, properties?}     -> ACTION_TYPE::"name"
 *   resource {type, id, properties?} -> resource PREFIX type::"id"
 *   context  {...} | null | absent   -> the Cedar context
 * subject may be absent when subject_optional.  0, or -1 with why (the
 * message the server answers 400 with).  out points into p. */
int az_map(const az_names *names, const az_parts *p, bool subject_optional, az_mapped *out, char *why,
           size_t whylen);

/* az_map of a body read as fields (writ_json_parse_fields, with subject,
 * action and resource shallow and the context a tree): the same checks in
 * the same order, the same messages, the same mapping.  out points into
 * body's fields. */
int az_map_fields(const az_names *names, const writ_json_field *body, size_t n, bool subject_optional,
                  az_mapped *out, char *why, size_t whylen);
/* The member key of fields (NULL when absent). */
const writ_json_field *az_field(const writ_json_field *fields, size_t n, const char *key);

#endif
