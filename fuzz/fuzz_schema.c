/* fuzz_schema.c - fuzz the human-readable schema parser (writ_schema_parse). */
#include "writ/cedar.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    writ_schema *s = NULL;
    writ_error err;
    if (writ_schema_parse((const char *)data, size, &s, &err) == WRIT_OK)
        writ_schema_free(s);
    return 0;
}
