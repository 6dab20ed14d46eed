/* taskbind.c - MCP tasks bound to the agent that created them: see
 * taskbind.h.  Two jansson objects under one mutex: tasks (id -> [owner,
 * expires_ms, unsaved]) and owners (owner -> how many tasks it has).  Making room
 * scans the table; it happens only when a bound is reached.  Shared, the
 * store is called between two holds of the mutex, never under it: a
 * binding is looked up here, then written to (or asked of) the store, then
 * put here, looked up again first (another thread may have put one
 * meanwhile: the first one here wins, as in the store).
 *
 * A binding made while the store failed is kept here marked unsaved, and
 * written again once the store answers: after each store call that worked,
 * up to RESYNC_BATCH of them go to the store, on that caller's thread.  So
 * an outage costs the other replicas those tasks only until this replica's
 * next binding or lookup that reaches the store, and a store that keeps
 * failing is not asked again for them at every call. */
#include "mcp/taskbind.h"
#include "util/alloc.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct mcp_taskbind {
    pthread_mutex_t mu;
    json_t *tasks;  /* id -> [owner, expires_ms] */
    json_t *owners; /* owner -> count */
    size_t cap, per_owner;
    wr_store *store; /* NULL: memory only */
    size_t unsaved;  /* tasks marked unsaved (kept here while the store failed) */
    char upstream[WR_MCP_TASK_NAME_MAX + 1];
};

mcp_taskbind *mcp_taskbind_new(size_t cap, size_t per_owner)
{
    mcp_taskbind *t = wr_calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->tasks = json_object();
    t->owners = json_object();
    t->cap = cap ? cap : 1;
    t->per_owner = per_owner ? per_owner : 1;
    if (!t->tasks || !t->owners) {
        mcp_taskbind_free(t);
        return NULL;
    }
    pthread_mutex_init(&t->mu, NULL);
    return t;
}

void mcp_taskbind_free(mcp_taskbind *t)
{
    if (!t)
        return;
    if (t->tasks && t->owners)
        pthread_mutex_destroy(&t->mu);
    json_decref(t->tasks);
    json_decref(t->owners);
    wr_free(t);
}

static const char *owner_of(const json_t *e) { return json_string_value(json_array_get(e, 0)); }
static int64_t expiry_of(const json_t *e) { return (int64_t)json_integer_value(json_array_get(e, 1)); }
static bool unsaved_of(const json_t *e) { return json_is_true(json_array_get(e, 2)); }

static size_t owner_count(const mcp_taskbind *t, const char *owner)
{
    return (size_t)json_integer_value(json_object_get(t->owners, owner));
}

/* Forget task key (mu held). */
static void forget(mcp_taskbind *t, const char *key)
{
    json_t *e = json_object_get(t->tasks, key);
    if (!e)
        return;
    const char *owner = owner_of(e);
    size_t n = owner ? owner_count(t, owner) : 0;
    if (unsaved_of(e) && t->unsaved)
        t->unsaved--;
    if (owner && n > 1)
        json_object_set_new_nocheck(t->owners, owner, json_integer((json_int_t)(n - 1)));
    else if (owner)
        json_object_del(t->owners, owner);
    json_object_del(t->tasks, key);
}

/* Forget the expired tasks of owner (NULL: of anyone), then, while owner
 * (or the table) still holds at least max, the one expiring first. */
static void make_room(mcp_taskbind *t, const char *owner, size_t max, int64_t now)
{
    const char *k;
    json_t *e;
    void *tmp;
    json_object_foreach_safe (t->tasks, tmp, k, e) {
        if (expiry_of(e) <= now && (!owner || !strcmp(owner_of(e), owner)))
            forget(t, k);
    }
    while ((owner ? owner_count(t, owner) : json_object_size(t->tasks)) >= max) {
        const char *first = NULL;
        int64_t at = INT64_MAX;
        json_object_foreach (t->tasks, k, e) {
            if ((!owner || !strcmp(owner_of(e), owner)) && expiry_of(e) < at) {
                at = expiry_of(e);
                first = k;
            }
        }
        if (!first)
            return;
        forget(t, first);
    }
}

static bool id_ok(const char *id, size_t n) { return n > 0 && !memchr(id, '\0', n); }

