/* task_verify.c - the task-token verifier: static checks (cached, keyed by
 * the exact token bytes) and dynamic checks (every call); see task.c. */
#include "token/task_int.h"
#include "util/alloc.h"
#include "util/arena.h"
#include "util/error.h"
#include "util/text.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

/* ---------------------------------------------------------------- verifier */

typedef struct cache_slot {
    char *tok;
    size_t len;
    writ_task_token *t;
} cache_slot;

struct writ_token_verifier {
    wr_jwks keys;
    char *issuer;
    cache_slot *slots;
    size_t mask; /* slots - 1, 0 when no cache */
    pthread_mutex_t lock;
};

static writ_status ver_new(const char *issuer, size_t cache_size, writ_token_verifier **out, writ_error *err)
{
    writ_token_verifier *v = wr_calloc(1, sizeof *v);
    if (!v || !issuer || !(v->issuer = wr_strndup(issuer, strlen(issuer)))) {
        wr_free(v);
        return wr_refuse(NULL, err, WRIT_ENOMEM, WRIT_R_INTERNAL, "out of memory or no issuer");
    }
    if (cache_size) {
        size_t n = 1;
        while (n < cache_size && n < ((size_t)1 << 24))
            n <<= 1;
        if (!(v->slots = wr_calloc(n, sizeof *v->slots))) {
            wr_free(v->issuer);
            wr_free(v);
            return wr_refuse(NULL, err, WRIT_ENOMEM, WRIT_R_INTERNAL, "out of memory");
        }
        v->mask = n - 1;
    }
    pthread_mutex_init(&v->lock, NULL);
    *out = v;
    return WRIT_OK;
}

writ_status writ_token_verifier_from_keyring(const writ_keyring *kr, const char *issuer, size_t cache_size,
                                             writ_token_verifier **out, writ_error *err)
{
    if (!out)
        return wr_refuse(NULL, err, WRIT_EINVAL, WRIT_R_INTERNAL, "out is NULL");
    *out = NULL;
    if (!kr)
        return wr_refuse(NULL, err, WRIT_EINVAL, WRIT_R_INTERNAL, "no keyring");
    char *jwks;
    size_t len;
    writ_status st = writ_keyring_jwks(kr, &jwks, &len, err);
    if (st != WRIT_OK)
        return st;
    st = writ_token_verifier_from_jwks(jwks, len, issuer, cache_size, out, err);
    wr_free(jwks);
    return st;
}

writ_status writ_token_verifier_from_jwks(const char *jwks, size_t len, const char *issuer, size_t cache_size,
                                          writ_token_verifier **out, writ_error *err)
{
    if (!out)
        return wr_refuse(NULL, err, WRIT_EINVAL, WRIT_R_INTERNAL, "out is NULL");
    *out = NULL;
    if (!jwks || !issuer)
        return wr_refuse(NULL, err, WRIT_EINVAL, WRIT_R_INTERNAL, "no JWKS or no issuer");
    if (len > WR_JWKS_MAX_BYTES)
        return wr_refuse(NULL, err, WRIT_ELIMIT, WRIT_R_TOO_LARGE, "JWKS over 1 MiB");
    writ_token_verifier *v = NULL;
    json_t *doc;
    writ_status st = wr_json_object(jwks, len, &doc, NULL, err, "JWKS");
    if (st != WRIT_OK)
        return st;
    if ((st = ver_new(issuer, cache_size, &v, err)) != WRIT_OK) {
        json_decref(doc);
        return st;
    }
    json_t *keys = json_object_get(doc, "keys");
    size_t i;
    json_t *k;
    if (!json_is_array(keys))
        st = wr_refuse(NULL, err, WRIT_EJSON, WRIT_R_MALFORMED, "JWKS has no keys array");
    json_array_foreach(keys, i, k)
    {
        wr_jwk jk;
        if ((st = wr_jwk_from_json(k, &jk, err)) != WRIT_OK)
            break;
        if (!jk.kid) {
            wr_jwk_clear(&jk);
            st = wr_refuse(NULL, err, WRIT_EINVAL, WRIT_R_KID_MISSING, "JWKS key without kid");
            break;
        }
        if ((st = wr_jwks_push(&v->keys, &jk, err)) != WRIT_OK) {
            wr_jwk_clear(&jk);
            break;
        }
    }
    json_decref(doc);
    if (st != WRIT_OK) {
        writ_token_verifier_free(v);
        return st;
    }
    *out = v;
    return WRIT_OK;
}

