/* bench_cedar.c - time Writ's Cedar decisions on a gen_agents.mjs set.
 *
 *   bench_cedar DIR [--name NAME] [--budget-ms MS] [--decisions FILE] [--with-parse]
 *               [--unknown ATTR]
 *
 * Loads DIR/policies.cedar and DIR/entities.json once, parses every request of
 * DIR/requests.json once, then times writ_authorize.  The scheme matches
 * bench/timing.mjs so the two engines are compared alike: each request is decided
 * twice to warm up and once to calibrate, then timed in `rounds` rounds of a batch of
 * back-to-back decisions (a batch lasts >= 2 us, so clock_gettime's own cost stays
 * small).  A request's latency is the median of its rounds; the summary is the median
 * and the 99th percentile over requests, plus decisions per second over all timed work.
 *
 * --with-parse times writ_request_parse + writ_authorize + writ_request_free instead,
 * which is closer to what the reference does per call (it converts the request too).
 * --unknown ATTR times writ_authorize_partial with context.ATTR unknown instead
 * (a decision "allows" when the answer is not NO).
 * --decisions FILE writes {"i","decision","reason","errors"} per request, the format
 * ref_cedar.mjs writes, so run.sh can compare the two engines' answers.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "writ/cedar.h"

typedef struct bench_opts {
    const char *dir;
    const char *name;
    const char *decisions;
    double budget_ms;
    bool with_parse;
    const char *unknown;
} bench_opts;

typedef struct bench_req {
    char *json;          /* the request re-serialized, for --with-parse */
    size_t len;
    writ_request *rq;
} bench_req;

