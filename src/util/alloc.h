/* alloc.h - the one allocator every module goes through.
 *
 * A host (or a test) can replace it, e.g. to cap memory or to fail the Nth
 * allocation; see wr_alloc_set_fail_after(). */
#ifndef WRIT_UTIL_ALLOC_H
#define WRIT_UTIL_ALLOC_H

#include <stddef.h>

void *wr_malloc(size_t n);
void *wr_calloc(size_t count, size_t size);
void *wr_realloc(void *p, size_t n);
void  wr_free(void *p);
char *wr_strndup(const char *s, size_t n);

/* Testing hook: after n more successful allocations every allocation fails.
 * A negative n turns failure injection off. */
void  wr_alloc_set_fail_after(long n);

#endif
