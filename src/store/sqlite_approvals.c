/* sqlite_approvals.c - approvals in the SQLite backend.
 *
 * One row per approval.  The stored status is what a person or a request
 * made of it (pending, approved, denied, consumed); "expired" is never
 * stored: a pending or approved row whose expires_ms has passed reads as
 * expired (store.h).  expiry_reported marks the rows already handed out by
 * wr_sqlite_approval_expired, so each expiry is audited once.
 *
 * Atomicity.  Inside this process the connection is serialised by s->mu;
 * against other processes on the same file every operation that reads and
 * then writes runs in one BEGIN IMMEDIATE transaction, which takes the
 * database's write lock before the first read.  So of N callers racing on
 * one approved approval (threads or processes), exactly one finds it
 * approved and flips it to consumed; the others find it consumed.  Likewise
 * a take counts the agent's pending approvals and creates one in the same
 * transaction, so racing requests never go past the cap together. */
#include "store/sqlite_int.h"
#include "util/alloc.h"
#include "util/error.h"

#include <stdio.h>
#include <string.h>

/* Most rows one collect returns: a page and the one that says there are
 * more. */
#define APPROVALS_LIST_MAX (WR_APPROVAL_PAGE_MAX + 1)

enum { ST_PENDING = 0, ST_APPROVED = 1, ST_DENIED = 2, ST_CONSUMED = 3 };

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS approvals ("
    " id TEXT PRIMARY KEY,"
    " binding TEXT NOT NULL,"
    " status INTEGER NOT NULL,"
    " agent TEXT NOT NULL, action TEXT NOT NULL, resource TEXT NOT NULL,"
    " task_id TEXT, task_purpose TEXT, chain TEXT NOT NULL,"
    " input_sha256 TEXT NOT NULL, input TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, decided_ms INTEGER NOT NULL DEFAULT 0,"
    " decided_by TEXT, reason TEXT,"
    " expiry_reported INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS approvals_by_binding ON approvals(binding, status, expires_ms);"
    /* the listing's order and keyset (created_ms, id) < (?, ?); it
     * replaces an index of created_ms alone, which left ties to a sort */
    "DROP INDEX IF EXISTS approvals_by_created;"
    "CREATE INDEX IF NOT EXISTS approvals_by_created_id ON approvals(created_ms, id);"
    "CREATE INDEX IF NOT EXISTS approvals_unreported ON approvals(expiry_reported, expires_ms);"
    "CREATE INDEX IF NOT EXISTS approvals_by_agent ON approvals(agent, status, expires_ms);";

#define COLS                                                                                                 \
    "id, binding, status, agent, action, resource, task_id, task_purpose, chain, input_sha256, input, "      \
    "created_ms, expires_ms, decided_ms, decided_by, reason"

writ_status wr_sqlite_approvals_init(wr_sqlite_store *s, writ_error *err)
{
    pthread_mutex_lock(&s->mu);
    int rc = sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL);
    writ_status st = rc == SQLITE_OK ? WRIT_OK : wr_sqlite_fail(s, err, "cannot create the approvals table");
    pthread_mutex_unlock(&s->mu);
    return st;
}

static char *col_dup(sqlite3_stmt *q, int i)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    if (!t)
        return NULL;
    return wr_strndup((const char *)t, (size_t)sqlite3_column_bytes(q, i));
}

