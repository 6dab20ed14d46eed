/* azmap.c - the AuthZEN-to-Cedar mapping (see azmap.h; the whole mapping
 * is described at the top of authzen.c).
 *
 * The parts come either as jansson trees (az_map: batches, `writ test`) or
 * as the quick reader's fields (az_map_fields: the single evaluation,
 * whose subject, action and resource are never built as trees).  Both are
 * seen through one small view of a JSON value, so the checks, their order
 * and their messages are written once. */
#include "server/azmap.h"

#include <stdio.h>
#include <string.h>

writ_uid_parts az_uid(const char *type_prefix, const char *type, size_t type_len, const char *id,
                      size_t id_len)
{
    bool qualified = false;
    for (size_t i = 0; i + 1 < type_len && !qualified; i++)
        qualified = type[i] == ':' && type[i + 1] == ':';
    writ_uid_parts u = {
        qualified ? "" : type_prefix, qualified ? 0 : strlen(type_prefix), type, type_len, id, id_len};
    return u;
}

/* A JSON value as the mapping sees it: absent, a string (s, n), null, an
 * object (a tree j, or fields f), or anything else. */
typedef enum { V_ABSENT, V_STRING, V_NULL, V_OBJECT, V_OTHER } vkind;
typedef struct view {
    vkind k;
    const char *s;
    size_t n;
    const json_t *j;          /* the tree, when there is one */
    const writ_json_field *f; /* V_OBJECT read as fields */
    size_t nf;
} view;

static view of_json(const json_t *j)
{
    view v = {.j = j};
    v.k = !j                  ? V_ABSENT
          : json_is_string(j) ? V_STRING
          : json_is_null(j)   ? V_NULL
          : json_is_object(j) ? V_OBJECT
                              : V_OTHER;
    if (v.k == V_STRING)
        v.s = json_string_value(j), v.n = json_string_length(j);
    return v;
}

static inline const writ_json_field *find(const writ_json_field *f, size_t n, const char *key)
{
    size_t kn = strlen(key);
    for (size_t i = 0; f && i < n; i++)
        if (f[i].key_len == kn && (!kn || f[i].key[0] == key[0]) && !memcmp(f[i].key, key, kn))
            return &f[i];
    return NULL;
}

const writ_json_field *az_field(const writ_json_field *f, size_t n, const char *key)
{
    return find(f, n, key);
}

static inline view of_field(const writ_json_field *x)
{
    if (!x)
        return (view){.k = V_ABSENT};
    switch (x->kind) {
    case WRIT_FIELD_STRING:
        return (view){.k = V_STRING, .s = x->str, .n = x->len};
    case WRIT_FIELD_FIELDS:
        return (view){.k = V_OBJECT, .f = x->fields, .nf = x->n_fields};
    default:
        return of_json(x->json);
    }
}

/* The member key of an object v (absent for anything else, as
 * json_object_get). */
static inline __attribute__((always_inline)) view member(view v, const char *key)
{
    if (v.k != V_OBJECT)
        return (view){.k = V_ABSENT};
    return v.j ? of_json(json_object_get(v.j, key)) : of_field(find(v.f, v.nf, key));
}

typedef struct vparts {
    view subject, action, resource, context;
} vparts;

static bool need_string(view o, const char *key, const char *part, char *why, size_t whylen)
{
    view v = member(o, key);
    if (v.k != V_STRING) {
        snprintf(why, whylen, v.k == V_ABSENT ? "%s.%s is required (a string)" : "%s.%s must be a string", part,
                 key);
        return false;
    }
    if (v.n == 0) {
        snprintf(why, whylen, "%s.%s must not be empty", part, key);
        return false;
    }
    return true;
}

static bool object_or_null(view v) { return v.k == V_ABSENT || v.k == V_NULL || v.k == V_OBJECT; }

/* Check the shape of the four parts; 0 or -1 with why. */
static int check_parts(const vparts *p, bool subject_optional, char *why, size_t n)
{
    static const char *const names[3] = {"subject", "action", "resource"};
    const view *parts[3] = {&p->subject, &p->action, &p->resource};
    for (int i = 0; i < 3; i++) {
        if (parts[i]->k == V_ABSENT && i == 0 && subject_optional)
            continue;
        if (parts[i]->k == V_ABSENT) {
            snprintf(why, n, "%s is required", names[i]);
            return -1;
        }
        if (parts[i]->k != V_OBJECT) {
            snprintf(why, n, "%s must be an object", names[i]);
            return -1;
        }
    }
    if ((p->subject.k != V_ABSENT && (!need_string(p->subject, "type", "subject", why, n) ||
                                      !need_string(p->subject, "id", "subject", why, n))) ||
        !need_string(p->resource, "type", "resource", why, n) ||
        !need_string(p->resource, "id", "resource", why, n) ||
        !need_string(p->action, "name", "action", why, n))
        return -1;
    if (!object_or_null(member(p->subject, "properties")) ||
        !object_or_null(member(p->resource, "properties"))) {
        snprintf(why, n, "properties must be an object");
        return -1;
    }
    if (!object_or_null(p->context)) {
        snprintf(why, n, "context must be an object");
        return -1;
    }
    return 0;
}

static writ_uid_parts part_uid(const char *prefix, view part)
{
    view t = member(part, "type"), id = member(part, "id");
    return az_uid(prefix, t.s, t.n, id.s, id.n);
}

static int map(const az_names *names, const vparts *p, bool subject_optional, az_mapped *out, char *why,
               size_t whylen)
{
    memset(out, 0, sizeof *out);
    if (check_parts(p, subject_optional, why, whylen))
        return -1;
    /* A context read as fields has no tree to hand on: the callers never
     * ask for one (it is the split member), but fail closed if they did. */
    if (p->context.k == V_OBJECT && !p->context.j) {
        snprintf(why, whylen, "context must be an object");
        return -1;
    }
    out->has_subject = p->subject.k != V_ABSENT;
    if (out->has_subject)
        out->principal = part_uid(names->type_prefix, p->subject);
    view name = member(p->action, "name");
    /* the action type is whole already ("NS::Action" or "Action") */
    out->action = az_uid("", names->action_type, strlen(names->action_type), name.s, name.n);
    out->resource = part_uid(names->type_prefix, p->resource);
    out->context = p->context.k == V_OBJECT ? p->context.j : NULL;
    /* properties are trees in both forms (a shallow part's non-string
     * members are), checked above to be objects or null */
    out->principal_props = member(p->subject, "properties").j;
    out->resource_props = member(p->resource, "properties").j;
    return 0;
}

int az_map(const az_names *names, const az_parts *p, bool subject_optional, az_mapped *out, char *why,
           size_t whylen)
{
    vparts v = {of_json(p->subject), of_json(p->action), of_json(p->resource), of_json(p->context)};
    return map(names, &v, subject_optional, out, why, whylen);
}

int az_map_fields(const az_names *names, const writ_json_field *body, size_t n, bool subject_optional,
                  az_mapped *out, char *why, size_t whylen)
{
    vparts v = {of_field(find(body, n, "subject")), of_field(find(body, n, "action")),
                of_field(find(body, n, "resource")), of_field(find(body, n, "context"))};
    return map(names, &v, subject_optional, out, why, whylen);
}
