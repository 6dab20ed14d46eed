/* route.h - the /authz/check route table (config.h gives the syntax):
 * compiled patterns, and the route and resource id of a request's method
 * and canonical path (path.h).
 *
 * Limits: a pattern or a path has at most ROUTE_MAX_SEGS segments, a path
 * at most ROUTE_MAX_PATH bytes, a resource id (expanded) at most
 * ROUTE_MAX_RID bytes. */
#ifndef WRIT_SERVER_ROUTE_H
#define WRIT_SERVER_ROUTE_H

#include <stddef.h>

#include "server/config.h"
#include "server/path.h"
#include "util/sbuf.h"
#include "writ/writ.h"

#define ROUTE_MAX_PATH PATH_MAX_LEN
#define ROUTE_MAX_SEGS 64
#define ROUTE_MAX_RID 8192

/* A compiled route. */
typedef struct chk_route {
    const srv_route *src;
    size_t nseg;
    char **seg; /* literal, "{name}" or "*" (last only) */
} chk_route;

typedef struct route_table {
    size_t n;
    chk_route *routes; /* point into the srv_routes compiled */
} route_table;

/* Compile n routes (which must outlive t).  On failure err names the route
 * and the problem; route_free(t) is needed either way. */
WRIT_MUST_CHECK writ_status route_compile(route_table *t, const srv_route *src, size_t n, writ_error *err);
void route_free(route_table *t);
/* Is r a valid route (the checks of route_compile)? */
WRIT_MUST_CHECK writ_status route_check(const srv_route *r, writ_error *err);

/* The first route of t for method and path, its resource id appended to
 * rid: `{name}` is the segment, `{*}` the rest of the path (from the first
 * segment '*' matched, a trailing '/' included; "" when none).  path must be
 * canonical (path_canon): it is matched as it is, never decoded again, so
 * the route and the resource id are those of the path the proxy routes.
 * NULL, with why (n bytes), when the path is too long or has too many
 * segments, when no route matches, or when the first that does makes a
 * resource id too long (rid is then unspecified). */
const chk_route *route_resolve(const route_table *t, const char *method, const char *path, sbuf *rid,
                               char *why, size_t n);

#endif
