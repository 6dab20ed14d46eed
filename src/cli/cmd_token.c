/* cmd_token.c - `writ token mint|exchange|delegate|inspect|verify`.
 *
 * Every refusal prints "writ: refused: <reason>: <detail>" on stderr and
 * exits 1; usage errors exit 2.  A TOKEN argument may be "-" (stdin) or
 * "@FILE". */
#include "cli/cli.h"
#include "jose/jose.h"
#include "util/alloc.h"
#include "writ/token.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *cli_tok_read(const char *path, size_t max, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = wr_malloc(cap + 1);
    while (buf) {
        if (n == cap) {
            if (cap >= max) {
                wr_free(buf);
                buf = NULL;
                errno = EFBIG;
                break;
            }
            cap *= 2;
            char *nb = wr_realloc(buf, cap + 1);
            if (!nb) {
                wr_free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    if (buf && n > max) {
        wr_free(buf);
        buf = NULL;
        errno = EFBIG;
    }
    if (f != stdin)
        fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

#define MAXN 64

typedef struct tok_opts {
    char *keys[MAXN];
    size_t n_keys;
    const char *issuer, *audience, *subject, *cert, *purpose, *sensitivity, *txn, *token, *target, *presenter,
        *presenter_cert, *jwks, *revdb, *id_audience, *x509, *target_cert;
    const char *actions[MAXN], *resources[MAXN], *destinations[MAXN];
    size_t n_actions, n_resources, n_destinations;
    const char *bundles[MAXN], *oidc[MAXN], *roots[MAXN];
    size_t n_bundles, n_oidc, n_roots;
    long long ttl, now, leeway;
} tok_opts;

/* What tok_parse found wrong, printed above the usage ("" = nothing said). */
static char parse_why[240];

static int tok_usage(void)
{
    if (parse_why[0])
        fprintf(stderr, "writ token: %s\n", parse_why);
    fprintf(stderr,
            "usage: writ token <command> [options]\n"
            "  mint      --key F... --issuer I --audience A --subject ID [--cert-thumbprint X] SCOPE [--ttl S] [--txn T]\n"
            "  exchange  --key F... --issuer I --audience A [--bundle TD=F] [--x509-roots TD=F] [--oidc ISS=F]\n"
            "            [--identity-audience A] (--subject-token TOKEN | --x509-chain F) SCOPE [--ttl S] [--txn T]\n"
            "  delegate  --key F... --issuer I --audience A --token TOKEN --target ID [--target-cert-thumbprint X]\n"
            "            [--presenter ID [--presenter-cert-thumbprint X]] [SCOPE] [--ttl S] [--revocations DB]\n"
            "  verify    (--jwks F | --key F...) --issuer I --audience A [--cert-thumbprint X] [--revocations DB] TOKEN\n"
            "  inspect   TOKEN                       decode without verifying\n"
            "SCOPE: --purpose P --action A... [--resource R...] [--sensitivity public|internal|confidential|restricted]\n"
            "       [--destination D...]      common: [--now UNIX] [--leeway S]; TOKEN may be '-' or '@FILE'\n");
    return 2;
}

static bool tok_parse(int argc, char **argv, tok_opts *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDS(name)                                                                                              \
    do {                                                                                                         \
        snprintf(parse_why, sizeof parse_why, "%s needs a value", name);                                         \
        return false;                                                                                            \
    } while (0)
#define STR(name, field)                                                                                         \
    if (!strcmp(a, name)) {                                                                                      \
        if (!v)                                                                                                  \
            NEEDS(name);                                                                                         \
        o->field = v;                                                                                            \
        i++;                                                                                                     \
        continue;                                                                                                \
    }
#define LIST(name, arr, n)                                                                                       \
    if (!strcmp(a, name)) {                                                                                      \
        if (!v)                                                                                                  \
            NEEDS(name);                                                                                         \
        if (o->n >= MAXN) {                                                                                      \
            snprintf(parse_why, sizeof parse_why, "more than %d %s", MAXN, name);                                \
            return false;                                                                                        \
        }                                                                                                        \
        o->arr[o->n++] = (char *)v;                                                                              \
        i++;                                                                                                     \
        continue;                                                                                                \
    }
#define NUM(name, field)                                                                                         \
    if (!strcmp(a, name)) {                                                                                      \
        char *end;                                                                                               \
        if (!v)                                                                                                  \
            NEEDS(name);                                                                                         \
        errno = 0;                                                                                               \
        o->field = strtoll(v, &end, 10);                                                                         \
        if (errno || *end || !*v || o->field < 0) {                                                              \
            snprintf(parse_why, sizeof parse_why, "%s '%.60s' is not a whole number of seconds", name, v);       \
            return false;                                                                                        \
        }                                                                                                        \
        i++;                                                                                                     \
        continue;                                                                                                \
    }
        LIST("--key", keys, n_keys)
        STR("--issuer", issuer)
        STR("--audience", audience)
        STR("--subject", subject)
        STR("--cert-thumbprint", cert)
        STR("--purpose", purpose)
        STR("--sensitivity", sensitivity)
        STR("--txn", txn)
        STR("--token", token)
        STR("--subject-token", token)
        STR("--target", target)
        STR("--target-cert-thumbprint", target_cert)
        STR("--presenter", presenter)
        STR("--presenter-cert-thumbprint", presenter_cert)
        STR("--jwks", jwks)
        STR("--revocations", revdb)
        STR("--identity-audience", id_audience)
        STR("--x509-chain", x509)
        LIST("--action", actions, n_actions)
        LIST("--resource", resources, n_resources)
        LIST("--destination", destinations, n_destinations)
        LIST("--bundle", bundles, n_bundles)
        LIST("--oidc", oidc, n_oidc)
        LIST("--x509-roots", roots, n_roots)
        NUM("--ttl", ttl)
        NUM("--now", now)
        NUM("--leeway", leeway)
#undef STR
#undef LIST
#undef NUM
#undef NEEDS
        if (a[0] == '-' && a[1] == '-') {
            snprintf(parse_why, sizeof parse_why, "unknown option %.60s", a);
            return false;
        }
        if (o->token) {
            snprintf(parse_why, sizeof parse_why, "one TOKEN only ('%.40s' is a second)", a);
            return false;
        }
        o->token = a;
    }
    if (o->ttl > 86400 || o->leeway > 3600) {
        snprintf(parse_why, sizeof parse_why, o->ttl > 86400 ? "--ttl is at most 86400 s" : "--leeway is at most 3600 s");
        return false;
    }
    /* a certificate thumbprint is base64url SHA-256 (RFC 8705): 43 characters */
    const char *const thumbs[] = {o->cert, o->target_cert, o->presenter_cert};
    for (int k = 0; k < 3; k++) {
        const char *t = thumbs[k];
        if (t && (strlen(t) != 43 || strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != 43)) {
            snprintf(parse_why, sizeof parse_why,
                     "a certificate thumbprint is 43 base64url characters (SHA-256, RFC 8705), not '%.50s'", t);
            return false;
        }
    }
    return true;
}

/* The token text: argument, "-" for stdin, "@FILE"; trailing whitespace cut. */
static char *tok_text(const char *arg, size_t *len)
{
    char *t;
    if (!arg)
        return NULL;
    if (!strcmp(arg, "-") || arg[0] == '@') {
        t = cli_tok_read(arg[0] == '@' ? arg + 1 : arg, 1 << 20, len);
        if (!t) {
            fprintf(stderr, "writ: cannot read token from %s: %s\n", arg, strerror(errno));
            return NULL;
        }
    } else {
        *len = strlen(arg);
        t = wr_strndup(arg, *len);
    }
    while (t && *len && (t[*len - 1] == '\n' || t[*len - 1] == '\r' || t[*len - 1] == ' '))
        t[--*len] = '\0';
    return t;
}

static int refused(writ_reason why, const writ_error *err)
{
    (void)why;
    fprintf(stderr, "writ: refused: %s\n", err->msg);
    return 1;
}

static void scope_of(const tok_opts *o, writ_task_scope *s)
{
    s->purpose = o->purpose;
    s->actions = o->n_actions ? o->actions : NULL;
    s->n_actions = o->n_actions;
    s->resources = o->n_resources ? o->resources : NULL;
    s->n_resources = o->n_resources;
    s->sensitivity = o->sensitivity;
    s->destinations = o->n_destinations ? o->destinations : NULL;
    s->n_destinations = o->n_destinations;
}

static bool need(const char *v, const char *name)
{
    if (!v)
        fprintf(stderr, "writ: %s is required\n", name);
    return v != NULL;
}

static int emit(char *tok, size_t len)
{
    fwrite(tok, 1, len, stdout);
    fputc('\n', stdout);
    writ_free_string(tok);
    return 0;
}

/* Split "NAME=FILE" and read FILE. */
static char *named_file(const char *arg, const char **name, size_t *name_len, size_t *len)
{
    const char *eq = strrchr(arg, '=');
    if (!eq || eq == arg) {
        fprintf(stderr, "writ: expected NAME=FILE, got '%s'\n", arg);
        return NULL;
    }
    *name = arg;
    *name_len = (size_t)(eq - arg);
    char *t = cli_tok_read(eq + 1, 1 << 20, len);
    if (!t)
        fprintf(stderr, "writ: cannot read %s: %s\n", eq + 1, strerror(errno));
    return t;
}

static writ_bundle *load_bundle(const tok_opts *o)
{
    writ_bundle *b = writ_bundle_new();
    writ_error err;
    for (size_t k = 0; b && k < 3; k++) {
        const char *const *list = k == 0 ? o->bundles : k == 1 ? o->roots : o->oidc;
        size_t n = k == 0 ? o->n_bundles : k == 1 ? o->n_roots : o->n_oidc;
        for (size_t i = 0; i < n; i++) {
            const char *name;
            size_t nl, len;
            char *text = named_file(list[i], &name, &nl, &len);
            writ_status st = WRIT_EIO;
            if (text)
                st = k == 0 ? writ_bundle_add_spiffe(b, name, nl, text, len, &err)
                   : k == 1 ? writ_bundle_add_x509_pem(b, name, nl, text, len, &err)
                            : writ_bundle_add_oidc(b, name, nl, text, len, &err);
            wr_free(text);
            if (st != WRIT_OK) {
                if (text)
                    fprintf(stderr, "writ: %s: %s\n", list[i], err.msg);
                writ_bundle_free(b);
                return NULL;
            }
        }
    }
    return b;
}

static int do_mint_for(const tok_opts *o, writ_keyring *kr, const writ_identity *id)
{
    writ_issuer_config cfg = {.issuer = o->issuer, .audience = o->audience};
    writ_task_scope s;
    scope_of(o, &s);
    writ_mint_request rq = {.scope = &s, .txn = o->txn, .ttl = (uint32_t)o->ttl, .now = o->now};
    char *tok;
    size_t len;
    writ_reason why;
    writ_error err;
    if (writ_token_mint(kr, &cfg, id, &rq, &tok, &len, &why, &err) != WRIT_OK)
        return refused(why, &err);
    return emit(tok, len);
}

static int tok_mint(const tok_opts *o, writ_keyring *kr)
{
    if (!need(o->issuer, "--issuer") || !need(o->audience, "--audience") || !need(o->subject, "--subject"))
        return 2;
    writ_identity *id;
    writ_error err;
    if (writ_identity_new(o->cert ? WRIT_ID_X509_SVID : WRIT_ID_JWT_SVID, o->subject, NULL, 0, o->cert, &id, &err) !=
        WRIT_OK) {
        fprintf(stderr, "writ: %s\n", err.msg);
        return 1;
    }
    int rc = do_mint_for(o, kr, id);
    writ_identity_free(id);
    return rc;
}

static int tok_exchange(const tok_opts *o, writ_keyring *kr)
{
    if (!need(o->issuer, "--issuer") || !need(o->audience, "--audience"))
        return 2;
    if (!o->token == !o->x509) {
        fprintf(stderr, "writ: give exactly one of --subject-token and --x509-chain\n");
        return 2;
    }
    writ_bundle *b = load_bundle(o);
    if (!b)
        return 1;
    writ_verify_opts vo = {.audience = o->id_audience ? o->id_audience : "writ", .now = o->now,
                           .leeway = (uint32_t)o->leeway};
    writ_identity *id = NULL;
    writ_reason why;
    writ_error err;
    writ_status st;
    size_t len;
    char *text = o->token ? tok_text(o->token, &len) : cli_tok_read(o->x509, 65536, &len);
    if (!text) {
        writ_bundle_free(b);
        return 1;
    }
    st = o->token ? writ_identity_verify_jwt(b, &vo, text, len, &id, &why, &err)
                  : writ_identity_verify_x509(b, &vo, text, len, &id, &why, &err);
    wr_free(text);
    writ_bundle_free(b);
    if (st != WRIT_OK) {
        fprintf(stderr, "writ: refused: %s (identity token)\n", err.msg);
        return 1;
    }
    int rc = do_mint_for(o, kr, id);
    writ_identity_free(id);
    return rc;
}

static writ_revocations *open_rev(const tok_opts *o, bool *fail)
{
    writ_revocations *r = NULL;
    writ_error err;
    *fail = false;
    if (o->revdb && writ_revocations_open(o->revdb, &r, &err) != WRIT_OK) {
        fprintf(stderr, "writ: %s\n", err.msg);
        *fail = true;
    }
    return r;
}

static int tok_delegate(const tok_opts *o, writ_keyring *kr)
{
    if (!need(o->issuer, "--issuer") || !need(o->audience, "--audience") || !need(o->token, "--token") ||
        !need(o->target, "--target"))
        return 2;
    writ_issuer_config cfg = {.issuer = o->issuer, .audience = o->audience};
    writ_token_verifier *v = NULL;
    writ_identity *presenter = NULL;
    writ_error err;
    writ_reason why;
    bool fail;
    int rc = 1;
    writ_revocations *rev = open_rev(o, &fail);
    size_t plen;
    char *parent = tok_text(o->token, &plen);
    if (fail || !parent)
        goto done;
    if (writ_token_verifier_from_keyring(kr, o->issuer, 0, &v, &err) != WRIT_OK ||
        (o->presenter && writ_identity_new(o->presenter_cert ? WRIT_ID_X509_SVID : WRIT_ID_JWT_SVID, o->presenter,
                                           NULL, 0, o->presenter_cert, &presenter, &err) != WRIT_OK)) {
        fprintf(stderr, "writ: %s\n", err.msg);
        goto done;
    }
    writ_task_scope s;
    scope_of(o, &s);
    bool narrowing = o->purpose || o->n_actions || o->n_resources || o->n_destinations || o->sensitivity;
    writ_delegate_request rq = {.target = o->target, .target_cert_thumbprint = o->target_cert,
                                .scope = narrowing ? &s : NULL, .ttl = (uint32_t)o->ttl, .now = o->now};
    char *tok;
    size_t len;
    if (writ_token_delegate(kr, &cfg, v, rev, parent, plen, presenter, &rq, &tok, &len, &why, &err) != WRIT_OK)
        rc = refused(why, &err);
    else
        rc = emit(tok, len);
done:
    wr_free(parent);
    writ_identity_free(presenter);
    writ_token_verifier_free(v);
    writ_revocations_close(rev);
    return rc;
}

static int tok_verify(const tok_opts *o)
{
    if (!need(o->issuer, "--issuer") || !need(o->audience, "--audience") || !need(o->token, "TOKEN"))
        return 2;
    if (!o->jwks == !o->n_keys) {
        fprintf(stderr, "writ: give --jwks or --key\n");
        return 2;
    }
    writ_token_verifier *v = NULL;
    writ_keyring *kr = NULL;
    writ_error err;
    writ_reason why;
    bool fail;
    int rc = 1;
    writ_revocations *rev = open_rev(o, &fail);
    size_t len;
    char *tok = tok_text(o->token, &len);
    if (fail || !tok)
        goto done;
    if (o->jwks) {
        size_t jl;
        char *j = cli_tok_read(o->jwks, 1 << 20, &jl);
        if (!j) {
            fprintf(stderr, "writ: cannot read %s: %s\n", o->jwks, strerror(errno));
            goto done;
        }
        writ_status st = writ_token_verifier_from_jwks(j, jl, o->issuer, 0, &v, &err);
        wr_free(j);
        if (st != WRIT_OK) {
            fprintf(stderr, "writ: %s: %s\n", o->jwks, err.msg);
            goto done;
        }
    } else {
        kr = writ_keyring_new();
        if (!kr || cli_tok_load_keys(kr, (char **)o->keys, o->n_keys) != WRIT_OK ||
            writ_token_verifier_from_keyring(kr, o->issuer, 0, &v, &err) != WRIT_OK)
            goto done;
    }
    writ_token_check chk = {.audience = o->audience, .now = o->now, .leeway = (uint32_t)o->leeway,
                            .cert_thumbprint = o->cert, .revocations = rev};
    writ_task_token *t;
    if (writ_token_verify(v, &chk, tok, len, &t, &why, &err) != WRIT_OK) {
        rc = refused(why, &err);
        goto done;
    }
    char *cj = writ_task_token_claims_json(t);
    printf("%s\n", cj ? cj : "{}");
    writ_free_string(cj);
    fprintf(stderr, "writ: valid: holder %s, task %s, depth %u, expires %lld\n", writ_task_token_holder(t),
            writ_task_token_txn(t), writ_task_token_depth(t), (long long)writ_task_token_expiry(t));
    writ_task_token_free(t);
    rc = 0;
done:
    wr_free(tok);
    writ_token_verifier_free(v);
    writ_keyring_free(kr);
    writ_revocations_close(rev);
    return rc;
}

static json_t *decode_part(const char *s, size_t n, const char *what)
{
    unsigned char *raw;
    size_t rl;
    json_t *j = NULL;
    writ_reason why;
    writ_error err;
    if (!wr_b64url_decode(s, n, &raw, &rl)) {
        fprintf(stderr, "writ: %s is not canonical base64url\n", what);
        return NULL;
    }
    if (wr_json_object((const char *)raw, rl, &j, &why, &err, what) != WRIT_OK)
        fprintf(stderr, "writ: %s\n", err.msg);
    wr_free(raw);
    return j;
}

static int tok_inspect(const tok_opts *o)
{
    size_t len;
    char *tok = tok_text(o->token, &len);
    if (!tok)
        return tok_usage();
    int rc = 1;
    char *d1 = memchr(tok, '.', len), *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
    if (!d2) {
        fprintf(stderr, "writ: not a compact JWS\n");
        wr_free(tok);
        return 1;
    }
    json_t *h = decode_part(tok, (size_t)(d1 - tok), "header");
    json_t *p = h ? decode_part(d1 + 1, (size_t)(d2 - d1 - 1), "payload") : NULL;
    if (h && p) {
        json_t *doc = json_pack("{s:O,s:O,s:b}", "header", h, "payload", p, "verified", 0);
        char *s = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
        if (s) {
            printf("%s\n", s);
            rc = 0;
        }
        wr_json_free(s);
        json_decref(doc);
        fprintf(stderr, "writ: NOT verified; use `writ token verify`\n");
    }
    json_decref(h);
    json_decref(p);
    wr_free(tok);
    return rc;
}

int cmd_token(int argc, char **argv)
{
    tok_opts o;
    if (argc < 2 || !tok_parse(argc, argv, &o))
        return tok_usage();
    const char *sub = argv[1];
    if (!strcmp(sub, "inspect"))
        return tok_inspect(&o);
    if (!strcmp(sub, "verify"))
        return tok_verify(&o);
    bool known = !strcmp(sub, "mint") || !strcmp(sub, "exchange") || !strcmp(sub, "delegate");
    if (!known)
        return tok_usage();
    writ_keyring *kr = writ_keyring_new();
    if (!kr)
        return 1;
    int rc = 1;
    if (cli_tok_load_keys(kr, o.keys, o.n_keys) == WRIT_OK)
        rc = !strcmp(sub, "mint") ? tok_mint(&o, kr) : !strcmp(sub, "exchange") ? tok_exchange(&o, kr)
                                                                                  : tok_delegate(&o, kr);
    writ_keyring_free(kr);
    return rc;
}
