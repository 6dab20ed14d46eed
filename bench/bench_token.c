/* bench_token.c - cost of verifying a valid Writ task token, cold (full
 * parse + signature + claims) and cached (token bytes seen before: claims
 * re-checked, signature skipped), against the raw signature verification
 * measured in the same run with OpenSSL EVP directly (the `openssl speed`
 * way: one EVP_DigestVerify over the same signing input, and one
 * EVP_PKEY_verify over a 32-byte digest).
 *
 *   bench_token [seconds-per-case]        (default 1; medians of 15 interleaved slices)
 *
 * Build it in Release (cmake -DCMAKE_BUILD_TYPE=Release), not with the
 * sanitizers, for meaningful numbers. */
#include "jose/jose.h"
#include "util/alloc.h"
#include "writ/token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ec.h>
#include <openssl/pem.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct ctx {
    writ_token_verifier *v;
    const writ_token_check *chk;
    const char *tok;
    size_t len;
    EVP_PKEY *pub;
    const unsigned char *der;
    size_t der_len;
    unsigned char digest[32];
    const unsigned char *msg;
    size_t msg_len;
} ctx;

static int run_verify(ctx *c)
{
    writ_task_token *t;
    writ_reason why;
    writ_error err;
    if (writ_token_verify(c->v, c->chk, c->tok, c->len, &t, &why, &err) != WRIT_OK) {
        fprintf(stderr, "bench: verify failed: %s\n", err.msg);
        exit(1);
    }
    writ_task_token_free(t);
    return 1;
}

static int run_raw_digestverify(ctx *c)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int ok = m && EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, c->pub) == 1 &&
             EVP_DigestVerify(m, c->der, c->der_len, c->msg, c->msg_len) == 1;
    EVP_MD_CTX_free(m);
    if (!ok) {
        fprintf(stderr, "bench: raw verify failed\n");
        exit(1);
    }
    return 1;
}

static int run_raw_speed(ctx *c)
{
    EVP_PKEY_CTX *p = EVP_PKEY_CTX_new(c->pub, NULL);
    int ok = p && EVP_PKEY_verify_init(p) == 1 &&
             EVP_PKEY_verify(p, c->der, c->der_len, c->digest, sizeof c->digest) == 1;
    EVP_PKEY_CTX_free(p);
    if (!ok) {
        fprintf(stderr, "bench: raw digest verify failed\n");
        exit(1);
    }
    return 1;
}

