/* audit_pg.c - the audit log's PostgreSQL sink: every replica's chain in
 * one database, one chain per replica (the primary key is (replica, seq)),
 * the checkpoint keys in a table beside them.  Writ creates the tables on
 * first open (under an advisory lock, so that replicas starting together
 * do not race on CREATE TABLE).
 *
 * A batch is one statement (records and checkpoints inserted by one
 * INSERT ... WITH), so it commits whole or not at all.  When the answer is
 * lost (the connection dropped after the server committed), the next
 * write reconnects and asks for the replica's last record: if it is the
 * batch's last record, the batch did commit.
 *
 * A write fails in one of two ways.  The database did not take it now
 * (unreachable, no answer within PG_WAIT_MS, out of space, shutting down):
 * -1, and the spool keeps the batch for later.  The database answered and
 * refused the batch itself (its seq taken by another writer, a constraint,
 * a type, a permission, a trigger or rule that kept some rows back): -2,
 * which nothing later would change, so the batch is not spooled and its
 * decisions are denied.  A writer holds its replica's name (an advisory
 * lock for as long as its session lasts), so a second writ serve with the
 * same name is refused at start. */
#include "store/audit_int.h"
#include "util/alloc.h"
#include "util/sbuf.h"
#include "util/clock.h"

#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PG_LOCK_KEY "7307151"
/* the writer's statement_timeout (a lock wait, a slow disk: the server
 * cancels the statement and says so), and a second more for the longest a
 * batch waits for an answer (a backend or a network that says nothing) */
#define PG_WAIT_MS 5000

typedef struct pg_sink {
    au_sink base;
    PGconn *c;
    char *conninfo, *replica, *key_dir;
    bool prepared; /* writ_batch on this connection */
    bool named;    /* this session holds the replica's name (take_name) */
} pg_sink;

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS writ_audit ("
    " replica TEXT NOT NULL, seq BIGINT NOT NULL, time_ms BIGINT NOT NULL, agent TEXT NOT NULL,"
    " chain TEXT NOT NULL, task TEXT NOT NULL, action TEXT NOT NULL, resource TEXT NOT NULL,"
    " decision TEXT NOT NULL, policies TEXT NOT NULL, errors TEXT NOT NULL, prev TEXT NOT NULL,"
    " hash TEXT NOT NULL, shadow TEXT NOT NULL DEFAULT '', PRIMARY KEY (replica, seq));"
    "CREATE TABLE IF NOT EXISTS writ_audit_checkpoint (replica TEXT NOT NULL, seq BIGINT NOT NULL,"
    " head TEXT NOT NULL, time_ms BIGINT NOT NULL, jws TEXT NOT NULL, PRIMARY KEY (replica, seq));"
    "CREATE TABLE IF NOT EXISTS writ_audit_replica (replica TEXT PRIMARY KEY, created_ms BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS writ_audit_key (kid TEXT PRIMARY KEY, jwk TEXT NOT NULL);";

static writ_status pg_fail(writ_error *err, PGconn *c, const char *what)
{
    const char *m = c ? PQerrorMessage(c) : "out of memory";
    size_t n = strlen(m);
    while (n && (m[n - 1] == '\n' || m[n - 1] == ' '))
        n--;
    return au_fail(err, WRIT_EIO, "audit log (PostgreSQL): %s: %.*s", what, (int)n, m);
}

/* A statement that returns no rows; 0 or -1. */
static int pg_cmd(PGconn *c, const char *sql, int n, const char *const *v)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, v, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    return ok ? 0 : -1;
}

/* Take the replica's name for this session: 1 taken, 0 held by another
 * session (another writer with the same name), -1 the query failed. */
static int take_name(PGconn *c, const char *replica)
{
    const char *v[1] = {replica};
    PGresult *r = PQexecParams(c, "SELECT pg_try_advisory_lock(" PG_LOCK_KEY ", hashtext($1))", 1, NULL, v,
                               NULL, NULL, 0);
    int rc = PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 ? -1
             : !strcmp(PQgetvalue(r, 0, 0), "t")                        ? 1
                                                                        : 0;
    PQclear(r);
    return rc;
}

