/* test_azbody.c - the AuthZEN body read as fields (writ_json_parse_fields,
 * cedar_json_fast_fields in jsonfast.c) and mapped by az_map_fields
 * (server/azmap.c): every text it accepts reads to the members the usual
 * reader gives, and maps to the same entities, properties and errors as
 * az_map of the usual tree (fuzz/azbody_check.h, which fuzz/fuzz_jsonsplit.c
 * runs on any input); what it is unsure of is declined, so the server reads
 * it the usual way.  Also the slices (into the text, or copied when they
 * hold escapes), the member limit just under and over, releasing, and
 * running out of memory at every allocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../fuzz/azbody_check.h"
#include "cedar/reqbuild.h"
#include "util/alloc.h"
#include "writ/cedar.h"

static void failed(const char *why) { fail_msg("%s", why); }

static void accepted(const char *t)
{
    if (!body_check(t, strlen(t), failed))
        fail_msg("declined: %s", t);
}

static void declined(const char *t)
{
    if (body_check(t, strlen(t), failed))
        fail_msg("accepted: %s", t);
}

#define SUBJ "\"subject\":{\"type\":\"Agent\",\"id\":\"a\"}"
#define ACT "\"action\":{\"name\":\"read\"}"
#define RES "\"resource\":{\"type\":\"Tool\",\"id\":\"t\"}"
#define CTX "\"context\":{\"n\":1,\"destination\":\"x\"}"

static const char bench[] =
    "{\"subject\":{\"type\":\"Agent\",\"id\":\"agent-4\"},\"action\":{\"name\":\"read\"},\"resource\":{"
    "\"type\":\"Tool\",\"id\":\"tool-10\"},\"context\":{\"purpose\":\"billing reconciliation\","
    "\"destination\":\"db.internal.example.com\",\"source_ip\":\"10.1.139.177\",\"amount\":{\"__extn\":{"
    "\"fn\":\"decimal\",\"arg\":\"1032.50\"}},\"hour\":7,\"mfa\":true,\"session_tags\":[],\"time\":"
    "\"2025-07-25T13:00:00Z\",\"justification\":\"see INC-891\",\"chain\":[{\"__entity\":{\"type\":"
    "\"Agent\",\"id\":\"agent-3\"}},{\"__entity\":{\"type\":\"Agent\",\"id\":\"agent-12\"}}],"
    "\"chain_depth\":2}}";

static const char *const keep[] = {"destination", "task", "chain", "input", NULL};
static const char *const shallow[] = {"subject", "action", "resource", NULL};

static void same_bytes(const char *p, size_t n, const char *want)
{
    assert_int_equal(n, strlen(want));
    assert_memory_equal(p, want, n);
}

static void test_bench_body(void **state)
{
    (void)state;
    accepted(bench);
    writ_split *sp = writ_split_new();
    assert_non_null(sp);
    const writ_json_field *f;
    size_t n;
    assert_int_equal(writ_json_parse_fields(sp, bench, strlen(bench), "context", keep, shallow, &f, &n), 0);
    assert_int_equal(n, 4);
    const writ_json_field *s = az_field(f, n, "subject");
    assert_non_null(s);
    assert_int_equal(s->kind, WRIT_FIELD_FIELDS);
    assert_int_equal(s->n_fields, 2);
    assert_int_equal(s->fields[1].kind, WRIT_FIELD_STRING);
    same_bytes(s->fields[1].str, s->fields[1].len, "agent-4");
    /* a string without escapes is a slice of the text itself */
    assert_true(s->fields[1].str > bench && s->fields[1].str < bench + sizeof bench);
    const writ_json_field *c = az_field(f, n, "context");
    assert_int_equal(c->kind, WRIT_FIELD_JSON);
    assert_true(json_is_null(json_object_get(c->json, "purpose")));
    assert_true(json_is_array(json_object_get(c->json, "chain"))); /* kept */
    az_names names = {"Ns::", "Ns::Action"};
    az_mapped m;
    char why[200];
    assert_int_equal(az_map_fields(&names, f, n, false, &m, why, sizeof why), 0);
    assert_true(m.has_subject);
    same_bytes(m.principal.prefix, m.principal.prefix_len, "Ns::");
    same_bytes(m.principal.type, m.principal.type_len, "Agent");
    same_bytes(m.action.type, m.action.type_len, "Ns::Action");
    same_bytes(m.action.id, m.action.id_len, "read");
    same_bytes(m.resource.id, m.resource.id_len, "tool-10");
    assert_ptr_equal(m.context, c->json);
    assert_null(m.principal_props);
    assert_null(m.resource_props);
    writ_split_release(sp);
    writ_split_release(sp); /* twice: nothing left */
    writ_split_release(NULL);
    writ_split_free(sp);
}

