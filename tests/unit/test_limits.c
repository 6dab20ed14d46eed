/* test_limits.c - task-history limits (src/limits/): the limit line
 * parser and its errors, action patterns, the ring of buckets, values,
 * and the counters with and without the SQLite store (write-behind, load
 * at open, sweep, a full table). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <sched.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cedar/reqbuild.h"
#include "limits/limits.h"

static void parse_ok(void **state)
{
    (void)state;
    wr_limit l;
    writ_error err;
    assert_int_equal(wr_limit_parse("deploys_per_task 24h deploy per task", &l, &err), WRIT_OK);
    assert_string_equal(l.name, "deploys_per_task");
    assert_int_equal(l.window_ms, 24 * 3600 * 1000);
    assert_int_equal(l.width_ms, 24 * 3600 * 1000 / WR_LIMIT_BUCKETS);
    assert_int_equal(l.nactions, 1);
    assert_string_equal(l.actions[0], "deploy");
    assert_false(l.sum);
    assert_int_equal(l.per, WR_PER_TASK);
    assert_string_equal(l.id, "deploys_per_task:task:count:2880000");
    wr_limit_clear(&l);

    assert_int_equal(wr_limit_parse("  payments_today\t24h approve sum context.amount per root ", &l, &err),
                     WRIT_OK);
    assert_true(l.sum);
    assert_string_equal(l.sum_path, "context.amount");
    assert_int_equal(l.npath, 1);
    assert_string_equal(l.path[0], "amount");
    assert_int_equal(l.per, WR_PER_ROOT);
    wr_limit_clear(&l);

    /* order of the options, default per, comma lists, patterns, seconds */
    assert_int_equal(wr_limit_parse("x 90 a,b,mcp/*,*_write sum context.input.cost per agent", &l, &err),
                     WRIT_OK);
    assert_int_equal(l.window_ms, 90000);
    assert_int_equal(l.width_ms, 3000);
    assert_int_equal(l.nactions, 4);
    assert_int_equal(l.npath, 2);
    assert_int_equal(l.per, WR_PER_AGENT);
    assert_true(wr_limit_matches(&l, "a"));
    assert_true(wr_limit_matches(&l, "mcp/github.create"));
    assert_true(wr_limit_matches(&l, "repo_write"));
    assert_false(wr_limit_matches(&l, "ab"));
    assert_false(wr_limit_matches(&l, "read"));
    wr_limit_clear(&l);
    assert_int_equal(wr_limit_parse("t 5m *", &l, &err), WRIT_OK);
    assert_int_equal(l.per, WR_PER_TASK);
    assert_true(wr_limit_matches(&l, "anything"));
    assert_true(wr_limit_matches(&l, ""));
    wr_limit_clear(&l);
    assert_int_equal(wr_limit_parse("w 1s a*b*c", &l, &err), WRIT_OK);
    assert_true(wr_limit_matches(&l, "abc"));
    assert_true(wr_limit_matches(&l, "aXbYbZc"));
    assert_false(wr_limit_matches(&l, "aXbYcZ"));
    assert_int_equal(l.width_ms, 34); /* ceil(1000 / 30) */
    wr_limit_clear(&l);
    assert_int_equal(wr_limit_parse("w 366d a", &l, &err), WRIT_OK);
    wr_limit_clear(&l);
}

static void expect_bad(const char *line, const char *msg)
{
    wr_limit l;
    writ_error err;
    memset(&err, 0, sizeof err);
    writ_status st = wr_limit_parse(line, &l, &err);
    if (st == WRIT_OK)
        fail_msg("accepted: %s", line);
    if (!strstr(err.msg, msg))
        fail_msg("'%s': message <%s> lacks <%s>", line, err.msg, msg);
}

static void parse_errors(void **state)
{
    (void)state;
    expect_bad(
        "", "column 1: expected NAME WINDOW ACTIONS [sum PATH] [per task|agent|root], the NAME is missing");
    expect_bad("x", "the WINDOW is missing");
    expect_bad("x 1h", "column 5: expected NAME WINDOW ACTIONS");
    expect_bad("1x 1h a", "column 1: name '1x' must be an identifier");
    expect_bad("a-b 1h a", "name 'a-b' must be an identifier");
    expect_bad("x 5q a", "column 4: window '5q': unit 'q' is not s, m, h or d");
    expect_bad("x h a", "column 3: window 'h': expected seconds");
    expect_bad("x 1hh a", "column 3: window '1hh'");
    expect_bad("x 0 a", "window '0': must be 1 s to 366 d");
    expect_bad("x 367d a", "must be 1 s to 366 d");
    expect_bad("x 99999999999999999999d a", "must be 1 s to 366 d");
    expect_bad("x -5 a", "window '-5'");
    expect_bad("x 1h a,,b", "column 8: empty action name");
    expect_bad("x 1h a,", "column 8: empty action name");
    expect_bad("x 1h a sum", "column 11: 'sum' needs a PATH");
    expect_bad("x 1h a sum amount", "column 12: sum path 'amount' must start with 'context.'");
    expect_bad("x 1h a sum context.", "sum path 'context.' must start with");
    expect_bad("x 1h a sum context.a..b", "column 22: sum path: '' is not an attribute name");
    expect_bad("x 1h a sum context.history.x", "context.history is set by Writ");
    expect_bad("x 1h a sum context.a.b.c.d.e.f.g.h.i", "deeper than 8");
    expect_bad("x 1h a per", "'per' needs task, agent or root");
    expect_bad("x 1h a per tree", "column 12: per 'tree': expected task, agent or root");
    expect_bad("x 1h a per task per agent", "column 17: unexpected 'per'");
    expect_bad("x 1h a sum context.a sum context.b", "unexpected 'sum'");
    expect_bad("x 1h a per task sum context.a", "unexpected 'sum'");
    expect_bad("x 1h a extra", "column 8: unexpected 'extra'");
    expect_bad("x 1h a\x01", "control character 0x01");
    char big[WR_LIMIT_LINE_MAX + 10];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    expect_bad(big, "longer than 1024 bytes");
    char many[600] = "x 1h ";
    for (int i = 0; i < 40; i++)
        strcat(many, i ? ",a" : "a");
    expect_bad(many, "more than 32 actions");
}

