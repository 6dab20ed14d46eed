/* fuzz_schema.c - libFuzzer target for the .cedarschema parser and
 * resolver.  A schema that parses is walked completely. */
#include <stddef.h>
#include <stdint.h>

#include "cedar/schema.h"
#include "writ/cedar.h"

static size_t walk(const cs_type *t, int depth)
{
    if (!t || depth > 200)
        return 0;
    size_t n = 1;
    if (t->kind == CS_SET)
        n += walk(t->elem, depth + 1);
    for (size_t i = 0; t->kind == CS_RECORD && i < t->nattrs; i++)
        n += walk(t->attrs[i].type, depth + 1);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    writ_schema *s = NULL;
    writ_error err;
    if (writ_schema_parse((const char *)data, size, &s, &err) != WRIT_OK)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < s->nentity_types; i++) {
        const cs_entity_type *e = &s->entity_types[i];
        n += walk(e->shape, 0) + walk(e->tags, 0);
        (void)cedar_schema_entity_type(s, e->name->data, e->name->len);
    }
    for (size_t i = 0; i < s->nactions; i++) {
        n += walk(s->actions[i].context, 0);
        (void)cedar_schema_action(s, s->actions[i].uid);
    }
    (void)n;
    writ_schema_free(s);
    return 0;
}
