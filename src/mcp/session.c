/* session.c - MCP sessions bound to the agent that opened them: see
 * session.h. */
#include "mcp/session.h"
#include "jose/jose.h"
#include "util/alloc.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <string.h>

#define MAC_LEN 16
#define PREFIX "w1."

struct mcp_sessions {
    EVP_MAC *mac;
    EVP_MAC_CTX *keyed; /* HMAC-SHA256 with the key set: each use starts from a copy */
};

void mcp_sessions_free(mcp_sessions *b)
{
    if (!b)
        return;
    EVP_MAC_CTX_free(b->keyed);
    EVP_MAC_free(b->mac);
    wr_free(b);
}

static bool init_ctx(EVP_MAC_CTX *ctx, const unsigned char *key, size_t n)
{
    OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                      OSSL_PARAM_construct_end()};
    return EVP_MAC_init(ctx, key, n, p) == 1;
}

mcp_sessions *mcp_sessions_new(const void *secret, size_t n)
{
    mcp_sessions *b = wr_calloc(1, sizeof *b);
    if (!b)
        return NULL;
    unsigned char key[32];
    size_t kn = 0;
    b->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    b->keyed = b->mac ? EVP_MAC_CTX_new(b->mac) : NULL;
    bool ok = b->keyed != NULL;
    if (ok && n) {
        /* key = HMAC-SHA256(secret, label): the secret itself is never the key */
        static const char label[] = "writ mcp session binding v1";
        ok = init_ctx(b->keyed, secret, n) &&
             EVP_MAC_update(b->keyed, (const unsigned char *)label, sizeof label - 1) &&
             EVP_MAC_final(b->keyed, key, &kn, sizeof key) && kn == sizeof key;
    } else if (ok) {
        ok = RAND_bytes(key, sizeof key) == 1;
        kn = sizeof key;
    }
    ok = ok && init_ctx(b->keyed, key, kn);
    OPENSSL_cleanse(key, sizeof key);
    if (!ok) {
        mcp_sessions_free(b);
        return NULL;
    }
    return b;
}

static bool visible(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7E)
            return false;
    return n > 0;
}

static bool mac_of(const mcp_sessions *b, const char *name, const char *agent, const char *up_sid, size_t un,
                   unsigned char out[MAC_LEN])
{
    EVP_MAC_CTX *c = EVP_MAC_CTX_dup(b->keyed);
    unsigned char full[EVP_MAX_MD_SIZE];
    size_t fn = 0;
    /* each part ends with a NUL, which none holds: no two inputs run together */
    bool ok = c && EVP_MAC_update(c, (const unsigned char *)name, strlen(name) + 1) &&
              EVP_MAC_update(c, (const unsigned char *)agent, strlen(agent) + 1) &&
              EVP_MAC_update(c, (const unsigned char *)up_sid, un) &&
              EVP_MAC_final(c, full, &fn, sizeof full) && fn >= MAC_LEN;
    EVP_MAC_CTX_free(c);
    if (ok)
        memcpy(out, full, MAC_LEN);
    return ok;
}

bool mcp_session_wrap(const mcp_sessions *b, const char *name, const char *agent, const char *up_sid,
                      char *out, size_t cap)
{
    size_t un = strlen(up_sid);
    unsigned char m[MAC_LEN];
    size_t need = sizeof PREFIX - 1 + wr_b64url_enc_len(un) + 1 + wr_b64url_enc_len(MAC_LEN) + 1;
    if (!visible(up_sid, un) || need > cap || !mac_of(b, name, agent, up_sid, un, m))
        return false;
    size_t k = sizeof PREFIX - 1;
    memcpy(out, PREFIX, k);
    k += wr_b64url_encode((const unsigned char *)up_sid, un, out + k);
    out[k++] = '.';
    wr_b64url_encode(m, MAC_LEN, out + k);
    return true;
}

bool mcp_session_unwrap(const mcp_sessions *b, const char *name, const char *agent, const char *id, char *out,
                        size_t cap)
{
    size_t pn = sizeof PREFIX - 1;
    if (strncmp(id, PREFIX, pn))
        return false;
    const char *dot = strchr(id + pn, '.');
    if (!dot)
        return false;
    unsigned char *sid = NULL, *got = NULL;
    size_t sn = 0, gn = 0;
    unsigned char want[MAC_LEN];
    bool ok = wr_b64url_decode(id + pn, (size_t)(dot - id - pn), &sid, &sn) &&
              wr_b64url_decode(dot + 1, strlen(dot + 1), &got, &gn) && gn == MAC_LEN && sn < cap &&
              visible((const char *)sid, sn) && mac_of(b, name, agent, (const char *)sid, sn, want) &&
              CRYPTO_memcmp(want, got, MAC_LEN) == 0;
    if (ok) {
        memcpy(out, sid, sn);
        out[sn] = '\0';
    }
    wr_free(sid);
    wr_free(got);
    return ok;
}
