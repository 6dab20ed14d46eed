/* identity.h - who is calling: SPIFFE IDs, JWT-SVIDs, OIDC workload tokens
 * and X.509-SVIDs, verified against per-trust-domain / per-issuer bundles.
 *
 * Typical use:
 *
 *     writ_bundle *b = writ_bundle_new();
 *     writ_bundle_add_spiffe(b, "corp.example", 12, bundle_json, blen, &err);
 *     writ_verify_opts o = { .audience = "writ" };
 *     writ_identity *id; writ_reason why;
 *     if (writ_identity_verify_jwt(b, &o, tok, toklen, &id, &why, &err) != WRIT_OK)
 *         deny(writ_reason_name(why), err.msg);
 *
 * Every refusal comes with a writ_reason naming the check that failed and an
 * err.msg of the form "<reason>: <detail>".  Refusals of a presented
 * credential return WRIT_EINVAL (WRIT_ELIMIT for size limits, WRIT_EJSON for
 * malformed JSON); the out-parameter is left NULL.
 *
 * Ownership and threads: a writ_bundle is the caller's (writ_bundle_free);
 * built once, then read-only: verifications may run in several threads at
 * once, additions may not run beside them.  A writ_identity is the
 * caller's (writ_identity_free), immutable, its strings live as long as it.
 */
#ifndef WRIT_IDENTITY_H
#define WRIT_IDENTITY_H

#include "writ/writ.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Why a credential or an exchange was refused.  Stable: the names
 * (writ_reason_name) appear in logs, audit records and CLI output. */
typedef enum writ_reason {
    WRIT_R_OK = 0,
    WRIT_R_MALFORMED,     /* not a compact JWS / bad base64url / not a JSON object */
    WRIT_R_TOO_LARGE,     /* token, header or claim over a size or count limit */
    WRIT_R_DUP_KEY,       /* duplicate JSON object key */
    WRIT_R_ALG,           /* alg missing, "none", HMAC or not on the allow-list */
    WRIT_R_TYP,           /* typ header not acceptable */
    WRIT_R_CRIT,          /* crit header present (no extensions are understood) */
    WRIT_R_KID_MISSING,   /* no kid header */
    WRIT_R_KID_UNKNOWN,   /* no key with that kid for this trust domain / issuer */
    WRIT_R_KEY_ALG,       /* the key's type or alg does not fit the header alg */
    WRIT_R_SIGNATURE,     /* signature does not verify */
    WRIT_R_EXPIRED,       /* exp (plus leeway) is in the past */
    WRIT_R_NOT_YET_VALID, /* nbf (minus leeway) is in the future */
    WRIT_R_IAT,           /* iat in the future */
    WRIT_R_LIFETIME,      /* exp - iat longer than allowed */
    WRIT_R_CLAIM_MISSING, /* a required claim is absent */
    WRIT_R_CLAIM_TYPE,    /* a claim has the wrong JSON type or shape */
    WRIT_R_AUD,           /* the expected audience is not in aud */
    WRIT_R_ISS,           /* iss not the pinned issuer */
    WRIT_R_SUB,           /* sub is not a SPIFFE ID (JWT-SVID) or not allowed */
    WRIT_R_UNTRUSTED,     /* no bundle for the trust domain or issuer */
    WRIT_R_SPIFFE_ID,     /* malformed SPIFFE ID */
    WRIT_R_CERT,          /* X.509 chain does not verify or leaf is not an SVID */
    WRIT_R_CERT_SAN,      /* not exactly one URI SAN holding a SPIFFE ID */
    WRIT_R_REVOKED,       /* token, ancestor, task or agent revoked */
    WRIT_R_SCOPE,         /* requested scope is not a subset of the parent's */
    WRIT_R_EXPIRY,        /* requested expiry later than the parent's */
    WRIT_R_DEPTH,         /* delegation depth over the limit */
    WRIT_R_TTL,           /* requested lifetime over the hard maximum */
    WRIT_R_CNF_MISSING,   /* cert-bound token presented without a client cert */
    WRIT_R_CNF_MISMATCH,  /* cert-bound token presented with another cert */
    WRIT_R_ACTOR,         /* presenter is not the token's holder */
    WRIT_R_INTERNAL,      /* allocation or library failure */
} writ_reason;

WRIT_API const char *writ_reason_name(writ_reason r);

