/* json_keys.c - the NUL-in-key rewrite (see json_keys.h). */
#include "cedar/json_keys.h"
#include "util/alloc.h"

#include <string.h>

/* Is s[i..] the escape \u000D with D the given digit? */
static int is_esc(const char *s, size_t n, size_t i, char d)
{
    return i + 6 <= n && s[i] == '\\' && s[i + 1] == 'u' && s[i + 2] == '0' && s[i + 3] == '0' &&
           s[i + 4] == '0' && s[i + 5] == d;
}

static bool has_low_escape(const char *s, size_t n)
{
    for (const char *p = s; (p = memchr(p, '\\', (size_t)(s + n - p))) != NULL; p++)
        if (is_esc(s, n, (size_t)(p - s), '0') || is_esc(s, n, (size_t)(p - s), '1'))
            return true;
    return false;
}

char *cedar_json_keys_encode(const char *s, size_t n, size_t *out_len)
{
    if (!has_low_escape(s, n))
        return NULL;
    char *out = NULL;
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] != '"') {
            if (out)
                out[w++] = s[i];
            i++;
            continue;
        }
        /* a string token: find its end and whether it needs encoding */
        size_t start = i++;
        bool special = false;
        while (i < n && s[i] != '"') {
            if (s[i] == '\\') {
                if (is_esc(s, n, i, '0') || is_esc(s, n, i, '1'))
                    special = true;
                i += 2;
            } else {
                i++;
            }
        }
        size_t end = i < n ? i + 1 : n;  /* past the closing quote */
        size_t j = end;
        while (j < n && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r'))
            j++;
        bool is_key = j < n && s[j] == ':';
        if (special && is_key && !out) {
            /* worst case: every 6-byte escape becomes 12, plus the marker */
            size_t cap = 2 * n + 16;
            out = wr_malloc(cap);
            if (!out)
                return NULL;
            memcpy(out, s, start);
            w = start;
        }
        if (out && special && is_key) {
            out[w++] = '"';
            memcpy(out + w, "\\u0001\\u0004", 12);
            w += 12;
            for (size_t k = start + 1; k < end - 1;) {
                if (is_esc(s, n, k, '0') || is_esc(s, n, k, '1')) {
                    memcpy(out + w, "\\u0001\\u000", 11);
                    w += 11;
                    out[w++] = s[k + 5] == '0' ? '3' : '2';
                    k += 6;
                } else if (s[k] == '\\') {
                    out[w++] = s[k++];
                    if (k < end - 1)
                        out[w++] = s[k++];
                } else {
                    out[w++] = s[k++];
                }
            }
            out[w++] = '"';
        } else if (out) {
            memcpy(out + w, s + start, end - start);
            w += end - start;
        }
        i = end;
    }
    if (out)
        *out_len = w;
    return out;
}

const cv_string *cedar_json_key_decode(wr_arena *a, const char *k, size_t klen)
{
    if (klen < 2 || k[0] != 1 || k[1] != 4)
        return cv_string_new(a, k, klen);
    char *buf = wr_arena_alloc(a, klen);
    if (!buf)
        return NULL;
    size_t w = 0;
    for (size_t i = 2; i < klen; i++) {
        if (k[i] == 1 && i + 1 < klen) {
            buf[w++] = k[i + 1] == 3 ? '\0' : '\1';
            i++;
        } else {
            buf[w++] = k[i];
        }
    }
    return cv_string_new(a, buf, w);
}

size_t cedar_json_key_encode(const char *k, size_t klen, char *buf)
{
    if (!memchr(k, 0, klen) && !memchr(k, 1, klen)) {
        memcpy(buf, k, klen);
        return klen;
    }
    size_t w = 0;
    buf[w++] = 1;
    buf[w++] = 4;
    for (size_t i = 0; i < klen; i++) {
        if (k[i] == 0 || k[i] == 1) {
            buf[w++] = 1;
            buf[w++] = k[i] == 0 ? 3 : 2;
        } else {
            buf[w++] = k[i];
        }
    }
    return w;
}
