/* cmd_approvals.c - `writ approvals`: the approvals API of a running server.
 *
 *   writ approvals list    [--status S] [--limit N] [--cursor C]
 *                                                       GET  /approvals[?status=S&limit=N&cursor=C]
 *   writ approvals show    ID                           GET  /approvals/ID
 *   writ approvals approve ID [--reason TEXT]           POST /approvals/ID
 *   writ approvals deny    ID [--reason TEXT]
 *   common: --server URL (default $WRIT_SERVER, else http://127.0.0.1:8180)
 *           --token-file F | --token T (default $WRIT_TOKEN): an approver's
 *           OIDC token or the admin secret, sent as Authorization: Bearer.
 *
 * A list is one page (the server's default is 100): its "next", when there
 * is one, goes to --cursor for the page after.  Prints the server's JSON
 * answer on stdout (controls, bidi and invisible characters as \u escapes:
 * wr_json_visible); exit 0 on a 2xx answer, 1 on any other answer (the
 * error on stderr), 2 for bad usage or no answer. */
#include "approval/approval.h"
#include "cli/cli.h"
#include "util/alloc.h"
#include "util/sbuf.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The usage, after what was wrong (why: NULL for none). */
static int usage_why(const char *why, const char *arg)
{
    if (why) {
        fputs("writ approvals: ", stderr);
        fprintf(stderr, why, arg);
        fputc('\n', stderr);
    }
    fprintf(stderr,
            "usage: writ approvals list [--status pending|approved|denied|consumed|expired] [--limit N]\n"
            "                           [--cursor C]  (a page: C is the \"next\" of the page before)\n"
            "       writ approvals show ID\n"
            "       writ approvals approve|deny ID [--reason TEXT]\n"
            "  --server URL         the running writ serve (default $WRIT_SERVER or http://127.0.0.1:8180)\n"
            "  --token-file F       an approver's OIDC token or the admin secret (first line of F)\n"
            "  --token T            the same, given directly (default $WRIT_TOKEN)\n");
    return 2;
}

static int usage(void) { return usage_why(NULL, NULL); }

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    sb_putn(ud, p, size * n);
    return sb_ok(ud) ? size * n : 0;
}

static bool id_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n >= 40)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_' || s[i] == '-'))
            return false;
    return true;
}

/* "?name=value" (*sep: '?' for the first, then '&') when value is set:
 * letters, digits, '-' and '_' as they are (names, numbers and cursors are
 * made of them), anything else percent-encoded for the server to refuse. */
static void query_arg(sbuf *url, char *sep, const char *name, const char *value)
{
    if (!value)
        return;
    sb_putc(url, *sep);
    *sep = '&';
    sb_puts(url, name);
    sb_putc(url, '=');
    for (const char *p = value; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                     *p == '-' || *p == '_';
        sb_printf(url, plain ? "%c" : "%%%02X", (unsigned char)*p);
    }
}

