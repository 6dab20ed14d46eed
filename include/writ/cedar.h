/* cedar.h - Writ's Cedar engine: policies, schema, entities, decisions.
 *
 * Typical use:
 *
 *     writ_policyset *ps; writ_entities *es; writ_request *rq;
 *     writ_policyset_parse(text, len, &ps, &err);
 *     writ_entities_parse(json, jlen, NULL, &es, &err);
 *     writ_request_parse(req, rlen, NULL, false, &rq, &err);
 *     writ_authorizer *az = writ_authorizer_new();
 *     writ_decision d;
 *     writ_authorize(az, ps, es, rq, &d);     // d.allow, d.reasons, d.errors
 *
 * Policy sets, schemas and entity stores are immutable once built and may be
 * shared by threads; an authorizer holds one thread's scratch memory and the
 * last decision, which stays valid until its next call or its free.
 */
#ifndef WRIT_CEDAR_H
#define WRIT_CEDAR_H

#include "writ/writ.h"

typedef struct writ_policyset writ_policyset;
typedef struct writ_schema writ_schema;
typedef struct writ_entities writ_entities;
typedef struct writ_request writ_request;
typedef struct writ_authorizer writ_authorizer;

/* ---- policies.  Policies are named "policy0", "policy1", ... in order of
 * appearance (annotations do not rename them); templates likewise. */
WRIT_MUST_CHECK writ_status writ_policyset_parse(const char *text, size_t len, writ_policyset **out,
                                                 writ_error *err);
void writ_policyset_free(writ_policyset *ps);
size_t writ_policyset_count(const writ_policyset *ps);
const char *writ_policyset_id(const writ_policyset *ps, size_t i);
/* Annotation value of policy i, or NULL. */
const char *writ_policyset_annotation(const writ_policyset *ps, size_t i, const char *key);
/* Link a template: principal/resource are entity uids in Cedar syntax
 * (`User::"alice"`); pass NULL for a slot the template does not use. */
WRIT_MUST_CHECK writ_status writ_policyset_link(writ_policyset *ps, const char *template_id,
                                                const char *new_id, const char *principal,
                                                const char *resource, writ_error *err);

/* ---- schema (.cedarschema, the human-readable format) */
WRIT_MUST_CHECK writ_status writ_schema_parse(const char *text, size_t len, writ_schema **out,
                                              writ_error *err);
void writ_schema_free(writ_schema *s);
/* Does the schema declare action action_type::"action_id" with a context
 * attribute attr?  -1: no such action; 0: the action's context has no such
 * attribute; 1: it does.  Thread-safe on a schema no one frees. */
int writ_schema_context_has(const writ_schema *s, const char *action_type, const char *action_id,
                            const char *attr);
/* The declared type of context attribute attr (sub NULL) or of attribute
 * sub of the record attr: 'L' Long, 'D' decimal, 'R' record, 'O' another
 * type; 0 not declared; -1 no such action. */
int writ_schema_context_kind(const writ_schema *s, const char *action_type, const char *action_id,
                             const char *attr, const char *sub);

/* ---- entities (Cedar's JSON entity format).  With a schema, attribute
 * values are read as the schema types them and the schema's action entities
 * (with their groups) are added. */
WRIT_MUST_CHECK writ_status writ_entities_parse(const char *json, size_t len, const writ_schema *schema,
                                                writ_entities **out, writ_error *err);
void writ_entities_free(writ_entities *es);

/* ---- requests: a JSON object
 *   {"principal": {"type": "User", "id": "alice"}, "action": {...},
 *    "resource": {...}, "context": {...}}
 * (entity refs may also be written as strings in Cedar syntax:
 * "User::\"alice\"").  With a schema the context is read as the action's
 * context type; with validate set the request must match the schema. */
WRIT_MUST_CHECK writ_status writ_request_parse(const char *json, size_t len, const writ_schema *schema,
                                               bool validate, writ_request **out, writ_error *err);
void writ_request_free(writ_request *rq);
/* Give one entity extra attributes for this request only (AuthZEN's
 * subject/resource "properties"): attrs_json is a JSON object in Cedar's
 * value format; its attributes replace same-named ones the store holds for
 * that entity (or make the entity exist for this request).  The entity's
 * place in the hierarchy is the store's.  es may be NULL. */
WRIT_MUST_CHECK writ_status writ_request_set_attrs(writ_request *rq, const writ_entities *es,
                                                   const char *type, const char *id, const char *attrs_json,
                                                   size_t len, writ_error *err);

