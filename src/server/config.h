/* config.h - `writ serve` settings: defaults, a config file, flags.
 *
 * Every setting has a key; the file says `key = value` per line (`#`
 * comments) or is one JSON object with the same keys; every key is also a
 * flag `--key value` (dashes or underscores).  Precedence: defaults, then the
 * file named by --config, then the other flags.  Paths in a file are relative
 * to the file's folder.  examples/writ.conf documents every key and default.
 * The struct owns its strings (srv_config_free). */
#ifndef WRIT_SERVER_CONFIG_H
#define WRIT_SERVER_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "writ/writ.h"

/* One row of the /authz/check route table:
 *   route = METHOD PATTERN ACTION RESOURCE_TYPE RESOURCE_ID [DESTINATION]
 * METHOD is a method or `*`; PATTERN is a path of literal segments,
 * `{name}` (one segment, captured) and a final `*` (any rest, captured as
 * {*}); RESOURCE_ID may use the captures, e.g. `{repo}`.  Query strings are
 * ignored.  First match wins; no match is a deny.  DESTINATION (lower
 * case, normalised) is the request's `destination` fact; without it, a
 * trusted proxy's X-Writ-Destination or destination_default. */
typedef struct srv_route {
    char *method;
    char *pattern;
    char *action;
    char *rtype;
    char *rid;
    char *destination; /* NULL = none */
} srv_route;

#define SRV_MAX_ROUTES 1024

/* A trusted identity issuer for token exchange:
 *   identity_spiffe = TRUST_DOMAIN FILE     (a SPIFFE bundle: JWKS of JWT-SVID keys)
 *   identity_oidc   = ISSUER FILE [TYPE]    (an OIDC issuer's JWKS; TYPE = the Cedar principal
 *                                            type of its subjects, default User) */
typedef struct srv_trust {
    bool oidc;
    char *name;
    char *path;
    char *ptype; /* identity_oidc TYPE, or NULL */
} srv_trust;

#define SRV_MAX_TRUST 64

/* Client certificates (mTLS), repeatable:
 *   tls_client_ca = TRUST_DOMAIN FILE     (PEM roots of that SPIFFE trust domain's X.509-SVIDs)
 * The TLS layer only requests a certificate; every request that uses the
 * caller's certificate verifies it as an X.509-SVID against these roots
 * (the roots of the leaf's own trust domain only). */

/* MCP gateway (issue 9), repeatable:
 *   mcp_upstream   = NAME URL                 (Streamable HTTP)
 *   mcp_upstream   = NAME stdio CMD ARG...    (a process Writ spawns, no shell)
 *   mcp_credential = NAME header HEADER FILE  (HEADER: first line of FILE)
 *   mcp_credential = NAME token AUDIENCE      (a JWT Writ mints per call)
 * NAME: letters, digits, '_', '-', '.' (it is a path segment and an action
 * prefix). */
typedef struct srv_mcp_upstream {
    char *name;
    char *url;   /* NULL for stdio */
    char **argv; /* stdio: NULL-terminated; NULL for HTTP */
    size_t argc;
} srv_mcp_upstream;

typedef struct srv_mcp_cred {
    char *name;
    bool token;     /* minted JWT; else a header from a file */
    char *header;   /* header name (header kind) */
    char *path;     /* FILE (header kind) */
    char *audience; /* AUDIENCE (token kind) */
} srv_mcp_cred;

#define SRV_MAX_MCP 256

