/* audit.c - hash-chained decision log in SQLite (see audit.h).
 *
 * The queue is a singly linked list of self-contained records (struct and
 * strings in one allocation).  Appenders push under the mutex; the writer
 * detaches the whole list, then hashes and inserts it in transactions of
 * up to `batch` records.  The chain state (last seq, last hash) belongs to
 * the writer alone; it is advanced only after a COMMIT succeeds, so a failed
 * transaction is retried from the committed state. */
#include "store/audit.h"
#include "util/alloc.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define AUDIT_FIELDS 7   /* agent chain task action resource policies errors */
#define AUDIT_LINGER_NS 2000000L
#define AUDIT_ROWS 16    /* rows per multi-row INSERT (12 parameters each, < 999) */
#define AUDIT_COLS 12

typedef struct arec {
    struct arec *next;
    int64_t time_ms;
    bool allow;
    uint32_t len[AUDIT_FIELDS];
    const char *f[AUDIT_FIELDS];   /* point into the same allocation */
} arec;

struct wr_audit {
    sqlite3 *db;
    sqlite3_stmt *ins, *ins_many, *head;   /* ins_many: AUDIT_ROWS rows at once */
    EVP_MD_CTX *md;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t nonempty, nonfull, done;
    arec *first, *last;
    uint64_t nqueued;           /* in the list */
    uint64_t enqueued_total;    /* ever appended */
    uint64_t committed_total;   /* appended and committed (or given up) */
    uint32_t batch, queue_max;
    bool stop;
    bool lingering;             /* the writer waits for a batch to build up */
    atomic_bool failing;
    atomic_uint_fast64_t written, failures;
    /* writer only */
    uint64_t last_seq;
    unsigned char last_hash[32];
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS audit ("
    " seq INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, agent TEXT NOT NULL, chain TEXT NOT NULL,"
    " task TEXT NOT NULL, action TEXT NOT NULL, resource TEXT NOT NULL, decision TEXT NOT NULL,"
    " policies TEXT NOT NULL, errors TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS audit_head (id INTEGER PRIMARY KEY CHECK (id = 1),"
    " seq INTEGER NOT NULL, hash TEXT NOT NULL);";

static writ_status db_fail(writ_error *err, sqlite3 *db, const char *what)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = WRIT_EIO;
        snprintf(err->msg, sizeof err->msg, "audit log: %s: %s", what, db ? sqlite3_errmsg(db) : "cannot open");
    }
    return WRIT_EIO;
}

static void hex(const unsigned char *h, char out[65])
{
    static const char d[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = d[h[i] >> 4];
        out[2 * i + 1] = d[h[i] & 15];
    }
    out[64] = '\0';
}

static int unhex(const char *s, size_t n, unsigned char out[32])
{
    if (n != 64)
        return -1;
    for (int i = 0; i < 64; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return -1;
        if (i % 2 == 0)
            out[i / 2] = (unsigned char)(v << 4);
        else
            out[i / 2] |= (unsigned char)v;
    }
    return 0;
}

static void be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

