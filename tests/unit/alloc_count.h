/* alloc_count.h - how much heap is live, for the allocation-failure tests:
 * a call that fails (or succeeds and is freed) must leave the heap as it
 * found it, whether the memory came from Writ's allocator, jansson or libc.
 *
 *   long before = live_heap();
 *   ... call, free what it returned ...
 *   assert_int_equal(live_heap(), before);
 *
 * Under AddressSanitizer the count is ASan's own (bytes allocated and not
 * freed).  Otherwise this header replaces malloc and friends for the whole
 * test binary with counting wrappers around glibc's __libc_* functions
 * (glibc supports replacing malloc; its own strdup etc. call the
 * replacement), and the count is of live blocks.  Under valgrind, whose
 * memcheck replaces these functions in the executable as well, the count
 * stays 0 and valgrind's own leak check (scripts/valgrind.sh) does the job.
 * Include it in exactly one .c file of a test binary. */
#ifndef WRIT_TEST_ALLOC_COUNT_H
#define WRIT_TEST_ALLOC_COUNT_H

#include <stddef.h>

#include "util/asan.h"

#if WR_ASAN

size_t __sanitizer_get_current_allocated_bytes(void);
static long live_heap(void) { return (long)__sanitizer_get_current_allocated_bytes(); }

#else

#include <errno.h>

void *__libc_malloc(size_t n);
void *__libc_calloc(size_t count, size_t size);
void *__libc_realloc(void *p, size_t n);
void *__libc_memalign(size_t align, size_t n);
void __libc_free(void *p);

static long alloc_count_live;

static void alloc_count_add(long d) { __atomic_add_fetch(&alloc_count_live, d, __ATOMIC_RELAXED); }
static long live_heap(void) { return __atomic_load_n(&alloc_count_live, __ATOMIC_RELAXED); }

void *malloc(size_t n)
{
    void *p = __libc_malloc(n);
    if (p)
        alloc_count_add(1);
    return p;
}

void *calloc(size_t count, size_t size)
{
    void *p = __libc_calloc(count, size);
    if (p)
        alloc_count_add(1);
    return p;
}

void *realloc(void *old, size_t n)
{
    void *p = __libc_realloc(old, n);
    if (!old && p)
        alloc_count_add(1);
    else if (old && n == 0 && !p)
        alloc_count_add(-1); /* glibc's realloc(p, 0) frees p */
    return p;
}

void *reallocarray(void *old, size_t count, size_t size)
{
    if (size && count > (size_t)-1 / size) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(old, count * size);
}

void free(void *p)
{
    if (p)
        alloc_count_add(-1);
    __libc_free(p);
}

void *memalign(size_t align, size_t n)
{
    void *p = __libc_memalign(align, n);
    if (p)
        alloc_count_add(1);
    return p;
}

void *aligned_alloc(size_t align, size_t n) { return memalign(align, n); }

int posix_memalign(void **out, size_t align, size_t n)
{
    if (align < sizeof(void *) || (align & (align - 1)))
        return EINVAL;
    void *p = memalign(align, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

#endif
#endif
