/* audit_read.c - the audit log's readers: verify a chain, query records.
 * They read through a sink's operations (audit_int.h), so a chain in
 * SQLite and one replica's chain in PostgreSQL are checked by the same
 * code. */
#include "store/audit_int.h"
#include "util/alloc.h"
#include "util/text.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

bool au_is_pg(const char *where)
{
    return !strncmp(where, "postgresql://", 13) || !strncmp(where, "postgres://", 11);
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

typedef struct vstate {
    const wr_jwks *ks;
    wr_audit_verify_result *r;
    cp_row *cps;
    size_t ncp, cap, next;
    EVP_MD_CTX *md;
    unsigned char prev[32];
    uint64_t expect;
    writ_status st;
} vstate;

static int take_cp(void *ctx, const au_cp_text *c)
{
    vstate *v = ctx;
    char why[300];
    if (v->ncp == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 64;
        cp_row *n = wr_realloc(v->cps, nc * sizeof *n);
        if (!n) {
            v->st = WRIT_ENOMEM;
            return 1;
        }
        v->cps = n;
        v->cap = nc;
    }
    if (au_check_cp(v->ks, c, &v->cps[v->ncp], why, sizeof why) != 0) {
        v->st = broken_cp(v->r, c->seq, why);
        return 1;
    }
    v->ncp++;
    return 0;
}

static int take_rec(void *ctx, const au_rec *rec)
{
    vstate *v = ctx;
    char why[300];
    uint64_t seq = rec->row.seq;
    if (au_check_row(v->md, rec, v->expect, v->prev, why, sizeof why) != 0) {
        v->st = broken(v->r, seq, why);
        return 1;
    }
    if (v->next < v->ncp && v->cps[v->next].seq == seq) {
        if (memcmp(v->cps[v->next].head, v->prev, 32) != 0) {
            char m[200];
            snprintf(m, sizeof m,
                     "does not match signed checkpoint %llu: the chain up to it was rewritten (edited and "
                     "re-hashed, or records inserted or removed)",
                     (unsigned long long)seq);
            v->st = broken(v->r, seq, m);
            return 1;
        }
        v->next++;
    }
    v->r->records++;
    v->r->last_seq = seq;
    v->expect++;
    return 0;
}

/* The checkpoint keys from a JWKS file the caller trusts. */
static writ_status file_keys(const char *file, wr_jwks *ks, writ_error *err)
{
    size_t len = 0;
    char *text = au_slurp(file, KEYS_MAX, &len);
    if (!text)
        return au_fail(err, WRIT_EIO, "audit log: cannot read the checkpoint keys %s: %s", file,
                       strerror(errno));
    writ_status st = au_parse_keys(text, len, file, ks, err);
    wr_free(text);
    return st;
}

/* Verify: every checkpoint first (signature and row), kept in order; then
 * the chain, comparing each checkpointed record's hash with the signed
 * head; then checkpoints past the end, and the head.  Every record is
 * read (from 0): one stored with seq 0 or below breaks the chain. */
writ_status au_verify_sink(au_sink *s, const char *keys_file, wr_audit_verify_result *r, writ_error *err)
{
    memset(r, 0, sizeof *r);
    wr_jwks ks = {0};
    vstate v = {.ks = &ks, .r = r, .expect = 1};
    writ_status st = keys_file ? file_keys(keys_file, &ks, err) : s->ops->load_keys(s, &ks, err);
    if (st)
        goto out;
    if ((st = s->ops->checkpoints(s, false, take_cp, &v, err)))
        goto out;
    if ((st = v.st)) {
        if (st == WRIT_ENOMEM)
            au_fail(err, st, "out of memory");
        goto out;
    }
    if (v.ncp == 0 || v.cps[0].seq != 0) {
        st = broken_cp(r, 0,
                       v.ncp ? "missing: every log starts with a signed checkpoint 0 (earlier checkpoints "
                               "were removed)"
                             : "missing, and no signed checkpoint at all: the log was emptied (or was not "
                               "written by writ serve with checkpoints)");
        goto out;
    }
    static const unsigned char zero[32] = {0};
    if (memcmp(v.cps[0].head, zero, 32) != 0) {
        st = broken_cp(r, 0, "its head is not the empty chain");
        goto out;
    }
    v.next = 1;
    if (!(v.md = EVP_MD_CTX_new())) {
        st = au_fail(err, WRIT_ENOMEM, "out of memory");
        goto out;
    }
    if ((st = s->ops->records(s, 0, take_rec, &v, err)) || (st = v.st))
        goto out;
    if (v.next < v.ncp) {
        char m[200], when[32];
        au_fmt_time(v.cps[v.next].time_ms, when);
        snprintf(m, sizeof m,
                 "signed %s for records up to %llu, but the log ends at record %llu: records were removed "
                 "from the end",
                 when, (unsigned long long)v.cps[v.next].seq, (unsigned long long)r->last_seq);
        st = broken_cp(r, v.cps[v.next].seq, m);
        goto out;
    }
    if (r->records)
        wr_hex(r->head, v.prev, 32);
    r->checkpoints = v.ncp;
    for (size_t i = 1; i < v.ncp; i++)
        if (v.cps[i].adopted) {
            uint64_t from = v.cps[i].adopted > v.cps[i - 1].seq ? v.cps[i].adopted : v.cps[i - 1].seq + 1;
            r->adopted += v.cps[i].seq - from + 1;
            r->adopted_first = from;
            r->adopted_last = v.cps[i].seq;
        }
    r->signed_seq = v.cps[v.ncp - 1].seq;
    r->signed_time_ms = v.cps[v.ncp - 1].time_ms;
out:
    wr_free(v.cps);
    wr_jwks_clear(&ks);
    EVP_MD_CTX_free(v.md);
    return st;
}

writ_status wr_audit_verify(const char *path, const char *keys_file, wr_audit_verify_result *r,
                            writ_error *err)
{
    memset(r, 0, sizeof *r);
    au_sink *s = NULL;
    writ_status st = au_sqlite_open(path, keys_file, false, false, &s, err);
    if (st)
        return st;
    st = au_verify_sink(s, NULL, r, err);
    s->ops->close(s);
    return st;
}

writ_status wr_audit_verify_each(const char *where, const char *keys_file, wr_audit_verify_fn fn, void *ctx,
                                 writ_error *err)
{
    if (!au_is_pg(where)) {
        wr_audit_verify_result r;
        writ_status st = wr_audit_verify(where, keys_file, &r, err);
        if (st != WRIT_OK && st != WRIT_EVALIDATE)
            return st;
        fn(ctx, NULL, &r, st);
        return st;
    }
    char **names = NULL;
    size_t n = 0;
    writ_status st = au_pg_replicas(where, &names, &n, err), worst = WRIT_OK;
    if (st)
        return st;
    if (n == 0)
        worst = au_fail(err, WRIT_EVALIDATE, "audit log: no replica has written to this database");
    for (size_t i = 0; i < n && (worst == WRIT_OK || worst == WRIT_EVALIDATE); i++) {
        au_sink *s = NULL;
        wr_audit_verify_result r;
        memset(&r, 0, sizeof r);
        st = au_pg_open(where, names[i], false, NULL, &s, err);
        if (st == WRIT_OK) {
            st = au_verify_sink(s, keys_file, &r, err);
            s->ops->close(s);
        }
        if (st != WRIT_OK && st != WRIT_EVALIDATE) {
            worst = st;
            break;
        }
        fn(ctx, names[i], &r, st);
        if (st == WRIT_EVALIDATE)
            worst = st;
    }
    for (size_t i = 0; i < n; i++)
        wr_free(names[i]);
    wr_free(names);
    return worst;
}

writ_status wr_audit_query(const char *path, const wr_audit_filter *f, wr_audit_row_fn fn, void *ctx,
                           writ_error *err)
{
    return au_is_pg(path) ? au_pg_query(path, f, fn, ctx, err) : au_sqlite_query(path, f, fn, ctx, err);
}