bool mcp_taskbind_share(mcp_taskbind *t, wr_store *st, const char *upstream)
{
    if (!t)
        return false;
    t->store = NULL;
    if (!st)
        return true;
    size_t l = upstream ? strnlen(upstream, sizeof t->upstream) : 0;
    if (l == 0 || l >= sizeof t->upstream)
        return false;
    memcpy(t->upstream, upstream, l + 1);
    t->store = st;
    return true;
}

/* Is id held here, live at now?  Its owner's name into *owner (valid while
 * mu is held).  mu held. */
static bool held(mcp_taskbind *t, const char *id, size_t idlen, int64_t now, const char **owner)
{
    const json_t *e = json_object_getn(t->tasks, id, idlen);
    if (!e || expiry_of(e) <= now)
        return false;
    *owner = owner_of(e);
    return true;
}

/* Put id as owner's until expires (unsaved: the store did not take it),
 * unless it is held live already; true when it is owner's afterwards.  mu
 * held. */
static bool put(mcp_taskbind *t, const char *id, size_t idlen, const char *owner, int64_t expires,
                int64_t now, bool unsaved)
{
    const char *had;
    if (held(t, id, idlen, now, &had))
        return !strcmp(had, owner);
    char *key = wr_strndup(id, idlen);
    bool ok = false;
    if (key) {
        forget(t, key);
        make_room(t, owner, t->per_owner, now);
        make_room(t, NULL, t->cap, now);
        json_t *e = json_pack("[s,I,b]", owner, (json_int_t)expires, unsaved);
        ok = e && !json_object_set_new_nocheck(t->tasks, key, e);
        if (ok && json_object_set_new_nocheck(t->owners, owner,
                                              json_integer((json_int_t)owner_count(t, owner) + 1))) {
            json_object_del(t->tasks, key); /* not counted: not kept */
            ok = false;
        }
        t->unsaved += ok && unsaved;
    }
    wr_free(key);
    return ok;
}

#define RESYNC_BATCH 16

/* The store has just answered: write up to RESYNC_BATCH unsaved bindings
 * to it (copied out under mu, written without it), marked saved as each is
 * taken.  One the store gives to another owner meanwhile (another replica
 * bound the same id first) is kept here, as any binding held here is, and
 * not tried again.  Stops at the first failure. */
static void resync(mcp_taskbind *t, int64_t now)
{
    struct {
        char *id, *owner;
        int64_t expires;
    } b[RESYNC_BATCH];
    size_t nb = 0;
    pthread_mutex_lock(&t->mu);
    if (t->unsaved) {
        const char *k;
        json_t *e;
        json_object_foreach (t->tasks, k, e) {
            if (nb == RESYNC_BATCH)
                break;
            if (!unsaved_of(e) || expiry_of(e) <= now)
                continue;
            b[nb].id = wr_strndup(k, strlen(k));
            b[nb].owner = wr_strndup(owner_of(e), strlen(owner_of(e)));
            b[nb].expires = expiry_of(e);
            if (!b[nb].id || !b[nb].owner) {
                wr_free(b[nb].id);
                wr_free(b[nb].owner);
                break;
            }
            nb++;
        }
    }
    pthread_mutex_unlock(&t->mu);
    bool failed = false;
    for (size_t i = 0; i < nb; i++) {
        bool mine = false;
        writ_error err;
        memset(&err, 0, sizeof err);
        failed = failed || wr_store_mcp_task_bind(t->store, t->upstream, b[i].id, strlen(b[i].id), b[i].owner,
                                                  b[i].expires, (uint32_t)t->per_owner, now, &mine, &err);
        if (!failed) {
            pthread_mutex_lock(&t->mu);
            json_t *e = json_object_get(t->tasks, b[i].id);
            if (e && unsaved_of(e) && !strcmp(owner_of(e), b[i].owner)) {
                json_array_set_new(e, 2, json_false());
                t->unsaved--;
            }
            pthread_mutex_unlock(&t->mu);
        }
        wr_free(b[i].id);
        wr_free(b[i].owner);
    }
}

