/* test_identity.c - SPIFFE IDs, JWT-SVID / OIDC verification and X.509-SVIDs,
 * with a table of hostile tokens each refused for the right reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "identity/identity_int.h"
#include "token_fixtures.h"
#include "writ/identity.h"
#include "writ/token.h"

#define NOW 1700000000LL

/* ------------------------------------------------------------ SPIFFE IDs */

static void test_spiffe_valid(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "spiffe://corp.example/agents/triage-bot",  "spiffe://corp.example",           "spiffe://a/b",
        "spiffe://td-1.x_y/Path.With-Mixed_Case/0", "spiffe://example.org/..a/.b/a..",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        writ_spiffe_id id;
        writ_error err;
        assert_int_equal(writ_spiffe_id_parse(ok[i], strlen(ok[i]), &id, &err), WRIT_OK);
        assert_int_equal(id.len, strlen(ok[i]));
    }
    writ_spiffe_id id;
    writ_error err;
    const char *s = "spiffe://corp.example/agents/x";
    assert_int_equal(writ_spiffe_id_parse(s, strlen(s), &id, &err), WRIT_OK);
    assert_int_equal(id.td_len, strlen("corp.example"));
    assert_string_equal(id.str + id.path_off, "/agents/x");
}

static void test_spiffe_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *id;
        const char *msg;
    } bad[] = {
        {"", "must start with"},
        {"http://corp.example/x", "must start with"},
        {"SPIFFE://corp.example/x", "must start with"},
        {"spiffe:/corp.example/x", "must start with"},
        {"spiffe://", "trust domain is empty"},
        {"spiffe:///x", "trust domain is empty"},
        {"spiffe://Corp.example/x", "lower case"},
        {"spiffe://corp.example:8443/x", "port"},
        {"spiffe://user@corp.example/x", "userinfo"},
        {"spiffe://corp.example/x?q=1", "query"},
        {"spiffe://corp.example/x#frag", "fragment"},
        {"spiffe://corp.example/a%20b", "percent"},
        {"spiffe://corp.example/", "ends with '/'"},
        {"spiffe://corp.example/a/", "ends with '/'"},
        {"spiffe://corp.example//a", "empty path segment"},
        {"spiffe://corp.example/./a", "'.' and '..'"},
        {"spiffe://corp.example/a/..", "'.' and '..'"},
        {"spiffe://corp.example/a b", "not allowed"},
        {"spiffe://corp.exa*mple/a", "not allowed"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        writ_spiffe_id id;
        writ_error err;
        writ_status st = writ_spiffe_id_parse(bad[i].id, strlen(bad[i].id), &id, &err);
        if (st == WRIT_OK || !strstr(err.msg, bad[i].msg)) {
            fprintf(stderr, "case %zu '%s': got '%s'\n", i, bad[i].id, st == WRIT_OK ? "accepted" : err.msg);
            fail();
        }
    }
    /* NUL inside, and the length limit: 2048 ok, 2049 refused. */
    writ_spiffe_id id;
    writ_error err;
    assert_int_not_equal(writ_spiffe_id_parse("spiffe://a/b\0c", 14, &id, &err), WRIT_OK);
    char big[2100];
    memcpy(big, "spiffe://td/", 12);
    memset(big + 12, 'a', sizeof big - 12);
    assert_int_equal(writ_spiffe_id_parse(big, 2048, &id, &err), WRIT_OK);
    assert_int_not_equal(writ_spiffe_id_parse(big, 2049, &id, &err), WRIT_OK);
    assert_non_null(strstr(err.msg, "longer than 2048"));
    /* trust domain: 255 bytes ok, 256 refused (found by fuzz_spiffe) */
    char td[9 + 256 + 2];
    memcpy(td, "spiffe://", 9);
    memset(td + 9, 'a', 256);
    assert_int_equal(writ_spiffe_id_parse(td, 9 + 255, &id, &err), WRIT_OK);
    assert_int_not_equal(writ_spiffe_id_parse(td, 9 + 256, &id, &err), WRIT_OK);
    assert_non_null(strstr(err.msg, "longer than 255"));
}

/* ------------------------------------------------------- JWT-SVID / OIDC */

enum signer { S_K1, S_K2, S_K2PS, S_K3, S_K4, S_ROGUE, S_OTHERTD, S_O1, S_HS_PUB, S_NONE };
enum mutate {
    M_NONE,
    M_TAMPER,
    M_TRUNC_SIG,
    M_TWO_PARTS,
    M_FIVE,
    M_PAD,
    M_OVERSIZE,
    M_EMPTY,
    M_DER_SIG,
    M_BITS
};

static struct {
    EVP_PKEY *k1, *k2, *k3, *k4, *rogue, *other, *o1;
    writ_bundle *b;
} F;

static int setup(void **state)
{
    (void)state;
    F.k1 = fx_key("P-256");
    F.k2 = fx_key("RSA");
    F.k3 = fx_key("Ed25519");
    F.k4 = fx_key("P-384");
    F.rogue = fx_key("P-256");
    F.other = fx_key("P-256");
    F.o1 = fx_key("P-256");
    F.b = writ_bundle_new();
    EVP_PKEY *keys[] = {F.k1, F.k2, F.k3, F.k4};
    const char *kids[] = {"k1", "k2", "k3", "k4"};
    char *j = fx_jwks(keys, kids, 4, "jwt-svid");
    writ_error err;
    assert_int_equal(writ_bundle_add_spiffe(F.b, "corp.example", 12, j, strlen(j), &err), WRIT_OK);
    free(j);
    const char *okid[] = {"kx"};
    j = fx_jwks(&F.other, okid, 1, NULL);
    assert_int_equal(writ_bundle_add_spiffe(F.b, "other.example", 13, j, strlen(j), &err), WRIT_OK);
    free(j);
    const char *oid[] = {"o1"};
    j = fx_jwks(&F.o1, oid, 1, "sig");
    assert_int_equal(writ_bundle_add_oidc(F.b, "https://issuer.example", 22, j, strlen(j), &err), WRIT_OK);
    free(j);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    writ_bundle_free(F.b);
    EVP_PKEY_free(F.k1);
    EVP_PKEY_free(F.k2);
    EVP_PKEY_free(F.k3);
    EVP_PKEY_free(F.k4);
    EVP_PKEY_free(F.rogue);
    EVP_PKEY_free(F.other);
    EVP_PKEY_free(F.o1);
    return 0;
}

