/* store.c - the store interface: picks a backend from the `state` setting
 * and forwards each operation to it. */
#include "store/store_int.h"
#include "util/alloc.h"

#include <stdio.h>
#include <string.h>

static writ_status st_fail(writ_error *err, writ_status st, const char *msg)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = st;
        snprintf(err->msg, sizeof err->msg, "%s", msg);
    }
    return st;
}

writ_status wr_store_open(const char *spec, const char *sqlite_path, wr_store **out, writ_error *err)
{
    return wr_store_open_opts(spec, sqlite_path, NULL, out, err);
}

writ_status wr_store_open_opts(const char *spec, const char *sqlite_path, const wr_store_opts *o,
                               wr_store **out, writ_error *err)
{
    static const wr_store_opts none;
    *out = NULL;
    if (!o)
        o = &none;
    bool tls = spec && strncmp(spec, "rediss://", 9) == 0;
    if (!tls && ((o->tls_ca && *o->tls_ca) || (o->tls_cert && *o->tls_cert) || (o->tls_key && *o->tls_key)))
        return st_fail(err, WRIT_EINVAL,
                       "state: state_tls_ca, state_tls_cert and state_tls_key are for a rediss:// state only "
                       "(TLS to Redis); drop them or use rediss://");
    if (!spec || !*spec || strcmp(spec, "sqlite") == 0)
        return wr_sqlite_store_open(sqlite_path, out, err);
    if (tls || strncmp(spec, "redis://", 8) == 0)
        return wr_redis_store_open(spec, o, out, err);
    char msg[240];
    snprintf(msg, sizeof msg,
             "state: unsupported backend \"%.120s\" (expected \"sqlite\", redis://HOST:PORT[/DB] or "
             "rediss://HOST:PORT[/DB])",
             spec);
    return st_fail(err, WRIT_EINVAL, msg);
}

void wr_store_close(wr_store *st)
{
    if (st)
        st->ops->close(st);
}

const char *wr_store_backend(const wr_store *st) { return st->ops->name; }
bool wr_store_shared(const wr_store *st) { return st->ops->shared; }

static const char *const status_names[] = {"pending", "approved", "denied", "consumed", "expired"};

const char *wr_approval_status_name(wr_approval_status s)
{
    return (unsigned)s < sizeof status_names / sizeof *status_names ? status_names[s] : "unknown";
}

int wr_approval_status_parse(const char *name)
{
    for (size_t i = 0; i < sizeof status_names / sizeof *status_names; i++)
        if (strcmp(name, status_names[i]) == 0)
            return (int)i;
    return -1;
}

void wr_approval_clear(wr_approval *a)
{
    if (!a)
        return;
    wr_free(a->agent);
    wr_free(a->action);
    wr_free(a->resource);
    wr_free(a->task_id);
    wr_free(a->task_purpose);
    wr_free(a->chain);
    wr_free(a->input);
    wr_free(a->decided_by);
    wr_free(a->reason);
    memset(a, 0, sizeof *a);
}

void wr_approvals_free(wr_approval *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        wr_approval_clear(&list[i]);
    wr_free(list);
}

writ_status wr_store_approval_take(wr_store *st, const wr_approval *want, uint32_t max_pending,
                                   int64_t now_ms, wr_take *res, wr_approval *out, writ_error *err)
{
    memset(out, 0, sizeof *out); /* a failing backend leaves nothing half-made */
    return st->ops->approval_take(st, want, max_pending, now_ms, res, out, err);
}

writ_status wr_store_approval_get(wr_store *st, const char *id, int64_t now_ms, wr_approval *out, bool *found,
                                  writ_error *err)
{
    memset(out, 0, sizeof *out);
    *found = false;
    return st->ops->approval_get(st, id, now_ms, out, found, err);
}

writ_status wr_store_approval_page(wr_store *st, int status, const wr_approval_pos *after, size_t limit,
                                   int64_t now_ms, wr_approval **out, size_t *n, bool *more, writ_error *err)
{
    *out = NULL;
    *n = 0;
    *more = false;
    if (limit < 1 || limit > WR_APPROVAL_PAGE_MAX)
        return st_fail(err, WRIT_EINVAL, "state: a page of approvals holds 1 to 1000");
    /* one more than the page: are there more? */
    writ_status rc = st->ops->approval_page(st, status, after, limit + 1, now_ms, out, n, err);
    if (!rc && *n > limit) {
        wr_approval_clear(&(*out)[limit]);
        *n = limit;
        *more = true;
    }
    return rc;
}

