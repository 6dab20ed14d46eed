/* cmd_conformance.c - `writ conformance`: run Cedar conformance test files.
 *
 * A test file names a policy file, an entity file and a schema (paths
 * relative to --root) and lists requests with the expected decision, the
 * set of determining policy ids and the set of erroring policy ids.  A
 * request passes when all three match.  Files or folders may be given;
 * folders are searched recursively for *.json (except *.entities.json).
 *
 * With --time each request of a file is also decided repeatedly (policies,
 * schema and entities loaded once per file) and the per-decision time is
 * summarised over all requests.
 */
#include "cli/cli.h"
#include "cedar/json.h"
#include "util/clock.h"
#include "writ/cedar.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define CLI_MAX_FILE (256u << 20)

typedef struct run {
    const char *root;
    bool verbose, timing;
    long passed, failed;
    /* shouldValidate agreement (files with a schema and the field) */
    long vagree, vdisagree;
    /* --time samples: ns per decision */
    double *samples;
    size_t nsamples, cap;
    long decisions;
} run;

static char *join(const char *root, const char *rel)
{
    size_t a = strlen(root), b = strlen(rel);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, root, a);
    p[a] = '/';
    memcpy(p + a + 1, rel, b + 1);
    return p;
}

static char *load(run *r, const char *rel, size_t *len, char *why, size_t whycap)
{
    char *path = join(r->root, rel);
    if (!path) {
        snprintf(why, whycap, "out of memory");
        return NULL;
    }
    char *buf = cli_read_file(path, CLI_MAX_FILE, len);
    if (!buf)
        snprintf(why, whycap, "%s: %s", path, strerror(errno));
    free(path);
    return buf;
}

/* Does the JSON array of strings equal (as a set) the given list? */
static bool same_set(json_t *expected, const char *const *got, size_t n)
{
    if (!json_is_array(expected))
        return n == 0;
    size_t m = json_array_size(expected);
    /* every expected id present in got, and every got id in expected */
    for (size_t i = 0; i < m; i++) {
        const char *e = json_string_value(json_array_get(expected, i));
        bool found = false;
        for (size_t j = 0; j < n && !found; j++)
            found = e && !strcmp(e, got[j]);
        if (!found)
            return false;
    }
    for (size_t j = 0; j < n; j++) {
        bool found = false;
        for (size_t i = 0; i < m && !found; i++) {
            const char *e = json_string_value(json_array_get(expected, i));
            found = e && !strcmp(e, got[j]);
        }
        if (!found)
            return false;
    }
    return true;
}

static void print_ids(FILE *f, const char *const *ids, size_t n)
{
    fputc('[', f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s\"%s\"", i ? ", " : "", ids[i]);
    fputc(']', f);
}

static double now_ns(void) { return (double)wr_mono_ns(); }

static void sample(run *r, double ns)
{
    if (r->nsamples == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 1024;
        double *ns2 = realloc(r->samples, nc * sizeof *ns2);
        if (!ns2)
            return;
        r->samples = ns2;
        r->cap = nc;
    }
    r->samples[r->nsamples++] = ns;
}

static void time_request(run *r, writ_authorizer *az, writ_policyset *ps, writ_entities *es, writ_request *rq)
{
    enum { BATCH = 16, BATCHES = 8 };
    writ_decision d;
    for (int w = 0; w < 4; w++)
        if (writ_authorize(az, ps, es, rq, &d))
            return;
    for (int b = 0; b < BATCHES; b++) {
        double t0 = now_ns();
        for (int i = 0; i < BATCH; i++)
            if (writ_authorize(az, ps, es, rq, &d))
                return;
        sample(r, (now_ns() - t0) / BATCH);
        r->decisions += BATCH;
    }
}

/* Fail every request of a file that could not be set up. */
static void fail_all(run *r, const char *file, json_t *reqs, const char *why)
{
    size_t n = json_is_array(reqs) ? json_array_size(reqs) : 1;
    r->failed += (long)(n ? n : 1);
    fprintf(stderr, "FAIL %s: %s (%zu request%s)\n", file, why, n, n == 1 ? "" : "s");
}

