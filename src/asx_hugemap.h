/* A mapping that can be backed by transparent huge pages: the agents'
 * arrays (asx_array.c) and asx-host's allocator (asx_slab.c) both map
 * megabytes that are read at random, where 4 KB pages would make nearly
 * every read miss the TLB. Header-only, so that the launchers, which link
 * the allocator but not the core, share it. */
#ifndef ASX_HUGEMAP_H
#define ASX_HUGEMAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#define ASX_HUGE_PAGE ((size_t)2 << 20)

/* A mapping of len bytes (a multiple of ASX_HUGE_PAGE) that starts on a
 * huge page, advised as huge pages before anything touches it, so that its
 * pages are huge from the first fault on. NULL when out of memory. */
static inline void *asx__map_huge(size_t len) {
  size_t map = len + ASX_HUGE_PAGE;
  char *p = mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
  char *start;
  if (p == MAP_FAILED)
    return NULL;
  start = (char *)(((uintptr_t)p + ASX_HUGE_PAGE - 1) &
                   ~(uintptr_t)(ASX_HUGE_PAGE - 1));
  if (start > p)
    munmap(p, (size_t)(start - p));
  if (start + len < p + map)
    munmap(start + len, (size_t)(p + map - (start + len)));
#ifdef MADV_HUGEPAGE
  /* Advice only: where the kernel has no huge pages, small ones serve. */
  madvise(start, len, MADV_HUGEPAGE);
#endif
  return start;
}

#endif
