/* snapshot.c - refcounted policy snapshots and atomic reload (see snapshot.h). */
#include "server/snapshot.h"
#include "shadow/shadow.h"
#include "util/alloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define SNAP_MAX_FILE ((size_t)256 << 20)
#define SNAP_FILES 4

struct srv_policy_store {
    pthread_mutex_t mu; /* guards cur, generations, degraded, failure */
    srv_snapshot *cur;
    char *paths[SNAP_FILES]; /* policies, entities, schema, shadow candidate ("" = none) */
    /* The main thread alone loads and polls, so these need no lock. */
    srv_file_stamp stamps[SNAP_FILES]; /* as of the start of the last load attempt */
    srv_file_stamp seen[SNAP_FILES];   /* as of the previous snap_files_changed */
    bool have_seen;
    uint64_t next_generation;
    bool degraded;                                /* the last reload was refused ... */
    char failure[sizeof(((writ_error *)0)->msg)]; /* ... for this reason */
};

/* Copy src into dst (cap bytes), cut short if need be. */
static void copy_msg(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memmove(dst, src, n);
    dst[n] = '\0';
}

static writ_status io_fail(writ_error *err, const char *what, const char *path, const char *why)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = WRIT_EIO;
        snprintf(err->msg, sizeof err->msg, "%s %s: %s", what, path, why);
    }
    return WRIT_EIO;
}

/* Prefix err->msg with the file it came from, keeping line:col. */
static void in_file(writ_error *err, const char *path)
{
    if (!err)
        return;
    char m[sizeof err->msg + 300], pos[48];
    snprintf(pos, sizeof pos, "%u:%u: ", err->line, err->col);
    if (err->line && !strncmp(err->msg, pos, strlen(pos)))
        snprintf(m, sizeof m, "%s:%s", path, err->msg); /* the message starts with the position */
    else if (err->line)
        snprintf(m, sizeof m, "%s:%u:%u: %s", path, err->line, err->col, err->msg);
    else
        snprintf(m, sizeof m, "%s: %s", path, err->msg);
    copy_msg(err->msg, sizeof err->msg, m);
}

static const char changed_msg[] =
    "changed while being loaded (still being written?); retried when it changes again";

/* The whole file, NUL-terminated.  A read that does not come to the size the
 * file had when opened (it is being written) is refused. */
