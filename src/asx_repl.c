/* The line reader of `asx-host -i` (see asx_repl.h for the contract).
 *
 * Terminal mode. libedit's readline emulation is driven one key at a time:
 * a uv_poll on stdin calls rl_callback_read_char, which reads what the key
 * needs and calls our line handler when Enter or Ctrl-D on an empty line
 * ends the line. libedit versions differ in what they do after that handler
 * returns (some re-enter raw mode and print the prompt again), so the
 * handler only records the line and empties the prompt; the poll callback
 * then removes the handler, which puts the terminal back in cooked mode, and
 * reports the line. asx_repl_prompt installs the handler again, which prints
 * the prompt on a fresh, empty line.
 *
 * Ctrl-C. The terminal's ISIG flag is cleared in libedit's edit mode, so at
 * the prompt Ctrl-C arrives as a key rather than as SIGINT: it is bound to a
 * function of ours, and no signal handler of the host has to know about the
 * prompt. While a line is evaluated, or its `step` runs, the terminal is in
 * cooked mode again and Ctrl-C is a SIGINT. The reader's own handler, put in
 * front of the session's when the reader opens, takes the first one: it is
 * meant for the line, not for the session, and the owner hears of it twice,
 * at once (on_signal, to arm a debug hook) and from the loop (on_break, by
 * a uv_async). Any SIGINT the reader does not take is handed to the handler
 * that was there before. libedit's own signal handling is off
 * (rl_catch_signals = 0): it would re-raise signals to the whole process
 * group and fight libuv's handlers.
 *
 * History. We keep our own copy of the last ASX_REPL_HISTORY_MAX lines and
 * write the file ourselves, one plain line per entry, replacing it after
 * every line (write to a temporary file, then rename) so that a crash or a
 * kill loses nothing and the file never holds more than the limit. The
 * temporary file is created 0600 and given the old file's mode before the
 * rename, and a history path that is a symbolic link is followed, so the
 * link survives. libedit gets the same lines through add_history for
 * Up/Down and Ctrl-R.
 *
 * Pipe and file modes. Input is read into a buffer with uv_read (pipes,
 * sockets) or uv_fs_read (regular files and character devices, which epoll
 * cannot watch), only while a line is wanted. A buffered line is handed over
 * from a uv_idle callback, never from inside asx_repl_prompt, so a script of
 * a million lines does not nest a million calls.
 */
/* For dladdr and RTLD_NODELETE (see pin_libedit). */
#define _GNU_SOURCE
#include "asx_repl.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <editline/readline.h>

enum { ST_HELD, ST_READING, ST_DONE, ST_CLOSED };

struct asx_repl {
  uv_loop_t *loop;
  asx_repl_callbacks cb;
  int mode;
  int fd;
  int fd_flags; /* restored at close: uv_poll_init and uv_pipe_open set
                   O_NONBLOCK, and the file description is the shell's too */
  int state;
  int handles; /* handles still to be closed before the memory goes */
  int eof;

  /* asx_repl_prompt_when: the prompt to show once ready(ready_data). */
  uv_check_t check;
  char *wait_prompt;
  int (*ready)(void *data);
  void *ready_data;

  /* Terminal mode. */
  uv_poll_t poll;
  uv_async_t brk;   /* on_break, sent from the SIGINT handler */
  volatile sig_atomic_t break_pending; /* taken, on_break not run yet */
  volatile sig_atomic_t interruptible; /* see asx_repl_interruptible */
  int installed;     /* the libedit handler is installed (raw mode) */
  int line_done;     /* our line handler ran during this key */
  char *line;        /* what it got, malloc'd by libedit; NULL at EOF */
  int interrupted;   /* Ctrl-C was pressed during this key */
  int interrupts;    /* Ctrl-C in a row */
  char *intr_tail;   /* the text after the cursor when Ctrl-C came */
  char *history_path;
  char *hist[ASX_REPL_HISTORY_MAX]; /* a ring, oldest at hist_first */
  size_t hist_n, hist_first;
  char **cands;
  size_t ncands, cands_cap;
  int completing;

