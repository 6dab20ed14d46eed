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
#include "util/error.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* A call names a tool whose annotations no listing has shown: the gateway
 * has just started (or the client skipped tools/list, or the tool is on a
 * page nobody fetched).  Ask the upstream for its whole list now, in the
 * caller's session with the upstream's credential, on this worker (bounded:
 * 5 s), so the call is decided on what the upstream declares.  At most one
 * ask per upstream at a time (the others wait for it) and one every 10 s;
 * a tool still unlisted after it gets unknown_annotations. */
static void list_on_miss(mcp_gw *g, gw_req *r, const char *name)
{
    gw_up *up = r->up;
    pthread_mutex_lock(&up->mu);
    bool known = json_object_get(up->annotations, name) != NULL;
    while (!known && up->asking) {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 6;
        if (pthread_cond_timedwait(&up->asked, &up->mu, &dl))
            break;
        known = json_object_get(up->annotations, name) != NULL;
    }
    int64_t now = mono_ms();
    bool ask = !known && !up->asking && (!up->asked_ms || now - up->asked_ms >= 10000);
    if (ask) {
        up->asking = true;
        up->asked_ms = now;
    }
    pthread_mutex_unlock(&up->mu);
    if (!ask)
        return;
    const char *hdrs[2];
    size_t nh = 0;
    char *minted = NULL, why[200] = "";
    writ_error err;
    memset(&err, 0, sizeof err);
    if (up->cred_line)
        hdrs[nh++] = up->cred_line;
    if (up->token_aud && (minted = gw_minted_line(g, r, up->cfg->name, &err)))
        hdrs[nh++] = minted;
    mcp_ask_opts o = {.session_id = r->fwd_sid[0] ? r->fwd_sid : NULL,
                      .protocol_version = r->pver[0] ? r->pver : NULL,
                      .headers = hdrs,
                      .nheaders = nh,
                      .timeout_ms = 5000};
    json_t *res = up->token_aud && !minted ? NULL : mcp_ask_tools(up->u, &o, 100, why, sizeof why);
    if (!res && !why[0])
        snprintf(why, sizeof why, "minting the upstream's token: %.150s", err.msg);
    wr_free(minted);
    json_t *tools = json_object_get(res, "tools");
    size_t i;
    json_t *it;
    json_array_foreach(tools, i, it) json_decref(gw_remember_tool(up, it));
    if (!res)
        fprintf(stderr, "writ: mcp: upstream %s: asking for its tools (a call named an unlisted one): %s\n",
                up->cfg->name, why);
    json_decref(res);
    pthread_mutex_lock(&up->mu);
    up->asking = false;
    pthread_cond_broadcast(&up->asked);
    pthread_mutex_unlock(&up->mu);
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

/* The annotations tool name declares, with up->mu held on return (the
 * caller unlocks); NULL when no listing shows the tool, even after asking
 * the upstream for one (list_on_miss).  One lock and one lookup when the
 * tool is known, as it is on every call but the first. */
static json_t *declared_locked(mcp_gw *g, gw_req *r, const char *name)
{
    pthread_mutex_lock(&r->up->mu);
    json_t *ann = json_object_get(r->up->annotations, name);
    if (ann)
        return ann;
    pthread_mutex_unlock(&r->up->mu);
    list_on_miss(g, r, name);
    pthread_mutex_lock(&r->up->mu);
    return json_object_get(r->up->annotations, name);
}

json_t *gw_tool_record(mcp_gw *g, gw_req *r, const char *name)
{
    gw_up *up = r->up;
    json_t *ann = declared_locked(g, r, name);
    json_t *t = ann ? json_pack("{s:s,s:O}", "name", name, "annotations", ann)
                    : json_pack("{s:s,s:o}", "name", name, "annotations", unknown_annotations());
    pthread_mutex_unlock(&up->mu);
    return t;
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
writ_status gw_call_values(mcp_gw *g, gw_req *r, const char *name, const json_t *args, cedar_fact out[2],
                           const cv_record **rec, writ_error *err)
{
    gw_up *up = r->up;
    wr_arena *a = call_arena();
    cv_value *v = a ? wr_arena_alloc(a, 3 * sizeof *v) : NULL;
    if (!v)
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    writ_status st = mcp_input_to_values(a, args, NULL, &v[0], err);
    if (st)
        return st;
    cv_field f[2];
    json_t *unknown = NULL, *ann = declared_locked(g, r, name);
    if (!ann)
        ann = unknown = unknown_annotations();
    st = ann ? cedar_json_value(a, ann, NULL, "context", &f[0].v, err)
             : wr_error(err, WRIT_ENOMEM, "out of memory");
    pthread_mutex_unlock(&up->mu);
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
