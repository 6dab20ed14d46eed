/* test_mcp_toolschema.c - tools/list -> .cedarschema: the text parses with
 * Writ's own schema parser (awkward tool and property names included), the
 * types are the ones JSON Schema asks for, unrepresentable properties are
 * left out with a comment, and a call converted by input.c validates
 * against the generated schema and is decided. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cedar/schema.h"
#include "mcp/input.h"
#include "mcp/toolschema.h"
#include "util/alloc.h"

static const char tools_json[] =
    "{\"tools\":["
    "{\"name\":\"echo\",\"description\":\"Echo\",\"inputSchema\":{\"type\":\"object\","
    "  \"properties\":{\"message\":{\"type\":\"string\"}},\"required\":[\"message\"],"
    "  \"additionalProperties\":false},"
    "  \"annotations\":{\"readOnlyHint\":true}},"
    "{\"name\":\"add\",\"inputSchema\":{\"type\":\"object\",\"properties\":{"
    "  \"a\":{\"type\":\"number\"},\"b\":{\"type\":\"integer\"},\"note\":{\"type\":[\"string\",\"null\"]},"
    "  \"flags\":{\"type\":\"array\",\"items\":{\"type\":\"boolean\"}},"
    "  \"opts\":{\"type\":\"object\",\"properties\":{\"deep\":{\"type\":\"object\",\"properties\":{"
    "     \"x\":{\"type\":\"string\"}},\"required\":[\"x\"],\"additionalProperties\":false}},"
    "     \"additionalProperties\":false},"
    "  \"choice\":{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]},"
    "  \"map\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},"
    "  \"nothing\":{\"type\":\"null\"},"
    "  \"either\":{\"type\":[\"string\",\"integer\"]},"
    "  \"list\":{\"type\":\"array\"},"
    "  \"anything\":{}},"
    "  \"required\":[\"a\",\"b\",\"note\",\"choice\"],\"additionalProperties\":false}},"
    "{\"name\":\"we\\\"ird/na\\\\me \\u00fc \\ud83d\\ude80\\n\\u0000\",\"inputSchema\":{\"type\":\"object\","
    "  \"properties\":{\"if\":{\"type\":\"string\"},\"in\":{\"type\":\"integer\"},"
    "  \"with space\":{\"type\":\"boolean\"},\"quo\\\"te\\\\\":{\"type\":\"string\"},"
    "  \"line\\nbreak\":{\"type\":\"string\"},\"\\u00e9t\\u00e9\":{\"type\":\"number\"},"
    "  \"bad\\nname\":{\"oneOf\":[]}},"
    "  \"required\":[\"if\"],\"additionalProperties\":false}},"
    "{\"name\":\"noschema\"},"
    "{\"name\":\"open\",\"inputSchema\":{\"type\":\"object\"}},"
    "{\"name\":\"weird-type\",\"inputSchema\":{\"type\":\"object\",\"properties\":{"
    "  \"t\":{\"type\":\"str\\ning\"}}}}"
    "]}";

static json_t *load(const char *t)
{
    writ_error err;
    json_t *j = writ_json_parse(t, strlen(t), &err);
    if (!j)
        print_error("%s\n", err.msg);
    assert_non_null(j);
    return j;
}

static char *gen(const char *ns, bool agent, const char *upstream)
{
    json_t *j = load(tools_json);
    mcp_toolschema_opts o = {ns, agent};
    char *out = NULL;
    size_t len = 0;
    writ_error err;
    writ_status st = mcp_toolschema(j, upstream, &o, &out, &len, &err);
    if (st)
        print_error("%s\n", err.msg);
    assert_int_equal(st, WRIT_OK);
    assert_int_equal(len, strlen(out));
    json_decref(j);
    return out;
}

static writ_schema *parse_schema(const char *text)
{
    writ_schema *s = NULL;
    writ_error err;
    writ_status st = writ_schema_parse(text, strlen(text), &s, &err);
    if (st)
        print_error("schema error %u:%u: %s\n---\n%s\n", err.line, err.col, err.msg, text);
    assert_int_equal(st, WRIT_OK);
    return s;
}

static const cs_type *attr(const cs_type *rec, const char *name, bool *required)
{
    assert_int_equal(rec->kind, CS_RECORD);
    for (size_t i = 0; i < rec->nattrs; i++)
        if (rec->attrs[i].name->len == strlen(name) &&
            !memcmp(rec->attrs[i].name->data, name, strlen(name))) {
            if (required)
                *required = rec->attrs[i].required;
            return rec->attrs[i].type;
        }
    return NULL;
}

static const cs_type *input_of(const writ_schema *s, const char *action_type, const char *id, size_t idlen)
{
    for (size_t i = 0; i < s->nactions; i++) {
        const cv_uid *u = s->actions[i].uid;
        if (u->type->len == strlen(action_type) && !memcmp(u->type->data, action_type, u->type->len) &&
            u->id->len == idlen && !memcmp(u->id->data, id, idlen)) {
            assert_true(s->actions[i].has_applies);
            return attr(s->actions[i].context, "input", NULL);
        }
    }
    print_error("no action %.*s\n", (int)idlen, id);
    fail();
    return NULL;
}

static void test_parses_and_types(void **state)
{
    (void)state;
    char *text = gen("Writ", true, "everything");
    writ_schema *s = parse_schema(text);
    assert_int_equal(s->nactions, 6);
    assert_int_equal(writ_schema_context_has(s, "Writ::Action", "everything/echo", "input"), 1);
    assert_int_equal(writ_schema_context_has(s, "Writ::Action", "everything/echo", "tool"), 1);
    const char *facts[] = {"task",      "chain",       "chain_depth", "time",
                           "source_ip", "destination", "sensitivity", "destinations"};
    for (size_t i = 0; i < sizeof facts / sizeof facts[0]; i++)
        assert_int_equal(writ_schema_context_has(s, "Writ::Action", "everything/add", facts[i]), 1);
    assert_non_null(cedar_schema_entity_type(s, "Writ::McpServer", 15));
    assert_non_null(cedar_schema_entity_type(s, "Writ::Agent", 11));

    bool req;
    const cs_type *in = input_of(s, "Writ::Action", "everything/echo", 15);
    assert_int_equal(in->nattrs, 1);
    assert_int_equal(attr(in, "message", &req)->kind, CS_STRING);
    assert_true(req);

    in = input_of(s, "Writ::Action", "everything/add", 14);
    const cs_type *t = attr(in, "a", &req);
    assert_true(t->kind == CS_EXT && t->ext == CVX_DECIMAL && req);
    assert_true(attr(in, "b", &req)->kind == CS_LONG && req);
    /* ["string","null"]: a String that may be left out (null is dropped). */
    assert_true(attr(in, "note", &req)->kind == CS_STRING && !req);
    t = attr(in, "flags", &req);
    assert_true(t->kind == CS_SET && t->elem->kind == CS_BOOL && !req);
    t = attr(in, "opts", &req);
    assert_true(t->kind == CS_RECORD && !req);
    t = attr(t, "deep", &req);
    assert_true(t->kind == CS_RECORD && !req);
    assert_true(attr(t, "x", &req)->kind == CS_STRING && req);
    const char *gone[] = {"choice", "map", "nothing", "either", "list", "anything"};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
        assert_null(attr(in, gone[i], NULL));
    assert_int_equal(in->nattrs, 5);
    /* ... each with a comment saying why. */
    assert_non_null(strstr(text, "// \"choice\" left out: oneOf has no Cedar type"));
    assert_non_null(strstr(text, "// \"map\" left out: an object without \"properties\" (a map)"));
    assert_non_null(strstr(text, "// \"nothing\" left out: type null"));
    assert_non_null(strstr(text, "// \"either\" left out: a union of types"));
    assert_non_null(strstr(text, "// \"list\" left out: an array without one \"items\""));
    assert_non_null(strstr(text, "// \"anything\" left out: its schema has no \"type\""));
    /* A type name with a newline stays inside its comment line. */
    assert_non_null(strstr(text, "// \"t\" left out: type \"str?ing\" has no Cedar type"));
    assert_non_null(strstr(text, "// input left empty: the tool has no inputSchema"));

    /* The awkward tool: its action id is the exact bytes. */
    const char odd[] = "everything/we\"ird/na\\me \xc3\xbc \xf0\x9f\x9a\x80\n";
    in = input_of(s, "Writ::Action", odd, sizeof odd); /* with the trailing NUL byte */
    assert_true(attr(in, "if", &req)->kind == CS_STRING && req);
    assert_true(attr(in, "in", &req)->kind == CS_LONG && !req);
    assert_true(attr(in, "with space", &req)->kind == CS_BOOL);
    assert_true(attr(in, "quo\"te\\", &req)->kind == CS_STRING);
    assert_true(attr(in, "line\nbreak", &req)->kind == CS_STRING);
    assert_true(attr(in, "\xc3\xa9t\xc3\xa9", &req)->kind == CS_EXT);
    assert_null(attr(in, "bad\nname", NULL));
    assert_non_null(strstr(text, "// \"bad\\u{a}name\" left out: oneOf"));
    /* An object schema without properties: an empty input record. */
    in = input_of(s, "Writ::Action", "everything/open", 15);
    assert_int_equal(in->nattrs, 0);
    writ_schema_free(s);
    wr_free(text);
}