static void col_fixed(sqlite3_stmt *q, int i, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

/* The row at q (columns COLS) into a; the status as seen at now_ms.
 * -1 on out of memory (a cleared). */
static int read_row(sqlite3_stmt *q, int64_t now_ms, wr_approval *a)
{
    memset(a, 0, sizeof *a);
    col_fixed(q, 0, a->id, sizeof a->id);
    col_fixed(q, 1, a->binding, sizeof a->binding);
    int stv = sqlite3_column_int(q, 2);
    a->agent = col_dup(q, 3);
    a->action = col_dup(q, 4);
    a->resource = col_dup(q, 5);
    a->task_id = col_dup(q, 6);
    a->task_purpose = col_dup(q, 7);
    a->chain = col_dup(q, 8);
    col_fixed(q, 9, a->input_sha256, sizeof a->input_sha256);
    a->input = col_dup(q, 10);
    a->created_ms = sqlite3_column_int64(q, 11);
    a->expires_ms = sqlite3_column_int64(q, 12);
    a->decided_ms = sqlite3_column_int64(q, 13);
    a->decided_by = col_dup(q, 14);
    a->reason = col_dup(q, 15);
    switch (stv) {
    case ST_APPROVED:
        a->status = WR_APPROVAL_APPROVED;
        break;
    case ST_DENIED:
        a->status = WR_APPROVAL_DENIED;
        break;
    case ST_CONSUMED:
        a->status = WR_APPROVAL_CONSUMED;
        break;
    default:
        a->status = WR_APPROVAL_PENDING;
        break;
    }
    if ((a->status == WR_APPROVAL_PENDING || a->status == WR_APPROVAL_APPROVED) && a->expires_ms <= now_ms)
        a->status = WR_APPROVAL_EXPIRED;
    if (!a->agent || !a->action || !a->resource || !a->chain || !a->input) {
        wr_approval_clear(a);
        return -1;
    }
    return 0;
}

static int bind_text(sqlite3_stmt *q, int i, const char *v)
{
    return v ? sqlite3_bind_text(q, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(q, i);
}

static bool exec(wr_sqlite_store *s, const char *sql)
{
    return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK;
}

/* End a transaction begun with BEGIN IMMEDIATE: COMMIT when st is OK (a
 * failed commit turns into an error), else ROLLBACK. */
static writ_status finish(wr_sqlite_store *s, writ_status st, writ_error *err)
{
    if (st == WRIT_OK) {
        if (exec(s, "COMMIT"))
            return WRIT_OK;
        st = wr_sqlite_fail(s, err, "commit");
    }
    exec(s, "ROLLBACK");
    return st;
}

/* The first row of sql (with ?1 = text a, ?2 = now) into out: 1 found, 0
 * none, -1 error (err filled). */
static int select_one(wr_sqlite_store *s, const char *sql, const char *a, int64_t now_ms, wr_approval *out,
                      writ_error *err)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK) {
        wr_sqlite_fail(s, err, "prepare");
        return -1;
    }
    bind_text(q, 1, a);
    if (sqlite3_bind_parameter_count(q) >= 2)
        sqlite3_bind_int64(q, 2, now_ms);
    int rc = sqlite3_step(q), res;
    if (rc == SQLITE_ROW) {
        if (read_row(q, now_ms, out)) {
            memset(err, 0, sizeof *err);
            err->code = WRIT_ENOMEM;
            snprintf(err->msg, sizeof err->msg, "state: out of memory");
            res = -1;
        } else {
            res = 1;
        }
    } else if (rc == SQLITE_DONE) {
        res = 0;
    } else {
        wr_sqlite_fail(s, err, "select");
        res = -1;
    }
    sqlite3_finalize(q);
    return res;
}

static writ_status status_of(const writ_error *err) { return err->code ? err->code : WRIT_EIO; }

static writ_status insert(wr_sqlite_store *s, const wr_approval *w, writ_error *err)
{
    static const char sql[] =
        "INSERT INTO approvals (" COLS ") VALUES (?1,?2,0,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,0,"
        "NULL,NULL)";
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return wr_sqlite_fail(s, err, "prepare");
    bind_text(q, 1, w->id);
    bind_text(q, 2, w->binding);
    bind_text(q, 3, w->agent ? w->agent : "");
    bind_text(q, 4, w->action ? w->action : "");
    bind_text(q, 5, w->resource ? w->resource : "");
    bind_text(q, 6, w->task_id);
    bind_text(q, 7, w->task_purpose);
    bind_text(q, 8, w->chain ? w->chain : "[]");
    bind_text(q, 9, w->input_sha256);
    bind_text(q, 10, w->input ? w->input : "{}");
    sqlite3_bind_int64(q, 11, w->created_ms);
    sqlite3_bind_int64(q, 12, w->expires_ms);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? WRIT_OK : wr_sqlite_fail(s, err, "insert");
}

/* How many approvals agent has pending at now_ms, counted up to max (the
 * cap: no need to count further).  -1 on error (err filled). */
static int64_t count_pending(wr_sqlite_store *s, const char *agent, int64_t now_ms, uint32_t max,
                             writ_error *err)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT count(*) FROM (SELECT 1 FROM approvals WHERE agent = ?1 AND status = 0 "
                           "AND expires_ms > ?2 LIMIT ?3)",
                           -1, &q, NULL) != SQLITE_OK) {
        wr_sqlite_fail(s, err, "prepare");
        return -1;
    }
    bind_text(q, 1, agent);
    sqlite3_bind_int64(q, 2, now_ms);
    sqlite3_bind_int64(q, 3, max);
    int64_t n = -1;
    if (sqlite3_step(q) == SQLITE_ROW)
        n = sqlite3_column_int64(q, 0);
    else
        wr_sqlite_fail(s, err, "count pending");
    sqlite3_finalize(q);
    return n;
}

