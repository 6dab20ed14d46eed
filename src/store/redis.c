/* redis.c - the shared state backend: one Redis server that every replica
 * talks to (hiredis, synchronous).
 *
 * Connections: hiredis contexts are not thread-safe, so each operation
 * takes a connection of its own from a small pool and gives it back; a
 * connection that failed is closed and the next operation opens a new one
 * (connect and command timeouts bound every call).  Atomicity comes from
 * Redis itself: each operation is one command, one MULTI/EXEC or one Lua
 * script, so replicas never read-then-write across two round trips.
 *
 * TLS (rediss://): Debian's hiredis 0.14 has none; redis_tls.c carries
 * hiredis' bytes over an OpenSSL session instead, and everything above the
 * connection is the same. */
#include "store/redis_int.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/text.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

writ_status rd_fail(writ_error *err, writ_status code, const char *what, const char *detail)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = code;
        snprintf(err->msg, sizeof err->msg, "state: redis: %.60s%s%.176s", what, detail ? ": " : "",
                 detail ? detail : "");
    }
    return code;
}

void rd_arg(rd_args *a, const char *s, size_t len)
{
    if (a->n >= RD_MAXARGS)
        return; /* rd_run refuses a full list */
    a->v[a->n] = s;
    a->len[a->n] = len;
    a->n++;
}

void rd_arg_str(rd_args *a, const char *s) { rd_arg(a, s ? s : "", s ? strlen(s) : 0); }

void rd_arg_i64(rd_args *a, int64_t v)
{
    if (a->n >= RD_MAXARGS)
        return;
    int k = snprintf(a->num[a->n], sizeof a->num[a->n], "%" PRId64, v);
    rd_arg(a, a->num[a->n], (size_t)k);
}

bool rd_int(const redisReply *r, int64_t *v)
{
    if (!r)
        return false;
    if (r->type == REDIS_REPLY_INTEGER) {
        *v = r->integer;
        return true;
    }
    if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len > 21)
        return false;
    char buf[24], *end = NULL;
    memcpy(buf, r->str, r->len);
    buf[r->len] = '\0';
    errno = 0;
    long long x = strtoll(buf, &end, 10);
    if (errno || *end)
        return false;
    *v = x;
    return true;
}

/* ---- connections */

/* A plain connection whose first command dies without a reply is most
 * likely talking to a TLS port: say so beside the socket's own words. */
static void plain_hint(const wr_redis_store *s, const redisContext *c, writ_error *err)
{
    if (s->tls || !err || !(c->err == REDIS_ERR_IO || c->err == REDIS_ERR_EOF))
        return;
    size_t n = strlen(err->msg);
    snprintf(err->msg + n, sizeof err->msg - n, " (is this a TLS port? then use rediss://)");
}

/* AUTH and SELECT on a new connection (or a PING when neither is due, so
 * that a wrong port shows here); c is freed on failure. */
static redisContext *rd_session(wr_redis_store *s, redisContext *c, writ_error *err)
{
    if (s->password) {
        rd_args a = {0};
        rd_arg_str(&a, "AUTH");
        if (*s->user)
            rd_arg_str(&a, s->user);
        rd_arg_str(&a, s->password);
        redisReply *r = rd_run(c, &a, "AUTH (state_password_file)", err);
        if (!r) {
            plain_hint(s, c, err);
            redisFree(c);
            return NULL;
        }
        freeReplyObject(r);
    }
    if (s->db) {
        rd_args a = {0};
        rd_arg_str(&a, "SELECT");
        rd_arg_i64(&a, s->db);
        redisReply *r = rd_run(c, &a, "SELECT", err);
        if (!r) {
            plain_hint(s, c, err);
            redisFree(c);
            return NULL;
        }
        freeReplyObject(r);
    }
    if (!s->password && !s->db) {
        rd_args a = {0};
        rd_arg_str(&a, "PING");
        redisReply *r = rd_run(c, &a, "PING", err);
        if (!r) {
            plain_hint(s, c, err);
            redisFree(c);
            return NULL;
        }
        freeReplyObject(r);
    }
    return c;
}

static redisContext *rd_connect(wr_redis_store *s, writ_error *err)
{
    if (s->tls) {
        redisContext *c = rd_tls_connect(s->tls, s->host, s->port, s->timeout, err);
        if (!c)
            return NULL;
        (void)redisSetTimeout(c, s->timeout); /* keep-alive: on the TCP socket (redis_tls.c) */
        return rd_session(s, c, err);
    }
    redisContext *c = redisConnectWithTimeout(s->host, s->port, s->timeout);
    char where[300];
    snprintf(where, sizeof where, "%s:%d", s->host, s->port);
    if (!c) {
        rd_fail(err, WRIT_EIO, where, "out of memory");
        return NULL;
    }
    if (c->err) {
        rd_fail(err, WRIT_EIO, where, c->errstr);
        redisFree(c);
        return NULL;
    }
    (void)redisSetTimeout(c, s->timeout);
    (void)redisEnableKeepAlive(c);
    return rd_session(s, c, err);
}

