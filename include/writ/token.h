/* token.h - Writ task tokens: signing keys, token exchange, delegation,
 * verification and revocation.
 *
 * A task token is a JWS (typ "txntoken+jwt", ES256 by default) shaped like an
 * OAuth Transaction Token:
 *
 *   iss  Writ's issuer name            aud   the trust domain it is valid in
 *   sub  the agent the task was         iat, exp (minutes), jti (unique)
 *        issued to (root of the chain)  txn   the task id (shared by the chain)
 *   scope  space-separated actions      purp  the task's purpose
 *   req_wl the workload that asked for this token
 *   tctx { purpose, actions[], resources[], sensitivity, destinations[] }
 *   act  RFC 8693 delegation chain: the outermost act is the current actor
 *        (the agent holding the token), nested acts are earlier actors;
 *        each has sub and sub_profile "ai_agent"
 *   depth  number of delegations (= nesting of act)
 *   anc  jtis of the ancestors, root first (for subtree revocation)
 *   cnf  {"x5t#S256": ...} when bound to the holder's mTLS certificate (RFC 8705)
 *
 * Items in actions, resources and destinations are exact strings or prefix
 * patterns ending in '*' (writ_scope_covers); nothing else: a '*' anywhere
 * but at the end is refused at mint, delegation and verification.
 * Destinations are lower case (mint and delegate fold them).  Delegation
 * narrows: every child item must be covered by a parent item, the
 * sensitivity ceiling may only go down, the expiry may not move later, and
 * depth is bounded.
 *
 *   sub_type  only when sub is not a SPIFFE agent: the Cedar principal type
 *             of sub (an OIDC subject, typed per issuer; identity.h)
 *
 * Failures return a status and a writ_reason (identity.h) naming the check;
 * out-parameters stay NULL.
 *
 * Ownership and threads, per handle:
 *   writ_keyring          the caller's (writ_keyring_free).  Signing and the
 *                         readers may run in several threads at once; adding,
 *                         removing or activating a key may not run beside
 *                         anything else on the same keyring (rotate by
 *                         building a new keyring and swapping the pointer).
 *   writ_token_verifier   the caller's; every call may come from any thread
 *                         (its token cache has its own lock).
 *   writ_revocations      the caller's; every call may come from any thread
 *                         (a reader-writer lock in front of SQLite).
 *   writ_task_token       the caller's (writ_task_token_free); immutable:
 *                         readable from several threads; strings it returns
 *                         live as long as it does.
 *   char * out-parameters the caller's, freed with writ_free_string.
 */
#ifndef WRIT_TOKEN_H
#define WRIT_TOKEN_H

#include "writ/identity.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- signing keys -------------------------------------------------------
 * A keyring holds private keys; the active one signs, all of them verify
 * (rotation: add the new key as active, keep the old one until the longest
 * token it signed has expired, then remove it).  The kid of a key is its
 * RFC 7638 JWK thumbprint, so it never needs storing. */
typedef struct writ_keyring writ_keyring;

typedef enum writ_key_alg { WRIT_KEY_ES256 = 1, WRIT_KEY_EDDSA } writ_key_alg;

WRIT_API writ_keyring *writ_keyring_new(void);
WRIT_API void writ_keyring_free(writ_keyring *kr);
/* Generate a key; it becomes active.  kid_out (>= 44 bytes) may be NULL. */
WRIT_API WRIT_MUST_CHECK writ_status writ_keyring_generate(writ_keyring *kr, writ_key_alg alg, char *kid_out,
                                                  writ_error *err);
/* Load a PKCS#8 / SEC1 PEM private key (P-256 or Ed25519). */
WRIT_API WRIT_MUST_CHECK writ_status writ_keyring_add_pem(writ_keyring *kr, const char *pem, size_t len, bool active,
                                                 char *kid_out, writ_error *err);
/* PKCS#8 PEM of a key (kid NULL = active).  *pem is wr_malloc'd; the caller
 * frees it with writ_free_string(). */
WRIT_API WRIT_MUST_CHECK writ_status writ_keyring_private_pem(const writ_keyring *kr, const char *kid, char **pem,
                                                     size_t *len, writ_error *err);
