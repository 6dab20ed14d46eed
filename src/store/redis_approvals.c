/* redis_approvals.c - approvals in Redis.
 *
 *   writ:ap:ID        hash: every field of the approval (status by name)
 *   writ:apb:BINDING  the id of the binding's latest approval
 *   writ:apz          sorted set of ids by created_ms (listing, newest first:
 *                     ids of one millisecond in reverse byte order, as
 *                     ZREVRANGEBYSCORE gives them)
 *   writ:apx          sorted set of ids by expires_ms while pending or
 *                     approved (expiry reports; removed when reported,
 *                     consumed or denied)
 *   writ:app:AGENT    sorted set of the agent's pending ids by expires_ms
 *                     (the approval_max_pending cap: take trims the expired
 *                     ones, counts, adds; removed when decided, consumed,
 *                     reported expired or pruned)
 *
 * At most one approval per binding is live (pending, approved, or denied
 * and unexpired): a new one is created only when none is.  So the latest
 * id of a binding is the only one take has to look at, and take is one
 * Lua script: Redis runs a script alone, so of two replicas taking the same
 * approved approval at once exactly one sees it approved and consumes it.
 *
 * Expiry: an approval is expired once now_ms > expires_ms. */
#include "store/redis_int.h"
#include "util/alloc.h"

#include <stdio.h>
#include <string.h>

/* KEYS: none (ids come from the data).  ARGV: now, binding, created,
 * expires, max_pending (0 = no cap), agent, then field/value pairs of the
 * new approval.  Answers {'full'} when the agent's pending ones would go
 * past the cap. */
static const char take_lua[] = "local now = tonumber(ARGV[1])\n"
                               "local bkey = 'writ:apb:' .. ARGV[2]\n"
                               "local id = redis.call('GET', bkey)\n"
                               "if id then\n"
                               "  local k = 'writ:ap:' .. id\n"
                               "  local h = redis.call('HMGET', k, 'status', 'expires_ms', 'agent')\n"
                               "  local exp = tonumber(h[2])\n"
                               "  if h[1] and exp and now <= exp then\n"
                               "    if h[1] == 'approved' then\n"
                               "      redis.call('HSET', k, 'status', 'consumed')\n"
                               "      redis.call('ZREM', 'writ:apx', id)\n"
                               "      redis.call('ZREM', 'writ:app:' .. (h[3] or ''), id)\n"
                               "      return {'consumed', redis.call('HGETALL', k)}\n"
                               "    elseif h[1] == 'pending' or h[1] == 'denied' then\n"
                               "      return {h[1], redis.call('HGETALL', k)}\n"
                               "    end\n"
                               "  end\n"
                               "end\n"
                               "local pkey = 'writ:app:' .. ARGV[6]\n"
                               "redis.call('ZREMRANGEBYSCORE', pkey, '-inf', '(' .. ARGV[1])\n"
                               "local max = tonumber(ARGV[5])\n"
                               "if max > 0 and redis.call('ZCARD', pkey) >= max then return {'full'} end\n"
                               "local nid\n"
                               "for i = 7, #ARGV, 2 do if ARGV[i] == 'id' then nid = ARGV[i + 1] end end\n"
                               "local k = 'writ:ap:' .. nid\n"
                               "if redis.call('EXISTS', k) == 1 then return redis.error_reply('approval id ' "
                               ".. nid .. ' exists already') end\n"
                               "redis.call('HSET', k, unpack(ARGV, 7))\n"
                               "redis.call('SET', bkey, nid)\n"
                               "redis.call('ZADD', 'writ:apz', ARGV[3], nid)\n"
                               "redis.call('ZADD', 'writ:apx', ARGV[4], nid)\n"
                               "redis.call('ZADD', pkey, ARGV[4], nid)\n"
                               "return {'created', redis.call('HGETALL', k)}\n";

