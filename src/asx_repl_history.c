/* The line reader's history file (asx_repl_int.h lists the
 * reader's files).
 *
 * We keep our own copy of the last ASX_REPL_HISTORY_MAX lines and
 * write the file ourselves, one plain line per entry, replacing it after
 * every line (write to a temporary file, then rename) so that a crash or a
 * kill loses nothing and the file never holds more than the limit. The
 * temporary file is created 0600 and given the old file's mode before the
 * rename, and a history path that is a symbolic link is followed, so the
 * link survives. libedit gets the same lines through add_history for
 * Up/Down and Ctrl-R.
 */
#include "asx_repl_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <editline/readline.h>

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
  if (!r->history_path || (f = fopen(r->history_path, "r")) == NULL)
    return;
  while ((n = getline(&line, &cap, f)) >= 0) {
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

/* A failure to save history is not worth interrupting the user for: the
 * session matters more than the record of what was typed. */
static void history_save(asx_repl *r) {
  char *target, *tmp = NULL;
  size_t n, i;
  struct stat st;
  mode_t mode = 0600;
  FILE *f = NULL;
  int fd, ok;
  if ((target = history_target(r->history_path)) == NULL)
    return;
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
  if (!ok || rename(tmp, target) != 0)
    (void)unlink(tmp);
out:
  free(tmp);
  free(target);
}

void asx__repl_history_add(asx_repl *r, const char *line) {
  if (line[strspn(line, " \t")] != '\0' && r->history_path &&
      history_push(r, line) > 0)
    history_save(r);
}

void asx__repl_history_free(asx_repl *r) {
  for (size_t i = 0; i < r->hist_n; i++)
    free(r->hist[(r->hist_first + i) % ASX_REPL_HISTORY_MAX]);
  free(r->history_path);
}
