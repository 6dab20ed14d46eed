/* redis_counters.c - task-history counters in Redis: one key per bucket,
 *
 *   writ:c:LEN:LIMIT:KEY:BUCKET     an integer, expiring at expires_ms
 *
 * (LEN, the byte length of LIMIT, keeps "a:b"+"c" apart from "a"+"b:c";
 * BUCKET is the last field, so KEY may hold ':').  An add is INCRBY and
 * PEXPIREAT in one MULTI/EXEC (a negative one, a script that deletes a
 * bucket it brings to 0); a sum is one MGET of the range's keys (missing
 * or expired buckets count 0); a take, both in one script. */
#include "store/redis_int.h"
#include "util/alloc.h"
#include "util/sbuf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAME 1024
#define MAX_SPAN 100000 /* buckets in one sum */

static writ_status check_names(const char *limit, const char *key, writ_error *err)
{
    if (!limit || !*limit || strlen(limit) > MAX_NAME || !key || strlen(key) > MAX_NAME)
        return rd_fail(err, WRIT_EINVAL, "counter", "limit must be 1..1024 bytes, key at most 1024");
    return WRIT_OK;
}

/* "writ:c:LEN:LIMIT:" */
static void prefix(sbuf *b, const char *limit)
{
    sb_printf(b, "writ:c:%zu:", strlen(limit));
    sb_puts(b, limit);
    sb_putc(b, ':');
}

/* A negative add (a take given back, counters.c: an allow decided again,
 * an approval still pending): a bucket it brings back to 0 is deleted
 * rather than kept at 0 until its expiry (the window and more), so that
 * takes given back over ever new keys leave nothing behind in Redis (a
 * missing bucket reads 0 all the same). */
static const char give_lua[] =
    "local v = redis.call('INCRBY', KEYS[1], ARGV[1])\n"
    "if v == 0 then\n"
    "  redis.call('DEL', KEYS[1])\n"
    "else\n"
    "  redis.call('PEXPIREAT', KEYS[1], ARGV[2])\n"
    "end\n"
    "return v\n";

writ_status wr_redis_counter_add(wr_store *st, const char *limit, const char *key, int64_t bucket,
                                 int64_t delta, int64_t expires_ms, writ_error *err)
{
    wr_redis_store *s = (wr_redis_store *)st;
    writ_status ret = check_names(limit, key, err);
    if (ret)
        return ret;
    sbuf k;
    sb_init(&k);
    prefix(&k, limit);
    sb_puts(&k, key);
    sb_printf(&k, ":%" PRId64, bucket);
    if (!sb_ok(&k)) {
        sb_free(&k);
        return rd_fail(err, WRIT_ENOMEM, "out of memory", NULL);
    }
    redisContext *c = rd_get(s, err);
    if (!c) {
        sb_free(&k);
        return WRIT_EIO;
    }
    if (delta < 0) {
        rd_args a = {0};
        rd_arg(&a, k.p, k.len);
        rd_arg_i64(&a, delta);
        rd_arg_i64(&a, expires_ms);
        redisReply *r = rd_script(c, give_lua, 1, &a, "counter add", err);
        if (!r)
            ret = WRIT_EIO;
        else if (r->type != REDIS_REPLY_INTEGER)
            ret = rd_fail(err, WRIT_EIO, "counter add", "unexpected reply");
        freeReplyObject(r);
        rd_put(s, c);
        sb_free(&k);
        return ret;
    }
    /* MULTI/EXEC in one pipeline: the increment and its expiry together */
    const char *kv = k.p;
    size_t kl = k.len;
    char d[24], e[24];
    snprintf(d, sizeof d, "%" PRId64, delta);
    snprintf(e, sizeof e, "%" PRId64, expires_ms);
    const char *multi[] = {"MULTI"}, *exec[] = {"EXEC"};
    const char *incr[] = {"INCRBY", kv, d}, *pexp[] = {"PEXPIREAT", kv, e};
    size_t incr_l[] = {6, kl, strlen(d)}, pexp_l[] = {9, kl, strlen(e)};
    int ok = redisAppendCommandArgv(c, 1, multi, NULL) == REDIS_OK &&
             redisAppendCommandArgv(c, 3, incr, incr_l) == REDIS_OK &&
             redisAppendCommandArgv(c, 3, pexp, pexp_l) == REDIS_OK &&
             redisAppendCommandArgv(c, 1, exec, NULL) == REDIS_OK;
    redisReply *last = NULL;
    for (int i = 0; ok && i < 4; i++) {
        void *rp = NULL;
        if (redisGetReply(c, &rp) != REDIS_OK || !rp) {
            ok = 0;
            break;
        }
        if (i == 3)
            last = rp;
        else
            freeReplyObject(rp);
    }
    if (!ok) {
        ret = rd_fail(err, WRIT_EIO, "counter add", rd_noreply(c));
    } else if (last->type != REDIS_REPLY_ARRAY || last->elements != 2 ||
               last->element[0]->type != REDIS_REPLY_INTEGER) {
        /* EXEC's replies: INCRBY's integer (an error on overflow), PEXPIREAT's */
        ret = rd_fail(err, WRIT_EIO, "counter add",
                      last->type == REDIS_REPLY_ERROR ? last->str
                      : last->type == REDIS_REPLY_ARRAY && last->elements == 2 &&
                              last->element[0]->type == REDIS_REPLY_ERROR
                          ? last->element[0]->str
                          : "unexpected reply");
    }
    freeReplyObject(last);
    rd_put(s, c);
    sb_free(&k);
    return ret;
}

