/* store.h - the state every replica of Writ must agree on, behind one
 * interface: approvals (src/approval/), task-history counters
 * (src/limits/) and which agent each MCP task belongs to (src/mcp/
 * taskbind.c), and the feed of revocations that replicas share (each
 * replica keeps the revocation set itself in memory, revocations.c).
 *
 * A backend is a table of operations (wr_store_ops) behind a handle.  The
 * embedded default is SQLite (STATE_DIR/writ.db, sqlite.c); a shared one
 * (Redis) implements the same table.  The callers never know which.
 *
 * Every operation is atomic in its backend, whoever else uses the same
 * state at the same time (other threads, other processes on the same file,
 * other replicas on the same Redis): wr_store_approval_take is one
 * transaction (SQLite: BEGIN IMMEDIATE; Redis: one script), so of two
 * concurrent identical requests exactly one consumes an approval.
 *
 * Times are unix milliseconds and are passed in by the caller (so tests and
 * replicas agree on "now").  Strings handed in are copied; strings handed
 * out are owned by the result and freed by wr_approval_clear /
 * wr_approvals_free.  Every operation is safe to call from any thread. */
#ifndef WRIT_STORE_STORE_H
#define WRIT_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "writ/writ.h"

typedef struct wr_store wr_store;

/* ---- opening */

/* spec: the `state` setting: "" or "sqlite" for the embedded store at
 * sqlite_path (created 0600 if missing), or redis://[USER@]HOST:PORT[/DB]
 * for a Redis server shared by the replicas (redis.c), or rediss://... for
 * the same over TLS (redis_tls.c).  Other schemes are refused with a clear
 * error.  Opening does no network I/O (TLS files are read then): an
 * unreachable Redis shows up as the error of the first operation. */
WRIT_MUST_CHECK writ_status wr_store_open(const char *spec, const char *sqlite_path, wr_store **out,
                                          writ_error *err);
typedef struct wr_store_opts {
    const char *password_file; /* Redis: its first line is the password (AUTH); NULL = none */
    unsigned timeout_ms;       /* Redis: connect and command timeout, 0 = 2000 */
    /* rediss:// only (NULL or "" = unset): the CAs that vouch for the server
     * (PEM file; unset = the system's store), and a client certificate and
     * its key (PEM files, both or neither) for Redis' tls-auth-clients */
    const char *tls_ca, *tls_cert, *tls_key;
} wr_store_opts;
/* wr_store_open with options (o NULL = defaults). */
WRIT_MUST_CHECK writ_status wr_store_open_opts(const char *spec, const char *sqlite_path,
                                               const wr_store_opts *o, wr_store **out, writ_error *err);
void wr_store_close(wr_store *st);
/* "sqlite" or "redis": names the backend in logs and metrics. */
const char *wr_store_backend(const wr_store *st);
/* True when other processes may change the state between two calls (a
 * shared backend): callers must not answer from a local copy then. */
bool wr_store_shared(const wr_store *st);

/* ---- approvals */

typedef enum wr_approval_status {
    WR_APPROVAL_PENDING = 0,
    WR_APPROVAL_APPROVED,
    WR_APPROVAL_DENIED,
    WR_APPROVAL_CONSUMED,
    WR_APPROVAL_EXPIRED, /* derived: pending or approved past expires_ms */
} wr_approval_status;

const char *wr_approval_status_name(wr_approval_status s); /* "pending", ... */
/* -1 for an unknown name */
int wr_approval_status_parse(const char *name);

/* One approval.  binding is what makes two requests "the same action": the
 * lowercase hex SHA-256 of the bound fields (agent, task, chain, action,
 * resource, input_sha256), computed by src/approval/. */
