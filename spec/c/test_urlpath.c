/* Unit tests of request-path normalisation: every spelling of a route's
 * path is that path, nothing climbs above "/", and a bad percent-escape is
 * refused with its position. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "asx_urlpath.h"

/* path normalised, as a string (or "bad N" for a bad escape at N). */
static const char *norm(const char *path) {
  static char out[512], shown[520];
  size_t bad = 0;
  int n = asx_urlpath_normalize(path, strlen(path), out, &bad);
  if (n < 0) {
    assert_int_equal(n, ASX_E_ARG);
    snprintf(shown, sizeof shown, "bad %zu", bad);
    return shown;
  }
  assert_true((size_t)n <= strlen(path) + 2);
  snprintf(shown, sizeof shown, "%.*s", n, out);
  return shown;
}

static void test_dot_segments(void **state) {
  (void)state;
  assert_string_equal(norm("/api/book"), "/api/book");
  assert_string_equal(norm("/api/./book"), "/api/book");
  assert_string_equal(norm("/api/../api/book"), "/api/book");
  assert_string_equal(norm("/api/x/y/../../book"), "/api/book");
  assert_string_equal(norm("/../../etc/passwd"), "/etc/passwd");
  assert_string_equal(norm("/.."), "/");
  assert_string_equal(norm("/api/.."), "/");
  assert_string_equal(norm("/api/."), "/api/");
  assert_string_equal(norm("/api/"), "/api/");
  assert_string_equal(norm("/"), "/");
  assert_string_equal(norm(""), "/");
  assert_string_equal(norm("*"), "/*");
  /* Only whole segments are dots. */
  assert_string_equal(norm("/a../.b/..."), "/a../.b/...");
}

static void test_empty_segments_merge(void **state) {
  (void)state;
  assert_string_equal(norm("//api/book"), "/api/book");
  assert_string_equal(norm("/api//book"), "/api/book");
  assert_string_equal(norm("///"), "/");
  assert_string_equal(norm("/api//"), "/api/");
}

static void test_percent_escapes(void **state) {
  (void)state;
  /* Unreserved characters decoded, dots among them before dot segments go. */
  assert_string_equal(norm("/api/%62ook"), "/api/book");
  assert_string_equal(norm("/api/%2e%2E/api/book"), "/api/book");
  assert_string_equal(norm("/%7e%2D%5f"), "/~-_");
  /* Reserved and other characters stay escaped, in upper case: "%2f" is no
   * segment break. */
  assert_string_equal(norm("/api%2fbook"), "/api%2Fbook");
  assert_string_equal(norm("/a%20b"), "/a%20b");
  assert_string_equal(norm("/%c3%a9"), "/%C3%A9");
  assert_string_equal(norm("/api/%zz"), "bad 6");
  assert_string_equal(norm("/api/%4"), "bad 6");
  assert_string_equal(norm("/api/%"), "bad 6");
  assert_string_equal(norm("/%41%g1"), "bad 5");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dot_segments),
      cmocka_unit_test(test_empty_segments_merge),
      cmocka_unit_test(test_percent_escapes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