static char *read_file(const char *path, size_t *len, writ_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        io_fail(err, "cannot read", path, strerror(errno));
        return NULL;
    }
    struct stat at_open;
    if (fstat(fileno(f), &at_open) != 0) {
        io_fail(err, "cannot read", path, strerror(errno));
        fclose(f);
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (cap - n < 65536) {
            if (cap >= SNAP_MAX_FILE) {
                io_fail(err, "cannot read", path, "file too large");
                goto bad;
            }
            cap = cap ? cap * 2 : 65536;
            char *nb = wr_realloc(buf, cap + 1);
            if (!nb) {
                io_fail(err, "cannot read", path, "out of memory");
                goto bad;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    if (ferror(f)) {
        io_fail(err, "cannot read", path, "read error");
        goto bad;
    }
    if (S_ISREG(at_open.st_mode) && (off_t)n != at_open.st_size) {
        io_fail(err, "cannot load", path, changed_msg);
        goto bad;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
bad:
    fclose(f);
    wr_free(buf);
    return NULL;
}

static void stamp(const char *path, srv_file_stamp *s)
{
    struct stat st;
    memset(s, 0, sizeof *s);
    if (!path || !*path)
        return;
    if (stat(path, &st) != 0) {
        s->missing = 1;
        return;
    }
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->size = st.st_size;
    s->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    s->ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
}

static void snap_free(srv_snapshot *s)
{
    if (!s)
        return;
    writ_entities_free(s->es);
    writ_schema_free(s->schema);
    writ_policyset_free(s->ps);
    shd_free(s->shadow);
    wr_free(s->approval_id);
    wr_free(s->approval_val);
    wr_free(s);
}

/* With a schema, a policy set that does not validate is refused like one
 * that does not parse: the error names the first offending policy and its
 * position (text is the policy file, for line:col). */
static writ_status refuse_invalid(const srv_snapshot *s, const char *text, size_t len, writ_error *err)
{
    writ_validation *v = NULL;
    writ_validate_options opt = {text, len, false};
    writ_status rc = writ_validate(s->schema, s->ps, &opt, &v, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < v->nissues && v->nerrors; i++) {
        const writ_validation_issue *it = &v->issues[i];
        if (it->warning)
            continue;
        memset(err, 0, sizeof *err);
        err->code = rc = WRIT_EVALIDATE;
        err->line = it->line;
        err->col = it->col;
        err->offset = it->offset;
        snprintf(err->msg, sizeof err->msg, "%u:%u: policy %s does not validate against the schema: %s%s",
                 it->line, it->col, it->policy_id, it->message,
                 v->nerrors > 1 ? " (and more; see `writ validate`)" : "");
        break;
    }
    writ_validation_free(v);
    return rc;
}

static writ_status load(srv_policy_store *st, srv_snapshot **out, writ_error *err)
{
    *out = NULL;
    for (int i = 0; i < SNAP_FILES; i++)
        stamp(st->paths[i], &st->stamps[i]);
    srv_snapshot *s = wr_calloc(1, sizeof *s);
    if (!s)
        return io_fail(err, "loading", "policies", "out of memory");
    char *text = NULL, *ptext = NULL;
    size_t len, plen = 0;
    writ_status rc;
    if (!(text = read_file(st->paths[0], &len, err))) {
        rc = WRIT_EIO;
        goto bad;
    }
    /* @mode("shadow") policies are left out of the set in force and kept
     * on the side (src/shadow/) */
    if ((rc = writ_policyset_parse_flags(text, len, WRIT_PS_ID_ANNOTATION | WRIT_PS_EXCLUDE_SHADOW, &s->ps,
                                         err)) ||
        (rc = shd_load_live(text, len, &s->shadow, err))) {
        in_file(err, st->paths[0]);
        goto bad;
    }
    ptext = text; /* kept for the validator */
    plen = len;
    text = NULL;
    if (*st->paths[3]) {
        if (!(text = read_file(st->paths[3], &len, err))) {
            rc = WRIT_EIO;
            goto bad;
        }
        if ((rc = shd_load_candidate(&s->shadow, text, len, err))) {
            in_file(err, st->paths[3]);
            goto bad;
        }
        shd_attach_live(s->shadow, s->ps);
        wr_free(text);
        text = NULL;
    }
    {
        size_t np = writ_policyset_count(s->ps);
        s->approval_id = wr_calloc(np ? np : 1, sizeof *s->approval_id);
        s->approval_val = wr_calloc(np ? np : 1, sizeof *s->approval_val);
        if (!s->approval_id || !s->approval_val) {
            rc = io_fail(err, "loading", "policies", "out of memory");
            goto bad;
        }
        for (size_t i = 0; i < np; i++) {
            const char *ap = writ_policyset_annotation(s->ps, i, "approval");
            if (ap && strcmp(ap, "required")) {
                /* a typo ("Required", "required ") would leave the action unapproved */
                if (err) {
                    memset(err, 0, sizeof *err);
                    err->code = WRIT_EINVAL;
                    snprintf(
                        err->msg, sizeof err->msg,
                        "loading %.100s: policy %.50s: @approval(\"%.20s\"): the one value is \"required\"",
                        st->paths[0], writ_policyset_id(s->ps, i), ap);
                }
                rc = WRIT_EINVAL;
                goto bad;
            }
            if (ap) {
                s->approval_id[s->napprovals] = writ_policyset_id(s->ps, i);
                s->approval_val[s->napprovals++] = ap;
            }
        }
    }
    if (*st->paths[2]) {
        if (!(text = read_file(st->paths[2], &len, err))) {
            rc = WRIT_EIO;
            goto bad;
        }
        if ((rc = writ_schema_parse(text, len, &s->schema, err))) {
            in_file(err, st->paths[2]);
            goto bad;
        }
        wr_free(text);
        text = NULL;
        if ((rc = refuse_invalid(s, ptext, plen, err))) {
            in_file(err, st->paths[0]);
            goto bad;
        }
    }
    wr_free(ptext);
    ptext = NULL;
    if (*st->paths[1]) {
        if (!(text = read_file(st->paths[1], &len, err))) {
            rc = WRIT_EIO;
            goto bad;
        }
    } else {
        len = 2;
        text = wr_strndup("[]", 2);
    }
    if (!text) {
        rc = io_fail(err, "loading", "entities", "out of memory");
        goto bad;
    }
    if ((rc = writ_entities_parse(text, len, s->schema, &s->es, err))) {
        in_file(err, *st->paths[1] ? st->paths[1] : "(no entities)");
        goto bad;
    }
    wr_free(text);
    text = NULL;
    /* Every file as it was before the first read, or the set may mix two
     * versions of one file (or hold part of one): refuse it whole. */
    for (int i = 0; i < SNAP_FILES; i++) {
        srv_file_stamp now;
        stamp(st->paths[i], &now);
        if (memcmp(&now, &st->stamps[i], sizeof now) != 0) {
            rc = io_fail(err, "cannot load", st->paths[i], changed_msg);
            goto bad;
        }
    }
    atomic_init(&s->refs, 1);
    *out = s;
    return WRIT_OK;
bad:
    wr_free(text);
    wr_free(ptext);
    snap_free(s);
    return rc;
}

writ_status snap_store_open(const char *policies, const char *entities, const char *schema,
                            const char *shadow, srv_policy_store **out, writ_error *err)
{
    *out = NULL;
    srv_policy_store *st = wr_calloc(1, sizeof *st);
    if (!st)
        return io_fail(err, "loading", "policies", "out of memory");
    const char *p[SNAP_FILES] = {policies, entities ? entities : "", schema ? schema : "",
                                 shadow ? shadow : ""};
    for (int i = 0; i < SNAP_FILES; i++)
        if (!(st->paths[i] = wr_strndup(p[i], strlen(p[i])))) {
            snap_store_close(st);
            return io_fail(err, "loading", "policies", "out of memory");
        }
    pthread_mutex_init(&st->mu, NULL);
    writ_status rc = load(st, &st->cur, err);
    if (rc) {
        snap_store_close(st);
        return rc;
    }
    st->cur->generation = ++st->next_generation;
    *out = st;
    return WRIT_OK;
}

void snap_store_close(srv_policy_store *st)
{
    if (!st)
        return;
    if (st->cur) {
        snap_release(st->cur);
        pthread_mutex_destroy(&st->mu);
    }
    for (int i = 0; i < SNAP_FILES; i++)
        wr_free(st->paths[i]);
    wr_free(st);
}

srv_snapshot *snap_acquire(srv_policy_store *st)
{
    pthread_mutex_lock(&st->mu);
    srv_snapshot *s = st->cur;
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&st->mu);
    return s;
}

void snap_release(srv_snapshot *s)
{
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        snap_free(s);
}

writ_status snap_reload(srv_policy_store *st, writ_error *err)
{
    writ_error local;
    if (!err)
        err = &local;
    srv_snapshot *s;
    writ_status rc = load(st, &s, err);
    if (rc) {
        pthread_mutex_lock(&st->mu);
        st->degraded = true;
        copy_msg(st->failure, sizeof st->failure, err->msg);
        pthread_mutex_unlock(&st->mu);
        return rc;
    }
    pthread_mutex_lock(&st->mu);
    s->generation = ++st->next_generation;
    srv_snapshot *old = st->cur;
    st->cur = s;
    st->degraded = false;
    st->failure[0] = '\0';
    pthread_mutex_unlock(&st->mu);
    snap_release(old);
    return WRIT_OK;
}

void snap_refuse(srv_policy_store *st, const char *why)
{
    pthread_mutex_lock(&st->mu);
    st->degraded = true;
    copy_msg(st->failure, sizeof st->failure, why);
    pthread_mutex_unlock(&st->mu);
}

bool snap_degraded(srv_policy_store *st, char *reason, size_t cap)
{
    pthread_mutex_lock(&st->mu);
    bool d = st->degraded;
    if (d && reason && cap)
        copy_msg(reason, cap, st->failure);
    pthread_mutex_unlock(&st->mu);
    return d;
}

int snap_files_changed(srv_policy_store *st)
{
    srv_file_stamp now[SNAP_FILES];
    for (int i = 0; i < SNAP_FILES; i++)
        stamp(st->paths[i], &now[i]);
    if (memcmp(now, st->stamps, sizeof now) == 0) {
        st->have_seen = false;
        return SNAP_SAME;
    }
    /* Changed since the last load: load it once it has stopped changing. */
    bool settled = st->have_seen && memcmp(now, st->seen, sizeof now) == 0;
    memcpy(st->seen, now, sizeof now);
    st->have_seen = true;
    return settled ? SNAP_CHANGED : SNAP_SETTLING;
}

uint64_t snap_generation(srv_policy_store *st)
{
    pthread_mutex_lock(&st->mu);
    uint64_t g = st->cur->generation;
    pthread_mutex_unlock(&st->mu);
    return g;
}
