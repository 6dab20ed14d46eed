/* audit.c - hash-chained decision log in SQLite with signed checkpoints and
 * group commit (see audit.h).
 *
 * The queue is a list of waiters, each on its appender's stack (the entry's
 * strings stay valid while the appender waits, so nothing is copied).  The
 * head of the queue is the leader: it detaches nothing, writes the first
 * `batch` waiters (itself included) in one transaction, then, under the
 * mutex, marks them done with the result, unlinks them and wakes the next
 * head.  Only the leader touches the database and the chain state, and
 * there is one leader at a time: whoever is at the head of the queue. */
#include "jose/jose.h"
#include "store/audit.h"
#include "util/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define AUDIT_FIELDS 8    /* agent chain task action resource policies errors shadow */
#define AUDIT_V1_FIELDS 7 /* the v1 hash input: every field but shadow */
#define AUDIT_ROWS 16     /* rows per multi-row INSERT (13 parameters each, < 999) */
#define AUDIT_COLS 13
#define CP_TYP "writ-audit-checkpoint"
#define KEYS_MAX (1u << 20)

typedef struct waiter {
    struct waiter *next;
    const char *f[AUDIT_FIELDS];
    uint32_t len[AUDIT_FIELDS];
    int64_t time_ms;
    bool allow;
    bool done;
    writ_status st;
    pthread_cond_t cv;   /* blocking appenders */
    wr_audit_done_fn fn; /* submitted ones (heap, strings after the struct); NULL = blocking */
    void *arg;
} waiter;

