/* ptest.c - run a policy test file (see ptest.h).
 *
 * Two passes over the cases: the first checks every field (names, types,
 * the AuthZEN shape of each request) so that a bad file runs nothing and
 * says where it is wrong; the second decides each case as the server
 * would and compares.
 *
 * What the server does that a test does not: the facts Writ fills in
 * itself (time, source_ip, destination, task, chain, ...: server/facts.c)
 * are taken from the case's context as written, never from the clock or
 * the connection, so a test decides the same every day.  A request the
 * server would refuse before asking Cedar (a context that does not match
 * the schema) is a deny, as the server answers it, with the reason shown.
 *
 * Policies are named by their @id annotation when they have one, else by
 * their id; an expected name may be either. */
#include "authoring/ptest.h"
#include "util/jsonpos.h"
#include "cedar/srctext.h"
#include "server/azmap.h"
#include "util/sbuf.h"
#include "writ/cedar.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define PT_MAX_FILE (64u << 20)

typedef struct pt_file {
    const char *path;
    char *text;
    size_t len;
    json_t *root;
    FILE *out, *err;
    char *ppath; /* the policies' path, as the messages show it */
    char *ptext;
    size_t plen;
    writ_policyset *ps;
    writ_schema *schema;
    writ_entities *es;
    char *prefix, *action_type;
    bool validate;
    bool forbid_error_denies; /* as the server's (default true) */
} pt_file;

static char *read_all(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            if (cap > PT_MAX_FILE) {
                free(buf);
                buf = NULL;
                errno = EFBIG;
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - 1 - n, fp);
        n += r;
        if (r == 0) {
            if (ferror(fp)) {
                free(buf);
                buf = NULL;
                errno = EIO;
            }
            break;
        }
    }
    fclose(fp);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

/* A path of the test file's, relative to its folder unless absolute. */
static char *beside(const char *test_path, const char *rel)
{
    const char *slash = strrchr(test_path, '/');
    size_t dl = rel[0] == '/' || !slash ? 0 : (size_t)(slash - test_path) + 1;
    char *p = malloc(dl + strlen(rel) + 1);
    if (p) {
        memcpy(p, test_path, dl);
        memcpy(p + dl, rel, strlen(rel) + 1);
    }
    return p;
}

/* Report a bad file at the value (or, with at_key, the member name) that
 * path leads to; always -1. */
static int bad(pt_file *f, const wr_jpos_step *path, size_t n, int at_key, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int bad(pt_file *f, const wr_jpos_step *path, size_t n, int at_key, const char *fmt, ...)
{
    uint32_t line, col;
    size_t off = wr_jpos_find(f->text, f->len, path, n, at_key);
    cedar_text_position(f->text, f->len, off, &line, &col);
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(f->err, "writ test: %s:%u:%u: %s\n", f->path, line, col, msg);
    return -1;
}

/* Every member of obj is one of allowed (NULL-terminated). */
static int known_fields(pt_file *f, json_t *obj, const char *const *allowed, const char *what,
                        wr_jpos_step *path, size_t n)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = !strcmp(key, allowed[i]);
        if (ok)
            continue;
        char list[200] = "";
        for (size_t i = 0; allowed[i]; i++) {
            size_t l = strlen(list);
            snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "", allowed[i]);
        }
        path[n].key = key;
        return bad(f, path, n + 1, 1, "unknown field `%s` in %s (expected: %s)", key, what, list);
    }
    return 0;
}

static int string_list(pt_file *f, json_t *v, wr_jpos_step *path, size_t n, const char *what)
{
    if (!json_is_array(v))
        return bad(f, path, n, 0, "%s must be an array of policy ids", what);
    for (size_t i = 0; i < json_array_size(v); i++)
        if (!json_is_string(json_array_get(v, i))) {
            path[n].key = NULL;
            path[n].index = i;
            return bad(f, path, n + 1, 0, "%s[%zu] must be a string (a policy id)", what, i);
        }
    return 0;
}

static az_parts parts_of(json_t *rq)
{
    az_parts p = {json_object_get(rq, "subject"), json_object_get(rq, "action"),
                  json_object_get(rq, "resource"), json_object_get(rq, "context")};
    return p;
}

