/* task.c - task tokens: mint (identity -> task token), verify (with a
 * cache), delegate (task token -> narrower token for another agent).
 *
 * Verification is split in two:
 *   static checks  - depend only on the token bytes: JWS shape, typ, alg,
 *                    kid, signature, iss, claim shapes, lifetime, chain
 *                    consistency (depth = act nesting = anc length).  Their
 *                    result is cached, keyed by the exact token bytes.
 *   dynamic checks - depend on the call: exp/nbf/iat against now, aud,
 *                    certificate binding (cnf), revocation.  Run every time.
 * So a cache hit saves the signature check and JSON parse, never a check that
 * could change its answer. */
#include "token/token_int.h"
#include "util/text.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/arena.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#define MAX_ITEMS 256
#define MAX_ITEM_LEN 512
#define MAX_PURPOSE 1024

static json_t *json_strs(const char *const *items, size_t n);

static const char *const sensitivity_levels[] = {"public", "internal", "confidential", "restricted"};

int writ_sensitivity_rank(const char *level)
{
    if (!level)
        return -1;
    for (size_t i = 0; i < sizeof sensitivity_levels / sizeof sensitivity_levels[0]; i++)
        if (!strcmp(level, sensitivity_levels[i]))
            return (int)i;
    return -1;
}

/* ------------------------------------------------------------ the token */

struct writ_task_token {
    atomic_int refs;
    json_t *claims;
    wr_arena *arena;
    const char *jti, *txn, *sub, *holder, *iss, *purpose, *sensitivity, *cnf;
    const char *sub_type; /* principal type of sub when not a SPIFFE agent, or NULL */
    int64_t exp, iat, nbf;
    bool has_nbf;
    unsigned depth;
    const char **chain; /* depth + 1, root first */
    const char **anc;   /* depth */
    const char **actions, **resources, **destinations;
    size_t n_actions, n_resources, n_destinations;
};

void writ_task_token_free(writ_task_token *t)
{
    if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
        return;
    json_decref(t->claims);
    wr_arena_free(t->arena);
    wr_free(t);
}

const char *writ_task_token_jti(const writ_task_token *t) { return t->jti; }
const char *writ_task_token_txn(const writ_task_token *t) { return t->txn; }
const char *writ_task_token_subject(const writ_task_token *t) { return t->sub; }
const char *writ_task_token_holder(const writ_task_token *t) { return t->holder; }
const char *writ_task_token_issuer(const writ_task_token *t) { return t->iss; }
const char *writ_task_token_purpose(const writ_task_token *t) { return t->purpose; }
const char *writ_task_token_sensitivity(const writ_task_token *t) { return t->sensitivity; }
int64_t writ_task_token_expiry(const writ_task_token *t) { return t->exp; }
int64_t writ_task_token_issued_at(const writ_task_token *t) { return t->iat; }
unsigned writ_task_token_depth(const writ_task_token *t) { return t->depth; }
const char *writ_task_token_cnf(const writ_task_token *t) { return t->cnf; }
const char *writ_task_token_subject_type(const writ_task_token *t) { return t->sub_type; }

bool writ_task_token_in_subtree(const writ_task_token *t, const char *jti)
{
    if (!t || !jti)
        return false;
    if (!strcmp(t->jti, jti))
        return true;
    for (unsigned i = 0; i < t->depth; i++)
        if (!strcmp(t->anc[i], jti))
            return true;
    return false;
}
/* Actors are always SPIFFE agents (a delegation target is a SPIFFE ID), so
 * only an undelegated token can have a holder of another type. */
const char *writ_task_token_holder_type(const writ_task_token *t) { return t->depth ? NULL : t->sub_type; }

const char *writ_task_token_chain(const writ_task_token *t, size_t i)
{
    return i <= t->depth ? t->chain[i] : NULL;
}

void writ_task_token_scope(const writ_task_token *t, writ_task_scope *out)
{
    out->purpose = t->purpose;
    out->actions = t->actions;
    out->n_actions = t->n_actions;
    out->resources = t->resources;
    out->n_resources = t->n_resources;
    out->sensitivity = t->sensitivity;
    out->destinations = t->destinations;
    out->n_destinations = t->n_destinations;
}

char *writ_task_token_claims_json(const writ_task_token *t)
{
    char *s = json_dumps(t->claims, JSON_COMPACT | JSON_SORT_KEYS);
    char *r = s ? wr_strndup(s, strlen(s)) : NULL;
    wr_json_free(s);
    return r;
}