/* Does the validator agree with the test's shouldValidate? */
static void check_validation(run *r, const char *file, json_t *t, writ_policyset *ps, writ_schema *schema,
                             const char *ptext, size_t plen)
{
    json_t *sv = json_object_get(t, "shouldValidate");
    if (!schema || !json_is_boolean(sv))
        return;
    writ_validation *v = NULL;
    writ_error err;
    /* the corpus comes from Cedar 4.10, where an inapplicable scope is an error */
    writ_validate_options opt = {ptext, plen, true};
    if (writ_validate(schema, ps, &opt, &v, &err)) {
        r->vdisagree++;
        fprintf(stderr, "VALIDATE FAIL %s: %s\n", file, err.msg);
        return;
    }
    bool ok = v->nerrors == 0;
    if (ok == json_is_true(sv)) {
        r->vagree++;
    } else {
        r->vdisagree++;
        if (r->verbose) {
            fprintf(stderr, "VALIDATE FAIL %s: want %s, got %zu errors\n", file,
                    json_is_true(sv) ? "valid" : "invalid", v->nerrors);
            for (size_t i = 0; i < v->nissues; i++)
                fprintf(stderr, "    %s: %u:%u: %s%s\n", v->issues[i].policy_id, v->issues[i].line,
                        v->issues[i].col, v->issues[i].warning ? "warning: " : "", v->issues[i].message);
        }
    }
    writ_validation_free(v);
}

