/* The line reader's pipe and file modes (asx_repl_int.h lists the
 * reader's files).
 *
 * Input is read into a buffer with uv_read (pipes,
 * sockets) or uv_fs_read (regular files and character devices, which epoll
 * cannot watch), only while a line is wanted. A buffered line is handed over
 * from a uv_idle callback, never from inside asx_repl_prompt, so a script of
 * a million lines does not nest a million calls.
 */
#include "asx_repl_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

static void deliver_buffered(asx_repl *r);
static void want_input(asx_repl *r);

static int reserve(asx_repl *r, size_t more) {
  if (r->cap - r->len < more) {
    size_t cap = r->cap ? r->cap : 4096;
    char *b;
    while (cap - r->len < more)
      cap *= 2;
    if ((b = realloc(r->buf, cap)) == NULL)
      return -1;
    r->buf = b;
    r->cap = cap;
  }
  return 0;
}

static int have_line(const asx_repl *r) {
  return r->len > 0 && memchr(r->buf, '\n', r->len) != NULL;
}

/* Hands over one line, or the end of input, if there is one. */
static int try_deliver(asx_repl *r) {
  char *nl, *line;
  size_t n, take;
  if (r->state != ST_READING)
    return 0;
  nl = r->len ? memchr(r->buf, '\n', r->len) : NULL;
  if (!nl && !r->eof)
    return 0;
  if (!nl && r->len == 0) {
    r->state = ST_DONE;
    r->cb.on_line(r->cb.data, NULL, 0);
    return 1;
  }
  /* The last line of a file may lack its end-of-line; it is a line. */
  n = nl ? (size_t)(nl - r->buf) : r->len;
  take = nl ? n + 1 : n;
  if (n > 0 && r->buf[n - 1] == '\r')
    n--;
  if ((line = malloc(n + 1)) == NULL)
    return 0;
  memcpy(line, r->buf, n);
  line[n] = '\0';
  memmove(r->buf, r->buf + take, r->len - take);
  r->len -= take;
  r->state = ST_HELD;
  if (r->pipe_reading) {
    r->pipe_reading = 0;
    uv_read_stop((uv_stream_t *)&r->pipe);
  }
  r->cb.on_line(r->cb.data, line, n);
  free(line);
  return 1;
}

static void on_idle(uv_idle_t *h) {
  asx_repl *r = h->data;
  uv_idle_stop(h);
  if (!try_deliver(r) && r->state == ST_READING)
    want_input(r);
}

static void deliver_buffered(asx_repl *r) {
  uv_idle_start(&r->idle, on_idle);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  asx_repl *r = h->data;
  if (reserve(r, suggested) != 0) {
    *buf = uv_buf_init(NULL, 0);
    return;
  }
  *buf = uv_buf_init(r->buf + r->len, (unsigned)(r->cap - r->len));
}

static void on_pipe_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  asx_repl *r = s->data;
  if (nread > 0) {
    r->len += (size_t)nread;
  } else if (nread < 0) {
    /* A read error ends the input like EOF does: there is nothing more
     * a script can tell us. */
    r->eof = 1;
    r->pipe_reading = 0;
    uv_read_stop(s);
  }
  if (r->state == ST_READING && (have_line(r) || r->eof))
    try_deliver(r);
}

static void on_fs_read(uv_fs_t *req) {
  asx_repl *r = req->data;
  ssize_t n = req->result;
  uv_fs_req_cleanup(req);
  r->fs_busy = 0;
  if (r->state == ST_CLOSED) {
    if (r->handles == 0)
      asx__repl_free(r);
    return;
  }
  if (n > 0) {
    if (reserve(r, (size_t)n) == 0) {
      memcpy(r->buf + r->len, r->fs_chunk, (size_t)n);
      r->len += (size_t)n;
    } else {
      r->eof = 1;
    }
  } else {
    r->eof = 1;
  }
  if (r->state == ST_READING && !try_deliver(r))
    want_input(r);
}

