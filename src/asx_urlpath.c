/* asx_urlpath: see asx_urlpath.h.
 *
 * One pass over the input, one segment at a time: out holds "/" and the
 * segments kept so far, each followed by "/", so that ".." drops back to the
 * "/" before the last one, and the segment being read is decoded straight
 * after them. The output never grows past the input and two bytes (a
 * missing leading "/" and the "/" after the last segment). */
#include "asx_urlpath.h"

static int hex(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static int unreserved(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

int asx_urlpath_normalize(const char *path, size_t len, char *out, size_t *bad) {
  static const char digits[] = "0123456789ABCDEF";
  size_t i = 0, n = 1, seg;
  out[0] = '/';
  if (len > 0 && path[0] == '/')
    i = 1;
  for (;;) {
    /* Decode one segment, up to the next "/" or the end, after out[0..n). */
    int last;
    seg = n;
    while (i < len && path[i] != '/') {
      int hi, lo, c;
      if (path[i] != '%') {
        out[n++] = path[i++];
        continue;
      }
      if (i + 2 >= len || (hi = hex(path[i + 1])) < 0 || (lo = hex(path[i + 2])) < 0) {
        *bad = i + 1;
        return ASX_E_ARG;
      }
      c = hi << 4 | lo;
      if (unreserved(c)) {
        out[n++] = (char)c;
      } else {
        out[n++] = '%';
        out[n++] = digits[hi];
        out[n++] = digits[lo];
      }
      i += 3;
    }
    last = i >= len;
    if (n - seg == 2 && out[seg] == '.' && out[seg + 1] == '.') {
      /* Back to the "/" before the last segment kept, if any. */
      n = seg - 1;
      while (n > 0 && out[n - 1] != '/')
        n--;
      if (n == 0)
        n = 1;
    } else if (n - seg == 1 && out[seg] == '.') {
      n = seg;
    } else if (n > seg && !last) {
      out[n++] = '/';
    }
    if (last)
      return (int)n;
    i++; /* the "/" */
  }
}
