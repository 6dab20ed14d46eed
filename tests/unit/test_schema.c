/* test_schema.c - the .cedarschema parser and resolver, and the corpus
 * check: every schema and entity file of the Cedar conformance corpus must
 * load (entities read with their schema).  Expected accept/reject outcomes
 * were confirmed with the reference (cedar-wasm checkParseSchema). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cedar/schema.h"
#include "util/alloc.h"
#include "writ/cedar.h"

#include "alloc_count.h"

static writ_status parse(const char *text, writ_schema **out, writ_error *err)
{
    return writ_schema_parse(text, strlen(text), out, err);
}

static writ_status status_of(const char *text)
{
    writ_schema *s = NULL;
    writ_error err;
    writ_status st = parse(text, &s, &err);
    if (st)
        assert_null(s);
    writ_schema_free(s);
    return st;
}

static void expect_error_at(const char *text, writ_status code, uint32_t line, uint32_t col)
{
    writ_schema *s = NULL;
    writ_error err;
    writ_status st = parse(text, &s, &err);
    if (st != code || err.line != line || err.col != col)
        fail_msg("%s: got %d at %u:%u (%s), want %d at %u:%u", text, st, err.line, err.col, err.msg, code, line, col);
    assert_null(s);
}

static void test_model(void **state)
{
    (void)state;
    const char *text = "// a comment\n"
                       "type Addr = { street: String, \"zip code\"?: Long };\n"
                       "@doc(\"ns\") namespace App {\n"
                       "  type Tags = Set<String>;\n"
                       "  @doc(\"users\") entity User, Admin in [Group] = { @doc(\"n\") name: String, addr?: Addr,\n"
                       "      ip: __cedar::ipaddr, d: decimal, t: Tags, m: Group } tags Long;\n"
                       "  entity Group;\n"
                       "  entity Color enum [\"red\", \"blue\"];\n"
                       "  action read, \"write\" in [Action::\"all\"] appliesTo {\n"
                       "    principal: [User, Admin], resource: Group, context: { ok: Bool }\n"
                       "  };\n"
                       "  action all;\n"
                       "}\n";
    writ_schema *s = NULL;
    writ_error err;
    assert_int_equal(parse(text, &s, &err), WRIT_OK);
    assert_int_equal(s->nentity_types, 4);
    const cs_entity_type *u = cedar_schema_entity_type(s, "App::User", 9);
    assert_non_null(u);
    assert_int_equal(u->nparents, 1);
    assert_string_equal(u->parents[0]->data, "App::Group");
    assert_non_null(u->tags);
    assert_int_equal(u->tags->kind, CS_LONG);
    assert_int_equal(u->shape->nattrs, 6);
    /* sorted attributes: addr d ip m name t */
    assert_string_equal(u->shape->attrs[0].name->data, "addr");
    assert_false(u->shape->attrs[0].required);
    assert_int_equal(u->shape->attrs[0].type->kind, CS_RECORD);
    assert_int_equal(u->shape->attrs[0].type->nattrs, 2);
    assert_int_equal(u->shape->attrs[1].type->kind, CS_EXT);
    assert_int_equal(u->shape->attrs[1].type->ext, CVX_DECIMAL);
    assert_int_equal(u->shape->attrs[2].type->ext, CVX_IPADDR);
    assert_int_equal(u->shape->attrs[3].type->kind, CS_ENTITY);
    assert_string_equal(u->shape->attrs[3].type->name->data, "App::Group");
    assert_int_equal(u->shape->attrs[5].type->kind, CS_SET);
    assert_int_equal(u->shape->attrs[5].type->elem->kind, CS_STRING);
    const cs_entity_type *c = cedar_schema_entity_type(s, "App::Color", 10);
    assert_true(c->is_enum);
    assert_int_equal(c->nenum, 2);
    assert_int_equal(s->nactions, 3);
    wr_arena *a = wr_arena_new(0);
    const cs_action *w = cedar_schema_action(s, cv_entity_new(a, "App::Action", 11, "write", 5).u.uid);
    assert_non_null(w);
    assert_true(w->has_applies);
    assert_int_equal(w->nprincipals, 2);
    assert_int_equal(w->nresources, 1);
    assert_int_equal(w->nparents, 1);
    assert_string_equal(w->parents[0]->id->data, "all");
    assert_int_equal(w->context->nattrs, 1);
    const cs_action *all = cedar_schema_action(s, cv_entity_new(a, "App::Action", 11, "all", 3).u.uid);
    assert_false(all->has_applies);
    wr_arena_free(a);
    writ_schema_free(s);
}

