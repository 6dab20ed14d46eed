/* test_json.c - Cedar's JSON formats: values, entity files, requests, the
 * entity store, and hostile input (integer edges, floats, bad UTF-8, deep
 * nesting, duplicates).  Schema-directed cases were checked against the
 * reference engine (cedar-wasm 4.x, checkParseEntities / isAuthorized). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cedar/json.h"
#include "cedar/schema.h"
#include "util/alloc.h"
#include "writ/cedar.h"

#include "alloc_count.h"

static writ_status load_entities(const char *json, const char *schema_text, writ_entities **out, writ_error *err)
{
    writ_schema *s = NULL;
    if (schema_text) {
        writ_status st = writ_schema_parse(schema_text, strlen(schema_text), &s, err);
        if (st)
            return st;
    }
    writ_status st = writ_entities_parse(json, strlen(json), s, out, err);
    writ_schema_free(s);
    return st;
}

static writ_status entities_status(const char *json, const char *schema_text)
{
    writ_entities *es = NULL;
    writ_error err;
    writ_status st = load_entities(json, schema_text, &es, &err);
    if (st)
        assert_null(es);
    writ_entities_free(es);
    return st;
}

/* Read one value (no schema) and print it in Cedar syntax. */
static writ_status value_text(const char *json, char *buf, size_t cap)
{
    writ_error err;
    json_t *j = cedar_json_load(json, strlen(json), &err);
    if (!j)
        return err.code;
    wr_arena *a = wr_arena_new(0);
    cv_value v;
    writ_status st = cedar_json_value(a, j, NULL, "value", &v, &err);
    if (!st)
        cv_format(v, buf, cap);
    wr_arena_free(a);
    json_decref(j);
    return st;
}

static void test_values(void **state)
{
    (void)state;
    char b[256];
    assert_int_equal(value_text("true", b, sizeof b), WRIT_OK);
    assert_string_equal(b, "true");
    assert_int_equal(value_text("9223372036854775807", b, sizeof b), WRIT_OK);
    assert_string_equal(b, "9223372036854775807");
    assert_int_equal(value_text("-9223372036854775808", b, sizeof b), WRIT_OK);
    assert_string_equal(b, "-9223372036854775808");
    assert_int_equal(value_text("[3, 1, 3, 2]", b, sizeof b), WRIT_OK);
    assert_string_equal(b, "[1, 2, 3]");
    assert_int_equal(value_text("{\"b\": 1, \"a\": \"x\"}", b, sizeof b), WRIT_OK);
    assert_string_equal(b, "{\"a\": \"x\", \"b\": 1}");
    assert_int_equal(value_text("{\"__entity\": {\"type\": \"A::B\", \"id\": \"x\"}}", b, sizeof b), WRIT_OK);
    assert_string_equal(b, "A::B::\"x\"");
    assert_int_equal(value_text("{\"__extn\": {\"fn\": \"decimal\", \"arg\": \"1.5\"}}", b, sizeof b), WRIT_OK);
    assert_string_equal(b, "decimal(\"1.5000\")");
    /* the reference ignores keys beside an escape */
    assert_int_equal(value_text("{\"__entity\": {\"type\": \"A\", \"id\": \"x\"}, \"y\": 1}", b, sizeof b), WRIT_OK);
    assert_string_equal(b, "A::\"x\"");
    /* multi-argument form: datetime.offset(duration) */
    assert_int_equal(value_text("{\"__extn\": {\"fn\": \"offset\", \"args\": [{\"__extn\": {\"fn\": \"datetime\", "
                                "\"arg\": \"1970-01-01\"}}, {\"__extn\": {\"fn\": \"duration\", \"arg\": \"1d\"}}]}}",
                                b, sizeof b),
                     WRIT_OK);
    /* without a schema a bare {type,id} is just a record */
    assert_int_equal(value_text("{\"type\": \"A\", \"id\": \"x\"}", b, sizeof b), WRIT_OK);
    assert_string_equal(b, "{\"id\": \"x\", \"type\": \"A\"}");
    /* NUL inside strings and keys is allowed */
    assert_int_equal(value_text("{\"a\\u0000b\": \"\\u0000\", \"\\u0001\": 1}", b, sizeof b), WRIT_OK);
}