WRIT_API WRIT_MUST_CHECK writ_status writ_keyring_set_active(writ_keyring *kr, const char *kid, writ_error *err);
WRIT_API WRIT_MUST_CHECK writ_status writ_keyring_remove(writ_keyring *kr, const char *kid, writ_error *err);
WRIT_API const char *writ_keyring_active_kid(const writ_keyring *kr);
WRIT_API size_t writ_keyring_count(const writ_keyring *kr);
/* The public JWKS ({"keys":[...]}), for /.well-known/jwks.json. */
WRIT_API WRIT_MUST_CHECK writ_status writ_keyring_jwks(const writ_keyring *kr, char **json, size_t *len,
                                              writ_error *err);

/* A keyring of one key: kr's active key (shared, reference-counted), for
 * a signer that must keep its key whatever later rotations do to kr.  NULL
 * when kr has no key or memory runs out. */
WRIT_API writ_keyring *writ_keyring_copy_active(const writ_keyring *kr);
/* Sign claims (a JSON object's text) as a compact JWS with the active key:
 * header {"alg", "kid", "typ"}.  *jws is wr_malloc'd (writ_free_string). */
WRIT_API WRIT_MUST_CHECK writ_status writ_keyring_sign(const writ_keyring *kr, const char *typ,
                                                       const char *claims_json, size_t len, char **jws,
                                                       size_t *jws_len, writ_error *err);

/* ---- revocations ---------------------------------------------------------
 * A set of revoked token ids, token subtrees, tasks and agents.  Checks are
 * O(1) hash lookups in memory; additions are written to SQLite (WAL) first,
 * so they survive restarts.  Safe to share between threads. */
typedef struct writ_revocations writ_revocations;

typedef enum writ_revoke_kind {
    WRIT_REVOKE_JTI = 1, /* that token only */
    WRIT_REVOKE_SUBTREE, /* that token and every token delegated from it */
    WRIT_REVOKE_TASK,    /* every token of a task (txn) */
    WRIT_REVOKE_AGENT,   /* every token held by or delegated through an agent */
} writ_revoke_kind;

WRIT_API const char *writ_revoke_kind_name(writ_revoke_kind k);
/* path NULL = in memory only. */
WRIT_API WRIT_MUST_CHECK writ_status writ_revocations_open(const char *path, writ_revocations **out, writ_error *err);
WRIT_API void writ_revocations_close(writ_revocations *r);
/* until: unix time after which the entry may be forgotten (the expiry of the
 * longest token it can affect); 0 = keep forever. */
WRIT_API WRIT_MUST_CHECK writ_status writ_revocations_add(writ_revocations *r, writ_revoke_kind kind,
                                                 const char *value, size_t len, int64_t until,
                                                 const char *note, writ_error *err);
WRIT_API bool writ_revocations_contains(const writ_revocations *r, writ_revoke_kind kind, const char *value,
                               size_t len);
WRIT_API size_t writ_revocations_count(const writ_revocations *r);
/* Pick up entries written by other processes since the last load. */
WRIT_API WRIT_MUST_CHECK writ_status writ_revocations_refresh(writ_revocations *r, writ_error *err);
/* Forget entries whose until is before now (memory and file). */
WRIT_API WRIT_MUST_CHECK writ_status writ_revocations_prune(writ_revocations *r, int64_t now, writ_error *err);

/* ---- task scope ---------------------------------------------------------- */
typedef struct writ_task_scope {
    const char *purpose;        /* required for mint */
    const char *const *actions; /* required, >= 1 */
    size_t n_actions;
    const char *const *resources;
    size_t n_resources;
    const char *sensitivity; /* public < internal < confidential < restricted */
    const char *const *destinations;
    size_t n_destinations;
} writ_task_scope;

/* Rank of a sensitivity level, or -1 when unknown:
 *   public = 0 < internal = 1 < confidential = 2 < restricted = 3. */
WRIT_API int writ_sensitivity_rank(const char *level);

