/* tokens.c - the server's task-token state: signing keys, verifier,
 * revocation set, trusted identity issuers and the admin credential
 * (configured by token_keys / token_jwks, token_issuer, token_audience,
 * revocations, identity_spiffe / identity_oidc, admin_token_file).
 *
 * On the embedded defaults (neither token_keys nor token_jwks) the server
 * signs with STATE_DIR/token-key.pem, generated (ES256, mode 0600) on the
 * first start and loaded on later ones, so tokens survive restarts. */
#include "server/server_int.h"
#include "util/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOK_MAX_FILE (1u << 20)
#define TOK_CACHE 4096

static char *slurp(const char *path, size_t *len, writ_error *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = f ? wr_malloc(TOK_MAX_FILE + 1) : NULL;
    size_t n = buf ? fread(buf, 1, TOK_MAX_FILE + 1, f) : 0;
    if (f)
        fclose(f);
    if (!buf || n > TOK_MAX_FILE) {
        wr_free(buf);
        if (err) {
            memset(err, 0, sizeof *err);
            err->code = WRIT_EIO;
            snprintf(err->msg, sizeof err->msg, "cannot read %s", path);
        }
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static writ_status io_fail(writ_error *err, const char *what, const char *path)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = WRIT_EIO;
        snprintf(err->msg, sizeof err->msg, "%s %s: %s", what, path, strerror(errno));
    }
    return WRIT_EIO;
}

static char *state_path(const srv_config *c, const char *name)
{
    size_t n = strlen(c->state_dir), m = strlen(name);
    char *p = wr_malloc(n + m + 2);
    if (p) {
        memcpy(p, c->state_dir, n);
        p[n] = '/';
        memcpy(p + n + 1, name, m + 1);
    }
    return p;
}

/* The default signing key: STATE_DIR/token-key.pem, made on first start.
 * Written to a temporary file (0600), synced, then linked into place, so a
 * crash never leaves a half-written key and two servers starting at once
 * agree on one key. */
static char *default_key(const srv_config *c, size_t *len, writ_error *err)
{
    char *path = state_path(c, "token-key.pem"), *tmp = state_path(c, "token-key.pem.tmp");
    char *text = NULL;
    if (!path || !tmp)
        goto out;
    if ((text = slurp(path, len, NULL)))
        goto out;
    writ_keyring *kr = writ_keyring_new();
    char *pem = NULL;
    size_t plen = 0;
    if (!kr || writ_keyring_generate(kr, WRIT_KEY_ES256, NULL, err) ||
        writ_keyring_private_pem(kr, NULL, &pem, &plen, err)) {
        writ_keyring_free(kr);
        goto out;
    }
    writ_keyring_free(kr);
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    bool ok = fd >= 0 && write(fd, pem, plen) == (ssize_t)plen && fsync(fd) == 0;
    if (fd >= 0 && close(fd) != 0)
        ok = false;
    memset(pem, 0, plen);
    writ_free_string(pem);
    if (!ok) {
        io_fail(err, "cannot write the signing key", tmp);
        unlink(tmp);
        goto out;
    }
    if (link(tmp, path) != 0 && errno != EEXIST) {
        io_fail(err, "cannot create the signing key", path);
        unlink(tmp);
        goto out;
    }
    unlink(tmp);
    text = slurp(path, len, err);
    if (text)
        fprintf(stderr, "writ serve: generated the token signing key %s\n", path);
out:
    wr_free(path);
    wr_free(tmp);
    return text;
}

/* The type name as Cedar will see it: unqualified names get the namespace. */
static bool same_type(const srv *s, const char *a, const char *b)
{
    const char *pre = s->type_prefix ? s->type_prefix : "";
    size_t pl = strlen(pre);
    const char *ua = strstr(a, "::") ? a : NULL, *ub = strstr(b, "::") ? b : NULL;
    if (!ua == !ub)
        return !strcmp(a, b);
    /* one qualified, one not: compare prefix + the unqualified one */
    const char *q = ua ? ua : ub, *u = ua ? b : a;
    return !strncmp(q, pre, pl) && !strcmp(q + pl, u);
}

