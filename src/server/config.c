/* config.c - `writ serve` settings (see config.h). */
#include "server/config.h"
#include "limits/limits.h"
#include "server/route.h"
#include "cedar/srctext.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/jsonpos.h"
#include "writ/cedar.h"
#include "writ/identity.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef enum ck_kind {
    CK_STR,
    CK_PATH,
    CK_U32,
    CK_U64,
    CK_BOOL,
    CK_LISTEN,
    CK_ROUTE,
    CK_TRUST_SPIFFE,
    CK_TRUST_OIDC,
    CK_TLS_CA,
    CK_MCP_UP,
    CK_MCP_CRED,
    CK_DURATION,
    CK_LIMIT
} ck_kind;

typedef struct ck_key {
    const char *name;
    ck_kind kind;
    size_t off;
    uint64_t min, max;
    const char *doc;
} ck_key;

#define OFF(f) offsetof(srv_config, f)
static const ck_key keys[] = {
    {"policies", CK_PATH, OFF(policies), 0, 0, "Cedar policy file (required)"},
    {"entities", CK_PATH, OFF(entities), 0, 0, "Cedar entities JSON file (empty: none)"},
    {"schema", CK_PATH, OFF(schema), 0, 0, "Cedar schema (.cedarschema; empty: none)"},
    {"shadow_policies", CK_PATH, OFF(shadow_policies), 0, 0,
     "candidate Cedar policy file evaluated beside the live one, never enforced (empty: none)"},
    {"listen", CK_LISTEN, 0, 0, 0, "HOST:PORT to listen on (numeric address; port 0: any free port)"},
    {"state_dir", CK_PATH, OFF(state_dir), 0, 0, "folder of the SQLite state (audit log)"},
    {"ready_file", CK_PATH, OFF(ready_file), 0, 0, "write HOST:PORT here once serving (empty: none)"},
    {"threads", CK_U32, OFF(threads), 0, 256, "HTTP worker threads (0: one per CPU)"},
    {"max_body", CK_U64, OFF(max_body), 64, 64u << 20, "largest request body, bytes"},
    {"max_batch", CK_U32, OFF(max_batch), 1, 100000, "most evaluations in one batch request"},
    {"search_max_decisions", CK_U32, OFF(search_max_decisions), 1, 10000000,
     "most candidates one AuthZEN search request decides; past it the answer pages (fewer results, a "
     "next_token)"},
    {"timeout", CK_U32, OFF(timeout), 1, 3600,
     "idle timeout, and the most a request's headers or body may take, seconds"},
    {"max_connections", CK_U32, OFF(max_connections), 1, 1000000, "most open connections"},
    {"drain_timeout", CK_U32, OFF(drain_timeout), 0, 3600, "seconds to finish requests on SIGTERM"},
    {"namespace", CK_STR, OFF(ns), 0, 0, "Cedar namespace of AuthZEN types and actions (empty: none)"},
    {"validate", CK_BOOL, OFF(validate), 0, 0, "validate requests against the schema"},
    {"explain", CK_BOOL, OFF(explain), 0, 0,
     "answer AuthZEN options.explain (why a deny: quotes policy conditions to the caller)"},
    {"audit", CK_BOOL, OFF(audit), 0, 0, "append every decision to the audit log"},
    {"audit_batch", CK_U32, OFF(audit_batch), 1, 100000, "most audit records per transaction"},
    {"audit_queue", CK_U32, OFF(audit_queue), 16, 10000000, "audit records queued before requests wait"},
    {"audit_checkpoint_every", CK_U32, OFF(audit_checkpoint_every), 1, 100000000,
     "records between signed checkpoints of the audit chain"},
    {"audit_fsync", CK_BOOL, OFF(audit_fsync), 0, 0,
     "fsync every audit commit (survives power loss; default: survives a crash of the process)"},
    {"audit_sink", CK_STR, OFF(audit_sink), 0, 0,
     "where audit records go: sqlite (STATE_DIR/writ.db), or postgresql://... (one chain per replica)"},
    {"audit_spool_max", CK_U32, OFF(audit_spool_max), 1, 100000000,
     "PostgreSQL sink: audit records kept on local disk while the database is down"},
    {"audit_spool_full", CK_STR, OFF(audit_spool_full), 0, 0,
     "when that spool is full: refuse (decisions fail closed, 503) or drop (keep deciding, count dropped "
     "records)"},
    {"audit_commit_delay_us", CK_U32, OFF(audit_commit_delay_us), 0, 100000,
     "microseconds the audit log's thread waits to gather more records before committing fewer than 16 "
     "(0: at once); records it writes: the MCP gateway's (the HTTP workers commit theirs after each pass)"},
    {"reload_poll", CK_U32, OFF(reload_poll), 0, 86400,
     "seconds between checks of the policy files (0: reload on SIGHUP only)"},
    {"check_principal_header", CK_STR, OFF(check_principal_header), 0, 0,
     "TESTS ONLY, insecure: take the agent of /authz/check from this header (empty: off)"},
    {"check_principal_type", CK_STR, OFF(check_principal_type), 0, 0,
     "entity type of the agent in /authz/check"},
    {"token_keys", CK_PATH, OFF(token_keys), 0, 0,
     "PEM signing key; task tokens are verified with it (empty: none)"},
    {"token_jwks", CK_PATH, OFF(token_jwks), 0, 0, "JWKS file to verify task tokens with (empty: none)"},
    {"token_issuer", CK_STR, OFF(token_issuer), 0, 0, "iss of task tokens"},
    {"token_audience", CK_STR, OFF(token_audience), 0, 0, "aud task tokens must carry"},
    {"token_leeway", CK_U32, OFF(token_leeway), 0, 300, "seconds of clock skew allowed on token times"},
    {"revocations", CK_PATH, OFF(revocations), 0, 0, "revocation database (empty: STATE_DIR/writ.db)"},
    {"state", CK_STR, OFF(state), 0, 0,
     "state replicas share (revocations, approvals, counters): sqlite, or redis[s]://[USER@]HOST:PORT[/DB]"},
    {"state_password_file", CK_PATH, OFF(state_password_file), 0, 0,
     "file whose first line is the Redis password"},
    {"state_tls_ca", CK_PATH, OFF(state_tls_ca), 0, 0,
     "rediss://: PEM file of the CAs that vouch for Redis' certificate (empty: the system's store)"},
    {"state_tls_cert", CK_PATH, OFF(state_tls_cert), 0, 0,
     "rediss://: PEM client certificate for Redis' tls-auth-clients (empty: none)"},
    {"state_tls_key", CK_PATH, OFF(state_tls_key), 0, 0, "rediss://: PEM private key of state_tls_cert"},
    {"replica", CK_STR, OFF(replica), 0, 0, "this replica's name in logs and metrics (empty: the host name)"},
    {"state_stale_after", CK_U32, OFF(state_stale_after), 1, 3600,
     "seconds without an answer from the shared state before token-bearing requests fail closed"},
    {"state_timeout_ms", CK_U32, OFF(state_timeout_ms), 50, 60000,
     "Redis: most time to connect or for one command's reply, ms; a request's call that waits it out "
     "fails closed, and the calls after fail at once until Redis answers again"},
    {"token_ttl", CK_U32, OFF(token_ttl), 10, 3600, "default lifetime of task tokens issued, seconds"},
    {"token_max_ttl", CK_U32, OFF(token_max_ttl), 10, 3600, "longest lifetime a client may ask for, seconds"},
    {"identity_audience", CK_STR, OFF(identity_audience), 0, 0,
     "aud the identity tokens exchanged at /oauth2/token must carry"},
    {"actor_audience", CK_STR, OFF(actor_audience), 0, 0,
     "aud a delegation's actor token (the receiving agent's JWT) must carry, and an identity token for "
     "start_task must not (else whoever delegates could start tasks as the receiver)"},
    {"identity_spiffe", CK_TRUST_SPIFFE, 0, 0, 0,
     "TRUST_DOMAIN FILE: trust JWT-SVIDs of that domain, keys in the SPIFFE bundle FILE (repeatable)"},
    {"identity_allow_high_s", CK_BOOL, OFF(identity_allow_high_s), 0, 0,
     "accept ES256/ES384 identity tokens whose signature is in the high-S form (malleable; only for issuers "
     "that do not normalise S; task tokens are always low-S)"},
    {"identity_oidc", CK_TRUST_OIDC, 0, 0, 0,
     "ISSUER FILE [TYPE]: trust OIDC tokens of that issuer, JWKS in FILE; its subjects are principals of "
     "TYPE "
     "(default User, never agents; repeatable)"},
    {"admin_token_file", CK_PATH, OFF(admin_token_file), 0, 0,
     "file whose first line is the admin bearer secret for /oauth2/revoke (>= 32 chars; empty: no admin)"},
    {"tls_cert", CK_PATH, OFF(tls_cert), 0, 0,
     "PEM server certificate (chain); with tls_key: HTTPS (empty: plain HTTP)"},
    {"tls_key", CK_PATH, OFF(tls_key), 0, 0, "PEM private key of tls_cert"},
    {"tls_client_ca", CK_TLS_CA, 0, 0, 0,
     "TRUST_DOMAIN FILE: request client certificates, X.509-SVIDs of that domain with roots in FILE "
     "(repeatable)"},
    {"route", CK_ROUTE, 0, 0, 0,
     "METHOD PATTERN ACTION RESOURCE_TYPE RESOURCE_ID [DESTINATION] (repeatable)"},
    {"trusted_proxies", CK_STR, OFF(trusted_proxies), 0, 0,
     "addresses or CIDR ranges (space or comma separated) whose X-Real-IP, X-Forwarded-For, X-Original-* and "
     "X-Writ-Destination headers are believed (empty: none)"},
    {"public_url", CK_STR, OFF(public_url), 0, 0,
     "the URL clients use to reach Writ, in OAuth metadata and approval links (empty: http://LISTEN)"},
    {"forbid_error_denies", CK_BOOL, OFF(forbid_error_denies), 0, 0,
     "a forbid whose evaluation fails (an attribute missing or of another type) denies the request, naming "
     "it "
     "(false: Cedar's rule, the forbid is skipped, so an argument of an unexpected type can get round it)"},
    {"mcp_context_values", CK_BOOL, OFF(mcp_context_values), 0, 0,
     "build a tools/call's context.input and context.tool straight into Cedar values (false: as JSON read "
     "back, the slower way every other decision takes; the same decisions)"},
    {"mcp_spin_us", CK_U32, OFF(mcp_spin_us), 0, 10000,
     "microseconds a worker serving a lone MCP call busy-waits for the upstream's answer, then for the "
     "client's next message, before it sleeps (0: never; saves the wake-ups where waking a CPU is slow)"},
    {"mcp_agent_requests", CK_U32, OFF(mcp_agent_requests), 0, 1000000,
     "most /mcp/ requests (calls in flight, streams) one agent may have open at once; past it 429 (0: a "
     "quarter of max_connections, so that one agent cannot hold every connection)"},
    {"mcp_idle_timeout", CK_DURATION, OFF(mcp_idle_timeout), 1, 86400,
     "an MCP upstream that sends no byte of an answer for this long ends the call with an error (a tool "
     "that streams progress is not idle; a stdio process that leaves its stdin unread this long is "
     "restarted)"},
    {"mcp_connect_timeout", CK_DURATION, OFF(mcp_connect_timeout), 1, 300,
     "most time to connect to an MCP upstream (HTTP), or for a restarted stdio process to answer its "
     "initialize"},
    {"mcp_max_answer", CK_U64, OFF(mcp_max_answer), 4096, 1u << 30,
     "largest MCP upstream answer read whole (a JSON answer, every list) and longest stdio line kept, "
     "bytes; past it the call ends with an error"},
    {"mcp_upstream", CK_MCP_UP, 0, 0, 0,
     "NAME URL, or NAME stdio CMD ARG...: an MCP server served at /mcp/NAME (repeatable)"},
    {"mcp_credential", CK_MCP_CRED, 0, 0, 0,
     "NAME header HEADER FILE (HEADER: first line of FILE), or NAME token AUDIENCE (a JWT minted per call): "
     "what Writ adds to requests to upstream NAME (repeatable)"},
    {"limit", CK_LIMIT, 0, 0, 0,
     "NAME WINDOW ACTIONS [sum PATH] [per task|agent|root]: a task-history limit, read by policies as "
     "context.history.NAME (repeatable; docs/LIMITS.md)"},
    {"destination_default", CK_STR, OFF(destination_default), 0, 0,
     "the destination fact when neither a route nor a trusted proxy names one"},
    {"approval_ttl", CK_DURATION, OFF(approval_ttl), 1, 30u * 86400,
     "how long an approval lives from its request: seconds, or with s, m, h, d (default 15m)"},
    {"approval_keep", CK_DURATION, OFF(approval_keep), 0, 3650u * 86400,
     "how long an ended approval (consumed, denied, expired) stays listed after its expiry before "
     "it is deleted (0: never; default 7d; the audit log keeps every step)"},
    {"approval_max_pending", CK_U32, OFF(approval_max_pending), 0, 1000000,
     "most approvals one agent may have pending (undecided, unexpired) at a time; a request that would "
     "make one more is denied until some are decided or expire (0: no cap)"},
    {"approval_webhook", CK_STR, OFF(approval_webhook), 0, 0,
     "URL each new pending approval is POSTed to as JSON (retried; empty: none)"},
    {"approval_webhook_secret_file", CK_PATH, OFF(approval_webhook_secret_file), 0, 0,
     "file whose first line is the secret approval_webhook POSTs are signed with (Standard Webhooks): "
     "whsec_ and the base64 of 24 to 64 random bytes (empty: STATE_DIR/webhook.secret, made on the first "
     "start)"},
};
#define NKEYS (sizeof keys / sizeof keys[0])