/* ARGV: id, approve (1/0), by, now, [reason] */
static const char decide_lua[] =
    "local k = 'writ:ap:' .. ARGV[1]\n"
    "local h = redis.call('HMGET', k, 'status', 'expires_ms', 'agent')\n"
    "if not h[1] then return {'not_found'} end\n"
    "if h[1] ~= 'pending' or tonumber(ARGV[4]) > tonumber(h[2]) then\n"
    "  return {'not_pending', redis.call('HGETALL', k)}\n"
    "end\n"
    "local st = ARGV[2] == '1' and 'approved' or 'denied'\n"
    "redis.call('HSET', k, 'status', st, 'decided_ms', ARGV[4], 'decided_by', ARGV[3])\n"
    "if ARGV[5] then redis.call('HSET', k, 'reason', ARGV[5]) end\n"
    "if st == 'denied' then redis.call('ZREM', 'writ:apx', ARGV[1]) end\n"
    "redis.call('ZREM', 'writ:app:' .. (h[3] or ''), ARGV[1])\n"
    "return {'done', redis.call('HGETALL', k)}\n";

/* ARGV: now.  The pending or approved ones past expiry, each once. */
static const char expired_lua[] =
    "local ids = redis.call('ZRANGEBYSCORE', 'writ:apx', '-inf', '(' .. ARGV[1], 'LIMIT', 0, 1000)\n"
    "local out = {}\n"
    "for _, id in ipairs(ids) do\n"
    "  redis.call('ZREM', 'writ:apx', id)\n"
    "  local k = 'writ:ap:' .. id\n"
    "  local h = redis.call('HMGET', k, 'status', 'agent')\n"
    "  if h[1] == 'pending' then redis.call('ZREM', 'writ:app:' .. (h[2] or ''), id) end\n"
    "  if h[1] == 'pending' or h[1] == 'approved' then out[#out + 1] = redis.call('HGETALL', k) end\n"
    "end\n"
    "return out\n";

/* ARGV: before.  Approvals created before `before` are examined in order
 * of creation, at most 1000 a call; one is removed (with its binding key
 * when that still names it) once expires_ms < before and it is denied,
 * consumed, or pending/approved with its expiry reported (no longer in
 * writ:apx).  Ones kept are stepped over, so a long-lived approval at the
 * front does not stop the rest. */
static const char prune_lua[] =
    "local before = tonumber(ARGV[1])\n"
    "local off, seen, removed = 0, 0, 0\n"
    "while seen < 1000 do\n"
    "  local ids = redis.call('ZRANGEBYSCORE', 'writ:apz', '-inf', '(' .. ARGV[1], 'LIMIT', off, 100)\n"
    "  if #ids == 0 then break end\n"
    "  for _, id in ipairs(ids) do\n"
    "    seen = seen + 1\n"
    "    local k = 'writ:ap:' .. id\n"
    "    local h = redis.call('HMGET', k, 'status', 'expires_ms', 'binding', 'agent')\n"
    "    local exp = tonumber(h[2])\n"
    "    local gone = not h[1]\n"
    "    if h[1] and exp and exp < before then\n"
    "      gone = h[1] == 'denied' or h[1] == 'consumed' or not redis.call('ZSCORE', 'writ:apx', id)\n"
    "    end\n"
    "    if gone then\n"
    "      redis.call('DEL', k)\n"
    "      redis.call('ZREM', 'writ:apz', id)\n"
    "      redis.call('ZREM', 'writ:apx', id)\n"
    "      if h[1] then redis.call('ZREM', 'writ:app:' .. (h[4] or ''), id) end\n"
    "      if h[3] and redis.call('GET', 'writ:apb:' .. h[3]) == id then\n"
    "        redis.call('DEL', 'writ:apb:' .. h[3])\n"
    "      end\n"
    "      removed = removed + 1\n"
    "    else\n"
    "      off = off + 1\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return removed\n";

static bool valid_token(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    return n > 0 && n <= max;
}

static char *dup_reply(const redisReply *v) { return wr_strndup(v->str, v->len); }

/* Fill a from a HGETALL reply (field, value, ...); the status derived from
 * now_ms (pending or approved past expiry: expired).  false on OOM or a
 * reply that is not an approval. */
