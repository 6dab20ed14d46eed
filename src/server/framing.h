/* framing.h - refuse requests whose framing two HTTP parsers could read two
 * ways (request smuggling through a proxy in front of Writ).
 *
 * libmicrohttpd 0.9.75 is lenient: it takes Content-Length together with
 * Transfer-Encoding, the first of several Content-Lengths, bare LF as a line
 * end, obs-fold continuation lines and a bare CR inside a value.  Its
 * MHD_OPTION_STRICT_FOR_CLIENT (which http.c sets) only adds "HTTP/1.1 needs
 * Host" and "no space in the target".  srv_framing_check adds the rest when
 * the headers are in, before anything else looks at the request. */
#ifndef WRIT_SERVER_FRAMING_H
#define WRIT_SERVER_FRAMING_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

/* Can the line-end checks run on this libmicrohttpd?  They read where the
 * library left each line in its buffer, which is known for the version
 * tested (0.9.75); on another the rest still runs and this says false (the
 * server logs it at start). */
bool srv_framing_line_checks(void);

/* What the one pass over the headers found besides the verdict, so that the
 * access handler looks none of them up again: Content-Length and
 * Content-Type (the values; NULL when absent) and the size of the request
 * line and headers (MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE, 0 if unknown). */
typedef struct srv_framing {
    const char *content_length;
    const char *content_type;
    size_t header_size;
} srv_framing;

/* NULL if c's request is framed unambiguously, else why not (a constant
 * string).  method and version are the access handler's arguments; out is
 * filled either way. */
const char *srv_framing_check(struct MHD_Connection *c, const char *method, const char *version,
                              srv_framing *out);

#endif
