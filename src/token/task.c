/* task.c - task tokens: the token object, its accessors and its claims.
 * Minting and delegating are in task_issue.c, verifying (with a cache) in
 * task_verify.c.
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
#include "token/task_int.h"
#include "util/alloc.h"
#include "util/arena.h"
#include "util/error.h"
#include "util/text.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

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

void writ_task_token_free(writ_task_token *t)
{
    if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
        return;
    json_decref(t->claims);
    wr_arena_free(t->arena);
    wr_free(t);
}

const char *writ_task_token_jti(const writ_task_token *t) { return t ? t->jti : NULL; }
const char *writ_task_token_txn(const writ_task_token *t) { return t ? t->txn : NULL; }
const char *writ_task_token_subject(const writ_task_token *t) { return t ? t->sub : NULL; }
const char *writ_task_token_holder(const writ_task_token *t) { return t ? t->holder : NULL; }
const char *writ_task_token_issuer(const writ_task_token *t) { return t ? t->iss : NULL; }
const char *writ_task_token_purpose(const writ_task_token *t) { return t ? t->purpose : NULL; }
const char *writ_task_token_sensitivity(const writ_task_token *t) { return t ? t->sensitivity : NULL; }
int64_t writ_task_token_expiry(const writ_task_token *t) { return t ? t->exp : 0; }
int64_t writ_task_token_issued_at(const writ_task_token *t) { return t ? t->iat : 0; }
unsigned writ_task_token_depth(const writ_task_token *t) { return t ? t->depth : 0; }
const char *writ_task_token_cnf(const writ_task_token *t) { return t ? t->cnf : NULL; }
const char *writ_task_token_subject_type(const writ_task_token *t) { return t ? t->sub_type : NULL; }

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
const char *writ_task_token_holder_type(const writ_task_token *t)
{
    return t && !t->depth ? t->sub_type : NULL;
}

const char *writ_task_token_chain(const writ_task_token *t, size_t i)
{
    return t && i <= t->depth ? t->chain[i] : NULL;
}

void writ_task_token_scope(const writ_task_token *t, writ_task_scope *out)
{
    if (!out)
        return;
    if (!t) {
        memset(out, 0, sizeof *out);
        return;
    }
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
    if (!t)
        return NULL;
    char *s = json_dumps(t->claims, JSON_COMPACT | JSON_SORT_KEYS);
    char *r = s ? wr_strndup(s, strlen(s)) : NULL;
    wr_json_free(s);
    return r;
}

char *writ_task_token_context_json(const writ_task_token *t)
{
    if (!t)
        return NULL;
    json_t *task = json_object(), *ctx = json_object(), *chain = json_array();
    char *out = NULL;
    bool ok = task && ctx && chain;
    for (unsigned i = 0; ok && i <= t->depth; i++)
        ok = !json_array_append_new(chain, json_string(t->chain[i]));
    ok = ok && !json_object_set_new(task, "id", json_string(t->txn)) &&
         !json_object_set_new(task, "purpose", json_string(t->purpose)) &&
         !json_object_set_new(task, "actions", wr_task_json_strs(t->actions, t->n_actions)) &&
         !json_object_set_new(task, "resources", wr_task_json_strs(t->resources, t->n_resources)) &&
         !json_object_set_new(task, "sensitivity", json_string(t->sensitivity)) &&
         !json_object_set_new(task, "destinations", wr_task_json_strs(t->destinations, t->n_destinations)) &&
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
bool wr_task_item_ok(const char *s, size_t n)
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

bool writ_scope_reaches(const char *item, const char *prefix)
{
    if (!item || !prefix)
        return false;
    size_t n = strlen(item), p = strlen(prefix);
    if (n && item[n - 1] == '*')
        return strncmp(item, prefix, n - 1 < p ? n - 1 : p) == 0;
    return n > p && strncmp(item, prefix, p) == 0; /* the prefix itself names nothing under it */
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
        if (!json_is_string(s) || !wr_task_item_ok(json_string_value(s), json_string_length(s)))
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
writ_status wr_task_parse_claims(writ_task_token *t, const char *issuer, writ_reason *why, writ_error *err)
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
