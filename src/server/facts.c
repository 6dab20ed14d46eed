/* facts.c - where each fact of a decision comes from.
 *
 * The trust rule (docs/ARCHITECTURE.md): every fact a policy sees has one
 * named source, and the caller is a source only for what it may vouch for.
 * This file holds the sources that are not the Cedar request's three
 * entities: the connection (and what a trusted proxy says about it) and the
 * context facts Writ itself puts into every request.
 *
 * Forwarding headers.  X-Real-IP, X-Forwarded-For and X-Writ-Destination
 * are read only when the socket's peer is in `trusted_proxies`; from anyone
 * else they are ignored and the socket's own address is the source.  From a
 * trusted proxy X-Real-IP wins; X-Forwarded-For is read from the right,
 * skipping addresses that are themselves trusted proxies, so a client's own
 * copy (which the proxy appends to) is never believed.  A forwarding header
 * that does not parse, or that is given twice with different values, makes
 * the request undecidable: a deny with the reason (never a guess).
 *
 * The context facts (the table in `facts[]` below).  Each is set by Writ in
 * every request whose action's context type declares it (every request
 * without a schema), so that no forbid is skipped because a fact is missing
 * (a Cedar forbid whose condition errors is skipped).  A caller that vouches
 * for its context (AuthZEN without a task token: the PEP is trusted) keeps
 * the values it sent and gets Writ's value only for a fact it left out; with
 * a task token, or on the other front ends, the caller's copies are
 * replaced.  A fact Writ cannot establish takes its most restrictive value:
 *
 *   fact          source                                    unknown
 *   task          the task token (txn, purp)                {id: "", purpose: ""}
 *   chain         the token's act chain, root first         [principal id]
 *   chain_depth   the token's delegation hops               2147483647
 *   time          the server's clock                        (always known)
 *   source_ip     the socket, or a trusted proxy's header   (always known)
 *   destination   the route (config), or a trusted proxy's  destination_default
 *                 X-Writ-Destination; lower case            ("external")
 *   sensitivity   the token's ceiling (no ceiling:          "public"
 *                 "restricted")
 *   destinations  the token's destinations ([] = any)        []
 *
 * Two ways in, one table.  srv_facts_context sets the facts into the JSON
 * context, which the Cedar request is then read from.  The common AuthZEN
 * request (the caller vouches, no task token, no schema, a body the split
 * reader took) skips that round trip: srv_facts_direct hands the same
 * values to cedar_request_fill_facts as Cedar parts, each only where the
 * caller's context has no member of its name, the destination always (it is
 * the caller's, normalised, or the default).  The names, and the values
 * that never change, are made once (cedar_fact_freeze).  Both must agree:
 * tests/unit/test_ctxfacts.c and tests/server/decide_facts.sh check it.
 */
#include "cedar/reqbuild.h"
#include "server/server_int.h"
#include "util/alloc.h"
#include "util/error.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define UNKNOWN_DEPTH 2147483647

/* ---- trusted proxies */

static int parse_cidr(const char *w, size_t n, srv_cidr *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, w, n);
    buf[n] = '\0';
    char *slash = strchr(buf, '/');
    long prefix = -1;
    if (slash) {
        *slash = '\0';
        char *end;
        if (!slash[1] || slash[1] == '-' || slash[1] == '+')
            return -1;
        prefix = strtol(slash + 1, &end, 10);
        if (*end)
            return -1;
    }
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, buf, out->addr) == 1)
        out->family = AF_INET;
    else if (inet_pton(AF_INET6, buf, out->addr) == 1)
        out->family = AF_INET6;
    else
        return -1;
    long max = out->family == AF_INET ? 32 : 128;
    if (prefix < 0)
        prefix = max;
    if (prefix > max)
        return -1;
    out->prefix = (unsigned)prefix;
    return 0;
}

/* An address's family and 16 bytes; an IPv4-mapped IPv6 address counts as
 * the IPv4 address it maps. */
