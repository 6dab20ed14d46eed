/* jcs.c - RFC 8785 canonical JSON and its SHA-256 (see jcs.h).
 *
 * Number formatting.  ECMAScript asks for the fewest decimal digits that
 * read back to the same double (and, among those, the closest to it).  We
 * find them by asking the C library for the correctly rounded p-digit form
 * (%.*e) for p = 1, 2, ... 17 and reading each back with strtod: the first
 * p that round-trips is the shortest.  The correctly rounded p digits are
 * the closest p-digit decimal, but at a power of two the interval of
 * decimals that read back to v is lopsided (narrower below), so the
 * closest candidate can miss while its neighbour one unit above or below
 * still reads back; both neighbours are tried before going to p + 1.
 * Seventeen digits always round-trip, so the loop ends.
 */
#include "jcs/jcs.h"

#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/sbuf.h"
#include "util/error.h"
#include "util/text.h"

/* ---- numbers */

/* Write the decimal digits of m (1 <= m < 10^18) and return their count. */
static int u64_digits(unsigned long long m, char *out)
{
    char tmp[24];
    int n = 0;
    while (m) {
        tmp[n++] = (char)('0' + m % 10);
        m /= 10;
    }
    for (int i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* Does m x 10^e read back to exactly v? */
static int reads_back(unsigned long long m, int e, double v)
{
    char buf[48];
    snprintf(buf, sizeof buf, "%llue%d", m, e);
    return strtod(buf, NULL) == v;
}

int wr_num_shortest(double v, char digits[18], int *point)
{
    v = fabs(v);
    for (int p = 1; p <= 17; p++) {
        char buf[48];
        snprintf(buf, sizeof buf, "%.*e", p - 1, v);
        /* buf is "D.DDDDe[+-]XX" (or "De[+-]XX" when p == 1). */
        unsigned long long m = 0;
        const char *s = buf;
        for (; *s && *s != 'e'; s++)
            if (*s >= '0' && *s <= '9')
                m = m * 10 + (unsigned long long)(*s - '0');
        int e10 = (int)strtol(s + 1, NULL, 10) - (p - 1); /* v ~ m x 10^e10 */
        unsigned long long cand[3] = {m, m + 1, m - 1};
        for (int c = 0; c < 3; c++) {
            if (cand[c] == 0 || !reads_back(cand[c], e10, v))
                continue;
            char d[24];
            int k = u64_digits(cand[c], d);
            int n = e10 + k; /* v = 0.d x 10^n */
            while (k > 1 && d[k - 1] == '0')
                k--;
            memcpy(digits, d, (size_t)k);
            digits[k] = 0;
            *point = n;
            return k;
        }
    }
    /* Not reached for finite non-zero v (17 digits always round-trip). */
    snprintf(digits, 18, "0");
    *point = 1;
    return 1;
}

size_t wr_num_es(double v, char *buf, size_t cap)
{
    if (cap < WR_NUM_ES_MAX || !isfinite(v)) {
        if (cap)
            buf[0] = 0;
        return 0;
    }
    if (v == 0) { /* +0 and -0 */
        buf[0] = '0';
        buf[1] = 0;
        return 1;
    }
    char d[18];
    int n;
    int k = wr_num_shortest(v, d, &n);
    size_t w = 0;
    if (v < 0)
        buf[w++] = '-';
    if (k <= n && n <= 21) { /* integer: digits then zeros */
        memcpy(buf + w, d, (size_t)k);
        w += (size_t)k;
        for (int i = 0; i < n - k; i++)
            buf[w++] = '0';
    } else if (0 < n && n <= 21) { /* point inside the digits */
        memcpy(buf + w, d, (size_t)n);
        w += (size_t)n;
        buf[w++] = '.';
        memcpy(buf + w, d + n, (size_t)(k - n));
        w += (size_t)(k - n);
    } else if (-6 < n && n <= 0) { /* 0.000ddd */
        buf[w++] = '0';
        buf[w++] = '.';
        for (int i = 0; i < -n; i++)
            buf[w++] = '0';
        memcpy(buf + w, d, (size_t)k);
        w += (size_t)k;
    } else { /* d.ddde+x */
        buf[w++] = d[0];
        if (k > 1) {
            buf[w++] = '.';
            memcpy(buf + w, d + 1, (size_t)(k - 1));
            w += (size_t)(k - 1);
        }
        w += (size_t)snprintf(buf + w, cap - w, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
    }
    buf[w] = 0;
    return w;
}

/* ---- output buffer */

static void put_string(sbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    sb_putc(b, '"');
    size_t run = 0; /* start of the pending run of bytes copied as they are */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[7];
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\r':
            esc = "\\r";
            break;
        default:
            if (c < 0x20) {
                u[0] = '\\', u[1] = 'u', u[2] = '0', u[3] = '0', u[4] = hex[c >> 4], u[5] = hex[c & 15],
                u[6] = 0;
                esc = u;
            }
        }
        if (esc) {
            sb_putn(b, s + run, i - run);
            sb_putn(b, esc, strlen(esc));
            run = i + 1;
        }
    }
    sb_putn(b, s + run, n - run);
    sb_putc(b, '"');
}

/* ---- key order: UTF-16 code units */

/* Next UTF-16 code unit of the (valid) UTF-8 text s[*i..n); *pend holds a
 * pending low surrogate between calls.  Returns -1 at the end. */
static long next_unit(const unsigned char *s, size_t n, size_t *i, long *pend)
{
    if (*pend >= 0) {
        long u = *pend;
        *pend = -1;
        return u;
    }
    if (*i >= n)
        return -1;
    unsigned c = s[*i];
    unsigned long cp;
    int len;
    if (c < 0x80)
        cp = c, len = 1;
    else if ((c & 0xE0) == 0xC0)
        cp = c & 0x1F, len = 2;
    else if ((c & 0xF0) == 0xE0)
        cp = c & 0x0F, len = 3;
    else
        cp = c & 0x07, len = 4;
    for (int k = 1; k < len && *i + (size_t)k < n; k++)
        cp = (cp << 6) | (s[*i + (size_t)k] & 0x3F);
    *i += (size_t)len;
    if (cp < 0x10000)
        return (long)cp;
    cp -= 0x10000;
    *pend = (long)(0xDC00 + (cp & 0x3FF));
    return (long)(0xD800 + (cp >> 10));
}

typedef struct member {
    char *key; /* decoded (owned) */
    size_t klen;
    const json_t *val;
} member;

static int key_cmp(const void *pa, const void *pb)
{
    const member *a = pa, *b = pb;
    size_t i = 0, j = 0;
    long pa_ = -1, pb_ = -1;
    for (;;) {
        long x = next_unit((const unsigned char *)a->key, a->klen, &i, &pa_);
        long y = next_unit((const unsigned char *)b->key, b->klen, &j, &pb_);
        if (x != y)
            return x < y ? -1 : 1; /* -1 (end) sorts first */
        if (x < 0)
            return 0;
    }
}

/* Undo src/cedar/json.c's key re-encoding: 01 01 -> 01, 01 02 -> 00. */
static size_t key_decode(const char *k, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (k[i] == 1 && i + 1 < n) {
            out[o++] = k[i + 1] == 2 ? 0 : 1;
            i++;
        } else {
            out[o++] = k[i];
        }
    }
    return o;
}

