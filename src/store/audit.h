/* audit.h - the decision log: append-only, hash-chained, with signed
 * checkpoints, in SQLite (WAL).
 *
 * Every record holds the decision and what it was about, the hash of the
 * record before it (prev) and its own hash:
 *
 *   hash = SHA-256( "writ-audit-v1\n" || u64be(seq) || i64be(time_ms) ||
 *                   u8(allow) || str(agent) || str(chain) || str(task) ||
 *                   str(action) || str(resource) || str(policies) ||
 *                   str(errors) || prev[32] )
 *   str(s) = u64be(byte length) || bytes;   prev of record 1 = 32 zero bytes
 *
 * A record with a shadow field (what shadow policies or a candidate policy
 * set would have decided, JSON; see src/shadow/shadow.h) hashes as v2:
 *
 *   hash = SHA-256( "writ-audit-v2\n" || ...the v1 input up to str(errors)...
 *                   || str(shadow) || prev[32] )
 *
 * A record with a replica's name (every server writes one: its host name
 * by default) hashes as v3, which covers the name too:
 *
 *   hash = SHA-256( "writ-audit-v3\n" || ...the v1 input up to str(errors)...
 *                   || str(shadow) || str(replica) || prev[32] )
 *
 * The version is chosen by the record, not by the log: a record without
 * one (shadow "") is v1, so logs written before the field existed verify
 * unchanged, and v1 and v2 records chain into each other.  Editing,
 * adding or removing a shadow field changes the hash either way (a removed
 * one turns a v2 record into a v1 input with another tag).  A log from
 * before the field has no shadow column; a writer adds it on open.
 * Records written before v3 carry a replica's name their hash does not
 * cover, so verify accepts a record whose hash is its v1/v2 input instead;
 * that lets no edit of a v3 record through (its stored hash matches
 * neither input once a field changed), but the name of an older record
 * can be changed unseen.
 *
 * In SQLite every column is stored as the writer stores it (integers and
 * text); verify refuses any other storage class, since the same bytes as
 * a BLOB would hash alike but match none of audit query's filters.
 *
 * seq counts from 1 without gaps, so a changed field, a removed or inserted
 * record, or a reordering breaks the chain.  (A head kept in the same file
 * proves nothing against whoever can rewrite the file, so there is none:
 * the signed checkpoints below anchor the chain.)
 *
 * Checkpoints anchor the chain: a row of audit_checkpoint holds (seq, head,
 * time_ms) and a compact JWS (typ "writ-audit-checkpoint", claims
 * {"seq","head","time_ms"}) signed with Writ's signing key.  One is written
 * when a log is created (seq 0, head = 32 zero bytes), in the transaction
 * of every record whose seq is a multiple of checkpoint_every, when a
 * server opens a log whose tail is past the last checkpoint (after a crash;
 * that checkpoint carries "adopted_from": the first record it signs that
 * this server did not write, and verify reports them), and at close.
 * Someone who can rewrite the file but does not hold the key can no longer
 * rebuild a consistent chain (re-hashing breaks the signed heads), cut the
 * tail behind a checkpoint, or empty the log.  Records after the last
 * checkpoint are chained but not signed.  The public keys that signed
 * checkpoints are kept in a JWKS file next to the log (audit-keys.jwks).
 *
 * Writing (group commit): wr_audit_append queues the entry and returns only
 * once the record is committed, or fails.  The first waiting appender is
 * the leader: it takes every record queued (up to `batch`), writes them in
 * one transaction, wakes the others with the result, and the next waiter
 * leads the next batch.  So concurrent decisions share one commit and no
 * decision is answered before its record is in the log.
 * wr_audit_append_many queues several records as one group the same way
 * (in order, next to each other) and its thread leads whenever one of
 * them is at the head: the server's worker threads commit the records of
 * each pass of their event loops so, without the log's thread.  A failed
 * transaction fails every appender of its batch (the server denies); each
 * later batch is a real write attempt, and appends fail until one commits.
 *
 * Durability: synchronous=NORMAL in WAL (default) means a committed record
 * has been written to the WAL file by write(2) before append returns: it
 * survives kill -9 or any crash of the process (the kernel holds the
 * pages), not a power loss or kernel crash before the next fsync.  With
 * fsync (synchronous=FULL) every group commit is fsynced: it survives power
 * loss, at the cost of one fsync per batch. */
#ifndef WRIT_STORE_AUDIT_H
#define WRIT_STORE_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "writ/token.h"
#include "writ/writ.h"

typedef struct wr_audit wr_audit;

typedef struct wr_audit_entry {
    int64_t time_ms;   /* unix time, milliseconds; 0 = now */
    const char *agent; /* principal, Cedar syntax; NULL = "" */
    const char *chain; /* delegation chain (JSON array), NULL = "" */
    const char *task;  /* task id, NULL = "" */
    const char *action;
    const char *resource;
    bool allow;
    const char *policies; /* JSON array of determining policy ids */
    const char *errors;   /* JSON array of errors */
    const char *shadow;   /* JSON object: the would-be answer of shadow policies; NULL/"" = none */
} wr_audit_entry;

