/* tls.c - HTTPS and client certificates (mTLS) for `writ serve`.
 *
 * tls_cert + tls_key turn on HTTPS (libmicrohttpd over GnuTLS, TLS 1.2 and
 * 1.3).  tls_client_ca = TRUST_DOMAIN FILE (repeatable) makes the server
 * request a client certificate.  Requesting is all the TLS layer does: the
 * handshake succeeds without a certificate or with one from any CA (GnuTLS
 * only checks that the client holds the certificate's private key).  So
 * every request that uses the caller's certificate takes the chain the
 * client sent (gnutls_certificate_get_peers, DER) and verifies it with
 * Writ's own X.509-SVID verifier against the roots of the leaf's trust
 * domain: exactly one spiffe:// URI SAN, leaf constraints, chain, validity
 * now.  Its SPIFFE ID and SHA-256 thumbprint (x5t#S256) are the caller's
 * identity and the key of certificate-bound tokens (RFC 8705). */
#include "server/server_int.h"
#include "util/alloc.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#define TLS_MAX_FILE (1u << 20)
#define TLS_MAX_PEERS 9 /* one more than the verifier takes, so it names the limit */

static writ_status tls_fail(writ_error *err, writ_status st, const char *fmt, const char *a, const char *b)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = st;
        snprintf(err->msg, sizeof err->msg, fmt, a ? a : "", b ? b : "");
    }
    return st;
}

/* A whole file as a NUL-terminated string (1 MiB at most). */
static char *read_file(const char *key, const char *path, size_t *len, writ_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        char m[256];
        snprintf(m, sizeof m, "%s", strerror(errno));
        tls_fail(err, WRIT_EIO, "%s: cannot open %s", key, path);
        if (err) {
            size_t n = strlen(err->msg);
            snprintf(err->msg + n, sizeof err->msg - n, ": %s", m);
        }
        return NULL;
    }
    char *buf = wr_malloc(TLS_MAX_FILE + 1);
    size_t n = buf ? fread(buf, 1, TLS_MAX_FILE + 1, f) : 0;
    bool bad = !buf || ferror(f) || n > TLS_MAX_FILE;
    fclose(f);
    if (bad) {
        wr_free(buf);
        tls_fail(err, WRIT_EIO, "%s: cannot read %s (or larger than 1 MiB)", key, path);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Certificate and key parse, and belong together. */
static writ_status check_pair(const srv *s, writ_error *err)
{
    const srv_config *c = s->cfg;
    writ_status st = WRIT_OK;
    BIO *cb = BIO_new_mem_buf(s->tls_cert_pem, -1), *kb = BIO_new_mem_buf(s->tls_key_pem, -1);
    X509 *cert = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *key = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    if (!cert)
        st = tls_fail(err, WRIT_EINVAL, "tls_cert %s: no PEM certificate%s", c->tls_cert, NULL);
    else if (!key)
        st = tls_fail(err, WRIT_EINVAL, "tls_key %s: no unencrypted PEM private key%s", c->tls_key, NULL);
    else if (X509_check_private_key(cert, key) != 1)
        st = tls_fail(err, WRIT_EINVAL, "tls_key %s does not belong to the certificate in tls_cert %s",
                      c->tls_key, c->tls_cert);
    ERR_clear_error();
    X509_free(cert);
    EVP_PKEY_free(key);
    BIO_free(cb);
    BIO_free(kb);
    return st;
}

writ_status srv_tls_open(srv *s, writ_error *err)
{
    const srv_config *c = s->cfg;
    bool cert = *c->tls_cert, key = *c->tls_key;
    if (!cert && !key) {
        if (c->ntls_ca)
            return tls_fail(err, WRIT_EINVAL, "tls_client_ca needs HTTPS: set tls_cert and tls_key%s%s", NULL,
                            NULL);
        return WRIT_OK;
    }
    if (!cert || !key)
        return tls_fail(err, WRIT_EINVAL, "HTTPS needs both tls_cert and tls_key (only %s is set)%s",
                        cert ? "tls_cert" : "tls_key", NULL);
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        return tls_fail(err, WRIT_EINVAL, "this libmicrohttpd has no TLS support%s%s", NULL, NULL);
    size_t len;
    if (!(s->tls_cert_pem = read_file("tls_cert", c->tls_cert, &len, err)) ||
        !(s->tls_key_pem = read_file("tls_key", c->tls_key, &s->tls_key_len, err)))
        return WRIT_EIO;
    writ_status st = check_pair(s, err);
    if (st || !c->ntls_ca)
        return st;
    /* Client roots: one bundle by trust domain for our verifier, and all of
     * them concatenated for GnuTLS (which only asks for a certificate). */
    sbuf all;
    sb_init(&all);
    if (!(s->client_roots = writ_bundle_new()))
        return tls_fail(err, WRIT_ENOMEM, "out of memory%s%s", NULL, NULL);
    for (size_t i = 0; i < c->ntls_ca && !st; i++) {
        const srv_trust *t = &c->tls_ca[i];
        char *pem = read_file("tls_client_ca", t->path, &len, err);
        if (!pem) {
            st = WRIT_EIO;
            break;
        }
        st = writ_bundle_add_x509_pem(s->client_roots, t->name, strlen(t->name), pem, len, err);
        if (st) {
            char m[sizeof err->msg];
            snprintf(m, sizeof m, "%s", err->msg);
            snprintf(err->msg, sizeof err->msg, "tls_client_ca %.40s %.80s: %.100s", t->name, t->path, m);
        } else {
            sb_putn(&all, pem, len);
            sb_putc(&all, '\n');
        }
        wr_free(pem);
    }
    if (!st && !sb_ok(&all))
        st = tls_fail(err, WRIT_ENOMEM, "out of memory%s%s", NULL, NULL);
    if (!st)
        s->tls_trust_pem = sb_take(&all, &len);
    sb_free(&all);
    return st;
}

void srv_tls_close(srv *s)
{
    if (s->tls_key_pem) {
        memset(s->tls_key_pem, 0, s->tls_key_len);
        wr_free(s->tls_key_pem);
    }
    wr_free(s->tls_cert_pem);
    wr_free(s->tls_trust_pem);
    writ_bundle_free(s->client_roots);
    s->tls_key_pem = s->tls_cert_pem = s->tls_trust_pem = NULL;
    s->client_roots = NULL;
}

int srv_peer_identity(srv *s, struct MHD_Connection *c, writ_identity **id, writ_reason *why, writ_error *err)
{
    *id = NULL;
    if (!s->client_roots)
        return 0;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session)
        return 0;
    gnutls_session_t ses = (gnutls_session_t)ci->tls_session;
    unsigned n = 0;
    const gnutls_datum_t *peers = gnutls_certificate_get_peers(ses, &n);
    if (!peers || n == 0)
        return 0;
    if (gnutls_certificate_type_get2(ses, GNUTLS_CTYPE_PEERS) != GNUTLS_CRT_X509) {
        if (why)
            *why = WRIT_R_CERT;
        if (err) {
            memset(err, 0, sizeof *err);
            err->code = WRIT_EINVAL;
            snprintf(err->msg, sizeof err->msg, "%s: the client credential is not an X.509 certificate",
                     writ_reason_name(WRIT_R_CERT));
        }
        return -1;
    }
    const unsigned char *certs[TLS_MAX_PEERS];
    size_t lens[TLS_MAX_PEERS];
    size_t k = n < TLS_MAX_PEERS ? n : TLS_MAX_PEERS;
    for (size_t i = 0; i < k; i++) {
        certs[i] = peers[i].data;
        lens[i] = peers[i].size;
    }
    writ_verify_opts vo;
    memset(&vo, 0, sizeof vo);
    if (writ_identity_verify_x509_der(s->client_roots, &vo, certs, lens, k, id, why, err) != WRIT_OK) {
        atomic_fetch_add_explicit(&s->met.cert_refused, 1, memory_order_relaxed);
        return -1;
    }
    atomic_fetch_add_explicit(&s->met.cert_verified, 1, memory_order_relaxed);
    return 1;
}

