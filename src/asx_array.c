/* Growing the arrays indexed by agent (see asx_array.h). */
#define _GNU_SOURCE /* mremap */
#include "asx_array.h"
#include "asx_hugemap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE ASX_HUGE_PAGE
#define LINE 64

/* A large array is a mapping of its own, whole huge pages. */
static int is_large(size_t bytes) { return bytes >= 2 * HUGE_PAGE; }

static size_t whole(size_t bytes) {
  return (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
}

int asx__array_grow(void **p, size_t old_n, size_t n, size_t size) {
  size_t bytes = n * size, old = old_n * size;
  void *q;
  if (is_large(bytes)) {
    size_t len = whole(bytes);
    if (*p != NULL && is_large(old) && whole(old) >= len)
      return 1;
    if (!(q = asx__map_huge(len)))
      return 0;
    if (*p != NULL && is_large(old)) {
      /* The old pages move to the start of the new mapping, uncopied:
       * growing never holds the array twice (a million agents' queue
       * entries are 32 MB), and the huge pages stay whole, both mappings
       * starting on one. */
      if (mremap(*p, whole(old), whole(old), MREMAP_MAYMOVE | MREMAP_FIXED,
                 q) == MAP_FAILED) {
        memcpy(q, *p, old);
        munmap(*p, whole(old));
      }
    } else if (*p != NULL) {
      memcpy(q, *p, old < bytes ? old : bytes);
      free(*p);
    }
    *p = q;
    return 1;
  }
  /* On a cache line, so that an array of 32-byte entries never has one
   * across two lines (asx_wakeq_entry). */
  if (posix_memalign(&q, LINE, bytes ? bytes : 1) != 0)
    return 0;
  if (*p != NULL) {
    memcpy(q, *p, old < bytes ? old : bytes);
    asx__array_free(*p, old_n, size);
  }
  *p = q;
  return 1;
}

void asx__array_prefault(void *p, size_t n, size_t size) {
#ifdef MADV_POPULATE_WRITE
  /* Advice only: an older kernel refuses it, and the first writes fault
   * the pages in as before. */
  if (p != NULL && is_large(n * size))
    madvise(p, whole(n * size), MADV_POPULATE_WRITE);
#else
  (void)p, (void)n, (void)size;
#endif
}

void asx__array_free(void *p, size_t n, size_t size) {
  if (p == NULL)
    return;
  if (is_large(n * size))
    munmap(p, whole(n * size));
  else
    free(p);
}