static void test_values(void **state)
{
    (void)state;
    accepted("{" SUBJ "," ACT "," RES "," CTX "}");
    accepted("{\"context\":{}}"); /* the parts missing: az_map's errors, the same */
    accepted(" {\n\t\"context\" : { } , \"subject\" : { } , \"options\" : {\"explain\":true} } \n");
    accepted("{" SUBJ "," ACT "," RES ",\"context\":{},\"options\":\"x\",\"n\":-12,\"b\":[1,{\"a\":null}],"
             "\"t\":true,\"f\":false,\"z\":null,\"e\":{}}");
    /* shallow members' non-string values are trees: properties, and anything else */
    accepted("{\"subject\":{\"type\":\"Agent\",\"id\":\"a\",\"properties\":{\"trust\":5,\"tags\":[\"x\"],"
             "\"team\":{\"__entity\":{\"type\":\"Team\",\"id\":\"t\"}}}}," ACT
             ",\"resource\":{\"type\":\"Tool\",\"id\":\"t\",\"properties\":null,\"x\":[1]},\"context\":{}}");
    accepted("{\"subject\":{},\"action\":{\"name\":\"\"},\"resource\":{\"type\":7},\"context\":{}}");
    /* the qualified type is taken as written, in both */
    accepted("{\"subject\":{\"type\":\"Ns::Agent\",\"id\":\"a\"}," ACT "," RES ",\"context\":{}}");
    /* a part that is not an object is a field of another kind */
    accepted("{\"subject\":\"a\",\"action\":null,\"resource\":[],\"context\":{}}");
    accepted("{\"subject\":1,\"action\":true," RES ",\"context\":{}}");
}

/* Contexts the lean reading (body_lean_check) sees differently: history
 * kept (and deleted), kept members with nulls, chains of names and not,
 * a null among the kept members (the usual error), facts' names. */
static void test_lean(void **state)
{
    (void)state;
    accepted("{" SUBJ "," ACT "," RES ",\"context\":{\"history\":{\"n\":1},\"hour\":7}}");
    accepted("{" SUBJ "," ACT "," RES ",\"context\":{\"history\":null,\"input\":{\"a\":null},\"m\":[1]}}");
    accepted("{" SUBJ "," ACT "," RES
             ",\"context\":{\"chain\":[\"root\",1],\"destination\":\"X\",\"k\":{}}}");
    accepted("{" SUBJ "," ACT "," RES
             ",\"context\":{\"chain\":\"text\",\"task\":{\"id\":\"t\"},\"z\":true}}");
    accepted("{" SUBJ "," ACT "," RES ",\"context\":{\"destination\":null,\"source_ip\":\"1.2.3.4\"}}");
    declined("{" SUBJ "," ACT "," RES ",\"context\":{\"input\":1.5e3}}"); /* (jansson reads it) */
    accepted("{" SUBJ "," ACT "," RES ",\"context\":{\"b\":2,\"a\":1,\"history\":{},\"c\":[{\"__entity\":{"
             "\"type\":\"A\",\"id\":\"x\"}}]}}");
}

