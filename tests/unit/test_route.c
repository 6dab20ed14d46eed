/* test_route.c - the /authz/check route table: compiling, matching,
 * captures and the limits of a path, on canonical paths (path.h; the
 * canonical path's own refusals are in test_path.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "server/path.h"
#include "server/route.h"

static srv_route R[] = {
    {"GET", "/datasets/{id}", "read", "Dataset", "{id}", NULL},
    {"*", "/tools/{t}/*", "invoke", "Tool", "{t}:{*}", NULL},
    {"POST", "/repos/{repo}/*", "write", "Repo", "{repo}", NULL},
    {"GET", "/", "home", "Page", "root", NULL},
    {"GET", "/a/{x}/{y}", "two", "T", "{y}-{x}", NULL},
};

typedef struct {
    route_table t;
} fixture;

static int setup(void **state)
{
    static fixture f;
    writ_error err;
    if (route_compile(&f.t, R, sizeof R / sizeof R[0], &err) != WRIT_OK) {
        route_free(&f.t);
        return -1;
    }
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    route_free(&((fixture *)*state)->t);
    return 0;
}

/* "action rid" of a request (its raw path made canonical, then matched),
 * or "! why" */
static const char *resolve(void **state, const char *method, const char *path)
{
    static char out[512];
    static char canon[PATH_MAX_LEN + 1];
    const route_table *t = &((fixture *)*state)->t;
    sbuf rid;
    sb_init(&rid);
    char why[128];
    if (path_canon(path, strlen(path), canon, sizeof canon, why, sizeof why)) {
        snprintf(out, sizeof out, "! %s", why);
        return out;
    }
    const chk_route *r = route_resolve(t, method, canon, &rid, why, sizeof why);
    if (r)
        snprintf(out, sizeof out, "%s %s", r->src->action, sb_ok(&rid) && rid.p ? rid.p : "");
    else
        snprintf(out, sizeof out, "! %s", why);
    sb_free(&rid);
    return out;
}

