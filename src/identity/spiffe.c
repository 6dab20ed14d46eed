/* spiffe.c - SPIFFE ID parsing (SPIFFE-ID.md, sections 2.1-2.3).
 *
 *   spiffe-id    -> "spiffe://" trust-domain path
 *   trust-domain -> [a-z0-9.-_]+
 *   path         -> ( "/" segment )*        segment -> [A-Za-z0-9.-_]+, not "." or ".."
 *
 * Everything else is refused with a message naming the rule and the byte
 * offset: upper case scheme or trust domain, percent-encoding, port (':'),
 * userinfo ('@'), query ('?'), fragment ('#'), empty segments ("//" or a
 * trailing '/'), dot segments, and IDs over 2048 bytes. */
#include "util/error.h"
#include "writ/identity.h"

#include <stdio.h>
#include <string.h>

static writ_status id_err(writ_error *err, size_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#include <stdarg.h>
static writ_status id_err(writ_error *err, size_t off, const char *fmt, ...)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = WRIT_EINVAL;
        err->offset = off;
        err->col = (uint32_t)(off + 1);
        err->line = 1;
        int n = snprintf(err->msg, sizeof err->msg, "spiffe_id: ");
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg + n, sizeof err->msg - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return WRIT_EINVAL;
}

static bool td_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

static bool path_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
           c == '_';
}

static const char *why_char(unsigned char c, bool in_td)
{
    switch (c) {
    case ':':
        return in_td ? "a port is not allowed" : "':' is not allowed in a path segment";
    case '@':
        return "userinfo is not allowed";
    case '?':
        return "a query is not allowed";
    case '#':
        return "a fragment is not allowed";
    case '%':
        return "percent-encoding is not allowed";
    default:
        break;
    }
    if (in_td && c >= 'A' && c <= 'Z')
        return "trust domain must be lower case";
    return "character not allowed";
}

static writ_status check_td(const char *s, size_t len, size_t base, writ_error *err)
{
    if (len == 0)
        return id_err(err, base, "trust domain is empty");
    if (len > 255)
        return id_err(err, base + 255, "trust domain longer than 255 bytes");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!td_char(c))
            return id_err(err, base + i, "byte 0x%02x at offset %zu in trust domain: %s", c, base + i,
                          why_char(c, true));
    }
    return WRIT_OK;
}

writ_status writ_spiffe_trust_domain_check(const char *s, size_t len, writ_error *err)
{
    if (!s && len)
        return wr_error(err, WRIT_EINVAL, "trust domain is NULL");
    return check_td(s, len, 0, err);
}

writ_status writ_spiffe_id_parse(const char *s, size_t len, writ_spiffe_id *out, writ_error *err)
{
    static const char scheme[] = "spiffe://";
    const size_t sl = sizeof scheme - 1;
    if (out)
        out->len = 0, out->str[0] = '\0';
    if (!s && len)
        return wr_error(err, WRIT_EINVAL, "SPIFFE ID is NULL");
    if (len > WRIT_SPIFFE_ID_MAX)
        return id_err(err, WRIT_SPIFFE_ID_MAX, "longer than %d bytes", WRIT_SPIFFE_ID_MAX);
    if (len < sl || memcmp(s, scheme, sl))
        return id_err(err, 0, "must start with \"spiffe://\" (scheme is case-sensitive here)");
    size_t td_end = sl;
    while (td_end < len && s[td_end] != '/')
        td_end++;
    writ_status st = check_td(s + sl, td_end - sl, sl, err);
    if (st != WRIT_OK)
        return st;
    /* path: ("/" segment)* */
    size_t i = td_end;
    while (i < len) {
        /* s[i] == '/' */
        size_t seg = i + 1, j = seg;
        while (j < len && s[j] != '/') {
            unsigned char c = (unsigned char)s[j];
            if (!path_char(c))
                return id_err(err, j, "byte 0x%02x at offset %zu in path: %s", c, j, why_char(c, false));
            j++;
        }
        size_t n = j - seg;
        if (n == 0)
            return id_err(err, seg, j == len ? "path ends with '/'" : "empty path segment at offset %zu", seg);
        if ((n == 1 && s[seg] == '.') || (n == 2 && s[seg] == '.' && s[seg + 1] == '.'))
            return id_err(err, seg, "'.' and '..' path segments are not allowed (offset %zu)", seg);
        i = j;
    }
    if (out) {
        memcpy(out->str, s, len);
        out->str[len] = '\0';
        out->len = len;
        out->td_len = td_end - sl;
        out->path_off = td_end;
    }
    return WRIT_OK;
}
