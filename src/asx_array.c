/* Growing the arrays indexed by agent (see asx_array.h). */
#include "asx_array.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

int asx__array_grow(void **p, size_t old_n, size_t n, size_t size) {
  size_t bytes = n * size;
  void *q;
#ifdef MADV_HUGEPAGE
  /* A large array gets a fresh block aligned on a huge page and advised
   * before anything touches it, so that its pages are huge from the first
   * fault on. realloc would move the pages already touched, small, and the
   * advice only reaches those when the kernel's background scan collapses
   * them, which for tens of megabytes takes minutes. */
  if (bytes >= 2 * HUGE_PAGE) {
    size_t whole = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    if (posix_memalign(&q, HUGE_PAGE, whole) != 0)
      return 0;
    madvise(q, whole, MADV_HUGEPAGE); /* only a hint */
    if (*p != NULL)
      memcpy(q, *p, (old_n < n ? old_n : n) * size);
    free(*p);
    *p = q;
    return 1;
  }
#endif
  (void)old_n;
  q = realloc(*p, bytes);
  if (!q)
    return 0;
  *p = q;
  return 1;
}
