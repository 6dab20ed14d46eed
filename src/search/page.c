/* page.c - search page tokens: where the next page starts, sealed.
 *
 * A token is base64url of  version(1) kind(1) generation(8) position(8)
 * query(16) mac(16), the mac the leading 16 bytes of HMAC-SHA256 over the
 * rest under a key drawn at random once per process.  It is signed, not
 * encrypted: a caller can read the reload count and the position of the
 * next candidate in the store's order (nothing a policy decides on), and
 * change nothing without the mac failing; a
 * token from another process (a restart, another replica) fails too, which
 * the error says.  The query digest binds it to the search it continues,
 * the generation to the snapshot whose candidate order it points into. */
#include "search/search.h"
#include "jose/jose.h"
#include "util/alloc.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define PAGE_VERSION 1
#define PAGE_BODY 34
#define PAGE_MAC 16
#define PAGE_LEN (PAGE_BODY + PAGE_MAC)

static unsigned char page_key[32];
static bool page_key_ok;
static pthread_once_t page_once = PTHREAD_ONCE_INIT;

static void page_key_make(void) { page_key_ok = RAND_bytes(page_key, sizeof page_key) == 1; }

static int mac(const unsigned char *body, unsigned char out[PAGE_MAC])
{
    if (pthread_once(&page_once, page_key_make) != 0 || !page_key_ok)
        return -1;
    unsigned char full[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!HMAC(EVP_sha256(), page_key, sizeof page_key, body, PAGE_BODY, full, &n) || n < PAGE_MAC)
        return -1;
    memcpy(out, full, PAGE_MAC);
    return 0;
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

int wr_page_token_make(const wr_page_pos *p, char *out, size_t cap)
{
    unsigned char b[PAGE_LEN];
    b[0] = PAGE_VERSION;
    b[1] = p->kind;
    put64(b + 2, p->generation);
    put64(b + 10, p->pos);
    memcpy(b + 18, p->query, 16);
    if (mac(b, b + PAGE_BODY) || cap < wr_b64url_enc_len(PAGE_LEN) + 1)
        return -1;
    wr_b64url_encode(b, PAGE_LEN, out);
    return 0;
}

int wr_page_token_read(const char *tok, size_t len, wr_page_pos *p, char *why, size_t n)
{
    unsigned char *b = NULL;
    size_t blen = 0;
    if (len == 0 || len > WR_PAGE_TOKEN_MAX || !wr_b64url_decode(tok, len, &b, &blen)) {
        snprintf(why, n, "page.token is not a page token (expected the next_token of an earlier answer)");
        wr_free(b);
        return -1;
    }
    unsigned char m[PAGE_MAC];
    int rc = -1;
    if (blen != PAGE_LEN || b[0] != PAGE_VERSION)
        snprintf(why, n, "page.token is not a page token of this server (wrong length or version)");
    else if (mac(b, m) || CRYPTO_memcmp(m, b + PAGE_BODY, PAGE_MAC) != 0)
        snprintf(why, n,
                 "page.token was altered, or was issued by another server process (a restart or "
                 "another replica): start the search again without a token");
    else {
        p->kind = b[1];
        p->generation = get64(b + 2);
        p->pos = get64(b + 10);
        memcpy(p->query, b + 18, 16);
        rc = 0;
    }
    wr_free(b);
    return rc;
}

void wr_page_digest(const void *data, size_t len, unsigned char out[16])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!EVP_Digest(data, len, d, &n, EVP_sha256(), NULL) || n < 16)
        memset(d, 0, 16); /* never: a zero digest only fails to match */
    memcpy(out, d, 16);
}