/* ---- a Redis that does not answer
 *
 * Every call is synchronous, on its caller's thread, and a Redis that
 * stops answering (a pause, a partition that drops packets) holds that
 * thread for the whole timeout, 2 s by default: an HTTP worker, and every
 * connection it serves, stalled once per call that reaches the store.  So
 * a call that failed after waiting at least half the timeout opens a
 * breaker: for the next RD_HOLD_MS calls fail at once, saying why (their
 * callers fail closed, as for any store failure: a refused approval, limit
 * or task lookup, never an allow).  Then one call tries again (the breaker
 * is held for it while it waits, so the others still fail at once) and
 * closes it when Redis answers.  The revocation feed's thread always tries
 * (rd_get_probe): it serves no request, and its first answer closes the
 * breaker for everyone.  So while that thread keeps trying (it began a try
 * within twice the timeout and the hold: a try takes at most the timeout
 * and its XREAD's 250 ms, then it sleeps 100 ms), no request's call tries:
 * a silent Redis holds each worker once, when it falls silent, and never
 * after.  Without that thread (the command line), or with it stuck, a
 * request's call tries again after each hold.  A failure that comes at
 * once (connection refused) opens nothing: it costs no wait. */
#define RD_HOLD_MS 1000

static _Thread_local int64_t op_started; /* rd_get's time, read by rd_put */

static int64_t timeout_ms(const wr_redis_store *s)
{
    return (int64_t)s->timeout.tv_sec * 1000 + s->timeout.tv_usec / 1000;
}

/* Whether the revocation feed's thread began a try recently enough to be
 * the one that tries. */
static bool watched(const wr_redis_store *s, int64_t now)
{
    int64_t began = atomic_load(&s->probe_began);
    return began && now - began < 2 * timeout_ms(s) + RD_HOLD_MS;
}

static void trip(wr_redis_store *s, const char *what)
{
    int64_t now = wr_mono_ms();
    if (now - op_started < timeout_ms(s) / 2)
        return;
    pthread_mutex_lock(&s->mu);
    if (watched(s, now))
        snprintf(s->down_why, sizeof s->down_why, "it did not answer within %lld ms (%.80s); the revocation feed asks again",
                 (long long)timeout_ms(s), what);
    else
        snprintf(s->down_why, sizeof s->down_why, "it did not answer within %lld ms (%.80s); asked again after %d ms",
                 (long long)timeout_ms(s), what, RD_HOLD_MS);
    pthread_mutex_unlock(&s->mu);
    atomic_store(&s->down_until, now + RD_HOLD_MS);
}

/* Open: fail at once (true, err said), unless the hold is over and this
 * call is the one that tries again. */
static bool held_off(wr_redis_store *s, writ_error *err)
{
    int64_t until = atomic_load(&s->down_until);
    if (!until)
        return false;
    int64_t now = wr_mono_ms();
    if (now >= until && !watched(s, now) &&
        atomic_compare_exchange_strong(&s->down_until, &until, now + timeout_ms(s) + 1))
        return false;
    char why[sizeof s->down_why];
    pthread_mutex_lock(&s->mu);
    memcpy(why, s->down_why, sizeof why);
    pthread_mutex_unlock(&s->mu);
    rd_fail(err, WRIT_EIO, "not asked", why);
    return true;
}

static redisContext *get(wr_redis_store *s, bool probe, writ_error *err)
{
    if (!probe && held_off(s, err))
        return NULL;
    op_started = wr_mono_ms();
    if (probe)
        atomic_store(&s->probe_began, op_started);
    pthread_mutex_lock(&s->mu);
    redisContext *c = s->nidle ? s->idle[--s->nidle] : NULL;
    pthread_mutex_unlock(&s->mu);
    if (c)
        return c;
    if ((c = rd_connect(s, err)))
        return c;
    trip(s, err ? err->msg : "cannot connect");
    return NULL;
}

redisContext *rd_get(wr_redis_store *s, writ_error *err) { return get(s, false, err); }

redisContext *rd_get_probe(wr_redis_store *s, writ_error *err) { return get(s, true, err); }