static void test_namespaces_and_merging(void **state)
{
    (void)state;
    /* No namespace. */
    char *text = gen(NULL, true, "up");
    writ_schema *s = parse_schema(text);
    assert_int_equal(writ_schema_context_has(s, "Action", "up/echo", "input"), 1);
    writ_schema_free(s);
    wr_free(text);
    /* A nested namespace, and an upstream name that needs quoting. */
    text = gen("Acme::Gw", true, "my \"srv\"");
    s = parse_schema(text);
    assert_int_equal(writ_schema_context_has(s, "Acme::Gw::Action", "my \"srv\"/echo", "input"), 1);
    writ_schema_free(s);
    wr_free(text);
    /* Cedar allows one block per namespace, so a fragment without a
     * namespace (and without `entity Agent;`) is pasted inside the block of
     * a schema that declares Agent (here with attributes). */
    text = gen(NULL, false, "everything");
    assert_null(strstr(text, "entity Agent"));
    const char own[] = "namespace Writ { entity Agent { trust_level: Long }; action read;\n";
    size_t n = strlen(own) + strlen(text) + 4;
    char *both = malloc(n);
    snprintf(both, n, "%s%s}\n", own, text);
    s = parse_schema(both);
    assert_int_equal(writ_schema_context_has(s, "Writ::Action", "everything/add", "input"), 1);
    assert_int_equal(writ_schema_context_has(s, "Writ::Action", "read", "input"), 0);
    writ_schema_free(s);
    free(both);
    /* A second block for the same namespace is refused by the parser. */
    wr_free(text);
    text = gen("Writ", false, "everything");
    n = strlen(own) + strlen(text) + 4;
    both = malloc(n);
    snprintf(both, n, "%s}\n%s", own, text);
    writ_error err;
    s = NULL;
    assert_int_not_equal(writ_schema_parse(both, strlen(both), &s, &err), WRIT_OK);
    assert_null(s);
    free(both);
    wr_free(text);
}

