/* fuzz_path.c - fuzz the canonical path of /authz/check (src/server/path.c).
 *
 * The input is a raw path (any bytes).  Checks: the answer is deterministic;
 * an accepted path starts with '/', is no longer than the raw one, holds no
 * NUL, '?', '#', ';', a backslash or a character whose NFKC form holds one
 * of / \ ? # % ;, is UTF-8 (checked here by a decoder of its own), has no
 * '.' or '..' segment and no empty one but a trailing one, is the raw path
 * itself when that had no '%', and comes back unchanged when percent-encoded
 * again and canonicalised (decoding happens exactly once); a refusal is one
 * of the documented reasons, at a byte inside the raw path (before its
 * query).  path_check_request sees the same bytes as Envoy's target and as
 * nginx's X-Original-URI and answers the same path for both. */
#define _GNU_SOURCE /* memmem */
#include "server/path.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* UTF-8 by decoding: every sequence is the shortest for its code point, which
 * is at most U+10FFFF and not a surrogate. */
static bool utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k = c < 0x80             ? 0
                   : (c & 0xE0) == 0xC0 ? 1
                   : (c & 0xF0) == 0xE0 ? 2
                   : (c & 0xF8) == 0xF0 ? 3
                                        : 9;
        if (k == 9 || (k && i + k >= n))
            return false;
        unsigned long cp = k == 0 ? c : k == 1 ? c & 0x1F : k == 2 ? c & 0x0F : c & 0x07;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        static const unsigned long min[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += k + 1;
    }
    return true;
}

static const char *const reasons[] = {
    "path: longer than ",
    "path: does not start with '/'",
    "path: bad percent-escape at byte ",
    "path: encoded NUL at byte ",
    "path: encoded '/' at byte ",
    "path: encoded '?' at byte ",
    "path: encoded '#' at byte ",
    "path: '#' at byte ",
    "path: ';' at byte ",
    "path: encoded ';' at byte ",
    "path: '\\' at byte ",
    "path: encoded '\\' at byte ",
    "path: control character or space at byte ",
    "path: invalid UTF-8 at byte ",
    "path: empty segment at byte ",
    "path: '.' segment at byte ",
    "path: '..' segment at byte ",
    "path: segment that reads as '.' at byte ",
    "path: segment that reads as '..' at byte ",
    "path: a character that reads as '", /* NFKC: '/' (U+FF0F) ... ';' (U+037E), at byte N */
};

static void check_refusal(const char *why, size_t plen)
{
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        size_t n = strlen(reasons[i]);
        if (strncmp(why, reasons[i], n))
            continue;
        const char *at = strstr(why, " at byte ");
        if (!strcmp(reasons[i] + n - 5, "byte ") ? strtoull(why + n, NULL, 10) >= plen
                                                 : at && strtoull(at + 9, NULL, 10) >= plen)
            abort();
        return;
    }
    abort();
}

static void check_accepted(const char *raw, size_t plen, const char *out)
{
    size_t n = strlen(out);
    if (!n || out[0] != '/' || n > plen || strpbrk(out, "?#;\\") || !utf8_ok((const unsigned char *)out, n))
        abort();
    /* nor a character whose NFKC form holds / \\ ? # % ; (the list in
     * util/text.h, written out again here) */
    static const char *const delim[] = {
        "\xef\xbc\x8f", "\xe2\x84\x80", "\xe2\x84\x81", "\xe2\x84\x85", "\xe2\x84\x86", "\xef\xbc\xbc", "\xef\xb9\xa8",
        "\xef\xbc\x9f", "\xef\xb9\x96", "\xef\xb8\x96", "\xe2\x81\x87", "\xe2\x81\x88", "\xe2\x81\x89", "\xef\xbc\x83",
        "\xef\xb9\x9f", "\xef\xbc\x85", "\xef\xb9\xaa", "\xef\xbc\x9b", "\xef\xb9\x94", "\xef\xb8\x94", "\xcd\xbe"};
    for (size_t i = 0; i < sizeof delim / sizeof *delim; i++)
        if (memmem(out, n, delim[i], strlen(delim[i])))
            abort();
    if (!memchr(raw, '%', plen) && (n != plen || memcmp(raw, out, n)))
        abort();
    /* segments: none empty (but a trailing one), none "." or ".." */
    for (const char *p = out + 1;;) {
        const char *e = strchr(p, '/');
        size_t k = e ? (size_t)(e - p) : strlen(p);
        if ((k == 0 && e) || (k == 1 && p[0] == '.') || (k == 2 && p[0] == '.' && p[1] == '.'))
            abort();
        /* nor one that NFKC reads as one: its dots as code points */
        size_t dots = 0, j = 0;
        while (j < k) {
            if (p[j] == '.')
                dots++, j++;
            else if (j + 3 <= k && (!memcmp(p + j, "\xef\xbc\x8e", 3) || !memcmp(p + j, "\xef\xb9\x92", 3) ||
                                    !memcmp(p + j, "\xe2\x80\xa4", 3)))
                dots++, j += 3;
            else if (j + 3 <= k && (!memcmp(p + j, "\xe2\x80\xa5", 3) || !memcmp(p + j, "\xef\xb8\xb0", 3)))
                dots += 2, j += 3;
            else
                break;
        }
        if (j == k && (dots == 1 || dots == 2))
            abort();
        if (!e)
            break;
        p = e + 1;
    }
    /* encoded again (all but unreserved characters and '/'), it decodes back */
    static char enc[3 * PATH_MAX_LEN + 1], again[3 * PATH_MAX_LEN + 1];
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)out[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~/", c))
            enc[w++] = (char)c;
        else
            w += (size_t)snprintf(enc + w, 4, "%%%02X", c);
    }
    char why[128];
    if (w <= PATH_MAX_LEN) {
        if (path_canon(enc, w, again, sizeof again, why, sizeof why) || strcmp(again, out))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 3 * PATH_MAX_LEN)
        return 0;
    const char *raw = (const char *)data;
    const char *q = memchr(raw, '?', size);
    size_t plen = q ? (size_t)(q - raw) : size;
    static char out[3 * PATH_MAX_LEN + 1], out2[3 * PATH_MAX_LEN + 1];
    char why[128], why2[128];
    int rc = path_canon(raw, size, out, sizeof out, why, sizeof why);
    int rc2 = path_canon(raw, size, out2, sizeof out2, why2, sizeof why2);
    if (rc != rc2 || (rc ? strcmp(why, why2) || out[0] : strcmp(out, out2)))
        abort();
    if (rc)
        check_refusal(why, plen);
    else
        check_accepted(raw, plen, out);

    /* both forms of a check name the same path (for a C string) */
    if (memchr(raw, '\0', size))
        return 0;
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, raw, size);
    s[size] = '\0';
    static path_request envoy, nginx;
    path_inputs ei = {s, "GET", NULL, NULL, 0, 0};
    path_inputs ni = {"", "GET", s, "GET", 1, 1};
    int re = path_check_request(&ei, &envoy, why, sizeof why);
    int rn = path_check_request(&ni, &nginx, why2, sizeof why2);
    /* Envoy's target never holds a query (libmicrohttpd cuts it off) and an
     * empty one is "/"; otherwise the answers agree */
    if (size && !q) {
        if (re != rn || (re ? strcmp(why, why2) : strcmp(envoy.path, nginx.path)))
            abort();
        if (!re && (strcmp(envoy.path, out) || strcmp(envoy.method, "GET")))
            abort();
    }
    free(s);
    return 0;
}
