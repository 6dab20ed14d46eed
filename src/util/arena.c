/* arena.c - bump allocator (see arena.h). */
#include "util/arena.h"
#include "util/alloc.h"

#include <stdint.h>
#include <string.h>

typedef wr_arena_chunk chunk; /* (arena.h: for the inline fast path) */

#define ALIGN WR_ARENA_ALIGN
#define HDR WR_ARENA_HDR

static chunk *chunk_new(size_t size)
{
    if (size > SIZE_MAX - HDR)
        return NULL;
    chunk *c = wr_malloc(HDR + size);
    if (!c)
        return NULL;
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

wr_arena *wr_arena_new(size_t chunk_size)
{
    wr_arena *a = wr_malloc(sizeof *a);
    if (!a)
        return NULL;
    a->chunk_size = chunk_size ? chunk_size : 8192;
    a->head = a->first = NULL;
    a->total = 0;
    return a;
}

void wr_arena_free(wr_arena *a)
{
    if (!a)
        return;
    chunk *c = a->head;
    while (c) {
        chunk *n = c->next;
        wr_free(c);
        c = n;
    }
    wr_free(a);
}

void wr_arena_reset(wr_arena *a)
{
    if (!a)
        return;
    /* every chunk but the first, also a big block put behind the first
     * while it was the head (wr_arena_alloc): it would stay otherwise, and
     * an arena rewound per request would grow with every big one */
    chunk *c = a->head;
    while (c) {
        chunk *n = c->next;
        if (c != a->first)
            wr_free(c);
        c = n;
    }
    a->head = a->first;
    if (a->first) {
        a->first->used = 0;
        a->first->next = NULL;
    }
    a->total = 0;
}

void *wr_arena_alloc_slow(wr_arena *a, size_t n)
{
    if (n > SIZE_MAX - ALIGN)
        return NULL;
    n = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (n == 0)
        n = ALIGN;
    chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t sz = n > a->chunk_size ? n : a->chunk_size;
        chunk *nc = chunk_new(sz);
        if (!nc)
            return NULL;
        /* Big one-off blocks go behind the current chunk so its free space
         * is not wasted. */
        if (c && n > a->chunk_size) {
            nc->next = c->next;
            c->next = nc;
            nc->used = n;
            a->total += n;
            return (char *)nc + HDR;
        }
        nc->next = c;
        a->head = nc;
        if (!a->first)
            a->first = nc;
        c = nc;
    }
    void *p = (char *)c + HDR + c->used;
    c->used += n;
    a->total += n;
    return p;
}

void *wr_arena_calloc(wr_arena *a, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    void *p = wr_arena_alloc(a, count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

char *wr_arena_strndup(wr_arena *a, const char *s, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *p = wr_arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

size_t wr_arena_used(const wr_arena *a) { return a ? a->total : 0; }
