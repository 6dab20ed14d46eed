/* test_audit.c - the hash-chained audit log: append, reopen, verify,
 * tampering (edit, delete, truncate, reorder), queries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/audit.h"
#include "jose/jose.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>

static char dir[64];
static char db[128];
static char keys[160];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/writ-audit-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(db, sizeof db, "%s/writ.db", dir);
    snprintf(keys, sizeof keys, "%s/" WR_AUDIT_KEYS_FILE, dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char p[200];
    const char *names[] = {"writ.db",          "writ.db-wal",     "writ.db-shm",
                           WR_AUDIT_KEYS_FILE, WR_AUDIT_KEY_FILE, "other.jwks"};
    for (int i = 0; i < 6; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
    return 0;
}

static uint32_t every = 7;

static wr_audit *open_log(void)
{
    wr_audit *a;
    writ_error err;
    wr_audit_opts o = {.batch = 7, .queue_max = 16, .checkpoint_every = every};
    if (wr_audit_open(db, &o, &a, &err) != WRIT_OK)
        fail_msg("open: %s", err.msg);
    return a;
}

static wr_audit *open_log_batch(uint32_t batch)
{
    wr_audit *a;
    writ_error err;
    wr_audit_opts o = {.batch = batch, .checkpoint_every = every};
    if (wr_audit_open(db, &o, &a, &err) != WRIT_OK)
        fail_msg("open: %s", err.msg);
    return a;
}

static void append_n(int from, int n)
{
    wr_audit *a = open_log();
    for (int i = from; i < from + n; i++) {
        char agent[64], res[64];
        snprintf(agent, sizeof agent, "Writ::Agent::\"a%d\"", i % 3);
        snprintf(res, sizeof res, "Writ::Dataset::\"d%d\"", i);
        wr_audit_entry e = {
            .time_ms = 1700000000000 + i,
            .agent = agent,
            .chain = "[\"x\"]",
            .task = i % 2 ? "t1" : NULL,
            .action = "Writ::Action::\"read\"",
            .resource = res,
            .allow = i % 2,
            .policies = "[\"policy0\"]",
            .errors = "[]",
        };
        assert_int_equal(wr_audit_append(a, &e), WRIT_OK);
    }
    wr_audit_close(a);
}

static writ_status verify(wr_audit_verify_result *r)
{
    writ_error err;
    writ_status st = wr_audit_verify(db, NULL, r, &err);
    if (st != WRIT_OK && st != WRIT_EVALIDATE)
        fail_msg("verify: %s", err.msg);
    return st;
}

static void sql(const char *q)
{
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(h, q, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", q, msg);
    sqlite3_close(h);
}

static long long sql_int(const char *q)
{
    sqlite3 *h;
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, q, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    long long v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(h);
    return v;
}

/* What someone who can write the file but lacks the key does: rewrite
 * records from `from` on and re-hash the chain after them (the canonical
 * encoding of audit.h, computed here independently), then fix the head. */
