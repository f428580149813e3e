/* Buffered log files with a writer thread, and native event formatting.
 * The design (chunks, bounded memory, whole lines only) is described in
 * asx_logfile.h; this file keeps to the mechanics.
 *
 * Locking: mu guards the queue of full chunks, the free list, the chunk
 * count, the writer's state and the written and dropped counts. The current
 * chunk (cur) belongs to the producer alone, so appending a line takes no
 * lock; only handing a chunk over does, once per chunk. open_mu guards the
 * list of the regular files open for logging, which every log file of the
 * process shares.
 */
#include "asx_logfile.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
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
#define SESSION_MAX 256
/* The session text cleaned (each byte at most U+FFFD's three), then quoted
 * (each byte at most doubled for CSV, six bytes as \u00XX for JSON). */
#define SESSION_CLEAN_MAX (SESSION_MAX * 3)

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
  atomic_int tick;           /* set by the idle writer once a second */

  /* Which regular file this is, for refusing a second log of it (open_mu). */
  int claimed;
  dev_t dev;
  ino_t ino;
  char *path;
  asx_logfile *next_open;

  int format, type;
  int session_is_string;
  char session_csv[SESSION_CLEAN_MAX * 2 + 3];
  char session_json[SESSION_CLEAN_MAX * 6 + 3];
  size_t session_csv_len, session_json_len;

  /* The text of the last time written: a batch of events mostly shares one
   * time, and formatting a double exactly is the costly part of a row. */
  double last_time;
  char last_time_text[32];
  int last_time_len;

  int64_t lines, bytes;   /* producer-owned */
  atomic_llong dropped;  /* both threads add to it */
  atomic_llong written;  /* lines in the file, whole */
  atomic_llong flushed;
};

static pthread_mutex_t open_mu = PTHREAD_MUTEX_INITIALIZER;
static asx_logfile *open_files; /* the claimed ones (open_mu) */

/* ---- number formatting ------------------------------------------------ */

int asx_fmt_int64(char *buf, int64_t v) {
  /* Two digits per division: half the divisions, and rows are mostly
   * integers. */
  static const char pairs[201] =
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
      "8081828384858687888990919293949596979899";
  char tmp[24];
  int n = 24;
  /* Work in unsigned so that INT64_MIN negates without overflow. */
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  while (u >= 100) {
    unsigned d = (unsigned)(u % 100) * 2;
    u /= 100;
    tmp[--n] = pairs[d + 1];
    tmp[--n] = pairs[d];
  }
  if (u >= 10) {
    tmp[--n] = pairs[u * 2 + 1];
    tmp[--n] = pairs[u * 2];
  } else {
    tmp[--n] = (char)('0' + u);
  }
  int len = 0;
  if (v < 0) buf[len++] = '-';
  memcpy(buf + len, tmp + n, (size_t)(24 - n));
  len += 24 - n;
  buf[len] = '\0';
  return len;
}

/* The shortest of 15, 16 or 17 significant digits that reads back as v, in
 * %g's fixed form, for 1e-4 <= |v| < 1e15, where session times live.
 * printf and strtod do this exactly but slowly (about 0.7 us for the three
 * tries, most of a CSV row's cost), so it is done here in exact integer
 * arithmetic: |v| = M / 2^s with M < 2^53 and 3 <= s <= 66, so M * 10^k and
 * m * 2^s fit in 128 bits for the k <= 21 and m < 10^17 used. The digits m
 * are M * 10^k / 2^s rounded half to even, as glibc's printf rounds, and
 * m / 10^k reads back as v when it lies within half the gap to each
 * neighbouring double. Returns 0 outside that range. */