/* The record hash (the canonical encoding in audit.h). */
static int record_hash(EVP_MD_CTX *md, uint64_t seq, int64_t time_ms, bool allow, const char *const *f,
                       const size_t *len, const unsigned char prev[32], unsigned char out[32])
{
    static const char tag[] = "writ-audit-v1\n";
    unsigned char num[17];
    be64(num, seq);
    be64(num + 8, (uint64_t)time_ms);
    num[16] = allow ? 1 : 0;
    /* once md holds SHA-256, re-initialise it with NULL: no provider fetch
     * per record */
    const EVP_MD *alg = EVP_MD_CTX_get0_md(md) ? NULL : EVP_sha256();
    if (EVP_DigestInit_ex2(md, alg, NULL) != 1 || EVP_DigestUpdate(md, tag, sizeof tag - 1) != 1 ||
        EVP_DigestUpdate(md, num, sizeof num) != 1)
        return -1;
    for (int i = 0; i < AUDIT_FIELDS; i++) {
        unsigned char l[8];
        be64(l, len[i]);
        if (EVP_DigestUpdate(md, l, 8) != 1 || (len[i] && EVP_DigestUpdate(md, f[i], len[i]) != 1))
            return -1;
    }
    unsigned int n = 0;
    if (EVP_DigestUpdate(md, prev, 32) != 1 || EVP_DigestFinal_ex(md, out, &n) != 1 || n != 32)
        return -1;
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Bind record r (seq, hash of the previous, its own hash) at parameter
 * base+1.. of s.  The hex buffers must live until the step. */
static void bind_record(sqlite3_stmt *s, int base, const arec *r, uint64_t seq, const char *px, const char *hx)
{
    sqlite3_bind_int64(s, base + 1, (sqlite3_int64)seq);
    sqlite3_bind_int64(s, base + 2, r->time_ms);
    for (int k = 0; k < 5; k++)
        sqlite3_bind_text(s, base + 3 + k, r->f[k], (int)r->len[k], SQLITE_STATIC);
    sqlite3_bind_text(s, base + 8, r->allow ? "allow" : "deny", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, base + 9, r->f[5], (int)r->len[5], SQLITE_STATIC);
    sqlite3_bind_text(s, base + 10, r->f[6], (int)r->len[6], SQLITE_STATIC);
    sqlite3_bind_text(s, base + 11, px, 64, SQLITE_STATIC);
    sqlite3_bind_text(s, base + 12, hx, 64, SQLITE_STATIC);
}

/* Insert and commit recs[0..n); 0 on success (chain state advanced).
 * Records go AUDIT_ROWS at a time through one multi-row INSERT (fewer
 * statement executions per transaction), the rest one by one. */
static int write_batch(wr_audit *a, arec *r, size_t n)
{
    uint64_t seq = a->last_seq;
    unsigned char h[32];
    memcpy(h, a->last_hash, 32);
    char hx[AUDIT_ROWS][65], px[AUDIT_ROWS][65];
    if (sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    size_t i = 0;
    while (i < n) {
        size_t k = n - i >= AUDIT_ROWS ? AUDIT_ROWS : 1;
        sqlite3_stmt *s = k == AUDIT_ROWS ? a->ins_many : a->ins;
        for (size_t j = 0; j < k; j++, r = r->next) {
            unsigned char nh[32];
            size_t len[AUDIT_FIELDS];
            for (int f = 0; f < AUDIT_FIELDS; f++)
                len[f] = r->len[f];
            if (record_hash(a->md, seq + 1, r->time_ms, r->allow, r->f, len, h, nh) != 0)
                goto bad;
            hex(h, px[j]);
            hex(nh, hx[j]);
            bind_record(s, (int)j * AUDIT_COLS, r, seq + 1, px[j], hx[j]);
            seq++;
            memcpy(h, nh, 32);
        }
        int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE)
            goto bad;
        i += k;
    }
    char head[65];
    hex(h, head);
    sqlite3_bind_int64(a->head, 1, (sqlite3_int64)seq);
    sqlite3_bind_text(a->head, 2, head, 64, SQLITE_STATIC);
    int rc = sqlite3_step(a->head);
    sqlite3_reset(a->head);
    if (rc != SQLITE_DONE || sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto bad;
    a->last_seq = seq;
    memcpy(a->last_hash, h, 32);
    return 0;
bad:
    fprintf(stderr, "writ: audit log: write failed: %s\n", sqlite3_errmsg(a->db));
    sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static void *writer(void *arg)
{
    wr_audit *a = arg;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (!a->first && !a->stop) {
            if (!atomic_load(&a->failing)) {
                pthread_cond_wait(&a->nonempty, &a->mu);
                continue;
            }
            /* The log failed: probe it once a second until it takes writes
             * again (appends are refused meanwhile). */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1;
            if (pthread_cond_timedwait(&a->nonempty, &a->mu, &until) != 0 && !a->first && !a->stop) {
                pthread_mutex_unlock(&a->mu);
                if (sqlite3_exec(a->db, "BEGIN IMMEDIATE; COMMIT", NULL, NULL, NULL) == SQLITE_OK)
                    atomic_store(&a->failing, false);
                pthread_mutex_lock(&a->mu);
            }
        }
        if (!a->first && a->stop)
            break;
        /* Linger up to AUDIT_LINGER_NS so a batch builds up: fewer wakeups
         * and transactions under load; a record waits at most that long. */
        if (!a->stop && a->nqueued < a->batch && a->nqueued < a->queue_max / 2) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += AUDIT_LINGER_NS;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            a->lingering = true;
            while (!a->stop && a->nqueued < a->batch && a->nqueued < a->queue_max / 2 &&
                   pthread_cond_timedwait(&a->nonempty, &a->mu, &until) == 0)
                ;
            a->lingering = false;
        }
        arec *list = a->first;
        uint64_t n = a->nqueued;
        a->first = a->last = NULL;
        a->nqueued = 0;
        pthread_cond_broadcast(&a->nonfull);
        pthread_mutex_unlock(&a->mu);

        uint64_t done = 0;
        while (done < n) {
            size_t k = n - done < a->batch ? (size_t)(n - done) : a->batch;
            int ok = 0;
            for (int attempt = 0; attempt < 5 && !ok; attempt++) {
                if (write_batch(a, list, k) == 0)
                    ok = 1;
                else
                    nanosleep(&(struct timespec){0, 20000000L << attempt}, NULL);
            }
            atomic_store(&a->failing, !ok);
            if (ok)
                atomic_fetch_add(&a->written, k);
            else
                atomic_fetch_add(&a->failures, k);
            for (size_t i = 0; i < k; i++) {
                arec *nx = list->next;
                wr_free(list);
                list = nx;
            }
            done += k;
            pthread_mutex_lock(&a->mu);
            a->committed_total += k;
            pthread_cond_broadcast(&a->done);
            pthread_mutex_unlock(&a->mu);
        }
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

static writ_status open_db(const char *path, int flags, sqlite3 **out, writ_error *err)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        writ_status st = db_fail(err, db, path);
        sqlite3_close(db);
        return st;
    }
    sqlite3_busy_timeout(db, 5000);
    *out = db;
    return WRIT_OK;
}

static int prepare_many(wr_audit *a)
{
    char sql[1400];
    size_t n = (size_t)snprintf(sql, sizeof sql, "INSERT INTO audit (seq, time_ms, agent, chain, task, action,"
                                                 " resource, decision, policies, errors, prev, hash) VALUES ");
    for (int i = 0; i < AUDIT_ROWS && n < sizeof sql; i++)
        n += (size_t)snprintf(sql + n, sizeof sql - n, "%s(?,?,?,?,?,?,?,?,?,?,?,?)", i ? "," : "");
    if (n >= sizeof sql)
        return -1;
    return sqlite3_prepare_v2(a->db, sql, -1, &a->ins_many, NULL) == SQLITE_OK ? 0 : -1;
}

/* Continue the chain from the last record, checking it against the head. */
static writ_status load_tail(wr_audit *a, writ_error *err)
{
    sqlite3_stmt *s = NULL;
    writ_status st = WRIT_OK;
    if (sqlite3_prepare_v2(a->db, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", -1, &s, NULL) !=
        SQLITE_OK)
        return db_fail(err, a->db, "reading the last record");
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(s, 1);
        a->last_seq = (uint64_t)sqlite3_column_int64(s, 0);
        if (!h || unhex(h, (size_t)sqlite3_column_bytes(s, 1), a->last_hash) != 0) {
            st = WRIT_EVALIDATE;
            if (err) {
                memset(err, 0, sizeof *err);
                err->code = st;
                snprintf(err->msg, sizeof err->msg, "audit log: last record %llu has a malformed hash",
                         (unsigned long long)a->last_seq);
            }
        }
    } else if (rc != SQLITE_DONE) {
        st = db_fail(err, a->db, "reading the last record");
    }
    sqlite3_finalize(s);
    return st;
}

writ_status wr_audit_open(const char *path, uint32_t batch, uint32_t queue_max, wr_audit **out, writ_error *err)
{
    *out = NULL;
    wr_audit *a = wr_calloc(1, sizeof *a);
    if (!a)
        return db_fail(err, NULL, "out of memory");
    a->batch = batch ? batch : 1024;
    a->queue_max = queue_max ? queue_max : 65536;
    writ_status st = open_db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &a->db, err);
    if (st)
        goto bad;
    if (sqlite3_exec(a->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(a->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK) {
        st = db_fail(err, a->db, "creating tables");
        goto bad;
    }
    if (sqlite3_prepare_v2(a->db,
                           "INSERT INTO audit (seq, time_ms, agent, chain, task, action, resource, decision,"
                           " policies, errors, prev, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                           -1, &a->ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(a->db, "INSERT OR REPLACE INTO audit_head (id, seq, hash) VALUES (1, ?, ?)", -1,
                           &a->head, NULL) != SQLITE_OK ||
        prepare_many(a) != 0) {
        st = db_fail(err, a->db, "preparing statements");
        goto bad;
    }
    if ((st = load_tail(a, err)))
        goto bad;
    if (!(a->md = EVP_MD_CTX_new())) {
        st = db_fail(err, NULL, "out of memory");
        goto bad;
    }
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->nonempty, NULL);
    pthread_cond_init(&a->nonfull, NULL);
    pthread_cond_init(&a->done, NULL);
    if (pthread_create(&a->thread, NULL, writer, a) != 0) {
        pthread_mutex_destroy(&a->mu);
        pthread_cond_destroy(&a->nonempty);
        pthread_cond_destroy(&a->nonfull);
        pthread_cond_destroy(&a->done);
        st = db_fail(err, NULL, "cannot start the writer thread");
        goto bad;
    }
    *out = a;
    return WRIT_OK;
bad:
    EVP_MD_CTX_free(a->md);
    sqlite3_finalize(a->ins);
    sqlite3_finalize(a->ins_many);
    sqlite3_finalize(a->head);
    sqlite3_close(a->db);
    wr_free(a);
    return st;
}

writ_status wr_audit_append(wr_audit *a, const wr_audit_entry *e)
{
    if (atomic_load_explicit(&a->failing, memory_order_relaxed))
        return WRIT_EIO;
    const char *src[AUDIT_FIELDS] = {e->agent, e->chain, e->task, e->action, e->resource, e->policies, e->errors};
    size_t len[AUDIT_FIELDS], total = sizeof(arec);
    for (int i = 0; i < AUDIT_FIELDS; i++) {
        if (!src[i])
            src[i] = "";
        len[i] = strlen(src[i]);
        if (len[i] > UINT32_MAX / 2)
            return WRIT_ELIMIT;
        total += len[i] + 1;
    }
    arec *r = wr_malloc(total);
    if (!r)
        return WRIT_ENOMEM;
    char *p = (char *)(r + 1);
    for (int i = 0; i < AUDIT_FIELDS; i++) {
        memcpy(p, src[i], len[i] + 1);
        r->f[i] = p;
        r->len[i] = (uint32_t)len[i];
        p += len[i] + 1;
    }
    r->next = NULL;
    r->time_ms = e->time_ms ? e->time_ms : now_ms();
    r->allow = e->allow;
    pthread_mutex_lock(&a->mu);
    while (a->nqueued >= a->queue_max && !a->stop)
        pthread_cond_wait(&a->nonfull, &a->mu);
    if (a->last)
        a->last->next = r;
    else
        a->first = r;
    a->last = r;
    a->nqueued++;
    a->enqueued_total++;
    if (a->nqueued == 1 || (a->lingering && (a->nqueued >= a->batch || a->nqueued >= a->queue_max / 2)))
        pthread_cond_signal(&a->nonempty);
    pthread_mutex_unlock(&a->mu);
    return WRIT_OK;
}

void wr_audit_flush(wr_audit *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    uint64_t target = a->enqueued_total;
    while (a->committed_total < target)
        pthread_cond_wait(&a->done, &a->mu);
    pthread_mutex_unlock(&a->mu);
}

void wr_audit_close(wr_audit *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stop = true;
    pthread_cond_broadcast(&a->nonempty);
    pthread_cond_broadcast(&a->nonfull);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->nonempty);
    pthread_cond_destroy(&a->nonfull);
    pthread_cond_destroy(&a->done);
    EVP_MD_CTX_free(a->md);
    sqlite3_finalize(a->ins);
    sqlite3_finalize(a->ins_many);
    sqlite3_finalize(a->head);
    sqlite3_close(a->db);
    wr_free(a);
}

