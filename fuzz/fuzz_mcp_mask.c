/* fuzz_mcp_mask.c - libFuzzer target for the masking of the gateway's
 * credentials in answers (src/mcp/mask.c).
 *
 * Input: CRED \0 JWT \0 S ANSWER: the upstream's credential, the token
 * minted for the call (either may be empty), one byte that sizes the pieces
 * the answer arrives in, and the answer.  Besides "no crash", it aborts
 * when a property fails:
 *   - masking changes bytes to '*' only;
 *   - where the answer held the credential, the minted token or its
 *     signature (each of MCP_MASK_MIN bytes or more), it is masked (a text
 *     equal to one may be left where masking made it: one that holds a '*');
 *   - every JWT of the token's key in the answer (its header, then
 *     base64url with one '.' in it) is masked whole;
 *   - read in pieces, a piece's masking changes no byte before the hold
 *     (those a stream has handed out), and the answer ends masked as when
 *     read whole. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/mask.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_mcp_mask: %s\n", what);
    abort();
}

/* Every place where v[0..k) stood in the answer is masked in a. */
static void masked_where(const char *ans, const char *a, size_t n, const char *v, size_t k, const char *what)
{
    if (!k || k > n)
        return;
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(ans + i, v, k))
            for (size_t j = i; j < i + k; j++)
                if (a[j] != '*')
                    fail(what);
}

static bool b64url(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    const char *z1 = memchr(in, '\0', size);
    if (!z1)
        return 0;
    const char *z2 = memchr(z1 + 1, '\0', size - (size_t)(z1 + 1 - in));
    if (!z2 || (size_t)(z2 + 1 - in) >= size)
        return 0;
    const char *cred = in, *jwt = z1 + 1, *ans = z2 + 2;
    size_t cn = (size_t)(z1 - in), jn = (size_t)(z2 - jwt), an = size - (size_t)(ans - in);
    unsigned step = (unsigned char)z2[1] % 64 + 1;

    mcp_mask whole, parts;
    mcp_mask_init(&whole, cn ? cred : NULL, cn);
    mcp_mask_token(&whole, jn ? jwt : NULL, jn);
    parts = whole; /* nothing allocated yet: the two share nothing */
    char *a = malloc(an + 1), *b = malloc(an + 1), *before = malloc(an + 1);
    if (!a || !b || !before)
        fail("out of memory");
    memcpy(a, ans, an);
    memcpy(b, ans, an);
    mcp_mask_add(&whole, a, an, 0);

    size_t hold = mcp_mask_hold(&parts);
    for (size_t at = 0; at < an;) {
        size_t n = an - at < step ? an - at : step;
        memcpy(before, b, at);
        mcp_mask_add(&parts, b, at + n, at);
        size_t out = at > hold ? at - hold : 0;
        if (memcmp(before, b, out))
            fail("a piece masked bytes already handed out");
        at += n;
        step = step * 5 % 61 + 1; /* pieces of changing sizes */
    }
    if (memcmp(a, b, an))
        fail("read in pieces, masked otherwise than read whole");

    for (size_t i = 0; i < an; i++)
        if (a[i] != ans[i] && a[i] != '*')
            fail("a byte changed to something other than '*'");
    if (cn >= MCP_MASK_MIN)
        masked_where(ans, a, an, cred, cn, "the credential shown");
    masked_where(ans, a, an, jwt, jn, "the token shown");
    const char *first = memchr(jwt, '.', jn), *last = NULL;
    for (const char *d = first; d; d = memchr(d + 1, '.', jn - (size_t)(d + 1 - jwt)))
        last = d;
    size_t sig = last ? jn - (size_t)(last + 1 - jwt) : jn, head = first ? (size_t)(first + 1 - jwt) : 0;
    if (jn && sig >= MCP_MASK_MIN)
        masked_where(ans, a, an, jwt + jn - sig, sig, "the token's signature shown");
    if (head >= MCP_MASK_MIN) {
        /* each JWT of that key, as it stood in the answer: masked whole */
        for (size_t i = 0; i + head <= an; i++) {
            if (memcmp(ans + i, jwt, head))
                continue;
            size_t e = i + head;
            bool dot = false;
            while (e < an && (b64url((unsigned char)ans[e]) || (ans[e] == '.' && !dot))) {
                dot |= ans[e] == '.';
                e++;
            }
            for (size_t j = i; j < e; j++)
                if (a[j] != '*')
                    fail("a JWT of the token's key not masked whole");
        }
    }
    mcp_mask_free(&whole);
    mcp_mask_free(&parts);
    free(a);
    free(b);
    free(before);
    return 0;
}