/* ---- requests from parts already parsed (jansson values), for front ends
 * that hold a parsed body: no JSON request text is assembled and re-read.
 * A request from writ_request_reusable() can be refilled any number of
 * times (each fill rewinds its arena and forgets earlier attributes); it
 * belongs to one thread at a time. */
struct json_t;
/* One entity reference: type = prefix + type (prefix may be empty; e.g. a
 * namespace "Ns::"), id as given (any bytes, not NUL-terminated). */
typedef struct writ_uid_parts {
    const char *prefix;
    size_t prefix_len;
    const char *type;
    size_t type_len;
    const char *id;
    size_t id_len;
} writ_uid_parts;
/* JSON text as Cedar reads it: duplicate keys refused, 64-bit integers
 * exact; an error has the line and column.  Free with json_decref. */
struct json_t *writ_json_parse(const char *text, size_t len, writ_error *err);
writ_request *writ_request_reusable(void); /* NULL on OOM; writ_request_free */
/* Rewind rq and fill it; context is a JSON object (or NULL for none), read
 * as writ_request_parse reads one.  On failure rq is left empty. */
WRIT_MUST_CHECK writ_status writ_request_fill(writ_request *rq, const writ_schema *schema, bool validate,
                                              const writ_uid_parts *principal, const writ_uid_parts *action,
                                              const writ_uid_parts *resource, const struct json_t *context,
                                              writ_error *err);
/* writ_request_set_attrs with the attributes as a JSON object.  With
 * store_wins, attributes the store holds keep the store's value: the
 * request may only add attributes the store does not hold. */
WRIT_MUST_CHECK writ_status writ_request_add_attrs(writ_request *rq, const writ_entities *es,
                                                   const char *type, const char *id,
                                                   const struct json_t *attrs, bool store_wins,
                                                   writ_error *err);
/* The Long attribute key of rq's resource as this request sees it (its
 * per-request attributes, else the store's): 1 with *out, or 0 when it has
 * no such attribute or the attribute is not a Long. */
int writ_request_resource_long(const writ_request *rq, const writ_entities *es, const char *key,
                               int64_t *out);

/* ---- decisions */
typedef struct writ_policy_error {
    const char *policy_id;
    const char *message;
} writ_policy_error;

typedef struct writ_decision {
    bool allow;
    size_t nreasons;
    const char *const *reasons;          /* ids of the determining policies */
    size_t nerrors;
    const writ_policy_error *errors;     /* policies whose evaluation failed */
} writ_decision;

writ_authorizer *writ_authorizer_new(void);
void writ_authorizer_free(writ_authorizer *az);
/* Decide.  Fails closed: on any internal failure the decision is a deny
 * and the status says why.  The decision points into the authorizer. */
WRIT_MUST_CHECK writ_status writ_authorize(writ_authorizer *az, const writ_policyset *ps,
                                           const writ_entities *es, const writ_request *rq,
                                           writ_decision *out);

/* ---- partial decisions: could some values of context attributes not yet
 * known make the request allowed?  (An MCP gateway lists a tool when some
 * arguments could be allowed: context.input unknown.)  The attributes named
 * in unknown[] may be absent or hold any value, whatever rq's context says
 * of them; everything else is rq's.  The answer is sound: never NO when some
 * values of the unknowns would be allowed, never ALWAYS when some would be
 * denied.  It is as precise as evaluating each condition once allows (a
 * permit that no value can satisfy but whose condition reads an unknown may
 * still make the answer YES; see src/cedar/partial.c). */
typedef enum writ_maybe {
    WRIT_MAYBE_NO = 0,      /* no permit can hold, or a forbid holds whatever the unknowns are */
    WRIT_MAYBE_YES = 1,     /* some values may be allowed */
    WRIT_MAYBE_ALWAYS = 2,  /* every value is allowed */
} writ_maybe;

typedef struct writ_partial_decision {
    writ_maybe maybe;
    /* NO: the forbids that hold whatever the unknowns are (none when no
     * permit can hold); YES and ALWAYS: the permits that may hold */
    size_t nreasons;
    const char *const *reasons;
    /* policies whose evaluation fails whatever the unknowns are (skipped) */
    size_t nerrors;
    const writ_policy_error *errors;
} writ_partial_decision;

/* Decide with the context attributes unknown[0..n_unknown) unknown.  Fails
 * closed like writ_authorize (NO on any failure); the result points into
 * the authorizer until its next call. */
WRIT_MUST_CHECK writ_status writ_authorize_partial(writ_authorizer *az, const writ_policyset *ps,
                                                   const writ_entities *es, const writ_request *rq,
                                                   const char *const *unknown, size_t n_unknown,
                                                   writ_partial_decision *out);

#endif
