/* uri.c - the uri of a resources/read, checked: see uri.h. */
#include "mcp/uri.h"

#include "util/text.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int refuse(char *why, size_t wn, const char *what, size_t at)
{
    snprintf(why, wn, "uri: %s at byte %zu (an upstream could read it as another resource)", what, at);
    return -1;
}

int mcp_uri_check(const char *uri, size_t n, char *why, size_t wn)
{
    /* anywhere: NUL and bad escapes; the scheme */
    for (size_t i = 0; i < n; i++) {
        if (uri[i] == '\0')
            return refuse(why, wn, "a NUL", i);
        /* a URL parser drops tab, LF and CR anywhere (".\t." is ".."), and
         * controls and spaces at either end */
        if ((unsigned char)uri[i] < 0x21 || uri[i] == 0x7f)
            return refuse(why, wn, "a control character or space", i);
        if (uri[i] == '%') {
            if (i + 2 >= n || wr_hexval((unsigned char)uri[i + 1]) < 0 ||
                wr_hexval((unsigned char)uri[i + 2]) < 0)
                return refuse(why, wn, "a bad percent-escape", i);
            if (uri[i + 1] == '0' && uri[i + 2] == '0')
                return refuse(why, wn, "an encoded NUL", i);
        }
    }
    size_t p = 0;
    while (p < n && uri[p] != ':' && uri[p] != '/' && uri[p] != '?' && uri[p] != '#')
        p++;
    if (p == 0 || p == n || uri[p] != ':')
        return refuse(why, wn, "no scheme", 0);
    p++;
    if (n - p >= 2 && uri[p] == '/' && uri[p + 1] == '/') {
        /* the authority: a WHATWG URL parser ends it at a '\' too (in
         * http, https and file uris, as Node's MCP servers read them), so
         * "https://docs.example.com\admin\keys" is the path /admin/keys
         * to them while a `like` pattern reads one long host */
        p += 2;
        unsigned char last[3] = {0, 0, 0};
        size_t at[3] = {0, 0, 0};
        while (p < n && uri[p] != '/' && uri[p] != '?' && uri[p] != '#') {
            unsigned char c = (unsigned char)uri[p];
            size_t from = p;
            if (c == '%') {
                c = (unsigned char)(wr_hexval((unsigned char)uri[p + 1]) << 4 | wr_hexval((unsigned char)uri[p + 2]));
                if (c == '/' || c == '\\')
                    return refuse(why, wn, "an encoded '/' or '\\' in the authority", p);
                p += 2;
            } else if (c == '\\') {
                return refuse(why, wn, "a '\\' in the authority", p);
            }
            memmove(last, last + 1, 2);
            memmove(at, at + 1, 2 * sizeof *at);
            last[2] = c;
            at[2] = from;
            const char *slash = wr_compat_slash(last);
            if (slash)
                return refuse(why, wn, slash, at[0]);
            p++;
        }
    }
    size_t end = p;
    while (end < n && uri[end] != '?' && uri[end] != '#')
        end++;
    /* the path's segments, each decoded once */
    size_t s = p;
    while (s <= end) {
        size_t e = s;
        while (e < end && uri[e] != '/')
            e++;
        /* decoded, a segment that reads as one or two dots is at most 6
         * bytes long (two 3-byte dots): only that much is kept */
        unsigned char seg[7], last[3] = {0, 0, 0}; /* last: the last three bytes, decoded */
        size_t len = 0, at[3] = {0, 0, 0};         /* where each of them starts */
        for (size_t i = s; i < e; i++, len++) {
            char c = uri[i];
            size_t from = i;
            if (c == '%') {
                c = (char)(wr_hexval((unsigned char)uri[i + 1]) << 4 | wr_hexval((unsigned char)uri[i + 2]));
                if (c == '/' || c == '\\')
                    return refuse(why, wn, "an encoded '/' or '\\'", i);
                i += 2;
            } else if (c == '\\') {
                return refuse(why, wn, "a '\\'", i);
            }
            if (len < sizeof seg)
                seg[len] = (unsigned char)c;
            memmove(last, last + 1, 2);
            memmove(at, at + 1, 2 * sizeof *at);
            last[2] = (unsigned char)c;
            at[2] = from;
            const char *slash = len >= 2 ? wr_compat_slash(last) : NULL;
            if (slash)
                return refuse(why, wn, slash, at[0]);
        }
        size_t dots = len <= sizeof seg ? wr_compat_dots(seg, len) : 0;
        if (dots == 1)
            return refuse(why, wn, len == 1 ? "a '.' segment" : "a segment that reads as '.'", s);
        if (dots == 2)
            return refuse(why, wn, len == 2 ? "a '..' segment" : "a segment that reads as '..'", s);
        s = e + 1;
    }
    return 0;
}