static bool from_hash(const redisReply *h, int64_t now_ms, wr_approval *a)
{
    memset(a, 0, sizeof *a);
    if (!h || h->type != REDIS_REPLY_ARRAY || h->elements == 0 || h->elements % 2)
        return false;
    bool ok = true, have_status = false;
    for (size_t i = 0; i + 1 < h->elements && ok; i += 2) {
        const redisReply *f = h->element[i], *v = h->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        const char *n = f->str;
        char **dst = NULL;
        if (!strcmp(n, "id") && v->len < sizeof a->id)
            memcpy(a->id, v->str, v->len + 1);
        else if (!strcmp(n, "binding") && v->len < sizeof a->binding)
            memcpy(a->binding, v->str, v->len + 1);
        else if (!strcmp(n, "input_sha256") && v->len < sizeof a->input_sha256)
            memcpy(a->input_sha256, v->str, v->len + 1);
        else if (!strcmp(n, "status")) {
            int s = wr_approval_status_parse(v->str);
            if (s < 0)
                ok = false;
            a->status = (wr_approval_status)s;
            have_status = true;
        } else if (!strcmp(n, "created_ms"))
            ok = rd_int(v, &a->created_ms);
        else if (!strcmp(n, "expires_ms"))
            ok = rd_int(v, &a->expires_ms);
        else if (!strcmp(n, "decided_ms"))
            ok = rd_int(v, &a->decided_ms);
        else if (!strcmp(n, "agent"))
            dst = &a->agent;
        else if (!strcmp(n, "action"))
            dst = &a->action;
        else if (!strcmp(n, "resource"))
            dst = &a->resource;
        else if (!strcmp(n, "task_id"))
            dst = &a->task_id;
        else if (!strcmp(n, "task_purpose"))
            dst = &a->task_purpose;
        else if (!strcmp(n, "chain"))
            dst = &a->chain;
        else if (!strcmp(n, "input"))
            dst = &a->input;
        else if (!strcmp(n, "decided_by"))
            dst = &a->decided_by;
        else if (!strcmp(n, "reason"))
            dst = &a->reason;
        if (dst && !(*dst = dup_reply(v)))
            ok = false;
    }
    if (!ok || !have_status || !a->id[0]) {
        wr_approval_clear(a);
        return false;
    }
    if ((a->status == WR_APPROVAL_PENDING || a->status == WR_APPROVAL_APPROVED) && now_ms > a->expires_ms)
        a->status = WR_APPROVAL_EXPIRED;
    return true;
}

static writ_status bad_reply(writ_error *err, const char *what)
{
    return rd_fail(err, WRIT_EIO, what, "unexpected reply");
}

/* take_lua's answer: {'full'}, or {WORD, HGETALL} for the other words;
 * the outcome, -1 for anything else. */
static int take_word(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0]->type != REDIS_REPLY_STRING)
        return -1;
    const char *w = r->element[0]->str;
    if (r->elements == 1)
        return !strcmp(w, "full") ? WR_TAKE_FULL : -1;
    if (r->elements != 2)
        return -1;
    return !strcmp(w, "consumed")  ? WR_TAKE_CONSUMED
           : !strcmp(w, "pending") ? WR_TAKE_PENDING
           : !strcmp(w, "denied")  ? WR_TAKE_DENIED
           : !strcmp(w, "created") ? WR_TAKE_CREATED
                                   : -1;
}

writ_status wr_redis_approval_take(wr_store *st, const wr_approval *want, uint32_t max_pending,
                                   int64_t now_ms, wr_take *res, wr_approval *out, writ_error *err)
{
    wr_redis_store *s = (wr_redis_store *)st;
    memset(out, 0, sizeof *out);
    if (!valid_token(want->id, sizeof want->id - 1) || !valid_token(want->binding, sizeof want->binding - 1))
        return rd_fail(err, WRIT_EINVAL, "approval take", "id and binding are required");
    rd_args a = {0};
    rd_arg_i64(&a, now_ms);
    rd_arg_str(&a, want->binding);
    rd_arg_i64(&a, want->created_ms);
    rd_arg_i64(&a, want->expires_ms);
    rd_arg_i64(&a, max_pending);
    rd_arg_str(&a, want->agent);
#define F(name, v)                                                                                           \
    do {                                                                                                     \
        if (v) {                                                                                             \
            rd_arg_str(&a, name);                                                                            \
            rd_arg_str(&a, v);                                                                               \
        }                                                                                                    \
    } while (0)
    F("id", want->id);
    F("binding", want->binding);
    F("status", "pending");
    F("agent", want->agent);
    F("action", want->action);
    F("resource", want->resource);
    F("task_id", want->task_id);
    F("task_purpose", want->task_purpose);
    F("chain", want->chain);
    F("input_sha256", want->input_sha256);
    F("input", want->input);
#undef F
    rd_arg_str(&a, "created_ms");
    rd_arg_i64(&a, want->created_ms);
    rd_arg_str(&a, "expires_ms");
    rd_arg_i64(&a, want->expires_ms);
    rd_arg_str(&a, "decided_ms");
    rd_arg_i64(&a, 0);
    redisContext *c = rd_get(s, err);
    if (!c)
        return WRIT_EIO;
    redisReply *r = rd_script(c, take_lua, 0, &a, "approval take", err);
    rd_put(s, c);
    if (!r)
        return WRIT_EIO;
    writ_status ret = WRIT_OK;
    int took = take_word(r);
    if (took < 0 || (took != WR_TAKE_FULL && !from_hash(r->element[1], now_ms, out)))
        ret = bad_reply(err, "approval take");
    else
        *res = (wr_take)took;
    freeReplyObject(r);
    return ret;
}