static void test_resolution(void **state)
{
    (void)state;
    /* N::ipaddr (an entity type) wins over the builtin.  (The reference's
     * schemaToJsonWithResolvedTypes also accepts an empty-namespace
     * `type ipaddr` beside it, but checkParseSchema rejects that as
     * shadowing, and so do we.) */
    const char *text = "namespace N { type T = X; entity X; entity ipaddr;\n"
                       "  entity E { a: T, b: Long, c: Y, d: ipaddr, e: Z, f: __cedar::ipaddr }; }\n"
                       "entity Y; type Z = Bool;";
    writ_schema *s = NULL;
    writ_error err;
    assert_int_equal(parse(text, &s, &err), WRIT_OK);
    const cs_entity_type *e = cedar_schema_entity_type(s, "N::E", 4);
    const cs_attr *at = e->shape->attrs;
    assert_int_equal(at[0].type->kind, CS_ENTITY);
    assert_string_equal(at[0].type->name->data, "N::X");
    assert_int_equal(at[1].type->kind, CS_LONG);
    assert_string_equal(at[2].type->name->data, "Y");
    assert_string_equal(at[3].type->name->data, "N::ipaddr");
    assert_int_equal(at[4].type->kind, CS_BOOL);
    assert_int_equal(at[5].type->kind, CS_EXT);
    writ_schema_free(s);
    /* a repeated attribute: the last one wins */
    assert_int_equal(parse("entity U { a: Long, a: String };", &s, &err), WRIT_OK);
    assert_int_equal(s->entity_types[0].shape->nattrs, 1);
    assert_int_equal(s->entity_types[0].shape->attrs[0].type->kind, CS_STRING);
    writ_schema_free(s);
}

static void test_accept_reject(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        writ_status want;
    } rows[] = {
        {"", WRIT_OK},
        {"namespace N { action a; action b in [Action::\"a\"]; }", WRIT_OK},
        {"action a; namespace N { action b in [Action::\"a\"]; }", WRIT_OK},
        {"entity U; type U = String;", WRIT_OK},
        {"@doc(\"x\") entity U;", WRIT_OK},
        {"entity U; type C = {a: Long}; action a appliesTo { principal: U, resource: U, context: C };", WRIT_OK},
        {"entity U { a: Long, }; ", WRIT_OK},
        {"entity U tags String;", WRIT_OK},
        {"action \"a\\u{1F600}\\n\\0\";", WRIT_OK},
        {"entity U { entity: Long, type: Long, action: Long, \"in\": Long };", WRIT_OK},
        {"action a attributes { };", WRIT_OK},
        {"namespace N { action b in [zz]; }", WRIT_ESCHEMA},
        {"entity U; action a appliesTo { principal: U };", WRIT_EPARSE},
        {"entity U; action a appliesTo { };", WRIT_EPARSE},
        {"entity U; action a appliesTo { principal: [], resource: U };", WRIT_EPARSE},
        {"entity U; entity U;", WRIT_ESCHEMA},
        {"@a @a entity U;", WRIT_EPARSE},
        {"entity U; type C = Long; action a appliesTo { principal: U, resource: U, context: C };", WRIT_ESCHEMA},
        {"entity U { in: Long };", WRIT_EPARSE},
        {"type A = B; type B = A;", WRIT_ESCHEMA},
        {"entity U { b: __cedar::Set<Long> };", WRIT_EPARSE},
        {"namespace N { entity U; } namespace N { entity V; }", WRIT_EPARSE},
        {"namespace __cedar { entity U; }", WRIT_EPARSE},
        {"entity U { a: Zed };", WRIT_ESCHEMA},
        {"entity U in [Zed];", WRIT_ESCHEMA},
        {"/* no */ entity U;", WRIT_EPARSE},
        {"entity E enum [];", WRIT_EPARSE},
        {"entity E enum [\"a\"] tags Long;", WRIT_EPARSE},
        {"entity U; namespace X { entity U; }", WRIT_ESCHEMA},
        {"action a; namespace X { action a; }", WRIT_ESCHEMA},
        {"action \"a\"; action a;", WRIT_ESCHEMA},
        {"entity U { a: Boolean };", WRIT_ESCHEMA},
        {"type Long = String;", WRIT_EPARSE},
        {"action \"a\\qb\";", WRIT_EPARSE},
        {"entity A { \"a\\x41\": Long };", WRIT_OK},     /* \x as in policies */
        {"entity A { \"a\\x80\": Long };", WRIT_EPARSE},  /* \x only up to 7f */
        {"entity A { \"a\\*\": Long };", WRIT_EPARSE},    /* \* is for patterns */
        {"action \"a\\u{D800}\";", WRIT_EPARSE},
        {"entity U", WRIT_EPARSE},
        {"action view, \"edit\" in [view];", WRIT_ESCHEMA},   /* cycle */
        {"entity U; action a appliesTo { principal: U, principal: U, resource: U };", WRIT_EPARSE},
        {"entity \xff;", WRIT_EPARSE},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        writ_status st = status_of(rows[i].text);
        if (st != rows[i].want)
            fail_msg("row %zu `%s`: got %d, want %d", i, rows[i].text, st, rows[i].want);
    }
}

