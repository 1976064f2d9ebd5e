/*
 * arena.c - bump allocation over a chain of blocks (arena.h).
 */
#include "arena.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"

#define ALIGN alignof(max_align_t)

struct pl_arena_block {
    struct pl_arena_block *next;
    size_t size, used;
    alignas(max_align_t) unsigned char data[];
};

void pl_arena_init(struct pl_arena *a, size_t block_size) {
    memset(a, 0, sizeof *a);
    a->block_size = block_size ? block_size : 4096;
}

void pl_arena_deinit(struct pl_arena *a) {
    if (!a) return;
    for (struct pl_arena_block *b = a->head, *next; b; b = next) {
        next = b->next;
        pl_free(b);
    }
    for (size_t i = 0; i < a->n_kept; i++) pl_free(a->kept[i]);
    pl_free(a->kept);
    size_t bs = a->block_size;
    pl_arena_init(a, bs);
}

void *pl_arena_alloc(struct pl_arena *a, size_t n) {
    if (a->failed) return NULL;
    if (n == 0) n = 1;
    if (n > SIZE_MAX / 2) goto fail;
    n = (n + ALIGN - 1) & ~(ALIGN - 1);
    struct pl_arena_block *b = a->head;
    if (!b || b->size - b->used < n) {
        /* A request larger than a block gets a block of its own, put behind the head so
         * that the head's free space is not wasted. */
        size_t size = n > a->block_size ? n : a->block_size;
        struct pl_arena_block *nb = pl_malloc(sizeof *nb + size);
        if (!nb) goto fail;
        nb->size = size;
        nb->used = 0;
        if (b && n > a->block_size) {
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            a->head = nb;
        }
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    a->bytes += n;
    memset(p, 0, n);
    return p;
fail:
    a->failed = true;
    return NULL;
}

void *pl_arena_calloc(struct pl_arena *a, size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) {
        a->failed = true;
        return NULL;
    }
    return pl_arena_alloc(a, count * size);
}

char *pl_arena_strndup(struct pl_arena *a, const char *s, size_t n) {
    if (n == SIZE_MAX) {
        a->failed = true;
        return NULL;
    }
    char *q = pl_arena_alloc(a, n + 1);
    if (q && n) memcpy(q, s, n);
    return q;
}

char *pl_arena_strdup(struct pl_arena *a, const char *s) {
    return s ? pl_arena_strndup(a, s, strlen(s)) : NULL;
}

void *pl_arena_keep(struct pl_arena *a, void *p) {
    if (!p) {
        a->failed = true;
        return NULL;
    }
    if (!a->failed && a->n_kept == a->cap_kept) {
        size_t cap = a->cap_kept ? a->cap_kept * 2 : 16;
        void **nk = pl_realloc(a->kept, cap * sizeof *nk);
        if (!nk)
            a->failed = true;
        else {
            a->kept = nk;
            a->cap_kept = cap;
        }
    }
    if (a->failed) {
        pl_free(p);
        return NULL;
    }
    a->kept[a->n_kept++] = p;
    return p;
}
