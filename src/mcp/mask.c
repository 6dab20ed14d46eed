/* mask.c - the gateway's credentials masked in answers (mask.h). */
#define _GNU_SOURCE /* memmem */
#include "mcp/mask.h"

#include <string.h>

/* mcp_mask.run: none open, in a JWT's payload, in its signature (in that
 * order: a run in its payload goes on further) */
enum { RUN_NONE, RUN_PAYLOAD, RUN_SIG };

void mcp_mask_init(mcp_mask *m, const char *cred, size_t n)
{
    memset(m, 0, sizeof *m);
    sb_init(&m->seen);
    if (cred && n >= MCP_MASK_MIN) {
        m->cred = cred;
        m->cred_len = n;
    }
}

void mcp_mask_free(mcp_mask *m) { sb_free(&m->seen); }

void mcp_mask_token(mcp_mask *m, const char *jwt, size_t n)
{
    m->jwt = jwt && n ? jwt : NULL;
    m->jwt_len = m->jwt ? n : 0;
    m->sig_len = m->head_len = 0;
    m->run = RUN_NONE;
    m->seen.len = 0;
    if (!m->jwt)
        return;
    const char *first = memchr(jwt, '.', n), *last = first;
    for (const char *d = first; d; d = memchr(d + 1, '.', n - (size_t)(d + 1 - jwt)))
        last = d;
    m->sig_len = last ? n - (size_t)(last + 1 - jwt) : n;
    m->head_len = first ? (size_t)(first + 1 - jwt) : 0;
}

size_t mcp_mask_hold(const mcp_mask *m)
{
    size_t k = m->cred_len > m->jwt_len ? m->cred_len : m->jwt_len;
    return k ? k - 1 : 0;
}

/* Below, v[0..vn) is what came, as it came, out[0..vn) the same bytes in
 * the answer kept (masked there), and the new bytes start at vfrom. */

/* Every occurrence of x[0..k) that ends at or after vfrom, overlapping ones
 * too (each byte masked once). */
static void mask_value(const char *v, size_t vn, size_t vfrom, const char *x, size_t k, char *out)
{
    if (!x || !k || vn < k)
        return;
    size_t at = vfrom > k - 1 ? vfrom - (k - 1) : 0, done = at;
    for (const char *q; at + k <= vn && (q = memmem(v + at, vn - at, x, k)); at = (size_t)(q - v) + 1) {
        size_t s = (size_t)(q - v), e = s + k;
        if (s < done)
            s = done;
        memset(out + s, '*', e - s);
        done = e;
    }
}

static bool b64url(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Where the rest of a JWT from at on ends, *st saying where in it at is
 * (and then where the end is: RUN_NONE when it ended before vn). */
static size_t run_end(const char *v, size_t vn, size_t at, unsigned char *st)
{
    for (; at < vn; at++) {
        unsigned char c = (unsigned char)v[at];
        if (c == '.' && *st == RUN_PAYLOAD) {
            *st = RUN_SIG;
        } else if (!b64url(c)) {
            *st = RUN_NONE;
            return at;
        }
    }
    return vn;
}

/* Each JWT that starts with the header of this call's token, and the rest
 * of one the bytes before ended inside (m->run). */
static void mask_same_key(mcp_mask *m, const char *v, size_t vn, size_t vfrom, char *out)
{
    size_t k = m->head_len;
    if (k < MCP_MASK_MIN)
        return;
    unsigned char open = RUN_NONE; /* of the runs that reach vn, the one going furthest */
    if (m->run != RUN_NONE) {
        unsigned char st = m->run;
        size_t e = run_end(v, vn, vfrom, &st);
        memset(out + vfrom, '*', e - vfrom);
        open = st;
    }
    size_t at = vfrom > k - 1 ? vfrom - (k - 1) : 0;
    for (const char *q; at + k <= vn && (q = memmem(v + at, vn - at, m->jwt, k)); at = (size_t)(q - v) + 1) {
        unsigned char st = RUN_PAYLOAD;
        size_t s = (size_t)(q - v), e = run_end(v, vn, s + k, &st);
        memset(out + s, '*', e - s);
        if (st != RUN_NONE && (open == RUN_NONE || st < open))
            open = st;
    }
    m->run = open;
}

bool mcp_mask_add(mcp_mask *m, char *p, size_t len, size_t from)
{
    if (!p || from > len || (!m->cred && !m->jwt))
        return true;
    /* the bytes kept from before: at most what p still holds before from */
    size_t tl = m->seen.len < from ? m->seen.len : from;
    if (tl < m->seen.len) {
        memmove(m->seen.p, m->seen.p + m->seen.len - tl, tl);
        m->seen.len = tl;
    }
    sb_putn(&m->seen, p + from, len - from);
    if (!sb_ok(&m->seen))
        return false;
    const char *v = m->seen.p;
    size_t vn = m->seen.len;
    if (!vn)
        return true;
    char *out = p + from - tl;
    mask_same_key(m, v, vn, tl, out);
    mask_value(v, vn, tl, m->cred, m->cred_len, out);
    if (m->jwt) {
        mask_value(v, vn, tl, m->jwt, m->jwt_len, out);
        if (m->sig_len >= MCP_MASK_MIN)
            mask_value(v, vn, tl, m->jwt + m->jwt_len - m->sig_len, m->sig_len, out);
    }
    size_t h = mcp_mask_hold(m);
    if (vn > h) {
        memmove(m->seen.p, m->seen.p + vn - h, h);
        m->seen.len = h;
    }
    return true;
}
