/* Unit tests of the log file writer and of the native event formatting:
 * exact text, whole lines, flush and close, write errors (a full disk is
 * played by a file size limit: the write that crosses it stops part way,
 * the next fails with EFBIG), one writer per file, and text cleaning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "asx_logfile.h"
#include "test_util.h"

static char *tmp_path(void) {
  static char path[64];
  snprintf(path, sizeof path, "/tmp/asx_test_logfile_%ld.log", (long)getpid());
  return path;
}

/* Opens a log file that the test expects to open: the log file, or NULL
 * (with the reason in *err) for a test that skips without it. */
static asx_logfile *open_log(const char *path, int append, size_t max_bytes,
                             const char **err) {
  asx_logfile *lf = NULL;
  int rc = asx_logfile_open(path, append, max_bytes, &lf, err);
  assert_true(rc == 0 ? lf != NULL : rc < 0 && lf == NULL);
  return lf;
}

/* Reads a whole file into a new string. */
static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
  s[n] = '\0';
  fclose(f);
  return s;
}

static void test_fmt_numbers(void **state) {
  char buf[32];
  assert_int_equal(asx_fmt_int64(buf, 0), 1);
  assert_string_equal(buf, "0");
  asx_fmt_int64(buf, INT64_MIN);
  assert_string_equal(buf, "-9223372036854775808");
  asx_fmt_int64(buf, 9007199254740991);
  assert_string_equal(buf, "9007199254740991");
  asx_fmt_double(buf, 3.0);
  assert_string_equal(buf, "3");
  asx_fmt_double(buf, -0.0);
  assert_string_equal(buf, "0");
  asx_fmt_double(buf, 0.1);
  assert_string_equal(buf, "0.1");
  asx_fmt_double(buf, 0.1 + 0.2);
  assert_string_equal(buf, "0.30000000000000004");
  asx_fmt_double(buf, 1.0 / 3.0);
  assert_string_equal(buf, "0.3333333333333333");
  asx_fmt_double(buf, 9007199254740992.0);
  assert_string_equal(buf, "9007199254740992");
  /* Integers beyond 2^53 in all their digits below 1e21 (as JavaScript
   * writes them): 2^60 was 1.152921504606847e+18, 1e17 1e+17. */
  asx_fmt_double(buf, 9007199254740994.0);
  assert_string_equal(buf, "9007199254740994");
  asx_fmt_double(buf, 1e17);
  assert_string_equal(buf, "100000000000000000");
  asx_fmt_double(buf, ldexp(1, 60));
  assert_string_equal(buf, "1152921504606846976");
  asx_fmt_double(buf, -ldexp(1, 63));
  assert_string_equal(buf, "-9223372036854775808");
  assert_int_equal(asx_fmt_double(buf, -nextafter(1e21, 0)), 22);
  assert_string_equal(buf, "-999999999999999868928");
  asx_fmt_double(buf, 1e21);
  assert_string_equal(buf, "1e+21");
  asx_fmt_double(buf, 1e300);
  assert_string_equal(buf, "1e+300");
  asx_fmt_double(buf, 2.5e-7);
  assert_string_equal(buf, "2.5e-07");
  asx_fmt_double(buf, 0.0 / 0.0);
  assert_string_equal(buf, "nan");
  asx_fmt_double(buf, -1.0 / 0.0);
  assert_string_equal(buf, "-inf");
  /* Subnormals, in their fewest digits too: the smallest was written
   * 4.94065645841247e-324, and 1e-310 as 9.99999999999997e-311. */
  asx_fmt_double(buf, 4.9406564584124654e-324);
  assert_string_equal(buf, "5e-324");
  asx_fmt_double(buf, -2 * 4.9406564584124654e-324);
  assert_string_equal(buf, "-1e-323");
  asx_fmt_double(buf, 1e-310);
  assert_string_equal(buf, "1e-310");
  asx_fmt_double(buf, 2.2250738585072009e-308); /* the largest subnormal */
  assert_string_equal(buf, "2.225073858507201e-308");
  asx_fmt_double(buf, 2.2250738585072014e-308); /* DBL_MIN, normal */
  assert_string_equal(buf, "2.2250738585072014e-308");
}