/* Connected (reconnected once) with the replica's name held: 0, or -1.
 * After a reconnect the name may still be held by this writer's previous
 * session (a backend that has not yet noticed that it was left), or by
 * another writer that took it meanwhile: both fail like an outage, and a
 * batch of the other writer's in the way is refused by its seq. */
static int pg_ready(pg_sink *p)
{
    if (PQstatus(p->c) != CONNECTION_OK) {
        p->prepared = p->named = false;
        PQreset(p->c);
        if (PQstatus(p->c) != CONNECTION_OK)
            return -1;
    }
    if (!p->named) {
        int t = take_name(p->c, p->replica);
        if (t == 0)
            fprintf(stderr, "writ: audit log: replica %s: its name is still held by another session (the "
                            "previous connection's, or another writer's)\n",
                    p->replica);
        if (t != 1)
            return -1;
        p->named = true;
    }
    return 0;
}

/* The database answered with an error about the batch itself, which it
 * would give again, rather than about taking it now (the connection,
 * resources, a shutdown, a timeout, another transaction in the way). */
static bool refused(const PGresult *r)
{
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    static const char *const now[] = {"08", "40", "53", "55", "57", "58", "XX"};
    if (!st || strlen(st) != 5)
        return false;
    for (size_t i = 0; i < sizeof now / sizeof now[0]; i++)
        if (!strncmp(st, now[i], 2))
            return false;
    return true;
}

/* The answer to the statement just sent, waiting at most PG_WAIT_MS; NULL
 * when none came (the connection is reset: the statement may still commit,
 * which the next write of the batch finds out).  Only the last result is
 * kept. */
static PGresult *pg_wait(pg_sink *p)
{
    int64_t until = wr_mono_ms() + PG_WAIT_MS + 1000;
    PGresult *last = NULL, *r;
    for (;;) {
        while (!PQisBusy(p->c)) {
            if (!(r = PQgetResult(p->c)))
                return last;
            PQclear(last);
            last = r;
        }
        int64_t left = until - wr_mono_ms();
        struct pollfd pf = {.fd = PQsocket(p->c), .events = POLLIN};
        int k = left > 0 ? poll(&pf, 1, (int)left) : 0;
        if (k == 0 || (k < 0 && errno != EINTR) || (k > 0 && !PQconsumeInput(p->c))) {
            if (k == 0)
                fprintf(stderr, "writ: audit log: PostgreSQL did not answer within %d ms: reconnecting\n",
                        PG_WAIT_MS + 1000);
            PQclear(last);
            p->prepared = p->named = false;
            PQreset(p->c);
            return NULL;
        }
    }
}

/* ---- writing */

static void put_u64(char *buf, uint64_t v) { snprintf(buf, 24, "%llu", (unsigned long long)v); }

static void put_i64(char *buf, int64_t v) { snprintf(buf, 24, "%lld", (long long)v); }

/* Did the replica's last record become r (a commit whose answer was lost)? */
static bool committed(pg_sink *p, const au_rec *r)
{
    char seq[24];
    put_u64(seq, r->row.seq);
    const char *v[2] = {p->replica, seq};
    PGresult *res = PQexecParams(p->c, "SELECT hash FROM writ_audit WHERE replica = $1 AND seq = $2", 2, NULL,
                                 v, NULL, NULL, 0);
    bool yes = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
               !strcmp(PQgetvalue(res, 0, 0), r->row.hash);
    PQclear(res);
    return yes;
}

/* The batch statement, one text for every batch (prepared once per
 * connection): records and checkpoints as arrays, unnested.  It answers
 * how many records and checkpoints the database stored: a trigger or a
 * rule that keeps rows back does not make a batch look written. */
