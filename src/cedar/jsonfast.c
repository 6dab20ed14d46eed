/* jsonfast.c - a quick reader for the common case of cedar_json_load.
 *
 * jansson's own reader takes a function call, a UTF-8 check and a buffer
 * append per byte, and then decodes each string a second time; for the
 * ~430-byte AuthZEN bodies of writ serve that was a fifth of the server's
 * CPU per decision.  This reader builds the same jansson tree in one pass
 * over the text, for the inputs it is sure about, and declines the rest:
 *
 *   - it never reports an error.  Anything it does not accept (malformed
 *     text, a duplicate key, a \u escape, a number with a fraction or an
 *     exponent, an integer of more than 18 digits, nesting deeper than
 *     JSONFAST_MAX_DEPTH, running out of memory) makes it return NULL, and
 *     cedar_json_load parses the text again with jansson, which then gives
 *     the error with its line, column and message exactly as before.  So
 *     every error, and every tree of the inputs declined, is jansson's.
 *   - what it accepts it builds with jansson's constructors, in text order,
 *     so the tree is the one json_loadb(JSON_REJECT_DUPLICATES |
 *     JSON_ALLOW_NUL | JSON_DECODE_ANY) gives: same types (integer, never
 *     real), same strings, same key order.  It accepts only text that
 *     jansson accepts too (RFC 8259 JSON; strings: no control bytes,
 *     well-formed UTF-8 without surrogates or overlong forms, the escapes
 *     \" \\ \/ \b \f \n \r \t).
 *
 * Both claims are checked by tests/unit/test_jsonfast.c and the
 * differential fuzz target fuzz/fuzz_jsonfast.c (which aborts when the two
 * readers disagree on any input). */
#include "cedar/json.h"
#include "util/alloc.h"
#include "util/sbuf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Deeper documents go to jansson (which allows 2048 levels). */
#define JSONFAST_MAX_DEPTH 64

typedef struct rd {
    const unsigned char *p, *end;
    char *scratch; /* decoded strings that hold escapes */
    size_t cap;
    char small[256];
} rd;

static void ws(rd *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
        r->p++;
}

/* Length of the well-formed UTF-8 sequence at p (lead byte >= 0x80), 0 if
 * it is not one: no overlong forms, no surrogates, nothing past U+10FFFF. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* past U+10FFFF */
    } else
        return 0;
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

/* A string, r->p just past the opening quote.  On success *s and *n are the
 * bytes (in the text itself when there is no escape, else in r's scratch)
 * and r->p is past the closing quote. */
static bool str(rd *r, const char **s, size_t *n)
{
    const unsigned char *b = r->p;
    const unsigned char *q = b;
    /* the common case: no escape */
    while (q < r->end && *q != '"' && *q != '\\') {
        if (*q < 0x20)
            return false;
        if (*q >= 0x80) {
            size_t k = utf8_seq(q, r->end);
            if (!k)
                return false;
            q += k;
        } else {
            q++;
        }
    }
    if (q >= r->end)
        return false;
    if (*q == '"') {
        *s = (const char *)b;
        *n = (size_t)(q - b);
        r->p = q + 1;
        return true;
    }
    /* escapes: decode into the scratch buffer; the result is never longer
     * than the text */
    size_t most = (size_t)(r->end - b);
    if (most > r->cap) {
        char *nb = wr_malloc(most);
        if (!nb)
            return false;
        if (r->scratch != r->small)
            wr_free(r->scratch);
        r->scratch = nb;
        r->cap = most;
    }
    size_t w = (size_t)(q - b);
    memcpy(r->scratch, b, w);
    while (q < r->end && *q != '"') {
        if (*q == '\\') {
            if (q + 1 >= r->end)
                return false;
            char c;
            switch (q[1]) {
            case '"':
                c = '"';
                break;
            case '\\':
                c = '\\';
                break;
            case '/':
                c = '/';
                break;
            case 'b':
                c = '\b';
                break;
            case 'f':
                c = '\f';
                break;
            case 'n':
                c = '\n';
                break;
            case 'r':
                c = '\r';
                break;
            case 't':
                c = '\t';
                break;
            default:
                return false; /* \u (and anything invalid): jansson's */
            }
            r->scratch[w++] = c;
            q += 2;
        } else if (*q < 0x20) {
            return false;
        } else if (*q >= 0x80) {
            size_t k = utf8_seq(q, r->end);
            if (!k)
                return false;
            memcpy(r->scratch + w, q, k);
            w += k;
            q += k;
        } else {
            r->scratch[w++] = (char)*q++;
        }
    }
    if (q >= r->end)
        return false;
    *s = r->scratch;
    *n = w;
    r->p = q + 1;
    return true;
}