/* Move the n approvals of v to the end of *list (v is freed). */
static writ_status append_page(wr_approval **list, size_t *len, wr_approval *v, size_t n, writ_error *err)
{
    if (n) {
        wr_approval *l = wr_realloc(*list, (*len + n) * sizeof *l);
        if (!l) {
            wr_approvals_free(v, n);
            return st_fail(err, WRIT_ENOMEM, "state: out of memory");
        }
        memcpy(l + *len, v, n * sizeof *v);
        *list = l;
        *len += n;
    }
    wr_free(v);
    return WRIT_OK;
}

writ_status wr_store_approval_list(wr_store *st, int status, int64_t now_ms, wr_approval **out, size_t *n,
                                   writ_error *err)
{
    *out = NULL;
    *n = 0;
    wr_approval_pos pos;
    const wr_approval_pos *after = NULL;
    bool more = true;
    while (more) {
        wr_approval *v;
        size_t k;
        writ_status rc =
            wr_store_approval_page(st, status, after, WR_APPROVAL_PAGE_MAX, now_ms, &v, &k, &more, err);
        if (!rc)
            rc = append_page(out, n, v, k, err);
        if (rc) {
            wr_approvals_free(*out, *n);
            *out = NULL;
            *n = 0;
            return rc;
        }
        if (!*n)
            break;
        pos.created_ms = (*out)[*n - 1].created_ms;
        memcpy(pos.id, (*out)[*n - 1].id, sizeof pos.id);
        after = &pos;
    }
    return WRIT_OK;
}

writ_status wr_store_approval_decide(wr_store *st, const char *id, bool approve, const char *by,
                                     const char *reason, int64_t now_ms, wr_decide_result *res,
                                     wr_approval *out, writ_error *err)
{
    memset(out, 0, sizeof *out);
    return st->ops->approval_decide(st, id, approve, by, reason, now_ms, res, out, err);
}

writ_status wr_store_approval_expired(wr_store *st, int64_t now_ms, wr_approval **out, size_t *n,
                                      writ_error *err)
{
    *out = NULL;
    *n = 0;
    return st->ops->approval_expired(st, now_ms, out, n, err);
}

writ_status wr_store_approval_prune(wr_store *st, int64_t before_ms, size_t *removed, writ_error *err)
{
    *removed = 0;
    return st->ops->approval_prune(st, before_ms, removed, err);
}

writ_status wr_store_counter_add(wr_store *st, const char *limit, const char *key, int64_t bucket,
                                 int64_t delta, int64_t expires_ms, writ_error *err)
{
    return st->ops->counter_add(st, limit, key, bucket, delta, expires_ms, err);
}

writ_status wr_store_counter_add_many(wr_store *st, const wr_counter_delta *d, size_t n, writ_error *err)
{
    if (st->ops->counter_add_many)
        return st->ops->counter_add_many(st, d, n, err);
    for (size_t i = 0; i < n; i++) {
        writ_status s =
            st->ops->counter_add(st, d[i].limit, d[i].key, d[i].bucket, d[i].delta, d[i].expires_ms, err);
        if (s)
            return s;
    }
    return WRIT_OK;
}

writ_status wr_store_counter_sum(wr_store *st, const char *limit, const char *key, int64_t first,
                                 int64_t last, int64_t *sum, writ_error *err)
{
    *sum = 0;
    return st->ops->counter_sum(st, limit, key, first, last, sum, err);
}

writ_status wr_store_counter_take(wr_store *st, const char *limit, const char *key, int64_t first,
                                  int64_t last, int64_t at, int64_t delta, int64_t expires_ms, int64_t *sum,
                                  writ_error *err)
{
    *sum = 0;
    if (at < first || at > last)
        return st_fail(err, WRIT_EINVAL, "state: counter take: the bucket added to is not in the range read");
    return st->ops->counter_take(st, limit, key, first, last, at, delta, expires_ms, sum, err);
}

