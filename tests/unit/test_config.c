/* test_config.c - `writ serve` settings: defaults, file formats, flags, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/config.h"

static void defaults(void **state)
{
    (void)state;
    srv_config c;
    srv_config_defaults(&c);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 8180);
    assert_true(c.audit);
    assert_string_equal(c.ns, "Writ");
    /* no policy set, entities or schema unless given: nothing compiled in */
    assert_string_equal(c.policies, "");
    assert_string_equal(c.entities, "");
    assert_string_equal(c.schema, "");
    assert_int_equal(c.nroutes, 0);
    assert_int_equal(c.state_timeout_ms, 2000);
    srv_config_free(&c);
}

/* A server needs policies: the defaults alone are refused, with the flags
 * to pass named; a policy file from a flag or a config file is enough (no
 * schema or entities needed). */
static void check_needs_policies(void **state)
{
    (void)state;
    srv_config c;
    writ_error err;
    srv_config_defaults(&c);
    assert_int_equal(srv_config_check(&c, &err), WRIT_EINVAL);
    assert_non_null(strstr(err.msg, "no policies"));
    assert_non_null(strstr(err.msg, "--policies FILE"));
    assert_non_null(strstr(err.msg, "--config FILE"));
    char *argv[] = {"serve", "--policies", "own.cedar", NULL};
    bool help;
    assert_int_equal(srv_config_args(&c, 3, argv, &help, &err), WRIT_OK);
    assert_int_equal(srv_config_check(&c, &err), WRIT_OK);
    assert_string_equal(c.schema, "");
    assert_string_equal(c.entities, "");
    char *clear[] = {"serve", "--policies=", NULL};
    assert_int_equal(srv_config_args(&c, 2, clear, &help, &err), WRIT_OK);
    assert_int_equal(srv_config_check(&c, &err), WRIT_EINVAL);
    const char *text = "policies = p.cedar\n";
    assert_int_equal(srv_config_load_text(&c, text, strlen(text), "/etc/writ", &err), WRIT_OK);
    assert_int_equal(srv_config_check(&c, &err), WRIT_OK);
    /* an actor token must never be good for start_task too */
    assert_string_equal(c.actor_audience, "writ-actor");
    char *same[] = {"serve", "--actor-audience", "writ", NULL};
    assert_int_equal(srv_config_args(&c, 3, same, &help, &err), WRIT_OK);
    assert_int_equal(srv_config_check(&c, &err), WRIT_EINVAL);
    assert_non_null(strstr(err.msg, "actor_audience must be set and differ from identity_audience"));
    char *back[] = {"serve", "--actor-audience", "writ-actor", NULL};
    assert_int_equal(srv_config_args(&c, 3, back, &help, &err), WRIT_OK);
    /* names Cedar must read: refused at start, not on every request after */
    static const char *const bad_names[][2] = {{"--namespace", "::"}, {"--namespace", "Acme::"}, {"--namespace", "if"},
                                               {"--check-principal-type", "::"}, {"--check-principal-type", "A B"}};
    for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
        char *a[] = {"serve", (char *)bad_names[i][0], (char *)bad_names[i][1], NULL};
        assert_int_equal(srv_config_args(&c, 3, a, &help, &err), WRIT_OK);
        assert_int_equal(srv_config_check(&c, &err), WRIT_EINVAL);
        assert_non_null(strstr(err.msg, "is not a Cedar"));
        char *fix[] = {"serve", "--namespace", "Acme::Writ", "--check-principal-type", "Agent", NULL};
        assert_int_equal(srv_config_args(&c, 5, fix, &help, &err), WRIT_OK);
        assert_int_equal(srv_config_check(&c, &err), WRIT_OK);
    }
    srv_config_free(&c);
}

