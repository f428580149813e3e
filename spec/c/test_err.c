/* Unit tests of the core's error codes: one list, distinct negative codes,
 * each with its message and name, and a fallback for anything else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "asx_err.h"

static void test_codes_are_distinct_and_negative(void **state) {
  static const int codes[] = {
#define XX(name, code, message) ASX_E_##name,
      ASX_ERRNO_MAP(XX)
#undef XX
  };
  size_t n = sizeof codes / sizeof codes[0], i, j;
  (void)state;
  for (i = 0; i < n; i++) {
    assert_true(codes[i] < 0);
    for (j = i + 1; j < n; j++)
      assert_int_not_equal(codes[i], codes[j]);
  }
}

static void test_messages_and_names(void **state) {
  (void)state;
  assert_string_equal(asx_strerror(ASX_E_ARG), "bad argument");
  assert_string_equal(asx_strerror(ASX_E_NOMEM), "out of memory");
  assert_string_equal(asx_strerror(ASX_E_BADF), "bad file descriptor");
  assert_string_equal(asx_err_name(ASX_E_NOMEM), "ASX_E_NOMEM");
  assert_string_equal(asx_err_name(ASX_E_CLOSED), "ASX_E_CLOSED");
  /* The codes that used to collide across modules now differ. */
  assert_string_equal(asx_err_name(ASX_E_IO), "ASX_E_IO");
  assert_string_equal(asx_err_name(ASX_E_STATE), "ASX_E_STATE");
}

static void test_unknown_codes(void **state) {
  (void)state;
  assert_string_equal(asx_strerror(0), "unknown error");
  assert_string_equal(asx_strerror(-1000), "unknown error");
  assert_string_equal(asx_err_name(1), "ASX_E_UNKNOWN");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_codes_are_distinct_and_negative),
      cmocka_unit_test(test_messages_and_names),
      cmocka_unit_test(test_unknown_codes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