/* Copy src into dst (cap bytes), cut short if need be. */
static void copy_msg(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memmove(dst, src, n);
    dst[n] = '\0';
}

static char *dup(const char *s) { return wr_strndup(s, strlen(s)); }

static void set_str(char **slot, char *v)
{
    wr_free(*slot);
    *slot = v;
}

void srv_config_defaults(srv_config *c)
{
    memset(c, 0, sizeof *c);
    /* No policies, entities or schema by default: the server decides only
     * on files it is given (srv_config_check), and a schema is in force
     * only when one is named. */
    c->policies = dup("");
    c->entities = dup("");
    c->schema = dup("");
    c->shadow_policies = dup("");
    c->listen_host = dup("127.0.0.1");
    c->listen_port = 8180;
    const char *xdg = getenv("XDG_STATE_HOME");
    if (xdg && *xdg) {
        size_t n = strlen(xdg);
        char *p = wr_malloc(n + sizeof "/writ");
        if (p) {
            memcpy(p, xdg, n);
            memcpy(p + n, "/writ", sizeof "/writ");
        }
        c->state_dir = p;
    } else {
        c->state_dir = dup("writ-state");
    }
    c->ready_file = dup("");
    c->threads = 0;
    c->max_body = 64 * 1024;
    c->max_batch = 256;
    c->search_max_decisions = 5000;
    c->timeout = 10;
    c->max_connections = 4096;
    c->drain_timeout = 5;
    c->ns = dup("Writ");
    c->validate = false;
    c->explain = false;
    c->audit = true;
    c->audit_batch = 1024;
    c->audit_queue = 65536;
    c->audit_checkpoint_every = 1000;
    c->audit_fsync = false;
    c->audit_commit_delay_us = 500;
    c->mcp_spin_us = 200;
    c->mcp_idle_timeout = 30;
    c->mcp_connect_timeout = 5;
    c->mcp_max_answer = (uint64_t)16 << 20;
    c->mcp_context_values = true;
    c->forbid_error_denies = true;
    c->audit_sink = dup("sqlite");
    c->audit_spool_max = 100000;
    c->audit_spool_full = dup("refuse");
    c->reload_poll = 1;
    c->check_principal_header = dup("");
    c->check_principal_type = dup("Agent");
    c->token_keys = dup("");
    c->token_jwks = dup("");
    c->token_issuer = dup("https://writ.local");
    c->token_audience = dup("writ");
    c->token_leeway = 30;
    c->revocations = dup("");
    c->state = dup("sqlite");
    c->state_password_file = dup("");
    c->state_tls_ca = dup("");
    c->state_tls_cert = dup("");
    c->state_tls_key = dup("");
    c->replica = dup("");
    c->state_stale_after = 5;
    c->state_timeout_ms = 2000;
    c->identity_audience = dup("writ");
    c->actor_audience = dup("writ-actor");
    c->admin_token_file = dup("");
    c->token_ttl = 300;
    c->token_max_ttl = 900;
    c->trusted_proxies = dup("");
    c->destination_default = dup("external");
    c->tls_cert = dup("");
    c->tls_key = dup("");
    c->public_url = dup("");
    c->approval_ttl = 900;
    c->approval_keep = 7 * 86400;
    c->approval_max_pending = 20;
    c->approval_webhook = dup("");
    c->approval_webhook_secret_file = dup("");
}

