/* task_int.h - the task token object, shared by the three files of task
 * tokens: task.c (the object, its accessors and its claims), task_verify.c
 * (the verifier and its cache) and task_issue.c (mint, exchange,
 * delegate). */
#ifndef WRIT_TOKEN_TASK_INT_H
#define WRIT_TOKEN_TASK_INT_H

#include "token/token_int.h"
#include "util/arena.h"

#include <stdatomic.h>
#include <stdbool.h>

#define MAX_ITEMS 256
#define MAX_ITEM_LEN 512
#define MAX_PURPOSE 1024

struct writ_task_token {
    atomic_int refs;
    json_t *claims;
    wr_arena *arena;
    const char *jti, *txn, *sub, *holder, *iss, *purpose, *sensitivity, *cnf;
    const char *sub_type; /* principal type of sub when not a SPIFFE agent, or NULL */
    int64_t exp, iat, nbf;
    bool has_nbf;
    unsigned depth;
    const char **chain; /* depth + 1, root first */
    const char **anc;   /* depth */
    const char **actions, **resources, **destinations;
    size_t n_actions, n_resources, n_destinations;
};

/* Fill t from t->claims and run the static checks (those that depend on
 * the token bytes only; task_verify.c caches their result). */
writ_status wr_task_parse_claims(writ_task_token *t, const char *issuer, writ_reason *why, writ_error *err);
/* A refusal with its reason, in a function with `why` and `err` in scope. */
#define BAD(r, ...) return wr_refuse(why, err, WRIT_EINVAL, r, __VA_ARGS__)

/* A scope item: an exact string or a prefix pattern "abc*" (task.c). */
bool wr_task_item_ok(const char *s, size_t n);
/* A JSON array of the strings (NULL on OOM). */
json_t *wr_task_json_strs(const char *const *items, size_t n);

#endif