static int addr_of(const char *text, int *family, unsigned char a[16])
{
    memset(a, 0, 16);
    if (inet_pton(AF_INET, text, a) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, text, a) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(a, mapped, 12)) {
            memmove(a, a + 12, 4);
            memset(a + 4, 0, 12);
            *family = AF_INET;
        } else {
            *family = AF_INET6;
        }
        return 0;
    }
    return -1;
}

/* b as a dotted quad into out (16 bytes), by hand: glibc's inet_ntop
 * formats with snprintf. */
static void dotted_quad(const unsigned char *b, char *out)
{
    size_t at = 0;
    for (int i = 0; i < 4; i++) {
        unsigned v = b[i];
        if (i)
            out[at++] = '.';
        if (v >= 100)
            out[at++] = (char)('0' + v / 100);
        if (v >= 10)
            out[at++] = (char)('0' + v / 10 % 10);
        out[at++] = (char)('0' + v % 10);
    }
    out[at] = '\0';
}

/* The one spelling of an address of family (its 4 or 16 bytes) into out. */
static int addr_text(int family, const unsigned char *a, char *out, size_t n)
{
    if (family == AF_INET) {
        if (n < 16)
            return -1;
        dotted_quad(a, out);
        return 0;
    }
    return inet_ntop(AF_INET6, a, out, (socklen_t)n) ? 0 : -1;
}

int srv_ip_canon(const char *text, char *out, size_t n)
{
    int fam;
    unsigned char a[16];
    if (addr_of(text, &fam, a) || addr_text(fam, a, out, n)) {
        if (n)
            out[0] = '\0';
        return -1;
    }
    return 0;
}

static bool cidr_has(const srv_cidr *c, int family, const unsigned char a[16])
{
    if (c->family != family)
        return false;
    unsigned full = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(c->addr, a, full))
        return false;
    if (!rest)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (c->addr[full] & mask) == (a[full] & mask);
}

bool srv_proxies_has(const srv_cidr *p, size_t n, const char *ip)
{
    int fam;
    unsigned char a[16];
    if (addr_of(ip, &fam, a))
        return false;
    for (size_t i = 0; i < n; i++)
        if (cidr_has(&p[i], fam, a))
            return true;
    return false;
}

static bool is_trusted(const srv *s, const char *ip) { return srv_proxies_has(s->proxies, s->nproxies, ip); }

/* A destination as Writ compares it: lower case, 1..128 bytes of letters,
 * digits and . _ - : /.  Returns 0, or -1 when v is not one. */
static int norm_destination(const char *v, size_t n, char *out, size_t cap)
{
    if (n == 0 || n >= cap || n > 128)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (unsigned char)(ch - 'A' + 'a');
        else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
                   ch == '-' || ch == ':' || ch == '/'))
            return -1;
        out[i] = (char)ch;
    }
    out[n] = '\0';
    return 0;
}

int srv_destination_norm(const char *v, char *out, size_t cap)
{
    return norm_destination(v, strlen(v), out, cap);
}

writ_status srv_proxies_parse(const char *list, srv_cidr **out, size_t *count, writ_error *err)
{
    *out = NULL;
    *count = 0;
    const char *v = list;
    while (*v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        if (!*v)
            break;
        const char *w = v;
        while (*v && *v != ' ' && *v != '\t' && *v != ',')
            v++;
        srv_cidr c, *p = NULL;
        writ_status st = WRIT_OK;
        if (parse_cidr(w, (size_t)(v - w), &c))
            st = wr_error(err, WRIT_EINVAL,
                          "trusted_proxies: '%.*s' is not an address or CIDR range (at byte %zu)",
                          (int)(v - w > 64 ? 64 : v - w), w, (size_t)(w - list) + 1);
        else if (!(p = wr_realloc(*out, (*count + 1) * sizeof *p)))
            st = wr_error(err, WRIT_ENOMEM, "out of memory");
        if (st) {
            wr_free(*out);
            *out = NULL;
            *count = 0;
            return st;
        }
        *out = p;
        p[(*count)++] = c;
    }
    return WRIT_OK;
}