static const char batch_sql[] =
    "WITH r AS (INSERT INTO writ_audit (replica, seq, time_ms, agent, chain, task, action, resource, "
    "decision,"
    " policies, errors, prev, hash, shadow) SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::text[],"
    " $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],"
    " $13::text[], $14::text[]) RETURNING 1),"
    " c AS (INSERT INTO writ_audit_checkpoint (replica, seq, head, time_ms, jws) SELECT $1, * FROM"
    " unnest($15::bigint[], $16::text[], $17::bigint[], $18::text[])"
    " ON CONFLICT (replica, seq) DO NOTHING RETURNING 1)"
    " SELECT (SELECT count(*) FROM r), (SELECT count(*) FROM c)";

/* A PostgreSQL array literal element: "..." with " and \ escaped. */
static void arr_add(sbuf *b, const char *v, size_t n)
{
    sb_putc(b, b->len ? ',' : '{');
    sb_putc(b, '"');
    size_t from = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] == '"' || v[i] == '\\') {
            sb_putn(b, v + from, i - from);
            sb_putc(b, '\\');
            from = i;
        }
    sb_putn(b, v + from, n - from);
    sb_putc(b, '"');
}

static void arr_num(sbuf *b, int64_t v, bool sign)
{
    char t[24];
    if (sign)
        snprintf(t, sizeof t, "%lld", (long long)v);
    else
        snprintf(t, sizeof t, "%llu", (unsigned long long)(uint64_t)v);
    sb_putc(b, b->len ? ',' : '{');
    sb_puts(b, t);
}

#define PG_ARRS 17

static int pg_write(au_sink *s, const au_rec *r, size_t n, const au_cp_text *c, size_t nc)
{
    pg_sink *p = (pg_sink *)s;
    sbuf a[PG_ARRS];
    for (int i = 0; i < PG_ARRS; i++)
        sb_init(&a[i]);
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        const wr_audit_row *w = &r[i].row;
        const char *f[AUDIT_FIELDS] = {w->e.agent,    w->e.chain,    w->e.task,   w->e.action,
                                       w->e.resource, w->e.policies, w->e.errors, w->e.shadow};
        arr_num(&a[0], (int64_t)w->seq, false);
        arr_num(&a[1], w->e.time_ms, true);
        for (int k = 0; k < 5; k++)
            arr_add(&a[2 + k], f[k], r[i].len[k]);
        arr_add(&a[7], w->e.allow ? "allow" : "deny", w->e.allow ? 5 : 4);
        arr_add(&a[8], f[5], r[i].len[5]);
        arr_add(&a[9], f[6], r[i].len[6]);
        arr_add(&a[10], w->prev, strlen(w->prev));
        arr_add(&a[11], w->hash, strlen(w->hash));
        arr_add(&a[12], f[7], r[i].len[7]);
    }
    for (size_t i = 0; i < nc; i++) {
        arr_num(&a[13], (int64_t)c[i].seq, false);
        arr_add(&a[14], c[i].head, strlen(c[i].head));
        arr_num(&a[15], c[i].time_ms, true);
        arr_add(&a[16], c[i].jws, strlen(c[i].jws));
    }
    const char *v[PG_ARRS + 1] = {p->replica};
    for (int i = 0; i < PG_ARRS; i++) {
        if (a[i].len == 0)
            sb_putc(&a[i], '{');
        sb_putc(&a[i], '}');
        if (a[i].failed)
            goto out;
        v[i + 1] = a[i].p;
    }
    if (pg_ready(p) != 0) {
        if (PQstatus(p->c) != CONNECTION_OK)
            fprintf(stderr, "writ: audit log: PostgreSQL unreachable: %s", PQerrorMessage(p->c));
        goto out;
    }
    if (!p->prepared) {
        PGresult *pr = PQprepare(p->c, "writ_batch", batch_sql, 0, NULL);
        p->prepared = PQresultStatus(pr) == PGRES_COMMAND_OK;
        PQclear(pr);
    }
    PGresult *res = p->prepared && PQsendQueryPrepared(p->c, "writ_batch", PG_ARRS + 1, v, NULL, NULL, 0)
                        ? pg_wait(p)
                        : NULL;
    bool no = refused(res);
    /* no answer from the server (none, or libpq's own error: no SQLSTATE),
     * or "seq taken": the batch may be in already (the answer to its commit
     * was lost, or it was shipped before from the spool) */
    const char *code = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    bool maybe = !code || !strcmp(code, "23505");
    long long stored = -1, cps = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        stored = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        cps = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    }
    PQclear(res);
    if (stored >= 0 && (stored != (long long)n || (n && cps != (long long)nc))) {
        /* committed, but not what was sent: the chain cannot go on from it */
        fprintf(stderr,
                "writ: audit log: PostgreSQL stored %lld of %zu records and %lld of %zu checkpoints (a "
                "trigger or rule on writ_audit?): refusing to write\n",
                stored, n, cps, nc);
        rc = -2;
    } else if (stored >= 0) {
        rc = 0;
    } else {
        rc = -1;
        const char *m = PQerrorMessage(p->c);
        fprintf(stderr, "writ: audit log: PostgreSQL write failed: %s", *m ? m : "no answer\n");
        if (PQstatus(p->c) != CONNECTION_OK)
            p->prepared = false; /* a new connection has no prepared statements */
        /* the answer may have been lost after the commit */
        if (maybe && n && pg_ready(p) == 0 && committed(p, &r[n - 1]))
            rc = 0;
        else if (no)
            rc = -2;
    }
