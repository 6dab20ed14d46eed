/* fuzz_policy.c - fuzz the Cedar policy parser (writ_policyset_parse). */
#include "writ/cedar.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    writ_policyset *ps = NULL;
    writ_error err;
    if (writ_policyset_parse((const char *)data, size, &ps, &err) == WRIT_OK) {
        size_t n = writ_policyset_count(ps);
        for (size_t i = 0; i < n; i++) {
            (void)writ_policyset_id(ps, i);
            (void)writ_policyset_annotation(ps, i, "id");
        }
    }
    writ_policyset_free(ps);
    return 0;
}