/* One timing slice: ns per call of fn over about secs seconds. */
static double slice(int (*fn)(ctx *), ctx *c, double secs)
{
    long n = 0;
    double t0 = now_s(), t;
    do {
        for (int i = 0; i < 50; i++)
            fn(c);
        n += 50;
        t = now_s() - t0;
    } while (t < secs);
    return t * 1e9 / (double)n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define ROUNDS 15
#define NCASES 4

/* The machines are shared: the cases run interleaved, ROUNDS slices each,
 * and the median slice is reported (the min too), so a burst of foreign
 * load hits every case alike instead of skewing one ratio. */
static void measure_all(const char *const *names, int (*const *fns)(ctx *), ctx *const *cs, double secs,
                        double med[NCASES])
{
    double t[NCASES][ROUNDS];
    for (int k = 0; k < NCASES; k++)
        for (int i = 0; i < 200; i++) /* warm up */
            fns[k](cs[k]);
    for (int r = 0; r < ROUNDS; r++)
        for (int k = 0; k < NCASES; k++)
            t[k][r] = slice(fns[k], cs[k], secs / ROUNDS);
    for (int k = 0; k < NCASES; k++) {
        qsort(t[k], ROUNDS, sizeof(double), cmp_double);
        med[k] = t[k][ROUNDS / 2];
        printf("%-44s %10.0f ns/op (min %8.0f) %10.0f op/s\n", names[k], med[k], t[k][0], 1e9 / med[k]);
    }
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 1.0;
    if (secs <= 0)
        secs = 1.0;
    writ_error err;
    writ_reason why;
    writ_keyring *kr = writ_keyring_new();
    if (!kr || writ_keyring_generate(kr, WRIT_KEY_ES256, NULL, &err) != WRIT_OK)
        return 1;
    static const char *const acts[] = {"tool:read", "tool:search"};
    static const char *const res[] = {"repo:corp/*", "ticket:42"};
    static const char *const dests[] = {"api.github.com"};
    writ_task_scope scope = {.purpose = "triage ticket 42", .actions = acts, .n_actions = 2, .resources = res,
                             .n_resources = 2, .sensitivity = "internal", .destinations = dests,
                             .n_destinations = 1};
    writ_issuer_config cfg = {.issuer = "https://writ.corp.example", .audience = "corp.example"};
    writ_identity *id;
    if (writ_identity_new(WRIT_ID_JWT_SVID, "spiffe://corp.example/agents/triage-bot", NULL, 0, NULL, &id, &err))
        return 1;
    writ_mint_request rq = {.scope = &scope, .txn = "task-42"};
    char *tok;
    size_t len;
    if (writ_token_mint(kr, &cfg, id, &rq, &tok, &len, &why, &err) != WRIT_OK) {
        fprintf(stderr, "mint: %s\n", err.msg);
        return 1;
    }
    writ_revocations *rev;
    if (writ_revocations_open(NULL, &rev, &err) != WRIT_OK)
        return 1;
    for (int i = 0; i < 10000; i++) { /* a realistic, non-empty revocation set */
        char v[32];
        int n = snprintf(v, sizeof v, "revoked-%d", i);
        if (writ_revocations_add(rev, WRIT_REVOKE_SUBTREE, v, (size_t)n, 0, NULL, &err) != WRIT_OK)
            return 1;
    }
    writ_token_check chk = {.audience = "corp.example", .revocations = rev};
    writ_token_verifier *cold, *cached;
    if (writ_token_verifier_from_keyring(kr, cfg.issuer, 0, &cold, &err) != WRIT_OK ||
        writ_token_verifier_from_keyring(kr, cfg.issuer, 1024, &cached, &err) != WRIT_OK)
        return 1;

    /* The raw signature: the same signing input and key, DER-encoded. */
    wr_jws j;
    if (wr_jws_parse(tok, len, 0, NULL, false, &j, &why, &err) != WRIT_OK || j.sig_len != 64)
        return 1;
    ECDSA_SIG *es = ECDSA_SIG_new();
    ECDSA_SIG_set0(es, BN_bin2bn(j.sig, 32, NULL), BN_bin2bn(j.sig + 32, 32, NULL));
    unsigned char *der = NULL;
    int der_len = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    /* public key only, as a verifier holds it */
    char *jwks;
    size_t jl;
    if (writ_keyring_jwks(kr, &jwks, &jl, &err) != WRIT_OK)
        return 1;
    json_t *doc = json_loads(jwks, 0, NULL);
    wr_jwk pub;
    if (!doc || wr_jwk_from_json(json_array_get(json_object_get(doc, "keys"), 0), &pub, &err) != WRIT_OK)
        return 1;
    ctx c = {.chk = &chk, .tok = tok, .len = len, .pub = pub.pkey, .der = der, .der_len = (size_t)der_len,
             .msg = (const unsigned char *)j.signing_input, .msg_len = j.signing_input_len};
    unsigned int dl;
    EVP_Digest(c.msg, c.msg_len, c.digest, &dl, EVP_sha256(), NULL);

    printf("Writ task token verification (ES256, %zu-byte token, 10000 revocations, %s)\n", len,
           OpenSSL_version(OPENSSL_VERSION));
    ctx c_cold = c, c_cached = c;
    c_cold.v = cold;
    c_cached.v = cached;
    static const char *const names[NCASES] = {"raw: EVP_PKEY_verify, 32-byte digest", "raw: EVP_DigestVerify over signing input",
                                              "writ_token_verify, cold (no cache)", "writ_token_verify, cached"};
    int (*const fns[NCASES])(ctx *) = {run_raw_speed, run_raw_digestverify, run_verify, run_verify};
    ctx *const cs[NCASES] = {&c, &c, &c_cold, &c_cached};
    double med[NCASES];
    measure_all(names, fns, cs, secs * NCASES, med);
    double raw_speed = med[0], raw = med[1], t_cold = med[2], t_cached = med[3];
    printf("\nratio cold / raw EVP_DigestVerify     %6.3f\n", t_cold / raw);
    printf("ratio cold / raw EVP_PKEY_verify      %6.3f\n", t_cold / raw_speed);
    printf("ratio cached / raw EVP_DigestVerify   %6.4f  (%.0fx faster than the signature alone)\n", t_cached / raw,
           raw / t_cached);
    printf("token overhead beyond the signature    %6.0f ns (cold - raw)\n", t_cold - raw);

    json_decref(doc);
    wr_jwk_clear(&pub);
    OPENSSL_free(der);
    wr_jws_clear(&j);
    writ_free_string(jwks);
    writ_free_string(tok);
    writ_token_verifier_free(cold);
    writ_token_verifier_free(cached);
    writ_revocations_close(rev);
    writ_identity_free(id);
    writ_keyring_free(kr);
    return 0;
}
