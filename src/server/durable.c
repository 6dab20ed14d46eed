/* durable.c - no answer before its audit records are committed, without
 * holding a worker thread while they are.
 *
 * libmicrohttpd serves many connections on each of a few worker threads,
 * so a handler that blocked until its audit record was committed would
 * stall every other connection of its thread, and the log's group commit
 * would see one record per transaction.  Instead:
 *
 *   1. http.c opens a barrier for the request (srv_durable_begin): a count
 *      of outstanding records, starting at 1 for the handler itself, made
 *      the thread's current barrier;
 *   2. every audit record the handler writes (srv_durable_record, called
 *      by decide.c) is submitted to the log (wr_audit_submit) and counted;
 *      the log's thread calls back once the record's transaction is done;
 *   3. when the handler returns (srv_durable_end) with records still
 *      outstanding, the connection is suspended and the reply held; the
 *      callback that brings the count to 0 resumes it, and http.c then
 *      sends the reply, or, if any record failed, a 503 instead (fail
 *      closed: a decision whose record is not in the log is not answered).
 *
 * The handler's own count is dropped only after MHD_suspend_connection, so
 * a callback can never resume a connection that is not yet suspended.
 * Records written outside a request (none today) are appended and waited
 * for on the calling thread.  A handler that knows it is alone (the MCP
 * gateway with one call in flight: srv_durable_commit_here) has its record
 * committed on its own thread when the log is idle too (wr_audit_commit_here:
 * a write into SQLite's page cache, no fsync), which saves the two thread
 * switches of the hand-off; under concurrency records are submitted, so
 * that the log's thread groups them.
 *
 * That is the general way, taken by requests on threads without a pass
 * (then a continuation, srv_durable_then, runs once the record is
 * committed).  The server's own worker threads run their event loops
 * themselves (loop.c) and take a cheaper one, the pass (a request with a
 * continuation too: the MCP gateway, called again, forwards the call
 * itself):
 *
 *   - a record is copied into the thread's pass (srv_pass), not submitted:
 *     no allocation, no lock, no wake-up of the log's thread;
 *   - srv_durable_end marks the request held, without suspending it: the
 *     handler returns without an answer, and libmicrohttpd calls it again
 *     on the loop's next pass (a request without an answer stays ready);
 *   - when the pass is over, the thread commits every record of the pass
 *     as one group (wr_audit_append_many: it leads the transaction itself)
 *     and marks each request committed or failed; the next pass answers
 *     them (send_durable: the reply, or a 503).
 *
 * So a held answer costs neither the suspend and resume (two epoll_ctl, a
 * write to libmicrohttpd's eventfd, its read) nor a hand-over between
 * threads, and the records of a pass (every request that was ready when
 * the thread woke) share one commit.  The rule is the same: a request is
 * answered only after the pass that holds its records has committed.
 *
 * The workers share one log, whose transactions are one at a time.  A
 * worker that found the other's transaction in progress used to sleep
 * behind it (a tenth of its time under load, and the core idle when its
 * clients were all waiting for answers).  Now it puts the commit off once
 * (wr_audit_busy): the records stay in the pass, the loop waits for new
 * requests or for the log to be free (the leader writes the worker's
 * eventfd), reads what arrived into the same pass, and commits it all
 * then, waiting this time if it must.  (bench/server/run.sh, alternated
 * with the build before: idle 8% -> 3.5%, 46-53% -> 56-60% of nginx.) */
#include "server/server_int.h"
#include "util/alloc.h"

#include <string.h>
#include <time.h>

static _Thread_local srv_durable *current;
static _Thread_local srv_pass *current_pass;

#define PASS_FIELDS 8 /* agent chain task action resource policies errors shadow */

typedef struct pass_rec {
    size_t off[PASS_FIELDS]; /* into the pass's text, each NUL-terminated */
    int64_t time_ms;
    bool allow;
    srv_durable *owner; /* NULL: its request completed meanwhile (the client left) */
} pass_rec;

struct srv_pass {
    sbuf text; /* the records' strings (a failed one fails the whole pass) */
    pass_rec *r;
    size_t n, cap;
    bool due;                /* the last commit had records: their answers go out in this run */
    bool deferred;           /* the last commit was put off: the log was busy */
    void (*wake)(void *arg); /* the loop's wake-up, for a commit put off (NULL: never put off) */
    void *wake_arg;
    wr_audit_entry *e; /* for the commit, cap long */
    writ_status *st;
};

