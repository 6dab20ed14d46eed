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
#include "cedar/ext.h"
#include "cedar/json.h"
#include "cedar/parser.h"
#include "util/alloc.h"
#include "util/arena.h"
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
    cedar_json_split *sp; /* cedar_json_fast_split's, else NULL */
    char small[256];
} rd;

static void ws(rd *r)
{
    /* (most calls find no whitespace at all: one compare says so) */
    while (r->p < r->end && *r->p <= ' ' && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
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

/* The bytes of the 8 at q that are not plain string bytes (0x20..0x7F but
 * `"` and backslash), as the high bit of each: x ^ c has a zero byte where x
 * holds c, and subtracting 1 (or 0x20) from each byte borrows, setting the
 * high bit, at a byte below it; bytes from 0x80 up have it already.  A
 * borrow may flag a byte above a flagged one too, but never one below, so
 * the lowest flag is exact: the first byte that is not plain. */
static inline uint64_t odd8(const unsigned char *q)
{
    uint64_t x;
    memcpy(&x, q, 8);
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    uint64_t quote = x ^ (ones * '"'), bslash = x ^ (ones * '\\');
    return (((x - ones * 0x20) & ~x) | ((quote - ones) & ~quote) | ((bslash - ones) & ~bslash) | x) & high;
}

#if defined(__SSE2__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#include <emmintrin.h>
#define JSONFAST_SSE2 1
/* odd8 for 16 bytes at once, exact: bit i set where byte i is `"`, a
 * backslash, below 0x20 or from 0x80 up (a signed compare with 0x20 takes
 * both of the last two). */
static inline unsigned odd16(const unsigned char *q)
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)q);
    __m128i m = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')), _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))),
        _mm_cmplt_epi8(x, _mm_set1_epi8(0x20)));
    return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* A string, r->p just past the opening quote.  On success *s and *n are the
 * bytes (in the text itself when there is no escape, else in r's scratch)
 * and r->p is past the closing quote. */
static bool str(rd *r, const char **s, size_t *n)
{
    const unsigned char *b = r->p;
    const unsigned char *q = b;
    /* the common case: no escape; plain bytes skipped a word at a time
     * (little-endian: the first byte is the lowest) */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (;;) {
#ifdef JSONFAST_SSE2
        while (r->end - q >= 16) {
            unsigned m = odd16(q);
            if (m) {
                q += __builtin_ctz(m);
                goto flagged;
            }
            q += 16;
        }
#endif
        while (r->end - q >= 8) {
            uint64_t m = odd8(q);
            if (m) {
                q += __builtin_ctzll(m) >> 3;
                break;
            }
            q += 8;
        }
#ifdef JSONFAST_SSE2
    flagged:
#endif
        if (r->end - q >= 8 && *q >= 0x80) { /* UTF-8: check the sequence, then on by words */
            size_t k = utf8_seq(q, r->end);
            if (!k)
                return false;
            q += k;
            continue;
        }
        break;
    }
#endif
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

#ifdef JSONFAST_SSE2
/* str for the usual string: its closing quote within the next 16 bytes and
 * nothing before it to check (no escape, no UTF-8, no control byte),
 * without a call; the rest to str. */
static inline bool str_q(rd *r, const char **s, size_t *n)
{
    if (r->end - r->p >= 16) {
        unsigned m = odd16(r->p);
        if (m) {
            unsigned i = (unsigned)__builtin_ctz(m);
            if (r->p[i] == '"') {
                *s = (const char *)r->p;
                *n = i;
                r->p += i + 1;
                return true;
            }
        }
    }
    return str(r, s, n);
}
#else
#define str_q str
#endif

static json_t *value(rd *r, int depth);
static json_t *split_object(rd *r);

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
        if (!str_q(r, &k, &kn))
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
            /* cedar_json_fast_split: the top-level member named sp->key */
            if (r->sp && depth == 1 && r->p < r->end && *r->p == '{' && kn && !strncmp(k, r->sp->key, kn) &&
                !r->sp->key[kn]) {
                if (r->sp->done)
                    goto fail; /* (a duplicate, refused above) */
                r->p++;
                v = split_object(r);
            } else {
                v = value(r, depth);
            }
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
static bool integer(rd *r, int64_t *out)
{
    const unsigned char *q = r->p;
    bool neg = q < r->end && *q == '-';
    if (neg)
        q++;
    const unsigned char *d = q;
    int64_t v = 0;
    while (q < r->end && *q >= '0' && *q <= '9') {
        if (q - d == 18)
            return false;
        v = v * 10 + (*q - '0');
        q++;
    }
    size_t nd = (size_t)(q - d);
    if (nd == 0 || (nd > 1 && *d == '0'))
        return false; /* no digits, or a leading zero */
    if (q < r->end && (*q == '.' || *q == 'e' || *q == 'E'))
        return false;
    r->p = q;
    *out = neg ? -v : v;
    return true;
}

static json_t *number(rd *r)
{
    int64_t v;
    return integer(r, &v) ? json_integer(v) : NULL;
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
        return str_q(r, &s, &n) ? json_stringn_nocheck(s, n) : NULL;
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

/* ---- skimming: the same walk as value(), building nothing
 *
 * cedar_json_fast_kinds reads the text as cedar_json_fast would and
 * builds no tree: it only reports what a few named members of the
 * top-level object (and of one of its object members) are.  It declines
 * (-1) whatever cedar_json_fast declines, and also an object with a key
 * holding an escape or with more than SKIM_KEYS members (duplicate keys
 * are found by comparing the keys' bytes, which is exact only without
 * escapes).  What it accepts, cedar_json_fast accepts too, with the same
 * tree (the MCP gateway checks an upstream's answer with it:
 * tests/unit/test_jsonfast.c and fuzz/fuzz_mcp_message.c compare). */
#define SKIM_KEYS 32

static int skim_value(rd *r, int depth, cedar_json_kinds *want, const char **s, size_t *n);

/* An object, r->p past '{'.  want (may be NULL): the members to report. */
static bool skim_object(rd *r, int depth, cedar_json_kinds *want)
{
    const char *keys[SKIM_KEYS];
    size_t lens[SKIM_KEYS], nk = 0;
    ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        return true;
    }
    for (;;) {
        const char *k, *sv;
        size_t kn, sn;
        if (r->p >= r->end || *r->p != '"')
            return false;
        r->p++;
        if (!str(r, &k, &kn) || k == r->scratch || nk == SKIM_KEYS)
            return false; /* an escape in the key, or too many keys */
        for (size_t i = 0; i < nk; i++)
            if (lens[i] == kn && !memcmp(keys[i], k, kn))
                return false; /* duplicate: jansson refuses it */
        keys[nk] = k;
        lens[nk++] = kn;
        ws(r);
        if (r->p >= r->end || *r->p != ':')
            return false;
        r->p++;
        ws(r);
        int slot = -1;
        for (size_t i = 0; want && i < want->n; i++)
            if (strlen(want->name[i]) == kn && !memcmp(want->name[i], k, kn))
                slot = (int)i;
        cedar_json_kinds *inner = slot >= 0 && want->inner && want->inner_of == slot ? want->inner : NULL;
        int kind = skim_value(r, depth, inner, &sv, &sn);
        if (!kind)
            return false;
        if (slot >= 0) {
            want->kind[slot] = kind;
            /* a string's bytes may sit in the scratch buffer: compared now */
            want->is_text[slot] = kind == CEDAR_JK_STRING && want->text[slot] &&
                                  strlen(want->text[slot]) == sn && !memcmp(want->text[slot], sv, sn);
        }
        ws(r);
        if (r->p >= r->end)
            return false;
        if (*r->p == '}') {
            r->p++;
            return true;
        }
        if (*r->p != ',')
            return false;
        r->p++;
        ws(r);
    }
}

static bool skim_array(rd *r, int depth)
{
    ws(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        return true;
    }
    for (;;) {
        const char *s;
        size_t n;
        if (!skim_value(r, depth, NULL, &s, &n))
            return false;
        ws(r);
        if (r->p >= r->end)
            return false;
        if (*r->p == ']') {
            r->p++;
            return true;
        }
        if (*r->p != ',')
            return false;
        r->p++;
        ws(r);
    }
}

/* value()'s walk: the kind read (CEDAR_JK_*), 0 where value() gives NULL. */
static int skim_value(rd *r, int depth, cedar_json_kinds *want, const char **s, size_t *n)
{
    if (r->p >= r->end)
        return 0;
    int64_t v;
    switch (*r->p) {
    case '{':
        if (depth >= JSONFAST_MAX_DEPTH)
            return 0;
        r->p++;
        return skim_object(r, depth + 1, want) ? CEDAR_JK_OBJECT : 0;
    case '[':
        if (depth >= JSONFAST_MAX_DEPTH)
            return 0;
        r->p++;
        return skim_array(r, depth + 1) ? CEDAR_JK_ARRAY : 0;
    case '"':
        r->p++;
        return str(r, s, n) ? CEDAR_JK_STRING : 0;
    case 't':
        if (r->end - r->p >= 4 && !memcmp(r->p, "true", 4)) {
            r->p += 4;
            return CEDAR_JK_BOOL;
        }
        return 0;
    case 'f':
        if (r->end - r->p >= 5 && !memcmp(r->p, "false", 5)) {
            r->p += 5;
            return CEDAR_JK_BOOL;
        }
        return 0;
    case 'n':
        if (r->end - r->p >= 4 && !memcmp(r->p, "null", 4)) {
            r->p += 4;
            return CEDAR_JK_NULL;
        }
        return 0;
    default:
        return (*r->p == '-' || (*r->p >= '0' && *r->p <= '9')) && integer(r, &v) ? CEDAR_JK_INTEGER : 0;
    }
}

int cedar_json_fast_kinds(const char *text, size_t len, cedar_json_kinds *want)
{
    rd r = {.p = (const unsigned char *)text, .end = (const unsigned char *)text + len};
    r.scratch = r.small;
    r.cap = sizeof r.small;
    for (cedar_json_kinds *w = want; w; w = w->inner)
        for (size_t i = 0; i < w->n; i++)
            w->kind[i] = 0, w->is_text[i] = false;
    ws(&r);
    const char *s;
    size_t n;
    int kind = r.p < r.end && *r.p == '{' ? skim_value(&r, 0, want, &s, &n) : 0;
    if (kind) {
        ws(&r);
        if (r.p != r.end)
            kind = 0;
    }
    if (r.scratch != r.small)
        wr_free(r.scratch);
    return kind ? 0 : -1;
}

/* ---- the context read straight into Cedar values (cedar_json_fast_split)
 *
 * The members of the split object other than sp->keep become Cedar values
 * in sp->arena, as cedar_json_context reads them without a schema; the
 * tree gets json null in their place (so the member's keys, their order and
 * duplicates are the tree's as before).  Only values whose Cedar reading
 * cannot fail are taken: a null, an "__entity" or "__extn" not of the plain
 * form ({"__entity": {"type", "id"}} with a valid type name,
 * {"__extn": {"fn", "arg"}} that constructs), those keys anywhere but alone
 * in their object, more than SPLIT_MAX_ITEMS members or elements at one
 * level (or SPLIT_MAX_MEMBERS in the split object, kept ones included), or
 * nesting deeper than SPLIT_MAX_DEPTH decline the whole text,
 * and the caller reads it the usual way, so every error is the usual one. */

#define SPLIT_MAX_DEPTH 16
#define SPLIT_MAX_ITEMS 64
#define SPLIT_MAX_MEMBERS 80 /* kept ones included */

static bool cval(rd *r, cv_value *out, int depth);

static bool lit(rd *r, const char *w, size_t n)
{
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, w, n))
        return false;
    r->p += n;
    return true;
}

