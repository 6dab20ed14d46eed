/* ext_ip.c - the ipaddr extension: ip("..."), isIpv4, isIpv6, isLoopback,
 * isMulticast, isInRange.
 *
 * The accepted syntax is the reference's, which is Rust's std::net parser
 * plus Cedar's own checks; the rules, all confirmed against cedar-wasm 4.13:
 *   - the whole string is at most 43 bytes ("ABCD:...:6789/128");
 *   - a string with two or more ':' and two or more '.' is refused outright
 *     (Cedar rejects IPv4 embedded in IPv6, "::ffff:1.2.3.4").  Since any
 *     embedded form needs three dots, the IPv6 parser below never sees one
 *     and need not handle it;
 *   - IPv4 is four decimal parts 0..255, 1..3 digits, no leading zero;
 *   - IPv6 is up to eight groups of 1..4 hex digits with at most one "::",
 *     which must stand for at least one group; no zone ("%eth0");
 *   - "/prefix" splits at the first '/': at most 2 (v4) or 3 (v6) chars,
 *     ASCII digits only, no leading zero except "0" itself, <= 32 / 128.
 * The address keeps its host bits: ip("1.2.3.4/24") != ip("1.2.3.0/24"),
 * though each is in the other's range.
 */
#include "cedar/ext_impl.h"
#include "util/text.h"

#include <stdio.h>
#include <string.h>

#define IP_STR_MAX 43


/* ipv4 -> dec '.' dec '.' dec '.' dec ; dec -> '0' | [1-9][0-9]{0,2} (<= 255) */
static bool parse_v4(const char *s, size_t n, uint8_t out[4])
{
    size_t p = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (p >= n || s[p] != '.')
                return false;
            p++;
        }
        size_t start = p;
        unsigned v = 0;
        while (p < n && p - start < 3 && s[p] >= '0' && s[p] <= '9')
            v = v * 10 + (unsigned)(s[p++] - '0');
        size_t len = p - start;
        if (len == 0 || v > 255 || (len > 1 && s[start] == '0'))
            return false;
        out[part] = (uint8_t)v;
    }
    return p == n;
}

/* One hex group of 1..4 digits at s[*p]; advances *p on success. */
static bool hex_group(const char *s, size_t n, size_t *p, uint16_t *g)
{
    size_t q = *p;
    unsigned v = 0;
    while (q < n && q - *p < 4 && wr_hexval(s[q]) >= 0)
        v = v * 16 + (unsigned)wr_hexval(s[q++]);
    if (q == *p)
        return false;
    *g = (uint16_t)v;
    *p = q;
    return true;
}

/* groups -> group (':' group)* , at most limit of them.  A ':' not followed
 * by a group is left unread (it may begin "::"). */
static size_t read_groups(const char *s, size_t n, size_t *p, uint16_t *g, size_t limit)
{
    size_t k = 0;
    while (k < limit) {
        size_t q = *p;
        if (k > 0) {
            if (q >= n || s[q] != ':')
                break;
            q++;
        }
        if (!hex_group(s, n, &q, &g[k]))
            break;
        *p = q;
        k++;
    }
    return k;
}

/* ipv6 -> groups(8) | groups(<8)? '::' groups(<= 7 - head)? */
static bool parse_v6(const char *s, size_t n, uint8_t out[16])
{
    uint16_t head[8] = {0}, tail[7] = {0};
    size_t p = 0;
    size_t nh = read_groups(s, n, &p, head, 8);
    if (nh < 8) {
        if (n - p < 2 || s[p] != ':' || s[p + 1] != ':')
            return false;
        p += 2;
        size_t nt = read_groups(s, n, &p, tail, 8 - (nh + 1));
        memcpy(&head[8 - nt], tail, nt * sizeof tail[0]);
    }
    if (p != n)
        return false;
    for (int i = 0; i < 8; i++) {
        out[2 * i] = (uint8_t)(head[i] >> 8);
        out[2 * i + 1] = (uint8_t)(head[i] & 0xff);
    }
    return true;
}