static void run_file(run *r, const char *file)
{
    writ_error err;
    size_t tlen;
    char *ttext = cli_read_file(file, CLI_MAX_FILE, &tlen);
    json_t *t = ttext ? cedar_json_load(ttext, tlen, &err) : NULL;
    free(ttext);
    if (!t) {
        char why[300];
        snprintf(why, sizeof why, "invalid test file: %s", ttext ? err.msg : strerror(errno));
        fail_all(r, file, NULL, why);
        return;
    }
    json_t *reqs = json_object_get(t, "requests");
    const char *pol = json_string_value(json_object_get(t, "policies"));
    const char *ent = json_string_value(json_object_get(t, "entities"));
    const char *sch = json_string_value(json_object_get(t, "schema"));
    char why[600];
    char *ptext = NULL, *etext = NULL, *stext = NULL;
    size_t plen, elen, slen;
    writ_policyset *ps = NULL;
    writ_entities *es = NULL;
    writ_schema *schema = NULL;
    writ_authorizer *az = NULL;
    if (!json_is_array(reqs) || !pol || !ent) {
        fail_all(r, file, reqs, "not a test file: needs policies, entities and requests");
        goto done;
    }
    if (!(ptext = load(r, pol, &plen, why, sizeof why))) {
        fail_all(r, file, reqs, why);
        goto done;
    }
    if (writ_policyset_parse(ptext, plen, &ps, &err)) {
        snprintf(why, sizeof why, "%s: %s", pol, err.msg);
        fail_all(r, file, reqs, why);
        goto done;
    }
    if (sch && *sch) {
        if (!(stext = load(r, sch, &slen, why, sizeof why))) {
            fail_all(r, file, reqs, why);
            goto done;
        }
        if (writ_schema_parse(stext, slen, &schema, &err)) {
            snprintf(why, sizeof why, "%s: %s", sch, err.msg);
            fail_all(r, file, reqs, why);
            goto done;
        }
    }
    if (!(etext = load(r, ent, &elen, why, sizeof why))) {
        fail_all(r, file, reqs, why);
        goto done;
    }
    if (writ_entities_parse(etext, elen, schema, &es, &err)) {
        snprintf(why, sizeof why, "%s: %s", ent, err.msg);
        fail_all(r, file, reqs, why);
        goto done;
    }
    check_validation(r, file, t, ps, schema, ptext, plen);
    az = writ_authorizer_new();
    if (!az) {
        fail_all(r, file, reqs, "out of memory");
        goto done;
    }
    size_t i;
    json_t *q;
    json_array_foreach(reqs, i, q)
    {
        bool validate = json_is_true(json_object_get(q, "validateRequest"));
        const char *desc = json_string_value(json_object_get(q, "description"));
        writ_request *rq = NULL;
        writ_decision d;
        if (cedar_request_from_json(q, schema, validate, &rq, &err)) {
            r->failed++;
            fprintf(stderr, "FAIL %s [%s]: request: %s\n", file, desc ? desc : "?", err.msg);
            continue;
        }
        if (writ_authorize(az, ps, es, rq, &d)) {
            r->failed++;
            fprintf(stderr, "FAIL %s [%s]: authorize failed\n", file, desc ? desc : "?");
            writ_request_free(rq);
            continue;
        }
        const char *want = json_string_value(json_object_get(q, "decision"));
        bool want_allow = want && !strcmp(want, "allow");
        const char **err_ids = malloc((d.nerrors ? d.nerrors : 1) * sizeof *err_ids);
        for (size_t k = 0; err_ids && k < d.nerrors; k++)
            err_ids[k] = d.errors[k].policy_id;
        bool ok = err_ids && want && want_allow == d.allow &&
                  same_set(json_object_get(q, "reason"), d.reasons, d.nreasons) &&
                  same_set(json_object_get(q, "errors"), err_ids, d.nerrors);
        if (ok) {
            r->passed++;
        } else {
            r->failed++;
            if (r->verbose) {
                fprintf(stderr, "FAIL %s [%s]: got %s reasons ", file, desc ? desc : "?",
                        d.allow ? "allow" : "deny");
                print_ids(stderr, d.reasons, d.nreasons);
                fprintf(stderr, " errors ");
                if (err_ids)
                    print_ids(stderr, err_ids, d.nerrors);
                char *exp_r = json_dumps(json_object_get(q, "reason"), JSON_COMPACT | JSON_ENCODE_ANY);
                char *exp_e = json_dumps(json_object_get(q, "errors"), JSON_COMPACT | JSON_ENCODE_ANY);
                fprintf(stderr, "; want %s reasons %s errors %s\n", want ? want : "?", exp_r ? exp_r : "[]",
                        exp_e ? exp_e : "[]");
                for (size_t k = 0; k < d.nerrors; k++)
                    fprintf(stderr, "    %s: %s\n", d.errors[k].policy_id, d.errors[k].message);
                free(exp_r);
                free(exp_e);
            }
        }
        free(err_ids);
        if (r->timing)
            time_request(r, az, ps, es, rq);
        writ_request_free(rq);
    }
done:
    writ_authorizer_free(az);
    writ_entities_free(es);
    writ_schema_free(schema);
    writ_policyset_free(ps);
    free(ptext);
    free(etext);
    free(stext);
    json_decref(t);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void run_path(run *r, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "FAIL %s: %s\n", path, strerror(errno));
        r->failed++;
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        run_file(r, path);
        return;
    }
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "FAIL %s: %s\n", path, strerror(errno));
        r->failed++;
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char *full = join(path, de->d_name);
        if (!full)
            break;
        struct stat cs;
        bool dir = stat(full, &cs) == 0 && S_ISDIR(cs.st_mode);
        if (!dir && (!ends_with(full, ".json") || ends_with(full, ".entities.json"))) {
            free(full);
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                free(full);
                break;
            }
            names = nn;
        }
        names[n++] = full;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_str); /* names is NULL when the folder is empty */
    for (size_t i = 0; i < n; i++) {
        run_path(r, names[i]);
        free(names[i]);
    }
    free(names);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int cmd_conformance(int argc, char **argv)
{
    run r = {0};
    r.root = ".";
    int first = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--root") && i + 1 < argc) {
            r.root = argv[++i];
        } else if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v")) {
            r.verbose = true;
        } else if (!strcmp(argv[i], "--time")) {
            r.timing = true;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: writ conformance [--root DIR] [--verbose] [--time] PATH...\n");
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "writ conformance: unknown option %s\n", argv[i]);
            return 2;
        } else {
            if (!first)
                first = i;
            continue;
        }
    }
    if (!first) {
        fprintf(stderr, "usage: writ conformance [--root DIR] [--verbose] [--time] PATH...\n");
        return 2;
    }
    for (int i = first; i < argc; i++) {
        if (!strcmp(argv[i], "--root")) {
            i++;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1])
            continue;
        run_path(&r, argv[i]);
    }
    if (r.timing && r.nsamples) {
        qsort(r.samples, r.nsamples, sizeof *r.samples, cmp_double);
        double med = r.samples[r.nsamples / 2];
        double p99 = r.samples[(size_t)((double)(r.nsamples - 1) * 0.99)];
        printf("decision time: median %.0f ns, p99 %.0f ns, %ld decisions\n", med, p99, r.decisions);
    }
    free(r.samples);
    if (r.vagree || r.vdisagree)
        printf("validation: %ld agree, %ld disagree\n", r.vagree, r.vdisagree);
    printf("%ld passed, %ld failed\n", r.passed, r.failed);
    return r.failed || r.vdisagree ? 1 : 0;
}