static void be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static void rehash_from(long long from)
{
    sqlite3 *h;
    sqlite3_stmt *s, *u;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h,
                                        "SELECT seq, time_ms, agent, chain, task, action, resource, decision,"
                                        " policies, errors, prev FROM audit WHERE seq >= ? ORDER BY seq",
                                        -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, "UPDATE audit SET prev = ?, hash = ? WHERE seq = ?", -1, &u, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(s, 1, from);
    unsigned char prev[32] = {0};
    bool first = true;
    char hx[65] = "", px[65];
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (first && from > 1) {
            /* continue from the record before, as it is stored */
            sqlite3_stmt *q;
            assert_int_equal(sqlite3_prepare_v2(h, "SELECT hash FROM audit WHERE seq = ?", -1, &q, NULL),
                             SQLITE_OK);
            sqlite3_bind_int64(q, 1, from - 1);
            assert_int_equal(sqlite3_step(q), SQLITE_ROW);
            const char *p = (const char *)sqlite3_column_text(q, 0);
            for (int i = 0; i < 32; i++) {
                unsigned v;
                sscanf(p + 2 * i, "%2x", &v);
                prev[i] = (unsigned char)v;
            }
            sqlite3_finalize(q);
        }
        first = false;
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        unsigned char num[17], out[32];
        be64(num, (uint64_t)sqlite3_column_int64(s, 0));
        be64(num + 8, (uint64_t)sqlite3_column_int64(s, 1));
        num[16] = !strcmp((const char *)sqlite3_column_text(s, 7), "allow");
        EVP_DigestInit_ex(md, EVP_sha256(), NULL);
        EVP_DigestUpdate(md, "writ-audit-v1\n", 14);
        EVP_DigestUpdate(md, num, 17);
        static const int col[7] = {2, 3, 4, 5, 6, 8, 9};
        for (int i = 0; i < 7; i++) {
            unsigned char l[8];
            size_t n = (size_t)sqlite3_column_bytes(s, col[i]);
            be64(l, n);
            EVP_DigestUpdate(md, l, 8);
            EVP_DigestUpdate(md, sqlite3_column_text(s, col[i]), n);
        }
        EVP_DigestUpdate(md, prev, 32);
        unsigned int ol = 0;
        EVP_DigestFinal_ex(md, out, &ol);
        EVP_MD_CTX_free(md);
        for (int i = 0; i < 32; i++) {
            sprintf(px + 2 * i, "%02x", prev[i]);
            sprintf(hx + 2 * i, "%02x", out[i]);
        }
        sqlite3_bind_text(u, 1, px, 64, SQLITE_TRANSIENT);
        sqlite3_bind_text(u, 2, hx, 64, SQLITE_TRANSIENT);
        sqlite3_bind_int64(u, 3, sqlite3_column_int64(s, 0));
        assert_int_equal(sqlite3_step(u), SQLITE_DONE);
        sqlite3_reset(u);
        memcpy(prev, out, 32);
    }
    sqlite3_finalize(s);
    sqlite3_finalize(u);
    assert_int_equal(sqlite3_exec(h, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
}

/* wr_audit_open must refuse the log, saying why, and leave it unchanged. */
static void open_refused(const char *needle)
{
    long long n = sql_int("SELECT count(*) FROM audit"), c = sql_int("SELECT count(*) FROM audit_checkpoint");
    wr_audit *a = NULL;
    writ_error err;
    wr_audit_opts o = {.checkpoint_every = every};
    assert_int_equal(wr_audit_open(db, &o, &a, &err), WRIT_EVALIDATE);
    assert_null(a);
    if (!strstr(err.msg, needle))
        fail_msg("open refused with <%s>, want <%s>", err.msg, needle);
    assert_int_equal(sql_int("SELECT count(*) FROM audit"), n);
    assert_int_equal(sql_int("SELECT count(*) FROM audit_checkpoint"), c);
}

static void chain_whole_and_continued(void **state)
{
    (void)state;
    wr_audit_verify_result r;
    append_n(0, 100);
    assert_int_equal(verify(&r), WRIT_OK);
    assert_int_equal(r.records, 100);
    char head[65];
    memcpy(head, r.head, sizeof head);
    append_n(100, 50); /* reopening continues the chain */
    assert_int_equal(verify(&r), WRIT_OK);
    assert_int_equal(r.records, 150);
    assert_int_equal(r.last_seq, 150);
    assert_string_not_equal(r.head, head);
}

static void tampering_detected(void **state)
{
    (void)state;
    wr_audit_verify_result r;
    append_n(0, 30);
    sql("UPDATE audit SET decision = 'allow' WHERE seq = 11");
    assert_int_equal(verify(&r), WRIT_EVALIDATE);
    assert_int_equal(r.bad_seq, 11);
    assert_non_null(strstr(r.msg, "edited"));
    sql("UPDATE audit SET decision = 'deny' WHERE seq = 11");
    assert_int_equal(verify(&r), WRIT_OK);

    sql("UPDATE audit SET agent = 'Writ::Agent::\"evil\"' WHERE seq = 3");
    assert_int_equal(verify(&r), WRIT_EVALIDATE);
    assert_int_equal(r.bad_seq, 3);
}

/* A record's replica is hashed (v3), and a column stored as another type
 * than the writer's is refused: the same bytes as a BLOB hash alike but
 * drop out of every "audit query --agent" (found by attacking the log). */
static void replica_and_types_checked(void **state)
{
    (void)state;
    wr_audit *a;
    writ_error err;
    wr_audit_opts o = {.batch = 7, .checkpoint_every = every, .replica = "r-1"};
    if (wr_audit_open(db, &o, &a, &err) != WRIT_OK)
        fail_msg("open: %s", err.msg);
    for (int i = 0; i < 10; i++) {
        wr_audit_entry e = {.time_ms = 1700000000000 + i, .agent = "Writ::Agent::\"a\"", .action = "x",
                            .resource = "y", .allow = true, .policies = "[]", .errors = "[]"};
        assert_int_equal(wr_audit_append(a, &e), WRIT_OK);
    }
    wr_audit_close(a);
    wr_audit_verify_result r;
    assert_int_equal(verify(&r), WRIT_OK);

    sql("UPDATE audit SET replica = 'r-2' WHERE seq = 3");
    assert_int_equal(verify(&r), WRIT_EVALIDATE);
    assert_int_equal(r.bad_seq, 3);
    assert_non_null(strstr(r.msg, "edited"));
    sql("UPDATE audit SET replica = '' WHERE seq = 3");
    assert_int_equal(verify(&r), WRIT_EVALIDATE);
    assert_int_equal(r.bad_seq, 3);
    sql("UPDATE audit SET replica = 'r-1' WHERE seq = 3");
    assert_int_equal(verify(&r), WRIT_OK);
    /* bytes after a NUL: no reader shows them, and the hash stopped there */
    sql("UPDATE audit SET replica = 'r-1' || char(0) || 'x' WHERE seq = 3");
    assert_int_equal(verify(&r), WRIT_EVALIDATE);
    assert_int_equal(r.bad_seq, 3);
    assert_non_null(strstr(r.msg, "column replica"));
    sql("UPDATE audit SET replica = 'r-1' WHERE seq = 3");
    assert_int_equal(verify(&r), WRIT_OK);

    static const char *const cast[][3] = {
        {"agent", "CAST(agent AS BLOB)", "CAST(agent AS TEXT)"},
        {"decision", "CAST(decision AS BLOB)", "CAST(decision AS TEXT)"},
        /* an INTEGER column turns a whole REAL or a number's text back
         * into an integer; these it keeps, and they read back as the same
         * integer */
        {"time_ms", "time_ms + 0.25", "CAST(time_ms AS INTEGER)"},
        {"time_ms", "time_ms || 'x'", "CAST(rtrim(time_ms, 'x') AS INTEGER)"},
        {"replica", "CAST(replica AS BLOB)", "CAST(replica AS TEXT)"},
    };
    for (size_t i = 0; i < sizeof cast / sizeof *cast; i++) {
        char q[160];
        snprintf(q, sizeof q, "UPDATE audit SET %s = %s WHERE seq = 4", cast[i][0], cast[i][1]);
        sql(q);
        assert_int_equal(verify(&r), WRIT_EVALIDATE);
        assert_int_equal(r.bad_seq, 4);
        char want[64];
        snprintf(want, sizeof want, "column %s is not stored", cast[i][0]);
        if (!strstr(r.msg, want))
            fail_msg("%s: %s", cast[i][1], r.msg);
        snprintf(q, sizeof q, "UPDATE audit SET %s = %s WHERE seq = 4", cast[i][0], cast[i][2]);
        sql(q);
        assert_int_equal(verify(&r), WRIT_OK);
    }
}

static void deletion_detected(void **state)
{
    (void)state;
    wr_audit_verify_result r;
    append_n(0, 30);
    sql("DELETE FROM audit WHERE seq = 12");
    assert_int_equal(verify(&r), WRIT_EVALIDATE);
    assert_int_equal(r.bad_seq, 13);
    assert_non_null(strstr(r.msg, "missing"));
}

static void truncation_detected(void **state)
{
    (void)state;
    /* every 7: checkpoints 0, 7, 14, 21, 28 and 30 (close) */
    wr_audit_verify_result r;
    append_n(0, 30);
    assert_int_equal(verify(&r), WRIT_OK);
    assert_int_equal(r.checkpoints, 6);
    assert_int_equal(r.signed_seq, 30);
    sql("DELETE FROM audit WHERE seq > 25");
    assert_int_equal(verify(&r), WRIT_EVALIDATE);
    assert_int_equal(r.bad_checkpoint, 29);
    assert_non_null(strstr(r.msg, "checkpoint 28: signed"));
    assert_non_null(strstr(r.msg, "removed from the end"));
    /* and the server refuses to append to it, leaving it as it is */
    open_refused("records were removed from the end");
}

static void rehash_detected(void **state)
{
    (void)state;
    wr_audit_verify_result r;
    append_n(0, 30);
    /* a forged decision, the chain re-hashed after it, the head fixed */
    sql("UPDATE audit SET decision = 'allow' WHERE seq = 11");
    rehash_from(11);
    assert_int_equal(verify(&r), WRIT_EVALIDATE);
    assert_int_equal(r.bad_seq, 14);
    assert_non_null(strstr(r.msg, "record 14: does not match signed checkpoint 14"));
    open_refused("differs from checkpoint 30");
    /* changing the checkpoint rows to the forged heads breaks their signature */
    sql("UPDATE audit_checkpoint SET head = (SELECT hash FROM audit WHERE audit.seq = audit_checkpoint.seq)"
        " WHERE seq > 0");
    assert_int_equal(verify(&r), WRIT_EVALIDATE);
    assert_int_equal(r.bad_checkpoint, 15);
    assert_non_null(strstr(r.msg, "differs from what was signed"));
}

static void insertion_detected(void **state)
{
    (void)state;
    wr_audit_verify_result r;
    append_n(0, 20);
    /* a record slipped in after 5, the rest moved up and re-hashed */
    sql("UPDATE audit SET seq = seq + 1000 WHERE seq > 5; UPDATE audit SET seq = seq - 999 WHERE seq > 1000;"
        "INSERT INTO audit SELECT 6, time_ms, agent, chain, task, action, 'Writ::Dataset::\"forged\"', "
        "'allow',"
        " policies, errors, prev, hash, shadow, replica FROM audit WHERE seq = 5");
    rehash_from(6);
    assert_int_equal(verify(&r), WRIT_EVALIDATE);
    assert_int_equal(r.bad_seq, 7);
    assert_non_null(strstr(r.msg, "signed checkpoint 7"));
}

static void deletion_rehashed_detected(void **state)
{
    (void)state;
    wr_audit_verify_result r;
    append_n(0, 20);
    sql("DELETE FROM audit WHERE seq = 3; UPDATE audit SET seq = seq + 1000 WHERE seq > 3;"
        " UPDATE audit SET seq = seq - 1001 WHERE seq > 1000");
    rehash_from(3);
    assert_int_equal(verify(&r), WRIT_EVALIDATE);
    assert_int_equal(r.bad_seq, 7);
}

static void emptied_detected(void **state)
{
    (void)state;
    wr_audit_verify_result r;
    append_n(0, 20);
    sql("DELETE FROM audit");
    assert_int_equal(verify(&r), WRIT_EVALIDATE);
    assert_int_equal(r.bad_checkpoint, 8);
    open_refused("removed from the end");
    sql("DELETE FROM audit_checkpoint");
    assert_int_equal(verify(&r), WRIT_EVALIDATE);
    assert_int_equal(r.bad_checkpoint, 1);
    assert_non_null(strstr(r.msg, "emptied"));
    open_refused("no signed checkpoint");
    /* a fresh log verifies: it starts with checkpoint 0 */
    teardown(NULL);
    setup(NULL);
    wr_audit_close(open_log());
    assert_int_equal(verify(&r), WRIT_OK);
    assert_int_equal(r.records, 0);
    assert_int_equal(r.checkpoints, 1);
}

static void foreign_key_detected(void **state)
{
    (void)state;
    wr_audit_verify_result r;
    writ_error err;
    append_n(0, 10);
    /* a checkpoint re-signed with another key */
    writ_keyring *kr = writ_keyring_new();
    assert_non_null(kr);
    assert_int_equal(writ_keyring_generate(kr, WRIT_KEY_ES256, NULL, &err), WRIT_OK);
    wr_audit_opts o = {.signer = kr, .keys_file = NULL, .checkpoint_every = 1000};
    /* the other key, written into a JWKS of its own */
    char *jwks = NULL;
    size_t n = 0;
    assert_int_equal(writ_keyring_jwks(kr, &jwks, &n, &err), WRIT_OK);
    char other[200];
    snprintf(other, sizeof other, "%s/other.jwks", dir);
    FILE *f = fopen(other, "wb");
    assert_non_null(f);
    fwrite(jwks, 1, n, f);
    fclose(f);
    writ_free_string(jwks);
    /* verify with the wrong keys: checkpoint 0 names the unknown kid */
    assert_int_equal(wr_audit_verify(db, other, &r, &err), WRIT_EVALIDATE);
    assert_int_equal(r.bad_checkpoint, 1);
    assert_non_null(strstr(r.msg, "not among the checkpoint keys"));
    /* a server with another signing key appends and signs with it; the
     * keys file then holds both, and everything verifies */
    wr_audit *a;
    assert_int_equal(wr_audit_open(db, &o, &a, &err), WRIT_OK);
    wr_audit_entry e = {
        .agent = "x", .action = "y", .resource = "z", .allow = true, .policies = "[]", .errors = "[]"};
    assert_int_equal(wr_audit_append(a, &e), WRIT_OK);
    wr_audit_close(a);
    assert_int_equal(verify(&r), WRIT_OK);
    assert_int_equal(r.signed_seq, 11);
    /* a forged signature (last character changed) fails */
    sql("UPDATE audit_checkpoint SET jws = substr(jws, 1, length(jws) - 2) ||"
        " CASE substr(jws, -2, 1) WHEN 'A' THEN 'B' ELSE 'A' END || substr(jws, -1) WHERE seq = 7");
    assert_int_equal(verify(&r), WRIT_EVALIDATE);
    assert_int_equal(r.bad_checkpoint, 8);
    assert_non_null(strstr(r.msg, "does not verify"));
    writ_keyring_free(kr);
}

static void crash_tail_marked(void **state)
{
    (void)state;
    wr_audit_verify_result r;
    append_n(0, 10); /* checkpoints 0, 7, 10 (close) */
    /* a server that dies without closing: 5 records, no closing checkpoint */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        wr_audit *a = open_log();
        wr_audit_entry e = {
            .agent = "x", .action = "y", .resource = "z", .allow = true, .policies = "[]", .errors = "[]"};
        for (int i = 0; i < 5; i++)
            if (wr_audit_append(a, &e) != WRIT_OK)
                _exit(1);
        _exit(0); /* records committed, never closed */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(verify(&r), WRIT_OK);
    assert_int_equal(r.last_seq, 15);
    assert_int_equal(r.signed_seq, 14); /* 14: a multiple of 7 */
    assert_int_equal(r.adopted, 0);
    /* the next open checks the tail and signs it, saying it adopted 15 */
    wr_audit_close(open_log());
    assert_int_equal(verify(&r), WRIT_OK);
    assert_int_equal(r.signed_seq, 15);
    assert_int_equal(r.adopted, 1);
    assert_int_equal(r.adopted_first, 15);
    /* a chain-consistent record planted after a clean close is adopted
     * too, and said so: it is not signed as the server's own */
    sql("INSERT INTO audit SELECT 16, time_ms, agent, chain, task, action, 'Writ::Dataset::\"planted\"',"
        " decision, policies, errors, prev, hash, shadow, replica FROM audit WHERE seq = 15");
    rehash_from(16);
    wr_audit_close(open_log());
    assert_int_equal(verify(&r), WRIT_OK);
    assert_int_equal(r.adopted, 2);
    assert_int_equal(r.adopted_first, 16);
    assert_int_equal(r.adopted_last, 16);
}

static void private_mode(void **state)
{
    (void)state;
    /* an existing folder, umask 022: the log, -wal and -shm are 0600 */
    mode_t old = umask(022);
    wr_audit *a = open_log();
    wr_audit_entry e = {
        .agent = "x", .action = "y", .resource = "z", .allow = true, .policies = "[]", .errors = "[]"};
    assert_int_equal(wr_audit_append(a, &e), WRIT_OK);
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char p[160];
        struct stat sb;
        snprintf(p, sizeof p, "%s%s", db, sfx[i]);
        assert_int_equal(stat(p, &sb), 0);
        if ((sb.st_mode & 0777) != 0600)
            fail_msg("%s has mode %o", p, (unsigned)(sb.st_mode & 0777));
    }
    wr_audit_close(a);
    /* a log made wider by someone else is narrowed at open */
    assert_int_equal(chmod(db, 0644), 0);
    wr_audit_close(open_log());
    struct stat sb;
    assert_int_equal(stat(db, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    umask(old);
}

static void failure_denies_until_real_write(void **state)
{
    (void)state;
    wr_audit *a = open_log();
    wr_audit_entry e = {
        .agent = "x", .action = "y", .resource = "z", .allow = true, .policies = "[]", .errors = "[]"};
    assert_int_equal(wr_audit_append(a, &e), WRIT_OK);
    /* every insert fails from now on (as on a full disk) */
    sql("CREATE TRIGGER full BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'simulated full disk'); END");
    for (int i = 0; i < 3; i++)
        assert_int_equal(wr_audit_append(a, &e), WRIT_EIO);
    assert_true(wr_audit_failing(a));
    assert_int_equal(wr_audit_failures(a), 3);
    /* space again: the next append is a real write, and succeeds */
    sql("DROP TRIGGER full");
    assert_int_equal(wr_audit_append(a, &e), WRIT_OK);
    assert_false(wr_audit_failing(a));
    assert_int_equal(wr_audit_written(a), 2);
    wr_audit_close(a);
    wr_audit_verify_result r;
    assert_int_equal(verify(&r), WRIT_OK);
    assert_int_equal(r.records, 2);
}

static void rehash_without_prev_detected(void **state)
{
    (void)state;
    /* Swap two records' contents: seq order stays, hashes no longer chain. */
    wr_audit_verify_result r;
    append_n(0, 10);
    sql("UPDATE audit SET seq = -1 WHERE seq = 4; UPDATE audit SET seq = 4 WHERE seq = 5;"
        " UPDATE audit SET seq = 5 WHERE seq = -1");
    assert_int_equal(verify(&r), WRIT_EVALIDATE);
    assert_int_equal(r.bad_seq, 4);
}

typedef struct qctx {
    int n;
    uint64_t seqs[64];
} qctx;

static int collect(void *ctx, const wr_audit_row *row)
{
    qctx *q = ctx;
    if (q->n < 64)
        q->seqs[q->n] = row->seq;
    q->n++;
    return 0;
}

static void queries(void **state)
{
    (void)state;
    append_n(0, 30);
    writ_error err;
    qctx q = {0};
    wr_audit_filter f = {.decision = -1, .limit = 5, .last = true};
    assert_int_equal(wr_audit_query(db, &f, collect, &q, &err), WRIT_OK);
    assert_int_equal(q.n, 5);
    assert_int_equal(q.seqs[0], 26);
    assert_int_equal(q.seqs[4], 30);

    memset(&q, 0, sizeof q);
    wr_audit_filter g = {.decision = 1, .agent = "Writ::Agent::\"a1\""};
    assert_int_equal(wr_audit_query(db, &g, collect, &q, &err), WRIT_OK);
    /* i odd (allow) and i % 3 == 1: 1, 7, 13, 19, 25 */
    assert_int_equal(q.n, 5);
    assert_int_equal(q.seqs[0], 2);

    memset(&q, 0, sizeof q);
    wr_audit_filter h = {.decision = -1, .since_ms = 1700000000010, .until_ms = 1700000000012};
    assert_int_equal(wr_audit_query(db, &h, collect, &q, &err), WRIT_OK);
    assert_int_equal(q.n, 2);
}

typedef struct appender {
    wr_audit *a;
    int id, n, failed;
} appender;

static void *append_many(void *arg)
{
    appender *p = arg;
    for (int i = 0; i < p->n; i++) {
        char task[32];
        snprintf(task, sizeof task, "t%d-%d", p->id, i);
        wr_audit_entry e = {.agent = "x",
                            .task = task,
                            .action = "y",
                            .resource = "z",
                            .allow = true,
                            .policies = "[]",
                            .errors = "[]"};
        if (wr_audit_append(p->a, &e) != WRIT_OK)
            p->failed++;
    }
    return NULL;
}

static void concurrent_appenders(void **state)
{
    (void)state;
    /* 8 threads through a small queue and batches of 7: every append
     * returns committed, nothing is lost, the chain is whole */
    every = 100;
    wr_audit *a = open_log();
    pthread_t t[8];
    appender p[8];
    for (int i = 0; i < 8; i++) {
        p[i] = (appender){.a = a, .id = i, .n = 500};
        assert_int_equal(pthread_create(&t[i], NULL, append_many, &p[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(p[i].failed, 0);
    }
    assert_int_equal(wr_audit_written(a), 4000);
    assert_int_equal(wr_audit_queued(a), 0);
    /* answered means committed: visible to another reader before close */
    assert_int_equal(sql_int("SELECT count(DISTINCT task) FROM audit"), 4000);
    wr_audit_close(a);
    every = 7;
    wr_audit_verify_result r;
    assert_int_equal(verify(&r), WRIT_OK);
    assert_int_equal(r.records, 4000);
    assert_int_equal(r.checkpoints, 41);
}

typedef struct done_count {
    atomic_int ok, eio;
} done_count;

static void count_done(void *arg, writ_status st)
{
    done_count *d = arg;
    atomic_fetch_add(st == WRIT_OK ? &d->ok : &d->eio, 1);
}

typedef struct submitter {
    wr_audit *a;
    done_count *d;
    int id, n, refused;
} submitter;

static void *submit_many(void *arg)
{
    submitter *p = arg;
    for (int i = 0; i < p->n; i++) {
        char task[32];
        snprintf(task, sizeof task, "s%d-%d", p->id, i);
        wr_audit_entry e = {.agent = "x",
                            .task = task,
                            .action = "y",
                            .resource = "z",
                            .allow = true,
                            .policies = "[]",
                            .errors = "[]"};
        if (wr_audit_submit(p->a, &e, count_done, p->d) != WRIT_OK)
            p->refused++;
    }
    return NULL;
}

static void submitted_and_appended(void **state)
{
    (void)state;
    /* 4 threads submit (callbacks), 4 append (blocking), through batches
     * of 7 and a queue of 16: every callback comes once, with OK; every
     * record is in the log, whose chain and checkpoints verify */
    every = 100;
    wr_audit *a = open_log();
    done_count d = {0};
    pthread_t t[8];
    submitter sp[4];
    appender ap[4];
    for (int i = 0; i < 4; i++) {
        sp[i] = (submitter){.a = a, .d = &d, .id = i, .n = 500};
        ap[i] = (appender){.a = a, .id = i, .n = 500};
        assert_int_equal(pthread_create(&t[i], NULL, submit_many, &sp[i]), 0);
        assert_int_equal(pthread_create(&t[4 + i], NULL, append_many, &ap[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        pthread_join(t[4 + i], NULL);
        assert_int_equal(sp[i].refused, 0);
        assert_int_equal(ap[i].failed, 0);
    }
    wr_audit_flush(a); /* the callbacks are done once flush returns */
    assert_int_equal(atomic_load(&d.ok), 2000);
    assert_int_equal(atomic_load(&d.eio), 0);
    assert_int_equal(sql_int("SELECT count(DISTINCT task) FROM audit WHERE task LIKE 's%'"), 2000);
    /* a failing log: the callbacks say so */
    sql("CREATE TRIGGER full BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'simulated full disk'); END");
    wr_audit_entry e = {
        .agent = "x", .action = "y", .resource = "z", .allow = true, .policies = "[]", .errors = "[]"};
    for (int i = 0; i < 3; i++)
        assert_int_equal(wr_audit_submit(a, &e, count_done, &d), WRIT_OK);
    wr_audit_flush(a);
    assert_int_equal(atomic_load(&d.eio), 3);
    sql("DROP TRIGGER full");
    assert_int_equal(wr_audit_submit(a, &e, count_done, &d), WRIT_OK);
    wr_audit_close(a); /* waits for the callback */
    assert_int_equal(atomic_load(&d.ok), 2001);
    every = 7;
    wr_audit_verify_result r;
    assert_int_equal(verify(&r), WRIT_OK);
    assert_int_equal(r.records, 4001);
}

/* Groups (wr_audit_append_many): each thread's records land in its order
 * and next to each other, a group larger than the queue still goes in,
 * every status comes back, and a failing log fails the whole group. */
typedef struct grouper {
    wr_audit *a;
    int id, groups, failed;
} grouper;

static void *append_groups(void *arg)
{
    grouper *p = arg;
    for (int g = 0; g < p->groups; g++) {
        int n = 1 + (g * 7 + p->id) % 40; /* 1..40: larger than the queue (16) too */
        wr_audit_entry e[40];
        char task[40][32];
        writ_status st[40];
        for (int k = 0; k < n; k++) {
            snprintf(task[k], sizeof task[k], "g%d-%d-%02d", p->id, g, k);
            e[k] = (wr_audit_entry){.agent = "x",
                                    .task = task[k],
                                    .action = "y",
                                    .resource = "z",
                                    .allow = k % 2,
                                    .policies = "[]",
                                    .errors = "[]"};
            st[k] = WRIT_EINVAL;
        }
        if (wr_audit_append_many(p->a, e, (size_t)n, st) != WRIT_OK)
            p->failed++;
        for (int k = 0; k < n; k++)
            if (st[k] != WRIT_OK)
                p->failed++;
    }
    return NULL;
}

/* wr_audit_commit_here: on an idle log (no fsync) the record is committed
 * on the caller's thread before it returns; a failed transaction says so;
 * with fsync it declines.  Mixed with submissions from other threads (the
 * caller falls back to submitting when it declines), every record is
 * committed once and the chain verifies. */
typedef struct here_mixer {
    wr_audit *a;
    done_count *d;
    int id, n, here, refused;
} here_mixer;

static void *commit_here_many(void *arg)
{
    here_mixer *p = arg;
    for (int i = 0; i < p->n; i++) {
        char task[32];
        snprintf(task, sizeof task, "h%d-%d", p->id, i);
        wr_audit_entry e = {.agent = "x",
                            .task = task,
                            .action = "y",
                            .resource = "z",
                            .allow = true,
                            .policies = "[]",
                            .errors = "[]"};
        writ_status st;
        if (wr_audit_commit_here(p->a, &e, &st)) {
            p->here++;
            atomic_fetch_add(st == WRIT_OK ? &p->d->ok : &p->d->eio, 1);
        } else if (wr_audit_submit(p->a, &e, count_done, p->d) != WRIT_OK) {
            p->refused++;
        }
    }
    return NULL;
}

static void groups_appended(void **state)
{
    (void)state;
    every = 100;
    wr_audit *a = open_log();
    done_count d = {0};
    pthread_t t[6];
    grouper gp[4];
    submitter sp[2];
    for (int i = 0; i < 4; i++) {
        gp[i] = (grouper){.a = a, .id = i, .groups = 60};
        assert_int_equal(pthread_create(&t[i], NULL, append_groups, &gp[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        sp[i] = (submitter){.a = a, .d = &d, .id = i, .n = 300};
        assert_int_equal(pthread_create(&t[4 + i], NULL, submit_many, &sp[i]), 0);
    }
    int grouped = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(gp[i].failed, 0);
        for (int g = 0; g < 60; g++)
            grouped += 1 + (g * 7 + i) % 40;
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(t[4 + i], NULL);
        assert_int_equal(sp[i].refused, 0);
    }
    wr_audit_flush(a);
    assert_int_equal(atomic_load(&d.ok), 600);
    assert_int_equal(sql_int("SELECT count(DISTINCT task) FROM audit WHERE task LIKE 'g%'"), grouped);
    /* within a group: consecutive records, in the group's order (the task
     * names sort in that order) */
    assert_int_equal(
        sql_int("SELECT count(*) FROM audit x JOIN audit y ON y.seq = x.seq + 1 "
                "WHERE x.task LIKE 'g%' AND y.task LIKE 'g%' "
                "AND substr(x.task, 1, length(x.task) - 2) = substr(y.task, 1, length(y.task) - 2) "
                "AND y.task > x.task"),
        grouped - 4 * 60);
    /* a failing log fails every record of the group; the next real write
     * commits */
    sql("CREATE TRIGGER full BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'simulated full disk'); END");
    wr_audit_entry e[3] = {
        {.agent = "x", .task = "f1", .action = "y", .resource = "z", .policies = "[]", .errors = "[]"},
        {.agent = "x", .task = "f2", .action = "y", .resource = "z", .policies = "[]", .errors = "[]"},
        {.agent = "x", .task = "f3", .action = "y", .resource = "z", .policies = "[]", .errors = "[]"}};
    writ_status st[3] = {WRIT_OK, WRIT_OK, WRIT_OK};
    assert_int_equal(wr_audit_append_many(a, e, 3, st), WRIT_OK);
    for (int k = 0; k < 3; k++)
        assert_int_equal(st[k], WRIT_EIO);
    assert_true(wr_audit_failing(a));
    sql("DROP TRIGGER full");
    assert_int_equal(wr_audit_append_many(a, e, 3, st), WRIT_OK);
    for (int k = 0; k < 3; k++)
        assert_int_equal(st[k], WRIT_OK);
    assert_false(wr_audit_failing(a));
    wr_audit_close(a);
    every = 7;
    wr_audit_verify_result r;
    assert_int_equal(verify(&r), WRIT_OK);
    assert_int_equal(r.records, (uint64_t)(grouped + 600 + 3));
}

static void commit_here_when_idle(void **state)
{
    (void)state;
    every = 5;
    wr_audit *a = open_log();
    wr_audit_entry e = {.agent = "x",
                        .task = "alone",
                        .action = "y",
                        .resource = "z",
                        .allow = true,
                        .policies = "[]",
                        .errors = "[]"};
    for (int i = 0; i < 12; i++) {
        writ_status st = WRIT_EIO;
        assert_true(wr_audit_commit_here(a, &e, &st));
        assert_int_equal(st, WRIT_OK);
        /* committed before the call returned: another connection sees it */
        assert_int_equal(sql_int("SELECT count(*) FROM audit WHERE task = 'alone'"), i + 1);
    }
    assert_int_equal(wr_audit_written(a), 12);
    sql("CREATE TRIGGER full BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'simulated full disk'); END");
    writ_status st = WRIT_OK;
    assert_true(wr_audit_commit_here(a, &e, &st));
    assert_int_equal(st, WRIT_EIO);
    sql("DROP TRIGGER full");
    /* threads committing here and submitting at once */
    done_count d = {0};
    pthread_t t[4];
    here_mixer hm[2];
    submitter sp[2];
    for (int i = 0; i < 2; i++) {
        hm[i] = (here_mixer){.a = a, .d = &d, .id = i, .n = 300};
        sp[i] = (submitter){.a = a, .d = &d, .id = i, .n = 300};
        assert_int_equal(pthread_create(&t[i], NULL, commit_here_many, &hm[i]), 0);
        assert_int_equal(pthread_create(&t[2 + i], NULL, submit_many, &sp[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    wr_audit_flush(a);
    assert_int_equal(hm[0].refused + hm[1].refused + sp[0].refused + sp[1].refused, 0);
    assert_int_equal(atomic_load(&d.ok), 1200);
    assert_int_equal(atomic_load(&d.eio), 0);
    assert_int_equal(sql_int("SELECT count(DISTINCT task) FROM audit WHERE task LIKE 'h%' OR task LIKE 's%'"),
                     1200);
    wr_audit_close(a);
    wr_audit_verify_result r;
    assert_int_equal(verify(&r), WRIT_OK);
    assert_int_equal(r.records, 1212);
    /* fsync: the commit would wait on the disk; declined, nothing written */
    wr_audit_opts o = {.batch = 7, .checkpoint_every = every, .fsync = true};
    writ_error err;
    assert_int_equal(wr_audit_open(db, &o, &a, &err), WRIT_OK);
    assert_false(wr_audit_commit_here(a, &e, &st));
    wr_audit_close(a);
    assert_int_equal(sql_int("SELECT count(*) FROM audit"), 1212);
    every = 7;
}

/* A record's shadow field is in its hash (v2), records without one keep
 * the v1 hash, and a log from before the field still verifies and takes
 * shadow records once a writer has opened it. */
static void append_shadow(const char *shadow, int i)
{
    wr_audit *a = open_log();
    wr_audit_entry e = {.time_ms = 1700000001000 + i,
                        .agent = "Writ::Agent::\"s\"",
                        .action = "Writ::Action::\"read\"",
                        .resource = "Writ::Dataset::\"d\"",
                        .allow = true,
                        .policies = "[\"read-own\"]",
                        .errors = "[]",
                        .shadow = shadow};
    assert_int_equal(wr_audit_append(a, &e), WRIT_OK);
    wr_audit_close(a);
}

static void shadow_field_hashed(void **state)
{
    (void)state;
    wr_audit_verify_result r;
    writ_error err;
    /* a log as an older Writ left it: no shadow column */
    append_n(0, 10);
    sql("ALTER TABLE audit DROP COLUMN shadow");
    assert_int_equal(verify(&r), WRIT_OK);
    assert_int_equal(r.records, 10);
    qctx q = {0};
    wr_audit_filter f = {.decision = -1, .shadow = true};
    assert_int_equal(wr_audit_query(db, &f, collect, &q, &err), WRIT_OK);
    assert_int_equal(q.n, 0);
    /* a writer adds the column; v1 and v2 records chain into each other */
    append_shadow("{\"decision\":\"deny\",\"policies\":[\"no-x\"]}", 0);
    append_shadow(NULL, 1);
    append_shadow("{\"decision\":\"deny\",\"policies\":[\"no-y\"]}", 2);
    assert_int_equal(verify(&r), WRIT_OK);
    assert_int_equal(r.records, 13);
    assert_int_equal(wr_audit_query(db, &f, collect, &q, &err), WRIT_OK);
    assert_int_equal(q.n, 2);
    assert_int_equal(q.seqs[0], 11);
    assert_int_equal(q.seqs[1], 13);
    /* edited, removed, or added: each breaks that record's hash */
    sql("UPDATE audit SET shadow = '{\"decision\":\"allow\",\"policies\":[\"no-x\"]}' WHERE seq = 11");
    assert_int_equal(verify(&r), WRIT_EVALIDATE);
    assert_int_equal(r.bad_seq, 11);
    sql("UPDATE audit SET shadow = '' WHERE seq = 11");
    assert_int_equal(verify(&r), WRIT_EVALIDATE);
    assert_int_equal(r.bad_seq, 11);
    sql("UPDATE audit SET shadow = '{\"decision\":\"deny\",\"policies\":[\"no-x\"]}' WHERE seq = 11");
    assert_int_equal(verify(&r), WRIT_OK);
    sql("UPDATE audit SET shadow = '{}' WHERE seq = 12");
    assert_int_equal(verify(&r), WRIT_EVALIDATE);
    assert_int_equal(r.bad_seq, 12);
}

/* Every record as stored is what was appended, chained, and hashed the
 * documented way (audit.h, computed here independently, one update per
 * piece): groups of many sizes (one row, several rows, more than one
 * statement holds), v1 and v2 records, empty and missing fields, a field
 * longer than any buffer of the writer's, the replica's name. */
#define KA_N 160
static char ka_big[6000];

static void ka_entry(int i, wr_audit_entry *e, char (*agent)[48], char (*res)[48])
{
    snprintf(agent[i], 48, "Writ::Agent::\"a\\\"%d\u00e9\"", i % 5);
    snprintf(res[i], 48, "Writ::Dataset::\"d%d\"", i);
    *e = (wr_audit_entry){
        .time_ms = 1700000000000 + i * 3,
        .agent = agent[i],
        .chain = i % 3 ? "[{\"__entity\":{\"type\":\"Agent\",\"id\":\"b\"}}]" : NULL,
        .task = i % 2 ? "t1" : (i % 4 ? "" : NULL),
        .action = "Writ::Action::\"read\"",
        .resource = res[i],
        .allow = i % 3 != 1,
        .policies = i == 77 ? ka_big : "[\"policy0\"]",
        .errors = i % 7 ? "[]" : "[\"x: y\"]",
        .shadow = i % 4 == 3 ? "{\"decision\":\"deny\",\"policies\":[\"no-x\"]}" : NULL,
    };
}

static void ka_hash(sqlite3_stmt *s, const unsigned char prev[32], unsigned char out[32])
{
    bool v3 = sqlite3_column_bytes(s, 13) > 0, v2 = !v3 && sqlite3_column_bytes(s, 12) > 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char num[17];
    be64(num, (uint64_t)sqlite3_column_int64(s, 0));
    be64(num + 8, (uint64_t)sqlite3_column_int64(s, 1));
    num[16] = !strcmp((const char *)sqlite3_column_text(s, 7), "allow");
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, v3 ? "writ-audit-v3\n" : v2 ? "writ-audit-v2\n" : "writ-audit-v1\n", 14);
    EVP_DigestUpdate(md, num, 17);
    static const int col[9] = {2, 3, 4, 5, 6, 8, 9, 12, 13};
    for (int i = 0; i < (v3 ? 9 : v2 ? 8 : 7); i++) {
        unsigned char l[8];
        size_t n = (size_t)sqlite3_column_bytes(s, col[i]);
        be64(l, n);
        EVP_DigestUpdate(md, l, 8);
        EVP_DigestUpdate(md, sqlite3_column_text(s, col[i]), n);
    }
    EVP_DigestUpdate(md, prev, 32);
    unsigned int ol = 0;
    EVP_DigestFinal_ex(md, out, &ol);
    EVP_MD_CTX_free(md);
}

static void record_format_known(void **state)
{
    (void)state;
    memset(ka_big, 'p', sizeof ka_big - 1);
    ka_big[0] = '[';
    ka_big[sizeof ka_big - 2] = ']';
    static char agent[KA_N][48], res[KA_N][48];
    wr_audit_entry e[KA_N];
    for (int i = 0; i < KA_N; i++)
        ka_entry(i, &e[i], agent, res);
    wr_audit *a;
    writ_error err;
    wr_audit_opts o = {.batch = 40, .checkpoint_every = 50, .replica = "r-1"};
    if (wr_audit_open(db, &o, &a, &err) != WRIT_OK)
        fail_msg("open: %s", err.msg);
    static const int sizes[] = {1, 2, 3, 5, 16, 17, 33, 40, 41, 2};
    writ_status st[64];
    int at = 0;
    for (size_t g = 0; g < sizeof sizes / sizeof *sizes; g++) {
        assert_int_equal(wr_audit_append_many(a, e + at, (size_t)sizes[g], st), WRIT_OK);
        for (int k = 0; k < sizes[g]; k++)
            assert_int_equal(st[k], WRIT_OK);
        at += sizes[g];
    }
    assert_int_equal(at, KA_N);
    wr_audit_close(a);

    sqlite3 *h;
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(h,
                           "SELECT seq, time_ms, agent, chain, task, action, resource, decision,"
                           " policies, errors, prev, hash, shadow, replica FROM audit ORDER BY seq",
                           -1, &s, NULL),
        SQLITE_OK);
    unsigned char prev[32] = {0}, h32[32];
    int n = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        const wr_audit_entry *x = &e[n];
        assert_int_equal(sqlite3_column_int64(s, 0), n + 1);
        assert_int_equal(sqlite3_column_int64(s, 1), x->time_ms);
        const char *want[] = {x->agent, x->chain, x->task, x->action, x->resource, x->policies, x->errors};
        static const int col[] = {2, 3, 4, 5, 6, 8, 9};
        for (int k = 0; k < 7; k++) {
            assert_int_equal(sqlite3_column_type(s, col[k]), SQLITE_TEXT);
            assert_string_equal((const char *)sqlite3_column_text(s, col[k]), want[k] ? want[k] : "");
        }
        assert_string_equal((const char *)sqlite3_column_text(s, 7), x->allow ? "allow" : "deny");
        assert_string_equal((const char *)sqlite3_column_text(s, 12), x->shadow ? x->shadow : "");
        assert_string_equal((const char *)sqlite3_column_text(s, 13), "r-1");
        char px[65], hx[65];
        for (int i = 0; i < 32; i++)
            sprintf(px + 2 * i, "%02x", prev[i]);
        assert_string_equal((const char *)sqlite3_column_text(s, 10), px);
        ka_hash(s, prev, h32);
        for (int i = 0; i < 32; i++)
            sprintf(hx + 2 * i, "%02x", h32[i]);
        assert_string_equal((const char *)sqlite3_column_text(s, 11), hx);
        memcpy(prev, h32, 32);
        n++;
    }
    assert_int_equal(n, KA_N);
    sqlite3_finalize(s);
    sqlite3_close(h);
    wr_audit_verify_result r;
    assert_int_equal(verify(&r), WRIT_OK);
    assert_int_equal(r.records, KA_N);
    assert_int_equal(r.signed_seq, KA_N);
}

/* The writer's WAL frames go to the file in one write per transaction
 * (audit_wal.c).  A transaction that spilled pages to the WAL and then
 * failed must not leave them to be written later, over the frames of
 * whoever writes next: here another connection commits right after the
 * failure, over more than the failed transaction's frames, and its rows,
 * the database and the log stay whole. */
static void wal_spill_then_rollback(void **state)
{
    (void)state;
    every = 1000;
    wr_audit *a = open_log_batch(1024);
    wr_audit_entry e = {.agent = "x", .action = "y", .resource = "z", .policies = "[]", .errors = "[]"};
    assert_int_equal(wr_audit_append(a, &e), WRIT_OK);
    /* 64 records of 100 KB: more than SQLite's page cache holds, so pages
     * spill to the WAL before the transaction fails on its last record */
    static char big[100 * 1024];
    memset(big, 'q', sizeof big - 1);
    wr_audit_entry g[64];
    writ_status st[64];
    for (int i = 0; i < 64; i++)
        g[i] =
            (wr_audit_entry){.agent = "x", .action = "y", .resource = "z", .policies = big, .errors = "[]"};
    sql("CREATE TRIGGER late BEFORE INSERT ON audit WHEN NEW.seq = 65 BEGIN SELECT RAISE(ABORT, 'late'); "
        "END");
    assert_int_equal(wr_audit_append_many(a, g, 64, st), WRIT_OK);
    for (int i = 0; i < 64; i++)
        assert_int_equal(st[i], WRIT_EIO);
    /* another writer commits where the spilled frames were (more than
     * them, so that its frames cover every one of theirs) */
    sql("DROP TRIGGER late; CREATE TABLE side (x TEXT, b BLOB);"
        " INSERT INTO side VALUES ('after', randomblob(10 * 1024 * 1024))");
    assert_int_equal(wr_audit_append(a, &e), WRIT_OK);
    assert_int_equal(wr_audit_append_many(a, g, 3, st), WRIT_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(st[i], WRIT_OK);
    wr_audit_close(a);
    every = 7;
    sqlite3 *h;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT x FROM side", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "after");
    sqlite3_finalize(q);
    sqlite3_close(h);
    assert_int_equal(sql_int("SELECT length(b) FROM side"), 10 * 1024 * 1024);
    assert_int_equal(sql_int("SELECT count(*) FROM audit WHERE length(policies) = 102399"), 3);
    wr_audit_verify_result r;
    assert_int_equal(verify(&r), WRIT_OK);
    assert_int_equal(r.records, 5);
}

/* A write of the gathered frames that fails (the file may not grow: as a
 * full disk) fails the transaction, every record of it; the next one
 * that can be written commits, and the log verifies. */
static void wal_write_fails(void **state)
{
    (void)state;
    every = 1000;
    wr_audit *a = open_log_batch(64);
    wr_audit_entry e[5];
    writ_status st[5];
    for (int i = 0; i < 5; i++)
        e[i] =
            (wr_audit_entry){.agent = "x", .action = "y", .resource = "z", .policies = "[]", .errors = "[]"};
    assert_int_equal(wr_audit_append_many(a, e, 3, st), WRIT_OK);
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", db);
    struct stat sb;
    assert_int_equal(stat(wal, &sb), 0);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = (rlim_t)sb.st_size; /* the WAL may not grow */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    assert_int_equal(wr_audit_append_many(a, e, 5, st), WRIT_OK);
    int failed = 0;
    for (int i = 0; i < 5; i++)
        failed += st[i] == WRIT_EIO;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(failed, 5);
    assert_true(wr_audit_failing(a));
    assert_int_equal(wr_audit_append_many(a, e, 2, st), WRIT_OK);
    assert_int_equal(st[0], WRIT_OK);
    assert_int_equal(st[1], WRIT_OK);
    assert_false(wr_audit_failing(a));
    wr_audit_close(a);
    every = 7;
    wr_audit_verify_result r;
    assert_int_equal(verify(&r), WRIT_OK);
    assert_int_equal(r.records, 5);
}

/* The writer keeps a read open between its transactions (fewer lock calls
 * per commit, audit_sqlite.c): commits by other connections in between
 * (the state store shares the file) are not lost or overwritten, the
 * writer's own commits go on, and other readers see every record as soon
 * as its append returns. */
static void other_writers_between_commits(void **state)
{
    (void)state;
    every = 1000;
    wr_audit *a = open_log_batch(64);
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    assert_int_equal(sqlite3_exec(h, "CREATE TABLE side (i INTEGER)", NULL, NULL, NULL), SQLITE_OK);
    wr_audit_entry e[4];
    writ_status st[4];
    for (int i = 0; i < 4; i++)
        e[i] =
            (wr_audit_entry){.agent = "x", .action = "y", .resource = "z", .policies = "[]", .errors = "[]"};
    for (int i = 0; i < 50; i++) {
        char q[64];
        snprintf(q, sizeof q, "INSERT INTO side VALUES (%d)", i);
        assert_int_equal(sqlite3_exec(h, q, NULL, NULL, NULL), SQLITE_OK);
        size_t n = 1 + (size_t)i % 4;
        assert_int_equal(wr_audit_append_many(a, e, n, st), WRIT_OK);
        for (size_t k = 0; k < n; k++)
            assert_int_equal(st[k], WRIT_OK);
        /* visible to another connection once appended */
        sqlite3_stmt *c;
        assert_int_equal(sqlite3_prepare_v2(h, "SELECT max(seq) FROM audit", -1, &c, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(c), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int64(c, 0), (int64_t)wr_audit_written(a));
        sqlite3_finalize(c);
    }
    sqlite3_close(h);
    wr_audit_close(a);
    every = 7;
    assert_int_equal(sql_int("SELECT count(*) FROM side"), 50);
    assert_int_equal(sql_int("SELECT sum(i) FROM side"), 49 * 50 / 2);
    wr_audit_verify_result r;
    assert_int_equal(verify(&r), WRIT_OK);
    assert_int_equal(r.records, 123);
}

/* The read kept open does not stop checkpoints, and neither does a
 * checkpointer racing the writer (audit_sqlite.c: checkpoints run on a
 * thread of their own from 1000 frames on, at most every 250 ms unless the
 * WAL reaches 4000 frames, and the writer copies the rest): the WAL is
 * copied back and starts over, so it stays bounded however many records
 * are written.  A writer as fast as this one may outrun the checkpointer's
 * disk and is held at 6000 frames. */
static void wal_stays_bounded(void **state)
{
    (void)state;
    every = 1000;
    wr_audit *a = open_log_batch(64);
    wr_audit_entry e[4];
    writ_status st[4];
    static char pol[600];
    memset(pol, 'p', sizeof pol - 1);
    for (int i = 0; i < 4; i++)
        e[i] =
            (wr_audit_entry){.agent = "x", .action = "y", .resource = "z", .policies = pol, .errors = "[]"};
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", db);
    off_t most = 0;
    for (int i = 0; i < 10000; i++) {
        assert_int_equal(wr_audit_append_many(a, e, 4, st), WRIT_OK);
        struct stat sb;
        if (stat(wal, &sb) == 0 && sb.st_size > most)
            most = sb.st_size;
    }
    wr_audit_close(a);
    every = 7;
    /* 40000 records of ~900 bytes: ~36 MB of pages, each commit rewriting
     * the last one; without checkpoints the WAL would pass 70 MB */
    assert_true(most > 0);
    assert_true(most < 6100 * 4120);
    assert_int_equal(sql_int("SELECT count(*) FROM audit"), 40000);
}

/* Another connection to the log's file, with a table of its own to write. */
static sqlite3 *open_side(void)
{
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(h, "PRAGMA journal_mode=WAL; CREATE TABLE side (i INTEGER)", NULL, NULL, NULL),
        SQLITE_OK);
    return h;
}

/* Another connection holding the write lock: the append waits for it (as
 * busy_timeout says) and commits, though the writer keeps a read open
 * between its transactions (a connection in a read transaction is not
 * made to wait by SQLite itself). */
static void *commit_later(void *arg)
{
    nanosleep(&(struct timespec){0, 200 * 1000000L}, NULL);
    assert_int_equal(sqlite3_exec(arg, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    return NULL;
}

static void waits_for_another_writer(void **state)
{
    (void)state;
    every = 1000;
    sqlite3 *h = open_side();
    /* nobody else writes meanwhile: the writer keeps its read open */
    wr_audit *a = open_log_batch(64);
    wr_audit_entry e = {.agent = "x", .action = "y", .resource = "z", .policies = "[]", .errors = "[]"};
    for (int i = 0; i < 4; i++)
        assert_int_equal(wr_audit_append(a, &e), WRIT_OK);
    assert_int_equal(sqlite3_exec(h, "BEGIN IMMEDIATE; INSERT INTO side VALUES (1)", NULL, NULL, NULL),
                     SQLITE_OK);
    pthread_t t;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(pthread_create(&t, NULL, commit_later, h), 0);
    assert_int_equal(wr_audit_append(a, &e), WRIT_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_join(t, NULL);
    long waited_ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(waited_ms >= 150);
    /* and the next ones go on */
    for (int i = 0; i < 3; i++)
        assert_int_equal(wr_audit_append(a, &e), WRIT_OK);
    sqlite3_close(h);
    wr_audit_close(a);
    every = 7;
    assert_int_equal(sql_int("SELECT count(*) FROM side"), 1);
    wr_audit_verify_result r;
    assert_int_equal(verify(&r), WRIT_OK);
    assert_int_equal(r.records, 8);
}

/* wr_audit_busy: false on an idle log; true while another thread's
 * transaction is being written (here held up by another connection's write
 * lock), and then the wake-up comes once, after that transaction; a
 * cancelled one never comes. */
static atomic_int woken_a, woken_b;
static void wake_count(void *arg) { atomic_fetch_add((atomic_int *)arg, 1); }

typedef struct {
    wr_audit *a;
    wr_audit_entry e;
} append_arg;

static void *append_one(void *arg)
{
    append_arg *x = arg;
    assert_int_equal(wr_audit_append(x->a, &x->e), WRIT_OK);
    return NULL;
}

static void busy_wakes_after_the_transaction(void **state)
{
    (void)state;
    every = 1000;
    sqlite3 *h = open_side();
    wr_audit *a = open_log_batch(64);
    append_arg x = {a, {.agent = "x", .action = "y", .resource = "z", .policies = "[]", .errors = "[]"}};
    assert_int_equal(wr_audit_append(a, &x.e), WRIT_OK);
    atomic_store(&woken_a, 0);
    atomic_store(&woken_b, 0);
    assert_false(wr_audit_busy(a, wake_count, &woken_a)); /* idle: nothing registered */

    assert_int_equal(sqlite3_exec(h, "BEGIN IMMEDIATE; INSERT INTO side VALUES (1)", NULL, NULL, NULL),
                     SQLITE_OK);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, append_one, &x), 0);
    bool busy = false;
    for (int i = 0; i < 2000 && !busy; i++) {
        busy = wr_audit_busy(a, wake_count, &woken_a);
        if (!busy)
            nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    assert_true(busy);
    assert_true(wr_audit_busy(a, wake_count, &woken_b));
    wr_audit_busy_cancel(a, &woken_b);
    nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
    assert_int_equal(atomic_load(&woken_a), 0); /* the transaction still waits for the lock */
    assert_int_equal(sqlite3_exec(h, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    pthread_join(t, NULL);
    assert_int_equal(atomic_load(&woken_a), 1);
    assert_int_equal(atomic_load(&woken_b), 0);
    /* once: the next transaction wakes nobody */
    assert_int_equal(wr_audit_append(a, &x.e), WRIT_OK);
    assert_int_equal(atomic_load(&woken_a), 1);
    assert_false(wr_audit_busy(a, wake_count, &woken_a));
    sqlite3_close(h);
    wr_audit_close(a);
    every = 7;
    wr_audit_verify_result r;
    assert_int_equal(verify(&r), WRIT_OK);
    assert_int_equal(r.records, 3);
}

/* A log that has stopped writing lets go of its WAL read slot (within two
 * ticks of its thread), so another connection's checkpoints start the
 * WAL over as they would without the log: here 10 MB written by another
 * connection while the log is idle leave the WAL far smaller. */
static void idle_log_holds_no_read(void **state)
{
    (void)state;
    every = 1000;
    wr_audit *a = open_log_batch(64);
    wr_audit_entry e = {.agent = "x", .action = "y", .resource = "z", .policies = "[]", .errors = "[]"};
    for (int i = 0; i < 4; i++)
        assert_int_equal(wr_audit_append(a, &e), WRIT_OK);
    nanosleep(&(struct timespec){0, 700 * 1000000L}, NULL);
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    assert_int_equal(sqlite3_exec(h, "CREATE TABLE side (b BLOB)", NULL, NULL, NULL), SQLITE_OK);
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", db);
    off_t most = 0;
    for (int i = 0; i < 20; i++) {
        assert_int_equal(
            sqlite3_exec(h, "INSERT INTO side VALUES (randomblob(512 * 1024))", NULL, NULL, NULL), SQLITE_OK);
        struct stat sb;
        if (stat(wal, &sb) == 0 && sb.st_size > most)
            most = sb.st_size;
    }
    sqlite3_close(h);
    /* the log goes on writing afterwards */
    assert_int_equal(wr_audit_append(a, &e), WRIT_OK);
    wr_audit_close(a);
    every = 7;
    assert_true(most < 6 * 1024 * 1024);
    wr_audit_verify_result r;
    assert_int_equal(verify(&r), WRIT_OK);
    assert_int_equal(r.records, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(chain_whole_and_continued, setup, teardown),
        cmocka_unit_test_setup_teardown(tampering_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(replica_and_types_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(deletion_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(truncation_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(rehash_without_prev_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(rehash_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(insertion_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(deletion_rehashed_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(emptied_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(foreign_key_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(crash_tail_marked, setup, teardown),
        cmocka_unit_test_setup_teardown(private_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(failure_denies_until_real_write, setup, teardown),
        cmocka_unit_test_setup_teardown(queries, setup, teardown),
        cmocka_unit_test_setup_teardown(shadow_field_hashed, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_appenders, setup, teardown),
        cmocka_unit_test_setup_teardown(submitted_and_appended, setup, teardown),
        cmocka_unit_test_setup_teardown(groups_appended, setup, teardown),
        cmocka_unit_test_setup_teardown(commit_here_when_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(record_format_known, setup, teardown),
        cmocka_unit_test_setup_teardown(wal_spill_then_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(wal_write_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(other_writers_between_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(wal_stays_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(waits_for_another_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(busy_wakes_after_the_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(idle_log_holds_no_read, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
