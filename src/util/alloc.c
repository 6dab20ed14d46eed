/* alloc.c - the replaceable allocator (see alloc.h and writ_set_allocator in
 * include/writ/writ.h).
 *
 * The host's three functions and its user pointer are set once, before
 * libwrit allocates anything: memory from one allocator must never reach
 * the other's free, and a change while another thread allocates would race.
 * So the first allocation through wr_* closes the door (`sealed`), and a
 * later writ_set_allocator() is refused with WRIT_EINVAL.  After that the
 * four fields are only read, so no lock or atomic is needed to read them:
 * the host publishes them to its threads the way it publishes anything it
 * set up before starting them.
 *
 * jansson has one global pair of hooks (json_set_alloc_funcs) without a user
 * pointer; its adapters below call through the same fields, so the user
 * pointer reaches the host for jansson's blocks too.  A host that set its
 * own jansson hooks loses them: libwrit owns jansson's allocator. */
#include "util/alloc.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "writ/writ.h"

static void *libc_malloc(void *user, size_t n)
{
    (void)user;
    return malloc(n);
}
static void *libc_realloc(void *user, void *p, size_t n)
{
    (void)user;
    return realloc(p, n);
}
static void libc_free(void *user, void *p)
{
    (void)user;
    free(p);
}

static writ_malloc_fn a_malloc = libc_malloc;
static writ_realloc_fn a_realloc = libc_realloc;
static writ_free_fn a_free = libc_free;
static void *a_user;
static atomic_bool sealed;
static atomic_bool json_routed;

/* -1: no injection; otherwise the number of allocations left to succeed. */
static atomic_long fail_after = -1;
static atomic_long injected;
/* Allocations that returned NULL on this thread (injected or real): a caller
 * whose library reports out of memory as something else (jansson's parser,
 * OpenSSL) compares this count before and after to tell. */
static _Thread_local unsigned long failed_here;

static int should_fail(void)
{
    long n = atomic_load_explicit(&fail_after, memory_order_relaxed);
    while (n >= 0) {
        if (n == 0) {
            atomic_fetch_add_explicit(&injected, 1, memory_order_relaxed);
            return 1;
        }
        if (atomic_compare_exchange_weak_explicit(&fail_after, &n, n - 1, memory_order_relaxed,
                                                  memory_order_relaxed))
            return 0;
    }
    return 0;
}

static void seal(void)
{
    if (!atomic_load_explicit(&sealed, memory_order_relaxed))
        atomic_store_explicit(&sealed, true, memory_order_relaxed);
}

void wr_alloc_seal(void) { seal(); }

void *wr_malloc(size_t n)
{
    void *p = NULL;
    if (!should_fail()) {
        seal();
        p = a_malloc(a_user, n ? n : 1);
    }
    if (!p)
        failed_here++;
    return p;
}

void *wr_calloc(size_t count, size_t size)
{
    if (count && size > SIZE_MAX / count) {
        failed_here++;
        return NULL;
    }
    size_t n = count * size;
    void *p = wr_malloc(n);
    if (p)
        memset(p, 0, n ? n : 1);
    return p;
}

void *wr_realloc(void *p, size_t n)
{
    void *q = NULL;
    if (!should_fail()) {
        seal();
        q = a_realloc(a_user, p, n ? n : 1);
    }
    if (!q)
        failed_here++;
    return q;
}

void wr_free(void *p)
{
    if (p)
        a_free(a_user, p);
}

char *wr_strndup(const char *s, size_t n)
{
    char *p = wr_malloc(n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void writ_free_string(char *s) { wr_free(s); }

/* jansson's hooks: no user pointer, so they read the one set above. */
static void *json_malloc_hook(size_t n) { return wr_malloc(n); }
static void json_free_hook(void *p) { wr_free(p); }

static void route_json(void)
{
    bool expected = false;
    if (atomic_compare_exchange_strong(&json_routed, &expected, true))
        json_set_alloc_funcs(json_malloc_hook, json_free_hook);
}

void wr_json_free(void *p)
{
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    if (p)
        f(p);
}

writ_status writ_set_allocator(writ_malloc_fn m, writ_realloc_fn r, writ_free_fn f, void *user)
{
    if (!m || !r || !f)
        return WRIT_EINVAL;
    if (atomic_load(&sealed))
        return m == a_malloc && r == a_realloc && f == a_free && user == a_user ? WRIT_OK : WRIT_EINVAL;
    a_malloc = m;
    a_realloc = r;
    a_free = f;
    a_user = user;
    atomic_store(&sealed, true);
    route_json();
    return WRIT_OK;
}

void wr_alloc_set_fail_after(long n)
{
    /* Safe at any time with libc's allocator: before routing, jansson's
     * blocks came from malloc, and wr_free hands them to free. */
    route_json();
    atomic_store_explicit(&fail_after, n < 0 ? -1 : n, memory_order_relaxed);
}

long wr_alloc_injected(void) { return atomic_load_explicit(&injected, memory_order_relaxed); }

unsigned long wr_alloc_failures(void) { return failed_here; }