uint64_t wr_audit_queued(wr_audit *a)
{
    pthread_mutex_lock(&a->mu);
    uint64_t n = a->enqueued_total - a->committed_total;
    pthread_mutex_unlock(&a->mu);
    return n;
}

uint64_t wr_audit_written(wr_audit *a) { return atomic_load(&a->written); }
uint64_t wr_audit_failures(wr_audit *a) { return atomic_load(&a->failures); }

/* ---- reading */

static const char row_cols[] =
    "seq, time_ms, agent, chain, task, action, resource, decision, policies, errors, prev, hash";

static void read_row(sqlite3_stmt *s, wr_audit_row *row, size_t *len)
{
    row->seq = (uint64_t)sqlite3_column_int64(s, 0);
    row->e.time_ms = sqlite3_column_int64(s, 1);
    const char **f[AUDIT_FIELDS] = {&row->e.agent, &row->e.chain, &row->e.task, &row->e.action,
                                    &row->e.resource, &row->e.policies, &row->e.errors};
    static const int col[AUDIT_FIELDS] = {2, 3, 4, 5, 6, 8, 9};
    for (int i = 0; i < AUDIT_FIELDS; i++) {
        const char *t = (const char *)sqlite3_column_text(s, col[i]);
        *f[i] = t ? t : "";
        len[i] = t ? (size_t)sqlite3_column_bytes(s, col[i]) : 0;
    }
    const char *d = (const char *)sqlite3_column_text(s, 7);
    row->e.allow = d && !strcmp(d, "allow");
    row->prev = (const char *)sqlite3_column_text(s, 10);
    row->hash = (const char *)sqlite3_column_text(s, 11);
    if (!row->prev)
        row->prev = "";
    if (!row->hash)
        row->hash = "";
}