writ_status wr_sqlite_approval_take(wr_store *st, const wr_approval *want, uint32_t max_pending,
                                    int64_t now_ms, wr_take *res, wr_approval *out, writ_error *err)
{
    wr_sqlite_store *s = (wr_sqlite_store *)st;
    writ_error e0;
    if (!err)
        err = &e0;
    memset(err, 0, sizeof *err);
    memset(out, 0, sizeof *out);
    if (!want->id[0] || !want->binding[0] || want->expires_ms <= now_ms) {
        err->code = WRIT_EINVAL;
        snprintf(err->msg, sizeof err->msg, "state: an approval needs an id, a binding and a future expiry");
        return WRIT_EINVAL;
    }
    pthread_mutex_lock(&s->mu);
    writ_status rc = WRIT_OK;
    if (!exec(s, "BEGIN IMMEDIATE")) {
        rc = wr_sqlite_fail(s, err, "begin");
        pthread_mutex_unlock(&s->mu);
        return rc;
    }
    /* 1. an approved, live approval: consume it (single use) */
    int f = select_one(s,
                       "SELECT " COLS " FROM approvals WHERE binding = ?1 AND status = 1 AND expires_ms > ?2 "
                       "ORDER BY created_ms LIMIT 1",
                       want->binding, now_ms, out, err);
    if (f == 1) {
        sqlite3_stmt *q = NULL;
        int ok = sqlite3_prepare_v2(s->db, "UPDATE approvals SET status = 3 WHERE id = ?1 AND status = 1", -1,
                                    &q, NULL) == SQLITE_OK;
        if (ok) {
            bind_text(q, 1, out->id);
            ok = sqlite3_step(q) == SQLITE_DONE && sqlite3_changes(s->db) == 1;
        }
        sqlite3_finalize(q);
        if (!ok) {
            rc = wr_sqlite_fail(s, err, "consume");
        } else {
            out->status = WR_APPROVAL_CONSUMED;
            *res = WR_TAKE_CONSUMED;
        }
        goto done;
    }
    if (f < 0)
        goto fail;
    /* 2. the pending one for this binding, 3. a denial that still holds */
    f = select_one(s,
                   "SELECT " COLS " FROM approvals WHERE binding = ?1 AND status = 0 AND expires_ms > ?2 "
                   "ORDER BY created_ms LIMIT 1",
                   want->binding, now_ms, out, err);
    if (f == 1) {
        *res = WR_TAKE_PENDING;
        goto done;
    }
    if (f < 0)
        goto fail;
    f = select_one(s,
                   "SELECT " COLS " FROM approvals WHERE binding = ?1 AND status = 2 AND expires_ms > ?2 "
                   "ORDER BY created_ms DESC LIMIT 1",
                   want->binding, now_ms, out, err);
    if (f == 1) {
        *res = WR_TAKE_DENIED;
        goto done;
    }
    if (f < 0)
        goto fail;
    /* 4. nothing live: a new pending approval, unless the agent has
     * max_pending already (counted inside this transaction: no race) */
    if (max_pending) {
        int64_t n = count_pending(s, want->agent ? want->agent : "", now_ms, max_pending, err);
        if (n < 0)
            goto fail;
        if (n >= max_pending) {
            *res = WR_TAKE_FULL;
            goto done;
        }
    }
    if ((rc = insert(s, want, err)))
        goto done;
    f = select_one(s, "SELECT " COLS " FROM approvals WHERE id = ?1", want->id, now_ms, out, err);
    if (f != 1) {
        if (f == 0)
            wr_sqlite_fail(s, err, "the new approval is not there");
        goto fail;
    }
    *res = WR_TAKE_CREATED;
    goto done;
fail:
    rc = status_of(err);
done:
    rc = finish(s, rc, err);
    pthread_mutex_unlock(&s->mu);
    if (rc)
        wr_approval_clear(out);
    return rc;
}

writ_status wr_sqlite_approval_get(wr_store *st, const char *id, int64_t now_ms, wr_approval *out,
                                   bool *found, writ_error *err)
{
    wr_sqlite_store *s = (wr_sqlite_store *)st;
    writ_error e0;
    if (!err)
        err = &e0;
    memset(err, 0, sizeof *err);
    memset(out, 0, sizeof *out);
    *found = false;
    pthread_mutex_lock(&s->mu);
    int f = select_one(s, "SELECT " COLS " FROM approvals WHERE id = ?1", id, now_ms, out, err);
    pthread_mutex_unlock(&s->mu);
    if (f < 0)
        return status_of(err);
    *found = f == 1;
    return WRIT_OK;
}

