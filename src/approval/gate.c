/* gate.c - the approval step of the one decision path, and the approvals'
 * module in the server (serve.h).
 *
 * srv_decide_ask (src/server/decide.c) calls the module's gate after Cedar
 * allowed a request when every determining permit carries
 * @approval("required") (no permit without it applies): the allow is not
 * given yet: the request is bound (approval.h: agent, task, chain, action,
 * resource, SHA-256 of the JCS of the input) and one atomic store step
 * (wr_store_approval_take) answers:
 *   consumed  an approved approval for exactly this request: allow, and it
 *             is used up (single use);
 *   pending   the approval already waiting for a person: deny, "approval
 *             required", the same id;
 *   created   none was live: a new pending approval (webhook), deny as above;
 *   denied    a person denied it and it has not expired: deny with their
 *             reason (and no new approval);
 *   full      none was live, but the agent has approval_max_pending
 *             approvals pending already: deny saying so, nothing stored
 *             (an agent varying its input cannot flood the approvers).
 * A forbid never reaches here (Cedar's answer is a deny), so no approval is
 * made for a request a forbid denies.  Any failure is a deny (fail closed).
 *
 * The step is named in the decision's audit record: errors gets
 * {"approval":{"id":ID,"step":"requested"|"pending"|"consumed"|"denied"}},
 * or {"approval":{"step":"full","max_pending":N}} (no approval, no id). */
#include "approval/approval.h"
#include "approval/serve.h"
#include "jcs/jcs.h"
#include "util/alloc.h"
#include "util/clock.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct wr_approvals_srv {
    srv_ext ext;
    srv_endpoint ep;
    /* set once the server listens (a request may come in before): the
     * fields below are read only after open is seen true */
    atomic_bool open;
    int64_t ttl_ms;
    uint32_t max_pending; /* 0 = no cap */
    char base[512];       /* PUBLIC_URL without a trailing '/' */
    wr_webhook *hook;     /* NULL = no approval_webhook */
    /* its signing keys, from start until the hook has its copy */
    wr_whsig_keys hook_keys;
    int64_t last_sweep;   /* ms */
    int64_t last_prune;   /* ms */
};

/* Before the server listens: the webhook's signing secret, so that a bad
 * one stops the start (naming the file) and every POST is signed. */
static int start(void *arg, srv *s, char *why, size_t n)
{
    wr_approvals_srv *ap = arg;
    if (!*s->cfg->approval_webhook)
        return 0;
    /* a URL it can never POST to stops the start before a secret is made */
    if (!wr_webhook_url_ok(s->cfg->approval_webhook, why, n))
        return -1;
    writ_error err;
    memset(&err, 0, sizeof err);
    char *path = NULL;
    bool made = false;
    writ_status st = wr_whsig_load(s->cfg->approval_webhook_secret_file, s->cfg->state_dir, &ap->hook_keys,
                                   &path, &made, &err);
    if (st) {
        snprintf(why, n, "%s", st == WRIT_ENOMEM && !err.msg[0] ? "out of memory" : err.msg);
        return -1;
    }
    char many[32] = "";
    if (ap->hook_keys.n > 1)
        snprintf(many, sizeof many, "%zu secrets", ap->hook_keys.n);
    wr_webhook_log("POSTs signed (Standard Webhooks) with the %s in %s%s", *many ? many : "secret", path,
              made ? " (made now: give it to the receiver)" : "");
    wr_free(path);
    return 0;
}

/* SIGHUP: the secret file read again, so that a rotation needs no restart
 * (the new secret beside the old, then the old taken out).  A file that
 * does not read keeps the secrets in force. */
static void reload(void *arg, srv *s)
{
    wr_approvals_srv *ap = arg;
    if (!ap->hook)
        return;
    writ_error err;
    memset(&err, 0, sizeof err);
    char *path = NULL;
    bool made = false;
    wr_whsig_keys keys;
    writ_status st =
        wr_whsig_load(s->cfg->approval_webhook_secret_file, s->cfg->state_dir, &keys, &path, &made, &err);
    if (st)
        wr_webhook_log("the secret file did not read, the secrets in force stay: %s",
                  st == WRIT_ENOMEM && !err.msg[0] ? "out of memory" : err.msg);
    else if (!wr_webhook_set_keys(ap->hook, &keys))
        wr_webhook_log("the secrets read from %s cannot sign, the ones in force stay", path);
    else
        wr_webhook_log("POSTs signed with the %zu secret%s now in %s", keys.n, keys.n == 1 ? "" : "s", path);
    wr_whsig_clear_all(&keys);
    wr_free(path);
}