typedef struct bench_ctx {
    const writ_policyset *ps;
    const writ_entities *es;
    writ_authorizer *az;
    bench_req *reqs;
    size_t nreqs;
    bool with_parse;
    const char *unknown; /* --unknown: time partial decisions */
    unsigned long sink;  /* keeps the decisions observable to the compiler */
} bench_ctx;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Read a whole file; NUL-terminated for convenience, length in *len. */
static char *read_file(const char *dir, const char *name, size_t *len)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof path) {
        fprintf(stderr, "bench_cedar: path too long\n");
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench_cedar: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, used = 0;
    for (;;) {
        if (cap - used < 65536) {
            size_t ncap = cap ? cap * 2 : 65536 * 2;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + used, 1, cap - used, f);
        used += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[used] = '\0';
    *len = used;
    return buf;
}

/* One decision; returns nonzero on an engine failure. */
static int decide(bench_ctx *c, size_t i, writ_decision *d)
{
    bench_req *r = &c->reqs[i];
    if (c->unknown) {
        writ_partial_decision pd;
        if (writ_authorize_partial(c->az, c->ps, c->es, r->rq, &c->unknown, 1, &pd) != WRIT_OK)
            return 1;
        memset(d, 0, sizeof *d);
        d->allow = pd.maybe != WRIT_MAYBE_NO;
        c->sink += pd.maybe + pd.nreasons;
        return 0;
    }
    if (!c->with_parse) {
        if (writ_authorize(c->az, c->ps, c->es, r->rq, d) != WRIT_OK)
            return 1;
        c->sink += d->allow + d->nreasons;
        return 0;
    }
    writ_request *rq = NULL;
    if (writ_request_parse(r->json, r->len, NULL, false, &rq, NULL) != WRIT_OK)
        return 1;
    writ_status st = writ_authorize(c->az, c->ps, c->es, rq, d);
    c->sink += d->allow + d->nreasons;
    writ_request_free(rq);
    return st != WRIT_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(const double *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    double rank = p / 100.0 * (double)n;
    size_t i = (size_t)rank;
    if ((double)i < rank)
        i++;                    /* ceil */
    if (i > 0)
        i--;
    if (i >= n)
        i = n - 1;
    return sorted[i];
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* One JSON line per request, ids sorted, as ref_cedar.mjs writes them. */
static int write_decisions(bench_ctx *c, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bench_cedar: %s: %s\n", path, strerror(errno));
        return 1;
    }
    int rc = 0;
    for (size_t i = 0; i < c->nreqs && rc == 0; i++) {
        writ_decision d;
        if (writ_authorize(c->az, c->ps, c->es, c->reqs[i].rq, &d) != WRIT_OK) {
            fprintf(stderr, "bench_cedar: request %zu: authorize failed\n", i);
            rc = 1;
            break;
        }
        json_t *reason = json_array(), *errors = json_array();
        const char **ids = calloc(d.nreasons + d.nerrors + 1, sizeof *ids);
        if (!reason || !errors || !ids) {
            rc = 1;
        } else {
            for (size_t k = 0; k < d.nreasons; k++)
                ids[k] = d.reasons[k];
            qsort(ids, d.nreasons, sizeof *ids, cmp_str);
            for (size_t k = 0; k < d.nreasons; k++)
                json_array_append_new(reason, json_string(ids[k]));
            for (size_t k = 0; k < d.nerrors; k++)
                ids[k] = d.errors[k].policy_id;
            qsort(ids, d.nerrors, sizeof *ids, cmp_str);
            for (size_t k = 0; k < d.nerrors; k++)
                json_array_append_new(errors, json_string(ids[k]));
            json_t *line = json_pack("{s:I, s:s, s:O, s:O}", "i", (json_int_t)i, "decision",
                                     d.allow ? "allow" : "deny", "reason", reason, "errors", errors);
            char *s = line ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
            if (!s || fprintf(f, "%s\n", s) < 0)
                rc = 1;
            free(s);
            json_decref(line);
        }
        free(ids);
        json_decref(reason);
        json_decref(errors);
    }
    if (fclose(f) != 0)
        rc = 1;
    return rc;
}

static int run(bench_ctx *c, const bench_opts *o)
{
    size_t n = c->nreqs;
    double *single = calloc(n ? n : 1, sizeof *single);
    double *per = calloc(n ? n : 1, sizeof *per);
    double *rounds_buf = NULL;
    int rc = 1;
    writ_decision d;
    if (!single || !per)
        goto out;

    double total_single = 0;
    for (size_t i = 0; i < n; i++) {
        if (decide(c, i, &d) || decide(c, i, &d))
            goto fail;
        uint64_t t0 = now_ns();
        if (decide(c, i, &d))
            goto fail;
        single[i] = (double)(now_ns() - t0);
        if (single[i] < 1)
            single[i] = 1;
        total_single += single[i];
    }
    double budget_ns = o->budget_ms * 1e6;
    size_t rounds = (size_t)(budget_ns / (total_single > 1 ? total_single : 1));
    if (rounds < 5)
        rounds = 5;
    if (rounds > 200)
        rounds = 200;
    rounds_buf = calloc(rounds, sizeof *rounds_buf);
    if (!rounds_buf)
        goto out;

    uint64_t calls = 0, spent = 0;
    for (size_t i = 0; i < n; i++) {
        size_t batch = (size_t)(2000.0 / single[i]) + 1;
        for (size_t k = 0; k < rounds; k++) {
            uint64_t t0 = now_ns();
            for (size_t b = 0; b < batch; b++) {
                if (decide(c, i, &d))
                    goto fail;
            }
            uint64_t dt = now_ns() - t0;
            rounds_buf[k] = (double)dt / (double)batch;
            spent += dt;
            calls += batch;
        }
        qsort(rounds_buf, rounds, sizeof *rounds_buf, cmp_double);
        per[i] = rounds_buf[rounds / 2];
    }
    qsort(per, n, sizeof *per, cmp_double);
    printf("RESULT engine=%s set=%s requests=%zu rounds=%zu median_ns=%.0f p99_ns=%.0f mean_ns=%.0f "
           "decisions_per_s=%.0f\n",
           c->unknown      ? "writ-partial"
           : c->with_parse ? "writ+parse"
                           : "writ",
           o->name, n, rounds, percentile(per, n, 50), percentile(per, n, 99),
           spent ? (double)spent / (double)calls : 0.0, spent ? (double)calls / ((double)spent / 1e9) : 0.0);
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "bench_cedar: a decision failed\n");
out:
    free(single);
    free(per);
    free(rounds_buf);
    return rc;
}

static int parse_opts(int argc, char **argv, bench_opts *o)
{
    memset(o, 0, sizeof *o);
    o->budget_ms = 3000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--name") == 0 && i + 1 < argc)
            o->name = argv[++i];
        else if (strcmp(a, "--budget-ms") == 0 && i + 1 < argc)
            o->budget_ms = strtod(argv[++i], NULL);
        else if (strcmp(a, "--decisions") == 0 && i + 1 < argc)
            o->decisions = argv[++i];
        else if (strcmp(a, "--with-parse") == 0)
            o->with_parse = true;
        else if (strcmp(a, "--unknown") == 0 && i + 1 < argc)
            o->unknown = argv[++i];
        else if (a[0] != '-' && !o->dir)
            o->dir = a;
        else
            return 1;
    }
    if (!o->dir)
        return 1;
    if (!o->name) {
        const char *slash = strrchr(o->dir, '/');
        o->name = slash && slash[1] ? slash + 1 : o->dir;
    }
    return 0;
}

