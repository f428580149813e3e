/* The line reader of `asx-host -i`: one line at a time from standard input,
 * served by the libuv loop so that agents keep trading while the user types.
 *
 * Two modes, chosen from what standard input is:
 * - a terminal: libedit's readline-compatible callback interface reads one
 *   key per readiness of stdin (a uv_poll), with line editing, history kept
 *   in a file and tab completion through a callback;
 * - anything else (a pipe, a file, /dev/null): plain reads with no prompt
 *   and no echo, so that a script's output holds only what it printed.
 *
 * The reader hands over one line and then waits: nothing more is read (and
 * no prompt shows) until the owner calls asx_repl_prompt again. That lets the
 * owner finish an evaluation, or a `step` of the session that takes many
 * loop iterations, before the next line is taken, and choose the next prompt
 * (a continuation prompt for an incomplete statement).
 *
 * libedit keeps its state in globals, so there is at most one reader per
 * process. This header never includes lua.h; src/asx_lua_repl.c binds it.
 */
#ifndef ASX_REPL_H
#define ASX_REPL_H

#include <stddef.h>
#include <stdio.h>
#include <uv.h>

#include "asx_err.h"

typedef struct asx_repl asx_repl;

/* What the reader calls back. Every callback runs from the loop, never from
 * inside an asx_repl_* call, so a callback may call asx_repl_prompt or
 * asx_repl_close. */
typedef struct asx_repl_callbacks {
  /* A line without its end-of-line, or line == NULL at end of input
   * (Ctrl-D on an empty line, end of the pipe or file). The memory is the
   * reader's and valid during the call only. */
  void (*on_line)(void *data, const char *line, size_t len);
  /* Ctrl-C at the prompt: the line being typed is gone already. count is 1
   * for the first Ctrl-C and grows while Ctrl-C follows Ctrl-C with no other
   * key between. Reading has stopped, as after a line. May be NULL. */
  void (*on_interrupt)(void *data, int count);
  /* Tab: word is the text being completed (identifier characters, dots and
   * colons before the cursor). Add candidates, each the whole replacement
   * for word, with asx_repl_add_completion. May be NULL. */
  void (*on_complete)(void *data, const char *word);
  /* Ctrl-C (SIGINT) in terminal mode while the reader waits for its owner,
   * that is while a line is evaluated or the next prompt waits for ready().
   * At the prompt itself Ctrl-C is a key (on_interrupt above); everywhere
   * else SIGINT goes on to the handler that was installed before the
   * reader opened (the session's). on_signal runs inside the signal
   * handler, so it must be async-signal-safe; line is 1 while the owner has
   * said the evaluation may be interrupted (asx_repl_interruptible), else 0
   * (what runs is not a line: an agent, during a step or at the prompt).
   * on_break runs later from the loop, for what only the loop may do (cut a
   * step short). A second SIGINT before on_break has run is not ours: it
   * goes on to the previous handler, so code that never gives the loop
   * back can still be stopped. Either may be NULL. */
  void (*on_signal)(void *data, int line);
  void (*on_break)(void *data);
  /* Asked from a thread of the reader's, a few times a second while the
   * prompt is up: nonzero when the loop is held (an agent runs on without
   * yielding), so that the keys wait unread. Ctrl-C at the prompt is then a
   * SIGINT, taken as while a line runs (on_signal with line 0, on_break),
   * until the loop turns again. Must be thread-safe. May be NULL. */
  int (*held)(void *data);
  void *data;
} asx_repl_callbacks;

enum {
  ASX_REPL_TTY = 1,  /* line editing on a terminal */
  ASX_REPL_PIPE = 2, /* a pipe or socket, read with uv_read */
  ASX_REPL_FILE = 3, /* a regular file or character device, read with uv_fs */
  ASX_REPL_HISTORY_MAX = 1000, /* lines kept in the history file */
  ASX_REPL_TTY_LINE_MAX = 4096 /* bytes of a line typed at the terminal */
};

/* Opens the reader on fd (normally 0) in the mode its type calls for.
 * history_path may be NULL (no history is kept, as in the other modes);
 * in the terminal mode it is read now, each line is appended to it, and it
 * is cut back to the last ASX_REPL_HISTORY_MAX lines at close. A new
 * history file is made readable by its owner only (0600), as a shell's is:
 * it can hold what was typed; a rewritten one keeps its mode. In terminal
 * mode the reader installs its SIGINT handler (see on_signal) in front of
 * the current one, and puts that back on close if nobody replaced it.
 * Returns 0 and *out, or a negative ASX_E_* code (src/asx_err.h) with a
 * static *err: ASX_E_STATE when a reader is open already.
 * Nothing is read until asx_repl_prompt. */
int asx_repl_open(uv_loop_t *loop, int fd, const char *history_path,
                  const asx_repl_callbacks *cb, asx_repl **out,
                  const char **err);

/* ASX_REPL_TTY, ASX_REPL_PIPE or ASX_REPL_FILE. */
int asx_repl_mode(const asx_repl *repl);

/* Shows prompt (terminal mode only) and reads the next line; the line, end
 * of input or an interrupt is reported once through the callbacks. A call
 * while a line is being read, or after end of input was reported, does
 * nothing. */
void asx_repl_prompt(asx_repl *repl, const char *prompt);

/* Like asx_repl_prompt, but only once ready(data) returns nonzero, asked
 * now and then after every turn of the loop: the host uses it to take the
 * next line only when a `step` of the session has run its course. */
void asx_repl_prompt_when(asx_repl *repl, const char *prompt,
                          int (*ready)(void *data), void *data);

/* 1 while a line is being read (between asx_repl_prompt and its report). */
int asx_repl_reading(const asx_repl *repl);

/* Pipe and file modes: 1 when input is left that no line has taken, that is
 * bytes the reader holds, or bytes ready on the descriptor now (a pipe's
 * FIONREAD, a regular file's size past the read position); blank lines
 * held do not count. 0 after end of
 * input, in terminal mode, or when nothing is ready (what a writer sends
 * later is not waited for). For the owner that ends before the input did. */
int asx_repl_unread(const asx_repl *repl);

/* Pipe and file modes: the input asx_repl_unread tells of, up to max bytes
 * into out (the bytes held, then those ready now: a pipe's are taken from
 * it, a regular file's read where the reader is without moving it);
 * returns how many, and sets *more when there were more than max. 0 in
 * terminal mode and after end of input. For the owner that ends before the
 * input did, which tells commands left unrun from comments. */
size_t asx_repl_leftover(asx_repl *repl, char *out, size_t max, int *more);

/* Writes len bytes of text to out (stdout or stderr) from outside the
 * evaluation of a line (an agent's error, a logger's warning) without
 * garbling the line being typed: on a terminal with the prompt up, the
 * prompt's line is cleared, the text written, and the prompt drawn again
 * below it with what was typed so far. */
void asx_repl_print(asx_repl *repl, FILE *out, const char *text, size_t len);

/* Says whether the owner is running code that on_signal may interrupt
 * (1) or not (0); 0 when the reader opens. */
void asx_repl_interruptible(asx_repl *repl, int on);

/* Adds one completion candidate; only valid inside on_complete. */
void asx_repl_add_completion(asx_repl *repl, const char *candidate);

/* Restores the terminal, stops reading and frees the reader once its
 * handles are closed (the loop must run for that). Safe to call twice;
 * repl must not be used afterwards. */
void asx_repl_close(asx_repl *repl);

#endif
