/* jose.h - the JOSE pieces Writ needs, shared by identity/ and token/:
 * strict base64url, JSON with duplicate-key refusal, compact JWS parse /
 * verify / sign with an algorithm allow-list, and JWK <-> EVP_PKEY.
 *
 * Nothing here hand-rolls cryptography: signatures are OpenSSL EVP.  Only
 * the JWS (R||S) <-> DER ECDSA signature conversion is done here, via
 * ECDSA_SIG. */
#ifndef WRIT_JOSE_JOSE_H
#define WRIT_JOSE_JOSE_H

#include "writ/identity.h"

#include <jansson.h>
#include <openssl/evp.h>

/* A NumericDate for people: "2026-12-04T23:03:24Z" (UTC), into out
 * (at least 24 bytes). */
void wr_time_text(int64_t t, char *out, size_t n);

/* ---- refusal helper: fills why/err, returns st.  msg = "<reason>: <fmt>" */
/* st, the status of a call that started when wr_alloc_failures() was
 * failed_before: when an allocation of this thread failed meanwhile, a
 * refusal that followed from it (a buffer read as "not canonical", a
 * signature not made) is out of memory, WRIT_ENOMEM, not a verdict on the
 * input. */
writ_status wr_oom_verdict(writ_status st, unsigned long failed_before, writ_reason *why, writ_error *err);
writ_status wr_refuse(writ_reason *why, writ_error *err, writ_status st, writ_reason r, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Times are unix seconds in [0, WR_MAX_TIME] (2^40, about the year 36812):
 * NumericDate claims outside are refused, and wr_now clamps the clock (or a
 * caller's `now`) into it, so sums like now + leeway or now + ttl (both far
 * below 2^62) can never overflow. */
#define WR_MAX_TIME ((int64_t)1 << 40)
/* now (0 = the clock), clamped to [0, WR_MAX_TIME]. */
int64_t wr_now(int64_t now);

/* ---- base64url (RFC 4648 section 5, no padding, canonical only) */
size_t wr_b64url_enc_len(size_t n);
/* out must hold wr_b64url_enc_len(n) + 1 bytes; NUL-terminated; returns length. */
size_t wr_b64url_encode(const unsigned char *in, size_t n, char *out);
/* Allocates *out (wr_malloc, n/4*3+3 bytes); refuses '=' padding, bad
 * characters, a length of 1 mod 4 and non-zero unused trailing bits. */
bool wr_b64url_decode(const char *in, size_t n, unsigned char **out, size_t *outlen);

/* ---- JSON: object only, duplicate keys refused, no NUL in strings. */
writ_status wr_json_object(const char *buf, size_t len, json_t **out, writ_reason *why, writ_error *err,
                           const char *what);
/* A json_t string's bytes, or NULL when not a string. */
const char *wr_json_str(const json_t *obj, const char *key, size_t *len);

/* ---- algorithms */
typedef enum wr_alg {
    WR_ALG_UNKNOWN = 0,
    WR_ALG_RS256,
    WR_ALG_PS256,
    WR_ALG_ES256,
    WR_ALG_ES384,
    WR_ALG_EDDSA,
} wr_alg;

wr_alg wr_alg_from_name(const char *s, size_t len);
const char *wr_alg_name(wr_alg a);

/* ---- JWK / JWKS */
typedef struct wr_jwk {
    char *kid;      /* may be NULL */
    wr_alg alg;     /* from "alg", or WR_ALG_UNKNOWN when absent */
    EVP_PKEY *pkey; /* public key */
    int key_type;   /* EVP_PKEY_RSA / EVP_PKEY_EC / EVP_PKEY_ED25519 */
    int ec_bits;    /* 256 or 384 for EC */
} wr_jwk;

typedef struct wr_jwks {
    wr_jwk *keys;
    size_t n, cap;
} wr_jwks;

#define WR_JWKS_MAX_KEYS 64
/* Bytes of a key set's JSON text (WRIT_ELIMIT past it). */
#define WR_JWKS_MAX_BYTES ((size_t)1 << 20)

/* Parse one JWK object (public part only); refuses private members. */
writ_status wr_jwk_from_json(const json_t *jwk, wr_jwk *out, writ_error *err);
void wr_jwk_clear(wr_jwk *k);
/* Append a parsed key (takes ownership of its contents). */
writ_status wr_jwks_push(wr_jwks *s, wr_jwk *k, writ_error *err);
void wr_jwks_clear(wr_jwks *s);
const wr_jwk *wr_jwks_find(const wr_jwks *s, const char *kid, size_t kid_len);
/* True when the key may verify alg (key type, curve, size, and "alg" if set). */
bool wr_jwk_fits(const wr_jwk *k, wr_alg alg);

/* Public JWK of a key as a new JSON object: kty, crv/x/y or n/e, kid, alg, use. */
json_t *wr_jwk_export(EVP_PKEY *pkey, const char *kid, wr_alg alg);
/* RFC 7638 thumbprint (SHA-256, base64url) of a public key; out >= 44 bytes. */
bool wr_jwk_thumbprint(EVP_PKEY *pkey, char out[44]);
/* The algorithm a key signs with (ES256 for P-256, ES384, EdDSA, RS256). */
wr_alg wr_alg_for_key(EVP_PKEY *pkey);

/* ---- compact JWS */
typedef struct wr_jws {
    json_t *header;
    json_t *claims;
    wr_alg alg;
    const char *kid; /* borrowed from header, NULL if absent */
    size_t kid_len;
    const char *signing_input; /* borrowed from the token */
    size_t signing_input_len;
    unsigned char *sig;
    size_t sig_len;
} wr_jws;

#define WR_JWS_MAX_HEADER 1024

/* Split, decode and check the header (alg allow-list, crit refused, kid
 * shape).  Does not verify the signature.  typ_ok, if not NULL, is a
 * NULL-terminated list of accepted typ values (compared case-insensitively
 * per RFC 7515); a missing typ is accepted when typ_required is false.
 * typ_ok NULL: typ is not checked (inspection only). */
writ_status wr_jws_parse(const char *tok, size_t len, size_t max_len, const char *const *typ_ok,
                         bool typ_required, wr_jws *out, writ_reason *why, writ_error *err);
void wr_jws_clear(wr_jws *j);
/* Low-S only for ECDSA (wr_sig_high_s). */
writ_status wr_jws_verify(const wr_jws *j, const wr_jwk *key, writ_reason *why, writ_error *err);
/* The same; allow_high_s accepts an ECDSA signature with s > n/2 too. */
writ_status wr_jws_verify_ex(const wr_jws *j, const wr_jwk *key, bool allow_high_s, writ_reason *why,
                             writ_error *err);
/* Raw signature check over (msg, len) with a JWS signature: used by the
 * benchmark to measure the cost of the crypto alone. */
bool wr_sig_verify(EVP_PKEY *pkey, wr_alg alg, const unsigned char *msg, size_t len, const unsigned char *sig,
                   size_t sig_len);

/* An ES256 / ES384 JWS signature (R||S) whose S is above half the group
 * order (or that is not 2 x field size): refused by wr_sig_verify and
 * wr_jws_verify.  False for other algorithms. */
bool wr_sig_high_s(wr_alg alg, const unsigned char *sig, size_t sig_len);

/* Raw JWS signature (R||S for ECDSA, always low-S) over msg; *out wr_malloc'd. */
bool wr_sig_sign(EVP_PKEY *key, wr_alg alg, const unsigned char *msg, size_t len, unsigned char **out,
                 size_t *out_len);
/* header/claims JSON text as given -> signed compact JWS (wr_malloc'd).
 * Used by wr_jws_sign and by tests that need hand-made headers. */
char *wr_jws_assemble(EVP_PKEY *key, wr_alg alg, const char *hdr, size_t hl, const char *claims, size_t cl,
                      size_t *out_len);
/* Sign header+claims; *out is wr_malloc'd, NUL-terminated. */
writ_status wr_jws_sign(EVP_PKEY *key, wr_alg alg, const char *kid, const char *typ, const json_t *claims,
                        char **out, size_t *out_len, writ_error *err);

/* ---- standard time claims: exp required, nbf/iat optional, all integers. */
writ_status wr_check_times(const json_t *claims, int64_t now, uint32_t leeway, uint32_t max_lifetime,
                           int64_t *exp_out, writ_reason *why, writ_error *err);
/* aud: string or non-empty array of strings containing want. */
writ_status wr_check_aud(const json_t *claims, const char *want, writ_reason *why, writ_error *err);
/* WRIT_OK unless `unwanted` (non-NULL, non-empty) is in aud. */
writ_status wr_check_not_aud(const json_t *claims, const char *unwanted, writ_reason *why, writ_error *err);

#endif
