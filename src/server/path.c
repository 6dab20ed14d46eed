/* path.c - the canonical path of an /authz/check request (see path.h). */
#include "server/path.h"
#include "util/text.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* A UTF-8 validator fed one decoded byte at a time (RFC 3629 table 3-7):
 * need is how many continuation bytes are still due, lo..hi the range of the
 * next one (narrowed after E0, ED, F0 and F4, which rules out overlong forms,
 * surrogates and code points past U+10FFFF). */
typedef struct utf8_state {
    int need;
    unsigned char lo, hi;
} utf8_state;

static bool utf8_feed(utf8_state *u, unsigned char b)
{
    if (u->need) {
        if (b < u->lo || b > u->hi)
            return false;
        u->need--;
        u->lo = 0x80;
        u->hi = 0xBF;
        return true;
    }
    u->lo = 0x80;
    u->hi = 0xBF;
    if (b < 0x80)
        return true;
    if (b >= 0xC2 && b <= 0xDF)
        u->need = 1;
    else if (b >= 0xE0 && b <= 0xEF)
        u->need = 2;
    else if (b >= 0xF0 && b <= 0xF4)
        u->need = 3;
    else
        return false;
    if (b == 0xE0)
        u->lo = 0xA0;
    else if (b == 0xED)
        u->hi = 0x9F;
    else if (b == 0xF0)
        u->lo = 0x90;
    else if (b == 0xF4)
        u->hi = 0x8F;
    return true;
}

static int refuse(char *out, char *why, size_t n, const char *what, size_t at)
{
    out[0] = '\0';
    snprintf(why, n, "path: %s at byte %zu", what, at);
    return -1;
}

/* The segment out[start..end) just ended (it starts at byte seg_raw of the
 * raw path): a dot segment is refused, also one spelled with dots that
 * compatibility normalisation makes '.' (a server that applies NFKC to
 * paths reads `．．` as `..`); so is an empty segment unless it is the
 * last. */
static int check_segment(char *out, size_t start, size_t end, bool last, size_t seg_raw, char *why, size_t n)
{
    size_t k = end - start;
    if (k == 0 && !last)
        return refuse(out, why, n, "empty segment", seg_raw);
    size_t dots = wr_compat_dots((const unsigned char *)out + start, k);
    if (dots == 1)
        return refuse(out, why, n, k == 1 ? "'.' segment" : "segment that reads as '.'", seg_raw);
    if (dots == 2)
        return refuse(out, why, n, k == 2 ? "'..' segment" : "segment that reads as '..'", seg_raw);
    return 0;
}

/* A ';' (raw at raw[at], or decoded) in the segment out[start..w) that
 * starts at byte seg_raw.  It starts a segment parameter (RFC 3986 section
 * 3.3), which servlet containers and JAX-RS cut off before they read the
 * segment: `..;x` is a dot segment to them, and `writ;x` is `writ`.  So the
 * segment before it is refused if it is a dot segment, and the ';' is
 * refused in any case. */
static int refuse_param(char *out, size_t start, size_t w, const char *raw, size_t at, size_t seg_raw,
                        char *why, size_t n)
{
    if (check_segment(out, start, w, true, seg_raw, why, n))
        return -1;
    return refuse(out, why, n, raw[at] == '%' ? "encoded ';'" : "';'", at);
}

