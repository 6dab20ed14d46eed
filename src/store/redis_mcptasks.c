/* redis_mcptasks.c - MCP task bindings in Redis (store.h):
 *
 *   writ:mt:H     "EXPIRES_MS OWNER", expiring at EXPIRES_MS (PEXPIREAT);
 *                 H the hex SHA-256 of UPSTREAM NUL ID
 *   writ:mto:H    sorted set of the owner's binding keys by expires_ms;
 *                 H the hex SHA-256 of UPSTREAM NUL OWNER
 *
 * Hashing keeps every key 72 or 73 bytes whatever the upstream gives as a
 * task id (up to 8 KiB) and whatever an owner's name is; the NUL keeps
 * "a"+"bc" apart from "ab"+"c" (neither name holds one).  The value holds
 * the expiry too, so a lookup (one GET) honours it by the caller's clock,
 * not only Redis' own.  A bind is one script: a live binding is kept (the
 * first writer wins); else the binding is set, and the owner's set drops
 * what has expired and, past max_per_owner, the bindings expiring first
 * (keys and all).  The set expires with its last binding. */
#include "store/redis_int.h"
#include "util/text.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* prefix + the hex SHA-256 of a NUL b (b may hold anything but NUL) */
static bool key_of(char out[80], const char *prefix, const char *a, const char *b, size_t blen)
{
    unsigned char md[32];
    unsigned mdlen = 0;
    EVP_MD_CTX *x = EVP_MD_CTX_new();
    bool ok = x && EVP_DigestInit_ex(x, EVP_sha256(), NULL) && EVP_DigestUpdate(x, a, strlen(a) + 1) &&
              EVP_DigestUpdate(x, b, blen) && EVP_DigestFinal_ex(x, md, &mdlen) && mdlen == 32;
    EVP_MD_CTX_free(x);
    if (!ok)
        return false;
    size_t o = (size_t)snprintf(out, 80, "%s", prefix);
    wr_hex(out + o, md, 32);
    return true;
}

/* KEYS: the binding, the owner's set; ARGV: owner, expires_ms, now_ms,
 * max_per_owner.  1: the id is owner's after the step, 0: another's. */
static const char bind_lua[] =
    "local function owner_of(v)\n"
    "  local sp = v and string.find(v, ' ', 1, true)\n"
    "  if not sp then return nil, 0 end\n"
    "  return string.sub(v, sp + 1), tonumber(string.sub(v, 1, sp - 1)) or 0\n"
    "end\n"
    "local now = tonumber(ARGV[3])\n"
    "local o, exp = owner_of(redis.call('GET', KEYS[1]))\n"
    "if o and exp > now then\n"
    "  if o == ARGV[1] then return 1 end\n"
    "  return 0\n"
    "end\n"
    "redis.call('SET', KEYS[1], ARGV[2] .. ' ' .. ARGV[1])\n"
    "redis.call('PEXPIREAT', KEYS[1], ARGV[2])\n"
    "local z = KEYS[2]\n"
    "redis.call('ZREMRANGEBYSCORE', z, '-inf', now)\n"
    "redis.call('ZADD', z, ARGV[2], KEYS[1])\n"
    "local over = redis.call('ZCARD', z) - tonumber(ARGV[4])\n"
    "if tonumber(ARGV[4]) > 0 and over > 0 then\n"
    "  for _, k in ipairs(redis.call('ZRANGE', z, 0, over)) do\n"
    "    if over > 0 and k ~= KEYS[1] then\n"
    "      if owner_of(redis.call('GET', k)) == ARGV[1] then redis.call('DEL', k) end\n"
    "      redis.call('ZREM', z, k)\n"
    "      over = over - 1\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local last = redis.call('ZRANGE', z, -1, -1, 'WITHSCORES')\n"
    "redis.call('PEXPIREAT', z, last[2])\n"
    "return 1\n";

writ_status wr_redis_mcp_task_bind(wr_store *st, const char *upstream, const char *id, size_t idlen,
                                   const char *owner, int64_t expires_ms, uint32_t max_per_owner,
                                   int64_t now_ms, bool *mine, writ_error *err)
{
    wr_redis_store *s = (wr_redis_store *)st;
    char k[80], z[80];
    if (!key_of(k, "writ:mt:", upstream, id, idlen) ||
        !key_of(z, "writ:mto:", upstream, owner, strlen(owner)))
        return rd_fail(err, WRIT_EIO, "mcp task bind", "cannot hash the key");
    redisContext *c = rd_get(s, err);
    if (!c)
        return WRIT_EIO;
    rd_args a = {0};
    rd_arg_str(&a, k);
    rd_arg_str(&a, z);
    rd_arg_str(&a, owner);
    rd_arg_i64(&a, expires_ms);
    rd_arg_i64(&a, now_ms);
    rd_arg_i64(&a, max_per_owner);
    writ_status ret = WRIT_OK;
    redisReply *r = rd_script(c, bind_lua, 2, &a, "mcp task bind", err);
    if (!r)
        ret = WRIT_EIO;
    else if (r->type != REDIS_REPLY_INTEGER || (r->integer != 0 && r->integer != 1))
        ret = rd_fail(err, WRIT_EIO, "mcp task bind", "unexpected reply");
    else
        *mine = r->integer == 1;
    freeReplyObject(r);
    rd_put(s, c);
    return ret;
}

writ_status wr_redis_mcp_task_owner(wr_store *st, const char *upstream, const char *id, size_t idlen,
                                    int64_t now_ms, char owner[WR_MCP_TASK_OWNER_MAX + 1],
                                    int64_t *expires_ms, bool *found, writ_error *err)
{
    wr_redis_store *s = (wr_redis_store *)st;
    char k[80];
    if (!key_of(k, "writ:mt:", upstream, id, idlen))
        return rd_fail(err, WRIT_EIO, "mcp task owner", "cannot hash the key");
    redisContext *c = rd_get(s, err);
    if (!c)
        return WRIT_EIO;
    rd_args a = {0};
    rd_arg_str(&a, "GET");
    rd_arg_str(&a, k);
    writ_status ret = WRIT_OK;
    redisReply *r = rd_run(c, &a, "mcp task owner", err);
    if (!r) {
        ret = WRIT_EIO;
    } else if (r->type == REDIS_REPLY_STRING) {
        /* "EXPIRES_MS OWNER" */
        const char *sp = memchr(r->str, ' ', r->len);
        size_t ol = sp ? r->len - (size_t)(sp + 1 - r->str) : 0;
        char num[24], *end = NULL;
        size_t nl = sp ? (size_t)(sp - r->str) : 0;
        long long e = 0;
        if (nl > 0 && nl < sizeof num) {
            memcpy(num, r->str, nl);
            num[nl] = '\0';
            e = strtoll(num, &end, 10);
        }
        if (!end || *end || ol == 0 || ol > WR_MCP_TASK_OWNER_MAX || memchr(sp + 1, '\0', ol)) {
            ret = rd_fail(err, WRIT_EIO, "mcp task owner", "a binding is malformed");
        } else if (e > now_ms) {
            memcpy(owner, sp + 1, ol);
            owner[ol] = '\0';
            *expires_ms = e;
            *found = true;
        }
    } else if (r->type != REDIS_REPLY_NIL) {
        ret = rd_fail(err, WRIT_EIO, "mcp task owner", "unexpected reply");
    }
    freeReplyObject(r);
    rd_put(s, c);
    return ret;
}
