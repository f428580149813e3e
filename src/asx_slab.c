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
 * First touch. The kernel zeroes each page the first time it is written,
 * and in a virtual machine whose host has not backed that memory yet the
 * zeroing runs at a few hundred megabytes a second: a session of a million
 * agents whose book grows by some 40 MB of resting orders spent a sixth to
 * a quarter of its time there. From the first block on, a thread of its
 * own therefore faults in the huge page after the one being cut
 * (MADV_POPULATE_WRITE, which writes nothing), and maps the next chunk
 * before the current one runs out, so that the Lua state's thread finds
 * its pages ready. It costs no more work in all, on another core, and at
 * most two huge pages of resident memory ahead of use; where the kernel
 * lacks the call (before Linux 5.14) or no thread can be made, the pages
 * are faulted in where first written. (Started only once the slab held 64
 * MiB, the thread left the first 64 MiB to the Lua state's thread: 4% of
 * its time in a run of 10,000 random traders for 300 session seconds,
 * whose memory grows to some 200 MB.)
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
#include "asx_hugemap.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ALIGN 8
#define SMALL_MAX 1024
#define NSIZES (SMALL_MAX / ALIGN + 1)
#define HUGE_PAGE ASX_HUGE_PAGE
#define CHUNK_SIZE ((size_t)32 << 20)
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 on; older kernels refuse it */
#endif

/* A mapping blocks are cut from; the header is its first bytes. */
typedef struct chunk {
  struct chunk *next;
} chunk;

/* The thread that faults in pages ahead of the cut (see "First touch"
 * above). The Lua state's thread asks for one range at a time; a new
 * request replaces one not yet taken. */
typedef struct prefault {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  char *lo, *hi; /* the range asked for; lo == hi when none */
  int quit;
  int refused;   /* the kernel refused MADV_POPULATE_WRITE */
} prefault;

struct asx_slab {
  char *cur, *end;       /* the uncut rest of the newest chunk */
  void *free[NSIZES];    /* by size / ALIGN; linked through the first word */
  chunk *chunks;         /* every chunk, newest first */
  chunk *spare;          /* the next chunk, mapped ahead, or NULL */
  size_t reserved;
  /* The bump that crosses pf_mark asks for the next pages (ask_ahead). */
  char *pf_mark;
  prefault *pf;          /* NULL until the first bump asks for pages */
  int pf_failed;         /* no thread could be made: none is tried again */
};

asx_slab *asx_slab_new(void) { return calloc(1, sizeof(asx_slab)); }

static void prefault_stop(asx_slab *slab) {
  prefault *pf = slab->pf;
  if (!pf)
    return;
  pthread_mutex_lock(&pf->mu);
  pf->quit = 1;
  pthread_cond_signal(&pf->cv);
  pthread_mutex_unlock(&pf->mu);
  pthread_join(pf->thread, NULL);
  pthread_mutex_destroy(&pf->mu);
  pthread_cond_destroy(&pf->cv);
  free(pf);
  slab->pf = NULL;
}

void asx_slab_free(asx_slab *slab) {
  if (!slab)
    return;
  /* The thread may be faulting in a chunk: it ends before they are gone. */
  prefault_stop(slab);
  if (slab->spare) {
    slab->spare->next = slab->chunks;
    slab->chunks = slab->spare;
  }
  while (slab->chunks) {
    chunk *c = slab->chunks;
    slab->chunks = c->next;
    munmap(c, CHUNK_SIZE);
  }
  free(slab);
}

size_t asx_slab_reserved(const asx_slab *slab) { return slab->reserved; }

/* Maps a chunk, aligned to a huge page so that all of it can be backed by
 * huge pages, and counts it as reserved. Returns NULL when out of memory. */
static chunk *map_chunk(asx_slab *slab) {
  chunk *c = asx__map_huge(CHUNK_SIZE);
  if (!c)
    return NULL;
  slab->reserved += CHUNK_SIZE;
  return c;
}

/* Starts cutting a new chunk: the spare, else a fresh one. Returns 0 when
 * out of memory. */