static void free_mcp(srv_config *c)
{
    for (size_t i = 0; i < c->nmcp_up; i++) {
        wr_free(c->mcp_up[i].name);
        wr_free(c->mcp_up[i].url);
        for (size_t k = 0; k < c->mcp_up[i].argc; k++)
            wr_free(c->mcp_up[i].argv[k]);
        wr_free(c->mcp_up[i].argv);
    }
    wr_free(c->mcp_up);
    for (size_t i = 0; i < c->nmcp_cred; i++) {
        wr_free(c->mcp_cred[i].name);
        wr_free(c->mcp_cred[i].header);
        wr_free(c->mcp_cred[i].path);
        wr_free(c->mcp_cred[i].audience);
    }
    wr_free(c->mcp_cred);
    c->mcp_up = NULL;
    c->mcp_cred = NULL;
    c->nmcp_up = c->nmcp_cred = 0;
}

static void free_limits(srv_config *c)
{
    for (size_t i = 0; i < c->nlimits; i++)
        wr_free(c->limits[i]);
    wr_free(c->limits);
    wr_free(c->limit_lines);
    c->limits = NULL;
    c->limit_lines = NULL;
    c->nlimits = 0;
}

/* A limit line is checked here (the server builds the set: limits.h). */
static writ_status add_limit(srv_config *c, const char *v, writ_error *err)
{
    wr_limit l;
    writ_status st = wr_limit_parse(v, &l, err);
    wr_limit_clear(&l);
    if (st)
        return st;
    if (c->nlimits >= WR_LIMITS_MAX)
        return wr_error(err, WRIT_ELIMIT, "limit: more than %d limits", WR_LIMITS_MAX);
    char *d = dup(v);
    char **lv = d ? wr_realloc(c->limits, (c->nlimits + 1) * sizeof *lv) : NULL;
    if (lv)
        c->limits = lv;
    uint32_t *ln = lv ? wr_realloc(c->limit_lines, (c->nlimits + 1) * sizeof *ln) : NULL;
    if (!ln) {
        wr_free(d);
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    }
    c->limit_lines = ln;
    ln[c->nlimits] = c->loading_line;
    lv[c->nlimits++] = d;
    return WRIT_OK;
}

static void free_routes(srv_config *c)
{
    for (size_t i = 0; i < c->nroutes; i++) {
        srv_route *r = &c->routes[i];
        wr_free(r->method);
        wr_free(r->pattern);
        wr_free(r->action);
        wr_free(r->rtype);
        wr_free(r->rid);
        wr_free(r->destination);
    }
    wr_free(c->routes);
    c->routes = NULL;
    c->nroutes = 0;
}

static void free_trust_list(srv_trust **list, size_t *n)
{
    for (size_t i = 0; i < *n; i++) {
        wr_free((*list)[i].name);
        wr_free((*list)[i].path);
        wr_free((*list)[i].ptype);
    }
    wr_free(*list);
    *list = NULL;
    *n = 0;
}

static void free_trust(srv_config *c)
{
    free_trust_list(&c->trust, &c->ntrust);
    free_trust_list(&c->tls_ca, &c->ntls_ca);
}