static void test_positions(void **state)
{
    (void)state;
    expect_error_at("entity U", WRIT_EPARSE, 1, 9);
    expect_error_at("entity A;\n\n  entity B {\n    a: Long\n    b: Long };", WRIT_EPARSE, 5, 5);
    expect_error_at("entity A;\nentity B { x: Zed };", WRIT_ESCHEMA, 2, 15);
    expect_error_at("entity A;\n  entity A;", WRIT_ESCHEMA, 2, 10);
    expect_error_at("entity A { in: Long };", WRIT_EPARSE, 1, 12);
    expect_error_at("namespace N {\n entity A;\n", WRIT_EPARSE, 3, 1);
    expect_error_at("action \"a\\qb\";", WRIT_EPARSE, 1, 10);   /* at the backslash */
    expect_error_at("entity A; # x", WRIT_EPARSE, 1, 11);
}

/* Escapes decode as in policy text (one shared decoder, srctext.c). */
static void test_escapes(void **state)
{
    (void)state;
    writ_schema *s = NULL;
    writ_error err;
    assert_int_equal(parse("entity A { \"a\\x41\\u{e9}\\t\": Long };", &s, &err), WRIT_OK);
    const cs_entity_type *a = cedar_schema_entity_type(s, "A", 1);
    assert_non_null(a);
    assert_int_equal(a->shape->nattrs, 1);
    assert_string_equal(a->shape->attrs[0].name->data, "aA\xc3\xa9\t");
    writ_schema_free(s);
}