out:
    for (int i = 0; i < PG_ARRS; i++)
        sb_free(&a[i]);
    return rc;
}

/* ---- reading */

static writ_status pg_last(au_sink *s, uint64_t *count, uint64_t *seq, char hash[65], writ_error *err)
{
    pg_sink *p = (pg_sink *)s;
    const char *v[1] = {p->replica};
    *count = *seq = 0;
    hash[0] = '\0';
    PGresult *r = PQexecParams(p->c,
                               "SELECT (SELECT count(*) FROM writ_audit WHERE replica = $1), seq, hash FROM "
                               "writ_audit WHERE replica = $1 ORDER BY seq DESC LIMIT 1",
                               1, NULL, v, NULL, NULL, 0);
    writ_status st = WRIT_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        st = pg_fail(err, p->c, "reading the last record");
    else if (PQntuples(r) == 1) {
        *count = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
        *seq = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
        snprintf(hash, 65, "%s", PQgetvalue(r, 0, 2));
    }
    PQclear(r);
    return st;
}

/* Stream the rows of a query one by one (single-row mode). */
typedef int (*row_fn)(void *ctx, PGresult *r);
static writ_status pg_stream(pg_sink *p, const char *sql, int n, const char *const *v, row_fn fn, void *ctx,
                             const char *what, writ_error *err)
{
    if (!PQsendQueryParams(p->c, sql, n, NULL, v, NULL, NULL, 0) || !PQsetSingleRowMode(p->c))
        return pg_fail(err, p->c, what);
    writ_status st = WRIT_OK;
    bool stop = false;
    PGresult *r;
    while ((r = PQgetResult(p->c))) {
        ExecStatusType t = PQresultStatus(r);
        if (t == PGRES_SINGLE_TUPLE && !stop)
            stop = fn(ctx, r) != 0;
        else if (t != PGRES_SINGLE_TUPLE && t != PGRES_TUPLES_OK && st == WRIT_OK)
            st = pg_fail(err, p->c, what);
        PQclear(r);
    }
    return st;
}

typedef struct cp_ctx {
    au_cp_fn fn;
    void *ctx;
} cp_ctx;

static int one_cp(void *ctx, PGresult *r)
{
    cp_ctx *c = ctx;
    au_cp_text t = {.seq = strtoull(PQgetvalue(r, 0, 0), NULL, 10),
                    .head = PQgetvalue(r, 0, 1),
                    .time_ms = strtoll(PQgetvalue(r, 0, 2), NULL, 10),
                    .jws = PQgetvalue(r, 0, 3)};
    return c->fn(c->ctx, &t);
}