static int fmt_fixed_fast(char *buf, double v) {
  typedef unsigned __int128 u128;
  static const uint64_t p10[20] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
    100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL,
    10000000000000ULL, 100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
    100000000000000000ULL, 1000000000000000000ULL, 10000000000000000000ULL};
  double a = fabs(v);
  if (!(a >= 1e-4 && a < 1e15)) return 0;
  int ex;
  uint64_t M = (uint64_t)ldexp(frexp(a, &ex), 53);
  int s = 53 - ex;
  if (s < 1 || s > 66) return 0;
  /* The decimal exponent, exactly: 1e0..1e14 are exact doubles, and the
   * doubles nearest 1e-1..1e-4 lie above them, so a >= pow10d[e] says
   * a >= 10^e of the real numbers too. */
  static const double pow10d[19] = {1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2, 1e3, 1e4, 1e5,
                                    1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14};
  int e = 14;
  while (a < pow10d[e + 4]) e--;
  for (int p = 15; p <= 17; p++) {
    int k = p - 1 - e; /* 0..21 */
    u128 tenk = k < 20 ? (u128)p10[k] : (u128)p10[19] * p10[k - 19];
    u128 P = (u128)M * tenk;
    u128 q = P >> s, r = P & (((u128)1 << s) - 1), half = (u128)1 << (s - 1);
    /* m has p digits, or is 10^p when the rounding carried: 9.99.. -> 10. */
    uint64_t m = (uint64_t)q + (r > half || (r == half && (q & 1)));
    u128 ms = (u128)m << s;
    u128 diff = ms > P ? ms - P : P - ms;
    /* Below a power of two the gap to the lower neighbour is half as big. */
    int ok = (ms < P && M == (1ULL << 52)) ? 4 * diff < tenk : 2 * diff < tenk;
    if (!ok) continue;
    char digits[24];
    int nd = asx_fmt_int64(digits, (int64_t)m);
    int n = 0;
    if (v < 0) buf[n++] = '-';
    int intlen = nd - k;
    if (intlen > 0) {
      memcpy(buf + n, digits, (size_t)intlen);
      n += intlen;
    } else {
      buf[n++] = '0';
    }
    int point = n;
    buf[n++] = '.';
    for (int z = intlen; z < 0; z++) buf[n++] = '0';
    for (int i = intlen > 0 ? intlen : 0; i < nd; i++) buf[n++] = digits[i];
    while (n > point + 1 && buf[n - 1] == '0') n--;
    if (n == point + 1) n = point; /* nothing after the point */
    buf[n] = '\0';
    return n;
  }
  return 0;
}

int asx_fmt_double(char *buf, double v) {
  if (isnan(v)) {
    memcpy(buf, "nan", 4);
    return 3;
  }
  if (isinf(v)) {
    if (v < 0) {
      memcpy(buf, "-inf", 5);
      return 4;
    }
    memcpy(buf, "inf", 4);
    return 3;
  }
  if (v == floor(v) && fabs(v) <= 9007199254740992.0)
    return asx_fmt_int64(buf, (int64_t)v);
  int n = fmt_fixed_fast(buf, v);
  if (n) return n;
  /* The shortest of 15, 16 or 17 significant digits that reads back as v:
   * 17 always does, the shorter forms are what people expect to read. */
  for (int prec = 15; prec <= 17; prec++) {
    n = snprintf(buf, 32, "%.*g", prec, v);
    if (prec == 17 || strtod(buf, NULL) == v) break;
  }
  return n;
}

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

