/* fuzz_entities.c - fuzz the JSON entity reader (writ_entities_parse, no schema). */
#include "writ/cedar.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    writ_entities *es = NULL;
    writ_error err;
    if (writ_entities_parse((const char *)data, size, NULL, &es, &err) == WRIT_OK)
        writ_entities_free(es);
    return 0;
}
