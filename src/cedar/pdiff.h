/* pdiff.h - a candidate policy set's decision from the live one's.
 *
 * A candidate set (shadow_policies, docs/SHADOW.md) is usually the live
 * file with a few policies changed: evaluating all of it a second time on
 * every request repeats the live evaluation for every policy the two share.
 * A policy of the candidate is *shared* when the live set has a policy of
 * the same name whose text (from its first annotation to its `;`) is byte
 * for byte the same: parsed alike, it is the same policy, so on the same
 * request, entities and context it is satisfied, unsatisfied or in error
 * exactly as the live one was.  The live evaluation (writ_authorize)
 * already found every satisfied policy of the live set, not only the
 * determining ones (cedar_authorize_last); so the candidate's decision is
 * Cedar's combining rule over
 *
 *     the shared policies the live evaluation found satisfied
 *   + the candidate's other policies, evaluated alone (`delta`),
 *
 * which is what writ_authorize(candidate) gives: the same allow and the
 * same reasons, in the candidate's policy order (tests/unit/test_pdiff.c
 * compares the two over generated sets and requests).  Errors are not
 * reported (the shadow step does not read them).  When the live answer
 * did not come from writ_authorize of the live set (writ_explain, or the
 * authorizer used since), the whole candidate is evaluated. */
#ifndef WRIT_CEDAR_PDIFF_H
#define WRIT_CEDAR_PDIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "writ/cedar.h"

/* The satisfied permits and forbids (policy indices in ps, in policy
 * order) of the last writ_authorize of az, if it decided ps and az was not
 * used since; false otherwise.  Valid until az's next use. */
bool cedar_authorize_last(const writ_authorizer *az, const writ_policyset *ps, const uint32_t **permits,
                          size_t *np, const uint32_t **forbids, size_t *nf);
/* n bytes from az's scratch arena, valid until az's next decision. */
void *cedar_authorizer_scratch(writ_authorizer *az, size_t n);

typedef struct cedar_pdiff cedar_pdiff;

/* cand against live (both borrowed: they must outlive the diff).  NULL on
 * out of memory. */
cedar_pdiff *cedar_pdiff_new(const writ_policyset *live, const writ_policyset *cand);
void cedar_pdiff_free(cedar_pdiff *d);
/* How many of the candidate's policies are evaluated on their own. */
size_t cedar_pdiff_delta(const cedar_pdiff *d);

/* The candidate's decision on rq (allow and reasons, no errors), given
 * live_az, which decided the live set on the same rq last; az is another
 * authorizer (it holds the answer's reasons). */
WRIT_MUST_CHECK writ_status cedar_pdiff_authorize(const cedar_pdiff *d, const writ_authorizer *live_az,
                                                  writ_authorizer *az, const writ_entities *es,
                                                  const writ_request *rq, writ_decision *out);

/* One evaluation for the candidate and another small set pre (the live
 * file's @mode("shadow") policies, src/shadow/): cedar_pdiff_join makes
 * the set of pre's policies then the delta's (false on out of memory: then
 * evaluate them apart); cedar_pdiff_authorize_joined evaluates it once and
 * gives *pre_out, pre's decision as writ_authorize(pre) gives it, and
 * *out, the candidate's as cedar_pdiff_authorize (WRIT_EINVAL when live_az
 * did not decide the live set last: evaluate them apart).  pre must
 * outlive d. */
bool cedar_pdiff_join(cedar_pdiff *d, const writ_policyset *pre);
WRIT_MUST_CHECK writ_status cedar_pdiff_authorize_joined(const cedar_pdiff *d, const writ_authorizer *live_az,
                                                         writ_authorizer *az, const writ_entities *es,
                                                         const writ_request *rq, writ_decision *pre_out,
                                                         writ_decision *out);

#endif