void srv_config_free(srv_config *c)
{
    if (!c)
        return;
    free_trust(c);
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].kind == CK_STR || keys[i].kind == CK_PATH)
            set_str((char **)((char *)c + keys[i].off), NULL);
    wr_free(c->listen_host);
    free_routes(c);
    free_mcp(c);
    free_limits(c);
    wr_free(c->config_path);
    memset(c, 0, sizeof *c);
}

static const ck_key *find_key(const char *name, size_t n)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const char *k = keys[i].name;
        if (strlen(k) != n)
            continue;
        size_t j = 0;
        for (; j < n; j++)
            if (k[j] != name[j] && !(k[j] == '_' && name[j] == '-'))
                break;
        if (j == n)
            return &keys[i];
    }
    return NULL;
}

/* Edit distance between a and b (dashes read as underscores), capped at 9. */
static size_t key_distance(const char *a, size_t n, const char *b)
{
    size_t m = strlen(b), row[64];
    if (n >= 63 || m >= 63)
        return 9;
    for (size_t j = 0; j <= m; j++)
        row[j] = j;
    for (size_t i = 1; i <= n; i++) {
        size_t diag = row[0];
        row[0] = i;
        char ca = a[i - 1] == '-' ? '_' : a[i - 1];
        for (size_t j = 1; j <= m; j++) {
            size_t up = row[j];
            size_t best = diag + (ca != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[m] > 9 ? 9 : row[m];
}

/* " (did you mean 'KEY'?)" for the nearest setting within two edits, or "". */
static void suggest_key(const char *name, size_t n, bool flag, char *out, size_t cap)
{
    const char *best = NULL;
    size_t bd = 3;
    for (size_t i = 0; i < NKEYS; i++) {
        size_t d = key_distance(name, n, keys[i].name);
        if (d < bd)
            bd = d, best = keys[i].name;
    }
    out[0] = '\0';
    if (!best || n < 3)
        return;
    if (!flag) {
        snprintf(out, cap, " (did you mean '%s'?)", best);
        return;
    }
    char dashed[64];
    snprintf(dashed, sizeof dashed, "%s", best);
    for (char *p = dashed; *p; p++)
        if (*p == '_')
            *p = '-';
    snprintf(out, cap, " (did you mean '--%s'?)", dashed);
}

static writ_status parse_u64(const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!*v || *v == '-' || *v == '+')
        return WRIT_EINVAL;
    errno = 0;
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    uint64_t mult = 1;
    if (*end == 'k' || *end == 'K')
        mult = 1024, end++;
    else if (*end == 'm' || *end == 'M')
        mult = 1024 * 1024, end++;
    if (errno || *end || x > max / mult || x * mult < min || x * mult > max)
        return WRIT_EINVAL;
    *out = x * mult;
    return WRIT_OK;
}

writ_status srv_duration_parse(const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!*v || *v < '0' || *v > '9')
        return WRIT_EINVAL;
    errno = 0;
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    uint64_t mult = 1;
    if (*end == 's')
        end++;
    else if (*end == 'm')
        mult = 60, end++;
    else if (*end == 'h')
        mult = 3600, end++;
    else if (*end == 'd')
        mult = 86400, end++;
    if (errno || *end || x > UINT64_MAX / mult || x * mult < min || x * mult > max)
        return WRIT_EINVAL;
    *out = x * mult;
    return WRIT_OK;
}

static writ_status parse_listen(srv_config *c, const char *v, writ_error *err)
{
    const char *colon = strrchr(v, ':');
    if (!colon)
        return wr_error(err, WRIT_EINVAL, "listen: expected HOST:PORT, got '%s'", v);
    const char *h = v;
    size_t hn = (size_t)(colon - v);
    if (hn >= 2 && h[0] == '[' && h[hn - 1] == ']')
        h++, hn -= 2;
    uint64_t port;
    if (parse_u64(colon + 1, 0, 65535, &port))
        return wr_error(err, WRIT_EINVAL, "listen: bad port in '%s'", v);
    char *host = hn ? wr_strndup(h, hn) : dup("127.0.0.1");
    if (!host)
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    unsigned char addr[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, host, addr) != 1 && inet_pton(AF_INET6, host, addr) != 1) {
        wr_free(host);
        return wr_error(err, WRIT_EINVAL, "listen: '%s' is not a numeric IPv4 or IPv6 address", v);
    }
    set_str(&c->listen_host, host);
    c->listen_port = (uint16_t)port;
    return WRIT_OK;
}

/* Split v into at most max whitespace-separated words (copies). */
static size_t split_words(const char *v, char **w, size_t max)
{
    size_t n = 0;
    while (*v) {
        while (*v == ' ' || *v == '\t')
            v++;
        if (!*v)
            break;
        const char *s = v;
        while (*v && *v != ' ' && *v != '\t')
            v++;
        if (n == max)
            return max + 1;
        w[n++] = wr_strndup(s, (size_t)(v - s));
    }
    return n;
}

static writ_status add_route(srv_config *c, const char *v, writ_error *err)
{
    char *w[6] = {0};
    size_t n = split_words(v, w, 6);
    writ_status st = WRIT_OK;
    if (n != 5 && n != 6) {
        st = wr_error(
            err, WRIT_EINVAL,
            "route: expected METHOD PATTERN ACTION RESOURCE_TYPE RESOURCE_ID [DESTINATION], got '%s'", v);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (!w[i]) {
            st = wr_error(err, WRIT_ENOMEM, "out of memory");
            goto out;
        }
    if (w[1][0] != '/') {
        st = wr_error(err, WRIT_EINVAL, "route: pattern must start with '/': '%s'", w[1]);
        goto out;
    }
    if (n == 6) {
        /* lower case, as every destination Writ compares */
        for (char *p = w[5]; *p; p++) {
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
            else if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("._-:/", *p))) {
                st = wr_error(err, WRIT_EINVAL,
                              "route: destination '%s' may hold only letters, digits and . _ - : /", w[5]);
                goto out;
            }
        }
        if (strlen(w[5]) > 128) {
            st = wr_error(err, WRIT_EINVAL, "route: destination longer than 128 bytes");
            goto out;
        }
    }
    srv_route check = {w[0], w[1], w[2], w[3], w[4], w[5]};
    if ((st = route_check(&check, err)) != WRIT_OK)
        goto out;
    if (c->nroutes >= SRV_MAX_ROUTES) {
        st = wr_error(err, WRIT_ELIMIT, "route: more than %s routes", "1024");
        goto out;
    }
    srv_route *r = wr_realloc(c->routes, (c->nroutes + 1) * sizeof *r);
    if (!r) {
        st = wr_error(err, WRIT_ENOMEM, "out of memory");
        goto out;
    }
    c->routes = r;
    r[c->nroutes++] = (srv_route){w[0], w[1], w[2], w[3], w[4], w[5]};
    return WRIT_OK;