static void test_refusals(void **state)
{
    (void)state;
    char *out = (char *)1;
    writ_error err;
    mcp_toolschema_opts o = {"Writ", true};
    json_t *j = load("{\"tools\":[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":\"ab\"},{\"name\":\"a\"}]}");
    assert_int_equal(mcp_toolschema(j, "u", &o, &out, NULL, &err), WRIT_EDUP);
    assert_null(out);
    assert_non_null(strstr(err.msg, "listed twice"));
    json_decref(j);
    const char *bad[] = {"{\"tools\":{}}", "[]", "{\"tools\":[{\"name\":\"\"}]}",
                         "{\"tools\":[{\"name\":5}]}", "{\"tools\":[7]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = load(bad[i]);
        assert_int_equal(mcp_toolschema(j, "u", &o, &out, NULL, &err), WRIT_EINVAL);
        assert_null(out);
        json_decref(j);
    }
    j = load("{\"tools\":[]}");
    const char *bad_ns[] = {"1a", "a::", "a b", "a:b", "::a", "a::b::"};
    for (size_t i = 0; i < sizeof bad_ns / sizeof bad_ns[0]; i++) {
        mcp_toolschema_opts ob = {bad_ns[i], true};
        assert_int_equal(mcp_toolschema(j, "u", &ob, &out, NULL, &err), WRIT_EINVAL);
        assert_non_null(strstr(err.msg, "namespace"));
    }
    assert_int_equal(mcp_toolschema(j, "", &o, &out, NULL, &err), WRIT_EINVAL);
    /* No tools: still a valid schema (McpServer and Agent only). */
    assert_int_equal(mcp_toolschema(j, "u", &o, &out, NULL, &err), WRIT_OK);
    writ_schema *s = parse_schema(out);
    assert_int_equal(s->nactions, 0);
    writ_schema_free(s);
    wr_free(out);
    json_decref(j);
}

