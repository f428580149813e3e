/* Unit tests of the line reader with no Lua and no terminal: its input is a
 * pipe or a regular file, the two ways scripts drive `asx-host -i`. They
 * check the contract of asx_repl.h: one line per asx_repl_prompt, lines
 * split on "\n" with a "\r" before it dropped, a last line without its
 * end-of-line, end of input reported once, and asx_repl_prompt_when taking
 * the next line only once the host says it is ready. The terminal mode is
 * covered end to end by spec/repl_tty_spec.lua. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asx_repl.h"

#define MAX_LINES 16

typedef struct rec {
  char *lines[MAX_LINES];
  size_t lens[MAX_LINES];
  int n;
  int eof;
  int checks; /* how often ready() was asked */
  int ready_after;
} rec;

static void on_line(void *data, const char *line, size_t len) {
  rec *r = data;
  if (!line) {
    r->eof++;
    return;
  }
  assert_true(r->n < MAX_LINES);
  r->lines[r->n] = malloc(len + 1);
  memcpy(r->lines[r->n], line, len + 1);
  r->lens[r->n++] = len;
}

static void rec_free(rec *r) {
  for (int i = 0; i < r->n; i++)
    free(r->lines[i]);
}

/* Turns the loop until the reader reports something (or gives up). A file
 * is read in libuv's thread pool, which can take longer to start than any
 * number of non-blocking turns, so each turn waits for an event. */
static void spin(uv_loop_t *loop, rec *r) {
  int before = r->n + r->eof;
  for (int i = 0; i < 1000 && r->n + r->eof == before; i++)
    uv_run(loop, UV_RUN_ONCE);
}

static asx_repl *open_on(uv_loop_t *loop, int fd, rec *r) {
  asx_repl_callbacks cb = { .on_line = on_line, .data = r };
  asx_repl *repl = NULL;
  const char *err = NULL;
  assert_int_equal(asx_repl_open(loop, fd, NULL, &cb, &repl, &err), 0);
  assert_null(err);
  return repl;
}

static void close_and_drain(uv_loop_t *loop, asx_repl *repl) {
  asx_repl_close(repl);
  uv_run(loop, UV_RUN_DEFAULT);
}

static const char SCRIPT[] = "a\nbb\r\n\nlast";

static void check_script(uv_loop_t *loop, asx_repl *repl, rec *r) {
  const char *want[] = { "a", "bb", "", "last" };
  for (int i = 0; i < 4; i++) {
    asx_repl_prompt(repl, "ignored> ");
    assert_int_equal(asx_repl_reading(repl), 1);
    spin(loop, r);
    assert_int_equal(r->n, i + 1);
    assert_string_equal(r->lines[i], want[i]);
    assert_int_equal(r->lens[i], strlen(want[i]));
    /* One line per prompt: nothing more comes until the next one. */
    for (int k = 0; k < 10; k++)
      uv_run(loop, UV_RUN_NOWAIT);
    assert_int_equal(r->n, i + 1);
    assert_int_equal(asx_repl_reading(repl), 0);
  }
  assert_int_equal(r->eof, 0);
  asx_repl_prompt(repl, NULL);
  spin(loop, r);
  assert_int_equal(r->eof, 1);
  /* After the end, prompting does nothing. */
  asx_repl_prompt(repl, NULL);
  for (int k = 0; k < 10; k++)
    uv_run(loop, UV_RUN_NOWAIT);
  assert_int_equal(r->eof, 1);
  assert_int_equal(r->n, 4);
}

static void test_pipe(void **state) {
  uv_loop_t *loop = uv_default_loop();
  int fds[2];
  rec r = { 0 };
  asx_repl *repl;
  assert_int_equal(pipe(fds), 0);
  repl = open_on(loop, fds[0], &r);
  assert_int_equal(asx_repl_mode(repl), ASX_REPL_PIPE);
  /* Written in two pieces, the second after the first line was taken, so a
   * line split across reads is put back together. */
  assert_int_equal(write(fds[1], "a\nb", 3), 3);
  asx_repl_prompt(repl, NULL);
  spin(loop, &r);
  assert_int_equal(r.n, 1);
  assert_string_equal(r.lines[0], "a");
  assert_int_equal(write(fds[1], "b\r\n\nlast", 8), 8);
  close(fds[1]);
  {
    const char *want[] = { "bb", "", "last" };
    for (int i = 0; i < 3; i++) {
      asx_repl_prompt(repl, NULL);
      spin(loop, &r);
      assert_int_equal(r.n, i + 2);
      assert_string_equal(r.lines[i + 1], want[i]);
    }
  }
  asx_repl_prompt(repl, NULL);
  spin(loop, &r);
  assert_int_equal(r.eof, 1);
  close_and_drain(loop, repl);
  close(fds[0]);
  rec_free(&r);
}

/* What the host asks when the session ended before the input did: whether
 * input is left that no line took, held or ready on the pipe, blank lines
 * not counted; what a writer has not sent is not waited for. */