static void set_lines(void **state)
{
    (void)state;
    wr_limit_set *s = wr_limit_set_new();
    writ_error err;
    assert_int_equal(wr_limit_set_add(s, "a 1h x", 3, &err), WRIT_OK);
    assert_int_equal(wr_limit_set_add(s, "a 2h y", 7, &err), WRIT_EINVAL);
    assert_string_equal(err.msg, "line 7: limit: column 1: 'a' is declared twice");
    assert_int_equal(err.line, 7);
    assert_int_equal(wr_limit_set_add(s, "b 2q y", 9, &err), WRIT_EINVAL);
    assert_string_equal(err.msg, "line 9: limit: column 4: window '2q': unit 'q' is not s, m, h or d");
    for (int i = 1; i < WR_LIMITS_MAX; i++) {
        char line[32];
        snprintf(line, sizeof line, "n%d 1h x", i);
        assert_int_equal(wr_limit_set_add(s, line, 0, &err), WRIT_OK);
    }
    assert_int_equal(wr_limit_set_add(s, "z 1h x", 0, &err), WRIT_EINVAL);
    assert_non_null(strstr(err.msg, "more than 64 limits"));
    assert_int_equal(s->n, WR_LIMITS_MAX);
    assert_int_equal(s->v[0].line, 3);
    wr_limit_set_release(s);
}

static void ring(void **state)
{
    (void)state;
    wr_ring r;
    wr_ring_init(&r);
    assert_int_equal(wr_ring_sum(&r, 100), 0);
    assert_true(wr_ring_dead(&r, 100));
    wr_ring_add(&r, 100, 1);
    wr_ring_add(&r, 100, 2);
    wr_ring_add(&r, 101, 4);
    assert_int_equal(wr_ring_sum(&r, 101), 7);
    /* the window is buckets now-30 .. now */
    assert_int_equal(wr_ring_sum(&r, 130), 7);
    assert_int_equal(wr_ring_sum(&r, 131), 4);
    assert_int_equal(wr_ring_sum(&r, 132), 0);
    assert_false(wr_ring_dead(&r, 131));
    assert_true(wr_ring_dead(&r, 132));
    /* a now before the head (a thread whose clock read a moment before
     * another's count, a replica behind, a clock stepped back) reads the
     * buckets after it too: a count is never left out for being newer */
    assert_int_equal(wr_ring_sum(&r, 100), 7);
    assert_int_equal(wr_ring_sum(&r, 99), 7);
    assert_int_equal(wr_ring_sum(&r, 60), 7);
    /* moving on clears the slots passed over */
    wr_ring_add(&r, 120, 8);
    assert_int_equal(wr_ring_sum(&r, 120), 15);
    wr_ring_add(&r, 131, 16); /* 100 leaves */
    assert_int_equal(wr_ring_sum(&r, 131), 28);
    /* a bucket older than the ring holds is dropped */
    wr_ring_add(&r, 100, 1000);
    assert_int_equal(wr_ring_sum(&r, 131), 28);
    /* an old-but-held bucket counts */
    wr_ring_add(&r, 102, 32);
    assert_int_equal(wr_ring_sum(&r, 131), 60);
    /* a jump past the whole ring clears it */
    wr_ring_add(&r, 1000, 1);
    assert_int_equal(wr_ring_sum(&r, 1000), 1);
    /* 1,000,000 events cost what one does: one bucket */
    for (int i = 0; i < 1000000; i++)
        wr_ring_add(&r, 1000 + i / 40000, 1);
    assert_int_equal(wr_ring_sum(&r, 1024), 1000001);
    /* saturation, negative buckets */
    wr_ring_init(&r);
    wr_ring_add(&r, -5, INT64_MAX);
    wr_ring_add(&r, -4, INT64_MAX);
    assert_int_equal(wr_ring_sum(&r, -4), INT64_MAX);
    wr_ring_add(&r, -3, INT64_MIN);
    wr_ring_add(&r, -3, INT64_MIN);
    assert_int_equal(wr_ring_sum(&r, -3), -1); /* MAX (saturated) + MIN (saturated) */
    assert_int_equal(wr_ring_sum(&r, INT64_MIN), 0);
}

