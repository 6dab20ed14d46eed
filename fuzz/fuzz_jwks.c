/* fuzz_jwks.c - fuzz the JWKS / trust bundle readers: the input is read as a
 * SPIFFE bundle and as an OIDC issuer's JWKS, then into the same bundle a
 * second time (duplicate kids must be refused, never half-added). */
#include "writ/identity.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    writ_bundle *b = writ_bundle_new();
    if (!b)
        return 0;
    writ_error err;
    const char *json = (const char *)data;
    if (writ_bundle_add_spiffe(b, "corp.example", 12, json, size, &err) == WRIT_OK)
        (void)!writ_bundle_add_spiffe(b, "corp.example", 12, json, size, &err);
    if (writ_bundle_add_oidc(b, "https://issuer.example", 22, json, size, &err) == WRIT_OK)
        (void)!writ_bundle_add_oidc(b, "https://issuer.example", 22, json, size, &err);
    writ_bundle_free(b);
    return 0;
}
