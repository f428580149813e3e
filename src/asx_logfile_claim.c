/* One writer per regular file (see asx_logfile_open): the regular files
 * open for logging, shared by every log file of the process and guarded by
 * open_mu, and the questions asked of them before a file is opened.
 */
#include "asx_logfile.h"
#include "asx_logfile_claim.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static pthread_mutex_t open_mu = PTHREAD_MUTEX_INITIALIZER;
static asx__claimed_file *open_files; /* the claimed ones (open_mu) */

int asx__logfile_claim(asx__claimed_file *c, int fd, const char *path, int append) {
  struct stat st;
  if (fstat(fd, &st) != 0) return errno;
  if (!S_ISREG(st.st_mode)) return 0;
  c->path = strdup(path);
  if (!c->path) return ENOMEM;
  int e = 0;
  pthread_mutex_lock(&open_mu);
  for (asx__claimed_file *o = open_files; o; o = o->next)
    if (o->dev == st.st_dev && o->ino == st.st_ino) e = EBUSY;
  /* Truncated only once it is known to be no other log's file. */
  if (!e && !append && ftruncate(fd, 0) != 0) e = errno;
  if (!e) {
    c->claimed = 1;
    c->dev = st.st_dev;
    c->ino = st.st_ino;
    c->next = open_files;
    open_files = c;
  }
  pthread_mutex_unlock(&open_mu);
  return e;
}

void asx__logfile_unclaim(asx__claimed_file *c) {
  if (c->claimed) {
    pthread_mutex_lock(&open_mu);
    asx__claimed_file **pp = &open_files;
    while (*pp != c) pp = &(*pp)->next;
    *pp = c->next;
    pthread_mutex_unlock(&open_mu);
    c->claimed = 0;
  }
  free(c->path);
  c->path = NULL;
}

const char *asx_logfile_holder(const char *path) {
  struct stat st;
  if (!path || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return NULL;
  const char *held = NULL;
  pthread_mutex_lock(&open_mu);
  for (asx__claimed_file *o = open_files; o; o = o->next)
    if (o->dev == st.st_dev && o->ino == st.st_ino) held = o->path;
  pthread_mutex_unlock(&open_mu);
  return held;
}

int asx_logfile_special(const char *path) {
  struct stat st;
  return path && stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}

/* The directory and the last name of path, by identity: the directory's
 * device and inode, and a pointer to the name inside path. 0 or errno. */
static int dir_and_name(const char *path, struct stat *dir, const char **name) {
  const char *slash = strrchr(path, '/');
  *name = slash ? slash + 1 : path;
  size_t n = slash ? (size_t)(slash - path) : 0;
  char *d = malloc(n + 2);
  if (!d) return ENOMEM;
  if (!slash) strcpy(d, ".");
  else if (n == 0) strcpy(d, "/");
  else { memcpy(d, path, n); d[n] = '\0'; }
  int e = stat(d, dir) == 0 ? 0 : errno;
  free(d);
  return e;
}

int asx_logfile_same(const char *a, const char *b) {
  if (!a || !b) return 0;
  struct stat sa, sb;
  int ea = stat(a, &sa), eb = stat(b, &sb);
  if (ea == 0 && eb == 0) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  if (ea == 0 || eb == 0) return 0;
  const char *na, *nb;
  if (dir_and_name(a, &sa, &na) || dir_and_name(b, &sb, &nb)) return 0;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino && strcmp(na, nb) == 0;
}