int path_canon(const char *raw, size_t len, char *out, size_t outsz, char *why, size_t n)
{
    const char *q = memchr(raw, '?', len);
    if (q)
        len = (size_t)(q - raw);
    if (!outsz) {
        snprintf(why, n, "path: no room to decode it");
        return -1;
    }
    out[0] = '\0';
    if (len > PATH_MAX_LEN) {
        snprintf(why, n, "path: longer than %d bytes", PATH_MAX_LEN);
        return -1;
    }
    if (outsz < len + 1) {
        snprintf(why, n, "path: no room to decode it");
        return -1;
    }
    if (!len || raw[0] != '/') {
        snprintf(why, n, "path: does not start with '/'");
        return -1;
    }
    utf8_state u = {0, 0x80, 0xBF};
    size_t w = 0, seq_at = 0; /* seq_at: where the pending UTF-8 sequence starts */
    size_t seg_out = 0, seg_raw = 1;
    out[w++] = '/';
    for (size_t i = 1; i < len; i++) {
        unsigned char c = (unsigned char)raw[i];
        size_t at = i;
        if (c == '/') {
            if (u.need)
                return refuse(out, why, n, "invalid UTF-8", seq_at);
            if (check_segment(out, seg_out + 1, w, false, seg_raw, why, n))
                return -1;
            seg_out = w;
            seg_raw = i + 1;
            out[w++] = '/';
            continue;
        }
        if (c == '%') {
            int h = i + 1 < len ? wr_hexval((unsigned char)raw[i + 1]) : -1;
            int l = i + 2 < len ? wr_hexval((unsigned char)raw[i + 2]) : -1;
            if (h < 0 || l < 0)
                return refuse(out, why, n, "bad percent-escape", at);
            c = (unsigned char)(h * 16 + l);
            i += 2;
            if (c == '\0')
                return refuse(out, why, n, "encoded NUL", at);
            if (c == '/')
                return refuse(out, why, n, "encoded '/'", at);
            if (c == '?')
                return refuse(out, why, n, "encoded '?'", at);
            if (c == '#')
                return refuse(out, why, n, "encoded '#'", at);
            if (c == '\\')
                return refuse(out, why, n, "encoded '\\'", at);
        } else if (c == '#') {
            return refuse(out, why, n, "'#'", at);
        } else if (c == '\\') {
            return refuse(out, why, n, "'\\'", at);
        } else if (c <= 0x20 || c == 0x7F) {
            return refuse(out, why, n, "control character or space", at);
        }
        if (c == ';')
            return refuse_param(out, seg_out + 1, w, raw, at, seg_raw, why, n);
        if (!u.need)
            seq_at = at;
        if (!utf8_feed(&u, c))
            return refuse(out, why, n, "invalid UTF-8", seq_at);
        out[w++] = (char)c;
        /* a character just completed: one whose NFKC form holds a delimiter? */
        int cl;
        const char *slash = c >= 0x80 && !u.need && w - seg_out >= 3
                                ? wr_compat_delim((const unsigned char *)out + w - 3, &cl)
                                : NULL;
        if (slash)
            return refuse(out, why, n, slash, seq_at);
    }
    if (u.need)
        return refuse(out, why, n, "invalid UTF-8", seq_at);
    out[w] = '\0';
    if (check_segment(out, seg_out + 1, w, true, seg_raw, why, n))
        return -1;
    return 0;
}

/* An HTTP method is a token (RFC 9110 section 5.6.2). */
static bool is_token(const char *s)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~";
    if (!*s)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') &&
            !strchr(tchar, c))
            return false;
    }
    return true;
}

int path_check_request(const path_inputs *in, path_request *out, char *why, size_t n)
{
    out->method = NULL;
    out->path[0] = '\0';
    const char *raw = in->target;
    const char *method = in->method;
    if (in->orig_uri || in->orig_method) {
        /* nginx: both headers, once each, and this request names nothing */
        if (!in->orig_method) {
            snprintf(why, n, "X-Original-URI without X-Original-Method");
            return -1;
        }
        if (!in->orig_uri) {
            snprintf(why, n, "X-Original-Method without X-Original-URI");
            return -1;
        }
        if (in->n_orig_uri > 1 || in->n_orig_method > 1) {
            snprintf(why, n, "X-Original-URI or X-Original-Method given twice");
            return -1;
        }
        if (*in->target) {
            snprintf(why, n, "X-Original-URI and a path after /authz/check: which one is checked?");
            return -1;
        }
        raw = in->orig_uri;
        method = in->orig_method;
    } else if (!*raw) {
        raw = "/";
    }
    if (!is_token(method)) {
        snprintf(why, n, "%s is not an HTTP method", in->orig_method ? "X-Original-Method" : "the method");
        return -1;
    }
    if (path_canon(raw, strlen(raw), out->path, sizeof out->path, why, n))
        return -1;
    out->method = method;
    return 0;
}