static void values(void **state)
{
    (void)state;
    int64_t v;
    bool dec;
    json_t *j = json_integer(12);
    assert_int_equal(wr_limit_value(j, &v, &dec), 0);
    assert_int_equal(v, 120000);
    assert_false(dec);
    json_decref(j);
    j = json_pack("{s:{s:s,s:s}}", "__extn", "fn", "decimal", "arg", "-40.25");
    assert_int_equal(wr_limit_value(j, &v, &dec), 0);
    assert_int_equal(v, -402500);
    assert_true(dec);
    json_decref(j);
    j = json_pack("{s:s,s:s}", "fn", "decimal", "arg", "0.0001");
    assert_int_equal(wr_limit_value(j, &v, &dec), 0);
    assert_int_equal(v, 1);
    json_decref(j);
    j = json_string("1500.5");
    assert_int_equal(wr_limit_value(j, &v, &dec), 0);
    assert_int_equal(v, 15005000);
    json_decref(j);
    const char *badv[] = {"1.", ".5", "1.23456", "1e3", "x", "1.2.3", "", "--1.0", "99999999999999999.0"};
    for (size_t i = 0; i < sizeof badv / sizeof *badv; i++) {
        j = json_string(badv[i]);
        if (wr_limit_value(j, &v, &dec) == 0)
            fail_msg("accepted '%s'", badv[i]);
        json_decref(j);
    }
    j = json_real(1.5);
    assert_int_equal(wr_limit_value(j, &v, &dec), -1);
    json_decref(j);
    j = json_integer(INT64_MAX);
    assert_int_equal(wr_limit_value(j, &v, &dec), -1);
    json_decref(j);
    j = json_pack("{s:{s:s,s:s}}", "__extn", "fn", "ip", "arg", "10.0.0.1");
    assert_int_equal(wr_limit_value(j, &v, &dec), -1);
    json_decref(j);
}

static int kind_schema(void *ud, const char *name)
{
    (void)ud;
    return !strcmp(name, "hidden") ? 0 : !strcmp(name, "paid") ? 'D' : 'L';
}

static wr_limit_set *make_set(const char *const *lines, size_t n)
{
    wr_limit_set *s = wr_limit_set_new();
    writ_error err;
    for (size_t i = 0; i < n; i++)
        if (wr_limit_set_add(s, lines[i], 0, &err))
            fail_msg("%s: %s", lines[i], err.msg);
    return s;
}

/* begin + (allow) commit + end; returns the history object's text */
static char *decide(wr_limits *L, const char *action, const char *task, const char *agent, const char *root,
                    const char *ctx_text, int64_t now, bool allow)
{
    wr_history_keys k = {task, agent, root};
    json_t *ctx = json_loads(ctx_text ? ctx_text : "{}", 0, NULL);
    json_t *obj = NULL;
    wr_history h;
    writ_error err;
    writ_status st = wr_history_begin(L, action, &k, ctx, NULL, kind_schema, NULL, now, true, &obj, &h, &err);
    char *out;
    if (st) {
        out = strdup(err.msg);
    } else {
        out = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
        if (allow)
            assert_int_equal(wr_history_commit(L, &h, &err), WRIT_OK);
    }
    assert_int_equal(wr_history_end(&h, &err), WRIT_OK);
    json_decref(obj);
    json_decref(ctx);
    return out;
}

static void expect(wr_limits *L, const char *action, const char *task, const char *agent, const char *root,
                   const char *ctx, int64_t now, bool allow, const char *want)
{
    char *got = decide(L, action, task, agent, root, ctx, now, allow);
    if (strcmp(got, want))
        fail_msg("%s: got %s want %s", action, got, want);
    free(got);
}

