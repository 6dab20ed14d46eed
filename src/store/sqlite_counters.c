/* sqlite_counters.c - task-history counters in the SQLite backend.
 * Placeholder until the limits work lands: every operation reports that
 * counters are not available. */
#include "store/sqlite_int.h"

#include <stdio.h>
#include <string.h>

static writ_status na(writ_error *err)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = WRIT_EINVAL;
        snprintf(err->msg, sizeof err->msg, "state: counters are not available in this build");
    }
    return WRIT_EINVAL;
}

writ_status wr_sqlite_counters_init(wr_sqlite_store *s, writ_error *err)
{
    (void)s;
    (void)err;
    return WRIT_OK;
}
writ_status wr_sqlite_counter_add(wr_store *st, const char *limit, const char *key, int64_t bucket,
                                  int64_t delta, int64_t expires_ms, writ_error *err)
{
    (void)st, (void)limit, (void)key, (void)bucket, (void)delta, (void)expires_ms;
    return na(err);
}
writ_status wr_sqlite_counter_sum(wr_store *st, const char *limit, const char *key, int64_t first,
                                  int64_t last, int64_t *sum, writ_error *err)
{
    (void)st, (void)limit, (void)key, (void)first, (void)last, (void)sum;
    return na(err);
}
writ_status wr_sqlite_counter_scan(wr_store *st, const char *limit, int64_t now_ms,
                                   bool (*fn)(void *ud, const char *key, int64_t bucket, int64_t value,
                                              int64_t expires_ms),
                                   void *ud, writ_error *err)
{
    (void)st, (void)limit, (void)now_ms, (void)fn, (void)ud;
    return na(err);
}
