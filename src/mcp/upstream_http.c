/* upstream_http.c - a Streamable HTTP upstream (MCP 2025-11-25) over libcurl.
 *
 * One curl multi handle per upstream (connections are kept alive and reused
 * between requests), driven through libcurl's socket interface: the
 * upstream's thread waits in its own epoll set for the sockets libcurl asks
 * to watch (and an eventfd, to be woken), and every call into libcurl, on
 * any thread, holds the upstream's multi mutex (mmu).
 *
 * Why not one thread doing everything: the hand-off cost.  A request used
 * to be queued for the upstream's thread and that thread woken to write it;
 * on a loaded machine each wake-up costs tens of microseconds (a switch, a
 * cold cache), per call.  Now mcp_upstream_send adds the request to the
 * multi handle and lets libcurl write it at once, on the sender's thread
 * (the HTTP worker that decided it, or the audit log's thread that
 * committed its record); the upstream's thread is woken only by the answer
 * arriving on the socket, which it reads, and by timers.  When another
 * thread is in libcurl at that moment (under load), the sender does not
 * wait for it: the request is left for the upstream's thread, which adds
 * whatever came meanwhile in one go.  So callbacks may
 * run on the sender's thread, inside mcp_upstream_send (an error at once,
 * or an answer that was already there): a sender must not hold a lock its
 * callbacks take while it sends.  Lock order: mmu, then cbmu, then qmu.
 *
 * A lone request (wait_here: the gateway's only call in flight, sent by its
 * worker) goes one step further: the answer would wake the upstream's
 * thread, which would then wake the worker to answer the client, two
 * wake-ups of sleeping threads in a row.  Instead the request's socket is
 * kept out of the epoll set once libcurl waits for the answer on it (held),
 * and the sender waits on it itself (hold_wait: ppoll on the socket, its
 * own loop's descriptor and a signal), reads the answer through libcurl
 * and runs the callbacks on its own thread; the gateway then answers at
 * once.  The hold ends, and the socket goes back into the set for the
 * thread, when the sender has other work, after a bound, or when the
 * transfer ends elsewhere (a timer, a cancel, a close: the signal).  One
 * hold at a time per upstream; everything about it is under mmu.
 *
 * libcurl's header callback collects Content-Type, Mcp-Session-Id and
 * MCP-Protocol-Version and, at the blank line ending a final (non-1xx)
 * header block, calls on_head; its write callback passes each piece of the
 * body to on_data as it arrives (an SSE stream is not buffered).  The thread
 * enforces idle_ms itself (no byte for that long ends the transfer with an
 * error): libcurl's low-speed limit counts whole seconds only.
 *
 * Flow control: when on_data says its reader is behind (MCP_UP_PAUSE), the
 * transfer is paused: the next piece libcurl offers is refused with
 * CURL_WRITEFUNC_PAUSE (libcurl keeps it and stops reading the socket, so
 * the upstream's sending waits on TCP, and nothing piles up here), and
 * mcp_upstream_resume unpauses it (curl_easy_pause under mmu, whichever
 * thread the reader is on; libcurl may hand over what it kept right there,
 * which may pause it again).  A paused transfer is not idle: the upstream
 * is waiting for us.  How long a reader may read nothing is its own
 * connection's business (the gateway's: the server's timeout ends it, and
 * the cancel then ends the transfer).  Only answers kept whole (on_head
 * false) are capped at max_answer.
 *
 * No redirects, no proxy from the environment, http and https only, no
 * Accept-Encoding (the body is passed on as the upstream sent it). */
#define _GNU_SOURCE /* ppoll */
#include <ctype.h>
#include <errno.h>
#include <curl/curl.h>
#include <stdio.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>
#include <string.h>
#include <strings.h>

#include "mcp/upstream_int.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/error.h"

#include <stdatomic.h>
#include <stdint.h>

/* Kept-alive connections to the upstream that libcurl may keep idle.  Its
 * default is four per transfer in flight at the moment one ends: with calls
 * coming and going that bound moves all the time, and a connection closed
 * when few were in flight was opened again when many were (13% of calls at
 * 32 concurrent clients opened one, and the upstream accepted one). */
#define IDLE_CONNS 256

typedef struct hreq {
    up_req base; /* first: the list holds hreqs */
    mcp_upstream *u;
    CURL *easy;
    bool plain_post;         /* easy holds only the base options + a POST's (see easy_get) */
    struct curl_slist *hdrs; /* one block: nodes and texts (hdrs_build) */
    char *body;
    size_t len;
    bool added, add_failed; /* to the multi handle (under mmu) */
    bool queued;            /* left for the thread to add (under qmu) */
    struct hreq *todo;      /* the thread's list of those it takes */
    uint64_t last_ms;       /* last byte (or the start) */
    size_t got;             /* body bytes so far */
    bool too_big, idle, cut;
    bool passing;     /* on_head said the answer is passed on: no total cap */
    bool paused;      /* on_data is behind: no byte for it until resumed (mmu) */
    bool curl_paused; /* and libcurl has been told so (CURL_WRITEFUNC_PAUSE) (mmu) */
    long status;
    char *ct, *sid, *pv; /* from the current header block */
    char errbuf[CURL_ERROR_SIZE];
} hreq;

