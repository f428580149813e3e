/* The wake-up queue: a ladder queue (Tang, Goh and Thng, "Ladder Queue: An
 * O(1) priority queue structure for large-scale discrete event simulation",
 * 2005), kept in exact (time, seq) order.
 *
 * Structure. One node per id, {time, seq, next} in the id's 32-byte entry
 * (asx_wakeq.h: the rest is the owner's); the buckets and
 * the bottom below are singly linked lists of nodes through `next`
 * (asx_wakeq_list.h sorts and gathers them), so the queue allocates
 * nothing per entry. Entries live in one of three levels:
 *   top     the entries at or after top_start, the far future, unsorted,
 *           with their count and smallest and largest time: an array of
 *           their ids, in the order pushed, so that moving them down reads
 *           it in order and fetches their nodes well ahead;
 *   rungs   up to MAX_RUNGS arrays of buckets, each bucket an unsorted
 *           stack. A rung covers a span of time cut into nb buckets of
 *           equal width; `cur` is its first bucket not yet consumed. Rung
 *           i + 1 is one bucket of rung i, cut finer;
 *   bottom  a short ring of ids sorted by (time, seq): the entries due
 *           next. An array rather than a list, so that a pop is an index
 *           step and the scheduler reads the ids due next without walking
 *           nodes (asx_wakeq_ahead).
 * Invariant: every entry of the bottom comes before every entry of the
 * deepest rung, each rung's entries before those of the rung above, and
 * the rungs' entries before the top's. Within a rung, bucket b's entries
 * come before bucket b + 1's.
 *
 * Push: at or after top_start, onto the top. Otherwise into the coarsest
 * rung whose unconsumed buckets cover the time (its bucket index is at
 * least cur), linked there PENDING pushes later while the bucket's head is
 * fetched (defer), else into the bottom by sorted insertion. The bucket index
 * floor((time - start) / width) is computed the same way everywhere and is
 * monotonic in time, so a time's place never depends on rounding elsewhere;
 * an index past the last bucket goes into the last one.
 *
 * Pop: the bottom's head. The bottom is kept ASX_WAKEQ_AHEAD entries deep
 * while there are more, so that the scheduler can see (asx_wakeq_ahead)
 * and prefetch the agents due next: below that, the deepest rung's next
 * non-empty bucket comes down after its entries (they all come before the
 * bucket's): sorted and appended to the bottom if it holds at most
 * THRES entries (or all at one time), else cut into a new, finer rung, with
 * as many buckets as entries. When no rung is left, the top becomes the
 * first rung the same way, with buckets as wide as the mean spacing of its
 * entries, so they follow the current spacing of the events whatever the
 * time scale, as many buckets as entries (so at most the ids' count:
 * its array is made, and faulted in, with the ids' room, asx_wakeq_reserve).
 * Wake-ups set meanwhile beyond its last entry go to the top, an append
 * to an array read in order, where a bucket's head is a miss at random.
 * The bottom takes at least MIN_FILL entries at once when buckets are
 * small, and the next buckets' first entries are prefetched: walking a
 * bucket is a chain of cache misses. Buckets of at most THRES entries
 * are sorted by insertion as they are walked, on a copy of their keys,
 * so that no node is read twice; more entries by a natural merge sort of
 * their list, linear on runs already in order, which is how equal times
 * arrive.
 *
 * Ties. seq grows with every push, so a new entry goes after every queued
 * entry of its time: into the bottom it is appended at the tail, or put
 * before the first entry of a later time, found by binary search, with
 * the shorter side of the ring moved by one. A burst of equal times
 * (sleep(0) by many agents) is then O(1) each: appended, or moved past the
 * few later entries behind it. seq is 31 bits; before
 * it would overflow, the queued entries are renumbered by rank, which keeps
 * their order (once every 2^31 pushes, O(n log n)).
 *
 * Removal marks the node (seq's top bit) and leaves it in its list; every
 * level drops marked nodes when it reaches them. That is why a removed id
 * must never be pushed again: its node may still be linked.
 *
 * Costs, amortized, for the distributions simulations produce: push O(1)
 * (one node and one bucket head touched), pop O(1) (each entry is moved at
 * most once per level, and levels are few), remove O(1). A time far ahead
 * of the others only makes the first rung coarse; the crowded bucket is cut
 * again, up to MAX_RUNGS levels. Beyond that depth, or for entries all at
 * one time, the bottom takes them all, and a push into the middle of it
 * then costs the log of its length and the shorter of its two sides.
 *
 * Memory: 44 bytes per id (its 32-byte entry, 16 of them the owner's, the
 * top's array and the bottom's ring, which is as long as there are ids: an
 * id is in it at most once, removed ones included, and the first rung's
 * buckets), and 4 bytes per bucket of the other rungs; the rung arrays are
 * kept for reuse.
 */