typedef struct wr_approval {
    char id[40];            /* URL-safe, unguessable */
    char binding[65];
    wr_approval_status status;
    char *agent;            /* Cedar uid string: Writ::Agent::"..." */
    char *action;           /* action id: "deploy" */
    char *resource;         /* Cedar uid string */
    char *task_id;          /* NULL or "" without a task */
    char *task_purpose;
    char *chain;            /* JSON array of agent ids, "[]" without one */
    char input_sha256[65];
    char *input;            /* JCS text of context.input, "{}" when none */
    int64_t created_ms, expires_ms, decided_ms; /* decided_ms 0 while pending */
    char *decided_by;       /* NULL while pending; uid string or "admin" */
    char *reason;           /* NULL while pending */
} wr_approval;

void wr_approval_clear(wr_approval *a);
void wr_approvals_free(wr_approval *list, size_t n);

typedef enum wr_take {
    WR_TAKE_CONSUMED,   /* an approved approval, consumed now by this caller: allow */
    WR_TAKE_PENDING,    /* the existing pending approval for this binding */
    WR_TAKE_CREATED,    /* none was live: *want stored as a new pending approval */
    WR_TAKE_DENIED,     /* denied by an approver and not expired: deny with its reason */
    WR_TAKE_FULL,       /* none was live and the agent has max_pending pending already:
                           nothing stored, *out left empty */
} wr_take;

/* The one atomic step of a request that needs approval.  For want->binding
 * at now_ms: an approved, unexpired approval becomes consumed (exactly one
 * concurrent caller sees WR_TAKE_CONSUMED); else a pending, unexpired one is
 * returned; else a denied, unexpired one; else want (id, times and all
 * fields filled by the caller) is stored as pending, unless want->agent
 * has max_pending approvals pending (status pending, not expired) already:
 * then nothing is stored and *res is WR_TAKE_FULL.  The count is part of
 * the same atomic step, so racing requests of one agent never make more
 * than max_pending; max_pending 0 is no cap.  *out receives the approval
 * as stored after the step. */
WRIT_MUST_CHECK writ_status wr_store_approval_take(wr_store *st, const wr_approval *want, uint32_t max_pending,
                                                   int64_t now_ms, wr_take *res, wr_approval *out,
                                                   writ_error *err);

/* *found false (and WRIT_OK) for an unknown id. */
WRIT_MUST_CHECK writ_status wr_store_approval_get(wr_store *st, const char *id, int64_t now_ms,
                                                  wr_approval *out, bool *found, writ_error *err);

/* A place in the listing of approvals.  The listing is newest first:
 * created_ms descending, then id descending (bytewise) among approvals
 * created in the same millisecond. */
typedef struct wr_approval_pos {
    int64_t created_ms;
    char id[40];
} wr_approval_pos;

/* Most approvals one page holds. */
#define WR_APPROVAL_PAGE_MAX 1000

/* One page of the listing: at most limit (1..WR_APPROVAL_PAGE_MAX, else
 * WRIT_EINVAL) approvals of status (< 0: every status), the first strictly
 * after *after (NULL: from the newest).  *more: approvals of that status
 * follow the last one returned; the next page starts after it.  A page is
 * short only at the end.  A place, not an offset: approvals created or
 * removed meanwhile never shift a later page nor make it repeat one (one
 * created meanwhile lands in a later page only if its created_ms is not
 * past the place: a replica whose clock is behind). */
WRIT_MUST_CHECK writ_status wr_store_approval_page(wr_store *st, int status, const wr_approval_pos *after,
                                                   size_t limit, int64_t now_ms, wr_approval **out, size_t *n,
                                                   bool *more, writ_error *err);

/* Every approval of status (< 0: all), newest first, page after page: no
 * bound, for tools and tests; answers to requests use pages. */
WRIT_MUST_CHECK writ_status wr_store_approval_list(wr_store *st, int status, int64_t now_ms,
                                                   wr_approval **out, size_t *n, writ_error *err);

typedef enum wr_decide_result {
    WR_DECIDE_DONE,        /* was pending: now approved or denied */
    WR_DECIDE_NOT_FOUND,
    WR_DECIDE_NOT_PENDING, /* approved, denied, consumed or expired already */
} wr_decide_result;

