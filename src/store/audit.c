/* audit.c - the audit log's writer: the queue, group commit, the chain and
 * its signed checkpoints (see audit.h).  Where the records go is a sink
 * (audit_sqlite.c, audit_pg.c); reading them back is audit_read.c.
 *
 * The queue is a list of waiters, each on its appender's stack or in its
 * group's array (the entry's strings stay valid while the appender waits,
 * so nothing is copied; submitted ones are copied to the heap).  The
 * head of the queue is the leader: it detaches nothing, writes the first
 * `batch` waiters (itself included) in one transaction, then, under the
 * mutex, marks them done with the result, unlinks them and wakes the next
 * head.  Only the leader touches the sink and the chain state, and there
 * is one leader at a time: whoever is at the head of the queue. */
#include "store/audit_int.h"
#include "util/alloc.h"
#include "util/text.h"
#include "util/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct waiter {
    struct waiter *next;
    const char *f[AUDIT_FIELDS];
    uint32_t len[AUDIT_FIELDS];
    int64_t time_ms;
    bool allow;
    bool done;
    writ_status st;
    pthread_cond_t *cv;  /* blocking appenders: where they wait (one for a group) */
    wr_audit_done_fn fn; /* submitted ones (heap, strings after the struct); NULL = blocking */
    void *arg;
} waiter;

typedef struct au_wake {
    void (*fn)(void *arg);
    void *arg;
} au_wake;

struct wr_audit {
    au_sink *sink;
    char *replica;
    EVP_MD_CTX *md;
    pthread_mutex_t mu;
    pthread_cond_t idle, nonfull, lead; /* lead: the head is a submitted record */
    waiter *first, *last;
    uint64_t nqueued;
    uint32_t batch, queue_max, every, delay_us;
    unsigned busy;     /* leaders between taking a batch and finishing its callbacks */
    size_t last_batch; /* records in the last batch committed */
    bool closing, stop;
    pthread_t thread; /* leads batches whose head was submitted */
    atomic_bool failing;
    atomic_uint_fast64_t written, failures;
    /* the signing key: a keyring of the signer's active key at open (or
     * the log's own), whatever later rotations do */
    writ_keyring *key;
    char kid[44];
    /* the leader's: committed chain state */
    uint64_t last_seq, cp_seq;
    unsigned char last_hash[32];
    char last_hex[65]; /* last_hash in hex: the first record of a batch's prev */
    /* the leader's: one batch's records and checkpoints, `batch` long */
    au_rec *recs;
    au_cp_text *cps;
    char (*hx)[65];      /* the batch's record hashes in hex */
    bool commit_here_ok; /* wr_audit_commit_here may commit on the caller's thread */
    au_wake wake[8];     /* wr_audit_busy's, called after the next transaction */
    unsigned nwake;
    unsigned waking; /* lead_batch calls to wake-ups in progress (outside the lock) */
    char *anchor;    /* opts.anchor (NULL: none) */
};

/* ---- keys */

/* Make sure the sink's checkpoint keys hold the public key of the
 * signing key. */
static writ_status publish_key(wr_audit *a, writ_error *err)
{
    char *pub = NULL;
    writ_status st = writ_keyring_jwks(a->key, &pub, NULL, NULL);
    if (st != WRIT_OK)
        return au_fail(err, st, "audit log: out of memory");
    json_t *set = json_loads(pub, 0, NULL);
    char *k = json_dumps(json_array_get(json_object_get(set, "keys"), 0), JSON_COMPACT);
    json_decref(set);
    writ_free_string(pub);
    st = k ? a->sink->ops->add_key(a->sink, a->kid, k, err)
           : au_fail(err, WRIT_ENOMEM, "audit log: out of memory");
    wr_json_free(k);
    return st;
}

/* The log's own key, when the server has no signing keyring: made once
 * (0600, linked into place so that two starts agree), then loaded. */
static writ_status own_key(au_sink *sink, writ_keyring **out, writ_error *err)
{
    char *file = sink->ops->sibling(sink, WR_AUDIT_KEY_FILE), *pem = NULL;
    writ_keyring *kr = writ_keyring_new();
    size_t len = 0;
    writ_status st = WRIT_ENOMEM;
    if (!file || !kr)
        goto out;
    char *text = au_slurp(file, 65536, &len);
    if (!text) {
        writ_keyring *gen = writ_keyring_new();
        size_t plen = 0;
        st = gen ? writ_keyring_generate(gen, WRIT_KEY_ES256, NULL, err) : WRIT_ENOMEM;
        if (st == WRIT_OK)
            st = writ_keyring_private_pem(gen, NULL, &pem, &plen, err);
        writ_keyring_free(gen);
        if (st != WRIT_OK)
            goto out;
        char *tmp = sink->ops->sibling(sink, WR_AUDIT_KEY_FILE ".new");
        int fd = tmp ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
        bool ok = fd >= 0 && write(fd, pem, plen) == (ssize_t)plen && fsync(fd) == 0;
        if (fd >= 0 && close(fd) != 0)
            ok = false;
        if (ok && link(tmp, file) != 0 && errno != EEXIST)
            ok = false;
        if (tmp)
            unlink(tmp);
        wr_free(tmp);
        if (!ok) {
            st = au_fail(err, WRIT_EIO, "audit log: cannot write its signing key %s: %s", file,
                         strerror(errno));
            goto out;
        }
        text = au_slurp(file, 65536, &len);
        if (!text) {
            st = au_fail(err, WRIT_EIO, "audit log: cannot read its signing key %s: %s", file,
                         strerror(errno));
            goto out;
        }
    }
    st = writ_keyring_add_pem(kr, text, len, true, NULL, err);
    memset(text, 0, len);
    wr_free(text);
out:
    if (pem) {
        memset(pem, 0, strlen(pem));
        writ_free_string(pem);
    }
    wr_free(file);
    if (st == WRIT_OK) {
        *out = kr;
        kr = NULL;
    } else if (st == WRIT_ENOMEM) {
        au_fail(err, st, "audit log: out of memory");
    }
    writ_keyring_free(kr);
    return st;
}

