/* audit_spool.c - the local spool of the PostgreSQL audit sink: batches the
 * database could not take, on local disk, in order.
 *
 * The writer has already chained and signed what it hands the sink (seq,
 * prev, hash, checkpoints), so a batch that waits in the spool is shipped
 * later exactly as it would have been written: the chain in the database
 * comes out the same, and verify passes.  An append is fdatasync'ed before
 * it returns, so a decision answered while the database is down has its
 * record on disk.  While the spool holds anything, new batches go behind
 * it (order), and shipping starts from its oldest batch.
 *
 * File: entries of  "WAS1" u32be(len) payload[len] sha256(payload)[0..8].
 * payload: u32be(n) u32be(nc), n records of
 *   u64 seq, i64 time_ms, u8 allow, 8 fields, prev[64], hash[64], replica
 * (a field: u32be(len) bytes), then nc checkpoints of
 *   u64 seq, i64 time_ms, head[64], jws.
 * The shipped position is kept in memory only: after a restart the spool
 * is shipped from its start, and a batch already in the database is known
 * by its last record (audit_pg.c treats it as committed). */
#include "store/audit_int.h"
#include "util/alloc.h"
#include "util/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ENTRY_MAX (256u << 20)

struct au_spool {
    int fd;
    char *path;
    off_t end, rd;       /* valid end of the file; the oldest unshipped entry */
    uint64_t records;    /* records in [rd, end) */
    uint64_t rd_records; /* records of the entry at rd (known after a peek) */
};