void writ_token_verifier_free(writ_token_verifier *v)
{
    if (!v)
        return;
    for (size_t i = 0; v->slots && i <= v->mask; i++) {
        wr_free(v->slots[i].tok);
        writ_task_token_free(v->slots[i].t);
    }
    wr_free(v->slots);
    wr_jwks_clear(&v->keys);
    wr_free(v->issuer);
    pthread_mutex_destroy(&v->lock);
    wr_free(v);
}

/* FNV-1a over the signature end of the token: equal tokens are then
 * confirmed by a full memcmp, so the hash only picks the slot. */
static size_t slot_of(const writ_token_verifier *v, const char *tok, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    size_t start = len > 48 ? len - 48 : 0;
    for (size_t i = start; i < len; i++)
        h = (h ^ (unsigned char)tok[i]) * 1099511628211ull;
    h ^= len;
    return (size_t)(h ^ (h >> 29)) & v->mask;
}

static writ_task_token *cache_get(writ_token_verifier *v, const char *tok, size_t len)
{
    if (!v->slots)
        return NULL;
    writ_task_token *t = NULL;
    pthread_mutex_lock(&v->lock);
    cache_slot *s = &v->slots[slot_of(v, tok, len)];
    if (s->t && s->len == len && !memcmp(s->tok, tok, len)) {
        t = s->t;
        atomic_fetch_add(&t->refs, 1);
    }
    pthread_mutex_unlock(&v->lock);
    return t;
}

static void cache_put(writ_token_verifier *v, const char *tok, size_t len, writ_task_token *t)
{
    if (!v->slots)
        return;
    char *copy = wr_strndup(tok, len);
    if (!copy)
        return;
    pthread_mutex_lock(&v->lock);
    cache_slot *s = &v->slots[slot_of(v, tok, len)];
    char *old_tok = s->tok;
    writ_task_token *old = s->t;
    s->tok = copy;
    s->len = len;
    s->t = t;
    atomic_fetch_add(&t->refs, 1);
    pthread_mutex_unlock(&v->lock);
    wr_free(old_tok);
    writ_task_token_free(old);
}

static const char *const task_typs[] = {WR_TASK_TYP, NULL};

static writ_status verify_static(writ_token_verifier *v, const char *tok, size_t len, writ_task_token **out,
                                 writ_reason *why, writ_error *err)
{
    wr_jws j;
    writ_status st = wr_jws_parse(tok, len, WRIT_DEFAULT_MAX_TOKEN, task_typs, true, &j, why, err);
    if (st != WRIT_OK)
        return st;
    writ_task_token *t = NULL;
    if (!j.kid) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_KID_MISSING, "header has no kid");
        goto done;
    }
    const wr_jwk *key = wr_jwks_find(&v->keys, j.kid, j.kid_len);
    if (!key) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_KID_UNKNOWN, "kid '%.*s' is not a Writ signing key",
                       (int)(j.kid_len > 64 ? 64 : j.kid_len), j.kid);
        goto done;
    }
    if ((st = wr_jws_verify(&j, key, why, err)) != WRIT_OK)
        goto done;
    t = wr_calloc(1, sizeof *t);
    if (!t || !(t->arena = wr_arena_new(1024))) {
        st = wr_refuse(why, err, WRIT_ENOMEM, WRIT_R_INTERNAL, "out of memory");
        goto done;
    }
    atomic_init(&t->refs, 1);
    t->claims = j.claims;
    j.claims = NULL;
    if ((st = wr_task_parse_claims(t, v->issuer, why, err)) != WRIT_OK)
        goto done;
    *out = t;
    t = NULL;
done:
    if (t) {
        json_decref(t->claims);
        wr_arena_free(t->arena);
        wr_free(t);
    }
    wr_jws_clear(&j);
    return st;
}