/* ---- SPIFFE IDs ----------------------------------------------------------
 * spiffe://<trust-domain>/<path>: scheme lower case, trust domain
 * [a-z0-9.-_]{1,255}, path segments [A-Za-z0-9.-_]+ with no empty, "." or ".."
 * segment and no trailing slash, no port, userinfo, query or fragment,
 * at most 2048 bytes.  The path may be empty (the trust domain's own ID). */
#define WRIT_SPIFFE_ID_MAX 2048

typedef struct writ_spiffe_id {
    char str[WRIT_SPIFFE_ID_MAX + 1]; /* the whole ID, NUL-terminated */
    size_t len;
    size_t td_len;   /* trust domain = str + 9, td_len bytes */
    size_t path_off; /* path (with leading '/', or empty) = str + path_off */
} writ_spiffe_id;

WRIT_API WRIT_MUST_CHECK writ_status writ_spiffe_id_parse(const char *s, size_t len, writ_spiffe_id *out,
                                                 writ_error *err);
/* Trust domain name alone (no scheme): the same character rules. */
WRIT_API WRIT_MUST_CHECK writ_status writ_spiffe_trust_domain_check(const char *s, size_t len, writ_error *err);

/* ---- trust bundles ------------------------------------------------------- */
typedef struct writ_bundle writ_bundle;

WRIT_API writ_bundle *writ_bundle_new(void);
WRIT_API void writ_bundle_free(writ_bundle *b);

/* A SPIFFE bundle (a JWKS): keys with "use":"jwt-svid" (or no use, or "sig")
 * are JWT authorities; keys with "use":"x509-svid" carry an x5c root. */
WRIT_API WRIT_MUST_CHECK writ_status writ_bundle_add_spiffe(writ_bundle *b, const char *trust_domain, size_t td_len,
                                                   const char *json, size_t len, writ_error *err);
/* X.509 roots for a trust domain, PEM (one or more certificates). */
WRIT_API WRIT_MUST_CHECK writ_status writ_bundle_add_x509_pem(writ_bundle *b, const char *trust_domain, size_t td_len,
                                                     const char *pem, size_t len, writ_error *err);
/* An OIDC issuer (exact iss string) and its JWKS.  Its subjects are
 * principals of type WRIT_OIDC_DEFAULT_PRINCIPAL_TYPE. */
WRIT_API WRIT_MUST_CHECK writ_status writ_bundle_add_oidc(writ_bundle *b, const char *issuer, size_t iss_len,
                                                 const char *jwks, size_t len, writ_error *err);
/* The same, naming the Cedar principal type of the issuer's subjects
 * (identity isolation: an OIDC issuer never speaks for a SPIFFE agent; its
 * subjects are principals of their own type, e.g. "User").  principal_type:
 * a Cedar type name, identifiers joined by "::", at most 128 bytes; NULL =
 * the default.  Adding keys to an issuer already in the bundle with another
 * type is refused. */
#define WRIT_OIDC_DEFAULT_PRINCIPAL_TYPE "User"
WRIT_API WRIT_MUST_CHECK writ_status writ_bundle_add_oidc_typed(writ_bundle *b, const char *issuer, size_t iss_len,
                                                       const char *principal_type, const char *jwks,
                                                       size_t len, writ_error *err);

/* ---- verification -------------------------------------------------------- */
#define WRIT_MAX_LEEWAY 300u         /* seconds; larger leeway values are clamped */
#define WRIT_DEFAULT_MAX_TOKEN 8192u /* bytes of compact JWS */

typedef struct writ_verify_opts {
    const char *audience;  /* required: must appear in aud */
    int64_t now;           /* unix seconds; 0 = the clock */
    uint32_t leeway;       /* clock skew allowed on exp/nbf/iat, <= WRIT_MAX_LEEWAY */
    uint32_t max_lifetime; /* exp - iat limit in seconds; 0 = 24 h */
    size_t max_token_len;  /* 0 = WRIT_DEFAULT_MAX_TOKEN */
    /* ES256 / ES384 signatures must be low-S (s <= n/2; the twin (r, n - s)
     * of a valid signature is refused as malleable).  Many signers do not
     * normalise S (Go's crypto/ecdsa, so SPIRE; OpenSSL, so Node's jose:
     * about half their ECDSA tokens are high-S); true accepts both forms
     * from this verification's issuers.  Default false. */
    bool allow_high_s;
    /* NULL, or an audience that must not be in aud: a token meant for
     * another use (a delegation's actor token is not a sign-in, and an
     * agent's identity token must not serve as another's actor token). */
    const char *refuse_audience;
} writ_verify_opts;

