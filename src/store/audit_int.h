/* audit_int.h - the pieces of the audit log shared by its writer
 * (audit.c), its sinks (audit_sqlite.c, audit_pg.c) and its readers
 * (audit_read.c).
 *
 * The writer owns the queue, group commit, the chain (seq, prev, hash)
 * and the signing of checkpoints; a sink only stores what the writer
 * hands it, one transaction per batch, and reads a chain back.  The
 * readers check a chain through the same read operations, so `verify`
 * is one piece of code whatever holds the records. */
#ifndef WRIT_STORE_AUDIT_INT_H
#define WRIT_STORE_AUDIT_INT_H

#include "jose/jose.h"
#include "store/audit.h"

#include <openssl/evp.h>
#include <stddef.h>

#define AUDIT_FIELDS 8    /* agent chain task action resource policies errors shadow */
#define AUDIT_V1_FIELDS 7 /* the v1 hash input: every field but shadow */
#define CP_TYP "writ-audit-checkpoint"
#define KEYS_MAX (1u << 20)

/* One record as stored: the row plus its field lengths (index as
 * AUDIT_FIELDS: agent chain task action resource policies errors shadow). */
typedef struct au_rec {
    wr_audit_row row;
    size_t len[AUDIT_FIELDS];
    bool bad_decision;    /* the stored decision is neither allow nor deny */
    const char *bad_type; /* a column stored as another type than the writer's (SQLite), or NULL */
} au_rec;

/* A checkpoint row as stored (head hex, jws compact). */
typedef struct au_cp_text {
    uint64_t seq;
    const char *head;
    int64_t time_ms;
    const char *jws;
} au_cp_text;

typedef struct cp_row {
    uint64_t seq;
    unsigned char head[32];
    int64_t time_ms;
    uint64_t adopted; /* adopted_from, 0 = none */
} cp_row;

typedef int (*au_rec_fn)(void *ctx, const au_rec *r);    /* non-zero stops */
typedef int (*au_cp_fn)(void *ctx, const au_cp_text *c); /* non-zero stops */

/* A sink: where one replica's chain is kept.  Every operation is called by
 * one thread at a time (the writer's leader, or a reader). */
typedef struct au_sink au_sink;
typedef struct au_sink_ops {
    /* One transaction: records r[0..n) (in seq order), then checkpoints
     * c[0..nc).  0, or -1 with nothing stored (a message on stderr), or -2:
     * the database answered and refused the batch itself (a failure as -1,
     * but one that a later try would meet again: a spool keeps nothing
     * behind it), or 1: dropped on purpose (a full spool that drops: the
     * writer does not advance the chain, the appenders are answered). */
    int (*write)(au_sink *s, const au_rec *r, size_t n, const au_cp_text *c, size_t nc);
    /* The number of records and the last one (seq 0 when none). */
    writ_status (*last)(au_sink *s, uint64_t *count, uint64_t *seq, char hash[65], writ_error *err);
    /* Checkpoints in seq order; only the last one when last_only. */
    writ_status (*checkpoints)(au_sink *s, bool last_only, au_cp_fn fn, void *ctx, writ_error *err);
    /* Records from seq `from` on, in seq order; from 0: every record, also
     * one stored with seq 0 or below (verify: such a row was inserted). */
    writ_status (*records)(au_sink *s, uint64_t from, au_rec_fn fn, void *ctx, writ_error *err);
    /* The checkpoint keys (JWKS), and adding one public key (JSON object). */
    writ_status (*load_keys)(au_sink *s, wr_jwks *ks, writ_error *err);
    writ_status (*add_key)(au_sink *s, const char *kid, const char *jwk_json, writ_error *err);
    void (*close)(au_sink *s);
    /* a file next to the log (its own signing key), NULL: none (a keyring is required) */
    char *(*sibling)(au_sink *s, const char *name);
    /* optional: work when no batch comes (ship the spool), every ~200 ms */
    void (*tick)(au_sink *s);
    /* optional: records spooled now, records dropped */
    uint64_t (*spooled)(au_sink *s);
    uint64_t (*dropped)(au_sink *s);
} au_sink_ops;

struct au_sink {
    const au_sink_ops *ops;
    bool existed; /* the log existed before this open (an existing log holds checkpoint 0) */
};