#include "asx_wakeq.h"
#include "asx_array.h"
#include "asx_wakeq_list.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RUNGS 8
#define THRES 48
#define LOOKAHEAD 8 /* buckets whose first entry is fetched ahead */
#define SCAN 64     /* bucket heads read at most to find them */
#define MIN_FILL 16  /* entries the bottom takes at once from small buckets */
#define PENDING 8   /* pushes into buckets held back while their head loads */
#define DEAL_AHEAD 16 /* top entries whose node is fetched before they move */

_Static_assert(sizeof(asx_wakeq_entry) == 32,
               "an entry is half a cache line, so that none straddles two");

typedef struct rung {
  uint32_t *head; /* nb stacks; cap allocated */
  uint32_t nb, cap;
  uint32_t cur;   /* buckets before cur are consumed */
  double start, width;
} rung;

struct asx_wakeq {
  node *nd;
  uint32_t cap;            /* ids 0 .. cap - 1 may be pushed */
  uint32_t nd_len;  /* nd's length, cap or more */
  uint64_t top_len; /* top's, the ring's when all grew */
  uint32_t len; /* queued, not removed */
  uint32_t seq; /* the next push's */

  uint32_t *top, top_count; /* cap ids */
  double top_min, top_max, top_start;

  int nrungs;
  rung rung[MAX_RUNGS];

  /* The bottom: bq[(bh + i) & bmask] for i < bn, removed ones included. */
  uint32_t *bq;
  uint32_t bmask, bh, bn;

  /* Pushes into a rung's bucket not yet linked: the bucket's head word
   * (pend_head[k]) is being fetched for id pend_id[k]. A ring, oldest at
   * pend_first. */
  uint32_t *pend_head[PENDING];
  uint32_t pend_id[PENDING];
  uint32_t pend_first, npend;
};

asx_wakeq *asx_wakeq_new(void) {
  asx_wakeq *q = calloc(1, sizeof *q);
  if (!q)
    return NULL;
  q->top_start = -INFINITY;
  return q;
}

void asx_wakeq_free(asx_wakeq *q) {
  if (!q)
    return;
  for (int i = 0; i < MAX_RUNGS; i++)
    asx__array_free(q->rung[i].head, q->rung[i].cap, sizeof *q->rung[i].head);
  asx__array_free(q->nd, q->nd_len, sizeof *q->nd);
  asx__array_free(q->top, q->top_len, sizeof *q->top);
  if (q->bq)
    asx__array_free(q->bq, (size_t)q->bmask + 1, sizeof *q->bq);
  free(q);
}

/* Makes the bottom's ring at least n long (a power of two), its entries
 * moved to its start. Returns 0 when out of memory (nothing changed). */
static int grow_ring(asx_wakeq *q, uint32_t n) {
  uint64_t size = q->bq ? (uint64_t)q->bmask + 1 : 0, want = 64;
  uint32_t *bq = NULL;
  while (want < n)
    want *= 2;
  if (want <= size)
    return 1;
  if (!asx__array_grow((void **)&bq, 0, want, sizeof *bq))
    return 0;
  /* The ring becomes the top when a population that starts together first
   * runs (refill), and that first instant's wake-ups then fill it in
   * order: faulted in now, while agents are added, and not a huge page
   * zeroed by the kernel every half a million wake-ups while agents wait
   * for their first turn (measured: see prefetch_ahead in asx_sched.c).
   * An idle session's wake-ups fill it all the same. */
  asx__array_prefault(bq, want, sizeof *bq);
  for (uint32_t i = 0; i < q->bn; i++)
    bq[i] = q->bq[(q->bh + i) & q->bmask];
  if (q->bq)
    asx__array_free(q->bq, size, sizeof *q->bq);
  q->bq = bq;
  q->bmask = (uint32_t)(want - 1);
  q->bh = 0;
  return 1;
}