out:
    for (size_t i = 0; i < 6; i++)
        wr_free(w[i]);
    return st;
}

static char *resolve_path(const char *v, const char *base_dir);

static writ_status add_trust(srv_config *c, ck_kind kind, const char *v, const char *base_dir,
                             writ_error *err)
{
    bool oidc = kind == CK_TRUST_OIDC;
    const char *key = oidc ? "identity_oidc" : kind == CK_TLS_CA ? "tls_client_ca" : "identity_spiffe";
    srv_trust **list = kind == CK_TLS_CA ? &c->tls_ca : &c->trust;
    size_t *count = kind == CK_TLS_CA ? &c->ntls_ca : &c->ntrust;
    char *w[3] = {0};
    size_t n = split_words(v, w, 3);
    writ_status st = WRIT_OK;
    char *path = NULL;
    if (n != 2 && !(oidc && n == 3)) {
        st = wr_error(err, WRIT_EINVAL, "%s: expected %s, got '%s'", key,
                      oidc ? "ISSUER FILE [PRINCIPAL_TYPE]" : "TRUST_DOMAIN FILE", v);
        goto out;
    }
    if (n == 3 && (!w[2] || !writ_principal_type_ok(w[2]))) {
        st = wr_error(err, w[2] ? WRIT_EINVAL : WRIT_ENOMEM,
                      "%s: principal type '%s' is not a Cedar type name (identifiers joined by '::')", key,
                      w[2] ? w[2] : "");
        goto out;
    }
    if (!w[0] || !w[1] || !(path = resolve_path(w[1], base_dir))) {
        st = wr_error(err, WRIT_ENOMEM, "out of memory");
        goto out;
    }
    if (*count >= SRV_MAX_TRUST) {
        st = wr_error(err, WRIT_ELIMIT, "%s: more than %s entries", key, "64");
        goto out;
    }
    srv_trust *t = wr_realloc(*list, (*count + 1) * sizeof *t);
    if (!t) {
        st = wr_error(err, WRIT_ENOMEM, "out of memory");
        goto out;
    }
    *list = t;
    t[(*count)++] = (srv_trust){oidc, w[0], path, w[2]};
    wr_free(w[1]);
    return WRIT_OK;
out:
    wr_free(path);
    wr_free(w[0]);
    wr_free(w[1]);
    wr_free(w[2]);
    return st;
}

static bool mcp_name_ok(const char *n)
{
    if (!n || !*n || strlen(n) > 64)
        return false;
    for (; *n; n++)
        if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') || (*n >= '0' && *n <= '9') || *n == '_' ||
              *n == '-' || *n == '.'))
            return false;
    return true;
}

static void free_words(char **w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        wr_free(w[i]);
}

static writ_status add_mcp_up(srv_config *c, const char *v, writ_error *err)
{
    enum { MAXW = 64 };
    char *w[MAXW] = {0};
    size_t n = split_words(v, w, MAXW);
    writ_status st = WRIT_OK;
    if (n > MAXW) {
        free_words(w, MAXW);
        return wr_error(err, WRIT_ELIMIT, "mcp_upstream: more than 62 arguments");
    }
    for (size_t i = 0; i < n; i++)
        if (!w[i]) {
            st = wr_error(err, WRIT_ENOMEM, "out of memory");
            goto out;
        }
    bool stdio = n >= 3 && !strcmp(w[1], "stdio");
    if (!(n == 2 || stdio)) {
        st = wr_error(err, WRIT_EINVAL, "mcp_upstream: expected NAME URL or NAME stdio CMD ARG..., got '%s'",
                      v);
        goto out;
    }
    if (!mcp_name_ok(w[0])) {
        st = wr_error(err, WRIT_EINVAL,
                      "mcp_upstream: name '%s' may hold only letters, digits, '_', '-' and '.' (1 to 64)",
                      w[0]);
        goto out;
    }
    if (!stdio && strncmp(w[1], "http://", 7) != 0 && strncmp(w[1], "https://", 8) != 0) {
        st = wr_error(err, WRIT_EINVAL,
                      "mcp_upstream %s: '%s' is not an http:// or https:// URL (or 'stdio')", w[0], w[1]);
        goto out;
    }
    for (size_t i = 0; i < c->nmcp_up; i++)
        if (!strcmp(c->mcp_up[i].name, w[0])) {
            st = wr_error(err, WRIT_EINVAL, "mcp_upstream: '%s' is named twice", w[0]);
            goto out;
        }
    if (c->nmcp_up >= SRV_MAX_MCP) {
        st = wr_error(err, WRIT_ELIMIT, "mcp_upstream: more than 256");
        goto out;
    }
    srv_mcp_upstream *u = wr_realloc(c->mcp_up, (c->nmcp_up + 1) * sizeof *u);
    char **argv = stdio ? wr_calloc(n - 1, sizeof *argv) : NULL;
    if (u)
        c->mcp_up = u;
    if (!u || (stdio && !argv)) {
        wr_free(argv);
        st = wr_error(err, WRIT_ENOMEM, "out of memory");
        goto out;
    }
    srv_mcp_upstream *e = &c->mcp_up[c->nmcp_up++];
    memset(e, 0, sizeof *e);
    e->name = w[0];
    if (stdio) {
        wr_free(w[1]);
        for (size_t i = 2; i < n; i++)
            argv[i - 2] = w[i];
        argv[n - 2] = NULL;
        e->argv = argv;
        e->argc = n - 2;
    } else {
        e->url = w[1];
    }
    return WRIT_OK;
out:
    free_words(w, n);
    return st;
}

static writ_status add_mcp_cred(srv_config *c, const char *v, const char *base_dir, writ_error *err)
{
    char *w[4] = {0};
    size_t n = split_words(v, w, 4);
    writ_status st = WRIT_OK;
    bool over = n > 4;
    if (over)
        n = 4;
    for (size_t i = 0; i < n; i++)
        if (!w[i]) {
            st = wr_error(err, WRIT_ENOMEM, "out of memory");
            goto out;
        }
    bool hdr = !over && n == 4 && !strcmp(w[1], "header"), tok = !over && n == 3 && !strcmp(w[1], "token");
    if (!hdr && !tok) {
        st = wr_error(err, WRIT_EINVAL,
                      "mcp_credential: expected NAME header HEADER FILE or NAME token AUDIENCE, got '%s'", v);
        goto out;
    }
    if (!mcp_name_ok(w[0])) {
        st = wr_error(err, WRIT_EINVAL, "mcp_credential: '%s' is not an upstream name", w[0]);
        goto out;
    }
    if (hdr) {
        for (const char *p = w[2]; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                  *p == '-' || *p == '_')) {
                st = wr_error(err, WRIT_EINVAL, "mcp_credential %s: '%s' is not a header name", w[0], w[2]);
                goto out;
            }
    }
    for (size_t i = 0; i < c->nmcp_cred; i++)
        if (!strcmp(c->mcp_cred[i].name, w[0])) {
            st = wr_error(err, WRIT_EINVAL, "mcp_credential: '%s' has a credential already", w[0]);
            goto out;
        }
    if (c->nmcp_cred >= SRV_MAX_MCP) {
        st = wr_error(err, WRIT_ELIMIT, "mcp_credential: more than 256");
        goto out;
    }
    char *path = hdr ? resolve_path(w[3], base_dir) : NULL;
    srv_mcp_cred *r = (hdr && !path) ? NULL : wr_realloc(c->mcp_cred, (c->nmcp_cred + 1) * sizeof *r);
    if (!r) {
        wr_free(path);
        st = wr_error(err, WRIT_ENOMEM, "out of memory");
        goto out;
    }
    c->mcp_cred = r;
    srv_mcp_cred *e = &r[c->nmcp_cred++];
    memset(e, 0, sizeof *e);
    e->name = w[0];
    e->token = tok;
    wr_free(w[1]);
    if (hdr) {
        e->header = w[2];
        e->path = path;
        wr_free(w[3]);
    } else {
        e->audience = w[2];
    }
    return WRIT_OK;
