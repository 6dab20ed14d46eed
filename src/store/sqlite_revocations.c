/* sqlite_revocations.c - the revocation feed in the SQLite backend: the
 * revocations table that revocations.c reads and writes (same schema, same
 * file), its rowids as the log.  Processes sharing the file follow it by
 * reading rows above the last id they saw. */
#include "store/sqlite_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

writ_status wr_sqlite_revocations_init(wr_sqlite_store *s, writ_error *err)
{
    static const char schema[] = "CREATE TABLE IF NOT EXISTS revocations("
                                 "  id INTEGER PRIMARY KEY,"
                                 "  kind INTEGER NOT NULL CHECK (kind BETWEEN 1 AND 4),"
                                 "  value TEXT NOT NULL,"
                                 "  until INTEGER NOT NULL DEFAULT 0,"
                                 "  note TEXT,"
                                 "  created INTEGER NOT NULL,"
                                 "  UNIQUE(kind, value));";
    pthread_mutex_lock(&s->mu);
    int rc = sqlite3_exec(s->db, schema, NULL, NULL, NULL);
    pthread_mutex_unlock(&s->mu);
    return rc == SQLITE_OK ? WRIT_OK : wr_sqlite_fail(s, err, "cannot create the revocations table");
}

writ_status wr_sqlite_revocation_publish(wr_store *st, int kind, const char *value, size_t len, int64_t until,
                                         writ_error *err)
{
    wr_sqlite_store *s = (wr_sqlite_store *)st;
    static const char sql[] =
        "INSERT INTO revocations(kind, value, until, created) VALUES(?, ?, ?, ?) "
        "ON CONFLICT(kind, value) DO UPDATE SET until = CASE WHEN excluded.until = 0 OR "
        "until = 0 THEN 0 ELSE max(until, excluded.until) END";
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int(q, 1, kind);
        sqlite3_bind_text(q, 2, value, (int)len, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 3, until);
        sqlite3_bind_int64(q, 4, (sqlite3_int64)time(NULL));
        rc = sqlite3_step(q);
    }
    writ_status ret = rc == SQLITE_DONE ? WRIT_OK : wr_sqlite_fail(s, err, "cannot write a revocation");
    sqlite3_finalize(q);
    pthread_mutex_unlock(&s->mu);
    return ret;
}

writ_status wr_sqlite_revocation_follow(wr_store *st, char cursor[WR_REV_CURSOR_MAX], int wait_ms,
                                        bool (*fn)(void *ud, int kind, const char *value, size_t len,
                                                   int64_t until),
                                        void *ud, bool *lost, writ_error *err)
{
    (void)wait_ms; /* a file has no way to wait for a writer: callers poll */
    wr_sqlite_store *s = (wr_sqlite_store *)st;
    int64_t from = 0;
    if (*cursor) {
        char *end = NULL;
        long long v = strtoll(cursor, &end, 10);
        from = (*end || v < 0) ? 0 : (int64_t)v;
    }
    pthread_mutex_lock(&s->mu);
    writ_status ret = WRIT_OK;
    sqlite3_stmt *q = NULL;
    /* a cursor past the last row: the file was replaced; start over */
    if (sqlite3_prepare_v2(s->db, "SELECT coalesce(max(id), 0) FROM revocations", -1, &q, NULL) !=
            SQLITE_OK ||
        sqlite3_step(q) != SQLITE_ROW) {
        ret = wr_sqlite_fail(s, err, "cannot read revocations");
        goto out;
    }
    if (sqlite3_column_int64(q, 0) < from) {
        from = 0;
        *lost = true;
    }
    sqlite3_finalize(q);
    q = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT id, kind, value, until FROM revocations WHERE id > ? ORDER BY id",
                           -1, &q, NULL) != SQLITE_OK) {
        ret = wr_sqlite_fail(s, err, "cannot read revocations");
        goto out;
    }
    sqlite3_bind_int64(q, 1, from);
    int64_t last = from;
    bool stopped = false;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int kind = sqlite3_column_int(q, 1);
        const char *v = (const char *)sqlite3_column_text(q, 2);
        int n = sqlite3_column_bytes(q, 2);
        if (kind >= 1 && kind <= 4 && v && n > 0 && n <= 2048 &&
            !fn(ud, kind, v, (size_t)n, sqlite3_column_int64(q, 3))) {
            stopped = true;
            break;
        }
        last = sqlite3_column_int64(q, 0);
    }
    if (!stopped && rc != SQLITE_DONE) {
        ret = wr_sqlite_fail(s, err, "cannot read revocations");
        goto out;
    }
    if (!stopped)
        snprintf(cursor, WR_REV_CURSOR_MAX, "%" PRId64, last);
out:
    sqlite3_finalize(q);
    pthread_mutex_unlock(&s->mu);
    return ret;
}