writ_status wr_redis_approval_get(wr_store *st, const char *id, int64_t now_ms, wr_approval *out, bool *found,
                                  writ_error *err)
{
    wr_redis_store *s = (wr_redis_store *)st;
    memset(out, 0, sizeof *out);
    *found = false;
    if (!id || !*id || strlen(id) >= sizeof out->id)
        return WRIT_OK; /* no such id can exist */
    rd_args a = {0};
    rd_arg_str(&a, "HGETALL");
    char key[64];
    snprintf(key, sizeof key, "writ:ap:%s", id);
    rd_arg_str(&a, key);
    redisContext *c = rd_get(s, err);
    if (!c)
        return WRIT_EIO;
    redisReply *r = rd_run(c, &a, "approval get", err);
    rd_put(s, c);
    if (!r)
        return WRIT_EIO;
    writ_status ret = WRIT_OK;
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
        if (from_hash(r, now_ms, out))
            *found = true;
        else
            ret = bad_reply(err, "approval get");
    }
    freeReplyObject(r);
    return ret;
}

/* Append the approvals of an array of HGETALL replies to *list. */
static writ_status collect(const redisReply *arr, int status, int64_t now_ms, wr_approval **list, size_t *n,
                           writ_error *err)
{
    if (arr->elements == 0)
        return WRIT_OK;
    wr_approval *l = wr_realloc(*list, (*n + arr->elements) * sizeof *l);
    if (!l)
        return rd_fail(err, WRIT_ENOMEM, "out of memory", NULL);
    *list = l;
    for (size_t i = 0; i < arr->elements; i++) {
        const redisReply *h = arr->element[i];
        if (h->type != REDIS_REPLY_ARRAY || h->elements == 0)
            continue; /* listed but gone */
        wr_approval a;
        if (!from_hash(h, now_ms, &a))
            return bad_reply(err, "approval list");
        if (status >= 0 && (int)a.status != status) {
            wr_approval_clear(&a);
            continue;
        }
        l[(*n)++] = a;
    }
    return WRIT_OK;
}

/* A place in writ:apz: a score as Redis writes it and an id. */
enum { ZPOS_SCORE = 32, ZPOS_ID = 40 /* as wr_approval.id */ };
typedef struct zpos {
    char score[ZPOS_SCORE];
    char id[ZPOS_ID];
} zpos;

/* ZREVRANGEBYSCORE writ:apz max min WITHSCORES [LIMIT 0 count] (count 0:
 * all): pairs of id and score, each checked to fit a zpos. */
static redisReply *zrev(redisContext *c, const char *max, const char *min, size_t count, writ_error *err)
{
    rd_args a = {0};
    rd_arg_str(&a, "ZREVRANGEBYSCORE");
    rd_arg_str(&a, "writ:apz");
    rd_arg_str(&a, max);
    rd_arg_str(&a, min);
    rd_arg_str(&a, "WITHSCORES");
    if (count) {
        rd_arg_str(&a, "LIMIT");
        rd_arg_str(&a, "0");
        rd_arg_i64(&a, (int64_t)count);
    }
    redisReply *z = rd_run(c, &a, "approval list", err);
    if (!z)
        return NULL;
    bool ok = z->type == REDIS_REPLY_ARRAY && z->elements % 2 == 0;
    for (size_t i = 0; ok && i < z->elements; i += 2) {
        const redisReply *id = z->element[i], *sc = z->element[i + 1];
        ok = id->type == REDIS_REPLY_STRING && id->len < ZPOS_ID && sc->type == REDIS_REPLY_STRING &&
             sc->len < ZPOS_SCORE;
    }
    if (!ok) {
        freeReplyObject(z);
        bad_reply(err, "approval list");
        return NULL;
    }
    return z;
}

