/* jose.c - base64url, JSON, JWK and compact JWS for Writ (see jose.h).
 *
 * The rules that keep JOSE safe here:
 *  - the algorithm comes from the header but must be on a fixed allow-list
 *    (RS256, PS256, ES256, ES384, EdDSA) AND fit the key that the kid selects:
 *    an RSA key never verifies ES256, a P-256 key never verifies ES384, and
 *    no key ever verifies "none" or HMAC (the "HS256 with the public key"
 *    confusion cannot happen because HS* is refused before any key is used);
 *  - keys come only from a bundle chosen by the caller, never from jwk / jku
 *    / x5u / x5c headers;
 *  - every encoding is canonical: base64url without padding and with zero
 *    trailing bits, ECDSA signatures exactly 2 x field size and low-S
 *    (s <= n/2: of the two valid signatures (r, s) and (r, n - s) only the
 *    smaller s is accepted, so a signature cannot be re-encoded into a
 *    second valid token; Writ signs low-S), JSON objects without duplicate
 *    keys. */
#include "jose/jose.h"
#include "util/alloc.h"
#include "util/error.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

/* ------------------------------------------------------------------ errors */

const char *writ_reason_name(writ_reason r)
{
    static const char *const names[] = {
        [WRIT_R_OK] = "ok",
        [WRIT_R_MALFORMED] = "malformed",
        [WRIT_R_TOO_LARGE] = "too_large",
        [WRIT_R_DUP_KEY] = "duplicate_key",
        [WRIT_R_ALG] = "alg_not_allowed",
        [WRIT_R_TYP] = "typ",
        [WRIT_R_CRIT] = "crit",
        [WRIT_R_KID_MISSING] = "kid_missing",
        [WRIT_R_KID_UNKNOWN] = "kid_unknown",
        [WRIT_R_KEY_ALG] = "key_alg_mismatch",
        [WRIT_R_SIGNATURE] = "bad_signature",
        [WRIT_R_EXPIRED] = "expired",
        [WRIT_R_NOT_YET_VALID] = "not_yet_valid",
        [WRIT_R_IAT] = "iat_in_future",
        [WRIT_R_LIFETIME] = "lifetime_too_long",
        [WRIT_R_CLAIM_MISSING] = "claim_missing",
        [WRIT_R_CLAIM_TYPE] = "claim_type",
        [WRIT_R_AUD] = "audience",
        [WRIT_R_ISS] = "issuer",
        [WRIT_R_SUB] = "subject",
        [WRIT_R_UNTRUSTED] = "untrusted",
        [WRIT_R_SPIFFE_ID] = "spiffe_id",
        [WRIT_R_CERT] = "certificate",
        [WRIT_R_CERT_SAN] = "certificate_san",
        [WRIT_R_REVOKED] = "revoked",
        [WRIT_R_SCOPE] = "scope_widened",
        [WRIT_R_EXPIRY] = "expiry_extended",
        [WRIT_R_DEPTH] = "depth_exceeded",
        [WRIT_R_TTL] = "ttl_too_long",
        [WRIT_R_CNF_MISSING] = "cnf_cert_missing",
        [WRIT_R_CNF_MISMATCH] = "cnf_cert_mismatch",
        [WRIT_R_ACTOR] = "actor",
        [WRIT_R_INTERNAL] = "internal",
    };
    if ((size_t)r < sizeof names / sizeof names[0] && names[r])
        return names[r];
    return "unknown";
}

writ_status wr_oom_verdict(writ_status st, unsigned long failed_before, writ_reason *why, writ_error *err)
{
    if (st == WRIT_OK || st == WRIT_ENOMEM || wr_alloc_failures() == failed_before)
        return st;
    return wr_refuse(why, err, WRIT_ENOMEM, WRIT_R_INTERNAL, "out of memory");
}

void wr_time_text(int64_t t, char *out, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || !strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, n, "%lld", (long long)t);
}

writ_status wr_refuse(writ_reason *why, writ_error *err, writ_status st, writ_reason r, const char *fmt, ...)
{
    if (why)
        *why = r;
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = st;
        int n = snprintf(err->msg, sizeof err->msg, "%s: ", writ_reason_name(r));
        if (n > 0 && (size_t)n < sizeof err->msg) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err->msg + n, sizeof err->msg - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return st;
}

int64_t wr_now(int64_t now)
{
    int64_t t = now ? now : (int64_t)time(NULL);
    return t < 0 ? 0 : t > WR_MAX_TIME ? WR_MAX_TIME : t;
}

/* --------------------------------------------------------------- base64url */

static const char b64url_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t wr_b64url_enc_len(size_t n) { return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0); }

size_t wr_b64url_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64url_alpha[v >> 18 & 63];
        out[o++] = b64url_alpha[v >> 12 & 63];
        out[o++] = b64url_alpha[v >> 6 & 63];
        out[o++] = b64url_alpha[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64url_alpha[v >> 18 & 63];
        out[o++] = b64url_alpha[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64url_alpha[v >> 18 & 63];
        out[o++] = b64url_alpha[v >> 12 & 63];
        out[o++] = b64url_alpha[v >> 6 & 63];
    }
    out[o] = '\0';
    return o;
}

static int b64url_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

