/* sqlite_counters.c - task-history counters in the SQLite backend (store.h).
 *
 * One row per (limit, key, bucket).  An add is an upsert that increments
 * the row in place (value = value + delta), so two processes adding to the
 * same bucket at once both count; a batch of adds is one BEGIN IMMEDIATE
 * transaction.  Rows past their expires_ms are not returned, and are
 * deleted by scan and, at most once a minute, by an add. */
#include "store/sqlite_int.h"
#include "util/clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

writ_status wr_sqlite_counters_init(wr_sqlite_store *s, writ_error *err)
{
    if (sqlite3_exec(s->db,
                     "CREATE TABLE IF NOT EXISTS counters ("
                     " limit_id TEXT NOT NULL, key TEXT NOT NULL, bucket INTEGER NOT NULL,"
                     " value INTEGER NOT NULL, expires_ms INTEGER NOT NULL,"
                     " PRIMARY KEY (limit_id, key, bucket)) WITHOUT ROWID;"
                     "CREATE INDEX IF NOT EXISTS counters_expiry ON counters (expires_ms);",
                     NULL, NULL, NULL) != SQLITE_OK)
        return wr_sqlite_fail(s, err, "cannot create the counters table");
    return WRIT_OK;
}

/* Rows per INSERT: a batch is written as a few multi-row upserts rather
 * than one statement per row.  Each statement SQLite runs in a
 * transaction pays for its own start and end (the VDBE's setup, a
 * statement journal, its halt: about half of a one-row upsert), so that
 * cost is paid once per chunk.  Chunks are 64 rows and then 32, 16 .. 1
 * for the rest (at most 7 statements past the full chunks), and the 7
 * statements are prepared once for the connection: parsing a 64-row
 * statement costs as much as running it.  Rows of one statement are
 * upserted in order, so a (limit, key, bucket) given twice in one batch (a
 * retried delta and a new one) adds both.  5 * 64 parameters stay under
 * SQLite's smallest variable limit (999). */
#define ROWS_LOG2_MAX 6 /* 64 rows */

static sqlite3_stmt *rows_stmt(wr_sqlite_store *s, unsigned lg)
{
    if (s->counter_add[lg])
        return s->counter_add[lg];
    /* expires_ms is set by the insert only: every add to one (limit,
     * bucket) gives the same (store.h), and not rewriting it spares the
     * expiry index an update per row (about half of an upsert's cost) */
    size_t rows = (size_t)1 << lg;
    char sql[256 + ((size_t)1 << ROWS_LOG2_MAX) * 12]; /* the two ends take 160 */
    size_t o = (size_t)snprintf(sql, sizeof sql,
                                "INSERT INTO counters (limit_id, key, bucket, value, expires_ms) VALUES ");
    for (size_t i = 0; i < rows; i++)
        o += (size_t)snprintf(sql + o, sizeof sql - o, "%s(?,?,?,?,?)", i ? "," : "");
    snprintf(sql + o, sizeof sql - o,
             " ON CONFLICT (limit_id, key, bucket) DO UPDATE SET value = value + excluded.value");
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &q, NULL) != SQLITE_OK) {
        sqlite3_finalize(q);
        return NULL;
    }
    return s->counter_add[lg] = q;
}

void wr_sqlite_counters_close(wr_sqlite_store *s)
{
    for (size_t i = 0; i <= ROWS_LOG2_MAX; i++) {
        sqlite3_finalize(s->counter_add[i]);
        s->counter_add[i] = NULL;
    }
}

/* Adds inside a transaction the caller holds (mu held). */
static writ_status add_rows(wr_sqlite_store *s, const wr_counter_delta *d, size_t n, writ_error *err)
{
    writ_status st = WRIT_OK;
    for (size_t at = 0; at < n && !st;) {
        unsigned lg = ROWS_LOG2_MAX;
        while (((size_t)1 << lg) > n - at)
            lg--;
        size_t rows = (size_t)1 << lg;
        sqlite3_stmt *q = rows_stmt(s, lg);
        if (!q)
            return wr_sqlite_fail(s, err, "counter add");
        for (size_t i = 0; i < rows; i++) {
            const wr_counter_delta *x = &d[at + i];
            int b = (int)i * 5;
            sqlite3_bind_text(q, b + 1, x->limit, -1, SQLITE_STATIC);
            sqlite3_bind_text(q, b + 2, x->key, -1, SQLITE_STATIC);
            sqlite3_bind_int64(q, b + 3, x->bucket);
            sqlite3_bind_int64(q, b + 4, x->delta);
            sqlite3_bind_int64(q, b + 5, x->expires_ms);
        }
        if (sqlite3_step(q) != SQLITE_DONE)
            st = wr_sqlite_fail(s, err, "counter add");
        /* the bound strings are the caller's: unbind them before it frees them */
        sqlite3_reset(q);
        sqlite3_clear_bindings(q);
        at += rows;
    }
    if (!st) {
        /* expired rows, now and then */
        static _Atomic int64_t last_purge;
        int64_t now = wr_wall_ms();
        if (now - last_purge > 60000) {
            last_purge = now;
            char del[96];
            snprintf(del, sizeof del, "DELETE FROM counters WHERE expires_ms < %lld", (long long)now);
            if (sqlite3_exec(s->db, del, NULL, NULL, NULL) != SQLITE_OK)
                st = wr_sqlite_fail(s, err, "counter purge");
        }
    }
    return st;
}