/* Easy handles are kept between requests, not freed: creating one costs a
 * large zeroed allocation and its buffers, per call.  A pooled handle keeps
 * the options every request of the upstream has (URL, callbacks, limits:
 * easy_base), so a POST sets only its own; one used for another method is
 * reset and given the base options again when it comes back. */
#define EASY_POOL 64
/* Above this many fds the lazy removal below is not tracked (done at once). */
#define FD_TRACK 4096

typedef struct hup {
    char *url;
    CURLU *uh; /* url parsed once: libcurl parsed CURLOPT_URL again for every transfer */
    CURLM *multi;
    mcp_upstream *u;
    pthread_mutex_t mmu; /* every call into libcurl on multi and its easy handles */
    int ep, evfd;        /* the thread's epoll set, and its wake-up */
    uint64_t timer_at;   /* libcurl's timer, monotonic ms, UINT64_MAX = none (mmu) */
    uint64_t wait_until; /* the thread sleeps until then at most (mmu) */
    /* Wake-ups of the thread coalesced: set by the sender that writes the
     * eventfd, cleared by the thread before it looks at the queue, so that
     * requests queued while it is busy cost one eventfd write, not one each. */
    atomic_bool poked;
    /* The epoll set, lazily (mmu): libcurl removes a keep-alive socket at
     * the end of every transfer and asks for it again at the start of the
     * next, two epoll_ctl per call for nothing.  Now a socket libcurl no
     * longer watches stays in the set (want 0) until the next transfer
     * wants it again (no call when the events are the same) or an event
     * comes for it while unwanted (removed then: an idle connection
     * closed by the peer would otherwise wake the thread again and again).
     * A socket libcurl closes leaves the set by itself; reg may then be
     * stale, and the ADD / MOD fallbacks in on_socket cover that. */
    uint8_t reg[FD_TRACK];  /* the events registered, REG_IN | REG_OUT, 0 = not in the set */
    uint8_t want[FD_TRACK]; /* what libcurl asked for, 0 = not watched */
    pthread_mutex_t pool_mu;
    CURL *pool[EASY_POOL];
    size_t npool;
    /* A lone request whose sender waits for the answer itself (hold_wait;
     * mmu): its easy handle, and the socket its answer comes on, kept out
     * of the epoll set meanwhile (-1: none held).  At most one at a time. */
    CURL *hold_easy;
    curl_socket_t held;
    bool hold_self; /* the holder itself is running libcurl on it */
    int hold_fd;    /* eventfd: the hold ended on another thread (the holder stops waiting) */
} hup;

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud);
static size_t on_write(char *p, size_t size, size_t nmemb, void *ud);
static void http_wake(mcp_upstream *u);
static int on_close(void *ud, curl_socket_t s);
static curl_socket_t on_open(void *ud, curlsocktype purpose, struct curl_sockaddr *a);

#define REG_IN 1
#define REG_OUT 2
#define REG_SET 4

/* The options every request on this upstream has (the handle is fresh or
 * reset); nonzero on failure. */
static int easy_base(hup *h, CURL *e)
{
    return (h->uh ? curl_easy_setopt(e, CURLOPT_CURLU, h->uh) : curl_easy_setopt(e, CURLOPT_URL, h->url)) ||
           curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) ||
           curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) ||
           curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) || curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) ||
           curl_easy_setopt(e, CURLOPT_PROXY, "") ||
           curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") ||
           curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") ||
           curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)h->u->lim.connect_ms) ||
           curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open) ||
           curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, h) ||
           curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close) ||
           curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, h);
}

static CURL *easy_get(hup *h)
{
    CURL *e = NULL;
    pthread_mutex_lock(&h->pool_mu);
    if (h->npool)
        e = h->pool[--h->npool];
    pthread_mutex_unlock(&h->pool_mu);
    if (e)
        return e;
    e = curl_easy_init();
    if (e && easy_base(h, e)) {
        curl_easy_cleanup(e);
        e = NULL;
    }
    return e;
}

/* e is in no multi handle.  plain: it was used for a POST only (its
 * per-request options are all set again by the next one). */
static void easy_put(hup *h, CURL *e, bool plain)
{
    if (!e)
        return;
    /* no pointer into the finished request may stay behind */
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
    if (!plain) {
        curl_easy_reset(e);
        if (easy_base(h, e)) {
            curl_easy_cleanup(e);
            return;
        }
    } else {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, NULL);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, NULL);
        curl_easy_setopt(e, CURLOPT_PRIVATE, NULL);
    }
    pthread_mutex_lock(&h->pool_mu);
    if (h->npool < EASY_POOL) {
        h->pool[h->npool++] = e;
        e = NULL;
    }
    pthread_mutex_unlock(&h->pool_mu);
    if (e)
        curl_easy_cleanup(e);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static void hreq_free(hreq *r)
{
    if (!r)
        return;
    easy_put(r->u->impl, r->easy, r->plain_post);
    wr_free(r->hdrs);
    wr_free(r->body);
    wr_free(r->ct);
    wr_free(r->sid);
    wr_free(r->pv);
    wr_free(r);
}