static int new_chunk(asx_slab *slab) {
  chunk *c = slab->spare;
  if (c)
    slab->spare = NULL;
  else if (!(c = map_chunk(slab)))
    return 0;
  c->next = slab->chunks;
  slab->chunks = c;
  slab->cur = (char *)c + ALIGN * ((sizeof(chunk) + ALIGN - 1) / ALIGN);
  slab->end = (char *)c + CHUNK_SIZE;
  /* The first bump asks for the pages ahead. */
  slab->pf_mark = slab->cur;
  return 1;
}

/* ---- faulting in ahead ------------------------------------------------- */

static void *prefault_main(void *arg) {
  prefault *pf = arg;
  pthread_mutex_lock(&pf->mu);
  for (;;) {
    char *lo, *hi;
    while (!pf->quit && pf->lo == pf->hi)
      pthread_cond_wait(&pf->cv, &pf->mu);
    if (pf->quit)
      break;
    lo = pf->lo;
    hi = pf->hi;
    pf->lo = pf->hi = NULL;
    pthread_mutex_unlock(&pf->mu);
    /* Faults the pages in as a write would, without writing: the Lua
     * state's thread may be cutting blocks in them meanwhile. */
    int refused = madvise(lo, (size_t)(hi - lo), MADV_POPULATE_WRITE) != 0 &&
                  errno == EINVAL;
    pthread_mutex_lock(&pf->mu);
    pf->refused |= refused;
  }
  pthread_mutex_unlock(&pf->mu);
  return NULL;
}

/* Starts the thread, with every signal blocked in it, so that SIGINT,
 * SIGTERM and the profilers' signals keep going to the threads that handle
 * them. Returns 0 when it could not. */
static int prefault_start(asx_slab *slab) {
  prefault *pf = calloc(1, sizeof *pf);
  sigset_t all, old;
  int rc;
  if (!pf)
    return 0;
  if (pthread_mutex_init(&pf->mu, NULL) != 0) {
    free(pf);
    return 0;
  }
  if (pthread_cond_init(&pf->cv, NULL) != 0) {
    pthread_mutex_destroy(&pf->mu);
    free(pf);
    return 0;
  }
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  rc = pthread_create(&pf->thread, NULL, prefault_main, pf);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    pthread_cond_destroy(&pf->cv);
    pthread_mutex_destroy(&pf->mu);
    free(pf);
    return 0;
  }
  slab->pf = pf;
  return 1;
}

/* Called by the bump that cuts past pf_mark: asks the thread for the huge
 * page after the one being cut, or, from the chunk's last one on, for the
 * first of the spare chunk, mapped now; and sets the next mark at the start
 * of the page asked for (at the end of the chunk for the spare's). */
static void ask_ahead(asx_slab *slab) {
  char *next = (char *)((uintptr_t)slab->cur & ~(uintptr_t)(HUGE_PAGE - 1)) +
               HUGE_PAGE;
  char *lo;
  slab->pf_mark = slab->end;
  if (slab->pf_failed)
    return;
  if (!slab->pf && !prefault_start(slab)) {
    slab->pf_failed = 1;
    return;
  }
  if (next < slab->end) {
    lo = next;
    slab->pf_mark = next;
  } else {
    if (!slab->spare && !(slab->spare = map_chunk(slab)))
      return;
    lo = (char *)slab->spare;
  }
  pthread_mutex_lock(&slab->pf->mu);
  /* A kernel without the call refused it once: the pages are faulted in
   * where first written, and the thread is asked for nothing more. */
  slab->pf_failed = slab->pf->refused;
  slab->pf->lo = lo;
  slab->pf->hi = lo + HUGE_PAGE;
  pthread_cond_signal(&slab->pf->cv);
  pthread_mutex_unlock(&slab->pf->mu);
}

/* ---- blocks ------------------------------------------------------------ */

static void *small_alloc(asx_slab *slab, size_t k) {
  void *p = slab->free[k];
  size_t bytes = k * ALIGN;
  if (p) {
    slab->free[k] = *(void **)p;
    return p;
  }
  /* What was left of a full chunk stays unused: at most SMALL_MAX bytes.
   * Without room for a new chunk (a limit of the address space), malloc's
   * smaller steps may still find the block; freed, it joins its size's
   * free list like any other. */
  if ((size_t)(slab->end - slab->cur) < bytes && !new_chunk(slab))
    return malloc(bytes);
  p = slab->cur;
  slab->cur += bytes;
  if (slab->cur > slab->pf_mark)
    ask_ahead(slab);
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