static void key_value_file(void **state)
{
    (void)state;
    srv_config c;
    srv_config_defaults(&c);
    const char *text = "# comment\n"
                       "listen = [::1]:9000\n"
                       "policies = p.cedar   # trailing comment\n"
                       "entities =\n"
                       "threads = 3\n"
                       "max_body = 1k\n"
                       "audit = off\n"
                       "route = GET /datasets/{id} read Dataset {id}\n"
                       "route = * /tools/{t}/* invoke Tool {t}\n";
    writ_error err;
    assert_int_equal(srv_config_load_text(&c, text, strlen(text), "/etc/writ", &err), WRIT_OK);
    assert_string_equal(c.listen_host, "::1");
    assert_int_equal(c.listen_port, 9000);
    assert_string_equal(c.policies, "/etc/writ/p.cedar");
    assert_string_equal(c.entities, "");
    assert_int_equal(c.threads, 3);
    assert_int_equal(c.max_body, 1024);
    assert_false(c.audit);
    assert_int_equal(c.nroutes, 2);
    assert_string_equal(c.routes[1].pattern, "/tools/{t}/*");
    assert_string_equal(c.routes[1].rid, "{t}");
    srv_config_free(&c);
}

static void mcp_settings(void **state)
{
    (void)state;
    srv_config c;
    srv_config_defaults(&c);
    assert_int_equal(c.nmcp_up, 0);
    assert_string_equal(c.public_url, "");
    const char *text = "public_url = https://writ.example\n"
                       "mcp_upstream = everything http://127.0.0.1:3001/mcp\n"
                       "mcp_upstream = files stdio npx -y server-filesystem /srv\n"
                       "mcp_credential = everything header X-Api-Key key.txt\n"
                       "mcp_credential = files token https://files.internal\n";
    writ_error err;
    assert_int_equal(srv_config_load_text(&c, text, strlen(text), "/etc/writ", &err), WRIT_OK);
    assert_string_equal(c.public_url, "https://writ.example");
    assert_int_equal(c.nmcp_up, 2);
    assert_string_equal(c.mcp_up[0].url, "http://127.0.0.1:3001/mcp");
    assert_null(c.mcp_up[0].argv);
    assert_null(c.mcp_up[1].url);
    assert_int_equal(c.mcp_up[1].argc, 4);
    assert_string_equal(c.mcp_up[1].argv[0], "npx");
    assert_string_equal(c.mcp_up[1].argv[3], "/srv");
    assert_null(c.mcp_up[1].argv[4]);
    assert_int_equal(c.nmcp_cred, 2);
    assert_false(c.mcp_cred[0].token);
    assert_string_equal(c.mcp_cred[0].header, "X-Api-Key");
    assert_string_equal(c.mcp_cred[0].path, "/etc/writ/key.txt");
    assert_true(c.mcp_cred[1].token);
    assert_string_equal(c.mcp_cred[1].audience, "https://files.internal");
    /* refused: bad names, bad URLs, duplicates, wrong arity, bad header names */
    const char *bad[] = {
        "mcp_upstream = a/b http://x/mcp",
        "mcp_upstream = everything http://127.0.0.1:1/mcp",
        "mcp_upstream = x ftp://host/mcp",
        "mcp_upstream = x",
        "mcp_upstream = x stdio",
        "mcp_credential = files token a",
        "mcp_credential = y header X-Key",
        "mcp_credential = y header X:Key f",
        "mcp_credential = y header X-Key f extra",
        "mcp_credential = y magic a b",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_int_not_equal(srv_config_load_text(&c, bad[i], strlen(bad[i]), NULL, &err), WRIT_OK);
        assert_true(strstr(err.msg, "mcp_") != NULL);
    }
    assert_int_equal(c.nmcp_up, 2);
    assert_int_equal(c.nmcp_cred, 2);
    /* flags, and the printed form reads back the same */
    char *argv[] = {"serve", "--mcp-upstream", "echo http://127.0.0.1:9/mcp", NULL};
    bool help;
    assert_int_equal(srv_config_args(&c, 3, argv, &help, &err), WRIT_OK);
    assert_int_equal(c.nmcp_up, 3);
    char *buf = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&buf, &blen);
    srv_config_print(&c, f);
    fclose(f);
    assert_non_null(strstr(buf, "mcp_upstream = files stdio npx -y server-filesystem /srv\n"));
    assert_non_null(strstr(buf, "mcp_credential = files token https://files.internal\n"));
    free(buf);
    srv_config_free(&c);
}