static void counting_in_memory(void **state)
{
    (void)state;
    wr_limits *L;
    writ_error err;
    assert_int_equal(wr_limits_open(NULL, NULL, &L, &err), WRIT_OK);
    static const char *const lines[] = {
        "per_task 60 deploy per task",
        "per_root 60 deploy,write per root",
        "paid 60 pay sum context.amount per agent",
        "hidden 60 deploy per agent",
        "longsum 60 pay sum context.n per agent",
    };
    assert_int_equal(wr_limits_install(L, make_set(lines, 5), 0, &err), WRIT_OK);
    int64_t t0 = 1700000000000;
    expect(L, "deploy", "t1", "a", "r", NULL, t0, true, "{\"per_root\":0,\"per_task\":0}");
    expect(L, "deploy", "t1", "b", "r", NULL, t0 + 1, true, "{\"per_root\":1,\"per_task\":1}");
    expect(L, "deploy", "t2", "a", "r", NULL, t0 + 2, false, "{\"per_root\":2,\"per_task\":0}");
    /* a deny is not counted */
    expect(L, "deploy", "t2", "a", "r", NULL, t0 + 3, true, "{\"per_root\":2,\"per_task\":0}");
    expect(L, "write", "t9", "z", "r", NULL, t0 + 4, true, "{\"per_root\":3}");
    expect(L, "read", "t9", "z", "r", NULL, t0 + 4, true, "{}");
    /* decimal sums, Long sums, missing values */
    expect(L, "pay", "t", "a", "r", "{\"amount\":\"40.25\",\"n\":2}", t0, true,
           "{\"longsum\":0,\"paid\":{\"__extn\":{\"arg\":\"0.0000\",\"fn\":\"decimal\"}}}");
    expect(L, "pay", "t", "a", "r", "{\"amount\":1}", t0, true,
           "{\"longsum\":2,\"paid\":{\"__extn\":{\"arg\":\"40.2500\",\"fn\":\"decimal\"}}}");
    /* a negative value would lower the sum (one -100000 lifts a cap): refused, not counted */
    expect(L, "pay", "t", "a", "r", "{\"amount\":\"-0.5\"}", t0, true,
           "limit paid: context.amount is negative (a sum only grows)");
    expect(L, "pay", "t", "a", "r", "{\"amount\":-1}", t0, true,
           "limit paid: context.amount is negative (a sum only grows)");
    expect(L, "pay", "t", "a", "r", NULL, t0, false,
           "{\"longsum\":2,\"paid\":{\"__extn\":{\"arg\":\"41.2500\",\"fn\":\"decimal\"}}}");
    expect(L, "pay", "t", "a", "r", "{\"amount\":true}", t0, false,
           "limit paid: context.amount is not a Long or a decimal");
    expect(L, "pay", "t", "a", "r", "{\"amount\":\"1.0\",\"n\":\"1.5\"}", t0, false,
           "limit longsum: context.n is a decimal with a fraction, but context.history.longsum is declared "
           "Long");
    /* the window: 60 s in 2 s buckets; after 62 s nothing is left */
    expect(L, "deploy", "t1", "a", "r", NULL, t0 + 59000, false, "{\"per_root\":4,\"per_task\":2}");
    expect(L, "deploy", "t1", "a", "r", NULL, t0 + 62000, false, "{\"per_root\":0,\"per_task\":0}");
    assert_true(wr_limits_keys(L) > 0);
    wr_limits_sweep(L, t0 + 62000);
    assert_int_equal(wr_limits_keys(L), 0);
    wr_limits_close(L);
}

static void table_full(void **state)
{
    (void)state;
    wr_limits *L;
    writ_error err;
    wr_limits_opts o = {.max_keys = 2};
    assert_int_equal(wr_limits_open(NULL, &o, &L, &err), WRIT_OK);
    static const char *const lines[] = {"n 60 x per agent"};
    assert_int_equal(wr_limits_install(L, make_set(lines, 1), 0, &err), WRIT_OK);
    expect(L, "x", "", "a", "a", NULL, 1000, true, "{\"n\":0}");
    expect(L, "x", "", "b", "b", NULL, 1000, true, "{\"n\":0}");
    expect(L, "x", "", "a", "a", NULL, 1000, true, "{\"n\":1}");
    expect(L, "x", "", "c", "c", NULL, 1000, true,
           "limit n: the history table is full (2 keys): cannot count");
    wr_limits_sweep(L, 1000 + 120000);
    expect(L, "x", "", "c", "c", NULL, 121000, true, "{\"n\":0}");
    wr_limits_close(L);
}

/* A decision whose clock was read a moment before another's count landed
 * in the next bucket (two threads at a bucket edge, a clock stepped back)
 * sees that count: 5 counted just past an edge, then read from just
 * before it, is 5, not the 0 that would let 5 more through. */
static void later_bucket(void **state)
{
    (void)state;
    wr_limits *L;
    writ_error err;
    assert_int_equal(wr_limits_open(NULL, NULL, &L, &err), WRIT_OK);
    static const char *const lines[] = {"n 60 x per task"}; /* 2 s buckets */
    assert_int_equal(wr_limits_install(L, make_set(lines, 1), 0, &err), WRIT_OK);
    int64_t edge = 1700000000000; /* a multiple of 2000 */
    static const char *const seen[] = {"{\"n\":0}", "{\"n\":1}", "{\"n\":2}", "{\"n\":3}", "{\"n\":4}"};
    for (int i = 0; i < 5; i++)
        expect(L, "x", "t", "a", "a", NULL, edge + i, true, seen[i]);
    expect(L, "x", "t", "a", "a", NULL, edge - 1, false, "{\"n\":5}");
    expect(L, "x", "t", "a", "a", NULL, edge - 2000 * 20, false, "{\"n\":5}");
    wr_limits_close(L);
}

/* The value one decision reads (take: as one about to be decided) */
static int64_t begin_one(wr_limits *L, const char *key, const char *ctx, bool take, wr_history *h)
{
    static wr_history_keys k; /* h keeps a pointer to it */
    k = (wr_history_keys){key, key, key};
    json_t *c = json_loads(ctx ? ctx : "{}", 0, NULL), *obj = NULL;
    writ_error err;
    assert_int_equal(wr_history_begin(L, "x", &k, c, NULL, NULL, NULL, 1000, take, &obj, h, &err), WRIT_OK);
    json_t *v = json_object_get(obj, "n");
    int64_t n = json_is_integer(v) ? json_integer_value(v) : -1;
    json_decref(obj);
    json_decref(c);
    return n;
}

/* Decisions in flight: each reads what the others have taken, an allow
 * turns its take into a count, anything else gives it back. */