#define SUB "\"sub\":\"spiffe://corp.example/agents/triage-bot\""
#define TIMES "\"iat\":1700000000,\"exp\":1700000300"
#define AUD "\"aud\":\"writ\""
#define GOOD "{" SUB "," AUD "," TIMES "}"

static char *make_token(enum signer s, const char *hdr, const char *claims, enum mutate m)
{
    char *t = NULL;
    char *big = NULL;
    if (m == M_OVERSIZE) {
        size_t n = 9000;
        big = wr_malloc(n + 160);
        int k = snprintf(big, 160, "{" SUB "," AUD "," TIMES ",\"pad\":\"");
        memset(big + k, 'x', n);
        memcpy(big + k + n, "\"}", 3);
        claims = big;
    }
    switch (s) {
    case S_K1:
        t = fx_jws(F.k1, WR_ALG_ES256, hdr, claims);
        break;
    case S_K2:
        t = fx_jws(F.k2, WR_ALG_RS256, hdr, claims);
        break;
    case S_K2PS:
        t = fx_jws(F.k2, WR_ALG_PS256, hdr, claims);
        break;
    case S_K3:
        t = fx_jws(F.k3, WR_ALG_EDDSA, hdr, claims);
        break;
    case S_K4:
        t = fx_jws(F.k4, WR_ALG_ES384, hdr, claims);
        break;
    case S_ROGUE:
        t = fx_jws(F.rogue, WR_ALG_ES256, hdr, claims);
        break;
    case S_OTHERTD:
        t = fx_jws(F.other, WR_ALG_ES256, hdr, claims);
        break;
    case S_O1:
        t = fx_jws(F.o1, WR_ALG_ES256, hdr, claims);
        break;
    case S_HS_PUB: {
        size_t pl;
        char *pem = fx_pubkey_pem(F.k1, &pl);
        t = fx_hs256((unsigned char *)pem, pl, hdr, claims);
        wr_free(pem);
        break;
    }
    case S_NONE:
        t = fx_unsigned(hdr, claims);
        break;
    }
    wr_free(big);
    size_t len = strlen(t);
    char *d1 = strchr(t, '.'), *d2 = strchr(d1 + 1, '.');
    switch (m) {
    case M_TAMPER: {
        /* re-encode the payload with one more claim, keep the signature */
        char *nc = wr_malloc(strlen(claims) + 16);
        size_t cl = strlen(claims);
        memcpy(nc, claims, cl - 1);
        memcpy(nc + cl - 1, ",\"x\":1}", 8);
        char *sig = wr_strndup(d2, strlen(d2));
        size_t hl = (size_t)(d1 - t) + 1;
        char *nt = wr_malloc(hl + wr_b64url_enc_len(strlen(nc)) + strlen(sig) + 1);
        memcpy(nt, t, hl);
        size_t pl = wr_b64url_encode((unsigned char *)nc, strlen(nc), nt + hl);
        memcpy(nt + hl + pl, sig, strlen(sig) + 1);
        wr_free(nc);
        wr_free(sig);
        wr_free(t);
        t = nt;
        break;
    }
    case M_TRUNC_SIG:
        t[len - 2] = '\0';
        break; /* 63 of 64 signature bytes */
    case M_TWO_PARTS:
        *d2 = '\0';
        break;
    case M_FIVE: {
        char *nt = wr_malloc(len + 8);
        memcpy(nt, t, len);
        memcpy(nt + len, ".AA.AA", 7);
        wr_free(t);
        t = nt;
        break;
    }
    case M_PAD: {
        /* a '=' padded header */
        char *nt = wr_malloc(len + 3);
        size_t hl = (size_t)(d1 - t);
        memcpy(nt, t, hl);
        memcpy(nt + hl, "==", 2);
        memcpy(nt + hl + 2, d1, strlen(d1) + 1);
        wr_free(t);
        t = nt;
        break;
    }
    case M_EMPTY:
        t[0] = '\0';
        break;
    case M_DER_SIG: {
        /* an ASN.1 DER ECDSA signature instead of R||S: wrong length */
        char *nt = wr_malloc(len + 32);
        size_t keep = (size_t)(d2 - t) + 1;
        memcpy(nt, t, keep);
        memcpy(nt + keep, "MEUCIQDx", 9);
        wr_free(t);
        t = nt;
        break;
    }
    case M_BITS: {
        /* flip unused low bits of the last signature character: non-canonical */
        char *last = t + len - 1;
        static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        size_t sl = strlen(d2 + 1);
        if (sl % 4 != 0) { /* 2 or 4 unused low bits */
            const char *p = strchr(alpha, *last);
            *last = alpha[(p - alpha) ^ 1];
        }
        break;
    }
    default:
        break;
    }
    return t;
}

typedef struct hostile {
    const char *name;
    enum signer s;
    const char *hdr;
    const char *claims;
    enum mutate m;
    writ_reason want;
} hostile;