static int listening(void *arg, srv *s, unsigned port, char *why, size_t n)
{
    wr_approvals_srv *ap = arg;
    ap->ttl_ms = (int64_t)s->cfg->approval_ttl * 1000;
    ap->max_pending = s->cfg->approval_max_pending;
    if (*s->cfg->public_url)
        snprintf(ap->base, sizeof ap->base, "%s", s->cfg->public_url);
    else
        snprintf(ap->base, sizeof ap->base, strchr(s->cfg->listen_host, ':') ? "%s://[%s]:%u" : "%s://%s:%u",
                 s->tls_cert_pem ? "https" : "http", s->cfg->listen_host, port);
    size_t bn = strlen(ap->base);
    while (bn && ap->base[bn - 1] == '/')
        ap->base[--bn] = '\0';
    if (*s->cfg->approval_webhook) {
        writ_error err;
        memset(&err, 0, sizeof err);
        writ_status st = wr_webhook_start(s->cfg->approval_webhook, &ap->hook_keys, &ap->hook, &err);
        wr_whsig_clear_all(&ap->hook_keys); /* the hook has its copy */
        if (st) {
            snprintf(why, n, "%s", st == WRIT_ENOMEM && !err.msg[0] ? "out of memory" : err.msg);
            return -1;
        }
    }
    atomic_store_explicit(&ap->open, true, memory_order_release);
    return 0;
}

static bool is_open(const wr_approvals_srv *ap)
{
    return atomic_load_explicit(&((wr_approvals_srv *)ap)->open, memory_order_acquire);
}

static void metrics(void *arg, srv *s, sbuf *b)
{
    (void)s;
    wr_approvals_srv *ap = arg;
    uint64_t sent = 0, failed = 0;
    wr_webhook_counts(is_open(ap) ? ap->hook : NULL, &sent, &failed);
    sb_printf(
        b,
        "# HELP writ_approval_webhook_total New pending approvals POSTed to approval_webhook, by result.\n"
        "# TYPE writ_approval_webhook_total counter\n"
        "writ_approval_webhook_total{result=\"sent\"} %llu\nwrit_approval_webhook_total{result=\"failed\"} "
        "%llu\n",
        (unsigned long long)sent, (unsigned long long)failed);
}

const char *wr_approvals_srv_base(const wr_approvals_srv *m) { return is_open(m) ? m->base : NULL; }

static void stop(void *arg)
{
    wr_approvals_srv *ap = arg;
    if (!is_open(ap))
        return;
    wr_webhook_stop(ap->hook);
    ap->hook = NULL;
    atomic_store(&ap->open, false);
}

/* One audit record of an approval step that is no decision of its own
 * (expired; approved and denied come from api.c). */
static void step_record(srv *s, const wr_approval *a, const char *step)
{
    if (!s->audit)
        return;
    sbuf e;
    sb_init(&e);
    sb_puts(&e, "[{\"approval\":{\"id\":");
    sb_json_str(&e, a->id);
    sb_puts(&e, ",\"step\":");
    sb_json_str(&e, step);
    sb_puts(&e, "}}]");
    sbuf act;
    sb_init(&act);
    sb_puts(&act, s->action_type);
    sb_puts(&act, "::");
    sb_json_str(&act, a->action ? a->action : "");
    wr_audit_entry en = {
        .agent = a->agent,
        .chain = a->chain,
        .task = a->task_id,
        .action = sb_ok(&act) ? act.p : "",
        .resource = a->resource,
        .allow = false,
        .policies = "[]",
        .errors = sb_ok(&e) ? e.p : "[]",
    };
    if (srv_durable_record(s, &en))
        atomic_fetch_add_explicit(&s->met.audit_failed, 1, memory_order_relaxed);
    sb_free(&e);
    sb_free(&act);
}

static void tick(void *arg, srv *s)
{
    wr_approvals_srv *ap = arg;
    if (!is_open(ap) || !s->state)
        return;
    int64_t now = wr_wall_ms();
    if (now - ap->last_sweep < 1000)
        return;
    ap->last_sweep = now;
    wr_approval *v = NULL;
    size_t n = 0;
    writ_error err;
    if (wr_store_approval_expired(s->state, now, &v, &n, &err)) {
        fprintf(stderr, "writ serve: approvals: %s\n", err.msg);
        return;
    }
    for (size_t i = 0; i < n; i++)
        step_record(s, &v[i], "expired");
    wr_approvals_free(v, n);
    /* ended approvals are deleted approval_keep after their expiry, once a
     * minute (each step is in the audit log already) */
    int64_t keep = (int64_t)s->cfg->approval_keep * 1000;
    if (keep > 0 && now - ap->last_prune >= 60000) {
        ap->last_prune = now;
        size_t removed = 0;
        if (wr_store_approval_prune(s->state, now - keep, &removed, &err))
            fprintf(stderr, "writ serve: approvals: %s\n", err.msg);
    }
}

