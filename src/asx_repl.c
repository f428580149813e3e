/* The line reader of `asx-host -i` (see asx_repl.h for the contract): the
 * interface and the reader's life, from asx_repl_open until its handles are
 * closed. The modes live in files of their own (asx_repl_int.h lists them);
 * this file only chooses one and hands each call to it.
 */
#include "asx_repl_int.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

asx_repl *volatile asx__repl_open_one;

void asx__repl_restore_fd(asx_repl *r) {
  if (r->fd_flags >= 0)
    (void)fcntl(r->fd, F_SETFL, r->fd_flags);
}

void asx__repl_free(asx_repl *r) {
  asx__repl_history_free(r);
  free(r->cands);
  free(r->intr_tail);
  free(r->line);
  free(r->buf);
  free(r->wait_prompt);
  if (asx__repl_open_one == r)
    asx__repl_open_one = NULL;
  free(r);
}

void asx__repl_on_closed(uv_handle_t *h) {
  asx_repl *r = h->data;
  if (--r->handles == 0 && !r->fs_busy)
    asx__repl_free(r);
}

int asx_repl_open(uv_loop_t *loop, int fd, const char *history_path,
                  const asx_repl_callbacks *cb, asx_repl **out,
                  const char **err) {
  asx_repl *r;
  int rc;
  uv_handle_type type;
  *out = NULL;
  *err = NULL;
  if (asx__repl_open_one) {
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
  asx__repl_open_one = r;
  uv_check_init(loop, &r->check);
  r->check.data = r;
  r->handles++;

  if (r->mode == ASX_REPL_TTY) {
    if (history_path && (r->history_path = strdup(history_path)) == NULL) {
      rc = ASX_E_NOMEM;
      *err = "out of memory";
      goto fail;
    }
    if ((rc = asx__repl_tty_open(r, err)) < 0)
      goto fail;
  } else if ((rc = asx__repl_pipe_open(r, err)) < 0) {
    asx_repl_close(r);
    return rc;
  }
  *out = r;
  return 0;

fail:
  /* The check handle is open already, so the memory goes with it. */
  r->state = ST_CLOSED;
  asx__repl_open_one = NULL;
  uv_close((uv_handle_t *)&r->check, asx__repl_on_closed);
  return rc;
}

int asx_repl_mode(const asx_repl *r) { return r->mode; }

int asx_repl_reading(const asx_repl *r) { return r->state == ST_READING; }

void asx_repl_prompt(asx_repl *r, const char *prompt) {
  if (r->state != ST_HELD)
    return;
  r->state = ST_READING;
  if (r->mode == ASX_REPL_TTY)
    asx__repl_tty_prompt(r, prompt);
  else
    asx__repl_pipe_prompt(r);
}

void asx_repl_print(asx_repl *r, FILE *out, const char *text, size_t len) {
  if (r && r->mode == ASX_REPL_TTY) {
    asx__repl_tty_print(r, out, text, len);
    return;
  }
  fwrite(text, 1, len, out);
  fflush(out);
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
  uv_close((uv_handle_t *)&r->check, asx__repl_on_closed);
  if (r->mode == ASX_REPL_TTY)
    asx__repl_tty_close(r);
  else
    asx__repl_pipe_close(r);
  asx__repl_restore_fd(r);
  /* A new reader may open while this one's handles are closing. */
  asx__repl_open_one = NULL;
}
