/* api_data.c - public functions for schemas, entity stores and requests
 * (include/writ/cedar.h), on top of schema.c and json.c. */
#include "cedar/json.h"
#include "cedar/parser.h"
#include "cedar/reqbuild.h"
#include "cedar/request.h"
#include "cedar/schema.h"
#include "util/alloc.h"
#include "util/arena.h"
#include "util/error.h"

#include <stdio.h>
#include <string.h>

bool writ_name_ok(const char *s, size_t n) { return s && cedar_valid_type_name(s, n); }

writ_status writ_schema_parse(const char *text, size_t len, writ_schema **out, writ_error *err)
{
    if (!out)
        return wr_error(err, WRIT_EINVAL, "writ_schema_parse: out is NULL");
    *out = NULL;
    if (!text && len)
        return wr_error(err, WRIT_EINVAL, "writ_schema_parse: text is NULL");
    return cedar_schema_parse(text ? text : "", len, out, err);
}

void writ_schema_free(writ_schema *s)
{
    if (!s)
        return;
    wr_arena_free(s->arena);
    wr_free(s);
}

writ_status writ_entities_parse(const char *json, size_t len, const writ_schema *schema, writ_entities **out,
                                writ_error *err)
{
    if (!out)
        return wr_error(err, WRIT_EINVAL, "writ_entities_parse: out is NULL");
    *out = NULL;
    if (!json)
        return wr_error(err, WRIT_EINVAL, "writ_entities_parse: json is NULL");
    writ_entities *we = wr_calloc(1, sizeof *we);
    if (!we)
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    writ_status st = cedar_json_entities_text(json, len, schema, &we->store, err);
    if (st) {
        wr_free(we);
        return st;
    }
    *out = we;
    return WRIT_OK;
}

void writ_entities_free(writ_entities *es)
{
    if (!es)
        return;
    cedar_entities_free(es->store);
    wr_free(es);
}

writ_status cedar_request_from_json(const json_t *j, const writ_schema *schema, bool validate,
                                    writ_request **out, writ_error *err)
{
    *out = NULL;
    writ_request *rq = wr_calloc(1, sizeof *rq);
    if (rq)
        rq->arena = wr_arena_new(0);
    if (!rq || !rq->arena) {
        wr_free(rq);
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    }
    rq->context = &cv_empty_record;
    writ_status st = cedar_json_request(j, schema, validate, rq, err);
    if (st) {
        writ_request_free(rq);
        return st;
    }
    *out = rq;
    return WRIT_OK;
}

writ_status writ_request_parse(const char *json, size_t len, const writ_schema *schema, bool validate,
                               writ_request **out, writ_error *err)
{
    if (!out)
        return wr_error(err, WRIT_EINVAL, "writ_request_parse: out is NULL");
    *out = NULL;
    if (!json)
        return wr_error(err, WRIT_EINVAL, "writ_request_parse: json is NULL");
    json_t *j = cedar_json_load(json, len, err);
    if (!j)
        return err ? err->code : WRIT_EJSON;
    writ_status st = cedar_request_from_json(j, schema, validate, out, err);
    json_decref(j);
    return st;
}

void writ_request_free(writ_request *rq)
{
    if (!rq)
        return;
    wr_arena_free(rq->arena);
    wr_free(rq);
}

int writ_schema_context_has(const writ_schema *s, const char *action_type, const char *action_id,
                            const char *attr)
{
    if (!s || !action_type || !action_id || !attr)
        return -1;
    for (size_t i = 0; i < s->nactions; i++) {
        const cs_action *a = &s->actions[i];
        if (strcmp(a->uid->type->data, action_type) || strcmp(a->uid->id->data, action_id))
            continue;
        for (size_t k = 0; k < a->context->nattrs; k++)
            if (!strcmp(a->context->attrs[k].name->data, attr))
                return 1;
        return 0;
    }
    return -1;
}

static int kind_of(const cs_type *t)
{
    if (t->kind == CS_LONG)
        return 'L';
    if (t->kind == CS_EXT && t->ext == CVX_DECIMAL)
        return 'D';
    return t->kind == CS_RECORD ? 'R' : 'O';
}

static const cs_type *attr_type(const cs_type *rec, const char *name)
{
    if (!rec || rec->kind != CS_RECORD)
        return NULL;
    for (size_t k = 0; k < rec->nattrs; k++)
        if (!strcmp(rec->attrs[k].name->data, name))
            return rec->attrs[k].type;
    return NULL;
}

int writ_schema_context_kind(const writ_schema *s, const char *action_type, const char *action_id,
                             const char *attr, const char *sub)
{
    if (!s || !action_type || !action_id || !attr)
        return -1;
    for (size_t i = 0; i < s->nactions; i++) {
        const cs_action *a = &s->actions[i];
        if (strcmp(a->uid->type->data, action_type) || strcmp(a->uid->id->data, action_id))
            continue;
        const cs_type *t = attr_type(a->context, attr);
        if (t && sub)
            t = attr_type(t, sub);
        return t ? kind_of(t) : 0;
    }
    return -1;
}

json_t *writ_json_parse(const char *text, size_t len, writ_error *err)
{
    if (!text && len) {
        wr_error(err, WRIT_EINVAL, "writ_json_parse: text is NULL");
        return NULL;
    }
    return cedar_json_load(text ? text : "", len, err);
}

