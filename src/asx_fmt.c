/* Numbers and text as asx's files hold them: the one number formatter, which
 * the event encoders (asx_event.c) and the Lua ones (lua/asx/event.lua) both
 * call, so that the same event reads the same whichever wrote it, and the
 * cleaning that keeps every file valid UTF-8 whatever bytes a message has,
 * and the escaping of control characters in what asx writes to a terminal.
 */
#include "asx_fmt.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- number formatting ------------------------------------------------ */

int asx_fmt_int64(char *buf, int64_t v) {
  /* Two digits per division: half the divisions, and rows are mostly
   * integers. */
  static const char pairs[201] =
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
      "8081828384858687888990919293949596979899";
  char tmp[24];
  int n = 24;
  /* Work in unsigned so that INT64_MIN negates without overflow. */
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  while (u >= 100) {
    unsigned d = (unsigned)(u % 100) * 2;
    u /= 100;
    tmp[--n] = pairs[d + 1];
    tmp[--n] = pairs[d];
  }
  if (u >= 10) {
    tmp[--n] = pairs[u * 2 + 1];
    tmp[--n] = pairs[u * 2];
  } else {
    tmp[--n] = (char)('0' + u);
  }
  int len = 0;
  if (v < 0) buf[len++] = '-';
  memcpy(buf + len, tmp + n, (size_t)(24 - n));
  len += 24 - n;
  buf[len] = '\0';
  return len;
}

/* The shortest of 15, 16 or 17 significant digits that reads back as v, in
 * %g's fixed form, for 1e-4 <= |v| < 1e15, where session times live.
 * printf and strtod do this exactly but slowly (about 0.7 us for the three
 * tries, most of a CSV row's cost), so it is done here in exact integer
 * arithmetic: |v| = M / 2^s with M < 2^53 and 3 <= s <= 66, so M * 10^k and
 * m * 2^s fit in 128 bits for the k <= 21 and m < 10^17 used. The digits m
 * are M * 10^k / 2^s rounded half to even, as glibc's printf rounds, and
 * m / 10^k reads back as v when it lies within half the gap to each
 * neighbouring double. Returns 0 outside that range. */
static int fmt_fixed_fast(char *buf, double v) {
  typedef unsigned __int128 u128;
  static const uint64_t p10[20] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
    100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL,
    10000000000000ULL, 100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
    100000000000000000ULL, 1000000000000000000ULL, 10000000000000000000ULL};
  double a = fabs(v);
  if (!(a >= 1e-4 && a < 1e15)) return 0;
  int ex;
  uint64_t M = (uint64_t)ldexp(frexp(a, &ex), 53);
  int s = 53 - ex;
  if (s < 1 || s > 66) return 0;
  /* The decimal exponent, exactly: 1e0..1e14 are exact doubles, and the
   * doubles nearest 1e-1..1e-4 lie above them, so a >= pow10d[e] says
   * a >= 10^e of the real numbers too. */
  static const double pow10d[19] = {1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2, 1e3, 1e4, 1e5,
                                    1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14};
  int e = 14;
  while (a < pow10d[e + 4]) e--;
  for (int p = 15; p <= 17; p++) {
    int k = p - 1 - e; /* 0..21 */
    u128 tenk = k < 20 ? (u128)p10[k] : (u128)p10[19] * p10[k - 19];
    u128 P = (u128)M * tenk;
    u128 q = P >> s, r = P & (((u128)1 << s) - 1), half = (u128)1 << (s - 1);
    /* m has p digits, or is 10^p when the rounding carried: 9.99.. -> 10. */
    uint64_t m = (uint64_t)q + (r > half || (r == half && (q & 1)));
    u128 ms = (u128)m << s;
    u128 diff = ms > P ? ms - P : P - ms;
    /* Below a power of two the gap to the lower neighbour is half as big. */
    int ok = (ms < P && M == (1ULL << 52)) ? 4 * diff < tenk : 2 * diff < tenk;
    if (!ok) continue;
    char digits[24];
    int nd = asx_fmt_int64(digits, (int64_t)m);
    int n = 0;
    if (v < 0) buf[n++] = '-';
    int intlen = nd - k;
    if (intlen > 0) {
      memcpy(buf + n, digits, (size_t)intlen);
      n += intlen;
    } else {
      buf[n++] = '0';
    }
    int point = n;
    buf[n++] = '.';
    for (int z = intlen; z < 0; z++) buf[n++] = '0';
    for (int i = intlen > 0 ? intlen : 0; i < nd; i++) buf[n++] = digits[i];
    while (n > point + 1 && buf[n - 1] == '0') n--;
    if (n == point + 1) n = point; /* nothing after the point */
    buf[n] = '\0';
    return n;
  }
  return 0;
}

