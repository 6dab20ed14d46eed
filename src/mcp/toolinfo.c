/* toolinfo.c - what a tools/call knows of its tool: context.tool (its name
 * and the annotations the upstream declares), asked of the upstream when no
 * listing has shown the tool, and the call's Cedar values.  See
 * gateway_int.h. */
#include "mcp/gateway_int.h"

#include "cedar/json.h"
#include "mcp/ask.h"
#include "mcp/input.h"
#include "util/alloc.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/error.h"

#include <stdio.h>
#include <string.h>

/* A call names a tool whose annotations no listing has shown: the gateway
 * has just started (or the client skipped tools/list, or the tool is on a
 * page nobody fetched).  The upstream is asked for its whole list, in the
 * caller's session with the upstream's credential, bounded (5 s for every
 * page together), so the call is decided on what the upstream declares.
 * The ask runs on a thread of its own: the call's connection is suspended
 * meanwhile, and its worker serves others.  At most one ask per upstream
 * at a time (later calls join its waiters) and one every 10 s; a tool
 * still unlisted after it gets unknown_annotations.
 *
 * What is known goes stale when the upstream says its tools changed
 * (notifications/tools/list_changed, seen passing in a stream or from a
 * stdio process: the upstream's tools_epoch).  Then everything known is
 * forgotten, and the next call asks at once: a tool that now declares
 * itself destructive is not decided on the readOnlyHint it had.  An ask's
 * answer is the whole list, so it replaces what was known (a tool the
 * upstream dropped is forgotten), unless the tools changed again while it
 * ran: then it is dropped, stale before it arrived. */
typedef struct tool_ask {
    gw_up *up;
    uint64_t epoch; /* the upstream's tools_epoch when it was asked */
    char sid[256], pver[64];
    char *minted; /* the minted credential's header line, or NULL */
    char mint_why[256];
} tool_ask;

static void *ask_main(void *arg)
{
    tool_ask *a = arg;
    gw_up *up = a->up;
    const char *hdrs[2];
    size_t nh = 0;
    char why[200] = "";
    if (up->cred_line)
        hdrs[nh++] = up->cred_line;
    if (a->minted)
        hdrs[nh++] = a->minted;
    json_t *res = NULL;
    if (up->token_aud && !a->minted) {
        snprintf(why, sizeof why, "minting the upstream's token: %.150s", a->mint_why);
    } else {
        mcp_ask_opts o = {.session_id = a->sid[0] ? a->sid : NULL,
                          .protocol_version = a->pver[0] ? a->pver : NULL,
                          .headers = hdrs,
                          .nheaders = nh,
                          .timeout_ms = 5000};
        res = mcp_ask_tools(up->u, &o, 100, why, sizeof why);
    }
    json_t *tools = json_object_get(res, "tools"), *known = res ? json_object() : NULL;
    size_t i;
    json_t *it;
    json_array_foreach(tools, i, it)
    {
        json_t *ann = gw_declared(it);
        if (ann && known)
            json_object_set_new(known, json_string_value(json_object_get(it, "name")), ann);
        else
            json_decref(ann);
    }
    if (!res)
        fprintf(stderr, "writ: mcp: upstream %s: asking for its tools (a call named an unlisted one): %s\n",
                up->cfg->name, why);
    json_decref(res);
    wr_free(a->minted);
    /* The waiting calls go on: each is claimed under its mutex (it may not
     * have suspended yet: then it sees ask_done and goes on by itself) and
     * resumed after every lock is let go; a claimed call stays alive until
     * its resume, so its next link is read first. */
    pthread_mutex_lock(&up->mu);
    gw_tools_fresh(up);
    if (known && up->tools_epoch == a->epoch) {
        json_decref(up->annotations);
        up->annotations = known;
        known = NULL;
    }
    json_decref(known);
    wr_free(a);
    up->asking = false;
    gw_req *w = up->ask_waiters, *claimed = NULL;
    up->ask_waiters = NULL;
    for (gw_req *n; w; w = n) {
        n = w->ask_next;
        pthread_mutex_lock(&w->mu);
        w->ask_done = true;
        bool resume = w->waiting;
        w->waiting = false;
        pthread_mutex_unlock(&w->mu);
        if (resume) {
            w->ask_next = claimed;
            claimed = w;
        }
    }
    pthread_mutex_unlock(&up->mu);
    for (gw_req *n; claimed; claimed = n) {
        n = claimed->ask_next;
        srv_resume(claimed->c);
    }
    return NULL;
}

/* A new ask of r's upstream, up->mu held: its thread started, or false. */
static bool ask_start(mcp_gw *g, gw_req *r)
{
    gw_up *up = r->up;
    tool_ask *a = wr_calloc(1, sizeof *a);
    if (!a)
        return false;
    a->up = up;
    a->epoch = up->tools_epoch;
    snprintf(a->sid, sizeof a->sid, "%s", r->fwd_sid);
    snprintf(a->pver, sizeof a->pver, "%s", r->pver);
    if (up->token_aud) {
        writ_error err;
        memset(&err, 0, sizeof err);
        if (!(a->minted = gw_minted_line(g, r, up->cfg->name, &err)))
            snprintf(a->mint_why, sizeof a->mint_why, "%.200s", err.msg);
    }
    if (up->ask_thread_live) /* the last ask's thread, past its use of up->mu */
        pthread_join(up->ask_thread, NULL);
    up->ask_thread_live = false;
    up->asking = true;
    if (pthread_create(&up->ask_thread, NULL, ask_main, a) != 0) {
        up->asking = false;
        wr_free(a->minted);
        wr_free(a);
        return false;
    }
    up->ask_thread_live = true;
    return true;
}

