/* fuzz_spiffe.c - fuzz SPIFFE ID parsing and X.509-SVID chain reading.
 *
 * First byte even: the rest is a SPIFFE ID candidate.  Checked invariants:
 * an accepted ID round-trips, its trust domain passes the trust-domain
 * check, and it holds no byte outside the allowed sets.  First byte odd: the
 * rest is a PEM chain verified against an empty bundle (must refuse
 * cleanly, never crash). */
#include "writ/identity.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool allowed(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
           c == '_' || c == '/' || c == ':';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static writ_bundle *b;
    if (size < 1)
        return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    writ_error err;
    if (data[0] % 2 == 0) {
        static writ_spiffe_id id, again;
        if (writ_spiffe_id_parse(s, n, &id, &err) != WRIT_OK)
            return 0;
        if (id.len != n || memcmp(id.str, s, n) || id.str[n] != '\0')
            abort();
        if (writ_spiffe_trust_domain_check(id.str + 9, id.td_len, &err) != WRIT_OK)
            abort();
        for (size_t i = 0; i < n; i++)
            if (!allowed((unsigned char)s[i]))
                abort();
        if (writ_spiffe_id_parse(id.str, id.len, &again, &err) != WRIT_OK || again.td_len != id.td_len ||
            again.path_off != id.path_off)
            abort();
        if (strstr(id.str + 9, "//") || (id.len > id.path_off && id.str[id.len - 1] == '/'))
            abort();
        return 0;
    }
    if (!b && !(b = writ_bundle_new()))
        abort();
    writ_verify_opts o = {.audience = "x", .now = 1700000000};
    writ_identity *id = NULL;
    writ_reason why;
    if (writ_identity_verify_x509(b, &o, s, n, &id, &why, &err) == WRIT_OK)
        abort(); /* no roots were loaded, nothing can verify */
    if (id)
        abort();
    return 0;
}