writ_status srv_facts_open(srv *s, writ_error *err)
{
    writ_status st = srv_proxies_parse(s->cfg->trusted_proxies, &s->proxies, &s->nproxies, err);
    if (st)
        return st;
    if (norm_destination(s->cfg->destination_default, strlen(s->cfg->destination_default), s->dest_default,
                         sizeof s->dest_default))
        return wr_error(
            err, WRIT_EINVAL,
            "destination_default: '%s' is not a destination (1 to 128 letters, digits, . _ - : /)",
            s->cfg->destination_default);
    return WRIT_OK;
}

void srv_facts_close(srv *s)
{
    wr_free(s->proxies);
    s->proxies = NULL;
    s->nproxies = 0;
}

/* ---- the connection */

typedef struct hdr_scan {
    const char *name;
    const char *first;
    bool conflict;
    sbuf *join; /* X-Forwarded-For: every copy, joined with ',' */
} hdr_scan;

static enum MHD_Result scan_one(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    hdr_scan *h = cls;
    if (strcasecmp(key, h->name))
        return MHD_YES;
    if (!value)
        value = "";
    if (h->join) {
        if (h->join->len)
            sb_putc(h->join, ',');
        sb_puts(h->join, value);
    }
    if (!h->first)
        h->first = value;
    else if (strcmp(h->first, value))
        h->conflict = true;
    return MHD_YES;
}

/* The one value of header name (NULL: none).  Two different copies: -1. */
static int one_header(struct MHD_Connection *c, const char *name, const char **out)
{
    hdr_scan h = {name, NULL, false, NULL};
    MHD_get_connection_values(c, MHD_HEADER_KIND, scan_one, &h);
    *out = h.first;
    return h.conflict ? -1 : 0;
}

static void trim(const char **p, size_t *n)
{
    while (*n && (**p == ' ' || **p == '\t'))
        (*p)++, (*n)--;
    while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
        (*n)--;
}

int srv_xff_client(const srv_cidr *proxies, size_t nproxies, const char *v, char *out, size_t n)
{
    size_t end = strlen(v);
    char one[64] = "";
    while (end > 0) {
        size_t start = end;
        while (start > 0 && v[start - 1] != ',')
            start--;
        const char *w = v + start;
        size_t wn = end - start;
        trim(&w, &wn);
        int fam;
        unsigned char a[16];
        if (wn == 0 || wn >= sizeof one)
            return -1;
        memcpy(one, w, wn);
        one[wn] = '\0';
        if (addr_of(one, &fam, a))
            return -1;
        if (!srv_proxies_has(proxies, nproxies, one))
            break;
        end = start ? start - 1 : 0;
    }
    /* every hop trusted: the leftmost is the client */
    return one[0] ? srv_ip_canon(one, out, n) : -1;
}

void srv_sockaddr_ip(const struct sockaddr *sa, char *out, size_t n)
{
    out[0] = '\0';
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)(const void *)sa;
        addr_text(AF_INET, (const unsigned char *)&v4->sin_addr, out, n);
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)(const void *)sa;
        const unsigned char *b = v6->sin6_addr.s6_addr;
        if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr))
            addr_text(AF_INET, b + 12, out, n);
        else
            addr_text(AF_INET6, b, out, n);
    }
    if (!out[0])
        snprintf(out, n, "0.0.0.0");
}

static void socket_ip(struct MHD_Connection *c, char *out, size_t n)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    srv_sockaddr_ip(ci ? ci->client_addr : NULL, out, n);
}

