/* upstream_stdio.c - an MCP server Writ runs itself, JSON-RPC on its stdin
 * and stdout, one line a message.
 *
 * One process and one thread per upstream.  The thread owns the process: it
 * writes queued requests to the process's stdin (non-blocking, one message
 * at a time from its own buffer, so a cancelled request never leaves half a
 * line behind), splits stdout into lines (at most max_answer bytes kept),
 * and matches answers to requests by id.  Every request's id is replaced by
 * a number unique to the upstream (never reused, even across restarts, so
 * the late answer of a dead process or a timed-out request matches nothing)
 * and the caller's id, string or integer, is put back in the answer.
 *
 * A line longer than max_answer is not kept, and the process goes on: it
 * serves every agent, and one agent's call with a large answer (a big file
 * read) must not end the others'.  Past max_answer the line's bytes go
 * through a small scanner (mcp/idscan.h: constant memory, whatever the
 * length) on their way to the bin, up to the line's "\n"; there, when it
 * found the line's top-level id and the line is an answer to a request in
 * flight, that request alone ends with an error (WRIT_ELIMIT, "answer
 * larger than N bytes (cut)", as an HTTP upstream's).  A long line with no
 * id of ours (a notification, not JSON, an id no request in flight has) is
 * dropped, counted and logged; the request it may have answered ends at its
 * own timeout.  One of the process's own requests is refused as a short one
 * is (below).
 *
 * The process dying (EOF on its stdout, a write failing, or the replayed
 * initialize unanswered), or stuck (not reading its stdin for idle_ms, or
 * writing one line past max_answer for idle_ms: every request it could
 * answer has timed out by then, and no answer can pass it), ends every
 * request written to it with an error; the process is started again
 * restart_ms later.  Requests not yet written wait for the new process,
 * each at most connect_ms from when it was sent.
 *
 * MCP's handshake: a new process knows nothing of the client's session.
 * The upstream remembers the last "initialize" request it forwarded; after
 * a restart it sends that initialize again (with an id of its own), waits
 * for its answer (at most connect_ms; the answer is swallowed), sends
 * "notifications/initialized", and only then writes what is queued.  So a
 * client keeps its session across a crash of the server, as long as the
 * server's state is rebuilt by initialize alone.  When the first message
 * waiting is itself an initialize, nothing is replayed.
 *
 * Messages of the process that answer nothing of ours (its notifications,
 * answers to nothing in flight) are dropped and counted; a
 * notifications/tools/list_changed is counted too, as the upstream's
 * tools_epoch (the gateway then forgets what it knew of the tools).  Its
 * own requests (roots/list, sampling, elicitation) are answered at once
 * with an error, a ping with an empty result: the process serves every
 * client, so no client can be asked for it, and a server that waited for
 * the answer would hang.
 * Answers waiting to be written are capped (REFUSALS_MAX); past it they are
 * dropped too.
 *
 * A client's notifications/cancelled names the client's id; the process
 * knows only ours, and serves every agent.  So the cancel is passed on
 * naming our id of the sender's own request with that id (the same owner,
 * still in flight), or an id that names nothing: one agent never cancels
 * another's call. */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mcp/jsonrpc.h"
#include "mcp/upstream_int.h"
#include "util/alloc.h"
#include "util/error.h"

extern char **environ;

#define REFUSALS_MAX (1u << 20) /* bytes waiting to be written past which the process's requests go unanswered */

typedef enum { SQ_QUEUED, SQ_WRITING, SQ_WRITTEN } sq_state;

typedef struct sreq {
    up_req base; /* first: the list holds sreqs */
    char *line;  /* with its "\n" */
    size_t len;
    up_msg_kind kind;
    bool is_init;
    json_t *orig_id;
    char *orig_text; /* the caller's id as it spelled it */
    char *owner;     /* mcp_up_request.owner, NULL = none */
    uint64_t wire_id;
    sq_state state;
    uint64_t t_sent, t_written;
} sreq;

typedef enum { P_DOWN, P_INIT, P_UP } pstate;