char *writ_task_token_context_json(const writ_task_token *t)
{
    json_t *task = json_object(), *ctx = json_object(), *chain = json_array();
    char *out = NULL;
    bool ok = task && ctx && chain;
    for (unsigned i = 0; ok && i <= t->depth; i++)
        ok = !json_array_append_new(chain, json_string(t->chain[i]));
    ok = ok && !json_object_set_new(task, "id", json_string(t->txn)) &&
         !json_object_set_new(task, "purpose", json_string(t->purpose)) &&
         !json_object_set_new(task, "actions", json_strs(t->actions, t->n_actions)) &&
         !json_object_set_new(task, "resources", json_strs(t->resources, t->n_resources)) &&
         !json_object_set_new(task, "sensitivity", json_string(t->sensitivity)) &&
         !json_object_set_new(task, "destinations", json_strs(t->destinations, t->n_destinations)) &&
         !json_object_set_new(task, "expires", json_integer(t->exp)) && !json_object_set(ctx, "task", task) &&
         !json_object_set(ctx, "chain", chain) &&
         !json_object_set_new(ctx, "chain_depth", json_integer(t->depth)) &&
         !json_object_set_new(ctx, "holder", json_string(t->holder)) &&
         !json_object_set_new(ctx, "token_id", json_string(t->jti)) &&
         !json_object_set_new(ctx, "cert_bound", json_boolean(t->cnf != NULL));
    if (ok) {
        char *s = json_dumps(ctx, JSON_COMPACT);
        out = s ? wr_strndup(s, strlen(s)) : NULL;
        wr_json_free(s);
    }
    json_decref(task);
    json_decref(chain);
    json_decref(ctx);
    return out;
}

/* ---------------------------------------------------------- claim parsing */

#define BAD(r, ...) return wr_refuse(why, err, WRIT_EINVAL, r, __VA_ARGS__)

static writ_status req_str(const json_t *o, const char *key, size_t max, const char **out, writ_reason *why,
                           writ_error *err)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        BAD(WRIT_R_CLAIM_MISSING, "%s is required", key);
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max)
        BAD(WRIT_R_CLAIM_TYPE, "%s must be a string of 1..%zu bytes", key, max);
    *out = json_string_value(v);
    return WRIT_OK;
}

/* An item is an exact string or a prefix pattern "abc*" ("*" alone is
 * everything): printable, no space, at most one '*' and only last.  The
 * forms writ_scope_covers matches, and no others (token.h). */
static bool item_ok(const char *s, size_t n)
{
    if (n == 0 || n > MAX_ITEM_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f || (c == '*' && i != n - 1))
            return false;
    }
    return true;
}

static bool has_upper(const char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            return true;
    return false;
}

bool writ_scope_covers(const char *item, const char *value)
{
    if (!item || !value)
        return false;
    size_t n = strlen(item);
    if (n && item[n - 1] == '*')
        return strncmp(item, value, n - 1) == 0;
    return strcmp(item, value) == 0;
}

bool writ_scope_list_covers(const char *const *items, size_t n, const char *value)
{
    for (size_t i = 0; items && i < n; i++)
        if (writ_scope_covers(items[i], value))
            return true;
    return false;
}

int writ_sensitivity_rank_of(int64_t v)
{
    if (v < 0)
        return -1;
    return v > 3 ? 3 : (int)v;
}

bool writ_sensitivity_allows(const char *ceiling, bool has_level, int64_t v)
{
    int c = writ_sensitivity_rank(ceiling);
    int r = has_level ? writ_sensitivity_rank_of(v) : 3;
    return c >= 0 && r >= 0 && c >= r;
}

static writ_status str_array(wr_arena *a, const json_t *o, const char *key, bool required, const char ***out,
                             size_t *n, writ_reason *why, writ_error *err)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    *n = 0;
    if (!v) {
        if (required)
            BAD(WRIT_R_CLAIM_MISSING, "tctx.%s is required", key);
        return WRIT_OK;
    }
    if (!json_is_array(v) || json_array_size(v) > MAX_ITEMS || (required && json_array_size(v) == 0))
        BAD(WRIT_R_CLAIM_TYPE, "tctx.%s must be an array of %s..%d strings", key, required ? "1" : "0",
            MAX_ITEMS);
    size_t cnt = json_array_size(v);
    const char **arr = wr_arena_calloc(a, cnt ? cnt : 1, sizeof *arr);
    if (!arr)
        return wr_refuse(why, err, WRIT_ENOMEM, WRIT_R_INTERNAL, "out of memory");
    for (size_t i = 0; i < cnt; i++) {
        json_t *s = json_array_get(v, i);
        if (!json_is_string(s) || !item_ok(json_string_value(s), json_string_length(s)))
            BAD(WRIT_R_CLAIM_TYPE, "tctx.%s[%zu] is not a valid item", key, i);
        if (!strcmp(key, "destinations") && has_upper(json_string_value(s)))
            BAD(WRIT_R_CLAIM_TYPE, "tctx.destinations[%zu] is not lower case", i);
        arr[i] = json_string_value(s);
    }
    *out = arr;
    *n = cnt;
    return WRIT_OK;
}