bool writ_task_token_revoked(const writ_task_token *t, const writ_revocations *r, writ_revoke_kind *kind)
{
#define HIT(k, s)                                                                                            \
    do {                                                                                                     \
        if (writ_revocations_contains(r, k, s, strlen(s))) {                                                 \
            if (kind)                                                                                        \
                *kind = k;                                                                                   \
            return true;                                                                                     \
        }                                                                                                    \
    } while (0)
    if (!r)
        return false;
    HIT(WRIT_REVOKE_JTI, t->jti);
    HIT(WRIT_REVOKE_SUBTREE, t->jti);
    for (unsigned i = 0; i < t->depth; i++)
        HIT(WRIT_REVOKE_SUBTREE, t->anc[i]);
    HIT(WRIT_REVOKE_TASK, t->txn);
    for (unsigned i = 0; i <= t->depth; i++)
        HIT(WRIT_REVOKE_AGENT, t->chain[i]);
    return false;
#undef HIT
}

static writ_status verify_dynamic(const writ_task_token *t, const writ_token_check *chk, writ_reason *why,
                                  writ_error *err)
{
    /* now (clamped by wr_now) and the token's times (parse_claims) are
     * within [0, WR_MAX_TIME]: the sums below cannot overflow */
    int64_t now = wr_now(chk->now);
    int64_t lw = chk->leeway > WRIT_MAX_LEEWAY ? WRIT_MAX_LEEWAY : chk->leeway;
    if (now >= t->exp + lw) {
        char at[32], clock[32];
        wr_time_text(t->exp, at, sizeof at);
        wr_time_text(now, clock, sizeof clock);
        BAD(WRIT_R_EXPIRED, "exp %s (%lld) is %lld s before now, %s (leeway %lld s)", at,
            (long long)t->exp, (long long)(now - t->exp), clock, (long long)lw);
    }
    if (t->has_nbf && t->nbf > now + lw)
        BAD(WRIT_R_NOT_YET_VALID, "nbf %lld is after now %lld", (long long)t->nbf, (long long)now);
    if (t->iat > now + lw)
        BAD(WRIT_R_IAT, "iat %lld is after now %lld", (long long)t->iat, (long long)now);
    writ_status st = wr_check_aud(t->claims, chk->audience, why, err);
    if (st != WRIT_OK)
        return st;
    if (t->cnf && !chk->any_binding) {
        if (!chk->cert_thumbprint)
            BAD(WRIT_R_CNF_MISSING, "token is bound to a client certificate and none was presented");
        if (strlen(chk->cert_thumbprint) != 43 || CRYPTO_memcmp(chk->cert_thumbprint, t->cnf, 43))
            BAD(WRIT_R_CNF_MISMATCH, "presented certificate is not the one the token is bound to");
    }
    writ_revoke_kind k;
    if (writ_task_token_revoked(t, chk->revocations, &k))
        BAD(WRIT_R_REVOKED, "%s revoked (jti %s, task %s)", writ_revoke_kind_name(k), t->jti, t->txn);
    return WRIT_OK;
}

static writ_status token_verify(writ_token_verifier *v, const writ_token_check *chk, const char *tok,
                                size_t len, writ_task_token **out, writ_reason *why, writ_error *err);

/* A refusal on the way to which an allocation failed (a base64url buffer
 * refused as "not canonical", jansson's parser) is out of memory, not a
 * verdict on the token. */
writ_status writ_token_verify(writ_token_verifier *v, const writ_token_check *chk, const char *tok,
                              size_t len, writ_task_token **out, writ_reason *why, writ_error *err)
{
    unsigned long failed = wr_alloc_failures();
    writ_status st = token_verify(v, chk, tok, len, out, why, err);
    if (st != WRIT_OK && st != WRIT_ENOMEM && wr_alloc_failures() != failed) {
        if (why)
            *why = WRIT_R_INTERNAL;
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    }
    return st;
}

static writ_status token_verify(writ_token_verifier *v, const writ_token_check *chk, const char *tok,
                                size_t len, writ_task_token **out, writ_reason *why, writ_error *err)
{
    if (why)
        *why = WRIT_R_OK;
    if (!out)
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_INTERNAL, "out is NULL");
    *out = NULL;
    if (!v || !chk || !tok)
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_INTERNAL, "no verifier, check or token");
    writ_task_token *t = len <= WRIT_DEFAULT_MAX_TOKEN ? cache_get(v, tok, len) : NULL;
    if (!t) {
        writ_status st = verify_static(v, tok, len, &t, why, err);
        if (st != WRIT_OK)
            return st;
        cache_put(v, tok, len, t);
    }
    writ_status st = verify_dynamic(t, chk, why, err);
    if (st != WRIT_OK) {
        writ_task_token_free(t);
        return st;
    }
    *out = t;
    return WRIT_OK;
}
