/*
 * arena.h - a request arena: many small allocations freed together.
 *
 * A request handler builds its response (protobuf sub-messages, strings,
 * arrays) in one arena and frees it all with one call after packing, so no
 * path through the handler can leak a piece or free one twice. Memory comes
 * from blocks of block_size bytes (one block per allocation larger than
 * that), handed out by bumping a pointer; every allocation is zeroed and
 * aligned for any type.
 *
 *   struct pl_arena a;
 *   pl_arena_init(&a, 0);
 *   Msg *m = pl_arena_alloc(&a, sizeof *m);
 *   m->name = pl_arena_strndup(&a, s, n);
 *   m->text = pl_arena_keep(&a, make_text());   // a pl_malloc'd pointer, now owned
 *   if (pl_arena_failed(&a)) st = PL_ERR(PL_E_NOMEM, "...");
 *   pl_arena_deinit(&a);
 *
 * Once an allocation fails, the arena is "failed": later calls return NULL
 * (and keep frees what it is given), so a builder may check once at the end.
 *
 * Thread-safety: an arena belongs to one thread at a time.
 */
#ifndef PL_ARENA_H
#define PL_ARENA_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pl_arena_block;

struct pl_arena {
    struct pl_arena_block *head; /* the block allocations come from; older ones follow */
    void **kept;                 /* pointers handed over by pl_arena_keep (pl_free'd) */
    size_t n_kept, cap_kept;
    size_t block_size; /* bytes per ordinary block */
    size_t bytes;      /* bytes handed out (for tests and statistics) */
    bool failed;       /* an allocation failed: every later one returns NULL */
};

/* Set up a (caller-owned) arena; block_size 0 = 4096. Allocates nothing. */
void pl_arena_init(struct pl_arena *a, size_t block_size);
/* Free every block and kept pointer; a is then empty and may be used again. NULL: no-op. */
void pl_arena_deinit(struct pl_arena *a);

/* n zeroed bytes (n 0 counts as 1), aligned to max_align_t, owned by a; NULL when out of
 * memory (a becomes failed). */
void *pl_arena_alloc(struct pl_arena *a, size_t n);
/* count * size zeroed bytes; NULL (and failed) on overflow or out of memory. */
void *pl_arena_calloc(struct pl_arena *a, size_t count, size_t size);
/* A NUL-terminated copy of the first n bytes of s (s may hold NULs past them: n is used). */
char *pl_arena_strndup(struct pl_arena *a, const char *s, size_t n);
char *pl_arena_strdup(struct pl_arena *a, const char *s); /* s NULL -> NULL, not failed */
/* Take ownership of p (from pl_malloc & co.): freed with the arena. Returns p; NULL when p
 * is NULL or the arena is (or becomes) failed, in which case p has been freed. */
void *pl_arena_keep(struct pl_arena *a, void *p);

/* True once any allocation of a failed. */
static inline bool pl_arena_failed(const struct pl_arena *a) { return a->failed; }

#ifdef __cplusplus
}
#endif
#endif
