/* search_http.c - AuthZEN 1.0 search over HTTP:
 *   POST /access/v1/search/subject   {subject: {type}, action, resource, context?, page?}
 *   POST /access/v1/search/resource  {subject, action, resource: {type}, context?, page?}
 *   POST /access/v1/search/action    {subject, resource, context?, page?}
 *   -> {"results": [{type, id}... | {name}...], "page": {"next_token", "count"}}
 *
 * Types, ids and actions map to Cedar as for evaluation (srv_uid_parts:
 * the configured namespace unless the type is qualified); the searched
 * part's id (and an action search's action) is ignored, as AuthZEN says.
 *
 * Who may see what.  Every result is decided by srv_decide_ask, the one
 * decision path, with the request's context and properties, so a search
 * reveals exactly what the same caller could learn by asking for each
 * candidate's evaluation, and nothing more:
 *   - without an Authorization header the caller (the PEP) vouches for
 *     the body, as for evaluation;
 *   - with a task token (Bearer, verified as for evaluation) a resource or
 *     action search is the holder's: the subject is the holder, and each
 *     candidate is bounded by the token (scope, destinations, sensitivity
 *     ceiling) exactly as a decision is.  A subject search is refused
 *     (403): a task token speaks for its holder only, and "who else may do
 *     this" is not its holder's question.
 * Candidates are decided quietly (no audit record, not counted as
 * decisions); the search writes one audit record for itself, whose errors
 * hold "search KIND: N results, M decided of K candidates".
 *
 * Paging: page.limit (1..1000, default 100) results at most; page.token
 * the next_token of the previous page (page.c): a token that is altered,
 * from another process, for another search or from before a reload is a
 * 400 naming which.  next_token is "" on the last page.
 *
 * A type nothing declares (no schema type, no entity, no policy) is an
 * empty result, 200, with the reason in context.errors: AuthZEN's
 * conformance suite requires an empty answer for an unknown type. */
#include "search/search.h"
#include "search/serve.h"
#include "server/server_int.h"
#include "util/alloc.h"

#include <stdio.h>
#include <string.h>

#define SEARCH_DEFAULT_LIMIT 100
#define SEARCH_MAX_LIMIT 1000

static const char *const kind_name[3] = {"subject", "resource", "action"};

typedef struct sh_ctx {
    srv *s;
    const srv_snapshot *snap;
    srv_ask base;
    int dim;               /* DIM_* of the searched part */
    const char *echo_type; /* the type as the caller wrote it, for results */
    sbuf *out;
    size_t n;
} sh_ctx;

static int sh_check(void *arg, const cv_uid *u)
{
    sh_ctx *x = arg;
    srv_ask a = x->base;
    writ_uid_parts p = {"", 0, u->type->data, u->type->len, u->id->data, u->id->len};
    if (x->dim == 0)
        a.principal = p;
    else if (x->dim == 1)
        a.action = p;
    else
        a.resource = p;
    srv_outcome o;
    srv_decide_ask(x->s, x->snap, &a, &o);
    return o.allow ? 1 : 0;
}

static int sh_emit(void *arg, const cv_uid *u)
{
    sh_ctx *x = arg;
    if (x->n++)
        sb_putc(x->out, ',');
    if (x->dim == 1) {
        sb_puts(x->out, "{\"name\":");
    } else {
        sb_puts(x->out, "{\"type\":");
        sb_json_str(x->out, x->echo_type);
        sb_puts(x->out, ",\"id\":");
    }
    sb_json_strn(x->out, u->id->data, u->id->len);
    sb_putc(x->out, '}');
    return sb_ok(x->out) ? 0 : -1;
}

/* part.key must be a non-empty string: its value, or NULL with why. */
static const char *need(json_t *part, const char *pname, const char *key, char *why, size_t n)
{
    json_t *v = json_object_get(part, key);
    if (!json_is_string(v) || json_string_length(v) == 0) {
        snprintf(why, n, "%s.%s must be a non-empty string", pname, key);
        return NULL;
    }
    return json_string_value(v);
}

static int need_obj(json_t *j, const char *name, bool required, char *why, size_t n)
{
    json_t *v = json_object_get(j, name);
    if (!v && !required)
        return 0;
    if (!json_is_object(v)) {
        snprintf(why, n, v ? "%s must be an object" : "%s is required", name);
        return -1;
    }
    json_t *pr = json_object_get(v, "properties");
    if (pr && !json_is_object(pr) && !json_is_null(pr)) {
        snprintf(why, n, "%s.properties must be an object", name);
        return -1;
    }
    return 0;
}

