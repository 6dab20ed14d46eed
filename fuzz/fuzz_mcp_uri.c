/* fuzz_mcp_uri.c - libFuzzer target for the resources/read uri check
 * (src/mcp/uri.c).
 *
 * Input: the uri (any bytes).  Besides "no crash", it aborts when a uri
 * passes that, decoded once as a whole (every %XY), holds a NUL, has no
 * scheme, or whose path (read again on the decoded text, from the raw
 * text's path start to its first '?' or '#') holds a "." or ".." segment
 * (also once U+FF0E, U+FE52 and U+2024 are read as '.' and U+2025 as "..",
 * as NFKC does) or a '\'; whose authority holds a '\', a decoded '/' or
 * '\', or a character NFKC makes one (authorities up to 64 bytes), or is
 * not in the form a URL parser writes (a userinfo, an escape, upper case or
 * non-ASCII in the authority; an empty segment, an escaped unreserved
 * character, a lower-case escape or non-ASCII in the path); and when a
 * refusal names a byte outside the uri or has no reason. */
#define _GNU_SOURCE /* memmem */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hx(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *u = (const char *)data;
    char why[256] = "";
    if (mcp_uri_check(u, size, why, sizeof why) != 0) {
        const char *at = strstr(why, "at byte ");
        if (!at || strtoull(at + 8, NULL, 10) >= (size ? size : 1))
            abort();
        return 0;
    }
    /* passed: the path, found in the raw text, then decoded once */
    size_t p = 0;
    while (p < size && u[p] != ':')
        p++;
    if (p == 0 || p == size)
        abort(); /* no scheme */
    static const char *const special[] = {"http", "https", "ws", "wss", "ftp", "file"};
    bool sp = false;
    for (size_t k = 0; k < sizeof special / sizeof *special; k++)
        sp = sp || (strlen(special[k]) == p && !memcmp(u, special[k], p));
    p++;
    if (size - p >= 2 && u[p] == '/' && u[p + 1] == '/') {
        p += 2;
        /* the authority, decoded: no '/' or '\\' however written */
        char a[64];
        size_t an = 0;
        for (; p < size && u[p] != '/' && u[p] != '?' && u[p] != '#'; p++) {
            char c = u[p];
            /* the written form: no userinfo, escape, upper case or non-ASCII */
            if (c == '@' || (unsigned char)c >= 0x80 || (sp && (c == '%' || (c >= 'A' && c <= 'Z'))))
                abort();
            if (c == '%' && p + 2 < size && hx(u[p + 1]) >= 0 && hx(u[p + 2]) >= 0) {
                c = (char)(hx(u[p + 1]) << 4 | hx(u[p + 2]));
                p += 2;
            }
            if (c == '/' || c == '\\')
                abort();
            if (an < sizeof a)
                a[an++] = c;
        }
        if (an < sizeof a && (memmem(a, an, "\xEF\xBC\x8F", 3) || memmem(a, an, "\xEF\xBC\xBC", 3) ||
                              memmem(a, an, "\xEF\xB9\xA8", 3)))
            abort();
    }
    size_t end = p;
    while (end < size && u[end] != '?' && u[end] != '#')
        end++;
    /* the path in its written form: no empty segment, no escape of an
     * unreserved character, no escape in lower case, nothing non-ASCII */
    for (size_t i = p; i < end; i++) {
        if (sp && i + 1 < end && u[i] == '/' && u[i + 1] == '/')
            abort();
        if ((unsigned char)u[i] >= 0x80)
            abort();
        if (u[i] == '%' && i + 2 < size) {
            int v = hx(u[i + 1]) << 4 | hx(u[i + 2]);
            if (v > 0x20 && v < 0x7f && !strchr("\"#%<>?^`{}~/\\", v))
                abort(); /* an escape a server decodes: to be written as it is */
            if ((u[i + 1] >= 'a' && u[i + 1] <= 'f') || (u[i + 2] >= 'a' && u[i + 2] <= 'f'))
                abort();
        }
    }
    if (memchr(u, '#', size))
        abort(); /* a fragment */
    char *d = malloc(size + 1);
    if (!d)
        return 0;
    size_t dn = 0;
    for (size_t i = 0; i < size; i++) {
        if (u[i] == '\0')
            abort();
        if (u[i] == '%') {
            if (i + 2 >= size || hx(u[i + 1]) < 0 || hx(u[i + 2]) < 0)
                abort();
            char c = (char)(hx(u[i + 1]) << 4 | hx(u[i + 2]));
            if (c == '\0' || (i >= p && i < end && (c == '/' || c == '\\')))
                abort();
            if (i >= p && i < end)
                d[dn++] = c;
            i += 2;
        } else if (i >= p && i < end) {
            if (u[i] == '\\')
                abort();
            d[dn++] = u[i];
        }
    }
    d[dn] = '\0';
    /* nor a character that NFKC makes '/' or '\\' in the path */
    if (memmem(d, dn, "\xEF\xBC\x8F", 3) || memmem(d, dn, "\xEF\xBC\xBC", 3) ||
        memmem(d, dn, "\xEF\xB9\xA8", 3))
        abort();
    for (char *seg = d, *e;; seg = e + 1) {
        e = strchr(seg, '/');
        size_t l = e ? (size_t)(e - seg) : strlen(seg);
        if ((l == 1 && seg[0] == '.') || (l == 2 && seg[0] == '.' && seg[1] == '.'))
            abort();
        /* the segment with its compatibility dots replaced */
        char nf[16];
        size_t nl = 0;
        for (size_t i = 0; i < l && nl < 3;) {
            static const char *const one[] = {"\xEF\xBC\x8E", "\xEF\xB9\x92", "\xE2\x80\xA4"};
            size_t was = nl;
            for (int k = 0; k < 3 && nl == was; k++)
                if (l - i >= 3 && !memcmp(seg + i, one[k], 3))
                    nf[nl++] = '.', i += 3;
            if (nl == was && l - i >= 3 &&
                (!memcmp(seg + i, "\xE2\x80\xA5", 3) || !memcmp(seg + i, "\xEF\xB8\xB0", 3)))
                nf[nl++] = '.', nf[nl++] = '.', i += 3;
            if (nl == was)
                nf[nl++] = seg[i++];
            if (nl < 3 && i == l && (nl == 1 || nl == 2) && !memcmp(nf, "..", nl))
                abort();
        }
        if (!e)
            break;
    }
    free(d);
    return 0;
}