/* Pass 1: the shape of every case. */
static int check_cases(pt_file *f, json_t *cases)
{
    static const char *const case_fields[] = {"name", "request", "decision", "reasons", "errors", NULL};
    static const char *const request_fields[] = {"subject", "action", "resource", "context", NULL};
    az_names names = {f->prefix, f->action_type};
    wr_jpos_step path[4] = {{"cases", 0}};
    if (!json_is_array(cases))
        return bad(f, path, cases ? 1 : 0, 0, "%s", cases ? "cases must be an array" : "cases is required");
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i), *v;
        path[1] = (wr_jpos_step){NULL, i};
        if (!json_is_object(c))
            return bad(f, path, 2, 0, "cases[%zu] must be an object", i);
        if (known_fields(f, c, case_fields, "a case", path, 2))
            return -1;
        path[2].key = "name";
        if ((v = json_object_get(c, "name")) && !json_is_string(v))
            return bad(f, path, 3, 0, "name must be a string");
        v = json_object_get(c, "decision");
        path[2].key = "decision";
        if (!v)
            return bad(f, path, 2, 0, "cases[%zu] has no decision (\"allow\" or \"deny\")", i);
        if (!json_is_string(v) ||
            (strcmp(json_string_value(v), "allow") && strcmp(json_string_value(v), "deny")))
            return bad(f, path, 3, 0, "decision must be \"allow\" or \"deny\"");
        path[2].key = "reasons";
        if ((v = json_object_get(c, "reasons")) && string_list(f, v, path, 3, "reasons"))
            return -1;
        path[2].key = "errors";
        if ((v = json_object_get(c, "errors")) && string_list(f, v, path, 3, "errors"))
            return -1;
        v = json_object_get(c, "request");
        path[2].key = "request";
        if (!v)
            return bad(f, path, 2, 0, "cases[%zu] has no request", i);
        if (!json_is_object(v))
            return bad(f, path, 3, 0,
                       "request must be an object (AuthZEN: subject, action, resource, context)");
        if (known_fields(f, v, request_fields, "a request", path, 3))
            return -1;
        az_parts p = parts_of(v);
        az_mapped m;
        char why[200];
        if (az_map(&names, &p, false, &m, why, sizeof why)) {
            /* at the part the message names, when it is there */
            static const char *const partnames[] = {"subject", "action", "resource", "context"};
            size_t n = 3;
            for (size_t k = 0; k < 4; k++)
                if (!strncmp(why, partnames[k], strlen(partnames[k])) && json_object_get(v, partnames[k]))
                    path[n++].key = partnames[k];
            return bad(f, path, n, 0, "request: %s", why);
        }
    }
    return 0;
}

/* ---- deciding and comparing */

static const char *display(const writ_policyset *ps, const char *id)
{
    for (size_t i = 0; i < writ_policyset_count(ps); i++)
        if (!strcmp(writ_policyset_id(ps, i), id)) {
            const char *a = writ_policyset_annotation(ps, i, "id");
            return a && *a ? a : id;
        }
    return id;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* names sorted, as "[a, b]" */
static void list_text(sbuf *b, const char **names, size_t n)
{
    qsort(names, n, sizeof *names, cmp_str);
    sb_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_puts(b, ", ");
        sb_puts(b, names[i]);
    }
    sb_putc(b, ']');
}

/* Compare the expected names (json) with the actual ids; on a difference
 * write the two lines of the diff into d. */
static void compare_ids(const writ_policyset *ps, const char *what, json_t *want, const char *const *ids,
                        size_t n, sbuf *d)
{
    size_t nw = json_array_size(want);
    const char **w = calloc(nw + 1, sizeof *w), **g = calloc(n + 1, sizeof *g);
    if (!w || !g) {
        sb_puts(d, "     (out of memory)\n");
        free(w);
        free(g);
        return;
    }
    for (size_t i = 0; i < nw; i++)
        w[i] = display(ps, json_string_value(json_array_get(want, i))); /* a raw id names its policy */
    for (size_t i = 0; i < n; i++)
        g[i] = display(ps, ids[i]);
    sbuf a, b;
    sb_init(&a);
    sb_init(&b);
    list_text(&a, w, nw);
    list_text(&b, g, n);
    if (sb_ok(&a) && sb_ok(&b) && strcmp(a.p, b.p)) {
        sb_printf(d, "     - %s: %s\n     + %s: %s\n", what, a.p, what, b.p);
    }
    sb_free(&a);
    sb_free(&b);
    free(w);
    free(g);
}

