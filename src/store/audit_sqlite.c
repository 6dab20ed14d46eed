/* audit_sqlite.c - the audit log's SQLite sink: one chain in one database
 * file (WAL), its checkpoint keys in a JWKS file next to it. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "store/audit_int.h"
#include "util/alloc.h"
#include "util/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Records go in with one INSERT of as many rows as the batch has (up to
 * AUDIT_ROWS; a statement per row count, prepared when first needed): one
 * statement to run per batch rather than one per record.  Each row binds
 * 13 parameters; the replica's name, the same in every row, is ?1 (bound
 * once). */
#define AUDIT_ROWS 32
#define AUDIT_COLS 13
typedef struct sq_sink {
    au_sink base;
    sqlite3 *db;
    sqlite3_stmt *ins[AUDIT_ROWS + 1]; /* ins[k]: k rows; NULL until first used */
    sqlite3_stmt *cp, *begin, *commit;
    char *replica;      /* what ?1 of the inserts holds (NULL: not bound yet) */
    sqlite3_stmt *hold; /* a read kept open between transactions (see hold_read) */
    bool holding;
    unsigned no_hold; /* transactions to run without it (another writer was seen) */
    int wal_frames;   /* frames in the WAL after the last commit */
    /* the writer's connection: sq_write (the leader of a batch) and
     * sq_tick (the log's thread, when no batch came for a while) */
    pthread_mutex_t mu;
    bool mu_ok;
    uint64_t writes, writes_seen; /* transactions, and as the last tick saw them */
    char *path, *keys_file;
    bool shadow_col, replica_col;
    bool fsync; /* synchronous=FULL (else NORMAL), for the checkpointer's connection too */
    /* the checkpointer (see "Checkpoints off the commit path"); ck_mu
     * guards ck_state and ck_stop */
    pthread_mutex_t ck_mu;
    pthread_cond_t ck_cv;
    pthread_t ck_thread;
    sqlite3 *ck_db;
    enum { CK_OFF, CK_IDLE, CK_WANTED, CK_DONE } ck_state; /* CK_OFF: inline, as SQLite would */
    bool ck_sync_ok, ck_thread_ok, ck_stop;
    int ck_copied;     /* frames in the database after the checkpointer's last round */
    int ck_rounds;     /* the checkpointer's rounds in this cycle */
    int64_t ck_end_ms; /* when the last cycle ended (wr_mono_ms) */
} sq_sink;

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS audit ("
    " seq INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, agent TEXT NOT NULL, chain TEXT NOT NULL,"
    " task TEXT NOT NULL, action TEXT NOT NULL, resource TEXT NOT NULL, decision TEXT NOT NULL,"
    " policies TEXT NOT NULL, errors TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL,"
    " shadow TEXT NOT NULL DEFAULT '', replica TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE IF NOT EXISTS audit_checkpoint (seq INTEGER PRIMARY KEY, head TEXT NOT NULL,"
    " time_ms INTEGER NOT NULL, jws TEXT NOT NULL);";

static const char ins_cols[] =
    "INSERT INTO audit (seq, time_ms, agent, chain, task, action, resource, decision,"
    " policies, errors, prev, hash, shadow, replica) VALUES ";

static writ_status db_fail(writ_error *err, sqlite3 *db, const char *what)
{
    return au_fail(err, WRIT_EIO, "audit log: %s: %s", what, db ? sqlite3_errmsg(db) : "cannot open");
}

static bool has_column(sqlite3 *db, const char *col)
{
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT %s FROM audit LIMIT 0", col);
    sqlite3_stmt *q = NULL;
    bool yes = sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK;
    sqlite3_finalize(q);
    return yes;
}

/* ---- writing */

/* Row j of an INSERT: parameters 2 + j * AUDIT_COLS on, in column order. */
static void bind_record(sqlite3_stmt *s, int j, const au_rec *r)
{
    const wr_audit_row *w = &r->row;
    int p = 2 + j * AUDIT_COLS;
    sqlite3_bind_int64(s, p, (sqlite3_int64)w->seq);
    sqlite3_bind_int64(s, p + 1, w->e.time_ms);
    sqlite3_bind_text(s, p + 2, w->e.agent, (int)r->len[0], SQLITE_STATIC);
    sqlite3_bind_text(s, p + 3, w->e.chain, (int)r->len[1], SQLITE_STATIC);
    sqlite3_bind_text(s, p + 4, w->e.task, (int)r->len[2], SQLITE_STATIC);
    sqlite3_bind_text(s, p + 5, w->e.action, (int)r->len[3], SQLITE_STATIC);
    sqlite3_bind_text(s, p + 6, w->e.resource, (int)r->len[4], SQLITE_STATIC);
    sqlite3_bind_text(s, p + 7, w->e.allow ? "allow" : "deny", w->e.allow ? 5 : 4, SQLITE_STATIC);
    sqlite3_bind_text(s, p + 8, w->e.policies, (int)r->len[5], SQLITE_STATIC);
    sqlite3_bind_text(s, p + 9, w->e.errors, (int)r->len[6], SQLITE_STATIC);
    sqlite3_bind_text(s, p + 10, w->prev, 64, SQLITE_STATIC);
    sqlite3_bind_text(s, p + 11, w->hash, 64, SQLITE_STATIC);
    sqlite3_bind_text(s, p + 12, w->e.shadow, (int)r->len[7], SQLITE_STATIC);
}

/* The INSERT of k rows, prepared (with the replica bound) on first use. */
static sqlite3_stmt *insert_of(sq_sink *q, size_t k)
{
    if (q->ins[k])
        return q->ins[k];
    char buf[32 + sizeof ins_cols + AUDIT_ROWS * (AUDIT_COLS * 5 + 8)];
    size_t n = (size_t)snprintf(buf, sizeof buf, "%s", ins_cols);
    for (size_t j = 0; j < k && n < sizeof buf; j++) {
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s(", j ? "," : "");
        for (int c = 0; c < AUDIT_COLS && n < sizeof buf; c++)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "?%d,", 2 + (int)j * AUDIT_COLS + c);
        if (n < sizeof buf)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "?1)");
    }
    if (n >= sizeof buf ||
        sqlite3_prepare_v3(q->db, buf, -1, SQLITE_PREPARE_PERSISTENT, &q->ins[k], NULL) != SQLITE_OK) {
        sqlite3_finalize(q->ins[k]);
        q->ins[k] = NULL;
        return NULL;
    }
    sqlite3_bind_text(q->ins[k], 1, q->replica, -1, SQLITE_STATIC);
    return q->ins[k];
}