static writ_status pg_checkpoints(au_sink *s, bool last_only, au_cp_fn fn, void *ctx, writ_error *err)
{
    pg_sink *p = (pg_sink *)s;
    const char *v[1] = {p->replica};
    cp_ctx c = {fn, ctx};
    return pg_stream(p,
                     last_only
                         ? "SELECT seq, head, time_ms, jws FROM writ_audit_checkpoint WHERE replica = $1 "
                           "ORDER BY seq DESC LIMIT 1"
                         : "SELECT seq, head, time_ms, jws FROM writ_audit_checkpoint WHERE replica = $1 "
                           "ORDER BY seq",
                     1, v, one_cp, &c, "reading the checkpoints", err);
}

#define REC_COLS                                                                                             \
    "seq, time_ms, agent, chain, task, action, resource, decision, policies, errors, prev, hash, shadow, "   \
    "replica"

static void read_row(PGresult *r, au_rec *out)
{
    memset(out, 0, sizeof *out);
    wr_audit_row *row = &out->row;
    row->seq = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    row->e.time_ms = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    const char **f[AUDIT_FIELDS] = {&row->e.agent,    &row->e.chain,    &row->e.task,   &row->e.action,
                                    &row->e.resource, &row->e.policies, &row->e.errors, &row->e.shadow};
    static const int col[AUDIT_FIELDS] = {2, 3, 4, 5, 6, 8, 9, 12};
    for (int i = 0; i < AUDIT_FIELDS; i++) {
        *f[i] = PQgetvalue(r, 0, col[i]);
        out->len[i] = (size_t)PQgetlength(r, 0, col[i]);
    }
    const char *d = PQgetvalue(r, 0, 7);
    row->e.allow = !strcmp(d, "allow");
    out->bad_decision = strcmp(d, "allow") && strcmp(d, "deny");
    row->prev = PQgetvalue(r, 0, 10);
    row->hash = PQgetvalue(r, 0, 11);
    row->replica = PQgetvalue(r, 0, 13);
}

typedef struct rec_ctx {
    au_rec_fn fn;
    wr_audit_row_fn rfn;
    void *ctx;
} rec_ctx;

static int one_rec(void *ctx, PGresult *r)
{
    rec_ctx *c = ctx;
    au_rec rec;
    read_row(r, &rec);
    return c->fn ? c->fn(c->ctx, &rec) : c->rfn(c->ctx, &rec.row);
}

static writ_status pg_records(au_sink *s, uint64_t from, au_rec_fn fn, void *ctx, writ_error *err)
{
    pg_sink *p = (pg_sink *)s;
    char f[24];
    put_i64(f, from ? (int64_t)from : INT64_MIN);
    const char *v[2] = {p->replica, f};
    rec_ctx c = {.fn = fn, .ctx = ctx};
    return pg_stream(p, "SELECT " REC_COLS " FROM writ_audit WHERE replica = $1 AND seq >= $2 ORDER BY seq",
                     2, v, one_rec, &c, "reading the log", err);
}

static writ_status pg_load_keys(au_sink *s, wr_jwks *ks, writ_error *err)
{
    pg_sink *p = (pg_sink *)s;
    PGresult *r = PQexec(p->c, "SELECT jwk FROM writ_audit_key ORDER BY kid");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return pg_fail(err, p->c, "reading the checkpoint keys");
    }
    sbuf b;
    sb_init(&b);
    sb_puts(&b, "{\"keys\":[");
    for (int i = 0; i < PQntuples(r); i++)
        sb_printf(&b, "%s%s", i ? "," : "", PQgetvalue(r, i, 0));
    sb_puts(&b, "]}");
    PQclear(r);
    writ_status st = b.failed ? au_fail(err, WRIT_ENOMEM, "out of memory")
                              : au_parse_keys(b.p, b.len, "the writ_audit_key table", ks, err);
    sb_free(&b);
    return st;
}

static writ_status pg_add_key(au_sink *s, const char *kid, const char *jwk_json, writ_error *err)
{
    pg_sink *p = (pg_sink *)s;
    const char *v[2] = {kid, jwk_json};
    if (pg_cmd(p->c, "INSERT INTO writ_audit_key (kid, jwk) VALUES ($1, $2) ON CONFLICT (kid) DO NOTHING", 2,
               v) != 0)
        return pg_fail(err, p->c, "storing the checkpoint key");
    return WRIT_OK;
}

