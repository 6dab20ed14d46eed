/* framing.c - unambiguous request framing (see framing.h).
 *
 * Most checks use what libmicrohttpd hands over: the headers in the order
 * received.  Line ends it does not hand over, so they are read from where
 * it left each line.  libmicrohttpd 0.9.75 parses the header block in
 * place: it writes a NUL over each line's terminator (CR and LF both, so
 * two NULs for CRLF, one for a bare LF) and over each header's colon, and
 * the method, version, names and values it passes point into that block.
 * Hence, for a block of CRLF lines,
 *
 *   - each header's name starts exactly 2 bytes after the end of the text
 *     before it (the version, or the previous value): 1 means a bare LF,
 *     anything else a line that is not where it was (an obs-fold
 *     continuation, which the library glues onto a copied name), and
 *   - the block's size (MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE) is the
 *     distance from the method to the end of the last text plus 4 (its
 *     CRLF and the empty line's): less means the last line or the empty
 *     one ended in a bare LF.
 *
 * Only pointer arithmetic on those addresses, no byte outside the block is
 * read.  This layout is the library's own business, so the line checks run
 * only on the version they were tested with (srv_framing_line_checks). */
#include "server/framing.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

bool srv_framing_line_checks(void)
{
    /* asked on every request: the answer is the library's, so once */
    static atomic_int known = -1;
    int k = atomic_load_explicit(&known, memory_order_relaxed);
    if (k < 0) {
        const char *v = MHD_get_version();
        k = v && !strcmp(v, "0.9.75");
        atomic_store_explicit(&known, k, memory_order_relaxed);
    }
    return k;
}

typedef struct fr_scan {
    bool lines;         /* run the line-end checks */
    uintptr_t prev_end; /* where the text before the next header ends */
    unsigned ncl, nte, nauth;
    const char *cl, *te, *ct;
    const char *why;
} fr_scan;

/* tchar (RFC 9110 5.6.2): a header name is 1*tchar. */
static bool is_tchar(unsigned char ch)
{
    if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))
        return true;
    switch (ch) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
        return true;
    default:
        return false;
    }
}

/* Does w (8 bytes of a value) hold a byte below 0x20 (a control character,
 * tab and NUL included) or 0x7f?  Exact as a yes/no: a borrow only
 * spreads upwards from a byte that is itself below 0x20 or 0x7f.  A value
 * is read 8 bytes at a time while the answer is no (a task token is 8 KiB
 * of base64url), and byte by byte from the first word that says yes. */
static bool word_suspect(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t low = (w - ones * 0x20) & ~w & highs;
    uint64_t d = w ^ (ones * 0x7f);
    uint64_t del = (d - ones) & ~d & highs;
    return (low | del) != 0;
}

static enum MHD_Result each_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                                   const char *value, size_t value_size)
{
    (void)kind;
    (void)key_size;
    fr_scan *f = cls;
    if (!key || !*key) {
        f->why = "a header without a name";
        return MHD_NO;
    }
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        if (!is_tchar(*p)) {
            f->why = "a header name holds a character outside a token (a space before the colon?)";
            return MHD_NO;
        }
    if (!value) {
        value = "";
        value_size = 0;
    }
    const unsigned char *p = (const unsigned char *)value;
    for (size_t i = 0; i + 8 <= value_size; i += 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, sizeof w);
        if (word_suspect(w))
            break;
    }
    for (; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
            f->why = "a control character in a header value (a bare CR?)";
            return MHD_NO;
        }
    if (f->lines) {
        uintptr_t k = (uintptr_t)key;
        if (k != f->prev_end + 2) {
            f->why = k == f->prev_end + 1 ? "a line ends in a bare LF, not CRLF"
                                          : "a header line out of place (an obs-fold continuation line?)";
            return MHD_NO;
        }
        f->prev_end = (uintptr_t)p; /* the value's end: its NUL */
    }
    /* the names counted here, told apart by their first letter
     * before any case-blind comparison */
    if ((key[0] | 0x20) == 'c') {
        if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
            f->ncl++;
            f->cl = value;
        } else if (!f->ct && !strcasecmp(key, MHD_HTTP_HEADER_CONTENT_TYPE)) {
            f->ct = value; /* the first, as a lookup finds it */
        }
    } else if ((key[0] | 0x20) == 't' && !strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
        f->nte++;
        f->te = value;
    } else if ((key[0] | 0x20) == 'a' && !strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION)) {
        f->nauth++;
    }
    return MHD_YES;
}

const char *srv_framing_check(struct MHD_Connection *c, const char *method, const char *version,
                              srv_framing *out)
{
    fr_scan f;
    memset(&f, 0, sizeof f);
    f.lines = srv_framing_line_checks() && method && version && !strncmp(version, "HTTP/", 5);
    if (f.lines)
        f.prev_end = (uintptr_t)version + strlen(version);
    MHD_get_connection_values_n(c, MHD_HEADER_KIND, each_header, &f);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    out->content_length = f.cl;
    out->content_type = f.ct;
    out->header_size = ci ? ci->header_size : 0;
    if (f.why)
        return f.why;
    if (f.ncl > 1)
        return "more than one Content-Length";
    if (f.nauth > 1) /* a lookup reads the first; a proxy in front may read the last */
        return "more than one Authorization header";
    if (f.nte > 1)
        return "more than one Transfer-Encoding";
    if (f.nte && f.ncl)
        return "Content-Length together with Transfer-Encoding";
    if (f.nte && strcasecmp(f.te, "chunked") != 0)
        return "a Transfer-Encoding other than chunked";
    if (f.nte && version && !strcmp(version, MHD_HTTP_VERSION_1_0))
        return "Transfer-Encoding in an HTTP/1.0 request";
    if (f.ncl) {
        size_t n = strlen(f.cl);
        if (n == 0 || n > 19 || strspn(f.cl, "0123456789") != n)
            return "a Content-Length that is not a decimal number";
    }
    if (f.lines) {
        if (!ci)
            return "the size of the header block is unknown";
        uintptr_t want = f.prev_end - (uintptr_t)method + 4;
        if ((uintptr_t)ci->header_size != want)
            return (uintptr_t)ci->header_size < want ? "the header block ends in a bare LF, not CRLF"
                                                     : "the header block is not laid out as its lines say";
    }
    return NULL;
}
