/* A libFuzzer target for the text that asx writes from bytes user code
 * chose (`make fuzz-c`, beside fuzz_book.c): the input is a session id of
 * any bytes (an error text, a class name are the same kind of text), and
 * after each encoding it checks, with readers of its own, what the files and
 * the terminal rely on:
 *   - asx_fmt_utf8 writes valid UTF-8, at most 3 bytes per input byte, and
 *     valid input unchanged; asx_fmt_utf8_valid agrees with the reader here;
 *   - asx_fmt_terminal writes no control character but tab and line break
 *     (no C0, DEL or C1 as UTF-8 encodes them), at most 4 bytes per input
 *     byte, and asx_fmt_terminal_write writes the same bytes, whatever the
 *     pieces it cuts the text into;
 *   - an event with that session, in CSV, is one RFC 4180 row whose session
 *     field reads back as the cleaned text; in JSON, one line whose session
 *     string reads back so; in line protocol, a point whose tags InfluxDB
 *     can read (no line break, no separator taken as escaped by a backslash
 *     before it);
 *   - asx_fmt_double, on the input's first 8 bytes as a double, writes text
 *     that strtod reads back as the same value.
 * A broken rule aborts with a message; the sanitizers catch the rest. */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "asx_book.h"
#include "asx_event.h"
#include "asx_fmt.h"

#define MAX_TEXT 4096

static void fail(const char *what) {
  fprintf(stderr, "fuzz_text: %s\n", what);
  abort();
}

/* The length of the valid UTF-8 sequence at s[i], or 0: the reader of its
 * own (RFC 3629: no overlong form, no surrogate, nothing past U+10FFFF). */
static size_t utf8_at(const unsigned char *s, size_t i, size_t len) {
  unsigned char c = s[i];
  size_t n;
  unsigned lo = 0x80, hi = 0xBF;
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    n = 2;
  else if (c >= 0xE0 && c <= 0xEF)
    n = 3;
  else if (c >= 0xF0 && c <= 0xF4)
    n = 4;
  else
    return 0;
  if (i + n > len)
    return 0;
  if (c == 0xE0)
    lo = 0xA0;
  else if (c == 0xED)
    hi = 0x9F;
  else if (c == 0xF0)
    lo = 0x90;
  else if (c == 0xF4)
    hi = 0x8F;
  if (s[i + 1] < lo || s[i + 1] > hi)
    return 0;
  for (size_t k = 2; k < n; k++)
    if (s[i + k] < 0x80 || s[i + k] > 0xBF)
      return 0;
  return n;
}

static size_t valid_prefix(const char *text, size_t len) {
  const unsigned char *s = (const unsigned char *)text;
  size_t i = 0, n;
  while (i < len && (n = utf8_at(s, i, len)) > 0)
    i += n;
  return i;
}

static void check_utf8(const char *s, size_t len, char *clean, size_t *clean_len) {
  size_t valid = valid_prefix(s, len);
  if (asx_fmt_utf8_valid(s, len) != valid)
    fail("asx_fmt_utf8_valid disagrees with the reader");
  *clean_len = asx_fmt_utf8(clean, s, len);
  if (*clean_len > 3 * len)
    fail("asx_fmt_utf8 wrote more than 3 bytes per byte");
  if (valid_prefix(clean, *clean_len) != *clean_len)
    fail("asx_fmt_utf8 wrote invalid UTF-8");
  if (valid == len && (*clean_len != len || memcmp(clean, s, len) != 0))
    fail("asx_fmt_utf8 changed valid text");
}

static void check_terminal(const char *s, size_t len) {
  static char out[4 * MAX_TEXT], written[4 * MAX_TEXT + 1];
  static int fd = -1;
  size_t n = asx_fmt_terminal(out, s, len);
  if (n > 4 * len)
    fail("asx_fmt_terminal wrote more than 4 bytes per byte");
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)out[i];
    if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7F)
      fail("asx_fmt_terminal let a C0 control or DEL through");
    if (c == 0xC2 && i + 1 < n && (unsigned char)out[i + 1] >= 0x80 &&
        (unsigned char)out[i + 1] <= 0x9F)
      fail("asx_fmt_terminal let a C1 control through");
  }
  if (fd < 0 && (fd = memfd_create("fuzz_text", 0)) < 0)
    fail("memfd_create");
  if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
    fail("cannot reset the memfd");
  asx_fmt_terminal_write(fd, s, len);
  ssize_t got = pread(fd, written, sizeof written, 0);
  if (got != (ssize_t)n || memcmp(written, out, n) != 0)
    fail("asx_fmt_terminal_write wrote other bytes than asx_fmt_terminal");
}

/* The second field of a CSV row (the session), unquoted by RFC 4180; the
 * row must be exactly one record ending in its newline. */
static void check_csv(const char *row, size_t len, const char *want, size_t want_len) {
  static char field[MAX_TEXT * 3 + 1];
  size_t i = 0, k = 0, f = 0;
  int quoted = 0;
  if (len == 0 || row[len - 1] != '\n')
    fail("a CSV row does not end in a newline");
  len--; /* the row's own end */
  for (; i < len; i++) {
    char c = row[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < len && row[i + 1] == '"') {
          if (f == 1) field[k++] = '"';
          i++;
        } else {
          quoted = 0;
        }
      } else if (f == 1) {
        field[k++] = c;
      }
    } else if (c == ',') {
      f++;
    } else if (c == '"') {
      if (i == 0 || row[i - 1] != ',')
        fail("a quote in the middle of an unquoted CSV field");
      quoted = 1;
    } else if (c == '\n' || c == '\r') {
      fail("a line break outside quotes in a CSV row");
    } else if (f == 1) {
      field[k++] = c;
    }
  }
  if (quoted)
    fail("an unterminated quoted CSV field");
  if (k != want_len || memcmp(field, want, k) != 0)
    fail("the CSV session field does not read back as the cleaned text");
}

