/* fuzz_policy.c - libFuzzer target: the Cedar policy parser, and the
 * evaluator on whatever parses (empty request, no entities). */
#include "writ/cedar.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    writ_policyset *ps = NULL;
    writ_error err;
    if (writ_policyset_parse((const char *)data, size, &ps, &err) != WRIT_OK)
        return 0;
    static const char req[] =
        "{\"principal\":{\"type\":\"User\",\"id\":\"alice\"},\"action\":{\"type\":\"Action\",\"id\":\"view\"},"
        "\"resource\":{\"type\":\"Photo\",\"id\":\"a\"},\"context\":{\"n\":1,\"s\":\"x\"}}";
    writ_request *rq = NULL;
    writ_entities *es = NULL;
    writ_authorizer *az = writ_authorizer_new();
    if (az && writ_request_parse(req, sizeof req - 1, NULL, false, &rq, &err) == WRIT_OK &&
        writ_entities_parse("[]", 2, NULL, &es, &err) == WRIT_OK) {
        writ_decision d;
        if (writ_authorize(az, ps, es, rq, &d) == WRIT_OK && d.nreasons)
            (void)d.reasons[0];
    }
    writ_authorizer_free(az);
    writ_entities_free(es);
    writ_request_free(rq);
    writ_policyset_free(ps);
    return 0;
}
