/* token_fixtures.h - keys, JWKS, hand-made JWS and X.509 chains for the
 * identity / token / revocation tests.  Test code only: everything is
 * static and aborts on setup failure. */
#ifndef WRIT_TESTS_TOKEN_FIXTURES_H
#define WRIT_TESTS_TOKEN_FIXTURES_H

#include "jose/jose.h"
#include "util/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#define FX_CHECK(x)                                                                                          \
    do {                                                                                                     \
        if (!(x)) {                                                                                          \
            fprintf(stderr, "fixture failed: %s (%s:%d)\n", #x, __FILE__, __LINE__);                         \
            abort();                                                                                         \
        }                                                                                                    \
    } while (0)

static inline EVP_PKEY *fx_key(const char *kind)
{
    EVP_PKEY *k = NULL;
    if (!strcmp(kind, "P-256"))
        k = EVP_EC_gen("P-256");
    else if (!strcmp(kind, "P-384"))
        k = EVP_EC_gen("P-384");
    else if (!strcmp(kind, "Ed25519"))
        k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    else if (!strcmp(kind, "RSA"))
        k = EVP_RSA_gen(2048);
    FX_CHECK(k);
    return k;
}

/* JWKS text with keys[i] under kids[i]; use is "use" or NULL. free() it. */
static inline char *fx_jwks(EVP_PKEY **keys, const char **kids, size_t n, const char *use)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *k = wr_jwk_export(keys[i], kids[i], WR_ALG_UNKNOWN);
        FX_CHECK(k);
        if (use)
            json_object_set_new(k, "use", json_string(use));
        json_array_append_new(arr, k);
    }
    json_t *doc = json_object();
    json_object_set_new(doc, "keys", arr);
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    FX_CHECK(s);
    return s;
}

/* A signed JWS with exactly this header and payload text. wr_free() it. */
static inline char *fx_jws(EVP_PKEY *key, wr_alg alg, const char *hdr, const char *claims)
{
    char *t = wr_jws_assemble(key, alg, hdr, strlen(hdr), claims, strlen(claims), NULL);
    FX_CHECK(t);
    return t;
}

/* header.payload.HMAC-SHA256(secret) - the classic key-confusion attack. */
static inline char *fx_hs256(const unsigned char *secret, size_t sl, const char *hdr, const char *claims)
{
    size_t hbl = wr_b64url_enc_len(strlen(hdr)), cbl = wr_b64url_enc_len(strlen(claims));
    char *t = wr_malloc(hbl + cbl + 64);
    FX_CHECK(t);
    wr_b64url_encode((const unsigned char *)hdr, strlen(hdr), t);
    t[hbl] = '.';
    wr_b64url_encode((const unsigned char *)claims, strlen(claims), t + hbl + 1);
    unsigned char mac[32];
    size_t ml = 0;
    FX_CHECK(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret, sl, (unsigned char *)t, hbl + 1 + cbl, mac,
                       sizeof mac, &ml));
    t[hbl + 1 + cbl] = '.';
    wr_b64url_encode(mac, ml, t + hbl + 2 + cbl);
    return t;
}

/* header.payload. (alg none, empty signature) */
static inline char *fx_unsigned(const char *hdr, const char *claims)
{
    size_t hbl = wr_b64url_enc_len(strlen(hdr)), cbl = wr_b64url_enc_len(strlen(claims));
    char *t = wr_malloc(hbl + cbl + 4);
    FX_CHECK(t);
    wr_b64url_encode((const unsigned char *)hdr, strlen(hdr), t);
    t[hbl] = '.';
    wr_b64url_encode((const unsigned char *)claims, strlen(claims), t + hbl + 1);
    t[hbl + 1 + cbl] = '.';
    t[hbl + 2 + cbl] = '\0';
    return t;
}

/* PEM of a public key (what an attacker would use as an HMAC secret). */
static inline char *fx_pubkey_pem(EVP_PKEY *k, size_t *len)
{
    BIO *b = BIO_new(BIO_s_mem());
    FX_CHECK(b && PEM_write_bio_PUBKEY(b, k));
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *out = wr_strndup(p, (size_t)n);
    BIO_free(b);
    *len = (size_t)n;
    return out;
}

static inline void fx_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    FX_CHECK(ex && X509_add_ext(cert, ex, -1));
    X509_EXTENSION_free(ex);
}

