/* test_search.c - src/search: page tokens (round trip, every altered byte
 * refused, garbage refused) and the pruned search against brute force on
 * random stores (attributes missing or mistyped now and then) and policies
 * shaped to trip the pruning, for all three kinds of search; an unknown
 * type is an error naming it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "search/search.h"
#include "util/sbuf.h"

/* ---- page tokens */

static void test_page_token(void **state)
{
    (void)state;
    wr_page_pos p = {.kind = 2, .generation = 77, .pos = 123456789012ull}, q;
    for (int i = 0; i < 16; i++)
        p.query[i] = (unsigned char)(i * 7);
    char tok[WR_PAGE_TOKEN_MAX], why[200];
    assert_int_equal(wr_page_token_make(&p, tok, sizeof tok), 0);
    assert_int_equal(wr_page_token_read(tok, strlen(tok), &q, why, sizeof why), 0);
    assert_int_equal(q.kind, 2);
    assert_true(q.generation == 77 && q.pos == 123456789012ull);
    assert_memory_equal(q.query, p.query, 16);
    /* every character changed: refused */
    size_t n = strlen(tok);
    for (size_t i = 0; i < n; i++) {
        char t2[WR_PAGE_TOKEN_MAX];
        memcpy(t2, tok, n + 1);
        t2[i] = t2[i] == 'A' ? 'B' : 'A';
        assert_int_equal(wr_page_token_read(t2, n, &q, why, sizeof why), -1);
    }
    assert_int_equal(wr_page_token_read(tok, n - 4, &q, why, sizeof why), -1);
    assert_non_null(strstr(why, "page.token"));
    assert_int_equal(wr_page_token_read("", 0, &q, why, sizeof why), -1);
    assert_int_equal(wr_page_token_read("!!!!", 4, &q, why, sizeof why), -1);
    assert_non_null(strstr(why, "not a page token"));
    /* a small buffer is refused, not overrun */
    assert_int_equal(wr_page_token_make(&p, tok, 10), -1);
}

/* ---- the search against brute force */

static const char POLICIES[] =
    "permit (principal, action == Action::\"read\", resource)\n"
    "  when { resource.team == principal.team && resource.level <= principal.level };\n"
    "permit (principal, action == Action::\"read\", resource is Doc) when { 2 > resource.level };\n"
    "permit (principal in Group::\"g0\", action == Action::\"write\", resource)\n"
    "  when { principal.level >= 3 && resource.team == \"t1\" } unless { principal.level == 5 };\n"
    "permit (principal, action == Action::\"write\", resource in Folder::\"f1\");\n"
    "permit (principal, action in [Action::\"read\", Action::\"share\"], resource == Doc::\"d3\");\n"
    "permit (principal, action == Action::\"share\", resource is Doc)\n"
    "  when { resource.kind == context.kind && principal.level > resource.level };\n"
    "permit (principal, action == Action::\"share\", resource) when { resource.level < principal.nope };\n"
    "permit (principal == User::\"u1\", action, resource == Doc::\"ghost\");\n"
    "permit (principal, action == Action::\"audit\", resource)\n"
    "  when { if principal.level > 2 then resource.team == principal.team else false };\n"
    "permit (principal is User, action == Action::\"admin\", resource) when { principal.team == "
    "resource.team };\n"
    "forbid (principal in Group::\"banned\", action, resource);\n"
    "forbid (principal, action, resource) when { resource.kind == \"secret\" && context.kind == \"x\" };\n";

static unsigned rnd_state = 12345;
static unsigned rnd(unsigned n)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 16) % n;
}

/* An attribute, now and then missing (returns 0) or of the wrong type. */
static int attr(sbuf *b, const char *k, int v, bool str)
{
    unsigned r = rnd(30);
    if (r == 0)
        return 0;
    if (b->p[b->len - 1] != '{')
        sb_putc(b, ',');
    if (r == 1)
        str = !str;
    if (str)
        sb_printf(b, "\"%s\":\"t%d\"", k, v);
    else
        sb_printf(b, "\"%s\":%d", k, v);
    return 1;
}

