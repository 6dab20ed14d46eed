/* bench_limits.c - the cost of task-history limits per decision, without
 * HTTP: wr_history_begin + wr_history_take + wr_history_commit +
 * wr_history_end, an allow as the server makes it (what the
 * decision path adds) for 10 limits, against no limits, and with
 * 1,000,000 past events in the windows against 10 (flat: a ring of
 * buckets, whatever the number of events).  Counters in SQLite
 * (write-behind) in a temporary folder, as the server keeps them.  Times
 * are the deciding thread's CPU time (steady on a busy machine).
 *
 *   bench_limits [DECISIONS]     (per round, default 50000) */
#include "limits/limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const lines[] = {
    "l1 24h * per task",
    "l2 1h * per agent",
    "l3 5m * per root",
    "l4 24h read,write,admin per agent",
    "l5 1h * sum context.amount per root",
    "l6 24h * sum context.amount per agent",
    "l7 10m adm*,r* per task",
    "l8 1d *e* per agent",
    "l9 30m * per root",
    "l10 7d * sum context.amount per task",
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU: the machine may be busy */
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static char keys[300][3][32];
static json_t *ctx;

static void one(wr_limits *L, size_t i, int64_t t)
{
    static const char *const actions[] = {"read", "write", "admin", "deploy"};
    wr_history_keys k = {keys[i % 300][0], keys[i % 300][1], keys[i % 300][2]};
    json_t *obj = NULL;
    wr_history h;
    writ_error err;
    bool changed = false; /* one thread: no other decision counts in between */
    if (wr_history_begin(L, actions[i % 4], &k, ctx, NULL, NULL, NULL, t, false, &obj, &h, &err) ||
        wr_history_take(L, &h, &changed, &err) || changed || wr_history_commit(L, &h, &err)) {
        fprintf(stderr, "bench_limits: %s\n", err.msg);
        exit(1);
    }
    if (wr_history_end(&h, &err)) {
        fprintf(stderr, "bench_limits: %s\n", err.msg);
        exit(1);
    }
    json_decref(obj);
}

/* ns per decision over n decisions at times t0 + i */
static double run(wr_limits *L, size_t n, int64_t t0)
{
    double a = now_s();
    for (size_t i = 0; i < n; i++)
        one(L, i, t0 + (int64_t)(i / 1000));
    return (now_s() - a) * 1e9 / (double)n;
}

static wr_limits *open_with(const char *db, size_t nlines, wr_store **st)
{
    writ_error err;
    unlink(db);
    wr_limits *L;
    wr_limit_set *set = wr_limit_set_new();
    for (size_t i = 0; i < nlines; i++)
        if (wr_limit_set_add(set, lines[i], 0, &err))
            exit(1);
    if (wr_store_open("", db, st, &err) || wr_limits_open(*st, NULL, &L, &err) ||
        wr_limits_install(L, set, 0, &err)) {
        fprintf(stderr, "bench_limits: %s\n", err.msg);
        exit(1);
    }
    return L;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 50000;
    for (int i = 0; i < 300; i++) {
        snprintf(keys[i][0], 32, "task-%d", i);
        snprintf(keys[i][1], 32, "agent-%d", i % 75);
        snprintf(keys[i][2], 32, "root-%d", i % 20);
    }
    ctx = json_pack("{s:{s:{s:s,s:s}}}", "amount", "__extn", "fn", "decimal", "arg", "1032.50");
    char dir[] = "/tmp/writ-bench-limits-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char db[128];
    snprintf(db, sizeof db, "%s/writ.db", dir);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t t0 = (int64_t)ts.tv_sec * 1000;

    /* three counters side by side, each in its own database: no limits,
     * 10 limits with 10 past events, 10 limits with 1,000,000 */
    char db2[140], db3[140];
    snprintf(db2, sizeof db2, "%s.2", db);
    snprintf(db3, sizeof db3, "%s.3", db);
    wr_store *s0, *s1, *s2;
    wr_limits *L0 = open_with(db, 0, &s0), *L1 = open_with(db2, 10, &s1), *L2 = open_with(db3, 10, &s2);
    for (size_t i = 0; i < 10; i++) /* 10 past events */
        one(L1, i, t0 - 1000);
    /* 1,000,000 past events, spread over the last 25 minutes (inside every window) */
    double a = now_s();
    for (size_t i = 0; i < 1000000; i++)
        one(L2, i, t0 - 1500000 + (int64_t)(i * 3 / 2));
    double fill = now_s() - a;
    /* rounds alternate the three; the least disturbed (the minimum) counts */
    double none = 1e18, ten = 1e18, million = 1e18;
    for (int r = 0; r < 5; r++) {
        double x = run(L0, n, t0 + r * 1000), y = run(L1, n, t0 + r * 1000), z = run(L2, n, t0 + r * 1000);
        none = x < none ? x : none;
        ten = y < ten ? y : ten;
        million = z < million ? z : million;
    }
    size_t nkeys = wr_limits_keys(L2);
    wr_limits_close(L0);
    wr_limits_close(L1);
    wr_limits_close(L2);
    wr_store_close(s0);
    wr_store_close(s1);
    wr_store_close(s2);

    printf(
        "decisions per run:            %zu x 5 rounds (300 tasks, 75 agents, 20 roots; 4 actions; CPU time, "
        "best round)\n",
        n);
    printf("no limits:                    %8.0f ns/decision\n", none);
    printf("10 limits, 10 past events:    %8.0f ns/decision  (+%.0f ns)\n", ten, ten - none);
    printf("10 limits, 1,000,000 past:    %8.0f ns/decision  (%zu rings; filled in %.1f s CPU)\n", million,
           nkeys, fill);
    printf("ratio 1,000,000 / 10 events:  %8.2f  (flat = 1.00)\n", million / ten);
    json_decref(ctx);
    char side[160];
    const char *dbs[3] = {db, db2, db3};
    for (int i = 0; i < 3; i++) {
        unlink(dbs[i]);
        snprintf(side, sizeof side, "%s-wal", dbs[i]);
        unlink(side);
        snprintf(side, sizeof side, "%s-shm", dbs[i]);
        unlink(side);
    }
    rmdir(dir);
    return 0;
}
