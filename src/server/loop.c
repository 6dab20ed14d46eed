/* loop.c - the HTTP worker threads: each runs the event loop of a
 * libmicrohttpd daemon of its own, and commits the audit records of each
 * pass at its end.
 *
 * libmicrohttpd's own thread pool gives no hook at the end of a pass, so a
 * held answer had to be suspended and resumed by the log's thread (see
 * durable.c).  Here every worker owns one daemon in "external" mode (no
 * internal thread) and loops:
 *
 *   MHD_run_wait   wait for sockets (or not at all when answers are due),
 *                  read the requests that are ready and call the handler:
 *                  each decision's records go into the thread's pass, its
 *                  answer is held (not suspended, see durable.c);
 *   commit         srv_pass_commit: the pass's records in one group commit,
 *                  led by this thread; the next MHD_run_wait calls the
 *                  handlers of the held requests again, which answer.
 *                  When the other worker's transaction is being written,
 *                  the commit is put off once: the loop waits (1 ms at
 *                  most) for new requests or wake_for_log, and the next
 *                  commit takes the records of both passes.
 *
 * The first daemon binds the listen address; the others get a dup of its
 * socket, so every worker accepts from the same queue (as the pool's
 * workers did) and each daemon owns, quiesces and closes its own
 * descriptor.  The connection limit is shared out as the pool did it.
 * Anything libmicrohttpd does across threads (a resume from another
 * thread, as the MCP gateway's upstream callbacks do) wakes the loop
 * through the daemon's inter-thread channel, as before. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "server/server_int.h"
#include "util/alloc.h"
#include "util/clock.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

typedef struct srv_worker {
    struct srv_loop *l;
    struct MHD_Daemon *d;
    srv_pass *pass;
    int ep, wake; /* epoll mode: this loop's own wait (MHD's epoll fd + wake), and its eventfd */
    int slot;     /* its entry in wakers, -1 = none */
    pthread_t t;
    bool running;
} srv_worker;

struct srv_loop {
    srv *s;
    srv_worker *w;
    unsigned n;
    atomic_bool quiesce, stop;
    atomic_uint quiesced;
};

/* Waking a worker for a resumed connection.  libmicrohttpd 0.9.75 signals
 * its inter-thread channel on MHD_resume_connection only when it runs its
 * own polling threads; in external mode the application must run the
 * daemon again itself.  A resume from another thread (the MCP gateway's
 * upstream callbacks, the log's thread) would otherwise wait for the
 * worker's next timeout: every MCP call took 100 ms so.  So each worker
 * waits in an epoll set of its own that holds libmicrohttpd's epoll
 * descriptor and an eventfd, and srv_resume writes the eventfd of the
 * worker whose daemon owns the connection.  The table is fixed and global
 * because a resume names only its connection. */
#define MAX_WAKERS 64
static struct {
    _Atomic(struct MHD_Daemon *) d;
    atomic_int fd;
    /* Resumes coalesced, as the upstream's wake-ups are: set by the resume
     * that writes the eventfd, taken (exchanged back to false) by the
     * worker before each run of its daemon.  Under load most resumes land
     * while the worker is still busy or already woken: one write for them
     * all, not one each.  A resume that finds it set was made before the
     * worker's exchange, which reads the flag it left, so that run sees
     * the connection resumed. */
    atomic_bool poked;
} wakers[MAX_WAKERS];

void srv_resume(struct MHD_Connection *c)
{
    /* the daemon is read before the resume: once resumed, c may be served
     * and gone at any moment */
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_DAEMON);
    struct MHD_Daemon *d = ci ? ci->daemon : NULL;
    MHD_resume_connection(c);
    for (int i = 0; d && i < MAX_WAKERS; i++) {
        if (atomic_load_explicit(&wakers[i].d, memory_order_acquire) != d)
            continue;
        int fd = atomic_load_explicit(&wakers[i].fd, memory_order_acquire);
        uint64_t one = 1;
        if (fd >= 0 && !atomic_exchange(&wakers[i].poked, true) && write(fd, &one, sizeof one) < 0) {
            /* a full counter (EAGAIN) wakes the worker as well */
        }
        break;
    }
}

static int waker_set(struct MHD_Daemon *d, int fd)
{
    for (int i = 0; i < MAX_WAKERS; i++) {
        struct MHD_Daemon *none = NULL;
        if (atomic_compare_exchange_strong(&wakers[i].d, &none, d)) {
            atomic_store(&wakers[i].poked, false);
            atomic_store_explicit(&wakers[i].fd, fd, memory_order_release);
            return i;
        }
    }
    return -1; /* no slot: this worker's resumes wait for its timeout (1 ms, below) */
}

