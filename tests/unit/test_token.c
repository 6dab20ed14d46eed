/* test_token.c - task tokens: mint, verify, cache, keys and rotation,
 * delegation rules, and hostile task tokens each refused for the right
 * reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "token/token_int.h"
#include "token_fixtures.h"
#include "writ/token.h"

#define NOW 1700000000LL
#define ISS "https://writ.corp.example"
#define AUD "corp.example"
#define A "spiffe://corp.example/agents/a"
#define B "spiffe://corp.example/agents/b"
#define C "spiffe://corp.example/agents/c"
#define D "spiffe://corp.example/agents/d"
#define E "spiffe://corp.example/agents/e"
#define CERT_A "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define CERT_X "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"

static struct {
    writ_keyring *kr;
    writ_token_verifier *v;
    writ_revocations *rev;
    writ_identity *a, *a_mtls, *b;
    writ_issuer_config cfg;
} F;

static const char *const acts[] = {"tool:read", "tool:search", "tool:write"};
static const char *const res[] = {"repo:corp/*", "ticket:42"};
static const char *const dests[] = {"API.GitHub.com", "git.corp.*"};
static const writ_task_scope SCOPE = {
    .purpose = "triage ticket 42",
    .actions = acts,
    .n_actions = 3,
    .resources = res,
    .n_resources = 2,
    .sensitivity = "confidential",
    .destinations = dests,
    .n_destinations = 2,
};

static int setup(void **state)
{
    (void)state;
    writ_error err;
    F.kr = writ_keyring_new();
    assert_int_equal(writ_keyring_generate(F.kr, WRIT_KEY_ES256, NULL, &err), WRIT_OK);
    F.cfg = (writ_issuer_config){.issuer = ISS, .audience = AUD, .max_depth = 3};
    assert_int_equal(writ_token_verifier_from_keyring(F.kr, ISS, 64, &F.v, &err), WRIT_OK);
    assert_int_equal(writ_revocations_open(NULL, &F.rev, &err), WRIT_OK);
    assert_int_equal(writ_identity_new(WRIT_ID_JWT_SVID, A, "spiffe://corp.example", 0, NULL, &F.a, &err),
                     WRIT_OK);
    assert_int_equal(
        writ_identity_new(WRIT_ID_X509_SVID, A, "spiffe://corp.example", 0, CERT_A, &F.a_mtls, &err),
        WRIT_OK);
    assert_int_equal(writ_identity_new(WRIT_ID_JWT_SVID, B, "spiffe://corp.example", 0, NULL, &F.b, &err),
                     WRIT_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    writ_token_verifier_free(F.v);
    writ_keyring_free(F.kr);
    writ_revocations_close(F.rev);
    writ_identity_free(F.a);
    writ_identity_free(F.a_mtls);
    writ_identity_free(F.b);
    return 0;
}

static char *mint(const writ_identity *who, uint32_t ttl)
{
    writ_mint_request rq = {.scope = &SCOPE, .txn = "task-42", .ttl = ttl, .now = NOW};
    char *t;
    size_t len;
    writ_reason why;
    writ_error err;
    writ_status st = writ_token_mint(F.kr, &F.cfg, who, &rq, &t, &len, &why, &err);
    if (st != WRIT_OK)
        fprintf(stderr, "mint: %s\n", err.msg);
    assert_int_equal(st, WRIT_OK);
    assert_int_equal(strlen(t), len);
    return t;
}

static writ_status verify(const char *tok, int64_t now, const char *cert, writ_task_token **out,
                          writ_reason *why, writ_error *err)
{
    writ_token_check chk = {.audience = AUD, .now = now, .cert_thumbprint = cert, .revocations = F.rev};
    return writ_token_verify(F.v, &chk, tok, strlen(tok), out, why, err);
}

static writ_status delegate(const char *parent, const writ_identity *presenter, const char *target,
                            const writ_task_scope *scope, uint32_t ttl, int64_t now, char **out,
                            writ_reason *why, writ_error *err)
{
    writ_delegate_request rq = {.target = target, .scope = scope, .ttl = ttl, .now = now};
    size_t len;
    return writ_token_delegate(F.kr, &F.cfg, F.v, F.rev, parent, strlen(parent), presenter, &rq, out, &len,
                               why, err);
}

/* -------------------------------------------------------------- positive */

/* A task token never outlives the identity it was issued against. */
static void test_mint_capped_by_identity(void **state)
{
    (void)state;
    writ_identity *shortlived;
    writ_error err;
    assert_int_equal(
        writ_identity_new(WRIT_ID_JWT_SVID, A, "spiffe://corp.example", NOW + 60, NULL, &shortlived, &err),
        WRIT_OK);
    /* ttl 0 (the 300 s default) and 600 s are cut to 60 s; 30 s is kept */
    static const uint32_t ttl[] = {0, 600, 30}, want[] = {60, 60, 30};
    for (size_t i = 0; i < 3; i++) {
        /* the expiry reported by the mint is the token's */
        int64_t reported = 0;
        writ_mint_request rq = {
            .scope = &SCOPE, .txn = "task-42", .ttl = ttl[i], .now = NOW, .expires = &reported};
        char *t;
        size_t len;
        writ_reason why0;
        assert_int_equal(writ_token_mint(F.kr, &F.cfg, shortlived, &rq, &t, &len, &why0, &err), WRIT_OK);
        assert_int_equal(reported, NOW + want[i]);
        writ_task_token *tt;
        writ_reason why;
        assert_int_equal(verify(t, NOW + 10, NULL, &tt, &why, &err), WRIT_OK);
        assert_int_equal(writ_task_token_expiry(tt), NOW + want[i]);
        writ_task_token_free(tt);
        wr_free(t);
    }
    writ_identity_free(shortlived);
}

static void test_mint_verify(void **state)
{
    (void)state;
    char *t = mint(F.a, 0);
    writ_task_token *tt;
    writ_reason why;
    writ_error err;
    assert_int_equal(verify(t, NOW + 10, NULL, &tt, &why, &err), WRIT_OK);
    assert_string_equal(writ_task_token_subject(tt), A);
    assert_string_equal(writ_task_token_holder(tt), A);
    assert_string_equal(writ_task_token_txn(tt), "task-42");
    assert_string_equal(writ_task_token_purpose(tt), "triage ticket 42");
    assert_string_equal(writ_task_token_sensitivity(tt), "confidential");
    assert_int_equal(writ_task_token_expiry(tt), NOW + WRIT_DEFAULT_TTL);
    assert_int_equal(writ_task_token_depth(tt), 0);
    assert_null(writ_task_token_cnf(tt));
    writ_task_scope s;
    writ_task_token_scope(tt, &s);
    assert_int_equal(s.n_actions, 3);
    assert_string_equal(s.actions[2], "tool:write");
    assert_int_equal(s.n_resources, 2);
    char *cj = writ_task_token_claims_json(tt);
    assert_non_null(strstr(cj, "\"scope\":\"tool:read tool:search tool:write\""));
    assert_non_null(strstr(cj, "\"req_wl\":\"" A "\""));
    writ_free_string(cj);
    writ_task_token_free(tt);
    /* header: typ txntoken+jwt, alg ES256, kid = the active key */
    wr_jws j;
    assert_int_equal(wr_jws_parse(t, strlen(t), 0, NULL, false, &j, &why, &err), WRIT_OK);
    assert_string_equal(wr_json_str(j.header, "typ", NULL), "txntoken+jwt");
    assert_string_equal(wr_json_str(j.header, "alg", NULL), "ES256");
    assert_string_equal(wr_json_str(j.header, "kid", NULL), writ_keyring_active_kid(F.kr));
    wr_jws_clear(&j);
    /* cached: the second verify hits the cache and still answers the same */
    assert_int_equal(verify(t, NOW + 20, NULL, &tt, &why, &err), WRIT_OK);
    writ_task_token_free(tt);
    wr_free(t);
}

