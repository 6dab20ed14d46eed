/* util.c - small helpers shared by the subcommands. */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

char *cli_read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        fclose(f);
        errno = EISDIR;
        return NULL;
    }
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096, n = 0;
    if (cap - 1 > max) {
        fclose(f);
        errno = EFBIG;
        return NULL;
    }
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return NULL;
    }
    for (;;) {
        size_t r = fread(buf + n, 1, cap - 1 - n, f);
        n += r;
        if (n > max) {
            free(buf);
            fclose(f);
            errno = EFBIG;
            return NULL;
        }
        if (r == 0)
            break;
        if (n == cap - 1) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

void cli_file_error(const char *prefix, const char *path, const writ_error *err)
{
    char pos[48];
    snprintf(pos, sizeof pos, "%u:%u: ", err->line, err->col);
    if (err->line && !strncmp(err->msg, pos, strlen(pos)))
        fprintf(stderr, "%s%s:%s\n", prefix, path, err->msg); /* the message starts with the position */
    else if (err->line)
        fprintf(stderr, "%s%s:%u:%u: %s\n", prefix, path, err->line, err->col, err->msg);
    else
        fprintf(stderr, "%s%s: %s\n", prefix, path, err->msg);
}