/* ?1 of every insert: the replica of these records (the writer's, the
 * same for every batch; changed only if it ever differs).  0 or -1. */
static int bind_replica(sq_sink *q, const char *replica)
{
    if (!replica)
        replica = "";
    if (q->replica && (q->replica == replica || !strcmp(q->replica, replica)))
        return 0;
    char *c = au_strdup(replica);
    if (!c)
        return -1;
    for (size_t k = 1; k <= AUDIT_ROWS; k++)
        if (q->ins[k])
            sqlite3_bind_text(q->ins[k], 1, c, -1, SQLITE_STATIC);
    wr_free(q->replica);
    q->replica = c;
    return 0;
}

/* How many of the records from r on go into the next INSERT: up to
 * AUDIT_ROWS, all of one replica. */
static size_t run_of(const au_rec *r, size_t n)
{
    size_t k = 1;
    const char *rep = r[0].row.replica ? r[0].row.replica : "";
    for (; k < n && k < AUDIT_ROWS; k++) {
        const char *x = r[k].row.replica ? r[k].row.replica : "";
        if (x != rep && strcmp(x, rep))
            break;
    }
    return k;
}

static int insert_cp(sq_sink *q, const au_cp_text *c)
{
    sqlite3_bind_int64(q->cp, 1, (sqlite3_int64)c->seq);
    sqlite3_bind_text(q->cp, 2, c->head, 64, SQLITE_STATIC);
    sqlite3_bind_int64(q->cp, 3, c->time_ms);
    sqlite3_bind_text(q->cp, 4, c->jws, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q->cp);
    sqlite3_reset(q->cp);
    sqlite3_clear_bindings(q->cp);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* The records (one INSERT per AUDIT_ROWS of them), then the checkpoints,
 * in one transaction.  A batch that one INSERT holds, without a
 * checkpoint, is that statement alone: SQLite makes a lone statement a
 * transaction of its own (the same locks, the same commit, and all or
 * nothing), so BEGIN and COMMIT would add two statements and nothing
 * else.  SQLITE_OK, or the failing code with nothing stored (its message
 * in why). */
static int write_txn(sq_sink *q, const au_rec *r, size_t n, const au_cp_text *c, size_t nc, char *why,
                     size_t whylen)
{
    bool one = nc == 0 && n > 0 && run_of(r, n) == n;
    int rc = SQLITE_OK;
    if (!one) {
        rc = sqlite3_step(q->begin);
        sqlite3_reset(q->begin);
        if (rc != SQLITE_DONE)
            goto bad;
    }
    for (size_t i = 0; i < n;) {
        size_t k = run_of(r + i, n - i);
        sqlite3_stmt *st = bind_replica(q, r[i].row.replica) == 0 ? insert_of(q, k) : NULL;
        if (!st) {
            rc = SQLITE_NOMEM;
            goto bad;
        }
        for (size_t j = 0; j < k; j++)
            bind_record(st, (int)j, &r[i + j]);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            goto bad;
        i += k;
    }
    if (one)
        return SQLITE_OK;
    for (size_t i = 0; i < nc; i++)
        if (insert_cp(q, &c[i]) != 0) {
            rc = SQLITE_ERROR;
            goto bad;
        }
    rc = sqlite3_step(q->commit);
    sqlite3_reset(q->commit);
    if (rc != SQLITE_DONE)
        goto bad;
    return SQLITE_OK;
bad:
    rc = sqlite3_extended_errcode(q->db);
    snprintf(why, whylen, "%s", sqlite3_errmsg(q->db));
    /* a lone statement that failed has rolled itself back */
    if (!sqlite3_get_autocommit(q->db))
        sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
    return rc != SQLITE_OK ? rc : SQLITE_ERROR;
}

/* The read kept open between transactions.
 *
 * Every SQLite transaction on a WAL database starts as a read, which takes
 * one of the WAL index's reader slots at the WAL's current end; a writer
 * that has just appended finds no slot at the new end, so it first claims
 * one (a lock, a store, an unlock) and then holds it: with the write lock
 * and the releases, six fcntl calls per commit.  A connection that keeps a
 * read statement open between its transactions keeps its slot, and its
 * next transaction only takes and drops the write lock: two calls.  This
 * is what `hold` is: a statement stepped once and left open.
 *
 * What it changes, and how each is kept as it was:
 *   - the connection's snapshot is the one it began with plus its own
 *     commits; a commit by anyone else (the state store on the same file,
 *     another process) makes the next write fail with SQLITE_BUSY_SNAPSHOT
 *     at once, with nothing written, and so does another writer holding
 *     the write lock (a connection inside a read transaction does not wait
 *     for it): the read is dropped and the transaction run again as
 *     before, waiting for the lock (sq_write), and the next HOLD_PAUSE
 *     transactions run without it;
 *   - its slot stays at the WAL's end when it was taken, and a checkpoint
 *     copies no frame past an open reader's slot: SQLite's automatic
 *     checkpoint is replaced by passive ones (from CHECKPOINT_FRAMES
 *     frames after a commit on, SQLite's default, but under load at most
 *     every CHECKPOINT_GAP_MS: see below), the read dropped first, mostly
 *     on a thread of their own (checkpoint, below);
 *   - a failed transaction drops it too, and so does a log that has not
 *     written for a tick of its thread (sq_tick, 200 to 400 ms): an idle
 *     server holds no slot, so checkpoints by others (the state store on
 *     the same file) go on as before; closing finalizes it.
 * Records are committed exactly as before (the same commit; readers in
 * other processes see them when it returns); other readers take their own
 * slots as ever. */
#define CHECKPOINT_FRAMES 1000
#define CHECKPOINT_GAP_MS 250 /* between cycles, unless the WAL reaches CHECKPOINT_MOST */
#define CHECKPOINT_MOST 4000  /* frames: a cycle starts whatever the gap */
#define CHECKPOINT_CAP 6000   /* frames: where a writer waits for a running cycle */
#define CHECKPOINT_LEFT 64    /* frames the writer copies itself; more: another round */
#define CHECKPOINT_ROUNDS 4   /* the checkpointer's rounds in a cycle at most */
#define HOLD_PAUSE 16         /* transactions without the read after another writer got in the way */

static int wal_frames_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    ((sq_sink *)arg)->wal_frames = frames;
    return SQLITE_OK;
}

