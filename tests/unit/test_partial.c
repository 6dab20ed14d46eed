/* test_partial.c - writ_authorize_partial: decisions with context attributes
 * unknown.  Hand cases for each rule, then a randomized soundness check
 * against writ_authorize on many concrete values of the unknown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "writ/cedar.h"

static const char ENTITIES[] =
    "[{\"uid\":{\"type\":\"User\",\"id\":\"alice\"},\"attrs\":{\"level\":3,\"team\":\"eng\"},"
    "\"parents\":[{\"type\":\"Group\",\"id\":\"eng\"}]},"
    "{\"uid\":{\"type\":\"Group\",\"id\":\"eng\"},\"attrs\":{},\"parents\":[]},"
    "{\"uid\":{\"type\":\"Tool\",\"id\":\"srv\"},\"attrs\":{\"ro\":true},\"parents\":[]}]";

static const char *const INPUT[] = {"input"};

/* A request of alice calling action `action` on Tool::"srv" with the
 * context record `ctx` (JSON). */
static writ_request *request(const char *action, const char *ctx)
{
    static const char FMT[] =
        "{\"principal\":{\"type\":\"User\",\"id\":\"alice\"},\"action\":{\"type\":\"Action\",\"id\":\"%s\"},"
        "\"resource\":{\"type\":\"Tool\",\"id\":\"srv\"},\"context\":%s}";
    size_t cap = sizeof FMT + strlen(action) + strlen(ctx);
    char *buf = malloc(cap);
    assert_non_null(buf);
    snprintf(buf, cap, FMT, action, ctx);
    writ_request *rq = NULL;
    writ_error err;
    if (writ_request_parse(buf, strlen(buf), NULL, false, &rq, &err))
        fail_msg("request %s: %s", buf, err.msg);
    free(buf);
    return rq;
}

static writ_policyset *policies(const char *text)
{
    writ_policyset *ps = NULL;
    writ_error err;
    if (writ_policyset_parse(text, strlen(text), &ps, &err))
        fail_msg("policies: %s\n%s", err.msg, text);
    return ps;
}

static writ_entities *entities(void)
{
    writ_entities *es = NULL;
    writ_error err;
    if (writ_entities_parse(ENTITIES, sizeof ENTITIES - 1, NULL, &es, &err))
        fail_msg("entities: %s", err.msg);
    return es;
}

static const char *maybe_name(writ_maybe m)
{
    return m == WRIT_MAYBE_NO ? "NO" : m == WRIT_MAYBE_YES ? "YES" : "ALWAYS";
}

/* Partial decision of `text` for action "call" with context `ctx` and
 * context.input unknown, rendered "YES [ids] errors [ids]". */
static void partial(const char *text, const char *ctx, char *out, size_t cap)
{
    writ_policyset *ps = policies(text);
    writ_entities *es = entities();
    writ_request *rq = request("call", ctx);
    writ_authorizer *az = writ_authorizer_new();
    assert_non_null(az);
    writ_partial_decision d;
    assert_int_equal(writ_authorize_partial(az, ps, es, rq, INPUT, 1, &d), WRIT_OK);
    size_t n = (size_t)snprintf(out, cap, "%s [", maybe_name(d.maybe));
    for (size_t i = 0; i < d.nreasons; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? " " : "", d.reasons[i]);
    n += (size_t)snprintf(out + n, cap - n, "] errors [");
    for (size_t i = 0; i < d.nerrors; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? " " : "", d.errors[i].policy_id);
    snprintf(out + n, cap - n, "]");
    writ_authorizer_free(az);
    writ_request_free(rq);
    writ_entities_free(es);
    writ_policyset_free(ps);
}

static void expect(const char *text, const char *want)
{
    char got[512];
    partial(text, "{\"k\":5,\"flag\":true}", got, sizeof got);
    if (strcmp(got, want))
        fail_msg("%s\nwant %s\ngot  %s", text, want, got);
}

/* One permit with condition `cond`. */
static void expect_cond(const char *cond, const char *want)
{
    char text[1024];
    snprintf(text, sizeof text, "permit(principal, action, resource) when { %s };", cond);
    expect(text, want);
}

/* One permit with condition cond, context ctx, and the unknown path
 * "input.arguments" (the rest of context.input known): an MCP prompt whose
 * name is known and whose arguments are not. */