/* adopted: the first record this checkpoint signs that the server did not
 * write in this run (found unsigned at open, after a stop without a closing
 * checkpoint); 0 = none.  Said in the claims, so verify can tell. */
static writ_status sign_cp(wr_audit *a, uint64_t seq, const unsigned char h[32], int64_t t, uint64_t adopted,
                           char **jws)
{
    char hx[65];
    wr_hex(hx, h, 32);
    json_t *c = json_pack("{s:I,s:s,s:I}", "seq", (json_int_t)seq, "head", hx, "time_ms", (json_int_t)t);
    if (c && adopted && json_object_set_new(c, "adopted_from", json_integer((json_int_t)adopted)) != 0) {
        json_decref(c);
        c = NULL;
    }
    size_t len = 0;
    char *text = c ? json_dumps(c, JSON_COMPACT) : NULL;
    writ_status st =
        text ? writ_keyring_sign(a->key, CP_TYP, text, strlen(text), jws, &len, NULL) : WRIT_ENOMEM;
    wr_json_free(text);
    json_decref(c);
    return st;
}

/* ---- the anchor (wr_audit_opts.anchor)
 *
 * One line of JSON, {"seq":N,"head":"HEX"}: the last checkpoint this
 * server wrote.  Replaced whole (a temporary file renamed over it), so a
 * crash leaves the old one or the new one; fsynced at open and close, not
 * at the periodic checkpoints (an anchor a crash set back is only weaker,
 * never wrong). */
static void anchor_write(const wr_audit *a, uint64_t seq, const char *head_hex, bool sync)
{
    if (!a->anchor)
        return;
    size_t n = strlen(a->anchor);
    char *tmp = wr_malloc(n + 5);
    if (!tmp) {
        fprintf(stderr, "writ: audit log: anchor %s: out of memory\n", a->anchor);
        return;
    }
    memcpy(tmp, a->anchor, n);
    memcpy(tmp + n, ".tmp", 5);
    char line[128];
    int len = snprintf(line, sizeof line, "{\"seq\":%llu,\"head\":\"%s\"}\n", (unsigned long long)seq, head_hex);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write(fd, line, (size_t)len) == len && (!sync || fsync(fd) == 0);
    if (fd >= 0 && close(fd) != 0)
        ok = false;
    if (ok && rename(tmp, a->anchor) != 0)
        ok = false;
    if (!ok) {
        fprintf(stderr, "writ: audit log: anchor %s: cannot write it: %s\n", a->anchor, strerror(errno));
        unlink(tmp);
    }
    wr_free(tmp);
}

typedef struct anchor_ctx {
    uint64_t seq;
    unsigned char head[32];
    bool found, same;
} anchor_ctx;

static int anchor_rec(void *ctx, const au_rec *r)
{
    anchor_ctx *c = ctx;
    unsigned char h[32];
    c->found = r->row.seq == c->seq;
    c->same = c->found && au_unhex(r->row.hash, strlen(r->row.hash), h) == 0 && memcmp(h, c->head, 32) == 0;
    return 1;
}

/* At open, after the tail check: the log reaches the anchor's record and
 * holds it with the anchor's head.  No anchor file: nothing to check (a
 * first start; or one deleted along with the log, which this cannot tell). */
