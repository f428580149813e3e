/* Growing the arrays indexed by agent.
 *
 * With a million agents the scheduler reads its per-agent arrays at random,
 * one entry per wake-up, and with 4 KB pages nearly every such read also
 * misses the TLB; a cache prefetch then waits for the page walk. Arrays of
 * megabytes are therefore offered to the kernel as transparent huge pages
 * (where it supports them, and only when asked by madvise: the default of
 * most distributions), in mappings of their own that start on a huge page
 * and grow by moving their pages, not copying them. Smaller ones are
 * malloc's, and start on a cache line. */
#ifndef ASX_ARRAY_H
#define ASX_ARRAY_H

#include <stddef.h>

/* Grows *p, which holds old_n elements of size bytes, to n >= old_n
 * elements, keeping the first old_n, like realloc; elements past old_n are
 * zero in a large array, undefined in a small one. Returns 1, or 0 when
 * out of memory (then *p is unchanged). */
int asx__array_grow(void **p, size_t old_n, size_t n, size_t size);

/* Faults in the pages of a large array (one asx__array_grow mapped) now,
 * as writes would, without writing: for an array whose first writes come
 * at a time that should not stop for the kernel to zero pages. A small
 * array, or a kernel without MADV_POPULATE_WRITE, is left as it is. */
void asx__array_prefault(void *p, size_t n, size_t size);

/* Frees an array of n elements of size bytes made by asx__array_grow (n as
 * it was last grown to); NULL is nothing. */
void asx__array_free(void *p, size_t n, size_t size);

#endif