static void deny(srv_outcome *out, const char *fmt, const char *a, const char *b, const char *c)
{
    out->allow = false;
    out->failed = true;
    snprintf(out->error, sizeof out->error, fmt, a, b, c);
}

/* An approval binds the request's raw input (an MCP call's arguments, or a
 * method's whole params) but the approver is shown the input as Cedar reads
 * it, with the raw input's null members put back (with_nulls).  The raw
 * input must be all in what is shown, or a person approves {"name":"Bob"}
 * and the upstream runs {"name":"Bob", "password":["x", null]}: a null in
 * an array (which a Cedar set cannot hold) and anything else Cedar does not
 * read is refused.  Numbers may be spelled otherwise (a decimal, a String
 * for a long fraction): their value shows.
 * (MCP's _meta is not in what is bound: the gateway leaves it out.)
 * 0, or -1 with the path of the first thing not shown in at. */
static int unshown(const json_t *raw, const json_t *shown, sbuf *at, int depth);

/* What the approver is shown: the input as Cedar reads it, with the null
 * members of the raw input put back (a new reference; NULL when out of
 * memory).  So {"patch":{"password":null}} shows `"password": null` and
 * can be approved; a null in an array has no place in a Cedar set and
 * stays unshown. */
static json_t *with_nulls(const json_t *raw, const json_t *in, int depth)
{
    if (!json_is_object(raw) || !json_is_object(in) || depth > 64)
        return json_incref((json_t *)in);
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach ((json_t *)in, k, v) {
        json_t *w = with_nulls(json_object_get(raw, k), v, depth + 1);
        if (!out || !w || json_object_set_new(out, k, w)) {
            json_decref(out);
            return NULL;
        }
    }
    json_object_foreach ((json_t *)raw, k, v)
        if (json_is_null(v) && !json_object_get(in, k) && json_object_set_new(out, k, json_null())) {
            json_decref(out);
            return NULL;
        }
    return out;
}

static int unshown(const json_t *raw, const json_t *shown, sbuf *at, int depth)
{
    if (depth > 64)
        return -1;
    if (json_is_null(raw)) {
        if (json_is_null(shown))
            return 0;
        sb_puts(at, " (a null)");
        return -1;
    }
    if (json_is_object(raw)) {
        const char *k;
        json_t *v;
        json_object_foreach ((json_t *)raw, k, v) {
            size_t mark = at->len;
            sb_putc(at, '.');
            sb_puts(at, k);
            const json_t *w = json_is_object(shown) ? json_object_get(shown, k) : NULL;
            if (!w) {
                if (!json_is_null(v))
                    sb_puts(at, " (not shown)");
                else
                    sb_puts(at, " (a null)");
                return -1;
            }
            if (unshown(v, w, at, depth + 1))
                return -1;
            at->len = mark;
            at->p[mark] = '\0';
        }
        return 0;
    }
    if (json_is_array(raw)) {
        if (!json_is_array(shown) || json_array_size(shown) != json_array_size(raw)) {
            sb_puts(at, " (an array with a null)");
            return -1;
        }
        for (size_t i = 0; i < json_array_size(raw); i++) {
            size_t mark = at->len;
            sb_printf(at, "[%zu]", i);
            if (unshown(json_array_get(raw, i), json_array_get(shown, i), at, depth + 1))
                return -1;
            at->len = mark;
            at->p[mark] = '\0';
        }
        return 0;
    }
    return 0;
}

/* A vouching caller's task and chain are bound as the text the approver
 * is shown: a task id or purpose that is no string, or a chain that is no
 * list of agent ids, would bind as none (one approval for task 5 and task
 * 6, its card showing no task) and the chain would not keep its agents from
 * approving (api.c: is_requester).  0, or -1 with what is wrong in why.
 * ctx's chain is a json null placeholder when the body's reading took it as
 * a Cedar value: chain_text is then its JSON, or NULL when it is no array. */
