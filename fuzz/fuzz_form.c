/* fuzz_form.c - fuzz the form bodies of /oauth2/token and /oauth2/revoke
 * (src/server/form.c): the input is the body.
 *
 * Checks: a parsed form keeps its limits (pairs, name length), decodes to
 * no more bytes than it had, names each single-valued parameter once, and
 * form_get/form_list agree with it; the scope and ttl read from it are
 * well-formed; a refused body gets a message, and an offset in it lies
 * within the body. */
#include "server/form.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_why(const char *why, size_t size)
{
    if (!why[0])
        abort();
    const char *o = strstr(why, "offset ");
    if (o && strtoull(o + 7, NULL, 10) > size)
        abort();
}

static void check_scope(const form *f)
{
    static req_scope rs;
    char why[200] = "";
    const char *base_actions[] = {"read"};
    writ_task_scope base = {.purpose = "base", .actions = base_actions, .n_actions = 1};
    for (int b = 0; b < 2; b++) {
        why[0] = '\0';
        if (form_scope(f, b ? &base : NULL, &rs, why, sizeof why)) {
            check_why(why, SIZE_MAX);
            continue;
        }
        const char *scope = form_get(f, "scope");
        if (scope) {
            if (!rs.given || rs.sc.n_actions < 1 || rs.sc.n_actions > FORM_MAX_SCOPE)
                abort();
            size_t total = 0;
            for (size_t i = 0; i < rs.sc.n_actions; i++) {
                const char *a = rs.sc.actions[i];
                if (!*a || strchr(a, ' '))
                    abort();
                total += strlen(a);
            }
            if (total > strlen(scope))
                abort();
        } else if (b ? rs.sc.actions != base.actions : rs.sc.n_actions != 0) {
            abort();
        }
        if (rs.sc.n_resources > FORM_MAX_LIST || rs.sc.n_destinations > FORM_MAX_LIST)
            abort();
        if (rs.sc.sensitivity && writ_sensitivity_rank(rs.sc.sensitivity) < 0)
            abort();
    }
    uint32_t ttl = 12345;
    why[0] = '\0';
    if (form_ttl(f, 900, &ttl, why, sizeof why)) {
        check_why(why, SIZE_MAX);
    } else if (form_get(f, "ttl") ? ttl < 1 || ttl > 900 : ttl != 0) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    form f;
    char why[200] = "";
    if (form_parse((const char *)data, size, &f, why, sizeof why)) {
        check_why(why, size);
        form_free(&f);
        return 0;
    }
    if (f.n < 1 || f.n > FORM_MAX_PARAMS)
        abort();
    size_t decoded = 0;
    for (size_t i = 0; i < f.n; i++) {
        size_t nl = strlen(f.name[i]);
        if (nl < 1 || nl > FORM_MAX_NAME)
            abort();
        decoded += nl + 1 + strlen(f.value[i]); /* the '=' */
        bool list = !strcmp(f.name[i], "resource") || !strcmp(f.name[i], "destination");
        size_t first = i;
        for (size_t k = 0; k < i; k++)
            if (!strcmp(f.name[k], f.name[i])) {
                if (!list)
                    abort(); /* a single-valued name given twice */
                if (first == i)
                    first = k;
            }
        if (form_get(&f, f.name[i]) != f.value[first])
            abort();
    }
    /* each '&' between pairs counts too */
    if (decoded + f.n - 1 > size)
        abort();
    const char *vals[FORM_MAX_PARAMS];
    size_t n;
    if (form_list(&f, "resource", vals, FORM_MAX_PARAMS, &n) || n > f.n)
        abort();
    check_scope(&f);
    form_free(&f);
    return 0;
}
