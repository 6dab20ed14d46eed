/* bundle.c - trust bundles and workload identity verification.
 *
 * A bundle maps a SPIFFE trust domain to its JWT authorities (a JWKS) and
 * X.509 roots, and an OIDC issuer (exact iss string) to its JWKS.  Keys of
 * one trust domain / issuer never verify tokens of another: the trust domain
 * comes from the token's sub (JWT-SVID) or its iss (OIDC) BEFORE any key is
 * looked up, and the kid is looked up only within that entry.
 *
 * JWT checks, in order (the first failure is reported):
 *   size -> 3 parts -> header JSON -> alg allow-list -> crit -> typ -> kid
 *   -> payload JSON -> issuer/trust domain -> key by kid -> key fits alg
 *   -> signature -> exp/nbf/iat (bounded leeway, bounded lifetime) -> aud. */
#include "identity/identity_int.h"
#include "jose/jose.h"
#include "util/alloc.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

enum { ENTRY_SPIFFE = 1, ENTRY_OIDC = 2 };

typedef struct bundle_entry {
    int kind;
    char *name; /* trust domain, or issuer */
    wr_jwks jwks;
    X509_STORE *roots; /* SPIFFE only, NULL until a root is added */
    char *ptype;       /* OIDC only: principal type of the issuer's subjects */
} bundle_entry;

struct writ_bundle {
    bundle_entry *e;
    size_t n, cap;
};

writ_bundle *writ_bundle_new(void) { return wr_calloc(1, sizeof(writ_bundle)); }

void writ_bundle_free(writ_bundle *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++) {
        wr_free(b->e[i].name);
        wr_free(b->e[i].ptype);
        wr_jwks_clear(&b->e[i].jwks);
        X509_STORE_free(b->e[i].roots);
    }
    wr_free(b->e);
    wr_free(b);
}

static bundle_entry *find_entry(const writ_bundle *b, int kind, const char *name, size_t len)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->e[i].kind == kind && strlen(b->e[i].name) == len && !memcmp(b->e[i].name, name, len))
            return &b->e[i];
    return NULL;
}

static bundle_entry *get_entry(writ_bundle *b, int kind, const char *name, size_t len)
{
    bundle_entry *e = find_entry(b, kind, name, len);
    if (e)
        return e;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4;
        bundle_entry *ne = wr_realloc(b->e, cap * sizeof *ne);
        if (!ne)
            return NULL;
        b->e = ne;
        b->cap = cap;
    }
    e = &b->e[b->n];
    memset(e, 0, sizeof *e);
    if (!(e->name = wr_strndup(name, len)))
        return NULL;
    e->kind = kind;
    b->n++;
    return e;
}

static writ_status cfg_err(writ_error *err, writ_status st, const char *fmt, const char *a)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = st;
        snprintf(err->msg, sizeof err->msg, fmt, a);
    }
    return st;
}

static writ_status add_root(bundle_entry *e, X509 *cert, writ_error *err)
{
    if (!e->roots && !(e->roots = X509_STORE_new()))
        return cfg_err(err, WRIT_ENOMEM, "out of memory%s", "");
    if (X509_STORE_add_cert(e->roots, cert) != 1)
        return cfg_err(err, WRIT_EINVAL, "cannot add root certificate%s", "");
    return WRIT_OK;
}

