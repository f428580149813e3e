/* Growing the arrays indexed by agent.
 *
 * With a million agents the scheduler reads its per-agent arrays at random,
 * one entry per wake-up, and with 4 KB pages nearly every such read also
 * misses the TLB; a cache prefetch then waits for the page walk. Arrays of
 * megabytes are therefore offered to the kernel as transparent huge pages
 * (where it supports them, and only when asked by madvise: the default of
 * most distributions), in blocks that start on a huge page. */
#ifndef ASX_ARRAY_H
#define ASX_ARRAY_H

#include <stddef.h>

/* Resizes *p, which holds old_n elements of size bytes, to n elements,
 * keeping the first min(old_n, n), like realloc; the block is freed with
 * free. Returns 1, or 0 when out of memory (then *p is unchanged). */
int asx__array_grow(void **p, size_t old_n, size_t n, size_t size);

#endif