writ_status wr_store_counter_scan(wr_store *st, const char *limit, int64_t now_ms,
                                  bool (*fn)(void *ud, const char *key, int64_t bucket, int64_t value,
                                             int64_t expires_ms),
                                  void *ud, writ_error *err)
{
    return st->ops->counter_scan(st, limit, now_ms, fn, ud, err);
}

writ_status wr_store_revocation_publish(wr_store *st, int kind, const char *value, size_t len, int64_t until,
                                        writ_error *err)
{
    if (kind < 1 || kind > 4)
        return st_fail(err, WRIT_EINVAL, "state: revocation: unknown kind");
    if (!value || len == 0 || len > 2048 || memchr(value, '\0', len))
        return st_fail(err, WRIT_EINVAL, "state: revocation: value must be 1..2048 bytes without NUL");
    if (until < 0)
        return st_fail(err, WRIT_EINVAL, "state: revocation: until must be >= 0");
    return st->ops->revocation_publish(st, kind, value, len, until, err);
}

writ_status wr_store_revocation_follow(wr_store *st, char cursor[WR_REV_CURSOR_MAX], int wait_ms,
                                       bool (*fn)(void *ud, int kind, const char *value, size_t len,
                                                  int64_t until),
                                       void *ud, bool *lost, writ_error *err)
{
    bool lost_here = false;
    if (lost)
        *lost = false;
    if (!memchr(cursor, '\0', WR_REV_CURSOR_MAX))
        return st_fail(err, WRIT_EINVAL, "state: revocation cursor is not terminated");
    return st->ops->revocation_follow(st, cursor, wait_ms < 0 ? 0 : wait_ms, fn, ud, lost ? lost : &lost_here,
                                      err);
}

/* upstream and owner within their bounds, the id 1..WR_MCP_TASK_ID_MAX
 * bytes without NUL */
static writ_status mcp_task_args(const char *upstream, const char *id, size_t idlen, const char *owner,
                                 writ_error *err)
{
    size_t ul = upstream ? strnlen(upstream, WR_MCP_TASK_NAME_MAX + 1) : 0;
    if (ul == 0 || ul > WR_MCP_TASK_NAME_MAX)
        return st_fail(err, WRIT_EINVAL, "state: mcp task: the upstream's name must be 1..256 bytes");
    if (!id || idlen == 0 || idlen > WR_MCP_TASK_ID_MAX || memchr(id, '\0', idlen))
        return st_fail(err, WRIT_EINVAL, "state: mcp task: the task id must be 1..8192 bytes without NUL");
    size_t ol = owner ? strnlen(owner, WR_MCP_TASK_OWNER_MAX + 1) : 1;
    if (ol == 0 || ol > WR_MCP_TASK_OWNER_MAX)
        return st_fail(err, WRIT_EINVAL, "state: mcp task: the owner must be 1..4096 bytes");
    return WRIT_OK;
}

writ_status wr_store_mcp_task_bind(wr_store *st, const char *upstream, const char *id, size_t idlen,
                                   const char *owner, int64_t expires_ms, uint32_t max_per_owner,
                                   int64_t now_ms, bool *mine, writ_error *err)
{
    *mine = false;
    writ_status rc = mcp_task_args(upstream, id, idlen, owner ? owner : "", err);
    if (rc)
        return rc;
    return st->ops->mcp_task_bind(st, upstream, id, idlen, owner, expires_ms, max_per_owner, now_ms, mine,
                                  err);
}

writ_status wr_store_mcp_task_owner(wr_store *st, const char *upstream, const char *id, size_t idlen,
                                    int64_t now_ms, char owner[WR_MCP_TASK_OWNER_MAX + 1],
                                    int64_t *expires_ms, bool *found, writ_error *err)
{
    owner[0] = '\0';
    *expires_ms = 0;
    *found = false;
    writ_status rc = mcp_task_args(upstream, id, idlen, NULL, err);
    if (rc)
        return rc;
    rc = st->ops->mcp_task_owner(st, upstream, id, idlen, now_ms, owner, expires_ms, found, err);
    if (rc || !*found) { /* a failing backend leaves nothing half-made */
        owner[0] = '\0';
        *expires_ms = 0;
        *found = false;
    }
    return rc;
}