static void why_lines(pt_file *f, writ_authorizer *az, const writ_request *rq, FILE *out)
{
    writ_decision d;
    writ_explanation x;
    if (writ_explain(az, f->ps, f->es, rq, &d, &x)) {
        fprintf(out, "     why: (could not explain)\n");
        return;
    }
    if (!x.npermits && !x.nforbids)
        fprintf(out, "     why: no permit's scope matched the request\n");
    for (size_t i = 0; i < x.nforbids; i++) {
        const writ_explain_policy *p = &x.forbids[i];
        fprintf(out, "     why: forbid %s held", display(f->ps, p->policy_id));
        if (!p->nparts)
            fprintf(out, " (its scope alone)");
        for (size_t k = 0; k < p->nparts; k++)
            fprintf(out, "%s %s { %s } at %s:%u:%u", k ? "," : ":", p->parts[k].when ? "when" : "unless",
                    p->parts[k].text, f->ppath, p->parts[k].line, p->parts[k].column);
        fputc('\n', out);
    }
    for (size_t i = 0; i < x.npermits; i++) {
        const writ_explain_policy *p = &x.permits[i];
        const char *name = display(f->ps, p->policy_id);
        if (p->held) {
            fprintf(out, "     why: permit %s held (a forbid overrides it)\n", name);
        } else if (p->nparts) {
            const writ_explain_part *c = &p->parts[0];
            fprintf(out, "     why: permit %s: %s `%s` at %s:%u:%u %s%s\n", name, c->when ? "when" : "unless",
                    c->text, f->ppath, c->line, c->column,
                    p->error  ? "failed: "
                    : c->when ? "was false"
                              : "was true",
                    p->error ? p->error : "");
        }
    }
}

/* Pass 2: one case.  Returns 1 passed, 0 failed. */
static int run_case(pt_file *f, size_t i, json_t *c, writ_request *rq, writ_authorizer *az)
{
    az_names names = {f->prefix, f->action_type};
    json_t *req = json_object_get(c, "request");
    az_parts p = parts_of(req);
    az_mapped m;
    char why[200];
    (void)az_map(&names, &p, false, &m, why, sizeof why); /* checked in pass 1 */
    writ_error err;
    memset(&err, 0, sizeof err);
    writ_status st =
        writ_request_fill(rq, f->schema, f->validate, &m.principal, &m.action, &m.resource, m.context, &err);
    /* per-request attributes: the caller's replace the store's, as for a
     * vouching AuthZEN caller */
    const json_t *props[2] = {m.principal_props, m.resource_props};
    const writ_uid_parts *who[2] = {&m.principal, &m.resource};
    for (int k = 0; k < 2 && !st; k++) {
        if (!json_is_object(props[k]) || json_object_size(props[k]) == 0)
            continue;
        char *type = malloc(who[k]->prefix_len + who[k]->type_len + 1), *id = malloc(who[k]->id_len + 1);
        if (!type || !id) {
            st = WRIT_ENOMEM;
            snprintf(err.msg, sizeof err.msg, "out of memory");
        } else {
            memcpy(type, who[k]->prefix, who[k]->prefix_len);
            memcpy(type + who[k]->prefix_len, who[k]->type, who[k]->type_len);
            type[who[k]->prefix_len + who[k]->type_len] = '\0';
            memcpy(id, who[k]->id, who[k]->id_len);
            id[who[k]->id_len] = '\0';
            st = writ_request_add_attrs(rq, f->es, type, id, props[k], false, &err);
        }
        free(type);
        free(id);
    }
    writ_decision d;
    memset(&d, 0, sizeof d);
    char refused[300] = "";
    if (st)
        snprintf(refused, sizeof refused, "request: %.280s", err.msg);
    else if ((st = writ_authorize(az, f->ps, f->es, rq, &d)))
        snprintf(refused, sizeof refused, "deciding failed: %s", writ_status_name(st));
    /* as the server enforces: a forbid that failed to evaluate denies, and
     * is then the determining policy */
    const char *fid;
    if (!st && f->forbid_error_denies)
        writ_decision_deny_failed_forbid(f->ps, &d, &fid, NULL);
    bool want_allow = !strcmp(json_string_value(json_object_get(c, "decision")), "allow");
    sbuf diff;
    sb_init(&diff);
    if (want_allow != d.allow)
        sb_printf(&diff, "     - decision: %s\n     + decision: %s\n", want_allow ? "allow" : "deny",
                  d.allow ? "allow" : "deny");
    json_t *v;
    if ((v = json_object_get(c, "reasons")))
        compare_ids(f->ps, "reasons", v, d.reasons, d.nreasons, &diff);
    if ((v = json_object_get(c, "errors"))) {
        const char **ids = calloc(d.nerrors + 1, sizeof *ids);
        for (size_t k = 0; ids && k < d.nerrors; k++)
            ids[k] = d.errors[k].policy_id;
        if (ids)
            compare_ids(f->ps, "errors", v, ids, d.nerrors, &diff);
        free(ids);
    }
    json_t *nm = json_object_get(c, "name");
    char label[64];
    snprintf(label, sizeof label, "case %zu", i + 1);
    const char *name = nm ? json_string_value(nm) : label;
    bool pass = diff.len == 0 && sb_ok(&diff);
    if (pass) {
        fprintf(f->out, "ok   %s: %s%s%s%s\n", f->path, name, *refused ? " (" : "", refused,
                *refused ? ")" : "");
    } else {
        wr_jpos_step path[2] = {{"cases", 0}, {NULL, i}};
        uint32_t line, col;
        cedar_text_position(f->text, f->len, wr_jpos_find(f->text, f->len, path, 2, 0), &line, &col);
        fprintf(f->out, "FAIL %s: %s (%s:%u:%u)\n%s", f->path, name, f->path, line, col,
                sb_ok(&diff) ? diff.p : "     (out of memory)\n");
        if (*refused)
            fprintf(f->out, "     refused: %s\n", refused);
        for (size_t k = 0; k < d.nerrors && !*refused; k++)
            fprintf(f->out, "     error in %s: %s\n", display(f->ps, d.errors[k].policy_id),
                    d.errors[k].message);
        if (!st && !d.allow)
            why_lines(f, az, rq, f->out);
    }
    sb_free(&diff);
    return pass;
}

