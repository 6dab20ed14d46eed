/* redis_tls.c - rediss://: hiredis' bytes carried over TLS (OpenSSL).
 *
 * hiredis 0.14 (Debian 12) reads and writes a file descriptor itself and
 * knows no TLS.  So a rediss:// connection is three pieces:
 *
 *     hiredis --fd-- socketpair --fd-- pump thread --SSL-- TCP -- Redis
 *
 * rd_tls_connect makes the TCP connection and the TLS handshake itself,
 * synchronously, so that an untrusted certificate, a host name that does
 * not match or a server that does not speak TLS is the connect's error,
 * with its reason.  Then it gives hiredis one end of a socketpair
 * (redisConnectFd) and starts a thread, the pump, that relays bytes both
 * ways between the other end and the SSL session until either side ends.
 * hiredis never knows: commands, replies, its timeouts (on its end of the
 * pair) and its errors are as over TCP, and nothing above rd_get/rd_put
 * changes.  The pump never looks at the bytes (RESP is hiredis' business).
 *
 * Ends.  hiredis closes its end (redisFree): the pump reads EOF, sends
 * close_notify and exits.  The server or the network ends the session: the
 * pump closes its end, hiredis' next read fails ("Server closed the
 * connection"), redis.c drops the connection and the next operation
 * connects afresh, as over TCP.  TCP keep-alive is on the real socket.
 *
 * The SSL_CTX (CAs, client certificate) is shared by the store and every
 * live pump, reference-counted; closing the store waits (briefly) for the
 * pumps of the connections it just freed to say goodbye. */
#include "store/redis_int.h"
#include "util/alloc.h"
#include "util/clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define PUMP_BUF 16384
#define PUMP_STACK (256 * 1024)
/* After a TLS 1.3 handshake the server has not yet judged our certificate;
 * its verdict (session tickets, or an alert) follows within a round trip.
 * Waiting this long for it turns "client certificate required/unknown" into
 * the connect's error instead of a bare "connection closed" later. */
#define VERDICT_WAIT_MS 100

struct rd_tls {
    SSL_CTX *ctx;
    char ca[200]; /* where the trusted CAs come from, for errors */
    bool client_cert;
    pthread_mutex_t mu;
    pthread_cond_t gone;
    int refs; /* the store's, and one per live pump */
};

/* OpenSSL's last error of this thread, as text (then cleared). */
static const char *ssl_why(char *buf, size_t n)
{
    unsigned long e = ERR_peek_last_error();
    if (!e)
        snprintf(buf, n, "unknown error");
    else
        ERR_error_string_n(e, buf, n);
    ERR_clear_error();
    return buf;
}

static void tls_unref(rd_tls *t)
{
    pthread_mutex_lock(&t->mu);
    int left = --t->refs;
    pthread_cond_broadcast(&t->gone);
    pthread_mutex_unlock(&t->mu);
    if (left == 0) {
        SSL_CTX_free(t->ctx);
        pthread_cond_destroy(&t->gone);
        pthread_mutex_destroy(&t->mu);
        wr_free(t);
    }
}

void rd_tls_release(rd_tls *t)
{
    if (!t)
        return;
    /* the store's connections were just freed: their pumps are ending */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    pthread_mutex_lock(&t->mu);
    while (t->refs > 1 && pthread_cond_timedwait(&t->gone, &t->mu, &until) == 0)
        ;
    pthread_mutex_unlock(&t->mu);
    tls_unref(t);
}

