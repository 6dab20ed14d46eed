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
 * (the one expiring first forgotten).  A forgotten task is no longer
 * reachable through the gateway by anyone (it fails closed), and one agent
 * creating many tasks pushes out only its own.  The table lives in memory:
 * after a restart, or on another replica, a task from before is refused.
 *
 * Thread-safe.  Owners and ids are strings without NUL (an id holding one
 * is never remembered). */
#ifndef WRIT_MCP_TASKBIND_H
#define WRIT_MCP_TASKBIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TASKBIND_MAX_TTL_MS ((int64_t)24 * 3600 * 1000)

typedef struct mcp_taskbind mcp_taskbind;

/* cap: tasks in all; per_owner: tasks of one owner (both >= 1).  NULL when
 * out of memory. */
mcp_taskbind *mcp_taskbind_new(size_t cap, size_t per_owner);
void mcp_taskbind_free(mcp_taskbind *t);

/* Remember task id as owner's, until now_ms + ttl_ms (ttl_ms <= 0 or past
 * the maximum: the maximum).  An id already remembered keeps its owner
 * (false when that is another).  False when out of memory or id is empty
 * or holds NUL. */
bool mcp_taskbind_add(mcp_taskbind *t, const char *id, size_t idlen, const char *owner, int64_t ttl_ms,
                      int64_t now_ms);

/* Is task id remembered as owner's (and not expired at now_ms)? */
bool mcp_taskbind_owns(mcp_taskbind *t, const char *id, size_t idlen, const char *owner, int64_t now_ms);

/* Whose task id is at now_ms, for the audit record of a refusal (the agent
 * is told only that it has no such task): owner's, another owner's (its
 * name into other, cut to n - 1 bytes, when other), or nobody's (never
 * remembered, expired or forgotten).  other is "" unless another's. */
typedef enum mcp_task_whose { TASKBIND_UNKNOWN, TASKBIND_MINE, TASKBIND_OTHERS } mcp_task_whose;
mcp_task_whose mcp_taskbind_whose(mcp_taskbind *t, const char *id, size_t idlen, const char *owner, int64_t now_ms,
                                  char *other, size_t n);

/* How many tasks are remembered (expired ones included until swept). */
size_t mcp_taskbind_count(mcp_taskbind *t);

#endif