static void expect_path(const char *cond, const char *ctx, const char *want)
{
    char text[1024];
    snprintf(text, sizeof text, "permit(principal, action, resource) when { %s };", cond);
    writ_policyset *ps = policies(text);
    writ_request *rq = request("call", ctx);
    writ_authorizer *az = writ_authorizer_new();
    assert_non_null(az);
    static const char *const unknown[] = {"input.arguments"};
    writ_partial_decision d;
    assert_int_equal(writ_authorize_partial(az, ps, NULL, rq, unknown, 1, &d), WRIT_OK);
    if (strcmp(maybe_name(d.maybe), want))
        fail_msg("%s with %s\nwant %s\ngot  %s", cond, ctx, want, maybe_name(d.maybe));
    writ_authorizer_free(az);
    writ_request_free(rq);
    writ_policyset_free(ps);
}

static void test_unknown_path(void **state)
{
    (void)state;
    const char *greet = "{\"input\":{\"name\":\"greet\"}}", *other = "{\"input\":{\"name\":\"other\"}}";
    /* the known part decides alone */
    expect_path("context.input.name == \"greet\"", greet, "ALWAYS");
    expect_path("context.input.name == \"greet\"", other, "NO");
    /* the unknown part may go either way */
    expect_path("context.input.name == \"greet\" && context.input.arguments.lang == \"en\"", greet, "YES");
    expect_path("context.input.name == \"greet\" && context.input.arguments.lang == \"en\"", other, "NO");
    expect_path("context.input has arguments", greet, "YES");
    expect_path("context.input.arguments has lang", greet, "YES");
    /* a record holding an unknown, used whole, is some value */
    expect_path("context.input == {\"name\": \"greet\"}", greet, "YES");
    /* the known part is still the request's: a missing attribute fails */
    expect_path("context.input.title == \"x\"", greet, "NO");
    expect_path("context has input", greet, "ALWAYS");
    expect_path("context.input has name", greet, "ALWAYS");
}