static bool parse_addr(const char *s, size_t n, cv_ext *out)
{
    memset(out->u.ip.addr, 0, sizeof out->u.ip.addr);
    if (parse_v4(s, n, out->u.ip.addr)) {
        out->u.ip.v6 = false;
        return true;
    }
    if (parse_v6(s, n, out->u.ip.addr)) {
        out->u.ip.v6 = true;
        return true;
    }
    return false;
}

static const char *parse_prefix(const char *s, size_t n, bool v6, uint8_t *out)
{
    size_t maxlen = v6 ? 3 : 2;
    unsigned max = v6 ? 128 : 32;
    if (n > maxlen)
        return "invalid IP prefix: too long";
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return "invalid IP prefix: non-digit";
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (n == 0)
        return "invalid IP prefix: empty";
    if (n > 1 && s[0] == '0')
        return "invalid IP prefix: leading zero(s)";
    if (v > max)
        return "invalid IP prefix: too large";
    *out = (uint8_t)v;
    return NULL;
}

const char *cedar_ip_check(const char *s, size_t n, cv_ext *out)
{
    cv_ext x;
    memset(&x, 0, sizeof x);
    x.kind = CVX_IPADDR;
    if (n > IP_STR_MAX)
        return "invalid IP address: string too long";
    size_t colons = 0, dots = 0, slash = n;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ':')
            colons++;
        else if (s[i] == '.')
            dots++;
        else if (s[i] == '/' && slash == n)
            slash = i;
    }
    if (colons >= 2 && dots >= 2)
        return "invalid IP address: IPv4 embedded in IPv6 is not accepted";
    if (!parse_addr(s, slash, &x))
        return "invalid IP address";
    if (slash == n) {
        x.u.ip.prefix = x.u.ip.v6 ? 128 : 32;
    } else {
        const char *e = parse_prefix(s + slash + 1, n - slash - 1, x.u.ip.v6, &x.u.ip.prefix);
        if (e)
            return e;
    }
    *out = x;
    return NULL;
}

int cedar_ip_parse(const char *s, size_t n, cv_ext *out)
{
    return cedar_ip_check(s, n, out) ? -1 : 0;
}

/* ---- functions */

static const char E_IP[] = "type error: expected ipaddr";

int cedar_ext_ip(wr_arena *a, const cv_value *args, cv_value *out, const char **err)
{
    if (args[0].type != CV_STRING) {
        *err = "type error: expected string";
        return -1;
    }
    cv_ext x;
    const char *e = cedar_ip_check(args[0].u.s->data, args[0].u.s->len, &x);
    if (e) {
        *err = e;
        return -1;
    }
    return cedar_ext_emit(a, &x, out, err);
}

#define IP_ARG(x, i)                                  \
    const cv_ext *x = cedar_ext_arg(args, i, CVX_IPADDR); \
    if (!x) {                                         \
        *err = E_IP;                                  \
        return -1;                                    \
    }

int cedar_ext_is_ipv4(wr_arena *a, const cv_value *args, cv_value *out, const char **err)
{
    IP_ARG(x, 0);
    *out = cv_bool(!x->u.ip.v6);
    return 0;
}

int cedar_ext_is_ipv6(wr_arena *a, const cv_value *args, cv_value *out, const char **err)
{
    IP_ARG(x, 0);
    *out = cv_bool(x->u.ip.v6);
    return 0;
}

/* 127.0.0.0/8 or exactly ::1/128; a range counts only if it lies inside. */
int cedar_ext_is_loopback(wr_arena *a, const cv_value *args, cv_value *out, const char **err)
{
    IP_ARG(x, 0);
    bool r;
    if (!x->u.ip.v6) {
        r = x->u.ip.addr[0] == 127 && x->u.ip.prefix >= 8;
    } else {
        static const uint8_t one[16] = {[15] = 1};
        r = memcmp(x->u.ip.addr, one, 16) == 0 && x->u.ip.prefix == 128;
    }
    *out = cv_bool(r);
    return 0;
}

