/* cmd_mcp.c - `writ mcp schema NAME|URL`: ask an MCP upstream for its tools
 * (initialize, notifications/initialized, tools/list through the gateway's
 * own transports, upstream.h) and print the Cedar schema fragment
 * (toolschema.h) that declares its McpServer and one action per tool. */
#include "cli/cli.h"
#include "mcp/ask.h"
#include "mcp/toolschema.h"
#include "mcp/upstream.h"
#include "server/config.h"
#include "util/alloc.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static void usage(FILE *f)
{
    fputs("usage: writ mcp schema NAME|URL [--config FILE] [--namespace NS] [--name NAME] [--standalone]\n"
          "                 [--header 'Name: value']...\n"
          "  Asks the MCP upstream (an mcp_upstream NAME of the config file, or a Streamable HTTP URL)\n"
          "  for its tools and prints a Cedar schema fragment: an McpServer entity and one action\n"
          "  \"NAME/TOOL\" per tool whose context.input is typed from the tool's inputSchema.\n"
          "  --namespace (default Writ; empty: none), --standalone also declares Agent.\n",
          f);
}

static int schema(int argc, char **argv)
{
    const char *target = NULL, *ns = "Writ", *name = NULL, *conf = NULL;
    bool standalone = false;
    const char *hdrs[16];
    size_t nh = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp(a, "--config") && more)
            conf = argv[++i];
        else if (!strcmp(a, "--namespace") && more)
            ns = argv[++i];
        else if (!strcmp(a, "--name") && more)
            name = argv[++i];
        else if (!strcmp(a, "--header") && more && nh < 16)
            hdrs[nh++] = argv[++i];
        else if (!strcmp(a, "--standalone"))
            standalone = true;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (a[0] != '-' && !target)
            target = a;
        else {
            fprintf(stderr, "writ mcp schema: unexpected argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!target) {
        usage(stderr);
        return 2;
    }
    srv_config cfg;
    srv_config_defaults(&cfg);
    writ_error err;
    memset(&err, 0, sizeof err);
    int rc = 1;
    mcp_upstream *u = NULL;
    bool url = !strncmp(target, "http://", 7) || !strncmp(target, "https://", 8);
    if (conf && srv_config_load(&cfg, conf, &err)) {
        fprintf(stderr, "writ mcp schema: %s\n", err.msg);
        srv_config_free(&cfg);
        return 2;
    }
    writ_status st;
    if (url) {
        st = mcp_upstream_http_open(name ? name : "upstream", target, NULL, &u, &err);
        if (!name)
            name = "upstream";
    } else {
        const srv_mcp_upstream *m = NULL;
        for (size_t i = 0; i < cfg.nmcp_up; i++)
            if (!strcmp(cfg.mcp_up[i].name, target))
                m = &cfg.mcp_up[i];
        if (!m) {
            fprintf(stderr, "writ mcp schema: no mcp_upstream named '%s'%s\n", target,
                    conf ? " in the config file" : " (give --config FILE, or a URL)");
            srv_config_free(&cfg);
            return 2;
        }
        name = m->name;
        st = m->url ? mcp_upstream_http_open(m->name, m->url, NULL, &u, &err)
                    : mcp_upstream_stdio_open(m->name, (const char *const *)m->argv, NULL, &u, &err);
    }
    if (st) {
        fprintf(stderr, "writ mcp schema: %s\n", err.msg);
        srv_config_free(&cfg);
        return 1;
    }
    char why[200] = "", sid[256] = "";
    mcp_ask_opts o = {.headers = hdrs, .nheaders = nh};
    json_t *init = mcp_ask(u,
                           "{\"jsonrpc\":\"2.0\",\"id\":\"writ-init\",\"method\":\"initialize\",\"params\":{"
                           "\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":"
                           "\"writ-mcp-schema\",\"version\":\"1\"}}}",
                           "writ-init", &o, sid, why, sizeof why);
    if (!init || !json_object_get(init, "result")) {
        fprintf(stderr, "writ mcp schema: initialize failed: %s\n", init ? "an error answer" : why);
        json_decref(init);
        goto out;
    }
    json_decref(init);
    o.session_id = sid[0] ? sid : NULL;
    o.protocol_version = sid[0] ? "2025-06-18" : NULL;
    /* a notification: no answer (202), so "no answer with id" is no error */
    json_decref(mcp_ask(u, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", "", &o, NULL,
                        why, sizeof why));
    json_t *res = mcp_ask_tools(u, &o, 100, why, sizeof why);
    if (!res) {
        fprintf(stderr, "writ mcp schema: tools/list failed: %s\n", why);
    } else {
        mcp_toolschema_opts to = {ns, standalone};
        char *text = NULL;
        size_t len = 0;
        if (mcp_toolschema(res, name, &to, &text, &len, &err))
            fprintf(stderr, "writ mcp schema: %s\n", err.msg);
        else {
            fwrite(text, 1, len, stdout);
            rc = 0;
        }
        wr_free(text);
    }
    json_decref(res);
out:
    mcp_upstream_close(u);
    srv_config_free(&cfg);
    return rc;
}

int cmd_mcp(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "schema"))
        return schema(argc - 1, argv + 1);
    usage(argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? stdout : stderr);
    return argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? 0 : 2;
}