/* The approvals of the ids of z (zrev's pairs) from pair first on, read
 * in one pipeline of HGETALLs: those of status are appended to *list while
 * it holds fewer than want. */
static writ_status read_ids(redisContext *c, const redisReply *z, size_t first, int status, int64_t now_ms,
                            size_t want, wr_approval **list, size_t *n, writ_error *err)
{
    size_t count = z->elements / 2 - first;
    if (!count)
        return WRIT_OK;
    size_t cap = *n + count < want ? *n + count : want;
    wr_approval *l = wr_realloc(*list, cap * sizeof *l);
    if (!l)
        return rd_fail(err, WRIT_ENOMEM, "out of memory", NULL);
    *list = l;
    for (size_t i = first; i < first + count; i++) {
        const redisReply *id = z->element[2 * i];
        if (redisAppendCommand(c, "HGETALL writ:ap:%b", id->str, id->len) != REDIS_OK) {
            c->err = REDIS_ERR_IO; /* replies pending: never reuse */
            return rd_fail(err, WRIT_EIO, "approval list", c->errstr);
        }
    }
    writ_status ret = WRIT_OK;
    for (size_t i = 0; i < count; i++) { /* every reply is read, even after a failure */
        void *rp = NULL;
        if (redisGetReply(c, &rp) != REDIS_OK || !rp) {
            return rd_fail(err, WRIT_EIO, "approval list", rd_noreply(c));
        }
        redisReply *h = rp;
        wr_approval a;
        if (ret || h->type != REDIS_REPLY_ARRAY || h->elements == 0) {
            /* listed but gone */
        } else if (!from_hash(h, now_ms, &a)) {
            ret = bad_reply(err, "approval list");
        } else if ((status >= 0 && (int)a.status != status) || *n >= want) {
            wr_approval_clear(&a);
        } else {
            l[(*n)++] = a;
        }
        freeReplyObject(h);
    }
    return ret;
}

/* The approvals of status after pos (or from the newest) into *list until
 * it holds want or writ:apz ends: the rest of pos's millisecond (its ids
 * below pos's), then chunks of the older ones, each chunk continuing after
 * the last id of the one before. */
static writ_status page_from(redisContext *c, zpos pos, bool have_pos, int status, int64_t now_ms,
                             size_t want, wr_approval **list, size_t *n, writ_error *err)
{
    for (;;) {
        char max[40] = "+inf";
        if (have_pos) {
            redisReply *z = zrev(c, pos.score, pos.score, 0, err);
            if (!z)
                return WRIT_EIO;
            size_t i = 0; /* ids come in reverse byte order: skip those not below pos.id */
            while (i < z->elements / 2 && strcmp(z->element[2 * i]->str, pos.id) >= 0)
                i++;
            writ_status ret = read_ids(c, z, i, status, now_ms, want, list, n, err);
            freeReplyObject(z);
            if (ret || *n >= want)
                return ret;
            snprintf(max, sizeof max, "(%s", pos.score);
        }
        /* with a status filter, read ahead: many may not match */
        size_t chunk = want - *n;
        if (status >= 0 && chunk < 128)
            chunk = 128;
        redisReply *z = zrev(c, max, "-inf", chunk, err);
        if (!z)
            return WRIT_EIO;
        writ_status ret = read_ids(c, z, 0, status, now_ms, want, list, n, err);
        size_t got = z->elements / 2;
        if (got) {
            memcpy(pos.id, z->element[2 * got - 2]->str, z->element[2 * got - 2]->len + 1);
            memcpy(pos.score, z->element[2 * got - 1]->str, z->element[2 * got - 1]->len + 1);
            have_pos = true;
        }
        freeReplyObject(z);
        if (ret || *n >= want || got < chunk)
            return ret;
    }
}