  /* Pipe and file modes. */
  uv_pipe_t pipe;
  uv_idle_t idle;
  uv_fs_t fs;
  int fs_busy;
  int pipe_reading;
  char *buf; /* input not handed over yet: buf[0..len) */
  size_t len, cap;
  char fs_chunk[16384];
};

/* libedit's readline emulation keeps its state in globals, and so do its
 * callbacks: the one open reader. The SIGINT handler reads it too. */
static asx_repl *volatile the_repl;

/* Identifier characters, '.' and ':' make up the word being completed, so
 * that "ex.book" or "me:bu" reaches the completer whole; everything else
 * breaks words. */
static const char word_breaks[] =
    " \t\n\"\\'`@$><=;|&{}()[],+-*/%^#~!?";

static void restore_fd(asx_repl *r) {
  if (r->fd_flags >= 0)
    (void)fcntl(r->fd, F_SETFL, r->fd_flags);
}

static void free_repl(asx_repl *r) {
  size_t i;
  for (i = 0; i < r->hist_n; i++)
    free(r->hist[(r->hist_first + i) % ASX_REPL_HISTORY_MAX]);
  free(r->history_path);
  free(r->cands);
  free(r->intr_tail);
  free(r->line);
  free(r->buf);
  free(r->wait_prompt);
  if (the_repl == r)
    the_repl = NULL;
  free(r);
}

static void on_handle_closed(uv_handle_t *h) {
  asx_repl *r = h->data;
  if (--r->handles == 0 && !r->fs_busy)
    free_repl(r);
}

/* Leaves raw mode if the process exits while the prompt is up (an exit()
 * from the host, a Lua error that ends the program): a shell left in raw
 * mode without echo is the worst way for a REPL to end. */
static void restore_terminal_at_exit(void) {
  if (the_repl && the_repl->installed) {
    the_repl->installed = 0;
    rl_callback_handler_remove();
  }
}

/* ---- History ---------------------------------------------------------- */

static int history_push(asx_repl *r, const char *line) {
  char *copy;
  size_t last;
  if (r->hist_n > 0) {
    last = (r->hist_first + r->hist_n - 1) % ASX_REPL_HISTORY_MAX;
    if (strcmp(r->hist[last], line) == 0)
      return 0; /* Up after a repeated command should not show it twice. */
  }
  if ((copy = strdup(line)) == NULL)
    return -1;
  if (r->hist_n == ASX_REPL_HISTORY_MAX) {
    free(r->hist[r->hist_first]);
    r->hist[r->hist_first] = copy;
    r->hist_first = (r->hist_first + 1) % ASX_REPL_HISTORY_MAX;
  } else {
    r->hist[(r->hist_first + r->hist_n) % ASX_REPL_HISTORY_MAX] = copy;
    r->hist_n++;
  }
  add_history(line);
  return 1;
}

static void history_load(asx_repl *r) {
  FILE *f;
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  if (!r->history_path || (f = fopen(r->history_path, "r")) == NULL)
    return;
  while ((n = getline(&line, &cap, f)) >= 0) {
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
      line[--n] = '\0';
    if (n > 0)
      history_push(r, line);
  }
  free(line);
  fclose(f);
}

/* Where the history really goes: the file a symbolic link points at, so
 * that the rename replaces the file and not the link. Returns a malloc'd
 * path, or NULL when out of memory. */
static char *history_target(const char *path) {
  char *real = realpath(path, NULL);
  return real ? real : strdup(path);
}

/* A failure to save history is not worth interrupting the user for: the
 * session matters more than the record of what was typed. */