static void test_exchange(void **state)
{
    (void)state;
    EVP_PKEY *k = fx_key("P-256");
    const char *kid[] = {"k1"};
    char *jwks = fx_jwks(&k, kid, 1, "jwt-svid");
    writ_bundle *b = writ_bundle_new();
    writ_error err;
    writ_reason why;
    assert_int_equal(writ_bundle_add_spiffe(b, "corp.example", 12, jwks, strlen(jwks), &err), WRIT_OK);
    char *svid = fx_jws(k, WR_ALG_ES256, "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
                        "{\"sub\":\"" A "\",\"aud\":\"writ\",\"iat\":1700000000,\"exp\":1700000300}");
    writ_verify_opts vo = {.audience = "writ", .now = NOW};
    writ_mint_request rq = {.scope = &SCOPE, .now = NOW};
    char *t;
    size_t l;
    assert_int_equal(writ_token_exchange(F.kr, &F.cfg, b, &vo, svid, strlen(svid), &rq, &t, &l, &why, &err),
                     WRIT_OK);
    writ_task_token *tt;
    assert_int_equal(verify(t, NOW, NULL, &tt, &why, &err), WRIT_OK);
    assert_string_equal(writ_task_token_subject(tt), A);
    writ_task_token_free(tt);
    wr_free(t);
    vo.audience = "other";
    t = (char *)0x1;
    assert_int_not_equal(
        writ_token_exchange(F.kr, &F.cfg, b, &vo, svid, strlen(svid), &rq, &t, &l, &why, &err), WRIT_OK);
    assert_null(t);
    assert_int_equal(why, WRIT_R_AUD);
    assert_non_null(strstr(err.msg, "audience: subject token:"));
    wr_free(svid);
    free(jwks);
    writ_bundle_free(b);
    EVP_PKEY_free(k);
}

static void test_mtls_binding(void **state)
{
    (void)state;
    char *t = mint(F.a_mtls, 0);
    writ_task_token *tt;
    writ_reason why;
    writ_error err;
    assert_int_equal(verify(t, NOW, CERT_A, &tt, &why, &err), WRIT_OK);
    assert_string_equal(writ_task_token_cnf(tt), CERT_A);
    writ_task_token_free(tt);
    wr_free(t);
}

static void test_delegation_chain(void **state)
{
    (void)state;
    char *root = mint(F.a, 600);
    const char *const nacts[] = {"tool:read"};
    const char *const nres[] = {"repo:corp/api*", "ticket:42"};
    const char *const ndest[] = {"git.corp.example"};
    writ_task_scope narrow = {.actions = nacts,
                              .n_actions = 1,
                              .resources = nres,
                              .n_resources = 2,
                              .sensitivity = "internal",
                              .destinations = ndest,
                              .n_destinations = 1};
    char *t1, *t2;
    writ_reason why;
    writ_error err;
    assert_int_equal(delegate(root, F.a, B, &narrow, 0, NOW + 5, &t1, &why, &err), WRIT_OK);
    assert_int_equal(delegate(t1, F.b, C, NULL, 0, NOW + 6, &t2, &why, &err), WRIT_OK);
    writ_task_token *tt;
    assert_int_equal(verify(t2, NOW + 7, NULL, &tt, &why, &err), WRIT_OK);
    assert_int_equal(writ_task_token_depth(tt), 2);
    assert_string_equal(writ_task_token_subject(tt), A);
    assert_string_equal(writ_task_token_holder(tt), C);
    assert_string_equal(writ_task_token_chain(tt, 0), A);
    assert_string_equal(writ_task_token_chain(tt, 1), B);
    assert_string_equal(writ_task_token_chain(tt, 2), C);
    assert_null(writ_task_token_chain(tt, 3));
    /* t2 is in the subtrees of root, t1 and itself, and no other */
    writ_task_token *r0, *r1;
    assert_int_equal(verify(root, NOW + 7, NULL, &r0, &why, &err), WRIT_OK);
    assert_int_equal(verify(t1, NOW + 7, NULL, &r1, &why, &err), WRIT_OK);
    assert_true(writ_task_token_in_subtree(tt, writ_task_token_jti(r0)));
    assert_true(writ_task_token_in_subtree(tt, writ_task_token_jti(r1)));
    assert_true(writ_task_token_in_subtree(tt, writ_task_token_jti(tt)));
    assert_false(writ_task_token_in_subtree(r1, writ_task_token_jti(tt)));
    assert_false(writ_task_token_in_subtree(r0, writ_task_token_jti(r1)));
    assert_false(writ_task_token_in_subtree(tt, "no-such-jti"));
    writ_task_token_free(r0);
    writ_task_token_free(r1);
    assert_string_equal(writ_task_token_txn(tt), "task-42");
    assert_string_equal(writ_task_token_sensitivity(tt), "internal");
    assert_true(writ_task_token_expiry(tt) <= NOW + 600);
    char *cj = writ_task_token_claims_json(tt);
    assert_non_null(strstr(cj,
                           "\"act\":{\"act\":{\"sub\":\"" B "\",\"sub_profile\":\"ai_agent\"},\"sub\":\"" C
                           "\",\"sub_profile\":\"ai_agent\"}"));
    writ_free_string(cj);
    char *ctx = writ_task_token_context_json(tt);
    assert_non_null(ctx);
    assert_non_null(strstr(ctx, "\"chain\":[\"" A "\",\"" B "\",\"" C "\"],\"chain_depth\":2"));
    assert_non_null(strstr(ctx, "\"actions\":[\"tool:read\"]"));
    assert_non_null(strstr(ctx, "\"purpose\":\"triage ticket 42\""));
    assert_non_null(strstr(ctx, "\"cert_bound\":false"));
    writ_free_string(ctx);
    writ_task_token_free(tt);
    wr_free(root);
    wr_free(t1);
    wr_free(t2);
}

/* One cover function for narrowing and enforcement: exact or prefix '*',
 * nothing else.  Suffix patterns are refused at mint, at delegation and in a
 * signed token; what delegation accepts as narrower is what
 * writ_scope_covers says the parent covers. */
