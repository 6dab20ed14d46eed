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
 * Ownership and threads, per handle (each is the caller's, freed by its
 * _free function):
 *   writ_policyset   immutable once built (after the last writ_policyset_link):
 *   writ_schema      shared by any number of threads; free it only after
 *   writ_entities    the last decision that uses it.
 *   writ_request     one thread at a time (a reusable one is refilled in place).
 *   writ_authorizer  one thread at a time: its scratch memory and its last
 *                    decision, which stays valid until its next call or its
 *                    free.  Keep one per thread.
 *   struct json_t *  from writ_json_parse: the caller's (json_decref).
 */
#ifndef WRIT_CEDAR_H
#define WRIT_CEDAR_H

#include "writ/writ.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct writ_policyset writ_policyset;
typedef struct writ_schema writ_schema;
typedef struct writ_entities writ_entities;
typedef struct writ_request writ_request;
typedef struct writ_authorizer writ_authorizer;

/* ---- policies.  Policies are named "policy0", "policy1", ... in order of
 * appearance (annotations do not rename them); templates likewise.  This is
 * the naming of the Cedar conformance corpus. */
/* Is s[0..n) a Cedar name: Ident, or Ident::Ident..., no reserved word (a
 * namespace or an entity type name as a policy writes it)? */
WRIT_API bool writ_name_ok(const char *s, size_t n);

WRIT_API WRIT_MUST_CHECK writ_status writ_policyset_parse(const char *text, size_t len, writ_policyset **out,
                                                 writ_error *err);
/* The same, with flags.  WRIT_PS_ID_ANNOTATION: a policy or template
 * annotated @id("x") is named "x" (as the Cedar CLI names them), one without
 * keeps its "policyN".  An empty @id, two policies with the same @id, or an
 * @id equal to another policy's policyN is refused (WRIT_EDUP / WRIT_EPARSE,
 * err at the policy's line:column). */
/* WRIT_PS_EXCLUDE_SHADOW: policies annotated @mode("shadow") are parsed and
 * named like the others (the rest keep their ids) but left out of the set;
 * WRIT_PS_ONLY_SHADOW: the set holds only them.  With either, an @mode
 * other than "shadow" or "enforce" is refused (WRIT_EPARSE at the policy).
 * Writ's server evaluates the shadow ones on the side (src/shadow/). */
enum { WRIT_PS_ID_ANNOTATION = 1u, WRIT_PS_EXCLUDE_SHADOW = 2u, WRIT_PS_ONLY_SHADOW = 4u };
WRIT_API WRIT_MUST_CHECK writ_status writ_policyset_parse_flags(const char *text, size_t len, unsigned flags,
                                                       writ_policyset **out, writ_error *err);
WRIT_API void writ_policyset_free(writ_policyset *ps);
WRIT_API size_t writ_policyset_count(const writ_policyset *ps);
WRIT_API const char *writ_policyset_id(const writ_policyset *ps, size_t i);
/* Annotation value of policy i, or NULL. */
WRIT_API const char *writ_policyset_annotation(const writ_policyset *ps, size_t i, const char *key);
/* Is policy i a forbid? */
WRIT_API bool writ_policyset_is_forbid(const writ_policyset *ps, size_t i);
/* Link a template: principal/resource are entity uids in Cedar syntax
 * (`User::"alice"`); pass NULL for a slot the template does not use.  On
 * failure (out of memory included) the set is as it was: it decides as before
 * and the same link can be tried again. */
WRIT_API WRIT_MUST_CHECK writ_status writ_policyset_link(writ_policyset *ps, const char *template_id,
                                                const char *new_id, const char *principal,
                                                const char *resource, writ_error *err);

/* ---- schema (.cedarschema, the human-readable format) */
WRIT_API WRIT_MUST_CHECK writ_status writ_schema_parse(const char *text, size_t len, writ_schema **out,
                                              writ_error *err);
WRIT_API void writ_schema_free(writ_schema *s);
/* Does the schema declare action action_type::"action_id" with a context
 * attribute attr?  -1: no such action; 0: the action's context has no such
 * attribute; 1: it does.  Thread-safe on a schema no one frees. */
WRIT_API int writ_schema_context_has(const writ_schema *s, const char *action_type, const char *action_id,
                            const char *attr);
/* The declared type of context attribute attr (sub NULL) or of attribute
 * sub of the record attr: 'L' Long, 'D' decimal, 'R' record, 'O' another
 * type; 0 not declared; -1 no such action. */
WRIT_API int writ_schema_context_kind(const writ_schema *s, const char *action_type, const char *action_id,
                                      const char *attr, const char *sub);