static void matching(void **state)
{
    static const struct {
        const char *method, *path, *want;
    } cases[] = {
        {"GET", "/datasets/usage", "read usage"},
        {"GET", "/datasets/usage/", "read usage"},
        {"GET", "/datasets/usage?x=1#f", "read usage"},
        {"GET", "/datasets/a%20b", "read a b"},
        {"GET", "/datasets/%7Bid%7D", "read {id}"},
        /* decoded once: "%2e%2e" is a segment, not ".." */
        {"GET", "/datasets/%252e%252e", "read %2e%2e"},
        {"GET", "/datasets/caf%C3%A9", "read caf\xc3\xa9"},
        {"POST", "/datasets/usage", "! no route for this method and path"},
        {"GET", "/datasets", "! no route for this method and path"},
        {"GET", "/datasets/a/b", "! no route for this method and path"},
        /* '*': the rest of the path, decoded, without the query */
        {"DELETE", "/tools/t1/run/now%20x?q=1", "invoke t1:run/now x"},
        {"GET", "/tools/t1", "invoke t1:"},
        {"GET", "/tools/t1/", "invoke t1:"},
        {"GET", "/tools/t1/a/", "invoke t1:a/"},
        {"GET", "/tools/t1/a%25b/c", "invoke t1:a%b/c"},
        {"POST", "/repos/writ/pulls/1", "write writ"},
        {"GET", "/", "home root"},
        {"GET", "/?q", "home root"},
        {"GET", "/a/1/2", "two 2-1"},
        /* refused before matching, naming the byte of the raw path */
        {"GET", "//datasets///usage/", "! path: empty segment at byte 1"},
        {"GET", "/tools/t1//a#frag", "! path: empty segment at byte 10"},
        {"GET", "/datasets/a%2Fb", "! path: encoded '/' at byte 11"},
        {"GET", "/datasets/a%00", "! path: encoded NUL at byte 11"},
        {"GET", "/datasets/%4", "! path: bad percent-escape at byte 10"},
        {"GET", "/datasets/%zz", "! path: bad percent-escape at byte 10"},
        {"GET", "/x%/datasets", "! path: bad percent-escape at byte 2"},
        {"POST", "/repos/writ/../../a", "! path: '..' segment at byte 12"},
        {"GET", "", "! path: does not start with '/'"},
        {"GET", "?q", "! path: does not start with '/'"},
        {"GET", "/datasets/ok?%zz", "read ok"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = resolve(state, cases[i].method, cases[i].path);
        if (strcmp(got, cases[i].want))
            fail_msg("%s %s: got <%s>, want <%s>", cases[i].method, cases[i].path, got, cases[i].want);
    }
}

static void limits(void **state)
{
    char path[ROUTE_MAX_PATH + 2];
    /* ROUTE_MAX_SEGS segments are fine, one more is not */
    size_t n = 0;
    for (int i = 0; i < ROUTE_MAX_SEGS; i++)
        n += (size_t)snprintf(path + n, sizeof path - n, "/s");
    assert_string_equal(resolve(state, "GET", path), "! no route for this method and path");
    snprintf(path + n, sizeof path - n, "/s");
    assert_string_equal(resolve(state, "GET", path), "! path has too many segments");
    /* ROUTE_MAX_PATH bytes are fine, one more is not (refused by the
     * canonical path first, and by the route table when given one) */
    memset(path, 'a', sizeof path);
    path[0] = '/';
    path[ROUTE_MAX_PATH] = '\0';
    assert_string_equal(resolve(state, "GET", path), "! no route for this method and path");
    path[ROUTE_MAX_PATH] = 'a';
    path[ROUTE_MAX_PATH + 1] = '\0';
    assert_string_equal(resolve(state, "GET", path), "! path: longer than 4096 bytes");
    sbuf rid;
    sb_init(&rid);
    char why[64];
    assert_null(route_resolve(&((fixture *)*state)->t, "GET", path, &rid, why, sizeof why));
    assert_string_equal(why, "path too long");
    sb_free(&rid);
}

/* The expanded resource id has a limit too (and the first matching route's
 * answer stands: no fall-through to the next route). */
static void rid_limit(void **state)
{
    (void)state;
    srv_route rs[] = {{"GET", "/r/*", "x", "T", "{*}{*}{*}", NULL}, {"GET", "/r/*", "y", "T", "fallback", NULL}};
    route_table t;
    writ_error err;
    assert_int_equal(route_compile(&t, rs, 2, &err), WRIT_OK);
    static char path[ROUTE_MAX_PATH + 1];
    memcpy(path, "/r/", 3);
    size_t rest = ROUTE_MAX_RID / 3; /* 3 * rest <= ROUTE_MAX_RID */
    memset(path + 3, 'a', rest);
    path[3 + rest] = '\0';
    char why[64];
    sbuf rid;
    sb_init(&rid);
    assert_ptr_equal(route_resolve(&t, "GET", path, &rid, why, sizeof why), &t.routes[0]);
    assert_int_equal(rid.len, 3 * rest);
    sb_free(&rid);
    path[3 + rest] = 'a';
    path[4 + rest] = '\0';
    assert_null(route_resolve(&t, "GET", path, &rid, why, sizeof why));
    assert_string_equal(why, "resource id too long");
    sb_free(&rid);
    route_free(&t);
}

static void compile_errors(void **state)
{
    (void)state;
    static const struct {
        srv_route r;
        const char *frag;
    } cases[] = {
        {{"GET", "/a/*/b", "x", "T", "a", NULL}, "'*' must be the last segment"},
        {{"GET", "/a/{}", "x", "T", "a", NULL}, "a capture is written {name}"},
        {{"GET", "/a/{x", "x", "T", "a", NULL}, "a capture is written {name}"},
        {{"GET", "/a/{x}", "x", "T", "{x", NULL}, "unclosed '{' in the resource id"},
        {{"GET", "/a/{x}", "x", "T", "{y}", NULL}, "a capture the pattern does not have"},
        {{"GET", "/a/{x}", "x", "T", "{*}", NULL}, "a capture the pattern does not have"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        writ_error err;
        memset(&err, 0, sizeof err);
        if (route_check(&cases[i].r, &err) == WRIT_OK || !strstr(err.msg, cases[i].frag) ||
            strncmp(err.msg, "route GET /a/", 13))
            fail_msg("%s %s: <%s>", cases[i].r.pattern, cases[i].r.rid, err.msg);
        route_table t;
        assert_int_not_equal(route_compile(&t, &cases[i].r, 1, &err), WRIT_OK);
        route_free(&t);
    }
    char many[4 * ROUTE_MAX_SEGS + 8] = "";
    for (int i = 0; i <= ROUTE_MAX_SEGS; i++)
        strcat(many, "/s");
    srv_route r = {"GET", many, "x", "T", "a", NULL};
    writ_error err;
    assert_int_not_equal(route_check(&r, &err), WRIT_OK);
    assert_non_null(strstr(err.msg, "too many segments"));
    srv_route ok = {"GET", "/a/{x}/*", "x", "T", "{x}/{*}", NULL};
    assert_int_equal(route_check(&ok, &err), WRIT_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(matching, setup, teardown),
        cmocka_unit_test_setup_teardown(limits, setup, teardown),
        cmocka_unit_test(rid_limit),
        cmocka_unit_test(compile_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
