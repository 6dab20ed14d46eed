/* json.h - Cedar's JSON formats: values, entity uids, entity files, requests.
 *
 * Values (Cedar's "JSON value format"):
 *   true/false -> bool, integer -> long (exact 64-bit; floats and integers
 *   outside [-2^63, 2^63-1] are errors), string -> string, array -> set,
 *   {"__entity": {"type": T, "id": I}} -> entity, {"__extn": {"fn": F,
 *   "arg": A}} -> extension value, any other object -> record.  null is an
 *   error.  Extra keys beside "__entity"/"__extn" are ignored, as the
 *   reference does.
 *
 * With a schema type (cs_type) a value is read as that type, as the
 * reference does when it has a schema: an entity-typed value may also be the
 * bare {"type", "id"} object, an extension-typed value the bare {"fn",
 * "arg"} object or a string that the type's constructor accepts ("1.2.3.4"
 * for ipaddr); records are closed (undeclared attributes are errors, and
 * required ones must be present).
 *
 * Entity files: a JSON array of {"uid", "attrs", "parents", "tags"?}
 * ("attrs" and "parents" are required; other keys are ignored).
 *
 * Everything is built in the arena of the store or request being filled.
 * Errors: WRIT_EJSON (malformed or wrong shape), WRIT_ELIMIT (nesting),
 * WRIT_EDUP (duplicate entity), WRIT_ESCHEMA (does not match the schema),
 * WRIT_EVALIDATE (request fails validation), WRIT_ENOMEM.
 */
#ifndef WRIT_CEDAR_JSON_H
#define WRIT_CEDAR_JSON_H

#include <jansson.h>

#include "cedar/entities.h"
#include "cedar/request.h"
#include "cedar/schema.h"
#include "cedar/value.h"

/* Deepest nesting of sets/records in one value (serde_json, which the
 * reference uses, stops at 128 levels of the whole document). */
#define CEDAR_JSON_MAX_DEPTH 128
/* Largest JSON text accepted. */
#define CEDAR_JSON_MAX_SIZE ((size_t)256 << 20)

/* Parse JSON text with the flags Cedar input needs (duplicate keys
 * rejected, NUL allowed in strings and keys, any top-level value).  The
 * readers below take only trees made by this function (object keys holding
 * U+0000 or U+0001 are stored escaped and decoded by the readers).  NULL on error,
 * with err filled (line:column from the JSON parser). */
json_t *cedar_json_load(const char *text, size_t len, writ_error *err);

/* A key of such a tree as Cedar reads it (the U+0000 / U+0001 encoding
 * undone) into buf (klen bytes at least); returns its length. */
size_t cedar_json_key_decode(const char *k, size_t klen, char *buf);

/* The same tree for the inputs it is sure about (jsonfast.c), NULL for
 * every other input (malformed, or outside its subset: cedar_json_load
 * then lets jansson parse it).  Never reports an error itself. */
json_t *cedar_json_fast(const char *text, size_t len);

/* What cedar_json_fast_kinds reports: for each name, the kind of the
 * object's member of that name (0 = absent) and, for a string, whether it
 * is exactly text[i] (when text[i] is not NULL); inner (may be NULL) is
 * filled the same way from the member name[inner_of] when that is an
 * object. */
enum { CEDAR_JK_OBJECT = 1, CEDAR_JK_ARRAY, CEDAR_JK_STRING, CEDAR_JK_INTEGER, CEDAR_JK_BOOL, CEDAR_JK_NULL };
#define CEDAR_JK_MAX 8
typedef struct cedar_json_kinds {
    size_t n;
    const char *name[CEDAR_JK_MAX];
    const char *text[CEDAR_JK_MAX];
    int kind[CEDAR_JK_MAX];     /* out */
    bool is_text[CEDAR_JK_MAX]; /* out */
    struct cedar_json_kinds *inner;
    int inner_of;
} cedar_json_kinds;
/* Read a JSON object text as cedar_json_fast would (a sure subset of
 * JSON, jsonfast.c), building no tree, and report want's members: 0, or
 * -1 when the text is not an object or the reader declines it (then parse
 * it the usual way). */
int cedar_json_fast_kinds(const char *text, size_t len, cedar_json_kinds *want);

/* cedar_json_fast for a JSON object one of whose top-level members (key,
 * e.g. the AuthZEN body's "context") is an object read partly straight
 * into Cedar values: its members not named in keep become the record
 * *base (in arena, as cedar_json_context reads them without a schema) and
 * json null in the tree; the kept members are JSON as usual.  Declines
 * (NULL) whatever cedar_json_fast declines, and also a text without that
 * member as an object, or one whose Cedar reading could fail or is
 * outside the subset (jsonfast.c): the caller then reads the text the
 * usual way.  cedar_json_context_subst takes the tree's member back. */
