/* listfilter.c - what a listing shows an agent: a tool, resource or prompt
 * is listed when some policy may allow this agent to use it (partial
 * evaluation, context.input unknown), and a stream's messages holding a
 * list are filtered the same way.  See gateway_int.h. */
#include "mcp/gateway_int.h"

#include "mcp/jsonrpc.h"
#include "mcp/uri.h"
#include "util/alloc.h"
#include "util/clock.h"

#include <stdio.h>
#include <string.h>

/* May this agent use action NAME/id with some input?  input NULL: all of
 * context.input unknown; with input, its `arguments` (when args_unknown)
 * or nothing unknown.  (A listing, not a decision: nothing is audited,
 * nothing is forwarded because of it.) */
static bool may_use(mcp_gw *g, const srv_snapshot *snap, gw_req *r, const char *aid, const json_t *tool,
                    const json_t *input, bool args_unknown)
{
    srv *s = g->s;
    const srv_task *t = &r->task;
    char why[300];
    sbuf au, ru;
    sb_init(&au);
    sb_init(&ru);
    sb_puts(&au, s->action_type);
    sb_puts(&au, "::");
    sb_json_str(&au, aid);
    sb_puts(&ru, s->type_prefix);
    sb_puts(&ru, "McpServer::");
    sb_json_str(&ru, r->up->cfg->name);
    bool in =
        sb_ok(&au) && sb_ok(&ru) && !srv_task_in_scope(t, aid, au.p, r->up->cfg->name, ru.p, why, sizeof why);
    sb_free(&au);
    sb_free(&ru);
    if (!in)
        return false;
    srv_ask a = gw_ask(g, r, aid);
    json_t *ctx = json_object();
    if (!ctx || (tool && json_object_set(ctx, "tool", (json_t *)tool)) ||
        (input && json_object_set(ctx, "input", (json_t *)input)) ||
        srv_facts_context(s, snap, &a, s->dest_default, ctx)) {
        json_decref(ctx);
        return false;
    }
    writ_request *rq = writ_request_reusable();
    writ_error err;
    memset(&err, 0, sizeof err);
    bool ok = false;
    if (rq && !writ_request_fill(rq, snap->schema, false, &a.principal, &a.action, &a.resource, ctx, &err)) {
        static const char *const all[] = {"input"}, *const args[] = {"input.arguments"};
        writ_partial_decision pd;
        writ_authorizer *az = srv_thread_authorizer(s);
        ok = az &&
             !writ_authorize_partial(az, snap->ps, snap->es, rq, input ? args : all, !input || args_unknown,
                                     &pd) &&
             pd.maybe != WRIT_MAYBE_NO;
        /* a forbid that fails whatever the input denies every call (decide.c) */
        writ_decision failed = {.nerrors = ok ? pd.nerrors : 0, .errors = ok ? pd.errors : NULL};
        if (ok && s->cfg->forbid_error_denies && writ_policyset_forbid_error(snap->ps, &failed, NULL))
            ok = false;
    }
    writ_request_free(rq);
    json_decref(ctx);
    return ok;
}

json_t *gw_declared(const json_t *it)
{
    json_t *ann = json_is_string(json_object_get(it, "name")) ? json_object() : NULL;
    json_t *decl = json_object_get(it, "annotations");
    static const char *const hints[] = {"readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"};
    for (size_t k = 0; ann && k < 4; k++) {
        json_t *v = json_object_get(decl, hints[k]);
        if (json_is_boolean(v))
            json_object_set(ann, hints[k], v);
    }
    return ann;
}

json_t *gw_remember_tool(gw_up *up, const json_t *it)
{
    const char *name = json_string_value(json_object_get(it, "name"));
    json_t *ann = gw_declared(it);
    pthread_mutex_lock(&up->mu);
    gw_tools_fresh(up);
    if (ann)
        json_object_set(up->annotations, name, ann);
    pthread_mutex_unlock(&up->mu);
    return ann;
}

/* Task ids of one task listing that may be asked of the state store (a
 * round trip each, on this thread) when this replica does not hold them:
 * tasks created through another replica, or before a restart.  Past it,
 * such a task is not listed (it still answers tasks/get, which asks). */
#define TASK_LIST_ASKS 64

/* Filter one list result in place; the tools' annotations are remembered
 * only from the answer to a tools/list (not from a stream, whose message
 * may be any answer).  False when the result has the list's member but it
 * is not an array. */
