/* oauth_revoke.c - POST /oauth2/revoke: by token, task, agent or subtree;
 * who may revoke what is in oauth.c. */
#include "server/form.h"
#include "server/oauth_int.h"
#include "util/alloc.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- revocation --------------------------------------------------------- */

typedef struct revoker {
    bool admin;
    writ_task_token *token; /* the caller's own task token (not admin) */
    char who[600];          /* for the audit record */
} revoker;

/* 0, or fills r with 401. */
static int authenticate(srv *s, struct MHD_Connection *c, revoker *who, srv_reply *r)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    char action[128];
    snprintf(action, sizeof action, "%s::\"revoke\"", s->action_type);
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) {
        srv_outcome o;
        srv_decide_failed(s, NULL, action, "", NULL, "revoke refused: no credentials", &o);
        oauth_error(
            r, 401, "invalid_client", NULL,
            "revocation needs Authorization: Bearer with a task token (its own subtree) or the admin secret");
        return -1;
    }
    const char *cred = auth + 7;
    while (*cred == ' ')
        cred++;
    size_t n = strlen(cred);
    if (s->admin_secret && n == s->admin_len && CRYPTO_memcmp(cred, s->admin_secret, n) == 0) {
        who->admin = true;
        snprintf(who->who, sizeof who->who, "admin");
        return 0;
    }
    writ_reason reason = WRIT_R_OK;
    writ_error err;
    memset(&err, 0, sizeof err);
    if (!s->verifier || srv_verify_task_token(s, c, cred, n, &who->token, &reason, &err)) {
        atomic_fetch_add_explicit(&s->met.token_rejected, 1, memory_order_relaxed);
        char m[320];
        snprintf(m, sizeof m, "revoke refused: bad credentials: %.200s", s->verifier ? err.msg : "");
        srv_outcome o;
        srv_decide_failed(s, NULL, action, "", NULL, m, &o);
        oauth_error(r, 401, "invalid_client", s->verifier ? writ_reason_name(reason) : NULL,
                    "the credential is neither the admin secret nor a valid task token%s%s",
                    s->verifier ? ": " : "", s->verifier ? err.msg : "");
        return -1;
    }
    sbuf b;
    sb_init(&b);
    const char *h = writ_task_token_holder(who->token), *ht = writ_task_token_holder_type(who->token);
    srv_uid_text(&b, ht ? ht : s->cfg->check_principal_type, h, strlen(h));
    snprintf(who->who, sizeof who->who, "%s", sb_ok(&b) ? b.p : "");
    sb_free(&b);
    return 0;
}

static void revoke_done(srv *s, srv_reply *r, const revoker *who, writ_revoke_kind kind, const char *value,
                        int64_t until, const char *task)
{
    writ_error err;
    memset(&err, 0, sizeof err);
    char note[700];
    snprintf(note, sizeof note, "/oauth2/revoke by %s", who->who);
    sbuf res;
    sb_init(&res);
    sb_puts(&res, "Revocation::");
    sbuf v;
    sb_init(&v);
    sb_puts(&v, writ_revoke_kind_name(kind));
    sb_putc(&v, ':');
    sb_puts(&v, value);
    sb_json_strn(&res, sb_ok(&v) ? v.p : "", sb_ok(&v) ? v.len : 0);
    sb_free(&v);
    const char *rtxt = sb_ok(&res) ? res.p : "";
    char action[128];
    snprintf(action, sizeof action, "%s::\"revoke\"", s->action_type);
    if (writ_revocations_add(s->revocations, kind, value, strlen(value), until, note, &err)) {
        srv_outcome o;
        srv_decide_failed(s, who->who, action, rtxt, task, err.msg, &o);
        oauth_error(r, 503, "temporarily_unavailable", NULL, "the revocation could not be recorded: %s",
                    err.msg);
        sb_free(&res);
        return;
    }
    char on[300]; /* which replica took it (docs/REPLICAS.md) */
    snprintf(on, sizeof on, "shared by replica %s", s->replica);
    srv_record(s, who->who, action, rtxt, task, true, s->state && wr_store_shared(s->state) ? on : NULL);
    atomic_fetch_add_explicit(&s->met.token_revoked, 1, memory_order_relaxed);
    sbuf b;
    sb_init(&b);
    sb_puts(&b, "{\"revoked\":");
    sb_json_str(&b, writ_revoke_kind_name(kind));
    sb_puts(&b, ",\"value\":");
    sb_json_str(&b, value);
    sb_putc(&b, '}');
    srv_reply_sbuf(r, 200, &b);
    sb_free(&res);
}

