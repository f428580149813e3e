/* Memory for the Lua state of asx-host: small blocks cut from huge pages.
 *
 * Why. A session of a million agents keeps most of a gigabyte of small Lua
 * objects (each agent's trader table, coroutine and stack) and reads them
 * in no particular order, one agent per wake-up. On 4 KiB pages nearly
 * every such read also waits for a walk of the page tables. LuaJIT's own
 * allocator takes its memory with mmap in small steps, which the kernel
 * backs with small pages (transparent huge pages are only for memory that
 * asks, in the "madvise" mode most distributions use). glibc's malloc could
 * be advised too, but it rounds every block to 16 bytes plus an 8-byte
 * header, some 24 bytes an agent more than LuaJIT's allocator; mimalloc
 * sorts blocks by size into separate pages, so an agent's objects no longer
 * lie together, which the scheduler's prefetch relies on (both were tried).
 *
 * Structure. Small blocks (up to SMALL_MAX bytes) are cut one after the
 * other off the current chunk, a CHUNK_SIZE mapping aligned to and advised
 * as huge pages, so objects made together (a trader, its coroutine and its
 * stack) lie side by side as they do with LuaJIT's allocator. A block is
 * its size rounded up to 8 bytes, with no header: Lua's allocator
 * interface passes a block's size back when it is resized or freed. A freed
 * block goes onto the free list of its size (a stack, linked through the
 * block's first word), and the next block of that size is taken from
 * there, most recently freed first, while it is still in the cache. Larger
 * blocks (big strings, tables' arrays, grown stacks) come from malloc.
 *
 * Costs: O(1) per call, but for resizes, which copy as realloc does.
 *
 * Memory: freed small blocks are kept for their size and never given back
 * to the system or to other sizes, so the slab holds the most that was ever
 * in use of each size at once. Simulations allocate the same few sizes
 * over and over, for which this is what a general allocator would hold.
 *
 * Sanitizer builds use the slab too: AddressSanitizer then checks the
 * slab's own code, and sees the Lua heap as it saw LuaJIT's allocator's,
 * as a few big mappings (passing every block to its malloc made the specs
 * that run asx-host at full speed several times slower). The C core's
 * memory stays on malloc, which AddressSanitizer checks block by block.
 */
#include "asx_slab.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ALIGN 8
#define SMALL_MAX 1024
#define NSIZES (SMALL_MAX / ALIGN + 1)
#define HUGE_PAGE ((size_t)2 << 20)
#define CHUNK_SIZE ((size_t)32 << 20)

/* A mapping blocks are cut from; the header is its first bytes. */
typedef struct chunk {
  struct chunk *next;
} chunk;

struct asx_slab {
  char *cur, *end;       /* the uncut rest of the newest chunk */
  void *free[NSIZES];    /* by size / ALIGN; linked through the first word */
  chunk *chunks;         /* every chunk, newest first */
  size_t reserved;
};

asx_slab *asx_slab_new(void) { return calloc(1, sizeof(asx_slab)); }

void asx_slab_free(asx_slab *slab) {
  if (!slab)
    return;
  while (slab->chunks) {
    chunk *c = slab->chunks;
    slab->chunks = c->next;
    munmap(c, CHUNK_SIZE);
  }
  free(slab);
}

size_t asx_slab_reserved(const asx_slab *slab) { return slab->reserved; }

/* Maps a new chunk, aligned to a huge page so that all of it can be backed
 * by huge pages. Returns 0 when out of memory. */
static int new_chunk(asx_slab *slab) {
  size_t map = CHUNK_SIZE + HUGE_PAGE;
  char *p = mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
  char *start;
  chunk *c;
  if (p == MAP_FAILED)
    return 0;
  start = (char *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
  if (start > p)
    munmap(p, (size_t)(start - p));
  if (start + CHUNK_SIZE < p + map)
    munmap(start + CHUNK_SIZE, (size_t)(p + map - (start + CHUNK_SIZE)));
#ifdef MADV_HUGEPAGE
  /* Advice only: where the kernel has no huge pages, small ones serve. */
  madvise(start, CHUNK_SIZE, MADV_HUGEPAGE);
#endif
  c = (chunk *)start;
  c->next = slab->chunks;
  slab->chunks = c;
  slab->cur = start + ALIGN * ((sizeof(chunk) + ALIGN - 1) / ALIGN);
  slab->end = start + CHUNK_SIZE;
  slab->reserved += CHUNK_SIZE;
  return 1;
}

static void *small_alloc(asx_slab *slab, size_t k) {
  void *p = slab->free[k];
  size_t bytes = k * ALIGN;
  if (p) {
    slab->free[k] = *(void **)p;
    return p;
  }
  /* What was left of a full chunk stays unused: at most SMALL_MAX bytes. */
  if ((size_t)(slab->end - slab->cur) < bytes && !new_chunk(slab))
    return NULL;
  p = slab->cur;
  slab->cur += bytes;
  return p;
}

static void small_free(asx_slab *slab, void *p, size_t k) {
  *(void **)p = slab->free[k];
  slab->free[k] = p;
}

void *asx_slab_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  asx_slab *slab = ud;
  size_t ok, nk;
  void *p;
  if (!ptr)
    osize = 0;
  /* Size classes: the size in ALIGN units, 0 for none or a large block. */
  ok = osize == 0 || osize > SMALL_MAX ? 0 : (osize + ALIGN - 1) / ALIGN;
  nk = nsize == 0 || nsize > SMALL_MAX ? 0 : (nsize + ALIGN - 1) / ALIGN;
  if (nsize == 0) {
    if (ok)
      small_free(slab, ptr, ok);
    else
      free(ptr);
    return NULL;
  }
  if (ptr && ok == nk) {
    /* The same small size class; or both large, which realloc resizes. */
    return ok ? ptr : realloc(ptr, nsize);
  }
  p = nk ? small_alloc(slab, nk) : malloc(nsize);
  if (!p || !ptr)
    return p;
  memcpy(p, ptr, osize < nsize ? osize : nsize);
  if (ok)
    small_free(slab, ptr, ok);
  else
    free(ptr);
  return p;
}