static char *make_entities(int nusers, int ndocs)
{
    sbuf b;
    sb_init(&b);
    sb_puts(&b, "[{\"uid\":{\"type\":\"Group\",\"id\":\"g0\"},\"attrs\":{},\"parents\":[]},"
                "{\"uid\":{\"type\":\"Group\",\"id\":\"banned\"},\"attrs\":{},\"parents\":[]},"
                "{\"uid\":{\"type\":\"Folder\",\"id\":\"f1\"},\"attrs\":{},\"parents\":[]}");
    for (int i = 0; i < nusers; i++) {
        sb_printf(&b, ",{\"uid\":{\"type\":\"User\",\"id\":\"u%d\"},\"attrs\":{", i);
        attr(&b, "team", (int)rnd(3), true);
        attr(&b, "level", (int)rnd(6), false);
        sb_puts(&b, "},\"parents\":[");
        unsigned g = rnd(6);
        sb_puts(&b, g < 2    ? "{\"type\":\"Group\",\"id\":\"g0\"}"
                    : g == 2 ? "{\"type\":\"Group\",\"id\":\"banned\"}"
                             : "");
        sb_puts(&b, "]}");
    }
    for (int i = 0; i < ndocs; i++) {
        sb_printf(&b, ",{\"uid\":{\"type\":\"%s\",\"id\":\"d%d\"},\"attrs\":{", rnd(4) ? "Doc" : "Sheet", i);
        attr(&b, "team", (int)rnd(3), true);
        attr(&b, "level", (int)rnd(6), false);
        if (rnd(2))
            sb_printf(&b, "%s\"kind\":\"%s\"", b.p[b.len - 1] == '{' ? "" : ",", rnd(3) ? "plain" : "secret");
        sb_printf(&b, "},\"parents\":[%s]}", rnd(5) ? "" : "{\"type\":\"Folder\",\"id\":\"f1\"}");
    }
    sb_puts(&b, "]");
    sb_putc(&b, '\0');
    assert_true(sb_ok(&b));
    char *s = strdup(b.p);
    sb_free(&b);
    return s;
}

typedef struct bf {
    writ_policyset *ps;
    writ_entities *es;
    writ_authorizer *az;
    writ_request *rq;
    writ_uid_parts part[3];
    int dim;
    json_t *ctx;
    sbuf out;
} bf;

static int bf_check(void *arg, const cv_uid *u)
{
    bf *x = arg;
    writ_uid_parts p[3] = {x->part[0], x->part[1], x->part[2]};
    p[x->dim] = (writ_uid_parts){"", 0, u->type->data, u->type->len, u->id->data, u->id->len};
    writ_error err;
    if (writ_request_fill(x->rq, NULL, false, &p[0], &p[1], &p[2], x->ctx, &err))
        return -1;
    writ_decision d;
    if (writ_authorize(x->az, x->ps, x->es, x->rq, &d))
        return -1;
    return d.allow;
}

static int bf_emit(void *arg, const cv_uid *u)
{
    bf *x = arg;
    sb_printf(&x->out, "%s::%s,", u->type->data, u->id->data);
    return 0;
}

/* Run one search both ways; the answers as text.  Returns how many
 * candidates the pruned search decided. */
static size_t both(bf *x, const wr_search *q0, char **pruned, char **brute, size_t *ncand)
{
    wr_search q = *q0;
    uint64_t next;
    wr_search_stats st;
    writ_error err;
    for (int k = 0; k < 2; k++) {
        q.exhaustive = k == 1;
        x->out.len = 0;
        sb_putc(&x->out, '[');
        assert_int_equal(wr_search_run(&q, 0, SIZE_MAX, bf_check, bf_emit, x, &next, &st, &err), WRIT_OK);
        assert_true(next == WR_SEARCH_END);
        sb_putc(&x->out, '\0');
        *(k ? brute : pruned) = strdup(x->out.p);
        if (k == 0)
            *ncand = st.checked;
        else
            *ncand = *ncand < st.candidates ? *ncand : st.candidates;
    }
    size_t cands = st.candidates;
    /* bounded work (max_checked): the same results over as many runs as it
     * takes, each deciding at most 3, going on from where the last ended */
    q.exhaustive = false;
    q.max_checked = 3;
    x->out.len = 0;
    sb_putc(&x->out, '[');
    uint64_t from = 0;
    size_t runs = 0;
    do {
        assert_int_equal(wr_search_run(&q, from, SIZE_MAX, bf_check, bf_emit, x, &next, &st, &err), WRIT_OK);
        assert_true(st.checked <= 3);
        assert_true(next == WR_SEARCH_END || next > from || st.checked > 0);
        from = next;
        runs++;
    } while (next != WR_SEARCH_END && runs < 100000);
    sb_putc(&x->out, '\0');
    assert_string_equal(x->out.p, *pruned);
    return cands;
}