static void test_unread_pipe(void **state) {
  uv_loop_t *loop = uv_default_loop();
  int fds[2];
  rec r = { 0 };
  asx_repl *repl;
  assert_int_equal(pipe(fds), 0);
  repl = open_on(loop, fds[0], &r);
  assert_int_equal(write(fds[1], "a\n", 2), 2);
  /* Ready on the pipe, not read yet. */
  assert_int_equal(asx_repl_unread(repl), 1);
  asx_repl_prompt(repl, NULL);
  spin(loop, &r);
  assert_int_equal(r.n, 1);
  /* Taken: nothing held, nothing ready, the writer still open. */
  assert_int_equal(asx_repl_unread(repl), 0);
  assert_int_equal(write(fds[1], "\n \nb\n", 5), 5);
  asx_repl_prompt(repl, NULL);
  spin(loop, &r);
  assert_int_equal(r.n, 2);
  /* " \nb\n" held: a line to run. */
  assert_int_equal(asx_repl_unread(repl), 1);
  asx_repl_prompt(repl, NULL);
  spin(loop, &r);
  asx_repl_prompt(repl, NULL);
  spin(loop, &r);
  assert_string_equal(r.lines[3], "b");
  assert_int_equal(write(fds[1], "\n\r\n", 3), 3);
  close(fds[1]);
  asx_repl_prompt(repl, NULL);
  spin(loop, &r);
  /* Only a blank line held: nothing to run. */
  assert_int_equal(r.n, 5);
  assert_int_equal(asx_repl_unread(repl), 0);
  close_and_drain(loop, repl);
  close(fds[0]);
  rec_free(&r);
}

static int make_file(const char *text) {
  char path[] = "/tmp/asx_test_repl_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  unlink(path);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
  return fd;
}

static void test_file(void **state) {
  uv_loop_t *loop = uv_default_loop();
  int fd = make_file(SCRIPT);
  rec r = { 0 };
  asx_repl *repl = open_on(loop, fd, &r);
  assert_int_equal(asx_repl_mode(repl), ASX_REPL_FILE);
  check_script(loop, repl, &r);
  close_and_drain(loop, repl);
  close(fd);
  rec_free(&r);
}

static void test_empty_input(void **state) {
  uv_loop_t *loop = uv_default_loop();
  int fd = make_file("");
  rec r = { 0 };
  asx_repl *repl = open_on(loop, fd, &r);
  asx_repl_prompt(repl, NULL);
  spin(loop, &r);
  assert_int_equal(r.n, 0);
  assert_int_equal(r.eof, 1);
  close_and_drain(loop, repl);
  close(fd);
}

static int ready_late(void *data) {
  rec *r = data;
  return ++r->checks > r->ready_after;
}

/* A line is taken only once ready() says so, asked after turns of the
 * loop; a timer keeps the loop turning, as the scheduler does while a
 * step runs. */
static void tick(uv_timer_t *t) { (void)t; }

static void test_prompt_when(void **state) {
  uv_loop_t *loop = uv_default_loop();
  int fd = make_file("x\ny\n");
  rec r = { 0 };
  uv_timer_t timer;
  asx_repl *repl = open_on(loop, fd, &r);
  uv_timer_init(loop, &timer);
  uv_timer_start(&timer, tick, 1, 1);
  r.ready_after = 5;
  asx_repl_prompt_when(repl, "asx> ", ready_late, &r);
  assert_int_equal(asx_repl_reading(repl), 0);
  spin(loop, &r);
  assert_int_equal(r.n, 1);
  assert_string_equal(r.lines[0], "x");
  assert_int_equal(r.checks, 6);
  /* Ready at once: the same as asx_repl_prompt. */
  asx_repl_prompt_when(repl, "asx> ", ready_late, &r);
  spin(loop, &r);
  assert_int_equal(r.n, 2);
  assert_int_equal(r.checks, 7);
  uv_close((uv_handle_t *)&timer, NULL);
  close_and_drain(loop, repl);
  close(fd);
  rec_free(&r);
}

static void test_one_reader(void **state) {
  uv_loop_t *loop = uv_default_loop();
  int fd = make_file("");
  rec r = { 0 };
  asx_repl_callbacks cb = { .on_line = on_line, .data = &r };
  asx_repl *repl = open_on(loop, fd, &r), *second = NULL;
  const char *err = NULL;
  assert_int_equal(asx_repl_open(loop, fd, NULL, &cb, &second, &err), ASX_E_STATE);
  assert_null(second);
  assert_string_equal(err, "a line reader is open already");
  cb.on_line = NULL;
  close_and_drain(loop, repl);
  assert_int_equal(asx_repl_open(loop, fd, NULL, &cb, &second, &err), ASX_E_ARG);
  close(fd);
}

/* Closing while a read is in flight (or a line is waiting to be handed
 * over) must neither report it nor touch freed memory (ASan watches). */
static void test_close_midway(void **state) {
  uv_loop_t *loop = uv_default_loop();
  int fd = make_file("one\ntwo\n");
  rec r = { 0 };
  asx_repl *repl = open_on(loop, fd, &r);
  asx_repl_prompt(repl, NULL);
  asx_repl_close(repl);
  asx_repl_close(NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  assert_int_equal(r.n, 0);
  assert_int_equal(r.eof, 0);
  close(fd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_pipe),
    cmocka_unit_test(test_unread_pipe),
    cmocka_unit_test(test_file),
    cmocka_unit_test(test_empty_input),
    cmocka_unit_test(test_prompt_when),
    cmocka_unit_test(test_one_reader),
    cmocka_unit_test(test_close_midway),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
