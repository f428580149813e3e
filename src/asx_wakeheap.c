/* The wake-up heap (see asx_wakeheap.h).
 *
 * heap[] holds 16-byte {time, id, seq} entries with the smallest
 * (time, seq) at index 0; pos[id] is 1 + the index of id's entry, or 0.
 * The heap is 4-ary and laid out so that the four children of a node fill
 * exactly one cache line: with a million entries nearly every level of a
 * sift is a cache miss, so the depth (halved against a binary heap) and the
 * lines touched per level are what cost. Its capacity is the number of ids,
 * so pushing never allocates. seq is 32 bits and is renumbered by rank
 * before it would wrap (see renumber).
 */
#include "asx_wakeheap.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

typedef struct wake {
  double time;
  uint32_t id;
  uint32_t seq;
} wake;

struct asx_wakeheap {
  wake *heap; /* heap_mem + 3: see reserve */
  void *heap_mem;
  uint32_t *pos;
  uint32_t len, cap;
  uint32_t seq;
  wake popped; /* the last entry popped, for asx_wakeheap_time */
};

/* Times are finite and never negative (nor -0), so their IEEE bit
 * patterns order like the times themselves, and (time, seq) compares as
 * one 128-bit integer: a compare the compiler turns into flags and
 * conditional moves rather than branches, which matters because heap
 * compares on random times are mispredicted half the time. */
static inline int before(const wake *a, const wake *b) {
  uint64_t ta, tb;
  memcpy(&ta, &a->time, sizeof ta);
  memcpy(&tb, &b->time, sizeof tb);
  __extension__ typedef unsigned __int128 u128;
  return (((u128)ta << 32) | a->seq) < (((u128)tb << 32) | b->seq);
}

static void set(asx_wakeheap *h, uint32_t i, wake w) {
  h->heap[i] = w;
  h->pos[w.id] = i + 1;
}

static void sift_up(asx_wakeheap *h, uint32_t i, wake w) {
  while (i > 0) {
    uint32_t p = (i - 1) / 4;
    if (!before(&w, &h->heap[p]))
      break;
    set(h, i, h->heap[p]);
    i = p;
  }
  set(h, i, w);
}

/* The smallest of the children c .. c+3 (those below n). */
static inline uint32_t min_child(const wake *hp, uint32_t c, uint32_t n) {
  uint32_t a, b;
  if (c + 3 < n) {
    a = before(&hp[c + 1], &hp[c]) ? c + 1 : c;
    b = before(&hp[c + 3], &hp[c + 2]) ? c + 3 : c + 2;
    return before(&hp[b], &hp[a]) ? b : a;
  }
  a = c;
  for (b = c + 1; b < n; b++)
    a = before(&hp[b], &hp[a]) ? b : a;
  return a;
}

/* Places w at i or below, where w is not before i's parent. Floyd's way:
 * the hole goes down to a leaf along the smallest children (three compares
 * a level and no compare with w), then w rises from there. A re-inserted
 * entry is usually among the latest, so it rises little, and this does a
 * quarter fewer compares than stopping early would. */
static void sift_down(asx_wakeheap *h, uint32_t i, wake w) {
  uint32_t n = h->len;
  for (;;) {
    uint32_t c = 4 * i + 1, best;
    if (c >= n)
      break;
    best = min_child(h->heap, c, n);
    set(h, i, h->heap[best]);
    i = best;
  }
  sift_up(h, i, w);
}

static void remove_at(asx_wakeheap *h, uint32_t i) {
  wake last;
  h->pos[h->heap[i].id] = 0;
  last = h->heap[--h->len];
  if (i == h->len)
    return;
  if (i > 0 && before(&last, &h->heap[(i - 1) / 4]))
    sift_up(h, i, last);
  else
    sift_down(h, i, last);
}

asx_wakeheap *asx_wakeheap_new(void) { return calloc(1, sizeof(asx_wakeheap)); }

void asx_wakeheap_free(asx_wakeheap *h) {
  if (!h)
    return;
  free(h->heap_mem);
  free(h->pos);
  free(h);
}

/* The heap array starts 3 entries (48 bytes) into a 64-byte aligned block,
 * so that entry 1, and every group of siblings 4i+1 .. 4i+4 after it,
 * begins on a cache line. */
int asx_wakeheap_reserve(asx_wakeheap *h, uint32_t n) {
  size_t bytes = ((size_t)n + 3) * sizeof(wake);
  uint32_t *pos;
  void *mem;
  if (n <= h->cap)
    return 0;
  pos = realloc(h->pos, (size_t)n * sizeof *pos);
  if (!pos)
    return ASX_E_NOMEM;
  memset(pos + h->cap, 0, (size_t)(n - h->cap) * sizeof *pos);
  h->pos = pos;
  mem = aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (!mem)
    return ASX_E_NOMEM;
  if (h->len)
    memcpy((wake *)mem + 3, h->heap, h->len * sizeof(wake));
  free(h->heap_mem);
  h->heap_mem = mem;
  h->heap = (wake *)mem + 3;
  h->cap = n;
  return 0;
}

static int by_time_seq(const void *a, const void *b) {
  return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

/* Gives the entries the numbers 0 .. n-1 in their order, so that the
 * 32-bit seq never wraps: once every 4 billion pushes, O(n log n). A sorted
 * array is a valid heap, so only the positions change. */
static void renumber(asx_wakeheap *h) {
  qsort(h->heap, h->len, sizeof *h->heap, by_time_seq);
  for (uint32_t i = 0; i < h->len; i++) {
    h->heap[i].seq = i;
    h->pos[h->heap[i].id] = i + 1;
  }
  h->seq = h->len;
}

void asx__wakeheap_set_seq(asx_wakeheap *h, uint32_t seq) { h->seq = seq; }

int asx_wakeheap_push(asx_wakeheap *h, uint32_t id, double time) {
  wake w;
  assert(id < h->cap && h->pos[id] == 0);
  if (h->seq == UINT32_MAX)
    renumber(h);
  w.time = time;
  w.id = id;
  w.seq = h->seq++;
  sift_up(h, h->len++, w);
  return 0;
}

void asx_wakeheap_remove(asx_wakeheap *h, uint32_t id) {
  assert(id < h->cap && h->pos[id] != 0);
  remove_at(h, h->pos[id] - 1);
}

uint32_t asx_wakeheap_peek(asx_wakeheap *h) {
  return h->len ? h->heap[0].id : ASX_WAKEHEAP_NONE;
}

uint32_t asx_wakeheap_pop(asx_wakeheap *h) {
  if (h->len == 0)
    return ASX_WAKEHEAP_NONE;
  h->popped = h->heap[0];
  remove_at(h, 0);
  return h->popped.id;
}

double asx_wakeheap_time(const asx_wakeheap *h, uint32_t id) {
  if (h->pos[id])
    return h->heap[h->pos[id] - 1].time;
  return h->popped.time;
}

uint32_t asx_wakeheap_len(const asx_wakeheap *h) { return h->len; }