/* Before each run of the daemon: resumes made from now on write the
 * eventfd again. */
static void waker_take(const srv_worker *w)
{
    if (w->slot >= 0)
        atomic_exchange(&wakers[w->slot].poked, false);
}

static void waker_clear(struct MHD_Daemon *d)
{
    for (int i = 0; i < MAX_WAKERS; i++)
        if (atomic_load(&wakers[i].d) == d) {
            atomic_store(&wakers[i].fd, -1);
            atomic_store(&wakers[i].d, NULL);
        }
}

static _Thread_local long spin_next;

/* This worker's own wait (epoll mode): until libmicrohttpd's descriptor
 * or the wake-up is ready, or ms pass.  Asked to (srv_loop_spin_next), it
 * first polls without sleeping for a while: on a VM whose idle CPU halts,
 * waking a sleeping thread costs tens of microseconds. */
static void wait_own(srv_worker *w, int ms)
{
    MHD_UNSIGNED_LONG_LONG to;
    if (srv_pass_deferred(w->pass))
        ms = 1; /* for new requests or the log (wake_for_log); libmicrohttpd's
                   timeout is 0 while answers are held */
    else if (MHD_get_timeout(w->d, &to) == MHD_YES && to < (MHD_UNSIGNED_LONG_LONG)ms)
        ms = (int)to;
    struct epoll_event ev[2];
    int n = 0;
    long spin = spin_next;
    spin_next = 0;
    if (spin > 0 && ms > 0) {
        uint64_t until = wr_mono_ns() + (uint64_t)spin;
        while ((n = epoll_wait(w->ep, ev, 2, 0)) == 0 && wr_mono_ns() < until)
            ;
    }
    if (n == 0)
        n = epoll_wait(w->ep, ev, 2, ms);
    for (int i = 0; i < n; i++)
        if (ev[i].data.fd == w->wake) {
            uint64_t v;
            if (read(w->wake, &v, sizeof v) < 0) {
                /* EAGAIN: another read took it */
            }
        }
}

/* The log is free again after this worker put its commit off (called by
 * the thread that led the transaction it would have waited for). */
static void wake_for_log(void *arg)
{
    srv_worker *w = arg;
    uint64_t one = 1;
    if (write(w->wake, &one, sizeof one) < 0) {
        /* a full counter (EAGAIN) wakes the worker as well */
    }
}

static _Thread_local int own_wait_fd = -1;

void srv_loop_spin_next(long ns) { spin_next = ns; }

int srv_loop_wait_fd(void) { return own_wait_fd; }

static void *run(void *arg)
{
    srv_worker *w = arg;
    srv_loop *l = w->l;
    bool due = false, quiet = false;
    srv_pass_bind(w->pass);
    own_wait_fd = w->ep;
    while (!atomic_load_explicit(&l->stop, memory_order_acquire)) {
        if (!quiet && atomic_load_explicit(&l->quiesce, memory_order_acquire)) {
            MHD_socket fd = MHD_quiesce_daemon(w->d);
            if (fd != MHD_INVALID_SOCKET)
                close(fd);
            quiet = true;
            atomic_fetch_add(&l->quiesced, 1);
        }
        /* at most 100 ms asleep (the stop and quiesce flags are read
         * between waits); not at all with answers due */
        enum MHD_Result ok;
        if (due) {
            waker_take(w);
            ok = MHD_run_wait(w->d, 0);
        } else if (w->ep >= 0) {
            wait_own(w, 100);
            waker_take(w);
            ok = MHD_run_wait(w->d, 0);
        } else {
            /* poll mode (no epoll in this libmicrohttpd): no wake-up for
             * resumes from other threads, so short waits while any
             * connection is held */
            ok = MHD_run_wait(w->d, atomic_load(&l->s->suspended) > 0 ? 1 : 100);
        }
        if (ok != MHD_YES && !due)
            nanosleep(&(struct timespec){0, 1000000}, NULL); /* a failing wait: do not spin */
        due = srv_pass_commit(l->s, w->pass, false);
    }
    /* a commit put off is made now, and the log forgets this worker */
    if (l->s->audit)
        wr_audit_busy_cancel(l->s->audit, w);
    srv_pass_commit(l->s, w->pass, true);
    srv_pass_bind(NULL);
    return NULL;
}

/* Epoll mode: the worker's own wait over libmicrohttpd's epoll descriptor
 * and a wake-up eventfd; -1 (poll mode, or on failure: then resumes from
 * other threads wait for the short poll-mode timeout). */