/* The JSON string after "session": in a line, decoded. */
static void check_json(const char *line, size_t len, const char *want, size_t want_len) {
  static char s[MAX_TEXT * 3 + 1];
  static const char key[] = "\"session\":\"";
  size_t k = 0;
  const char *p = memmem(line, len, key, sizeof key - 1), *end = line + len;
  if (len == 0 || line[len - 1] != '\n' || memchr(line, '\n', len - 1))
    fail("a JSON line is not one line");
  if (valid_prefix(line, len) != len)
    fail("a JSON line is not valid UTF-8");
  if (!p)
    fail("a JSON line without its session string");
  for (p += sizeof key - 1; p < end && *p != '"'; p++) {
    unsigned char c = (unsigned char)*p;
    if (c < 0x20)
      fail("a raw control character in a JSON string");
    if (c != '\\') {
      s[k++] = (char)c;
      continue;
    }
    if (++p >= end)
      fail("a JSON string ends in a backslash");
    switch (*p) {
    case '"': s[k++] = '"'; break;
    case '\\': s[k++] = '\\'; break;
    case '/': s[k++] = '/'; break;
    case 'b': s[k++] = '\b'; break;
    case 'f': s[k++] = '\f'; break;
    case 'n': s[k++] = '\n'; break;
    case 'r': s[k++] = '\r'; break;
    case 't': s[k++] = '\t'; break;
    case 'u': {
      unsigned v = 0;
      if (end - p < 5 || sscanf(p + 1, "%4x", &v) != 1 || v >= 0x80)
        fail("a \\u escape the checker does not expect");
      s[k++] = (char)v;
      p += 4;
      break;
    }
    default:
      fail("a bad escape in a JSON string");
    }
  }
  if (p >= end)
    fail("an unterminated JSON string");
  if (k != want_len || memcmp(s, want, k) != 0)
    fail("the JSON session string does not read back as the cleaned text");
}

/* A point's measurement and tags as InfluxDB 1.x scans them: a separator
 * (comma, space, equals) is escaped when the byte before it is a
 * backslash, whatever came before that; the tags end at the first
 * unescaped space, and every tag is key=value with neither empty. */
static void check_line(const char *p, size_t len) {
  size_t i = 0;
  if (memchr(p, '\n', len))
    fail("a line break inside a point");
#define ESCAPED(i) ((i) > 0 && p[(i) - 1] == '\\')
  while (i < len && !((p[i] == ',' || p[i] == ' ') && !ESCAPED(i)))
    i++;
  while (i < len && p[i] == ',') {
    size_t key = ++i, eq;
    while (i < len && !(p[i] == '=' && !ESCAPED(i))) {
      if ((p[i] == ',' || p[i] == ' ') && !ESCAPED(i))
        fail("a tag without '='");
      i++;
    }
    if (i == len || i == key)
      fail("a tag without a key or '='");
    eq = i++;
    while (i < len && !((p[i] == ',' || p[i] == ' ' || p[i] == '=') && !ESCAPED(i)))
      i++;
    if (i == eq + 1)
      fail("a tag with an empty value");
    if (i < len && p[i] == '=')
      fail("an unescaped '=' in a tag value");
  }
  if (i == len || p[i] != ' ')
    fail("the tags do not end in a space before the fields");
#undef ESCAPED
}

static void check_double(const uint8_t *data, size_t size) {
  char buf[32];
  double v, back;
  if (size < sizeof v)
    return;
  memcpy(&v, data, sizeof v);
  int n = asx_fmt_double(buf, v);
  if (n <= 0 || n >= (int)sizeof buf)
    fail("asx_fmt_double wrote no text, or too much");
  buf[n] = '\0';
  back = strtod(buf, NULL);
  if (isnan(v) ? !isnan(back) : back != v)
    fail("asx_fmt_double's text does not read back as its value");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char clean[3 * MAX_TEXT];
  static char line[65536];
  const char *s = (const char *)data;
  size_t len = size < MAX_TEXT ? size : MAX_TEXT, clean_len;
  asx_event e;
  asx_event_fmt f;

  check_utf8(s, len, clean, &clean_len);
  check_terminal(s, len);
  check_double(data, size);

  /* A trade with the input as its session id (as much as one may hold). */
  memset(&e, 0, sizeof e);
  e.type = ASX_EV_TRADE;
  e.time = 1.5;
  e.price = 7;
  e.amount = 1;
  e.trader = 1;
  e.trader2 = 2;
  e.instrument_name = "STOCK";
  size_t slen = len < ASX_EVENT_SESSION_MAX ? len : ASX_EVENT_SESSION_MAX;
  check_utf8(s, slen, clean, &clean_len);
  for (int format = ASX_EVENT_CSV; format <= ASX_EVENT_LINE; format++) {
    asx_event_fmt_init(&f, format);
    if (asx_event_fmt_session(&f, s, slen, 1) != 0)
      fail("asx_event_fmt_session refused a session of at most ASX_EVENT_SESSION_MAX bytes");
    if (asx_event_max_len(&f) > sizeof line)
      fail("an event longer than the checker's buffer");
    size_t n = (size_t)(asx_event_encode(&f, line, &e) - line);
    if (n > asx_event_max_len(&f))
      fail("asx_event_encode wrote past asx_event_max_len");
    if (format == ASX_EVENT_CSV)
      check_csv(line, n, clean, clean_len);
    else if (format == ASX_EVENT_JSON)
      check_json(line, n, clean, clean_len);
    else
      check_line(line, n);
  }
  return 0;
}
