/* shadow.h - shadow policies: evaluated, recorded, never enforced.
 *
 * Two sources, both loaded with the live policy set (snapshot.c) and
 * swapped with it on reload:
 *
 *   - policies of the live file annotated @mode("shadow").  The live set
 *     is parsed without them (WRIT_PS_EXCLUDE_SHADOW); this module holds
 *     them as a set of their own (WRIT_PS_ONLY_SHADOW), which with the live
 *     answer gives the "would-be" answer: the decision if the shadow
 *     policies were enforced (shadow.c says why that is exact).  When it
 *     differs from the live one, the decision's audit record gets
 *
 *         "shadow": {"decision": "allow"|"deny", "policies": [...]}
 *
 *     with the shadow policies among the would-be answer's determining
 *     policies, and writ_shadow_changes_total{policy="<id>"} counts each.
 *
 *   - a candidate set (`shadow_policies = FILE`): a whole other policy file
 *     evaluated beside the live one.  A disagreement gets
 *
 *         "shadow": {"decision": ..., "policies": [...], "set": "candidate"}
 *
 *     with the candidate's determining policies, and counts in
 *     writ_shadow_set_disagreements_total.  The candidate is read as it would
 *     be if it went live: named by @id, its own @mode("shadow") policies left
 *     out.
 *
 *   When both disagree on one request, the field is the first object with
 *   the candidate's as "candidate": {...}.
 *
 * Cost: a snapshot with neither has no shd_set (NULL), and the decision
 * path tests one pointer.  With them, each decision is at most one more
 * evaluation, on the same request and entities (a second authorizer per
 * thread, so the live answer's reasons stay valid): of the shadow policies
 * (when they could change the answer) with the candidate's policies the
 * live set does not share, in one set (cedar/pdiff.h).  Deciding the shadow
 * answer never changes the live one: an error there is counted
 * (writ_shadow_errors_total) and recorded nowhere else. */
#ifndef WRIT_SHADOW_SHADOW_H
#define WRIT_SHADOW_SHADOW_H

#include <stdbool.h>
#include <stddef.h>

#include "util/sbuf.h"
#include "writ/cedar.h"

typedef struct shd_set shd_set;

/* Build from the live policy text and the candidate's (cand NULL: none).
 * *out stays NULL when there is nothing to shadow.  Errors carry
 * line:column; the caller prefixes the file. */
WRIT_MUST_CHECK writ_status shd_load_live(const char *text, size_t len, shd_set **out, writ_error *err);
WRIT_MUST_CHECK writ_status shd_load_candidate(shd_set **set, const char *text, size_t len, writ_error *err);
void shd_free(shd_set *sh);
/* The live set the candidate is decided beside (borrowed, it must outlive
 * sh): the candidate's policies the live set shares are then not evaluated
 * again (cedar/pdiff.h); without it, or out of memory, the whole candidate
 * is.  After shd_load_candidate. */
void shd_attach_live(shd_set *sh, const writ_policyset *live);

/* After the live decision: the shadow field for the audit record
 * (wr_malloc'd JSON), or NULL when nothing would decide otherwise. */
char *shd_decide(const shd_set *sh, const writ_entities *es, const writ_request *rq,
                 const writ_decision *live);
/* The same, where live_az made the live decision with writ_authorize of the
 * set given to shd_attach_live on this rq (and was not used since): the
 * candidate's shared policies are read from it (exactly the same answer).
 * live is the decision as enforced.  denies: decide as `writ serve` does
 * with forbid_error_denies, a forbid that fails to evaluate denies, in the
 * candidate and among the shadow policies (shd_decide: Cedar's rule, the
 * forbid skipped, as `writ authorize` answers). */
char *shd_decide_after(const shd_set *sh, const writ_authorizer *live_az, const writ_entities *es,
                       const writ_request *rq, const writ_decision *live, bool denies);

/* The counters, Prometheus text. */
void shd_metrics(sbuf *o);

#endif
