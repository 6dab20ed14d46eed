/* test_api_null.c - an embedder's mistakes: a NULL where the API wants an
 * argument.  writ.h: every public function that can fail returns a status;
 * a missing argument is WRIT_EINVAL (with the message in err), never a
 * crash, and out-parameters stay NULL.  Accessors of a NULL handle answer
 * NULL or 0.  (Found by calling each function with NULLs: these crashed.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "writ/cedar.h"
#include "writ/token.h"

static const char POL[] = "permit(principal, action, resource);";
static const char RQ[] = "{\"principal\": \"A::\\\"a\\\"\", \"action\": \"Action::\\\"r\\\"\", "
                         "\"resource\": \"R::\\\"x\\\"\", \"context\": {}}";

#define EINVAL_OF(call)                                                                                      \
    do {                                                                                                     \
        writ_error err_;                                                                                     \
        memset(&err_, 0, sizeof err_);                                                                       \
        writ_status st_ = (call);                                                                            \
        if (st_ != WRIT_EINVAL)                                                                              \
            fail_msg("%s: %s (%s), expected WRIT_EINVAL", #call, writ_status_name(st_), err_.msg);           \
    } while (0)
/* (err_ in scope for the calls below that pass &err_) */

static void test_cedar(void **state)
{
    (void)state;
    writ_policyset *ps = NULL;
    writ_error err;
    EINVAL_OF(writ_policyset_parse(POL, strlen(POL), NULL, &err_));
    EINVAL_OF(writ_policyset_parse(NULL, 10, &ps, &err_));
    assert_null(ps);
    assert_int_equal(writ_policyset_parse(NULL, 0, &ps, &err), WRIT_OK); /* no text: an empty set */
    assert_int_equal(writ_policyset_count(ps), 0);
    writ_policyset_free(ps);
    assert_int_equal(writ_policyset_parse(POL, strlen(POL), &ps, &err), WRIT_OK);
    assert_null(writ_policyset_annotation(ps, 0, NULL));

    writ_schema *schema = NULL;
    const char *sch = "entity A;";
    assert_int_equal(writ_schema_parse(sch, strlen(sch), &schema, &err), WRIT_OK);
    EINVAL_OF(writ_validate(schema, ps, NULL, NULL, &err_));

    writ_request *rq = writ_request_reusable();
    assert_non_null(rq);
    writ_uid_parts none = {NULL, 0, NULL, 5, NULL, 5};
    EINVAL_OF(writ_request_fill(rq, NULL, false, &none, &none, &none, NULL, &err_));
    writ_uid_parts noid = {"", 0, "A", 1, NULL, 3};
    EINVAL_OF(writ_request_fill(rq, NULL, false, &noid, &noid, &noid, NULL, &err_));
    writ_uid_parts nopre = {NULL, 2, "A", 1, "a", 1};
    EINVAL_OF(writ_request_fill(rq, NULL, false, &nopre, &nopre, &nopre, NULL, &err_));
    writ_request_free(rq);

    assert_null(writ_json_parse(NULL, 5, &err));
    assert_int_equal(err.code, WRIT_EINVAL);

    writ_authorizer *az = writ_authorizer_new();
    assert_non_null(az);
    assert_int_equal(writ_request_parse(RQ, strlen(RQ), NULL, false, &rq, &err), WRIT_OK);
    assert_int_equal(writ_authorize(az, ps, NULL, rq, NULL), WRIT_EINVAL);
    assert_int_equal(writ_authorize_partial(az, ps, NULL, rq, NULL, 0, NULL), WRIT_EINVAL);
    writ_decision d;
    writ_explanation x;
    assert_int_equal(writ_explain(az, ps, NULL, rq, NULL, &x), WRIT_EINVAL);
    assert_int_equal(writ_explain(az, ps, NULL, rq, &d, NULL), WRIT_EINVAL);
    assert_false(d.allow);
    assert_int_equal(writ_authorize(az, ps, NULL, rq, &d), WRIT_OK); /* and it still works */
    assert_true(d.allow);
    writ_request_free(rq);
    writ_authorizer_free(az);
    writ_schema_free(schema);
    writ_policyset_free(ps);
}

