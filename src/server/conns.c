/* conns.c - the open-connection limit (max_connections).
 *
 * libmicrohttpd's own limit (MHD_OPTION_CONNECTION_LIMIT) stops accepting
 * when it is reached: further clients wait in the kernel's listen backlog
 * with no answer until a slot frees or they give up.  So the daemon gets a
 * higher hard limit (srv_conn_hard_limit) and we count connections here:
 * one opened while max_connections or more are open is marked "over", and
 * each request on it is answered 503 too_many_connections with
 * `Connection: close` and `Retry-After: 1` (http.c), which frees the slot
 * at once.  Connections under the limit are never refused, whatever opens
 * after them.  Past the hard limit new clients wait in the backlog, so
 * memory stays bounded either way. */
#include "server/server_int.h"

static char over_marker; /* socket context of an over-limit connection */

unsigned srv_conn_hard_limit(const srv_config *cfg)
{
    uint32_t m = cfg->max_connections;
    uint32_t extra = m / 8 > 16 ? m / 8 : 16;
    return (unsigned)(m + extra);
}

void srv_conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                     enum MHD_ConnectionNotificationCode code)
{
    (void)c;
    srv *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        int n = atomic_fetch_add_explicit(&s->conns, 1, memory_order_relaxed) + 1;
        if ((uint32_t)n > s->cfg->max_connections) {
            *socket_context = &over_marker;
            atomic_fetch_add_explicit(&s->conns_refused, 1, memory_order_relaxed);
        }
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        atomic_fetch_sub_explicit(&s->conns, 1, memory_order_relaxed);
        *socket_context = NULL;
    }
}

bool srv_conn_over(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci && ci->socket_context == &over_marker;
}