bool wr_b64url_decode(const char *in, size_t n, unsigned char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (n % 4 == 1)
        return false;
    unsigned char *buf = wr_malloc(n / 4 * 3 + 3);
    if (!buf)
        return false;
    size_t o = 0, i = 0;
    uint32_t acc = 0;
    for (; i < n; i++) {
        int v = b64url_val((unsigned char)in[i]);
        if (v < 0) {
            wr_free(buf);
            return false;
        }
        acc = acc << 6 | (uint32_t)v;
        if (i % 4 == 3) {
            buf[o++] = (unsigned char)(acc >> 16);
            buf[o++] = (unsigned char)(acc >> 8);
            buf[o++] = (unsigned char)acc;
            acc = 0;
        }
    }
    /* Tail: 2 chars = 1 byte (4 unused bits), 3 chars = 2 bytes (2 unused). */
    if (n % 4 == 2) {
        if (acc & 0xF)
            goto noncanonical;
        buf[o++] = (unsigned char)(acc >> 4);
    } else if (n % 4 == 3) {
        if (acc & 0x3)
            goto noncanonical;
        buf[o++] = (unsigned char)(acc >> 10);
        buf[o++] = (unsigned char)(acc >> 2);
    }
    *out = buf;
    *outlen = o;
    return true;
noncanonical:
    wr_free(buf);
    return false;
}

/* -------------------------------------------------------------------- JSON */

writ_status wr_json_object(const char *buf, size_t len, json_t **out, writ_reason *why, writ_error *err,
                           const char *what)
{
    json_error_t je = {0}; /* json_error_code() reads a byte an early failure leaves unset */
    *out = NULL;
    unsigned long failed = wr_alloc_failures();
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        if (json_error_code(&je) == json_error_out_of_memory || wr_alloc_failures() != failed)
            return wr_refuse(why, err, WRIT_ENOMEM, WRIT_R_INTERNAL, "%s: out of memory", what);
        if (json_error_code(&je) == json_error_duplicate_key)
            return wr_refuse(why, err, WRIT_EJSON, WRIT_R_DUP_KEY, "%s: %s", what, je.text);
        return wr_refuse(why, err, WRIT_EJSON, WRIT_R_MALFORMED, "%s is not valid JSON: %s", what, je.text);
    }
    if (!json_is_object(j)) {
        json_decref(j);
        return wr_refuse(why, err, WRIT_EJSON, WRIT_R_MALFORMED, "%s is not a JSON object", what);
    }
    *out = j;
    return WRIT_OK;
}

const char *wr_json_str(const json_t *obj, const char *key, size_t *len)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return NULL;
    if (len)
        *len = json_string_length(v);
    return json_string_value(v);
}

/* -------------------------------------------------------------- algorithms */

static const struct {
    const char *name;
    wr_alg alg;
} alg_names[] = {
    {"RS256", WR_ALG_RS256}, {"PS256", WR_ALG_PS256}, {"ES256", WR_ALG_ES256},
    {"ES384", WR_ALG_ES384}, {"EdDSA", WR_ALG_EDDSA},
};

wr_alg wr_alg_from_name(const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof alg_names / sizeof alg_names[0]; i++)
        if (strlen(alg_names[i].name) == len && !memcmp(alg_names[i].name, s, len))
            return alg_names[i].alg;
    return WR_ALG_UNKNOWN;
}

const char *wr_alg_name(wr_alg a)
{
    for (size_t i = 0; i < sizeof alg_names / sizeof alg_names[0]; i++)
        if (alg_names[i].alg == a)
            return alg_names[i].name;
    return "unknown";
}

static const EVP_MD *alg_md(wr_alg a)
{
    switch (a) {
    case WR_ALG_RS256:
    case WR_ALG_PS256:
    case WR_ALG_ES256:
        return EVP_sha256();
    case WR_ALG_ES384:
        return EVP_sha384();
    default:
        return NULL;
    }
}

wr_alg wr_alg_for_key(EVP_PKEY *pkey)
{
    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_EC:
        return EVP_PKEY_get_bits(pkey) == 256   ? WR_ALG_ES256
               : EVP_PKEY_get_bits(pkey) == 384 ? WR_ALG_ES384
                                                : WR_ALG_UNKNOWN;
    case EVP_PKEY_ED25519:
        return WR_ALG_EDDSA;
    case EVP_PKEY_RSA:
        return EVP_PKEY_get_bits(pkey) >= 2048 ? WR_ALG_RS256 : WR_ALG_UNKNOWN;
    default:
        return WR_ALG_UNKNOWN;
    }
}

/* --------------------------------------------------------------------- JWK */

static writ_status jwk_err(writ_error *err, const char *fmt, const char *arg)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = WRIT_EINVAL;
        snprintf(err->msg, sizeof err->msg, fmt, arg);
    }
    return WRIT_EINVAL;
}

/* Decode a base64url member that must be exactly want bytes (0 = any, then
 * at most max bytes). */
static bool jwk_bytes(const json_t *jwk, const char *key, size_t want, size_t max, unsigned char **out,
                      size_t *outlen)
{
    size_t n;
    const char *s = wr_json_str(jwk, key, &n);
    if (!s || !wr_b64url_decode(s, n, out, outlen))
        return false;
    if ((want && *outlen != want) || (!want && (*outlen == 0 || *outlen > max))) {
        wr_free(*out);
        *out = NULL;
        return false;
    }
    return true;
}