static void test_escapes(void **state)
{
    (void)state;
    /* an escaped key followed by an escaped value: both outlive the scratch
     * buffer the next string reuses */
    const char *t =
        "{\"subject\":{\"ty\\/pe\":\"x\\ty\",\"type\":\"A\\\"g\",\"id\":\"caf\xc3\xa9 \\\\ \\n\"},"
        "\"a\\u0063tion\":1,\"context\":{}}";
    declined(t); /* \u: jansson's */
    t = "{\"subject\":{\"ty\\/pe\":\"x\\ty\",\"type\":\"A\\\"g\",\"id\":\"caf\xc3\xa9 \\\\ \\n\"},"
        "\"a\\/b\":\"\\b\\f\\r\"," ACT "," RES ",\"context\":{\"k\\/\":\"v\\/\"}}";
    accepted(t);
    writ_split *sp = writ_split_new();
    const writ_json_field *f;
    size_t n;
    assert_int_equal(writ_json_parse_fields(sp, t, strlen(t), "context", keep, shallow, &f, &n), 0);
    const writ_json_field *s = az_field(f, n, "subject");
    assert_int_equal(s->n_fields, 3);
    same_bytes(s->fields[0].key, s->fields[0].key_len, "ty/pe");
    same_bytes(s->fields[0].str, s->fields[0].len, "x\ty");
    same_bytes(s->fields[1].str, s->fields[1].len, "A\"g");
    same_bytes(s->fields[2].str, s->fields[2].len, "caf\xc3\xa9 \\ \n");
    const writ_json_field *ab = az_field(f, n, "a/b");
    assert_non_null(ab);
    same_bytes(ab->str, ab->len, "\b\f\r");
    writ_split_free(sp); /* releases */
}

/* Strings are scanned a word (8 bytes) at a time while plain: a byte that
 * is not plain at every place of a word, and strings of every length
 * around a word, read as the usual reader reads them (or are declined
 * where it refuses them). */
static void test_string_words(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        bool ok;
    } odd[] = {
        {"\\\"", true},     {"\\\\", true},
        {"\\/", true},      {"\x7f", true},
        {"\xc3\xa9", true}, {"\xe2\x82\xac", true},
        {"\x01", false},    {"\x1f", false},
        {"\xff", false},    {"\xed\xa0\x80", false},
        {" ", true},        {"~", true},
        {"\\u0041", false}, {"\xf0\x9f\x98\x80", true},
    };
    for (size_t k = 0; k < sizeof odd / sizeof odd[0]; k++)
        for (int at = 0; at < 20; at++)
            for (int tail = 0; tail < 10; tail += 3) {
                char id[128];
                snprintf(id, sizeof id, "%.*s%s%.*s", at, "abcdefghijklmnopqrstuvwxyz", odd[k].bytes, tail,
                         "0123456789");
                char t[512];
                snprintf(t, sizeof t,
                         "{\"subject\":{\"type\":\"Agent\",\"id\":\"%s\"},\"context\":{\"s\":\"%s\"}}", id,
                         id);
                if (body_check(t, strlen(t), failed) != odd[k].ok)
                    fail_msg("%s: %s", odd[k].ok ? "declined" : "accepted", t);
            }
    /* plain strings of every length around a word, to the end of the text */
    for (int len = 0; len < 40; len++) {
        char t[256];
        snprintf(t, sizeof t, "{\"context\":{},\"x\":\"%.*s\"}", len,
                 "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH");
        accepted(t);
        t[strlen(t) - 2] = '\0'; /* cut inside or at the end of the string */
        declined(t);
    }
}

static void test_declined(void **state)
{
    (void)state;
    declined("");
    declined("[]");
    declined("\"x\"");
    declined("{}");                                  /* no context */
    declined("{" SUBJ "," ACT "," RES "}");          /* no context */
    declined("{" SUBJ ",\"context\":null}");         /* not an object */
    declined("{" SUBJ ",\"context\":[1]}");          /* not an object */
    declined("{" SUBJ ",\"context\":{\"n\":null}}"); /* Cedar refuses null */
    declined("{" SUBJ "," SUBJ ",\"context\":{}}");  /* duplicate */
    declined("{" CTX "," CTX "}");                   /* duplicate context */
    declined("{\"subject\":{\"id\":\"a\",\"id\":\"b\"},\"context\":{}}");
    declined("{\"x\":1,\"x\":{},\"context\":{}}");
    declined("{\"subject\":{\"type\":\"A\",\"id\":\"a\",\"p\":1.5},\"context\":{}}"); /* a real */
    declined("{\"subject\":{\"type\":\"A\\u0041\",\"id\":\"a\"},\"context\":{}}");    /* \u */
    declined("{" SUBJ ",\"context\":{}} x");                                          /* trailing */
    declined("{" SUBJ ",\"context\":{}");                                             /* cut */
    declined("{" SUBJ ",\"context\":{},}");
    declined("{\"subject\":{\"type\":\"A\",},\"context\":{}}");
    declined("{\"subject\":{\"type\"\"A\"},\"context\":{}}");
    declined("{\"subject\":{\"type\":\"A\x01\"},\"context\":{}}");    /* control byte */
    declined("{\"subject\":{\"type\":\"\xc0\xaf\"},\"context\":{}}"); /* overlong UTF-8 */
}