static void *writer_main(void *arg) {
  asx_logfile *lf = arg;
  pthread_mutex_lock(&lf->mu);
  for (;;) {
    while (!lf->qhead && !lf->quit) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_sec += 1;
      if (pthread_cond_timedwait(&lf->work, &lf->mu, &ts) == ETIMEDOUT)
        atomic_store_explicit(&lf->tick, 1, memory_order_relaxed);
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
    if (!atomic_load(&lf->err)) {
      int e = write_chunk(lf->fd, c, &lines, &bytes);
      if (e) {
        int expected = 0;
        atomic_compare_exchange_strong(&lf->err, &expected, e);
      }
      atomic_fetch_add(&lf->flushed, (long long)bytes);
    }

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
 * it takes to the free list. */
static void handoff(asx_logfile *lf) {
  atomic_store_explicit(&lf->tick, 0, memory_order_relaxed);
  pthread_mutex_lock(&lf->mu);
  if (lf->cur->len) {
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
  pthread_mutex_unlock(&lf->mu);
}

/* Makes room for need bytes (at most CHUNK_SIZE) in the current chunk. */
static void reserve(asx_logfile *lf, size_t need) {
  if (atomic_load_explicit(&lf->tick, memory_order_relaxed) && lf->cur->len) handoff(lf);
  if (lf->cur->cap - lf->cur->len < need) handoff(lf);
}

/* Counts lines that the file will never hold, after a failure. */
static void drop(asx_logfile *lf, int64_t lines, size_t bytes) {
  lf->lines += lines;
  lf->bytes += (int64_t)bytes;
  atomic_fetch_add(&lf->dropped, (long long)lines);
}

/* ---- one writer per regular file ------------------------------------- */

/* Takes the file open as lf->fd for lf, and truncates it unless append;
 * 0, or an errno (EBUSY: another log file of this process holds it). Only
 * regular files are claimed: writing /dev/null twice is harmless. */
static int claim(asx_logfile *lf, const char *path, int append) {
  struct stat st;
  if (fstat(lf->fd, &st) != 0) return errno;
  if (!S_ISREG(st.st_mode)) return 0;
  lf->path = strdup(path);
  if (!lf->path) return ENOMEM;
  int e = 0;
  pthread_mutex_lock(&open_mu);
  for (asx_logfile *o = open_files; o; o = o->next_open)
    if (o->dev == st.st_dev && o->ino == st.st_ino) e = EBUSY;
  /* Truncated only once it is known to be no other log's file. */
  if (!e && !append && ftruncate(lf->fd, 0) != 0) e = errno;
  if (!e) {
    lf->claimed = 1;
    lf->dev = st.st_dev;
    lf->ino = st.st_ino;
    lf->next_open = open_files;
    open_files = lf;
  }
  pthread_mutex_unlock(&open_mu);
  return e;
}

static void unclaim(asx_logfile *lf) {
  if (lf->claimed) {
    pthread_mutex_lock(&open_mu);
    asx_logfile **pp = &open_files;
    while (*pp != lf) pp = &(*pp)->next_open;
    *pp = lf->next_open;
    pthread_mutex_unlock(&open_mu);
    lf->claimed = 0;
  }
  free(lf->path);
  lf->path = NULL;
}

const char *asx_logfile_holder(const char *path) {
  struct stat st;
  if (!path || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return NULL;
  const char *held = NULL;
  pthread_mutex_lock(&open_mu);
  for (asx_logfile *o = open_files; o; o = o->next_open)
    if (o->dev == st.st_dev && o->ino == st.st_ino) held = o->path;
  pthread_mutex_unlock(&open_mu);
  return held;
}

/* ---- the public calls --------------------------------------------------- */

asx_logfile *asx_logfile_open(const char *path, int append, size_t max_bytes,
                              const char **err) {
  static const char *dummy;
  if (!err) err = &dummy;
  if (!path || !*path) {
    *err = "empty path";
    errno = EINVAL;
    return NULL;
  }
  asx_logfile *lf = calloc(1, sizeof *lf);
  if (!lf) {
    *err = "out of memory";
    return NULL;
  }
  /* Not O_TRUNC: the file may be another log's, which claim() finds out. */
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : 0);
  lf->fd = open(path, flags, 0644);
  int e = lf->fd < 0 ? errno : claim(lf, path, append);
  if (e) {
    *err = e == EBUSY ? "already open for logging" : strerror(e);
    if (lf->fd >= 0) close(lf->fd);
    unclaim(lf);
    free(lf);
    errno = e;
    return NULL;
  }
  if (!max_bytes) max_bytes = DEFAULT_MAX_BYTES;
  lf->max_chunks = max_bytes / CHUNK_SIZE;
  if (lf->max_chunks < 2) lf->max_chunks = 2;
  lf->cur = chunk_new(CHUNK_SIZE);
  lf->nchunks = 1;
  lf->format = ASX_LOG_JSONL;
  lf->type = ASX_EV_TRADE;
  asx_logfile_set_session(lf, NULL, 0, 0);
  lf->last_time = NAN;
  pthread_mutex_init(&lf->mu, NULL);
  pthread_cond_init(&lf->work, NULL);
  /* The writer waits with a CLOCK_REALTIME deadline; the default clock. */
  pthread_cond_init(&lf->done, NULL);
  if (!lf->cur || pthread_create(&lf->thread, NULL, writer_main, lf) != 0) {
    *err = "cannot start the writer thread";
    close(lf->fd);
    unclaim(lf);
    free(lf->cur);
    pthread_mutex_destroy(&lf->mu);
    pthread_cond_destroy(&lf->work);
    pthread_cond_destroy(&lf->done);
    free(lf);
    return NULL;
  }
  return lf;
}

int asx_logfile_set_format(asx_logfile *lf, int format, int type) {
  if (!lf || (format != ASX_LOG_CSV && format != ASX_LOG_JSONL)) return ASX_LOG_E_ARG;
  if (format == ASX_LOG_CSV && (type < ASX_EV_TRADE || type > ASX_EV_TRIM)) return ASX_LOG_E_ARG;
  lf->format = format;
  lf->type = type;
  return 0;
}

/* ---- text ------------------------------------------------------------- */

/* The length of the valid UTF-8 sequence at s (1 to 4 bytes, of the len
 * left), or 0 when it is not one; *bad is then the length of its maximal
 * invalid subpart: the lead byte and the continuation bytes that could
 * still have completed it. */
static size_t utf8_seq(const unsigned char *s, size_t len, size_t *bad) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  size_t need;
  unsigned lo = 0x80, hi = 0xBF; /* the range of the second byte */
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    if (c == 0xE0) lo = 0xA0;      /* overlong */
    else if (c == 0xED) hi = 0x9F; /* surrogates */
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    if (c == 0xF0) lo = 0x90;      /* overlong */
    else if (c == 0xF4) hi = 0x8F; /* beyond U+10FFFF */
  } else {
    *bad = 1;
    return 0;
  }
  size_t m = 1;
  if (len > 1 && s[1] >= lo && s[1] <= hi) {
    m = 2;
    while (m <= need && m < len && (s[m] & 0xC0) == 0x80) m++;
  }
  if (m == need + 1) return m;
  *bad = m;
  return 0;
}

size_t asx_fmt_utf8_valid(const char *s, size_t len) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0, bad;
  while (i < len) {
    if (u[i] < 0x80) {
      i++;
      continue;
    }
    size_t n = utf8_seq(u + i, len - i, &bad);
    if (!n) break;
    i += n;
  }
  return i;
}

