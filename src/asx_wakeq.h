/* The wake-up queue: which agent wakes next, at a cost per wake-up that
 * does not grow with the number of agents (a ladder queue; the design is at
 * the top of asx_wakeq.c).
 *
 * Entries are small integer ids (agent numbers) with a time. They come out
 * in (time, seq) order, seq being the order in which they were pushed: the
 * earliest time first, and equal times first in, first out. That is the
 * same order as the binary-heap reference in asx_wakeheap.h, entry for
 * entry, which a test checks over long randomized runs.
 *
 * Contract: times are finite, >= 0 and never -0; an id is in the queue at
 * most once; and an id removed with asx_wakeq_remove is never pushed again
 * (an agent that was stopped never wakes). Debug builds assert these. The
 * costs are O(1) when, as in a simulation, pushes are rarely much earlier
 * than the entries already queued.
 *
 * Ownership: the caller owns the queue and frees it with asx_wakeq_free;
 * the queue owns its arrays. Nothing allocates per push or pop except when
 * a new level of buckets is first needed (arrays are kept for reuse).
 */
#ifndef ASX_WAKEQ_H
#define ASX_WAKEQ_H

#include <stdint.h>

#include "asx_err.h"

#define ASX_WAKEQ_NONE UINT32_MAX /* "no id" */

typedef struct asx_wakeq asx_wakeq;

/* What the queue keeps per id: its place in the queue, and two words for
 * the queue's owner in the same 32 bytes (a cache line holds two entries,
 * never part of one). The scheduler keeps there what a wake-up reads (its
 * agent's generator and coroutine), so that running an agent and queueing
 * its next wake-up touch one line of memory, not one here and another in
 * an array of its own. The queue never reads or writes the owner's words;
 * it sets them to 0 when asx_wakeq_reserve makes room for their id. */
typedef struct asx_wakeq_entry {
  double time;   /* private: the time the id was pushed with */
  uint32_t seq;  /* private */
  uint32_t next; /* private */
  uint64_t word; /* the owner's */
  void *ptr;     /* the owner's */
} asx_wakeq_entry;

/* The entries, indexed by id (0 .. the n reserved - 1). Valid until
 * asx_wakeq_reserve moves them. */
asx_wakeq_entry *asx_wakeq_entries(asx_wakeq *q);

/* An empty queue, or NULL when out of memory. */
asx_wakeq *asx_wakeq_new(void);
void asx_wakeq_free(asx_wakeq *q);

/* Makes room for the ids 0 .. n - 1, whose entries may move (see
 * asx_wakeq_entries). Returns 0, or ASX_E_NOMEM (then nothing changed). */
int asx_wakeq_reserve(asx_wakeq *q, uint32_t n);

/* Queues id at time. Returns 0, or ASX_E_NOMEM (only possible once every
 * two billion pushes, when seq is renumbered; nothing changed). */
int asx_wakeq_push(asx_wakeq *q, uint32_t id, double time);

/* Takes a queued id out for good, in O(1): it is only marked, and the
 * queue drops it when it reaches it. */
void asx_wakeq_remove(asx_wakeq *q, uint32_t id);

/* The first id, or ASX_WAKEQ_NONE when the queue is empty. It may move
 * entries between the queue's levels, hence not const. */
uint32_t asx_wakeq_peek(asx_wakeq *q);

/* Takes the first id out and returns it (ASX_WAKEQ_NONE when empty). */
uint32_t asx_wakeq_pop(asx_wakeq *q);

/* The scheduler's pair, a pop in two steps with one look at the queue:
 * asx_wakeq_first is asx_wakeq_peek that also gives the id's time
 * (INFINITY when empty), and asx_wakeq_take takes out the id it gave, in
 * O(1); nothing may change the queue in between. */
uint32_t asx_wakeq_first(asx_wakeq *q, double *time);
void asx_wakeq_take(asx_wakeq *q);

/* For prefetching only: writes to ids up to max ids in the order they
 * come out next, and returns how many. The list holds at least
 * min(max, ASX_WAKEQ_AHEAD - 1, entries queued) ids after an asx_wakeq_peek
 * or asx_wakeq_pop (or asx_wakeq_first and asx_wakeq_take), each id then
 * queued or since removed; pushes after that may come in between. O(max),
 * a copy from an array. */
#define ASX_WAKEQ_AHEAD 68
uint32_t asx_wakeq_ahead(const asx_wakeq *q, uint32_t *ids, uint32_t max);

/* The time id was pushed with (id queued, or popped and not pushed since). */
double asx_wakeq_time(const asx_wakeq *q, uint32_t id);

/* The number of queued ids. */
uint32_t asx_wakeq_len(const asx_wakeq *q);

/* For tests: the next push gets this seq (at most ASX__WAKEQ_SEQ_LIMIT). */
#define ASX__WAKEQ_SEQ_LIMIT 0x80000000u
void asx__wakeq_set_seq(asx_wakeq *q, uint32_t seq);

#endif
