/* fuzz_explain.c - fuzz writ_explain: the same input as fuzz_authorize
 * (policies \n%%\n entities JSON \n%%\n request JSON).  The explained
 * decision must be writ_authorize's, every quoted text must be the source
 * bytes at its line:column, and each permit named must be a permit. */
#include "writ/cedar.h"

#include <stdint.h>
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

/* The text at line:column of src is t. */
static void check_part(const char *src, size_t len, const writ_explain_part *p)
{
    size_t off = 0;
    for (uint32_t l = 1; l < p->line && off < len; off++)
        if (src[off] == '\n')
            l++;
    off += p->column - 1;
    size_t tl = strlen(p->text);
    if (off > len || tl > len - off || memcmp(src + off, p->text, tl))
        abort();
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
    if (writ_policyset_parse(text, a, &ps, &err) != WRIT_OK || b_start >= size || c_start >= size)
        goto out;
    if (writ_entities_parse(text + b_start, b - b_start, NULL, &es, &err) != WRIT_OK)
        goto out;
    if (writ_request_parse(text + c_start, size - c_start, NULL, false, &rq, &err) != WRIT_OK)
        goto out;
    if (!(az = writ_authorizer_new()))
        goto out;
    writ_decision d, e;
    writ_explanation x;
    if (writ_authorize(az, ps, es, rq, &d) != WRIT_OK)
        goto out;
    bool allow = d.allow;
    size_t nr = d.nreasons, ne = d.nerrors;
    if (writ_explain(az, ps, es, rq, &e, &x) != WRIT_OK)
        goto out;
    if (e.allow != allow || e.nreasons != nr || e.nerrors != ne)
        abort();
    if (allow && (x.npermits || x.nforbids))
        abort();
    if (!allow && x.nforbids != nr)
        abort();
    for (size_t i = 0; i < x.npermits; i++)
        for (size_t k = 0; k < x.permits[i].nparts; k++)
            check_part(text, a, &x.permits[i].parts[k]);
    for (size_t i = 0; i < x.nforbids; i++) {
        if (!x.forbids[i].held)
            abort();
        for (size_t k = 0; k < x.forbids[i].nparts; k++)
            check_part(text, a, &x.forbids[i].parts[k]);
    }
out:
    writ_authorizer_free(az);
    writ_request_free(rq);
    writ_entities_free(es);
    writ_policyset_free(ps);
    return 0;
}