static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    if (pkey) {
        /* Reject points off the curve / degenerate RSA moduli. */
        EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (!chk || EVP_PKEY_public_check(chk) != 1) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
        EVP_PKEY_CTX_free(chk);
    }
    return pkey;
}

static writ_status jwk_from_json(const json_t *jwk, wr_jwk *out, writ_error *err);

/* A key that failed for want of memory (a base64url buffer, OpenSSL's
 * objects) is WRIT_ENOMEM, not a bad key. */
writ_status wr_jwk_from_json(const json_t *jwk, wr_jwk *out, writ_error *err)
{
    unsigned long failed = wr_alloc_failures();
    writ_status st = jwk_from_json(jwk, out, err);
    if (st != WRIT_OK && st != WRIT_ENOMEM && wr_alloc_failures() != failed)
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    return st;
}

static writ_status jwk_from_json(const json_t *jwk, wr_jwk *out, writ_error *err)
{
    static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
    memset(out, 0, sizeof *out);
    if (!json_is_object(jwk))
        return jwk_err(err, "JWK is not an object%s", "");
    for (size_t i = 0; i < sizeof private_members / sizeof private_members[0]; i++)
        if (json_object_get(jwk, private_members[i]))
            return jwk_err(err, "JWK holds private or symmetric member '%s'", private_members[i]);
    const char *kty = wr_json_str(jwk, "kty", NULL);
    if (!kty)
        return jwk_err(err, "JWK has no kty%s", "");
    size_t kid_len = 0, alg_len = 0;
    const char *kid = wr_json_str(jwk, "kid", &kid_len);
    if (json_object_get(jwk, "kid") && (!kid || kid_len == 0 || kid_len > 256))
        return jwk_err(err, "JWK kid must be a string of 1..256 bytes%s", "");
    const char *alg = wr_json_str(jwk, "alg", &alg_len);
    if (json_object_get(jwk, "alg")) {
        if (!alg || (out->alg = wr_alg_from_name(alg, alg_len)) == WR_ALG_UNKNOWN)
            return jwk_err(err, "JWK alg '%s' is not allowed", alg ? alg : "?");
    }

    unsigned char *a = NULL, *b = NULL;
    size_t al = 0, bl = 0;
    OSSL_PARAM_BLD *bld = NULL;
    BIGNUM *n = NULL, *e = NULL;
    if (!strcmp(kty, "EC")) {
        const char *crv = wr_json_str(jwk, "crv", NULL);
        size_t fl;
        const char *group;
        if (crv && !strcmp(crv, "P-256")) {
            fl = 32, group = "P-256", out->ec_bits = 256;
        } else if (crv && !strcmp(crv, "P-384")) {
            fl = 48, group = "P-384", out->ec_bits = 384;
        } else {
            return jwk_err(err, "EC JWK curve '%s' is not supported", crv ? crv : "(none)");
        }
        if (!jwk_bytes(jwk, "x", fl, 0, &a, &al) || !jwk_bytes(jwk, "y", fl, 0, &b, &bl)) {
            wr_free(a);
            return jwk_err(err, "EC JWK x/y must be base64url of %s bytes each", fl == 32 ? "32" : "48");
        }
        unsigned char pt[1 + 2 * 48];
        pt[0] = 4;
        memcpy(pt + 1, a, fl);
        memcpy(pt + 1 + fl, b, fl);
        bld = OSSL_PARAM_BLD_new();
        if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) &&
            OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, 1 + 2 * fl))
            out->pkey = pkey_fromdata("EC", bld);
        out->key_type = EVP_PKEY_EC;
    } else if (!strcmp(kty, "RSA")) {
        if (!jwk_bytes(jwk, "n", 0, 1024, &a, &al) || !jwk_bytes(jwk, "e", 0, 8, &b, &bl)) {
            wr_free(a);
            return jwk_err(err, "RSA JWK n/e missing or not base64url%s", "");
        }
        if (a[0] == 0 || b[0] == 0) {
            wr_free(a);
            wr_free(b);
            return jwk_err(err, "RSA JWK n/e has a leading zero byte (not minimal)%s", "");
        }
        n = BN_bin2bn(a, (int)al, NULL);
        e = BN_bin2bn(b, (int)bl, NULL);
        if (n && e && (BN_num_bits(n) < 2048 || BN_num_bits(n) > 8192)) {
            wr_free(a);
            wr_free(b);
            BN_free(n);
            BN_free(e);
            return jwk_err(err, "RSA JWK modulus must be 2048..8192 bits%s", "");
        }
        bld = OSSL_PARAM_BLD_new();
        if (n && e && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
            out->pkey = pkey_fromdata("RSA", bld);
        out->key_type = EVP_PKEY_RSA;
    } else if (!strcmp(kty, "OKP")) {
        const char *crv = wr_json_str(jwk, "crv", NULL);
        if (!crv || strcmp(crv, "Ed25519"))
            return jwk_err(err, "OKP JWK curve '%s' is not supported", crv ? crv : "(none)");
        if (!jwk_bytes(jwk, "x", 32, 0, &a, &al))
            return jwk_err(err, "Ed25519 JWK x must be base64url of 32 bytes%s", "");
        out->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, a, al);
        out->key_type = EVP_PKEY_ED25519;
    } else {
        return jwk_err(err, "JWK kty '%s' is not supported", kty);
    }
    wr_free(a);
    wr_free(b);
    BN_free(n);
    BN_free(e);
    OSSL_PARAM_BLD_free(bld);
    if (!out->pkey)
        return jwk_err(err, "JWK of type %s is not a valid public key", kty);
    if (out->alg && !wr_jwk_fits(out, out->alg)) {
        wr_jwk_clear(out);
        return jwk_err(err, "JWK alg does not match its key type%s", "");
    }
    if (kid && !(out->kid = wr_strndup(kid, kid_len))) {
        wr_jwk_clear(out);
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    }
    return WRIT_OK;
}

