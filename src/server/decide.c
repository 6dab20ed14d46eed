/* decide.c - the one decision path: every front end (AuthZEN, /authz/check,
 * the token endpoints) hands a srv_ask to srv_decide_ask, which bounds it by
 * the task token, builds the context from the fact table (facts.c), asks
 * Cedar against a snapshot, and writes the audit record.
 *
 * Fail closed everywhere: a missing authorizer, a Cedar failure, an allow
 * that needs an approval with no gate to ask, or an audit log that refuses
 * the record all turn into a deny with the reason in out->error.  No
 * decision is answered before its audit record is committed (durable.c
 * holds the answer until it is). */
#include "cedar/reqbuild.h"
#include "server/azmap.h"
#include "server/server_int.h"
#include "shadow/shadow.h"
#include "util/alloc.h"

#include <stdio.h>
#include <string.h>

writ_authorizer *srv_thread_authorizer(srv *s)
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

static void json_errors_extra(sbuf *b, const srv_outcome *o, const char *extra)
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
    if (extra) {
        if (b->len > 1 && b->p[b->len - 1] != '[')
            sb_putc(b, ',');
        sb_puts(b, extra);
    }
    sb_putc(b, ']');
}

static void json_errors(sbuf *b, const srv_outcome *o) { json_errors_extra(b, o, NULL); }

/* This thread's decision state, kept from one decision to the next: the
 * request, refilled for each decision (cedar/reqbuild.h: no JSON request
 * object is assembled and re-read, and its arena is rewound rather than
 * made anew), and the scratch text of a decision (the uids as text, the
 * audit record's policies and errors), rewound rather than allocated.  A
 * decision begun while another holds the scratch text (none does today)
 * takes buffers of its own. */
typedef struct decide_tls {
    writ_request *rq;
    sbuf txt, pol, errs;
    bool txt_busy, audit_busy;
} decide_tls;

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static bool tls_key_ok;

static void tls_free(void *p)
{
    decide_tls *t = p;
    writ_request_free(t->rq);
    sb_free(&t->txt);
    sb_free(&t->pol);
    sb_free(&t->errs);
    wr_free(t);
}
static void tls_key_make(void) { tls_key_ok = pthread_key_create(&tls_key, tls_free) == 0; }

static decide_tls *thread_state(void)
{
    if (pthread_once(&tls_once, tls_key_make) != 0 || !tls_key_ok)
        return NULL;
    decide_tls *t = pthread_getspecific(tls_key);
    if (!t) {
        t = wr_calloc(1, sizeof *t);
        if (t && pthread_setspecific(tls_key, t) != 0) {
            wr_free(t);
            t = NULL;
        }
    }
    return t;
}

static writ_request *thread_request(void)
{
    decide_tls *t = thread_state();
    if (t && !t->rq)
        t->rq = writ_request_reusable();
    return t ? t->rq : NULL;
}

/* b emptied for reuse; a buffer that once grew large is given back. */
static void sb_rewind(sbuf *b)
{
    if (b->cap > 16384)
        sb_free(b);
    b->len = 0;
    b->failed = false;
    if (b->p)
        b->p[0] = '\0';
}