/* "Name: value\r\n" -> the value when the name matches, trimmed; copied. */
static char *header_value(const char *line, size_t n, const char *name)
{
    size_t nl = strlen(name);
    if (n <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
        return NULL;
    const char *v = line + nl + 1, *e = line + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
    return wr_strndup(v, (size_t)(e - v));
}

static void keep(char **slot, char *v)
{
    if (!v)
        return;
    wr_free(*slot);
    *slot = v;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    hreq *r = ud;
    size_t n = size * nmemb;
    r->last_ms = up_now_ms();
    if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        /* A new header block (after a 1xx, or the first). */
        wr_free(r->ct);
        wr_free(r->sid);
        wr_free(r->pv);
        r->ct = r->sid = r->pv = NULL;
        return n;
    }
    if (n <= 2 && (p[0] == '\r' || p[0] == '\n')) {
        long st = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &st);
        if (st >= 200) {
            r->status = st;
            r->passing = up_head(r->u, &r->base, (unsigned)st, r->ct, r->sid, r->pv);
        }
        return n;
    }
    keep(&r->ct, header_value(p, n, "Content-Type"));
    keep(&r->sid, header_value(p, n, "Mcp-Session-Id"));
    keep(&r->pv, header_value(p, n, "MCP-Protocol-Version"));
    return n;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    hreq *r = ud;
    size_t n = size * nmemb;
    mcp_upstream *u = r->u;
    if (r->paused) {
        r->curl_paused = true; /* kept by libcurl, handed over again on resume */
        return CURL_WRITEFUNC_PAUSE;
    }
    r->last_ms = up_now_ms();
    if (!r->passing && n > u->lim.max_answer - r->got) {
        r->too_big = true;
        return CURL_WRITEFUNC_ERROR;
    }
    r->got += n;
    mcp_up_flow f = up_data(u, &r->base, p, n);
    if (f == MCP_UP_CUT) {
        r->cut = true;
        return CURL_WRITEFUNC_ERROR;
    }
    r->paused = f == MCP_UP_PAUSE;
    return n;
}

/* mcp_upstream_resume.  The transfer is found under qmu and used under mmu,
 * which every free of one holds. */
static void http_resume(mcp_upstream *u, uint64_t ticket)
{
    hup *h = u->impl;
    pthread_mutex_lock(&h->mmu);
    hreq *r = NULL;
    pthread_mutex_lock(&u->qmu);
    for (up_req *b = u->head; b; b = b->next)
        if (b->ticket == ticket) {
            if (!b->cancelled && !b->done)
                r = (hreq *)b;
            break;
        }
    pthread_mutex_unlock(&u->qmu);
    if (r && r->paused) {
        r->paused = false;
        r->last_ms = up_now_ms(); /* idle from now, not from before the pause */
        if (r->curl_paused) {
            r->curl_paused = false;
            /* may call on_write with what libcurl kept (and pause again);
             * it sets libcurl's timer to now, for the socket to be watched
             * again: the thread runs it */
            curl_easy_pause(r->easy, CURLPAUSE_CONT);
        }
    }
    bool wake = h->timer_at < h->wait_until;
    pthread_mutex_unlock(&h->mmu);
    if (wake)
        http_wake(u);
}

/* The request's header lines, built into one allocation: libcurl only
 * reads a CURLOPT_HTTPHEADER list (never frees or changes it), so its nodes
 * and texts can share a block, one malloc instead of two per header. */
#define HDR_MAX 12
typedef struct hdr_list {
    const char *name[HDR_MAX], *val[HDR_MAX]; /* name NULL: val is the whole line */
    size_t n;
} hdr_list;

static void hdr_add(hdr_list *l, const char *name, const char *v)
{
    if (l->n < HDR_MAX) {
        l->name[l->n] = name;
        l->val[l->n++] = v;
    }
}

static bool header_ok(const char *s, size_t n) { return !memchr(s, '\r', n) && !memchr(s, '\n', n); }

/* Each line at most 4095 bytes, none with CR or LF (else WRIT_EINVAL). */
static writ_status hdrs_build(const hdr_list *l, struct curl_slist **out)
{
    size_t nl[HDR_MAX], vl[HDR_MAX], total = l->n * sizeof(struct curl_slist);
    for (size_t i = 0; i < l->n; i++) {
        nl[i] = l->name[i] ? strlen(l->name[i]) : 0;
        vl[i] = strlen(l->val[i]);
        size_t line = nl[i] + (l->name[i] ? 2 : 0) + vl[i];
        if (line >= 4096 || (l->name[i] && !header_ok(l->name[i], nl[i])) || !header_ok(l->val[i], vl[i]))
            return WRIT_EINVAL;
        total += line + 1;
    }
    struct curl_slist *nodes = wr_malloc(total ? total : 1);
    if (!nodes)
        return WRIT_ENOMEM;
    char *p = (char *)(nodes + l->n);
    for (size_t i = 0; i < l->n; i++) {
        nodes[i].data = p;
        nodes[i].next = i + 1 < l->n ? &nodes[i + 1] : NULL;
        if (l->name[i]) {
            memcpy(p, l->name[i], nl[i]);
            p += nl[i];
            *p++ = ':';
            *p++ = ' ';
        }
        memcpy(p, l->val[i], vl[i]);
        p += vl[i];
        *p++ = '\0';
    }
    *out = l->n ? nodes : NULL;
    if (!l->n)
        wr_free(nodes);
    return WRIT_OK;
}