static void test_limits(void **state)
{
    (void)state;
    size_t d = 10000;
    char *s = malloc(d * 5 + 64);
    size_t o = (size_t)snprintf(s, 32, "type T = ");
    for (size_t i = 0; i < d; i++)
        o += (size_t)snprintf(s + o, 8, "Set<");
    memcpy(s + o, "Long", 4);
    o += 4;
    for (size_t i = 0; i < d; i++)
        s[o++] = '>';
    memcpy(s + o, ";", 2);
    assert_int_equal(status_of(s), WRIT_ELIMIT);
    free(s);
    /* just under the limit */
    char buf[1024];
    o = (size_t)snprintf(buf, 32, "type T = ");
    for (int i = 0; i < CEDAR_SCHEMA_MAX_DEPTH - 1; i++)
        o += (size_t)snprintf(buf + o, 8, "{a:");
    o += (size_t)snprintf(buf + o, 8, "Long");
    for (int i = 0; i < CEDAR_SCHEMA_MAX_DEPTH - 1; i++)
        buf[o++] = '}';
    memcpy(buf + o, ";", 2);
    assert_int_equal(status_of(buf), WRIT_OK);
    /* chains the resolver follows: `action a0 in [a1]; action a1 in [a2];
     * ...` and `type T0 = T1; ...` (50,000 of either overflowed the stack
     * and killed a server reloading the schema); just under the limit and
     * far over it */
    size_t cap = 60000 * 40;
    char *big = malloc(cap);
    for (int kind = 0; kind < 2; kind++) {
        static const size_t counts[] = {CEDAR_SCHEMA_MAX_CHAIN - 1, 50000};
        for (int c = 0; c < 2; c++) {
            size_t n = counts[c];
            o = (size_t)snprintf(big, cap, kind ? "entity E;" : "");
            for (size_t i = 0; i < n; i++)
                o += kind ? (size_t)snprintf(big + o, cap - o, "action a%zu in [a%zu];", i, i + 1)
                          : (size_t)snprintf(big + o, cap - o, "type T%zu = T%zu;", i, i + 1);
            o += kind ? (size_t)snprintf(big + o, cap - o, "action a%zu;", n)
                      : (size_t)snprintf(big + o, cap - o, "type T%zu = Long;", n);
            writ_schema *sc = NULL;
            writ_error err;
            writ_status st = writ_schema_parse(big, o, &sc, &err);
            if (c == 0 && st != WRIT_OK)
                fail_msg("%s chain of %zu: %s", kind ? "action" : "type", n, err.msg);
            if (c == 1 && (st != WRIT_ELIMIT || !strstr(err.msg, kind ? "action hierarchy deeper than 1000"
                                                                         : "naming one another deeper than 1000")))
                fail_msg("%s chain of %zu: %d %s", kind ? "action" : "type", n, st, err.msg);
            writ_schema_free(sc);
        }
    }
    /* attributes of one record, and namespaces: at the limit, and past it */
    for (int over = 0; over < 2; over++) {
        size_t n = CEDAR_SCHEMA_MAX_MEMBERS + (size_t)over;
        o = (size_t)snprintf(big, cap, "entity E { ");
        for (size_t i = 0; i < n; i++)
            o += (size_t)snprintf(big + o, cap - o, "%sa%zu: Long", i ? "," : "", i);
        o += (size_t)snprintf(big + o, cap - o, " };");
        writ_schema *sc = NULL;
        writ_error err;
        writ_status st = writ_schema_parse(big, o, &sc, &err);
        if (over ? st != WRIT_ELIMIT || !strstr(err.msg, "more than 10000 attributes") : st != WRIT_OK)
            fail_msg("%zu attributes: %d %s", n, st, err.msg);
        writ_schema_free(sc);
        o = 0;
        for (size_t i = 0; i < n; i++)
            o += (size_t)snprintf(big + o, cap - o, "namespace N%zu { entity E; }", i);
        sc = NULL;
        st = writ_schema_parse(big, o, &sc, &err);
        if (over ? st != WRIT_ELIMIT || !strstr(err.msg, "more than 10000 namespaces") : st != WRIT_OK)
            fail_msg("%zu namespaces: %d %s", n, st, err.msg);
        writ_schema_free(sc);
    }
    free(big);
}

/* Fail the Nth allocation of a schema parse, for every N up to the first
 * that does not fail: each failure is WRIT_ENOMEM with a message, returns no
 * schema (no partial object) and leaves the heap as it was (no leak); the
 * loop must end in a parse that succeeds and resolves the whole schema. */
static void test_oom(void **state)
{
    (void)state;
    /* big enough that the arena and the name tables grow several times */
    char text[32768];
    size_t o =
        (size_t)snprintf(text, sizeof text, "namespace N { entity G; type T = { x: Long, y?: String };\n");
    for (int i = 0; i < 200; i++)
        o += (size_t)snprintf(text + o, sizeof text - o,
                              "entity U%d in [G] { a: Set<Long>, t: T, \"n %d\": String };\n", i, i);
    o += (size_t)snprintf(
        text + o, sizeof text - o,
        "action a appliesTo { principal: [U0, U199], resource: G, context: T }; action b in [a]; }");
    assert_true(o < sizeof text);
    writ_schema *s = NULL;
    writ_error err;
    /* once unhindered first: lazily made statics are not leaks */
    assert_int_equal(parse(text, &s, &err), WRIT_OK);
    writ_schema_free(s);
    long failures = 0;
    bool done = false;
    for (long n = 0; n < 1000 && !done; n++) {
        s = (writ_schema *)&s; /* must be overwritten */
        memset(&err, 0, sizeof err);
        long before = live_heap();
        wr_alloc_set_fail_after(n);
        writ_status st = parse(text, &s, &err);
        wr_alloc_set_fail_after(-1);
        if (st == WRIT_OK) {
            assert_non_null(cedar_schema_entity_type(s, "N::U199", 7));
            assert_non_null(cedar_schema_entity_type(s, "N::G", 4));
            writ_schema_free(s);
            done = true;
        } else {
            failures++;
            if (st != WRIT_ENOMEM || s != NULL || err.msg[0] == 0)
                fail_msg("allocation %ld failed: status %s, schema %p, message \"%s\"", n,
                         writ_status_name(st), (void *)s, err.msg);
        }
        if (live_heap() != before)
            fail_msg("allocation %ld failed: %ld heap units not given back", n, live_heap() - before);
    }
    assert_true(done);
    assert_true(failures > 10);
}