/* `:` and the whitespace around it, after a key */
static bool colon(rd *r)
{
    if (r->p < r->end && *r->p == ':') { /* (the usual text: no space before it) */
        r->p++;
        ws(r);
        return true;
    }
    ws(r);
    if (r->p >= r->end || *r->p != ':')
        return false;
    r->p++;
    ws(r);
    return true;
}

/* `,` (true, *more) or `}` (true, !*more) after a member */
static bool next(rd *r, char close, bool *more)
{
    if (r->p < r->end && *r->p == ',') { /* (the usual text: no space before it) */
        r->p++;
        ws(r);
        *more = true;
        return true;
    }
    ws(r);
    if (r->p >= r->end)
        return false;
    if (*r->p == close) {
        r->p++;
        *more = false;
        return true;
    }
    if (*r->p != ',')
        return false;
    r->p++;
    ws(r);
    *more = true;
    return true;
}

/* {"A": "..", "B": ".."} with exactly the string members a and b, in either
 * order, r->p on the `{`.  Strings copied into the arena. */
static bool pair(rd *r, const char *a, const char *b, const cv_string **va, const cv_string **vb)
{
    *va = *vb = NULL;
    ws(r);
    if (!lit(r, "{", 1))
        return false;
    ws(r);
    for (int i = 0; i < 2; i++) {
        const char *k, *v;
        size_t kn, vn;
        if (!lit(r, "\"", 1) || !str_q(r, &k, &kn))
            return false;
        const cv_string **slot = kn == strlen(a) && !memcmp(k, a, kn)   ? va
                                 : kn == strlen(b) && !memcmp(k, b, kn) ? vb
                                                                        : NULL;
        if (!slot || *slot || !colon(r) || !lit(r, "\"", 1) || !str_q(r, &v, &vn))
            return false;
        if (!(*slot = cv_string_new(r->sp->arena, v, vn)))
            return false;
        bool more;
        if (!next(r, '}', &more) || more != (i == 0))
            return false;
    }
    return true;
}