void wr_jwk_clear(wr_jwk *k)
{
    if (!k)
        return;
    wr_free(k->kid);
    EVP_PKEY_free(k->pkey);
    memset(k, 0, sizeof *k);
}

writ_status wr_jwks_push(wr_jwks *s, wr_jwk *k, writ_error *err)
{
    if (s->n >= WR_JWKS_MAX_KEYS)
        return jwk_err(err, "more than 64 keys in a key set%s", "");
    if (k->kid && wr_jwks_find(s, k->kid, strlen(k->kid)))
        return jwk_err(err, "duplicate kid '%s' in key set", k->kid);
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        wr_jwk *nk = wr_realloc(s->keys, cap * sizeof *nk);
        if (!nk)
            return wr_error(err, WRIT_ENOMEM, "out of memory");
        s->keys = nk;
        s->cap = cap;
    }
    s->keys[s->n++] = *k;
    memset(k, 0, sizeof *k);
    return WRIT_OK;
}

void wr_jwks_clear(wr_jwks *s)
{
    for (size_t i = 0; i < s->n; i++)
        wr_jwk_clear(&s->keys[i]);
    wr_free(s->keys);
    memset(s, 0, sizeof *s);
}

const wr_jwk *wr_jwks_find(const wr_jwks *s, const char *kid, size_t kid_len)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->keys[i].kid && strlen(s->keys[i].kid) == kid_len && !memcmp(s->keys[i].kid, kid, kid_len))
            return &s->keys[i];
    return NULL;
}

bool wr_jwk_fits(const wr_jwk *k, wr_alg alg)
{
    if (k->alg && k->alg != alg)
        return false;
    switch (alg) {
    case WR_ALG_RS256:
    case WR_ALG_PS256:
        return k->key_type == EVP_PKEY_RSA;
    case WR_ALG_ES256:
        return k->key_type == EVP_PKEY_EC && k->ec_bits == 256;
    case WR_ALG_ES384:
        return k->key_type == EVP_PKEY_EC && k->ec_bits == 384;
    case WR_ALG_EDDSA:
        return k->key_type == EVP_PKEY_ED25519;
    default:
        return false;
    }
}

static json_t *b64_json(const unsigned char *b, size_t n)
{
    char *s = wr_malloc(wr_b64url_enc_len(n) + 1);
    if (!s)
        return NULL;
    size_t l = wr_b64url_encode(b, n, s);
    json_t *j = json_stringn(s, l);
    wr_free(s);
    return j;
}

static json_t *bn_json(EVP_PKEY *pkey, const char *param, size_t pad)
{
    BIGNUM *bn = NULL;
    json_t *j = NULL;
    if (EVP_PKEY_get_bn_param(pkey, param, &bn) != 1)
        return NULL;
    size_t n = pad ? pad : (size_t)BN_num_bytes(bn);
    unsigned char *buf = wr_malloc(n ? n : 1);
    if (buf && BN_bn2binpad(bn, buf, (int)n) == (int)n)
        j = b64_json(buf, n);
    wr_free(buf);
    BN_free(bn);
    return j;
}

/* Public members only, in the set RFC 7638 hashes. */
static json_t *jwk_public_members(EVP_PKEY *pkey)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    int ok = 0;
    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_EC: {
        int bits = EVP_PKEY_get_bits(pkey);
        size_t fl = bits == 256 ? 32 : bits == 384 ? 48 : 0;
        if (!fl)
            break;
        ok = !json_object_set_new(o, "kty", json_string("EC")) &&
             !json_object_set_new(o, "crv", json_string(fl == 32 ? "P-256" : "P-384")) &&
             !json_object_set_new(o, "x", bn_json(pkey, OSSL_PKEY_PARAM_EC_PUB_X, fl)) &&
             !json_object_set_new(o, "y", bn_json(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, fl));
        break;
    }
    case EVP_PKEY_ED25519: {
        unsigned char raw[32];
        size_t rl = sizeof raw;
        ok = EVP_PKEY_get_raw_public_key(pkey, raw, &rl) == 1 && rl == 32 &&
             !json_object_set_new(o, "kty", json_string("OKP")) &&
             !json_object_set_new(o, "crv", json_string("Ed25519")) &&
             !json_object_set_new(o, "x", b64_json(raw, rl));
        break;
    }
    case EVP_PKEY_RSA:
        ok = !json_object_set_new(o, "kty", json_string("RSA")) &&
             !json_object_set_new(o, "n", bn_json(pkey, OSSL_PKEY_PARAM_RSA_N, 0)) &&
             !json_object_set_new(o, "e", bn_json(pkey, OSSL_PKEY_PARAM_RSA_E, 0));
        break;
    default:
        break;
    }
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

