/* audit_util.c - the audit log's shared helpers: the record hash, hex,
 * files, checkpoint and record checks (see audit_int.h). */
#include "store/audit_int.h"
#include "util/alloc.h"
#include "util/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

writ_status au_fail(writ_error *err, writ_status st, const char *fmt, ...)
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

int au_unhex(const char *s, size_t n, unsigned char out[32])
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

/* The hash input is gathered in a buffer and handed to SHA-256 in one
 * update per buffer (a field that does not fit goes through on its own):
 * the digest's per-call cost, paid twice per field otherwise, is most of
 * what hashing a short record costs beyond the compression itself. */
typedef struct feed {
    EVP_MD_CTX *md;
    size_t n;
    bool bad;
    unsigned char buf[1024];
} feed;

static void feed_flush(feed *f)
{
    if (f->n && EVP_DigestUpdate(f->md, f->buf, f->n) != 1)
        f->bad = true;
    f->n = 0;
}

static void feed_put(feed *f, const void *p, size_t n)
{
    if (n > sizeof f->buf - f->n) {
        feed_flush(f);
        if (n > sizeof f->buf) {
            if (EVP_DigestUpdate(f->md, p, n) != 1)
                f->bad = true;
            return;
        }
    }
    memcpy(f->buf + f->n, p, n);
    f->n += n;
}

/* The record hash (the canonical encoding in audit.h): v1 for a record
 * without a shadow field or a replica, so every record written before those
 * fields existed hashes as it did; v2, with str(shadow) after str(errors),
 * for one with a shadow field but no replica; v3, with str(shadow) and
 * str(replica), for one with a replica. */
int au_record_hash(EVP_MD_CTX *md, uint64_t seq, int64_t time_ms, bool allow, const char *const *f,
                   const size_t *len, const char *replica, const unsigned char prev[32], unsigned char out[32])
{
    size_t rlen = replica ? strlen(replica) : 0;
    int v = rlen ? 3 : len[AUDIT_FIELDS - 1] ? 2 : 1;
    int nf = v > 1 ? AUDIT_FIELDS : AUDIT_V1_FIELDS;
    static const char *const tag[] = {"writ-audit-v1\n", "writ-audit-v2\n", "writ-audit-v3\n"};
    /* once md holds SHA-256, re-initialise it with NULL: no provider fetch
     * per record */
    const EVP_MD *alg = EVP_MD_CTX_get0_md(md) ? NULL : EVP_sha256();
    if (EVP_DigestInit_ex2(md, alg, NULL) != 1)
        return -1;
    feed fd = {.md = md};
    feed_put(&fd, tag[v - 1], 14);
    unsigned char num[17];
    be64(num, seq);
    be64(num + 8, (uint64_t)time_ms);
    num[16] = allow ? 1 : 0;
    feed_put(&fd, num, sizeof num);
    for (int i = 0; i < nf + (v == 3); i++) {
        const char *s = i < nf ? f[i] : replica;
        size_t n = i < nf ? len[i] : rlen;
        unsigned char l[8];
        be64(l, n);
        feed_put(&fd, l, 8);
        feed_put(&fd, s, n);
    }
    feed_put(&fd, prev, 32);
    feed_flush(&fd);
    unsigned int n = 0;
    if (fd.bad || EVP_DigestFinal_ex(md, out, &n) != 1 || n != 32)
        return -1;
    return 0;
}