/* The shortest form printf gives, the slow way: the reference. */
static void fmt_reference(char *buf, double v) {
  for (int p = 15; p <= 17; p++) {
    snprintf(buf, 32, "%.*g", p, v);
    if (p == 17 || strtod(buf, NULL) == v) return;
  }
}

/* The fast path for session-time-like numbers gives printf's text. */
static void test_fmt_matches_printf(void **state) {
  char a[32], b[32];
  uint64_t x = 88172645463325252ULL;
  for (int i = 0; i < 300000; i++) {
    /* xorshift64: random mantissas over the exponents of both paths. */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    double v = ldexp((double)(x >> 11), -53) * pow(10, (int)(x % 25) - 7);
    if (x & 1024) v = -v;
    asx_fmt_double(a, v);
    if (v == floor(v) && fabs(v) <= 9007199254740992.0) continue;
    if (v == floor(v) && fabs(v) < 1e21)
      snprintf(b, sizeof b, "%.0f", v);
    else
      fmt_reference(b, v);
    assert_string_equal(a, b);
    assert_true(strtod(a, NULL) == v);
  }
  /* Around powers of two, where the gap below is half the gap above. */
  for (int e = -13; e < 50; e++) {
    double p2 = ldexp(1, e);
    double vs[3] = {p2, nextafter(p2, 0), nextafter(p2, INFINITY)};
    for (int j = 0; j < 3; j++) {
      if (vs[j] == floor(vs[j])) continue;
      asx_fmt_double(a, vs[j]);
      fmt_reference(b, vs[j]);
      assert_string_equal(a, b);
    }
  }
}

static const asx_event *sample(size_t *n) {
  static asx_event evs[5];
  evs[0] = ev(ASX_EV_ORDER, 0.5, 10, 3, 0, 1, 0, 1, 0, ASX_SELL, 0);
  evs[1] = ev(ASX_EV_ORDER, 1.25, 0, 2, 0, 2, 0, 2, 0, ASX_BUY, 0);
  evs[2] = ev(ASX_EV_TRADE, 1.25, 10, 2, 0, 2, 1, 2, 1, ASX_BUY, 0);
  evs[3] = ev(ASX_EV_TRIM, 1.25, 10, 5, 4, 3, 0, 2, 0, ASX_BUY, ASX_TRIM_MONEY);
  evs[4] = ev(ASX_EV_CANCEL, 2, 0, 1, 0, 1, 0, 1, 0, ASX_SELL, 0);
  *n = 5;
  return evs;
}

static void test_csv_rows(void **state) {
  const char *err = NULL;
  asx_logfile *lf = open_log(tmp_path(), 0, 0, &err);
  assert_non_null(lf);
  assert_int_equal(asx_logfile_set_format(lf, ASX_LOG_CSV, ASX_EV_TRADE), 0);
  assert_int_equal(asx_logfile_set_session(lf, "7", 1, 0), 0);
  const char *hdr = "time,session,price,amount,buyer,seller,buy_order,sell_order,aggressor,instrument\n";
  assert_int_equal(asx_logfile_write(lf, hdr, strlen(hdr)), 0);
  size_t n;
  const asx_event *evs = sample(&n);
  assert_int_equal(asx_logfile_events(lf, evs, n), 1);
  assert_int_equal(asx_logfile_set_format(lf, ASX_LOG_CSV, ASX_EV_ORDER), 0);
  assert_int_equal(asx_logfile_set_session(lf, "a,\"b\"", 5, 1), 0);
  assert_int_equal(asx_logfile_events(lf, evs, n), 2);
  assert_int_equal(asx_logfile_set_format(lf, ASX_LOG_CSV, ASX_EV_TRIM), 0);
  assert_int_equal(asx_logfile_events(lf, evs, n), 1);
  assert_int_equal(asx_logfile_set_format(lf, ASX_LOG_CSV, ASX_EV_CANCEL), 0);
  assert_int_equal(asx_logfile_events(lf, evs, n), 1);
  asx_logfile_stats st;
  asx_logfile_stats_get(lf, &st);
  assert_int_equal(st.lines, 6);
  assert_int_equal(st.dropped, 0);
  assert_int_equal(asx_logfile_close(lf), 0);
  char *s = slurp(tmp_path());
  assert_string_equal(s,
    "time,session,price,amount,buyer,seller,buy_order,sell_order,aggressor,instrument\n"
    "1.25,7,10,2,2,1,2,1,buy,STOCK\n"
    "0.5,\"a,\"\"b\"\"\",1,1,sell,10,3,STOCK\n"
    "1.25,\"a,\"\"b\"\"\",2,2,buy,,2,STOCK\n"
    "1.25,\"a,\"\"b\"\"\",3,2,buy,10,5,4,money,STOCK\n"
    "2,\"a,\"\"b\"\"\",1,1,sell,1,,STOCK\n");
  free(s);
  unlink(tmp_path());
}

