/* The error codes of the asx core: one list for every module.
 *
 * A core call that can fail returns a negative code from this list (zero or
 * a count when it succeeds), and where it has more to say, a static message
 * in a `const char **err` out-parameter. Codes are negative so that a
 * function returning a count can return an error in the same int.
 * asx_strerror gives a code's message and asx_err_name its name; the
 * bindings use them, and Lua sees the codes as C.ASX_E_* through the FFI.
 *
 * Constructors follow the same rule. One that can fail for a reason the
 * caller must tell apart (a bad option, a file that cannot be opened)
 * returns 0 or a code, hands the new object through an out-parameter
 * (NULL on failure) and says why in *err: asx_logfile_open, asx_influx_new,
 * asx_http_new, asx_httpd_open, asx_repl_open. One that can only run out of
 * memory, or be misused, returns the object or NULL, as malloc does:
 * asx_book_new, asx_sched_new, asx_pool_new, asx_wakeq_new.
 *
 * The list is written once, as an X-macro (libuv's UV_ERRNO_MAP): each
 * XX(name, code, message) entry makes ASX_E_<name> and a case of each
 * function below. A new code is one more line here. */
#ifndef ASX_ERR_H
#define ASX_ERR_H

#define ASX_ERRNO_MAP(XX)                                                      \
  XX(ARG, -1, "bad argument")                                                  \
  XX(OVERFLOW, -2, "a price level's total would pass 2^53 - 1")                \
  XX(NOMEM, -3, "out of memory")                                               \
  XX(STATE, -4, "not possible in the current state")                           \
  XX(IO, -5, "input/output error")                                             \
  XX(CLOSED, -6, "closed")                                                     \
  XX(BADF, -7, "bad file descriptor")

enum {
#define XX(name, code, message) ASX_E_##name = code,
  ASX_ERRNO_MAP(XX)
#undef XX
};

/* The message for err, a static string; "unknown error" for a code not in
 * the list. */
const char *asx_strerror(int err);
/* The name of err ("ASX_E_NOMEM"), a static string; "ASX_E_UNKNOWN" for a
 * code not in the list. */
const char *asx_err_name(int err);

#endif