size_t asx_fmt_utf8(char *out, const char *s, size_t len) {
  size_t i = 0, n = 0;
  while (i < len) {
    size_t ok = asx_fmt_utf8_valid(s + i, len - i);
    memcpy(out + n, s + i, ok);
    n += ok;
    i += ok;
    if (i < len) {
      size_t bad = 1;
      utf8_seq((const unsigned char *)s + i, len - i, &bad);
      memcpy(out + n, "\xEF\xBF\xBD", 3);
      n += 3;
      i += bad;
    }
  }
  return n;
}

static size_t csv_quote(char *out, const char *s, size_t len) {
  if (!memchr(s, ',', len) && !memchr(s, '"', len) && !memchr(s, '\n', len) &&
      !memchr(s, '\r', len)) {
    memcpy(out, s, len);
    return len;
  }
  size_t n = 0;
  out[n++] = '"';
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '"') out[n++] = '"';
    out[n++] = s[i];
  }
  out[n++] = '"';
  return n;
}

static size_t json_quote(char *out, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  size_t n = 0;
  out[n++] = '"';
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      out[n++] = '\\';
      out[n++] = (char)c;
    } else if (c == '\n') {
      out[n++] = '\\';
      out[n++] = 'n';
    } else if (c < 0x20) {
      memcpy(out + n, "\\u00", 4);
      n += 4;
      out[n++] = hex[c >> 4];
      out[n++] = hex[c & 15];
    } else {
      out[n++] = (char)c;
    }
  }
  out[n++] = '"';
  return n;
}

