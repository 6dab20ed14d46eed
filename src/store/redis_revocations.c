/* redis_revocations.c - the revocation feed in Redis.
 *
 *   writ:rev        hash: "KIND:VALUE" -> until (every live revocation)
 *   writ:rev:log    stream of publications: k KIND, v VALUE, u UNTIL
 *   writ:rev:epoch  a random name for this life of the two (see below)
 *
 * Publishing is one script (the hash and the stream change together).  A
 * follower's cursor is the id of the last stream entry it has seen.
 *
 * Why both: the stream tells followers what is new (XREAD BLOCK wakes them
 * within a round trip) and lets a follower that was cut off catch up from
 * where it stopped; the hash is the whole set, for a follower starting
 * from nothing or one whose position the stream can no longer vouch for.
 * The stream is trimmed (MAXLEN ~ 100000), and a Redis that lost its data
 * starts a new stream whose ids may be below a follower's cursor.  Both
 * are visible in XINFO STREAM, given that the cursor also counts entries:
 * it is "ID/N", the id of the last entry seen and its number N in the
 * stream's life (entries-added counts every entry ever added).  The stream
 * holds entries A-L+1..A (A entries-added, L its length), so N < A-L means
 * entries after the cursor were trimmed away; a last-generated-id below the
 * cursor's id (or A < N) means a new stream.  Either way the follower
 * reloads the hash.  (Writ never XDELs, so the stream has no holes.)
 *
 * A reload is gap-free without a transaction: the stream's last id L is
 * read first, then the hash is scanned.  A revocation published before L
 * is in the hash (HSCAN returns every field present for the whole scan),
 * one published after has a stream id above L, where following resumes.
 *
 * A Redis that lost its data (restarted without its append-only file,
 * flushed) and was written to since can hold a new stream that passes both
 * tests: ids above the cursor (they come from the clock) and as many
 * entries.  So the cursor also carries the epoch, a random name the first
 * follower of an empty Redis writes (SET NX): a follower that finds another
 * epoch, or none, than its cursor's knows the data it followed is gone.  It
 * reloads what is there and says so (*lost): its caller then publishes
 * again what it still knows (revocations.c), so that a replica started
 * after the loss learns it too. */
#include "store/redis_int.h"
#include "util/alloc.h"
#include "util/text.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h> /* getentropy */

#define LOG_MAXLEN "100000"

/* KEYS: hash, stream.  ARGV: field, until, kind, value, maxlen */
static const char publish_lua[] =
    "local u = tonumber(ARGV[2])\n"
    "local old = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if old then\n"
    "  local o = tonumber(old)\n"
    "  if o == 0 or u == 0 then u = 0 elseif o > u then u = o end\n"
    "end\n"
    "local us = string.format('%d', u)\n"
    "if old == us then return 0 end\n" /* known as it is: nothing new to follow */
    "redis.call('HSET', KEYS[1], ARGV[1], us)\n"
    "return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'k', ARGV[3], 'v', ARGV[4], 'u', us)\n";

writ_status wr_redis_revocation_publish(wr_store *st, int kind, const char *value, size_t len, int64_t until,
                                        writ_error *err)
{
    wr_redis_store *s = (wr_redis_store *)st;
    char *field = wr_malloc(len + 3);
    if (!field)
        return rd_fail(err, WRIT_ENOMEM, "out of memory", NULL);
    field[0] = (char)('0' + kind);
    field[1] = ':';
    memcpy(field + 2, value, len);
    char k[2] = {(char)('0' + kind), 0};
    rd_args a = {0};
    rd_arg_str(&a, "writ:rev");
    rd_arg_str(&a, "writ:rev:log");
    rd_arg(&a, field, len + 2);
    rd_arg_i64(&a, until);
    rd_arg_str(&a, k);
    rd_arg(&a, value, len);
    rd_arg_str(&a, LOG_MAXLEN);
    redisContext *c = rd_get(s, err);
    redisReply *r = c ? rd_script(c, publish_lua, 2, &a, "revocation publish", err) : NULL;
    rd_put(s, c);
    wr_free(field);
    if (!r)
        return WRIT_EIO;
    freeReplyObject(r);
    return WRIT_OK;
}

/* ---- stream ids "MS-SEQ" */
typedef struct sid {
    uint64_t ms, seq;
} sid;

static bool sid_parse(const char *t, size_t n, sid *out)
{
    char buf[48], *end = NULL;
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, t, n);
    buf[n] = '\0';
    out->ms = strtoull(buf, &end, 10);
    if (end == buf || *end != '-')
        return false;
    const char *q = end + 1;
    out->seq = strtoull(q, &end, 10);
    return end != q && !*end;
}

static int sid_cmp(sid a, sid b)
{
    return a.ms != b.ms ? (a.ms < b.ms ? -1 : 1) : a.seq != b.seq ? (a.seq < b.seq ? -1 : 1) : 0;
}

/* XINFO STREAM: the last generated id, entries-added and the length (all
 * 0 for a stream that does not exist). */
typedef struct sinfo {
    sid last;
    uint64_t added, length;
} sinfo;

