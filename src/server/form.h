/* form.h - application/x-www-form-urlencoded bodies of /oauth2/token and
 * /oauth2/revoke, and the task scope a token request's form asks for.
 *
 * Strict: pairs NAME=VALUE separated by '&'; no empty pairs; '+' is a space;
 * %XX with two hex digits; no raw bytes outside printable ASCII; no decoded
 * NUL; at most FORM_MAX_PARAMS pairs, names up to FORM_MAX_NAME bytes.  A
 * name may appear once, except resource and destination (lists, as RFC 8693
 * allows for resource).  Unknown names are ignored (RFC 6749 §3.2).  Errors
 * name the byte offset into the body where the form went wrong. */
#ifndef WRIT_SERVER_FORM_H
#define WRIT_SERVER_FORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "writ/token.h"

#define FORM_MAX_PARAMS 64
#define FORM_MAX_NAME 64
#define FORM_MAX_LIST 64
#define FORM_MAX_SCOPE 64
#define FORM_MAX_SCOPE_BYTES 4095

/* A parsed form: names and values point into buf (decoded, NUL-terminated). */
typedef struct form {
    size_t n;
    const char *name[FORM_MAX_PARAMS];
    const char *value[FORM_MAX_PARAMS];
    char *buf;
} form;

/* Parse len bytes of body into f: 0, or -1 with a message in why (n bytes).
 * Either way form_free(f) releases it. */
int form_parse(const char *body, size_t len, form *f, char *why, size_t n);
void form_free(form *f);
/* The value of name (the first, for a list), or NULL. */
const char *form_get(const form *f, const char *name);
/* The values of a list parameter into out; -1 when there are more than max. */
int form_list(const form *f, const char *name, const char **out, size_t max, size_t *n);
/* Lower-case (ASCII) every value of name, in place (in f->buf). */
void form_lower(form *f, const char *name);

/* The scope a token request asks for: `scope` (space-separated actions),
 * `resource` and `destination` (repeatable), `sensitivity`, `purpose`, over
 * base (the parent's scope when delegating, or none). */
typedef struct req_scope {
    writ_task_scope sc;
    const char *actions[FORM_MAX_SCOPE];
    const char *resources[FORM_MAX_LIST];
    const char *destinations[FORM_MAX_LIST];
    char scope_buf[FORM_MAX_SCOPE_BYTES + 1];
    bool given;                 /* the form narrows anything */
} req_scope;

/* Fill rs from f over base (may be NULL): 0, or -1 with why.  rs points
 * into f and base. */
int form_scope(const form *f, const writ_task_scope *base, req_scope *rs, char *why, size_t n);
/* `ttl` (seconds, 1..max) into *ttl, 0 when absent: 0, or -1 with why. */
int form_ttl(const form *f, uint32_t max, uint32_t *ttl, char *why, size_t n);

#endif