static void hold_read(sq_sink *q)
{
    if (q->holding || !q->hold)
        return;
    if (sqlite3_step(q->hold) == SQLITE_ROW)
        q->holding = true;
    else
        sqlite3_reset(q->hold);
}

static void drop_read(sq_sink *q)
{
    if (!q->holding)
        return;
    sqlite3_reset(q->hold);
    q->holding = false;
}

/* Checkpoints off the commit path.
 *
 * A checkpoint copies the WAL's frames into the database file and, as
 * synchronous=NORMAL (or FULL) says, syncs the WAL before and the database
 * after: milliseconds of waiting for the disk.  Run inline after a commit
 * (as SQLite's automatic checkpoint does) that wait fell on every batch
 * behind it, whose answers are held until they commit: at ~10 checkpoints a
 * second under load the cores idled for ~5% of the time.  So the heavy
 * part runs on a thread of its own, on a connection of its own:
 *
 *   1. a commit that leaves CHECKPOINT_FRAMES in the WAL drops the
 *      writer's kept read (so that it pins no old frame) and wakes the
 *      checkpointer; the writer goes on committing (a passive checkpoint
 *      takes no lock a writer needs);
 *   2. the checkpointer copies and syncs every frame no reader needs (all
 *      of them up to where the writer's next read began) and says so;
 *   3. the next commit after that copies the few frames written meanwhile
 *      itself, again passively: a small sync, after which the WAL is whole
 *      in the database and the next transaction starts it from the top
 *      (SQLite restarts a WAL only when a writer begins with every frame
 *      copied, which a checkpointer racing a writer never sees: without
 *      step 3 the WAL would grow for as long as the load lasts).
 *
 * Step 3 holds the log: every group commit waits behind its syncs (three
 * disk flushes, the WAL's, the database's and the restarted WAL's header:
 * ~1 ms here, whatever the frames).  Two things keep that rare and short:
 *   - rounds: when the checkpointer's round leaves more than
 *     CHECKPOINT_LEFT frames behind (those written while it ran), or
 *     copied none (seen in every run under load: a round that found the
 *     frames still pinned), step 1 is repeated, up to CHECKPOINT_ROUNDS
 *     rounds; step 3 then copies tens of frames, not the ~60 it used to
 *     (or, after an empty round, the whole WAL: 6-7 ms);
 *   - pace: a cycle starts at CHECKPOINT_FRAMES only when the last one
 *     ended CHECKPOINT_GAP_MS ago, else at CHECKPOINT_MOST frames.  At
 *     ~50,000 decisions a second the WAL reached 1000 frames ~13 times a
 *     second; now ~4 cycles, with a WAL of up to ~4000 frames (16 MB) and
 *     writers held at CHECKPOINT_CAP.  A quiet log checkpoints at 1000
 *     frames as before, so a nearly full disk is not filled with WAL.
 * (bench/server/cpu.sh, alternated with the old cycle, 6 rounds: p99 5.3-6.6
 * against 6.3-18 ms, the rate higher in 5 rounds of 6.)
 *
 * Durability is SQLite's own either way: a commit is in the WAL when it
 * returns, and a checkpoint, whichever connection runs it, syncs before it
 * lets the WAL be reused.  If the thread or its connection cannot be had,
 * the checkpoint runs inline as before. */
