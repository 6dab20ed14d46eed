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
 * that the log's thread groups them. */
#include "server/server_int.h"

#include <time.h>

static _Thread_local srv_durable *current;

void srv_durable_begin(srv_durable *d, srv *s, struct MHD_Connection *c)
{
    d->s = s;
    atomic_init(&d->outstanding, 1);
    atomic_init(&d->failed, false);
    d->c = c;
    d->suspended = false;
    d->then = NULL;
    d->then_arg = NULL;
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
            MHD_resume_connection(d->c);
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
        MHD_resume_connection(d->c); /* the last one committed meanwhile */
    return true;
}

bool srv_durable_failed(const srv_durable *d)
{
    return atomic_load_explicit(&d->failed, memory_order_acquire);
}

void srv_durable_resumed(srv_durable *d)
{
    if (d->suspended) {
        d->suspended = false;
        atomic_fetch_sub(&d->s->suspended, 1);
    }
}