static void test_jsonl_rows(void **state) {
  asx_logfile *lf = open_log(tmp_path(), 0, 0, NULL);
  assert_non_null(lf);
  assert_int_equal(asx_logfile_set_format(lf, ASX_LOG_JSONL, 0), 0);
  assert_int_equal(asx_logfile_set_session(lf, "s\n1", 3, 1), 0);
  size_t n;
  const asx_event *evs = sample(&n);
  assert_int_equal(asx_logfile_events(lf, evs, n), 5);
  assert_int_equal(asx_logfile_close(lf), 0);
  char *s = slurp(tmp_path());
  assert_string_equal(s,
    "{\"type\":\"order\",\"time\":0.5,\"session\":\"s\\n1\",\"id\":1,\"trader\":1,"
    "\"side\":\"sell\",\"price\":10,\"amount\":3,\"instrument\":\"STOCK\"}\n"
    "{\"type\":\"order\",\"time\":1.25,\"session\":\"s\\n1\",\"id\":2,\"trader\":2,"
    "\"side\":\"buy\",\"amount\":2,\"instrument\":\"STOCK\"}\n"
    "{\"type\":\"exchange\",\"time\":1.25,\"session\":\"s\\n1\",\"price\":10,\"amount\":2,"
    "\"buyer\":2,\"seller\":1,\"buy_order\":2,\"sell_order\":1,\"aggressor\":\"buy\","
    "\"instrument\":\"STOCK\"}\n"
    "{\"type\":\"trim\",\"time\":1.25,\"session\":\"s\\n1\",\"id\":3,\"trader\":2,"
    "\"side\":\"buy\",\"price\":10,\"from\":5,\"to\":4,\"reason\":\"money\",\"instrument\":\"STOCK\"}\n"
    "{\"type\":\"cancel\",\"time\":2,\"session\":\"s\\n1\",\"id\":1,\"trader\":1,"
    "\"side\":\"sell\",\"remaining\":1,\"instrument\":\"STOCK\"}\n");
  free(s);
  unlink(tmp_path());
}

/* Many more rows than one chunk holds, through a small memory bound, so the
 * producer waits for the writer: every row must arrive, whole and in order. */
static void test_many_rows_bounded(void **state) {
  asx_logfile *lf = open_log(tmp_path(), 0, 1, NULL);
  assert_non_null(lf);
  asx_logfile_set_format(lf, ASX_LOG_CSV, ASX_EV_TRADE);
  const int N = 200000;
  for (int i = 1; i <= N; i++) {
    asx_event e = ev(ASX_EV_TRADE, i, i, 1, 0, i, i, 1, 2, ASX_SELL, 0);
    assert_int_equal(asx_logfile_events(lf, &e, 1), 1);
  }
  assert_int_equal(asx_logfile_flush(lf), 0);
  asx_logfile_stats st;
  asx_logfile_stats_get(lf, &st);
  assert_int_equal(st.lines, N);
  assert_int_equal(st.flushed, st.bytes);
  assert_int_equal(asx_logfile_close(lf), 0);
  FILE *f = fopen(tmp_path(), "r");
  char line[128], want[128];
  int i = 0;
  while (fgets(line, sizeof line, f)) {
    i++;
    snprintf(want, sizeof want, "%d,,%d,1,1,2,%d,%d,sell,STOCK\n", i, i, i, i);
    assert_string_equal(line, want);
  }
  fclose(f);
  assert_int_equal(i, N);
  unlink(tmp_path());
}

