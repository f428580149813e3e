/* The wake-up heap: the scheduler's former wake-up queue, a 4-ary heap,
 * kept as the reference that asx_wakeq is tested and measured against.
 *
 * The same calls and the same order as asx_wakeq.h: ids come out by
 * (time, seq), seq being the push order, so equal times are first in,
 * first out. Costs: push, pop and remove O(log4 n), one cache miss per
 * level once the heap outgrows the cache. The same contract: finite times
 * >= 0 and never -0, an id queued at most once. A removed id may be pushed
 * again here (the queue forbids it).
 *
 * Ownership: the caller owns the heap and frees it with asx_wakeheap_free.
 */
#ifndef ASX_WAKEHEAP_H
#define ASX_WAKEHEAP_H

#include <stdint.h>

#include "asx_err.h"

#define ASX_WAKEHEAP_NONE UINT32_MAX

typedef struct asx_wakeheap asx_wakeheap;

asx_wakeheap *asx_wakeheap_new(void);
void asx_wakeheap_free(asx_wakeheap *h);
/* Makes room for the ids 0 .. n - 1; 0, or ASX_E_NOMEM. */
int asx_wakeheap_reserve(asx_wakeheap *h, uint32_t n);
/* Always 0: it never allocates. */
int asx_wakeheap_push(asx_wakeheap *h, uint32_t id, double time);
void asx_wakeheap_remove(asx_wakeheap *h, uint32_t id);
uint32_t asx_wakeheap_peek(asx_wakeheap *h);
uint32_t asx_wakeheap_pop(asx_wakeheap *h);
/* The time of a queued id, or of the id popped last. */
double asx_wakeheap_time(const asx_wakeheap *h, uint32_t id);
uint32_t asx_wakeheap_len(const asx_wakeheap *h);

/* For tests: the next push gets this seq (32 bits, renumbered at the end). */
void asx__wakeheap_set_seq(asx_wakeheap *h, uint32_t seq);

#endif
