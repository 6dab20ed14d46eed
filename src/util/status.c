/* status.c - names of writ_status codes. */
#include "writ/writ.h"

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
