/* error.h - filling a writ_error: one function for every module. */
#ifndef WRIT_UTIL_ERROR_H
#define WRIT_UTIL_ERROR_H

#include "writ/writ.h"

/* Clear err (NULL is allowed), set its code and a printf-style message
 * without position; returns code so callers can `return wr_error(...)`. */
writ_status wr_error(writ_error *err, writ_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
