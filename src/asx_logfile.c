/* Buffered log files with a writer thread; events are encoded by asx_event.c.
 * The design (chunks, bounded memory, whole lines only) is described in
 * asx_logfile.h; this file keeps to the mechanics.
 *
 * Locking: mu guards the queue of full chunks, the free list, the chunk
 * count, the writer's state, the written and dropped counts, and the
 * current chunk (cur). The producer holds it for each call that appends
 * (one uncontended lock per call, not per row), so that the writer can take
 * lines the producer has not handed over itself: the producer may be idle,
 * or busy with an agent that does not yield, for as long as it likes, and
 * whole lines still reach the file within a fraction of a second (see
 * writer_main). Which files are open for logging, shared by every log file
 * of the process, is asx_logfile_claim.c's.
 */
#include "asx_logfile.h"
#include "asx_logfile_claim.h"
#include "asx_deadline.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Big enough that a chunk costs one write(2) per few thousand rows, small
 * enough that a bounded buffer still holds many of them. */
#define CHUNK_SIZE (256 * 1024)
#define DEFAULT_MAX_BYTES ((size_t)64 * 1024 * 1024)
/* The longest a whole line waits in the current chunk before the writer
 * takes it: a killed process loses at most about that much of its log. */
#define STALE_NS 250000000L

typedef struct chunk {
  struct chunk *next;
  size_t len, cap;
  int64_t lines;
  char data[];
} chunk;

struct asx_logfile {
  int fd;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t work; /* the writer waits here for chunks or quit */
  pthread_cond_t done; /* the producer waits here for free chunks */

  chunk *cur;                /* producer-owned */
  chunk *qhead, *qtail;      /* full chunks, oldest first (mu) */
  chunk *free_list;          /* (mu) */
  size_t nchunks, max_chunks; /* regular chunks in existence (mu) */
  int writing;               /* the writer holds a chunk (mu) */
  int quit;                  /* (mu) */
  atomic_int err;            /* errno of the first failed write, or 0 */

  asx__claimed_file claim; /* which regular file this is (asx_logfile_claim.c) */

  int format, type;
  /* The session as given, kept to quote it again when the format changes. */
  int has_session, session_is_string;
  size_t session_len;
  char session[ASX_EVENT_SESSION_MAX];
  asx_event_fmt fmt;

  int64_t lines, bytes;   /* producer-owned */
  atomic_llong dropped;  /* both threads add to it */
  atomic_llong written;  /* lines in the file, whole */
  atomic_llong flushed;
};

/* asx_logfile_quiesce: once quitting is set, no writer starts a write, and
 * writes_under_way tells when those already started have ended. Both are
 * sequentially consistent, so that a writer and the quitting thread cannot
 * both miss the other's store. */
static atomic_int quitting;
static atomic_int writes_under_way;

/* ---- the writer thread -------------------------------------------------- */

/* Writes a chunk of whole lines and returns 0, or the errno of a write that
 * failed. A write can stop part way (a full disk, a file size limit), in
 * the middle of a line: the bytes after the last whole line are then cut
 * off again, so the file still ends with a newline. *lines and *bytes say
 * what of the chunk is in the file. On a file that cannot be truncated (a
 * pipe, a device) a torn tail stays, but is not counted as a line. */
static int write_chunk(int fd, const chunk *c, int64_t *lines, size_t *bytes) {
  size_t done = 0;
  int e = 0;
  while (done < c->len) {
    ssize_t w = write(fd, c->data + done, c->len - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      e = w < 0 ? errno : EIO; /* 0 for a non-empty write means no progress */
      break;
    }
    done += (size_t)w;
  }
  if (!e) {
    *lines = c->lines;
    *bytes = c->len;
    return 0;
  }
  size_t whole = done;
  while (whole && c->data[whole - 1] != '\n') whole--;
  if (whole < done) {
    /* The file offset is just past the bytes this chunk wrote, also with
     * O_APPEND. */
    off_t end = lseek(fd, 0, SEEK_CUR);
    off_t torn = (off_t)(done - whole);
    if (end >= torn && ftruncate(fd, end - torn) == 0) lseek(fd, end - torn, SEEK_SET);
  }
  int64_t n = 0;
  for (const char *p = c->data; (p = memchr(p, '\n', (size_t)(c->data + whole - p))); p++) n++;
  *lines = n;
  *bytes = whole;
  return e;
}

static void enqueue_locked(asx_logfile *lf, chunk *c);

