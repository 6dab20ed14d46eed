/* conns.c - the open-connection limit (max_connections) and the header
 * deadline.
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
 * memory stays bounded either way.
 *
 * The header deadline: libmicrohttpd's timeout is an idle timeout, restarted
 * by every byte, so a client sending one header byte a second holds a
 * connection (and its memory) for ever.  Each connection therefore carries a
 * deadline by which a request's headers must be complete: `timeout` seconds
 * after it opens, and again after each response on a keep-alive connection.
 * The access handler clears it when the headers are in; the main thread
 * sweeps the open connections each tick and shuts down (shutdown(2), not
 * close: libmicrohttpd still owns the socket) those past their deadline, so
 * the library sees the end of the stream and closes them itself.  A
 * connection is in the list from its STARTED to its CLOSED notification,
 * which libmicrohttpd sends before it closes the socket, so the sweep never
 * touches a socket number already reused. */
#include "server/server_int.h"
#include "util/alloc.h"
#include "util/clock.h"

#include <sys/socket.h>
#include <time.h>

typedef struct srv_conn {
    struct srv_conn *prev, *next;
    int fd;
    bool over;                     /* opened past max_connections */
    atomic_uint_fast64_t deadline; /* monotonic ns; 0 = none (in a request, or cut) */
} srv_conn;

static uint64_t header_deadline(const srv *s)
{
    return wr_mono_ns() + (uint64_t)s->cfg->timeout * 1000000000u;
}

unsigned srv_conn_hard_limit(const srv_config *cfg)
{
    uint32_t m = cfg->max_connections;
    uint32_t extra = m / 8 > 16 ? m / 8 : 16;
    return (unsigned)(m + extra);
}

void srv_conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                     enum MHD_ConnectionNotificationCode code)
{
    srv *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        int n = atomic_fetch_add_explicit(&s->conns, 1, memory_order_relaxed) + 1;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        srv_conn *k = wr_calloc(1, sizeof *k);
        if (!k) {
            /* no deadline can be kept for it: refuse it */
            if (ci)
                shutdown(ci->connect_fd, SHUT_RDWR);
            *socket_context = NULL;
            return;
        }
        k->fd = ci ? ci->connect_fd : -1;
        atomic_init(&k->deadline, header_deadline(s));
        if ((uint32_t)n > s->cfg->max_connections) {
            k->over = true;
            atomic_fetch_add_explicit(&s->conns_refused, 1, memory_order_relaxed);
        }
        pthread_mutex_lock(&s->conns_mu);
        k->next = s->conn_list;
        if (k->next)
            k->next->prev = k;
        s->conn_list = k;
        pthread_mutex_unlock(&s->conns_mu);
        *socket_context = k;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        atomic_fetch_sub_explicit(&s->conns, 1, memory_order_relaxed);
        srv_conn *k = *socket_context;
        if (k) {
            pthread_mutex_lock(&s->conns_mu);
            if (k->prev)
                k->prev->next = k->next;
            else
                s->conn_list = k->next;
            if (k->next)
                k->next->prev = k->prev;
            pthread_mutex_unlock(&s->conns_mu);
            wr_free(k);
        }
        *socket_context = NULL;
    }
}

static srv_conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

bool srv_conn_over(struct MHD_Connection *c)
{
    srv_conn *k = conn_of(c);
    return k && k->over;
}

void srv_conn_request_begun(struct MHD_Connection *c)
{
    srv_conn *k = conn_of(c);
    if (k)
        atomic_store_explicit(&k->deadline, 0, memory_order_relaxed);
}

void srv_conn_request_done(const srv *s, struct MHD_Connection *c)
{
    srv_conn *k = conn_of(c);
    if (k)
        atomic_store_explicit(&k->deadline, header_deadline(s), memory_order_relaxed);
}

void srv_conn_sweep(srv *s)
{
    uint64_t now = wr_mono_ns();
    pthread_mutex_lock(&s->conns_mu);
    for (srv_conn *k = s->conn_list; k; k = k->next) {
        uint64_t d = atomic_load_explicit(&k->deadline, memory_order_relaxed);
        if (d && now > d && k->fd >= 0 &&
            atomic_compare_exchange_strong_explicit(&k->deadline, &d, 0, memory_order_relaxed,
                                                    memory_order_relaxed)) {
            shutdown(k->fd, SHUT_RDWR);
            atomic_fetch_add_explicit(&s->header_timeouts, 1, memory_order_relaxed);
        }
    }
    pthread_mutex_unlock(&s->conns_mu);
}
