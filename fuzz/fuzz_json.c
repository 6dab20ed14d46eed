/* fuzz_json.c - libFuzzer target for the entities JSON reader.
 *
 * The input is read twice: without a schema, and with a small fixed schema
 * (schema-directed reading, action entities).  Every store that loads is
 * queried so the ancestor tables are exercised too. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cedar/json.h"
#include "cedar/schema.h"
#include "writ/cedar.h"

static const char schema_text[] =
    "namespace N { entity User in [Group] { a?: Long, e?: User, x?: ipaddr, s?: Set<User>,"
    " r?: {q?: decimal, d?: datetime, u?: duration} } tags Set<String>; entity Group in [Group];"
    " entity Color enum [\"red\", \"blue\"];"
    " action view; action edit in [view] appliesTo { principal: User, resource: Group,"
    " context: { ip?: ipaddr } }; }";

static void query(const writ_entities *es)
{
    size_t n = cedar_entities_count(es->store);
    for (size_t i = 0; i < n && i < 64; i++) {
        const cedar_entity *a = cedar_entities_at(es->store, i);
        for (size_t k = 0; k < n && k < 64; k++)
            (void)cedar_entities_in(es->store, a->uid, cedar_entities_at(es->store, k)->uid);
        char buf[256];
        cv_record_get(a->attrs, "a", 1);
        cv_value v;
        v.type = CV_RECORD;
        v.u.rec = a->attrs;
        cv_format(v, buf, sizeof buf);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static writ_schema *schema;
    writ_error err;
    if (!schema && writ_schema_parse(schema_text, sizeof schema_text - 1, &schema, &err))
        return 0;
    writ_entities *es = NULL;
    if (writ_entities_parse((const char *)data, size, NULL, &es, &err) == WRIT_OK)
        query(es);
    writ_entities_free(es);
    es = NULL;
    if (writ_entities_parse((const char *)data, size, schema, &es, &err) == WRIT_OK)
        query(es);
    writ_entities_free(es);
    writ_request *rq = NULL;
    if (writ_request_parse((const char *)data, size, schema, true, &rq, &err) == WRIT_OK)
        writ_request_free(rq);
    return 0;
}