typedef struct wr_audit_row {
    uint64_t seq;
    wr_audit_entry e;
    const char *prev;    /* hex */
    const char *hash;    /* hex */
    const char *replica; /* the writing replica's name ("" in logs from before the field) */
} wr_audit_row;

/* The public keys of checkpoint signers: this file in the log's folder. */
#define WR_AUDIT_KEYS_FILE "audit-keys.jwks"
/* The log's own signing key (used when no keyring is given), same folder. */
#define WR_AUDIT_KEY_FILE "audit-key.pem"

typedef struct wr_audit_opts {
    uint32_t batch;            /* most records per transaction; 0 = 1024 */
    uint32_t queue_max;        /* records waiting before appenders wait; 0 = 65536 */
    uint32_t checkpoint_every; /* a signed checkpoint every N records; 0 = 1000 */
    bool fsync;                /* synchronous=FULL (power-loss durable); else NORMAL */
    /* Before committing fewer than 16 submitted records, wait this long
     * for more to join the transaction (one commit's cost shared by more
     * decisions, at that much more latency); 0 = commit at once. */
    uint32_t commit_delay_us;
    /* The active key of this keyring signs checkpoints (it must outlive the
     * log).  NULL: the log's own key, WR_AUDIT_KEY_FILE next to the log,
     * generated (ES256, 0600) when missing. */
    const writ_keyring *signer;
    const char *keys_file; /* NULL = WR_AUDIT_KEYS_FILE next to the log */
    const char *replica;   /* this replica's name, in every record (NULL = "") */
    /* PostgreSQL: the folder of the log's own signing key when there is
     * no signer (NULL: a signer is required) */
    const char *key_dir;
    /* PostgreSQL: the spool file (records kept on local disk, fsynced,
     * while the database is unreachable; shipped in order once it is
     * back), required; spool_max records at most (0 = 100000); past it
     * appends fail (spool_drop false: the server refuses decisions) or
     * the records are dropped and counted (spool_drop true). */
    const char *spool;
    uint32_t spool_max;
    bool spool_drop;
    /* A file outside the log that keeps the last checkpoint written (its
     * record's number and head; replaced at each checkpoint).  At open a
     * log that ends before it, or holds another record at its number, is
     * refused: rows deleted from the database while the server was
     * stopped, a whole replica's included, show.  NULL = none.  Meant for
     * a log elsewhere (PostgreSQL): written after the log's commit, so it
     * is never ahead of a log whose commits are durable. */
    const char *anchor;
} wr_audit_opts;

/* Open (creating, mode 0600 also for -wal/-shm) the log.  Checks the tail
 * against the last checkpoint (signature, record, chain after it) and
 * refuses (WRIT_EVALIDATE, err->msg says what) to append to a log that does
 * not match: a truncated or rewritten log is left as it is, as evidence. */
/* path: a SQLite file, or postgresql://... (this replica's chain). */
WRIT_MUST_CHECK writ_status wr_audit_open(const char *path, const wr_audit_opts *opts, wr_audit **out,
                                          writ_error *err);
/* Append one record; returns once it is committed (WRIT_OK), or WRIT_EIO
 * when its transaction failed (or the log is closing), WRIT_ELIMIT,
 * WRIT_ENOMEM.  Thread-safe; blocks the caller for one group commit. */
WRIT_MUST_CHECK writ_status wr_audit_append(wr_audit *a, const wr_audit_entry *e);
/* n records in this order, as one group: returns once every one of them
 * is committed or failed, st[i] saying which (WRIT_OK, WRIT_EIO,
 * WRIT_ELIMIT for a record too long, which is not written).  The calling
 * thread leads the transactions that hold its records (no hand-over to
 * the log's thread): a server that gathers the records of one pass of its
 * event loop commits them so.  Returns WRIT_ENOMEM (nothing queued) or
 * WRIT_EIO (closing: nothing queued), else WRIT_OK. */
WRIT_MUST_CHECK writ_status wr_audit_append_many(wr_audit *a, const wr_audit_entry *e, size_t n,
                                                 writ_status *st);
/* The same without blocking the caller (for a server that suspends the
 * request meanwhile): the entry is copied and queued; fn(arg, status) is
 * called exactly once, from another thread of the log and after the
 * transaction: WRIT_OK once the record is committed, WRIT_EIO when its
 * transaction failed.  fn must not block long (it holds up the log's next
 * batch).  Returns WRIT_OK when queued (fn will be called), else an error
 * (fn will not be): WRIT_EIO while closing, WRIT_ELIMIT, WRIT_ENOMEM. */
typedef void (*wr_audit_done_fn)(void *arg, writ_status st);
WRIT_MUST_CHECK writ_status wr_audit_submit(wr_audit *a, const wr_audit_entry *e, wr_audit_done_fn fn,
                                            void *arg);