int asx_fmt_double(char *buf, double v) {
  if (isnan(v)) {
    memcpy(buf, "nan", 4);
    return 3;
  }
  if (isinf(v)) {
    if (v < 0) {
      memcpy(buf, "-inf", 5);
      return 4;
    }
    memcpy(buf, "inf", 4);
    return 3;
  }
  if (v == floor(v) && fabs(v) <= 9007199254740992.0)
    return asx_fmt_int64(buf, (int64_t)v);
  /* An integer beyond 2^53 (every double there is one) in all its digits
   * below 1e21, as JavaScript writes it too (the report and the live page
   * read these files), rather than 1.152921504606847e+18: a reader sees an
   * integer, and glibc's %.0f is exact, so it reads back as v. At most 22
   * characters; from 1e21 on, the shortest %g form (1e+21). */
  if (v == floor(v) && fabs(v) < 1e21)
    return snprintf(buf, 32, "%.0f", v);
  int n = fmt_fixed_fast(buf, v);
  if (n) return n;
  /* The shortest of 15, 16 or 17 significant digits that reads back as v:
   * 17 always does, the shorter forms are what people expect to read. Any
   * decimal of at most 15 digits reads back as the one double nearest it,
   * whose %.15g then gives those digits again, so no shorter form exists
   * where 15 is tried first, except below DBL_MIN: a subnormal holds fewer
   * bits, so many decimals of 15 digits read as one (the smallest, 5e-324,
   * written 4.94065645841247e-324), and its shortest may have fewer. */
  for (int prec = fabs(v) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
    n = snprintf(buf, 32, "%.*g", prec, v);
    if (prec == 17 || strtod(buf, NULL) == v) break;
  }
  return n;
}

/* ---- text ------------------------------------------------------------- */

/* The length of the valid UTF-8 sequence at s (1 to 4 bytes, of the len
 * left), or 0 when it is not one; *bad is then the length of its maximal
 * invalid subpart: the lead byte and the continuation bytes that could
 * still have completed it. */
static size_t utf8_seq(const unsigned char *s, size_t len, size_t *bad) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  size_t need;
  unsigned lo = 0x80, hi = 0xBF; /* the range of the second byte */
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    if (c == 0xE0) lo = 0xA0;      /* overlong */
    else if (c == 0xED) hi = 0x9F; /* surrogates */
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    if (c == 0xF0) lo = 0x90;      /* overlong */
    else if (c == 0xF4) hi = 0x8F; /* beyond U+10FFFF */
  } else {
    *bad = 1;
    return 0;
  }
  size_t m = 1;
  if (len > 1 && s[1] >= lo && s[1] <= hi) {
    m = 2;
    while (m <= need && m < len && (s[m] & 0xC0) == 0x80) m++;
  }
  if (m == need + 1) return m;
  *bad = m;
  return 0;
}

size_t asx_fmt_utf8_valid(const char *s, size_t len) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0, bad;
  while (i < len) {
    if (u[i] < 0x80) {
      i++;
      continue;
    }
    size_t n = utf8_seq(u + i, len - i, &bad);
    if (!n) break;
    i += n;
  }
  return i;
}

size_t asx_fmt_utf8(char *out, const char *s, size_t len) {
  size_t i = 0, n = 0;
  while (i < len) {
    size_t ok = asx_fmt_utf8_valid(s + i, len - i);
    memcpy(out + n, s + i, ok);
    n += ok;
    i += ok;
    if (i < len) {
      size_t bad = 1;
      utf8_seq((const unsigned char *)s + i, len - i, &bad);
      memcpy(out + n, "\xEF\xBF\xBD", 3);
      n += 3;
      i += bad;
    }
  }
  return n;
}

/* ---- text for a terminal ------------------------------------------------ */

/* The length of the control character at u[i] (0: none): C0 but a tab and
 * a line break, DEL, and the C1 controls as UTF-8 encodes them (0xC2
 * 0x80 to 0xC2 0x9F), which terminals take as ESC sequences too. A lone
 * byte 0x80 to 0x9F is kept: it is a continuation byte of valid UTF-8. */
static size_t control_len(const unsigned char *u, size_t i, size_t len) {
  unsigned char c = u[i];
  if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
    return 1;
  if (c == 0xC2 && i + 1 < len && u[i + 1] >= 0x80 && u[i + 1] <= 0x9F)
    return 2;
  return 0;
}

size_t asx_fmt_terminal(char *out, const char *s, size_t len) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0, n = 0;
  while (i < len) {
    size_t k = control_len(u, i, len);
    if (k == 0) {
      out[n++] = s[i++];
      continue;
    }
    for (; k > 0; k--, i++) {
      out[n++] = '\\';
      out[n++] = (char)('0' + u[i] / 100);
      out[n++] = (char)('0' + u[i] / 10 % 10);
      out[n++] = (char)('0' + u[i] % 10);
    }
  }
  return n;
}

void asx_fmt_terminal_write(int fd, const char *s, size_t len) {
  char buf[1024];
  while (len > 0) {
    /* Each byte takes at most 4 in the buffer; a C1 control's two are
     * never split, as a piece ends before a 0xC2 at its end. */
    size_t take = len < sizeof buf / 4 ? len : sizeof buf / 4;
    size_t n, off = 0;
    if (take < len && (unsigned char)s[take - 1] == 0xC2)
      take--;
    n = asx_fmt_terminal(buf, s, take);
    while (off < n) {
      ssize_t w = write(fd, buf + off, n - off);
      if (w <= 0)
        return;
      off += (size_t)w;
    }
    s += take;
    len -= take;
  }
}