/* After {"__entity" or {"__extn" and its colon: the escape and the closing
 * brace. */
static bool escape(rd *r, bool entity, cv_value *out)
{
    const cv_string *x, *y;
    bool more;
    if (entity) {
        if (!pair(r, "type", "id", &x, &y) || !cedar_valid_type_name(x->data, x->len))
            return false;
        const cv_uid *u = cv_uid_new(r->sp->arena, x, y);
        if (!u)
            return false;
        *out = cv_entity(u);
    } else {
        const char *msg = NULL;
        if (!pair(r, "fn", "arg", &x, &y) ||
            cedar_ext_construct(r->sp->arena, x->data, x->len, y->data, y->len, out, &msg) < 0)
            return false;
    }
    return next(r, '}', &more) && !more;
}

static bool is_escape_key(const char *k, size_t kn)
{
    return (kn == 8 && !memcmp(k, "__entity", 8)) || (kn == 6 && !memcmp(k, "__extn", 6));
}

/* A record's members, r->p past the `{` (and its whitespace). */
static bool record(rd *r, cv_value *out, int depth)
{
    cv_field f[SPLIT_MAX_ITEMS];
    size_t n = 0;
    if (lit(r, "}", 1)) {
        *out = cv_record_new(r->sp->arena, NULL, 0);
        return out->type != CV_NONE;
    }
    for (bool more = true; more;) {
        const char *k;
        size_t kn;
        if (n == SPLIT_MAX_ITEMS || !lit(r, "\"", 1) || !str_q(r, &k, &kn))
            return false;
        if (n == 0 && is_escape_key(k, kn)) {
            bool entity = kn == 8;
            return colon(r) && escape(r, entity, out);
        }
        if (is_escape_key(k, kn))
            return false; /* the escape wins over the record's other keys: jansson's way */
        for (size_t i = 0; i < n; i++)
            if (f[i].key->len == kn && !memcmp(f[i].key->data, k, kn))
                return false; /* duplicate */
        if (!(f[n].key = cv_string_new(r->sp->arena, k, kn)) || !colon(r) || !cval(r, &f[n].v, depth + 1))
            return false;
        n++;
        if (!next(r, '}', &more))
            return false;
    }
    *out = cv_record_new(r->sp->arena, f, n);
    return out->type != CV_NONE;
}