writ_status wr_sqlite_counter_add_many(wr_store *st, const wr_counter_delta *d, size_t n, writ_error *err)
{
    wr_sqlite_store *s = (wr_sqlite_store *)st;
    pthread_mutex_lock(&s->mu);
    writ_status rc;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        rc = wr_sqlite_fail(s, err, "counter add: begin");
    } else if ((rc = add_rows(s, d, n, err)) != WRIT_OK) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    } else if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = wr_sqlite_fail(s, err, "counter add: commit");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

writ_status wr_sqlite_counter_add(wr_store *st, const char *limit, const char *key, int64_t bucket,
                                  int64_t delta, int64_t expires_ms, writ_error *err)
{
    wr_counter_delta d = {limit, key, bucket, delta, expires_ms};
    return wr_sqlite_counter_add_many(st, &d, 1, err);
}

/* The sum of first..last (mu held). */
static writ_status sum_rows(wr_sqlite_store *s, const char *limit, const char *key, int64_t first,
                            int64_t last, int64_t *sum, writ_error *err)
{
    sqlite3_stmt *q = NULL;
    writ_status rc = WRIT_OK;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT coalesce(sum(value), 0) FROM counters WHERE limit_id = ? AND key = ? AND "
                           "bucket BETWEEN ? AND ?",
                           -1, &q, NULL) != SQLITE_OK) {
        rc = wr_sqlite_fail(s, err, "counter sum");
    } else {
        sqlite3_bind_text(q, 1, limit, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 3, first);
        sqlite3_bind_int64(q, 4, last);
        if (sqlite3_step(q) == SQLITE_ROW)
            *sum = sqlite3_column_int64(q, 0);
        else
            rc = wr_sqlite_fail(s, err, "counter sum");
    }
    sqlite3_finalize(q);
    return rc;
}

writ_status wr_sqlite_counter_sum(wr_store *st, const char *limit, const char *key, int64_t first,
                                  int64_t last, int64_t *sum, writ_error *err)
{
    wr_sqlite_store *s = (wr_sqlite_store *)st;
    *sum = 0;
    pthread_mutex_lock(&s->mu);
    writ_status rc = sum_rows(s, limit, key, first, last, sum, err);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

writ_status wr_sqlite_counter_take(wr_store *st, const char *limit, const char *key, int64_t first,
                                   int64_t last, int64_t at, int64_t delta, int64_t expires_ms, int64_t *sum,
                                   writ_error *err)
{
    wr_sqlite_store *s = (wr_sqlite_store *)st;
    *sum = 0;
    wr_counter_delta d = {limit, key, at, delta, expires_ms};
    pthread_mutex_lock(&s->mu);
    /* BEGIN IMMEDIATE: the write lock first, so that another process's
     * take waits for this one's add before it reads */
    writ_status rc;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        rc = wr_sqlite_fail(s, err, "counter take: begin");
    } else if ((rc = sum_rows(s, limit, key, first, last, sum, err)) != WRIT_OK ||
               (delta && (rc = add_rows(s, &d, 1, err)) != WRIT_OK)) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    } else if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = wr_sqlite_fail(s, err, "counter take: commit");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    if (rc)
        *sum = 0;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

writ_status wr_sqlite_counter_scan(wr_store *st, const char *limit, int64_t now_ms,
                                   bool (*fn)(void *ud, const char *key, int64_t bucket, int64_t value,
                                              int64_t expires_ms),
                                   void *ud, writ_error *err)
{
    wr_sqlite_store *s = (wr_sqlite_store *)st;
    pthread_mutex_lock(&s->mu);
    writ_status rc = WRIT_OK;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM counters WHERE limit_id = ? AND expires_ms <= ?", -1, &q,
                           NULL) != SQLITE_OK) {
        rc = wr_sqlite_fail(s, err, "counter scan");
    } else {
        sqlite3_bind_text(q, 1, limit, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, now_ms);
        if (sqlite3_step(q) != SQLITE_DONE)
            rc = wr_sqlite_fail(s, err, "counter scan");
    }
    sqlite3_finalize(q);
    q = NULL;
    if (!rc &&
        sqlite3_prepare_v2(s->db,
                           "SELECT key, bucket, value, expires_ms FROM counters WHERE limit_id = ? AND "
                           "expires_ms > ? ORDER BY key, bucket",
                           -1, &q, NULL) != SQLITE_OK)
        rc = wr_sqlite_fail(s, err, "counter scan");
    if (!rc) {
        sqlite3_bind_text(q, 1, limit, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, now_ms);
        int r;
        while ((r = sqlite3_step(q)) == SQLITE_ROW) {
            const char *key = (const char *)sqlite3_column_text(q, 0);
            if (!fn(ud, key ? key : "", sqlite3_column_int64(q, 1), sqlite3_column_int64(q, 2),
                    sqlite3_column_int64(q, 3)))
                break;
        }
        if (r != SQLITE_ROW && r != SQLITE_DONE)
            rc = wr_sqlite_fail(s, err, "counter scan");
    }
    sqlite3_finalize(q);
    pthread_mutex_unlock(&s->mu);
    return rc;
}
