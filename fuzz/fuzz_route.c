/* fuzz_route.c - fuzz the /authz/check route table (src/server/route.c).
 *
 * The input is lines: every line but the last is a route as the config
 * gives it (METHOD PATTERN ACTION RESOURCE_TYPE RESOURCE_ID, read by the
 * config's own parser); the last line is the request, "METHOD PATH" (or
 * just a path, for GET), made canonical (path.h) before it is matched, as
 * /authz/check does.  With no route lines, the example routes are used.
 *
 * Checks: route_compile refuses a table exactly when route_check refuses
 * one of its routes; a resolved route is the first that matches (no
 * earlier one matches, the route alone does) and takes the request's
 * method; the resource id follows its template and is deterministic; a
 * refusal is one of the documented ones.  The raw path is matched too
 * (route_resolve must not crash on any string).  fuzz_path.c fuzzes the
 * canonical path itself. */
#include "server/config.h"
#include "server/path.h"
#include "server/route.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const example_routes[] = {
    "GET /datasets/{id} read Dataset {id}",
    "GET /repos/{repo} read Repo {repo}",
    "POST /repos/{repo}/* write Repo {repo}",
    "* /tools/{tool}/* invoke Tool {tool}:{*}",
    "GET / home Page root",
    "DELETE /a/{x}/b/{y} remove Thing {y}@{x}",
};

/* Resolve: the route, with *out the resource id or "!why" (malloc'd). */
static const chk_route *resolve(const route_table *t, const char *method, const char *path, char **out)
{
    sbuf b;
    sb_init(&b);
    char why[128] = "";
    const chk_route *r = route_resolve(t, method, path, &b, why, sizeof why);
    if (!r) {
        if (b.len && strcmp(why, "resource id too long"))
            abort(); /* nothing appended on a refusal */
        if (strcmp(why, "path too long") && strcmp(why, "path has too many segments") &&
            strcmp(why, "no route for this method and path") && strcmp(why, "resource id too long"))
            abort();
        size_t n = strlen(why);
        *out = malloc(n + 2);
        if (!*out)
            abort();
        (*out)[0] = '!';
        memcpy(*out + 1, why, n + 1);
    } else {
        if (!sb_ok(&b) || b.len > ROUTE_MAX_RID || (b.len && strlen(b.p) != b.len))
            abort();
        *out = strdup(b.len ? b.p : "");
        if (!*out)
            abort();
    }
    sb_free(&b);
    return r;
}

static void check_request(const route_table *t, const char *method, const char *path)
{
    char *rid, *again;
    const chk_route *r = resolve(t, method, path, &rid);
    const chk_route *r2 = resolve(t, method, path, &again);
    if (r != r2 || strcmp(rid, again))
        abort();
    free(again);
    if (!r) {
        free(rid);
        return;
    }
    if (strcmp(r->src->method, "*") && strcmp(r->src->method, method))
        abort();
    /* a template without captures is the id itself */
    if (!strchr(r->src->rid, '{') && strcmp(rid, r->src->rid))
        abort();
    /* ids are the template with captures out of the path */
    size_t caps = 0;
    for (const char *q = r->src->rid; (q = strchr(q, '{')) != NULL; q++)
        caps++;
    if (strlen(rid) > strlen(r->src->rid) + caps * strlen(path))
        abort();
    /* first match: no earlier route matches, this one alone does */
    size_t i = (size_t)(r - t->routes);
    route_table before = {i, t->routes}, alone = {1, (chk_route *)r};
    if (resolve(&before, method, path, &again) || strcmp(again, "!no route for this method and path"))
        abort();
    free(again);
    if (resolve(&alone, method, path, &again) != r || strcmp(rid, again))
        abort();
    free(again);
    free(rid);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *req = strrchr(text, '\n');
    srv_config c;
    memset(&c, 0, sizeof c);
    writ_error err;
    if (req) {
        *req++ = '\0';
        for (char *line = text, *next; line; line = next) {
            next = strchr(line, '\n');
            if (next)
                *next++ = '\0';
            if (srv_config_set(&c, "route", line, NULL, &err) && !err.msg[0])
                abort();
        }
    } else {
        req = text;
    }
    if (!c.nroutes)
        for (size_t i = 0; i < sizeof example_routes / sizeof example_routes[0]; i++)
            if (srv_config_set(&c, "route", example_routes[i], NULL, &err))
                abort();
    /* keep the routes route_check accepts: they compile, together */
    srv_route *ok = calloc(c.nroutes, sizeof *ok);
    size_t nok = 0;
    if (!ok) {
        srv_config_free(&c);
        free(text);
        return 0;
    }
    for (size_t i = 0; i < c.nroutes; i++) {
        if (route_check(&c.routes[i], &err) == WRIT_OK)
            ok[nok++] = c.routes[i];
        else if (strncmp(err.msg, "route ", 6))
            abort();
    }
    route_table t;
    if (route_compile(&t, c.routes, c.nroutes, &err) != (nok == c.nroutes ? WRIT_OK : WRIT_EINVAL))
        abort();
    route_free(&t);
    if (route_compile(&t, ok, nok, &err) != WRIT_OK)
        abort();
    /* the request */
    const char *method = "GET", *path = req;
    char *sp = strchr(req, ' ');
    if (sp) {
        *sp = '\0';
        method = req;
        path = sp + 1;
    }
    static char canon[PATH_MAX_LEN + 1];
    char why[128];
    if (!path_canon(path, strlen(path), canon, sizeof canon, why, sizeof why))
        check_request(&t, method, canon);
    else if (strncmp(why, "path: ", 6))
        abort();
    sbuf raw;
    sb_init(&raw);
    (void)route_resolve(&t, method, path, &raw, why, sizeof why);
    sb_free(&raw);
    route_free(&t);
    free(ok);
    srv_config_free(&c);
    free(text);
    return 0;
}
