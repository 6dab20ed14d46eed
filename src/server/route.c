/* route.c - the /authz/check route table (see route.h). */
#include "server/route.h"
#include "util/alloc.h"
#include "util/error.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* ---- compiling */

static void free_route(chk_route *r)
{
    for (size_t i = 0; i < r->nseg; i++)
        wr_free(r->seg[i]);
    wr_free(r->seg);
    r->seg = NULL;
    r->nseg = 0;
}

void route_free(route_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        free_route(&t->routes[i]);
    wr_free(t->routes);
    t->routes = NULL;
    t->n = 0;
}

static writ_status route_fail(writ_error *err, const srv_route *r, const char *why)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = WRIT_EINVAL;
        snprintf(err->msg, sizeof err->msg, "route %s %s: %s", r->method, r->pattern, why);
    }
    return WRIT_EINVAL;
}

/* Compile src into r (zeroed); free_route(r) either way. */
static writ_status compile_one(chk_route *r, const srv_route *src, writ_error *err)
{
    r->src = src;
    r->seg = wr_calloc(ROUTE_MAX_SEGS, sizeof *r->seg);
    if (!r->seg)
        return route_fail(err, src, "out of memory");
    const char *p = src->pattern;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (r->nseg == ROUTE_MAX_SEGS)
            return route_fail(err, src, "too many segments");
        if (!(r->seg[r->nseg++] = wr_strndup(p, n)))
            return route_fail(err, src, "out of memory");
        p += n;
    }
    for (size_t k = 0; k < r->nseg; k++) {
        const char *g = r->seg[k];
        if (!strcmp(g, "*") && k + 1 != r->nseg)
            return route_fail(err, src, "'*' must be the last segment");
        if (g[0] == '{' && (strlen(g) < 3 || g[strlen(g) - 1] != '}'))
            return route_fail(err, src, "a capture is written {name}");
    }
    /* Every {name} in the resource id must be captured by the pattern. */
    for (const char *q = strchr(src->rid, '{'); q; q = strchr(q + 1, '{')) {
        const char *e = strchr(q, '}');
        if (!e)
            return route_fail(err, src, "unclosed '{' in the resource id");
        size_t n = (size_t)(e - q + 1);
        bool found = n == 3 && q[1] == '*' && r->nseg && !strcmp(r->seg[r->nseg - 1], "*");
        for (size_t k = 0; k < r->nseg && !found; k++)
            found = strlen(r->seg[k]) == n && !memcmp(r->seg[k], q, n);
        if (!found)
            return route_fail(err, src, "the resource id uses a capture the pattern does not have");
    }
    return WRIT_OK;
}

writ_status route_compile(route_table *t, const srv_route *src, size_t n, writ_error *err)
{
    t->n = 0;
    t->routes = wr_calloc(n ? n : 1, sizeof *t->routes);
    if (!t->routes)
        return wr_error(err, WRIT_ENOMEM, "routes: out of memory");
    for (size_t i = 0; i < n; i++) {
        writ_status st = compile_one(&t->routes[t->n++], &src[i], err);
        if (st)
            return st;
    }
    return WRIT_OK;
}

writ_status route_check(const srv_route *r, writ_error *err)
{
    chk_route c;
    memset(&c, 0, sizeof c);
    writ_status st = compile_one(&c, r, err);
    free_route(&c);
    return st;
}

/* ---- resolving */

typedef struct route_match {
    const chk_route *route;
    size_t nseg;
    char *seg[ROUTE_MAX_SEGS];  /* in the caller's copy of the path */
    size_t off[ROUTE_MAX_SEGS]; /* where each starts in the path */
    const char *rest;           /* what '*' matched ("" when none) */
    size_t rest_len;
} route_match;

/* Split buf (a copy of the canonical path) into its segments.  The path has
 * no empty segment but a trailing one, which is not a segment. */
static int split_path(char *buf, route_match *m)
{
    m->nseg = 0;
    char *p = buf;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        if (m->nseg == ROUTE_MAX_SEGS)
            return -1;
        m->off[m->nseg] = (size_t)(p - buf);
        m->seg[m->nseg++] = p;
        char *e = strchr(p, '/');
        if (e) {
            *e = '\0';
            p = e + 1;
        } else {
            p += strlen(p);
        }
    }
    return 0;
}

static const chk_route *match(const route_table *t, const char *method, const char *path, route_match *m)
{
    for (size_t i = 0; i < t->n; i++) {
        const chk_route *r = &t->routes[i];
        if (strcmp(r->src->method, "*") && strcmp(r->src->method, method))
            continue;
        bool star = r->nseg && !strcmp(r->seg[r->nseg - 1], "*");
        size_t fixed = star ? r->nseg - 1 : r->nseg;
        if (star ? m->nseg < fixed : m->nseg != fixed)
            continue;
        size_t k = 0;
        for (; k < fixed; k++) {
            const char *g = r->seg[k];
            if (g[0] == '{')
                continue;
            if (strcmp(g, m->seg[k]))
                break;
        }
        if (k < fixed)
            continue;
        m->route = r;
        /* '*' captures the rest of the path from where its first segment
         * starts (a trailing '/' included). */
        m->rest = star && m->nseg > fixed ? path + m->off[fixed] : "";
        m->rest_len = strlen(m->rest);
        return r;
    }
    return NULL;
}

/* Resource id from the template and the captures: -1 past ROUTE_MAX_RID
 * bytes (or out of memory). */
static int expand_rid(const route_match *m, sbuf *b)
{
    const chk_route *r = m->route;
    const char *t = r->src->rid;
    size_t start = b->len;
    while (*t) {
        if (!sb_ok(b) || b->len - start > ROUTE_MAX_RID)
            return -1;
        if (*t != '{') {
            sb_putc(b, *t++);
            continue;
        }
        const char *e = strchr(t, '}');
        size_t n = (size_t)(e - t + 1);
        if (n == 3 && t[1] == '*') {
            sb_putn(b, m->rest, m->rest_len);
        } else {
            for (size_t k = 0; k < r->nseg; k++)
                if (strlen(r->seg[k]) == n && !memcmp(r->seg[k], t, n)) {
                    sb_puts(b, m->seg[k]);
                    break;
                }
        }
        t = e + 1;
    }
    return sb_ok(b) && b->len - start <= ROUTE_MAX_RID ? 0 : -1;
}

const chk_route *route_resolve(const route_table *t, const char *method, const char *path, sbuf *rid,
                               char *why, size_t n)
{
    size_t plen = strlen(path);
    if (plen > ROUTE_MAX_PATH) {
        snprintf(why, n, "path too long");
        return NULL;
    }
    char buf[ROUTE_MAX_PATH + 1];
    memcpy(buf, path, plen + 1);
    route_match m;
    if (split_path(buf, &m)) {
        snprintf(why, n, "path has too many segments");
        return NULL;
    }
    if (!match(t, method, path, &m)) {
        snprintf(why, n, "no route for this method and path");
        return NULL;
    }
    if (expand_rid(&m, rid)) {
        snprintf(why, n, "resource id too long");
        return NULL;
    }
    return m.route;
}