static writ_status anchor_check(wr_audit *a, const char *where, writ_error *err)
{
    if (!a->anchor)
        return WRIT_OK;
    FILE *f = fopen(a->anchor, "r");
    if (!f) {
        if (errno == ENOENT)
            return WRIT_OK;
        return au_fail(err, WRIT_EIO, "audit log: anchor %s: %s", a->anchor, strerror(errno));
    }
    char line[160] = "", hx[80] = "", extra = 0;
    unsigned long long seq = 0;
    bool got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    anchor_ctx c = {0};
    if (!got || sscanf(line, "{\"seq\":%llu,\"head\":\"%64[0-9a-f]\"}%c", &seq, hx, &extra) != 3 ||
        extra != '\n' || strlen(hx) != 64 || au_unhex(hx, 64, c.head) != 0)
        return au_fail(err, WRIT_EVALIDATE,
                       "audit log: anchor %s:1:1: not an anchor ({\"seq\":N,\"head\":\"64 hex digits\"}): "
                       "refusing to start (move it aside to start without the check)",
                       a->anchor);
    c.seq = (uint64_t)seq;
    if (a->last_seq < c.seq)
        return au_fail(err, WRIT_EVALIDATE,
                       "audit log %s: this server wrote checkpoint %llu (anchor %s), but the log ends at record "
                       "%llu: records were removed, checkpoints and all; refusing to append (the log is left as "
                       "it is, as evidence; to start on it anyway, move the anchor aside)",
                       where, seq, a->anchor, (unsigned long long)a->last_seq);
    writ_status st = a->sink->ops->records(a->sink, c.seq ? c.seq : 1, anchor_rec, &c, err);
    if (st)
        return st;
    if (c.seq && !c.same)
        return au_fail(err, WRIT_EVALIDATE,
                       "audit log %s: record %llu %s the head of checkpoint %llu this server wrote (anchor %s): "
                       "the log was rewritten; refusing to append (the log is left as it is, as evidence)",
                       where, seq, c.found ? "differs from" : "is missing, with", seq, a->anchor);
    return WRIT_OK;
}

/* A checkpoint of the committed head in a transaction of its own. */
static int checkpoint_now(wr_audit *a, uint64_t adopted)
{
    int64_t t = wr_wall_ms();
    char *jws = NULL, hx[65];
    if (sign_cp(a, a->last_seq, a->last_hash, t, adopted, &jws) != WRIT_OK) {
        fprintf(stderr, "writ: audit log: signing checkpoint %llu failed\n", (unsigned long long)a->last_seq);
        return -1;
    }
    wr_hex(hx, a->last_hash, 32);
    au_cp_text c = {.seq = a->last_seq, .head = hx, .time_ms = t, .jws = jws};
    int rc = a->sink->ops->write(a->sink, NULL, 0, &c, 1);
    wr_free(jws);
    if (rc != 0) {
        fprintf(stderr, "writ: audit log: checkpoint %llu failed\n", (unsigned long long)a->last_seq);
        return -1;
    }
    a->cp_seq = a->last_seq;
    anchor_write(a, a->last_seq, hx, true);
    /* a copy of the head outside the log (the server's log) */
    fprintf(stderr, "writ: audit log: checkpoint %llu signed, head %s\n", (unsigned long long)a->last_seq,
            hx);
    return 0;
}

/* ---- writing */

/* Chain the n waiters from w and hand them to the sink in one transaction;
 * 0 on success (chain state advanced).  A record whose seq is a multiple
 * of `every` gets its signed checkpoint in the same transaction. */
static int write_batch(wr_audit *a, const waiter *w, size_t n)
{
    uint64_t seq = a->last_seq, cp = a->cp_seq;
    unsigned char h[32];
    memcpy(h, a->last_hash, 32);
    size_t nc = 0;
    int rc = -1;
    /* the last waiter's next is not read: an appender may be setting it */
    for (size_t i = 0; i < n; i++, w = i < n ? w->next : NULL) {
        au_rec *r = &a->recs[i];
        unsigned char nh[32];
        for (int f = 0; f < AUDIT_FIELDS; f++)
            r->len[f] = w->len[f];
        if (au_record_hash(a->md, seq + 1, w->time_ms, w->allow, w->f, r->len, a->replica, h, nh) != 0)
            goto out;
        seq++;
        wr_hex(a->hx[i], nh, 32);
        memcpy(h, nh, 32);
        r->row = (wr_audit_row){.seq = seq,
                                .e = {.time_ms = w->time_ms,
                                      .agent = w->f[0],
                                      .chain = w->f[1],
                                      .task = w->f[2],
                                      .action = w->f[3],
                                      .resource = w->f[4],
                                      .allow = w->allow,
                                      .policies = w->f[5],
                                      .errors = w->f[6],
                                      .shadow = w->f[7]},
                                .prev = i ? a->hx[i - 1] : a->last_hex,
                                .hash = a->hx[i],
                                .replica = a->replica};
        if (seq % a->every == 0) {
            au_cp_text *c = &a->cps[nc];
            *c = (au_cp_text){.seq = seq, .head = a->hx[i], .time_ms = wr_wall_ms()};
            char *jws = NULL;
            if (sign_cp(a, seq, h, c->time_ms, 0, &jws) != WRIT_OK) {
                fprintf(stderr, "writ: audit log: signing checkpoint %llu failed\n", (unsigned long long)seq);
                goto out;
            }
            c->jws = jws;
            nc++;
            cp = seq;
        }
    }
    int wr = a->sink->ops->write(a->sink, a->recs, n, a->cps, nc);
    if (wr == 1) { /* dropped (a full spool that drops): the chain goes on from where it was */
        rc = 0;
        goto out;
    }
    if (wr != 0)
        goto out;
    a->last_seq = seq;
    a->cp_seq = cp;
    memcpy(a->last_hash, h, 32);
    memcpy(a->last_hex, a->hx[n - 1], 65);
    if (nc)
        anchor_write(a, a->cps[nc - 1].seq, a->cps[nc - 1].head, false);
    rc = 0;
out:
    for (size_t i = 0; i < nc; i++)
        wr_free((char *)a->cps[i].jws);
    return rc;
}

