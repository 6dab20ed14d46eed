/* whsig.c - the Standard Webhooks signature of each approval_webhook POST
 * (approval.h; webhook.c sends them).
 *
 * A POST carries webhook-id (one per message, the same on its retries),
 * webhook-timestamp (unix seconds of the attempt) and webhook-signature:
 * "v1," and the base64 of HMAC-SHA256(key, ID "." TIMESTAMP "." BODY), BODY
 * being the very bytes sent.  The key is what the secret's part after
 * "whsec_" decodes to (standard base64, 24 to 64 bytes).  The secrets are
 * the lines of approval_webhook_secret_file, or else of
 * STATE_DIR/webhook.secret, which Writ makes (32 random bytes, 0600) on the
 * first start and reads on later ones; each signs (a rotation holds two).
 * A secret is never logged: an error says what is wrong with it, not what
 * it is. */
#include "approval/approval.h"
#include "jose/jose.h"
#include "util/alloc.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PREFIX "whsec_"
#define PREFIX_LEN (sizeof PREFIX - 1)
#define B64_MAX (4 * ((WR_WHSIG_KEY_MAX + 2) / 3)) /* base64 of the largest key */
#define FILE_MAX 4096                              /* a secret file is one short line */
#define STATE_NAME "webhook.secret"

void wr_whsig_clear(wr_whsig_key *key)
{
    if (key)
        OPENSSL_cleanse(key, sizeof *key);
}

void wr_whsig_clear_all(wr_whsig_keys *keys)
{
    if (keys)
        OPENSSL_cleanse(keys, sizeof *keys);
}

static bool b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

bool wr_whsig_parse(const char *s, size_t len, wr_whsig_key *key, char *why, size_t wn)
{
    memset(key, 0, sizeof *key);
    if (len == 0) {
        snprintf(why, wn, "it is empty");
        return false;
    }
    if (len < PREFIX_LEN || memcmp(s, PREFIX, PREFIX_LEN) != 0) {
        snprintf(why, wn, "it does not start with " PREFIX);
        return false;
    }
    const char *b = s + PREFIX_LEN;
    size_t n = len - PREFIX_LEN, pad = 0;
    if (n == 0) {
        snprintf(why, wn, "nothing follows " PREFIX);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        if (c == '=' && i + 2 >= n) {
            pad++;
            continue;
        }
        if (c == '=' || pad || !b64_char(c)) {
            const char *what = c == ' ' || c == '\t'  ? "a space or tab"
                               : c == '-' || c == '_' ? "base64url, not base64"
                               : c == '=' || pad      ? "'=' before the end"
                                                      : "not A-Z a-z 0-9 + /";
            snprintf(why, wn, "character %zu after " PREFIX " is not standard base64 (%s)", i + 1, what);
            return false;
        }
    }
    if (n % 4) {
        snprintf(why, wn, "its base64 is %zu characters, not a multiple of 4 ('=' padding missing?)", n);
        return false;
    }
    size_t bytes = n / 4 * 3 - pad;
    if (bytes < WR_WHSIG_KEY_MIN || bytes > WR_WHSIG_KEY_MAX) {
        snprintf(why, wn, "it decodes to %zu bytes, not %d to %d", bytes, WR_WHSIG_KEY_MIN, WR_WHSIG_KEY_MAX);
        return false;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes: n / 4 * 3 of them */
    unsigned char buf[WR_WHSIG_KEY_MAX + 3];
    unsigned char again[B64_MAX + 1];
    bool ok = EVP_DecodeBlock(buf, (const unsigned char *)b, (int)n) == (int)(n / 4 * 3);
    /* canonical: what it decodes to encodes back to it, so every receiver's
     * decoder reads the same key (no stray bits before the padding) */
    ok = ok && EVP_EncodeBlock(again, buf, (int)bytes) == (int)n && memcmp(again, b, n) == 0;
    if (ok) {
        memcpy(key->k, buf, bytes);
        key->n = bytes;
    } else {
        snprintf(why, wn, "its base64 is not canonical (bits set past the last byte)");
    }
    OPENSSL_cleanse(buf, sizeof buf);
    OPENSSL_cleanse(again, sizeof again);
    return ok;
}

bool wr_whsig_sign(const wr_whsig_key *key, const char *id, int64_t ts, const void *body, size_t len,
                   char out[WR_WHSIG_SIG_MAX])
{
    out[0] = '\0';
    if (!key || key->n == 0 || key->n > WR_WHSIG_KEY_MAX || !id || !*id || strchr(id, '.'))
        return false;
    char t[24];
    int tn = snprintf(t, sizeof t, "%lld", (long long)ts);
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mn = 0;
    OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                      OSSL_PARAM_construct_end()};
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = m ? EVP_MAC_CTX_new(m) : NULL;
    bool ok = c && tn > 0 && EVP_MAC_init(c, key->k, key->n, p) == 1 &&
              EVP_MAC_update(c, (const unsigned char *)id, strlen(id)) == 1 &&
              EVP_MAC_update(c, (const unsigned char *)".", 1) == 1 &&
              EVP_MAC_update(c, (const unsigned char *)t, (size_t)tn) == 1 &&
              EVP_MAC_update(c, (const unsigned char *)".", 1) == 1 &&
              (len == 0 || EVP_MAC_update(c, body, len) == 1) &&
              EVP_MAC_final(c, mac, &mn, sizeof mac) == 1 && mn == 32;
    EVP_MAC_CTX_free(c);
    EVP_MAC_free(m);
    if (ok) {
        memcpy(out, "v1,", 3);
        ok = EVP_EncodeBlock((unsigned char *)out + 3, mac, 32) == 44; /* NUL-terminated */
        if (!ok)
            out[0] = '\0';
    }
    OPENSSL_cleanse(mac, sizeof mac);
    return ok;
}

