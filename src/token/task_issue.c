/* task_issue.c - issuing task tokens: mint (identity -> task token),
 * exchange (subject token -> task token) and delegate (task token ->
 * narrower token for another agent). */
#include "token/task_int.h"
#include "util/alloc.h"
#include "util/arena.h"
#include "util/error.h"
#include "util/text.h"

#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

/* ----------------------------------------------------------------- issuing */

static writ_status random_id(char out[23])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1)
        return WRIT_EINVAL;
    wr_b64url_encode(b, sizeof b, out);
    return WRIT_OK;
}

json_t *wr_task_json_strs(const char *const *items, size_t n)
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
        if (!items[i] || !wr_task_item_ok(items[i], strlen(items[i])))
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

/* Does the parent's list cover every item of the child's?  any: an empty
 * list means "any" (resources, destinations), so an empty parent covers
 * every child and an empty child is covered only by an empty parent;
 * otherwise (actions) an empty list covers nothing. */
static writ_status subset(const char *what, bool any, const char *const *parent, size_t pn,
                          const char *const *child, size_t cn, writ_reason *why, writ_error *err)
{
    if (any && pn == 0)
        return WRIT_OK;
    if (any && cn == 0)
        BAD(WRIT_R_SCOPE, "an empty %s list means any %s, wider than the parent's", what, what);
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
        json_object_set_new(tctx, "actions", wr_task_json_strs(s->actions, s->n_actions)) ||
        json_object_set_new(tctx, "resources", wr_task_json_strs(s->resources, s->n_resources)) ||
        json_object_set_new(tctx, "sensitivity", json_string(s->sensitivity)) ||
        json_object_set_new(tctx, "destinations", wr_task_json_strs(s->destinations, s->n_destinations)))
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
    size_t n = 0; /* (len may be NULL: the caller has strlen) */
    st = wr_jws_sign(k->pkey, k->alg, k->kid, WR_TASK_TYP, c, token, &n, err);
    if (len)
        *len = n;
    if (st != WRIT_OK && why)
        *why = WRIT_R_INTERNAL;
    /* never hand out a token every verifier refuses as too long */
    if (st == WRIT_OK && n > WRIT_DEFAULT_MAX_TOKEN) {
        size_t got = n;
        wr_free(*token);
        *token = NULL;
        if (len)
            *len = 0;
        st = wr_refuse(why, err, WRIT_ELIMIT, WRIT_R_SCOPE,
                       "the token would be %zu bytes, over the %u a verifier accepts: ask for fewer or "
                       "shorter actions, resources or destinations, or a shorter purpose",
                       got, WRIT_DEFAULT_MAX_TOKEN);
    }
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

static writ_status writ_token_mint_body(const writ_keyring *kr, const writ_issuer_config *cfg,
                                        const writ_identity *agent, const writ_mint_request *req,
                                        char **token, size_t *len, writ_reason *why, writ_error *err)
{
    if (why)
        *why = WRIT_R_OK;
    if (!token)
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_INTERNAL, "no place for the token");
    *token = NULL;
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
    if (req->revocations && req->txn &&
        writ_revocations_contains(req->revocations, WRIT_REVOKE_TASK, req->txn, strlen(req->txn)))
        BAD(WRIT_R_REVOKED, "task '%.200s' is revoked", req->txn);
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

writ_status writ_token_mint(const writ_keyring *kr, const writ_issuer_config *cfg, const writ_identity *agent,
                            const writ_mint_request *req, char **token, size_t *len, writ_reason *why,
                            writ_error *err)
{
    unsigned long failed = wr_alloc_failures();
    return wr_oom_verdict(writ_token_mint_body(kr, cfg, agent, req, token, len, why, err), failed, why, err);
}

static writ_status writ_token_exchange_body(const writ_keyring *kr, const writ_issuer_config *cfg,
                                            const writ_bundle *bundle, const writ_verify_opts *vopts,
                                            const char *subject_token, size_t len,
                                            const writ_mint_request *req, char **token, size_t *token_len,
                                            writ_reason *why, writ_error *err)
{
    writ_identity *id = NULL;
    writ_reason local_why;
    if (!why)
        why = &local_why;
    if (!token)
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_INTERNAL, "no place for the token");
    *token = NULL;
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

writ_status writ_token_exchange(const writ_keyring *kr, const writ_issuer_config *cfg,
                                const writ_bundle *bundle, const writ_verify_opts *vopts,
                                const char *subject_token, size_t len, const writ_mint_request *req,
                                char **token, size_t *token_len, writ_reason *why, writ_error *err)
{
    unsigned long failed = wr_alloc_failures();
    return wr_oom_verdict(
        writ_token_exchange_body(kr, cfg, bundle, vopts, subject_token, len, req, token, token_len, why, err),
        failed, why, err);
}

static writ_status writ_token_delegate_body(const writ_keyring *kr, const writ_issuer_config *cfg,
                                            writ_token_verifier *v, const writ_revocations *rev,
                                            const char *parent, size_t parent_len,
                                            const writ_identity *presenter, const writ_delegate_request *req,
                                            char **token, size_t *len, writ_reason *why, writ_error *err)
{
    writ_reason local_why;
    if (!why)
        why = &local_why;
    *why = WRIT_R_OK;
    if (!token)
        return wr_refuse(why, err, WRIT_EINVAL, WRIT_R_INTERNAL, "no place for the token");
    *token = NULL;
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
    if ((st = subset("action", false, ps.actions, ps.n_actions, cs.actions, cs.n_actions, why, err)) ||
        (st = subset("resource", true, ps.resources, ps.n_resources, cs.resources, cs.n_resources, why,
                     err)) ||
        (st = subset("destination", true, ps.destinations, ps.n_destinations, cs.destinations,
                     cs.n_destinations, why, err)))
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

writ_status writ_token_delegate(const writ_keyring *kr, const writ_issuer_config *cfg, writ_token_verifier *v,
                                const writ_revocations *rev, const char *parent, size_t parent_len,
                                const writ_identity *presenter, const writ_delegate_request *req,
                                char **token, size_t *len, writ_reason *why, writ_error *err)
{
    unsigned long failed = wr_alloc_failures();
    return wr_oom_verdict(
        writ_token_delegate_body(kr, cfg, v, rev, parent, parent_len, presenter, req, token, len, why, err),
        failed, why, err);
}