/* ---- validation: Cedar's policy validator in strict mode.  Every policy
 * is typechecked against the schema for every (principal type, action,
 * resource type) its scope allows: unknown entity types, actions and
 * attributes, optional attributes read without `has`, type errors, scopes
 * no action applies to.  A policy that can never be true is a warning.
 * Each issue names the policy and the offset of the offending expression
 * (with line:column when the policy text is given in the options). */
typedef struct writ_validate_options {
    const char *policy_text; /* the text ps was parsed from, or NULL */
    size_t policy_len;
    /* A scope that no action of the schema applies to is a warning, as in
     * the reference since cedar#2545 (cedar-wasm 4.13); set this to make it
     * an error as earlier releases did (the conformance corpus, Cedar 4.10). */
    bool applies_to_error;
} writ_validate_options;

typedef struct writ_validation_issue {
    const char *policy_id;
    bool warning;       /* false: an error */
    size_t offset;      /* byte offset into the policy text */
    uint32_t line, col; /* 1-based; 0 without the policy text */
    const char *message;
} writ_validation_issue;

typedef struct writ_validation {
    size_t npolicies, nerrors, nwarnings;
    size_t nissues; /* errors and warnings, in policy order */
    const writ_validation_issue *issues;
    void *internal_;
} writ_validation;

/* The set validates when (*out)->nerrors is 0.  The status is not OK only
 * when validation itself could not run (out of memory, a NULL argument). */
WRIT_API WRIT_MUST_CHECK writ_status writ_validate(const writ_schema *schema, const writ_policyset *ps,
                                          const writ_validate_options *opt, writ_validation **out,
                                          writ_error *err);
WRIT_API void writ_validation_free(writ_validation *v);

/* ---- entities (Cedar's JSON entity format).  With a schema, attribute
 * values are read as the schema types them and the schema's action entities
 * (with their groups) are added. */
WRIT_API WRIT_MUST_CHECK writ_status writ_entities_parse(const char *json, size_t len, const writ_schema *schema,
                                                writ_entities **out, writ_error *err);
WRIT_API void writ_entities_free(writ_entities *es);

/* ---- requests: a JSON object
 *   {"principal": {"type": "User", "id": "alice"}, "action": {...},
 *    "resource": {...}, "context": {...}}
 * (entity refs may also be written as strings in Cedar syntax:
 * "User::\"alice\"").  With a schema the context is read as the action's
 * context type; with validate set the request must match the schema. */
WRIT_API WRIT_MUST_CHECK writ_status writ_request_parse(const char *json, size_t len, const writ_schema *schema,
                                               bool validate, writ_request **out, writ_error *err);
WRIT_API void writ_request_free(writ_request *rq);
/* Give one entity extra attributes for this request only (AuthZEN's
 * subject/resource "properties"): attrs_json is a JSON object in Cedar's
 * value format; its attributes replace same-named ones the store holds for
 * that entity (or make the entity exist for this request).  The entity's
 * place in the hierarchy is the store's.  es may be NULL. */