static void test_rules(void **state)
{
    (void)state;
    /* a permit on the input may hold */
    expect("permit(principal, action == Action::\"call\", resource) when { context.input.a < 100 };",
           "YES [policy0] errors []");
    /* a permit without input conditions holds whatever the input is */
    expect("permit(principal, action == Action::\"call\", resource) when { principal.level > 2 };",
           "ALWAYS [policy0] errors []");
    /* a forbid that holds without the input hides */
    expect("permit(principal, action, resource) when { context.input.a < 100 };\n"
           "forbid(principal in Group::\"eng\", action, resource) when { context.k == 5 };",
           "NO [policy1] errors []");
    /* a forbid on the input does not hide, but rules out ALWAYS */
    expect("permit(principal, action, resource);\n"
           "forbid(principal, action, resource) when { context.input.a > 100 };",
           "YES [policy0] errors []");
    expect("permit(principal, action, resource);\n"
           "forbid(principal, action, resource) unless { context.input has a };",
           "YES [policy0] errors []");
    /* a forbid that cannot hold does not matter */
    expect("permit(principal, action, resource);\n"
           "forbid(principal, action, resource) when { context.k == 6 && context.input.a > 100 };",
           "ALWAYS [policy0] errors []");
    /* scope mismatch: no permit applies */
    expect("permit(principal, action == Action::\"other\", resource);", "NO [] errors []");
    expect("permit(principal == User::\"bob\", action, resource) when { context.input.a < 1 };",
           "NO [] errors []");
    expect("", "NO [] errors []");
    /* a permit whose known part is false cannot hold */
    expect_cond("context.k == 6 && context.input.a < 100", "NO [] errors []");
    expect_cond("context.input.a < 100 && context.k == 6", "NO [] errors []");
    expect_cond("context.input.a < 100 || context.k == 5", "YES [policy0] errors []");
    expect_cond("context.k == 5 || context.input.a < 100", "ALWAYS [policy0] errors []");
    /* has on the unknown attribute: true or false, never an error */
    expect_cond("context has input", "YES [policy0] errors []");
    expect_cond("context has input || true", "ALWAYS [policy0] errors []");
    expect_cond("!(context has input) || true", "ALWAYS [policy0] errors []");
    expect_cond("context has input && false", "NO [] errors []");
    expect_cond("context.input has a", "YES [policy0] errors []");
    expect_cond("context has k", "ALWAYS [policy0] errors []");
    expect_cond("context has nothing", "NO [] errors []");
    /* `? && false` may be an error as well as false: still cannot hold ... */
    expect_cond("context.input.a < 1 && false", "NO [] errors []");
    /* ... but under `!` it is "true or an error", not "true" */
    expect_cond("!(context.input.a < 1 && false)", "YES [policy0] errors []");
    expect_cond("!(context has input && false)", "ALWAYS [policy0] errors []");
    /* unknown in an if guard: either branch */
    expect_cond("if context.input.a > 1 then true else false", "YES [policy0] errors []");
    expect_cond("if context.input.a > 1 then false else false", "NO [] errors []");
    expect_cond("if context has input then true else true", "ALWAYS [policy0] errors []");
    expect_cond("if context has input then 1 else 2", "NO [] errors [policy0]");
    expect_cond("(if context has input then 1 else 2) < 3", "YES [policy0] errors []");
    expect_cond("if context.k == 5 then context.input.a == 1 else false", "YES [policy0] errors []");
    expect_cond("if context.k == 5 then false else context.input.a == 1", "NO [] errors []");
    /* operators over the unknown */
    expect_cond("context.input.s.contains(1)", "YES [policy0] errors []");
    expect_cond("[context.input.a].contains(1)", "YES [policy0] errors []");
    expect_cond("context.input.b like \"x*\"", "YES [policy0] errors []");
    expect_cond("context.input.r.x.y == \"z\"", "YES [policy0] errors []");
    expect_cond("context.input == {a: 1}", "YES [policy0] errors []");
    expect_cond("context == {k: 5, flag: true}", "YES [policy0] errors []");
    expect_cond("context.input is User", "YES [policy0] errors []");
    expect_cond("principal is User in context.input", "YES [policy0] errors []");
    expect_cond("principal is Tool in context.input", "NO [] errors []");
    expect_cond("ip(context.input.ip).isLoopback()", "YES [policy0] errors []");
    /* an error on a known path stays an error: the policy is skipped */
    expect_cond("context.missing == 1 && context.input.a == 1", "NO [] errors [policy0]");
    /* false or an error: not certainly an error */
    expect_cond("context.input.a == 1 && resource.nope == 1", "NO [] errors []");
    expect_cond("context.input.a == 1 || context.k + 9223372036854775807 > 0", "YES [policy0] errors []");
    expect_cond("context.k", "NO [] errors [policy0]");
    expect_cond("context.input.a == 1 || 1", "YES [policy0] errors []");
    expect("forbid(principal, action, resource) when { principal.nope };\n"
           "permit(principal, action, resource);",
           "ALWAYS [policy1] errors [policy0]");
    /* a forbid that errors on a known path does not hide */
    expect("permit(principal, action, resource) when { context.input.a == 1 };\n"
           "forbid(principal, action, resource) when { context.missing };",
           "YES [policy0] errors [policy1]");
    /* templates: a linked one counts, an unlinked one does not */
    expect("permit(principal == ?principal, action, resource) when { context.input.a == 1 };",
           "NO [] errors []");
}

/* A known attribute named like the unknown one is unknown all the same. */
static void test_request_value_ignored(void **state)
{
    (void)state;
    char got[256];
    partial("permit(principal, action, resource) when { context.input.a == 1 };",
            "{\"input\":{\"a\":1},\"k\":5}", got, sizeof got);
    assert_string_equal(got, "YES [policy0] errors []");
    partial("permit(principal, action, resource) unless { context.input.a == 1 };",
            "{\"input\":{\"a\":1},\"k\":5}", got, sizeof got);
    assert_string_equal(got, "YES [policy0] errors []");
    /* no unknowns: the ordinary decision */
    writ_policyset *ps = policies("permit(principal, action, resource) when { context.input.a == 1 };");
    writ_request *rq = request("call", "{\"input\":{\"a\":1}}");
    writ_authorizer *az = writ_authorizer_new();
    writ_partial_decision d;
    assert_int_equal(writ_authorize_partial(az, ps, NULL, rq, NULL, 0, &d), WRIT_OK);
    assert_int_equal(d.maybe, WRIT_MAYBE_ALWAYS);
    writ_request_free(rq);
    rq = request("call", "{\"input\":{\"a\":2}}");
    assert_int_equal(writ_authorize_partial(az, ps, NULL, rq, NULL, 0, &d), WRIT_OK);
    assert_int_equal(d.maybe, WRIT_MAYBE_NO);
    /* bad arguments fail closed */
    assert_int_equal(writ_authorize_partial(az, ps, NULL, NULL, INPUT, 1, &d), WRIT_EINVAL);
    assert_int_equal(d.maybe, WRIT_MAYBE_NO);
    assert_int_equal(writ_authorize_partial(az, ps, NULL, rq, NULL, 1, &d), WRIT_EINVAL);
    writ_authorizer_free(az);
    writ_request_free(rq);
    writ_policyset_free(ps);
}