static json_t *value(rd *r, int depth);

static json_t *object(rd *r, int depth)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        return o;
    }
    for (;;) {
        const char *k;
        size_t kn;
        if (r->p >= r->end || *r->p != '"')
            goto fail;
        r->p++;
        if (!str(r, &k, &kn))
            goto fail;
        /* the key may sit in the scratch buffer, which the value's strings
         * reuse: look it up now, and keep a copy when it was decoded */
        if (json_object_getn(o, k, kn))
            goto fail; /* duplicate: jansson refuses it */
        char kbuf[128], *kown = NULL;
        if (k == r->scratch) {
            kown = kn < sizeof kbuf ? kbuf : wr_malloc(kn);
            if (!kown)
                goto fail;
            memcpy(kown, k, kn);
            k = kown;
        }
        ws(r);
        json_t *v = NULL;
        if (r->p < r->end && *r->p == ':') {
            r->p++;
            ws(r);
            v = value(r, depth);
        }
        int bad = !v || json_object_setn_new_nocheck(o, k, kn, v);
        if (kown && kown != kbuf)
            wr_free(kown);
        if (bad)
            goto fail; /* setn frees v on failure */
        ws(r);
        if (r->p >= r->end)
            goto fail;
        if (*r->p == '}') {
            r->p++;
            return o;
        }
        if (*r->p != ',')
            goto fail;
        r->p++;
        ws(r);
    }
fail:
    json_decref(o);
    return NULL;
}

static json_t *array(rd *r, int depth)
{
    json_t *a = json_array();
    if (!a)
        return NULL;
    ws(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        return a;
    }
    for (;;) {
        json_t *v = value(r, depth);
        if (!v || json_array_append_new(a, v))
            goto fail;
        ws(r);
        if (r->p >= r->end)
            goto fail;
        if (*r->p == ']') {
            r->p++;
            return a;
        }
        if (*r->p != ',')
            goto fail;
        r->p++;
        ws(r);
    }
fail:
    json_decref(a);
    return NULL;
}

/* An integer of at most 18 digits (so it fits int64 as strtoll reads it);
 * fractions, exponents and longer integers are jansson's. */
static json_t *number(rd *r)
{
    const unsigned char *q = r->p;
    bool neg = q < r->end && *q == '-';
    if (neg)
        q++;
    const unsigned char *d = q;
    int64_t v = 0;
    while (q < r->end && *q >= '0' && *q <= '9') {
        if (q - d == 18)
            return NULL;
        v = v * 10 + (*q - '0');
        q++;
    }
    size_t nd = (size_t)(q - d);
    if (nd == 0 || (nd > 1 && *d == '0'))
        return NULL; /* no digits, or a leading zero */
    if (q < r->end && (*q == '.' || *q == 'e' || *q == 'E'))
        return NULL;
    r->p = q;
    return json_integer(neg ? -v : v);
}

static json_t *value(rd *r, int depth)
{
    if (r->p >= r->end)
        return NULL;
    const char *s;
    size_t n;
    switch (*r->p) {
    case '{':
        if (depth >= JSONFAST_MAX_DEPTH)
            return NULL;
        r->p++;
        return object(r, depth + 1);
    case '[':
        if (depth >= JSONFAST_MAX_DEPTH)
            return NULL;
        r->p++;
        return array(r, depth + 1);
    case '"':
        r->p++;
        return str(r, &s, &n) ? json_stringn_nocheck(s, n) : NULL;
    case 't':
        if (r->end - r->p >= 4 && !memcmp(r->p, "true", 4)) {
            r->p += 4;
            return json_true();
        }
        return NULL;
    case 'f':
        if (r->end - r->p >= 5 && !memcmp(r->p, "false", 5)) {
            r->p += 5;
            return json_false();
        }
        return NULL;
    case 'n':
        if (r->end - r->p >= 4 && !memcmp(r->p, "null", 4)) {
            r->p += 4;
            return json_null();
        }
        return NULL;
    default:
        return (*r->p == '-' || (*r->p >= '0' && *r->p <= '9')) ? number(r) : NULL;
    }
}