static void test_against_brute_force(void **state)
{
    (void)state;
    static const char *const actions[] = {"read", "write", "share", "audit", "admin", "none"};
    static const char *const types[] = {"Doc", "Sheet", "User"};
    size_t searches = 0, pruned_fewer = 0, results = 0;
    for (int round = 0; round < 4; round++) {
        bf x;
        memset(&x, 0, sizeof x);
        writ_error err;
        assert_int_equal(writ_policyset_parse(POLICIES, strlen(POLICIES), &x.ps, &err), WRIT_OK);
        char *ents = make_entities(30, 300);
        if (writ_entities_parse(ents, strlen(ents), NULL, &x.es, &err))
            fail_msg("entities: %s", err.msg);
        free(ents);
        x.az = writ_authorizer_new();
        x.rq = writ_request_reusable();
        sb_init(&x.out);
        x.ctx = json_pack("{s:s}", "kind", round % 2 ? "x" : "plain");
        for (int i = 0; i < 60; i++) {
            char uid[16], rid[16];
            snprintf(uid, sizeof uid, "u%u", rnd(32));
            snprintf(rid, sizeof rid, "d%u", rnd(300));
            const char *act = actions[rnd(6)], *ty = types[rnd(3)];
            for (int kind = 0; kind < 3; kind++) {
                wr_search q = {.kind = kind == 0   ? WR_SEARCH_SUBJECT
                                       : kind == 1 ? WR_SEARCH_RESOURCE
                                                   : WR_SEARCH_ACTION,
                               .ps = x.ps,
                               .es = x.es,
                               .type = {"User", "Action",
                                        kind == 1 ? ty
                                        : rnd(4)  ? "Doc"
                                                  : "Sheet"},
                               .id = {uid, act, rid},
                               .id_len = {strlen(uid), strlen(act), strlen(rid)}};
                x.dim = kind == 0 ? 0 : kind == 1 ? 2 : 1;
                for (int d = 0; d < 3; d++)
                    x.part[d] = (writ_uid_parts){"", 0, q.type[d], strlen(q.type[d]), q.id[d], q.id_len[d]};
                char *a = NULL, *b = NULL;
                size_t decided;
                size_t cand = both(&x, &q, &a, &b, &decided);
                if (strcmp(a, b))
                    fail_msg("search %d %s %s %s %s: pruned %s, brute force %s", kind, uid, act, ty, rid, a,
                             b);
                searches++;
                pruned_fewer += decided < cand;
                for (char *c = a; *c; c++)
                    results += *c == ',';
                free(a);
                free(b);
            }
        }
        json_decref(x.ctx);
        sb_free(&x.out);
        writ_request_free(x.rq);
        writ_authorizer_free(x.az);
        writ_entities_free(x.es);
        writ_policyset_free(x.ps);
    }
    print_message("%zu searches equal brute force (%zu results); %zu decided fewer candidates\n", searches,
                  results, pruned_fewer);
    assert_true(results > 1000);
    assert_true(pruned_fewer > searches / 4);
}

static int deny_all(void *arg, const cv_uid *u)
{
    (void)u;
    (*(int *)arg)++;
    return 0;
}

static int no_emit(void *arg, const cv_uid *u)
{
    (void)arg;
    (void)u;
    return -1;
}

static void test_unknown_type(void **state)
{
    (void)state;
    writ_policyset *ps;
    writ_entities *es;
    writ_error err;
    assert_int_equal(writ_policyset_parse(POLICIES, strlen(POLICIES), &ps, &err), WRIT_OK);
    assert_int_equal(writ_entities_parse("[]", 2, NULL, &es, &err), WRIT_OK);
    wr_search q = {.kind = WR_SEARCH_RESOURCE,
                   .ps = ps,
                   .es = es,
                   .type = {"User", "Action", "Spaceship"},
                   .id = {"u1", "read", ""},
                   .id_len = {2, 4, 0}};
    uint64_t next;
    wr_search_stats st;
    memset(&err, 0, sizeof err);
    int asked = 0;
    assert_int_equal(wr_search_run(&q, 0, 10, deny_all, no_emit, &asked, &next, &st, &err), WRIT_EINVAL);
    assert_int_equal(asked, 0);
    assert_string_equal(
        err.msg, "unknown entity type Spaceship: no entity of that type is loaded and no policy names it");
    /* a type only a policy names is known, and Folder::"f1", which only a
     * scope names, is a candidate (`resource in Folder::"f1"` holds of it) */
    q.type[2] = "Folder";
    q.id[1] = "write";
    q.id_len[1] = 5;
    assert_int_equal(wr_search_run(&q, 0, 10, deny_all, no_emit, &asked, &next, &st, &err), WRIT_OK);
    assert_int_equal(asked, 1);
    assert_int_equal(st.candidates, 1);
    writ_entities_free(es);
    writ_policyset_free(ps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page_token),
        cmocka_unit_test(test_against_brute_force),
        cmocka_unit_test(test_unknown_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