static void tls_settings(void **state)
{
    (void)state;
    srv_config c;
    srv_config_defaults(&c);
    assert_string_equal(c.tls_cert, "");
    assert_int_equal(c.ntls_ca, 0);
    const char *text = "tls_cert = srv.pem\n"
                       "tls_key = /keys/srv.key\n"
                       "tls_client_ca = corp.example roots.pem\n"
                       "tls_client_ca = other.example /pki/other.pem\n";
    writ_error err;
    assert_int_equal(srv_config_load_text(&c, text, strlen(text), "/etc/writ", &err), WRIT_OK);
    assert_string_equal(c.tls_cert, "/etc/writ/srv.pem");
    assert_string_equal(c.tls_key, "/keys/srv.key");
    assert_int_equal(c.ntls_ca, 2);
    assert_string_equal(c.tls_ca[0].name, "corp.example");
    assert_string_equal(c.tls_ca[0].path, "/etc/writ/roots.pem");
    assert_string_equal(c.tls_ca[1].path, "/pki/other.pem");
    assert_int_equal(c.ntrust, 0);
    const char *bad = "tls_client_ca = roots.pem\n";
    assert_int_not_equal(srv_config_load_text(&c, bad, strlen(bad), NULL, &err), WRIT_OK);
    assert_non_null(strstr(err.msg, "tls_client_ca: expected TRUST_DOMAIN FILE"));
    const char *json = "{\"tls_client_ca\": [\"a.example a.pem\", \"b.example b.pem\"]}";
    assert_int_equal(srv_config_load_text(&c, json, strlen(json), NULL, &err), WRIT_OK);
    assert_int_equal(c.ntls_ca, 4);
    srv_config_free(&c);
}

static void json_file(void **state)
{
    (void)state;
    srv_config c;
    srv_config_defaults(&c);
    const char *text = "{\"listen\": \"127.0.0.1:0\", \"threads\": 2, \"validate\": true,"
                       " \"route\": [\"POST /a/{x} write Repo {x}\"]}";
    writ_error err;
    assert_int_equal(srv_config_load_text(&c, text, strlen(text), NULL, &err), WRIT_OK);
    assert_int_equal(c.listen_port, 0);
    assert_int_equal(c.threads, 2);
    assert_true(c.validate);
    assert_int_equal(c.nroutes, 1);
    srv_config_free(&c);

    srv_config_defaults(&c);
    const char *bad = "{\"threads\": [1]}";
    assert_int_not_equal(srv_config_load_text(&c, bad, strlen(bad), NULL, &err), WRIT_OK);
    assert_non_null(strstr(err.msg, "threads"));
    const char *bad2 = "{\"threads\": 1";
    assert_int_equal(srv_config_load_text(&c, bad2, strlen(bad2), NULL, &err), WRIT_EJSON);
    srv_config_free(&c);
}

