/* alloc.c - the replaceable allocator (see alloc.h). */
#include "util/alloc.h"

#include <stdlib.h>
#include <string.h>

static long fail_after = -1;

static int should_fail(void)
{
    if (fail_after < 0)
        return 0;
    if (fail_after == 0)
        return 1;
    fail_after--;
    return 0;
}

void wr_alloc_set_fail_after(long n) { fail_after = n; }

void *wr_malloc(size_t n)
{
    return should_fail() ? NULL : malloc(n ? n : 1);
}

void *wr_calloc(size_t count, size_t size)
{
    return should_fail() ? NULL : calloc(count ? count : 1, size ? size : 1);
}

void *wr_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : realloc(p, n ? n : 1);
}

void wr_free(void *p) { free(p); }

char *wr_strndup(const char *s, size_t n)
{
    char *p = wr_malloc(n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
