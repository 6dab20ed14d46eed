/* uri.h - the uri of a resources/read, checked before it is decided on.
 *
 * A policy reads the uri as the client wrote it (a `like` pattern on
 * context.input.uri that starts "file:///public/"), but an upstream may
 * resolve it before it looks the resource up, as a file server resolves a
 * path.  So a uri is refused when
 * one of its spellings could name another resource once resolved:
 *   - in its path (after "scheme:" and any "//authority", up to the first
 *     '?' or '#'), a segment that is "." or ".." once percent-decoded
 *     ("..", "%2e%2E", ".%2e"), or that reads as one under Unicode
 *     compatibility normalisation (FULLWIDTH FULL STOP and the like, raw or
 *     percent-encoded: wr_compat_dots, the same rule as paths);
 *   - a segment holding a decoded '/' or '\' (%2F, %5C), a raw '\', or a
 *     character whose NFKC form holds '/', '\', '?', '#', '%' or ';'
 *     (wr_compat_delim);
 *   - in the authority (after "//", up to the first '/', '?' or '#'), a
 *     '\' raw, a '/' or '\' percent-encoded, or a character NFKC makes one:
 *     a WHATWG URL parser ends the authority at a '\' in http, https and
 *     file uris, so "https://docs.example.com\admin" is the path /admin
 *     there, and "https://evil.com\.example.com/" the host evil.com;
 *   - a spelling a URL parser (WHATWG, as Node's `new URL()`) or a file
 *     server writes otherwise, so that the uri decided on is the one the
 *     upstream resolves, and a `like` pattern on it holds: in the scheme
 *     an upper-case letter, or a special scheme (http, https, ws, wss, ftp,
 *     file) without "//"; in the authority a userinfo '@', a non-ASCII
 *     host, an IP literal, an empty, zero-padded or default port (:443 on
 *     https), and for a special scheme a percent-escape, an upper-case
 *     host, a host ending in '.', an IPv4 host not in dotted decimal
 *     (0x7f.1), no host (http, https) or a file host "localhost" (other
 *     schemes' hosts are kept as written); in the path an escape of a
 *     character that needs none (%73 for "s", %40 for "@": a file server
 *     decodes every escape; ~ excepted, which Node's pathToFileURL writes
 *     %7E), an escape in lower case, a raw non-ASCII character, one of
 *     " < > ^ ` { } (the parser escapes them), and for a special scheme an
 *     empty segment ("a//b"), and in a file path a '|' (C| is the drive
 *     C: to the parser); after the path a fragment (no server sees it, so
 *     "x.pem#" is x.pem), and in a file uri a query;
 *   - anywhere, a NUL (raw or %00), a control character or a space (raw:
 *     the WHATWG URL parser, which Node's MCP servers use, drops tab, LF and
 *     CR anywhere, so ".<TAB>." is a '..' segment to them), a bad
 *     percent-escape, or no scheme.
 * Every refusal names the byte where it is.  Nothing is rewritten: the uri
 * decided on is the one forwarded.  Arguments of tools are not checked
 * (Writ cannot know which are paths): a policy on a path-like argument
 * should refuse ".." itself (README, MCP gateway). */
#ifndef WRIT_MCP_URI_H
#define WRIT_MCP_URI_H

#include <stddef.h>

/* 0 when uri[0..n) may be decided on; -1 with why (wn bytes) the reason. */
int mcp_uri_check(const char *uri, size_t n, char *why, size_t wn);

#endif