static void history_save(asx_repl *r) {
  char *target, *tmp = NULL;
  size_t n, i;
  struct stat st;
  mode_t mode = 0600;
  FILE *f = NULL;
  int fd, ok;
  if ((target = history_target(r->history_path)) == NULL)
    return;
  n = strlen(target) + 24;
  if ((tmp = malloc(n)) == NULL)
    goto out;
  snprintf(tmp, n, "%s.%ld.tmp", target, (long)getpid());
  if (stat(target, &st) == 0)
    mode = st.st_mode & 07777;
  /* O_NOFOLLOW: a link planted at the temporary name must not make us
   * write elsewhere. The mode is set again with fchmod, because open's is
   * cut by the umask and a leftover file keeps its own. */
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    goto out;
  if (fchmod(fd, mode) != 0 || (f = fdopen(fd, "w")) == NULL) {
    close(fd);
    (void)unlink(tmp);
    goto out;
  }
  ok = 1;
  for (i = 0; i < r->hist_n && ok; i++)
    ok = fprintf(f, "%s\n", r->hist[(r->hist_first + i) %
                                    ASX_REPL_HISTORY_MAX]) >= 0;
  ok = (fclose(f) == 0) && ok;
  if (!ok || rename(tmp, target) != 0)
    (void)unlink(tmp);
out:
  free(tmp);
  free(target);
}

/* ---- Terminal mode ------------------------------------------------------ */

static void rl_line_handler(char *line) {
  asx_repl *r = the_repl;
  if (!r) {
    free(line);
    return;
  }
  r->line = line;
  r->line_done = 1;
  /* Some libedit versions redraw the prompt right after this returns; an
   * empty prompt makes that redraw invisible. */
  rl_set_prompt("");
}

static int rl_interrupt(int count, int key) {
  asx_repl *r = the_repl;
  if (!r)
    return 0;
  r->interrupted = 1;
  free(r->intr_tail);
  r->intr_tail = NULL;
  if (rl_line_buffer && rl_point >= 0 && rl_end > rl_point)
    r->intr_tail = strndup(rl_line_buffer + rl_point,
                           (size_t)(rl_end - rl_point));
  return 0;
}

static char **rl_complete_word(const char *text, int start, int end) {
  asx_repl *r = the_repl;
  char **m;
  size_t i, lcp;
  /* Never fall back to file names: this is Lua, not a shell. */
  rl_attempted_completion_over = 1;
  if (!r || !r->cb.on_complete)
    return NULL;
  r->ncands = 0;
  r->completing = 1;
  r->cb.on_complete(r->cb.data, text);
  r->completing = 0;
  if (r->ncands == 0)
    return NULL;
  /* readline's convention: [0] is what replaces the word (the common
   * prefix of all candidates), then the candidates, then NULL; libedit
   * frees every string and the array. */
  if ((m = calloc(r->ncands + 2, sizeof *m)) == NULL)
    goto fail;
  lcp = strlen(r->cands[0]);
  for (i = 1; i < r->ncands; i++) {
    size_t j = 0;
    while (j < lcp && r->cands[i][j] == r->cands[0][j])
      j++;
    lcp = j;
  }
  if ((m[0] = strndup(r->cands[0], lcp)) == NULL)
    goto fail_m;
  if (r->ncands > 1) {
    for (i = 0; i < r->ncands; i++)
      m[i + 1] = r->cands[i];
  } else {
    free(r->cands[0]);
  }
  r->ncands = 0;
  return m;
fail_m:
  free(m);
fail:
  for (i = 0; i < r->ncands; i++)
    free(r->cands[i]);
  r->ncands = 0;
  return NULL;
}

void asx_repl_add_completion(asx_repl *r, const char *candidate) {
  char *copy;
  if (!r->completing)
    return;
  if (r->ncands == r->cands_cap) {
    size_t cap = r->cands_cap ? 2 * r->cands_cap : 16;
    char **c = realloc(r->cands, cap * sizeof *c);
    if (!c)
      return;
    r->cands = c;
    r->cands_cap = cap;
  }
  if ((copy = strdup(candidate)) != NULL)
    r->cands[r->ncands++] = copy;
}

static void tty_stop(asx_repl *r) {
  if (r->installed) {
    r->installed = 0;
    rl_callback_handler_remove();
  }
  uv_poll_stop(&r->poll);
}

