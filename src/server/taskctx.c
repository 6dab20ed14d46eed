/* taskctx.c - the task behind a request, shared by /authz/check (check.c)
 * and the AuthZEN endpoints (authzen.c): verify the task token of an
 * `Authorization: Bearer` header, bound a decision by the token's scope,
 * and put the token's facts (task, chain, chain_depth) into the Cedar
 * context. */
#include "cedar/json.h"
#include "server/server_int.h"
#include "util/alloc.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

void srv_task_clear(srv_task *t)
{
    json_decref(t->chain);
    wr_free(t->chain_text);
    writ_task_token_free(t->token);
    memset(t, 0, sizeof *t);
}

/* The chain as a JSON array (root first) and as text for the audit log. */
static unsigned set_chain(srv_task *t, json_t *chain, char *why, size_t n)
{
    t->chain = chain;
    /* json_dumps(chain, JSON_COMPACT)'s bytes, made quicker */
    t->chain_text = chain ? cedar_json_dump_compact(chain) : NULL;
    if (!t->chain_text) {
        snprintf(why, n, "out of memory");
        return 401;
    }
    return 0;
}

bool srv_is_bearer(const char *auth)
{
    return strncasecmp(auth, "Bearer", 6) == 0 && (auth[6] == ' ' || auth[6] == '\0');
}

unsigned srv_task_bearer(srv *s, struct MHD_Connection *c, const char *auth, srv_task *t, char *why, size_t n)
{
    memset(t, 0, sizeof *t);
    if (!srv_is_bearer(auth)) {
        snprintf(why, n,
                 "unsupported Authorization scheme: only a task token (Authorization: Bearer) is accepted");
        return 401;
    }
    if (!s->verifier) {
        snprintf(why, n, "task tokens are not configured on this server (token_keys or token_jwks)");
        return 401;
    }
    const char *tok = auth + 6;
    while (*tok == ' ')
        tok++;
    writ_reason reason = WRIT_R_OK;
    writ_error err;
    memset(&err, 0, sizeof err);
    /* a certificate-bound token needs this connection's verified client
     * certificate (cnf_missing / cnf_mismatch) */
    if (srv_verify_task_token(s, c, tok, strlen(tok), &t->token, &reason, &err)) {
        /* err.msg mostly starts with the reason's name already: say it once */
        const char *rn = writ_reason_name(reason);
        size_t rl = strlen(rn);
        if (!strncmp(err.msg, rn, rl) && err.msg[rl] == ':')
            snprintf(why, n, "task token refused: %.200s", err.msg);
        else
            snprintf(why, n, "task token refused: %s: %.160s", rn, err.msg);
        return 401;
    }
    const writ_task_token *k = t->token;
    t->agent = writ_task_token_holder(k);
    t->ptype = writ_task_token_holder_type(k);
    t->task = writ_task_token_txn(k) ? writ_task_token_txn(k) : "";
    t->purpose = writ_task_token_purpose(k) ? writ_task_token_purpose(k) : "";
    t->depth = writ_task_token_depth(k);
    json_t *chain = json_array();
    for (size_t i = 0; chain && i <= t->depth; i++) {
        const char *a = writ_task_token_chain(k, i);
        if (a && json_array_append_new(chain, json_string(a))) {
            json_decref(chain);
            chain = NULL;
        }
    }
    return set_chain(t, chain, why, n);
}

unsigned srv_task_identify(srv *s, struct MHD_Connection *c, srv_task *t, char *why, size_t n)
{
    memset(t, 0, sizeof *t);
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    bool bearer = auth && strncasecmp(auth, "Bearer ", 7) == 0;
    if (s->verifier && bearer)
        return srv_task_bearer(s, c, auth, t, why, n);
    const char *hdr = s->cfg->check_principal_header;
    if (*hdr) {
        const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, hdr);
        if (!a || !*a) {
            snprintf(why, n, "no %s header", hdr);
            return 401;
        }
        const char *tk = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Writ-Task");
        const char *p = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Writ-Purpose");
        t->agent = a;
        t->task = tk ? tk : "";
        t->purpose = p ? p : "";
        t->depth = 0;
        return set_chain(t, json_pack("[s]", a), why, n);
    }
    if (!bearer) {
        snprintf(why, n, "a task token is required (Authorization: Bearer)");
        return 401;
    }
    snprintf(why, n, "task tokens are not configured on this server (token_keys or token_jwks)");
    return 401;
}

/* Could item cover an action under prefix (or prefix_uid, a uid text
 * without its closing quote)?  Not the uid of the prefix itself
 * (`Writ::Action::"NAME/"`): that names no action either. */
static bool reaches(const char *item, const char *prefix, const char *prefix_uid)
{
    size_t pl = strlen(prefix_uid);
    if (!strncmp(item, prefix_uid, pl) && item[pl] == '"' && item[pl + 1] == '\0')
        return false;
    return writ_scope_reaches(item, prefix) || writ_scope_reaches(item, prefix_uid);
}

/* The token's resources, when it lists any, cover rid (or its uid text). */
static int resource_in(const writ_task_scope *sc, const char *rid, const char *resource_uid, char *why, size_t n)
{
    if (sc->n_resources == 0 || writ_scope_list_covers(sc->resources, sc->n_resources, rid) ||
        writ_scope_list_covers(sc->resources, sc->n_resources, resource_uid))
        return 0;
    snprintf(why, n, "resource %s is outside the task token's scope", rid);
    return -1;
}

int srv_task_in_scope(const srv_task *t, const char *action, const char *action_uid, const char *rid,
                      const char *resource_uid, char *why, size_t n)
{
    if (!t->token)
        return 0;
    writ_task_scope sc;
    writ_task_token_scope(t->token, &sc);
    bool ok = writ_scope_list_covers(sc.actions, sc.n_actions, action) ||
              writ_scope_list_covers(sc.actions, sc.n_actions, action_uid);
    if (!ok) {
        snprintf(why, n, "action %s is outside the task token's scope", action);
        return -1;
    }
    return resource_in(&sc, rid, resource_uid, why, n);
}

int srv_task_reaches(const srv_task *t, const char *prefix, const char *prefix_uid, const char *rid,
                     const char *resource_uid, char *items, size_t in, char *why, size_t n)
{
    items[0] = '\0';
    if (!t->token)
        return 0;
    writ_task_scope sc;
    writ_task_token_scope(t->token, &sc);
    bool ok = false;
    size_t w = 0;
    for (size_t i = 0; i < sc.n_actions; i++) {
        const char *it = sc.actions[i];
        if (!reaches(it, prefix, prefix_uid))
            continue;
        ok = true;
        size_t l = strlen(it);
        if (w + (w > 0) + l + 1 > in)
            continue; /* fewer items: narrower, never wider */
        if (w)
            items[w++] = ' ';
        memcpy(items + w, it, l + 1);
        w += l;
    }
    if (!ok) {
        snprintf(why, n, "the task token's scope has no action under %s", prefix);
        return -1;
    }
    return resource_in(&sc, rid, resource_uid, why, n);
}
