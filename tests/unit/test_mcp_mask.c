/* test_mcp_mask.c - the gateway's credentials masked in answers (mcp/mask.h):
 * the upstream's key, the call's own token (whole, or its signature alone)
 * and every other JWT of the same signing key, also when the network cuts
 * them; a stream keeps back no more than the hold, and changes nothing it
 * handed out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mcp/mask.h"

#define HEAD "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0."
#define OWN HEAD "eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
#define OTHER HEAD "eyJzdWIiOiJib2IifQ.YW5vdGhlci1zaWduYXR1cmUtaGVyZQ"
#define KEY "refl-secret-0123456789"

/* ans as it comes in pieces of `piece` bytes (0: whole), through a mask for
 * cred and jwt: what it ends as, checked against want ('*' where masked) */
static void check(const char *cred, const char *jwt, const char *ans, size_t piece, const char *want)
{
    mcp_mask m;
    mcp_mask_init(&m, cred, cred ? strlen(cred) : 0);
    mcp_mask_token(&m, jwt, jwt ? strlen(jwt) : 0);
    size_t n = strlen(ans), hold = mcp_mask_hold(&m);
    char *b = malloc(n + 1), *was = malloc(n + 1);
    assert_non_null(b);
    assert_non_null(was);
    memcpy(b, ans, n + 1);
    for (size_t at = 0; at < n;) {
        size_t k = piece && n - at > piece ? piece : n - at;
        memcpy(was, b, at);
        assert_true(mcp_mask_add(&m, b, at + k, at));
        size_t out = at > hold ? at - hold : 0; /* what a stream has handed out */
        if (memcmp(was, b, out))
            fail_msg("piece at %zu changed bytes handed out", at);
        at += k;
    }
    if (strcmp(b, want))
        fail_msg("pieces of %zu:\n got  %s\n want %s", piece, b, want);
    mcp_mask_free(&m);
    free(b);
    free(was);
}

/* s with every byte of each occurrence of what[i] (NULL-ended) made '*' */
static char *starred(const char *s, const char *const *what)
{
    char *r = strdup(s);
    assert_non_null(r);
    for (; *what; what++)
        for (char *q = strstr(r, *what); q; q = strstr(q + 1, *what))
            memset(q, '*', strlen(*what));
    return r;
}

static void every_cut(const char *cred, const char *jwt, const char *ans, const char *want)
{
    for (size_t piece = 0; piece < 40; piece++)
        check(cred, jwt, ans, piece, want);
}

static void test_key(void **state)
{
    (void)state;
    const char *ans = "{\"text\":\"key " KEY " and again " KEY "\"}";
    char *want = starred(ans, (const char *const[]){KEY, NULL});
    every_cut(KEY, NULL, ans, want);
    free(want);
    every_cut("short", NULL, "a short key is not masked: short", "a short key is not masked: short");
}

static void test_own_token(void **state)
{
    (void)state;
    const char *ans = "{\"text\":\"Bearer " OWN "\"}";
    char *want = starred(ans, (const char *const[]){OWN, NULL});
    every_cut(NULL, OWN, ans, want);
    free(want);
    /* split at its dots: the signature alone is masked (header and payload
     * without it are no token; the header without its '.' is not HEAD) */
    const char *parts = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0\n"
                        "eyJzdWIiOiJhbGljZSJ9\nc2lnbmF0dXJlLW9mLXRoZS10b2tlbg\n";
    want = starred(parts, (const char *const[]){"c2lnbmF0dXJlLW9mLXRoZS10b2tlbg", NULL});
    every_cut(NULL, OWN, parts, want);
    free(want);
}

static void test_other_tokens(void **state)
{
    (void)state;
    /* a request log: other calls' tokens of the same key, glued to others */
    const char *ans = "Authorization: Bearer " OTHER "\nAuthorization: Bearer " OTHER "," OTHER "\n" OTHER;
    char *want = starred(ans, (const char *const[]){OTHER, NULL});
    every_cut(NULL, OWN, ans, want);
    free(want);
    /* a token of another key is not recognised */
    const char *foreign = "Bearer eyJhbGciOiJSUzI1NiJ9.eyJ9.c2ln";
    every_cut(NULL, OWN, foreign, foreign);
    /* nor a JWT ends at a second '.': what follows is no part of it */
    ans = "x " HEAD "cGF5bG9hZA.c2ln.rest y";
    want = starred(ans, (const char *const[]){HEAD "cGF5bG9hZA.c2ln", NULL});
    every_cut(NULL, OWN, ans, want);
    free(want);
}

/* a key that shares bytes with the token's header hides nothing: each is
 * looked for in what came, not in what another masked */
static void test_overlaps(void **state)
{
    (void)state;
    const char *cred = "secret-eyJhbGci"; /* ends as the header begins */
    char text[512];
    snprintf(text, sizeof text, "leak secret-%s%s", HEAD, "cGF5bG9hZA.c2lnbmF0dXJl end");
    char *want = strdup(text);
    assert_non_null(want);
    memset(want + 5, '*', strlen(want) - 5 - 4); /* "secret-" and the whole JWT, up to " end" */
    every_cut(cred, OWN, text, want);
    free(want);
}

static void test_nothing_to_mask(void **state)
{
    (void)state;
    every_cut(NULL, NULL, "nothing to mask " OWN, "nothing to mask " OWN);
    mcp_mask m;
    mcp_mask_init(&m, NULL, 0);
    assert_int_equal(mcp_mask_hold(&m), 0);
    mcp_mask_token(&m, OWN, strlen(OWN));
    assert_int_equal(mcp_mask_hold(&m), strlen(OWN) - 1);
    mcp_mask_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key),           cmocka_unit_test(test_own_token),
        cmocka_unit_test(test_other_tokens),  cmocka_unit_test(test_overlaps),
        cmocka_unit_test(test_nothing_to_mask),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
