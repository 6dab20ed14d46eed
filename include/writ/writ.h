/* writ.h - Writ's public C API: status codes and the error struct.
 *
 * Every public function that can fail returns a writ_status and, when given
 * a writ_error, fills it with a message and (for parsers) the position of
 * the problem.  A failed call leaves its out-parameters NULL: nothing is
 * half-made.  Objects come in _new/_parse and _free pairs; _free(NULL) is a
 * no-op. */
#ifndef WRIT_WRIT_H
#define WRIT_WRIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define WRIT_MUST_CHECK __attribute__((warn_unused_result))
#else
#define WRIT_MUST_CHECK
#endif

/* What libwrit exports: every function of these headers, nothing else
 * (the library is built with hidden visibility). */
#if defined(__GNUC__)
#define WRIT_API __attribute__((visibility("default")))
#else
#define WRIT_API
#endif

typedef enum writ_status {
    WRIT_OK = 0,
    WRIT_ENOMEM,        /* allocation failed */
    WRIT_EPARSE,        /* syntax error in policy or schema text */
    WRIT_ELIMIT,        /* input exceeds a limit (size, depth, count) */
    WRIT_EJSON,         /* malformed JSON or wrong JSON shape */
    WRIT_ESCHEMA,       /* data does not match the schema */
    WRIT_EVALIDATE,     /* request fails validation against the schema */
    WRIT_EIO,           /* file could not be read or written */
    WRIT_EINVAL,        /* bad argument */
    WRIT_ELINK,         /* template linking failed */
    WRIT_EDUP,          /* duplicate id / entity / key */
    WRIT_EEVAL,         /* evaluation error (reported per policy, not fatal) */
} writ_status;

typedef struct writ_error {
    writ_status code;
    uint32_t line;      /* 1-based; 0 when the error has no position */
    uint32_t col;       /* 1-based, in bytes */
    size_t offset;      /* byte offset into the input */
    char msg[256];
} writ_error;

WRIT_API const char *writ_status_name(writ_status s);

#endif