static writ_status emit(sbuf *b, const json_t *v, bool cedar_keys, int depth, writ_error *err)
{
    if (depth > WR_JCS_MAX_DEPTH)
        return wr_error(err, WRIT_ELIMIT, "JSON nesting deeper than %d levels", WR_JCS_MAX_DEPTH);
    char num[WR_NUM_ES_MAX];
    switch (json_typeof(v)) {
    case JSON_NULL:
        sb_putn(b, "null", 4);
        break;
    case JSON_TRUE:
        sb_putn(b, "true", 4);
        break;
    case JSON_FALSE:
        sb_putn(b, "false", 5);
        break;
    case JSON_INTEGER: {
        int n = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        sb_putn(b, num, (size_t)n);
        break;
    }
    case JSON_REAL: {
        size_t n = wr_num_es(json_real_value(v), num, sizeof num);
        if (!n)
            return wr_error(err, WRIT_EINVAL, "a number that is not finite has no JSON text");
        sb_putn(b, num, n);
        break;
    }
    case JSON_STRING:
        put_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_ARRAY: {
        sb_putc(b, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                sb_putc(b, ',');
            writ_status st = emit(b, json_array_get(v, i), cedar_keys, depth + 1, err);
            if (st)
                return st;
        }
        sb_putc(b, ']');
        break;
    }
    case JSON_OBJECT: {
        size_t n = json_object_size(v);
        member *m = n ? wr_calloc(n, sizeof *m) : NULL;
        if (n && !m)
            return wr_error(err, WRIT_ENOMEM, "out of memory");
        size_t i = 0;
        writ_status st = WRIT_OK;
        const char *k;
        json_t *val;
        size_t kl;
        json_object_keylen_foreach((json_t *)v, k, kl, val)
        {
            m[i].key = wr_malloc(kl + 1);
            if (!m[i].key) {
                st = wr_error(err, WRIT_ENOMEM, "out of memory");
                break;
            }
            m[i].klen = cedar_keys ? key_decode(k, kl, m[i].key) : (memcpy(m[i].key, k, kl), kl);
            m[i].val = val;
            i++;
        }
        if (!st) {
            if (n > 1)
                qsort(m, n, sizeof *m, key_cmp);
            sb_putc(b, '{');
            for (size_t j = 0; j < n && !st; j++) {
                if (j)
                    sb_putc(b, ',');
                put_string(b, m[j].key, m[j].klen);
                sb_putc(b, ':');
                st = emit(b, m[j].val, cedar_keys, depth + 1, err);
            }
            sb_putc(b, '}');
        }
        for (size_t j = 0; j < n; j++)
            wr_free(m[j].key);
        wr_free(m);
        if (st)
            return st;
        break;
    }
    }
    return !sb_ok(b) ? wr_error(err, WRIT_ENOMEM, "out of memory") : WRIT_OK;
}