bool wr_jwk_thumbprint(EVP_PKEY *pkey, char out[44])
{
    json_t *o = jwk_public_members(pkey);
    if (!o)
        return false;
    /* RFC 7638: required members only, sorted, no whitespace. */
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (!s)
        return false;
    unsigned char md[32];
    unsigned int mdl = 0;
    bool ok = EVP_Digest(s, strlen(s), md, &mdl, EVP_sha256(), NULL) == 1 && mdl == 32;
    wr_json_free(s);
    if (ok)
        wr_b64url_encode(md, 32, out);
    return ok;
}

json_t *wr_jwk_export(EVP_PKEY *pkey, const char *kid, wr_alg alg)
{
    json_t *o = jwk_public_members(pkey);
    if (!o)
        return NULL;
    if ((kid && json_object_set_new(o, "kid", json_string(kid))) ||
        (alg && json_object_set_new(o, "alg", json_string(wr_alg_name(alg)))) ||
        json_object_set_new(o, "use", json_string("sig"))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* --------------------------------------------------------------------- JWS */

void wr_jws_clear(wr_jws *j)
{
    if (!j)
        return;
    json_decref(j->header);
    json_decref(j->claims);
    wr_free(j->sig);
    memset(j, 0, sizeof *j);
}

static bool ascii_ieq(const char *a, size_t al, const char *b)
{
    size_t bl = strlen(b);
    return al == bl && !strncasecmp(a, b, al);
}

writ_status wr_jws_parse(const char *tok, size_t len, size_t max_len, const char *const *typ_ok,
                         bool typ_required, wr_jws *out, writ_reason *why, writ_error *err)
{
    memset(out, 0, sizeof *out);
    if (!max_len)
        max_len = WRIT_DEFAULT_MAX_TOKEN;
    if (len == 0)
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_MALFORMED, "empty token");
    if (len > max_len)
        return wr_refuse(why, err, WRIT_ELIMIT, WRIT_R_TOO_LARGE, "token is %zu bytes, limit %zu", len,
                         max_len);

    const char *d1 = memchr(tok, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
    if (!d1 || !d2)
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_MALFORMED,
                         "not a compact JWS (need 3 dot-separated parts)");
    if (memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)))
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_MALFORMED,
                         "too many dot-separated parts (JWE and JSON serialization are not accepted)");
    size_t hl = (size_t)(d1 - tok), pl = (size_t)(d2 - d1 - 1), sl = len - (size_t)(d2 + 1 - tok);
    if (hl > wr_b64url_enc_len(WR_JWS_MAX_HEADER))
        return wr_refuse(why, err, WRIT_ELIMIT, WRIT_R_TOO_LARGE, "header over %u bytes", WR_JWS_MAX_HEADER);

    unsigned char *raw = NULL;
    size_t rl = 0;
    writ_status st;
    if (!wr_b64url_decode(tok, hl, &raw, &rl))
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_MALFORMED, "header is not canonical base64url");
    st = wr_json_object((const char *)raw, rl, &out->header, why, err, "header");
    wr_free(raw);
    if (st != WRIT_OK)
        goto fail;

    /* alg: allow-list first, so no key is ever touched for none / HMAC. */
    size_t al = 0;
    const char *alg = wr_json_str(out->header, "alg", &al);
    if (!alg) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_ALG, "header has no alg string");
        goto fail;
    }
    out->alg = wr_alg_from_name(alg, al);
    if (out->alg == WR_ALG_UNKNOWN) {
        const char *kind = ascii_ieq(alg, al, "none") ? "unsecured JWS ('none') is never accepted"
                           : (al >= 2 && !strncmp(alg, "HS", 2))
                               ? "HMAC algorithms are never accepted"
                               : "not on the allow-list (RS256, PS256, ES256, ES384, EdDSA)";
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_ALG, "alg '%.*s': %s", (int)(al > 32 ? 32 : al), alg,
                       kind);
        goto fail;
    }
    if (json_object_get(out->header, "crit")) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_CRIT,
                       "crit header present; no extensions are understood");
        goto fail;
    }
    json_t *typ = json_object_get(out->header, "typ");
    if (typ_ok && (typ || typ_required)) {
        bool ok = false;
        if (json_is_string(typ) && typ_ok)
            for (size_t i = 0; typ_ok[i] && !ok; i++)
                ok = ascii_ieq(json_string_value(typ), json_string_length(typ), typ_ok[i]);
        if (!ok) {
            st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_TYP, "typ %s is not accepted here",
                           json_is_string(typ) ? json_string_value(typ) : "(missing or not a string)");
            goto fail;
        }
    }
    json_t *kid = json_object_get(out->header, "kid");
    if (kid) {
        if (!json_is_string(kid) || json_string_length(kid) == 0 || json_string_length(kid) > 256) {
            st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_MALFORMED, "kid must be a string of 1..256 bytes");
            goto fail;
        }
        out->kid = json_string_value(kid);
        out->kid_len = json_string_length(kid);
    }

    if (!wr_b64url_decode(d1 + 1, pl, &raw, &rl)) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_MALFORMED, "payload is not canonical base64url");
        goto fail;
    }
    st = wr_json_object((const char *)raw, rl, &out->claims, why, err, "payload");
    wr_free(raw);
    if (st != WRIT_OK)
        goto fail;

    if (sl == 0) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_SIGNATURE, "signature is empty");
        goto fail;
    }
    if (sl > 1400 || !wr_b64url_decode(d2 + 1, sl, &out->sig, &out->sig_len)) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_MALFORMED,
                       "signature is not canonical base64url of <= 1024 bytes");
        goto fail;
    }
    out->signing_input = tok;
    out->signing_input_len = (size_t)(d2 - tok);
    return WRIT_OK;