static void test_identity(void **state)
{
    (void)state;
    EINVAL_OF(writ_spiffe_trust_domain_check(NULL, 4, &err_));
    writ_bundle *b = writ_bundle_new();
    assert_non_null(b);
    const char *jwks = "{\"keys\": []}";
    EINVAL_OF(writ_bundle_add_spiffe(NULL, "a.b", 3, jwks, strlen(jwks), &err_));
    EINVAL_OF(writ_bundle_add_spiffe(b, NULL, 3, jwks, strlen(jwks), &err_));
    EINVAL_OF(writ_bundle_add_spiffe(b, "a.b", 3, NULL, 12, &err_));
    EINVAL_OF(writ_bundle_add_x509_pem(b, NULL, 3, "x", 1, &err_));
    EINVAL_OF(writ_bundle_add_x509_pem(b, "a.b", 3, NULL, 10, &err_));
    EINVAL_OF(writ_bundle_add_x509_pem(NULL, "a.b", 3, "x", 1, &err_));
    EINVAL_OF(writ_bundle_add_oidc(b, NULL, 3, jwks, strlen(jwks), &err_));
    EINVAL_OF(writ_bundle_add_oidc(b, "https://i", 9, NULL, 12, &err_));
    EINVAL_OF(writ_bundle_add_oidc(NULL, "https://i", 9, jwks, strlen(jwks), &err_));

    writ_verify_opts o = {.audience = "a"};
    writ_identity *id = (writ_identity *)0x1;
    writ_reason why;
    EINVAL_OF(writ_identity_verify_jwt(b, &o, NULL, 5, &id, &why, &err_));
    assert_null(id);
    EINVAL_OF(writ_identity_verify_jwt(b, &o, "a.b.c", 5, NULL, &why, &err_));
    EINVAL_OF(writ_identity_verify_x509(b, &o, NULL, 5, &id, &why, &err_));
    EINVAL_OF(writ_identity_verify_x509(b, &o, "x", 1, NULL, &why, &err_));
    const unsigned char *certs[2] = {NULL, NULL};
    size_t lens[2] = {5, 5};
    EINVAL_OF(writ_identity_verify_x509_der(b, &o, certs, lens, 2, &id, &why, &err_));
    EINVAL_OF(writ_identity_verify_x509_der(b, &o, certs, lens, 0, NULL, &why, &err_));
    writ_bundle_free(b);

    assert_int_equal(writ_identity_get_kind(NULL), 0);
    assert_null(writ_identity_subject(NULL));
    assert_null(writ_identity_issuer(NULL));
    assert_null(writ_identity_principal_type(NULL));
    assert_null(writ_identity_cert_thumbprint(NULL));
    assert_int_equal(writ_identity_expiry(NULL), 0);
}