/* Expressions as deep as the parser takes: the partial walk keeps
 * cedar_eval's depth accounting, so it fails no sooner than a decision. */
#define IF_LEVELS 196 /* the most the parser takes around this core (197 is refused) */
static void test_deep(void **state)
{
    (void)state;
    char text[16384];
    size_t n =
        (size_t)snprintf(text, sizeof text, "permit(principal, action, resource) when { context.input.a");
    for (int i = 0; i < 196; i++) /* height 3 + 196 + 1: the limit, 200 */
        n += (size_t)snprintf(text + n, sizeof text - n, " + 1");
    snprintf(text + n, sizeof text - n, " < 1000 };");
    expect(text, "YES [policy0] errors []");
    writ_policyset *ps = policies(text);
    writ_request *rq = request("call", "{\"input\":{\"a\":0}}");
    writ_authorizer *az = writ_authorizer_new();
    writ_decision d;
    assert_int_equal(writ_authorize(az, ps, NULL, rq, &d), WRIT_OK);
    assert_true(d.allow);
    writ_authorizer_free(az);
    writ_request_free(rq);
    writ_policyset_free(ps);

    n = (size_t)snprintf(text, sizeof text, "permit(principal, action, resource) when { ");
    for (int i = 0; i < IF_LEVELS; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "if context has input then ");
    n += (size_t)snprintf(text + n, sizeof text - n, "(context has input || true)");
    for (int i = 0; i < IF_LEVELS; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, " else true");
    snprintf(text + n, sizeof text - n, " };");
    expect(text, "ALWAYS [policy0] errors []");
}

/* ---- randomized soundness ------------------------------------------- */

static uint64_t rng_state;
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

typedef struct buf {
    char s[8192];
    size_t n;
} buf;

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(b->s + b->n, sizeof b->s - b->n, fmt, ap);
    va_end(ap);
    if (r > 0)
        b->n = b->n + (size_t)r < sizeof b->s ? b->n + (size_t)r : sizeof b->s - 1;
}

static const char *const LONGS[] = {"0", "1", "2", "-1", "9223372036854775807"};
static const char *const STRS[] = {"\"\"", "\"x\"", "\"xy\"", "\"y\""};
static const char *const INPUT_ATTRS[] = {"a", "b", "c", "s", "r"};

/* A value: Long, String, Bool, set of Longs, or a nested record. */
static void gen_value(buf *b, int depth)
{
    switch (rnd(depth > 1 ? 4 : 6)) {
    case 0:
        put(b, "%s", LONGS[rnd(5)]);
        break;
    case 1:
        put(b, "%s", STRS[rnd(4)]);
        break;
    case 2:
        put(b, "%s", rnd(2) ? "true" : "false");
        break;
    case 3:
        put(b, "%s", "0");
        break;
    case 4: {
        size_t n = rnd(3);
        put(b, "[");
        for (size_t i = 0; i < n; i++)
            put(b, "%s%s", i ? "," : "", LONGS[rnd(4)]);
        put(b, "]");
        break;
    }
    default:
        put(b, "{");
        if (rnd(2)) {
            put(b, "\"x\":");
            gen_value(b, depth + 1);
        }
        put(b, "}");
        break;
    }
}

/* context.input: usually a record over a, b, c, s, r; sometimes absent or
 * not a record. */
static void gen_input(buf *b)
{
    b->n = 0;
    b->s[0] = '\0';
    put(b, "{\"k\":5");
    uint32_t shape = rnd(20);
    if (shape == 0) {
        put(b, "}");
        return;
    }
    put(b, ",\"input\":");
    if (shape == 1) {
        gen_value(b, 2);
        put(b, "}");
        return;
    }
    put(b, "{");
    bool first = true;
    for (size_t i = 0; i < 5; i++) {
        if (rnd(4) == 0)
            continue;
        put(b, "%s\"%s\":", first ? "" : ",", INPUT_ATTRS[i]);
        first = false;
        switch (i) {
        case 0:
            put(b, "%s", rnd(4) ? LONGS[rnd(4)] : STRS[rnd(4)]);
            break;
        case 1:
            put(b, "%s", rnd(4) ? STRS[rnd(4)] : "1");
            break;
        case 2:
            put(b, "%s", rnd(4) ? (rnd(2) ? "true" : "false") : "\"x\"");
            break;
        default:
            gen_value(b, 0);
            break;
        }
    }
    put(b, "}}");
}