static void on_tty_readable(uv_poll_t *h, int status, int events) {
  asx_repl *r = h->data;
  char *line;
  if (r->state != ST_READING)
    return;
  r->line_done = 0;
  r->interrupted = 0;
  if (status < 0) {
    r->line = NULL; /* stdin went away: treat it as end of input */
    r->line_done = 1;
  } else {
    rl_callback_read_char();
  }

  if (r->line_done) {
    line = r->line;
    r->line = NULL;
    r->interrupts = 0;
    tty_stop(r);
    if (line == NULL) {
      /* Ctrl-D leaves the cursor after the prompt; what follows (the
       * session's summary) belongs on a line of its own. */
      fputs("\n", stdout);
      fflush(stdout);
      r->state = ST_DONE;
      r->cb.on_line(r->cb.data, NULL, 0);
      return;
    }
    r->state = ST_HELD;
    if (line[strspn(line, " \t")] != '\0' && r->history_path &&
        history_push(r, line) > 0)
      history_save(r);
    r->cb.on_line(r->cb.data, line, strlen(line));
    free(line);
  } else if (r->interrupted) {
    tty_stop(r);
    /* Move past what was after the cursor, then show the interrupt the
     * way a shell does, so the abandoned line stays readable above. */
    if (r->intr_tail)
      fputs(r->intr_tail, stdout);
    fputs("^C\n", stdout);
    fflush(stdout);
    r->state = ST_HELD;
    r->interrupts++;
    if (r->cb.on_interrupt)
      r->cb.on_interrupt(r->cb.data, r->interrupts);
    else
      asx_repl_prompt(r, rl_prompt ? rl_prompt : "");
  } else {
    r->interrupts = 0; /* any other key breaks a run of Ctrl-C */
  }
}

/* ---- Ctrl-C while the owner is busy ---------------------------------- */

/* The handler that was installed when the reader opened (the session's),
 * and whether ours is installed. */
static struct sigaction prev_sigint;
static int sigint_ours;

/* Hands a signal we do not take to the handler before ours, as if ours
 * were not there. */
static void pass_on(int signo, siginfo_t *info, void *uctx) {
  if (prev_sigint.sa_flags & SA_SIGINFO) {
    prev_sigint.sa_sigaction(signo, info, uctx);
  } else if (prev_sigint.sa_handler == SIG_DFL) {
    signal(signo, SIG_DFL);
    raise(signo);
  } else if (prev_sigint.sa_handler != SIG_IGN) {
    prev_sigint.sa_handler(signo);
  }
}

/* Async-signal-safe: it only sets flags, calls on_signal (which must be
 * safe too) and wakes the loop. */
static void on_sigint(int signo, siginfo_t *info, void *uctx) {
  asx_repl *r = the_repl;
  if (!r || r->state != ST_HELD || r->break_pending) {
    pass_on(signo, info, uctx);
    return;
  }
  r->break_pending = 1;
  /* The terminal echoed "^C"; what the owner prints next (the error, the
   * prompt) starts on a line of its own. */
  if (write(STDOUT_FILENO, "\n", 1) < 0) {
    /* Nothing to be done about it here. */
  }
  if (r->interruptible && r->cb.on_signal)
    r->cb.on_signal(r->cb.data);
  uv_async_send(&r->brk);
}

static void on_break(uv_async_t *h) {
  asx_repl *r = h->data;
  if (!r->break_pending || r->state == ST_CLOSED)
    return;
  r->break_pending = 0;
  if (r->cb.on_break)
    r->cb.on_break(r->cb.data);
}

static void install_sigint(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigint;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGINT, &sa, &prev_sigint) == 0)
    sigint_ours = 1;
}

/* Puts the previous handler back, unless someone replaced ours meanwhile
 * (the session restores its own predecessor when it ends): theirs is the
 * newer wish. */