/* A certificate for key k signed by (issuer, ikey); issuer NULL = self-signed.
 * san is a subjectAltName value ("URI:spiffe://...") or NULL. */
static inline X509 *fx_cert(EVP_PKEY *k, const char *cn, X509 *issuer, EVP_PKEY *ikey, bool ca,
                            const char *san, long not_before, long not_after)
{
    static long serial = 1;
    X509 *c = X509_new();
    FX_CHECK(c);
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), serial++);
    X509_gmtime_adj(X509_getm_notBefore(c), not_before);
    X509_gmtime_adj(X509_getm_notAfter(c), not_after);
    X509_set_pubkey(c, k);
    X509_NAME *name = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
    fx_ext(c, issuer ? issuer : c, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    fx_ext(c, issuer ? issuer : c, NID_key_usage,
           ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature,keyEncipherment");
    if (san)
        fx_ext(c, issuer ? issuer : c, NID_subject_alt_name, san);
    FX_CHECK(X509_sign(c, ikey ? ikey : k, EVP_sha256()));
    return c;
}

static inline char *fx_pem(X509 *const *certs, size_t n)
{
    BIO *b = BIO_new(BIO_s_mem());
    FX_CHECK(b);
    for (size_t i = 0; i < n; i++)
        FX_CHECK(PEM_write_bio_X509(b, certs[i]));
    char *p;
    long len = BIO_get_mem_data(b, &p);
    char *out = wr_strndup(p, (size_t)len);
    BIO_free(b);
    return out;
}

/* The other valid ECDSA signature of a JWS: (r, n - s).  Returns a new
 * token (wr_free) with the same header and payload; *was_high tells whether
 * the original S was above n/2. */
static inline char *fx_flip_s(const char *tok, int curve_nid, size_t fl, bool *was_high)
{
    const char *d2 = strrchr(tok, '.');
    FX_CHECK(d2);
    unsigned char *sig;
    size_t sl;
    FX_CHECK(wr_b64url_decode(d2 + 1, strlen(d2 + 1), &sig, &sl) && sl == 2 * fl);
    EC_GROUP *g = EC_GROUP_new_by_curve_name(curve_nid);
    FX_CHECK(g);
    const BIGNUM *order = EC_GROUP_get0_order(g);
    BIGNUM *half = BN_dup(order), *sv = BN_bin2bn(sig + fl, (int)fl, NULL), *flipped = BN_new();
    FX_CHECK(half && sv && flipped && BN_rshift1(half, half) && BN_sub(flipped, order, sv));
    if (was_high)
        *was_high = BN_cmp(sv, half) > 0;
    FX_CHECK(BN_bn2binpad(flipped, sig + fl, (int)fl) == (int)fl);
    size_t keep = (size_t)(d2 - tok) + 1;
    char *out = wr_malloc(keep + wr_b64url_enc_len(sl) + 1);
    FX_CHECK(out);
    memcpy(out, tok, keep);
    wr_b64url_encode(sig, sl, out + keep);
    BN_free(half);
    BN_free(sv);
    BN_free(flipped);
    EC_GROUP_free(g);
    wr_free(sig);
    return out;
}

/* Does OpenSSL itself (EVP, DER signature, no low-S rule) accept this ES256 /
 * ES384 JWS under key k?  Shows that a refused high-S token is a real,
 * otherwise valid signature. */
static inline bool fx_openssl_accepts(EVP_PKEY *k, const char *tok, const EVP_MD *md, size_t fl)
{
    const char *d2 = strrchr(tok, '.');
    unsigned char *sig;
    size_t sl;
    FX_CHECK(wr_b64url_decode(d2 + 1, strlen(d2 + 1), &sig, &sl) && sl == 2 * fl);
    ECDSA_SIG *es = ECDSA_SIG_new();
    FX_CHECK(es && ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)fl, NULL), BN_bin2bn(sig + fl, (int)fl, NULL)));
    unsigned char *der = NULL;
    int dl = i2d_ECDSA_SIG(es, &der);
    FX_CHECK(dl > 0);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    FX_CHECK(ctx && EVP_DigestVerifyInit(ctx, NULL, md, NULL, k) == 1);
    bool ok = EVP_DigestVerify(ctx, der, (size_t)dl, (const unsigned char *)tok, (size_t)(d2 - tok)) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    wr_free(sig);
    return ok;
}

#endif
