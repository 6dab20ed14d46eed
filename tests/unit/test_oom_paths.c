/* test_oom_paths.c - out of memory on the paths an embedder uses, in the
 * style of SQLite's malloc tests: for N = 0, 1, 2, ... let N allocations
 * succeed and fail every one after, run the whole path, and check that
 *   - it reports a clean failure (WRIT_ENOMEM; for a decision, a deny),
 *   - it leaves no out-parameter set (no half-made object),
 *   - the heap is as before once its results are freed (alloc_count.h:
 *     ASan's count, or glibc's wrapped malloc; valgrind's leak check under
 *     scripts/valgrind.sh),
 * until N is large enough for the path to succeed, with the same answer it
 * gives without injection.  The number of injected failures per path is
 * printed: it is the number of allocation points along the path.  Only
 * public headers are used, except for the injection hook (util/alloc.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "util/alloc.h"
#include "writ/cedar.h"
#include "writ/token.h"

#include <jansson.h>

#include "alloc_count.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STEPS 200000L

/* a failure that is not the out-of-memory one, with its message */
#define assert_enomem(st, err)                                                                               \
    do {                                                                                                     \
        if ((st) != WRIT_ENOMEM || (err)->code != WRIT_ENOMEM)                                               \
            fail_msg("status %s (err %s): %s, expected WRIT_ENOMEM", writ_status_name(st),                   \
                     writ_status_name((err)->code), (err)->msg);                                             \
    } while (0)

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static char *policies, *entities, *schema_text, *request;
static size_t policies_len, entities_len, schema_len, request_len;
static writ_schema *schema;
static writ_policyset *ps;
static writ_entities *es;

