/* Unit tests of the log file writer and of the native event formatting:
 * exact text, whole lines, flush and close, and write errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asx_logfile.h"
#include "test_util.h"

static char *tmp_path(void) {
  static char path[64];
  snprintf(path, sizeof path, "/tmp/asx_test_logfile_%ld.log", (long)getpid());
  return path;
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
  asx_fmt_double(buf, 1e300);
  assert_string_equal(buf, "1e+300");
  asx_fmt_double(buf, 2.5e-7);
  assert_string_equal(buf, "2.5e-07");
  asx_fmt_double(buf, 0.0 / 0.0);
  assert_string_equal(buf, "nan");
  asx_fmt_double(buf, -1.0 / 0.0);
  assert_string_equal(buf, "-inf");
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
  asx_logfile *lf = asx_logfile_open(tmp_path(), 0, 0, &err);
  assert_non_null(lf);
  assert_int_equal(asx_logfile_set_format(lf, ASX_LOG_CSV, ASX_EV_TRADE), 0);
  assert_int_equal(asx_logfile_set_session(lf, "7", 0), 0);
  const char *hdr = "time,session,price,amount,buyer,seller,buy_order,sell_order,aggressor\n";
  assert_int_equal(asx_logfile_write(lf, hdr, strlen(hdr)), 0);
  size_t n;
  const asx_event *evs = sample(&n);
  assert_int_equal(asx_logfile_events(lf, evs, n), 1);
  assert_int_equal(asx_logfile_set_format(lf, ASX_LOG_CSV, ASX_EV_ORDER), 0);
  assert_int_equal(asx_logfile_set_session(lf, "a,\"b\"", 1), 0);
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
    "time,session,price,amount,buyer,seller,buy_order,sell_order,aggressor\n"
    "1.25,7,10,2,2,1,2,1,buy\n"
    "0.5,\"a,\"\"b\"\"\",1,1,sell,10,3\n"
    "1.25,\"a,\"\"b\"\"\",2,2,buy,,2\n"
    "1.25,\"a,\"\"b\"\"\",3,2,buy,10,5,4,money\n"
    "2,\"a,\"\"b\"\"\",1,1,sell,1\n");
  free(s);
  unlink(tmp_path());
}

static void test_jsonl_rows(void **state) {
  asx_logfile *lf = asx_logfile_open(tmp_path(), 0, 0, NULL);
  assert_non_null(lf);
  assert_int_equal(asx_logfile_set_format(lf, ASX_LOG_JSONL, 0), 0);
  assert_int_equal(asx_logfile_set_session(lf, "s\n1", 1), 0);
  size_t n;
  const asx_event *evs = sample(&n);
  assert_int_equal(asx_logfile_events(lf, evs, n), 5);
  assert_int_equal(asx_logfile_close(lf), 0);
  char *s = slurp(tmp_path());
  assert_string_equal(s,
    "{\"type\":\"order\",\"time\":0.5,\"session\":\"s\\n1\",\"id\":1,\"trader\":1,"
    "\"side\":\"sell\",\"price\":10,\"amount\":3}\n"
    "{\"type\":\"order\",\"time\":1.25,\"session\":\"s\\n1\",\"id\":2,\"trader\":2,"
    "\"side\":\"buy\",\"amount\":2}\n"
    "{\"type\":\"exchange\",\"time\":1.25,\"session\":\"s\\n1\",\"price\":10,\"amount\":2,"
    "\"buyer\":2,\"seller\":1,\"buy_order\":2,\"sell_order\":1,\"aggressor\":\"buy\"}\n"
    "{\"type\":\"trim\",\"time\":1.25,\"session\":\"s\\n1\",\"id\":3,\"trader\":2,"
    "\"side\":\"buy\",\"price\":10,\"from\":5,\"to\":4,\"reason\":\"money\"}\n"
    "{\"type\":\"cancel\",\"time\":2,\"session\":\"s\\n1\",\"id\":1,\"trader\":1,"
    "\"side\":\"sell\",\"remaining\":1}\n");
  free(s);
  unlink(tmp_path());
}

/* Many more rows than one chunk holds, through a small memory bound, so the
 * producer waits for the writer: every row must arrive, whole and in order. */
static void test_many_rows_bounded(void **state) {
  asx_logfile *lf = asx_logfile_open(tmp_path(), 0, 1, NULL);
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
    snprintf(want, sizeof want, "%d,,%d,1,1,2,%d,%d,sell\n", i, i, i, i);
    assert_string_equal(line, want);
  }
  fclose(f);
  assert_int_equal(i, N);
  unlink(tmp_path());
}

static void test_long_line_and_bad_input(void **state) {
  asx_logfile *lf = asx_logfile_open(tmp_path(), 0, 0, NULL);
  assert_non_null(lf);
  assert_int_equal(asx_logfile_write(lf, "no newline", 10), ASX_LOG_E_ARG);
  assert_int_equal(asx_logfile_write(lf, "", 0), ASX_LOG_E_ARG);
  assert_int_equal(asx_logfile_set_format(lf, 7, 0), ASX_LOG_E_ARG);
  assert_int_equal(asx_logfile_set_format(lf, ASX_LOG_CSV, 9), ASX_LOG_E_ARG);
  assert_int_equal(asx_logfile_set_session(lf, "", 0), ASX_LOG_E_ARG);
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

static void test_open_errors_and_write_errors(void **state) {
  const char *err = NULL;
  assert_null(asx_logfile_open("/nonexistent-dir/x.csv", 0, 0, &err));
  assert_string_equal(err, "No such file or directory");
  assert_null(asx_logfile_open("", 0, 0, &err));
  /* /dev/full accepts open(2) and fails every write with ENOSPC. */
  asx_logfile *lf = asx_logfile_open("/dev/full", 1, 0, &err);
  if (!lf) skip();
  assert_int_equal(asx_logfile_write(lf, "a\nb\n", 4), 0);
  assert_int_equal(asx_logfile_flush(lf), ASX_LOG_E_IO);
  assert_string_equal(asx_logfile_error(lf), "No space left on device");
  assert_int_equal(asx_logfile_write(lf, "c\n", 2), ASX_LOG_E_IO);
  asx_logfile_stats st;
  asx_logfile_stats_get(lf, &st);
  assert_int_equal(st.dropped, 3);
  assert_int_equal(asx_logfile_close(lf), ASX_LOG_E_IO);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_fmt_numbers),
    cmocka_unit_test(test_fmt_matches_printf),
    cmocka_unit_test(test_csv_rows),
    cmocka_unit_test(test_jsonl_rows),
    cmocka_unit_test(test_many_rows_bounded),
    cmocka_unit_test(test_long_line_and_bad_input),
    cmocka_unit_test(test_open_errors_and_write_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