writ_status wr_redis_approval_page(wr_store *st, int status, const wr_approval_pos *after, size_t limit,
                                   int64_t now_ms, wr_approval **out, size_t *n, writ_error *err)
{
    wr_redis_store *s = (wr_redis_store *)st;
    *out = NULL;
    *n = 0;
    zpos pos = {{0}, {0}};
    if (after) {
        snprintf(pos.score, sizeof pos.score, "%lld", (long long)after->created_ms);
        snprintf(pos.id, sizeof pos.id, "%s", after->id);
    }
    redisContext *c = rd_get(s, err);
    if (!c)
        return WRIT_EIO;
    writ_status ret = page_from(c, pos, after != NULL, status, now_ms, limit, out, n, err);
    rd_put(s, c);
    if (ret) {
        wr_approvals_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return ret;
}

writ_status wr_redis_approval_decide(wr_store *st, const char *id, bool approve, const char *by,
                                     const char *reason, int64_t now_ms, wr_decide_result *res,
                                     wr_approval *out, writ_error *err)
{
    wr_redis_store *s = (wr_redis_store *)st;
    memset(out, 0, sizeof *out);
    if (!id || !*id || strlen(id) >= sizeof out->id) {
        *res = WR_DECIDE_NOT_FOUND;
        return WRIT_OK;
    }
    rd_args a = {0};
    rd_arg_str(&a, id);
    rd_arg_str(&a, approve ? "1" : "0");
    rd_arg_str(&a, by ? by : "");
    rd_arg_i64(&a, now_ms);
    if (reason)
        rd_arg_str(&a, reason);
    redisContext *c = rd_get(s, err);
    if (!c)
        return WRIT_EIO;
    redisReply *r = rd_script(c, decide_lua, 0, &a, "approval decide", err);
    rd_put(s, c);
    if (!r)
        return WRIT_EIO;
    writ_status ret = WRIT_OK;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0]->type != REDIS_REPLY_STRING) {
        ret = bad_reply(err, "approval decide");
    } else if (!strcmp(r->element[0]->str, "not_found")) {
        *res = WR_DECIDE_NOT_FOUND;
    } else {
        *res = !strcmp(r->element[0]->str, "done") ? WR_DECIDE_DONE : WR_DECIDE_NOT_PENDING;
        if (r->elements != 2 || !from_hash(r->element[1], now_ms, out))
            ret = bad_reply(err, "approval decide");
    }
    freeReplyObject(r);
    return ret;
}

writ_status wr_redis_approval_expired(wr_store *st, int64_t now_ms, wr_approval **out, size_t *n,
                                      writ_error *err)
{
    wr_redis_store *s = (wr_redis_store *)st;
    *out = NULL;
    *n = 0;
    rd_args a = {0};
    rd_arg_i64(&a, now_ms);
    redisContext *c = rd_get(s, err);
    if (!c)
        return WRIT_EIO;
    redisReply *r = rd_script(c, expired_lua, 0, &a, "approval expired", err);
    rd_put(s, c);
    if (!r)
        return WRIT_EIO;
    writ_status ret = r->type == REDIS_REPLY_ARRAY ? collect(r, -1, now_ms, out, n, err)
                                                   : bad_reply(err, "approval expired");
    freeReplyObject(r);
    if (ret) {
        wr_approvals_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return ret;
}

writ_status wr_redis_approval_prune(wr_store *st, int64_t before_ms, size_t *removed, writ_error *err)
{
    wr_redis_store *s = (wr_redis_store *)st;
    *removed = 0;
    rd_args a = {0};
    rd_arg_i64(&a, before_ms);
    redisContext *c = rd_get(s, err);
    if (!c)
        return WRIT_EIO;
    redisReply *r = rd_script(c, prune_lua, 0, &a, "approval prune", err);
    rd_put(s, c);
    if (!r)
        return WRIT_EIO;
    writ_status ret = WRIT_OK;
    if (r->type == REDIS_REPLY_INTEGER && r->integer >= 0)
        *removed = (size_t)r->integer;
    else
        ret = bad_reply(err, "approval prune");
    freeReplyObject(r);
    return ret;
}
