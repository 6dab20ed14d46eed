/* path.h - the canonical path of an /authz/check request.
 *
 * A check names the original request in one of two forms:
 *   nginx:  X-Original-Method and X-Original-URI ($request_uri: the raw
 *           request target, query included), sent to /authz/check itself;
 *   Envoy:  this request's own method, and its raw target after the prefix
 *           /authz/check (the server turns libmicrohttpd's unescaping off,
 *           so the target arrives as the client sent it, the query cut off).
 *
 * Both become one canonical path: the query is dropped, then every
 * percent-escape is decoded exactly once.  Writ does not guess how the proxy
 * or the upstream normalises a path; it refuses every spelling that one of
 * them could read as another path:
 *   - a `.` or `..` segment (written raw or encoded: `%2e`, `.%2E`, ...),
 *     also with parameters (`..;x`, `%2e%2e%3B`): servlet containers cut
 *     `;...` off each segment before they remove dot segments; also one
 *     spelled with dots that Unicode compatibility normalisation (NFKC)
 *     turns into `.` (U+FF0E, U+FE52, U+2024; U+2025 is two);
 *   - any other `;` (raw or `%3B`): to those readers `writ;x` is `writ`;
 *   - an empty segment (`//`) anywhere but a single trailing `/`: nginx
 *     merges slashes by default, so `/a//b` reaches the upstream as `/a/b`;
 *   - an encoded `/` (`%2F`), NUL, `?` or `#` (and a raw `#`);
 *   - a `\` (raw or `%5C`): WHATWG URL parsers (Node's `new URL`, which
 *     many frameworks route on), IIS and ASP.NET read it as `/`, so
 *     `/a/..\b` is `/b` to them;
 *   - a bad percent-escape, or decoded bytes that are not UTF-8 (RFC 3629:
 *     no overlong forms such as `%C0%AE`, no surrogates);
 *   - a raw control character or space (never valid in a request target);
 *   - a path that does not start with `/`, or is longer than PATH_MAX_LEN
 *     bytes (the query not counted).
 * Every refusal names the byte of the raw path where it is.  A trailing `/`
 * is kept (the route table ignores it).  Decoded control characters other
 * than NUL are kept: they are bytes of the resource id, not of the path's
 * structure.
 *
 * Limit of the HTTP layer: libmicrohttpd 0.9.75 cuts a request line or a
 * header value at a raw NUL byte without telling; nginx and Envoy refuse such
 * requests before they reach Writ. */
#ifndef WRIT_SERVER_PATH_H
#define WRIT_SERVER_PATH_H

#include <stddef.h>

#define PATH_MAX_LEN 4096

/* Canonicalise the raw path raw[0..len) (a query, from its first '?', is
 * dropped first).  0 with out (outsz bytes, at least min(len, PATH_MAX_LEN)
 * + 1) the decoded path, NUL-terminated; -1 with why (n bytes) the reason,
 * and out empty. */
int path_canon(const char *raw, size_t len, char *out, size_t outsz, char *why, size_t n);

/* What a check request says about the original request. */
typedef struct path_inputs {
    const char *target;      /* this request's raw target after /authz/check: "" or "/..." */
    const char *method;      /* this request's method */
    const char *orig_uri;    /* X-Original-URI, or NULL */
    const char *orig_method; /* X-Original-Method, or NULL */
    unsigned n_orig_uri;     /* how many X-Original-URI headers there are */
    unsigned n_orig_method;  /* how many X-Original-Method headers there are */
} path_inputs;

/* The original request of a check. */
typedef struct path_request {
    const char *method;          /* points into the inputs */
    char path[PATH_MAX_LEN + 1]; /* canonical */
} path_request;

/* The original method and canonical path of a check.  The nginx form needs
 * both headers, once each, a method that is an HTTP token, and nothing after
 * /authz/check; otherwise this request's own method and target (an empty
 * target is `/`).  0, or -1 with why (n bytes). */
int path_check_request(const path_inputs *in, path_request *out, char *why, size_t n);

#endif
