/* bench_audit.c - the cost of appending to the SQLite audit log, per record,
 * for groups of a given size (what a server's worker commits after one pass
 * of its event loop: wr_audit_append_many, one transaction per group).
 *
 *   bench_audit [RECORDS] [GROUP] [--fsync]     (default 20000 records, groups of 4)
 *
 * Prints the time per record (wall, and the CPU time in user space and in
 * the kernel) and per group.  The numbers that repeat
 * on a shared machine are instructions and syscalls, so run it under
 *
 *   valgrind --tool=callgrind --toggle-collect=append_all bench_audit 20000 4
 *   strace -f -c bench_audit 20000 4
 *
 * (append_all is the timed loop: opening the log, its first checkpoint and
 * the closing one are outside).  The records look like bench/server's
 * (agent, delegation chain, action, resource, determining policy). */
#include "store/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double cpu_s(bool sys)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const struct timeval *t = sys ? &ru.ru_stime : &ru.ru_utime;
    return (double)t->tv_sec + (double)t->tv_usec / 1e6;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define NVAR 64

typedef struct texts {
    char agent[NVAR][40], chain[NVAR][96], action[NVAR][32], resource[NVAR][40], policies[NVAR][32];
} texts;

static void make_texts(texts *t)
{
    static const char *const acts[] = {"read", "write", "export", "invoke", "deploy"};
    static const char *const types[] = {"Repo", "Dataset", "Tool", "Service"};
    for (int i = 0; i < NVAR; i++) {
        snprintf(t->agent[i], sizeof t->agent[i], "Agent::\"agent-%d\"", i % 23);
        if (i % 3 == 0)
            snprintf(t->chain[i], sizeof t->chain[i], "[]");
        else
            snprintf(t->chain[i], sizeof t->chain[i],
                     "[{\"__entity\":{\"type\":\"Agent\",\"id\":\"agent-%d\"}}]", i % 17);
        snprintf(t->action[i], sizeof t->action[i], "Action::\"%s\"", acts[i % 5]);
        snprintf(t->resource[i], sizeof t->resource[i], "%s::\"%s-%d\"", types[i % 4], "res", i % 29);
        snprintf(t->policies[i], sizeof t->policies[i], "[\"policy%d\"]", i % 100);
    }
}

/* Not static, not inlined: callgrind's --toggle-collect names it. */
__attribute__((noinline)) int append_all(wr_audit *a, const wr_audit_entry *pool, size_t records,
                                         size_t group, writ_status *st)
{
    int failed = 0;
    for (size_t done = 0; done < records; done += group) {
        size_t n = records - done < group ? records - done : group;
        if (wr_audit_append_many(a, pool + (done % NVAR), n, st) != WRIT_OK)
            return -1;
        for (size_t i = 0; i < n; i++)
            failed += st[i] != WRIT_OK;
    }
    return failed;
}

int main(int argc, char **argv)
{
    size_t records = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000;
    size_t group = argc > 2 ? strtoul(argv[2], NULL, 10) : 4;
    bool fsync = argc > 3 && !strcmp(argv[3], "--fsync");
    if (!records || !group || group > NVAR) {
        fprintf(stderr, "usage: bench_audit [RECORDS] [GROUP 1..%d] [--fsync]\n", NVAR);
        return 2;
    }
    char dir[] = "/tmp/writ-bench-audit-XXXXXX", path[64];
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/writ.db", dir);
    static texts t;
    make_texts(&t);
    /* twice the pool, so that any group of up to NVAR starting in the
     * first half is contiguous */
    wr_audit_entry pool[2 * NVAR];
    for (int i = 0; i < 2 * NVAR; i++) {
        int k = i % NVAR;
        pool[i] = (wr_audit_entry){.agent = t.agent[k],
                                   .chain = t.chain[k],
                                   .task = "",
                                   .action = t.action[k],
                                   .resource = t.resource[k],
                                   .allow = k % 4 != 0,
                                   .policies = t.policies[k],
                                   .errors = "[]"};
    }
    wr_audit_opts o = {.fsync = fsync};
    wr_audit *a = NULL;
    writ_error err;
    if (wr_audit_open(path, &o, &a, &err) != WRIT_OK) {
        fprintf(stderr, "bench_audit: %s\n", err.msg);
        return 1;
    }
    writ_status st[NVAR];
    double t0 = now_s(), u0 = cpu_s(false), s0 = cpu_s(true);
    int failed = append_all(a, pool, records, group, st);
    double dt = now_s() - t0, du = cpu_s(false) - u0, ds = cpu_s(true) - s0;
    wr_audit_close(a);
    wr_audit_verify_result r;
    writ_status vs = wr_audit_verify(path, NULL, &r, &err);
    printf("%zu records in groups of %zu%s: per record %.2f us (user %.2f, system %.2f), per group %.2f us; "
           "verify: %s (%llu records)\n",
           records, group, fsync ? " (fsync)" : "", dt * 1e6 / (double)records, du * 1e6 / (double)records,
           ds * 1e6 / (double)records, dt * 1e6 / (double)((records + group - 1) / group),
           vs == WRIT_OK ? "ok" : r.msg, (unsigned long long)r.records);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_audit: could not remove %s\n", dir);
    return failed || vs != WRIT_OK ? 1 : 0;
}