writ_status rd_tls_new(const char *ca, const char *cert, const char *key, rd_tls **out, writ_error *err)
{
    *out = NULL;
    bool has_cert = cert && *cert, has_key = key && *key;
    if (has_cert != has_key)
        return rd_fail(err, WRIT_EINVAL,
                       has_cert ? "state_tls_cert needs state_tls_key (the certificate's private key)"
                                : "state_tls_key needs state_tls_cert (the client certificate)",
                       NULL);
    rd_tls *t = wr_calloc(1, sizeof *t);
    if (!t)
        return rd_fail(err, WRIT_ENOMEM, "out of memory", NULL);
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->gone, NULL);
    t->refs = 1;
    t->client_cert = has_cert;
    char why[256], what[160];
    writ_status st = WRIT_OK;
    ERR_clear_error();
    if (!(t->ctx = SSL_CTX_new(TLS_client_method()))) {
        st = rd_fail(err, WRIT_ENOMEM, "TLS", ssl_why(why, sizeof why));
        goto out;
    }
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (ca && *ca) {
        snprintf(t->ca, sizeof t->ca, "state_tls_ca %s", ca);
        if (SSL_CTX_load_verify_locations(t->ctx, ca, NULL) != 1) {
            snprintf(what, sizeof what, "state_tls_ca %s", ca);
            st = rd_fail(err, WRIT_EINVAL, what, ssl_why(why, sizeof why));
            goto out;
        }
    } else {
        snprintf(t->ca, sizeof t->ca, "the system's CA store (set state_tls_ca for another)");
        if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
            st = rd_fail(err, WRIT_EIO, "TLS: cannot load the system's CA store", ssl_why(why, sizeof why));
            goto out;
        }
    }
    if (has_cert) {
        if (SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1) {
            snprintf(what, sizeof what, "state_tls_cert %s", cert);
            st = rd_fail(err, WRIT_EINVAL, what, ssl_why(why, sizeof why));
            goto out;
        }
        if (SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1) {
            if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
                st = rd_fail(err, WRIT_EINVAL, "state_tls_key is not the key of state_tls_cert",
                             ssl_why(why, sizeof why));
                goto out;
            }
            snprintf(what, sizeof what, "state_tls_key %s", key);
            st = rd_fail(err, WRIT_EINVAL, what, ssl_why(why, sizeof why));
            goto out;
        }
        if (SSL_CTX_check_private_key(t->ctx) != 1) {
            st = rd_fail(err, WRIT_EINVAL, "state_tls_key is not the key of state_tls_cert",
                         ssl_why(why, sizeof why));
            goto out;
        }
    }
out:
    if (st) {
        tls_unref(t);
        return st;
    }
    *out = t;
    return WRIT_OK;
}

/* ---- the TCP connection and the handshake */

/* Wait until fd is ready for events or the deadline: 1 ready, 0 timed out,
 * -1 error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - wr_mono_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {fd, events, 0};
        int r = poll(&p, 1, (int)left);
        if (r > 0)
            return 1;
        if (r == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

static int tcp_connect(const char *host, int port, int64_t deadline, const char *where, writ_error *err)
{
    char ps[8];
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc) {
        rd_fail(err, WRIT_EIO, where, gai_strerror(rc));
        return -1;
    }
    int fd = -1, last = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            last = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS) {
            int w = wait_fd(fd, POLLOUT, deadline);
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (w > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                break;
            last = w == 0 ? ETIMEDOUT : soerr ? soerr : errno;
        } else {
            last = errno;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        rd_fail(err, WRIT_EIO, where, strerror(last));
        return -1;
    }
    int one = 1, idle = 15, intvl = 5, cnt = 3;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
    return fd;
}

/* Why SSL_connect (or the first read after it) failed, as a sentence. */
static void tls_fail(const rd_tls *t, SSL *ssl, int sslerr, const char *host, const char *where, bool after,
                     writ_error *err)
{
    char why[256], msg[480];
    long v = SSL_get_verify_result(ssl);
    unsigned long e = ERR_peek_last_error();
    int reason = e ? ERR_GET_REASON(e) : 0;
    if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH) {
        snprintf(msg, sizeof msg, "TLS: the server's certificate is not for %s (%s mismatch)", host,
                 v == X509_V_ERR_IP_ADDRESS_MISMATCH ? "IP address" : "host name");
    } else if (v != X509_V_OK) {
        snprintf(msg, sizeof msg, "TLS: the server's certificate is not trusted (%s; CAs from %s)",
                 X509_verify_cert_error_string(v), t->ca);
    } else if (reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED ||
               (!t->client_cert && reason == SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE)) {
        snprintf(msg, sizeof msg,
                 "TLS: the server requires a client certificate (state_tls_cert, state_tls_key): %s",
                 ssl_why(why, sizeof why));
    } else if (reason == SSL_R_TLSV1_ALERT_UNKNOWN_CA || reason == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE ||
               reason == SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN) {
        snprintf(msg, sizeof msg, "TLS: the server refused our client certificate (state_tls_cert): %s",
                 ssl_why(why, sizeof why));
    } else if (e) {
        bool plain = reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_PACKET_LENGTH_TOO_LONG ||
                     reason == SSL_R_RECORD_LENGTH_MISMATCH;
        snprintf(msg, sizeof msg, "TLS %s failed: %s%s", after ? "session" : "handshake",
                 ssl_why(why, sizeof why),
                 plain ? " (the server does not speak TLS there: a plain redis:// port?)" : "");
    } else if (sslerr == SSL_ERROR_SYSCALL && errno && errno != EAGAIN) {
        snprintf(msg, sizeof msg, "TLS %s failed: %s", after ? "session" : "handshake", strerror(errno));
    } else {
        snprintf(msg, sizeof msg, "TLS %s failed: the server closed the connection%s",
                 after ? "session" : "handshake", after ? "" : " (not a TLS port?)");
    }
    ERR_clear_error();
    rd_fail(err, WRIT_EIO, where, msg);
}

