/* fuzz_jsonsplit.c - differential target: cedar_json_fast_split (the AuthZEN
 * body with its context read straight into Cedar values, jsonfast.c)
 * against cedar_json_load + cedar_json_context, and the same body read as
 * fields (cedar_json_fast_fields + az_map_fields) against cedar_json_load +
 * az_map.  Aborts when an accepted text reads differently
 * (fuzz/jsonsplit_check.h, fuzz/azbody_check.h). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "azbody_check.h"
#include "jsonsplit_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *why)
{
    fprintf(stderr, "fuzz_jsonsplit: %s\n", why);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    split_check((const char *)data, size, die);
    body_check((const char *)data, size, die);
    return 0;
}