static int unbindable(const json_t *ctx, const char *chain_text, char *why, size_t n)
{
    const json_t *task = json_object_get(ctx, "task");
    if (task && !json_is_object(task)) {
        snprintf(why, n, "context.task is not a record {\"id\", \"purpose\"}");
        return -1;
    }
    static const char *const tk[] = {"id", "purpose"};
    for (size_t i = 0; i < 2; i++) {
        const json_t *v = json_object_get(task, tk[i]);
        if (v && !json_is_string(v)) {
            snprintf(why, n, "context.task.%s is not a string", tk[i]);
            return -1;
        }
    }
    const json_t *c = json_object_get(ctx, "chain");
    json_t *own = json_is_null(c) && chain_text ? json_loads(chain_text, 0, NULL) : NULL;
    if (own)
        c = own;
    int rc = 0;
    if (c && !json_is_array(c)) {
        snprintf(why, n, "context.chain is not a list of agent ids (strings)");
        rc = -1;
    }
    for (size_t i = 0; !rc && i < json_array_size(c); i++)
        if (!json_is_string(json_array_get(c, i))) {
            snprintf(why, n, "context.chain[%zu] is not an agent id (a string)", i);
            rc = -1;
        }
    json_decref(own);
    return rc;
}

static void note_step(sbuf *extra, const char *id, const char *step)
{
    if (extra->len)
        sb_putc(extra, ',');
    sb_puts(extra, "{\"approval\":{\"id\":");
    sb_json_str(extra, id);
    sb_puts(extra, ",\"step\":");
    sb_json_str(extra, step);
    sb_puts(extra, "}}");
}

static void outcome_json(const srv_outcome *o, sbuf *b);

/* The agent is at approval_max_pending: a deny that says so. */
static void deny_full(srv_outcome *out, sbuf *extra, const char *agent, uint32_t max)
{
    out->allow = false;
    out->failed = true;
    snprintf(out->error, sizeof out->error,
             "approval required, but agent %.120s has %u approvals pending (approval_max_pending = %u): "
             "decide some or let them expire first",
             agent, (unsigned)max, (unsigned)max);
    if (extra->len)
        sb_putc(extra, ',');
    sb_printf(extra, "{\"approval\":{\"step\":\"full\",\"max_pending\":%u}}", (unsigned)max);
}

/* The gate (server.h): decide.c calls it only for an allow that rests on
 * @approval("required") permits alone. */