static void test_token(void **state)
{
    (void)state;
    /* what follows a writ_keyring_new() that ran out of memory */
    EINVAL_OF(writ_keyring_generate(NULL, WRIT_KEY_ES256, NULL, &err_));
    EINVAL_OF(writ_keyring_add_pem(NULL, "x", 1, true, NULL, &err_));
    writ_keyring *kr = writ_keyring_new();
    assert_non_null(kr);
    EINVAL_OF(writ_keyring_add_pem(kr, NULL, 10, true, NULL, &err_));
    writ_error err;
    assert_int_equal(writ_keyring_generate(kr, WRIT_KEY_ES256, NULL, &err), WRIT_OK);
    char *s = (char *)0x1;
    size_t n;
    EINVAL_OF(writ_keyring_private_pem(kr, NULL, NULL, &n, &err_));
    EINVAL_OF(writ_keyring_private_pem(NULL, NULL, &s, &n, &err_));
    assert_null(s);
    EINVAL_OF(writ_keyring_jwks(kr, NULL, &n, &err_));
    EINVAL_OF(writ_keyring_jwks(NULL, &s, &n, &err_));
    EINVAL_OF(writ_keyring_sign(kr, "JWT", "{}", 2, NULL, &n, &err_));
    EINVAL_OF(writ_keyring_sign(kr, "JWT", NULL, 2, &s, &n, &err_));
    EINVAL_OF(writ_keyring_set_active(kr, NULL, &err_));
    EINVAL_OF(writ_keyring_set_active(NULL, "k", &err_));
    EINVAL_OF(writ_keyring_remove(kr, NULL, &err_));
    EINVAL_OF(writ_keyring_remove(NULL, "k", &err_));
    assert_int_equal(writ_keyring_count(kr), 1);

    EINVAL_OF(writ_revocations_open(NULL, NULL, &err_));
    EINVAL_OF(writ_revocations_add(NULL, WRIT_REVOKE_JTI, "j", 1, 0, NULL, &err_));
    EINVAL_OF(writ_revocations_refresh(NULL, &err_));
    EINVAL_OF(writ_revocations_prune(NULL, 0, &err_));
    assert_false(writ_revocations_contains(NULL, WRIT_REVOKE_JTI, "j", 1));

    writ_identity *agent = NULL;
    assert_int_equal(
        writ_identity_new(WRIT_ID_JWT_SVID, "spiffe://corp.example/agents/a", NULL, 0, NULL, &agent, &err),
        WRIT_OK);
    const char *acts[] = {"read"};
    writ_task_scope scope = {.purpose = "p", .actions = acts, .n_actions = 1};
    writ_issuer_config cfg = {.issuer = "https://writ.test", .audience = "corp.example"};
    writ_mint_request mr = {.scope = &scope};
    writ_reason why;
    EINVAL_OF(writ_token_mint(kr, &cfg, agent, &mr, NULL, &n, &why, &err_));

    writ_token_verifier *v = (writ_token_verifier *)0x1;
    EINVAL_OF(writ_token_verifier_from_jwks(NULL, 5, "i", 0, &v, &err_));
    assert_null(v);
    EINVAL_OF(writ_token_verifier_from_jwks("{\"keys\": []}", 12, NULL, 0, &v, &err_));
    EINVAL_OF(writ_token_verifier_from_jwks("{\"keys\": []}", 12, "i", 0, NULL, &err_));
    EINVAL_OF(writ_token_verifier_from_keyring(NULL, "i", 0, &v, &err_));
    EINVAL_OF(writ_token_verifier_from_keyring(kr, "i", 0, NULL, &err_));
    assert_int_equal(writ_token_verifier_from_keyring(kr, "https://writ.test", 0, &v, &err), WRIT_OK);
    writ_token_check chk = {.audience = "corp.example"};
    EINVAL_OF(writ_token_verify(v, &chk, "a.b.c", 5, NULL, &why, &err_));
    writ_token_verifier_free(v);

    assert_null(writ_task_token_jti(NULL));
    assert_null(writ_task_token_txn(NULL));
    assert_null(writ_task_token_subject(NULL));
    assert_null(writ_task_token_holder(NULL));
    assert_null(writ_task_token_issuer(NULL));
    assert_null(writ_task_token_purpose(NULL));
    assert_null(writ_task_token_sensitivity(NULL));
    assert_null(writ_task_token_cnf(NULL));
    assert_null(writ_task_token_subject_type(NULL));
    assert_null(writ_task_token_holder_type(NULL));
    assert_null(writ_task_token_chain(NULL, 0));
    assert_int_equal(writ_task_token_expiry(NULL), 0);
    assert_int_equal(writ_task_token_issued_at(NULL), 0);
    assert_int_equal(writ_task_token_depth(NULL), 0);
    assert_false(writ_task_token_in_subtree(NULL, "x"));
    writ_task_scope sc;
    memset(&sc, 0xff, sizeof sc);
    writ_task_token_scope(NULL, &sc);
    assert_null(sc.actions);
    assert_int_equal(sc.n_actions, 0);
    assert_null(writ_task_token_context_json(NULL));
    assert_null(writ_task_token_claims_json(NULL));

    writ_identity_free(agent);
    writ_keyring_free(kr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cedar),
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