/* The writer takes full chunks as the producer hands them over, and when
 * none came for STALE_NS it takes the current chunk too, with the whole
 * lines it holds: the producer then starts a fresh one at its next line. */
static void *writer_main(void *arg) {
  asx_logfile *lf = arg;
  sigset_t pipe_signal;
  /* A pipe whose reader left is a write error like any other (EPIPE):
   * its SIGPIPE, sent to this thread, would end the whole process, with
   * the other files' last lines and the summary. */
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, NULL);
  pthread_mutex_lock(&lf->mu);
  for (;;) {
    while (!lf->qhead && !lf->quit) {
      struct timespec ts = asx_deadline_in(STALE_NS);
      if (pthread_cond_timedwait(&lf->work, &lf->mu, &ts) == ETIMEDOUT &&
          lf->cur && lf->cur->len) {
        enqueue_locked(lf, lf->cur);
        lf->cur = NULL;
      }
    }
    if (!lf->qhead) break; /* quit, and nothing left to write */
    chunk *c = lf->qhead;
    lf->qhead = c->next;
    if (!lf->qhead) lf->qtail = NULL;
    lf->writing = 1;
    pthread_mutex_unlock(&lf->mu);

    /* After a failure the file takes no more lines, so that it holds a
     * prefix of the log with no gap. */
    int64_t lines = 0;
    size_t bytes = 0;
    atomic_fetch_add(&writes_under_way, 1);
    if (atomic_load(&quitting)) {
      /* The process is about to exit: the chunk is not written. */
      atomic_fetch_sub(&writes_under_way, 1);
      for (;;) pause();
    }
    if (!atomic_load(&lf->err)) {
      int e = write_chunk(lf->fd, c, &lines, &bytes);
      if (e) {
        int expected = 0;
        atomic_compare_exchange_strong(&lf->err, &expected, e);
      }
      atomic_fetch_add(&lf->flushed, (long long)bytes);
    }
    atomic_fetch_sub(&writes_under_way, 1);

    pthread_mutex_lock(&lf->mu);
    atomic_fetch_add(&lf->written, (long long)lines);
    atomic_fetch_add(&lf->dropped, (long long)(c->lines - lines));
    lf->writing = 0;
    if (c->cap > CHUNK_SIZE) {
      free(c); /* an oversized chunk made for one long line */
    } else {
      c->len = 0;
      c->lines = 0;
      c->next = lf->free_list;
      lf->free_list = c;
    }
    pthread_cond_broadcast(&lf->done);
  }
  pthread_mutex_unlock(&lf->mu);
  return NULL;
}

static chunk *chunk_new(size_t cap) {
  chunk *c = malloc(sizeof(chunk) + cap);
  if (!c) return NULL;
  c->next = NULL;
  c->len = 0;
  c->cap = cap;
  c->lines = 0;
  return c;
}

static void enqueue_locked(asx_logfile *lf, chunk *c) {
  c->next = NULL;
  if (lf->qtail) lf->qtail->next = c;
  else lf->qhead = c;
  lf->qtail = c;
  pthread_cond_signal(&lf->work);
}

/* Hands the current chunk to the writer and takes an empty one, waiting for
 * the writer when the memory bound is reached or memory is short. The wait
 * always ends: at least one chunk exists, and every chunk that is not the
 * current one is queued, being written or free, and the writer returns each
 * it takes to the free list. Called with mu held. */
static void handoff(asx_logfile *lf) {
  if (lf->cur && lf->cur->len) {
    enqueue_locked(lf, lf->cur);
    lf->cur = NULL;
  }
  while (!lf->cur) {
    if (lf->free_list) {
      lf->cur = lf->free_list;
      lf->free_list = lf->cur->next;
    } else if (lf->nchunks < lf->max_chunks && (lf->cur = chunk_new(CHUNK_SIZE))) {
      lf->nchunks++;
    } else {
      pthread_cond_wait(&lf->done, &lf->mu);
    }
  }
}

/* Makes room for need bytes (at most CHUNK_SIZE) in the current chunk (mu
 * held; the writer may have taken the chunk). */
static void reserve(asx_logfile *lf, size_t need) {
  if (!lf->cur || lf->cur->cap - lf->cur->len < need) handoff(lf);
}

/* Counts lines that the file will never hold, after a failure. */
static void drop(asx_logfile *lf, int64_t lines, size_t bytes) {
  lf->lines += lines;
  lf->bytes += (int64_t)bytes;
  atomic_fetch_add(&lf->dropped, (long long)lines);
}