static writ_status load_trust(srv *s, writ_error *err)
{
    const srv_config *c = s->cfg;
    if (!c->ntrust)
        return WRIT_OK;
    if (!(s->bundle = writ_bundle_new()))
        return WRIT_ENOMEM;
    for (size_t i = 0; i < c->ntrust; i++) {
        const srv_trust *t = &c->trust[i];
        size_t len;
        char *text = slurp(t->path, &len, err);
        if (!text)
            return WRIT_EIO;
        /* identity isolation: an OIDC issuer's subjects are never agents */
        const char *ptype = t->ptype ? t->ptype : WRIT_OIDC_DEFAULT_PRINCIPAL_TYPE;
        if (t->oidc && same_type(s, ptype, c->check_principal_type)) {
            wr_free(text);
            memset(err, 0, sizeof *err);
            err->code = WRIT_EINVAL;
            snprintf(
                err->msg, sizeof err->msg,
                "identity_oidc %.80s: principal type %.40s is the agent type: OIDC subjects are never agents",
                t->name, ptype);
            return WRIT_EINVAL;
        }
        writ_status st =
            t->oidc ? writ_bundle_add_oidc_typed(s->bundle, t->name, strlen(t->name), ptype, text, len, err)
                    : writ_bundle_add_spiffe(s->bundle, t->name, strlen(t->name), text, len, err);
        wr_free(text);
        if (st) {
            char m[sizeof err->msg];
            snprintf(m, sizeof m, "%s", err->msg);
            snprintf(err->msg, sizeof err->msg, "%s %s: %.200s",
                     t->oidc ? "identity_oidc" : "identity_spiffe", t->name, m);
            return st;
        }
    }
    return WRIT_OK;
}

static writ_status load_admin(srv *s, writ_error *err)
{
    const char *path = s->cfg->admin_token_file;
    if (!*path)
        return WRIT_OK;
    size_t len;
    char *text = slurp(path, &len, err);
    if (!text)
        return WRIT_EIO;
    size_t n = strcspn(text, "\r\n");
    text[n] = '\0';
    if (n < 32) {
        memset(text, 0, len);
        wr_free(text);
        if (err) {
            memset(err, 0, sizeof *err);
            err->code = WRIT_EINVAL;
            snprintf(err->msg, sizeof err->msg,
                     "admin_token_file %s: the secret must be at least 32 characters", path);
        }
        return WRIT_EINVAL;
    }
    s->admin_secret = text;
    s->admin_len = n;
    return WRIT_OK;
}

writ_status srv_tokens_open(srv *s, writ_error *err)
{
    const srv_config *c = s->cfg;
    writ_status st = WRIT_OK;
    size_t len = 0;
    char *text = NULL;
    s->issuer = (writ_issuer_config){.issuer = c->token_issuer,
                                     .audience = c->token_audience,
                                     .default_ttl = c->token_ttl,
                                     .max_ttl = c->token_max_ttl};
    if ((st = load_trust(s, err)) || (st = load_admin(s, err)))
        return st;
    if (*c->token_keys || !*c->token_jwks) {
        if (!(text = *c->token_keys ? slurp(c->token_keys, &len, err) : default_key(c, &len, err)))
            return WRIT_EIO;
        if (!(s->keyring = writ_keyring_new()))
            st = WRIT_ENOMEM;
        else
            st = writ_keyring_add_pem(s->keyring, text, len, true, NULL, err);
        if (!st)
            st = writ_token_verifier_from_keyring(s->keyring, c->token_issuer, TOK_CACHE, &s->verifier, err);
        if (!st)
            st = writ_keyring_jwks(s->keyring, &s->jwks, &s->jwks_len, err);
    } else if (*c->token_jwks) {
        if (!(text = slurp(c->token_jwks, &len, err)))
            return WRIT_EIO;
        st = writ_token_verifier_from_jwks(text, len, c->token_issuer, TOK_CACHE, &s->verifier, err);
    }
    if (text) {
        memset(text, 0, len); /* may hold a private key */
        wr_free(text);
    }
    if (st)
        return st;
    if (s->verifier) {
        /* Alone, the set lives in this file.  With replicas it lives in
         * memory and follows the shared state, and the file is this
         * replica's own copy of it: what the shared state loses while
         * every replica is stopped comes back from there at start. */
        const char *path = c->revocations;
        char *def = NULL;
        if (!*path) {
            size_t n = strlen(c->state_dir);
            if (!(def = wr_malloc(n + sizeof "/writ.db")))
                return WRIT_ENOMEM;
            memcpy(def, c->state_dir, n);
            memcpy(def + n, "/writ.db", sizeof "/writ.db");
            path = def;
        }
        st = writ_revocations_open(path, &s->revocations, err);
        wr_free(def);
        if (!st && s->state && wr_store_shared(s->state))
            st = srv_state_follow(s, err);
    }
    return st;
}

void srv_tokens_close(srv *s)
{
    writ_bundle_free(s->bundle);
    writ_free_string(s->jwks);
    if (s->admin_secret) {
        memset(s->admin_secret, 0, s->admin_len);
        wr_free(s->admin_secret);
    }
    s->bundle = NULL;
    s->jwks = NULL;
    s->admin_secret = NULL;
    writ_revocations_close(s->revocations);
    writ_token_verifier_free(s->verifier);
    writ_keyring_free(s->keyring);
    s->revocations = NULL;
    s->verifier = NULL;
    s->keyring = NULL;
}
