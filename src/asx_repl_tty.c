/* The line reader's terminal mode (asx_repl_int.h lists the
 * reader's files).
 *
 * libedit's readline emulation is driven one key at a time:
 * a uv_poll on stdin calls rl_callback_read_char, which reads what the key
 * needs and calls our line handler when Enter or Ctrl-D on an empty line
 * ends the line. libedit versions differ in what they do after that handler
 * returns (some re-enter raw mode and print the prompt again), so the
 * handler only records the line and empties the prompt; the poll callback
 * then removes the handler, which puts the terminal back in cooked mode, and
 * reports the line. asx_repl_prompt installs the handler again, which prints
 * the prompt on a fresh, empty line.
 */
/* For dladdr and RTLD_NODELETE (see pin_libedit). */
#define _GNU_SOURCE
#include "asx_repl_int.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <editline/readline.h>

/* Identifier characters, '.' and ':' make up the word being completed, so
 * that "ex.book" or "me:bu" reaches the completer whole; everything else
 * breaks words. */
static const char word_breaks[] =
    " \t\n\"\\'`@$><=;|&{}()[],+-*/%^#~!?";

/* Leaves raw mode if the process exits while the prompt is up (an exit()
 * from the host, a Lua error that ends the program): a shell left in raw
 * mode without echo is the worst way for a REPL to end. */
static void restore_terminal_at_exit(void) {
  if (asx__repl_open_one && asx__repl_open_one->installed) {
    asx__repl_open_one->installed = 0;
    rl_callback_handler_remove();
  }
}

static void rl_line_handler(char *line) {
  asx_repl *r = asx__repl_open_one;
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
  asx_repl *r = asx__repl_open_one;
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
  asx_repl *r = asx__repl_open_one;
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
  __atomic_store_n(&r->prompt_up, 0, __ATOMIC_RELEASE);
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
    asx__repl_history_add(r, line);
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
  } else if (rl_end > ASX_REPL_TTY_LINE_MAX) {
    /* libedit (Debian 12's, 3.1-20221030) corrupts its heap once the line
     * being edited grows past some 6,000 bytes, and aborts at a later
     * allocation: the line is dropped before that, and what is still
     * coming of it (the rest of a paste) with it. */
    tty_stop(r);
    tcflush(r->fd, TCIFLUSH);
    fprintf(stderr, "\nasx repl: a line typed at the prompt holds at most %d bytes; this one was "
                    "dropped (longer code runs from a file: dofile(\"x.lua\"))\n",
            ASX_REPL_TTY_LINE_MAX);
    fflush(stderr);
    r->state = ST_HELD;
    r->interrupts = 0;
    asx_repl_prompt(r, rl_prompt ? rl_prompt : "");
  } else {
    r->interrupts = 0; /* any other key breaks a run of Ctrl-C */
  }
}


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

int asx__repl_tty_open(asx_repl *r, const char **err) {
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
  asx__repl_history_load(r);
  if (uv_poll_init(r->loop, &r->poll, r->fd) < 0) {
    *err = "cannot watch standard input";
    return ASX_E_IO;
  }
  uv_async_init(r->loop, &r->brk, asx__repl_on_break);
  r->brk.data = r;
  r->handles++;
  asx__repl_sigint_install();
  asx__repl_held_start(r);
  /* libedit reads with blocking read(2); only the readiness comes from
   * the loop. */
  asx__repl_restore_fd(r);
  r->poll.data = r;
  r->handles++;
  if (!atexit_done) {
    atexit_done = 1;
    atexit(restore_terminal_at_exit);
  }
  return 0;
}

void asx__repl_tty_prompt(asx_repl *r, const char *prompt) {
  fflush(stdout);
  asx__repl_held_reset(r);
  rl_callback_handler_install(prompt ? prompt : "", rl_line_handler);
  r->installed = 1;
  __atomic_store_n(&r->prompt_up, 1, __ATOMIC_RELEASE);
  uv_poll_start(&r->poll, UV_READABLE, on_tty_readable);
}

void asx__repl_tty_print(asx_repl *r, FILE *out, const char *text,
                         size_t len) {
  int redraw = r->installed;
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

void asx__repl_tty_close(asx_repl *r) {
  /* The session can end under an open prompt (its duration, SIGTERM):
   * what follows must not start after "asx> ". */
  if (r->installed) {
    fputs("\n", stdout);
    fflush(stdout);
  }
  asx__repl_held_stop(r);
  tty_stop(r);
  asx__repl_history_close(r);
  asx__repl_sigint_restore();
  uv_close((uv_handle_t *)&r->poll, asx__repl_on_closed);
  uv_close((uv_handle_t *)&r->brk, asx__repl_on_closed);
}
