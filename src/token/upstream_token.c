/* upstream_token.c - the short token Writ mints for an MCP upstream per
 * forwarded call (mcp_credential = NAME token AUDIENCE, issue 9): the
 * agent's own task token never leaves Writ; the upstream gets a JWT that
 * says who calls (sub, act chain copied), for which task (txn) and which
 * tool (scope), valid at most 60 s, signed with the active key of Writ's
 * keyring (verifiable with /.well-known/jwks.json). */
#include "token/token_int.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/text.h"

#include <openssl/rand.h>
#include <string.h>
#include <time.h>

static writ_status writ_upstream_token_mint_body(const writ_keyring *kr, const char *issuer,
                                                 const char *audience, const writ_task_token *t,
                                                 const char *scope, uint32_t ttl, char **out, size_t *len,
                                                 writ_error *err)
{
    if (!out)
        return wr_error(err, WRIT_EINVAL, "no place for the upstream token");
    *out = NULL;
    const wr_key *k = kr ? wr_keyring_active(kr) : NULL;
    if (!k)
        return wr_error(err, WRIT_EINVAL, "no signing key to mint an upstream token with");
    if (ttl == 0 || ttl > 60)
        ttl = 60;
    unsigned char rnd[16];
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return wr_error(err, WRIT_EIO, "no randomness for a token id");
    char jti[33];
    wr_hex(jti, rnd, sizeof rnd);
    int64_t now = (int64_t)time(NULL);
    const char *holder = writ_task_token_holder(t), *txn = writ_task_token_txn(t);
    json_t *c = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I}", "iss", issuer, "aud", audience, "sub",
                          holder ? holder : "", "scope", scope, "jti", jti, "iat", (json_int_t)now, "exp",
                          (json_int_t)(now + ttl));
    if (c && txn && *txn && json_object_set_new(c, "txn", json_string(txn))) {
        json_decref(c);
        c = NULL;
    }
    /* the delegation chain (act), as the task token carries it */
    char *claims = c ? writ_task_token_claims_json(t) : NULL;
    json_t *tc = claims ? json_loads(claims, 0, NULL) : NULL;
    writ_free_string(claims);
    json_t *act = json_object_get(tc, "act");
    if (c && act && json_object_set(c, "act", act)) {
        json_decref(c);
        c = NULL;
    }
    json_decref(tc);
    if (!c)
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    writ_status st = wr_jws_sign(k->pkey, k->alg, k->kid, "JWT", c, out, len, err);
    json_decref(c);
    return st;
}

writ_status writ_upstream_token_mint(const writ_keyring *kr, const char *issuer, const char *audience,
                                     const writ_task_token *t, const char *scope, uint32_t ttl, char **out,
                                     size_t *len, writ_error *err)
{
    unsigned long failed = wr_alloc_failures();
    return wr_oom_verdict(writ_upstream_token_mint_body(kr, issuer, audience, t, scope, ttl, out, len, err),
                          failed, NULL, err);
}
