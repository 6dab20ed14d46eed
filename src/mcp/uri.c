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

/* The schemes a WHATWG URL parser treats as special (it canonicalises
 * their hosts and ports, and reads "https:x" as "https://x"), with their
 * default ports (0: none). */
static const struct {
    const char *name;
    unsigned port;
} special[] = {{"http", 80}, {"https", 443}, {"ws", 80}, {"wss", 443}, {"ftp", 21}, {"file", 0}};

static int special_of(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof special / sizeof *special; i++)
        if (strlen(special[i].name) == n && !memcmp(special[i].name, s, n))
            return (int)i;
    return -1;
}

/* Does a path need c escaped?  A URL parser escapes controls, space,
 * " # < > ? ^ ` { } and what is not ASCII; '%' stays escaped as %25 and
 * '/' and '\' are refused apart.  Any other escape (%73 for "s", %40 for
 * "@") is one a file server decodes, so a pattern on the written form
 * would miss it.  (~ excepted: Node's pathToFileURL writes it %7E.) */
static bool needs_escape(unsigned char c)
{
    return c <= 0x20 || c >= 0x7f || strchr("\"#%<>?^`{}~", c) != NULL;
}

/* A host a URL parser reads as an IPv4 address: its last label is a number
 * (decimal, or 0x hex).  It must then be in the dotted form the parser
 * writes (four decimal labels 0-255, no leading zero): 0x7f.1 and
 * 2130706433 are 127.0.0.1 to it. */
static bool ipv4_odd(const char *h, size_t n)
{
    size_t last = n;
    while (last > 0 && h[last - 1] != '.')
        last--;
    const char *l = h + last;
    size_t ln = n - last;
    bool num = ln > 0;
    for (size_t i = 0; i < ln; i++)
        num = num && l[i] >= '0' && l[i] <= '9';
    bool hex = ln > 1 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X');
    if (!num && !hex)
        return false;
    unsigned labels = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        unsigned v = 0;
        while (j < n && h[j] != '.') {
            if (h[j] < '0' || h[j] > '9' || v > 255)
                return true;
            v = v * 10 + (unsigned)(h[j] - '0');
            j++;
        }
        if (j == i || v > 255 || (j - i > 1 && h[i] == '0'))
            return true;
        labels++;
        i = j + (j < n);
        if (j < n && j + 1 == n)
            return true; /* a trailing dot */
    }
    return labels != 4;
}

/* The last three bytes read (decoded) and where each started: a character
 * whose NFKC form holds a delimiter is seen as its last byte comes in. */
typedef struct window {
    unsigned char b[3];
    size_t at[3];
} window;

/* Push c (which started at byte from): the reason to refuse, with *pos
 * where that character starts, or NULL. */
static const char *window_push(window *w, unsigned char c, size_t from, size_t *pos)
{
    memmove(w->b, w->b + 1, 2);
    memmove(w->at, w->at + 1, 2 * sizeof *w->at);
    w->b[2] = c;
    w->at[2] = from;
    int cl;
    const char *why = wr_compat_delim(w->b, &cl);
    if (why)
        *pos = w->at[3 - cl];
    return why;
}

/* The authority [a, e): a form a URL parser writes otherwise is refused
 * (the policy would read one host, the upstream resolve another). */