typedef struct cedar_json_split {
    wr_arena *arena;
    const char *key;
    const char *const *keep; /* NULL-terminated */
    /* a member not kept whose compact JSON text (cedar_json_dump_compact's
     * bytes of the tree the member would have been) is wanted too, or NULL;
     * given only when the member is an array */
    const char *text_key;
    /* true: the members not kept are in base only, with no json null
     * placeholder in the tree: the tree holds the kept members alone, and
     * the object is the tree and base together (read it with
     * cedar_json_context_whole).  Saves a tree member per context member
     * for a caller that looks only at kept members in the tree. */
    bool lean;
    /* lean: an empty object (the caller's, kept from one reading to the
     * next) handed out with a new reference as the tree when no member is
     * kept, instead of a new one; NULL, or one that is no longer empty:
     * a new object */
    json_t *empty;
    bool done;             /* out: the member was read (always, when the tree is returned) */
    const cv_record *base; /* out */
    const char *text;      /* out: text_key's text (NUL-terminated, in arena), or NULL */
} cedar_json_split;
json_t *cedar_json_fast_split(const char *text, size_t len, cedar_json_split *sp);

/* cedar_json_fast_split without the tree of the whole text: its top-level
 * members as fields (writ_json_parse_fields, include/writ/cedar.h; the
 * fields and their escaped strings in sp->arena).  0, or -1 for whatever
 * cedar_json_fast_split declines (and an object of fields with more than
 * WRIT_FIELDS_MAX members), with nothing left to release. */
int cedar_json_fast_fields(const char *text, size_t len, cedar_json_split *sp, const char *const *shallow,
                           const writ_json_field **fields, size_t *n);
/* Drop the trees of fields (what cedar_json_fast_fields gave). */
void cedar_json_fields_release(const writ_json_field *fields, size_t n);

/* json_dumps(j, JSON_COMPACT)'s text, quicker; NULL for a j that is not an
 * object or array, or on OOM.  Free with wr_free. */
char *cedar_json_dump_compact(const json_t *j);

/* Read one value.  t may be NULL (no schema).  what names the value for
 * messages (e.g. "attribute `a` of User::\"x\""). */
writ_status cedar_json_value(wr_arena *a, const json_t *j, const cs_type *t, const char *what, cv_value *out,
                             writ_error *err);

/* Read an entity uid: {"type","id"}, {"__entity": {"type","id"}} or, when
 * allow_text, a string in Cedar syntax (User::"alice"). */
writ_status cedar_json_uid(wr_arena *a, const json_t *j, bool allow_text, const char *what,
                           const cv_uid **out, writ_error *err);

/* Read an entities file into a new store (finished).  With a schema,
 * attributes, tags and parents are checked and the schema's actions are
 * added. */
writ_status cedar_json_entities(const json_t *j, const writ_schema *s, cedar_entities **out, writ_error *err);
writ_status cedar_json_entities_text(const char *text, size_t len, const writ_schema *s, cedar_entities **out,
                                     writ_error *err);

/* Read a request object {"principal","action","resource","context"?} into
 * rq (whose arena must be set).  With a schema the context is read as the
 * action's context type; with validate the request must match the schema. */
writ_status cedar_json_request(const json_t *j, const writ_schema *s, bool validate, struct writ_request *rq,
                               writ_error *err);

/* A new request from an already parsed JSON object (writ_request_parse
 * without the text step; callers that hold a jansson tree use it). */
writ_status cedar_request_from_json(const json_t *j, const writ_schema *s, bool validate,
                                    struct writ_request **out, writ_error *err);

/* Read a context object (NULL j = empty) for the given action. */
writ_status cedar_json_context(wr_arena *a, const json_t *j, const writ_schema *s, const cv_uid *action,
                               const cv_record **out, writ_error *err);

/* cedar_json_context without a schema (s must be NULL), for a context
 * from cedar_json_fast_split: a top-level member whose value is json null
 * and that subst holds takes subst's value.  (Its other members, and
 * anything added or removed since, are read as usual.) */
writ_status cedar_json_context_subst(wr_arena *a, const json_t *j, const cv_record *subst,
                                     const cv_record **out, writ_error *err);

/* cedar_json_context_subst (subst may be NULL) with facts (reqbuild.h)
 * merged in: the record that reading j with each fact set into it first
 * would give (a fact with if_absent only where j has no member of its
 * name; one without replaces the member, which is then not read), built
 * without that JSON.  Fact names are distinct; at most 32 facts. */
struct cedar_fact;
writ_status cedar_json_context_facts(wr_arena *a, const json_t *j, const cv_record *subst,
                                     const struct cedar_fact *facts, size_t nfacts, const cv_record **out,
                                     writ_error *err);

/* cedar_json_context_facts for a lean split (cedar_json_split.lean): base
 * holds every member that is not in the tree j (not only those j holds
 * json null for), and a json null in j is a null like any other.  A fact
 * with if_absent is then set only where neither j nor base has its name;
 * one without replaces base's member too.  The record, and every error,
 * is the one cedar_json_context_facts gives for the placeholder tree of
 * the same text (the same members in j, base's as json null). */
writ_status cedar_json_context_whole(wr_arena *a, const json_t *j, const cv_record *base,
                                     const struct cedar_fact *facts, size_t nfacts, const cv_record **out,
                                     writ_error *err);

/* Check a request against the schema (appliesTo, action existence, enum
 * ids).  Context conformance is checked while reading it. */
writ_status cedar_request_validate(const writ_schema *s, const cv_uid *principal, const cv_uid *action,
                                   const cv_uid *resource, writ_error *err);

#endif