int asx_logfile_set_session(asx_logfile *lf, const char *session, size_t len, int is_string) {
  if (!lf) return ASX_LOG_E_ARG;
  if (!session) {
    lf->session_is_string = 0;
    lf->session_csv_len = 0;
    memcpy(lf->session_json, "null", 4);
    lf->session_json_len = 4;
    return 0;
  }
  if (len > SESSION_MAX || (!is_string && len == 0)) return ASX_LOG_E_ARG;
  lf->session_is_string = is_string != 0;
  if (is_string) {
    char clean[SESSION_CLEAN_MAX];
    size_t n = asx_fmt_utf8(clean, session, len);
    lf->session_csv_len = csv_quote(lf->session_csv, clean, n);
    lf->session_json_len = json_quote(lf->session_json, clean, n);
  } else {
    memcpy(lf->session_csv, session, len);
    memcpy(lf->session_json, session, len);
    lf->session_csv_len = lf->session_json_len = len;
  }
  return 0;
}

int asx_logfile_write(asx_logfile *lf, const char *text, size_t len) {
  if (!lf || !text || len == 0 || text[len - 1] != '\n') return ASX_LOG_E_ARG;
  int64_t nl = 0;
  for (const char *p = text; (p = memchr(p, '\n', (size_t)(text + len - p))); p++) nl++;
  if (atomic_load_explicit(&lf->err, memory_order_relaxed)) {
    drop(lf, nl, len);
    return ASX_LOG_E_IO;
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
      return ASX_LOG_E_IO;
    }
    if (lf->cur->len) handoff(lf);
    memcpy(c->data, text, len);
    c->len = len;
    c->lines = nl;
    pthread_mutex_lock(&lf->mu);
    enqueue_locked(lf, c);
    pthread_mutex_unlock(&lf->mu);
  } else {
    reserve(lf, len);
    memcpy(lf->cur->data + lf->cur->len, text, len);
    lf->cur->len += len;
    lf->cur->lines += nl;
  }
  lf->lines += nl;
  lf->bytes += (int64_t)len;
  return 0;
}

/* ---- event formatting --------------------------------------------------- */

static const char *const type_names[] = {"exchange", "order", "cancel", "trim"};
static const char *const reason_names[] = {"money", "stocks", "limit"};

static inline char *put(char *p, const char *s, size_t len) {
  memcpy(p, s, len);
  return p + len;
}
#define PUTS(p, lit) put((p), (lit), sizeof(lit) - 1)

static inline char *put_int(char *p, int64_t v) {
  return p + asx_fmt_int64(p, v);
}

static inline const char *side_name(int side) {
  return side == ASX_BUY ? "buy" : "sell";
}

static char *put_time(asx_logfile *lf, char *p, double t) {
  /* Compare bit patterns, so that a NaN time does not defeat the cache. */
  if (memcmp(&t, &lf->last_time, sizeof t) != 0) {
    lf->last_time = t;
    lf->last_time_len = asx_fmt_double(lf->last_time_text, t);
  }
  return put(p, lf->last_time_text, (size_t)lf->last_time_len);
}