static void restore_sigint(void) {
  struct sigaction cur;
  if (!sigint_ours)
    return;
  sigint_ours = 0;
  if (sigaction(SIGINT, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
      cur.sa_sigaction == on_sigint)
    sigaction(SIGINT, &prev_sigint, NULL);
}

void asx_repl_interruptible(asx_repl *r, int on) { r->interruptible = on != 0; }

/* libedit's readline emulation keeps its editor, its history and the
 * terminal's description in globals that no call of it frees; they live as
 * long as the process. But closing the Lua state unloads asx/core.so, and
 * libedit with it, and that memory would become unreachable: a leak to
 * LeakSanitizer. Marking libedit never to be unloaded keeps it reachable. */
static void pin_libedit(void) {
  Dl_info info;
  if (dladdr((void *)rl_callback_read_char, &info) && info.dli_fname)
    (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

static int tty_open(asx_repl *r, const char **err) {
  static int atexit_done;
  rl_readline_name = "asx";
  rl_instream = stdin;
  rl_outstream = stdout;
  rl_catch_signals = 0;
  pin_libedit();
  if (rl_initialize() != 0) {
    *err = "libedit failed to initialise the terminal";
    return ASX_E_IO;
  }
  rl_parse_and_bind("setty -d -isig");
  rl_add_defun("asx-interrupt", rl_interrupt, 3 /* Ctrl-C */);
  rl_basic_word_break_characters = word_breaks;
  rl_completer_word_break_characters = (char *)word_breaks;
  rl_attempted_completion_function = rl_complete_word;
  rl_completion_append_character = '\0';
  stifle_history(ASX_REPL_HISTORY_MAX);
  history_load(r);
  if (uv_poll_init(r->loop, &r->poll, r->fd) < 0) {
    *err = "cannot watch standard input";
    return ASX_E_IO;
  }
  uv_async_init(r->loop, &r->brk, on_break);
  r->brk.data = r;
  r->handles++;
  install_sigint();
  /* libedit reads with blocking read(2); only the readiness comes from
   * the loop. */
  restore_fd(r);
  r->poll.data = r;
  r->handles++;
  if (!atexit_done) {
    atexit_done = 1;
    atexit(restore_terminal_at_exit);
  }
  return 0;
}

/* ---- Pipe and file modes ------------------------------------------------ */

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
      free_repl(r);
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

/* ---- The interface ------------------------------------------------------ */

int asx_repl_open(uv_loop_t *loop, int fd, const char *history_path,
                  const asx_repl_callbacks *cb, asx_repl **out,
                  const char **err) {
  asx_repl *r;
  int rc;
  uv_handle_type type;
  *out = NULL;
  *err = NULL;
  if (the_repl) {
    *err = "a line reader is open already";
    return ASX_E_STATE;
  }
  if (!cb || !cb->on_line) {
    *err = "on_line callback expected";
    return ASX_E_ARG;
  }
  if ((r = calloc(1, sizeof *r)) == NULL) {
    *err = "out of memory";
    return ASX_E_NOMEM;
  }
  r->loop = loop;
  r->cb = *cb;
  r->fd = fd;
  r->fd_flags = fcntl(fd, F_GETFL);
  r->state = ST_HELD;
  type = uv_guess_handle(fd);
  if (type == UV_TTY) {
    r->mode = ASX_REPL_TTY;
  } else if (type == UV_NAMED_PIPE || type == UV_TCP || type == UV_UDP) {
    r->mode = ASX_REPL_PIPE;
  } else if (type == UV_FILE) {
    r->mode = ASX_REPL_FILE;
  } else {
    free(r);
    *err = "standard input is closed or of an unknown kind";
    return ASX_E_BADF;
  }
  the_repl = r;
  uv_check_init(loop, &r->check);
  r->check.data = r;
  r->handles++;

  if (r->mode == ASX_REPL_TTY) {
    if (history_path && (r->history_path = strdup(history_path)) == NULL) {
      rc = ASX_E_NOMEM;
      *err = "out of memory";
      goto fail;
    }
    if ((rc = tty_open(r, err)) < 0)
      goto fail;
  } else {
    uv_idle_init(loop, &r->idle);
    r->idle.data = r;
    r->handles++;
    if (r->mode == ASX_REPL_PIPE) {
      uv_pipe_init(loop, &r->pipe, 0);
      r->pipe.data = r;
      r->handles++;
      if (uv_pipe_open(&r->pipe, fd) < 0) {
        *err = "cannot read standard input";
        asx_repl_close(r);
        return ASX_E_IO;
      }
    }
  }
  *out = r;
  return 0;

fail:
  /* The check handle is open already, so the memory goes with it. */
  r->state = ST_CLOSED;
  the_repl = NULL;
  uv_close((uv_handle_t *)&r->check, on_handle_closed);
  return rc;
}

int asx_repl_mode(const asx_repl *r) { return r->mode; }

int asx_repl_reading(const asx_repl *r) { return r->state == ST_READING; }

void asx_repl_prompt(asx_repl *r, const char *prompt) {
  if (r->state != ST_HELD)
    return;
  r->state = ST_READING;
  if (r->mode == ASX_REPL_TTY) {
    fflush(stdout);
    rl_callback_handler_install(prompt ? prompt : "", rl_line_handler);
    r->installed = 1;
    uv_poll_start(&r->poll, UV_READABLE, on_tty_readable);
  } else if (have_line(r) || r->eof) {
    deliver_buffered(r);
  } else {
    want_input(r);
  }
}

void asx_repl_print(asx_repl *r, FILE *out, const char *text, size_t len) {
  int redraw = r && r->mode == ASX_REPL_TTY && r->installed;
  if (redraw) {
    /* Back to the start of the prompt's line and clear it. */
    fputs("\r\033[K", stdout);
    fflush(stdout);
  }
  fwrite(text, 1, len, out);
  if (redraw && (len == 0 || text[len - 1] != '\n'))
    fputc('\n', out);
  fflush(out);
  if (redraw)
    rl_forced_update_display();
}

static void on_check(uv_check_t *h) {
  asx_repl *r = h->data;
  char *prompt;
  if (!r->ready || !r->ready(r->ready_data))
    return;
  uv_check_stop(h);
  r->ready = NULL;
  prompt = r->wait_prompt;
  r->wait_prompt = NULL;
  asx_repl_prompt(r, prompt);
  free(prompt);
}

void asx_repl_prompt_when(asx_repl *r, const char *prompt,
                          int (*ready)(void *data), void *data) {
  char *copy;
  if (r->state != ST_HELD)
    return;
  if (ready(data)) {
    asx_repl_prompt(r, prompt);
    return;
  }
  if ((copy = strdup(prompt ? prompt : "")) == NULL)
    return;
  free(r->wait_prompt);
  r->wait_prompt = copy;
  r->ready = ready;
  r->ready_data = data;
  uv_check_start(&r->check, on_check);
}

void asx_repl_close(asx_repl *r) {
  if (!r || r->state == ST_CLOSED)
    return;
  r->state = ST_CLOSED;
  r->ready = NULL;
  uv_close((uv_handle_t *)&r->check, on_handle_closed);
  if (r->mode == ASX_REPL_TTY) {
    /* The session can end under an open prompt (its duration, SIGTERM):
     * what follows must not start after "asx> ". */
    if (r->installed) {
      fputs("\n", stdout);
      fflush(stdout);
    }
    tty_stop(r);
    restore_sigint();
    uv_close((uv_handle_t *)&r->poll, on_handle_closed);
    uv_close((uv_handle_t *)&r->brk, on_handle_closed);
  } else {
    uv_close((uv_handle_t *)&r->idle, on_handle_closed);
    if (r->mode == ASX_REPL_PIPE)
      uv_close((uv_handle_t *)&r->pipe, on_handle_closed);
    if (r->fs_busy)
      uv_cancel((uv_req_t *)&r->fs);
  }
  restore_fd(r);
  /* A new reader may open while this one's handles are closing. */
  the_repl = NULL;
}
