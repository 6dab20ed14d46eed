/* reqbuild.h - build a Cedar request from parts already in hand, without
 * assembling (and re-reading) a JSON request object; for front ends such as
 * the AuthZEN server, which hold the parsed body.  A request made by
 * cedar_request_reusable() can be refilled any number of times: each fill
 * rewinds its arena (keeping the first chunk) and forgets the previous
 * parts and attribute overrides.  One request per thread. */
#ifndef WRIT_CEDAR_REQBUILD_H
#define WRIT_CEDAR_REQBUILD_H

#include <jansson.h>

#include "writ/cedar.h"

/* An empty request to fill (NULL on OOM); free with writ_request_free. */
writ_request *cedar_request_reusable(void);

/* One entity reference (the public writ_uid_parts). */
typedef writ_uid_parts cedar_uid_parts;

/* Rewind rq and fill it: principal, action, resource, and the context (a
 * JSON object from cedar_json_load, or NULL for none) read as
 * cedar_json_request does (with a schema, the action's context type; with
 * validate, the request must match the schema).  Type names are checked as
 * Cedar's JSON reader checks them.  On failure rq is left empty. */
WRIT_MUST_CHECK writ_status cedar_request_fill(writ_request *rq, const writ_schema *s, bool validate,
                                               const cedar_uid_parts *principal,
                                               const cedar_uid_parts *action, const cedar_uid_parts *resource,
                                               const json_t *context, writ_error *err);

/* writ_request_context_numbers (writ/cedar.h): context.KEY of a filled rq
 * set to a record of Longs and decimals built as Cedar values. */
WRIT_MUST_CHECK writ_status cedar_request_context_numbers(writ_request *rq, const char *key,
                                                          const writ_number_field *f, size_t n,
                                                          writ_error *err);

/* The same with the names already Cedar strings, in a Cedar record's order
 * (cv_string_cmp) and distinct, as a caller that builds the record on
 * every decision keeps them (the task-history limits): no string is made,
 * sorted or compared for duplicates.  The strings must live as long as
 * rq's use. */
struct cv_string;
typedef struct cedar_number_field {
    const struct cv_string *name;
    int64_t value; /* a Long, or a decimal in units of 10^-4 */
    bool decimal;
} cedar_number_field;
WRIT_MUST_CHECK writ_status cedar_request_context_sorted(writ_request *rq, const struct cv_string *key,
                                                         const cedar_number_field *f, size_t n,
                                                         writ_error *err);

/* The Cedar values of the context members a writ_split reading left json
 * null in the tree (what writ_request_fill_split substitutes), or NULL. */
const struct cv_record *cedar_split_base(const writ_split *sp);

/* writ_json_parse_fields on sp from now on: a member of the split object
 * named key (a literal, or a string that outlives sp) that is not kept
 * and is an array also gives its compact JSON text, as
 * writ_json_dump_compact would write the JSON of it (cedar_split_text), so
 * a caller that wants only that text needs no JSON tree of it.  NULL: none. */
void cedar_split_want_text(writ_split *sp, const char *key);
/* The last reading's text of that member, or NULL (not an array, kept,
 * absent, or the reading declined).  An array whose first element is a
 * string is kept as JSON whatever the keep list says (a chain of names:
 * history.c reads its root from the tree). */
const char *cedar_split_text(const writ_split *sp);
/* writ_json_parse_fields on sp from now on reads lean (on) or with json
 * null placeholders (off, the default): lean, the members not kept are in
 * cedar_split_base only, not in the tree (cedar_json_split.lean), and the
 * tree's context is read by cedar_request_fill_whole (writ_request_fill_split
 * reads either).  cedar_split_is_lean: the last reading was lean. */
void cedar_split_lean(writ_split *sp, bool on);
bool cedar_split_is_lean(const writ_split *sp);
/* A member of a lean reading's base (not in its tree) read as a JSON
 * string would be: 1 with *out its bytes (NUL-terminated: a C reader of
 * the JSON string's value sees the same), 0 when the base has no such
 * member (or the reading is not lean), -1 when it is there and not a
 * string. */
int cedar_split_string(const writ_split *sp, const char *key, const char **out);

/* cedar_request_fill without a schema, for a context from
 * cedar_json_fast_split with its record subst (cedar_json_context_subst).
 * subst's values must live until the request is refilled or freed. */
