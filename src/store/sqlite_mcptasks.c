/* sqlite_mcptasks.c - MCP task bindings in the SQLite backend (store.h).
 *
 * One row per (upstream, task id): its owner and expires_ms.  A bind is one
 * BEGIN IMMEDIATE transaction: read the id's row (a live one is kept: the
 * first writer wins), write the new one, drop the owner's bindings past
 * max_per_owner (those expiring first), and delete at most CLEAN_BATCH
 * expired rows of anyone's.  Each bind thus removes more expired rows than
 * it adds, so the table holds about what is live without a sweep of its
 * own, and no bind waits on a long delete.  A lookup reads one row and
 * ignores an expired one. */
#include "store/sqlite_int.h"

#include <stdio.h>
#include <string.h>

#define CLEAN_BATCH 64

writ_status wr_sqlite_mcptasks_init(wr_sqlite_store *s, writ_error *err)
{
    if (sqlite3_exec(s->db,
                     "CREATE TABLE IF NOT EXISTS mcp_tasks ("
                     " upstream TEXT NOT NULL, task_id TEXT NOT NULL, owner TEXT NOT NULL,"
                     " expires_ms INTEGER NOT NULL, UNIQUE (upstream, task_id));"
                     "CREATE INDEX IF NOT EXISTS mcp_tasks_owner ON mcp_tasks (upstream, owner, expires_ms);"
                     "CREATE INDEX IF NOT EXISTS mcp_tasks_expiry ON mcp_tasks (expires_ms);",
                     NULL, NULL, NULL) != SQLITE_OK)
        return wr_sqlite_fail(s, err, "cannot create the mcp_tasks table");
    return WRIT_OK;
}

/* Prepare sql with what it names of ?1 upstream, ?2 the id, ?3 owner,
 * ?4 n1 and ?5 n2 bound (the texts are not copied).  NULL on error. */
static sqlite3_stmt *prep(wr_sqlite_store *s, const char *sql, const char *upstream, const char *id,
                          size_t idlen, const char *owner, int64_t n1, int64_t n2)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return NULL;
    int k;
    if ((k = sqlite3_bind_parameter_index(q, "?1")) > 0)
        sqlite3_bind_text(q, k, upstream, -1, SQLITE_STATIC);
    if ((k = sqlite3_bind_parameter_index(q, "?2")) > 0)
        sqlite3_bind_text(q, k, id, (int)idlen, SQLITE_STATIC);
    if ((k = sqlite3_bind_parameter_index(q, "?3")) > 0)
        sqlite3_bind_text(q, k, owner, -1, SQLITE_STATIC);
    if ((k = sqlite3_bind_parameter_index(q, "?4")) > 0)
        sqlite3_bind_int64(q, k, n1);
    if ((k = sqlite3_bind_parameter_index(q, "?5")) > 0)
        sqlite3_bind_int64(q, k, n2);
    return q;
}

/* Run a statement that returns no row. */
static bool run(wr_sqlite_store *s, const char *sql, const char *upstream, const char *id, size_t idlen,
                const char *owner, int64_t n1, int64_t n2)
{
    sqlite3_stmt *q = prep(s, sql, upstream, id, idlen, owner, n1, n2);
    bool ok = q && sqlite3_step(q) == SQLITE_DONE;
    sqlite3_finalize(q);
    return ok;
}

writ_status wr_sqlite_mcp_task_bind(wr_store *st, const char *upstream, const char *id, size_t idlen,
                                    const char *owner, int64_t expires_ms, uint32_t max_per_owner,
                                    int64_t now_ms, bool *mine, writ_error *err)
{
    wr_sqlite_store *s = (wr_sqlite_store *)st;
    writ_status ret = WRIT_OK;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        ret = wr_sqlite_fail(s, err, "cannot bind an mcp task");
        pthread_mutex_unlock(&s->mu);
        return ret;
    }
    sqlite3_stmt *q =
        prep(s, "SELECT owner FROM mcp_tasks WHERE upstream = ?1 AND task_id = ?2 AND expires_ms > ?4",
             upstream, id, idlen, NULL, now_ms, 0);
    int rc = q ? sqlite3_step(q) : SQLITE_ERROR;
    if (rc == SQLITE_ROW) {
        /* a live binding: kept, whoever's it is */
        const char *o = (const char *)sqlite3_column_text(q, 0);
        *mine = o && !strcmp(o, owner);
    } else if (rc == SQLITE_DONE) {
        /* the owner's others, past max_per_owner - 1 with this one spared,
         * go (expiring first), and a batch of anyone's expired rows */
        *mine =
            run(s,
                "INSERT INTO mcp_tasks (upstream, task_id, owner, expires_ms) VALUES (?1, ?2, ?3, ?4) "
                "ON CONFLICT (upstream, task_id) DO UPDATE SET owner = excluded.owner, "
                "expires_ms = excluded.expires_ms",
                upstream, id, idlen, owner, expires_ms, 0) &&
            (!max_per_owner ||
             run(s,
                 "DELETE FROM mcp_tasks WHERE rowid IN (SELECT rowid FROM mcp_tasks WHERE upstream = ?1 "
                 "AND owner = ?3 AND task_id != ?2 ORDER BY expires_ms DESC LIMIT -1 OFFSET ?4)",
                 upstream, id, idlen, owner, (int64_t)max_per_owner - 1, 0)) &&
            run(s,
                "DELETE FROM mcp_tasks WHERE rowid IN (SELECT rowid FROM mcp_tasks WHERE expires_ms <= ?4 "
                "LIMIT ?5)",
                NULL, NULL, 0, NULL, now_ms, CLEAN_BATCH);
        if (!*mine)
            ret = wr_sqlite_fail(s, err, "cannot bind an mcp task");
    } else {
        ret = wr_sqlite_fail(s, err, "cannot read an mcp task");
    }
    sqlite3_finalize(q);
    if (ret || sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        if (!ret)
            ret = wr_sqlite_fail(s, err, "cannot bind an mcp task");
        *mine = false;
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    pthread_mutex_unlock(&s->mu);
    return ret;
}

writ_status wr_sqlite_mcp_task_owner(wr_store *st, const char *upstream, const char *id, size_t idlen,
                                     int64_t now_ms, char owner[WR_MCP_TASK_OWNER_MAX + 1],
                                     int64_t *expires_ms, bool *found, writ_error *err)
{
    wr_sqlite_store *s = (wr_sqlite_store *)st;
    writ_status ret = WRIT_OK;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *q = prep(
        s, "SELECT owner, expires_ms FROM mcp_tasks WHERE upstream = ?1 AND task_id = ?2 AND expires_ms > ?4",
        upstream, id, idlen, NULL, now_ms, 0);
    int rc = q ? sqlite3_step(q) : SQLITE_ERROR;
    if (rc == SQLITE_ROW) {
        const char *o = (const char *)sqlite3_column_text(q, 0);
        int n = sqlite3_column_bytes(q, 0);
        if (o && n > 0 && n <= WR_MCP_TASK_OWNER_MAX) {
            memcpy(owner, o, (size_t)n);
            owner[n] = '\0';
            *expires_ms = sqlite3_column_int64(q, 1);
            *found = true;
        } else {
            ret = wr_sqlite_fail(s, err, "an mcp task's owner is malformed");
        }
    } else if (rc != SQLITE_DONE) {
        ret = wr_sqlite_fail(s, err, "cannot read an mcp task");
    }
    sqlite3_finalize(q);
    pthread_mutex_unlock(&s->mu);
    return ret;
}