static bool set(rd *r, cv_value *out, int depth)
{
    cv_value items[SPLIT_MAX_ITEMS];
    size_t n = 0;
    if (lit(r, "]", 1)) {
        *out = cv_set_new(r->sp->arena, NULL, 0);
        return out->type != CV_NONE;
    }
    for (bool more = true; more;) {
        if (n == SPLIT_MAX_ITEMS || !cval(r, &items[n], depth + 1))
            return false;
        n++;
        if (!next(r, ']', &more))
            return false;
    }
    *out = cv_set_new(r->sp->arena, items, n);
    return out->type != CV_NONE;
}

/* One value as a Cedar value, as cedar_json_value reads it without a type. */
static bool cval(rd *r, cv_value *out, int depth)
{
    if (r->p >= r->end || depth > SPLIT_MAX_DEPTH)
        return false;
    const char *s;
    size_t n;
    int64_t v;
    switch (*r->p) {
    case '{':
        r->p++;
        ws(r);
        return record(r, out, depth);
    case '[':
        r->p++;
        ws(r);
        return set(r, out, depth);
    case '"': {
        r->p++;
        if (!str_q(r, &s, &n))
            return false;
        const cv_string *cs = cv_string_new(r->sp->arena, s, n);
        *out = cs ? cv_str(cs) : cv_none();
        return cs != NULL;
    }
    case 't':
        *out = cv_bool(true);
        return lit(r, "true", 4);
    case 'f':
        *out = cv_bool(false);
        return lit(r, "false", 5);
    default: /* null (not a Cedar value) is declined here too */
        if (!integer(r, &v))
            return false;
        *out = cv_long(v);
        return true;
    }
}