static writ_status stream_info(redisContext *c, sinfo *in, writ_error *err)
{
    memset(in, 0, sizeof *in);
    redisReply *r = redisCommand(c, "XINFO STREAM writ:rev:log");
    if (!r) {
        return rd_fail(err, WRIT_EIO, "revocation follow", rd_noreply(c));
    }
    writ_status ret = WRIT_OK;
    if (r->type == REDIS_REPLY_ERROR) {
        if (!strstr(r->str, "no such key"))
            ret = rd_fail(err, WRIT_EIO, "revocation follow (XINFO)", r->str);
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
        ret = rd_fail(err, WRIT_EIO, "revocation follow (XINFO)", "unexpected reply");
    } else {
        int have = 0;
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            const redisReply *f = r->element[i], *v = r->element[i + 1];
            if (f->type != REDIS_REPLY_STRING && f->type != REDIS_REPLY_STATUS)
                continue;
            if (!strcmp(f->str, "last-generated-id") && v->type == REDIS_REPLY_STRING)
                have += sid_parse(v->str, v->len, &in->last);
            else if (!strcmp(f->str, "entries-added") && v->type == REDIS_REPLY_INTEGER && v->integer >= 0)
                in->added = (uint64_t)v->integer, have++;
            else if (!strcmp(f->str, "length") && v->type == REDIS_REPLY_INTEGER && v->integer >= 0)
                in->length = (uint64_t)v->integer, have++;
        }
        if (have != 3)
            ret = rd_fail(err, WRIT_EIO, "revocation follow (XINFO)",
                          "no last-generated-id, entries-added or length (Redis 7 is needed)");
    }
    freeReplyObject(r);
    return ret;
}

#define EPOCH_MAX 40 /* an epoch's length; ours are 32 hex digits */

/* "MS-SEQ/N/EPOCH" */
static bool cursor_parse(const char *t, sid *id, uint64_t *n, char epoch[EPOCH_MAX + 1])
{
    const char *slash = strchr(t, '/');
    char *end = NULL;
    if (!slash || !sid_parse(t, (size_t)(slash - t), id) || !slash[1])
        return false;
    *n = strtoull(slash + 1, &end, 10);
    size_t en = *end == '/' ? strlen(end + 1) : 0;
    if (end == slash + 1 || en == 0 || en > EPOCH_MAX)
        return false;
    memcpy(epoch, end + 1, en + 1);
    return true;
}

static void cursor_set(char cursor[WR_REV_CURSOR_MAX], sid id, uint64_t n, const char *epoch)
{
    snprintf(cursor, WR_REV_CURSOR_MAX, "%" PRIu64 "-%" PRIu64 "/%" PRIu64 "/%s", id.ms, id.seq, n, epoch);
}

/* This life's epoch: the one in Redis, or a new one written now when there
 * is none (the first follower of an empty Redis; SET NX GET: one wins). */
static writ_status epoch_get(redisContext *c, char epoch[EPOCH_MAX + 1], writ_error *err)
{
    unsigned char rnd[16];
    char mine[33];
    if (getentropy(rnd, sizeof rnd) != 0)
        return rd_fail(err, WRIT_EIO, "revocation follow", "no random bytes for an epoch");
    wr_hex(mine, rnd, sizeof rnd);
    redisReply *r = redisCommand(c, "SET writ:rev:epoch %s NX GET", mine);
    if (!r) {
        return rd_fail(err, WRIT_EIO, "revocation follow", rd_noreply(c));
    }
    writ_status ret = WRIT_OK;
    if (r->type == REDIS_REPLY_NIL)
        memcpy(epoch, mine, sizeof mine); /* 32 hex digits and a NUL */
    else if (r->type == REDIS_REPLY_STRING && r->len > 0 && r->len <= EPOCH_MAX && !memchr(r->str, '/', r->len))
        memcpy(epoch, r->str, r->len + 1);
    else
        ret = rd_fail(err, WRIT_EIO, "revocation follow (epoch)",
                      r->type == REDIS_REPLY_ERROR ? r->str : "writ:rev:epoch holds something else");
    freeReplyObject(r);
    return ret;
}

typedef bool (*rev_fn)(void *ud, int kind, const char *value, size_t len, int64_t until);

/* Deliver every field of the hash.  false in *stopped when fn stopped. */
static writ_status reload(redisContext *c, rev_fn fn, void *ud, bool *stopped, writ_error *err)
{
    char cur[32] = "0";
    *stopped = false;
    do {
        redisReply *r = redisCommand(c, "HSCAN writ:rev %s COUNT 1000", cur);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[0]->len >= sizeof cur ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            writ_status ret = rd_fail(err, WRIT_EIO, "revocation reload",
                                      !r                             ? rd_noreply(c)
                                      : r->type == REDIS_REPLY_ERROR ? r->str
                                                                     : "unexpected reply");
            freeReplyObject(r);
            return ret;
        }
        memcpy(cur, r->element[0]->str, r->element[0]->len + 1);
        const redisReply *kv = r->element[1];
        for (size_t i = 0; i + 1 < kv->elements && !*stopped; i += 2) {
            const redisReply *f = kv->element[i], *v = kv->element[i + 1];
            int64_t until;
            if (f->type != REDIS_REPLY_STRING || f->len < 3 || f->str[1] != ':' || f->str[0] < '1' ||
                f->str[0] > '4' || !rd_int(v, &until))
                continue; /* not ours to interpret */
            if (!fn(ud, f->str[0] - '0', f->str + 2, f->len - 2, until))
                *stopped = true;
        }
        freeReplyObject(r);
    } while (!*stopped && strcmp(cur, "0") != 0);
    return WRIT_OK;
}