out:
    free_words(w, n);
    return st;
}

static char *resolve_path(const char *v, const char *base_dir)
{
    if (!*v || v[0] == '/' || !base_dir || !*base_dir)
        return dup(v);
    size_t bn = strlen(base_dir), vn = strlen(v);
    char *p = wr_malloc(bn + vn + 2);
    if (!p)
        return NULL;
    memcpy(p, base_dir, bn);
    p[bn] = '/';
    memcpy(p + bn + 1, v, vn + 1);
    return p;
}

/* Can the file format hold value?  (The file trims it and ends it at '#'
 * or a line break; the other forms must not say more than a file can.) */
static writ_status check_value(const char *key, const char *value, writ_error *err)
{
    for (size_t i = 0; value[i]; i++) {
        unsigned char ch = (unsigned char)value[i];
        if (ch == '#')
            return wr_error(err, WRIT_EINVAL,
                            "%s: '#' at offset %zu of the value (it starts a comment in a config file)", key,
                            i);
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return wr_error(err, WRIT_EINVAL, "%s: control character 0x%02x at offset %zu of the value", key,
                            ch, i);
    }
    return WRIT_OK;
}

static writ_status set_value(srv_config *c, const ck_key *k, const char *key, const char *value,
                             const char *base_dir, writ_error *err);

writ_status srv_config_set(srv_config *c, const char *key, const char *value, const char *base_dir,
                           writ_error *err)
{
    const ck_key *k = find_key(key, strlen(key));
    if (!k) {
        char hint[96];
        suggest_key(key, strlen(key), false, hint, sizeof hint);
        return wr_error(err, WRIT_EINVAL, "unknown setting '%s'%s", key, hint);
    }
    writ_status st = check_value(key, value, err);
    if (st)
        return st;
    /* values are trimmed, as a file's are */
    size_t b = 0, e = strlen(value);
    while (value[b] == ' ' || value[b] == '\t')
        b++;
    while (e > b && (value[e - 1] == ' ' || value[e - 1] == '\t'))
        e--;
    if (b == 0 && !value[e])
        return set_value(c, k, key, value, base_dir, err);
    char *v = wr_strndup(value + b, e - b);
    if (!v)
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    st = set_value(c, k, key, v, base_dir, err);
    wr_free(v);
    return st;
}

static writ_status set_value(srv_config *c, const ck_key *k, const char *key, const char *value,
                             const char *base_dir, writ_error *err)
{
    void *slot = (char *)c + k->off;
    uint64_t x;
    switch (k->kind) {
    case CK_STR:
    case CK_PATH: {
        char *v = k->kind == CK_PATH ? resolve_path(value, base_dir) : dup(value);
        if (!v)
            return wr_error(err, WRIT_ENOMEM, "out of memory");
        set_str((char **)slot, v);
        return WRIT_OK;
    }
    case CK_U32:
    case CK_U64:
        if (parse_u64(value, k->min, k->max ? k->max : UINT32_MAX, &x))
            return wr_error(err, WRIT_EINVAL, "%s: not a number in range %llu..%llu: '%s'", key,
                            (unsigned long long)k->min, (unsigned long long)(k->max ? k->max : UINT32_MAX),
                            value);
        if (k->kind == CK_U32)
            *(uint32_t *)slot = (uint32_t)x;
        else
            *(uint64_t *)slot = x;
        return WRIT_OK;
    case CK_DURATION:
        if (srv_duration_parse(value, k->min, k->max, &x))
            return wr_error(err, WRIT_EINVAL,
                            "%s: expected seconds or a number with s, m, h or d, from %llus to %llus: '%s'",
                            key, (unsigned long long)k->min, (unsigned long long)k->max, value);
        *(uint32_t *)slot = (uint32_t)x;
        return WRIT_OK;
    case CK_BOOL:
        if (!strcmp(value, "true") || !strcmp(value, "on") || !strcmp(value, "yes") || !strcmp(value, "1"))
            *(bool *)slot = true;
        else if (!strcmp(value, "false") || !strcmp(value, "off") || !strcmp(value, "no") ||
                 !strcmp(value, "0"))
            *(bool *)slot = false;
        else
            return wr_error(err, WRIT_EINVAL, "%s: expected true or false, got '%s'", key, value);
        return WRIT_OK;
    case CK_LISTEN:
        return parse_listen(c, value, err);
    case CK_ROUTE:
        return add_route(c, value, err);
    case CK_MCP_UP:
        return add_mcp_up(c, value, err);
    case CK_MCP_CRED:
        return add_mcp_cred(c, value, base_dir, err);
    case CK_LIMIT:
        return add_limit(c, value, err);
    case CK_TRUST_SPIFFE:
    case CK_TRUST_OIDC:
    case CK_TLS_CA:
        return add_trust(c, k->kind, value, base_dir, err);
    }
    return wr_error(err, WRIT_EINVAL, "unknown setting '%s'", key);
}

static char *trim(char *s, char *end)
{
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        end--;
    *end = '\0';
    return s;
}

/* err's line:col: the value of member key (its item i, unless SIZE_MAX), or
 * with at_key the member's name. */
static void json_at(const char *text, size_t len, const char *key, size_t i, bool at_key, writ_error *err)
{
    wr_jpos_step path[2] = {{key, 0}, {NULL, i}};
    size_t off = wr_jpos_find(text, len, path, i == SIZE_MAX ? 1 : 2, at_key);
    cedar_text_position(text, len, off, &err->line, &err->col);
}