static void test_long_line_and_bad_input(void **state) {
  asx_logfile *lf = open_log(tmp_path(), 0, 0, NULL);
  assert_non_null(lf);
  assert_int_equal(asx_logfile_write(lf, "no newline", 10), ASX_E_ARG);
  assert_int_equal(asx_logfile_write(lf, "", 0), ASX_E_ARG);
  assert_int_equal(asx_logfile_set_format(lf, 7, 0), ASX_E_ARG);
  assert_int_equal(asx_logfile_set_format(lf, ASX_LOG_CSV, 9), ASX_E_ARG);
  assert_int_equal(asx_logfile_set_session(lf, "", 0, 0), ASX_E_ARG);
  size_t big = 1000000;
  char *s = malloc(big);
  memset(s, 'x', big);
  s[big - 1] = '\n';
  assert_int_equal(asx_logfile_write(lf, "a\n", 2), 0);
  assert_int_equal(asx_logfile_write(lf, s, big), 0);
  assert_int_equal(asx_logfile_write(lf, "b\n", 2), 0);
  assert_int_equal(asx_logfile_close(lf), 0);
  char *got = slurp(tmp_path());
  assert_int_equal(strlen(got), big + 4);
  assert_memory_equal(got, "a\n", 2);
  assert_memory_equal(got + 2, s, big);
  assert_string_equal(got + 2 + big, "b\n");
  free(got);
  free(s);
  unlink(tmp_path());
}

static void test_writer_writes_waiting_lines_itself(void **state) {
  /* Lines that nobody hands over or flushes (the producer idle, or busy in
   * an agent that never yields) still reach the file, whole, a moment
   * later: a process killed then keeps them. Polled with a deadline. */
  asx_logfile *lf = open_log(tmp_path(), 0, 0, NULL);
  assert_non_null(lf);
  assert_int_equal(asx_logfile_write(lf, "header\n", 7), 0);
  assert_int_equal(asx_logfile_write(lf, "row 1\nrow 2\n", 12), 0);
  char *got = NULL;
  for (int tries = 0; tries < 1000; tries++) { /* 10 s at most */
    free(got);
    got = slurp(tmp_path());
    if (strlen(got) == 19) break;
    usleep(10000);
  }
  assert_string_equal(got, "header\nrow 1\nrow 2\n");
  free(got);
  /* The next lines go on after them, in order. */
  assert_int_equal(asx_logfile_write(lf, "row 3\n", 6), 0);
  assert_int_equal(asx_logfile_close(lf), 0);
  got = slurp(tmp_path());
  assert_string_equal(got, "header\nrow 1\nrow 2\nrow 3\n");
  free(got);
  unlink(tmp_path());
}

static void test_open_errors_and_write_errors(void **state) {
  const char *err = NULL;
  asx_logfile *lf = NULL;
  assert_int_equal(asx_logfile_open("/nonexistent-dir/x.csv", 0, 0, &lf, &err), ASX_E_IO);
  assert_null(lf);
  assert_string_equal(err, "No such file or directory");
  assert_int_equal(asx_logfile_open("", 0, 0, &lf, &err), ASX_E_ARG);
  assert_null(lf);
  /* /dev/full accepts open(2) and fails every write with ENOSPC. */
  lf = open_log("/dev/full", 1, 0, &err);
  if (!lf) skip();
  assert_int_equal(asx_logfile_write(lf, "a\nb\n", 4), 0);
  assert_int_equal(asx_logfile_flush(lf), ASX_E_IO);
  assert_string_equal(asx_logfile_error(lf), "No space left on device");
  assert_int_equal(asx_logfile_write(lf, "c\n", 2), ASX_E_IO);
  asx_logfile_stats st;
  asx_logfile_stats_get(lf, &st);
  assert_int_equal(st.dropped, 3);
  assert_int_equal(asx_logfile_close(lf), ASX_E_IO);
}

/* The size of a file, or -1. */
static long file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Sets this process's file size limit (soft), returning the old one. With
 * SIGXFSZ ignored, a write past it is short and the next one fails. */
static rlim_t set_fsize_limit(rlim_t limit) {
  struct rlimit rl;
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &rl), 0);
  rlim_t old = rl.rlim_cur;
  rl.rlim_cur = limit;
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
  return old;
}

/* Lines of 30 bytes: "line 0001 ....................\n". */
static void numbered_line(char *buf, int i) {
  snprintf(buf, 31, "line %04d %019d", i, 0);
  buf[29] = '\n';
}

/* A write that stops inside a line: the file is cut back to the last whole
 * line, and the counts say exactly what is in it and what was lost. */