/* The Cedar parsers' messages begin with "LINE:COL: "; ours put the file
 * name before the position, so the message goes without it. */
static const char *bare(const writ_error *e)
{
    const char *m = e->msg;
    for (int part = 0; part < 2; part++) {
        if (*m < '0' || *m > '9')
            return e->msg;
        while (*m >= '0' && *m <= '9')
            m++;
        if (*m++ != ':')
            return e->msg;
    }
    return *m == ' ' ? m + 1 : e->msg;
}

/* Load what the file names: policies, schema, entities. */
static int load(pt_file *f)
{
    static const char *const top_fields[] = {
        "policies", "schema", "entities", "namespace", "validate", "forbid_error_denies", "cases", NULL};
    wr_jpos_step path[2];
    if (known_fields(f, f->root, top_fields, "the test file", path, 0))
        return -1;
    const char *keys[3] = {"policies", "schema", "entities"};
    char *paths[3] = {NULL, NULL, NULL};
    int rc = -1;
    for (int k = 0; k < 3; k++) {
        json_t *v = json_object_get(f->root, keys[k]);
        path[0].key = keys[k];
        if (!v && k == 0) {
            bad(f, path, 0, 0, "policies is required (the Cedar file the cases test)");
            goto out;
        }
        if (v && (!json_is_string(v) || !json_string_length(v))) {
            bad(f, path, 1, 0, "%s must be a path (relative to the test file)", keys[k]);
            goto out;
        }
        if (v && !(paths[k] = beside(f->path, json_string_value(v)))) {
            bad(f, path, 1, 0, "out of memory");
            goto out;
        }
    }
    json_t *ns = json_object_get(f->root, "namespace"), *val = json_object_get(f->root, "validate");
    if (ns && !json_is_string(ns)) {
        path[0].key = "namespace";
        bad(f, path, 1, 0, "namespace must be a string (\"\" for none)");
        goto out;
    }
    if (val && !json_is_boolean(val)) {
        path[0].key = "validate";
        bad(f, path, 1, 0, "validate must be true or false");
        goto out;
    }
    f->validate = json_is_true(val);
    json_t *fed = json_object_get(f->root, "forbid_error_denies");
    if (fed && !json_is_boolean(fed)) {
        path[0].key = "forbid_error_denies";
        bad(f, path, 1, 0, "forbid_error_denies must be true or false");
        goto out;
    }
    f->forbid_error_denies = !fed || json_is_true(fed);
    const char *nss = ns ? json_string_value(ns) : "";
    f->prefix = malloc(strlen(nss) + 3);
    f->action_type = malloc(strlen(nss) + 9);
    if (!f->prefix || !f->action_type) {
        bad(f, path, 0, 0, "out of memory");
        goto out;
    }
    snprintf(f->prefix, strlen(nss) + 3, "%s%s", nss, *nss ? "::" : "");
    snprintf(f->action_type, strlen(nss) + 9, "%s%sAction", nss, *nss ? "::" : "");
    if (check_cases(f, json_object_get(f->root, "cases")))
        goto out;

    writ_error err;
    memset(&err, 0, sizeof err);
    size_t len;
    char *text;
    f->ppath = paths[0];
    paths[0] = NULL;
    if (!(f->ptext = read_all(f->ppath, &f->plen))) {
        fprintf(f->err, "writ test: %s: policies %s: %s\n", f->path, f->ppath, strerror(errno));
        goto out;
    }
    if (writ_policyset_parse(f->ptext, f->plen, &f->ps, &err)) {
        fprintf(f->err, "writ test: %s:%u:%u: %s\n", f->ppath, err.line, err.col, bare(&err));
        goto out;
    }
    if (paths[1]) {
        if (!(text = read_all(paths[1], &len))) {
            fprintf(f->err, "writ test: %s: schema %s: %s\n", f->path, paths[1], strerror(errno));
            goto out;
        }
        writ_status st = writ_schema_parse(text, len, &f->schema, &err);
        free(text);
        if (st) {
            fprintf(f->err, "writ test: %s:%u:%u: %s\n", paths[1], err.line, err.col, bare(&err));
            goto out;
        }
    }
    if (paths[2]) {
        if (!(text = read_all(paths[2], &len))) {
            fprintf(f->err, "writ test: %s: entities %s: %s\n", f->path, paths[2], strerror(errno));
            goto out;
        }
    } else {
        text = strdup("[]");
        len = 2;
    }
    writ_status st = text ? writ_entities_parse(text, len, f->schema, &f->es, &err) : WRIT_ENOMEM;
    free(text);
    if (st) {
        if (err.line)
            fprintf(f->err, "writ test: %s:%u:%u: %s\n", paths[2] ? paths[2] : "(entities)", err.line,
                    err.col, bare(&err));
        else
            fprintf(f->err, "writ test: %s: %s\n", paths[2] ? paths[2] : "(entities)", err.msg);
        goto out;
    }
    rc = 0;
out:
    for (int k = 0; k < 3; k++)
        free(paths[k]);
    return rc;
}

