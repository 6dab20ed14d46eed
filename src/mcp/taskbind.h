/* taskbind.h - MCP tasks bound to the agent that created them.
 *
 * A task-augmented tools/call (params.task, MCP 2025-11-25) answers with a
 * task id at once; the result is fetched later by that id (tasks/result),
 * and tasks/get, tasks/cancel and tasks/list name or show tasks.  The
 * upstream serves every agent with the one credential the gateway injects
 * (a stdio process, or a stateless HTTP server, keeps one task store for
 * all), so it cannot tell whose task an id is: any agent whom a policy lets
 * use tasks at all could list the others' tasks, read their results and
 * cancel them.  A policy cannot say whose task an id is either.  So the
 * gateway remembers which agent each task was created for (the id in the
 * answer to that agent's call), and a tasks/get, tasks/result or
 * tasks/cancel naming a task of another agent, or one it never saw, is
 * refused (-32602, as an unknown task id; the gateway's audit record of
 * the refusal says which of the two, mcp_taskbind_whose), and tasks/list
 * shows an agent its own tasks only.
 *
 * What is remembered is bounded: a task is kept for its ttl (at most
 * TASKBIND_MAX_TTL_MS; one without a ttl that long), each owner has at most
 * per_owner tasks (its oldest forgotten first) and the table at most cap
 * (the one expiring first forgotten).  A forgotten task (and, shared, one
 * the store no longer holds either) is no longer reachable through the
 * gateway by anyone (it fails closed), and one agent creating many tasks
 * pushes out only its own.
 *
 * Shared (mcp_taskbind_share): the table is then a cache of the state
 * store's bindings (store.h, wr_store_mcp_task_*), so that a task created
 * through one replica is its owner's on every replica, and after a
 * restart.  Every binding new here is written through to the store before
 * mcp_taskbind_add returns (so before the answer naming the task reaches
 * the agent), and a task this table does not hold is asked for there
 * before it is called nobody's; what the store answers is remembered here.
 * The store keeps per_owner bindings per owner and upstream too (the table
 * bound is local: the store's entries live until they expire).  A table
 * that holds a task honours it until it expires here, whatever the store
 * dropped meanwhile.  Store calls are made without the table's lock held,
 * on the caller's thread, bounded by the store's own timeouts (Redis: the
 * connect and command timeout).  When the store fails, a lookup is
 * TASKBIND_UNAVAILABLE (the gateway refuses: fail closed) and a binding is
 * kept here only (this replica honours it; the others do not know it) until
 * the store answers a later call again: it is written then.
 *
 * Thread-safe.  Owners and ids are strings without NUL (an id holding one
 * is never remembered). */
#ifndef WRIT_MCP_TASKBIND_H
#define WRIT_MCP_TASKBIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define TASKBIND_MAX_TTL_MS ((int64_t)24 * 3600 * 1000)

typedef struct mcp_taskbind mcp_taskbind;

/* cap: tasks in all; per_owner: tasks of one owner (both >= 1).  NULL when
 * out of memory. */
mcp_taskbind *mcp_taskbind_new(size_t cap, size_t per_owner);
void mcp_taskbind_free(mcp_taskbind *t);

/* Share t's bindings through st, under the name upstream (copied; at most
 * WR_MCP_TASK_NAME_MAX bytes, else t stays unshared: false).  Before t is
 * used; st outlives t.  st NULL: memory only (the default). */
bool mcp_taskbind_share(mcp_taskbind *t, wr_store *st, const char *upstream);

/* Remember task id as owner's, until now_ms + ttl_ms (ttl_ms <= 0 or past
 * the maximum: the maximum; now_ms is unix ms when shared).  An id already
 * remembered, here or in the store, keeps its owner (false when that is
 * another).  False when out of memory or id is empty or holds NUL.  Shared,
 * a store that fails leaves the binding here alone: true, and its error in
 * why (n bytes; why is "" otherwise). */
bool mcp_taskbind_add(mcp_taskbind *t, const char *id, size_t idlen, const char *owner, int64_t ttl_ms,
                      int64_t now_ms, char *why, size_t n);

/* Is task id remembered as owner's (and not expired at now_ms)? */
bool mcp_taskbind_owns(mcp_taskbind *t, const char *id, size_t idlen, const char *owner, int64_t now_ms);

/* Whose task id is at now_ms, for the audit record of a refusal (the agent
 * is told only that it has no such task): owner's, another owner's (its
 * name into detail, cut to n - 1 bytes, when detail), nobody's (never
 * remembered, expired or forgotten), or, shared, not known here and the
 * store failed (TASKBIND_UNAVAILABLE: its error into detail).  detail is
 * "" otherwise.  Shared, a task not held here is asked for in the store
 * when asks is NULL or *asks > 0 (*asks is then counted down, and set to
 * 0 when the store fails; at 0 the task is nobody's without asking: a
 * bound for a listing's many ids). */
typedef enum mcp_task_whose {
    TASKBIND_UNKNOWN,
    TASKBIND_MINE,
    TASKBIND_OTHERS,
    TASKBIND_UNAVAILABLE,
} mcp_task_whose;
mcp_task_whose mcp_taskbind_whose(mcp_taskbind *t, const char *id, size_t idlen, const char *owner,
                                  int64_t now_ms, unsigned *asks, char *detail, size_t n);

/* How many tasks are remembered (expired ones included until swept). */
size_t mcp_taskbind_count(mcp_taskbind *t);

#endif