static int setup(void **state)
{
    (void)state;
    policies = slurp("examples/policies.cedar", &policies_len);
    entities = slurp("examples/entities.json", &entities_len);
    schema_text = slurp("examples/schema.cedarschema", &schema_len);
    request = slurp("examples/requests/01-analyst-reads-metrics.json", &request_len);
    writ_error err;
    assert_int_equal(writ_schema_parse(schema_text, schema_len, &schema, &err), WRIT_OK);
    assert_int_equal(writ_policyset_parse(policies, policies_len, &ps, &err), WRIT_OK);
    assert_int_equal(writ_entities_parse(entities, entities_len, schema, &es, &err), WRIT_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    writ_entities_free(es);
    writ_policyset_free(ps);
    writ_schema_free(schema);
    free(policies);
    free(entities);
    free(schema_text);
    free(request);
    return 0;
}

/* One path: run(n_ok) lets n_ok allocations succeed (n_ok < 0: no
 * injection), checks its own failure, frees what it made and returns
 * whether it succeeded. */
typedef bool (*path_fn)(long n_ok);

static void drive(const char *name, path_fn run)
{
    /* once without injection: the path works, and lazy one-time state
     * (OpenSSL's tables, jansson's hash seed) is made before counting */
    assert_true(run(-1));
    long failures = 0, before_all = wr_alloc_injected();
    for (long n = 0;; n++) {
        assert_true(n < MAX_STEPS);
        long heap = live_heap();
        long inj = wr_alloc_injected();
        bool ok = run(n);
        long injected_now = wr_alloc_injected() - inj;
        if (live_heap() != heap)
            fail_msg("%s: %ld bytes/blocks leaked when allocation %ld failed", name, live_heap() - heap,
                     n + 1);
        if (ok && injected_now == 0) {
            printf("oom: %-32s %5ld injected failures, all clean (succeeds from %ld allocations)\n", name,
                   failures, n);
            break;
        }
        /* a path that succeeded in spite of a failed allocation must have
         * had a fallback; run() checked its answer */
        failures++;
    }
    assert_true(failures > 0);
    assert_int_equal(wr_alloc_injected() - before_all >= failures, true);
}

static void inject(long n_ok) { wr_alloc_set_fail_after(n_ok); }
static void stop(void) { wr_alloc_set_fail_after(-1); }

static bool run_policies(long n_ok)
{
    writ_policyset *p = (writ_policyset *)0x1;
    writ_error err;
    inject(n_ok);
    writ_status st = writ_policyset_parse(policies, policies_len, &p, &err);
    stop();
    if (st != WRIT_OK) {
        assert_enomem(st, &err);
        assert_null(p);
        return false;
    }
    assert_int_equal(writ_policyset_count(p), writ_policyset_count(ps));
    writ_policyset_free(p);
    return true;
}

static bool run_schema(long n_ok)
{
    writ_schema *s = (writ_schema *)0x1;
    writ_error err;
    inject(n_ok);
    writ_status st = writ_schema_parse(schema_text, schema_len, &s, &err);
    stop();
    if (st != WRIT_OK) {
        assert_int_equal(st, WRIT_ENOMEM);
        assert_null(s);
        return false;
    }
    writ_schema_free(s);
    return true;
}

static bool run_entities(long n_ok)
{
    writ_entities *e = (writ_entities *)0x1;
    writ_error err;
    inject(n_ok);
    writ_status st = writ_entities_parse(entities, entities_len, schema, &e, &err);
    stop();
    if (st != WRIT_OK) {
        assert_enomem(st, &err);
        assert_null(e);
        return false;
    }
    writ_entities_free(e);
    return true;
}

/* ---- a decision: the request parsed and decided by a fresh authorizer
 * (its first use allocates its arenas), and the same through
 * writ_authorize_json.  The request is allowed, so a failure that turned
 * into an allow would show. */
static bool run_authorize(long n_ok)
{
    writ_authorizer *az = writ_authorizer_new();
    assert_non_null(az);
    writ_request *rq = (writ_request *)0x1;
    writ_error err;
    writ_decision d = {.allow = true};
    inject(n_ok);
    writ_status st = writ_request_parse(request, request_len, schema, true, &rq, &err);
    writ_status st2 = st == WRIT_OK ? writ_authorize(az, ps, es, rq, &d) : WRIT_ENOMEM;
    stop();
    bool ok = false;
    if (st != WRIT_OK) {
        assert_enomem(st, &err);
        assert_null(rq);
    } else if (st2 != WRIT_OK) {
        assert_int_equal(st2, WRIT_ENOMEM);
        assert_false(d.allow);
    } else {
        assert_true(d.allow);
        assert_int_equal(d.nerrors, 0);
        ok = true;
    }
    if (st == WRIT_OK)
        writ_request_free(rq);
    writ_authorizer_free(az);
    return ok;
}

static bool run_authorize_json(long n_ok)
{
    writ_authorizer *az = writ_authorizer_new();
    assert_non_null(az);
    writ_error err;
    writ_decision d = {.allow = true};
    inject(n_ok);
    writ_status st = writ_authorize_json(az, ps, es, schema, true, request, request_len, &d, &err);
    stop();
    writ_authorizer_free(az);
    if (st != WRIT_OK) {
        assert_enomem(st, &err);
        assert_false(d.allow);
        return false;
    }
    assert_true(d.allow);
    assert_int_equal(d.nerrors, 0);
    return true;
}

/* ---- linking a template: a link that runs out of memory leaves the set as
 * it was (the policies it had decide as before, nothing of the new one is
 * there) and can be made again; the forbid of the set must hold throughout. */
static const char link_text[] =
    "@id(\"allow-all\") permit(principal, action, resource);\n"
    "@id(\"no-delete\") forbid(principal, action == Action::\"delete\", resource);\n"
    "@id(\"block\") forbid(principal == ?principal, action, resource);\n";

static bool allowed(const writ_policyset *p, const char *who, const char *action)
{
    char req[256];
    snprintf(req, sizeof req,
             "{\"principal\": \"A::\\\"%s\\\"\", \"action\": \"Action::\\\"%s\\\"\", \"resource\": "
             "\"R::\\\"r\\\"\","
             " \"context\": {}}",
             who, action);
    writ_authorizer *az = writ_authorizer_new();
    assert_non_null(az);
    writ_decision d;
    writ_error err;
    assert_int_equal(writ_authorize_json(az, p, NULL, NULL, false, req, strlen(req), &d, &err), WRIT_OK);
    bool allow = d.allow;
    writ_authorizer_free(az);
    return allow;
}

static bool run_link(long n_ok)
{
    writ_policyset *p = NULL;
    writ_error err;
    assert_int_equal(
        writ_policyset_parse_flags(link_text, strlen(link_text), WRIT_PS_ID_ANNOTATION, &p, &err), WRIT_OK);
    inject(n_ok);
    writ_status st = writ_policyset_link(p, "block", "block-mallory", "A::\"mallory\"", NULL, &err);
    stop();
    if (st != WRIT_OK) {
        assert_enomem(st, &err);
        assert_int_equal(writ_policyset_count(p), 3);
        assert_false(allowed(p, "mallory", "delete"));
        assert_true(allowed(p, "mallory", "read"));
        assert_true(allowed(p, "alice", "read"));
        assert_int_equal(writ_policyset_link(p, "block", "block-mallory", "A::\"mallory\"", NULL, &err),
                         WRIT_OK);
    }
    assert_int_equal(writ_policyset_count(p), 4);
    assert_string_equal(writ_policyset_id(p, 3), "block-mallory");
    assert_false(allowed(p, "mallory", "delete"));
    assert_false(allowed(p, "mallory", "read"));
    assert_true(allowed(p, "alice", "read"));
    assert_false(allowed(p, "alice", "delete"));
    writ_policyset_free(p);
    return st == WRIT_OK;
}

static void test_template_link(void **state)
{
    (void)state;
    drive("template link", run_link);
}

/* ---- task-token verification: a verifier made from the keyring's public
 * keys, then one token verified (signature, claims, scope, chain). */
static writ_keyring *kr;
static char *token;
static size_t token_len;
#define ISS "https://writ.test"
#define AUD "test.example"
#define NOW 1780000000

static bool run_verify(long n_ok)
{
    writ_token_verifier *v = (writ_token_verifier *)0x1;
    writ_task_token *t = (writ_task_token *)0x1;
    writ_error err;
    writ_reason why;
    writ_token_check chk = {.audience = AUD, .now = NOW};
    inject(n_ok);
    writ_status st = writ_token_verifier_from_keyring(kr, ISS, 8, &v, &err);
    writ_status st2 =
        st == WRIT_OK ? writ_token_verify(v, &chk, token, token_len, &t, &why, &err) : WRIT_ENOMEM;
    stop();
    bool ok = false;
    if (st != WRIT_OK) {
        assert_enomem(st, &err);
        assert_null(v);
    } else if (st2 != WRIT_OK) {
        assert_enomem(st2, &err);
        assert_null(t);
    } else {
        assert_string_equal(writ_task_token_purpose(t), "weekly-report");
        writ_task_token_free(t);
        ok = true;
    }
    if (st == WRIT_OK)
        writ_token_verifier_free(v);
    return ok;
}

static void test_policy_loading(void **state)
{
    (void)state;
    drive("policy loading", run_policies);
}

static void test_schema_loading(void **state)
{
    (void)state;
    drive("schema loading", run_schema);
}

static void test_entity_loading(void **state)
{
    (void)state;
    drive("entity loading (with schema)", run_entities);
}

static void test_decision(void **state)
{
    (void)state;
    drive("decision (writ_authorize)", run_authorize);
    drive("decision (writ_authorize_json)", run_authorize_json);
}

static void test_token_verification(void **state)
{
    (void)state;
    writ_error err;
    writ_reason why;
    assert_non_null(kr = writ_keyring_new());
    assert_int_equal(writ_keyring_generate(kr, WRIT_KEY_ES256, NULL, &err), WRIT_OK);
    writ_identity *agent = NULL;
    assert_int_equal(writ_identity_new(WRIT_ID_JWT_SVID, "spiffe://corp.example/agents/analyst", NULL,
                                       NOW + 3600, NULL, &agent, &err),
                     WRIT_OK);
    const char *actions[] = {"read", "query"};
    const char *resources[] = {"Writ::Dataset::\"usage-metrics\""};
    writ_task_scope scope = {.purpose = "weekly-report",
                             .actions = actions,
                             .n_actions = 2,
                             .resources = resources,
                             .n_resources = 1,
                             .sensitivity = "internal"};
    writ_issuer_config cfg = {.issuer = ISS, .audience = AUD};
    writ_mint_request rq = {.scope = &scope, .txn = "task-77", .now = NOW};
    assert_int_equal(writ_token_mint(kr, &cfg, agent, &rq, &token, &token_len, &why, &err), WRIT_OK);
    drive("task-token verification", run_verify);
    writ_free_string(token);
    writ_identity_free(agent);
    writ_keyring_free(kr);
}

/* ---- identity and signing: a JWT-SVID verified against a SPIFFE bundle,
 * a PEM key loaded and used to sign, a token exchange.  Out of memory on
 * the way is WRIT_ENOMEM, never a verdict on the input ("malformed",
 * "signing failed"). */
static writ_bundle *svid_bundle;
static char *svid, *key_pem;
static size_t svid_len, key_pem_len;

static bool run_svid(long n_ok)
{
    writ_identity *id = (writ_identity *)0x1;
    writ_error err;
    writ_reason why;
    writ_verify_opts o = {.audience = "writ", .now = NOW};
    inject(n_ok);
    writ_status st = writ_identity_verify_jwt(svid_bundle, &o, svid, svid_len, &id, &why, &err);
    stop();
    if (st != WRIT_OK) {
        assert_enomem(st, &err);
        assert_int_equal(why, WRIT_R_INTERNAL);
        assert_null(id);
        return false;
    }
    assert_string_equal(writ_identity_subject(id), "spiffe://corp.example/agents/analyst");
    writ_identity_free(id);
    return true;
}

static bool run_key_and_sign(long n_ok)
{
    writ_keyring *k = writ_keyring_new();
    assert_non_null(k);
    char *jws = (char *)0x1;
    size_t n;
    writ_error err;
    inject(n_ok);
    writ_status st = writ_keyring_add_pem(k, key_pem, key_pem_len, true, NULL, &err);
    writ_status st2 =
        st == WRIT_OK ? writ_keyring_sign(k, "JWT", "{\"a\": 1}", 8, &jws, &n, &err) : WRIT_ENOMEM;
    stop();
    bool ok = false;
    if (st != WRIT_OK) {
        assert_enomem(st, &err);
        assert_int_equal(writ_keyring_count(k), 0);
    } else if (st2 != WRIT_OK) {
        assert_enomem(st2, &err);
        assert_null(jws);
    } else {
        writ_free_string(jws);
        ok = true;
    }
    writ_keyring_free(k);
    return ok;
}

static bool run_exchange(long n_ok)
{
    char *tok = (char *)0x1;
    size_t n;
    writ_error err;
    writ_reason why;
    writ_verify_opts o = {.audience = "writ", .now = NOW};
    const char *actions[] = {"read"};
    writ_task_scope scope = {.purpose = "p", .actions = actions, .n_actions = 1};
    writ_issuer_config cfg = {.issuer = ISS, .audience = AUD};
    writ_mint_request rq = {.scope = &scope, .now = NOW};
    inject(n_ok);
    writ_status st =
        writ_token_exchange(kr, &cfg, svid_bundle, &o, svid, svid_len, &rq, &tok, &n, &why, &err);
    stop();
    if (st != WRIT_OK) {
        assert_enomem(st, &err);
        assert_null(tok);
        return false;
    }
    writ_free_string(tok);
    return true;
}

static void test_identity_and_signing(void **state)
{
    (void)state;
    writ_error err;
    assert_non_null(kr = writ_keyring_new());
    assert_int_equal(writ_keyring_generate(kr, WRIT_KEY_ES256, NULL, &err), WRIT_OK);
    assert_int_equal(writ_keyring_private_pem(kr, NULL, &key_pem, &key_pem_len, &err), WRIT_OK);
    char *jwks;
    size_t jwks_len;
    assert_int_equal(writ_keyring_jwks(kr, &jwks, &jwks_len, &err), WRIT_OK);
    assert_non_null(svid_bundle = writ_bundle_new());
    assert_int_equal(writ_bundle_add_spiffe(svid_bundle, "corp.example", 12, jwks, jwks_len, &err), WRIT_OK);
    char claims[256];
    snprintf(
        claims, sizeof claims,
        "{\"sub\": \"spiffe://corp.example/agents/analyst\", \"aud\": [\"writ\"], \"iat\": %d, \"exp\": %d}",
        NOW - 10, NOW + 600);
    assert_int_equal(writ_keyring_sign(kr, "JWT", claims, strlen(claims), &svid, &svid_len, &err), WRIT_OK);
    drive("JWT-SVID verification", run_svid);
    drive("PEM key, then signing", run_key_and_sign);
    drive("token exchange", run_exchange);
    writ_free_string(svid);
    writ_free_string(jwks);
    writ_free_string(key_pem);
    writ_bundle_free(svid_bundle);
    writ_keyring_free(kr);
}

/* ---- the host's allocator: installed first thing in main, so every path
 * above ran through it (jansson's blocks too); its user pointer arrives. */
typedef struct host_heap {
    long live, calls;
} host_heap;
static host_heap heap;

static void *host_malloc(void *user, size_t n)
{
    host_heap *h = user;
    void *p = malloc(n);
    if (p)
        __atomic_add_fetch(&h->live, 1, __ATOMIC_RELAXED), __atomic_add_fetch(&h->calls, 1, __ATOMIC_RELAXED);
    return p;
}
static void *host_realloc(void *user, void *p, size_t n)
{
    host_heap *h = user;
    void *q = realloc(p, n);
    if (q && !p)
        __atomic_add_fetch(&h->live, 1, __ATOMIC_RELAXED);
    if (q)
        __atomic_add_fetch(&h->calls, 1, __ATOMIC_RELAXED);
    return q;
}
static void host_free(void *user, void *p)
{
    host_heap *h = user;
    __atomic_sub_fetch(&h->live, 1, __ATOMIC_RELAXED);
    free(p);
}

static void test_host_allocator(void **state)
{
    (void)state;
    /* everything libwrit and jansson allocated came back */
    assert_true(heap.calls > 1000);
    assert_int_equal(heap.live, 0);
    /* a change once libwrit has allocated is refused; the same one is not */
    assert_int_equal(writ_set_allocator(host_malloc, host_realloc, host_free, NULL), WRIT_EINVAL);
    assert_int_equal(writ_set_allocator(host_malloc, host_realloc, host_free, &heap), WRIT_OK);
    assert_int_equal(writ_set_allocator(NULL, host_realloc, host_free, &heap), WRIT_EINVAL);
    /* a string libwrit returns is freed with writ_free_string, through it */
    json_t *j = writ_json_parse("[1,{\"a\":2}]", 11, NULL);
    assert_non_null(j);
    long live = heap.live;
    char *s = writ_json_dump_compact(j);
    assert_string_equal(s, "[1,{\"a\":2}]");
    assert_int_equal(heap.live, live + 1);
    writ_free_string(s);
    json_decref(j);
    assert_int_equal(heap.live, 0);
}

/* ---- the injection countdown is shared by threads: with 4 threads making
 * 8000 allocations in all and 5000 allowed, exactly 5000 succeed. */
#define THREADS 4
#define PER_THREAD 2000
static void *allocate_many(void *arg)
{
    long *ok = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        void *p = wr_malloc(16);
        if (p)
            (*ok)++;
        wr_free(p);
    }
    return NULL;
}

static void test_injection_threads(void **state)
{
    (void)state;
    pthread_t th[THREADS];
    long ok[THREADS] = {0};
    long injected = wr_alloc_injected();
    wr_alloc_set_fail_after(5000);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, allocate_many, &ok[i]), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    wr_alloc_set_fail_after(-1);
    long total = 0;
    for (int i = 0; i < THREADS; i++)
        total += ok[i];
    assert_int_equal(total, 5000);
    assert_int_equal(wr_alloc_injected() - injected, THREADS * PER_THREAD - 5000);
}

int main(void)
{
    if (writ_set_allocator(host_malloc, host_realloc, host_free, &heap) != WRIT_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_loading),       cmocka_unit_test(test_schema_loading),
        cmocka_unit_test(test_entity_loading),       cmocka_unit_test(test_decision),
        cmocka_unit_test(test_token_verification),   cmocka_unit_test(test_template_link),
        cmocka_unit_test(test_identity_and_signing),
    };
    const struct CMUnitTest after[] = {cmocka_unit_test(test_injection_threads),
                                       cmocka_unit_test(test_host_allocator)};
    int failed = cmocka_run_group_tests(tests, setup, teardown);
    return failed + cmocka_run_group_tests(after, NULL, NULL);
}