static const hostile jwt_cases[] = {
    /* accepted */
    {"es256 svid", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\",\"typ\":\"JWT\"}", GOOD, M_NONE, WRIT_R_OK},
    {"rs256 svid", S_K2, "{\"alg\":\"RS256\",\"kid\":\"k2\"}", GOOD, M_NONE, WRIT_R_OK},
    {"ps256 svid", S_K2PS, "{\"alg\":\"PS256\",\"kid\":\"k2\"}", GOOD, M_NONE, WRIT_R_OK},
    {"eddsa svid", S_K3, "{\"alg\":\"EdDSA\",\"kid\":\"k3\"}", GOOD, M_NONE, WRIT_R_OK},
    {"es384 svid", S_K4, "{\"alg\":\"ES384\",\"kid\":\"k4\",\"typ\":\"JOSE\"}", GOOD, M_NONE, WRIT_R_OK},
    {"aud array", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", "{" SUB ",\"aud\":[\"x\",\"writ\"]," TIMES "}",
     M_NONE, WRIT_R_OK},
    {"oidc", S_O1, "{\"alg\":\"ES256\",\"kid\":\"o1\"}",
     "{\"iss\":\"https://issuer.example\",\"sub\":\"repo:corp/agent\"," AUD "," TIMES "}", M_NONE, WRIT_R_OK},
    {"expired within leeway", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
     "{" SUB "," AUD ",\"iat\":1699999700,\"exp\":1699999990}", M_NONE, WRIT_R_OK},
    /* refused: algorithm */
    {"alg none", S_NONE, "{\"alg\":\"none\",\"kid\":\"k1\"}", GOOD, M_NONE, WRIT_R_ALG},
    {"alg NoNe", S_NONE, "{\"alg\":\"NoNe\",\"kid\":\"k1\"}", GOOD, M_NONE, WRIT_R_ALG},
    {"HS256 with public key", S_HS_PUB, "{\"alg\":\"HS256\",\"kid\":\"k1\"}", GOOD, M_NONE, WRIT_R_ALG},
    {"RS512 not allowed", S_K2, "{\"alg\":\"RS512\",\"kid\":\"k2\"}", GOOD, M_NONE, WRIT_R_ALG},
    {"alg missing", S_K1, "{\"kid\":\"k1\"}", GOOD, M_NONE, WRIT_R_ALG},
    {"alg not a string", S_K1, "{\"alg\":1,\"kid\":\"k1\"}", GOOD, M_NONE, WRIT_R_ALG},
    {"ES256 header, RSA kid", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k2\"}", GOOD, M_NONE, WRIT_R_KEY_ALG},
    {"ES384 header, P-256 kid", S_K4, "{\"alg\":\"ES384\",\"kid\":\"k1\"}", GOOD, M_NONE, WRIT_R_KEY_ALG},
    {"RS256 header, Ed25519 kid", S_K2, "{\"alg\":\"RS256\",\"kid\":\"k3\"}", GOOD, M_NONE, WRIT_R_KEY_ALG},
    /* refused: key selection and signature */
    {"kid missing", S_K1, "{\"alg\":\"ES256\"}", GOOD, M_NONE, WRIT_R_KID_MISSING},
    {"wrong kid", S_K1, "{\"alg\":\"ES256\",\"kid\":\"nope\"}", GOOD, M_NONE, WRIT_R_KID_UNKNOWN},
    {"kid of another trust domain", S_OTHERTD, "{\"alg\":\"ES256\",\"kid\":\"kx\"}", GOOD, M_NONE,
     WRIT_R_KID_UNKNOWN},
    {"embedded jwk header ignored", S_ROGUE, "{\"alg\":\"ES256\",\"kid\":\"rogue\",\"jwk\":{\"kty\":\"EC\"}}",
     GOOD, M_NONE, WRIT_R_KID_UNKNOWN},
    {"rogue key, real kid", S_ROGUE, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", GOOD, M_NONE, WRIT_R_SIGNATURE},
    {"tampered payload", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", GOOD, M_TAMPER, WRIT_R_SIGNATURE},
    {"tampered payload rsa", S_K2, "{\"alg\":\"RS256\",\"kid\":\"k2\"}", GOOD, M_TAMPER, WRIT_R_SIGNATURE},
    {"truncated signature", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", GOOD, M_TRUNC_SIG, WRIT_R_SIGNATURE},
    {"DER ECDSA signature", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", GOOD, M_DER_SIG, WRIT_R_SIGNATURE},
    /* refused: encoding and shape */
    {"two parts", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", GOOD, M_TWO_PARTS, WRIT_R_MALFORMED},
    {"five parts (JWE)", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", GOOD, M_FIVE, WRIT_R_MALFORMED},
    {"padded base64", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", GOOD, M_PAD, WRIT_R_MALFORMED},
    {"non-canonical base64 bits", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", GOOD, M_BITS, WRIT_R_MALFORMED},
    {"empty token", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", GOOD, M_EMPTY, WRIT_R_MALFORMED},
    {"oversized token", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", GOOD, M_OVERSIZE, WRIT_R_TOO_LARGE},
    {"payload is an array", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", "[1,2]", M_NONE, WRIT_R_MALFORMED},
    {"payload not JSON", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", "{\"sub\":", M_NONE, WRIT_R_MALFORMED},
    {"duplicate claim", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
     "{" SUB ",\"sub\":\"spiffe://corp.example/agents/admin\"," AUD "," TIMES "}", M_NONE, WRIT_R_DUP_KEY},
    {"duplicate header key", S_K1, "{\"alg\":\"ES256\",\"alg\":\"none\",\"kid\":\"k1\"}", GOOD, M_NONE,
     WRIT_R_DUP_KEY},
    {"crit header", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\",\"crit\":[\"b64\"],\"b64\":false}", GOOD, M_NONE,
     WRIT_R_CRIT},
    {"typ at+jwt", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\",\"typ\":\"at+jwt\"}", GOOD, M_NONE, WRIT_R_TYP},
    /* refused: time */
    {"expired", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
     "{" SUB "," AUD ",\"iat\":1699990000,\"exp\":1699999000}", M_NONE, WRIT_R_EXPIRED},
    {"not yet valid", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
     "{" SUB "," AUD "," TIMES ",\"nbf\":1700000100}", M_NONE, WRIT_R_NOT_YET_VALID},
    {"iat in future", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
     "{" SUB "," AUD ",\"iat\":1700000100,\"exp\":1700000400}", M_NONE, WRIT_R_IAT},
    {"lifetime too long", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
     "{" SUB "," AUD ",\"iat\":1700000000,\"exp\":1800000000}", M_NONE, WRIT_R_LIFETIME},
    {"exp missing", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", "{" SUB "," AUD ",\"iat\":1700000000}",
     M_NONE, WRIT_R_CLAIM_MISSING},
    {"exp is a string", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
     "{" SUB "," AUD ",\"exp\":\"1700000300\"}", M_NONE, WRIT_R_CLAIM_TYPE},
    /* refused: audience, issuer, subject */
    {"wrong aud", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", "{" SUB ",\"aud\":\"other\"," TIMES "}", M_NONE,
     WRIT_R_AUD},
    {"empty aud array", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", "{" SUB ",\"aud\":[]," TIMES "}", M_NONE,
     WRIT_R_CLAIM_TYPE},
    {"aud missing", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", "{" SUB "," TIMES "}", M_NONE,
     WRIT_R_CLAIM_MISSING},
    {"sub missing", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", "{" AUD "," TIMES "}", M_NONE,
     WRIT_R_CLAIM_MISSING},
    {"sub not a SPIFFE ID", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
     "{\"sub\":\"triage-bot\"," AUD "," TIMES "}", M_NONE, WRIT_R_SUB},
    {"sub with dot segment", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
     "{\"sub\":\"spiffe://corp.example/agents/../admin\"," AUD "," TIMES "}", M_NONE, WRIT_R_SUB},
    {"sub with port", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
     "{\"sub\":\"spiffe://corp.example:443/a\"," AUD "," TIMES "}", M_NONE, WRIT_R_SUB},
    {"sub is a bare trust domain", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
     "{\"sub\":\"spiffe://corp.example\"," AUD "," TIMES "}", M_NONE, WRIT_R_SUB},
    {"sub is a bare trust domain with '/'", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
     "{\"sub\":\"spiffe://corp.example/\"," AUD "," TIMES "}", M_NONE, WRIT_R_SUB},
    {"untrusted trust domain", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
     "{\"sub\":\"spiffe://evil.example/a\"," AUD "," TIMES "}", M_NONE, WRIT_R_UNTRUSTED},
    {"oidc wrong iss", S_O1, "{\"alg\":\"ES256\",\"kid\":\"o1\"}",
     "{\"iss\":\"https://evil.example\",\"sub\":\"repo:corp/agent\"," AUD "," TIMES "}", M_NONE, WRIT_R_ISS},
    {"oidc key for svid", S_O1, "{\"alg\":\"ES256\",\"kid\":\"o1\"}", GOOD, M_NONE, WRIT_R_KID_UNKNOWN},
    {"oidc sub is a SPIFFE ID", S_O1, "{\"alg\":\"ES256\",\"kid\":\"o1\"}",
     "{\"iss\":\"https://issuer.example\",\"sub\":\"spiffe://corp.example/agents/triage-bot\"," AUD "," TIMES
     "}",
     M_NONE, WRIT_R_SUB},
    {"oidc sub is a SPIFFE ID, upper-case scheme", S_O1, "{\"alg\":\"ES256\",\"kid\":\"o1\"}",
     "{\"iss\":\"https://issuer.example\",\"sub\":\"SPIFFE://corp.example/agents/triage-bot\"," AUD "," TIMES
     "}",
     M_NONE, WRIT_R_SUB},
    {"oidc sub is a malformed SPIFFE URI", S_O1, "{\"alg\":\"ES256\",\"kid\":\"o1\"}",
     "{\"iss\":\"https://issuer.example\",\"sub\":\"spiffe:corp.example/agents/triage-bot\"," AUD "," TIMES
     "}",
     M_NONE, WRIT_R_SUB},
    {"svid key for oidc", S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
     "{\"iss\":\"https://issuer.example\",\"sub\":\"repo:corp/agent\"," AUD "," TIMES "}", M_NONE,
     WRIT_R_KID_UNKNOWN},
};

static void test_jwt_table(void **state)
{
    (void)state;
    size_t failures = 0;
    for (size_t i = 0; i < sizeof jwt_cases / sizeof jwt_cases[0]; i++) {
        const hostile *c = &jwt_cases[i];
        char *t = make_token(c->s, c->hdr, c->claims, c->m);
        writ_verify_opts o = {.audience = "writ", .now = NOW, .leeway = 30};
        writ_identity *id = (writ_identity *)0x1;
        writ_reason why = WRIT_R_INTERNAL;
        writ_error err = {0};
        writ_status st = writ_identity_verify_jwt(F.b, &o, t, strlen(t), &id, &why, &err);
        bool ok = c->want == WRIT_R_OK
                      ? (st == WRIT_OK && id && why == WRIT_R_OK)
                      : (st != WRIT_OK && id == NULL && why == c->want &&
                         !strncmp(err.msg, writ_reason_name(c->want), strlen(writ_reason_name(c->want))));
        if (!ok) {
            fprintf(stderr, "FAIL %-32s want %s got %s (%s)\n", c->name, writ_reason_name(c->want),
                    writ_reason_name(why), err.msg);
            failures++;
        } else if (st != WRIT_OK) {
            printf("  refused %-32s %s\n", c->name, err.msg);
        }
        if (st == WRIT_OK)
            writ_identity_free(id);
        wr_free(t);
    }
    assert_int_equal(failures, 0);
}

/* Low-S only: for a valid ES256 / ES384 token, the twin signature (r, n - s)
 * verifies under OpenSSL, yet Writ refuses whichever of the two is high-S,
 * for JWT-SVIDs and OIDC tokens alike.  Writ's own signer emits low-S. */
static void test_ecdsa_low_s(void **state)
{
    (void)state;
    static const struct {
        enum signer s;
        const char *hdr, *claims;
        int nid;
        size_t fl;
    } cases[] = {
        {S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", GOOD, NID_X9_62_prime256v1, 32},
        {S_O1, "{\"alg\":\"ES256\",\"kid\":\"o1\"}",
         "{\"iss\":\"https://issuer.example\",\"sub\":\"repo:corp/agent\"," AUD "," TIMES "}",
         NID_X9_62_prime256v1, 32},
        {S_K4, "{\"alg\":\"ES384\",\"kid\":\"k4\"}", GOOD, NID_secp384r1, 48},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        EVP_PKEY *k = cases[c].s == S_K1 ? F.k1 : cases[c].s == S_O1 ? F.o1 : F.k4;
        const EVP_MD *md = cases[c].fl == 32 ? EVP_sha256() : EVP_sha384();
        /* several signatures, so the property does not rest on one random s */
        for (int round = 0; round < 8; round++) {
            char *t = make_token(cases[c].s, cases[c].hdr, cases[c].claims, M_NONE);
            bool orig_high;
            char *twin = fx_flip_s(t, cases[c].nid, cases[c].fl, &orig_high);
            assert_false(orig_high); /* Writ's signer normalises */
            assert_true(fx_openssl_accepts(k, t, md, cases[c].fl));
            assert_true(fx_openssl_accepts(k, twin, md, cases[c].fl));
            writ_verify_opts o = {.audience = "writ", .now = NOW};
            writ_identity *id = NULL;
            writ_reason why = WRIT_R_OK;
            writ_error err;
            assert_int_equal(writ_identity_verify_jwt(F.b, &o, t, strlen(t), &id, &why, &err), WRIT_OK);
            writ_identity_free(id);
            id = (writ_identity *)0x1;
            assert_int_not_equal(writ_identity_verify_jwt(F.b, &o, twin, strlen(twin), &id, &why, &err),
                                 WRIT_OK);
            assert_null(id);
            assert_int_equal(why, WRIT_R_SIGNATURE);
            assert_non_null(strstr(err.msg, "high S"));
            /* the documented opt-out for issuers that do not normalise S */
            o.allow_high_s = true;
            assert_int_equal(writ_identity_verify_jwt(F.b, &o, twin, strlen(twin), &id, &why, &err), WRIT_OK);
            writ_identity_free(id);
            wr_free(twin);
            wr_free(t);
        }
    }
}

/* Identity isolation: an OIDC issuer's subjects are principals of the
 * issuer's own type (default "User"), SVIDs have none (they are agents). */
static void test_oidc_principal_type(void **state)
{
    (void)state;
    writ_verify_opts o = {.audience = "writ", .now = NOW};
    writ_identity *id;
    writ_reason why;
    writ_error err;
    char *t = make_token(
        S_O1, "{\"alg\":\"ES256\",\"kid\":\"o1\"}",
        "{\"iss\":\"https://issuer.example\",\"sub\":\"alice@corp.example\"," AUD "," TIMES "}", M_NONE);
    assert_int_equal(writ_identity_verify_jwt(F.b, &o, t, strlen(t), &id, &why, &err), WRIT_OK);
    assert_int_equal(writ_identity_get_kind(id), WRIT_ID_OIDC);
    assert_string_equal(writ_identity_principal_type(id), WRIT_OIDC_DEFAULT_PRINCIPAL_TYPE);
    assert_int_equal(writ_identity_set_principal_type(id, "bad type", &err), WRIT_EINVAL);
    assert_int_equal(writ_identity_set_principal_type(id, "Corp::Human", &err), WRIT_OK);
    assert_string_equal(writ_identity_principal_type(id), "Corp::Human");
    writ_identity_free(id);
    /* a bundle whose issuer is typed */
    writ_bundle *b = writ_bundle_new();
    const char *oid[] = {"o1"};
    char *j = fx_jwks(&F.o1, oid, 1, "sig");
    assert_int_equal(
        writ_bundle_add_oidc_typed(b, "https://issuer.example", 22, "Writ::Human", j, strlen(j), &err),
        WRIT_OK);
    assert_int_equal(writ_identity_verify_jwt(b, &o, t, strlen(t), &id, &why, &err), WRIT_OK);
    assert_string_equal(writ_identity_principal_type(id), "Writ::Human");
    assert_string_equal(writ_identity_subject(id), "alice@corp.example");
    writ_identity_free(id);
    /* the same issuer cannot be re-added with another type */
    EVP_PKEY *k2 = fx_key("P-256");
    const char *k2id[] = {"o2"};
    char *j2 = fx_jwks(&k2, k2id, 1, "sig");
    assert_int_not_equal(
        writ_bundle_add_oidc_typed(b, "https://issuer.example", 22, "User", j2, strlen(j2), &err), WRIT_OK);
    assert_non_null(strstr(err.msg, "Writ::Human"));
    assert_int_equal(
        writ_bundle_add_oidc_typed(b, "https://issuer.example", 22, "Writ::Human", j2, strlen(j2), &err),
        WRIT_OK);
    /* type names: identifiers joined by "::" */
    static const char *const bad[] = {"",          "1User",  "User::", "::User", "Writ:User", "Writ:::User",
                                      "User name", "User\"", "Us-er"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(writ_principal_type_ok(bad[i]));
        assert_int_not_equal(writ_bundle_add_oidc_typed(b, "https://other", 13, bad[i], j, strlen(j), &err),
                             WRIT_OK);
    }
    char longname[140];
    memset(longname, 'a', 129);
    longname[129] = '\0';
    assert_false(writ_principal_type_ok(longname));
    longname[128] = '\0';
    assert_true(writ_principal_type_ok(longname));
    assert_true(writ_principal_type_ok("User"));
    assert_true(writ_principal_type_ok("Acme::Corp::_User2"));
    /* SVIDs are agents: no principal type of their own */
    char *sv = make_token(S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", GOOD, M_NONE);
    assert_int_equal(writ_identity_verify_jwt(F.b, &o, sv, strlen(sv), &id, &why, &err), WRIT_OK);
    assert_null(writ_identity_principal_type(id));
    writ_identity_free(id);
    wr_free(sv);
    free(j2);
    EVP_PKEY_free(k2);
    free(j);
    writ_bundle_free(b);
    wr_free(t);
}

static void test_jwt_identity_fields(void **state)
{
    (void)state;
    char *t = make_token(S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", GOOD, M_NONE);
    writ_verify_opts o = {.audience = "writ", .now = NOW};
    writ_identity *id;
    writ_reason why;
    writ_error err;
    assert_int_equal(writ_identity_verify_jwt(F.b, &o, t, strlen(t), &id, &why, &err), WRIT_OK);
    assert_int_equal(writ_identity_get_kind(id), WRIT_ID_JWT_SVID);
    assert_string_equal(writ_identity_subject(id), "spiffe://corp.example/agents/triage-bot");
    assert_string_equal(writ_identity_issuer(id), "spiffe://corp.example");
    assert_int_equal(writ_identity_expiry(id), 1700000300);
    assert_null(writ_identity_cert_thumbprint(id));
    writ_identity_free(id);
    wr_free(t);
    /* leeway is clamped: 10^6 seconds of leeway does not revive a day-old token */
    t = make_token(S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
                   "{" SUB "," AUD ",\"iat\":1699900000,\"exp\":1699910000}", M_NONE);
    o.leeway = 1000000;
    assert_int_not_equal(writ_identity_verify_jwt(F.b, &o, t, strlen(t), &id, &why, &err), WRIT_OK);
    assert_int_equal(why, WRIT_R_EXPIRED);
    wr_free(t);
    /* a caller's clock at the int64 extremes, with leeway: refused, no
     * overflow (now + leeway used to wrap at INT64_MAX; UBSan) */
    t = make_token(S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
                   "{" SUB "," AUD ",\"iat\":1700000000,\"nbf\":1700000000,\"exp\":1700000300}", M_NONE);
    o.leeway = WRIT_MAX_LEEWAY;
    o.now = INT64_MAX;
    assert_int_not_equal(writ_identity_verify_jwt(F.b, &o, t, strlen(t), &id, &why, &err), WRIT_OK);
    assert_int_equal(why, WRIT_R_EXPIRED);
    o.now = INT64_MIN;
    assert_int_not_equal(writ_identity_verify_jwt(F.b, &o, t, strlen(t), &id, &why, &err), WRIT_OK);
    assert_int_equal(why, WRIT_R_NOT_YET_VALID);
    wr_free(t);
    /* NumericDates at the extremes are out of range, whatever the clock */
    static const char *const extreme[] = {
        "{" SUB "," AUD ",\"iat\":-9223372036854775808,\"exp\":1700000300}",
        "{" SUB "," AUD ",\"iat\":1700000000,\"exp\":9223372036854775807}",
        "{" SUB "," AUD ",\"iat\":1700000000,\"exp\":1700000300,\"nbf\":-9223372036854775808}",
    };
    o.now = NOW;
    for (size_t i = 0; i < sizeof extreme / sizeof extreme[0]; i++) {
        t = make_token(S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", extreme[i], M_NONE);
        assert_int_not_equal(writ_identity_verify_jwt(F.b, &o, t, strlen(t), &id, &why, &err), WRIT_OK);
        assert_int_equal(why, WRIT_R_CLAIM_TYPE);
        wr_free(t);
    }
}

/* A key set has at most WR_JWKS_MAX_KEYS keys and 1 MiB of text: a bigger
 * one (a bundle endpoint's answer, a file) is refused before it is read,
 * by the bundle and by the task-token verifier alike. */
static void test_key_set_size_limit(void **state)
{
    (void)state;
    size_t n = ((size_t)1 << 20) + 1;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, ' ', n);
    memcpy(big, "{\"keys\": [], \"pad\": \"", 21);
    memcpy(big + n - 2, "\"}", 2);
    big[n] = '\0';
    writ_bundle *b = writ_bundle_new();
    assert_non_null(b);
    writ_error err;
    assert_int_equal(writ_bundle_add_spiffe(b, "corp.example", 12, big, n, &err), WRIT_ELIMIT);
    assert_int_equal(writ_bundle_add_oidc(b, "https://idp", 11, big, n, &err), WRIT_ELIMIT);
    writ_token_verifier *v = NULL;
    assert_int_equal(writ_token_verifier_from_jwks(big, n, "https://writ.test", 0, &v, &err), WRIT_ELIMIT);
    assert_null(v);
    /* at the limit it is read (and has no keys: a key set is refused without) */
    n -= 1;
    memcpy(big + n - 2, "\"}", 2);
    assert_int_not_equal(writ_bundle_add_spiffe(b, "corp.example", 12, big, n, &err), WRIT_ELIMIT);
    writ_bundle_free(b);
    free(big);
}

static void test_bundle_refuses_bad_keys(void **state)
{
    (void)state;
    writ_bundle *b = writ_bundle_new();
    writ_error err;
    const char *priv = "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"a\",\"x\":\"AA\",\"y\":\"AA\","
                       "\"d\":\"AA\"}]}";
    assert_int_not_equal(writ_bundle_add_spiffe(b, "td", 2, priv, strlen(priv), &err), WRIT_OK);
    assert_non_null(strstr(err.msg, "private"));
    const char *oct = "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"a\"}]}";
    assert_int_not_equal(writ_bundle_add_spiffe(b, "td", 2, oct, strlen(oct), &err), WRIT_OK);
    /* a point not on the curve */
    const char *off = "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"a\","
                      "\"x\":\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
                      "\"y\":\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]}";
    assert_int_not_equal(writ_bundle_add_spiffe(b, "td", 2, off, strlen(off), &err), WRIT_OK);
    assert_int_not_equal(writ_bundle_add_spiffe(b, "TD", 2, "{\"keys\":[]}", 11, &err), WRIT_OK);
    const char *dup = "{\"keys\":[],\"keys\":[]}";
    assert_int_not_equal(writ_bundle_add_oidc(b, "https://i", 9, dup, strlen(dup), &err), WRIT_OK);
    /* all or nothing: a good key next to a bad one is not added */
    EVP_PKEY *k = fx_key("P-256");
    const char *kid[] = {"good"};
    char *good = fx_jwks(&k, kid, 1, NULL);
    json_t *doc = json_loads(good, 0, NULL);
    json_array_append_new(json_object_get(doc, "keys"), json_pack("{s:s,s:s}", "kty", "oct", "kid", "bad"));
    char *mixed = json_dumps(doc, JSON_COMPACT);
    assert_int_not_equal(writ_bundle_add_spiffe(b, "corp.example", 12, mixed, strlen(mixed), &err), WRIT_OK);
    char *t = fx_jws(k, WR_ALG_ES256, "{\"alg\":\"ES256\",\"kid\":\"good\"}", GOOD);
    writ_verify_opts o = {.audience = "writ", .now = NOW};
    writ_identity *id;
    writ_reason why;
    assert_int_not_equal(writ_identity_verify_jwt(b, &o, t, strlen(t), &id, &why, &err), WRIT_OK);
    assert_int_equal(why, WRIT_R_UNTRUSTED);
    /* the good set alone works, and cannot be added twice (duplicate kid) */
    assert_int_equal(writ_bundle_add_spiffe(b, "corp.example", 12, good, strlen(good), &err), WRIT_OK);
    assert_int_equal(writ_identity_verify_jwt(b, &o, t, strlen(t), &id, &why, &err), WRIT_OK);
    writ_identity_free(id);
    assert_int_equal(writ_bundle_add_spiffe(b, "corp.example", 12, good, strlen(good), &err), WRIT_EDUP);
    /* X.509 roots that are not CAs are refused */
    X509 *leaf = fx_cert(k, "leaf", NULL, NULL, false, "URI:spiffe://corp.example/a", -60, 3600);
    char *pem = fx_pem(&leaf, 1);
    assert_int_not_equal(writ_bundle_add_x509_pem(b, "corp.example", 12, pem, strlen(pem), &err), WRIT_OK);
    assert_non_null(strstr(err.msg, "not a CA"));
    assert_int_not_equal(writ_bundle_add_x509_pem(b, "corp.example", 12, "junk", 4, &err), WRIT_OK);
    wr_free(pem);
    X509_free(leaf);
    wr_free(t);
    free(mixed);
    free(good);
    json_decref(doc);
    EVP_PKEY_free(k);
    writ_bundle_free(b);
    writ_bundle_free(NULL);
}

/* ------------------------------------------------------------- X.509-SVID */

static void test_x509(void **state)
{
    (void)state;
    EVP_PKEY *cak = fx_key("P-256"), *ik = fx_key("P-256"), *lk = fx_key("P-256"), *ek = fx_key("P-256");
    X509 *ca = fx_cert(cak, "root", NULL, NULL, true, NULL, -3600, 86400 * 365);
    X509 *inter = fx_cert(ik, "intermediate", ca, cak, true, NULL, -3600, 86400 * 30);
    X509 *leaf =
        fx_cert(lk, "leaf", inter, ik, false, "URI:spiffe://corp.example/agents/triage-bot", -60, 3600);
    X509 *evil_ca = fx_cert(ek, "evil", NULL, NULL, true, NULL, -3600, 86400);
    X509 *evil_leaf =
        fx_cert(lk, "leaf", evil_ca, ek, false, "URI:spiffe://corp.example/agents/triage-bot", -60, 3600);
    X509 *old_leaf =
        fx_cert(lk, "leaf", inter, ik, false, "URI:spiffe://corp.example/agents/x", -7200, -3600);
    X509 *two = fx_cert(lk, "leaf", inter, ik, false,
                        "URI:spiffe://corp.example/a,URI:spiffe://corp.example/b", -60, 3600);
    X509 *nosan = fx_cert(lk, "leaf", inter, ik, false, NULL, -60, 3600);
    X509 *badid = fx_cert(lk, "leaf", inter, ik, false, "URI:spiffe://corp.example/a/../b", -60, 3600);
    X509 *ca_leaf = fx_cert(lk, "leaf", inter, ik, true, "URI:spiffe://corp.example/a", -60, 3600);
    X509 *foreign = fx_cert(lk, "leaf", inter, ik, false, "URI:spiffe://other.example/a", -60, 3600);
    X509 *noku = fx_cert(lk, "leaf", inter, ik, false, "URI:spiffe://corp.example/a", -60, 3600);
    X509 *bare = fx_cert(lk, "leaf", inter, ik, false, "URI:spiffe://corp.example", -60, 3600);
    X509 *bare_slash = fx_cert(lk, "leaf", inter, ik, false, "URI:spiffe://corp.example/", -60, 3600);
    X509_EXTENSION_free(X509_delete_ext(noku, X509_get_ext_by_NID(noku, NID_key_usage, -1)));
    assert_true(X509_sign(noku, ik, EVP_sha256()) > 0);

    writ_bundle *b = writ_bundle_new();
    writ_error err;
    char *root_pem = fx_pem(&ca, 1);
    assert_int_equal(writ_bundle_add_x509_pem(b, "corp.example", 12, root_pem, strlen(root_pem), &err),
                     WRIT_OK);
    writ_verify_opts o = {.audience = "writ"};

    struct {
        const char *name;
        X509 *chain[2];
        writ_reason want;
    } cases[] = {
        {"valid chain", {leaf, inter}, WRIT_R_OK},
        {"missing intermediate", {leaf, NULL}, WRIT_R_CERT},
        {"leaf from another CA", {evil_leaf, NULL}, WRIT_R_CERT},
        {"expired leaf", {old_leaf, inter}, WRIT_R_CERT},
        {"two URI SANs", {two, inter}, WRIT_R_CERT_SAN},
        {"no SAN", {nosan, inter}, WRIT_R_CERT_SAN},
        {"bad SPIFFE ID in SAN", {badid, inter}, WRIT_R_CERT_SAN},
        {"leaf is a CA", {ca_leaf, inter}, WRIT_R_CERT},
        {"other trust domain", {foreign, inter}, WRIT_R_UNTRUSTED},
        {"leaf without keyUsage", {noku, inter}, WRIT_R_CERT},
        {"SAN a bare trust domain", {bare, inter}, WRIT_R_CERT_SAN},
        {"SAN a bare trust domain with '/'", {bare_slash, inter}, WRIT_R_CERT_SAN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *pem = fx_pem(cases[i].chain, cases[i].chain[1] ? 2 : 1);
        writ_identity *id = NULL;
        writ_reason why = WRIT_R_INTERNAL;
        writ_status st = writ_identity_verify_x509(b, &o, pem, strlen(pem), &id, &why, &err);
        if (why != cases[i].want || (st == WRIT_OK) != (cases[i].want == WRIT_R_OK)) {
            fprintf(stderr, "FAIL %s: want %s got %s (%s)\n", cases[i].name, writ_reason_name(cases[i].want),
                    writ_reason_name(why), err.msg);
            fail();
        }
        if (st == WRIT_OK) {
            assert_string_equal(writ_identity_subject(id), "spiffe://corp.example/agents/triage-bot");
            assert_int_equal(writ_identity_get_kind(id), WRIT_ID_X509_SVID);
            assert_non_null(writ_identity_cert_thumbprint(id));
            assert_int_equal(strlen(writ_identity_cert_thumbprint(id)), 43);
            writ_identity_free(id);
        } else {
            assert_null(id);
            printf("  refused %-24s %s\n", cases[i].name, err.msg);
        }
        wr_free(pem);
    }
    writ_identity *id;
    writ_reason why;
    assert_int_not_equal(writ_identity_verify_x509(b, &o, "junk", 4, &id, &why, &err), WRIT_OK);
    assert_int_equal(why, WRIT_R_CERT);

    /* DER entry point: same answers; a certificate with trailing bytes is refused */
    {
        unsigned char *d0 = NULL, *d1 = NULL;
        int l0 = i2d_X509(leaf, &d0), l1 = i2d_X509(inter, &d1);
        const unsigned char *certs[] = {d0, d1};
        size_t lens[] = {(size_t)l0, (size_t)l1};
        assert_int_equal(writ_identity_verify_x509_der(b, &o, certs, lens, 2, &id, &why, &err), WRIT_OK);
        assert_string_equal(writ_identity_subject(id), "spiffe://corp.example/agents/triage-bot");
        writ_identity_free(id);
        assert_int_not_equal(writ_identity_verify_x509_der(b, &o, certs, lens, 1, &id, &why, &err), WRIT_OK);
        assert_int_equal(why, WRIT_R_CERT);
        lens[1] -= 1; /* truncated intermediate */
        assert_int_not_equal(writ_identity_verify_x509_der(b, &o, certs, lens, 2, &id, &why, &err), WRIT_OK);
        assert_int_equal(why, WRIT_R_CERT);
        assert_int_not_equal(writ_identity_verify_x509_der(b, &o, certs, lens, 0, &id, &why, &err), WRIT_OK);
        OPENSSL_free(d0);
        OPENSSL_free(d1);
    }
    wr_free(root_pem);
    writ_bundle_free(b);
    X509 *all[] = {ca,    inter, leaf,    evil_ca, evil_leaf, old_leaf, two,
                   nosan, badid, ca_leaf, foreign, noku,      bare,     bare_slash};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        X509_free(all[i]);
    EVP_PKEY_free(cak);
    EVP_PKEY_free(ik);
    EVP_PKEY_free(lk);
    EVP_PKEY_free(ek);
}

/* Fail the Nth allocation while building a bundle and verifying a token. */
static void test_alloc_failures(void **state)
{
    (void)state;
    char *t = make_token(S_K1, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", GOOD, M_NONE);
    const char *kids[] = {"k1"};
    char *j = fx_jwks(&F.k1, kids, 1, NULL);
    size_t ok_runs = 0;
    for (long n = 0; n < 300 && ok_runs < 3; n++) {
        writ_error err;
        writ_reason why;
        writ_identity *id = (writ_identity *)0x1;
        writ_verify_opts o = {.audience = "writ", .now = NOW};
        wr_alloc_set_fail_after(n);
        writ_bundle *b = writ_bundle_new();
        writ_status s1 = b ? writ_bundle_add_spiffe(b, "corp.example", 12, j, strlen(j), &err) : WRIT_ENOMEM;
        writ_status s2 = b ? writ_identity_verify_jwt(b, &o, t, strlen(t), &id, &why, &err) : WRIT_ENOMEM;
        wr_alloc_set_fail_after(-1);
        if (s2 == WRIT_OK)
            writ_identity_free(id);
        else if (b)
            assert_null(id);
        writ_bundle_free(b);
        if (s1 == WRIT_OK && s2 == WRIT_OK)
            ok_runs++;
    }
    assert_int_equal(ok_runs, 3);
    /* the same for a typed OIDC issuer (its principal type is copied into
     * the bundle and into each identity) */
    char *ot = make_token(S_O1, "{\"alg\":\"ES256\",\"kid\":\"o1\"}",
                          "{\"iss\":\"https://issuer.example\",\"sub\":\"alice\"," AUD "," TIMES "}", M_NONE);
    const char *okids[] = {"o1"};
    char *oj = fx_jwks(&F.o1, okids, 1, NULL);
    ok_runs = 0;
    for (long n = 0; n < 300 && ok_runs < 3; n++) {
        writ_error err;
        writ_reason why;
        writ_identity *id = (writ_identity *)0x1;
        writ_verify_opts o = {.audience = "writ", .now = NOW};
        wr_alloc_set_fail_after(n);
        writ_bundle *b = writ_bundle_new();
        writ_status s1 = b ? writ_bundle_add_oidc_typed(b, "https://issuer.example", 22, "Corp::Human", oj,
                                                        strlen(oj), &err)
                           : WRIT_ENOMEM;
        writ_status s2 = b ? writ_identity_verify_jwt(b, &o, ot, strlen(ot), &id, &why, &err) : WRIT_ENOMEM;
        wr_alloc_set_fail_after(-1);
        if (s2 == WRIT_OK) {
            assert_string_equal(writ_identity_principal_type(id), "Corp::Human");
            writ_identity_free(id);
        } else if (b) {
            assert_null(id);
        }
        writ_bundle_free(b);
        if (s1 == WRIT_OK && s2 == WRIT_OK)
            ok_runs++;
    }
    assert_int_equal(ok_runs, 3);
    free(oj);
    wr_free(ot);
    free(j);
    wr_free(t);
}

static void test_b64url(void **state)
{
    (void)state;
    unsigned char *o;
    size_t n;
    assert_true(wr_b64url_decode("", 0, &o, &n));
    wr_free(o);
    assert_true(wr_b64url_decode("Zm9v", 4, &o, &n));
    assert_int_equal(n, 3);
    assert_memory_equal(o, "foo", 3);
    wr_free(o);
    assert_true(wr_b64url_decode("Zg", 2, &o, &n));
    wr_free(o);
    assert_false(wr_b64url_decode("Zh", 2, &o, &n));   /* non-zero trailing bits */
    assert_false(wr_b64url_decode("Zg==", 4, &o, &n)); /* padding */
    assert_false(wr_b64url_decode("Z", 1, &o, &n));
    assert_false(wr_b64url_decode("Zm+v", 4, &o, &n)); /* standard alphabet */
    char e[8];
    assert_int_equal(wr_b64url_encode((const unsigned char *)"\xfb\xff", 2, e), 3);
    assert_string_equal(e, "-_8");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url),
        cmocka_unit_test(test_spiffe_valid),
        cmocka_unit_test(test_spiffe_invalid),
        cmocka_unit_test_setup_teardown(test_jwt_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jwt_identity_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ecdsa_low_s, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oidc_principal_type, setup, teardown),
        cmocka_unit_test(test_bundle_refuses_bad_keys),
        cmocka_unit_test(test_key_set_size_limit),
        cmocka_unit_test_setup_teardown(test_alloc_failures, setup, teardown),
        cmocka_unit_test(test_x509),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