int asx_wakeq_reserve(asx_wakeq *q, uint32_t n) {
  if (n <= q->cap)
    return 0;
  /* Each array is grown on its own and keeps its own length; a failure
   * leaves the larger ones behind, which is harmless because cap only
   * moves once all grew. */
  if (q->nd_len < n) {
    if (!asx__array_grow((void **)&q->nd, q->nd_len, n, sizeof *q->nd))
      return ASX_E_NOMEM;
    /* A node never pushed has no mark; its other fields are set by push. */
    for (uint32_t i = q->nd_len; i < n; i++) {
      q->nd[i].seq = 0;
      q->nd[i].word = 0;
      q->nd[i].ptr = NULL;
    }
    q->nd_len = n;
  }
  /* The top as long as the ring, so that the two can change places (see
   * refill). */
  if (!grow_ring(q, n))
    return ASX_E_NOMEM;
  /* The first rung, for as many entries as the top holds at most (see
   * refill), faulted in now, while agents are added: the top of a
   * population that started together becomes that rung right after every
   * agent's first turn, and its pages were zeroed by the kernel then while
   * the agents waited (measured: see prefetch_ahead in asx_sched.c). */
  if (q->rung[0].cap < n) {
    if (!asx__array_grow((void **)&q->rung[0].head, q->rung[0].cap, n,
                         sizeof *q->rung[0].head))
      return ASX_E_NOMEM;
    q->rung[0].cap = n;
    asx__array_prefault(q->rung[0].head, n, sizeof *q->rung[0].head);
  }
  if (q->top_len < (uint64_t)q->bmask + 1) {
    if (!asx__array_grow((void **)&q->top, q->top_len, (uint64_t)q->bmask + 1,
                         sizeof *q->top))
      return ASX_E_NOMEM;
    q->top_len = (uint64_t)q->bmask + 1;
  }
  q->cap = n;
  return 0;
}

asx_wakeq_entry *asx_wakeq_entries(asx_wakeq *q) { return q->nd; }

uint32_t asx_wakeq_len(const asx_wakeq *q) { return q->len; }
double asx_wakeq_time(const asx_wakeq *q, uint32_t id) {
  assert(id < q->cap);
  return q->nd[id].time;
}

/* ---- the levels -------------------------------------------------------- */

/* The head of the bucket of rung r that index x (>= r->cur) falls in. */
static inline uint32_t *bucket_of(rung *r, double x) {
  uint32_t b = x < (double)r->nb ? (uint32_t)x : r->nb - 1;
  assert(x >= (double)r->cur && b < r->nb);
  return &r->head[b];
}

static inline void bucket_push(node *nd, rung *r, double x, uint32_t id) {
  uint32_t *head = bucket_of(r, x);
  nd[id].next = *head;
  *head = id;
}

/* Links the pushes held back (see defer). */
static void flush_pending(asx_wakeq *q) {
  for (; q->npend > 0; q->npend--) {
    uint32_t k = q->pend_first, id = q->pend_id[k];
    q->nd[id].next = *q->pend_head[k];
    *q->pend_head[k] = id;
    q->pend_first = (k + 1) % PENDING;
  }
}

/* Pushes id into the bucket whose head is *head, a few pushes later. With
 * many entries the heads are a cold array read at random, one cache miss
 * per push; the head is fetched now and linked once PENDING more pushes
 * came, by when it has arrived. Held back, the entry is in no list, which
 * only matters to what walks the buckets: refill and renumber flush
 * first. Nothing else can tell, since an entry in a bucket comes after
 * every entry of the bottom, and the bucket cannot be consumed or freed
 * before a refill. */
