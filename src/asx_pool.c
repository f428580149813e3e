#include "asx_pool.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>

/* Each chunk doubles the last one, up to this many blocks, so that a small
 * pool stays small and a large one makes few calls to malloc. */
#define ASX_POOL_FIRST 64
#define ASX_POOL_MAX_CHUNK 65536

/* A chunk's header; its blocks follow, 16 bytes after its start. */
typedef struct chunk {
  struct chunk *next;
  size_t items; /* blocks in this chunk */
} chunk;
_Static_assert(sizeof(chunk) <= 16, "the blocks start 16 bytes into a chunk");

typedef struct free_block {
  struct free_block *next;
} free_block;

struct asx_pool {
  size_t item_size;
  size_t chunk_items; /* size of the next chunk */
  chunk *chunks;
  free_block *free;
  char *fresh;        /* blocks of the newest chunk never handed out */
  size_t fresh_left;
};

asx_pool *asx_pool_new(size_t item_size) {
  asx_pool *pool = calloc(1, sizeof(*pool));
  if (pool == NULL)
    return NULL;
  /* A free block holds a link, and every block keeps the alignment of the
   * largest scalar, so round the size up to a multiple of 16. */
  if (item_size < sizeof(free_block))
    item_size = sizeof(free_block);
  pool->item_size = (item_size + 15) & ~(size_t)15;
  pool->chunk_items = ASX_POOL_FIRST;
  return pool;
}

#ifndef NDEBUG
/* Whether item is the start of a block of one of pool's chunks: a block
 * put into the wrong pool, or a pointer into a block, would corrupt the
 * free list. Debug builds only; chunks are few, since they double. */
static int owns(const asx_pool *pool, const void *item) {
  for (const chunk *c = pool->chunks; c != NULL; c = c->next) {
    uintptr_t first = (uintptr_t)c + 16, at = (uintptr_t)item;
    if (at >= first && at < first + c->items * pool->item_size)
      return (at - first) % pool->item_size == 0;
  }
  return 0;
}
#endif

static int pool_grow(asx_pool *pool) {
  /* The chunk header is padded to 16 bytes so the blocks stay aligned. */
  chunk *c = malloc(16 + pool->chunk_items * pool->item_size);
  if (c == NULL)
    return -1;
  c->next = pool->chunks;
  c->items = pool->chunk_items;
  pool->chunks = c;
  pool->fresh = (char *)c + 16;
  pool->fresh_left = pool->chunk_items;
  if (pool->chunk_items < ASX_POOL_MAX_CHUNK)
    pool->chunk_items *= 2;
  return 0;
}

void *asx_pool_get(asx_pool *pool) {
  void *item;
  if (pool->free != NULL) {
    item = pool->free;
    pool->free = pool->free->next;
  } else {
    if (pool->fresh_left == 0 && pool_grow(pool) != 0)
      return NULL;
    item = pool->fresh;
    pool->fresh += pool->item_size;
    pool->fresh_left--;
  }
  assert(owns(pool, item) && ((uintptr_t)item & 15) == 0);
  return item;
}

void asx_pool_put(asx_pool *pool, void *item) {
  free_block *b = item;
  /* A block put back twice in a row would make the free list a cycle. */
  assert(owns(pool, item) && item != pool->free);
  b->next = pool->free;
  pool->free = b;
}

void asx_pool_free(asx_pool *pool) {
  if (pool == NULL)
    return;
  while (pool->chunks != NULL) {
    chunk *next = pool->chunks->next;
    free(pool->chunks);
    pool->chunks = next;
  }
  free(pool);
}
