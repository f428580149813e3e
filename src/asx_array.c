/* Growing the arrays indexed by agent (see asx_array.h). */
#include "asx_array.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

int asx__array_grow(void **p, size_t n, size_t size) {
  size_t bytes = n * size;
  void *q = realloc(*p, bytes);
  if (!q)
    return 0;
  *p = q;
#ifdef MADV_HUGEPAGE
  /* The whole huge pages inside the block; the advice is only a hint. */
  if (bytes >= 2 * HUGE_PAGE) {
    uintptr_t start = ((uintptr_t)q + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    uintptr_t end = ((uintptr_t)q + bytes) & ~(HUGE_PAGE - 1);
    if (end > start)
      madvise((void *)start, end - start, MADV_HUGEPAGE);
  }
#endif
  return 1;
}