static void http_wake(mcp_upstream *u)
{
    hup *h = u->impl;
    atomic_store(&h->poked, true);
    uint64_t one = 1;
    ssize_t k = write(h->evfd, &one, sizeof one);
    (void)k; /* a full counter wakes it as well */
}

/* A sender's wake-up for a queued request: one eventfd write per round of
 * the thread, however many are queued meanwhile. */
static void http_poke(mcp_upstream *u)
{
    hup *h = u->impl;
    if (atomic_exchange(&h->poked, true))
        return;
    uint64_t one = 1;
    ssize_t k = write(h->evfd, &one, sizeof one);
    (void)k;
}

static void transfer_done(mcp_upstream *u, hreq *r, CURLcode rc);

/* Finished transfers (mmu held). */
static void drain(hup *h)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(h->multi, &left)))
        if (m->msg == CURLMSG_DONE) {
            hreq *r = NULL;
            CURL *e = m->easy_handle;
            CURLcode rc = m->data.result;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&r);
            if (r)
                transfer_done(h->u, r, rc);
        }
}

/* libcurl's next timer, asked (mmu held). */
static void refresh_timer(hup *h)
{
    long t = -1;
    curl_multi_timeout(h->multi, &t);
    h->timer_at = t < 0 ? UINT64_MAX : up_now_ms() + (uint64_t)t;
}

/* Let libcurl run what its timer says is due (mmu held): a request just
 * added is written here.  A few rounds at most while libcurl asks for 0 ms
 * again (a state moving on); whatever waits for a socket or a later timer
 * is the thread's. */
static void kick(hup *h)
{
    int running = 0;
    for (int i = 0; i < 4; i++) {
        curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        refresh_timer(h);
        if (h->timer_at > up_now_ms())
            break;
    }
    drain(h);
}

/* libcurl: watch socket s for `what` (mmu held). */
static int on_socket(CURL *e, curl_socket_t s, int what, void *ud, void *sockp)
{
    (void)e;
    (void)sockp;
    hup *h = ud;
    bool tracked = s >= 0 && s < FD_TRACK;
    if (what == CURL_POLL_REMOVE) {
        if (tracked)
            h->want[s] = 0; /* left in the set (see hup); a held one is not in it */
        else
            epoll_ctl(h->ep, EPOLL_CTL_DEL, s, NULL);
        return 0;
    }
    uint8_t m = (what == CURL_POLL_IN || what == CURL_POLL_INOUT ? REG_IN : 0) |
                (what == CURL_POLL_OUT || what == CURL_POLL_INOUT ? REG_OUT : 0) | REG_SET;
    struct epoll_event ev = {0};
    ev.events = (m & REG_IN ? EPOLLIN : 0) | (m & REG_OUT ? EPOLLOUT : 0);
    ev.data.fd = s;
    if (tracked) {
        h->want[s] = m;
        if (s == h->held)
            return 0; /* its sender watches it (hold_wait) */
        if (h->hold_easy && e == h->hold_easy && h->held < 0 && m == (REG_IN | REG_SET)) {
            /* the lone request is written and waits for its answer: out
             * of the set, so that the answer wakes its sender only */
            if (h->reg[s] && epoll_ctl(h->ep, EPOLL_CTL_DEL, s, NULL) != 0 && errno != ENOENT) {
                h->want[s] = m;
                return 0; /* still in the set: not held, the thread reads it */
            }
            h->reg[s] = 0;
            h->held = s;
            return 0;
        }
        if (h->reg[s] == m)
            return 0;
        if (h->reg[s] ? epoll_ctl(h->ep, EPOLL_CTL_MOD, s, &ev) != 0 && errno == ENOENT &&
                            epoll_ctl(h->ep, EPOLL_CTL_ADD, s, &ev) != 0
                      : epoll_ctl(h->ep, EPOLL_CTL_ADD, s, &ev) != 0 && errno == EEXIST &&
                            epoll_ctl(h->ep, EPOLL_CTL_MOD, s, &ev) != 0)
            h->reg[s] = 0;
        else
            h->reg[s] = m;
        return 0;
    }
    if (epoll_ctl(h->ep, EPOLL_CTL_MOD, s, &ev) != 0 && errno == ENOENT)
        epoll_ctl(h->ep, EPOLL_CTL_ADD, s, &ev);
    return 0;
}

/* libcurl closes a socket (mmu held, as for every call into libcurl): the
 * kernel takes it out of the epoll set, and its number may come back for
 * another socket, which must then be added anew. */
static int on_close(void *ud, curl_socket_t s)
{
    hup *h = ud;
    if (s >= 0 && s < FD_TRACK)
        h->reg[s] = h->want[s] = 0;
    if (s == h->held) {
        /* its sender finds it gone; and no other socket of the transfer
         * (libcurl may connect anew) is held behind its back */
        h->held = -1;
        h->hold_easy = NULL;
        if (!h->hold_self) {
            uint64_t one = 1;
            ssize_t k = write(h->hold_fd, &one, sizeof one);
            (void)k;
        }
    }
    return close(s);
}

