/* route.h - the /authz/check route table (config.h gives the syntax):
 * compiled patterns, and the route and resource id of a request's method
 * and path.
 *
 * Limits: a pattern or a path has at most ROUTE_MAX_SEGS segments, a path
 * at most ROUTE_MAX_PATH bytes (query included), a resource id (expanded)
 * at most ROUTE_MAX_RID bytes. */
#ifndef WRIT_SERVER_ROUTE_H
#define WRIT_SERVER_ROUTE_H

#include <stddef.h>

#include "server/config.h"
#include "server/sbuf.h"
#include "writ/writ.h"

#define ROUTE_MAX_PATH 4096
#define ROUTE_MAX_SEGS 64
#define ROUTE_MAX_RID 8192

/* A compiled route. */
typedef struct chk_route {
    const srv_route *src;
    size_t nseg;
    char **seg;                 /* literal, "{name}" or "*" (last only) */
} chk_route;

typedef struct route_table {
    size_t n;
    chk_route *routes;          /* point into the srv_routes compiled */
} route_table;

/* Compile n routes (which must outlive t).  On failure err names the route
 * and the problem; route_free(t) is needed either way. */
WRIT_MUST_CHECK writ_status route_compile(route_table *t, const srv_route *src, size_t n, writ_error *err);
void route_free(route_table *t);
/* Is r a valid route (the checks of route_compile)? */
WRIT_MUST_CHECK writ_status route_check(const srv_route *r, writ_error *err);

/* The first route of t for method and path (query and fragment ignored;
 * segments percent-decoded), its resource id appended to rid: `{name}` is
 * the decoded segment, `{*}` the rest of the path undecoded.  NULL, with why
 * (n bytes), when the path is too long, has too many segments or a bad
 * percent-escape (with its offset), when no route matches, or when the
 * first that does makes a resource id too long (rid is then unspecified). */
const chk_route *route_resolve(const route_table *t, const char *method, const char *path, sbuf *rid, char *why,
                               size_t n);

/* Percent-decode s in place: 0, or -1 on a bad escape or one that decodes
 * to NUL or '/', with *bad the offset of its '%'. */
int route_pct_decode(char *s, size_t *bad);

#endif