/* Rank of a resource's numeric `sensitivity` attribute on the same scale:
 * 0 public, 1 internal, 2 confidential, 3 and above restricted.  A negative
 * value is no level: -1 (callers deny). */
WRIT_API int writ_sensitivity_rank_of(int64_t resource_sensitivity);

/* May a task with sensitivity ceiling `ceiling` (a level name) touch a
 * resource?  has_level false = the resource has no sensitivity attribute,
 * which counts as the most sensitive (restricted).  True when the
 * ceiling's rank >= the resource's rank; false for an unknown ceiling or a
 * negative level (fail closed). */
WRIT_API bool writ_sensitivity_allows(const char *ceiling, bool has_level, int64_t resource_sensitivity);

/* Does scope item `item` cover `value`?  The two forms, and no others:
 *   exact   "tool:read"   covers exactly the same bytes
 *   prefix  "repo:corp-*" covers every value starting with "repo:corp-";
 *           "*" covers everything
 * Byte comparison, case-sensitive (destinations are stored lower case:
 * compare a lower-cased destination).  The same function decides delegation
 * narrowing (value is then the child's item, a pattern taken literally:
 * "repo:*" covers "repo:corp-*", an exact "repo" does not) and enforcement
 * (value is the request's action, resource or destination).  NULL -> false. */
WRIT_API bool writ_scope_covers(const char *item, const char *value);
/* Is value covered by at least one of items[0..n)?  n == 0 -> false (an
 * empty list covers nothing; whether an empty list means "unrestricted" is
 * the caller's rule). */
WRIT_API bool writ_scope_list_covers(const char *const *items, size_t n, const char *value);
/* Could item cover some value that starts with prefix?  An exact item that
 * starts with it and goes on (the prefix alone names nothing under it), or a
 * pattern whose prefix and `prefix` agree as far as the
 * shorter goes: "mcp/add", "mcp/a*", "m*" and "*" reach "mcp/"; "mc" and
 * "other/add" do not.  For "may this token use anything under X at all".
 * NULL -> false. */
WRIT_API bool writ_scope_reaches(const char *item, const char *prefix);

/* ---- issuing ------------------------------------------------------------- */
#define WRIT_DEFAULT_TTL 300u   /* 5 minutes */
#define WRIT_HARD_MAX_TTL 3600u /* no config can go above one hour */
#define WRIT_DEFAULT_MAX_DEPTH 4u
#define WRIT_HARD_MAX_DEPTH 16u

typedef struct writ_issuer_config {
    const char *issuer;   /* iss, e.g. "https://writ.corp.example" */
    const char *audience; /* aud of task tokens, e.g. "corp.example" */
    uint32_t default_ttl; /* 0 = WRIT_DEFAULT_TTL */
    uint32_t max_ttl;     /* 0 = 15 min; clamped to WRIT_HARD_MAX_TTL */
    uint32_t max_depth;   /* 0 = WRIT_DEFAULT_MAX_DEPTH; clamped to WRIT_HARD_MAX_DEPTH */
} writ_issuer_config;

typedef struct writ_mint_request {
    const writ_task_scope *scope;
    const char *txn;                     /* task id; NULL = a fresh random one */
    uint32_t ttl;                        /* seconds; 0 = default; over max_ttl is refused */
    int64_t now;                         /* 0 = the clock */
    int64_t *expires;                    /* if not NULL, set to the new token's exp on success */
    const writ_revocations *revocations; /* if not NULL, a revoked agent (WRIT_REVOKE_AGENT of
                                          * its subject) or task (WRIT_REVOKE_TASK of txn) is
                                          * refused: WRIT_R_REVOKED */
} writ_mint_request;

/* Identity token -> task token.  The identity must already be verified
 * (writ_identity_verify_*); its SPIFFE ID / sub becomes sub and req_wl, an
 * OIDC identity's principal type becomes sub_type, and an X.509-SVID binds
 * the token to that certificate (cnf x5t#S256).  Refused: an SVID that is
 * not a workload SPIFFE ID, an OIDC subject that is a SPIFFE ID (WRIT_R_SUB),
 * a revoked agent or task when req->revocations is given (WRIT_R_REVOKED).  The
 * token expires at now + ttl or at the identity's own expiry, whichever
 * comes first. */
