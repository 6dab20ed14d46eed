/* keyring.c - Writ's signing keys: generate, load, rotate, export JWKS.
 * A key's kid is its RFC 7638 thumbprint, so a PEM file is all the state. */
#include "token/token_int.h"
#include "util/alloc.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

static writ_status kr_err(writ_error *err, writ_status st, const char *fmt, const char *a)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = st;
        snprintf(err->msg, sizeof err->msg, fmt, a);
    }
    return st;
}

writ_keyring *writ_keyring_new(void) { return wr_calloc(1, sizeof(writ_keyring)); }

void writ_keyring_free(writ_keyring *kr)
{
    if (!kr)
        return;
    for (size_t i = 0; i < kr->n; i++)
        EVP_PKEY_free(kr->keys[i].pkey);
    wr_free(kr->keys);
    wr_free(kr);
}

writ_keyring *writ_keyring_copy_active(const writ_keyring *kr)
{
    const wr_key *k = wr_keyring_active(kr);
    writ_keyring *c = k ? writ_keyring_new() : NULL;
    if (!c)
        return NULL;
    if (!(c->keys = wr_malloc(sizeof *c->keys)) || EVP_PKEY_up_ref(k->pkey) != 1) {
        writ_keyring_free(c);
        return NULL;
    }
    c->keys[0] = *k;
    c->n = c->cap = 1;
    return c;
}

static writ_status writ_keyring_sign_body(const writ_keyring *kr, const char *typ, const char *claims_json,
                                          size_t len, char **jws, size_t *jws_len, writ_error *err)
{
    if (!jws || !claims_json)
        return kr_err(err, WRIT_EINVAL, "no claims or no place for the token%s", "");
    *jws = NULL;
    const wr_key *k = wr_keyring_active(kr);
    if (!k)
        return kr_err(err, WRIT_EINVAL, "the keyring is empty: nothing to sign with%s", "");
    json_error_t je = {0}; /* json_error_code() reads a byte an early failure leaves unset */
    unsigned long failed = wr_alloc_failures();
    json_t *c = json_loadb(claims_json, len, JSON_REJECT_DUPLICATES, &je);
    if (!c && wr_alloc_failures() != failed)
        return kr_err(err, WRIT_ENOMEM, "out of memory%s", "");
    if (!c || !json_is_object(c)) {
        json_decref(c);
        return kr_err(err, WRIT_EJSON, "claims must be a JSON object%s", "");
    }
    writ_status st = wr_jws_sign(k->pkey, k->alg, k->kid, typ, c, jws, jws_len, err);
    json_decref(c);
    return st;
}

writ_status writ_keyring_sign(const writ_keyring *kr, const char *typ, const char *claims_json, size_t len,
                              char **jws, size_t *jws_len, writ_error *err)
{
    unsigned long failed = wr_alloc_failures();
    return wr_oom_verdict(writ_keyring_sign_body(kr, typ, claims_json, len, jws, jws_len, err), failed, NULL,
                          err);
}

const wr_key *wr_keyring_find(const writ_keyring *kr, const char *kid, size_t len)
{
    for (size_t i = 0; i < kr->n; i++)
        if (strlen(kr->keys[i].kid) == len && !memcmp(kr->keys[i].kid, kid, len))
            return &kr->keys[i];
    return NULL;
}

const wr_key *wr_keyring_active(const writ_keyring *kr) { return kr && kr->n ? &kr->keys[kr->active] : NULL; }

/* Takes ownership of pkey on success. */
static writ_status add_key(writ_keyring *kr, EVP_PKEY *pkey, bool active, char *kid_out, writ_error *err)
{
    wr_alg alg = wr_alg_for_key(pkey);
    if (alg != WR_ALG_ES256 && alg != WR_ALG_EDDSA && alg != WR_ALG_ES384)
        return kr_err(err, WRIT_EINVAL, "signing keys must be P-256, P-384 or Ed25519%s", "");
    wr_key k = {.pkey = pkey, .alg = alg};
    if (!wr_jwk_thumbprint(pkey, k.kid))
        return kr_err(err, WRIT_EINVAL, "cannot compute key thumbprint%s", "");
    if (wr_keyring_find(kr, k.kid, strlen(k.kid)))
        return kr_err(err, WRIT_EDUP, "key %s is already in the keyring", k.kid);
    if (kr->n == kr->cap) {
        size_t cap = kr->cap ? kr->cap * 2 : 4;
        wr_key *nk = wr_realloc(kr->keys, cap * sizeof *nk);
        if (!nk)
            return kr_err(err, WRIT_ENOMEM, "out of memory%s", "");
        kr->keys = nk;
        kr->cap = cap;
    }
    kr->keys[kr->n] = k;
    if (active || kr->n == 0)
        kr->active = kr->n;
    kr->n++;
    if (kid_out)
        memcpy(kid_out, k.kid, sizeof k.kid);
    return WRIT_OK;
}

writ_status writ_keyring_generate(writ_keyring *kr, writ_key_alg alg, char *kid_out, writ_error *err)
{
    if (!kr)
        return kr_err(err, WRIT_EINVAL, "no keyring%s", "");
    EVP_PKEY *k = alg == WRIT_KEY_EDDSA   ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
                  : alg == WRIT_KEY_ES256 ? EVP_EC_gen("P-256")
                                          : NULL;
    if (!k)
        return kr_err(err, WRIT_EINVAL, "key generation failed%s", "");
    writ_status st = add_key(kr, k, true, kid_out, err);
    if (st != WRIT_OK)
        EVP_PKEY_free(k);
    return st;
}