static writ_status broken(wr_audit_verify_result *r, uint64_t seq, const char *msg)
{
    r->bad_seq = seq;
    snprintf(r->msg, sizeof r->msg, "record %llu: %s", (unsigned long long)seq, msg);
    return WRIT_EVALIDATE;
}

writ_status wr_audit_verify(const char *path, wr_audit_verify_result *r, writ_error *err)
{
    memset(r, 0, sizeof *r);
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    EVP_MD_CTX *md = NULL;
    writ_status st = open_db(path, SQLITE_OPEN_READONLY, &db, err);
    if (st)
        return st;
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        st = db_fail(err, db, "starting a read");
        goto out;
    }
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT %s FROM audit ORDER BY seq", row_cols);
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        st = db_fail(err, db, "reading the log");
        goto out;
    }
    if (!(md = EVP_MD_CTX_new())) {
        st = db_fail(err, NULL, "out of memory");
        goto out;
    }
    unsigned char prev[32] = {0}, h[32], stored[32];
    uint64_t expect = 1;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        wr_audit_row row;
        size_t len[AUDIT_FIELDS];
        read_row(s, &row, len);
        const char *d = (const char *)sqlite3_column_text(s, 7);
        if (row.seq != expect) {
            char m[96];
            snprintf(m, sizeof m, "expected record %llu here: records are missing or inserted",
                     (unsigned long long)expect);
            st = broken(r, row.seq, m);
            goto out;
        }
        if (!d || (strcmp(d, "allow") && strcmp(d, "deny"))) {
            st = broken(r, row.seq, "decision is neither allow nor deny");
            goto out;
        }
        unsigned char p[32];
        if (unhex(row.prev, strlen(row.prev), p) != 0 || memcmp(p, prev, 32) != 0) {
            st = broken(r, row.seq, "prev does not match the hash of the record before");
            goto out;
        }
        const char *f[AUDIT_FIELDS] = {row.e.agent, row.e.chain, row.e.task, row.e.action,
                                       row.e.resource, row.e.policies, row.e.errors};
        if (record_hash(md, row.seq, row.e.time_ms, row.e.allow, f, len, prev, h) != 0) {
            st = db_fail(err, NULL, "hashing failed");
            goto out;
        }
        if (unhex(row.hash, strlen(row.hash), stored) != 0 || memcmp(stored, h, 32) != 0) {
            st = broken(r, row.seq, "hash does not match the record's contents (edited)");
            goto out;
        }
        memcpy(prev, h, 32);
        r->records++;
        r->last_seq = row.seq;
        expect++;
    }
    if (rc != SQLITE_DONE) {
        st = db_fail(err, db, "reading the log");
        goto out;
    }
    if (r->records)
        hex(prev, r->head);
    sqlite3_finalize(s);
    s = NULL;
    if (sqlite3_prepare_v2(db, "SELECT seq, hash FROM audit_head WHERE id = 1", -1, &s, NULL) != SQLITE_OK) {
        st = db_fail(err, db, "reading the head");
        goto out;
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        uint64_t hseq = (uint64_t)sqlite3_column_int64(s, 0);
        const char *hh = (const char *)sqlite3_column_text(s, 1);
        if (hseq != r->last_seq || !hh || strcmp(hh, r->head) != 0) {
            char m[160];
            snprintf(m, sizeof m, "the head says the log ends at record %llu, it ends at %llu: records were "
                                  "removed from the end or the head was changed",
                     (unsigned long long)hseq, (unsigned long long)r->last_seq);
            st = broken(r, r->last_seq + 1, m);
            goto out;
        }
    } else if (rc == SQLITE_DONE) {
        if (r->records) {
            st = broken(r, 1, "records exist but the head is missing");
            goto out;
        }
    } else {
        st = db_fail(err, db, "reading the head");
    }