static char *pg_sibling(au_sink *s, const char *name)
{
    pg_sink *p = (pg_sink *)s;
    return p->key_dir ? au_sibling(p->key_dir, name) : NULL;
}

static void pg_close(au_sink *s)
{
    pg_sink *p = (pg_sink *)s;
    if (!p)
        return;
    PQfinish(p->c);
    wr_free(p->conninfo);
    wr_free(p->replica);
    wr_free(p->key_dir);
    wr_free(p);
}

static const au_sink_ops pg_ops = {
    .write = pg_write,
    .last = pg_last,
    .checkpoints = pg_checkpoints,
    .records = pg_records,
    .load_keys = pg_load_keys,
    .add_key = pg_add_key,
    .close = pg_close,
    .sibling = pg_sibling,
};

/* Bounded waits unless the URL says otherwise (its parameters come after
 * these and win): a database that does not answer must turn into a failed
 * write (and the spool), not a writer stuck for the kernel's TCP timeouts. */
static writ_status connect_db(const char *conninfo, bool writer, PGconn **out, writ_error *err)
{
    static const char *const keys[] = {
        "connect_timeout",  "keepalives",       "keepalives_idle", "keepalives_interval",
        "keepalives_count", "tcp_user_timeout", "options",         "dbname",
        NULL};
    /* the writer's statements are bounded on the server too (a lock wait);
     * a reader's are not (verify streams every record) */
    char opt[64];
    snprintf(opt, sizeof opt, "-c statement_timeout=%d", PG_WAIT_MS);
    const char *vals[] = {"3", "1", "5", "2", "2", "5000", writer ? opt : "", conninfo, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        writ_status st = pg_fail(err, c, "connecting");
        PQfinish(c);
        return st;
    }
    /* quiet NOTICEs (CREATE TABLE IF NOT EXISTS) */
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    *out = c;
    return WRIT_OK;
}

writ_status au_pg_open(const char *conninfo, const char *replica, bool writer, const char *key_dir,
                       au_sink **out, writ_error *err)
{
    *out = NULL;
    pg_sink *p = wr_calloc(1, sizeof *p);
    if (!p || !(p->conninfo = au_strdup(conninfo)) || !(p->replica = au_strdup(replica ? replica : "")) ||
        (key_dir && !(p->key_dir = au_strdup(key_dir)))) {
        pg_close(p ? &p->base : NULL);
        return au_fail(err, WRIT_ENOMEM, "audit log: out of memory");
    }
    p->base.ops = &pg_ops;
    writ_status st = connect_db(conninfo, writer, &p->c, err);
    if (st)
        goto bad;
    if (writer) {
        /* the schema, once, whoever starts first */
        char now[24];
        put_i64(now, wr_wall_ms());
        const char *v[2] = {p->replica, now};
        PGresult *r = NULL;
        if (pg_cmd(p->c, "SELECT pg_advisory_lock(" PG_LOCK_KEY ")", 0, NULL) != 0 ||
            PQresultStatus(r = PQexec(p->c, schema_sql)) != PGRES_COMMAND_OK) {
            PQclear(r);
            st = pg_fail(err, p->c, "creating tables");
            pg_cmd(p->c, "SELECT pg_advisory_unlock(" PG_LOCK_KEY ")", 0, NULL);
            goto bad;
        }
        PQclear(r);
        r = PQexecParams(p->c,
                         "INSERT INTO writ_audit_replica (replica, created_ms) VALUES ($1, $2) ON CONFLICT "
                         "(replica) DO NOTHING RETURNING 1",
                         2, NULL, v, NULL, NULL, 0);
        bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
        /* a replica seen before: its chain exists (a missing checkpoint 0 is then an emptied log) */
        p->base.existed = ok && PQntuples(r) == 0;
        PQclear(r);
        if (!ok)
            st = pg_fail(err, p->c, "registering the replica");
        pg_cmd(p->c, "SELECT pg_advisory_unlock(" PG_LOCK_KEY ")", 0, NULL);
        if (!ok)
            goto bad;
        int t = take_name(p->c, p->replica);
        p->named = t == 1;
        if (t != 1) {
            st = t < 0 ? pg_fail(err, p->c, "taking the replica's name")
                       : au_fail(err, WRIT_EDUP,
                                 "audit log (PostgreSQL): replica %s is already writing to this database "
                                 "(two writ serve with one name?): give each replica its own `replica`",
                                 p->replica);
            goto bad;
        }
    } else if (pg_cmd(p->c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL) != 0) {
        /* a reader sees one snapshot: checkpoints and records agree */
        st = pg_fail(err, p->c, "starting a read");
        goto bad;
    }
    *out = &p->base;
    return WRIT_OK;
bad:
    pg_close(&p->base);
    return st;
}