static writ_status x5c_root(const json_t *jwk, STACK_OF(X509) * certs, writ_error *err)
{
    json_t *x5c = json_object_get(jwk, "x5c");
    json_t *c0 = json_array_get(x5c, 0);
    if (!json_is_array(x5c) || json_array_size(x5c) != 1 || !json_is_string(c0))
        return cfg_err(err, WRIT_EINVAL, "x509-svid key must have an x5c array of one certificate%s", "");
    size_t n = json_string_length(c0);
    if (n == 0 || n % 4 || n > 65536)
        return cfg_err(err, WRIT_EINVAL, "x5c certificate is not base64%s", "");
    unsigned char *der = wr_malloc(n / 4 * 3);
    if (!der)
        return cfg_err(err, WRIT_ENOMEM, "out of memory%s", "");
    int dl = EVP_DecodeBlock(der, (const unsigned char *)json_string_value(c0), (int)n);
    X509 *cert = NULL;
    if (dl > 0) {
        const unsigned char *p = der;
        cert = d2i_X509(NULL, &p, dl);
    }
    wr_free(der);
    ERR_clear_error();
    if (!cert)
        return cfg_err(err, WRIT_EINVAL, "x5c certificate is not base64 DER%s", "");
    if (!sk_X509_push(certs, cert)) {
        X509_free(cert);
        return cfg_err(err, WRIT_ENOMEM, "out of memory%s", "");
    }
    return WRIT_OK;
}

/* Parse a key set completely, then add it to the entry (kind, name): a
 * refused key set leaves the bundle as it was. */
static writ_status add_jwks(writ_bundle *b, int kind, const char *name, size_t name_len, const char *ptype,
                            const char *json, size_t len, writ_error *err)
{
    if (len > WR_JWKS_MAX_BYTES)
        return cfg_err(err, WRIT_ELIMIT, "key set over 1 MiB%s", "");
    bool spiffe = kind == ENTRY_SPIFFE;
    json_t *doc = NULL;
    wr_jwks keys = {0};
    STACK_OF(X509) *certs = sk_X509_new_null();
    writ_reason why;
    writ_status st = certs ? wr_json_object(json, len, &doc, &why, err, "key set")
                           : cfg_err(err, WRIT_ENOMEM, "out of memory%s", "");
    json_t *arr = json_object_get(doc, "keys");
    if (st == WRIT_OK && !json_is_array(arr))
        st = cfg_err(err, WRIT_EJSON, "key set has no \"keys\" array%s", "");
    size_t i;
    json_t *k;
    json_array_foreach(arr, i, k)
    {
        if (st != WRIT_OK)
            break;
        const char *use = wr_json_str(k, "use", NULL);
        if (spiffe && use && !strcmp(use, "x509-svid")) {
            st = x5c_root(k, certs, err);
            continue;
        }
        if (use && strcmp(use, "sig") && !(spiffe && !strcmp(use, "jwt-svid"))) {
            st = cfg_err(err, WRIT_EINVAL, "key use '%s' is not a signature use", use);
            break;
        }
        wr_jwk jk;
        if ((st = wr_jwk_from_json(k, &jk, err)) != WRIT_OK)
            break;
        if (!jk.kid)
            st = cfg_err(err, WRIT_EINVAL, "JWT authority keys must have a kid%s", "");
        else
            st = wr_jwks_push(&keys, &jk, err); /* refuses duplicate kids within the set */
        if (st != WRIT_OK)
            wr_jwk_clear(&jk);
    }
    /* commit: check everything that can fail first */ bundle_entry *e =
        st == WRIT_OK ? find_entry(b, kind, name, name_len) : NULL;
    if (st == WRIT_OK && e && ptype && e->ptype && strcmp(e->ptype, ptype))
        st = cfg_err(err, WRIT_EINVAL, "issuer already trusted with principal type '%s'", e->ptype);
    for (size_t j = 0; st == WRIT_OK && e && j < keys.n; j++)
        if (wr_jwks_find(&e->jwks, keys.keys[j].kid, strlen(keys.keys[j].kid)))
            st = cfg_err(err, WRIT_EDUP, "kid '%s' is already in the bundle", keys.keys[j].kid);
    if (st == WRIT_OK && (e ? e->jwks.n : 0) + keys.n > WR_JWKS_MAX_KEYS)
        st = cfg_err(err, WRIT_ELIMIT, "more than %s keys for one trust domain or issuer", "64");
    if (st == WRIT_OK && !(e = get_entry(b, kind, name, name_len)))
        st = cfg_err(err, WRIT_ENOMEM, "out of memory%s", "");
    if (st == WRIT_OK && ptype && !e->ptype && !(e->ptype = wr_strndup(ptype, strlen(ptype))))
        st = cfg_err(err, WRIT_ENOMEM, "out of memory%s", "");
    if (st == WRIT_OK && e->jwks.cap < e->jwks.n + keys.n) {
        wr_jwk *nk = wr_realloc(e->jwks.keys, (e->jwks.n + keys.n) * sizeof *nk);
        if (nk) {
            e->jwks.keys = nk;
            e->jwks.cap = e->jwks.n + keys.n;
        } else {
            st = cfg_err(err, WRIT_ENOMEM, "out of memory%s", "");
        }
    }
    if (st == WRIT_OK && sk_X509_num(certs) > 0 && !e->roots && !(e->roots = X509_STORE_new()))
        st = cfg_err(err, WRIT_ENOMEM, "out of memory%s", "");
    if (st == WRIT_OK) {
        for (size_t j = 0; j < keys.n; j++) {
            e->jwks.keys[e->jwks.n++] = keys.keys[j];
            memset(&keys.keys[j], 0, sizeof keys.keys[j]);
        }
        for (int j = 0; st == WRIT_OK && j < sk_X509_num(certs); j++)
            st = add_root(e, sk_X509_value(certs, j), err);
    }
    sk_X509_pop_free(certs, X509_free);
    wr_jwks_clear(&keys);
    json_decref(doc);
    return st;
}