static void test_short_write_keeps_whole_lines(void **state) {
  signal(SIGXFSZ, SIG_IGN);
  for (int limit = 990; limit <= 1000; limit += 10) { /* on a line end, then inside a line */
    asx_logfile *lf = open_log(tmp_path(), 0, 0, NULL);
    assert_non_null(lf);
    char line[31];
    for (int i = 1; i <= 100; i++) {
      numbered_line(line, i);
      assert_int_equal(asx_logfile_write(lf, line, 30), 0);
    }
    rlim_t old = set_fsize_limit((rlim_t)limit);
    assert_int_equal(asx_logfile_flush(lf), ASX_E_IO);
    set_fsize_limit(old);
    assert_string_equal(asx_logfile_error(lf), "File too large");
    asx_logfile_stats st;
    asx_logfile_stats_get(lf, &st);
    assert_int_equal(st.lines, 100);
    assert_int_equal(st.written, 33);
    assert_int_equal(st.dropped, 67);
    assert_int_equal(st.flushed, 990);
    /* The file takes nothing more, so it never has a gap. */
    assert_int_equal(asx_logfile_write(lf, "late\n", 5), ASX_E_IO);
    asx_logfile_stats_get(lf, &st);
    assert_int_equal(st.lines, 101);
    assert_int_equal(st.dropped, 68);
    assert_int_equal(asx_logfile_close(lf), ASX_E_IO);
    char *got = slurp(tmp_path());
    assert_int_equal(strlen(got), 990);
    for (int i = 1; i <= 33; i++) {
      numbered_line(line, i);
      assert_memory_equal(got + (i - 1) * 30, line, 30);
    }
    free(got);
  }
  unlink(tmp_path());
}

/* The same through the native rows, across many chunks and a small memory
 * bound: the limit falls in a later chunk, mid-row. */
static void test_short_write_native_rows(void **state) {
  signal(SIGXFSZ, SIG_IGN);
  asx_logfile *lf = open_log(tmp_path(), 0, 1, NULL);
  assert_non_null(lf);
  asx_logfile_set_format(lf, ASX_LOG_JSONL, 0);
  const long limit = 700001;
  rlim_t old = set_fsize_limit((rlim_t)limit);
  const int N = 20000;
  for (int i = 1; i <= N; i++) {
    asx_event e = ev(ASX_EV_TRADE, i, i, 1, 0, i, i, 1, 2, ASX_SELL, 0);
    int64_t k = asx_logfile_events(lf, &e, 1);
    assert_true(k == 1 || k == ASX_E_IO);
  }
  assert_int_equal(asx_logfile_flush(lf), ASX_E_IO);
  set_fsize_limit(old);
  asx_logfile_stats st;
  asx_logfile_stats_get(lf, &st);
  assert_int_equal(asx_logfile_close(lf), ASX_E_IO);
  char *got = slurp(tmp_path());
  long size = (long)strlen(got);
  assert_true(size > limit - 200 && size <= limit);
  assert_int_equal(got[size - 1], '\n');
  int64_t lines = 0;
  char want[256];
  for (char *p = got, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
    lines++;
    snprintf(want, sizeof want,
             "{\"type\":\"exchange\",\"time\":%d,\"session\":null,\"price\":%d,\"amount\":1,"
             "\"buyer\":1,\"seller\":2,\"buy_order\":%d,\"sell_order\":%d,\"aggressor\":\"sell\","
             "\"instrument\":\"STOCK\"}\n",
             (int)lines, (int)lines, (int)lines, (int)lines);
    assert_memory_equal(p, want, strlen(want));
  }
  assert_int_equal(st.lines, N);
  assert_int_equal(st.written, lines);
  assert_int_equal(st.dropped, N - lines);
  assert_int_equal(st.flushed, size);
  free(got);
  unlink(tmp_path());
}

/* A regular file takes one log file at a time, by whatever path it is
 * named, and a refused open leaves the first one's lines alone. */
