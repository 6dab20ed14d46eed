/* revocations.c - the revocation set: an in-memory hash set in front of a
 * SQLite table.
 *
 * Every check is a lookup in an open-addressing hash table (linear probing,
 * load <= 1/2), so a verification costs a handful of lookups whatever the
 * number of revocations.  Writes go to SQLite first (WAL, synchronous=FULL),
 * then to memory: a revocation that was acknowledged survives a crash.  A
 * process that shares the file with others (the CLI, other replicas on one
 * host) picks their additions up with writ_revocations_refresh(), which reads
 * rows with an id above the last one seen.
 *
 * Replicas (revfeed.h): a set follows a shared store's revocation feed
 * from a thread; additions are published to the store first; a feed silent
 * for longer than stale_after makes every check fail closed.  A set opened
 * on a file and then following keeps that file as its local copy: what it
 * learns from the feed and what it takes itself is written there too, and
 * at start it puts back into the store every live revocation the copy
 * holds.  So a revocation survives the store losing its data even when
 * every replica was stopped at the time, as long as one replica's copy
 * does. */
#include "token/revocations.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "writ/token.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include <openssl/rand.h>
#include <sqlite3.h>

#define MAX_VALUE 2048

typedef struct rv_entry {
    uint64_t hash; /* 0 = empty slot */
    char *value;
    size_t len;
    int64_t until;
    uint8_t kind;
} rv_entry;

struct writ_revocations {
    pthread_rwlock_t lock;
    rv_entry *slots;
    size_t cap; /* power of two */
    size_t count;
    uint64_t seed;
    sqlite3 *db;
    sqlite3_int64 last_id;
    /* following a shared store (revfeed.h); feed NULL = not following */
    struct wr_store *feed;
    wr_revfeed_ops ops; /* the store's publish and follow (store/revfeed.c): libwrit links no store */
    pthread_t follower;
    bool follower_started;
    atomic_bool stop;
    atomic_llong last_ok_ms; /* CLOCK_MONOTONIC ms of the feed's last answer */
    int64_t stale_after_ms;
    char cursor[WR_REV_CURSOR_MAX];
    bool republish; /* the store lost what it held: put back what r knows (follower thread only) */
    const char *republish_why; /* for the log: a loss, or the local copy at start */
    /* db, when following: the local copy.  Writes to it are serialized by
     * dbmu, so that the follower's transaction never takes in another
     * thread's statement on the shared connection. */
    pthread_mutex_t dbmu;
    atomic_bool copy_stale; /* a write to the local copy failed: the follower writes it whole */
    /* when the follower next tries that, and how long it waited last: a copy
     * that cannot be written (a full disk) is tried again after 1 s, then
     * twice as long each time up to a minute, not at every step (follower
     * thread only) */
    int64_t copy_retry_ms, copy_backoff_ms;
    void (*log)(const char *msg);
};

int64_t wr_revocations_stale_ms(const writ_revocations *r)
{
    if (!r || !r->feed)
        return 0;
    int64_t silent = wr_mono_ms() - atomic_load_explicit(&r->last_ok_ms, memory_order_relaxed);
    return silent > r->stale_after_ms ? silent - r->stale_after_ms : 0;
}

const char *writ_revoke_kind_name(writ_revoke_kind k)
{
    switch (k) {
    case WRIT_REVOKE_JTI:
        return "token";
    case WRIT_REVOKE_SUBTREE:
        return "token subtree";
    case WRIT_REVOKE_TASK:
        return "task";
    case WRIT_REVOKE_AGENT:
        return "agent";
    }
    return "unknown";
}

static writ_status rv_err(writ_error *err, writ_status st, const char *what, const char *detail)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = st;
        snprintf(err->msg, sizeof err->msg, "revocations: %s%s%.150s", what, detail ? ": " : "",
                 detail ? detail : "");
    }
    return st;
}

static uint64_t rv_hash(const writ_revocations *r, int kind, const char *v, size_t n)
{
    uint64_t h = 1469598103934665603ull ^ r->seed;
    h = (h ^ (uint64_t)kind) * 1099511628211ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)v[i]) * 1099511628211ull;
    h ^= h >> 31;
    h *= 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
    return h ? h : 1;
}