WRIT_API WRIT_MUST_CHECK writ_status writ_token_mint(const writ_keyring *kr, const writ_issuer_config *cfg,
                                            const writ_identity *agent, const writ_mint_request *req,
                                            char **token, size_t *len, writ_reason *why, writ_error *err);

/* RFC 8693 token exchange in one call: verify a JWT-SVID / OIDC subject
 * token against the bundle (audience = vopts->audience), then mint.  An
 * identity refusal keeps its reason, and err.msg says it was the subject
 * token. */
WRIT_API WRIT_MUST_CHECK writ_status writ_token_exchange(const writ_keyring *kr, const writ_issuer_config *cfg,
                                                const writ_bundle *bundle, const writ_verify_opts *vopts,
                                                const char *subject_token, size_t len,
                                                const writ_mint_request *req, char **token, size_t *token_len,
                                                writ_reason *why, writ_error *err);

/* ---- verifying ----------------------------------------------------------- */
typedef struct writ_token_verifier writ_token_verifier;
typedef struct writ_task_token writ_task_token;

/* Verify tokens of issuer `issuer` with the public keys of a keyring or a
 * JWKS.  cache_size = number of verified tokens remembered (0 = no cache);
 * a cached token skips the signature check only: times, audience, binding
 * and revocation are checked on every call. */
WRIT_API WRIT_MUST_CHECK writ_status writ_token_verifier_from_keyring(const writ_keyring *kr, const char *issuer,
                                                             size_t cache_size, writ_token_verifier **out,
                                                             writ_error *err);
WRIT_API WRIT_MUST_CHECK writ_status writ_token_verifier_from_jwks(const char *jwks, size_t len, const char *issuer,
                                                          size_t cache_size, writ_token_verifier **out,
                                                          writ_error *err);
WRIT_API void writ_token_verifier_free(writ_token_verifier *v);

typedef struct writ_token_check {
    const char *audience;                /* required */
    int64_t now;                         /* 0 = the clock */
    uint32_t leeway;                     /* <= WRIT_MAX_LEEWAY */
    const char *cert_thumbprint;         /* x5t#S256 of the presenter's mTLS cert, NULL if none */
    const writ_revocations *revocations; /* NULL = no revocation check */
    bool any_binding;                    /* skip the certificate-binding check (revoking a
                                          * token needs its holder's signature checked, not
                                          * its holder's certificate) */
} writ_token_check;

WRIT_API WRIT_MUST_CHECK writ_status writ_token_verify(writ_token_verifier *v, const writ_token_check *chk,
                                              const char *token, size_t len, writ_task_token **out,
                                              writ_reason *why, writ_error *err);

/* Accessors; strings live as long as the token. */
WRIT_API void writ_task_token_free(writ_task_token *t);
WRIT_API const char *writ_task_token_jti(const writ_task_token *t);
WRIT_API const char *writ_task_token_txn(const writ_task_token *t);
WRIT_API const char *writ_task_token_subject(const writ_task_token *t); /* root agent */
WRIT_API const char *writ_task_token_holder(const writ_task_token *t);  /* current actor (act.sub, or sub) */
WRIT_API const char *writ_task_token_issuer(const writ_task_token *t);
WRIT_API const char *writ_task_token_purpose(const writ_task_token *t);
WRIT_API const char *writ_task_token_sensitivity(const writ_task_token *t);
WRIT_API int64_t writ_task_token_expiry(const writ_task_token *t);
WRIT_API int64_t writ_task_token_issued_at(const writ_task_token *t);
WRIT_API unsigned writ_task_token_depth(const writ_task_token *t);
/* Chain of agents, root first: [sub, earlier actors..., holder]; depth+1 long. */
WRIT_API const char *writ_task_token_chain(const writ_task_token *t, size_t i);
WRIT_API const char *writ_task_token_cnf(const writ_task_token *t); /* x5t#S256 or NULL */
/* Is t the token with this jti, or delegated (at any depth) from it?  What
 * a subtree revocation of jti reaches. */