/* ---- the pump */

typedef struct pump {
    rd_tls *t;
    SSL *ssl;
    int net;   /* the TCP socket under ssl */
    int local; /* our end of the socketpair; hiredis has the other */
    size_t uplen, upoff, downlen, downoff;
    unsigned char up[PUMP_BUF];   /* from hiredis, to the server */
    unsigned char down[PUMP_BUF]; /* from the server, to hiredis */
} pump;

static bool again(int e) { return e == EAGAIN || e == EWOULDBLOCK || e == EINTR; }

/* Relay until one side ends.  Each pass moves what it can without waiting;
 * a pass that moved nothing polls for what the stuck directions wait on:
 * hiredis' end readable (when up is empty) or writable (when down is not),
 * the TCP socket readable or writable as OpenSSL asked.  SSL_read is retried
 * whenever down is empty, so records OpenSSL has buffered are never left
 * waiting on a poll. */
static void *pump_main(void *arg)
{
    pump *p = arg;
    bool clean = true; /* false after a fatal TLS error: no close_notify then */
    for (;;) {
        bool moved = false;
        short net_ev = 0, local_ev = 0;
        if (p->uplen == 0) {
            ssize_t n = recv(p->local, p->up, sizeof p->up, MSG_DONTWAIT);
            if (n > 0) {
                p->uplen = (size_t)n;
                p->upoff = 0;
                moved = true;
            } else if (n == 0 || !again(errno)) {
                break; /* hiredis closed its end */
            }
        }
        if (p->upoff < p->uplen) {
            ERR_clear_error();
            int r = SSL_write(p->ssl, p->up + p->upoff, (int)(p->uplen - p->upoff));
            if (r > 0) {
                p->upoff += (size_t)r;
                if (p->upoff == p->uplen)
                    p->uplen = p->upoff = 0;
                moved = true;
            } else {
                int e = SSL_get_error(p->ssl, r);
                if (e == SSL_ERROR_WANT_READ)
                    net_ev |= POLLIN;
                else if (e == SSL_ERROR_WANT_WRITE)
                    net_ev |= POLLOUT;
                else {
                    clean = false;
                    break;
                }
            }
        }
        if (p->downoff == p->downlen) {
            p->downoff = p->downlen = 0;
            ERR_clear_error();
            int r = SSL_read(p->ssl, p->down, (int)sizeof p->down);
            if (r > 0) {
                p->downlen = (size_t)r;
                moved = true;
            } else {
                int e = SSL_get_error(p->ssl, r);
                if (e == SSL_ERROR_WANT_READ)
                    net_ev |= POLLIN;
                else if (e == SSL_ERROR_WANT_WRITE)
                    net_ev |= POLLOUT;
                else {
                    clean = e == SSL_ERROR_ZERO_RETURN; /* the server's close_notify */
                    break;
                }
            }
        }
        if (p->downoff < p->downlen) {
            ssize_t n =
                send(p->local, p->down + p->downoff, p->downlen - p->downoff, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0) {
                p->downoff += (size_t)n;
                moved = true;
            } else if (n < 0 && again(errno)) {
                local_ev |= POLLOUT;
            } else {
                break;
            }
        }
        if (moved)
            continue;
        if (p->uplen == 0)
            local_ev |= POLLIN;
        struct pollfd fds[2] = {{p->local, local_ev, 0}, {net_ev ? p->net : -1, net_ev, 0}};
        if (poll(fds, 2, -1) < 0 && errno != EINTR)
            break;
        /* hiredis gone while we hold bytes for the server: nobody waits for
         * the answer (as when a TCP client closes mid-command) */
        if ((fds[0].revents & (POLLHUP | POLLERR | POLLNVAL)) && p->uplen)
            break;
    }
    if (clean) {
        ERR_clear_error();
        (void)SSL_shutdown(p->ssl); /* one try: a courtesy, never waited for */
    }
    ERR_clear_error();
    SSL_free(p->ssl);
    close(p->net);
    close(p->local);
    rd_tls *t = p->t;
    wr_free(p);
    OPENSSL_thread_stop();
    tls_unref(t);
    return NULL;
}

