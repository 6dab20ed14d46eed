/* writ.h - Writ's public C API: status codes and the error struct.
 *
 * Every public function that can fail returns a writ_status and, when given
 * a writ_error, fills it with a message and (for parsers) the position of
 * the problem.  A failed call leaves its out-parameters NULL: nothing is
 * half-made.  A NULL where an argument is required (a handle, an
 * out-parameter, a text of non-zero length) is WRIT_EINVAL; a NULL text of
 * length 0 is the empty text.  Accessors of a NULL handle return NULL, 0
 * or false.  Objects come in _new/_parse and _free pairs; _free(NULL) is a
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

#ifdef __cplusplus
extern "C" {
#endif

/* ---- limits ---------------------------------------------------------------
 * Input past a limit is refused (WRIT_ELIMIT, with the position when there
 * is one) before it is read whole:
 *   policy text 64 MiB; expressions nested 200 deep; 10,000 members in a
 *     record or set literal, 10,000 annotations on a policy;
 *   schema text 64 MiB; types nested 64 deep; chains of common types and
 *     action hierarchies 1,000 deep; 10,000 members;
 *   JSON (entities, requests, attributes, writ_json_parse) 256 MiB; values
 *     nested 128 deep (the JSON reader stops at 2,048); an entity hierarchy
 *     of 8,388,608 (entity, ancestor) pairs;
 *   tokens 8 KiB (writ_verify_opts.max_token_len); key sets (JWKS) 1 MiB and
 *     64 keys; PEM keys 64 KiB; X.509 PEM roots 1 MiB, chains 64 KiB and 8
 *     certificates; SPIFFE IDs 2,048 bytes.
 * Memory: JSON read into Cedar values takes 25 to 40 times its text (250 MiB
 * of entities: 6.5 GB; a 250 MiB request of small numbers: 10 GB and 50 s).
 * The limits are sized for a deployment's own files: bound what untrusted
 * callers send before it reaches libwrit (writ serve: max_body, 64 KiB).
 * Stack: parsing and evaluation recurse up to the nesting limits; at the
 * limits they need more than 256 KiB and less than 512 KiB of stack.  Call
 * libwrit from threads with at least 1 MiB of stack (glibc's default is
 * 8 MiB; musl's 128 KiB is too small). */

typedef enum writ_status {
    WRIT_OK = 0,
    WRIT_ENOMEM,    /* allocation failed */
    WRIT_EPARSE,    /* syntax error in policy or schema text */
    WRIT_ELIMIT,    /* input exceeds a limit (size, depth, count) */
    WRIT_EJSON,     /* malformed JSON or wrong JSON shape */
    WRIT_ESCHEMA,   /* data does not match the schema */
    WRIT_EVALIDATE, /* request fails validation against the schema */
    WRIT_EIO,       /* file could not be read or written */
    WRIT_EINVAL,    /* bad argument */
    WRIT_ELINK,     /* template linking failed */
    WRIT_EDUP,      /* duplicate id / entity / key */
    WRIT_EEVAL,     /* evaluation error (reported per policy, not fatal) */
} writ_status;

typedef struct writ_error {
    writ_status code;
    uint32_t line; /* 1-based; 0 when the error has no position */
    uint32_t col;  /* 1-based, in bytes */
    size_t offset; /* byte offset into the input */
    char msg[256];
} writ_error;

WRIT_API const char *writ_status_name(writ_status s);

/* ---- memory --------------------------------------------------------------
 * Every block libwrit allocates, jansson's included, comes from these three
 * functions; each gets the user pointer given to writ_set_allocator.  The
 * default is libc's malloc, realloc and free.  realloc is never called with
 * size 0, malloc never with 0 (libwrit asks for 1 byte instead).
 *
 * Call writ_set_allocator once, first: before any other libwrit call and
 * before any thread uses libwrit.  Once libwrit has allocated (writ_json_parse
 * included, whose tree jansson makes), a change
 * would hand blocks of one allocator to the other's free, so it is refused
 * (WRIT_EINVAL; calling again with the same four values returns WRIT_OK).
 * NULL functions are refused too.
 *
 * jansson: its hooks (json_set_alloc_funcs) are global and take no user
 * pointer; writ_set_allocator installs adapters that call the functions
 * above with this user pointer.  libwrit therefore owns jansson's allocator:
 * a host that uses jansson itself gets its blocks from the same functions,
 * and must not call json_set_alloc_funcs after this.  json_t values created
 * before writ_set_allocator would be freed through the new free: create
 * none before.  OpenSSL and SQLite keep their own allocators.
 *
 * Every string a libwrit function returns for the caller to free (documented
 * as "writ_free_string") is freed with writ_free_string, never free(). */
typedef void *(*writ_malloc_fn)(void *user, size_t size);
typedef void *(*writ_realloc_fn)(void *user, void *ptr, size_t size);
typedef void (*writ_free_fn)(void *user, void *ptr);
WRIT_API WRIT_MUST_CHECK writ_status writ_set_allocator(writ_malloc_fn malloc_fn, writ_realloc_fn realloc_fn,
                                                        writ_free_fn free_fn, void *user);
/* Free a string libwrit returned (NULL is a no-op). */
WRIT_API void writ_free_string(char *s);

#ifdef __cplusplus
}
#endif

#endif