static int authority(const char *uri, size_t a, size_t e, int sp, char *why, size_t wn)
{
    size_t host_end = e;
    for (size_t i = a; i < e; i++) {
        unsigned char c = (unsigned char)uri[i];
        if (c == '@')
            return refuse(why, wn, "a userinfo ('@') in the authority", i);
        if (c >= 0x80)
            return refuse(why, wn, "a non-ASCII host (a URL parser maps it: write its punycode)", i);
        /* a special scheme's host is decoded and folded; another's is kept
         * as written (an opaque host) */
        if (c == '%' && sp >= 0)
            return refuse(why, wn, "a percent-escape in the authority", i);
        if (c >= 'A' && c <= 'Z' && sp >= 0)
            return refuse(why, wn, "an upper-case host (write it in lower case)", i);
        if (c == '[' || c == ']')
            return refuse(why, wn, "an IP-literal host", i);
        if (c == ':' && host_end == e)
            host_end = i;
    }
    if (host_end < e) {
        size_t p = host_end + 1;
        unsigned port = 0;
        bool digits = p < e;
        for (size_t i = p; i < e; i++) {
            digits = digits && uri[i] >= '0' && uri[i] <= '9';
            if (digits && port < 100000)
                port = port * 10 + (unsigned)(uri[i] - '0');
        }
        if (!digits || (e - p > 1 && uri[p] == '0') || (sp >= 0 && port == special[sp].port))
            return refuse(why, wn, "an empty, zero-padded or default port", host_end);
    }
    if (sp < 0)
        return 0;
    size_t hn = host_end - a;
    if (hn == 0 && strcmp(special[sp].name, "file"))
        return refuse(why, wn, "no host", a - 1); /* the '/' before it: a may be the end */
    if (hn == 9 && !memcmp(uri + a, "localhost", 9) && !strcmp(special[sp].name, "file"))
        return refuse(why, wn, "a localhost file host (file://localhost/x is file:///x)", a);
    if (hn && uri[host_end - 1] == '.')
        return refuse(why, wn, "a host ending in '.'", host_end - 1);
    if (hn && ipv4_odd(uri + a, hn))
        return refuse(why, wn, "an IPv4 host not in its dotted form", a);
    return 0;
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
    int sp = special_of(uri, p);
    bool file = sp >= 0 && !strcmp(special[sp].name, "file");
    size_t scheme_end = p;
    p++;
    bool has_auth = n - p >= 2 && uri[p] == '/' && uri[p + 1] == '/';
    if (has_auth) {
        /* the authority: a WHATWG URL parser ends it at a '\' too (in
         * http, https and file uris, as Node's MCP servers read them), so
         * "https://docs.example.com\admin\keys" is the path /admin/keys
         * to them while a `like` pattern reads one long host */
        p += 2;
        size_t a = p, pos;
        window w = {{0}, {0}};
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
            const char *nfkc = window_push(&w, c, from, &pos);
            if (nfkc)
                return refuse(why, wn, nfkc, pos);
            p++;
        }
        if (authority(uri, a, p, sp, why, wn))
            return -1;
    }
    size_t end = p;
    while (end < n && uri[end] != '?' && uri[end] != '#')
        end++;
    /* the path's segments, each decoded once */
    size_t s = p;
    bool first = true;
    while (s <= end) {
        size_t e = s;
        while (e < end && uri[e] != '/')
            e++;
        /* decoded, a segment that reads as one or two dots is at most 6
         * bytes long (two 3-byte dots): only that much is kept */
        unsigned char seg[7];
        size_t len = 0, pos;
        window w = {{0}, {0}};
        /* a spelling a URL parser or a file server writes otherwise, found
         * first in the segment: refused after the dot checks */
        const char *odd = NULL;
        size_t odd_at = 0;
        for (size_t i = s; i < e; i++, len++) {
            char c = uri[i];
            size_t from = i;
            if (c == '%') {
                c = (char)(wr_hexval((unsigned char)uri[i + 1]) << 4 | wr_hexval((unsigned char)uri[i + 2]));
                if (c == '/' || c == '\\')
                    return refuse(why, wn, "an encoded '/' or '\\'", i);
                if (!odd && !needs_escape((unsigned char)c))
                    odd = "an escaped character that needs none (a server decodes it)", odd_at = i;
                else if (!odd && ((uri[i + 1] >= 'a' && uri[i + 1] <= 'f') || (uri[i + 2] >= 'a' && uri[i + 2] <= 'f')))
                    odd = "a percent-escape in lower case (write %XX in upper case)", odd_at = i;
                i += 2;
            } else if (c == '\\') {
                return refuse(why, wn, "a '\\'", i);
            } else if (!odd && (unsigned char)c >= 0x80) {
                odd = "a non-ASCII character (a URL parser escapes it: write it as %XX)", odd_at = i;
            } else if (!odd && strchr("\"<>^`{}", c)) {
                odd = "a character a URL parser escapes (write it as %XX)", odd_at = i;
            } else if (!odd && c == '|' && file) {
                odd = "a '|' in a file path (a URL parser reads C| as the drive C:)", odd_at = i;
            }
            if (len < sizeof seg)
                seg[len] = (unsigned char)c;
            const char *nfkc = window_push(&w, (unsigned char)c, from, &pos);
            if (nfkc)
                return refuse(why, wn, nfkc, pos);
        }
        size_t dots = len <= sizeof seg ? wr_compat_dots(seg, len) : 0;
        if (dots == 1)
            return refuse(why, wn, len == 1 ? "a '.' segment" : "a segment that reads as '.'", s);
        if (dots == 2)
            return refuse(why, wn, len == 2 ? "a '..' segment" : "a segment that reads as '..'", s);
        if (odd)
            return refuse(why, wn, odd, odd_at);
        /* "a//b": a file server reads it as "a/b" (the empty piece before a
         * leading '/' and after a trailing one are no segments) */
        if (len == 0 && !(first && s < end && uri[s] == '/') && e < end && sp >= 0)
            return refuse(why, wn, "an empty segment ('//')", s);
        first = false;
        s = e + 1;
    }
    /* what follows the path: a fragment never reaches a server, and a file
     * has no query, so "x.pem#" and "x.pem?.txt" are x.pem to it while a
     * pattern on the end of the uri reads another name */
    for (size_t i = end; i < n; i++)
        if (uri[i] == '#')
            return refuse(why, wn, "a fragment ('#')", i);
    if (end < n && file)
        return refuse(why, wn, "a query in a file uri", end);
    /* the scheme: lower case, and a special one with its "//" */
    for (size_t i = 0; i < scheme_end; i++)
        if (uri[i] >= 'A' && uri[i] <= 'Z')
            return refuse(why, wn, "an upper-case scheme (write it in lower case)", i);
    if (!has_auth && sp >= 0)
        return refuse(why, wn, "a special scheme without '//' (a URL parser adds it)", scheme_end);
    return 0;
}