/* Fill t from t->claims; the static checks. */
static writ_status parse_claims(writ_task_token *t, const char *issuer, writ_reason *why, writ_error *err)
{
    json_t *c = t->claims;
    writ_status st;
    if ((st = req_str(c, "iss", 2048, &t->iss, why, err)) ||
        (st = req_str(c, "sub", 2048, &t->sub, why, err)) ||
        (st = req_str(c, "jti", 128, &t->jti, why, err)) ||
        (st = req_str(c, "txn", 256, &t->txn, why, err)) ||
        (st = req_str(c, "purp", MAX_PURPOSE, &t->purpose, why, err)))
        return st;
    if (strcmp(t->iss, issuer))
        BAD(WRIT_R_ISS, "iss '%.64s' is not '%.64s'", t->iss, issuer);
    json_t *jexp = json_object_get(c, "exp"), *jiat = json_object_get(c, "iat"),
           *jnbf = json_object_get(c, "nbf");
    if (!jexp || !jiat)
        BAD(WRIT_R_CLAIM_MISSING, "exp and iat are required");
    if (!json_is_integer(jexp) || !json_is_integer(jiat) || (jnbf && !json_is_integer(jnbf)))
        BAD(WRIT_R_CLAIM_TYPE, "exp, iat and nbf must be integers");
    t->exp = (int64_t)json_integer_value(jexp);
    t->iat = (int64_t)json_integer_value(jiat);
    t->has_nbf = jnbf != NULL;
    t->nbf = jnbf ? (int64_t)json_integer_value(jnbf) : 0;
    /* exp - iat of arbitrary signed integers: checked, never wrapped */
    int64_t life;
    if (__builtin_sub_overflow(t->exp, t->iat, &life))
        BAD(WRIT_R_LIFETIME, "lifetime exp %lld - iat %lld is out of range", (long long)t->exp,
            (long long)t->iat);
    if (life <= 0 || life > (int64_t)WRIT_HARD_MAX_TTL)
        BAD(WRIT_R_LIFETIME, "lifetime %llds is outside 1..%us", (long long)life, WRIT_HARD_MAX_TTL);
    /* and every time within [0, WR_MAX_TIME], so no later sum can overflow */
    if (t->iat < 0 || t->exp > WR_MAX_TIME || (t->has_nbf && (t->nbf < 0 || t->nbf > WR_MAX_TIME)))
        BAD(WRIT_R_CLAIM_TYPE, "iat, exp and nbf must be within 0..%lld", (long long)WR_MAX_TIME);

    json_t *tctx = json_object_get(c, "tctx");
    if (!tctx)
        BAD(WRIT_R_CLAIM_MISSING, "tctx is required");
    if (!json_is_object(tctx))
        BAD(WRIT_R_CLAIM_TYPE, "tctx must be an object");
    const char *tp;
    if ((st = req_str(tctx, "purpose", MAX_PURPOSE, &tp, why, err)))
        return st;
    if (strcmp(tp, t->purpose))
        BAD(WRIT_R_CLAIM_TYPE, "tctx.purpose differs from purp");
    if ((st = str_array(t->arena, tctx, "actions", true, &t->actions, &t->n_actions, why, err)) ||
        (st = str_array(t->arena, tctx, "resources", false, &t->resources, &t->n_resources, why, err)) ||
        (st = str_array(t->arena, tctx, "destinations", false, &t->destinations, &t->n_destinations, why,
                        err)) ||
        (st = req_str(tctx, "sensitivity", 32, &t->sensitivity, why, err)))
        return st;
    if (writ_sensitivity_rank(t->sensitivity) < 0)
        BAD(WRIT_R_CLAIM_TYPE, "tctx.sensitivity '%s' is not a known level", t->sensitivity);
    /* scope is the actions, space-separated, in order */
    const char *scope;
    if ((st = req_str(c, "scope", MAX_ITEMS * (MAX_ITEM_LEN + 1), &scope, why, err)))
        return st;
    const char *p = scope;
    for (size_t i = 0; i < t->n_actions; i++) {
        size_t l = strlen(t->actions[i]);
        if (strncmp(p, t->actions[i], l) || (p[l] != ' ' && p[l] != '\0') ||
            (p[l] == '\0') != (i + 1 == t->n_actions))
            BAD(WRIT_R_CLAIM_TYPE, "scope does not list tctx.actions");
        p += l + (p[l] == ' ');
    }

    /* delegation chain */
    json_t *jd = json_object_get(c, "depth");
    if (jd &&
        (!json_is_integer(jd) || json_integer_value(jd) < 0 || json_integer_value(jd) > WRIT_HARD_MAX_DEPTH))
        BAD(WRIT_R_CLAIM_TYPE, "depth must be an integer 0..%u", WRIT_HARD_MAX_DEPTH);
    t->depth = jd ? (unsigned)json_integer_value(jd) : 0;
    t->chain = wr_arena_calloc(t->arena, t->depth + 1, sizeof *t->chain);
    t->anc = wr_arena_calloc(t->arena, t->depth + 1, sizeof *t->anc);
    if (!t->chain || !t->anc)
        return wr_refuse(why, err, WRIT_ENOMEM, WRIT_R_INTERNAL, "out of memory");
    t->chain[0] = t->sub;
    json_t *act = json_object_get(c, "act");
    for (unsigned i = 0; i < t->depth; i++) {
        const char *asub, *prof;
        if (!json_is_object(act))
            BAD(WRIT_R_CLAIM_TYPE, "act nesting is shallower than depth %u", t->depth);
        if ((st = req_str(act, "sub", 2048, &asub, why, err)) ||
            (st = req_str(act, "sub_profile", 64, &prof, why, err)))
            return st;
        if (strcmp(prof, WR_SUB_PROFILE))
            BAD(WRIT_R_CLAIM_TYPE, "act.sub_profile must be \"%s\"", WR_SUB_PROFILE);
        t->chain[t->depth - i] = asub; /* outermost act is the newest actor */
        act = json_object_get(act, "act");
    }
    if (act)
        BAD(WRIT_R_CLAIM_TYPE, "act nesting is deeper than depth %u", t->depth);
    t->holder = t->chain[t->depth];
    json_t *jst = json_object_get(c, "sub_type");
    if (jst) {
        if (!json_is_string(jst) || !writ_principal_type_ok(json_string_value(jst)))
            BAD(WRIT_R_CLAIM_TYPE, "sub_type must be a Cedar type name");
        t->sub_type = json_string_value(jst);
        if (wr_looks_spiffe(t->sub, strlen(t->sub)))
            BAD(WRIT_R_CLAIM_TYPE, "sub_type names a non-agent principal, but sub is a SPIFFE ID");
    }
    json_t *anc = json_object_get(c, "anc");
    if ((t->depth && (!json_is_array(anc) || json_array_size(anc) != t->depth)) || (!t->depth && anc))
        BAD(WRIT_R_CLAIM_TYPE, "anc must list the %u ancestor jtis", t->depth);
    for (unsigned i = 0; i < t->depth; i++) {
        json_t *s = json_array_get(anc, i);
        if (!json_is_string(s) || json_string_length(s) == 0 || json_string_length(s) > 128)
            BAD(WRIT_R_CLAIM_TYPE, "anc[%u] is not a jti", i);
        t->anc[i] = json_string_value(s);
    }
    json_t *cnf = json_object_get(c, "cnf");
    if (cnf) {
        json_t *x = json_object_get(cnf, "x5t#S256");
        if (!json_is_object(cnf) || json_object_size(cnf) != 1 || !json_is_string(x) ||
            json_string_length(x) != 43)
            BAD(WRIT_R_CLAIM_TYPE, "cnf must be {\"x5t#S256\": <43 base64url chars>}");
        t->cnf = json_string_value(x);
    }
    return WRIT_OK;
}

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
    *out = NULL;
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
    *out = NULL;
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
    if ((st = parse_claims(t, v->issuer, why, err)) != WRIT_OK)
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
    if (now >= t->exp + lw)
        BAD(WRIT_R_EXPIRED, "expired at %lld, now %lld", (long long)t->exp, (long long)now);
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
    *out = NULL;
    if (why)
        *why = WRIT_R_OK;
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

