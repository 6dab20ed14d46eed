/* audit_wal.c - the audit log writer's VFS: the default one, except that
 * the frames a transaction appends to the WAL reach the file in one
 * write(2) instead of two per frame.
 *
 * SQLite writes each WAL frame as two writes, its 24-byte header and then
 * its page, one after the other.  A group commit of a few records appends
 * one to three frames, so two to six pwrite calls, and on this kind of
 * machine a system call costs as much as hashing a record.  Here the
 * frames of a transaction are gathered in memory while SQLite writes them
 * and go to the file in one write when the commit frame's page arrives
 * (a frame whose header carries the database size is a commit frame).
 *
 * Why this changes nothing but the number of calls:
 *   - the bytes and their offsets are the ones SQLite wrote, and they are
 *     in the file (written, as before: with synchronous=NORMAL not synced)
 *     before the xWrite of the commit frame returns, so before SQLite
 *     publishes the frames in the WAL index for other connections and
 *     before COMMIT returns: a record is in the file when its append
 *     returns, as it was;
 *   - a write that cannot be gathered (anything but "frame header, then
 *     the bytes right after it") and every other operation on the WAL file
 *     (read, sync, size, truncate, lock, file control, close) first writes
 *     what is gathered, so SQLite never observes the file without its
 *     writes, and a sync covers everything written before it;
 *   - a failed write (a full disk) fails the xWrite of the commit frame,
 *     which fails the transaction as SQLite's own failed write would;
 *   - out of memory for the buffer, the writes go through as they come;
 *   - frames of a transaction that does not commit (pages spilled from a
 *     large one, then rolled back) are written before the connection
 *     lets go of the WAL's write lock, so never over another writer's
 *     frames: the database file's wrapper knows its WAL file's (the
 *     partner) and empties it on that unlock.
 * Only the WAL file of the audit writer's own connection goes through this;
 * the database file, its shared memory (the WAL index and the locks) and
 * every other connection (readers, the state store on the same file) use
 * the default VFS's methods unchanged. */
#include "store/audit_int.h"
#include "util/alloc.h"

#include <pthread.h>
#include <sqlite3.h>
#include <string.h>

#define WAL_HDR 32       /* the WAL file's header */
#define FRAME_HDR 24     /* a frame's header, before its page */
#define GATHER_MAX 65536 /* more than this is written at once */

typedef struct wal_file {
    sqlite3_file base;
    sqlite3_file *real; /* the default VFS's file, right after this struct */
    bool wal;           /* a WAL file: writes are gathered */
    /* a main database file: its name (as SQLite passed it, which is what
     * sqlite3_filename_database of its WAL's name returns), the next one
     * open; and the WAL file of the same connection, once open */
    sqlite3_filename name;
    struct wal_file *next_db, *partner;
    unsigned char *buf;
    size_t len, cap;
    sqlite3_int64 off; /* where buf[0] goes */
    bool hdr_last;     /* buf ends with a frame header (its page comes next) */
    bool commit;       /* that header is a commit frame's */
} wal_file;

static sqlite3_vfs vfs;
static pthread_once_t vfs_once = PTHREAD_ONCE_INIT;
static bool vfs_ok;
static pthread_mutex_t dbs_mu = PTHREAD_MUTEX_INITIALIZER;
static wal_file *dbs; /* the main database files open through this VFS */

#define REAL(f) (((wal_file *)(f))->real)
#define RM(f) (REAL(f)->pMethods)

static int gather_flush(wal_file *w)
{
    if (!w->len)
        return SQLITE_OK;
    int rc = w->real->pMethods->xWrite(w->real, w->buf, (int)w->len, w->off);
    w->len = 0;
    w->hdr_last = w->commit = false;
    return rc;
}

static bool gather_room(wal_file *w, size_t n)
{
    if (w->len + n <= w->cap)
        return true;
    size_t cap = w->cap ? w->cap : 8192;
    while (cap < w->len + n)
        cap *= 2;
    unsigned char *b = wr_realloc(w->buf, cap);
    if (!b)
        return false;
    w->buf = b;
    w->cap = cap;
    return true;
}