static bool filter_result(mcp_gw *g, gw_req *r, gw_list list, json_t *result)
{
    const char *key = list == L_TOOLS       ? "tools"
                      : list == L_RESOURCES ? "resources"
                      : list == L_TEMPLATES ? "resourceTemplates"
                      : list == L_TASKS     ? "tasks"
                                            : "prompts";
    json_t *items = json_object_get(result, key);
    if (!items)
        return true;
    if (!json_is_array(items))
        return false;
    srv_snapshot *snap = snap_acquire(g->s->store);
    int readable = -1; /* templates: may some resource be read (the same for each, so asked once) */
    unsigned asks = TASK_LIST_ASKS;
    size_t i = 0;
    while (i < json_array_size(items)) {
        json_t *it = json_array_get(items, i);
        bool keep = false;
        char aid[600];
        if (list == L_TOOLS) {
            const char *name = json_string_value(json_object_get(it, "name"));
            if (name && strlen(name) < 512 && !strchr(name, '/')) { /* not callable through Writ */
                json_t *ann = r->list == L_TOOLS ? gw_remember_tool(r->up, it) : gw_declared(it);
                json_t *tool = ann ? json_pack("{s:s,s:O}", "name", name, "annotations", ann) : NULL;
                snprintf(aid, sizeof aid, "%s/%s", r->up->cfg->name, name);
                keep = tool && may_use(g, snap, r, aid, tool, NULL, false);
                json_decref(tool);
                json_decref(ann);
            }
        } else if (list == L_TASKS) {
            /* a task this agent's call created (taskbind.h), through
             * any replica; one the store cannot be asked about is not listed */
            keep = gw_task_owned(g, r, json_object_get(it, "taskId"), &asks);
        } else if (list == L_TEMPLATES) {
            /* a template, when reading some uri may be allowed (input unknown) */
            snprintf(aid, sizeof aid, "%s/resources/read", r->up->cfg->name);
            if (readable < 0)
                readable = may_use(g, snap, r, aid, NULL, NULL, false);
            keep = json_is_object(it) && readable;
        } else {
            snprintf(aid, sizeof aid, "%s/%s", r->up->cfg->name,
                     list == L_RESOURCES ? "resources/read" : "prompts/get");
            /* a resource is listed when reading its uri may be allowed
             * (input {uri} known); a prompt when getting it by its name
             * with some arguments may be (input {name} known, input.arguments
             * unknown) */
            const char *k = list == L_RESOURCES ? "uri" : "name";
            const json_t *v = json_object_get(it, k);
            char why[200];
            json_t *in = json_is_string(v) && (list != L_RESOURCES ||
                                               !mcp_uri_check(json_string_value(v), json_string_length(v),
                                                              why, sizeof why))
                             ? json_pack("{s:O}", k, v)
                             : NULL; /* a uri that would be refused is not listed */
            keep = in && may_use(g, snap, r, aid, NULL, in, list == L_PROMPTS);
            json_decref(in);
        }
        if (keep)
            i++;
        else
            json_array_remove(items, i);
    }
    snap_release(snap);
    return true;
}

/* Filter one JSON-RPC message of a list's answer (list: which list), or of a
 * stream (L_NONE: any list a response's result holds; a stream resumed
 * with Last-Event-ID replays earlier answers, list answers among them).
 * Returns 1 with *out its filtered text (wr_malloc'd), 0 when it holds no
 * list result (an error answer, a notification: sent as it came), -1 when
 * it cannot be read or its list is no array, r->why saying so.  -1 fails the
 * answer: a message the filter could not read would reach the client
 * unfiltered, and a client's own parser may well read it (invalid UTF-8, a
 * huge number, a key twice). */
int gw_filter_message(mcp_gw *g, gw_req *r, gw_list list, const char *text, size_t len, char **out)
{
    *out = NULL;
    json_error_t je;
    json_t *m = json_loadb(text, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);
    if (!m) {
        snprintf(r->why, sizeof r->why, "its list answer could not be read: %.120s (byte %d of the message)",
                 je.text, je.position);
        return -1;
    }
    if (mcp_rpc_tools_changed(m)) /* what is known of the tools is stale (toolinfo.c) */
        mcp_upstream_tools_changed(r->up->u);
    json_t *res = json_object_get(m, "result");
    int got = 0;
    static const gw_list kinds[] = {L_TOOLS, L_RESOURCES, L_PROMPTS, L_TEMPLATES, L_TASKS};
    static const char *const keys[] = {"tools", "resources", "prompts", "resourceTemplates", "tasks"};
    bool any = false, array = true;
    for (size_t k = 0; list == L_NONE && !json_object_get(m, "method") && json_is_object(res) && k < 5; k++)
        if (json_object_get(res, keys[k])) {
            any = true;
            array = array && filter_result(g, r, kinds[k], res);
        }
    if (list != L_NONE && json_is_object(res)) {
        any = true;
        array = filter_result(g, r, list, res);
    }
    if (any) {
        got = -1;
        if (!array) {
            snprintf(r->why, sizeof r->why, "its list answer's result has a list that is not an array");
        } else {
            char *t = json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY);
            if (t) {
                *out = wr_strndup(t, strlen(t));
                free(t);
            }
            if (*out)
                got = 1;
            else
                snprintf(r->why, sizeof r->why, "out of memory");
        }
    }
    json_decref(m);
    return got;
}

static bool has(const char *p, size_t n, const char *lit)
{
    size_t ln = strlen(lit);
    for (const char *q = p; (q = memchr(q, lit[0], n - (size_t)(q - p))) && n - (size_t)(q - p) >= ln; q++)
        if (!memcmp(q, lit, ln))
            return true;
    return false;
}

