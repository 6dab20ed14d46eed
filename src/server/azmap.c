/* azmap.c - the AuthZEN-to-Cedar mapping (see azmap.h; the whole mapping
 * is described at the top of authzen.c). */
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

static const char *need_string(json_t *o, const char *key, const char *part, char *why, size_t whylen)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v)) {
        snprintf(why, whylen, "%s.%s must be a string", part, key);
        return NULL;
    }
    if (json_string_length(v) == 0) {
        snprintf(why, whylen, "%s.%s must not be empty", part, key);
        return NULL;
    }
    return json_string_value(v);
}

/* Check the shape of the four parts; 0 or -1 with why. */
static int check_parts(const az_parts *p, bool subject_optional, char *why, size_t n)
{
    static const char *const names[3] = {"subject", "action", "resource"};
    json_t *parts[3] = {p->subject, p->action, p->resource};
    for (int i = 0; i < 3; i++) {
        if (!parts[i] && i == 0 && subject_optional)
            continue;
        if (!parts[i]) {
            snprintf(why, n, "%s is required", names[i]);
            return -1;
        }
        if (!json_is_object(parts[i])) {
            snprintf(why, n, "%s must be an object", names[i]);
            return -1;
        }
    }
    if ((p->subject && (!need_string(p->subject, "type", "subject", why, n) ||
                        !need_string(p->subject, "id", "subject", why, n))) ||
        !need_string(p->resource, "type", "resource", why, n) ||
        !need_string(p->resource, "id", "resource", why, n) ||
        !need_string(p->action, "name", "action", why, n))
        return -1;
    json_t *sp = json_object_get(p->subject, "properties"), *rp = json_object_get(p->resource, "properties");
    if ((sp && !json_is_object(sp) && !json_is_null(sp)) ||
        (rp && !json_is_object(rp) && !json_is_null(rp))) {
        snprintf(why, n, "properties must be an object");
        return -1;
    }
    if (p->context && !json_is_object(p->context) && !json_is_null(p->context)) {
        snprintf(why, n, "context must be an object");
        return -1;
    }
    return 0;
}

static writ_uid_parts part_uid(const char *prefix, json_t *part, const char *type_key, const char *id_key)
{
    json_t *tj = json_object_get(part, type_key), *id = json_object_get(part, id_key);
    return az_uid(prefix, json_string_value(tj), json_string_length(tj), json_string_value(id),
                  json_string_length(id));
}

int az_map(const az_names *names, const az_parts *p, bool subject_optional, az_mapped *out, char *why,
           size_t whylen)
{
    memset(out, 0, sizeof *out);
    if (check_parts(p, subject_optional, why, whylen))
        return -1;
    out->has_subject = p->subject != NULL;
    if (p->subject)
        out->principal = part_uid(names->type_prefix, p->subject, "type", "id");
    json_t *name = json_object_get(p->action, "name");
    /* the action type is whole already ("NS::Action" or "Action") */
    out->action = az_uid("", names->action_type, strlen(names->action_type), json_string_value(name),
                         json_string_length(name));
    out->resource = part_uid(names->type_prefix, p->resource, "type", "id");
    out->context = json_is_object(p->context) ? p->context : NULL;
    out->principal_props = json_object_get(p->subject, "properties");
    out->resource_props = json_object_get(p->resource, "properties");
    return 0;
}