static void defer(asx_wakeq *q, uint32_t *head, uint32_t id) {
  uint32_t k;
  __builtin_prefetch(head, 1);
  if (q->npend == PENDING) {
    k = q->pend_first;
    q->nd[q->pend_id[k]].next = *q->pend_head[k];
    *q->pend_head[k] = q->pend_id[k];
    q->pend_first = (k + 1) % PENDING;
    q->npend--;
  }
  k = (q->pend_first + q->npend++) % PENDING;
  q->pend_head[k] = head;
  q->pend_id[k] = id;
}

/* The i-th entry of the bottom. */
static inline uint32_t *bottom_at(asx_wakeq *q, uint32_t i) {
  return &q->bq[(q->bh + i) & q->bmask];
}

static void bottom_insert(asx_wakeq *q, uint32_t id) {
  node *nd = q->nd;
  double t = nd[id].time;
  uint32_t n = q->bn, lo = 0, hi;
  /* The ring has room: it is as long as there are ids. */
  assert(n <= q->bmask);
  q->bn = n + 1;
  /* A new entry goes after every entry of its time (its seq is larger). */
  if (n == 0 || nd[*bottom_at(q, n - 1)].time <= t) {
    *bottom_at(q, n) = id;
    return;
  }
  /* Before the first entry later than t (the last one is). */
  hi = n - 1;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (nd[*bottom_at(q, mid)].time <= t)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < n - lo) {
    q->bh = (q->bh - 1) & q->bmask;
    for (uint32_t i = 0; i < lo; i++)
      *bottom_at(q, i) = *bottom_at(q, i + 1);
  } else {
    for (uint32_t i = n; i > lo; i--)
      *bottom_at(q, i) = *bottom_at(q, i - 1);
  }
  *bottom_at(q, lo) = id;
  assert(lo == 0 || before(&nd[*bottom_at(q, lo - 1)], &nd[id]));
  assert(before(&nd[id], &nd[*bottom_at(q, lo + 1)]));
}

/* Takes the bottom's first entry out. */
static inline void bottom_take(asx_wakeq *q) {
  q->bh = (q->bh + 1) & q->bmask;
  q->bn--;
}

/* Appends the gathered entries (none removed), which all come after the
 * bottom's, to the bottom, sorted. */
static void bottom_append(asx_wakeq *q, const gathered *g) {
  node *nd = q->nd;
  uint32_t n = q->bn;
  assert(g->head != NIL && n + g->count <= q->bmask + 1);
  for (uint32_t id = sort_list(nd, g->head); id != NIL; id = nd[id].next)
    *bottom_at(q, n++) = id;
  assert(q->bn == 0 || before(&nd[*bottom_at(q, q->bn - 1)],
                              &nd[*bottom_at(q, q->bn)]));
  q->bn = n;
}

/* An entry's key, copied so that a few entries are sorted without going
 * back to their nodes. */
typedef struct key {
  double time;
  uint32_t seq, id;
} key;

/* Adds the live entries of a bucket's list to k[0 .. n - 1], which holds
 * earlier buckets' entries in order (all before these), by insertion.
 * Returns the new count, or THRES + 1 (k[0 .. n - 1] unchanged) when they
 * do not all fit in THRES. */
static uint32_t gather_keys(const node *nd, uint32_t list, key *k, uint32_t n) {
  for (uint32_t id = list; id != NIL; id = nd[id].next) {
    key x = {nd[id].time, nd[id].seq, id};
    uint32_t j;
    if (removed(&nd[id]))
      continue;
    if (n == THRES)
      return THRES + 1;
    for (j = n++; j > 0 && (k[j - 1].time > x.time ||
                            (k[j - 1].time == x.time && k[j - 1].seq > x.seq));
         j--)
      k[j] = k[j - 1];
    k[j] = x;
  }
  return n;
}

/* Appends k[0 .. n - 1], sorted, which all come after the bottom's
 * entries, to the bottom. */
static void bottom_append_keys(asx_wakeq *q, const key *k, uint32_t n) {
  assert(q->bn + n <= q->bmask + 1);
  assert(q->bn == 0 || before(&q->nd[*bottom_at(q, q->bn - 1)], &q->nd[k[0].id]));
  for (uint32_t i = 0; i < n; i++)
    *bottom_at(q, q->bn + i) = k[i].id;
  q->bn += n;
}

