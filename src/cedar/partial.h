/* partial.h - policy conditions with some context attributes unknown
 * (the evaluation behind writ_authorize_partial; see partial.c). */
#ifndef WRIT_CEDAR_PARTIAL_H
#define WRIT_CEDAR_PARTIAL_H

#include "cedar/eval.h"

/* Outcomes a policy's conditions may have over all values of the unknown
 * attributes: satisfied, not satisfied, failed.  A single bit is certain. */
enum { CEDAR_P_SAT = 1, CEDAR_P_UNSAT = 2, CEDAR_P_ERROR = 4 };

/* The conditions of pol (its scope is known to match) with the context
 * attributes named in unknown[] unknown: CEDAR_P_* bits, never 0.  When
 * the result is CEDAR_P_ERROR alone, env->err says why. */
unsigned cedar_peval_conditions(eval_env *env, const ast_policy *pol, const char *const *unknown,
                                size_t n_unknown);

#endif