static rv_entry *rv_find(const writ_revocations *r, uint64_t h, int kind, const char *v, size_t n)
{
    size_t mask = r->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        rv_entry *e = &r->slots[i];
        if (!e->hash)
            return NULL;
        if (e->hash == h && e->kind == kind && e->len == n && !memcmp(e->value, v, n))
            return e;
    }
}

static void rv_place(rv_entry *slots, size_t cap, rv_entry *e)
{
    size_t mask = cap - 1;
    size_t i = e->hash & mask;
    while (slots[i].hash)
        i = (i + 1) & mask;
    slots[i] = *e;
}

static bool rv_grow(writ_revocations *r)
{
    size_t cap = r->cap * 2;
    rv_entry *ns = wr_calloc(cap, sizeof *ns);
    if (!ns)
        return false;
    for (size_t i = 0; i < r->cap; i++)
        if (r->slots[i].hash)
            rv_place(ns, cap, &r->slots[i]);
    wr_free(r->slots);
    r->slots = ns;
    r->cap = cap;
    return true;
}

/* Caller holds the write lock.  1 when r changed (a new entry, or a later
 * end), 0 when it knew as much already, -1 out of memory. */
static int rv_insert(writ_revocations *r, int kind, const char *v, size_t n, int64_t until)
{
    uint64_t h = rv_hash(r, kind, v, n);
    rv_entry *e = rv_find(r, h, kind, v, n);
    if (e) {
        int64_t was = e->until;
        e->until = (e->until == 0 || until == 0) ? 0 : (until > e->until ? until : e->until);
        return e->until != was;
    }
    if ((r->count + 1) * 2 > r->cap && !rv_grow(r))
        return -1;
    rv_entry ne = {.hash = h, .len = n, .until = until, .kind = (uint8_t)kind};
    if (!(ne.value = wr_strndup(v, n)))
        return -1;
    rv_place(r->slots, r->cap, &ne);
    r->count++;
    return 1;
}

static const char schema[] = "PRAGMA journal_mode=WAL;"
                             "PRAGMA synchronous=FULL;"
                             "CREATE TABLE IF NOT EXISTS revocations("
                             "  id INTEGER PRIMARY KEY,"
                             "  kind INTEGER NOT NULL CHECK (kind BETWEEN 1 AND 4),"
                             "  value TEXT NOT NULL,"
                             "  until INTEGER NOT NULL DEFAULT 0,"
                             "  note TEXT,"
                             "  created INTEGER NOT NULL,"
                             "  UNIQUE(kind, value));";

static writ_status load_new(writ_revocations *r, writ_error *err)
{
    if (!r->db)
        return WRIT_OK;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(r->db, "SELECT id, kind, value, until FROM revocations WHERE id > ? ORDER BY id",
                           -1, &q, NULL) != SQLITE_OK)
        return rv_err(err, WRIT_EIO, "cannot read", sqlite3_errmsg(r->db));
    sqlite3_bind_int64(q, 1, r->last_id);
    writ_status st = WRIT_OK;
    int rc;
    pthread_rwlock_wrlock(&r->lock);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int kind = sqlite3_column_int(q, 1);
        const char *v = (const char *)sqlite3_column_text(q, 2);
        int n = sqlite3_column_bytes(q, 2);
        if (kind < 1 || kind > 4 || !v || n <= 0 || n > MAX_VALUE)
            continue; /* a foreign row: not ours to interpret */
        if (rv_insert(r, kind, v, (size_t)n, sqlite3_column_int64(q, 3)) < 0) {
            st = rv_err(err, WRIT_ENOMEM, "out of memory", NULL);
            break;
        }
        r->last_id = sqlite3_column_int64(q, 0);
    }
    pthread_rwlock_unlock(&r->lock);
    if (st == WRIT_OK && rc != SQLITE_DONE)
        st = rv_err(err, WRIT_EIO, "cannot read", sqlite3_errmsg(r->db));
    sqlite3_finalize(q);
    return st;
}