static void want_input(asx_repl *r) {
  if (r->eof)
    return;
  if (r->mode == ASX_REPL_PIPE) {
    if (!r->pipe_reading &&
        uv_read_start((uv_stream_t *)&r->pipe, on_alloc, on_pipe_read) == 0)
      r->pipe_reading = 1;
  } else if (!r->fs_busy) {
    uv_buf_t b = uv_buf_init(r->fs_chunk, sizeof r->fs_chunk);
    r->fs.data = r;
    if (uv_fs_read(r->loop, &r->fs, r->fd, &b, 1, -1, on_fs_read) == 0)
      r->fs_busy = 1;
    else
      r->eof = 1;
  }
}

int asx__repl_pipe_open(asx_repl *r, const char **err) {
  uv_idle_init(r->loop, &r->idle);
  r->idle.data = r;
  r->handles++;
  if (r->mode == ASX_REPL_PIPE) {
    uv_pipe_init(r->loop, &r->pipe, 0);
    r->pipe.data = r;
    r->handles++;
    if (uv_pipe_open(&r->pipe, r->fd) < 0) {
      *err = "cannot read standard input";
      return ASX_E_IO;
    }
  }
  return 0;
}

void asx__repl_pipe_prompt(asx_repl *r) {
  if (have_line(r) || r->eof)
    deliver_buffered(r);
  else
    want_input(r);
}

void asx__repl_pipe_close(asx_repl *r) {
  uv_close((uv_handle_t *)&r->idle, asx__repl_on_closed);
  if (r->mode == ASX_REPL_PIPE)
    uv_close((uv_handle_t *)&r->pipe, asx__repl_on_closed);
  if (r->fs_busy)
    uv_cancel((uv_req_t *)&r->fs);
}

int asx_repl_unread(const asx_repl *r) {
  struct stat st;
  off_t at;
  int n = 0;
  if (r->mode == ASX_REPL_TTY || r->state == ST_DONE || r->state == ST_CLOSED)
    return 0;
  /* Blank lines run nothing anyway. */
  for (size_t i = 0; i < r->len; i++)
    if (!memchr(" \t\r\n", r->buf[i], 4))
      return 1;
  if (r->eof)
    return 0;
  if (r->mode == ASX_REPL_PIPE)
    return ioctl(r->fd, FIONREAD, &n) == 0 && n > 0;
  /* A character device (/dev/null) has no size to compare. */
  if (fstat(r->fd, &st) != 0 || !S_ISREG(st.st_mode))
    return 0;
  at = lseek(r->fd, 0, SEEK_CUR);
  return at >= 0 && st.st_size > at;
}

size_t asx_repl_leftover(asx_repl *r, char *out, size_t max, int *more) {
  size_t n = 0, want;
  ssize_t got;
  off_t at;
  int ready = 0;
  *more = 0;
  if (r->mode == ASX_REPL_TTY || r->state == ST_DONE || r->state == ST_CLOSED)
    return 0;
  n = r->len < max ? r->len : max;
  memcpy(out, r->buf, n);
  if (r->len > max) {
    *more = 1;
    return n;
  }
  if (r->eof)
    return n;
  if (r->mode == ASX_REPL_PIPE) {
    /* What is ready now, taken from the pipe: the reader reads no more. */
    if (ioctl(r->fd, FIONREAD, &ready) != 0 || ready <= 0)
      return n;
    want = (size_t)ready < max - n ? (size_t)ready : max - n;
    do
      got = read(r->fd, out + n, want);
    while (got < 0 && errno == EINTR);
    if (got > 0)
      n += (size_t)got;
    if ((size_t)ready > want)
      *more = 1;
    return n;
  }
  /* A regular file, read where the reader is without moving it: a read of
   * its own may be under way (uv_fs_read). */
  at = lseek(r->fd, 0, SEEK_CUR);
  if (at < 0)
    return n;
  do
    got = pread(r->fd, out + n, max - n + 1, at);
  while (got < 0 && errno == EINTR);
  if (got > 0) {
    if ((size_t)got > max - n) {
      *more = 1;
      got = (ssize_t)(max - n);
    }
    n += (size_t)got;
  }
  return n;
}