struct wr_audit {
    sqlite3 *db;
    sqlite3_stmt *ins, *ins_many, *cp, *begin, *commit; /* ins_many: AUDIT_ROWS rows at once */
    EVP_MD_CTX *md;
    pthread_mutex_t mu;
    pthread_cond_t idle, nonfull, lead; /* lead: the head is a submitted record */
    waiter *first, *last;
    uint64_t nqueued;
    uint32_t batch, queue_max, every, delay_us;
    unsigned busy;     /* leaders between taking a batch and finishing its callbacks */
    size_t last_batch; /* records in the last batch committed */
    bool closing, stop;
    pthread_t thread; /* leads batches whose head was submitted */
    atomic_bool failing;
    atomic_uint_fast64_t written, failures;
    /* the signing key: a keyring of the signer's active key at open (or
     * the log's own), whatever later rotations do */
    writ_keyring *key;
    char kid[44];
    /* the leader's: committed chain state */
    uint64_t last_seq, cp_seq;
    unsigned char last_hash[32];
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS audit ("
    " seq INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, agent TEXT NOT NULL, chain TEXT NOT NULL,"
    " task TEXT NOT NULL, action TEXT NOT NULL, resource TEXT NOT NULL, decision TEXT NOT NULL,"
    " policies TEXT NOT NULL, errors TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL,"
    " shadow TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE IF NOT EXISTS audit_checkpoint (seq INTEGER PRIMARY KEY, head TEXT NOT NULL,"
    " time_ms INTEGER NOT NULL, jws TEXT NOT NULL);";

static writ_status fail(writ_error *err, writ_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static writ_status fail(writ_error *err, writ_status st, const char *fmt, ...)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = st;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return st;
}

static writ_status db_fail(writ_error *err, sqlite3 *db, const char *what)
{
    return fail(err, WRIT_EIO, "audit log: %s: %s", what, db ? sqlite3_errmsg(db) : "cannot open");
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
    if (!s || n != 64)
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

/* The record hash (the canonical encoding in audit.h): v1 for a record
 * without a shadow field, so every record written before the field existed
 * hashes as it did; v2, with str(shadow) after str(errors), for one with. */
static int record_hash(EVP_MD_CTX *md, uint64_t seq, int64_t time_ms, bool allow, const char *const *f,
                       const size_t *len, const unsigned char prev[32], unsigned char out[32])
{
    bool v2 = len[AUDIT_FIELDS - 1] != 0;
    const char *tag = v2 ? "writ-audit-v2\n" : "writ-audit-v1\n";
    int nf = v2 ? AUDIT_FIELDS : AUDIT_V1_FIELDS;
    unsigned char num[17];
    be64(num, seq);
    be64(num + 8, (uint64_t)time_ms);
    num[16] = allow ? 1 : 0;
    /* once md holds SHA-256, re-initialise it with NULL: no provider fetch
     * per record */
    const EVP_MD *alg = EVP_MD_CTX_get0_md(md) ? NULL : EVP_sha256();
    if (EVP_DigestInit_ex2(md, alg, NULL) != 1 || EVP_DigestUpdate(md, tag, strlen(tag)) != 1 ||
        EVP_DigestUpdate(md, num, sizeof num) != 1)
        return -1;
    for (int i = 0; i < nf; i++) {
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

static void fmt_time(int64_t ms, char out[32])
{
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* "DIR/name" for the folder of path (".", when path has no slash). */
static char *sibling(const char *path, const char *name)
{
    const char *slash = strrchr(path, '/');
    size_t d = slash ? (size_t)(slash - path) : 1, m = strlen(name);
    char *p = wr_malloc(d + m + 2);
    if (!p)
        return NULL;
    memcpy(p, slash ? path : ".", d);
    p[d] = '/';
    memcpy(p + d + 1, name, m + 1);
    return p;
}

static char *slurp(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = wr_malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    bool bad = ferror(f) || n > max;
    fclose(f);
    if (!buf || bad) {
        wr_free(buf);
        errno = bad ? EFBIG : ENOMEM;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Write text to path atomically (temporary file, fsync, rename). */
static int write_file(const char *path, const char *text, size_t len, mode_t mode)
{
    size_t n = strlen(path);
    char *tmp = wr_malloc(n + 5);
    if (!tmp)
        return -1;
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp", 5);
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    bool ok = fd >= 0 && write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    if (fd >= 0 && close(fd) != 0)
        ok = false;
    if (ok && rename(tmp, path) != 0)
        ok = false;
    if (!ok)
        unlink(tmp);
    wr_free(tmp);
    return ok ? 0 : -1;
}

/* ---- keys */

/* Parse a JWKS file into ks.  WRIT_EIO when it cannot be read (errno). */
static writ_status load_keys(const char *file, wr_jwks *ks, writ_error *err)
{
    size_t len = 0;
    char *text = slurp(file, KEYS_MAX, &len);
    if (!text)
        return fail(err, WRIT_EIO, "audit log: cannot read the checkpoint keys %s: %s", file,
                    strerror(errno));
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    wr_free(text);
    json_t *arr = json_object_get(doc, "keys");
    writ_status st = WRIT_OK;
    if (!json_is_array(arr)) {
        json_decref(doc);
        return fail(err, WRIT_EJSON, "audit log: %s is not a JWKS (an object with a \"keys\" array)", file);
    }
    size_t i;
    json_t *k;
    json_array_foreach(arr, i, k)
    {
        wr_jwk jk;
        writ_error e2;
        if ((st = wr_jwk_from_json(k, &jk, &e2)) == WRIT_OK && !jk.kid)
            st = fail(&e2, WRIT_EINVAL, "key without a kid");
        if (st == WRIT_OK)
            st = wr_jwks_push(ks, &jk, &e2);
        wr_jwk_clear(&jk);
        if (st != WRIT_OK) {
            fail(err, st, "audit log: %s: key %zu: %s", file, i, e2.msg);
            break;
        }
    }
    json_decref(doc);
    return st;
}

/* Make sure the keys file holds the public key of the signing key: load
 * it, add the key when missing, write it back (0644: public keys). */
static writ_status publish_key(wr_audit *a, const char *file, writ_error *err)
{
    json_t *doc = NULL;
    if (access(file, F_OK) == 0) {
        wr_jwks ks = {0};
        writ_status st = load_keys(file, &ks, err);
        bool have = st == WRIT_OK && wr_jwks_find(&ks, a->kid, strlen(a->kid));
        wr_jwks_clear(&ks);
        if (st != WRIT_OK || have)
            return st;
        doc = json_load_file(file, JSON_REJECT_DUPLICATES, NULL);
    } else {
        doc = json_pack("{s:[]}", "keys");
    }
    json_t *k = NULL;
    char *pub = NULL;
    if (writ_keyring_jwks(a->key, &pub, NULL, NULL) == WRIT_OK) {
        json_t *set = json_loads(pub, 0, NULL);
        k = json_incref(json_array_get(json_object_get(set, "keys"), 0));
        json_decref(set);
    }
    writ_free_string(pub);
    char *text = NULL;
    writ_status st = WRIT_ENOMEM;
    if (doc && k && json_array_append_new(json_object_get(doc, "keys"), k) == 0) {
        k = NULL;
        text = json_dumps(doc, JSON_INDENT(1));
        if (text && write_file(file, text, strlen(text), 0644) == 0)
            st = WRIT_OK;
        else if (text)
            st = fail(err, WRIT_EIO, "audit log: cannot write the checkpoint keys %s: %s", file,
                      strerror(errno));
    }
    json_decref(k);
    json_decref(doc);
    wr_json_free(text);
    if (st == WRIT_ENOMEM)
        fail(err, st, "audit log: out of memory");
    return st;
}

/* The log's own key, when the server has no signing keyring: made once
 * (0600, linked into place so that two starts agree), then loaded. */
static writ_status own_key(const char *path, writ_keyring **out, writ_error *err)
{
    char *file = sibling(path, WR_AUDIT_KEY_FILE), *pem = NULL;
    writ_keyring *kr = writ_keyring_new();
    size_t len = 0;
    writ_status st = WRIT_ENOMEM;
    if (!file || !kr)
        goto out;
    char *text = slurp(file, 65536, &len);
    if (!text) {
        writ_keyring *gen = writ_keyring_new();
        size_t plen = 0;
        st = gen ? writ_keyring_generate(gen, WRIT_KEY_ES256, NULL, err) : WRIT_ENOMEM;
        if (st == WRIT_OK)
            st = writ_keyring_private_pem(gen, NULL, &pem, &plen, err);
        writ_keyring_free(gen);
        if (st != WRIT_OK)
            goto out;
        char *tmp = sibling(path, WR_AUDIT_KEY_FILE ".new");
        int fd = tmp ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
        bool ok = fd >= 0 && write(fd, pem, plen) == (ssize_t)plen && fsync(fd) == 0;
        if (fd >= 0 && close(fd) != 0)
            ok = false;
        if (ok && link(tmp, file) != 0 && errno != EEXIST)
            ok = false;
        if (tmp)
            unlink(tmp);
        wr_free(tmp);
        if (!ok) {
            st = fail(err, WRIT_EIO, "audit log: cannot write its signing key %s: %s", file, strerror(errno));
            goto out;
        }
        text = slurp(file, 65536, &len);
        if (!text) {
            st = fail(err, WRIT_EIO, "audit log: cannot read its signing key %s: %s", file, strerror(errno));
            goto out;
        }
    }
    st = writ_keyring_add_pem(kr, text, len, true, NULL, err);
    memset(text, 0, len);
    wr_free(text);
out:
    if (pem) {
        memset(pem, 0, strlen(pem));
        writ_free_string(pem);
    }
    wr_free(file);
    if (st == WRIT_OK) {
        *out = kr;
        kr = NULL;
    } else if (st == WRIT_ENOMEM) {
        fail(err, st, "audit log: out of memory");
    }
    writ_keyring_free(kr);
    return st;
}

/* ---- checkpoints */

typedef struct cp_row {
    uint64_t seq;
    unsigned char head[32];
    int64_t time_ms;
    uint64_t adopted; /* adopted_from, 0 = none */
} cp_row;

/* Check one checkpoint row: its JWS verifies with a key of ks, and its
 * claims are the row's columns.  0, or -1 with why. */
static int check_cp(const wr_jwks *ks, sqlite3_stmt *s, cp_row *out, char *why, size_t n)
{
    static const char *const typs[] = {CP_TYP, NULL};
    out->seq = (uint64_t)sqlite3_column_int64(s, 0);
    const char *head = (const char *)sqlite3_column_text(s, 1);
    out->time_ms = sqlite3_column_int64(s, 2);
    const char *jws = (const char *)sqlite3_column_text(s, 3);
    if (sqlite3_column_int64(s, 0) < 0 || unhex(head, (size_t)sqlite3_column_bytes(s, 1), out->head) != 0) {
        snprintf(why, n, "malformed row");
        return -1;
    }
    wr_jws j;
    writ_error e;
    writ_reason r;
    if (!jws ||
        wr_jws_parse(jws, (size_t)sqlite3_column_bytes(s, 3), 4096, typs, true, &j, &r, &e) != WRIT_OK) {
        snprintf(why, n, "its signature is not a checkpoint JWS: %.200s", jws ? e.msg : "missing");
        return -1;
    }
    int rc = -1;
    const wr_jwk *k = j.kid ? wr_jwks_find(ks, j.kid, j.kid_len) : NULL;
    json_t *cs = json_object_get(j.claims, "seq"), *ct = json_object_get(j.claims, "time_ms"),
           *ca = json_object_get(j.claims, "adopted_from");
    out->adopted = json_is_integer(ca) && json_integer_value(ca) > 0 ? (uint64_t)json_integer_value(ca) : 0;
    size_t hl = 0;
    const char *ch = wr_json_str(j.claims, "head", &hl);
    if (!k)
        snprintf(why, n, "signed by key '%.*s', which is not among the checkpoint keys",
                 j.kid ? (int)j.kid_len : 6, j.kid ? j.kid : "(none)");
    else if (wr_jws_verify(&j, k, &r, &e) != WRIT_OK)
        snprintf(why, n, "the signature does not verify (forged or altered): %.200s", e.msg);
    else if (!json_is_integer(cs) || (uint64_t)json_integer_value(cs) != out->seq || !json_is_integer(ct) ||
             json_integer_value(ct) != out->time_ms || !ch || hl != 64 || memcmp(ch, head, 64) != 0 ||
             (ca && (!json_is_integer(ca) || out->adopted == 0 || out->adopted > out->seq)))
        snprintf(why, n, "the row differs from what was signed (seq, head or time changed)");
    else
        rc = 0;
    wr_jws_clear(&j);
    return rc;
}

/* adopted: the first record this checkpoint signs that the server did not
 * write in this run (found unsigned at open, after a stop without a closing
 * checkpoint); 0 = none.  Said in the claims, so verify can tell. */
static writ_status sign_cp(wr_audit *a, uint64_t seq, const unsigned char h[32], int64_t t, uint64_t adopted,
                           char **jws)
{
    char hx[65];
    hex(h, hx);
    json_t *c = json_pack("{s:I,s:s,s:I}", "seq", (json_int_t)seq, "head", hx, "time_ms", (json_int_t)t);
    if (c && adopted && json_object_set_new(c, "adopted_from", json_integer((json_int_t)adopted)) != 0) {
        json_decref(c);
        c = NULL;
    }
    size_t len = 0;
    char *text = c ? json_dumps(c, JSON_COMPACT) : NULL;
    writ_status st =
        text ? writ_keyring_sign(a->key, CP_TYP, text, strlen(text), jws, &len, NULL) : WRIT_ENOMEM;
    wr_json_free(text);
    json_decref(c);
    return st;
}

/* Insert a signed checkpoint of (seq, h) in the open transaction. */
static int insert_cp(wr_audit *a, uint64_t seq, const unsigned char h[32], uint64_t adopted)
{
    int64_t t = now_ms();
    char *jws = NULL, hx[65];
    if (sign_cp(a, seq, h, t, adopted, &jws) != WRIT_OK) {
        fprintf(stderr, "writ: audit log: signing checkpoint %llu failed\n", (unsigned long long)seq);
        return -1;
    }
    hex(h, hx);
    sqlite3_bind_int64(a->cp, 1, (sqlite3_int64)seq);
    sqlite3_bind_text(a->cp, 2, hx, 64, SQLITE_STATIC);
    sqlite3_bind_int64(a->cp, 3, t);
    sqlite3_bind_text(a->cp, 4, jws, -1, SQLITE_STATIC);
    int rc = sqlite3_step(a->cp);
    sqlite3_reset(a->cp);
    sqlite3_clear_bindings(a->cp);
    wr_free(jws);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* A checkpoint of the committed head in a transaction of its own. */
static int checkpoint_now(wr_audit *a, uint64_t adopted)
{
    if (sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    if (insert_cp(a, a->last_seq, a->last_hash, adopted) != 0 ||
        sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "writ: audit log: checkpoint failed: %s\n", sqlite3_errmsg(a->db));
        sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    a->cp_seq = a->last_seq;
    /* a copy of the head outside the file (the server's log) */
    char hx[65];
    hex(a->last_hash, hx);
    fprintf(stderr, "writ: audit log: checkpoint %llu signed, head %s\n", (unsigned long long)a->last_seq,
            hx);
    return 0;
}

/* ---- writing */

/* Bind record w (seq, hash of the previous, its own hash) at parameter
 * base+1.. of s.  The hex buffers must live until the step. */
static void bind_record(sqlite3_stmt *s, int base, const waiter *w, uint64_t seq, const char *px,
                        const char *hx)
{
    sqlite3_bind_int64(s, base + 1, (sqlite3_int64)seq);
    sqlite3_bind_int64(s, base + 2, w->time_ms);
    for (int k = 0; k < 5; k++)
        sqlite3_bind_text(s, base + 3 + k, w->f[k], (int)w->len[k], SQLITE_STATIC);
    sqlite3_bind_text(s, base + 8, w->allow ? "allow" : "deny", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, base + 9, w->f[5], (int)w->len[5], SQLITE_STATIC);
    sqlite3_bind_text(s, base + 10, w->f[6], (int)w->len[6], SQLITE_STATIC);
    sqlite3_bind_text(s, base + 11, px, 64, SQLITE_STATIC);
    sqlite3_bind_text(s, base + 12, hx, 64, SQLITE_STATIC);
    sqlite3_bind_text(s, base + 13, w->f[7], (int)w->len[7], SQLITE_STATIC);
}

/* Insert and commit the n waiters from w; 0 on success (chain state
 * advanced).  Records go AUDIT_ROWS at a time through one multi-row INSERT,
 * the rest one by one; a record whose seq is a multiple of `every` gets its
 * signed checkpoint in the same transaction. */
static int write_batch(wr_audit *a, const waiter *w, size_t n)
{
    uint64_t seq = a->last_seq, cp = a->cp_seq;
    unsigned char h[32];
    memcpy(h, a->last_hash, 32);
    char hx[AUDIT_ROWS][65], px[AUDIT_ROWS][65];
    int brc = sqlite3_step(a->begin);
    sqlite3_reset(a->begin);
    if (brc != SQLITE_DONE)
        goto bad;
    size_t i = 0;
    while (i < n) {
        size_t k = n - i >= AUDIT_ROWS ? AUDIT_ROWS : 1;
        sqlite3_stmt *s = k == AUDIT_ROWS ? a->ins_many : a->ins;
        /* the last waiter's next is not read: an appender may be setting it */
        for (size_t j = 0; j < k; j++, w = i + j < n ? w->next : NULL) {
            unsigned char nh[32];
            size_t len[AUDIT_FIELDS];
            for (int f = 0; f < AUDIT_FIELDS; f++)
                len[f] = w->len[f];
            if (record_hash(a->md, seq + 1, w->time_ms, w->allow, w->f, len, h, nh) != 0)
                goto bad;
            hex(h, px[j]);
            hex(nh, hx[j]);
            bind_record(s, (int)j * AUDIT_COLS, w, seq + 1, px[j], hx[j]);
            seq++;
            memcpy(h, nh, 32);
            if (seq % a->every == 0) {
                if (insert_cp(a, seq, h, 0) != 0)
                    goto bad;
                cp = seq;
            }
        }
        int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE)
            goto bad;
        i += k;
    }
    if (sqlite3_step(a->commit) != SQLITE_DONE) {
        sqlite3_reset(a->commit);
        goto bad;
    }
    sqlite3_reset(a->commit);
    a->last_seq = seq;
    a->cp_seq = cp;
    memcpy(a->last_hash, h, 32);
    return 0;
bad:
    fprintf(stderr, "writ: audit log: write failed: %s\n", sqlite3_errmsg(a->db));
    sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static int prepare_many(wr_audit *a)
{
    char sql[1400];
    size_t n = (size_t)snprintf(sql, sizeof sql,
                                "INSERT INTO audit (seq, time_ms, agent, chain, task, action,"
                                " resource, decision, policies, errors, prev, hash, shadow) VALUES ");
    for (int i = 0; i < AUDIT_ROWS && n < sizeof sql; i++)
        n += (size_t)snprintf(sql + n, sizeof sql - n, "%s(?,?,?,?,?,?,?,?,?,?,?,?,?)", i ? "," : "");
    if (n >= sizeof sql)
        return -1;
    return sqlite3_prepare_v2(a->db, sql, -1, &a->ins_many, NULL) == SQLITE_OK ? 0 : -1;
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

/* The log and its -wal/-shm owner-only: created 0600 (SQLite gives -wal and
 * -shm the mode of the database), and narrowed when another opener (the
 * revocation store shares the file) made them wider. */
static writ_status private_files(const char *path, writ_error *err)
{
    /* By path only: opening and closing a descriptor of a database that
     * another SQLite connection of this process holds would drop that
     * connection's POSIX locks. */
    struct stat sb;
    if (stat(path, &sb) != 0) {
        int fd = errno == ENOENT ? open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600) : -1;
        if (fd < 0 && errno != EEXIST)
            return fail(err, WRIT_EIO, "audit log: cannot create %s with mode 0600: %s", path,
                        strerror(errno));
        if (fd >= 0)
            close(fd);
        if (stat(path, &sb) != 0)
            return fail(err, WRIT_EIO, "audit log: %s: %s", path, strerror(errno));
    }
    static const char *const sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char p[4096];
        if ((size_t)snprintf(p, sizeof p, "%s%s", path, sfx[i]) < sizeof p && stat(p, &sb) == 0 &&
            (sb.st_mode & 077) && chmod(p, 0600) != 0)
            return fail(err, WRIT_EIO, "audit log: cannot make %s owner-only: %s", p, strerror(errno));
    }
    return WRIT_OK;
}

/* One row of the chain (columns as row_cols): check seq, decision, prev
 * and the hash; on success prev becomes its hash.  0, or -1 with why. */
static int check_row(EVP_MD_CTX *md, sqlite3_stmt *s, uint64_t expect, unsigned char prev[32], char *why,
                     size_t n);

/* At open: the last checkpoint verifies, the record it names is there with
 * its head, and the chain after it is whole to the last record.  Anything
 * else refuses the log (WRIT_EVALIDATE), which is left untouched. */
static writ_status check_tail(wr_audit *a, const char *path, const char *keys_file, bool existed, bool *fresh,
                              writ_error *err)
{
    sqlite3_stmt *s = NULL;
    wr_jwks ks = {0};
    writ_status st = WRIT_OK;
    char why[300];
    uint64_t nrec = 0;
    *fresh = false;
    if (sqlite3_prepare_v2(a->db, "SELECT count(*) FROM audit", -1, &s, NULL) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW) {
        st = db_fail(err, a->db, "counting records");
        goto out;
    }
    nrec = (uint64_t)sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (sqlite3_prepare_v2(a->db,
                           "SELECT seq, head, time_ms, jws FROM audit_checkpoint ORDER BY seq DESC LIMIT 1",
                           -1, &s, NULL) != SQLITE_OK) {
        st = db_fail(err, a->db, "reading the last checkpoint");
        goto out;
    }
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        sqlite3_finalize(s);
        s = NULL;
        /* new only when the checkpoint table did not exist before this
         * open: an existing log always holds checkpoint 0 */
        if (nrec == 0 && !existed) {
            *fresh = true;
            goto out;
        }
        st = fail(
            err, WRIT_EVALIDATE,
            "audit log %s: %llu records but no signed checkpoint (emptied or its checkpoints removed, or "
            "written by a Writ without checkpoints): refusing to append to it; it is left as it is: check it "
            "with `writ audit verify`, keep it, and start on a new log",
            path, (unsigned long long)nrec);
        goto out;
    }
    if (rc != SQLITE_ROW) {
        st = db_fail(err, a->db, "reading the last checkpoint");
        goto out;
    }
    if ((st = load_keys(keys_file, &ks, err)) != WRIT_OK)
        goto out;
    cp_row cp;
    if (check_cp(&ks, s, &cp, why, sizeof why) != 0) {
        st = fail(err, WRIT_EVALIDATE, "audit log %s: checkpoint %llu: %s: refusing to append to it", path,
                  (unsigned long long)cp.seq, why);
        goto out;
    }
    sqlite3_finalize(s);
    s = NULL;
    char when[32];
    fmt_time(cp.time_ms, when);
    if (cp.seq > a->last_seq) {
        st = fail(
            err, WRIT_EVALIDATE,
            "audit log %s: it ends at record %llu but checkpoint %llu (signed %s) covers records up to %llu: "
            "records were removed from the end; refusing to append (the log is left as it is, as evidence)",
            path, (unsigned long long)a->last_seq, (unsigned long long)cp.seq, when,
            (unsigned long long)cp.seq);
        goto out;
    }
    /* the chain from the checkpoint's record to the end */
    unsigned char prev[32] = {0};
    uint64_t from = cp.seq;
    char sql[256];
    snprintf(
        sql, sizeof sql,
        "SELECT seq, time_ms, agent, chain, task, action, resource, decision, policies, errors, prev, hash,"
        " shadow FROM audit WHERE seq >= ?1 ORDER BY seq");
    if (sqlite3_prepare_v2(a->db, sql, -1, &s, NULL) != SQLITE_OK) {
        st = db_fail(err, a->db, "reading the tail");
        goto out;
    }
    sqlite3_bind_int64(s, 1, (sqlite3_int64)(from ? from : 1));
    uint64_t expect = from ? from : 1;
    if (from) {
        /* the checkpoint's own record: its hash is the signed head */
        if (sqlite3_step(s) != SQLITE_ROW || (uint64_t)sqlite3_column_int64(s, 0) != from ||
            unhex((const char *)sqlite3_column_text(s, 11), (size_t)sqlite3_column_bytes(s, 11), prev) != 0 ||
            memcmp(prev, cp.head, 32) != 0) {
            st = fail(
                err, WRIT_EVALIDATE,
                "audit log %s: record %llu is missing or differs from checkpoint %llu (signed %s): the log "
                "was rewritten; refusing to append (the log is left as it is, as evidence)",
                path, (unsigned long long)from, (unsigned long long)from, when);
            goto out;
        }
        expect++;
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (check_row(a->md, s, expect, prev, why, sizeof why) != 0) {
            st = fail(
                err, WRIT_EVALIDATE,
                "audit log %s: record %llu after checkpoint %llu: %s; refusing to append (the log is left as "
                "it is, as evidence)",
                path, (unsigned long long)sqlite3_column_int64(s, 0), (unsigned long long)from, why);
            goto out;
        }
        expect++;
    }
    if (rc != SQLITE_DONE) {
        st = db_fail(err, a->db, "reading the tail");
        goto out;
    }
    if (expect - 1 != a->last_seq || memcmp(prev, a->last_hash, 32) != 0) {
        st = fail(err, WRIT_EVALIDATE,
                  "audit log %s: the chain after checkpoint %llu does not end at the head", path,
                  (unsigned long long)from);
        goto out;
    }
    a->cp_seq = cp.seq;
out:
    sqlite3_finalize(s);
    wr_jwks_clear(&ks);
    return st;
}

/* The committed head: the last record. */
static writ_status load_tail(wr_audit *a, writ_error *err)
{
    sqlite3_stmt *s = NULL;
    writ_status st = WRIT_OK;
    a->last_seq = 0;
    memset(a->last_hash, 0, 32);
    if (sqlite3_prepare_v2(a->db, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", -1, &s, NULL) !=
        SQLITE_OK)
        return db_fail(err, a->db, "reading the last record");
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        a->last_seq = (uint64_t)sqlite3_column_int64(s, 0);
        if (unhex((const char *)sqlite3_column_text(s, 1), (size_t)sqlite3_column_bytes(s, 1),
                  a->last_hash) != 0)
            st = fail(err, WRIT_EVALIDATE,
                      "audit log: the last record (%llu) has a malformed hash; refusing to append",
                      (unsigned long long)a->last_seq);
    } else if (rc != SQLITE_DONE) {
        st = db_fail(err, a->db, "reading the last record");
    }
    sqlite3_finalize(s);
    return st;
}

static void free_audit(wr_audit *a)
{
    EVP_MD_CTX_free(a->md);
    writ_keyring_free(a->key);
    sqlite3_finalize(a->ins);
    sqlite3_finalize(a->ins_many);
    sqlite3_finalize(a->cp);
    sqlite3_finalize(a->begin);
    sqlite3_finalize(a->commit);
    sqlite3_close(a->db);
    wr_free(a);
}

static void *leader_thread(void *arg);

/* A log written before records had a shadow field has no such column: a
 * writer adds it (old records get '', which hashes as v1), a reader reads
 * '' in its place. */
static bool has_shadow_column(sqlite3 *db)
{
    sqlite3_stmt *q = NULL;
    bool yes = sqlite3_prepare_v2(db, "SELECT shadow FROM audit LIMIT 0", -1, &q, NULL) == SQLITE_OK;
    sqlite3_finalize(q);
    return yes;
}

writ_status wr_audit_open(const char *path, const wr_audit_opts *o, wr_audit **out, writ_error *err)
{
    *out = NULL;
    static const wr_audit_opts none = {0};
    if (!o)
        o = &none;
    wr_audit *a = wr_calloc(1, sizeof *a);
    char *keys_file = o->keys_file ? NULL : sibling(path, WR_AUDIT_KEYS_FILE);
    writ_keyring *own = NULL;
    writ_status st = WRIT_OK;
    if (!a || (!o->keys_file && !keys_file)) {
        st = fail(err, WRIT_ENOMEM, "audit log: out of memory");
        goto bad;
    }
    a->batch = o->batch ? o->batch : 1024;
    a->queue_max = o->queue_max ? o->queue_max : 65536;
    a->every = o->checkpoint_every ? o->checkpoint_every : 1000;
    a->delay_us = o->commit_delay_us > 100000 ? 100000 : o->commit_delay_us;
    const char *kf = o->keys_file ? o->keys_file : keys_file;

    if (!o->signer)
        st = own_key(path, &own, err);
    if (st == WRIT_OK && !(a->key = writ_keyring_copy_active(o->signer ? o->signer : own))) {
        st = o->signer && !writ_keyring_count(o->signer)
                 ? fail(err, WRIT_EINVAL,
                        "audit log: the signing keyring is empty: no key to sign checkpoints")
                 : fail(err, WRIT_ENOMEM, "audit log: out of memory");
    }
    if (st != WRIT_OK)
        goto bad;
    snprintf(a->kid, sizeof a->kid, "%s", writ_keyring_active_kid(a->key));
    writ_keyring_free(own);
    own = NULL;

    if ((st = private_files(path, err)) ||
        (st = open_db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &a->db, err)))
        goto bad;
    bool existed = false;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(a->db,
                           "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_checkpoint'",
                           -1, &q, NULL) != SQLITE_OK) {
        st = db_fail(err, a->db, "reading the schema");
        goto bad;
    }
    existed = sqlite3_step(q) == SQLITE_ROW;
    sqlite3_finalize(q);
    if (sqlite3_exec(a->db,
                     o->fsync ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                              : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(a->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK ||
        (!has_shadow_column(a->db) &&
         sqlite3_exec(a->db, "ALTER TABLE audit ADD COLUMN shadow TEXT NOT NULL DEFAULT ''", NULL, NULL,
                      NULL) != SQLITE_OK)) {
        st = db_fail(err, a->db, "creating tables");
        goto bad;
    }
    if ((st = private_files(path, err)))
        goto bad;
    if (sqlite3_prepare_v2(a->db,
                           "INSERT INTO audit (seq, time_ms, agent, chain, task, action, resource, decision,"
                           " policies, errors, prev, hash, shadow) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                           -1, &a->ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(a->db, "BEGIN IMMEDIATE", -1, &a->begin, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(a->db, "COMMIT", -1, &a->commit, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(a->db,
                           "INSERT INTO audit_checkpoint (seq, head, time_ms, jws) VALUES (?, ?, ?, ?)", -1,
                           &a->cp, NULL) != SQLITE_OK ||
        prepare_many(a) != 0) {
        st = db_fail(err, a->db, "preparing statements");
        goto bad;
    }
    if (!(a->md = EVP_MD_CTX_new())) {
        st = fail(err, WRIT_ENOMEM, "audit log: out of memory");
        goto bad;
    }
    /* The public key goes into the keys file first: the tail check reads
     * the keys from there, and verify needs every key that ever signed. */
    bool fresh = false;
    if ((st = publish_key(a, kf, err)) || (st = load_tail(a, err)) ||
        (st = check_tail(a, path, kf, existed, &fresh, err)))
        goto bad;
    /* A new log starts with checkpoint 0, so that an emptied one shows; a
     * tail past the last checkpoint (after a crash) is signed now that it
     * has been checked. */
    if ((fresh || a->last_seq != a->cp_seq) && checkpoint_now(a, fresh ? 0 : a->cp_seq + 1) != 0) {
        st = db_fail(err, a->db, "writing a checkpoint");
        goto bad;
    }
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->idle, NULL);
    pthread_cond_init(&a->nonfull, NULL);
    pthread_cond_init(&a->lead, NULL);
    if (pthread_create(&a->thread, NULL, leader_thread, a) != 0) {
        pthread_mutex_destroy(&a->mu);
        pthread_cond_destroy(&a->idle);
        pthread_cond_destroy(&a->nonfull);
        pthread_cond_destroy(&a->lead);
        st = fail(err, WRIT_ENOMEM, "audit log: cannot start its thread");
        goto bad;
    }
    wr_free(keys_file);
    *out = a;
    return WRIT_OK;
bad:
    writ_keyring_free(own);
    wr_free(keys_file);
    if (a)
        free_audit(a);
    return st;
}

/* Wake whoever leads next: the head's appender, or the thread for a
 * submitted head.  Mutex held. */
static void next_leader(wr_audit *a)
{
    if (!a->first)
        pthread_cond_broadcast(&a->idle);
    else if (a->first->fn)
        pthread_cond_signal(&a->lead);
    else
        pthread_cond_signal(&a->first->cv);
}

/* Lead one batch from the head h (mutex held on entry and on return):
 * write it outside the mutex (its waiters stay linked and wait), then mark
 * them done, unlink them, wake the next leader, and call the callbacks of
 * submitted records outside the mutex. */
static void lead_batch(wr_audit *a, waiter *h)
{
    size_t n = 1;
    for (const waiter *x = h; x->next && n < a->batch; x = x->next)
        n++;
    a->busy++;
    a->last_batch = n;
    pthread_mutex_unlock(&a->mu);
    /* On failure the chain state stays what this process committed (a
     * transaction that failed changed nothing); rows someone else put in
     * the file meanwhile are not adopted: they make the next writes fail
     * (seq taken), which denies, rather than be signed. */
    bool ok = write_batch(a, h, n) == 0;
    atomic_store(&a->failing, !ok);
    atomic_fetch_add(ok ? &a->written : &a->failures, n);
    writ_status st = ok ? WRIT_OK : WRIT_EIO;
    pthread_mutex_lock(&a->mu);
    waiter *x = h, *cbs = NULL, **tail = &cbs;
    for (size_t i = 0; i < n; i++) {
        waiter *nx = x->next;
        x->st = st;
        x->done = true;
        if (x->fn) {
            *tail = x;
            tail = &x->next;
        } else if (x != h) {
            pthread_cond_signal(&x->cv);
        }
        x = nx;
    }
    *tail = NULL;
    a->first = x;
    if (!x)
        a->last = NULL;
    a->nqueued -= n;
    pthread_cond_broadcast(&a->nonfull);
    next_leader(a);
    if (cbs) {
        pthread_mutex_unlock(&a->mu);
        while (cbs) {
            waiter *nx = cbs->next;
            cbs->fn(cbs->arg, st);
            wr_free(cbs);
            cbs = nx;
        }
        pthread_mutex_lock(&a->mu);
    }
    if (--a->busy == 0 && !a->first)
        pthread_cond_broadcast(&a->idle);
}

/* Queue w (mutex held); false when the log is closing. */
static bool enqueue(wr_audit *a, waiter *w)
{
    while (a->nqueued >= a->queue_max && !a->closing)
        pthread_cond_wait(&a->nonfull, &a->mu);
    if (a->closing)
        return false;
    if (a->last)
        a->last->next = w;
    else
        a->first = w;
    a->last = w;
    a->nqueued++;
    if (a->first == w && w->fn)
        pthread_cond_signal(&a->lead);
    return true;
}

static void *leader_thread(void *arg)
{
    wr_audit *a = arg;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (!(a->first && a->first->fn && !a->first->done) && !a->stop)
            pthread_cond_wait(&a->lead, &a->mu);
        if (!(a->first && a->first->fn))
            break; /* stop, nothing submitted at the head */
        /* Gather only when there is company: another record queued
         * behind the head, or the last batch held more than one.  A lone
         * client (one record per commit, nothing else in flight) would
         * only wait delay_us for nobody; under load the batches grow and
         * the wait comes back. */
        bool company = a->nqueued > 1 || a->last_batch > 1;
        if (a->delay_us && company && a->nqueued < 16 && !a->stop) {
            /* gather: the workers keep deciding meanwhile (they do not
             * wait for the commit), so more records share it */
            pthread_mutex_unlock(&a->mu);
            nanosleep(&(struct timespec){0, (long)a->delay_us * 1000}, NULL);
            pthread_mutex_lock(&a->mu);
            if (!(a->first && a->first->fn && !a->first->done))
                continue;
        }
        lead_batch(a, a->first);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* The entry's fields, "" for NULL; WRIT_ELIMIT when one is too long. */
static writ_status fields(const wr_audit_entry *e, const char **f, uint32_t *len, size_t *total)
{
    const char *src[AUDIT_FIELDS] = {e->agent,    e->chain,    e->task,   e->action,
                                     e->resource, e->policies, e->errors, e->shadow};
    *total = 0;
    for (int i = 0; i < AUDIT_FIELDS; i++) {
        f[i] = src[i] ? src[i] : "";
        size_t n = strlen(f[i]);
        if (n > UINT32_MAX / 2)
            return WRIT_ELIMIT;
        len[i] = (uint32_t)n;
        *total += n + 1;
    }
    return WRIT_OK;
}

writ_status wr_audit_append(wr_audit *a, const wr_audit_entry *e)
{
    waiter w;
    memset(&w, 0, sizeof w);
    size_t total;
    if (fields(e, w.f, w.len, &total) != WRIT_OK)
        return WRIT_ELIMIT;
    w.time_ms = e->time_ms ? e->time_ms : now_ms();
    w.allow = e->allow;
    w.st = WRIT_EIO;
    if (pthread_cond_init(&w.cv, NULL) != 0)
        return WRIT_ENOMEM;
    pthread_mutex_lock(&a->mu);
    if (!enqueue(a, &w)) {
        pthread_mutex_unlock(&a->mu);
        pthread_cond_destroy(&w.cv);
        return WRIT_EIO;
    }
    while (!w.done && a->first != &w)
        pthread_cond_wait(&w.cv, &a->mu);
    if (!w.done)
        lead_batch(a, &w);
    writ_status st = w.st;
    pthread_mutex_unlock(&a->mu);
    pthread_cond_destroy(&w.cv);
    return st;
}

writ_status wr_audit_submit(wr_audit *a, const wr_audit_entry *e, wr_audit_done_fn fn, void *arg)
{
    const char *f[AUDIT_FIELDS];
    uint32_t len[AUDIT_FIELDS];
    size_t total;
    if (!fn || fields(e, f, len, &total) != WRIT_OK)
        return fn ? WRIT_ELIMIT : WRIT_EINVAL;
    waiter *w = wr_calloc(1, sizeof *w + total);
    if (!w)
        return WRIT_ENOMEM;
    char *p = (char *)(w + 1);
    for (int i = 0; i < AUDIT_FIELDS; i++) {
        memcpy(p, f[i], len[i] + 1);
        w->f[i] = p;
        w->len[i] = len[i];
        p += len[i] + 1;
    }
    w->time_ms = e->time_ms ? e->time_ms : now_ms();
    w->allow = e->allow;
    w->st = WRIT_EIO;
    w->fn = fn;
    w->arg = arg;
    pthread_mutex_lock(&a->mu);
    bool ok = enqueue(a, w);
    pthread_mutex_unlock(&a->mu);
    if (!ok) {
        wr_free(w);
        return WRIT_EIO;
    }
    return WRIT_OK;
}

void wr_audit_flush(wr_audit *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    while (a->first || a->busy)
        pthread_cond_wait(&a->idle, &a->mu);
    pthread_mutex_unlock(&a->mu);
}

void wr_audit_close(wr_audit *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->closing = true;
    pthread_cond_broadcast(&a->nonfull);
    while (a->first || a->busy)
        pthread_cond_wait(&a->idle, &a->mu);
    a->stop = true;
    pthread_cond_broadcast(&a->lead);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    if (a->last_seq != a->cp_seq) {
        if (checkpoint_now(a, 0) != 0)
            fprintf(stderr, "writ: audit log: the closing checkpoint (record %llu) could not be written\n",
                    (unsigned long long)a->last_seq);
    } else {
        /* the head was signed in its own transaction (seq a multiple of
         * checkpoint_every): the server's log still gets its copy */
        char hx[65];
        hex(a->last_hash, hx);
        fprintf(stderr, "writ: audit log: checkpoint %llu signed, head %s\n", (unsigned long long)a->last_seq,
                hx);
    }
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->idle);
    pthread_cond_destroy(&a->nonfull);
    pthread_cond_destroy(&a->lead);
    free_audit(a);
}

uint64_t wr_audit_queued(wr_audit *a)
{
    pthread_mutex_lock(&a->mu);
    uint64_t n = a->nqueued;
    pthread_mutex_unlock(&a->mu);
    return n;
}

uint64_t wr_audit_written(wr_audit *a) { return atomic_load(&a->written); }
uint64_t wr_audit_failures(wr_audit *a) { return atomic_load(&a->failures); }
bool wr_audit_failing(wr_audit *a) { return atomic_load(&a->failing); }

/* ---- reading */

static const char row_cols[] =
    "seq, time_ms, agent, chain, task, action, resource, decision, policies, errors, prev, hash, shadow";
static const char row_cols_v1[] = "seq, time_ms, agent, chain, task, action, resource, decision, policies, "
                                  "errors, prev, hash, '' AS shadow";

static void read_row(sqlite3_stmt *s, wr_audit_row *row, size_t *len)
{
    row->seq = (uint64_t)sqlite3_column_int64(s, 0);
    row->e.time_ms = sqlite3_column_int64(s, 1);
    const char **f[AUDIT_FIELDS] = {&row->e.agent,    &row->e.chain,    &row->e.task,   &row->e.action,
                                    &row->e.resource, &row->e.policies, &row->e.errors, &row->e.shadow};
    static const int col[AUDIT_FIELDS] = {2, 3, 4, 5, 6, 8, 9, 12};
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

static int check_row(EVP_MD_CTX *md, sqlite3_stmt *s, uint64_t expect, unsigned char prev[32], char *why,
                     size_t n)
{
    wr_audit_row row;
    size_t len[AUDIT_FIELDS];
    read_row(s, &row, len);
    const char *d = (const char *)sqlite3_column_text(s, 7);
    unsigned char p[32], h[32], stored[32];
    if (row.seq != expect) {
        snprintf(why, n, "expected record %llu here: records are missing or inserted",
                 (unsigned long long)expect);
        return -1;
    }
    if (!d || (strcmp(d, "allow") && strcmp(d, "deny"))) {
        snprintf(why, n, "decision is neither allow nor deny");
        return -1;
    }
    if (unhex(row.prev, strlen(row.prev), p) != 0 || memcmp(p, prev, 32) != 0) {
        snprintf(why, n, "prev does not match the hash of the record before");
        return -1;
    }
    const char *f[AUDIT_FIELDS] = {row.e.agent,    row.e.chain,    row.e.task,   row.e.action,
                                   row.e.resource, row.e.policies, row.e.errors, row.e.shadow};
    if (record_hash(md, row.seq, row.e.time_ms, row.e.allow, f, len, prev, h) != 0) {
        snprintf(why, n, "hashing failed");
        return -1;
    }
    if (unhex(row.hash, strlen(row.hash), stored) != 0 || memcmp(stored, h, 32) != 0) {
        snprintf(why, n, "hash does not match the record's contents (edited)");
        return -1;
    }
    memcpy(prev, h, 32);
    return 0;
}

static writ_status broken(wr_audit_verify_result *r, uint64_t seq, const char *msg)
{
    r->bad_seq = seq;
    snprintf(r->msg, sizeof r->msg, "record %llu: %s", (unsigned long long)seq, msg);
    return WRIT_EVALIDATE;
}

static writ_status broken_cp(wr_audit_verify_result *r, uint64_t seq, const char *msg)
{
    r->bad_checkpoint = seq + 1;
    snprintf(r->msg, sizeof r->msg, "checkpoint %llu: %s", (unsigned long long)seq, msg);
    return WRIT_EVALIDATE;
}

/* Verify: every checkpoint first (signature and row), kept in order; then
 * the chain, comparing each checkpointed record's hash with the signed
 * head; then checkpoints past the end, and the head. */
writ_status wr_audit_verify(const char *path, const char *keys_file, wr_audit_verify_result *r,
                            writ_error *err)
{
    memset(r, 0, sizeof *r);
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    EVP_MD_CTX *md = NULL;
    wr_jwks ks = {0};
    cp_row *cps = NULL;
    size_t ncp = 0, cap = 0, next = 0;
    char *kf = keys_file ? NULL : sibling(path, WR_AUDIT_KEYS_FILE);
    char why[300];
    if (!keys_file && !kf)
        return fail(err, WRIT_ENOMEM, "out of memory");
    writ_status st = load_keys(keys_file ? keys_file : kf, &ks, err);
    if (st)
        goto out;
    if ((st = open_db(path, SQLITE_OPEN_READONLY, &db, err)))
        goto out;
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        st = db_fail(err, db, "starting a read");
        goto out;
    }
    if (sqlite3_prepare_v2(db, "SELECT seq, head, time_ms, jws FROM audit_checkpoint ORDER BY seq", -1, &s,
                           NULL) != SQLITE_OK) {
        st = db_fail(err, db, "reading the checkpoints (not a Writ audit log with checkpoints?)");
        goto out;
    }
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (ncp == cap) {
            size_t nc = cap ? cap * 2 : 64;
            cp_row *n = wr_realloc(cps, nc * sizeof *n);
            if (!n) {
                st = fail(err, WRIT_ENOMEM, "out of memory");
                goto out;
            }
            cps = n;
            cap = nc;
        }
        if (check_cp(&ks, s, &cps[ncp], why, sizeof why) != 0) {
            st = broken_cp(r, cps[ncp].seq, why);
            goto out;
        }
        ncp++;
    }
    if (rc != SQLITE_DONE) {
        st = db_fail(err, db, "reading the checkpoints");
        goto out;
    }
    sqlite3_finalize(s);
    s = NULL;
    if (ncp == 0 || cps[0].seq != 0) {
        st = broken_cp(r, 0,
                       ncp ? "missing: every log starts with a signed checkpoint 0 (earlier checkpoints "
                             "were removed)"
                           : "missing, and no signed checkpoint at all: the log was emptied (or was not "
                             "written by writ serve with checkpoints)");
        goto out;
    }
    static const unsigned char zero[32] = {0};
    if (memcmp(cps[0].head, zero, 32) != 0) {
        st = broken_cp(r, 0, "its head is not the empty chain");
        goto out;
    }
    next = 1;
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT %s FROM audit ORDER BY seq",
             has_shadow_column(db) ? row_cols : row_cols_v1);
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        st = db_fail(err, db, "reading the log");
        goto out;
    }
    if (!(md = EVP_MD_CTX_new())) {
        st = fail(err, WRIT_ENOMEM, "out of memory");
        goto out;
    }
    unsigned char prev[32] = {0};
    uint64_t expect = 1;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        uint64_t seq = (uint64_t)sqlite3_column_int64(s, 0);
        if (check_row(md, s, expect, prev, why, sizeof why) != 0) {
            st = broken(r, seq, why);
            goto out;
        }
        if (next < ncp && cps[next].seq == seq) {
            if (memcmp(cps[next].head, prev, 32) != 0) {
                char m[200];
                snprintf(
                    m, sizeof m,
                    "does not match signed checkpoint %llu: the chain up to it was rewritten (edited and "
                    "re-hashed, or records inserted or removed)",
                    (unsigned long long)seq);
                st = broken(r, seq, m);
                goto out;
            }
            next++;
        }
        r->records++;
        r->last_seq = seq;
        expect++;
    }
    if (rc != SQLITE_DONE) {
        st = db_fail(err, db, "reading the log");
        goto out;
    }
    if (next < ncp) {
        char m[200], when[32];
        fmt_time(cps[next].time_ms, when);
        snprintf(m, sizeof m,
                 "signed %s for records up to %llu, but the log ends at record %llu: records were removed "
                 "from the end",
                 when, (unsigned long long)cps[next].seq, (unsigned long long)r->last_seq);
        st = broken_cp(r, cps[next].seq, m);
        goto out;
    }
    if (r->records)
        hex(prev, r->head);
    r->checkpoints = ncp;
    for (size_t i = 1; i < ncp; i++)
        if (cps[i].adopted) {
            uint64_t from = cps[i].adopted > cps[i - 1].seq ? cps[i].adopted : cps[i - 1].seq + 1;
            r->adopted += cps[i].seq - from + 1;
            r->adopted_first = from;
            r->adopted_last = cps[i].seq;
        }
    r->signed_seq = cps[ncp - 1].seq;
    r->signed_time_ms = cps[ncp - 1].time_ms;
out:
    wr_free(kf);
    wr_free(cps);
    wr_jwks_clear(&ks);
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
    bool shadow_col = has_shadow_column(db);
    if (f->shadow && !shadow_col)
        goto out; /* a log from before shadow fields: none has one */
    char sql[1024];
    snprintf(
        sql, sizeof sql,
        "SELECT * FROM (SELECT %s FROM audit WHERE (?1 IS NULL OR agent = ?1) AND (?2 IS NULL OR action = ?2)"
        " AND (?3 IS NULL OR resource = ?3) AND (?4 IS NULL OR task = ?4) AND (?5 IS NULL OR decision = ?5)"
        " AND (?6 IS NULL OR time_ms >= ?6) AND (?7 IS NULL OR time_ms < ?7)%s"
        " ORDER BY seq %s LIMIT ?8) ORDER BY seq",
        shadow_col ? row_cols : row_cols_v1, f->shadow ? " AND shadow <> ''" : "", f->last ? "DESC" : "ASC");
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
