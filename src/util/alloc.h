/* alloc.h - the one allocator every module of libwrit goes through.
 *
 * wr_malloc & co. call the host's functions when it installed them with
 * writ_set_allocator() (include/writ/writ.h), libc's otherwise.  jansson is
 * routed here too (see alloc.c), so a string from json_dumps is freed with
 * wr_json_free() (or wr_free(): the same function once routed).
 *
 * Tests fail the Nth allocation with wr_alloc_set_fail_after(). */
#ifndef WRIT_UTIL_ALLOC_H
#define WRIT_UTIL_ALLOC_H

#include <stddef.h>

void *wr_malloc(size_t n);
void *wr_calloc(size_t count, size_t size);
void *wr_realloc(void *p, size_t n);
void wr_free(void *p);
/* libwrit is about to allocate through jansson alone (a tree it hands out):
 * from now on writ_set_allocator may not change the allocator either. */
void wr_alloc_seal(void);
char *wr_strndup(const char *s, size_t n);
/* Free what jansson allocated (json_dumps' text). */
void wr_json_free(void *p);

/* How many allocations failed on this thread so far.  jansson reports some
 * of its out-of-memory failures as syntax errors: compare the count around
 * a call to tell them apart. */
unsigned long wr_alloc_failures(void);

/* Testing hook: after n more successful allocations every allocation fails
 * (jansson's as well: the first call routes jansson through wr_malloc).  A
 * negative n turns failure injection off.  The countdown is atomic: threads
 * may allocate while it runs, and exactly n allocations succeed in all.
 * Call it first from one thread, before others use jansson (that first call
 * installs jansson's hooks, which jansson itself does not lock). */
void wr_alloc_set_fail_after(long n);
/* How many allocations failed by injection since the process started. */
long wr_alloc_injected(void);

#endif
