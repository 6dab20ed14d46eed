/* fit.c - values Writ makes up for an approver's decision, cut to what the
 * schema in force declares.
 *
 * An approver's request carries open-ended values: the token's claims
 * (context.claims: sub, iss, aud, iat, email, groups, whatever the issuer
 * adds) and the Approval's `target` and `input`.  Cedar schemas type
 * records closed: an attribute the schema does not declare makes the whole
 * request an error, so an issuer adding a claim would lock every approver
 * out.  With a schema, each such value is therefore cut to the attributes
 * its declared type names (records recursively, sets element by element);
 * without one, it is passed whole.  A declared attribute keeps its value as
 * given: a wrong type is still the schema's error (fail closed). */
#include "approval/approval.h"
#include "cedar/entities.h"
#include "cedar/request.h"
#include "cedar/schema.h"
#include "util/alloc.h"
#include "util/arena.h"

#include <string.h>

static const cs_attr *attr_of(const cs_type *t, const char *k, size_t kl)
{
    for (size_t i = 0; i < t->nattrs; i++)
        if (t->attrs[i].name->len == kl && !memcmp(t->attrs[i].name->data, k, kl))
            return &t->attrs[i];
    return NULL;
}

/* Cut v (in place) to type t. */
static void fit(const cs_type *t, json_t *v, int depth)
{
    if (!t || depth > 64)
        return;
    if (t->kind == CS_RECORD && json_is_object(v)) {
        const char *k;
        json_t *e, *tmp;
        json_object_foreach_safe(v, tmp, k, e)
        {
            const cs_attr *a = attr_of(t, k, strlen(k));
            if (!a)
                json_object_del(v, k);
            else
                fit(a->type, e, depth + 1);
        }
    } else if (t->kind == CS_SET && json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) fit(t->elem, e, depth + 1);
    }
}

void wr_fit_entity_attrs(const writ_schema *s, const char *type, json_t *attrs)
{
    const cs_entity_type *et = s ? cedar_schema_entity_type(s, type, strlen(type)) : NULL;
    if (et)
        fit(et->shape, attrs, 0);
}

void wr_fit_context(const writ_schema *s, const char *action_type, const char *action_id, json_t *ctx)
{
    if (!s)
        return;
    size_t tl = strlen(action_type), il = strlen(action_id);
    for (size_t i = 0; i < s->nactions; i++) {
        const cv_uid *u = s->actions[i].uid;
        if (u->type->len == tl && !memcmp(u->type->data, action_type, tl) && u->id->len == il &&
            !memcmp(u->id->data, action_id, il)) {
            fit(s->actions[i].context, ctx, 0);
            return;
        }
    }
}

char *wr_entity_string_attr(const writ_entities *es, const char *uid, const char *key)
{
    char *type = NULL, *id = NULL, *out = NULL;
    if (!es || !es->store || wr_uid_split(uid, &type, &id))
        return NULL;
    wr_arena *a = wr_arena_new(0);
    cv_value e = a ? cv_entity_new(a, type, strlen(type), id, strlen(id)) : (cv_value){0};
    const cedar_entity *ent = e.type == CV_ENTITY ? cedar_entities_get(es->store, e.u.uid) : NULL;
    const cv_value *v = ent ? cv_record_get(ent->attrs, key, strlen(key)) : NULL;
    if (v && v->type == CV_STRING)
        out = wr_strndup(v->u.s->data, v->u.s->len);
    wr_arena_free(a);
    wr_free(type);
    wr_free(id);
    return out;
}