int gw_tool_wait(mcp_gw *g, gw_req *r, const char *name, json_t **ann)
{
    gw_up *up = r->up;
    pthread_mutex_lock(&up->mu);
    gw_tools_fresh(up);
    *ann = json_incref(json_object_get(up->annotations, name)); /* never changed in place: kept as it is */
    bool wait = !*ann && !r->ask_done && !up->ask_closed;
    if (wait && !up->asking) {
        int64_t now = wr_mono_ms();
        wait = !up->asked_ms || now - up->asked_ms >= 10000;
        if (wait) {
            up->asked_ms = now;
            wait = ask_start(g, r);
            if (!wait)
                fprintf(stderr, "writ: mcp: upstream %s: cannot start asking for its tools\n", up->cfg->name);
        }
    }
    if (wait) {
        r->ask_next = up->ask_waiters;
        up->ask_waiters = r;
        r->ask_registered = true;
    }
    pthread_mutex_unlock(&up->mu);
    return wait;
}

void gw_tool_unwait(gw_req *r)
{
    if (!r->ask_registered)
        return;
    gw_up *up = r->up;
    pthread_mutex_lock(&up->mu);
    for (gw_req **p = &up->ask_waiters; *p; p = &(*p)->ask_next)
        if (*p == r) {
            *p = r->ask_next;
            break;
        }
    pthread_mutex_unlock(&up->mu);
}

void gw_tools_fresh(gw_up *up)
{
    uint64_t e = mcp_upstream_tools_epoch(up->u);
    if (e == up->tools_epoch)
        return;
    up->tools_epoch = e;
    json_object_clear(up->annotations);
    up->asked_ms = 0;
}

void gw_tool_asks_end(gw_up *up)
{
    pthread_mutex_lock(&up->mu);
    up->ask_closed = true;
    bool live = up->ask_thread_live;
    up->ask_thread_live = false;
    pthread_mutex_unlock(&up->mu);
    if (live)
        pthread_join(up->ask_thread, NULL);
}

/* The annotations of a tool no listing has shown (none since the start, or
 * the upstream does not list it): unknown, so each hint takes the value MCP
 * gives an undeclared one, the most restrictive (may change things, may
 * destroy, not idempotent, reaches out).  A listed tool has what it
 * declared, nothing more. */
static json_t *unknown_annotations(void)
{
    return json_pack("{s:b,s:b,s:b,s:b}", "readOnlyHint", 0, "destructiveHint", 1, "idempotentHint", 0,
                     "openWorldHint", 1);
}

json_t *gw_tool_record(const char *name, const json_t *ann)
{
    return ann ? json_pack("{s:s,s:O}", "name", name, "annotations", ann)
               : json_pack("{s:s,s:o}", "name", name, "annotations", unknown_annotations());
}

/* This thread's memory for a call's Cedar values (call_values): rewound
 * per call, kept from one call to the next. */
static pthread_key_t arena_key;
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;
static bool arena_key_ok;
static void arena_drop(void *p) { wr_arena_free(p); }
static void arena_key_make(void) { arena_key_ok = pthread_key_create(&arena_key, arena_drop) == 0; }

static wr_arena *call_arena(void)
{
    if (pthread_once(&arena_once, arena_key_make) != 0 || !arena_key_ok)
        return NULL;
    wr_arena *a = pthread_getspecific(arena_key);
    if (a) {
        wr_arena_reset(a);
        return a;
    }
    a = wr_arena_new(0);
    if (a && pthread_setspecific(arena_key, a) != 0) {
        wr_arena_free(a);
        a = NULL;
    }
    return a;
}

/* context.input and context.tool of a tools/call as Cedar values: what
 * reading mcp_input_to_cedar's tree and tool_record's (no schema) gives.
 * Their values live in this thread's arena until its next call.  The
 * refusals are mcp_input_to_cedar's. */
writ_status gw_call_values(const char *name, const json_t *args, const json_t *declared, cedar_fact out[2],
                           const cv_record **rec, writ_error *err)
{
    wr_arena *a = call_arena();
    cv_value *v = a ? wr_arena_alloc(a, 3 * sizeof *v) : NULL;
    if (!v)
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    writ_status st = mcp_input_to_values(a, args, NULL, &v[0], err);
    if (st)
        return st;
    cv_field f[2];
    json_t *unknown = declared ? NULL : unknown_annotations();
    const json_t *ann = declared ? declared : unknown;
    st = ann ? cedar_json_value(a, ann, NULL, "context", &f[0].v, err)
             : wr_error(err, WRIT_ENOMEM, "out of memory");
    json_decref(unknown);
    f[0].key = cv_string_new(a, "annotations", 11);
    f[1].key = cv_string_new(a, "name", 4);
    f[1].v = cv_str_new(a, name, strlen(name));
    if (st)
        return st;
    if (!f[0].key || !f[1].key || f[0].v.type == CV_NONE || f[1].v.type == CV_NONE ||
        (v[1] = cv_record_new(a, f, 2)).type == CV_NONE)
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    out[0] = (cedar_fact){.name = {"input", 5}, .value = &v[0]};
    out[1] = (cedar_fact){.name = {"tool", 4}, .value = &v[1]};
    /* both as one record, what a limit's `sum context.input.x` reads */
    cv_field m[2] = {{.key = cv_string_new(a, "input", 5), .v = v[0]},
                     {.key = cv_string_new(a, "tool", 4), .v = v[1]}};
    if (!m[0].key || !m[1].key || (v[2] = cv_record_new(a, m, 2)).type == CV_NONE)
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    *rec = v[2].u.rec;
    return WRIT_OK;
}