bool wr_whsig_new_id(char out[WR_WHSIG_ID_MAX])
{
    unsigned char r[16];
    out[0] = '\0';
    if (RAND_bytes(r, sizeof r) != 1)
        return false;
    memcpy(out, "msg_", 4);
    wr_b64url_encode(r, sizeof r, out + 4); /* 22 characters and a NUL */
    return true;
}

/* The error of a secret file: configured (ours false) or Writ's own. */
static writ_status file_error(writ_error *err, writ_status code, const char *path, bool ours,
                              const char *what)
{
    if (ours)
        return wr_error(err, code,
                        "approval_webhook secret %.120s (made by Writ): %s; delete the file to have a "
                        "new one made",
                        path, what);
    return wr_error(err, code, "approval_webhook_secret_file %.120s: %s", path, what);
}

/* Read the secrets, one a line, of the open file fd, into keys. */
static writ_status read_secret(int fd, const char *path, bool ours, wr_whsig_keys *keys, writ_error *err)
{
    struct stat st;
    char what[256];
    if (fstat(fd, &st) != 0) {
        snprintf(what, sizeof what, "cannot read it: %s", strerror(errno));
        return file_error(err, WRIT_EIO, path, ours, what);
    }
    if (!S_ISREG(st.st_mode))
        return file_error(err, WRIT_EINVAL, path, ours, "not a regular file");
    if (ours && (st.st_mode & 077)) {
        snprintf(what, sizeof what, "its mode %04o lets others than its owner read it (chmod 600 it)",
                 (unsigned)(st.st_mode & 07777));
        return file_error(err, WRIT_EINVAL, path, ours, what);
    }
    char buf[FILE_MAX + 1];
    size_t n = 0;
    while (n < sizeof buf) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            OPENSSL_cleanse(buf, n);
            snprintf(what, sizeof what, "cannot read it: %s", strerror(errno));
            return file_error(err, WRIT_EIO, path, ours, what);
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    writ_status rc = WRIT_OK;
    if (n > FILE_MAX) {
        snprintf(what, sizeof what, "larger than %d bytes: not a secret file", FILE_MAX);
        rc = file_error(err, WRIT_EINVAL, path, ours, what);
    } else {
        unsigned lineno = 0;
        for (size_t at = 0; at < n && rc == WRIT_OK;) {
            size_t end = at; /* the line, without its line end */
            while (end < n && buf[end] != '\n' && buf[end] != '\r')
                end++;
            lineno++;
            char why[128];
            if (end == at) {
                /* an empty line */
            } else if (keys->n == WR_WHSIG_KEYS_MAX) {
                snprintf(what, sizeof what, "line %u: more than %d secrets", lineno, WR_WHSIG_KEYS_MAX);
                rc = file_error(err, WRIT_EINVAL, path, ours, what);
            } else if (!wr_whsig_parse(buf + at, end - at, &keys->k[keys->n], why, sizeof why)) {
                snprintf(what, sizeof what,
                         "line %u: %s (each line must be " PREFIX " and the base64 of %d to %d random bytes)",
                         lineno, why, WR_WHSIG_KEY_MIN, WR_WHSIG_KEY_MAX);
                rc = file_error(err, WRIT_EINVAL, path, ours, what);
            } else {
                keys->n++;
            }
            at = end + 1;
            if (end < n && buf[end] == '\r' && at < n && buf[at] == '\n')
                at++; /* \r\n: one line end */
        }
        if (rc == WRIT_OK && keys->n == 0)
            rc = file_error(err, WRIT_EINVAL, path, ours,
                            "it holds no secret (a line of " PREFIX " and the base64 of random bytes)");
    }
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}