writ_status writ_bundle_add_spiffe(writ_bundle *b, const char *td, size_t td_len, const char *json,
                                   size_t len, writ_error *err)
{
    if (!b || !json)
        return cfg_err(err, WRIT_EINVAL, "no bundle or no key set%s", "");
    writ_status st = writ_spiffe_trust_domain_check(td, td_len, err);
    if (st != WRIT_OK)
        return st;
    return add_jwks(b, ENTRY_SPIFFE, td, td_len, NULL, json, len, err);
}

bool writ_principal_type_ok(const char *s)
{
    if (!s)
        return false;
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return false;
    /* ident ( "::" ident )* */
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'))
            return false;
        while (i < n && ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
                         (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            i++;
        if (i == n)
            return true;
        if (s[i] != ':' || i + 2 >= n || s[i + 1] != ':')
            return false;
        i += 2;
    }
    return false;
}

writ_status writ_bundle_add_oidc(writ_bundle *b, const char *iss, size_t iss_len, const char *jwks,
                                 size_t len, writ_error *err)
{
    return writ_bundle_add_oidc_typed(b, iss, iss_len, NULL, jwks, len, err);
}

writ_status writ_bundle_add_oidc_typed(writ_bundle *b, const char *iss, size_t iss_len, const char *ptype,
                                       const char *jwks, size_t len, writ_error *err)
{
    if (!b || !iss || !jwks)
        return cfg_err(err, WRIT_EINVAL, "no bundle, issuer or key set%s", "");
    if (iss_len == 0 || iss_len > 2048 || memchr(iss, '\0', iss_len))
        return cfg_err(err, WRIT_EINVAL, "issuer must be 1..2048 bytes%s", "");
    if (!ptype)
        ptype = WRIT_OIDC_DEFAULT_PRINCIPAL_TYPE;
    if (!writ_principal_type_ok(ptype))
        return cfg_err(
            err, WRIT_EINVAL,
            "principal type '%.140s' is not a Cedar type name (identifiers joined by '::', <= 128 bytes)",
            ptype);
    return add_jwks(b, ENTRY_OIDC, iss, iss_len, ptype, jwks, len, err);
}

writ_status writ_bundle_add_x509_pem(writ_bundle *b, const char *td, size_t td_len, const char *pem,
                                     size_t len, writ_error *err)
{
    if (!b || (!pem && len))
        return cfg_err(err, WRIT_EINVAL, "no bundle or no PEM%s", "");
    writ_status st = writ_spiffe_trust_domain_check(td, td_len, err);
    if (st != WRIT_OK)
        return st;
    if (len > 1 << 20)
        return cfg_err(err, WRIT_ELIMIT, "PEM over 1 MiB%s", "");
    /* read every certificate first: a refused file leaves the bundle as it was */
    STACK_OF(X509) *certs = sk_X509_new_null();
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509 *c;
    if (!certs || !bio)
        st = cfg_err(err, WRIT_ENOMEM, "out of memory%s", "");
    while (st == WRIT_OK && (c = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
        if (!sk_X509_push(certs, c)) {
            X509_free(c);
            st = cfg_err(err, WRIT_ENOMEM, "out of memory%s", "");
        }
    ERR_clear_error();
    BIO_free(bio);
    if (st == WRIT_OK && sk_X509_num(certs) == 0)
        st = cfg_err(err, WRIT_EINVAL, "no PEM certificate found%s", "");
    for (int i = 0; st == WRIT_OK && i < sk_X509_num(certs); i++)
        if (X509_check_ca(sk_X509_value(certs, i)) == 0)
            st = cfg_err(err, WRIT_EINVAL, "certificate %s in the roots is not a CA",
                         i == 0 ? "1" : "after the first");
    bundle_entry *e = st == WRIT_OK ? get_entry(b, ENTRY_SPIFFE, td, td_len) : NULL;
    if (st == WRIT_OK && !e)
        st = cfg_err(err, WRIT_ENOMEM, "out of memory%s", "");
    for (int i = 0; st == WRIT_OK && i < sk_X509_num(certs); i++)
        st = add_root(e, sk_X509_value(certs, i), err);
    sk_X509_pop_free(certs, X509_free);
    return st;
}

/* ------------------------------------------------------------- identities */

writ_status writ_identity_new(writ_identity_kind kind, const char *subject, const char *issuer, int64_t exp,
                              const char *x5t, writ_identity **out, writ_error *err)
{
    *out = NULL;
    writ_identity *id = wr_calloc(1, sizeof *id);
    if (!id || !subject || !(id->subject = wr_strndup(subject, strlen(subject))) ||
        (issuer && !(id->issuer = wr_strndup(issuer, strlen(issuer)))) ||
        (x5t && !(id->x5t = wr_strndup(x5t, strlen(x5t))))) {
        writ_identity_free(id);
        return cfg_err(err, subject ? WRIT_ENOMEM : WRIT_EINVAL, "cannot make identity%s", "");
    }
    id->kind = kind;
    id->exp = exp;
    if (kind == WRIT_ID_OIDC && !(id->ptype = wr_strndup(WRIT_OIDC_DEFAULT_PRINCIPAL_TYPE,
                                                         strlen(WRIT_OIDC_DEFAULT_PRINCIPAL_TYPE)))) {
        writ_identity_free(id);
        return cfg_err(err, WRIT_ENOMEM, "cannot make identity%s", "");
    }
    *out = id;
    return WRIT_OK;
}

writ_status writ_identity_set_principal_type(writ_identity *id, const char *ptype, writ_error *err)
{
    if (!id || id->kind != WRIT_ID_OIDC || !writ_principal_type_ok(ptype))
        return cfg_err(err, WRIT_EINVAL, "a principal type is for OIDC identities, a Cedar type name%s", "");
    char *p = wr_strndup(ptype, strlen(ptype));
    if (!p)
        return cfg_err(err, WRIT_ENOMEM, "out of memory%s", "");
    wr_free(id->ptype);
    id->ptype = p;
    return WRIT_OK;
}

void writ_identity_free(writ_identity *id)
{
    if (!id)
        return;
    wr_free(id->subject);
    wr_free(id->issuer);
    wr_free(id->x5t);
    wr_free(id->ptype);
    wr_free(id);
}

writ_identity_kind writ_identity_get_kind(const writ_identity *id) { return id ? id->kind : 0; }
const char *writ_identity_subject(const writ_identity *id) { return id ? id->subject : NULL; }
const char *writ_identity_issuer(const writ_identity *id) { return id ? id->issuer : NULL; }
int64_t writ_identity_expiry(const writ_identity *id) { return id ? id->exp : 0; }
const char *writ_identity_cert_thumbprint(const writ_identity *id) { return id ? id->x5t : NULL; }
const char *writ_identity_principal_type(const writ_identity *id)
{
    return id && id->kind == WRIT_ID_OIDC ? id->ptype : NULL;
}

static writ_status make_identity(writ_identity_kind kind, const char *sub, size_t sub_len, const char *iss,
                                 size_t iss_len, const char *ptype, int64_t exp, writ_identity **out,
                                 writ_reason *why, writ_error *err)
{
    writ_identity *id = wr_calloc(1, sizeof *id);
    if (!id || !(id->subject = wr_strndup(sub, sub_len)) || !(id->issuer = wr_strndup(iss, iss_len)) ||
        (ptype && !(id->ptype = wr_strndup(ptype, strlen(ptype))))) {
        writ_identity_free(id);
        return wr_refuse(why, err, WRIT_ENOMEM, WRIT_R_INTERNAL, "out of memory");
    }
    id->kind = kind;
    id->exp = exp;
    *out = id;
    return WRIT_OK;
}

static const char *const svid_typs[] = {"JWT", "JOSE", NULL};

static writ_status writ_identity_verify_jwt_body(const writ_bundle *b, const writ_verify_opts *opts,
                                                 const char *token, size_t len, writ_identity **out,
                                                 writ_reason *why, writ_error *err)
{
    wr_jws j;
    writ_status st;
    writ_spiffe_id sid;
    writ_error sub_err;
    if (why)
        *why = WRIT_R_OK;
    if (!out)
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_INTERNAL, "out is NULL");
    *out = NULL;
    if (!b || !opts || (!token && len))
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_INTERNAL, "no bundle, options or token");
    if ((st = wr_jws_parse(token, len, opts->max_token_len, svid_typs, false, &j, why, err)) != WRIT_OK)
        return st;
    if (!j.kid) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_KID_MISSING, "header has no kid");
        goto done;
    }
    json_t *jiss = json_object_get(j.claims, "iss");
    json_t *jsub = json_object_get(j.claims, "sub");
    if ((jiss && (!json_is_string(jiss) || json_string_length(jiss) == 0)) ||
        (jsub && (!json_is_string(jsub) || json_string_length(jsub) == 0))) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_CLAIM_TYPE, "iss and sub must be non-empty strings");
        goto done;
    }
    if (!jsub) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_CLAIM_MISSING, "sub is required");
        goto done;
    }
    const char *sub = json_string_value(jsub);
    size_t sub_len = json_string_length(jsub);
    const bundle_entry *e = NULL;
    writ_identity_kind kind;
    if (jiss && (e = find_entry(b, ENTRY_OIDC, json_string_value(jiss), json_string_length(jiss)))) {
        kind = WRIT_ID_OIDC;
        if (sub_len > WRIT_SPIFFE_ID_MAX) {
            st = wr_refuse(why, err, WRIT_ELIMIT, WRIT_R_TOO_LARGE, "sub longer than %d bytes",
                           WRIT_SPIFFE_ID_MAX);
            goto done;
        }
        /* identity isolation: an issuer trusted for its own subjects (people,
         * CI jobs) never speaks for a SPIFFE workload */
        if (wr_looks_spiffe(sub, sub_len)) {
            st = wr_refuse(
                why, err, WRIT_EINVAL, WRIT_R_SUB,
                "OIDC issuer '%.200s' may not vouch for a SPIFFE ID (sub '%.200s'): SPIFFE identities "
                "come only from their trust domain's bundle",
                e->name, sub);
            goto done;
        }
    } else {
        kind = WRIT_ID_JWT_SVID;
        if (writ_spiffe_id_parse(sub, sub_len, &sid, &sub_err) != WRIT_OK) {
            if (jiss)
                st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_ISS,
                               "iss '%.64s' is not a trusted OIDC issuer and sub is not a SPIFFE ID",
                               json_string_value(jiss));
            else
                st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_SUB, "JWT-SVID sub is not a SPIFFE ID (%s)",
                               sub_err.msg);
            goto done;
        }
        if (sid.path_off == sid.len) {
            /* spiffe://td names the trust domain, never a workload */
            st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_SUB,
                           "JWT-SVID sub '%.300s' is a bare trust domain ID, not a workload", sid.str);
            goto done;
        }
        e = find_entry(b, ENTRY_SPIFFE, sid.str + 9, sid.td_len);
        if (!e || e->jwks.n == 0) {
            st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_UNTRUSTED,
                           "no JWT authorities for trust domain '%.*s'", (int)sid.td_len, sid.str + 9);
            goto done;
        }
    }
    const wr_jwk *key = wr_jwks_find(&e->jwks, j.kid, j.kid_len);
    if (!key) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_KID_UNKNOWN,
                       "kid '%.*s' not in the %s bundle for '%.64s'", (int)(j.kid_len > 64 ? 64 : j.kid_len),
                       j.kid, kind == WRIT_ID_OIDC ? "issuer" : "trust domain", e->name);
        goto done;
    }
    if ((st = wr_jws_verify_ex(&j, key, opts->allow_high_s, why, err)) != WRIT_OK)
        goto done;
    int64_t exp = 0;
    if ((st = wr_check_times(j.claims, wr_now(opts->now), opts->leeway, opts->max_lifetime, &exp, why,
                             err)) != WRIT_OK ||
        (st = wr_check_aud(j.claims, opts->audience, why, err)) != WRIT_OK ||
        (st = wr_check_not_aud(j.claims, opts->refuse_audience, why, err)) != WRIT_OK)
        goto done;
    if (kind == WRIT_ID_OIDC) {
        st = make_identity(kind, sub, sub_len, e->name, strlen(e->name), e->ptype, exp, out, why, err);
    } else {
        char iss[9 + 256];
        int il = snprintf(iss, sizeof iss, "spiffe://%.*s", (int)sid.td_len, sid.str + 9);
        st = make_identity(kind, sid.str, sid.len, iss, (size_t)il, NULL, exp, out, why, err);
    }
