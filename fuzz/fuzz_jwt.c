/* fuzz_jwt.c - fuzz JWT handling: identity tokens (JWT-SVID / OIDC), task
 * tokens, and - by signing the input as a payload with a real key - the
 * claim checks behind the signature.
 *
 * The first input byte picks the mode (mod 4):
 *   0  input is a compact JWS, verified as an identity token
 *   1  input is a compact JWS, verified as a Writ task token
 *   2  input is a JWT-SVID payload, signed with a trusted key, then verified
 *   3  input is a task-token payload, signed with Writ's key, then verified
 *      (and, when valid, delegated) */
#include "jose/jose.h"
#include "util/alloc.h"
#include "writ/identity.h"
#include "writ/token.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1700000000LL

static struct {
    writ_bundle *bundle;
    writ_keyring *kr;
    writ_token_verifier *v;
    writ_revocations *rev;
    EVP_PKEY *svid_key;
    char writ_kid[44];
} S;

static void init(void)
{
    writ_error err;
    S.svid_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    json_t *jwk = wr_jwk_export(S.svid_key, "k1", WR_ALG_EDDSA);
    json_t *doc = json_pack("{s:[o]}", "keys", jwk);
    char *j = json_dumps(doc, JSON_COMPACT);
    S.bundle = writ_bundle_new();
    S.kr = writ_keyring_new();
    if (!S.svid_key || !j || !S.bundle || !S.kr ||
        writ_bundle_add_spiffe(S.bundle, "corp.example", 12, j, strlen(j), &err) != WRIT_OK ||
        writ_bundle_add_oidc(S.bundle, "https://issuer.example", 22, j, strlen(j), &err) != WRIT_OK ||
        writ_keyring_generate(S.kr, WRIT_KEY_EDDSA, S.writ_kid, &err) != WRIT_OK ||
        writ_token_verifier_from_keyring(S.kr, "https://writ.example", 16, &S.v, &err) != WRIT_OK ||
        writ_revocations_open(NULL, &S.rev, &err) != WRIT_OK ||
        writ_revocations_add(S.rev, WRIT_REVOKE_SUBTREE, "revoked", 7, 0, NULL, &err) != WRIT_OK) {
        fprintf(stderr, "fuzz_jwt: setup failed\n");
        abort();
    }
    wr_json_free(j);
    json_decref(doc);
}

static void check_identity(const char *tok, size_t len)
{
    writ_verify_opts o = {.audience = "writ", .now = NOW, .leeway = 60};
    writ_identity *id = NULL;
    writ_reason why;
    writ_error err;
    if (writ_identity_verify_jwt(S.bundle, &o, tok, len, &id, &why, &err) == WRIT_OK) {
        if (!writ_identity_subject(id) || why != WRIT_R_OK)
            abort();
        writ_identity_free(id);
    } else if (id || why == WRIT_R_OK) {
        abort(); /* a refusal must leave nothing behind and name a reason */
    }
}

static void check_task(const char *tok, size_t len)
{
    writ_token_check chk = {.audience = "corp.example", .now = NOW, .revocations = S.rev};
    writ_task_token *t = NULL;
    writ_reason why;
    writ_error err;
    if (writ_token_verify(S.v, &chk, tok, len, &t, &why, &err) != WRIT_OK) {
        if (t || why == WRIT_R_OK)
            abort();
        return;
    }
    /* a valid token's chain is consistent */
    for (unsigned i = 0; i <= writ_task_token_depth(t); i++)
        if (!writ_task_token_chain(t, i))
            abort();
    if (strcmp(writ_task_token_chain(t, writ_task_token_depth(t)), writ_task_token_holder(t)))
        abort();
    writ_task_token_free(t);
    /* and delegation from it either works or names a reason */
    writ_issuer_config cfg = {.issuer = "https://writ.example", .audience = "corp.example"};
    writ_delegate_request rq = {.target = "spiffe://corp.example/b", .now = NOW};
    char *out = NULL;
    size_t ol;
    if (writ_token_delegate(S.kr, &cfg, S.v, S.rev, tok, len, NULL, &rq, &out, &ol, &why, &err) == WRIT_OK) {
        check_task(out, ol);
        writ_free_string(out);
    } else if (out || why == WRIT_R_OK) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!S.bundle)
        init();
    if (size < 1)
        return 0;
    int mode = data[0] % 4;
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    if (mode == 0) {
        check_identity(in, n);
    } else if (mode == 1) {
        check_task(in, n);
    } else if (n <= 8192) {
        char hdr[160];
        int hl = mode == 2 ? snprintf(hdr, sizeof hdr, "{\"alg\":\"EdDSA\",\"kid\":\"k1\"}")
                           : snprintf(hdr, sizeof hdr, "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"typ\":\"txntoken+jwt\"}",
                                      S.writ_kid);
        EVP_PKEY *key = mode == 2 ? S.svid_key : NULL;
        if (mode == 3) {
            /* sign with Writ's own key through the keyring's PEM */
            static EVP_PKEY *wk;
            if (!wk) {
                char *pem;
                size_t pl;
                writ_error err;
                if (writ_keyring_private_pem(S.kr, NULL, &pem, &pl, &err) != WRIT_OK)
                    abort();
                BIO *b = BIO_new_mem_buf(pem, (int)pl);
                wk = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
                BIO_free(b);
                writ_free_string(pem);
                if (!wk)
                    abort();
            }
            key = wk;
        }
        size_t tl;
        char *tok = wr_jws_assemble(key, WR_ALG_EDDSA, hdr, (size_t)hl, in, n, &tl);
        if (tok) {
            if (mode == 2)
                check_identity(tok, tl);
            else
                check_task(tok, tl);
            wr_free(tok);
        }
    }
    return 0;
}