/* ----------------------------------------------------------------- issuing */

static writ_status random_id(char out[23])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1)
        return WRIT_EINVAL;
    wr_b64url_encode(b, sizeof b, out);
    return WRIT_OK;
}

static json_t *json_strs(const char *const *items, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_string(items[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* Shape checks on a requested scope (mint and delegate). */
static writ_status check_items(const char *what, const char *const *items, size_t n, bool required,
                               writ_reason *why, writ_error *err)
{
    if ((required && n == 0) || n > MAX_ITEMS || (n && !items))
        BAD(WRIT_R_SCOPE, "%s: need %s..%d items", what, required ? "1" : "0", MAX_ITEMS);
    for (size_t i = 0; i < n; i++)
        if (!items[i] || !item_ok(items[i], strlen(items[i])))
            BAD(WRIT_R_SCOPE,
                "%s[%zu] must be 1..%d printable bytes without spaces: an exact value or a prefix pattern "
                "ending in '*' (no other '*')",
                what, i, MAX_ITEM_LEN);
    return WRIT_OK;
}

/* Lower-cased copies of destinations (ASCII), in one allocation. */
static const char **lower_items(const char *const *items, size_t n)
{
    size_t total = n * sizeof(char *);
    for (size_t i = 0; i < n; i++)
        total += strlen(items[i]) + 1;
    const char **out = wr_malloc(total ? total : 1);
    if (!out)
        return NULL;
    char *p = (char *)(out + n);
    for (size_t i = 0; i < n; i++) {
        out[i] = p;
        for (const char *q = items[i]; *q; q++)
            *p++ = (*q >= 'A' && *q <= 'Z') ? (char)(*q + 32) : *q;
        *p++ = '\0';
    }
    return out;
}

static writ_status subset(const char *what, const char *const *parent, size_t pn, const char *const *child,
                          size_t cn, writ_reason *why, writ_error *err)
{
    for (size_t i = 0; i < cn; i++) {
        if (!writ_scope_list_covers(parent, pn, child[i]))
            BAD(WRIT_R_SCOPE, "%s '%.100s' is not within the parent's %s", what, child[i], what);
    }
    return WRIT_OK;
}

typedef struct claims_in {
    const char *sub, *req_wl, *txn, *jti;
    int64_t iat, exp;
    const writ_task_scope *scope;
    json_t *act; /* consumed */
    json_t *anc; /* consumed */
    unsigned depth;
    const char *cnf;
    const char *sub_type; /* NULL for a SPIFFE agent */
} claims_in;

static writ_status sign_claims(const writ_keyring *kr, const writ_issuer_config *cfg, claims_in *in,
                               char **token, size_t *len, writ_reason *why, writ_error *err)
{
    const writ_task_scope *s = in->scope;
    writ_status st = WRIT_ENOMEM;
    json_t *c = json_object(), *tctx = json_object();
    size_t sl = 1;
    for (size_t i = 0; i < s->n_actions; i++)
        sl += strlen(s->actions[i]) + 1;
    char *scope = wr_malloc(sl);
    if (!c || !tctx || !scope)
        goto done;
    size_t o = 0;
    for (size_t i = 0; i < s->n_actions; i++) {
        size_t l = strlen(s->actions[i]);
        if (i)
            scope[o++] = ' ';
        memcpy(scope + o, s->actions[i], l);
        o += l;
    }
    scope[o] = '\0';
    if (json_object_set_new(tctx, "purpose", json_string(s->purpose)) ||
        json_object_set_new(tctx, "actions", json_strs(s->actions, s->n_actions)) ||
        json_object_set_new(tctx, "resources", json_strs(s->resources, s->n_resources)) ||
        json_object_set_new(tctx, "sensitivity", json_string(s->sensitivity)) ||
        json_object_set_new(tctx, "destinations", json_strs(s->destinations, s->n_destinations)))
        goto done;
    if (json_object_set_new(c, "iss", json_string(cfg->issuer)) ||
        json_object_set_new(c, "sub", json_string(in->sub)) ||
        json_object_set_new(c, "aud", json_string(cfg->audience)) ||
        json_object_set_new(c, "iat", json_integer(in->iat)) ||
        json_object_set_new(c, "exp", json_integer(in->exp)) ||
        json_object_set_new(c, "jti", json_string(in->jti)) ||
        json_object_set_new(c, "txn", json_string(in->txn)) ||
        json_object_set_new(c, "scope", json_string(scope)) ||
        json_object_set_new(c, "purp", json_string(s->purpose)) ||
        json_object_set_new(c, "req_wl", json_string(in->req_wl)) || json_object_set(c, "tctx", tctx) ||
        json_object_set_new(c, "depth", json_integer(in->depth)))
        goto done;
    if (in->act && json_object_set(c, "act", in->act))
        goto done;
    if (in->anc && json_object_set(c, "anc", in->anc))
        goto done;
    if (in->sub_type && json_object_set_new(c, "sub_type", json_string(in->sub_type)))
        goto done;
    if (in->cnf) {
        json_t *cnf = json_object();
        if (!cnf || json_object_set_new(cnf, "x5t#S256", json_string(in->cnf)) ||
            json_object_set_new(c, "cnf", cnf))
            goto done;
    }
    const wr_key *k = wr_keyring_active(kr);
    if (!k) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_INTERNAL, "keyring has no signing key");
        goto done;
    }
    st = wr_jws_sign(k->pkey, k->alg, k->kid, WR_TASK_TYP, c, token, len, err);
    if (st != WRIT_OK && why)
        *why = WRIT_R_INTERNAL;
done:
    if (st == WRIT_ENOMEM)
        wr_refuse(why, err, st, WRIT_R_INTERNAL,
                  "cannot build claims (a string is not UTF-8, or out of memory)");
    json_decref(in->act);
    json_decref(in->anc);
    json_decref(tctx);
    json_decref(c);
    wr_free(scope);
    return st;
}

static writ_status cfg_check(const writ_issuer_config *cfg, uint32_t *def_ttl, uint32_t *max_ttl,
                             uint32_t *max_depth, writ_reason *why, writ_error *err)
{
    if (!cfg || !cfg->issuer || !*cfg->issuer || !cfg->audience || !*cfg->audience)
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_INTERNAL, "issuer config needs issuer and audience");
    *max_ttl = cfg->max_ttl ? cfg->max_ttl : 900;
    if (*max_ttl > WRIT_HARD_MAX_TTL)
        *max_ttl = WRIT_HARD_MAX_TTL;
    *def_ttl = cfg->default_ttl ? cfg->default_ttl : WRIT_DEFAULT_TTL;
    if (*def_ttl > *max_ttl)
        *def_ttl = *max_ttl;
    *max_depth = cfg->max_depth ? cfg->max_depth : WRIT_DEFAULT_MAX_DEPTH;
    if (*max_depth > WRIT_HARD_MAX_DEPTH)
        *max_depth = WRIT_HARD_MAX_DEPTH;
    return WRIT_OK;
}

