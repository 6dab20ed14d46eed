/* fuzz_mcp_toolschema.c - libFuzzer target for `writ mcp schema`'s core:
 * any JSON text as a tools/list result (mcp_toolschema).  Whenever a
 * fragment is produced it must parse with Writ's own schema parser, with
 * and without a namespace; an abort otherwise. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/toolschema.h"
#include "util/alloc.h"
#include "writ/cedar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    writ_error err;
    json_t *j = writ_json_parse((const char *)data, size, &err);
    if (!j)
        return 0;
    const char *nss[] = {"Writ", NULL};
    for (int i = 0; i < 2; i++) {
        mcp_toolschema_opts o = {nss[i], true};
        char *out = NULL;
        size_t len;
        if (mcp_toolschema(j, "up\"stream/\\x", &o, &out, &len, &err) == WRIT_OK) {
            writ_schema *s = NULL;
            if (writ_schema_parse(out, len, &s, &err) != WRIT_OK)
                abort();
            writ_schema_free(s);
            wr_free(out);
        } else if (out) {
            abort();
        }
    }
    json_decref(j);
    return 0;
}