static void be32(unsigned char *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t rd64(const unsigned char *p) { return (uint64_t)rd32(p) << 32 | rd32(p + 4); }

typedef struct enc {
    unsigned char *p;
    size_t len, cap;
    bool bad;
} enc;

static void put(enc *e, const void *s, size_t n)
{
    if (e->bad)
        return;
    if (e->len + n > e->cap) {
        size_t nc = e->cap ? e->cap : 4096;
        while (nc < e->len + n)
            nc *= 2;
        unsigned char *np = nc <= ENTRY_MAX ? wr_realloc(e->p, nc) : NULL;
        if (!np) {
            e->bad = true;
            return;
        }
        e->p = np;
        e->cap = nc;
    }
    memcpy(e->p + e->len, s, n);
    e->len += n;
}

static void put32(enc *e, uint32_t v)
{
    unsigned char b[4];
    be32(b, v);
    put(e, b, 4);
}

static void put64(enc *e, uint64_t v)
{
    put32(e, (uint32_t)(v >> 32));
    put32(e, (uint32_t)v);
}

static void putstr(enc *e, const char *s, size_t n)
{
    put32(e, (uint32_t)n);
    put(e, s, n);
}

static int digest8(const unsigned char *p, size_t n, unsigned char out[8])
{
    unsigned char h[32];
    unsigned int hl = 0;
    if (EVP_Digest(p, n, h, &hl, EVP_sha256(), NULL) != 1)
        return -1;
    memcpy(out, h, 8);
    return 0;
}

int au_spool_append(au_spool *q, const au_rec *r, size_t n, const au_cp_text *c, size_t nc)
{
    enc e = {0};
    put(&e, "WAS1\0\0\0\0", 8); /* length filled in below */
    put32(&e, (uint32_t)n);
    put32(&e, (uint32_t)nc);
    for (size_t i = 0; i < n; i++) {
        const wr_audit_row *w = &r[i].row;
        const char *f[AUDIT_FIELDS] = {w->e.agent,    w->e.chain,    w->e.task,   w->e.action,
                                       w->e.resource, w->e.policies, w->e.errors, w->e.shadow};
        put64(&e, w->seq);
        put64(&e, (uint64_t)w->e.time_ms);
        put(&e, w->e.allow ? "\1" : "\0", 1);
        for (int k = 0; k < AUDIT_FIELDS; k++)
            putstr(&e, f[k], r[i].len[k]);
        put(&e, w->prev, 64);
        put(&e, w->hash, 64);
        putstr(&e, w->replica ? w->replica : "", w->replica ? strlen(w->replica) : 0);
    }
    for (size_t i = 0; i < nc; i++) {
        put64(&e, c[i].seq);
        put64(&e, (uint64_t)c[i].time_ms);
        put(&e, c[i].head, 64);
        putstr(&e, c[i].jws, strlen(c[i].jws));
    }
    unsigned char d[8];
    int rc = -1;
    if (e.bad || digest8(e.p + 8, e.len - 8, d) != 0) {
        errno = ENOMEM;
        goto out;
    }
    be32(e.p + 4, (uint32_t)(e.len - 8));
    put(&e, d, 8);
    if (e.bad) {
        errno = ENOMEM;
        goto out;
    }
    size_t off = 0;
    while (off < e.len) {
        ssize_t w = pwrite(q->fd, e.p + off, e.len - off, q->end + (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto out;
        off += (size_t)w;
    }
    if (fdatasync(q->fd) != 0)
        goto out;
    q->end += (off_t)e.len;
    q->records += n;
    rc = 0;
out:
    wr_free(e.p);
    return rc;
}

/* Read the entry at off: its payload (caller frees) and total size; 0, or
 * -1 when there is no whole, intact entry there. */
static int read_entry(au_spool *q, off_t off, off_t end, unsigned char **pay, uint32_t *len)
{
    unsigned char h[8];
    if (end - off < 16 || pread(q->fd, h, 8, off) != 8 || memcmp(h, "WAS1", 4) != 0)
        return -1;
    uint32_t n = rd32(h + 4);
    if (n < 8 || n > ENTRY_MAX || (off_t)n + 16 > end - off)
        return -1;
    unsigned char *p = wr_malloc((size_t)n + 8), d[8];
    if (!p || pread(q->fd, p, (size_t)n + 8, off + 8) != (ssize_t)n + 8 || digest8(p, n, d) != 0 ||
        memcmp(d, p + n, 8) != 0) {
        wr_free(p);
        return -1;
    }
    *pay = p;
    *len = n;
    return 0;
}

writ_status au_spool_file_open(const char *path, au_spool **out, writ_error *err)
{
    *out = NULL;
    au_spool *q = wr_calloc(1, sizeof *q);
    if (!q || !(q->path = au_strdup(path))) {
        wr_free(q);
        return au_fail(err, WRIT_ENOMEM, "audit spool: out of memory");
    }
    q->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    struct stat sb;
    if (q->fd < 0 || fstat(q->fd, &sb) != 0) {
        writ_status st = au_fail(err, WRIT_EIO, "audit spool %s: %s", path, strerror(errno));
        au_spool_file_close(q);
        return st;
    }
    /* one process per spool: two appending to one file overwrite each
     * other's acknowledged batches */
    if (flock(q->fd, LOCK_EX | LOCK_NB) != 0) {
        writ_status st =
            errno == EWOULDBLOCK
                ? au_fail(err, WRIT_EDUP,
                          "audit spool %s is in use by another writ serve (two replicas with one state_dir?): "
                          "give each replica its own",
                          path)
                : au_fail(err, WRIT_EIO, "audit spool %s: %s", path, strerror(errno));
        au_spool_file_close(q);
        return st;
    }
    /* count what is whole; cut a torn tail */
    off_t off = 0;
    for (;;) {
        unsigned char *p = NULL;
        uint32_t n = 0;
        if (read_entry(q, off, sb.st_size, &p, &n) != 0)
            break;
        q->records += rd32(p);
        wr_free(p);
        off += (off_t)n + 16;
    }
    unsigned char h[8];
    if (off != sb.st_size && sb.st_size - off >= 16 && pread(q->fd, h, 8, off) == 8 &&
        !memcmp(h, "WAS1", 4) && off + (off_t)rd32(h + 4) + 16 < sb.st_size) {
        /* a whole entry that does not check, with more after it: not a torn
         * append but damage; the records after it were acknowledged */
        writ_status st =
            au_fail(err, WRIT_EVALIDATE,
                    "audit spool %s: the batch at byte %lld is damaged (its checksum fails) and more "
                    "follow: refusing to use the spool (it is left as it is)",
                    path, (long long)off);
        au_spool_file_close(q);
        return st;
    }
    if (off != sb.st_size) {
        fprintf(stderr,
                "writ: audit spool %s: %lld bytes at its end are not a whole batch (an append cut by a "
                "crash, never acknowledged): removed\n",
                path, (long long)(sb.st_size - off));
        if (ftruncate(q->fd, off) != 0 || fsync(q->fd) != 0) {
            writ_status st = au_fail(err, WRIT_EIO, "audit spool %s: %s", path, strerror(errno));
            au_spool_file_close(q);
            return st;
        }
    }
    q->end = off;
    *out = q;
    return WRIT_OK;
}

uint64_t au_spool_records(const au_spool *q) { return q->records; }

bool au_spool_empty(const au_spool *q) { return q->rd >= q->end; }

void au_batch_free(au_batch *b)
{
    wr_free(b->r);
    wr_free(b->c);
    wr_free(b->buf);
    memset(b, 0, sizeof *b);
}

/* Decoding: every length checked against the payload. */
typedef struct dec {
    unsigned char *p;
    size_t len, at;
    bool bad;
} dec;

static const unsigned char *take(dec *d, size_t n)
{
    if (d->bad || d->len - d->at < n) {
        d->bad = true;
        return NULL;
    }
    const unsigned char *p = d->p + d->at;
    d->at += n;
    return p;
}

static uint64_t take64(dec *d)
{
    const unsigned char *p = take(d, 8);
    return p ? rd64(p) : 0;
}

/* A string field, NUL-terminated in place: each field is followed by the
 * next length or fixed field, so the terminator goes into a copy. */
static const char *takestr(dec *d, size_t *len, unsigned char **arena)
{
    const unsigned char *l = take(d, 4);
    uint32_t n = l ? rd32(l) : 0;
    const unsigned char *p = take(d, n);
    if (!p)
        return "";
    char *s = (char *)*arena;
    memcpy(s, p, n);
    s[n] = '\0';
    *arena += n + 1;
    if (len)
        *len = n;
    return s;
}

static const char *takefix(dec *d, size_t n, unsigned char **arena)
{
    const unsigned char *p = take(d, n);
    if (!p)
        return "";
    char *s = (char *)*arena;
    memcpy(s, p, n);
    s[n] = '\0';
    *arena += n + 1;
    return s;
}

int au_spool_peek(au_spool *q, au_batch *b)
{
    memset(b, 0, sizeof *b);
    if (au_spool_empty(q))
        return 0;
    unsigned char *p = NULL;
    uint32_t len = 0;
    if (read_entry(q, q->rd, q->end, &p, &len) != 0)
        return -1;
    dec d = {.p = p, .len = len};
    uint32_t n = rd32(p), nc = rd32(p + 4);
    d.at = 8;
    /* every string copied with a terminator: at most len + (fields) bytes */
    size_t fields = (size_t)n * (AUDIT_FIELDS + 3) + (size_t)nc * 2;
    if (n > len / 16 + 1 || nc > len / 16 + 1 || !(b->buf = wr_malloc((size_t)len + fields + 1)) ||
        (n && !(b->r = wr_calloc(n, sizeof *b->r))) || (nc && !(b->c = wr_calloc(nc, sizeof *b->c)))) {
        wr_free(p);
        au_batch_free(b);
        return -1;
    }
    unsigned char *arena = b->buf;
    for (uint32_t i = 0; i < n; i++) {
        au_rec *r = &b->r[i];
        wr_audit_row *w = &r->row;
        w->seq = take64(&d);
        w->e.time_ms = (int64_t)take64(&d);
        const unsigned char *a = take(&d, 1);
        w->e.allow = a && *a;
        const char **f[AUDIT_FIELDS] = {&w->e.agent,    &w->e.chain,    &w->e.task,   &w->e.action,
                                        &w->e.resource, &w->e.policies, &w->e.errors, &w->e.shadow};
        for (int k = 0; k < AUDIT_FIELDS; k++)
            *f[k] = takestr(&d, &r->len[k], &arena);
        w->prev = takefix(&d, 64, &arena);
        w->hash = takefix(&d, 64, &arena);
        w->replica = takestr(&d, NULL, &arena);
    }
    for (uint32_t i = 0; i < nc; i++) {
        au_cp_text *c = &b->c[i];
        c->seq = take64(&d);
        c->time_ms = (int64_t)take64(&d);
        c->head = takefix(&d, 64, &arena);
        c->jws = takestr(&d, NULL, &arena);
    }
    wr_free(p);
    if (d.bad || d.at != d.len) {
        au_batch_free(b);
        return -1;
    }
    b->n = n;
    b->nc = nc;
    q->rd_records = n;
    return 1;
}

int au_spool_pop(au_spool *q)
{
    unsigned char h[8];
    if (au_spool_empty(q) || pread(q->fd, h, 8, q->rd) != 8)
        return -1;
    q->rd += (off_t)rd32(h + 4) + 16;
    q->records -= q->records >= q->rd_records ? q->rd_records : q->records;
    q->rd_records = 0;
    if (q->rd >= q->end) {
        /* all shipped: start over */
        if (ftruncate(q->fd, 0) != 0 || fsync(q->fd) != 0)
            return -1;
        q->rd = q->end = 0;
        q->records = 0;
    }
    return 0;
}

void au_spool_file_close(au_spool *q)
{
    if (!q)
        return;
    if (q->fd >= 0)
        close(q->fd);
    wr_free(q->path);
    wr_free(q);
}

/* ---- the sink that spools */

typedef struct sp_sink {
    au_sink base;
    au_sink *inner;
    au_spool *q;
    uint64_t max, dropped;
    bool drop;
    int64_t retry_ms; /* do not try inner before this (monotonic ms) while it fails */
    bool refused;     /* inner refused the oldest spooled batch (-2): it cannot ship */
    pthread_mutex_t mu;
} sp_sink;

#define RETRY_MS 250

/* Ship up to `most` spooled batches; 0 when the spool is empty after. */
static int ship(sp_sink *p, int most)
{
    while (!au_spool_empty(p->q) && most-- > 0) {
        if (wr_mono_ms() < p->retry_ms)
            return -1;
        au_batch b;
        int k = au_spool_peek(p->q, &b);
        if (k < 0) {
            fprintf(stderr, "writ: audit spool: a batch cannot be read back\n");
            p->retry_ms = wr_mono_ms() + RETRY_MS;
            return -1;
        }
        int rc = p->inner->ops->write(p->inner, b.r, b.n, b.c, b.nc);
        au_batch_free(&b);
        if (rc == -2 && !p->refused)
            fprintf(stderr, "writ: audit spool: the database refuses the oldest spooled batch: nothing is "
                            "spooled behind it, decisions are denied until it ships\n");
        p->refused = rc == -2;
        if (rc != 0) {
            p->retry_ms = wr_mono_ms() + RETRY_MS;
            return -1;
        }
        if (au_spool_pop(p->q) != 0)
            return -1;
        if (au_spool_empty(p->q))
            fprintf(stderr, "writ: audit spool: shipped; the database has every record again\n");
    }
    return au_spool_empty(p->q) ? 0 : -1;
}

static int sp_write(au_sink *s, const au_rec *r, size_t n, const au_cp_text *c, size_t nc)
{
    sp_sink *p = (sp_sink *)s;
    pthread_mutex_lock(&p->mu);
    int rc = -1;
    if (ship(p, 16) == 0 && wr_mono_ms() >= p->retry_ms) {
        rc = p->inner->ops->write(p->inner, r, n, c, nc);
        /* refused (-2), not an outage: the spool would never ship it */
        if (rc == 0 || rc == -2) {
            rc = rc ? -1 : 0;
            goto out;
        }
    } else if (p->refused) {
        goto out; /* behind a batch the database refuses: could never ship */
    }
    if (au_spool_empty(p->q))
        p->retry_ms = wr_mono_ms() + RETRY_MS;
    if (au_spool_records(p->q) + n > p->max) {
        if (p->drop) {
            p->dropped += n;
            rc = 1;
        } else {
            rc = -1;
        }
        goto out;
    }
    bool first = au_spool_empty(p->q);
    rc = au_spool_append(p->q, r, n, c, nc) == 0 ? 0 : -1;
    if (rc)
        fprintf(stderr, "writ: audit spool: append failed: %s\n", strerror(errno));
    else if (first)
        fprintf(stderr, "writ: audit spool: the database does not take records: spooling them on disk\n");
out:
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static void sp_tick(au_sink *s)
{
    sp_sink *p = (sp_sink *)s;
    pthread_mutex_lock(&p->mu);
    ship(p, 64);
    pthread_mutex_unlock(&p->mu);
}

static uint64_t sp_spooled(au_sink *s)
{
    sp_sink *p = (sp_sink *)s;
    pthread_mutex_lock(&p->mu);
    uint64_t n = au_spool_records(p->q);
    pthread_mutex_unlock(&p->mu);
    return n;
}

static uint64_t sp_dropped(au_sink *s)
{
    sp_sink *p = (sp_sink *)s;
    pthread_mutex_lock(&p->mu);
    uint64_t n = p->dropped;
    pthread_mutex_unlock(&p->mu);
    return n;
}

static writ_status sp_last(au_sink *s, uint64_t *count, uint64_t *seq, char hash[65], writ_error *err)
{
    sp_sink *p = (sp_sink *)s;
    return p->inner->ops->last(p->inner, count, seq, hash, err);
}

static writ_status sp_checkpoints(au_sink *s, bool last_only, au_cp_fn fn, void *ctx, writ_error *err)
{
    sp_sink *p = (sp_sink *)s;
    return p->inner->ops->checkpoints(p->inner, last_only, fn, ctx, err);
}

static writ_status sp_records(au_sink *s, uint64_t from, au_rec_fn fn, void *ctx, writ_error *err)
{
    sp_sink *p = (sp_sink *)s;
    return p->inner->ops->records(p->inner, from, fn, ctx, err);
}

static writ_status sp_load_keys(au_sink *s, wr_jwks *ks, writ_error *err)
{
    sp_sink *p = (sp_sink *)s;
    return p->inner->ops->load_keys(p->inner, ks, err);
}

static writ_status sp_add_key(au_sink *s, const char *kid, const char *jwk, writ_error *err)
{
    sp_sink *p = (sp_sink *)s;
    return p->inner->ops->add_key(p->inner, kid, jwk, err);
}

static char *sp_sibling(au_sink *s, const char *name)
{
    sp_sink *p = (sp_sink *)s;
    return p->inner->ops->sibling(p->inner, name);
}

/* At close: a last try to ship (about 5 s); what stays is shipped at the
 * next start. */
static void sp_close(au_sink *s)
{
    sp_sink *p = (sp_sink *)s;
    int64_t until = wr_mono_ms() + 5000;
    while (!au_spool_empty(p->q) && wr_mono_ms() < until) {
        p->retry_ms = 0;
        if (ship(p, 1 << 30) == 0)
            break;
        nanosleep(&(struct timespec){0, 250 * 1000000L}, NULL);
    }
    if (!au_spool_empty(p->q))
        fprintf(stderr, "writ: audit spool: %llu records stay on disk; they are shipped at the next start\n",
                (unsigned long long)au_spool_records(p->q));
    p->inner->ops->close(p->inner);
    au_spool_file_close(p->q);
    pthread_mutex_destroy(&p->mu);
    wr_free(p);
}

static const au_sink_ops sp_ops = {
    .write = sp_write,
    .last = sp_last,
    .checkpoints = sp_checkpoints,
    .records = sp_records,
    .load_keys = sp_load_keys,
    .add_key = sp_add_key,
    .close = sp_close,
    .sibling = sp_sibling,
    .tick = sp_tick,
    .spooled = sp_spooled,
    .dropped = sp_dropped,
};

writ_status au_spool_wrap(au_sink *inner, au_spool *q, uint32_t max, bool drop, au_sink **out,
                          writ_error *err)
{
    *out = NULL;
    sp_sink *p = wr_calloc(1, sizeof *p);
    if (!p) {
        inner->ops->close(inner);
        au_spool_file_close(q);
        return au_fail(err, WRIT_ENOMEM, "audit spool: out of memory");
    }
    writ_status st = WRIT_OK;
    p->q = q;
    p->base.ops = &sp_ops;
    p->base.existed = inner->existed;
    p->inner = inner;
    p->max = max ? max : 100000;
    p->drop = drop;
    pthread_mutex_init(&p->mu, NULL);
    if (!au_spool_empty(p->q)) {
        fprintf(stderr, "writ: audit spool: %llu records left by the last run: shipping them first\n",
                (unsigned long long)au_spool_records(p->q));
        if (ship(p, 1 << 30) != 0) {
            st = au_fail(
                err, WRIT_EIO,
                "audit spool %s: %llu records from the last run could not be shipped to the database; "
                "refusing to start (they stay in the spool)",
                q->path, (unsigned long long)au_spool_records(p->q));
            sp_close(&p->base);
            return st;
        }
    }
    *out = &p->base;
    return WRIT_OK;
}