/* pending -> approved (approve) or denied, atomically. */
WRIT_MUST_CHECK writ_status wr_store_approval_decide(wr_store *st, const char *id, bool approve,
                                                     const char *by, const char *reason, int64_t now_ms,
                                                     wr_decide_result *res, wr_approval *out,
                                                     writ_error *err);

/* Approvals that expired since the last call (for their audit records);
 * each is reported once. */
WRIT_MUST_CHECK writ_status wr_store_approval_expired(wr_store *st, int64_t now_ms, wr_approval **out,
                                                      size_t *n, writ_error *err);

/* Forget approvals that ended before before_ms: expires_ms < before_ms and
 * consumed, denied, or expired with the expiry reported.  Nothing live is
 * removed (a live approval has not expired), so take, decide and list answer
 * as before for every other approval; the audit log keeps the history.
 * *removed: how many (at most 1000 a call). */
WRIT_MUST_CHECK writ_status wr_store_approval_prune(wr_store *st, int64_t before_ms, size_t *removed,
                                                    writ_error *err);

/* ---- task-history counters
 *
 * A counter is a sum per (limit, key) in time buckets: bucket b covers
 * [b * width, (b + 1) * width) ms for the limit's bucket width.  Values are
 * int64 (a decimal sum is kept in units of 10^-4, Cedar's decimal scale).
 * A bucket may be dropped once expires_ms has passed; every add to one
 * (limit, bucket) passes the same expires_ms (the limits derive it from the
 * bucket and the width, which the limit's name holds), so a backend may
 * keep the first. */

/* Add delta to one bucket (atomic increment).  A negative delta (a take
 * given back) that brings the bucket to 0 may drop it (Redis deletes it,
 * so denied requests leave no key behind); it reads 0 either way. */
WRIT_MUST_CHECK writ_status wr_store_counter_add(wr_store *st, const char *limit, const char *key,
                                                 int64_t bucket, int64_t delta, int64_t expires_ms,
                                                 writ_error *err);

/* Several adds in one atomic step (SQLite: one transaction), for a
 * writer that batches them.  A backend without its own does one add each
 * (store.c).  Added for the limits' write-behind (src/limits/counters.c). */
typedef struct wr_counter_delta {
    const char *limit, *key;
    int64_t bucket, delta, expires_ms;
} wr_counter_delta;
WRIT_MUST_CHECK writ_status wr_store_counter_add_many(wr_store *st, const wr_counter_delta *d, size_t n,
                                                      writ_error *err);

/* The sum of buckets first..last (inclusive). */
WRIT_MUST_CHECK writ_status wr_store_counter_sum(wr_store *st, const char *limit, const char *key,
                                                 int64_t first, int64_t last, int64_t *sum, writ_error *err);

/* Take: the sum of buckets first..last (inclusive) as it was, and delta
 * added to bucket at (first <= at <= last), in one atomic step (SQLite: one
 * transaction; Redis: one script), so that of two takes at once the later
 * one reads the other's delta.  This is how a decision on a shared store
 * holds its own count (src/limits/counters.c): a deny gives it back with
 * wr_store_counter_add(-delta).  delta 0 only reads.  (The limits read one
 * bucket past the one they add to: what a replica whose clock runs ahead
 * counted.) */
WRIT_MUST_CHECK writ_status wr_store_counter_take(wr_store *st, const char *limit, const char *key,
                                                  int64_t first, int64_t last, int64_t at, int64_t delta,
                                                  int64_t expires_ms, int64_t *sum, writ_error *err);

/* Every live bucket of one limit (for loading a local cache at start):
 * calls fn for each; fn returning false stops. */
WRIT_MUST_CHECK writ_status wr_store_counter_scan(wr_store *st, const char *limit, int64_t now_ms,
                                                  bool (*fn)(void *ud, const char *key, int64_t bucket,
                                                             int64_t value, int64_t expires_ms),
                                                  void *ud, writ_error *err);