/* The full Cedar type of an AuthZEN type (namespace added unless qualified). */
static char *full_type(srv *s, const char *type)
{
    writ_uid_parts u = srv_uid_parts(s, type, strlen(type), "", 0);
    sbuf b;
    sb_init(&b);
    sb_putn(&b, u.prefix, u.prefix_len);
    sb_putn(&b, u.type, u.type_len);
    sb_putc(&b, '\0');
    return sb_ok(&b) ? b.p : (sb_free(&b), NULL);
}

/* A search the token may not make: a deny, recorded under the holder (as
 * an evaluation for someone else is), and 403. */
static void refuse(srv *s, const srv_task *tk, const char *why, srv_reply *r)
{
    sbuf who;
    sb_init(&who);
    char *pt = full_type(s, srv_task_ptype(s, tk));
    bool named = pt != NULL;
    if (pt)
        srv_uid_text(&who, pt, tk->agent, strlen(tk->agent));
    wr_free(pt);
    srv_record(s, named && sb_ok(&who) ? who.p : "", "", "", tk->task, false, why);
    sb_free(&who);
    srv_error(r, 403, "search_refused", "%s", why);
}

static bool has_props(json_t *part)
{
    json_t *p = json_object_get(part, "properties");
    return json_is_object(p) && json_object_size(p) > 0;
}