static void test_deep_schema(void **state)
{
    (void)state;
    /* Objects nested past MCP_TOOLSCHEMA_MAX_DEPTH: the deep part is left
     * out and the rest still parses (Cedar's schema parser stops at 64). */
    size_t cap = 64 * 1024;
    char *t = malloc(cap);
    size_t w = (size_t)snprintf(t, cap, "{\"tools\":[{\"name\":\"d\",\"inputSchema\":");
    int levels = MCP_TOOLSCHEMA_MAX_DEPTH + 20;
    for (int i = 0; i < levels; i++)
        w += (size_t)snprintf(t + w, cap - w, "{\"type\":\"object\",\"properties\":{\"p\":");
    w += (size_t)snprintf(t + w, cap - w, "{\"type\":\"string\"}");
    for (int i = 0; i < levels; i++)
        w += (size_t)snprintf(t + w, cap - w, "}}");
    snprintf(t + w, cap - w, "}]}");
    json_t *j = load(t);
    mcp_toolschema_opts o = {"Writ", true};
    char *out;
    writ_error err;
    assert_int_equal(mcp_toolschema(j, "u", &o, &out, NULL, &err), WRIT_OK);
    assert_non_null(strstr(out, "left out: nested too deeply"));
    writ_schema *s = parse_schema(out);
    writ_schema_free(s);
    wr_free(out);
    json_decref(j);
    free(t);
}

/* A call converted by input.c, in a context with Writ's facts, validates
 * against the generated schema and is decided on its input. */
static void test_call_validates(void **state)
{
    (void)state;
    char *text = gen("Writ", true, "everything");
    writ_schema *s = parse_schema(text);
    static const char pol[] =
        "permit(principal, action == Writ::Action::\"everything/add\", resource)\n"
        "when { context.input.a.lessThan(decimal(\"100.0\")) && context.input.b < 5 &&\n"
        "       !(context.tool.annotations has readOnlyHint) };\n";
    writ_policyset *ps;
    writ_error err;
    assert_int_equal(writ_policyset_parse(pol, strlen(pol), &ps, &err), WRIT_OK);
    const char *calls[][2] = {
        {"{\"a\":7,\"b\":1,\"note\":null,\"flags\":[true,null],\"opts\":{\"deep\":{\"x\":\"y\"}}}", "allow"},
        {"{\"a\":99.5,\"b\":4}", "allow"},
        {"{\"a\":100.5,\"b\":4}", "deny"},
        {"{\"a\":1,\"b\":5}", "deny"},
        {"{\"a\":1}", "invalid"},                    /* b is required */
        {"{\"a\":1,\"b\":1,\"map\":{}}", "invalid"}, /* left out: closed record */
        {"{\"a\":1.00001,\"b\":1}", "invalid"},      /* a String where decimal is declared */
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        json_t *args = load(calls[i][0]), *input;
        mcp_input_hint h = {s, "Writ::Action", "everything/add"};
        assert_int_equal(mcp_input_to_cedar(args, NULL, &h, &input, &err), WRIT_OK);
        json_t *ctx = json_pack("{s{ssss}s[s]sIs{s{ssss}}s{s{ssss}}sssss[]s{sss{}}so}", "task", "id", "t1",
                                "purpose", "p", "chain", "spiffe://a", "chain_depth", (json_int_t)0, "time",
                                "__extn", "fn", "datetime", "arg", "2026-12-03", "source_ip", "__extn", "fn",
                                "ip", "arg", "127.0.0.1", "destination", "internal", "sensitivity", "public",
                                "destinations", "tool", "name", "add", "annotations", "input", input);
        assert_non_null(ctx);
        writ_request *rq = writ_request_reusable();
        writ_uid_parts pr = {"Writ::", 6, "Agent", 5, "a", 1};
        writ_uid_parts ac = {"Writ::", 6, "Action", 6, "everything/add", 14};
        writ_uid_parts rs = {"Writ::", 6, "McpServer", 9, "everything", 10};
        writ_status st = writ_request_fill(rq, s, true, &pr, &ac, &rs, ctx, &err);
        const char *got = "invalid";
        if (st == WRIT_OK) {
            writ_authorizer *az = writ_authorizer_new();
            writ_decision d;
            assert_int_equal(writ_authorize(az, ps, NULL, rq, &d), WRIT_OK);
            got = d.allow ? "allow" : "deny";
            writ_authorizer_free(az);
        }
        if (strcmp(got, calls[i][1]))
            print_error("%s: %s (%s), want %s\n", calls[i][0], got, st ? err.msg : "", calls[i][1]);
        assert_string_equal(got, calls[i][1]);
        writ_request_free(rq);
        json_decref(ctx);
        json_decref(args);
    }
    writ_policyset_free(ps);
    writ_schema_free(s);
    wr_free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parses_and_types), cmocka_unit_test(test_namespaces_and_merging),
        cmocka_unit_test(test_refusals),         cmocka_unit_test(test_deep_schema),
        cmocka_unit_test(test_call_validates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