/* Could this message hold a list result, or say the tools changed?  A key
 * "tools" is spelled so, or with a letter escaped as \uXXXX (no other
 * escape makes a letter): with a "\u" anywhere, read it to know.  A tool's
 * answer, whose text escapes newlines and quotes, is passed without being
 * read. */
bool gw_maybe_list(const char *p, size_t n)
{
    return has(p, n, "\\u") || has(p, n, "\"tools\"") || has(p, n, "\"resources\"") ||
           has(p, n, "\"prompts\"") || has(p, n, "\"resourceTemplates\"") || has(p, n, "\"tasks\"") ||
           has(p, n, "/list_changed\"");
}

/* Filter the complete events in[0..n) of a streamed SSE answer into
 * r->sse_out.  An event whose message holds a list is filtered as the list
 * answer it is (a GET resumed with Last-Event-ID replays the session's
 * earlier answers); one that cannot be read is dropped, and said so on
 * stderr: the client never gets a list the filter did not read. */
void gw_sse_filter_events(mcp_gw *g, gw_req *r, const char *in, size_t n)
{
    mcp_sse_event ev;
    mcp_sse_event_init(&ev);
    size_t at = 0;
    int got;
    if (!r->sse_begun) {
        r->sse_begun = true;
        sb_putn(&r->sse_out, in, mcp_sse_bom(in, n));
        got = mcp_sse_next(in, n, &at, &ev);
    } else {
        got = mcp_sse_next_mid(in, n, &at, &ev);
    }
    while (got == 1) {
        if (r->task_call && ev.data.len)
            gw_task_note(g, r, ev.data.p, ev.data.len);
        char *f = NULL;
        int fr = ev.data.len && gw_maybe_list(ev.data.p, ev.data.len)
                     ? gw_filter_message(g, r, L_NONE, ev.data.p, ev.data.len, &f)
                     : 0;
        if (fr < 0)
            fprintf(stderr, "writ: mcp: upstream %s: an event of a stream dropped: %s\n", r->up->cfg->name,
                    r->why);
        else
            mcp_sse_put(&r->sse_out, &ev, f, f ? strlen(f) : 0);
        wr_free(f);
        got = mcp_sse_next_mid(in, n, &at, &ev);
    }
    if (got < 0)
        r->sse_out.failed = true;
    mcp_sse_event_clear(&ev);
}

/* ---- tasks: which agent each was created for (taskbind.h) */

char *gw_owner(mcp_gw *g, const gw_req *r)
{
    if (!r->has_task)
        return NULL;
    const char *pt = srv_task_ptype(g->s, &r->task);
    size_t n = strlen(pt) + 1 + strlen(r->task.agent) + 1;
    char *o = wr_malloc(n);
    if (o)
        snprintf(o, n, "%s %s", pt, r->task.agent);
    return o;
}

/* Bindings are timed by the wall clock (unix ms): a shared one's expiry is
 * read by other replicas and after a restart (taskbind.h). */
void gw_task_note(mcp_gw *g, gw_req *r, const char *text, size_t len)
{
    json_t *m = json_loadb(text, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, NULL);
    json_t *task = json_object_get(json_object_get(m, "result"), "task");
    json_t *id = json_object_get(task, "taskId"), *ttl = json_object_get(task, "ttl");
    /* the answer to this call (its stream may carry other messages) */
    if (r->id && json_is_string(id) && !json_object_get(m, "method") && json_equal(json_object_get(m, "id"), r->id)) {
        double t = json_is_number(ttl) ? json_number_value(ttl) : 0;
        char *owner = gw_owner(g, r);
        char why[300];
        why[0] = '\0';
        if (!owner || !mcp_taskbind_add(r->up->tasks, json_string_value(id), json_string_length(id), owner,
                                        t > 0 && t < (double)TASKBIND_MAX_TTL_MS ? (int64_t)t : 0,
                                        wr_wall_ms(), why, sizeof why))
            fprintf(stderr, "writ: mcp: upstream %s: a task its answer names could not be bound to the agent: no one "
                            "reaches it through the gateway\n", r->up->cfg->name);
        else if (why[0])
            fprintf(stderr,
                    "writ: mcp: upstream %s: a task bound to its agent on this replica only (the state "
                    "store failed: %s): other replicas refuse it\n",
                    r->up->cfg->name, why);
        wr_free(owner);
    }
    json_decref(m);
}

bool gw_task_owned(mcp_gw *g, gw_req *r, const json_t *id, unsigned *asks)
{
    return gw_task_whose(g, r, id, asks, NULL, 0) == TASKBIND_MINE;
}

mcp_task_whose gw_task_whose(mcp_gw *g, gw_req *r, const json_t *id, unsigned *asks, char *detail, size_t n)
{
    if (detail && n)
        detail[0] = '\0';
    if (!json_is_string(id))
        return TASKBIND_UNKNOWN;
    char *owner = gw_owner(g, r);
    mcp_task_whose w = owner ? mcp_taskbind_whose(r->up->tasks, json_string_value(id), json_string_length(id),
                                                  owner, wr_wall_ms(), asks, detail, n)
                             : TASKBIND_UNKNOWN;
    wr_free(owner);
    return w;
}