/* Makes a new deepest rung of nb buckets for count entries (nb >= count)
 * with times from min to max (min < max), each bucket as wide as the mean
 * spacing of the entries: the rung reaches as far beyond max as nb exceeds
 * count. The caller then deals the entries into it (deal_top, deal_list);
 * they must all come before every entry of the rungs above. Returns the
 * rung, or NULL when the span cannot be cut or memory is short. */
static rung *new_rung(asx_wakeq *q, uint32_t count, double min, double max,
                      uint32_t nb) {
  rung *r = &q->rung[q->nrungs];
  double width = (max - min) / count;
  assert(q->nrungs < MAX_RUNGS && nb >= count && count > 0);
  if (!(width > 0))
    return NULL;
  if (nb > r->cap) {
    if (!asx__array_grow((void **)&r->head, r->cap, nb, sizeof *r->head))
      return NULL;
    r->cap = nb;
  }
  memset(r->head, 0xff, (size_t)nb * sizeof *r->head);
  r->nb = nb;
  r->cur = 0;
  r->start = min;
  r->width = width;
  q->nrungs++;
  return r;
}

/* Moves the top's entries into rung r (new_rung), dropping the removed
 * ones. The ids are read in order, so each node is fetched DEAL_AHEAD
 * entries ahead, and its bucket's head half as far ahead once the node
 * has come: the cache misses of many entries overlap. */
static void deal_top(asx_wakeq *q, rung *r) {
  node *nd = q->nd;
  const uint32_t *ids = q->top;
  uint32_t n = q->top_count;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t id = ids[i];
    if (i + DEAL_AHEAD < n)
      __builtin_prefetch(&nd[ids[i + DEAL_AHEAD]]);
    if (i + DEAL_AHEAD / 2 < n) {
      const node *m = &nd[ids[i + DEAL_AHEAD / 2]];
      __builtin_prefetch(bucket_of(r, (m->time - r->start) / r->width), 1);
    }
    if (!removed(&nd[id]))
      bucket_push(nd, r, (nd[id].time - r->start) / r->width, id);
  }
}

/* Moves the entries of list (none removed) into rung r (new_rung). */
static void deal_list(asx_wakeq *q, rung *r, uint32_t list) {
  node *nd = q->nd;
  while (list != NIL) {
    uint32_t id = list;
    list = nd[id].next;
    bucket_push(nd, r, (nd[id].time - r->start) / r->width, id);
  }
}

/* Fetches into the cache what the next refills will walk: walking a
 * bucket is a chain of dependent loads, a cache miss per entry. Counted in
 * buckets that hold something, since a refill takes at least MIN_FILL
 * entries from as many buckets as that needs: the second entries of the
 * next LOOKAHEAD such buckets, whose first entries were fetched a refill
 * ago, and the first entries of the LOOKAHEAD after those. At most SCAN
 * heads are read, for rungs whose buckets are mostly empty. */
static void fetch_ahead(const node *nd, const rung *r) {
  uint32_t b = r->cur, end = r->nb - r->cur > SCAN ? r->cur + SCAN : r->nb;
  int k;
  for (k = 0; b < end && k < LOOKAHEAD; b++)
    if (r->head[b] != NIL) {
      k++;
      if (nd[r->head[b]].next != NIL)
        __builtin_prefetch(&nd[nd[r->head[b]].next]);
    }
  for (k = 0; b < end && k < LOOKAHEAD; b++)
    if (r->head[b] != NIL) {
      k++;
      __builtin_prefetch(&nd[r->head[b]]);
    }
}

/* Brings the next entries down into the bottom, after those it holds.
 * Returns 0 when there are none left above it. */
