/* Agents' names for the messages of signals and of the watchdog (see
 * asx_sched_label): groups are names kept once each, and labels are runs
 * of consecutive agents with consecutive numbers in one group, sorted by
 * their first agent, which is how sessions add them: a few runs in all,
 * found by binary search. asx_sched_describe runs in signal handlers, hence
 * writes without stdio or allocation.
 */
#include "asx_sched_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* An array that asx_sched_describe may still be reading, from the
 * watchdog's thread, the prompt's watch or a signal handler that
 * interrupted the copy: kept until the scheduler is freed. Arrays double,
 * so those kept take no more than the live ones. */
struct asx__retired {
  struct asx__retired *next;
  void *array;
};

/* A copy of old's first used bytes in a new array of size bytes; old is
 * retired, not freed. NULL when out of memory, old left as it was. */
static void *grow(asx_sched *s, void *old, size_t used, size_t size) {
  struct asx__retired *r = old ? malloc(sizeof *r) : NULL;
  void *p = old && !r ? NULL : malloc(size);
  if (!p) {
    free(r);
    return NULL;
  }
  if (old) {
    memcpy(p, old, used);
    r->array = old;
    r->next = s->retired;
    s->retired = r;
  }
  return p;
}

int asx_sched_group(asx_sched *s, const char *name) {
  char *copy;
  size_t len;
  for (int i = 0; i < s->ngroups; i++)
    if (strcmp(s->groups[i], name) == 0)
      return i;
  if (s->ngroups >= UINT16_MAX)
    return ASX_E_ARG;
  len = strlen(name);
  copy = malloc(len + 1);
  if (!copy)
    return ASX_E_NOMEM;
  memcpy(copy, name, len + 1);
  if (s->ngroups == s->groups_cap) {
    int cap = s->groups_cap ? s->groups_cap * 2 : 8;
    char **g = grow(s, s->groups, sizeof *g * (size_t)s->ngroups,
                    sizeof *g * (size_t)cap);
    if (!g) {
      free(copy);
      return ASX_E_NOMEM;
    }
    __atomic_store_n(&s->groups, g, __ATOMIC_RELEASE);
    s->groups_cap = cap;
  }
  s->groups[s->ngroups] = copy;
  __atomic_store_n(&s->ngroups, s->ngroups + 1, __ATOMIC_RELEASE);
  return s->ngroups - 1;
}

int asx_sched_label(asx_sched *s, uint32_t agent, int group, uint32_t number) {
  label_run *last = s->nlabels ? &s->labels[s->nlabels - 1] : NULL;
  if (agent >= s->n || group < 0 || group >= s->ngroups)
    return ASX_E_ARG;
  if (last && agent < last->first + last->count)
    return ASX_E_STATE;
  if (last && agent == last->first + last->count && group == last->group &&
      number == last->number + last->count) {
    __atomic_store_n(&last->count, last->count + 1, __ATOMIC_RELEASE);
    return 0;
  }
  if (s->nlabels == s->labels_cap) {
    uint32_t cap = s->labels_cap ? s->labels_cap * 2 : 8;
    label_run *l = grow(s, s->labels, s->nlabels * sizeof *l, cap * sizeof *l);
    if (!l)
      return ASX_E_NOMEM;
    __atomic_store_n(&s->labels, l, __ATOMIC_RELEASE);
    s->labels_cap = cap;
  }
  s->labels[s->nlabels].first = agent;
  s->labels[s->nlabels].count = 1;
  s->labels[s->nlabels].number = number;
  s->labels[s->nlabels].group = (uint16_t)group;
  __atomic_store_n(&s->nlabels, s->nlabels + 1, __ATOMIC_RELEASE);
  /* Runs are sorted and disjoint, which the binary search relies on. */
  assert(s->nlabels == 1 || s->labels[s->nlabels - 2].first +
                                    s->labels[s->nlabels - 2].count <= agent);
  return 0;
}

/* The run that labels agent, or NULL. */
static const label_run *find_label(const asx_sched *s, uint32_t agent) {
  /* The count first: the array loaded after it holds at least as many. */
  uint32_t lo = 0, hi = __atomic_load_n(&s->nlabels, __ATOMIC_ACQUIRE);
  const label_run *labels = __atomic_load_n(&s->labels, __ATOMIC_ACQUIRE);
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (labels[mid].first <= agent)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0 || agent - labels[lo - 1].first >=
                     __atomic_load_n(&labels[lo - 1].count, __ATOMIC_ACQUIRE))
    return NULL;
  return &labels[lo - 1];
}

/* Async-signal-safe: no stdio, no allocation. */
static char *append(char *p, char *end, const char *str) {
  while (*str && p < end)
    *p++ = *str++;
  return p;
}

static char *append_u32(char *p, char *end, uint32_t v) {
  char digits[10];
  int n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n > 0 && p < end)
    *p++ = digits[--n];
  return p;
}

char *asx_sched_describe(const asx_sched *s, uint32_t agent, char *buf,
                         size_t size) {
  char *p = buf, *end;
  const label_run *l = agent < s->n ? find_label(s, agent) : NULL;
  if (size == 0)
    return buf;
  end = buf + size - 1;
  if (l) {
    /* A run's group was added before the run was published. */
    p = append(p, end, __atomic_load_n(&s->groups, __ATOMIC_ACQUIRE)[l->group]);
    p = append(p, end, "#");
    p = append_u32(p, end, l->number + (agent - l->first));
  } else {
    p = append(p, end, "agent ");
    p = append_u32(p, end, agent);
  }
  *p = '\0';
  return buf;
}

void asx__sched_free_labels(asx_sched *s) {
  for (int i = 0; i < s->ngroups; i++)
    free(s->groups[i]);
  free(s->groups);
  free(s->labels);
  while (s->retired) {
    struct asx__retired *next = s->retired->next;
    free(s->retired->array);
    free(s->retired);
    s->retired = next;
  }
}
