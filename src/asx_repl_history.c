/* The line reader's history file (asx_repl_int.h lists the
 * reader's files).
 *
 * We keep our own copy of the last ASX_REPL_HISTORY_MAX lines, and the file
 * holds one plain line per entry. Each line typed is appended with one
 * write(2), so a long history costs nothing per line, and a crash or a kill
 * loses at most that line (a write that fails part way is cut back). The
 * file is cut back to the last ASX_REPL_HISTORY_MAX lines, from our copy,
 * when it reaches twice that and when the reader closes: written to a
 * temporary file, then renamed, so that the old file stays whole until the
 * new one is. The temporary file is created 0600 and given the old file's
 * mode before the rename, and a history path that is a symbolic link is
 * followed, so the link survives. A file that cannot be written (a full
 * disk, no permission) is said once on stderr and left as it is: nothing
 * more is saved in this session. Only a regular file is read (a device
 * such as /dev/full would never end). libedit gets the same lines through
 * add_history for Up/Down and Ctrl-R.
 */
#include "asx_repl_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <editline/readline.h>

#include "asx_fmt.h"

static int history_push(asx_repl *r, const char *line) {
  char *copy;
  size_t last;
  if (r->hist_n > 0) {
    last = (r->hist_first + r->hist_n - 1) % ASX_REPL_HISTORY_MAX;
    if (strcmp(r->hist[last], line) == 0)
      return 0; /* Up after a repeated command should not show it twice. */
  }
  if ((copy = strdup(line)) == NULL)
    return -1;
  if (r->hist_n == ASX_REPL_HISTORY_MAX) {
    free(r->hist[r->hist_first]);
    r->hist[r->hist_first] = copy;
    r->hist_first = (r->hist_first + 1) % ASX_REPL_HISTORY_MAX;
  } else {
    r->hist[(r->hist_first + r->hist_n) % ASX_REPL_HISTORY_MAX] = copy;
    r->hist_n++;
  }
  add_history(line);
  return 1;
}

void asx__repl_history_load(asx_repl *r) {
  FILE *f;
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  struct stat st;
  if (!r->history_path || (f = fopen(r->history_path, "r")) == NULL)
    return;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    fclose(f);
    return;
  }
  while ((n = getline(&line, &cap, f)) >= 0) {
    r->hist_file_lines++;
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
      line[--n] = '\0';
    if (n > 0)
      history_push(r, line);
  }
  free(line);
  fclose(f);
}

/* Where the history really goes: the file a symbolic link points at, so
 * that the rename replaces the file and not the link. Returns a malloc'd
 * path, or NULL when out of memory. */
static char *history_target(const char *path) {
  char *real = realpath(path, NULL);
  return real ? real : strdup(path);
}

/* Rewrites the file with the lines we keep; 0, or -1 with errno set (the
 * old file is then as it was). */
static int history_save(asx_repl *r) {
  char *target, *tmp = NULL;
  size_t n, i;
  struct stat st;
  mode_t mode = 0600;
  FILE *f = NULL;
  int fd, ok, rc = -1;
  if ((target = history_target(r->history_path)) == NULL)
    return -1;
  n = strlen(target) + 24;
  if ((tmp = malloc(n)) == NULL)
    goto out;
  snprintf(tmp, n, "%s.%ld.tmp", target, (long)getpid());
  if (stat(target, &st) == 0)
    mode = st.st_mode & 07777;
  /* O_NOFOLLOW: a link planted at the temporary name must not make us
   * write elsewhere. The mode is set again with fchmod, because open's is
   * cut by the umask and a leftover file keeps its own. */
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    goto out;
  if (fchmod(fd, mode) != 0 || (f = fdopen(fd, "w")) == NULL) {
    close(fd);
    (void)unlink(tmp);
    goto out;
  }
  ok = 1;
  for (i = 0; i < r->hist_n && ok; i++)
    ok = fprintf(f, "%s\n", r->hist[(r->hist_first + i) %
                                    ASX_REPL_HISTORY_MAX]) >= 0;
  ok = (fclose(f) == 0) && ok;
  if (ok && rename(tmp, target) == 0) {
    rc = 0;
    r->hist_file_lines = r->hist_n;
  } else {
    int e = errno;
    (void)unlink(tmp);
    errno = e;
  }
out:
  free(tmp);
  free(target);
  return rc;
}

/* The one warning of a history that cannot be saved; nothing more is
 * written to the file in this session. */
static void history_failed(asx_repl *r, int err) {
  char msg[256];
  const char *path = r->history_path;
  r->hist_broken = 1;
  snprintf(msg, sizeof msg, "asx: cannot save the history in '");
  asx_fmt_terminal_write(2, msg, strlen(msg));
  asx_fmt_terminal_write(2, path, strlen(path));
  snprintf(msg, sizeof msg, "': %s (the file is left as it was; no more lines are saved in it)\n",
           strerror(err));
  asx_fmt_terminal_write(2, msg, strlen(msg));
}

/* Appends one line with one write; a write that stops part way is cut
 * back, so that the file holds whole lines only. 0, or -1 with errno. */
static int history_append(asx_repl *r, const char *line) {
  size_t len = strlen(line);
  char *buf;
  struct stat st;
  ssize_t n;
  int fd, e;
  fd = open(r->history_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return -1;
  if ((buf = malloc(len + 1)) == NULL) {
    close(fd);
    errno = ENOMEM;
    return -1;
  }
  memcpy(buf, line, len);
  buf[len] = '\n';
  if (fstat(fd, &st) != 0)
    st.st_size = -1;
  n = write(fd, buf, len + 1);
  e = n < 0 ? errno : ENOSPC;
  free(buf);
  if (n != (ssize_t)(len + 1)) {
    if (n > 0 && st.st_size >= 0 && S_ISREG(st.st_mode) && ftruncate(fd, st.st_size) != 0) {
      /* The torn line stays: nothing more can be done about it. */
    }
    close(fd);
    errno = e;
    return -1;
  }
  if (close(fd) != 0)
    return -1;
  r->hist_file_lines++;
  return 0;
}

void asx__repl_history_add(asx_repl *r, const char *line) {
  if (line[strspn(line, " \t")] == '\0' || !r->history_path ||
      history_push(r, line) <= 0 || r->hist_broken)
    return;
  if (history_append(r, line) != 0 ||
      (r->hist_file_lines >= 2 * ASX_REPL_HISTORY_MAX && history_save(r) != 0))
    history_failed(r, errno);
}

void asx__repl_history_close(asx_repl *r) {
  if (r->history_path && !r->hist_broken &&
      r->hist_file_lines > ASX_REPL_HISTORY_MAX && history_save(r) != 0)
    history_failed(r, errno);
}

void asx__repl_history_free(asx_repl *r) {
  for (size_t i = 0; i < r->hist_n; i++)
    free(r->hist[(r->hist_first + i) % ASX_REPL_HISTORY_MAX]);
  free(r->history_path);
}