/* 224.0.0.0/4 or ff00::/8, again only for ranges inside them. */
int cedar_ext_is_multicast(wr_arena *a, const cv_value *args, cv_value *out, const char **err)
{
    IP_ARG(x, 0);
    bool r;
    if (!x->u.ip.v6)
        r = (x->u.ip.addr[0] & 0xf0) == 0xe0 && x->u.ip.prefix >= 4;
    else
        r = x->u.ip.addr[0] == 0xff && x->u.ip.prefix >= 8;
    *out = cv_bool(r);
    return 0;
}

/* First and last address of x's range, as big-endian bytes. */
static void range_of(const cv_ext *x, size_t len, uint8_t lo[16], uint8_t hi[16])
{
    unsigned pfx = x->u.ip.prefix;
    for (size_t i = 0; i < len; i++) {
        unsigned bits = pfx >= 8 * (i + 1) ? 8 : (pfx > 8 * i ? pfx - 8 * (unsigned)i : 0);
        uint8_t mask = (uint8_t)(0xff00u >> bits);
        lo[i] = x->u.ip.addr[i] & mask;
        hi[i] = x->u.ip.addr[i] | (uint8_t)~mask;
    }
}

/* a.isInRange(b): a's whole range lies within b's; v4 vs v6 is false. */
int cedar_ext_is_in_range(wr_arena *a, const cv_value *args, cv_value *out, const char **err)
{
    IP_ARG(x, 0);
    IP_ARG(y, 1);
    if (x->u.ip.v6 != y->u.ip.v6) {
        *out = cv_bool(false);
        return 0;
    }
    size_t len = x->u.ip.v6 ? 16 : 4;
    uint8_t xlo[16], xhi[16], ylo[16], yhi[16];
    range_of(x, len, xlo, xhi);
    range_of(y, len, ylo, yhi);
    *out = cv_bool(memcmp(ylo, xlo, len) <= 0 && memcmp(xhi, yhi, len) <= 0);
    return 0;
}

/* ---- printing: dotted quad, or RFC 5952 style (lower case, the longest
 * run of two or more zero groups as "::", the first such run on a tie).
 * Mapped addresses stay in hex so that the output parses again. */
size_t cedar_ip_format(const cv_ext *x, char *buf, size_t cap)
{
    char a[48];
    size_t n = 0;
    const uint8_t *b = x->u.ip.addr;
    if (!x->u.ip.v6) {
        n = (size_t)snprintf(a, sizeof a, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
    } else {
        unsigned g[8];
        for (int i = 0; i < 8; i++)
            g[i] = (unsigned)b[2 * i] << 8 | b[2 * i + 1];
        int best = -1, bestlen = 0;
        for (int i = 0; i < 8;) {
            int j = i;
            while (j < 8 && g[j] == 0)
                j++;
            if (j - i > bestlen) {
                best = i;
                bestlen = j - i;
            }
            i = j > i ? j : i + 1;
        }
        if (bestlen < 2)
            best = -1;
        for (int i = 0; i < 8; i++) {
            if (i == best) {
                n += (size_t)snprintf(a + n, sizeof a - n, "::");
                i += bestlen - 1;
                continue;
            }
            bool sep = i > 0 && !(best >= 0 && i == best + bestlen);
            n += (size_t)snprintf(a + n, sizeof a - n, "%s%x", sep ? ":" : "", g[i]);
        }
    }
    unsigned full = x->u.ip.v6 ? 128 : 32;
    if (x->u.ip.prefix != full)
        return (size_t)snprintf(buf, cap, "ip(\"%s/%u\")", a, x->u.ip.prefix);
    return (size_t)snprintf(buf, cap, "ip(\"%s\")", a);
}