writ_status writ_token_mint(const writ_keyring *kr, const writ_issuer_config *cfg, const writ_identity *agent,
                            const writ_mint_request *req, char **token, size_t *len, writ_reason *why,
                            writ_error *err)
{
    *token = NULL;
    if (why)
        *why = WRIT_R_OK;
    uint32_t def_ttl = 0, max_ttl = 0, max_depth = 0;
    writ_status st = cfg_check(cfg, &def_ttl, &max_ttl, &max_depth, why, err);
    if (st != WRIT_OK)
        return st;
    if (!agent || !req || !req->scope)
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_INTERNAL, "mint needs an agent identity and a scope");
    /* the identity through its public accessors only */
    const char *subject = writ_identity_subject(agent);
    const char *ptype = writ_identity_principal_type(agent);
    int64_t agent_exp = writ_identity_expiry(agent);
    /* identity isolation: an SVID names a workload (not a bare trust
     * domain); an OIDC subject is never a SPIFFE ID and carries its own
     * principal type into the token (sub_type) */
    if (writ_identity_get_kind(agent) == WRIT_ID_OIDC) {
        if (!ptype)
            return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_INTERNAL,
                             "OIDC identity without a principal type");
        if (wr_looks_spiffe(subject, strlen(subject)))
            BAD(WRIT_R_SUB, "an OIDC subject cannot be the SPIFFE ID '%.200s'", subject);
    } else {
        writ_spiffe_id aid;
        writ_error id_err;
        if (writ_spiffe_id_parse(subject, strlen(subject), &aid, &id_err) != WRIT_OK)
            BAD(WRIT_R_SUB, "agent is not a SPIFFE ID (%s)", id_err.msg);
        if (aid.path_off == aid.len)
            BAD(WRIT_R_SUB, "agent '%.200s' is a bare trust domain ID, not a workload", aid.str);
    }
    if (req->revocations &&
        writ_revocations_contains(req->revocations, WRIT_REVOKE_AGENT, subject, strlen(subject)))
        BAD(WRIT_R_REVOKED, "agent '%.200s' is revoked", subject);
    const writ_task_scope *s = req->scope;
    if (!s->purpose || !*s->purpose || strlen(s->purpose) > MAX_PURPOSE)
        BAD(WRIT_R_SCOPE, "purpose is required (1..%d bytes)", MAX_PURPOSE);
    if ((st = check_items("actions", s->actions, s->n_actions, true, why, err)) ||
        (st = check_items("resources", s->resources, s->n_resources, false, why, err)) ||
        (st = check_items("destinations", s->destinations, s->n_destinations, false, why, err)))
        return st;
    writ_task_scope eff = *s;
    if (!eff.sensitivity)
        eff.sensitivity = "public"; /* fail closed: the lowest ceiling */
    if (writ_sensitivity_rank(eff.sensitivity) < 0)
        BAD(WRIT_R_SCOPE, "sensitivity '%.32s' is not public, internal, confidential or restricted",
            eff.sensitivity);
    if (req->ttl > max_ttl)
        BAD(WRIT_R_TTL, "requested ttl %us exceeds the maximum %us", req->ttl, max_ttl);
    if (req->txn && (!*req->txn || strlen(req->txn) > 256))
        BAD(WRIT_R_CLAIM_TYPE, "txn must be 1..256 bytes");
    int64_t now = wr_now(req->now);
    if (agent_exp && agent_exp <= now)
        BAD(WRIT_R_EXPIRED, "agent identity expired at %lld", (long long)agent_exp);
    char jti[23], txn[23];
    if (random_id(jti) || (!req->txn && random_id(txn)))
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_INTERNAL, "no randomness");
    const char **dests = lower_items(s->destinations, s->n_destinations);
    if (!dests)
        return wr_refuse(why, err, WRIT_ENOMEM, WRIT_R_INTERNAL, "out of memory");
    eff.destinations = dests;
    /* a task token never outlives the credential it was issued against */
    int64_t exp = now + (req->ttl ? req->ttl : def_ttl);
    if (agent_exp && agent_exp < exp)
        exp = agent_exp;
    if (exp > WR_MAX_TIME) {
        wr_free(dests);
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_INTERNAL, "clock %lld is out of range",
                         (long long)now);
    }
    claims_in in = {
        .sub = subject,
        .req_wl = subject,
        .txn = req->txn ? req->txn : txn,
        .jti = jti,
        .iat = now,
        .exp = exp,
        .scope = &eff,
        .depth = 0,
        .cnf = writ_identity_cert_thumbprint(agent),
        .sub_type = ptype,
    };
    st = sign_claims(kr, cfg, &in, token, len, why, err);
    wr_free(dests);
    if (!st && req->expires)
        *req->expires = exp;
    return st;
}