int cmd_approvals(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    const char *sub = argv[1], *server = getenv("WRIT_SERVER"), *token = getenv("WRIT_TOKEN"),
               *token_file = NULL, *status = NULL, *reason = NULL, *id = NULL, *limit = NULL, *cursor = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = !strcmp(a, "--server")       ? &server
                            : !strcmp(a, "--token")      ? &token
                            : !strcmp(a, "--token-file") ? &token_file
                            : !strcmp(a, "--status")     ? &status
                            : !strcmp(a, "--reason")     ? &reason
                            : !strcmp(a, "--limit")      ? &limit
                            : !strcmp(a, "--cursor")     ? &cursor
                                                         : NULL;
        if (slot) {
            if (i + 1 >= argc)
                return usage_why("%s needs a value", a);
            *slot = argv[++i];
        } else if (a[0] != '-' && !id) {
            id = a;
        } else {
            return usage_why(a[0] == '-' ? "unknown option '%s'" : "unexpected argument '%s'", a);
        }
    }
    bool list = !strcmp(sub, "list"), show = !strcmp(sub, "show"), approve = !strcmp(sub, "approve"),
         deny = !strcmp(sub, "deny");
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h"))
        return usage();
    if (!list && !show && !approve && !deny)
        return usage_why("unknown command '%s' (list, show, approve or deny)", sub);
    if (list && id)
        return usage_why("list takes no approval id (got '%s')", id);
    if (!list && !id)
        return usage_why("%s needs an approval id", sub);
    if ((status || limit || cursor) && !list)
        return usage_why("--status, --limit and --cursor go with list, not %s", sub);
    if (reason && !approve && !deny)
        return usage_why("--reason goes with approve or deny, not %s", sub);
    if (id && !id_ok(id)) {
        fprintf(stderr, "writ approvals: '%s' is not an approval id\n", id);
        return 2;
    }
    if (!server || !*server)
        server = "http://127.0.0.1:8180";
    char *tok = NULL;
    if (token_file) {
        size_t len = 0;
        tok = cli_read_file(token_file, 1 << 16, &len);
        if (!tok) {
            fprintf(stderr, "writ approvals: cannot read %s: %s\n", token_file, strerror(errno));
            return 2;
        }
        tok[strcspn(tok, "\r\n")] = '\0';
    }
    const char *cred = tok ? tok : token;
    sbuf url, body, auth, out, shown;
    sb_init(&shown);
    sb_init(&url);
    sb_init(&body);
    sb_init(&auth);
    sb_init(&out);
    size_t sl = strlen(server);
    while (sl && server[sl - 1] == '/')
        sl--;
    sb_putn(&url, server, sl);
    sb_puts(&url, "/approvals");
    if (id) {
        sb_putc(&url, '/');
        sb_puts(&url, id);
    }
    char sep = '?';
    query_arg(&url, &sep, "status", status);
    query_arg(&url, &sep, "limit", limit);
    query_arg(&url, &sep, "cursor", cursor);
    if (approve || deny) {
        sb_puts(&body, "{\"decision\":");
        sb_puts(&body, approve ? "\"approve\"" : "\"deny\"");
        if (reason) {
            sb_puts(&body, ",\"reason\":");
            sb_json_str(&body, reason);
        }
        sb_putc(&body, '}');
    }
    if (cred && *cred) {
        sb_puts(&auth, "Authorization: Bearer ");
        sb_puts(&auth, cred);
    }
    int rc = 2;
    CURL *cu = NULL;
    struct curl_slist *hdrs = NULL;
    if (!sb_ok(&url) || !sb_ok(&body) || !sb_ok(&auth)) {
        fprintf(stderr, "writ approvals: out of memory\n");
        goto out;
    }
    sb_putc(&url, '\0');
    curl_global_init(CURL_GLOBAL_DEFAULT);
    cu = curl_easy_init();
    if (!cu)
        goto out;
    if (auth.len) {
        sb_putc(&auth, '\0');
        hdrs = curl_slist_append(hdrs, auth.p);
    }
    if (body.len) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        curl_easy_setopt(cu, CURLOPT_POST, 1L);
        curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body.len);
        const char *bp = body.p;
        curl_easy_setopt(cu, CURLOPT_POSTFIELDS, bp);
    }
    curl_easy_setopt(cu, CURLOPT_URL, url.p);
    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(cu, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(cu, CURLOPT_WRITEDATA, &out);
    CURLcode cr = curl_easy_perform(cu);
    if (cr != CURLE_OK) {
        fprintf(stderr, "writ approvals: %s: %s\n", url.p, curl_easy_strerror(cr));
        goto out;
    }
    long code = 0;
    curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &code);
    /* what the server sent, with every control, bidi or invisible
     * character escaped (an older server's answer too): an agent's text
     * must not drive the terminal (U+009B is a CSI) nor reorder a line */
    wr_json_visible(out.p ? out.p : "", out.len, &shown);
    if (!sb_ok(&shown)) {
        fprintf(stderr, "writ approvals: out of memory\n");
    } else if (code >= 200 && code < 300) {
        fwrite(shown.p ? shown.p : "", 1, shown.len, stdout);
        fputc('\n', stdout);
        rc = 0;
    } else {
        fprintf(stderr, "writ approvals: HTTP %ld: %.*s\n", code, (int)shown.len, shown.p ? shown.p : "");
        rc = 1;
    }
out:
    curl_slist_free_all(hdrs);
    if (cu)
        curl_easy_cleanup(cu);
    if (tok) {
        memset(tok, 0, strlen(tok));
        free(tok);
    }
    if (auth.p)
        memset(auth.p, 0, auth.len);
    sb_free(&url);
    sb_free(&body);
    sb_free(&auth);
    sb_free(&out);
    sb_free(&shown);
    return rc;
}
