/* cmd_audit.c - `writ audit verify|tail|query`: read the decision log. */
#include "approval/approval.h"
#include "cli/cli.h"
#include "server/config.h"
#include "util/sbuf.h"
#include "store/audit.h"
#include "util/alloc.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: writ audit verify [--jwks FILE] [LOG]\n"
    "       writ audit tail [-n N] [LOG]\n"
    "       writ audit query [--agent A] [--action A] [--resource R] [--task T]\n"
    "                        [--decision allow|deny] [--since T] [--until T] [--limit N] [--shadow]\n"
    "                        [LOG]\n"
    "  LOG: --db FILE or --db postgresql://..., or --state-dir DIR / --config FILE (DIR/writ.db,\n"
    "  or its audit_sink; default as writ serve).  In PostgreSQL each replica has its own chain:\n"
    "  verify checks every one (keys from --jwks FILE, else from the database: pass --jwks),\n"
    "  tail and query order by replica, then seq (--replica NAME: one replica's records).\n"
    "  verify checks the hash chain and its signed checkpoints (exit 0 whole, 1 broken,\n"
    "  2 unreadable) with the public keys in --jwks FILE, else audit-keys.jwks next to the log\n"
    "  (a copy kept elsewhere, or the server's /.well-known/jwks.json, proves more).\n"
    "  tail and query print one JSON object per record, oldest first; --shadow: only records\n"
    "  where shadow policies or the candidate set (shadow_policies) would have decided otherwise.\n"
    "  Times: unix milliseconds or YYYY-MM-DDTHH:MM:SSZ.\n";

/* A column that holds JSON (chain, policies, errors, shadow), as written:
 * the writer's compact text as it is; anything else (a database edited by
 * hand) re-encoded when it is JSON on several lines, else as a JSON string,
 * so that each record stays one valid JSON object on one line whatever the
 * log holds (no key injected, no control character reaching a terminal). */
static void put_json_col(sbuf *b, const char *v)
{
    size_t n = strlen(v);
    json_t *j = json_loadb(v, n, 0, NULL);
    bool one_line = true;
    for (size_t i = 0; i < n && one_line; i++)
        one_line = (unsigned char)v[i] >= 0x20;
    char *t = j && !one_line ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (j && one_line)
        sb_putn(b, v, n);
    else if (t)
        sb_puts(b, t);
    else
        sb_json_strn(b, v, n);
    free(t);
    json_decref(j);
}

static int print_row(void *ctx, const wr_audit_row *r)
{
    (void)ctx;
    sbuf b;
    sb_init(&b);
    char ts[40];
    time_t sec = (time_t)(r->e.time_ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    sb_printf(&b, "{\"seq\":%llu,\"replica\":", (unsigned long long)r->seq);
    sb_json_str(&b, r->replica ? r->replica : "");
    sb_printf(&b, ",\"time\":\"%s.%03dZ\",\"agent\":", ts, (int)(r->e.time_ms % 1000));
    sb_json_str(&b, r->e.agent);
    sb_puts(&b, ",\"chain\":");
    if (*r->e.chain)
        put_json_col(&b, r->e.chain);
    else
        sb_puts(&b, "null");
    sb_puts(&b, ",\"task\":");
    sb_json_str(&b, r->e.task);
    sb_puts(&b, ",\"action\":");
    sb_json_str(&b, r->e.action);
    sb_puts(&b, ",\"resource\":");
    sb_json_str(&b, r->e.resource);
    sb_printf(&b, ",\"decision\":\"%s\",\"policies\":", r->e.allow ? "allow" : "deny");
    put_json_col(&b, r->e.policies);
    sb_puts(&b, ",\"errors\":");
    put_json_col(&b, r->e.errors);
    sb_puts(&b, ",\"hash\":");
    sb_json_str(&b, r->hash);
    if (r->e.shadow && *r->e.shadow) {
        sb_puts(&b, ",\"shadow\":");
        put_json_col(&b, r->e.shadow);
    }
    sb_putc(&b, '}');
    /* agents' text (ids, tasks, approvers' reasons) with every control,
     * bidi or invisible character as a \u escape: the same JSON, but it
     * cannot drive the terminal (U+009B is a CSI) or reorder a line */
    sbuf vis;
    sb_init(&vis);
    if (sb_ok(&b))
        wr_json_visible(b.p, b.len, &vis);
    if (sb_ok(&b) && sb_ok(&vis))
        puts(vis.p);
    sb_free(&vis);
    sb_free(&b);
    return 0;
}

static int parse_time(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!errno && !*end && v >= 0) {
        *out = v;
        return 0;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec, &n) != 6 ||
        (s[n] != '\0' && strcmp(s + n, "Z") != 0))
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = (int64_t)timegm(&tm) * 1000;
    return 0;
}

