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

wr_arena *wr_arena_new(size_t chunk_size);          /* 0 picks a default */
void      wr_arena_free(wr_arena *a);                /* NULL is a no-op */
void      wr_arena_reset(wr_arena *a);               /* keeps the first chunk */
void     *wr_arena_alloc(wr_arena *a, size_t n);     /* uninitialised */
void     *wr_arena_calloc(wr_arena *a, size_t count, size_t size);
/* Copy n bytes and add a NUL terminator. */
char     *wr_arena_strndup(wr_arena *a, const char *s, size_t n);
size_t    wr_arena_used(const wr_arena *a);          /* bytes handed out */

#endif
