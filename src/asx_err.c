/* Messages and names of the core's error codes (src/asx_err.h). */
#include "asx_err.h"

const char *asx_strerror(int err) {
  switch (err) {
#define XX(name, code, message)                                                \
  case ASX_E_##name:                                                           \
    return message;
    ASX_ERRNO_MAP(XX)
#undef XX
  default:
    return "unknown error";
  }
}

const char *asx_err_name(int err) {
  switch (err) {
#define XX(name, code, message)                                                \
  case ASX_E_##name:                                                           \
    return "ASX_E_" #name;
    ASX_ERRNO_MAP(XX)
#undef XX
  default:
    return "ASX_E_UNKNOWN";
  }
}
