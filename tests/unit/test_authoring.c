/* test_authoring.c - policy tests: finding a path again in JSON text
 * (jsonpos) and pt_run_file on small files (expected errors, a request
 * refused before Cedar, @id names, raw ids). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/jsonpos.h"
#include "authoring/ptest.h"

static const char DOC[] = "{\"a\": {\"x\": \"}{\\\"[\", \"y\": [1, {\"z\": true}, [2, 3]]},\n"
                          " \"b\" : [ {\"k\": null}, {\"k\": -1.5e3, \"m\": \"v\"} ] }";

static size_t at(const wr_jpos_step *p, size_t n, int key) { return wr_jpos_find(DOC, sizeof DOC - 1, p, n, key); }

static void test_jsonpos(void **state)
{
    (void)state;
    wr_jpos_step p[4] = {{NULL, 0}};
    assert_int_equal(at(p, 0, 0), 0);
    p[0] = (wr_jpos_step){"a", 0};
    assert_int_equal(at(p, 1, 0), 6);
    assert_int_equal(at(p, 1, 1), 1);
    /* a string holding braces and quotes is skipped whole */
    p[1] = (wr_jpos_step){"y", 0};
    p[2] = (wr_jpos_step){NULL, 1};
    p[3] = (wr_jpos_step){"z", 0};
    assert_int_equal(at(p, 4, 0), strstr(DOC, "true") - DOC);
    assert_int_equal(at(p, 4, 1), strstr(DOC, "\"z\"") - DOC);
    /* the second line; members after a number */
    p[0] = (wr_jpos_step){"b", 0};
    p[1] = (wr_jpos_step){NULL, 1};
    p[2] = (wr_jpos_step){"m", 0};
    assert_int_equal(at(p, 3, 1), strstr(DOC, "\"m\"") - DOC);
    /* a path that cannot be followed: the deepest value reached */
    p[2] = (wr_jpos_step){"nope", 0};
    assert_int_equal(at(p, 3, 0), strstr(DOC, "{\"k\": -1.5e3") - DOC);
    p[1] = (wr_jpos_step){NULL, 7};
    assert_int_equal(at(p, 2, 0), strstr(DOC, "[ {") - DOC);
    /* truncated or hostile text never reads past the end */
    const char deep[] = "[[[[[[[[[[[[[[";
    wr_jpos_step q[20];
    for (int i = 0; i < 20; i++)
        q[i] = (wr_jpos_step){NULL, 0};
    assert_true(wr_jpos_find(deep, sizeof deep - 1, q, 20, 0) <= sizeof deep - 1);
    q[0] = (wr_jpos_step){NULL, 3};
    assert_true(wr_jpos_find("[\"\\", 3, q, 1, 0) <= 3);
    assert_true(wr_jpos_find("{\"a", 3, (wr_jpos_step[]){{"b", 0}}, 1, 0) <= 3);
    /* bytes the scanner does not expect (a raw NUL after a number, a
     * stray bracket) are stepped over: it ends (it looped for ever on the
     * NUL, found by fuzz_entities) and still finds the items after them */
    const char odd[] = "[{\"a\": 6\0}, {\"b\": [1 }]}, 7]";
    q[0] = (wr_jpos_step){NULL, 2};
    assert_int_equal(wr_jpos_find(odd, sizeof odd - 1, q, 1, 0), strstr(odd + 12, "7") - odd);
}

static char dir[64];

static void put(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Run dir/name; its stdout and stderr into out/err (static buffers). */
static int run(const char *name, pt_totals *t, char *out, char *err)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *o = fmemopen(out, 4096, "w"), *e = fmemopen(err, 4096, "w");
    assert_non_null(o);
    assert_non_null(e);
    memset(t, 0, sizeof *t);
    int rc = pt_run_file(path, o, e, t);
    fclose(o);
    fclose(e);
    return rc;
}

#define REQ(ctx)                                                                                             \
    "{\"subject\": {\"type\": \"User\", \"id\": \"alice\"}, \"action\": {\"name\": \"read\"}, "              \
    "\"resource\": {\"type\": \"Doc\", \"id\": \"d\"}, \"context\": " ctx "}"

static void test_run(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/writ-ptest.XXXXXX");
    assert_non_null(mkdtemp(dir));
    put("p.cedar", "@id(\"by-level\")\n"
                   "permit(principal, action, resource) when { context.level > 2 };\n"
                   "permit(principal, action, resource) when { context.nope.x };\n");
    put("s.cedarschema", "entity User; entity Doc; action read appliesTo { principal: User, resource: Doc, "
                         "context: { level: Long } };\n");
    /* errors named by raw id; reasons by @id or raw id */
    put("t.json",
        "{\"policies\": \"p.cedar\", \"cases\": ["
        "{\"request\": " REQ(
            "{\"level\": 3}") ", \"decision\": \"allow\", \"reasons\": [\"by-level\"],"
                              " \"errors\": [\"policy1\"]},"
                              "{\"name\": \"raw\", \"request\": " REQ(
                                  "{\"level\": 3}") ", \"decision\": \"allow\","
                                                    " \"reasons\": [\"policy0\"]},"
                                                    "{\"name\": \"wrong errors\", \"request\": " REQ(
                                                        "{\"level\": 1}") ", \"decision\": \"deny\","
                                                                          " \"errors\": []}]}");
    static char out[4096], err[4096];
    pt_totals t;
    assert_int_equal(run("t.json", &t, out, err), 0);
    assert_int_equal(t.passed, 2);
    assert_int_equal(t.failed, 1);
    assert_non_null(strstr(out, "ok   "));
    assert_non_null(strstr(out, "t.json: case 1\n"));
    assert_non_null(strstr(out, "FAIL "));
    assert_non_null(strstr(out, "     - errors: []\n     + errors: [policy1]\n"));
    assert_non_null(strstr(out, "     error in policy1: "));
    assert_non_null(strstr(out, "why: permit by-level: when `context.level > 2` at "));
    assert_string_equal(err, "");
    /* a context the schema refuses is a deny, as the server answers it */
    put("r.json",
        "{\"policies\": \"p.cedar\", \"schema\": \"s.cedarschema\", \"validate\": true, \"cases\": ["
        "{\"name\": \"refused\", \"request\": " REQ("{\"level\": \"high\"}") ", \"decision\": \"deny\","
                                                                             " \"reasons\": []}]}");
    assert_int_equal(run("r.json", &t, out, err), 0);
    assert_int_equal(t.passed, 1);
    assert_non_null(strstr(out, "r.json: refused (request: "));
    /* a wrong type: bad file, nothing counted */
    put("b.json", "{\"policies\": \"p.cedar\", \"validate\": 1, \"cases\": []}");
    assert_int_equal(run("b.json", &t, out, err), -1);
    assert_int_equal(t.passed + t.failed, 0);
    assert_non_null(strstr(err, "b.json:1:37: validate must be true or false"));
    put("n.json", "[]");
    assert_int_equal(run("n.json", &t, out, err), -1);
    assert_non_null(strstr(err, "n.json:1:1: a test file is a JSON object"));
    const char *names[] = {"p.cedar", "s.cedarschema", "t.json", "r.json", "b.json", "n.json"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jsonpos),
        cmocka_unit_test(test_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
