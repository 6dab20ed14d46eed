/* eval.h - evaluate Cedar expressions and policies against one request. */
#ifndef WRIT_CEDAR_EVAL_H
#define WRIT_CEDAR_EVAL_H

#include "cedar/ast.h"
#include "cedar/entities.h"

typedef struct eval_env {
    wr_arena *arena;            /* scratch for computed values */
    const cedar_entities *es;   /* may be NULL: no entities */
    const cedar_entity *over;   /* per-request entity overrides, looked up first */
    size_t nover;
    cv_value var[4];            /* principal, action, resource (entities), context (record) */
    const cedar_entity *ent[3]; /* the first three looked up once (NULL: not in the store) */
    int depth;                  /* of the walk under way (cedar_eval); start at 0 */
    char err[200];              /* message of the last error */
} eval_env;

/* Fill env->ent from env->var (call once per request, after es/over). */
void cedar_env_resolve(eval_env *env);

/* 0 and *out, or -1 with env->err set (a Cedar evaluation error). */
int cedar_eval(eval_env *env, const ast_node *n, cv_value *out);

/* cedar_eval of a condition: a bool, else a type error (as the evaluator
 * reads a `when` clause or an operand of `&&`). */
int cedar_eval_bool(eval_env *env, const ast_node *n, bool *out);

/* Does the policy's scope match the request?  Never fails. */
bool cedar_scope_matches(const eval_env *env, const ast_policy *pol);
/* Does scope s hold for the uid u (e: its entity, NULL when the store has
 * none)?  Cedar's scope check for one of principal, action, resource. */
bool cedar_scope_holds(const ast_scope *s, const cv_uid *u, const cedar_entity *e);

/* Scope and conditions: 0 with *satisfied, or -1 with env->err set. */
int cedar_eval_policy(eval_env *env, const ast_policy *pol, bool *satisfied);
/* The conditions alone, for a policy whose scope is known to match. */
int cedar_eval_conditions(eval_env *env, const ast_policy *pol, bool *satisfied);

/* `like`: does s match the pattern? */
bool cedar_like(const char *s, size_t n, const ast_pattern *pat);

#endif