static void errors(void **state)
{
    (void)state;
    static const struct {
        const char *text, *frag;
        uint32_t line;
    } cases[] = {
        {"nonsense\n", "expected 'key = value'", 1},
        {"\nbogus = 1\n", "unknown setting 'bogus'", 2},
        {"threads = -1\n", "threads", 1},
        {"threads = 257\n", "threads", 1},
        {"max_body = 1\n", "max_body", 1},
        {"timeout = 0\n", "timeout", 1},
        {"state_timeout_ms = 49\n", "state_timeout_ms: not a number in range 50..60000", 1},
        {"state_timeout_ms = 60001\n", "state_timeout_ms", 1},
        {"listen = nohostport\n", "listen", 1},
        {"listen = 1.2.3.4:70000\n", "bad port", 1},
        {"audit = maybe\n", "expected true or false", 1},
        {"route = GET /x read\n", "route", 1},
        {"route = GET x read T x\n", "must start with '/'", 1},
        /* route patterns are checked as they are read */
        {"threads = 1\nroute = GET /a/*/b read T x\n", "'*' must be the last segment", 2},
        {"route = GET /a/{x} read T {y}\n", "a capture the pattern does not have", 1},
        {"listen = localhost:80\n", "not a numeric IPv4 or IPv6 address", 1},
        {"listen = [[::1]]:80\n", "not a numeric IPv4 or IPv6 address", 1},
        {"a = 1\n\n# c\nstate_dir = x\fy\n", "unknown setting 'a'", 1},
        {"state_dir = x\fy\n", "control character 0x0c at offset 1", 1},
        {"\n\nstate_dir = x\ry\n", "control character 0x0d at offset 1", 3},
        {"{\"threads\": 1,\n \"x\": }", "config: ", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        srv_config c;
        srv_config_defaults(&c);
        writ_error err;
        memset(&err, 0, sizeof err);
        writ_status st = srv_config_load_text(&c, cases[i].text, strlen(cases[i].text), NULL, &err);
        if (st == WRIT_OK || !strstr(err.msg, cases[i].frag) || err.line != cases[i].line)
            fail_msg("<%s>: status %d line %u msg <%s>", cases[i].text, st, err.line, err.msg);
        srv_config_free(&c);
    }
}

static void flags(void **state)
{
    (void)state;
    char path[] = "/tmp/writ-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "listen = 127.0.0.1:1111\nthreads = 4\nroute = GET /a read T a\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    srv_config c;
    srv_config_defaults(&c);
    char *argv[] = {"serve", "--threads", "2", "--config", path, "--no-such", NULL};
    bool help;
    writ_error err;
    assert_int_not_equal(srv_config_args(&c, 6, argv, &help, &err), WRIT_OK);
    assert_non_null(strstr(err.msg, "--no-such"));
    srv_config_free(&c);

    srv_config_defaults(&c);
    char *argv2[] = {"serve",           "--threads",  "2",       "--config",          path,
                     "--max-body=2048", "--validate", "--route", "POST /b write T b", NULL};
    assert_int_equal(srv_config_args(&c, 9, argv2, &help, &err), WRIT_OK);
    assert_false(help);
    assert_int_equal(c.threads, 2);        /* the flag wins over the file */
    assert_int_equal(c.listen_port, 1111); /* from the file */
    assert_int_equal(c.max_body, 2048);
    assert_true(c.validate);
    assert_int_equal(c.nroutes, 1); /* flag routes replace the file's */
    assert_string_equal(c.routes[0].method, "POST");
    srv_config_free(&c);
    unlink(path);

    srv_config_defaults(&c);
    char *argv3[] = {"serve", "--config", "/nonexistent/writ.conf", NULL};
    assert_int_equal(srv_config_args(&c, 3, argv3, &help, &err), WRIT_EIO);
    srv_config_free(&c);
}

/* Flags and JSON say no more than a file could: values are trimmed, and
 * '#' or control characters are refused; --print-config loads back the same. */
static void values(void **state)
{
    (void)state;
    srv_config c;
    srv_config_defaults(&c);
    writ_error err;
    assert_int_equal(srv_config_set(&c, "policies", "  p.cedar\t", NULL, &err), WRIT_OK);
    assert_string_equal(c.policies, "p.cedar");
    assert_int_equal(srv_config_set(&c, "threads", " 7 ", NULL, &err), WRIT_OK);
    assert_int_equal(c.threads, 7);
    assert_int_equal(srv_config_set(&c, "token_issuer", "https://a/#x", NULL, &err), WRIT_EINVAL);
    assert_non_null(strstr(err.msg, "token_issuer: '#' at offset 10"));
    assert_int_equal(srv_config_set(&c, "route", "GET /a read T a#", NULL, &err), WRIT_EINVAL);
    assert_int_equal(srv_config_set(&c, "schema", "a\nb", NULL, &err), WRIT_EINVAL);
    assert_non_null(strstr(err.msg, "control character 0x0a"));
    assert_int_equal(srv_config_set(&c, "listen", "[::1]:0", NULL, &err), WRIT_OK);
    assert_int_equal(srv_config_set(&c, "listen", "nohost:0", NULL, &err), WRIT_EINVAL);
    const char *json = "{\"state_dir\": \"a#b\"}";
    assert_int_equal(srv_config_load_text(&c, json, strlen(json), NULL, &err), WRIT_EINVAL);
    assert_non_null(strstr(err.msg, "state_dir: '#'"));
    assert_int_equal(srv_config_set(&c, "route", "* /t/{x}/* invoke Tool {x}:{*}", NULL, &err), WRIT_OK);
    assert_int_equal(srv_config_set(&c, "identity_oidc", "https://issuer.example   jwks.json", NULL, &err),
                     WRIT_OK);

    char *p1 = NULL, *p2 = NULL;
    size_t n1 = 0, n2 = 0;
    FILE *f = open_memstream(&p1, &n1);
    srv_config_print(&c, f);
    fclose(f);
    srv_config d;
    srv_config_defaults(&d);
    assert_int_equal(srv_config_load_text(&d, p1, n1, NULL, &err), WRIT_OK);
    f = open_memstream(&p2, &n2);
    srv_config_print(&d, f);
    fclose(f);
    assert_string_equal(p1, p2);
    free(p1);
    free(p2);
    srv_config_free(&d);
    srv_config_free(&c);
}

/* A file names the line (and for JSON the column) of its error; at most
 * SRV_CONFIG_MAX_BYTES are read. */
static void file_errors(void **state)
{
    (void)state;
    char path[] = "/tmp/writ-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "workers = 1\nthreads = x\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    srv_config c;
    srv_config_defaults(&c);
    writ_error err;
    assert_int_equal(srv_config_load(&c, path, &err), WRIT_EINVAL);
    char want[160];
    snprintf(want, sizeof want, "%s:1: ", path); /* an unknown key, on its line */
    assert_non_null(strstr(err.msg, want));
    assert_int_equal(ftruncate(fd, 0), 0);
    text = "threads = 1\nthreads = x\n";
    assert_int_equal(pwrite(fd, text, strlen(text), 0), (ssize_t)strlen(text));
    assert_int_equal(srv_config_load(&c, path, &err), WRIT_EINVAL);
    /* a one-value key set twice in one file: which value was meant? */
    snprintf(want, sizeof want, "%s:2: config: 'threads' set twice (lines 1 and 2): keep one", path);
    if (!strstr(err.msg, want))
        fail_msg("%s", err.msg);
    assert_int_equal(ftruncate(fd, 0), 0);
    text = "\xEF\xBB\xBFthreads = x\n"; /* a byte order mark is an editor's, not part of the key */
    assert_int_equal(pwrite(fd, text, strlen(text), 0), (ssize_t)strlen(text));
    assert_int_equal(srv_config_load(&c, path, &err), WRIT_EINVAL);
    snprintf(want, sizeof want, "%s:1: threads: not a number", path);
    if (!strstr(err.msg, want))
        fail_msg("%s", err.msg);

    assert_int_equal(ftruncate(fd, 0), 0);
    text = "{\"threads\": 1,\n  \"x\" 2}";
    assert_int_equal(pwrite(fd, text, strlen(text), 0), (ssize_t)strlen(text));
    assert_int_equal(srv_config_load(&c, path, &err), WRIT_EJSON);
    snprintf(want, sizeof want, "%s:2:7: config: ", path);
    assert_non_null(strstr(err.msg, want));

    /* the limit: a file of comments one byte over */
    assert_int_equal(ftruncate(fd, 0), 0);
    static char big[SRV_CONFIG_MAX_BYTES + 1];
    memset(big, '#', sizeof big);
    assert_int_equal(pwrite(fd, big, sizeof big, 0), (ssize_t)sizeof big);
    assert_int_equal(srv_config_load(&c, path, &err), WRIT_ELIMIT);
    assert_int_equal(srv_config_load_text(&c, big, sizeof big, NULL, &err), WRIT_ELIMIT);
    assert_int_equal(srv_config_load_text(&c, big, sizeof big - 1, NULL, &err), WRIT_OK);
    assert_int_equal(ftruncate(fd, (off_t)sizeof big - 1), 0);
    assert_int_equal(srv_config_load(&c, path, &err), WRIT_OK);
    close(fd);
    unlink(path);
    srv_config_free(&c);
}

/* approval_ttl: seconds or s/m/h/d, within 1 s .. 30 d; clear errors. */
static void durations(void **state)
{
    (void)state;
    srv_config c;
    srv_config_defaults(&c);
    writ_error err;
    assert_int_equal(c.approval_ttl, 900);
    static const struct {
        const char *v;
        uint32_t want; /* 0 = refused */
    } cases[] = {{"30", 30}, {"45s", 45}, {"15m", 900}, {"2h", 7200}, {"1d", 86400}, {"30d", 2592000},
                 {"0", 0},   {"31d", 0}, {"", 0},      {"m", 0},     {"5x", 0},    {"-5", 0},
                 {"5 m", 0}, {"1.5h", 0}, {"99999999999999999999", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        writ_status st = srv_config_set(&c, "approval_ttl", cases[i].v, NULL, &err);
        if (cases[i].want) {
            assert_int_equal(st, WRIT_OK);
            assert_int_equal(c.approval_ttl, cases[i].want);
        } else {
            assert_int_not_equal(st, WRIT_OK);
            assert_non_null(strstr(err.msg, "approval_ttl"));
        }
    }
    assert_int_equal(srv_config_set(&c, "approval_webhook", "http://127.0.0.1:9/hook", NULL, &err), WRIT_OK);
    assert_string_equal(c.approval_webhook, "http://127.0.0.1:9/hook");
    /* its secret: empty (STATE_DIR/webhook.secret) unless a file is named */
    assert_string_equal(c.approval_webhook_secret_file, "");
    assert_int_equal(
        srv_config_set(&c, "approval-webhook-secret-file", "/etc/writ/webhook.secret", NULL, &err), WRIT_OK);
    assert_string_equal(c.approval_webhook_secret_file, "/etc/writ/webhook.secret");
    assert_string_equal(c.state, "sqlite");
    srv_config_free(&c);
}

/* approval_max_pending: a count (default 20, 0 = no cap); anything else is
 * refused naming the key; --approval-max-pending sets it. */
static void max_pending(void **state)
{
    (void)state;
    srv_config c;
    srv_config_defaults(&c);
    writ_error err;
    assert_int_equal(c.approval_max_pending, 20);
    static const struct {
        const char *v;
        int want; /* -1 = refused */
    } cases[] = {{"0", 0},   {"1", 1},   {" 5 ", 5},  {"1000000", 1000000}, {"-1", -1}, {"abc", -1},
                 {"", -1},   {"2.5", -1}, {"+3", -1}, {"1000001", -1},      {"7 8", -1}, {"99999999999", -1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        writ_status st = srv_config_set(&c, "approval_max_pending", cases[i].v, NULL, &err);
        if (cases[i].want >= 0) {
            assert_int_equal(st, WRIT_OK);
            assert_int_equal(c.approval_max_pending, cases[i].want);
        } else {
            assert_int_equal(st, WRIT_EINVAL);
            assert_non_null(strstr(err.msg, "approval_max_pending"));
        }
    }
    bool help = false;
    char *argv[] = {"serve", "--approval-max-pending", "3", NULL};
    assert_int_equal(srv_config_args(&c, 3, argv, &help, &err), WRIT_OK);
    assert_int_equal(c.approval_max_pending, 3);
    char *bad[] = {"serve", "--approval-max-pending", "-2", NULL};
    assert_int_not_equal(srv_config_args(&c, 3, bad, &help, &err), WRIT_OK);
    assert_non_null(strstr(err.msg, "approval_max_pending"));
    const char *json = "{\"approval_max_pending\": 0}";
    assert_int_equal(srv_config_load_text(&c, json, strlen(json), NULL, &err), WRIT_OK);
    assert_int_equal(c.approval_max_pending, 0);
    srv_config_free(&c);
}

/* forbid_error_denies: true by default; a boolean, anything else refused
 * naming the key; --forbid-error-denies false turns it off. */
static void forbid_error_denies(void **state)
{
    (void)state;
    srv_config c;
    srv_config_defaults(&c);
    writ_error err;
    assert_true(c.forbid_error_denies);
    assert_int_equal(srv_config_set(&c, "forbid_error_denies", "false", NULL, &err), WRIT_OK);
    assert_false(c.forbid_error_denies);
    assert_int_equal(srv_config_set(&c, "forbid_error_denies", "maybe", NULL, &err), WRIT_EINVAL);
    assert_non_null(strstr(err.msg, "forbid_error_denies"));
    bool help = false;
    char *argv[] = {"serve", "--forbid-error-denies", "true", NULL};
    assert_int_equal(srv_config_args(&c, 3, argv, &help, &err), WRIT_OK);
    assert_true(c.forbid_error_denies);
    const char *json = "{\"forbid_error_denies\": false}";
    assert_int_equal(srv_config_load_text(&c, json, strlen(json), NULL, &err), WRIT_OK);
    assert_false(c.forbid_error_denies);
    srv_config_free(&c);
}

/* The example config documents every key with its default: loading it
 * changes nothing that --print-config shows. */
static void example_matches_defaults(void **state)
{
    (void)state;
    srv_config a, b;
    srv_config_defaults(&a);
    srv_config_defaults(&b);
    writ_error err;
    if (srv_config_load(&b, WRIT_SOURCE_DIR "/examples/writ.conf", &err) != WRIT_OK)
        fail_msg("examples/writ.conf: %s", err.msg);
    char *pa = NULL, *pb = NULL;
    size_t la = 0, lb = 0;
    FILE *fa = open_memstream(&pa, &la), *fb = open_memstream(&pb, &lb);
    /* paths in the file are relative to examples/: compare the rest */
    srv_config_print(&a, fa);
    srv_config_print(&b, fb);
    fclose(fa);
    fclose(fb);
    char *la_line = pa, *lb_line = pb;
    while (la_line && lb_line && *la_line && *lb_line) {
        char *ea = strchr(la_line, '\n'), *eb = strchr(lb_line, '\n');
        *ea = *eb = '\0';
        bool path = !strncmp(la_line, "policies", 8) || !strncmp(la_line, "entities", 8) ||
                    !strncmp(la_line, "schema", 6) || !strncmp(la_line, "state_dir", 9);
        if (!path && strcmp(la_line, lb_line))
            fail_msg("default <%s> but examples/writ.conf gives <%s>", la_line, lb_line);
        la_line = ea + 1;
        lb_line = eb + 1;
    }
    free(pa);
    free(pb);
    srv_config_free(&a);
    srv_config_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(check_needs_policies),
        cmocka_unit_test(key_value_file),
        cmocka_unit_test(json_file),
        cmocka_unit_test(tls_settings),
        cmocka_unit_test(errors),
        cmocka_unit_test(flags),
        cmocka_unit_test(values),
        cmocka_unit_test(mcp_settings),
        cmocka_unit_test(file_errors),
        cmocka_unit_test(example_matches_defaults),
        cmocka_unit_test(durations),
        cmocka_unit_test(max_pending),
        cmocka_unit_test(forbid_error_denies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