/* Make the secret at path: written to path.tmp (0600, never through a
 * link), synced, then linked into place, so a crash never leaves half a
 * secret and two servers starting at once agree on one.  *made: this call
 * put it there (false: another was there first). */
static writ_status make_secret(const char *path, bool *made, writ_error *err)
{
    unsigned char r[WR_WHSIG_KEY_NEW];
    char line[PREFIX_LEN + 4 * ((WR_WHSIG_KEY_NEW + 2) / 3) + 2];
    size_t pl = strlen(path);
    char *tmp = wr_malloc(pl + sizeof ".tmp");
    if (!tmp)
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp", sizeof ".tmp");
    writ_status rc = WRIT_OK;
    if (RAND_bytes(r, sizeof r) != 1) {
        rc = wr_error(err, WRIT_EIO, "approval_webhook: no randomness to make the secret %.120s", path);
        goto out;
    }
    memcpy(line, PREFIX, PREFIX_LEN);
    size_t n = PREFIX_LEN + (size_t)EVP_EncodeBlock((unsigned char *)line + PREFIX_LEN, r, sizeof r);
    line[n++] = '\n';
    unlink(tmp); /* a leftover of a crash (a link itself, never what it points to) */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write(fd, line, n) == (ssize_t)n && fsync(fd) == 0;
    int e = errno;
    if (fd >= 0 && close(fd) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        rc =
            wr_error(err, WRIT_EIO, "approval_webhook: cannot write the secret %.120s: %s", tmp, strerror(e));
        unlink(tmp);
        goto out;
    }
    *made = link(tmp, path) == 0;
    e = errno;
    unlink(tmp);
    if (!*made && e != EEXIST)
        rc = wr_error(err, WRIT_EIO, "approval_webhook: cannot create the secret %.120s: %s", path,
                      strerror(e));
out:
    OPENSSL_cleanse(r, sizeof r);
    OPENSSL_cleanse(line, sizeof line);
    wr_free(tmp);
    return rc;
}

writ_status wr_whsig_load(const char *file, const char *state_dir, wr_whsig_keys *keys, char **path, bool *made,
                          writ_error *err)
{
    memset(keys, 0, sizeof *keys);
    *path = NULL;
    *made = false;
    bool ours = !file || !*file;
    char *p;
    if (ours) {
        size_t n = strlen(state_dir);
        p = wr_malloc(n + sizeof "/" STATE_NAME);
        if (p) {
            memcpy(p, state_dir, n);
            memcpy(p + n, "/" STATE_NAME, sizeof "/" STATE_NAME);
        }
    } else {
        p = wr_strndup(file, strlen(file));
    }
    if (!p)
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    /* Writ's own file is never read through a symbolic link (one planted in
     * the state folder would choose the key); a configured one may be one
     * (a mounted secret often is) */
    int flags =
        O_RDONLY | O_CLOEXEC | O_NONBLOCK | (ours ? O_NOFOLLOW : 0); /* a FIFO: refused, not waited on */
    int fd = open(p, flags);
    writ_status rc = WRIT_OK;
    if (fd < 0 && ours && errno == ENOENT) {
        if ((rc = make_secret(p, made, err)) == WRIT_OK)
            fd = open(p, flags);
    }
    if (fd < 0 && rc == WRIT_OK) {
        char what[160];
        snprintf(what, sizeof what, "cannot open it: %s",
                 ours && errno == ELOOP ? "it is a symbolic link (Writ follows none here)" : strerror(errno));
        rc = file_error(err, WRIT_EIO, p, ours, what);
    }
    if (fd >= 0) {
        rc = read_secret(fd, p, ours, keys, err);
        close(fd);
    }
    if (rc) {
        wr_whsig_clear_all(keys);
        wr_free(p);
        *made = false;
        return rc;
    }
    *path = p;
    return WRIT_OK;
}