static int refill(asx_wakeq *q) {
  flush_pending(q);
  for (;;) {
    gathered g;
    gather_init(&g);
    if (q->nrungs == 0) {
      rung *r;
      if (q->top_count == 0) {
        /* Empty: the next push starts afresh at the top. */
        if (q->bn == 0)
          q->top_start = -INFINITY;
        return 0;
      }
      /* From now on the top takes only what comes after all of these. */
      q->top_start = nextafter(q->top_max, INFINITY);
      if (q->top_min == q->top_max && q->bn == 0 &&
          q->top_len == (uint64_t)q->bmask + 1) {
        /* All at one time (a population that starts together): the top
         * holds them in the order they were pushed, which is their order,
         * and becomes the bottom as it is, the empty ring the new top.
         * Sorting them into the ring took a pass over every node, and a
         * write of every id into memory not touched before. */
        uint32_t *ids = q->top;
        q->top = q->bq;
        q->bq = ids;
        q->bh = 0;
        q->bn = q->top_count;
        q->top_count = 0;
        return 1;
      }
      if (q->top_count > THRES && q->top_max > q->top_min &&
          (r = new_rung(q, q->top_count, q->top_min, q->top_max,
                        q->top_count)) != NULL) {
        double end = r->start + r->width * r->nb;
        deal_top(q, r);
        if (end > q->top_start)
          q->top_start = end;
        q->top_count = 0;
        continue;
      }
      gather_ids(q->nd, q->top, q->top_count, &g);
      q->top_count = 0;
    } else {
      rung *r = &q->rung[q->nrungs - 1], *finer;
      key k[THRES];
      uint32_t n;
      while (r->cur < r->nb && r->head[r->cur] == NIL)
        r->cur++;
      if (r->cur == r->nb) {
        q->nrungs--;
        continue;
      }
      n = gather_keys(q->nd, r->head[r->cur], k, 0);
      if (n > THRES) {
        /* A crowded bucket: cut finer, or all of it to the bottom. */
        gather(q->nd, r->head[r->cur], &g);
        r->head[r->cur++] = NIL;
        if (g.max > g.min && q->nrungs < MAX_RUNGS &&
            (finer = new_rung(q, g.count, g.min, g.max, g.count)) != NULL) {
          deal_list(q, finer, g.head);
          continue;
        }
        fetch_ahead(q->nd, r);
        bottom_append(q, &g);
        return 1;
      }
      r->head[r->cur++] = NIL;
      /* A few small buckets at once: the scheduler looks some entries
       * ahead to prefetch, and they are then usually at hand. */
      while (n < MIN_FILL) {
        uint32_t m;
        while (r->cur < r->nb && r->head[r->cur] == NIL)
          r->cur++;
        if (r->cur == r->nb)
          break;
        m = gather_keys(q->nd, r->head[r->cur], k, n);
        if (m > THRES)
          break;
        r->head[r->cur++] = NIL;
        n = m;
      }
      fetch_ahead(q->nd, r);
      if (n > 0) {
        bottom_append_keys(q, k, n);
        return 1;
      }
      continue;
    }
    if (g.head != NIL) {
      bottom_append(q, &g);
      return 1;
    }
  }
}

/* Puts a node that carries its time and seq in its level. */
static void place(asx_wakeq *q, uint32_t id) {
  node *nd = q->nd;
  double t = nd[id].time;
  if (t >= q->top_start) {
    /* An id is queued at most once, so the top never holds more than cap
     * ids, removed ones included: a removed id is never pushed again. */
    assert(q->top_count < q->cap);
    q->top[q->top_count] = id;
    if (q->top_count++ == 0) {
      q->top_min = q->top_max = t;
    } else if (t < q->top_min) {
      q->top_min = t;
    } else if (t > q->top_max) {
      q->top_max = t;
    }
    return;
  }
  for (int i = 0; i < q->nrungs; i++) {
    rung *r = &q->rung[i];
    double x = (t - r->start) / r->width;
    /* A rung whose buckets are all consumed takes nothing: its last one
     * was cut into the rung below, which covers what clamps into it. */
    if (r->cur < r->nb && x >= (double)r->cur) {
      defer(q, bucket_of(r, x), id);
      return;
    }
  }
  bottom_insert(q, id);
}

/* ---- renumbering ------------------------------------------------------- */

static const node *sort_nodes;

static int by_key(const void *a, const void *b) {
  const node *x = &sort_nodes[*(const uint32_t *)a];
  const node *y = &sort_nodes[*(const uint32_t *)b];
  return before(x, y) ? -1 : before(y, x) ? 1 : 0;
}

static uint32_t *collect(const node *nd, uint32_t list, uint32_t *ids) {
  for (; list != NIL; list = nd[list].next)
    *ids++ = list;
  return ids;
}