writ_status writ_revocations_open(const char *path, writ_revocations **out, writ_error *err)
{
    if (!out)
        return rv_err(err, WRIT_EINVAL, "out is NULL", NULL);
    *out = NULL;
    writ_revocations *r = wr_calloc(1, sizeof *r);
    if (!r)
        return rv_err(err, WRIT_ENOMEM, "out of memory", NULL);
    r->cap = 64;
    if (!(r->slots = wr_calloc(r->cap, sizeof *r->slots))) {
        wr_free(r);
        return rv_err(err, WRIT_ENOMEM, "out of memory", NULL);
    }
    if (RAND_bytes((unsigned char *)&r->seed, sizeof r->seed) != 1)
        r->seed = (uint64_t)time(NULL);
    pthread_rwlock_init(&r->lock, NULL);
    pthread_mutex_init(&r->dbmu, NULL);
    if (path) {
        char *emsg = NULL;
        /* the state holds who was revoked: 0600 like the audit log, also
         * when it is created here first (SQLite gives -wal and -shm the
         * database's mode).  Before SQLite opens it: closing a descriptor
         * on a file SQLite holds would drop SQLite's locks. */
        /* never open and close a descriptor on an existing file: another
         * SQLite connection of this process may hold it, and closing any
         * descriptor drops the process's POSIX locks on it, theirs too
         * (other connections then miss commits for a while) */
        struct stat sb;
        if (stat(path, &sb) != 0) {
            int fd = errno == ENOENT ? open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600) : -1;
            if (fd >= 0)
                close(fd); /* new: nobody else holds it */
        } else if (sb.st_mode & 077) {
            (void)chmod(path, 0600);
        }
        if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                            NULL) != SQLITE_OK) {
            writ_status st =
                rv_err(err, WRIT_EIO, "cannot open database", r->db ? sqlite3_errmsg(r->db) : path);
            writ_revocations_close(r);
            return st;
        }
        sqlite3_busy_timeout(r->db, 5000);
        if (sqlite3_exec(r->db, schema, NULL, NULL, &emsg) != SQLITE_OK) {
            writ_status st = rv_err(err, WRIT_EIO, "cannot create schema", emsg);
            sqlite3_free(emsg);
            writ_revocations_close(r);
            return st;
        }
        writ_status st = load_new(r, err);
        if (st != WRIT_OK) {
            writ_revocations_close(r);
            return st;
        }
    }
    *out = r;
    return WRIT_OK;
}

void writ_revocations_close(writ_revocations *r)
{
    if (!r)
        return;
    if (r->follower_started) {
        atomic_store(&r->stop, true);
        pthread_join(r->follower, NULL);
    }
    for (size_t i = 0; i < r->cap; i++)
        wr_free(r->slots[i].value);
    wr_free(r->slots);
    sqlite3_close(r->db);
    pthread_mutex_destroy(&r->dbmu);
    pthread_rwlock_destroy(&r->lock);
    wr_free(r);
}

static const char upsert_sql[] =
    "INSERT INTO revocations(kind, value, until, note, created) VALUES(?, ?, ?, ?, ?) "
    "ON CONFLICT(kind, value) DO UPDATE SET until = CASE WHEN excluded.until = 0 OR "
    "until = 0 THEN 0 ELSE max(until, excluded.until) END";

/* One row into r->db (caller holds dbmu when r follows a feed). */
static writ_status db_put(writ_revocations *r, int kind, const char *value, size_t len, int64_t until,
                          const char *note, writ_error *err)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(r->db, upsert_sql, -1, &q, NULL) != SQLITE_OK)
        return rv_err(err, WRIT_EIO, "cannot write", sqlite3_errmsg(r->db));
    sqlite3_bind_int(q, 1, kind);
    sqlite3_bind_text(q, 2, value, (int)len, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 3, until);
    if (note)
        sqlite3_bind_text(q, 4, note, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 5, (sqlite3_int64)time(NULL));
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? WRIT_OK : rv_err(err, WRIT_EIO, "cannot write", sqlite3_errmsg(r->db));
}