writ_status wr_jcs(const json_t *v, bool cedar_keys, char **out, size_t *len, writ_error *err)
{
    *out = NULL;
    if (len)
        *len = 0;
    if (!v)
        return wr_error(err, WRIT_EINVAL, "no JSON value to canonicalize");
    sbuf b;
    sb_init(&b);
    writ_status st = emit(&b, v, cedar_keys, 0, err);
    size_t n = 0;
    if (!st && !(*out = sb_take(&b, &n)))
        st = wr_error(err, WRIT_ENOMEM, "out of memory");
    if (st) {
        sb_free(&b);
        return st;
    }
    if (len)
        *len = n;
    return WRIT_OK;
}

/* SHA-256 fetched once: EVP_sha256() makes OpenSSL 3 look the digest up
 * again on every use, which costs more than hashing a short text. */
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha_fetched;
static void sha_fetch(void) { sha_fetched = EVP_MD_fetch(NULL, "SHA256", NULL); }

static const EVP_MD *sha256_md(void)
{
    pthread_once(&sha_once, sha_fetch);
    return sha_fetched ? sha_fetched : EVP_sha256();
}

writ_status wr_jcs_sha256(const json_t *v, bool cedar_keys, char hex[65], writ_error *err)
{
    hex[0] = 0;
    char *text;
    size_t n;
    writ_status st = wr_jcs(v, cedar_keys, &text, &n, err);
    if (st)
        return st;
    unsigned char md[32];
    unsigned int mdlen = 0;
    int ok = EVP_Digest(text, n, md, &mdlen, sha256_md(), NULL);
    wr_free(text);
    if (!ok || mdlen != 32)
        return wr_error(err, WRIT_ENOMEM, "SHA-256 failed");
    wr_hex(hex, md, 32);
    return WRIT_OK;
}