static void test_scope_covers(void **state)
{
    (void)state;
    static const struct {
        const char *item, *value;
        bool want;
    } cases[] = {
        {"tool:read", "tool:read", true},
        {"tool:read", "tool:reads", false},
        {"tool:read", "Tool:read", false},
        {"repo:corp/*", "repo:corp/api", true},
        {"repo:corp/*", "repo:corp/", true},
        {"repo:corp/*", "repo:corpx", false},
        {"*", "anything", true},
        {"*", "", true},
        {"*.corp.example", "git.corp.example", false},
        {"repo:*", "repo:corp/*", true},
        {"repo", "repo*", false},
        {"", "", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (writ_scope_covers(cases[i].item, cases[i].value) != cases[i].want) {
            fprintf(stderr, "case %zu: %s covers %s\n", i, cases[i].item, cases[i].value);
            fail();
        }
    assert_false(writ_scope_covers(NULL, "x"));
    assert_false(writ_scope_covers("x", NULL));
    const char *const list[] = {"tool:read", "repo:*"};
    assert_true(writ_scope_list_covers(list, 2, "repo:x"));
    assert_true(writ_scope_list_covers(list, 2, "tool:read"));
    assert_false(writ_scope_list_covers(list, 2, "tool:write"));
    assert_false(writ_scope_list_covers(list, 0, "tool:read"));
    assert_false(writ_scope_list_covers(NULL, 2, "tool:read"));
    /* reaches: could the item cover something under a prefix */
    static const struct {
        const char *item, *prefix;
        bool want;
    } reach[] = {{"mcp/add", "mcp/", true}, {"mcp/a*", "mcp/", true}, {"m*", "mcp/", true},
                 {"*", "mcp/", true},       {"mcp/", "mcp/", false},   {"mcp/*", "mcp/", true},
                 {"mc", "mcp/", false},     {"mcp", "mcp/", false},   {"other/add", "mcp/", false},
                 {"mcq*", "mcp/", false},   {"mcpx/*", "mcp/", false}, {"", "mcp/", false}};
    for (size_t i = 0; i < sizeof reach / sizeof *reach; i++)
        if (writ_scope_reaches(reach[i].item, reach[i].prefix) != reach[i].want) {
            fprintf(stderr, "case %zu: %s reaches %s\n", i, reach[i].item, reach[i].prefix);
            fail();
        }
    assert_false(writ_scope_reaches(NULL, "x"));
    assert_false(writ_scope_reaches("x", NULL));

    /* suffix patterns: refused at mint, for every list */
    writ_error err;
    writ_reason why;
    char *t = NULL;
    size_t l;
    const char *const suffix[] = {"*.corp.example"};
    for (int which = 0; which < 3; which++) {
        writ_task_scope bs = SCOPE;
        if (which == 0)
            bs.actions = suffix, bs.n_actions = 1;
        else if (which == 1)
            bs.resources = suffix, bs.n_resources = 1;
        else
            bs.destinations = suffix, bs.n_destinations = 1;
        writ_mint_request rq = {.scope = &bs, .now = NOW};
        assert_int_not_equal(writ_token_mint(F.kr, &F.cfg, F.a, &rq, &t, &l, &why, &err), WRIT_OK);
        assert_null(t);
        assert_int_equal(why, WRIT_R_SCOPE);
        assert_non_null(strstr(err.msg, "prefix pattern ending in '*'"));
    }
    /* destinations are folded to lower case at mint */
    char *root = mint(F.a, 600);
    writ_task_token *tt;
    assert_int_equal(verify(root, NOW, NULL, &tt, &why, &err), WRIT_OK);
    writ_task_scope sc;
    writ_task_token_scope(tt, &sc);
    assert_int_equal(sc.n_destinations, 2);
    assert_string_equal(sc.destinations[0], "api.github.com");
    assert_string_equal(sc.destinations[1], "git.corp.*");
    writ_task_token_free(tt);
    /* delegation narrows exactly where writ_scope_covers says so */
    static const char *const children[] = {"repo:corp/api", "repo:corp/*", "repo:corpx", "repo:*",
                                           "ticket:42",     "ticket:420",  "*"};
    for (size_t i = 0; i < sizeof children / sizeof children[0]; i++) {
        const char *const one[] = {children[i]};
        writ_task_scope cs = {.resources = one, .n_resources = 1};
        char *d = NULL;
        writ_status st = delegate(root, F.a, B, &cs, 0, NOW, &d, &why, &err);
        bool covered = writ_scope_list_covers(res, 2, children[i]);
        if ((st == WRIT_OK) != covered) {
            fprintf(stderr, "child %s: delegate %s, covers %d\n", children[i], err.msg, covered);
            fail();
        }
        wr_free(d);
    }
    /* a destination given in another case narrows the same way, stored lower */
    const char *const up[] = {"GIT.Corp.Example"};
    writ_task_scope ds = {.destinations = up, .n_destinations = 1};
    char *d = NULL;
    assert_int_equal(delegate(root, F.a, B, &ds, 0, NOW, &d, &why, &err), WRIT_OK);
    assert_int_equal(verify(d, NOW, NULL, &tt, &why, &err), WRIT_OK);
    writ_task_token_scope(tt, &sc);
    assert_string_equal(sc.destinations[0], "git.corp.example");
    writ_task_token_free(tt);
    wr_free(d);
    wr_free(root);
}

static void test_sensitivity(void **state)
{
    (void)state;
    assert_int_equal(writ_sensitivity_rank("public"), 0);
    assert_int_equal(writ_sensitivity_rank("internal"), 1);
    assert_int_equal(writ_sensitivity_rank("confidential"), 2);
    assert_int_equal(writ_sensitivity_rank("restricted"), 3);
    assert_int_equal(writ_sensitivity_rank("Public"), -1);
    assert_int_equal(writ_sensitivity_rank(NULL), -1);
    assert_int_equal(writ_sensitivity_rank_of(0), 0);
    assert_int_equal(writ_sensitivity_rank_of(2), 2);
    assert_int_equal(writ_sensitivity_rank_of(3), 3);
    assert_int_equal(writ_sensitivity_rank_of(4), 3);
    assert_int_equal(writ_sensitivity_rank_of(INT64_MAX), 3);
    assert_int_equal(writ_sensitivity_rank_of(-1), -1);
    assert_int_equal(writ_sensitivity_rank_of(INT64_MIN), -1);
    assert_true(writ_sensitivity_allows("internal", true, 1));
    assert_true(writ_sensitivity_allows("internal", true, 0));
    assert_false(writ_sensitivity_allows("internal", true, 2));
    assert_false(writ_sensitivity_allows("confidential", true, 4));
    assert_true(writ_sensitivity_allows("restricted", true, 4));
    /* no sensitivity attribute = restricted */
    assert_false(writ_sensitivity_allows("confidential", false, 0));
    assert_true(writ_sensitivity_allows("restricted", false, 0));
    /* unknown ceiling or negative level: deny */
    assert_false(writ_sensitivity_allows("top-secret", true, 0));
    assert_false(writ_sensitivity_allows(NULL, true, 0));
    assert_false(writ_sensitivity_allows("restricted", true, -1));
}

static void test_keys(void **state)
{
    (void)state;
    writ_error err;
    writ_reason why;
    writ_keyring *kr = writ_keyring_new();
    char k1[44], k2[44];
    assert_int_equal(writ_keyring_generate(kr, WRIT_KEY_ES256, k1, &err), WRIT_OK);
    writ_mint_request rq = {.scope = &SCOPE, .now = NOW};
    char *t1, *t2;
    size_t l;
    assert_int_equal(writ_token_mint(kr, &F.cfg, F.a, &rq, &t1, &l, &why, &err), WRIT_OK);
    /* rotate: the new key signs, the old one still verifies */
    assert_int_equal(writ_keyring_generate(kr, WRIT_KEY_EDDSA, k2, &err), WRIT_OK);
    assert_string_equal(writ_keyring_active_kid(kr), k2);
    assert_int_equal(writ_token_mint(kr, &F.cfg, F.a, &rq, &t2, &l, &why, &err), WRIT_OK);
    writ_token_verifier *v;
    assert_int_equal(writ_token_verifier_from_keyring(kr, ISS, 0, &v, &err), WRIT_OK);
    writ_token_check chk = {.audience = AUD, .now = NOW};
    writ_task_token *tt;
    assert_int_equal(writ_token_verify(v, &chk, t1, strlen(t1), &tt, &why, &err), WRIT_OK);
    writ_task_token_free(tt);
    assert_int_equal(writ_token_verify(v, &chk, t2, strlen(t2), &tt, &why, &err), WRIT_OK);
    writ_task_token_free(tt);
    writ_token_verifier_free(v);
    /* JWKS holds public keys only */
    char *jwks;
    assert_int_equal(writ_keyring_jwks(kr, &jwks, &l, &err), WRIT_OK);
    assert_null(strstr(jwks, "\"d\""));
    assert_non_null(strstr(jwks, k1));
    assert_non_null(strstr(jwks, "\"crv\":\"Ed25519\""));
    /* retire the old key: its tokens stop verifying */
    assert_int_equal(writ_keyring_remove(kr, k1, &err), WRIT_OK);
    assert_int_equal(writ_token_verifier_from_keyring(kr, ISS, 0, &v, &err), WRIT_OK);
    assert_int_not_equal(writ_token_verify(v, &chk, t1, strlen(t1), &tt, &why, &err), WRIT_OK);
    assert_int_equal(why, WRIT_R_KID_UNKNOWN);
    writ_token_verifier_free(v);
    assert_int_not_equal(writ_keyring_remove(kr, k2, &err), WRIT_OK + 99); /* last key may go */
    /* PEM round trip keeps the kid */
    writ_keyring *kr2 = writ_keyring_new();
    char *pem;
    assert_int_equal(writ_keyring_private_pem(F.kr, NULL, &pem, &l, &err), WRIT_OK);
    char kid[44];
    assert_int_equal(writ_keyring_add_pem(kr2, pem, l, true, kid, &err), WRIT_OK);
    assert_string_equal(kid, writ_keyring_active_kid(F.kr));
    assert_int_equal(writ_keyring_add_pem(kr2, pem, l, true, kid, &err), WRIT_EDUP);
    assert_int_not_equal(writ_keyring_add_pem(kr2, "junk", 4, true, kid, &err), WRIT_OK);
    writ_free_string(pem);
    writ_free_string(jwks);
    writ_keyring_free(kr2);
    writ_keyring_free(kr);
    writ_keyring_free(NULL);
    wr_free(t1);
    wr_free(t2);
}

/* -------------------------------------------------------------- hostile */

/* Sign arbitrary claims with Writ's own active key (what a bug in the issuer,
 * or a stolen key with a sloppy attacker, would produce). */
static char *sign_with_writ(const char *hdr_typ, const char *claims)
{
    const wr_key *k = wr_keyring_active(F.kr);
    char hdr[256];
    snprintf(hdr, sizeof hdr, "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"%s\"}", k->kid, hdr_typ);
    return fx_jws(k->pkey, WR_ALG_ES256, hdr, claims);
}

#define BASE_CLAIMS                                                                                          \
    "\"iss\":\"" ISS "\",\"sub\":\"" A "\",\"aud\":\"" AUD                                                   \
    "\",\"iat\":1700000000,\"jti\":\"j1\",\"txn\":\"t1\","                                                   \
    "\"scope\":\"tool:read\",\"purp\":\"p\",\"req_wl\":\"" A "\","                                           \
    "\"tctx\":{\"purpose\":\"p\",\"actions\":[\"tool:read\"],\"resources\":[],\"sensitivity\":\"public\","   \
    "\"destinations\":[]}"

static size_t n_fail;

static void expect(const char *name, writ_status st, writ_reason why, const writ_error *err, writ_reason want)
{
    if (st == WRIT_OK || why != want ||
        strncmp(err->msg, writ_reason_name(want), strlen(writ_reason_name(want)))) {
        fprintf(stderr, "FAIL %-36s want %s got %s (%s)\n", name, writ_reason_name(want),
                st == WRIT_OK ? "ok" : writ_reason_name(why), st == WRIT_OK ? "" : err->msg);
        n_fail++;
    } else {
        printf("  refused %-36s %s\n", name, err->msg);
    }
}

static void vexpect(const char *name, const char *tok, int64_t now, const char *cert, writ_reason want)
{
    writ_task_token *tt = (writ_task_token *)0x1;
    writ_reason why = WRIT_R_OK;
    writ_error err = {0};
    writ_status st = verify(tok, now, cert, &tt, &why, &err);
    if (st == WRIT_OK)
        writ_task_token_free(tt);
    else
        assert_null(tt);
    expect(name, st, why, &err, want);
}

static void dexpect(const char *name, const char *parent, const writ_identity *presenter, const char *target,
                    const writ_task_scope *scope, uint32_t ttl, int64_t now, writ_reason want)
{
    char *out = (char *)0x1;
    writ_reason why = WRIT_R_OK;
    writ_error err = {0};
    writ_status st = delegate(parent, presenter, target, scope, ttl, now, &out, &why, &err);
    if (st == WRIT_OK)
        wr_free(out);
    else
        assert_null(out);
    expect(name, st, why, &err, want);
}

/* A list in a task token: "" when it is absent or empty (any), else its
 * items joined with ','. */
static const char *list_text(const char *const *items, size_t n)
{
    static char out[256];
    size_t w = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        w += (size_t)snprintf(out + w, sizeof out - w, "%s%s", i ? "," : "", items[i]);
    return out;
}

/* Delegation narrows resources and destinations, each of which is "any"
 * when the parent has none: every combination of a parent with and without
 * the list (the listed parent is SCOPE's) and a child that omits it, gives
 * it empty, narrower, equal or wider. */
static void test_delegate_lists(void **state)
{
    (void)state;
    enum { OMIT, EMPTY, LIST };
    typedef struct {
        bool parent_any;
        int child;
        const char *items[3]; /* resources or destinations: the same cases */
        const char *want;     /* the child's list, or NULL: refused (scope) */
    } list_case;
    static const list_case res_cases[] = {
        {true, LIST, {"writ-a"}, "writ-a"},
        {true, LIST, {"writ-a", "writ-b*"}, "writ-a,writ-b*"},
        {true, LIST, {"*"}, "*"},
        {true, OMIT, {NULL}, ""},
        {true, EMPTY, {NULL}, ""},
        {false, OMIT, {NULL}, "repo:corp/*,ticket:42"}, /* inherited */
        {false, EMPTY, {NULL}, NULL},                   /* empty is any: wider */
        {false, LIST, {"repo:corp/api"}, "repo:corp/api"},
        {false, LIST, {"repo:corp/*", "ticket:42"}, "repo:corp/*,ticket:42"},
        {false, LIST, {"repo:corp/*", "ticket:42", "other"}, NULL},
        {false, LIST, {"other"}, NULL},
        {false, LIST, {"*"}, NULL},
        {false, LIST, {"repo:*"}, NULL},
    };
    static const list_case dest_cases[] = {
        {true, LIST, {"internal"}, "internal"},
        {true, LIST, {"Internal", "git.*"}, "internal,git.*"},
        {true, OMIT, {NULL}, ""},
        {true, EMPTY, {NULL}, ""},
        {false, OMIT, {NULL}, "api.github.com,git.corp.*"},
        {false, EMPTY, {NULL}, NULL},
        {false, LIST, {"git.corp.example"}, "git.corp.example"},
        {false, LIST, {"api.github.com", "git.corp.*", "internal"}, NULL},
        {false, LIST, {"internal"}, NULL},
        {false, LIST, {"git.*"}, NULL},
    };
    writ_task_scope any = SCOPE;
    any.resources = any.destinations = NULL;
    any.n_resources = any.n_destinations = 0;
    writ_mint_request rq = {.scope = &any, .txn = "task-42", .ttl = 600, .now = NOW};
    char *open_root, *listed_root = mint(F.a, 600);
    size_t l;
    writ_reason why;
    writ_error err;
    assert_int_equal(writ_token_mint(F.kr, &F.cfg, F.a, &rq, &open_root, &l, &why, &err), WRIT_OK);
    static const char *const none[] = {NULL};
    for (int dest = 0; dest < 2; dest++) {
        size_t nc = dest ? sizeof dest_cases / sizeof dest_cases[0] : sizeof res_cases / sizeof res_cases[0];
        for (size_t i = 0; i < nc; i++) {
            const list_case *c = dest ? &dest_cases[i] : &res_cases[i];
            size_t n = 0;
            while (n < 3 && c->items[n])
                n++;
            const char *const *items = c->child == OMIT ? NULL : c->child == EMPTY ? none : c->items;
            writ_task_scope cs = {0};
            if (dest)
                cs.destinations = items, cs.n_destinations = n;
            else
                cs.resources = items, cs.n_resources = n;
            char *d = NULL;
            writ_status st =
                delegate(c->parent_any ? open_root : listed_root, F.a, B, &cs, 0, NOW, &d, &why, &err);
            const char *got = "refused";
            writ_task_token *tt = NULL;
            if (st == WRIT_OK) {
                assert_int_equal(verify(d, NOW, NULL, &tt, &why, &err), WRIT_OK);
                writ_task_scope sc;
                writ_task_token_scope(tt, &sc);
                got = dest ? list_text(sc.destinations, sc.n_destinations)
                           : list_text(sc.resources, sc.n_resources);
            } else if (why != WRIT_R_SCOPE) {
                got = err.msg;
            }
            if (strcmp(got, c->want ? c->want : "refused")) {
                fprintf(stderr, "FAIL %s case %zu: parent %s: got '%s', want '%s' (%s)\n",
                        dest ? "destinations" : "resources", i, c->parent_any ? "any" : "listed", got,
                        c->want ? c->want : "refused", st ? err.msg : "");
                n_fail++;
            }
            writ_task_token_free(tt);
            wr_free(d);
        }
    }
    /* from an any-resource parent, the rest still only narrows */
    static const char *const wider_act[] = {"tool:read", "tool:admin"};
    writ_task_scope cs = {.actions = wider_act, .n_actions = 2};
    dexpect("any parent: an action it lacks", open_root, F.a, B, &cs, 0, NOW, WRIT_R_SCOPE);
    cs = (writ_task_scope){.sensitivity = "restricted"};
    dexpect("any parent: sensitivity above", open_root, F.a, B, &cs, 0, NOW, WRIT_R_SCOPE);
    cs = (writ_task_scope){.purpose = "something else"};
    dexpect("any parent: another purpose", open_root, F.a, B, &cs, 0, NOW, WRIT_R_SCOPE);
    assert_int_equal(n_fail, 0);
    wr_free(open_root);
    wr_free(listed_root);
}

static void vok(const char *tok, int64_t now)
{
    writ_task_token *tt;
    writ_reason why;
    writ_error err;
    writ_status st = verify(tok, now, NULL, &tt, &why, &err);
    if (st != WRIT_OK)
        fprintf(stderr, "unexpected refusal: %s\n", err.msg);
    assert_int_equal(st, WRIT_OK);
    writ_task_token_free(tt);
}

/* anc[i] of a verified token, via its claims JSON. */
static void ancestor_jti(const char *tok, size_t i, char out[64])
{
    writ_task_token *tt;
    writ_reason why;
    writ_error err;
    assert_int_equal(verify(tok, NOW, NULL, &tt, &why, &err), WRIT_OK);
    char *cj = writ_task_token_claims_json(tt);
    json_t *c = json_loads(cj, 0, NULL);
    snprintf(out, 64, "%s", json_string_value(json_array_get(json_object_get(c, "anc"), i)));
    json_decref(c);
    writ_free_string(cj);
    writ_task_token_free(tt);
}

static void test_hostile(void **state)
{
    (void)state;
    n_fail = 0;
    writ_error err;
    writ_reason why;
    char *root = mint(F.a, 600);
    char *bound = mint(F.a_mtls, 600);

    /* verification */
    vexpect("expired task token", root, NOW + 601, NULL, WRIT_R_EXPIRED);
    vexpect("task token used before iat", root, NOW - 100, NULL, WRIT_R_IAT);
    {
        writ_token_check chk = {.audience = "other.example", .now = NOW};
        writ_task_token *tt;
        writ_status st = writ_token_verify(F.v, &chk, root, strlen(root), &tt, &why, &err);
        expect("wrong audience", st, why, &err, WRIT_R_AUD);
    }
    {
        writ_token_verifier *v2;
        assert_int_equal(writ_token_verifier_from_keyring(F.kr, "https://evil.example", 0, &v2, &err),
                         WRIT_OK);
        writ_token_check chk = {.audience = AUD, .now = NOW};
        writ_task_token *tt;
        writ_status st = writ_token_verify(v2, &chk, root, strlen(root), &tt, &why, &err);
        expect("wrong issuer", st, why, &err, WRIT_R_ISS);
        writ_token_verifier_free(v2);
    }
    {
        writ_keyring *evil = writ_keyring_new();
        assert_int_equal(writ_keyring_generate(evil, WRIT_KEY_ES256, NULL, &err), WRIT_OK);
        writ_mint_request rq = {.scope = &SCOPE, .now = NOW};
        char *t;
        size_t l;
        assert_int_equal(writ_token_mint(evil, &F.cfg, F.a, &rq, &t, &l, &why, &err), WRIT_OK);
        vexpect("token from another issuer key", t, NOW, NULL, WRIT_R_KID_UNKNOWN);
        wr_free(t);
        /* the attacker copies Writ's kid into the header */
        const wr_key *ek = wr_keyring_active(evil);
        char hdr[160];
        snprintf(hdr, sizeof hdr, "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"txntoken+jwt\"}",
                 writ_keyring_active_kid(F.kr));
        t = fx_jws(ek->pkey, WR_ALG_ES256, hdr, "{" BASE_CLAIMS ",\"exp\":1700000300}");
        vexpect("forged with Writ's kid", t, NOW, NULL, WRIT_R_SIGNATURE);
        wr_free(t);
        writ_keyring_free(evil);
    }
    {
        /* scope widened inside a signed token: re-encode the payload */
        char *t = sign_with_writ("txntoken+jwt", "{" BASE_CLAIMS ",\"exp\":1700000300}");
        char *d1 = strchr(t, '.'), *d2 = strchr(d1 + 1, '.');
        const char *wide =
            "{\"iss\":\"" ISS "\",\"sub\":\"" A "\",\"aud\":\"" AUD "\",\"iat\":1700000000,"
            "\"jti\":\"j1\",\"txn\":\"t1\",\"scope\":\"tool:read tool:admin\",\"purp\":\"p\","
            "\"req_wl\":\"" A "\",\"tctx\":{\"purpose\":\"p\",\"actions\":[\"tool:read\",\"tool:admin\"],"
            "\"resources\":[],\"sensitivity\":\"public\",\"destinations\":[]},\"exp\":1700000300}";
        char *nt = wr_malloc(strlen(t) + 1024);
        size_t hl = (size_t)(d1 - t) + 1;
        memcpy(nt, t, hl);
        size_t pl = wr_b64url_encode((const unsigned char *)wide, strlen(wide), nt + hl);
        memcpy(nt + hl + pl, d2, strlen(d2) + 1);
        vexpect("tampered payload", nt, NOW, NULL, WRIT_R_SIGNATURE);
        wr_free(nt);
        wr_free(t);
    }
    {
        char *t = sign_with_writ("JWT", "{" BASE_CLAIMS ",\"exp\":1700000300}");
        vexpect("identity-typed token as task token", t, NOW, NULL, WRIT_R_TYP);
        wr_free(t);
        t = sign_with_writ("txntoken+jwt", "{" BASE_CLAIMS ",\"exp\":1700090000}");
        vexpect("lifetime over the hard max", t, NOW, NULL, WRIT_R_LIFETIME);
        wr_free(t);
        t = sign_with_writ("txntoken+jwt",
                           "{" BASE_CLAIMS ",\"exp\":1700000300,\"depth\":2,\"anc\":[\"x\",\"y\"],"
                           "\"act\":{\"sub\":\"" B "\",\"sub_profile\":\"ai_agent\"}}");
        vexpect("depth does not match act chain", t, NOW, NULL, WRIT_R_CLAIM_TYPE);
        wr_free(t);
        t = sign_with_writ("txntoken+jwt", "{" BASE_CLAIMS ",\"exp\":1700000300,\"depth\":1,\"anc\":[\"x\"],"
                                           "\"act\":{\"sub\":\"" B "\",\"sub_profile\":\"human\"}}");
        vexpect("act without ai_agent profile", t, NOW, NULL, WRIT_R_CLAIM_TYPE);
        wr_free(t);
        t = sign_with_writ("txntoken+jwt", "{" BASE_CLAIMS ",\"exp\":1700000300,\"jti\":\"j2\"}");
        vexpect("duplicate jti claim", t, NOW, NULL, WRIT_R_DUP_KEY);
        wr_free(t);
        t = sign_with_writ("txntoken+jwt",
                           "{" BASE_CLAIMS ",\"exp\":1700000300,\"scope\":\"tool:read tool:admin\"}");
        vexpect("duplicate scope claim", t, NOW, NULL, WRIT_R_DUP_KEY);
        wr_free(t);
        t = sign_with_writ("txntoken+jwt",
                           "{\"iss\":\"" ISS "\",\"sub\":\"" A "\",\"aud\":\"" AUD
                           "\",\"iat\":1700000000,\"exp\":1700000300,\"jti\":\"j\",\"txn\":\"t\","
                           "\"scope\":\"tool:read tool:admin\",\"purp\":\"p\",\"tctx\":{\"purpose\":\"p\","
                           "\"actions\":[\"tool:read\"],\"sensitivity\":\"public\"}}");
        vexpect("scope string disagrees with tctx", t, NOW, NULL, WRIT_R_CLAIM_TYPE);
        wr_free(t);
        t = sign_with_writ("txntoken+jwt",
                           "{\"iss\":\"" ISS "\",\"sub\":\"" A "\",\"aud\":\"" AUD
                           "\",\"iat\":1700000000,\"exp\":1700000300,\"jti\":\"j\",\"txn\":\"t\","
                           "\"scope\":\"tool:read\",\"purp\":\"p\"}");
        vexpect("tctx missing", t, NOW, NULL, WRIT_R_CLAIM_MISSING);
        wr_free(t);
        t = sign_with_writ("txntoken+jwt",
                           "{\"iss\":\"" ISS "\",\"sub\":\"" A "\",\"aud\":\"" AUD
                           "\",\"iat\":1700000000,\"exp\":1700000300,\"jti\":\"j\",\"txn\":\"t\","
                           "\"scope\":\"tool:read\",\"purp\":\"p\",\"tctx\":{\"purpose\":\"p\","
                           "\"actions\":[\"tool:read\"],\"resources\":[\"*.corp.example\"],"
                           "\"sensitivity\":\"public\"}}");
        vexpect("suffix pattern in a signed token", t, NOW, NULL, WRIT_R_CLAIM_TYPE);
        wr_free(t);
        t = sign_with_writ("txntoken+jwt",
                           "{\"iss\":\"" ISS "\",\"sub\":\"" A "\",\"aud\":\"" AUD
                           "\",\"iat\":1700000000,\"exp\":1700000300,\"jti\":\"j\",\"txn\":\"t\","
                           "\"scope\":\"tool:read\",\"purp\":\"p\",\"tctx\":{\"purpose\":\"p\","
                           "\"actions\":[\"tool:read\"],\"destinations\":[\"Internal\"],"
                           "\"sensitivity\":\"public\"}}");
        vexpect("upper-case destination in a signed token", t, NOW, NULL, WRIT_R_CLAIM_TYPE);
        wr_free(t);
    }
    {
        char *t = fx_unsigned("{\"alg\":\"none\",\"typ\":\"txntoken+jwt\"}",
                              "{" BASE_CLAIMS ",\"exp\":1700000300}");
        vexpect("alg none task token", t, NOW, NULL, WRIT_R_ALG);
        wr_free(t);
        /* HS256 keyed with Writ's own published JWKS */
        char *jwks;
        size_t jl;
        assert_int_equal(writ_keyring_jwks(F.kr, &jwks, &jl, &err), WRIT_OK);
        t = fx_hs256((const unsigned char *)jwks, jl, "{\"alg\":\"HS256\",\"typ\":\"txntoken+jwt\"}",
                     "{" BASE_CLAIMS ",\"exp\":1700000300}");
        vexpect("HS256 keyed with the JWKS", t, NOW, NULL, WRIT_R_ALG);
        wr_free(t);
        writ_free_string(jwks);
        vexpect("truncated task token", "eyJhbGciOiJFUzI1NiJ9.e30", NOW, NULL, WRIT_R_MALFORMED);
    }
    {
        /* extreme times in an issuer-signed token: refused, never wrapped
         * (run under UBSan in the asan build) */
        static const struct {
            const char *name, *times;
            writ_reason want;
        } tc[] = {
            {"iat INT64_MIN", "\"iat\":-9223372036854775808,\"exp\":1700000300", WRIT_R_LIFETIME},
            {"iat INT64_MIN, exp INT64_MAX", "\"iat\":-9223372036854775808,\"exp\":9223372036854775807",
             WRIT_R_LIFETIME},
            {"exp INT64_MAX", "\"iat\":1700000000,\"exp\":9223372036854775807", WRIT_R_LIFETIME},
            {"iat and exp near INT64_MAX", "\"iat\":9223372036854775000,\"exp\":9223372036854775807",
             WRIT_R_CLAIM_TYPE},
            {"iat and exp near INT64_MIN", "\"iat\":-9223372036854775808,\"exp\":-9223372036854775000",
             WRIT_R_CLAIM_TYPE},
            {"nbf INT64_MIN", "\"iat\":1700000000,\"exp\":1700000300,\"nbf\":-9223372036854775808",
             WRIT_R_CLAIM_TYPE},
            {"nbf INT64_MAX", "\"iat\":1700000000,\"exp\":1700000300,\"nbf\":9223372036854775807",
             WRIT_R_CLAIM_TYPE},
        };
        for (size_t i = 0; i < sizeof tc / sizeof tc[0]; i++) {
            char claims[1024];
            snprintf(claims, sizeof claims,
                     "{\"iss\":\"" ISS "\",\"sub\":\"" A "\",\"aud\":\"" AUD "\",%s,\"jti\":\"j1\","
                     "\"txn\":\"t1\",\"scope\":\"tool:read\",\"purp\":\"p\",\"tctx\":{\"purpose\":\"p\","
                     "\"actions\":[\"tool:read\"],\"sensitivity\":\"public\"}}",
                     tc[i].times);
            char *t = sign_with_writ("txntoken+jwt", claims);
            vexpect(tc[i].name, t, NOW, NULL, tc[i].want);
            vexpect(tc[i].name, t, INT64_MAX, NULL, tc[i].want);
            wr_free(t);
        }
        /* a caller's clock at the extremes: no overflow, a clean refusal */
        char *t = mint(F.a, 600);
        vexpect("verify at now = INT64_MAX", t, INT64_MAX, NULL, WRIT_R_EXPIRED);
        vexpect("verify at now = INT64_MIN", t, INT64_MIN, NULL, WRIT_R_IAT);
        dexpect("delegate at now = INT64_MAX", t, F.a, B, NULL, 0, INT64_MAX, WRIT_R_EXPIRED);
        dexpect("delegate at now = INT64_MAX, ttl", t, F.a, B, NULL, 60, INT64_MAX, WRIT_R_EXPIRED);
        wr_free(t);
        writ_mint_request rq = {.scope = &SCOPE, .ttl = 900, .now = INT64_MAX};
        size_t l;
        t = NULL;
        writ_identity *soon;
        assert_int_equal(writ_identity_new(WRIT_ID_JWT_SVID, A, NULL, INT64_MAX, NULL, &soon, &err), WRIT_OK);
        writ_status st = writ_token_mint(F.kr, &F.cfg, soon, &rq, &t, &l, &why, &err);
        expect("mint at now = INT64_MAX", st, why, &err, WRIT_R_INTERNAL);
        assert_null(t);
        writ_identity_free(soon);
    }
    {
        /* the high-S twin of a task token Writ signed (OpenSSL accepts it) */
        for (int round = 0; round < 8; round++) {
            char *t = mint(F.a, 600);
            bool high;
            char *twin = fx_flip_s(t, NID_X9_62_prime256v1, 32, &high);
            assert_false(high);
            assert_true(fx_openssl_accepts(wr_keyring_active(F.kr)->pkey, twin, EVP_sha256(), 32));
            vexpect("high-S twin of a task token", twin, NOW, NULL, WRIT_R_SIGNATURE);
            vok(t, NOW);
            wr_free(twin);
            wr_free(t);
        }
    }
    /* certificate binding */
    vexpect("cert-bound token, no cert", bound, NOW, NULL, WRIT_R_CNF_MISSING);
    vexpect("cert-bound token, other cert", bound, NOW, CERT_X, WRIT_R_CNF_MISMATCH);
    /* minting */
    {
        writ_mint_request rq = {.scope = &SCOPE, .ttl = 901, .now = NOW};
        char *t = NULL;
        size_t l;
        writ_status st = writ_token_mint(F.kr, &F.cfg, F.a, &rq, &t, &l, &why, &err);
        expect("mint ttl over max", st, why, &err, WRIT_R_TTL);
        writ_issuer_config big = F.cfg;
        big.max_ttl = 100000; /* clamped to the hard max */
        rq.ttl = WRIT_HARD_MAX_TTL + 1;
        st = writ_token_mint(F.kr, &big, F.a, &rq, &t, &l, &why, &err);
        expect("mint ttl over hard max", st, why, &err, WRIT_R_TTL);
        const char *const bad_acts[] = {"tool:*:x"};
        writ_task_scope bs = SCOPE;
        bs.actions = bad_acts;
        bs.n_actions = 1;
        rq = (writ_mint_request){.scope = &bs, .now = NOW};
        st = writ_token_mint(F.kr, &F.cfg, F.a, &rq, &t, &l, &why, &err);
        expect("mint with a mid-string wildcard", st, why, &err, WRIT_R_SCOPE);
        bs = SCOPE;
        bs.sensitivity = "top-secret";
        st = writ_token_mint(F.kr, &F.cfg, F.a, &rq, &t, &l, &why, &err);
        expect("mint with unknown sensitivity", st, why, &err, WRIT_R_SCOPE);
        writ_identity *old;
        assert_int_equal(writ_identity_new(WRIT_ID_JWT_SVID, A, NULL, NOW - 1, NULL, &old, &err), WRIT_OK);
        rq.scope = &SCOPE;
        st = writ_token_mint(F.kr, &F.cfg, old, &rq, &t, &l, &why, &err);
        expect("mint from an expired identity", st, why, &err, WRIT_R_EXPIRED);
        writ_identity_free(old);
    }
    /* delegation */
    const char *const wide_acts[] = {"tool:read", "tool:admin"};
    writ_task_scope s_act = {.actions = wide_acts, .n_actions = 2};
    dexpect("scope widening: action", root, F.a, B, &s_act, 0, NOW, WRIT_R_SCOPE);
    const char *const wide_res[] = {"repo:*"};
    writ_task_scope s_res = {.resources = wide_res, .n_resources = 1};
    dexpect("scope widening: resource pattern", root, F.a, B, &s_res, 0, NOW, WRIT_R_SCOPE);
    const char *const other_res[] = {"ticket:43"};
    writ_task_scope s_res2 = {.resources = other_res, .n_resources = 1};
    dexpect("scope widening: other resource", root, F.a, B, &s_res2, 0, NOW, WRIT_R_SCOPE);
    writ_task_scope s_sens = {.sensitivity = "restricted"};
    dexpect("scope widening: sensitivity", root, F.a, B, &s_sens, 0, NOW, WRIT_R_SCOPE);
    const char *const wide_dest[] = {"evil.example"};
    writ_task_scope s_dest = {.destinations = wide_dest, .n_destinations = 1};
    dexpect("scope widening: destination", root, F.a, B, &s_dest, 0, NOW, WRIT_R_SCOPE);
    writ_task_scope s_purp = {.purpose = "exfiltrate"};
    dexpect("purpose change", root, F.a, B, &s_purp, 0, NOW, WRIT_R_SCOPE);
    dexpect("expiry extension", root, F.a, B, NULL, 700, NOW + 10, WRIT_R_EXPIRY);
    dexpect("delegation ttl over max", root, F.a, B, NULL, 1000, NOW, WRIT_R_TTL);
    dexpect("expired parent", root, F.a, B, NULL, 0, NOW + 700, WRIT_R_EXPIRED);
    dexpect("presenter is not the holder", root, F.b, C, NULL, 0, NOW, WRIT_R_ACTOR);
    dexpect("target not a SPIFFE ID", root, F.a, "bob", NULL, 0, NOW, WRIT_R_SUB);
    dexpect("target a bare trust domain", root, F.a, "spiffe://corp.example", NULL, 0, NOW, WRIT_R_SUB);
    dexpect("target a bare trust domain with '/'", root, F.a, "spiffe://corp.example/", NULL, 0, NOW,
            WRIT_R_SUB);
    dexpect("cert-bound parent, presenter without cert", bound, F.a, B, NULL, 0, NOW, WRIT_R_CNF_MISSING);
    {
        /* depth: A -> B -> C -> D is depth 3 = the limit; D -> E overflows */
        writ_identity *c, *d;
        assert_int_equal(writ_identity_new(WRIT_ID_JWT_SVID, C, NULL, 0, NULL, &c, &err), WRIT_OK);
        assert_int_equal(writ_identity_new(WRIT_ID_JWT_SVID, D, NULL, 0, NULL, &d, &err), WRIT_OK);
        char *t1, *t2, *t3;
        assert_int_equal(delegate(root, F.a, B, NULL, 0, NOW, &t1, &why, &err), WRIT_OK);
        assert_int_equal(delegate(t1, F.b, C, NULL, 0, NOW, &t2, &why, &err), WRIT_OK);
        assert_int_equal(delegate(t2, c, D, NULL, 0, NOW, &t3, &why, &err), WRIT_OK);
        dexpect("depth overflow", t3, d, E, NULL, 0, NOW, WRIT_R_DEPTH);
        /* revocation: every kind reaches the right tokens, through the cache */
        vok(t3, NOW); /* warm the cache: revocation must still reach cached tokens */
        assert_int_equal(writ_revocations_add(F.rev, WRIT_REVOKE_JTI, "nope", 4, 0, NULL, &err), WRIT_OK);
        char j1[64];
        ancestor_jti(t2, 1, j1); /* t1's jti */
        assert_int_equal(writ_revocations_add(F.rev, WRIT_REVOKE_JTI, j1, strlen(j1), 0, NULL, &err),
                         WRIT_OK);
        dexpect("revoked parent", t1, F.b, C, NULL, 0, NOW, WRIT_R_REVOKED);
        vok(t2, NOW); /* a jti revocation does not reach the children */
        assert_int_equal(writ_revocations_add(F.rev, WRIT_REVOKE_SUBTREE, j1, strlen(j1), 0, NULL, &err),
                         WRIT_OK);
        vexpect("revoked ancestor subtree", t3, NOW, NULL, WRIT_R_REVOKED);
        writ_free_string(t1);
        writ_free_string(t2);
        writ_free_string(t3);
        writ_identity_free(c);
        writ_identity_free(d);
    }
    {
        char *t = mint(F.b, 0);
        assert_int_equal(writ_revocations_add(F.rev, WRIT_REVOKE_AGENT, B, strlen(B), 0, NULL, &err),
                         WRIT_OK);
        vexpect("revoked agent", t, NOW, NULL, WRIT_R_REVOKED);
        wr_free(t);
        t = mint(F.a, 0);
        assert_int_equal(writ_revocations_add(F.rev, WRIT_REVOKE_TASK, "task-42", 7, 0, NULL, &err), WRIT_OK);
        vexpect("revoked task", t, NOW, NULL, WRIT_R_REVOKED);
        wr_free(t);
    }
    wr_free(root);
    wr_free(bound);
    assert_int_equal(n_fail, 0);
}

/* Identity isolation in tokens: an OIDC subject's token names its principal
 * type (sub_type), an OIDC subject that is a SPIFFE ID is never minted, and
 * a presenter of another type is not the holder. */
static void test_oidc_subject_type(void **state)
{
    (void)state;
    writ_error err;
    writ_reason why;
    writ_identity *alice, *evil, *fake;
    assert_int_equal(
        writ_identity_new(WRIT_ID_OIDC, "alice@corp.example", "https://idp.example", 0, NULL, &alice, &err),
        WRIT_OK);
    writ_mint_request rq = {.scope = &SCOPE, .txn = "task-7", .ttl = 600, .now = NOW};
    char *t = NULL;
    size_t l;
    assert_int_equal(writ_token_mint(F.kr, &F.cfg, alice, &rq, &t, &l, &why, &err), WRIT_OK);
    writ_task_token *tt;
    assert_int_equal(verify(t, NOW, NULL, &tt, &why, &err), WRIT_OK);
    assert_string_equal(writ_task_token_subject(tt), "alice@corp.example");
    assert_string_equal(writ_task_token_subject_type(tt), "User");
    assert_string_equal(writ_task_token_holder_type(tt), "User");
    char *cj = writ_task_token_claims_json(tt);
    assert_non_null(strstr(cj, "\"sub_type\":\"User\""));
    writ_free_string(cj);
    writ_task_token_free(tt);
    /* delegated to an agent: the holder is an agent, the root stays typed */
    char *d = NULL;
    assert_int_equal(delegate(t, alice, B, NULL, 0, NOW, &d, &why, &err), WRIT_OK);
    assert_int_equal(verify(d, NOW, NULL, &tt, &why, &err), WRIT_OK);
    assert_string_equal(writ_task_token_subject_type(tt), "User");
    assert_null(writ_task_token_holder_type(tt));
    assert_string_equal(writ_task_token_holder(tt), B);
    writ_task_token_free(tt);
    wr_free(d);
    /* an SVID that claims the OIDC subject's name is not its holder */
    assert_int_equal(writ_identity_new(WRIT_ID_JWT_SVID, "alice@corp.example", NULL, 0, NULL, &fake, &err),
                     WRIT_OK);
    dexpect("presenter of another principal type", t, fake, B, NULL, 0, NOW, WRIT_R_ACTOR);
    writ_identity_free(fake);
    wr_free(t);
    /* a configured type travels into the token */
    assert_int_equal(writ_identity_set_principal_type(alice, "Writ::Human", &err), WRIT_OK);
    assert_int_equal(writ_token_mint(F.kr, &F.cfg, alice, &rq, &t, &l, &why, &err), WRIT_OK);
    assert_int_equal(verify(t, NOW, NULL, &tt, &why, &err), WRIT_OK);
    assert_string_equal(writ_task_token_holder_type(tt), "Writ::Human");
    writ_task_token_free(tt);
    wr_free(t);
    /* SVID tokens carry no sub_type */
    t = mint(F.a, 0);
    assert_int_equal(verify(t, NOW, NULL, &tt, &why, &err), WRIT_OK);
    assert_null(writ_task_token_subject_type(tt));
    assert_null(writ_task_token_holder_type(tt));
    writ_task_token_free(tt);
    wr_free(t);
    /* refused at mint: an OIDC subject that is a SPIFFE ID, an SVID that is
     * not a workload ID */
    n_fail = 0;
    t = NULL;
    assert_int_equal(writ_identity_new(WRIT_ID_OIDC, A, "https://idp.example", 0, NULL, &evil, &err),
                     WRIT_OK);
    writ_status st = writ_token_mint(F.kr, &F.cfg, evil, &rq, &t, &l, &why, &err);
    expect("OIDC subject that is a SPIFFE ID", st, why, &err, WRIT_R_SUB);
    assert_null(t);
    writ_identity_free(evil);
    static const char *const not_workloads[] = {"spiffe://corp.example", "spiffe://corp.example/", "alice"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(writ_identity_new(WRIT_ID_JWT_SVID, not_workloads[i], NULL, 0, NULL, &evil, &err),
                         WRIT_OK);
        st = writ_token_mint(F.kr, &F.cfg, evil, &rq, &t, &l, &why, &err);
        expect(not_workloads[i], st, why, &err, WRIT_R_SUB);
        writ_identity_free(evil);
    }
    /* a signed token that types a SPIFFE sub, or names a bad type */
    t = sign_with_writ("txntoken+jwt", "{" BASE_CLAIMS ",\"exp\":1700000300,\"sub_type\":\"User\"}");
    vexpect("sub_type on a SPIFFE sub", t, NOW, NULL, WRIT_R_CLAIM_TYPE);
    wr_free(t);
    t = sign_with_writ("txntoken+jwt",
                       "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"" AUD
                       "\",\"iat\":1700000000,\"exp\":1700000300,\"jti\":\"j1\",\"txn\":\"t1\","
                       "\"scope\":\"tool:read\",\"purp\":\"p\",\"tctx\":{\"purpose\":\"p\","
                       "\"actions\":[\"tool:read\"],\"sensitivity\":\"public\"},\"sub_type\":\"A B\"}");
    vexpect("sub_type not a type name", t, NOW, NULL, WRIT_R_CLAIM_TYPE);
    wr_free(t);
    writ_identity_free(alice);
    assert_int_equal(n_fail, 0);
}

/* A revoked agent gets no new task token, and no delegated one; a revoked
 * task no new token. */
static void test_revoked_agent_issuance(void **state)
{
    (void)state;
    writ_error err;
    writ_reason why;
    n_fail = 0;
    char *root = mint(F.a, 600);
    assert_int_equal(writ_revocations_add(F.rev, WRIT_REVOKE_AGENT, B, strlen(B), 0, NULL, &err), WRIT_OK);
    writ_mint_request rq = {.scope = &SCOPE, .now = NOW, .revocations = F.rev};
    char *t = NULL;
    size_t l;
    writ_status st = writ_token_mint(F.kr, &F.cfg, F.b, &rq, &t, &l, &why, &err);
    expect("mint for a revoked agent", st, why, &err, WRIT_R_REVOKED);
    assert_null(t);
    /* others are still issued */
    assert_int_equal(writ_token_mint(F.kr, &F.cfg, F.a, &rq, &t, &l, &why, &err), WRIT_OK);
    wr_free(t);
    /* nor a token of a revoked task (it would be dead on arrival) */
    assert_int_equal(writ_revocations_add(F.rev, WRIT_REVOKE_TASK, "t-dead", 6, 0, NULL, &err), WRIT_OK);
    rq.txn = "t-dead";
    st = writ_token_mint(F.kr, &F.cfg, F.a, &rq, &t, &l, &why, &err);
    expect("mint for a revoked task", st, why, &err, WRIT_R_REVOKED);
    assert_null(t);
    rq.txn = "t-live";
    assert_int_equal(writ_token_mint(F.kr, &F.cfg, F.a, &rq, &t, &l, &why, &err), WRIT_OK);
    wr_free(t);
    dexpect("delegate to a revoked agent", root, F.a, B, NULL, 0, NOW, WRIT_R_REVOKED);
    char *d = NULL;
    assert_int_equal(delegate(root, F.a, C, NULL, 0, NOW, &d, &why, &err), WRIT_OK);
    wr_free(d);
    wr_free(root);
    assert_int_equal(n_fail, 0);
}

/* A token is never minted that every verifier would refuse as too long:
 * a scope just under the size verifies, one over it is refused with the
 * reason and the limit, and nothing is returned. */
static void test_mint_size_cap(void **state)
{
    (void)state;
    static char items[120][101];
    const char *ptr[120];
    for (size_t i = 0; i < 120; i++) {
        snprintf(items[i], sizeof items[i], "tool:%03zu-%0*d", i, 91, 0);
        ptr[i] = items[i];
    }
    writ_error err;
    writ_reason why;
    writ_task_scope sc = SCOPE;
    sc.actions = ptr;
    sc.n_actions = 20; /* 2 KB of actions (carried twice): a token of ~6.6 KB */
    writ_mint_request rq = {.scope = &sc, .txn = "task-big", .now = NOW};
    char *t = NULL;
    size_t len = 0;
    assert_int_equal(writ_token_mint(F.kr, &F.cfg, F.a, &rq, &t, &len, &why, &err), WRIT_OK);
    assert_true(len <= WRIT_DEFAULT_MAX_TOKEN);
    writ_task_token *tt;
    assert_int_equal(verify(t, NOW + 10, NULL, &tt, &why, &err), WRIT_OK);
    writ_task_token_free(tt);
    wr_free(t);
    sc.n_actions = 120; /* 12 KB of actions */
    t = NULL;
    len = 1;
    assert_int_equal(writ_token_mint(F.kr, &F.cfg, F.a, &rq, &t, &len, &why, &err), WRIT_ELIMIT);
    assert_int_equal(why, WRIT_R_SCOPE);
    assert_null(t);
    assert_int_equal(len, 0);
    assert_non_null(strstr(err.msg, "over the 8192 a verifier accepts"));
}

/* Fail the Nth allocation for every N along mint, verify, delegate and
 * revocation: every failure is clean (a status, nothing returned, no leak
 * under ASan), and the first N that does not fail gives the normal answer. */
static void test_alloc_failures(void **state)
{
    (void)state;
    char *root = mint(F.a, 600);
    size_t ok_runs = 0;
    for (long n = 0; n < 4000; n++) {
        writ_error err;
        writ_reason why;
        char *t = (char *)0x1, *d = (char *)0x1;
        size_t l;
        writ_task_token *tt = (writ_task_token *)0x1;
        writ_token_verifier *v = NULL;
        writ_mint_request rq = {.scope = &SCOPE, .now = NOW};
        writ_delegate_request dr = {.target = B, .now = NOW};
        wr_alloc_set_fail_after(n);
        writ_status s1 = writ_token_mint(F.kr, &F.cfg, F.a, &rq, &t, &l, &why, &err);
        writ_status s2 = writ_token_verifier_from_keyring(F.kr, ISS, 8, &v, &err);
        writ_token_check chk = {.audience = AUD, .now = NOW, .revocations = F.rev};
        writ_status s3 = v ? writ_token_verify(v, &chk, root, strlen(root), &tt, &why, &err) : WRIT_ENOMEM;
        writ_status s4 =
            v ? writ_token_delegate(F.kr, &F.cfg, v, F.rev, root, strlen(root), F.a, &dr, &d, &l, &why, &err)
              : WRIT_ENOMEM;
        writ_status s5 = writ_revocations_add(F.rev, WRIT_REVOKE_JTI, "x", 1, 0, NULL, &err);
        wr_alloc_set_fail_after(-1);
        if (s1 == WRIT_OK)
            wr_free(t);
        else
            assert_null(t);
        if (s3 == WRIT_OK)
            writ_task_token_free(tt);
        else if (v)
            assert_null(tt);
        if (s4 == WRIT_OK)
            wr_free(d);
        else if (v)
            assert_null(d);
        writ_token_verifier_free(v);
        (void)s2;
        if (s1 == WRIT_OK && s3 == WRIT_OK && s4 == WRIT_OK && s5 == WRIT_OK && ++ok_runs > 3)
            break;
    }
    assert_true(ok_runs > 0);
    wr_free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mint_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mint_capped_by_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mtls_binding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exchange, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delegation_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scope_covers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delegate_lists, setup, teardown),
        cmocka_unit_test(test_sensitivity),
        cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oidc_subject_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoked_agent_issuance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mint_size_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failures, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