/* One stream entry's fields k, v, u. */
static bool entry_fields(const redisReply *fv, int *kind, const redisReply **value, int64_t *until)
{
    *kind = 0;
    *value = NULL;
    *until = -1;
    if (fv->type != REDIS_REPLY_ARRAY)
        return false;
    for (size_t i = 0; i + 1 < fv->elements; i += 2) {
        const redisReply *f = fv->element[i], *v = fv->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if (!strcmp(f->str, "k") && v->len == 1 && v->str[0] >= '1' && v->str[0] <= '4')
            *kind = v->str[0] - '0';
        else if (!strcmp(f->str, "v"))
            *value = v;
        else if (!strcmp(f->str, "u"))
            (void)rd_int(v, until);
    }
    return *kind && *value && (*value)->len > 0 && *until >= 0;
}

writ_status wr_redis_revocation_follow(wr_store *st, char cursor[WR_REV_CURSOR_MAX], int wait_ms, rev_fn fn,
                                       void *ud, bool *lost, writ_error *err)
{
    wr_redis_store *s = (wr_redis_store *)st;
    redisContext *c = rd_get_probe(s, err);
    if (!c)
        return WRIT_EIO;
    sinfo in;
    sid cur = {0, 0};
    uint64_t n = 0;
    char epoch[EPOCH_MAX + 1], was[EPOCH_MAX + 1] = "";
    writ_status ret = epoch_get(c, epoch, err);
    if (!ret)
        ret = stream_info(c, &in, err);
    if (ret)
        goto out;
    bool known = *cursor && cursor_parse(cursor, &cur, &n, was);
    bool gone = known && (strcmp(was, epoch) != 0 || sid_cmp(cur, in.last) > 0 || n > in.added);
    if (!known || gone || n < in.added - in.length) {
        bool stopped = false;
        ret = reload(c, fn, ud, &stopped, err);
        if (!ret && !stopped) {
            cursor_set(cursor, in.last, in.added, epoch);
            *lost = gone;
        }
        goto out;
    }
    char idtext[48];
    snprintf(idtext, sizeof idtext, "%" PRIu64 "-%" PRIu64, cur.ms, cur.seq);
    /* new entries after the cursor; waiting longer than the command
     * timeout needs a longer one for this call */
    struct timeval tmo = s->timeout;
    if (wait_ms > 0) {
        long long need = (long long)wait_ms + (long long)s->timeout.tv_sec * 1000 + s->timeout.tv_usec / 1000;
        struct timeval t = {.tv_sec = need / 1000, .tv_usec = (need % 1000) * 1000};
        (void)redisSetTimeout(c, t);
    }
    redisReply *r =
        wait_ms > 0 ? redisCommand(c, "XREAD COUNT 1000 BLOCK %d STREAMS writ:rev:log %s", wait_ms, idtext)
                    : redisCommand(c, "XREAD COUNT 1000 STREAMS writ:rev:log %s", idtext);
    if (wait_ms > 0 && !c->err)
        (void)redisSetTimeout(c, tmo);
    if (!r) {
        ret = rd_fail(err, WRIT_EIO, "revocation follow (XREAD)", rd_noreply(c));
        goto out;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        ret = rd_fail(err, WRIT_EIO, "revocation follow (XREAD)", r->str);
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_ARRAY &&
               r->element[0]->elements == 2 && r->element[0]->element[1]->type == REDIS_REPLY_ARRAY) {
        const redisReply *entries = r->element[0]->element[1];
        for (size_t i = 0; i < entries->elements; i++) {
            const redisReply *e = entries->element[i];
            sid id;
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
                e->element[0]->type != REDIS_REPLY_STRING ||
                !sid_parse(e->element[0]->str, e->element[0]->len, &id)) {
                ret = rd_fail(err, WRIT_EIO, "revocation follow", "unexpected stream entry");
                break;
            }
            int kind;
            const redisReply *v;
            int64_t until;
            if (entry_fields(e->element[1], &kind, &v, &until) && !fn(ud, kind, v->str, v->len, until))
                break; /* the cursor stays before this entry */
            cursor_set(cursor, id, ++n, epoch);
        }
    } else if (r->type != REDIS_REPLY_NIL) {
        ret = rd_fail(err, WRIT_EIO, "revocation follow (XREAD)", "unexpected reply");
    }
    freeReplyObject(r);
out:
    rd_put(s, c);
    return ret;
}