typedef struct sup {
    char **argv;
    pid_t pid;
    int in_fd, out_fd; /* the process's stdin (we write), stdout (we read) */
    int wake_r, wake_w;
    up_lines lines;
    char *obuf; /* bytes being written to stdin */
    size_t olen, ooff, ocap;
    sreq *writing; /* the request whose line is in obuf, if any */
    pstate st;
    uint64_t restart_at;
    uint64_t init_wire, init_deadline;
    uint64_t out_progress; /* when stdin last took bytes (or obuf filled) */
    uint64_t long_since;   /* when the line being read went past max_answer (0: it has not) */
    _Atomic uint64_t next_wire;
    char *init_body; /* the last initialize (qmu) */
    size_t init_len;
    _Atomic uint64_t dropped;
} sup;

static void sreq_free(sreq *r)
{
    if (!r)
        return;
    wr_free(r->line);
    json_decref(r->orig_id);
    wr_free(r->orig_text);
    wr_free(r->owner);
    wr_free(r);
}

static bool same_owner(const char *a, const char *b) { return a && b ? !strcmp(a, b) : a == b; }

/* A notifications/cancelled as the process must read it (see the top):
 * a new line (wr_malloc'd), or NULL when line is no cancel (or out of
 * memory: then it goes as it is, a cancel naming the caller's id, which
 * can only miss). */
static char *cancel_line(mcp_upstream *u, const char *owner, const char *line)
{
    json_t *m = json_loads(line, JSON_ALLOW_NUL, NULL);
    json_t *params = json_object_get(m, "params");
    const json_t *want = json_object_get(params, "requestId");
    char *out = NULL;
    if (json_is_string(json_object_get(m, "method")) &&
        !strcmp(json_string_value(json_object_get(m, "method")), "notifications/cancelled") && want) {
        /* the newest such request (an ended one may still be listed: a
         * cancel of it is ignored); kind, ids and owner never change once
         * linked */
        uint64_t id = 0;
        pthread_mutex_lock(&u->qmu);
        for (const up_req *b = u->head; b; b = b->next) {
            const sreq *q = (const sreq *)b;
            if (q->kind == UP_MSG_REQUEST && q->orig_id && same_owner(q->owner, owner) &&
                json_equal(q->orig_id, want))
                id = q->wire_id;
        }
        pthread_mutex_unlock(&u->qmu);
        json_t *wire = id ? json_integer((json_int_t)id) : NULL;
        if (!wire)
            wire = json_string("writ: no request of this client has that id");
        if (wire && json_object_set_new(params, "requestId", wire) == 0) {
            char *t = json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY);
            out = t ? wr_strndup(t, strlen(t)) : NULL;
            free(t);
        }
    }
    json_decref(m);
    return out;
}

static void stdio_wake(mcp_upstream *u)
{
    sup *s = u->impl;
    char c = 1;
    ssize_t k = write(s->wake_w, &c, 1);
    (void)k; /* full: a wakeup is pending anyway */
}

static writ_status stdio_send(mcp_upstream *u, const mcp_up_request *rq, const mcp_up_callbacks *cb,
                              void *arg, uint64_t *ticket)
{
    sup *s = u->impl;
    if ((rq->method && strcmp(rq->method, "POST") != 0) || !rq->body)
        return WRIT_EINVAL; /* no server stream and no session to end over stdio */
    sreq *r = wr_calloc(1, sizeof *r);
    if (!r)
        return WRIT_ENOMEM;
    r->base.cb = *cb;
    r->base.arg = arg;
    r->wire_id = atomic_fetch_add(&s->next_wire, 1);
    char *line = NULL;
    writ_status st = up_stdio_rewrite(rq->body, rq->len, r->wire_id, &line, &r->kind, &r->orig_id,
                                      &r->orig_text, &r->is_init, NULL);
    if (st != WRIT_OK) {
        sreq_free(r);
        return st;
    }
    if (rq->owner && !(r->owner = wr_strndup(rq->owner, strlen(rq->owner)))) {
        wr_free(line);
        sreq_free(r);
        return WRIT_ENOMEM;
    }
    if (r->kind == UP_MSG_NOTIFICATION) {
        char *c = cancel_line(u, rq->owner, line);
        if (c) {
            wr_free(line);
            line = c;
        }
    }
    size_t n = strlen(line);
    char *init = NULL;
    r->line = wr_malloc(n + 1);
    if (r->line && r->is_init)
        init = wr_strndup(rq->body, rq->len);
    if (!r->line || (r->is_init && !init)) {
        wr_free(line);
        sreq_free(r);
        return WRIT_ENOMEM;
    }
    memcpy(r->line, line, n);
    r->line[n] = '\n';
    r->len = n + 1;
    wr_free(line);
    r->t_sent = up_now_ms();
    pthread_mutex_lock(&u->qmu);
    if (u->stop) {
        pthread_mutex_unlock(&u->qmu);
        wr_free(init);
        sreq_free(r);
        return WRIT_EINVAL;
    }
    if (init) {
        wr_free(s->init_body);
        s->init_body = init;
        s->init_len = rq->len;
    }
    up_link(u, &r->base);
    *ticket = r->base.ticket;
    pthread_mutex_unlock(&u->qmu);
    stdio_wake(u);
    return WRIT_OK;
}