static void feed_log(writ_revocations *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

writ_status writ_revocations_add(writ_revocations *r, writ_revoke_kind kind, const char *value, size_t len,
                                 int64_t until, const char *note, writ_error *err)
{
    if (!r)
        return rv_err(err, WRIT_EINVAL, "no revocation set", NULL);
    if (kind < WRIT_REVOKE_JTI || kind > WRIT_REVOKE_AGENT)
        return rv_err(err, WRIT_EINVAL, "unknown kind", NULL);
    if (!value || len == 0 || len > MAX_VALUE || memchr(value, '\0', len))
        return rv_err(err, WRIT_EINVAL, "value must be 1..2048 bytes without NUL", NULL);
    if (until < 0)
        return rv_err(err, WRIT_EINVAL, "until must be >= 0", NULL);
    if (r->feed) {
        /* shared first: acknowledged means every replica will learn it.
         * When the store cannot take it, this replica still enforces it
         * and the caller hears that the others do not know.  The local
         * copy is a second line only: failing to write it is logged (and
         * the copy written whole later), not the caller's error. */
        writ_error ferr;
        writ_status fst = r->ops.publish(r->feed, (int)kind, value, len, until, &ferr);
        pthread_rwlock_wrlock(&r->lock);
        bool ok = rv_insert(r, (int)kind, value, len, until) >= 0;
        pthread_rwlock_unlock(&r->lock);
        if (r->db) {
            writ_error derr;
            pthread_mutex_lock(&r->dbmu);
            writ_status dst = db_put(r, (int)kind, value, len, until, note, &derr);
            pthread_mutex_unlock(&r->dbmu);
            if (dst) {
                feed_log(r, "state: a revocation could not be written to this replica's local copy: %s "
                            "(written whole at the next step)", derr.msg);
                r->copy_stale = true;
            }
        }
        if (fst)
            return rv_err(err, fst, "enforced on this replica only, not shared with the others", ferr.msg);
        if (!ok)
            return rv_err(err, WRIT_ENOMEM, "out of memory (the revocation is shared; restart to load it)",
                          NULL);
        return WRIT_OK;
    }
    if (r->db) {
        writ_status st = db_put(r, (int)kind, value, len, until, note, err);
        if (st)
            return st;
    }
    pthread_rwlock_wrlock(&r->lock);
    bool ok = rv_insert(r, (int)kind, value, len, until) >= 0;
    pthread_rwlock_unlock(&r->lock);
    if (!ok)
        return rv_err(err, WRIT_ENOMEM, "out of memory (the revocation is on disk; refresh to load it)",
                      NULL);
    return WRIT_OK;
}

bool writ_revocations_contains(const writ_revocations *r, writ_revoke_kind kind, const char *value,
                               size_t len)
{
    if (!r || !value)
        return false;
    if (r->feed && wr_revocations_stale_ms(r) > 0)
        return true; /* cannot know what the other replicas revoked: fail closed */
    writ_revocations *m = (writ_revocations *)r; /* the lock is not part of the value */
    uint64_t h = rv_hash(r, (int)kind, value, len);
    pthread_rwlock_rdlock(&m->lock);
    bool hit = rv_find(r, h, (int)kind, value, len) != NULL;
    pthread_rwlock_unlock(&m->lock);
    return hit;
}

size_t writ_revocations_count(const writ_revocations *r) { return r ? r->count : 0; }

writ_status writ_revocations_refresh(writ_revocations *r, writ_error *err)
{
    if (!r)
        return rv_err(err, WRIT_EINVAL, "no revocation set", NULL);
    /* following: the feed is the source, and the file r's own copy */
    return r->feed ? WRIT_OK : load_new(r, err);
}

writ_status writ_revocations_prune(writ_revocations *r, int64_t now, writ_error *err)
{
    if (!r)
        return rv_err(err, WRIT_EINVAL, "no revocation set", NULL);
    if (r->db) {
        sqlite3_stmt *q = NULL;
        pthread_mutex_lock(&r->dbmu);
        int rc = sqlite3_prepare_v2(r->db, "DELETE FROM revocations WHERE until != 0 AND until < ?", -1, &q,
                                    NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(q, 1, now);
            rc = sqlite3_step(q);
        }
        sqlite3_finalize(q);
        pthread_mutex_unlock(&r->dbmu);
        if (rc != SQLITE_DONE)
            return rv_err(err, WRIT_EIO, "cannot prune", sqlite3_errmsg(r->db));
    }
    pthread_rwlock_wrlock(&r->lock);
    rv_entry *ns = wr_calloc(r->cap, sizeof *ns);
    if (!ns) {
        pthread_rwlock_unlock(&r->lock);
        return rv_err(err, WRIT_ENOMEM, "out of memory", NULL);
    }
    size_t count = 0;
    for (size_t i = 0; i < r->cap; i++) {
        rv_entry *e = &r->slots[i];
        if (!e->hash)
            continue;
        if (e->until != 0 && e->until < now) {
            wr_free(e->value);
            continue;
        }
        rv_place(ns, r->cap, e);
        count++;
    }
    wr_free(r->slots);
    r->slots = ns;
    r->count = count;
    pthread_rwlock_unlock(&r->lock);
    return WRIT_OK;
}

/* ---- following a shared store */

/* What one step learned that r did not know, for the local copy. */
typedef struct learned {
    int kind;
    int64_t until;
    size_t len;
    char *value;
} learned;

typedef struct apply_ctx {
    writ_revocations *r;
    bool failed;
    size_t n;
    learned *new;
    size_t nnew, capnew;
} apply_ctx;

static bool apply_one(void *ud, int kind, const char *value, size_t len, int64_t until)
{
    apply_ctx *a = ud;
    if (len == 0 || len > MAX_VALUE || memchr(value, '\0', len))
        return true; /* not ours to interpret */
    pthread_rwlock_wrlock(&a->r->lock);
    int changed = rv_insert(a->r, kind, value, len, until);
    pthread_rwlock_unlock(&a->r->lock);
    if (changed < 0) {
        a->failed = true;
        return false;
    }
    a->n++;
    if (changed && a->r->db && !a->r->copy_stale) {
        if (a->nnew == a->capnew) {
            size_t cap = a->capnew ? a->capnew * 2 : 16;
            learned *g = wr_realloc(a->new, cap * sizeof *g);
            if (!g) {
                a->r->copy_stale = true; /* written whole at the end of the step */
                return true;
            }
            a->new = g;
            a->capnew = cap;
        }
        learned *l = &a->new[a->nnew];
        if (!(l->value = wr_strndup(value, len))) {
            a->r->copy_stale = true;
            return true;
        }
        l->kind = kind;
        l->until = until;
        l->len = len;
        a->nnew++;
    }
    return true;
}

/* Rows into the local copy, in one transaction. */
static writ_status copy_put(writ_revocations *r, const learned *l, size_t n, writ_error *err)
{
    if (!n)
        return WRIT_OK;
    pthread_mutex_lock(&r->dbmu);
    writ_status st = WRIT_OK;
    if (sqlite3_exec(r->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        st = rv_err(err, WRIT_EIO, "cannot write", sqlite3_errmsg(r->db));
    for (size_t i = 0; st == WRIT_OK && i < n; i++)
        st = db_put(r, l[i].kind, l[i].value, l[i].len, l[i].until, NULL, err);
    if (st == WRIT_OK && sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        st = rv_err(err, WRIT_EIO, "cannot write", sqlite3_errmsg(r->db));
    if (st != WRIT_OK)
        sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&r->dbmu);
    return st;
}

/* A copy of every live revocation r holds (taken under the read lock, so
 * that the slow part, the store or the disk, runs without it). */
static learned *live_copy(writ_revocations *r, size_t *n_out)
{
    int64_t now = (int64_t)time(NULL);
    pthread_rwlock_rdlock(&r->lock);
    size_t n = 0, cap = r->count;
    learned *copy = cap ? wr_calloc(cap, sizeof *copy) : NULL;
    bool ok = !cap || copy;
    for (size_t i = 0; ok && i < r->cap && n < cap; i++) {
        const rv_entry *e = &r->slots[i];
        if (!e->hash || (e->until != 0 && e->until < now))
            continue;
        copy[n] = (learned){.kind = e->kind, .until = e->until, .len = e->len};
        if (!(copy[n].value = wr_strndup(e->value, e->len)))
            ok = false;
        else
            n++;
    }
    pthread_rwlock_unlock(&r->lock);
    if (!ok) {
        for (size_t i = 0; i < n; i++)
            wr_free(copy[i].value);
        wr_free(copy);
        return NULL;
    }
    *n_out = n;
    return copy ? copy : wr_calloc(1, sizeof *copy);
}

static void learned_free(learned *l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        wr_free(l[i].value);
    wr_free(l);
}

static void feed_log(writ_revocations *r, const char *fmt, ...)
{
    if (!r->log)
        return;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->log(msg);
}

/* The store lost what it held (Redis restarted without its data, or was
 * flushed), or r starts on a local copy the store may not hold all of:
 * publish again every live revocation r knows.  Each replica running does
 * so, so the store comes to hold the union of what they know; publishing
 * one already there changes nothing.  Done from a copy, not under the
 * lock, so checks go on meanwhile.  When the store fails, r->republish
 * stays set and the next step tries again; r counts as fresh all the same
 * (it has what the store holds, and more). */
static void republish(writ_revocations *r)
{
    writ_error perr, *err = &perr;
    memset(&perr, 0, sizeof perr);
    size_t n = 0, put = 0;
    learned *copy = live_copy(r, &n);
    bool ok = copy != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        if (r->ops.publish(r->feed, copy[i].kind, copy[i].value, copy[i].len, copy[i].until, err))
            ok = false;
        else
            put++;
    }
    learned_free(copy, n);
    if (!ok) {
        if (!err->msg[0])
            rv_err(err, WRIT_ENOMEM, "out of memory while publishing revocations again", NULL);
        feed_log(r, "state: putting back the %zu revocations this replica knows (%s) failed after %zu: %s "
                    "(retried)", n, r->republish_why, put, err->msg);
        return;
    }
    feed_log(r, "state: put back the %zu revocations this replica knows (%s)", n, r->republish_why);
    r->republish = false;
}

/* The local copy written whole, after a write to it failed: at once the
 * first time, then with the back-off above.  Each failure is logged once,
 * with when it is tried next. */
#define COPY_BACKOFF_MIN_MS 1000
#define COPY_BACKOFF_MAX_MS 60000
static void copy_whole(writ_revocations *r)
{
    int64_t now = wr_mono_ms();
    if (now < r->copy_retry_ms)
        return;
    writ_error err;
    memset(&err, 0, sizeof err);
    size_t n = 0;
    learned *copy = live_copy(r, &n);
    writ_status st = copy ? copy_put(r, copy, n, &err) : rv_err(&err, WRIT_ENOMEM, "out of memory", NULL);
    learned_free(copy, n);
    if (st) {
        r->copy_backoff_ms = r->copy_backoff_ms ? r->copy_backoff_ms * 2 : COPY_BACKOFF_MIN_MS;
        if (r->copy_backoff_ms > COPY_BACKOFF_MAX_MS)
            r->copy_backoff_ms = COPY_BACKOFF_MAX_MS;
        r->copy_retry_ms = wr_mono_ms() + r->copy_backoff_ms;
        feed_log(r, "state: cannot write this replica's local copy of the revocations: %s (tried again in %lld ms)",
                 err.msg, (long long)r->copy_backoff_ms);
        return;
    }
    feed_log(r, "state: this replica's local copy of the revocations written whole again (%zu)", n);
    r->copy_stale = false;
    r->copy_backoff_ms = r->copy_retry_ms = 0;
}

/* One step: what is new (waiting up to wait_ms); the feed counts as heard
 * only when everything delivered was applied.  Then what r learned goes to
 * its local copy, and what the store lost is put back: after the freshness
 * is noted, so that putting back many (one round trip each) does not make
 * the checks fail closed meanwhile (and not before start-up is over:
 * put_back false). */
static bool feed_step(writ_revocations *r, int wait_ms, bool put_back, writ_error *err)
{
    apply_ctx a = {.r = r};
    bool lost = false;
    writ_status st = r->ops.follow(r->feed, r->cursor, wait_ms, apply_one, &a, &lost, err);
    if (st == WRIT_OK && a.failed)
        st = rv_err(err, WRIT_ENOMEM, "out of memory while applying revocations", NULL);
    if (st == WRIT_OK && lost) {
        r->republish = true;
        r->republish_why = "the shared store had lost its revocations: restarted empty or flushed?";
    }
    if (st == WRIT_OK)
        atomic_store_explicit(&r->last_ok_ms, wr_mono_ms(), memory_order_relaxed);
    if (a.nnew && !r->copy_stale) {
        writ_error cerr;
        if (copy_put(r, a.new, a.nnew, &cerr)) {
            feed_log(r, "state: cannot write %zu revocations to this replica's local copy: %s (retried)", a.nnew,
                     cerr.msg);
            r->copy_stale = true;
        }
    }
    learned_free(a.new, a.nnew);
    if (r->copy_stale)
        copy_whole(r);
    if (st == WRIT_OK && r->republish && put_back)
        republish(r);
    return st == WRIT_OK;
}

static void *follow_main(void *arg)
{
    writ_revocations *r = arg;
    bool down = false;
    int64_t down_since = 0;
    while (!atomic_load(&r->stop)) {
        writ_error err;
        memset(&err, 0, sizeof err);
        if (feed_step(r, 250, true, &err)) {
            if (down)
                feed_log(r, "state: revocation feed back after %lld ms; caught up (%zu revocations known)",
                         (long long)(wr_mono_ms() - down_since), writ_revocations_count(r));
            down = false;
            continue;
        }
        if (!down) {
            down = true;
            down_since = wr_mono_ms();
            feed_log(r, "state: revocation feed lost: %s (token-bearing requests fail closed after %lld s)",
                     err.msg, (long long)(r->stale_after_ms / 1000));
        }
        /* retry soon: a revocation must reach this replica within a second */
        nanosleep(&(struct timespec){0, 100000000}, NULL);
    }
    return NULL;
}

writ_status wr_revocations_follow_ops(writ_revocations *r, struct wr_store *st, const wr_revfeed_ops *ops,
                                      unsigned stale_after_s, void (*log)(const char *msg), writ_error *err)
{
    if (r->feed)
        return rv_err(err, WRIT_EINVAL, "a set follows one store", NULL);
    if (!ops || !ops->publish || !ops->follow)
        return rv_err(err, WRIT_EINVAL, "a feed needs publish and follow", NULL);
    r->ops = *ops;
    r->feed = st;
    r->log = log;
    r->stale_after_ms = (int64_t)(stale_after_s ? stale_after_s : 5) * 1000;
    r->cursor[0] = '\0';
    atomic_store(&r->last_ok_ms, wr_mono_ms() - r->stale_after_ms - 1); /* stale until the first load */
    if (r->count) {
        /* The local copy may hold what the store does not: a data loss
         * while every replica was stopped, or a revocation taken while
         * the store was down.  Put it back once the feed answers. */
        r->republish = true;
        r->republish_why = "from its local copy, at start";
    }
    writ_error ferr;
    memset(&ferr, 0, sizeof ferr);
    if (!feed_step(r, 0, false, &ferr)) /* the putting back: on the thread */
        feed_log(r,
                 "state: cannot load the revocations yet: %s (token-bearing requests fail closed until then)",
                 ferr.msg);
    if (pthread_create(&r->follower, NULL, follow_main, r) != 0) {
        r->feed = NULL;
        return rv_err(err, WRIT_EIO, "cannot start the follower thread", NULL);
    }
    r->follower_started = true;
    return WRIT_OK;
}