/* ---- opening */

typedef struct tail_ctx {
    const wr_jwks *ks;
    cp_row cp;
    bool have, bad;
    char why[300];
    EVP_MD_CTX *md;
    unsigned char prev[32];
    uint64_t expect, from, bad_seq;
    bool head_ok;
} tail_ctx;

static int tail_cp(void *ctx, const au_cp_text *c)
{
    tail_ctx *t = ctx;
    t->have = true;
    t->cp.seq = c->seq;
    if (au_check_cp(t->ks, c, &t->cp, t->why, sizeof t->why) != 0)
        t->bad = true;
    return 1;
}

static int tail_rec(void *ctx, const au_rec *r)
{
    tail_ctx *t = ctx;
    if (t->from && !t->head_ok) {
        /* the checkpoint's own record: its hash is the signed head */
        if (r->row.seq != t->from || au_unhex(r->row.hash, strlen(r->row.hash), t->prev) != 0 ||
            memcmp(t->prev, t->cp.head, 32) != 0) {
            t->bad = true;
            return 1;
        }
        t->head_ok = true;
        t->expect = t->from + 1;
        return 0;
    }
    if (au_check_row(t->md, r, t->expect, t->prev, t->why, sizeof t->why) != 0) {
        t->bad = true;
        t->bad_seq = r->row.seq;
        return 1;
    }
    t->expect++;
    return 0;
}

/* At open: the last checkpoint verifies, the record it names is there with
 * its head, and the chain after it is whole to the last record.  Anything
 * else refuses the log (WRIT_EVALIDATE), which is left untouched. */
static writ_status check_tail(wr_audit *a, const char *where, uint64_t nrec, bool *fresh, writ_error *err)
{
    wr_jwks ks = {0};
    tail_ctx t = {.ks = &ks, .md = a->md, .expect = 1};
    *fresh = false;
    writ_status st = a->sink->ops->checkpoints(a->sink, true, tail_cp, &t, err);
    if (st)
        goto out;
    if (!t.have) {
        /* new only when the log did not exist before this open: an
         * existing log always holds checkpoint 0 */
        if (nrec == 0 && !a->sink->existed) {
            *fresh = true;
            goto out;
        }
        st = au_fail(
            err, WRIT_EVALIDATE,
            "audit log %s: %llu records but no signed checkpoint (emptied or its checkpoints removed, or "
            "written by a Writ without checkpoints): refusing to append to it; it is left as it is: check it "
            "with `writ audit verify`, keep it, and start on a new log",
            where, (unsigned long long)nrec);
        goto out;
    }
    if ((st = a->sink->ops->load_keys(a->sink, &ks, err)) != WRIT_OK)
        goto out;
    t.have = t.bad = false;
    if ((st = a->sink->ops->checkpoints(a->sink, true, tail_cp, &t, err)))
        goto out;
    if (t.bad) {
        st = au_fail(err, WRIT_EVALIDATE, "audit log %s: checkpoint %llu: %s: refusing to append to it",
                     where, (unsigned long long)t.cp.seq, t.why);
        goto out;
    }
    char when[32];
    au_fmt_time(t.cp.time_ms, when);
    if (t.cp.seq > a->last_seq) {
        st = au_fail(
            err, WRIT_EVALIDATE,
            "audit log %s: it ends at record %llu but checkpoint %llu (signed %s) covers records up to %llu: "
            "records were removed from the end; refusing to append (the log is left as it is, as evidence)",
            where, (unsigned long long)a->last_seq, (unsigned long long)t.cp.seq, when,
            (unsigned long long)t.cp.seq);
        goto out;
    }
    /* the chain from the checkpoint's record to the end */
    t.from = t.cp.seq;
    if ((st = a->sink->ops->records(a->sink, t.from ? t.from : 1, tail_rec, &t, err)))
        goto out;
    if (t.from && !t.head_ok && !t.bad)
        t.bad = true; /* the checkpoint's record is missing */
    if (t.bad && !t.bad_seq) {
        st = au_fail(
            err, WRIT_EVALIDATE,
            "audit log %s: record %llu is missing or differs from checkpoint %llu (signed %s): the log "
            "was rewritten; refusing to append (the log is left as it is, as evidence)",
            where, (unsigned long long)t.from, (unsigned long long)t.from, when);
        goto out;
    }
    if (t.bad) {
        st = au_fail(
            err, WRIT_EVALIDATE,
            "audit log %s: record %llu after checkpoint %llu: %s; refusing to append (the log is left as "
            "it is, as evidence)",
            where, (unsigned long long)t.bad_seq, (unsigned long long)t.from, t.why);
        goto out;
    }
    if (t.expect - 1 != a->last_seq || memcmp(t.prev, a->last_hash, 32) != 0) {
        st = au_fail(err, WRIT_EVALIDATE,
                     "audit log %s: the chain after checkpoint %llu does not end at the head", where,
                     (unsigned long long)t.from);
        goto out;
    }
    a->cp_seq = t.cp.seq;
out:
    wr_jwks_clear(&ks);
    return st;
}

