/* fuzz_validate.c - fuzz the policy validator.
 *
 * The input is a schema and a policy set: schema text \n%%\n policy text.
 * When both parse, the set is validated (with and without the text for
 * positions, and with an inapplicable scope as an error); every issue must
 * name a policy of the set, carry a message and point inside the text, and
 * the counts must add up.  Anything else aborts (the fuzzer reports it). */
#include "writ/cedar.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t find_sep(const char *p, size_t n)
{
    for (size_t i = 0; i + 4 <= n; i++)
        if (p[i] == '\n' && p[i + 1] == '%' && p[i + 2] == '%' && p[i + 3] == '\n')
            return i;
    return n;
}

static void check(const writ_schema *s, const writ_policyset *ps, const char *text, size_t len, bool with_text,
                  bool applies_to_error)
{
    writ_validation *v = NULL;
    writ_error err;
    writ_validate_options opt = {with_text ? text : NULL, with_text ? len : 0, applies_to_error};
    if (writ_validate(s, ps, &opt, &v, &err) != WRIT_OK) {
        if (v)
            abort();
        return;
    }
    size_t errors = 0, warnings = 0;
    for (size_t i = 0; i < v->nissues; i++) {
        const writ_validation_issue *it = &v->issues[i];
        bool known = false;
        for (size_t k = 0; k < writ_policyset_count(ps) && !known; k++)
            known = !strcmp(writ_policyset_id(ps, k), it->policy_id);
        if (!known || !it->message || !*it->message || it->offset > len || (with_text && !it->line)) {
            fprintf(stderr, "fuzz_validate: bad issue %zu: %s\n", i, it->message ? it->message : "(null)");
            abort();
        }
        if (it->warning)
            warnings++;
        else
            errors++;
    }
    if (errors != v->nerrors || warnings != v->nwarnings || v->npolicies != writ_policyset_count(ps))
        abort();
    writ_validation_free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    size_t a = find_sep(text, size);
    size_t p_start = a + 4 <= size ? a + 4 : size;
    writ_schema *s = NULL;
    writ_policyset *ps = NULL;
    writ_error err;
    if (writ_schema_parse(text, a, &s, &err) == WRIT_OK &&
        writ_policyset_parse(text + p_start, size - p_start, &ps, &err) == WRIT_OK) {
        check(s, ps, text + p_start, size - p_start, true, false);
        check(s, ps, text + p_start, size - p_start, false, true);
    }
    writ_policyset_free(ps);
    writ_schema_free(s);
    return 0;
}