static void held_in_flight(void **state)
{
    (void)state;
    wr_limits *L;
    writ_error err;
    assert_int_equal(wr_limits_open(NULL, NULL, &L, &err), WRIT_OK);
    static const char *const lines[] = {"n 60 x per agent"};
    assert_int_equal(wr_limits_install(L, make_set(lines, 1), 0, &err), WRIT_OK);
    wr_history h1, h2, h3, h4;
    assert_int_equal(begin_one(L, "a", NULL, true, &h1), 0);
    assert_int_equal(begin_one(L, "a", NULL, true, &h2), 1); /* h1 in flight */
    /* a sweep frees no entry a decision holds (ASan would see it used after) */
    wr_limits_sweep(L, 1000 + 3600000);
    assert_int_equal(wr_limits_keys(L), 1);
    assert_int_equal(wr_history_end(&h1, &err), WRIT_OK);    /* h1 denied: given back */
    assert_int_equal(begin_one(L, "a", NULL, true, &h3), 1); /* h2 */
    assert_int_equal(wr_history_commit(L, &h2, &err), WRIT_OK);
    assert_int_equal(wr_history_end(&h2, &err), WRIT_OK);
    assert_int_equal(begin_one(L, "a", NULL, false, &h4), 2); /* h2 counted, h3 in flight */
    assert_int_equal(wr_history_end(&h4, &err), WRIT_OK);     /* a read takes nothing */
    assert_int_equal(begin_one(L, "a", NULL, false, &h4), 2);
    assert_int_equal(wr_history_end(&h4, &err), WRIT_OK);
    assert_int_equal(wr_history_end(&h3, &err), WRIT_OK);
    assert_int_equal(begin_one(L, "a", NULL, false, &h4), 1);
    assert_int_equal(wr_history_end(&h4, &err), WRIT_OK);
    /* a key whose every decision was denied is dropped by the next sweep */
    assert_int_equal(begin_one(L, "b", NULL, true, &h1), 0);
    assert_int_equal(wr_history_end(&h1, &err), WRIT_OK);
    assert_int_equal(wr_limits_keys(L), 2);
    wr_limits_sweep(L, 1000);
    assert_int_equal(wr_limits_keys(L), 1);
    /* a failed begin gives back what it took before failing: the sum
     * limit's value is refused after the count limit took its 1 */
    static const char *const two[] = {"n 60 x per agent", "s 60 x sum context.v per agent"};
    assert_int_equal(wr_limits_install(L, make_set(two, 2), 0, &err), WRIT_OK);
    wr_history_keys k = {"c", "c", "c"};
    json_t *bad = json_loads("{\"v\":true}", 0, NULL), *obj = NULL;
    assert_int_not_equal(wr_history_begin(L, "x", &k, bad, NULL, NULL, NULL, 1000, true, &obj, &h1, &err),
                         WRIT_OK);
    assert_int_equal(wr_history_end(&h1, &err), WRIT_OK);
    json_decref(bad);
    assert_int_equal(begin_one(L, "c", "{\"v\":1}", false, &h1), 0);
    assert_int_equal(wr_history_end(&h1, &err), WRIT_OK);
    wr_limits_close(L);
}

/* The take after an allow (wr_history_take): a decision reads without
 * taking, so one that is then denied holds nothing from the others of its
 * key; an allow takes, and its take says whether the values it was decided
 * on still hold. */