/* ---- the public calls --------------------------------------------------- */

int asx_logfile_open(const char *path, int append, size_t max_bytes, asx_logfile **out,
                     const char **err) {
  static const char *dummy;
  if (!err) err = &dummy;
  *out = NULL;
  if (!path || !*path) {
    *err = "empty path";
    errno = EINVAL;
    return ASX_E_ARG;
  }
  asx_logfile *lf = calloc(1, sizeof *lf);
  if (!lf) {
    *err = "out of memory";
    return ASX_E_NOMEM;
  }
  /* Not O_TRUNC: the file may be another log's, which the claim finds out. */
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : 0);
  lf->fd = open(path, flags, 0644);
  int e = lf->fd < 0 ? errno : asx__logfile_claim(&lf->claim, lf->fd, path, append);
  if (e) {
    *err = e == EBUSY ? "already open for logging" : strerror(e);
    if (lf->fd >= 0) close(lf->fd);
    asx__logfile_unclaim(&lf->claim);
    free(lf);
    errno = e;
    return e == EBUSY ? ASX_E_STATE : e == ENOMEM ? ASX_E_NOMEM : ASX_E_IO;
  }
  if (!max_bytes) max_bytes = DEFAULT_MAX_BYTES;
  lf->max_chunks = max_bytes / CHUNK_SIZE;
  if (lf->max_chunks < 2) lf->max_chunks = 2;
  lf->cur = chunk_new(CHUNK_SIZE);
  lf->nchunks = 1;
  lf->format = ASX_LOG_JSONL;
  lf->type = ASX_EV_TRADE;
  asx_event_fmt_init(&lf->fmt, ASX_EVENT_JSON);
  pthread_mutex_init(&lf->mu, NULL);
  pthread_cond_init(&lf->work, NULL);
  /* The writer waits with a CLOCK_REALTIME deadline; the default clock. */
  pthread_cond_init(&lf->done, NULL);
  if (!lf->cur || pthread_create(&lf->thread, NULL, writer_main, lf) != 0) {
    *err = "cannot start the writer thread";
    close(lf->fd);
    asx__logfile_unclaim(&lf->claim);
    free(lf->cur);
    pthread_mutex_destroy(&lf->mu);
    pthread_cond_destroy(&lf->work);
    pthread_cond_destroy(&lf->done);
    free(lf);
    return ASX_E_NOMEM;
  }
  *out = lf;
  return 0;
}

int asx_logfile_set_format(asx_logfile *lf, int format, int type) {
  if (!lf || (format != ASX_LOG_CSV && format != ASX_LOG_JSONL)) return ASX_E_ARG;
  if (format == ASX_LOG_CSV && !asx_event_is_book_type(type)) return ASX_E_ARG;
  lf->format = format;
  lf->type = type;
  asx_event_fmt_init(&lf->fmt, format == ASX_LOG_CSV ? ASX_EVENT_CSV : ASX_EVENT_JSON);
  asx_event_fmt_session(&lf->fmt, lf->has_session ? lf->session : NULL, lf->session_len,
                        lf->session_is_string);
  return 0;
}

int asx_logfile_set_session(asx_logfile *lf, const char *session, size_t len, int is_string) {
  if (!lf) return ASX_E_ARG;
  if (session && (len > ASX_EVENT_SESSION_MAX || (!is_string && len == 0))) return ASX_E_ARG;
  lf->has_session = session != NULL;
  lf->session_is_string = is_string != 0;
  lf->session_len = session ? len : 0;
  if (session) memcpy(lf->session, session, len);
  asx_event_fmt_session(&lf->fmt, session, len, is_string);
  return 0;
}

int asx_logfile_write(asx_logfile *lf, const char *text, size_t len) {
  if (!lf || !text || len == 0 || text[len - 1] != '\n') return ASX_E_ARG;
  int64_t nl = 0;
  for (const char *p = text; (p = memchr(p, '\n', (size_t)(text + len - p))); p++) nl++;
  if (atomic_load_explicit(&lf->err, memory_order_relaxed)) {
    drop(lf, nl, len);
    return ASX_E_IO;
  }
  if (len > CHUNK_SIZE) {
    /* A line longer than a chunk gets a chunk of its own, outside the
     * bound: it is rare (a huge user message) and freed once written. */
    chunk *c = chunk_new(len);
    if (!c) {
      /* Stopped, as after a write error, so the file has no gap. */
      int expected = 0;
      atomic_compare_exchange_strong(&lf->err, &expected, ENOMEM);
      drop(lf, nl, len);
      return ASX_E_IO;
    }
    memcpy(c->data, text, len);
    c->len = len;
    c->lines = nl;
    pthread_mutex_lock(&lf->mu);
    if (lf->cur && lf->cur->len) {
      enqueue_locked(lf, lf->cur);
      lf->cur = NULL;
    }
    enqueue_locked(lf, c);
    pthread_mutex_unlock(&lf->mu);
  } else {
    pthread_mutex_lock(&lf->mu);
    reserve(lf, len);
    memcpy(lf->cur->data + lf->cur->len, text, len);
    lf->cur->len += len;
    lf->cur->lines += nl;
    pthread_mutex_unlock(&lf->mu);
  }
  lf->lines += nl;
  lf->bytes += (int64_t)len;
  return 0;
}

