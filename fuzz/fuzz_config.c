/* fuzz_config.c - fuzz `writ serve`'s settings (src/server/config.c).
 *
 * The first input byte picks the form (mod 3):
 *   0  the rest is a config file (key = value lines, or a JSON object)
 *   1  the same, with paths relative to /etc/writ
 *   2  the rest is a command line, one argument per line (--config is
 *      skipped: it would read a file)
 *
 * Checks: an accepted config has every number within its documented range
 * and every list within its limit, routes of five words with a pattern
 * starting with '/'; printing it and loading the print gives the same
 * config; a refused one has a message, and a file's error a line number
 * within the file; nothing leaks (LeakSanitizer). */
#include "server/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void in_range(uint64_t v, uint64_t min, uint64_t max)
{
    if (v < min || v > max)
        abort();
}

static void check_word(const char *w)
{
    if (!w || !*w || strpbrk(w, " \t\n"))
        abort();
}

static void check_config(const srv_config *c)
{
    in_range(c->threads, 0, 256);
    in_range(c->max_body, 64, 64u << 20);
    in_range(c->max_batch, 1, 100000);
    in_range(c->timeout, 1, 3600);
    in_range(c->max_connections, 1, 1000000);
    in_range(c->drain_timeout, 0, 3600);
    in_range(c->audit_batch, 1, 100000);
    in_range(c->audit_queue, 16, 10000000);
    in_range(c->reload_poll, 0, 86400);
    in_range(c->token_leeway, 0, 300);
    in_range(c->token_ttl, 10, 3600);
    in_range(c->token_max_ttl, 10, 3600);
    in_range(c->nroutes, 0, SRV_MAX_ROUTES);
    in_range(c->ntrust, 0, SRV_MAX_TRUST);
    in_range(c->ntls_ca, 0, SRV_MAX_TRUST);
    const char *const strs[] = {c->policies, c->entities, c->schema, c->listen_host, c->state_dir,
                                c->ready_file, c->ns, c->check_principal_header, c->check_principal_type,
                                c->token_keys, c->token_jwks, c->token_issuer, c->token_audience,
                                c->revocations, c->identity_audience, c->admin_token_file, c->tls_cert,
                                c->tls_key};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (!strs[i])
            abort();
    for (size_t i = 0; i < c->nroutes; i++) {
        const srv_route *r = &c->routes[i];
        check_word(r->method);
        check_word(r->pattern);
        check_word(r->action);
        check_word(r->rtype);
        check_word(r->rid);
        if (r->pattern[0] != '/')
            abort();
    }
    for (size_t i = 0; i < c->ntrust; i++) {
        check_word(c->trust[i].name);
        check_word(c->trust[i].path);
    }
    for (size_t i = 0; i < c->ntls_ca; i++) {
        check_word(c->tls_ca[i].name);
        check_word(c->tls_ca[i].path);
    }
}

static char *print(const srv_config *c, size_t *len)
{
    char *p = NULL;
    FILE *f = open_memstream(&p, len);
    if (!f)
        abort();
    srv_config_print(c, f);
    fclose(f);
    return p;
}

/* What --print-config shows is a config file that loads to the same. */
static void check_round_trip(const srv_config *c)
{
    size_t n1, n2;
    char *p1 = print(c, &n1);
    srv_config d;
    srv_config_defaults(&d);
    writ_error err;
    if (srv_config_load_text(&d, p1, n1, NULL, &err) != WRIT_OK) {
        fprintf(stderr, "printed config does not load: line %u: %s\n%s", err.line, err.msg, p1);
        abort();
    }
    char *p2 = print(&d, &n2);
    if (n1 != n2 || memcmp(p1, p2, n1)) {
        fprintf(stderr, "printed config loads differently:\n%s\n---\n%s", p1, p2);
        abort();
    }
    free(p1);
    free(p2);
    srv_config_free(&d);
}

static void check_file(const char *text, size_t len, const char *base)
{
    srv_config c;
    srv_config_defaults(&c);
    writ_error err;
    memset(&err, 0, sizeof err);
    writ_status st = srv_config_load_text(&c, text, len, base, &err);
    if (st == WRIT_OK) {
        check_config(&c);
        check_round_trip(&c);
    } else {
        if (err.code != st || !err.msg[0])
            abort();
        size_t lines = 1;
        for (size_t i = 0; i < len; i++)
            lines += text[i] == '\n';
        if (err.line > lines)
            abort();
    }
    srv_config_free(&c);
}

static void check_args(const char *text, size_t len)
{
    char *buf = malloc(len + 1);
    char **argv = malloc((len + 3) * sizeof *argv); /* serve, len + 1 lines at most, NULL */
    if (!buf || !argv)
        abort();
    memcpy(buf, text, len);
    buf[len] = '\0';
    int argc = 0;
    argv[argc++] = "serve";
    for (char *p = buf, *nl; p; p = nl) {
        nl = strchr(p, '\n');
        if (nl)
            *nl++ = '\0';
        if (!strcmp(p, "--config")) {
            if (nl) /* and its file */
                nl = strchr(nl, '\n') ? strchr(nl, '\n') + 1 : NULL;
            continue;
        }
        argv[argc++] = p;
    }
    argv[argc] = NULL;
    srv_config c;
    srv_config_defaults(&c);
    writ_error err;
    memset(&err, 0, sizeof err);
    bool help = false;
    writ_status st = srv_config_args(&c, argc, argv, &help, &err);
    if (st == WRIT_OK) {
        if (!help) {
            check_config(&c);
            check_round_trip(&c);
        }
    } else if (err.code != st || !err.msg[0]) {
        abort();
    }
    srv_config_free(&c);
    free(argv);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 256 * 1024)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] % 3) {
    case 0:
        check_file(text, len, NULL);
        break;
    case 1:
        check_file(text, len, "/etc/writ");
        break;
    default:
        check_args(text, len);
        break;
    }
    return 0;
}