/* SQLite: path is the database file; keys_file NULL = next to it. */
writ_status au_sqlite_open(const char *path, const char *keys_file, bool writer, bool fsync, au_sink **out,
                           writ_error *err);
/* The VFS the SQLite writer opens its log with (audit_wal.c: a
 * transaction's WAL frames in one write), NULL (the default) if it could
 * not be registered. */
const char *au_wal_vfs(void);
/* PostgreSQL: conninfo postgresql://...; replica = the chain (NULL when
 * reading every replica's chain is meant: see au_pg_replicas). */
writ_status au_pg_open(const char *conninfo, const char *replica, bool writer, const char *key_dir,
                       au_sink **out, writ_error *err);
/* The replicas that have a chain in the database, for a reader. */
writ_status au_pg_replicas(const char *conninfo, char ***names, size_t *n, writ_error *err);
bool au_is_pg(const char *where);
writ_status au_sqlite_query(const char *path, const wr_audit_filter *f, wr_audit_row_fn fn, void *ctx,
                            writ_error *err);
writ_status au_pg_query(const char *conninfo, const wr_audit_filter *f, wr_audit_row_fn fn, void *ctx,
                        writ_error *err);

/* ---- the spool (audit_spool.c): batches on local disk, fsynced, in order */
typedef struct au_spool au_spool;
typedef struct au_batch {
    au_rec *r;
    size_t n;
    au_cp_text *c;
    size_t nc;
    unsigned char *buf; /* what r and c point into */
} au_batch;
/* Open (create, 0600) the spool file and lock it (flock: one process per
 * spool, WRIT_EDUP when another holds it); a torn entry at its end (a crash
 * in the middle of an append that was therefore never acknowledged) is cut. */
writ_status au_spool_file_open(const char *path, au_spool **out, writ_error *err);
/* Append one batch and fdatasync it; 0 or -1 (errno). */
int au_spool_append(au_spool *q, const au_rec *r, size_t n, const au_cp_text *c, size_t nc);
uint64_t au_spool_records(const au_spool *q); /* records not yet shipped */
bool au_spool_empty(const au_spool *q);
/* The oldest batch not yet shipped: 1 (b filled; au_batch_free), 0 none, -1 unreadable. */
int au_spool_peek(au_spool *q, au_batch *b);
/* That batch was shipped: the next one; the file is emptied after the last. */
int au_spool_pop(au_spool *q);
void au_spool_file_close(au_spool *q);
void au_batch_free(au_batch *b);
/* A sink that ships to inner and spools in q what inner cannot take (owns
 * inner and q; closes them also on failure).  At open the spool left by a
 * previous run is shipped first: inner must be reachable. */
writ_status au_spool_wrap(au_sink *inner, au_spool *q, uint32_t max, bool drop, au_sink **out,
                          writ_error *err);

/* ---- helpers (audit_util.c) */
char *au_strdup(const char *s);
writ_status au_fail(writ_error *err, writ_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int au_unhex(const char *s, size_t n, unsigned char out[32]);
int au_record_hash(EVP_MD_CTX *md, uint64_t seq, int64_t time_ms, bool allow, const char *const *f,
                   const size_t *len, const char *replica, const unsigned char prev[32], unsigned char out[32]);
void au_fmt_time(int64_t ms, char out[32]);
char *au_sibling(const char *path, const char *name);
char *au_slurp(const char *path, size_t max, size_t *len);
int au_write_file(const char *path, const char *text, size_t len, mode_t mode);
/* Parse a JWKS document (text) into ks; what names it in messages. */
writ_status au_parse_keys(const char *text, size_t len, const char *what, wr_jwks *ks, writ_error *err);
/* Check one checkpoint: its JWS verifies with a key of ks and its claims
 * are the row's columns.  0, or -1 with why. */
int au_check_cp(const wr_jwks *ks, const au_cp_text *c, cp_row *out, char *why, size_t n);
/* One record of the chain: seq, decision, prev and hash; on success prev
 * becomes its hash.  0, or -1 with why. */
int au_check_row(EVP_MD_CTX *md, const au_rec *r, uint64_t expect, unsigned char prev[32], char *why,
                 size_t n);
/* Verify one chain held by s (see wr_audit_verify); the checkpoint keys
 * from keys_file, NULL: the sink's own (load_keys). */
writ_status au_verify_sink(au_sink *s, const char *keys_file, wr_audit_verify_result *r, writ_error *err);

#endif