static bool is_commit_header(const unsigned char *h)
{
    /* bytes 4..7: the database size in pages after a commit, 0 otherwise */
    return (h[4] | h[5] | h[6] | h[7]) != 0;
}

static int w_write(sqlite3_file *f, const void *p, int amt, sqlite3_int64 ofst)
{
    wal_file *w = (wal_file *)f;
    if (!w->wal)
        return RM(f)->xWrite(REAL(f), p, amt, ofst);
    bool next = w->len && ofst == w->off + (sqlite3_int64)w->len;
    if (w->hdr_last && next) {
        /* the page of the frame whose header was gathered last */
        if (!gather_room(w, (size_t)amt)) {
            int rc = gather_flush(w);
            return rc ? rc : RM(f)->xWrite(REAL(f), p, amt, ofst);
        }
        memcpy(w->buf + w->len, p, (size_t)amt);
        w->len += (size_t)amt;
        w->hdr_last = false;
        return w->commit || w->len >= GATHER_MAX ? gather_flush(w) : SQLITE_OK;
    }
    if (amt == FRAME_HDR && ofst >= WAL_HDR && !w->hdr_last) {
        if (w->len && !next) {
            int rc = gather_flush(w);
            if (rc)
                return rc;
        }
        if (gather_room(w, FRAME_HDR)) {
            if (!w->len)
                w->off = ofst;
            memcpy(w->buf + w->len, p, FRAME_HDR);
            w->len += FRAME_HDR;
            w->hdr_last = true;
            w->commit = is_commit_header(p);
            return SQLITE_OK;
        }
    }
    int rc = gather_flush(w);
    return rc ? rc : RM(f)->xWrite(REAL(f), p, amt, ofst);
}

/* Every other method: what is gathered first, then the default VFS's. */
#define FLUSHED(w)                                                                                           \
    do {                                                                                                     \
        int rc_ = gather_flush(w);                                                                           \
        if (rc_)                                                                                             \
            return rc_;                                                                                      \
    } while (0)

static int w_close(sqlite3_file *f)
{
    wal_file *w = (wal_file *)f;
    int rc = gather_flush(w);
    pthread_mutex_lock(&dbs_mu);
    if (w->partner)
        w->partner->partner = NULL;
    w->partner = NULL;
    for (wal_file **x = &dbs; *x; x = &(*x)->next_db)
        if (*x == w) {
            *x = w->next_db;
            break;
        }
    pthread_mutex_unlock(&dbs_mu);
    int rc2 = RM(f)->xClose(REAL(f));
    wr_free(w->buf);
    w->buf = NULL;
    w->cap = 0;
    return rc ? rc : rc2;
}

static int w_read(sqlite3_file *f, void *p, int amt, sqlite3_int64 ofst)
{
    FLUSHED((wal_file *)f);
    return RM(f)->xRead(REAL(f), p, amt, ofst);
}

static int w_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    FLUSHED((wal_file *)f);
    return RM(f)->xTruncate(REAL(f), size);
}

static int w_sync(sqlite3_file *f, int flags)
{
    FLUSHED((wal_file *)f);
    return RM(f)->xSync(REAL(f), flags);
}

static int w_size(sqlite3_file *f, sqlite3_int64 *size)
{
    FLUSHED((wal_file *)f);
    return RM(f)->xFileSize(REAL(f), size);
}

static int w_lock(sqlite3_file *f, int l)
{
    FLUSHED((wal_file *)f);
    return RM(f)->xLock(REAL(f), l);
}

static int w_unlock(sqlite3_file *f, int l)
{
    FLUSHED((wal_file *)f);
    return RM(f)->xUnlock(REAL(f), l);
}

static int w_reserved(sqlite3_file *f, int *out)
{
    FLUSHED((wal_file *)f);
    return RM(f)->xCheckReservedLock(REAL(f), out);
}