fail:
    wr_jws_clear(out);
    return st;
}

/* The group orders of P-256 and P-384 and their halves, from OpenSSL's
 * curve parameters, made once.  NULL when OpenSSL failed: every ECDSA
 * signature is then refused (fail closed). */
static struct {
    BIGNUM *order, *half;
} ec_orders[2];
static pthread_once_t ec_orders_once = PTHREAD_ONCE_INIT;

static void ec_orders_init(void)
{
    static const int nids[2] = {NID_X9_62_prime256v1, NID_secp384r1};
    for (size_t i = 0; i < 2; i++) {
        EC_GROUP *g = EC_GROUP_new_by_curve_name(nids[i]);
        const BIGNUM *o = g ? EC_GROUP_get0_order(g) : NULL;
        BIGNUM *order = o ? BN_dup(o) : NULL, *half = o ? BN_dup(o) : NULL;
        if (!order || !half || !BN_rshift1(half, half)) {
            BN_free(order);
            BN_free(half);
            order = half = NULL;
        }
        ec_orders[i].order = order;
        ec_orders[i].half = half;
        EC_GROUP_free(g);
    }
}

static bool ec_order(wr_alg alg, const BIGNUM **order, const BIGNUM **half)
{
    if (alg != WR_ALG_ES256 && alg != WR_ALG_ES384)
        return false;
    pthread_once(&ec_orders_once, ec_orders_init);
    size_t i = alg == WR_ALG_ES384;
    *order = ec_orders[i].order;
    *half = ec_orders[i].half;
    return *order && *half;
}

bool wr_sig_high_s(wr_alg alg, const unsigned char *sig, size_t sig_len)
{
    const BIGNUM *order, *half;
    size_t fl = alg == WR_ALG_ES256 ? 32 : 48;
    if (alg != WR_ALG_ES256 && alg != WR_ALG_ES384)
        return false;
    if (sig_len != 2 * fl || !ec_order(alg, &order, &half))
        return true; /* cannot tell: treat as refused */
    BIGNUM *s = BN_bin2bn(sig + fl, (int)fl, NULL);
    bool high = !s || BN_cmp(s, half) > 0;
    BN_free(s);
    return high;
}

/* JWS ECDSA signatures are R||S, each exactly the field size; OpenSSL wants
 * DER. */
static unsigned char *ecdsa_raw_to_der(wr_alg alg, const unsigned char *sig, size_t n, size_t fl,
                                       int *der_len)
{
    if (n != 2 * fl)
        return NULL;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)fl, NULL), *s = BN_bin2bn(sig + fl, (int)fl, NULL);
    unsigned char *der = NULL;
    if (!es || !r || !s || BN_is_zero(r) || BN_is_zero(s) || !ECDSA_SIG_set0(es, r, s)) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return NULL;
    }
    *der_len = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    if (*der_len <= 0)
        return NULL;
    return der;
}

static bool sig_verify(EVP_PKEY *pkey, wr_alg alg, const unsigned char *msg, size_t len,
                       const unsigned char *sig, size_t sig_len, bool allow_high_s);

bool wr_sig_verify(EVP_PKEY *pkey, wr_alg alg, const unsigned char *msg, size_t len, const unsigned char *sig,
                   size_t sig_len)
{
    return sig_verify(pkey, alg, msg, len, sig, sig_len, false);
}

static bool sig_verify(EVP_PKEY *pkey, wr_alg alg, const unsigned char *msg, size_t len,
                       const unsigned char *sig, size_t sig_len, bool allow_high_s)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *der = NULL;
    int der_len = 0;
    bool ok = false;
    if (!ctx)
        return false;
    if (EVP_DigestVerifyInit(ctx, &pctx, alg_md(alg), NULL, pkey) != 1)
        goto done;
    if (alg == WR_ALG_PS256 && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                                EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
                                EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1))
        goto done;
    if (alg == WR_ALG_RS256 && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
        goto done;
    if (alg == WR_ALG_ES256 || alg == WR_ALG_ES384) {
        if (!allow_high_s && wr_sig_high_s(alg, sig, sig_len))
            goto done;
        der = ecdsa_raw_to_der(alg, sig, sig_len, alg == WR_ALG_ES256 ? 32 : 48, &der_len);
        if (!der)
            goto done;
        sig = der;
        sig_len = (size_t)der_len;
    }
    ok = EVP_DigestVerify(ctx, sig, sig_len, msg, len) == 1;
done:
    OPENSSL_free(der);
    EVP_MD_CTX_free(ctx);
    return ok;
}