static bool is_ip(const char *host)
{
    unsigned char b[16];
    return inet_pton(AF_INET, host, b) == 1 || inet_pton(AF_INET6, host, b) == 1;
}

redisContext *rd_tls_connect(rd_tls *t, const char *host, int port, struct timeval timeout, writ_error *err)
{
    char where[300];
    snprintf(where, sizeof where, "%s:%d", host, port);
    int64_t deadline = wr_mono_ms() + (int64_t)timeout.tv_sec * 1000 + timeout.tv_usec / 1000;
    int fd = tcp_connect(host, port, deadline, where, err);
    if (fd < 0)
        return NULL;
    pump *p = NULL;
    int sv[2] = {-1, -1};
    ERR_clear_error();
    SSL *ssl = SSL_new(t->ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1) {
        char why[256];
        rd_fail(err, WRIT_EIO, where, ssl_why(why, sizeof why));
        goto fail;
    }
    /* the certificate must name the host we asked for */
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (is_ip(host)) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1) {
            rd_fail(err, WRIT_EIO, where, "TLS: cannot check the certificate against this address");
            goto fail;
        }
    } else if (SSL_set1_host(ssl, host) != 1 || SSL_set_tlsext_host_name(ssl, host) != 1) {
        rd_fail(err, WRIT_EIO, where, "TLS: cannot check the certificate against this host name");
        goto fail;
    }
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_connect(ssl);
        if (r == 1)
            break;
        int e = SSL_get_error(ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            int w = wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
            if (w > 0)
                continue;
            rd_fail(err, WRIT_EIO, where,
                    w == 0 ? "TLS handshake timed out (not a TLS port?)" : "TLS handshake: poll failed");
            goto fail;
        }
        tls_fail(t, ssl, e, host, where, false, err);
        goto fail;
    }
    if (!(p = wr_calloc(1, sizeof *p))) {
        rd_fail(err, WRIT_ENOMEM, where, "out of memory");
        goto fail;
    }
    /* TLS 1.3: the server's verdict on us comes after the handshake */
    if (SSL_version(ssl) == TLS1_3_VERSION) {
        int64_t soon = wr_mono_ms() + VERDICT_WAIT_MS;
        if (wait_fd(fd, POLLIN, soon < deadline ? soon : deadline) > 0) {
            ERR_clear_error();
            errno = 0;
            int r = SSL_read(ssl, p->down, (int)sizeof p->down);
            int e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl, r);
            if (r > 0)
                p->downlen = (size_t)r; /* (Redis says nothing unasked; kept for hiredis all the same) */
            else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                tls_fail(t, ssl, e, host, where, true, err);
                goto fail;
            }
        }
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        rd_fail(err, WRIT_EIO, where, strerror(errno));
        goto fail;
    }
    (void)fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
    redisContext *c = redisConnectFd(sv[0]);
    if (!c) {
        rd_fail(err, WRIT_ENOMEM, where, "out of memory");
        goto fail;
    }
    p->t = t;
    p->ssl = ssl;
    p->net = fd;
    p->local = sv[1];
    pthread_mutex_lock(&t->mu);
    t->refs++;
    pthread_mutex_unlock(&t->mu);
    /* the pump takes no signal (the server's handlers run elsewhere) */
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&at, PUMP_STACK);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t th;
    int rc = pthread_create(&th, &at, pump_main, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&at);
    if (rc != 0) {
        tls_unref(t); /* the pump's reference: t stays (the store holds one) */
        redisFree(c); /* closes sv[0] */
        sv[0] = -1;
        rd_fail(err, WRIT_EIO, where, "cannot start the TLS relay thread");
        goto fail;
    }
    return c;
fail:
    if (ssl)
        SSL_free(ssl);
    ERR_clear_error();
    wr_free(p);
    close(fd);
    if (sv[0] >= 0)
        close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    return NULL;
}
