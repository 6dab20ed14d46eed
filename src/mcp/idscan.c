/* idscan.c - the id of a JSON-RPC message too long to keep: see idscan.h.
 *
 * One state a byte, for the top-level object:
 *   object -> '{' ( member ( ',' member )* )? '}'
 *   member -> string ':' value
 * A member's value is a string or a scalar (read byte by byte: the id's is
 * kept), or an object or array, whose inside is only followed for its
 * strings and its depth (S_NESTED) until the depth is back to zero. */
#include "mcp/idscan.h"

#include <string.h>

enum {
    S_START,  /* before the '{' */
    S_KEY0,   /* after the '{': a key or '}' */
    S_KEY,    /* after a ',': a key */
    S_INKEY,  /* in a key */
    S_COLON,  /* after a key */
    S_VALUE,  /* after the ':' */
    S_STR,    /* in a string value */
    S_SCALAR, /* in a number, true, false or null */
    S_NESTED, /* in an object or array value */
    S_AFTER,  /* after a value: ',' or '}' */
    S_END,    /* after the '}': only whitespace */
    S_BAD,    /* not one JSON object */
};

/* Keys (mcp_idscan.member, bits of mcp_idscan.seen). */
enum { K_OTHER = 0, K_ID = 1, K_METHOD = 2, K_RESULT = 4, K_ERROR = 8, K_ESCAPED = 16 };

void mcp_idscan_init(mcp_idscan *s) { memset(s, 0, sizeof *s); }

static bool is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* A byte a number or a literal may hold (whether they make one is jansson's to say). */
static bool is_scalar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
           c == '+' || c == '.';
}

/* A byte of the member's value: kept when the member is the id. */
static void keep(mcp_idscan *s, unsigned char c)
{
    if (s->member != K_ID)
        return;
    if (s->idlen < MCP_IDSCAN_MAX)
        s->id[s->idlen++] = (char)c;
    else
        s->id_unfit = true;
}

static void key_end(mcp_idscan *s)
{
    static const struct {
        const char *name;
        unsigned char bit;
    } known[] = {{"id", K_ID}, {"method", K_METHOD}, {"result", K_RESULT}, {"error", K_ERROR}};
    s->member = K_OTHER;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (s->klen == strlen(known[i].name) && !memcmp(s->key, known[i].name, s->klen))
            s->member = known[i].bit;
    if (s->member == K_ID && (s->seen & K_ID)) {
        s->id_twice = true;
        s->member = K_OTHER; /* its value is not kept */
    }
    s->seen |= s->member;
}

/* After a value: the next member, the object's end, or whitespace. */
static unsigned char after(mcp_idscan *s, unsigned char c)
{
    if (is_ws(c))
        return S_AFTER;
    s->member = K_OTHER;
    return c == ',' ? S_KEY : c == '}' ? S_END : S_BAD;
}

/* A string's byte (c, after the opening quote): the state after it;
 * `in` is the state to stay in while the string goes on. */
static unsigned char str_byte(mcp_idscan *s, unsigned char c, unsigned char in, unsigned char out)
{
    if (c < 0x20)
        return S_BAD; /* JSON escapes every control character */
    if (s->esc)
        s->esc = false;
    else if (c == '\\')
        s->esc = true;
    else if (c == '"')
        return out;
    return in;
}

void mcp_idscan_feed(mcp_idscan *s, const char *p, size_t n)
{
    for (size_t i = 0; i < n && s->state != S_BAD; i++) {
        unsigned char c = (unsigned char)p[i];
        switch (s->state) {
        case S_START:
            s->state = c == '{' ? S_KEY0 : is_ws(c) ? S_START : S_BAD;
            break;
        case S_KEY0:
        case S_KEY:
            if (c == '"') {
                s->state = S_INKEY;
                s->klen = 0;
                s->esc = false;
            } else if (c == '}' && s->state == S_KEY0) {
                s->state = S_END;
            } else if (!is_ws(c)) {
                s->state = S_BAD;
            }
            break;
        case S_INKEY:
            if (!s->esc && c == '\\')
                s->seen |= K_ESCAPED; /* "\u0069d" is "id" too: no telling which keys there are */
            if (!s->esc && c != '\\' && c != '"') {
                if (s->klen < sizeof s->key)
                    s->key[s->klen] = (char)c;
                if (s->klen <= sizeof s->key)
                    s->klen++; /* sizeof key + 1: longer than any key looked for */
            }
            s->state = str_byte(s, c, S_INKEY, S_COLON);
            if (s->state == S_COLON)
                key_end(s);
            break;
        case S_COLON:
            s->state = c == ':' ? S_VALUE : is_ws(c) ? S_COLON : S_BAD;
            break;
        case S_VALUE:
            if (is_ws(c))
                break;
            if (c == '"') {
                keep(s, c);
                s->esc = false;
                s->state = S_STR;
            } else if (c == '{' || c == '[') {
                if (s->member == K_ID)
                    s->id_unfit = true;
                s->depth = 1;
                s->nested_str = false;
                s->esc = false;
                s->state = S_NESTED;
            } else if (is_scalar(c)) {
                keep(s, c);
                s->state = S_SCALAR;
            } else {
                s->state = S_BAD;
            }
            break;
        case S_STR:
            keep(s, c);
            s->state = str_byte(s, c, S_STR, S_AFTER);
            break;
        case S_SCALAR:
            if (is_scalar(c))
                keep(s, c);
            else
                s->state = after(s, c);
            break;
        case S_NESTED:
            if (s->nested_str) {
                unsigned char r = str_byte(s, c, S_NESTED, S_AFTER); /* S_AFTER: the string ended */
                if (r == S_BAD)
                    s->state = S_BAD;
                else if (r == S_AFTER)
                    s->nested_str = false;
            } else if (c == '"') {
                s->nested_str = true;
            } else if (c == '{' || c == '[') {
                s->depth++; /* 2^64 bytes to overflow */
            } else if ((c == '}' || c == ']') && --s->depth == 0) {
                s->state = S_AFTER;
            }
            break;
        case S_AFTER:
            s->state = after(s, c);
            break;
        case S_END:
            if (!is_ws(c))
                s->state = S_BAD;
            break;
        }
    }
}

const char *mcp_idscan_id(const mcp_idscan *s, size_t *len)
{
    *len = 0;
    if (s->state != S_END || (s->seen & K_ESCAPED) || !(s->seen & K_ID) || s->id_twice || s->id_unfit)
        return NULL;
    *len = s->idlen;
    return s->id;
}

const char *mcp_idscan_request(const mcp_idscan *s, size_t *len)
{
    const char *t = mcp_idscan_id(s, len);
    if (t && (s->seen & K_METHOD))
        return t;
    *len = 0;
    return NULL;
}

bool mcp_idscan_answer(const mcp_idscan *s, uint64_t *id)
{
    size_t n;
    const char *t = mcp_idscan_id(s, &n);
    if (!t || (s->seen & K_METHOD) || !(s->seen & (K_RESULT | K_ERROR)))
        return false;
    /* a JSON integer jansson holds (json_int_t: at most INT64_MAX), not negative */
    if (!n || (t[0] == '0' && n > 1))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i] < '0' || t[i] > '9' || v > (INT64_MAX - (uint64_t)(t[i] - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(t[i] - '0');
    }
    *id = v;
    return true;
}