struct cv_record;
WRIT_MUST_CHECK writ_status cedar_request_fill_subst(writ_request *rq, const cedar_uid_parts *principal,
                                                     const cedar_uid_parts *action,
                                                     const cedar_uid_parts *resource, const json_t *context,
                                                     const struct cv_record *subst, writ_error *err);

/* A context member the caller sets itself (the server's facts, facts.c),
 * put straight into the request by cedar_request_fill_facts: no JSON value
 * is made for it, inserted into the context tree and read back.  The value
 * is the one the JSON form in the comment reads to. */
typedef enum cedar_fact_kind {
    CEDAR_FACT_STRING,  /* "s" */
    CEDAR_FACT_LONG,    /* l */
    CEDAR_FACT_EXT,     /* {"__extn": {"fn": fn, "arg": "s"}} */
    CEDAR_FACT_STRINGS, /* ["items[0]", ...] (n strings) */
    CEDAR_FACT_RECORD,  /* {"keys[0]": "items[0]", ...} (n distinct keys) */
} cedar_fact_kind;
typedef struct cedar_bytes {
    const char *p;
    size_t n;
} cedar_bytes;
typedef struct cedar_fact {
    cedar_bytes name; /* a member name (no byte 0 or 1 in it) */
    /* true: only when the context has no member of that name (the
     * caller's wins); false: replaces the member, which is not read */
    bool if_absent;
    cedar_fact_kind kind;
    cedar_bytes s;
    int64_t l;
    const char *fn;
    const cedar_bytes *items;
    const char *const *keys;
    size_t n;
    /* made once (cedar_fact_freeze): the name's and the value's Cedar
     * form, used as they are; NULL: made from the parts above for each
     * request */
    const struct cv_string *key;
    const struct cv_value *value;
} cedar_fact;

/* Make f's key, and with value its value, once for the life of the
 * process (in memory never freed): a fact that is the same in every
 * request then costs nothing to build.  Sets f->key (and f->value); 0, or
 * -1 on OOM (f unchanged).  Thread-safe; meant to be called once per fact
 * (pthread_once). */
int cedar_fact_freeze(cedar_fact *f, bool value);

/* cedar_request_fill_subst (subst may be NULL: a context from
 * cedar_json_load) with facts merged into the context: the request is the
 * one cedar_request_fill_subst makes from the context with each fact set
 * into it first (a fact with if_absent only where the context has no
 * member of its name).  Errors as that reading gives them. */
WRIT_MUST_CHECK writ_status cedar_request_fill_facts(writ_request *rq, const cedar_uid_parts *principal,
                                                     const cedar_uid_parts *action,
                                                     const cedar_uid_parts *resource, const json_t *context,
                                                     const struct cv_record *subst, const cedar_fact *facts,
                                                     size_t nfacts, writ_error *err);

/* cedar_request_fill_facts for a lean split (cedar_split_lean): base (not
 * NULL) holds every context member that is not in the tree context
 * (cedar_json_context_whole).  The request is the one
 * cedar_request_fill_facts makes of the same text read with placeholders. */
WRIT_MUST_CHECK writ_status cedar_request_fill_whole(writ_request *rq, const cedar_uid_parts *principal,
                                                     const cedar_uid_parts *action,
                                                     const cedar_uid_parts *resource, const json_t *context,
                                                     const struct cv_record *base, const cedar_fact *facts,
                                                     size_t nfacts, writ_error *err);

/* writ_request_set_attrs with the attributes as a parsed JSON object (from
 * cedar_json_load) instead of text.  With store_wins, attributes the store
 * holds for the entity keep the store's value (the request may only add
 * attributes the store does not hold). */
WRIT_MUST_CHECK writ_status cedar_request_set_attrs_tree(writ_request *rq, const writ_entities *es,
                                                         const char *type, const char *id,
                                                         const json_t *attrs, bool store_wins,
                                                         writ_error *err);

/* Attribute key of rq's resource as this request sees it (its per-request
 * attributes, else the store's); NULL when it has none of that name. */
struct cv_value;
const struct cv_value *cedar_request_resource_attr(const writ_request *rq, const writ_entities *es,
                                                   const char *key);

#endif