static void take_after_allow(void **state)
{
    (void)state;
    wr_limits *L;
    writ_error err;
    assert_int_equal(wr_limits_open(NULL, NULL, &L, &err), WRIT_OK);
    static const char *const lines[] = {"n 60 x per agent", "s 60 x sum context.v per agent"};
    assert_int_equal(wr_limits_install(L, make_set(lines, 2), 0, &err), WRIT_OK);
    wr_history h1, h2, h3;
    bool changed = true;
    assert_int_equal(begin_one(L, "a", NULL, false, &h1), 0);
    assert_int_equal(begin_one(L, "a", NULL, false, &h2), 0); /* h1 being decided holds nothing */
    assert_int_equal(wr_limits_keys(L), 0);                   /* nor makes a ring */
    assert_int_equal(wr_history_take(L, &h1, &changed, &err), WRIT_OK);
    assert_false(changed); /* h1's allow stands on 0 */
    assert_int_equal(wr_history_take(L, &h2, &changed, &err), WRIT_OK);
    assert_true(changed); /* h1 took meanwhile: h2 is decided again */
    assert_int_equal(wr_history_end(&h2, &err), WRIT_OK);
    assert_int_equal(begin_one(L, "a", NULL, true, &h3), 1); /* decided again, taking first: sees h1 */
    assert_int_equal(wr_history_commit(L, &h1, &err), WRIT_OK);
    assert_int_equal(wr_history_end(&h1, &err), WRIT_OK);
    assert_int_equal(wr_history_end(&h3, &err), WRIT_OK); /* h3 denied: given back */
    assert_int_equal(begin_one(L, "a", NULL, false, &h1), 1);
    assert_int_equal(wr_history_end(&h1, &err), WRIT_OK);
    wr_limits_close(L);
    /* a request that adds nothing to a sum takes nothing (as a take of 0
     * only reads): a sum grown meanwhile does not unsettle its allow */
    static const char *const sum[] = {"s 60 x sum context.v per agent"};
    assert_int_equal(wr_limits_open(NULL, NULL, &L, &err), WRIT_OK);
    assert_int_equal(wr_limits_install(L, make_set(sum, 1), 0, &err), WRIT_OK);
    wr_history_keys kb = {"b", "b", "b"};
    json_t *zero = json_loads("{\"v\":0}", 0, NULL), *seven = json_loads("{\"v\":7}", 0, NULL), *o1 = NULL,
           *o2 = NULL;
    assert_int_equal(wr_history_begin(L, "x", &kb, zero, NULL, NULL, NULL, 1000, false, &o1, &h1, &err),
                     WRIT_OK);
    assert_int_equal(wr_history_begin(L, "x", &kb, seven, NULL, NULL, NULL, 1000, true, &o2, &h2, &err),
                     WRIT_OK);
    assert_int_equal(wr_history_commit(L, &h2, &err), WRIT_OK);
    assert_int_equal(wr_history_end(&h2, &err), WRIT_OK);
    assert_int_equal(wr_history_take(L, &h1, &changed, &err), WRIT_OK);
    assert_false(changed);
    assert_int_equal(wr_history_end(&h1, &err), WRIT_OK);
    json_decref(zero);
    json_decref(seven);
    json_decref(o1);
    json_decref(o2);
    wr_limits_close(L);
    /* the table full: the take fails; what it took is given back */
    wr_limits_opts o = {.max_keys = 1};
    assert_int_equal(wr_limits_open(NULL, &o, &L, &err), WRIT_OK);
    assert_int_equal(wr_limits_install(L, make_set(lines, 1), 0, &err), WRIT_OK);
    assert_int_equal(begin_one(L, "a", NULL, false, &h1), 0);
    assert_int_equal(begin_one(L, "b", NULL, false, &h2), 0);
    assert_int_equal(wr_history_take(L, &h1, &changed, &err), WRIT_OK);
    assert_int_not_equal(wr_history_take(L, &h2, &changed, &err), WRIT_OK);
    assert_non_null(strstr(err.msg, "the history table is full"));
    assert_int_equal(wr_history_end(&h2, &err), WRIT_OK);
    assert_int_equal(wr_history_end(&h1, &err), WRIT_OK);
    wr_limits_close(L);
}

/* Threads deciding at once against a limit of 5: each allows when the
 * value it read is under 5 (yielding between the read and the count, as a
 * decision takes time): exactly 5 allowed, whatever the interleaving. */
typedef struct burst {
    wr_limits *L;
    int allowed;
} burst;

static void *burst_run(void *arg)
{
    burst *b = arg;
    wr_history_keys k = {"t", "t", "t"};
    for (int i = 0; i < 200; i++) {
        wr_history h;
        json_t *obj = NULL;
        writ_error err;
        if (wr_history_begin(b->L, "x", &k, NULL, NULL, NULL, NULL, 1000, true, &obj, &h, &err) == WRIT_OK) {
            json_t *v = json_object_get(obj, "n");
            sched_yield();
            if (json_is_integer(v) && json_integer_value(v) < 5 &&
                wr_history_commit(b->L, &h, &err) == WRIT_OK)
                b->allowed++;
        }
        json_decref(obj);
        (void)wr_history_end(&h, &err);
    }
    return NULL;
}

static void burst_exact(void **state)
{
    (void)state;
    wr_limits *L;
    writ_error err;
    assert_int_equal(wr_limits_open(NULL, NULL, &L, &err), WRIT_OK);
    static const char *const lines[] = {"n 60 x per task"};
    assert_int_equal(wr_limits_install(L, make_set(lines, 1), 0, &err), WRIT_OK);
    enum { N = 8 };
    pthread_t t[N];
    burst b[N];
    for (int i = 0; i < N; i++) {
        b[i] = (burst){L, 0};
        pthread_create(&t[i], NULL, burst_run, &b[i]);
    }
    int allowed = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        allowed += b[i].allowed;
    }
    assert_int_equal(allowed, 5);
    wr_limits_close(L);
}

static bool count_rows(void *ud, const char *key, int64_t bucket, int64_t value, int64_t expires_ms)
{
    (void)key, (void)bucket, (void)value, (void)expires_ms;
    ++*(int *)ud;
    return true;
}