/* An operand that may read the input. */
static void gen_term(buf *b)
{
    switch (rnd(9)) {
    case 0:
        put(b, "context.input.a");
        break;
    case 1:
        put(b, "context.input.r.x");
        break;
    case 2:
        put(b, "context.k");
        break;
    case 3:
        put(b, "principal.level");
        break;
    case 4:
        put(b, "(if context.input.c then 1 else 2)");
        break;
    case 5:
        put(b, "(context.input.a + %s)", LONGS[rnd(5)]);
        break;
    case 6:
        put(b, "(if context.k == 5 then context.input.a else 0)");
        break;
    default:
        put(b, "%s", LONGS[rnd(4)]);
        break;
    }
}

static void gen_bool(buf *b, int depth)
{
    uint32_t k = rnd(depth > 2 ? 16 : 22);
    switch (k) {
    case 0:
        gen_term(b);
        put(b, " < ");
        gen_term(b);
        break;
    case 1:
        gen_term(b);
        put(b, " == ");
        gen_term(b);
        break;
    case 2:
        put(b, "context.input.b like \"x*\"");
        break;
    case 3:
        put(b, "context.input has %s", INPUT_ATTRS[rnd(5)]);
        break;
    case 4:
        put(b, "context has input");
        break;
    case 5:
        put(b, "context.input.c");
        break;
    case 6:
        put(b, "context.input.s.contains(%s)", LONGS[rnd(4)]);
        break;
    case 7:
        put(b, "context.input.s.containsAny([1, 2])");
        break;
    case 8:
        put(b, "context.input.r has x");
        break;
    case 9:
        put(b, "context.input == {a: 1}");
        break;
    case 10:
        put(b, "context.input.b == %s", STRS[rnd(4)]);
        break;
    case 11:
        put(b, "%s", rnd(2) ? "true" : "false");
        break;
    case 12:
        put(b, "context.k == %s", LONGS[rnd(3)]);
        break;
    case 13:
        put(b, "principal.nope == 1");
        break;
    case 14:
        put(b, "[context.input.a, 2].contains(%s)", LONGS[rnd(3)]);
        break;
    case 15:
        put(b, "context.input.s.isEmpty()");
        break;
    case 16:
    case 17:
        put(b, "(");
        gen_bool(b, depth + 1);
        put(b, k == 16 ? " && " : " || ");
        gen_bool(b, depth + 1);
        if (rnd(2)) {
            put(b, k == 16 ? " && " : " || ");
            gen_bool(b, depth + 1);
        }
        put(b, ")");
        break;
    case 18:
        put(b, "!(");
        gen_bool(b, depth + 1);
        put(b, ")");
        break;
    case 19:
        put(b, "(if ");
        gen_bool(b, depth + 1);
        put(b, " then ");
        gen_bool(b, depth + 1);
        put(b, " else ");
        gen_bool(b, depth + 1);
        put(b, ")");
        break;
    case 20:
        put(b, "context.input.a");
        break; /* a Long or a Bool */
    default:
        put(b, "context.input.r.x.x == 1");
        break;
    }
}

static void gen_policies(buf *b)
{
    b->n = 0;
    b->s[0] = '\0';
    size_t n = 1 + rnd(4);
    for (size_t i = 0; i < n; i++) {
        bool permit = rnd(3) != 0;
        const char *act = rnd(6) ? "" : " == Action::\"other\"";
        put(b, "%s(principal, action%s, resource)", permit ? "permit" : "forbid", act);
        size_t nc = rnd(3);
        for (size_t j = 0; j < nc; j++) {
            put(b, " %s { ", rnd(4) ? "when" : "unless");
            gen_bool(b, 0);
            put(b, " }");
        }
        put(b, ";\n");
    }
}

/* With nothing unknown the partial decision is the decision: ALWAYS or NO,
 * the same reasons and the same failing policies (d is writ_authorize's,
 * copied out before this call reuses the authorizer). */
