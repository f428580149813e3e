/* Which regular file a log file writes, so that a second log file of it
 * is refused (internal to asx_logfile.c and asx_logfile_claim.c, which
 * also answers asx_logfile_holder and asx_logfile_same).
 */
#ifndef ASX_LOGFILE_CLAIM_H
#define ASX_LOGFILE_CLAIM_H

#include <sys/types.h>

typedef struct asx__claimed_file {
  int claimed;
  dev_t dev;
  ino_t ino;
  char *path; /* as the log file was opened by; malloc'd */
  struct asx__claimed_file *next;
} asx__claimed_file;

/* Takes the file open as fd, opened by path, for c (zeroed before), and
 * truncates it unless append; 0, or an errno (EBUSY: another log file of
 * this process holds it). Only regular files are claimed: writing
 * /dev/null twice is harmless. */
int asx__logfile_claim(asx__claimed_file *c, int fd, const char *path, int append);
/* Gives the file up; safe on a claim that failed or was never made. */
void asx__logfile_unclaim(asx__claimed_file *c);

#endif
