/* sqlite.c - the embedded state backend: one SQLite file (WAL), the same
 * file as the revocations (STATE_DIR/writ.db).  One connection serialised
 * by a mutex inside a process; BEGIN IMMEDIATE makes each operation atomic
 * against other processes on the same file. */
#include "store/sqlite_int.h"
#include "util/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

writ_status wr_sqlite_fail(wr_sqlite_store *s, writ_error *err, const char *what)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = WRIT_EIO;
        snprintf(err->msg, sizeof err->msg, "state: %s: %s", what,
                 s && s->db ? sqlite3_errmsg(s->db) : "no database");
    }
    return WRIT_EIO;
}

static void sq_close(wr_store *st)
{
    wr_sqlite_store *s = (wr_sqlite_store *)st;
    wr_sqlite_counters_close(s);
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    wr_free(s);
}

static const wr_store_ops sqlite_ops = {
    .name = "sqlite",
    .shared = false,
    .close = sq_close,
    .approval_take = wr_sqlite_approval_take,
    .approval_get = wr_sqlite_approval_get,
    .approval_page = wr_sqlite_approval_page,
    .approval_decide = wr_sqlite_approval_decide,
    .approval_expired = wr_sqlite_approval_expired,
    .approval_prune = wr_sqlite_approval_prune,
    .counter_add = wr_sqlite_counter_add,
    .counter_add_many = wr_sqlite_counter_add_many,
    .counter_sum = wr_sqlite_counter_sum,
    .counter_take = wr_sqlite_counter_take,
    .counter_scan = wr_sqlite_counter_scan,
    .revocation_publish = wr_sqlite_revocation_publish,
    .revocation_follow = wr_sqlite_revocation_follow,
    .mcp_task_bind = wr_sqlite_mcp_task_bind,
    .mcp_task_owner = wr_sqlite_mcp_task_owner,
};

writ_status wr_sqlite_store_open(const char *path, wr_store **out, writ_error *err)
{
    *out = NULL;
    wr_sqlite_store *s = wr_calloc(1, sizeof *s);
    if (!s)
        return WRIT_ENOMEM;
    s->base.ops = &sqlite_ops;
    pthread_mutex_init(&s->mu, NULL);
    /* approvals name agents and tasks: 0600 like the rest of the state,
     * set before SQLite opens the file (see revocations.c) */
    /* never open and close a descriptor on an existing file: another
     * SQLite connection of this process may hold it, and closing any
     * descriptor drops the process's POSIX locks on it, theirs too
     * (other connections then miss commits for a while) */
    struct stat sb;
    if (stat(path, &sb) != 0) {
        int fd = errno == ENOENT ? open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600) : -1;
        if (fd >= 0)
            close(fd); /* new: nobody else holds it */
    } else if (sb.st_mode & 077) {
        (void)chmod(path, 0600);
    }
    writ_status st;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        st = wr_sqlite_fail(s, err, path);
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, NULL) !=
        SQLITE_OK) {
        st = wr_sqlite_fail(s, err, "cannot set journal mode");
        goto fail;
    }
    if ((st = wr_sqlite_approvals_init(s, err)) || (st = wr_sqlite_counters_init(s, err)) ||
        (st = wr_sqlite_revocations_init(s, err)) || (st = wr_sqlite_mcptasks_init(s, err)))
        goto fail;
    *out = &s->base;
    return WRIT_OK;
fail:
    sq_close(&s->base);
    return st;
}