void oauth_revoke(srv *s, struct MHD_Connection *c, const char *body, size_t len, srv_reply *r)
{
    form f;
    char why[200];
    revoker who;
    memset(&who, 0, sizeof who);
    if (form_parse(body, len, &f, why, sizeof why)) {
        oauth_error(r, 400, "invalid_request", NULL, "%s", why);
        goto out;
    }
    if (!s->revocations) {
        oauth_error(r, 400, "invalid_request", NULL, "task tokens are not configured on this server");
        goto out;
    }
    static const char *const names[] = {"token", "task", "agent", "subtree", "jti"};
    const char *which = NULL, *value = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = form_get(&f, names[i]);
        if (!v)
            continue;
        if (which) {
            oauth_error(r, 400, "invalid_request", NULL,
                        "give exactly one of token, task, agent, subtree, jti");
            goto out;
        }
        which = names[i];
        value = v;
    }
    if (!which || !*value || strlen(value) > 2048) {
        oauth_error(r, 400, "invalid_request", NULL,
                    "give exactly one of token, task, agent, subtree, jti (1 to 2048 bytes)");
        goto out;
    }
    const char *hint = form_get(&f, "token_type_hint");
    if (hint && strcmp(hint, "access_token") && strcmp(hint, "refresh_token") && strcmp(hint, TT_ACCESS) &&
        strcmp(hint, TT_TXN)) {
        oauth_error(r, 400, "unsupported_token_type", NULL, "token_type_hint must be access_token or %s",
                    TT_TXN);
        goto out;
    }
    if (authenticate(s, c, &who, r))
        goto out;
    const char *mytask = who.token ? writ_task_token_txn(who.token) : NULL;
    int64_t horizon = (int64_t)time(NULL) + WRIT_HARD_MAX_TTL + s->cfg->token_leeway;
    char action[128];
    snprintf(action, sizeof action, "%s::\"revoke\"", s->action_type);
    if (!strcmp(which, "token")) {
        /* RFC 7009: verify to learn what it is; one that does not verify is
         * unusable already and needs nothing. */
        writ_task_token *t = NULL;
        writ_reason reason;
        writ_error err;
        memset(&err, 0, sizeof err);
        if (srv_verify_any_binding(s, value, strlen(value), &t, &reason, &err)) {
            sbuf b;
            sb_init(&b);
            sb_puts(&b, "{\"revoked\":null,\"writ_reason\":");
            sb_json_str(&b, writ_reason_name(reason));
            sb_putc(&b, '}');
            srv_reply_sbuf(r, 200, &b);
            goto out;
        }
        /* a task token revokes only its own subtree: itself and what was
         * delegated from it; never its parent, a sibling, or another root
         * token of the same task id (another agent may have started it) */
        if (!who.admin && !writ_task_token_in_subtree(t, writ_task_token_jti(who.token))) {
            srv_outcome o;
            srv_decide_failed(s, who.who, action, "", mytask,
                              "revoke refused: the token is not in the caller's own subtree", &o);
            oauth_error(r, 403, "unauthorized_client", NULL,
                        "a task token may only revoke itself and tokens delegated from it");
            writ_task_token_free(t);
            goto out;
        }
        const char *txn = writ_task_token_txn(t);
        revoke_done(s, r, &who, WRIT_REVOKE_SUBTREE, writ_task_token_jti(t),
                    writ_task_token_expiry(t) + s->cfg->token_leeway, txn);
        writ_task_token_free(t);
    } else {
        /* A whole task too: a task id is not one agent's (every agent the
         * policies let start it holds root tokens of it, a stored task of
         * a human, say), so no task token speaks for all of it. */
        if (!who.admin) {
            srv_outcome o;
            srv_decide_failed(s, who.who, action, "", mytask, "revoke refused: admin only", &o);
            oauth_error(r, 403, "unauthorized_client", NULL, "revoking by %s needs the admin credential%s",
                        which, !strcmp(which, "task") ? " (a task token revokes its own subtree: token=)" : "");
            goto out;
        }
        if (!strcmp(which, "agent"))
            revoke_done(s, r, &who, WRIT_REVOKE_AGENT, value, 0, NULL);
        else if (!strcmp(which, "task"))
            revoke_done(s, r, &who, WRIT_REVOKE_TASK, value, horizon, value);
        else
            revoke_done(s, r, &who, !strcmp(which, "jti") ? WRIT_REVOKE_JTI : WRIT_REVOKE_SUBTREE, value,
                        horizon, NULL);
    }
out:
    writ_task_token_free(who.token);
    form_free(&f);
}
