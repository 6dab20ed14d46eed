/* schema.h - Cedar schemas (the human-readable .cedarschema format), resolved.
 *
 * writ_schema_parse() reads the text, resolves every type name by Cedar's
 * rules and gives back this model: all names are fully qualified, common
 * types are inlined (a common type is only a name for its definition), and
 * every entity type and action can be looked up by name.  The whole model
 * lives in the schema's arena and is immutable once built.
 *
 * Name resolution (as Cedar 4.x does it) for a type written `X` or `P::X`
 * inside namespace N:
 *   1. a common type N::X, 2. an entity type N::X,
 *   3. a common type X (empty namespace), 4. an entity type X,
 *   5. a builtin: Bool, Long, String, ipaddr, decimal, datetime, duration
 *      (also written __cedar::Bool etc., which always means the builtin).
 * Entity-type-only positions (`in [..]`, appliesTo lists) use 2 then 4.
 */
#ifndef WRIT_CEDAR_SCHEMA_H
#define WRIT_CEDAR_SCHEMA_H

#include "cedar/value.h"
#include "writ/cedar.h"
#include "writ/writ.h"

typedef enum cs_kind {
    CS_BOOL = 1,
    CS_LONG,
    CS_STRING,
    CS_ENTITY, /* .name is the entity type */
    CS_SET,    /* .elem */
    CS_RECORD, /* .attrs */
    CS_EXT,    /* .ext */
} cs_kind;

typedef struct cs_type cs_type;

typedef struct cs_attr {
    const cv_string *name;
    bool required;
    const cs_type *type;
} cs_attr;

struct cs_type {
    cs_kind kind;
    cv_ext_kind ext;       /* CS_EXT */
    const cv_string *name; /* CS_ENTITY: fully qualified entity type */
    const cs_type *elem;   /* CS_SET */
    size_t nattrs;         /* CS_RECORD: sorted by name bytes, unique */
    const cs_attr *attrs;
};

typedef struct cs_entity_type {
    const cv_string *name; /* "NS::Type" */
    const cs_type *shape;  /* CS_RECORD, never NULL (may have no attrs) */
    const cs_type *tags;   /* NULL when the type has no tags */
    size_t nparents;       /* allowed parent entity types (`in [...]`) */
    const cv_string **parents;
    bool is_enum; /* `enum [...]`: only these ids exist */
    size_t nenum;
    const cv_string **enum_ids;
} cs_entity_type;

typedef struct cs_action {
    const cv_uid *uid; /* NS::Action::"name" */
    size_t nparents;   /* action groups it is `in` */
    const cv_uid **parents;
    bool has_applies; /* false: appliesTo absent (applies to nothing) */
    size_t nprincipals;
    const cv_string **principals;
    size_t nresources;
    const cv_string **resources;
    const cs_type *context; /* CS_RECORD, never NULL */
} cs_action;

struct writ_schema {
    wr_arena *arena;
    size_t nentity_types; /* sorted by name */
    cs_entity_type *entity_types;
    size_t nactions; /* sorted by (type, id) */
    cs_action *actions;
};

/* Parse and resolve.  On failure returns WRIT_EPARSE (syntax, with
 * line:column) or WRIT_ESCHEMA (undefined or duplicate names, cycles in
 * common types), WRIT_ELIMIT or WRIT_ENOMEM, and *out is NULL. */
writ_status cedar_schema_parse(const char *text, size_t len, writ_schema **out, writ_error *err);

const cs_entity_type *cedar_schema_entity_type(const writ_schema *s, const char *name, size_t len);
const cs_action *cedar_schema_action(const writ_schema *s, const cv_uid *uid);
/* Is `type` the name of an action entity type (ends with "Action" and some
 * action of the schema has it)? */
bool cedar_schema_is_action_type(const writ_schema *s, const cv_string *type);

/* Limits of the schema parser. */
#define CEDAR_SCHEMA_MAX_DEPTH 64 /* nesting of records and sets */
/* chains the resolver follows recursively: an action's `in` parents, and a
 * common type naming another (`type A = B; type B = C; ...`) */
#define CEDAR_SCHEMA_MAX_CHAIN 1000
/* namespaces of a schema, attributes of one record type: each is checked
 * against the others, so a list costs the square of its length */
#define CEDAR_SCHEMA_MAX_MEMBERS 10000u
#define CEDAR_SCHEMA_MAX_SIZE (64u << 20)

#endif