srv_pass *srv_pass_new(void)
{
    srv_pass *p = wr_calloc(1, sizeof *p);
    if (p)
        sb_init(&p->text);
    return p;
}

void srv_pass_free(srv_pass *p)
{
    if (!p)
        return;
    sb_free(&p->text);
    wr_free(p->r);
    wr_free(p->e);
    wr_free(p->st);
    wr_free(p);
}

void srv_pass_bind(srv_pass *p) { current_pass = p; }

void srv_pass_set_wake(srv_pass *p, void (*wake)(void *arg), void *arg)
{
    p->wake = wake;
    p->wake_arg = arg;
}

bool srv_pass_deferred(const srv_pass *p) { return p->deferred; }

bool srv_pass_empty(void) { return !current_pass || (!current_pass->n && !current_pass->due); }

static bool pass_grow(srv_pass *p)
{
    if (p->n < p->cap)
        return true;
    size_t cap = p->cap ? p->cap * 2 : 64;
    pass_rec *r = wr_realloc(p->r, cap * sizeof *r);
    if (!r)
        return false;
    p->r = r;
    wr_audit_entry *e = wr_realloc(p->e, cap * sizeof *e);
    if (!e)
        return false;
    p->e = e;
    writ_status *st = wr_realloc(p->st, cap * sizeof *st);
    if (!st)
        return false;
    p->st = st;
    p->cap = cap;
    return true;
}

static writ_status pass_record(srv_pass *p, srv_durable *d, const wr_audit_entry *e)
{
    if (!pass_grow(p))
        return WRIT_ENOMEM;
    pass_rec *r = &p->r[p->n];
    const char *f[PASS_FIELDS] = {e->agent,    e->chain,    e->task,   e->action,
                                  e->resource, e->policies, e->errors, e->shadow};
    for (int i = 0; i < PASS_FIELDS; i++) {
        r->off[i] = p->text.len;
        if (f[i])
            sb_puts(&p->text, f[i]);
        sb_putc(&p->text, '\0');
    }
    if (!sb_ok(&p->text))
        return WRIT_ENOMEM; /* and the pass fails: its text is gone */
    r->time_ms = e->time_ms;
    r->allow = e->allow;
    r->owner = d;
    if (!d->pass) {
        d->pass = p;
        d->pass_first = p->n;
        d->pass_n = 0;
    }
    d->pass_n++;
    p->n++;
    atomic_fetch_add_explicit(&d->outstanding, 1, memory_order_relaxed);
    return WRIT_OK;
}

bool srv_pass_commit(srv *s, srv_pass *p, bool now)
{
    p->due = p->n > 0;
    if (!p->n)
        return false;
    /* The log busy with the other worker's transaction: rather than wait
     * for it asleep, read what arrived meanwhile into this pass and commit
     * after, woken when the log is free (once: the next time, wait). */
    if (!now && !p->deferred && p->wake && wr_audit_busy(s->audit, p->wake, p->wake_arg)) {
        p->deferred = true;
        p->due = false;
        return false;
    }
    p->deferred = false;
    bool whole = sb_ok(&p->text);
    for (size_t i = 0; whole && i < p->n; i++) {
        const pass_rec *r = &p->r[i];
        const char *t = p->text.p;
        p->e[i] = (wr_audit_entry){.time_ms = r->time_ms,
                                   .agent = t + r->off[0],
                                   .chain = t + r->off[1],
                                   .task = t + r->off[2],
                                   .action = t + r->off[3],
                                   .resource = t + r->off[4],
                                   .allow = r->allow,
                                   .policies = t + r->off[5],
                                   .errors = t + r->off[6],
                                   .shadow = t + r->off[7]};
    }
    writ_status rc = whole ? wr_audit_append_many(s->audit, p->e, p->n, p->st) : WRIT_ENOMEM;
    for (size_t i = 0; i < p->n; i++) {
        srv_durable *d = p->r[i].owner;
        if (!d)
            continue;
        if (rc || p->st[i])
            atomic_store_explicit(&d->failed, true, memory_order_relaxed);
        atomic_fetch_sub_explicit(&d->outstanding, 1, memory_order_release);
        d->pass = NULL;
    }
    p->n = 0;
    if (whole) {
        p->text.len = 0;
    } else {
        sb_free(&p->text);
        sb_init(&p->text);
    }
    return true;
}

