/* history.c - the task-history limits in a decision (src/limits/,
 * docs/LIMITS.md): which counts a request reads and adds to, and the
 * context.history record the policies see.
 *
 * The keys.  `per agent` counts by the principal's id.  `per task` by the
 * task id of the verified task token; a vouching caller's (AuthZEN
 * without a token) context.task.id otherwise.  `per root` by the first
 * agent of the chain (the token's act chain, root first; a vouching
 * caller's context.chain), so every delegate of a tree counts together
 * across all of the root's tasks.  What cannot be established takes its
 * most restrictive value, as every fact does (facts.c): without a task, the
 * task key is "" - every task-less request shares ONE count per limit, so
 * leaving the task out never escapes a limit, it only meets it sooner;
 * without a chain the root is the principal itself.
 *
 * context.history is Writ's alone: whatever `history` the caller sent is
 * removed, vouching or not.  With a schema, it is set only where the
 * action's context declares `history`, and only the attributes that record
 * declares (an undeclared one would make the request invalid); a required
 * attribute no limit fills makes the request fail to build - a deny with
 * the reason, never a forbid skipped.  Without a schema it is set when a
 * limit matches the action. */
#include "cedar/reqbuild.h"
#include "limits/limits.h"
#include "server/server_int.h"
#include "util/alloc.h"
#include "util/clock.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void hlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#include <stdarg.h>
static void hlog(const char *fmt, ...)
{
    char ts[32], msg[600];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s writ serve: %s\n", ts, msg);
}

/* The set of the lines of cfg; errors name the file and line. */
static writ_status build_set(const srv_config *cfg, const char *file, wr_limit_set **out, writ_error *err)
{
    *out = wr_limit_set_new();
    if (!*out) {
        memset(err, 0, sizeof *err);
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return WRIT_ENOMEM;
    }
    for (size_t i = 0; i < cfg->nlimits; i++) {
        uint32_t line = cfg->limit_lines ? cfg->limit_lines[i] : 0;
        writ_status st = wr_limit_set_add(*out, cfg->limits[i], line, err);
        if (st) {
            char m[sizeof err->msg];
            size_t k = (size_t)snprintf(m, sizeof m, "%.120s%s", line && file ? file : "--limit",
                                        line && file ? ":" : ": ");
            const char *rest = line && file ? err->msg + strlen("line ") : err->msg;
            size_t rn = strnlen(rest, sizeof m - k - 1);
            memmove(m + k, rest, rn);
            m[k + rn] = '\0';
            memcpy(err->msg, m, sizeof m);
            wr_limit_set_release(*out);
            *out = NULL;
            return st;
        }
    }
    return WRIT_OK;
}

writ_status srv_history_open(srv *s, writ_error *err)
{
    wr_limit_set *set = NULL;
    writ_status st = build_set(s->cfg, s->cfg->config_path, &set, err);
    if (st)
        return st;
    /* the one state store (state.c): SQLite keeps the rings in memory and
     * writes behind; a shared one (Redis) is read and incremented on every
     * decision, so replicas count together (limits.h) */
    st = wr_limits_open(s->state, NULL, &s->limits, err);
    if (!st)
        st = wr_limits_install(s->limits, set, wr_wall_ms(), err); /* takes set */
    else
        wr_limit_set_release(set);
    if (st)
        return st;
    if (s->cfg->nlimits)
        hlog("%zu task-history limit%s (state %s)", s->cfg->nlimits, s->cfg->nlimits == 1 ? "" : "s",
             s->state ? wr_store_backend(s->state) : "memory");
    return WRIT_OK;
}

void srv_history_close(srv *s)
{
    wr_limits_close(s->limits);
    s->limits = NULL;
}

writ_status srv_history_reread(srv *s, wr_limit_set **out, writ_error *err)
{
    *out = NULL;
    if (!s->cfg->config_path || s->cfg->limits_from_flags)
        return build_set(s->cfg, s->cfg->config_path, out, err);
    srv_config fresh;
    srv_config_defaults(&fresh);
    writ_status st = srv_config_load(&fresh, s->cfg->config_path, err);
    if (!st)
        st = build_set(&fresh, s->cfg->config_path, out, err);
    srv_config_free(&fresh);
    return st;
}