static int w_control(sqlite3_file *f, int op, void *arg)
{
    FLUSHED((wal_file *)f);
    return RM(f)->xFileControl(REAL(f), op, arg);
}

static int w_sector(sqlite3_file *f) { return RM(f)->xSectorSize(REAL(f)); }

static int w_caps(sqlite3_file *f) { return RM(f)->xDeviceCharacteristics(REAL(f)); }

static int w_shm_map(sqlite3_file *f, int pg, int sz, int extend, void volatile **pp)
{
    if (RM(f)->iVersion < 2 || !RM(f)->xShmMap)
        return SQLITE_IOERR_SHMMAP;
    return RM(f)->xShmMap(REAL(f), pg, sz, extend, pp);
}

static int w_shm_lock(sqlite3_file *f, int ofst, int n, int flags)
{
    if (RM(f)->iVersion < 2 || !RM(f)->xShmLock)
        return SQLITE_IOERR_SHMLOCK;
    wal_file *w = (wal_file *)f;
    /* slot 0 is the WAL's write lock: what the partner still holds belongs
     * to a transaction that did not commit (a commit's frames are written
     * with its commit frame).  Written, as SQLite would have written them,
     * while the lock is still held: past the last commit, where readers
     * and recovery do not look and the next writer overwrites. */
    if ((flags & SQLITE_SHM_UNLOCK) && ofst == 0 && w->partner && w->partner->len)
        (void)gather_flush(w->partner);
    return RM(f)->xShmLock(REAL(f), ofst, n, flags);
}

static void w_shm_barrier(sqlite3_file *f)
{
    if (RM(f)->iVersion >= 2 && RM(f)->xShmBarrier)
        RM(f)->xShmBarrier(REAL(f));
}

static int w_shm_unmap(sqlite3_file *f, int del)
{
    if (RM(f)->iVersion < 2 || !RM(f)->xShmUnmap)
        return SQLITE_OK;
    return RM(f)->xShmUnmap(REAL(f), del);
}

static int w_fetch(sqlite3_file *f, sqlite3_int64 ofst, int amt, void **pp)
{
    *pp = NULL;
    FLUSHED((wal_file *)f);
    if (RM(f)->iVersion < 3 || !RM(f)->xFetch)
        return SQLITE_OK; /* no mapping: SQLite reads instead */
    return RM(f)->xFetch(REAL(f), ofst, amt, pp);
}

static int w_unfetch(sqlite3_file *f, sqlite3_int64 ofst, void *p)
{
    if (RM(f)->iVersion < 3 || !RM(f)->xUnfetch)
        return SQLITE_OK;
    return RM(f)->xUnfetch(REAL(f), ofst, p);
}

static const sqlite3_io_methods w_methods = {
    .iVersion = 3,
    .xClose = w_close,
    .xRead = w_read,
    .xWrite = w_write,
    .xTruncate = w_truncate,
    .xSync = w_sync,
    .xFileSize = w_size,
    .xLock = w_lock,
    .xUnlock = w_unlock,
    .xCheckReservedLock = w_reserved,
    .xFileControl = w_control,
    .xSectorSize = w_sector,
    .xDeviceCharacteristics = w_caps,
    .xShmMap = w_shm_map,
    .xShmLock = w_shm_lock,
    .xShmBarrier = w_shm_barrier,
    .xShmUnmap = w_shm_unmap,
    .xFetch = w_fetch,
    .xUnfetch = w_unfetch,
};

/* ---- the VFS: the default one's methods, opening through the wrapper */

#define RV(v) ((sqlite3_vfs *)(v)->pAppData)

