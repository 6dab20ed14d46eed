/* fuzz_jsonfast.c - differential target: the quick JSON reader
 * (cedar_json_fast, jsonfast.c) against jansson with the flags
 * cedar_json_load uses.  Aborts when the quick reader accepts an input
 * jansson refuses, or builds a different tree (types, values, key order);
 * and when the compact writer (cedar_json_dump_compact) and json_dumps
 * write any tree jansson reads differently. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cedar/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const json_t *a, const json_t *b)
{
    if (!json_equal(a, b))
        return 0;
    /* json_equal ignores key order; the dump does not */
    char *da = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
    char *db = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
    int ok = da && db && !strcmp(da, db);
    free(da);
    free(db);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *f = cedar_json_fast((const char *)data, size);
    if (!f)
        return 0; /* declined: cedar_json_load gives jansson's answer */
    json_error_t e;
    json_t *j =
        json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, &e);
    if (!j || !same(f, j))
        abort();
    json_decref(j);
    json_decref(f);
    return 0;
}