writ_status srv_history_install(srv *s, wr_limit_set *set, writ_error *err)
{
    size_t n = set->n;
    writ_status st = wr_limits_install(s->limits, set, wr_wall_ms(), err);
    if (!st)
        hlog("task-history limits in force: %zu", n);
    return st;
}

typedef struct kind_ud {
    const srv *s;
    const srv_snapshot *snap;
    const char *aid;
} kind_ud;

static int kind(void *ud, const char *name)
{
    const kind_ud *k = ud;
    if (!k->snap->schema)
        return '?';
    int r = writ_schema_context_kind(k->snap->schema, k->s->action_type, k->aid, "history", name);
    return r < 0 ? 0 : r;
}

/* A NUL-free copy of (p, n) into buf, or NULL. */
static const char *cstr(const char *p, size_t n, char *buf, size_t cap)
{
    if (n >= cap || memchr(p, '\0', n))
        return NULL;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

int srv_history_context(srv *s, const srv_snapshot *snap, const srv_ask *a, json_t *ctx, srv_history *h,
                        bool take, char *why, size_t wn)
{
    /* h cleared but for h->h.m[] (kilobytes: only m[0..n) is ever read)
     * and agent_buf (filled below before any use) */
    memset(&h->h, 0, offsetof(wr_history, m));
    memset(&h->k, 0, sizeof h->k);
    h->direct = false;
    if (json_object_size(ctx))           /* (an empty one, a lean split's usual tree, holds none) */
        json_object_del(ctx, "history"); /* Writ's alone */
    /* (no limit, no schema: nothing to read, count or set -- with a schema
     * an empty history record is set where the context declares one) */
    if (!s->limits || (!snap->schema && !wr_limits_in_force(s->limits)))
        return 0;
    char aid[256], agent[1024];
    if (!cstr(a->action.id, a->action.id_len, aid, sizeof aid) ||
        !cstr(a->principal.id, a->principal.id_len, agent, sizeof agent)) {
        snprintf(why, wn,
                 "task-history limits: an action or agent id too long or holding NUL cannot be counted");
        return -1;
    }
    const srv_task *t = a->task;
    const char *task = t ? t->task : NULL, *root = NULL;
    const json_t *chain = t ? t->chain : NULL;
    if (!t && a->vouched) {
        const json_t *id = json_object_get(json_object_get(ctx, "task"), "id");
        task = json_is_string(id) ? json_string_value(id) : NULL;
        chain = json_object_get(ctx, "chain");
    }
    const json_t *r0 = json_is_array(chain) ? json_array_get(chain, 0) : NULL;
    root = json_is_string(r0) ? json_string_value(r0) : agent;
    /* the keys live as long as the ask (token, context) or in h */
    memcpy(h->agent_buf, agent, a->principal.id_len + 1);
    h->k.task = task ? task : "";
    h->k.agent = h->agent_buf;
    h->k.root = root == agent ? h->agent_buf : root;
    kind_ud ku = {s, snap, aid};
    json_t *obj = NULL;
    writ_error err;
    /* without a schema the values go straight into the Cedar request
     * (srv_history_request): no JSON built, read and freed again; with one,
     * through the JSON context, which the schema checks */
    h->direct = !snap->schema;
    /* without a schema every value is in (kind '?'): no call per limit */
    /* a sum's value: in ctx, or where ctx has no such member, in the
     * split's values or the members given as Cedar values */
    const struct cv_record *vals = a->context_split ? cedar_split_base(a->context_split) : a->given_record;
    /* a request decided again takes its count now (limits.h); else an
     * allow takes it (srv_history_take), and a search's candidate (quiet)
     * is never counted, so only reads */
    if (wr_history_begin(s->limits, aid, &h->k, ctx, vals, snap->schema ? kind : NULL, &ku, wr_wall_ms(),
                         take && !a->quiet, h->direct ? NULL : &obj, &h->h, &err)) {
        snprintf(why, wn, "task-history limits: %.260s", err.msg);
        return -1;
    }
    if (h->direct)
        return 0;
    bool set = snap->schema ? srv_ctx_wants(s, snap, aid, "history") : h->h.n > 0;
    if (set && json_object_set_new(ctx, "history", obj)) {
        snprintf(why, wn, "out of memory");
        return -1;
    }
    if (!set)
        json_decref(obj);
    return 0;
}

writ_status srv_history_request(const srv_history *h, writ_request *rq, writ_error *err)
{
    if (!h->direct || h->h.n == 0)
        return WRIT_OK;
    /* the record's fields in name order (the set's order), with the
     * set's Cedar strings: m[] holds the matching limits in set order, so
     * limit i's is m[the number of matching limits before i] */
    const wr_limit_set *set = h->h.set;
    cedar_number_field f[WR_LIMITS_MAX];
    size_t n = 0;
    for (size_t k = 0; k < set->n; k++) {
        unsigned i = set->order[k];
        if (!(h->h.matched >> i & 1))
            continue;
        size_t j = h->h.n == set->n ? i : (size_t)__builtin_popcountll(h->h.matched & ((1ull << i) - 1));
        const char *name;
        if (wr_history_value(&h->h, j, &name, &f[n].value, &f[n].decimal))
            f[n++].name = set->cname[i];
    }
    return cedar_request_context_sorted(rq, set->chistory, f, n, err);
}

int srv_history_take(srv *s, srv_history *h, char *why, size_t wn)
{
    if (!s->limits || !h->h.set)
        return 0;
    writ_error err;
    bool changed = false;
    if (wr_history_take(s->limits, &h->h, &changed, &err)) {
        snprintf(why, wn, "task-history limits: %.260s", err.msg);
        return -1;
    }
    if (!changed)
        return 0;
    srv_history_end(h);
    return 1;
}

void srv_history_count(srv *s, srv_history *h)
{
    writ_error err;
    if (s->limits && h->h.set && wr_history_commit(s->limits, &h->h, &err))
        hlog("task-history limits: an allowed request was not counted: %s", err.msg);
}

void srv_history_end(srv_history *h)
{
    writ_error err;
    if (wr_history_end(&h->h, &err))
        hlog("task-history limits: a denied request's count could not be given back (it stays counted): %s",
             err.msg);
}

void srv_history_metrics(srv *s, sbuf *b)
{
    if (!s->limits)
        return;
    wr_limits_stat t;
    wr_limits_stats(s->limits, &t);
    sb_printf(b,
              "# HELP writ_limits_in_force Task-history limit lines in force.\n"
              "# TYPE writ_limits_in_force gauge\nwrit_limits_in_force %zu\n"
              "# HELP writ_limits_store_info Where the limits count: the local store with write-behind "
              "(sqlite) or the shared one on every decision (redis).\n"
              "# TYPE writ_limits_store_info gauge\nwrit_limits_store_info{state=\"%s\"} 1\n"
              "# HELP writ_limits_keys (limit, key) rings held in memory (0 with a shared store).\n"
              "# TYPE writ_limits_keys gauge\nwrit_limits_keys %zu\n"
              "# HELP writ_limits_counted_total Allowed requests counted, once per matching limit.\n"
              "# TYPE writ_limits_counted_total counter\nwrit_limits_counted_total %llu\n"
              "# HELP writ_limits_not_counted_total Counts refused (history table full, shared store "
              "failing).\n"
              "# TYPE writ_limits_not_counted_total counter\nwrit_limits_not_counted_total %llu\n"
              "# HELP writ_limits_flush_failures_total Write-behind batches that failed (retried).\n"
              "# TYPE writ_limits_flush_failures_total counter\nwrit_limits_flush_failures_total %llu\n"
              "# HELP writ_limits_giveback_failures_total Takes of requests not allowed that the shared store "
              "would not give back (they stay counted until their window passes them).\n"
              "# TYPE writ_limits_giveback_failures_total counter\nwrit_limits_giveback_failures_total %llu\n",
              t.in_force, s->state ? wr_store_backend(s->state) : "memory", t.keys, t.counted, t.not_counted,
              t.flush_failures, t.giveback_failures);
}
