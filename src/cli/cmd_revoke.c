/* cmd_revoke.c - `writ revoke`: add to the revocation set.
 *
 *   writ revoke (--db FILE | --state redis[s]://HOST:PORT[/DB] [--state-password-file F]
 *                [--state-tls-ca F] [--state-tls-cert F --state-tls-key F])
 *               (--jti ID | --subtree ID | --task TXN | --agent SPIFFE_ID) [--until UNIX] [--note TEXT]
 *
 * --jti revokes one token; --subtree the token and all tokens delegated from
 * it; --task every token of a task; --agent every token held by or delegated
 * through an agent.  --until lets the entry be pruned once every token it
 * can affect has expired.  --state writes to the Redis that replicas share
 * (docs/REPLICAS.md; rediss:// over TLS, --state-tls-* as the state_tls_*
 * settings): every replica following it refuses the token within a second;
 * replicas on Redis do not read a --db file. */
#include "cli/cli.h"
#include "store/store.h"
#include "writ/token.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int revoke_usage(void)
{
    fprintf(stderr,
            "usage: writ revoke (--db FILE | --state redis[s]://HOST:PORT[/DB] [--state-password-file F]\n"
            "                    [--state-tls-ca F] [--state-tls-cert F --state-tls-key F])\n"
            "                   (--jti ID | --subtree ID | --task TXN | --agent SPIFFE_ID)"
            " [--until UNIX] [--note TEXT]\n");
    return 2;
}

int cmd_revoke(int argc, char **argv)
{
    const char *db = NULL, *value = NULL, *note = NULL, *state = NULL, *pwfile = NULL;
    const char *tls_ca = NULL, *tls_cert = NULL, *tls_key = NULL;
    writ_revoke_kind kind = 0;
    long long until = 0;
    /* options come in pairs: --name value */
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return revoke_usage();
        writ_revoke_kind k = !strcmp(a, "--jti")       ? WRIT_REVOKE_JTI
                             : !strcmp(a, "--subtree") ? WRIT_REVOKE_SUBTREE
                             : !strcmp(a, "--task")    ? WRIT_REVOKE_TASK
                             : !strcmp(a, "--agent")   ? WRIT_REVOKE_AGENT
                                                       : 0;
        if (k) {
            if (kind)
                return revoke_usage();
            kind = k;
            value = v;
        } else if (!strcmp(a, "--db")) {
            db = v;
        } else if (!strcmp(a, "--state")) {
            state = v;
        } else if (!strcmp(a, "--state-password-file")) {
            pwfile = v;
        } else if (!strcmp(a, "--state-tls-ca")) {
            tls_ca = v;
        } else if (!strcmp(a, "--state-tls-cert")) {
            tls_cert = v;
        } else if (!strcmp(a, "--state-tls-key")) {
            tls_key = v;
        } else if (!strcmp(a, "--note")) {
            note = v;
        } else if (!strcmp(a, "--until")) {
            char *end;
            errno = 0;
            until = strtoll(v, &end, 10);
            if (errno || *end || until < 0)
                return revoke_usage();
        } else {
            return revoke_usage();
        }
    }
    if (!db == !state || !kind || ((pwfile || tls_ca || tls_cert || tls_key) && !state))
        return revoke_usage();
    if (kind == WRIT_REVOKE_AGENT) {
        writ_spiffe_id id;
        writ_error e;
        if (writ_spiffe_id_parse(value, strlen(value), &id, &e) != WRIT_OK) {
            fprintf(stderr, "writ: --agent: %s\n", e.msg);
            return 1;
        }
    }
    writ_error err;
    if (state) {
        wr_store *st = NULL;
        wr_store_opts o = {
            .password_file = pwfile, .tls_ca = tls_ca, .tls_cert = tls_cert, .tls_key = tls_key};
        if (strncmp(state, "redis://", 8) != 0 && strncmp(state, "rediss://", 9) != 0) {
            fprintf(stderr,
                    "writ: --state: a redis:// or rediss:// URL (a SQLite state is revoked with --db)\n");
            return 2;
        }
        signal(SIGPIPE, SIG_IGN); /* rediss://: a relay that ended must be an error, not a kill */
        writ_status rc = wr_store_open_opts(state, NULL, &o, &st, &err);
        if (rc == WRIT_OK)
            rc = wr_store_revocation_publish(st, (int)kind, value, strlen(value), until, &err);
        wr_store_close(st);
        if (rc != WRIT_OK) {
            fprintf(stderr, "writ: %s\n", err.msg);
            return 1;
        }
        fprintf(stderr, "writ: revoked %s %s (shared)\n", writ_revoke_kind_name(kind), value);
        return 0;
    }
    writ_revocations *r;
    if (writ_revocations_open(db, &r, &err) != WRIT_OK) {
        fprintf(stderr, "writ: %s\n", err.msg);
        return 1;
    }
    writ_status st = writ_revocations_add(r, kind, value, strlen(value), until, note, &err);
    writ_revocations_close(r);
    if (st != WRIT_OK) {
        fprintf(stderr, "writ: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "writ: revoked %s %s\n", writ_revoke_kind_name(kind), value);
    return 0;
}
