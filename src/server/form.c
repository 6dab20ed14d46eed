/* form.c - form bodies of the token endpoints (see form.h). */
#include "server/form.h"
#include "util/alloc.h"
#include "util/text.h"

#include <stdio.h>
#include <string.h>

/* Decode [p, e) in place to a NUL-terminated string; -1 on a bad byte,
 * with *bad its offset from p. */
static int form_decode(char *p, char *e, size_t *bad)
{
    char *w = p;
    for (char *r = p; r < e; r++) {
        unsigned char c = (unsigned char)*r;
        if (c == '+') {
            *w++ = ' ';
        } else if (c == '%') {
            *bad = (size_t)(r - p);
            if (e - r < 3)
                return -1;
            int hi = wr_hexval((unsigned char)r[1]), lo = wr_hexval((unsigned char)r[2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            *w++ = (char)(hi * 16 + lo);
            r += 2;
        } else if (c < 0x21 || c > 0x7e) {
            *bad = (size_t)(r - p);
            return -1;
        } else {
            *w++ = (char)c;
        }
    }
    *w = '\0';
    return 0;
}

static bool form_is_list(const char *name) { return !strcmp(name, "resource") || !strcmp(name, "destination"); }

void form_free(form *f)
{
    wr_free(f->buf);
    f->buf = NULL;
}

int form_parse(const char *body, size_t len, form *f, char *why, size_t n)
{
    memset(f, 0, sizeof *f);
    if (len == 0) {
        snprintf(why, n, "the request body is empty");
        return -1;
    }
    if (!(f->buf = wr_malloc(len + 1))) {
        snprintf(why, n, "out of memory");
        return -1;
    }
    memcpy(f->buf, body, len);
    f->buf[len] = '\0';
    char *p = f->buf, *end = f->buf + len;
    while (p <= end) {
        size_t at = (size_t)(p - f->buf), bad;
        char *amp = memchr(p, '&', (size_t)(end - p));
        char *e = amp ? amp : end;
        if (e == p) {
            snprintf(why, n, "empty parameter in the form at offset %zu", at);
            return -1;
        }
        char *eq = memchr(p, '=', (size_t)(e - p));
        if (!eq) {
            snprintf(why, n, "form parameter without '=' at offset %zu", at);
            return -1;
        }
        if (f->n == FORM_MAX_PARAMS) {
            snprintf(why, n, "more than %d form parameters (offset %zu)", FORM_MAX_PARAMS, at);
            return -1;
        }
        int rc = form_decode(p, eq, &bad);
        if (!rc && (rc = form_decode(eq + 1, e, &bad)) != 0)
            bad += (size_t)(eq + 1 - p);
        if (rc) {
            snprintf(why, n,
                     "malformed form encoding at offset %zu (bad percent-escape, NUL or a raw byte outside ASCII)",
                     at + bad);
            return -1;
        }
        if (!*p || strlen(p) > FORM_MAX_NAME) {
            snprintf(why, n, "form parameter name empty or longer than %d bytes at offset %zu", FORM_MAX_NAME, at);
            return -1;
        }
        for (size_t i = 0; i < f->n; i++)
            if (!strcmp(f->name[i], p) && !form_is_list(p)) {
                snprintf(why, n, "parameter %.64s given more than once (offset %zu)", p, at);
                return -1;
            }
        f->name[f->n] = p;
        f->value[f->n] = eq + 1;
        f->n++;
        if (!amp)
            break;
        p = amp + 1;
        if (p == end) {
            snprintf(why, n, "empty parameter in the form at offset %zu", len);
            return -1;
        }
    }
    return 0;
}

const char *form_get(const form *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->name[i], name))
            return f->value[i];
    return NULL;
}

int form_list(const form *f, const char *name, const char **out, size_t max, size_t *n)
{
    *n = 0;
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->name[i], name)) {
            if (*n == max)
                return -1;
            out[(*n)++] = f->value[i];
        }
    return 0;
}

void form_lower(form *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->name[i], name))
            for (char *p = (char *)f->value[i]; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                    *p = (char)(*p - 'A' + 'a');
}

/* ---- the scope a token request asks for */

/* Space-separated words of s into out (copied into buf); -1 if too many
 * or empty. */
static int split_scope(const char *s, char *buf, size_t cap, const char **out, size_t max, size_t *n)
{
    size_t len = strlen(s);
    *n = 0;
    if (len >= cap)
        return -1;
    memcpy(buf, s, len + 1);
    char *p = buf;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        if (*n == max)
            return -1;
        out[(*n)++] = p;
        while (*p && *p != ' ')
            p++;
        if (*p)
            *p++ = '\0';
    }
    return *n ? 0 : -1;
}

int form_scope(const form *f, const writ_task_scope *base, req_scope *rs, char *why, size_t n)
{
    memset(&rs->sc, 0, sizeof rs->sc);
    rs->given = false;
    if (base)
        rs->sc = *base;
    const char *scope = form_get(f, "scope");
    if (scope) {
        size_t k;
        if (split_scope(scope, rs->scope_buf, sizeof rs->scope_buf, rs->actions, FORM_MAX_SCOPE, &k)) {
            snprintf(why, n, "scope must hold 1 to %d space-separated actions", FORM_MAX_SCOPE);
            return -1;
        }
        rs->sc.actions = rs->actions;
        rs->sc.n_actions = k;
        rs->given = true;
    }
    size_t k;
    if (form_list(f, "resource", rs->resources, FORM_MAX_LIST, &k)) {
        snprintf(why, n, "more than %d resource parameters", FORM_MAX_LIST);
        return -1;
    }
    if (k) {
        rs->sc.resources = rs->resources;
        rs->sc.n_resources = k;
        rs->given = true;
    }
    if (form_list(f, "destination", rs->destinations, FORM_MAX_LIST, &k)) {
        snprintf(why, n, "more than %d destination parameters", FORM_MAX_LIST);
        return -1;
    }
    if (k) {
        rs->sc.destinations = rs->destinations;
        rs->sc.n_destinations = k;
        rs->given = true;
    }
    const char *sens = form_get(f, "sensitivity");
    if (sens) {
        if (writ_sensitivity_rank(sens) < 0) {
            snprintf(why, n, "sensitivity must be public, internal, confidential or restricted");
            return -1;
        }
        rs->sc.sensitivity = sens;
        rs->given = true;
    }
    const char *purpose = form_get(f, "purpose");
    if (purpose) {
        rs->sc.purpose = purpose;
        rs->given = true;
    }
    return 0;
}

int form_ttl(const form *f, uint32_t max, uint32_t *ttl, char *why, size_t n)
{
    const char *t = form_get(f, "ttl");
    *ttl = 0;
    if (!t)
        return 0;
    uint64_t v = 0;
    if (!*t || strlen(t) > 9) {
        snprintf(why, n, "ttl must be a number of seconds up to %u", (unsigned)max);
        return -1;
    }
    for (const char *p = t; *p; p++) {
        if (*p < '0' || *p > '9') {
            snprintf(why, n, "ttl must be a number of seconds up to %u", (unsigned)max);
            return -1;
        }
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v == 0 || v > max) {
        snprintf(why, n, "ttl must be a number of seconds from 1 to %u", (unsigned)max);
        return -1;
    }
    *ttl = (uint32_t)v;
    return 0;
}