static bool kept(const cedar_json_split *sp, const char *k, size_t kn)
{
    for (const char *const *q = sp->keep; q && *q; q++)
        if (kn && **q == *k && !strncmp(*q, k, kn) && !(*q)[kn])
            return true;
    return false;
}

/* Is the value at r->p an array whose first element is a string?  (The
 * text_key member is then kept as JSON after all: a chain named by strings
 * is one whose root the task-history keys read from the tree, history.c.) */
static bool string_first(const rd *r)
{
    const unsigned char *q = r->p;
    if (q >= r->end || *q != '[')
        return false;
    for (q++; q < r->end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'); q++)
        ;
    return q < r->end && *q == '"';
}

/* One byte of compact text into *w. */
#define PUT(c) (*(*w)++ = (char)(c))

/* A string's decoded bytes as dump_str writes them (below), into *w. */
static void compact_str(char **w, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    PUT('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') { /* the usual byte: as it is */
            PUT(c);
            continue;
        }
        const char *e = c == '"'    ? "\\\""
                        : c == '\\' ? "\\\\"
                        : c == '\b' ? "\\b"
                        : c == '\f' ? "\\f"
                        : c == '\n' ? "\\n"
                        : c == '\r' ? "\\r"
                        : c == '\t' ? "\\t"
                                    : NULL;
        if (e) {
            PUT(e[0]);
            PUT(e[1]);
        } else if (c < 0x20) { /* (str refuses raw control bytes: never here) */
            PUT('\\');
            PUT('u');
            PUT('0');
            PUT('0');
            PUT(hex[c >> 4]);
            PUT(hex[c & 15]);
        } else {
            PUT(c);
        }
    }
    PUT('"');
}

/* The compact JSON text of the value at `at` (which cval has just read, so
 * it is in cval's subset: objects, arrays, strings without \u, integers,
 * true and false), as cedar_json_dump_compact writes the tree that value()
 * would build of it: whitespace dropped, strings decoded and escaped again,
 * integers as %lld prints them ("-0" is 0).  It is never longer than the
 * text: an escape is written back no longer than it was (\/ shorter), and
 * raw control bytes cannot be in it.  Into sp->text; r->p is kept. */
static bool compact_text(rd *r, const unsigned char *at)
{
    const unsigned char *end = r->p, *save = r->p;
    char *out = wr_arena_alloc(r->sp->arena, (size_t)(end - at) + 1), *w0 = out, **w = &w0;
    if (!out)
        return false;
    r->p = at;
    bool ok = true;
    while (ok && r->p < end) {
        unsigned char c = *r->p;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            r->p++;
        } else if (c == '"') {
            const char *s;
            size_t n;
            r->p++;
            if ((ok = str_q(r, &s, &n)))
                compact_str(w, s, n);
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            int64_t v;
            if ((ok = integer(r, &v))) {
                char num[24];
                int k = snprintf(num, sizeof num, "%lld", (long long)v);
                for (int i = 0; i < k; i++)
                    PUT(num[i]);
            }
        } else {
            PUT(c); /* { } [ ] : , and the letters of true and false */
            r->p++;
        }
    }
    r->p = save;
    if (!ok || (size_t)(w0 - out) > (size_t)(end - at))
        return false;
    *w0 = '\0';
    r->sp->text = out;
    return true;
}
#undef PUT

/* The split member's object, r->p past its `{`: the tree's object (kept
 * members as JSON, the others json null, or left out when sp->lean) and
 * sp->base. */
