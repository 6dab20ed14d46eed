/* redis_int.h - the Redis backend's handle, shared by its files: redis.c
 * (URL, connections, commands, scripts), redis_tls.c (rediss://),
 * redis_approvals.c, redis_counters.c, redis_revocations.c,
 * redis_mcptasks.c.
 *
 * Every key starts with "writ:"; a deployment that shares one Redis
 * between several Writ installations gives each its own database (/DB). */
#ifndef WRIT_STORE_REDIS_INT_H
#define WRIT_STORE_REDIS_INT_H

#include <hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/time.h>

#include "store/store_int.h"

#define RD_POOL 16 /* idle connections kept; more are opened on demand */
#define RD_MAXARGS 48

typedef struct rd_tls rd_tls;

typedef struct wr_redis_store {
    wr_store base;
    rd_tls *tls; /* rediss://: the TLS settings (redis_tls.c); NULL = plain TCP */
    char host[256];
    int port;
    int db;
    char user[128];         /* "" = the default user */
    char *password;         /* NULL = no AUTH */
    struct timeval timeout; /* connect and command */
    pthread_mutex_t mu;     /* guards idle and down_why */
    redisContext *idle[RD_POOL];
    size_t nidle;
    /* the breaker (redis.c): calls fail at once until then (monotonic ms),
     * 0 = closed; and why it opened */
    _Atomic int64_t down_until;
    char down_why[208];
    /* when the revocation feed's thread last began a try (rd_get_probe),
     * monotonic ms; 0 = never: while it keeps trying, it alone asks a
     * silent Redis again (redis.c) */
    _Atomic int64_t probe_began;
} wr_redis_store;

/* A command's arguments (binary safe); numbers are formatted in place. */
typedef struct rd_args {
    int n;
    const char *v[RD_MAXARGS];
    size_t len[RD_MAXARGS];
    char num[RD_MAXARGS][24];
} rd_args;
void rd_arg(rd_args *a, const char *s, size_t len);
void rd_arg_str(rd_args *a, const char *s); /* NULL = "" */
void rd_arg_i64(rd_args *a, int64_t v);

/* A connection of the pool (connected, authenticated, database selected),
 * or NULL with err.  Give it back with rd_put: a connection that failed is
 * closed there, the next rd_get opens a new one. */
redisContext *rd_get(wr_redis_store *s, writ_error *err);
/* The same, past an open breaker: for the revocation feed's thread, whose
 * tries close it as soon as Redis answers again (redis.c). */
redisContext *rd_get_probe(wr_redis_store *s, writ_error *err);
void rd_put(wr_redis_store *s, redisContext *c);
/* Run one command: its reply (freeReplyObject) or NULL with err (a failed
 * connection, or an error reply: "state: redis: WHAT: MESSAGE"). */
redisReply *rd_run(redisContext *c, const rd_args *a, const char *what, writ_error *err);
/* After a call on c that got no reply: why, c marked never to be reused. */
const char *rd_noreply(redisContext *c);
/* Run a Lua script (EVALSHA, then EVAL when Redis does not know it yet):
 * args are the script's keys then arguments, nkeys of them keys. */
redisReply *rd_script(redisContext *c, const char *src, int nkeys, const rd_args *args, const char *what,
                      writ_error *err);
/* ---- TLS (redis_tls.c).  hiredis 0.14 speaks RESP over a file descriptor
 * only, so a rediss:// connection is a socketpair: hiredis has one end
 * (redisConnectFd), and a thread of the connection relays between the
 * other end and the TLS session with the server (OpenSSL). */

/* Read the CA file (NULL or "" = the system's store) and the client
 * certificate and key (both or neither); errors name the setting. */
WRIT_MUST_CHECK writ_status rd_tls_new(const char *ca, const char *cert, const char *key, rd_tls **out,
                                       writ_error *err);
/* The store's reference; the TLS context goes with the last connection. */
void rd_tls_release(rd_tls *t);
/* Connect to host:port, shake hands (the server's certificate verified
 * against the CAs and for host), and hand hiredis its end: a connected
 * redisContext, or NULL with err ("state: redis: HOST:PORT: TLS ..."). */
redisContext *rd_tls_connect(rd_tls *t, const char *host, int port, struct timeval timeout, writ_error *err);

/* Fill err; returns WRIT_EIO (or code). */
writ_status rd_fail(writ_error *err, writ_status code, const char *what, const char *detail);
/* A reply's string as int64 (integer or decimal string); false if neither. */
bool rd_int(const redisReply *r, int64_t *v);

writ_status wr_redis_approval_take(wr_store *st, const wr_approval *want, uint32_t max_pending,
                                   int64_t now_ms, wr_take *res, wr_approval *out, writ_error *err);
writ_status wr_redis_approval_get(wr_store *st, const char *id, int64_t now_ms, wr_approval *out, bool *found,
                                  writ_error *err);
writ_status wr_redis_approval_page(wr_store *st, int status, const wr_approval_pos *after, size_t limit,
                                   int64_t now_ms, wr_approval **out, size_t *n, writ_error *err);
writ_status wr_redis_approval_decide(wr_store *st, const char *id, bool approve, const char *by,
                                     const char *reason, int64_t now_ms, wr_decide_result *res,
                                     wr_approval *out, writ_error *err);
writ_status wr_redis_approval_expired(wr_store *st, int64_t now_ms, wr_approval **out, size_t *n,
                                      writ_error *err);
writ_status wr_redis_approval_prune(wr_store *st, int64_t before_ms, size_t *removed, writ_error *err);
writ_status wr_redis_counter_add(wr_store *st, const char *limit, const char *key, int64_t bucket,
                                 int64_t delta, int64_t expires_ms, writ_error *err);
writ_status wr_redis_counter_sum(wr_store *st, const char *limit, const char *key, int64_t first,
                                 int64_t last, int64_t *sum, writ_error *err);
writ_status wr_redis_counter_take(wr_store *st, const char *limit, const char *key, int64_t first,
                                  int64_t last, int64_t at, int64_t delta, int64_t expires_ms, int64_t *sum,
                                  writ_error *err);
writ_status wr_redis_counter_scan(wr_store *st, const char *limit, int64_t now_ms,
                                  bool (*fn)(void *ud, const char *key, int64_t bucket, int64_t value,
                                             int64_t expires_ms),
                                  void *ud, writ_error *err);
writ_status wr_redis_revocation_publish(wr_store *st, int kind, const char *value, size_t len, int64_t until,
                                        writ_error *err);
writ_status wr_redis_revocation_follow(wr_store *st, char cursor[WR_REV_CURSOR_MAX], int wait_ms,
                                       bool (*fn)(void *ud, int kind, const char *value, size_t len,
                                                  int64_t until),
                                       void *ud, bool *lost, writ_error *err);
writ_status wr_redis_mcp_task_bind(wr_store *st, const char *upstream, const char *id, size_t idlen,
                                   const char *owner, int64_t expires_ms, uint32_t max_per_owner,
                                   int64_t now_ms, bool *mine, writ_error *err);
writ_status wr_redis_mcp_task_owner(wr_store *st, const char *upstream, const char *id, size_t idlen,
                                    int64_t now_ms, char owner[WR_MCP_TASK_OWNER_MAX + 1],
                                    int64_t *expires_ms, bool *found, writ_error *err);

#endif