static void test_one_writer_per_file(void **state) {
  char dir[] = "/tmp/asx_test_logfile_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char a[128], dot[128], sym[128], hard[128];
  snprintf(a, sizeof a, "%s/a.csv", dir);
  snprintf(dot, sizeof dot, "%s/./a.csv", dir);
  snprintf(sym, sizeof sym, "%s/sym.csv", dir);
  snprintf(hard, sizeof hard, "%s/hard.csv", dir);
  asx_logfile *lf = open_log(a, 0, 0, NULL);
  assert_non_null(lf);
  assert_int_equal(symlink(a, sym), 0);
  assert_int_equal(link(a, hard), 0);
  assert_int_equal(asx_logfile_write(lf, "kept\n", 5), 0);
  assert_int_equal(asx_logfile_flush(lf), 0);
  const char *paths[] = {a, dot, sym, hard};
  for (int i = 0; i < 4; i++) {
    for (int append = 0; append <= 1; append++) {
      const char *err = NULL;
      asx_logfile *again = NULL;
      errno = 0;
      assert_int_equal(asx_logfile_open(paths[i], append, 0, &again, &err), ASX_E_STATE);
      assert_null(again);
      assert_int_equal(errno, EBUSY);
      assert_string_equal(err, "already open for logging");
      assert_string_equal(asx_logfile_holder(paths[i]), a);
    }
  }
  assert_int_equal(file_size(a), 5);
  assert_null(asx_logfile_holder("/dev/null"));
  char other[128];
  snprintf(other, sizeof other, "%s/none.csv", dir);
  assert_null(asx_logfile_holder(other));
  /* Devices are not claimed: /dev/null twice is harmless. */
  asx_logfile *n1 = open_log("/dev/null", 1, 0, NULL);
  asx_logfile *n2 = open_log("/dev/null", 1, 0, NULL);
  assert_non_null(n1);
  assert_non_null(n2);
  assert_int_equal(asx_logfile_close(n1), 0);
  assert_int_equal(asx_logfile_close(n2), 0);
  assert_int_equal(asx_logfile_close(lf), 0);
  /* Closed, the file can be opened again, through any name. */
  assert_null(asx_logfile_holder(a));
  lf = open_log(sym, 1, 0, NULL);
  assert_non_null(lf);
  assert_string_equal(asx_logfile_holder(hard), sym);
  assert_int_equal(asx_logfile_write(lf, "more\n", 5), 0);
  assert_int_equal(asx_logfile_close(lf), 0);
  char *got = slurp(a);
  assert_string_equal(got, "kept\nmore\n");
  free(got);
  /* The same file by any name, checked before anything is opened. */
  for (int i = 0; i < 4; i++) assert_int_equal(asx_logfile_same(a, paths[i]), 1);
  assert_int_equal(asx_logfile_same(a, "/dev/null"), 0);
  assert_int_equal(asx_logfile_same(other, other), 1);
  char other_dot[160];
  snprintf(other_dot, sizeof other_dot, "%s/./none.csv", dir);
  assert_int_equal(asx_logfile_same(other, other_dot), 1);
  assert_int_equal(asx_logfile_same(other, a), 0);
  assert_int_equal(asx_logfile_same("none.csv", "./none.csv"), 1);
  assert_int_equal(asx_logfile_same("none.csv", "/no/such/dir/none.csv"), 0);
  unlink(sym);
  unlink(hard);
  unlink(a);
  rmdir(dir);
}

/* Cleans s (of len bytes) and compares with want (of wlen). */
static void check_utf8(const char *s, size_t len, const char *want, size_t wlen) {
  char out[64];
  size_t n = asx_fmt_utf8(out, s, len);
  assert_int_equal(n, wlen);
  assert_memory_equal(out, want, wlen);
}

#define R "\xEF\xBF\xBD" /* U+FFFD */
#define CHECK_UTF8(s, want) check_utf8((s), sizeof(s) - 1, (want), sizeof(want) - 1)

