/* decide.c - one decision: Cedar against a snapshot, then the audit record.
 *
 * Fail closed everywhere: a missing authorizer, a Cedar failure or an audit
 * log that refuses the record all turn into a deny with the reason in
 * out->error.  No decision is answered without its audit record queued. */
#include "server/server_int.h"
#include "util/alloc.h"

#include <stdio.h>
#include <string.h>

static writ_authorizer *thread_authorizer(srv *s)
{
    writ_authorizer *az = pthread_getspecific(s->az_key);
    if (!az) {
        az = writ_authorizer_new();
        if (az && pthread_setspecific(s->az_key, az) != 0) {
            writ_authorizer_free(az);
            az = NULL;
        }
    }
    return az;
}

void srv_uid_text(sbuf *b, const char *type, const char *id, size_t idlen)
{
    sb_puts(b, type);
    sb_puts(b, "::");
    sb_json_strn(b, id, idlen);
}

static void json_ids(sbuf *b, const char *const *ids, size_t n)
{
    sb_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_putc(b, ',');
        sb_json_str(b, ids[i]);
    }
    sb_putc(b, ']');
}

static void json_errors(sbuf *b, const srv_outcome *o)
{
    sb_putc(b, '[');
    if (o->failed) {
        sb_puts(b, "{\"policy\":null,\"message\":");
        sb_json_str(b, o->error);
        sb_putc(b, '}');
    } else {
        for (size_t i = 0; i < o->d.nerrors; i++) {
            if (i)
                sb_putc(b, ',');
            sb_puts(b, "{\"policy\":");
            sb_json_str(b, o->d.errors[i].policy_id);
            sb_puts(b, ",\"message\":");
            sb_json_str(b, o->d.errors[i].message);
            sb_putc(b, '}');
        }
    }
    sb_putc(b, ']');
}

static void audit(srv *s, const char *agent, const char *action, const char *resource, const char *task,
                  const char *chain, srv_outcome *o)
{
    if (!s->audit)
        return;
    sbuf pol, errs;
    sb_init(&pol);
    sb_init(&errs);
    if (o->failed)
        sb_puts(&pol, "[]");
    else
        json_ids(&pol, o->d.reasons, o->d.nreasons);
    json_errors(&errs, o);
    wr_audit_entry e = {
        .agent = agent, .chain = chain, .task = task, .action = action, .resource = resource,
        .allow = o->allow, .policies = sb_ok(&pol) ? pol.p : "[]", .errors = sb_ok(&errs) ? errs.p : "[]",
    };
    writ_status st = (sb_ok(&pol) && sb_ok(&errs)) ? wr_audit_append(s->audit, &e) : WRIT_ENOMEM;
    sb_free(&pol);
    sb_free(&errs);
    if (st) {
        atomic_fetch_add_explicit(&s->met.audit_failed, 1, memory_order_relaxed);
        if (o->allow || !o->failed) {
            o->allow = false;
            o->failed = true;
            snprintf(o->error, sizeof o->error, "audit log unavailable (%s): deciding refused",
                     writ_status_name(st));
        }
    }
}

void srv_decide_failed(srv *s, const char *agent, const char *action, const char *resource, const char *task,
                       const char *why, srv_outcome *out)
{
    memset(out, 0, sizeof *out);
    out->failed = true;
    snprintf(out->error, sizeof out->error, "%s", why);
    audit(s, agent, action, resource, task, NULL, out);
    met_decision(&s->met, 0, 1);
}

void srv_record(srv *s, const char *agent, const char *action, const char *resource, const char *task, bool allow,
                const char *note)
{
    srv_outcome o;
    memset(&o, 0, sizeof o);
    o.allow = allow;
    o.failed = note != NULL;
    if (note)
        snprintf(o.error, sizeof o.error, "%s", note);
    audit(s, agent, action, resource, task, NULL, &o);
}

void srv_decide(srv *s, const srv_snapshot *snap, const writ_request *rq, const char *agent, const char *action,
                const char *resource, const char *task, const char *chain, srv_outcome *out)
{
    memset(out, 0, sizeof *out);
    writ_authorizer *az = thread_authorizer(s);
    writ_status st = az ? writ_authorize(az, snap->ps, snap->es, rq, &out->d) : WRIT_ENOMEM;
    if (st) {
        memset(&out->d, 0, sizeof out->d);
        out->failed = true;
        snprintf(out->error, sizeof out->error, "deciding failed: %s", writ_status_name(st));
    } else {
        out->allow = out->d.allow;
    }
    audit(s, agent, action, resource, task, chain, out);
    met_decision(&s->met, out->allow, out->failed);
}

void srv_outcome_json(const srv_snapshot *snap, const srv_outcome *o, sbuf *b)
{
    sb_puts(b, "\"reasons\":");
    if (o->failed)
        sb_puts(b, "[]");
    else
        json_ids(b, o->d.reasons, o->d.nreasons);
    sb_puts(b, ",\"errors\":");
    json_errors(b, o);
    /* Obligations: @approval("required") on a determining permit. */
    if (o->allow && snap) {
        for (size_t i = 0; i < o->d.nreasons; i++) {
            for (size_t k = 0; k < snap->napprovals; k++) {
                if (strcmp(snap->approval_id[k], o->d.reasons[i]) != 0)
                    continue;
                sb_puts(b, ",\"obligations\":{\"approval\":");
                sb_json_str(b, snap->approval_val[k]);
                sb_puts(b, ",\"policy\":");
                sb_json_str(b, o->d.reasons[i]);
                sb_putc(b, '}');
                return;
            }
        }
    }
}
