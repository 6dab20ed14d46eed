/* state.c - the state replicas share (`state`, `state_password_file`,
 * `state_tls_*`, `replica`, `state_stale_after`): opens the store of store.h, makes the
 * revocation set follow it when it is shared (store/revfeed.h), and shows
 * both in /metrics and /healthz.  docs/REPLICAS.md says what fails how. */
#include "server/server_int.h"
#include "store/revfeed.h"
#include "util/alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void state_log(const char *msg)
{
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(stderr, "%s writ serve: %s\n", ts, msg);
}

writ_status srv_state_open(srv *s, const char *sqlite_path, writ_error *err)
{
    const srv_config *c = s->cfg;
    if (*c->replica)
        snprintf(s->replica, sizeof s->replica, "%s", c->replica);
    else if (gethostname(s->replica, sizeof s->replica - 1) != 0 || !*s->replica)
        snprintf(s->replica, sizeof s->replica, "writ");
    s->replica[sizeof s->replica - 1] = '\0';
    wr_store_opts o = {.password_file = c->state_password_file,
                       .tls_ca = c->state_tls_ca,
                       .tls_cert = c->state_tls_cert,
                       .tls_key = c->state_tls_key,
                       .timeout_ms = c->state_timeout_ms};
    writ_status st = wr_store_open_opts(c->state, sqlite_path, &o, &s->state, err);
    if (st)
        return st;
    if (wr_store_shared(s->state)) {
        char msg[400];
        snprintf(msg, sizeof msg, "replica %s: shared state %s (%s), fail closed after %u s without it",
                 s->replica, wr_store_backend(s->state), c->state, (unsigned)c->state_stale_after);
        state_log(msg);
    }
    return WRIT_OK;
}

writ_status srv_state_follow(srv *s, writ_error *err)
{
    if (!s->state || !wr_store_shared(s->state) || !s->revocations)
        return WRIT_OK;
    return wr_revocations_follow(s->revocations, s->state, s->cfg->state_stale_after, state_log, err);
}

void srv_state_close(srv *s)
{
    wr_store_close(s->state); /* after srv_tokens_close: the follower is stopped */
    s->state = NULL;
}

bool srv_state_stale(const srv *s, char *why, size_t n)
{
    int64_t ms = wr_revocations_stale_ms(s->revocations);
    if (ms <= 0)
        return false;
    if (why)
        snprintf(why, n,
                 "shared state (%s) silent for %lld ms (state_stale_after %u s): every task token is refused",
                 s->state ? wr_store_backend(s->state) : "?",
                 (long long)(ms + (int64_t)s->cfg->state_stale_after * 1000),
                 (unsigned)s->cfg->state_stale_after);
    return true;
}

void srv_state_metrics(srv *s, sbuf *b)
{
    sb_puts(b, "# HELP writ_replica_info This replica's name and its shared state backend.\n"
               "# TYPE writ_replica_info gauge\nwrit_replica_info{replica=");
    sb_json_str(b, s->replica); /* a quoted, escaped label value */
    sb_printf(b, ",state=\"%s\"} 1\n", s->state ? wr_store_backend(s->state) : "none");
    sb_printf(b,
              "# HELP writ_state_stale 1 while the shared state has not answered for longer than "
              "state_stale_after (token-bearing requests fail closed).\n"
              "# TYPE writ_state_stale gauge\nwrit_state_stale %d\n",
              srv_state_stale(s, NULL, 0) ? 1 : 0);
    sb_printf(
        b,
        "# HELP writ_state_stale_refusals_total Task tokens refused because the shared state was stale.\n"
        "# TYPE writ_state_stale_refusals_total counter\nwrit_state_stale_refusals_total %llu\n",
        (unsigned long long)atomic_load_explicit(&s->state_stale_refused, memory_order_relaxed));
}