static void gate(void *arg, srv *s, const srv_snapshot *snap, const srv_ask *a, const json_t *ctx,
                 const char *agent, const char *resource, const char *task, const char *chain,
                 srv_outcome *out, sbuf *extra)
{
    if (out->failed || !out->allow)
        return;
    if (a->quiet) { /* a search's candidate: not allowed without its approval, and none is asked for */
        deny(out, "approval required%s%s%s", "", "", "");
        return;
    }
    wr_approvals_srv *ap = arg;
    if (!is_open(ap) || !s->state) {
        deny(out, "approval required, but approvals are not available on this server%s%s%s", "", "", "");
        return;
    }
    /* the bound fields */
    char why[120];
    if (!a->task && unbindable(ctx, chain, why, sizeof why)) {
        deny(out, "approval required, but %s: send it as one%s%s", why, "", "");
        return;
    }
    char action[300];
    if (a->action.id_len >= sizeof action || memchr(a->action.id, '\0', a->action.id_len)) {
        deny(out, "approval required, but the action id is too long to bind%s%s%s", "", "", "");
        return;
    }
    memcpy(action, a->action.id, a->action.id_len);
    action[a->action.id_len] = '\0';
    const char *purpose = a->task ? a->task->purpose : NULL;
    if (!a->task) {
        json_t *p = json_object_get(json_object_get(ctx, "task"), "purpose");
        purpose = json_is_string(p) ? json_string_value(p) : NULL;
    }
    const json_t *cin = json_object_get(ctx, "input");
    const json_t *hashed = a->approval_input ? a->approval_input : cin;
    json_t *shown = cin && hashed != cin ? with_nulls(hashed, cin, 0) : json_incref((json_t *)cin);
    if (cin && !shown) {
        deny(out, "approval required, but out of memory%s%s%s", "", "", "");
        return;
    }
    const json_t *in = shown;
    if (hashed != cin) {
        sbuf at;
        sb_init(&at);
        sb_puts(&at, "input");
        int bad = unshown(hashed, in, &at, 0);
        if (bad)
            deny(out, "approval required, but the request holds what an approver would not be shown: %.200s%s%s",
                 sb_ok(&at) ? at.p : "(out of memory)", ": send it without that", "");
        sb_free(&at);
        if (bad) {
            json_decref(shown);
            return;
        }
    }
    json_t *empty = json_object();
    char *input_text = NULL;
    size_t input_len = 0;
    writ_error err;
    memset(&err, 0, sizeof err);
    wr_approval w;
    memset(&w, 0, sizeof w);
    bool unbound = !empty || wr_jcs_sha256(hashed ? hashed : empty, false, w.input_sha256, &err) ||
                   wr_jcs(in ? in : empty, false, &input_text, &input_len, &err);
    json_decref(shown);
    if (unbound) {
        json_decref(empty);
        deny(out, "approval required, but the input cannot be bound: %.200s%s%s", err.msg, "", "");
        return;
    }
    json_decref(empty);
    w.agent = (char *)agent;
    w.action = action;
    w.resource = (char *)resource;
    w.task_id = (char *)(task && *task ? task : NULL);
    w.task_purpose = (char *)purpose;
    w.chain = (char *)(chain && *chain ? chain : "[]");
    w.input = input_text;
    wr_approval_bind(&w);
    int64_t now = wr_wall_ms();
    w.created_ms = now;
    w.expires_ms = now + ap->ttl_ms;
    wr_approval got;
    wr_take res = WR_TAKE_PENDING;
    writ_status st = WRIT_EIO;
    if (!wr_approval_new_id(w.id))
        st = wr_store_approval_take(s->state, &w, ap->max_pending, now, &res, &got, &err);
    wr_free(input_text);
    if (st) {
        deny(out, "approval required, but the approvals store failed: %.250s%s%s", err.msg, "", "");
        return;
    }
    if (res == WR_TAKE_FULL) {
        deny_full(out, extra, agent, ap->max_pending);
        return;
    }
    snprintf(out->appr.id, sizeof out->appr.id, "%s", got.id);
    out->appr.expires_ms = got.expires_ms;
    out->appr.base = ap->base;
    out->appr.json = outcome_json;
    switch (res) {
    case WR_TAKE_CONSUMED:
        /* allowed: the approval is used up */
        out->appr.state = SRV_APPR_CONSUMED;
        note_step(extra, got.id, "consumed");
        break;
    case WR_TAKE_DENIED:
        out->appr.state = SRV_APPR_DENIED;
        deny(out, "denied by the approver %.100s: %.150s (approval %s)", got.decided_by ? got.decided_by : "",
             got.reason && *got.reason ? got.reason : "no reason given", got.id);
        note_step(extra, got.id, "denied");
        break;
    case WR_TAKE_CREATED:
    case WR_TAKE_PENDING:
    default:
        out->appr.state = SRV_APPR_PENDING;
        deny(out, "approval required: approval %s is pending%s%s", got.id, "", "");
        note_step(extra, got.id, res == WR_TAKE_CREATED ? "requested" : "pending");
        if (res == WR_TAKE_CREATED && ap->hook) {
            sbuf b;
            sb_init(&b);
            char *owner = wr_entity_string_attr(snap->es, got.agent, "owner");
            wr_approval_json(&b, &got, ap->base, owner);
            wr_free(owner);
            if (sb_ok(&b))
                wr_webhook_post(ap->hook, b.p, b.len);
            sb_free(&b);
        }
        break;
    }
    wr_approval_clear(&got);
}

/* `,"approval":{...}` of an outcome the gate held or let through. */
static void outcome_json(const srv_outcome *o, sbuf *b)
{
    static const char *const names[] = {"", "pending", "denied", "consumed"};
    if (o->appr.state <= SRV_APPR_NONE || o->appr.state > SRV_APPR_CONSUMED)
        return;
    sb_puts(b, ",\"approval\":");
    wr_approval_ref_json(b, o->appr.id, names[o->appr.state], o->appr.expires_ms, o->appr.base, NULL, NULL);
}

wr_approvals_srv *wr_approvals_srv_new(void)
{
    wr_approvals_srv *m = wr_calloc(1, sizeof *m);
    if (!m)
        return NULL;
    atomic_init(&m->open, false);
    m->ep = (srv_endpoint){.path = "/approvals",
                           .prefix = true,
                           .methods = SRV_M_GET | SRV_M_HEAD | SRV_M_POST,
                           .allow = "GET, HEAD, POST",
                           .json_body = true,
                           .handle = wr_approvals_http};
    m->ext = (srv_ext){.endpoints = &m->ep,
                       .nendpoints = 1,
                       .start = start,
                       .listening = listening,
                       .tick = tick,
                       .reload = reload,
                       .metrics = metrics,
                       .gate = gate,
                       .stop = stop,
                       .arg = m};
    return m;
}

const srv_ext *wr_approvals_srv_ext(wr_approvals_srv *m) { return &m->ext; }

void wr_approvals_srv_free(wr_approvals_srv *m)
{
    if (!m)
        return;
    stop(m);
    wr_whsig_clear_all(&m->hook_keys); /* a start whose listening never came */
    wr_free(m);
}
