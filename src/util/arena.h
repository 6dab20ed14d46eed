/* arena.h - bump allocator: many small allocations, freed at once.
 *
 * A parsed policy set, a loaded entity store and one request's evaluation
 * each own an arena.  Nothing inside an arena is freed on its own; the whole
 * arena goes with wr_arena_free() or is rewound with wr_arena_reset().
 * Every allocation is aligned to 16 bytes.  Allocation returns NULL only when
 * the system allocator fails or a size overflows. */
#ifndef WRIT_UTIL_ARENA_H
#define WRIT_UTIL_ARENA_H

#include <stddef.h>

typedef struct wr_arena wr_arena;

wr_arena *wr_arena_new(size_t chunk_size);                 /* 0 picks a default */
void wr_arena_free(wr_arena *a);                           /* NULL is a no-op */
void wr_arena_reset(wr_arena *a);                          /* keeps the first chunk */
static inline void *wr_arena_alloc(wr_arena *a, size_t n); /* uninitialised */
void *wr_arena_calloc(wr_arena *a, size_t count, size_t size);
/* Copy n bytes and add a NUL terminator. */
char *wr_arena_strndup(wr_arena *a, const char *s, size_t n);
size_t wr_arena_used(const wr_arena *a); /* bytes handed out */

/* ---- wr_arena_alloc's common case inline: the current chunk has room
 * (a bump of a pointer, no call).  The struct is here for that only; use
 * the functions above.  Everything else is wr_arena_alloc_slow's. */
typedef struct wr_arena_chunk {
    struct wr_arena_chunk *next;
    size_t size; /* usable bytes after the header */
    size_t used;
} wr_arena_chunk;

struct wr_arena {
    wr_arena_chunk *head;  /* current chunk, allocations come from here */
    wr_arena_chunk *first; /* the chunk kept by reset */
    size_t chunk_size;
    size_t total;
};

#define WR_ARENA_ALIGN 16u
#define WR_ARENA_HDR ((sizeof(wr_arena_chunk) + WR_ARENA_ALIGN - 1) & ~(size_t)(WR_ARENA_ALIGN - 1))

void *wr_arena_alloc_slow(wr_arena *a, size_t n);

static inline void *wr_arena_alloc(wr_arena *a, size_t n)
{
    wr_arena_chunk *c = a->head;
    size_t m = (n + (WR_ARENA_ALIGN - 1)) & ~(size_t)(WR_ARENA_ALIGN - 1); /* (< n: it wrapped) */
    if (c && n && m >= n && c->size - c->used >= m) {
        void *p = (char *)c + WR_ARENA_HDR + c->used;
        c->used += m;
        a->total += m;
        return p;
    }
    return wr_arena_alloc_slow(a, n);
}

#endif