WRIT_API WRIT_MUST_CHECK writ_status writ_request_set_attrs(writ_request *rq, const writ_entities *es,
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
WRIT_API struct json_t *writ_json_parse(const char *text, size_t len, writ_error *err);
/* An object or array as json_dumps(j, JSON_COMPACT) writes it (NULL for
 * anything else, or on OOM).  Free with writ_free_string(). */
WRIT_API char *writ_json_dump_compact(const struct json_t *j);
WRIT_API writ_request *writ_request_reusable(void); /* NULL on OOM; writ_request_free */
/* Rewind rq and fill it; context is a JSON object (or NULL for none), read
 * as writ_request_parse reads one.  On failure rq is left empty. */
WRIT_API WRIT_MUST_CHECK writ_status writ_request_fill(writ_request *rq, const writ_schema *schema, bool validate,
                                              const writ_uid_parts *principal, const writ_uid_parts *action,
                                              const writ_uid_parts *resource, const struct json_t *context,
                                              writ_error *err);
/* A JSON object text one of whose top-level members (key, e.g. an AuthZEN
 * body's "context") is an object whose members are read straight into
 * Cedar values -- the one pass of a decision's body, without a schema.
 * The tree holds json null in their place (keep names members that stay
 * JSON, for callers that read them).  NULL when the text is not of the
 * quick reader's common subset or the Cedar reading of a value could fail:
 * then read it with writ_json_parse and writ_request_fill as usual, which
 * give every error.  The values live in sp until its next parse; the tree
 * is the caller's (json_decref). */
typedef struct writ_split writ_split;
WRIT_API writ_split *writ_split_new(void); /* NULL on OOM; one per thread */
WRIT_API void writ_split_free(writ_split *sp);
WRIT_API struct json_t *writ_json_parse_split(writ_split *sp, const char *text, size_t len, const char *key,
                                              const char *const *keep);
/* One member of an object read by writ_json_parse_fields.  Exactly one of
 * the three forms, as kind says:
 *   WRIT_FIELD_STRING  a string: str, len (not NUL-terminated; in the text
 *                      when it holds no escape, else in sp);
 *   WRIT_FIELD_FIELDS  an object read as fields in turn: fields, n_fields;
 *   WRIT_FIELD_JSON    any other value as a tree: json (owned by sp). */
enum { WRIT_FIELD_STRING = 1, WRIT_FIELD_FIELDS, WRIT_FIELD_JSON };
typedef struct writ_json_field {
    const char *key;
    size_t key_len;
    int kind;
    const char *str;
    size_t len;
    const struct writ_json_field *fields;
    size_t n_fields;
    struct json_t *json;
} writ_json_field;
/* writ_json_parse_split without a tree of the whole text: the top-level
 * object's members as fields, in text order.  The member key is the split
 * tree (a JSON field); the object members named in shallow are read as
 * fields whose own members are strings, or JSON for any other value (an
 * AuthZEN body: subject, action and resource as slices, their properties
 * as a tree only when given).  0 with *fields, *n; -1 for what
 * writ_json_parse_split declines, and for an object of fields with more
 * than WRIT_FIELDS_MAX members: then read the text the usual way.  The
 * fields live until writ_split_release (or sp's next parse, or its free);
 * the strings that point into text need text as long. */
#define WRIT_FIELDS_MAX 32
WRIT_API WRIT_MUST_CHECK int writ_json_parse_fields(writ_split *sp, const char *text, size_t len,
                                                    const char *key, const char *const *keep,
                                                    const char *const *shallow, const writ_json_field **fields,
                                                    size_t *n);
/* Drop the trees of the last writ_json_parse_fields (NULL is a no-op). */
WRIT_API void writ_split_release(writ_split *sp);
/* writ_request_fill without a schema for that tree's member (context): a
 * member holding json null takes sp's value. */
WRIT_API WRIT_MUST_CHECK writ_status writ_request_fill_split(
    writ_request *rq, const writ_uid_parts *principal, const writ_uid_parts *action,
    const writ_uid_parts *resource, const struct json_t *context, const writ_split *sp, writ_error *err);
/* writ_request_set_attrs with the attributes as a JSON object.  With
 * store_wins, attributes the store holds keep the store's value: the
 * request may only add attributes the store does not hold. */
WRIT_API WRIT_MUST_CHECK writ_status writ_request_add_attrs(writ_request *rq, const writ_entities *es,
                                                   const char *type, const char *id,
                                                   const struct json_t *attrs, bool store_wins,
                                                   writ_error *err);
/* A Long or decimal field of a record put into a request's context. */
typedef struct writ_number_field {
    const char *name;
    int64_t value; /* a Long, or a decimal in units of 10^-4 (decimal("1.5") is 15000) */
    bool decimal;
} writ_number_field;
/* Set context.KEY of a filled rq to the record of the n fields (distinct
 * names), replacing any KEY the context has: values the caller computed
 * (Writ's context.history) go straight into the request, with no JSON
 * built and read again.  No schema check: with a schema, put them into the
 * JSON context given to writ_request_fill instead. */
WRIT_API WRIT_MUST_CHECK writ_status writ_request_context_numbers(writ_request *rq, const char *key,
                                                                 const writ_number_field *f, size_t n,
                                                                 writ_error *err);
/* The Long attribute key of rq's resource as this request sees it (its
 * per-request attributes, else the store's): 1 with *out, or 0 when it has
 * no such attribute or the attribute is not a Long. */
WRIT_API int writ_request_resource_long(const writ_request *rq, const writ_entities *es, const char *key,
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

/* The first forbid of ps (in policy order) whose evaluation failed in d,
 * and its error's message in *message (may be NULL); NULL when none did.
 * Cedar skips such a forbid: a request that a forbid would have denied is
 * then decided as if the forbid were not there. */
WRIT_API const char *writ_policyset_forbid_error(const writ_policyset *ps, const writ_decision *d,
                                                 const char **message);
/* d as a point that enforces it denies it when a forbid cannot be ruled
 * out: when d allows and a forbid of ps failed to evaluate, d becomes a
 * deny whose one reason is that forbid (its id in *fid, which d->reasons
 * then points at: keep fid alive with d), *message (may be NULL) Cedar's
 * error, and true.  d's errors are left as they are. */
WRIT_API bool writ_decision_deny_failed_forbid(const writ_policyset *ps, writ_decision *d, const char **fid,
                                               const char **message);

WRIT_API writ_authorizer *writ_authorizer_new(void);
WRIT_API void writ_authorizer_free(writ_authorizer *az);
/* Decide.  Fails closed: on any internal failure the decision is a deny
 * and the status says why.  The decision points into the authorizer. */
WRIT_API WRIT_MUST_CHECK writ_status writ_authorize(writ_authorizer *az, const writ_policyset *ps,
                                           const writ_entities *es, const writ_request *rq,
                                           writ_decision *out);

/* Parse a request (JSON text, as writ_request_parse reads it) and decide
 * it, in one call: for embedders and language bindings.  The request is
 * kept in the authorizer until its next use, so the decision stays valid
 * until then.  A request that does not parse is WRIT_EJSON / WRIT_ESCHEMA
 * ... with err's position, and *out a deny. */
WRIT_API WRIT_MUST_CHECK writ_status writ_authorize_json(writ_authorizer *az, const writ_policyset *ps,
                                                         const writ_entities *es, const writ_schema *schema,
                                                         bool validate, const char *json, size_t len,
                                                         writ_decision *out, writ_error *err);
/* ---- explained decisions: why a request was denied.  Off the default
 * path: writ_authorize never pays for it; writ_explain decides exactly as
 * writ_authorize does and then evaluates again, clause by clause, the
 * policies whose scope matched.
 *
 * For a deny it names
 *   - each permit whose scope matched, with the first part of its
 *     conditions that did not hold: the first `when` clause that was false
 *     (narrowed to the first operand of its `&&` that was false) or the
 *     first `unless` clause that was true (narrowed to the first operand of
 *     its `||` that was true); narrowing goes on into parenthesised `&&` /
 *     `||` and through `!`.  A permit whose conditions held (a forbid
 *     overrode it) says so; one whose evaluation failed names the part that
 *     failed and the error;
 *   - each forbid that held, with every one of its clauses (they all held).
 * An allow explains nothing (its reasons say which permits allowed it).
 * Texts are the policy source as written; line and column (1-based, in
 * bytes) are where the text starts in the policy set's source. */
typedef struct writ_explain_part {
    bool when;                  /* from a `when` clause; false: `unless` */
    const char *text;           /* its source text (NUL-terminated) */
    uint32_t line, column;      /* where text starts */
} writ_explain_part;

typedef struct writ_explain_policy {
    const char *policy_id;
    bool held;                  /* its conditions held (permit: overridden by a forbid) */
    const char *error;          /* evaluating parts[0] failed with this, else NULL */
    size_t nparts;              /* permit not held: 1 (0 only if it has no conditions);
                                   forbid: each of its clauses (0: its scope alone) */
    const writ_explain_part *parts;
} writ_explain_policy;

typedef struct writ_explanation {
    size_t npermits;            /* deny: every permit whose scope matched, in policy order */
    const writ_explain_policy *permits;
    size_t nforbids;            /* deny: every forbid that held, in policy order */
    const writ_explain_policy *forbids;
} writ_explanation;

/* Decide as writ_authorize does (*d is the same decision) and explain it
 * in *x.  Both point into the authorizer until its next call.  Fails
 * closed like writ_authorize (deny, empty explanation). */
WRIT_API WRIT_MUST_CHECK writ_status writ_explain(writ_authorizer *az, const writ_policyset *ps, const writ_entities *es,
                                         const writ_request *rq, writ_decision *d, writ_explanation *x);
/* x as JSON text: {"permits": [{"policy", "held", "condition"?: PART,
 * "error"?}], "forbids": [{"policy", "conditions": [PART...]}]}, PART =
 * {"clause": "when"|"unless", "text", "line", "column"}.  NULL on out of
 * memory; free with writ_free_string. */
WRIT_API char *writ_explanation_json(const writ_explanation *x);

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

/* Decide with the context attributes unknown[0..n_unknown) unknown.  An
 * unknown is an attribute name ("input") or a dotted path into one
 * ("input.arguments": only that part unknown, the rest of context.input as
 * rq gives it).  Fails closed like writ_authorize (NO on any failure); the result points into
 * the authorizer until its next call. */
WRIT_API WRIT_MUST_CHECK writ_status writ_authorize_partial(writ_authorizer *az, const writ_policyset *ps,
                                                   const writ_entities *es, const writ_request *rq,
                                                   const char *const *unknown, size_t n_unknown,
                                                   writ_partial_decision *out);

#ifdef __cplusplus
}
#endif

#endif
