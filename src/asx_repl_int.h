/* The line reader's insides, shared by the files that make it up
 * (internal: nothing else includes this header):
 *   asx_repl.c          the interface of asx_repl.h, and the reader's life;
 *   asx_repl_tty.c      terminal mode: libedit, keys, completion;
 *   asx_repl_sigint.c   Ctrl-C while the owner is busy (terminal mode);
 *   asx_repl_held.c     Ctrl-C at the prompt while the loop is held;
 *   asx_repl_history.c  the history file (terminal mode);
 *   asx_repl_pipe.c     pipe and file modes.
 */
#ifndef ASX_REPL_INT_H
#define ASX_REPL_INT_H

#include "asx_repl.h"

#include <pthread.h>
#include <signal.h>
#include <termios.h>

/* The reader hands over one line and then holds (ST_HELD) until the owner
 * asks for the next (ST_READING); ST_DONE after end of input. */
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
  int prompt_up;     /* installed, as the held thread reads it (atomic) */

  /* Ctrl-C while the loop is held at the prompt (asx_repl_held.c). */
  uv_prepare_t turn;      /* puts the prompt's terminal back */
  pthread_t held_thread;
  pthread_mutex_t held_mu; /* the terminal's ISIG, and the fields below */
  pthread_cond_t held_cv;
  int held_on, held_quit;
  int isig_on;    /* the thread turned ISIG on (atomic) */
  int noflsh_was; /* NOFLSH before that */
  struct termios cooked; /* the terminal as the reader found it */
  int have_cooked;
  int line_done;     /* our line handler ran during this key */
  char *line;        /* what it got, malloc'd by libedit; NULL at EOF */
  int interrupted;   /* Ctrl-C was pressed during this key */
  int interrupts;    /* Ctrl-C in a row */
  char *intr_tail;   /* the text after the cursor when Ctrl-C came */
  char *history_path;
  char *hist[ASX_REPL_HISTORY_MAX]; /* a ring, oldest at hist_first */
  size_t hist_n, hist_first;
  size_t hist_file_lines; /* lines in the history file, as far as we know */
  int hist_broken;        /* it could not be written: it is left alone */
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
extern asx_repl *volatile asx__repl_open_one;

/* asx_repl.c */
void asx__repl_free(asx_repl *r);
void asx__repl_on_closed(uv_handle_t *h);
/* Puts back the file status flags that uv_poll_init and uv_pipe_open
 * changed (O_NONBLOCK): the file description is the shell's too. */
void asx__repl_restore_fd(asx_repl *r);

/* asx_repl_tty.c: sets up terminal mode (returns 0 or an ASX_E_* code with
 * a static *err), shows the prompt and reads, prints around the prompt,
 * and closes its handles. */
int asx__repl_tty_open(asx_repl *r, const char **err);
void asx__repl_tty_prompt(asx_repl *r, const char *prompt);
void asx__repl_tty_print(asx_repl *r, FILE *out, const char *text,
                         size_t len);
void asx__repl_tty_close(asx_repl *r);

/* asx_repl_held.c: the thread that lets Ctrl-C at the prompt through as
 * a SIGINT while the loop is held (when the owner gave a held callback),
 * started with terminal mode and stopped before libedit gives the terminal
 * back. */
int asx__repl_held_start(asx_repl *r);
void asx__repl_held_reset(asx_repl *r);
void asx__repl_held_stop(asx_repl *r);

/* asx_repl_sigint.c: the reader's SIGINT handler, in front of the one
 * before it while the reader is open; on_break runs from the loop. */
void asx__repl_sigint_install(void);
void asx__repl_sigint_restore(void);
void asx__repl_on_break(uv_async_t *h);

/* asx_repl_history.c: reads the history file, adds a line to the history
 * (and appends it to the file), cuts the file back to the lines kept when
 * the reader closes, and frees the lines kept. */
void asx__repl_history_load(asx_repl *r);
void asx__repl_history_add(asx_repl *r, const char *line);
void asx__repl_history_close(asx_repl *r);
void asx__repl_history_free(asx_repl *r);

/* asx_repl_pipe.c: sets up pipe or file mode (0 or ASX_E_IO with a static
 * *err), reads the next line, and closes its handles. */
int asx__repl_pipe_open(asx_repl *r, const char **err);
void asx__repl_pipe_prompt(asx_repl *r);
void asx__repl_pipe_close(asx_repl *r);

#endif