static void test_bad_values(void **state)
{
    (void)state;
    char b[64];
    assert_int_equal(value_text("9223372036854775808", b, sizeof b), WRIT_EJSON);
    assert_int_equal(value_text("-9223372036854775809", b, sizeof b), WRIT_EJSON);
    assert_int_equal(value_text("1.5", b, sizeof b), WRIT_EJSON);
    assert_int_equal(value_text("1.0", b, sizeof b), WRIT_EJSON);
    assert_int_equal(value_text("1e3", b, sizeof b), WRIT_EJSON);
    assert_int_equal(value_text("null", b, sizeof b), WRIT_EJSON);
    assert_int_equal(value_text("[1, null]", b, sizeof b), WRIT_EJSON);
    assert_int_equal(value_text("\"\xff\xfe\"", b, sizeof b), WRIT_EJSON);      /* invalid UTF-8 */
    assert_int_equal(value_text("\"\xed\xa0\x80\"", b, sizeof b), WRIT_EJSON);  /* encoded surrogate */
    assert_int_equal(value_text("{\"a\": 1, \"a\": 2}", b, sizeof b), WRIT_EDUP);
    assert_int_equal(value_text("{\"__extn\": {\"fn\": \"decimal\", \"arg\": \"x\"}}", b, sizeof b), WRIT_EJSON);
    assert_int_equal(value_text("{\"__extn\": {\"fn\": \"nope\", \"arg\": \"x\"}}", b, sizeof b), WRIT_EJSON);
    assert_int_equal(value_text("{\"__entity\": {\"type\": 1, \"id\": \"x\"}}", b, sizeof b), WRIT_EJSON);
    assert_int_equal(value_text("[1, ", b, sizeof b), WRIT_EJSON);
}

/* An error names the value's place: the caller's text, then each record
 * attribute on the way down; a long path is cut at the message's size. */
/* An entity file's errors say where: the entry that failed (jansson keeps
 * no positions of values), or jansson's place of a syntax error. */