static writ_status load_json(srv_config *c, const char *text, size_t len, const char *base_dir,
                             writ_error *err)
{
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        if (err) {
            memset(err, 0, sizeof *err);
            err->code = WRIT_EJSON;
            err->line = (uint32_t)(je.line > 0 ? je.line : 0);
            err->col = (uint32_t)(je.column > 0 ? je.column : 0);
            snprintf(err->msg, sizeof err->msg, "config: %s", j ? "expected a JSON object" : je.text);
        }
        return WRIT_EJSON;
    }
    writ_status st = WRIT_OK;
    const char *key;
    json_t *v;
    char num[32];
    json_object_foreach(j, key, v)
    {
        json_t *items = json_is_array(v) ? v : NULL;
        size_t n = items ? json_array_size(items) : 1;
        if (items && (!find_key(key, strlen(key)) || (find_key(key, strlen(key))->kind != CK_ROUTE &&
                                                      find_key(key, strlen(key))->kind != CK_TRUST_SPIFFE &&
                                                      find_key(key, strlen(key))->kind != CK_TRUST_OIDC &&
                                                      find_key(key, strlen(key))->kind != CK_TLS_CA &&
                                                      find_key(key, strlen(key))->kind != CK_MCP_UP &&
                                                      find_key(key, strlen(key))->kind != CK_LIMIT &&
                                                      find_key(key, strlen(key))->kind != CK_MCP_CRED))) {
            st = wr_error(err, WRIT_EJSON, "config: '%s' takes one value, not a list", key);
            if (err)
                json_at(text, len, key, SIZE_MAX, !find_key(key, strlen(key)), err);
            break;
        }
        for (size_t i = 0; i < n && !st; i++) {
            json_t *x = items ? json_array_get(items, i) : v;
            const char *s;
            if (json_is_string(x))
                s = json_string_value(x);
            else if (json_is_true(x))
                s = "true";
            else if (json_is_false(x))
                s = "false";
            else if (json_is_integer(x)) {
                snprintf(num, sizeof num, "%lld", (long long)json_integer_value(x));
                s = num;
            } else {
                st = wr_error(err, WRIT_EJSON, "config: '%s' must be a string, number or boolean", key);
                if (err)
                    json_at(text, len, key, items ? i : SIZE_MAX, false, err);
                break;
            }
            st = srv_config_set(c, key, s, base_dir, err);
            if (st && err) /* where: the value, or the name of a member that is no setting */
                json_at(text, len, key, items ? i : SIZE_MAX, !find_key(key, strlen(key)), err);
        }
        if (st)
            break;
    }
    json_decref(j);
    return st;
}

/* A key that holds one value (a list key, such as route, takes many). */
static bool one_value(ck_kind k)
{
    return k == CK_STR || k == CK_PATH || k == CK_U32 || k == CK_U64 || k == CK_BOOL || k == CK_LISTEN ||
           k == CK_DURATION;
}

writ_status srv_config_load_text(srv_config *c, const char *text, size_t len, const char *base_dir,
                                 writ_error *err)
{
    if (len > SRV_CONFIG_MAX_BYTES)
        return wr_error(err, WRIT_ELIMIT, "config: larger than %u bytes", (unsigned)SRV_CONFIG_MAX_BYTES);
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) { /* a UTF-8 byte order mark: an editor's, not a key's */
        text += 3;
        len -= 3;
    }
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
        i++;
    if (i < len && text[i] == '{')
        return load_json(c, text, len, base_dir, err);
    if (memchr(text, '\0', len))
        return wr_error(err, WRIT_EINVAL, "config: NUL byte in file");
    char *copy = wr_strndup(text, len);
    if (!copy)
        return wr_error(err, WRIT_ENOMEM, "out of memory");
    writ_status st = WRIT_OK;
    uint32_t lineno = 0, seen[NKEYS] = {0}; /* the line that set each one-value key */
    bool file_routes = false;
    char *line = copy, *end = copy + len;
    while (line < end && !st) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        char *stop = nl ? nl : end;
        lineno++;
        char *hash = memchr(line, '#', (size_t)(stop - line));
        char *s = trim(line, hash ? hash : stop);
        if (*s) {
            char *eq = strchr(s, '=');
            if (!eq) {
                st = wr_error(err, WRIT_EINVAL, "config: expected 'key = value', got '%s'", s);
            } else {
                char *k = trim(s, eq);
                char *v = trim(eq + 1, eq + 1 + strlen(eq + 1));
                if (!strcmp(k, "route") && !file_routes) {
                    free_routes(c); /* a file's routes replace the defaults */
                    file_routes = true;
                }
                const ck_key *ck = find_key(k, strlen(k));
                size_t ki = ck ? (size_t)(ck - keys) : 0;
                if (ck && one_value(ck->kind) && seen[ki]) {
                    st = wr_error(err, WRIT_EINVAL, "config: '%s' set twice (lines %u and %u): keep one", k,
                                  (unsigned)seen[ki], (unsigned)lineno);
                } else {
                    if (ck)
                        seen[ki] = lineno;
                    c->loading_line = lineno;
                    st = srv_config_set(c, k, v, base_dir, err);
                    c->loading_line = 0;
                }
            }
            if (st && err)
                err->line = lineno;
        }
        line = stop + 1;
    }
    wr_free(copy);
    return st;
}

writ_status srv_config_load(srv_config *c, const char *path, writ_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return wr_error(err, WRIT_EIO, "config %s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    writ_status st = WRIT_OK;
    for (;;) {
        if (len > SRV_CONFIG_MAX_BYTES) {
            st = wr_error(err, WRIT_ELIMIT, "config %s: larger than %u bytes", path,
                          (unsigned)SRV_CONFIG_MAX_BYTES);
            break;
        }
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            char *nb = wr_realloc(buf, cap);
            if (!nb) {
                st = wr_error(err, WRIT_ENOMEM, "out of memory");
                break;
            }
            buf = nb;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0)
            break;
    }
    if (!st && ferror(f))
        st = wr_error(err, WRIT_EIO, "config %s: read error", path);
    fclose(f);
    if (!st) {
        const char *slash = strrchr(path, '/');
        char *dir = slash ? wr_strndup(path, (size_t)(slash - path + (slash == path))) : NULL;
        st = srv_config_load_text(c, buf ? buf : "", len, dir, err);
        if (st && err) {
            char m[sizeof err->msg + 300];
            if (err->line && err->col)
                snprintf(m, sizeof m, "%s:%u:%u: %s", path, err->line, err->col, err->msg);
            else if (err->line)
                snprintf(m, sizeof m, "%s:%u: %s", path, err->line, err->msg);
            else
                snprintf(m, sizeof m, "%s: %s", path, err->msg);
            copy_msg(err->msg, sizeof err->msg, m);
        }
        wr_free(dir);
    }
    wr_free(buf);
    return st;
}

