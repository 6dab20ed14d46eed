/* cmd_serve.c - `writ serve`: run the HTTP decision point with the modules
 * that plug into it (server.h: srv_ext), wired here, above them all:
 * approvals (src/approval), AuthZEN search (src/search) and, when upstreams
 * are configured, the MCP gateway (src/mcp). */
#include "approval/serve.h"
#include "cli/cli.h"
#include "mcp/gateway.h"
#include "search/serve.h"
#include "server/config.h"
#include "server/server.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fputs("usage: writ serve [--config FILE] [--print-config] [--KEY VALUE]...\n"
          "  Serves AuthZEN decisions (POST /access/v1/evaluation[s]), proxy checks\n"
          "  (/authz/check), /healthz and /metrics.  --policies FILE is required\n"
          "  (no default set; --entities and --schema only when given).  Defaults:\n"
          "  127.0.0.1:8180, state in ./writ-state ($XDG_STATE_HOME/writ when set).\n"
          "  SIGHUP reloads the policy files; SIGTERM/SIGINT drain and stop.\n"
          "  Every setting of the config file (see examples/writ.conf) is a flag:\n",
          f);
    srv_config_usage(f);
}

static int serve(const srv_config *cfg)
{
    wr_approvals_srv *ap = wr_approvals_srv_new();
    if (!ap) {
        fprintf(stderr, "writ serve: out of memory\n");
        return 1;
    }
    const srv_ext *mods[3];
    size_t n = 0;
    mods[n++] = wr_approvals_srv_ext(ap);
    mods[n++] = wr_search_srv_ext();
    mcp_gw *g = NULL;
    writ_error err;
    int rc;
    if (cfg->nmcp_up > 0 && mcp_gateway_open(cfg, &g, &err)) {
        fprintf(stderr, "writ serve: %s\n", err.msg);
        rc = 2;
    } else {
        if (g)
            mods[n++] = mcp_gateway_ext(g);
        rc = srv_run_ext(cfg, mods, n);
    }
    mcp_gateway_close(g);
    wr_approvals_srv_free(ap);
    return rc;
}

int cmd_serve(int argc, char **argv)
{
    srv_config cfg;
    srv_config_defaults(&cfg);
    bool print = false;
    /* --print-config is ours; the rest are settings. */
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && !strcmp(argv[i], "--print-config"))
            print = true;
        else
            argv[n++] = argv[i];
    }
    bool help;
    writ_error err;
    int rc;
    if (srv_config_args(&cfg, n, argv, &help, &err)) {
        /* the error alone: the 80 lines of settings would push it off the screen */
        fprintf(stderr, "writ serve: %s\n(writ serve --help lists every setting)\n", err.msg);
        rc = 2;
    } else if (help) {
        usage(stdout);
        rc = 0;
    } else if (print) {
        srv_config_print(&cfg, stdout);
        rc = 0;
    } else if (srv_config_check(&cfg, &err)) {
        fprintf(stderr, "writ serve: %s\n", err.msg);
        rc = 2;
    } else {
        rc = serve(&cfg);
    }
    srv_config_free(&cfg);
    return rc;
}