writ_status wr_jws_verify(const wr_jws *j, const wr_jwk *key, writ_reason *why, writ_error *err)
{
    return wr_jws_verify_ex(j, key, false, why, err);
}

writ_status wr_jws_verify_ex(const wr_jws *j, const wr_jwk *key, bool allow_high_s, writ_reason *why,
                             writ_error *err)
{
    if (!wr_jwk_fits(key, j->alg))
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_KEY_ALG, "key '%s' cannot verify alg %s",
                         key->kid ? key->kid : "?", wr_alg_name(j->alg));
    if (!allow_high_s && (j->alg == WR_ALG_ES256 || j->alg == WR_ALG_ES384) &&
        j->sig_len == (j->alg == WR_ALG_ES256 ? 64u : 96u) && wr_sig_high_s(j->alg, j->sig, j->sig_len))
        return wr_refuse(
            why, err, WRIT_EINVAL, WRIT_R_SIGNATURE,
            "%s signature has a high S (s > n/2): only the low-S form is accepted (malleability)",
            wr_alg_name(j->alg));
    if (!sig_verify(key->pkey, j->alg, (const unsigned char *)j->signing_input, j->signing_input_len, j->sig,
                    j->sig_len, allow_high_s))
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_SIGNATURE,
                         "%s signature does not verify with key '%s'", wr_alg_name(j->alg),
                         key->kid ? key->kid : "?");
    return WRIT_OK;
}

bool wr_sig_sign(EVP_PKEY *key, wr_alg alg, const unsigned char *msg, size_t len, unsigned char **out,
                 size_t *out_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    ECDSA_SIG *es = NULL;
    BIGNUM *low = NULL;
    unsigned char *sig = NULL, *raw = NULL;
    size_t siglen = 0;
    bool ok = false;
    *out = NULL;
    if (!ctx || EVP_DigestSignInit(ctx, &pctx, alg_md(alg), NULL, key) != 1)
        goto done;
    if (alg == WR_ALG_PS256 && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                                EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
        goto done;
    if (EVP_DigestSign(ctx, NULL, &siglen, msg, len) != 1 || siglen > 1024)
        goto done;
    if (!(sig = wr_malloc(siglen)) || EVP_DigestSign(ctx, sig, &siglen, msg, len) != 1)
        goto done;
    if (alg == WR_ALG_ES256 || alg == WR_ALG_ES384) {
        size_t fl = alg == WR_ALG_ES256 ? 32 : 48;
        const unsigned char *p = sig;
        const BIGNUM *r, *s;
        if (!(es = d2i_ECDSA_SIG(NULL, &p, (long)siglen)) || !(raw = wr_malloc(2 * fl)))
            goto done;
        ECDSA_SIG_get0(es, &r, &s);
        /* sign low-S: (r, n - s) verifies as well, and is the form verifiers accept */
        const BIGNUM *order, *half;
        if (!ec_order(alg, &order, &half) || !(low = BN_dup(s)))
            goto done;
        if (BN_cmp(s, half) > 0 && !BN_sub(low, order, s))
            goto done;
        if (BN_bn2binpad(r, raw, (int)fl) != (int)fl || BN_bn2binpad(low, raw + fl, (int)fl) != (int)fl)
            goto done;
        wr_free(sig);
        sig = raw;
        raw = NULL;
        siglen = 2 * fl;
    }
    *out = sig;
    *out_len = siglen;
    sig = NULL;
    ok = true;
done:
    BN_free(low);
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(ctx);
    wr_free(sig);
    wr_free(raw);
    return ok;
}

char *wr_jws_assemble(EVP_PKEY *key, wr_alg alg, const char *hdr, size_t hl, const char *claims, size_t cl,
                      size_t *out_len)
{
    size_t hbl = wr_b64url_enc_len(hl), cbl = wr_b64url_enc_len(cl);
    char *tok = wr_malloc(hbl + 1 + cbl + 1 + wr_b64url_enc_len(1024) + 1);
    unsigned char *sig = NULL;
    size_t sl = 0;
    if (!tok)
        return NULL;
    wr_b64url_encode((const unsigned char *)hdr, hl, tok);
    tok[hbl] = '.';
    wr_b64url_encode((const unsigned char *)claims, cl, tok + hbl + 1);
    size_t sil = hbl + 1 + cbl;
    if (!wr_sig_sign(key, alg, (const unsigned char *)tok, sil, &sig, &sl)) {
        wr_free(tok);
        return NULL;
    }
    tok[sil] = '.';
    size_t total = sil + 1 + wr_b64url_encode(sig, sl, tok + sil + 1);
    wr_free(sig);
    if (out_len)
        *out_len = total;
    return tok;
}

writ_status wr_jws_sign(EVP_PKEY *key, wr_alg alg, const char *kid, const char *typ, const json_t *claims,
                        char **out, size_t *out_len, writ_error *err)
{
    *out = NULL;
    writ_status st = WRIT_ENOMEM;
    json_t *hdr = json_object();
    char *hj = NULL, *cj = NULL;
    if (!hdr || json_object_set_new(hdr, "alg", json_string(wr_alg_name(alg))) ||
        (kid && json_object_set_new(hdr, "kid", json_string(kid))) ||
        (typ && json_object_set_new(hdr, "typ", json_string(typ))))
        goto done;
    hj = json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS);
    cj = json_dumps(claims, JSON_COMPACT);
    if (!hj || !cj)
        goto done;
    st = WRIT_EINVAL;
    if ((*out = wr_jws_assemble(key, alg, hj, strlen(hj), cj, strlen(cj), out_len)))
        st = WRIT_OK;
done:
    if (st != WRIT_OK && err) {
        memset(err, 0, sizeof *err);
        err->code = st;
        snprintf(err->msg, sizeof err->msg, "signing with %s failed", wr_alg_name(alg));
    }
    json_decref(hdr);
    wr_json_free(hj);
    wr_json_free(cj);
    return st;
}