/* Every row of q (bound already) into a new array. */
static writ_status collect(wr_sqlite_store *s, sqlite3_stmt *q, int want_status, int64_t now_ms,
                           wr_approval **out, size_t *n, writ_error *err)
{
    size_t cap = 0, len = 0;
    wr_approval *v = NULL;
    writ_status rc = WRIT_OK;
    int step;
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
        wr_approval a;
        if (read_row(q, now_ms, &a)) {
            rc = wr_error(err, WRIT_ENOMEM, "state: out of memory");
            break;
        }
        if (want_status >= 0 && (int)a.status != want_status) {
            wr_approval_clear(&a);
            continue;
        }
        if (len == cap) {
            size_t nc = cap ? cap * 2 : 16;
            wr_approval *nv = wr_realloc(v, nc * sizeof *nv);
            if (!nv) {
                wr_approval_clear(&a);
                rc = wr_error(err, WRIT_ENOMEM, "state: out of memory");
                break;
            }
            v = nv;
            cap = nc;
        }
        v[len++] = a;
        if (len == APPROVALS_LIST_MAX)
            break;
    }
    if (!rc && step != SQLITE_ROW && step != SQLITE_DONE)
        rc = wr_sqlite_fail(s, err, "select");
    if (rc) {
        wr_approvals_free(v, len);
        return rc;
    }
    *out = v;
    *n = len;
    return WRIT_OK;
}

/* The condition on the stored status that selects status at ?1 (now):
 * the stored status narrows the scan, the derived one (expired) is decided
 * per row. */
static const char *status_cond(int status)
{
    switch (status) {
    case WR_APPROVAL_PENDING:
        return "status = 0 AND expires_ms > ?1";
    case WR_APPROVAL_APPROVED:
        return "status = 1 AND expires_ms > ?1";
    case WR_APPROVAL_DENIED:
        return "status = 2 AND ?1 = ?1";
    case WR_APPROVAL_CONSUMED:
        return "status = 3 AND ?1 = ?1";
    case WR_APPROVAL_EXPIRED:
        return "status IN (0, 1) AND expires_ms <= ?1";
    default:
        return "?1 = ?1";
    }
}

writ_status wr_sqlite_approval_page(wr_store *st, int status, const wr_approval_pos *after, size_t limit,
                                    int64_t now_ms, wr_approval **out, size_t *n, writ_error *err)
{
    wr_sqlite_store *s = (wr_sqlite_store *)st;
    writ_error e0;
    if (!err)
        err = &e0;
    memset(err, 0, sizeof *err);
    *out = NULL;
    *n = 0;
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT " COLS " FROM approvals WHERE %s%s ORDER BY created_ms DESC, id DESC LIMIT ?4",
             status_cond(status), after ? " AND (created_ms, id) < (?2, ?3)" : "");
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *q = NULL;
    writ_status rc;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK) {
        rc = wr_sqlite_fail(s, err, "prepare");
    } else {
        sqlite3_bind_int64(q, 1, now_ms);
        if (after) {
            sqlite3_bind_int64(q, 2, after->created_ms);
            bind_text(q, 3, after->id);
        }
        sqlite3_bind_int64(q, 4, (sqlite3_int64)limit);
        rc = collect(s, q, status, now_ms, out, n, err);
    }
    sqlite3_finalize(q);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

writ_status wr_sqlite_approval_decide(wr_store *st, const char *id, bool approve, const char *by,
                                      const char *reason, int64_t now_ms, wr_decide_result *res,
                                      wr_approval *out, writ_error *err)
{
    wr_sqlite_store *s = (wr_sqlite_store *)st;
    writ_error e0;
    if (!err)
        err = &e0;
    memset(err, 0, sizeof *err);
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->mu);
    writ_status rc = WRIT_OK;
    if (!exec(s, "BEGIN IMMEDIATE")) {
        rc = wr_sqlite_fail(s, err, "begin");
        pthread_mutex_unlock(&s->mu);
        return rc;
    }
    int f = select_one(s, "SELECT " COLS " FROM approvals WHERE id = ?1", id, now_ms, out, err);
    if (f < 0) {
        rc = status_of(err);
        goto done;
    }
    if (f == 0) {
        *res = WR_DECIDE_NOT_FOUND;
        goto done;
    }
    if (out->status != WR_APPROVAL_PENDING) {
        *res = WR_DECIDE_NOT_PENDING;
        goto done;
    }
    sqlite3_stmt *q = NULL;
    int ok =
        sqlite3_prepare_v2(s->db,
                           "UPDATE approvals SET status = ?2, decided_ms = ?3, decided_by = ?4, reason = ?5 "
                           "WHERE id = ?1 AND status = 0",
                           -1, &q, NULL) == SQLITE_OK;
    if (ok) {
        bind_text(q, 1, id);
        sqlite3_bind_int(q, 2, approve ? ST_APPROVED : ST_DENIED);
        sqlite3_bind_int64(q, 3, now_ms);
        bind_text(q, 4, by ? by : "");
        bind_text(q, 5, reason ? reason : "");
        ok = sqlite3_step(q) == SQLITE_DONE && sqlite3_changes(s->db) == 1;
    }
    sqlite3_finalize(q);
    if (!ok) {
        rc = wr_sqlite_fail(s, err, "decide");
        goto done;
    }
    char *nb = wr_strndup(by ? by : "", strlen(by ? by : "")),
         *nr = wr_strndup(reason ? reason : "", strlen(reason ? reason : ""));
    if (!nb || !nr) {
        wr_free(nb);
        wr_free(nr);
        rc = wr_error(err, WRIT_ENOMEM, "state: out of memory");
        goto done;
    }
    wr_free(out->decided_by);
    wr_free(out->reason);
    out->decided_by = nb;
    out->reason = nr;
    out->decided_ms = now_ms;
    out->status = approve ? WR_APPROVAL_APPROVED : WR_APPROVAL_DENIED;
    *res = WR_DECIDE_DONE;