void srv_durable_begin(srv_durable *d, srv *s, struct MHD_Connection *c)
{
    d->s = s;
    atomic_init(&d->outstanding, 1);
    atomic_init(&d->failed, false);
    d->c = c;
    d->suspended = false;
    d->held = false;
    d->then = NULL;
    d->then_arg = NULL;
    d->pass = NULL;
    d->pass_first = d->pass_n = 0;
    d->commit_here = false;
    current = d;
}

void srv_durable_commit_here(srv_durable *d) { d->commit_here = true; }

void srv_durable_then(srv_durable *d, void (*fn)(void *arg), void *arg)
{
    d->then = fn;
    d->then_arg = arg;
}

static void on_committed(void *arg, writ_status st)
{
    srv_durable *d = arg;
    if (st)
        atomic_store_explicit(&d->failed, true, memory_order_relaxed);
    if (atomic_fetch_sub_explicit(&d->outstanding, 1, memory_order_acq_rel) == 1) {
        if (d->then)
            d->then(d->then_arg);
        else
            srv_resume(d->c);
    }
}

writ_status srv_durable_record(srv *s, const wr_audit_entry *e)
{
    srv_durable *d = current;
    if (!d)
        return wr_audit_append(s->audit, e);
    writ_status here;
    if (d->commit_here && wr_audit_commit_here(s->audit, e, &here)) {
        /* committed on this thread (the log was idle): nothing to wait for;
         * a failed transaction is answered as a failed submission is */
        if (here)
            atomic_store_explicit(&d->failed, true, memory_order_relaxed);
        return WRIT_OK;
    }
    if (current_pass)
        return pass_record(current_pass, d, e);
    atomic_fetch_add_explicit(&d->outstanding, 1, memory_order_relaxed);
    writ_status st = wr_audit_submit(s->audit, e, on_committed, d);
    if (st)
        atomic_fetch_sub_explicit(&d->outstanding, 1, memory_order_relaxed); /* never called back */
    return st;
}

bool srv_durable_end(srv_durable *d)
{
    current = NULL;
    if (atomic_load_explicit(&d->outstanding, memory_order_acquire) == 1)
        return false; /* every record committed already (or none written) */
    if (d->pass) {
        /* its records are in this thread's pass (and only there: a
         * request without a continuation submits nothing): held until the
         * pass commits, then answered when libmicrohttpd calls again */
        d->held = true;
        atomic_fetch_sub_explicit(&d->outstanding, 1, memory_order_relaxed);
        return true;
    }
    /* Counted before the draining check, which srv_run reads the other way
     * round (draining set, then this count read): either it waits for this
     * suspension, or this request sees draining and does not suspend. */
    atomic_fetch_add(&d->s->suspended, 1);
    if (atomic_load(&d->s->draining)) {
        /* shutting down: libmicrohttpd must not be stopped with a suspended
         * connection, so wait here for the commit (the handler's own count
         * stays, so no callback resumes a connection never suspended) */
        while (atomic_load_explicit(&d->outstanding, memory_order_acquire) > 1)
            nanosleep(&(struct timespec){0, 100000}, NULL);
        atomic_fetch_sub(&d->s->suspended, 1);
        return false;
    }
    MHD_suspend_connection(d->c);
    d->suspended = true;
    if (atomic_fetch_sub_explicit(&d->outstanding, 1, memory_order_acq_rel) == 1)
        srv_resume(d->c); /* the last one committed meanwhile */
    return true;
}

bool srv_durable_failed(const srv_durable *d)
{
    return atomic_load_explicit(&d->failed, memory_order_acquire);
}

bool srv_durable_waiting(const srv_durable *d)
{
    return atomic_load_explicit(&d->outstanding, memory_order_acquire) > 0;
}

void srv_durable_resumed(srv_durable *d)
{
    if (d->pass) {
        /* completed while its records wait in the pass (the client left):
         * they are still written, nobody is told */
        for (size_t i = 0; i < d->pass_n; i++)
            d->pass->r[d->pass_first + i].owner = NULL;
        d->pass = NULL;
    }
    d->held = false;
    if (d->suspended) {
        d->suspended = false;
        atomic_fetch_sub(&d->s->suspended, 1);
    }
}
