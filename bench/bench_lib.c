/* bench_lib.c - one decision through libwrit's C API as an embedding
 * program makes it: writ_authorize_json (parse the request JSON, decide).  The baseline
 * bench/lib/run.sh compares the Python binding, the HTTP service and the
 * reference engine against.
 *
 *   bench_lib POLICIES ENTITIES SCHEMA REQUEST.json [N]
 * Prints "c median_ns p99_ns decisions allow". */
#include "writ/cedar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(b);
        return NULL;
    }
    fclose(f);
    b[n] = 0;
    *len = (size_t)n;
    return b;
}

static int cmp(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_lib POLICIES ENTITIES SCHEMA REQUEST [N]\n");
        return 2;
    }
    size_t n = argc > 5 ? (size_t)atol(argv[5]) : 200000;
    char *t[4];
    size_t l[4];
    for (int i = 0; i < 4; i++)
        if (!(t[i] = slurp(argv[i + 1], &l[i]))) {
            fprintf(stderr, "bench_lib: cannot read %s\n", argv[i + 1]);
            return 2;
        }
    writ_error err;
    writ_schema *sc;
    writ_policyset *ps;
    writ_entities *es;
    if (writ_schema_parse(t[2], l[2], &sc, &err) || writ_policyset_parse(t[0], l[0], &ps, &err) ||
        writ_entities_parse(t[1], l[1], sc, &es, &err)) {
        fprintf(stderr, "bench_lib: %s\n", err.msg);
        return 2;
    }
    writ_authorizer *az = writ_authorizer_new();
    long long *ns = malloc(n * sizeof *ns);
    if (!az || !ns)
        return 2;
    size_t allow = 0;
    for (size_t i = 0; i < n; i++) {
        long long t0 = now_ns();
        writ_decision d;
        if (writ_authorize_json(az, ps, es, sc, false, t[3], l[3], &d, &err)) {
            fprintf(stderr, "bench_lib: %s\n", err.msg);
            return 2;
        }
        allow += d.allow;
        ns[i] = now_ns() - t0;
    }
    qsort(ns, n, sizeof *ns, cmp);
    printf("c %lld %lld %zu %zu\n", ns[n / 2], ns[n * 99 / 100], n, allow);
    free(ns);
    writ_authorizer_free(az);
    writ_entities_free(es);
    writ_policyset_free(ps);
    writ_schema_free(sc);
    for (int i = 0; i < 4; i++)
        free(t[i]);
    return 0;
}
