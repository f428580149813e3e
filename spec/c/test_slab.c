/* Unit tests of the Lua state's allocator (asx_slab): blocks as Lua's
 * allocator interface promises them (aligned, distinct, contents kept
 * through every kind of resize), across chunks, and memory reused by size
 * rather than taken anew. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "asx_slab.h"

/* Fills a block of n bytes with a pattern that depends on seed. */
static void fill(unsigned char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    p[i] = (unsigned char)(seed * 31u + i * 7u);
}

static int holds(const unsigned char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != (unsigned char)(seed * 31u + i * 7u))
      return 0;
  return 1;
}

/* Sizes either side of every boundary the slab has: its 8-byte steps and
 * the largest small block (1024 bytes). */
static const size_t sizes[] = {1, 7, 8, 9, 16, 24, 40, 64, 100, 376, 1023,
                               1024, 1025, 4096, 100000};
#define NSIZES_TESTED (sizeof sizes / sizeof sizes[0])

static void test_blocks_are_aligned_distinct_and_kept(void **state) {
  asx_slab *slab = asx_slab_new();
  unsigned char *p[NSIZES_TESTED * 50];
  size_t n = 0;
  (void)state;
  assert_non_null(slab);
  for (int round = 0; round < 50; round++)
    for (size_t i = 0; i < NSIZES_TESTED; i++, n++) {
      p[n] = asx_slab_alloc(slab, NULL, 0, sizes[i]);
      assert_non_null(p[n]);
      assert_int_equal((uintptr_t)p[n] % 8, 0);
      fill(p[n], sizes[i], (unsigned)n);
    }
  /* Writing every block left every other block as it was. */
  for (size_t k = 0; k < n; k++)
    assert_true(holds(p[k], sizes[k % NSIZES_TESTED], (unsigned)k));
  for (size_t k = 0; k < n; k++)
    assert_null(asx_slab_alloc(slab, p[k], sizes[k % NSIZES_TESTED], 0));
  asx_slab_free(slab);
}

static void test_resizes_keep_contents(void **state) {
  asx_slab *slab = asx_slab_new();
  (void)state;
  /* Every pair of sizes: small to small, small to large and back, large to
   * large, growing and shrinking. */
  for (size_t i = 0; i < NSIZES_TESTED; i++)
    for (size_t j = 0; j < NSIZES_TESTED; j++) {
      size_t a = sizes[i], b = sizes[j], kept = a < b ? a : b;
      unsigned char *p = asx_slab_alloc(slab, NULL, 0, a), *q;
      assert_non_null(p);
      fill(p, a, (unsigned)(i * 100 + j));
      q = asx_slab_alloc(slab, p, a, b);
      assert_non_null(q);
      assert_true(holds(q, kept, (unsigned)(i * 100 + j)));
      asx_slab_alloc(slab, q, b, 0);
    }
  asx_slab_free(slab);
}

static void test_freed_blocks_are_reused_by_size(void **state) {
  asx_slab *slab = asx_slab_new();
  void *p[1000];
  size_t reserved;
  (void)state;
  /* More than one chunk's worth (32 MiB) of small blocks, all alive. */
  enum { MANY = 400000 };
  void **many = malloc(MANY * sizeof *many);
  assert_non_null(many);
  for (int i = 0; i < MANY; i++) {
    many[i] = asx_slab_alloc(slab, NULL, 0, 104);
    assert_non_null(many[i]);
    fill(many[i], 104, (unsigned)i);
  }
  for (int i = 0; i < MANY; i++)
    assert_true(holds(many[i], 104, (unsigned)i));
  for (int i = 0; i < MANY; i++)
    asx_slab_alloc(slab, many[i], 104, 0);
  free(many);
  reserved = asx_slab_reserved(slab);
  /* Blocks freed are taken again for the same size (in any order): a
   * million short-lived blocks later, the slab holds no more memory. */
  for (int round = 0; round < 1000; round++) {
    for (int i = 0; i < 1000; i++)
      p[i] = asx_slab_alloc(slab, NULL, 0, 97 + (size_t)(i % 8));
    for (int i = 0; i < 1000; i++)
      asx_slab_alloc(slab, p[i], 97 + (size_t)(i % 8), 0);
  }
  assert_int_equal(asx_slab_reserved(slab), reserved);
  asx_slab_free(slab);
}

/* A slab has a thread fault in the pages it cuts next, and maps its next
 * chunk ahead: blocks cut meanwhile, in the pages being faulted in and
 * across chunks, keep what was written to them, and the slab holds at most
 * one chunk more than it cut from. */
static void test_large_slab_faults_in_ahead(void **state) {
  asx_slab *slab = asx_slab_new();
  enum { BIG = 160000, SIZE = 1000 }; /* about 153 MiB, five chunks */
  unsigned char **p = malloc(BIG * sizeof *p);
  (void)state;
  assert_non_null(slab);
  assert_non_null(p);
  for (int i = 0; i < BIG; i++) {
    p[i] = asx_slab_alloc(slab, NULL, 0, SIZE);
    assert_non_null(p[i]);
    fill(p[i], SIZE, (unsigned)i);
  }
  for (int i = 0; i < BIG; i++)
    assert_true(holds(p[i], SIZE, (unsigned)i));
  /* Five chunks cut from, and perhaps the sixth mapped ahead. */
  assert_in_range(asx_slab_reserved(slab), (size_t)5 << 25, (size_t)6 << 25);
  free(p);
  asx_slab_free(slab);
}

static void test_freeing_nothing(void **state) {
  asx_slab *slab = asx_slab_new();
  (void)state;
  assert_null(asx_slab_alloc(slab, NULL, 0, 0));
  asx_slab_free(slab);
  asx_slab_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_blocks_are_aligned_distinct_and_kept),
      cmocka_unit_test(test_resizes_keep_contents),
      cmocka_unit_test(test_freed_blocks_are_reused_by_size),
      cmocka_unit_test(test_large_slab_faults_in_ahead),
      cmocka_unit_test(test_freeing_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