/* libcurl opens a socket (mmu held): whatever was recorded for its number
 * belongs to a socket closed since, however it was closed. */
static curl_socket_t on_open(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)purpose;
    hup *h = ud;
    curl_socket_t s = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (s >= 0 && s < FD_TRACK)
        h->reg[s] = h->want[s] = 0;
    return s;
}

/* libcurl: call back in timeout_ms (-1: no timer) (mmu held). */
static int on_timer(CURLM *m, long timeout_ms, void *ud)
{
    (void)m;
    hup *h = ud;
    h->timer_at = timeout_ms < 0 ? UINT64_MAX : up_now_ms() + (uint64_t)timeout_ms;
    return 0;
}

/* How long a lone request's sender waits for the answer itself before the
 * upstream's thread takes over.  The sender's other work does not wait for
 * it (the wait ends as soon as the sender's own descriptor has something);
 * the bound keeps a worker passing through its loop often enough for its
 * stop and quiesce flags (read at least every 100 ms), and lets a slow tool
 * (tens of ms, where one wake-up more is noise) go the usual way. */
#define HOLD_NS 20000000L

/* The sender of a lone request waits for its answer on the held socket s
 * (mmu not held), and runs libcurl on it itself: the answer's callbacks
 * run here, and the connection is not resumed from another thread.  Ends
 * when the transfer is done (or fails), when wait_fd has something (the
 * sender's own work comes first), or after HOLD_NS: then s goes back into
 * the epoll set (level-triggered: an answer already there wakes the
 * upstream's thread at once) and the thread carries on with it.  For its
 * first spin_ns it polls without sleeping: where waking a sleeping thread
 * is slow (a VM whose idle CPUs halt: tens of microseconds), a fast
 * upstream's answer is read sooner than a wake-up would deliver it. */
static void hold_wait(mcp_upstream *u, CURL *e, curl_socket_t s, int wait_fd, long spin_ns)
{
    hup *h = u->impl;
    uint64_t t0 = wr_mono_ns();
    for (;;) {
        long waited = (long)(wr_mono_ns() - t0), left = HOLD_NS - waited;
        struct pollfd p[3] = {{.fd = s, .events = POLLIN},
                              {.fd = wait_fd, .events = POLLIN},
                              {.fd = h->hold_fd, .events = POLLIN}};
        int n = 0;
        if (waited < spin_ns)
            while ((n = ppoll(p, 3, &(struct timespec){0, 0}, NULL)) == 0 &&
                   wr_mono_ns() - t0 < (uint64_t)spin_ns)
                ;
        if (n == 0 && left > 0)
            n = ppoll(p, 3, &(struct timespec){0, left}, NULL);
        pthread_mutex_lock(&h->mmu);
        if (h->held != s || h->hold_easy != e) { /* done, cut or closed meanwhile */
            uint64_t v;
            ssize_t k = read(h->hold_fd, &v, sizeof v); /* its signal, if any (under mmu: no new one) */
            (void)k;
            pthread_mutex_unlock(&h->mmu);
            return;
        }
        bool more = false;
        if (n > 0 && p[0].revents) {
            int running = 0;
            int mask = CURL_CSELECT_IN | (p[0].revents & (POLLERR | POLLHUP) ? CURL_CSELECT_ERR : 0);
            h->hold_self = true;
            curl_multi_socket_action(h->multi, s, mask, &running);
            drain(h); /* the callbacks; the transfer ends (unhold) when it is all in */
            h->hold_self = false;
            refresh_timer(h);
            /* a part of the answer: wait on, while there is time and no
             * other work, and libcurl waits for nothing but more of it */
            more = h->held == s && h->hold_easy == e && !(p[1].revents) &&
                   !(p[0].revents & (POLLERR | POLLHUP)) && h->want[s] == (REG_IN | REG_SET);
        }
        if (!more && h->held == s && h->hold_easy == e) {
            /* the upstream's thread takes over (see hup for the set) */
            h->held = -1;
            h->hold_easy = NULL;
            uint8_t m = h->want[s];
            if (m)
                on_socket(NULL, s,
                          (m & REG_IN) && (m & REG_OUT) ? CURL_POLL_INOUT
                          : m & REG_OUT                 ? CURL_POLL_OUT
                                                        : CURL_POLL_IN,
                          h, NULL);
        }
        bool wake = h->timer_at < h->wait_until;
        pthread_mutex_unlock(&h->mmu);
        if (wake)
            http_wake(u);
        if (!more)
            return;
    }
}