typedef struct srv_config {
    char *policies;             /* path, required ("" = none given: refused) */
    char *entities;             /* path, "" = none */
    char *schema;               /* path, "" = none */
    char *shadow_policies;      /* candidate policy set evaluated beside the live one, "" = none */
    char *listen_host;          /* numeric IPv4/IPv6 address */
    uint16_t listen_port;       /* 0 = any free port (see ready_file) */
    char *state_dir;
    char *ready_file;           /* "" = none; else "HOST:PORT\n" written when serving */
    uint32_t threads;           /* 0 = one per CPU */
    uint64_t max_body;          /* bytes of one request body */
    uint32_t max_batch;         /* evaluations in one batch request */
    uint32_t search_max_decisions; /* decisions one search request may make before it pages */
    uint32_t timeout;           /* idle timeout; also the most a request's headers or body take, seconds */
    uint32_t max_connections;
    uint32_t drain_timeout;     /* seconds to finish requests on shutdown */
    char *ns;                   /* Cedar namespace for AuthZEN types and actions, "" = none */
    bool validate;              /* validate requests against the schema */
    bool explain;               /* AuthZEN options.explain answered (quotes policy text) */
    bool audit;
    uint32_t audit_batch;       /* records per transaction */
    uint32_t audit_queue;       /* records waiting before requests wait */
    uint32_t audit_checkpoint_every; /* records between signed checkpoints */
    bool audit_fsync;           /* synchronous=FULL: every group commit fsynced */
    uint32_t audit_commit_delay_us; /* gather records this long before a small group commit */
    uint32_t reload_poll;       /* seconds between file checks, 0 = SIGHUP only */
    char *check_principal_header;  /* TESTS ONLY: trust this header as the agent id */
    char *check_principal_type;    /* entity type of the agent in checks */
    char *token_keys;           /* PEM signing key: verify (and later issue) task tokens, "" = none */
    char *token_jwks;           /* JWKS file to verify task tokens with, "" = none */
    char *token_issuer;
    char *token_audience;
    uint32_t token_leeway;      /* seconds of clock skew allowed */
    char *revocations;          /* revocation database, "" = STATE_DIR/writ.db */
    char *audit_sink;           /* "sqlite" or postgresql://... (src/store/audit_pg.c) */
    uint32_t audit_spool_max;   /* records spooled on disk while PostgreSQL is down */
    char *audit_spool_full;     /* "refuse" or "drop" */
    char *state;                /* shared state: "sqlite" or redis[s]://HOST:PORT[/DB] (docs/REPLICAS.md) */
    char *state_password_file;  /* Redis password (first line), "" = none */
    char *state_tls_ca;         /* rediss://: CA file, "" = the system's store */
    char *state_tls_cert;       /* rediss://: client certificate, "" = none */
    char *state_tls_key;        /* rediss://: its key */
    char *replica;              /* this replica's name in logs and metrics, "" = the host name */
    uint32_t state_stale_after; /* seconds without the shared state before tokens fail closed */
    uint32_t state_timeout_ms;  /* Redis: connect and command timeout */
    bool identity_allow_high_s; /* accept high-S ECDSA identity tokens (issuers that do not normalise) */
    char *identity_audience;    /* aud identity tokens must carry at /oauth2/token */
    char *actor_audience;       /* aud an actor token must carry there (and a subject token must not) */
    char *admin_token_file;     /* file holding the admin bearer secret, "" = no admin */
    uint32_t token_ttl;         /* default lifetime of issued task tokens, seconds */
    uint32_t token_max_ttl;     /* longest lifetime a client may ask for */
    size_t ntrust;
    srv_trust *trust;
    char *tls_cert;             /* PEM server certificate (chain): HTTPS, "" = plain HTTP */
    char *tls_key;              /* PEM private key of tls_cert */
    size_t ntls_ca;             /* tls_client_ca entries (name = trust domain, path = PEM roots) */
    srv_trust *tls_ca;
    char *trusted_proxies;     /* addresses / CIDR ranges whose forwarding headers count, "" = none */
    char *destination_default; /* the destination when none is established */
    size_t nroutes;
    srv_route *routes;
    bool routes_from_flags;     /* flags replace the file's routes */
    char *public_url;           /* the URL clients use ("" = http://LISTEN) */
    size_t nmcp_up;
    srv_mcp_upstream *mcp_up;
    bool mcp_context_values;    /* tools/call context straight into Cedar values (gateway.c) */
    bool forbid_error_denies;   /* a forbid that fails to evaluate denies (decide.c); false: skipped */
    uint32_t mcp_spin_us;       /* a lone MCP call's worker busy-waits this long before sleeping */
    uint32_t mcp_agent_requests; /* most /mcp/ requests of one agent open at once (0: max_connections / 4) */
    uint32_t mcp_idle_timeout;    /* seconds without a byte of an upstream's answer (mcp_up_limits.idle_ms) */
    uint32_t mcp_connect_timeout; /* seconds to connect to an upstream (mcp_up_limits.connect_ms) */
    uint64_t mcp_max_answer;      /* bytes of an answer read whole, of a stdio line kept */
    size_t nmcp_cred;
    srv_mcp_cred *mcp_cred;
    uint32_t approval_ttl;      /* seconds an approval lives from its request */
    uint32_t approval_keep;     /* seconds an ended approval is kept past its expiry, 0 = forever */
    uint32_t approval_max_pending; /* most approvals pending per agent, 0 = no cap */
    char *approval_webhook;     /* URL new pending approvals are POSTed to, "" = none */
    char *approval_webhook_secret_file; /* its signing secret, "" = STATE_DIR/webhook.secret */
    /* task-history limits (src/limits/): the lines as written, each
     * checked; limit_lines their line in the config file (0: a flag) */
    size_t nlimits;
    char **limits;
    uint32_t *limit_lines;
    bool limits_from_flags;     /* flags replace the file's limits (and SIGHUP keeps them) */
    uint32_t loading_line;      /* while a file is read: its line */
    char *config_path;          /* --config FILE, re-read for the limits on SIGHUP; NULL = none */
} srv_config;

/* The largest config file (either form). */
#define SRV_CONFIG_MAX_BYTES (1u << 20)

void srv_config_defaults(srv_config *c);
void srv_config_free(srv_config *c);
/* Set one key from text.  base_dir resolves relative paths (NULL = as is).
 * The value is trimmed of spaces and tabs; one that a config file could not
 * hold ('#', control characters) is refused. */
WRIT_MUST_CHECK writ_status srv_config_set(srv_config *c, const char *key, const char *value,
                                           const char *base_dir, writ_error *err);
/* Read a config file (key = value lines, or a JSON object). */
WRIT_MUST_CHECK writ_status srv_config_load(srv_config *c, const char *path, writ_error *err);
WRIT_MUST_CHECK writ_status srv_config_load_text(srv_config *c, const char *text, size_t len,
                                                 const char *base_dir, writ_error *err);
/* Apply command-line flags (argv[0] is the subcommand): --config F first,
 * then the rest.  *help is set by --help. */
WRIT_MUST_CHECK writ_status srv_config_args(srv_config *c, int argc, char **argv, bool *help, writ_error *err);
/* Can a server start on these settings?  Refuses a missing policy file
 * setting, naming how to pass one (there is no default set). */
WRIT_MUST_CHECK writ_status srv_config_check(const srv_config *c, writ_error *err);
/* A duration: seconds, or a number followed by s, m, h or d, within
 * [min, max] seconds.  WRIT_EINVAL otherwise. */
WRIT_MUST_CHECK writ_status srv_duration_parse(const char *v, uint64_t min, uint64_t max, uint64_t *out);
/* Write every key with its value, in the file format. */
void srv_config_print(const srv_config *c, FILE *f);
/* One line per key: name, default, meaning (for --help). */
void srv_config_usage(FILE *f);

#endif