static void persisted(void **state)
{
    (void)state;
    char dir[] = "/tmp/writ-limits-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char db[128];
    snprintf(db, sizeof db, "%s/writ.db", dir);
    static const char *const lines[] = {"c 1h deploy per task", "paid 1h pay sum context.amount per root"};
    /* near the real clock: the SQLite backend drops rows expired by it */
    int64_t t0 = (int64_t)time(NULL) * 1000 / 120000 * 120000;
    writ_error err;
    wr_store *st;
    wr_limits *L;
    assert_int_equal(wr_store_open("", db, &st, &err), WRIT_OK);
    assert_int_equal(wr_limits_open(st, &(wr_limits_opts){.flush_ms = 10000}, &L, &err), WRIT_OK);
    assert_int_equal(wr_limits_install(L, make_set(lines, 2), t0, &err), WRIT_OK);
    for (int i = 0; i < 3; i++)
        free(decide(L, "deploy", "t1", "a", "r", NULL, t0 + i * 200000, true));
    free(decide(L, "pay", "t1", "a", "r", "{\"amount\":\"0.5\"}", t0, true));
    free(decide(L, "pay", "t2", "b", "r", "{\"amount\":\"0.25\"}", t0, true));
    /* nothing written until a flush (the period is long here) */
    int64_t sum = -1;
    assert_int_equal(wr_store_counter_sum(st, "c:task:count:120000", "t1", 0, INT64_MAX, &sum, &err),
                     WRIT_OK);
    assert_int_equal(sum, 0);
    assert_int_equal(wr_limits_flush(L, &err), WRIT_OK);
    assert_int_equal(wr_store_counter_sum(st, "c:task:count:120000", "t1", 0, INT64_MAX, &sum, &err),
                     WRIT_OK);
    assert_int_equal(sum, 3);
    free(decide(L, "deploy", "t1", "a", "r", NULL, t0 + 600000, true));
    wr_limits_close(L); /* flushes */
    wr_store_close(st);

    /* a new process: the counts come back from the store */
    assert_int_equal(wr_store_open("", db, &st, &err), WRIT_OK);
    assert_int_equal(wr_limits_open(st, NULL, &L, &err), WRIT_OK);
    assert_int_equal(wr_limits_install(L, make_set(lines, 2), t0 + 600000, &err), WRIT_OK);
    expect(L, "deploy", "t1", "x", "y", NULL, t0 + 600001, false, "{\"c\":4}");
    expect(L, "pay", "t9", "x", "r", NULL, t0 + 600001, false,
           "{\"paid\":{\"__extn\":{\"arg\":\"0.7500\",\"fn\":\"decimal\"}}}");
    /* an hour and two buckets later they have left the window */
    expect(L, "deploy", "t1", "x", "y", NULL, t0 + 3600000 + 600000 + 240000, false, "{\"c\":0}");
    /* the store forgets expired rows on scan */
    wr_limits_close(L);
    int n = 0;
    assert_int_equal(
        wr_store_counter_scan(st, "c:task:count:120000", t0 + 10 * 3600000, count_rows, &n, &err), WRIT_OK);
    assert_int_equal(n, 0);
    assert_int_equal(wr_store_counter_sum(st, "c:task:count:120000", "t1", 0, INT64_MAX, &sum, &err),
                     WRIT_OK);
    assert_int_equal(sum, 0);
    wr_store_close(st);
    unlink(db);
    char side[160];
    snprintf(side, sizeof side, "%s-wal", db);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", db);
    unlink(side);
    rmdir(dir);
}

/* The running total (ring.c) against summing the slots as before it
 * existed: random counts, negative and huge values, jumps of the head. */