void rd_put(wr_redis_store *s, redisContext *c)
{
    if (!c)
        return;
    if (c->err) {
        trip(s, c->errstr[0] ? c->errstr : "no reply");
        redisFree(c);
        return;
    }
    atomic_store(&s->down_until, 0); /* it answered */
    pthread_mutex_lock(&s->mu);
    if (s->nidle < RD_POOL) {
        s->idle[s->nidle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    if (c)
        redisFree(c);
}

/* Why a call on c got no reply, asked right after it (errno is read, and
 * c->err as hiredis left it).  hiredis reports its socket's timeout as the
 * read's EAGAIN, "Resource temporarily unavailable": say what that means,
 * as no I/O error, so that plain_hint does not suggest a TLS port.  c is
 * left in error either way: its state is unknown, rd_put never reuses it. */
const char *rd_noreply(redisContext *c)
{
    if (c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        c->err = REDIS_ERR_OTHER;
        snprintf(c->errstr, sizeof c->errstr, "no reply within the timeout");
    }
    if (!c->err)
        c->err = REDIS_ERR_IO;
    return c->errstr[0] ? c->errstr : "no reply";
}

redisReply *rd_run(redisContext *c, const rd_args *a, const char *what, writ_error *err)
{
    if (a->n >= RD_MAXARGS) {
        rd_fail(err, WRIT_EINVAL, what, "too many arguments");
        return NULL;
    }
    redisReply *r = redisCommandArgv(c, a->n, (const char **)a->v, a->len);
    if (!r) {
        rd_fail(err, WRIT_EIO, what, rd_noreply(c));
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        rd_fail(err, WRIT_EIO, what, r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

redisReply *rd_script(redisContext *c, const char *src, int nkeys, const rd_args *args, const char *what,
                      writ_error *err)
{
    /* Redis names a script by the SHA-1 of its text (EVALSHA) */
    unsigned char md[20];
    unsigned mdlen = 0;
    char sha[41];
    if (!EVP_Digest(src, strlen(src), md, &mdlen, EVP_sha1(), NULL) || mdlen != 20) {
        rd_fail(err, WRIT_EIO, what, "cannot hash the script");
        return NULL;
    }
    wr_hex(sha, md, 20);
    for (int attempt = 0; attempt < 2; attempt++) {
        rd_args a = {0};
        rd_arg_str(&a, attempt ? "EVAL" : "EVALSHA");
        rd_arg_str(&a, attempt ? src : sha);
        rd_arg_i64(&a, nkeys);
        for (int i = 0; i < args->n; i++)
            rd_arg(&a, args->v[i], args->len[i]);
        if (a.n >= RD_MAXARGS) {
            rd_fail(err, WRIT_EINVAL, what, "too many arguments");
            return NULL;
        }
        redisReply *r = redisCommandArgv(c, a.n, a.v, a.len);
        if (!r) {
            rd_fail(err, WRIT_EIO, what, rd_noreply(c));
            return NULL;
        }
        if (r->type == REDIS_REPLY_ERROR && attempt == 0 && strncmp(r->str, "NOSCRIPT", 8) == 0) {
            freeReplyObject(r);
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            rd_fail(err, WRIT_EIO, what, r->str);
            freeReplyObject(r);
            return NULL;
        }
        return r;
    }
    rd_fail(err, WRIT_EIO, what, "script not loaded");
    return NULL;
}

/* ---- opening */

static void rd_close(wr_store *st)
{
    wr_redis_store *s = (wr_redis_store *)st;
    for (size_t i = 0; i < s->nidle; i++)
        redisFree(s->idle[i]);
    if (s->password) {
        memset(s->password, 0, strlen(s->password));
        wr_free(s->password);
    }
    if (s->tls)
        rd_tls_release(s->tls);
    pthread_mutex_destroy(&s->mu);
    wr_free(s);
}

static const wr_store_ops redis_ops = {
    .name = "redis",
    .shared = true,
    .close = rd_close,
    .approval_take = wr_redis_approval_take,
    .approval_get = wr_redis_approval_get,
    .approval_page = wr_redis_approval_page,
    .approval_decide = wr_redis_approval_decide,
    .approval_expired = wr_redis_approval_expired,
    .approval_prune = wr_redis_approval_prune,
    .counter_add = wr_redis_counter_add,
    .counter_sum = wr_redis_counter_sum,
    .counter_take = wr_redis_counter_take,
    .counter_scan = wr_redis_counter_scan,
    .revocation_publish = wr_redis_revocation_publish,
    .revocation_follow = wr_redis_revocation_follow,
    .mcp_task_bind = wr_redis_mcp_task_bind,
    .mcp_task_owner = wr_redis_mcp_task_owner,
};

static writ_status url_fail(writ_error *err, const char *spec, size_t at, const char *why)
{
    char what[40], detail[200];
    snprintf(what, sizeof what, "bad state URL at byte %zu", at + 1);
    snprintf(detail, sizeof detail, "%s (expected %s://[USER@]HOST:PORT[/DB])", why,
             strncmp(spec, "rediss://", 9) == 0 ? "rediss" : "redis");
    return rd_fail(err, WRIT_EINVAL, what, detail);
}

/* redis://[USER@]HOST[:PORT][/DB] or rediss://... (TLS); HOST a name, an
 * IPv4 address or an IPv6 address in brackets.  No password in the URL: it
 * would end up in logs and process listings (state_password_file). */
static writ_status parse_url(wr_redis_store *s, const char *spec, writ_error *err)
{
    const char *p = spec + (strncmp(spec, "rediss://", 9) == 0 ? 9 : 8), *start = spec;
    const char *at = strchr(p, '@');
    const char *slash = strchr(p, '/');
    if (at && (!slash || at < slash)) {
        size_t ul = (size_t)(at - p);
        if (memchr(p, ':', ul))
            return url_fail(err, spec, (size_t)(p - start),
                            "a password does not belong in the URL: put it in state_password_file");
        if (ul == 0 || ul >= sizeof s->user)
            return url_fail(err, spec, (size_t)(p - start), "user name must be 1..127 bytes");
        memcpy(s->user, p, ul);
        s->user[ul] = '\0';
        p = at + 1;
    }
    const char *hs = p, *he;
    if (*p == '[') {
        he = strchr(p, ']');
        if (!he)
            return url_fail(err, spec, (size_t)(p - start), "unclosed '[' of an IPv6 address");
        hs = p + 1;
        p = he + 1;
    } else {
        while (*p && *p != ':' && *p != '/')
            p++;
        he = p;
    }
    size_t hl = (size_t)(he - hs);
    if (hl == 0 || hl >= sizeof s->host)
        return url_fail(err, spec, (size_t)(hs - start), "host name must be 1..255 bytes");
    for (const char *q = hs; q < he; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '.' ||
              *q == '-' || *q == ':' || *q == '_'))
            return url_fail(err, spec, (size_t)(q - start), "unexpected character in the host");
    memcpy(s->host, hs, hl);
    s->host[hl] = '\0';
    s->port = 6379;
    if (*p == ':') {
        const char *ps = ++p;
        long v = 0;
        while (*p >= '0' && *p <= '9' && v <= 65535)
            v = v * 10 + (*p++ - '0');
        if (p == ps || v < 1 || v > 65535 || (*p && *p != '/'))
            return url_fail(err, spec, (size_t)(ps - start), "port must be 1..65535");
        s->port = (int)v;
    }
    if (*p == '/') {
        const char *ds = ++p;
        long v = 0;
        while (*p >= '0' && *p <= '9' && v <= 100000)
            v = v * 10 + (*p++ - '0');
        if (p == ds && !*p)
            return WRIT_OK; /* "redis://h:1/" */
        if (p == ds || v > 100000 || *p)
            return url_fail(err, spec, (size_t)(ds - start), "database must be a number (0..100000)");
        s->db = (int)v;
    }
    if (*p)
        return url_fail(err, spec, (size_t)(p - start), "unexpected text after the host");
    return WRIT_OK;
}

static writ_status read_password(wr_redis_store *s, const char *path, writ_error *err)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return rd_fail(err, WRIT_EIO, "cannot read state_password_file", strerror(errno));
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    size_t l = strcspn(buf, "\r\n");
    buf[l] = '\0';
    writ_status st = WRIT_OK;
    if (l == 0)
        st = rd_fail(err, WRIT_EINVAL, "state_password_file: the first line is empty", NULL);
    else if (l >= 512)
        st = rd_fail(err, WRIT_EINVAL, "state_password_file: the password is longer than 511 bytes", NULL);
    else if (!(s->password = wr_strndup(buf, l)))
        st = rd_fail(err, WRIT_ENOMEM, "out of memory", NULL);
    memset(buf, 0, sizeof buf);
    return st;
}

writ_status wr_redis_store_open(const char *spec, const wr_store_opts *o, wr_store **out, writ_error *err)
{
    *out = NULL;
    wr_redis_store *s = wr_calloc(1, sizeof *s);
    if (!s)
        return rd_fail(err, WRIT_ENOMEM, "out of memory", NULL);
    s->base.ops = &redis_ops;
    pthread_mutex_init(&s->mu, NULL);
    unsigned ms = o->timeout_ms ? o->timeout_ms : 2000;
    s->timeout.tv_sec = ms / 1000;
    s->timeout.tv_usec = (ms % 1000) * 1000;
    writ_status st = parse_url(s, spec, err);
    if (!st && o->password_file && *o->password_file)
        st = read_password(s, o->password_file, err);
    if (!st && strncmp(spec, "rediss://", 9) == 0)
        st = rd_tls_new(o->tls_ca, o->tls_cert, o->tls_key, &s->tls, err);
    if (st) {
        rd_close(&s->base);
        return st;
    }
    *out = &s->base;
    return WRIT_OK;
}
