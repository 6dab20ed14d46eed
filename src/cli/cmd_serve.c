/* cmd_serve.c - `writ serve`: run the HTTP decision point. */
#include "cli/cli.h"
#include "mcp/gateway.h"
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
        fprintf(stderr, "writ serve: %s\n", err.msg);
        usage(stderr);
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
    } else if (cfg.nmcp_up > 0) {
        /* the MCP gateway's routes (cli -> mcp -> server) */
        mcp_gw *g = NULL;
        if (mcp_gateway_open(&cfg, &g, &err)) {
            fprintf(stderr, "writ serve: %s\n", err.msg);
            rc = 2;
        } else {
            rc = srv_run_ext(&cfg, mcp_gateway_ext(g));
            mcp_gateway_close(g);
        }
    } else {
        rc = srv_run(&cfg);
    }
    srv_config_free(&cfg);
    return rc;
}