/* The sum of an MGET's nb buckets (missing ones count 0), overflow checked. */
static writ_status sum_of(const redisReply *r, size_t nb, const char *what, int64_t *sum, writ_error *err)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != nb)
        return rd_fail(err, WRIT_EIO, what, r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    int64_t total = 0;
    for (size_t i = 0; i < nb; i++) {
        int64_t v;
        if (r->element[i]->type == REDIS_REPLY_NIL)
            continue;
        if (!rd_int(r->element[i], &v))
            return rd_fail(err, WRIT_EIO, what, "a bucket is not an integer");
        if (__builtin_add_overflow(total, v, &total))
            return rd_fail(err, WRIT_EIO, what, "the sum overflows");
    }
    *sum = total;
    return WRIT_OK;
}

writ_status wr_redis_counter_sum(wr_store *st, const char *limit, const char *key, int64_t first,
                                 int64_t last, int64_t *sum, writ_error *err)
{
    wr_redis_store *s = (wr_redis_store *)st;
    *sum = 0;
    writ_status ret = check_names(limit, key, err);
    if (ret)
        return ret;
    if (last < first)
        return WRIT_OK;
    if ((uint64_t)last - (uint64_t)first >= MAX_SPAN)
        return rd_fail(err, WRIT_EINVAL, "counter sum", "more than 100000 buckets in one sum");
    size_t nb = (size_t)(last - first) + 1;
    /* one MGET: the keys share one buffer, offsets first (it may move) */
    const char **argv = wr_calloc(nb + 1, sizeof *argv);
    size_t *lens = wr_calloc(nb + 1, sizeof *lens);
    size_t *offs = wr_calloc(nb, sizeof *offs);
    sbuf k;
    sb_init(&k);
    if (!argv || !lens || !offs) {
        ret = rd_fail(err, WRIT_ENOMEM, "out of memory", NULL);
        goto out;
    }
    for (size_t i = 0; i < nb; i++) {
        offs[i] = k.len;
        prefix(&k, limit);
        sb_puts(&k, key);
        sb_printf(&k, ":%" PRId64, first + (int64_t)i);
        lens[i + 1] = k.len - offs[i];
    }
    if (!sb_ok(&k)) {
        ret = rd_fail(err, WRIT_ENOMEM, "out of memory", NULL);
        goto out;
    }
    argv[0] = "MGET";
    lens[0] = 4;
    for (size_t i = 0; i < nb; i++)
        argv[i + 1] = k.p + offs[i];
    redisContext *c = rd_get(s, err);
    if (!c) {
        ret = WRIT_EIO;
        goto out;
    }
    redisReply *r = redisCommandArgv(c, (int)nb + 1, argv, lens);
    if (!r) {
        ret = rd_fail(err, WRIT_EIO, "counter sum", rd_noreply(c));
    } else {
        ret = sum_of(r, nb, "counter sum", sum, err);
    }
    freeReplyObject(r);
    rd_put(s, c);
out:
    sb_free(&k);
    wr_free(argv);
    wr_free(lens);
    wr_free(offs);
    return ret;
}

/* The take (store.h): the range's buckets read and one of them (ARGV[3],
 * its place in KEYS) added to in one script, which Redis runs alone, so
 * two replicas' takes never both read a sum without the other's delta.
 * The buckets come back as MGET gives them (the sum is made here,
 * overflow checked). */
static const char take_lua[] =
    "local v = redis.call('MGET', unpack(KEYS))\n"
    "if ARGV[1] ~= '0' then\n"
    "  local k = KEYS[tonumber(ARGV[3])]\n"
    "  redis.call('INCRBY', k, ARGV[1])\n"
    "  redis.call('PEXPIREAT', k, ARGV[2])\n"
    "end\n"
    "return v\n";

#define MAX_TAKE 40 /* buckets in one take: its keys are the script's arguments */

