/* reply.c - the answers handlers build (srv_reply): a body taken from a
 * buffer, or Writ's error shape.  http.c sends them; the handlers only fill
 * them, so neither depends on the other. */
#include "server/server_int.h"
#include "util/alloc.h"

#include <stdarg.h>
#include <stdio.h>

void srv_reply_sbuf(srv_reply *r, unsigned status, sbuf *b)
{
    size_t len;
    char *p = sb_take(b, &len);
    if (!p) {
        r->status = 500;
        r->body = NULL;
        r->len = 0;
        return;
    }
    r->status = status;
    r->body = p;
    r->len = len;
}

void srv_error(srv_reply *r, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sbuf b;
    sb_init(&b);
    sb_printf(&b, "{\"error\":{\"status\":%u,\"code\":", status);
    sb_json_str(&b, code);
    sb_puts(&b, ",\"message\":");
    sb_json_str(&b, msg);
    sb_puts(&b, "}}");
    srv_reply_sbuf(r, status, &b);
}