/* One CSV row; the columns are those of the header the Lua side writes. */
static char *csv_row(asx_logfile *lf, char *p, const asx_event *e) {
  p = put_time(lf, p, e->time);
  *p++ = ',';
  p = put(p, lf->session_csv, lf->session_csv_len);
  *p++ = ',';
  switch (e->type) {
  case ASX_EV_TRADE: /* price,amount,buyer,seller,buy_order,sell_order,aggressor */
    p = put_int(p, e->price); *p++ = ',';
    p = put_int(p, e->amount); *p++ = ',';
    p = put_int(p, e->trader); *p++ = ',';
    p = put_int(p, e->trader2); *p++ = ',';
    p = put_int(p, e->order); *p++ = ',';
    p = put_int(p, e->order2); *p++ = ',';
    p = put(p, side_name(e->side), e->side == ASX_BUY ? 3 : 4);
    break;
  case ASX_EV_ORDER: /* id,trader,side,price,amount */
    p = put_int(p, e->order); *p++ = ',';
    p = put_int(p, e->trader); *p++ = ',';
    p = put(p, side_name(e->side), e->side == ASX_BUY ? 3 : 4); *p++ = ',';
    if (e->price) p = put_int(p, e->price);
    *p++ = ',';
    p = put_int(p, e->amount);
    break;
  case ASX_EV_CANCEL: /* id,trader,side,remaining */
    p = put_int(p, e->order); *p++ = ',';
    p = put_int(p, e->trader); *p++ = ',';
    p = put(p, side_name(e->side), e->side == ASX_BUY ? 3 : 4); *p++ = ',';
    p = put_int(p, e->amount);
    break;
  default: /* ASX_EV_TRIM: id,trader,side,price,from,to,reason */
    p = put_int(p, e->order); *p++ = ',';
    p = put_int(p, e->trader); *p++ = ',';
    p = put(p, side_name(e->side), e->side == ASX_BUY ? 3 : 4); *p++ = ',';
    p = put_int(p, e->price); *p++ = ',';
    p = put_int(p, e->amount); *p++ = ',';
    p = put_int(p, e->amount2); *p++ = ',';
    {
      const char *r = e->reason < 3 ? reason_names[e->reason] : "limit";
      p = put(p, r, strlen(r));
    }
    break;
  }
  *p++ = '\n';
  return p;
}

static char *json_row(asx_logfile *lf, char *p, const asx_event *e) {
  p = PUTS(p, "{\"type\":\"");
  p = put(p, type_names[e->type], strlen(type_names[e->type]));
  p = PUTS(p, "\",\"time\":");
  p = put_time(lf, p, e->time);
  p = PUTS(p, ",\"session\":");
  p = put(p, lf->session_json, lf->session_json_len);
  switch (e->type) {
  case ASX_EV_TRADE:
    p = PUTS(p, ",\"price\":"); p = put_int(p, e->price);
    p = PUTS(p, ",\"amount\":"); p = put_int(p, e->amount);
    p = PUTS(p, ",\"buyer\":"); p = put_int(p, e->trader);
    p = PUTS(p, ",\"seller\":"); p = put_int(p, e->trader2);
    p = PUTS(p, ",\"buy_order\":"); p = put_int(p, e->order);
    p = PUTS(p, ",\"sell_order\":"); p = put_int(p, e->order2);
    p = e->side == ASX_BUY ? PUTS(p, ",\"aggressor\":\"buy\"}")
                           : PUTS(p, ",\"aggressor\":\"sell\"}");
    break;
  case ASX_EV_ORDER:
    p = PUTS(p, ",\"id\":"); p = put_int(p, e->order);
    p = PUTS(p, ",\"trader\":"); p = put_int(p, e->trader);
    p = e->side == ASX_BUY ? PUTS(p, ",\"side\":\"buy\"") : PUTS(p, ",\"side\":\"sell\"");
    /* A market order has no price: the field is left out, as a Lua table
     * with price = nil would leave it out. */
    if (e->price) {
      p = PUTS(p, ",\"price\":");
      p = put_int(p, e->price);
    }
    p = PUTS(p, ",\"amount\":"); p = put_int(p, e->amount);
    *p++ = '}';
    break;
  case ASX_EV_CANCEL:
    p = PUTS(p, ",\"id\":"); p = put_int(p, e->order);
    p = PUTS(p, ",\"trader\":"); p = put_int(p, e->trader);
    p = e->side == ASX_BUY ? PUTS(p, ",\"side\":\"buy\"") : PUTS(p, ",\"side\":\"sell\"");
    p = PUTS(p, ",\"remaining\":"); p = put_int(p, e->amount);
    *p++ = '}';
    break;
  default:
    p = PUTS(p, ",\"id\":"); p = put_int(p, e->order);
    p = PUTS(p, ",\"trader\":"); p = put_int(p, e->trader);
    p = e->side == ASX_BUY ? PUTS(p, ",\"side\":\"buy\"") : PUTS(p, ",\"side\":\"sell\"");
    p = PUTS(p, ",\"price\":"); p = put_int(p, e->price);
    p = PUTS(p, ",\"from\":"); p = put_int(p, e->amount);
    p = PUTS(p, ",\"to\":"); p = put_int(p, e->amount2);
    p = PUTS(p, ",\"reason\":\"");
    {
      const char *r = e->reason < 3 ? reason_names[e->reason] : "limit";
      p = put(p, r, strlen(r));
    }
    p = PUTS(p, "\"}");
    break;
  }
  *p++ = '\n';
  return p;
}