static void search(srv *s, const srv_task *tk, const srv_peer *peer, int kind, json_t *j, srv_reply *r)
{
    char why[300];
    json_t *subj = json_object_get(j, "subject"), *act = json_object_get(j, "action"),
           *res = json_object_get(j, "resource"), *ctx = json_object_get(j, "context"),
           *page = json_object_get(j, "page");
    /* the shape: what each search needs of each part */
    if (need_obj(j, "subject", kind == 0 || !tk, why, sizeof why) ||
        (kind != 2 && need_obj(j, "action", true, why, sizeof why)) ||
        need_obj(j, "resource", true, why, sizeof why) ||
        (subj && !need(subj, "subject", "type", why, sizeof why)) ||
        (subj && kind != 0 && !need(subj, "subject", "id", why, sizeof why)) ||
        (kind != 2 && !need(act, "action", "name", why, sizeof why)) ||
        !need(res, "resource", "type", why, sizeof why) ||
        (kind != 1 && !need(res, "resource", "id", why, sizeof why))) {
        srv_error(r, 400, "bad_request", "%s", why);
        return;
    }
    if (ctx && !json_is_object(ctx) && !json_is_null(ctx)) {
        srv_error(r, 400, "bad_request", "context must be an object");
        return;
    }
    if (page && !json_is_object(page) && !json_is_null(page)) {
        srv_error(r, 400, "bad_request", "page must be an object");
        return;
    }
    size_t limit = SEARCH_DEFAULT_LIMIT;
    json_t *lj = json_object_get(page, "limit"), *tj = json_object_get(page, "token");
    if (lj && !json_is_null(lj)) {
        if (!json_is_integer(lj) || json_integer_value(lj) < 1 || json_integer_value(lj) > SEARCH_MAX_LIMIT) {
            srv_error(r, 400, "bad_request", "page.limit must be an integer from 1 to %d", SEARCH_MAX_LIMIT);
            return;
        }
        limit = (size_t)json_integer_value(lj);
    }
    if (tj && !json_is_null(tj) && !json_is_string(tj)) {
        srv_error(r, 400, "bad_request", "page.token must be a string");
        return;
    }
    if (tk && kind == 0) {
        refuse(s, tk, "a subject search is refused with a task token: the token speaks for its holder only", r);
        return;
    }
    /* the parts in Cedar terms; with a token the subject is its holder */
    const char *ptype = tk ? srv_task_ptype(s, tk) : json_string_value(json_object_get(subj, "type"));
    const char *pid = tk ? tk->agent : json_string_value(json_object_get(subj, "id"));
    if (tk && subj) {
        char *want = full_type(s, ptype),
             *got = full_type(s, json_string_value(json_object_get(subj, "type")));
        bool same = want && got && !strcmp(want, got) &&
                    !strcmp(json_string_value(json_object_get(subj, "id")), tk->agent);
        wr_free(want);
        wr_free(got);
        if (!same) {
            refuse(s, tk, "subject does not match the task token's holder", r);
            return;
        }
    }
    const char *rtype = json_string_value(json_object_get(res, "type"));
    const char *rid = kind != 1 ? json_string_value(json_object_get(res, "id")) : "";
    const char *aid = kind != 2 ? json_string_value(json_object_get(act, "name")) : "";
    /* the digest a page token is bound to: the search, not the page */
    unsigned char qd[16];
    {
        json_t *qj = json_pack("{s:i,s:O?,s:O?,s:O?,s:O?,s:s?}", "k", kind, "s", subj, "a",
                               kind != 2 ? act : NULL, "r", res, "c", ctx, "h", tk ? tk->agent : NULL);
        char *qs = qj ? json_dumps(qj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(qj);
        if (!qs) {
            srv_error(r, 500, "internal", "out of memory");
            return;
        }
        wr_page_digest(qs, strlen(qs), qd);
        free(qs); /* jansson's allocator */
    }
    srv_snapshot *snap = snap_acquire(s->store);
    uint64_t from = 0;
    if (tj && json_is_string(tj) && json_string_length(tj) > 0) {
        wr_page_pos pp;
        if (wr_page_token_read(json_string_value(tj), json_string_length(tj), &pp, why, sizeof why)) {
            srv_error(r, 400, "bad_page_token", "%s", why);
            goto out_snap;
        }
        if (pp.kind != kind || memcmp(pp.query, qd, sizeof qd)) {
            srv_error(r, 400, "bad_page_token",
                      "page.token continues another search: send the same subject, action, resource and "
                      "context as the search that returned it");
            goto out_snap;
        }
        if (pp.generation != snap->generation) {
            srv_error(r, 400, "bad_page_token",
                      "page.token was issued before the policies or entities were reloaded: start the search "
                      "again without a token");
            goto out_snap;
        }
        from = pp.pos;
    }
    char *ft[3] = {full_type(s, kind == 0 ? json_string_value(json_object_get(subj, "type")) : ptype), NULL,
                   full_type(s, rtype)};
    ft[1] = wr_malloc(strlen(s->action_type) + 1);
    if (ft[1])
        memcpy(ft[1], s->action_type, strlen(s->action_type) + 1);
    sbuf out;
    sb_init(&out);
    if (!ft[0] || !ft[1] || !ft[2]) {
        srv_error(r, 500, "internal", "out of memory");
        goto out_types;
    }
    int dim = kind == 0 ? 0 : kind == 1 ? 2 : 1;
    wr_search q = {
        .kind = kind == 0   ? WR_SEARCH_SUBJECT
                : kind == 1 ? WR_SEARCH_RESOURCE
                            : WR_SEARCH_ACTION,
        .ps = snap->ps,
        .es = snap->es,
        .schema = snap->schema,
        .type = {ft[0], ft[1], ft[2]},
        .id = {kind == 0 ? "" : pid, aid, rid},
        .id_len = {kind == 0 ? 0 : strlen(pid), strlen(aid), strlen(rid)},
        .props = {has_props(subj), false, has_props(res)},
        .max_checked = s->cfg->search_max_decisions,
    };
    sh_ctx x = {
        .s = s,
        .snap = snap,
        .base =
            {
                .principal = srv_uid_parts(s, ptype ? ptype : "", ptype ? strlen(ptype) : 0, pid ? pid : "",
                                           pid ? strlen(pid) : 0),
                .action = srv_uid_parts(s, s->action_type, strlen(s->action_type), aid, strlen(aid)),
                .resource = srv_uid_parts(s, rtype, strlen(rtype), rid, strlen(rid)),
                .task = tk,
                .bound = tk != NULL,
                .vouched = tk == NULL,
                .context = json_is_object(ctx) ? ctx : NULL,
                .principal_props = json_object_get(subj, "properties"),
                .resource_props = json_object_get(res, "properties"),
                .peer = peer,
                .quiet = true,
            },
        .dim = dim,
        .echo_type = kind == 0 ? json_string_value(json_object_get(subj, "type")) : rtype,
        .out = &out,
    };
    uint64_t next;
    wr_search_stats st;
    writ_error err;
    memset(&err, 0, sizeof err);
    sb_puts(&out, "{\"results\":[");
    writ_status rc = wr_search_run(&q, from, limit, sh_check, sh_emit, &x, &next, &st, &err);
    if (rc == WRIT_EINVAL) {
        /* an unknown type: empty, with the reason (see the top) */
        out.len = 0;
        sb_puts(&out, "{\"results\":[],\"page\":{\"next_token\":\"\",\"count\":0},\"context\":{\"errors\":[{"
                      "\"message\":");
        sb_json_str(&out, err.msg);
        sb_puts(&out, "}]}}");
    } else if (rc) {
        srv_error(r, 500, "search_failed", "the search failed: %s",
                  rc == WRIT_EEVAL ? err.msg : writ_status_name(rc));
        goto out_types;
    } else {
        char tok[WR_PAGE_TOKEN_MAX] = "";
        if (next != WR_SEARCH_END) {
            wr_page_pos pp = {.kind = (uint8_t)kind, .generation = snap->generation, .pos = next};
            memcpy(pp.query, qd, sizeof qd);
            if (wr_page_token_make(&pp, tok, sizeof tok)) {
                srv_error(r, 500, "internal", "could not make a page token");
                goto out_types;
            }
        }
        sb_puts(&out, "],\"page\":{\"next_token\":");
        sb_json_str(&out, tok);
        sb_printf(&out, ",\"count\":%zu}}", x.n);
    }
    /* one audit record for the search */
    {
        sbuf who, what, on, note;
        sb_init(&who);
        sb_init(&what);
        sb_init(&on);
        sb_init(&note);
        if (kind == 0) {
            sb_puts(&who, ft[0]);
            sb_puts(&who, "::*");
        } else
            srv_uid_text(&who, ft[0], pid, strlen(pid));
        if (kind == 2) {
            sb_puts(&what, ft[1]);
            sb_puts(&what, "::*");
        } else
            srv_uid_text(&what, ft[1], aid, strlen(aid));
        if (kind == 1) {
            sb_puts(&on, ft[2]);
            sb_puts(&on, "::*");
        } else
            srv_uid_text(&on, ft[2], rid, strlen(rid));
        sb_printf(&note, "search %s: %zu results, %zu decided of %zu candidates", kind_name[kind], x.n,
                  st.checked, st.candidates);
        if (sb_ok(&who) && sb_ok(&what) && sb_ok(&on) && sb_ok(&note))
            srv_record(s, who.p, what.p, on.p, tk ? tk->task : NULL, rc == WRIT_OK, note.p);
        sb_free(&who);
        sb_free(&what);
        sb_free(&on);
        sb_free(&note);
    }
    srv_reply_sbuf(r, 200, &out);
out_types:
    sb_free(&out);
    for (int i = 0; i < 3; i++)
        wr_free(ft[i]);
out_snap:
    snap_release(snap);
}

/* The handler of the three endpoints: the kind is the path's last part. */
static void search_authzen(void *arg, srv *s, struct MHD_Connection *c, const char *url, const char *method,
                           const char *body, size_t len, srv_reply *r)
{
    (void)arg;
    (void)method;
    const char *last = strrchr(url, '/');
    int kind = -1;
    for (int k = 0; k < 3 && last; k++)
        if (!strcmp(last + 1, kind_name[k]))
            kind = k;
    if (kind < 0) {
        srv_error(r, 404, "not_found", "no such search");
        return;
    }
    srv_task buf;
    const srv_task *tk;
    if (srv_authzen_authenticate(s, c, &buf, &tk, r))
        return;
    srv_peer peer;
    srv_peer_read(s, c, &peer);
    writ_error err;
    memset(&err, 0, sizeof err);
    json_t *j = len ? writ_json_parse(body, len, &err) : NULL;
    if (!len)
        srv_error(r, 400, "bad_request", "the request body is empty: expected a JSON object");
    else if (!j)
        srv_error(r, 400, "bad_json", "malformed JSON at line %u, column %u: %s", err.line, err.col, err.msg);
    else if (!json_is_object(j))
        srv_error(r, 400, "bad_request", "expected a JSON object");
    else
        search(s, tk, &peer, kind, j, r);
    json_decref(j);
    if (tk)
        srv_task_clear(&buf);
}

static const srv_endpoint search_eps[] = {
    {"/access/v1/search/subject", false, SRV_M_POST, "POST", true, search_authzen},
    {"/access/v1/search/resource", false, SRV_M_POST, "POST", true, search_authzen},
    {"/access/v1/search/action", false, SRV_M_POST, "POST", true, search_authzen},
};
static const srv_ext search_ext = {.endpoints = search_eps, .nendpoints = 3};

const srv_ext *wr_search_srv_ext(void) { return &search_ext; }
