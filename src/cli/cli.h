/* cli.h - the `writ` command's subcommands, one file each (cmd_*.c). */
#ifndef WRIT_CLI_CLI_H
#define WRIT_CLI_CLI_H

#include <stddef.h>

typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);   /* argv[0] is the subcommand name */
} cli_command;

int cmd_authorize(int argc, char **argv);
int cmd_conformance(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_token(int argc, char **argv);    /* cmd_token.c */
int cmd_keys(int argc, char **argv);     /* cmd_keys.c */
int cmd_revoke(int argc, char **argv);   /* cmd_revoke.c */
int cmd_mcp(int argc, char **argv);      /* cmd_mcp.c */
int cmd_approvals(int argc, char **argv); /* cmd_approvals.c */
int cmd_test(int argc, char **argv);     /* cmd_test.c */
int cmd_validate(int argc, char **argv); /* cmd_validate.c */
int cmd_query(int argc, char **argv);    /* cmd_query.c: AuthZEN search from files */

/* Read a whole file into a NUL-terminated malloc'd buffer; NULL with errno
 * set on failure.  Refuses files larger than max bytes (errno = EFBIG). */
char *cli_read_file(const char *path, size_t max, size_t *len);

/* Print "PREFIXPATH:LINE:COL: MESSAGE" (or "PREFIXPATH: MESSAGE" when the
 * error has no position) to stderr, the position once even when the
 * message starts with it. */
#include "writ/writ.h"
void cli_file_error(const char *prefix, const char *path, const writ_error *err);

/* Token commands' helpers (cmd_token.c, cmd_keys.c): read a file ("-" =
 * stdin) into a wr_malloc'd NUL-terminated buffer of at most max bytes;
 * load PEM signing keys, the first one active. */
char *cli_tok_read(const char *path, size_t max, size_t *len);
#include "writ/token.h"
writ_status cli_tok_load_keys(writ_keyring *kr, char **files, size_t n);

#endif
