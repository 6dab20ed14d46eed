/* fuzz_authorize.c - fuzz a whole decision.
 *
 * The input is three parts separated by a line holding only "%%":
 *     policies \n%%\n entities JSON \n%%\n request JSON
 * so the fuzzer mutates the policy text and the data that the evaluator
 * walks.  Inputs without both separators only exercise the policy parser. */
#include "writ/cedar.h"

#include <stdint.h>
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

    if (writ_policyset_parse(text, a, &ps, &err) != WRIT_OK)
        goto out;
    if (b_start >= size || c_start >= size)
        goto out;
    if (writ_entities_parse(text + b_start, b - b_start, NULL, &es, &err) != WRIT_OK)
        goto out;
    if (writ_request_parse(text + c_start, size - c_start, NULL, false, &rq, &err) != WRIT_OK)
        goto out;
    az = writ_authorizer_new();
    if (az) {
        writ_decision d;
        if (writ_authorize(az, ps, es, rq, &d) == WRIT_OK) {
            for (size_t i = 0; i < d.nreasons; i++)
                (void)strlen(d.reasons[i]);
            for (size_t i = 0; i < d.nerrors; i++)
                (void)strlen(d.errors[i].policy_id);
        }
    }
out:
    writ_authorizer_free(az);
    writ_request_free(rq);
    writ_entities_free(es);
    writ_policyset_free(ps);
    return 0;
}