done:
    rc = finish(s, rc, err);
    pthread_mutex_unlock(&s->mu);
    if (rc)
        wr_approval_clear(out);
    return rc;
}

writ_status wr_sqlite_approval_expired(wr_store *st, int64_t now_ms, wr_approval **out, size_t *n,
                                       writ_error *err)
{
    wr_sqlite_store *s = (wr_sqlite_store *)st;
    writ_error e0;
    if (!err)
        err = &e0;
    memset(err, 0, sizeof *err);
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&s->mu);
    writ_status rc = WRIT_OK;
    if (!exec(s, "BEGIN IMMEDIATE")) {
        rc = wr_sqlite_fail(s, err, "begin");
        pthread_mutex_unlock(&s->mu);
        return rc;
    }
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT " COLS
                           " FROM approvals WHERE expiry_reported = 0 AND status IN (0, 1) AND "
                           "expires_ms <= ?1 ORDER BY created_ms LIMIT 1000",
                           -1, &q, NULL) != SQLITE_OK) {
        rc = wr_sqlite_fail(s, err, "prepare");
    } else {
        sqlite3_bind_int64(q, 1, now_ms);
        rc = collect(s, q, -1, now_ms, out, n, err);
    }
    sqlite3_finalize(q);
    q = NULL;
    for (size_t i = 0; !rc && i < *n; i++) {
        if (sqlite3_prepare_v2(s->db, "UPDATE approvals SET expiry_reported = 1 WHERE id = ?1", -1, &q,
                               NULL) != SQLITE_OK) {
            rc = wr_sqlite_fail(s, err, "prepare");
            break;
        }
        bind_text(q, 1, (*out)[i].id);
        if (sqlite3_step(q) != SQLITE_DONE)
            rc = wr_sqlite_fail(s, err, "mark expired");
        sqlite3_finalize(q);
        q = NULL;
    }
    rc = finish(s, rc, err);
    pthread_mutex_unlock(&s->mu);
    if (rc) {
        wr_approvals_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

writ_status wr_sqlite_approval_prune(wr_store *st, int64_t before_ms, size_t *removed, writ_error *err)
{
    wr_sqlite_store *s = (wr_sqlite_store *)st;
    writ_error e0;
    if (!err)
        err = &e0;
    memset(err, 0, sizeof *err);
    *removed = 0;
    pthread_mutex_lock(&s->mu);
    writ_status rc = WRIT_OK;
    sqlite3_stmt *q = NULL;
    /* status 2 denied, 3 consumed; pending (0) and approved (1) only once
     * their expiry has been reported */
    if (sqlite3_prepare_v2(
            s->db,
            "DELETE FROM approvals WHERE id IN (SELECT id FROM approvals WHERE expires_ms < ?1 "
            "AND (status IN (2, 3) OR expiry_reported = 1) LIMIT 1000)",
            -1, &q, NULL) != SQLITE_OK) {
        rc = wr_sqlite_fail(s, err, "prepare");
    } else {
        sqlite3_bind_int64(q, 1, before_ms);
        if (sqlite3_step(q) != SQLITE_DONE)
            rc = wr_sqlite_fail(s, err, "prune approvals");
        else
            *removed = (size_t)sqlite3_changes(s->db);
    }
    sqlite3_finalize(q);
    pthread_mutex_unlock(&s->mu);
    return rc;
}