/* an object of k members "m0": "v", ... */
static char *wide(const char *head, int k, const char *tail)
{
    size_t cap = strlen(head) + strlen(tail) + (size_t)k * 16 + 1;
    char *b = malloc(cap);
    assert_non_null(b);
    size_t at = (size_t)snprintf(b, cap, "%s", head);
    for (int i = 0; i < k; i++)
        at += (size_t)snprintf(b + at, cap - at, "%s\"m%d\":\"v\"", i ? "," : "", i);
    snprintf(b + at, cap - at, "%s", tail);
    return b;
}

static void test_limits(void **state)
{
    (void)state;
    /* WRIT_FIELDS_MAX members in a shallow part, and one more */
    char *t = wide("{\"context\":{},\"subject\":{", WRIT_FIELDS_MAX, "}}");
    accepted(t);
    free(t);
    t = wide("{\"context\":{},\"subject\":{", WRIT_FIELDS_MAX + 1, "}}");
    declined(t); /* body_check: only because it is too wide */
    free(t);
    /* at the top: the context is one of them */
    t = wide("{\"context\":{},", WRIT_FIELDS_MAX - 1, "}");
    accepted(t);
    free(t);
    t = wide("{\"context\":{},", WRIT_FIELDS_MAX, "}");
    declined(t);
    free(t);
    /* an object that is not a shallow part is a tree, of any width */
    t = wide("{\"context\":{},\"options\":{", 100, "}}");
    accepted(t);
    free(t);
}

/* SPLIT_MAX_MEMBERS (80) members in the context, kept ones included, and
 * one more */
static void test_context_limit(void **state)
{
    (void)state;
    static const char *const many[] = {"k0", "k1",  "k2",  "k3",  "k4",  "k5",  "k6",  "k7",  "k8",
                                       "k9", "k10", "k11", "k12", "k13", "k14", "k15", "k16", NULL};
    for (int k = 16; k <= 17; k++) {
        char b[2048];
        size_t at = (size_t)snprintf(b, sizeof b, "{\"context\":{");
        for (int i = 0; i < 64; i++)
            at += (size_t)snprintf(b + at, sizeof b - at, "%s\"s%d\":%d", i ? "," : "", i, i);
        for (int i = 0; i < k; i++)
            at += (size_t)snprintf(b + at, sizeof b - at, ",\"k%d\":[%d]", i, i);
        snprintf(b + at, sizeof b - at, "}}");
        wr_arena *a = wr_arena_new(0);
        cedar_json_split sp = {.arena = a, .key = "context", .keep = many};
        const writ_json_field *f;
        size_t n;
        int rc = cedar_json_fast_fields(b, strlen(b), &sp, shallow, &f, &n);
        if (k == 16) {
            assert_int_equal(rc, 0);
            assert_int_equal(json_object_size(f[0].json), 80);
            assert_true(json_is_array(json_object_get(f[0].json, "k15")));
            cedar_json_fields_release(f, n);
        } else {
            assert_int_equal(rc, -1);
            assert_null(f);
        }
        wr_arena_free(a);
    }
}

/* az_map_fields's messages, each the one az_map gives (body_check) */
static void map_error(const char *t, bool optional, const char *want)
{
    accepted(t);
    writ_split *sp = writ_split_new();
    const writ_json_field *f;
    size_t n;
    assert_int_equal(writ_json_parse_fields(sp, t, strlen(t), "context", keep, shallow, &f, &n), 0);
    az_names names = {"", "Action"};
    az_mapped m;
    char why[200] = "";
    assert_int_equal(az_map_fields(&names, f, n, optional, &m, why, sizeof why), -1);
    assert_string_equal(why, want);
    writ_split_free(sp);
}