writ_status au_pg_replicas(const char *conninfo, char ***names, size_t *n, writ_error *err)
{
    *names = NULL;
    *n = 0;
    PGconn *c = NULL;
    writ_status st = connect_db(conninfo, false, &c, err);
    if (st)
        return st;
    /* every name in any of the tables: a replica with records but no
     * registration or checkpoint is verified too (and found broken) */
    PGresult *r = PQexec(c, "SELECT replica FROM writ_audit_replica UNION SELECT replica FROM "
                            "writ_audit_checkpoint UNION SELECT replica FROM writ_audit ORDER BY 1");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        st = pg_fail(err, c, "listing the replicas (not a Writ audit database?)");
        goto out;
    }
    int k = PQntuples(r);
    if (k && !(*names = wr_calloc((size_t)k, sizeof **names))) {
        st = au_fail(err, WRIT_ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < k; i++) {
        if (!((*names)[i] = au_strdup(PQgetvalue(r, i, 0)))) {
            st = au_fail(err, WRIT_ENOMEM, "out of memory");
            goto out;
        }
        (*n)++;
    }
out:
    PQclear(r);
    PQfinish(c);
    return st;
}

/* Fixed SQL, every filter a bound parameter (NULL = any); ordered by
 * replica, then seq. */
writ_status au_pg_query(const char *conninfo, const wr_audit_filter *f, wr_audit_row_fn fn, void *ctx,
                        writ_error *err)
{
    au_sink *s = NULL;
    writ_status st = au_pg_open(conninfo, "", false, NULL, &s, err);
    if (st)
        return st;
    pg_sink *p = (pg_sink *)s;
    char since[24], until[24], lim[24];
    put_i64(since, f->since_ms);
    put_i64(until, f->until_ms);
    put_u64(lim, f->limit);
    const char *v[9] = {f->agent,
                        f->action,
                        f->resource,
                        f->task,
                        f->decision < 0 ? NULL
                        : f->decision   ? "allow"
                                        : "deny",
                        f->since_ms ? since : NULL,
                        f->until_ms ? until : NULL,
                        f->limit ? lim : NULL,
                        f->replica};
    char sql[1200];
    snprintf(
        sql, sizeof sql,
        "SELECT * FROM (SELECT " REC_COLS " FROM writ_audit WHERE ($1::text IS NULL OR agent = $1) AND"
        " ($2::text IS NULL OR action = $2) AND ($3::text IS NULL OR resource = $3) AND ($4::text IS NULL OR"
        " task = $4) AND ($5::text IS NULL OR decision = $5) AND ($6::bigint IS NULL OR time_ms >= $6) AND"
        " ($7::bigint IS NULL OR time_ms < $7) AND ($9::text IS NULL OR replica = $9)%s"
        " ORDER BY %s LIMIT $8::bigint) x ORDER BY replica, seq",
        f->shadow ? " AND shadow <> ''" : "", f->last ? "time_ms DESC, replica, seq DESC" : "replica, seq");
    rec_ctx c = {.rfn = fn, .ctx = ctx};
    st = pg_stream(p, sql, 9, v, one_rec, &c, "querying the log", err);
    s->ops->close(s);
    return st;
}