int64_t asx_logfile_events(asx_logfile *lf, const asx_event *events, size_t n) {
  if (!lf || (!events && n)) return ASX_LOG_E_ARG;
  if (atomic_load_explicit(&lf->err, memory_order_relaxed)) {
    int64_t k = 0;
    for (size_t i = 0; i < n; i++)
      if (events[i].type <= ASX_EV_TRIM && (lf->format == ASX_LOG_JSONL || events[i].type == lf->type)) k++;
    drop(lf, k, 0);
    return ASX_LOG_E_IO;
  }
  /* The longest row: the fixed text, seven 20-digit integers, a time and
   * the session in its longest quoted form. */
  size_t maxrow = 256 + 8 * 21 + 32 + sizeof lf->session_json;
  int64_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const asx_event *e = &events[i];
    if (e->type > ASX_EV_TRIM) continue;
    if (lf->format == ASX_LOG_CSV && e->type != lf->type) continue;
    reserve(lf, maxrow);
    char *start = lf->cur->data + lf->cur->len;
    char *end = lf->format == ASX_LOG_CSV ? csv_row(lf, start, e) : json_row(lf, start, e);
    lf->cur->len += (size_t)(end - start);
    lf->cur->lines++;
    lf->bytes += end - start;
    k++;
  }
  lf->lines += k;
  return k;
}

int asx_logfile_flush(asx_logfile *lf) {
  if (!lf) return ASX_LOG_E_ARG;
  if (lf->cur->len) handoff(lf);
  pthread_mutex_lock(&lf->mu);
  while (lf->qhead || lf->writing) pthread_cond_wait(&lf->done, &lf->mu);
  pthread_mutex_unlock(&lf->mu);
  return atomic_load(&lf->err) ? ASX_LOG_E_IO : 0;
}

int asx_logfile_close(asx_logfile *lf) {
  if (!lf) return ASX_LOG_E_ARG;
  int rc = asx_logfile_flush(lf);
  pthread_mutex_lock(&lf->mu);
  lf->quit = 1;
  pthread_cond_signal(&lf->work);
  pthread_mutex_unlock(&lf->mu);
  pthread_join(lf->thread, NULL);
  if (close(lf->fd) != 0 && rc == 0) rc = ASX_LOG_E_IO;
  unclaim(lf);
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