static writ_status writ_keyring_add_pem_body(writ_keyring *kr, const char *pem, size_t len, bool active,
                                             char *kid_out, writ_error *err)
{
    if (!kr || !pem)
        return kr_err(err, WRIT_EINVAL, "no keyring or no PEM%s", "");
    if (len > 65536)
        return kr_err(err, WRIT_ELIMIT, "PEM key over 64 KiB%s", "");
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    if (!b)
        return kr_err(err, WRIT_ENOMEM, "out of memory%s", "");
    EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    ERR_clear_error();
    if (!k)
        return kr_err(err, WRIT_EINVAL, "not a PEM private key (PKCS#8 or SEC1, unencrypted)%s", "");
    writ_status st = add_key(kr, k, active, kid_out, err);
    if (st != WRIT_OK)
        EVP_PKEY_free(k);
    return st;
}

writ_status writ_keyring_add_pem(writ_keyring *kr, const char *pem, size_t len, bool active, char *kid_out,
                                 writ_error *err)
{
    unsigned long failed = wr_alloc_failures();
    return wr_oom_verdict(writ_keyring_add_pem_body(kr, pem, len, active, kid_out, err), failed, NULL, err);
}

writ_status writ_keyring_private_pem(const writ_keyring *kr, const char *kid, char **pem, size_t *len,
                                     writ_error *err)
{
    if (!pem)
        return kr_err(err, WRIT_EINVAL, "no place for the PEM%s", "");
    *pem = NULL;
    if (!kr)
        return kr_err(err, WRIT_EINVAL, "no keyring%s", "");
    const wr_key *k = kid ? wr_keyring_find(kr, kid, strlen(kid)) : wr_keyring_active(kr);
    if (!k)
        return kr_err(err, WRIT_EINVAL, "no key %s", kid ? kid : "(keyring is empty)");
    BIO *b = BIO_new(BIO_s_mem());
    writ_status st = WRIT_ENOMEM;
    if (b && PEM_write_bio_PrivateKey(b, k->pkey, NULL, NULL, 0, NULL, NULL)) {
        char *p;
        long n = BIO_get_mem_data(b, &p);
        if (n > 0 && (*pem = wr_strndup(p, (size_t)n))) {
            if (len)
                *len = (size_t)n;
            st = WRIT_OK;
        }
    }
    BIO_free(b);
    if (st != WRIT_OK)
        return kr_err(err, st, "cannot write PEM%s", "");
    return WRIT_OK;
}

writ_status writ_keyring_set_active(writ_keyring *kr, const char *kid, writ_error *err)
{
    if (!kr || !kid)
        return kr_err(err, WRIT_EINVAL, "no keyring or no kid%s", "");
    const wr_key *k = wr_keyring_find(kr, kid, strlen(kid));
    if (!k)
        return kr_err(err, WRIT_EINVAL, "no key %s", kid);
    kr->active = (size_t)(k - kr->keys);
    return WRIT_OK;
}

writ_status writ_keyring_remove(writ_keyring *kr, const char *kid, writ_error *err)
{
    if (!kr || !kid)
        return kr_err(err, WRIT_EINVAL, "no keyring or no kid%s", "");
    const wr_key *k = wr_keyring_find(kr, kid, strlen(kid));
    if (!k)
        return kr_err(err, WRIT_EINVAL, "no key %s", kid);
    size_t i = (size_t)(k - kr->keys);
    if (i == kr->active && kr->n > 1)
        return kr_err(err, WRIT_EINVAL, "key %s is active; activate another key first", kid);
    EVP_PKEY_free(kr->keys[i].pkey);
    memmove(&kr->keys[i], &kr->keys[i + 1], (kr->n - i - 1) * sizeof kr->keys[0]);
    kr->n--;
    if (kr->active > i)
        kr->active--;
    if (kr->active >= kr->n)
        kr->active = 0;
    return WRIT_OK;
}

const char *writ_keyring_active_kid(const writ_keyring *kr)
{
    const wr_key *k = wr_keyring_active(kr);
    return k ? k->kid : NULL;
}

size_t writ_keyring_count(const writ_keyring *kr) { return kr ? kr->n : 0; }

writ_status writ_keyring_jwks(const writ_keyring *kr, char **json, size_t *len, writ_error *err)
{
    if (!json)
        return kr_err(err, WRIT_EINVAL, "no place for the JWKS%s", "");
    *json = NULL;
    if (!kr)
        return kr_err(err, WRIT_EINVAL, "no keyring%s", "");
    json_t *doc = json_object(), *arr = json_array();
    writ_status st = WRIT_ENOMEM;
    if (!doc || !arr || json_object_set(doc, "keys", arr))
        goto done;
    for (size_t i = 0; i < kr->n; i++) {
        json_t *k = wr_jwk_export(kr->keys[i].pkey, kr->keys[i].kid, kr->keys[i].alg);
        if (!k || json_array_append_new(arr, k))
            goto done;
    }
    char *s = json_dumps(doc, JSON_COMPACT);
    if (!s)
        goto done;
    *json = wr_strndup(s, strlen(s));
    if (*json) {
        if (len)
            *len = strlen(s);
        st = WRIT_OK;
    }
    wr_json_free(s);
done:
    json_decref(arr);
    json_decref(doc);
    if (st != WRIT_OK)
        return kr_err(err, st, "cannot export JWKS%s", "");
    return WRIT_OK;
}