done:
    wr_jws_clear(&j);
    return st;
}

writ_status writ_identity_verify_jwt(const writ_bundle *b, const writ_verify_opts *opts, const char *token,
                                     size_t len, writ_identity **out, writ_reason *why, writ_error *err)
{
    unsigned long failed = wr_alloc_failures();
    return wr_oom_verdict(writ_identity_verify_jwt_body(b, opts, token, len, out, why, err), failed, why,
                          err);
}

/* ---------------------------------------------------------------- X.509-SVID */

#define X509_MAX_PEM 65536
#define X509_MAX_CHAIN 8

/* Checks shared by the PEM and DER entry points.  Takes ownership of leaf
 * and chain (intermediates, may be empty). */
static writ_status verify_x509_chain(const writ_bundle *b, const writ_verify_opts *opts, X509 *leaf,
                                     STACK_OF(X509) * chain, writ_identity **out, writ_reason *why,
                                     writ_error *err)
{
    writ_status st = WRIT_EINVAL;
    STACK_OF(GENERAL_NAME) *sans = NULL;
    X509_STORE_CTX *ctx = NULL;
    /* Exactly one URI SAN, and it is a SPIFFE ID (X509-SVID.md 2). */
    sans = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    const char *uri = NULL;
    size_t uri_len = 0;
    int uris = 0;
    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
        GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
        if (gn->type == GEN_URI) {
            uris++;
            uri = (const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
            uri_len = (size_t)ASN1_STRING_length(gn->d.uniformResourceIdentifier);
        }
    }
    if (uris != 1) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_CERT_SAN,
                       "leaf has %d URI SANs, an X.509-SVID has exactly one", uris);
        goto done;
    }
    writ_spiffe_id sid;
    writ_error id_err;
    if (writ_spiffe_id_parse(uri, uri_len, &sid, &id_err) != WRIT_OK) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_CERT_SAN, "URI SAN is not a SPIFFE ID (%s)", id_err.msg);
        goto done;
    }
    if (sid.path_off == sid.len) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_CERT_SAN,
                       "leaf SPIFFE ID has no path (a trust domain ID)");
        goto done;
    }
    /* Leaf constraints (X509-SVID.md 4.1-4.3): not a CA, keyUsage present
     * with digitalSignature and without keyCertSign / cRLSign. */
    if (X509_check_ca(leaf) != 0) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_CERT, "leaf certificate is a CA");
        goto done;
    }
    uint32_t ku = X509_get_key_usage(leaf);
    if (ku == UINT32_MAX || !(ku & KU_DIGITAL_SIGNATURE) || (ku & (KU_KEY_CERT_SIGN | KU_CRL_SIGN))) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_CERT,
                       "leaf key usage must be present, with digitalSignature, without keyCertSign/cRLSign");
        goto done;
    }
    const bundle_entry *e = find_entry(b, ENTRY_SPIFFE, sid.str + 9, sid.td_len);
    if (!e || !e->roots) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_UNTRUSTED, "no X.509 roots for trust domain '%.*s'",
                       (int)sid.td_len, sid.str + 9);
        goto done;
    }
    if (!(ctx = X509_STORE_CTX_new()) || X509_STORE_CTX_init(ctx, e->roots, leaf, chain) != 1) {
        st = wr_refuse(why, err, WRIT_ENOMEM, WRIT_R_INTERNAL, "out of memory");
        goto done;
    }
    X509_STORE_CTX_set_time(ctx, 0, (time_t)wr_now(opts->now));
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
    if (X509_verify_cert(ctx) != 1) {
        int e2 = X509_STORE_CTX_get_error(ctx);
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_CERT, "chain does not verify: %s",
                       X509_verify_cert_error_string(e2));
        ERR_clear_error();
        goto done;
    }
    unsigned char md[32];
    unsigned int mdl = 0;
    char x5t[44];
    if (X509_digest(leaf, EVP_sha256(), md, &mdl) != 1 || mdl != 32) {
        st = wr_refuse(why, err, WRIT_ENOMEM, WRIT_R_INTERNAL, "digest failed");
        goto done;
    }
    wr_b64url_encode(md, 32, x5t);
    struct tm tm;
    int64_t exp = 0;
    if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) == 1)
        exp = (int64_t)timegm(&tm);
    char iss[9 + 256];
    snprintf(iss, sizeof iss, "spiffe://%.*s", (int)sid.td_len, sid.str + 9);
    st = writ_identity_new(WRIT_ID_X509_SVID, sid.str, iss, exp, x5t, out, err);
    if (st != WRIT_OK && why)
        *why = WRIT_R_INTERNAL;