typedef enum writ_identity_kind {
    WRIT_ID_JWT_SVID = 1,
    WRIT_ID_OIDC,
    WRIT_ID_X509_SVID,
} writ_identity_kind;

typedef struct writ_identity writ_identity;

/* Verify a JWT-SVID or OIDC workload token.  A token whose iss names an
 * OIDC issuer in the bundle is checked as OIDC with that issuer's keys; its
 * sub may not be a SPIFFE ID (any "spiffe:" URI, WRIT_R_SUB): SPIFFE
 * identities come only from SPIFFE trust domains.  Otherwise it is a
 * JWT-SVID: sub must be a SPIFFE ID naming a workload (not a bare trust
 * domain) and the key must come from that ID's trust domain. */
WRIT_API WRIT_MUST_CHECK writ_status writ_identity_verify_jwt(const writ_bundle *b, const writ_verify_opts *opts,
                                                     const char *token, size_t len, writ_identity **out,
                                                     writ_reason *why, writ_error *err);

/* Verify an X.509-SVID chain (PEM, leaf first, then intermediates) against
 * the roots of the leaf's trust domain, at opts->now.  Only opts->now is used. */
WRIT_API WRIT_MUST_CHECK writ_status writ_identity_verify_x509(const writ_bundle *b, const writ_verify_opts *opts,
                                                      const char *pem, size_t len, writ_identity **out,
                                                      writ_reason *why, writ_error *err);

/* The same from DER certificates (what a TLS library hands over): certs[0]
 * is the leaf, the rest intermediates. */
WRIT_API WRIT_MUST_CHECK writ_status writ_identity_verify_x509_der(const writ_bundle *b, const writ_verify_opts *opts,
                                                          const unsigned char *const *certs,
                                                          const size_t *lens, size_t n, writ_identity **out,
                                                          writ_reason *why, writ_error *err);

/* An identity known by other means (tests, trusted front ends).  The
 * thumbprint, if not NULL, is the base64url SHA-256 of the client cert.
 * An OIDC identity gets the default principal type
 * (writ_identity_set_principal_type changes it). */
WRIT_API WRIT_MUST_CHECK writ_status writ_identity_new(writ_identity_kind kind, const char *subject,
                                              const char *issuer, int64_t exp, const char *x5t_s256,
                                              writ_identity **out, writ_error *err);

/* OIDC identities only (WRIT_EINVAL otherwise, or for a bad type name). */
WRIT_API WRIT_MUST_CHECK writ_status writ_identity_set_principal_type(writ_identity *id, const char *principal_type,
                                                             writ_error *err);

WRIT_API void writ_identity_free(writ_identity *id);
/* WRIT_ID_JWT_SVID / WRIT_ID_X509_SVID: a SPIFFE workload (an agent);
 * WRIT_ID_OIDC: a subject of an OIDC issuer, never an agent. */
WRIT_API writ_identity_kind writ_identity_get_kind(const writ_identity *id);
/* The Cedar principal type an identity maps to: NULL for SPIFFE identities
 * (the deployment's agent type, e.g. check_principal_type), the issuer's
 * configured type for OIDC ones (WRIT_OIDC_DEFAULT_PRINCIPAL_TYPE unless
 * set).  Unqualified names get the deployment's namespace like the agent
 * type does. */
WRIT_API const char *writ_identity_principal_type(const writ_identity *id);
/* Is s a Cedar type name Writ accepts as a principal type: identifiers
 * ([A-Za-z_][A-Za-z0-9_]*) joined by "::", 1..128 bytes? */
WRIT_API bool writ_principal_type_ok(const char *s);
/* SPIFFE ID for SVIDs, sub for OIDC tokens. */
WRIT_API const char *writ_identity_subject(const writ_identity *id);
/* iss (OIDC), or the trust domain's "spiffe://td" (SVIDs). */
WRIT_API const char *writ_identity_issuer(const writ_identity *id);
WRIT_API int64_t writ_identity_expiry(const writ_identity *id);
/* base64url(SHA-256(DER leaf)) for X.509-SVIDs, NULL otherwise. */
WRIT_API const char *writ_identity_cert_thumbprint(const writ_identity *id);

#ifdef __cplusplus
}
#endif

#endif