static int v_open(sqlite3_vfs *v, sqlite3_filename name, sqlite3_file *f, int flags, int *out)
{
    wal_file *w = (wal_file *)f;
    memset(w, 0, sizeof *w);
    w->real = (sqlite3_file *)(w + 1);
    int rc = RV(v)->xOpen(RV(v), name, w->real, flags, out);
    /* on failure SQLite calls xClose only when pMethods is set: the
     * default VFS leaves its own NULL then, and so is this one */
    if (rc != SQLITE_OK || !w->real->pMethods) {
        w->base.pMethods = NULL;
        return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
    }
    w->wal = (flags & SQLITE_OPEN_WAL) != 0;
    w->base.pMethods = &w_methods;
    pthread_mutex_lock(&dbs_mu);
    if ((flags & SQLITE_OPEN_MAIN_DB) && name) {
        w->name = name;
        w->next_db = dbs;
        dbs = w;
    } else if (w->wal && name) {
        sqlite3_filename db = sqlite3_filename_database(name);
        for (wal_file *x = dbs; x; x = x->next_db)
            if (x->name == db && !x->partner) {
                x->partner = w;
                w->partner = x;
                break;
            }
    }
    pthread_mutex_unlock(&dbs_mu);
    return SQLITE_OK;
}

static int v_delete(sqlite3_vfs *v, const char *name, int sync) { return RV(v)->xDelete(RV(v), name, sync); }

static int v_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    return RV(v)->xAccess(RV(v), name, flags, out);
}

static int v_full(sqlite3_vfs *v, const char *name, int n, char *out)
{
    return RV(v)->xFullPathname(RV(v), name, n, out);
}

static void *v_dlopen(sqlite3_vfs *v, const char *name) { return RV(v)->xDlOpen(RV(v), name); }

static void v_dlerror(sqlite3_vfs *v, int n, char *msg) { RV(v)->xDlError(RV(v), n, msg); }

static void (*v_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
    return RV(v)->xDlSym(RV(v), h, sym);
}

static void v_dlclose(sqlite3_vfs *v, void *h) { RV(v)->xDlClose(RV(v), h); }

static int v_random(sqlite3_vfs *v, int n, char *out) { return RV(v)->xRandomness(RV(v), n, out); }

static int v_sleep(sqlite3_vfs *v, int us) { return RV(v)->xSleep(RV(v), us); }

static int v_time(sqlite3_vfs *v, double *t) { return RV(v)->xCurrentTime(RV(v), t); }

static int v_lasterr(sqlite3_vfs *v, int n, char *msg)
{
    return RV(v)->xGetLastError ? RV(v)->xGetLastError(RV(v), n, msg) : 0;
}

static int v_time64(sqlite3_vfs *v, sqlite3_int64 *t)
{
    if (RV(v)->iVersion >= 2 && RV(v)->xCurrentTimeInt64)
        return RV(v)->xCurrentTimeInt64(RV(v), t);
    double d = 0;
    int rc = RV(v)->xCurrentTime(RV(v), &d);
    *t = (sqlite3_int64)(d * 86400000.0);
    return rc;
}

static void vfs_make(void)
{
    sqlite3_vfs *real = sqlite3_vfs_find(NULL);
    if (!real || real->iVersion < 1)
        return;
    vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)(sizeof(wal_file) + (size_t)real->szOsFile),
        .mxPathname = real->mxPathname,
        .zName = "writ-audit",
        .pAppData = real,
        .xOpen = v_open,
        .xDelete = v_delete,
        .xAccess = v_access,
        .xFullPathname = v_full,
        .xDlOpen = v_dlopen,
        .xDlError = v_dlerror,
        .xDlSym = v_dlsym,
        .xDlClose = v_dlclose,
        .xRandomness = v_random,
        .xSleep = v_sleep,
        .xCurrentTime = v_time,
        .xGetLastError = v_lasterr,
        .xCurrentTimeInt64 = v_time64,
    };
    vfs_ok = sqlite3_vfs_register(&vfs, 0) == SQLITE_OK;
}

const char *au_wal_vfs(void)
{
    pthread_once(&vfs_once, vfs_make);
    return vfs_ok ? vfs.zName : NULL;
}