done:
    X509_STORE_CTX_free(ctx);
    GENERAL_NAMES_free(sans);
    sk_X509_pop_free(chain, X509_free);
    X509_free(leaf);
    return st;
}

writ_status writ_identity_verify_x509(const writ_bundle *b, const writ_verify_opts *opts, const char *pem,
                                      size_t len, writ_identity **out, writ_reason *why, writ_error *err)
{
    if (why)
        *why = WRIT_R_OK;
    if (!out)
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_INTERNAL, "out is NULL");
    *out = NULL;
    if (!b || !opts || (!pem && len))
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_INTERNAL, "no bundle, options or certificates");
    if (len > X509_MAX_PEM)
        return wr_refuse(why, err, WRIT_ELIMIT, WRIT_R_TOO_LARGE, "certificate chain over %d bytes",
                         X509_MAX_PEM);
    X509 *leaf = NULL, *c;
    STACK_OF(X509) *chain = sk_X509_new_null();
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    writ_status st = WRIT_OK;
    int count = 0;
    if (!bio || !chain)
        st = wr_refuse(why, err, WRIT_ENOMEM, WRIT_R_INTERNAL, "out of memory");
    while (st == WRIT_OK && (c = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        if (++count > X509_MAX_CHAIN) {
            X509_free(c);
            st = wr_refuse(why, err, WRIT_ELIMIT, WRIT_R_TOO_LARGE, "more than %d certificates",
                           X509_MAX_CHAIN);
        } else if (!leaf) {
            leaf = c;
        } else if (!sk_X509_push(chain, c)) {
            X509_free(c);
            st = wr_refuse(why, err, WRIT_ENOMEM, WRIT_R_INTERNAL, "out of memory");
        }
    }
    ERR_clear_error();
    BIO_free(bio);
    if (st == WRIT_OK && !leaf)
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_CERT, "no PEM certificate in input");
    if (st != WRIT_OK) {
        sk_X509_pop_free(chain, X509_free);
        X509_free(leaf);
        return st;
    }
    return verify_x509_chain(b, opts, leaf, chain, out, why, err);
}

