/* The wake-up queue's lists of nodes (included by asx_wakeq.c only, the way
 * libuv keeps its heap in heap-inl.h: the functions stay in the queue's
 * translation unit, so the compiler inlines them on the hot path).
 *
 * One node per id (its entry); every list of the queue is a singly linked list
 * of nodes through `next`, ending at NIL. Nodes are ordered by (time, seq);
 * a removed node keeps its place in its list, marked by seq's top bit.
 * This file orders, sorts and gathers such lists; which list an entry
 * lives in is asx_wakeq.c's business.
 */
#ifndef ASX_WAKEQ_LIST_H
#define ASX_WAKEQ_LIST_H

#include <math.h>
#include <stdint.h>

#include "asx_wakeq.h"

#define NIL UINT32_MAX
#define REMOVED ASX__WAKEQ_SEQ_LIMIT /* seq's top bit */

/* An id's entry (asx_wakeq.h): time, seq (push order; REMOVED set once
 * removed) and next; the owner's words are not the queue's business. */
typedef asx_wakeq_entry node;

static inline int before(const node *a, const node *b) {
  return a->time < b->time ||
         (a->time == b->time && (a->seq & ~REMOVED) < (b->seq & ~REMOVED));
}

static inline int removed(const node *n) { return (n->seq & REMOVED) != 0; }

/* Detaches the longest ascending or descending run at the head of *list and
 * returns it ascending. Keys are distinct (seq is), so runs are strict. */
static uint32_t take_run(node *nd, uint32_t *list) {
  uint32_t head = *list, a = head, b = nd[head].next;
  if (b != NIL && before(&nd[b], &nd[a])) {
    uint32_t rev = head;
    nd[head].next = NIL;
    while (b != NIL && before(&nd[b], &nd[rev])) {
      uint32_t next = nd[b].next;
      nd[b].next = rev;
      rev = b;
      b = next;
    }
    *list = b;
    return rev;
  }
  while (b != NIL && before(&nd[a], &nd[b])) {
    a = b;
    b = nd[b].next;
  }
  nd[a].next = NIL;
  *list = b;
  return head;
}

static uint32_t merge(node *nd, uint32_t a, uint32_t b) {
  uint32_t head, *tail = &head;
  while (a != NIL && b != NIL) {
    if (before(&nd[a], &nd[b])) {
      *tail = a;
      tail = &nd[a].next;
      a = nd[a].next;
    } else {
      *tail = b;
      tail = &nd[b].next;
      b = nd[b].next;
    }
  }
  *tail = a != NIL ? a : b;
  return head;
}

/* A natural merge sort: runs are merged like the digits of a binary
 * counter, so n entries in r runs cost O(n log r). */
static uint32_t sort_list(node *nd, uint32_t list) {
  uint32_t bin[33];
  int nbins = 0;
  uint32_t out = NIL;
  while (list != NIL) {
    uint32_t run = take_run(nd, &list);
    int i = 0;
    while (i < nbins && bin[i] != NIL) {
      run = merge(nd, bin[i], run);
      bin[i++] = NIL;
    }
    if (i == nbins)
      nbins++;
    bin[i] = run;
  }
  for (int i = 0; i < nbins; i++)
    if (bin[i] != NIL)
      out = merge(nd, bin[i], out);
  return out;
}

/* What a gather collects: the live entries, linked, and their count,
 * smallest and largest time. */
typedef struct gathered {
  uint32_t head, *tail;
  uint32_t count;
  double min, max;
} gathered;

static void gather_init(gathered *g) {
  g->head = NIL;
  g->tail = &g->head;
  g->count = 0;
  g->min = INFINITY;
  g->max = -INFINITY;
}

/* Appends id to g unless it was removed. */
static inline void gather_one(node *nd, uint32_t id, gathered *g) {
  if (removed(&nd[id]))
    return;
  *g->tail = id;
  g->tail = &nd[id].next;
  g->count++;
  if (nd[id].time < g->min)
    g->min = nd[id].time;
  if (nd[id].time > g->max)
    g->max = nd[id].time;
}

/* Appends the live entries of list to g, leaving the removed ones out. */
static void gather(node *nd, uint32_t list, gathered *g) {
  for (uint32_t id = list; id != NIL; id = nd[id].next)
    gather_one(nd, id, g);
  *g->tail = NIL;
}

/* The same for the entries ids[0 .. n - 1]. */
static void gather_ids(node *nd, const uint32_t *ids, uint32_t n, gathered *g) {
  for (uint32_t i = 0; i < n; i++)
    gather_one(nd, ids[i], g);
  *g->tail = NIL;
}

#endif