/* ---- the process ---- */

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int spawn(mcp_upstream *u, char *why, size_t whylen)
{
    sup *s = u->impl;
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
        snprintf(why, whylen, "upstream %s: pipe: %s", u->name, strerror(errno));
        goto err;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    /* The child starts with no signal blocked and SIGPIPE at its default,
     * whatever this thread (which blocks SIGPIPE) or the server does. */
    sigset_t none, def;
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &def);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int rc = posix_spawnp(&pid, s->argv[0], &fa, &at, s->argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0) {
        snprintf(why, whylen, "upstream %s: cannot start %s: %s", u->name, s->argv[0], strerror(rc));
        goto err;
    }
    close(in[0]);
    close(out[1]);
    s->pid = pid;
    s->in_fd = in[1];
    s->out_fd = out[0];
    set_nonblock(s->in_fd);
    set_nonblock(s->out_fd);
    atomic_fetch_add(&u->starts, 1);
    return 0;
err:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0)
            close(in[i]);
        if (out[i] >= 0)
            close(out[i]);
    }
    return -1;
}

/* Reap the process: it has closed its stdout (usually it is exiting);
 * give it 100 ms, then kill it.  Describes how it ended. */
static void reap(sup *s, char *how, size_t howlen)
{
    if (s->in_fd >= 0)
        close(s->in_fd);
    if (s->out_fd >= 0)
        close(s->out_fd);
    s->in_fd = s->out_fd = -1;
    if (s->pid <= 0) {
        snprintf(how, howlen, "not running");
        return;
    }
    int status = 0;
    pid_t w = 0;
    for (int i = 0; i < 20 && (w = waitpid(s->pid, &status, WNOHANG)) == 0; i++)
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    if (w == 0) {
        kill(s->pid, SIGKILL);
        w = waitpid(s->pid, &status, 0);
    }
    if (w != s->pid)
        snprintf(how, howlen, "ended (status unknown)");
    else if (WIFEXITED(status))
        snprintf(how, howlen, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(how, howlen, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(how, howlen, "ended");
    s->pid = 0;
}

static void free_done(mcp_upstream *u, sreq *r)
{
    sup *s = u->impl;
    if (s->writing == r)
        s->writing = NULL;
    pthread_mutex_lock(&u->qmu);
    up_unlink(u, &r->base);
    pthread_mutex_unlock(&u->qmu);
    sreq_free(r);
}

/* The process is gone or must go: fail what was written to it, restart later. */
static void proc_down(mcp_upstream *u, const char *cause)
{
    sup *s = u->impl;
    if (s->pid > 0)
        kill(s->pid, SIGKILL);
    char how[96], why[512];
    reap(s, how, sizeof how);
    snprintf(why, sizeof why, "upstream %s: process %s (%s); restarting in %u ms", u->name, how, cause,
             u->lim.restart_ms);
    for (;;) {
        sreq *r = NULL;
        pthread_mutex_lock(&u->qmu);
        for (up_req *b = u->head; b; b = b->next)
            if (((sreq *)b)->state != SQ_QUEUED) {
                r = (sreq *)b;
                break;
            }
        pthread_mutex_unlock(&u->qmu);
        if (!r)
            break;
        up_done(u, &r->base, WRIT_EIO, why);
        free_done(u, r);
    }
    s->writing = NULL;
    s->olen = s->ooff = 0;
    up_lines_reset(&s->lines);
    s->long_since = 0;
    s->st = P_DOWN;
    s->restart_at = up_now_ms() + u->lim.restart_ms;
}

static bool obuf_add(sup *s, const char *p, size_t n)
{
    if (s->ooff == s->olen) {
        s->ooff = s->olen = 0;
        s->out_progress = up_now_ms();
    }
    if (s->olen + n > s->ocap) {
        size_t cap = s->ocap ? s->ocap : 4096;
        while (cap < s->olen + n)
            cap *= 2;
        char *b = wr_realloc(s->obuf, cap);
        if (!b)
            return false;
        s->obuf = b;
        s->ocap = cap;
    }
    memcpy(s->obuf + s->olen, p, n);
    s->olen += n;
    return true;
}

/* The first request still queued (not cancelled), in sending order. */
static sreq *first_queued(mcp_upstream *u)
{
    sreq *q = NULL;
    pthread_mutex_lock(&u->qmu);
    for (up_req *b = u->head; b; b = b->next)
        if (!b->cancelled && ((sreq *)b)->state == SQ_QUEUED) {
            q = (sreq *)b;
            break;
        }
    pthread_mutex_unlock(&u->qmu);
    return q;
}

static void start_process(mcp_upstream *u)
{
    sup *s = u->impl;
    char why[512];
    if (spawn(u, why, sizeof why) != 0) {
        fprintf(stderr, "writ: %s; retrying in %u ms\n", why, u->lim.restart_ms);
        s->restart_at = up_now_ms() + u->lim.restart_ms;
        return;
    }
    s->st = P_UP;
    pthread_mutex_lock(&u->qmu);
    char *init = s->init_body ? wr_strndup(s->init_body, s->init_len) : NULL;
    size_t init_len = s->init_len;
    pthread_mutex_unlock(&u->qmu);
    sreq *q = first_queued(u);
    if (init && !(q && q->is_init)) {
        char *line = NULL;
        up_msg_kind kind;
        json_t *orig = NULL;
        char *orig_text = NULL;
        bool is_init;
        s->init_wire = atomic_fetch_add(&s->next_wire, 1);
        if (up_stdio_rewrite(init, init_len, s->init_wire, &line, &kind, &orig, &orig_text, &is_init, NULL) ==
                WRIT_OK &&
            obuf_add(s, line, strlen(line)) && obuf_add(s, "\n", 1)) {
            s->st = P_INIT;
            s->init_deadline = up_now_ms() + u->lim.connect_ms;
        }
        wr_free(line);
        wr_free(orig_text);
        json_decref(orig);
    }
    wr_free(init);
}

/* ---- answers ---- */

/* The replayed initialize is answered (the answer swallowed): the session
 * is the client's again, and what is queued may go. */
static void init_answered(sup *s)
{
    static const char note[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n";
    if (obuf_add(s, note, sizeof note - 1))
        s->st = P_UP;
}

/* The request written to the process with wire id id, NULL when none. */
static sreq *written(mcp_upstream *u, uint64_t id)
{
    sreq *r = NULL;
    pthread_mutex_lock(&u->qmu);
    for (up_req *b = u->head; b; b = b->next)
        if (((sreq *)b)->state == SQ_WRITTEN && ((sreq *)b)->wire_id == id) {
            r = (sreq *)b;
            break;
        }
    pthread_mutex_unlock(&u->qmu);
    return r;
}

static void on_line(void *ctx, const char *line, size_t len)
{
    mcp_upstream *u = ctx;
    sup *s = u->impl;
    uint64_t id;
    json_t *msg;
    if (!up_stdio_answer_id(line, len, &id, &msg)) {
        atomic_fetch_add(&s->dropped, 1);
        if (mcp_rpc_tools_changed(msg))
            mcp_upstream_tools_changed(u);
        char *no = s->olen - s->ooff < REFUSALS_MAX ? up_stdio_refusal(line, len, msg) : NULL;
        json_decref(msg);
        if (no && s->st != P_DOWN)
            obuf_add(s, no, strlen(no));
        wr_free(no);
        return;
    }
    if (s->st == P_INIT && id == s->init_wire) {
        json_decref(msg);
        init_answered(s);
        return;
    }
    sreq *r = written(u, id);
    if (!r) {
        atomic_fetch_add(&s->dropped, 1);
        json_decref(msg);
        return;
    }
    char *text = up_stdio_restore(line, len, msg, r->orig_text);
    json_decref(msg);
    if (!text) {
        up_done(u, &r->base, WRIT_ENOMEM, "out of memory");
    } else {
        up_head(u, &r->base, 200, "application/json", NULL, NULL);
        /* a pause means nothing here (the line is the whole answer, and the
         * pipe every client's); a receiver that cannot hold it fails this
         * request alone */
        if (up_data(u, &r->base, text, strlen(text)) == MCP_UP_CUT) {
            up_cut(u, &r->base);
        } else {
            up_done(u, &r->base, WRIT_OK, NULL);
        }
        wr_free(text);
    }
    free_done(u, r);
}

/* The end of a line longer than max_answer, which was not kept (see the
 * top): the request it answers ends with an error, the process goes on. */
static void on_long(void *ctx, const mcp_idscan *scan, uint64_t len)
{
    mcp_upstream *u = ctx;
    sup *s = u->impl;
    s->long_since = 0;
    uint64_t id;
    sreq *r = NULL;
    if (mcp_idscan_answer(scan, &id)) {
        if (s->st == P_INIT && id == s->init_wire) {
            init_answered(s);
            return;
        }
        r = written(u, id);
    }
    if (!r) {
        /* its own request is refused as a short one is (see the top) */
        atomic_fetch_add(&s->dropped, 1);
        char *no = s->olen - s->ooff < REFUSALS_MAX ? up_stdio_refusal_long(scan) : NULL;
        if (no && s->st != P_DOWN)
            obuf_add(s, no, strlen(no));
        fprintf(stderr,
                "writ: mcp: upstream %s: a line of %" PRIu64 " bytes from the process, longer than "
                "max_answer (%zu), answers no request in flight: dropped%s\n",
                u->name, len, u->lim.max_answer, no ? " (a request of its own: refused)" : "");
        wr_free(no);
        return;
    }
    up_too_big(u, &r->base);
    free_done(u, r);
}

/* ---- the thread ---- */

/* Write what obuf holds; when it empties, the request in it is written.
 * Returns false when the process cannot take input any more. */
static bool flush(mcp_upstream *u)
{
    sup *s = u->impl;
    while (s->ooff < s->olen) {
        ssize_t k = write(s->in_fd, s->obuf + s->ooff, s->olen - s->ooff);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return true;
            if (errno == EPIPE) {
                /* SIGPIPE is blocked on this thread: take it off the pending set. */
                sigset_t p;
                sigemptyset(&p);
                sigaddset(&p, SIGPIPE);
                sigtimedwait(&p, NULL, &(struct timespec){0, 0});
            }
            return false;
        }
        s->ooff += (size_t)k;
        s->out_progress = up_now_ms();
    }
    s->ooff = s->olen = 0;
    sreq *r = s->writing;
    if (r) {
        s->writing = NULL;
        if (r->kind == UP_MSG_NOTIFICATION) {
            up_head(u, &r->base, 202, NULL, NULL, NULL);
            up_done(u, &r->base, WRIT_OK, NULL);
            free_done(u, r);
        } else {
            r->state = SQ_WRITTEN;
            r->t_written = up_now_ms();
        }
    }
    return true;
}

static void *stdio_thread(void *arg)
{
    mcp_upstream *u = arg;
    sup *s = u->impl;
    up_thread_enter(u);
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
    char buf[65536], why[256];
    for (;;) {
        uint64_t now = up_now_ms();
        /* Cancelled requests out (unless their line is half written: the
         * stream must stay whole; it goes when written). */
        pthread_mutex_lock(&u->qmu);
        bool stop = u->stop;
        sreq *gone = NULL;
        for (up_req *b = u->head, *next; b; b = next) {
            next = b->next;
            if ((b->cancelled || stop) && (sreq *)b != s->writing) {
                up_unlink(u, b);
                b->next = (up_req *)gone;
                gone = (sreq *)b;
            }
        }
        pthread_mutex_unlock(&u->qmu);
        while (gone) {
            sreq *r = gone;
            gone = (sreq *)r->base.next;
            sreq_free(r);
        }
        if (stop)
            break;
        if (s->st == P_DOWN && now >= s->restart_at)
            start_process(u);
        /* Timeouts: the replayed initialize, requests waiting for a process,
         * requests written and not answered. */
        uint64_t next_ms = now + 1000;
        if (s->st == P_INIT) {
            if (now >= s->init_deadline) {
                snprintf(why, sizeof why, "no answer to the replayed initialize within %u ms",
                         u->lim.connect_ms);
                proc_down(u, why);
                continue;
            }
            if (s->init_deadline < next_ms)
                next_ms = s->init_deadline;
        }
        if (s->st == P_DOWN && s->restart_at < next_ms)
            next_ms = s->restart_at;
        /* A process that stops reading its stdin cannot be given half a
         * line less: it is restarted. */
        if (s->st != P_DOWN && s->ooff < s->olen) {
            if (now >= s->out_progress + u->lim.idle_ms) {
                snprintf(why, sizeof why, "it has not read its stdin for %u ms", u->lim.idle_ms);
                proc_down(u, why);
                continue;
            }
            if (s->out_progress + u->lim.idle_ms < next_ms)
                next_ms = s->out_progress + u->lim.idle_ms;
        }
        /* One line past max_answer for idle_ms: every request it could
         * answer was written before it began and has timed out, and no
         * other answer can pass it: the process is restarted. */
        if (s->st != P_DOWN && s->lines.skipping && s->long_since) {
            if (now >= s->long_since + u->lim.idle_ms) {
                snprintf(why, sizeof why, "it has written one line past max_answer (%zu bytes) for %u ms",
                         u->lim.max_answer, u->lim.idle_ms);
                proc_down(u, why);
                continue;
            }
            if (s->long_since + u->lim.idle_ms < next_ms)
                next_ms = s->long_since + u->lim.idle_ms;
        }
        for (;;) {
            sreq *late = NULL;
            pthread_mutex_lock(&u->qmu);
            for (up_req *b = u->head; b; b = b->next) {
                sreq *r = (sreq *)b;
                if (b->cancelled)
                    continue;
                uint64_t dl = r->state == SQ_WRITTEN                   ? r->t_written + u->lim.idle_ms
                              : r->state == SQ_QUEUED && s->st != P_UP ? r->t_sent + u->lim.connect_ms
                                                                       : UINT64_MAX;
                if (dl <= now) {
                    late = r;
                    break;
                }
                if (dl < next_ms)
                    next_ms = dl;
            }
            pthread_mutex_unlock(&u->qmu);
            if (!late)
                break;
            if (late->state == SQ_WRITTEN)
                snprintf(why, sizeof why, "upstream %s: no answer within %u ms", u->name, u->lim.idle_ms);
            else
                snprintf(why, sizeof why,
                         "upstream %s: the process is not running (waited %u ms for a restart)", u->name,
                         u->lim.connect_ms);
            up_done(u, &late->base, WRIT_EIO, why);
            free_done(u, late);
        }
        /* Next message into the buffer. */
        if (s->st == P_UP && s->ooff == s->olen && !s->writing) {
            sreq *q = first_queued(u);
            if (q) {
                if (obuf_add(s, q->line, q->len)) {
                    q->state = SQ_WRITING;
                    s->writing = q;
                } else {
                    up_done(u, &q->base, WRIT_ENOMEM, "out of memory");
                    free_done(u, q);
                    continue;
                }
            }
        }
        if (s->st != P_DOWN && s->ooff < s->olen) {
            if (!flush(u)) {
                proc_down(u, "its stdin is closed");
                continue;
            }
            if (s->ooff == s->olen)
                continue; /* written: maybe the next one can go now */
        }
        struct pollfd pf[3] = {{s->wake_r, POLLIN, 0}, {-1, POLLIN, 0}, {-1, POLLOUT, 0}};
        if (s->st != P_DOWN) {
            pf[1].fd = s->out_fd;
            if (s->ooff < s->olen)
                pf[2].fd = s->in_fd;
        }
        now = up_now_ms();
        int wait = next_ms > now ? (int)(next_ms - now) : 0;
        int n = poll(pf, 3, wait);
        if (n < 0)
            continue;
        if (pf[0].revents) {
            while (read(s->wake_r, buf, sizeof buf) > 0) {
            }
        }
        if (pf[1].fd >= 0 && pf[1].revents) {
            ssize_t k = read(s->out_fd, buf, sizeof buf);
            if (k > 0) {
                if (!up_lines_feed(&s->lines, buf, (size_t)k, on_line, on_long, u))
                    proc_down(u, "out of memory for a line of its stdout");
                else if (s->lines.skipping && !s->long_since)
                    s->long_since = up_now_ms();
            } else if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
                proc_down(u, k == 0 ? "its stdout closed" : strerror(errno));
            }
        }
    }
    return NULL;
}

static void stdio_close(mcp_upstream *u)
{
    sup *s = u->impl;
    if (!s)
        return;
    if (s->pid > 0) {
        /* Closing its stdin asks it to end; reap gives it 100 ms. */
        if (s->in_fd >= 0) {
            close(s->in_fd);
            s->in_fd = -1;
        }
        char how[96];
        reap(s, how, sizeof how);
    } else {
        if (s->in_fd >= 0)
            close(s->in_fd);
        if (s->out_fd >= 0)
            close(s->out_fd);
    }
    for (up_req *b = u->head, *next; b; b = next) {
        next = b->next;
        sreq_free((sreq *)b);
    }
    u->head = u->tail = NULL;
    if (s->wake_r >= 0)
        close(s->wake_r);
    if (s->wake_w >= 0)
        close(s->wake_w);
    if (s->argv) {
        for (char **a = s->argv; *a; a++)
            wr_free(*a);
        wr_free(s->argv);
    }
    up_lines_free(&s->lines);
    wr_free(s->obuf);
    wr_free(s->init_body);
    wr_free(s);
    u->impl = NULL;
}

writ_status mcp_upstream_stdio_open(const char *name, const char *const *argv, const mcp_up_limits *lim,
                                    mcp_upstream **out, writ_error *err)
{
    *out = NULL;
    if (!argv || !argv[0] || !argv[0][0])
        return wr_error(err, WRIT_EINVAL, "mcp upstream %s: no command", name ? name : "");
    mcp_upstream *u = up_new(true, name, lim);
    sup *s = u ? wr_calloc(1, sizeof *s) : NULL;
    if (!s) {
        if (u)
            up_free(u);
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    }
    u->impl = s;
    u->send_impl = stdio_send;
    u->wake = stdio_wake;
    u->close_impl = stdio_close;
    s->in_fd = s->out_fd = s->wake_r = s->wake_w = -1;
    atomic_init(&s->next_wire, 1);
    up_lines_init(&s->lines, u->lim.max_answer);
    size_t n = 0;
    while (argv[n])
        n++;
    writ_status st = WRIT_ENOMEM;
    char why[512];
    if (!(s->argv = wr_calloc(n + 1, sizeof *s->argv)))
        goto err;
    for (size_t i = 0; i < n; i++)
        if (!(s->argv[i] = wr_strndup(argv[i], strlen(argv[i]))))
            goto err;
    int wp[2];
    if (pipe2(wp, O_CLOEXEC | O_NONBLOCK) != 0) {
        st = wr_error(err, WRIT_EIO, "mcp upstream %s: pipe: %s", u->name, strerror(errno));
        goto out;
    }
    s->wake_r = wp[0];
    s->wake_w = wp[1];
    if (spawn(u, why, sizeof why) != 0) {
        st = wr_error(err, WRIT_EIO, "%s", why);
        goto out;
    }
    s->st = P_UP;
    if (pthread_create(&u->thread, NULL, stdio_thread, u) != 0) {
        st = wr_error(err, WRIT_EIO, "mcp upstream %s: cannot start its thread", u->name);
        goto out;
    }
    u->thread_started = true;
    *out = u;
    return WRIT_OK;
err:
    wr_error(err, st, "out of memory");
out:
    stdio_close(u);
    up_free(u);
    return st;
}

uint64_t mcp_upstream_stdio_dropped(const mcp_upstream *u)
{
    return u && u->stdio ? atomic_load(&((sup *)u->impl)->dropped) : 0;
}
