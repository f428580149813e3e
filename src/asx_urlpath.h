/* asx_urlpath: the path of a request target, normalised for routing, so
 * that every spelling of a path reaches the route it names and none names
 * something outside the routes (`asx-host --http`, src/asx_httpd.c).
 *
 * Normalising follows RFC 3986: a percent-escape of an unreserved character
 * (letters, digits, "-", ".", "_", "~") is decoded and any other is written
 * with upper-case hex digits (section 6.2.2), then "." and ".." segments
 * are removed (remove_dot_segments, section 5.2.4), so that "/api/./book",
 * "/api/../api/book" and "/api/%62ook" are "/api/book" and no ".." climbs
 * above "/". Empty segments are merged too ("//api//book" is "/api/book"),
 * as most servers do: no route has one. A "%" not followed by two hex digits
 * is no path at all. Nothing here knows HTTP or Lua.
 */
#ifndef ASX_URLPATH_H
#define ASX_URLPATH_H

#include <stddef.h>

#include "asx_err.h"

/* Normalises the len bytes of path (the target's path only: its query is
 * the caller's) into out, which has room for len + 2 bytes; the result
 * always starts with "/" and is not NUL-terminated. Returns its length, or
 * ASX_E_ARG when a "%" is not followed by two hex digits, with that "%"'s
 * position (from 1) in *bad. */
int asx_urlpath_normalize(const char *path, size_t len, char *out, size_t *bad);

#endif
