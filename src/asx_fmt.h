/* Numbers and text as asx's files hold them (asx_fmt.c). */
#ifndef ASX_FMT_H
#define ASX_FMT_H

#include <stddef.h>
#include <stdint.h>

/* ASX_FFI_BEGIN */
/* Writes v into buf (at least 32 bytes) exactly: an integral value below
 * 1e21 as an integer in all its digits (2^60 as 1152921504606846976), any
 * other finite value in the shortest form that strtod reads back as v
 * (0.1, 1e+21), "nan", "inf" or "-inf" otherwise. Returns the
 * length. This is the one number formatter: the Lua encoders call it too,
 * so the generic path writes the same text as the native one. */
int asx_fmt_double(char *buf, double v);

/* Writes v in decimal into buf (at least 21 bytes); returns the length. */
int asx_fmt_int64(char *buf, int64_t v);

/* Text in files is valid UTF-8, whatever bytes a message holds: every
 * invalid sequence (a stray continuation byte, a truncated or overlong
 * sequence, a surrogate, beyond U+10FFFF) becomes one U+FFFD per maximal
 * invalid subpart, as the WHATWG decoder and Python's "replace" count them.
 * Other bytes, NUL included, are kept. asx_fmt_utf8_valid returns the length
 * of the longest valid prefix of s (len when all of it is valid);
 * asx_fmt_utf8 writes the cleaned text into out (at least 3 * len bytes) and
 * returns its length. */
size_t asx_fmt_utf8_valid(const char *s, size_t len);
size_t asx_fmt_utf8(char *out, const char *s, size_t len);

/* Text that user code chose (an agent's error, a class name), as asx writes
 * it to a terminal: every control character but a tab and a line break (C0,
 * DEL, and the C1 controls U+0080 to U+009F as UTF-8 encodes them) is
 * written as Lua writes its bytes in a string, "\ddd" each ("\027[2J"), so
 * that no such text moves the cursor, clears the screen or retitles the
 * window; every other byte is kept. Writes into out (at least 4 * len
 * bytes) and returns the length. */
size_t asx_fmt_terminal(char *out, const char *s, size_t len);
/* ASX_FFI_END */

/* The same written to file descriptor fd (stderr: 2) with write(2), which
 * a signal handler may call; a write that fails ends it. */
void asx_fmt_terminal_write(int fd, const char *s, size_t len);

#endif