writ_status srv_config_args(srv_config *c, int argc, char **argv, bool *help, writ_error *err)
{
    *help = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc)
                return wr_error(err, WRIT_EINVAL, "--config needs a file");
            writ_status st = srv_config_load(c, argv[i + 1], err);
            if (st)
                return st;
            wr_free(c->config_path);
            if (!(c->config_path = dup(argv[i + 1])))
                return wr_error(err, WRIT_ENOMEM, "out of memory");
        }
    }
    bool flag_routes = false, flag_limits = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = true;
            return WRIT_OK;
        }
        if (!strcmp(a, "--config")) {
            i++;
            continue;
        }
        if (strncmp(a, "--", 2) != 0)
            return wr_error(err, WRIT_EINVAL, "unexpected argument '%s'", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t n = eq ? (size_t)(eq - name) : strlen(name);
        char key[64];
        if (n >= sizeof key)
            return wr_error(err, WRIT_EINVAL, "unknown flag '%s'", a);
        memcpy(key, name, n);
        key[n] = '\0';
        const ck_key *k = find_key(key, n);
        if (!k) {
            char hint[96];
            suggest_key(key, n, true, hint, sizeof hint);
            return wr_error(err, WRIT_EINVAL, "unknown flag '%s'%s", a, hint);
        }
        const char *v;
        if (eq)
            v = eq + 1;
        else if (k->kind == CK_BOOL && (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0))
            v = "true";
        else if (i + 1 < argc)
            v = argv[++i];
        else
            return wr_error(err, WRIT_EINVAL, "%s needs a value", a);
        if (k->kind == CK_ROUTE && !flag_routes) {
            free_routes(c);
            flag_routes = true;
            c->routes_from_flags = true;
        }
        if (k->kind == CK_LIMIT && !flag_limits) {
            free_limits(c); /* the flags' limits replace the file's */
            flag_limits = true;
            c->limits_from_flags = true;
        }
        writ_status st = srv_config_set(c, k->name, v, NULL, err);
        if (st)
            return st;
    }
    return WRIT_OK;
}

writ_status srv_config_check(const srv_config *c, writ_error *err)
{
    if (!c->policies || !*c->policies)
        return wr_error(
            err, WRIT_EINVAL,
            "no policies: pass --policies FILE (with --entities FILE and --schema FILE as needed) or "
            "--config FILE naming them; scripts/start.sh runs the examples/ set");
    if (c->ns && *c->ns && !writ_name_ok(c->ns, strlen(c->ns)))
        return wr_error(err, WRIT_EINVAL, "namespace '%s' is not a Cedar name (Ident or Ident::Ident...)", c->ns);
    if (c->check_principal_type && *c->check_principal_type &&
        !writ_name_ok(c->check_principal_type, strlen(c->check_principal_type)))
        return wr_error(err, WRIT_EINVAL, "check_principal_type '%s' is not a Cedar type name",
                        c->check_principal_type);
    if (!c->actor_audience || !*c->actor_audience || !c->identity_audience ||
        !strcmp(c->actor_audience, c->identity_audience))
        return wr_error(err, WRIT_EINVAL,
                        "actor_audience must be set and differ from identity_audience ('%s'): a delegation's "
                        "actor token must not be good for start_task too",
                        c->identity_audience ? c->identity_audience : "");
    return WRIT_OK;
}

void srv_config_print(const srv_config *c, FILE *f)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const ck_key *k = &keys[i];
        const void *slot = (const char *)c + k->off;
        switch (k->kind) {
        case CK_STR:
        case CK_PATH:
            fprintf(f, "%s = %s\n", k->name, *(char *const *)slot ? *(char *const *)slot : "");
            break;
        case CK_U32:
        case CK_DURATION:
            fprintf(f, "%s = %u\n", k->name, (unsigned)*(const uint32_t *)slot);
            break;
        case CK_U64:
            fprintf(f, "%s = %llu\n", k->name, (unsigned long long)*(const uint64_t *)slot);
            break;
        case CK_BOOL:
            fprintf(f, "%s = %s\n", k->name, *(const bool *)slot ? "true" : "false");
            break;
        case CK_LISTEN:
            fprintf(f, strchr(c->listen_host, ':') ? "%s = [%s]:%u\n" : "%s = %s:%u\n", k->name,
                    c->listen_host, (unsigned)c->listen_port);
            break;
        case CK_ROUTE:
            for (size_t r = 0; r < c->nroutes; r++)
                fprintf(f, "route = %s %s %s %s %s%s%s\n", c->routes[r].method, c->routes[r].pattern,
                        c->routes[r].action, c->routes[r].rtype, c->routes[r].rid,
                        c->routes[r].destination ? " " : "",
                        c->routes[r].destination ? c->routes[r].destination : "");
            break;
        case CK_TRUST_SPIFFE:
        case CK_TRUST_OIDC:
            for (size_t t = 0; t < c->ntrust; t++)
                if (c->trust[t].oidc == (k->kind == CK_TRUST_OIDC))
                    fprintf(f, "%s = %s %s%s%s\n", k->name, c->trust[t].name, c->trust[t].path,
                            c->trust[t].ptype ? " " : "", c->trust[t].ptype ? c->trust[t].ptype : "");
            break;
        case CK_TLS_CA:
            for (size_t t = 0; t < c->ntls_ca; t++)
                fprintf(f, "%s = %s %s\n", k->name, c->tls_ca[t].name, c->tls_ca[t].path);
            break;
        case CK_MCP_UP:
            for (size_t t = 0; t < c->nmcp_up; t++) {
                fprintf(f, "%s = %s", k->name, c->mcp_up[t].name);
                if (c->mcp_up[t].url)
                    fprintf(f, " %s", c->mcp_up[t].url);
                else {
                    fputs(" stdio", f);
                    for (size_t a = 0; a < c->mcp_up[t].argc; a++)
                        fprintf(f, " %s", c->mcp_up[t].argv[a]);
                }
                fputc('\n', f);
            }
            break;
        case CK_LIMIT:
            for (size_t t = 0; t < c->nlimits; t++)
                fprintf(f, "%s = %s\n", k->name, c->limits[t]);
            break;
        case CK_MCP_CRED:
            for (size_t t = 0; t < c->nmcp_cred; t++) {
                const srv_mcp_cred *m = &c->mcp_cred[t];
                if (m->token)
                    fprintf(f, "%s = %s token %s\n", k->name, m->name, m->audience);
                else
                    fprintf(f, "%s = %s header %s %s\n", k->name, m->name, m->header, m->path);
            }
            break;
        }
    }
}

void srv_config_usage(FILE *f)
{
    for (size_t i = 0; i < NKEYS; i++) {
        char flag[64];
        size_t n = strlen(keys[i].name);
        for (size_t j = 0; j <= n; j++)
            flag[j] = keys[i].name[j] == '_' ? '-' : keys[i].name[j];
        fprintf(f, "  --%-24s %s\n", flag, keys[i].doc);
    }
}
