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

/* Read a whole file into a NUL-terminated malloc'd buffer; NULL with errno
 * set on failure.  Refuses files larger than max bytes (errno = EFBIG). */
char *cli_read_file(const char *path, size_t max, size_t *len);

#endif