/* ---- events ---------------------------------------------------------- */

int64_t asx_logfile_events(asx_logfile *lf, const asx_event *events, size_t n) {
  if (!lf || (!events && n)) return ASX_E_ARG;
  if (atomic_load_explicit(&lf->err, memory_order_relaxed)) {
    int64_t k = 0;
    for (size_t i = 0; i < n; i++)
      if (asx_event_is_book_type(events[i].type) && (lf->format == ASX_LOG_JSONL || events[i].type == lf->type)) k++;
    drop(lf, k, 0);
    return ASX_E_IO;
  }
  size_t maxrow = asx_event_max_len(&lf->fmt);
  int64_t k = 0;
  pthread_mutex_lock(&lf->mu);
  for (size_t i = 0; i < n; i++) {
    const asx_event *e = &events[i];
    if (!asx_event_is_book_type(e->type)) continue;
    if (lf->format == ASX_LOG_CSV && e->type != lf->type) continue;
    reserve(lf, maxrow);
    char *start = lf->cur->data + lf->cur->len;
    char *end = asx_event_encode(&lf->fmt, start, e);
    lf->cur->len += (size_t)(end - start);
    lf->cur->lines++;
    lf->bytes += end - start;
    k++;
  }
  pthread_mutex_unlock(&lf->mu);
  lf->lines += k;
  return k;
}

int asx_logfile_flush(asx_logfile *lf) {
  if (!lf) return ASX_E_ARG;
  pthread_mutex_lock(&lf->mu);
  if (lf->cur && lf->cur->len) {
    enqueue_locked(lf, lf->cur);
    lf->cur = NULL;
  }
  while (lf->qhead || lf->writing) pthread_cond_wait(&lf->done, &lf->mu);
  pthread_mutex_unlock(&lf->mu);
  return atomic_load(&lf->err) ? ASX_E_IO : 0;
}

int asx_logfile_close(asx_logfile *lf) {
  if (!lf) return ASX_E_ARG;
  int rc = asx_logfile_flush(lf);
  pthread_mutex_lock(&lf->mu);
  lf->quit = 1;
  pthread_cond_signal(&lf->work);
  pthread_mutex_unlock(&lf->mu);
  pthread_join(lf->thread, NULL);
  if (close(lf->fd) != 0 && rc == 0) rc = ASX_E_IO;
  asx__logfile_unclaim(&lf->claim);
  free(lf->cur);
  while (lf->free_list) {
    chunk *c = lf->free_list;
    lf->free_list = c->next;
    free(c);
  }
  pthread_mutex_destroy(&lf->mu);
  pthread_cond_destroy(&lf->work);
  pthread_cond_destroy(&lf->done);
  free(lf);
  return rc;
}

void asx_logfile_quiesce(double max_seconds) {
  struct timespec ms = {0, 1000000};
  atomic_store(&quitting, 1);
  for (double waited = 0; atomic_load(&writes_under_way) > 0 && waited < max_seconds;
       waited += 0.001)
    nanosleep(&ms, NULL);
}

void asx_logfile_stats_get(const asx_logfile *lf, asx_logfile_stats *out) {
  asx_logfile *m = (asx_logfile *)lf; /* the lock is not part of the value */
  pthread_mutex_lock(&m->mu);
  out->lines = m->lines;
  out->dropped = atomic_load(&m->dropped);
  out->written = atomic_load(&m->written);
  out->bytes = m->bytes;
  pthread_mutex_unlock(&m->mu);
  out->flushed = atomic_load(&m->flushed);
}

const char *asx_logfile_error(const asx_logfile *lf) {
  int e = atomic_load(&((asx_logfile *)lf)->err);
  return e ? strerror(e) : NULL;
}
