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

/* Every spelling tried, and what it normalises to as norm shows it. */
static const struct {
  const char *path, *want;
} SPELLINGS[] = {
    /* Dot segments go, and nothing climbs above "/". */
    {"/api/book", "/api/book"}, {"/api/./book", "/api/book"}, {"/api/../api/book", "/api/book"},
    {"/api/x/y/../../book", "/api/book"}, {"/../../etc/passwd", "/etc/passwd"}, {"/..", "/"},
    {"/api/..", "/"}, {"/api/.", "/api/"}, {"/api/", "/api/"}, {"/", "/"}, {"", "/"}, {"*", "/*"},
    /* Only whole segments are dots. */
    {"/a../.b/...", "/a../.b/..."},
    /* Empty segments merge. */
    {"//api/book", "/api/book"}, {"/api//book", "/api/book"}, {"///", "/"}, {"/api//", "/api/"},
    /* Unreserved characters are decoded, dots among them before dot
     * segments go. */
    {"/api/%62ook", "/api/book"}, {"/api/%2e%2E/api/book", "/api/book"}, {"/%7e%2D%5f", "/~-_"},
    /* Reserved and other characters stay escaped, in upper case: "%2f" is
     * no segment break. */
    {"/api%2fbook", "/api%2Fbook"}, {"/a%20b", "/a%20b"}, {"/%c3%a9", "/%C3%A9"},
    /* A bad escape is refused with its position. */
    {"/api/%zz", "bad 6"}, {"/api/%4", "bad 6"}, {"/api/%", "bad 6"}, {"/%41%g1", "bad 5"},
};

static void test_spellings(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof SPELLINGS / sizeof SPELLINGS[0]; i++) {
    assert_string_equal(norm(SPELLINGS[i].path), SPELLINGS[i].want);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_spellings)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
