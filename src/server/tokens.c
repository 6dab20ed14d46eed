/* tokens.c - the server's task-token state: signing keys, verifier,
 * revocation set (configured by token_keys / token_jwks, token_issuer,
 * token_audience, revocations). */
#include "server/server_int.h"
#include "util/alloc.h"

#include <stdio.h>
#include <string.h>

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

writ_status srv_tokens_open(srv *s, writ_error *err)
{
    const srv_config *c = s->cfg;
    writ_status st = WRIT_OK;
    size_t len;
    char *text = NULL;
    if (*c->token_keys) {
        if (!(text = slurp(c->token_keys, &len, err)))
            return WRIT_EIO;
        if (!(s->keyring = writ_keyring_new()))
            st = WRIT_ENOMEM;
        else
            st = writ_keyring_add_pem(s->keyring, text, len, true, NULL, err);
        if (!st)
            st = writ_token_verifier_from_keyring(s->keyring, c->token_issuer, TOK_CACHE, &s->verifier, err);
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
    }
    return st;
}

void srv_tokens_close(srv *s)
{
    writ_revocations_close(s->revocations);
    writ_token_verifier_free(s->verifier);
    writ_keyring_free(s->keyring);
    s->revocations = NULL;
    s->verifier = NULL;
    s->keyring = NULL;
}