/* ---- revocations shared between replicas
 *
 * The backend keeps every revocation (kind as writ_revoke_kind 1..4, a value
 * of 1..2048 bytes without NUL, until in unix seconds, 0 = forever) and a
 * log of their publication.  A replica answers from its own in-memory set
 * (writ_revocations) and follows the log to learn what others revoked.
 * Publishing the same (kind, value) again merges until as the set does
 * (0 wins, else the later one). */

/* Store one revocation durably (before returning) and announce it. */
WRIT_MUST_CHECK writ_status wr_store_revocation_publish(wr_store *st, int kind, const char *value, size_t len,
                                                        int64_t until, writ_error *err);

/* A position in the log, opaque to the caller; "" = none yet. */
#ifndef WR_REV_CURSOR_MAX
#define WR_REV_CURSOR_MAX 128
#endif

/* Deliver to fn the revocations published after cursor and advance it.
 * With "" (or a cursor the backend can no longer continue from without a
 * gap: its log was trimmed past it, or the backend lost its data and
 * started a new log) every stored revocation is delivered, so a follower
 * never misses one; it may see one more than once.  wait_ms > 0 waits up
 * to that long for a first new entry when there is none (Redis: XREAD
 * BLOCK); SQLite does not wait.  fn returning false stops the delivery
 * early: the cursor then stays before that entry.  *lost (lost may be
 * NULL) is set when the backend is found to have lost what it held when
 * the cursor was taken (Redis restarted empty or flushed: a new log; the
 * SQLite file replaced): what was delivered is all it holds now, and the
 * follower may know revocations it no longer has (see revocations.c).
 * Returns an error (cursor unchanged) when the backend cannot be
 * reached. */
WRIT_MUST_CHECK writ_status wr_store_revocation_follow(
    wr_store *st, char cursor[WR_REV_CURSOR_MAX], int wait_ms,
    bool (*fn)(void *ud, int kind, const char *value, size_t len, int64_t until), void *ud, bool *lost,
    writ_error *err);

/* ---- MCP task bindings
 *
 * Which agent each task of an MCP upstream belongs to (src/mcp/taskbind.h):
 * the gateway records the task id that a task-augmented call's answer
 * names as the calling agent's, and a replica that does not know a task
 * itself asks here.  upstream is 1..WR_MCP_TASK_NAME_MAX bytes and owner
 * 1..WR_MCP_TASK_OWNER_MAX (C strings); the id is (id, idlen),
 * 1..WR_MCP_TASK_ID_MAX bytes without NUL (else WRIT_EINVAL).  A binding
 * lives until its expires_ms; a backend drops it some time after. */
#define WR_MCP_TASK_NAME_MAX 256
#define WR_MCP_TASK_OWNER_MAX 4096
#define WR_MCP_TASK_ID_MAX 8192

/* Record task id of upstream as owner's until expires_ms, in one atomic
 * step: unless a binding of that id lives at now_ms already, which is then
 * kept as it is (the first writer wins: an upstream that gives one id to
 * two agents leaves it the first one's).  *mine: the id is owner's after
 * the step.  max_per_owner > 0: owner then has at most that many live
 * bindings on upstream, those expiring first dropped (never this one);
 * 0 = no cap. */
WRIT_MUST_CHECK writ_status wr_store_mcp_task_bind(wr_store *st, const char *upstream, const char *id,
                                                   size_t idlen, const char *owner, int64_t expires_ms,
                                                   uint32_t max_per_owner, int64_t now_ms, bool *mine,
                                                   writ_error *err);

/* The live binding (at now_ms) of task id of upstream: *found, its owner
 * into owner (a NUL-terminated copy) and its expires_ms.  *found false,
 * owner "" and WRIT_OK when there is none: never recorded, expired or
 * dropped. */
WRIT_MUST_CHECK writ_status wr_store_mcp_task_owner(wr_store *st, const char *upstream, const char *id,
                                                    size_t idlen, int64_t now_ms,
                                                    char owner[WR_MCP_TASK_OWNER_MAX + 1],
                                                    int64_t *expires_ms, bool *found, writ_error *err);

/* ---- for backends (store_int.h holds wr_store_ops) */

#endif