static void test_map_errors(void **state)
{
    (void)state;
    map_error("{" ACT "," RES ",\"context\":{}}", false, "subject is required");
    map_error("{\"subject\":null," ACT "," RES ",\"context\":{}}", false, "subject must be an object");
    map_error("{\"subject\":null," ACT "," RES ",\"context\":{}}", true, "subject must be an object");
    map_error("{\"subject\":\"a\"," ACT "," RES ",\"context\":{}}", false, "subject must be an object");
    map_error("{\"subject\":{\"type\":1,\"id\":\"a\"}," ACT "," RES ",\"context\":{}}", false,
              "subject.type must be a string");
    map_error("{\"subject\":{\"type\":\"A\"}," ACT "," RES ",\"context\":{}}", false,
              "subject.id is required (a string)");
    map_error("{\"subject\":{\"type\":\"A\",\"id\":\"\"}," ACT "," RES ",\"context\":{}}", false,
              "subject.id must not be empty");
    map_error("{" SUBJ "," RES ",\"context\":{}}", false, "action is required");
    map_error("{" SUBJ ",\"action\":{\"name\":null}," RES ",\"context\":{}}", false,
              "action.name must be a string");
    map_error("{" SUBJ ",\"action\":{\"name\":\"\"}," RES ",\"context\":{}}", false,
              "action.name must not be empty");
    map_error("{" SUBJ "," ACT ",\"resource\":{\"type\":\"T\",\"id\":[]},\"context\":{}}", false,
              "resource.id must be a string");
    map_error("{\"subject\":{\"type\":\"A\",\"id\":\"a\",\"properties\":\"p\"}," ACT "," RES
              ",\"context\":{}}",
              false, "properties must be an object");
    map_error("{" SUBJ "," ACT
              ",\"resource\":{\"type\":\"T\",\"id\":\"t\",\"properties\":[]},\"context\":{}}",
              false, "properties must be an object");
    /* the first check that fails names the error: parts before members */
    map_error("{\"subject\":{},\"action\":{},\"resource\":1,\"context\":{}}", true,
              "resource must be an object");
    map_error("{\"subject\":{},\"action\":{},\"resource\":{},\"context\":{}}", true,
              "subject.type is required (a string)");
    map_error("{\"action\":{}," RES ",\"context\":{}}", true, "action.name is required (a string)");
}

static void test_properties(void **state)
{
    (void)state;
    const char *t = "{\"subject\":{\"type\":\"A\",\"id\":\"a\",\"properties\":{\"trust\":5}}," ACT
                    ",\"resource\":{\"type\":\"T\",\"id\":\"t\",\"properties\":null},\"context\":{}}";
    accepted(t);
    writ_split *sp = writ_split_new();
    const writ_json_field *f;
    size_t n;
    assert_int_equal(writ_json_parse_fields(sp, t, strlen(t), "context", keep, shallow, &f, &n), 0);
    az_names names = {"", "Action"};
    az_mapped m;
    char why[200];
    assert_int_equal(az_map_fields(&names, f, n, false, &m, why, sizeof why), 0);
    assert_true(json_is_object(m.principal_props));
    assert_int_equal(json_integer_value(json_object_get(m.principal_props, "trust")), 5);
    assert_true(json_is_null(m.resource_props));
    /* a new parse releases the last one's trees (ASan: no leak) */
    assert_int_equal(writ_json_parse_fields(sp, t, strlen(t), "context", keep, shallow, &f, &n), 0);
    assert_int_equal(writ_json_parse_fields(sp, "{", 1, "context", keep, shallow, &f, &n), -1);
    assert_null(f);
    assert_int_equal(n, 0);
    assert_int_equal(writ_json_parse_fields(NULL, t, strlen(t), "context", keep, shallow, &f, &n), -1);
    assert_int_equal(writ_json_parse_fields(sp, t, strlen(t), "context", keep, shallow, NULL, &n), -1);
    writ_split_free(sp);
}