static void free_audit(wr_audit *a)
{
    EVP_MD_CTX_free(a->md);
    writ_keyring_free(a->key);
    if (a->sink)
        a->sink->ops->close(a->sink);
    wr_free(a->recs);
    wr_free(a->cps);
    wr_free(a->hx);
    wr_free(a->replica);
    wr_free(a->anchor);
    wr_free(a);
}

static void *leader_thread(void *arg);

writ_status wr_audit_open(const char *path, const wr_audit_opts *o, wr_audit **out, writ_error *err)
{
    *out = NULL;
    static const wr_audit_opts none = {0};
    if (!o)
        o = &none;
    wr_audit *a = wr_calloc(1, sizeof *a);
    writ_keyring *own = NULL;
    writ_status st = WRIT_OK;
    if (!a || !(a->replica = au_strdup(o->replica ? o->replica : ""))) {
        st = au_fail(err, WRIT_ENOMEM, "audit log: out of memory");
        goto bad;
    }
    a->batch = o->batch ? o->batch : 1024;
    a->queue_max = o->queue_max ? o->queue_max : 65536;
    a->every = o->checkpoint_every ? o->checkpoint_every : 1000;
    a->delay_us = o->commit_delay_us > 100000 ? 100000 : o->commit_delay_us;
    a->commit_here_ok = !o->fsync && !au_is_pg(path);
    if (o->anchor && !(a->anchor = au_strdup(o->anchor))) {
        st = au_fail(err, WRIT_ENOMEM, "audit log: out of memory");
        goto bad;
    }
    if (!(a->recs = wr_calloc(a->batch, sizeof *a->recs)) ||
        !(a->cps = wr_calloc(a->batch, sizeof *a->cps)) || !(a->hx = wr_calloc(a->batch, sizeof *a->hx)) ||
        !(a->md = EVP_MD_CTX_new())) {
        st = au_fail(err, WRIT_ENOMEM, "audit log: out of memory");
        goto bad;
    }
    if (au_is_pg(path)) {
        au_sink *pg = NULL;
        au_spool *q = NULL;
        /* the spool first: a replica refused its spool (another process
         * holds it) leaves nothing in the database */
        if (!o->spool)
            st = au_fail(err, WRIT_EINVAL, "audit log: a PostgreSQL sink needs a spool file");
        else if ((st = au_spool_file_open(o->spool, &q, err)) == WRIT_OK &&
                 (st = au_pg_open(path, a->replica, true, o->key_dir, &pg, err)) != WRIT_OK)
            au_spool_file_close(q);
        else if (st == WRIT_OK)
            st = au_spool_wrap(pg, q, o->spool_max, o->spool_drop, &a->sink, err);
    } else {
        st = au_sqlite_open(path, o->keys_file, true, o->fsync, &a->sink, err);
    }
    if (st)
        goto bad;

    if (!o->signer)
        st = own_key(a->sink, &own, err);
    if (st == WRIT_OK && !(a->key = writ_keyring_copy_active(o->signer ? o->signer : own))) {
        st = o->signer && !writ_keyring_count(o->signer)
                 ? au_fail(err, WRIT_EINVAL,
                           "audit log: the signing keyring is empty: no key to sign checkpoints")
                 : au_fail(err, WRIT_ENOMEM, "audit log: out of memory");
    }
    if (st != WRIT_OK)
        goto bad;
    snprintf(a->kid, sizeof a->kid, "%s", writ_keyring_active_kid(a->key));
    writ_keyring_free(own);
    own = NULL;

    /* The public key goes into the keys first: the tail check reads the
     * keys from there, and verify needs every key that ever signed. */
    uint64_t nrec = 0;
    char last[65];
    bool fresh = false;
    if ((st = publish_key(a, err)) || (st = a->sink->ops->last(a->sink, &nrec, &a->last_seq, last, err)))
        goto bad;
    if (nrec && au_unhex(last, strlen(last), a->last_hash) != 0) {
        st = au_fail(err, WRIT_EVALIDATE,
                     "audit log: the last record (%llu) has a malformed hash; refusing to append",
                     (unsigned long long)a->last_seq);
        goto bad;
    }
    if ((st = check_tail(a, path, nrec, &fresh, err)) || (st = anchor_check(a, path, err)))
        goto bad;
    /* A new log starts with checkpoint 0, so that an emptied one shows; a
     * tail past the last checkpoint (after a crash) is signed now that it
     * has been checked. */
    if ((fresh || a->last_seq != a->cp_seq) && checkpoint_now(a, fresh ? 0 : a->cp_seq + 1) != 0) {
        st = au_fail(err, WRIT_EIO, "audit log: writing a checkpoint failed");
        goto bad;
    }
    wr_hex(a->last_hex, a->last_hash, 32);
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->idle, NULL);
    pthread_cond_init(&a->nonfull, NULL);
    pthread_cond_init(&a->lead, NULL);
    if (pthread_create(&a->thread, NULL, leader_thread, a) != 0) {
        pthread_mutex_destroy(&a->mu);
        pthread_cond_destroy(&a->idle);
        pthread_cond_destroy(&a->nonfull);
        pthread_cond_destroy(&a->lead);
        st = au_fail(err, WRIT_ENOMEM, "audit log: cannot start its thread");
        goto bad;
    }
    *out = a;
    return WRIT_OK;