writ_status writ_token_exchange(const writ_keyring *kr, const writ_issuer_config *cfg,
                                const writ_bundle *bundle, const writ_verify_opts *vopts,
                                const char *subject_token, size_t len, const writ_mint_request *req,
                                char **token, size_t *token_len, writ_reason *why, writ_error *err)
{
    writ_identity *id = NULL;
    writ_reason local_why;
    *token = NULL;
    if (!why)
        why = &local_why;
    writ_status st = writ_identity_verify_jwt(bundle, vopts, subject_token, len, &id, why, err);
    if (st != WRIT_OK) {
        if (err) {
            char tmp[sizeof err->msg];
            memcpy(tmp, err->msg, sizeof tmp);
            const char *rn = writ_reason_name(*why);
            size_t rl = strlen(rn);
            const char *detail = !strncmp(tmp, rn, rl) && tmp[rl] == ':' ? tmp + rl + 2 : tmp;
            snprintf(err->msg, sizeof err->msg, "%s: subject token: %.200s", rn, detail);
        }
        return st;
    }
    st = writ_token_mint(kr, cfg, id, req, token, token_len, why, err);
    writ_identity_free(id);
    return st;
}

writ_status writ_token_delegate(const writ_keyring *kr, const writ_issuer_config *cfg, writ_token_verifier *v,
                                const writ_revocations *rev, const char *parent, size_t parent_len,
                                const writ_identity *presenter, const writ_delegate_request *req,
                                char **token, size_t *len, writ_reason *why, writ_error *err)
{
    writ_reason local_why;
    *token = NULL;
    if (!why)
        why = &local_why;
    *why = WRIT_R_OK;
    uint32_t def_ttl = 0, max_ttl = 0, max_depth = 0;
    writ_status st = cfg_check(cfg, &def_ttl, &max_ttl, &max_depth, why, err);
    if (st != WRIT_OK)
        return st;
    if (!req || !req->target)
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_INTERNAL, "delegation needs a target agent");
    int64_t now = wr_now(req->now);
    writ_token_check chk = {
        .audience = cfg->audience,
        .now = now,
        .cert_thumbprint = presenter ? writ_identity_cert_thumbprint(presenter) : NULL,
        .revocations = rev,
    };
    writ_task_token *p = NULL;
    if ((st = writ_token_verify(v, &chk, parent, parent_len, &p, why, err)) != WRIT_OK) {
        /* keep the reason; say it was the parent */
        if (err) {
            char tmp[sizeof err->msg];
            memcpy(tmp, err->msg, sizeof tmp);
            const char *rn = writ_reason_name(*why);
            size_t rl = strlen(rn);
            const char *detail = !strncmp(tmp, rn, rl) && tmp[rl] == ':' ? tmp + rl + 2 : tmp;
            snprintf(err->msg, sizeof err->msg, "%s: parent token: %.200s", rn, detail);
        }
        return st;
    }
    json_t *act = NULL, *anc = NULL;
    const char **dests = NULL;
    writ_spiffe_id tid;
    writ_error id_err;
    const char *pt = presenter ? writ_identity_principal_type(presenter) : NULL,
               *ht = writ_task_token_holder_type(p);
    if (presenter && (strcmp(writ_identity_subject(presenter), p->holder) || (pt == NULL) != (ht == NULL) ||
                      (pt && strcmp(pt, ht)))) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_ACTOR,
                       "presenter '%.100s' is not the token holder '%.100s'",
                       writ_identity_subject(presenter), p->holder);
        goto done;
    }
    if (p->depth + 1 > max_depth) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_DEPTH, "delegation depth %u would exceed the limit %u",
                       p->depth + 1, max_depth);
        goto done;
    }
    if (writ_spiffe_id_parse(req->target, strlen(req->target), &tid, &id_err) != WRIT_OK) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_SUB, "target is not a SPIFFE ID (%s)", id_err.msg);
        goto done;
    }
    if (tid.path_off == tid.len) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_SUB,
                       "target '%.300s' is a bare trust domain ID, not an agent", tid.str);
        goto done;
    }
    if (rev && writ_revocations_contains(rev, WRIT_REVOKE_AGENT, tid.str, tid.len)) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_REVOKED, "target agent '%.300s' is revoked", tid.str);
        goto done;
    }
    if (req->target_cert_thumbprint && strlen(req->target_cert_thumbprint) != 43) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_CLAIM_TYPE,
                       "target cert thumbprint must be 43 base64url chars");
        goto done;
    }
    /* scope: inherit what is not given, then require a subset */
    writ_task_scope ps, cs;
    writ_task_token_scope(p, &ps);
    cs = req->scope ? *req->scope : ps;
    if (!cs.purpose)
        cs.purpose = ps.purpose;
    if (!cs.actions)
        cs.actions = ps.actions, cs.n_actions = ps.n_actions;
    if (!cs.resources)
        cs.resources = ps.resources, cs.n_resources = ps.n_resources;
    if (!cs.destinations)
        cs.destinations = ps.destinations, cs.n_destinations = ps.n_destinations;
    if (!cs.sensitivity)
        cs.sensitivity = ps.sensitivity;
    if (strcmp(cs.purpose, ps.purpose)) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_SCOPE, "purpose differs from the parent's");
        goto done;
    }
    if ((st = check_items("actions", cs.actions, cs.n_actions, true, why, err)) ||
        (st = check_items("resources", cs.resources, cs.n_resources, false, why, err)) ||
        (st = check_items("destinations", cs.destinations, cs.n_destinations, false, why, err)))
        goto done;
    if (!(dests = lower_items(cs.destinations, cs.n_destinations))) {
        st = wr_refuse(why, err, WRIT_ENOMEM, WRIT_R_INTERNAL, "out of memory");
        goto done;
    }
    cs.destinations = dests;
    if ((st = subset("action", ps.actions, ps.n_actions, cs.actions, cs.n_actions, why, err)) ||
        (st = subset("resource", ps.resources, ps.n_resources, cs.resources, cs.n_resources, why, err)) ||
        (st = subset("destination", ps.destinations, ps.n_destinations, cs.destinations, cs.n_destinations,
                     why, err)))
        goto done;
    int cr = writ_sensitivity_rank(cs.sensitivity);
    if (cr < 0 || cr > writ_sensitivity_rank(ps.sensitivity)) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_SCOPE,
                       "sensitivity '%.32s' is above the parent's ceiling '%s'", cs.sensitivity,
                       ps.sensitivity);
        goto done;
    }
    /* expiry: never later than the parent's */
    int64_t exp;
    if (req->ttl) {
        if (req->ttl > max_ttl) {
            st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_TTL, "requested ttl %us exceeds the maximum %us",
                           req->ttl, max_ttl);
            goto done;
        }
        exp = now + req->ttl;
        if (exp > p->exp) {
            st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_EXPIRY,
                           "requested expiry %lld is after the parent's %lld", (long long)exp,
                           (long long)p->exp);
            goto done;
        }
    } else {
        exp = now + def_ttl < p->exp ? now + def_ttl : p->exp;
    }
    if (exp <= now) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_EXPIRED, "parent expires now");
        goto done;
    }
    /* act: the target becomes the outermost (current) actor.  The parent's
     * chain is deep-copied: p may be shared with other threads via the
     * verifier's cache, so its JSON is never touched, not even a refcount. */
    act = json_object();
    json_t *pact = json_object_get(p->claims, "act");
    if (!act || json_object_set_new(act, "sub", json_string(tid.str)) ||
        json_object_set_new(act, "sub_profile", json_string(WR_SUB_PROFILE)) ||
        (pact && json_object_set_new(act, "act", json_deep_copy(pact)))) {
        st = wr_refuse(why, err, WRIT_ENOMEM, WRIT_R_INTERNAL, "out of memory");
        goto done;
    }
    anc = json_array();
    for (unsigned i = 0; anc && i < p->depth; i++)
        if (json_array_append_new(anc, json_string(p->anc[i])))
            break;
    if (!anc || json_array_size(anc) != p->depth || json_array_append_new(anc, json_string(p->jti))) {
        st = wr_refuse(why, err, WRIT_ENOMEM, WRIT_R_INTERNAL, "out of memory");
        goto done;
    }
    char jti[23];
    if (random_id(jti)) {
        st = wr_refuse(why, err, WRIT_EINVAL, WRIT_R_INTERNAL, "no randomness");
        goto done;
    }
    claims_in in = {
        .sub = p->sub,
        .req_wl = p->holder,
        .txn = p->txn,
        .jti = jti,
        .iat = now,
        .exp = exp,
        .scope = &cs,
        .act = act,
        .anc = anc,
        .depth = p->depth + 1,
        .cnf = req->target_cert_thumbprint,
        .sub_type = p->sub_type, /* the root keeps its type down the chain */
    };
    act = anc = NULL; /* consumed */
    st = sign_claims(kr, cfg, &in, token, len, why, err);
    if (!st && req->expires)
        *req->expires = exp;
done:
    wr_free(dests);
    json_decref(act);
    json_decref(anc);
    writ_task_token_free(p);
    return st;
}
