/* sqlite_int.h - the SQLite backend's handle, shared by its files:
 * sqlite.c (open, close, schema), sqlite_approvals.c, sqlite_counters.c,
 * sqlite_revocations.c, sqlite_mcptasks.c. */
#ifndef WRIT_STORE_SQLITE_INT_H
#define WRIT_STORE_SQLITE_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "store/store_int.h"

typedef struct wr_sqlite_store {
    wr_store base;
    sqlite3 *db;           /* one connection, serialised by mu */
    pthread_mutex_t mu;
    /* counter adds of 1, 2, 4 .. 64 rows (sqlite_counters.c), prepared
     * when first used, finalized by wr_sqlite_counters_close */
    sqlite3_stmt *counter_add[7];
} wr_sqlite_store;

/* Each area creates its own tables (CREATE TABLE IF NOT EXISTS). */
writ_status wr_sqlite_approvals_init(wr_sqlite_store *s, writ_error *err);
writ_status wr_sqlite_counters_init(wr_sqlite_store *s, writ_error *err);
writ_status wr_sqlite_revocations_init(wr_sqlite_store *s, writ_error *err);
writ_status wr_sqlite_mcptasks_init(wr_sqlite_store *s, writ_error *err);
/* Before the connection closes: the statements an area keeps. */
void wr_sqlite_counters_close(wr_sqlite_store *s);

/* Fill err from the connection's last error; returns WRIT_EIO. */
writ_status wr_sqlite_fail(wr_sqlite_store *s, writ_error *err, const char *what);

/* The operations, one file per area. */
writ_status wr_sqlite_approval_take(wr_store *st, const wr_approval *want, uint32_t max_pending,
                                    int64_t now_ms, wr_take *res, wr_approval *out, writ_error *err);
writ_status wr_sqlite_approval_get(wr_store *st, const char *id, int64_t now_ms, wr_approval *out, bool *found,
                                   writ_error *err);
writ_status wr_sqlite_approval_page(wr_store *st, int status, const wr_approval_pos *after, size_t limit,
                                    int64_t now_ms, wr_approval **out, size_t *n,
                                    writ_error *err);
writ_status wr_sqlite_approval_decide(wr_store *st, const char *id, bool approve, const char *by,
                                      const char *reason, int64_t now_ms, wr_decide_result *res,
                                      wr_approval *out, writ_error *err);
writ_status wr_sqlite_approval_expired(wr_store *st, int64_t now_ms, wr_approval **out, size_t *n,
                                       writ_error *err);
writ_status wr_sqlite_approval_prune(wr_store *st, int64_t before_ms, size_t *removed, writ_error *err);
writ_status wr_sqlite_counter_add(wr_store *st, const char *limit, const char *key, int64_t bucket,
                                  int64_t delta, int64_t expires_ms, writ_error *err);
writ_status wr_sqlite_counter_add_many(wr_store *st, const wr_counter_delta *d, size_t n, writ_error *err);
writ_status wr_sqlite_counter_sum(wr_store *st, const char *limit, const char *key, int64_t first,
                                  int64_t last, int64_t *sum, writ_error *err);
writ_status wr_sqlite_counter_take(wr_store *st, const char *limit, const char *key, int64_t first,
                                   int64_t last, int64_t at, int64_t delta, int64_t expires_ms, int64_t *sum,
                                   writ_error *err);
writ_status wr_sqlite_counter_scan(wr_store *st, const char *limit, int64_t now_ms,
                                   bool (*fn)(void *ud, const char *key, int64_t bucket, int64_t value,
                                              int64_t expires_ms),
                                   void *ud, writ_error *err);
writ_status wr_sqlite_revocation_publish(wr_store *st, int kind, const char *value, size_t len, int64_t until,
                                         writ_error *err);
writ_status wr_sqlite_revocation_follow(wr_store *st, char cursor[WR_REV_CURSOR_MAX], int wait_ms,
                                        bool (*fn)(void *ud, int kind, const char *value, size_t len,
                                                   int64_t until),
                                        void *ud, bool *lost, writ_error *err);
writ_status wr_sqlite_mcp_task_bind(wr_store *st, const char *upstream, const char *id, size_t idlen,
                                    const char *owner, int64_t expires_ms, uint32_t max_per_owner,
                                    int64_t now_ms, bool *mine, writ_error *err);
writ_status wr_sqlite_mcp_task_owner(wr_store *st, const char *upstream, const char *id, size_t idlen,
                                     int64_t now_ms, char owner[WR_MCP_TASK_OWNER_MAX + 1],
                                     int64_t *expires_ms, bool *found, writ_error *err);

#endif