bad:
    writ_keyring_free(own);
    if (a)
        free_audit(a);
    return st;
}

/* Wake whoever leads next: the head's appender, or the thread for a
 * submitted head.  Mutex held. */
static void next_leader(wr_audit *a)
{
    if (!a->first)
        pthread_cond_broadcast(&a->idle);
    else if (a->first->fn)
        pthread_cond_signal(&a->lead);
    else
        pthread_cond_signal(a->first->cv);
}

/* Lead one batch from the head h (mutex held on entry and on return):
 * write it outside the mutex (its waiters stay linked and wait), then mark
 * them done, unlink them, wake the next leader, and call the callbacks of
 * submitted records outside the mutex. */
static void lead_batch(wr_audit *a, waiter *h)
{
    size_t n = 1;
    for (const waiter *x = h; x->next && n < a->batch; x = x->next)
        n++;
    a->busy++;
    a->last_batch = n;
    pthread_mutex_unlock(&a->mu);
    /* On failure the chain state stays what this process committed (a
     * transaction that failed changed nothing); rows someone else put in
     * the file meanwhile are not adopted: they make the next writes fail
     * (seq taken), which denies, rather than be signed. */
    bool ok = write_batch(a, h, n) == 0;
    atomic_store(&a->failing, !ok);
    atomic_fetch_add(ok ? &a->written : &a->failures, n);
    writ_status st = ok ? WRIT_OK : WRIT_EIO;
    pthread_mutex_lock(&a->mu);
    waiter *x = h, *cbs = NULL, **tail = &cbs;
    for (size_t i = 0; i < n; i++) {
        waiter *nx = x->next;
        x->st = st;
        x->done = true;
        if (x->fn) {
            *tail = x;
            tail = &x->next;
        } else if (x != h) {
            pthread_cond_signal(x->cv);
        }
        x = nx;
    }
    *tail = NULL;
    a->first = x;
    if (!x)
        a->last = NULL;
    a->nqueued -= n;
    pthread_cond_broadcast(&a->nonfull);
    next_leader(a);
    unsigned nw = a->nwake;
    au_wake wake[sizeof a->wake / sizeof a->wake[0]];
    memcpy(wake, a->wake, nw * sizeof wake[0]);
    a->nwake = 0;
    a->waking += nw > 0;
    if (cbs || nw) {
        pthread_mutex_unlock(&a->mu);
        while (cbs) {
            waiter *nx = cbs->next;
            cbs->fn(cbs->arg, st);
            wr_free(cbs);
            cbs = nx;
        }
        for (unsigned i = 0; i < nw; i++)
            wake[i].fn(wake[i].arg);
        pthread_mutex_lock(&a->mu);
        if (nw && --a->waking == 0)
            pthread_cond_broadcast(&a->idle);
    }
    if (--a->busy == 0 && !a->first)
        pthread_cond_broadcast(&a->idle);
}

/* Queue w (mutex held); false when the log is closing. */
static bool enqueue(wr_audit *a, waiter *w)
{
    while (a->nqueued >= a->queue_max && !a->closing)
        pthread_cond_wait(&a->nonfull, &a->mu);
    if (a->closing)
        return false;
    if (a->last)
        a->last->next = w;
    else
        a->first = w;
    a->last = w;
    a->nqueued++;
    if (a->first == w && w->fn)
        pthread_cond_signal(&a->lead);
    return true;
}

