/* Log files that never block the agents: a buffered line writer with its own
 * writer thread, which writes the book's events as CSV rows or JSON lines
 * (encoded by asx_event.h).
 *
 * Why a thread and not uv_fs_write: the file must drain while the virtual
 * clock runs a long batch of agents without returning to the libuv loop, and
 * also in a plain luajit process that never runs a loop at all. A writer
 * thread needs neither, and the agents' thread only ever appends to memory.
 *
 * Buffers. The producer (the agents' thread) appends whole lines to the
 * current chunk and, when a line does not fit, hands the chunk to the writer
 * thread and takes a free one. Only whole chunks of whole lines reach
 * write(2), so a file never ends in half a line, even when the process is
 * killed between two writes. A write that fails part way (a full disk, a
 * file size limit) is cut back to the last whole line it wrote, and from
 * then on the file takes no more lines: it holds a prefix of the log, every
 * line whole, and the counters say exactly how many lines it holds and how
 * many were lost. Memory is bounded: at most max_bytes of chunks
 * exist. When the disk is slower than the exchange for long enough to fill
 * them all, the producer waits for the writer: losing logged events would be
 * worse than slowing down, and a full buffer means the disk cannot keep up
 * anyway. The writer also takes the lines of the chunk being filled once
 * none came for a quarter of a second, whatever the producer is doing, so a
 * file can be followed with tail -f, and a process killed while its agents'
 * thread is idle or stuck loses at most the last quarter second.
 *
 * Threads: every call below is for one thread (the one that owns the
 * exchange); the writer thread is private to this file.
 */
#ifndef ASX_LOGFILE_H
#define ASX_LOGFILE_H

#include <stddef.h>
#include <stdint.h>

#include "asx_event.h"

/* ASX_FFI_BEGIN */
enum {
  ASX_LOG_CSV = 0,   /* one event type, one row per event, no header */
  ASX_LOG_JSONL = 1  /* every event type, one JSON object per line */
};

typedef struct asx_logfile asx_logfile;

/* Counters, for the summary and for tests. Every line given to the file is
 * in exactly one of written, dropped, or still queued (lines - written -
 * dropped, zero after a flush). */
typedef struct asx_logfile_stats {
  int64_t lines;   /* lines given to the file */
  int64_t dropped; /* lines lost because the file could not be written */
  int64_t bytes;   /* bytes given to the file, whole lines only */
  int64_t flushed; /* bytes that reached the file */
  int64_t written; /* lines that reached the file, whole */
} asx_logfile_stats;

/* Opens (truncates, or appends to when append is non-zero) path and starts
 * its writer thread. max_bytes bounds the memory of its buffers (0: 64 MiB;
 * at least two chunks). Returns 0 and the log file in *out, which the caller
 * owns and must end with asx_logfile_close. Else it returns ASX_E_ARG (an
 * empty path), ASX_E_IO (the file cannot be opened; errno is kept from the
 * failing call), ASX_E_STATE or ASX_E_NOMEM, with a static reason in *err.
 * A regular file that another open log file of this process already
 * writes, by whatever path, is refused with ASX_E_STATE (errno EBUSY, and
 * nothing truncated): two writers would interleave or overwrite each
 * other's lines. */
int asx_logfile_open(const char *path, int append, size_t max_bytes, asx_logfile **out,
                     const char **err);

/* The path an open log file was opened by, when it is the same regular file
 * as path (same device and inode); NULL when there is none. The text
 * belongs to that log file and lives until it is closed. */
const char *asx_logfile_holder(const char *path);

/* 1 when path names an existing file that is neither a regular file nor a
 * directory, following symbolic links: a device (/dev/stdout, /dev/null),
 * a pipe or a socket, which a file written whole must be written into
 * rather than replaced by a rename. 0 otherwise. */
int asx_logfile_special(const char *path);

/* 1 when paths a and b name the same file: the same device and inode when
 * both exist, else the same name in the same directory (a file open() would
 * create). For checking a set of paths before any is opened, and truncated. */
int asx_logfile_same(const char *a, const char *b);

/* Sets how the book's events are written by asx_logfile_events: format is
 * ASX_LOG_CSV or ASX_LOG_JSONL; for CSV, type is the one ASX_EV_* type the
 * file holds. 0 or ASX_E_ARG. */
int asx_logfile_set_format(asx_logfile *lf, int format, int type);

/* The session id written in every row: a number (is_string 0, the text of
 * the number) or a string of len bytes, any bytes (quoted and cleaned as
 * asx_event_fmt_session says). The text is copied. NULL means no
 * session: an empty CSV field, null in JSON (the default). 0, or
 * ASX_E_ARG (longer than ASX_EVENT_SESSION_MAX, or an empty number). */
int asx_logfile_set_session(asx_logfile *lf, const char *session, size_t len, int is_string);

/* Appends len bytes, which must be whole lines (ending in '\n'). Returns 0,
 * ASX_E_ARG (not a whole line), ASX_E_IO (the file failed earlier;
 * the lines are counted as dropped) or ASX_E_CLOSED. */
int asx_logfile_write(asx_logfile *lf, const char *text, size_t len);

/* Formats and appends the events the file holds (see set_format); events of
 * other types are skipped. Returns how many lines were appended, or a
 * negative ASX_LOG_E* code. */
int64_t asx_logfile_events(asx_logfile *lf, const asx_event *events, size_t n);

/* Waits until everything appended so far is in the file. The wait is the
 * caller's choice (at a stop or a checkpoint), never forced on the agents.
 * 0, or ASX_E_IO when some write failed (see asx_logfile_error). */
int asx_logfile_flush(asx_logfile *lf);

/* Flushes, stops the writer thread, closes the file and frees lf. Returns
 * what asx_logfile_flush returned, or ASX_E_IO when close(2) failed. */
int asx_logfile_close(asx_logfile *lf);

void asx_logfile_stats_get(const asx_logfile *lf, asx_logfile_stats *out);

/* The strerror text of the first write error, or NULL when none. */
const char *asx_logfile_error(const asx_logfile *lf);

/* ASX_FFI_END */

/* For a process about to _exit (a forced quit): no writer of any log file
 * starts another write, and the call waits, at most max_seconds, for the
 * writes under way to end, so that the exit cuts no line in two. A write
 * cut by the exit would stop at a page boundary, anywhere in a line.
 * Async-signal-safe; the log files take no more writes afterwards. */
void asx_logfile_quiesce(double max_seconds);

#endif