static json_t *split_object(rd *r)
{
    cedar_json_split *sp = r->sp;
    cv_field f[SPLIT_MAX_ITEMS];
    size_t n = 0;
    /* every member's key, for the duplicate check (cheaper than the
     * object's hash lookup for a few members) */
    const cv_string *seen[SPLIT_MAX_MEMBERS];
    size_t ns = 0;
    /* (lean: made at the first kept member, else sp->empty) */
    json_t *o = sp->lean ? NULL : json_object();
    if (!o && !sp->lean)
        return NULL;
    ws(r);
    bool more = true;
    if (lit(r, "}", 1))
        more = false;
    while (more) {
        const char *k;
        size_t kn;
        if (ns == sizeof seen / sizeof seen[0] || !lit(r, "\"", 1) || !str_q(r, &k, &kn) ||
            is_escape_key(k, kn))
            goto fail; /* an escape key makes the context not a record: the usual error */
        for (size_t i = 0; i < ns; i++)
            if (seen[i]->len == kn && !memcmp(seen[i]->data, k, kn))
                goto fail; /* duplicate: jansson refuses it */
        /* the key copied before the value reuses the scratch buffer */
        const cv_string *ks = cv_string_new(sp->arena, k, kn);
        if (!ks || !colon(r))
            goto fail;
        seen[ns++] = ks;
        json_t *v = NULL;
        bool text = sp->text_key && *sp->text_key == *ks->data && !strcmp(sp->text_key, ks->data);
        if (kept(sp, ks->data, ks->len) || (text && string_first(r))) {
            if (!(v = value(r, 2)))
                goto fail;
        } else {
            const unsigned char *at = r->p;
            if (n == SPLIT_MAX_ITEMS || !cval(r, &f[n].v, 2))
                goto fail;
            f[n++].key = ks;
            if (*at == '[' && text && !compact_text(r, at))
                goto fail;
            if (!sp->lean)
                v = json_null();
        }
        if (v && !o && !(o = json_object())) {
            json_decref(v);
            goto fail;
        }
        if (v && json_object_setn_new_nocheck(o, ks->data, ks->len, v))
            goto fail;
        if (!next(r, '}', &more))
            goto fail;
    }
    cv_value rec = cv_record_new(sp->arena, f, n);
    if (rec.type == CV_NONE)
        goto fail;
    if (!o)
        o = sp->empty && json_object_size(sp->empty) == 0 ? json_incref(sp->empty) : json_object();
    if (!o)
        return NULL;
    sp->base = rec.u.rec;
    sp->done = true;
    return o;
fail:
    json_decref(o);
    return NULL;
}

json_t *cedar_json_fast_split(const char *text, size_t len, cedar_json_split *sp)
{
    sp->done = false;
    sp->base = NULL;
    sp->text = NULL;
    if (len > CEDAR_JSON_MAX_SIZE)
        return NULL;
    rd r = {.p = (const unsigned char *)text, .end = (const unsigned char *)text + len, .sp = sp};
    r.scratch = r.small;
    r.cap = sizeof r.small;
    ws(&r);
    json_t *j = r.p < r.end && *r.p == '{' ? value(&r, 0) : NULL;
    if (j) {
        ws(&r);
        if (r.p != r.end || !sp->done) {
            json_decref(j);
            j = NULL;
        }
    }
    if (r.scratch != r.small)
        wr_free(r.scratch);
    if (!j)
        sp->done = false, sp->base = NULL, sp->text = NULL;
    return j;
}

/* ---- the body as fields (cedar_json_fast_fields)
 *
 * cedar_json_fast_split still builds a jansson object for the whole body,
 * and one for each of subject, action and resource, only for the server to
 * look up five strings in them and free them again: a JSON object costs a
 * hash table, a pair allocation per member and a string allocation per
 * value, so that was most of the reader's cost once the context went
 * straight into Cedar values.  Here the top-level object is instead a small
 * array of fields in sp->arena: a string member is a slice of the text (or
 * of the arena when it holds an escape), a member named in shallow that is
 * an object is an array of fields in turn (strings, and a tree for any
 * other value: properties), the split member is split_object's tree, and
 * any other value is a tree as before.  The subset and the declines are
 * cedar_json_fast_split's (same str, value and split_object), plus
 * WRIT_FIELDS_MAX members per object of fields; duplicates are found by
 * comparing the keys read so far. */