static void own_wait_open(srv_worker *w)
{
    w->ep = w->wake = w->slot = -1;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(w->d, MHD_DAEMON_INFO_EPOLL_FD);
    if (!di || di->epoll_fd < 0)
        return;
    int ep = epoll_create1(EPOLL_CLOEXEC), wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event me = {.events = EPOLLIN, .data.fd = di->epoll_fd};
    struct epoll_event we = {.events = EPOLLIN, .data.fd = wake};
    if (ep < 0 || wake < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, di->epoll_fd, &me) != 0 ||
        epoll_ctl(ep, EPOLL_CTL_ADD, wake, &we) != 0) {
        if (ep >= 0)
            close(ep);
        if (wake >= 0)
            close(wake);
        return;
    }
    w->ep = ep;
    w->wake = wake;
    w->slot = waker_set(w->d, wake);
    srv_pass_set_wake(w->pass, wake_for_log, w);
}

srv_loop *srv_loop_start(srv *s, unsigned n, struct MHD_Daemon *(*start)(void *ctx, MHD_socket lfd),
                         void *ctx)
{
    srv_loop *l = wr_calloc(1, sizeof *l);
    if (!l || !(l->w = wr_calloc(n ? n : 1, sizeof *l->w))) {
        wr_free(l);
        return NULL;
    }
    l->s = s;
    l->n = n ? n : 1;
    atomic_init(&l->quiesce, false);
    atomic_init(&l->stop, false);
    atomic_init(&l->quiesced, 0);
    for (unsigned i = 0; i < l->n; i++)
        l->w[i].ep = l->w[i].wake = l->w[i].slot = -1;
    MHD_socket lfd = MHD_INVALID_SOCKET;
    for (unsigned i = 0; i < l->n; i++) {
        srv_worker *w = &l->w[i];
        w->l = l;
        MHD_socket fd = MHD_INVALID_SOCKET;
        if (i > 0 && (fd = fcntl(lfd, F_DUPFD_CLOEXEC, 0)) < 0)
            goto bad;
        if (!(w->pass = srv_pass_new()) || !(w->d = start(ctx, fd))) {
            if (fd != MHD_INVALID_SOCKET)
                close(fd);
            goto bad;
        }
        own_wait_open(w);
        if (i == 0) {
            const union MHD_DaemonInfo *di = MHD_get_daemon_info(w->d, MHD_DAEMON_INFO_LISTEN_FD);
            if (!di || (lfd = di->listen_fd) == MHD_INVALID_SOCKET)
                goto bad;
        }
    }
    for (unsigned i = 0; i < l->n; i++) {
        if (pthread_create(&l->w[i].t, NULL, run, &l->w[i]) != 0)
            goto bad;
        l->w[i].running = true;
        pthread_setname_np(l->w[i].t, "writ-http"); /* as profilers and top show it */
    }
    return l;
bad:
    srv_loop_stop(l);
    return NULL;
}

struct MHD_Daemon *srv_loop_daemon(const srv_loop *l) { return l ? l->w[0].d : NULL; }

unsigned srv_loop_connections(const srv_loop *l)
{
    unsigned n = 0;
    for (unsigned i = 0; l && i < l->n; i++) {
        const union MHD_DaemonInfo *di =
            l->w[i].d ? MHD_get_daemon_info(l->w[i].d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS) : NULL;
        n += di ? di->num_connections : 0;
    }
    return n;
}

void srv_loop_quiesce(srv_loop *l)
{
    if (!l)
        return;
    atomic_store_explicit(&l->quiesce, true, memory_order_release);
    unsigned running = 0;
    for (unsigned i = 0; i < l->n; i++)
        running += l->w[i].running;
    /* each worker takes its own listen socket out at its next pass
     * (within its 100 ms wait) */
    for (int i = 0; i < 300 && atomic_load(&l->quiesced) < running; i++)
        nanosleep(&(struct timespec){0, 10000000}, NULL);
}

void srv_loop_stop(srv_loop *l)
{
    if (!l)
        return;
    atomic_store_explicit(&l->stop, true, memory_order_release);
    for (unsigned i = 0; i < l->n; i++)
        if (l->w[i].running)
            pthread_join(l->w[i].t, NULL);
    /* the threads are gone: whatever libmicrohttpd still calls back while
     * stopping (completions of connections cut now) runs here, with no
     * pass bound: nothing more is recorded into one */
    for (unsigned i = 0; i < l->n; i++) {
        if (l->w[i].d) {
            waker_clear(l->w[i].d);
            MHD_stop_daemon(l->w[i].d);
        }
        if (l->w[i].ep >= 0)
            close(l->w[i].ep);
        if (l->w[i].wake >= 0)
            close(l->w[i].wake);
        srv_pass_free(l->w[i].pass);
    }
    wr_free(l->w);
    wr_free(l);
}