static int64_t ref_sat(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

static int64_t ref_sum(const wr_ring *r, int64_t now)
{
    if (r->head == INT64_MIN)
        return 0;
    int64_t lo = now - WR_LIMIT_BUCKETS, hi = r->head, s = 0;
    if (lo < r->head - WR_LIMIT_BUCKETS)
        lo = r->head - WR_LIMIT_BUCKETS;
    for (int64_t b = lo; b <= hi; b++)
        s = ref_sat(s, r->v[((b % WR_LIMIT_SLOTS) + WR_LIMIT_SLOTS) % WR_LIMIT_SLOTS]);
    return s;
}

static void ring_total(void **state)
{
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    int fast = 0;
    for (int round = 0; round < 200; round++) {
        wr_ring r;
        wr_ring_init(&r);
        int64_t now = 1000;
        for (int i = 0; i < 300; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            unsigned c = (unsigned)(x % 100);
            if (c < 10)
                now += (int64_t)(x >> 8) % 40; /* time moves on, sometimes past the window */
            int64_t delta = c < 80           ? 1 + (int64_t)((x >> 16) % 5000) /* counts and sums */
                            : c < 90         ? -(int64_t)((x >> 16) % 3000)    /* negative amounts */
                            : round % 4 == 0 ? INT64_MAX / 3                   /* saturating */
                                             : 7;
            wr_ring_add(&r, now - (int64_t)((x >> 24) % 3), delta);
            for (int64_t at = now - 1; at <= now + 31; at += 8) {
                int64_t want = ref_sum(&r, at), got = wr_ring_sum(&r, at);
                if (want != got)
                    fail_msg("round %d step %d: at %lld the ring says %lld, the slots %lld", round, i,
                             (long long)at, (long long)got, (long long)want);
                fast += at == r.head && !r.slow;
            }
        }
    }
    assert_true(fast > 1000); /* the running total answered most reads at the head */
}

/* A body whose context the AuthZEN front end reads straight into Cedar
 * values (writ_json_parse_split) sums exactly what the JSON reading sums:
 * the same values, the same refusals and messages, over every kind of
 * value a sum PATH can meet -- wherever the split reader takes the body. */
static void sum_from_split(void **state)
{
    (void)state;
    static const char *const vals[] = {
        "5",
        "-7",
        "0",
        "922337203685477",
        "922337203685478",
        "-922337203685477",
        "-922337203685478",
        "999999999999999999",
        "\"40.25\"",
        "\"-0.5\"",
        "\"1.23456\"",
        "\"1.\"",
        "\"abc\"",
        "\"\"",
        "\"12\"",
        "\"+1.0\"",
        "\"1.5\\u0000x\"",
        "\"922337203685469.9999\"",
        "\"922337203685470.0\"",
        "{\"__extn\":{\"fn\":\"decimal\",\"arg\":\"1032.50\"}}",
        "{\"__extn\":{\"arg\":\"-3.0001\",\"fn\":\"decimal\"}}",
        "{\"__extn\":{\"fn\":\"decimal\",\"arg\":\"922337203685469.9999\"}}",
        "{\"__extn\":{\"fn\":\"decimal\",\"arg\":\"922337203685470.0\"}}",
        "{\"__extn\":{\"fn\":\"decimal\",\"arg\":\"-922337203685469.0\"}}",
        "{\"__extn\":{\"fn\":\"decimal\",\"arg\":\"-922337203685477.5808\"}}",
        "{\"__extn\":{\"fn\":\"ip\",\"arg\":\"10.0.0.1\"}}",
        "{\"__extn\":{\"fn\":\"decimal\",\"arg\":\"1.23456\"}}",
        "{\"fn\":\"decimal\",\"arg\":\"2.5\"}",
        "{\"arg\":\"2.5\",\"fn\":\"decimal\",\"x\":1}",
        "{\"fn\":\"decimal\",\"arg\":2}",
        "{\"fn\":\"Decimal\",\"arg\":\"2.5\"}",
        "{\"fn\":\"decimal\"}",
        "{\"fn\":\"decimal\\u0000z\",\"arg\":\"2.5\"}",
        "{\"amount\":3}",
        "{}",
        "{\"__entity\":{\"type\":\"Agent\",\"id\":\"a\"}}",
        "true",
        "false",
        "[]",
        "[1,2]",
        "1.5",
        "null",
    };
    static const char *const lines[] = {
        "s1 60 * sum context.amount per agent",
        "s2 60 * sum context.amount per task",
        "d1 60 * sum context.o.amount per agent",
        "c1 60 * per agent",
    };
    wr_limits *L;
    writ_error err;
    assert_int_equal(wr_limits_open(NULL, NULL, &L, &err), WRIT_OK);
    assert_int_equal(wr_limits_install(L, make_set(lines, 4), 0, &err), WRIT_OK);
    writ_split *sp = writ_split_new();
    assert_non_null(sp);
    static const char *const keep[] = {"task", NULL};
    size_t split = 0;
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++)
        for (int shape = 0; shape < 3; shape++) {
            char body[512];
            if (shape == 0)
                snprintf(body, sizeof body, "{\"context\":{\"amount\":%s,\"z\":1}}", vals[i]);
            else if (shape == 1)
                snprintf(body, sizeof body, "{\"context\":{\"o\":{\"amount\":%s},\"amount\":1}}", vals[i]);
            else
                snprintf(body, sizeof body, "{\"context\":{\"o\":%s,\"amount\":\"2.0\"}}", vals[i]);
            json_t *whole = json_loads(body, 0, NULL);
            json_t *part = writ_json_parse_split(sp, body, strlen(body), "context", keep);
            if (!part) { /* declined: the JSON reading does it all */
                json_decref(whole);
                continue;
            }
            assert_non_null(whole);
            split++;
            wr_history_keys k = {"t", "a", "a"};
            wr_history h1, h2;
            writ_error e1, e2;
            writ_status s1 = wr_history_begin(L, "pay", &k, json_object_get(whole, "context"), NULL, NULL,
                                              NULL, 0, false, NULL, &h1, &e1);
            writ_status s2 = wr_history_begin(L, "pay", &k, json_object_get(part, "context"),
                                              cedar_split_base(sp), NULL, NULL, 0, false, NULL, &h2, &e2);
            if (s1 != s2 || (s1 && strcmp(e1.msg, e2.msg)))
                fail_msg("%s: JSON %d %s, split %d %s", body, s1, s1 ? e1.msg : "", s2, s2 ? e2.msg : "");
            if (!s1) {
                assert_int_equal(h1.n, h2.n);
                for (size_t j = 0; j < h1.n; j++)
                    if (h1.m[j].delta != h2.m[j].delta)
                        fail_msg("%s: limit %zu adds %lld (JSON) and %lld (split)", body, j,
                                 (long long)h1.m[j].delta, (long long)h2.m[j].delta);
            }
            assert_int_equal(wr_history_end(&h1, &e1), WRIT_OK);
            assert_int_equal(wr_history_end(&h2, &e2), WRIT_OK);
            json_decref(whole);
            json_decref(part);
        }
    /* the split reader took most of them (the others were compared by
     * nothing but their decline) */
    assert_true(split >= 80);
    writ_split_free(sp);
    wr_limits_close(L);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_ok),       cmocka_unit_test(parse_errors),
        cmocka_unit_test(set_lines),      cmocka_unit_test(ring),
        cmocka_unit_test(values),         cmocka_unit_test(counting_in_memory),
        cmocka_unit_test(table_full),     cmocka_unit_test(persisted),
        cmocka_unit_test(sum_from_split), cmocka_unit_test(ring_total),
        cmocka_unit_test(held_in_flight), cmocka_unit_test(burst_exact),
        cmocka_unit_test(later_bucket),   cmocka_unit_test(take_after_allow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