static writ_status open_db(const char *path, int flags, const char *vfs, sqlite3 **out, writ_error *err);

static void *checkpointer(void *arg)
{
    sq_sink *q = arg;
    pthread_mutex_lock(&q->ck_mu);
    for (;;) {
        while (q->ck_state != CK_WANTED && !q->ck_stop)
            pthread_cond_wait(&q->ck_cv, &q->ck_mu);
        if (q->ck_stop)
            break;
        pthread_mutex_unlock(&q->ck_mu);
        int copied = 0;
        if (sqlite3_wal_checkpoint_v2(q->ck_db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, &copied) != SQLITE_OK)
            copied = 0;
        sqlite3_file *f = NULL;
        if (sqlite3_file_control(q->ck_db, "main", SQLITE_FCNTL_FILE_POINTER, &f) == SQLITE_OK && f &&
            f->pMethods)
            f->pMethods->xSync(f, q->fsync ? SQLITE_SYNC_FULL : SQLITE_SYNC_NORMAL);
        pthread_mutex_lock(&q->ck_mu);
        if (q->ck_state == CK_WANTED) {
            q->ck_state = CK_DONE;
            q->ck_copied = copied;
        }
        pthread_cond_broadcast(&q->ck_cv); /* a writer may wait for it (checkpoint) */
    }
    pthread_mutex_unlock(&q->ck_mu);
    return NULL;
}

/* The checkpointer's connection and thread, when the first checkpoint is
 * due; false: none (checkpoints run inline). */
static bool checkpointer_start(sq_sink *q)
{
    if (q->ck_thread_ok)
        return true;
    if (!q->ck_sync_ok)
        return false;
    writ_error e;
    if (open_db(q->path, SQLITE_OPEN_READWRITE, NULL, &q->ck_db, &e) != WRIT_OK ||
        sqlite3_exec(q->ck_db, q->fsync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", NULL, NULL,
                     NULL) != SQLITE_OK ||
        pthread_create(&q->ck_thread, NULL, checkpointer, q) != 0) {
        sqlite3_close(q->ck_db);
        q->ck_db = NULL;
        q->ck_sync_ok = false; /* inline from now on */
        return false;
    }
    pthread_setname_np(q->ck_thread, "writ-ckpt"); /* as profilers and top show it */
    q->ck_thread_ok = true;
    return true;
}