/* One chain's verdict: one line (scripts match "^ok: " / "^BROKEN: ", after
 * "replica NAME: " in PostgreSQL). */
/* A replica's name as read from the database, control characters (C0, DEL,
 * C1) as \xNN: a name cannot forge a line of verify's output or reach the
 * terminal. */
static void put_name(const char *s)
{
    for (const unsigned char *u = (const unsigned char *)s; *u; u++)
        if (*u < 0x20 || *u == 0x7f || *u == '\\')
            printf("\\x%02x", *u);
        else if (*u == 0xc2 && u[1] >= 0x80 && u[1] <= 0x9f)
            printf("\\x%02x", *++u);
        else
            putchar(*u);
}

static void print_verify(void *ctx, const char *replica, const wr_audit_verify_result *r, writ_status st)
{
    (void)ctx;
    if (replica) {
        fputs("replica ", stdout);
        put_name(replica);
        fputs(": ", stdout);
    }
    if (st != WRIT_OK) {
        printf("BROKEN: %s (%llu records verified before it)\n", r->msg, (unsigned long long)r->records);
        return;
    }
    char when[40];
    time_t sec = (time_t)(r->signed_time_ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("ok: %llu records, chain whole, head %s; "
           "%llu signed checkpoints verify, the last covers records 1..%llu (%s)",
           (unsigned long long)r->records, r->records ? r->head : "(empty)",
           (unsigned long long)r->checkpoints, (unsigned long long)r->signed_seq, when);
    if (r->last_seq > r->signed_seq)
        printf("; records %llu..%llu come after it: chained, not signed (a cut there would not show)",
               (unsigned long long)r->signed_seq + 1, (unsigned long long)r->last_seq);
    if (r->adopted)
        printf("; %llu records (the last range %llu..%llu) were signed only when a server restarted after "
               "stopping without signing them (a crash): their signature says they were in the log then, "
               "not that the server wrote them",
               (unsigned long long)r->adopted, (unsigned long long)r->adopted_first,
               (unsigned long long)r->adopted_last);
    putchar('\n');
}

int cmd_audit(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "verify") && strcmp(sub, "tail") && strcmp(sub, "query")) {
        fprintf(stderr, "writ audit: unknown subcommand '%s'\n%s", sub, usage);
        return 2;
    }
    srv_config cfg;
    srv_config_defaults(&cfg);
    const char *db = NULL, *jwks = NULL;
    wr_audit_filter f = {.decision = -1};
    bool tail = !strcmp(sub, "tail");
    if (tail) {
        f.limit = 10;
        f.last = true;
    }
    writ_error err;
    memset(&err, 0, sizeof err);
    int rc = 2;
    char *dbpath = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(sub, "query") && !strcmp(a, "--shadow")) {
            f.shadow = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "writ audit: unexpected or incomplete argument '%s'\n%s", a, usage);
            goto out;
        }
        i++;
        if (!strcmp(a, "--db")) {
            db = v;
        } else if (!strcmp(sub, "verify") && !strcmp(a, "--jwks")) {
            jwks = v;
        } else if (!strcmp(a, "--state-dir") || !strcmp(a, "--state_dir")) {
            if (srv_config_set(&cfg, "state_dir", v, NULL, &err))
                goto bad_cfg;
        } else if (!strcmp(a, "--config")) {
            if (srv_config_load(&cfg, v, &err))
                goto bad_cfg;
        } else if (tail && !strcmp(a, "-n")) {
            f.limit = strtoull(v, NULL, 10);
        } else if (!tail && !strcmp(sub, "query") && !strcmp(a, "--agent")) {
            f.agent = v;
        } else if (strcmp(sub, "verify") && !strcmp(a, "--replica")) {
            f.replica = v;
        } else if (!strcmp(sub, "query") && !strcmp(a, "--action")) {
            f.action = v;
        } else if (!strcmp(sub, "query") && !strcmp(a, "--resource")) {
            f.resource = v;
        } else if (!strcmp(sub, "query") && !strcmp(a, "--task")) {
            f.task = v;
        } else if (!strcmp(sub, "query") && !strcmp(a, "--decision")) {
            if (strcmp(v, "allow") && strcmp(v, "deny")) {
                fprintf(stderr, "writ audit: --decision is allow or deny\n");
                goto out;
            }
            f.decision = !strcmp(v, "allow");
        } else if (!strcmp(sub, "query") && (!strcmp(a, "--since") || !strcmp(a, "--until"))) {
            if (parse_time(v, !strcmp(a, "--since") ? &f.since_ms : &f.until_ms)) {
                fprintf(stderr, "writ audit: bad time '%s'\n", v);
                goto out;
            }
        } else if (!strcmp(sub, "query") && !strcmp(a, "--limit")) {
            f.limit = strtoull(v, NULL, 10);
        } else {
            fprintf(stderr, "writ audit: unexpected argument '%s'\n%s", a, usage);
            goto out;
        }
    }
    if (!db && strcmp(cfg.audit_sink, "sqlite") != 0)
        db = cfg.audit_sink;
    if (!db) {
        size_t n = strlen(cfg.state_dir);
        dbpath = wr_malloc(n + sizeof "/writ.db");
        if (!dbpath)
            goto out;
        memcpy(dbpath, cfg.state_dir, n);
        memcpy(dbpath + n, "/writ.db", sizeof "/writ.db");
        db = dbpath;
    }
    bool pg = !strncmp(db, "postgresql://", 13) || !strncmp(db, "postgres://", 11);
    if (!pg) {
        FILE *probe = fopen(db, "rb");
        if (!probe) {
            fprintf(stderr, "writ audit: cannot open %s: %s\n", db, strerror(errno));
            goto out;
        }
        fclose(probe);
    }
    if (!strcmp(sub, "verify")) {
        if (pg && !jwks)
            fprintf(stderr, "writ audit: the checkpoint keys are read from the database itself "
                            "(writ_audit_key): whoever can write the database can re-sign its chains; "
                            "--jwks FILE checks them against keys kept elsewhere\n");
        writ_status st = wr_audit_verify_each(db, jwks, print_verify, NULL, &err);
        if (st == WRIT_OK)
            rc = 0;
        else if (st == WRIT_EVALIDATE)
            rc = 1;
        if (st != WRIT_OK && err.msg[0] && (st != WRIT_EVALIDATE || strstr(err.msg, "no replica")))
            fprintf(stderr, "writ audit: %s\n", err.msg);
        goto out;
    }
    if (wr_audit_query(db, &f, print_row, NULL, &err)) {
        fprintf(stderr, "writ audit: %s\n", err.msg);
        goto out;
    }
    rc = 0;
    goto out;
bad_cfg:
    fprintf(stderr, "writ audit: %s\n", err.msg);
out:
    wr_free(dbpath);
    srv_config_free(&cfg);
    return rc;
}