void srv_peer_read(const srv *s, struct MHD_Connection *c, srv_peer *p)
{
    memset(p, 0, sizeof *p);
    socket_ip(c, p->ip, sizeof p->ip);
    if (!c || !s->nproxies || !is_trusted(s, p->ip))
        return;
    p->via_proxy = true;
    const char *real, *dest;
    if (one_header(c, "X-Real-IP", &real)) {
        snprintf(p->bad, sizeof p->bad, "X-Real-IP given twice with different values");
        return;
    }
    if (real) {
        size_t rn = strlen(real);
        trim(&real, &rn);
        char ip[64];
        if (rn == 0 || rn >= sizeof ip ||
            (memcpy(ip, real, rn), ip[rn] = '\0', srv_ip_canon(ip, p->ip, sizeof p->ip))) {
            snprintf(p->bad, sizeof p->bad, "X-Real-IP from a trusted proxy is not an address");
            return;
        }
    } else {
        sbuf all;
        sb_init(&all);
        hdr_scan h = {"X-Forwarded-For", NULL, false, &all};
        MHD_get_connection_values(c, MHD_HEADER_KIND, scan_one, &h);
        if (h.first) {
            char ip[64];
            if (!sb_ok(&all) || srv_xff_client(s->proxies, s->nproxies, all.p, ip, sizeof ip)) {
                snprintf(p->bad, sizeof p->bad,
                         "X-Forwarded-For from a trusted proxy holds something not an address");
                sb_free(&all);
                return;
            }
            snprintf(p->ip, sizeof p->ip, "%s", ip);
        }
        sb_free(&all);
    }
    if (one_header(c, "X-Writ-Destination", &dest)) {
        snprintf(p->bad, sizeof p->bad, "X-Writ-Destination given twice with different values");
        return;
    }
    if (dest && norm_destination(dest, strlen(dest), p->destination, sizeof p->destination)) {
        snprintf(p->bad, sizeof p->bad, "X-Writ-Destination from a trusted proxy is not a destination");
        return;
    }
}

/* ---- the context facts */

/* Does the schema's context type for the action declare attribute name (or
 * is there no schema)? */
bool srv_ctx_wants(const srv *s, const srv_snapshot *snap, const char *aid, const char *name)
{
    return !snap->schema || writ_schema_context_has(snap->schema, s->action_type, aid, name) == 1;
}

/* {"__extn": {"fn": fn, "arg": arg}}, built directly (json_pack reads its
 * format string on every call). */
static json_t *extn(const char *fn, size_t fn_len, const char *arg, size_t arg_len)
{
    json_t *in = json_object(), *out = json_object();
    if (!in || !out || json_object_set_new_nocheck(out, "__extn", json_incref(in)) ||
        json_object_set_new_nocheck(in, "fn", json_stringn_nocheck(fn, fn_len)) ||
        json_object_set_new_nocheck(in, "arg", json_stringn_nocheck(arg, arg_len))) {
        json_decref(out);
        json_decref(in);
        return NULL;
    }
    json_decref(in);
    return out;
}