static writ_status http_send(mcp_upstream *u, const mcp_up_request *rq, const mcp_up_callbacks *cb, void *arg,
                             uint64_t *ticket)
{
    hup *h = u->impl;
    const char *method = rq->method ? rq->method : "POST";
    bool post = strcmp(method, "POST") == 0, get = strcmp(method, "GET") == 0,
         del = strcmp(method, "DELETE") == 0;
    if (!post && !get && !del)
        return WRIT_EINVAL;
    if (post && !rq->body)
        return WRIT_EINVAL;
    hreq *r = wr_calloc(1, sizeof *r);
    if (!r)
        return WRIT_ENOMEM;
    writ_status st = WRIT_ENOMEM;
    r->u = u;
    r->base.cb = *cb;
    r->base.arg = arg;
    if (!(r->easy = easy_get(h)))
        goto err;
    hdr_list hl = {.n = 0};
    if (post) {
        r->len = rq->len;
        if (!(r->body = wr_malloc(rq->len ? rq->len : 1)))
            goto err;
        memcpy(r->body, rq->body, rq->len);
        hdr_add(&hl, "Content-Type", "application/json");
    }
    hdr_add(&hl, "Accept", rq->accept ? rq->accept : "application/json, text/event-stream");
    if (rq->session_id)
        hdr_add(&hl, "Mcp-Session-Id", rq->session_id);
    if (rq->protocol_version)
        hdr_add(&hl, "MCP-Protocol-Version", rq->protocol_version);
    if (rq->last_event_id)
        hdr_add(&hl, "Last-Event-ID", rq->last_event_id);
    if (rq->nheaders > HDR_MAX - 6) {
        st = WRIT_EINVAL;
        goto err;
    }
    for (size_t i = 0; i < rq->nheaders; i++) {
        if (!rq->headers[i] || !strchr(rq->headers[i], ':')) {
            st = WRIT_EINVAL;
            goto err;
        }
        hdr_add(&hl, NULL, rq->headers[i]);
    }
    /* No "Expect: 100-continue" round trip for large bodies.  libcurl adds
     * one only above a threshold (1 MiB in 7.x and 8.x, 1 KiB in old
     * versions); a small body goes without the line, which saves libcurl
     * a header to scan on each of its own checks. */
    if (!post || r->len > 1024)
        hdr_add(&hl, NULL, "Expect:");
    if ((st = hdrs_build(&hl, &r->hdrs)) != WRIT_OK)
        goto err;
    st = WRIT_EINVAL;
    CURL *e = r->easy;
    /* the base options are on the handle already (easy_get); a pooled
     * handle may hold a POST's, which a GET or a DELETE must not inherit */
    if (!post) {
        curl_easy_reset(e);
        if (easy_base(h, e))
            goto err;
    }
    if (curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs) || curl_easy_setopt(e, CURLOPT_HEADERDATA, r) ||
        curl_easy_setopt(e, CURLOPT_WRITEDATA, r) || curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf) ||
        curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)r))
        goto err;
    if (post && (curl_easy_setopt(e, CURLOPT_POST, 1L) || curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body) ||
                 curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->len)))
        goto err;
    if (get && curl_easy_setopt(e, CURLOPT_HTTPGET, 1L))
        goto err;
    if (del && curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE"))
        goto err;
    r->plain_post = post;
    /* Write it now, on this thread (see the top of the file), unless
     * libcurl is busy on another: then the upstream's thread adds it with
     * whatever else came meanwhile, and this one does not wait. */
    bool mine = pthread_mutex_trylock(&h->mmu) == 0;
    pthread_mutex_lock(&u->qmu);
    if (u->stop) {
        pthread_mutex_unlock(&u->qmu);
        if (mine)
            pthread_mutex_unlock(&h->mmu);
        st = WRIT_EINVAL;
        goto err;
    }
    up_link(u, &r->base);
    *ticket = r->base.ticket;
    r->last_ms = up_now_ms();
    r->queued = !mine;
    pthread_mutex_unlock(&u->qmu);
    if (!mine) {
        http_poke(u);
        return WRIT_OK;
    }
    bool wake = false;
    CURL *e0 = r->easy;
    /* a lone POST: its socket is held out of the set once libcurl waits
     * for the answer on it (on_socket), unless another is held */
    bool hold = post && rq->wait_here && rq->wait_fd >= 0 && h->held < 0 && !h->hold_easy;
    if (hold)
        h->hold_easy = e0;
    h->hold_self = hold; /* an answer read in the kick needs no signal */
    if (curl_multi_add_handle(h->multi, r->easy) == CURLM_OK) {
        r->added = true;
        kick(h); /* r may be finished and freed in here: not touched after */
    } else {
        r->add_failed = true; /* the thread fails it */
        wake = true;
    }
    h->hold_self = false;
    curl_socket_t held = -1;
    if (hold && h->hold_easy == e0) {
        if (h->held >= 0)
            held = h->held;
        else
            h->hold_easy = NULL; /* not waiting on a socket (yet): the thread's, as any */
    }
    wake |= h->timer_at < h->wait_until;
    pthread_mutex_unlock(&h->mmu);
    if (wake)
        http_wake(u);
    if (held >= 0)
        hold_wait(u, e0, held, rq->wait_fd, rq->spin_ns);
    return WRIT_OK;
err:
    hreq_free(r);
    return st;
}

/* r leaves the multi handle (mmu held): a hold on its socket ends (its
 * sender, waiting in hold_wait, finds it so and returns). */
static void unhold(hup *h, const hreq *r)
{
    if (h->hold_easy && h->hold_easy == r->easy) {
        /* ended on another thread (a timer, a cancel): the holder stops
         * waiting now rather than at its deadline */
        if (h->held >= 0 && !h->hold_self) {
            uint64_t one = 1;
            ssize_t k = write(h->hold_fd, &one, sizeof one);
            (void)k;
        }
        h->hold_easy = NULL;
        h->held = -1; /* libcurl no longer watches it: not in the set either */
    }
}