int pt_run_file(const char *path, FILE *out, FILE *err, pt_totals *t)
{
    pt_file f;
    memset(&f, 0, sizeof f);
    f.path = path;
    f.out = out;
    f.err = err;
    int rc = -1;
    writ_request *rq = NULL;
    writ_authorizer *az = NULL;
    if (!(f.text = read_all(path, &f.len))) {
        fprintf(err, "writ test: %s: %s\n", path, strerror(errno));
        goto out;
    }
    writ_error je;
    memset(&je, 0, sizeof je);
    if (!(f.root = writ_json_parse(f.text, f.len, &je))) {
        fprintf(err, "writ test: %s:%u:%u: malformed JSON: %s\n", path, je.line, je.col, je.msg);
        goto out;
    }
    if (!json_is_object(f.root)) {
        bad(&f, NULL, 0, 0, "a test file is a JSON object (policies, schema, entities, cases)");
        goto out;
    }
    if (load(&f))
        goto out;
    rq = writ_request_reusable();
    az = writ_authorizer_new();
    if (!rq || !az) {
        fprintf(err, "writ test: %s: out of memory\n", path);
        goto out;
    }
    json_t *cases = json_object_get(f.root, "cases");
    for (size_t i = 0; i < json_array_size(cases); i++) {
        if (run_case(&f, i, json_array_get(cases, i), rq, az))
            t->passed++;
        else
            t->failed++;
    }
    rc = 0;
out:
    writ_authorizer_free(az);
    writ_request_free(rq);
    writ_entities_free(f.es);
    writ_schema_free(f.schema);
    writ_policyset_free(f.ps);
    free(f.ptext);
    free(f.ppath);
    free(f.prefix);
    free(f.action_type);
    json_decref(f.root);
    free(f.text);
    return rc;
}
