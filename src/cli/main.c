/* main.c - `writ`: dispatch to a subcommand. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

static const cli_command commands[] = {
    {"authorize", "decide one request: --policies F --request F [--entities F] [--schema F] [--explain]", cmd_authorize},
    {"conformance", "run Cedar conformance test files: [--root DIR] [--verbose] [--time] PATH...", cmd_conformance},
    {"test", "run policy test files: FILE... (cases: AuthZEN request, expected decision)", cmd_test},
    {"validate", "check policies against a schema: --schema F --policies F [--entities F]", cmd_validate},
    {"serve", "run the HTTP decision point (AuthZEN, proxy checks): [--config F] [--KEY VALUE]...", cmd_serve},
    {"audit", "the decision log: verify | tail [-n N] | query [filters]  [--state-dir D | --db F]", cmd_audit},
    {"token", "task tokens: mint | exchange | delegate | inspect | verify (see `writ token`)", cmd_token},
    {"keys", "signing keys: generate --out F [--alg ES256|EdDSA] | jwks --key F...", cmd_keys},
    {"mcp", "MCP upstreams: schema NAME|URL [--config F] [--namespace NS] (a Cedar schema fragment)", cmd_mcp},
    {"approvals", "approvals of a running server: list [--status S] | show ID | approve|deny ID [--reason R]",
     cmd_approvals},
    {"query", "what is allowed: subject|resource|action --policies F (--request F | --body J)", cmd_query},
    {"revoke", "revoke: --db F (--jti | --subtree | --task | --agent) VALUE [--until T]", cmd_revoke},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: writ <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "writ: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
