/* audit.h - the decision log: append-only, hash-chained, in SQLite (WAL).
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
 * seq counts from 1 without gaps, so a changed field, a removed or inserted
 * record, or a reordering breaks the chain; the table audit_head, written
 * in the same transaction as the records, holds the last seq and hash, so a
 * cut-off tail shows too.  (Someone who can rewrite the whole file can
 * rebuild a consistent chain: anchor the head hash elsewhere to prove more.)
 *
 * Writing: wr_audit_append copies the entry into a bounded queue and
 * returns; one writer thread takes what has piled up and commits it in
 * batches of up to `batch` records per transaction, so the writer is not
 * the bottleneck.  A full queue makes appenders wait (nothing is dropped).
 * When the log cannot be written, append fails (the server then denies: no
 * decision without its record).  wr_audit_close commits everything queued.
 * After kill -9 the log holds a prefix of the decisions (whole
 * transactions), and its chain verifies. */
#ifndef WRIT_STORE_AUDIT_H
#define WRIT_STORE_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "writ/writ.h"

typedef struct wr_audit wr_audit;

typedef struct wr_audit_entry {
    int64_t time_ms;            /* unix time, milliseconds */
    const char *agent;          /* principal, Cedar syntax; NULL = "" */
    const char *chain;          /* delegation chain (JSON array), NULL = "" */
    const char *task;           /* task id, NULL = "" */
    const char *action;
    const char *resource;
    bool allow;
    const char *policies;       /* JSON array of determining policy ids */
    const char *errors;         /* JSON array of errors */
} wr_audit_entry;

typedef struct wr_audit_row {
    uint64_t seq;
    wr_audit_entry e;
    const char *prev;           /* hex */
    const char *hash;           /* hex */
} wr_audit_row;

/* Open (creating) the log and start its writer. */
WRIT_MUST_CHECK writ_status wr_audit_open(const char *path, uint32_t batch, uint32_t queue_max, wr_audit **out,
                                          writ_error *err);
/* Queue one record (copied).  WRIT_EIO when the log is failing, WRIT_ENOMEM. */
WRIT_MUST_CHECK writ_status wr_audit_append(wr_audit *a, const wr_audit_entry *e);
/* Wait until everything queued before the call is committed. */
void wr_audit_flush(wr_audit *a);
/* Commit everything queued, stop the writer, close.  NULL is a no-op. */
void wr_audit_close(wr_audit *a);
uint64_t wr_audit_queued(wr_audit *a);
uint64_t wr_audit_written(wr_audit *a);
uint64_t wr_audit_failures(wr_audit *a);

/* ---- reading (any process, also while a server writes) */
typedef struct wr_audit_verify_result {
    uint64_t records;
    uint64_t last_seq;
    char head[65];              /* hash of the last record, hex ("" when empty) */
    uint64_t bad_seq;           /* first record that breaks the chain, 0 if none */
    char msg[256];              /* what is wrong */
} wr_audit_verify_result;

/* WRIT_OK when the chain is whole; WRIT_EVALIDATE when it is broken (r->msg,
 * r->bad_seq say where); other codes when the file cannot be read. */
WRIT_MUST_CHECK writ_status wr_audit_verify(const char *path, wr_audit_verify_result *r, writ_error *err);

typedef struct wr_audit_filter {
    const char *agent, *action, *resource, *task;   /* exact match, NULL = any */
    int decision;               /* 1 allow, 0 deny, -1 any */
    int64_t since_ms, until_ms; /* 0 = open */
    uint64_t limit;             /* 0 = no limit */
    bool last;                  /* the last `limit` records (tail), oldest first */
} wr_audit_filter;

typedef int (*wr_audit_row_fn)(void *ctx, const wr_audit_row *row);   /* non-zero stops */
WRIT_MUST_CHECK writ_status wr_audit_query(const char *path, const wr_audit_filter *f, wr_audit_row_fn fn, void *ctx,
                                           writ_error *err);

#endif
