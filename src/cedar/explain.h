/* explain.h - explained decisions (explain.c): what authorize.c lends
 * them, and their JSON form, shared by `writ authorize --explain`,
 * `writ test` and the AuthZEN option. */
#ifndef WRIT_CEDAR_EXPLAIN_H
#define WRIT_CEDAR_EXPLAIN_H

#include "cedar/eval.h"
#include "util/sbuf.h"
#include "writ/cedar.h"

/* After a decision by az (whose results stay valid: the arena is not
 * rewound): rq's environment in *env and the policies whose scope matches
 * in cand[0..nc), in no particular order.  -1 on out of memory. */
int cedar_candidates_again(writ_authorizer *az, const writ_policyset *ps, const writ_entities *es,
                           const writ_request *rq, eval_env *env, const uint32_t **cand, size_t *nc);

/* `"permits":[...],"forbids":[...]` (no braces):
 *   permits: {"policy": id, "held": bool, "condition"?: PART, "error"?: msg}
 *   forbids: {"policy": id, "conditions": [PART...]}
 *   PART:    {"clause": "when"|"unless", "text": source, "line": n, "column": n} */
void cedar_explain_json(sbuf *b, const writ_explanation *x);

#endif