/* ---- the corpus */

static char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long l = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)l + 1);
    *n = fread(b, 1, (size_t)l, f);
    b[*n] = 0;
    fclose(f);
    return b;
}

/* The corpus comes from the committed tarball, unpacked (schemas and entity
 * files only) into a fresh temporary folder; WRIT_CORPUS_DIR names an
 * unpacked copy instead.  There is no skip: a missing tarball is a failure,
 * not a test that quietly did not run. */
static char corpus_tmp[64];

static const char *corpus_dir(void)
{
    static char dir[128];
    const char *env = getenv("WRIT_CORPUS_DIR");
    if (env)
        return env;
    snprintf(corpus_tmp, sizeof corpus_tmp, "/tmp/writ-corpus.XXXXXX");
    if (!mkdtemp(corpus_tmp)) {
        corpus_tmp[0] = 0;
        return NULL;
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "tar -xzf '%s/tests/data/cedar/corpus-tests.tar.gz' -C '%s' --wildcards '*.cedarschema' "
             "'*.entities.json'",
             WRIT_SOURCE_DIR, corpus_tmp);
    if (system(cmd) != 0)
        return NULL;
    snprintf(dir, sizeof dir, "%s/corpus-tests", corpus_tmp);
    return dir;
}

static int corpus_cleanup(void **state)
{
    (void)state;
    if (corpus_tmp[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", corpus_tmp);
        if (system(cmd) != 0)
            print_message("cannot remove %s\n", corpus_tmp);
        corpus_tmp[0] = 0;
    }
    return 0;
}

static void test_corpus(void **state)
{
    (void)state;
    const char *dir = corpus_dir();
    assert_non_null(dir);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int nschema = 0, nschema_ok = 0, nent = 0, nent_ok = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l <= 12 || strcmp(e->d_name + l - 12, ".cedarschema"))
            continue;
        char path[4096];
        size_t n = 0, m = 0;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        char *text = read_all(path, &n);
        assert_non_null(text);
        writ_schema *s = NULL;
        writ_error err;
        nschema++;
        if (writ_schema_parse(text, n, &s, &err) == WRIT_OK)
            nschema_ok++;
        else
            print_message("schema %s: %s\n", path, err.msg);
        snprintf(path, sizeof path, "%s/%.*s.entities.json", dir, (int)(l - 12), e->d_name);
        char *json = read_all(path, &m);
        if (json) {
            nent++;
            writ_entities *es = NULL;
            if (writ_entities_parse(json, m, s, &es, &err) == WRIT_OK)
                nent_ok++;
            else
                print_message("entities %s: %s\n", path, err.msg);
            writ_entities_free(es);
            free(json);
        }
        writ_schema_free(s);
        free(text);
    }
    closedir(d);
    print_message("corpus %s: %d/%d schemas, %d/%d entity files load\n", dir, nschema_ok, nschema, nent_ok, nent);
    assert_true(nschema > 0);
    assert_int_equal(nschema_ok, nschema);
    assert_int_equal(nent_ok, nent);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model),
        cmocka_unit_test(test_resolution),
        cmocka_unit_test(test_accept_reject),
        cmocka_unit_test(test_positions),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_oom),
        cmocka_unit_test_teardown(test_corpus, corpus_cleanup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