int main(int argc, char **argv)
{
    bench_opts o;
    if (parse_opts(argc, argv, &o)) {
        fprintf(stderr, "usage: bench_cedar DIR [--name NAME] [--budget-ms MS] [--decisions FILE] "
                        "[--with-parse]\n");
        return 2;
    }
    int rc = 1;
    size_t plen = 0, elen = 0, rlen = 0;
    char *ptext = read_file(o.dir, "policies.cedar", &plen);
    char *etext = read_file(o.dir, "entities.json", &elen);
    char *rtext = read_file(o.dir, "requests.json", &rlen);
    json_t *rarr = NULL;
    writ_policyset *ps = NULL;
    writ_entities *es = NULL;
    bench_ctx c;
    memset(&c, 0, sizeof c);
    writ_error err;
    memset(&err, 0, sizeof err);
    if (!ptext || !etext || !rtext)
        goto out;
    if (writ_policyset_parse(ptext, plen, &ps, &err) != WRIT_OK) {
        fprintf(stderr, "bench_cedar: policies.cedar:%u:%u: %s\n", err.line, err.col, err.msg);
        goto out;
    }
    if (writ_entities_parse(etext, elen, NULL, &es, &err) != WRIT_OK) {
        fprintf(stderr, "bench_cedar: entities.json: %s\n", err.msg);
        goto out;
    }
    json_error_t jerr;
    rarr = json_loadb(rtext, rlen, 0, &jerr);
    if (!json_is_array(rarr)) {
        fprintf(stderr, "bench_cedar: requests.json: %s\n", rarr ? "not an array" : jerr.text);
        goto out;
    }
    c.nreqs = json_array_size(rarr);
    c.reqs = calloc(c.nreqs ? c.nreqs : 1, sizeof *c.reqs);
    c.az = writ_authorizer_new();
    if (!c.reqs || !c.az)
        goto out;
    c.ps = ps;
    c.es = es;
    c.with_parse = o.with_parse;
    c.unknown = o.unknown;
    for (size_t i = 0; i < c.nreqs; i++) {
        bench_req *r = &c.reqs[i];
        r->json = json_dumps(json_array_get(rarr, i), JSON_COMPACT);
        if (!r->json)
            goto out;
        r->len = strlen(r->json);
        if (writ_request_parse(r->json, r->len, NULL, false, &r->rq, &err) != WRIT_OK) {
            fprintf(stderr, "bench_cedar: request %zu: %s\n", i, err.msg);
            goto out;
        }
    }
    if (o.decisions && write_decisions(&c, o.decisions))
        goto out;
    rc = run(&c, &o);
out:
    if (c.reqs) {
        for (size_t i = 0; i < c.nreqs; i++) {
            writ_request_free(c.reqs[i].rq);
            free(c.reqs[i].json);
        }
    }
    free(c.reqs);
    writ_authorizer_free(c.az);
    writ_entities_free(es);
    writ_policyset_free(ps);
    json_decref(rarr);
    free(ptext);
    free(etext);
    free(rtext);
    return rc;
}