/* After a commit that left CHECKPOINT_FRAMES or more in the WAL (q->mu held). */
static void checkpoint(sq_sink *q)
{
    if (!checkpointer_start(q)) {
        drop_read(q);
        sqlite3_wal_checkpoint_v2(q->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        q->wal_frames = 0;
        return;
    }
    pthread_mutex_lock(&q->ck_mu);
    /* a writer faster than the disk waits here rather than let the WAL
     * grow past CHECKPOINT_CAP frames */
    while (q->ck_state == CK_WANTED && q->wal_frames >= CHECKPOINT_CAP)
        pthread_cond_wait(&q->ck_cv, &q->ck_mu);
    enum { WAIT, ROUND, REST } step = WAIT;
    if (q->ck_state == CK_IDLE) {
        /* a cycle, unless the last one ended moments ago and the WAL is
         * not yet long */
        if (q->wal_frames >= CHECKPOINT_MOST || wr_mono_ms() - q->ck_end_ms >= CHECKPOINT_GAP_MS) {
            step = ROUND;
            q->ck_rounds = 0;
        }
    } else if (q->ck_state == CK_DONE) {
        /* another round while the checkpointer leaves more than a few
         * frames behind, or copied none (its round began before this
         * writer's read moved) */
        bool more = q->ck_copied <= 0 || q->wal_frames - q->ck_copied > CHECKPOINT_LEFT;
        step = more && q->ck_rounds < CHECKPOINT_ROUNDS ? ROUND : REST;
        q->ck_state = CK_IDLE;
    }
    if (step == ROUND) {
        q->ck_state = CK_WANTED;
        q->ck_rounds++;
        pthread_cond_broadcast(&q->ck_cv);
    }
    pthread_mutex_unlock(&q->ck_mu);
    if (step == ROUND) {
        drop_read(q); /* step 1 (or 2 again): pin nothing old */
    } else if (step == REST) {
        drop_read(q); /* step 3: the rest, here */
        sqlite3_wal_checkpoint_v2(q->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        q->wal_frames = 0;
        q->ck_end_ms = wr_mono_ms();
    }
}

static int sq_write(au_sink *s, const au_rec *r, size_t n, const au_cp_text *c, size_t nc)
{
    sq_sink *q = (sq_sink *)s;
    char why[256];
    pthread_mutex_lock(&q->mu);
    q->writes++;
    if (q->no_hold)
        q->no_hold--;
    else
        hold_read(q);
    bool held = q->holding;
    int rc = write_txn(q, r, n, c, nc, why, sizeof why);
    if ((rc & 0xff) == SQLITE_BUSY && held) {
        /* The open read is why: someone else committed since it began
         * (SQLITE_BUSY_SNAPSHOT), or holds the write lock now (a connection
         * in a read transaction gets SQLITE_BUSY at once where one without
         * waits for the lock, as busy_timeout says).  Again without it,
         * waiting as any transaction does; and without it for the next
         * few, as someone else writes to this file too. */
        drop_read(q);
        q->no_hold = HOLD_PAUSE;
        rc = write_txn(q, r, n, c, nc, why, sizeof why);
    }
    if (rc != SQLITE_OK) {
        fprintf(stderr, "writ: audit log: write failed: %s\n", why);
        drop_read(q);
        pthread_mutex_unlock(&q->mu);
        return -1;
    }
    if (q->wal_frames >= CHECKPOINT_FRAMES)
        checkpoint(q);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

/* The log's thread, when no batch came for 200 ms: the read is dropped
 * once a whole tick has passed without a write. */
static void sq_tick(au_sink *s)
{
    sq_sink *q = (sq_sink *)s;
    pthread_mutex_lock(&q->mu);
    if (q->writes == q->writes_seen)
        drop_read(q);
    q->writes_seen = q->writes;
    pthread_mutex_unlock(&q->mu);
}

/* ---- reading */

static writ_status sq_last(au_sink *s, uint64_t *count, uint64_t *seq, char hash[65], writ_error *err)
{
    sq_sink *q = (sq_sink *)s;
    sqlite3_stmt *st = NULL;
    *count = *seq = 0;
    hash[0] = '\0';
    if (sqlite3_prepare_v2(q->db, "SELECT count(*), max(seq) FROM audit", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return db_fail(err, q->db, "counting records");
    }
    *count = (uint64_t)sqlite3_column_int64(st, 0);
    *seq = (uint64_t)sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    if (!*count)
        return WRIT_OK;
    if (sqlite3_prepare_v2(q->db, "SELECT hash FROM audit WHERE seq = ?1", -1, &st, NULL) != SQLITE_OK)
        return db_fail(err, q->db, "reading the last record");
    sqlite3_bind_int64(st, 1, (sqlite3_int64)*seq);
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(hash, 65, "%s", sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "");
    sqlite3_finalize(st);
    return WRIT_OK;
}

static writ_status sq_checkpoints(au_sink *s, bool last_only, au_cp_fn fn, void *ctx, writ_error *err)
{
    sq_sink *q = (sq_sink *)s;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(q->db,
                           last_only
                               ? "SELECT seq, head, time_ms, jws FROM audit_checkpoint ORDER BY seq DESC "
                                 "LIMIT 1"
                               : "SELECT seq, head, time_ms, jws FROM audit_checkpoint ORDER BY seq",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(err, q->db, "reading the checkpoints (not a Writ audit log with checkpoints?)");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        au_cp_text c = {.seq = (uint64_t)sqlite3_column_int64(st, 0),
                        .head = (const char *)sqlite3_column_text(st, 1),
                        .time_ms = sqlite3_column_int64(st, 2),
                        .jws = (const char *)sqlite3_column_text(st, 3)};
        if (sqlite3_column_int64(st, 0) < 0)
            c.head = NULL; /* malformed */
        if (fn(ctx, &c)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? WRIT_OK : db_fail(err, q->db, "reading the checkpoints");
}

static const char *txt(sqlite3_stmt *s, int col, size_t *len)
{
    const char *t = (const char *)sqlite3_column_text(s, col);
    if (len)
        *len = t ? (size_t)sqlite3_column_bytes(s, col) : 0;
    return t ? t : "";
}

static void read_row(sqlite3_stmt *s, au_rec *r)
{
    memset(r, 0, sizeof *r);
    /* The writer stores integers and text; a value cast to another type (a
     * BLOB of the same bytes, a REAL time) reads back the same and so
     * hashes the same, but no longer matches audit query's filters.
     * Checked first: a column's type is undefined once it was converted. */
    static const char *const name[] = {"seq",    "time_ms",  "agent",    "chain",    "task",
                                       "action", "resource", "decision", "policies", "errors",
                                       "prev",   "hash",     "shadow",   "replica"};
    for (int c = 0; c < 14 && !r->bad_type; c++)
        if (sqlite3_column_type(s, c) != (c < 2 ? SQLITE_INTEGER : SQLITE_TEXT))
            r->bad_type = name[c];
    wr_audit_row *row = &r->row;
    row->seq = (uint64_t)sqlite3_column_int64(s, 0);
    row->e.time_ms = sqlite3_column_int64(s, 1);
    const char **f[AUDIT_FIELDS] = {&row->e.agent,    &row->e.chain,    &row->e.task,   &row->e.action,
                                    &row->e.resource, &row->e.policies, &row->e.errors, &row->e.shadow};
    static const int col[AUDIT_FIELDS] = {2, 3, 4, 5, 6, 8, 9, 12};
    for (int i = 0; i < AUDIT_FIELDS; i++)
        *f[i] = txt(s, col[i], &r->len[i]);
    const char *d = txt(s, 7, NULL);
    row->e.allow = !strcmp(d, "allow");
    r->bad_decision = strcmp(d, "allow") && strcmp(d, "deny");
    row->prev = txt(s, 10, NULL);
    row->hash = txt(s, 11, NULL);
    size_t rl = 0;
    row->replica = txt(s, 13, &rl);
    if (!r->bad_type && rl != strlen(row->replica))
        r->bad_type = "replica (it holds a NUL, and its hash stops there)";
}

static void row_cols(const sq_sink *q, char *out, size_t n)
{
    snprintf(
        out, n,
        "seq, time_ms, agent, chain, task, action, resource, decision, policies, errors, prev, hash, %s, %s",
        q->shadow_col ? "shadow" : "'' AS shadow", q->replica_col ? "replica" : "'' AS replica");
}

static writ_status sq_records(au_sink *s, uint64_t from, au_rec_fn fn, void *ctx, writ_error *err)
{
    sq_sink *q = (sq_sink *)s;
    sqlite3_stmt *st = NULL;
    char cols[256], sql[400];
    row_cols(q, cols, sizeof cols);
    snprintf(sql, sizeof sql, "SELECT %s FROM audit WHERE seq >= ?1 ORDER BY seq", cols);
    if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(err, q->db, "reading the log");
    sqlite3_bind_int64(st, 1, from ? (sqlite3_int64)from : INT64_MIN);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        au_rec r;
        read_row(st, &r);
        if (fn(ctx, &r)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? WRIT_OK : db_fail(err, q->db, "reading the log");
}

/* ---- keys: a JWKS file next to the log */

static writ_status sq_load_keys(au_sink *s, wr_jwks *ks, writ_error *err)
{
    sq_sink *q = (sq_sink *)s;
    size_t len = 0;
    char *text = au_slurp(q->keys_file, KEYS_MAX, &len);
    if (!text)
        return au_fail(err, WRIT_EIO, "audit log: cannot read the checkpoint keys %s: %s", q->keys_file,
                       strerror(errno));
    writ_status st = au_parse_keys(text, len, q->keys_file, ks, err);
    wr_free(text);
    return st;
}

/* Add the public key to the keys file (0644: public keys) unless there. */
static writ_status sq_add_key(au_sink *s, const char *kid, const char *jwk_json, writ_error *err)
{
    sq_sink *q = (sq_sink *)s;
    json_t *doc = NULL;
    if (access(q->keys_file, F_OK) == 0) {
        wr_jwks ks = {0};
        writ_status st = sq_load_keys(s, &ks, err);
        bool have = st == WRIT_OK && wr_jwks_find(&ks, kid, strlen(kid));
        wr_jwks_clear(&ks);
        if (st != WRIT_OK || have)
            return st;
        doc = json_load_file(q->keys_file, JSON_REJECT_DUPLICATES, NULL);
    } else {
        doc = json_pack("{s:[]}", "keys");
    }
    json_t *k = json_loads(jwk_json, 0, NULL);
    char *text = NULL;
    writ_status st = WRIT_ENOMEM;
    if (doc && k && json_array_append_new(json_object_get(doc, "keys"), k) == 0) {
        k = NULL;
        text = json_dumps(doc, JSON_INDENT(1));
        if (text && au_write_file(q->keys_file, text, strlen(text), 0644) == 0)
            st = WRIT_OK;
        else if (text)
            st = au_fail(err, WRIT_EIO, "audit log: cannot write the checkpoint keys %s: %s", q->keys_file,
                         strerror(errno));
    }
    json_decref(k);
    json_decref(doc);
    wr_json_free(text);
    if (st == WRIT_ENOMEM)
        au_fail(err, st, "audit log: out of memory");
    return st;
}

static char *sq_sibling(au_sink *s, const char *name) { return au_sibling(((sq_sink *)s)->path, name); }

static void sq_close(au_sink *s)
{
    sq_sink *q = (sq_sink *)s;
    if (!q)
        return;
    if (q->ck_thread_ok) {
        pthread_mutex_lock(&q->ck_mu);
        q->ck_stop = true;
        pthread_cond_broadcast(&q->ck_cv);
        pthread_mutex_unlock(&q->ck_mu);
        pthread_join(q->ck_thread, NULL);
    }
    sqlite3_close(q->ck_db); /* before the writer's: its close checkpoints the WAL away */
    if (q->ck_sync_ok) {
        pthread_mutex_destroy(&q->ck_mu);
        pthread_cond_destroy(&q->ck_cv);
    }
    if (q->mu_ok)
        pthread_mutex_destroy(&q->mu);
    sqlite3_finalize(q->hold);
    for (size_t k = 0; k <= AUDIT_ROWS; k++)
        sqlite3_finalize(q->ins[k]);
    wr_free(q->replica);
    sqlite3_finalize(q->cp);
    sqlite3_finalize(q->begin);
    sqlite3_finalize(q->commit);
    sqlite3_close(q->db);
    wr_free(q->path);
    wr_free(q->keys_file);
    wr_free(q);
}

static const au_sink_ops sq_ops = {
    .write = sq_write,
    .last = sq_last,
    .checkpoints = sq_checkpoints,
    .records = sq_records,
    .load_keys = sq_load_keys,
    .add_key = sq_add_key,
    .close = sq_close,
    .sibling = sq_sibling,
    .tick = sq_tick,
};

/* ---- opening */

static writ_status open_db(const char *path, int flags, const char *vfs, sqlite3 **out, writ_error *err)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, vfs) != SQLITE_OK) {
        writ_status st = db_fail(err, db, path);
        sqlite3_close(db);
        return st;
    }
    sqlite3_busy_timeout(db, 5000);
    *out = db;
    return WRIT_OK;
}

/* The log and its -wal/-shm owner-only: created 0600 (SQLite gives -wal and
 * -shm the mode of the database), and narrowed when another opener (the
 * revocation store shares the file) made them wider. */
static writ_status private_files(const char *path, writ_error *err)
{
    /* By path only: opening and closing a descriptor of a database that
     * another SQLite connection of this process holds would drop that
     * connection's POSIX locks. */
    struct stat sb;
    if (stat(path, &sb) != 0) {
        int fd = errno == ENOENT ? open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600) : -1;
        if (fd < 0 && errno != EEXIST)
            return au_fail(err, WRIT_EIO, "audit log: cannot create %s with mode 0600: %s", path,
                           strerror(errno));
        if (fd >= 0)
            close(fd);
        if (stat(path, &sb) != 0)
            return au_fail(err, WRIT_EIO, "audit log: %s: %s", path, strerror(errno));
    }
    static const char *const sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char p[4096];
        if ((size_t)snprintf(p, sizeof p, "%s%s", path, sfx[i]) < sizeof p && stat(p, &sb) == 0 &&
            (sb.st_mode & 077) && chmod(p, 0600) != 0)
            return au_fail(err, WRIT_EIO, "audit log: cannot make %s owner-only: %s", p, strerror(errno));
    }
    return WRIT_OK;
}

/* A writer creates the tables and adds the columns a log from before them
 * lacks (old records get '': shadow '' hashes as v1, replica is not
 * hashed); a reader reads '' in their place. */
writ_status au_sqlite_open(const char *path, const char *keys_file, bool writer, bool fsync, au_sink **out,
                           writ_error *err)
{
    *out = NULL;
    sq_sink *q = wr_calloc(1, sizeof *q);
    if (!q || !(q->path = au_strdup(path)) ||
        !(q->keys_file = keys_file ? au_strdup(keys_file) : au_sibling(path, WR_AUDIT_KEYS_FILE))) {
        sq_close(q ? &q->base : NULL);
        return au_fail(err, WRIT_ENOMEM, "audit log: out of memory");
    }
    q->base.ops = &sq_ops;
    q->mu_ok = pthread_mutex_init(&q->mu, NULL) == 0;
    writ_status st = q->mu_ok ? WRIT_OK : au_fail(err, WRIT_ENOMEM, "audit log: out of memory");
    if (st)
        goto bad;
    if (!writer) {
        if ((st = open_db(path, SQLITE_OPEN_READONLY, NULL, &q->db, err)))
            goto bad;
        if (sqlite3_exec(q->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
            st = db_fail(err, q->db, "starting a read");
            goto bad;
        }
        q->shadow_col = has_column(q->db, "shadow");
        q->replica_col = has_column(q->db, "replica");
        *out = &q->base;
        return WRIT_OK;
    }
    if ((st = private_files(path, err)) ||
        (st = open_db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, au_wal_vfs(), &q->db, err)))
        goto bad;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(q->db,
                           "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_checkpoint'",
                           -1, &s, NULL) != SQLITE_OK) {
        st = db_fail(err, q->db, "reading the schema");
        goto bad;
    }
    q->base.existed = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_finalize(s);
    if (sqlite3_exec(q->db,
                     fsync ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                           : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(q->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK ||
        (!has_column(q->db, "shadow") &&
         sqlite3_exec(q->db, "ALTER TABLE audit ADD COLUMN shadow TEXT NOT NULL DEFAULT ''", NULL, NULL,
                      NULL) != SQLITE_OK) ||
        (!has_column(q->db, "replica") &&
         sqlite3_exec(q->db, "ALTER TABLE audit ADD COLUMN replica TEXT NOT NULL DEFAULT ''", NULL, NULL,
                      NULL) != SQLITE_OK)) {
        st = db_fail(err, q->db, "creating tables");
        goto bad;
    }
    q->shadow_col = q->replica_col = true;
    if ((st = private_files(path, err)))
        goto bad;
    if (sqlite3_prepare_v2(q->db, "BEGIN IMMEDIATE", -1, &q->begin, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(q->db, "COMMIT", -1, &q->commit, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(q->db,
                           "INSERT INTO audit_checkpoint (seq, head, time_ms, jws) VALUES (?, ?, ?, ?)", -1,
                           &q->cp, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(q->db, "SELECT 1 FROM sqlite_master", -1, &q->hold, NULL) != SQLITE_OK ||
        !insert_of(q, 1)) {
        st = db_fail(err, q->db, "preparing statements");
        goto bad;
    }
    /* replaces SQLite's automatic checkpoint: sq_write runs it */
    sqlite3_wal_hook(q->db, wal_frames_hook, q);
    q->fsync = fsync;
    if (pthread_mutex_init(&q->ck_mu, NULL) == 0) {
        if (pthread_cond_init(&q->ck_cv, NULL) == 0) {
            q->ck_sync_ok = true;
            q->ck_state = CK_IDLE;
        } else {
            pthread_mutex_destroy(&q->ck_mu);
        }
    }
    *out = &q->base;
    return WRIT_OK;
bad:
    sq_close(&q->base);
    return st;
}

/* Fixed SQL, every filter a bound parameter (NULL = any). */
writ_status au_sqlite_query(const char *path, const wr_audit_filter *f, wr_audit_row_fn fn, void *ctx,
                            writ_error *err)
{
    au_sink *s = NULL;
    writ_status st = au_sqlite_open(path, NULL, false, false, &s, err);
    if (st)
        return st;
    sq_sink *q = (sq_sink *)s;
    sqlite3_stmt *stmt = NULL;
    if (f->shadow && !q->shadow_col)
        goto out; /* a log from before shadow fields: none has one */
    char cols[256], sql[1024];
    row_cols(q, cols, sizeof cols);
    snprintf(
        sql, sizeof sql,
        "SELECT * FROM (SELECT %s FROM audit WHERE (?1 IS NULL OR agent = ?1) AND (?2 IS NULL OR action = ?2)"
        " AND (?3 IS NULL OR resource = ?3) AND (?4 IS NULL OR task = ?4) AND (?5 IS NULL OR decision = ?5)"
        " AND (?6 IS NULL OR time_ms >= ?6) AND (?7 IS NULL OR time_ms < ?7)%s"
        " ORDER BY seq %s LIMIT ?8) ORDER BY seq",
        cols, f->shadow ? " AND shadow <> ''" : "", f->last ? "DESC" : "ASC");
    if (sqlite3_prepare_v2(q->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        st = db_fail(err, q->db, "querying the log");
        goto out;
    }
    const char *t[4] = {f->agent, f->action, f->resource, f->task};
    for (int i = 0; i < 4; i++)
        if (t[i])
            sqlite3_bind_text(stmt, i + 1, t[i], -1, SQLITE_STATIC);
    if (f->decision >= 0)
        sqlite3_bind_text(stmt, 5, f->decision ? "allow" : "deny", -1, SQLITE_STATIC);
    if (f->since_ms)
        sqlite3_bind_int64(stmt, 6, f->since_ms);
    if (f->until_ms)
        sqlite3_bind_int64(stmt, 7, f->until_ms);
    sqlite3_bind_int64(stmt, 8, f->limit ? (sqlite3_int64)f->limit : -1);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        au_rec r;
        read_row(stmt, &r);
        if (fn(ctx, &r.row))
            break;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        st = db_fail(err, q->db, "querying the log");
out:
    sqlite3_finalize(stmt);
    s->ops->close(s);
    return st;
}