/* Take r off the list and the multi handle, and free it (mmu held). */
static void finish(mcp_upstream *u, hreq *r)
{
    hup *h = u->impl;
    pthread_mutex_lock(&u->qmu);
    up_unlink(u, &r->base);
    pthread_mutex_unlock(&u->qmu);
    if (r->added)
        curl_multi_remove_handle(h->multi, r->easy);
    unhold(h, r);
    hreq_free(r);
}

static void transfer_done(mcp_upstream *u, hreq *r, CURLcode rc)
{
    char why[CURL_ERROR_SIZE + 160];
    if (r->too_big) {
        up_too_big(u, &r->base);
    } else if (r->cut) {
        up_cut(u, &r->base);
    } else if (r->idle) {
        snprintf(why, sizeof why, "upstream %s: no byte for %u ms (idle timeout)", u->name, u->lim.idle_ms);
        up_done(u, &r->base, WRIT_EIO, why);
    } else if (rc != CURLE_OK) {
        const char *what = rc == CURLE_OPERATION_TIMEDOUT && !r->base.head_sent ? "connect timeout: "
                           : rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR
                               ? "connection closed mid-answer: "
                           : rc == CURLE_COULDNT_CONNECT ? "connection refused: "
                                                         : "";
        snprintf(why, sizeof why, "upstream %s: %s%s", u->name, what,
                 r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
        up_done(u, &r->base, WRIT_EIO, why);
    } else {
        if (!r->base.head_sent) {
            /* No blank line seen (cannot happen with a complete answer); still one head. */
            long st = 0;
            curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &st);
            up_head(u, &r->base, (unsigned)st, r->ct, r->sid, r->pv);
        }
        up_done(u, &r->base, WRIT_OK, NULL);
    }
    finish(u, r);
}