json_t *srv_json_strings(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_string(v[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

typedef struct fact_in {
    srv *s;
    const srv_ask *a;
    const char *destination; /* established (normalised) */
} fact_in;

static json_t *f_task(const fact_in *in)
{
    const srv_task *t = in->a->task;
    json_t *o = json_object();
    if (!o || json_object_set_new_nocheck(o, "id", json_string(t ? t->task : "")) ||
        json_object_set_new_nocheck(o, "purpose", json_string(t ? t->purpose : ""))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *f_chain(const fact_in *in)
{
    const srv_task *t = in->a->task;
    if (t && t->chain)
        return json_incref(t->chain);
    json_t *a = json_array();
    if (!a || json_array_append_new(a, json_stringn(in->a->principal.id, in->a->principal.id_len))) {
        json_decref(a);
        return NULL;
    }
    return a;
}

static json_t *f_depth(const fact_in *in)
{
    const srv_task *t = in->a->task;
    return json_integer(t ? (json_int_t)t->depth : UNKNOWN_DEPTH);
}

/* The server's clock as a datetime's text.  It changes once a second: each
 * thread formats it only then. */
static const char *time_text(size_t *n)
{
    static _Thread_local time_t last = (time_t)-1;
    static _Thread_local char ts[32];
    static _Thread_local size_t tn;
    time_t now = time(NULL);
    if (now != last) {
        struct tm tm;
        gmtime_r(&now, &tm);
        tn = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
        last = now;
    }
    *n = tn;
    return ts;
}

static json_t *f_time(const fact_in *in)
{
    (void)in;
    size_t tn;
    const char *ts = time_text(&tn);
    return extn("datetime", 8, ts, tn);
}

static const char *source_ip(const srv_ask *a)
{
    const srv_peer *p = a->peer;
    return p && p->ip[0] ? p->ip : "0.0.0.0";
}

static json_t *f_source_ip(const fact_in *in)
{
    const char *ip = source_ip(in->a);
    return extn("ip", 2, ip, strlen(ip));
}

static json_t *f_destination(const fact_in *in) { return json_string(in->destination); }

static json_t *f_sensitivity(const fact_in *in)
{
    const srv_task *t = in->a->task;
    if (!t || !t->token)
        return json_string("public");
    const char *lv = writ_task_token_sensitivity(t->token);
    return json_string(lv && *lv ? lv : "restricted");
}

static json_t *f_destinations(const fact_in *in)
{
    const srv_task *t = in->a->task;
    if (!t || !t->token)
        return json_array();
    writ_task_scope sc;
    writ_task_token_scope(t->token, &sc);
    return srv_json_strings(sc.destinations, sc.n_destinations);
}

static const struct fact {
    const char *name;
    json_t *(*value)(const fact_in *);
} facts[] = {
    {"task", f_task},
    {"chain", f_chain},
    {"chain_depth", f_depth},
    {"time", f_time},
    {"source_ip", f_source_ip},
    {"destination", f_destination},
    {"sensitivity", f_sensitivity},
    {"destinations", f_destinations},
};

/* srv_facts_direct: the table's facts for a vouching caller without a
 * task token, as the functions above make them (task and chain are the
 * unknown ones, the depth unknown, no ceiling, no destinations limit). */
static size_t direct_facts(const srv_ask *a, const char *destination, cedar_fact *out, cedar_bytes *one)
{
    static const char *const task_keys[2] = {"id", "purpose"};
    static const cedar_bytes task_vals[2] = {{"", 0}, {"", 0}};
#define NAME(lit) {lit, sizeof lit - 1}
    size_t n = 0;
    out[n++] = (cedar_fact){.name = NAME("task"),
                            .if_absent = true,
                            .kind = CEDAR_FACT_RECORD,
                            .keys = task_keys,
                            .items = task_vals,
                            .n = 2};
    *one = (cedar_bytes){a->principal.id, a->principal.id_len};
    out[n++] = (cedar_fact){
        .name = NAME("chain"), .if_absent = true, .kind = CEDAR_FACT_STRINGS, .items = one, .n = 1};
    out[n++] = (cedar_fact){
        .name = NAME("chain_depth"), .if_absent = true, .kind = CEDAR_FACT_LONG, .l = UNKNOWN_DEPTH};
    size_t tn;
    const char *ts = time_text(&tn);
    out[n++] = (cedar_fact){
        .name = NAME("time"), .if_absent = true, .kind = CEDAR_FACT_EXT, .fn = "datetime", .s = {ts, tn}};
    const char *ip = source_ip(a);
    out[n++] = (cedar_fact){.name = NAME("source_ip"),
                            .if_absent = true,
                            .kind = CEDAR_FACT_EXT,
                            .fn = "ip",
                            .s = {ip, strlen(ip)}};
    out[n++] = (cedar_fact){.name = NAME("destination"),
                            .if_absent = false,
                            .kind = CEDAR_FACT_STRING,
                            .s = {destination, strlen(destination)}};
    out[n++] = (cedar_fact){
        .name = NAME("sensitivity"), .if_absent = true, .kind = CEDAR_FACT_STRING, .s = {"public", 6}};
    out[n++] =
        (cedar_fact){.name = NAME("destinations"), .if_absent = true, .kind = CEDAR_FACT_STRINGS, .n = 0};
#undef NAME
    return n;
}

/* Every fact's name, and the value of those that are the same in every
 * such request, made once for the process (cedar_fact_freeze): the
 * unknown task, the unknown depth, "public" and no destinations limit. */
static const bool direct_same[8] = {true, false, true, false, false, false, true, true};
static cedar_fact frozen[8];
static pthread_once_t frozen_once = PTHREAD_ONCE_INIT;

static void freeze(void)
{
    srv_ask a;
    memset(&a, 0, sizeof a);
    cedar_bytes one;
    size_t n = direct_facts(&a, "", frozen, &one);
    for (size_t i = 0; i < n; i++)
        if (cedar_fact_freeze(&frozen[i], direct_same[i])) /* OOM: the rest is made per request */
            break;
}

size_t srv_facts_direct(const srv_ask *a, const char *destination, cedar_fact *out, cedar_bytes *one)
{
    (void)pthread_once(&frozen_once, freeze);
    size_t n = direct_facts(a, destination, out, one);
    for (size_t i = 0; i < n; i++) {
        out[i].key = frozen[i].key;
        out[i].value = frozen[i].value;
    }
    return n;
}

bool srv_fact_reserved(const char *name)
{
    for (size_t i = 0; i < sizeof facts / sizeof facts[0]; i++)
        if (!strcmp(facts[i].name, name))
            return true;
    return false;
}

int srv_facts_context(srv *s, const srv_snapshot *snap, const srv_ask *a, const char *destination,
                      json_t *ctx)
{
    /* the action's id as a C string, for the schema lookup */
    char aid[256];
    if (a->action.id_len >= sizeof aid || memchr(a->action.id, '\0', a->action.id_len))
        aid[0] = '\0';
    else
        memcpy(aid, a->action.id, a->action.id_len), aid[a->action.id_len] = '\0';
    fact_in in = {s, a, destination};
    for (size_t i = 0; i < sizeof facts / sizeof facts[0]; i++) {
        const char *name = facts[i].name;
        if (!srv_ctx_wants(s, snap, aid, name)) {
            if (!a->vouched)
                json_object_del(ctx, name);
            continue;
        }
        if (a->vouched && json_object_get(ctx, name))
            continue;
        json_t *v = facts[i].value(&in);
        if (!v || json_object_set_new(ctx, name, v))
            return -1;
    }
    /* the front end's own facts (token requests: what is asked for) */
    if (a->extra) {
        const char *k;
        json_t *v, *extra = (json_t *)a->extra; /* read only */
        json_object_foreach(extra, k, v)
        {
            if (!srv_ctx_wants(s, snap, aid, k))
                continue;
            if (json_object_set(ctx, k, v))
                return -1;
        }
    }
    return 0;
}

/* ---- a task's facts as Cedar parts (srv_facts_given_ok)
 *
 * The facts the table's functions make for an ask with a task token and
 * no vouching caller (every fact replaces the caller's member), as
 * cedar_facts: what the MCP gateway's decision reads, whose context
 * members (input, tool) are given as Cedar values too, so no JSON context
 * is built and read back.  Only for a task whose facts are all plain
 * strings in few enough pieces (srv_facts_task_ok); anything else goes
 * the JSON way. */
static bool all_strings(const json_t *a, size_t max)
{
    if (!json_is_array(a) || json_array_size(a) > max)
        return false;
    for (size_t i = 0; i < json_array_size(a); i++)
        if (!json_is_string(json_array_get(a, i)))
            return false;
    return true;
}

static bool task_ok(const srv_task *t)
{
    if (!t || !t->task || !t->purpose || (t->chain && !all_strings(t->chain, SRV_FACT_LIST_MAX)))
        return false;
    if (!t->token)
        return true;
    writ_task_scope sc;
    writ_task_token_scope(t->token, &sc);
    for (size_t i = 0; i < sc.n_destinations; i++)
        if (!sc.destinations[i])
            return false;
    return sc.n_destinations <= SRV_FACT_LIST_MAX;
}

bool srv_facts_given_ok(const srv_snapshot *snap, const srv_ask *a)
{
    /* (whatever limits are in force, which a reload may change between a
     * front end's question and its decision: one that sums a context
     * member reads it from srv_ask.given_record) */
    return !snap->schema && !snap->napprovals && a->task && !a->vouched && !a->extra &&
           (!a->context || (json_is_object(a->context) && json_object_size(a->context) == 0)) &&
           !a->principal_props && !a->resource_props && task_ok(a->task);
}

size_t srv_facts_task(const srv_ask *a, const char *destination, cedar_fact *out, cedar_bytes *room)
{
    (void)pthread_once(&frozen_once, freeze);
    const srv_task *t = a->task;
    if (!task_ok(t))
        return 0;
    static const char *const task_keys[2] = {"id", "purpose"};
#define NAME(lit) {lit, sizeof lit - 1}
    size_t n = 0, r = 0;
    cedar_bytes *tv = room + r;
    tv[0] = (cedar_bytes){t->task, strlen(t->task)};
    tv[1] = (cedar_bytes){t->purpose, strlen(t->purpose)};
    r += 2;
    out[n++] =
        (cedar_fact){.name = NAME("task"), .kind = CEDAR_FACT_RECORD, .keys = task_keys, .items = tv, .n = 2};
    cedar_bytes *cv = room + r;
    size_t nc = 0;
    if (t->chain) {
        for (size_t i = 0; i < json_array_size(t->chain); i++) {
            const json_t *e = json_array_get(t->chain, i);
            cv[nc++] = (cedar_bytes){json_string_value(e), json_string_length(e)};
        }
    } else {
        cv[nc++] = (cedar_bytes){a->principal.id, a->principal.id_len};
    }
    r += nc;
    out[n++] = (cedar_fact){.name = NAME("chain"), .kind = CEDAR_FACT_STRINGS, .items = cv, .n = nc};
    out[n++] = (cedar_fact){.name = NAME("chain_depth"), .kind = CEDAR_FACT_LONG, .l = (int64_t)t->depth};
    size_t tn;
    const char *ts = time_text(&tn);
    out[n++] = (cedar_fact){.name = NAME("time"), .kind = CEDAR_FACT_EXT, .fn = "datetime", .s = {ts, tn}};
    const char *ip = source_ip(a);
    out[n++] =
        (cedar_fact){.name = NAME("source_ip"), .kind = CEDAR_FACT_EXT, .fn = "ip", .s = {ip, strlen(ip)}};
    out[n++] = (cedar_fact){
        .name = NAME("destination"), .kind = CEDAR_FACT_STRING, .s = {destination, strlen(destination)}};
    const char *lv = t->token ? writ_task_token_sensitivity(t->token) : NULL;
    const char *sens = !t->token ? "public" : lv && *lv ? lv : "restricted";
    out[n++] =
        (cedar_fact){.name = NAME("sensitivity"), .kind = CEDAR_FACT_STRING, .s = {sens, strlen(sens)}};
    cedar_bytes *dv = room + r;
    size_t nd = 0;
    if (t->token) {
        writ_task_scope sc;
        writ_task_token_scope(t->token, &sc);
        for (size_t i = 0; i < sc.n_destinations; i++)
            dv[nd++] = (cedar_bytes){sc.destinations[i], strlen(sc.destinations[i])};
    }
    out[n++] = (cedar_fact){.name = NAME("destinations"), .kind = CEDAR_FACT_STRINGS, .items = dv, .n = nd};
#undef NAME
    for (size_t i = 0; i < n; i++)
        out[i].key = frozen[i].key; /* the names, made once (NULL: made per request) */
    return n;
}
