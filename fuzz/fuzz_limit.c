/* fuzz_limit.c - fuzz the limit line parser (src/limits/parse.c).
 *
 * The input's first line is a limit line; the rest, line by line, are
 * action ids matched against it.  Checks: a line is accepted or refused
 * with a message naming a column ("limit: column N: ..."); an accepted
 * limit has an identifier name, a window of 1 s .. 366 d cut into buckets
 * that cover it, 1 to 32 action patterns, a sum path only with sum and a
 * store id that names it; printing the parts back and parsing that again
 * gives the same limit; a pattern made only of '*' matches every action,
 * and an action equal to a pattern without '*' matches it. */
#include "limits/limits.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_same(const wr_limit *a, const wr_limit *b)
{
    if (strcmp(a->name, b->name) || a->window_ms != b->window_ms || a->width_ms != b->width_ms ||
        a->nactions != b->nactions || a->sum != b->sum || a->per != b->per || strcmp(a->id, b->id))
        abort();
    for (size_t i = 0; i < a->nactions; i++)
        if (strcmp(a->actions[i], b->actions[i]))
            abort();
    if (a->sum && strcmp(a->sum_path, b->sum_path))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *nl = memchr(text, '\n', size);
    if (nl)
        *nl = '\0';
    wr_limit l;
    writ_error err;
    memset(&err, 0, sizeof err);
    writ_status st = wr_limit_parse(text, &l, &err);
    if (st) {
        if (st != WRIT_EINVAL && st != WRIT_ENOMEM)
            abort();
        if (st == WRIT_EINVAL && strncmp(err.msg, "limit: column ", 14) != 0)
            abort();
        free(text);
        return 0;
    }
    if (!l.name[0] || l.window_ms < 1000 || l.window_ms > WR_LIMIT_WINDOW_MAX_MS ||
        l.width_ms * WR_LIMIT_BUCKETS < l.window_ms || l.nactions < 1 || l.nactions > WR_LIMIT_ACTIONS_MAX ||
        (l.sum != (l.sum_path != NULL)) || (l.sum && (l.npath < 1 || l.npath > WR_LIMIT_PATH_MAX)) ||
        strncmp(l.id, l.name, strlen(l.name)) != 0)
        abort();
    /* printed back: the same limit */
    char again[2 * WR_LIMIT_LINE_MAX];
    int k = snprintf(again, sizeof again, "%s %llds ", l.name, (long long)(l.window_ms / 1000));
    for (size_t i = 0; i < l.nactions; i++)
        k += snprintf(again + k, sizeof again - (size_t)k, "%s%s", i ? "," : "", l.actions[i]);
    if (l.sum)
        k += snprintf(again + k, sizeof again - (size_t)k, " sum %s", l.sum_path);
    snprintf(again + k, sizeof again - (size_t)k, " per %s", wr_limit_per_name(l.per));
    wr_limit m;
    if (strlen(again) <= WR_LIMIT_LINE_MAX) {
        if (wr_limit_parse(again, &m, &err) != WRIT_OK)
            abort();
        check_same(&l, &m);
        wr_limit_clear(&m);
    }
    for (size_t i = 0; i < l.nactions; i++) {
        const char *p = l.actions[i];
        if (!strchr(p, '*') && !wr_limit_matches(&l, p))
            abort();
        if (strspn(p, "*") == strlen(p) && !wr_limit_matches(&l, "any/thing"))
            abort();
    }
    for (char *a = nl ? nl + 1 : NULL; a && *a;) {
        char *e = strchr(a, '\n');
        if (e)
            *e = '\0';
        (void)wr_limit_matches(&l, a);
        a = e ? e + 1 : NULL;
    }
    wr_limit_clear(&l);
    free(text);
    return 0;
}
