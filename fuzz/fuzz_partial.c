/* fuzz_partial.c - fuzz writ_authorize_partial against writ_authorize.
 *
 * The input is fuzz_authorize's: policies \n%%\n entities JSON \n%%\n
 * request JSON.  The request's context is one concrete value of the
 * attributes a partial decision leaves unknown, so the partial decision
 * must agree with the concrete one wherever it is certain:
 *   - the request allowed  -> the partial answer is not NO;
 *   - the partial answer ALWAYS -> the request is allowed.
 * Checked with context.input unknown, and with several attributes unknown;
 * with nothing unknown the partial decision must be the decision itself
 * (ALWAYS or NO, the same reasons and failing policies).
 * A disagreement aborts (the fuzzer reports it as a crash). */
#include "writ/cedar.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Find "\n%%\n" in [p, p+n); return its offset or n. */
static size_t find_sep(const char *p, size_t n)
{
    for (size_t i = 0; i + 4 <= n; i++)
        if (p[i] == '\n' && p[i + 1] == '%' && p[i + 2] == '%' && p[i + 3] == '\n')
            return i;
    return n;
}

static const char *const ONE[] = {"input"};
static const char *const SEVERAL[] = {"input", "tool", "a", "b", "n", "s"};

static void check(writ_authorizer *az, const writ_policyset *ps, const writ_entities *es,
                  const writ_request *rq, bool allow, const char *const *unknown, size_t n)
{
    writ_partial_decision pd;
    if (writ_authorize_partial(az, ps, es, rq, unknown, n, &pd) != WRIT_OK)
        return;
    for (size_t i = 0; i < pd.nreasons; i++)
        (void)strlen(pd.reasons[i]);
    for (size_t i = 0; i < pd.nerrors; i++)
        (void)strlen(pd.errors[i].message);
    if (allow && pd.maybe == WRIT_MAYBE_NO) {
        fprintf(stderr, "fuzz_partial: allowed, but the partial decision says NO\n");
        abort();
    }
    if (!allow && pd.maybe == WRIT_MAYBE_ALWAYS) {
        fprintf(stderr, "fuzz_partial: denied, but the partial decision says ALWAYS\n");
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    size_t a = find_sep(text, size);
    size_t b_start = a + 4 <= size ? a + 4 : size;
    size_t b = b_start + find_sep(text + b_start, size - b_start);
    size_t c_start = b + 4 <= size ? b + 4 : size;

    writ_policyset *ps = NULL;
    writ_entities *es = NULL;
    writ_request *rq = NULL;
    writ_authorizer *az = NULL;
    writ_error err;

    if (b_start >= size || c_start >= size)
        goto out;
    if (writ_policyset_parse(text, a, &ps, &err) != WRIT_OK)
        goto out;
    if (writ_entities_parse(text + b_start, b - b_start, NULL, &es, &err) != WRIT_OK)
        goto out;
    if (writ_request_parse(text + c_start, size - c_start, NULL, false, &rq, &err) != WRIT_OK)
        goto out;
    az = writ_authorizer_new();
    writ_decision d;
    if (!az || writ_authorize(az, ps, es, rq, &d) != WRIT_OK)
        goto out;
    /* d points into az: keep what is needed before the next call (the ids
     * themselves belong to ps) */
    bool allow = d.allow;
    size_t nr = d.nreasons, ne = d.nerrors;
    const char **ids = malloc((nr + ne + 1) * sizeof *ids);
    if (!ids)
        goto out;
    for (size_t i = 0; i < nr; i++)
        ids[i] = d.reasons[i];
    for (size_t i = 0; i < ne; i++)
        ids[nr + i] = d.errors[i].policy_id;
    writ_partial_decision pd;
    if (writ_authorize_partial(az, ps, es, rq, NULL, 0, &pd) == WRIT_OK) {
        bool same =
            pd.maybe == (allow ? WRIT_MAYBE_ALWAYS : WRIT_MAYBE_NO) && pd.nreasons == nr && pd.nerrors == ne;
        for (size_t i = 0; same && i < nr; i++)
            same = !strcmp(pd.reasons[i], ids[i]);
        for (size_t i = 0; same && i < ne; i++)
            same = !strcmp(pd.errors[i].policy_id, ids[nr + i]);
        if (!same) {
            fprintf(stderr, "fuzz_partial: nothing unknown, yet the partial decision differs\n");
            abort();
        }
    }
    free(ids);
    check(az, ps, es, rq, allow, ONE, 1);
    check(az, ps, es, rq, allow, SEVERAL, sizeof SEVERAL / sizeof *SEVERAL);
out:
    writ_authorizer_free(az);
    writ_request_free(rq);
    writ_entities_free(es);
    writ_policyset_free(ps);
    return 0;
}