static void *http_thread(void *arg)
{
    mcp_upstream *u = arg;
    hup *h = u->impl;
    up_thread_enter(u);
    struct epoll_event evs[64];
    int nev = 0;
    for (;;) {
        /* A wake-up is consumed before the list is looked at, never after:
         * a request queued (or cancelled) after this read wakes the next
         * epoll_wait, one before it is seen below. */
        for (int i = 0; i < nev; i++)
            if (evs[i].data.fd == h->evfd) {
                uint64_t v;
                ssize_t k = read(h->evfd, &v, sizeof v);
                (void)k;
            }
        /* and the poke with it: a sender queueing after this writes again */
        atomic_store(&h->poked, false);
        /* Cancelled ones out.  All of it under mmu: a sender's kick may
         * finish a transfer (and unlink it) meanwhile otherwise. */
        hreq *gone = NULL;
        pthread_mutex_lock(&h->mmu);
        pthread_mutex_lock(&u->qmu);
        bool stop = u->stop;
        hreq *todo = NULL;
        for (up_req *b = u->head, *next; b; b = next) {
            next = b->next;
            if (b->cancelled || stop) {
                up_unlink(u, b);
                b->next = (up_req *)gone;
                gone = (hreq *)b;
            } else if (((hreq *)b)->queued) {
                ((hreq *)b)->queued = false;
                ((hreq *)b)->todo = todo;
                todo = (hreq *)b;
            }
        }
        pthread_mutex_unlock(&u->qmu);
        while (gone) {
            hreq *r = gone;
            gone = (hreq *)r->base.next;
            if (r->added)
                curl_multi_remove_handle(h->multi, r->easy);
            unhold(h, r);
            hreq_free(r);
        }
        if (stop) {
            pthread_mutex_unlock(&h->mmu);
            break;
        }
        /* Sent while libcurl was busy elsewhere: added here, written at
         * once (still linked; a cancel meanwhile is handled next round). */
        if (todo) {
            for (hreq *r = todo; r; r = r->todo) {
                if (curl_multi_add_handle(h->multi, r->easy) == CURLM_OK)
                    r->added = true;
                else
                    r->add_failed = true;
            }
            kick(h);
        }
        /* What woke us: sockets, then timers. */
        int running = 0;
        for (int i = 0; i < nev; i++) {
            int fd = evs[i].data.fd;
            if (fd == h->evfd)
                continue; /* read at the top */
            if (fd >= 0 && fd < FD_TRACK && !h->want[fd]) {
                /* left in the set after libcurl let go of it (see hup) */
                epoll_ctl(h->ep, EPOLL_CTL_DEL, fd, NULL);
                h->reg[fd] = 0;
                continue;
            }
            int mask = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                       (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                       (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(h->multi, evs[i].data.fd, mask, &running);
        }
        nev = 0;
        drain(h);
        refresh_timer(h);
        if (h->timer_at <= up_now_ms())
            kick(h);
        /* Idle timeouts, and an add that failed (out of memory in libcurl). */
        uint64_t now = up_now_ms();
        uint64_t next_ms = now + 1000;
        for (;;) {
            hreq *late = NULL;
            pthread_mutex_lock(&u->qmu);
            for (up_req *b = u->head; b; b = b->next) {
                hreq *r = (hreq *)b;
                if (b->cancelled)
                    continue;
                if (r->add_failed) {
                    late = r;
                    break;
                }
                if (r->paused)
                    continue; /* waiting for its reader, not for the upstream */
                uint64_t dl = r->last_ms + u->lim.idle_ms;
                if (dl <= now) {
                    r->idle = true;
                    late = r;
                    break;
                }
                if (dl < next_ms)
                    next_ms = dl;
            }
            pthread_mutex_unlock(&u->qmu);
            if (!late)
                break;
            transfer_done(u, late, late->added ? CURLE_OPERATION_TIMEDOUT : CURLE_OUT_OF_MEMORY);
        }
        if (h->timer_at < next_ms)
            next_ms = h->timer_at;
        h->wait_until = next_ms;
        pthread_mutex_unlock(&h->mmu);
        now = up_now_ms();
        int wait = next_ms > now ? (int)(next_ms - now) : 0;
        nev = epoll_wait(h->ep, evs, (int)(sizeof evs / sizeof evs[0]), wait);
        if (nev < 0)
            nev = 0;
    }
    return NULL;
}

static void http_close(mcp_upstream *u)
{
    hup *h = u->impl;
    if (!h)
        return;
    for (up_req *b = u->head, *next; b; b = next) {
        next = b->next;
        hreq *r = (hreq *)b;
        if (r->added)
            curl_multi_remove_handle(h->multi, r->easy);
        hreq_free(r);
    }
    u->head = u->tail = NULL;
    for (size_t i = 0; i < h->npool; i++)
        curl_easy_cleanup(h->pool[i]);
    h->npool = 0;
    pthread_mutex_destroy(&h->pool_mu);
    pthread_mutex_destroy(&h->mmu);
    if (h->multi)
        curl_multi_cleanup(h->multi);
    if (h->ep >= 0)
        close(h->ep);
    if (h->evfd >= 0)
        close(h->evfd);
    if (h->hold_fd >= 0)
        close(h->hold_fd);
    curl_url_cleanup(h->uh);
    wr_free(h->url);
    wr_free(h);
    u->impl = NULL;
}

writ_status mcp_upstream_http_open(const char *name, const char *url, const mcp_up_limits *lim,
                                   mcp_upstream **out, writ_error *err)
{
    *out = NULL;
    if (!url || (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0))
        return wr_error(err, WRIT_EINVAL, "mcp upstream %s: the URL must start with http:// or https://",
                        name ? name : "");
    for (const char *c = url; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return wr_error(err, WRIT_EINVAL, "mcp upstream %s: the URL has a space or control character",
                            name ? name : "");
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return wr_error(err, WRIT_EIO, "mcp upstream %s: libcurl: %s", name ? name : "",
                        curl_easy_strerror(curl_init_rc));
    CURLU *cu = curl_url();
    CURLUcode uc = cu ? curl_url_set(cu, CURLUPART_URL, url, 0) : CURLUE_OUT_OF_MEMORY;
    curl_url_cleanup(cu);
    if (uc != CURLUE_OK)
        return wr_error(err, WRIT_EINVAL, "mcp upstream %s: bad URL: %s", name ? name : "",
                        curl_url_strerror(uc));
    mcp_upstream *u = up_new(false, name, lim);
    hup *h = u ? wr_calloc(1, sizeof *h) : NULL;
    if (!h) {
        if (u)
            up_free(u);
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    }
    h->ep = h->evfd = h->hold_fd = -1;
    h->held = -1;
    h->timer_at = UINT64_MAX;
    pthread_mutex_init(&h->pool_mu, NULL);
    pthread_mutex_init(&h->mmu, NULL);
    u->impl = h;
    u->send_impl = http_send;
    u->wake = http_wake;
    u->resume_impl = http_resume;
    u->close_impl = http_close;
    h->u = u;
    h->url = wr_strndup(url, strlen(url));
    h->uh = curl_url();
    if (h->uh && curl_url_set(h->uh, CURLUPART_URL, url, 0) != CURLUE_OK) {
        curl_url_cleanup(h->uh);
        h->uh = NULL;
    }
    h->multi = curl_multi_init();
    h->ep = epoll_create1(EPOLL_CLOEXEC);
    h->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    h->hold_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event wev = {.events = EPOLLIN, .data.fd = h->evfd};
    if (h->ep < 0 || h->evfd < 0 || h->hold_fd < 0 || epoll_ctl(h->ep, EPOLL_CTL_ADD, h->evfd, &wev) != 0) {
        int e = errno;
        http_close(u);
        up_free(u);
        return wr_error(err, WRIT_EIO, "mcp upstream %s: epoll: %s", name ? name : "", strerror(e));
    }
    if (h->multi && (curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket) ||
                     curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h) ||
                     curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer) ||
                     curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h) ||
                     curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)IDLE_CONNS))) {
        curl_multi_cleanup(h->multi);
        h->multi = NULL;
    }
    if (!h->url || !h->multi) {
        http_close(u);
        up_free(u);
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    }
    if (pthread_create(&u->thread, NULL, http_thread, u) != 0) {
        http_close(u);
        up_free(u);
        return wr_error(err, WRIT_EIO, "mcp upstream %s: cannot start its thread", name ? name : "");
    }
    u->thread_started = true;
    pthread_setname_np(u->thread, "writ-mcp-http"); /* as top and the tests show it */
    *out = u;
    return WRIT_OK;
}
