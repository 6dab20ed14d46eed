/* parse.c - the limit line:  NAME WINDOW ACTIONS [sum PATH] [per task|agent|root]
 * (limits.h).  Every error names the column of the word at fault. */
#include "limits/limits.h"
#include "cedar/value.h"
#include "util/alloc.h"
#include "util/arena.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static writ_status bad(writ_error *err, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static writ_status bad(writ_error *err, size_t col, const char *fmt, ...)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = WRIT_EINVAL;
        char m[sizeof err->msg];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m, sizeof m, fmt, ap);
        va_end(ap);
        int k = snprintf(err->msg, sizeof err->msg, "limit: column %zu: ", col);
        if (k > 0 && (size_t)k < sizeof err->msg)
            memcpy(err->msg + k, m, strnlen(m, sizeof err->msg - (size_t)k - 1) + 1),
                err->msg[sizeof err->msg - 1] = '\0';
    }
    return WRIT_EINVAL;
}

static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* A Cedar identifier of at most max bytes (not a reserved word: it is read
 * after a '.'; Cedar allows any identifier there). */
static bool ident(const char *s, size_t n, size_t max)
{
    if (n == 0 || n > max || !is_alpha(s[0]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!is_alpha(s[i]) && !is_digit(s[i]))
            return false;
    return true;
}

typedef struct word {
    const char *p;
    size_t n, col;
} word;

const char *wr_limit_per_name(wr_limit_per p)
{
    return p == WR_PER_TASK ? "task" : p == WR_PER_AGENT ? "agent" : "root";
}

void wr_limit_clear(wr_limit *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->nactions; i++)
        wr_free(l->actions[i]);
    wr_free(l->actions);
    for (size_t i = 0; i < l->npath; i++)
        wr_free(l->path[i]);
    wr_free(l->path);
    wr_free(l->sum_path);
    memset(l, 0, sizeof *l);
}

static writ_status window(const word *w, int64_t *ms, writ_error *err)
{
    int64_t x = 0;
    size_t i = 0;
    for (; i < w->n && is_digit(w->p[i]); i++)
        if (x <= WR_LIMIT_WINDOW_MAX_MS)
            x = x * 10 + (w->p[i] - '0'); /* past the maximum: stays past it */
    if (i == 0)
        return bad(err, w->col, "window '%.*s': expected seconds, or a number with s, m, h or d (24h)",
                   (int)(w->n > 40 ? 40 : w->n), w->p);
    int64_t unit = 1000;
    if (i + 1 == w->n) {
        switch (w->p[i]) {
        case 's':
            unit = 1000;
            break;
        case 'm':
            unit = 60 * 1000;
            break;
        case 'h':
            unit = 3600 * 1000;
            break;
        case 'd':
            unit = 86400 * 1000;
            break;
        default:
            return bad(err, w->col + i, "window '%.*s': unit '%c' is not s, m, h or d",
                       (int)(w->n > 40 ? 40 : w->n), w->p, w->p[i]);
        }
    } else if (i != w->n) {
        return bad(err, w->col, "window '%.*s': expected seconds, or a number with s, m, h or d (24h)",
                   (int)(w->n > 40 ? 40 : w->n), w->p);
    }
    if (x == 0 || x > WR_LIMIT_WINDOW_MAX_MS / unit)
        return bad(err, w->col, "window '%.*s': must be 1 s to 366 d", (int)(w->n > 40 ? 40 : w->n), w->p);
    *ms = x * unit;
    return WRIT_OK;
}

static writ_status actions(const word *w, wr_limit *l, writ_error *err)
{
    size_t start = 0;
    for (size_t i = 0; i <= w->n; i++) {
        if (i < w->n && w->p[i] != ',')
            continue;
        size_t n = i - start;
        if (n == 0)
            return bad(err, w->col + start, "empty action name in the list '%.*s'",
                       (int)(w->n > 60 ? 60 : w->n), w->p);
        if (n > 128)
            return bad(err, w->col + start, "action name longer than 128 bytes");
        if (l->nactions >= WR_LIMIT_ACTIONS_MAX)
            return bad(err, w->col + start, "more than %d actions", WR_LIMIT_ACTIONS_MAX);
        char *a = wr_strndup(w->p + start, n);
        char **v = a ? wr_realloc(l->actions, (l->nactions + 1) * sizeof *v) : NULL;
        if (!v) {
            wr_free(a);
            if (err) {
                memset(err, 0, sizeof *err);
                err->code = WRIT_ENOMEM;
                snprintf(err->msg, sizeof err->msg, "out of memory");
            }
            return WRIT_ENOMEM;
        }
        l->actions = v;
        v[l->nactions++] = a;
        start = i + 1;
    }
    return WRIT_OK;
}