writ_status wr_redis_counter_take(wr_store *st, const char *limit, const char *key, int64_t first,
                                  int64_t last, int64_t at, int64_t delta, int64_t expires_ms, int64_t *sum,
                                  writ_error *err)
{
    wr_redis_store *s = (wr_redis_store *)st;
    *sum = 0;
    writ_status ret = check_names(limit, key, err);
    if (ret)
        return ret;
    if (last < first || (uint64_t)last - (uint64_t)first >= MAX_TAKE)
        return rd_fail(err, WRIT_EINVAL, "counter take", "1 to 40 buckets in one take");
    size_t nb = (size_t)(last - first) + 1;
    sbuf k;
    sb_init(&k);
    size_t offs[MAX_TAKE];
    for (size_t i = 0; i < nb; i++) {
        offs[i] = k.len;
        prefix(&k, limit);
        sb_puts(&k, key);
        sb_printf(&k, ":%" PRId64, first + (int64_t)i);
    }
    if (!sb_ok(&k)) {
        sb_free(&k);
        return rd_fail(err, WRIT_ENOMEM, "out of memory", NULL);
    }
    rd_args a = {0};
    for (size_t i = 0; i < nb; i++)
        rd_arg(&a, k.p + offs[i], (i + 1 < nb ? offs[i + 1] : k.len) - offs[i]);
    rd_arg_i64(&a, delta);
    rd_arg_i64(&a, expires_ms);
    rd_arg_i64(&a, at - first + 1); /* Lua counts from 1 */
    redisContext *c = rd_get(s, err);
    if (!c) {
        sb_free(&k);
        return WRIT_EIO;
    }
    redisReply *r = rd_script(c, take_lua, (int)nb, &a, "counter take", err);
    if (!r) {
        ret = WRIT_EIO;
    } else {
        ret = sum_of(r, nb, "counter take", sum, err);
    }
    freeReplyObject(r);
    rd_put(s, c);
    sb_free(&k);
    return ret;
}

/* The glob pattern matching LIMIT's keys: Redis's MATCH treats * ? [ ] \
 * specially, so they are escaped. */
static void match_pattern(sbuf *b, const char *limit)
{
    sb_printf(b, "writ:c:%zu:", strlen(limit));
    for (const char *p = limit; *p; p++) {
        if (strchr("*?[]\\", *p))
            sb_putc(b, '\\');
        sb_putc(b, *p);
    }
    sb_puts(b, ":*");
}

writ_status wr_redis_counter_scan(wr_store *st, const char *limit, int64_t now_ms,
                                  bool (*fn)(void *ud, const char *key, int64_t bucket, int64_t value,
                                             int64_t expires_ms),
                                  void *ud, writ_error *err)
{
    wr_redis_store *s = (wr_redis_store *)st;
    writ_status ret = check_names(limit, "", err);
    if (ret)
        return ret;
    sbuf pat, pre;
    sb_init(&pat);
    sb_init(&pre);
    match_pattern(&pat, limit);
    prefix(&pre, limit);
    if (!sb_ok(&pat) || !sb_ok(&pre)) {
        sb_free(&pat);
        sb_free(&pre);
        return rd_fail(err, WRIT_ENOMEM, "out of memory", NULL);
    }
    redisContext *c = rd_get(s, err);
    if (!c) {
        sb_free(&pat);
        sb_free(&pre);
        return WRIT_EIO;
    }
    char cursor[32] = "0";
    bool stop = false;
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %b COUNT 500", cursor, pat.p, pat.len);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[0]->len >= sizeof cursor ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            ret = rd_fail(err, WRIT_EIO, "counter scan",
                          !r                             ? rd_noreply(c)
                          : r->type == REDIS_REPLY_ERROR ? r->str
                                                         : "unexpected reply");
            freeReplyObject(r);
            break;
        }
        memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);
        const redisReply *keys = r->element[1];
        /* values and expiry times of this page: one pipeline */
        for (size_t i = 0; i < keys->elements; i++) {
            const redisReply *k = keys->element[i];
            if (redisAppendCommand(c, "GET %b", k->str, k->len) != REDIS_OK ||
                redisAppendCommand(c, "PEXPIRETIME %b", k->str, k->len) != REDIS_OK)
                c->err = REDIS_ERR_IO;
        }
        for (size_t i = 0; i < keys->elements && !c->err; i++) {
            const redisReply *k = keys->element[i];
            void *v = NULL, *e = NULL;
            if (redisGetReply(c, &v) != REDIS_OK || redisGetReply(c, &e) != REDIS_OK) {
                freeReplyObject(v);
                c->err = REDIS_ERR_IO;
                break;
            }
            int64_t value, exp;
            /* KEY:BUCKET after the prefix; the bucket is the last field */
            const char *rest = k->str + pre.len;
            const char *colon = k->len > pre.len ? strrchr(rest, ':') : NULL;
            char *end = NULL;
            long long b = colon ? strtoll(colon + 1, &end, 10) : 0;
            if (!stop && !ret && colon && end && !*end && rd_int(v, &value) && rd_int(e, &exp) &&
                (exp < 0 || exp > now_ms)) {
                char *key = wr_strndup(rest, (size_t)(colon - rest));
                if (!key)
                    ret = rd_fail(err, WRIT_ENOMEM, "out of memory", NULL);
                else if (!fn(ud, key, b, value, exp < 0 ? 0 : exp))
                    stop = true;
                wr_free(key);
            }
            freeReplyObject(v);
            freeReplyObject(e);
        }
        freeReplyObject(r);
        if (c->err && !ret)
            ret = rd_fail(err, WRIT_EIO, "counter scan", rd_noreply(c));
    } while (!ret && !stop && strcmp(cursor, "0") != 0);
    rd_put(s, c);
    sb_free(&pat);
    sb_free(&pre);
    return ret;
}