static void exact_when_known(writ_authorizer *az, const writ_policyset *ps, const writ_entities *es,
                             const writ_request *rq, const writ_decision *d, const char *pol, const char *in)
{
    char want[1024], got[1024];
    size_t n = (size_t)snprintf(want, sizeof want, "%s [", d->allow ? "ALWAYS" : "NO");
    for (size_t i = 0; i < d->nreasons && n < sizeof want; i++)
        n += (size_t)snprintf(want + n, sizeof want - n, " %s", d->reasons[i]);
    for (size_t i = 0; i < d->nerrors && n < sizeof want; i++)
        n += (size_t)snprintf(want + n, sizeof want - n, " !%s", d->errors[i].policy_id);
    writ_partial_decision pd;
    assert_int_equal(writ_authorize_partial(az, ps, es, rq, NULL, 0, &pd), WRIT_OK);
    n = (size_t)snprintf(got, sizeof got, "%s [", maybe_name(pd.maybe));
    for (size_t i = 0; i < pd.nreasons && n < sizeof got; i++)
        n += (size_t)snprintf(got + n, sizeof got - n, " %s", pd.reasons[i]);
    for (size_t i = 0; i < pd.nerrors && n < sizeof got; i++)
        n += (size_t)snprintf(got + n, sizeof got - n, " !%s", pd.errors[i].policy_id);
    if (strcmp(want, got))
        fail_msg("nothing unknown, yet the partial decision differs:\n%s\ninput %s\nwant %s\ngot  %s", pol,
                 in, want, got);
}

#define N_SETS 5000
#define N_INPUTS 200

static void test_soundness(void **state)
{
    (void)state;
    rng_state = 0x9e3779b97f4a7c15ull;
    writ_entities *es = entities();
    writ_authorizer *az = writ_authorizer_new();
    assert_non_null(az);
    size_t count[3] = {0}, yes_seen_allow = 0, yes_seen_deny = 0, yes_unseen = 0, decisions = 0;
    /* the concrete inputs, shared by all sets */
    writ_request *rq[N_INPUTS];
    static buf in[N_INPUTS];
    for (size_t j = 0; j < N_INPUTS; j++) {
        gen_input(&in[j]);
        rq[j] = request("call", in[j].s);
    }
    writ_request *prq = request("call", "{\"k\":5}");
    buf pol;
    for (size_t i = 0; i < N_SETS; i++) {
        gen_policies(&pol);
        writ_policyset *ps = policies(pol.s);
        writ_partial_decision pd;
        assert_int_equal(writ_authorize_partial(az, ps, es, prq, INPUT, 1, &pd), WRIT_OK);
        writ_maybe m = pd.maybe;
        count[m]++;
        bool any_allow = false, any_deny = false;
        for (size_t j = 0; j < N_INPUTS; j++) {
            writ_decision d;
            assert_int_equal(writ_authorize(az, ps, es, rq[j], &d), WRIT_OK);
            decisions++;
            bool allow = d.allow;
            any_allow |= allow;
            any_deny |= !allow;
            exact_when_known(az, ps, es, rq[j], &d, pol.s, in[j].s);
            if (allow && m == WRIT_MAYBE_NO)
                fail_msg("unsound NO:\n%s\ninput %s is allowed", pol.s, in[j].s);
            if (!allow && m == WRIT_MAYBE_ALWAYS)
                fail_msg("unsound ALWAYS:\n%s\ninput %s is denied", pol.s, in[j].s);
        }
        if (m == WRIT_MAYBE_YES) {
            yes_seen_allow += any_allow;
            yes_seen_deny += any_deny && any_allow;
            yes_unseen += !any_allow;
        }
        writ_policyset_free(ps);
    }
    printf("partial soundness: %d policy sets x %d inputs (%zu decisions): NO %zu, YES %zu, ALWAYS %zu;\n"
           "  YES with some input allowed %zu (of which some denied too %zu), YES with none of the inputs "
           "allowed %zu\n",
           N_SETS, N_INPUTS, decisions, count[0], count[1], count[2], yes_seen_allow, yes_seen_deny,
           yes_unseen);
    /* the generator must reach every answer, or the check proves little */
    assert_true(count[0] > N_SETS / 20 && count[1] > N_SETS / 20 && count[2] > N_SETS / 20);
    assert_true(yes_seen_deny > N_SETS / 20);
    for (size_t j = 0; j < N_INPUTS; j++)
        writ_request_free(rq[j]);
    writ_request_free(prq);
    writ_authorizer_free(az);
    writ_entities_free(es);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_unknown_path),
        cmocka_unit_test(test_request_value_ignored),
        cmocka_unit_test(test_deep),
        cmocka_unit_test(test_soundness),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