/* ------------------------------------------------------------ time claims */

static writ_status int_claim(const json_t *claims, const char *name, bool required, bool *present, int64_t *v,
                             writ_reason *why, writ_error *err)
{
    json_t *j = json_object_get(claims, name);
    *present = j != NULL;
    if (!j) {
        if (required)
            return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_CLAIM_MISSING, "%s is required", name);
        return WRIT_OK;
    }
    if (!json_is_integer(j))
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_CLAIM_TYPE, "%s must be an integer NumericDate", name);
    *v = (int64_t)json_integer_value(j);
    if (*v < 0 || *v > WR_MAX_TIME)
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_CLAIM_TYPE, "%s out of range", name);
    return WRIT_OK;
}

writ_status wr_check_times(const json_t *claims, int64_t now, uint32_t leeway, uint32_t max_lifetime,
                           int64_t *exp_out, writ_reason *why, writ_error *err)
{
    int64_t exp = 0, nbf = 0, iat = 0;
    bool has_exp, has_nbf, has_iat;
    writ_status st;
    if (leeway > WRIT_MAX_LEEWAY)
        leeway = WRIT_MAX_LEEWAY;
    if (!max_lifetime)
        max_lifetime = 24 * 3600;
    /* every operand below is within [0, WR_MAX_TIME] (int_claim refuses
     * other NumericDates, now is clamped) plus at most 300 s of leeway, so
     * no sum or difference can overflow */
    now = now < 0 ? 0 : now > WR_MAX_TIME ? WR_MAX_TIME : now;
    if ((st = int_claim(claims, "exp", true, &has_exp, &exp, why, err)) ||
        (st = int_claim(claims, "nbf", false, &has_nbf, &nbf, why, err)) ||
        (st = int_claim(claims, "iat", false, &has_iat, &iat, why, err)))
        return st;
    if (now >= exp + (int64_t)leeway) {
        char at[32], clock[32];
        wr_time_text(exp, at, sizeof at);
        wr_time_text(now, clock, sizeof clock);
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_EXPIRED,
                         "exp %s (%lld) is %lld s before now, %s (leeway %u s)", at,
                         (long long)exp, (long long)(now - exp), clock, leeway);
    }
    if (has_nbf && nbf > now + (int64_t)leeway)
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_NOT_YET_VALID,
                         "nbf %lld is after now %lld (leeway %us)", (long long)nbf, (long long)now, leeway);
    if (has_iat && iat > now + (int64_t)leeway)
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_IAT, "iat %lld is after now %lld (leeway %us)",
                         (long long)iat, (long long)now, leeway);
    int64_t start = has_iat ? iat : now;
    if (exp - start > (int64_t)max_lifetime)
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_LIFETIME, "lifetime %llds exceeds %us",
                         (long long)(exp - start), max_lifetime);
    if (exp_out)
        *exp_out = exp;
    return WRIT_OK;
}

writ_status wr_check_not_aud(const json_t *claims, const char *unwanted, writ_reason *why, writ_error *err)
{
    if (!unwanted || !*unwanted)
        return WRIT_OK;
    json_t *aud = json_object_get(claims, "aud");
    bool in = json_is_string(aud) && !strcmp(json_string_value(aud), unwanted);
    size_t i;
    json_t *v;
    if (json_is_array(aud))
        json_array_foreach(aud, i, v) in = in || (json_is_string(v) && !strcmp(json_string_value(v), unwanted));
    if (in)
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_AUD, "'%s' is in aud: the token is meant for another use",
                         unwanted);
    return WRIT_OK;
}

writ_status wr_check_aud(const json_t *claims, const char *want, writ_reason *why, writ_error *err)
{
    json_t *aud = json_object_get(claims, "aud");
    if (!want || !*want)
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_AUD, "verifier gave no expected audience");
    if (!aud)
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_CLAIM_MISSING, "aud is required");
    if (json_is_string(aud)) {
        if (!strcmp(json_string_value(aud), want))
            return WRIT_OK;
    } else if (json_is_array(aud) && json_array_size(aud) > 0 && json_array_size(aud) <= 32) {
        size_t i;
        json_t *v;
        bool found = false;
        json_array_foreach(aud, i, v)
        {
            if (!json_is_string(v))
                return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_CLAIM_TYPE, "aud array holds a non-string");
            if (!strcmp(json_string_value(v), want))
                found = true;
        }
        if (found)
            return WRIT_OK;
    } else {
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_CLAIM_TYPE, "aud must be a string or 1..32 strings");
    }
    return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_AUD, "'%s' is not in aud", want);
}