writ_status writ_identity_verify_x509_der(const writ_bundle *b, const writ_verify_opts *opts,
                                          const unsigned char *const *certs, const size_t *lens, size_t n,
                                          writ_identity **out, writ_reason *why, writ_error *err)
{
    if (why)
        *why = WRIT_R_OK;
    if (!out)
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_INTERNAL, "out is NULL");
    *out = NULL;
    if (!b || !opts || (n && (!certs || !lens)))
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_INTERNAL, "no bundle, options or certificates");
    if (n == 0)
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_CERT, "no certificate presented");
    if (n > X509_MAX_CHAIN)
        return wr_refuse(why, err, WRIT_ELIMIT, WRIT_R_TOO_LARGE, "more than %d certificates",
                         X509_MAX_CHAIN);
    X509 *leaf = NULL;
    STACK_OF(X509) *chain = sk_X509_new_null();
    writ_status st = chain ? WRIT_OK : wr_refuse(why, err, WRIT_ENOMEM, WRIT_R_INTERNAL, "out of memory");
    for (size_t i = 0; st == WRIT_OK && i < n; i++) {
        const unsigned char *p = certs[i];
        if (!p) {
            st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_CERT, "certificate %zu is NULL", i);
            break;
        }
        if (lens[i] > X509_MAX_PEM) {
            st = wr_refuse(why, err, WRIT_ELIMIT, WRIT_R_TOO_LARGE, "certificate %zu over %d bytes", i,
                           X509_MAX_PEM);
            break;
        }
        X509 *c = d2i_X509(NULL, &p, (long)lens[i]);
        if (!c || p != certs[i] + lens[i]) {
            X509_free(c);
            st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_CERT,
                           "certificate %zu is not exactly one DER certificate", i);
        } else if (!leaf) {
            leaf = c;
        } else if (!sk_X509_push(chain, c)) {
            X509_free(c);
            st = wr_refuse(why, err, WRIT_ENOMEM, WRIT_R_INTERNAL, "out of memory");
        }
    }
    ERR_clear_error();
    if (st != WRIT_OK) {
        sk_X509_pop_free(chain, X509_free);
        X509_free(leaf);
        return st;
    }
    return verify_x509_chain(b, opts, leaf, chain, out, why, err);
}