/* Gives every linked node (removed ones too) the seq of its rank, so that
 * seq restarts small with the order unchanged. */
static int renumber(asx_wakeq *q) {
  uint32_t *ids = malloc((size_t)(q->cap ? q->cap : 1) * sizeof *ids), *end;
  size_t n;
  if (!ids)
    return ASX_E_NOMEM;
  flush_pending(q);
  end = ids;
  memcpy(end, q->top, (size_t)q->top_count * sizeof *end);
  end += q->top_count;
  for (int i = 0; i < q->nrungs; i++)
    for (uint32_t b = q->rung[i].cur; b < q->rung[i].nb; b++)
      end = collect(q->nd, q->rung[i].head[b], end);
  for (uint32_t i = 0; i < q->bn; i++)
    *end++ = *bottom_at(q, i);
  n = (size_t)(end - ids);
  sort_nodes = q->nd;
  qsort(ids, n, sizeof *ids, by_key);
  for (size_t i = 0; i < n; i++)
    q->nd[ids[i]].seq = (uint32_t)i | (q->nd[ids[i]].seq & REMOVED);
  q->seq = (uint32_t)n;
  assert(q->seq < REMOVED && n >= q->len);
  free(ids);
  return 0;
}

void asx__wakeq_set_seq(asx_wakeq *q, uint32_t seq) {
  q->seq = seq < REMOVED ? seq : REMOVED;
}

/* ---- the public calls -------------------------------------------------- */

int asx_wakeq_push(asx_wakeq *q, uint32_t id, double time) {
  assert(id < q->cap && !removed(&q->nd[id]));
  assert(isfinite(time) && !signbit(time));
  if (q->seq == REMOVED && renumber(q) != 0)
    return ASX_E_NOMEM;
  q->nd[id].time = time;
  q->nd[id].seq = q->seq++;
  q->len++;
  place(q, id);
  return 0;
}

void asx_wakeq_remove(asx_wakeq *q, uint32_t id) {
  assert(id < q->cap && !removed(&q->nd[id]) && q->len > 0);
  q->nd[id].seq |= REMOVED;
  q->len--;
}

/* asx_wakeq_peek, inlined into the calls below. */
static inline uint32_t peek(asx_wakeq *q) {
  for (;;) {
    while (q->bn > 0 && removed(&q->nd[*bottom_at(q, 0)]))
      bottom_take(q);
    /* The bottom is kept ASX_WAKEQ_AHEAD deep while there is more, for
     * asx_wakeq_ahead (pending pushes are into rungs). */
    if (q->bn >= ASX_WAKEQ_AHEAD || (q->nrungs == 0 && q->top_count == 0) ||
        !refill(q))
      break;
  }
  /* When the bottom is empty, every level was drained. */
  assert(q->bn > 0 || q->len == 0);
  return q->bn > 0 ? *bottom_at(q, 0) : ASX_WAKEQ_NONE;
}

static inline void take(asx_wakeq *q) {
  assert(q->bn > 0 && q->len > 0 && !removed(&q->nd[*bottom_at(q, 0)]));
  bottom_take(q);
  q->len--;
}

uint32_t asx_wakeq_peek(asx_wakeq *q) { return peek(q); }

uint32_t asx_wakeq_first(asx_wakeq *q, double *time) {
  uint32_t id = peek(q);
  *time = id != ASX_WAKEQ_NONE ? q->nd[id].time : INFINITY;
  return id;
}

void asx_wakeq_take(asx_wakeq *q) { take(q); }

uint32_t asx_wakeq_ahead(const asx_wakeq *q, uint32_t *ids, uint32_t max) {
  uint32_t n = q->bn < max ? q->bn : max;
  if (q->bh + n <= q->bmask + 1) {
    memcpy(ids, &q->bq[q->bh], (size_t)n * sizeof *ids);
  } else {
    for (uint32_t i = 0; i < n; i++)
      ids[i] = q->bq[(q->bh + i) & q->bmask];
  }
  return n;
}

uint32_t asx_wakeq_pop(asx_wakeq *q) {
  uint32_t id = peek(q);
  if (id != ASX_WAKEQ_NONE)
    take(q);
  return id;
}
