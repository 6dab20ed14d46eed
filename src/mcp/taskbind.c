/* taskbind.c - MCP tasks bound to the agent that created them: see
 * taskbind.h.  Two jansson objects under one mutex: tasks (id -> [owner,
 * expires_ms]) and owners (owner -> how many tasks it has).  Making room
 * scans the table; it happens only when a bound is reached. */
#include "mcp/taskbind.h"
#include "util/alloc.h"

#include <jansson.h>
#include <pthread.h>
#include <string.h>

struct mcp_taskbind {
    pthread_mutex_t mu;
    json_t *tasks;  /* id -> [owner, expires_ms] */
    json_t *owners; /* owner -> count */
    size_t cap, per_owner;
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

bool mcp_taskbind_add(mcp_taskbind *t, const char *id, size_t idlen, const char *owner, int64_t ttl_ms,
                      int64_t now_ms)
{
    if (!t || !owner || !id_ok(id, idlen))
        return false;
    if (ttl_ms <= 0 || ttl_ms > TASKBIND_MAX_TTL_MS)
        ttl_ms = TASKBIND_MAX_TTL_MS;
    pthread_mutex_lock(&t->mu);
    bool ok = false;
    const json_t *had = json_object_getn(t->tasks, id, idlen);
    if (had && expiry_of(had) > now_ms) {
        ok = !strcmp(owner_of(had), owner);
        pthread_mutex_unlock(&t->mu);
        return ok;
    }
    char *key = wr_strndup(id, idlen);
    if (key) {
        forget(t, key);
        make_room(t, owner, t->per_owner, now_ms);
        make_room(t, NULL, t->cap, now_ms);
        json_t *e = json_pack("[s,I]", owner, (json_int_t)(now_ms + ttl_ms));
        ok = e && !json_object_set_new_nocheck(t->tasks, key, e);
        if (ok && json_object_set_new_nocheck(t->owners, owner,
                                              json_integer((json_int_t)owner_count(t, owner) + 1))) {
            json_object_del(t->tasks, key); /* not counted: not kept */
            ok = false;
        }
    }
    wr_free(key);
    pthread_mutex_unlock(&t->mu);
    return ok;
}

bool mcp_taskbind_owns(mcp_taskbind *t, const char *id, size_t idlen, const char *owner, int64_t now_ms)
{
    return mcp_taskbind_whose(t, id, idlen, owner, now_ms, NULL, 0) == TASKBIND_MINE;
}

mcp_task_whose mcp_taskbind_whose(mcp_taskbind *t, const char *id, size_t idlen, const char *owner, int64_t now_ms,
                                  char *other, size_t n)
{
    if (other && n)
        other[0] = '\0';
    if (!t || !owner || !id_ok(id, idlen))
        return TASKBIND_UNKNOWN;
    pthread_mutex_lock(&t->mu);
    const json_t *e = json_object_getn(t->tasks, id, idlen);
    mcp_task_whose w = !e || expiry_of(e) <= now_ms      ? TASKBIND_UNKNOWN
                       : !strcmp(owner_of(e), owner) ? TASKBIND_MINE
                                                     : TASKBIND_OTHERS;
    if (w == TASKBIND_OTHERS && other && n) {
        size_t l = strnlen(owner_of(e), n - 1);
        memcpy(other, owner_of(e), l);
        other[l] = '\0';
    }
    pthread_mutex_unlock(&t->mu);
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