bool mcp_taskbind_add(mcp_taskbind *t, const char *id, size_t idlen, const char *owner, int64_t ttl_ms,
                      int64_t now_ms, char *why, size_t n)
{
    if (why && n)
        why[0] = '\0';
    if (!t || !owner || !id_ok(id, idlen))
        return false;
    if (ttl_ms <= 0 || ttl_ms > TASKBIND_MAX_TTL_MS)
        ttl_ms = TASKBIND_MAX_TTL_MS;
    pthread_mutex_lock(&t->mu);
    const char *had;
    if (held(t, id, idlen, now_ms, &had)) {
        bool mine = !strcmp(had, owner);
        pthread_mutex_unlock(&t->mu);
        return mine;
    }
    pthread_mutex_unlock(&t->mu);
    bool unsaved = false;
    if (t->store) {
        /* written through first: another's binding there keeps the id */
        bool mine = false;
        writ_error err;
        memset(&err, 0, sizeof err);
        if (wr_store_mcp_task_bind(t->store, t->upstream, id, idlen, owner, now_ms + ttl_ms,
                                   (uint32_t)t->per_owner, now_ms, &mine, &err)) {
            if (why && n)
                snprintf(why, n, "%s", err.msg[0] ? err.msg : "the state store failed");
            unsaved = true;
        } else if (!mine) {
            return false;
        } else {
            resync(t, now_ms);
        }
    }
    pthread_mutex_lock(&t->mu);
    bool ok = put(t, id, idlen, owner, now_ms + ttl_ms, now_ms, unsaved);
    pthread_mutex_unlock(&t->mu);
    return ok;
}

bool mcp_taskbind_owns(mcp_taskbind *t, const char *id, size_t idlen, const char *owner, int64_t now_ms)
{
    return mcp_taskbind_whose(t, id, idlen, owner, now_ms, NULL, NULL, 0) == TASKBIND_MINE;
}

/* s into out (n bytes), cut to n - 1. */
static void copy_cut(char *out, size_t n, const char *s)
{
    if (!out || !n)
        return;
    size_t l = strnlen(s, n - 1);
    memcpy(out, s, l);
    out[l] = '\0';
}

mcp_task_whose mcp_taskbind_whose(mcp_taskbind *t, const char *id, size_t idlen, const char *owner,
                                  int64_t now_ms, unsigned *asks, char *detail, size_t n)
{
    if (detail && n)
        detail[0] = '\0';
    if (!t || !owner || !id_ok(id, idlen))
        return TASKBIND_UNKNOWN;
    pthread_mutex_lock(&t->mu);
    const char *had;
    if (held(t, id, idlen, now_ms, &had)) {
        bool mine = !strcmp(had, owner);
        if (!mine)
            copy_cut(detail, n, had);
        pthread_mutex_unlock(&t->mu);
        return mine ? TASKBIND_MINE : TASKBIND_OTHERS;
    }
    pthread_mutex_unlock(&t->mu);
    if (!t->store || (asks && !*asks))
        return TASKBIND_UNKNOWN;
    if (asks)
        (*asks)--;
    /* not held here: created through another replica, before a restart,
     * or pushed out of this table */
    char *theirs = wr_malloc(WR_MCP_TASK_OWNER_MAX + 1);
    if (!theirs) {
        copy_cut(detail, n, "out of memory");
        return TASKBIND_UNAVAILABLE;
    }
    int64_t expires;
    bool found;
    writ_error err;
    memset(&err, 0, sizeof err);
    mcp_task_whose w = TASKBIND_UNKNOWN;
    if (wr_store_mcp_task_owner(t->store, t->upstream, id, idlen, now_ms, theirs, &expires, &found, &err)) {
        copy_cut(detail, n, err.msg[0] ? err.msg : "the state store failed");
        w = TASKBIND_UNAVAILABLE;
        if (asks)
            *asks = 0; /* a listing waits for a failing store once, not once per id */
    } else if (found) {
        /* remembered here from now on (a binding put here meanwhile wins,
         * as it would have in the store) */
        pthread_mutex_lock(&t->mu);
        (void)put(t, id, idlen, theirs, expires, now_ms, false);
        const char *who = held(t, id, idlen, now_ms, &had) ? had : theirs;
        w = !strcmp(who, owner) ? TASKBIND_MINE : TASKBIND_OTHERS;
        if (w == TASKBIND_OTHERS)
            copy_cut(detail, n, who);
        pthread_mutex_unlock(&t->mu);
    }
    wr_free(theirs);
    if (w != TASKBIND_UNAVAILABLE)
        resync(t, now_ms);
    return w;
}

size_t mcp_taskbind_count(mcp_taskbind *t)
{
    if (!t)
        return 0;
    pthread_mutex_lock(&t->mu);
    size_t n = json_object_size(t->tasks);
    pthread_mutex_unlock(&t->mu);
    return n;
}
