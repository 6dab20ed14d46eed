/* status.c - names of writ_status codes. */
#include "util/error.h"
#include "util/text.h"
#include "writ/writ.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *writ_status_name(writ_status s)
{
    switch (s) {
    case WRIT_OK: return "ok";
    case WRIT_ENOMEM: return "out of memory";
    case WRIT_EPARSE: return "parse error";
    case WRIT_ELIMIT: return "limit exceeded";
    case WRIT_EJSON: return "JSON error";
    case WRIT_ESCHEMA: return "schema error";
    case WRIT_EVALIDATE: return "validation error";
    case WRIT_EIO: return "I/O error";
    case WRIT_EINVAL: return "invalid argument";
    case WRIT_ELINK: return "template link error";
    case WRIT_EDUP: return "duplicate";
    case WRIT_EEVAL: return "evaluation error";
    }
    return "unknown status";
}

writ_status wr_error(writ_error *err, writ_status code, const char *fmt, ...)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        if (n >= (int)sizeof err->msg)
            wr_utf8_cut(err->msg, sizeof err->msg - 1);
    }
    return code;
}