static void *leader_thread(void *arg)
{
    wr_audit *a = arg;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (!(a->first && a->first->fn && !a->first->done) && !a->stop) {
            if (!a->sink->ops->tick) {
                pthread_cond_wait(&a->lead, &a->mu);
                continue;
            }
            /* a sink with work of its own (shipping its spool) gets a
             * tick when no batch came for 200 ms */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 200 * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            if (pthread_cond_timedwait(&a->lead, &a->mu, &until) == ETIMEDOUT && !a->first && !a->stop) {
                pthread_mutex_unlock(&a->mu);
                a->sink->ops->tick(a->sink);
                pthread_mutex_lock(&a->mu);
            }
        }
        if (!(a->first && a->first->fn))
            break; /* stop, nothing submitted at the head */
        /* Gather only when there is company: another record queued
         * behind the head, or the last batch held more than one.  A lone
         * client (one record per commit, nothing else in flight) would
         * only wait delay_us for nobody; under load the batches grow and
         * the wait comes back. */
        bool company = a->nqueued > 1 || a->last_batch > 1;
        if (a->delay_us && company && a->nqueued < 16 && !a->stop) {
            /* gather: the workers keep deciding meanwhile (they do not
             * wait for the commit), so more records share it */
            pthread_mutex_unlock(&a->mu);
            nanosleep(&(struct timespec){0, (long)a->delay_us * 1000}, NULL);
            pthread_mutex_lock(&a->mu);
            if (!(a->first && a->first->fn && !a->first->done))
                continue;
        }
        lead_batch(a, a->first);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

bool wr_audit_busy(wr_audit *a, void (*wake)(void *arg), void *arg)
{
    pthread_mutex_lock(&a->mu);
    /* a->first: a transaction is being written (its waiters stay queued
     * until it is over) or queued; the lead_batch that ends it calls us */
    bool busy = a->first && !a->closing && a->nwake < sizeof a->wake / sizeof a->wake[0];
    if (busy) {
        a->wake[a->nwake].fn = wake;
        a->wake[a->nwake].arg = arg;
        a->nwake++;
    }
    pthread_mutex_unlock(&a->mu);
    return busy;
}

void wr_audit_busy_cancel(wr_audit *a, void *arg)
{
    pthread_mutex_lock(&a->mu);
    unsigned k = 0;
    for (unsigned i = 0; i < a->nwake; i++)
        if (a->wake[i].arg != arg)
            a->wake[k++] = a->wake[i];
    a->nwake = k;
    /* and none taken before is still being called */
    while (a->waking)
        pthread_cond_wait(&a->idle, &a->mu);
    pthread_mutex_unlock(&a->mu);
}

/* The entry's fields, "" for NULL; WRIT_ELIMIT when one is too long. */
static writ_status fields(const wr_audit_entry *e, const char **f, uint32_t *len, size_t *total)
{
    const char *src[AUDIT_FIELDS] = {e->agent,    e->chain,    e->task,   e->action,
                                     e->resource, e->policies, e->errors, e->shadow};
    *total = 0;
    for (int i = 0; i < AUDIT_FIELDS; i++) {
        f[i] = src[i] ? src[i] : "";
        size_t n = strlen(f[i]);
        if (n > UINT32_MAX / 2)
            return WRIT_ELIMIT;
        len[i] = (uint32_t)n;
        *total += n + 1;
    }
    return WRIT_OK;
}

writ_status wr_audit_append(wr_audit *a, const wr_audit_entry *e)
{
    writ_status st = WRIT_EIO;
    writ_status rc = wr_audit_append_many(a, e, 1, &st);
    return rc ? rc : st;
}

/* The waiters of a group, kept per thread and grown as needed: a server's
 * worker calls this after every pass, and an allocation of a few KiB each
 * time would make malloc consolidate its small free chunks each time
 * (which the decisions' many small allocations then pay for).  A thread
 * has one group in flight at a time: a callback of a submitted record run
 * by this thread while it leads must not append a group (none does). */
static pthread_key_t group_key;
static pthread_once_t group_once = PTHREAD_ONCE_INIT;
static bool group_key_ok;

typedef struct group_buf {
    size_t cap;
    waiter w[];
} group_buf;

static void group_key_make(void) { group_key_ok = pthread_key_create(&group_key, wr_free) == 0; }

static waiter *group_array(size_t n)
{
    pthread_once(&group_once, group_key_make);
    if (!group_key_ok)
        return NULL;
    group_buf *g = pthread_getspecific(group_key);
    if (g && g->cap >= n)
        return g->w;
    size_t cap = n < 64 ? 64 : n;
    group_buf *ng = wr_malloc(sizeof *ng + cap * sizeof(waiter));
    if (!ng || pthread_setspecific(group_key, ng) != 0) {
        wr_free(ng);
        return NULL;
    }
    wr_free(g);
    ng->cap = cap;
    return ng->w;
}

/* A group: n waiters queued together, in order, that this thread waits
 * for on one condition and leads whenever one of them is at the head. */
writ_status wr_audit_append_many(wr_audit *a, const wr_audit_entry *e, size_t n, writ_status *st)
{
    waiter one, *w = n == 1 ? &one : group_array(n);
    if (!w)
        return WRIT_ENOMEM;
    memset(w, 0, n * sizeof *w);
    pthread_cond_t cv;
    if (pthread_cond_init(&cv, NULL) != 0)
        return WRIT_ENOMEM;
    size_t total, m = 0;
    /* entries too long are refused alone; the others are queued */
    for (size_t i = 0; i < n; i++) {
        st[i] = WRIT_ELIMIT;
        if (fields(&e[i], w[i].f, w[i].len, &total) != WRIT_OK)
            continue;
        w[i].time_ms = e[i].time_ms ? e[i].time_ms : wr_wall_ms();
        w[i].allow = e[i].allow;
        w[i].st = WRIT_EIO;
        w[i].cv = &cv;
        m++;
    }
    writ_status rc = WRIT_OK;
    pthread_mutex_lock(&a->mu);
    /* the whole group at once (a group larger than the queue only into an
     * empty one), so that it never waits for room behind its own head */
    while (a->nqueued && a->nqueued + m > a->queue_max && !a->closing)
        pthread_cond_wait(&a->nonfull, &a->mu);
    if (a->closing) {
        rc = WRIT_EIO;
        for (size_t i = 0; i < n; i++)
            if (w[i].cv)
                st[i] = WRIT_EIO;
        m = 0;
    }
    waiter *lastw = NULL;
    for (size_t i = 0; i < n && m; i++) {
        if (!w[i].cv)
            continue;
        if (a->last)
            a->last->next = &w[i];
        else
            a->first = &w[i];
        a->last = lastw = &w[i];
        a->nqueued++;
    }
    /* lead whenever the head is one of ours; otherwise wait to be woken
     * (as the next leader, or when the last of ours is done) */
    while (lastw && !lastw->done) {
        waiter *h = a->first;
        if (h && h >= w && h < w + n && !h->done)
            lead_batch(a, h);
        else
            pthread_cond_wait(&cv, &a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    for (size_t i = 0; i < n; i++)
        if (w[i].cv && lastw)
            st[i] = w[i].st;
    pthread_cond_destroy(&cv);
    return rc;
}

writ_status wr_audit_submit(wr_audit *a, const wr_audit_entry *e, wr_audit_done_fn fn, void *arg)
{
    const char *f[AUDIT_FIELDS];
    uint32_t len[AUDIT_FIELDS];
    size_t total;
    if (!fn || fields(e, f, len, &total) != WRIT_OK)
        return fn ? WRIT_ELIMIT : WRIT_EINVAL;
    waiter *w = wr_calloc(1, sizeof *w + total);
    if (!w)
        return WRIT_ENOMEM;
    char *p = (char *)(w + 1);
    for (int i = 0; i < AUDIT_FIELDS; i++) {
        memcpy(p, f[i], len[i] + 1);
        w->f[i] = p;
        w->len[i] = len[i];
        p += len[i] + 1;
    }
    w->time_ms = e->time_ms ? e->time_ms : wr_wall_ms();
    w->allow = e->allow;
    w->st = WRIT_EIO;
    w->fn = fn;
    w->arg = arg;
    pthread_mutex_lock(&a->mu);
    bool ok = enqueue(a, w);
    pthread_mutex_unlock(&a->mu);
    if (!ok) {
        wr_free(w);
        return WRIT_EIO;
    }
    return WRIT_OK;
}

void wr_audit_flush(wr_audit *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    while (a->first || a->busy)
        pthread_cond_wait(&a->idle, &a->mu);
    pthread_mutex_unlock(&a->mu);
}

void wr_audit_close(wr_audit *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->closing = true;
    pthread_cond_broadcast(&a->nonfull);
    while (a->first || a->busy)
        pthread_cond_wait(&a->idle, &a->mu);
    a->stop = true;
    pthread_cond_broadcast(&a->lead);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    if (a->last_seq != a->cp_seq) {
        if (checkpoint_now(a, 0) != 0)
            fprintf(stderr, "writ: audit log: the closing checkpoint (record %llu) could not be written\n",
                    (unsigned long long)a->last_seq);
    } else {
        /* the head was signed in its own transaction (seq a multiple of
         * checkpoint_every): the server's log still gets its copy */
        char hx[65];
        wr_hex(hx, a->last_hash, 32);
        fprintf(stderr, "writ: audit log: checkpoint %llu signed, head %s\n", (unsigned long long)a->last_seq,
                hx);
    }
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->idle);
    pthread_cond_destroy(&a->nonfull);
    pthread_cond_destroy(&a->lead);
    free_audit(a);
}

uint64_t wr_audit_queued(wr_audit *a)
{
    pthread_mutex_lock(&a->mu);
    uint64_t n = a->nqueued;
    pthread_mutex_unlock(&a->mu);
    return n;
}

uint64_t wr_audit_written(wr_audit *a) { return atomic_load(&a->written); }
uint64_t wr_audit_failures(wr_audit *a) { return atomic_load(&a->failures); }
bool wr_audit_failing(wr_audit *a) { return atomic_load(&a->failing); }

uint64_t wr_audit_spooled(wr_audit *a) { return a->sink->ops->spooled ? a->sink->ops->spooled(a->sink) : 0; }

uint64_t wr_audit_dropped(wr_audit *a) { return a->sink->ops->dropped ? a->sink->ops->dropped(a->sink) : 0; }

/* The idle log's shortcut (see audit.h): the caller becomes the leader of a
 * batch of one, as a blocking appender at the head does, but only when
 * nobody is queued or would join: no record waiting, and the last batch
 * was a lone record too (under concurrency the batches grow and records go
 * through the log's thread and its gather, as submitted).  The waiter is
 * never waited on (lead_batch signals only the waiters behind the head),
 * so it needs no condition variable. */
bool wr_audit_commit_here(wr_audit *a, const wr_audit_entry *e, writ_status *st)
{
    if (!a->commit_here_ok)
        return false;
    waiter w;
    memset(&w, 0, sizeof w);
    size_t total;
    if (fields(e, w.f, w.len, &total) != WRIT_OK)
        return false; /* the queued path reports it */
    w.time_ms = e->time_ms ? e->time_ms : wr_wall_ms();
    w.allow = e->allow;
    w.st = WRIT_EIO;
    pthread_mutex_lock(&a->mu);
    if (a->first || a->closing || a->last_batch > 1 || !enqueue(a, &w)) {
        pthread_mutex_unlock(&a->mu);
        return false;
    }
    lead_batch(a, &w);
    *st = w.st;
    pthread_mutex_unlock(&a->mu);
    return true;
}