/* Out of memory at every allocation: declined (or read), never half-made */
static void test_oom(void **state)
{
    (void)state;
    const char *t =
        "{\"subject\":{\"type\":\"A\",\"id\":\"a\\/b\",\"properties\":{\"p\":[1,{\"q\":\"r\"}]}},"
        "\"action\":{\"name\":\"read\"},\"resource\":{\"type\":\"T\",\"id\":\"t\"},\"x\":[1,2],"
        "\"context\":{\"n\":1,\"chain\":[{\"__entity\":{\"type\":\"A\",\"id\":\"b\"}}],\"s\":\"v\"}}";
    int ok = 0;
    for (long k = 0; k < 400; k++) {
        writ_split *sp = writ_split_new();
        if (!sp)
            continue;
        const writ_json_field *f;
        size_t n;
        wr_alloc_set_fail_after(k);
        int rc = writ_json_parse_fields(sp, t, strlen(t), "context", keep, shallow, &f, &n);
        wr_alloc_set_fail_after(-1);
        if (rc == 0) {
            ok++;
            assert_int_equal(n, 5);
        } else {
            assert_null(f);
        }
        writ_split_free(sp);
    }
    assert_true(ok > 0);
}

/* The chain read as a Cedar value gives its compact text
 * (cedar_split_want_text): json_dumps's bytes, whatever the spacing and
 * escapes of the body; none for a chain that is not an array, or kept. */
static void chain_text(const char *chain, const char *want)
{
    char t[1024];
    snprintf(t, sizeof t,
             "{\"subject\":{\"type\":\"A\",\"id\":\"a\"},\"action\":{\"name\":\"r\"},"
             "\"resource\":{\"type\":\"T\",\"id\":\"t\"},\"context\":{\"n\":1,\"chain\": %s ,\"s\":\"v\"}}",
             chain);
    accepted(t); /* body_check: the text is cedar_json_dump_compact's of the usual tree */
    static const char *const keep_text[] = {"destination", "task", "input", NULL};
    writ_split *sp = writ_split_new();
    assert_non_null(sp);
    cedar_split_want_text(sp, "chain");
    const writ_json_field *f;
    size_t n;
    assert_int_equal(writ_json_parse_fields(sp, t, strlen(t), "context", keep_text, shallow, &f, &n), 0);
    const writ_json_field *c = az_field(f, n, "context");
    assert_non_null(c);
    /* a Cedar value, not JSON; an array of names stays JSON (history.c reads its root) */
    bool names = chain[0] == '[' && chain[strspn(chain + 1, " \t\n") + 1] == '"';
    assert_true(names ? json_is_array(json_object_get(c->json, "chain"))
                      : json_is_null(json_object_get(c->json, "chain")));
    if (want)
        assert_string_equal(cedar_split_text(sp), want);
    else
        assert_null(cedar_split_text(sp));
    /* kept: JSON as before, no text */
    assert_int_equal(writ_json_parse_fields(sp, t, strlen(t), "context", keep, shallow, &f, &n), 0);
    assert_null(cedar_split_text(sp));
    writ_split_free(sp);
}

static void test_chain_text(void **state)
{
    (void)state;
    chain_text("[{\"__entity\":{\"type\":\"Agent\",\"id\":\"agent-3\"}},{\"__entity\":{\"type\":\"Agent\","
               "\"id\":\"agent-12\"}}]",
               "[{\"__entity\":{\"type\":\"Agent\",\"id\":\"agent-3\"}},{\"__entity\":{\"type\":\"Agent\","
               "\"id\":\"agent-12\"}}]");
    chain_text("[ \"root\", \"a\" ]", NULL);
    chain_text("[ 1 ,\n\t\"a\\/b\\\"c\\\\d\\n\\t\\b\\f\\r\" , \"\xc3\xa9\xe2\x82\xac\" ]",
               "[1,\"a/b\\\"c\\\\d\\n\\t\\b\\f\\r\",\"\xc3\xa9\xe2\x82\xac\"]");
    chain_text("[ -0, 12, -345, true, false, [ ], { }, {\"k\" : [1, {\"x\":\"y\"}]} ]",
               "[0,12,-345,true,false,[],{},{\"k\":[1,{\"x\":\"y\"}]}]");
    chain_text("[]", "[]");
    chain_text("\"root\"", NULL);
    chain_text("{\"a\":1}", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bench_body),    cmocka_unit_test(test_values),
        cmocka_unit_test(test_escapes),       cmocka_unit_test(test_string_words),
        cmocka_unit_test(test_declined),      cmocka_unit_test(test_limits),
        cmocka_unit_test(test_context_limit), cmocka_unit_test(test_map_errors),
        cmocka_unit_test(test_properties),    cmocka_unit_test(test_oom),
        cmocka_unit_test(test_chain_text),    cmocka_unit_test(test_lean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