/* s as it stays valid: str leaves decoded strings in the scratch buffer,
 * which the next string reuses */
static const char *stable(rd *r, const char *s, size_t n)
{
    return s == r->scratch ? wr_arena_strndup(r->sp->arena, s, n) : s;
}

static bool named(const char *const *list, const char *k, size_t kn)
{
    for (const char *const *q = list; q && *q; q++)
        if (!strncmp(*q, k, kn) && !(*q)[kn])
            return true;
    return false;
}

void cedar_json_fields_release(const writ_json_field *f, size_t n)
{
    for (size_t i = 0; f && i < n; i++) {
        if (f[i].kind == WRIT_FIELD_JSON)
            json_decref(f[i].json);
        else if (f[i].kind == WRIT_FIELD_FIELDS)
            cedar_json_fields_release(f[i].fields, f[i].n_fields);
    }
}

/* An object's members as fields, r->p past its `{`: the body (top: its
 * split member and the shallow ones), or one of its shallow members. */
static bool fields(rd *r, bool top, const char *const *shallow, const writ_json_field **out, size_t *nout)
{
    writ_json_field f[WRIT_FIELDS_MAX];
    size_t n = 0;
    ws(r);
    bool more = !lit(r, "}", 1);
    while (more) {
        const char *k;
        size_t kn;
        if (n == WRIT_FIELDS_MAX || !lit(r, "\"", 1) || !str_q(r, &k, &kn))
            goto fail;
        for (size_t i = 0; i < n; i++)
            if (f[i].key_len == kn && !memcmp(f[i].key, k, kn))
                goto fail; /* duplicate: jansson refuses it */
        if (!(k = stable(r, k, kn)) || !colon(r) || r->p >= r->end)
            goto fail;
        writ_json_field *x = &f[n];
        memset(x, 0, sizeof *x);
        x->key = k;
        x->key_len = kn;
        if (*r->p == '"') {
            r->p++;
            if (!str_q(r, &x->str, &x->len) || !(x->str = stable(r, x->str, x->len)))
                goto fail;
            x->kind = WRIT_FIELD_STRING;
        } else if (top && *r->p == '{' && kn && !strncmp(k, r->sp->key, kn) && !r->sp->key[kn]) {
            r->p++;
            if (!(x->json = split_object(r)))
                goto fail;
            x->kind = WRIT_FIELD_JSON;
        } else if (top && *r->p == '{' && named(shallow, k, kn)) {
            r->p++;
            if (!fields(r, false, NULL, &x->fields, &x->n_fields))
                goto fail;
            x->kind = WRIT_FIELD_FIELDS;
        } else {
            if (!(x->json = value(r, top ? 1 : 2)))
                goto fail;
            x->kind = WRIT_FIELD_JSON;
        }
        n++;
        if (!next(r, '}', &more))
            goto fail;
    }
    /* (one slot at least: an empty object's fields are not NULL) */
    writ_json_field *keep = wr_arena_alloc(r->sp->arena, (n ? n : 1) * sizeof *keep);
    if (!keep)
        goto fail;
    memcpy(keep, f, n * sizeof *keep);
    *out = keep;
    *nout = n;
    return true;
fail:
    cedar_json_fields_release(f, n);
    return false;
}

int cedar_json_fast_fields(const char *text, size_t len, cedar_json_split *sp, const char *const *shallow,
                           const writ_json_field **out, size_t *n)
{
    sp->done = false;
    sp->base = NULL;
    sp->text = NULL;
    *out = NULL;
    *n = 0;
    if (len > CEDAR_JSON_MAX_SIZE)
        return -1;
    rd r = {.p = (const unsigned char *)text, .end = (const unsigned char *)text + len, .sp = sp};
    r.scratch = r.small;
    r.cap = sizeof r.small;
    ws(&r);
    bool ok = lit(&r, "{", 1) && fields(&r, true, shallow, out, n);
    if (ok) {
        ws(&r);
        if (r.p != r.end || !sp->done) {
            cedar_json_fields_release(*out, *n);
            ok = false;
        }
    }
    if (r.scratch != r.small)
        wr_free(r.scratch);
    if (!ok) {
        sp->done = false, sp->base = NULL, sp->text = NULL;
        *out = NULL;
        *n = 0;
    }
    return ok ? 0 : -1;
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