static writ_status path(const word *w, wr_limit *l, writ_error *err)
{
    static const char pre[] = "context.";
    if (w->n < sizeof pre || memcmp(w->p, pre, sizeof pre - 1) != 0)
        return bad(err, w->col, "sum path '%.*s' must start with 'context.' (e.g. context.amount)",
                   (int)(w->n > 60 ? 60 : w->n), w->p);
    if (!(l->sum_path = wr_strndup(w->p, w->n)))
        goto oom;
    size_t start = sizeof pre - 1;
    for (size_t i = start; i <= w->n; i++) {
        if (i < w->n && w->p[i] != '.')
            continue;
        if (!ident(w->p + start, i - start, 128))
            return bad(err, w->col + start,
                       "sum path: '%.*s' is not an attribute name (letters, digits, '_')",
                       (int)(i - start > 60 ? 60 : i - start), w->p + start);
        if (l->npath >= WR_LIMIT_PATH_MAX)
            return bad(err, w->col + start, "sum path deeper than %d attributes", WR_LIMIT_PATH_MAX);
        if (l->npath == 0 && i - start == 7 && !memcmp(w->p + start, "history", 7))
            return bad(err, w->col + start, "sum path: context.history is set by Writ, not summed");
        char *seg = wr_strndup(w->p + start, i - start);
        char **v = seg ? wr_realloc(l->path, (l->npath + 1) * sizeof *v) : NULL;
        if (!v) {
            wr_free(seg);
            goto oom;
        }
        l->path = v;
        v[l->npath++] = seg;
        start = i + 1;
    }
    return WRIT_OK;
oom:
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = WRIT_ENOMEM;
        snprintf(err->msg, sizeof err->msg, "out of memory");
    }
    return WRIT_ENOMEM;
}

writ_status wr_limit_parse(const char *line, wr_limit *out, writ_error *err)
{
    memset(out, 0, sizeof *out);
    size_t len = strlen(line);
    if (len > WR_LIMIT_LINE_MAX)
        return bad(err, WR_LIMIT_LINE_MAX + 1, "longer than %d bytes", WR_LIMIT_LINE_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return bad(err, i + 1, "control character 0x%02x", c);
    }
    word w[8];
    size_t nw = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)line[i];
        if (c == ' ' || c == '\t') {
            i++;
            continue;
        }
        size_t s = i;
        while (i < len && line[i] != ' ' && line[i] != '\t')
            i++;
        if (nw == sizeof w / sizeof w[0])
            return bad(err, s + 1,
                       "unexpected '%.*s' after the line's end (expected NAME WINDOW ACTIONS "
                       "[sum PATH] [per task|agent|root])",
                       (int)(i - s > 40 ? 40 : i - s), line + s);
        w[nw++] = (word){line + s, i - s, s + 1};
    }
    if (nw < 3)
        return bad(err, nw ? w[nw - 1].col + w[nw - 1].n : 1,
                   "expected NAME WINDOW ACTIONS [sum PATH] [per task|agent|root], the %s is missing",
                   nw == 0   ? "NAME"
                   : nw == 1 ? "WINDOW"
                             : "ACTIONS");
    writ_status st;
    if (!ident(w[0].p, w[0].n, 64)) {
        st = bad(err, w[0].col,
                 "name '%.*s' must be an identifier (a letter or '_', then letters, digits, '_'; "
                 "at most 64)",
                 (int)(w[0].n > 64 ? 64 : w[0].n), w[0].p);
        goto fail;
    }
    memcpy(out->name, w[0].p, w[0].n);
    out->name[w[0].n] = '\0';
    if ((st = window(&w[1], &out->window_ms, err)) || (st = actions(&w[2], out, err)))
        goto fail;
    out->per = WR_PER_TASK;
    size_t i = 3;
    bool have_per = false;
    while (i < nw) {
        if (w[i].n == 3 && !memcmp(w[i].p, "sum", 3) && !out->sum && !have_per) {
            if (i + 1 >= nw) {
                st = bad(err, w[i].col + 3, "'sum' needs a PATH (e.g. context.amount)");
                goto fail;
            }
            if ((st = path(&w[i + 1], out, err)))
                goto fail;
            out->sum = true;
            i += 2;
        } else if (w[i].n == 3 && !memcmp(w[i].p, "per", 3) && !have_per) {
            if (i + 1 >= nw) {
                st = bad(err, w[i].col + 3, "'per' needs task, agent or root");
                goto fail;
            }
            const word *p = &w[i + 1];
            if (p->n == 4 && !memcmp(p->p, "task", 4))
                out->per = WR_PER_TASK;
            else if (p->n == 5 && !memcmp(p->p, "agent", 5))
                out->per = WR_PER_AGENT;
            else if (p->n == 4 && !memcmp(p->p, "root", 4))
                out->per = WR_PER_ROOT;
            else {
                st = bad(err, p->col, "per '%.*s': expected task, agent or root",
                         (int)(p->n > 40 ? 40 : p->n), p->p);
                goto fail;
            }
            have_per = true;
            i += 2;
        } else {
            st = bad(err, w[i].col,
                     "unexpected '%.*s' (expected NAME WINDOW ACTIONS [sum PATH] "
                     "[per task|agent|root])",
                     (int)(w[i].n > 40 ? 40 : w[i].n), w[i].p);
            goto fail;
        }
    }
    out->width_ms = (out->window_ms + WR_LIMIT_BUCKETS - 1) / WR_LIMIT_BUCKETS;
    snprintf(out->id, sizeof out->id, "%s:%s:%s:%lld", out->name, wr_limit_per_name(out->per),
             out->sum ? "sum" : "count", (long long)out->width_ms);
    return WRIT_OK;