/* "<reason>: client certificate: <detail>" */
static void cert_refusal(writ_reason r, const writ_error *in, writ_error *out)
{
    const char *name = writ_reason_name(r);
    size_t n = strlen(name);
    const char *d = !strncmp(in->msg, name, n) && in->msg[n] == ':' ? in->msg + n + 2 : in->msg;
    char m[sizeof out->msg];
    snprintf(m, sizeof m, "%s: client certificate: %.200s", name, d);
    memset(out, 0, sizeof *out);
    out->code = WRIT_EINVAL;
    snprintf(out->msg, sizeof out->msg, "%s", m);
}

writ_status srv_verify_task_token(srv *s, struct MHD_Connection *c, const char *tok, size_t len,
                                  writ_task_token **out, writ_reason *why, writ_error *err)
{
    writ_token_check chk = {
        .audience = s->cfg->token_audience, .leeway = s->cfg->token_leeway, .revocations = s->revocations};
    /* Unbound tokens (the common case) cost no certificate check; the
     * second verification of a bound one hits the verifier's cache. */
    writ_status st = writ_token_verify(s->verifier, &chk, tok, len, out, why, err);
    if (st != WRIT_OK && *why == WRIT_R_REVOKED &&
        srv_state_stale(s, err ? err->msg : NULL, err ? sizeof err->msg : 0)) {
        atomic_fetch_add_explicit(&s->state_stale_refused, 1, memory_order_relaxed);
        return st; /* fail closed, with the reason (state.c) */
    }
    if (st == WRIT_OK || *why != WRIT_R_CNF_MISSING)
        return st;
    writ_identity *peer = NULL;
    writ_reason pw = WRIT_R_OK;
    writ_error perr;
    memset(&perr, 0, sizeof perr);
    int p = srv_peer_identity(s, c, &peer, &pw, &perr);
    if (p == 0)
        return st; /* cnf_missing */
    if (p < 0) {
        *why = pw;
        cert_refusal(pw, &perr, err);
        return WRIT_EINVAL;
    }
    chk.cert_thumbprint = writ_identity_cert_thumbprint(peer);
    st = writ_token_verify(s->verifier, &chk, tok, len, out, why, err);
    writ_identity_free(peer);
    return st;
}

writ_status srv_verify_any_binding(srv *s, const char *tok, size_t len, writ_task_token **out,
                                   writ_reason *why, writ_error *err)
{
    /* The signature is checked in full; the binding does not matter for
     * revoking. */
    writ_token_check chk = {
        .audience = s->cfg->token_audience, .leeway = s->cfg->token_leeway, .any_binding = true};
    return writ_token_verify(s->verifier, &chk, tok, len, out, why, err);
}