char *writ_json_dump_compact(const json_t *j) { return cedar_json_dump_compact(j); }

struct writ_split {
    wr_arena *arena;
    cedar_json_split sp;
    const writ_json_field *fields; /* the last writ_json_parse_fields's, until released */
    size_t n_fields;
    const char *text_key; /* cedar_split_want_text's */
    bool lean;            /* cedar_split_lean's */
    json_t *empty;        /* the lean reading's empty tree (cedar_json_split.empty) */
};

writ_split *writ_split_new(void)
{
    writ_split *s = wr_calloc(1, sizeof *s);
    if (s && !(s->arena = wr_arena_new(0))) {
        wr_free(s);
        s = NULL;
    }
    return s;
}

void writ_split_release(writ_split *s)
{
    if (s) {
        cedar_json_fields_release(s->fields, s->n_fields);
        s->fields = NULL;
        s->n_fields = 0;
    }
}

void writ_split_free(writ_split *s)
{
    if (s) {
        writ_split_release(s);
        json_decref(s->empty);
        wr_arena_free(s->arena);
        wr_free(s);
    }
}

json_t *writ_json_parse_split(writ_split *s, const char *text, size_t len, const char *key,
                              const char *const *keep)
{
    if (!s || !text || !key)
        return NULL;
    writ_split_release(s);
    wr_arena_reset(s->arena);
    s->sp = (cedar_json_split){.arena = s->arena, .key = key, .keep = keep, .lean = s->lean};
    return cedar_json_fast_split(text, len, &s->sp);
}

const struct cv_record *cedar_split_base(const writ_split *s) { return s && s->sp.done ? s->sp.base : NULL; }
void cedar_split_want_text(writ_split *s, const char *key)
{
    if (s)
        s->text_key = key;
}
const char *cedar_split_text(const writ_split *s) { return s && s->sp.done ? s->sp.text : NULL; }
void cedar_split_lean(writ_split *s, bool on)
{
    if (s)
        s->lean = on;
}
bool cedar_split_is_lean(const writ_split *s) { return s && s->sp.done && s->sp.lean; }
int cedar_split_string(const writ_split *s, const char *key, const char **out)
{
    *out = NULL;
    const cv_value *v = cedar_split_is_lean(s) ? cv_record_get(s->sp.base, key, strlen(key)) : NULL;
    if (!v)
        return 0;
    if (v->type != CV_STRING)
        return -1;
    *out = v->u.s->data;
    return 1;
}
int writ_json_parse_fields(writ_split *s, const char *text, size_t len, const char *key,
                           const char *const *keep, const char *const *shallow,
                           const writ_json_field **fields, size_t *n)
{
    if (fields)
        *fields = NULL;
    if (n)
        *n = 0;
    if (!s || !text || !key || !fields || !n)
        return -1;
    writ_split_release(s);
    wr_arena_reset(s->arena);
    if (s->lean && !s->empty)
        s->empty = json_object(); /* (NULL: a new one each time) */
    s->sp = (cedar_json_split){.arena = s->arena,
                               .key = key,
                               .keep = keep,
                               .text_key = s->text_key,
                               .lean = s->lean,
                               .empty = s->empty};
    if (cedar_json_fast_fields(text, len, &s->sp, shallow, &s->fields, &s->n_fields))
        return -1;
    *fields = s->fields;
    *n = s->n_fields;
    return 0;
}

writ_status writ_request_fill_split(writ_request *rq, const writ_uid_parts *principal,
                                    const writ_uid_parts *action, const writ_uid_parts *resource,
                                    const json_t *context, const writ_split *s, writ_error *err)
{
    if (cedar_split_is_lean(s))
        return cedar_request_fill_whole(rq, principal, action, resource, context, s->sp.base, NULL, 0, err);
    return cedar_request_fill_subst(rq, principal, action, resource, context,
                                    s && s->sp.done ? s->sp.base : NULL, err);
}

writ_request *writ_request_reusable(void) { return cedar_request_reusable(); }

writ_status writ_request_fill(writ_request *rq, const writ_schema *schema, bool validate,
                              const writ_uid_parts *principal, const writ_uid_parts *action,
                              const writ_uid_parts *resource, const json_t *context, writ_error *err)
{
    return cedar_request_fill(rq, schema, validate, principal, action, resource, context, err);
}

writ_status writ_request_context_numbers(writ_request *rq, const char *key, const writ_number_field *f,
                                         size_t n, writ_error *err)
{
    return cedar_request_context_numbers(rq, key, f, n, err);
}

writ_status writ_request_add_attrs(writ_request *rq, const writ_entities *es, const char *type,
                                   const char *id, const json_t *attrs, bool store_wins, writ_error *err)
{
    return cedar_request_set_attrs_tree(rq, es, type, id, attrs, store_wins, err);
}

int writ_request_resource_long(const writ_request *rq, const writ_entities *es, const char *key, int64_t *out)
{
    const cv_value *v = cedar_request_resource_attr(rq, es, key);
    if (!v || v->type != CV_LONG)
        return 0;
    *out = v->u.l;
    return 1;
}
