/* A fixed-size block allocator: the book takes its price levels from one, and
 * C callers that place many orders take their asx_order blocks from another,
 * so the steady state allocates nothing. Blocks come in chunks that are kept
 * until the pool is freed; a returned block is reused first (LIFO), which
 * keeps the working set hot. Memory stays bounded by the peak number of
 * blocks in use at once. */
#ifndef ASX_POOL_H
#define ASX_POOL_H

#include <stddef.h>

typedef struct asx_pool asx_pool;

/* Returns a new pool of blocks of item_size bytes, or NULL without memory. */
asx_pool *asx_pool_new(size_t item_size);
/* Returns a block owned by the caller until asx_pool_put, or NULL. Its
 * contents are undefined: the caller initializes every field it uses. */
void *asx_pool_get(asx_pool *pool);
void asx_pool_put(asx_pool *pool, void *item);
/* Frees every block, whether or not it was returned. */
void asx_pool_free(asx_pool *pool);

#endif
