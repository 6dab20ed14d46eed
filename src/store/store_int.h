/* store_int.h - what a state backend provides: one table of operations,
 * each with the meaning store.h gives its wrapper. */
#ifndef WRIT_STORE_STORE_INT_H
#define WRIT_STORE_STORE_INT_H

#include "store/store.h"

typedef struct wr_store_ops {
    const char *name; /* "sqlite", "redis" */
    bool shared;      /* other replicas change the state too */
    void (*close)(wr_store *st);
    /* max_pending: wr_store_approval_take's cap, 0 = none */
    writ_status (*approval_take)(wr_store *st, const wr_approval *want, uint32_t max_pending, int64_t now_ms,
                                 wr_take *res, wr_approval *out, writ_error *err);
    writ_status (*approval_get)(wr_store *st, const char *id, int64_t now_ms, wr_approval *out, bool *found,
                                writ_error *err);
    /* at most limit approvals of the listing after *after (store.h);
     * limit is wr_store_approval_page's plus the one that tells more follow */
    writ_status (*approval_page)(wr_store *st, int status, const wr_approval_pos *after, size_t limit,
                                 int64_t now_ms, wr_approval **out, size_t *n, writ_error *err);
    writ_status (*approval_decide)(wr_store *st, const char *id, bool approve, const char *by,
                                   const char *reason, int64_t now_ms, wr_decide_result *res,
                                   wr_approval *out, writ_error *err);
    writ_status (*approval_expired)(wr_store *st, int64_t now_ms, wr_approval **out, size_t *n,
                                    writ_error *err);
    writ_status (*approval_prune)(wr_store *st, int64_t before_ms, size_t *removed, writ_error *err);
    writ_status (*counter_add)(wr_store *st, const char *limit, const char *key, int64_t bucket,
                               int64_t delta, int64_t expires_ms, writ_error *err);
    /* optional (NULL: counter_add for each) */
    writ_status (*counter_add_many)(wr_store *st, const wr_counter_delta *d, size_t n, writ_error *err);
    writ_status (*counter_sum)(wr_store *st, const char *limit, const char *key, int64_t first, int64_t last,
                               int64_t *sum, writ_error *err);
    writ_status (*counter_take)(wr_store *st, const char *limit, const char *key, int64_t first, int64_t last,
                                int64_t at, int64_t delta, int64_t expires_ms, int64_t *sum, writ_error *err);
    writ_status (*counter_scan)(wr_store *st, const char *limit, int64_t now_ms,
                                bool (*fn)(void *ud, const char *key, int64_t bucket, int64_t value,
                                           int64_t expires_ms),
                                void *ud, writ_error *err);
    writ_status (*revocation_publish)(wr_store *st, int kind, const char *value, size_t len, int64_t until,
                                      writ_error *err);
    writ_status (*revocation_follow)(wr_store *st, char cursor[WR_REV_CURSOR_MAX], int wait_ms,
                                     bool (*fn)(void *ud, int kind, const char *value, size_t len,
                                                int64_t until),
                                     void *ud, bool *lost, writ_error *err);
    /* arguments checked by store.c (lengths, no NUL in the id) */
    writ_status (*mcp_task_bind)(wr_store *st, const char *upstream, const char *id, size_t idlen,
                                 const char *owner, int64_t expires_ms, uint32_t max_per_owner,
                                 int64_t now_ms, bool *mine, writ_error *err);
    writ_status (*mcp_task_owner)(wr_store *st, const char *upstream, const char *id, size_t idlen,
                                  int64_t now_ms, char owner[WR_MCP_TASK_OWNER_MAX + 1], int64_t *expires_ms,
                                  bool *found, writ_error *err);
} wr_store_ops;

/* Every backend's handle starts with this. */
struct wr_store {
    const wr_store_ops *ops;
};

/* The SQLite backend (sqlite.c). */
WRIT_MUST_CHECK writ_status wr_sqlite_store_open(const char *path, wr_store **out, writ_error *err);
/* The Redis backend (redis.c): spec is redis://... or rediss://... */
WRIT_MUST_CHECK writ_status wr_redis_store_open(const char *spec, const wr_store_opts *o, wr_store **out,
                                                writ_error *err);

#endif