WRIT_API bool writ_task_token_in_subtree(const writ_task_token *t, const char *jti);
/* The Cedar principal type of the root (sub) when it is not a SPIFFE agent
 * (an OIDC subject: claim sub_type, from writ_identity_principal_type at
 * mint), else NULL = the deployment's agent type. */
WRIT_API const char *writ_task_token_subject_type(const writ_task_token *t);
/* The same for the holder: the subject's type at depth 0; NULL (an agent)
 * once delegated, since delegation targets are SPIFFE agents. */
WRIT_API const char *writ_task_token_holder_type(const writ_task_token *t);
/* The scope; pointers valid as long as the token. */
WRIT_API void writ_task_token_scope(const writ_task_token *t, writ_task_scope *out);
/* The Cedar request context a decision point adds for this token
 * (ARCHITECTURE.md: context.task, context.chain, context.chain_depth):
 *   {"task":{"id","purpose","actions","resources","sensitivity",
 *            "destinations","expires"},
 *    "chain":[root agent, ..., holder],"chain_depth":n,"holder":...,
 *    "token_id":jti,"cert_bound":bool}
 * Compact JSON, wr_malloc'd (writ_free_string); NULL when out of memory. */
WRIT_API char *writ_task_token_context_json(const writ_task_token *t);
/* Claims as compact JSON (wr_malloc'd; writ_free_string). */
WRIT_API char *writ_task_token_claims_json(const writ_task_token *t);

/* A token for an MCP upstream, minted per forwarded call (issue 9's
 * `mcp_credential = NAME token AUDIENCE`): iss issuer, aud audience, sub the
 * task token's holder, txn its task, scope the tool's action ("NAME/T"),
 * act copied from the task token, a fresh jti, exp <= now + 60 s (ttl 0 =
 * 60), signed with the keyring's active key (typ JWT).  *out wr_malloc'd
 * (writ_free_string). */
WRIT_API WRIT_MUST_CHECK writ_status writ_upstream_token_mint(const writ_keyring *kr, const char *issuer,
                                                     const char *audience, const writ_task_token *t,
                                                     const char *scope, uint32_t ttl, char **out, size_t *len,
                                                     writ_error *err);

/* ---- delegation ----------------------------------------------------------
 * Task token + target agent -> a narrower token for the target.  The parent
 * is verified in full (signature, times, binding, revocation) first.  When
 * presenter is given it must be the parent's holder, of the same principal
 * type (and hold its bound certificate, if any). */
typedef struct writ_delegate_request {
    const char *target;                 /* the target agent's SPIFFE ID (a workload; refused when
                                         * revoked in rev: WRIT_R_REVOKED) */
    const char *target_cert_thumbprint; /* bind the new token to this cert, or NULL */
    const writ_task_scope *scope;       /* NULL = the parent's scope unchanged; a part left
                                         * out (NULL) is the parent's.  Each must be within the
                                         * parent's: a parent with no resources or destinations
                                         * (any) takes any list, a parent with a list refuses an
                                         * empty one (any) (WRIT_R_SCOPE) */
    uint32_t ttl;                       /* 0 = default, capped at the parent's expiry */
    int64_t now;
    int64_t *expires; /* if not NULL, set to the new token's exp on success */
} writ_delegate_request;

WRIT_API WRIT_MUST_CHECK writ_status writ_token_delegate(const writ_keyring *kr, const writ_issuer_config *cfg,
                                                writ_token_verifier *v, const writ_revocations *rev,
                                                const char *parent, size_t parent_len,
                                                const writ_identity *presenter,
                                                const writ_delegate_request *req, char **token, size_t *len,
                                                writ_reason *why, writ_error *err);

/* Is this verified token revoked (itself, an ancestor, its task, or an
 * agent on its chain)?  On true, *kind says which entry matched. */
WRIT_API bool writ_task_token_revoked(const writ_task_token *t, const writ_revocations *r, writ_revoke_kind *kind);

#ifdef __cplusplus
}
#endif

#endif