void au_fmt_time(int64_t ms, char out[32])
{
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* "DIR/name" for the folder of path (".", when path has no slash). */
char *au_sibling(const char *path, const char *name)
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

char *au_slurp(const char *path, size_t max, size_t *len)
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
int au_write_file(const char *path, const char *text, size_t len, mode_t mode)
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

writ_status au_parse_keys(const char *text, size_t len, const char *what, wr_jwks *ks, writ_error *err)
{
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    json_t *arr = json_object_get(doc, "keys");
    writ_status st = WRIT_OK;
    if (!json_is_array(arr)) {
        json_decref(doc);
        return au_fail(err, WRIT_EJSON, "audit log: %s is not a JWKS (an object with a \"keys\" array)",
                       what);
    }
    size_t i;
    json_t *k;
    json_array_foreach(arr, i, k)
    {
        wr_jwk jk;
        writ_error e2;
        if ((st = wr_jwk_from_json(k, &jk, &e2)) == WRIT_OK && !jk.kid)
            st = au_fail(&e2, WRIT_EINVAL, "key without a kid");
        if (st == WRIT_OK)
            st = wr_jwks_push(ks, &jk, &e2);
        wr_jwk_clear(&jk);
        if (st != WRIT_OK) {
            au_fail(err, st, "audit log: %s: key %zu: %s", what, i, e2.msg);
            break;
        }
    }
    json_decref(doc);
    return st;
}

int au_check_cp(const wr_jwks *ks, const au_cp_text *c, cp_row *out, char *why, size_t n)
{
    static const char *const typs[] = {CP_TYP, NULL};
    out->seq = c->seq;
    out->time_ms = c->time_ms;
    out->adopted = 0;
    const char *head = c->head, *jws = c->jws;
    if (!head || au_unhex(head, strlen(head), out->head) != 0) {
        snprintf(why, n, "malformed row");
        return -1;
    }
    wr_jws j;
    writ_error e;
    writ_reason r;
    if (!jws || wr_jws_parse(jws, strlen(jws), 4096, typs, true, &j, &r, &e) != WRIT_OK) {
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

int au_check_row(EVP_MD_CTX *md, const au_rec *rec, uint64_t expect, unsigned char prev[32], char *why,
                 size_t n)
{
    const wr_audit_row *row = &rec->row;
    unsigned char p[32], h[32], stored[32];
    if (row->seq != expect) {
        snprintf(why, n, "expected record %llu here: records are missing or inserted",
                 (unsigned long long)expect);
        return -1;
    }
    if (rec->bad_decision) {
        snprintf(why, n, "decision is neither allow nor deny");
        return -1;
    }
    if (rec->bad_type) {
        /* the same bytes as a BLOB hash alike but match no query's "=" */
        snprintf(why, n, "column %s is not stored as the writer stores it (altered)", rec->bad_type);
        return -1;
    }
    if (au_unhex(row->prev, strlen(row->prev), p) != 0 || memcmp(p, prev, 32) != 0) {
        snprintf(why, n, "prev does not match the hash of the record before");
        return -1;
    }
    const char *f[AUDIT_FIELDS] = {row->e.agent,    row->e.chain,    row->e.task,   row->e.action,
                                   row->e.resource, row->e.policies, row->e.errors, row->e.shadow};
    if (au_record_hash(md, row->seq, row->e.time_ms, row->e.allow, f, rec->len, row->replica, prev, h) != 0) {
        snprintf(why, n, "hashing failed");
        return -1;
    }
    if (au_unhex(row->hash, strlen(row->hash), stored) != 0) {
        snprintf(why, n, "hash is not 64 hex digits (edited)");
        return -1;
    }
    /* A record with a replica written before v3 (which hashes it) hashed
     * as v1 or v2.  Taking that too lets nothing else through: a record
     * written as v3 whose replica was edited matches neither input. */
    if (memcmp(stored, h, 32) != 0 && row->replica && *row->replica &&
        au_record_hash(md, row->seq, row->e.time_ms, row->e.allow, f, rec->len, NULL, prev, h) != 0) {
        snprintf(why, n, "hashing failed");
        return -1;
    }
    if (memcmp(stored, h, 32) != 0) {
        snprintf(why, n, "hash does not match the record's contents (edited)");
        return -1;
    }
    memcpy(prev, h, 32);
    return 0;
}

char *au_strdup(const char *s) { return wr_strndup(s, strlen(s)); }