static void test_utf8_cleaning(void **state) {
  CHECK_UTF8("plain, \"ascii\"", "plain, \"ascii\"");
  CHECK_UTF8("a\0b", "a\0b");                                  /* NUL is text */
  CHECK_UTF8("\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", "\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  CHECK_UTF8("a\x80" "b", "a" R "b");                            /* a stray continuation */
  CHECK_UTF8("a\xFF\xFE", "a" R R);
  CHECK_UTF8("\xE2\x82x", R "x");                               /* truncated: one U+FFFD */
  CHECK_UTF8("\xF0\x9F\x98", R);                                /* truncated at the end */
  CHECK_UTF8("\xC0\xAF", R R);                                  /* overlong */
  CHECK_UTF8("\xE0\x80\xAF", R R R);                            /* overlong */
  CHECK_UTF8("\xED\xA0\x80", R R R);                            /* a surrogate */
  CHECK_UTF8("\xF4\x90\x80\x80", R R R R);                      /* beyond U+10FFFF */
  CHECK_UTF8("\xF4\x8F\xBF\xBF", "\xF4\x8F\xBF\xBF");            /* U+10FFFF itself */
  assert_int_equal(asx_fmt_utf8_valid("ok\xC3\xA9\xC3", 5), 4);
  assert_int_equal(asx_fmt_utf8_valid("", 0), 0);
}

/* Escapes s (of len bytes) for a terminal and compares with want. */
static void check_terminal(const char *s, size_t len, const char *want) {
  char out[128];
  size_t n = asx_fmt_terminal(out, s, len);
  assert_int_equal(n, strlen(want));
  assert_memory_equal(out, want, n);
}
#define CHECK_TERMINAL(s, want) check_terminal((s), sizeof(s) - 1, (want))

static void test_terminal_escaping(void **state) {
  (void)state;
  CHECK_TERMINAL("plain\ttext\nnext", "plain\ttext\nnext");       /* tab, line break kept */
  CHECK_TERMINAL("\x1b[2J\r\a\x7f", "\\027[2J\\013\\007\\127");
  CHECK_TERMINAL("a\0b", "a\\000b");
  CHECK_TERMINAL("\xC2\x9B" "1m", "\\194\\1551m");                /* C1 CSI in UTF-8 */
  CHECK_TERMINAL("\xC2\xA0\xC4\x9B", "\xC2\xA0\xC4\x9B");         /* U+00A0, U+011B kept */
  CHECK_TERMINAL("\x9B\xC2", "\x9B\xC2");                        /* lone bytes kept */
}

/* A session id with a NUL and invalid UTF-8: JSON escapes the NUL and
 * replaces the bad byte, CSV keeps the NUL and quotes the line break. */
static void test_hostile_session(void **state) {
  asx_logfile *lf = open_log(tmp_path(), 0, 0, NULL);
  assert_non_null(lf);
  asx_event e = ev(ASX_EV_CANCEL, 1, 0, 4, 0, 9, 0, 3, 0, ASX_BUY, 0);
  assert_int_equal(asx_logfile_set_session(lf, "a\0\xFF\n\"", 5, 1), 0);
  assert_int_equal(asx_logfile_set_format(lf, ASX_LOG_JSONL, 0), 0);
  assert_int_equal(asx_logfile_events(lf, &e, 1), 1);
  assert_int_equal(asx_logfile_set_format(lf, ASX_LOG_CSV, ASX_EV_CANCEL), 0);
  assert_int_equal(asx_logfile_events(lf, &e, 1), 1);
  assert_int_equal(asx_logfile_close(lf), 0);
  FILE *f = fopen(tmp_path(), "rb");
  char got[256];
  size_t n = fread(got, 1, sizeof got, f);
  fclose(f);
  static const char want[] =
      "{\"type\":\"cancel\",\"time\":1,\"session\":\"a\\u0000" R "\\n\\\"\",\"id\":9,"
      "\"trader\":3,\"side\":\"buy\",\"remaining\":4,\"instrument\":\"STOCK\"}\n"
      "1,\"a\0" R "\n\"\"\",9,3,buy,4,,STOCK\n";
  assert_int_equal(n, sizeof want - 1);
  assert_memory_equal(got, want, n);
  unlink(tmp_path());
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_fmt_numbers),
    cmocka_unit_test(test_fmt_matches_printf),
    cmocka_unit_test(test_csv_rows),
    cmocka_unit_test(test_jsonl_rows),
    cmocka_unit_test(test_many_rows_bounded),
    cmocka_unit_test(test_long_line_and_bad_input),
    cmocka_unit_test(test_writer_writes_waiting_lines_itself),
    cmocka_unit_test(test_open_errors_and_write_errors),
    cmocka_unit_test(test_short_write_keeps_whole_lines),
    cmocka_unit_test(test_short_write_native_rows),
    cmocka_unit_test(test_one_writer_per_file),
    cmocka_unit_test(test_utf8_cleaning),
    cmocka_unit_test(test_terminal_escaping),
    cmocka_unit_test(test_hostile_session),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
