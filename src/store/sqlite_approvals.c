/* sqlite_approvals.c - approvals in the SQLite backend.  Placeholder until
 * the approvals work lands: every operation reports that approvals are not
 * available, so nothing is ever allowed through it. */
#include "store/sqlite_int.h"

#include <stdio.h>
#include <string.h>

static writ_status na(writ_error *err)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = WRIT_EINVAL;
        snprintf(err->msg, sizeof err->msg, "state: approvals are not available in this build");
    }
    return WRIT_EINVAL;
}

writ_status wr_sqlite_approvals_init(wr_sqlite_store *s, writ_error *err)
{
    (void)s;
    (void)err;
    return WRIT_OK;
}
writ_status wr_sqlite_approval_take(wr_store *st, const wr_approval *want, int64_t now_ms, wr_take *res,
                                    wr_approval *out, writ_error *err)
{
    (void)st, (void)want, (void)now_ms, (void)res, (void)out;
    return na(err);
}
writ_status wr_sqlite_approval_get(wr_store *st, const char *id, int64_t now_ms, wr_approval *out, bool *found,
                                   writ_error *err)
{
    (void)st, (void)id, (void)now_ms, (void)out, (void)found;
    return na(err);
}
writ_status wr_sqlite_approval_list(wr_store *st, int status, int64_t now_ms, wr_approval **out, size_t *n,
                                    writ_error *err)
{
    (void)st, (void)status, (void)now_ms, (void)out, (void)n;
    return na(err);
}
writ_status wr_sqlite_approval_decide(wr_store *st, const char *id, bool approve, const char *by,
                                      const char *reason, int64_t now_ms, wr_decide_result *res,
                                      wr_approval *out, writ_error *err)
{
    (void)st, (void)id, (void)approve, (void)by, (void)reason, (void)now_ms, (void)res, (void)out;
    return na(err);
}
writ_status wr_sqlite_approval_expired(wr_store *st, int64_t now_ms, wr_approval **out, size_t *n,
                                       writ_error *err)
{
    (void)st, (void)now_ms, (void)out, (void)n;
    return na(err);
}