json_t *cedar_json_fast(const char *text, size_t len)
{
    rd r = {.p = (const unsigned char *)text, .end = (const unsigned char *)text + len};
    r.scratch = r.small;
    r.cap = sizeof r.small;
    ws(&r);
    json_t *j = value(&r, 0);
    if (j) {
        ws(&r);
        /* a literal or number must end at a delimiter ("truex", "12a"):
         * anything left over is jansson's to refuse */
        if (r.p != r.end) {
            json_decref(j);
            j = NULL;
        }
    }
    if (r.scratch != r.small)
        wr_free(r.scratch);
    return j;
}

/* ---- compact text, as json_dumps(j, JSON_COMPACT) writes it
 *
 * jansson's dumper checks for cycles by printing each container's address
 * into a hash table, which made it 4% of writ serve's CPU per decision
 * (the audit record's chain).  This writer gives the same bytes: keys in
 * order, separators without spaces, strings with \" \\ \b \f \n \r \t and
 * \u00XX (upper-case hex) for the other control bytes, everything else as
 * is, integers in decimal.  A real number or a string that is not UTF-8
 * (neither comes from cedar_json_fast, both can from jansson's reader or
 * a caller) is left to json_dumps itself. */

static bool dump_str(sbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    sb_putc(b, '"');
    const unsigned char *run = p;
    while (p < end) {
        unsigned c = *p;
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0x80) {
            size_t k = utf8_seq(p, end);
            if (!k)
                return false;
            p += k;
            continue;
        }
        sb_putn(b, (const char *)run, (size_t)(p - run));
        char e[7] = {'\\', 0};
        size_t en = 2;
        switch (c) {
        case '"':
            e[1] = '"';
            break;
        case '\\':
            e[1] = '\\';
            break;
        case '\b':
            e[1] = 'b';
            break;
        case '\f':
            e[1] = 'f';
            break;
        case '\n':
            e[1] = 'n';
            break;
        case '\r':
            e[1] = 'r';
            break;
        case '\t':
            e[1] = 't';
            break;
        default:
            memcpy(e + 1, "u00", 3);
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            en = 6;
        }
        sb_putn(b, e, en);
        run = ++p;
    }
    sb_putn(b, (const char *)run, (size_t)(p - run));
    sb_putc(b, '"');
    return true;
}

static bool dump_value(sbuf *b, const json_t *j, int depth)
{
    if (depth > JSON_PARSER_MAX_DEPTH)
        return false;
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        sb_putc(b, '{');
        const char *k;
        size_t kn;
        json_t *v;
        bool first = true;
        json_object_keylen_foreach((json_t *)j, k, kn, v)
        {
            if (!first)
                sb_putc(b, ',');
            first = false;
            if (!dump_str(b, k, kn))
                return false;
            sb_putc(b, ':');
            if (!dump_value(b, v, depth + 1))
                return false;
        }
        sb_putc(b, '}');
        return true;
    }
    case JSON_ARRAY:
        sb_putc(b, '[');
        for (size_t i = 0; i < json_array_size(j); i++) {
            if (i)
                sb_putc(b, ',');
            if (!dump_value(b, json_array_get(j, i), depth + 1))
                return false;
        }
        sb_putc(b, ']');
        return true;
    case JSON_STRING:
        return dump_str(b, json_string_value(j), json_string_length(j));
    case JSON_INTEGER:
        sb_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        return true;
    case JSON_TRUE:
        sb_puts(b, "true");
        return true;
    case JSON_FALSE:
        sb_puts(b, "false");
        return true;
    case JSON_NULL:
        sb_puts(b, "null");
        return true;
    default:
        return false; /* a real: json_dumps */
    }
}

char *cedar_json_dump_compact(const json_t *j)
{
    if (!json_is_object(j) && !json_is_array(j))
        return NULL; /* as json_dumps without JSON_ENCODE_ANY */
    sbuf b;
    sb_init(&b);
    if (dump_value(&b, j, 0) && sb_ok(&b))
        return sb_take(&b, NULL);
    sb_free(&b);
    char *t = json_dumps(j, JSON_COMPACT), *copy = t ? wr_strndup(t, strlen(t)) : NULL;
    wr_json_free(t);
    return copy;
}