static void test_entities_error_position(void **state)
{
    (void)state;
    static const struct {
        const char *text, *msg;
        uint32_t line, col;
    } cases[] = {
        {"[{\"uid\":{\"type\":\"A\",\"id\":\"x\"},\"attrs\":{},\"parents\":[]},\n"
         "  {\"uid\":{\"type\":\"A\",\"id\":\"x\"},\"attrs\":{},\"parents\":[]}]",
         "2:3: duplicate entity entry A::\"x\"", 2, 3},
        {"[\n {\"uid\":{\"type\":\"A\",\"id\":\"y\"},\n  \"attrs\":{\"a\":{\"__extn\":{\"fn\":\"decimal\",\"arg\":\"zz\"}}},"
         "\"parents\":[]}]",
         "2:2: entity A::\"y\", attribute `a`: decimal(\"zz\"): invalid decimal literal", 2, 2},
        {"[{\"uid\":{\"type\":\"A\",\"id\":\"x\"},\n \"attrs\":{}, \"parents\":[]]", "2:26: '}' expected near ']'", 2,
         26},
        {"{}", "entities: expected a JSON array, found object", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        writ_entities *es = NULL;
        writ_error err;
        assert_int_not_equal(writ_entities_parse(cases[i].text, strlen(cases[i].text), NULL, &es, &err), WRIT_OK);
        assert_null(es);
        if (strcmp(err.msg, cases[i].msg))
            fail_msg("case %zu: got <%s> want <%s>", i, err.msg, cases[i].msg);
        assert_int_equal(err.line, cases[i].line);
        assert_int_equal(err.col, cases[i].col);
    }
}

/* A raw NUL byte is no JSON anywhere: jansson took one after a number. */
static void test_raw_nul(void **state)
{
    (void)state;
    static const char text[] = "{\"a\": [1,\n 6\0, 2]}";
    writ_error err;
    assert_null(cedar_json_load(text, sizeof text - 1, &err));
    assert_int_equal(err.code, WRIT_EJSON);
    assert_string_equal(err.msg, "a NUL byte, which JSON allows only escaped (\\u0000)");
    assert_int_equal(err.line, 2);
    assert_int_equal(err.col, 3);
    assert_int_equal(err.offset, 12);
    json_t *j = cedar_json_load("{\"a\": \"\\u0000\"}", 15, &err); /* escaped, it is a string's NUL */
    assert_non_null(j);
    json_decref(j);
}

static void test_error_place(void **state)
{
    (void)state;
    const char *json = "{\"task\": {\"ids\": [1, {\"deep\": null}]}}";
    writ_error err;
    json_t *j = cedar_json_load(json, strlen(json), &err);
    assert_non_null(j);
    wr_arena *a = wr_arena_new(0);
    cv_value v;
    assert_int_equal(cedar_json_value(a, j, NULL, "context", &v, &err), WRIT_EJSON);
    assert_string_equal(err.msg, "context, attribute `task`, attribute `ids`, attribute `deep`: found a `null`; "
                                 "JSON nulls are not allowed in Cedar");
    /* the place outside the failing record is whole again afterwards */
    json_decref(j);
    json = "{\"a\": {\"b\": 1}, \"c\": 1.5}";
    j = cedar_json_load(json, strlen(json), &err);
    assert_int_equal(cedar_json_value(a, j, NULL, "context", &v, &err), WRIT_EJSON);
    assert_string_equal(err.msg, "context, attribute `c`: numbers must be integers (no fraction or exponent)");
    json_decref(j);
    /* 40 levels of 70-byte keys: the place is cut, keys at 64 bytes */
    char *big = malloc(40 * 80 + 16), *p = big;
    for (int i = 0; i < 40; i++)
        p += sprintf(p, "{\"%070d\":", i);
    p += sprintf(p, "null");
    for (int i = 0; i < 40; i++)
        *p++ = '}';
    *p = 0;
    j = cedar_json_load(big, strlen(big), &err);
    assert_non_null(j);
    assert_int_equal(cedar_json_value(a, j, NULL, "context", &v, &err), WRIT_EJSON);
    assert_true(strncmp(err.msg, "context, attribute `0000000000", 30) == 0);
    assert_non_null(strstr(err.msg, "`0000000000000000000000000000000000000000000000000000000000000000`, "));
    assert_true(strlen(err.msg) < sizeof err.msg);
    json_decref(j);
    free(big);
    wr_arena_free(a);
}

static char *nested(size_t depth, char open, char close)
{
    char *s = malloc(2 * depth + 2);
    for (size_t i = 0; i < depth; i++)
        s[i] = open;
    s[depth] = '1';
    for (size_t i = 0; i < depth; i++)
        s[depth + 1 + i] = close;
    s[2 * depth + 1] = 0;
    return s;
}

static void test_depth(void **state)
{
    (void)state;
    char b[64];
    char *s = nested(10000, '[', ']');
    assert_int_equal(value_text(s, b, sizeof b), WRIT_ELIMIT);
    free(s);
    s = nested(CEDAR_JSON_MAX_DEPTH, '[', ']');
    assert_int_equal(value_text(s, b, sizeof b), WRIT_OK);
    free(s);
    s = nested(CEDAR_JSON_MAX_DEPTH + 1, '[', ']');
    assert_int_equal(value_text(s, b, sizeof b), WRIT_ELIMIT);
    free(s);
    /* 10,000 nested records in an entity file */
    size_t d = 10000;
    char *r = malloc(d * 6 + 200);
    size_t o = (size_t)snprintf(r, 100, "[{\"uid\":{\"type\":\"A\",\"id\":\"a\"},\"parents\":[],\"attrs\":");
    for (size_t i = 0; i < d; i++)
        o += (size_t)snprintf(r + o, 8, "{\"a\":");
    r[o++] = '1';
    for (size_t i = 0; i < d; i++)
        r[o++] = '}';
    memcpy(r + o, "}]", 3);
    assert_int_equal(entities_status(r, NULL), WRIT_ELIMIT);
    free(r);
}

static const char *const store_json =
    "[{\"uid\": {\"type\": \"User\", \"id\": \"alice\"}, \"attrs\": {\"age\": 30},"
    "  \"parents\": [{\"type\": \"Group\", \"id\": \"staff\"}], \"tags\": {\"k\": \"v\"}},"
    " {\"uid\": {\"__entity\": {\"type\": \"Group\", \"id\": \"staff\"}}, \"attrs\": {},"
    "  \"parents\": [{\"__entity\": {\"type\": \"Group\", \"id\": \"all\"}}]},"
    " {\"uid\": {\"type\": \"Group\", \"id\": \"all\"}, \"attrs\": {}, \"parents\": []}]";

static void test_store(void **state)
{
    (void)state;
    writ_entities *es = NULL;
    writ_error err;
    assert_int_equal(load_entities(store_json, NULL, &es, &err), WRIT_OK);
    cedar_entities *st = es->store;
    assert_int_equal(cedar_entities_count(st), 3);
    wr_arena *a = wr_arena_new(0);
    const cv_uid *alice = cv_entity_new(a, "User", 4, "alice", 5).u.uid;
    const cv_uid *staff = cv_entity_new(a, "Group", 5, "staff", 5).u.uid;
    const cv_uid *all = cv_entity_new(a, "Group", 5, "all", 3).u.uid;
    const cv_uid *bob = cv_entity_new(a, "User", 4, "bob", 3).u.uid;
    const cedar_entity *e = cedar_entities_get(st, alice);
    assert_non_null(e);
    assert_non_null(cv_record_get(e->attrs, "age", 3));
    assert_non_null(cv_record_get(e->tags, "k", 1));
    assert_true(cedar_entities_in(st, alice, alice));
    assert_true(cedar_entities_in(st, alice, staff));
    assert_true(cedar_entities_in(st, alice, all));      /* transitive */
    assert_false(cedar_entities_in(st, all, staff));
    assert_true(cedar_entities_in(st, staff, staff));
    assert_false(cedar_entities_in(st, staff, alice));
    assert_false(cedar_entities_in(st, bob, staff));
    assert_null(cedar_entities_get(st, bob));
    wr_arena_free(a);
    /* a cycle in the hierarchy is refused, as the reference does */
    writ_entities *cyc = NULL;
    assert_int_equal(load_entities("[{\"uid\": {\"type\": \"G\", \"id\": \"a\"}, \"attrs\": {}, "
                                   "\"parents\": [{\"type\": \"G\", \"id\": \"b\"}]},"
                                   " {\"uid\": {\"type\": \"G\", \"id\": \"b\"}, \"attrs\": {}, "
                                   "\"parents\": [{\"type\": \"G\", \"id\": \"a\"}]}]", NULL, &cyc, &err),
                     WRIT_EJSON);
    assert_null(cyc);
    assert_non_null(strstr(err.msg, "cycle"));
    writ_entities_free(es);
}

/* A chain of n entities as JSON: E::"0" in E::"1" in ... E::"n" (malloc'd). */
static char *chain_json(size_t n)
{
    char *s = malloc(n * 128 + 8);
    size_t o = 0;
    s[o++] = '[';
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(s + o, 128, "%s{\"uid\":{\"type\":\"E\",\"id\":\"%zu\"},\"attrs\":{},\"parents\":[{\"type\":\"E\",\"id\":\"%zu\"}]}",
                              i ? "," : "", i, i + 1);
    s[o++] = ']';
    s[o] = 0;
    return s;
}

static void test_many_entities(void **state)
{
    (void)state;
    /* a chain of 2000 entities: e0 in e1 in e2 ... */
    char *s = chain_json(2000);
    writ_entities *es = NULL;
    writ_error err;
    assert_int_equal(load_entities(s, NULL, &es, &err), WRIT_OK);
    wr_arena *a = wr_arena_new(0);
    assert_true(cedar_entities_in(es->store, cv_entity_new(a, "E", 1, "0", 1).u.uid, cv_entity_new(a, "E", 1, "2000", 4).u.uid));
    assert_false(cedar_entities_in(es->store, cv_entity_new(a, "E", 1, "5", 1).u.uid, cv_entity_new(a, "E", 1, "4", 1).u.uid));
    wr_arena_free(a);
    writ_entities_free(es);
    free(s);
    /* a chain of 5000: 12.5 million ancestor pairs (each entity keeps all
     * its ancestors), past CEDAR_MAX_ANCESTOR_PAIRS: refused, not 400 MB */
    s = chain_json(5000);
    es = NULL;
    assert_int_equal(load_entities(s, NULL, &es, &err), WRIT_ELIMIT);
    assert_null(es);
    assert_non_null(strstr(err.msg, "the entity hierarchy is too deep"));
    free(s);
}

static void test_entity_shape_errors(void **state)
{
    (void)state;
    assert_int_equal(entities_status("{}", NULL), WRIT_EJSON);
    assert_int_equal(entities_status("[{\"uid\":{\"type\":\"A\",\"id\":\"a\"},\"parents\":[]}]", NULL), WRIT_EJSON);
    assert_int_equal(entities_status("[{\"uid\":{\"type\":\"A\",\"id\":\"a\"},\"attrs\":{}}]", NULL), WRIT_EJSON);
    assert_int_equal(entities_status("[{\"uid\":{\"type\":\"A\",\"id\":\"a\"},\"attrs\":{\"x\":null},\"parents\":[]}]", NULL),
                     WRIT_EJSON);
    /* other keys are ignored, as the reference does */
    assert_int_equal(entities_status("[{\"uid\":{\"type\":\"A\",\"id\":\"a\"},\"attrs\":{},\"parents\":[],\"z\":1}]", NULL),
                     WRIT_OK);
    /* duplicate entity */
    assert_int_equal(entities_status("[{\"uid\":{\"type\":\"A\",\"id\":\"a\"},\"attrs\":{},\"parents\":[]},"
                                     "{\"uid\":{\"type\":\"A\",\"id\":\"a\"},\"attrs\":{},\"parents\":[]}]",
                                     NULL),
                     WRIT_EDUP);
    /* duplicate key inside attrs */
    assert_int_equal(entities_status("[{\"uid\":{\"type\":\"A\",\"id\":\"a\"},\"attrs\":{\"x\":1,\"x\":1},\"parents\":[]}]", NULL),
                     WRIT_EDUP);
}

static const char *const schema_text =
    "namespace N { entity User in [Group] { a?: Long, e?: User, x?: ipaddr, s?: Set<User>, r?: {q?: decimal},"
    " req?: {must: String} } tags Long; entity Group; entity Color enum [\"red\", \"blue\"];"
    " action view; action \"edit\" in [view] appliesTo { principal: User, resource: [Group],"
    " context: { ip?: ipaddr, who?: User } }; }\n entity Plain;";

#define U(attrs) "[{\"uid\":{\"type\":\"N::User\",\"id\":\"a\"},\"attrs\":" attrs ",\"parents\":[]}]"

static void test_schema_directed(void **state)
{
    (void)state;
    const char *S = schema_text;
    assert_int_equal(entities_status(U("{\"a\":1}"), S), WRIT_OK);
    assert_int_equal(entities_status(U("{\"e\":{\"type\":\"N::User\",\"id\":\"b\"}}"), S), WRIT_OK);
    assert_int_equal(entities_status(U("{\"s\":[{\"type\":\"N::User\",\"id\":\"b\"}]}"), S), WRIT_OK);
    assert_int_equal(entities_status(U("{\"x\":{\"fn\":\"ip\",\"arg\":\"1.2.3.4\"}}"), S), WRIT_OK);
    assert_int_equal(entities_status(U("{\"x\":\"1.2.3.4\"}"), S), WRIT_OK);
    assert_int_equal(entities_status(U("{\"r\":{\"q\":{\"fn\":\"decimal\",\"arg\":\"1.0\"}}}"), S), WRIT_OK);
    assert_int_equal(entities_status(U("{\"x\":{\"__extn\":{\"fn\":\"decimal\",\"arg\":\"1.0\"}}}"), S), WRIT_ESCHEMA);
    assert_int_equal(entities_status(U("{\"x\":\"nope\"}"), S), WRIT_ESCHEMA);
    assert_int_equal(entities_status(U("{\"a\":\"1\"}"), S), WRIT_ESCHEMA);
    assert_int_equal(entities_status(U("{\"zz\":1}"), S), WRIT_ESCHEMA);
    assert_int_equal(entities_status(U("{\"req\":{}}"), S), WRIT_ESCHEMA);
    assert_int_equal(entities_status(U("{\"req\":{\"must\":\"x\"}}"), S), WRIT_OK);
    assert_int_equal(entities_status(U("{\"e\":{\"type\":\"N::Group\",\"id\":\"b\"}}"), S), WRIT_ESCHEMA);
    assert_int_equal(entities_status("[{\"uid\":{\"type\":\"N::User\",\"id\":\"a\"},\"attrs\":{},\"parents\":[{\"type\":\"Plain\",\"id\":\"p\"}]}]", S),
                     WRIT_ESCHEMA);
    assert_int_equal(entities_status("[{\"uid\":{\"type\":\"Nope\",\"id\":\"a\"},\"attrs\":{},\"parents\":[]}]", S), WRIT_ESCHEMA);
    assert_int_equal(entities_status("[{\"uid\":{\"type\":\"N::Color\",\"id\":\"red\"},\"attrs\":{},\"parents\":[]}]", S), WRIT_OK);
    assert_int_equal(entities_status("[{\"uid\":{\"type\":\"N::Color\",\"id\":\"green\"},\"attrs\":{},\"parents\":[]}]", S),
                     WRIT_ESCHEMA);
    assert_int_equal(entities_status("[{\"uid\":{\"type\":\"N::User\",\"id\":\"a\"},\"attrs\":{},\"parents\":[],\"tags\":{\"t\":1}}]", S),
                     WRIT_OK);
    assert_int_equal(entities_status("[{\"uid\":{\"type\":\"N::User\",\"id\":\"a\"},\"attrs\":{},\"parents\":[],\"tags\":{\"t\":\"x\"}}]", S),
                     WRIT_ESCHEMA);
    assert_int_equal(entities_status("[{\"uid\":{\"type\":\"N::Group\",\"id\":\"a\"},\"attrs\":{},\"parents\":[],\"tags\":{\"t\":1}}]", S),
                     WRIT_ESCHEMA);
    /* action entities: may repeat the schema, may not differ or be new */
    assert_int_equal(entities_status("[{\"uid\":{\"type\":\"N::Action\",\"id\":\"view\"},\"attrs\":{},\"parents\":[]}]", S), WRIT_OK);
    assert_int_equal(entities_status("[{\"uid\":{\"type\":\"N::Action\",\"id\":\"edit\"},\"attrs\":{},\"parents\":[]}]", S),
                     WRIT_ESCHEMA);
    assert_int_equal(entities_status("[{\"uid\":{\"type\":\"N::Action\",\"id\":\"zzz\"},\"attrs\":{},\"parents\":[]}]", S),
                     WRIT_ESCHEMA);
}

static void test_schema_actions_added(void **state)
{
    (void)state;
    writ_entities *es = NULL;
    writ_error err;
    assert_int_equal(load_entities("[]", schema_text, &es, &err), WRIT_OK);
    assert_int_equal(cedar_entities_count(es->store), 2);
    wr_arena *a = wr_arena_new(0);
    assert_true(cedar_entities_in(es->store, cv_entity_new(a, "N::Action", 9, "edit", 4).u.uid,
                                  cv_entity_new(a, "N::Action", 9, "view", 4).u.uid));
    wr_arena_free(a);
    writ_entities_free(es);
}

static writ_status request_status(const char *json, bool with_schema, bool validate)
{
    writ_schema *s = NULL;
    writ_error err;
    if (with_schema)
        assert_int_equal(writ_schema_parse(schema_text, strlen(schema_text), &s, &err), WRIT_OK);
    writ_request *rq = NULL;
    writ_status st = writ_request_parse(json, strlen(json), s, validate, &rq, &err);
    if (st)
        assert_null(rq);
    writ_request_free(rq);
    writ_schema_free(s);
    return st;
}

#define RQ(p, ctx) "{\"principal\":" p ",\"action\":{\"type\":\"N::Action\",\"id\":\"edit\"},\"resource\":{\"type\":\"N::Group\",\"id\":\"g\"}" ctx "}"

static void test_requests(void **state)
{
    (void)state;
    const char *user = "{\"type\":\"N::User\",\"id\":\"a\"}";
    (void)user;
    assert_int_equal(request_status(RQ("{\"type\":\"N::User\",\"id\":\"a\"}", ""), false, false), WRIT_OK);
    assert_int_equal(request_status(RQ("{\"__entity\":{\"type\":\"N::User\",\"id\":\"a\"}}", ""), true, true), WRIT_OK);
    assert_int_equal(request_status(RQ("\"N::User::\\\"a\\\"\"", ""), true, true), WRIT_OK);
    assert_int_equal(request_status(RQ("{\"type\":\"N::Group\",\"id\":\"a\"}", ""), true, true), WRIT_EVALIDATE);
    assert_int_equal(request_status(RQ("{\"type\":\"N::Group\",\"id\":\"a\"}", ""), true, false), WRIT_OK);
    assert_int_equal(request_status(RQ("{\"type\":\"N::User\",\"id\":\"a\"}", ",\"context\":{\"ip\":\"1.1.1.1\"}"), true, true),
                     WRIT_OK);
    assert_int_equal(request_status(RQ("{\"type\":\"N::User\",\"id\":\"a\"}", ",\"context\":{\"who\":{\"type\":\"N::User\",\"id\":\"b\"}}"),
                                    true, false),
                     WRIT_OK);
    assert_int_equal(request_status(RQ("{\"type\":\"N::User\",\"id\":\"a\"}", ",\"context\":{\"ip\":5}"), true, false), WRIT_ESCHEMA);
    assert_int_equal(request_status(RQ("{\"type\":\"N::User\",\"id\":\"a\"}", ",\"context\":{\"zz\":5}"), true, true),
                     WRIT_EVALIDATE);
    assert_int_equal(request_status(RQ("{\"type\":\"N::User\"}", ""), false, false), WRIT_EJSON);
    assert_int_equal(request_status("{\"principal\":{\"type\":\"N::User\",\"id\":\"a\"},\"action\":{\"type\":\"N::Action\",\"id\":\"nope\"},"
                                    "\"resource\":{\"type\":\"N::Group\",\"id\":\"g\"}}",
                                    true, true),
                     WRIT_EVALIDATE);
}

/* Fail the Nth allocation of an entity-store load, for every N up to the
 * first that does not fail: each failure is WRIT_ENOMEM with a message,
 * returns no store (no partial object) and leaves the heap as it was (no
 * leak); the run that does not fail loads the whole store.  The loop must end
 * in that success, so every allocation the load makes was failed once. */
static void test_oom(void **state)
{
    (void)state;
    writ_entities *es = NULL;
    writ_error err;
    /* once unhindered first: lazily made statics are not leaks */
    assert_int_equal(load_entities(store_json, NULL, &es, &err), WRIT_OK);
    writ_entities_free(es);
    long failures = 0;
    bool done = false;
    for (long n = 0; n < 2000 && !done; n++) {
        es = (writ_entities *)&es; /* must be overwritten */
        memset(&err, 0, sizeof err);
        long before = live_heap();
        wr_alloc_set_fail_after(n);
        writ_status st = load_entities(store_json, NULL, &es, &err);
        wr_alloc_set_fail_after(-1);
        if (st == WRIT_OK) {
            assert_int_equal(cedar_entities_count(es->store), 3);
            writ_entities_free(es);
            done = true;
        } else {
            failures++;
            if (st != WRIT_ENOMEM || es != NULL || err.msg[0] == 0)
                fail_msg("allocation %ld failed: status %s, store %p, message \"%s\"", n,
                         writ_status_name(st), (void *)es, err.msg);
        }
        if (live_heap() != before)
            fail_msg("allocation %ld failed: %ld heap units not given back", n, live_heap() - before);
    }
    assert_true(done);
    assert_true(failures > 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_error_place),
        cmocka_unit_test(test_entities_error_position),
        cmocka_unit_test(test_raw_nul),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_store),
        cmocka_unit_test(test_many_entities),
        cmocka_unit_test(test_entity_shape_errors),
        cmocka_unit_test(test_schema_directed),
        cmocka_unit_test(test_schema_actions_added),
        cmocka_unit_test(test_requests),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