static void audit(srv *s, const char *agent, const char *action, const char *resource, const char *task,
                  const char *chain, const char *extra, const char *shadow, srv_outcome *o)
{
    if (!s->audit)
        return;
    decide_tls *t = thread_state();
    bool mine = t && !t->audit_busy; /* this thread's scratch buffers, else own ones */
    sbuf own[2], *pol = mine ? &t->pol : &own[0], *errs = mine ? &t->errs : &own[1];
    if (mine) {
        t->audit_busy = true;
        sb_rewind(pol);
        sb_rewind(errs);
    } else {
        sb_init(pol);
        sb_init(errs);
    }
    if (o->failed)
        sb_puts(pol, "[]");
    else
        json_ids(pol, o->d.reasons, o->d.nreasons);
    json_errors_extra(errs, o, extra);
    wr_audit_entry e = {
        .agent = agent,
        .chain = chain,
        .task = task,
        .action = action,
        .resource = resource,
        .allow = o->allow,
        .policies = sb_ok(pol) ? pol->p : "[]",
        .errors = sb_ok(errs) ? errs->p : "[]",
        .shadow = shadow,
    };
    writ_status st = (sb_ok(pol) && sb_ok(errs)) ? srv_durable_record(s, &e) : WRIT_ENOMEM;
    if (mine) {
        t->audit_busy = false;
    } else {
        sb_free(pol);
        sb_free(errs);
    }
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

static void decided(srv *s, const char *agent, const char *action, const char *resource, const char *task,
                    const char *chain, const char *extra, const char *shadow, srv_outcome *out);
static size_t put_uid_text(sbuf *b, const writ_uid_parts *u);

void srv_decide_failed(srv *s, const char *agent, const char *action, const char *resource, const char *task,
                       const char *why, srv_outcome *out)
{
    memset(out, 0, sizeof *out);
    out->failed = true;
    snprintf(out->error, sizeof out->error, "%s", why);
    decided(s, agent, action, resource, task, NULL, NULL, NULL, out);
}

void srv_decide_refused(srv *s, const srv_ask *a, const char *why, srv_outcome *out)
{
    memset(out, 0, sizeof *out);
    out->failed = true;
    snprintf(out->error, sizeof out->error, "%s", why);
    sbuf b;
    sb_init(&b);
    size_t ag = put_uid_text(&b, &a->principal), ac = put_uid_text(&b, &a->action),
           re = put_uid_text(&b, &a->resource);
    const srv_task *t = a->task;
    if (sb_ok(&b))
        decided(s, b.p + ag, b.p + ac, b.p + re, t ? t->task : NULL, t ? t->chain_text : NULL, NULL, NULL, out);
    else
        decided(s, NULL, NULL, NULL, t ? t->task : NULL, NULL, NULL, NULL, out);
    sb_free(&b);
}

void srv_record(srv *s, const char *agent, const char *action, const char *resource, const char *task,
                bool allow, const char *note)
{
    srv_outcome o;
    memset(&o, 0, sizeof o);
    o.allow = allow;
    o.failed = note != NULL;
    if (note)
        snprintf(o.error, sizeof o.error, "%s", note);
    audit(s, agent, action, resource, task, NULL, NULL, NULL, &o);
}

writ_uid_parts srv_uid_parts(const srv *s, const char *type, size_t type_len, const char *id, size_t id_len)
{
    return az_uid(s->type_prefix, type, type_len, id, id_len);
}

/* "Type::\"id\"" at b's end, NUL-terminated; returns its offset. */
static size_t put_uid_text(sbuf *b, const writ_uid_parts *u)
{
    size_t at = b->len;
    sb_putn(b, u->prefix, u->prefix_len);
    sb_putn(b, u->type, u->type_len);
    sb_puts(b, "::");
    sb_json_strn(b, u->id, u->id_len);
    sb_putc(b, '\0');
    return at;
}

/* A part's id as a C string for the scope, or NULL when it holds a NUL (an
 * id with a NUL in it is in no task token's scope). */
static const char *c_id(const writ_uid_parts *u, char *buf, size_t n)
{
    if (u->id_len >= n || memchr(u->id, '\0', u->id_len))
        return NULL;
    memcpy(buf, u->id, u->id_len);
    buf[u->id_len] = '\0';
    return buf;
}

/* Levels of the token's sensitivity ceiling onto a resource's numeric
 * `sensitivity`: public 0, internal 1, confidential 2, restricted 3 and
 * above.  A resource without a Long `sensitivity` counts as the most
 * sensitive. */
static int sensitivity_bound(const srv_snapshot *snap, const writ_request *rq, const srv_task *t, char *why,
                             size_t n)
{
    const char *lv = writ_task_token_sensitivity(t->token);
    if (!lv || !*lv)
        return 0;
    int64_t level = 0;
    bool has = writ_request_resource_long(rq, snap->es, "sensitivity", &level) == 1;
    if (writ_sensitivity_allows(lv, has, level))
        return 0;
    if (!has)
        snprintf(why, n,
                 "the resource has no sensitivity, so it counts as restricted: above the task token's "
                 "ceiling %.40s",
                 lv);
    else
        snprintf(why, n, "the resource's sensitivity %lld is above the task token's ceiling %.40s",
                 (long long)level, lv);
    return -1;
}

/* The resource's properties with a task token: without `sensitivity`, so
 * that the ceiling is checked against the entity store's level only (none
 * counts as restricted) and Cedar sees the level the ceiling checked.  A
 * new reference (a shallow copy when it held one); NULL on OOM. */
static json_t *unlevelled(const json_t *props)
{
    if (!json_object_get(props, "sensitivity"))
        return json_incref((json_t *)props);
    json_t *c = json_copy((json_t *)props);
    if (c && json_object_del(c, "sensitivity")) {
        json_decref(c);
        return NULL;
    }
    return c;
}

/* json_object_get of the caller's context, without hashing the key when
 * it is empty (a lean split's usual tree, authzen.c) */
static json_t *ctx_member(const json_t *ctx, const char *key)
{
    return json_object_size(ctx) ? json_object_get(ctx, key) : NULL;
}

/* The destination of a request: the route's, else a trusted proxy's, else
 * destination_default; a vouching caller's own, normalised, wins. */
static int destination_of(srv *s, const srv_ask *a, char *out, size_t n, char *why, size_t wn)
{
    json_t *mine = a->vouched ? ctx_member(a->context, "destination") : NULL;
    /* a lean split holds it as a Cedar value (authzen.c) */
    const char *text = NULL;
    int lean = !mine && a->vouched ? cedar_split_string(a->context_split, "destination", &text) : 0;
    if (mine || lean) {
        if (mine ? !json_is_string(mine) || srv_destination_norm(json_string_value(mine), out, n)
                 : lean < 0 || srv_destination_norm(text, out, n)) {
            snprintf(why, wn, "context.destination is not a destination (letters, digits, . _ - : /)");
            return -1;
        }
        return 0;
    }
    const char *d = a->destination                       ? a->destination
                    : a->peer && a->peer->destination[0] ? a->peer->destination
                                                         : s->dest_default;
    snprintf(out, n, "%s", d);
    return 0;
}

/* With a bound task token: the action, resource and destination are in the
 * token's scope.  0, or -1 with why. */
static int scope_bound(const srv_ask *a, const char *act_txt, const char *res_txt, const char *dest,
                       char *why, size_t n)
{
    char ab[256], rb[1024];
    const char *aid = c_id(&a->action, ab, sizeof ab), *rid = c_id(&a->resource, rb, sizeof rb);
    if (!aid || !rid) {
        snprintf(why, n,
                 "an action or resource id holding a NUL (or too long) is outside any task token's scope");
        return -1;
    }
    if (srv_task_in_scope(a->task, aid, act_txt, rid, res_txt, why, n))
        return -1;
    writ_task_scope sc;
    writ_task_token_scope(a->task->token, &sc);
    if (sc.n_destinations == 0)
        return 0;
    if (writ_scope_list_covers(sc.destinations, sc.n_destinations, dest))
        return 0;
    snprintf(why, n, "destination %s is outside the task token's destinations", dest);
    return -1;
}

/* Does the allow rest only on permits annotated @approval("required")? */
static bool needs_approval(const srv_snapshot *snap, const writ_decision *d)
{
    if (!d->allow || d->nreasons == 0 || snap->napprovals == 0)
        return false;
    for (size_t i = 0; i < d->nreasons; i++) {
        bool marked = false;
        for (size_t k = 0; k < snap->napprovals && !marked; k++)
            marked =
                (snap->approval_id[k] == d->reasons[i] || !strcmp(snap->approval_id[k], d->reasons[i])) &&
                !strcmp(snap->approval_val[k], "required");
        if (!marked)
            return false;
    }
    return true;
}

/* The facts into the JSON context ctx (facts.c): a vouching caller's
 * destination normalised, then the table's facts.  -1 on OOM. */
static int json_facts(srv *s, const srv_snapshot *snap, const srv_ask *a, const char *dest, json_t *ctx)
{
    if (a->vouched && json_object_get(ctx, "destination") &&
        json_object_set_new(ctx, "destination", json_string(dest)))
        return -1;
    return srv_facts_context(s, snap, a, dest, ctx);
}

static void decided(srv *s, const char *agent, const char *action, const char *resource, const char *task,
                    const char *chain, const char *extra, const char *shadow, srv_outcome *out)
{
    audit(s, agent, action, resource, task, chain, extra, shadow, out);
    met_decision(&s->met, out->allow, out->failed);
}

void srv_decide_ask(srv *s, const srv_snapshot *snap, const srv_ask *a, srv_outcome *out)
{
    memset(out, 0, sizeof *out);
    const srv_task *t = a->task;
    const char *task = t ? t->task : NULL, *chain = t ? t->chain_text : NULL;
    char *chain_own = NULL;
    if (!t && a->vouched) {
        /* the PEP's word, for the log */
        json_t *tk = json_object_get(ctx_member(a->context, "task"), "id");
        task = json_is_string(tk) ? json_string_value(tk) : NULL;
        json_t *c = ctx_member(a->context, "chain");
        /* the chain as text is for the audit record and the approval gate
         * only; a chain the body's reading took as a Cedar value (json null
         * in the tree: the split's own nulls are placeholders; none in a
         * lean one) gave its text there */
        bool want = s->audit || snap->napprovals;
        if (json_is_array(c))
            chain = chain_own = want ? writ_json_dump_compact(c) : NULL;
        else if ((!c || json_is_null(c)) && want)
            chain = cedar_split_text(a->context_split);
    }
    /* the three uids as text for the log, NUL-separated in one buffer */
    decide_tls *tls = thread_state();
    bool mine = tls && !tls->txt_busy; /* this thread's scratch buffer, else an own one */
    sbuf own_txt, *tp = mine ? &tls->txt : &own_txt;
    if (mine) {
        tls->txt_busy = true;
        sb_rewind(tp);
    } else {
        sb_init(tp);
    }
    sb_reserve(tp, 64 + a->principal.prefix_len + a->principal.type_len + a->principal.id_len +
                       a->action.type_len + a->action.id_len + a->resource.prefix_len + a->resource.type_len +
                       a->resource.id_len);
    size_t oa = put_uid_text(tp, &a->principal), oc = put_uid_text(tp, &a->action),
           orr = put_uid_text(tp, &a->resource);
    const char *agent = sb_ok(tp) ? tp->p + oa : "", *act = sb_ok(tp) ? tp->p + oc : "",
               *res = sb_ok(tp) ? tp->p + orr : "";
    char why[300] = "", dest[130], *shadow = NULL;
    json_t *ctx = NULL;
    writ_request *rq = NULL;
    writ_error err;
    memset(&err, 0, sizeof err);
    srv_history hist;
    hist.h.set = NULL; /* all srv_history_end reads before srv_history_context (not a memset: kilobytes) */
    if (!sb_ok(tp)) {
        snprintf(why, sizeof why, "out of memory");
        goto refuse;
    }
    if (a->peer && a->peer->bad[0]) {
        snprintf(why, sizeof why, "%s", a->peer->bad);
        goto refuse;
    }
    if (destination_of(s, a, dest, sizeof dest, why, sizeof why))
        goto refuse;
    bool bound = a->bound && t && t->token;
    if (bound && scope_bound(a, act, res, dest, why, sizeof why))
        goto refuse;
    /* Decided on the task-history values as they are; an allow then takes
     * its count, and if a value changed meanwhile the request is decided
     * again, taking first (srv_history_take, limits.h) */
    bool take_first = false;
again:
    /* the context: the caller's keys, then every fact from its source */
    ctx = !json_is_object(a->context) ? json_object()
          : a->context_owned          ? json_incref((json_t *)a->context)
                                      : json_copy((json_t *)a->context);
    if (!ctx) {
        snprintf(why, sizeof why, "out of memory");
        goto refuse;
    }
    /* The common AuthZEN request (a body the split read, no schema, no
     * task token): the facts go straight into the Cedar request as values
     * (srv_facts_direct) instead of into the JSON context and out of it
     * again.  The JSON context gets them only if an approval gate is to
     * read it (below). */
    const struct cv_record *split_base = a->context_split ? cedar_split_base(a->context_split) : NULL;
    bool direct = split_base && a->vouched && !t && !a->extra && !snap->schema;
    /* the MCP gateway's call: its context members (input, tool) given as
     * Cedar values, the task's facts as Cedar parts (facts.c) */
    bool given = a->ngiven > 0;
    if (given && (a->ngiven > SRV_GIVEN_MAX || !a->given_record || !srv_facts_given_ok(snap, a))) {
        snprintf(why, sizeof why, "context given as Cedar values where it cannot be");
        goto refuse;
    }
    if (!direct && !given && json_facts(s, snap, a, dest, ctx)) {
        snprintf(why, sizeof why, "out of memory");
        goto refuse;
    }
    if (srv_history_context(s, snap, a, ctx, &hist, take_first, why, sizeof why))
        goto refuse;
    rq = thread_request();
    cedar_fact fv[8 + SRV_GIVEN_MAX];
    cedar_bytes one, room[SRV_FACT_ROOM];
    size_t nf = given ? srv_facts_task(a, dest, fv, room) : 0;
    if (given && nf)
        memcpy(fv + nf, a->given, a->ngiven * sizeof *fv);
    /* (a lean split, authzen.c: base holds every member the tree does not) */
    writ_status st = !rq     ? WRIT_ENOMEM
                     : given ? (nf ? cedar_request_fill_facts(rq, &a->principal, &a->action, &a->resource,
                                                              ctx, NULL, fv, nf + a->ngiven, &err)
                                   : WRIT_EINVAL)
                     : direct && cedar_split_is_lean(a->context_split)
                         ? cedar_request_fill_whole(rq, &a->principal, &a->action, &a->resource, ctx,
                                                    split_base, fv, srv_facts_direct(a, dest, fv, &one), &err)
                     : direct
                         ? cedar_request_fill_facts(rq, &a->principal, &a->action, &a->resource, ctx,
                                                    split_base, fv, srv_facts_direct(a, dest, fv, &one), &err)
                     : a->context_split ? writ_request_fill_split(rq, &a->principal, &a->action, &a->resource,
                                                                  ctx, a->context_split, &err)
                                        : writ_request_fill(rq, snap->schema, s->cfg->validate, &a->principal,
                                                            &a->action, &a->resource, ctx, &err);
    if (!rq)
        snprintf(err.msg, sizeof err.msg, "out of memory");
    if (!st)
        st = srv_history_request(&hist, rq, &err);
    /* per-request attributes: a vouching caller's replace the store's; any
     * other only adds what the store does not hold, and with a task token
     * not the resource's sensitivity (unlevelled) */
    const json_t *props[2] = {a->principal_props, a->resource_props};
    const writ_uid_parts *who[2] = {&a->principal, &a->resource};
    for (int i = 0; i < 2 && !st; i++) {
        if (!json_is_object(props[i]) || json_object_size(props[i]) == 0)
            continue;
        char type[512];
        size_t tn = who[i]->prefix_len + who[i]->type_len;
        char idb[1024];
        const char *id = c_id(who[i], idb, sizeof idb);
        if (tn >= sizeof type || !id) {
            st = WRIT_ELIMIT;
            snprintf(err.msg, sizeof err.msg,
                     "an entity with properties has a type or id too long or holding NUL");
            break;
        }
        memcpy(type, who[i]->prefix, who[i]->prefix_len);
        memcpy(type + who[i]->prefix_len, who[i]->type, who[i]->type_len);
        type[tn] = '\0';
        json_t *attrs = i == 1 && bound ? unlevelled(props[i]) : json_incref((json_t *)props[i]);
        st = attrs ? writ_request_add_attrs(rq, snap->es, type, id, attrs, !a->vouched, &err) : WRIT_ENOMEM;
        if (!attrs)
            snprintf(err.msg, sizeof err.msg, "out of memory");
        json_decref(attrs);
    }
    if (st) {
        snprintf(why, sizeof why, "request: %.280s", err.msg);
        goto refuse;
    }
    if (bound && sensitivity_bound(snap, rq, t, why, sizeof why))
        goto refuse;
    writ_authorizer *az = srv_thread_authorizer(s);
    st = !az          ? WRIT_ENOMEM
         : a->explain ? writ_explain(az, snap->ps, snap->es, rq, &out->d, &out->x)
                      : writ_authorize(az, snap->ps, snap->es, rq, &out->d);
    out->explained = a->explain && !st;
    if (st) {
        memset(&out->d, 0, sizeof out->d);
        out->failed = true;
        snprintf(out->error, sizeof out->error, "deciding failed: %s", writ_status_name(st));
    } else {
        out->allow = out->d.allow;
        /* A forbid whose evaluation failed is skipped by Cedar: an input
         * of another type than a policy expects (an MCP argument 5000.0,
         * a decimal, where `> 1000` wants a Long) would get round it.
         * Writ cannot rule out that the forbid applies, so it denies,
         * naming it; the decision keeps Cedar's errors for the record. */
        writ_decision live = out->d; /* as enforced; out->d stays Cedar's, errors and all */
        const char *fid, *fmsg = NULL;
        if (s->cfg->forbid_error_denies && writ_decision_deny_failed_forbid(snap->ps, &live, &fid, &fmsg)) {
            if (!a->quiet) /* counted as decisions are (decided) */
                atomic_fetch_add_explicit(&s->met.forbid_error_denies, 1, memory_order_relaxed);
            out->allow = false;
            out->failed = true;
            snprintf(out->error, sizeof out->error,
                     "forbid %.100s could not be evaluated, so it may apply: %.180s", fid, fmsg ? fmsg : "");
        }
        /* an allow takes its count now; it stands on the values its take
         * read, else the request is decided again (nothing was recorded
         * yet: the context is made afresh) */
        if (out->allow && !a->quiet && !take_first) {
            int tr = srv_history_take(s, &hist, why, sizeof why);
            if (tr < 0)
                goto refuse;
            if (tr > 0) {
                json_decref(ctx);
                ctx = NULL;
                memset(out, 0, sizeof *out);
                take_first = true;
                goto again;
            }
        }
        /* what shadow policies would have decided (src/shadow/): audited
         * only; compared with what is enforced (a deny by a failed forbid
         * is one no shadow permit changes) */
        if (snap->shadow)
            shadow = shd_decide_after(snap->shadow, a->explain ? NULL : az, snap->es, rq, &live,
                                      s->cfg->forbid_error_denies);
    }
    /* @approval("required"): the approval bound to this request decides
     * (the module's gate, server.h); its step goes into the record */
    sbuf step; /* the caller's extra audit items, then the approval's step */
    sb_init(&step);
    size_t mark = 0;
    if (out->allow && needs_approval(snap, &out->d)) {
        if (a->audit_extra)
            sb_puts(&step, a->audit_extra);
        mark = step.len;
        if (s->gate) {
            if (direct && json_facts(s, snap, a, dest, ctx)) { /* the gate reads them there */
                sb_free(&step);
                snprintf(why, sizeof why, "out of memory");
                goto refuse;
            }
            s->gate->gate(s->gate->arg, s, snap, a, ctx, agent, res, task, chain, out, &step);
        } else { /* fail closed */
            out->allow = false;
            out->failed = true;
            snprintf(out->error, sizeof out->error,
                     "approval required, but approvals are not available on this server");
        }
    }
    if (!a->quiet)
        decided(s, agent, act, res, task, chain, step.len > mark && sb_ok(&step) ? step.p : a->audit_extra,
                shadow, out);
    sb_free(&step);
    if (out->allow && !a->quiet)
        srv_history_count(s, &hist);
    goto done;
refuse:
    memset(out, 0, sizeof *out);
    out->failed = true;
    snprintf(out->error, sizeof out->error, "%s", why);
    if (!a->quiet)
        decided(s, agent, act, res, task, chain, a->audit_extra, NULL, out);
done:
    wr_free(shadow);
    srv_history_end(&hist);
    json_decref(ctx);
    writ_free_string(chain_own);
    if (mine)
        tls->txt_busy = false;
    else
        sb_free(tp);
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
    if (o->appr.state != SRV_APPR_NONE && o->appr.json)
        o->appr.json(o, b);
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