out:
    EVP_MD_CTX_free(md);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return st;
}

writ_status wr_audit_query(const char *path, const wr_audit_filter *f, wr_audit_row_fn fn, void *ctx,
                           writ_error *err)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    writ_status st = open_db(path, SQLITE_OPEN_READONLY, &db, err);
    if (st)
        return st;
    /* Fixed SQL, every filter a bound parameter (NULL = any). */
    char sql[768];
    snprintf(sql, sizeof sql,
             "SELECT * FROM (SELECT %s FROM audit WHERE (?1 IS NULL OR agent = ?1) AND (?2 IS NULL OR action = ?2)"
             " AND (?3 IS NULL OR resource = ?3) AND (?4 IS NULL OR task = ?4) AND (?5 IS NULL OR decision = ?5)"
             " AND (?6 IS NULL OR time_ms >= ?6) AND (?7 IS NULL OR time_ms < ?7)"
             " ORDER BY seq %s LIMIT ?8) ORDER BY seq",
             row_cols, f->last ? "DESC" : "ASC");
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        st = db_fail(err, db, "querying the log");
        goto out;
    }
    const char *txt[4] = {f->agent, f->action, f->resource, f->task};
    for (int i = 0; i < 4; i++)
        if (txt[i])
            sqlite3_bind_text(s, i + 1, txt[i], -1, SQLITE_STATIC);
    if (f->decision >= 0)
        sqlite3_bind_text(s, 5, f->decision ? "allow" : "deny", -1, SQLITE_STATIC);
    if (f->since_ms)
        sqlite3_bind_int64(s, 6, f->since_ms);
    if (f->until_ms)
        sqlite3_bind_int64(s, 7, f->until_ms);
    sqlite3_bind_int64(s, 8, f->limit ? (sqlite3_int64)f->limit : -1);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        wr_audit_row row;
        size_t len[AUDIT_FIELDS];
        read_row(s, &row, len);
        if (fn(ctx, &row))
            break;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        st = db_fail(err, db, "querying the log");
out:
    sqlite3_finalize(s);
    sqlite3_close(db);
    return st;
}
