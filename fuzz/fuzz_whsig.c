/* fuzz_whsig.c - fuzz the webhook secret reader and the signature
 * (src/approval/whsig.c).
 *
 * The input is a candidate secret.  Checks: it is accepted exactly when it
 * is "whsec_" and the canonical, padded, standard base64 of 24 to 64 bytes
 * (the oracle: OpenSSL's encoder gives the text back from the key); a
 * refusal says why and leaves no key; an accepted key
 * signs the input itself as a body, with the same signature every time,
 * "v1," and 44 base64 characters. */
#include "approval/approval.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    wr_whsig_key key;
    char why[200] = "";
    bool ok = wr_whsig_parse(s, size, &key, why, sizeof why);
    /* the oracle */
    bool want = false;
    if (size > 6 && !memcmp(s, "whsec_", 6)) {
        size_t n = size - 6;
        unsigned char raw[3 * 64 / 4 + 3];
        if (n % 4 == 0 && n <= 4 * ((64 + 2) / 3) && !memchr(s + 6, '\0', n)) {
            int got = EVP_DecodeBlock(raw, (const unsigned char *)s + 6, (int)n);
            size_t pad = n >= 1 && s[size - 1] == '=' ? (n >= 2 && s[size - 2] == '=' ? 2 : 1) : 0;
            if (got >= 0 && (size_t)got >= pad) {
                size_t len = (size_t)got - pad;
                char back[4 * ((64 + 2) / 3) + 1];
                if (len >= 24 && len <= 64 && EVP_EncodeBlock((unsigned char *)back, raw, (int)len) == (int)n &&
                    !memcmp(back, s + 6, n))
                    want = true;
            }
        }
    }
    if (ok != want)
        abort();
    if (!ok) {
        if (!why[0] || key.n != 0)
            abort();
        return 0;
    }
    if (key.n < 24 || key.n > 64)
        abort();
    char a[WR_WHSIG_SIG_MAX], b[WR_WHSIG_SIG_MAX];
    if (!wr_whsig_sign(&key, "msg_x", 1700000000, data, size, a) ||
        !wr_whsig_sign(&key, "msg_x", 1700000000, data, size, b) || strcmp(a, b) || strncmp(a, "v1,", 3) ||
        strlen(a) != 3 + 44)
        abort();
    if (wr_whsig_sign(&key, "m.x", 1, data, size, a) || wr_whsig_sign(&key, "", 1, data, size, a))
        abort(); /* an id with '.' or empty is refused */
    wr_whsig_clear(&key);
    return 0;
}