/* Commit e on the calling thread, now, when the log is idle (nothing
 * queued, and the last batch was a single record: no concurrency to group)
 * and its sink is SQLite without fsync (a write into the page cache, no
 * wait on the disk): true, and *st is the transaction's result, as
 * wr_audit_append's.  Otherwise false and nothing was done (submit it).
 * Saves a lone client the hand-off to the log's thread and back. */
bool wr_audit_commit_here(wr_audit *a, const wr_audit_entry *e, writ_status *st);
/* Would a group appended now wait for another thread's transaction?  True:
 * yes, and wake(arg) will be called (once, from the thread that leads it,
 * outside the log's lock) when that transaction is over; a caller with
 * other work (a server's worker with requests to read) does it meanwhile
 * and appends after.  False: the log is free (or cannot take another
 * wake-up): append now.  wake must be quick and must not call the log;
 * wr_audit_busy_cancel(a, arg) forgets the wake-ups registered for arg. */
bool wr_audit_busy(wr_audit *a, void (*wake)(void *arg), void *arg);
void wr_audit_busy_cancel(wr_audit *a, void *arg);
/* Wait until no append or submission is in progress. */
void wr_audit_flush(wr_audit *a);
/* Wait for appends and submissions in progress (their callbacks done),
 * write a checkpoint of the head, close.
 * NULL is a no-op. */
void wr_audit_close(wr_audit *a);
uint64_t wr_audit_queued(wr_audit *a);   /* appends waiting now */
uint64_t wr_audit_written(wr_audit *a);  /* records committed */
uint64_t wr_audit_failures(wr_audit *a); /* appends failed */
bool wr_audit_failing(wr_audit *a);      /* the last transaction failed */
uint64_t wr_audit_spooled(wr_audit *a);  /* records in the local spool now (PostgreSQL) */
uint64_t wr_audit_dropped(wr_audit *a);  /* records dropped: the spool was full (spool_drop) */

/* ---- reading (any process, also while a server writes) */
typedef struct wr_audit_verify_result {
    uint64_t records;
    uint64_t last_seq;
    char head[65];          /* hash of the last record, hex ("" when empty) */
    uint64_t checkpoints;   /* signed checkpoints verified */
    uint64_t signed_seq;    /* the last checkpoint's seq: records 1..signed_seq are signed */
    int64_t signed_time_ms; /* when that checkpoint was made */
    /* Records signed only by a checkpoint made when a server opened the log
     * and found them unsigned (it had stopped without a closing checkpoint:
     * a crash, kill -9): their signature vouches that they were in the log
     * then, not that that server wrote them.  Count, and the last range. */
    uint64_t adopted, adopted_first, adopted_last;
    uint64_t bad_seq;        /* first record that breaks the chain, 0 if none */
    uint64_t bad_checkpoint; /* seq of the first bad checkpoint + 1, 0 if none */
    char msg[384];           /* what is wrong */
} wr_audit_verify_result;

/* Check the chain and every checkpoint (signature with the keys of
 * keys_file, NULL = WR_AUDIT_KEYS_FILE next to the log; the record it
 * names).  WRIT_OK when whole; WRIT_EVALIDATE when broken (r->msg names the
 * first bad record or checkpoint); other codes when the log or the keys
 * cannot be read. */
WRIT_MUST_CHECK writ_status wr_audit_verify(const char *path, const char *keys_file,
                                            wr_audit_verify_result *r, writ_error *err);

/* Verify every chain at `where`: a SQLite file (one chain, replica NULL),
 * or postgresql://... (each replica's chain, every replica name found in
 * any of its tables; keys from keys_file, NULL: from the database itself,
 * which proves only as much as the database can be trusted).  fn is called once per chain with its result and
 * status (WRIT_OK or WRIT_EVALIDATE).  Returns WRIT_OK when every chain is
 * whole, WRIT_EVALIDATE when one is broken, another code when the log
 * cannot be read. */
typedef void (*wr_audit_verify_fn)(void *ctx, const char *replica, const wr_audit_verify_result *r,
                                   writ_status st);
WRIT_MUST_CHECK writ_status wr_audit_verify_each(const char *where, const char *keys_file,
                                                 wr_audit_verify_fn fn, void *ctx, writ_error *err);

typedef struct wr_audit_filter {
    const char *agent, *action, *resource, *task; /* exact match, NULL = any */
    int decision;                                 /* 1 allow, 0 deny, -1 any */
    int64_t since_ms, until_ms;                   /* 0 = open */
    uint64_t limit;                               /* 0 = no limit */
    bool last;                                    /* the last `limit` records (tail), oldest first */
    bool shadow;                                  /* only records with a shadow field */
    const char *replica; /* PostgreSQL: only this replica's chain, NULL = every one */
} wr_audit_filter;

typedef int (*wr_audit_row_fn)(void *ctx, const wr_audit_row *row); /* non-zero stops */
/* path: a SQLite file or postgresql://... (ordered by replica, then seq). */
WRIT_MUST_CHECK writ_status wr_audit_query(const char *path, const wr_audit_filter *f, wr_audit_row_fn fn,
                                           void *ctx, writ_error *err);

#endif
