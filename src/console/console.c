/* console.c - finds the compiled-in console assets (cmake/embed.cmake
 * writes wr_console_assets from the files in this folder). */
#include "console/console.h"

#include <string.h>

extern const struct {
    const char *name;
    const unsigned char *data;
    size_t len;
} wr_console_assets[];

static const char *type_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot && strcmp(dot, ".js") == 0)
        return "text/javascript; charset=utf-8";
    if (dot && strcmp(dot, ".css") == 0)
        return "text/css; charset=utf-8";
    return "text/html; charset=utf-8";
}

bool wr_console_find(const char *url, wr_page *out)
{
    static const char prefix[] = "/console/";
    if (strncmp(url, prefix, sizeof prefix - 1) != 0)
        return false;
    const char *name = url + sizeof prefix - 1;
    size_t n = strlen(name);
    for (size_t i = 0; wr_console_assets[i].name; i++) {
        const char *a = wr_console_assets[i].name;
        size_t an = strlen(a);
        /* "approvals" names approvals.html; the other assets go by their
         * file name */
        bool page = !memchr(name, '.', n) && an == n + 5 && strncmp(a, name, n) == 0 && strcmp(a + n, ".html") == 0;
        if (page || (strcmp(a, name) == 0 && strcmp(type_of(a), "text/html; charset=utf-8") != 0)) {
            out->body = wr_console_assets[i].data;
            out->len = wr_console_assets[i].len;
            out->content_type = type_of(a);
            return true;
        }
    }
    return false;
}