fail:
    wr_limit_clear(out);
    return st;
}

/* '*' matches any run of characters (iterative, with one backtrack point:
 * linear in practice, quadratic at worst on 128-byte patterns). */
static bool glob(const char *p, const char *s)
{
    const char *star = NULL, *back = NULL;
    while (*s) {
        if (*p == '*') {
            star = p++;
            back = s;
        } else if (*p == *s) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++back;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return !*p;
}

bool wr_limit_matches(const wr_limit *l, const char *action)
{
    if (l->any)
        return true;
    for (size_t i = 0; i < l->nactions; i++)
        if (glob(l->actions[i], action))
            return true;
    return false;
}

wr_limit_set *wr_limit_set_new(void)
{
    wr_limit_set *s = wr_calloc(1, sizeof *s);
    if (s)
        atomic_init(&s->refs, 1);
    return s;
}

writ_status wr_limit_set_add(wr_limit_set *set, const char *line, uint32_t lineno, writ_error *err)
{
    wr_limit l;
    writ_status st = wr_limit_parse(line, &l, err);
    if (!st) {
        for (size_t i = 0; i < set->n; i++)
            if (!strcmp(set->v[i].name, l.name)) {
                st = bad(err, 1, "'%s' is declared twice", l.name);
                break;
            }
        if (!st && set->n >= WR_LIMITS_MAX)
            st = bad(err, 1, "more than %d limits", WR_LIMITS_MAX);
    }
    if (st) {
        wr_limit_clear(&l);
        if (err && lineno) {
            char m[sizeof err->msg];
            int k = snprintf(m, sizeof m, "line %u: ", lineno);
            if (k > 0 && (size_t)k < sizeof m) {
                size_t rest = strnlen(err->msg, sizeof m - (size_t)k - 1);
                memcpy(m + k, err->msg, rest);
                m[(size_t)k + rest] = '\0';
                memcpy(err->msg, m, sizeof m);
            }
            err->line = lineno;
        }
        return st;
    }
    l.line = lineno;
    for (size_t i = 0; i < l.nactions && !l.any; i++)
        l.any = strspn(l.actions[i], "*") == strlen(l.actions[i]);
    l.sum_first = (uint8_t)set->n;
    for (size_t i = 0; l.sum && i < set->n; i++)
        if (set->v[i].sum && !strcmp(set->v[i].sum_path, l.sum_path)) {
            l.sum_first = (uint8_t)i;
            break;
        }
    set->v[set->n++] = l;
    return WRIT_OK;
}

writ_status wr_limit_set_seal(wr_limit_set *set)
{
    if (set->carena)
        return WRIT_OK;
    if (!(set->carena = wr_arena_new(0)) || !(set->chistory = cv_string_new(set->carena, "history", 7)))
        return WRIT_ENOMEM;
    for (size_t i = 0; i < set->n; i++) {
        if (!(set->cname[i] = cv_string_new(set->carena, set->v[i].name, strlen(set->v[i].name))))
            return WRIT_ENOMEM;
        /* by name, as a Cedar record orders its fields (the names are distinct) */
        size_t j = i;
        while (j > 0 && cv_string_cmp(set->cname[set->order[j - 1]], set->cname[i]) > 0) {
            set->order[j] = set->order[j - 1];
            j--;
        }
        set->order[j] = (uint8_t)i;
    }
    return WRIT_OK;
}

void wr_limit_set_release(wr_limit_set *set)
{
    if (!set || atomic_fetch_sub_explicit(&set->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < set->n; i++)
        wr_limit_clear(&set->v[i]);
    wr_arena_free(set->carena);
    wr_free(set);
}
